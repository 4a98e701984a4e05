#include "server_impl.hpp"

namespace hub2kusto::emulator {

AttachWitness::AttachWitness(pn_transport_t* transport, std::vector<std::string> wanted)
    : transport_(transport), wanted_(std::move(wanted)) {
  pn_logger_t* logger = pn_transport_logger(transport_);
  pn_logger_set_log_sink(logger, &AttachWitness::sink, reinterpret_cast<intptr_t>(this));
  pn_logger_set_mask(logger, PN_SUBSYSTEM_AMQP, PN_LEVEL_FRAME);
}

AttachWitness::~AttachWitness() {
  pn_logger_t* logger = pn_transport_logger(transport_);
  pn_logger_reset_mask(logger, PN_SUBSYSTEM_ALL, PN_LEVEL_ALL);
  pn_logger_set_log_sink(
      logger, [](intptr_t, pn_log_subsystem_t, pn_log_level_t, const char*) {}, 0);
}

// An incoming attach reads, in Proton's trace:
//   <- @attach(18) [name="...", handle=0, role=true, ...,
//      desired-capabilities=@PN_SYMBOL[:"com.microsoft:georeplication"], properties={...}]
// Desired capabilities are the attach's 13th field, followed only by its properties.
void AttachWitness::sink(intptr_t self, pn_log_subsystem_t, pn_log_level_t, const char* message) {
  const std::string_view m(message);
  if (m.find("<- @attach(18)") == std::string_view::npos) {
    return;
  }
  const auto name_at = m.find("name=\"");
  if (name_at == std::string_view::npos) {
    return;
  }
  const auto name_from = name_at + 6;
  const auto name_end = m.find('"', name_from);
  std::string_view asked;
  if (const auto at = m.find("desired-capabilities="); at != std::string_view::npos) {
    asked = m.substr(at);
    asked = asked.substr(0, asked.find(", properties="));
  }
  reinterpret_cast<AttachWitness*>(self)
      ->asked_[std::string(m.substr(name_from, name_end - name_from))] = std::string(asked);
}

std::string AttachWitness::missing(const std::string& link_name) const {
  const auto it = asked_.find(link_name);
  for (const std::string& w : wanted_) {
    if (it == asked_.end() || it->second.find(":\"" + w + "\"") == std::string::npos) {
      return w;
    }
  }
  return {};
}

void Server::Impl::refuse(pn_link_t* link, const std::string& condition,
                          const std::string& description) {
  // attach with null source and target, then detach with the error (docs/protocols.md, "Receiver
  // links and start positions").
  pn_terminus_set_type(pn_link_source(link), PN_UNSPECIFIED);
  pn_terminus_set_type(pn_link_target(link), PN_UNSPECIFIED);
  pn_link_open(link);
  pn_condition_set_name(pn_link_condition(link), condition.c_str());
  pn_condition_set_description(pn_link_condition(link), description.c_str());
  pn_link_close(link);
}

void Server::Impl::accept(pn_link_t* link) {
  pn_terminus_copy(pn_link_source(link), pn_link_remote_source(link));
  pn_terminus_copy(pn_link_target(link), pn_link_remote_target(link));
  if (pn_link_is_sender(link) && pn_link_remote_snd_settle_mode(link) == PN_SND_SETTLED) {
    pn_link_set_snd_settle_mode(link, PN_SND_SETTLED);
  }
  // Producers size their batches by the max-message-size of this attach (the JS SDK makes
  // an empty batch of a 0, "unlimited", answer), so announce the real limit.
  pn_link_set_max_message_size(link, config.max_message_size);
  pn_link_open(link);
  if (pn_link_is_receiver(link)) {
    pn_link_flow(link, config.link_credit);
  }
}

std::optional<std::string> Server::Impl::filter_expression(pn_link_t* link) {
  pn_data_t* f = pn_terminus_filter(pn_link_remote_source(link));
  if (f == nullptr) {
    return std::nullopt;
  }
  pn_data_rewind(f);
  if (!pn_data_next(f) || pn_data_type(f) != PN_MAP) {
    return std::nullopt;
  }
  pn_data_enter(f);
  while (pn_data_next(f)) { // key
    pn_data_next(f);        // value: described(descriptor, string)
    if (pn_data_type(f) != PN_DESCRIBED) {
      continue;
    }
    pn_data_enter(f);
    pn_data_next(f); // descriptor: ulong 0x468C00000004 or the symbol, both accepted
    pn_data_next(f);
    std::optional<std::string> expr;
    if (pn_data_type(f) == PN_STRING) {
      expr = bytes_of(pn_data_get_string(f));
    }
    pn_data_exit(f);
    if (expr) {
      return expr;
    }
  }
  return std::nullopt;
}

void Server::Impl::read_link_properties(pn_link_t* link, LinkState& ls) {
  pn_data_t* p = pn_link_remote_properties(link); // null when the attach has none
  if (p == nullptr) {
    return;
  }
  pn_data_rewind(p);
  if (!pn_data_next(p) || pn_data_type(p) != PN_MAP) {
    return;
  }
  pn_data_enter(p);
  while (pn_data_next(p)) {
    const std::string key = pn_data_type(p) == PN_SYMBOL ? bytes_of(pn_data_get_symbol(p)) : "";
    pn_data_next(p);
    if (key == "com.microsoft:epoch") {
      if (pn_data_type(p) == PN_LONG) {
        ls.epoch = pn_data_get_long(p);
      } else if (pn_data_type(p) == PN_INT) {
        ls.epoch = pn_data_get_int(p);
      }
    } else if (key == "com.microsoft:receiver-name" && pn_data_type(p) == PN_STRING) {
      ls.receiver_name = bytes_of(pn_data_get_string(p));
    }
  }
}

std::vector<pn_link_t*> Server::Impl::consumers_of(const Partition* p, const std::string& cg,
                                                   pn_link_t* except) {
  std::vector<pn_link_t*> out;
  for (auto& [l, ls] : links) {
    if (l != except && ls.kind == LinkKind::consumer && ls.partition == p &&
        ls.consumer_group == cg && !ls.pending_close && !(pn_link_state(l) & PN_LOCAL_CLOSED)) {
      out.push_back(l);
    }
  }
  return out;
}

void Server::Impl::close_elsewhere(pn_link_t* link, const std::string& condition,
                                   const std::string& description) {
  links[link].pending_close = std::make_pair(condition, description);
  pn_connection_wake(pn_session_connection(pn_link_session(link)));
}

bool Server::Impl::admit_consumer(pn_link_t* link, LinkState& ls) {
  const auto existing = consumers_of(ls.partition, ls.consumer_group, link);
  std::optional<std::int64_t> highest;
  std::size_t non_epoch = 0;
  for (pn_link_t* l : existing) {
    const auto& e = links[l].epoch;
    if (e) {
      highest = std::max(highest.value_or(*e), *e);
    } else {
      ++non_epoch;
    }
  }
  if (ls.epoch) {
    if (highest && *ls.epoch < *highest) {
      refuse(link, "amqp:link:stolen",
             "Receiver '" + ls.receiver_name + "' with a higher epoch '" +
                 std::to_string(*highest) + "' already exists. Receiver '" + ls.receiver_name +
                 "' with epoch " + std::to_string(*ls.epoch) +
                 " cannot be created. Make sure you are creating receiver with increasing "
                 "epoch value to ensure connectivity, or ensure all old epoch receivers are "
                 "closed or disconnected.");
      return false;
    }
    for (pn_link_t* l : existing) { // equal or lower epochs, and non-epoch receivers, lose
      const LinkState& old = links[l];
      close_elsewhere(l, "amqp:link:stolen",
                      "New receiver '" + ls.receiver_name + "' with higher epoch of '" +
                          std::to_string(*ls.epoch) + "' is created hence current receiver '" +
                          old.receiver_name + "' with epoch '" +
                          (old.epoch ? std::to_string(*old.epoch) : std::string("0")) +
                          "' is getting disconnected. If you are recreating the receiver, make "
                          "sure a higher epoch is used.");
    }
    return true;
  }
  if (highest) {
    refuse(link, "amqp:link:stolen",
           "At least one receiver for the endpoint is created with epoch of '" +
               std::to_string(*highest) +
               "', and so non-epoch receiver is not allowed. Either reconnect with a higher "
               "epoch, or make sure all epoch receivers are closed or disconnected.");
    return false;
  }
  if (non_epoch >= 5) {
    refuse(link, "amqp:resource-limit-exceeded",
           "Exceeded the maximum number of allowed receivers per partition in a consumer "
           "group which is 5.");
    return false;
  }
  return true;
}

void Server::Impl::on_link_open(pn_link_t* link) {
  pn_connection_t* c = pn_session_connection(pn_link_session(link));
  LinkState& ls = links[link];
  ls.link = link;
  connections[c].links.push_back(link);
  const bool we_send = pn_link_is_sender(link);
  const std::string address =
      terminus_address(we_send ? pn_link_remote_source(link) : pn_link_remote_target(link));
  const std::string path = entity_path(address);
  ls.path = path;
  const auto parts = split(path, '/');
  if (trace) {
    std::fprintf(stderr, "eventhubs-emulator: attach %s '%s' (%s)\n", we_send ? "from" : "to",
                 address.c_str(), pn_link_name(link));
  }

  if (path == "$cbs") {
    ls.kind = we_send ? LinkKind::cbs_replies : LinkKind::cbs_requests;
    accept(link);
    return;
  }
  if (path == "$management" || (parts.size() == 2 && parts[1] == "$management")) {
    ls.kind = we_send ? LinkKind::mgmt_replies : LinkKind::mgmt_requests;
    accept(link);
    return;
  }
  if (connections[c].iothub) {
    if (we_send) {
      redirect_iothub(c, link, path);
    } else {
      accept_device_producer(c, link, ls, parts);
    }
    return;
  }
  Hub* hub = parts.empty() ? nullptr : find_hub(parts[0]);
  const std::string resource = "sb://" + lower(config.namespace_name) + "/" + lower(path);
  if (!authorized(c, path)) {
    refuse(link, "amqp:unauthorized-access",
           std::string("Unauthorized access. '") + (we_send ? "Listen" : "Send") +
               "' claim(s) are required to perform this operation. Resource: '" + resource + "'.");
    return;
  }
  if (hub == nullptr) {
    refuse(link, "amqp:not-found",
           "The messaging entity '" + config.namespace_name +
               ":eventhub:" + (parts.empty() ? std::string() : parts[0]) + "' could not be found.");
    return;
  }
  ls.hub = hub;
  if (!we_send) {
    // A producer: <hub> or <hub>/Partitions/<id>.
    ls.kind = LinkKind::producer;
    if (parts.size() == 3 && lower(parts[1]) == "partitions") {
      ls.partition = hub->partition(parts[2]);
      if (ls.partition == nullptr) {
        refuse(link, "com.microsoft:argument-out-of-range",
               "The specified partition is invalid for an EventHub partition sender or "
               "receiver.");
        return;
      }
    } else if (parts.size() != 1) {
      refuse(link, "amqp:not-found", "The messaging entity '" + path + "' could not be found.");
      return;
    }
    accept(link);
    return;
  }
  // A consumer: <hub>/ConsumerGroups/<cg>/Partitions/<id>.
  ls.kind = LinkKind::consumer;
  if (parts.size() != 5 || lower(parts[1]) != "consumergroups" || lower(parts[3]) != "partitions") {
    refuse(link, "amqp:not-found", "The messaging entity '" + path + "' could not be found.");
    return;
  }
  if (!hub->has_consumer_group(parts[2])) {
    refuse(link, "amqp:not-found",
           "The messaging entity '" + config.namespace_name + ":eventhub:" + hub->name + "|" +
               parts[2] + "' could not be found.");
    return;
  }
  ls.consumer_group = lower(parts[2]);
  ls.partition = hub->partition(parts[4]);
  if (ls.partition == nullptr) {
    refuse(link, "com.microsoft:argument-out-of-range",
           "The specified partition is invalid for an EventHub partition sender or receiver.");
    return;
  }
  StartSelector selector; // no filter: the start of the stream
  if (const auto expr = filter_expression(link)) {
    const auto parsed = parse_start_selector(*expr);
    if (!parsed) {
      refuse(link, "com.microsoft:argument-error", "Invalid filter expression '" + *expr + "'.");
      return;
    }
    selector = *parsed;
  }
  if (const auto& attaches = connections[c].attaches; attaches != nullptr) {
    if (const std::string missing = attaches->missing(pn_link_name(link)); !missing.empty()) {
      refuse(link, "amqp:precondition-failed",
             "The receiver did not ask for the desired capability '" + missing + "'.");
      return;
    }
  }
  read_link_properties(link, ls);
  if (!admit_consumer(link, ls)) {
    return;
  }
  ls.next = ls.partition->start_sequence(selector);
  ls.presettled = pn_link_remote_snd_settle_mode(link) == PN_SND_SETTLED;
  ++ls.partition->consumer_attaches;
  accept(link);
}

void Server::Impl::pump(pn_link_t* link) {
  LinkState& ls = links[link];
  if (ls.kind != LinkKind::consumer || ls.partition == nullptr ||
      (pn_link_state(link) & PN_LOCAL_CLOSED)) {
    return;
  }
  // A lapsed token stops delivery until a put-token renews it (docs/protocols.md, "Claims-based
  // security ($cbs)"); see on_cbs_request.
  if (paused || pn_link_credit(link) <= 0 ||
      !authorized(pn_session_connection(pn_link_session(link)), ls.path)) {
    return;
  }
  Partition& p = *ls.partition;
  ls.next = std::max(ls.next, p.begin_sequence()); // past the retention: the oldest kept
  // A bounded burst per link, then the rest after the proactor has written what is queued:
  // a whole window of credit at once piles its frames up in the transport's output buffer,
  // which Proton compacts after every partial socket write.
  for (int burst = 0; pn_link_credit(link) > 0; ++burst) {
    const StoredEvent* e = p.at(ls.next);
    if (e == nullptr) {
      break;
    }
    if (burst == kMaxBurst) {
      pn_connection_wake(pn_session_connection(pn_link_session(link)));
      break;
    }
    if (latency_ms > 0 && e->enqueued_ms + latency_ms > now_ms()) {
      arm_timer(e->enqueued_ms + latency_ms); // the timeout wakes every consumer
      break;
    }
    ++ls.next;
    ++p.deliveries;
    send_bytes(link, e->message, ls.presettled);
  }
}

auto Server::Impl::service_annotations(const StoredEvent& e, const std::string& device_id)
    -> std::vector<Annotation> {
  std::vector<Annotation> out = {{"x-opt-sequence-number", e.sequence_number},
                                 {"x-opt-offset", std::to_string(e.offset)},
                                 {"x-opt-enqueued-time", proton::timestamp(e.enqueued_ms)}};
  if (!e.partition_key.empty()) {
    out.emplace_back("x-opt-partition-key", e.partition_key);
  }
  if (!device_id.empty()) {
    out.emplace_back("iothub-connection-device-id", device_id);
    out.emplace_back("iothub-connection-auth-method",
                     std::string(R"({"scope":"hub","type":"sas","issuer":"iothub",)"
                                 R"("acceptingIpFilterRule":null})"));
    out.emplace_back("iothub-connection-auth-generation-id", std::string("638000000000000000"));
    out.emplace_back("iothub-enqueuedtime", proton::timestamp(e.enqueued_ms));
    out.emplace_back("iothub-message-source", std::string("Telemetry"));
  }
  return out;
}

std::string Server::Impl::stamp(const std::string& produced, const StoredEvent& e,
                                const std::string& device_id) {
  const auto added = service_annotations(e, device_id);
  try {
    proton::message m;
    m.decode(std::vector<char>(produced.begin(), produced.end()));
    auto& annotations = m.message_annotations();
    for (const auto& [name, value] : added) {
      std::visit([&](const auto& v) { annotations.put(proton::symbol(name), v); }, value);
    }
    return encode(m);
  } catch (const proton::error&) {
    // Proton's C++ message keeps application properties as scalars and refuses a described
    // value there, which AMQP allows and the service forwards as it came: such a message is
    // stamped through the C API, which keeps every value.
    return stamp_keeping_every_value(produced, added);
  }
}

std::string Server::Impl::stamp_keeping_every_value(const std::string& produced,
                                                    const std::vector<Annotation>& added) {
  pn_message_t* m = pn_message();
  std::string out;
  if (pn_message_decode(m, produced.data(), produced.size()) == 0) {
    pn_data_t* annotations = pn_message_annotations(m);
    // Existing annotations stay; the service's are appended (producers may not set them).
    pn_data_rewind(annotations);
    if (!pn_data_next(annotations)) {
      pn_data_put_map(annotations);
    }
    pn_data_rewind(annotations);
    pn_data_next(annotations);
    pn_data_enter(annotations);
    std::vector<std::string> present; // keys the producer set (x-opt-partition-key)
    for (bool key = true; pn_data_next(annotations); key = !key) {
      if (key && pn_data_type(annotations) == PN_SYMBOL) {
        const pn_bytes_t b = pn_data_get_symbol(annotations);
        present.emplace_back(b.start, b.size);
      }
    }
    for (const auto& [name, value] : added) {
      if (std::find(present.begin(), present.end(), name) != present.end()) {
        continue;
      }
      pn_data_put_symbol(annotations, pn_bytes(name.size(), name.data()));
      if (const auto* n = std::get_if<std::int64_t>(&value)) {
        pn_data_put_long(annotations, *n);
      } else if (const auto* text = std::get_if<std::string>(&value)) {
        pn_data_put_string(annotations, pn_bytes(text->size(), text->data()));
      } else {
        pn_data_put_timestamp(annotations, std::get<proton::timestamp>(value).milliseconds());
      }
    }
    pn_data_exit(annotations);
    std::vector<char> buffer(produced.size() + 1024);
    std::size_t size = buffer.size();
    while (pn_message_encode(m, buffer.data(), &size) == PN_OVERFLOW) {
      buffer.resize(buffer.size() * 2);
      size = buffer.size();
    }
    out.assign(buffer.data(), size);
  }
  pn_message_free(m);
  return out.empty() ? produced : out;
}

void Server::Impl::enqueue(Partition& p, const std::string& produced,
                           const std::string& partition_key, const std::string& device_id,
                           std::int64_t now) {
  StoredEvent& e = p.append(produced, partition_key, now);
  e.message = stamp(produced, e, device_id);
  if (const auto it = log_of.find(&p); it != log_of.end() && !it->second->append(e)) {
    std::fprintf(stderr,
                 "eventhubs-emulator: cannot write partition %s to the data "
                 "directory\n",
                 p.id.c_str());
  }
}

void Server::Impl::arm_timer(std::int64_t due_ms) {
  if (!timer_due_ms || due_ms < *timer_due_ms) {
    timer_due_ms = due_ms;
    pn_proactor_set_timeout(proactor,
                            static_cast<pn_millis_t>(std::max<std::int64_t>(due_ms - now_ms(), 0)));
  }
}

void Server::Impl::on_timer() {
  timer_due_ms.reset();
  const std::int64_t now = now_ms();
  for (auto& [c, cs] : connections) {
    if (!cs.grants.empty() || cs.opened_ms == 0 || (pn_connection_state(c) & PN_LOCAL_CLOSED)) {
      continue;
    }
    if (now >= cs.opened_ms + config.auth_grace_ms) {
      pn_condition_t* cond = pn_connection_condition(c);
      pn_condition_set_name(cond, "amqp:unauthorized-access");
      const std::string why = "The connection was closed because no valid token was put on "
                              "$cbs within " +
                              std::to_string(config.auth_grace_ms) + " ms of opening it.";
      pn_condition_set_description(cond, why.c_str());
      to_close.push_back(c);
      pn_connection_wake(c);
    } else {
      arm_timer(cs.opened_ms + config.auth_grace_ms);
    }
  }
  wake_consumers();
}

void Server::Impl::on_produced(pn_link_t* link, pn_delivery_t* d, const std::string& bytes) {
  LinkState& ls = links[link];
  if (bytes.size() > config.max_message_size) {
    pn_condition_t* cond = pn_disposition_condition(pn_delivery_local(d));
    pn_condition_set_name(cond, "amqp:link:message-size-exceeded");
    const std::string description = "The received message (size:" + std::to_string(bytes.size()) +
                                    " bytes) exceeds the limit (" +
                                    std::to_string(config.max_message_size) +
                                    " bytes) currently allowed on the link.";
    pn_condition_set_description(cond, description.c_str());
    pn_delivery_update(d, PN_REJECTED);
    return;
  }
  std::vector<Section> sections;
  if (!split_sections(bytes, sections)) {
    pn_condition_t* cond = pn_disposition_condition(pn_delivery_local(d));
    pn_condition_set_name(cond, "amqp:decode-error");
    pn_condition_set_description(cond, "The message could not be decoded.");
    pn_delivery_update(d, PN_REJECTED);
    return;
  }
  std::string key;
  std::vector<std::string> inner;
  bool batch = true;
  for (const auto& s : sections) {
    if (s.code == kSectionMessageAnnotations) {
      key = annotation_partition_key(s.raw);
    } else if (s.code == kSectionData) {
      std::string payload = section_binary(s.raw);
      std::vector<Section> inner_sections;
      if (!split_sections(payload, inner_sections)) {
        batch = false;
      }
      inner.push_back(std::move(payload));
    } else if (s.code == kSectionValue || s.code == kSectionSequence) {
      batch = false; // a batch envelope's body is data sections only
    }
  }
  batch = batch && !inner.empty();
  if (trace) {
    std::fprintf(stderr, "eventhubs-emulator: transfer of %zu bytes: %s of %zu\n", bytes.size(),
                 batch ? "batch" : "single event", batch ? inner.size() : std::size_t{1});
  }
  const std::int64_t now = now_ms();
  std::vector<Partition*> touched;
  // Device telemetry is partitioned by device (IoT Hub does the same) and carries no key.
  const std::string& route_key = ls.device_id.empty() ? key : ls.device_id;
  auto store = [&](const std::string& message, const std::string& partition_key) {
    Partition& p = ls.partition != nullptr ? *ls.partition : ls.hub->route(route_key);
    enqueue(p, message, partition_key, ls.device_id, now);
    if (std::find(touched.begin(), touched.end(), &p) == touched.end()) {
      touched.push_back(&p);
    }
  };
  if (batch) {
    for (const auto& m : inner) {
      store(m, key);
    }
  } else {
    store(bytes, key);
  }
  pn_delivery_update(d, PN_ACCEPTED);
  // Wake the connections of consumers that can now see new events.
  for (auto& [l, state] : links) {
    if (state.kind == LinkKind::consumer &&
        std::find(touched.begin(), touched.end(), state.partition) != touched.end()) {
      pn_connection_wake(pn_session_connection(pn_link_session(l)));
    }
  }
}

void Server::Impl::on_delivery(pn_delivery_t* d) {
  pn_link_t* link = pn_delivery_link(d);
  if (pn_link_is_sender(link)) {
    if (pn_delivery_remote_state(d) != 0 || pn_delivery_settled(d)) {
      pn_delivery_settle(d); // outcomes are ignored: no redelivery (docs/protocols.md, "Receiver
                             // links and start positions")
    }
    return;
  }
  if (!pn_delivery_readable(d) || pn_delivery_partial(d)) {
    return;
  }
  std::string bytes(pn_delivery_pending(d), '\0');
  std::size_t got = 0;
  while (true) {
    if (got == bytes.size()) {
      bytes.resize(bytes.size() + 4096);
    }
    const ssize_t n = pn_link_recv(link, bytes.data() + got, bytes.size() - got);
    if (n <= 0) {
      break;
    }
    got += static_cast<std::size_t>(n);
  }
  bytes.resize(got);
  pn_link_advance(link);
  pn_connection_t* c = pn_session_connection(pn_link_session(link));
  const LinkState& ls = links[link];
  if (ls.kind == LinkKind::producer) {
    on_produced(link, d, bytes);
  } else {
    proton::message m;
    try {
      m.decode(std::vector<char>(bytes.begin(), bytes.end()));
    } catch (const std::exception&) {
      pn_delivery_update(d, PN_REJECTED);
      pn_delivery_settle(d);
      return;
    }
    pn_delivery_update(d, PN_ACCEPTED);
    if (ls.kind == LinkKind::cbs_requests) {
      on_cbs_request(c, m);
    } else if (ls.kind == LinkKind::mgmt_requests) {
      on_management_request(c, m);
    }
  }
  pn_delivery_settle(d);
  if (pn_link_credit(link) < config.link_credit / 2) {
    pn_link_flow(link, config.link_credit - pn_link_credit(link));
  }
}

void Server::Impl::forget_link(pn_link_t* link) {
  auto it = links.find(link);
  if (it == links.end()) {
    return;
  }
  pn_connection_t* c = pn_session_connection(pn_link_session(link));
  auto cit = connections.find(c);
  if (cit != connections.end()) {
    auto& v = cit->second.links;
    v.erase(std::remove(v.begin(), v.end(), link), v.end());
  }
  links.erase(it);
}

void Server::Impl::on_wake(pn_connection_t* c) {
  const auto it = connections.find(c);
  if (it == connections.end()) {
    return;
  }
  if (std::find(to_close.begin(), to_close.end(), c) != to_close.end()) {
    to_close.erase(std::remove(to_close.begin(), to_close.end(), c), to_close.end());
    pn_connection_close(c);
    return;
  }
  if (std::find(to_drop.begin(), to_drop.end(), c) != to_drop.end()) {
    to_drop.erase(std::remove(to_drop.begin(), to_drop.end(), c), to_drop.end());
    pn_transport_t* t = pn_connection_transport(c);
    pn_condition_t* cond = pn_transport_condition(t);
    pn_condition_set_name(cond, "amqp:connection:forced");
    pn_condition_set_description(cond, "The emulator dropped the connection (fault injection).");
    pn_transport_close_tail(t);
    pn_transport_close_head(t);
    return;
  }
  for (pn_link_t* l : std::vector<pn_link_t*>(it->second.links)) {
    LinkState& ls = links[l];
    if (ls.pending_close && !(pn_link_state(l) & PN_LOCAL_CLOSED)) {
      pn_condition_set_name(pn_link_condition(l), ls.pending_close->first.c_str());
      pn_condition_set_description(pn_link_condition(l), ls.pending_close->second.c_str());
      pn_link_close(l);
      continue;
    }
    pump(l);
  }
}

} // namespace hub2kusto::emulator
