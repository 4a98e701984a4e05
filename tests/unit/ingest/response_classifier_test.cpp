#include "ingest/response_classifier.hpp"

#include <gtest/gtest.h>

#include "support/fake_transport.hpp"

namespace hub2kusto::ingest {
namespace {

using fakes::FakeTransport;
using fakes::one_api;

using namespace std::chrono_literals;

azure::HttpResponse answer(int status, std::string body = "", azure::Headers headers = {}) {
  azure::HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

TEST(ResponseClassifier, SuccessIsDelivered) {
  EXPECT_EQ(classify_streaming_response(answer(200, "{}")).outcome, Outcome::delivered);
}

TEST(ResponseClassifier, NoAnswerIsRetriableWithTheTransportError) {
  azure::HttpResponse r;
  r.transport_error = "POST http://h/v1/rest/ingest/db/T: Connection refused";
  const auto c = classify_streaming_response(r);
  EXPECT_EQ(c.outcome, Outcome::retriable);
  EXPECT_NE(c.reason.find("Connection refused"), std::string::npos);
}

TEST(ResponseClassifier, ThrottlingIsRetriableAndCarriesRetryAfter) {
  const auto c = classify_streaming_response(
      answer(429, one_api("TooManyRequests", "slow down", false), {{"retry-after", "7"}}));
  EXPECT_EQ(c.outcome, Outcome::retriable);
  EXPECT_TRUE(c.throttled);
  EXPECT_EQ(c.retry_after, 7000ms);
}

TEST(ResponseClassifier, StreamingImpossibleAnswersSayWhy) {
  EXPECT_EQ(classify_streaming_response(
                answer(400, one_api("BadRequest_StreamingIngestionPolicyNotEnabled", "off", true)))
                .impossible,
            StreamingImpossible::policy);
  EXPECT_EQ(classify_streaming_response(answer(404, "StreamingIngestionFunctionalityDisabled"))
                .impossible,
            StreamingImpossible::disabled);
  EXPECT_EQ(classify_streaming_response(answer(413, "")).impossible,
            StreamingImpossible::too_large);
  EXPECT_EQ(classify_streaming_response(
                answer(400, one_api("Stream_InputStreamTooLarge", "input too large", true)))
                .impossible,
            StreamingImpossible::too_large);
}

TEST(ResponseClassifier, PermanentDataErrorsAreRejectedWithTheServiceMessage) {
  const auto c = classify_streaming_response(
      answer(400, one_api("BadRequest_NoRecordsOrWrongFormat", "bad json at line 3", true)));
  EXPECT_EQ(c.outcome, Outcome::rejected);
  EXPECT_NE(c.reason.find("BadRequest_NoRecordsOrWrongFormat"), std::string::npos);
  EXPECT_NE(c.reason.find("bad json at line 3"), std::string::npos);
  EXPECT_EQ(c.impossible, StreamingImpossible::no);
  EXPECT_EQ(c.target_problem, DeliveryStatus::TargetProblem::none);
}

TEST(ResponseClassifier, AMissingDatabaseTableOrMappingIsATargetProblemNotBadData) {
  for (const char* code : {"BadRequest_DatabaseNotExist", "BadRequest_TableNotExist",
                           "BadRequest_MappingReferenceWasNotFound", "BadRequest_EntityNotFound"}) {
    const auto c = classify_streaming_response(answer(400, one_api(code, "was not found", true)));
    EXPECT_EQ(c.outcome, Outcome::retriable) << code;
    EXPECT_EQ(c.target_problem, DeliveryStatus::TargetProblem::missing_entity) << code;
    EXPECT_NE(c.reason.find(code), std::string::npos) << c.reason;
  }
}

TEST(ResponseClassifier, ServerErrorsAndTransientOneApiErrorsAreRetriable) {
  EXPECT_EQ(classify_streaming_response(answer(503, "")).outcome, Outcome::retriable);
  EXPECT_EQ(
      classify_streaming_response(answer(500, one_api("General_InternalServerError", "x", false)))
          .outcome,
      Outcome::retriable);
  EXPECT_EQ(classify_streaming_response(answer(400, one_api("Something", "x", false))).outcome,
            Outcome::retriable);
}

TEST(ResponseClassifier, RefusedCredentialsAreRetriableNotRejected) {
  const auto c = classify_streaming_response(answer(401, ""));
  EXPECT_EQ(c.outcome, Outcome::retriable);
  EXPECT_EQ(c.target_problem, DeliveryStatus::TargetProblem::credentials);
  EXPECT_NE(c.reason.find("refused the credentials"), std::string::npos);
  EXPECT_EQ(classify_streaming_response(answer(403, "")).target_problem,
            DeliveryStatus::TargetProblem::credentials);
}

TEST(ResponseClassifier, RetryAfterIsSecondsOrADate) {
  EXPECT_EQ(parse_retry_after("2"), 2000ms);
  EXPECT_EQ(parse_retry_after("0.5"), 500ms);
  EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2026 07:28:00 GMT"), 1000ms);
  EXPECT_EQ(parse_retry_after(""), std::nullopt);
}

} // namespace
} // namespace hub2kusto::ingest
