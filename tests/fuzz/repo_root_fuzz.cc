// The root document and the root chain step on hostile bytes, against a fixed trusted root
// (version 1 of repository "os.example", every role held by one fixed Ed25519 key). The input is
// tried three ways: as a root body (ParseRoot must round-trip what it accepts), as an envelope
// (OpenTrustedRoot, CheckRootSuccessor), and as a body the trusted key signs, so the checks
// behind the signature are reached too; there the verdict must be exactly the one the parsed
// body calls for.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "repo/dsse.h"
#include "repo/root.h"

namespace {
using namespace basalt;
using namespace basalt::repo;

// A test-only key, fixed so that the seed corpus (tests/fuzz/corpus/repo_root) can carry
// envelopes it signed (key id 82432b8e189ceb47c01d70afa0355396dcd7ddff8aa270921344e791fde30c4c).
constexpr std::string_view kKeyPem =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIF5Vk1MSljS5Gnwnr4yNqGVE9g5BChssMW3QQm+CEZwf\n"
    "-----END PRIVATE KEY-----\n";
constexpr std::string_view kRepository = "os.example";
constexpr std::string_view kNow = "2026-11-22T00:00:00Z";
// Signing is for inputs a root could plausibly be; the envelope limit is 1 MiB of base64.
constexpr size_t kMaxSignedInput = 64 * 1024;

struct Fixture {
  std::vector<PrivateKey> keys;
  SignedRoot trusted;
  TimePoint now{};
};

const Fixture& Fix() {
  static const Fixture fixture = [] {
    Fixture f;
    auto key = PrivateKey::FromPem(kKeyPem);
    if (!key) __builtin_trap();
    f.keys.push_back(*key);
    auto now = ParseTime(kNow, "now");
    if (!now) __builtin_trap();
    f.now = *now;
    Root r;
    r.repository = std::string(kRepository);
    r.version = 1;
    r.expires = f.now + std::chrono::days(365 * 10);
    r.keys.emplace(key->id(), key->public_key());
    for (Role role : {Role::kRoot, Role::kRelease, Role::kChannel})
      r.role(role) = RoleKeys{{key->id()}, 1};
    auto env = SignEnvelope(kRootPayloadType, SerializeRoot(r), f.keys);
    if (!env) __builtin_trap();
    auto trusted = OpenTrustedRoot(*env, "fixture");
    if (!trusted) __builtin_trap();
    f.trusted = *trusted;
    return f;
  }();
  return fixture;
}

bool SameRoot(const Root& a, const Root& b) {
  if (a.repository != b.repository || a.version != b.version || a.expires != b.expires ||
      a.root != b.root || a.release != b.release || a.channel != b.channel ||
      a.keys.size() != b.keys.size()) {
    return false;
  }
  for (const auto& [id, key] : a.keys) {
    auto it = b.keys.find(id);
    if (it == b.keys.end() || it->second.id() != id || key.id() != id) return false;
  }
  return true;
}

// What ParseRoot promises about every root it accepts.
void CheckWellFormed(const Root& r) {
  if (r.version == 0 || r.repository.empty()) __builtin_trap();
  for (Role role : {Role::kRoot, Role::kRelease, Role::kChannel}) {
    const RoleKeys& k = r.role(role);
    if (k.threshold == 0 || k.threshold > k.key_ids.size()) __builtin_trap();
    for (size_t i = 0; i < k.key_ids.size(); ++i) {
      if (!r.keys.contains(k.key_ids[i])) __builtin_trap();
      if (i > 0 && !(k.key_ids[i - 1] < k.key_ids[i])) __builtin_trap();  // sorted, distinct
    }
    if (r.KeyringFor(role).size() != k.key_ids.size()) __builtin_trap();
  }
}

bool KnownCode(std::string_view code) {
  for (std::string_view c : {"bad-root-signature", "bad-root", "root-version", "wrong-repository",
                             "unsupported-format"}) {
    if (code == c) return true;
  }
  return false;
}

// Serves `text` as roots/2.json and nothing after it.
class OneRootFetcher : public RootFetcher {
 public:
  explicit OneRootFetcher(std::string text) : text_(std::move(text)) {}
  Result<std::optional<std::string>> FetchRoot(uint64_t version) override {
    if (version == 2) return std::optional<std::string>(text_);
    if (version != 3) __builtin_trap();  // the walk asks for the next version only
    return std::optional<std::string>();
  }

 private:
  std::string text_;
};

// The fixed key signs `body` as a successor; the step's verdict must follow from the body alone.
void CheckSignedBody(std::string_view body, const Result<Root>& parsed) {
  const Fixture& f = Fix();
  const std::string& key_id = f.keys[0].id();
  auto env = SignEnvelope(kRootPayloadType, body, f.keys);
  if (!env) __builtin_trap();

  // As a trusted root of its own: it must name the key among its root keys, threshold 1.
  auto opened = OpenTrustedRoot(*env, "fuzz");
  const bool self_signed = parsed && std::ranges::count(parsed->root.key_ids, key_id) == 1 &&
                           parsed->root.threshold == 1;
  if (opened.has_value() != self_signed) __builtin_trap();
  if (opened && (!SameRoot(opened->root, *parsed) || opened->envelope != *env)) __builtin_trap();

  // As roots/2.json: the checks run in order, so the first one that fails names the refusal.
  std::string want;
  if (!parsed) {
    want = "bad-root";
  } else if (parsed->version != 2) {
    want = "root-version";
  } else if (parsed->repository != kRepository) {
    want = "wrong-repository";
  } else if (!self_signed) {
    want = "bad-root-signature";
  }
  // The walk (CheckRootSuccessor on roots/2.json, then the next fetch or the refusal), and
  // the newest root's expiry.
  OneRootFetcher fetcher(*env);
  int kept = 0;
  auto update = UpdateRoot(f.trusted, fetcher, f.now, [&](const SignedRoot& r) -> Status {
    if (r.root.version != 2 || r.envelope != *env || !SameRoot(r.root, *parsed)) __builtin_trap();
    ++kept;
    return {};
  });
  if (!update) __builtin_trap();  // the fetcher never fails
  if (!want.empty()) {
    if (!update->refusal || update->refusal->code != want) __builtin_trap();
    if (kept != 0 || !update->accepted.empty() || update->root.root.version != 1) __builtin_trap();
  } else {
    if (kept != 1 || update->accepted.size() != 1 || update->root.envelope != *env) {
      __builtin_trap();
    }
    const bool expired = f.now >= parsed->expires;
    if (update->refusal.has_value() != expired) __builtin_trap();
    if (expired && update->refusal->code != "expired-root") __builtin_trap();
  }

  // A newer major format signed by the trusted key is unsupported, whatever the body.
  auto v2 = SignEnvelope("application/vnd.basalt.root.v2+json", body, f.keys);
  if (!v2) __builtin_trap();
  SignedRoot next;
  auto v2_refusal = CheckRootSuccessor(f.trusted.root, *v2, &next);
  if (!v2_refusal || v2_refusal->code != "unsupported-format") __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Fixture& f = Fix();
  std::string_view text(reinterpret_cast<const char*>(data), size);

  // As a body: whatever ParseRoot accepts is well formed and round-trips.
  auto parsed = ParseRoot(text);
  if (parsed) {
    CheckWellFormed(*parsed);
    const std::string again_text = SerializeRoot(*parsed);
    auto again = ParseRoot(again_text);
    if (!again || !SameRoot(*again, *parsed) || SerializeRoot(*again) != again_text) {
      __builtin_trap();
    }
  }

  // As an envelope: a root that opens is signed by a threshold of its own root keys.
  auto opened = OpenTrustedRoot(text, "fuzz");
  if (opened) {
    CheckWellFormed(opened->root);
    if (opened->envelope != text) __builtin_trap();
  }
  SignedRoot next;
  auto refusal = CheckRootSuccessor(f.trusted.root, text, &next);
  if (refusal) {
    if (!KnownCode(refusal->code) || !refusal->reason.starts_with("root version 2: ")) {
      __builtin_trap();
    }
  } else {
    CheckWellFormed(next.root);
    if (next.root.version != 2 || next.root.repository != kRepository || next.envelope != text) {
      __builtin_trap();
    }
  }

  if (size <= kMaxSignedInput) CheckSignedBody(text, parsed);
  return 0;
}
