// Omaha v3 requests as Flatcar's update_engine sends them to Nebraska: one <app> with the
// host's identity, a ping, an <updatecheck/> or an <event/>. Built with pugixml, so every value
// is escaped.
#pragma once

#include <optional>
#include <string>

namespace basalt::fleet {

// Omaha event types and results used by update_engine and understood by Nebraska.
enum OmahaEventType : int {
  kOmahaEventUpdateComplete = 3,
  kOmahaEventDownloadStarted = 13,
  kOmahaEventDownloadFinished = 14,
};
enum OmahaEventResult : int {
  kOmahaResultError = 0,
  kOmahaResultSuccess = 1,
  kOmahaResultSuccessReboot = 2,
};

struct OmahaEvent {
  int type = 0;
  int result = 0;
  std::optional<int> error_code;  // only with result 0
  std::string previous_version;   // with 3/2: the version the host came from
};

struct OmahaRequest {
  std::string app_id;  // "{e96281a6-...}"
  std::string version;
  std::string track;  // channel / Nebraska group
  std::string machine_id;
  std::string boot_id;
  std::string oem;
  std::string platform = "Basalt";  // <os platform>
  std::string os_version;           // <os version>; defaults to the app version
  std::string board = "amd64-usr";  // Flatcar's board names the architecture
  std::string updater_version = "basalt-0.1";
  bool update_check = false;
  bool ping = true;
  std::optional<OmahaEvent> event;
};

std::string BuildOmahaRequest(const OmahaRequest& request);

}  // namespace basalt::fleet
