// Message digests through OpenSSL EVP, so SHA-NI and AVX implementations are used.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

typedef struct evp_md_st EVP_MD;
typedef struct evp_md_ctx_st EVP_MD_CTX;

namespace basalt {

enum class HashAlgorithm { kSha1, kSha256, kSha512 };

// "sha1", "sha256", "sha512".
std::string_view HashAlgorithmName(HashAlgorithm alg);
Result<HashAlgorithm> ParseHashAlgorithm(std::string_view name);
size_t HashDigestSize(HashAlgorithm alg);

using Sha256Digest = std::array<uint8_t, 32>;

// An incremental hasher. The EVP_MD is fetched once per Hasher (fetching is a provider
// lookup and costs far more than hashing a 4 KiB block), so hot loops should reuse one.
class Hasher {
 public:
  explicit Hasher(HashAlgorithm alg);
  ~Hasher();
  Hasher(Hasher&&) noexcept;
  Hasher& operator=(Hasher&&) noexcept;
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;

  HashAlgorithm algorithm() const { return alg_; }
  size_t digest_size() const { return digest_size_; }

  void Reset();
  void Update(std::span<const uint8_t> data);
  void Update(std::string_view data) {
    Update(std::span(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
  }
  // Writes digest_size() bytes to out and resets for reuse.
  void Final(uint8_t* out);
  std::vector<uint8_t> Final();

  // Copies the current intermediate state of `from` into this hasher (same algorithm), so a
  // common prefix such as a salt is hashed once and reused for every block.
  void CopyStateFrom(const Hasher& from);

 private:
  HashAlgorithm alg_;
  size_t digest_size_;
  EVP_MD* md_ = nullptr;
  EVP_MD_CTX* ctx_ = nullptr;
};

Sha256Digest Sha256(std::span<const uint8_t> data);
Sha256Digest Sha256(std::string_view data);

// SHA-256 of a whole file (streamed), or of [offset, offset+length) of an fd.
Result<Sha256Digest> Sha256File(const std::string& path);
Result<Sha256Digest> Sha256Range(int fd, uint64_t offset, uint64_t length, std::string_view what);

}  // namespace basalt
