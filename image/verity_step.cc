#include "image/verity_step.h"

#include <libcryptsetup.h>
#include <sys/stat.h>

#include <memory>

#include "common/hex.h"

namespace basalt::image {
namespace {

struct CryptFree {
  void operator()(crypt_device* cd) const { crypt_free(cd); }
};

}  // namespace

Result<VerityResult> AppendVerityTree(const std::string& path, uint64_t data_size,
                                      const std::vector<uint8_t>& salt, const std::string& uuid) {
  constexpr uint32_t kBlock = 4096;
  if (data_size == 0 || data_size % kBlock != 0) {
    return Failf(ErrorKind::kInternal, "verity: data size {} is not a multiple of {}", data_size,
                 kBlock);
  }
  crypt_device* raw = nullptr;
  if (int r = crypt_init(&raw, path.c_str()); r < 0) {
    return std::unexpected(Error::FromErrno(-r, "verity: open " + path));
  }
  std::unique_ptr<crypt_device, CryptFree> cd(raw);
  crypt_params_verity params{};
  params.hash_name = "sha256";
  params.data_device = path.c_str();
  params.salt = reinterpret_cast<const char*>(salt.data());
  params.salt_size = static_cast<uint32_t>(salt.size());
  params.hash_type = 1;
  params.data_block_size = kBlock;
  params.hash_block_size = kBlock;
  params.data_size = data_size / kBlock;
  params.hash_area_offset = data_size;
  params.flags = CRYPT_VERITY_CREATE_HASH;
  if (int r =
          crypt_format(cd.get(), CRYPT_VERITY, nullptr, nullptr, uuid.c_str(), nullptr, 0, &params);
      r < 0) {
    return std::unexpected(Error::FromErrno(-r, "verity: format hash tree in " + path));
  }
  char root[64];
  size_t root_size = sizeof root;
  if (int r = crypt_volume_key_get(cd.get(), CRYPT_ANY_SLOT, root, &root_size, nullptr, 0); r < 0) {
    return std::unexpected(Error::FromErrno(-r, "verity: read root hash"));
  }
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return FailErrno("stat " + path);
  VerityResult out;
  out.root_hash = ToHex({reinterpret_cast<const uint8_t*>(root), root_size});
  out.salt = ToHex(salt);
  out.uuid = uuid;
  out.data_blocks = data_size / kBlock;
  out.hash_offset = data_size;
  out.size = static_cast<uint64_t>(st.st_size);
  return out;
}

}  // namespace basalt::image
