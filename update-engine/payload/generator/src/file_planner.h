// Deltas, file by file: each new file with changed blocks is diffed against the old file it
// most likely evolved from (file_map.h), rather than against whatever old bytes its chunk's
// anchors point to. LZ4 kernels and gzip'd files are diffed decompressed.
#pragma once

#include <cstdint>
#include <vector>

#include "common/log.h"
#include "inputs.h"
#include "payload/generator.h"
#include "segment.h"

namespace basalt::payload {

struct FilePlan {
  std::vector<Segment> segments;  // kGzipFile, then kLz4File and kFile in new file order
  uint64_t files_matched = 0;     // new files diffed against an old version
  uint64_t gzip_files = 0;        // of them, gzip'd files diffed decompressed
};

// `sources` is FindBlockSources' classification; `gzip_tool` whether CheckGzipMatchesHosts
// passed. Claims the blocks it plans in `taken`. An image whose files cannot be listed gets an
// empty plan (logged): the block-level plan still makes a correct delta.
FilePlan PlanFiles(const GenerateOptions& opt, const Inputs& in, bool gzip_tool,
                   const std::vector<uint64_t>& sources, std::vector<bool>& taken, Logger& log);

}  // namespace basalt::payload
