#include "image/uki.h"

#include <algorithm>
#include <filesystem>
#include <limits>
#include <string_view>
#include <vector>

#include "common/atomic_file.h"
#include "common/fd.h"
#include "common/pe_sections.h"
#include "common/subprocess.h"
#include "scratch_dir.h"

namespace basalt {
namespace {
namespace fs = std::filesystem;

// Page alignment for the added sections even when the stub's SectionAlignment is smaller (252's
// is 512): the stub hands .linux and .initrd to the kernel in place.
constexpr uint64_t kMinSectionAlignment = 4096;

uint64_t AlignUp(uint64_t v, uint64_t a) {
  return (v + a - 1) / a * a;
}

struct AddedSection {
  std::string_view name;
  std::string file;
  uint64_t size = 0;
  uint64_t vma = 0;
};

Result<uint64_t> NonEmptyFileSize(const std::string& path, std::string_view what) {
  std::error_code ec;
  const uint64_t size = fs::file_size(path, ec);
  if (ec) return Failf(ErrorKind::kNotFound, "UKI {} {}: {}", what, path, ec.message());
  if (size == 0) return Failf(ErrorKind::kInvalidInput, "UKI {} {} is empty", what, path);
  return size;
}

// The first virtual address past every section of the stub and its SizeOfImage.
uint64_t StubEnd(const PeHeaders& h) {
  uint64_t end = h.size_of_image;
  for (const PeSection& s : h.sections) {
    end = std::max(end, uint64_t{s.virtual_address} + std::max(s.virtual_size, s.raw_size));
  }
  return end;
}

void PutLe32(std::string& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    b[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

// objcopy 2.40 stamps the PE header with the wall clock (it ignores SOURCE_DATE_EPOCH); two
// builds differ only in TimeDateStamp and in the CheckSum over it. Both are set here.
Status MakeReproducible(std::string& image, uint32_t timestamp,
                        std::span<const AddedSection> added) {
  BASALT_ASSIGN_OR_RETURN(PeHeaders h, ParsePeHeaders(image));
  // objcopy must have placed the sections where asked, after the stub's, in order.
  if (h.sections.size() < added.size()) {
    return Fail(ErrorKind::kInternal, "objcopy output lacks the added UKI sections");
  }
  const size_t first = h.sections.size() - added.size();
  for (size_t i = 0; i < added.size(); ++i) {
    const PeSection& s = h.sections[first + i];
    if (s.name != added[i].name || s.virtual_address != added[i].vma) {
      return Failf(ErrorKind::kInternal,
                   "objcopy output has section {} at {:#x} where {} at {:#x} was added", s.name,
                   s.virtual_address, added[i].name, added[i].vma);
    }
  }
  PutLe32(image, h.timestamp_offset, timestamp);
  PutLe32(image, h.checksum_offset, PeChecksum(image, h.checksum_offset));
  return {};
}

}  // namespace

Status BuildUki(const UkiInputs& in, const std::string& out_path) {
  if (in.source_date_epoch < 0 || in.source_date_epoch > std::numeric_limits<uint32_t>::max()) {
    return Failf(ErrorKind::kInvalidInput,
                 "UKI source date epoch {} does not fit the PE TimeDateStamp (0 to 2^32-1)",
                 in.source_date_epoch);
  }
  if (in.os_release_text.empty() || in.cmdline.empty()) {
    return Fail(ErrorKind::kInvalidInput, "UKI needs a non-empty os-release and command line");
  }
  BASALT_ASSIGN_OR_RETURN(std::string stub, ReadFileToString(in.stub));
  Result<PeHeaders> stub_headers = ParsePeHeaders(stub);
  if (!stub_headers) {
    return std::unexpected(std::move(stub_headers).error().WithContext("UKI stub " + in.stub));
  }
  BASALT_ASSIGN_OR_RETURN(uint64_t kernel_size, NonEmptyFileSize(in.kernel, "kernel"));
  BASALT_ASSIGN_OR_RETURN(uint64_t initrd_size, NonEmptyFileSize(in.initrd, "initrd"));

  const std::string parent = fs::path(out_path).parent_path().empty()
                                 ? std::string(".")
                                 : fs::path(out_path).parent_path().string();
  ScratchDir scratch;
  BASALT_RETURN_IF_ERROR(scratch.Create(parent, "basalt-uki"));
  BASALT_RETURN_IF_ERROR(WriteFileAtomic(scratch / "osrel", in.os_release_text));
  BASALT_RETURN_IF_ERROR(WriteFileAtomic(scratch / "cmdline", in.cmdline));

  // systemd-stub finds its sections by name; .linux and .initrd come last so a large initrd
  // never shifts the small sections.
  std::vector<AddedSection> added = {
      {".osrel", scratch / "osrel", in.os_release_text.size()},
      {".cmdline", scratch / "cmdline", in.cmdline.size()},
  };
  if (!in.pcrsig.empty()) {
    BASALT_RETURN_IF_ERROR(WriteFileAtomic(scratch / "pcrsig", in.pcrsig));
    added.push_back({".pcrsig", scratch / "pcrsig", in.pcrsig.size()});
  }
  if (!in.pcrpkey.empty()) {
    BASALT_RETURN_IF_ERROR(WriteFileAtomic(scratch / "pcrpkey", in.pcrpkey));
    added.push_back({".pcrpkey", scratch / "pcrpkey", in.pcrpkey.size()});
  }
  added.push_back({".linux", in.kernel, kernel_size});
  added.push_back({".initrd", in.initrd, initrd_size});
  const uint64_t align = std::max<uint64_t>(kMinSectionAlignment, stub_headers->section_alignment);
  uint64_t vma = AlignUp(StubEnd(*stub_headers), align);
  std::vector<std::string> argv = {"objcopy"};
  for (AddedSection& s : added) {
    s.vma = vma;
    vma = AlignUp(vma + s.size, align);
    argv.push_back(fmt::format("--add-section={}={}", s.name, s.file));
    argv.push_back(fmt::format("--change-section-vma={}={:#x}", s.name, s.vma));
  }
  if (vma > std::numeric_limits<uint32_t>::max()) {
    return Failf(ErrorKind::kInvalidInput, "UKI of {} bytes exceeds a PE image's 4 GiB", vma);
  }
  const std::string unstamped = scratch / "uki.efi";
  argv.push_back(in.stub);
  argv.push_back(unstamped);
  Command objcopy(std::move(argv));
  objcopy.base_env = Command::BaseEnv::kEmpty;
  objcopy.env = {{"LC_ALL", "C"}};
  objcopy.stderr_mode = Command::Stderr::kMerge;
  BASALT_RETURN_IF_ERROR(RunCommandOk(objcopy));

  BASALT_ASSIGN_OR_RETURN(std::string image, ReadFileToString(unstamped));
  BASALT_RETURN_IF_ERROR(
      MakeReproducible(image, static_cast<uint32_t>(in.source_date_epoch), added));
  return WriteFileAtomic(out_path, image, 0644);
}

}  // namespace basalt
