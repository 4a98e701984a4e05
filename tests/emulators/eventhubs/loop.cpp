#include "server_impl.hpp"

namespace hub2kusto::emulator {

bool Server::Impl::handle(pn_event_t* e) {
  if (trace) {
    std::fprintf(stderr, "eventhubs-emulator: %s\n", pn_event_type_name(pn_event_type(e)));
  }
  switch (pn_event_type(e)) {
  case PN_LISTENER_OPEN: {
    pn_listener_t* l = pn_event_listener(e);
    char host[256];
    char port[16];
    pn_netaddr_host_port(pn_listener_addr(l), host, sizeof host, port, sizeof port);
    if (l != listener && l != tls_listener && l != iothub_listener) {
      break; // a failover's listener: its port was chosen before
    }
    (l == tls_listener      ? ports.amqps
     : l == iothub_listener ? ports.iothub
                            : ports.amqp) = std::atoi(port);
    if (l == listener) {
      redirect_port = ports.amqp;
    }
    if (++listeners_open ==
        1 + (tls_listener != nullptr ? 1 : 0) + (iothub_listener != nullptr ? 1 : 0)) {
      on_listening(ports);
    }
    break;
  }
  case PN_LISTENER_ACCEPT: {
    pn_listener_t* l = pn_event_listener(e);
    pn_connection_t* c = pn_connection();
    pn_transport_t* t = pn_transport();
    pn_transport_set_server(t);
    pn_transport_require_auth(t, false); // the C++ SDK's uAMQP sends no SASL layer
                                         // (docs/protocols.md, "Claims-based security ($cbs)")
    pn_sasl_t* sasl = pn_sasl(t);
    pn_sasl_allowed_mechs(sasl, "ANONYMOUS PLAIN EXTERNAL");
    pn_sasl_set_allow_insecure_mechs(sasl, true);
    if (l == tls_listener) {
      pn_ssl_init(pn_ssl(t), tls_domain, nullptr);
    }
    if (!config.required_receiver_capabilities.empty()) {
      connections[c].attaches =
          std::make_unique<AttachWitness>(t, config.required_receiver_capabilities);
    }
    pn_listener_accept2(l, c, t);
    connections[c].iothub = l == iothub_listener;
    break;
  }
  case PN_LISTENER_CLOSE: {
    pn_condition_t* cond = pn_listener_condition(pn_event_listener(e));
    if (pn_condition_is_set(cond)) {
      std::fprintf(stderr, "eventhubs-emulator: listen failed: %s\n",
                   pn_condition_get_description(cond));
      listening_failed = true;
      return false;
    }
    break;
  }
  case PN_CONNECTION_REMOTE_OPEN: {
    pn_connection_t* c = pn_event_connection(e);
    pn_connection_set_container(c, ("eventhubs-emulator:" + config.namespace_name).c_str());
    pn_connection_open(c);
    connections[c].opened_ms = now_ms();
    arm_timer(connections[c].opened_ms + config.auth_grace_ms);
    if (now_ms() < refuse_until_ms) {
      pn_condition_t* cond = pn_connection_condition(c);
      pn_condition_set_name(cond, "amqp:connection:forced");
      pn_condition_set_description(cond, "The emulator refuses new connections (fault injection).");
      pn_connection_close(c);
    }
    break;
  }
  case PN_SESSION_REMOTE_OPEN:
    pn_session_open(pn_event_session(e));
    break;
  case PN_LINK_REMOTE_OPEN:
    on_link_open(pn_event_link(e));
    break;
  case PN_LINK_FLOW:
    if (pn_link_is_sender(pn_event_link(e))) {
      pump(pn_event_link(e));
    }
    break;
  case PN_DELIVERY:
    on_delivery(pn_event_delivery(e));
    break;
  case PN_CONNECTION_WAKE:
    on_wake(pn_event_connection(e));
    break;
  case PN_LINK_REMOTE_CLOSE:
  case PN_LINK_REMOTE_DETACH: {
    pn_link_t* l = pn_event_link(e);
    links[l].pending_close.reset();
    if (!(pn_link_state(l) & PN_LOCAL_CLOSED)) {
      pn_link_close(l);
    }
    links[l].kind = LinkKind::producer; // no longer a consumer of anything
    links[l].partition = nullptr;
    break;
  }
  case PN_LINK_FINAL:
    forget_link(pn_event_link(e));
    break;
  case PN_SESSION_REMOTE_CLOSE:
    pn_session_close(pn_event_session(e));
    break;
  case PN_CONNECTION_REMOTE_CLOSE:
    pn_connection_close(pn_event_connection(e));
    break;
  case PN_TRANSPORT_CLOSED: {
    pn_connection_t* c = pn_event_connection(e);
    if (c != nullptr) {
      const auto it = connections.find(c);
      if (it != connections.end()) {
        for (pn_link_t* l : it->second.links) {
          links.erase(l);
        }
        connections.erase(it);
      }
    }
    break;
  }
  case PN_TRANSPORT_ERROR:
    if (trace) {
      pn_condition_t* cond = pn_transport_condition(pn_event_transport(e));
      std::fprintf(stderr, "eventhubs-emulator: transport error %s: %s\n",
                   pn_condition_get_name(cond), pn_condition_get_description(cond));
    }
    break;
  case PN_PROACTOR_INTERRUPT:
    if (stop_requested) {
      return false;
    }
    run_inbox();
    break;
  case PN_PROACTOR_TIMEOUT:
    on_timer();
    break;
  default:
    break;
  }
  return true;
}

bool Server::Impl::preload() {
  if (config.preload_events == 0) {
    return true;
  }
  std::vector<std::string> lines;
  if (FILE* f = std::fopen(config.preload_file.c_str(), "rb")) {
    char* line = nullptr;
    std::size_t capacity = 0;
    ssize_t n = 0;
    while ((n = getline(&line, &capacity, f)) > 0) {
      std::string text(line, static_cast<std::size_t>(n));
      while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
        text.pop_back();
      }
      if (!text.empty()) {
        lines.push_back(std::move(text));
      }
    }
    std::free(line);
    std::fclose(f);
  }
  if (lines.empty() || hubs.empty()) {
    std::fprintf(stderr, "eventhubs-emulator: --preload: no events in '%s'\n",
                 config.preload_file.c_str());
    return false;
  }
  Hub& hub = hubs.front();
  const std::int64_t now = now_ms();
  for (std::size_t i = 0; i < config.preload_events; ++i) {
    proton::message m;
    const std::string& text = lines[i % lines.size()];
    m.body(proton::binary(text.begin(), text.end()));
    m.inferred(true); // a data section, as producers send events
    enqueue(hub.partitions[i % hub.partitions.size()], encode(m), "", "", now);
  }
  return true;
}

bool Server::Impl::open_data_directory() {
  if (config.data_directory.empty()) {
    return true;
  }
  for (auto& hub : hubs) {
    const std::string dir = config.data_directory + "/" + hub.name;
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      std::fprintf(stderr, "eventhubs-emulator: --data-dir: cannot create '%s': %s\n", dir.c_str(),
                   ec.message().c_str());
      return false;
    }
    for (auto& p : hub.partitions) {
      auto log = std::make_unique<PartitionLog>();
      if (const auto error = log->open(dir + "/" + p.id + ".log", p)) {
        std::fprintf(stderr, "eventhubs-emulator: --data-dir: %s\n", error->c_str());
        return false;
      }
      log_of[&p] = log.get();
      logs.push_back(std::move(log));
    }
  }
  return true;
}

int Server::Impl::run() {
  if (!open_data_directory() || !preload()) {
    return 1;
  }
  if (!config.jwt_key_file.empty()) {
    std::string why;
    jwt_key = JwtKey::load(config.jwt_key_file, why);
    if (!jwt_key) {
      std::fprintf(stderr, "eventhubs-emulator: --jwt-key: %s\n", why.c_str());
      return 1;
    }
  }
  {
    std::lock_guard lock(inbox_mutex);
    proactor = pn_proactor();
  }
  redirect_namespace =
      config.iothub_eventhub_namespace.empty() ? config.host : config.iothub_eventhub_namespace;
  listener = pn_listener();
  const std::string addr = config.host + ":" + std::to_string(config.port);
  pn_proactor_listen(proactor, listener, addr.c_str(), 64);
  if (config.tls_port >= 0) {
    tls_domain = pn_ssl_domain(PN_SSL_MODE_SERVER);
    if (pn_ssl_domain_set_credentials(tls_domain, config.tls_certificate.c_str(),
                                      config.tls_key.c_str(), nullptr) != 0) {
      std::fprintf(stderr, "eventhubs-emulator: cannot use the TLS certificate '%s' and key '%s'\n",
                   config.tls_certificate.c_str(), config.tls_key.c_str());
      pn_proactor_free(proactor);
      proactor = nullptr;
      return 1;
    }
    tls_listener = pn_listener();
    const std::string tls_addr = config.host + ":" + std::to_string(config.tls_port);
    pn_proactor_listen(proactor, tls_listener, tls_addr.c_str(), 64);
  }
  if (!config.iothub_name.empty()) {
    iothub_listener = pn_listener();
    const std::string iot_addr = config.host + ":" + std::to_string(config.iothub_port);
    pn_proactor_listen(proactor, iothub_listener, iot_addr.c_str(), 64);
  }
  bool running = true;
  while (running) {
    pn_event_batch_t* batch = pn_proactor_wait(proactor);
    while (pn_event_t* e = pn_event_batch_next(batch)) {
      if (!handle(e)) {
        running = false;
      }
    }
    pn_proactor_done(proactor, batch);
  }
  {
    std::lock_guard lock(inbox_mutex);
    pn_proactor_free(proactor);
    proactor = nullptr;
    for (auto& [fn, done] : inbox) {
      done.set_value("error: the emulator stopped");
    }
    inbox.clear();
  }
  if (tls_domain != nullptr) {
    pn_ssl_domain_free(tls_domain);
  }
  return listening_failed ? 1 : 0;
}

} // namespace hub2kusto::emulator
