// The daemon's D-Bus names (docs/daemon.md): what the service registers and its clients call.
#pragma once

#include <optional>
#include <string_view>

#include "common/error.h"

namespace basalt::update {

inline constexpr std::string_view kBusName = "org.basalt.Update1";
inline constexpr std::string_view kObjectPath = "/org/basalt/Update1";
inline constexpr std::string_view kInterface = "org.basalt.Update1.Manager";

// One D-Bus error name per error kind, so a client maps a refused call to the exit code the
// offline command gives (docs/daemon.md). Policy keeps its original name, Refused; I/O and
// internal failures keep Failed.
struct DbusErrorKind {
  std::string_view name;
  ErrorKind kind;
};
inline constexpr DbusErrorKind kDbusErrors[] = {
    {"org.basalt.Update1.Error.Refused", ErrorKind::kPolicy},
    {"org.basalt.Update1.Error.InvalidInput", ErrorKind::kInvalidInput},
    {"org.basalt.Update1.Error.Integrity", ErrorKind::kIntegrity},
    {"org.basalt.Update1.Error.NotFound", ErrorKind::kNotFound},
    {"org.basalt.Update1.Error.Unsupported", ErrorKind::kUnsupported},
    {"org.basalt.Update1.Error.Failed", ErrorKind::kIo},
};

inline std::string_view DbusErrorName(ErrorKind kind) {
  for (const DbusErrorKind& e : kDbusErrors) {
    if (e.kind == kind) return e.name;
  }
  return "org.basalt.Update1.Error.Failed";  // kInternal
}

// The kind a basalt-updated error name stands for; nullopt for a name it does not send.
inline std::optional<ErrorKind> ErrorKindOfDbusError(std::string_view name) {
  for (const DbusErrorKind& e : kDbusErrors) {
    if (e.name == name) return e.kind;
  }
  return std::nullopt;
}

}  // namespace basalt::update
