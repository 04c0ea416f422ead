#include "polkit_check.h"

#include <fmt/format.h>

#include "common/printable.h"

namespace basalt::update {
namespace {

constexpr char kPolkitName[] = "org.freedesktop.PolicyKit1";
constexpr char kPolkitPath[] = "/org/freedesktop/PolicyKit1/Authority";
constexpr char kPolkitInterface[] = "org.freedesktop.PolicyKit1.Authority";

struct MessageDeleter {
  void operator()(sd_bus_message* m) const { sd_bus_message_unref(m); }
};
using MessagePtr = std::unique_ptr<sd_bus_message, MessageDeleter>;

struct BusError {
  sd_bus_error e = SD_BUS_ERROR_NULL;
  BusError() = default;
  BusError(const BusError&) = delete;
  BusError& operator=(const BusError&) = delete;
  ~BusError() { sd_bus_error_free(&e); }
};

Status Marshal(int r, std::string_view what) {
  if (r < 0) return std::unexpected(Error::FromErrno(-r, fmt::format("polkit request: {}", what)));
  return {};
}

// CheckAuthorization(subject (sa{sv}), action_id s, details a{ss}, flags u, cancellation_id s).
Result<MessagePtr> Request(sd_bus* bus, std::string_view sender, std::string_view action_id) {
  sd_bus_message* raw = nullptr;
  BASALT_RETURN_IF_ERROR(
      Marshal(sd_bus_message_new_method_call(bus, &raw, kPolkitName, kPolkitPath, kPolkitInterface,
                                             "CheckAuthorization"),
              "new method call"));
  MessagePtr m(raw);
  const std::string name(sender);
  const std::string action(action_id);
  // The subject is the caller's bus name, not its pid: polkitd resolves the name to its uid and
  // process through the bus itself, so a caller that exits and whose pid is reused cannot be
  // mistaken for another process.
  int r = sd_bus_message_open_container(m.get(), 'r', "sa{sv}");
  if (r >= 0) r = sd_bus_message_append(m.get(), "s", "system-bus-name");
  if (r >= 0) r = sd_bus_message_open_container(m.get(), 'a', "{sv}");
  if (r >= 0) r = sd_bus_message_append(m.get(), "{sv}", "name", "s", name.c_str());
  if (r >= 0) r = sd_bus_message_close_container(m.get());
  if (r >= 0) r = sd_bus_message_close_container(m.get());
  if (r >= 0) r = sd_bus_message_append(m.get(), "s", action.c_str());
  if (r >= 0) r = sd_bus_message_open_container(m.get(), 'a', "{ss}");
  if (r >= 0) r = sd_bus_message_close_container(m.get());
  // Flags 0: no AllowUserInteraction; cancellation id "": never cancelled.
  if (r >= 0) r = sd_bus_message_append(m.get(), "us", 0u, "");
  BASALT_RETURN_IF_ERROR(Marshal(r, "arguments"));
  return m;
}

class Polkit final : public Authority {
 public:
  Polkit(sd_bus* bus, uint64_t timeout_usec) : bus_(bus), timeout_usec_(timeout_usec) {}

  Result<bool> Check(std::string_view sender, std::string_view action_id) override {
    BASALT_ASSIGN_OR_RETURN(MessagePtr request, Request(bus_, sender, action_id));
    BusError error;
    sd_bus_message* raw_reply = nullptr;
    int r = sd_bus_call(bus_, request.get(), timeout_usec_, &error.e, &raw_reply);
    MessagePtr reply(raw_reply);
    if (r < 0) return CallFailed(r, error.e);
    // The result (bba{ss}): is_authorized, is_challenge, details. A challenge (the caller could
    // authenticate) is still a no: the call was not interactive.
    int authorized = 0;
    int challenge = 0;
    r = sd_bus_message_enter_container(reply.get(), 'r', "bba{ss}");
    if (r >= 0) r = sd_bus_message_read(reply.get(), "bb", &authorized, &challenge);
    if (r < 0) {
      return std::unexpected(
          Error::FromErrno(-r, "polkit's CheckAuthorization answer is not (bba{ss})"));
    }
    return authorized != 0;
  }

 private:
  Result<bool> CallFailed(int r, const sd_bus_error& e) const {
    if (sd_bus_error_has_names(&e, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER)) {
      return Fail(ErrorKind::kNotFound,
                  fmt::format("polkit is unavailable ({} is not on the bus)", kPolkitName));
    }
    if (r == -ETIMEDOUT || sd_bus_error_has_name(&e, SD_BUS_ERROR_NO_REPLY)) {
      return Failf(ErrorKind::kIo, "polkit is unavailable (no answer within {} ms)",
                   timeout_usec_ / 1000);
    }
    const std::string text = e.message != nullptr ? e.message : "";
    return Failf(ErrorKind::kIo, "polkit could not decide (CheckAuthorization failed: {}{}{})",
                 e.name != nullptr ? e.name : Error::FromErrno(-r, "call").message(),
                 text.empty() ? "" : ": ", Printable(text, 512));
  }

  sd_bus* bus_;
  uint64_t timeout_usec_;
};

}  // namespace

std::unique_ptr<Authority> PolkitAuthority(sd_bus* bus, uint64_t timeout_usec) {
  return std::make_unique<Polkit>(bus, timeout_usec);
}

AuthDecision Decide(uid_t euid, std::string_view sender, std::string_view action_id,
                    Authority& authority) {
  if (euid == 0) return {true, ""};
  if (sender.empty()) {
    return {false, "the caller has no bus name to ask polkit about: only root may change updates"};
  }
  auto allowed = authority.Check(sender, action_id);
  if (!allowed) {
    return {false, allowed.error().message() + ": only root may change updates"};
  }
  if (!*allowed) {
    return {false, fmt::format("not authorized for {} by polkit: only root, or a user a polkit "
                               "rule grants the action, may change updates",
                               action_id)};
  }
  return {true, ""};
}

}  // namespace basalt::update
