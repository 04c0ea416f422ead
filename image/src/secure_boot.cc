#include "image/secure_boot.h"

#include <stdio.h>

#include <chrono>
#include <filesystem>
#include <string_view>

#include "common/atomic_file.h"
#include "common/fd.h"
#include "common/subprocess.h"

namespace basalt {
namespace {

constexpr std::string_view kPkcs11Prefix = "pkcs11:";

// sbsign and sbverify with stdin from /dev/null and no terminal to ask on: OpenSSL prompts for a
// passphrase or PIN on /dev/tty, not stdin, so a child that neither reads nor writes for a
// minute is taken to be waiting there and is killed. The caller's environment passes through:
// OPENSSL_CONF and the PKCS#11 module's settings are how an HSM key is reached.
Command SbTool(std::vector<std::string> argv) {
  Command c(std::move(argv));
  c.env = {{"LC_ALL", "C"}};
  c.stderr_mode = Command::Stderr::kMerge;
  c.stall_timeout = std::chrono::minutes(1);
  return c;
}

// An encrypted PEM key would make sbsign prompt; refuse it before that can happen.
Status CheckKeyFile(const std::string& key) {
  BASALT_ASSIGN_OR_RETURN(std::string pem, ReadFileToString(key));
  if (pem.find("ENCRYPTED") != std::string::npos) {
    return Failf(ErrorKind::kUnsupported,
                 "Secure Boot key {} is encrypted; sbsign would ask for its passphrase (decrypt "
                 "it with `openssl pkey`, or give a pkcs11: URI)",
                 key);
  }
  if (pem.find("PRIVATE KEY-----") == std::string::npos) {
    return Failf(ErrorKind::kInvalidInput, "Secure Boot key {} holds no PEM private key", key);
  }
  return {};
}

}  // namespace

Status SignEfiBinary(const SecureBootSigner& s, const std::string& in, const std::string& out) {
  std::vector<std::string> argv = {"sbsign"};
  if (s.key.starts_with(kPkcs11Prefix)) {
    argv.insert(argv.end(), {"--engine", "pkcs11"});
  } else {
    BASALT_RETURN_IF_ERROR(CheckKeyFile(s.key));
  }
  if (!std::filesystem::is_regular_file(s.cert)) {
    return Failf(ErrorKind::kNotFound, "Secure Boot certificate {} is not a file", s.cert);
  }
  const std::string tmp = out + ".sbsign-tmp";
  argv.insert(argv.end(), {"--key", s.key, "--cert", s.cert, "--output", tmp, in});
  Status signed_ok = [&]() -> Status {
    BASALT_RETURN_IF_ERROR(RunCommandOk(SbTool(std::move(argv))));
    BASALT_RETURN_IF_ERROR(FsyncFile(tmp));
    if (::rename(tmp.c_str(), out.c_str()) != 0) return FailErrno("rename " + tmp + " to " + out);
    const auto dir = std::filesystem::path(out).parent_path();
    return FsyncDirectory(dir.empty() ? "." : dir.string());
  }();
  if (!signed_ok) {
    std::error_code ec;  // best effort: a partial temp file is only clutter
    std::filesystem::remove(tmp, ec);
    return std::unexpected(std::move(signed_ok).error().WithContext("sign " + in));
  }
  return {};
}

Status VerifyEfiBinary(const std::string& cert, const std::string& file) {
  if (!std::filesystem::is_regular_file(cert)) {
    return Failf(ErrorKind::kNotFound, "Secure Boot certificate {} is not a file", cert);
  }
  if (!std::filesystem::is_regular_file(file)) {
    return Failf(ErrorKind::kNotFound, "EFI binary {} is not a file", file);
  }
  // sbverify warns about gaps between sections on objcopy's output and still exits 0; any
  // non-zero exit is a signature that does not verify (or none).
  BASALT_ASSIGN_OR_RETURN(CommandResult r, RunCommand(SbTool({"sbverify", "--cert", cert, file})));
  if (!r.ok()) {
    std::string_view why = r.out;
    while (why.ends_with('\n'))
      why.remove_suffix(1);
    why = why.substr(why.rfind('\n') + 1);  // its verdict is the last line
    return Failf(ErrorKind::kIntegrity, "{} is not signed by {} (sbverify {}: {})", file, cert,
                 r.Ending(), why);
  }
  return {};
}

}  // namespace basalt
