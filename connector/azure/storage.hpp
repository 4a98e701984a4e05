#pragma once
// What every Azure Storage request shares: the REST API version, the request date, a URL that
// carries a shared access signature, the Shared Key signature and the service's error in a
// message. The Blob, Queue and Table clients beside this file build on it
// (https://learn.microsoft.com/rest/api/storageservices/).
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "azure/http_transport.hpp"
#include "common/secret.hpp"

namespace hub2kusto::azure {

// The Blob and Queue service version every request names (x-ms-version).
inline constexpr std::string_view kStorageVersion = "2021-12-02";
// The Table service is spoken at the version the Azure Tables SDKs name by default; the newer
// Storage versions add nothing to the Table API.
inline constexpr std::string_view kTableVersion = "2019-02-02";

// The x-ms-date form (RFC 1123, always GMT): "Tue, 01 Dec 2026 10:00:00 GMT".
std::string rfc1123_date(std::chrono::system_clock::time_point t);
// The same form read back (a Date or Last-Modified header, a listing's Last-Modified); none
// when `text` is not one.
std::optional<std::chrono::system_clock::time_point> parse_rfc1123_date(std::string_view text);

// One storage URL with its shared access signature: the base is printable, the query secret.
struct StorageUrl {
  std::string base; // scheme://host[:port]/path
  Secret sas;       // the query string without '?'; empty: none

  // base + suffix + '?' + sas: holds the secret, for requests only.
  std::string with(std::string_view suffix) const;
  // Splits "https://a.queue.core.windows.net/q?sv=...&sig=..." at the '?'.
  static StorageUrl parse(const std::string& url);
};

// The Shared Key authorization of a request (docs "Authorize with Shared Key"): the string to
// sign from the verb, the standard headers, the x-ms-* headers and the canonicalized resource
// (account + URL path + query parameters), signed with HMAC-SHA256. Returns the Authorization
// header's value.
std::string shared_key_authorization(const std::string& account, const std::string& key_base64,
                                     const HttpRequest& request);

// The status and error code (x-ms-error-code) of an answer, or the transport's error when there
// was none, for messages: "HTTP 403 AuthorizationFailure". Never a URL.
std::string service_error(const HttpResponse& response);

} // namespace hub2kusto::azure
