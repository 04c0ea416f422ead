// Turns the three input forms (directory, tarball, OCI image layout) into one staged tree in a
// directory we own, holding usr/, boot/ and the ROOT seed entries with owners, modes, xattrs,
// links and device nodes as the input has them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"

namespace basalt::image {

enum class InputKind { kDirectory, kTarball, kOci };
std::string_view InputKindName(InputKind kind);

struct StagedInput {
  InputKind kind = InputKind::kDirectory;
  std::string digest;  // "sha256:<hex>"
  int64_t newest_mtime = 0;
  uint64_t entries = 0;
};

// Directory with an oci-layout file: OCI; other directory: directory; file: tarball.
Result<InputKind> DetectInputKind(const std::string& path);

// Stages `input` into `tree` (which must not exist). For a directory, /usr and /boot are
// hardlinked where possible (the source is never modified) and the ROOT seed entries are copied.
// The digest is a SHA-256 over a canonical listing of the staged parts (directory), of the
// archive bytes (tarball), or the manifest digest (OCI).
// `clamp_mtime` is the SOURCE_DATE_EPOCH when known (INT64_MAX otherwise): staged entries newer
// than it get its time. Directory input: files not newer are hardlinked, never modified.
Result<StagedInput> StageInput(const std::string& input, InputKind kind, const std::string& tree,
                               const std::vector<std::string>& root_seed, int64_t clamp_mtime);

}  // namespace basalt::image
