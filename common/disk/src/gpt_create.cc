// Creates a fresh GPT through libfdisk (the image builder's partition table).
#include <fmt/format.h>
#include <libfdisk/libfdisk.h>

#include <memory>

#include "disk/gpt_disk.h"

namespace basalt::disk {
namespace {

struct ContextUnref {
  void operator()(fdisk_context* c) const { fdisk_unref_context(c); }
};
struct PartitionUnref {
  void operator()(fdisk_partition* p) const { fdisk_unref_partition(p); }
};
struct TypeUnref {
  void operator()(fdisk_parttype* t) const { fdisk_unref_parttype(t); }
};

Status Check(int rc, std::string_view what) {
  if (rc < 0) return std::unexpected(Error::FromErrno(-rc, fmt::format("libfdisk: {}", what)));
  return {};
}

std::string AttributeString(uint64_t attrs) {
  // libfdisk's GPT attribute syntax: named bits for 0-2, "GUID:n" for 48-63.
  std::string out;
  auto add = [&out](const std::string& s) { out += (out.empty() ? "" : ",") + s; };
  if (attrs & 1) add("RequiredPartition");
  if (attrs & 2) add("NoBlockIOProtocol");
  if (attrs & 4) add("LegacyBIOSBootable");
  std::string guid_bits;
  for (int bit = 48; bit < 64; ++bit) {
    if (attrs & (uint64_t{1} << bit))
      guid_bits += (guid_bits.empty() ? "" : ",") + std::to_string(bit);
  }
  if (!guid_bits.empty()) add("GUID:" + guid_bits);
  return out;
}

}  // namespace

Status CreateGpt(const std::string& path, const std::string& disk_guid,
                 const std::vector<GptPartition>& partitions) {
  std::unique_ptr<fdisk_context, ContextUnref> cxt(fdisk_new_context());
  if (!cxt) return Fail(ErrorKind::kInternal, "libfdisk: cannot allocate a context");
  BASALT_RETURN_IF_ERROR(Check(fdisk_assign_device(cxt.get(), path.c_str(), 0), "open " + path));
  fdisk_disable_dialogs(cxt.get(), 1);
  BASALT_RETURN_IF_ERROR(Check(fdisk_create_disklabel(cxt.get(), "gpt"), "create GPT"));
  BASALT_RETURN_IF_ERROR(
      Check(fdisk_set_disklabel_id_from_string(cxt.get(), disk_guid.c_str()), "set disk GUID"));
  fdisk_label* label = fdisk_get_label(cxt.get(), nullptr);
  uint64_t sector = fdisk_get_sector_size(cxt.get());
  for (const GptPartition& p : partitions) {
    std::string what = fmt::format("partition {} ({})", p.number, p.label);
    std::unique_ptr<fdisk_partition, PartitionUnref> pa(fdisk_new_partition());
    std::unique_ptr<fdisk_parttype, TypeUnref> type(
        fdisk_label_parse_parttype(label, p.type_guid.c_str()));
    if (!pa || !type) return Failf(ErrorKind::kInternal, "libfdisk: cannot allocate {}", what);
    BASALT_RETURN_IF_ERROR(Check(fdisk_partition_set_partno(pa.get(), p.number - 1), what));
    BASALT_RETURN_IF_ERROR(
        Check(fdisk_partition_set_start(pa.get(), p.start_bytes / sector), what));
    BASALT_RETURN_IF_ERROR(Check(fdisk_partition_set_size(pa.get(), p.size_bytes / sector), what));
    BASALT_RETURN_IF_ERROR(Check(fdisk_partition_set_type(pa.get(), type.get()), what));
    BASALT_RETURN_IF_ERROR(Check(fdisk_partition_set_name(pa.get(), p.label.c_str()), what));
    BASALT_RETURN_IF_ERROR(Check(fdisk_partition_set_uuid(pa.get(), p.uuid.c_str()), what));
    if (p.attributes != 0) {
      BASALT_RETURN_IF_ERROR(
          Check(fdisk_partition_set_attrs(pa.get(), AttributeString(p.attributes).c_str()), what));
    }
    BASALT_RETURN_IF_ERROR(Check(fdisk_add_partition(cxt.get(), pa.get(), nullptr), "add " + what));
  }
  BASALT_RETURN_IF_ERROR(Check(fdisk_write_disklabel(cxt.get()), "write GPT to " + path));
  BASALT_RETURN_IF_ERROR(Check(fdisk_deassign_device(cxt.get(), 0), "close " + path));
  return {};
}

}  // namespace basalt::disk
