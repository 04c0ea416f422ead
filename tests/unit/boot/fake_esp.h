// In-memory EspFiles for unit tests: a map from path to contents, with FAT's no-rename-over
// rule enforced so backends cannot rely on it.
#pragma once

#include <functional>
#include <map>

#include "common/fd.h"
#include "esp_files.h"

namespace basalt::boot {

class FakeEsp final : public EspFiles {
 public:
  std::map<std::string, std::string>& files() { return *files_; }
  explicit FakeEsp(std::shared_ptr<std::map<std::string, std::string>> files)
      : files_(std::move(files)) {}
  std::string Describe() const override { return "fake-esp"; }
  Result<std::optional<std::string>> Read(const std::string& path) override {
    auto it = files_->find(path);
    if (it == files_->end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }
  Status Write(const std::string& path, std::string_view data) override {
    BASALT_RETURN_IF_ERROR(Mutate());
    (*files_)[path] = std::string(data);
    return {};
  }
  Status WriteFromFile(const std::string& path, const std::string& local) override {
    BASALT_RETURN_IF_ERROR(Mutate());
    // A real file is copied (the uki backend reads UKIs back); the grub and systemd-boot tests
    // pass names of files that do not exist and check this marker.
    auto bytes = ReadFileToString(local);
    (*files_)[path] = bytes ? std::move(*bytes) : "contents of " + local;
    return {};
  }
  Status Rename(const std::string& from, const std::string& to) override {
    BASALT_RETURN_IF_ERROR(Mutate());
    if (files_->count(to)) return Fail(ErrorKind::kIo, "rename target exists: " + to);
    auto it = files_->find(from);
    if (it == files_->end()) return Fail(ErrorKind::kIo, "rename source missing: " + from);
    (*files_)[to] = it->second;
    files_->erase(from);
    renames++;
    if (after_rename) after_rename();
    return {};
  }
  Status Remove(const std::string& path) override {
    if (!files_->count(path)) return {};
    BASALT_RETURN_IF_ERROR(Mutate());
    files_->erase(path);
    return {};
  }
  Result<std::vector<std::string>> List(const std::string& dir) override {
    std::vector<std::string> out;
    for (const auto& [path, _] : *files_) {
      if (path.starts_with(dir + "/") && path.find('/', dir.size() + 1) == std::string::npos) {
        out.push_back(path.substr(dir.size() + 1));
      }
    }
    return out;
  }
  Status MakeDirs(const std::string&) override { return {}; }
  Status Sync() override { return {}; }

  int renames = 0;
  std::function<void()> after_rename;
  // Simulated power loss: every mutation after this many fails.
  int mutations_left = 1 << 30;

 private:
  Status Mutate() {
    if (mutations_left-- <= 0) return Fail(ErrorKind::kIo, "simulated crash");
    return {};
  }

 public:
 private:
  std::shared_ptr<std::map<std::string, std::string>> files_;
};

}  // namespace basalt::boot
