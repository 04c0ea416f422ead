#include "planned_op.h"

namespace basalt::payload {

void AddExtent(google::protobuf::RepeatedPtrField<proto::Extent>* list, uint64_t start,
               uint64_t count) {
  auto* e = list->Add();
  e->set_start_block(start);
  e->set_num_blocks(count);
}

std::string DigestString(const Sha256Digest& d) {
  return std::string(d.begin(), d.end());
}

void AttachRuns(PlannedOp& p, const Segment& seg, std::span<const uint8_t> source) {
  if (IsSourceOperation(p.op.type())) {
    for (auto [start, n] : seg.src_runs)
      AddExtent(p.op.mutable_src_extents(), start, n);
    p.op.set_src_sha256(DigestString(Sha256(source)));
  }
  for (auto [start, n] : seg.dst_runs)
    AddExtent(p.op.mutable_dst_extents(), start, n);
}

}  // namespace basalt::payload
