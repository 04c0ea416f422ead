#include "repo/channel.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "repo/document_format.h"
#include "repo/json_fields.h"
#include "repo/names.h"

namespace basalt::repo {

double WaveReached(const Rollout& rollout, TimePoint now) {
  double elapsed = 0;
  if (now >= rollout.start) {
    elapsed = rollout.duration.count() == 0 ? 1.0
                                            : static_cast<double>((now - rollout.start).count()) /
                                                  static_cast<double>(rollout.duration.count());
  }
  if (rollout.limit_percent) elapsed = std::min(elapsed, *rollout.limit_percent / 100.0);
  return elapsed;
}

Result<Channel> ParseChannel(std::string_view body) {
  BASALT_ASSIGN_OR_RETURN(nlohmann::json doc, ParseJson(body, "channel"));
  BASALT_ASSIGN_OR_RETURN(FieldReader r, FieldReader::Open(doc, "channel"));
  BASALT_ASSIGN_OR_RETURN(UnknownFields unknown, ReadFormatMinor(r, kChannelFormatMinor));
  Channel ch;
  BASALT_ASSIGN_OR_RETURN(ch.name, r.String("name"));
  BASALT_RETURN_IF_ERROR(CheckChannelName(ch.name, r.Name("name")));
  BASALT_ASSIGN_OR_RETURN(ch.metadata_version, r.Uint("metadata_version"));
  if (ch.metadata_version == 0) {
    return Failf(ErrorKind::kInvalidInput, "{}: must be at least 1", r.Name("metadata_version"));
  }
  BASALT_ASSIGN_OR_RETURN(std::string expires, r.String("expires"));
  BASALT_ASSIGN_OR_RETURN(ch.expires, ParseTime(expires, r.Name("expires")));
  BASALT_ASSIGN_OR_RETURN(ch.release, r.String("release"));
  BASALT_RETURN_IF_ERROR(CheckVersion(ch.release, r.Name("release")));
  BASALT_ASSIGN_OR_RETURN(ch.release_sha256, r.OptionalString("release_sha256"));
  if (ch.release_sha256) {
    BASALT_RETURN_IF_ERROR(CheckHex(*ch.release_sha256, 32, r.Name("release_sha256")));
  }
  BASALT_ASSIGN_OR_RETURN(ch.repository, r.OptionalString("repository"));
  if (ch.repository) BASALT_RETURN_IF_ERROR(CheckChannelName(*ch.repository, r.Name("repository")));
  BASALT_ASSIGN_OR_RETURN(ch.floor, r.OptionalString("floor"));
  if (ch.floor) BASALT_RETURN_IF_ERROR(CheckVersion(*ch.floor, r.Name("floor")));
  BASALT_ASSIGN_OR_RETURN(const nlohmann::json* rollout, r.OptionalObject("rollout"));
  if (rollout != nullptr) {
    BASALT_ASSIGN_OR_RETURN(FieldReader ro,
                            FieldReader::Open(*rollout, "channel.rollout", unknown));
    BASALT_ASSIGN_OR_RETURN(std::string start, ro.String("start"));
    Rollout out;
    BASALT_ASSIGN_OR_RETURN(out.start, ParseTime(start, ro.Name("start")));
    BASALT_ASSIGN_OR_RETURN(uint64_t secs, ro.Uint("duration_seconds"));
    if (secs > 366ULL * 86400) {
      return Failf(ErrorKind::kInvalidInput, "{}: longer than a year", ro.Name("duration_seconds"));
    }
    out.duration = std::chrono::seconds(secs);
    BASALT_ASSIGN_OR_RETURN(auto limit, ro.OptionalUint("limit_percent"));
    if (limit) {
      if (*limit > 100) {
        return Failf(ErrorKind::kInvalidInput, "{}: above 100", ro.Name("limit_percent"));
      }
      out.limit_percent = static_cast<uint32_t>(*limit);
    }
    BASALT_RETURN_IF_ERROR(ro.Finish());
    ch.rollout = out;
  }
  BASALT_ASSIGN_OR_RETURN(ch.allow_downgrade, r.Bool("allow_downgrade"));
  BASALT_ASSIGN_OR_RETURN(auto paused, r.OptionalBool("paused"));
  ch.paused = paused.value_or(false);
  BASALT_ASSIGN_OR_RETURN(auto paused_at, r.OptionalString("paused_at"));
  if (paused_at) {
    BASALT_ASSIGN_OR_RETURN(ch.paused_at, ParseTime(*paused_at, r.Name("paused_at")));
    if (!ch.paused) {
      return Failf(ErrorKind::kInvalidInput, "{}: set on a channel that is not paused",
                   r.Name("paused_at"));
    }
  }
  BASALT_ASSIGN_OR_RETURN(auto pinned, r.OptionalBool("pinned"));
  ch.pinned = pinned.value_or(false);
  BASALT_RETURN_IF_ERROR(r.Finish());
  return ch;
}

std::string SerializeChannel(const Channel& ch) {
  nlohmann::ordered_json doc;
  // The lowest minor that holds the fields written (docs/repository.md, "Document versions").
  if ((ch.rollout && ch.rollout->limit_percent) || ch.paused_at) {
    doc[kFormatMinorField] = 3;
  } else if (ch.repository) {
    doc[kFormatMinorField] = 2;
  } else if (ch.release_sha256) {
    doc[kFormatMinorField] = 1;
  }
  doc["name"] = ch.name;
  doc["metadata_version"] = ch.metadata_version;
  doc["expires"] = FormatTime(ch.expires);
  doc["release"] = ch.release;
  if (ch.release_sha256) doc["release_sha256"] = *ch.release_sha256;
  if (ch.repository) doc["repository"] = *ch.repository;
  if (ch.floor) doc["floor"] = *ch.floor;
  if (ch.rollout) {
    doc["rollout"] = {{"start", FormatTime(ch.rollout->start)},
                      {"duration_seconds", ch.rollout->duration.count()}};
    if (ch.rollout->limit_percent) doc["rollout"]["limit_percent"] = *ch.rollout->limit_percent;
  }
  doc["allow_downgrade"] = ch.allow_downgrade;
  doc["paused"] = ch.paused;
  if (ch.paused_at) doc["paused_at"] = FormatTime(*ch.paused_at);
  doc["pinned"] = ch.pinned;
  return doc.dump(2) + "\n";
}

}  // namespace basalt::repo
