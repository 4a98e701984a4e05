#include "pipeline/table_size_limits.hpp"

#include <gtest/gtest.h>

namespace hub2kusto::pipeline {
namespace {

using namespace std::chrono_literals;

TEST(TableSizeLimits, ALimitHoldsForItsTableUntilItsTimeThenTheConfiguredSizeComesBack) {
  TableSizeLimits limits;
  const std::chrono::steady_clock::time_point t0{};
  const DatabaseName db("db");
  EXPECT_EQ(limits.max_bytes(db, TableName("T"), 1'000, t0), 1'000U);
  limits.limit(TableSizeLimits::key(db, TableName("T")), 400, t0 + 10s, t0);
  EXPECT_EQ(limits.max_bytes(db, TableName("T"), 1'000, t0 + 9s), 400U);
  EXPECT_EQ(limits.max_bytes(db, TableName("U"), 1'000, t0 + 9s), 1'000U); // another table
  EXPECT_EQ(limits.max_bytes(db, TableName("T"), 300, t0 + 9s), 300U); // never above the setting
  EXPECT_EQ(limits.max_bytes(db, TableName("T"), 1'000, t0 + 10s), 1'000U);
}

TEST(TableSizeLimits, ALargerLimitWhileOneHoldsKeepsTheSmallerAndExtendsIt) {
  TableSizeLimits limits;
  const std::chrono::steady_clock::time_point t0{};
  const auto key = TableSizeLimits::key(DatabaseName("db"), TableName("T"));
  EXPECT_EQ(key, "db.T");
  limits.limit(key, 400, t0 + 10s, t0);
  limits.limit(key, 800, t0 + 20s, t0 + 5s);
  EXPECT_EQ(limits.max_bytes(DatabaseName("db"), TableName("T"), 1'000, t0 + 15s), 400U);
  limits.limit(key, 800, t0 + 40s, t0 + 30s); // the last one ended: the new size holds
  EXPECT_EQ(limits.max_bytes(DatabaseName("db"), TableName("T"), 1'000, t0 + 31s), 800U);
}

} // namespace
} // namespace hub2kusto::pipeline
