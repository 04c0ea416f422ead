#include "image/image_cli.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "boot/backends.h"
#include "common/fd.h"
#include "common/log.h"
#include "common/subprocess.h"
#include "common/termination.h"
#include "common/version.h"
#include "image/builder.h"
#include "image/definition.h"

#ifndef BASALT_VERSION
#define BASALT_VERSION "0.0.0"
#endif

namespace basalt {
namespace {

struct BuildFlags {
  std::string rootfs;
  std::string output;
  std::string definition;
  std::string version;
  std::string os_name;
  std::string seed;
  std::optional<int64_t> source_date_epoch;
  std::string usr_compression;
  std::string usr_size;
  std::string root_size;
  std::string esp_size;
  std::string oem_size;
  std::string max_input_size;
  std::string kernel_cmdline;
  std::string boot_backend;
  std::string init;
  std::string secure_boot_key;
  std::string pcr_policy_key;
  std::string secure_boot_cert;
  bool json = false;
};

// Unprivileged builds run inside one fakeroot session, so staged files can carry the owners
// the input says (archive headers, or the directory as stat(2) reports it) and mkfs.erofs /
// mkfs.ext4 -d, which inherit the session, write those owners into the image.
int ReexecUnderFakeroot() {
  auto fakeroot = FindProgram("fakeroot");
  if (!fakeroot) {
    return ReportError(Error(ErrorKind::kNotFound,
                             "building as a non-root user needs fakeroot (Debian package fakeroot) "
                             "to keep file owners; install it or build as root"));
  }
  auto cmdline = ReadFileToString("/proc/self/cmdline");
  if (!cmdline) return ReportError(cmdline.error());
  // fakeroot is a shell script: hand it our real path, not /proc/self/exe.
  std::error_code ec;
  std::string self = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  if (ec) return ReportError(Error(ErrorKind::kIo, "readlink /proc/self/exe: " + ec.message()));
  std::vector<std::string> args = {*fakeroot, "--", self};
  size_t pos = cmdline->find('\0');  // skip argv[0]
  while (pos != std::string::npos && pos + 1 < cmdline->size()) {
    size_t end = cmdline->find('\0', pos + 1);
    args.push_back(cmdline->substr(pos + 1, end - pos - 1));
    pos = end;
  }
  // libfakeroot is preloaded ahead of the sanitizer runtime in ASan builds.
  std::string asan = getenv("ASAN_OPTIONS") ? getenv("ASAN_OPTIONS") : "";
  setenv("ASAN_OPTIONS",
         (asan.empty() ? "" : asan + ":").append("verify_asan_link_order=0").c_str(), 1);
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  // fakeroot and the build under it must not inherit the termination signals main() blocked.
  RestoreSignalMask();
  execv(argv[0], argv.data());
  return ReportError(Error::FromErrno("exec " + *fakeroot));
}

int RunBuild(const BuildFlags& f, const CommandRunner& runner) {
  if (geteuid() != 0 && getenv("FAKEROOTKEY") == nullptr) return ReexecUnderFakeroot();
  image::ImageDefinition def;
  if (!f.definition.empty()) {
    auto loaded = image::LoadDefinition(f.definition);
    if (!loaded) return ReportError(loaded.error());
    def = std::move(*loaded);
  }
  if (!f.version.empty()) {
    if (auto v = CheckVersion(f.version, "--version"); !v) return ReportError(v.error());
    def.version = f.version;
  }
  if (!f.os_name.empty()) def.os_name = f.os_name;
  if (!f.seed.empty()) def.seed = f.seed;
  if (f.source_date_epoch) {
    def.source_date_epoch = *f.source_date_epoch;
  } else if (!def.source_date_epoch && getenv("SOURCE_DATE_EPOCH") != nullptr) {
    char* end = nullptr;
    const char* env = getenv("SOURCE_DATE_EPOCH");
    long long v = strtoll(env, &end, 10);
    if (*env == '\0' || *end != '\0' || v < 0) {
      return ReportError(
          Error(ErrorKind::kInvalidInput,
                fmt::format("SOURCE_DATE_EPOCH '{}' is not a non-negative integer", env)));
    }
    def.source_date_epoch = v;
  }
  if (!f.usr_compression.empty()) {
    if (f.usr_compression == "none")
      def.usr_compression = image::UsrCompression::kNone;
    else if (f.usr_compression == "lz4hc")
      def.usr_compression = image::UsrCompression::kLz4hc;
    else
      return ReportError(
          Error(ErrorKind::kInvalidInput, "--usr-compression must be none or lz4hc"));
  }
  struct SizeFlag {
    const std::string& text;
    uint64_t* out;
    const char* name;
  };
  for (SizeFlag s : {SizeFlag{f.usr_size, &def.sizes.usr, "--usr-size"},
                     SizeFlag{f.root_size, &def.sizes.root, "--root-size"},
                     SizeFlag{f.esp_size, &def.sizes.esp, "--esp-size"},
                     SizeFlag{f.oem_size, &def.sizes.oem, "--oem-size"}}) {
    if (s.text.empty()) continue;
    auto v = image::ParseSize(s.text);
    if (!v) return ReportError(v.error().WithContext(s.name));
    *s.out = *v;
  }
  if (!f.max_input_size.empty()) {
    auto v = image::ParseSize(f.max_input_size);
    if (!v) return ReportError(v.error().WithContext("--max-input-size"));
    def.max_input_size = *v;
  }
  if (!f.kernel_cmdline.empty()) def.kernel_cmdline = f.kernel_cmdline;
  if (!f.boot_backend.empty()) def.boot_backend = f.boot_backend;
  std::string init = f.init;
  if (init.empty()) {
    // basalt-init sits next to basalt in a build tree (out/<preset>/bin) and in
    // PREFIX/libexec/basalt/ when installed (it is not a command users run).
    std::error_code ec;
    auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) return ReportError(Error(ErrorKind::kNotFound, "cannot read /proc/self/exe"));
    init = (self.parent_path() / "basalt-init").string();
    std::string installed = (self.parent_path() / "../libexec/basalt/basalt-init").string();
    if (access(init.c_str(), X_OK) != 0 && access(installed.c_str(), X_OK) == 0) init = installed;
  }
  if (access(init.c_str(), X_OK) != 0) {
    return ReportError(Error(
        ErrorKind::kNotFound,
        fmt::format("basalt-init not found at {} (build the basalt-init target, or pass --init)",
                    init)));
  }

  StderrLogger log(runner.LogLevelOr(f.json ? LogLevel::kWarning : LogLevel::kInfo));
  image::BuildRequest req{f.rootfs, f.output, def, BASALT_VERSION, init, std::nullopt};
  if (f.secure_boot_key.empty() != f.secure_boot_cert.empty()) {
    return ReportError(Error(ErrorKind::kInvalidInput,
                             "image build: --secure-boot-key and --secure-boot-cert go together"));
  }
  if (!f.secure_boot_key.empty()) {
    req.secure_boot = SecureBootSigner{f.secure_boot_key, f.secure_boot_cert};
  }
  if (!f.pcr_policy_key.empty()) req.pcr_policy_key = f.pcr_policy_key;
  auto record = image::BuildImage(req, log);
  if (!record) return ReportError(record.error().WithContext("image build"));
  // Re-parsed so invalid UTF-8 from the definition is already replaced, as in image.json.
  if (f.json) {
    PrintJson(nlohmann::json::parse(
        record->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
  }
  return kExitOk;
}

}  // namespace

void AddImageCommands(CLI::App& app, CommandRunner& runner) {
  CLI::App* image = app.add_subcommand("image", "Build disk images and /usr slot images");
  image->require_subcommand(1);
  auto flags = std::make_shared<BuildFlags>();
  CLI::App* build = image->add_subcommand(
      "build", "Build disk.img, usr.img, image.json and sbom.spdx.json from a root filesystem");
  build
      ->add_option("--rootfs", flags->rootfs,
                   "Root filesystem: a directory, a tarball (.tar, .tar.gz, .tar.zst, .tar.xz) "
                   "or an OCI image layout directory")
      ->required();
  build->add_option("--output", flags->output, "Output directory (must not exist or be empty)")
      ->required();
  build->add_option("--definition", flags->definition, "Image definition TOML file");
  build->add_option("--version", flags->version, "Image version (overrides the definition)");
  build->add_option("--os-name", flags->os_name, "OS name (overrides the definition)");
  build->add_option("--seed", flags->seed,
                    "Seed for GUIDs, UUIDs and the verity salt (default: the input digest)");
  build->add_option("--source-date-epoch", flags->source_date_epoch,
                    "Timestamp for every file and filesystem (default: definition, then "
                    "$SOURCE_DATE_EPOCH, then the newest mtime of the input)");
  build->add_option("--usr-compression", flags->usr_compression, "none or lz4hc");
  build->add_option("--usr-size", flags->usr_size, "Size of USR-A and USR-B, e.g. 1GiB");
  build->add_option("--root-size", flags->root_size, "Size of ROOT, e.g. 1GiB");
  build->add_option("--esp-size", flags->esp_size, "Size of EFI-SYSTEM, e.g. 256MiB");
  build->add_option("--oem-size", flags->oem_size, "Size of OEM, e.g. 128MiB");
  build->add_option("--max-input-size", flags->max_input_size,
                    "Most bytes the input may stage (file sizes, sparse or not), e.g. 8GiB "
                    "(default: twice --usr-size + --root-size)");
  build->add_option("--kernel-cmdline", flags->kernel_cmdline, "Extra kernel command line");
  build->add_option("--boot-backend", flags->boot_backend, boot::JoinBootBackendNames(" or "))
      ->check(CLI::IsMember(boot::BootBackendNames()));
  build->add_option("--secure-boot-key", flags->secure_boot_key,
                    "Secure Boot db key that signs the UKIs and systemd-boot (uki backend): a PEM "
                    "file or a pkcs11: URI");
  build->add_option("--secure-boot-cert", flags->secure_boot_cert,
                    "Its X.509 certificate (PEM), as enrolled in the firmware's db");
  build->add_option("--pcr-policy-key", flags->pcr_policy_key,
                    "PCR policy key (RSA-2048 PEM, `basalt keys pcr-policy`): each UKI carries its "
                    "public half and signed TPM2 policies for its own PCR 11 values (uki backend)");
  build->add_option("--init", flags->init,
                    "basalt-init binary for the initramfs (default: next to this basalt)");
  build->add_flag("--json", flags->json, "Print image.json on stdout");
  build->callback(
      [flags, &runner] { runner.Set([flags, &runner] { return RunBuild(*flags, runner); }); });
}

}  // namespace basalt
