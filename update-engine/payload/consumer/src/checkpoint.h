// The resume checkpoint of an interrupted apply: which payload, onto which target, and how far.
// It may only name operations whose writes are durable (the applier syncs the target first).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/error.h"
#include "common/log.h"

namespace basalt::payload {

inline constexpr const char* kCheckpointName = "payload-apply.json";

struct Checkpoint {
  std::string manifest_sha256;  // hex: the payload it belongs to
  std::string target;
  uint64_t next_operation = 0;
  uint64_t payload_offset = 0;  // payload bytes consumed before next_operation
};

// nullopt when there is none, or (logged) when it is unreadable: the apply starts over.
std::optional<Checkpoint> LoadCheckpoint(const std::string& path, Logger& log);
Status SaveCheckpoint(const std::string& path, const Checkpoint& checkpoint);

}  // namespace basalt::payload
