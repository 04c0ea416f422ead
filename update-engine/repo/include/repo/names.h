// Versions, channel names and repository-relative paths. Versions and channel names become
// directory and file names in the repository, so they are restricted to a safe alphabet.
#pragma once

#include <string>
#include <string_view>

#include "common/error.h"
#include "common/version.h"

namespace basalt::repo {

// Versions follow the one grammar of common/version.h (also used by image build and pins).
using basalt::CheckVersion;
using basalt::CompareVersions;

// 1-64 characters of [a-z0-9._-], starting with a letter or digit.
Status CheckChannelName(std::string_view name, std::string_view field);
// A relative path inside the repository: no scheme, no leading '/', no '.' or '..' segments,
// no query, fragment, backslash or control characters.
Status CheckRelativeUrl(std::string_view url, std::string_view field);

}  // namespace basalt::repo
