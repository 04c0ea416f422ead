#include "tests/integration/payload_fixture.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <fstream>
#include <random>
#include <sstream>

#include "common/hash.h"
#include "common/hex.h"
#include "common/signing.h"

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
