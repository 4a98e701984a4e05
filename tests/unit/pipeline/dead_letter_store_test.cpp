#include "pipeline/dead_letter_store.hpp"

#include <unistd.h>

#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace hub2kusto::pipeline {
namespace {

std::vector<nlohmann::json> lines(const std::filesystem::path& file) {
  std::vector<nlohmann::json> out;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    out.push_back(nlohmann::json::parse(line));
  }
  return out;
}

TEST(FileDeadLetterStore, AppendsOneJsonLinePerRecordWithItsPositionAndReason) {
  const auto file = std::filesystem::temp_directory_path() /
                    ("hub2kusto-dead-letter-" + std::to_string(::getpid())) / "dead.jsonl";
  std::filesystem::remove(file);
  FileDeadLetterStore store(file);
  DeadLetter a;
  a.stage = "mapping";
  a.reason = "invalid JSON at byte 3";
  a.partition = PartitionId("2");
  a.sequence_number = SequenceNumber(41);
  a.offset = Offset("4096");
  a.enqueued_time = "2026-11-24T12:00:00.0000000Z";
  a.table = "T";
  a.body = "{bad";
  DeadLetter b = a;
  b.sequence_number = SequenceNumber(42);
  b.body = std::string("\xff\xfe binary", 9);
  ASSERT_TRUE(store.write({a}).ok());
  ASSERT_TRUE(store.write({b}).ok());
  const auto got = lines(file);
  ASSERT_EQ(got.size(), 2U);
  EXPECT_EQ(got[0]["reason"], "invalid JSON at byte 3");
  EXPECT_EQ(got[0]["partition"], "2");
  EXPECT_EQ(got[0]["sequence_number"], 41);
  EXPECT_EQ(got[0]["body"], "{bad");
  EXPECT_FALSE(got[0].contains("body_encoding"));
  EXPECT_EQ(got[1]["body_encoding"], "base64");
  EXPECT_EQ(got[1]["body"], "//4gYmluYXJ5");
  std::filesystem::remove_all(file.parent_path());
}

TEST(FileDeadLetterStore, AnUnwritablePlaceIsAClearError) {
  FileDeadLetterStore store("/proc/hub2kusto-cannot-write-here/dead.jsonl");
  DeadLetter a;
  const auto r = store.write({a});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("/proc/hub2kusto-cannot-write-here/dead.jsonl"),
            std::string::npos);
}

} // namespace
} // namespace hub2kusto::pipeline
