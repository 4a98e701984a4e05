#include "pipeline/dead_letter_store.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <fstream>

#include <gtest/gtest.h>

#include "support/recording_metrics.hpp"
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

TEST(FileDeadLetterStore, PrepareFindsAnUnusableDirectoryAtStart) {
  // A path below a regular file cannot be created, even by root.
  const auto dir = std::filesystem::temp_directory_path() /
                   ("hub2kusto-dl-prepare-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "a-file") << "x";
  FileDeadLetterStore bad(dir / "a-file" / "sub" / "dead.jsonl");
  const auto r = bad.prepare();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("cannot create the directory of the dead-letter file"),
            std::string::npos)
      << r.error().message;
  FileDeadLetterStore good(dir / "fine" / "dead.jsonl");
  ASSERT_TRUE(good.prepare().ok());
  EXPECT_TRUE(std::filesystem::exists(dir / "fine" / "dead.jsonl"));
  std::filesystem::remove_all(dir);
}

TEST(FileDeadLetterStore, AWriteThatFailsHalfWayIsCutBackToWholeLines) {
  // RLIMIT_FSIZE makes the kernel refuse a write past a size with EFBIG, as a full disk
  // refuses one with ENOSPC: the first bytes land, the rest do not.
  const auto dir =
      std::filesystem::temp_directory_path() / ("hub2kusto-dl-full-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  FileDeadLetterStore store(dir / "dead.jsonl");
  DeadLetter a;
  a.stage = "mapping";
  a.reason = "bad";
  a.body = "{bad";
  ASSERT_TRUE(store.write({a}).ok());
  const auto whole = std::filesystem::file_size(dir / "dead.jsonl");

  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  const auto previous = std::signal(SIGXFSZ, SIG_IGN);
  rlimit limited = saved;
  limited.rlim_cur = whole + 100;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &limited), 0);
  DeadLetter big = a;
  big.body.assign(4096, 'x');
  const auto r = store.write({big});
  ::setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, previous);

  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("cannot write the dead-letter file"), std::string::npos)
      << r.error().message;
  EXPECT_EQ(std::filesystem::file_size(dir / "dead.jsonl"), whole); // no partial line
  ASSERT_TRUE(store.write({big}).ok()); // and the next write appends whole lines after it
  const auto got = lines(dir / "dead.jsonl");
  ASSERT_EQ(got.size(), 2U);
  EXPECT_EQ(got[1]["body"], std::string(4096, 'x'));
  std::filesystem::remove_all(dir);
}

TEST(DeadLetterRecord, ReadsBackWhatItWroteBinaryBodiesAndRoutesIncluded) {
  DeadLetter a;
  a.stage = "ingest";
  a.reason = "BadRequest_NoRecordsOrWrongFormat: bad";
  a.error_code = "BadRequest_NoRecordsOrWrongFormat";
  a.partition = PartitionId("3");
  a.sequence_number = SequenceNumber(77);
  a.offset = Offset("8192");
  a.enqueued_time = "2026-11-24T12:00:00.0000000Z";
  a.database = "db";
  a.table = "Alerts";
  a.format = "csv";
  a.mapping = "alerts_csv";
  a.batch_id = "3-70-80";
  a.routed = true;
  a.body = std::string("\x1f\x8b\x08\x00 gzip", 9);
  const std::string text = to_json_lines({a});
  ASSERT_EQ(text.back(), '\n');
  auto back = from_json_line(std::string_view(text).substr(0, text.size() - 1));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->stage, a.stage);
  EXPECT_EQ(back->reason, a.reason);
  EXPECT_EQ(back->error_code, a.error_code);
  EXPECT_EQ(back->partition, a.partition);
  EXPECT_EQ(back->sequence_number, a.sequence_number);
  EXPECT_EQ(back->offset, a.offset);
  EXPECT_EQ(back->enqueued_time, a.enqueued_time);
  EXPECT_EQ(back->database, a.database);
  EXPECT_EQ(back->table, a.table);
  EXPECT_EQ(back->format, a.format);
  EXPECT_EQ(back->mapping, a.mapping);
  EXPECT_EQ(back->batch_id, a.batch_id);
  EXPECT_TRUE(back->routed);
  EXPECT_EQ(back->body, a.body); // base64 in the file, the bytes again here
}

TEST(DeadLetterCounts, CountsByStageAndErrorCode) {
  DeadLetter mapping;
  mapping.stage = "mapping";
  DeadLetter rejected;
  rejected.stage = "ingest";
  rejected.error_code = "BadRequest_NoRecordsOrWrongFormat";
  DeadLetterCounts counts;
  counts.add({mapping, rejected, rejected});
  counts.add({rejected});
  fakes::RecordingMetrics out;
  counts.describe(out, {{"partition", "1"}}, "d_total", "D.");
  EXPECT_EQ(out.samples,
            (std::map<std::string, double>{{"d_total{partition=1,stage=ingest,error_code="
                                            "BadRequest_NoRecordsOrWrongFormat}",
                                            3},
                                           {"d_total{partition=1,stage=mapping,error_code=}", 1}}));
}

TEST(DeadLetterRecord, ALineThatIsNotARecordSaysWhy) {
  EXPECT_EQ(from_json_line("not json").error().message, "not a JSON object");
  EXPECT_EQ(from_json_line(R"({"stage":"ingest"})").error().message,
            "\"stage\" and \"partition\" are required");
  EXPECT_NE(from_json_line(R"({"stage":"ingest","partition":"0","sequence_number":"x"})")
                .error()
                .message.find("wrong type"),
            std::string::npos);
  EXPECT_EQ(
      from_json_line(R"({"stage":"ingest","partition":"0","body":"!!","body_encoding":"base64"})")
          .error()
          .message,
      "\"body\" is not valid base64");
}

} // namespace
} // namespace hub2kusto::pipeline
