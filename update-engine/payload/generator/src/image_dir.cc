#include "image_dir.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/fd.h"
#include "common/hex.h"

namespace basalt::payload {
namespace {

Result<std::vector<uint8_t>> HexField(const nlohmann::json& obj, const char* key) {
  auto bytes = FromHex(obj.at(key).get<std::string>());
  if (!bytes) return std::unexpected(std::move(bytes).error().WithContext(key));
  return *bytes;
}

}  // namespace

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
