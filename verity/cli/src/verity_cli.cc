#include "verity/verity_cli.h"

#include <cstdio>
#include <memory>

#include "activation.h"
#include "common/fd.h"
#include "common/hex.h"
#include "verity/verity.h"

namespace basalt {
namespace {

using verity::VerityParams;

// Flags shared by format, verify and open; strings until parsed so errors get our messages.
struct TreeFlags {
  std::string data;
  std::string hash_file;
  std::optional<uint64_t> hash_offset;
  std::optional<uint64_t> data_blocks;
  std::optional<std::string> salt;
  std::string hash = "sha256";
  uint32_t data_block_size = 4096;
  uint32_t hash_block_size = 4096;
  bool no_superblock = false;
  bool json = false;
};

void AddLocationFlags(CLI::App* cmd, TreeFlags* f) {
  cmd->add_option("DATA", f->data, "Data file or block device")->required();
  cmd->add_option("--hash-file", f->hash_file,
                  "File or device holding the hash area (default: inside DATA)");
  cmd->add_option("--hash-offset", f->hash_offset,
                  "Byte offset of the hash area (superblock) in the hash file");
}

// verify and open take veritysetup's positional HASH_DEVICE ROOT_HASH after the others, or the
// --hash-file/--root-hash options; the two spellings of one thing must agree.
struct HashArgs {
  std::string hash_device;
  std::string root_hash;
};

void AddHashPositionals(CLI::App* cmd, HashArgs* h) {
  cmd->add_option("HASH_DEVICE", h->hash_device,
                  "As veritysetup: the hash file or device (the same as --hash-file; give DATA "
                  "again when the tree is inside it)");
  cmd->add_option("ROOT_HASH", h->root_hash, "As veritysetup: the root hash (as --root-hash)");
}

// An empty result when the arguments agree, else what to tell the user (a usage error).
std::string MergeHashArgs(const HashArgs& h, TreeFlags* f, std::string* root) {
  if (!h.hash_device.empty() && h.root_hash.empty()) {
    return "HASH_DEVICE needs ROOT_HASH after it (veritysetup's order), or use --root-hash";
  }
  if (!h.hash_device.empty()) {
    if (!f->hash_file.empty() && f->hash_file != h.hash_device) {
      return "HASH_DEVICE and --hash-file name different files";
    }
    // veritysetup names DATA again for a tree inside it; here that is the default.
    if (h.hash_device != f->data) f->hash_file = h.hash_device;
  }
  if (!h.root_hash.empty()) {
    if (!root->empty() && *root != h.root_hash) {
      return "ROOT_HASH and --root-hash differ";
    }
    *root = h.root_hash;
  }
  if (root->empty()) return "give ROOT_HASH or --root-hash";
  return "";
}

void AddParamFlags(CLI::App* cmd, TreeFlags* f, bool for_format) {
  const char* note = for_format ? "" : " (only with --no-superblock)";
  cmd->add_option("--data-blocks", f->data_blocks,
                  std::string("Number of data blocks (default: data size / block size)") + note);
  cmd->add_option("--hash", f->hash, std::string("Hash algorithm: sha256, sha512 or sha1") + note)
      ->capture_default_str();
  cmd->add_option("--data-block-size", f->data_block_size, std::string("Data block size") + note)
      ->capture_default_str();
  cmd->add_option("--hash-block-size", f->hash_block_size, std::string("Hash block size") + note)
      ->capture_default_str();
  cmd->add_flag("--no-superblock", f->no_superblock,
                for_format ? "Do not write a superblock" : "The hash area has no superblock");
}

Result<std::vector<uint8_t>> ParseSalt(const std::string& text) {
  // veritysetup spells an empty salt "-".
  if (text == "-" || text.empty()) return std::vector<uint8_t>{};
  auto salt = FromHex(text);
  if (!salt) return std::unexpected(std::move(salt).error().WithContext("--salt"));
  if (salt->size() > verity::kMaxSaltSize) {
    return Failf(ErrorKind::kInvalidInput, "--salt is {} bytes; at most {} bytes are allowed",
                 salt->size(), verity::kMaxSaltSize);
  }
  return salt;
}

Result<std::vector<uint8_t>> ParseRootHash(const std::string& text) {
  auto h = FromHex(text);
  if (!h) return std::unexpected(std::move(h).error().WithContext("--root-hash"));
  return h;
}

// Parameters given on the command line for a tree without a superblock.
Result<VerityParams> ExplicitParams(const TreeFlags& f) {
  VerityParams p;
  p.superblock = false;
  BASALT_ASSIGN_OR_RETURN(p.algorithm, ParseHashAlgorithm(f.hash));
  p.data_block_size = f.data_block_size;
  p.hash_block_size = f.hash_block_size;
  if (!f.data_blocks) {
    return Fail(ErrorKind::kInvalidInput, "--no-superblock needs --data-blocks");
  }
  p.data_blocks = *f.data_blocks;
  if (!f.salt)
    return Fail(ErrorKind::kInvalidInput, "--no-superblock needs --salt (\"-\" for none)");
  BASALT_ASSIGN_OR_RETURN(p.salt, ParseSalt(*f.salt));
  p.hash_offset = f.hash_offset.value_or(0);
  return p;
}

nlohmann::json ParamsJson(const VerityParams& p) {
  nlohmann::json j;
  j["hash_algorithm"] = std::string(HashAlgorithmName(p.algorithm));
  j["data_block_size"] = p.data_block_size;
  j["hash_block_size"] = p.hash_block_size;
  j["data_blocks"] = p.data_blocks;
  j["salt"] = ToHex(p.salt);
  j["superblock"] = p.superblock;
  j["uuid"] = p.superblock ? nlohmann::json(verity::FormatUuid(p.uuid)) : nlohmann::json(nullptr);
  j["hash_offset"] = p.hash_offset;
  j["hash_type"] = 1;
  return j;
}

int RunFormat(const TreeFlags& f, const std::optional<std::string>& seed,
              const std::optional<std::string>& uuid) {
  verity::FormatOptions o;
  o.data_path = f.data;
  o.hash_path = f.hash_file;
  o.hash_offset = f.hash_offset;
  o.data_blocks = f.data_blocks;
  auto alg = ParseHashAlgorithm(f.hash);
  if (!alg) return ReportError(alg.error());
  o.algorithm = *alg;
  o.data_block_size = f.data_block_size;
  o.hash_block_size = f.hash_block_size;
  o.superblock = !f.no_superblock;
  o.seed = seed;
  if (f.salt) {
    auto salt = ParseSalt(*f.salt);
    if (!salt) return ReportError(salt.error());
    o.salt = *salt;
  }
  if (uuid) {
    if (f.no_superblock) {
      return ReportError(Error(ErrorKind::kInvalidInput,
                               "--uuid is stored in the superblock; it cannot be combined with "
                               "--no-superblock"));
    }
    auto u = verity::ParseUuid(*uuid);
    if (!u) return ReportError(u.error());
    o.uuid = *u;
  }
  auto r = verity::Format(o);
  if (!r) return ReportError(r.error().WithContext("verity format"));
  if (f.json) {
    nlohmann::json j = ParamsJson(r->params);
    j["root_hash"] = ToHex(r->root_hash);
    j["data_file"] = f.data;
    j["hash_file"] = f.hash_file.empty() ? f.data : f.hash_file;
    j["hash_area_size"] = r->geometry.hash_area_size;
    j["tree_offset"] = r->geometry.tree_offset;
    j["levels"] = r->geometry.levels;
    PrintJson(j);
  } else {
    std::printf("%s\n", ToHex(r->root_hash).c_str());
  }
  return kExitOk;
}

int RunVerify(const TreeFlags& f, const std::string& root_hex) {
  verity::VerifyOptions o;
  o.data_path = f.data;
  o.hash_path = f.hash_file;
  o.hash_offset = f.hash_offset;
  auto root = ParseRootHash(root_hex);
  if (!root) return ReportError(root.error());
  o.root_hash = *root;
  if (f.no_superblock) {
    auto p = ExplicitParams(f);
    if (!p) return ReportError(p.error());
    o.params = *p;
  }
  verity::Corruption where;
  o.corruption = &where;
  auto r = verity::Verify(o);
  if (f.json) {
    nlohmann::json j;
    j["ok"] = r.has_value();
    j["root_hash"] = root_hex;
    if (r) {
      j["params"] = ParamsJson(*r);
    } else {
      j["error"] = r.error().message();
      if (r.error().kind() == ErrorKind::kIntegrity) {
        bool data = where.area == verity::Corruption::Area::kData;
        j["corruption"] = {{"area", data ? "data" : "hash"},
                           {"block", where.block},
                           {"byte_offset", where.byte_offset}};
        if (!data) j["corruption"]["level"] = where.level;
      }
    }
    PrintJson(j);
    return r ? kExitOk : ExitCodeFor(r.error());
  }
  if (!r) return ReportError(r.error().WithContext("verity verify"));
  std::printf("verified: %llu data blocks match root hash %s\n",
              static_cast<unsigned long long>(r->data_blocks), root_hex.c_str());
  return kExitOk;
}

int RunDump(const std::string& path, uint64_t offset, bool json) {
  auto p = verity::ReadSuperblock(path, offset);
  if (!p) return ReportError(p.error().WithContext("verity dump"));
  auto g = verity::ComputeGeometry(*p);
  if (!g) return ReportError(g.error().WithContext("verity dump"));
  if (json) {
    nlohmann::json j = ParamsJson(*p);
    j["hash_file"] = path;
    j["hash_area_size"] = g->hash_area_size;
    j["tree_offset"] = g->tree_offset;
    j["levels"] = g->levels;
    j["hash_blocks"] = g->tree_blocks;
    PrintJson(j);
    return kExitOk;
  }
  // Field names and order follow `veritysetup dump`, so its users read it at a glance.
  std::string out = fmt::format("VERITY header information for {}\n", path);
  out += fmt::format("UUID:            \t{}\n", verity::FormatUuid(p->uuid));
  out += fmt::format("Hash type:       \t1\n");
  out += fmt::format("Data blocks:     \t{}\n", p->data_blocks);
  out += fmt::format("Data block size: \t{}\n", p->data_block_size);
  out += fmt::format("Hash blocks:     \t{}\n", g->tree_blocks);
  out += fmt::format("Hash block size: \t{}\n", p->hash_block_size);
  out += fmt::format("Hash algorithm:  \t{}\n", HashAlgorithmName(p->algorithm));
  out += fmt::format("Salt:            \t{}\n", p->salt.empty() ? "-" : ToHex(p->salt));
  out += fmt::format("Hash offset:     \t{}\n", p->hash_offset);
  out += fmt::format("Tree offset:     \t{}\n", g->tree_offset);
  out += fmt::format("Hash area size:  \t{}\n", g->hash_area_size);
  std::fputs(out.c_str(), stdout);
  return kExitOk;
}

int RunOpen(const std::string& name, const TreeFlags& f, const std::string& root_hex,
            const std::string& signature_path, const std::string& on_corruption,
            bool ignore_zero_blocks, bool check_at_most_once) {
  verity::OpenOptions o;
  o.name = name;
  o.data_path = f.data;
  o.hash_path = f.hash_file;
  o.hash_offset = f.hash_offset;
  auto root = ParseRootHash(root_hex);
  if (!root) return ReportError(root.error());
  o.root_hash = *root;
  if (!signature_path.empty()) {
    auto sig = ReadFileToString(signature_path);
    if (!sig) return ReportError(sig.error().WithContext("--root-hash-signature"));
    o.root_hash_signature.assign(sig->begin(), sig->end());
  }
  if (f.no_superblock) {
    auto p = ExplicitParams(f);
    if (!p) return ReportError(p.error());
    o.params = *p;
  }
  if (on_corruption == "eio") {
    o.on_corruption = verity::OnCorruption::kEio;
  } else if (on_corruption == "restart") {
    o.on_corruption = verity::OnCorruption::kRestart;
  } else if (on_corruption == "panic") {
    o.on_corruption = verity::OnCorruption::kPanic;
  } else if (on_corruption == "ignore") {
    o.on_corruption = verity::OnCorruption::kIgnore;
  }
  o.ignore_zero_blocks = ignore_zero_blocks;
  o.check_at_most_once = check_at_most_once;
  auto r = verity::Open(o);
  if (!r) return ReportError(r.error().WithContext(fmt::format("verity open {}", name)));
  if (f.json) {
    PrintJson({{"name", name}, {"device", "/dev/mapper/" + name}});
  } else {
    std::printf("/dev/mapper/%s\n", name.c_str());
  }
  return kExitOk;
}

}  // namespace

void AddVerityCommands(CLI::App& app, CommandRunner& runner) {
  CLI::App* verity = app.add_subcommand("verity", "Build, check and activate dm-verity hash trees");
  verity->require_subcommand(1);

  {
    auto f = std::make_shared<TreeFlags>();
    auto seed = std::make_shared<std::optional<std::string>>();
    auto uuid = std::make_shared<std::optional<std::string>>();
    CLI::App* cmd = verity->add_subcommand(
        "format", "Build the hash tree of DATA and print the root hash (veritysetup format)");
    AddLocationFlags(cmd, f.get());
    AddParamFlags(cmd, f.get(), true);
    auto* salt = cmd->add_option("--salt", f->salt, "Salt as hex (\"-\" for none; default random)");
    auto* seed_opt = cmd->add_option("--seed", *seed,
                                     "Derive salt and UUID from this string (reproducible builds)");
    salt->excludes(seed_opt);
    cmd->add_option("--uuid", *uuid, "UUID stored in the superblock");
    cmd->add_flag("--json", f->json, "Print parameters and root hash as JSON");
    cmd->callback([f, seed, uuid, &runner] {
      runner.Set([f, seed, uuid] { return RunFormat(*f, *seed, *uuid); });
    });
  }
  {
    auto f = std::make_shared<TreeFlags>();
    auto root = std::make_shared<std::string>();
    CLI::App* cmd = verity->add_subcommand(
        "verify",
        "Check DATA and its hash tree against a root hash; names the first corrupt block");
    auto h = std::make_shared<HashArgs>();
    AddLocationFlags(cmd, f.get());
    AddHashPositionals(cmd, h.get());
    cmd->add_option("--root-hash", *root, "Expected root hash (hex)");
    AddParamFlags(cmd, f.get(), false);
    cmd->add_option("--salt", f->salt, "Salt as hex, \"-\" for none (only with --no-superblock)");
    cmd->add_flag("--json", f->json, "Print the result as JSON");
    cmd->callback([f, h, root, &runner] {
      runner.Set([f, h, root] {
        if (auto m = MergeHashArgs(*h, f.get(), root.get()); !m.empty()) return ReportUsage(m);
        return RunVerify(*f, *root);
      });
    });
  }
  {
    auto path = std::make_shared<std::string>();
    auto offset = std::make_shared<uint64_t>(0);
    auto json = std::make_shared<bool>(false);
    CLI::App* cmd = verity->add_subcommand("dump", "Print the verity superblock of a hash file");
    cmd->add_option("HASH_FILE", *path, "File or device holding the superblock")->required();
    cmd->add_option("--hash-offset", *offset, "Byte offset of the superblock")
        ->capture_default_str();
    cmd->add_flag("--json", *json, "Print as JSON");
    cmd->callback([=, &runner] { runner.Set([=] { return RunDump(*path, *offset, *json); }); });
  }
  {
    auto name = std::make_shared<std::string>();
    auto f = std::make_shared<TreeFlags>();
    auto root = std::make_shared<std::string>();
    auto sig = std::make_shared<std::string>();
    auto on_corruption = std::make_shared<std::string>("eio");
    auto ignore_zero = std::make_shared<bool>(false);
    auto at_most_once = std::make_shared<bool>(false);
    auto h = std::make_shared<HashArgs>();
    CLI::App* cmd = verity->add_subcommand(
        "open",
        "Activate /dev/mapper/NAME as a dm-verity device over DATA (libcryptsetup); arguments in "
        "veritysetup's order: DATA NAME [HASH_DEVICE ROOT_HASH]");
    AddLocationFlags(cmd, f.get());
    cmd->add_option("NAME", *name, "Device-mapper name")->required();
    AddHashPositionals(cmd, h.get());
    cmd->add_option("--root-hash", *root, "Root hash (hex)");
    cmd->add_option("--root-hash-signature", *sig,
                    "PKCS#7 signature of the root hash, checked by the kernel keyring");
    AddParamFlags(cmd, f.get(), false);
    cmd->add_option("--salt", f->salt, "Salt as hex, \"-\" for none (only with --no-superblock)");
    cmd->add_option("--on-corruption", *on_corruption, "eio, restart, panic or ignore")
        ->check(CLI::IsMember({"eio", "restart", "panic", "ignore"}))
        ->capture_default_str();
    cmd->add_flag("--ignore-zero-blocks", *ignore_zero, "Do not verify blocks that are all zero");
    cmd->add_flag("--check-at-most-once", *at_most_once, "Verify each data block only once");
    cmd->add_flag("--json", f->json, "Print the device as JSON");
    cmd->callback([=, &runner] {
      runner.Set([=] {
        if (auto m = MergeHashArgs(*h, f.get(), root.get()); !m.empty()) return ReportUsage(m);
        return RunOpen(*name, *f, *root, *sig, *on_corruption, *ignore_zero, *at_most_once);
      });
    });
  }
  {
    auto name = std::make_shared<std::string>();
    CLI::App* cmd = verity->add_subcommand("close", "Remove the dm-verity device NAME");
    cmd->add_option("NAME", *name, "Device-mapper name")->required();
    cmd->callback([=, &runner] {
      runner.Set([=] {
        auto r = verity::Close(*name);
        if (!r) return ReportError(r.error().WithContext(fmt::format("verity close {}", *name)));
        return static_cast<int>(kExitOk);
      });
    });
  }
}

}  // namespace basalt
