#include <fmt/format.h>

#include "image/input.h"

namespace basalt::image {

Result<StagedInput> StageTarball(const std::string& input, const std::string&) {
  return Failf(ErrorKind::kUnsupported, "tarball input ({}) is not implemented yet", input);
}

Result<StagedInput> StageOci(const std::string& input, const std::string&) {
  return Failf(ErrorKind::kUnsupported, "OCI input ({}) is not implemented yet", input);
}

}  // namespace basalt::image
