#include "gzip_planner.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "common/fd.h"
#include "erofs/erofs_image.h"
#include "image_blocks.h"
#include "payload/format.h"
#include "payload/gzip_region.h"

namespace basalt::payload {
namespace {

// Where a file's gzip member lies: its data blocks (in file order) and, for an erofs
// FLAT_INLINE file, the tail at a byte of a metadata block.
struct GzipFile {
  std::vector<uint64_t> blocks;
  uint64_t in_blocks = 0;  // member bytes in `blocks`
  uint64_t meta = 0, at = 0, inline_size = 0;
};

std::optional<GzipFile> LocateGzipFile(const FileBlocks& f, uint64_t shipped,
                                       std::span<const uint8_t> image) {
  constexpr uint8_t kGzipMagic[3] = {0x1f, 0x8b, 0x08};
  if (f.size < 18 || f.size > kMaxOpDstBytes || f.inline_size > f.size) return std::nullopt;
  GzipFile g;
  g.blocks = f.blocks;
  g.in_blocks = f.size - f.inline_size;
  g.inline_size = f.inline_size;
  if (g.in_blocks > g.blocks.size() * kBlockSize) return std::nullopt;
  for (uint64_t b : g.blocks)
    if (b >= shipped) return std::nullopt;
  if (g.inline_size > 0) {
    g.meta = f.inline_offset / kBlockSize;
    g.at = f.inline_offset % kBlockSize;
    if (g.meta >= shipped || g.at + g.inline_size > kBlockSize ||
        std::find(g.blocks.begin(), g.blocks.end(), g.meta) != g.blocks.end()) {
      return std::nullopt;
    }
  }
  // The first bytes of the member: in the first data block, else in the inline tail.
  if ((g.in_blocks > 0 ? g.in_blocks : g.inline_size) < 3) return std::nullopt;
  const uint8_t* head = g.in_blocks > 0 ? Blocks(image, g.blocks[0], 1).data()
                                        : Blocks(image, g.meta, 1).data() + g.at;
  if (std::memcmp(head, kGzipMagic, 3) != 0) return std::nullopt;
  return g;
}

// The member's bytes, for telling changed files from unchanged ones.
std::vector<uint8_t> GzipMember(const GzipFile& g, std::span<const uint8_t> image) {
  std::vector<uint8_t> out;
  for (uint64_t b : g.blocks) {
    auto s = Blocks(image, b, 1);
    out.insert(out.end(), s.begin(), s.end());
  }
  out.resize(g.in_blocks);
  if (g.inline_size > 0) {
    auto s = Blocks(image, g.meta, 1).subspan(g.at, g.inline_size);
    out.insert(out.end(), s.begin(), s.end());
  }
  return out;
}

// Gathers files into one operation's bytes: each file's data blocks, then the metadata blocks
// (once each), and says where every member lies in them.
void LayOut(const std::vector<const GzipFile*>& files, Runs& runs,
            std::vector<GzipRegion>& regions) {
  std::vector<uint64_t> blocks, metas;
  std::vector<uint64_t> data_at;  // each file's first byte in the gathered bytes
  for (const GzipFile* g : files) {
    data_at.push_back(blocks.size() * kBlockSize);
    blocks.insert(blocks.end(), g->blocks.begin(), g->blocks.end());
    if (g->inline_size > 0 && std::find(metas.begin(), metas.end(), g->meta) == metas.end()) {
      metas.push_back(g->meta);
    }
  }
  const uint64_t meta_at = blocks.size() * kBlockSize;
  blocks.insert(blocks.end(), metas.begin(), metas.end());
  runs = ToRuns(blocks, 0, blocks.size());
  regions.clear();
  for (size_t i = 0; i < files.size(); ++i) {
    const GzipFile& g = *files[i];
    GzipRegion r;
    if (g.in_blocks > 0) r.pieces.push_back({data_at[i], g.in_blocks});
    if (g.inline_size > 0) {
      const size_t m =
          static_cast<size_t>(std::find(metas.begin(), metas.end(), g.meta) - metas.begin());
      r.pieces.push_back({meta_at + m * kBlockSize + g.at, g.inline_size});
    }
    regions.push_back(std::move(r));
  }
}

}  // namespace

// Different builds of one gzip version almost surely compress alike, but "almost" would turn
// every such delta into a fallback to the full payload, so the bytes must be identical.
Status CheckGzipMatchesHosts(const UsrImageInfo& old_image) {
  BASALT_ASSIGN_OR_RETURN(std::string here, ReadFileToString(kGzipTool));
  if (access(kGzipTool, X_OK) != 0) return FailErrno(std::string(kGzipTool) + " is not runnable");
  BASALT_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(old_image.path, O_RDONLY));
  BASALT_ASSIGN_OR_RETURN(erofs::ErofsImage image,
                          erofs::ErofsImage::Open(fd.get(), 0, old_image.hash_offset));
  // The image is /usr: the hosts' /usr/bin/gzip is its /bin/gzip.
  auto theirs = image.ReadFile("/bin/gzip", 16ull << 20);
  if (!theirs) {
    return Fail(ErrorKind::kNotFound,
                fmt::format("the old image has no /usr/bin/gzip ({})", theirs.error().message()));
  }
  if (*theirs != here) {
    return Fail(ErrorKind::kUnsupported,
                fmt::format("the old image's /usr/bin/gzip is not this machine's {}", kGzipTool));
  }
  return {};
}

uint64_t PlanGzipFiles(const Inputs& in, const std::vector<FileBlocks>& new_files,
                       const std::vector<FileBlocks>& old_files, const FileMatcher& matcher,
                       std::vector<bool>& taken, std::vector<Segment>& segments) {
  struct Candidate {
    GzipFile dst, src;
    std::vector<uint64_t> dst_blocks;  // data blocks and metadata block
  };
  std::vector<Candidate> cands;
  for (const FileBlocks& nf : new_files) {
    if (!nf.regular) continue;
    auto dst = LocateGzipFile(nf, in.shipped_blocks, in.new_bytes);
    if (!dst) continue;
    const int64_t m = matcher.Match(nf);
    if (m < 0) continue;
    const FileBlocks& of = old_files[static_cast<size_t>(m)];
    if (!of.regular) continue;
    auto src = LocateGzipFile(of, in.old_shipped_blocks, in.old_bytes);
    if (!src || GzipMember(*dst, in.new_bytes) == GzipMember(*src, in.old_bytes)) continue;
    Candidate c{std::move(*dst), std::move(*src), {}};
    c.dst_blocks = c.dst.blocks;
    if (c.dst.inline_size > 0) c.dst_blocks.push_back(c.dst.meta);
    cands.push_back(std::move(c));
  }
  // Files that share a destination block (inline tails in one metadata block) go together:
  // union-find over the candidates through the blocks they write.
  std::vector<size_t> parent(cands.size());
  for (size_t i = 0; i < parent.size(); ++i)
    parent[i] = i;
  auto find = [&](size_t i) {
    while (parent[i] != i)
      i = parent[i] = parent[parent[i]];
    return i;
  };
  std::unordered_map<uint64_t, size_t> owner;
  for (size_t i = 0; i < cands.size(); ++i) {
    for (uint64_t b : cands[i].dst_blocks) {
      auto [it, fresh] = owner.try_emplace(b, i);
      if (!fresh) parent[find(i)] = find(it->second);
    }
  }
  std::vector<std::vector<size_t>> groups(cands.size());
  for (size_t i = 0; i < cands.size(); ++i)
    groups[find(i)].push_back(i);
  uint64_t files = 0;
  for (const auto& group : groups) {
    if (group.empty() || group.size() > kMaxGzipRegions) continue;
    std::vector<const GzipFile*> dsts, srcs;
    for (size_t i : group) {
      dsts.push_back(&cands[i].dst);
      srcs.push_back(&cands[i].src);
    }
    Segment seg{SegmentKind::kGzipFile, 0, 0};
    LayOut(dsts, seg.dst_runs, seg.dst_gzip);
    LayOut(srcs, seg.src_runs, seg.src_gzip);
    uint64_t dst_blocks = 0, src_blocks = 0;
    bool free = true;
    std::unordered_set<uint64_t> seen;  // a block in two files' data (an odd image) is refused
    for (auto [b, n] : seg.dst_runs) {
      dst_blocks += n;
      for (uint64_t i = b; i < b + n; ++i)
        free = free && !taken[i] && seen.insert(i).second;
    }
    seen.clear();
    for (auto [b, n] : seg.src_runs) {
      src_blocks += n;
      for (uint64_t i = b; i < b + n; ++i)
        free = free && seen.insert(i).second;
    }
    if (!free || dst_blocks * kBlockSize > kMaxOpDstBytes || src_blocks > kMaxFileSourceBlocks) {
      continue;
    }
    for (auto [b, n] : seg.dst_runs)
      for (uint64_t i = b; i < b + n; ++i)
        taken[i] = true;
    seg.start = seg.dst_runs[0].first;
    seg.blocks = dst_blocks;
    files += group.size();
    segments.push_back(std::move(seg));
  }
  return files;
}

}  // namespace basalt::payload
