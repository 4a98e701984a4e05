#pragma once
// TableClient: the entity operations hub2kusto needs on one Azure Storage table reached by a
// SAS URL, as the data-management service hands out its ingestion status table: insert, query
// by filter, delete (docs "Table service REST API"). Entities are JSON objects without OData
// metadata.
//
// Threads: any (the transport is thread-safe; nothing else is mutable).
#include <chrono>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "azure/http_transport.hpp"
#include "azure/storage.hpp"
#include "base/result.hpp"
#include "common/clock.hpp"

namespace hub2kusto::azure {

class TableClient {
public:
  TableClient(StorageUrl table, HttpTransport& transport, const Clock& clock,
              std::chrono::milliseconds timeout);

  // Inserts the entity (its PartitionKey and RowKey must be new).
  Result<std::monostate> insert(const nlohmann::json& entity);
  // Up to `top` entities that match the OData filter (one page).
  Result<std::vector<nlohmann::json>> query(std::string_view filter, int top = 1000);
  // Deletes the entity whatever its ETag; one that is not there is no error.
  Result<std::monostate> remove(std::string_view partition_key, std::string_view row_key);

  const std::string& url() const { return table_.base; }

private:
  Headers headers() const;
  std::string failed(const HttpResponse& response) const;

  StorageUrl table_;
  HttpTransport& transport_;
  const Clock& clock_;
  std::chrono::milliseconds timeout_;
};

} // namespace hub2kusto::azure
