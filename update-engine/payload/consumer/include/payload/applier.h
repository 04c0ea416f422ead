// The streaming, verify-before-write payload applier used by `basalt payload apply` and by
// basalt-updated. Order of checks: header, then the manifest signatures over a trusted keyring
// (threshold), then the manifest itself, then (deltas) the whole source partition's SHA-256;
// only then the first write. Each blob is hashed before it is decoded, each source extent
// before it is used. Afterwards the verity tree is rebuilt on the target and the root hash and
// partition SHA-256 must equal the signed ones.
//
// Memory: the signed head (header, manifest <= 64 MiB, signatures <= 1 MiB) plus one
// operation's buffers: its blob (<= 32 MiB), its output (<= 32 MiB) and its source
// (<= 64 MiB), plus a decoder (xz <= 64 MiB), 5 MiB of written bytes on their way to the
// hashing thread, and the verity level being built (1/128 of the data). Payloads from `basalt
// payload generate` use 2 MiB outputs and <= ~4 MiB sources, so the applier's own buffers stay near
// 10 MiB whatever the payload size.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/hash.h"
#include "common/keyring.h"
#include "common/log.h"
#include "payload/source.h"

namespace basalt::payload {

struct ApplyOptions {
  std::string target_path;  // block device or file (extended if a file)
  // Create target_path when it does not exist (an image file being built). Off by default: a
  // slot's device node that is missing (no /dev/disk/by-partuuid link yet) must be an error,
  // not a new file in /dev that receives the "verified" slot and vanishes at reboot.
  bool create_target = false;
  std::optional<std::string> source_path;  // deltas: the old slot
  const Keyring* keyring = nullptr;        // trusted keys (required)
  size_t threshold = 1;                    // distinct trusted signatures required
  // Directory for the resume checkpoint. Without it an interrupted apply starts over.
  std::optional<std::string> state_dir;
  std::chrono::milliseconds checkpoint_interval{1000};
  // Called after each operation with payload bytes consumed and the payload's total.
  std::function<void(uint64_t done, uint64_t total)> progress;
};

struct ApplyResult {
  std::string version;
  std::string from_version;
  bool is_delta = false;
  uint64_t operations = 0;
  bool resumed = false;
  uint64_t resumed_at_operation = 0;
  uint64_t payload_size = 0;
  uint64_t bytes_written = 0;       // target bytes written by operations in this run
  std::vector<uint8_t> root_hash;   // verity root hash, checked against the manifest
  Sha256Digest partition_sha256{};  // checked against the manifest
  uint64_t peak_buffer_bytes = 0;   // largest operation buffers held at once
  // Bytes of the partition SHA-256 computed from the writes themselves (the rest was read back).
  uint64_t bytes_hashed_while_writing = 0;
};

Result<ApplyResult> ApplyPayload(PayloadSource& payload, const ApplyOptions& options, Logger& log);

// True for the errors ApplyPayload returns when a delta cannot be used on this host: its source
// partition is not the image the delta was made from, a recompressed operation does not
// reproduce the signed bytes here, or its minor version is newer than this applier (a build
// farm ahead of the fleet). Nothing was written; the daemon falls back to a full payload.
bool IsSourceMismatch(const Error& error);

struct VerifyResult {
  std::string version;
  std::string from_version;
  bool is_delta = false;
  uint64_t operations = 0;
  uint64_t payload_size = 0;
  std::vector<std::string> signers;  // trusted key ids whose signatures verified
};

// Checks everything that can be checked without the target: header, signatures, manifest,
// every blob's SHA-256 and the exact payload length. Writes nothing.
Result<VerifyResult> VerifyPayload(PayloadSource& payload, const Keyring& keyring,
                                   size_t threshold);

}  // namespace basalt::payload
