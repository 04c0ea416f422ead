#include "repo/keys_cli.h"

#include <sys/stat.h>

#include <filesystem>
#include <iostream>
#include <memory>

#include "common/atomic_file.h"
#include "common/fd.h"
#include "common/signing.h"

namespace basalt {
namespace {
namespace fs = std::filesystem;

struct KeyDescription {
  std::string file;
  std::string id;
  std::string type;
  int bits = 0;
  bool is_private = false;
};

// A key file may hold a public or a private key; a URI names a private key in a store.
Result<KeyDescription> Describe(const std::string& path_or_uri) {
  KeyDescription d;
  d.file = path_or_uri;
  auto text = ReadFileToString(path_or_uri);
  if (text && text->find("PUBLIC KEY-----") != std::string::npos) {
    BASALT_ASSIGN_OR_RETURN(PublicKey pub, PublicKey::FromPem(*text));
    d.id = pub.id();
    d.type = std::string(KeyTypeName(pub.type()));
    d.bits = pub.bits();
    return d;
  }
  BASALT_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::Load(path_or_uri));
  d.id = key.id();
  d.type = std::string(KeyTypeName(key.public_key().type()));
  d.bits = key.public_key().bits();
  d.is_private = true;
  return d;
}

nlohmann::json ToJson(const KeyDescription& d) {
  return {{"file", d.file},
          {"key_id", d.id},
          {"type", d.type},
          {"bits", d.bits},
          {"private", d.is_private}};
}

void AddGenerate(CLI::App& keys, CommandRunner& runner) {
  auto* cmd = keys.add_subcommand("generate", "Generate a signing key pair");
  auto dir = std::make_shared<std::string>();
  auto type = std::make_shared<std::string>("ed25519");
  auto json = std::make_shared<bool>(false);
  cmd->add_option("--output", *dir, "Directory for <keyid>.pem (0600) and <keyid>.pub.pem")
      ->required();
  cmd->add_option("--type", *type, "Key type")
      ->check(CLI::IsMember({"ed25519", "p256", "rsa3072", "rsa4096"}));
  cmd->add_flag("--json", *json, "Print the result as JSON");
  cmd->callback([&runner, dir, type, json] {
    runner.Set([dir, type, json]() -> int {
      KeyType kt = KeyType::kEd25519;
      int bits = 0;
      if (*type == "p256") kt = KeyType::kEcdsaP256;
      if (*type == "rsa3072") kt = KeyType::kRsaPss, bits = 3072;
      if (*type == "rsa4096") kt = KeyType::kRsaPss, bits = 4096;
      auto key = PrivateKey::Generate(kt, bits == 0 ? 3072 : bits);
      if (!key) return ReportError(key.error());
      auto pem = key->ToPem();
      if (!pem) return ReportError(pem.error());
      std::error_code ec;
      // A directory made here holds private keys: owner only.
      if (fs::create_directories(*dir, ec) && !ec) {
        fs::permissions(*dir, fs::perms::owner_all, ec);
      }
      if (ec)
        return ReportError(Error(ErrorKind::kIo, fmt::format("create {}: {}", *dir, ec.message())));
      std::string priv = fmt::format("{}/{}.pem", *dir, key->id());
      std::string pub = fmt::format("{}/{}.pub.pem", *dir, key->id());
      if (auto s = WriteFileAtomic(priv, *pem, 0600); !s) return ReportError(s.error());
      // WriteFileAtomic honours the umask; a private key must not be readable by others.
      if (::chmod(priv.c_str(), 0600) != 0) return ReportError(Error::FromErrno("chmod " + priv));
      if (auto s = WriteFileAtomic(pub, key->public_key().ToPem(), 0644); !s) {
        return ReportError(s.error());
      }
      if (*json) {
        PrintJson({{"key_id", key->id()}, {"type", *type}, {"private", priv}, {"public", pub}});
      } else {
        std::cout << key->id() << "\n";
        std::cerr << "basalt: wrote " << priv << " and " << pub << "\n";
      }
      return kExitOk;
    });
  });
}

void AddList(CLI::App& keys, CommandRunner& runner) {
  auto* cmd = keys.add_subcommand("list", "List the keys (*.pem) in a directory with their ids");
  auto dir = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("dir,--dir", *dir, "Key directory")->required();
  cmd->add_flag("--json", *json, "Print the result as JSON");
  cmd->callback([&runner, dir, json] {
    runner.Set([dir, json]() -> int {
      std::error_code ec;
      std::vector<std::string> files;
      for (const auto& e : fs::directory_iterator(*dir, ec)) {
        if (e.path().extension() == ".pem") files.push_back(e.path().string());
      }
      if (ec)
        return ReportError(
            Error(ErrorKind::kNotFound, fmt::format("list {}: {}", *dir, ec.message())));
      std::sort(files.begin(), files.end());
      nlohmann::json out = nlohmann::json::array();
      int rc = kExitOk;
      for (const auto& f : files) {
        auto d = Describe(f);
        if (!d) {
          rc = ReportError(d.error());
          continue;
        }
        if (*json) {
          out.push_back(ToJson(*d));
        } else {
          std::cout << fmt::format("{}  {:<10} {:>4}  {:<7}  {}\n", d->id, d->type, d->bits,
                                   d->is_private ? "private" : "public", f);
        }
      }
      if (*json) PrintJson(out);
      return rc;
    });
  });
}

void AddShow(CLI::App& keys, CommandRunner& runner) {
  auto* cmd = keys.add_subcommand("show", "Show a key's id, type and size");
  auto key = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("key", *key, "Key file (public or private PEM) or OpenSSL store URI")->required();
  cmd->add_flag("--json", *json, "Print the result as JSON");
  cmd->callback([&runner, key, json] {
    runner.Set([key, json]() -> int {
      auto d = Describe(*key);
      if (!d) return ReportError(d.error());
      if (*json) {
        PrintJson(ToJson(*d));
      } else {
        std::cout << fmt::format("key id: {}\ntype:   {}\nbits:   {}\nkind:   {}\n", d->id, d->type,
                                 d->bits, d->is_private ? "private" : "public");
      }
      return kExitOk;
    });
  });
}

void AddExportPublic(CLI::App& keys, CommandRunner& runner) {
  auto* cmd = keys.add_subcommand("export-public", "Print the public key PEM of a private key");
  auto key = std::make_shared<std::string>();
  cmd->add_option("key", *key, "Private key PEM file or OpenSSL store URI")->required();
  cmd->callback([&runner, key] {
    runner.Set([key]() -> int {
      auto k = PrivateKey::Load(*key);
      if (!k) return ReportError(k.error());
      std::cout << k->public_key().ToPem();
      return kExitOk;
    });
  });
}

}  // namespace

void AddKeysCommands(CLI::App& app, CommandRunner& runner) {
  auto* keys = app.add_subcommand(
      "keys",
      "Generate and inspect signing keys; create, rotate and revoke the repository's roles");
  keys->require_subcommand(1);
  AddGenerate(*keys, runner);
  AddList(*keys, runner);
  AddShow(*keys, runner);
  AddExportPublic(*keys, runner);
  AddRootKeysCommands(*keys, runner);
  AddSecureBootKeysCommand(*keys, runner);
  AddPcrPolicyKeysCommand(*keys, runner);
}

}  // namespace basalt
