#include "checkpoint.h"

#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "common/fd.h"

namespace basalt::payload {

std::optional<Checkpoint> LoadCheckpoint(const std::string& path, Logger& log) {
  auto text = ReadFileToString(path);
  if (!text) return std::nullopt;
  try {
    auto j = nlohmann::json::parse(*text);
    Checkpoint c;
    c.manifest_sha256 = j.at("manifest_sha256").get<std::string>();
    c.target = j.at("target").get<std::string>();
    c.next_operation = j.at("next_operation").get<uint64_t>();
    c.payload_offset = j.at("payload_offset").get<uint64_t>();
    return c;
  } catch (const nlohmann::json::exception& e) {
    log.Warn(fmt::format("ignoring unreadable checkpoint {}: {}", path, e.what()));
    return std::nullopt;
  }
}

Status SaveCheckpoint(const std::string& path, const Checkpoint& c) {
  nlohmann::json j = {{"manifest_sha256", c.manifest_sha256},
                      {"target", c.target},
                      {"next_operation", c.next_operation},
                      {"payload_offset", c.payload_offset}};
  return WriteFileAtomic(path, j.dump() + "\n", 0600);
}

}  // namespace basalt::payload
