#include "repo/json_fields.h"

#include "common/printable.h"

namespace basalt::repo {

Result<nlohmann::json> ParseJson(std::string_view text, std::string_view what) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    // The parser quotes the bytes it stopped at, which may be anything a server sent.
    return Failf(ErrorKind::kInvalidInput, "{}: not valid JSON: {}", what, Printable(e.what()));
  }
}

Result<FieldReader> FieldReader::Open(const nlohmann::json& value, std::string where,
                                      UnknownFields unknown) {
  if (!value.is_object()) {
    return Failf(ErrorKind::kInvalidInput, "{}: expected a JSON object, got {}", where,
                 value.type_name());
  }
  return FieldReader(&value, std::move(where), unknown);
}

std::string FieldReader::Name(std::string_view key) const {
  return fmt::format("{}.{}", where_, key);
}

Result<const nlohmann::json*> FieldReader::Get(std::string_view key, bool required) {
  seen_.emplace(key);
  auto it = obj_->find(key);
  if (it == obj_->end()) {
    if (required) {
      return Failf(ErrorKind::kInvalidInput, "{}: required field is missing", Name(key));
    }
    return nullptr;
  }
  return &*it;
}

namespace {
std::unexpected<Error> WrongType(const std::string& name, std::string_view want,
                                 const nlohmann::json& got) {
  return Failf(ErrorKind::kInvalidInput, "{}: expected {}, got {}", name, want, got.type_name());
}
}  // namespace

Result<std::string> FieldReader::String(std::string_view key) {
  BASALT_ASSIGN_OR_RETURN(const nlohmann::json* v, Get(key, true));
  if (!v->is_string()) return WrongType(Name(key), "a string", *v);
  return v->get<std::string>();
}

Result<std::optional<std::string>> FieldReader::OptionalString(std::string_view key) {
  BASALT_ASSIGN_OR_RETURN(const nlohmann::json* v, Get(key, false));
  if (v == nullptr) return std::optional<std::string>();
  if (!v->is_string()) return WrongType(Name(key), "a string", *v);
  return std::optional<std::string>(v->get<std::string>());
}

Result<uint64_t> FieldReader::Uint(std::string_view key) {
  BASALT_ASSIGN_OR_RETURN(const nlohmann::json* v, Get(key, true));
  if (!v->is_number_unsigned()) {
    if (v->is_number_integer()) {
      return Failf(ErrorKind::kInvalidInput, "{}: must not be negative", Name(key));
    }
    return WrongType(Name(key), "a non-negative integer", *v);
  }
  return v->get<uint64_t>();
}

Result<std::optional<uint64_t>> FieldReader::OptionalUint(std::string_view key) {
  BASALT_ASSIGN_OR_RETURN(const nlohmann::json* v, Get(key, false));
  if (v == nullptr) return std::optional<uint64_t>();
  BASALT_ASSIGN_OR_RETURN(uint64_t value, Uint(key));
  return std::optional<uint64_t>(value);
}

Result<bool> FieldReader::Bool(std::string_view key) {
  BASALT_ASSIGN_OR_RETURN(const nlohmann::json* v, Get(key, true));
  if (!v->is_boolean()) return WrongType(Name(key), "true or false", *v);
  return v->get<bool>();
}

Result<std::optional<bool>> FieldReader::OptionalBool(std::string_view key) {
  BASALT_ASSIGN_OR_RETURN(const nlohmann::json* v, Get(key, false));
  if (v == nullptr) return std::optional<bool>();
  if (!v->is_boolean()) return WrongType(Name(key), "true or false", *v);
  return std::optional<bool>(v->get<bool>());
}

Result<const nlohmann::json*> FieldReader::Object(std::string_view key) {
  BASALT_ASSIGN_OR_RETURN(const nlohmann::json* v, Get(key, true));
  if (!v->is_object()) return WrongType(Name(key), "an object", *v);
  return v;
}

Result<const nlohmann::json*> FieldReader::OptionalObject(std::string_view key) {
  BASALT_ASSIGN_OR_RETURN(const nlohmann::json* v, Get(key, false));
  if (v != nullptr && !v->is_object()) return WrongType(Name(key), "an object", *v);
  return v;
}

Result<const nlohmann::json*> FieldReader::Array(std::string_view key) {
  BASALT_ASSIGN_OR_RETURN(const nlohmann::json* v, Get(key, true));
  if (!v->is_array()) return WrongType(Name(key), "an array", *v);
  return v;
}

Status FieldReader::Finish() const {
  if (unknown_ == UnknownFields::kIgnore) return {};
  for (const auto& [key, value] : obj_->items()) {
    if (!seen_.contains(key)) {
      return Failf(ErrorKind::kInvalidInput, "{}: unknown field", Name(key));
    }
  }
  return {};
}

Status CheckHex(std::string_view value, size_t bytes, std::string_view field) {
  if (bytes != 0 && value.size() != bytes * 2) {
    return Failf(ErrorKind::kInvalidInput, "{}: expected {} hex digits, got {}", field, bytes * 2,
                 value.size());
  }
  if (value.empty() || value.size() % 2 != 0) {
    return Failf(ErrorKind::kInvalidInput, "{}: expected an even, non-zero number of hex digits",
                 field);
  }
  for (char c : value) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return Failf(ErrorKind::kInvalidInput, "{}: not lower-case hex", field);
    }
  }
  return {};
}

Result<UnknownFields> ReadFormatMinor(FieldReader& r, uint32_t known) {
  BASALT_ASSIGN_OR_RETURN(std::optional<uint64_t> minor, r.OptionalUint(kFormatMinorField));
  if (minor.value_or(0) > known) r.unknown_ = UnknownFields::kIgnore;
  return r.unknown_;
}

}  // namespace basalt::repo
