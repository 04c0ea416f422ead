// The image's software bill of materials: packages from the tree's dpkg database as an SPDX 2.3
// JSON document, so scanners can tell which image carries a vulnerable package.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace basalt::image {

struct DpkgPackage {
  std::string name;
  std::string version;
  std::string architecture;
  std::string source;  // source package name (without version), empty when the same as name
};

// Parses /var/lib/dpkg/status (deb822 paragraphs). Only installed packages ("Status: ...
// installed") are returned, sorted by name and architecture. Malformed input is an error naming the
// line.
Result<std::vector<DpkgPackage>> ParseDpkgStatus(std::string_view text);

// A setuid or setgid regular file of the image (/usr or ROOT): each becomes a finding in the SBOM,
// so a reviewer sees every privilege the image grants without unpacking it.
struct SetidFile {
  std::string path;   // "/usr/bin/su"
  uint32_t mode = 0;  // permission bits incl. setuid/setgid/sticky
  uint32_t uid = 0;
  uint32_t gid = 0;
  bool operator==(const SetidFile&) const = default;
};

// The setuid/setgid regular files under tree/usr and tree/<each ROOT seed entry>, sorted by path.
// Walked through RootDir; links are never followed.
Result<std::vector<SetidFile>> FindSetidFiles(const std::string& tree,
                                              const std::vector<std::string>& root_seed);

struct SbomInputs {
  std::string os_name;
  std::string version;
  std::string input_digest;  // "sha256:..."
  int64_t created = 0;       // SOURCE_DATE_EPOCH
  std::string builder_version;
  // Absent (nullopt) when the tree has no package database: the document then says so.
  std::optional<std::vector<DpkgPackage>> packages;
  // Recorded as SPDX annotations (annotationType REVIEW) of the image package, one per file.
  std::vector<SetidFile> setid_files;
};

nlohmann::json MakeSpdx(const SbomInputs& inputs);

}  // namespace basalt::image
