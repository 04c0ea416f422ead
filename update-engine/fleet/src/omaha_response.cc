#include "omaha_response.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <pugixml.hpp>

#include "common/base64.h"
#include "common/hex.h"

namespace basalt::fleet {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::unexpected<Error> Bad(std::string message) {
  return std::unexpected(Error(ErrorKind::kInvalidInput, "Omaha response: " + std::move(message)));
}

// A server-side refusal of the app or the check, by its status string.
std::unexpected<Error> Refused(std::string_view where, std::string_view status) {
  ErrorKind kind = ErrorKind::kIo;  // error-internal and unknown errors: retry later
  if (status == "error-unknownApplication") kind = ErrorKind::kNotFound;
  if (status == "restricted" || status == "error-restricted") kind = ErrorKind::kPolicy;
  return std::unexpected(
      Error(kind, fmt::format("Omaha server refused the {}: status \"{}\"", where, status)));
}

bool IsHex64(std::string_view s) {
  return s.size() == 64 &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isxdigit(c) != 0; });
}

Result<OmahaUpdate> ParseUpdate(const pugi::xml_node& check) {
  OmahaUpdate u;
  auto urls = check.child("urls");
  if (!urls) return Bad("<updatecheck status=\"ok\"> has no <urls>");
  std::vector<std::string> codebases;
  for (auto url : urls.children("url")) {
    std::string cb = url.attribute("codebase").value();
    if (cb.empty()) return Bad("<url> without a codebase attribute");
    if (!cb.starts_with("http://") && !cb.starts_with("https://")) {
      return Bad(fmt::format("<url codebase=\"{}\"> is not an http:// or https:// URL", cb));
    }
    if (cb.back() != '/') cb += '/';
    codebases.push_back(std::move(cb));
  }
  if (codebases.empty()) return Bad("<urls> lists no <url>");

  auto manifest = check.child("manifest");
  if (!manifest) return Bad("<updatecheck status=\"ok\"> has no <manifest>");
  u.version = manifest.attribute("version").value();
  if (u.version.empty()) return Bad("<manifest> has no version attribute");
  auto packages = manifest.child("packages");
  std::vector<pugi::xml_node> pkgs;
  for (auto p : packages.children("package"))
    pkgs.push_back(p);
  if (pkgs.size() != 1) {
    return Bad(fmt::format("<manifest> must list exactly one <package>, found {}", pkgs.size()));
  }
  const auto& pkg = pkgs[0];
  u.package_name = pkg.attribute("name").value();
  if (u.package_name.empty()) return Bad("<package> has no name attribute");
  if (u.package_name.find('/') != std::string::npos || u.package_name == "." ||
      u.package_name == "..") {
    return Bad(fmt::format("<package name=\"{}\"> is not a plain file name", u.package_name));
  }
  std::string size_text = pkg.attribute("size").value();
  auto [end, ec] = std::from_chars(size_text.data(), size_text.data() + size_text.size(), u.size);
  if (size_text.empty() || ec != std::errc() || end != size_text.data() + size_text.size() ||
      u.size == 0) {
    return Bad(
        fmt::format("<package size=\"{}\"> is not a positive decimal byte count", size_text));
  }
  u.sha1_base64 = pkg.attribute("hash").value();

  std::string from_package, from_action;
  if (auto h = pkg.attribute("hash_sha256")) {
    if (!IsHex64(h.value())) {
      return Bad(fmt::format("<package hash_sha256=\"{}\"> is not 64 hex digits", h.value()));
    }
    from_package = Lower(h.value());
  }
  for (auto action : manifest.child("actions").children("action")) {
    if (std::string_view(action.attribute("event").value()) != "postinstall") continue;
    for (auto attr : action.attributes()) {
      if (std::string_view(attr.name()) != "event") u.postinstall[attr.name()] = attr.value();
    }
    if (auto s = action.attribute("sha256")) {
      auto raw = Base64Decode(s.value());
      if (!raw || raw->size() != 32) {
        return Bad(fmt::format(
            "postinstall action sha256=\"{}\" is not the base64 of a 32-byte SHA-256", s.value()));
      }
      from_action = ToHex(*raw);
    }
  }
  if (!from_package.empty() && !from_action.empty() && from_package != from_action) {
    return Bad(fmt::format("package hash_sha256 {} and postinstall sha256 {} disagree",
                           from_package, from_action));
  }
  u.sha256 = !from_package.empty() ? from_package : from_action;
  if (u.sha256.empty()) {
    if (!u.sha1_base64.empty()) {
      return std::unexpected(Error(
          ErrorKind::kUnsupported,
          fmt::format("Omaha response: package {} carries only a SHA-1 'hash' (base64); Basalt "
                      "needs its SHA-256 (package hash_sha256, or the postinstall action's sha256)",
                      u.package_name)));
    }
    return Bad(fmt::format("package {} has no SHA-256 (hash_sha256 or postinstall sha256)",
                           u.package_name));
  }
  for (const auto& cb : codebases)
    u.urls.push_back(cb + u.package_name);
  return u;
}

}  // namespace

Result<OmahaResponse> ParseOmahaResponse(std::string_view xml, std::string_view app_id,
                                         bool expect_updatecheck) {
  pugi::xml_document doc;
  // No DOCTYPE/entity expansion beyond XML's five: pugixml never fetches external entities.
  auto parsed = doc.load_buffer(xml.data(), xml.size(), pugi::parse_default, pugi::encoding_utf8);
  if (!parsed) {
    return Bad(
        fmt::format("not well-formed XML: {} at byte {}", parsed.description(), parsed.offset));
  }
  auto root = doc.document_element();
  if (std::string_view(root.name()) != "response") {
    return Bad(fmt::format("root element is <{}>, expected <response>", root.name()));
  }
  std::string_view protocol = root.attribute("protocol").value();
  if (protocol != "3.0") {
    return Bad(fmt::format("protocol \"{}\" is not 3.0", protocol));
  }
  OmahaResponse r;
  r.server = root.attribute("server").value();
  std::string want = Lower(app_id);
  pugi::xml_node app;
  for (auto a : root.children("app")) {
    if (Lower(a.attribute("appid").value()) == want) {
      if (app) return Bad(fmt::format("two <app> elements for appid {}", app_id));
      app = a;
    }
  }
  if (!app) return Bad(fmt::format("no <app> for appid {}", app_id));
  std::string_view app_status = app.attribute("status").value();
  if (app_status != "ok") return Refused(fmt::format("app {}", app_id), app_status);
  for (auto ev : app.children("event")) {
    if (std::string_view(ev.attribute("status").value()) == "ok") ++r.events_acknowledged;
  }
  auto check = app.child("updatecheck");
  if (!check) {
    if (expect_updatecheck) return Bad(fmt::format("<app {}> has no <updatecheck>", app_id));
    return r;
  }
  std::string_view status = check.attribute("status").value();
  if (status == "noupdate") return r;
  if (status != "ok") {
    if (status.starts_with("error-")) return Refused("update check", status);
    return Bad(
        fmt::format("<updatecheck status=\"{}\"> is neither ok, noupdate nor error-*", status));
  }
  BASALT_ASSIGN_OR_RETURN(r.offer, ParseUpdate(check));
  r.update = true;
  return r;
}

}  // namespace basalt::fleet
