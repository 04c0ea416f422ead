// The image definition: a TOML file with a default for every key (docs/image.md lists them).
// CLI flags override what the file says.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "common/version.h"

namespace basalt::image {

inline constexpr uint64_t kMiB = 1024 * 1024;

enum class UsrCompression { kNone, kLz4hc };
std::string_view UsrCompressionName(UsrCompression c);

// The boot backend of a definition that names none: the default row of bootloader's backend
// registry (boot/backends.h), which also validates boot.backend.
std::string DefaultBootBackendName();

struct PartitionSizes {
  uint64_t esp = 256 * kMiB;   // two slots' kernel + initramfs, with room for growth
  uint64_t usr = 1024 * kMiB;  // each of USR-A and USR-B (Flatcar: 1 GiB)
  uint64_t oem = 128 * kMiB;
  uint64_t root = 1024 * kMiB;  // grows to the disk on first boot
};

struct ImageDefinition {
  std::string version = kUnversionedImage;
  std::string os_name = "Basalt";
  PartitionSizes sizes;
  std::string usr_filesystem = "erofs";
  UsrCompression usr_compression = UsrCompression::kNone;
  std::string kernel_cmdline;  // appended to the generated command line
  std::string boot_backend = DefaultBootBackendName();
  // Top-level entries of the tree copied into ROOT (everything else outside /usr is left out).
  std::vector<std::string> root_seed = {"bin",   "etc",    "home",  "lib", "lib32",
                                        "lib64", "libx32", "media", "mnt", "opt",
                                        "root",  "sbin",   "srv",   "tmp", "var"};
  std::optional<std::string> signing_key;
  std::optional<std::string> seed;
  std::optional<int64_t> source_date_epoch;
  // Bound on the bytes staged from the input (--max-input-size, [input] max_size); default
  // twice usr_size + root_size (docs/hostile-inputs.md).
  std::optional<uint64_t> max_input_size;
};

// Parses TOML text; unknown keys and wrongly typed values are errors naming the key.
Result<ImageDefinition> ParseDefinition(std::string_view toml_text, std::string_view source_name);
Result<ImageDefinition> LoadDefinition(const std::string& path);

// "512MiB", "1GiB", "1.5GiB", "4096" (bytes). Results must be a whole number of MiB.
Result<uint64_t> ParseSize(std::string_view text);
// 1073741824 -> "1.00 GiB", for error messages.
std::string HumanSize(uint64_t bytes);

}  // namespace basalt::image
