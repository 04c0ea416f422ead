#include "common/hash.h"

#include <fcntl.h>
#include <openssl/evp.h>

#include <cstdlib>
#include <utility>

#include "common/fd.h"

namespace basalt {

std::string_view HashAlgorithmName(HashAlgorithm alg) {
  switch (alg) {
    case HashAlgorithm::kSha1:
      return "sha1";
    case HashAlgorithm::kSha256:
      return "sha256";
    case HashAlgorithm::kSha512:
      return "sha512";
  }
  return "unknown";
}

Result<HashAlgorithm> ParseHashAlgorithm(std::string_view name) {
  if (name == "sha1") return HashAlgorithm::kSha1;
  if (name == "sha256") return HashAlgorithm::kSha256;
  if (name == "sha512") return HashAlgorithm::kSha512;
  return Failf(ErrorKind::kUnsupported,
               "unsupported hash algorithm '{}' (use sha256, sha512 or sha1)", name);
}

size_t HashDigestSize(HashAlgorithm alg) {
  switch (alg) {
    case HashAlgorithm::kSha1:
      return 20;
    case HashAlgorithm::kSha256:
      return 32;
    case HashAlgorithm::kSha512:
      return 64;
  }
  return 0;
}

static const char* EvpName(HashAlgorithm alg) {
  switch (alg) {
    case HashAlgorithm::kSha1:
      return "SHA1";
    case HashAlgorithm::kSha256:
      return "SHA256";
    case HashAlgorithm::kSha512:
      return "SHA512";
  }
  return "SHA256";
}

Hasher::Hasher(HashAlgorithm alg) : alg_(alg), digest_size_(HashDigestSize(alg)) {
  md_ = EVP_MD_fetch(nullptr, EvpName(alg), nullptr);
  ctx_ = EVP_MD_CTX_new();
  // Allocation failure or a missing default provider leaves no way to continue safely.
  if (md_ == nullptr || ctx_ == nullptr) std::abort();
  Reset();
}

Hasher::~Hasher() {
  EVP_MD_CTX_free(ctx_);
  EVP_MD_free(md_);
}

Hasher::Hasher(Hasher&& o) noexcept
    : alg_(o.alg_),
      digest_size_(o.digest_size_),
      md_(std::exchange(o.md_, nullptr)),
      ctx_(std::exchange(o.ctx_, nullptr)) {}

Hasher& Hasher::operator=(Hasher&& o) noexcept {
  if (this != &o) {
    EVP_MD_CTX_free(ctx_);
    EVP_MD_free(md_);
    alg_ = o.alg_;
    digest_size_ = o.digest_size_;
    md_ = std::exchange(o.md_, nullptr);
    ctx_ = std::exchange(o.ctx_, nullptr);
  }
  return *this;
}

void Hasher::Reset() {
  if (EVP_DigestInit_ex(ctx_, md_, nullptr) != 1) std::abort();
}

void Hasher::Update(std::span<const uint8_t> data) {
  if (!data.empty() && EVP_DigestUpdate(ctx_, data.data(), data.size()) != 1) std::abort();
}

void Hasher::Final(uint8_t* out) {
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_, out, &len) != 1) std::abort();
  Reset();
}

std::vector<uint8_t> Hasher::Final() {
  std::vector<uint8_t> out(digest_size_);
  Final(out.data());
  return out;
}

void Hasher::CopyStateFrom(const Hasher& from) {
  if (EVP_MD_CTX_copy_ex(ctx_, from.ctx_) != 1) std::abort();
}

Sha256Digest Sha256(std::span<const uint8_t> data) {
  Sha256Digest out;
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr) != 1) {
    std::abort();
  }
  return out;
}

Sha256Digest Sha256(std::string_view data) {
  return Sha256(std::span(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
}

Result<Sha256Digest> Sha256Range(int fd, uint64_t offset, uint64_t length, std::string_view what) {
  Hasher h(HashAlgorithm::kSha256);
  std::vector<uint8_t> buf(1 << 20);
  uint64_t pos = offset;
  const uint64_t end = offset + length;
  while (pos < end) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), end - pos));
    BASALT_RETURN_IF_ERROR(PreadFull(fd, std::span(buf.data(), n), pos, what));
    h.Update(std::span<const uint8_t>(buf.data(), n));
    pos += n;
  }
  Sha256Digest out;
  h.Final(out.data());
  return out;
}

Result<Sha256Digest> Sha256File(const std::string& path) {
  BASALT_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(path, O_RDONLY));
  BASALT_ASSIGN_OR_RETURN(uint64_t size, FileOrDeviceSize(fd.get(), path));
  return Sha256Range(fd.get(), 0, size, path);
}

}  // namespace basalt
