#include "initramfs.h"

#include "cpio.h"

namespace basalt::image {

Result<std::string> BuildInitramfs(const boot::InitramfsSpec& spec, int64_t mtime) {
  BASALT_ASSIGN_OR_RETURN(std::vector<boot::InitramfsEntry> plan, boot::PlanInitramfs(spec));
  CpioWriter cpio(mtime);
  for (const boot::InitramfsEntry& e : plan) {
    switch (e.kind) {
      case boot::InitramfsEntry::Kind::kDirectory:
        cpio.AddDirectory(e.path, e.mode);
        break;
      case boot::InitramfsEntry::Kind::kSymlink:
        cpio.AddSymlink(e.path, e.data);
        break;
      case boot::InitramfsEntry::Kind::kCharDevice:
        cpio.AddCharDevice(e.path, e.mode, e.major, e.minor);
        break;
      case boot::InitramfsEntry::Kind::kFile:
        cpio.AddFile(e.path, e.data, e.mode);
        break;
    }
  }
  return cpio.Finish();
}

}  // namespace basalt::image
