// The host update flow end to end, offline (`basalt update apply --disk`), against disk images
// made by `basalt image build`, a repository made by `basalt release publish` / `channel set`,
// served by a real nginx on 127.0.0.1:
//   * a full update and a delta update land in slot B, byte-identical to the published image,
//     with its kernel and initramfs on the ESP, and `basalt boot status` names B next;
//   * a delta whose source slot was corrupted falls back to the full payload and says so;
//   * through a fault-injecting proxy (cuts every MiB, a stall, 503s) the update completes by
//     resuming, downloading at most 1.1x the payload;
//   * kill -9 at 100 random points across download, apply, verify and finalize: slot A stays
//     byte-identical, the next boot target is never a partially written slot, and every rerun
//     resumes to completion.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <pugixml.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "common/base64.h"
#include "common/fd.h"
#include "common/hash.h"
#include "common/hex.h"
#include "common/signing.h"
#include "common/time_util.h"
#include "drip_server.h"
#include "erofs/erofs_image.h"
#include "fleet/etcd_client.h"
#include "fleet/reboot_lock.h"
#include "integration/fault_proxy.h"
#include "integration/fleet_etcd_fixture.h"
#include "integration/fleet_http_server.h"
#include "integration/image_test_util.h"
#include "integration/nginx_server.h"
#include "repo/channel.h"
#include "repo/dsse.h"

namespace basalt::update {
namespace {

namespace fs = std::filesystem;
using basalt::image::testing::BasaltBin;
using basalt::image::testing::HaveTool;
using basalt::image::testing::Quote;
using basalt::image::testing::Sh;
using basalt::image::testing::SmallSizes;
using basalt::testing::FaultPlan;
using basalt::testing::FaultProxy;
using basalt::testing::NginxServer;

std::string RandomData(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint64_t v = rng();
    std::memcpy(s.data() + i, &v, 8);
  }
  return s;
}

void Write(const fs::path& p, const std::string& data) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << data;
}

std::string Read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string FileSha(const std::string& path) {
  return ToHex(*Sha256File(path));
}

std::string RangeSha(const std::string& path, uint64_t offset, uint64_t size) {
  auto fd = OpenFile(path, O_RDONLY);
  if (!fd) return "error: " + fd.error().message();
  auto d = Sha256Range(fd->get(), offset, size, path);
  return d ? ToHex(*d) : "error: " + d.error().message();
}

struct Part {
  uint64_t offset = 0, size = 0;
  std::string uuid;
};

// One release's image build output plus what the tests compare against.
struct Built {
  fs::path dir;
  std::string version, kver, root_hash, usr_sha;
  uint64_t usr_size = 0;
  std::string kernel, initrd;  // contents
  std::map<std::string, Part> parts;
};

struct Env {
  basalt::image::testing::TempDir tmp;
  fs::path root() const { return tmp.path(); }
  fs::path www() const { return root() / "www"; }
  fs::path keys() const { return root() / "keys"; }
  fs::path trust() const { return root() / "trust"; }
  std::string key;
  Built v1, v2, v3;
  fs::path template_disk;  // v1's disk with slot A's boot entry
  std::unique_ptr<NginxServer> nginx;
  uint64_t full3_size = 0, full2_size = 0, delta2_size = 0;
};

Env* env = nullptr;

void MakeTree(const fs::path& t, const std::string& kver, uint64_t seed, bool change_blob) {
  fs::create_directories(t / "etc");
  Write(t / "etc/hostname", "basalt\n");
  Write(t / "usr/lib/modules" / kver / "vmlinuz", RandomData(1 << 20, seed));
  Write(t / "usr/lib/modules" / kver / "initrd.img", RandomData(256 << 10, seed + 1));
  // A big file that mostly survives between versions, so the delta is much smaller than the full.
  std::string blob = RandomData(2 << 20, 7);
  if (change_blob) {
    std::string fresh = RandomData(256 << 10, seed + 2);
    blob.replace(1 << 20, fresh.size(), fresh);
  }
  Write(t / "usr/share/basalt-test/blob", blob);
  Write(t / "usr/lib/os-release", "NAME=Basalt\nVERSION_ID=" + kver + "\n");
}

Built BuildRelease(const std::string& name, const std::string& version, const std::string& kver,
                   uint64_t seed, bool change_blob) {
  Built b;
  b.version = version;
  b.kver = kver;
  fs::path tree = env->root() / ("tree-" + name);
  MakeTree(tree, kver, seed, change_blob);
  b.dir = env->root() / ("img-" + name);
  auto r = Sh(BasaltBin() + " image build --rootfs " + Quote(tree.string()) + " --output " +
              Quote(b.dir.string()) + " --version " + version + " --seed test-" + name + " " +
              SmallSizes());
  EXPECT_EQ(r.status, 0) << r.output;
  auto j = nlohmann::json::parse(Read(b.dir / "image.json"));
  b.root_hash = j["usr"]["root_hash"];
  b.usr_size = fs::file_size(b.dir / "usr.img");
  b.usr_sha = FileSha((b.dir / "usr.img").string());
  for (const auto& p : j["disk"]["partitions"]) {
    b.parts[p["label"]] = {p["offset"].get<uint64_t>(), p["size"].get<uint64_t>(),
                           p["uuid"].get<std::string>()};
  }
  b.kernel = Read(tree / "usr/lib/modules" / kver / "vmlinuz");
  // The image builder puts its own initramfs (basalt-init) into /usr in place of the tree's, so
  // expect what the built usr.img holds.
  auto fd = OpenFile((b.dir / "usr.img").string(), O_RDONLY);
  EXPECT_TRUE(fd.has_value());
  if (!fd) return b;
  auto usr = erofs::ErofsImage::Open(fd->get(), 0, b.usr_size);
  EXPECT_TRUE(usr.has_value()) << (usr ? "" : usr.error().message());
  if (!usr) return b;
  auto initrd = usr->ReadFile("/lib/modules/" + kver + "/initrd.img", 256 << 20);
  EXPECT_TRUE(initrd.has_value()) << (initrd ? "" : initrd.error().message());
  if (initrd) b.initrd = *initrd;
  return b;
}

struct CmdResult {
  int rc = -1;
  std::string out;
};

CmdResult Basalt(const std::string& args) {
  auto r = Sh(BasaltBin() + " " + args);
  return {r.status, r.output};
}

nlohmann::json BootStatus(const std::string& disk) {
  auto r = Sh(BasaltBin() + " boot --disk " + Quote(disk) + " status --json 2>/dev/null");
  if (r.status != 0) return nullptr;
  try {
    return nlohmann::json::parse(r.output);
  } catch (...) {
    return nullptr;
  }
}

std::string EspFile(const std::string& disk, const std::string& path) {
  uint64_t off = env->v1.parts["EFI-SYSTEM"].offset;
  fs::path out = env->root() / fmt::format("esp-read-{}", ::getpid());
  auto r = Sh(fmt::format("MTOOLS_SKIP_CHECK=1 mcopy -n -o -i {}@@{} ::{} {}", Quote(disk), off,
                          path, Quote(out.string())));
  if (r.status != 0) return "missing: " + r.output;
  std::string data = Read(out);
  fs::remove(out);
  return data;
}

std::map<std::string, double> ParseMetrics(const std::string& text);
bool WaitFor(const std::function<bool()>& done, std::chrono::seconds limit);
std::string InfoSeries(const std::map<std::string, double>& m);
int64_t EpochOf(const std::string& rfc3339);

class EnvCleanup : public ::testing::Environment {
 public:
  void TearDown() override {
    delete env;
    env = nullptr;
  }
};
::testing::Environment* const kEnvCleanup = ::testing::AddGlobalTestEnvironment(new EnvCleanup);

class UpdateFlowTest : public ::testing::Test {
 protected:
  // Why the suite cannot run here ("" when it can): each case skips with this reason.
  static std::string& SkipReason() {
    static std::string reason;
    return reason;
  }

  static void SetUpTestSuite() {
    if (env != nullptr || !SkipReason().empty()) return;
    if (::geteuid() != 0) {
      SkipReason() = "needs root for loop devices (CI runs as root)";
      return;
    }
    if (!fs::exists("/dev/loop-control")) {
      SkipReason() = "no /dev/loop-control";
      return;
    }
    for (const char* t : {"mkfs.erofs", "fsck.erofs", "mkfs.fat", "mcopy", "mdir", "mkfs.ext4"}) {
      if (!HaveTool(t)) {
        SkipReason() = std::string(t) + " is not installed (build/install-deps.sh)";
        return;
      }
    }
    if (NginxServer::Binary().empty()) {
      SkipReason() = "nginx is not installed (build/install-deps.sh)";
      return;
    }
    env = new Env;
    Env& e = *env;
    auto k = Basalt("keys generate --output " + Quote(e.keys().string()) + " --json");
    ASSERT_EQ(k.rc, 0) << k.out;
    std::string id = nlohmann::json::parse(k.out.substr(k.out.find('{')))["key_id"];
    e.key = (e.keys() / (id + ".pem")).string();
    fs::create_directories(e.trust());
    fs::copy_file(e.keys() / (id + ".pub.pem"), e.trust() / (id + ".pem"));

    e.v1 = BuildRelease("v1", "1.0.0", "6.1.0-1-test", 11, false);
    e.v2 = BuildRelease("v2", "2.0.0", "6.1.0-2-test", 22, true);
    e.v3 = BuildRelease("v3", "3.0.0", "6.1.0-3-test", 33, true);
    const std::string repo = Quote(e.www().string());
    for (auto args :
         {"--image-dir " + Quote(e.v1.dir.string()),
          "--image-dir " + Quote(e.v2.dir.string()) + " --delta-from " + Quote(e.v1.dir.string()),
          "--image-dir " + Quote(e.v3.dir.string())}) {
      auto p = Basalt("release publish --repo " + repo + " " + args + " --key " + e.key);
      ASSERT_EQ(p.rc, 0) << p.out;
    }
    // stable: 2.0.0, which has a delta from 1.0.0; edge: 3.0.0, full payload only.
    for (auto [ch, v] : {std::pair{"stable", "2.0.0"}, std::pair{"edge", "3.0.0"}}) {
      auto c = Basalt(fmt::format("channel set --repo {} --channel {} --release {} --key {}", repo,
                                  ch, v, e.key));
      ASSERT_EQ(c.rc, 0) << c.out;
    }
    e.full2_size = fs::file_size(e.www() / "releases/2.0.0/full.payload");
    e.delta2_size = fs::file_size(e.www() / "releases/2.0.0/delta-from-1.0.0.payload");
    e.full3_size = fs::file_size(e.www() / "releases/3.0.0/full.payload");

    // The image builder does not write a boot entry the boot backends read yet; install slot A's
    // from the image's own kernel, as a provisioning step would.
    e.template_disk = e.root() / "template-disk.img";
    ASSERT_EQ(Sh("cp --sparse=always " + Quote((e.v1.dir / "disk.img").string()) + " " +
                 Quote(e.template_disk.string()))
                  .status,
              0);
    Write(e.root() / "k1", e.v1.kernel);
    Write(e.root() / "i1", e.v1.initrd);
    auto inst = Basalt(fmt::format(
        "boot --disk {} install-slot A --kernel {} --initrd {} --version 1.0.0 --usr-partuuid {} "
        "--usrhash {} --cmdline console=ttyS0",
        Quote(e.template_disk.string()), Quote((e.root() / "k1").string()),
        Quote((e.root() / "i1").string()), e.v1.parts["USR-A"].uuid, e.v1.root_hash));
    ASSERT_EQ(inst.rc, 0) << inst.out;
    e.nginx = NginxServer::Start(e.www().string(), (e.root() / "nginx").string());
    ASSERT_NE(e.nginx, nullptr) << Read(e.root() / "nginx/error.log");
  }

  // The fixture is shared by every suite deriving from this one (OmahaFlowTest); the global
  // environment below frees it once all ran.
  static void TearDownTestSuite() {}

  void SetUp() override {
    if (!SkipReason().empty()) GTEST_SKIP() << SkipReason();
    ASSERT_NE(env, nullptr) << "the suite's set-up failed";
    ASSERT_NE(env->nginx, nullptr);
    static int n = 0;
    work_ = env->root() / fmt::format("case-{}", ++n);
    fs::create_directories(work_);
    disk_ = (work_ / "disk.img").string();
    state_ = (work_ / "state").string();
    ASSERT_EQ(
        Sh("cp --sparse=always " + Quote(env->template_disk.string()) + " " + Quote(disk_)).status,
        0);
    a_sha_ = SlotSha("USR-A");
  }

  void TearDown() override {
    std::error_code ec;
    if (!work_.empty()) fs::remove_all(work_, ec);
  }

  std::string SlotSha(const std::string& label) {
    const Part& p = env->v1.parts[label];
    return RangeSha(disk_, p.offset, p.size);
  }

  std::string ApplyArgs(const std::string& url, const std::string& channel) {
    return fmt::format(
        "update apply --disk {} --repo {} --channel {} --keys {} --state {} --retry-initial-ms 50 "
        "--stall-timeout 2",
        Quote(disk_), url, channel, Quote(env->trust().string()), Quote(state_));
  }

  // Slot B holds `b` exactly, its boot files are on the ESP and it boots next.
  void ExpectStagedInB(const Built& b) {
    const Part& pb = env->v1.parts["USR-B"];
    EXPECT_EQ(RangeSha(disk_, pb.offset, b.usr_size), b.usr_sha);
    auto st = BootStatus(disk_);
    ASSERT_FALSE(st.is_null());
    EXPECT_EQ(st["next"], "B") << st.dump();
    EXPECT_EQ(st["slots"]["B"]["version"], b.version);
    EXPECT_EQ(st["slots"]["B"]["usr_root_hash"], b.root_hash);
    EXPECT_EQ(st["slots"]["B"]["state"], "pending");
    EXPECT_EQ(st["slots"]["A"]["state"], "good");
    EXPECT_TRUE(EspFile(disk_, "/basalt/B/vmlinuz") == b.kernel);
    EXPECT_TRUE(EspFile(disk_, "/basalt/B/initrd.img") == b.initrd);
    // Slot A, the fallback, is untouched: partition and boot files.
    EXPECT_EQ(SlotSha("USR-A"), a_sha_);
    EXPECT_TRUE(EspFile(disk_, "/basalt/A/vmlinuz") == env->v1.kernel);
  }

  nlohmann::json StateJson() {
    auto r = Basalt("update status --state " + Quote(state_) + " --json");
    EXPECT_EQ(r.rc, 0) << r.out;
    return nlohmann::json::parse(r.out.substr(r.out.find('{')));
  }

  fs::path work_;
  std::string disk_, state_, a_sha_;
};

TEST_F(UpdateFlowTest, FullUpdateIntoDiskImage) {
  auto r = Basalt(ApplyArgs(env->nginx->url(), "edge") + " --json");
  ASSERT_EQ(r.rc, 0) << r.out;
  auto s = StateJson();
  EXPECT_EQ(s["state"], "updated-need-reboot");
  EXPECT_EQ(s["version"], "3.0.0");
  EXPECT_EQ(s["from_version"], "1.0.0");
  EXPECT_EQ(s["target_slot"], "B");
  EXPECT_EQ(s["payload"]["kind"], "full");
  EXPECT_EQ(s["payload"]["size"], env->full3_size);
  ExpectStagedInB(env->v3);
  // The payload is not kept once applied.
  for (const auto& f : fs::directory_iterator(state_)) {
    EXPECT_FALSE(f.path().filename().string().starts_with("payload-")) << f.path();
  }
  // A rerun does not redo a finished update.
  auto again = Basalt(ApplyArgs(env->nginx->url(), "edge"));
  EXPECT_EQ(again.rc, 0) << again.out;
  EXPECT_NE(again.out.find("already staged"), std::string::npos) << again.out;
  // And the staged slot must boot and be blessed before the fallback may be overwritten.
  std::string first_state = state_;
  state_ = (work_ / "state2").string();
  auto other = Basalt(ApplyArgs(env->nginx->url(), "stable"));
  state_ = first_state;
  EXPECT_EQ(other.rc, 5) << other.out;
  EXPECT_NE(other.out.find("pending health"), std::string::npos) << other.out;
}

TEST_F(UpdateFlowTest, DeltaUpdate) {
  auto r = Basalt(ApplyArgs(env->nginx->url(), "stable"));
  ASSERT_EQ(r.rc, 0) << r.out;
  auto s = StateJson();
  EXPECT_EQ(s["state"], "updated-need-reboot");
  EXPECT_EQ(s["version"], "2.0.0");
  EXPECT_EQ(s["payload"]["kind"], "delta");
  EXPECT_EQ(s["payload"]["size"], env->delta2_size);
  EXPECT_EQ(s["fell_back_to_full"], false);
  EXPECT_LT(env->delta2_size * 2, env->full2_size);  // the fixture's delta is really a delta
  EXPECT_EQ(s["downloaded_bytes"], env->delta2_size);
  ExpectStagedInB(env->v2);
}

TEST_F(UpdateFlowTest, DeltaSourceMismatchFallsBackToFull) {
  // Corrupt one block of slot A's filesystem data: its boot entry still claims 1.0.0's root
  // hash, so the channel offers the delta, and the applier finds the source does not match.
  const Part& pa = env->v1.parts["USR-A"];
  {
    auto fd = OpenFile(disk_, O_RDWR);
    ASSERT_TRUE(fd.has_value());
    std::string junk(4096, 'X');
    ASSERT_TRUE(PwriteFull(fd->get(),
                           std::span(reinterpret_cast<const uint8_t*>(junk.data()), junk.size()),
                           pa.offset + (2 << 20), disk_)
                    .has_value());
  }
  a_sha_ = SlotSha("USR-A");
  auto r = Basalt(ApplyArgs(env->nginx->url(), "stable"));
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("falling back to the full payload"), std::string::npos) << r.out;
  auto s = StateJson();
  EXPECT_EQ(s["state"], "updated-need-reboot");
  EXPECT_EQ(s["fell_back_to_full"], true);
  EXPECT_NE(s["fallback_reason"].get<std::string>().find("delta source mismatch"),
            std::string::npos);
  EXPECT_EQ(s["payload"]["kind"], "full");
  EXPECT_EQ(s["downloaded_bytes"], env->delta2_size + env->full2_size);
  ExpectStagedInB(env->v2);
}

TEST_F(UpdateFlowTest, FaultInjectingProxyResumesWithinTenPercent) {
  FaultPlan plan;
  plan.cut_every = 256 << 10;
  plan.fail_every = 4;
  plan.stall_request = 2;
  plan.stall_seconds = 4;
  FaultProxy proxy(env->nginx->port(), plan);
  auto r = Basalt(ApplyArgs(proxy.url(), "edge") + " --max-attempts 0");
  ASSERT_EQ(r.rc, 0) << r.out;
  ExpectStagedInB(env->v3);
  const double ratio =
      static_cast<double>(proxy.faulty_body_bytes()) / static_cast<double>(env->full3_size);
  fmt::print(
      "fault proxy: payload {} bytes, delivered {} bytes ({:.3f}x) over {} requests; "
      "{} cuts, {} stalls, {} 503s\n",
      env->full3_size, proxy.faulty_body_bytes(), ratio, proxy.requests(), proxy.cuts(),
      proxy.stalls(), proxy.failures());
  EXPECT_GE(proxy.cuts(), 3);
  EXPECT_EQ(proxy.stalls(), 1);
  EXPECT_GE(proxy.failures(), 1);
  EXPECT_LE(ratio, 1.1);
  EXPECT_GE(proxy.faulty_body_bytes(), env->full3_size);
}

// Runs `basalt <args>` and kills it (and its helpers) with SIGKILL after `delay` unless it exits
// first. Returns the exit code, or -9 when killed.
int RunAndKill(const std::string& args, std::chrono::milliseconds delay, const fs::path& log) {
  pid_t pid = ::fork();
  if (pid == 0) {
    // Its own process group, so the kill takes its helpers (mtools, fsck.erofs) too, as systemd
    // killing the unit's cgroup or a power cut would.
    ::setpgid(0, 0);
    std::string cmd = BasaltBin() + " " + args + " >" + Quote(log.string()) + " 2>&1";
    ::execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  auto deadline = std::chrono::steady_clock::now() + delay;
  while (std::chrono::steady_clock::now() < deadline) {
    int status;
    if (::waitpid(pid, &status, WNOHANG) == pid)
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ::kill(-pid, SIGKILL);
  ::kill(pid, SIGKILL);
  int status;
  ::waitpid(pid, &status, 0);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return -9;
}

std::string PhaseOf(const std::string& state_dir) {
  try {
    return nlohmann::json::parse(Read(fs::path(state_dir) / "state.json"))["state"];
  } catch (...) {
    return "none";
  }
}

TEST_F(UpdateFlowTest, KillNineAtRandomPointsIsAlwaysConsistent) {
  const char* runs_env = std::getenv("BASALT_CRASH_RUNS");
  const int kills = runs_env ? std::atoi(runs_env) : 100;
  // Throttled so the download phase is long enough to be hit, like a real link.
  auto slow =
      NginxServer::Start(env->www().string(), (work_ / "nginx-slow").string(), "limit_rate 16m;");
  ASSERT_NE(slow, nullptr);
  const std::string args = ApplyArgs(slow->url(), "edge") + " --checkpoint-interval-ms 20";
  const Part& pb = env->v1.parts["USR-B"];

  // One uninterrupted run measures how long the whole flow takes here.
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(RunAndKill(args, std::chrono::minutes(5), work_ / "calibrate.log"), 0)
      << Read(work_ / "calibrate.log");
  auto full_run =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  ExpectStagedInB(env->v3);
  fmt::print("one uninterrupted run: {} ms\n", full_run.count());

  std::mt19937 rng(20261122);
  std::uniform_int_distribution<int64_t> pick(0, full_run.count());
  int consistent = 0, cycles = 0, resumed_to_completion = 0;
  std::map<std::string, int> killed_in;
  auto reset = [&] {
    fs::remove_all(state_);
    ASSERT_EQ(
        Sh("cp --sparse=always " + Quote(env->template_disk.string()) + " " + Quote(disk_)).status,
        0);
    ++cycles;
  };
  reset();
  // Runs until `kills` runs were really killed; runs that finish first (resumed runs are
  // shorter) are checked the same way but not counted as kill points.
  int killed = 0, finished_first = 0;
  for (int k = 0; killed < kills && k < kills * 4; ++k) {
    std::string before = PhaseOf(state_);
    int rc = RunAndKill(args, std::chrono::milliseconds(pick(rng)), work_ / "run.log");
    bool ok = rc == 0 || rc == -9;
    if (rc == -9) {
      ++killed;
      killed_in[PhaseOf(state_)]++;
    } else {
      ++finished_first;
    }
    if (!ok)
      ADD_FAILURE() << "run " << k << " (from " << before << ") exited " << rc << ": "
                    << Read(work_ / "run.log");
    // The active slot is byte-identical; the next boot target is never a partial slot.
    bool a_same = SlotSha("USR-A") == a_sha_;
    auto st = BootStatus(disk_);
    bool boot_ok = !st.is_null() && (st["next"] == "A" || st["next"] == "B");
    if (boot_ok && st["next"] == "B") {
      boot_ok = RangeSha(disk_, pb.offset, env->v3.usr_size) == env->v3.usr_sha &&
                st["slots"]["B"]["version"] == "3.0.0" &&
                st["slots"]["B"]["usr_root_hash"] == env->v3.root_hash &&
                EspFile(disk_, "/basalt/B/vmlinuz") == env->v3.kernel &&
                EspFile(disk_, "/basalt/B/initrd.img") == env->v3.initrd;
    }
    if (ok && a_same && boot_ok) {
      if (rc == -9) ++consistent;
    } else {
      ADD_FAILURE() << "kill " << k << ": rc " << rc << ", slot A same " << a_same
                    << ", boot status " << st.dump();
    }
    if (rc == 0) {
      // Completed (possibly resuming earlier killed runs): flipped, then start a new cycle.
      if (st["next"] == "B") ++resumed_to_completion;
      reset();
    }
  }
  // Whatever state the last kill left must resume to completion.
  ASSERT_EQ(RunAndKill(args, std::chrono::minutes(5), work_ / "final.log"), 0)
      << Read(work_ / "final.log");
  ExpectStagedInB(env->v3);
  std::string where;
  for (const auto& [phase, n] : killed_in)
    where += fmt::format(" {}={}", phase, n);
  fmt::print(
      "{}/{} consistent ({} update cycles, {} completed, {} runs finished before their kill; "
      "kills by the state they left:{})\n",
      consistent, killed, cycles, resumed_to_completion, finished_first, where);
  EXPECT_EQ(killed, kills);
  EXPECT_EQ(consistent, kills);
}

// A private dbus-daemon; its address goes into DBUS_SYSTEM_BUS_ADDRESS for daemon and CLI.
struct PrivateBus {
  pid_t pid = -1;
  std::string address;
  ~PrivateBus() {
    if (pid > 0) {
      ::kill(pid, SIGTERM);
      ::waitpid(pid, nullptr, 0);
    }
  }
};

bool StartBus(const fs::path& dir, PrivateBus& bus) {
  fs::create_directories(dir);
  std::string sock = (dir / "bus").string();
  Write(dir / "bus.conf",
        R"(<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=)" +
            sock + R"(</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
)");
  bus.pid = ::fork();
  if (bus.pid == 0) {
    std::string conf = "--config-file=" + (dir / "bus.conf").string();
    ::execlp("dbus-daemon", "dbus-daemon", conf.c_str(), "--nofork", "--nopidfile",
             static_cast<char*>(nullptr));
    ::_exit(127);
  }
  bus.address = "unix:path=" + sock;
  for (int i = 0; i < 100; ++i) {
    if (fs::exists(sock)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

// basalt-updated on `bus` with the update.conf under `conf_root`, over `disk`, logging to
// `log`; stopped (SIGTERM, reaped) when the DaemonProcess goes.
struct DaemonProcess {
  pid_t pid = -1;
  ~DaemonProcess() {
    if (pid > 0) {
      ::kill(pid, SIGTERM);
      ::waitpid(pid, nullptr, 0);
    }
  }
};

// `root_file`: the shipped first root (--root-file); empty: keys-only trust from `trust`.
pid_t StartDaemon(const PrivateBus& bus, const fs::path& conf_root, const fs::path& log,
                  const std::string& trust, const std::string& state, const std::string& disk,
                  const std::string& root_file = "") {
  std::string updated = fs::path(BasaltBin()).parent_path() / "basalt-updated";
  pid_t daemon = ::fork();
  if (daemon == 0) {
    ::setenv("DBUS_SYSTEM_BUS_ADDRESS", bus.address.c_str(), 1);
    ::unsetenv("NOTIFY_SOCKET");
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    // Without a root file, one that does not exist: the host's own /usr/share/basalt/root.json
    // must not decide the test's trust mode.
    const std::string root =
        root_file.empty() ? (fs::path(state) / "no-shipped-root.json").string() : root_file;
    ::execl(updated.c_str(), updated.c_str(), "--root", conf_root.c_str(), "--keys", trust.c_str(),
            "--root-file", root.c_str(), "--state-dir", state.c_str(), "--disk", disk.c_str(),
            "--no-periodic", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return daemon;
}

TEST_F(UpdateFlowTest, DaemonOverPrivateDbus) {
  if (!HaveTool("dbus-daemon") || !HaveTool("busctl") || !HaveTool("dbus-monitor")) {
    GTEST_SKIP() << "dbus-daemon / busctl / dbus-monitor not installed";
  }
  PrivateBus bus;
  ASSERT_TRUE(StartBus(work_ / "dbus", bus));
  const std::string env_bus = "DBUS_SYSTEM_BUS_ADDRESS=" + Quote(bus.address) + " ";
  fs::path conf_root = work_ / "root";
  Write(conf_root / "etc/basalt/update.conf",
        "SERVER=" + env->nginx->url() + "\nCHANNEL=stable\nREBOOT_STRATEGY=off\n");
  DaemonProcess daemon{
      StartDaemon(bus, conf_root, work_ / "daemon.log", env->trust(), state_, disk_)};
  // Introspectable with busctl once it owns its name.
  std::string introspect;
  for (int i = 0; i < 100; ++i) {
    auto r = Sh("busctl --address=" + Quote(bus.address) +
                " introspect org.basalt.Update1 /org/basalt/Update1");
    if (r.status == 0) {
      introspect = r.output;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_FALSE(introspect.empty()) << Read(work_ / "daemon.log");
  for (const char* member : {"org.basalt.Update1.Manager",
                             ".Check",
                             ".Apply",
                             ".Cancel",
                             ".Rollback",
                             ".MarkGood",
                             ".State",
                             ".Progress",
                             ".CurrentVersion",
                             ".NextVersion",
                             ".Channel",
                             ".LastCheck",
                             ".LastError",
                             ".WaitReason",
                             ".LastSuccess",
                             ".DownloadedDeltaBytes",
                             ".DownloadedFullBytes",
                             ".Failures",
                             ".Rollbacks",
                             "emits-change"}) {
    EXPECT_NE(introspect.find(member), std::string::npos) << member << "\n" << introspect;
  }

  CmdResult status;
  auto cli = [&](const std::string& args) {
    auto r = Sh(env_bus + BasaltBin() + " " + args);
    return CmdResult{r.status, r.output};
  };
  auto json_of = [](const std::string& out) {
    return nlohmann::json::parse(out.substr(out.find('{')));
  };
  status = cli("update status --json");
  ASSERT_EQ(status.rc, 0) << status.out;
  auto st = json_of(status.out);
  EXPECT_EQ(st["state"], "idle");
  EXPECT_EQ(st["current_version"], "1.0.0");
  EXPECT_EQ(st["current_slot"], "A");
  EXPECT_EQ(st["channel"], "stable");
  EXPECT_EQ(st["last_error"], "");

  auto check = cli("update check --json");
  ASSERT_EQ(check.rc, 0) << check.out << Read(work_ / "daemon.log");
  auto ck = json_of(check.out);
  EXPECT_EQ(ck["next_version"], "2.0.0");
  EXPECT_NE(ck["wait_reason"].get<std::string>().find("2.0.0 is available"), std::string::npos);
  EXPECT_NE(ck["last_check"], "");

  // A non-root caller may read but not act.
  if (HaveTool("setpriv")) {
    auto denied = Sh(env_bus + "setpriv --reuid=65534 --regid=65534 --clear-groups " + BasaltBin() +
                     " update check");
    EXPECT_EQ(denied.status, 5) << denied.output;
    EXPECT_NE(denied.output.find("only root"), std::string::npos) << denied.output;
    auto reads = Sh(env_bus + "setpriv --reuid=65534 --regid=65534 --clear-groups " + BasaltBin() +
                    " update status --json");
    EXPECT_EQ(reads.status, 0) << reads.output;
  }

  // PropertiesChanged signals while it applies, seen by a bus monitor.
  fs::path monitor_log = work_ / "monitor.log";
  pid_t monitor = ::fork();
  if (monitor == 0) {
    int fd = ::open(monitor_log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::execlp("dbus-monitor", "dbus-monitor", "--address", bus.address.c_str(),
             "type='signal',member='PropertiesChanged',path='/org/basalt/Update1'",
             static_cast<char*>(nullptr));
    ::_exit(127);
  }
  struct MonitorReaper {
    pid_t pid;
    ~MonitorReaper() {
      ::kill(pid, SIGTERM);
      ::waitpid(pid, nullptr, 0);
    }
  } monitor_reaper{monitor};
  auto monitor_saw = [&](const std::string& text) {
    return Read(monitor_log).find(text) != std::string::npos;
  };
  // The monitor listens once it shows a marker signal sent on the watched path (sent again
  // until it does: a signal sent before the monitor subscribed is not delivered to it).
  bool listening = false;
  for (int i = 0; i < 50 && !listening; ++i) {
    auto emit = Sh("busctl --address=" + Quote(bus.address) +
                   " emit /org/basalt/Update1 org.freedesktop.DBus.Properties PropertiesChanged "
                   "'sa{sv}as' basalt-test-marker 0 0");
    ASSERT_EQ(emit.status, 0) << emit.output;
    listening = WaitFor([&] { return monitor_saw("basalt-test-marker"); }, std::chrono::seconds(1));
  }
  ASSERT_TRUE(listening) << "dbus-monitor never showed the marker signal: " << Read(monitor_log);
  auto apply = cli("update apply --json");
  ASSERT_EQ(apply.rc, 0) << apply.out << Read(work_ / "daemon.log");
  // The signal that announced the staged update reaches the monitor (bounded, not a guess).
  EXPECT_TRUE(
      WaitFor([&] { return monitor_saw("\"updated-need-reboot\""); }, std::chrono::seconds(30)))
      << Read(monitor_log);
  auto ap = json_of(apply.out);
  EXPECT_EQ(ap["state"], "updated-need-reboot");
  EXPECT_EQ(ap["next_version"], "2.0.0");
  ExpectStagedInB(env->v2);
  std::string signals = Read(monitor_log);
  EXPECT_NE(signals.find("org.basalt.Update1.Manager"), std::string::npos) << signals;
  EXPECT_NE(signals.find("\"updated-need-reboot\""), std::string::npos) << signals;

  // The staged slot is not redone, and with REBOOT_STRATEGY=off the wait says why (once the
  // daemon's next tick has looked at the reboot strategy).
  nlohmann::json after;
  EXPECT_TRUE(WaitFor(
      [&] {
        auto r = cli("update status --json");
        if (r.rc != 0) return false;
        after = json_of(r.out);
        return after["wait_reason"].get<std::string>().find("REBOOT_STRATEGY=off") !=
               std::string::npos;
      },
      std::chrono::seconds(30)))
      << after.dump();
  EXPECT_EQ(after["state"], "updated-need-reboot");
  EXPECT_NE(after["wait_reason"].get<std::string>().find("REBOOT_STRATEGY=off"), std::string::npos)
      << after.dump();
  auto cancel = cli("update cancel");
  EXPECT_EQ(cancel.rc, 5) << cancel.out;  // nothing runs

  // The counters on D-Bus / `status --json` and the metrics file (METRICS_PATH's default: the
  // state directory's metrics.prom) agree.
  EXPECT_EQ(after["current_version"], "1.0.0");
  EXPECT_EQ(after["next_version"], "2.0.0");
  EXPECT_EQ(after["downloaded_delta_bytes"], env->delta2_size);
  EXPECT_EQ(after["downloaded_full_bytes"], 0);
  EXPECT_EQ(after["failures"], nlohmann::json::object());
  EXPECT_EQ(after["rollbacks"], 0);
  auto m = ParseMetrics(Read(fs::path(state_) / "metrics.prom"));
  EXPECT_EQ(m["basalt_update_state{state=\"updated-need-reboot\"}"], 1);
  EXPECT_EQ(InfoSeries(m),
            "basalt_update_info{current_version=\"1.0.0\",next_version=\"2.0.0\","
            "channel=\"stable\"}");
  EXPECT_EQ(m["basalt_update_downloaded_bytes_total{kind=\"delta\"}"],
            static_cast<double>(env->delta2_size));
  EXPECT_EQ(EpochOf(after["last_success"]), m["basalt_update_last_success_timestamp_seconds"]);
  EXPECT_GT(m["basalt_update_last_success_timestamp_seconds"], 0);
  EXPECT_EQ(EpochOf(after["last_check"]), m["basalt_update_last_check_timestamp_seconds"]);
}

// Issue 18 (2): an unsigned channel file whose payloadType has a two-byte character across
// byte 80 killed basalt-updated (the state's JSON serialisation threw on the worker thread); it
// restarted into the same file and died again, recording nothing. The real daemon must stay up,
// record a precise LastError, and still serve MarkGood.
TEST_F(UpdateFlowTest, DaemonSurvivesAHostileChannelFile) {
  if (!HaveTool("dbus-daemon") || !HaveTool("busctl")) {
    GTEST_SKIP() << "dbus-daemon / busctl not installed";
  }
  PrivateBus bus;
  ASSERT_TRUE(StartBus(work_ / "dbus", bus));
  const std::string env_bus = "DBUS_SYSTEM_BUS_ADDRESS=" + Quote(bus.address) + " ";
  fs::path repo = work_ / "hostile-repo";
  Write(repo / "channels/stable.json", "{\"payloadType\": \"" + std::string(79, 'a') + "\xc3\xa9" +
                                           std::string(20, 'b') +
                                           "\", \"payload\": \"\", \"signatures\": []}");
  fs::path conf_root = work_ / "root";
  Write(conf_root / "etc/basalt/update.conf",
        "SERVER=" + repo.string() + "\nCHANNEL=stable\nREBOOT_STRATEGY=off\n");
  DaemonProcess daemon{
      StartDaemon(bus, conf_root, work_ / "daemon.log", env->trust(), state_, disk_)};
  auto cli = [&](const std::string& args) { return Sh(env_bus + BasaltBin() + " " + args); };
  ASSERT_TRUE(
      WaitFor([&] { return cli("update status --json").status == 0; }, std::chrono::seconds(10)))
      << Read(work_ / "daemon.log");

  auto check = cli("update check --json");
  EXPECT_NE(check.status, 0) << check.output;
  nlohmann::json st;
  EXPECT_TRUE(WaitFor(
      [&] {
        auto r = cli("update status --json");
        if (r.status != 0) return false;
        st = nlohmann::json::parse(r.output.substr(r.output.find('{')));
        return !st["busy"].get<bool>() && !st["last_error"].get<std::string>().empty();
      },
      std::chrono::seconds(30)))
      << st.dump() << Read(work_ / "daemon.log");
  const std::string error = st["last_error"];
  EXPECT_NE(error.find("envelope payloadType is \"" + std::string(40, 'a')), std::string::npos)
      << error;
  EXPECT_NE(error.find("expected \"application/vnd.basalt"), std::string::npos) << error;
  EXPECT_EQ(st["state"], "idle");
  EXPECT_EQ(::waitpid(daemon.pid, nullptr, WNOHANG), 0)
      << "basalt-updated exited: " << Read(work_ / "daemon.log");
  auto saved = nlohmann::json::parse(Read(fs::path(state_) / "state.json"));
  EXPECT_EQ(saved["last_error"], error);

  auto good = cli("update mark-good --json");
  EXPECT_EQ(good.status, 0) << good.output << Read(work_ / "daemon.log");
  EXPECT_EQ(::waitpid(daemon.pid, nullptr, WNOHANG), 0) << Read(work_ / "daemon.log");
}

// --- Fleet: etcd reboot lock, Omaha transport, metrics (docs/fleet.md) ------------------------

std::string FirstLineOf(const std::string& path) {
  std::string s = Read(path);
  return s.substr(0, s.find('\n'));
}

// The metrics file as series -> value, e.g. {"basalt_update_rollbacks_total", 0}.
std::map<std::string, double> ParseMetrics(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    auto sp = line.rfind(' ');
    EXPECT_NE(sp, std::string::npos) << line;
    if (sp == std::string::npos) continue;
    out[line.substr(0, sp)] = std::stod(line.substr(sp + 1));
  }
  return out;
}

// The one basalt_update_info series (its labels carry the versions).
std::string InfoSeries(const std::map<std::string, double>& m) {
  for (const auto& [k, v] : m) {
    if (k.starts_with("basalt_update_info{")) return k;
  }
  return "";
}

int64_t EpochOf(const std::string& rfc3339) {
  std::tm tm{};
  if (strptime(rfc3339.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm) == nullptr) return -1;
  return static_cast<int64_t>(timegm(&tm));
}

// A `basalt` process running in the background, in its own process group.
struct Background {
  pid_t pid = -1;
  fs::path log;
  int rc = -100;  // exit code once reaped; -9 when killed
  bool Running() {
    if (rc != -100) return false;
    int status;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      rc = WIFEXITED(status) ? WEXITSTATUS(status) : -9;
      return false;
    }
    return true;
  }
  // Whether it was still running when killed.
  bool Kill9() {
    if (!Running()) return false;
    ::kill(-pid, SIGKILL);
    int status;
    ::waitpid(pid, &status, 0);
    rc = -9;
    return true;
  }
};

Background StartBasalt(const std::string& args, const fs::path& log) {
  Background b;
  b.log = log;
  b.pid = ::fork();
  if (b.pid == 0) {
    ::setpgid(0, 0);
    std::string cmd = "exec " + BasaltBin() + " " + args + " >" + Quote(log.string()) + " 2>&1";
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::setpgid(b.pid, b.pid);
  return b;
}

// Polls `done` every 10 ms until it holds or `limit` passes.
bool WaitFor(const std::function<bool()>& done, std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

nlohmann::json LastJson(const std::string& out) {
  auto p = out.rfind("\n{");
  size_t start = p == std::string::npos ? out.find('{') : p + 1;
  if (start == std::string::npos) return nullptr;
  try {
    return nlohmann::json::parse(out.substr(start));
  } catch (...) {
    return nullptr;
  }
}

// Samples the group's holders every 10 ms: the most seen at once and the order they came in.
class LockWatcher {
 public:
  LockWatcher(const std::string& endpoint, const std::string& group) {
    fleet::EtcdOptions o;
    o.endpoints = {endpoint};
    client_ = std::move(*fleet::EtcdClient::Create(o));
    lock_ = std::make_unique<fleet::RebootLock>(*client_, group, 1, std::chrono::seconds(60));
    thread_ = std::thread([this] {
      std::set<std::string> prev;
      while (!stop_) {
        auto st = lock_->Status();
        if (st) {
          std::set<std::string> now;
          for (const auto& h : st->holders)
            now.insert(h.machine_id);
          std::lock_guard l(mu_);
          max_ = std::max(max_, now.size());
          for (const auto& h : now) {
            if (!prev.contains(h)) order_.push_back(h);
          }
          current_ = now;
          prev = now;
          ++samples_;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    });
  }
  ~LockWatcher() {
    stop_ = true;
    thread_.join();
  }
  size_t max() {
    std::lock_guard l(mu_);
    return max_;
  }
  std::vector<std::string> order() {
    std::lock_guard l(mu_);
    return order_;
  }
  std::set<std::string> current() {
    std::lock_guard l(mu_);
    return current_;
  }
  uint64_t samples() {
    std::lock_guard l(mu_);
    return samples_;
  }

 private:
  std::unique_ptr<fleet::EtcdClient> client_;
  std::unique_ptr<fleet::RebootLock> lock_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  size_t max_ = 0;
  uint64_t samples_ = 0;
  std::vector<std::string> order_;
  std::set<std::string> current_;
  std::thread thread_;
};

// Three offline hosts, each `basalt update apply --disk` on its own copy of the v1 disk with
// REBOOT_STRATEGY=etcd-lock and one slot: each stages 2.0.0, then only the slot holder may
// "reboot" (apply exits with reboot_now); the others wait, as their state says. The holder is
// killed -9 and restarted: it finds its own slot and goes on without waiting. `after-boot` marks
// its new slot good and frees the slot for the next host; that host dies holding it, and
// `basalt fleet lock unlock` frees it for the third. A watcher samples etcd every 10 ms
// throughout: never more than one holder.
TEST_F(UpdateFlowTest, FleetEtcdLockRebootsOneHostAtATime) {
  fleet::testing::EtcdServer etcd;
  if (!fleet::testing::EtcdServer::installed()) GTEST_SKIP() << etcd.error();
  ASSERT_EQ(etcd.error(), "");
  const std::string group = "fleet-test";
  struct Host {
    std::string id, disk, state, config;
    Background proc;
  };
  std::vector<Host> hosts;
  for (int i = 1; i <= 3; ++i) {
    Host h;
    h.id = fmt::format("host-{}", i);
    fs::path dir = work_ / h.id;
    fs::create_directories(dir);
    h.disk = (dir / "disk.img").string();
    h.state = (dir / "state").string();
    h.config = (dir / "update.conf").string();
    ASSERT_EQ(
        Sh("cp --sparse=always " + Quote(env->template_disk.string()) + " " + Quote(h.disk)).status,
        0);
    Write(h.config, fmt::format("SERVER={}\nCHANNEL=stable\nREBOOT_STRATEGY=etcd-lock\n"
                                "ETCD_ENDPOINTS={}\nETCD_LOCK_GROUP={}\nETCD_MAX_HOLDERS=1\n"
                                "ETCD_LOCK_TTL=5m\n",
                                env->nginx->url(), etcd.endpoint(), group));
    hosts.push_back(h);
  }
  auto apply_args = [&](const Host& h) {
    return fmt::format(
        "update apply --disk {} --keys {} --state {} --config {} --machine-id {} "
        "--lock-poll-ms 50 --retry-initial-ms 50 --json",
        Quote(h.disk), Quote(env->trust().string()), Quote(h.state), Quote(h.config), h.id);
  };
  auto after_boot = [&](const Host& h) {
    return Basalt(
        fmt::format("update after-boot --disk {} --state {} --config {} --machine-id {} "
                    "--json",
                    Quote(h.disk), Quote(h.state), Quote(h.config), h.id));
  };
  auto state_of = [&](const Host& h) -> nlohmann::json {
    try {
      return nlohmann::json::parse(Read(fs::path(h.state) / "state.json"));
    } catch (...) {
      return nullptr;
    }
  };
  auto waiting_on = [&](const Host& h, const std::string& holder) {
    auto s = state_of(h);
    return !s.is_null() && s["state"] == "updated-need-reboot" &&
           s["wait_reason"].get<std::string>().find("held by " + holder) != std::string::npos;
  };
  auto by_id = [&](const std::string& id) -> Host& {
    for (auto& h : hosts) {
      if (h.id == id) return h;
    }
    ADD_FAILURE() << "unknown holder " << id;
    return hosts[0];
  };

  LockWatcher watch(etcd.endpoint(), group);
  for (auto& h : hosts)
    h.proc = StartBasalt(apply_args(h), work_ / (h.id + ".log"));

  // The first host to stage takes the slot; the other two stage and then wait for it.
  ASSERT_TRUE(WaitFor([&] { return !watch.order().empty(); }, std::chrono::seconds(240)))
      << Read(hosts[0].proc.log);
  Host& first = by_id(watch.order()[0]);
  // Killed -9 while holding the slot ("mid-reboot"), before or after it reported.
  const bool killed_running = first.proc.Kill9();
  std::vector<Host*> others;
  for (auto& h : hosts) {
    if (h.id != first.id) others.push_back(&h);
  }
  for (Host* o : others) {
    ASSERT_TRUE(WaitFor([&] { return waiting_on(*o, first.id); }, std::chrono::seconds(240)))
        << o->id << ": " << state_of(*o).dump() << "\n"
        << Read(o->proc.log);
    EXPECT_TRUE(o->proc.Running()) << Read(o->proc.log);
  }
  EXPECT_EQ(watch.current(), std::set<std::string>{first.id});

  // Restarted: the update is already staged and the slot is already its own, so it reboots at
  // once, while the others still wait.
  auto again = Basalt(apply_args(first));
  ASSERT_EQ(again.rc, 0) << again.out;
  auto j = LastJson(again.out);
  ASSERT_FALSE(j.is_null()) << again.out;
  EXPECT_EQ(j["state"], "updated-need-reboot");
  EXPECT_EQ(j["reboot"]["strategy"], "etcd-lock");
  EXPECT_EQ(j["reboot"]["reboot_now"], true);
  EXPECT_EQ(watch.order(), std::vector<std::string>{first.id});
  for (Host* o : others)
    EXPECT_TRUE(o->proc.Running()) << o->id;

  // The new boot is good: the slot goes back and the next host takes it.
  auto ab = after_boot(first);
  ASSERT_EQ(ab.rc, 0) << ab.out;
  EXPECT_EQ(LastJson(ab.out)["state"], "good") << ab.out;
  auto bs = BootStatus(first.disk);
  EXPECT_EQ(bs["next"], "B") << bs.dump();
  EXPECT_EQ(bs["slots"]["B"]["state"], "good") << bs.dump();
  EXPECT_EQ(bs["slots"]["B"]["version"], "2.0.0") << bs.dump();
  ASSERT_TRUE(WaitFor([&] { return watch.order().size() >= 2; }, std::chrono::seconds(60)));
  Host& second = by_id(watch.order()[1]);
  ASSERT_NE(second.id, first.id);
  ASSERT_TRUE(WaitFor([&] { return !second.proc.Running(); }, std::chrono::seconds(60)));
  EXPECT_EQ(second.proc.rc, 0) << Read(second.proc.log);
  EXPECT_EQ(LastJson(Read(second.proc.log))["reboot"]["reboot_now"], true) << Read(second.proc.log);
  Host* third = nullptr;
  for (Host* o : others) {
    if (o->id != second.id) third = o;
  }
  ASSERT_NE(third, nullptr);
  // The second host never comes back: the third waits on it until an operator frees the slot.
  ASSERT_TRUE(WaitFor([&] { return waiting_on(*third, second.id); }, std::chrono::seconds(60)))
      << state_of(*third).dump();
  EXPECT_TRUE(third->proc.Running());
  auto unlock = Basalt(fmt::format("fleet lock unlock {} --endpoints {} --group {}", second.id,
                                   etcd.endpoint(), group));
  ASSERT_EQ(unlock.rc, 0) << unlock.out;
  ASSERT_TRUE(WaitFor([&] { return !third->proc.Running(); }, std::chrono::seconds(60)));
  EXPECT_EQ(third->proc.rc, 0) << Read(third->proc.log);
  auto ab3 = after_boot(*third);
  ASSERT_EQ(ab3.rc, 0) << ab3.out;
  ASSERT_TRUE(WaitFor([&] { return watch.current().empty(); }, std::chrono::seconds(10)));

  EXPECT_EQ(watch.order(), (std::vector<std::string>{first.id, second.id, third->id}));
  EXPECT_EQ(watch.max(), 1u) << "two hosts held the reboot slot at once";
  EXPECT_EQ(state_of(second)["state"], "updated-need-reboot") << "it never came back";
  fmt::print(
      "etcd lock: {} samples, at most {} holder(s), order {} -> {} -> {}; the first holder was "
      "killed {}\n",
      watch.samples(), watch.max(), first.id, second.id, third->id,
      killed_running ? "while its apply still ran" : "after its apply had reported reboot_now");
}

// tests/fixtures/omaha's recorded shapes with the placeholders filled in.
constexpr char kOmahaAppId[] = "{5d1a0b7e-3c2b-4e0f-9a11-0123456789ab}";

std::string OmahaFixture(const std::string& name, const std::string& base,
                         const std::string& package, const std::string& version) {
  const char* src = getenv("BASALT_SOURCE_DIR");
  std::string xml = Read(fs::path(src ? src : ".") / "tests/fixtures/omaha" / name);
  std::string data = package.empty() ? std::string() : Read(package);
  auto sha256 = Sha256(std::string_view(data));
  Hasher sha1(HashAlgorithm::kSha1);
  sha1.Update(std::string_view(data));
  const std::pair<std::string, std::string> fill[] = {
      {"@APPID@", kOmahaAppId},
      {"@VERSION@", version},
      {"@BASE@", base},
      {"@NAME@", fs::path(package).filename().string()},
      {"@SIZE@", std::to_string(data.size())},
      {"@SHA256_HEX@", ToHex(sha256)},
      {"@SHA256_B64@", Base64Encode(sha256)},
      {"@SHA1_B64@", Base64Encode(sha1.Final())}};
  for (const auto& [from, to] : fill) {
    for (size_t p = 0; (p = xml.find(from, p)) != std::string::npos; p += to.size())
      xml.replace(p, from.size(), to);
  }
  return xml;
}

class OmahaFlowTest : public UpdateFlowTest {
 protected:
  void SetUp() override {
    UpdateFlowTest::SetUp();
    if (IsSkipped()) return;
    omaha_ = std::make_unique<fleet::testing::RecordingHttpServer>((work_ / "omaha").string());
    config_ = (work_ / "update.conf").string();
    metrics_ = (work_ / "metrics.prom").string();
    // The rig's Omaha server and nginx listen on 127.0.0.1 without TLS.
    Write(config_, fmt::format("PROTOCOL=omaha\nSERVER={}\nOMAHA_APP_ID={}\nCHANNEL=beta\n"
                               "REBOOT_STRATEGY=off\nMETRICS_PATH={}\n"
                               "OMAHA_INSECURE_HTTP_FOR_TESTING=yes\n",
                               omaha_->Url("/v1/update/"), kOmahaAppId, metrics_));
  }

  // An update to `version` whose package is `payload` under `dir_url`, listed after two
  // mirrors that do not have it (404).
  void QueueUpdate(const std::string& dir_url, const std::string& payload,
                   const std::string& version) {
    omaha_->QueuePostResponse(OmahaFixture("update-multi-url.xml", dir_url, payload, version));
    for (int i = 0; i < 4; ++i) {
      omaha_->QueuePostResponse(OmahaFixture("event-ack.xml", dir_url, "", version));
    }
  }

  CmdResult Apply() {
    return Basalt(fmt::format(
        "update apply --disk {} --keys {} --state {} --config {} --machine-id {} "
        "--retry-initial-ms 50 --json",
        Quote(disk_), Quote(env->trust().string()), Quote(state_), Quote(config_), kMachine));
  }

  // Every recorded request is an Omaha 3.0 request from this host, running `version`; returns
  // the <app> elements' first child names with event type/result/errorcode.
  std::vector<std::string> CheckRequests(size_t from, const std::string& version) {
    std::vector<std::string> out;
    auto reqs = omaha_->Requests();
    for (size_t i = from; i < reqs.size(); ++i) {
      const auto& r = reqs[i];
      EXPECT_EQ(r.method, "POST");
      EXPECT_EQ(r.path, "/v1/update/");
      EXPECT_EQ(r.content_type, "text/xml");
      pugi::xml_document doc;
      EXPECT_TRUE(doc.load_string(r.body.c_str())) << r.body;
      auto req = doc.child("request");
      EXPECT_STREQ(req.attribute("protocol").value(), "3.0");
      EXPECT_STREQ(req.attribute("ismachine").value(), "1");
      EXPECT_STREQ(req.child("os").attribute("platform").value(), "Basalt");
      EXPECT_EQ(req.child("os").attribute("version").value(), version);
      auto app = req.child("app");
      EXPECT_STREQ(app.attribute("appid").value(), kOmahaAppId);
      EXPECT_EQ(app.attribute("version").value(), version) << r.body;
      EXPECT_STREQ(app.attribute("track").value(), "beta");
      EXPECT_STREQ(app.attribute("machineid").value(), kMachine);
      EXPECT_EQ(app.attribute("bootid").value(), FirstLineOf("/proc/sys/kernel/random/boot_id"));
      EXPECT_STREQ(app.attribute("board").value(), "amd64-usr");
      EXPECT_STREQ(app.attribute("delta_okay").value(), "false");
      if (app.child("updatecheck")) {
        out.push_back("updatecheck");
      } else if (auto ev = app.child("event")) {
        std::string code = ev.attribute("errorcode").value();
        out.push_back(fmt::format("event {}/{}{}", ev.attribute("eventtype").value(),
                                  ev.attribute("eventresult").value(),
                                  code.empty() ? "" : " code " + code));
      } else {
        out.push_back("?" + r.body);
      }
    }
    return out;
  }

  std::map<std::string, double> Metrics() { return ParseMetrics(Read(metrics_)); }

  static constexpr char kMachine[] = "0123456789abcdef0123456789abcdef";
  std::unique_ptr<fleet::testing::RecordingHttpServer> omaha_;
  std::string config_, metrics_;
};

// An Omaha server (the fixture, replaying Nebraska's shapes) offers 3.0.0 with the signed full
// payload served by nginx: it downloads past two 404 mirrors, applies, verifies, and slot B
// holds 3.0.0. The server hears update check, 13/1, 14/1 and, after the new boot is good, 3/2.
// The metrics file and `status --json` agree at each step.
TEST_F(OmahaFlowTest, SignedPayloadOfferedByOmahaApplies) {
  QueueUpdate(env->nginx->url() + "/releases/3.0.0/",
              (env->www() / "releases/3.0.0/full.payload").string(), "3.0.0");
  auto r = Apply();
  ASSERT_EQ(r.rc, 0) << r.out;
  ExpectStagedInB(env->v3);
  EXPECT_EQ(CheckRequests(0, "1.0.0"),
            (std::vector<std::string>{"updatecheck", "event 13/1", "event 14/1"}));
  auto j = LastJson(r.out);
  EXPECT_EQ(j["reboot"]["strategy"], "off");
  EXPECT_EQ(j["reboot"]["reboot_now"], false);

  auto m = Metrics();
  EXPECT_EQ(m["basalt_update_state{state=\"updated-need-reboot\"}"], 1);
  EXPECT_EQ(m["basalt_update_state{state=\"idle\"}"], 0);
  EXPECT_EQ(
      InfoSeries(m),
      "basalt_update_info{current_version=\"1.0.0\",next_version=\"3.0.0\",channel=\"beta\"}");
  EXPECT_EQ(m["basalt_update_downloaded_bytes_total{kind=\"full\"}"],
            static_cast<double>(env->full3_size));
  EXPECT_EQ(m["basalt_update_downloaded_bytes_total{kind=\"delta\"}"], 0);
  EXPECT_EQ(m["basalt_update_rollbacks_total"], 0);
  const int64_t now = ::time(nullptr);
  EXPECT_GT(m["basalt_update_last_success_timestamp_seconds"], now - 600);
  EXPECT_GE(m["basalt_update_last_success_timestamp_seconds"],
            m["basalt_update_last_check_timestamp_seconds"]);
  for (const auto& [k, v] : m)
    EXPECT_FALSE(k.starts_with("basalt_update_failures_total{")) << k;
  // The same numbers from `basalt update status --json`.
  auto st = Basalt("update status --json --state " + Quote(state_) + " --disk " + Quote(disk_));
  ASSERT_EQ(st.rc, 0) << st.out;
  auto s = LastJson(st.out);
  EXPECT_EQ(s["state"], "updated-need-reboot");
  EXPECT_EQ(s["current_version"], "1.0.0");
  EXPECT_EQ(s["next_version"], "3.0.0");
  EXPECT_EQ(s["downloaded_full_bytes"], env->full3_size);
  EXPECT_EQ(s["downloaded_delta_bytes"], 0);
  EXPECT_EQ(s["failures"], nlohmann::json::object());
  EXPECT_EQ(s["rollbacks"], 0);
  EXPECT_EQ(EpochOf(s["last_success"]), m["basalt_update_last_success_timestamp_seconds"]);
  EXPECT_EQ(EpochOf(s["last_check"]), m["basalt_update_last_check_timestamp_seconds"]);

  // The new slot booted and is good: 3/2, sent as the new version.
  auto ab = Basalt(fmt::format("update after-boot --disk {} --state {} --config {} --machine-id {}",
                               Quote(disk_), Quote(state_), Quote(config_), kMachine));
  ASSERT_EQ(ab.rc, 0) << ab.out;
  EXPECT_EQ(CheckRequests(3, "3.0.0"), std::vector<std::string>{"event 3/2"});
  m = Metrics();
  EXPECT_EQ(m["basalt_update_state{state=\"good\"}"], 1);
  EXPECT_EQ(m["basalt_update_state{state=\"updated-need-reboot\"}"], 0);
  EXPECT_EQ(InfoSeries(m),
            "basalt_update_info{current_version=\"3.0.0\",next_version=\"\",channel=\"beta\"}");
  EXPECT_EQ(BootStatus(disk_)["slots"]["B"]["state"], "good");
}

// The same offer, but the payload is signed by a key the host does not trust: the server's size
// and SHA-256 match, yet the payload verifier refuses it before writing. Slot B's bytes and the
// boot order are unchanged, status says why, the server hears 3/0 with error code 18, and the
// metrics count an integrity failure.
TEST_F(OmahaFlowTest, PayloadSignedByAnUntrustedKeyIsRefused) {
  auto k = Basalt("keys generate --output " + Quote((work_ / "rogue-keys").string()) + " --json");
  ASSERT_EQ(k.rc, 0) << k.out;
  std::string rogue_key = LastJson(k.out)["key_id"];
  fs::path dir = env->www() / ("rogue-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::string payload = (dir / "full.payload").string();
  auto g =
      Basalt(fmt::format("payload generate --new {} --output {} --key {} --zstd-level 3 --no-xz",
                         Quote(env->v3.dir.string()), Quote(payload),
                         Quote((work_ / "rogue-keys" / (rogue_key + ".pem")).string())));
  ASSERT_EQ(g.rc, 0) << g.out;
  const Part& pb = env->v1.parts["USR-B"];
  const std::string b_before = RangeSha(disk_, pb.offset, pb.size);

  QueueUpdate(env->nginx->url() + "/" + dir.filename().string() + "/", payload, "3.0.0");
  auto r = Apply();
  EXPECT_EQ(r.rc, 4) << r.out;
  auto st = Basalt("update status --json --state " + Quote(state_) + " --disk " + Quote(disk_));
  ASSERT_EQ(st.rc, 0) << st.out;
  auto s = LastJson(st.out);
  EXPECT_EQ(s["state"], "idle");
  EXPECT_NE(s["last_error"].get<std::string>().find("trusted"), std::string::npos)
      << s["last_error"];
  EXPECT_EQ(RangeSha(disk_, pb.offset, pb.size), b_before) << "slot B was written";
  EXPECT_EQ(SlotSha("USR-A"), a_sha_);
  EXPECT_EQ(BootStatus(disk_)["next"], "A");
  EXPECT_EQ(
      CheckRequests(0, "1.0.0"),
      (std::vector<std::string>{"updatecheck", "event 13/1", "event 14/1", "event 3/0 code 18"}));
  auto m = Metrics();
  EXPECT_EQ(m["basalt_update_state{state=\"idle\"}"], 1);
  EXPECT_EQ(m["basalt_update_failures_total{reason=\"integrity\"}"], 1);
  EXPECT_EQ(m["basalt_update_last_success_timestamp_seconds"], 0);
  EXPECT_EQ(m["basalt_update_downloaded_bytes_total{kind=\"full\"}"],
            static_cast<double>(fs::file_size(payload)));
  EXPECT_EQ(s["failures"], (nlohmann::json{{"integrity", 1}}));
  EXPECT_EQ(s["downloaded_full_bytes"], fs::file_size(payload));
  fs::remove_all(dir);
}

// --- Daemon attack matrix and key rotation (issue 18) ------------------------------------------
//
// basalt-updated on a private D-Bus, driven with `basalt update check/apply` as an operator
// would, against hostile repositories served by nginx (or a drip server, or the Omaha fake).
// Every refused attack must leave slot A byte-identical, slot B untouched and not booting next,
// a precise LastError, and the daemon running.

struct KeyFiles {
  std::string id, priv, pub;
};

KeyFiles NewKey(const fs::path& dir) {
  auto k = Basalt("keys generate --output " + Quote(dir.string()) + " --json");
  EXPECT_EQ(k.rc, 0) << k.out;
  std::string id = LastJson(k.out)["key_id"];
  return {id, (dir / (id + ".pem")).string(), (dir / (id + ".pub.pem")).string()};
}

KeyFiles FixtureKey() {
  std::string id = fs::path(env->key).stem().string();
  return {id, env->key, (env->keys() / (id + ".pub.pem")).string()};
}

// Replaces `p` (never writes through it: repository copies share payloads with the fixture).
void Replace(const fs::path& p, const std::string& data) {
  std::error_code ec;
  fs::remove(p, ec);
  Write(p, data);
}

// A copy of the fixture's repository at `to`: documents copied, payloads linked.
void CopyRepo(const fs::path& to) {
  for (const auto& e : fs::recursive_directory_iterator(env->www())) {
    fs::path rel = fs::relative(e.path(), env->www());
    if (e.is_directory()) {
      fs::create_directories(to / rel);
    } else if (e.path().extension() == ".payload") {
      fs::create_symlink(e.path(), to / rel);
    } else {
      fs::copy_file(e.path(), to / rel);
    }
  }
}

// The channel document in envelope `from`, changed by `edit`, signed by `signers` into `to`.
void ResignChannel(const fs::path& from, const fs::path& to,
                   const std::function<void(repo::Channel&)>& edit,
                   const std::vector<std::string>& signers) {
  auto envelope = repo::ParseEnvelope(Read(from));
  ASSERT_TRUE(envelope.has_value()) << envelope.error().message();
  auto ch = repo::ParseChannel(envelope->payload);
  ASSERT_TRUE(ch.has_value()) << ch.error().message();
  edit(*ch);
  std::vector<PrivateKey> keys;
  for (const auto& s : signers) {
    auto k = PrivateKey::Load(s);
    ASSERT_TRUE(k.has_value()) << k.error().message();
    keys.push_back(std::move(*k));
  }
  auto signed_doc =
      repo::SignEnvelope(repo::kChannelPayloadType, repo::SerializeChannel(*ch), keys);
  ASSERT_TRUE(signed_doc.has_value()) << signed_doc.error().message();
  Replace(to, *signed_doc);
}

// A repository with a root document (`init_args`: init-root's --repository, role keys,
// thresholds, --sign-with) and 2.0.0 published from the fixture's image with `payload` (a full
// payload signed by `release_key`; empty: the fixture's, signed by the fixture key), channel
// stable -> 2.0.0 signed by `channel_key`. `rotate` (e.g. `keys rotate` calls) runs after
// init-root, before anything is published.
void MakeRootRepo(const fs::path& repo, const std::string& init_args,
                  const std::string& release_key, const std::string& channel_key,
                  std::string payload = "", const std::function<void()>& rotate = {}) {
  if (payload.empty()) payload = (env->www() / "releases/2.0.0/full.payload").string();
  auto init = Basalt("keys init-root --repo " + Quote(repo.string()) + " " + init_args);
  ASSERT_EQ(init.rc, 0) << init.out;
  if (rotate) rotate();
  auto pub = Basalt(fmt::format("release publish --repo {} --image-dir {} --payload {} --key {}",
                                Quote(repo.string()), Quote(env->v2.dir.string()), Quote(payload),
                                Quote(release_key)));
  ASSERT_EQ(pub.rc, 0) << pub.out;
  auto ch = Basalt(fmt::format("channel set --repo {} --channel stable --release 2.0.0 --key {}",
                               Quote(repo.string()), Quote(channel_key)));
  ASSERT_EQ(ch.rc, 0) << ch.out;
}

// init-root arguments: repository `name`, `k` holds every role and signs.
std::string SoleKeyRoot(const KeyFiles& k, const std::string& name = "prod") {
  return fmt::format(
      "--repository {0} --root-key {1} --release-key {1} --channel-key {1} --sign-with {1}", name,
      Quote(k.priv));
}

// The stable channel of `repo`, changed by `edit` and signed again by the fixture key.
void ResignStable(const fs::path& repo, const std::function<void(repo::Channel&)>& edit) {
  ResignChannel(repo / "channels/stable.json", repo / "channels/stable.json", edit, {env->key});
}

uint64_t RootVersionOf(const fs::path& envelope_file) {
  auto envelope = repo::ParseEnvelope(Read(envelope_file));
  if (!envelope) return 0;
  try {
    return nlohmann::json::parse(envelope->payload)["version"].get<uint64_t>();
  } catch (...) {
    return 0;
  }
}

class DaemonAttackTest : public UpdateFlowTest {
 public:
  void SetUp() override {
    UpdateFlowTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    if (!HaveTool("dbus-daemon") || !HaveTool("busctl")) {
      GTEST_SKIP() << "dbus-daemon / busctl not installed";
    }
    b_sha_ = SlotSha("USR-B");
    trust_ = env->trust().string();
    ASSERT_TRUE(StartBus(work_ / "dbus", bus_));
  }

  void TearDown() override {
    StopHost();
    nginx_.reset();
    if (bus_.pid > 0) {
      ::kill(bus_.pid, SIGTERM);
      ::waitpid(bus_.pid, nullptr, 0);
      bus_.pid = -1;
    }
    UpdateFlowTest::TearDown();
  }

  fs::path work() const { return work_; }
  const std::string& state() const { return state_; }
  fs::path repo() const { return work_ / "repo"; }
  NginxServer& nginx() { return *nginx_; }

  // A copy of the fixture's repository (CopyRepo) at repo().
  fs::path CopiedRepo() {
    CopyRepo(repo());
    return repo();
  }

  // The first root of `repo`, as a host ships it (later versions are published over it).
  std::string ShipRoot(const fs::path& repo) {
    fs::copy_file(repo / "roots/1.json", work_ / "shipped-root.json");
    return (work_ / "shipped-root.json").string();
  }

  // basalt-updated with update.conf = SERVER, CHANNEL and `extra` lines; `root_file`: the
  // shipped root (empty: keys-only, trusting trust_). Returns once it answers on the bus.
  void StartHost(const std::string& server, const std::string& extra = "",
                 const std::string& root_file = "", const std::string& channel = "stable") {
    StopHost();
    fs::path conf_root = work_ / "root";
    Replace(conf_root / "etc/basalt/update.conf",
            fmt::format("SERVER={}\nCHANNEL={}\nREBOOT_STRATEGY=off\n{}", server, channel, extra));
    daemon_.pid =
        StartDaemon(bus_, conf_root, work_ / "daemon.log", trust_, state_, disk_, root_file);
    ASSERT_TRUE(
        WaitFor([&] { return Cli("update status --json").rc == 0; }, std::chrono::seconds(10)))
        << DaemonLog();
  }

  // nginx serving `dir`, and the host on it.
  void ServeAndStart(const fs::path& dir, const std::string& extra = "",
                     const std::string& root_file = "", const std::string& channel = "stable") {
    nginx_ = NginxServer::Start(dir.string(), (work_ / "nginx").string());
    ASSERT_NE(nginx_, nullptr) << Read(work_ / "nginx/error.log");
    StartHost(nginx_->url(), extra, root_file, channel);
  }

  void StopHost() {
    if (daemon_.pid > 0) {
      ::kill(daemon_.pid, SIGTERM);
      ::waitpid(daemon_.pid, nullptr, 0);
      daemon_.pid = -1;
    }
  }

  bool DaemonRunning() { return daemon_.pid > 0 && ::waitpid(daemon_.pid, nullptr, WNOHANG) == 0; }
  std::string DaemonLog() { return Read(work_ / "daemon.log"); }

  CmdResult Cli(const std::string& args) {
    auto r = Sh("DBUS_SYSTEM_BUS_ADDRESS=" + Quote(bus_.address) + " " + BasaltBin() + " " + args);
    return {r.status, r.output};
  }

  // `update status --json` once no run is in progress.
  nlohmann::json Idle() {
    nlohmann::json st;
    EXPECT_TRUE(WaitFor(
        [&] {
          auto r = Cli("update status --json");
          if (r.rc != 0) return false;
          st = LastJson(r.out);
          return !st.is_null() && !st["busy"].get<bool>();
        },
        std::chrono::seconds(60)))
        << st.dump() << DaemonLog();
    return st;
  }

  // `update <action>` succeeds and the run ends without an error.
  nlohmann::json ExpectAccepted(const std::string& action) {
    auto r = Cli("update " + action + " --json");
    EXPECT_EQ(r.rc, 0) << r.out << DaemonLog();
    auto st = Idle();
    EXPECT_EQ(st["last_error"], "") << st.dump();
    EXPECT_TRUE(DaemonRunning()) << DaemonLog();
    return st;
  }

  // A check (or apply) that must be refused: the four outcomes of every attack.
  void ExpectRefused(const std::string& action, const std::string& fragment) {
    auto r = Cli("update " + action + " --json");
    EXPECT_NE(r.rc, 0) << r.out;
    auto st = Idle();
    const std::string error = st.value("last_error", "");
    EXPECT_NE(error.find(fragment), std::string::npos)
        << "last_error: " << error << "\nwanted: " << fragment << "\n"
        << DaemonLog();
    EXPECT_EQ(st["state"], "idle") << st.dump();
    ExpectUnharmed();
    last_error_ = error;
  }

  // Slot A byte-identical; slot B unwritten and not booting next; the daemon alive.
  void ExpectUnharmed() {
    EXPECT_EQ(SlotSha("USR-A"), a_sha_) << "slot A changed";
    EXPECT_EQ(SlotSha("USR-B"), b_sha_) << "slot B was written";
    auto bs = BootStatus(disk_);
    ASSERT_FALSE(bs.is_null());
    EXPECT_EQ(bs["next"], "A") << bs.dump();
    EXPECT_NE(bs["slots"]["B"]["state"], "pending") << bs.dump();
    EXPECT_TRUE(DaemonRunning()) << "basalt-updated exited: " << DaemonLog();
  }

  nlohmann::json SavedState() {
    return nlohmann::json::parse(Read(fs::path(state_) / "state.json"));
  }
  uint64_t KeptRootVersion() { return RootVersionOf(fs::path(state_) / "root.json"); }

  std::string trust_, last_error_;

 protected:
  PrivateBus bus_;
  DaemonProcess daemon_;
  std::unique_ptr<NginxServer> nginx_;
  std::string b_sha_;
};

// One row of the matrix: `attack` builds the hostile repository, starts the host and runs the
// refused `update check` or `update apply` through ExpectRefused, which asserts the four
// outcomes with `expect`, a stable code or a distinctive fragment of LastError.
struct AttackRow {
  const char* name;
  const char* expect;
  void (*attack)(DaemonAttackTest& t, const std::string& expect);
};

void PrintTo(const AttackRow& row, std::ostream* os) {
  *os << row.name;
}

const AttackRow kAttackRows[] = {
    // The payload bytes are replaced under a correctly signed release: the signed SHA-256 stops
    // the download before anything reaches slot B.
    {"ArbitraryPayload", "does not match the signed",
     [](DaemonAttackTest& t, const std::string& expect) {
       fs::path repo = t.CopiedRepo();
       for (const char* p :
            {"releases/2.0.0/full.payload", "releases/2.0.0/delta-from-1.0.0.payload"}) {
         Replace(repo / p, RandomData(fs::file_size(env->www() / p), 99));
       }
       t.ServeAndStart(repo);
       t.ExpectRefused("apply", expect);
     }},
    // A correctly signed channel that points below the running 1.0.0 without allow_downgrade.
    {"Rollback", "(downgrade)",
     [](DaemonAttackTest& t, const std::string& expect) {
       ResignStable(t.CopiedRepo(), [](repo::Channel& c) {
         c.metadata_version += 1;
         c.release = "0.9.0";
         c.release_sha256.reset();
         c.allow_downgrade = false;
       });
       t.ServeAndStart(t.repo());
       t.ExpectRefused("apply", expect);
     }},
    // Indefinite freeze: the last signed channel is served forever, past its expiry.
    {"IndefiniteFreeze", "(expired)",
     [](DaemonAttackTest& t, const std::string& expect) {
       ResignStable(t.CopiedRepo(), [](repo::Channel& c) {
         c.expires = std::chrono::floor<std::chrono::seconds>(Now()) - std::chrono::hours(1);
       });
       t.ServeAndStart(t.repo());
       t.ExpectRefused("apply", expect);
     }},
    // Replay: the host accepted metadata version N+5; the mirror then serves version N again.
    {"Replay", "(replay)",
     [](DaemonAttackTest& t, const std::string& expect) {
       fs::path repo = t.CopiedRepo();
       const std::string old_doc = Read(repo / "channels/stable.json");
       ResignStable(repo, [](repo::Channel& c) { c.metadata_version += 5; });
       t.ServeAndStart(repo);
       auto first = t.ExpectAccepted("check");
       EXPECT_EQ(first["next_version"], "2.0.0") << first.dump();
       Replace(repo / "channels/stable.json", old_doc);
       t.ExpectRefused("check", expect);
     }},
    // Mix-and-match across repositories: "staging" and "prod" share every key; the host ships
    // prod's root and is served staging's channel and release.
    {"MixAndMatchAcrossRepositories", "(wrong-repository)",
     [](DaemonAttackTest& t, const std::string& expect) {
       const KeyFiles k = FixtureKey();
       fs::path prod = t.work() / "prod";
       auto init = Basalt("keys init-root --repo " + Quote(prod.string()) + " " + SoleKeyRoot(k));
       ASSERT_EQ(init.rc, 0) << init.out;
       MakeRootRepo(t.repo(), SoleKeyRoot(k, "staging"), k.priv, k.priv);
       t.ServeAndStart(t.repo(), "", t.ShipRoot(prod));
       t.ExpectRefused("apply", expect);
     }},
    // Endless data: a 4 MiB channel file; the transfer is cut at the 1 MiB document cap.
    {"EndlessData", "more than the expected 1048576 bytes",
     [](DaemonAttackTest& t, const std::string& expect) {
       fs::path repo = t.CopiedRepo();
       Replace(repo / "channels/stable.json",
               "{\"payloadType\": \"" + std::string(4 << 20, 'a') + "\"}");
       t.ServeAndStart(repo);
       t.ExpectRefused("check", expect);
     }},
    // Slow retrieval: the mirror drips the real channel file at 2 bytes a second; the check ends
    // at METADATA_TIMEOUT instead of holding the host for minutes.
    {"SlowRetrieval", "no complete answer within the metadata deadline of 2 s",
     [](DaemonAttackTest& t, const std::string& expect) {
       basalt::testing::DripServer drip(Read(env->www() / "channels/stable.json"));
       t.StartHost(drip.Url(""), "METADATA_TIMEOUT=2s\n");
       auto t0 = std::chrono::steady_clock::now();
       t.ExpectRefused("check", expect);
       EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(30));
       EXPECT_GE(drip.requests(), 1);
     }},
    // Wrong channel: edge's (correctly signed) document served as stable.json.
    {"WrongChannel", "(wrong-channel)",
     [](DaemonAttackTest& t, const std::string& expect) {
       fs::path repo = t.CopiedRepo();
       Replace(repo / "channels/stable.json", Read(repo / "channels/edge.json"));
       t.ServeAndStart(repo);
       t.ExpectRefused("apply", expect);
     }},
    // A leaked channel key, revoked in roots/2.json: the host must fetch that root and then
    // refuse a channel signed by the revoked key.
    {"RevokedKey", "(bad-channel-signature)",
     [](DaemonAttackTest& t, const std::string& expect) {
       const KeyFiles k = FixtureKey();
       const KeyFiles c1 = NewKey(t.work() / "keys"), c2 = NewKey(t.work() / "keys");
       MakeRootRepo(t.repo(),
                    fmt::format("--repository prod --root-key {0} --release-key {0} "
                                "--channel-key {1} --channel-key {2} --sign-with {0}",
                                Quote(k.priv), Quote(c1.pub), Quote(c2.pub)),
                    k.priv, c1.priv);
       const std::string shipped = t.ShipRoot(t.repo());
       auto rev = Basalt(fmt::format("keys revoke {} --repo {} --sign-with {}", c1.id,
                                     Quote(t.repo().string()), Quote(k.priv)));
       ASSERT_EQ(rev.rc, 0) << rev.out;
       t.ServeAndStart(t.repo(), "", shipped);
       t.ExpectRefused("apply", expect);
       EXPECT_EQ(t.KeptRootVersion(), 2u) << "the host did not follow roots/2.json";
       EXPECT_NE(Read(t.nginx().access_log()).find("GET /roots/2.json HTTP/1.1\" 200"),
                 std::string::npos)
           << Read(t.nginx().access_log());
     }},
    // THRESHOLD=2 with three trusted keys: a channel signed by one of them is not enough.
    {"ThresholdTwoOfThreeWithOneKey", "(bad-channel-signature)",
     [](DaemonAttackTest& t, const std::string& expect) {
       fs::path trust = t.work() / "trust3";
       fs::create_directories(trust);
       fs::copy_file(FixtureKey().pub, trust / "k1.pem");
       for (const char* n : {"k2.pem", "k3.pem"})
         fs::copy_file(NewKey(t.work() / "keys").pub, trust / n);
       t.trust_ = trust.string();
       t.StartHost(env->nginx->url(), "THRESHOLD=2\n");
       t.ExpectRefused("apply", expect);
       EXPECT_NE(t.last_error_.find("1 valid signature(s) from trusted keys, 2 required"),
                 std::string::npos)
           << t.last_error_;
     }},
    // The newest root has expired: a repository frozen by an attacker (or neglected).
    {"ExpiredRoot", "(expired-root)",
     [](DaemonAttackTest& t, const std::string& expect) {
       const KeyFiles k = FixtureKey();
       MakeRootRepo(t.repo(), SoleKeyRoot(k), k.priv, k.priv);
       const std::string shipped = t.ShipRoot(t.repo());
       auto rot = Basalt(fmt::format("keys rotate --repo {} --expires-in 1s --sign-with {}",
                                     Quote(t.repo().string()), Quote(k.priv)));
       ASSERT_EQ(rot.rc, 0) << rot.out;
       std::this_thread::sleep_for(std::chrono::milliseconds(2100));
       t.ServeAndStart(t.repo(), "", shipped);
       t.ExpectRefused("apply", expect);
     }},
    // A root rotation (root key K -> N) signed only by the new root key N: the old root's
    // threshold is not met, so the step is refused and the host keeps root version 1.
    {"RootStepSignedOnlyByTheNewKey", "(bad-root-signature)",
     [](DaemonAttackTest& t, const std::string& expect) {
       const KeyFiles k = FixtureKey();
       const KeyFiles n = NewKey(t.work() / "keys");
       fs::path repo = t.repo();
       MakeRootRepo(repo, SoleKeyRoot(k), k.priv, k.priv);
       const std::string shipped = t.ShipRoot(repo);
       auto rot = Basalt(
           fmt::format("keys rotate --repo {} --role root --add {} --remove {} --sign-with {} "
                       "--sign-with {}",
                       Quote(repo.string()), Quote(n.pub), k.id, Quote(k.priv), Quote(n.priv)));
       ASSERT_EQ(rot.rc, 0) << rot.out;
       // Drop the old root key's signature: only the new key vouches for the new root.
       auto envelope = nlohmann::json::parse(Read(repo / "roots/2.json"));
       auto& sigs = envelope["signatures"];
       sigs.erase(std::remove_if(sigs.begin(), sigs.end(),
                                 [&](const nlohmann::json& s) { return s["keyid"] == k.id; }),
                  sigs.end());
       ASSERT_EQ(sigs.size(), 1u);
       Replace(repo / "roots/2.json", envelope.dump(2) + "\n");
       t.ServeAndStart(repo, "", shipped);
       t.ExpectRefused("apply", expect);
       EXPECT_NE(t.last_error_.find("repository root refused"), std::string::npos) << t.last_error_;
       EXPECT_NE(t.KeptRootVersion(), 2u);
     }},
    // An Omaha server offers 0.9.0 (a validly signed older payload would do): an unsigned offer
    // may only move the host forward. Daemon level, PROTOCOL=omaha, the fixture's Omaha fake.
    {"OmahaDowngradeOffer", "which is not newer than the running 1.0.0",
     [](DaemonAttackTest& t, const std::string& expect) {
       fleet::testing::RecordingHttpServer omaha((t.work() / "omaha").string());
       omaha.QueuePostResponse(
           OmahaFixture("update-multi-url.xml", env->nginx->url() + "/releases/1.0.0/",
                        (env->www() / "releases/1.0.0/full.payload").string(), "0.9.0"));
       for (int i = 0; i < 4; ++i)
         omaha.QueuePostResponse(OmahaFixture("event-ack.xml", "", "", "0.9.0"));
       t.StartHost(omaha.Url("/v1/update/"),
                   fmt::format("PROTOCOL=omaha\nOMAHA_APP_ID={}\n"
                               "OMAHA_INSECURE_HTTP_FOR_TESTING=yes\n",
                               kOmahaAppId),
                   "", "beta");
       t.ExpectRefused("apply", expect);
       EXPECT_GE(omaha.Requests().size(), 1u);
     }},
    // Issue 18 (2) over http: an unsigned channel file whose payloadType has a two-byte
    // character across byte 80 (DaemonSurvivesAHostileChannelFile serves it from a directory).
    {"MidUtf8ChannelFile", "envelope payloadType is \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
     [](DaemonAttackTest& t, const std::string& expect) {
       Write(t.repo() / "channels/stable.json", "{\"payloadType\": \"" + std::string(79, 'a') +
                                                    "\xc3\xa9" + std::string(20, 'b') +
                                                    "\", \"payload\": \"\", \"signatures\": []}");
       t.ServeAndStart(t.repo());
       t.ExpectRefused("check", expect);
     }},
};

class DaemonAttackMatrix : public DaemonAttackTest,
                           public ::testing::WithParamInterface<AttackRow> {};

TEST_P(DaemonAttackMatrix, RefusedAndUnharmed) {
  const AttackRow& row = GetParam();
  auto t0 = std::chrono::steady_clock::now();
  row.attack(*this, row.expect);
  fmt::print(
      "{}: {} ms; last_error: {}\n", row.name,
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count(),
      last_error_);
}

INSTANTIATE_TEST_SUITE_P(Rows, DaemonAttackMatrix, ::testing::ValuesIn(kAttackRows),
                         [](const ::testing::TestParamInfo<AttackRow>& info) {
                           return std::string(info.param.name);
                         });

// PROTOCOL=omaha over http:// without OMAHA_INSECURE_HTTP_FOR_TESTING: an unsigned Omaha answer
// over plain http would let a network attacker choose the offer, so the daemon refuses the
// configuration and does not start. (Not a row: there is no running daemon to hold a LastError;
// the outcome checked is that it exits with the reason, asked the server nothing and touched
// neither slot.)
TEST_F(DaemonAttackTest, OmahaOverHttpWithoutTheTestOptionDoesNotStart) {
  fleet::testing::RecordingHttpServer omaha((work_ / "omaha").string());
  fs::path conf_root = work_ / "root";
  Write(conf_root / "etc/basalt/update.conf",
        fmt::format("PROTOCOL=omaha\nSERVER={}\nOMAHA_APP_ID={}\nCHANNEL=beta\n"
                    "REBOOT_STRATEGY=off\n",
                    omaha.Url("/v1/update/"), kOmahaAppId));
  pid_t pid = StartDaemon(bus_, conf_root, work_ / "daemon.log", trust_, state_, disk_);
  int status = 0;
  ASSERT_TRUE(
      WaitFor([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, std::chrono::seconds(10)))
      << "basalt-updated started with an http:// Omaha server";
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 3) << DaemonLog();
  EXPECT_NE(DaemonLog().find("PROTOCOL=omaha needs an https:// SERVER (http:// only with "
                             "OMAHA_INSECURE_HTTP_FOR_TESTING=yes"),
            std::string::npos)
      << DaemonLog();
  EXPECT_TRUE(omaha.Requests().empty());
  EXPECT_EQ(SlotSha("USR-A"), a_sha_);
  EXPECT_EQ(SlotSha("USR-B"), b_sha_);
  EXPECT_EQ(BootStatus(disk_)["next"], "A");
}

// The positive control of replay: a host at beta metadata version 120 moves to stable at
// version 7. The replay record is per channel, so this is not a replay: it updates.
TEST_F(DaemonAttackTest, ChannelSwitchBetaToStableIsNotAReplay) {
  fs::path repo = CopiedRepo();
  ResignChannel(repo / "channels/stable.json", repo / "channels/beta.json",
                [](repo::Channel& c) {
                  c.name = "beta";
                  c.metadata_version = 120;
                },
                {env->key});
  ResignStable(repo, [](repo::Channel& c) { c.metadata_version = 7; });
  ServeAndStart(repo, "", "", "beta");
  ExpectAccepted("check");
  EXPECT_EQ(SavedState()["seen_channels"]["beta"]["metadata_version"], 120) << SavedState().dump();
  // The operator moves the host to stable (update.conf; the daemon reads it at start).
  StartHost(nginx().url(), "", "", "stable");
  auto st = ExpectAccepted("apply");
  EXPECT_EQ(st["state"], "updated-need-reboot") << st.dump();
  EXPECT_EQ(SavedState()["seen_channels"]["stable"]["metadata_version"], 7) << SavedState().dump();
  ExpectStagedInB(env->v2);
}

// A full payload of 2.0.0 signed by `key` (the fixture's are signed by the fixture key).
std::string PayloadSignedBy(const fs::path& dir, const KeyFiles& key) {
  fs::create_directories(dir);
  std::string payload = (dir / "full.payload").string();
  auto g =
      Basalt(fmt::format("payload generate --new {} --output {} --key {} --zstd-level 3 --no-xz",
                         Quote(env->v2.dir.string()), Quote(payload), Quote(key.priv)));
  EXPECT_EQ(g.rc, 0) << g.out;
  return payload;
}

// `keys rotate --role ROLE --add NEW --remove OLD`, signed by `signer`.
void RotateRole(const fs::path& repo, const std::string& role, const KeyFiles& add,
                const KeyFiles& remove, const KeyFiles& signer) {
  auto rot = Basalt(
      fmt::format("keys rotate --repo {} --role {} --add {} --remove {} --sign-with {}",
                  Quote(repo.string()), role, Quote(add.pub), remove.id, Quote(signer.priv)));
  ASSERT_EQ(rot.rc, 0) << rot.out;
}

// Roots 2 and 3 rotate the release key (K -> R) and the channel key (K -> C); 2.0.0 is
// published signed by R (release and payload) and the channel by C. A host that ships root 1,
// which trusts only K, follows both steps and stages 2.0.0; it keeps root 3.
TEST_F(DaemonAttackTest, KeyRotationAcrossTwoRootVersions) {
  const KeyFiles k = FixtureKey();
  const KeyFiles r = NewKey(work_ / "keys"), c = NewKey(work_ / "keys");
  std::string shipped;
  MakeRootRepo(repo(), SoleKeyRoot(k), r.priv, c.priv, PayloadSignedBy(work_ / "payload", r), [&] {
    shipped = ShipRoot(repo());
    RotateRole(repo(), "release", r, k, k);
    RotateRole(repo(), "channel", c, k, k);
  });
  ASSERT_EQ(RootVersionOf(repo() / "root.json"), 3u);
  ServeAndStart(repo(), "", shipped);
  auto st = ExpectAccepted("apply");
  EXPECT_EQ(st["state"], "updated-need-reboot") << st.dump();
  ExpectStagedInB(env->v2);
  EXPECT_EQ(KeptRootVersion(), 3u);
}

// Issue 18 acceptance, end to end with the real daemon: the host ships root 1 (K1 holds the
// root, release and channel roles). The operator rotates the release key (root 2: R2); the
// daemon follows and updates to 2.0.0, whose release and payload R2 signed. The host "reboots"
// into 2.0.0 (slot B marked good on the disk, the daemon restarted). The operator then revokes
// K1 as a channel key (root 3: C2): a channel re-signed with K1 is refused, the same channel
// signed with C2 accepted.
TEST_F(DaemonAttackTest, RotationAndRevocationEndToEnd) {
  const KeyFiles k1 = FixtureKey();
  const KeyFiles r2 = NewKey(work_ / "keys"), c2 = NewKey(work_ / "keys");
  std::string shipped;
  MakeRootRepo(repo(), SoleKeyRoot(k1), r2.priv, k1.priv, PayloadSignedBy(work_ / "payload", r2),
               [&] {
                 shipped = ShipRoot(repo());
                 RotateRole(repo(), "release", r2, k1, k1);
               });
  ServeAndStart(repo(), "", shipped);

  // Rotation: root 2 reaches the host, and 2.0.0 (signed by R2 only) is staged.
  auto st = ExpectAccepted("apply");
  EXPECT_EQ(st["state"], "updated-need-reboot") << st.dump();
  ExpectStagedInB(env->v2);
  EXPECT_EQ(KeptRootVersion(), 2u);

  // The host reboots into 2.0.0 (the daemon restarts with it) and the new slot is good.
  StopHost();
  auto good = Basalt("boot --disk " + Quote(disk_) + " mark-good B");
  ASSERT_EQ(good.rc, 0) << good.out;
  const std::string b_good_sha = SlotSha("USR-B");
  StartHost(nginx().url(), "", shipped);

  // Revocation: root 3 drops K1 from the channel role in favour of C2.
  RotateRole(repo(), "channel", c2, k1, k1);
  auto set = Basalt(fmt::format("channel set --repo {} --channel stable --release 2.0.0 --key {}",
                                Quote(repo().string()), Quote(c2.priv)));
  ASSERT_EQ(set.rc, 0) << set.out;
  const std::string by_c2 = Read(repo() / "channels/stable.json");
  // The attacker holds K1 and re-signs the current channel with it.
  ResignChannel(repo() / "channels/stable.json", repo() / "channels/stable.json",
                [](repo::Channel& c) { c.metadata_version += 1; }, {k1.priv});
  auto refused = Cli("update check --json");
  EXPECT_NE(refused.rc, 0) << refused.out;
  st = Idle();
  EXPECT_NE(st["last_error"].get<std::string>().find("(bad-channel-signature)"), std::string::npos)
      << st.dump();
  EXPECT_EQ(KeptRootVersion(), 3u);
  EXPECT_EQ(SlotSha("USR-A"), a_sha_);
  EXPECT_EQ(SlotSha("USR-B"), b_good_sha);
  EXPECT_TRUE(DaemonRunning()) << DaemonLog();

  // The operator's channel, signed by C2, is accepted: 2.0.0 runs, so the host is up to date.
  Replace(repo() / "channels/stable.json", by_c2);
  st = ExpectAccepted("check");
  EXPECT_EQ(st["current_version"], "2.0.0") << st.dump();
  EXPECT_NE(st["wait_reason"].get<std::string>().find("up to date"), std::string::npos)
      << st.dump();
  auto stable = repo::ParseChannel(repo::ParseEnvelope(by_c2)->payload);
  ASSERT_TRUE(stable.has_value());
  EXPECT_EQ(SavedState()["seen_channels"]["stable"]["metadata_version"], stable->metadata_version)
      << SavedState().dump();
}

// Issue 21: the CLI behaves like its ecosystem. Each misuse below must end with exactly one
// line on stderr, `basalt: error: ...`, nothing on stdout, and the exit code docs/cli.md gives
// for that kind of failure (the expected codes are written from its table, not copied from a
// run). The failures that basalt-updated can also meet go through it on the private bus too and
// must give the same code as `apply --disk`.
class CliMisuseTest : public DaemonAttackTest {
 protected:
  struct Outcome {
    int rc = -1;
    std::string out, err;
  };

  // `basalt ARGS` with stdout and stderr kept apart; `bus`: through the private bus, else with
  // a bus address where no daemon can be.
  Outcome Run(const std::string& args, bool bus = false) {
    static int n = 0;
    const fs::path out = work_ / fmt::format("misuse-{}.out", ++n);
    const fs::path err = work_ / fmt::format("misuse-{}.err", n);
    const std::string address = bus ? bus_.address : "unix:path=" + (work_ / "no-bus").string();
    auto r = Sh(fmt::format("DBUS_SYSTEM_BUS_ADDRESS={} {} {} >{} 2>{}", Quote(address),
                            BasaltBin(), args, Quote(out.string()), Quote(err.string())));
    return {r.status, Read(out), Read(err)};
  }

  // The three promises of docs/cli.md for a failure.
  void Expect(const std::string& what, const Outcome& o, int code) {
    EXPECT_EQ(o.rc, code) << what << "\nstdout: " << o.out << "\nstderr: " << o.err;
    EXPECT_EQ(o.out, "") << what;
    EXPECT_TRUE(o.err.starts_with("basalt: error: ")) << what << "\nstderr: " << o.err;
    EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << what << "\nstderr: " << o.err;
    EXPECT_TRUE(o.err.ends_with("\n")) << what << "\nstderr: " << o.err;
  }

  // apply --disk against `repo` (a URL or directory) on a fresh copy of the disk and state; one
  // download attempt, since a retry would add its own warning line to stderr.
  std::string Offline(const std::string& repo, const std::string& extra = "",
                      const std::string& channel = "stable") {
    static int n = 0;
    const fs::path disk = work_ / fmt::format("offline-{}.img", ++n);
    EXPECT_EQ(
        Sh("cp --sparse=always " + Quote(env->template_disk.string()) + " " + Quote(disk.string()))
            .status,
        0);
    return fmt::format(
        "update apply --disk {} --repo {} --channel {} --keys {} --state {} --retry-initial-ms 50 "
        "--max-attempts 1 --stall-timeout 2 --json {}",
        Quote(disk.string()), Quote(repo), channel, Quote(env->trust().string()),
        Quote((work_ / fmt::format("offline-state-{}", n)).string()), extra);
  }

  // The same failure offline and through basalt-updated: both exit `code`, and the daemon
  // reports the same stable code as LastErrorCode that the exit code was chosen by.
  void ExpectSameBothWays(const std::string& what, const fs::path& repo, int code,
                          const std::string& error_code) {
    Expect(what + " (offline)", Run(Offline(repo.string())), code);
    if (nginx_ == nullptr) ServeAndStart(repo);
    Expect(what + " (basalt-updated)", Run("update apply", true), code);
    auto st = Idle();
    EXPECT_EQ(st["last_error_code"], error_code) << st.dump();
    EXPECT_NE(st["last_error"], "") << st.dump();
  }
};

TEST_F(CliMisuseTest, CommandLineMisuse) {
  const std::string disk = Quote(disk_), state = Quote(state_);
  const std::string keys = Quote(env->trust().string());
  const std::string repo = Quote(env->www().string());
  // 2: usage errors.
  Expect("unknown flag", Run("update apply --frobnicate"), 2);
  Expect("unknown subcommand", Run("update frobnicate"), 2);
  Expect(
      "missing --keys with --disk",
      Run("update apply --disk " + disk + " --repo " + repo + " --channel stable --state " + state),
      2);
  Expect("after-boot without --disk", Run("update after-boot --state " + state), 2);
  Expect("--threshold 0", Run("update apply --disk " + disk + " --threshold 0"), 2);
  Expect("--tries 99", Run("update apply --disk " + disk + " --tries 99"), 2);
  Expect("--stall-timeout not a number", Run("update apply --disk " + disk + " --stall-timeout 5x"),
         2);
  // 3: malformed input.
  Write(work_ / "bad-duration.conf",
        "SERVER=" + env->www().string() + "\nCHANNEL=stable\nMETADATA_TIMEOUT=5 fortnights\n");
  Expect("bad duration in --config",
         Run(Offline(env->www().string(),
                     "--config " + Quote((work_ / "bad-duration.conf").string()))),
         3);
  fs::create_directories(work_ / "bad-keys");
  Write(work_ / "bad-keys/k.pem", "-----BEGIN PUBLIC KEY-----\nnot base64 at all\n");
  Expect("malformed key file",
         Run("update apply --disk " + disk + " --repo " + repo + " --channel stable --keys " +
             Quote((work_ / "bad-keys").string()) + " --state " + state + " --json"),
         3);
  fs::create_directories(work_ / "damaged-state");
  Write(work_ / "damaged-state/state.json", "{\"format\": 1, \"state\": \"sideways\"}");
  Expect("damaged state file",
         Run("update status --state " + Quote((work_ / "damaged-state").string())), 3);
  // 5: refused by policy.
  Expect("after-boot with nothing staged",
         Run("update after-boot --disk " + disk + " --state " + state), 5);
  // 6: not found.
  Expect("nonexistent disk image",
         Run("update apply --disk " + Quote((work_ / "no-such.img").string()) + " --repo " + repo +
             " --channel stable --keys " + keys + " --state " + state + " --json"),
         6);
  Expect("nonexistent --root-file",
         Run("update apply --disk " + disk + " --repo " + repo + " --channel stable --root-file " +
             Quote((work_ / "no-root.json").string()) + " --state " + state + " --json"),
         6);
  Expect("nonexistent repository", Run(Offline((work_ / "no-such-repo").string())), 6);
  Expect("nonexistent channel", Run(Offline(env->www().string(), "", "no-such-channel")), 6);
  Expect("status without a daemon", Run("update status"), 6);
}

// A payload replaced under its signed release: integrity, 4, both ways.
TEST_F(CliMisuseTest, TamperedPayloadIsFourBothWays) {
  fs::path repo = CopiedRepo();
  for (const char* p : {"releases/2.0.0/full.payload", "releases/2.0.0/delta-from-1.0.0.payload"}) {
    Replace(repo / p, RandomData(fs::file_size(env->www() / p), 7));
  }
  ExpectSameBothWays("tampered payload", repo, 4, "integrity");
}

// Expired channel metadata: policy, 5, both ways; the code names the decision's refusal.
TEST_F(CliMisuseTest, ExpiredChannelIsFiveBothWays) {
  ResignStable(CopiedRepo(), [](repo::Channel& c) {
    c.expires = std::chrono::floor<std::chrono::seconds>(Now()) - std::chrono::hours(1);
  });
  ExpectSameBothWays("expired channel", repo(), 5, "expired");
}

// A signed channel below the running version without allow_downgrade: 5, both ways.
TEST_F(CliMisuseTest, DowngradeIsFiveBothWays) {
  ResignStable(CopiedRepo(), [](repo::Channel& c) {
    c.metadata_version += 1;
    c.release = "0.9.0";
    c.release_sha256.reset();
    c.allow_downgrade = false;
  });
  ExpectSameBothWays("downgrade", repo(), 5, "downgrade");
}

// Another channel's document served as stable: integrity, 4, both ways.
TEST_F(CliMisuseTest, WrongChannelIsFourBothWays) {
  fs::path repo = CopiedRepo();
  Replace(repo / "channels/stable.json", Read(repo / "channels/edge.json"));
  ExpectSameBothWays("wrong channel", repo, 4, "wrong-channel");
}

// A malformed version for --to is invalid input (3): offline, and as the daemon's Apply error
// (org.basalt.Update1.Error.InvalidInput) before any run starts.
TEST_F(CliMisuseTest, BadVersionStringIsThreeBothWays) {
  Expect("bad --to version (offline)", Run(Offline(env->www().string(), "--to ../1.0")), 3);
  ServeAndStart(CopiedRepo());
  Expect("bad --to version (basalt-updated)", Run("update apply --to ../1.0", true), 3);
}

// Method errors: Cancel with nothing running is Refused (5); a stale LastError from a failed
// run does not fail the next, successful check.
TEST_F(CliMisuseTest, DaemonMethodErrorsAndStaleErrors) {
  fs::path repo = CopiedRepo();
  const std::string good = Read(repo / "channels/stable.json");
  Replace(repo / "channels/stable.json", Read(repo / "channels/edge.json"));
  ServeAndStart(repo);
  Expect("cancel with nothing running", Run("update cancel", true), 5);
  Expect("check of a wrong channel", Run("update check", true), 4);
  Replace(repo / "channels/stable.json", good);
  auto ok = Run("update check --json", true);
  EXPECT_EQ(ok.rc, 0) << ok.out << ok.err;
  auto st = LastJson(ok.out);
  EXPECT_EQ(st["wait_reason_code"], "available") << st.dump();
  EXPECT_EQ(st["last_error_code"], "") << st.dump();
}

// `update status` shows both slots (like `rauc status`), offline with --disk and through the
// daemon; offline `mark-good --disk` refuses a slot that has never booted (5, one line).
TEST_F(CliMisuseTest, StatusShowsBothSlotsAndMarkGoodWaitsForABoot) {
  const std::string status = "update status --state " + Quote(state_) + " --disk " + Quote(disk_);
  auto slot = [](const nlohmann::json& st, const std::string& name) {
    for (const auto& v : st["slots"]) {
      if (v["slot"] == name) return v;
    }
    return nlohmann::json();
  };
  auto before = Run(status + " --json");
  ASSERT_EQ(before.rc, 0) << before.err;
  auto st = LastJson(before.out);
  EXPECT_EQ(slot(st, "A")["version"], "1.0.0") << st.dump();
  EXPECT_EQ(slot(st, "A")["health"], "good") << st.dump();
  EXPECT_EQ(slot(st, "A")["next"], true) << st.dump();
  EXPECT_EQ(slot(st, "B")["next"], false) << st.dump();

  auto apply = Basalt(ApplyArgs(env->nginx->url(), "stable") + " --json");
  ASSERT_EQ(apply.rc, 0) << apply.out;
  st = LastJson(Run(status + " --json").out);
  EXPECT_EQ(slot(st, "B")["version"], "2.0.0") << st.dump();
  EXPECT_EQ(slot(st, "B")["health"], "pending") << st.dump();
  EXPECT_EQ(slot(st, "B")["tries"], 3) << st.dump();
  EXPECT_EQ(slot(st, "B")["next"], true) << st.dump();
  EXPECT_EQ(slot(st, "A")["health"], "good") << st.dump();
  EXPECT_EQ(slot(st, "A")["next"], false) << st.dump();
  auto text = Run(status);
  EXPECT_NE(text.out.find("slot B: 2.0.0 pending (3 tries left)"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("slot A: 1.0.0 good"), std::string::npos) << text.out;

  // Staged, never booted: blessing it would drop the fallback.
  const std::string mark_good =
      "update mark-good --disk " + Quote(disk_) + " --state " + Quote(state_);
  Expect("mark-good of a slot that never booted", Run(mark_good), 5);
  EXPECT_EQ(BootStatus(disk_)["slots"]["B"]["state"], "pending");
  Expect("mark-good --disk without --state", Run("update mark-good --disk " + Quote(disk_)), 2);

  // after-boot says the new slot came up; then mark-good has nothing to refuse.
  auto ab = Basalt("update after-boot --disk " + Quote(disk_) + " --state " + Quote(state_));
  ASSERT_EQ(ab.rc, 0) << ab.out;
  auto again = Run(mark_good + " --json");
  EXPECT_EQ(again.rc, 0) << again.err;
  EXPECT_EQ(slot(LastJson(again.out), "B")["health"], "good") << again.out;

  // Through basalt-updated: the same slots over D-Bus (Slots).
  StartHost(env->nginx->url());
  auto daemon = Run("update status --json", true);
  ASSERT_EQ(daemon.rc, 0) << daemon.err;
  st = LastJson(daemon.out);
  EXPECT_EQ(slot(st, "B")["version"], "2.0.0") << st.dump();
  EXPECT_EQ(slot(st, "B")["health"], "good") << st.dump();
  EXPECT_EQ(slot(st, "B")["current"], true) << st.dump();
  EXPECT_EQ(slot(st, "B")["next"], true) << st.dump();
  EXPECT_EQ(slot(st, "A")["version"], "1.0.0") << st.dump();
  EXPECT_EQ(slot(st, "A")["current"], false) << st.dump();
  auto daemon_text = Run("update status", true);
  EXPECT_NE(daemon_text.out.find("slot B: 2.0.0 good, current, next boot"), std::string::npos)
      << daemon_text.out;
}

}  // namespace
}  // namespace basalt::update
