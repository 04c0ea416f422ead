// A private directory (mode 0700) for a tool's inputs and outputs, removed with its contents on
// every path out of the function that made it.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <string_view>

#include "common/error.h"
#include "common/termination.h"

namespace basalt {

class ScratchDir {
 public:
  ScratchDir() = default;
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ~ScratchDir() {
    if (path_.empty()) return;
    std::error_code ec;  // best effort: what is left is only disk space next to the output
    std::filesystem::remove_all(path_, ec);
  }

  // mkdtemp in `parent` (the output's directory, so results can be renamed into place).
  Status Create(const std::string& parent, std::string_view prefix) {
    std::string tmpl = parent + "/." + std::string(prefix) + "-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr)
      return FailErrno("create scratch directory in " + parent);
    path_ = tmpl;
    on_signal_ = RemoveOnTermination(path_);
    return {};
  }
  const std::string& path() const { return path_; }
  std::string operator/(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
  RemoveOnTermination on_signal_;
};

}  // namespace basalt
