#include "common/logging.hpp"

#include <cstdio>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace hub2kusto {
namespace {

// Runs `body` with logging captured into a temporary file and returns what was written.
template <typename F>
std::string capture(spdlog::level::level_enum level, LogFormat format, F body) {
  std::FILE* file = std::tmpfile();
  configure_logging(level, format, file);
  body();
  logger("test")->flush();
  std::fflush(file);
  std::rewind(file);
  std::string out;
  char buffer[4096];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, file)) > 0) {
    out.append(buffer, n);
  }
  std::fclose(file);
  configure_logging(spdlog::level::info, LogFormat::text, stderr);
  return out;
}

TEST(Logging, JsonLinesCarryLevelLoggerAndMessage) {
  const std::string out = capture(spdlog::level::info, LogFormat::json,
                                  [] { logger("test")->info("partition {} attached", 3); });
  const auto line = nlohmann::json::parse(out.substr(0, out.find('\n')));
  EXPECT_EQ(line.at("level"), "info");
  EXPECT_EQ(line.at("logger"), "test");
  EXPECT_EQ(line.at("msg"), "partition 3 attached");
  EXPECT_EQ(line.at("ts").get<std::string>().back(), 'Z');
}

TEST(Logging, JsonLinesCarryTheFieldsOfTheScopesAroundThemNestedAndRedacted) {
  const std::string out = capture(spdlog::level::info, LogFormat::json, [] {
    const LogFields connection{{"connection", "telemetry"}, {"partition", "0"}};
    {
      const LogFields batch{
          {"partition", "3"}, {"batch_id", "3-10-19"}, {"error_code", "SharedAccessKey=c2VjcmV0"}};
      logger("test")->error("batch rejected");
    }
    logger("test")->info("after the batch");
  });
  std::istringstream lines(out);
  std::string first;
  std::string second;
  std::getline(lines, first);
  std::getline(lines, second);
  const auto inner = nlohmann::json::parse(first);
  EXPECT_EQ(inner.at("msg"), "batch rejected");
  EXPECT_EQ(inner.at("connection"), "telemetry");
  EXPECT_EQ(inner.at("partition"), "3"); // the inner scope's
  EXPECT_EQ(inner.at("batch_id"), "3-10-19");
  EXPECT_EQ(inner.at("error_code").get<std::string>().find("c2VjcmV0"), std::string::npos)
      << inner.dump();
  const auto outer = nlohmann::json::parse(second);
  EXPECT_EQ(outer.at("partition"), "0");
  EXPECT_FALSE(outer.contains("batch_id")) << outer.dump();
  const std::string text = capture(spdlog::level::info, LogFormat::text, [] {
    const LogFields fields{{"connection", "telemetry"}};
    logger("test")->info("plain");
  });
  EXPECT_EQ(text.find("telemetry"), std::string::npos) << text;
  const std::string after =
      capture(spdlog::level::info, LogFormat::json, [] { logger("test")->info("no scope"); });
  EXPECT_FALSE(nlohmann::json::parse(after.substr(0, after.find('\n'))).contains("connection"));
}

TEST(Logging, LevelFiltersMessages) {
  const std::string out = capture(spdlog::level::warn, LogFormat::text, [] {
    logger("test")->info("hidden");
    logger("test")->warn("shown");
  });
  EXPECT_EQ(out.find("hidden"), std::string::npos);
  EXPECT_NE(out.find("shown"), std::string::npos);
}

TEST(Logging, EveryMessageIsRedacted) {
  const std::string out = capture(spdlog::level::info, LogFormat::text, [] {
    logger("test")->error("connect failed for Endpoint=sb://h/;SharedAccessKeyName=r;"
                          "SharedAccessKey=S3cr3tKeyValueZZZ=");
  });
  EXPECT_EQ(out.find("S3cr3t"), std::string::npos);
  EXPECT_NE(out.find("SharedAccessKey=***"), std::string::npos);
}

TEST(Logging, ParsesLevelsAndFormats) {
  EXPECT_EQ(parse_log_level("debug"), spdlog::level::debug);
  EXPECT_EQ(parse_log_level("warning"), spdlog::level::warn);
  EXPECT_FALSE(parse_log_level("verbose"));
  EXPECT_EQ(parse_log_format("json"), LogFormat::json);
  EXPECT_FALSE(parse_log_format("xml"));
}

} // namespace
} // namespace hub2kusto
