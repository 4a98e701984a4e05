#pragma once
// An HttpTransport that answers from a script and records what was sent: the unit tests'
// stand-in for Kusto, the storage services and the token endpoints.
#include <deque>
#include <functional>
#include <mutex>
#include <vector>

#include <string>

#include "azure/http_transport.hpp"

namespace hub2kusto::fakes {

class FakeTransport final : public azure::HttpTransport {
public:
  // Answers in order; once the script is used up, `fallback` answers (200 with "{}" by default).
  void then(azure::HttpResponse r) { script_.push_back(std::move(r)); }
  void then(int status, std::string body = "{}", azure::Headers headers = {}) {
    azure::HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    r.headers = std::move(headers);
    then(std::move(r));
  }
  std::function<azure::HttpResponse(const azure::HttpRequest&)> fallback =
      [](const azure::HttpRequest&) {
        azure::HttpResponse r;
        r.status = 200;
        r.body = "{}";
        return r;
      };

  azure::HttpResponse send(const azure::HttpRequest& request) override {
    std::lock_guard lock(mutex_);
    sent.push_back(request);
    if (script_.empty()) {
      return fallback(request);
    }
    azure::HttpResponse r = std::move(script_.front());
    script_.pop_front();
    return r;
  }

  std::vector<azure::HttpRequest> sent;

private:
  std::mutex mutex_;
  std::deque<azure::HttpResponse> script_;
};

inline std::string one_api(const std::string& code, const std::string& message, bool permanent) {
  return R"({"error":{"code":")" + code + R"(","message":"generic","@message":")" + message +
         R"(","@permanent":)" + (permanent ? "true" : "false") + "}}";
}

} // namespace hub2kusto::fakes
