// An InitSystem that records what basalt-init's steps ask for and answers from fields the test
// sets: devices by blkid spec, mount errors by target, a partition grow, dm-verity activations.
// Nothing touches the machine; device contents the steps read directly (superblocks) are
// regular files the test writes.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "init_system.h"

namespace basalt::init {

class FakeInitSystem final : public InitSystem {
 public:
  struct MountCall {
    std::string source, target, type;
    unsigned long flags;
    std::string data;
  };
  struct VerityCall {
    std::string what;  // "activate" or "deactivate"
    std::string name;
    std::vector<uint8_t> root_hash;
    uint32_t flags = 0;
  };

  // --- What the test sets ---
  std::string cmdline;
  std::string modules_dir = "/nonexistent/modules";
  std::map<std::string, int> mount_errors;  // target -> errno
  // spec -> node; a spec shows up once FindDevice was asked `probes_before[spec]` times.
  std::map<std::string, std::string> devices;
  std::map<std::string, int> probes_before;
  PartitionOf whole_disk{"/dev/vda", 9};
  uint64_t grow_gain = 0;
  std::string dm_node;  // what DmNode returns (a file the test made, or one that cannot be read)
  int activate_errno = 0;
  std::set<std::string> executables;
  // Regular executable files (IsExecutableFile), as seen after the switch to the new root.
  std::set<std::string> init_files = {"/usr/lib/systemd/systemd"};
  int exec_errno = 0;

  // --- What the steps did ---
  std::vector<std::string> log;
  std::vector<MountCall> mounts;
  std::vector<std::string> dirs_made;
  std::vector<int> module_flags;
  int probes = 0;
  int slept_ms = 0;
  std::vector<std::pair<std::string, size_t>> grown;
  std::vector<std::string> reread;
  std::vector<std::pair<std::string, uint64_t>> verity_loads;  // device, hash offset
  std::vector<VerityCall> verity;
  std::vector<std::vector<std::string>> tools;
  std::vector<std::vector<std::string>> children;  // RunAndWait
  std::vector<std::string> dir_changes, root_changes;
  std::vector<std::vector<std::string>> execs;
  int reboots = 0;
  bool console = false;

  // True if some log line contains `text`.
  bool Logged(std::string_view text) const {
    for (const std::string& l : log) {
      if (l.find(text) != std::string::npos) return true;
    }
    return false;
  }

  void Log(std::string_view line) override { log.emplace_back(line); }
  void UseConsoleForStdio() override { console = true; }
  Result<std::string> ReadKernelCmdline() override { return cmdline; }
  int MakeDir(const std::string& path) override {
    dirs_made.push_back(path);
    return EEXIST;
  }
  int Mount(const std::string& source, const std::string& target, const std::string& type,
            unsigned long flags, const std::string& data) override {
    mounts.push_back({source, target, type, flags, data});
    auto it = mount_errors.find(target);
    return it == mount_errors.end() ? 0 : it->second;
  }
  std::string ModulesDir() override { return modules_dir; }
  int LoadModule(int fd, int flags) override {
    module_flags.push_back(flags);
    return fd >= 0 ? 0 : EBADF;
  }

  std::optional<std::string> FindDevice(const std::string& spec) override {
    probes++;
    auto it = devices.find(spec);
    if (it == devices.end()) return std::nullopt;
    if (probes_before[spec]-- > 0) return std::nullopt;
    return it->second;
  }
  void Sleep(int milliseconds) override { slept_ms += milliseconds; }
  Result<PartitionOf> WholeDiskOf(const std::string&) override { return whole_disk; }
  Result<uint64_t> GrowPartitionToEnd(const std::string& disk, size_t number) override {
    grown.emplace_back(disk, number);
    return grow_gain;
  }
  Status RereadPartitionTable(const std::string& disk) override {
    reread.push_back(disk);
    return {};
  }

  class Volume final : public VerityVolume {
   public:
    explicit Volume(FakeInitSystem* sys) : sys_(sys) {}
    Status Activate(const std::string& name, std::span<const uint8_t> root_hash,
                    uint32_t flags) override {
      sys_->verity.push_back({"activate", name, {root_hash.begin(), root_hash.end()}, flags});
      if (sys_->activate_errno != 0) {
        return Fail(ErrorKind::kIntegrity, "fake activation refused", sys_->activate_errno);
      }
      return {};
    }
    Status Deactivate(const std::string& name) override {
      sys_->verity.push_back({"deactivate", name, {}, 0});
      return {};
    }

   private:
    FakeInitSystem* sys_;
  };
  Result<std::unique_ptr<VerityVolume>> LoadVerity(const std::string& device,
                                                   uint64_t hash_offset) override {
    verity_loads.emplace_back(device, hash_offset);
    return std::unique_ptr<VerityVolume>(std::make_unique<Volume>(this));
  }
  Result<std::string> DmNode(const std::string&) override { return dm_node; }
  Status RunTool(const std::vector<std::string>& argv) override {
    tools.push_back(argv);
    return {};
  }

  bool IsExecutable(const std::string& path) override { return executables.count(path) > 0; }
  bool IsExecutableFile(const std::string& path) override { return init_files.count(path) > 0; }
  Status RunAndWait(const std::vector<std::string>& argv) override {
    children.push_back(argv);
    return {};
  }
  int ChangeDir(const std::string& path) override {
    dir_changes.push_back(path);
    return 0;
  }
  int ChangeRoot(const std::string& path) override {
    root_changes.push_back(path);
    return 0;
  }
  int Exec(const std::vector<std::string>& argv) override {
    execs.push_back(argv);
    return exec_errno;
  }
  void Reboot() override { reboots++; }
};

}  // namespace basalt::init
