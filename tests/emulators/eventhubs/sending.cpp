#include "server_impl.hpp"

namespace hub2kusto::emulator {

void Server::Impl::send_bytes(pn_link_t* link, const std::string& bytes, bool settle) {
  LinkState& ls = links[link];
  const std::uint64_t tag = ls.tag++;
  pn_delivery_t* d = pn_delivery(link, pn_dtag(reinterpret_cast<const char*>(&tag), sizeof tag));
  pn_link_send(link, bytes.data(), bytes.size());
  pn_link_advance(link);
  if (settle) {
    pn_delivery_settle(d);
  }
}

std::string Server::Impl::encode(const proton::message& m) {
  std::vector<char> buffer;
  m.encode(buffer);
  return std::string(buffer.begin(), buffer.end());
}

pn_link_t* Server::Impl::reply_link(pn_connection_t* c, LinkKind kind,
                                    const std::string& reply_to) {
  pn_link_t* fallback = nullptr;
  for (pn_link_t* l : connections[c].links) {
    const LinkState& ls = links[l];
    if (ls.kind != kind || pn_link_state(l) & PN_LOCAL_CLOSED) {
      continue;
    }
    if (!reply_to.empty() && (terminus_address(pn_link_remote_target(l)) == reply_to ||
                              std::string(pn_link_name(l)) == reply_to)) {
      return l;
    }
    if (fallback == nullptr) {
      fallback = l;
    }
  }
  return fallback;
}

void Server::Impl::reply(pn_connection_t* c, LinkKind kind, const proton::message& request,
                         int status, const std::string& description, const proton::value& body,
                         const std::string& condition) {
  proton::message response;
  response.correlation_id(request.id());
  response.properties().put("status-code", static_cast<std::int32_t>(status));
  response.properties().put("status-description", description);
  if (!condition.empty()) {
    response.properties().put("error-condition", proton::symbol(condition));
  }
  if (!body.empty()) {
    response.body(body);
  }
  std::string reply_to;
  if (!request.reply_to().empty()) {
    reply_to = request.reply_to();
  }
  if (pn_link_t* l = reply_link(c, kind, reply_to)) {
    send_bytes(l, encode(response), true);
  }
}

std::string Server::Impl::property(const proton::message& m, const std::string& key) {
  const proton::value v = m.properties().get(key);
  if (v.type() == proton::STRING) {
    return proton::get<std::string>(v);
  }
  if (v.type() == proton::SYMBOL) {
    return proton::get<proton::symbol>(v);
  }
  return "";
}

void Server::Impl::on_cbs_request(pn_connection_t* c, const proton::message& m) {
  const std::string operation = property(m, "operation");
  if (operation != "put-token") {
    reply(c, LinkKind::cbs_replies, m, 400, "Unsupported operation '" + operation + "'.");
    return;
  }
  std::string token;
  if (m.body().type() == proton::STRING) {
    token = proton::get<std::string>(m.body());
  }
  std::string why;
  const bool jwt = property(m, "type") == "jwt";
  const auto grant = connections[c].iothub ? verify_iothub_token(token, why)
                     : jwt                 ? verify_jwt(token, why)
                                           : verify_token(token, why);
  if (!grant) {
    reply(c, LinkKind::cbs_replies, m, 401, why);
    return;
  }
  // The audience asked for must lie inside what the token signs (docs/protocols.md, "SAS
  // tokens").
  const std::string audience = lower(entity_path(property(m, "name")));
  if (!covers(grant->scope, audience)) {
    reply(c, LinkKind::cbs_replies, m, 401,
          "InvalidAudience: The authorization header contains a token with a wrong audience.");
    return;
  }
  connections[c].grants.push_back(*grant);
  ++(jwt ? put_tokens_jwt : put_tokens_sas);
  if (jwt) {
    jwt_tokens_seen.insert(token);
  }
  reply(c, LinkKind::cbs_replies, m, 202, "Accepted");
  // A renewal lets receivers whose token had lapsed go on from where they stopped.
  for (pn_link_t* l : std::vector<pn_link_t*>(connections[c].links)) {
    pump(l);
  }
}

void Server::Impl::on_management_request(pn_connection_t* c, const proton::message& m) {
  const std::string name = property(m, "name");
  const std::string type = property(m, "type");
  Hub* hub = find_hub(name);
  // security_token on the request, or a token put on the connection (docs/protocols.md,
  // "Management requests").
  const std::string token = property(m, "security_token");
  bool allowed = !config.require_management_token && authorized(c, name);
  if (!token.empty()) {
    std::string why;
    const auto g = looks_like_jwt(token) ? verify_jwt(token, why) : verify_token(token, why);
    allowed = g && !g->no_role && covers(g->scope, lower(name));
  }
  if (!allowed) {
    reply(c, LinkKind::mgmt_replies, m, 401, "Unauthorized access.", proton::value(),
          "amqp:unauthorized-access");
    return;
  }
  if (property(m, "operation") != "READ") {
    reply(c, LinkKind::mgmt_replies, m, 400, "Unsupported operation.", proton::value(),
          "com.microsoft:argument-error");
    return;
  }
  if (hub == nullptr) {
    reply(c, LinkKind::mgmt_replies, m, 404,
          "The messaging entity '" + config.namespace_name + ":eventhub:" + name +
              "' could not be found.",
          proton::value(), "amqp:not-found");
    return;
  }
  if (type == "com.microsoft:eventhub") {
    std::map<std::string, proton::value> body;
    std::vector<std::string> ids;
    for (const auto& p : hub->partitions) {
      ids.push_back(p.id);
    }
    body["name"] = hub->name;
    body["type"] = std::string("com.microsoft:eventhub");
    body["created_at"] = proton::timestamp(hub->created_ms);
    body["partition_count"] = static_cast<std::int32_t>(hub->partitions.size());
    body["partition_ids"] =
        ids; // an AMQP array of string (docs/protocols.md, "Management requests")
    body["georeplication_factor"] = static_cast<std::int32_t>(1);
    reply(c, LinkKind::mgmt_replies, m, 200, "OK", body);
    return;
  }
  if (type == "com.microsoft:partition") {
    Partition* p = hub->partition(property(m, "partition"));
    if (p == nullptr) {
      reply(c, LinkKind::mgmt_replies, m, 400,
            "The specified partition is invalid for an EventHub partition sender or receiver.",
            proton::value(), "com.microsoft:argument-out-of-range");
      return;
    }
    const bool empty = p->events.empty();
    std::map<std::string, proton::value> body;
    body["name"] = hub->name;
    body["type"] = std::string("com.microsoft:partition");
    body["partition"] = p->id;
    body["begin_sequence_number"] = empty ? std::int64_t{-1} : p->events.front().sequence_number;
    body["begin_sequence_number_epoch"] = std::int64_t{0};
    body["last_enqueued_sequence_number"] =
        empty ? std::int64_t{-1} : p->events.back().sequence_number;
    body["last_enqueued_sequence_number_epoch"] = std::int64_t{0};
    body["last_enqueued_offset"] =
        empty ? std::string("-1") : std::to_string(p->events.back().offset);
    body["last_enqueued_time_utc"] = proton::timestamp(empty ? 0 : p->events.back().enqueued_ms);
    body["is_partition_empty"] = empty;
    body["runtime_info_retrieval_time_utc"] = proton::timestamp(now_ms());
    reply(c, LinkKind::mgmt_replies, m, 200, "OK", body);
    return;
  }
  reply(c, LinkKind::mgmt_replies, m, 400, "Unsupported type '" + type + "'.", proton::value(),
        "com.microsoft:argument-error");
}

} // namespace hub2kusto::emulator
