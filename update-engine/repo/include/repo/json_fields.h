// Strict reading of a JSON object: every field must be known, present when required and of the
// right type, and every rejection names the field ("usr.root_hash: expected a string"). Signed
// metadata is a contract, so anything a reader would silently ignore is an error instead.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "common/error.h"
#include "repo/document_format.h"

namespace basalt::repo {

// Parses text as JSON, turning nlohmann's exceptions into kInvalidInput naming `what`.
Result<nlohmann::json> ParseJson(std::string_view text, std::string_view what);

// What Finish does with a field no accessor asked for. kIgnore is only for documents of a newer
// format minor version than this build reads (ReadFormatMinor).
enum class UnknownFields { kRefuse, kIgnore };

class FieldReader {
 public:
  // `where` prefixes field names in messages, e.g. "release" or "release.usr".
  static Result<FieldReader> Open(const nlohmann::json& value, std::string where,
                                  UnknownFields unknown = UnknownFields::kRefuse);

  Result<std::string> String(std::string_view key);
  Result<std::optional<std::string>> OptionalString(std::string_view key);
  Result<uint64_t> Uint(std::string_view key);
  Result<std::optional<uint64_t>> OptionalUint(std::string_view key);
  Result<bool> Bool(std::string_view key);
  Result<std::optional<bool>> OptionalBool(std::string_view key);
  Result<const nlohmann::json*> Object(std::string_view key);
  Result<const nlohmann::json*> OptionalObject(std::string_view key);
  Result<const nlohmann::json*> Array(std::string_view key);

  // Fails naming the first field that no accessor asked for (unless they are ignored).
  Status Finish() const;
  UnknownFields unknown_fields() const { return unknown_; }

  std::string Name(std::string_view key) const;

 private:
  FieldReader(const nlohmann::json* obj, std::string where, UnknownFields unknown)
      : obj_(obj), where_(std::move(where)), unknown_(unknown) {}
  Result<const nlohmann::json*> Get(std::string_view key, bool required);
  friend Result<UnknownFields> ReadFormatMinor(FieldReader& r, uint32_t known);

  const nlohmann::json* obj_;
  std::string where_;
  UnknownFields unknown_;
  std::set<std::string, std::less<>> seen_;
};

// Reads a document's "format_minor" (absent: 0) and switches `r` to ignore unknown fields when
// the document is newer than `known`, the minor version this build reads. By the versioning rule
// (docs/repository.md) fields added in a minor version are optional and safe to ignore; a
// document of this build's minor or an older one is read strictly, so a typo still fails.
// Returns how nested objects of the document are to be read.
Result<UnknownFields> ReadFormatMinor(FieldReader& r, uint32_t known);

// Checks for lower-case hex of exactly `bytes` bytes (0 = any even, non-empty length).
Status CheckHex(std::string_view value, size_t bytes, std::string_view field);

}  // namespace basalt::repo
