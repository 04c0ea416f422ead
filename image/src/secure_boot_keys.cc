#include "image/secure_boot_keys.h"

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <memory>

#include "common/atomic_file.h"
#include "common/signing.h"
#include "common/subprocess.h"
#include "scratch_dir.h"
#include "verity/verity.h"

namespace basalt {
namespace {

namespace fs = std::filesystem;

constexpr int kRsaBits = 2048;  // what every UEFI firmware must accept for PK/KEK/db
constexpr long kValidDays = 3650;
constexpr const char* kRoles[] = {"PK", "KEK", "db"};
constexpr const char* kSuffixes[] = {".key", ".crt", ".esl", ".auth"};
constexpr const char* kGuidFile = "owner.guid";

template <auto Free>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    Free(p);
  }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BN_free>>;

std::unexpected<Error> OpensslFailed(std::string_view what) {
  return Failf(ErrorKind::kInternal, "{}: {}", what, OpensslError());
}

Result<std::string> BioText(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  if (n < 0) return Fail(ErrorKind::kInternal, "read OpenSSL memory buffer");
  return std::string(data, static_cast<size_t>(n));
}

Status AddExtension(X509* cert, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr) return OpensslFailed(fmt::format("certificate extension {}", value));
  const int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (ok != 1) return OpensslFailed("add certificate extension");
  return {};
}

// A self-signed CA certificate, as `openssl req -x509` makes one: firmware and sbverify use it
// as a trust anchor, so it signs itself and may sign (PK signs KEK updates, KEK signs db's).
Result<X509Ptr> SelfSignedCert(EVP_PKEY* key, const std::string& common_name) {
  X509Ptr cert(X509_new());
  BnPtr serial(BN_new());
  if (!cert || !serial) return OpensslFailed("allocate certificate");
  // A random positive 127-bit serial (RFC 5280 allows up to 20 octets).
  if (X509_set_version(cert.get(), X509_VERSION_3) != 1 ||
      BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr ||
      X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0) == nullptr ||
      X509_time_adj_ex(X509_getm_notAfter(cert.get()), kValidDays, 0, nullptr) == nullptr ||
      X509_set_pubkey(cert.get(), key) != 1) {
    return OpensslFailed("fill certificate");
  }
  X509_NAME* name = X509_get_subject_name(cert.get());
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.c_str()), -1,
                                 -1, 0) != 1 ||
      X509_set_issuer_name(cert.get(), name) != 1) {
    return OpensslFailed("certificate name " + common_name);
  }
  BASALT_RETURN_IF_ERROR(AddExtension(cert.get(), NID_subject_key_identifier, "hash"));
  BASALT_RETURN_IF_ERROR(AddExtension(cert.get(), NID_authority_key_identifier, "keyid:always"));
  BASALT_RETURN_IF_ERROR(AddExtension(cert.get(), NID_basic_constraints, "critical,CA:TRUE"));
  if (X509_sign(cert.get(), key, EVP_sha256()) <= 0) return OpensslFailed("sign certificate");
  return cert;
}

// NAME.key and NAME.crt in `scratch`.
Status WriteKeyPair(const ScratchDir& scratch, const std::string& role,
                    const std::string& common_name) {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(kRsaBits)));
  if (!key) return OpensslFailed("generate RSA key");
  BASALT_ASSIGN_OR_RETURN(X509Ptr cert, SelfSignedCert(key.get(), common_name + " " + role));
  BioPtr key_pem(BIO_new(BIO_s_mem()));
  BioPtr cert_pem(BIO_new(BIO_s_mem()));
  if (!key_pem || !cert_pem ||
      PEM_write_bio_PrivateKey(key_pem.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) !=
          1 ||
      PEM_write_bio_X509(cert_pem.get(), cert.get()) != 1) {
    return OpensslFailed("write PEM");
  }
  BASALT_ASSIGN_OR_RETURN(std::string key_text, BioText(key_pem.get()));
  BASALT_ASSIGN_OR_RETURN(std::string cert_text, BioText(cert_pem.get()));
  const std::string key_path = scratch / (role + ".key");
  BASALT_RETURN_IF_ERROR(WriteFileAtomic(key_path, key_text, 0600));
  // WriteFileAtomic honours the umask; a private key must not be readable by others.
  if (::chmod(key_path.c_str(), 0600) != 0) return FailErrno("chmod " + key_path);
  return WriteFileAtomic(scratch / (role + ".crt"), cert_text, 0644);
}

Status RunEfitool(std::vector<std::string> argv) {
  Command c(std::move(argv));
  c.base_env = Command::BaseEnv::kEmpty;
  c.env = {{"LC_ALL", "C"}};
  c.stderr_mode = Command::Stderr::kMerge;
  BASALT_RETURN_IF_ERROR(RunCommandOk(c));
  return {};
}

}  // namespace

Result<SecureBootKeySet> CreateSecureBootKeys(const std::string& dir,
                                              const std::string& common_name) {
  if (common_name.empty()) {
    return Fail(ErrorKind::kInvalidInput, "Secure Boot keys need a non-empty common name");
  }
  std::vector<std::string> names;
  for (const char* role : kRoles) {
    for (const char* suffix : kSuffixes)
      names.push_back(std::string(role) + suffix);
  }
  names.push_back(kGuidFile);
  SecureBootKeySet set;
  for (const auto& n : names) {
    set.files.push_back(dir + "/" + n);
    std::error_code ec;
    if (fs::exists(fs::symlink_status(set.files.back(), ec))) {
      return Failf(ErrorKind::kPolicy, "{} exists; Secure Boot keys are never overwritten",
                   set.files.back());
    }
  }
  std::error_code ec;
  // A directory made here holds private keys: owner only.
  if (fs::create_directories(dir, ec) && !ec) fs::permissions(dir, fs::perms::owner_all, ec);
  if (ec) return Failf(ErrorKind::kIo, "create {}: {}", dir, ec.message());

  ScratchDir scratch;
  BASALT_RETURN_IF_ERROR(scratch.Create(dir, "basalt-secure-boot"));
  set.owner_guid = verity::FormatUuid(verity::RandomUuid());
  BASALT_RETURN_IF_ERROR(WriteFileAtomic(scratch / kGuidFile, set.owner_guid + "\n"));
  for (const char* role : kRoles) {
    BASALT_RETURN_IF_ERROR(WriteKeyPair(scratch, role, common_name));
    BASALT_RETURN_IF_ERROR(RunEfitool({"cert-to-efi-sig-list", "-g", set.owner_guid,
                                       scratch / (std::string(role) + ".crt"),
                                       scratch / (std::string(role) + ".esl")}));
  }
  // PK signs its own update and KEK's; KEK signs db's (UEFI 2.x, 8.2.2).
  const struct {
    const char* role;
    const char* signer;
  } updates[] = {{"PK", "PK"}, {"KEK", "PK"}, {"db", "KEK"}};
  for (const auto& u : updates) {
    const std::string role = u.role, signer = u.signer;
    BASALT_RETURN_IF_ERROR(
        RunEfitool({"sign-efi-sig-list", "-g", set.owner_guid, "-k", scratch / (signer + ".key"),
                    "-c", scratch / (signer + ".crt"), role, scratch / (role + ".esl"),
                    scratch / (role + ".auth")}));
  }
  // Every file durable in the scratch directory, then linked into place: link(2) refuses to
  // replace a file that appeared meanwhile, and the scratch directory takes the rest with it.
  for (size_t i = 0; i < names.size(); ++i) {
    BASALT_RETURN_IF_ERROR(FsyncFile(scratch / names[i]));
  }
  for (size_t i = 0; i < names.size(); ++i) {
    if (::link((scratch / names[i]).c_str(), set.files[i].c_str()) != 0) {
      return FailErrno("link " + set.files[i]);
    }
  }
  BASALT_RETURN_IF_ERROR(FsyncDirectory(dir));
  return set;
}

}  // namespace basalt
