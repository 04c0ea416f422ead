#include "inputs.h"

#include <cstring>

#include "payload/format.h"

namespace basalt::payload {
namespace {

bool HasVeritySuperblock(std::span<const uint8_t> image, uint64_t hash_offset) {
  static constexpr uint8_t kSig[8] = {'v', 'e', 'r', 'i', 't', 'y', 0, 0};
  return image.size() >= hash_offset + kBlockSize &&
         std::memcmp(image.data() + hash_offset, kSig, 8) == 0;
}

}  // namespace

Result<Inputs> LoadInputs(const GenerateOptions& opt) {
  Inputs in;
  BASALT_ASSIGN_OR_RETURN(in.new_info, LoadImageDir(opt.new_image_dir));
  if (in.new_info.data_block_size != kBlockSize || in.new_info.hash_block_size != kBlockSize ||
      in.new_info.size % kBlockSize != 0) {
    return Failf(ErrorKind::kUnsupported, "{}: only 4096-byte verity blocks are supported",
                 opt.new_image_dir);
  }
  BASALT_ASSIGN_OR_RETURN(in.new_map, MappedFile::MapWholeFile(in.new_info.path));
  in.new_bytes = in.new_map.bytes();
  in.has_superblock = HasVeritySuperblock(in.new_bytes, in.new_info.hash_offset);
  in.shipped_blocks = in.new_info.hash_offset / kBlockSize + (in.has_superblock ? 1 : 0);
  if (opt.old_image_dir) {
    BASALT_ASSIGN_OR_RETURN(UsrImageInfo old, LoadImageDir(*opt.old_image_dir));
    if (old.size % kBlockSize != 0) {
      return Failf(ErrorKind::kUnsupported, "{}: usr.img size is not a multiple of 4096",
                   *opt.old_image_dir);
    }
    BASALT_ASSIGN_OR_RETURN(in.old_map, MappedFile::MapWholeFile(old.path));
    in.old_bytes = in.old_map.bytes();
    const bool old_has_superblock = HasVeritySuperblock(in.old_bytes, old.hash_offset);
    in.old_shipped_blocks = old.hash_offset / kBlockSize + (old_has_superblock ? 1 : 0);
    in.old_info = std::move(old);
  }
  return in;
}

Status CheckImageHash(const UsrImageInfo& info, std::span<const uint8_t> bytes) {
  if (Sha256(bytes) != info.sha256) {
    return Failf(ErrorKind::kIntegrity, "{}: SHA-256 differs from its image.json", info.path);
  }
  return {};
}

}  // namespace basalt::payload
