// The daemon's D-Bus names (docs/daemon.md): what the service registers and its clients call.
#pragma once

#include <string_view>

namespace basalt::update {

inline constexpr std::string_view kBusName = "org.basalt.Update1";
inline constexpr std::string_view kObjectPath = "/org/basalt/Update1";
inline constexpr std::string_view kInterface = "org.basalt.Update1.Manager";

}  // namespace basalt::update
