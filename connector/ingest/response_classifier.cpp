#include "ingest/response_classifier.hpp"

#include <charconv>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace hub2kusto::ingest {

std::string_view outcome_name(Outcome outcome) {
  switch (outcome) {
  case Outcome::delivered:
    return "delivered";
  case Outcome::retriable:
    return "retriable";
  case Outcome::rejected:
    return "rejected";
  }
  return "unknown";
}

std::string_view path_name(IngestPath path) {
  return path == IngestPath::streaming ? "streaming" : "queued";
}

std::optional<OneApiError> parse_one_api_error(std::string_view body) {
  const auto json = nlohmann::json::parse(body, nullptr, false);
  if (json.is_discarded() || !json.is_object() || !json.contains("error") ||
      !json["error"].is_object()) {
    return std::nullopt;
  }
  const auto& e = json["error"];
  OneApiError out;
  out.code = e.value("code", "");
  out.message = e.value("@message", e.value("message", ""));
  if (e.contains("@permanent") && e["@permanent"].is_boolean()) {
    out.permanent = e["@permanent"].get<bool>();
  }
  return out;
}

std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value) {
  while (!value.empty() && value.front() == ' ') {
    value.remove_prefix(1);
  }
  double seconds = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec == std::errc() && end != value.data() && seconds >= 0) {
    return std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000));
  }
  if (!value.empty()) {
    return std::chrono::milliseconds(1000); // an HTTP date: not worth a date parser
  }
  return std::nullopt;
}

namespace {

bool contains_text(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// A short excerpt of a body that is not OneApi JSON, for the reason.
std::string excerpt(std::string_view body) {
  std::string out(body.substr(0, 200));
  for (char& c : out) {
    if (c == '\n' || c == '\r') {
      c = ' ';
    }
  }
  return out;
}

} // namespace

Classification classify_streaming_response(const azure::HttpResponse& response) {
  Classification c;
  const int status = response.status;
  if (status == 0) {
    c.outcome = Outcome::retriable;
    c.reason = fmt::format("no answer: {}", response.transport_error);
    return c;
  }
  if (status >= 200 && status < 300) {
    c.outcome = Outcome::delivered;
    return c;
  }
  const auto error = parse_one_api_error(response.body);
  const std::string detail =
      error ? fmt::format("{}: {}", error->code, error->message) : excerpt(response.body);
  c.reason = fmt::format("HTTP {}{}{}", status, detail.empty() ? "" : " ", detail);
  if (const auto retry_after = response.header("Retry-After")) {
    c.retry_after = parse_retry_after(*retry_after);
  }
  const std::string code = error ? error->code : std::string();
  c.error_code = code;
  const std::string message = error ? error->message : std::string(response.body);

  if (status == 429) {
    c.outcome = Outcome::retriable;
    c.throttled = true;
    return c;
  }
  if (status == 401 || status == 403) {
    c.outcome = Outcome::retriable;
    c.target_problem = DeliveryStatus::TargetProblem::credentials;
    c.reason = fmt::format("HTTP {}: Kusto refused the credentials{}{}", status,
                           detail.empty() ? "" : " (", detail.empty() ? "" : detail + ")");
    return c;
  }
  if (code == "BadRequest_DatabaseNotExist" || code == "BadRequest_TableNotExist" ||
      code == "BadRequest_MappingReferenceWasNotFound" || code == "BadRequest_EntityNotFound") {
    c.outcome = Outcome::retriable;
    c.target_problem = DeliveryStatus::TargetProblem::missing_entity;
    return c;
  }
  if (status == 404) {
    c.outcome = Outcome::retriable;
    c.impossible = StreamingImpossible::disabled;
    return c;
  }
  if (status == 413 || code == "Stream_InputStreamTooLarge" ||
      contains_text(message, "too large") ||
      contains_text(message, "KustoRequestPayloadTooLargeException")) {
    c.outcome = Outcome::retriable;
    c.impossible = StreamingImpossible::too_large;
    return c;
  }
  if (code == "BadRequest_StreamingIngestionPolicyNotEnabled" ||
      contains_text(code, "StreamingIngestionDisabled") ||
      contains_text(message, "streaming ingestion policy is not enabled")) {
    c.outcome = Outcome::retriable;
    c.impossible = StreamingImpossible::policy;
    return c;
  }
  if (status >= 500) {
    c.outcome = Outcome::retriable;
    return c;
  }
  if (error && error->permanent == false) {
    c.outcome = Outcome::retriable;
    return c;
  }
  // A 4xx with @permanent true (or no OneApi body: the service sends one for every 4xx but
  // 401, so a bare 4xx is taken at its word): the data or its description is wrong.
  c.outcome = Outcome::rejected;
  return c;
}

std::string explain_refusal(const azure::TokenProvider& tokens, int status) {
  const std::string kind = tokens.kind();
  if (kind.empty()) {
    return {};
  }
  if (status == 401) {
    return fmt::format("; the token of {} for audience {} was refused: expired, revoked, or not "
                       "for this cluster's audience",
                       kind, tokens.audience());
  }
  if (status == 403) {
    return fmt::format("; {} needs the Ingestor role on the database (and Viewer for "
                       "preflight's schema checks)",
                       kind);
  }
  return {};
}

} // namespace hub2kusto::ingest
