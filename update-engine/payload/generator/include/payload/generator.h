// Generates signed full and delta payloads from `basalt image build` output directories.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/hash.h"
#include "common/log.h"

namespace basalt::payload {

struct GenerateOptions {
  std::string new_image_dir;
  std::optional<std::string> old_image_dir;  // set: a delta from this image
  std::string output_path;
  std::vector<std::string> keys;  // PEM paths or OpenSSL store URIs (PrivateKey::Load)

  // Tuning; the defaults are what releases use.
  unsigned threads = 0;  // 0: one per core
  int zstd_level = 19;   // deltas: diffs and replaces of changed data
  // Full payloads: REPLACE_ZSTD only (no xz: its decoder would cap apply throughput far below
  // `zstd -dc`), level 9: on /usr data 2 MiB chunks come out ~10% larger than at level 19 in
  // 1/15 of the time (docs/benchmarks.md).
  int full_zstd_level = 9;
  bool try_xz = true;                // deltas: also try xz where no diff halved the data
  uint32_t xz_preset = 6;            // chunks are small, so -9's larger dictionary buys nothing
  uint64_t chunk_size = 2ull << 20;  // bytes of new image per REPLACE/patch operation
  // Deltas: where to also try SOURCE_BSDIFF (Debian's bsdiff) and keep the smaller: nowhere;
  // on changed files of compiled code (ELF objects and the initramfs cpio: recompiled code,
  // where bsdiff's approximate matches beat zstd's exact ones); on every changed chunk
  // (metadata and text too, where it rarely wins; docs/benchmarks.md).
  enum class Bsdiff { kOff, kCode, kAll };
  Bsdiff bsdiff = Bsdiff::kCode;
  // Deltas: diff LZ4-compressed kernels (bzImage) in their decompressed form, as
  // SOURCE_LZ4_PATCH.
  bool lz4_kernels = true;
  // Deltas: diff gzip'd files (changelogs, manual pages) that `gzip -n` reproduces in their
  // decompressed form, as SOURCE_GZIP_PATCH.
  bool gzip_files = true;
  // The highest minor version the payload may need: 3 leaves out SOURCE_GZIP_PATCH, 2 also
  // SOURCE_LZ4_PATCH and SOURCE_BSDIFF_XZ, for fleets whose appliers predate them (an applier
  // refuses a payload of a higher minor version than it knows). Boot artifacts (an image with
  // UKIs) need 5.
  uint32_t max_minor_version = 5;
  // manifest.created, seconds since the epoch; unset: the time of generation. The only byte of a
  // payload that is not a function of the inputs: pinned, the same inputs, options and keys
  // give the same payload (tests/fixtures/payload).
  std::optional<uint64_t> created;
};

struct OpTypeStats {
  uint64_t count = 0;
  uint64_t data_bytes = 0;  // bytes of blob data in the payload
  uint64_t dst_bytes = 0;   // bytes of target written
};

struct GenerateResult {
  std::string path;
  uint64_t size = 0;
  Sha256Digest sha256{};
  bool is_delta = false;
  std::string to_version;
  std::string from_version;                // deltas only
  std::string from_root_hash;              // deltas only, hex
  std::map<std::string, OpTypeStats> ops;  // by operation type name
};

Result<GenerateResult> GeneratePayload(const GenerateOptions& options, Logger& log);

}  // namespace basalt::payload
