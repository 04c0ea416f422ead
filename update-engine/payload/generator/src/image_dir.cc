#include "image_dir.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "attest/uki_measurements.h"
#include "common/fd.h"
#include "common/hex.h"
#include "common/printable.h"

namespace basalt::payload {
namespace {

Result<std::vector<uint8_t>> HexField(const nlohmann::json& obj, const char* key) {
  auto bytes = FromHex(obj.at(key).get<std::string>());
  if (!bytes) return std::unexpected(std::move(bytes).error().WithContext(key));
  return *bytes;
}

// The image builder writes uki/<slot>.efi; anything that leaves the image directory is refused.
bool IsInsideDir(const std::string& file) {
  if (file.empty() || file.size() > 256 || file.front() == '/') return false;
  for (const auto& part : std::filesystem::path(file)) {
    if (part == ".." || part == ".") return false;
  }
  return true;
}

// image.json's uki.<slot>.measurements (images built since they are recorded): checked, not
// kept, since payloads do not carry them; release publish signs them (repo/image_info.h).
Status CheckMeasurements(const nlohmann::json& m) {
  if (!m.is_object()) return Fail(ErrorKind::kInvalidInput, "expected an object");
  for (const auto& [key, value] : m.items()) {
    if (key != "authenticode_sha256" && key != "pcr11" && key != "pcr11_phases") {
      return Failf(ErrorKind::kInvalidInput, "{}: unknown field", key);
    }
  }
  attest::UkiMeasurements out;
  for (auto [key, field] : {std::pair{"authenticode_sha256", &out.authenticode_sha256},
                            std::pair{"pcr11", &out.pcr11}}) {
    if (!m.contains(key) || !m.at(key).is_string()) {
      return Failf(ErrorKind::kInvalidInput, "{}: expected a string", key);
    }
    *field = m.at(key).get<std::string>();
  }
  if (!m.contains("pcr11_phases") || !m.at("pcr11_phases").is_object()) {
    return Fail(ErrorKind::kInvalidInput, "pcr11_phases: expected an object");
  }
  for (const auto& [phase, value] : m.at("pcr11_phases").items()) {
    if (!value.is_string()) {
      return Failf(ErrorKind::kInvalidInput, "pcr11_phases.{}: expected a string",
                   Printable(phase, 64));
    }
    out.pcr11_phases[phase] = value.get<std::string>();
  }
  // Hex, digest length and the phase names: attest's own rules.
  return attest::CheckMeasurements(out);
}

// image.json's `uki`: exactly {"A": {...}, "B": {...}}, each exactly {file, size, sha256} and
// optionally `measurements`.
Result<std::vector<UkiFile>> LoadUkis(const nlohmann::json& uki, const std::string& dir,
                                      const std::string& json_path) {
  auto bad = [&](std::string_view field, std::string_view what) {
    return Failf(ErrorKind::kInvalidInput, "{}: uki{}: {}", json_path, field, what);
  };
  if (!uki.is_object()) return bad("", "expected an object");
  for (const auto& [key, value] : uki.items()) {
    if (key != "A" && key != "B") return bad("." + key, "unknown slot (only A and B)");
  }
  std::vector<UkiFile> out;
  for (const char* slot : {"A", "B"}) {
    const std::string field = fmt::format(".{}", slot);
    if (!uki.contains(slot)) return bad(field, "missing");
    const nlohmann::json& f = uki.at(slot);
    if (!f.is_object()) return bad(field, "expected an object");
    for (const auto& [key, value] : f.items()) {
      if (key != "file" && key != "size" && key != "sha256" && key != "measurements") {
        return bad(field + "." + key, "unknown field");
      }
    }
    if (!f.contains("file") || !f.at("file").is_string()) {
      return bad(field + ".file", "expected a string");
    }
    if (!f.contains("size") || !f.at("size").is_number_unsigned()) {
      return bad(field + ".size", "expected an unsigned integer");
    }
    if (!f.contains("sha256") || !f.at("sha256").is_string()) {
      return bad(field + ".sha256", "expected a string");
    }
    UkiFile u;
    u.slot = slot;
    const std::string file = f.at("file").get<std::string>();
    if (!IsInsideDir(file)) return bad(field + ".file", "not a relative path inside the image");
    u.path = dir + "/" + file;
    u.size = f.at("size").get<uint64_t>();
    const std::string hex = f.at("sha256").get<std::string>();
    auto sha = FromHex(hex);
    if (!sha || sha->size() != 32 || ToHex(*sha) != hex) {
      return bad(field + ".sha256", "not 64 lower-case hex digits");
    }
    std::copy(sha->begin(), sha->end(), u.sha256.begin());
    if (f.contains("measurements")) {
      auto m = CheckMeasurements(f.at("measurements"));
      if (!m) return bad(field + ".measurements", m.error().message());
    }
    out.push_back(std::move(u));
  }
  return out;
}

}  // namespace

Result<std::vector<uint8_t>> ReadUkiFile(const UkiFile& uki) {
  std::error_code ec;
  const uint64_t on_disk = std::filesystem::file_size(uki.path, ec);
  if (ec) return Failf(ErrorKind::kNotFound, "UKI {}: {}", uki.path, ec.message());
  if (on_disk != uki.size) {
    return Failf(ErrorKind::kInvalidInput,
                 "UKI {} is {} bytes but image.json's uki.{}.size says {}", uki.path, on_disk,
                 uki.slot, uki.size);
  }
  BASALT_ASSIGN_OR_RETURN(std::string text, ReadFileToString(uki.path));
  std::vector<uint8_t> bytes(text.begin(), text.end());
  if (bytes.size() != uki.size || Sha256(bytes) != uki.sha256) {
    return Failf(ErrorKind::kIntegrity,
                 "UKI {}: SHA-256 {} does not match image.json's uki.{}.sha256 {}", uki.path,
                 ToHex(Sha256(bytes)), uki.slot, ToHex(uki.sha256));
  }
  return bytes;
}

Result<UsrImageInfo> LoadImageDir(const std::string& dir) {
  const std::string json_path = dir + "/image.json";
  BASALT_ASSIGN_OR_RETURN(std::string text, ReadFileToString(json_path));
  UsrImageInfo info;
  info.path = dir + "/usr.img";
  try {
    auto doc = nlohmann::json::parse(text);
    info.version = doc.at("version").get<std::string>();
    const auto& usr = doc.at("usr");
    BASALT_ASSIGN_OR_RETURN(info.root_hash, HexField(usr, "root_hash"));
    BASALT_ASSIGN_OR_RETURN(info.salt, HexField(usr, "salt"));
    info.hash_algorithm = usr.at("hash_algorithm").get<std::string>();
    info.data_block_size = usr.at("data_block_size").get<uint32_t>();
    info.hash_block_size = usr.at("hash_block_size").get<uint32_t>();
    info.data_blocks = usr.at("data_blocks").get<uint64_t>();
    info.hash_offset = usr.at("hash_offset").get<uint64_t>();
    info.size = usr.at("size").get<uint64_t>();
    BASALT_ASSIGN_OR_RETURN(std::vector<uint8_t> sha, HexField(usr, "sha256"));
    if (sha.size() != 32)
      return Failf(ErrorKind::kInvalidInput, "{}: usr.sha256 is not 32 bytes", json_path);
    std::copy(sha.begin(), sha.end(), info.sha256.begin());
    if (doc.contains("uki")) {
      BASALT_ASSIGN_OR_RETURN(info.ukis, LoadUkis(doc.at("uki"), dir, json_path));
    }
  } catch (const nlohmann::json::exception& e) {
    return Failf(ErrorKind::kInvalidInput, "{}: {}", json_path, e.what());
  }
  std::error_code ec;
  auto on_disk = std::filesystem::file_size(info.path, ec);
  if (ec) return Failf(ErrorKind::kNotFound, "{}: {}", info.path, ec.message());
  if (on_disk != info.size) {
    return Failf(ErrorKind::kInvalidInput, "{} is {} bytes but image.json says {}", info.path,
                 on_disk, info.size);
  }
  if (info.data_block_size == 0 || info.hash_offset < info.data_blocks * info.data_block_size ||
      info.hash_offset >= info.size) {
    return Failf(ErrorKind::kInvalidInput, "{}: inconsistent verity layout", json_path);
  }
  return info;
}

}  // namespace basalt::payload
