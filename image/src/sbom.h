// The image's software bill of materials: packages from the tree's dpkg database as an SPDX 2.3
// JSON document, so scanners can tell which image carries a vulnerable package.
#pragma once

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

struct SbomInputs {
  std::string os_name;
  std::string version;
  std::string input_digest;  // "sha256:..."
  int64_t created = 0;       // SOURCE_DATE_EPOCH
  std::string builder_version;
  // Absent (nullopt) when the tree has no package database: the document then says so.
  std::optional<std::vector<DpkgPackage>> packages;
};

nlohmann::json MakeSpdx(const SbomInputs& inputs);

}  // namespace basalt::image
