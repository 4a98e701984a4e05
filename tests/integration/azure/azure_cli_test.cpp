// The credentials that run a program: the Azure CLI (a stub `az` on PATH that records its
// arguments and answers as the real one does), alone and as the default chain's last link, and
// the process runner under them.
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "azure/credential.hpp"
#include "common/process.hpp"
#include "support/credentials.hpp"
#include "support/fake_transport.hpp"
#include "support/manual_clock.hpp"
#include "support/temp_dir.hpp"

namespace hub2kusto::azure {
namespace {

using namespace std::chrono_literals;

using testing::credential;

TEST(RunCommand, ReadsBothStreamsAndTheExitCodeWithoutAShell) {
  const auto r =
      run_command({"sh", "-c", "echo out; echo err >&2; exit 3", "$(not expanded)"}, 10s);
  ASSERT_TRUE(r.started) << r.error;
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
  const auto literal = run_command({"printf", "%s", "$(not expanded)"}, 10s);
  EXPECT_EQ(literal.out, "$(not expanded)");
}

TEST(RunCommand, AProgramThatIsNotThereIsNotStarted) {
  const auto r = run_command({"hub2kusto-no-such-program"}, 10s);
  EXPECT_FALSE(r.started);
  EXPECT_FALSE(r.error.empty());
}

TEST(RunCommand, AProgramThatOverrunsItsTimeIsKilled) {
  const auto r = run_command({"sleep", "30"}, 200ms);
  ASSERT_TRUE(r.started);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.exit_code, 128 + SIGKILL);
}

// A directory with a stub `az` first on PATH for the test's lifetime.
class AzureCliTest : public ::testing::Test {
protected:
  void SetUp() override {
    const char* path = std::getenv("PATH");
    old_path_ = path != nullptr ? path : "";
    ::setenv("PATH", (dir_.string() + ":" + old_path_).c_str(), 1);
    env_.imds_endpoint = "http://imds.example";
  }
  void TearDown() override { ::setenv("PATH", old_path_.c_str(), 1); }

  // `az` prints `out` and `err` and exits with `code`, after writing its arguments to args.
  void stub_az(const std::string& out, const std::string& err = "", int code = 0) {
    const auto file = dir_ / "az";
    std::ofstream(file) << "#!/bin/sh\nprintf '%s\\n' \"$@\" > '" << (dir_ / "args").string()
                        << "'\ncat <<'EOF'\n"
                        << out << "\nEOF\ncat >&2 <<'EOF'\n"
                        << err << "\nEOF\nexit " << code << "\n";
    ::chmod(file.c_str(), 0755);
  }
  std::string az_args() const {
    std::ifstream in(dir_ / "args");
    std::string all;
    for (std::string line; std::getline(in, line);) {
      all += line + " ";
    }
    return all;
  }

  testing::TempDir dir_{"hub2kusto-az"};
  std::string old_path_;
  AuthEnvironment env_;
  fakes::FakeTransport transport_;
  ManualClock clock_{std::chrono::system_clock::time_point(std::chrono::hours(500'000))};
};

TEST_F(AzureCliTest, AsksTheCliForTheAudienceAndReadsItsExpiry) {
  stub_az(R"({"accessToken":"cli-token","expiresOn":"2030-01-01 00:00:00.000000",)"
          R"("expires_on":1900000000,"tokenType":"Bearer"})");
  auto source = make_token_source(credential(CredentialKind::azure_cli, "tenant-c"),
                                  "https://storage.azure.com/", env_, transport_, clock_);
  auto token = source->fetch();
  ASSERT_TRUE(token) << token.error().message;
  EXPECT_EQ(token->value.reveal(), "cli-token");
  EXPECT_EQ(token->expires_at,
            std::chrono::system_clock::time_point(std::chrono::seconds(1900000000)));
  EXPECT_EQ(az_args(), "account get-access-token --output json --resource "
                       "https://storage.azure.com --tenant tenant-c ");
}

TEST_F(AzureCliTest, NotLoggedInIsUnavailableAndSaysWhatTheCliSaid) {
  stub_az("", "ERROR: Please run 'az login' to setup account.", 1);
  auto token = make_token_source(credential(CredentialKind::azure_cli), "https://storage.azure.com",
                                 env_, transport_, clock_)
                   ->fetch();
  ASSERT_FALSE(token);
  EXPECT_TRUE(token.error().unavailable);
  EXPECT_NE(token.error().message.find("the Azure CLI's login: az exited with 1: ERROR: Please "
                                       "run 'az login'"),
            std::string::npos)
      << token.error().message;
}

TEST_F(AzureCliTest, AnAudienceThatIsNotAPlainIdentifierNeverReachesTheCli) {
  stub_az(R"({"accessToken":"x"})");
  auto token = make_token_source(credential(CredentialKind::azure_cli), "--query=x", env_,
                                 transport_, clock_)
                   ->fetch();
  ASSERT_FALSE(token);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "args"));
}

TEST_F(AzureCliTest, TheDefaultChainEndsWithTheCliWhenNothingElseIsSetUp) {
  stub_az(R"({"accessToken":"from-cli","expires_on":1900000000})");
  transport_.fallback = [](const HttpRequest&) {
    HttpResponse none;
    none.transport_error = "connection refused";
    return none; // no IMDS here
  };
  auto source = make_token_source(credential(CredentialKind::default_chain),
                                  "https://eventhubs.azure.net", env_, transport_, clock_);
  auto token = source->fetch();
  ASSERT_TRUE(token) << token.error().message;
  EXPECT_EQ(token->value.reveal(), "from-cli");
  EXPECT_EQ(transport_.sent.size(), 1U); // IMDS was asked once
  EXPECT_EQ(source->kind(), "the default credential: the Azure CLI's login");
  ASSERT_TRUE(source->fetch());
  EXPECT_EQ(transport_.sent.size(), 1U); // the chain keeps the CLI
}

TEST_F(AzureCliTest, WhenNoCredentialIsSetUpTheErrorListsWhatEachOneSaid) {
  ::setenv("PATH", dir_.string().c_str(), 1); // no az at all
  transport_.fallback = [](const HttpRequest&) {
    HttpResponse none;
    none.transport_error = "connection refused";
    return none;
  };
  auto token = make_token_source(credential(CredentialKind::default_chain),
                                 "https://eventhubs.azure.net", env_, transport_, clock_)
                   ->fetch();
  ASSERT_FALSE(token);
  const auto& m = token.error().message;
  const auto environment = m.find("environment: AZURE_TENANT_ID");
  const auto workload = m.find("workload identity: AZURE_TENANT_ID");
  const auto managed = m.find("managed identity: the system-assigned managed identity (IMDS): "
                              "the token endpoint did not answer: connection refused");
  const auto cli = m.find("Azure CLI: the Azure CLI's login: az is not on PATH");
  ASSERT_NE(environment, std::string::npos) << m;
  ASSERT_NE(workload, std::string::npos) << m;
  ASSERT_NE(managed, std::string::npos) << m;
  ASSERT_NE(cli, std::string::npos) << m;
  EXPECT_LT(environment, workload);
  EXPECT_LT(workload, managed);
  EXPECT_LT(managed, cli);
}

} // namespace
} // namespace hub2kusto::azure
