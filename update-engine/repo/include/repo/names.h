// Versions, channel names and repository-relative paths. Versions and channel names become
// directory and file names in the repository, so they are restricted to a safe alphabet.
#pragma once

#include <string>
#include <string_view>

#include "common/error.h"

namespace basalt::repo {

// 1-64 characters of [A-Za-z0-9._+-], starting with an alphanumeric.
Status CheckVersion(std::string_view version, std::string_view field);
// 1-64 characters of [a-z0-9._-], starting with a letter or digit.
Status CheckChannelName(std::string_view name, std::string_view field);
// A relative path inside the repository: no scheme, no leading '/', no '.' or '..' segments,
// no query, fragment, backslash or control characters.
Status CheckRelativeUrl(std::string_view url, std::string_view field);

// Orders versions like semantic versions: dot-separated components compare numerically when
// both are numbers (so 10 > 9), textually otherwise; missing components count as 0; a
// pre-release ("1.2.0-rc1") sorts before its release; build metadata ("+abc") is ignored.
// Returns <0, 0 or >0.
int CompareVersions(std::string_view a, std::string_view b);

}  // namespace basalt::repo
