// Deltas: gzip'd files (changelogs, manual pages) whose old version is gzip'd too become
// kGzipFile segments, diffed decompressed (SOURCE_GZIP_PATCH) when gzip_encoder.h finds that
// `gzip -n` reproduces them.
#pragma once

#include <cstdint>
#include <vector>

#include "common/error.h"
#include "file_map.h"
#include "image_dir.h"
#include "inputs.h"
#include "segment.h"

namespace basalt::payload {

// SOURCE_GZIP_PATCH is rebuilt on the host by the gzip of the image it updates from (the
// running /usr), and checked by the generator with this machine's gzip: only sound when they
// are the same program. OK when the old image's /usr/bin/gzip is this machine's kGzipTool.
Status CheckGzipMatchesHosts(const UsrImageInfo& old_image);

// Appends kGzipFile segments for the changed gzip'd files that have a gzip'd old version;
// files whose blocks overlap (inline tails in one metadata block) share a segment. Claims their
// blocks in `taken`. Returns how many files they hold.
uint64_t PlanGzipFiles(const Inputs& in, const std::vector<FileBlocks>& new_files,
                       const std::vector<FileBlocks>& old_files, const FileMatcher& matcher,
                       std::vector<bool>& taken, std::vector<Segment>& segments);

}  // namespace basalt::payload
