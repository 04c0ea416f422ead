#include "elf_deps.h"

#include <cstdint>
#include <cstring>
#include <optional>

namespace basalt::boot {
namespace {

constexpr uint32_t kPtLoad = 1, kPtDynamic = 2, kPtInterp = 3;
constexpr int64_t kDtNull = 0, kDtNeeded = 1, kDtStrtab = 5;

template <typename T>
bool Get(std::string_view image, uint64_t offset, T& out) {
  if (offset > image.size() || image.size() - offset < sizeof(T)) return false;
  std::memcpy(&out, image.data() + offset, sizeof(T));
  return true;
}

struct Phdr {
  uint32_t type, flags;
  uint64_t offset, vaddr, paddr, filesz, memsz, align;
};

}  // namespace

Result<ElfDeps> ReadElfDeps(std::string_view image) {
  auto bad = [](std::string_view why) { return Failf(ErrorKind::kInvalidInput, "ELF: {}", why); };
  if (image.size() < 64 || image.substr(0, 4) !=
                               "\x7f"
                               "ELF")
    return bad("no ELF magic");
  if (image[4] != 2) return bad("not a 64-bit ELF file");
  if (image[5] != 1) return bad("not little-endian");
  uint64_t phoff = 0;
  uint16_t phentsize = 0, phnum = 0;
  Get(image, 32, phoff);
  Get(image, 54, phentsize);
  Get(image, 56, phnum);
  if (phentsize < sizeof(Phdr)) return bad("program header entries are too small");
  std::vector<Phdr> phdrs;
  for (uint16_t i = 0; i < phnum; i++) {
    Phdr ph{};
    if (!Get(image, phoff + uint64_t{i} * phentsize, ph)) return bad("program headers truncated");
    phdrs.push_back(ph);
  }
  ElfDeps deps;
  const Phdr* dynamic = nullptr;
  for (const Phdr& ph : phdrs) {
    if (ph.type == kPtInterp) {
      if (ph.offset > image.size() || image.size() - ph.offset < ph.filesz || ph.filesz == 0) {
        return bad("PT_INTERP outside the file");
      }
      std::string_view interp = image.substr(ph.offset, ph.filesz);
      deps.interpreter = std::string(interp.substr(0, interp.find('\0')));
    }
    if (ph.type == kPtDynamic) dynamic = &ph;
  }
  if (!dynamic) return deps;
  // DT_STRTAB is a virtual address: map it to a file offset through the PT_LOAD segments.
  auto to_offset = [&](uint64_t vaddr) -> std::optional<uint64_t> {
    for (const Phdr& ph : phdrs) {
      if (ph.type == kPtLoad && vaddr >= ph.vaddr && vaddr - ph.vaddr < ph.filesz) {
        return ph.offset + (vaddr - ph.vaddr);
      }
    }
    return std::nullopt;
  };
  std::vector<uint64_t> needed_offsets;
  std::optional<uint64_t> strtab;
  for (uint64_t off = dynamic->offset; off + 16 <= dynamic->offset + dynamic->filesz; off += 16) {
    int64_t tag = 0;
    uint64_t val = 0;
    if (!Get(image, off, tag) || !Get(image, off + 8, val)) return bad("PT_DYNAMIC truncated");
    if (tag == kDtNull) break;
    if (tag == kDtNeeded) needed_offsets.push_back(val);
    if (tag == kDtStrtab) strtab = to_offset(val);
  }
  if (!needed_offsets.empty() && !strtab) return bad("DT_NEEDED without a mapped DT_STRTAB");
  for (uint64_t name_off : needed_offsets) {
    if (*strtab > image.size() || image.size() - *strtab <= name_off) {
      return bad("DT_NEEDED name outside the file");
    }
    std::string_view rest = image.substr(*strtab + name_off);
    size_t nul = rest.find('\0');
    if (nul == std::string_view::npos || nul == 0) return bad("DT_NEEDED name is not terminated");
    deps.needed.emplace_back(rest.substr(0, nul));
  }
  return deps;
}

}  // namespace basalt::boot
