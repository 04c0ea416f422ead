#include "sbom.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <time.h>

#include <algorithm>
#include <optional>

#include "common/printable.h"
#include "common/root_dir.h"

namespace basalt::image {
namespace {

std::string Iso8601(int64_t t) {
  time_t tt = static_cast<time_t>(t);
  struct tm tm;
  gmtime_r(&tt, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// SPDX ids allow letters, digits, '.' and '-'.
std::string SpdxId(std::string_view s) {
  std::string out;
  for (char c : s)
    out.push_back(isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' ? c : '-');
  return out;
}

// purl percent-encoding for versions (epochs hold ':', some versions '+' and '~').
std::string PurlEncode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (isalnum(c) || c == '.' || c == '-' || c == '_' || c == '~')
      out.push_back(static_cast<char>(c));
    else
      out += fmt::format("%{:02X}", c);
  }
  return out;
}

}  // namespace

Result<std::vector<DpkgPackage>> ParseDpkgStatus(std::string_view text) {
  std::vector<DpkgPackage> out;
  DpkgPackage cur;
  std::string status;
  bool in_paragraph = false;
  size_t line_no = 0;
  auto finish = [&]() -> Status {
    if (!in_paragraph) return {};
    in_paragraph = false;
    if (cur.name.empty()) {
      return Failf(ErrorKind::kInvalidInput,
                   "dpkg status: paragraph ending at line {} has no Package", line_no);
    }
    if (status.size() >= 10 && status.ends_with(" installed")) {
      if (cur.version.empty()) {
        return Failf(ErrorKind::kInvalidInput, "dpkg status: package {} has no Version", cur.name);
      }
      out.push_back(cur);
    }
    cur = {};
    status.clear();
    return {};
  };
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line =
        text.substr(pos, nl == std::string_view::npos ? text.size() - pos : nl - pos);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) {
      BASALT_RETURN_IF_ERROR(finish());
    } else if (line[0] == ' ' || line[0] == '\t') {
      if (!in_paragraph) {
        return Failf(ErrorKind::kInvalidInput, "dpkg status: line {}: continuation outside a field",
                     line_no);
      }
    } else if (line[0] == '#') {
      // deb822 comment
    } else {
      size_t colon = line.find(':');
      if (colon == std::string_view::npos || colon == 0) {
        return Failf(ErrorKind::kInvalidInput, "dpkg status: line {}: expected 'Field: value'",
                     line_no);
      }
      in_paragraph = true;
      std::string_view field = line.substr(0, colon);
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
        value.remove_prefix(1);
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
        value.remove_suffix(1);
      if (field == "Package")
        cur.name = value;
      else if (field == "Version")
        cur.version = value;
      else if (field == "Architecture")
        cur.architecture = value;
      else if (field == "Status")
        status = value;
      else if (field == "Source") {
        std::string_view src = value.substr(0, value.find(' '));
        cur.source = src == cur.name ? "" : std::string(src);
      }
    }
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  BASALT_RETURN_IF_ERROR(finish());
  std::sort(out.begin(), out.end(), [](const DpkgPackage& a, const DpkgPackage& b) {
    return std::tie(a.name, a.architecture) < std::tie(b.name, b.architecture);
  });
  return out;
}

namespace {

// Depth-first through RootDir, never following a link.
Status CollectSetid(const RootDir& root, const std::string& rel, std::vector<SetidFile>* out) {
  BASALT_ASSIGN_OR_RETURN(std::optional<struct stat> st, root.Stat(rel, Follow::kNever));
  if (!st) return {};
  if (S_ISREG(st->st_mode) && (st->st_mode & (S_ISUID | S_ISGID)) != 0) {
    out->push_back({"/" + rel, st->st_mode & 07777, st->st_uid, st->st_gid});
  }
  if (!S_ISDIR(st->st_mode)) return {};
  BASALT_ASSIGN_OR_RETURN(std::vector<std::string> names, root.List(rel, Follow::kNever));
  for (const std::string& name : names) {
    BASALT_RETURN_IF_ERROR(CollectSetid(root, rel + "/" + name, out));
  }
  return {};
}

}  // namespace

Result<std::vector<SetidFile>> FindSetidFiles(const std::string& tree,
                                              const std::vector<std::string>& root_seed) {
  BASALT_ASSIGN_OR_RETURN(RootDir root, RootDir::Open(tree, "staged tree " + tree));
  std::vector<std::string> tops = {"usr"};
  for (const std::string& s : root_seed) {
    if (s != "usr" && CheckPlainName(s, "root.seed")) tops.push_back(s);
  }
  std::vector<SetidFile> out;
  for (const std::string& top : tops) {
    BASALT_RETURN_IF_ERROR(CollectSetid(root, top, &out));
  }
  std::sort(out.begin(), out.end(),
            [](const SetidFile& a, const SetidFile& b) { return a.path < b.path; });
  return out;
}

nlohmann::json MakeSpdx(const SbomInputs& in) {
  using nlohmann::json;
  std::string image_id = "SPDXRef-Image";
  json doc = {
      {"spdxVersion", "SPDX-2.3"},
      {"dataLicense", "CC0-1.0"},
      {"SPDXID", "SPDXRef-DOCUMENT"},
      {"name", fmt::format("{}-{}", in.os_name, in.version)},
      {"documentNamespace", fmt::format("https://basalt.invalid/spdx/{}/{}/{}", SpdxId(in.os_name),
                                        SpdxId(in.version), in.input_digest)},
      {"creationInfo",
       {{"created", Iso8601(in.created)},
        {"creators", json::array({"Tool: basalt-" + in.builder_version})}}},
  };
  json packages = json::array();
  json image = {{"name", in.os_name},
                {"SPDXID", image_id},
                {"versionInfo", in.version},
                {"downloadLocation", "NOASSERTION"},
                {"filesAnalyzed", false},
                {"primaryPackagePurpose", "OPERATING-SYSTEM"},
                {"licenseConcluded", "NOASSERTION"},
                {"licenseDeclared", "NOASSERTION"},
                {"copyrightText", "NOASSERTION"},
                {"checksums", json::array()}};
  json relationships = json::array({{{"spdxElementId", "SPDXRef-DOCUMENT"},
                                     {"relationshipType", "DESCRIBES"},
                                     {"relatedSpdxElement", image_id}}});
  if (!in.packages) {
    image["comment"] =
        "Contents unknown: the tree has no package database (/var/lib/dpkg/status); no packages "
        "are listed.";
  }
  if (!in.setid_files.empty()) {
    json annotations = json::array();
    for (const SetidFile& f : in.setid_files) {
      const char* kind = (f.mode & S_ISUID) && (f.mode & S_ISGID) ? "setuid+setgid"
                         : (f.mode & S_ISUID)                     ? "setuid"
                                                                  : "setgid";
      annotations.push_back(
          {{"annotationType", "REVIEW"},
           {"annotator", "Tool: basalt-" + in.builder_version},
           {"annotationDate", Iso8601(in.created)},
           {"comment", fmt::format("basalt finding: {} file {} (mode {:04o}, owner {}:{})", kind,
                                   Printable(f.path), f.mode, f.uid, f.gid)}});
    }
    image["annotations"] = annotations;
  }
  packages.push_back(image);
  if (in.packages) {
    for (const DpkgPackage& p : *in.packages) {
      std::string id = "SPDXRef-deb-" + SpdxId(p.name) + "-" + SpdxId(p.architecture);
      std::string purl = fmt::format("pkg:deb/debian/{}@{}?arch={}", PurlEncode(p.name),
                                     PurlEncode(p.version), PurlEncode(p.architecture));
      if (!p.source.empty()) purl += "&upstream=" + PurlEncode(p.source);
      json pkg = {{"name", p.name},
                  {"SPDXID", id},
                  {"versionInfo", p.version},
                  {"downloadLocation", "NOASSERTION"},
                  {"filesAnalyzed", false},
                  {"licenseConcluded", "NOASSERTION"},
                  {"licenseDeclared", "NOASSERTION"},
                  {"copyrightText", "NOASSERTION"},
                  {"externalRefs", json::array({{{"referenceCategory", "PACKAGE-MANAGER"},
                                                 {"referenceType", "purl"},
                                                 {"referenceLocator", purl}}})}};
      if (!p.source.empty()) pkg["sourceInfo"] = "built from Debian source package " + p.source;
      packages.push_back(pkg);
      relationships.push_back({{"spdxElementId", image_id},
                               {"relationshipType", "CONTAINS"},
                               {"relatedSpdxElement", id}});
    }
  }
  image.erase("checksums");
  packages[0] = image;
  doc["packages"] = packages;
  doc["relationships"] = relationships;
  return doc;
}

}  // namespace basalt::image
