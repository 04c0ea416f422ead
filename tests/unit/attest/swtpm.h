// A software TPM (swtpm) for tests: a fresh TPM 2.0 listening on 127.0.0.1, started and
// stopped with the test, reached through the "swtpm:" TCTI as a real TPM would be through
// "device:". Tests that need one skip, saying why, only when swtpm or its TCTI is not installed.
#pragma once

#include <optional>
#include <string>

namespace basalt::testing {

class Swtpm {
 public:
  // nullopt with `why` set when swtpm is not installed; aborts the test on other failures.
  static std::optional<Swtpm> Start(const std::string& state_dir, std::string* why);
  Swtpm(Swtpm&& o) noexcept;
  Swtpm& operator=(Swtpm&&) = delete;
  ~Swtpm();

  // A TCTI configuration for tpm::TpmContext::Open and for tpm2-tools (-T).
  std::string tcti() const;

 private:
  Swtpm(int pid, int port) : pid_(pid), port_(port) {}
  int pid_ = -1;
  int port_ = 0;
};

}  // namespace basalt::testing
