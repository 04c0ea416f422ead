// `basalt keys init-root|rotate|revoke|show-root`: the repository's root document, which says
// which keys sign for which role (docs/repository.md, "Roles, rotation and revocation").
#include <iostream>
#include <memory>
#include <set>

#include "common/fd.h"
#include "common/signing.h"
#include "common/time_util.h"
#include "repo/keys_cli.h"
#include "repo/root_files.h"
#include "signing_keys.h"

namespace basalt {
namespace {
using namespace basalt::repo;

constexpr Role kAllRoles[] = {Role::kRoot, Role::kRelease, Role::kChannel};

// A public key PEM, or a private key (file or store URI) whose public half is meant.
Result<PublicKey> LoadPublic(const std::string& ref) {
  auto text = ReadFileToString(ref);
  if (text && text->find("PUBLIC KEY-----") != std::string::npos) {
    return PublicKey::FromPem(*text);
  }
  BASALT_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::Load(ref));
  return key.public_key();
}

Status AddKeys(Root& root, Role role, const std::vector<std::string>& refs) {
  RoleKeys& rk = root.role(role);
  for (const auto& ref : refs) {
    BASALT_ASSIGN_OR_RETURN(PublicKey key, LoadPublic(ref));
    if (std::find(rk.key_ids.begin(), rk.key_ids.end(), key.id()) != rk.key_ids.end()) {
      return Failf(ErrorKind::kPolicy, "key {} is already a {} key", key.id(), RoleName(role));
    }
    rk.key_ids.push_back(key.id());
    root.keys.insert_or_assign(key.id(), key);
  }
  std::sort(rk.key_ids.begin(), rk.key_ids.end());
  return {};
}

// Keys no role names any more leave the document.
void DropUnusedKeys(Root& root) {
  std::set<std::string> used;
  for (Role r : kAllRoles)
    used.insert(root.role(r).key_ids.begin(), root.role(r).key_ids.end());
  std::erase_if(root.keys, [&](const auto& kv) { return !used.contains(kv.first); });
}

Status CheckThresholds(const Root& root) {
  for (Role r : kAllRoles) {
    const RoleKeys& rk = root.role(r);
    if (rk.threshold == 0 || rk.threshold > rk.key_ids.size()) {
      return Failf(ErrorKind::kPolicy,
                   "the {} role would need {} signature(s) from {} key(s); add a key (revoke "
                   "--replace-with, rotate --add) or lower its threshold (rotate --threshold)",
                   RoleName(r), rk.threshold, rk.key_ids.size());
    }
  }
  return {};
}

// Root keys should live offline; one that also signs channels or releases is as exposed as they
// are, and its theft is a root compromise. Allowed (a single-key test repository needs it), but
// said.
void WarnSharedRootKeys(const Root& root) {
  for (const std::string& id : root.root.key_ids) {
    for (Role r : {Role::kRelease, Role::kChannel}) {
      const auto& ids = root.role(r).key_ids;
      if (std::find(ids.begin(), ids.end(), id) != ids.end()) {
        std::cerr << fmt::format(
            "basalt: warning: key {} is a root key and a {} key; a root key should sign "
            "nothing else and stay offline\n",
            id.substr(0, 16), RoleName(r));
      }
    }
  }
}

nlohmann::json RootJson(const Root& root) {
  nlohmann::json roles = nlohmann::json::object();
  for (Role r : kAllRoles) {
    roles[std::string(RoleName(r))] = {{"keyids", root.role(r).key_ids},
                                       {"threshold", root.role(r).threshold}};
  }
  return {{"repository", root.repository},
          {"version", root.version},
          {"expires", FormatTime(root.expires)},
          {"roles", roles}};
}

void PrintRoot(const Root& root, bool json) {
  if (json) {
    PrintJson(RootJson(root));
    return;
  }
  std::cout << fmt::format("repository: {}\nversion:    {}\nexpires:    {}\n", root.repository,
                           root.version, FormatTime(root.expires));
  for (Role r : kAllRoles) {
    const RoleKeys& rk = root.role(r);
    std::cout << fmt::format("{} role: {} of {} key(s)\n", RoleName(r), rk.threshold,
                             rk.key_ids.size());
    for (const auto& id : rk.key_ids)
      std::cout << "  " << id << "\n";
  }
}

struct InitArgs {
  std::string repo, repository, expires_in = "365d";
  std::vector<std::string> role_keys[3];
  size_t thresholds[3] = {1, 1, 1};
  std::vector<std::string> sign_with;
  bool json = false;
};

void AddInitRoot(CLI::App& keys, CommandRunner& runner) {
  auto* cmd = keys.add_subcommand(
      "init-root",
      "Create a repository's first root document (roots/1.json): the keys of each role");
  auto a = std::make_shared<InitArgs>();
  cmd->add_option("--repo", a->repo, "Repository directory")->required();
  cmd->add_option("--repository", a->repository,
                  "The repository's identity, repeated in every channel and release")
      ->required();
  for (Role r : kAllRoles) {
    const int i = static_cast<int>(r);
    cmd->add_option(
           fmt::format("--{}-key", RoleName(r)), a->role_keys[i],
           fmt::format("A {} key (public or private PEM, or store URI); repeatable", RoleName(r)))
        ->required();
    cmd->add_option(fmt::format("--{}-threshold", RoleName(r)), a->thresholds[i],
                    fmt::format("Signatures a {} document needs", RoleName(r)))
        ->capture_default_str();
  }
  cmd->add_option("--expires-in", a->expires_in, "Validity of the root (e.g. 365d)")
      ->capture_default_str();
  cmd->add_option("--key,--sign-with", a->sign_with,
                  "Private key(s) signing the root: a threshold of the root keys; repeatable")
      ->required();
  cmd->add_flag("--json", a->json, "Print the root as JSON");
  cmd->callback([&runner, a] {
    runner.Set([a]() -> int {
      auto existing = LoadRepositoryRoot(a->repo);
      if (!existing) return ReportError(existing.error());
      if (*existing) {
        return ReportError(Error(ErrorKind::kPolicy,
                                 fmt::format("{} already has root version {}; use `basalt keys "
                                             "rotate` to change it",
                                             a->repo, (*existing)->root.version)));
      }
      auto expires = ParseDuration(a->expires_in, "--expires-in");
      if (!expires) return ReportError(expires.error());
      Root root;
      root.repository = a->repository;
      root.version = 1;
      root.expires = std::chrono::floor<std::chrono::seconds>(Now()) + *expires;
      for (Role r : kAllRoles) {
        const int i = static_cast<int>(r);
        if (auto s = AddKeys(root, r, a->role_keys[i]); !s) return ReportError(s.error());
        root.role(r).threshold = a->thresholds[i];
      }
      if (auto s = CheckThresholds(root); !s) return ReportError(s.error());
      auto signers = LoadSigningKeys(a->sign_with, "--key");
      if (!signers) return ReportError(signers.error());
      auto published = PublishRoot(a->repo, std::nullopt, root, *signers);
      if (!published) return ReportError(published.error());
      WarnSharedRootKeys(published->root);
      PrintRoot(published->root, a->json);
      return kExitOk;
    });
  });
}

struct RotateArgs {
  std::string repo, role, expires_in;
  std::vector<std::string> add, remove, sign_with;
  size_t threshold = 0;
  bool json = false;
};

// The next root from the newest: `change` edits it; the version goes up by one and the expiry
// is renewed when asked.
int PublishNext(const std::string& repo, const std::string& expires_in,
                const std::vector<std::string>& sign_with, bool json,
                const std::function<Status(Root&)>& change) {
  auto current = LoadRepositoryRoot(repo);
  if (!current) return ReportError(current.error());
  if (!*current) {
    return ReportError(
        Error(ErrorKind::kNotFound,
              fmt::format("{} has no root.json; create one with `basalt keys init-root`", repo)));
  }
  Root next = (*current)->root;
  next.version += 1;
  if (!expires_in.empty()) {
    auto expires = ParseDuration(expires_in, "--expires-in");
    if (!expires) return ReportError(expires.error());
    next.expires = std::chrono::floor<std::chrono::seconds>(Now()) + *expires;
  }
  if (auto s = change(next); !s) return ReportError(s.error());
  DropUnusedKeys(next);
  if (auto s = CheckThresholds(next); !s) return ReportError(s.error());
  auto signers = LoadSigningKeys(sign_with, "--key");
  if (!signers) return ReportError(signers.error());
  auto published = PublishRoot(repo, *current, next, *signers);
  if (!published) return ReportError(published.error());
  WarnSharedRootKeys(published->root);
  PrintRoot(published->root, json);
  return kExitOk;
}

void AddRotate(CLI::App& keys, CommandRunner& runner) {
  auto* cmd = keys.add_subcommand(
      "rotate",
      "Publish the next root version with a role's keys or threshold changed (or only renewed)");
  auto a = std::make_shared<RotateArgs>();
  cmd->add_option("--repo", a->repo, "Repository directory")->required();
  cmd->add_option("--role", a->role, "root, release or channel")
      ->check(CLI::IsMember({"root", "release", "channel"}));
  cmd->add_option("--add", a->add, "Key to add to the role (public or private PEM); repeatable");
  cmd->add_option("--remove", a->remove, "Key id to remove from the role; repeatable");
  cmd->add_option("--threshold", a->threshold, "The role's new threshold");
  cmd->add_option("--expires-in", a->expires_in, "Renew the root's validity (e.g. 365d)");
  cmd->add_option("--key,--sign-with", a->sign_with,
                  "Private keys signing the new root: a threshold of the current root keys and, "
                  "when they change, of the new ones; repeatable")
      ->required();
  cmd->add_flag("--json", a->json, "Print the new root as JSON");
  cmd->callback([&runner, a] {
    runner.Set([a]() -> int {
      const bool changes_role = !a->add.empty() || !a->remove.empty() || a->threshold != 0;
      if (changes_role && a->role.empty()) {
        return ReportError(
            Error(ErrorKind::kInvalidInput, "--add, --remove and --threshold need --role"));
      }
      if (!changes_role && a->expires_in.empty()) {
        return ReportError(Error(ErrorKind::kInvalidInput,
                                 "nothing to change: give --add, --remove, --threshold or "
                                 "--expires-in"));
      }
      return PublishNext(a->repo, a->expires_in, a->sign_with, a->json, [a](Root& next) -> Status {
        if (!a->role.empty()) {
          BASALT_ASSIGN_OR_RETURN(Role role, ParseRole(a->role));
          RoleKeys& rk = next.role(role);
          for (const auto& id : a->remove) {
            auto it = std::find(rk.key_ids.begin(), rk.key_ids.end(), id);
            if (it == rk.key_ids.end()) {
              return Failf(ErrorKind::kNotFound, "key {} is not a {} key", id, a->role);
            }
            rk.key_ids.erase(it);
          }
          BASALT_RETURN_IF_ERROR(AddKeys(next, role, a->add));
          if (a->threshold != 0) rk.threshold = a->threshold;
        }
        return {};
      });
    });
  });
}

void AddRevoke(CLI::App& keys, CommandRunner& runner) {
  auto* cmd = keys.add_subcommand(
      "revoke", "Publish the next root version without a key, in every role (a leaked key)");
  auto a = std::make_shared<RotateArgs>();
  auto key_id = std::make_shared<std::string>();
  cmd->add_option("key_id", *key_id, "The id of the key to revoke")->required();
  cmd->add_option("--replace-with", a->add,
                  "A key (public or private PEM) that takes the revoked key's place in each of its "
                  "roles, in the same root version");
  cmd->add_option("--repo", a->repo, "Repository directory")->required();
  cmd->add_option("--expires-in", a->expires_in, "Renew the root's validity (e.g. 365d)");
  cmd->add_option("--key,--sign-with", a->sign_with,
                  "Private keys signing the new root: a threshold of the root keys; repeatable")
      ->required();
  cmd->add_flag("--json", a->json, "Print the new root as JSON");
  cmd->callback([&runner, a, key_id] {
    runner.Set([a, key_id]() -> int {
      if (a->add.size() > 1) {
        return ReportError(Error(ErrorKind::kInvalidInput, "give --replace-with at most once"));
      }
      return PublishNext(a->repo, a->expires_in, a->sign_with, a->json,
                         [a, key_id](Root& next) -> Status {
                           if (!next.keys.contains(*key_id)) {
                             return Failf(ErrorKind::kNotFound, "key {} is not in root version {}",
                                          *key_id, next.version - 1);
                           }
                           for (Role r : kAllRoles) {
                             RoleKeys& rk = next.role(r);
                             if (std::erase(rk.key_ids, *key_id) == 0 || a->add.empty()) continue;
                             BASALT_RETURN_IF_ERROR(AddKeys(next, r, a->add));
                           }
                           return {};
                         });
    });
  });
}

void AddShowRoot(CLI::App& keys, CommandRunner& runner) {
  auto* cmd = keys.add_subcommand("show-root", "Show a repository's newest root (or a root file)");
  auto repo = std::make_shared<std::string>();
  auto file = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("--repo", *repo, "Repository directory (its root.json)");
  cmd->add_option("--file", *file, "A root document file (e.g. /usr/share/basalt/root.json)");
  cmd->add_flag("--json", *json, "Print the root as JSON");
  cmd->callback([&runner, repo, file, json] {
    runner.Set([repo, file, json]() -> int {
      if (repo->empty() == file->empty()) {
        return ReportError(Error(ErrorKind::kInvalidInput, "give exactly one of --repo, --file"));
      }
      if (!file->empty()) {
        auto text = ReadFileToString(*file);
        if (!text) return ReportError(text.error());
        auto root = OpenTrustedRoot(*text, *file);
        if (!root) return ReportError(root.error());
        PrintRoot(root->root, *json);
        return kExitOk;
      }
      auto root = LoadRepositoryRoot(*repo);
      if (!root) return ReportError(root.error());
      if (!*root) {
        return ReportError(Error(ErrorKind::kNotFound, fmt::format("{} has no root.json", *repo)));
      }
      PrintRoot((*root)->root, *json);
      return kExitOk;
    });
  });
}

}  // namespace

void AddRootKeysCommands(CLI::App& keys, CommandRunner& runner) {
  AddInitRoot(keys, runner);
  AddRotate(keys, runner);
  AddRevoke(keys, runner);
  AddShowRoot(keys, runner);
}

}  // namespace basalt
