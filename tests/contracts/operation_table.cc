// A payload.proto operation type without its row in payload/operations.h fails the build. The
// check run here is the library's own (CheckOneRowPerType, which payload/operations.h applies
// to its tables and the consumer to its executors), on a copy of the real table; broken, the
// copy lacks its last row, as the table would right after a new type is added to the proto.
#include "payload/operations.h"

namespace basalt::payload {
namespace {

#ifdef BASALT_CONTRACT_BROKEN
constexpr size_t kRows = kOperations.size() - 1;
#else
constexpr size_t kRows = kOperations.size();
#endif

constexpr std::array<OperationRule, kRows> Rows() {
  std::array<OperationRule, kRows> rows{};
  for (size_t i = 0; i < kRows; ++i)
    rows[i] = kOperations[i];
  return rows;
}

static_assert(CheckOneRowPerType(Rows(), Operation::Type_ARRAYSIZE));

}  // namespace
}  // namespace basalt::payload
