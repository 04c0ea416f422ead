#include "disk/gpt_disk.h"

#include <libfdisk/libfdisk.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <utility>

namespace basalt::disk {
namespace {

std::string Upper(const char* s) {
  std::string out = s ? s : "";
  for (char& c : out)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::unexpected<Error> FdiskError(int rc, std::string_view what, const std::string& path) {
  return Failf(ErrorKind::kIo, "{} on {}: {}", what, path, std::strerror(rc < 0 ? -rc : rc));
}

}  // namespace

Result<GptDisk> GptDisk::Open(const std::string& path, bool writable) {
  fdisk_context* cxt = fdisk_new_context();
  if (!cxt) return Fail(ErrorKind::kInternal, "fdisk_new_context failed");
  GptDisk disk(path, cxt);
  int rc = fdisk_assign_device(cxt, path.c_str(), writable ? 0 : 1);
  // A missing image is "not found" (exit 6), not an I/O fault.
  if (rc != 0) return std::unexpected(Error::FromErrno(rc < 0 ? -rc : rc, "open " + path));
  if (!fdisk_is_labeltype(cxt, FDISK_DISKLABEL_GPT)) {
    return Failf(ErrorKind::kInvalidInput, "{} has no GPT partition table", path);
  }
  BASALT_RETURN_IF_ERROR(disk.Load());
  return disk;
}

GptDisk::GptDisk(GptDisk&& other) noexcept
    : path_(std::move(other.path_)),
      cxt_(std::exchange(other.cxt_, nullptr)),
      partitions_(std::move(other.partitions_)) {}

GptDisk& GptDisk::operator=(GptDisk&& other) noexcept {
  if (this != &other) {
    if (cxt_) fdisk_unref_context(cxt_);
    path_ = std::move(other.path_);
    cxt_ = std::exchange(other.cxt_, nullptr);
    partitions_ = std::move(other.partitions_);
  }
  return *this;
}

GptDisk::~GptDisk() {
  if (cxt_) {
    // Only an assigned device may be deassigned: libfdisk asserts on one that failed to open
    // (`basalt update apply --disk missing.img` aborted here).
    if (fdisk_get_devfd(cxt_) >= 0) fdisk_deassign_device(cxt_, 1);
    fdisk_unref_context(cxt_);
  }
}

Status GptDisk::Load() {
  partitions_.clear();
  fdisk_table* table = nullptr;
  int rc = fdisk_get_partitions(cxt_, &table);
  if (rc != 0) return FdiskError(rc, "read partitions", path_);
  fdisk_iter* iter = fdisk_new_iter(FDISK_ITER_FORWARD);
  const uint64_t sector = fdisk_get_sector_size(cxt_);
  fdisk_partition* pa = nullptr;
  Status status;
  while (fdisk_table_next_partition(table, iter, &pa) == 0) {
    if (!fdisk_partition_has_partno(pa)) continue;
    GptPartition p;
    size_t partno = fdisk_partition_get_partno(pa);
    p.number = partno + 1;
    p.label = fdisk_partition_get_name(pa) ? fdisk_partition_get_name(pa) : "";
    fdisk_parttype* type = fdisk_partition_get_type(pa);
    p.type_guid = type ? Upper(fdisk_parttype_get_string(type)) : "";
    p.uuid = Upper(fdisk_partition_get_uuid(pa));
    p.start_bytes = fdisk_partition_get_start(pa) * sector;
    p.size_bytes = fdisk_partition_get_size(pa) * sector;
    rc = fdisk_gpt_get_partition_attrs(cxt_, partno, &p.attributes);
    if (rc != 0) {
      status = FdiskError(rc, "read attributes", path_);
      break;
    }
    partitions_.push_back(std::move(p));
  }
  fdisk_free_iter(iter);
  fdisk_unref_table(table);
  return status;
}

Result<GptPartition> GptDisk::FindByLabel(std::string_view label) const {
  for (const GptPartition& p : partitions_) {
    if (p.label == label) return p;
  }
  // Fall back to type GUIDs: the first ESP, the first and second /usr partition.
  std::string_view type;
  size_t index = 0;
  if (label == kEspLabel) type = kEspTypeGuid;
  if (label == kUsrALabel) type = kUsrTypeGuid;
  if (label == kUsrBLabel) type = kUsrTypeGuid, index = 1;
  if (!type.empty()) {
    size_t seen = 0;
    for (const GptPartition& p : partitions_) {
      if (p.type_guid == type && seen++ == index) return p;
    }
  }
  return Failf(ErrorKind::kNotFound, "{}: no partition labelled {}", path_, label);
}

Status GptDisk::SetAttributes(size_t number, uint64_t attributes) {
  int rc = fdisk_gpt_set_partition_attrs(cxt_, number - 1, attributes);
  if (rc != 0) return FdiskError(rc, fmt::format("set attributes of partition {}", number), path_);
  for (GptPartition& p : partitions_) {
    if (p.number == number) p.attributes = attributes;
  }
  return {};
}

Result<uint64_t> GptDisk::GrowToEnd(size_t number) {
  auto it = std::find_if(partitions_.begin(), partitions_.end(),
                         [&](const GptPartition& p) { return p.number == number; });
  if (it == partitions_.end()) {
    return Failf(ErrorKind::kNotFound, "{}: no partition {}", path_, number);
  }
  const uint64_t sector = fdisk_get_sector_size(cxt_);
  // libfdisk moves a backup GPT that is not at the end of a grown device when it writes; the
  // last usable LBA it reports already reflects the device size.
  const uint64_t last_lba = fdisk_get_last_lba(cxt_);
  const uint64_t start = it->start_bytes / sector;
  const uint64_t end = start + it->size_bytes / sector - 1;
  if (end >= last_lba) return uint64_t{0};
  for (const GptPartition& p : partitions_) {
    if (p.start_bytes / sector > end && p.number != number) {
      return Failf(ErrorKind::kPolicy,
                   "{}: partition {} is not the last one (partition {} follows)", path_, number,
                   p.number);
    }
  }
  fdisk_partition* pa = fdisk_new_partition();
  fdisk_partition_size_explicit(pa, 1);
  fdisk_partition_set_size(pa, last_lba - start + 1);
  int rc = fdisk_set_partition(cxt_, number - 1, pa);
  fdisk_unref_partition(pa);
  if (rc != 0) return FdiskError(rc, fmt::format("resize partition {}", number), path_);
  uint64_t gained = (last_lba - end) * sector;
  it->size_bytes = (last_lba - start + 1) * sector;
  return gained;
}

Status GptDisk::Commit() {
  int rc = fdisk_write_disklabel(cxt_);
  if (rc != 0) return FdiskError(rc, "write GPT", path_);
  rc = fdisk_deassign_device(cxt_, 0);  // fsyncs and closes
  if (rc != 0) return FdiskError(rc, "sync GPT", path_);
  fdisk_unref_context(cxt_);
  cxt_ = nullptr;
  return {};
}

}  // namespace basalt::disk
