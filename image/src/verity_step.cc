#include "verity_step.h"

#include <sys/stat.h>

#include "common/hex.h"
#include "verity/verity.h"

namespace basalt::image {

Result<VerityResult> AppendVerityTree(const std::string& path, uint64_t data_size,
                                      const std::vector<uint8_t>& salt, const std::string& uuid) {
  constexpr uint32_t kBlock = 4096;
  if (data_size == 0 || data_size % kBlock != 0) {
    return Failf(ErrorKind::kInternal, "verity: data size {} is not a multiple of {}", data_size,
                 kBlock);
  }
  BASALT_ASSIGN_OR_RETURN(verity::Uuid parsed_uuid, verity::ParseUuid(uuid));
  verity::FormatOptions options;
  options.data_path = path;
  options.hash_path = path;
  options.hash_offset = data_size;
  options.data_blocks = data_size / kBlock;
  options.data_block_size = kBlock;
  options.hash_block_size = kBlock;
  options.salt = salt;
  options.uuid = parsed_uuid;
  auto formatted = verity::Format(options);
  if (!formatted) return std::unexpected(formatted.error().WithContext("verity: format " + path));
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return FailErrno("stat " + path);
  VerityResult out;
  out.root_hash = ToHex(formatted->root_hash);
  out.salt = ToHex(salt);
  out.uuid = uuid;
  out.data_blocks = data_size / kBlock;
  out.hash_offset = data_size;
  out.size = static_cast<uint64_t>(st.st_size);
  return out;
}

}  // namespace basalt::image
