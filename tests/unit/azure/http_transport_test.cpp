#include "azure/http_transport.hpp"

#include <gtest/gtest.h>

namespace hub2kusto::azure {
namespace {

TEST(HttpTransport, UrlEncodingKeepsUnreservedCharactersOnly) {
  EXPECT_EQ(url_encode("abc-_.~XYZ09"), "abc-_.~XYZ09");
  EXPECT_EQ(url_encode("a b/c?d=e&f"), "a%20b%2Fc%3Fd%3De%26f");
  EXPECT_EQ(url_encode("\xc3\xa9"), "%C3%A9");
}

TEST(HttpTransport, HeadersAreFoundWhateverTheirCase) {
  HttpResponse r;
  r.headers = {{"Retry-After", "3"}, {"x-ms-activity-id", "a"}};
  EXPECT_EQ(r.header("retry-after"), std::optional<std::string>("3"));
  EXPECT_EQ(r.header("X-MS-ACTIVITY-ID"), std::optional<std::string>("a"));
  EXPECT_EQ(r.header("missing"), std::nullopt);
}

TEST(HttpTransport, NoAnswerIsAValueWithoutTheQueryString) {
  auto t = make_http_transport();
  HttpRequest r;
  r.url = "http://127.0.0.1:1/container/blob?sv=1&sig=SECRETSIG";
  r.timeout = std::chrono::milliseconds(2'000);
  const auto response = t->send(r);
  EXPECT_EQ(response.status, 0);
  EXPECT_FALSE(response.transport_error.empty());
  EXPECT_EQ(response.transport_error.find("SECRETSIG"), std::string::npos)
      << response.transport_error;
}

} // namespace
} // namespace hub2kusto::azure
