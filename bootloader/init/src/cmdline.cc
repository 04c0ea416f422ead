#include "cmdline.h"

#include <cctype>
#include <charconv>
#include <map>

namespace basalt::init {

std::vector<std::string> SplitCmdline(std::string_view cmdline) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  bool quoted = false;
  for (char c : cmdline) {
    if (c == '"') {
      quoted = !quoted;
      in_word = true;
      continue;
    }
    if (!quoted && std::isspace(static_cast<unsigned char>(c))) {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
      continue;
    }
    word += c;
    in_word = true;
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

namespace {

// GUIDs are case-insensitive but libblkid reports and compares them in lower case.
std::string NormalizeDeviceSpec(std::string value) {
  for (std::string_view prefix : {"PARTUUID=", "UUID="}) {
    if (value.starts_with(prefix)) {
      for (size_t i = prefix.size(); i < value.size(); i++) {
        value[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(value[i])));
      }
    }
  }
  return value;
}

Status CheckDeviceSpec(std::string_view key, std::string_view value) {
  for (std::string_view prefix : {"PARTUUID=", "PARTLABEL=", "UUID=", "LABEL=", "/dev/"}) {
    if (value.starts_with(prefix) && value.size() > prefix.size()) return {};
  }
  return Failf(ErrorKind::kInvalidInput,
               "{}={}: expected PARTUUID=, PARTLABEL=, UUID=, LABEL= or a /dev path", key, value);
}

// The one name of each of basalt-init's own keys, whatever its spelling; "" for keys the kernel
// and other programs own (root=, rootfstype=, and everything not basalt.*), which may repeat.
std::string_view CanonicalKey(std::string_view key) {
  if (key == "basalt.usr" || key == "mount.usr") return "basalt.usr";
  if (key == "basalt.usrhash" || key == "usrhash") return "basalt.usrhash";
  if (key == "basalt.usrfstype" || key == "mount.usrfstype") return "basalt.usrfstype";
  if (key == "init") return "init";
  if (key.starts_with("basalt.")) return key;
  return "";
}

}  // namespace

Result<InitConfig> ParseInitCmdline(std::string_view cmdline) {
  InitConfig c;
  bool have_usr = false;
  std::map<std::string, std::string, std::less<>> seen;  // canonical key -> spelling used
  for (const std::string& word : SplitCmdline(cmdline)) {
    size_t eq = word.find('=');
    if (eq == std::string::npos) continue;
    std::string key = word.substr(0, eq);
    std::string value = word.substr(eq + 1);
    if (std::string_view canonical = CanonicalKey(key); !canonical.empty()) {
      auto [it, fresh] = seen.emplace(canonical, key);
      if (!fresh) {
        return Failf(ErrorKind::kInvalidInput,
                     "{}= appears twice on the kernel command line (as {}= and {}=): refusing "
                     "to guess which one the boot entry meant",
                     canonical, it->second, key);
      }
    }
    if (key == "basalt.usr" || key == "mount.usr") {
      BASALT_RETURN_IF_ERROR(CheckDeviceSpec(key, value));
      c.usr = NormalizeDeviceSpec(value);
      have_usr = true;
    } else if (key == "basalt.usrhash" || key == "usrhash") {
      if (value.size() < 32 || value.size() % 2 != 0 ||
          value.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
        return Failf(ErrorKind::kInvalidInput, "{}={}: not a hex root hash", key, value);
      }
      for (char& ch : value)
        ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      c.usrhash = value;
    } else if (key == "basalt.usrhashoffset") {
      uint64_t v = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
      if (ec != std::errc() || p != value.data() + value.size() || v % 4096 != 0) {
        return Failf(ErrorKind::kInvalidInput, "{}={}: not a multiple of 4096 bytes", key, value);
      }
      c.usr_hash_offset = v;
    } else if (key == "basalt.usrfstype" || key == "mount.usrfstype") {
      c.usr_fstype = value;
    } else if (key == "basalt.verity") {
      if (value == "restart")
        c.verity = VerityErrorMode::kRestart;
      else if (value == "panic")
        c.verity = VerityErrorMode::kPanic;
      else if (value == "eio")
        c.verity = VerityErrorMode::kEio;
      else {
        return Failf(ErrorKind::kInvalidInput, "basalt.verity={}: expected panic, restart or eio",
                     value);
      }
    } else if (key == "root") {
      BASALT_RETURN_IF_ERROR(CheckDeviceSpec(key, value));
      c.root = NormalizeDeviceSpec(value);
    } else if (key == "rootfstype") {
      c.root_fstype = value;
    } else if (key == "init") {
      if (!value.starts_with("/")) {
        return Failf(ErrorKind::kInvalidInput, "init={}: must be an absolute path", value);
      }
      c.init = value;
    } else if (key == "basalt.emergency") {
      if (value == "shell")
        c.on_failure = FailurePolicy::kShell;
      else if (value == "reboot")
        c.on_failure = FailurePolicy::kReboot;
      else {
        return Failf(ErrorKind::kInvalidInput, "basalt.emergency={}: expected shell or reboot",
                     value);
      }
    } else if (key == "basalt.grow") {
      if (value != "0" && value != "1") {
        return Failf(ErrorKind::kInvalidInput, "basalt.grow={}: expected 0 or 1", value);
      }
      c.grow_root = value == "1";
    } else if (key == "basalt.slot") {
      // Informational (the bootloader's choice, for logs); the partition spec is what counts.
      if (value != "A" && value != "B") {
        return Failf(ErrorKind::kInvalidInput, "basalt.slot={}: expected A or B", value);
      }
    } else if (key.starts_with("basalt.")) {
      return Failf(ErrorKind::kInvalidInput, "unknown option {} on the kernel command line", key);
    }
  }
  if (!have_usr) {
    return Fail(ErrorKind::kInvalidInput,
                "the kernel command line has no basalt.usr= (or mount.usr=): which /usr to boot?");
  }
  if (c.usrhash.empty()) {
    return Fail(ErrorKind::kInvalidInput,
                "the kernel command line has no basalt.usrhash= (or usrhash=): refusing to mount "
                "/usr without dm-verity");
  }
  return c;
}

}  // namespace basalt::init
