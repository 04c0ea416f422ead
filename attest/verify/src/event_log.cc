#include "attest/event_log.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <string_view>

#include "common/hex.h"

namespace basalt::attest {
namespace {

// TPM_ALG_ID values the Spec ID event names (TCG Algorithm Registry).
constexpr uint16_t kAlgSha1 = 0x0004;
constexpr uint16_t kAlgSha256 = 0x000B;
constexpr size_t kSha1Size = 20;
// "Spec ID Event03\0": the crypto-agile log's first event (PFP 10.4.5.1).
constexpr std::string_view kSpecIdSignature{"Spec ID Event03\0", 16};
constexpr std::string_view kStartupLocality{"StartupLocality\0", 16};
// The largest digest any registered algorithm has (SHA-512, SM3 and SHA3-512 included); a larger
// size in the Spec ID event is an attack on the reader, not an algorithm.
constexpr uint16_t kMaxDigestSize = 64;
constexpr uint32_t kMaxAlgorithms = 16;

// A bounds-checked little-endian reader: every read says what it reads, so a short log fails
// naming the field that did not fit.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> b) : b_(b) {}
  size_t offset() const { return off_; }
  size_t left() const { return b_.size() - off_; }
  bool done() const { return off_ == b_.size(); }

  Result<uint32_t> U32(std::string_view what) { return Int<uint32_t>(what); }
  Result<uint16_t> U16(std::string_view what) { return Int<uint16_t>(what); }
  Result<uint8_t> U8(std::string_view what) { return Int<uint8_t>(what); }
  Result<std::span<const uint8_t>> Bytes(size_t n, std::string_view what) {
    if (n > left()) {
      return Failf(ErrorKind::kInvalidInput, "{} needs {} bytes, {} left", what, n, left());
    }
    auto s = b_.subspan(off_, n);
    off_ += n;
    return s;
  }

 private:
  template <class T>
  Result<T> Int(std::string_view what) {
    BASALT_ASSIGN_OR_RETURN(auto s, Bytes(sizeof(T), what));
    T v = 0;
    for (size_t i = 0; i < sizeof(T); ++i)
      v |= static_cast<T>(static_cast<T>(s[i]) << (8 * i));
    return v;
  }
  std::span<const uint8_t> b_;
  size_t off_ = 0;
};

struct AlgSize {
  uint16_t alg;
  uint16_t size;
};

Result<std::vector<AlgSize>> ParseSpecId(std::span<const uint8_t> ev) {
  Reader r(ev);
  BASALT_ASSIGN_OR_RETURN(auto sig, r.Bytes(16, "signature"));
  if (std::memcmp(sig.data(), kSpecIdSignature.data(), 16) != 0) {
    return Fail(ErrorKind::kInvalidInput,
                "signature is not \"Spec ID Event03\" (a SHA-1-only log is not supported)");
  }
  BASALT_ASSIGN_OR_RETURN(uint32_t platform_class, r.U32("platformClass"));
  (void)platform_class;  // client or server: the format is the same
  BASALT_ASSIGN_OR_RETURN(uint8_t minor, r.U8("specVersionMinor"));
  BASALT_ASSIGN_OR_RETURN(uint8_t major, r.U8("specVersionMajor"));
  BASALT_ASSIGN_OR_RETURN(uint8_t errata, r.U8("specErrata"));
  (void)minor;
  (void)errata;
  if (major != 2) return Failf(ErrorKind::kInvalidInput, "specVersionMajor {} is not 2", major);
  BASALT_ASSIGN_OR_RETURN(uint8_t uintn, r.U8("uintnSize"));
  if (uintn != 1 && uintn != 2) {
    return Failf(ErrorKind::kInvalidInput, "uintnSize {} is neither 1 nor 2", uintn);
  }
  BASALT_ASSIGN_OR_RETURN(uint32_t n, r.U32("numberOfAlgorithms"));
  if (n == 0 || n > kMaxAlgorithms) {
    return Failf(ErrorKind::kInvalidInput, "numberOfAlgorithms {} is not in 1..{}", n,
                 kMaxAlgorithms);
  }
  std::vector<AlgSize> algs;
  for (uint32_t i = 0; i < n; ++i) {
    BASALT_ASSIGN_OR_RETURN(uint16_t alg, r.U16("algorithmId"));
    BASALT_ASSIGN_OR_RETURN(uint16_t size, r.U16("digestSize"));
    if (size == 0 || size > kMaxDigestSize) {
      return Failf(ErrorKind::kInvalidInput, "algorithm 0x{:04x} has digest size {}", alg, size);
    }
    if ((alg == kAlgSha256 && size != 32) || (alg == kAlgSha1 && size != kSha1Size)) {
      return Failf(ErrorKind::kInvalidInput, "algorithm 0x{:04x} has digest size {}", alg, size);
    }
    if (std::ranges::any_of(algs, [&](const AlgSize& a) { return a.alg == alg; })) {
      return Failf(ErrorKind::kInvalidInput, "algorithm 0x{:04x} is listed twice", alg);
    }
    algs.push_back({alg, size});
  }
  if (!std::ranges::any_of(algs, [](const AlgSize& a) { return a.alg == kAlgSha256; })) {
    return Fail(ErrorKind::kInvalidInput, "no SHA-256 bank (algorithm 0x000b) in the log");
  }
  BASALT_ASSIGN_OR_RETURN(uint8_t vendor_size, r.U8("vendorInfoSize"));
  BASALT_RETURN_IF_ERROR(r.Bytes(vendor_size, "vendorInfo"));
  if (!r.done()) {
    return Failf(ErrorKind::kInvalidInput, "{} bytes after vendorInfo", r.left());
  }
  return algs;
}

// One TCG_PCR_EVENT2 (PFP 10.2.2) at the reader's position.
Result<LogEvent> ParseEvent2(Reader& r, const std::vector<AlgSize>& algs) {
  LogEvent ev;
  BASALT_ASSIGN_OR_RETURN(ev.pcr, r.U32("pcrIndex"));
  if (ev.pcr > kMaxPcrIndex) {
    return Failf(ErrorKind::kInvalidInput, "pcrIndex {} is above {}", ev.pcr, kMaxPcrIndex);
  }
  BASALT_ASSIGN_OR_RETURN(ev.type, r.U32("eventType"));
  BASALT_ASSIGN_OR_RETURN(uint32_t count, r.U32("digest count"));
  if (count > algs.size()) {
    return Failf(ErrorKind::kInvalidInput,
                 "digest count {} exceeds the {} algorithms of the Spec ID event", count,
                 algs.size());
  }
  std::vector<uint16_t> seen;
  bool have_sha256 = false;
  for (uint32_t i = 0; i < count; ++i) {
    BASALT_ASSIGN_OR_RETURN(uint16_t alg, r.U16("hashAlg"));
    auto it = std::ranges::find_if(algs, [&](const AlgSize& a) { return a.alg == alg; });
    if (it == algs.end()) {
      return Failf(ErrorKind::kInvalidInput,
                   "digest algorithm 0x{:04x} is not in the Spec ID event", alg);
    }
    if (std::ranges::find(seen, alg) != seen.end()) {
      return Failf(ErrorKind::kInvalidInput, "digest algorithm 0x{:04x} appears twice", alg);
    }
    seen.push_back(alg);
    // Unknown algorithms are skipped by the size the Spec ID event gives them.
    BASALT_ASSIGN_OR_RETURN(auto digest, r.Bytes(it->size, "digest"));
    if (alg == kAlgSha256) {
      std::ranges::copy(digest, ev.sha256.begin());
      have_sha256 = true;
    }
  }
  if (!have_sha256) return Fail(ErrorKind::kInvalidInput, "no SHA-256 digest");
  BASALT_ASSIGN_OR_RETURN(uint32_t size, r.U32("eventSize"));
  if (size > kMaxEventDataBytes) {
    return Failf(ErrorKind::kInvalidInput, "eventSize {} is above the cap of {}", size,
                 kMaxEventDataBytes);
  }
  BASALT_ASSIGN_OR_RETURN(auto data, r.Bytes(size, "event data"));
  ev.data.assign(data.begin(), data.end());
  return ev;
}

void PutU32(std::vector<uint8_t>& out, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void PutU16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v));
  out.push_back(static_cast<uint8_t>(v >> 8));
}

}  // namespace

Result<EventLog> ParseEventLog(std::span<const uint8_t> bytes) {
  if (bytes.size() > kMaxLogBytes) {
    return Failf(ErrorKind::kInvalidInput, "event log: {} bytes is above the cap of {}",
                 bytes.size(), kMaxLogBytes);
  }
  Reader r(bytes);
  // Event 0: a TCG_PCR_EVENT (SHA-1 format) carrying the Spec ID event, which says which digests
  // every later event holds and how long each is.
  std::vector<AlgSize> algs;
  {
    auto first = [&]() -> Result<std::vector<AlgSize>> {
      BASALT_ASSIGN_OR_RETURN(uint32_t pcr, r.U32("pcrIndex"));
      BASALT_ASSIGN_OR_RETURN(uint32_t type, r.U32("eventType"));
      if (pcr != 0 || type != kEvNoAction) {
        return Failf(ErrorKind::kInvalidInput,
                     "the first event is PCR {} type 0x{:x}, not the Spec ID event (PCR 0, "
                     "EV_NO_ACTION)",
                     pcr, type);
      }
      BASALT_RETURN_IF_ERROR(r.Bytes(kSha1Size, "SHA-1 digest"));
      BASALT_ASSIGN_OR_RETURN(uint32_t size, r.U32("eventSize"));
      if (size > 4096) {
        return Failf(ErrorKind::kInvalidInput, "Spec ID eventSize {} is above 4096", size);
      }
      BASALT_ASSIGN_OR_RETURN(auto ev, r.Bytes(size, "Spec ID event"));
      return ParseSpecId(ev);
    }();
    if (!first) {
      return Failf(ErrorKind::kInvalidInput, "event log: event 0: {}", first.error().message());
    }
    algs = std::move(*first);
  }
  EventLog log;
  for (size_t index = 1; !r.done(); ++index) {
    if (log.events.size() >= kMaxEvents) {
      return Failf(ErrorKind::kInvalidInput, "event log: event {}: more than {} events", index,
                   kMaxEvents);
    }
    auto ev = ParseEvent2(r, algs);
    if (!ev) {
      return Failf(ErrorKind::kInvalidInput, "event log: event {}: {}", index,
                   ev.error().message());
    }
    if (ev->type == kEvNoAction && ev->pcr == 0 && ev->data.size() == kStartupLocality.size() + 1 &&
        std::memcmp(ev->data.data(), kStartupLocality.data(), kStartupLocality.size()) == 0) {
      log.startup_locality = ev->data.back();
    }
    log.events.push_back(std::move(*ev));
  }
  return log;
}

std::map<uint32_t, Sha256Digest> Replay(const EventLog& log) {
  std::map<uint32_t, Sha256Digest> pcrs;
  Hasher h(HashAlgorithm::kSha256);
  for (const LogEvent& ev : log.events) {
    if (ev.type == kEvNoAction) continue;
    auto [it, fresh] = pcrs.try_emplace(ev.pcr, Sha256Digest{});
    // PCR 0 starts at the locality the H-CRTM or startup ran in (PFP 10.4.5.3).
    if (fresh && ev.pcr == 0) it->second.back() = log.startup_locality;
    h.Update(it->second);
    h.Update(ev.sha256);
    h.Final(it->second.data());
  }
  return pcrs;
}

std::vector<uint8_t> SerializeEventLog(const EventLog& log) {
  std::vector<uint8_t> spec;
  spec.insert(spec.end(), kSpecIdSignature.begin(), kSpecIdSignature.end());
  PutU32(spec, 0);    // platformClass: client
  spec.push_back(0);  // specVersionMinor
  spec.push_back(2);  // specVersionMajor
  spec.push_back(0);  // specErrata
  spec.push_back(2);  // uintnSize: UINT64
  PutU32(spec, 1);
  PutU16(spec, kAlgSha256);
  PutU16(spec, 32);
  spec.push_back(0);  // vendorInfoSize

  std::vector<uint8_t> out;
  PutU32(out, 0);
  PutU32(out, kEvNoAction);
  out.insert(out.end(), kSha1Size, 0);
  PutU32(out, static_cast<uint32_t>(spec.size()));
  out.insert(out.end(), spec.begin(), spec.end());
  for (const LogEvent& ev : log.events) {
    PutU32(out, ev.pcr);
    PutU32(out, ev.type);
    PutU32(out, 1);
    PutU16(out, kAlgSha256);
    out.insert(out.end(), ev.sha256.begin(), ev.sha256.end());
    PutU32(out, static_cast<uint32_t>(ev.data.size()));
    out.insert(out.end(), ev.data.begin(), ev.data.end());
  }
  return out;
}

std::string DescribeEventData(std::span<const uint8_t> data) {
  auto printable = [](uint8_t c) { return c >= 0x20 && c < 0x7f; };
  std::span<const uint8_t> d = data;
  while (!d.empty() && d.back() == 0)
    d = d.first(d.size() - 1);
  if (!d.empty() && std::ranges::all_of(d, printable)) return std::string(d.begin(), d.end());
  // UTF-16LE ASCII: every odd byte zero (the trailing NUL pair already dropped, maybe one zero
  // byte short).
  if (d.size() >= 1) {
    std::string s;
    bool utf16 = true;
    for (size_t i = 0; i < d.size(); i += 2) {
      const uint8_t hi = i + 1 < d.size() ? d[i + 1] : 0;
      if (hi != 0 || !printable(d[i])) {
        utf16 = false;
        break;
      }
      s.push_back(static_cast<char>(d[i]));
    }
    if (utf16) return s;
  }
  const size_t n = std::min<size_t>(data.size(), 32);
  return fmt::format("{}{} ({} bytes)", ToHex(data.first(n)), n < data.size() ? "…" : "",
                     data.size());
}

}  // namespace basalt::attest
