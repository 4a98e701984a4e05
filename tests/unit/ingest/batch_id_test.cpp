#include <gtest/gtest.h>

#include "ingest/ingestor.hpp"

namespace hub2kusto::ingest {
namespace {

TEST(BatchId, IsWrittenAsPartitionFirstLastAndReadBack) {
  const BatchId id{PartitionId("12"), SequenceNumber(100), SequenceNumber(164)};
  EXPECT_EQ(id.text(), "12-100-164");
  EXPECT_EQ(BatchId::parse(id.text()), id);
}

TEST(BatchId, APartitionIdWithADashIsReadFromTheRight) {
  const BatchId id{PartitionId("p-1"), SequenceNumber(0), SequenceNumber(0)};
  EXPECT_EQ(BatchId::parse(id.text()), id);
}

TEST(BatchId, OtherTextIsNoBatchId) {
  for (const char* text : {"", "7", "7-8", "-1-2", "a-b-c", "0-9-3", "0-1-2x"}) {
    EXPECT_FALSE(BatchId::parse(text)) << text;
  }
}

} // namespace
} // namespace hub2kusto::ingest
