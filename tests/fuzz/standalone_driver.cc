// Runs a libFuzzer target without libFuzzer: every file of the seed corpus, then deterministic
// mutations of them (bit flips, truncations, byte runs, splices). This is what ctest runs in
// every preset, so each parser meets hostile input under ASan+UBSan on every CI run; the
// `fuzz` preset links the same target with the real libFuzzer engine for open-ended fuzzing.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

std::vector<uint8_t> ReadAll(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void Mutate(std::vector<uint8_t>& d, std::mt19937_64& rng, const std::vector<uint8_t>& other) {
  auto pick = [&](size_t n) { return n == 0 ? 0 : static_cast<size_t>(rng() % n); };
  switch (rng() % 6) {
    case 0:  // flip a bit
      if (!d.empty()) d[pick(d.size())] ^= static_cast<uint8_t>(1u << (rng() % 8));
      break;
    case 1:  // truncate
      d.resize(pick(d.size() + 1));
      break;
    case 2: {  // overwrite with an "interesting" value
      static const uint8_t kVals[] = {0x00, 0xff, 0x7f, 0x80, 0x01, 0xfe};
      if (!d.empty()) {
        size_t at = pick(d.size());
        size_t len = std::min<size_t>(d.size() - at, 1 + rng() % 8);
        std::memset(d.data() + at, kVals[rng() % sizeof(kVals)], len);
      }
      break;
    }
    case 3:  // insert random bytes
      d.insert(d.begin() + static_cast<long>(pick(d.size() + 1)), 1 + rng() % 16,
               static_cast<uint8_t>(rng()));
      break;
    case 4:  // splice with another corpus entry
      if (!other.empty()) {
        size_t cut = pick(d.size() + 1);
        d.resize(cut);
        d.insert(d.end(), other.begin() + static_cast<long>(pick(other.size())), other.end());
      }
      break;
    default:  // random byte
      if (!d.empty()) d[pick(d.size())] = static_cast<uint8_t>(rng());
      break;
  }
}

}  // namespace

int main(int argc, char** argv) {
  long mutations = 1000;
  std::vector<std::vector<uint8_t>> corpus;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--mutations" && i + 1 < argc) {
      mutations = std::strtol(argv[++i], nullptr, 10);
      continue;
    }
    std::filesystem::path p(arg);
    if (std::filesystem::is_directory(p)) {
      std::vector<std::filesystem::path> files;
      for (const auto& e : std::filesystem::directory_iterator(p))
        files.push_back(e.path());
      std::sort(files.begin(), files.end());
      for (const auto& f : files)
        corpus.push_back(ReadAll(f));
    } else if (std::filesystem::exists(p)) {
      corpus.push_back(ReadAll(p));
    } else {
      std::fprintf(stderr, "fuzz driver: no such corpus path %s\n", arg.c_str());
      return 2;
    }
  }
  corpus.push_back({});  // the empty input is always worth a try
  for (const auto& input : corpus)
    LLVMFuzzerTestOneInput(input.data(), input.size());
  std::mt19937_64 rng(0x6261736174ULL);  // fixed seed: failures reproduce
  for (long i = 0; i < mutations; ++i) {
    std::vector<uint8_t> d = corpus[static_cast<size_t>(i) % corpus.size()];
    int rounds = 1 + static_cast<int>(rng() % 4);
    for (int r = 0; r < rounds; ++r)
      Mutate(d, rng, corpus[rng() % corpus.size()]);
    LLVMFuzzerTestOneInput(d.data(), d.size());
  }
  std::printf("fuzz driver: %zu corpus inputs, %ld mutations, no crash\n", corpus.size(),
              mutations);
  return 0;
}
