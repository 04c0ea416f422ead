// Dropping a Status on the floor does not compile (common/error.h's [[nodiscard]] Result).
#include "common/error.h"

namespace {

basalt::Status Work() {
  return basalt::Fail(basalt::ErrorKind::kIo, "no disk");
}

}  // namespace

bool ContractIgnoredStatus() {
#ifdef BASALT_CONTRACT_BROKEN
  Work();
  return true;
#else
  return Work().has_value();
#endif
}
