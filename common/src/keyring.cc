#include "common/keyring.h"

#include <algorithm>
#include <filesystem>
#include <set>

namespace basalt {

Result<Keyring> Keyring::LoadDirectory(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return Failf(ErrorKind::kNotFound, "trusted key directory {} does not exist", dir);
  }
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".pem") files.push_back(entry.path());
  }
  if (ec) return Failf(ErrorKind::kIo, "list {}: {}", dir, ec.message());
  std::sort(files.begin(), files.end());
  Keyring ring;
  for (const auto& f : files) {
    BASALT_ASSIGN_OR_RETURN(PublicKey key, PublicKey::LoadFile(f.string()));
    ring.Add(std::move(key));
  }
  if (ring.size() == 0) {
    return Failf(ErrorKind::kNotFound, "trusted key directory {} holds no *.pem public keys", dir);
  }
  return ring;
}

Result<Keyring> Keyring::Load(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return LoadDirectory(path);
  if (!std::filesystem::exists(path, ec)) {
    return Failf(ErrorKind::kNotFound, "trusted keys {}: no such directory or PEM file", path);
  }
  BASALT_ASSIGN_OR_RETURN(PublicKey key, PublicKey::LoadFile(path));
  Keyring ring;
  ring.Add(std::move(key));
  return ring;
}

void Keyring::Add(PublicKey key) {
  std::string id = key.id();
  keys_.insert_or_assign(std::move(id), std::move(key));
}

const PublicKey* Keyring::Find(const std::string& key_id) const {
  auto it = keys_.find(key_id);
  return it == keys_.end() ? nullptr : &it->second;
}

Result<size_t> Keyring::VerifyThreshold(std::span<const uint8_t> message,
                                        std::span<const Signature> signatures,
                                        size_t threshold) const {
  BASALT_ASSIGN_OR_RETURN(std::vector<std::string> signers,
                          VerifyThresholdSigners(message, signatures, threshold));
  return signers.size();
}

Result<std::vector<std::string>> Keyring::VerifyThresholdSigners(
    std::span<const uint8_t> message, std::span<const Signature> signatures,
    size_t threshold) const {
  std::set<std::string> good;
  std::vector<std::string> problems;
  for (const Signature& sig : signatures) {
    const PublicKey* key = Find(sig.key_id);
    std::string short_id = sig.key_id.substr(0, 16);
    if (key == nullptr) {
      problems.push_back(fmt::format("key {} is not trusted", short_id));
      continue;
    }
    if (auto s = key->Verify(message, sig.bytes); !s) {
      problems.push_back(fmt::format("signature by trusted key {} is invalid", short_id));
      continue;
    }
    good.insert(sig.key_id);
  }
  if (threshold == 0) threshold = 1;
  if (good.size() >= threshold) return std::vector<std::string>(good.begin(), good.end());
  std::string msg = signatures.empty()
                        ? std::string("no signatures")
                        : fmt::format("{} valid signature(s) from trusted keys, {} required",
                                      good.size(), threshold);
  for (const auto& p : problems)
    msg += "; " + p;
  return Fail(ErrorKind::kIntegrity, msg);
}

}  // namespace basalt
