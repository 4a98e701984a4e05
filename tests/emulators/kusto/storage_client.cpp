#include "storage_client.hpp"

#include <cpprest/http_client.h>
#include <cpprest/uri.h>

#include "common/crypto.hpp"
#include "common/encoding.hpp"

namespace hub2kusto::kusto_emulator {
namespace {

using web::http::methods;
using web::http::status_code;

std::string encode(const std::string& s) {
  return web::uri::encode_data_string(s);
}

// One request; returns the status (0 when no answer came) and fills `body`.
status_code request(const std::string& url, const web::http::method& method,
                    const std::string& payload, const std::string& content_type, std::string& body,
                    const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  try {
    web::http::client::http_client_config config;
    config.set_timeout(std::chrono::seconds(30));
    web::http::client::http_client client(web::uri(url), config);
    web::http::http_request req(method);
    req.headers().add("x-ms-version", "2019-12-12");
    for (const auto& [k, v] : headers) {
      req.headers().add(k, v);
    }
    if (!payload.empty() || method == methods::PUT || method == methods::POST) {
      req.set_body(std::vector<unsigned char>(payload.begin(), payload.end()));
      req.headers().set_content_type(content_type);
    }
    const auto response = client.request(req).get();
    const auto bytes = response.extract_vector().get();
    body.assign(bytes.begin(), bytes.end());
    return response.status_code();
  } catch (const std::exception& e) {
    body = e.what();
    return 0;
  }
}

std::optional<std::string> expect(status_code got, std::initializer_list<status_code> ok,
                                  const std::string& what, const std::string& body) {
  for (auto s : ok) {
    if (got == s) {
      return std::nullopt;
    }
  }
  return what + ": status " + std::to_string(got) + ": " + body.substr(0, 300);
}

std::string between(const std::string& text, const std::string& open, const std::string& close,
                    std::size_t& from) {
  const std::size_t a = text.find(open, from);
  if (a == std::string::npos) {
    from = std::string::npos;
    return "";
  }
  const std::size_t b = text.find(close, a + open.size());
  if (b == std::string::npos) {
    from = std::string::npos;
    return "";
  }
  from = b + close.size();
  return text.substr(a + open.size(), b - a - open.size());
}

} // namespace

StorageClient::StorageClient(StorageEndpoints endpoints) : endpoints_(std::move(endpoints)) {
  // Account SAS, version 2019-12-12 (no encryption-scope field in the string to sign).
  const std::string sp = "rwdlacup";
  const std::string ss = "bqt";
  const std::string srt = "sco";
  const std::string se = "2099-01-01T00:00:00Z";
  const std::string sv = "2019-12-12";
  const std::string to_sign = endpoints_.account + "\n" + sp + "\n" + ss + "\n" + srt + "\n" +
                              "\n" + se + "\n" + "\n" + "\n" + sv + "\n";
  const auto key = encoding::base64_decode(endpoints_.key);
  const std::string sig =
      encoding::base64_encode(crypto::hmac_sha256(key.value_or(std::string()), to_sign));
  sas_ = "sv=" + sv + "&ss=" + ss + "&srt=" + srt + "&sp=" + sp + "&se=" + encode(se) +
         "&sig=" + encode(sig);
}

std::optional<std::string> StorageClient::create_container(const std::string& name) {
  std::string body;
  const auto s = request(endpoints_.blob + "/" + name + "?restype=container&" + sas_, methods::PUT,
                         "", "application/octet-stream", body);
  return expect(s, {201, 409}, "create container " + name, body);
}

std::optional<std::string> StorageClient::create_queue(const std::string& name) {
  std::string body;
  const auto s = request(endpoints_.queue + "/" + name + "?" + sas_, methods::PUT, "",
                         "application/octet-stream", body);
  return expect(s, {201, 204, 409}, "create queue " + name, body);
}

std::optional<std::string> StorageClient::create_table(const std::string& name) {
  std::string body;
  const auto s = request(endpoints_.table + "/Tables?" + sas_, methods::POST,
                         R"({"TableName":")" + name + R"("})", "application/json", body,
                         {{"Accept", "application/json;odata=nometadata"}});
  return expect(s, {201, 204, 409}, "create table " + name, body);
}

std::optional<std::string> StorageClient::get_messages(const std::string& queue,
                                                       int visibility_seconds,
                                                       std::vector<QueueMessage>& out) {
  std::string body;
  const auto s =
      request(endpoints_.queue + "/" + queue + "/messages?numofmessages=32" +
                  "&visibilitytimeout=" + std::to_string(visibility_seconds) + "&" + sas_,
              methods::GET, "", "", body);
  if (auto error = expect(s, {200}, "get messages from " + queue, body)) {
    return error;
  }
  std::size_t pos = 0;
  while (pos != std::string::npos) {
    const std::string one = between(body, "<QueueMessage>", "</QueueMessage>", pos);
    if (pos == std::string::npos) {
      break;
    }
    std::size_t p = 0;
    QueueMessage m;
    m.id = between(one, "<MessageId>", "</MessageId>", p);
    p = 0;
    m.pop_receipt = between(one, "<PopReceipt>", "</PopReceipt>", p);
    p = 0;
    m.text = between(one, "<MessageText>", "</MessageText>", p);
    out.push_back(std::move(m));
  }
  return std::nullopt;
}

std::optional<std::string> StorageClient::delete_message(const std::string& queue,
                                                         const QueueMessage& m) {
  std::string body;
  const auto s = request(endpoints_.queue + "/" + queue + "/messages/" + m.id +
                             "?popreceipt=" + encode(m.pop_receipt) + "&" + sas_,
                         methods::DEL, "", "", body);
  return expect(s, {204, 200}, "delete message from " + queue, body);
}

std::optional<std::string> StorageClient::put_message(const std::string& queue,
                                                      const std::string& text) {
  std::string body;
  const auto s = request(endpoints_.queue + "/" + queue + "/messages?" + sas_, methods::POST,
                         "<QueueMessage><MessageText>" + text + "</MessageText></QueueMessage>",
                         "application/xml", body);
  return expect(s, {201}, "put message to " + queue, body);
}

std::optional<std::string> StorageClient::download(const std::string& url, std::string& body) {
  const auto s = request(url, methods::GET, "", "", body);
  if (s != 200) {
    std::string why = "download: status " + std::to_string(s) + ": " + body.substr(0, 300);
    body.clear();
    return why;
  }
  return std::nullopt;
}

std::optional<std::string> StorageClient::merge_entity(const std::string& table_url,
                                                       const std::string& partition_key,
                                                       const std::string& row_key,
                                                       const std::string& json_properties) {
  const std::string base = table_url.substr(0, table_url.find('?'));
  auto quote = [](const std::string& k) {
    std::string out;
    for (char c : k) {
      out += c == '\'' ? std::string("''") : std::string(1, c);
    }
    return encode(out);
  };
  std::string body;
  const auto s = request(base + "(PartitionKey='" + quote(partition_key) + "',RowKey='" +
                             quote(row_key) + "')?" + sas_,
                         web::http::method("MERGE"), json_properties, "application/json", body,
                         {{"Accept", "application/json;odata=nometadata"}});
  return expect(s, {204}, "merge status entity", body);
}

} // namespace hub2kusto::kusto_emulator
