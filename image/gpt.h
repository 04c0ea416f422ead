// Writes the GPT of disk.img through libfdisk: Flatcar partition numbers, labels and type GUIDs,
// seed-derived GUIDs, and the gptprio attribute bits on the USR partitions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"

namespace basalt::image {

inline constexpr char kTypeEsp[] = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
inline constexpr char kTypeCoreosUsr[] = "5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6";
inline constexpr char kTypeLinuxData[] = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";
inline constexpr char kTypeCoreosRoot[] = "3884DD41-8582-4404-B9A8-E9B84F2DF50E";

struct GptPartition {
  int number = 0;  // 1-based, as sfdisk and the kernel number them
  std::string label;
  std::string type_guid;
  std::string uuid;
  uint64_t offset = 0;      // bytes, MiB-aligned
  uint64_t size = 0;        // bytes
  uint64_t attributes = 0;  // the 64 GPT attribute bits
};

// gptprio bits (ChromeOS/CoreOS): priority 48-51, tries 52-55, successful 56.
uint64_t GptprioAttributes(int priority, int tries, bool successful);

// `path` must already be at least as large as the last partition plus the backup GPT.
Status WriteGpt(const std::string& path, const std::string& disk_guid,
                const std::vector<GptPartition>& partitions);

}  // namespace basalt::image
