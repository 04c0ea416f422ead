#include "integration/payload_fixture.h"

#include <gtest/gtest.h>
#include <lz4.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <fstream>
#include <random>
#include <sstream>

#include "common/hash.h"
#include "common/hex.h"
#include "common/signing.h"
#include "payload/lz4_region.h"

namespace basalt::payload::testing {

int Run(const std::string& cmd) {
  int st = std::system(cmd.c_str());
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string RandomBytes(size_t n, uint64_t seed, bool text) {
  std::mt19937_64 rng(seed);
  std::string out;
  out.reserve(n);
  if (!text) {
    while (out.size() < n)
      out.push_back(static_cast<char>(rng() & 0xff));
    return out;
  }
  static const char* kWords[] = {"basalt ",  "update ", "verity ", "kernel ", "module ",
                                 "payload ", "slot ",   "\n",      "0x1f ",   "libc.so.6 "};
  while (out.size() < n)
    out += kWords[rng() % 10];
  out.resize(n);
  return out;
}

std::string MakeLz4BzImage(const std::string& vmlinux, const std::string& tail, int level) {
  std::string stream;
  if (level > 0) {
    auto c = Lz4LegacyCompress(
        std::span(reinterpret_cast<const uint8_t*>(vmlinux.data()), vmlinux.size()), level);
    EXPECT_TRUE(c.has_value()) << c.error().message();
    if (c) stream.assign(c->begin(), c->end());
  } else {
    stream = std::string("\x02\x21\x4c\x18", 4);
    for (size_t at = 0; at < vmlinux.size(); at += kLz4LegacyBlockBytes) {
      const int n = static_cast<int>(std::min<size_t>(kLz4LegacyBlockBytes, vmlinux.size() - at));
      std::string block(static_cast<size_t>(LZ4_compressBound(n)), '\0');
      const int c = LZ4_compress_fast(vmlinux.data() + at, block.data(), n,
                                      static_cast<int>(block.size()), 7);
      for (int i = 0; i < 4; ++i)
        stream.push_back(static_cast<char>(static_cast<uint32_t>(c) >> (8 * i)));
      stream += block.substr(0, static_cast<size_t>(c));
    }
  }
  auto put32 = [](std::string& s, size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i)
      s[at + i] = static_cast<char>(v >> (8 * i));
  };
  const size_t setup_sects = 3, payload_offset = 0x100;
  std::string image = RandomBytes((setup_sects + 1) * 512 + payload_offset, 77);
  image[0x1f1] = static_cast<char>(setup_sects);
  image.replace(0x202, 4, "HdrS");
  image[0x206] = 0x0f;  // boot protocol 2.15
  image[0x207] = 0x02;
  put32(image, 0x248, payload_offset);
  put32(image, 0x24c, static_cast<uint32_t>(stream.size() + 4));
  image += stream;
  image += std::string(4, '\0');
  put32(image, image.size() - 4, static_cast<uint32_t>(vmlinux.size()));
  return image + tail;
}

void BuildImage(const std::string& tree, const std::string& dir, const std::string& version) {
  std::filesystem::create_directories(dir);
  const std::string img = dir + "/usr.img";
  ASSERT_EQ(Run("mkfs.erofs -T0 -U 3c0e8ad8-8d2a-4f44-9b6e-2b8b6a0e4b11 " + img + " " + tree +
                " >/dev/null 2>&1"),
            0);
  const uint64_t data_size = std::filesystem::file_size(img);
  const std::string salt = "a1b2c3d4e5f60718";
  const std::string out = dir + "/verity.txt";
  ASSERT_EQ(Run(fmt::format("veritysetup format --hash-offset={} --data-blocks={} --salt={} "
                            "--uuid=3c0e8ad8-8d2a-4f44-9b6e-2b8b6a0e4b11 {} {} > {}",
                            data_size, data_size / 4096, salt, img, img, out)),
            0);
  std::string text = ReadFile(out);
  auto pos = text.find("Root hash:");
  ASSERT_NE(pos, std::string::npos) << text;
  std::istringstream is(text.substr(pos + 10));
  std::string root;
  is >> root;
  auto sha = Sha256File(img);
  ASSERT_TRUE(sha.has_value());
  WriteFile(
      dir + "/image.json",
      fmt::format(R"({{"version":"{}","usr":{{"root_hash":"{}","salt":"{}",)"
                  R"("hash_algorithm":"sha256","data_block_size":4096,"hash_block_size":4096,)"
                  R"("data_blocks":{},"hash_offset":{},"size":{},"sha256":"{}"}}}})",
                  version, root, salt, data_size / 4096, data_size, std::filesystem::file_size(img),
                  ToHex(*sha)));
}

void MakeKey(const std::string& name, const std::string& key_dir, const std::string& trust_dir) {
  auto key = PrivateKey::Generate(KeyType::kEd25519);
  ASSERT_TRUE(key.has_value());
  auto pem = key->ToPem();
  ASSERT_TRUE(pem.has_value());
  WriteFile(key_dir + "/" + name + ".pem", *pem);
  if (!trust_dir.empty()) WriteFile(trust_dir + "/" + name + ".pem", key->public_key().ToPem());
}

}  // namespace basalt::payload::testing
