#include "ingest/blob_client.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <vector>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "common/crypto.hpp"
#include "common/encoding.hpp"
#include "common/key_value_list.hpp"

namespace hub2kusto::ingest {
namespace {

constexpr const char* kVersion = "2021-12-02"; // the Blob service version we speak

// Each segment URL-encoded, the '/' between them kept (as the SDKs send blob names).
std::string encode_path(std::string_view name) {
  std::string out;
  std::size_t start = 0;
  while (true) {
    const auto slash = name.find('/', start);
    out += url_encode(name.substr(start, slash - start));
    if (slash == std::string_view::npos) {
      return out;
    }
    out.push_back('/');
    start = slash + 1;
  }
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

std::string url_decode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%') {
      const int hi = i + 1 < text.size() ? hex_digit(text[i + 1]) : -1;
      const int lo = i + 2 < text.size() ? hex_digit(text[i + 2]) : -1;
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    if (text[i] == '+') {
      out.push_back(' ');
      continue;
    }
    out.push_back(text[i]);
  }
  return out;
}

std::string rfc1123(std::chrono::system_clock::time_point t) {
  return fmt::format("{:%a, %d %b %Y %H:%M:%S} GMT",
                     std::chrono::time_point_cast<std::chrono::seconds>(t));
}

std::string header_value(const HttpRequest& r, std::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (ascii_lower(k) == ascii_lower(name)) {
      return v;
    }
  }
  return {};
}

// The service's error code (x-ms-error-code) and status, for messages.
std::string service_error(const HttpResponse& r) {
  if (r.status == 0) {
    return r.transport_error;
  }
  return fmt::format("HTTP {} {}", r.status, r.header("x-ms-error-code").value_or(""));
}

} // namespace

std::string shared_key_authorization(const std::string& account, const std::string& key_base64,
                                     const HttpRequest& request) {
  // Canonicalized headers: every x-ms-* header, lower-cased, sorted, "name:value\n".
  std::map<std::string, std::string> ms;
  for (const auto& [k, v] : request.headers) {
    const std::string name = ascii_lower(k);
    if (name.rfind("x-ms-", 0) == 0) {
      ms[name] = v;
    }
  }
  std::string headers;
  for (const auto& [k, v] : ms) {
    headers += k + ":" + v + "\n";
  }
  // Canonicalized resource: /<account><path>, then "\n<name>:<value>" per query parameter,
  // names lower-cased and sorted, values decoded.
  const auto scheme_end = request.url.find("://");
  const auto path_begin =
      request.url.find('/', scheme_end == std::string::npos ? 0 : scheme_end + 3);
  const auto query_begin = request.url.find('?');
  std::string path = path_begin == std::string::npos
                         ? "/"
                         : request.url.substr(path_begin, query_begin == std::string::npos
                                                              ? std::string::npos
                                                              : query_begin - path_begin);
  std::string resource = "/" + account + path;
  if (query_begin != std::string::npos) {
    std::map<std::string, std::vector<std::string>> params;
    std::string_view query(request.url);
    query.remove_prefix(query_begin + 1);
    while (!query.empty()) {
      const auto amp = query.find('&');
      const std::string_view pair = query.substr(0, amp);
      const auto eq = pair.find('=');
      params[ascii_lower(url_decode(pair.substr(0, eq)))].push_back(
          eq == std::string_view::npos ? "" : url_decode(pair.substr(eq + 1)));
      query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    }
    for (auto& [name, values] : params) {
      std::sort(values.begin(), values.end());
      std::string joined;
      for (std::size_t i = 0; i < values.size(); ++i) {
        joined += (i > 0 ? "," : "") + values[i];
      }
      resource += "\n" + name + ":" + joined;
    }
  }
  const std::string length = request.body.empty() ? "" : std::to_string(request.body.size());
  const std::string to_sign =
      request.method + "\n" + header_value(request, "Content-Encoding") + "\n" +
      header_value(request, "Content-Language") + "\n" + length + "\n" +
      header_value(request, "Content-MD5") + "\n" + header_value(request, "Content-Type") + "\n" +
      "\n" + // Date: x-ms-date is used instead
      header_value(request, "If-Modified-Since") + "\n" + header_value(request, "If-Match") + "\n" +
      header_value(request, "If-None-Match") + "\n" + header_value(request, "If-Unmodified-Since") +
      "\n" + header_value(request, "Range") + "\n" + headers + resource;
  const auto key = encoding::base64_decode(key_base64).value_or("");
  return "SharedKey " + account + ":" + encoding::base64_encode(crypto::hmac_sha256(key, to_sign));
}

BlobClient::BlobClient(StorageConnectionString storage, HttpTransport& transport,
                       const Clock& clock, std::chrono::milliseconds timeout)
    : storage_(std::move(storage)), transport_(transport), clock_(clock), timeout_(timeout) {}

std::string BlobClient::url(const std::string& container, const std::string& blob) const {
  return fmt::format("{}/{}/{}", storage_.blob_endpoint, container, encode_path(blob));
}

HttpResponse BlobClient::send(HttpRequest request) {
  request.timeout = timeout_;
  request.headers.emplace_back("x-ms-date", rfc1123(clock_.system_now()));
  request.headers.emplace_back("x-ms-version", kVersion);
  if (!request.body.empty() || request.method == "PUT") {
    // Named here because the HTTP client would add its own default, which the Shared Key
    // signature must cover.
    request.headers.emplace_back("Content-Length", std::to_string(request.body.size()));
    request.headers.emplace_back("Content-Type", "application/octet-stream");
  }
  if (!storage_.shared_access_signature.empty()) {
    request.url += (request.url.find('?') == std::string::npos ? "?" : "&") +
                   storage_.shared_access_signature.reveal();
  } else {
    request.headers.emplace_back(
        "Authorization",
        shared_key_authorization(storage_.account_name, storage_.account_key.reveal(), request));
  }
  return transport_.send(request);
}

Result<std::monostate> BlobClient::ensure_container(const std::string& container) {
  HttpRequest r;
  r.method = "PUT";
  r.url = fmt::format("{}/{}?restype=container", storage_.blob_endpoint, container);
  const auto response = send(r);
  if (response.status == 201 || response.status == 409) { // created, or there already
    return std::monostate{};
  }
  return failure(fmt::format("container '{}' at {} cannot be created or used: {}", container,
                             storage_.blob_endpoint, service_error(response)));
}

Result<bool> BlobClient::container_exists(const std::string& container) {
  HttpRequest r;
  r.method = "HEAD";
  r.url = fmt::format("{}/{}?restype=container", storage_.blob_endpoint, container);
  const auto response = send(r);
  if (response.status == 200 || response.status == 404) {
    return response.status == 200;
  }
  return failure(fmt::format("container '{}' at {} cannot be read: {}", container,
                             storage_.blob_endpoint, service_error(response)));
}

Result<std::monostate> BlobClient::delete_blob(const std::string& container,
                                               const std::string& blob) {
  HttpRequest r;
  r.method = "DELETE";
  r.url = url(container, blob);
  const auto response = send(r);
  if (response.status == 202 || response.status == 404) {
    return std::monostate{};
  }
  return failure(
      fmt::format("blob '{}/{}' not deleted: {}", container, blob, service_error(response)));
}

namespace {

// The text of every <tag>...</tag> in an XML answer, with the five predefined entities decoded
// (a List Blobs answer is flat enough for this).
std::vector<std::string> xml_values(std::string_view xml, std::string_view tag) {
  const std::string open = fmt::format("<{}>", tag);
  const std::string close = fmt::format("</{}>", tag);
  std::vector<std::string> out;
  for (auto at = xml.find(open); at != std::string_view::npos; at = xml.find(open, at)) {
    at += open.size();
    const auto end = xml.find(close, at);
    if (end == std::string_view::npos) {
      break;
    }
    std::string value(xml.substr(at, end - at));
    static constexpr std::pair<std::string_view, char> kEntities[] = {
        {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}, {"&amp;", '&'}};
    for (const auto& [entity, c] : kEntities) {
      for (auto p = value.find(entity); p != std::string::npos; p = value.find(entity, p + 1)) {
        value.replace(p, entity.size(), 1, c);
      }
    }
    out.push_back(std::move(value));
    at = end + close.size();
  }
  return out;
}

} // namespace

Result<std::vector<std::string>> BlobClient::list_blobs(const std::string& container,
                                                        const std::string& prefix) {
  std::vector<std::string> names;
  std::string marker;
  do {
    HttpRequest r;
    r.method = "GET";
    r.url = fmt::format("{}/{}?restype=container&comp=list&prefix={}{}", storage_.blob_endpoint,
                        container, url_encode(prefix),
                        marker.empty() ? "" : "&marker=" + url_encode(marker));
    const auto response = send(r);
    if (response.status != 200) {
      return failure(fmt::format("the blobs of container '{}' at {} cannot be listed: {}",
                                 container, storage_.blob_endpoint, service_error(response)));
    }
    auto page = xml_values(response.body, "Name");
    names.insert(names.end(), std::make_move_iterator(page.begin()),
                 std::make_move_iterator(page.end()));
    const auto next = xml_values(response.body, "NextMarker");
    marker = next.empty() ? std::string() : next.front();
  } while (!marker.empty());
  return names;
}

Result<std::string> BlobClient::get_blob(const std::string& container, const std::string& blob) {
  HttpRequest r;
  r.method = "GET";
  r.url = url(container, blob);
  auto response = send(r);
  if (response.status != 200) {
    return failure(
        fmt::format("blob '{}/{}' cannot be read: {}", container, blob, service_error(response)));
  }
  return std::move(response.body);
}

Result<std::optional<std::map<std::string, std::string>>>
BlobClient::metadata(const std::string& container, const std::string& blob) {
  HttpRequest r;
  r.method = "HEAD";
  r.url = url(container, blob);
  const auto response = send(r);
  if (response.status == 404) {
    return std::optional<std::map<std::string, std::string>>();
  }
  if (response.status != 200) {
    return failure(
        fmt::format("blob '{}/{}' cannot be read: {}", container, blob, service_error(response)));
  }
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : response.headers) {
    const std::string name = ascii_lower(k);
    if (name.rfind("x-ms-meta-", 0) == 0) {
      out[name.substr(10)] = v;
    }
  }
  return std::optional(std::move(out));
}

Result<std::monostate> BlobClient::set_metadata(const std::string& container,
                                                const std::string& blob,
                                                const BlobMetadata& metadata) {
  HttpRequest set;
  set.method = "PUT";
  set.url = url(container, blob) + "?comp=metadata";
  for (const auto& [k, v] : metadata) {
    set.headers.emplace_back("x-ms-meta-" + k, v);
  }
  const auto response = send(set);
  if (response.status == 404) {
    return put_block_blob(container, blob, "", metadata); // a first write: the empty blob
  }
  if (response.status == 200) {
    return std::monostate{};
  }
  return failure(
      fmt::format("blob '{}/{}' not written: {}", container, blob, service_error(response)));
}

Result<std::monostate> BlobClient::put_block_blob(const std::string& container,
                                                  const std::string& blob, std::string body,
                                                  const BlobMetadata& metadata) {
  HttpRequest r;
  r.method = "PUT";
  r.url = url(container, blob);
  r.body = std::move(body);
  r.headers.emplace_back("x-ms-blob-type", "BlockBlob");
  for (const auto& [k, v] : metadata) {
    r.headers.emplace_back("x-ms-meta-" + k, v);
  }
  const auto response = send(r);
  if (response.status == 201) {
    return std::monostate{};
  }
  return failure(
      fmt::format("blob '{}/{}' not written: {}", container, blob, service_error(response)));
}

} // namespace hub2kusto::ingest
