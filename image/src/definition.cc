#include "image/definition.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <cmath>
#include <set>

#include "boot/backends.h"
#include "common/fd.h"
#include "common/kernel_cmdline.h"

namespace basalt::image {

std::string DefaultBootBackendName() {
  return std::string(boot::DefaultBootBackend().name);
}

std::string_view UsrCompressionName(UsrCompression c) {
  return c == UsrCompression::kLz4hc ? "lz4hc" : "none";
}

Result<uint64_t> ParseSize(std::string_view text) {
  std::string s(text);
  size_t digits = 0;
  while (digits < s.size() && (isdigit(static_cast<unsigned char>(s[digits])) || s[digits] == '.'))
    ++digits;
  if (digits == 0)
    return Failf(ErrorKind::kInvalidInput, "size '{}' does not start with a number", s);
  std::string unit = s.substr(digits);
  while (!unit.empty() && unit.front() == ' ')
    unit.erase(unit.begin());
  double mult = 0;
  if (unit.empty() || unit == "B")
    mult = 1;
  else if (unit == "KiB" || unit == "K")
    mult = 1024.0;
  else if (unit == "MiB" || unit == "M")
    mult = 1024.0 * 1024;
  else if (unit == "GiB" || unit == "G")
    mult = 1024.0 * 1024 * 1024;
  else if (unit == "TiB" || unit == "T")
    mult = 1024.0 * 1024 * 1024 * 1024;
  else
    return Failf(ErrorKind::kInvalidInput, "size '{}': unknown unit '{}' (use B, KiB, MiB, GiB)", s,
                 unit);
  char* end = nullptr;
  std::string number = s.substr(0, digits);
  double value = strtod(number.c_str(), &end);
  if (end != number.c_str() + number.size() || !std::isfinite(value) || value <= 0 ||
      value * mult > 1e15) {
    return Failf(ErrorKind::kInvalidInput, "size '{}' is not a positive number", s);
  }
  auto bytes = static_cast<uint64_t>(std::llround(value * mult));
  if (bytes == 0 || bytes % kMiB != 0) {  // ".1" rounds to 0 bytes
    return Failf(ErrorKind::kInvalidInput, "size '{}' is not a whole number of MiB", s);
  }
  return bytes;
}

std::string HumanSize(uint64_t bytes) {
  constexpr double kGiB = 1024.0 * 1024 * 1024;
  if (bytes >= 1024ULL * 1024 * 1024) return fmt::format("{:.2f} GiB", bytes / kGiB);
  if (bytes >= kMiB) return fmt::format("{:.2f} MiB", bytes / static_cast<double>(kMiB));
  return fmt::format("{} bytes", bytes);
}

namespace {

using KeySet = std::set<std::string>;

Status CheckKeys(const toml::table& table, const KeySet& allowed, std::string_view where,
                 std::string_view source) {
  for (const auto& [key, _] : table) {
    if (!allowed.contains(std::string(key.str()))) {
      return Failf(ErrorKind::kInvalidInput, "{}: unknown key '{}{}'", source, where,
                   std::string(key.str()));
    }
  }
  return {};
}

Result<std::optional<std::string>> GetString(const toml::table& t, std::string_view key,
                                             std::string_view where, std::string_view source) {
  const toml::node* n = t.get(key);
  if (n == nullptr) return std::optional<std::string>();
  if (auto v = n->value<std::string>(); v && n->is_string()) return std::optional<std::string>(*v);
  return Failf(ErrorKind::kInvalidInput, "{}: '{}{}' must be a string", source, where, key);
}

Result<std::optional<uint64_t>> GetSize(const toml::table& t, std::string_view key,
                                        std::string_view where, std::string_view source) {
  const toml::node* n = t.get(key);
  if (n == nullptr) return std::optional<uint64_t>();
  if (n->is_integer()) {
    int64_t v = *n->value<int64_t>();
    if (v <= 0 || v % static_cast<int64_t>(kMiB) != 0) {
      return Failf(ErrorKind::kInvalidInput,
                   "{}: '{}{}' = {} is not a positive whole number of MiB", source, where, key, v);
    }
    return std::optional<uint64_t>(static_cast<uint64_t>(v));
  }
  if (n->is_string()) {
    auto r = ParseSize(*n->value<std::string>());
    if (!r)
      return std::unexpected(r.error().WithContext(fmt::format("{}: '{}{}'", source, where, key)));
    return std::optional<uint64_t>(*r);
  }
  return Failf(ErrorKind::kInvalidInput, "{}: '{}{}' must be a size like \"1GiB\" or bytes", source,
               where, key);
}

const toml::table* SubTable(const toml::table& root, std::string_view key) {
  const toml::node* n = root.get(key);
  return n ? n->as_table() : nullptr;
}

}  // namespace

Result<ImageDefinition> ParseDefinition(std::string_view toml_text, std::string_view source) {
  toml::table root;
  try {
    root = toml::parse(toml_text, source);
  } catch (const toml::parse_error& e) {
    return Failf(ErrorKind::kInvalidInput, "{}:{}:{}: {}", source, e.source().begin.line,
                 e.source().begin.column, std::string(e.description()));
  }
  ImageDefinition def;
  BASALT_RETURN_IF_ERROR(CheckKeys(root,
                                   {"version", "os_name", "seed", "source_date_epoch", "partitions",
                                    "usr", "kernel", "boot", "root", "signing", "input"},
                                   "", source));
  for (const char* table_key :
       {"partitions", "usr", "kernel", "boot", "root", "signing", "input"}) {
    const toml::node* n = root.get(table_key);
    if (n != nullptr && !n->is_table()) {
      return Failf(ErrorKind::kInvalidInput, "{}: '{}' must be a table", source, table_key);
    }
  }
  BASALT_ASSIGN_OR_RETURN(auto version, GetString(root, "version", "", source));
  if (version) {
    BASALT_RETURN_IF_ERROR(CheckVersion(*version, fmt::format("{}: version", source)));
    def.version = *version;
  }
  BASALT_ASSIGN_OR_RETURN(auto os_name, GetString(root, "os_name", "", source));
  if (os_name) def.os_name = *os_name;
  BASALT_ASSIGN_OR_RETURN(auto seed, GetString(root, "seed", "", source));
  if (seed) def.seed = *seed;
  if (const toml::node* n = root.get("source_date_epoch")) {
    if (!n->is_integer() || *n->value<int64_t>() < 0) {
      return Failf(ErrorKind::kInvalidInput,
                   "{}: 'source_date_epoch' must be a non-negative integer", source);
    }
    def.source_date_epoch = *n->value<int64_t>();
  }
  if (const toml::table* t = SubTable(root, "partitions")) {
    BASALT_RETURN_IF_ERROR(
        CheckKeys(*t, {"esp_size", "usr_size", "oem_size", "root_size"}, "partitions.", source));
    struct Item {
      const char* key;
      uint64_t* out;
    };
    for (Item item : {Item{"esp_size", &def.sizes.esp}, Item{"usr_size", &def.sizes.usr},
                      Item{"oem_size", &def.sizes.oem}, Item{"root_size", &def.sizes.root}}) {
      BASALT_ASSIGN_OR_RETURN(auto v, GetSize(*t, item.key, "partitions.", source));
      if (v) *item.out = *v;
    }
  }
  if (const toml::table* t = SubTable(root, "input")) {
    BASALT_RETURN_IF_ERROR(CheckKeys(*t, {"max_size"}, "input.", source));
    BASALT_ASSIGN_OR_RETURN(def.max_input_size, GetSize(*t, "max_size", "input.", source));
  }
  if (const toml::table* t = SubTable(root, "usr")) {
    BASALT_RETURN_IF_ERROR(CheckKeys(*t, {"filesystem", "compression"}, "usr.", source));
    BASALT_ASSIGN_OR_RETURN(auto fs, GetString(*t, "filesystem", "usr.", source));
    if (fs && *fs != "erofs") {
      return Failf(ErrorKind::kUnsupported, "{}: usr.filesystem '{}' is not supported (only erofs)",
                   source, *fs);
    }
    BASALT_ASSIGN_OR_RETURN(auto comp, GetString(*t, "compression", "usr.", source));
    if (comp) {
      if (*comp == "none")
        def.usr_compression = UsrCompression::kNone;
      else if (*comp == "lz4hc")
        def.usr_compression = UsrCompression::kLz4hc;
      else
        return Failf(ErrorKind::kInvalidInput, "{}: usr.compression '{}' must be none or lz4hc",
                     source, *comp);
    }
  }
  if (const toml::table* t = SubTable(root, "kernel")) {
    BASALT_RETURN_IF_ERROR(CheckKeys(*t, {"cmdline"}, "kernel.", source));
    BASALT_ASSIGN_OR_RETURN(auto cmdline, GetString(*t, "cmdline", "kernel.", source));
    if (cmdline) {
      BASALT_RETURN_IF_ERROR(
          CheckImageKernelArgs(*cmdline, fmt::format("{}: kernel.cmdline", source)));
      def.kernel_cmdline = *cmdline;
    }
  }
  if (const toml::table* t = SubTable(root, "boot")) {
    BASALT_RETURN_IF_ERROR(CheckKeys(*t, {"backend"}, "boot.", source));
    BASALT_ASSIGN_OR_RETURN(auto backend, GetString(*t, "backend", "boot.", source));
    if (backend) def.boot_backend = *backend;
  }
  if (const toml::table* t = SubTable(root, "root")) {
    BASALT_RETURN_IF_ERROR(CheckKeys(*t, {"seed"}, "root.", source));
    if (const toml::node* n = t->get("seed")) {
      const toml::array* arr = n->as_array();
      if (arr == nullptr) {
        return Failf(ErrorKind::kInvalidInput, "{}: 'root.seed' must be an array of strings",
                     source);
      }
      def.root_seed.clear();
      for (const toml::node& e : *arr) {
        if (!e.is_string()) {
          return Failf(ErrorKind::kInvalidInput, "{}: 'root.seed' must be an array of strings",
                       source);
        }
        std::string name = *e.value<std::string>();
        while (!name.empty() && name.front() == '/')
          name.erase(name.begin());
        while (!name.empty() && name.back() == '/')
          name.pop_back();
        if (name.empty() || name.find('/') != std::string::npos || name == "." || name == ".." ||
            name == "usr" || name == "boot") {
          return Failf(ErrorKind::kInvalidInput,
                       "{}: 'root.seed' entry '{}' must be one top-level directory other than usr "
                       "and boot",
                       source, *e.value<std::string>());
        }
        def.root_seed.push_back(name);
      }
    }
  }
  if (const toml::table* t = SubTable(root, "signing")) {
    BASALT_RETURN_IF_ERROR(CheckKeys(*t, {"key"}, "signing.", source));
    BASALT_ASSIGN_OR_RETURN(auto key, GetString(*t, "key", "signing.", source));
    if (key) def.signing_key = *key;
  }
  if (boot::FindBootBackend(def.boot_backend) == nullptr) {
    return Failf(ErrorKind::kInvalidInput, "{}: boot.backend '{}' must be {}", source,
                 def.boot_backend, boot::JoinBootBackendNames(" or "));
  }
  return def;
}

Result<ImageDefinition> LoadDefinition(const std::string& path) {
  BASALT_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  return ParseDefinition(text, path);
}

}  // namespace basalt::image
