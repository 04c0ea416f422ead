#include "payload/gzip_region.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>

#include "common/subprocess.h"

namespace basalt::payload {
namespace {

// Owns a zlib inflate stream.
class Inflater {
 public:
  Inflater() { ok_ = inflateInit2(&z_, 16 + MAX_WBITS) == Z_OK; }  // gzip wrapper only
  ~Inflater() {
    if (ok_) inflateEnd(&z_);
  }
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;
  bool ok() const { return ok_; }
  z_stream* get() { return &z_; }

 private:
  z_stream z_{};
  bool ok_ = false;
};

// Every piece of every region, by offset: where the member bytes are, and whose they are.
struct PlacedPiece {
  uint64_t offset, length;
  size_t region;
};
std::vector<PlacedPiece> ByOffset(std::span<const GzipRegion> regions) {
  std::vector<PlacedPiece> all;
  for (size_t i = 0; i < regions.size(); ++i)
    for (const ByteRange& p : regions[i].pieces)
      all.push_back({p.offset, p.length, i});
  std::sort(all.begin(), all.end(),
            [](const PlacedPiece& a, const PlacedPiece& b) { return a.offset < b.offset; });
  return all;
}

uint64_t MemberBytes(const GzipRegion& r) {
  uint64_t n = 0;
  for (const ByteRange& p : r.pieces)
    n += p.length;
  return n;
}

}  // namespace

Status CheckGzipRegions(std::span<const GzipRegion> regions, uint64_t bytes) {
  if (regions.empty() || regions.size() > kMaxGzipRegions) {
    return Failf(ErrorKind::kInvalidInput, "{} gzip regions, allowed 1..{}", regions.size(),
                 kMaxGzipRegions);
  }
  uint64_t expanded = 0;
  for (size_t i = 0; i < regions.size(); ++i) {
    const GzipRegion& r = regions[i];
    if (r.pieces.empty() || r.pieces.size() > kMaxGzipPieces) {
      return Failf(ErrorKind::kInvalidInput, "gzip region {} has {} pieces, allowed 1..{}", i,
                   r.pieces.size(), kMaxGzipPieces);
    }
    uint64_t end = 0;
    for (const ByteRange& p : r.pieces) {
      if (p.length == 0 || p.offset < end || p.offset > bytes || p.length > bytes - p.offset) {
        return Failf(ErrorKind::kInvalidInput,
                     "gzip region {}: piece [{}, +{}) is empty, out of order or outside {} bytes",
                     i, p.offset, p.length, bytes);
      }
      end = p.offset + p.length;
    }
    if (r.decompressed_length == 0 || r.decompressed_length > kMaxGzipExpandedBytes - expanded) {
      return Failf(ErrorKind::kInvalidInput,
                   "gzip region {} decompresses to {} bytes; the limit for all is {}", i,
                   r.decompressed_length, kMaxGzipExpandedBytes);
    }
    expanded += r.decompressed_length;
  }
  const auto all = ByOffset(regions);
  for (size_t i = 1; i < all.size(); ++i) {
    if (all[i].offset < all[i - 1].offset + all[i - 1].length) {
      return Failf(ErrorKind::kInvalidInput, "gzip regions {} and {} overlap at byte {}",
                   all[i - 1].region, all[i].region, all[i].offset);
    }
  }
  return {};
}

uint64_t ExpandedGzipSize(uint64_t bytes, std::span<const GzipRegion> regions) {
  for (const GzipRegion& r : regions)
    bytes = bytes - MemberBytes(r) + r.decompressed_length;
  return bytes;
}

Status GzipDecompress(std::span<const uint8_t> member, std::span<uint8_t> out) {
  Inflater inf;
  if (!inf.ok()) return Fail(ErrorKind::kInternal, "gzip: zlib inflateInit2 failed");
  if (member.size() > UINT32_MAX || out.size() > UINT32_MAX) {
    return Fail(ErrorKind::kInvalidInput, "gzip: member too large");
  }
  z_stream* z = inf.get();
  z->next_in = const_cast<Bytef*>(member.data());
  z->avail_in = static_cast<uInt>(member.size());
  z->next_out = out.data();
  z->avail_out = static_cast<uInt>(out.size());
  const int rc = inflate(z, Z_FINISH);
  if (rc == Z_BUF_ERROR && z->avail_out == 0) {
    return Failf(ErrorKind::kInvalidInput, "gzip: member decompresses to more than {} bytes",
                 out.size());
  }
  if (rc != Z_STREAM_END) {
    return Failf(ErrorKind::kInvalidInput, "gzip: corrupt or truncated member ({})",
                 z->msg != nullptr ? z->msg : "incomplete");
  }
  if (z->avail_out != 0) {
    return Failf(ErrorKind::kInvalidInput, "gzip: member decompresses to {} bytes, not {}",
                 out.size() - z->avail_out, out.size());
  }
  if (z->avail_in != 0) {
    return Failf(ErrorKind::kInvalidInput, "gzip: {} bytes after the member", z->avail_in);
  }
  return {};
}

Result<std::vector<uint8_t>> GzipCompress(std::span<const uint8_t> data, int level) {
  if (level < 1 || level > 9) {
    return Failf(ErrorKind::kInvalidInput, "gzip level {} is outside 1..9", level);
  }
  // Deflate never grows data by more than ~0.03% plus the header; the margin is generous.
  auto out = RunFilter({kGzipTool, "-n", fmt::format("-{}", level), "-c"}, data,
                       data.size() + data.size() / 64 + 4096);
  if (!out) return std::unexpected(std::move(out).error().WithContext("recompress gzip member"));
  return out;
}

Result<std::vector<uint8_t>> ExpandGzipRegions(std::span<const uint8_t> bytes,
                                               std::span<const GzipRegion> regions) {
  BASALT_RETURN_IF_ERROR(CheckGzipRegions(regions, bytes.size()));
  std::vector<uint8_t> out(ExpandedGzipSize(bytes.size(), regions));
  size_t at = 0;
  std::vector<uint8_t> member;
  for (size_t i = 0; i < regions.size(); ++i) {
    member.clear();
    for (const ByteRange& p : regions[i].pieces) {
      auto s = bytes.subspan(p.offset, p.length);
      member.insert(member.end(), s.begin(), s.end());
    }
    if (auto s = GzipDecompress(member, std::span(out.data() + at, regions[i].decompressed_length));
        !s) {
      return std::unexpected(std::move(s).error().WithContext(fmt::format("gzip region {}", i)));
    }
    at += regions[i].decompressed_length;
  }
  uint64_t from = 0;
  for (const PlacedPiece& p : ByOffset(regions)) {
    std::memcpy(out.data() + at, bytes.data() + from, p.offset - from);
    at += p.offset - from;
    from = p.offset + p.length;
  }
  std::memcpy(out.data() + at, bytes.data() + from, bytes.size() - from);
  return out;
}

Result<std::vector<uint8_t>> ContractGzipRegions(std::span<const uint8_t> expanded,
                                                 std::span<const GzipRegion> regions) {
  uint64_t members = 0, decompressed = 0;
  for (const GzipRegion& r : regions) {
    members += MemberBytes(r);
    decompressed += r.decompressed_length;
  }
  if (decompressed > expanded.size()) {
    return Failf(ErrorKind::kInvalidInput,
                 "expanded form of {} bytes is shorter than its {} decompressed bytes",
                 expanded.size(), decompressed);
  }
  const uint64_t size = expanded.size() - decompressed + members;
  BASALT_RETURN_IF_ERROR(CheckGzipRegions(regions, size));
  std::vector<std::vector<uint8_t>> compressed;
  size_t at = 0;
  for (size_t i = 0; i < regions.size(); ++i) {
    const GzipRegion& r = regions[i];
    auto c = GzipCompress(expanded.subspan(at, r.decompressed_length), r.level);
    if (!c)
      return std::unexpected(std::move(c).error().WithContext(fmt::format("gzip region {}", i)));
    if (c->size() != MemberBytes(r)) {
      return Failf(ErrorKind::kIntegrity,
                   "gzip -{} recompresses member {} to {} bytes, not the {} it must be", r.level, i,
                   c->size(), MemberBytes(r));
    }
    compressed.push_back(std::move(*c));
    at += r.decompressed_length;
  }
  std::vector<uint8_t> out(size);
  std::vector<size_t> used(regions.size(), 0);  // bytes of each member placed
  uint64_t pos = 0;
  for (const PlacedPiece& p : ByOffset(regions)) {
    std::memcpy(out.data() + pos, expanded.data() + at, p.offset - pos);
    at += p.offset - pos;
    std::memcpy(out.data() + p.offset, compressed[p.region].data() + used[p.region], p.length);
    used[p.region] += p.length;
    pos = p.offset + p.length;
  }
  std::memcpy(out.data() + pos, expanded.data() + at, size - pos);
  return out;
}

std::optional<int> FindGzipLevel(std::span<const uint8_t> member,
                                 std::span<const uint8_t> decompressed) {
  // ID1 ID2 CM=deflate, FLG=0 (no name, comment or extra), MTIME=0, XFL, OS=Unix: what
  // `gzip -n` writes for a stream on stdin.
  if (member.size() < 18 || member[0] != 0x1f || member[1] != 0x8b || member[2] != 8 ||
      member[3] != 0 || member[4] != 0 || member[5] != 0 || member[6] != 0 || member[7] != 0 ||
      member[9] != 3) {
    return std::nullopt;
  }
  std::vector<int> levels;
  if (member[8] == 2) {
    levels = {9};
  } else if (member[8] == 4) {
    levels = {1};
  } else {
    levels = {6, 2, 3, 4, 5, 7, 8};
  }
  for (int level : levels) {
    auto out = GzipCompress(decompressed, level);
    if (out && std::ranges::equal(*out, member)) return level;
  }
  return std::nullopt;
}

}  // namespace basalt::payload
