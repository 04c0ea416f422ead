#include "boot/boot_target.h"

#include <blkid/blkid.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cctype>
#include <fstream>
#include <sstream>
#include <vector>

#include "boot/backends.h"
#include "common/fd.h"
#include "disk/gpt_disk.h"
#include "esp_files.h"

namespace basalt::boot {
namespace {

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::optional<std::string> UsrSpec(std::string_view cmdline) {
  std::optional<std::string> spec;
  std::istringstream words{std::string(cmdline)};
  std::string w;
  while (words >> w) {
    for (std::string_view key : {"basalt.usr=", "mount.usr="}) {
      if (w.starts_with(key)) spec = w.substr(key.size());
    }
  }
  return spec;
}

// The whole disk holding the /usr partition the kernel was booted with.
Result<std::string> HostDisk(std::string_view cmdline) {
  std::optional<std::string> spec = UsrSpec(cmdline);
  if (!spec) {
    return Fail(ErrorKind::kNotFound,
                "the kernel command line names no basalt.usr= partition; use --disk");
  }
  // blkid and udev spell PARTUUIDs in lower case and compare case-sensitively, while GPT tools
  // (libfdisk, so entries the updater wrote) often use upper case; basalt-init accepts both.
  std::string lookup = *spec;
  if (lookup.starts_with("PARTUUID=")) {
    for (size_t i = 9; i < lookup.size(); ++i) {
      lookup[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(lookup[i])));
    }
  }
  char* dev = blkid_evaluate_spec(lookup.c_str(), nullptr);
  if (!dev) return Failf(ErrorKind::kNotFound, "no block device for {}", *spec);
  std::string part(dev);
  free(dev);
  struct stat st {};
  if (::stat(part.c_str(), &st) != 0) return FailErrno(fmt::format("stat {}", part));
  dev_t whole = 0;
  char name[256];
  if (blkid_devno_to_wholedisk(st.st_rdev, name, sizeof(name), &whole) != 0) {
    return Failf(ErrorKind::kNotFound, "no whole disk for {}", part);
  }
  return fmt::format("/dev/{}", name);
}

// The ESP's mount point, if it is mounted (matched by device number in mountinfo).
std::optional<std::string> MountPointOf(dev_t devno) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  std::string want = fmt::format("{}:{}", major(devno), minor(devno));
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string id, parent, majmin, root, mount_point;
    f >> id >> parent >> majmin >> root >> mount_point;
    if (majmin == want && root == "/") return mount_point;
  }
  return std::nullopt;
}

Result<std::unique_ptr<EspFiles>> OpenEsp(const disk::GptDisk& disk, bool host) {
  BASALT_ASSIGN_OR_RETURN(disk::GptPartition esp, disk.FindByLabel(disk::kEspLabel));
  if (host) {
    // Prefer the kernel's view when the ESP is mounted: writing under a mounted FAT with
    // mtools would corrupt it.
    // blkid reports PARTUUIDs in lower case; without udev there is no /dev/disk/by-partuuid,
    // so the kernel's partition names (vda1, nvme0n1p1) are tried too.
    std::string lower = esp.uuid;
    for (char& c : lower)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::vector<std::string> candidates;
    if (char* dev = blkid_evaluate_tag("PARTUUID", lower.c_str(), nullptr)) {
      candidates.push_back(dev);
      free(dev);
    }
    candidates.push_back(fmt::format("/dev/disk/by-partuuid/{}", lower));
    candidates.push_back(fmt::format("{}{}", disk.path(), esp.number));
    candidates.push_back(fmt::format("{}p{}", disk.path(), esp.number));
    for (const std::string& dev_path : candidates) {
      struct stat st {};
      if (::stat(dev_path.c_str(), &st) != 0 || !S_ISBLK(st.st_mode)) continue;
      if (auto mp = MountPointOf(st.st_rdev)) return OpenEspDirectory(*mp);
    }
  }
  return OpenEspMtools(disk.path(), esp.start_bytes, esp.size_bytes);
}

}  // namespace

std::optional<Slot> SlotFromCmdline(std::string_view cmdline, std::string_view usr_a_partuuid,
                                    std::string_view usr_b_partuuid) {
  std::optional<std::string> spec = UsrSpec(cmdline);
  if (!spec) return std::nullopt;
  std::string s = *spec;
  if (s.starts_with("PARTUUID=")) {
    std::string uuid = Upper(s.substr(9));
    if (uuid == Upper(usr_a_partuuid)) return Slot::kA;
    if (uuid == Upper(usr_b_partuuid)) return Slot::kB;
  }
  if (s == "PARTLABEL=USR-A") return Slot::kA;
  if (s == "PARTLABEL=USR-B") return Slot::kB;
  return std::nullopt;
}

Result<std::unique_ptr<BootControl>> OpenBootControl(const BootTarget& target) {
  const bool host = !target.disk.has_value();
  std::string cmdline;
  std::string disk_path;
  if (host) {
    BASALT_ASSIGN_OR_RETURN(cmdline, ReadFileToString(target.proc_cmdline));
    BASALT_ASSIGN_OR_RETURN(disk_path, HostDisk(cmdline));
  } else {
    disk_path = *target.disk;
  }
  BASALT_ASSIGN_OR_RETURN(disk::GptDisk disk, disk::GptDisk::Open(disk_path, false));
  std::optional<Slot> current;
  if (host) {
    BASALT_ASSIGN_OR_RETURN(disk::GptPartition a, disk.FindByLabel(disk::kUsrALabel));
    BASALT_ASSIGN_OR_RETURN(disk::GptPartition b, disk.FindByLabel(disk::kUsrBLabel));
    current = SlotFromCmdline(cmdline, a.uuid, b.uuid);
  }
  std::unique_ptr<EspFiles> esp;
  auto esp_or = OpenEsp(disk, host);
  if (esp_or) esp = std::move(*esp_or);
  const BootBackend* backend = nullptr;
  if (target.backend) {
    backend = FindBootBackend(*target.backend);
  } else if (esp) {
    BASALT_ASSIGN_OR_RETURN(backend, DetectBootBackend(*esp));
  } else {
    backend = &FallbackBootBackend();
  }
  // A backend whose state is not on the ESP opens without one; an unknown name is reported
  // only once the ESP's own error (if any) has been.
  if (backend != nullptr && !backend->needs_esp) {
    return backend->Open(disk_path, std::move(esp), current);
  }
  if (!esp) return std::unexpected(esp_or.error());
  if (backend == nullptr) {
    return Failf(ErrorKind::kInvalidInput, "unknown boot backend '{}' (expected {})",
                 *target.backend, JoinBootBackendNames(" or "));
  }
  return backend->Open(disk_path, std::move(esp), current);
}

}  // namespace basalt::boot
