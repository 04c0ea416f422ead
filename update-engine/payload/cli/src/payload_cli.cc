#include "payload/payload_cli.h"

#include <fmt/format.h>

#include <map>
#include <memory>

#include "common/hex.h"
#include "common/log.h"
#include "common/progress.h"
#include "payload/applier.h"
#include "payload/generator.h"
#include "payload/reader.h"

namespace basalt {
namespace {

using payload::OpTypeStats;

std::string Hex(const std::string& bytes) {
  return ToHex(std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

nlohmann::json StatsJson(const std::map<std::string, OpTypeStats>& stats) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [name, s] : stats) {
    j[name] = {{"count", s.count}, {"data_bytes", s.data_bytes}, {"dst_bytes", s.dst_bytes}};
  }
  return j;
}

void PrintStats(const std::map<std::string, OpTypeStats>& stats) {
  fmt::print("  {:<18} {:>8} {:>14} {:>14}\n", "operation", "count", "data bytes", "target bytes");
  for (const auto& [name, s] : stats) {
    fmt::print("  {:<18} {:>8} {:>14} {:>14}\n", name, s.count, s.data_bytes, s.dst_bytes);
  }
}

Result<std::unique_ptr<payload::FilePayloadSource>> OpenPayload(const std::string& path) {
  return payload::FilePayloadSource::Open(path == "-" ? "/dev/stdin" : path);
}

struct GenerateArgs {
  payload::GenerateOptions opt;
  std::string old_dir;
  bool json = false;
  bool no_xz = false;
  bool bsdiff = false;
  bool no_bsdiff = false;
  bool no_lz4 = false;
  bool no_gzip = false;
  uint64_t chunk_kib = 2048;
};

int RunGenerate(GenerateArgs a, const CommandRunner& runner) {
  if (!a.old_dir.empty()) a.opt.old_image_dir = a.old_dir;
  a.opt.try_xz = !a.no_xz;
  if (a.bsdiff) a.opt.bsdiff = payload::GenerateOptions::Bsdiff::kAll;
  if (a.no_bsdiff) a.opt.bsdiff = payload::GenerateOptions::Bsdiff::kOff;
  a.opt.lz4_kernels = !a.no_lz4;
  a.opt.gzip_files = !a.no_gzip;
  a.opt.chunk_size = a.chunk_kib * 1024;
  StderrLogger log(runner.LogLevelOr(a.json ? LogLevel::kWarning : LogLevel::kInfo));
  auto r = payload::GeneratePayload(a.opt, log);
  if (!r) return ReportError(r.error());
  if (a.json) {
    nlohmann::json j = {{"path", r->path},
                        {"size", r->size},
                        {"sha256", ToHex(r->sha256)},
                        {"kind", r->is_delta ? "delta" : "full"},
                        {"to_version", r->to_version},
                        {"operations", StatsJson(r->ops)}};
    if (r->is_delta) {
      j["from_version"] = r->from_version;
      j["from_root_hash"] = r->from_root_hash;
    }
    PrintJson(j);
  } else {
    fmt::print("{} payload {} -> {}\n  size {} bytes, sha256 {}\n", r->is_delta ? "delta" : "full",
               r->is_delta ? r->from_version : std::string("(none)"), r->to_version, r->size,
               ToHex(r->sha256));
    PrintStats(r->ops);
  }
  return kExitOk;
}

struct ApplyArgs {
  std::string file, target, source, keys, state;
  size_t threshold = 1;
  int64_t checkpoint_ms = 1000;
  bool json = false;
};

int RunApply(const ApplyArgs& a, const CommandRunner& runner) {
  auto keyring = Keyring::Load(a.keys);
  if (!keyring) return ReportError(keyring.error());
  auto src = OpenPayload(a.file);
  if (!src) return ReportError(src.error());
  payload::ApplyOptions opt;
  opt.target_path = a.target;
  opt.create_target = true;  // `payload apply` also builds image files (docs/payload.md)
  if (!a.source.empty()) opt.source_path = a.source;
  if (!a.state.empty()) opt.state_dir = a.state;
  opt.keyring = &*keyring;
  opt.threshold = a.threshold;
  opt.checkpoint_interval = std::chrono::milliseconds(a.checkpoint_ms);
  ProgressBar bar("apply", (*src)->Size().value_or(0), runner.ShowProgress(a.json));
  opt.progress = [&](uint64_t done, uint64_t) { bar.Update(done); };
  StderrLogger log(runner.LogLevelOr(a.json ? LogLevel::kWarning : LogLevel::kInfo));
  auto r = payload::ApplyPayload(**src, opt, log);
  bar.Finish();
  if (!r) return ReportError(r.error());
  if (a.json) {
    PrintJson({{"version", r->version},
               {"from_version", r->from_version},
               {"kind", r->is_delta ? "delta" : "full"},
               {"operations", r->operations},
               {"resumed", r->resumed},
               {"resumed_at_operation", r->resumed_at_operation},
               {"payload_size", r->payload_size},
               {"bytes_written", r->bytes_written},
               {"root_hash", ToHex(r->root_hash)},
               {"sha256", ToHex(r->partition_sha256)},
               {"peak_buffer_bytes", r->peak_buffer_bytes},
               {"bytes_hashed_while_writing", r->bytes_hashed_while_writing}});
  } else {
    fmt::print("applied {} payload for version {} to {}{}\n  verity root hash {} verified\n",
               r->is_delta ? "delta" : "full", r->version, a.target,
               r->resumed ? fmt::format(" (resumed at operation {})", r->resumed_at_operation)
                          : std::string(),
               ToHex(r->root_hash));
  }
  return kExitOk;
}

struct VerifyArgs {
  std::string file, keys;
  size_t threshold = 1;
  bool json = false;
};

int RunVerify(const VerifyArgs& a) {
  auto keyring = Keyring::Load(a.keys);
  if (!keyring) return ReportError(keyring.error());
  auto src = OpenPayload(a.file);
  if (!src) return ReportError(src.error());
  auto r = payload::VerifyPayload(**src, *keyring, a.threshold);
  if (!r) return ReportError(r.error());
  if (a.json) {
    PrintJson({{"valid", true},
               {"version", r->version},
               {"from_version", r->from_version},
               {"kind", r->is_delta ? "delta" : "full"},
               {"operations", r->operations},
               {"payload_size", r->payload_size},
               {"signers", r->signers}});
  } else {
    fmt::print("{}: valid {} payload for version {}, {} operations, signed by {}\n", a.file,
               r->is_delta ? "delta" : "full", r->version, r->operations,
               fmt::join(r->signers, ", "));
  }
  return kExitOk;
}

struct InspectArgs {
  std::string file, keys;
  bool json = false;
  bool operations = false;  // --json only: also list every operation
};

nlohmann::json ExtentsJson(const google::protobuf::RepeatedPtrField<payload::proto::Extent>& list) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& e : list)
    out.push_back({e.start_block(), e.num_blocks()});
  return out;
}

int RunInspect(const InspectArgs& a) {
  std::optional<Keyring> keyring;
  if (!a.keys.empty()) {
    auto k = Keyring::Load(a.keys);
    if (!k) return ReportError(k.error());
    keyring = std::move(*k);
  }
  auto src = OpenPayload(a.file);
  if (!src) return ReportError(src.error());
  auto head = payload::ReadHead(**src, keyring ? &*keyring : nullptr, 1);
  if (!head) return ReportError(head.error());
  const auto& h = head->header;
  const auto& m = head->manifest;
  nlohmann::json sigs = nlohmann::json::array();
  for (const auto& s : head->signatures) {
    nlohmann::json js = {{"key_id", s.key_id}, {"size", s.bytes.size()}};
    if (keyring) {
      js["verified"] =
          std::find(head->signers.begin(), head->signers.end(), s.key_id) != head->signers.end();
    }
    sigs.push_back(js);
  }
  nlohmann::json parts = nlohmann::json::array();
  for (const auto& p : m.partitions()) {
    std::map<std::string, OpTypeStats> stats;
    for (const auto& op : p.operations()) {
      auto& s = stats[std::string(payload::OperationTypeName(op.type()))];
      s.count++;
      s.data_bytes += op.data_length();
      s.dst_bytes += payload::ExtentBlocks(op.dst_extents()) * payload::kBlockSize;
    }
    const auto& v = p.verity();
    nlohmann::json jp = {{"name", p.name()},
                         {"new_size", p.new_size()},
                         {"new_sha256", Hex(p.new_sha256())},
                         {"verity",
                          {{"hash_algorithm", v.hash_algorithm()},
                           {"salt", Hex(v.salt())},
                           {"data_block_size", v.data_block_size()},
                           {"hash_block_size", v.hash_block_size()},
                           {"data_blocks", v.data_blocks()},
                           {"hash_offset", v.hash_offset()},
                           {"root_hash", Hex(v.root_hash())},
                           {"superblock", v.has_superblock()}}},
                         {"operation_count", p.operations_size()},
                         {"operations", StatsJson(stats)}};
    if (a.operations) {
      nlohmann::json list = nlohmann::json::array();
      for (const auto& op : p.operations()) {
        nlohmann::json jo = {{"type", payload::OperationTypeName(op.type())},
                             {"data_offset", op.data_offset()},
                             {"data_length", op.data_length()},
                             {"src_extents", ExtentsJson(op.src_extents())},
                             {"dst_extents", ExtentsJson(op.dst_extents())}};
        auto region = [](const payload::proto::Lz4Region& r) {
          return nlohmann::json{{"offset", r.offset()},
                                {"compressed_length", r.compressed_length()},
                                {"decompressed_length", r.decompressed_length()},
                                {"level", r.level()}};
        };
        if (op.has_src_lz4()) jo["src_lz4"] = region(op.src_lz4());
        if (op.has_dst_lz4()) jo["dst_lz4"] = region(op.dst_lz4());
        auto gzip = [](const google::protobuf::RepeatedPtrField<payload::proto::GzipRegion>& rs) {
          nlohmann::json list = nlohmann::json::array();
          for (const auto& r : rs) {
            nlohmann::json pieces = nlohmann::json::array();
            for (const auto& p : r.pieces())
              pieces.push_back({p.offset(), p.length()});
            list.push_back({{"pieces", std::move(pieces)},
                            {"decompressed_length", r.decompressed_length()},
                            {"level", r.level()}});
          }
          return list;
        };
        if (op.src_gzip_size() > 0) jo["src_gzip"] = gzip(op.src_gzip());
        if (op.dst_gzip_size() > 0) jo["dst_gzip"] = gzip(op.dst_gzip());
        if (!op.dst_sha256().empty()) jo["dst_sha256"] = Hex(op.dst_sha256());
        if (op.expanded_patch() != payload::proto::Operation::ZSTD_PREFIX) {
          jo["expanded_patch"] = payload::proto::Operation::ExpandedPatch_Name(op.expanded_patch());
        }
        list.push_back(std::move(jo));
      }
      jp["operation_list"] = std::move(list);
    }
    if (!p.old_sha256().empty()) {
      jp["old_size"] = p.old_size();
      jp["old_sha256"] = Hex(p.old_sha256());
      jp["old_root_hash"] = Hex(p.old_root_hash());
    }
    parts.push_back(jp);
  }
  nlohmann::json doc = {{"header",
                         {{"format_version", h.format_version},
                          {"minor_version", h.minor_version},
                          {"manifest_size", h.manifest_size},
                          {"signatures_size", h.signatures_size},
                          {"blobs_offset", h.blobs_offset()}}},
                        {"signatures", sigs},
                        {"signatures_verified", keyring.has_value()},
                        {"kind", m.from_version().empty() ? "full" : "delta"},
                        {"version", m.version()},
                        {"from_version", m.from_version()},
                        {"block_size", m.block_size()},
                        {"created", m.created()},
                        {"blobs_size", m.blobs_size()},
                        {"payload_size", h.blobs_offset() + m.blobs_size()},
                        {"partitions", parts}};
  nlohmann::json artifacts = nlohmann::json::array();
  for (const auto& b : m.boot_artifacts()) {
    nlohmann::json jb = {{"name", b.name()},
                         {"size", b.size()},
                         {"sha256", Hex(b.sha256())},
                         {"encoding", payload::proto::BootArtifact::Encoding_Name(b.encoding())},
                         {"data_offset", b.data_offset()},
                         {"data_length", b.data_length()}};
    if (!b.dictionary().empty()) jb["dictionary"] = b.dictionary();
    artifacts.push_back(std::move(jb));
  }
  if (!artifacts.empty()) doc["boot_artifacts"] = std::move(artifacts);
  if (a.json) {
    PrintJson(doc);
    return kExitOk;
  }
  fmt::print("{}: Basalt payload format {}.{} ({})\n", a.file, h.format_version, h.minor_version,
             doc["kind"].get<std::string>());
  fmt::print("  version {}{}\n", m.version(),
             m.from_version().empty() ? "" : fmt::format(" (delta from {})", m.from_version()));
  fmt::print("  header {} B, manifest {} B, signatures {} B, blobs {} B, total {} B\n",
             payload::kHeaderSize, h.manifest_size, h.signatures_size, m.blobs_size(),
             h.blobs_offset() + m.blobs_size());
  for (const auto& s : sigs) {
    fmt::print("  signature by {}{}\n", s["key_id"].get<std::string>(),
               s.contains("verified")
                   ? (s["verified"].get<bool>() ? " (verified)" : " (NOT verified)")
                   : "");
  }
  if (!keyring) fmt::print("  (signatures not checked; pass --keys DIR)\n");
  for (const auto& p : parts) {
    fmt::print("partition {}: new size {} sha256 {}\n", p["name"].get<std::string>(),
               p["new_size"].get<uint64_t>(), p["new_sha256"].get<std::string>());
    if (p.contains("old_sha256")) {
      fmt::print("  from size {} sha256 {} root {}\n", p["old_size"].get<uint64_t>(),
                 p["old_sha256"].get<std::string>(), p["old_root_hash"].get<std::string>());
    }
    const auto& v = p["verity"];
    fmt::print("  verity {} root {} salt {} data blocks {} hash offset {}{}\n",
               v["hash_algorithm"].get<std::string>(), v["root_hash"].get<std::string>(),
               v["salt"].get<std::string>(), v["data_blocks"].get<uint64_t>(),
               v["hash_offset"].get<uint64_t>(),
               v["superblock"].get<bool>() ? " (superblock)" : "");
    fmt::print("  {} operations\n", p["operation_count"].get<int>());
    std::map<std::string, OpTypeStats> stats;
    for (const auto& [name, s] : p["operations"].items()) {
      stats[name] = {s["count"], s["data_bytes"], s["dst_bytes"]};
    }
    PrintStats(stats);
  }
  if (doc.contains("boot_artifacts")) {
    for (const auto& b : doc["boot_artifacts"]) {
      fmt::print(
          "boot artifact {}: size {} sha256 {} ({} bytes of {}{})\n", b["name"].get<std::string>(),
          b["size"].get<uint64_t>(), b["sha256"].get<std::string>(),
          b["data_length"].get<uint64_t>(), b["encoding"].get<std::string>(),
          b.contains("dictionary") ? " from " + b["dictionary"].get<std::string>() : std::string());
    }
  }
  return kExitOk;
}

}  // namespace

void AddPayloadCommands(CLI::App& app, CommandRunner& runner) {
  auto* cmd = app.add_subcommand("payload", "Generate, apply, verify and inspect update payloads");
  cmd->require_subcommand(1);

  auto g = std::make_shared<GenerateArgs>();
  auto* gen = cmd->add_subcommand("generate", "Make a signed full or delta payload");
  gen->add_option("--new", g->opt.new_image_dir,
                  "Image directory of the new version (usr.img + image.json)")
      ->required();
  gen->add_option("--old", g->old_dir, "Image directory of the old version (makes a delta)");
  gen->add_option("--output", g->opt.output_path, "Payload file to write")->required();
  gen->add_option("--key", g->opt.keys, "Signing key: PEM file or OpenSSL store URI (repeatable)")
      ->required();
  gen->add_option("--threads", g->opt.threads, "Worker threads (default: one per core)");
  gen->add_option("--zstd-level", g->opt.zstd_level, "zstd level of delta operations (default 19)");
  gen->add_option("--full-zstd-level", g->opt.full_zstd_level,
                  "zstd level of full payloads (default 9)");
  gen->add_option("--chunk-size", g->chunk_kib, "KiB of new image per operation (default 2048)");
  gen->add_flag("--no-xz", g->no_xz, "Do not try xz per chunk");
  auto* all = gen->add_flag("--bsdiff", g->bsdiff,
                            "Also try bsdiff (Debian's tool) on every changed chunk, not only on "
                            "changed files of compiled code (ELF, cpio), the default");
  gen->add_flag("--no-bsdiff", g->no_bsdiff, "Never try bsdiff")->excludes(all);
  gen->add_flag("--no-lz4-patch", g->no_lz4, "Do not diff LZ4 kernels decompressed");
  gen->add_flag("--no-gzip-patch", g->no_gzip, "Do not diff gzip'd files decompressed");
  gen->add_option("--max-minor-version", g->opt.max_minor_version,
                  "Highest payload minor version to need (default 5; 4 for hosts whose applier "
                  "predates boot artifacts (images with UKIs need 5), 3 for those that also "
                  "predate SOURCE_GZIP_PATCH, 2 for those that also predate SOURCE_LZ4_PATCH "
                  "and SOURCE_BSDIFF_XZ)")
      ->check(CLI::Range(2, 5));
  gen->add_flag("--json", g->json, "Machine-readable output");
  gen->callback([g, &runner] { runner.Set([g, &runner] { return RunGenerate(*g, runner); }); });

  auto ap = std::make_shared<ApplyArgs>();
  auto* apply = cmd->add_subcommand("apply", "Verify and write a payload into a slot");
  apply->add_option("file", ap->file, "Payload file ('-' for stdin)")->required();
  apply->add_option("--target", ap->target, "Target block device or file")->required();
  apply->add_option("--source", ap->source, "Source (old slot) for a delta");
  apply->add_option("--keys", ap->keys, "Trusted public keys: a directory of *.pem or one PEM file")
      ->required();
  apply->add_option("--threshold", ap->threshold, "Trusted signatures required (default 1)");
  apply->add_option("--state-dir,--state", ap->state, "Directory for the resume checkpoint");
  apply->add_option("--checkpoint-interval-ms", ap->checkpoint_ms,
                    "Minimum time between checkpoints (default 1000)");
  apply->add_flag("--json", ap->json, "Machine-readable output");
  apply->callback([ap, &runner] { runner.Set([ap, &runner] { return RunApply(*ap, runner); }); });

  auto v = std::make_shared<VerifyArgs>();
  auto* verify = cmd->add_subcommand("verify", "Check a payload's signatures and every blob");
  verify->add_option("file", v->file, "Payload file ('-' for stdin)")->required();
  verify->add_option("--keys", v->keys, "Trusted public keys: a directory of *.pem or one PEM file")
      ->required();
  verify->add_option("--threshold", v->threshold, "Trusted signatures required (default 1)");
  verify->add_flag("--json", v->json, "Machine-readable output");
  verify->callback([v, &runner] { runner.Set([v] { return RunVerify(*v); }); });

  auto in = std::make_shared<InspectArgs>();
  auto* inspect = cmd->add_subcommand("inspect", "Show a payload's header and manifest");
  inspect->add_option("file", in->file, "Payload file ('-' for stdin)")->required();
  inspect->add_option("--keys", in->keys, "Also verify signatures against these trusted keys");
  inspect->add_flag("--json", in->json, "Machine-readable output");
  inspect->add_flag("--operations", in->operations,
                    "With --json: list every operation (type, blob range, extents as "
                    "[start block, blocks])");
  inspect->callback([in, &runner] { runner.Set([in] { return RunInspect(*in); }); });
}

}  // namespace basalt
