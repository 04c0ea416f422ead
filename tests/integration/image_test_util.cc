#include "integration/image_test_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace basalt::image::testing {

namespace {

void WriteFile(const std::string& path, const std::string& data, mode_t mode, uid_t uid,
               gid_t gid) {
  std::ofstream(path, std::ios::binary) << data;
  if (chmod(path.c_str(), mode) != 0 || lchown(path.c_str(), uid, gid) != 0) {
    throw std::runtime_error("chmod/chown " + path);
  }
  if (chmod(path.c_str(), mode) != 0) throw std::runtime_error("chmod " + path);
}

void Dir(const std::string& path, mode_t mode = 0755, uid_t uid = 0, gid_t gid = 0) {
  std::filesystem::create_directories(path);
  if (lchown(path.c_str(), uid, gid) != 0 || chmod(path.c_str(), mode) != 0) {
    throw std::runtime_error("dir " + path);
  }
}

}  // namespace

void MakeTestTree(const std::string& r) {
  for (const char* d :
       {"/usr/bin", "/usr/sbin", "/usr/lib/x86_64-linux-gnu", "/usr/share/doc/busybox", "/etc",
        "/var/lib/dpkg", "/var/log", "/boot", "/root"}) {
    Dir(r + d);
  }
  Dir(r + "/home/alice", 0750, 1000, 1000);
  Dir(r + "/usr/share/games", 02775, 0, 60);
  std::string busybox;
  {
    std::ifstream in("/bin/busybox", std::ios::binary);
    busybox.assign(std::istreambuf_iterator<char>(in), {});
  }
  if (busybox.empty()) busybox = std::string(200000, 'b');
  WriteFile(r + "/usr/bin/busybox", busybox, 04755, 0, 0);
  symlink("busybox", (r + "/usr/bin/sh").c_str());
  symlink("/usr/bin/busybox", (r + "/usr/sbin/init").c_str());
  symlink("usr/bin", (r + "/bin").c_str());
  symlink("usr/sbin", (r + "/sbin").c_str());
  symlink("usr/lib", (r + "/lib").c_str());
  WriteFile(r + "/usr/share/doc/busybox/copyright", "BusyBox is GPL-2.0\n", 0644, 0, 0);
  link((r + "/usr/share/doc/busybox/copyright").c_str(),
       (r + "/usr/share/doc/busybox/copyright.hardlink").c_str());
  WriteFile(r + "/usr/lib/x86_64-linux-gnu/owned-by-alice", "alice\n", 0640, 1000, 1000);
  WriteFile(r + "/usr/lib/x86_64-linux-gnu/owned-by-daemon", "daemon\n", 0600, 1, 1);
  WriteFile(r + "/usr/bin/ping", "#!/bin/sh\necho ping\n", 0755, 0, 0);
  // security.capability v2 for cap_net_raw+ep.
  const unsigned char cap[20] = {0x00, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0x00, 0x20,
                                 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  if (lsetxattr((r + "/usr/bin/ping").c_str(), "security.capability", cap, sizeof cap, 0) != 0) {
    throw std::runtime_error("setcap");
  }
  if (lsetxattr((r + "/usr/share/doc/busybox/copyright").c_str(), "user.basalt", "yes", 3, 0) !=
      0) {
    throw std::runtime_error("setxattr user.basalt");
  }
  // Device nodes and fifos belong under /dev only, which devtmpfs provides at boot: staging
  // skips them there and refuses them anywhere else (docs/hostile-inputs.md).
  std::filesystem::create_directories(r + "/dev");
  mknod((r + "/dev/null").c_str(), S_IFCHR | 0666, makedev(1, 3));
  mkfifo((r + "/dev/initctl").c_str(), 0644);
  WriteFile(r + "/usr/share/empty", "", 0644, 0, 0);
  std::string kernel(3 * 1024 * 1024 + 123, '\0');
  for (size_t i = 0; i < kernel.size(); ++i)
    kernel[i] = static_cast<char>((i * 2654435761u) >> 13);
  WriteFile(r + "/boot/vmlinuz-6.1.0-99-test-amd64", kernel, 0644, 0, 0);
  // The kernel's module directory (empty: everything built in) is where the initramfs planner
  // looks for modules and the builder puts the initramfs.
  Dir(r + "/usr/lib/modules/6.1.0-99-test-amd64");
  WriteFile(r + "/etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n", 0644, 0, 0);
  WriteFile(r + "/etc/shadow", "root:*:19000:0:99999:7:::\n", 0640, 0, 42);
  WriteFile(r + "/home/alice/.profile", "# alice\n", 0644, 1000, 1000);
  WriteFile(r + "/var/lib/dpkg/status",
            "Package: busybox-static\nStatus: install ok installed\nPriority: optional\n"
            "Architecture: amd64\nSource: busybox\nVersion: 1:1.35.0-4+b3\nDescription: x\n"
            " continued\n\nPackage: removed-pkg\nStatus: deinstall ok config-files\n"
            "Architecture: amd64\nVersion: 1.0\n\nPackage: libc6\nStatus: install ok installed\n"
            "Architecture: amd64\nVersion: 2.36-9+deb12u7\n",
            0644, 0, 0);
}

std::string BasaltBin() {
  const char* dir = getenv("BASALT_BIN_DIR");
  return std::string(dir ? dir : ".") + "/basalt";
}

std::string SmallSizes() {
  // Room for an ASan build of basalt-init, which goes into /usr and onto the ESP (twice, once an
  // update installed slot B).
  return "--usr-size 96MiB --root-size 40MiB --esp-size 128MiB --oem-size 8MiB";
}

}  // namespace basalt::image::testing
