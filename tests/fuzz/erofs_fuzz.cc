// Fuzzes the erofs reader: the input is an image; it is opened, walked, and every readable
// file and symlink is read (bounded), which exercises superblock, inode, chunk table,
// directory and inline-tail parsing.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>

#include "common/fd.h"
#include "erofs/erofs_image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  basalt::UniqueFd fd(memfd_create("erofs-fuzz", MFD_CLOEXEC));
  if (!fd.valid()) return 0;
  if (size > 0 && write(fd.get(), data, size) != static_cast<ssize_t>(size)) return 0;
  auto image = basalt::erofs::ErofsImage::Open(fd.get(), 0, size);
  if (!image) return 0;
  int budget = 2000;
  (void)image->ForEachFile([&](const basalt::erofs::ErofsFile& f) -> basalt::Status {
    if (--budget < 0) return basalt::Fail(basalt::ErrorKind::kInvalidInput, "budget");
    if (f.inode.IsRegular()) (void)image->ReadFile(f.inode, 1 << 20);
    if (f.inode.IsSymlink()) (void)image->ReadLink(f.path);
    return {};
  });
  (void)image->Lookup("/a/b/../c");
  return 0;
}
