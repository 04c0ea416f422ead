// The few GPT operations boot control needs, through libfdisk: list partitions, read and write
// attribute bits (libfdisk rewrites both the primary and the backup GPT), and grow a partition
// to the end of the disk.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

struct fdisk_context;

namespace basalt::disk {

inline constexpr std::string_view kEspTypeGuid = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
inline constexpr std::string_view kUsrTypeGuid = "5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6";
inline constexpr std::string_view kEspLabel = "EFI-SYSTEM";
inline constexpr std::string_view kUsrALabel = "USR-A";
inline constexpr std::string_view kUsrBLabel = "USR-B";
inline constexpr std::string_view kRootLabel = "ROOT";
inline constexpr std::string_view kLinuxDataTypeGuid = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";
inline constexpr std::string_view kCoreosRootTypeGuid = "3884DD41-8582-4404-B9A8-E9B84F2DF50E";

struct GptPartition {
  size_t number = 0;  // 1-based, as sgdisk and /dev/vdaN count
  std::string label;
  std::string type_guid;  // upper case
  std::string uuid;       // PARTUUID, upper case
  uint64_t start_bytes = 0;
  uint64_t size_bytes = 0;
  uint64_t attributes = 0;
};

// Writes a new GPT (both copies) on `path`, which must already be large enough for the last
// partition plus the backup GPT. Partitions keep their numbers, labels, type GUIDs, UUIDs and
// attribute bits; starts and sizes must be multiples of the sector size.
Status CreateGpt(const std::string& path, const std::string& disk_guid,
                 const std::vector<GptPartition>& partitions);

class GptDisk {
 public:
  static Result<GptDisk> Open(const std::string& path, bool writable);
  GptDisk(GptDisk&&) noexcept;
  GptDisk& operator=(GptDisk&&) noexcept;
  ~GptDisk();

  const std::string& path() const { return path_; }
  const std::vector<GptPartition>& partitions() const { return partitions_; }
  // By label, then (for an ESP or USR partition) by type GUID in partition order.
  Result<GptPartition> FindByLabel(std::string_view label) const;

  Status SetAttributes(size_t number, uint64_t attributes);
  // Moves the backup GPT to the end of the device and extends partition `number` to the last
  // usable sector. Returns the number of bytes gained (0 when already at the end).
  Result<uint64_t> GrowToEnd(size_t number);
  // Writes both GPT copies and syncs the device.
  Status Commit();

 private:
  GptDisk(std::string path, fdisk_context* cxt) : path_(std::move(path)), cxt_(cxt) {}
  Status Load();
  std::string path_;
  fdisk_context* cxt_ = nullptr;
  std::vector<GptPartition> partitions_;
};

}  // namespace basalt::disk
