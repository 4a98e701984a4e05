#include "app/config_reader.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace hub2kusto::app {
namespace {

using nlohmann::json;

std::string temp_file(const std::string& content) {
  static int counter = 0;
  const auto path =
      std::filesystem::temp_directory_path() /
      ("hub2kusto_reader_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
  std::ofstream(path) << content;
  return path.string();
}

TEST(ConfigReader, EnvironmentNameFollowsThePath) {
  const json root = json::parse(R"({"connections":[{"source":{"consumer_group":"file"}}]})");
  ConfigReader reader(root, {{"HUB2KUSTO_CONNECTIONS_0_SOURCE_CONSUMER_GROUP", "env"}});
  Section top(reader);
  Section source = top.element("connections", 0).section("source");
  EXPECT_EQ(source.string("consumer_group"), "env"); // the environment wins
  EXPECT_EQ(source.path(), "connections[0].source");
  reader.finish();
  EXPECT_TRUE(reader.problems().empty());
}

TEST(ConfigReader, ArraySizeCountsEnvironmentIndices) {
  const json root = json::parse(R"({"connections":[{}]})");
  ConfigReader reader(root, {{"HUB2KUSTO_CONNECTIONS_2_NAME", "third"}});
  Section top(reader);
  EXPECT_EQ(top.array_size("connections"), 3u);
  EXPECT_EQ(top.element("connections", 2).string("name"), "third");
}

TEST(ConfigReader, SecretsComeFromFilesWithoutTheTrailingNewline) {
  const std::string path = temp_file("s3cr3t-value\n");
  const json root = json{{"key_file", path}};
  ConfigReader reader(root, {});
  Section top(reader);
  EXPECT_EQ(top.string("key", Sensitivity::secret), "s3cr3t-value");
  top.finish();
  EXPECT_TRUE(reader.problems().empty());
  ASSERT_EQ(reader.secret_origins().size(), 1u);
  EXPECT_EQ(reader.secret_origins()[0], "key <- file " + path);
  std::filesystem::remove(path);
}

TEST(ConfigReader, SecretFileFromEnvironment) {
  const std::string path = temp_file("from-env-file");
  const json root = json::object();
  ConfigReader reader(root, {{"HUB2KUSTO_KEY_FILE", path}});
  Section top(reader);
  EXPECT_EQ(top.string("key", Sensitivity::secret), "from-env-file");
  reader.finish();
  EXPECT_TRUE(reader.problems().empty());
  std::filesystem::remove(path);
}

TEST(ConfigReader, PlainSettingsHaveNoFileVariant) {
  const json root = json{{"table_file", "/etc/passwd"}};
  ConfigReader reader(root, {{"HUB2KUSTO_TABLE_FILE", "/etc/passwd"}});
  Section top(reader);
  EXPECT_FALSE(top.string("table"));
  top.finish();
  reader.finish();
  ASSERT_EQ(reader.problems().size(), 2u);
  EXPECT_EQ(reader.problems()[0],
            (ConfigProblem{"table_file",
                           "only secrets can be read from a file, and 'table' is not one"}));
  EXPECT_EQ(reader.problems()[1],
            (ConfigProblem{"HUB2KUSTO_TABLE_FILE",
                           "only secrets can be read from a file, and this setting is not one"}));
}

TEST(ConfigReader, ValueAndFileTogetherIsAProblem) {
  const json root = json{{"key", "a"}, {"key_file", "/x"}};
  ConfigReader reader(root, {});
  Section top(reader);
  EXPECT_FALSE(top.string("key", Sensitivity::secret));
  ASSERT_EQ(reader.problems().size(), 1u);
  EXPECT_EQ(reader.problems()[0].message, "both 'key' and 'key_file' are set; set one");
}

TEST(ConfigReader, UnreadableSecretFileIsNamed) {
  const json root = json{{"key_file", "/nonexistent/secret"}};
  ConfigReader reader(root, {});
  Section top(reader);
  EXPECT_FALSE(top.string("key", Sensitivity::secret));
  ASSERT_EQ(reader.problems().size(), 1u);
  EXPECT_EQ(reader.problems()[0].message,
            "cannot read the file '/nonexistent/secret' (given by 'key_file')");
}

TEST(ConfigReader, TypedValuesAndTheirErrors) {
  const json root = json::parse(
      R"({"n": "12", "b": 1, "d": "250ms", "bad_d": "5 minutes", "size": "4MiB", "big": 70000,
          "list": ["a", "b"]})");
  ConfigReader reader(root, {{"HUB2KUSTO_ENV_INT", "42"}, {"HUB2KUSTO_ENV_LIST", "x, y,,z"}});
  Section top(reader);
  EXPECT_FALSE(top.integer("n", 0, 100));
  EXPECT_FALSE(top.boolean("b"));
  EXPECT_EQ(top.duration("d"), std::chrono::milliseconds(250));
  EXPECT_FALSE(top.duration("bad_d"));
  EXPECT_EQ(top.byte_size("size"), 4u << 20);
  EXPECT_FALSE(top.integer("big", 0, 65535));
  EXPECT_EQ(top.integer("env_int", 0, 100), 42);
  EXPECT_EQ(top.string_list("list"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(top.string_list("env_list"), (std::vector<std::string>{"x", "y", "z"}));
  const std::vector<ConfigProblem> expected = {
      {"n", "expected an integer, got a string"},
      {"b", "expected true or false, got an integer"},
      {"bad_d", "'5 minutes' is not a duration: use a whole number with ms, s, m or h, for "
                "example \"500ms\" or \"15m\""},
      {"big", "70000 is out of range: must be from 0 to 65535"},
  };
  EXPECT_EQ(reader.problems(), expected);
}

TEST(ConfigReader, AByteSizeOutOfItsRangeNamesTheRangeInBinaryUnits) {
  const json root =
      json::parse(R"({"small": "32KiB", "large": "2GiB", "odd": 500, "fits": "1MiB"})");
  ConfigReader reader(root, {});
  Section top(reader);
  EXPECT_FALSE(top.byte_size("small", 64ULL << 10, 4ULL << 30));
  EXPECT_FALSE(top.byte_size("large", 16ULL << 20, 1ULL << 30));
  EXPECT_FALSE(top.byte_size("odd", 1000, 1ULL << 40));
  EXPECT_EQ(top.byte_size("fits", 1024, 1ULL << 20), 1U << 20);
  const std::vector<ConfigProblem> expected = {
      {"small", "must be from 64KiB to 4GiB"},
      {"large", "must be from 16MiB to 1GiB"},
      {"odd", "must be from 1000 bytes to 1TiB"},
  };
  EXPECT_EQ(reader.problems(), expected);
}

TEST(ConfigReader, UnknownKeysAreReportedWithASuggestion) {
  const json root = json::parse(R"({"consumer_grop": "x", "zzz": 1})");
  ConfigReader reader(root, {});
  Section top(reader);
  (void)top.string("consumer_group");
  top.finish();
  const std::vector<ConfigProblem> expected = {
      {"consumer_grop", "unknown setting (did you mean 'consumer_group'?)"},
      {"zzz", "unknown setting"},
  };
  EXPECT_EQ(reader.problems(), expected);
}

} // namespace
} // namespace hub2kusto::app
