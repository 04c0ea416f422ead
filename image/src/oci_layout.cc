#include "oci_layout.h"

#include <nlohmann/json.hpp>

#include "common/printable.h"

namespace basalt::image {
namespace {

using nlohmann::json;

// Parsed without exceptions: a malformed document is a discarded value, not a throw.
Result<json> ParseObject(std::string_view text, std::string_view what) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Failf(ErrorKind::kInvalidInput, "{} is not valid JSON", what);
  if (!j.is_object()) return Failf(ErrorKind::kInvalidInput, "{} is not a JSON object", what);
  return j;
}

// An absent or non-string field reads as empty, which every caller then rejects by name.
std::string StringField(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Result<OciDescriptor> ParseDescriptor(const json& j, std::string_view what) {
  if (!j.is_object()) return Failf(ErrorKind::kInvalidInput, "{} is not an object", what);
  OciDescriptor d;
  d.media_type = StringField(j, "mediaType");
  auto digest = j.find("digest");
  if (digest == j.end() || !digest->is_string()) {
    return Failf(ErrorKind::kInvalidInput, "{} has no digest", what);
  }
  d.digest = digest->get<std::string>();
  if (!IsSha256Digest(d.digest)) {
    return Failf(ErrorKind::kInvalidInput, "{} has a malformed or unsupported digest '{}'", what,
                 Printable(d.digest));
  }
  auto size = j.find("size");
  if (size != j.end()) {
    if (!size->is_number_unsigned()) {
      return Failf(ErrorKind::kInvalidInput, "{} has a size that is not a non-negative integer",
                   what);
    }
    d.size = size->get<uint64_t>();
  }
  return d;
}

}  // namespace

bool IsSha256Digest(std::string_view digest) {
  return digest.size() == 71 && digest.starts_with("sha256:") &&
         digest.find_first_not_of("0123456789abcdef", 7) == std::string_view::npos;
}

Result<OciDescriptor> ParseOciIndex(std::string_view text) {
  BASALT_ASSIGN_OR_RETURN(json index, ParseObject(text, "index.json"));
  auto manifests = index.find("manifests");
  if (manifests == index.end() || !manifests->is_array() || manifests->empty()) {
    return Fail(ErrorKind::kInvalidInput, "index.json lists no manifests");
  }
  const json* chosen = &(*manifests)[0];
  for (const json& m : *manifests) {
    if (!m.is_object()) {
      return Fail(ErrorKind::kInvalidInput,
                  "index.json has a manifest entry that is not an object");
    }
    auto platform = m.find("platform");
    if (platform != m.end() && platform->is_object() && StringField(*platform, "os") == "linux" &&
        StringField(*platform, "architecture") == "amd64") {
      chosen = &m;
      break;
    }
  }
  return ParseDescriptor(*chosen, "index.json: manifest entry");
}

Result<OciManifest> ParseOciManifest(std::string_view text) {
  BASALT_ASSIGN_OR_RETURN(json manifest, ParseObject(text, "manifest"));
  if (manifest.contains("manifests")) {
    return Fail(ErrorKind::kUnsupported, "nested image indexes are not supported");
  }
  OciManifest out;
  auto config = manifest.find("config");
  if (config == manifest.end()) return Fail(ErrorKind::kInvalidInput, "manifest has no config");
  BASALT_ASSIGN_OR_RETURN(out.config, ParseDescriptor(*config, "manifest: config"));
  auto layers = manifest.find("layers");
  if (layers == manifest.end() || !layers->is_array()) {
    return Fail(ErrorKind::kInvalidInput, "manifest has no layers");
  }
  for (const json& l : *layers) {
    std::string what = fmt::format("layer {}", out.layers.size() + 1);
    BASALT_ASSIGN_OR_RETURN(OciDescriptor d, ParseDescriptor(l, what));
    if (d.media_type.find("nondistributable") != std::string::npos) {
      return Failf(ErrorKind::kUnsupported, "{} is non-distributable", what);
    }
    for (size_t i = 0; i < out.layers.size(); ++i) {
      if (out.layers[i].digest == d.digest) {
        return Failf(ErrorKind::kInvalidInput, "{} repeats layer {} ({})", what, i + 1, d.digest);
      }
    }
    out.layers.push_back(std::move(d));
  }
  return out;
}

Result<OciConfig> ParseOciConfig(std::string_view text) {
  BASALT_ASSIGN_OR_RETURN(json config, ParseObject(text, "config"));
  OciConfig out{StringField(config, "os"), StringField(config, "architecture")};
  if (!out.os.empty() && out.os != "linux") {
    return Failf(ErrorKind::kUnsupported, "config: os '{}' is not linux", Printable(out.os));
  }
  return out;
}

}  // namespace basalt::image
