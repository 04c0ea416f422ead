// Turns the three input forms (directory, tarball, OCI image layout) into one staged tree in a
// directory we own, holding usr/, boot/ and the ROOT seed entries with owners, modes, xattrs,
// links and device nodes as the input has them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/root_dir.h"

namespace basalt::image {

enum class InputKind { kDirectory, kTarball, kOci };
std::string_view InputKindName(InputKind kind);

struct StagedInput {
  InputKind kind = InputKind::kDirectory;
  std::string digest;  // "sha256:<hex>"
  int64_t newest_mtime = 0;
  uint64_t entries = 0;
  uint64_t skipped_devices = 0;  // device nodes and fifos under /dev, left to devtmpfs
  uint64_t extracted_bytes = 0;  // declared sizes of the regular files (archives)
};

// The default bound on the bytes staged from an input (sum of the declared file sizes, sparse
// or not): twice what /usr and ROOT can hold, so a tree that fits always stages, and a gzip bomb
// or a huge sparse file is refused before it fills the build host's disk.
uint64_t DefaultMaxInputBytes(uint64_t usr_size, uint64_t root_size);

// Directory with an oci-layout file: OCI; other directory: directory; file: tarball.
Result<InputKind> DetectInputKind(const std::string& path);

// Stages `input` into `tree` (which must not exist). For a directory, /usr and /boot are
// hardlinked where possible (the source is never modified) and the ROOT seed entries are copied.
// The digest is a SHA-256 over a canonical listing of the staged parts (directory), of the
// archive bytes (tarball), or the manifest digest (OCI).
// `clamp_mtime` is the SOURCE_DATE_EPOCH when known (INT64_MAX otherwise): staged entries newer
// than it get its time. Directory input: files not newer are hardlinked, never modified.
// `max_input_bytes` bounds the bytes staged (see DefaultMaxInputBytes).
Result<StagedInput> StageInput(const std::string& input, InputKind kind, const std::string& tree,
                               const std::vector<std::string>& root_seed, int64_t clamp_mtime,
                               uint64_t max_input_bytes);

struct ExtractBudget {
  uint64_t max_bytes = 0;
  uint64_t used = 0;
};

// Extracts one tar stream read from `fd` (from its start) into `root`, under the rules of
// docs/hostile-inputs.md. `what` names the input in errors ("tarball X", "OCI layout X: layer
// N"). With `oci_layer`, whiteouts are applied. Exposed for the fuzzer.
Status ExtractArchive(int fd, const RootDir& root, const std::string& what, bool oci_layer,
                      ExtractBudget* budget, StagedInput* staged);

}  // namespace basalt::image
