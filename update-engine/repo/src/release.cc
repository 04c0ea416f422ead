#include "repo/release.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/kernel_cmdline.h"
#include "common/printable.h"
#include "measurements_json.h"
#include "payload/boot_artifacts.h"
#include "repo/json_fields.h"
#include "repo/names.h"

namespace basalt::repo {

std::string_view PayloadKindName(PayloadKind kind) {
  return kind == PayloadKind::kFull ? "full" : "delta";
}

const PayloadRef* Release::FullPayload() const {
  for (const PayloadRef& p : payloads) {
    if (p.kind == PayloadKind::kFull) return &p;
  }
  return nullptr;
}

namespace {

Result<UsrInfo> ParseUsr(const nlohmann::json& v, UnknownFields unknown) {
  BASALT_ASSIGN_OR_RETURN(FieldReader r, FieldReader::Open(v, "release.usr", unknown));
  UsrInfo u;
  BASALT_ASSIGN_OR_RETURN(u.root_hash, r.String("root_hash"));
  BASALT_ASSIGN_OR_RETURN(u.salt, r.String("salt"));
  BASALT_ASSIGN_OR_RETURN(u.hash_algorithm, r.String("hash_algorithm"));
  BASALT_ASSIGN_OR_RETURN(u.data_block_size, r.Uint("data_block_size"));
  BASALT_ASSIGN_OR_RETURN(u.hash_block_size, r.Uint("hash_block_size"));
  BASALT_ASSIGN_OR_RETURN(u.data_size, r.Uint("data_size"));
  BASALT_ASSIGN_OR_RETURN(u.hash_offset, r.Uint("hash_offset"));
  BASALT_RETURN_IF_ERROR(r.Finish());
  if (u.hash_algorithm != "sha256") {
    return Failf(ErrorKind::kUnsupported, "{}: only sha256 is supported, got \"{}\"",
                 r.Name("hash_algorithm"), Printable(u.hash_algorithm, 32));
  }
  BASALT_RETURN_IF_ERROR(CheckHex(u.root_hash, 32, r.Name("root_hash")));
  BASALT_RETURN_IF_ERROR(CheckHex(u.salt, 0, r.Name("salt")));
  if (u.salt.size() > 512) {
    return Failf(ErrorKind::kInvalidInput, "{}: longer than 256 bytes", r.Name("salt"));
  }
  for (auto [name, bs] : {std::pair<const char*, uint64_t>{"data_block_size", u.data_block_size},
                          {"hash_block_size", u.hash_block_size}}) {
    if (bs < 512 || bs > 65536 || (bs & (bs - 1)) != 0) {
      return Failf(ErrorKind::kInvalidInput, "{}: {} is not a power of two in 512..65536",
                   r.Name(name), bs);
    }
  }
  if (u.data_size == 0 || u.data_size % u.data_block_size != 0) {
    return Failf(ErrorKind::kInvalidInput, "{}: must be a non-zero multiple of data_block_size",
                 r.Name("data_size"));
  }
  if (u.hash_offset < u.data_size) {
    return Failf(ErrorKind::kInvalidInput, "{}: the hash tree must start after the data",
                 r.Name("hash_offset"));
  }
  return u;
}

Result<PayloadRef> ParsePayload(const nlohmann::json& v, size_t index, UnknownFields unknown) {
  BASALT_ASSIGN_OR_RETURN(
      FieldReader r, FieldReader::Open(v, fmt::format("release.payloads[{}]", index), unknown));
  PayloadRef p;
  BASALT_ASSIGN_OR_RETURN(std::string kind, r.String("kind"));
  if (kind == "full") {
    p.kind = PayloadKind::kFull;
  } else if (kind == "delta") {
    p.kind = PayloadKind::kDelta;
    BASALT_ASSIGN_OR_RETURN(p.from_version, r.String("from_version"));
    BASALT_RETURN_IF_ERROR(CheckVersion(p.from_version, r.Name("from_version")));
    BASALT_ASSIGN_OR_RETURN(p.from_root_hash, r.String("from_root_hash"));
    BASALT_RETURN_IF_ERROR(CheckHex(p.from_root_hash, 32, r.Name("from_root_hash")));
  } else {
    return Failf(ErrorKind::kInvalidInput, "{}: must be \"full\" or \"delta\"", r.Name("kind"));
  }
  BASALT_ASSIGN_OR_RETURN(p.url, r.String("url"));
  BASALT_RETURN_IF_ERROR(CheckRelativeUrl(p.url, r.Name("url")));
  BASALT_ASSIGN_OR_RETURN(p.size, r.Uint("size"));
  if (p.size == 0) return Failf(ErrorKind::kInvalidInput, "{}: must not be 0", r.Name("size"));
  BASALT_ASSIGN_OR_RETURN(p.sha256, r.String("sha256"));
  BASALT_RETURN_IF_ERROR(CheckHex(p.sha256, 32, r.Name("sha256")));
  BASALT_RETURN_IF_ERROR(r.Finish());
  return p;
}

// release.boot: {"uki": {"A": {"size", "sha256", "measurements"?}, "B": {...}}}, both slots.
Result<BootInfo> ParseBoot(const nlohmann::json& v, UnknownFields unknown) {
  BASALT_ASSIGN_OR_RETURN(FieldReader r, FieldReader::Open(v, "release.boot", unknown));
  BASALT_ASSIGN_OR_RETURN(const nlohmann::json* uki, r.Object("uki"));
  BASALT_RETURN_IF_ERROR(r.Finish());
  BASALT_ASSIGN_OR_RETURN(FieldReader u, FieldReader::Open(*uki, "release.boot.uki", unknown));
  BootInfo boot;
  for (const char* slot : {"A", "B"}) {
    BASALT_ASSIGN_OR_RETURN(const nlohmann::json* file, u.Object(slot));
    BASALT_ASSIGN_OR_RETURN(FieldReader f, FieldReader::Open(*file, u.Name(slot), unknown));
    BootArtifactInfo info;
    BASALT_ASSIGN_OR_RETURN(info.size, f.Uint("size"));
    if (info.size == 0 || info.size > payload::kMaxBootArtifactSize) {
      return Failf(ErrorKind::kInvalidInput, "{}: must be 1..{}", f.Name("size"),
                   payload::kMaxBootArtifactSize);
    }
    BASALT_ASSIGN_OR_RETURN(info.sha256, f.String("sha256"));
    BASALT_RETURN_IF_ERROR(CheckHex(info.sha256, 32, f.Name("sha256")));
    BASALT_ASSIGN_OR_RETURN(const nlohmann::json* m, f.OptionalObject("measurements"));
    if (m != nullptr) {
      BASALT_ASSIGN_OR_RETURN(info.measurements,
                              ParseUkiMeasurements(*m, f.Name("measurements"), unknown));
    }
    BASALT_RETURN_IF_ERROR(f.Finish());
    boot.uki[slot] = std::move(info);
  }
  BASALT_RETURN_IF_ERROR(u.Finish());
  return boot;
}

}  // namespace

Result<Release> ParseRelease(std::string_view body) {
  BASALT_ASSIGN_OR_RETURN(nlohmann::json doc, ParseJson(body, "release"));
  BASALT_ASSIGN_OR_RETURN(FieldReader r, FieldReader::Open(doc, "release"));
  BASALT_ASSIGN_OR_RETURN(UnknownFields unknown, ReadFormatMinor(r, kReleaseFormatMinor));
  Release rel;
  BASALT_ASSIGN_OR_RETURN(rel.version, r.String("version"));
  BASALT_ASSIGN_OR_RETURN(rel.repository, r.OptionalString("repository"));
  if (rel.repository) {
    BASALT_RETURN_IF_ERROR(CheckChannelName(*rel.repository, r.Name("repository")));
  }
  BASALT_RETURN_IF_ERROR(CheckVersion(rel.version, r.Name("version")));
  BASALT_ASSIGN_OR_RETURN(std::string created, r.String("created"));
  BASALT_ASSIGN_OR_RETURN(rel.created, ParseTime(created, r.Name("created")));
  BASALT_ASSIGN_OR_RETURN(const nlohmann::json* usr, r.Object("usr"));
  BASALT_ASSIGN_OR_RETURN(rel.usr, ParseUsr(*usr, unknown));
  BASALT_ASSIGN_OR_RETURN(const nlohmann::json* kernel, r.Object("kernel"));
  {
    BASALT_ASSIGN_OR_RETURN(FieldReader k, FieldReader::Open(*kernel, "release.kernel", unknown));
    BASALT_ASSIGN_OR_RETURN(rel.kernel.version, k.String("version"));
    if (rel.kernel.version.empty() || rel.kernel.version.size() > 128) {
      return Failf(ErrorKind::kInvalidInput, "{}: must be 1-128 characters", k.Name("version"));
    }
    BASALT_ASSIGN_OR_RETURN(rel.kernel.sha256, k.String("sha256"));
    BASALT_RETURN_IF_ERROR(CheckHex(rel.kernel.sha256, 32, k.Name("sha256")));
    BASALT_ASSIGN_OR_RETURN(rel.kernel.cmdline, k.OptionalString("cmdline"));
    if (rel.kernel.cmdline) {
      BASALT_RETURN_IF_ERROR(CheckImageKernelArgs(*rel.kernel.cmdline, k.Name("cmdline")));
    }
    BASALT_RETURN_IF_ERROR(k.Finish());
  }
  BASALT_ASSIGN_OR_RETURN(const nlohmann::json* boot, r.OptionalObject("boot"));
  if (boot != nullptr) {
    BASALT_ASSIGN_OR_RETURN(rel.boot, ParseBoot(*boot, unknown));
  }
  BASALT_ASSIGN_OR_RETURN(const nlohmann::json* payloads, r.Array("payloads"));
  if (payloads->empty() || payloads->size() > 256) {
    return Fail(ErrorKind::kInvalidInput, "release.payloads: must list 1-256 payloads");
  }
  for (size_t i = 0; i < payloads->size(); ++i) {
    BASALT_ASSIGN_OR_RETURN(PayloadRef p, ParsePayload((*payloads)[i], i, unknown));
    for (const PayloadRef& q : rel.payloads) {
      if (q.url == p.url) {
        return Failf(ErrorKind::kInvalidInput, "release.payloads[{}].url: \"{}\" is listed twice",
                     i, p.url);
      }
      if (p.kind == q.kind && p.from_version == q.from_version) {
        return Failf(ErrorKind::kInvalidInput, "release.payloads[{}]: a second {} payload{}", i,
                     PayloadKindName(p.kind),
                     p.kind == PayloadKind::kDelta ? " from " + p.from_version : "");
      }
    }
    rel.payloads.push_back(std::move(p));
  }
  if (rel.FullPayload() == nullptr) {
    return Fail(ErrorKind::kInvalidInput,
                "release.payloads: no full payload (every release needs one to fall back to)");
  }
  BASALT_ASSIGN_OR_RETURN(rel.sbom_sha256, r.String("sbom_sha256"));
  BASALT_RETURN_IF_ERROR(CheckHex(rel.sbom_sha256, 32, r.Name("sbom_sha256")));
  BASALT_ASSIGN_OR_RETURN(rel.input_digest, r.String("input_digest"));
  if (rel.input_digest.empty() || rel.input_digest.size() > 256) {
    return Failf(ErrorKind::kInvalidInput, "{}: must be 1-256 characters", r.Name("input_digest"));
  }
  BASALT_RETURN_IF_ERROR(r.Finish());
  return rel;
}

std::string SerializeRelease(const Release& rel) {
  nlohmann::ordered_json payloads = nlohmann::ordered_json::array();
  for (const PayloadRef& p : rel.payloads) {
    nlohmann::ordered_json j;
    j["kind"] = PayloadKindName(p.kind);
    if (p.kind == PayloadKind::kDelta) {
      j["from_version"] = p.from_version;
      j["from_root_hash"] = p.from_root_hash;
    }
    j["url"] = p.url;
    j["size"] = p.size;
    j["sha256"] = p.sha256;
    payloads.push_back(std::move(j));
  }
  nlohmann::ordered_json doc;
  // The lowest minor that holds the fields written (docs/repository.md, "Document versions").
  const bool measurements =
      rel.boot && std::any_of(rel.boot->uki.begin(), rel.boot->uki.end(),
                              [](const auto& u) { return u.second.measurements.has_value(); });
  if (measurements) {
    doc[kFormatMinorField] = 4;
  } else if (rel.boot) {
    doc[kFormatMinorField] = 3;
  } else if (rel.kernel.cmdline) {
    doc[kFormatMinorField] = 2;
  } else if (rel.repository) {
    doc[kFormatMinorField] = 1;
  }
  doc["version"] = rel.version;
  if (rel.repository) doc["repository"] = *rel.repository;
  doc["created"] = FormatTime(rel.created);
  doc["usr"] = {{"root_hash", rel.usr.root_hash},
                {"salt", rel.usr.salt},
                {"hash_algorithm", rel.usr.hash_algorithm},
                {"data_block_size", rel.usr.data_block_size},
                {"hash_block_size", rel.usr.hash_block_size},
                {"data_size", rel.usr.data_size},
                {"hash_offset", rel.usr.hash_offset}};
  nlohmann::ordered_json kernel = {{"version", rel.kernel.version}, {"sha256", rel.kernel.sha256}};
  if (rel.kernel.cmdline) kernel["cmdline"] = *rel.kernel.cmdline;
  doc["kernel"] = std::move(kernel);
  if (rel.boot) {
    nlohmann::ordered_json uki;
    for (const auto& [slot, f] : rel.boot->uki) {
      uki[slot] = {{"size", f.size}, {"sha256", f.sha256}};
      if (f.measurements) uki[slot]["measurements"] = UkiMeasurementsJson(*f.measurements);
    }
    doc["boot"] = {{"uki", std::move(uki)}};
  }
  doc["payloads"] = std::move(payloads);
  doc["sbom_sha256"] = rel.sbom_sha256;
  doc["input_digest"] = rel.input_digest;
  return doc.dump(2) + "\n";
}

}  // namespace basalt::repo
