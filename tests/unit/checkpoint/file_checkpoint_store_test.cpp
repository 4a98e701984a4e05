#include "checkpoint/file_checkpoint_store.hpp"

#include <unistd.h>

#include <fstream>

#include <gtest/gtest.h>

namespace hub2kusto::checkpoint {
namespace {

class FileStore : public ::testing::Test {
protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("hub2kusto-checkpoints-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  Scope scope_{"MyNs.servicebus.windows.net", EventHubName("Telemetry"), ConsumerGroup("$Default")};
  std::filesystem::path dir_;
};

TEST_F(FileStore, PrepareCreatesTheDirectoryOrSaysWhyItCannot) {
  FileCheckpointStore store(dir_, scope_);
  ASSERT_TRUE(store.prepare().ok());
  EXPECT_TRUE(std::filesystem::is_directory(store.path_of(PartitionId("0")).parent_path()));
  EXPECT_TRUE(std::filesystem::is_empty(store.path_of(PartitionId("0")).parent_path()));
  // Below a regular file nothing can be created, not even by root.
  std::ofstream(dir_ / "a-file") << "x";
  FileCheckpointStore blocked(dir_ / "a-file", scope_);
  const auto r = blocked.prepare();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("cannot create the checkpoint directory"), std::string::npos)
      << r.error().message;
}

TEST_F(FileStore, APartitionWithoutACheckpointHasNone) {
  FileCheckpointStore store(dir_, scope_);
  auto loaded = store.load(PartitionId("0"));
  ASSERT_TRUE(loaded.ok());
  EXPECT_FALSE(loaded->has_value());
}

TEST_F(FileStore, SavedCheckpointsSurviveANewStoreInTheSdkLayout) {
  {
    FileCheckpointStore store(dir_, scope_);
    ASSERT_TRUE(store.save(PartitionId("3"), {SequenceNumber(41), Offset("8192")}).ok());
    ASSERT_TRUE(store.save(PartitionId("3"), {SequenceNumber(42), Offset("8400")}).ok());
  }
  FileCheckpointStore store(dir_, scope_);
  const auto loaded = store.load(PartitionId("3"));
  ASSERT_TRUE(loaded.ok() && loaded->has_value());
  EXPECT_EQ((*loaded)->sequence_number.value(), 42);
  EXPECT_EQ((*loaded)->offset.value(), "8400");
  // <dir>/<namespace>/<hub>/<consumer group>/checkpoint/<partition>, lower-cased
  // (docs/protocols.md, "Checkpoint blobs").
  EXPECT_TRUE(std::filesystem::exists(dir_ / "myns.servicebus.windows.net" / "telemetry" /
                                      "$default" / "checkpoint" / "3"));
  EXPECT_FALSE(std::filesystem::exists(store.path_of(PartitionId("3")).string() + ".tmp"));
}

TEST_F(FileStore, AnUnreadableCheckpointIsAClearErrorNotAFreshStart) {
  FileCheckpointStore store(dir_, scope_);
  ASSERT_TRUE(store.save(PartitionId("1"), {SequenceNumber(1), Offset("1")}).ok());
  std::ofstream(store.path_of(PartitionId("1"))) << "{not json";
  const auto loaded = store.load(PartitionId("1"));
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.error().message.find(store.path_of(PartitionId("1")).string()),
            std::string::npos);
}

} // namespace
} // namespace hub2kusto::checkpoint
