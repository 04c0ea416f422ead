// Who may call the daemon's privileged methods: root, or whoever polkit authorizes for the
// method's action (org.basalt.update1.policy). The polkit client sits behind Authority so the
// decision can be tested without a polkitd.
#pragma once

#include <sys/types.h>
#include <systemd/sd-bus.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/error.h"

namespace basalt::update {

// The polkit action ids of the privileged methods (units/org.basalt.update1.policy).
inline constexpr char kActionCheck[] = "org.basalt.update1.check";
inline constexpr char kActionApply[] = "org.basalt.update1.apply";
inline constexpr char kActionRollback[] = "org.basalt.update1.rollback";
inline constexpr char kActionMarkGood[] = "org.basalt.update1.mark-good";
inline constexpr char kActionCancel[] = "org.basalt.update1.cancel";

class Authority {
 public:
  virtual ~Authority() = default;
  // Whether the bus client `sender` (a unique name, ":1.42") may do `action_id` without being
  // asked to authenticate. An error: the authority could not be asked (polkit not on the bus,
  // timed out, a malformed answer).
  virtual Result<bool> Check(std::string_view sender, std::string_view action_id) = 0;
};

// org.freedesktop.PolicyKit1.Authority.CheckAuthorization on `bus`, for the subject
// ("system-bus-name", {"name": sender}), no details, flags 0 (never interactive: a daemon has
// no one to prompt). Synchronous, but bounded by `timeout_usec`, so a hung polkitd delays one
// call and cannot stop the event loop for good. `bus` must outlive the authority.
std::unique_ptr<Authority> PolkitAuthority(sd_bus* bus, uint64_t timeout_usec = 5'000'000);

struct AuthDecision {
  bool allowed = false;
  std::string message = {};  // why not, for the caller (access denied); empty when allowed
};

// Root (effective uid 0) is allowed without asking polkit, as before polkit was consulted, so a
// host without polkit still works for root. Anyone else is asked of `authority`; no sender (a
// peer-to-peer connection) cannot be named to polkit and is refused.
AuthDecision Decide(uid_t euid, std::string_view sender, std::string_view action_id,
                    Authority& authority);

}  // namespace basalt::update
