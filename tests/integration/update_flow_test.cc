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
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "common/fd.h"
#include "common/hash.h"
#include "common/hex.h"
#include "image/erofs/erofs_image.h"
#include "tests/integration/fault_proxy.h"
#include "tests/integration/image_test_util.h"
#include "tests/integration/nginx_server.h"

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

class UpdateFlowTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (::geteuid() != 0 || !fs::exists("/dev/loop-control")) return;  // skipped in SetUp
    for (const char* t : {"mkfs.erofs", "fsck.erofs", "mkfs.fat", "mcopy", "mdir", "mkfs.ext4"}) {
      if (!HaveTool(t)) return;
    }
    if (NginxServer::Binary().empty()) return;
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

  static void TearDownTestSuite() {
    delete env;
    env = nullptr;
  }

  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root for loop devices (CI runs as root)";
    if (!fs::exists("/dev/loop-control")) GTEST_SKIP() << "no /dev/loop-control";
    if (env == nullptr) GTEST_SKIP() << "nginx, erofs-utils, dosfstools or mtools missing";
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
  std::string updated = fs::path(BasaltBin()).parent_path() / "basalt-updated";
  pid_t daemon = ::fork();
  if (daemon == 0) {
    ::setenv("DBUS_SYSTEM_BUS_ADDRESS", bus.address.c_str(), 1);
    ::unsetenv("NOTIFY_SOCKET");
    std::string log = (work_ / "daemon.log").string();
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::execl(updated.c_str(), updated.c_str(), "--root", conf_root.c_str(), "--keys",
            env->trust().c_str(), "--state-dir", state_.c_str(), "--disk", disk_.c_str(),
            "--no-periodic", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  struct Reaper {
    pid_t pid;
    ~Reaper() {
      ::kill(pid, SIGTERM);
      ::waitpid(pid, nullptr, 0);
    }
  } reaper{daemon};
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
  for (const char* member :
       {"org.basalt.Update1.Manager", ".Check", ".Apply", ".Cancel", ".Rollback", ".MarkGood",
        ".State", ".Progress", ".CurrentVersion", ".NextVersion", ".Channel", ".LastCheck",
        ".LastError", ".WaitReason", "emits-change"}) {
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
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto apply = cli("update apply --json");
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  ::kill(monitor, SIGTERM);
  ::waitpid(monitor, nullptr, 0);
  ASSERT_EQ(apply.rc, 0) << apply.out << Read(work_ / "daemon.log");
  auto ap = json_of(apply.out);
  EXPECT_EQ(ap["state"], "updated-need-reboot");
  EXPECT_EQ(ap["next_version"], "2.0.0");
  ExpectStagedInB(env->v2);
  std::string signals = Read(monitor_log);
  EXPECT_NE(signals.find("org.basalt.Update1.Manager"), std::string::npos) << signals;
  EXPECT_NE(signals.find("\"updated-need-reboot\""), std::string::npos) << signals;

  // The staged slot is not redone, and with REBOOT_STRATEGY=off the wait says why.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  auto after = json_of(cli("update status --json").out);
  EXPECT_EQ(after["state"], "updated-need-reboot");
  EXPECT_NE(after["wait_reason"].get<std::string>().find("REBOOT_STRATEGY=off"), std::string::npos)
      << after.dump();
  auto cancel = cli("update cancel");
  EXPECT_EQ(cancel.rc, 5) << cancel.out;  // nothing runs
}

}  // namespace
}  // namespace basalt::update
