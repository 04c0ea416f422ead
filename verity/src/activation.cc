#include "activation.h"

#include <libcryptsetup.h>

#include <cstring>
#include <memory>

#include "cryptsetup_plan.h"

namespace basalt::verity {

crypt_params_verity CryptsetupPlan::ToParams() const {
  crypt_params_verity p;
  std::memset(&p, 0, sizeof(p));
  p.hash_name = hash_name.empty() ? nullptr : hash_name.c_str();
  p.data_device = data_device.c_str();
  p.hash_device = hash_device.c_str();
  p.salt = salt.empty() ? nullptr : salt.data();
  p.salt_size = static_cast<uint32_t>(salt.size());
  p.hash_type = 1;
  p.data_block_size = data_block_size;
  p.hash_block_size = hash_block_size;
  p.data_size = data_blocks;
  p.hash_area_offset = hash_area_offset;
  p.flags = verity_flags;
  return p;
}

Result<CryptsetupPlan> PlanActivation(const OpenOptions& o) {
  if (o.name.empty() || o.name.find('/') != std::string::npos) {
    return Failf(ErrorKind::kInvalidInput, "invalid device-mapper name '{}'", o.name);
  }
  if (o.root_hash.empty()) return Fail(ErrorKind::kInvalidInput, "a root hash is required");
  CryptsetupPlan plan;
  plan.data_device = o.data_path;
  plan.hash_device = o.hash_path.empty() ? o.data_path : o.hash_path;
  if (o.hash_path.empty() && !o.hash_offset && !(o.params && !o.params->superblock)) {
    return Fail(ErrorKind::kInvalidInput,
                "the hash tree shares the data device: give the hash offset (--hash-offset)");
  }
  plan.hash_area_offset = o.hash_offset.value_or(0);
  if (o.params && !o.params->superblock) {
    VerityParams p = *o.params;
    p.hash_offset = plan.hash_area_offset;
    BASALT_ASSIGN_OR_RETURN(TreeGeometry g, ComputeGeometry(p));
    if (o.root_hash.size() != g.digest_size) {
      return Failf(ErrorKind::kInvalidInput, "root hash is {} bytes; {} digests are {} bytes",
                   o.root_hash.size(), HashAlgorithmName(p.algorithm), g.digest_size);
    }
    plan.load_superblock = false;
    plan.hash_name = std::string(HashAlgorithmName(p.algorithm));
    plan.salt.assign(p.salt.begin(), p.salt.end());
    plan.data_block_size = p.data_block_size;
    plan.hash_block_size = p.hash_block_size;
    plan.data_blocks = p.data_blocks;
    plan.verity_flags |= CRYPT_VERITY_NO_HEADER;
  }
  if (!o.root_hash_signature.empty()) {
    plan.signed_activation = true;
    plan.verity_flags |= CRYPT_VERITY_ROOT_HASH_SIGNATURE;
  }
  plan.activate_flags = CRYPT_ACTIVATE_READONLY;
  switch (o.on_corruption) {
    case OnCorruption::kEio:
      break;
    case OnCorruption::kRestart:
      plan.activate_flags |= CRYPT_ACTIVATE_RESTART_ON_CORRUPTION;
      break;
    case OnCorruption::kPanic:
      plan.activate_flags |= CRYPT_ACTIVATE_PANIC_ON_CORRUPTION;
      break;
    case OnCorruption::kIgnore:
      plan.activate_flags |= CRYPT_ACTIVATE_IGNORE_CORRUPTION;
      break;
  }
  if (o.ignore_zero_blocks) plan.activate_flags |= CRYPT_ACTIVATE_IGNORE_ZERO_BLOCKS;
  if (o.check_at_most_once) plan.activate_flags |= CRYPT_ACTIVATE_CHECK_AT_MOST_ONCE;
  return plan;
}

namespace {

struct CryptFree {
  void operator()(crypt_device* cd) const { crypt_free(cd); }
};
using CryptDevice = std::unique_ptr<crypt_device, CryptFree>;

// libcryptsetup reports details through a per-device log callback; keep the last error line
// so our message says why, not only an errno.
void CaptureLog(int level, const char* msg, void* usrptr) {
  if (level == CRYPT_LOG_ERROR && msg != nullptr) {
    std::string& last = *static_cast<std::string*>(usrptr);
    last = msg;
    while (!last.empty() && (last.back() == '\n' || last.back() == ' '))
      last.pop_back();
  }
}

std::unexpected<Error> CryptFail(int r, std::string_view what, const std::string& log) {
  std::string msg = fmt::format("{}: {}", what, std::strerror(-r));
  if (!log.empty()) msg += fmt::format(" ({})", log);
  // -EPERM is what libcryptsetup returns when the root hash or its signature is refused.
  ErrorKind kind = ErrorKind::kIo;
  if (r == -EPERM) kind = ErrorKind::kIntegrity;
  if (r == -EINVAL) kind = ErrorKind::kInvalidInput;
  if (r == -ENOENT || r == -ENODEV) kind = ErrorKind::kNotFound;
  if (r == -ENOTSUP) kind = ErrorKind::kUnsupported;
  return std::unexpected(Error(kind, std::move(msg), -r));
}

}  // namespace

Status Open(const OpenOptions& o) {
  BASALT_ASSIGN_OR_RETURN(CryptsetupPlan plan, PlanActivation(o));
  crypt_device* raw = nullptr;
  int r = crypt_init_data_device(&raw, plan.hash_device.c_str(), plan.data_device.c_str());
  if (r < 0) return CryptFail(r, fmt::format("open {}", plan.hash_device), "");
  CryptDevice cd(raw);
  std::string log;
  crypt_set_log_callback(cd.get(), CaptureLog, &log);
  crypt_params_verity params = plan.ToParams();
  if (plan.load_superblock) {
    r = crypt_load(cd.get(), CRYPT_VERITY, &params);
    if (r < 0) return CryptFail(r, "load verity superblock", log);
  } else {
    r = crypt_format(cd.get(), CRYPT_VERITY, nullptr, nullptr, nullptr, nullptr, 0, &params);
    if (r < 0) return CryptFail(r, "set verity parameters", log);
  }
  const char* root = reinterpret_cast<const char*>(o.root_hash.data());
  if (plan.signed_activation) {
    r = crypt_activate_by_signed_key(cd.get(), o.name.c_str(), root, o.root_hash.size(),
                                     reinterpret_cast<const char*>(o.root_hash_signature.data()),
                                     o.root_hash_signature.size(), plan.activate_flags);
  } else {
    r = crypt_activate_by_volume_key(cd.get(), o.name.c_str(), root, o.root_hash.size(),
                                     plan.activate_flags);
  }
  if (r < 0) return CryptFail(r, "activate", log);
  return {};
}

Status Close(const std::string& name) {
  crypt_device* raw = nullptr;
  int r = crypt_init_by_name(&raw, name.c_str());
  if (r < 0) return CryptFail(r, fmt::format("find device {}", name), "");
  CryptDevice cd(raw);
  std::string log;
  crypt_set_log_callback(cd.get(), CaptureLog, &log);
  r = crypt_deactivate(cd.get(), name.c_str());
  if (r < 0) return CryptFail(r, "deactivate", log);
  return {};
}

}  // namespace basalt::verity
