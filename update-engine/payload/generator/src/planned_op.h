// An encoded operation before it has a place in the blob area: the operation (no data offset,
// length or hash yet) and its blob.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/hash.h"
#include "payload/format.h"
#include "segment.h"

namespace basalt::payload {

struct PlannedOp {
  Operation op;
  std::vector<uint8_t> blob;
};

void AddExtent(google::protobuf::RepeatedPtrField<proto::Extent>* list, uint64_t start,
               uint64_t count);
// A digest as a protobuf bytes field.
std::string DigestString(const Sha256Digest& d);
// Extents of a file operation from its segment's runs (the source ones only when the chosen
// operation reads the source, with the SHA-256 of the gathered source bytes).
void AttachRuns(PlannedOp& p, const Segment& seg, std::span<const uint8_t> source);

}  // namespace basalt::payload
