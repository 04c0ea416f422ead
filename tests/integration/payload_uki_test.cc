// Boot artifacts (issue 19): a uki image's signed UKIs travel in the payload, verified against
// the signed manifest before anything is written. The payload side (generator, rules, reader)
// and the host flow over the fakes (tests/fakes): a uki host installs its slot's UKI, and a
// tampered, missing or foreign UKI is refused before the slot or the ESP is touched.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>

#include "common/hash.h"
#include "common/hex.h"
#include "common/keyring.h"
#include "daemon/host_trust.h"
#include "daemon/state_store.h"
#include "daemon/update_flow.h"
#include "fakes/fake_logger.h"
#include "fakes/fake_update_source.h"
#include "fakes/fake_update_target.h"
#include "http/fetcher.h"
#include "payload/applier.h"
#include "payload/boot_artifact_reader.h"
#include "payload/boot_artifacts.h"
#include "payload/generator.h"
#include "payload_fixture.h"
#include "repo/publish.h"

namespace basalt::payload::testing {
namespace {

namespace fs = std::filesystem;

std::string Sha(const std::string& bytes) {
  return ToHex(Sha256(bytes));
}

// Two stand-ins for the UKIs: 2 MiB of noise for A, and B the same with a few bytes changed
// (the PARTUUID on its command line and its signature).
struct Ukis {
  std::string a, b;
};

Ukis MakeUkis() {
  Ukis u;
  u.a = RandomBytes(2 << 20, 19);
  u.b = u.a;
  u.b.replace(4096, 36, "7130c94a-213a-4e5a-8e26-6cce9662f132");
  u.b.replace(u.b.size() - 300, 16, "signature-of-B..");
  return u;
}

// image.json of `dir` gains `uki` naming uki/A.efi and uki/B.efi.
void AddUkis(const std::string& dir, const Ukis& u) {
  fs::create_directories(dir + "/uki");
  WriteFile(dir + "/uki/A.efi", u.a);
  WriteFile(dir + "/uki/B.efi", u.b);
  auto j = nlohmann::json::parse(ReadFile(dir + "/image.json"));
  j["uki"] = {{"A", {{"file", "uki/A.efi"}, {"size", u.a.size()}, {"sha256", Sha(u.a)}}},
              {"B", {{"file", "uki/B.efi"}, {"size", u.b.size()}, {"sha256", Sha(u.b)}}}};
  WriteFile(dir + "/image.json", j.dump());
}

class PayloadUkiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto missing = MissingTool({"mkfs.erofs", "veritysetup"}); !missing.empty()) {
      GTEST_SKIP() << missing << " is not installed";
    }
    const std::string tree = tmp_ / "tree";
    WriteFile(tree + "/lib/os-release", "NAME=Basalt\n");
    WriteFile(tree + "/share/blob", RandomBytes(300 << 10, 5, true));
    BuildImage(tree, tmp_ / "plain", "2.0.0");
    BuildImage(tree, tmp_ / "uki-image", "2.0.0");
    ukis_ = MakeUkis();
    AddUkis(tmp_ / "uki-image", ukis_);
    fs::create_directories(tmp_ / "keys");
    fs::create_directories(tmp_ / "trust");
    MakeKey("release", tmp_ / "keys", tmp_ / "trust");
    auto ring = Keyring::LoadDirectory(tmp_ / "trust");
    ASSERT_TRUE(ring.has_value());
    keys_ = std::move(*ring);
  }

  Result<GenerateResult> Generate(const std::string& image, const std::string& out,
                                  const std::string& old_image = "") {
    GenerateOptions o;
    o.new_image_dir = tmp_ / image;
    if (!old_image.empty()) o.old_image_dir = tmp_ / old_image;
    o.output_path = out;
    o.keys = {tmp_ / "keys/release.pem"};
    o.threads = 1;
    o.created = 1700000000;
    return GeneratePayload(o, log_);
  }

  // A copy of `payload` with one byte of slot `slot`'s UKI data flipped (after signing).
  std::string Tampered(const std::string& payload, std::string_view name) {
    auto src = FilePayloadSource::Open(payload);
    EXPECT_TRUE(src.has_value());
    auto head = ReadHead(**src, &keys_, 1);
    EXPECT_TRUE(head.has_value());
    const BootArtifact* a = FindBootArtifact(head->manifest, name);
    EXPECT_NE(a, nullptr);
    std::string bytes = ReadFile(payload);
    bytes[head->header.blobs_offset() + a->data_offset() + a->data_length() / 2] ^= 0x20;
    const std::string out = payload + ".tampered";
    WriteFile(out, bytes);
    return out;
  }

  TempDir tmp_;
  Ukis ukis_;
  Keyring keys_;
  fakes::RecordingLogger log_;
};

TEST_F(PayloadUkiTest, BothUkisTravelAndBCostsAFewHundredBytes) {
  const std::string out = tmp_ / "full.payload";
  auto r = Generate("uki-image", out);
  ASSERT_TRUE(r.has_value()) << r.error().message();
  auto src = FilePayloadSource::Open(out);
  ASSERT_TRUE(src.has_value());
  auto head = ReadHead(**src, &keys_, 1);
  ASSERT_TRUE(head.has_value()) << head.error().message();
  EXPECT_EQ(head->header.minor_version, kMinorBootArtifacts);
  const auto& m = head->manifest;
  ASSERT_EQ(m.boot_artifacts_size(), 2);
  EXPECT_EQ(m.boot_artifacts(0).name(), "uki-A");
  EXPECT_EQ(m.boot_artifacts(0).encoding(), BootArtifact::ZSTD);
  EXPECT_EQ(m.boot_artifacts(1).name(), "uki-B");
  EXPECT_EQ(m.boot_artifacts(1).encoding(), BootArtifact::ZSTD_PREFIX);
  EXPECT_EQ(m.boot_artifacts(1).dictionary(), "uki-A");
  EXPECT_LT(m.boot_artifacts(1).data_length(), 1024u);
  for (const char* name : {"uki-A", "uki-B"}) {
    const std::string dest = tmp_ / (std::string(name) + ".efi");
    auto got = ExtractBootArtifact(out, keys_, 1, name, dest);
    ASSERT_TRUE(got.has_value()) << got.error().message();
    EXPECT_EQ(ReadFile(dest), name == std::string("uki-A") ? ukis_.a : ukis_.b) << name;
  }
  // The whole payload still verifies and applies (the applier checks the artifacts' blobs).
  auto verified = VerifyPayload(**FilePayloadSource::Open(out), keys_, 1);
  ASSERT_TRUE(verified.has_value()) << verified.error().message();
  ApplyOptions ao;
  ao.target_path = tmp_ / "slot.img";
  ao.create_target = true;
  ao.keyring = &keys_;
  auto applied = ApplyPayload(**FilePayloadSource::Open(out), ao, log_);
  ASSERT_TRUE(applied.has_value()) << applied.error().message();
  auto missing = ExtractBootArtifact(out, keys_, 1, "uki-C", tmp_ / "c.efi");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().kind(), ErrorKind::kNotFound);
  // An image without UKIs makes payloads of the operations' minor version, without artifacts.
  auto plain = Generate("plain", tmp_ / "plain.payload");
  ASSERT_TRUE(plain.has_value()) << plain.error().message();
  auto plain_head = ReadHead(**FilePayloadSource::Open(tmp_ / "plain.payload"), &keys_, 1);
  ASSERT_TRUE(plain_head.has_value());
  EXPECT_EQ(plain_head->header.minor_version, kMinorFull);
  EXPECT_EQ(plain_head->manifest.boot_artifacts_size(), 0);
}

// A delta carries the UKIs whole too: the host's old UKI is not a source.
TEST_F(PayloadUkiTest, ADeltaCarriesTheUkisToo) {
  const std::string old_tree = tmp_ / "old-tree";
  WriteFile(old_tree + "/lib/os-release", "NAME=Basalt\n");
  WriteFile(old_tree + "/share/blob", RandomBytes(300 << 10, 6, true));
  BuildImage(old_tree, tmp_ / "old", "1.0.0");
  const std::string out = tmp_ / "delta.payload";
  auto r = Generate("uki-image", out, "old");
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_TRUE(r->is_delta);
  auto head = ReadHead(**FilePayloadSource::Open(out), &keys_, 1);
  ASSERT_TRUE(head.has_value()) << head.error().message();
  EXPECT_EQ(head->header.minor_version, kMinorBootArtifacts);
  EXPECT_EQ(head->manifest.from_version(), "1.0.0");
  ASSERT_EQ(head->manifest.boot_artifacts_size(), 2);
  auto got = ExtractBootArtifact(out, keys_, 1, "uki-B", tmp_ / "B.efi");
  ASSERT_TRUE(got.has_value()) << got.error().message();
  EXPECT_EQ(ReadFile(tmp_ / "B.efi"), ukis_.b);
  // A fleet held at minor 4 cannot get UKIs: refused, not silently left out.
  GenerateOptions o;
  o.new_image_dir = tmp_ / "uki-image";
  o.output_path = tmp_ / "minor4.payload";
  o.keys = {tmp_ / "keys/release.pem"};
  o.max_minor_version = kMinorDelta4;
  auto held = GeneratePayload(o, log_);
  ASSERT_FALSE(held.has_value());
  EXPECT_NE(held.error().message().find("has UKIs, which need payload minor version 5"),
            std::string::npos)
      << held.error().message();
}

TEST_F(PayloadUkiTest, GeneratorRefusesAUkiThatIsNotWhatImageJsonSays) {
  std::string changed = ukis_.b;
  changed[10] ^= 1;
  WriteFile(tmp_ / "uki-image/uki/B.efi", changed);
  auto r = Generate("uki-image", tmp_ / "bad.payload");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("does not match image.json's uki.B.sha256"), std::string::npos)
      << r.error().message();
  WriteFile(tmp_ / "uki-image/uki/B.efi", ukis_.b + "x");
  r = Generate("uki-image", tmp_ / "bad.payload");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("but image.json's uki.B.size says"), std::string::npos)
      << r.error().message();
  EXPECT_FALSE(fs::exists(tmp_ / "bad.payload"));
}

// image.json's uki.<slot>.measurements (recorded since issue 20) are accepted when well formed and
// refused, naming the field, when not; payloads do not carry them.
TEST_F(PayloadUkiTest, GeneratorChecksTheUkisMeasurements) {
  const std::string json = tmp_ / "uki-image/image.json";
  const std::string original = ReadFile(json);
  auto with = [&](const std::function<void(nlohmann::json&)>& edit) {
    auto j = nlohmann::json::parse(original);
    const std::string h(64, 'c');
    j["uki"]["A"]["measurements"] = {{"authenticode_sha256", h},
                                     {"pcr11", h},
                                     {"pcr11_phases",
                                      {{"enter-initrd", h},
                                       {"enter-initrd:leave-initrd", h},
                                       {"enter-initrd:leave-initrd:sysinit", h},
                                       {"enter-initrd:leave-initrd:sysinit:ready", h},
                                       {"sysinit", h},
                                       {"sysinit:ready", h}}}};
    edit(j);
    WriteFile(json, j.dump());
    return Generate("uki-image", tmp_ / "m.payload");
  };
  auto ok = with([](nlohmann::json&) {});
  ASSERT_TRUE(ok.has_value()) << ok.error().message();
  auto refused = [&](const std::function<void(nlohmann::json&)>& edit, std::string_view what) {
    auto r = with(edit);
    ASSERT_FALSE(r.has_value()) << what;
    EXPECT_NE(r.error().message().find(what), std::string::npos) << r.error().message();
  };
  refused([](nlohmann::json& j) { j["uki"]["A"]["measurements"]["pcr11"] = "00"; },
          "uki.A.measurements: pcr11: not 64 lower-case hex digits");
  refused([](nlohmann::json& j) { j["uki"]["A"]["measurements"]["pcr11"] = 3; },
          "uki.A.measurements: pcr11: expected a string");
  refused([](nlohmann::json& j) { j["uki"]["A"]["measurements"]["pcr7"] = "00"; },
          "uki.A.measurements: pcr7: unknown field");
  refused(
      [](nlohmann::json& j) {
        j["uki"]["A"]["measurements"]["pcr11_phases"]["shutdown"] = std::string(64, 'c');
      },
      "uki.A.measurements: pcr11_phases: unknown phase \"shutdown\"");
  refused(
      [](nlohmann::json& j) {
        j["uki"]["A"]["measurements"]["pcr11_phases"].erase("enter-initrd");
      },
      "uki.A.measurements: pcr11_phases: missing phase \"enter-initrd\"");
  refused([](nlohmann::json& j) { j["uki"]["A"]["measurements"] = 1; },
          "uki.A.measurements: expected an object");
}

TEST_F(PayloadUkiTest, ATamperedArtifactIsRefusedAndNothingIsWritten) {
  const std::string out = tmp_ / "full.payload";
  ASSERT_TRUE(Generate("uki-image", out).has_value());
  for (const char* name : {"uki-A", "uki-B"}) {
    const std::string bad = Tampered(out, name);
    // B is decoded with A's bytes, so a tampered A fails B's extraction too.
    const std::string dest = tmp_ / "B.efi";
    auto got = ExtractBootArtifact(bad, keys_, 1, "uki-B", dest);
    ASSERT_FALSE(got.has_value()) << name;
    EXPECT_EQ(got.error().kind(), ErrorKind::kIntegrity) << got.error().message();
    EXPECT_NE(got.error().message().find("does not match the signed"), std::string::npos)
        << got.error().message();
    EXPECT_FALSE(fs::exists(dest));
    auto verified = VerifyPayload(**FilePayloadSource::Open(bad), keys_, 1);
    ASSERT_FALSE(verified.has_value());
    EXPECT_EQ(verified.error().kind(), ErrorKind::kIntegrity);
  }
}

// `release publish --payload FILE` imports a payload made beforehand: it must carry exactly the
// UKIs image.json names, or every uki host would refuse the release.
TEST_F(PayloadUkiTest, PublishImportsOnlyAPayloadWithTheImagesUkis) {
  // What repo's image.json reader needs beyond the payload generator's fields.
  for (const char* image : {"uki-image", "plain"}) {
    const std::string dir = tmp_ / image;
    WriteFile(dir + "/sbom.spdx.json", "{}\n");
    auto j = nlohmann::json::parse(ReadFile(dir + "/image.json"));
    j["kernel"] = {{"version", "6.1.0-test"}, {"sha256", std::string(64, '7')}};
    j["sbom"] = {{"path", "sbom.spdx.json"}, {"sha256", Sha("{}\n")}};
    j["input_digest"] = "sha256:" + std::string(64, '9');
    WriteFile(dir + "/image.json", j.dump());
  }
  ASSERT_TRUE(Generate("uki-image", tmp_ / "uki.payload").has_value());
  ASSERT_TRUE(Generate("plain", tmp_ / "plain.payload").has_value());
  auto key = PrivateKey::Load(tmp_ / "keys/release.pem");
  ASSERT_TRUE(key.has_value());
  std::vector<PrivateKey> keys;
  keys.push_back(std::move(*key));
  auto publish = [&](const std::string& payload) {
    repo::PublishOptions o;
    o.repo_dir = tmp_ / "repo";
    o.image_dir = tmp_ / "uki-image";
    o.full_payload = payload;
    return repo::PublishRelease(o, keys, nullptr, log_);
  };
  auto without = publish(tmp_ / "plain.payload");
  ASSERT_FALSE(without.has_value());
  EXPECT_NE(without.error().message().find("carries no uki-A (image.json has uki.A)"),
            std::string::npos)
      << without.error().message();
  auto rel = publish(tmp_ / "uki.payload");
  ASSERT_TRUE(rel.has_value()) << rel.error().message();
  ASSERT_TRUE(rel->boot.has_value());
  EXPECT_EQ(rel->boot->uki.at("B").sha256, Sha(ukis_.b));
  EXPECT_EQ(rel->boot->uki.at("A").size, ukis_.a.size());
}

// The host flow over the fakes: a uki host (the fake boot control says kUki) updating A -> B
// from a payload served over file://.
class UkiFlowTest : public PayloadUkiTest {
 protected:
  void SetUp() override {
    PayloadUkiTest::SetUp();
    if (IsSkipped()) return;
    target_ = std::make_unique<fakes::FakeUpdateTarget>(tmp_ / "slots");
    target_->fake_boot().set_boot_files_kind(boot::BootFilesKind::kUki);
    slot_b_before_ = ToHex(*Sha256File(target_->SlotPath(boot::Slot::kB)));
  }

  // Offers `payload` as 2.0.0 (its SHA-256 as the offer's, as an unsigned Omaha offer would)
  // and runs the flow once.
  Result<update::UpdateState> Run(const std::string& payload,
                                  std::map<std::string, std::string> release_artifacts = {}) {
    update::UpdateOffer offer = fakes::FullOffer(
        "2.0.0", "file://" + payload, fs::file_size(payload), ToHex(*Sha256File(payload)));
    offer.boot_artifacts = std::move(release_artifacts);
    source_.QueueOffer(offer);
    auto fetcher = http::MakeCurlFetcher();
    const auto trust = update::HostTrust::FromKeyring(keys_, 1);
    update::StateStore store(tmp_ / "state");
    update::FlowOptions opt;
    opt.channel = "stable";
    update::UpdateFlow flow(source_, *fetcher, trust, *target_, store, log_, opt);
    return flow.Run();
  }

  // Nothing reached the target slot or the ESP.
  void ExpectNothingWritten() {
    for (const std::string& call : target_->fake_boot().changes()) {
      EXPECT_FALSE(call.starts_with("InstallSlot")) << call;
      EXPECT_FALSE(call.starts_with("SetNext")) << call;
      EXPECT_FALSE(call.starts_with("MarkBad")) << call;
    }
    EXPECT_EQ(target_->fake_boot().uki(boot::Slot::kB), "");
    EXPECT_EQ(ToHex(*Sha256File(target_->SlotPath(boot::Slot::kB))), slot_b_before_);
    EXPECT_FALSE(fs::exists(tmp_ / "state/boot-files/uki.efi"));
  }

  fakes::FakeUpdateSource source_;
  std::unique_ptr<fakes::FakeUpdateTarget> target_;
  std::string slot_b_before_;
};

TEST_F(UkiFlowTest, AUkiHostInstallsTheVerifiedUkiOfTheTargetSlot) {
  const std::string out = tmp_ / "full.payload";
  ASSERT_TRUE(Generate("uki-image", out).has_value());
  auto st = Run(out, {{"uki-A", Sha(ukis_.a)}, {"uki-B", Sha(ukis_.b)}});
  ASSERT_TRUE(st.has_value()) << st.error().message();
  EXPECT_EQ(st->phase, update::Phase::kUpdatedNeedReboot);
  EXPECT_EQ(target_->fake_boot().uki(boot::Slot::kB), ukis_.b);
  EXPECT_EQ(target_->fake_boot().kernel(boot::Slot::kB), "");
  auto entry = target_->fake_boot().entry(boot::Slot::kB);
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(entry->version, "2.0.0");
  // The payload was kept for finalize, and is gone after it.
  for (const auto& f : fs::directory_iterator(tmp_ / "state")) {
    EXPECT_FALSE(f.path().filename().string().starts_with("payload-")) << f.path();
  }
}

// The ESP must hold the new UKI next to the old slot's files; otherwise nothing is installed.
TEST_F(UkiFlowTest, TheUkiCountsInTheEspSpaceCheck) {
  const std::string out = tmp_ / "full.payload";
  ASSERT_TRUE(Generate("uki-image", out).has_value());
  target_->set_esp_free_bytes(ukis_.b.size());  // the UKI fits, the slack does not
  auto st = Run(out);
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().kind(), ErrorKind::kPolicy);
  EXPECT_NE(st.error().message().find(fmt::format("slot B's UKI ({} bytes) need {}", ukis_.b.size(),
                                                  ukis_.b.size() + (1 << 20))),
            std::string::npos)
      << st.error().message();
  EXPECT_EQ(target_->fake_boot().uki(boot::Slot::kB), "");
  for (const std::string& call : target_->fake_boot().changes()) {
    EXPECT_FALSE(call.starts_with("InstallSlot")) << call;
  }
}

TEST_F(UkiFlowTest, ATamperedUkiIsRefusedBeforeTheSlotOrTheEspIsWritten) {
  const std::string out = tmp_ / "full.payload";
  ASSERT_TRUE(Generate("uki-image", out).has_value());
  auto st = Run(Tampered(out, "uki-B"));
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().kind(), ErrorKind::kIntegrity) << st.error().message();
  EXPECT_NE(st.error().message().find("boot artifact uki-B data"), std::string::npos)
      << st.error().message();
  ExpectNothingWritten();
}

// The payload is kept in the state directory from Apply to Finalize; a UKI changed there in
// between is refused at finalize, and the plan is dropped rather than retried forever.
TEST_F(UkiFlowTest, AUkiChangedBetweenApplyAndFinalizeIsRefused) {
  const std::string out = tmp_ / "full.payload";
  ASSERT_TRUE(Generate("uki-image", out).has_value());
  target_->fake_boot().FailNext("InstallSlot", Error(ErrorKind::kIo, "ESP is busy"));
  auto first = Run(out);
  ASSERT_FALSE(first.has_value());
  EXPECT_NE(first.error().message().find("ESP is busy"), std::string::npos);
  std::string kept;
  for (const auto& f : fs::directory_iterator(tmp_ / "state")) {
    if (f.path().filename().string().starts_with("payload-")) kept = f.path();
  }
  ASSERT_FALSE(kept.empty()) << "the payload was not kept for finalize";
  fs::rename(Tampered(kept, "uki-B"), kept);
  auto second = Run(out);
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().kind(), ErrorKind::kIntegrity) << second.error().message();
  EXPECT_EQ(target_->fake_boot().uki(boot::Slot::kB), "");
  EXPECT_FALSE(fs::exists(kept));
  auto st = update::StateStore(tmp_ / "state").Load();
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->phase, update::Phase::kIdle);
  EXPECT_FALSE(st->payload.has_value());
}

TEST_F(UkiFlowTest, APayloadWithoutTheSlotsUkiIsAPolicyErrorBeforeAnyWrite) {
  const std::string out = tmp_ / "plain.payload";
  ASSERT_TRUE(Generate("plain", out).has_value());
  auto st = Run(out);
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().kind(), ErrorKind::kPolicy);
  EXPECT_NE(st.error().message().find("payload for 2.0.0 carries no UKI for slot B; this host "
                                      "boots signed UKIs (fake backend)"),
            std::string::npos)
      << st.error().message();
  ExpectNothingWritten();
}

TEST_F(UkiFlowTest, AUkiOtherThanTheReleaseNamesIsRefused) {
  const std::string out = tmp_ / "full.payload";
  ASSERT_TRUE(Generate("uki-image", out).has_value());
  auto st = Run(out, {{"uki-A", Sha(ukis_.a)}, {"uki-B", Sha(ukis_.a)}});
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().kind(), ErrorKind::kIntegrity);
  EXPECT_NE(st.error().message().find("the payload's boot artifact uki-B has SHA-256"),
            std::string::npos)
      << st.error().message();
  ExpectNothingWritten();
}

}  // namespace
}  // namespace basalt::payload::testing
