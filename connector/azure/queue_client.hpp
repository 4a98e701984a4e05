#pragma once
// QueueClient: posts messages to one Azure Storage queue reached by a SAS URL, as the
// data-management service hands out its ingestion queues (docs "Put Message").
//
// Threads: any (the transport is thread-safe; nothing else is mutable).
#include <chrono>
#include <string_view>
#include <variant>

#include "azure/http_transport.hpp"
#include "azure/storage.hpp"
#include "base/result.hpp"
#include "common/clock.hpp"

namespace hub2kusto::azure {

class QueueClient {
public:
  QueueClient(StorageUrl queue, HttpTransport& transport, const Clock& clock,
              std::chrono::milliseconds timeout);

  // Posts one message with `text` as its MessageText (escaped for XML here; callers that want
  // base64, as the SDKs send, encode first). The error names the queue, never its SAS.
  Result<std::monostate> put_message(std::string_view text);

  const std::string& url() const { return queue_.base; }

private:
  StorageUrl queue_;
  HttpTransport& transport_;
  const Clock& clock_;
  std::chrono::milliseconds timeout_;
};

} // namespace hub2kusto::azure
