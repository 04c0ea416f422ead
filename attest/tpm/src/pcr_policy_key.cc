#include "tpm/pcr_policy_key.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <filesystem>
#include <memory>

#include "common/atomic_file.h"
#include "common/fd.h"
#include "common/hex.h"
#include "common/signing.h"
#include "tpm/pcr_policy.h"

namespace basalt::tpm {
namespace {

namespace fs = std::filesystem;

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};

Result<std::string> ToPem(EVP_PKEY* key, bool private_key) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  const int ok = !bio          ? 0
                 : private_key ? PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0,
                                                          nullptr, nullptr)
                               : PEM_write_bio_PUBKEY(bio.get(), key);
  if (ok != 1) return Failf(ErrorKind::kInternal, "PEM encoding: {}", OpensslError());
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, size_t(len));
}

// A passphrase callback that has none: OpenSSL's default would prompt on the terminal.
int NoPassphrase(char*, int, int, void*) {
  return -1;
}

// O_EXCL: a key file that appeared meanwhile is not replaced.
Status WriteNew(const std::string& path, const std::string& data, mode_t mode) {
  BASALT_ASSIGN_OR_RETURN(
      UniqueFd fd, OpenFile(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
  BASALT_RETURN_IF_ERROR(WriteFull(
      fd.get(), std::span(reinterpret_cast<const uint8_t*>(data.data()), data.size()), path));
  if (fsync(fd.get()) != 0) return FailErrno("fsync " + path);
  return {};
}

}  // namespace

Result<PcrPolicyKeyFiles> CreatePcrPolicyKey(const std::string& dir) {
  PcrPolicyKeyFiles files{.private_key = dir + "/" + kPcrPolicyPrivateKeyFile,
                          .public_key = dir + "/" + kPcrPolicyPublicKeyFile,
                          .fingerprint = {}};
  for (const std::string& f : {files.private_key, files.public_key}) {
    std::error_code ec;
    if (fs::exists(fs::symlink_status(f, ec))) {
      return Failf(ErrorKind::kPolicy, "{} exists; PCR policy keys are never overwritten", f);
    }
  }
  std::error_code ec;
  // A directory made here holds a private key: owner only.
  if (fs::create_directories(dir, ec) && !ec) fs::permissions(dir, fs::perms::owner_all, ec);
  if (ec) return Failf(ErrorKind::kIo, "create {}: {}", dir, ec.message());

  std::unique_ptr<EVP_PKEY, PkeyFree> key(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048}));
  if (!key) return Failf(ErrorKind::kInternal, "generate an RSA-2048 key: {}", OpensslError());
  BASALT_ASSIGN_OR_RETURN(std::string private_pem, ToPem(key.get(), true));
  BASALT_ASSIGN_OR_RETURN(std::string public_pem, ToPem(key.get(), false));
  BASALT_ASSIGN_OR_RETURN(PolicyPublicKey pub, PolicyPublicKey::FromPem(public_pem));
  files.fingerprint = ToHex(pub.fingerprint());
  Status s = WriteNew(files.private_key, private_pem, 0600);
  OPENSSL_cleanse(private_pem.data(), private_pem.size());
  BASALT_RETURN_IF_ERROR(s);
  if (Status p = WriteNew(files.public_key, public_pem, 0644); !p) {
    // Half a key pair is worse than none: the next run would refuse to overwrite it.
    fs::remove(files.private_key, ec);
    return std::unexpected(p.error());
  }
  BASALT_RETURN_IF_ERROR(FsyncDirectory(dir));
  return files;
}

Result<std::string> PcrPolicyPublicPem(const std::string& private_key_path) {
  BASALT_ASSIGN_OR_RETURN(std::string pem, ReadFileToString(private_key_path));
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), int(pem.size())));
  std::unique_ptr<EVP_PKEY, PkeyFree> key(
      bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr) : nullptr);
  OPENSSL_cleanse(pem.data(), pem.size());
  if (!key) {
    return Failf(ErrorKind::kInvalidInput,
                 "{}: not an unencrypted PEM private key (the PCR policy key)", private_key_path);
  }
  BASALT_ASSIGN_OR_RETURN(std::string public_pem, ToPem(key.get(), /*private_key=*/false));
  // The same checks a host applies to .pcrpkey: RSA-2048, loadable as the TPM sees it.
  auto checked = PolicyPublicKey::FromPem(public_pem);
  if (!checked) return std::unexpected(checked.error().WithContext(private_key_path));
  return public_pem;
}

}  // namespace basalt::tpm
