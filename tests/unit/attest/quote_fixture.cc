#include "quote_fixture.h"

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <tss2/tss2_mu.h>

#include <stdexcept>

#include "common/hash.h"
#include "common/hex.h"

namespace basalt::testing {

std::vector<uint8_t> MarshalQuoteAttest(std::span<const uint8_t> nonce,
                                        const std::map<uint32_t, std::string>& pcrs) {
  TPMS_ATTEST a = {};
  a.magic = TPM2_GENERATED_VALUE;
  a.type = TPM2_ST_ATTEST_QUOTE;
  a.qualifiedSigner.size = 34;  // nameAlg + SHA-256: any name; the verifier trusts the key
  a.qualifiedSigner.name[1] = 0x0b;
  a.extraData.size = static_cast<uint16_t>(nonce.size());
  std::copy(nonce.begin(), nonce.end(), a.extraData.buffer);
  a.clockInfo.clock = 123456;
  a.clockInfo.safe = 1;
  a.firmwareVersion = 0x2021;
  TPML_PCR_SELECTION& sel = a.attested.quote.pcrSelect;
  sel.count = 1;
  sel.pcrSelections[0].hash = TPM2_ALG_SHA256;
  sel.pcrSelections[0].sizeofSelect = 3;
  Hasher h(HashAlgorithm::kSha256);
  for (const auto& [pcr, value] : pcrs) {
    sel.pcrSelections[0].pcrSelect[pcr / 8] |= static_cast<uint8_t>(1u << (pcr % 8));
    h.Update(*FromHex(value));
  }
  auto digest = h.Final();
  a.attested.quote.pcrDigest.size = 32;
  std::copy(digest.begin(), digest.end(), a.attested.quote.pcrDigest.buffer);
  std::vector<uint8_t> out(sizeof(TPMS_ATTEST));
  size_t offset = 0;
  if (Tss2_MU_TPMS_ATTEST_Marshal(&a, out.data(), out.size(), &offset) != TSS2_RC_SUCCESS) {
    throw std::runtime_error("marshal TPMS_ATTEST");
  }
  out.resize(offset);
  return out;
}

std::vector<uint8_t> SignAttest(const PrivateKey& key, std::span<const uint8_t> attest) {
  auto der = key.Sign(attest);
  if (!der) throw std::runtime_error(der.error().message());
  const uint8_t* p = der->data();
  ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der->size()));
  if (!es) throw std::runtime_error("DER ECDSA signature");
  TPMT_SIGNATURE sig = {};
  sig.sigAlg = TPM2_ALG_ECDSA;
  sig.signature.ecdsa.hash = TPM2_ALG_SHA256;
  sig.signature.ecdsa.signatureR.size = 32;
  sig.signature.ecdsa.signatureS.size = 32;
  BN_bn2binpad(ECDSA_SIG_get0_r(es), sig.signature.ecdsa.signatureR.buffer, 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(es), sig.signature.ecdsa.signatureS.buffer, 32);
  ECDSA_SIG_free(es);
  std::vector<uint8_t> out(sizeof(TPMT_SIGNATURE));
  size_t offset = 0;
  if (Tss2_MU_TPMT_SIGNATURE_Marshal(&sig, out.data(), out.size(), &offset) != TSS2_RC_SUCCESS) {
    throw std::runtime_error("marshal TPMT_SIGNATURE");
  }
  out.resize(offset);
  return out;
}

attest::LogEvent Event(uint32_t pcr, uint32_t type, std::string_view measured,
                       std::string_view description) {
  attest::LogEvent ev;
  ev.pcr = pcr;
  ev.type = type;
  ev.sha256 = Sha256(measured);
  ev.data.assign(description.begin(), description.end());
  return ev;
}

std::vector<attest::LogEvent> StubEvents(
    const std::vector<std::pair<std::string, std::string>>& sections) {
  std::vector<attest::LogEvent> events;
  for (const auto& [name, content] : sections) {
    // The name is measured with its terminating NUL, as systemd-stub does.
    events.push_back(
        Event(11, attest::kEvIpl, std::string_view(name.c_str(), name.size() + 1), name));
    events.push_back(Event(11, attest::kEvIpl, content, name));
  }
  return events;
}

}  // namespace basalt::testing
