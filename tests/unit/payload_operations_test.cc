// The operations table (payload/operations.h) says what the manifest rules and the applier
// enforce: the values here are the format's (docs/payload-format.md), not copies of the table.
#include <gtest/gtest.h>

#include "payload/format.h"
#include "payload/operations.h"

namespace basalt::payload {
namespace {

Operation Op(Operation::Type type, Operation::ExpandedPatch patch = Operation::ZSTD_PREFIX) {
  Operation op;
  op.set_type(type);
  op.set_expanded_patch(patch);
  return op;
}

TEST(PayloadOperations, MinorVersionsAreTheFormats) {
  EXPECT_EQ(MinorVersionFor(Op(Operation::REPLACE)), 1u);
  EXPECT_EQ(MinorVersionFor(Op(Operation::REPLACE_ZSTD)), 1u);
  EXPECT_EQ(MinorVersionFor(Op(Operation::REPLACE_XZ)), 1u);
  EXPECT_EQ(MinorVersionFor(Op(Operation::ZERO)), 1u);
  EXPECT_EQ(MinorVersionFor(Op(Operation::SOURCE_COPY)), 2u);
  EXPECT_EQ(MinorVersionFor(Op(Operation::SOURCE_ZSTD_PATCH)), 2u);
  EXPECT_EQ(MinorVersionFor(Op(Operation::SOURCE_BSDIFF)), 2u);
  EXPECT_EQ(MinorVersionFor(Op(Operation::SOURCE_LZ4_PATCH)), 3u);
  EXPECT_EQ(MinorVersionFor(Op(Operation::SOURCE_BSDIFF_XZ)), 3u);
  EXPECT_EQ(MinorVersionFor(Op(Operation::SOURCE_GZIP_PATCH)), 4u);
  // The expanded forms patched by BSDIFF_XZ need minor version 4 whatever their type.
  EXPECT_EQ(MinorVersionFor(Op(Operation::SOURCE_LZ4_PATCH, Operation::BSDIFF_XZ)), 4u);
  EXPECT_EQ(MinorVersionFor(Op(Operation::SOURCE_GZIP_PATCH, Operation::BSDIFF_XZ)), 4u);
  // Values outside the enums (an untrusted manifest's) ask for nothing beyond minor 1; the
  // manifest rules refuse them by name.
  EXPECT_EQ(MinorVersionFor(Op(static_cast<Operation::Type>(77))), 1u);
  EXPECT_EQ(MinorVersionFor(Op(Operation::REPLACE, static_cast<Operation::ExpandedPatch>(9))), 1u);
}

TEST(PayloadOperations, NamesAndSourceOperations) {
  EXPECT_EQ(OperationTypeName(Operation::SOURCE_GZIP_PATCH), "SOURCE_GZIP_PATCH");
  EXPECT_EQ(OperationTypeName(static_cast<Operation::Type>(-1)), "UNKNOWN");
  EXPECT_EQ(OperationTypeName(static_cast<Operation::Type>(10)), "UNKNOWN");
  for (const OperationRule& rule : kOperations) {
    // The table's names are protoc's.
    EXPECT_EQ(rule.name, Operation::Type_Name(rule.type));
    EXPECT_EQ(IsSourceOperation(rule.type), rule.name.starts_with("SOURCE_")) << rule.name;
    // Only ZERO and SOURCE_COPY carry no data.
    EXPECT_EQ(rule.has_data, rule.type != Operation::ZERO && rule.type != Operation::SOURCE_COPY)
        << rule.name;
  }
  EXPECT_FALSE(IsSourceOperation(static_cast<Operation::Type>(42)));
}

TEST(PayloadOperations, AllowedAtFollowsTheMinorVersion) {
  EXPECT_FALSE(AllowedAt(Operation::SOURCE_LZ4_PATCH, kMinorDelta));
  EXPECT_TRUE(AllowedAt(Operation::SOURCE_LZ4_PATCH, kMinorDelta3));
  EXPECT_FALSE(AllowedAt(Operation::SOURCE_GZIP_PATCH, kMinorDelta3));
  EXPECT_TRUE(AllowedAt(Operation::SOURCE_GZIP_PATCH, kMinorDelta4));
  EXPECT_FALSE(AllowedAt(Operation::BSDIFF_XZ, kMinorDelta3));
  EXPECT_TRUE(AllowedAt(Operation::BSDIFF_XZ, kMinorDelta4));
  EXPECT_TRUE(AllowedAt(Operation::ZSTD_PREFIX, kMinorFull));
}

}  // namespace
}  // namespace basalt::payload
