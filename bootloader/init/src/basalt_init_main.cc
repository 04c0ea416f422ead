// basalt-init: PID 1 of the initramfs. Mounts the verity-protected /usr of the slot the
// bootloader chose and the writable ROOT, then hands over to the real init. On any failure it
// prints one line saying what failed and reboots (so the bootloader's tries count down) or
// opens an emergency shell with basalt.emergency=shell. It never waits forever. The work is in
// init_run.h and init_steps.h, on the system through init_system.h.
#include <unistd.h>

#include <memory>

#include "init_run.h"
#include "init_system.h"

using namespace basalt::init;

int main(int argc, char** argv) {
  if (::getpid() != 1 && !(argc > 1 && std::string_view(argv[1]) == "--not-pid1")) {
    fmt::print(stderr, "basalt-init is the initramfs's PID 1; it does not run on a booted host\n");
    return 2;
  }
  std::unique_ptr<InitSystem> sys = NewLinuxInitSystem();
  if (std::optional<InitFailure> failure = RunInit(*sys)) FailAndStop(*sys, *failure);
  return 1;  // the real system execs init= or reboots: neither returns
}
