#pragma once
// The few Azure Storage REST calls the emulator's data management side makes against Azurite
// (docs/protocols.md, "Queued ingestion and its status"): create containers, queues and a table,
// read and delete queue messages, post status messages, download blobs and merge status-table
// entities. Every request is authorised by one account SAS the emulator signs with the account key,
// the same SAS it hands to clients in .get ingestion resources.

#include <optional>
#include <string>
#include <vector>

namespace hub2kusto::kusto_emulator {

struct StorageEndpoints {
  std::string blob;  // e.g. http://127.0.0.1:10000/devstoreaccount1
  std::string queue; // e.g. http://127.0.0.1:10001/devstoreaccount1
  std::string table; // e.g. http://127.0.0.1:10002/devstoreaccount1
  std::string account = "devstoreaccount1";
  // Azurite's well-known development key (public, not a secret).
  std::string key =
      "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
};

struct QueueMessage {
  std::string id;
  std::string pop_receipt;
  std::string text; // MessageText as stored (base64 of the JSON, as every SDK sends it)
};

class StorageClient {
public:
  explicit StorageClient(StorageEndpoints endpoints);

  // The account SAS query string (no leading '?'), valid for blobs, queues and tables.
  const std::string& sas() const { return sas_; }
  const StorageEndpoints& endpoints() const { return endpoints_; }

  // Each returns an error text, or nullopt. Creating what exists already is not an error.
  std::optional<std::string> create_container(const std::string& name);
  std::optional<std::string> create_queue(const std::string& name);
  std::optional<std::string> create_table(const std::string& name);

  // Up to 32 messages, hidden from other readers for `visibility_seconds`.
  std::optional<std::string> get_messages(const std::string& queue, int visibility_seconds,
                                          std::vector<QueueMessage>& out);
  std::optional<std::string> delete_message(const std::string& queue, const QueueMessage& m);
  // Posts `text` as the MessageText (the caller base64-encodes, as the SDKs expect).
  std::optional<std::string> put_message(const std::string& queue, const std::string& text);

  // GET of a blob URL as given (with its own SAS); the body, or an error text.
  std::optional<std::string> download(const std::string& url, std::string& body);
  // MERGE of properties into the entity (PartitionKey, RowKey) of the table at `table_url`
  // (a URL whose query, if any, is replaced by the account SAS).
  std::optional<std::string> merge_entity(const std::string& table_url,
                                          const std::string& partition_key,
                                          const std::string& row_key,
                                          const std::string& json_properties);

private:
  StorageEndpoints endpoints_;
  std::string sas_;
};

} // namespace hub2kusto::kusto_emulator
