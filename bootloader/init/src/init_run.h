// basalt-init from start to hand-over: the steps (init_steps.h) in order, and what happens
// when one fails. main() only makes the real InitSystem and calls these; unit tests call them
// with a fake.
#pragma once

#include <optional>
#include <string>

#include "cmdline.h"
#include "common/error.h"
#include "init_system.h"

namespace basalt::init {

inline constexpr int kDeviceTimeoutMs = 15000;

struct InitFailure {
  std::string step;  // "find /usr", "open /usr with dm-verity", ...
  Error error;
  FailurePolicy policy;  // what the command line said to do, as far as it was read
};

// Mounts the slot's verity-protected /usr and ROOT and execs init=. With the real system it
// returns only on failure: the first step that failed, with the policy that applies. (A fake
// whose exec "succeeds" gets nullopt.)
std::optional<InitFailure> RunInit(InitSystem& sys);

// The failure policy before the command line parsed: a strict parse may be what failed, so
// only basalt.emergency=shell is looked for.
FailurePolicy EarlyPolicy(std::string_view cmdline);

// One line "FAILED: <step>: <why>", then per policy an emergency shell (/bin/sh, else busybox
// sh; rebooting when it exits) or straight to reboot, so the bootloader counts the attempt.
// With the real system it does not return.
void FailAndStop(InitSystem& sys, const InitFailure& failure);

}  // namespace basalt::init
