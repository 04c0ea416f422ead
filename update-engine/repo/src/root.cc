#include "repo/root.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "common/printable.h"
#include "repo/dsse.h"
#include "repo/json_fields.h"
#include "repo/names.h"

namespace basalt::repo {
namespace {

constexpr Role kRoles[] = {Role::kRoot, Role::kRelease, Role::kChannel};

// More keys than any sane repository has; bounds the work a hostile root can ask for.
constexpr size_t kMaxKeys = 64;

Result<RoleKeys> ParseRoleKeys(const nlohmann::json& v, const std::string& where,
                               UnknownFields unknown,
                               const std::map<std::string, PublicKey>& keys) {
  BASALT_ASSIGN_OR_RETURN(FieldReader r, FieldReader::Open(v, where, unknown));
  RoleKeys out;
  BASALT_ASSIGN_OR_RETURN(const nlohmann::json* ids, r.Array("keyids"));
  BASALT_ASSIGN_OR_RETURN(uint64_t threshold, r.Uint("threshold"));
  BASALT_RETURN_IF_ERROR(r.Finish());
  std::set<std::string> seen;
  for (size_t i = 0; i < ids->size(); ++i) {
    const std::string field = fmt::format("{}[{}]", r.Name("keyids"), i);
    if (!(*ids)[i].is_string()) {
      return Failf(ErrorKind::kInvalidInput, "{}: expected a string", field);
    }
    std::string id = (*ids)[i].get<std::string>();
    BASALT_RETURN_IF_ERROR(CheckHex(id, 32, field));
    if (!keys.contains(id)) {
      return Failf(ErrorKind::kInvalidInput, "{}: key {} is not in keys", field, id.substr(0, 16));
    }
    if (!seen.insert(id).second) {
      return Failf(ErrorKind::kInvalidInput, "{}: key {} is listed twice", field, id.substr(0, 16));
    }
    out.key_ids.push_back(std::move(id));
  }
  if (threshold == 0 || threshold > out.key_ids.size()) {
    return Failf(ErrorKind::kInvalidInput, "{}: {} cannot be met by {} key(s) (1..{})",
                 r.Name("threshold"), threshold, out.key_ids.size(), out.key_ids.size());
  }
  std::sort(out.key_ids.begin(), out.key_ids.end());
  out.threshold = static_cast<size_t>(threshold);
  return out;
}

}  // namespace

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kRoot:
      return "root";
    case Role::kRelease:
      return "release";
    case Role::kChannel:
      return "channel";
  }
  return "root";
}

Result<Role> ParseRole(std::string_view name) {
  for (Role r : kRoles) {
    if (RoleName(r) == name) return r;
  }
  return Failf(ErrorKind::kInvalidInput, "role \"{}\": expected root, release or channel",
               Printable(name, 32));
}

const RoleKeys& Root::role(Role r) const {
  switch (r) {
    case Role::kRoot:
      return root;
    case Role::kRelease:
      return release;
    case Role::kChannel:
      return channel;
  }
  return root;
}

RoleKeys& Root::role(Role r) {
  return const_cast<RoleKeys&>(std::as_const(*this).role(r));
}

Keyring Root::KeyringFor(Role r) const {
  Keyring ring;
  for (const std::string& id : role(r).key_ids) {
    if (auto it = keys.find(id); it != keys.end()) ring.Add(it->second);
  }
  return ring;
}

Result<Root> ParseRoot(std::string_view body) {
  BASALT_ASSIGN_OR_RETURN(nlohmann::json doc, ParseJson(body, "root"));
  BASALT_ASSIGN_OR_RETURN(FieldReader r, FieldReader::Open(doc, "root"));
  BASALT_ASSIGN_OR_RETURN(UnknownFields unknown, ReadFormatMinor(r, kRootFormatMinor));
  Root root;
  BASALT_ASSIGN_OR_RETURN(root.repository, r.String("repository"));
  BASALT_RETURN_IF_ERROR(CheckChannelName(root.repository, r.Name("repository")));
  BASALT_ASSIGN_OR_RETURN(root.version, r.Uint("version"));
  if (root.version == 0 || root.version == UINT64_MAX) {
    // The last value would leave no successor (version + 1 wraps to 0).
    return Failf(ErrorKind::kInvalidInput, "{}: must be 1 .. 2^64-2", r.Name("version"));
  }
  BASALT_ASSIGN_OR_RETURN(std::string expires, r.String("expires"));
  BASALT_ASSIGN_OR_RETURN(root.expires, ParseTime(expires, r.Name("expires")));
  BASALT_ASSIGN_OR_RETURN(const nlohmann::json* keys, r.Object("keys"));
  if (keys->size() > kMaxKeys) {
    return Failf(ErrorKind::kInvalidInput, "{}: more than {} keys", r.Name("keys"), kMaxKeys);
  }
  for (const auto& [id, pem] : keys->items()) {
    const std::string field = fmt::format("{}.{}", r.Name("keys"), Printable(id, 80));
    BASALT_RETURN_IF_ERROR(CheckHex(id, 32, field));
    if (!pem.is_string()) {
      return Failf(ErrorKind::kInvalidInput, "{}: expected a PEM public key string", field);
    }
    auto key = PublicKey::FromPem(pem.get<std::string>());
    if (!key) return std::unexpected(std::move(key).error().WithContext(field));
    if (key->id() != id) {
      return Failf(ErrorKind::kInvalidInput, "{}: the key's id is {}", field, key->id());
    }
    root.keys.emplace(id, std::move(*key));
  }
  BASALT_ASSIGN_OR_RETURN(const nlohmann::json* roles, r.Object("roles"));
  BASALT_ASSIGN_OR_RETURN(FieldReader rr, FieldReader::Open(*roles, r.Name("roles"), unknown));
  for (Role role : kRoles) {
    BASALT_ASSIGN_OR_RETURN(const nlohmann::json* v, rr.Object(RoleName(role)));
    BASALT_ASSIGN_OR_RETURN(root.role(role),
                            ParseRoleKeys(*v, rr.Name(RoleName(role)), unknown, root.keys));
  }
  BASALT_RETURN_IF_ERROR(rr.Finish());
  BASALT_RETURN_IF_ERROR(r.Finish());
  return root;
}

std::string SerializeRoot(const Root& root) {
  nlohmann::ordered_json doc;
  doc["repository"] = root.repository;
  doc["version"] = root.version;
  doc["expires"] = FormatTime(root.expires);
  nlohmann::ordered_json keys = nlohmann::ordered_json::object();
  for (const auto& [id, key] : root.keys)
    keys[id] = key.ToPem();
  doc["keys"] = keys;
  nlohmann::ordered_json roles;
  for (Role role : kRoles) {
    const RoleKeys& k = root.role(role);
    roles[std::string(RoleName(role))] = {{"keyids", k.key_ids}, {"threshold", k.threshold}};
  }
  doc["roles"] = roles;
  return doc.dump(2) + "\n";
}

Result<SignedRoot> OpenTrustedRoot(std::string_view envelope, std::string_view what) {
  auto env = ParseEnvelope(envelope);
  if (!env)
    return std::unexpected(std::move(env).error().WithContext(fmt::format("root {}", what)));
  auto parsed = ParseRoot(env->payload);
  if (!parsed) {
    return std::unexpected(std::move(parsed).error().WithContext(fmt::format("root {}", what)));
  }
  Root root = std::move(*parsed);
  auto body =
      OpenVerified(envelope, kRootPayloadType, root.KeyringFor(Role::kRoot), root.root.threshold);
  if (!body) {
    return std::unexpected(std::move(body).error().WithContext(fmt::format(
        "root {} (version {}) is not signed by its own root keys", what, root.version)));
  }
  return SignedRoot{std::move(root), std::string(envelope)};
}

std::optional<RootRefusal> CheckRootSuccessor(const Root& trusted, std::string_view envelope,
                                              SignedRoot* next, size_t min_threshold) {
  const uint64_t want = trusted.version + 1;
  auto refuse = [&](std::string code, std::string reason,
                    ErrorKind kind = ErrorKind::kIntegrity) -> std::optional<RootRefusal> {
    return RootRefusal{std::move(code), fmt::format("root version {}: {}", want, reason), kind};
  };
  auto body = OpenVerified(envelope, kRootPayloadType, trusted.KeyringFor(Role::kRoot),
                           std::max(trusted.root.threshold, min_threshold));
  if (!body) {
    if (body.error().kind() == ErrorKind::kUnsupported) {
      return refuse("unsupported-format", body.error().message(), ErrorKind::kUnsupported);
    }
    return refuse("bad-root-signature", fmt::format("not signed by the root keys of version {}: {}",
                                                    trusted.version, body.error().message()));
  }
  auto parsed = ParseRoot(*body);
  if (!parsed) return refuse("bad-root", parsed.error().message(), ErrorKind::kInvalidInput);
  if (parsed->version != want) {
    return refuse(
        "root-version",
        fmt::format("the document served as roots/{}.json says version {}", want, parsed->version));
  }
  if (parsed->repository != trusted.repository) {
    return refuse("wrong-repository",
                  fmt::format("it is the root of repository \"{}\", this host follows \"{}\"",
                              parsed->repository, trusted.repository));
  }
  // The new root's own keys must sign too: a rotation is accepted only when the new keys are
  // real and usable, so a typo cannot lock every host out.
  auto self = OpenVerified(envelope, kRootPayloadType, parsed->KeyringFor(Role::kRoot),
                           std::max(parsed->root.threshold, min_threshold));
  if (!self) {
    return refuse("bad-root-signature",
                  fmt::format("not signed by its own root keys: {}", self.error().message()));
  }
  next->root = std::move(*parsed);
  next->envelope = std::string(envelope);
  return std::nullopt;
}

Result<RootUpdate> UpdateRoot(const SignedRoot& trusted, RootFetcher& fetcher, TimePoint now,
                              const std::function<Status(const SignedRoot&)>& keep,
                              size_t min_threshold) {
  RootUpdate out;
  out.root = trusted;
  for (uint64_t step = 0;; ++step) {
    const uint64_t want = out.root.root.version + 1;
    BASALT_ASSIGN_OR_RETURN(std::optional<std::string> text, fetcher.FetchRoot(want));
    if (!text) break;
    // Only a rotation beyond the limit that exists makes the chain too long: a chain of exactly
    // kMaxRootSteps is followed to its end.
    if (step == kMaxRootSteps) {
      out.refusal =
          RootRefusal{"root-chain-too-long",
                      fmt::format("more than {} root rotations at once (stopped at version {})",
                                  kMaxRootSteps, out.root.root.version),
                      ErrorKind::kIntegrity};
      return out;
    }
    SignedRoot next;
    if (auto refusal = CheckRootSuccessor(out.root.root, *text, &next, min_threshold)) {
      out.refusal = std::move(refusal);
      return out;
    }
    BASALT_RETURN_IF_ERROR(keep(next));
    out.accepted.push_back(next);
    out.root = std::move(next);
  }
  if (now >= out.root.root.expires) {
    out.refusal = RootRefusal{
        "expired-root",
        fmt::format("root version {} of repository \"{}\" expired at {} (now {}); the repository "
                    "is stale or an attacker is freezing this host",
                    out.root.root.version, out.root.root.repository,
                    FormatTime(out.root.root.expires), FormatTime(now)),
        ErrorKind::kPolicy};
  }
  return out;
}

}  // namespace basalt::repo
