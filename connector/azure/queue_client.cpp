#include "azure/queue_client.hpp"

#include <fmt/format.h>

namespace hub2kusto::azure {
namespace {

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
    case '<':
      out += "&lt;";
      break;
    case '>':
      out += "&gt;";
      break;
    case '&':
      out += "&amp;";
      break;
    case '"':
      out += "&quot;";
      break;
    case '\'':
      out += "&apos;";
      break;
    default:
      out.push_back(c);
    }
  }
  return out;
}

} // namespace

QueueClient::QueueClient(StorageUrl queue, HttpTransport& transport, const Clock& clock,
                         std::chrono::milliseconds timeout)
    : queue_(std::move(queue)), transport_(transport), clock_(clock), timeout_(timeout) {}

Result<std::monostate> QueueClient::put_message(std::string_view text) {
  HttpRequest post;
  post.method = "POST";
  post.timeout = timeout_;
  post.url = queue_.with("/messages");
  post.body = "<QueueMessage><MessageText>" + xml_escape(text) + "</MessageText></QueueMessage>";
  post.headers = {{"x-ms-version", std::string(kStorageVersion)},
                  {"x-ms-date", rfc1123_date(clock_.system_now())},
                  {"Content-Type", "application/xml"}};
  const HttpResponse response = transport_.send(post);
  if (response.status == 201) {
    return std::monostate{};
  }
  return failure(
      response.status == 0
          ? fmt::format("the queue {} did not answer: {}", queue_.base, response.transport_error)
          : fmt::format("the queue {} answered {}", queue_.base, service_error(response)));
}

} // namespace hub2kusto::azure
