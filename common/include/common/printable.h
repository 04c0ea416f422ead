// Untrusted text (a path from a tarball, a name from a tree) as it may appear inside one line of
// an error message or log: control bytes, backslashes and invalid UTF-8 become \xNN escapes, and
// very long text is cut in the middle, so a hostile name can neither forge a second line nor
// hide the rule that was broken.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace basalt {

std::string Printable(std::string_view text, size_t max_bytes = 512);

}  // namespace basalt
