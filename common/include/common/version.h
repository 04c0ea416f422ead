// The version grammar every part agrees on (image build, release, channel, host pins):
//
//   version    = core [ "-" prerelease ] [ "+" build ]      (at most 64 characters)
//   core       = number *( "." number )                    1 to 8 numbers, each 1-18 digits
//   prerelease = identifier *( "." identifier )            identifier = 1*[0-9A-Za-z-]
//   build      = identifier *( "." identifier )
//
// That is semver's shape with any number of core components ("4081.2.0", "2.0", "7"), so
// Flatcar-, date- and semver-style versions all fit. A version must start with a digit:
// "v1.2.0" or "latest" would otherwise be compared as text and sort above every number, and a
// host would see them as newer than anything released after them.
#pragma once

#include <string_view>

#include "common/error.h"

namespace basalt {

// The version of an image built without one (neither --version nor `version` in its
// definition): fine for tests, refused by `basalt release publish`.
inline constexpr char kUnversionedImage[] = "0.0.0";

// An error (kInvalidInput) naming `field` and the rule broken.
[[nodiscard]] Status CheckVersion(std::string_view version, std::string_view field);

// <0, 0 or >0. Numbers compare numerically ("1.10" > "1.9", leading zeros ignored); a missing
// core component counts as 0 ("1.2" == "1.2.0"); a prerelease sorts below its release and
// prereleases compare identifier by identifier as in semver; build metadata is ignored.
int CompareVersions(std::string_view a, std::string_view b);

}  // namespace basalt
