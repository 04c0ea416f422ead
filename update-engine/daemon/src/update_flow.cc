#include "daemon/update_flow.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <thread>

#include "common/atomic_file.h"
#include "common/hex.h"
#include "common/printable.h"
#include "common/time_util.h"
#include "kernel_args.h"
#include "payload/applier.h"
#include "payload/boot_artifact_reader.h"
#include "payload/boot_artifacts.h"
#include "payload/reader.h"
#include "payload/source.h"
#include "repo/names.h"

namespace basalt::update {
namespace {

namespace fs = std::filesystem;

// Room on the ESP beyond the two files: FAT cluster rounding and the new directory entries.
constexpr uint64_t kEspSlack = 1 << 20;

std::vector<LogField> Fields(const UpdateState& s, std::string_view channel) {
  std::vector<LogField> f = {{"STATE", std::string(PhaseName(s.phase))},
                             {"CHANNEL", std::string(channel)}};
  if (!s.version.empty()) f.push_back({"VERSION", s.version});
  if (!s.last_error.empty()) f.push_back({"ERROR", s.last_error});
  if (!s.last_error_code.empty()) f.push_back({"ERROR_CODE", s.last_error_code});
  if (!s.wait_reason_code.empty()) f.push_back({"WAIT_REASON_CODE", s.wait_reason_code});
  return f;
}

PlannedPayload Plan(const OfferedPayload& p) {
  PlannedPayload out;
  out.delta = p.delta;
  out.from_version = p.from_version;
  out.url = p.urls.empty() ? std::string() : p.urls.front();
  if (p.urls.size() > 1) out.mirrors.assign(p.urls.begin() + 1, p.urls.end());
  out.size = p.size;
  out.sha256 = p.sha256;
  return out;
}

bool Cancelled(const std::atomic<bool>* c) {
  return c != nullptr && c->load();
}

uint64_t FileSize(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

// dir/name -> target, replaced atomically.
Result<std::string> StableLink(const std::string& dir, const std::string& name,
                               const std::string& target) {
  std::string link = dir + "/" + name, tmp = link + ".tmp";
  ::unlink(tmp.c_str());
  if (::symlink(target.c_str(), tmp.c_str()) != 0) return FailErrno("symlink " + tmp);
  if (::rename(tmp.c_str(), link.c_str()) != 0) return FailErrno("rename " + tmp);
  return link;
}

}  // namespace

int OmahaErrorCode(const Error& e, Phase phase) {
  if (e.kind() == ErrorKind::kIo && phase == Phase::kDownloading) return 9;
  if (e.kind() == ErrorKind::kIntegrity) return phase == Phase::kDownloading ? 10 : 18;
  return 1;
}

UpdateFlow::UpdateFlow(UpdateSource& source, http::Fetcher& fetcher, const HostTrust& trust,
                       UpdateTarget& target, StateStore& store, Logger& log, FlowOptions options)
    : source_(source),
      fetcher_(fetcher),
      trust_(trust),
      target_(target),
      store_(store),
      log_(log),
      opt_(std::move(options)) {
  if (!opt_.open_slot_files) opt_.open_slot_files = OpenErofsSlotFiles;
}

size_t UpdateFlow::PayloadThreshold() const {
  return std::max(opt_.threshold, trust_.payload_threshold());
}

Status UpdateFlow::Save() {
  BASALT_RETURN_IF_ERROR(store_.Save(st_));
  if (opt_.on_change) opt_.on_change(st_);
  return {};
}

Status UpdateFlow::Fail(Error e) {
  // One line of valid UTF-8, whatever a server put into the message: the state file, the D-Bus
  // property and the journal all carry it.
  // URLs without credentials or token values (SERVER may carry both): LastError is readable
  // by every local user.
  SetLastError(st_, Printable(http::RedactUrls(e.message()), 4096), e.code());
  log_.Error(st_.last_error, Fields(st_, opt_.channel));
  if (auto s = Save(); !s) log_.Error("cannot record the error: " + s.error().message());
  return std::unexpected(std::move(e));
}

void UpdateFlow::Report(UpdateEvent event, int error_code) {
  if (!facts_) {
    auto facts = Facts();
    if (!facts) {
      log_.Warn("cannot report progress to the update server: " + facts.error().message());
      return;
    }
    facts_ = *facts;
  }
  Status s = source_.Report(*facts_, event, error_code);
  if (!s) log_.Warn("cannot report progress to the update server: " + s.error().message());
}

std::string UpdateFlow::PayloadFile(const PlannedPayload& p) const {
  return store_.dir() + "/payload-" + p.sha256 + ".bin";
}

Result<HostFacts> UpdateFlow::Facts() {
  BASALT_ASSIGN_OR_RETURN(boot::Slot active, target_.ActiveSlot());
  BASALT_ASSIGN_OR_RETURN(boot::BootStatus bs, target_.boot().GetStatus());
  const boot::SlotStatus& s = bs.slots[boot::SlotIndex(active)];
  if (s.version.empty()) {
    return Failf(ErrorKind::kNotFound,
                 "slot {} has no boot entry naming its version, so the running version is unknown",
                 boot::SlotName(active));
  }
  HostFacts h;
  h.current_version = s.version;
  h.current_root_hash = s.usrhash;
  h.channel = opt_.channel;
  h.machine_id = opt_.machine_id;
  h.boot_id = opt_.boot_id;
  h.oem = opt_.oem;
  h.app_id = opt_.app_id;
  h.pin = opt_.pin;
  if (!st_.time_floor.empty()) {
    if (auto t = ParseTime(st_.time_floor, "time_floor"); t) h.not_before = *t;
  }
  if (auto it = st_.seen_channels.find(opt_.channel); it != st_.seen_channels.end()) {
    h.last_metadata_version = it->second.metadata_version;
    h.last_metadata_sha256 = it->second.sha256;
    h.last_metadata_keys = it->second.keys;
  } else if (st_.seen_channels.empty()) {
    h.last_metadata_version = st_.legacy_metadata_version;
  }
  return h;
}

// The rule that protects the fallback: while the active slot has not been blessed, the other
// slot is the only known-good system, so it must not be overwritten.
Status UpdateFlow::CheckActiveSlotHealthy() {
  BASALT_ASSIGN_OR_RETURN(boot::Slot active, target_.ActiveSlot());
  BASALT_ASSIGN_OR_RETURN(boot::BootStatus bs, target_.boot().GetStatus());
  const boot::SlotStatus& s = bs.slots[boot::SlotIndex(active)];
  if (s.health != boot::SlotHealth::kGood) {
    return Failf(ErrorKind::kPolicy,
                 "slot {} (version {}) is still pending health: it must boot and be marked good "
                 "before slot {}, the fallback, may be overwritten",
                 boot::SlotName(active), s.version.empty() ? "unknown" : s.version,
                 boot::SlotName(boot::OtherSlot(active)));
  }
  return {};
}

// The offered version becomes a boot entry label and the base of every later decision, so it
// must be a well-formed version, and an unsigned offer must move the host forward: a network
// attacker or a compromised Omaha server could otherwise install an older, validly signed
// release and label it "99.0" to freeze the host. (The payload's signed version must also equal
// it: Apply checks that before anything is written.)
Status UpdateFlow::CheckOfferedVersion(const UpdateOffer& offer, const HostFacts& facts) {
  if (auto v = repo::CheckVersion(offer.version, "offered version"); !v) {
    return ::basalt::Fail(ErrorKind::kInvalidInput,
                          fmt::format("the update server's offer: {}", v.error().message()));
  }
  const bool operator_asked = opt_.forced && opt_.pin && *opt_.pin == offer.version;
  if (!offer.signed_decision && !operator_asked &&
      repo::CompareVersions(offer.version, facts.current_version) <= 0) {
    return Failf(ErrorKind::kPolicy,
                 "the update server offers {}, which is not newer than the running {}; only "
                 "signed channel metadata (or `basalt update apply --to {}`) may move a host back",
                 offer.version, facts.current_version, offer.version);
  }
  return {};
}

Status UpdateFlow::Check() {
  // Nothing may be written while the active slot is unblessed, so do not even ask.
  if (!opt_.check_only) BASALT_RETURN_IF_ERROR(CheckActiveSlotHealthy());
  st_.phase = Phase::kChecking;
  ClearWaitReason(st_);
  BASALT_RETURN_IF_ERROR(Save());
  BASALT_ASSIGN_OR_RETURN(HostFacts facts, Facts());
  facts_ = facts;
  auto offer = source_.Check(facts);
  st_.last_check = FormatTime(Now());
  if (!offer) {
    st_.phase = Phase::kIdle;
    return std::unexpected(std::move(offer).error());
  }
  // This check succeeded: an earlier run's refusal is no longer the host's last error (a check
  // that finds nothing to do or only reports an update would otherwise show it, and exit 1).
  ClearLastError(st_);
  if (offer->signed_time && (!facts.not_before || *offer->signed_time > *facts.not_before)) {
    st_.time_floor = FormatTime(*offer->signed_time);
  }
  if (offer->metadata_version) {
    st_.seen_channels[opt_.channel] = {*offer->metadata_version, offer->metadata_sha256,
                                       offer->metadata_keys};
    st_.legacy_metadata_version.reset();  // superseded by the per-channel record
  }
  st_.available_version.clear();
  if (!offer->update) {
    st_.phase = Phase::kIdle;
    SetWaitReason(st_, offer->code, offer->reason);
    log_.Info(fmt::format("no update: {}", offer->reason), Fields(st_, opt_.channel));
    return Save();
  }
  if (st_.rolled_back_releases.contains(offer->version) && !opt_.forced) {
    st_.phase = Phase::kIdle;
    SetWaitReason(
        st_, "rolled-back-release",
        fmt::format(
            "release {} rolled back on this host; it is skipped until the channel offers another "
            "version (or `basalt update apply --to {}` forces it)",
            offer->version, offer->version));
    log_.Warn(st_.wait_reason, Fields(st_, opt_.channel));
    return Save();
  }
  if (offer->payloads.empty() || offer->payloads.front().urls.empty()) {
    return ::basalt::Fail(ErrorKind::kInvalidInput, "the update offer names no payload");
  }
  // An unsigned offer of the running version spelled differently ("2.0" for "2.0.0", build
  // metadata) is "up to date", not an error at every check.
  if (!offer->signed_decision && repo::CheckVersion(offer->version, "offered version") &&
      repo::CompareVersions(offer->version, facts.current_version) == 0 &&
      !(opt_.forced && opt_.pin && *opt_.pin == offer->version)) {
    st_.phase = Phase::kIdle;
    SetWaitReason(st_, "up-to-date",
                  fmt::format("up to date: the update server offers {}, which is the running {}",
                              offer->version, facts.current_version));
    log_.Info(st_.wait_reason, Fields(st_, opt_.channel));
    return Save();
  }
  BASALT_RETURN_IF_ERROR(CheckOfferedVersion(*offer, facts));
  if (opt_.check_only) {
    st_.phase = Phase::kIdle;
    st_.available_version = offer->version;
    SetWaitReason(st_, "available",
                  fmt::format("version {} is available ({}); apply installs it", offer->version,
                              offer->reason));
    log_.Info(st_.wait_reason, Fields(st_, opt_.channel));
    return Save();
  }
  BASALT_RETURN_IF_ERROR(CheckActiveSlotHealthy());
  BASALT_ASSIGN_OR_RETURN(boot::Slot active, target_.ActiveSlot());
  st_.version = offer->version;
  st_.from_version = facts.current_version;
  st_.target_slot = std::string(boot::SlotName(boot::OtherSlot(active)));
  st_.usr_root_hash = offer->usr_root_hash;
  st_.kernel_version = offer->kernel_version;
  st_.kernel_cmdline = offer->kernel_cmdline;
  st_.boot_artifacts = offer->boot_artifacts;
  if (auto p = offer->pcr11_predictions.find(st_.target_slot);
      p != offer->pcr11_predictions.end() && !p->second.empty()) {
    st_.pcr11_predictions[st_.target_slot] = {
        .version = offer->version, .slot = st_.target_slot, .pcr11 = p->second};
  } else {
    st_.pcr11_predictions.erase(st_.target_slot);  // what was there is being overwritten
  }
  st_.payload = Plan(offer->payloads.front());
  st_.full_payload.reset();
  for (const auto& p : offer->payloads) {
    if (!p.delta && !p.urls.empty()) st_.full_payload = Plan(p);
  }
  st_.fell_back_to_full = false;
  st_.fallback_reason.clear();
  st_.downloaded_bytes = 0;
  ClearLastError(st_);
  st_.phase = Phase::kDownloading;
  log_.Info(fmt::format("update {} -> {} into slot {} ({} payload, {} bytes): {}", st_.from_version,
                        st_.version, st_.target_slot, st_.payload->delta ? "delta" : "full",
                        st_.payload->size, offer->reason),
            Fields(st_, opt_.channel));
  BASALT_RETURN_IF_ERROR(Save());
  Report(UpdateEvent::kDownloadStarted);
  return {};
}

Status UpdateFlow::Download() {
  const PlannedPayload& p = *st_.payload;
  DownloadOptions d = opt_.download;
  uint64_t received = 0;
  auto on_bytes = d.on_bytes;
  d.on_bytes = [&](uint64_t n) {
    received += n;
    if (on_bytes) on_bytes(n);
  };
  if (opt_.progress) {
    d.progress = [this](uint64_t have, uint64_t total) {
      opt_.progress(Phase::kDownloading, have, total);
    };
  }
  auto sleep = d.sleep;
  d.sleep = [this, sleep](std::chrono::milliseconds ms) {
    if (Cancelled(opt_.cancel)) return false;
    return sleep ? sleep(ms) : (std::this_thread::sleep_for(ms), !Cancelled(opt_.cancel));
  };
  // The planned URL, then its mirrors in the server's order; every one resumes the same .part
  // file (it is named by the signed SHA-256).
  std::vector<std::string> urls = {p.url};
  urls.insert(urls.end(), p.mirrors.begin(), p.mirrors.end());
  Status s;
  for (size_t i = 0; i < urls.size(); ++i) {
    PlannedPayload from = p;
    from.url = urls[i];
    s = DownloadWithRetry(fetcher_, from, PayloadFile(p), d, log_);
    if (s || Cancelled(opt_.cancel) || s.error().kind() == ErrorKind::kIntegrity) break;
    if (i + 1 < urls.size()) {
      log_.Warn(fmt::format("{}; trying {}", s.error().message(), http::RedactUrl(urls[i + 1])),
                Fields(st_, opt_.channel));
    }
  }
  st_.downloaded_bytes += received;
  (p.delta ? st_.downloaded_delta_total : st_.downloaded_full_total) += received;
  BASALT_RETURN_IF_ERROR(s);
  st_.phase = Phase::kApplying;
  BASALT_RETURN_IF_ERROR(Save());
  Report(UpdateEvent::kDownloadFinished);
  return {};
}

Status UpdateFlow::Apply() {
  BASALT_ASSIGN_OR_RETURN(boot::Slot target_slot, boot::ParseSlot(st_.target_slot));
  const boot::Slot source_slot = boot::OtherSlot(target_slot);
  // Nothing is written (not even the boot state) before the payload's signature is checked and
  // it is signed as the version that was offered and will be recorded.
  {
    BASALT_ASSIGN_OR_RETURN(auto head_file,
                            payload::FilePayloadSource::Open(PayloadFile(*st_.payload)));
    BASALT_ASSIGN_OR_RETURN(
        payload::PayloadHead head,
        payload::ReadHead(*head_file, &trust_.payload_keys(), PayloadThreshold()));
    if (head.manifest.version() != st_.version) {
      return Failf(ErrorKind::kIntegrity,
                   "the payload is signed as version {}, but version {} was offered; nothing "
                   "was written",
                   Printable(head.manifest.version()), st_.version);
    }
    BASALT_RETURN_IF_ERROR(CheckBootArtifacts(*head_file, head));
  }
  // The slot being rewritten must never be selectable, whatever a crash leaves behind.
  BASALT_RETURN_IF_ERROR(target_.boot().MarkBad(target_slot));
  BASALT_ASSIGN_OR_RETURN(SlotDevice target_dev, target_.OpenSlot(target_slot, true));
  // A missing /dev/disk/by-partuuid link must not become a file in /dev (RAM) that receives the
  // verified slot and is gone at reboot; the applier opens without O_CREAT as well.
  // kIo: the host's fault, not the payload's, so the downloaded payload is kept for the next run.
  if (struct stat st; ::stat(target_dev.path.c_str(), &st) != 0) {
    const int err = errno;
    return std::unexpected(Error(ErrorKind::kIo,
                                 fmt::format("slot {} device {} is missing: {}; nothing written",
                                             st_.target_slot, target_dev.path, std::strerror(err)),
                                 err));
  }
  std::optional<SlotDevice> source_dev;
  if (st_.payload->delta) {
    BASALT_ASSIGN_OR_RETURN(source_dev, target_.OpenSlot(source_slot, false));
  }
  BASALT_ASSIGN_OR_RETURN(auto file, payload::FilePayloadSource::Open(PayloadFile(*st_.payload)));
  // The applier's checkpoint names its target; a loop device's number changes between runs, so
  // the flow hands it a stable name in the state directory instead.
  BASALT_ASSIGN_OR_RETURN(std::string target_link,
                          StableLink(store_.dir(), "slot-" + st_.target_slot, target_dev.path));
  payload::ApplyOptions ao;
  ao.target_path = target_link;
  if (source_dev) ao.source_path = source_dev->path;
  ao.keyring = &trust_.payload_keys();
  ao.threshold = PayloadThreshold();
  // The checkpoint names the target device, which a loop device makes vary between runs;
  // checkpoints live in a directory per target slot so the name does not matter.
  ao.state_dir = store_.dir() + "/apply-" + st_.target_slot;
  ao.checkpoint_interval = opt_.checkpoint_interval;
  bool verifying = false;
  ao.progress = [&](uint64_t done, uint64_t total) {
    if (opt_.progress) opt_.progress(Phase::kApplying, done, total);
    if (done == total && !verifying) {
      // Every operation is written; what remains is the hash tree and the root-hash check.
      verifying = true;
      st_.phase = Phase::kVerifying;
      if (auto s = Save(); !s) log_.Warn(s.error().message());
    }
  };
  auto r = payload::ApplyPayload(*file, ao, log_);
  if (!r) {
    if (payload::IsSourceMismatch(r.error()) && st_.payload->delta && st_.full_payload) {
      st_.fell_back_to_full = true;
      st_.fallback_reason = r.error().message();
      log_.Warn(fmt::format("delta does not apply, falling back to the full payload: {}",
                            r.error().message()),
                Fields(st_, opt_.channel));
      ::unlink(PayloadFile(*st_.payload).c_str());
      st_.payload = st_.full_payload;
      st_.phase = Phase::kDownloading;
      return Save();
    }
    return std::unexpected(std::move(r).error());
  }
  std::string root = ToHex(r->root_hash);
  if (!st_.usr_root_hash.empty() && root != st_.usr_root_hash) {
    return Failf(ErrorKind::kIntegrity,
                 "slot {} now has verity root hash {}, but release {} is signed with {}",
                 st_.target_slot, root, st_.version, st_.usr_root_hash);
  }
  if (st_.usr_root_hash.empty()) st_.usr_root_hash = root;
  log_.Info(
      fmt::format(
          "slot {} verified: root hash {}{}", st_.target_slot, root,
          r->resumed ? fmt::format(" (resumed at operation {})", r->resumed_at_operation) : ""),
      Fields(st_, opt_.channel));
  st_.phase = Phase::kFinalizing;
  BASALT_RETURN_IF_ERROR(Save());
  // A UKI host's finalize takes the slot's UKI out of the payload.
  if (!BootsUkis()) ::unlink(PayloadFile(*st_.payload).c_str());
  return {};
}

bool UpdateFlow::BootsUkis() {
  return target_.boot().boot_files_kind() == boot::BootFilesKind::kUki;
}

// Before anything is written to the target slot: the payload's boot artifacts are the ones the
// release names (when it names them), and a host that boots signed UKIs finds a verified one for
// the target slot in it. `src` stands after the payload's verified head.
Status UpdateFlow::CheckBootArtifacts(payload::PayloadSource& src,
                                      const payload::PayloadHead& head) {
  for (const auto& [name, sha256] : st_.boot_artifacts) {
    const payload::BootArtifact* a = payload::FindBootArtifact(head.manifest, name);
    if (a == nullptr) {
      return Failf(ErrorKind::kIntegrity,
                   "release {} names boot artifact {}, but its payload carries none; nothing was "
                   "written",
                   st_.version, Printable(name));
    }
    const std::string got =
        ToHex(std::span(reinterpret_cast<const uint8_t*>(a->sha256().data()), a->sha256().size()));
    if (got != sha256) {
      return Failf(ErrorKind::kIntegrity,
                   "the payload's boot artifact {} has SHA-256 {}, but release {} is signed with "
                   "{}; nothing was written",
                   name, got, st_.version, Printable(sha256));
    }
  }
  if (!BootsUkis()) return {};
  const std::string name = payload::UkiArtifactName(st_.target_slot);
  if (payload::FindBootArtifact(head.manifest, name) == nullptr) {
    return Failf(ErrorKind::kPolicy,
                 "payload for {} carries no UKI for slot {}; this host boots signed UKIs ({} "
                 "backend); nothing was written",
                 st_.version, st_.target_slot, target_.boot().backend());
  }
  auto uki = payload::ReadBootArtifact(src, head, name);
  if (!uki) return std::unexpected(std::move(uki).error().WithContext("nothing was written"));
  return {};
}

Status UpdateFlow::Finalize() {
  BASALT_ASSIGN_OR_RETURN(boot::Slot target_slot, boot::ParseSlot(st_.target_slot));
  {
    // A run killed right after the commit point (SetNext) finds its work done.
    BASALT_ASSIGN_OR_RETURN(boot::BootStatus bs, target_.boot().GetStatus());
    const boot::SlotStatus& t = bs.slots[boot::SlotIndex(target_slot)];
    if (bs.next == target_slot && t.version == st_.version && t.usrhash == st_.usr_root_hash) {
      ::unlink(PayloadFile(*st_.payload).c_str());
      st_.phase = Phase::kUpdatedNeedReboot;
      ClearLastError(st_);
      st_.last_success = FormatTime(Now());
      return Save();
    }
  }
  BASALT_RETURN_IF_ERROR(CheckActiveSlotHealthy());
  BASALT_ASSIGN_OR_RETURN(boot::Slot active, target_.ActiveSlot());
  if (active == target_slot) {
    return Failf(ErrorKind::kPolicy, "slot {} is the active slot; refusing to install over it",
                 st_.target_slot);
  }
  const std::string boot_dir = store_.dir() + "/boot-files";
  std::error_code ec;
  fs::create_directories(boot_dir, ec);
  if (ec) return Failf(ErrorKind::kIo, "create {}: {}", boot_dir, ec.message());
  const std::string kernel = boot_dir + "/vmlinuz", initrd = boot_dir + "/initrd.img";
  const std::string uki = boot_dir + "/uki.efi";
  if (BootsUkis() && !fs::exists(PayloadFile(*st_.payload), ec)) {
    // Deleted by a daemon that did not keep it for finalize: the UKI has to come from the
    // payload, so fetch and apply it again (the slot is still marked bad).
    log_.Warn(fmt::format("the payload for {} is gone before its UKI was installed; fetching it "
                          "again",
                          st_.version),
              Fields(st_, opt_.channel));
    st_.phase = Phase::kDownloading;
    return Save();
  }
  if (BootsUkis()) {
    // Verified again as it is taken out of the payload kept since Apply: signatures, blob and
    // the decoded bytes' SHA-256, before the file exists.
    auto got = payload::ExtractBootArtifact(PayloadFile(*st_.payload), trust_.payload_keys(),
                                            PayloadThreshold(),
                                            payload::UkiArtifactName(st_.target_slot), uki);
    if (!got) {
      // Changed on disk since Apply checked it: drop the plan (Run does for a failure while
      // downloading) so the next check starts over, instead of failing here at every run. The
      // slot stays marked bad.
      if (got.error().kind() != ErrorKind::kIo) st_.phase = Phase::kDownloading;
      return std::unexpected(std::move(got).error());
    }
  } else {
    BASALT_ASSIGN_OR_RETURN(SlotDevice dev, target_.OpenSlot(target_slot, false));
    BASALT_ASSIGN_OR_RETURN(auto files, opt_.open_slot_files(dev.path, boot_dir));
    if (st_.kernel_version.empty()) {
      // Omaha does not name it: the verified new /usr does.
      BASALT_ASSIGN_OR_RETURN(st_.kernel_version, FindKernelVersion(*files));
      BASALT_RETURN_IF_ERROR(Save());
    }
    BASALT_RETURN_IF_ERROR(
        files->CopyOut(SlotKernelPathInUsr(st_.kernel_version), opt_.max_kernel_bytes, kernel));
    BASALT_RETURN_IF_ERROR(
        files->CopyOut(SlotInitrdPathInUsr(st_.kernel_version), opt_.max_initrd_bytes, initrd));
  }
  const boot::SlotBootFiles slot_files =
      BootsUkis() ? boot::SlotBootFiles{.uki = uki}
                  : boot::SlotBootFiles{.kernel = kernel, .initrd = initrd};
  // The target slot's old files are replaced one by one (new copy first), so the ESP must hold
  // the complete new pair next to everything already there. Checked once, before the first write:
  // a resumed finalize finds its own half-written files there.
  const uint64_t files_size = BootsUkis() ? FileSize(uki) : FileSize(kernel) + FileSize(initrd);
  const uint64_t need = files_size + kEspSlack;
  BASALT_ASSIGN_OR_RETURN(uint64_t free_bytes, target_.EspFreeBytes());
  bool started = FileSize(boot_dir + "/.esp-checked") > 0;
  if (!started && free_bytes < need) {
    const std::string what = BootsUkis() ? fmt::format("UKI ({} bytes)", FileSize(uki))
                                         : fmt::format("kernel ({} bytes) and initramfs ({} bytes)",
                                                       FileSize(kernel), FileSize(initrd));
    return Failf(ErrorKind::kPolicy,
                 "the ESP has {} bytes free, but slot {}'s {} need {} next to slot {}'s files; "
                 "nothing was changed",
                 free_bytes, st_.target_slot, what, need, boot::SlotName(active));
  }
  if (!started) {
    BASALT_RETURN_IF_ERROR(WriteFileAtomic(boot_dir + "/.esp-checked", "ok\n", 0600));
  }
  BASALT_ASSIGN_OR_RETURN(SlotPartition part, target_.Partition(target_slot));
  boot::SlotEntry entry;
  entry.version = st_.version;
  entry.usr_partuuid = part.partuuid;
  entry.usrhash = st_.usr_root_hash;
  entry.extra_cmdline = SlotKernelArgs(st_.kernel_cmdline, opt_.extra_cmdline);
  BASALT_RETURN_IF_ERROR(target_.boot().InstallSlot(target_slot, entry, slot_files));
  // The commit point: from here on the bootloader tries the new slot, the old one stays the
  // fallback.
  BASALT_RETURN_IF_ERROR(target_.boot().SetNext(target_slot, opt_.tries));
  ::unlink(PayloadFile(*st_.payload).c_str());
  if (fs::remove_all(boot_dir, ec); ec) {
    // Past the commit point nothing may fail the update; the next finalize replaces the files.
    log_.Warn(fmt::format("cannot remove {}: {}", boot_dir, ec.message()),
              Fields(st_, opt_.channel));
  }
  st_.phase = Phase::kUpdatedNeedReboot;
  ClearLastError(st_);
  st_.last_success = FormatTime(Now());
  log_.Info(fmt::format("slot {} with version {} is next ({} tries); reboot to use it",
                        st_.target_slot, st_.version, opt_.tries),
            Fields(st_, opt_.channel));
  return Save();
}

Result<UpdateState> UpdateFlow::Run() {
  BASALT_ASSIGN_OR_RETURN(st_, store_.Load());
  if (st_.phase == Phase::kUpdatedNeedReboot) {
    // Staged already: not redone. Once that slot is blessed, the host may look again.
    BASALT_ASSIGN_OR_RETURN(boot::BootStatus bs, target_.boot().GetStatus());
    auto slot = boot::ParseSlot(st_.target_slot);
    if (!slot || bs.slots[boot::SlotIndex(*slot)].health != boot::SlotHealth::kGood) {
      log_.Info(fmt::format("version {} is already staged in slot {}; reboot to use it",
                            st_.version, st_.target_slot),
                Fields(st_, opt_.channel));
      return st_;
    }
    st_.phase = Phase::kGood;
  }
  auto step = [&]() -> Status {
    const bool in_flight =
        st_.payload && (st_.phase == Phase::kDownloading || st_.phase == Phase::kApplying ||
                        st_.phase == Phase::kVerifying || st_.phase == Phase::kFinalizing);
    if (opt_.check_only && in_flight) return {};  // an update is under way: nothing to check
    if (st_.phase == Phase::kIdle || st_.phase == Phase::kGood || st_.phase == Phase::kRolledBack ||
        st_.phase == Phase::kChecking || !st_.payload) {
      BASALT_RETURN_IF_ERROR(Check());
    }
    while (st_.phase == Phase::kDownloading || st_.phase == Phase::kApplying ||
           st_.phase == Phase::kVerifying || st_.phase == Phase::kFinalizing) {
      if (Cancelled(opt_.cancel)) return ::basalt::Fail(ErrorKind::kPolicy, "cancelled");
      switch (st_.phase) {
        case Phase::kDownloading:
          BASALT_RETURN_IF_ERROR(Download());
          break;
        case Phase::kApplying:
        case Phase::kVerifying:
          BASALT_RETURN_IF_ERROR(Apply());
          break;
        case Phase::kFinalizing:
          BASALT_RETURN_IF_ERROR(Finalize());
          break;
        default:
          break;
      }
    }
    return {};
  };
  if (auto s = step(); !s) {
    Error e = s.error();
    // Cancel stopped a transfer in progress (the fetcher's ECANCELED): the same outcome as
    // Cancel between phases.
    if (Cancelled(opt_.cancel) && e.sys_errno() == ECANCELED) {
      e = Error(ErrorKind::kPolicy, "cancelled");
    }
    const Phase failed_in = st_.phase;
    const bool had_plan = st_.payload && failed_in != Phase::kChecking && failed_in != Phase::kIdle;
    ++st_.failures[FailureReason(e, failed_in)];
    // Only network faults keep the plan: the next run resumes it. Anything else (integrity,
    // policy, malformed data) drops the plan and its files, so a bad payload is not retried in
    // a loop; the next check starts over.
    if (e.kind() != ErrorKind::kIo && st_.payload &&
        (st_.phase == Phase::kDownloading || st_.phase == Phase::kApplying ||
         st_.phase == Phase::kVerifying)) {
      ::unlink(PayloadFile(*st_.payload).c_str());
      ::unlink((PayloadFile(*st_.payload) + ".part").c_str());
      st_.payload.reset();
      st_.phase = Phase::kIdle;
    }
    if (st_.phase == Phase::kChecking) st_.phase = Phase::kIdle;
    auto failed = Fail(std::move(e));
    if (had_plan) Report(UpdateEvent::kFailed, OmahaErrorCode(failed.error(), failed_in));
    return std::unexpected(failed.error());
  }
  return st_;
}

}  // namespace basalt::update
