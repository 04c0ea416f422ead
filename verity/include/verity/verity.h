// dm-verity hash trees, byte-compatible with `veritysetup format` (hash type 1): an optional
// 512-byte superblock, then the tree levels stored top level first, each digest padded to a
// power of two and each hash block zero-padded. See docs/verity.md for the format and bounds.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "common/hash.h"

namespace basalt::verity {

inline constexpr size_t kSuperblockSize = 512;
inline constexpr size_t kMaxSaltSize = 256;  // the superblock's salt field
inline constexpr uint32_t kMinBlockSize = 512;
inline constexpr uint32_t kMaxBlockSize = 512 * 1024;  // veritysetup's limit

using Uuid = std::array<uint8_t, 16>;

// Everything that defines a tree. With a superblock these are also what the superblock records.
struct VerityParams {
  HashAlgorithm algorithm = HashAlgorithm::kSha256;
  uint32_t data_block_size = 4096;
  uint32_t hash_block_size = 4096;
  uint64_t data_blocks = 0;
  std::vector<uint8_t> salt;
  Uuid uuid{};  // all zero when there is no superblock
  bool superblock = true;
  // Byte offset of the hash area in the hash file: the superblock when there is one, else the
  // top-level hash block. veritysetup's --hash-offset.
  uint64_t hash_offset = 0;

  bool operator==(const VerityParams&) const = default;
};

// Where each level of a tree lives. Levels are numbered from the leaves: level 0 holds the
// digests of data blocks and is stored last; level levels-1 is the single top block.
struct TreeGeometry {
  uint32_t digest_size = 0;       // bytes of one digest
  uint32_t digest_slot_size = 0;  // digest padded to a power of two
  uint32_t hashes_per_block = 0;
  uint32_t levels = 0;  // 0 when there is one data block: the root hashes the data block itself
  uint64_t tree_offset = 0;                 // byte offset of the top-level block in the hash file
  std::vector<uint64_t> level_first_block;  // per level, index (in hash blocks) from tree_offset
  std::vector<uint64_t> level_blocks;       // per level, number of hash blocks
  uint64_t tree_blocks = 0;                 // total hash blocks
  // Bytes from hash_offset to the end of the tree (superblock and its padding included).
  uint64_t hash_area_size = 0;

  uint64_t LevelOffset(uint32_t level) const {
    return tree_offset + level_first_block[level] * static_cast<uint64_t>(block_size);
  }
  uint32_t block_size = 0;  // hash block size, copied from the params
};

// Checks params (block sizes, salt length, data_blocks, offsets) and lays the tree out.
Result<TreeGeometry> ComputeGeometry(const VerityParams& params);

// Parses a veritysetup superblock (at least kSuperblockSize bytes). The result has
// superblock=true and hash_offset=0; the caller sets hash_offset. Rejects foreign or garbage
// data, unknown versions and hash types, bad block sizes and over-long salts with a message
// naming the field.
Result<VerityParams> ParseSuperblock(std::span<const uint8_t> bytes);
std::array<uint8_t, kSuperblockSize> SerializeSuperblock(const VerityParams& params);

// Reads and parses the superblock at `offset` of `path`.
Result<VerityParams> ReadSuperblock(const std::string& path, uint64_t offset);

// Deterministic salt and UUID from a build seed, so image builds are reproducible:
// salt = SHA-256("basalt-verity-salt\0" || seed) (32 bytes),
// uuid = SHA-256("basalt-verity-uuid\0" || seed)[0:16] with RFC 9562 version 8 and variant bits.
std::vector<uint8_t> SaltFromSeed(std::string_view seed);
Uuid UuidFromSeed(std::string_view seed);
Uuid RandomUuid();
std::string FormatUuid(const Uuid& uuid);
Result<Uuid> ParseUuid(std::string_view text);

struct FormatOptions {
  std::string data_path;
  // Separate file or device for the tree; empty means inside data_path (Flatcar layout).
  std::string hash_path;
  // Default: right after the data when the tree shares the data file, else 0.
  std::optional<uint64_t> hash_offset;
  // Default: the data size divided by the block size, which must then divide it exactly.
  std::optional<uint64_t> data_blocks;
  HashAlgorithm algorithm = HashAlgorithm::kSha256;
  uint32_t data_block_size = 4096;
  uint32_t hash_block_size = 4096;
  // Salt and UUID: explicit values win, then the seed, then random (like veritysetup).
  std::optional<std::vector<uint8_t>> salt;
  std::optional<Uuid> uuid;
  std::optional<std::string> seed;
  bool superblock = true;
  unsigned threads = 0;  // 0: one per core
  // The digests of every data block (data_blocks x the digest size, in order), from a caller
  // that hashed the data as it went by (the payload applier): level 0 is written from them
  // instead of reading the data back. Not checked here; comparing the root hash with a trusted
  // one is what proves them.
  std::span<const uint8_t> data_digests;
};

struct FormatResult {
  VerityParams params;
  TreeGeometry geometry;
  std::vector<uint8_t> root_hash;
};

// Builds the tree and writes it (and the superblock) to the hash file, which is created if it
// does not exist. Memory stays bounded independent of the data size (docs/verity.md).
Result<FormatResult> Format(const FormatOptions& options);

// Where verification found the first problem.
struct Corruption {
  enum class Area { kData, kHash } area = Area::kData;
  uint64_t block = 0;        // data block index, or hash block index from tree_offset
  uint32_t level = 0;        // for kHash: tree level (0 = leaf digests)
  uint64_t byte_offset = 0;  // in the data or hash file
};

struct VerifyOptions {
  std::string data_path;
  std::string hash_path;  // empty: inside data_path
  // Where the hash area starts (the superblock when present). Required when the tree shares
  // the data file; defaults to 0 for a separate hash file.
  std::optional<uint64_t> hash_offset;
  std::vector<uint8_t> root_hash;
  // Required without a superblock (params.superblock=false); ignored otherwise.
  std::optional<VerityParams> params;
  unsigned threads = 0;
  Corruption* corruption = nullptr;  // filled when verification fails with kIntegrity
};

// Checks the whole tree top-down (root, then each level, then every data block). A mismatch is a
// kIntegrity error naming the first corrupt data block or the corrupt hash block. Returns the
// parameters used (from the superblock when present).
Result<VerityParams> Verify(const VerifyOptions& options);

}  // namespace basalt::verity
