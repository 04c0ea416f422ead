#include "payload/operations.h"

#include <algorithm>

namespace basalt::payload {

uint32_t MinorVersionFor(const Operation& op) {
  const OperationRule* rule = FindOperationRule(op.type());
  uint32_t minor = rule ? rule->min_minor : kMinorFull;
  if (const ExpandedPatchRule* patch = FindExpandedPatchRule(op.expanded_patch())) {
    minor = std::max(minor, patch->min_minor);
  }
  return minor;
}

}  // namespace basalt::payload
