#include "azure/storage.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>
#include <vector>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "base/text.hpp"
#include "common/crypto.hpp"
#include "common/encoding.hpp"
#include "common/key_value_list.hpp"

namespace hub2kusto::azure {
namespace {

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

std::string header_value(const HttpRequest& r, std::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (text::lower(k) == text::lower(name)) {
      return v;
    }
  }
  return {};
}

} // namespace

std::string rfc1123_date(std::chrono::system_clock::time_point t) {
  return fmt::format("{:%a, %d %b %Y %H:%M:%S} GMT",
                     std::chrono::time_point_cast<std::chrono::seconds>(t));
}

std::optional<std::chrono::system_clock::time_point> parse_rfc1123_date(std::string_view text) {
  // "Tue, 01 Dec 2026 10:00:00 GMT": the weekday is redundant and not checked.
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const auto comma = text.find(", ");
  if (comma == std::string_view::npos || text.size() != comma + 2 + 24 ||
      text.substr(text.size() - 4) != " GMT") {
    return std::nullopt;
  }
  const std::string_view date = text.substr(comma + 2); // "01 Dec 2026 10:00:00 GMT"
  const auto number = [&](std::size_t at, std::size_t length) -> std::optional<int> {
    int value = 0;
    const auto* begin = date.data() + at;
    const auto [end, ec] = std::from_chars(begin, begin + length, value);
    return ec == std::errc() && end == begin + length ? std::optional(value) : std::nullopt;
  };
  const auto* month = std::find(std::begin(kMonths), std::end(kMonths), date.substr(3, 3));
  const auto day = number(0, 2);
  const auto year = number(7, 4);
  const auto hour = number(12, 2);
  const auto minute = number(15, 2);
  const auto second = number(18, 2);
  if (month == std::end(kMonths) || !day || !year || !hour || !minute || !second ||
      date[2] != ' ' || date[6] != ' ' || date[11] != ' ' || date[14] != ':' || date[17] != ':' ||
      *hour > 23 || *minute > 59 || *second > 60) {
    return std::nullopt;
  }
  const std::chrono::year_month_day ymd{
      std::chrono::year(*year),
      std::chrono::month(static_cast<unsigned>(month - std::begin(kMonths) + 1)),
      std::chrono::day(static_cast<unsigned>(*day))};
  if (!ymd.ok()) {
    return std::nullopt;
  }
  return std::chrono::sys_days(ymd) + std::chrono::hours(*hour) + std::chrono::minutes(*minute) +
         std::chrono::seconds(*second);
}

std::string StorageUrl::with(std::string_view suffix) const {
  return base + std::string(suffix) + (sas.empty() ? "" : "?" + sas.reveal());
}

StorageUrl StorageUrl::parse(const std::string& url) {
  const auto q = url.find('?');
  if (q == std::string::npos) {
    return {url, Secret()};
  }
  return {url.substr(0, q), Secret(url.substr(q + 1))};
}

std::string service_error(const HttpResponse& response) {
  if (response.status == 0) {
    return response.transport_error;
  }
  const auto code = response.header("x-ms-error-code");
  return code ? fmt::format("HTTP {} {}", response.status, *code)
              : fmt::format("HTTP {}", response.status);
}

std::string shared_key_authorization(const std::string& account, const std::string& key_base64,
                                     const HttpRequest& request) {
  // Canonicalized headers: every x-ms-* header, lower-cased, sorted, "name:value\n".
  std::map<std::string, std::string> ms;
  for (const auto& [k, v] : request.headers) {
    const std::string name = text::lower(k);
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
      params[text::lower(url_decode(pair.substr(0, eq)))].push_back(
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

} // namespace hub2kusto::azure
