#include "hub/amqp_internal.hpp"

namespace hub2kusto::hub {

// ---- the AMQP thread's loop ----

AmqpEventSource::Impl::Impl(HubOptions options, const Clock& clock, RandomSource& random)
    : options_(std::move(options)), clock_(clock), random_(random),
      backoff_(options_.reconnect, random) {
  if (const auto* eh = std::get_if<EventHubsConnectionString>(&options_.connection)) {
    target_.network_host = target_.hostname = eh->host;
    target_.port = eh->amqp_port();
    target_.tls = eh->uses_tls();
    target_.event_hub =
        options_.event_hub.value().empty() ? eh->entity_path : options_.event_hub.value();
    target_.key_name = eh->key_name;
    target_.key = eh->key;
    target_.prebuilt = eh->shared_access_signature;
    target_.prebuilt_expiry = eh->signature_expiry;
    phase_ = Phase::hub;
    hub_label_ = fmt::format("{}/{}", target_.hostname, target_.event_hub);
    event_hubs_namespace_ = target_.hostname;
  } else {
    const auto& iot = std::get<IotHubConnectionString>(options_.connection);
    target_.network_host = target_.hostname = iot.host;
    target_.port = iot.amqp_port();
    target_.tls = iot.uses_tls();
    target_.iot_front_end = true;
    target_.key_name = iot.key_name;
    target_.key = iot.key;
    iot_front_end_ = target_;
    phase_ = Phase::redirect;
    hub_label_ = fmt::format("IoT Hub {}", iot.host);
  }
  transport_ = options_.transport.value_or(
      std::visit([](const auto& c) { return c.transport; }, options_.connection)
          .value_or(HubTransport::amqp));
  if (transport_ == HubTransport::websockets) {
    // The WebSocket endpoint is on 443 unless the connection string names a port, for the
    // namespace and an IoT Hub alike (docs/protocols.md, "AMQP over WebSockets").
    const auto explicit_port =
        std::visit([](const auto& c) { return c.port; }, options_.connection);
    target_.port = explicit_port.value_or(443);
    if (iot_front_end_) {
      iot_front_end_->port = target_.port;
    }
  }
  io_ = make_stream_io(*this, kTick);
  mailbox_->impl = this;
  thread_ = std::thread([this] { run(); });
  post([this] {
    if (target_.event_hub.empty() && !target_.iot_front_end) {
      fail("no Event Hub name: set EntityPath in the connection string or the event_hub setting");
      return;
    }
    if (!target_.iot_front_end && target_.key.empty() && target_.prebuilt.empty() &&
        options_.tokens == nullptr) {
      fail("no credentials for " + hub_label_ +
           ": the connection string has no key and no Entra ID credential was given");
      return;
    }
    connect();
  });
}

AmqpEventSource::Impl::~Impl() {
  {
    std::lock_guard lock(mailbox_->mutex);
    mailbox_->impl = nullptr;
  }
  close();
}

bool AmqpEventSource::Impl::post(std::function<void()> fn) {
  std::lock_guard lock(inbox_mutex_);
  if (loop_ended_) {
    return false;
  }
  const bool first = inbox_.empty();
  inbox_.push_back(std::move(fn));
  if (first) { // one wake-up drains everything queued
    io_->interrupt(inbox_connection_);
  }
  return true;
}

void AmqpEventSource::Impl::run() {
  // The loop wakes at least every tick, so a heart that stops beating means a stuck handler.
  const auto heart =
      options_.liveness != nullptr ? options_.liveness->watch("amqp " + hub_label_) : nullptr;
  const Liveness::Scope scope(heart.get());
  try {
    while (!stop_loop_) {
      if (heart) {
        heart->busy();
      }
      io_->run_once();
      auto after = std::move(after_batch_);
      after_batch_.clear();
      for (auto& fn : after) {
        fn();
      }
    }
  } catch (const std::exception& e) {
    // Nothing below throws by design; if something does, every partition says why.
    const std::string why = fmt::format("the AMQP thread for {} stopped: {}", hub_label_, e.what());
    log->error("{}", why);
    std::lock_guard lock(mutex_);
    if (!fatal_) {
      fatal_ = Error{why};
    }
    for (auto& [id, s] : streams_) {
      s->set_status(PartitionState::failed, why);
    }
  }
  std::vector<std::function<void()>> orphans;
  {
    std::lock_guard lock(inbox_mutex_);
    loop_ended_ = true;
    orphans = std::move(inbox_);
  }
  // Work handed in too late runs here, on this thread, with phase_ closing: management calls
  // answer "closed", partitions report closed.
  phase_ = Phase::closing;
  for (auto& fn : orphans) {
    fn();
  }
  io_.reset(); // frees the connection, if any
  connection_ = nullptr;
}

void AmqpEventSource::Impl::handle(pn_event_t* e) {
  switch (pn_event_type(e)) {
  case PN_CONNECTION_REMOTE_OPEN:
    if (pn_event_connection(e) == connection_) {
      on_connection_open();
    }
    break;
  case PN_CONNECTION_REMOTE_CLOSE: {
    pn_connection_t* c = pn_event_connection(e);
    const Condition condition = condition_of(pn_connection_remote_condition(c));
    if (c == connection_ && condition.set()) {
      note_error(condition.what());
      if (condition.name == "amqp:unauthorized-access") {
        fail(fmt::format("the hub {} closed the connection: {}", hub_label_, condition.what()));
      }
    }
    if (!(pn_connection_state(c) & PN_LOCAL_CLOSED)) {
      pn_connection_close(c);
    }
    break;
  }
  case PN_SESSION_REMOTE_CLOSE: {
    pn_session_t* s = pn_event_session(e);
    if (!(pn_session_state(s) & PN_LOCAL_CLOSED)) {
      pn_session_close(s);
    }
    break;
  }
  case PN_LINK_REMOTE_OPEN:
    if (auto* owner = static_cast<LinkOwner*>(pn_link_get_context(pn_event_link(e)))) {
      owner->on_link_open(pn_event_link(e));
    }
    break;
  case PN_LINK_REMOTE_CLOSE:
  case PN_LINK_REMOTE_DETACH: {
    pn_link_t* link = pn_event_link(e);
    if (auto* owner = static_cast<LinkOwner*>(pn_link_get_context(link))) {
      owner->on_link_close(link, condition_of(pn_link_remote_condition(link)));
    }
    close_link(link);
    break;
  }
  case PN_LINK_FLOW:
    if (auto* owner = static_cast<LinkOwner*>(pn_link_get_context(pn_event_link(e)))) {
      owner->on_flow(pn_event_link(e));
    }
    break;
  case PN_DELIVERY:
    on_delivery(pn_event_delivery(e));
    break;
  case PN_TRANSPORT_ERROR:
    if (pn_event_connection(e) == connection_) {
      note_error(condition_of(pn_transport_condition(pn_event_transport(e))).what());
    }
    break;
  case PN_TRANSPORT_CLOSED:
    if (pn_event_connection(e) == connection_) {
      on_transport_close();
    }
    break;
  default:
    break;
  }
}

void AmqpEventSource::Impl::on_delivery(pn_delivery_t* d) {
  pn_link_t* link = pn_delivery_link(d);
  if (pn_link_is_sender(link)) {
    pn_delivery_settle(d); // requests are sent settled; nothing to track
    return;
  }
  if (pn_delivery_aborted(d)) {
    pn_delivery_settle(d);
    return;
  }
  if (!pn_delivery_readable(d) || pn_delivery_partial(d)) {
    return; // the rest of a large event is still coming
  }
  receive_buffer_.resize(pn_delivery_pending(d));
  std::size_t got = 0;
  while (true) {
    if (got == receive_buffer_.size()) {
      receive_buffer_.resize(receive_buffer_.size() + 4096);
    }
    const ssize_t n =
        pn_link_recv(link, receive_buffer_.data() + got, receive_buffer_.size() - got);
    if (n <= 0) {
      break;
    }
    got += static_cast<std::size_t>(n);
  }
  pn_delivery_settle(d); // frees it; the service pre-settled it (snd-settle-mode settled)
  if (auto* owner = static_cast<LinkOwner*>(pn_link_get_context(link))) {
    owner->on_transfer(link, std::string_view(receive_buffer_.data(), got));
  }
}

void AmqpEventSource::Impl::run_inbox() {
  std::vector<std::function<void()>> work;
  {
    std::lock_guard lock(inbox_mutex_);
    work.swap(inbox_);
  }
  for (auto& fn : work) {
    fn();
  }
}

void AmqpEventSource::Impl::tick() {
  if (timers_.run_due(clock_.steady_now()) > 0) {
    wake_connection();
  }
}

void AmqpEventSource::Impl::close() {
  std::call_once(close_once_, [this] {
    if (!post([this] { begin_close(); })) {
      std::lock_guard lock(inbox_mutex_);
      stop_loop_ = true;
    }
    if (thread_.joinable()) {
      thread_.join();
    }
    std::lock_guard lock(mutex_);
    for (auto& [id, s] : streams_) {
      s->set_status(PartitionState::closed);
    }
  });
}

void AmqpEventSource::Impl::begin_close() {
  phase_ = Phase::closing;
  for (auto& [id, p] : partitions_) {
    p->channel().set_status(PartitionState::closed);
  }
  cbs_.lost("the source is closing");
  management_.lost("the source is closing");
  auto waiting = std::move(management_waiting_);
  management_waiting_.clear();
  for (auto& w : waiting) {
    w.second(failure(std::string("the source is closing")));
  }
  if (connection_ != nullptr && open_) {
    // A clean close: the service sees the links and the connection closed, not a dropped
    // socket. on_transport_close ends the loop, or the deadline does.
    for (auto& [id, p] : partitions_) {
      p->close();
    }
    pn_connection_close(connection_);
    io_->flush(connection_);
    schedule(kCloseDeadline, [this] { stop_loop_ = true; });
  } else {
    stop_loop_ = true;
  }
}

void AmqpEventSource::Impl::connect() {
  if (phase_ == Phase::closing || phase_ == Phase::failed) {
    return;
  }
  ++generation_;
  connection_ = pn_connection();
  pn_connection_set_container(connection_,
                              fmt::format("hub2kusto-{}", options_.receiver_name).c_str());
  pn_connection_set_hostname(connection_, target_.hostname.c_str());
  pn_data_t* properties = pn_connection_properties(connection_);
  pn_data_put_map(properties);
  pn_data_enter(properties);
  pn_data_put_symbol(properties, bytes_of("product"));
  pn_data_put_string(properties, bytes_of("hub2kusto"));
  pn_data_exit(properties);
  pn_transport_t* transport = pn_transport();
  pn_transport_set_idle_timeout(transport, static_cast<pn_millis_t>(options_.idle_timeout.count()));
  // CBS works with SASL ANONYMOUS (docs/protocols.md, "Claims-based security ($cbs)").
  pn_sasl_allowed_mechs(pn_sasl(transport), "ANONYMOUS");
  AmqpRoute route;
  route.network_host = target_.network_host;
  route.port = target_.port;
  route.hostname = target_.hostname;
  route.tls = target_.tls;
  route.ca_file = options_.ca_file;
  // Asked on every partition receiver, as current SDKs do (docs/protocols.md, "Receiver links
  // and start positions"); Proton cannot, so the io writes it into the attach.
  route.receiver_capabilities = {std::string(kGeoReplicationCapability)};
  if (transport_ == HubTransport::websockets) {
    // An IoT Hub's own host has its own path; its Event Hub-compatible endpoint is a namespace
    // (docs/protocols.md, "AMQP over WebSockets").
    route.websocket_path = target_.iot_front_end ? "/$iothub/websocket" : "/$servicebus/websocket";
  }
  if (const auto proxy = proxy_for(target_.network_host, options_.proxy)) {
    if (!proxy_ || proxy_->first != *proxy) {
      proxy_.emplace(*proxy, parse_proxy_url(*proxy));
    }
    const Result<ProxyUrl>& parsed = proxy_->second;
    if (!parsed) {
      pn_transport_free(transport);
      pn_connection_free(connection_);
      connection_ = nullptr;
      fail(fmt::format("{}: {}", options_.proxy ? "source.proxy" : "HTTPS_PROXY",
                       parsed.error().message));
      return;
    }
    route.proxy = *parsed;
  }
  pn_connection_open(connection_);
  log->debug("connecting to {}:{}{}{}", target_.network_host, target_.port,
             route.websocket_path ? " over WebSockets" : "",
             route.proxy ? " through the proxy " + route.proxy->label() : "");
  io_->connect(connection_, transport, route);
}

void AmqpEventSource::Impl::on_connection_open() {
  open_ = true;
  {
    std::lock_guard lock(inbox_mutex_);
    inbox_connection_ = connection_;
  }
  cbs_.open(connection_, "$cbs", generation_);
  put_token(false);
}

void AmqpEventSource::Impl::on_authorized() {
  if (phase_ == Phase::redirect) {
    // Attach anywhere under messages/events: the front end answers with the redirect
    // (docs/protocols.md, "IoT Hub").
    probe_ = std::make_unique<RedirectProbe>(*this);
    pn_session_t* session = pn_session(connection_);
    pn_session_open(session);
    pn_link_t* link = pn_receiver(session, "hub2kusto-redirect-probe");
    pn_terminus_set_address(pn_link_source(link), "messages/events/");
    pn_link_set_context(link, probe_.get());
    pn_link_open(link);
    return;
  }
  metrics.connections_opened.fetch_add(1, std::memory_order_relaxed);
  backoff_.reset();
  failing_since_.reset();
  endpoint_not_found_ = false;
  log->info("connected to {}", hub_label_);
  management_.open(connection_, target_.event_hub + "/$management", generation_);
  auto waiting = std::move(management_waiting_);
  management_waiting_.clear();
  for (auto& [message, reply] : waiting) {
    management_read_send(std::move(message), std::move(reply));
  }
  for (auto& [id, p] : partitions_) {
    p->attach();
  }
}

void AmqpEventSource::Impl::on_redirect(const Condition& condition) {
  if (phase_ != Phase::redirect) {
    return;
  }
  if (condition.name != "amqp:link:redirect") {
    fail(fmt::format("the IoT Hub front end {} refused the events endpoint instead of "
                     "redirecting to it ({})",
                     target_.hostname, condition.set() ? condition.what() : "no condition"));
    return;
  }
  RedirectInfo info;
  const auto text = [&](const char* key) {
    const auto it = condition.info_text.find(key);
    return it == condition.info_text.end() ? std::string() : it->second;
  };
  info.hostname = text("hostname");
  info.network_host = text("network-host");
  info.port = condition.info_port;
  info.address = text("address");
  auto redirect = resolve_redirect(info);
  if (!redirect) {
    fail(redirect.error().message);
    return;
  }
  metrics.redirects.fetch_add(1, std::memory_order_relaxed);
  // From here on the hub is an Event Hub (docs/protocols.md, "IoT Hub"): EH token rules, the same
  // policy and key.
  target_.network_host = redirect->network_host;
  target_.hostname = redirect->hostname;
  if (transport_ == HubTransport::amqp) {
    // Over WebSockets the endpoint is reached on the front end's port and security (443 and
    // TLS on Azure), whatever AMQP port the redirect names.
    target_.port = redirect->port;
    target_.tls = redirect->tls;
  }
  target_.event_hub = redirect->event_hub;
  target_.iot_front_end = false;
  redirected_ = true;
  hub_label_ = fmt::format("{}/{}", target_.hostname, target_.event_hub);
  {
    std::lock_guard lock(namespace_mutex_);
    event_hubs_namespace_ = target_.hostname;
  }
  phase_ = Phase::hub;
  redirect_just_followed_ = true;
  log->info("IoT Hub redirected to the Event Hub-compatible endpoint {}:{}", hub_label_,
            target_.port);
  pn_connection_close(connection_); // on_transport_close connects to the target at once
}

void AmqpEventSource::Impl::ask_for_redirect_again(const std::string& why) {
  log->warn("the Event Hub-compatible endpoint {} of the IoT Hub {}; asking {} for the "
            "redirect again (the endpoint moves after a failover)",
            hub_label_, why, iot_front_end_->hostname);
  metrics.redirects_refreshed.fetch_add(1, std::memory_order_relaxed);
  target_ = *iot_front_end_;
  redirected_ = false;
  failing_since_.reset();
  endpoint_not_found_ = false;
  phase_ = Phase::redirect;
  hub_label_ = fmt::format("IoT Hub {}", iot_front_end_->hostname);
}

void AmqpEventSource::Impl::endpoint_not_found() {
  if (!iot_front_end_ || !redirected_ || connection_ == nullptr) {
    return;
  }
  endpoint_not_found_ = true;
  pn_connection_close(connection_); // on_transport_close asks for the redirect again
}

void AmqpEventSource::Impl::on_transport_close() {
  const bool was_open = open_ && authorized_;
  const bool just_redirected = redirect_just_followed_;
  redirect_just_followed_ = false;
  open_ = authorized_ = false;
  {
    std::lock_guard lock(inbox_mutex_);
    inbox_connection_ = nullptr;
    if (!inbox_.empty()) {
      io_->interrupt(nullptr); // a wake sent to the dying connection may be lost
    }
  }
  connection_ = nullptr; // the io frees it after this batch
  ++generation_;
  probe_.reset();
  if (phase_ == Phase::closing) {
    stop_loop_ = true;
    return;
  }
  const std::string why = fmt::format("the connection to {} was lost", hub_label_);
  cbs_.lost(why);
  management_.lost(why);
  const std::string error = last_error();
  const std::string status = error.empty() ? why : fmt::format("{} ({})", why, error);
  for (auto& [id, p] : partitions_) {
    p->connection_lost(status);
  }
  if (phase_ == Phase::failed) {
    return;
  }
  if (was_open) {
    metrics.connections_lost.fetch_add(1, std::memory_order_relaxed);
  }
  if (iot_front_end_ && redirected_ && !just_redirected) {
    const auto now = clock_.steady_now();
    if (!failing_since_) {
      failing_since_ = now;
    }
    // The endpoint the redirect named refused us, said the hub is not there, or keeps failing:
    // after an IoT Hub failover it has a new name and address, so ask the front end again.
    const bool refused = !was_open;
    if (refused || endpoint_not_found_ ||
        now - *failing_since_ >= options_.redirect_refresh_after) {
      ask_for_redirect_again(
          refused ? "refused the connection"
          : endpoint_not_found_
              ? "does not know the hub"
              : fmt::format(
                    "kept failing for {} ms",
                    std::chrono::duration_cast<milliseconds>(now - *failing_since_).count()));
    }
  }
  // Just redirected: go to the target now. Otherwise back off, with jitter.
  const milliseconds delay = just_redirected ? milliseconds(0) : backoff_.next();
  if (!just_redirected) {
    log->warn("{} ({}); reconnecting in {} ms", why, last_error().empty() ? "closed" : last_error(),
              delay.count());
  }
  const std::uint64_t generation = generation_;
  schedule(delay, [this, generation] {
    if (generation == generation_) {
      connect();
    }
  });
}

void AmqpEventSource::Impl::fail(std::string message) {
  if (phase_ == Phase::failed || phase_ == Phase::closing) {
    return;
  }
  phase_ = Phase::failed;
  log->error("{}", message);
  {
    std::lock_guard lock(mutex_);
    fatal_ = Error{message};
  }
  for (auto& [id, p] : partitions_) {
    p->fail(message);
  }
  auto waiting = std::move(management_waiting_);
  management_waiting_.clear();
  for (auto& w : waiting) {
    w.second(failure(message));
  }
  cbs_.lost(message);
  management_.lost(message);
  if (connection_ != nullptr) {
    pn_connection_close(connection_);
    io_->flush(connection_);
  }
}

void AmqpEventSource::Impl::management_read(std::string type, std::optional<PartitionId> partition,
                                            ManagementReply reply) {
  if (phase_ == Phase::failed || phase_ == Phase::closing) {
    reply(failure(fatal_error().value_or(Error{"the event source is closed"}).message));
    return;
  }
  proton::message m;
  m.properties().put("operation", std::string("READ"));
  m.properties().put("type", type);
  if (partition) {
    m.properties().put("partition", partition->value());
  }
  if (!ready()) {
    management_waiting_.emplace_back(std::move(m), std::move(reply));
    return;
  }
  management_read_send(std::move(m), std::move(reply));
}

void AmqpEventSource::Impl::management_read_send(proton::message message, ManagementReply reply) {
  metrics.management_requests.fetch_add(1, std::memory_order_relaxed);
  // The hub's name is known only once a redirect is followed; it is set now. Every SDK sends
  // the token it put on $cbs with each management request too (docs/protocols.md,
  // "Management requests").
  message.properties().put("name", target_.event_hub);
  message.properties().put("security_token", last_token_.reveal());
  management_.request(std::move(message), [this, reply = std::move(reply)](auto answer) {
    if (!answer) {
      reply(failure(answer.error().message));
      return;
    }
    const int status = status_code(*answer);
    if (status < 200 || status > 299) {
      reply(failure(fmt::format("the management node of {} answered {}: {}{}", hub_label_, status,
                                status_description(*answer),
                                status == 401 ? unauthorized_hint() : "")));
      return;
    }
    try {
      ManagementBody body;
      proton::get(answer->body(), body);
      reply(std::move(body));
    } catch (const std::exception& e) {
      reply(failure(fmt::format("the management node of {} sent a body that is not a map: {}",
                                hub_label_, e.what())));
    }
  });
}

Result<ManagementBody> AmqpEventSource::Impl::management_call(std::string type,
                                                              std::optional<PartitionId> partition,
                                                              milliseconds timeout) {
  auto promise = std::make_shared<std::promise<Result<ManagementBody>>>();
  auto answer = promise->get_future();
  const bool posted = post([this, promise, type = std::move(type), partition] {
    management_read(type, partition, [promise](Result<ManagementBody> body) {
      promise->set_value(std::move(body));
    });
  });
  if (!posted) {
    return failure(fmt::format("the event source for {} is closed", hub_label_));
  }
  if (answer.wait_for(timeout) != std::future_status::ready) {
    if (auto fatal = fatal_error()) {
      return failure(fatal->message);
    }
    const std::string last = last_error();
    return failure(fmt::format("no answer from the management node of {} within {} ms{}{}",
                               hub_label_, timeout.count(),
                               last.empty() ? "" : "; last error: ", last));
  }
  try {
    return answer.get();
  } catch (const std::exception&) {
    return failure(fmt::format("the event source for {} closed before it answered", hub_label_));
  }
}

std::shared_ptr<PartitionStream> AmqpEventSource::Impl::open_partition(const PartitionId& id,
                                                                       const StartPosition& start) {
  std::shared_ptr<PartitionChannel> channel;
  {
    std::lock_guard lock(mutex_);
    if (auto it = streams_.find(id); it != streams_.end()) {
      return it->second;
    }
    channel = std::make_shared<PartitionChannel>(id, options_.credit);
    if (options_.budget) {
      channel->use_budget(options_.budget);
    }
    streams_.emplace(id, channel);
  }
  // The reader made room: the top-up runs on the AMQP thread. post() fails once the source is
  // closed, and the channel stops asking once its stream is stopped.
  channel->on_room([this, id] {
    post([this, id] {
      if (auto it = partitions_.find(id); it != partitions_.end()) {
        it->second->top_up();
      }
    });
  });
  const bool posted = post([this, channel, start] {
    auto receiver = std::make_unique<PartitionReceiver>(*this, channel, start);
    if (phase_ == Phase::failed) {
      receiver->fail(fatal_error().value_or(Error{"the event source failed"}).message);
    } else if (phase_ == Phase::closing) {
      channel->set_status(PartitionState::closed);
    }
    auto& r = *(partitions_[channel->partition()] = std::move(receiver));
    r.attach();
  });
  if (!posted) {
    channel->set_status(PartitionState::closed);
  }
  return channel;
}

void AmqpEventSource::Impl::close_partition(const PartitionId& id) {
  std::shared_ptr<PartitionChannel> channel;
  {
    std::lock_guard lock(mutex_);
    const auto it = streams_.find(id);
    if (it == streams_.end()) {
      return;
    }
    channel = std::move(it->second);
    streams_.erase(it);
  }
  channel->set_status(PartitionState::closed);
  post([this, channel] {
    const auto it = partitions_.find(channel->partition());
    if (it == partitions_.end() || &it->second->channel() != channel.get()) {
      return;
    }
    it->second->close();
    retired_.push_back(std::move(it->second));
    partitions_.erase(it);
  });
}

} // namespace hub2kusto::hub
