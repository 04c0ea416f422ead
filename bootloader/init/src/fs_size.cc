#include "fs_size.h"

#include <fcntl.h>

#include <array>
#include <cstring>

#include "common/fd.h"

namespace basalt::init {
namespace {

uint32_t Le32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

}  // namespace

Result<uint64_t> ErofsImageSize(const std::string& device) {
  BASALT_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(device, O_RDONLY));
  std::array<uint8_t, 128> sb{};
  BASALT_RETURN_IF_ERROR(PreadFull(fd.get(), sb, 1024, device + " erofs superblock"));
  if (Le32(sb.data()) != 0xE0F5E1E2) {
    return Failf(ErrorKind::kInvalidInput, "{} has no erofs superblock (magic 0x{:08x})", device,
                 Le32(sb.data()));
  }
  const uint8_t blkszbits = sb[12];
  const uint32_t blocks = Le32(sb.data() + 36);
  if (blkszbits < 9 || blkszbits > 16 || blocks == 0) {
    return Failf(ErrorKind::kInvalidInput, "{}: erofs superblock has blkszbits {} and {} blocks",
                 device, blkszbits, blocks);
  }
  return uint64_t{blocks} << blkszbits;
}

Result<uint64_t> Ext4Size(const std::string& device) {
  BASALT_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(device, O_RDONLY));
  std::array<uint8_t, 1024> sb{};
  BASALT_RETURN_IF_ERROR(PreadFull(fd.get(), sb, 1024, device + " ext4 superblock"));
  if (sb[0x38] != 0x53 || sb[0x39] != 0xEF) {
    return Failf(ErrorKind::kInvalidInput, "{} has no ext2/3/4 superblock", device);
  }
  const uint64_t blocks_lo = Le32(sb.data() + 0x04);
  const uint64_t blocks_hi = Le32(sb.data() + 0x150);
  const uint32_t log_block = Le32(sb.data() + 0x18);
  if (log_block > 6) return Failf(ErrorKind::kInvalidInput, "{}: bad ext4 block size", device);
  const bool bit64 = (Le32(sb.data() + 0x60) & 0x80) != 0;  // INCOMPAT_64BIT
  const uint64_t blocks = blocks_lo | (bit64 ? blocks_hi << 32 : 0);
  return blocks << (10 + log_block);
}

Result<bool> HasVeritySuperblock(const std::string& device, uint64_t offset) {
  BASALT_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(device, O_RDONLY));
  std::array<uint8_t, 8> magic{};
  BASALT_RETURN_IF_ERROR(PreadFull(fd.get(), magic, offset, device + " verity superblock"));
  return std::memcmp(magic.data(), "verity\0\0", 8) == 0;
}

}  // namespace basalt::init
