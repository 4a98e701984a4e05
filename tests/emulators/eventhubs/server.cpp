#include "server_impl.hpp"

namespace hub2kusto::emulator {

Hub* Server::Impl::find_hub(const std::string& name) {
  for (auto& h : hubs) {
    if (lower(h.name) == lower(name)) {
      return &h;
    }
  }
  return nullptr;
}

std::optional<Grant> Server::Impl::verify_token(const std::string& token, std::string& why) {
  const auto parsed = parse_sas_token(token);
  if (!parsed) {
    why = "InvalidSignature: The token has an invalid signature.";
    return std::nullopt;
  }
  const SasRule* rule = nullptr;
  for (const auto& r : config.rules) {
    if (r.name == parsed->key_name) {
      rule = &r;
    }
  }
  const std::string expected = encoding::base64_encode(
      crypto::hmac_sha256(rule != nullptr ? rule->key : std::string(),
                          parsed->encoded_resource + "\n" + parsed->expiry_text));
  if (rule == nullptr || expected != parsed->signature.reveal()) {
    why = "InvalidSignature: The token has an invalid signature.";
    return std::nullopt;
  }
  const std::int64_t expires = parsed->expires_at.time_since_epoch().count();
  if (expires <= now_ms() / 1000) {
    why = "ExpiredToken: The token is expired.";
    return std::nullopt;
  }
  return Grant{lower(entity_path(parsed->resource)), honoured_until(expires)};
}

std::optional<Grant> Server::Impl::verify_jwt(const std::string& token, std::string& why) {
  if (!jwt_key) {
    why = "InvalidSignature: this namespace takes no Entra ID tokens (the emulator has no "
          "--jwt-key).";
    return std::nullopt;
  }
  const auto claims = jwt_key->verify(token, why);
  if (!claims) {
    return std::nullopt;
  }
  const auto number = [&](const char* key) {
    const auto it = claims->find(key);
    return it != claims->end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
  };
  const auto text = [&](const char* key) {
    const auto it = claims->find(key);
    return it != claims->end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  const std::int64_t now = now_ms() / 1000;
  if (number("exp") <= now) {
    why = "ExpiredToken: The token is expired.";
    return std::nullopt;
  }
  if (number("nbf") > now + 300) {
    why = "InvalidToken: The token is not valid yet.";
    return std::nullopt;
  }
  std::string audience = text("aud");
  while (!audience.empty() && audience.back() == '/') {
    audience.pop_back();
  }
  if (audience != config.jwt_audience) {
    why = "InvalidAudience: The authorization header contains a token with a wrong audience.";
    return std::nullopt;
  }
  if (!config.jwt_issuer.empty() && text("iss") != config.jwt_issuer) {
    why = "InvalidIssuer: Token issuer is invalid.";
    return std::nullopt;
  }
  const auto& receivers = config.jwt_receivers;
  const bool role =
      std::find(receivers.begin(), receivers.end(), text("appid")) != receivers.end() ||
      std::find(receivers.begin(), receivers.end(), text("oid")) != receivers.end();
  // Role assignments hold for the whole namespace here.
  return Grant{"", honoured_until(number("exp")), !role};
}

std::int64_t Server::Impl::honoured_until(std::int64_t expires_s) const {
  return config.token_lifetime_seconds > 0
             ? std::min(expires_s * 1000, now_ms() + config.token_lifetime_seconds * 1000)
             : expires_s * 1000;
}

bool Server::Impl::covers(const std::string& scope, const std::string& path) {
  return scope.empty() || path == scope ||
         (path.size() > scope.size() && path.compare(0, scope.size(), scope) == 0 &&
          path[scope.size()] == '/');
}

bool Server::Impl::authorized(pn_connection_t* c, const std::string& path) {
  const std::int64_t now = now_ms();
  for (const auto& g : connections[c].grants) {
    if (g.expires_ms > now && !g.no_role && covers(g.scope, lower(path))) {
      return true;
    }
  }
  return false;
}

std::optional<Grant> Server::Impl::verify_iothub_token(const std::string& token, std::string& why) {
  const auto parsed = parse_sas_token(token);
  const auto key = encoding::base64_decode(config.iothub_policy.key);
  if (!parsed || !key || parsed->key_name != config.iothub_policy.name ||
      encoding::base64_encode(
          crypto::hmac_sha256(*key, parsed->encoded_resource + "\n" + parsed->expiry_text)) !=
          parsed->signature.reveal()) {
    why = "InvalidSignature: The token has an invalid signature.";
    return std::nullopt;
  }
  const std::int64_t expires = parsed->expires_at.time_since_epoch().count();
  if (expires <= now_ms() / 1000) {
    why = "ExpiredToken: The token is expired.";
    return std::nullopt;
  }
  return Grant{"", honoured_until(expires)};
}

void Server::Impl::redirect_iothub(pn_connection_t* c, pn_link_t* link, const std::string& path) {
  if (!authorized(c, path)) {
    refuse(link, "amqp:unauthorized-access",
           "Unauthorized access. 'ServiceConnect' claim(s) are required to perform this "
           "operation.");
    return;
  }
  const std::string prefix = "messages/events";
  if (lower(path).rfind(prefix, 0) != 0) {
    refuse(link, "amqp:not-found", "The messaging entity '" + path + "' could not be found.");
    return;
  }
  // The address keeps what followed messages/events ("/$management", "/ConsumerGroups/...").
  const std::string suffix = path.substr(prefix.size());
  const std::string address = "amqp://" + config.host + ":" + std::to_string(redirect_port) + "/" +
                              config.iothub_eventhub + (suffix.empty() ? "/" : suffix);
  pn_terminus_set_type(pn_link_source(link), PN_UNSPECIFIED);
  pn_terminus_set_type(pn_link_target(link), PN_UNSPECIFIED);
  pn_link_open(link);
  pn_condition_t* cond = pn_link_condition(link);
  pn_condition_set_name(cond, "amqp:link:redirect");
  pn_data_t* info = pn_condition_info(cond);
  pn_data_put_map(info);
  pn_data_enter(info);
  const std::string& hostname = redirect_namespace;
  pn_data_put_symbol(info, pn_bytes(8, "hostname"));
  pn_data_put_string(info, pn_bytes(hostname.size(), hostname.c_str()));
  pn_data_put_symbol(info, pn_bytes(12, "network-host"));
  pn_data_put_string(info, pn_bytes(config.host.size(), config.host.c_str()));
  pn_data_put_symbol(info, pn_bytes(4, "port"));
  pn_data_put_int(info, redirect_port);
  pn_data_put_symbol(info, pn_bytes(7, "address"));
  pn_data_put_string(info, pn_bytes(address.size(), address.c_str()));
  pn_data_exit(info);
  pn_link_close(link);
}

void Server::Impl::accept_device_producer(pn_connection_t* c, pn_link_t* link, LinkState& ls,
                                          const std::vector<std::string>& parts) {
  const std::string device = device_of(parts);
  if (device.empty()) {
    refuse(link, "amqp:not-found",
           "The messaging entity '" + ls.path +
               "' could not be found; devices send to devices/<id>/messages/events.");
    return;
  }
  if (!authorized(c, ls.path)) {
    refuse(link, "amqp:unauthorized-access",
           "Unauthorized access. 'DeviceConnect' claim(s) are required to perform this "
           "operation.");
    return;
  }
  ls.hub = find_hub(config.iothub_eventhub);
  if (ls.hub == nullptr) {
    refuse(link, "amqp:not-found",
           "The Event Hub-compatible hub '" + config.iothub_eventhub + "' does not exist.");
    return;
  }
  ls.kind = LinkKind::producer;
  ls.device_id = device;
  accept(link);
}

void Server::Impl::wake_consumers() {
  for (auto& [l, ls] : links) {
    if (ls.kind == LinkKind::consumer) {
      pn_connection_wake(pn_session_connection(pn_link_session(l)));
    }
  }
}

void Server::Impl::run_inbox() {
  std::deque<std::pair<std::function<std::string()>, std::promise<std::string>>> work;
  {
    std::lock_guard lock(inbox_mutex);
    work.swap(inbox);
  }
  for (auto& [fn, done] : work) {
    done.set_value(fn());
  }
}

std::string Server::Impl::post(std::function<std::string()> fn) {
  std::promise<std::string> done;
  auto result = done.get_future();
  {
    std::lock_guard lock(inbox_mutex);
    if (proactor == nullptr) {
      return "error: the emulator is not running";
    }
    inbox.emplace_back(std::move(fn), std::move(done));
    pn_proactor_interrupt(proactor);
  }
  if (result.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    return "error: the emulator did not apply the request within 10 s";
  }
  return result.get();
}

std::string Server::Impl::apply(const Fault& f) {
  switch (f.kind) {
  case Fault::Kind::drop_connections: {
    for (auto& [c, cs] : connections) {
      to_drop.push_back(c);
      pn_connection_wake(c);
    }
    return "dropping " + std::to_string(to_drop.size()) + " connection(s)";
  }
  case Fault::Kind::detach: {
    Hub* hub = find_hub(f.hub);
    Partition* p = hub != nullptr ? hub->partition(f.partition) : nullptr;
    if (p == nullptr) {
      return "error: no partition '" + f.partition + "' in hub '" + f.hub + "'";
    }
    std::size_t n = 0;
    for (auto& [l, ls] : links) {
      if (ls.kind == LinkKind::consumer && ls.partition == p && !ls.pending_close) {
        close_elsewhere(l, f.condition, f.description);
        ++n;
      }
    }
    return "detaching " + std::to_string(n) + " receiver(s) with " + f.condition;
  }
  case Fault::Kind::pause:
    paused = true;
    return "delivery paused";
  case Fault::Kind::resume:
    paused = false;
    wake_consumers();
    return "delivery resumed";
  case Fault::Kind::latency:
    latency_ms = f.number;
    wake_consumers();
    return "delivery latency " + std::to_string(f.number) + " ms";
  case Fault::Kind::refuse_connections:
    refuse_until_ms = now_ms() + f.number * 1000;
    return "refusing new connections for " + std::to_string(f.number) + " s";
  case Fault::Kind::iothub_failover: {
    if (iothub_listener == nullptr) {
      return "error: there is no IoT Hub front end (--iothub)";
    }
    // As after an IoT Hub failover: the endpoint has a new name and address, and the old
    // one refuses connections.
    const int port = emulators::free_port(config.host);
    if (port <= 0) {
      return "error: no free port for the new endpoint";
    }
    pn_listener_close(listener);
    listener = pn_listener();
    const std::string addr = config.host + ":" + std::to_string(port);
    pn_proactor_listen(proactor, listener, addr.c_str(), 64);
    redirect_port = ports.amqp = port;
    redirect_namespace = "failover" + std::to_string(++failovers) + "-" + redirect_namespace;
    for (auto& [c, cs] : connections) {
      if (!cs.iothub) {
        to_drop.push_back(c);
        pn_connection_wake(c);
      }
    }
    return "failover port " + std::to_string(port) + " namespace " + redirect_namespace;
  }
  case Fault::Kind::create_consumer_group: {
    Hub* hub = find_hub(f.hub);
    if (hub == nullptr || f.name.empty()) {
      return "error: no hub '" + f.hub + "' or no consumer group name";
    }
    if (!hub->has_consumer_group(f.name)) {
      hub->consumer_groups.push_back(f.name);
    }
    return "consumer group '" + f.name + "' in hub '" + hub->name + "'";
  }
  case Fault::Kind::reset:
    paused = false;
    latency_ms = 0;
    refuse_until_ms = 0;
    wake_consumers();
    return "faults cleared";
  }
  return "error: unknown fault";
}

std::string Server::Impl::status_json() {
  std::string out = "{\"connections\":" + std::to_string(connections.size()) +
                    ",\"put_tokens\":{\"sas\":" + std::to_string(put_tokens_sas) +
                    ",\"jwt\":" + std::to_string(put_tokens_jwt) +
                    ",\"jwt_distinct\":" + std::to_string(jwt_tokens_seen.size()) + "}" +
                    ",\"paused\":" + (paused ? "true" : "false") +
                    ",\"latency_ms\":" + std::to_string(latency_ms) + ",\"hubs\":{";
  for (std::size_t h = 0; h < hubs.size(); ++h) {
    out += (h > 0 ? ",\"" : "\"") + hubs[h].name + "\":{";
    for (std::size_t i = 0; i < hubs[h].partitions.size(); ++i) {
      const Partition& p = hubs[h].partitions[i];
      std::size_t receivers = 0;
      std::size_t blocked = 0; // attached, but no token on their connection covers them now
      for (auto& [l, ls] : links) {
        if (ls.kind == LinkKind::consumer && ls.partition == &p) {
          ++receivers;
          blocked += authorized(pn_session_connection(pn_link_session(l)), ls.path) ? 0 : 1;
        }
      }
      out += (i > 0 ? ",\"" : "\"") + p.id + "\":{\"events\":" + std::to_string(p.events.size()) +
             ",\"receivers\":" + std::to_string(receivers) +
             ",\"blocked_receivers\":" + std::to_string(blocked) +
             ",\"consumer_attaches\":" + std::to_string(p.consumer_attaches) +
             ",\"deliveries\":" + std::to_string(p.deliveries) + "}";
    }
    out += "}";
  }
  return out + "}}";
}

Server::Server(EmulatorConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}
Server::~Server() = default;

int Server::run(const std::function<void(const ListeningPorts&)>& on_listening) {
  impl_->on_listening = on_listening;
  return impl_->run();
}

void Server::stop() {
  std::lock_guard lock(impl_->inbox_mutex);
  impl_->stop_requested = true;
  if (impl_->proactor != nullptr) {
    pn_proactor_interrupt(impl_->proactor);
  }
}

std::string Server::inject(const Fault& fault) {
  return impl_->post([this, fault] { return impl_->apply(fault); });
}

std::string Server::status() {
  return impl_->post([this] { return impl_->status_json(); });
}

} // namespace hub2kusto::emulator
