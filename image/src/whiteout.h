// The path rules for writing an untrusted archive into a staged tree, and OCI whiteouts.
// Everything goes through a RootDir with Follow::kNever: a symlink planted by an earlier entry
// or layer is refused, never followed (docs/hostile-inputs.md, "Staging the input").
#pragma once

#include <set>
#include <string>
#include <string_view>

#include "common/error.h"
#include "common/root_dir.h"

namespace basalt::image {

// Every existing component of `dir` (a clean relative path; "" is the root) must be a real
// directory; absent components are fine (they are created as directories). Refusals name
// `what` (the input), `role` and `rel` (the entry) and the offending component.
[[nodiscard]] Status CheckRealDirs(const RootDir& root, const std::string& dir,
                                   std::string_view what, const std::string& rel,
                                   std::string_view role);

// Applies the OCI whiteout entry `rel` (a clean relative path whose last component starts with
// ".wh."): ".wh.NAME" removes NAME, ".wh..wh..opq" removes every child of its directory that the
// current layer did not write (`written`). Names "", "." and ".." and a parent path holding a
// symlink or a non-directory are refused; a whiteout of something absent does nothing.
[[nodiscard]] Status ApplyWhiteout(const RootDir& root, const std::string& rel,
                                   std::string_view what, const std::set<std::string>& written);

// "a/b/c" -> "a/b"; "c" -> "".
std::string ParentPath(const std::string& rel);
// "a/b/c" -> "c".
std::string BaseName(const std::string& rel);

}  // namespace basalt::image
