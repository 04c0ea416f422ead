// Helpers shared by the verity tests: temp dirs, random files, and an independent, naive
// in-memory implementation of the veritysetup tree used as the reference.
#pragma once

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "common/hash.h"
#include "test_util.h"
#include "verity/verity.h"

namespace basalt::verity::testing {

using basalt::testing::TempDir;

// Deterministic pseudo-random bytes (splitmix64), written a word at a time: the interop test
// makes 64 MiB files, and this must stay fast under ASan.
inline std::vector<uint8_t> RandomBytes(size_t n, uint64_t seed) {
  std::vector<uint8_t> v(n);
  uint64_t x = seed;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    x += 0x9e3779b97f4a7c15ULL;
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    std::memcpy(v.data() + i, &z, 8);
  }
  for (; i < n; ++i)
    v[i] = static_cast<uint8_t>(x >> (8 * (i % 8)));
  return v;
}

inline void WriteBytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

inline std::vector<uint8_t> ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return {};
  std::vector<uint8_t> v(static_cast<size_t>(in.tellg()));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(v.size()));
  return v;
}

inline void PatchByte(const std::string& path, uint64_t offset, uint8_t xor_mask) {
  std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ xor_mask);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
}

struct ReferenceTree {
  std::vector<uint8_t> root;
  std::vector<std::vector<uint8_t>> levels;  // levels[0] = leaf digests, each zero-padded
  // The tree as stored: top level first.
  std::vector<uint8_t> Stored() const {
    std::vector<uint8_t> out;
    for (auto it = levels.rbegin(); it != levels.rend(); ++it)
      out.insert(out.end(), it->begin(), it->end());
    return out;
  }
};

// Straight from the format description, one level at a time in memory: digest =
// H(salt || block), padded to the next power of two; as many digests per hash block as fit
// (a power of two); blocks zero-padded; repeat until one block is left, whose digest is the root.
inline ReferenceTree BuildReference(const std::vector<uint8_t>& data, HashAlgorithm alg,
                                    size_t data_block, size_t hash_block,
                                    const std::vector<uint8_t>& salt) {
  const size_t ds = HashDigestSize(alg);
  size_t slot = 1;
  while (slot < ds)
    slot *= 2;
  size_t per_block = 1;
  while (per_block * 2 * ds <= hash_block)
    per_block *= 2;
  auto digest = [&](const uint8_t* p, size_t n) {
    Hasher h(alg);
    h.Update(std::span(salt));
    h.Update(std::span(p, n));
    return h.Final();
  };
  ReferenceTree t;
  std::vector<uint8_t> cur = data;
  size_t block = data_block;
  while (cur.size() / block > 1) {
    size_t n = cur.size() / block;
    size_t out_blocks = (n + per_block - 1) / per_block;
    std::vector<uint8_t> level(out_blocks * hash_block, 0);
    for (size_t i = 0; i < n; ++i) {
      auto d = digest(cur.data() + i * block, block);
      size_t at = (i / per_block) * hash_block + (i % per_block) * slot;
      std::copy(d.begin(), d.end(), level.begin() + static_cast<long>(at));
    }
    t.levels.push_back(level);
    cur = level;
    block = hash_block;
  }
  t.root = digest(cur.data(), block);
  return t;
}

}  // namespace basalt::verity::testing
