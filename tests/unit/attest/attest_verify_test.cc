// The verifier against documents signed by a software P-256 key (quote_fixture.h), with the
// attacks a verifier exists for: a changed quote, a replayed quote, another host's key, changed
// PCR values, a changed or truncated event log.
#include <gtest/gtest.h>

#include <algorithm>

#include "attest/event_log.h"
#include "attest/quote_document.h"
#include "attest/verify.h"
#include "common/hash.h"
#include "common/hex.h"
#include "quote_fixture.h"

namespace basalt::attest {
namespace {

using testing::Event;
using testing::MarshalQuoteAttest;
using testing::SignAttest;
using testing::StubEvents;

constexpr std::string_view kUki = "the UKI's PE image";

struct Host {
  PrivateKey ak;
  EventLog log;
  std::vector<uint8_t> nonce;
  AttestationDocument doc;
};

std::vector<uint8_t> Nonce(uint8_t seed) {
  std::vector<uint8_t> n(32);
  for (size_t i = 0; i < n.size(); ++i)
    n[i] = static_cast<uint8_t>(seed + i);
  return n;
}

// A host that booted the UKI: firmware measured it into PCR 4, systemd-stub its sections into
// PCR 11; the document quotes PCRs 4, 7 and 11.
Host MakeHost(const std::vector<uint8_t>& nonce) {
  auto ak = PrivateKey::Generate(KeyType::kEcdsaP256);
  EXPECT_TRUE(ak);
  Host h{*ak, {}, nonce, {}};
  h.log.events.push_back(Event(7, 0x80000001, "SecureBoot=1", "SecureBoot"));
  h.log.events.push_back(Event(4, 0x00000004, "separator", "separator"));  // EV_SEPARATOR
  h.log.events.push_back(Event(4, kEvEfiBootServicesApplication, kUki, "\\EFI\\Linux\\b.efi"));
  for (auto& ev : StubEvents(
           {{".linux", "kernel"}, {".osrel", "VERSION_ID=2.0"}, {".cmdline", "usrhash=ab"}})) {
    h.log.events.push_back(ev);
  }
  h.log.events.push_back(Event(11, kEvNoAction, "", "not extended"));
  const auto replayed = Replay(h.log);
  h.doc.host = "host-1";
  h.doc.claim_version = "2.0";
  h.doc.claim_slot = "B";
  h.doc.ak_pem = h.ak.public_key().ToPem();
  h.doc.nonce = nonce;
  for (uint32_t pcr : {4u, 7u, 11u})
    h.doc.pcrs[pcr] = ToHex(replayed.at(pcr));
  h.doc.attest = MarshalQuoteAttest(nonce, h.doc.pcrs);
  h.doc.signature = SignAttest(h.ak, h.doc.attest);
  h.doc.event_log = SerializeEventLog(h.log);
  return h;
}

VerifyInputs Inputs(const Host& h) {
  VerifyInputs in;
  in.enrolled_ak_pem = h.ak.public_key().ToPem();
  in.nonce = h.nonce;
  in.expected.release_name = "2.0";
  in.expected.pcr11 = {std::string(64, '0'), h.doc.pcrs.at(11)};
  in.expected.uki_authenticode = ToHex(Sha256(kUki));
  return in;
}

const Finding* Failed(const Verdict& v, std::string_view code) {
  for (const Finding& f : v.findings) {
    if (f.code == code && !f.ok) return &f;
  }
  return nullptr;
}

std::string Dump(const Verdict& v) {
  std::string s = v.summary + "\n";
  for (const Finding& f : v.findings) {
    s += fmt::format("  {} {}: {}\n", f.ok ? "ok  " : "FAIL", f.code, f.message);
  }
  return s;
}

TEST(AttestVerify, AHostAsBuiltIsOk) {
  Host h = MakeHost(Nonce(1));
  Verdict v = VerifyAttestation(h.doc, Inputs(h));
  EXPECT_TRUE(v.ok) << Dump(v);
  EXPECT_EQ(v.summary, "host host-1 runs release 2.0 (slot B) as built");
  for (std::string_view code : {"ak-mismatch", "signature", "attest", "nonce", "pcr-select",
                                "pcr-digest", "event-log", "claim", "pcr11", "pcr4-uki"}) {
    EXPECT_TRUE(std::ranges::any_of(v.findings, [&](const Finding& f) { return f.code == code; }))
        << code;
  }
}

TEST(AttestVerify, ADocumentRoundTripsThroughJson) {
  Host h = MakeHost(Nonce(1));
  auto parsed = ParseAttestationDocument(FormatAttestationDocument(h.doc));
  ASSERT_TRUE(parsed) << parsed.error().message();
  EXPECT_EQ(*parsed, h.doc);
  EXPECT_TRUE(VerifyAttestation(*parsed, Inputs(h)).ok);
}

TEST(AttestVerify, EveryChangedAttestByteIsRefused) {
  Host h = MakeHost(Nonce(1));
  for (size_t i = 0; i < h.doc.attest.size(); ++i) {
    AttestationDocument d = h.doc;
    d.attest[i] ^= 0x01;
    Verdict v = VerifyAttestation(d, Inputs(h));
    EXPECT_FALSE(v.ok) << "byte " << i;
    EXPECT_NE(Failed(v, "signature"), nullptr) << "byte " << i << "\n" << Dump(v);
  }
}

TEST(AttestVerify, AChangedSignatureIsRefused) {
  Host h = MakeHost(Nonce(1));
  AttestationDocument d = h.doc;
  d.signature[d.signature.size() - 1] ^= 0x01;
  Verdict v = VerifyAttestation(d, Inputs(h));
  EXPECT_NE(Failed(v, "signature"), nullptr) << Dump(v);
  d.signature.pop_back();
  v = VerifyAttestation(d, Inputs(h));
  EXPECT_NE(Failed(v, "signature"), nullptr) << Dump(v);
}

TEST(AttestVerify, AReplayedQuoteIsNotFresh) {
  Host h = MakeHost(Nonce(1));
  VerifyInputs in = Inputs(h);
  in.nonce = Nonce(2);  // the operator asked with a new nonce; the host sent yesterday's quote
  Verdict v = VerifyAttestation(h.doc, in);
  EXPECT_FALSE(v.ok);
  const Finding* f = Failed(v, "nonce");
  ASSERT_NE(f, nullptr) << Dump(v);
  EXPECT_NE(f->message.find("nonce differs: quote is not fresh"), std::string::npos);
  EXPECT_EQ(Failed(v, "signature"), nullptr) << "the quote itself is genuine";
}

TEST(AttestVerify, AnotherHostsKeyIsRefused) {
  Host h = MakeHost(Nonce(1));
  Host other = MakeHost(Nonce(1));
  // Enrolled: this host's AK; presented: a document signed by another TPM.
  Verdict v = VerifyAttestation(other.doc, Inputs(h));
  EXPECT_FALSE(v.ok);
  EXPECT_NE(Failed(v, "ak-mismatch"), nullptr) << Dump(v);
  EXPECT_NE(Failed(v, "signature"), nullptr) << Dump(v);
  // The other document claiming this host's AK still fails the signature.
  other.doc.ak_pem = h.doc.ak_pem;
  v = VerifyAttestation(other.doc, Inputs(h));
  EXPECT_EQ(Failed(v, "ak-mismatch"), nullptr) << Dump(v);
  EXPECT_NE(Failed(v, "signature"), nullptr) << Dump(v);
}

TEST(AttestVerify, AChangedPcrValueIsRefused) {
  Host h = MakeHost(Nonce(1));
  AttestationDocument d = h.doc;
  d.pcrs[11] = std::string(64, 'a');
  Verdict v = VerifyAttestation(d, Inputs(h));
  EXPECT_NE(Failed(v, "pcr-digest"), nullptr) << Dump(v);
  // A PCR the quote did not select is refused too.
  d = h.doc;
  d.pcrs[9] = std::string(64, '0');
  v = VerifyAttestation(d, Inputs(h));
  EXPECT_NE(Failed(v, "pcr-select"), nullptr) << Dump(v);
}

TEST(AttestVerify, AChangedEventLogIsRefused) {
  Host h = MakeHost(Nonce(1));
  EventLog log = h.log;
  log.events[3].sha256[0] ^= 1;  // a PCR 11 measurement
  AttestationDocument d = h.doc;
  d.event_log = SerializeEventLog(log);
  Verdict v = VerifyAttestation(d, Inputs(h));
  const Finding* f = Failed(v, "event-log");
  ASSERT_NE(f, nullptr) << Dump(v);
  EXPECT_NE(f->message.find("PCR 11 replays to"), std::string::npos) << f->message;

  // A log that hides the UKI's PCR 4 event cannot replay to the quoted PCR 4, so it is not
  // believed for the UKI check.
  log = h.log;
  log.events.erase(log.events.begin() + 2);
  d.event_log = SerializeEventLog(log);
  v = VerifyAttestation(d, Inputs(h));
  EXPECT_NE(Failed(v, "event-log"), nullptr) << Dump(v);
  EXPECT_NE(Failed(v, "pcr4-uki"), nullptr) << Dump(v);
}

TEST(AttestVerify, ATruncatedEventLogIsRefusedNamingTheEvent) {
  Host h = MakeHost(Nonce(1));
  AttestationDocument d = h.doc;
  d.event_log.erase(d.event_log.end() - 5, d.event_log.end());  // the last 5 bytes
  Verdict v = VerifyAttestation(d, Inputs(h));
  const Finding* f = Failed(v, "event-log");
  ASSERT_NE(f, nullptr) << Dump(v);
  EXPECT_EQ(f->message, "event log: event 10: event data needs 12 bytes, 7 left");
}

TEST(AttestVerify, APcr11OtherThanPredictedNamesBothValues) {
  Host h = MakeHost(Nonce(1));
  VerifyInputs in = Inputs(h);
  in.expected.pcr11 = {std::string(64, 'c')};
  Verdict v = VerifyAttestation(h.doc, in);
  const Finding* f = Failed(v, "pcr11");
  ASSERT_NE(f, nullptr) << Dump(v);
  EXPECT_EQ(f->message, fmt::format("PCR 11 is {}; release 2.0 slot B predicts {}",
                                    h.doc.pcrs.at(11), std::string(64, 'c')));
  EXPECT_EQ(v.summary,
            "host host-1 is not shown to run release 2.0 (slot B) as built: pcr11 failed");
}

TEST(AttestVerify, AUkiFirmwareDidNotStartIsRefused) {
  Host h = MakeHost(Nonce(1));
  VerifyInputs in = Inputs(h);
  in.expected.uki_authenticode = ToHex(Sha256("another UKI"));
  Verdict v = VerifyAttestation(h.doc, in);
  EXPECT_NE(Failed(v, "pcr4-uki"), nullptr) << Dump(v);
}

TEST(AttestVerify, AnotherClaimedReleaseIsRefused) {
  Host h = MakeHost(Nonce(1));
  AttestationDocument d = h.doc;
  d.claim_version = "1.9";
  Verdict v = VerifyAttestation(d, Inputs(h));
  EXPECT_NE(Failed(v, "claim"), nullptr) << Dump(v);
}

// The parser's rules, one hostile log each.
std::vector<uint8_t> U32(uint32_t v) {
  return {static_cast<uint8_t>(v), static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v >> 16),
          static_cast<uint8_t>(v >> 24)};
}

std::vector<uint8_t> Cat(std::initializer_list<std::vector<uint8_t>> parts) {
  std::vector<uint8_t> out;
  for (const auto& p : parts)
    out.insert(out.end(), p.begin(), p.end());
  return out;
}

// A Spec ID event listing (alg, size) pairs, as event 0.
std::vector<uint8_t> SpecId(std::vector<std::pair<uint16_t, uint16_t>> algs) {
  std::string sig("Spec ID Event03\0", 16);
  std::vector<uint8_t> spec(sig.begin(), sig.end());
  spec = Cat({spec, U32(0), {0, 2, 0, 2}, U32(static_cast<uint32_t>(algs.size()))});
  for (auto [alg, size] : algs) {
    spec = Cat({spec,
                {static_cast<uint8_t>(alg), static_cast<uint8_t>(alg >> 8),
                 static_cast<uint8_t>(size), static_cast<uint8_t>(size >> 8)}});
  }
  spec.push_back(0);
  return Cat({U32(0), U32(kEvNoAction), std::vector<uint8_t>(20, 0),
              U32(static_cast<uint32_t>(spec.size())), spec});
}

std::vector<uint8_t> Digest(uint16_t alg, size_t size, uint8_t fill) {
  std::vector<uint8_t> d = {static_cast<uint8_t>(alg), static_cast<uint8_t>(alg >> 8)};
  d.insert(d.end(), size, fill);
  return d;
}

TEST(EventLog, UnknownAlgorithmsAreSkippedByTheirSpecIdSize) {
  // SM3 (0x0012, 32 bytes) and a made-up 0x7777 of 48 bytes before SHA-256.
  auto bytes = Cat({SpecId({{0x0012, 32}, {0x7777, 48}, {0x000b, 32}}),
                    U32(11),
                    U32(kEvIpl),
                    U32(3),
                    Digest(0x0012, 32, 0xaa),
                    Digest(0x7777, 48, 0xbb),
                    Digest(0x000b, 32, 0xcc),
                    U32(4),
                    {'.', 'x', 0, 0}});
  auto log = ParseEventLog(bytes);
  ASSERT_TRUE(log) << log.error().message();
  ASSERT_EQ(log->events.size(), 1u);
  EXPECT_EQ(
      log->events[0].sha256, Sha256Digest{} = [] {
        Sha256Digest d;
        d.fill(0xcc);
        return d;
      }());
  EXPECT_EQ(DescribeEventData(log->events[0].data), ".x");
}

TEST(EventLog, ReplayMatchesExtendByHand) {
  EventLog log;
  log.events.push_back(testing::Event(11, kEvIpl, "a", "a"));
  log.events.push_back(testing::Event(11, kEvNoAction, "ignored", "x"));
  log.events.push_back(testing::Event(11, kEvIpl, "b", "b"));
  auto parsed = ParseEventLog(SerializeEventLog(log));
  ASSERT_TRUE(parsed) << parsed.error().message();
  Sha256Digest pcr{};
  for (std::string_view m : {"a", "b"}) {
    std::vector<uint8_t> cat(pcr.begin(), pcr.end());
    auto d = Sha256(m);
    cat.insert(cat.end(), d.begin(), d.end());
    pcr = Sha256(cat);
  }
  EXPECT_EQ(Replay(*parsed).at(11), pcr);
  EXPECT_EQ(Replay(*parsed).size(), 1u);
}

TEST(EventLog, HostileLogsAreRefusedNamingTheRule) {
  const auto spec = SpecId({{0x000b, 32}});
  const auto good_event =
      Cat({U32(4), U32(kEvIpl), U32(1), Digest(0x000b, 32, 1), U32(2), {'h', 'i'}});
  struct Case {
    std::string name;
    std::vector<uint8_t> bytes;
    std::string error;
  };
  std::vector<Case> cases = {
      {"empty", {}, "event log: event 0: pcrIndex needs 4 bytes, 0 left"},
      {"not spec id", Cat({U32(0), U32(kEvIpl), std::vector<uint8_t>(20, 0), U32(0)}),
       "event log: event 0: the first event is PCR 0 type 0xd, not the Spec ID event (PCR 0, "
       "EV_NO_ACTION)"},
      {"no sha256 bank", SpecId({{0x0004, 20}}),
       "event log: event 0: no SHA-256 bank (algorithm 0x000b) in the log"},
      {"sha256 of 20 bytes", SpecId({{0x000b, 20}}),
       "event log: event 0: algorithm 0x000b has digest size 20"},
      {"huge digest", SpecId({{0x000b, 32}, {0x1234, 65535}}),
       "event log: event 0: algorithm 0x1234 has digest size 65535"},
      {"algorithm twice", SpecId({{0x000b, 32}, {0x000b, 32}}),
       "event log: event 0: algorithm 0x000b is listed twice"},
      {"pcr 24", Cat({spec, U32(24), U32(kEvIpl)}), "event log: event 1: pcrIndex 24 is above 23"},
      {"digest count", Cat({spec, U32(4), U32(kEvIpl), U32(2)}),
       "event log: event 1: digest count 2 exceeds the 1 algorithms of the Spec ID event"},
      {"unlisted algorithm", Cat({spec, U32(4), U32(kEvIpl), U32(1), Digest(0x0004, 20, 0)}),
       "event log: event 1: digest algorithm 0x0004 is not in the Spec ID event"},
      {"no sha256 digest", Cat({spec, U32(4), U32(kEvIpl), U32(0), U32(0)}),
       "event log: event 1: no SHA-256 digest"},
      {"event size cap",
       Cat({spec, good_event, U32(4), U32(kEvIpl), U32(1), Digest(0x000b, 32, 1), U32(0x7fffffff)}),
       "event log: event 2: eventSize 2147483647 is above the cap of 1048576"},
      {"short data", Cat({spec, U32(4), U32(kEvIpl), U32(1), Digest(0x000b, 32, 1), U32(3), {1}}),
       "event log: event 1: event data needs 3 bytes, 1 left"},
      {"short digest", Cat({spec, U32(4), U32(kEvIpl), U32(1), {0x0b, 0, 1, 2}}),
       "event log: event 1: digest needs 32 bytes, 2 left"},
  };
  for (const Case& c : cases) {
    auto log = ParseEventLog(c.bytes);
    ASSERT_FALSE(log) << c.name;
    EXPECT_EQ(log.error().kind(), ErrorKind::kInvalidInput) << c.name;
    EXPECT_EQ(log.error().message(), c.error) << c.name;
  }
  // Every truncation of a good log is refused or is a shorter good log, never a crash.
  const auto whole = Cat({spec, good_event, good_event});
  for (size_t n = 0; n < whole.size(); ++n) {
    auto log = ParseEventLog(std::span(whole).first(n));
    EXPECT_EQ(log.has_value(), n == spec.size() || n == spec.size() + good_event.size()) << n;
  }
}

TEST(EventLog, TheEventCountIsCapped) {
  const auto ev = Cat({U32(4), U32(kEvIpl), U32(1), Digest(0x000b, 32, 1), U32(0)});
  std::vector<uint8_t> bytes = SpecId({{0x000b, 32}});
  for (size_t i = 0; i <= kMaxEvents; ++i)
    bytes.insert(bytes.end(), ev.begin(), ev.end());
  auto log = ParseEventLog(bytes);
  ASSERT_FALSE(log);
  EXPECT_EQ(log.error().message(), "event log: event 20001: more than 20000 events");
}

TEST(EventLog, DescribesUtf16AndBinaryData) {
  const uint8_t utf16[] = {'.', 0, 'l', 0, 'i', 0, 0, 0};
  EXPECT_EQ(DescribeEventData(utf16), ".li");
  const uint8_t bin[] = {0x01, 0xff};
  EXPECT_EQ(DescribeEventData(bin), "01ff (2 bytes)");
}

TEST(AttestationDocument, StrictParsing) {
  Host h = MakeHost(Nonce(1));
  const std::string good = FormatAttestationDocument(h.doc);
  auto with = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    auto at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) s.replace(at, from.size(), to);
    return s;
  };
  struct Case {
    std::string text;
    std::string error;
  };
  const std::string pcr4 = "\"4\":\"" + h.doc.pcrs.at(4) + "\"";
  std::vector<Case> cases = {
      {"[]", "attestation: expected a JSON object, got array"},
      {with("\"host\"", "\"hostname\""), "attestation.host: required field is missing"},
      {with("\"format\":\"basalt-attestation\"", "\"format\":\"x\""),
       "attestation.format: \"x\" is not \"basalt-attestation\""},
      {with("\"slot\":\"B\"", "\"slot\":\"C\""), "attestation.claim.slot: must be \"A\" or \"B\""},
      {with("\"slot\":\"B\"", "\"slot\":\"B\",\"x\":1"), "attestation.claim.x: unknown field"},
      {with(pcr4, "\"04\":\"" + h.doc.pcrs.at(4) + "\""),
       "attestation.pcrs: \"04\" is not a PCR index 0..23"},
      {with(pcr4, "\"24\":\"" + h.doc.pcrs.at(4) + "\""),
       "attestation.pcrs: \"24\" is not a PCR index 0..23"},
      {with(pcr4, "\"4\":\"ab\""), "attestation.pcrs.4: expected 64 hex digits, got 2"},
      {with("\"nonce\":\"", "\"nonce\":\"" + std::string(128, 'a')),
       "attestation.nonce: more than 64 bytes"},
  };
  for (const Case& c : cases) {
    auto doc = ParseAttestationDocument(c.text);
    ASSERT_FALSE(doc) << c.text;
    EXPECT_EQ(doc.error().message(), c.error);
  }
}

}  // namespace
}  // namespace basalt::attest
