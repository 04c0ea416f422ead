// The host update flow, shared by basalt-updated and `basalt update apply --disk`: check the
// source, download the payload (resuming), apply it to the inactive slot (verify before write,
// from the last checkpoint), check the rebuilt verity root hash against the signed one, copy the
// new kernel and initramfs onto the ESP and make the slot next with a few tries. Every phase is
// persisted before it starts, so a restart continues where the last run stopped and a finished
// update is never redone.
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <string>

#include "common/error.h"
#include "common/keyring.h"
#include "common/log.h"
#include "daemon/host_trust.h"
#include "daemon/payload_download.h"
#include "daemon/slot_files.h"
#include "daemon/state_store.h"
#include "daemon/update_source.h"
#include "daemon/update_target.h"
#include "http/fetcher.h"

namespace basalt::payload {
class PayloadSource;
struct PayloadHead;
}  // namespace basalt::payload

namespace basalt::update {

struct FlowOptions {
  std::string channel;
  std::string machine_id;
  std::string boot_id;  // sent to an Omaha server with every request
  std::string oem;
  std::string app_id;              // Omaha app id; "" = the source's configured one
  std::optional<std::string> pin;  // PIN= or `--to VERSION`
  // An operator asked for exactly this version (`--to`): a release that rolled back on this host
  // is tried again.
  bool forced = false;
  // Only ask the source: record what is available (available_version, wait_reason) and stop.
  bool check_only = false;
  size_t threshold = 1;
  int tries = 3;              // boot attempts of the new slot before the fallback
  std::string extra_cmdline;  // appended to the new slot's kernel command line
  uint64_t max_kernel_bytes = 256ull << 20;
  uint64_t max_initrd_bytes = 512ull << 20;
  DownloadOptions download;
  std::chrono::milliseconds checkpoint_interval{1000};
  const std::atomic<bool>* cancel = nullptr;
  // Progress within the current phase (payload bytes downloaded / applied).
  std::function<void(Phase, uint64_t done, uint64_t total)> progress;
  // Called after every persisted change (the daemon emits PropertiesChanged).
  std::function<void(const UpdateState&)> on_change;
  // Reads files out of a slot's /usr (tests may swap it); default: OpenErofsSlotFiles.
  std::function<Result<std::unique_ptr<SlotFiles>>(const std::string& device,
                                                   const std::string& scratch)>
      open_slot_files;
};

// The Omaha error code (Flatcar update_engine's numbering) for a failed run: 9 download transfer,
// 10 payload hash/size mismatch, 18 payload signature verification, 1 anything else.
int OmahaErrorCode(const Error& e, Phase phase);

class UpdateFlow {
 public:
  UpdateFlow(UpdateSource& source, http::Fetcher& fetcher, const HostTrust& trust,
             UpdateTarget& target, StateStore& store, Logger& log, FlowOptions options);

  // Runs from the persisted phase to updated-need-reboot (or idle with a wait reason). The
  // returned state is what was persisted last. Errors are also recorded as last_error.
  Result<UpdateState> Run();

 private:
  Status Save();
  size_t PayloadThreshold() const;
  Status Check();
  Status CheckOfferedVersion(const UpdateOffer& offer, const HostFacts& facts);
  Status Download();
  Status Apply();
  Status Finalize();
  // Whether the host's boot backend installs a UKI per slot (taken from the payload).
  bool BootsUkis();
  Status CheckBootArtifacts(payload::PayloadSource& src, const payload::PayloadHead& head);
  Result<HostFacts> Facts();
  Status CheckActiveSlotHealthy();
  std::string PayloadFile(const PlannedPayload& p) const;
  Status Fail(Error e);
  // Forwards a progress event to the source (Omaha); a failure to report never fails the update.
  void Report(UpdateEvent event, int error_code = 0);

  UpdateSource& source_;
  http::Fetcher& fetcher_;
  const HostTrust& trust_;  // payload keys: the release role's, current after each check
  UpdateTarget& target_;
  StateStore& store_;
  Logger& log_;
  FlowOptions opt_;
  UpdateState st_;
  std::optional<HostFacts> facts_;  // from the last check, for the events
};

}  // namespace basalt::update
