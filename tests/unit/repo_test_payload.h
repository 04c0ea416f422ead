// A well-formed, signed full payload for an image directory written by WriteImageDir, for the
// tests that import one with `release publish --payload`. Its one operation is not applied by
// publish, so its data is random bytes of any length.
#pragma once

#include <cstdint>
#include <filesystem>
#include <random>
#include <string>

#include "common/hash.h"
#include "common/hex.h"
#include "common/signing.h"
#include "payload/format.h"
#include "unit/repo_test_util.h"

namespace basalt::repo::testing {

// What the payload says it is for; the defaults match WriteImageDir(dir, version, root).
struct TestPayloadTarget {
  std::string version;
  std::string root_hash;           // hex
  uint64_t usr_size = 1064960;     // WriteImageDir's usr.size
  uint64_t hash_offset = 1048576;  // WriteImageDir's usr.hash_offset
  std::string from_version;        // set: a delta
};

// The target of WriteImageDir(dir, version, root).
inline TestPayloadTarget ForImage(const std::string& version, char root) {
  TestPayloadTarget t;
  t.version = version;
  t.root_hash = Hex64(root);
  return t;
}

inline std::string MakeTestPayload(const TestPayloadTarget& t, const PrivateKey& key,
                                   size_t data_bytes = 4096, uint64_t seed = 1) {
  payload::Manifest m;
  m.set_block_size(payload::kBlockSize);
  m.set_version(t.version);
  m.set_from_version(t.from_version);
  payload::Partition* p = m.add_partitions();
  p->set_name("usr");
  p->set_new_size(t.usr_size);
  p->set_new_sha256(std::string(32, 'n'));
  if (!t.from_version.empty()) {
    p->set_old_size(t.usr_size);
    p->set_old_sha256(std::string(32, 'o'));
    p->set_old_root_hash(std::string(32, 'r'));
  }
  payload::proto::VerityParams* v = p->mutable_verity();
  v->set_hash_algorithm("sha256");
  v->set_salt("salt");
  v->set_data_block_size(payload::kBlockSize);
  v->set_hash_block_size(payload::kBlockSize);
  v->set_data_blocks(t.hash_offset / payload::kBlockSize);
  v->set_hash_offset(t.hash_offset);
  auto root = FromHex(t.root_hash);
  EXPECT_TRUE(root.has_value());
  v->set_root_hash(std::string(root->begin(), root->end()));
  v->set_has_superblock(true);
  std::mt19937_64 rng(seed);
  std::string data(data_bytes, '\0');
  for (char& c : data)
    c = static_cast<char>(rng());
  payload::Operation* op = p->add_operations();
  op->set_type(payload::Operation::REPLACE_ZSTD);
  op->set_data_offset(0);
  op->set_data_length(data.size());
  Sha256Digest d = Sha256(data);
  op->set_data_sha256(std::string(d.begin(), d.end()));
  payload::proto::Extent* e = op->add_dst_extents();
  e->set_start_block(0);
  e->set_num_blocks(payload::ShippedBlocks(*p));
  m.set_blobs_size(data.size());

  std::string manifest = m.SerializeAsString();
  std::vector<uint8_t> manifest_bytes(manifest.begin(), manifest.end());
  payload::Header h;
  h.minor_version = t.from_version.empty() ? payload::kMinorFull : payload::kMinorDelta;
  h.manifest_size = manifest.size();
  // The signature block's size is in the signed header, so sign until the block is as long
  // as the header says (an ECDSA signature's DER length varies by a byte or two).
  std::vector<uint8_t> sigs;
  h.signatures_size = 1;
  for (int i = 0; i < 32 && sigs.size() != h.signatures_size; ++i) {
    if (!sigs.empty()) h.signatures_size = static_cast<uint32_t>(sigs.size());
    auto sig = key.Sign(payload::SignedMessage(payload::EncodeHeader(h), manifest_bytes));
    EXPECT_TRUE(sig.has_value());
    sigs = payload::EncodeSignatures({Signature{key.id(), *sig}});
  }
  EXPECT_EQ(sigs.size(), h.signatures_size);
  auto header = payload::EncodeHeader(h);
  std::string out(header.begin(), header.end());
  out += manifest;
  out.append(sigs.begin(), sigs.end());
  out += data;
  return out;
}

}  // namespace basalt::repo::testing
