#include "attest/verify.h"

#include <fmt/format.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <tss2/tss2_mu.h>

#include <algorithm>
#include <memory>
#include <span>

#include "attest/event_log.h"
#include "common/hash.h"
#include "common/hex.h"
#include "common/printable.h"
#include "common/signing.h"

namespace basalt::attest {
namespace {

struct EcdsaSigFree {
  void operator()(ECDSA_SIG* s) const { ECDSA_SIG_free(s); }
};

// TPMT_SIGNATURE (ECDSA with SHA-256) to the DER ECDSA-Sig-Value OpenSSL verifies.
Result<std::vector<uint8_t>> SignatureToDer(std::span<const uint8_t> marshalled) {
  TPMT_SIGNATURE sig = {};
  size_t offset = 0;
  TSS2_RC rc =
      Tss2_MU_TPMT_SIGNATURE_Unmarshal(marshalled.data(), marshalled.size(), &offset, &sig);
  if (rc != TSS2_RC_SUCCESS || offset != marshalled.size()) {
    return Fail(ErrorKind::kInvalidInput, "the signature is not one TPMT_SIGNATURE");
  }
  if (sig.sigAlg != TPM2_ALG_ECDSA || sig.signature.ecdsa.hash != TPM2_ALG_SHA256) {
    return Failf(ErrorKind::kUnsupported,
                 "the signature is algorithm 0x{:04x} over hash 0x{:04x}, not ECDSA-SHA256",
                 sig.sigAlg, sig.signature.ecdsa.hash);
  }
  const TPM2B_ECC_PARAMETER& r = sig.signature.ecdsa.signatureR;
  const TPM2B_ECC_PARAMETER& s = sig.signature.ecdsa.signatureS;
  std::unique_ptr<ECDSA_SIG, EcdsaSigFree> es(ECDSA_SIG_new());
  BIGNUM* br = BN_bin2bn(r.buffer, r.size, nullptr);
  BIGNUM* bs = BN_bin2bn(s.buffer, s.size, nullptr);
  if (!es || !br || !bs || ECDSA_SIG_set0(es.get(), br, bs) != 1) {
    BN_free(br);
    BN_free(bs);
    return Failf(ErrorKind::kInternal, "ECDSA signature: {}", OpensslError());
  }
  const int len = i2d_ECDSA_SIG(es.get(), nullptr);
  if (len <= 0) return Failf(ErrorKind::kInternal, "ECDSA signature: {}", OpensslError());
  std::vector<uint8_t> der(static_cast<size_t>(len));
  uint8_t* p = der.data();
  i2d_ECDSA_SIG(es.get(), &p);
  return der;
}

std::string Hex(std::span<const uint8_t> b) {
  return ToHex(b);
}

class Checks {
 public:
  void Add(std::string code, bool ok, std::string message) {
    findings_.push_back({std::move(code), ok, std::move(message)});
  }
  std::vector<Finding> Take() { return std::move(findings_); }

 private:
  std::vector<Finding> findings_;
};

void CheckKeyAndSignature(const AttestationDocument& doc, const VerifyInputs& in, Checks& c) {
  auto enrolled = PublicKey::FromPem(in.enrolled_ak_pem);
  auto presented = PublicKey::FromPem(doc.ak_pem);
  if (!enrolled) {
    c.Add("ak-mismatch", false, "the enrolled AK is unreadable: " + enrolled.error().message());
  } else if (!presented) {
    c.Add("ak-mismatch", false,
          "the document's AK is unreadable: " + Printable(presented.error().message()));
  } else if (enrolled->id() != presented->id()) {
    c.Add("ak-mismatch", false,
          fmt::format("the document's AK {} is not the enrolled AK {}", presented->id(),
                      enrolled->id()));
  } else {
    c.Add("ak-mismatch", true, fmt::format("the AK is the enrolled one ({})", enrolled->id()));
  }
  if (!enrolled) {
    c.Add("signature", false, "not checked: no enrolled AK");
    return;
  }
  auto der = SignatureToDer(doc.signature);
  if (!der) {
    c.Add("signature", false, der.error().message());
    return;
  }
  if (Status st = enrolled->Verify(doc.attest, *der); !st) {
    c.Add("signature", false, "the quote is not signed by the enrolled AK");
    return;
  }
  c.Add("signature", true, "the quote is signed by the enrolled AK");
}

// The bytes of a selection that exist (MU refuses a larger sizeofSelect; clamped all the same,
// since the array is read by index).
size_t SelectBytes(const TPMS_PCR_SELECTION& s) {
  return std::min<size_t>(s.sizeofSelect, sizeof(s.pcrSelect));
}

bool Selected(const TPMS_PCR_SELECTION& s, uint32_t pcr) {
  return pcr / 8 < SelectBytes(s) && (s.pcrSelect[pcr / 8] & (1u << (pcr % 8))) != 0;
}

// The quote's own statements: fresh (our nonce), over exactly the document's PCRs in the
// SHA-256 bank, and those PCRs have exactly the document's values.
void CheckAttest(const AttestationDocument& doc, const VerifyInputs& in, Checks& c) {
  TPMS_ATTEST a = {};
  size_t offset = 0;
  TSS2_RC rc = Tss2_MU_TPMS_ATTEST_Unmarshal(doc.attest.data(), doc.attest.size(), &offset, &a);
  if (rc != TSS2_RC_SUCCESS || offset != doc.attest.size()) {
    c.Add("attest", false, "the quote is not one TPMS_ATTEST");
    return;
  }
  if (a.magic != TPM2_GENERATED_VALUE || a.type != TPM2_ST_ATTEST_QUOTE) {
    c.Add("attest", false,
          fmt::format("the quote's magic 0x{:08x} / type 0x{:04x} is not a TPM-generated quote",
                      a.magic, a.type));
    return;
  }
  c.Add("attest", true, "a TPM-generated quote");

  const std::span<const uint8_t> extra(a.extraData.buffer, a.extraData.size);
  if (!std::ranges::equal(extra, in.nonce)) {
    c.Add("nonce", false,
          fmt::format("nonce differs: quote is not fresh (quoted {}, expected {})", Hex(extra),
                      Hex(in.nonce)));
  } else {
    c.Add("nonce", true, "the quote carries this request's nonce");
  }

  const TPML_PCR_SELECTION& sel = a.attested.quote.pcrSelect;
  bool exact = sel.count == 1 && sel.pcrSelections[0].hash == TPM2_ALG_SHA256;
  if (exact) {
    const TPMS_PCR_SELECTION& s = sel.pcrSelections[0];
    for (uint32_t pcr = 0; pcr < 8u * SelectBytes(s); ++pcr) {
      if (Selected(s, pcr) != doc.pcrs.contains(pcr)) exact = false;
    }
    for (const auto& [pcr, value] : doc.pcrs) {
      if (!Selected(s, pcr)) exact = false;
    }
  }
  std::vector<std::string> names;
  for (const auto& [pcr, value] : doc.pcrs)
    names.push_back(std::to_string(pcr));
  if (!exact) {
    c.Add("pcr-select", false,
          fmt::format("the quote does not select exactly SHA-256 PCRs {}", fmt::join(names, ",")));
    return;
  }
  c.Add("pcr-select", true, fmt::format("the quote covers SHA-256 PCRs {}", fmt::join(names, ",")));

  Hasher h(HashAlgorithm::kSha256);
  for (const auto& [pcr, value] : doc.pcrs) {
    auto bytes = FromHex(value);  // checked by the parser; a bad value cannot match anyway
    if (bytes) h.Update(*bytes);
  }
  const std::vector<uint8_t> digest = h.Final();
  const std::span<const uint8_t> quoted(a.attested.quote.pcrDigest.buffer,
                                        a.attested.quote.pcrDigest.size);
  if (!std::ranges::equal(digest, quoted)) {
    c.Add("pcr-digest", false,
          fmt::format("the document's PCR values hash to {}; the quote says {}", Hex(digest),
                      Hex(quoted)));
  } else {
    c.Add("pcr-digest", true, "the document's PCR values are the quoted ones");
  }
}

}  // namespace

Verdict VerifyAttestation(const AttestationDocument& doc, const VerifyInputs& in) {
  Checks c;
  CheckKeyAndSignature(doc, in, c);
  CheckAttest(doc, in, c);

  // The log is believed only for PCRs whose replay equals the quoted value.
  std::optional<EventLog> log;
  std::vector<uint32_t> explained;
  if (auto parsed = ParseEventLog(doc.event_log); !parsed) {
    c.Add("event-log", false, parsed.error().message());
  } else {
    log = std::move(*parsed);
    const auto replayed = Replay(*log);
    std::vector<std::string> bad;
    for (const auto& [pcr, value] : doc.pcrs) {
      auto it = replayed.find(pcr);
      if (it == replayed.end()) continue;
      const std::string want = ToHex(it->second);
      if (want != value) {
        bad.push_back(fmt::format("PCR {} replays to {}, quoted {}", pcr, want, value));
      } else {
        explained.push_back(pcr);
      }
    }
    if (!bad.empty()) {
      c.Add("event-log", false,
            fmt::format("the event log does not match the quote: {}", fmt::join(bad, "; ")));
    } else {
      c.Add("event-log", true,
            fmt::format("the event log replays to the quoted PCRs {}", fmt::join(explained, ",")));
    }
  }

  const std::string host = Printable(doc.host, 255);
  const std::string claim_version = Printable(doc.claim_version, 128);
  const std::string release =
      in.expected.release_name.empty() ? claim_version : in.expected.release_name;
  if (!in.expected.release_name.empty()) {
    const bool same = doc.claim_version == in.expected.release_name;
    c.Add("claim", same,
          same ? fmt::format("the host claims release {}", release)
               : fmt::format("the host claims release {}, not {}", claim_version, release));
  }

  auto pcr11 = doc.pcrs.find(11);
  if (in.expected.pcr11.empty()) {
    c.Add("pcr11", false, "no PCR 11 prediction to check against");
  } else if (pcr11 == doc.pcrs.end()) {
    c.Add("pcr11", false, "PCR 11 is not in the quote");
  } else if (std::ranges::find(in.expected.pcr11, pcr11->second) == in.expected.pcr11.end()) {
    c.Add("pcr11", false,
          fmt::format("PCR 11 is {}; release {} slot {} predicts {}", pcr11->second, release,
                      doc.claim_slot, fmt::join(in.expected.pcr11, " or ")));
  } else {
    c.Add("pcr11", true,
          fmt::format("PCR 11 is {}, as release {} slot {} predicts", pcr11->second, release,
                      doc.claim_slot));
  }

  if (in.expected.uki_authenticode) {
    const std::string& want = *in.expected.uki_authenticode;
    if (!log || std::ranges::find(explained, 4u) == explained.end()) {
      c.Add("pcr4-uki", false, "PCR 4 is not quoted with an event log that replays to it");
    } else {
      const bool found = std::ranges::any_of(log->events, [&](const LogEvent& ev) {
        return ev.pcr == 4 && ev.type == kEvEfiBootServicesApplication && ToHex(ev.sha256) == want;
      });
      c.Add("pcr4-uki", found,
            found ? fmt::format("firmware started the UKI {}", want)
                  : fmt::format("firmware did not start the UKI {} (not among PCR 4's EFI "
                                "applications)",
                                want));
    }
  }

  Verdict v;
  v.findings = c.Take();
  v.ok = std::ranges::all_of(v.findings, [](const Finding& f) { return f.ok; });
  if (v.ok) {
    v.summary =
        fmt::format("host {} runs release {} (slot {}) as built", host, release, doc.claim_slot);
  } else {
    std::vector<std::string> failed;
    for (const Finding& f : v.findings) {
      if (!f.ok) failed.push_back(f.code);
    }
    v.summary = fmt::format("host {} is not shown to run release {} (slot {}) as built: {} failed",
                            host, release, doc.claim_slot, fmt::join(failed, ", "));
  }
  return v;
}

}  // namespace basalt::attest
