#pragma once
// One place that decides what a streaming-ingestion answer means (docs/architecture.md, "Delivery
// outcomes", docs/protocols.md, "Errors", "Streaming with fallback"). Everything upstream switches
// on the result.
//
//   2xx                                         delivered
//   no answer (connect, TLS, timeout)           retriable
//   429                                         retriable, throttled, Retry-After honoured
//   401, 403                                    retriable, auth, target: a credential problem is
//                                               not a data problem, so nothing is dead-lettered
//   BadRequest_DatabaseNotExist,                retriable, target: the configured database, table
//   BadRequest_TableNotExist,                   or mapping is missing for every event alike; the
//   BadRequest_MappingReferenceWasNotFound,     partition holds until it is created (error codes:
//   BadRequest_EntityNotFound learn.microsoft.com/azure/data-explorer/error-codes,
//                                               category EntityNotFound)
//   404 (streaming disabled on the cluster)     streaming impossible
//   413, Stream_InputStreamTooLarge, "too large" streaming impossible (size)
//   BadRequest_StreamingIngestionPolicyNotEnabled streaming impossible (policy)
//   5xx, or @permanent false                    retriable
//   other 4xx with @permanent true (or absent)  rejected, with the service's @message
//
// "Streaming impossible" is not about the data: the managed ingestor sends the batch queued
// instead and remembers the table (docs/protocols.md, "Streaming with fallback"). Queued
// ingestion's `.get ingestion resources` and
// `.get kusto identity token` answering 401 or 403 (an identity without the Ingestor role) or
// 404 (no data-management service there) are target problems too (queued_ingestor.cpp): with
// streaming off or impossible, the partition holds rather than retrying blindly.
#include <chrono>
#include <optional>
#include <string>

#include "azure/http_transport.hpp"
#include "azure/token_provider.hpp"
#include "ingest/ingestor.hpp"

namespace hub2kusto::ingest {

enum class StreamingImpossible { no, policy, disabled, too_large };

struct Classification {
  Outcome outcome = Outcome::retriable;
  StreamingImpossible impossible = StreamingImpossible::no;
  bool throttled = false;
  // The target is wrong (a missing entity) or refuses us (credentials), whatever the data (see
  // the table above): the pipeline holds the partition and says so on /readyz instead of
  // dead-lettering.
  DeliveryStatus::TargetProblem target_problem = DeliveryStatus::TargetProblem::none;
  std::optional<std::chrono::milliseconds> retry_after;
  std::string reason;     // one line: status, code and the service's message, never a token
  std::string error_code; // the OneApi error's code, when the answer carried one
};

Classification classify_streaming_response(const azure::HttpResponse& response);

// What a 401 or 403 from Kusto says about `tokens`, to append to the reason: the kind of
// credential and, for a 401, the audience its token was for (a cluster accepts only its own);
// for a 403, the role the identity lacks. Kinds, not ids: the reason reaches /readyz (the ids
// are logged where the credential is chosen). Empty for other statuses or without a credential.
std::string explain_refusal(const azure::TokenProvider& tokens, int status);

// The OneApi error fields of a body (docs/protocols.md, "Errors"), when it is one.
struct OneApiError {
  std::string code;
  std::string message; // @message when present, else message
  std::optional<bool> permanent;
};
std::optional<OneApiError> parse_one_api_error(std::string_view body);

// Retry-After as seconds or an HTTP date (the latter is taken as "soon": one second).
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value);

} // namespace hub2kusto::ingest
