#include "azure/blob_client.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <vector>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "azure/credential.hpp"
#include "base/text.hpp"
#include "common/crypto.hpp"
#include "common/encoding.hpp"
#include "common/key_value_list.hpp"

namespace hub2kusto::azure {
namespace {

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

// Storage refused the bearer token itself (401 InvalidAuthenticationInfo, or 403
// AuthenticationFailed), as opposed to an identity without a data role.
bool token_refused(const HttpResponse& response) {
  return response.status == 401 ||
         (response.status == 403 && response.header("x-ms-error-code") == "AuthenticationFailed");
}

} // namespace

SasContainer sas_container(const StorageUrl& url) {
  const auto slash = url.base.rfind('/');
  SasContainer out;
  out.account.blob_endpoint = url.base.substr(0, slash);
  out.account.shared_access_signature = url.sas;
  out.container = slash == std::string::npos ? std::string() : url.base.substr(slash + 1);
  return out;
}

BlobClient::BlobClient(StorageConnectionString storage, HttpTransport& transport,
                       const Clock& clock, std::chrono::milliseconds timeout,
                       std::shared_ptr<AccessTokens> tokens)
    : storage_(std::move(storage)), tokens_(std::move(tokens)), transport_(transport),
      clock_(clock), timeout_(timeout) {}

std::string BlobClient::url(const std::string& container, const std::string& blob) const {
  return fmt::format("{}/{}/{}", storage_.blob_endpoint, container, encode_path(blob));
}

HttpResponse BlobClient::send(HttpRequest request) {
  request.timeout = timeout_;
  request.headers.emplace_back("x-ms-date", rfc1123_date(clock_.system_now()));
  request.headers.emplace_back("x-ms-version", std::string(kStorageVersion));
  if (!request.body.empty() || request.method == "PUT") {
    // Named here because the HTTP client would add its own default, which the Shared Key
    // signature must cover.
    request.headers.emplace_back("Content-Length", std::to_string(request.body.size()));
    request.headers.emplace_back("Content-Type", "application/octet-stream");
  }
  if (uses_tokens()) {
    auto token = tokens_->access_token();
    if (!token) {
      HttpResponse refused;
      refused.transport_error = fmt::format("no token for {} from {}: {}", kStorageAudience,
                                            tokens_->describe(), token.error().message);
      return refused;
    }
    request.headers.emplace_back("Authorization", "Bearer " + token->value.reveal());
    auto response = transport_.send(request);
    if (token_refused(response)) { // expired or revoked early: the next request gets a new one
      tokens_->invalidate();
    }
    return response;
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

std::string BlobClient::refusal(const HttpResponse& response) const {
  std::string out = service_error(response);
  if (!uses_tokens()) {
    return out;
  }
  const auto code = response.header("x-ms-error-code");
  if (response.status == 403 &&
      (code == "AuthorizationPermissionMismatch" || code == "AuthorizationFailure")) {
    out += fmt::format(" ({} needs the Storage Blob Data Contributor role on the container or "
                       "its storage account)",
                       tokens_->describe());
  } else if (token_refused(response)) {
    out += fmt::format(" (the token of {} for audience {} was refused: expired, or for another "
                       "audience)",
                       tokens_->describe(), kStorageAudience);
  }
  return out;
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
                             storage_.blob_endpoint, refusal(response)));
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
                             storage_.blob_endpoint, refusal(response)));
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
  return failure(fmt::format("blob '{}/{}' not deleted: {}", container, blob, refusal(response)));
}

namespace {

// The inner text of every <tag>...</tag> in an XML fragment, as written (a List Blobs answer is
// flat enough for this: no attributes on the elements read, no nesting of one tag in itself).
std::vector<std::string_view> xml_elements(std::string_view xml, std::string_view tag) {
  const std::string open = fmt::format("<{}>", tag);
  const std::string close = fmt::format("</{}>", tag);
  std::vector<std::string_view> out;
  for (auto at = xml.find(open); at != std::string_view::npos; at = xml.find(open, at)) {
    at += open.size();
    const auto end = xml.find(close, at);
    if (end == std::string_view::npos) {
      break;
    }
    out.push_back(xml.substr(at, end - at));
    at = end + close.size();
  }
  return out;
}

// Text with the five predefined XML entities decoded.
std::string xml_text(std::string_view raw) {
  std::string value(raw);
  static constexpr std::pair<std::string_view, char> kEntities[] = {
      {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}, {"&amp;", '&'}};
  for (const auto& [entity, c] : kEntities) {
    for (auto p = value.find(entity); p != std::string::npos; p = value.find(entity, p + 1)) {
      value.replace(p, entity.size(), 1, c);
    }
  }
  return value;
}

// The decoded text of the first <tag> in `xml`; empty when there is none.
std::string xml_value(std::string_view xml, std::string_view tag) {
  const auto found = xml_elements(xml, tag);
  return found.empty() ? std::string() : xml_text(found.front());
}

// The children of a <Metadata> element: <name>value</name>..., names lower-cased as the
// service compares them; an empty element (<name />) is an empty value.
std::map<std::string, std::string> xml_metadata(std::string_view metadata) {
  std::map<std::string, std::string> out;
  for (auto at = metadata.find('<'); at != std::string_view::npos; at = metadata.find('<', at)) {
    const auto name_end = metadata.find('>', at);
    if (name_end == std::string_view::npos) {
      break;
    }
    std::string_view name = metadata.substr(at + 1, name_end - at - 1);
    if (!name.empty() && name.back() == '/') { // <name />
      name.remove_suffix(1);
      while (!name.empty() && name.back() == ' ') {
        name.remove_suffix(1);
      }
      out[text::lower(name)] = std::string();
      at = name_end + 1;
      continue;
    }
    const std::string close = fmt::format("</{}>", name);
    const auto end = metadata.find(close, name_end + 1);
    if (end == std::string_view::npos) {
      break;
    }
    out[text::lower(name)] = xml_text(metadata.substr(name_end + 1, end - name_end - 1));
    at = end + close.size();
  }
  return out;
}

// An ETag as If-Match takes it: listings give it bare, response headers quoted.
std::string quoted_etag(std::string etag) {
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
    return etag;
  }
  return '"' + etag + '"';
}

} // namespace

Result<std::vector<std::string>> BlobClient::list_blobs(const std::string& container,
                                                        const std::string& prefix) {
  auto listing = list_blob_items(container, prefix);
  if (!listing) {
    return failure(std::move(listing).error());
  }
  std::vector<std::string> names;
  names.reserve(listing->blobs.size());
  for (auto& blob : listing->blobs) {
    names.push_back(std::move(blob.name));
  }
  return names;
}

Result<BlobListing> BlobClient::list_blob_items(const std::string& container,
                                                const std::string& prefix) {
  BlobListing listing;
  std::string marker;
  do {
    HttpRequest r;
    r.method = "GET";
    r.url = fmt::format("{}/{}?restype=container&comp=list&include=metadata&prefix={}{}",
                        storage_.blob_endpoint, container, url_encode(prefix),
                        marker.empty() ? "" : "&marker=" + url_encode(marker));
    const auto response = send(r);
    if (response.status != 200) {
      return failure(fmt::format("the blobs of container '{}' at {} cannot be listed: {}",
                                 container, storage_.blob_endpoint, refusal(response)));
    }
    for (const auto blob : xml_elements(response.body, "Blob")) {
      BlobItem item;
      item.name = xml_value(blob, "Name");
      const auto metadata = xml_elements(blob, "Metadata");
      if (!metadata.empty()) {
        item.metadata = xml_metadata(metadata.front());
      }
      const auto properties = xml_elements(blob, "Properties");
      if (!properties.empty()) {
        item.etag = quoted_etag(xml_value(properties.front(), "Etag"));
        item.last_modified = parse_rfc1123_date(xml_value(properties.front(), "Last-Modified"));
      }
      listing.blobs.push_back(std::move(item));
    }
    if (const auto date = response.header("Date")) {
      listing.service_time = parse_rfc1123_date(*date);
    }
    marker = xml_value(response.body, "NextMarker");
  } while (!marker.empty());
  return listing;
}

Result<std::string> BlobClient::get_blob(const std::string& container, const std::string& blob) {
  HttpRequest r;
  r.method = "GET";
  r.url = url(container, blob);
  auto response = send(r);
  if (response.status != 200) {
    return failure(
        fmt::format("blob '{}/{}' cannot be read: {}", container, blob, refusal(response)));
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
        fmt::format("blob '{}/{}' cannot be read: {}", container, blob, refusal(response)));
  }
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : response.headers) {
    const std::string name = text::lower(k);
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
    // A first write: the empty blob.
    auto created = put_block_blob(container, blob, "", metadata);
    if (!created) {
      return failure(std::move(created).error());
    }
    return std::monostate{};
  }
  if (response.status == 200) {
    return std::monostate{};
  }
  return failure(fmt::format("blob '{}/{}' not written: {}", container, blob, refusal(response)));
}

Result<std::optional<std::string>> BlobClient::set_metadata_if_match(const std::string& container,
                                                                     const std::string& blob,
                                                                     const BlobMetadata& metadata,
                                                                     const std::string& etag) {
  HttpRequest set;
  set.method = "PUT";
  set.url = url(container, blob) + "?comp=metadata";
  set.headers.emplace_back("If-Match", quoted_etag(etag));
  for (const auto& [k, v] : metadata) {
    set.headers.emplace_back("x-ms-meta-" + k, v);
  }
  const auto response = send(set);
  if (response.status == 200) {
    return std::optional(response.header("ETag").value_or(std::string()));
  }
  if (response.status == 412 || response.status == 404) {
    return std::optional<std::string>();
  }
  return failure(fmt::format("blob '{}/{}' not written: {}", container, blob, refusal(response)));
}

Result<std::optional<std::string>> BlobClient::create_if_absent(const std::string& container,
                                                                const std::string& blob,
                                                                const BlobMetadata& metadata) {
  HttpRequest r;
  r.method = "PUT";
  r.url = url(container, blob);
  r.headers.emplace_back("x-ms-blob-type", "BlockBlob");
  r.headers.emplace_back("If-None-Match", "*");
  for (const auto& [k, v] : metadata) {
    r.headers.emplace_back("x-ms-meta-" + k, v);
  }
  const auto response = send(r);
  if (response.status == 201) {
    return std::optional(response.header("ETag").value_or(std::string()));
  }
  if ((response.status == 409 && response.header("x-ms-error-code") == "BlobAlreadyExists") ||
      response.status == 412) {
    return std::optional<std::string>();
  }
  return failure(fmt::format("blob '{}/{}' not written: {}", container, blob, refusal(response)));
}

Result<StorageUrl> BlobClient::put_block_blob(const std::string& container, const std::string& blob,
                                              std::string body, const BlobMetadata& metadata) {
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
    return StorageUrl{url(container, blob), storage_.shared_access_signature};
  }
  return failure(fmt::format("blob '{}/{}' not written: {}", container, blob, refusal(response)));
}

} // namespace hub2kusto::azure
