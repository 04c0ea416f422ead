// Crash-safe replacement of a file: a reader sees the old contents or the new, never a mix,
// and after return the new contents survive power loss.
#pragma once

#include <sys/types.h>

#include <span>
#include <string>
#include <string_view>

#include "common/error.h"

namespace basalt {

// Writes to a temp file in the same directory, fsyncs it, renames it over `path` and fsyncs
// the directory so the rename itself is durable.
Status WriteFileAtomic(const std::string& path, std::span<const uint8_t> data, mode_t mode = 0644);
Status WriteFileAtomic(const std::string& path, std::string_view data, mode_t mode = 0644);

// fsync(2) on a directory, making renames and creations inside it durable.
Status FsyncDirectory(const std::string& dir);

// fsync(2) on a file written by someone else (a copy, a child process's output), so its
// contents are durable before a rename or a signature makes it visible.
Status FsyncFile(const std::string& path);

}  // namespace basalt
