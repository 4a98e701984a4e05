#include "hub/amqp_internal.hpp"

namespace hub2kusto::hub {

void PartitionReceiver::attach() {
  if (linked_ || stopped() || !host_.ready()) {
    return;
  }
  const auto last = channel_->last_received();
  if (!last && start_.kind == StartPosition::Kind::latest) {
    resolve_latest();
    return;
  }
  const StartPosition from = last ? StartPosition::after(*last) : start_;
  const auto& o = host_.options();
  const std::string address =
      fmt::format("{}/ConsumerGroups/{}/Partitions/{}", host_.target().event_hub,
                  o.consumer_group.value(), channel_->partition().value());
  const std::string name = fmt::format("{}-{}-{}", o.receiver_name, address, ++attaches_);
  const std::string expression = selector_expression(from);

  pn_session_t* session = pn_session(host_.connection());
  pn_session_open(session);
  link_ = pn_receiver(session, name.c_str());
  pn_terminus_t* source = pn_link_source(link_);
  pn_terminus_set_address(source, address.c_str());
  pn_data_t* filter = pn_terminus_filter(source);
  pn_data_put_map(filter);
  pn_data_enter(filter);
  pn_data_put_symbol(filter, bytes_of("apache.org:selector-filter:string"));
  pn_data_put_described(filter);
  pn_data_enter(filter);
  pn_data_put_ulong(filter, kSelectorFilterCode);
  pn_data_put_string(filter, bytes_of(expression));
  pn_data_exit(filter);
  pn_data_exit(filter);
  pn_data_t* properties = pn_link_properties(link_);
  pn_data_put_map(properties);
  pn_data_enter(properties);
  pn_data_put_symbol(properties, bytes_of("com.microsoft:receiver-name"));
  pn_data_put_string(properties, bytes_of(o.receiver_name));
  if (o.owner_level) {
    pn_data_put_symbol(properties, bytes_of("com.microsoft:epoch"));
    pn_data_put_long(properties, *o.owner_level); // must be a long (docs/protocols.md, "Receiver
                                                  // links and start positions")
  }
  pn_data_exit(properties);
  pn_link_set_snd_settle_mode(link_,
                              PN_SND_SETTLED); // Event Hubs ignores outcomes (docs/protocols.md,
                                               // "Receiver links and start positions")
  pn_link_set_rcv_settle_mode(link_, PN_RCV_FIRST);
  pn_link_set_context(link_, this);
  pn_link_open(link_);
  linked_ = true;
  host_.hub_log().debug("partition {} of {}: attaching with {}", channel_->partition(),
                        host_.hub_label(), expression);
}

void PartitionReceiver::top_up() {
  if (!attached_) {
    return;
  }
  if (const std::size_t n = channel_->grant(PartitionChannel::GrantReason::top_up); n > 0) {
    pn_link_flow(link_, static_cast<int>(n));
    host_.hub_metrics().credit_grants.fetch_add(1, std::memory_order_relaxed);
  }
}

void PartitionReceiver::connection_lost(const std::string& why) {
  linked_ = attached_ = false;
  link_ = nullptr;
  channel_->link_lost();
  if (!stopped()) {
    channel_->set_status(PartitionState::recovering, why);
  }
}

void PartitionReceiver::close() {
  if (link_ != nullptr) {
    close_link(link_);
  }
  link_ = nullptr;
  linked_ = attached_ = false;
}

void PartitionReceiver::fail(const std::string& reason) {
  if (!stopped()) {
    host_.hub_metrics().partitions_failed.fetch_add(1, std::memory_order_relaxed);
    channel_->set_status(PartitionState::failed, reason);
  }
}

void PartitionReceiver::on_link_open(pn_link_t* link) {
  if (link != link_ || pn_terminus_get_address(pn_link_remote_source(link)) == nullptr) {
    return; // a refusal: the detach with its condition follows (docs/protocols.md, "Receiver
            // links and start positions")
  }
  attached_ = true;
  not_found_.clear();
  channel_->set_status(PartitionState::receiving);
  host_.hub_log().info("partition {} of {}: receiving", channel_->partition(), host_.hub_label());
  if (const std::size_t n = channel_->grant(PartitionChannel::GrantReason::attach); n > 0) {
    pn_link_flow(link, static_cast<int>(n));
    host_.hub_metrics().credit_grants.fetch_add(1, std::memory_order_relaxed);
  }
}

void PartitionReceiver::on_transfer(pn_link_t* link, std::string_view bytes) {
  if (link != link_ || stopped()) {
    return;
  }
  auto event = decode_event(bytes, channel_->partition());
  if (!event) {
    // An event we cannot position cannot be skipped silently: stop the partition here.
    host_.hub_log().error("{}; partition stopped", event.error().message);
    fail(event.error().message);
    close();
    return;
  }
  if (!first_event_seen_) {
    first_event_seen_ = true;
    backoff_.reset();
  }
  host_.hub_metrics().events_received.fetch_add(1, std::memory_order_relaxed);
  host_.hub_metrics().bytes_received.fetch_add(event->body.size(), std::memory_order_relaxed);
  if (channel_->push(std::move(event).value()) && !wake_pending_) {
    wake_pending_ = true;
    host_.after_batch([this] {
      wake_pending_ = false;
      channel_->wake_reader();
    });
  }
}

void PartitionReceiver::on_link_close(pn_link_t* link, const Condition& error) {
  if (link != link_) {
    return;
  }
  close();
  first_event_seen_ = false;
  channel_->link_lost();
  if (host_.closing() || stopped()) {
    return;
  }
  std::string reason = error.set() ? error.what() : "detached without a condition";
  if (error.name == "amqp:unauthorized-access") {
    reason += host_.unauthorized_hint();
  }
  const auto& p = channel_->partition();
  switch (classify_condition(error.name)) {
  case ConditionAction::retry: {
    const milliseconds delay = backoff_.next();
    host_.hub_metrics().reattaches.fetch_add(1, std::memory_order_relaxed);
    if (error.name == "amqp:not-found") {
      host_.endpoint_not_found(); // an IoT Hub's endpoint may have moved
      channel_->set_status(PartitionState::recovering, not_found_.empty() ? reason : not_found_);
      explain_not_found(reason);
    } else {
      channel_->set_status(PartitionState::recovering);
      host_.hub_log().warn("partition {} of {} detached ({}); re-attaching in {} ms", p,
                           host_.hub_label(), reason, delay.count());
    }
    retry_after(delay);
    break;
  }
  case ConditionAction::stolen:
    host_.hub_metrics().partitions_stolen.fetch_add(1, std::memory_order_relaxed);
    channel_->set_status(PartitionState::stolen, reason);
    host_.hub_log().warn("partition {} of {} was taken by another receiver and stops here ({})", p,
                         host_.hub_label(), reason);
    break;
  case ConditionAction::redirect:
  case ConditionAction::fatal:
    host_.hub_log().error("partition {} of {} stopped: {}", p, host_.hub_label(), reason);
    fail(reason);
    break;
  }
}

void PartitionReceiver::explain_not_found(const std::string& reason) {
  host_.management_read("com.microsoft:eventhub", std::nullopt,
                        [this, attempt = attaches_, reason](Result<ManagementBody> hub) {
                          if (!host_.closing() && !stopped() && attempt == attaches_ &&
                              !attached_) {
                            explained(hub ? nullptr : &hub.error(), reason);
                          }
                        });
}

void PartitionReceiver::explained(const Error* hub_error, const std::string& reason) {
  const auto& cg = host_.options().consumer_group.value();
  not_found_ =
      hub_error == nullptr
          ? fmt::format("consumer group '{}' does not exist in Event Hub {}: create it (az "
                        "eventhubs eventhub consumer-group create --name {} ...) or set "
                        "source.consumer_group; retrying",
                        cg, host_.hub_label(), cg)
          : fmt::format("Event Hub {} was not found ({}): check source.event_hub or the "
                        "connection string's EntityPath; retrying",
                        host_.hub_label(), hub_error->message);
  channel_->set_status(PartitionState::recovering, not_found_);
  if (host_.report_due(not_found_)) {
    host_.hub_log().error("partition {} (and any other that meets it): {} (the service said: {})",
                          channel_->partition(), not_found_, reason);
  }
}

void PartitionReceiver::retry_after(milliseconds delay) {
  const std::uint64_t attempt = attaches_;
  host_.schedule(delay, [this, attempt] {
    if (attempt == attaches_) {
      attach();
    }
  });
}

void PartitionReceiver::resolve_latest() {
  linked_ = true; // no second attach while the answer is outstanding
  host_.management_read(
      "com.microsoft:partition", channel_->partition(), [this](Result<ManagementBody> body) {
        linked_ = false;
        if (host_.closing() || stopped()) {
          return;
        }
        if (body) {
          const auto it = body->find("last_enqueued_sequence_number");
          if (it != body->end() && !it->second.empty()) {
            start_ = StartPosition::after(SequenceNumber(proton::coerce<std::int64_t>(it->second)));
            attach();
            return;
          }
        }
        const milliseconds delay = backoff_.next();
        host_.hub_log().warn("partition {} of {}: could not read the latest position ({}); "
                             "retrying in {} ms",
                             channel_->partition(), host_.hub_label(),
                             body ? "no last_enqueued_sequence_number" : body.error().message,
                             delay.count());
        ++attaches_;
        retry_after(delay);
      });
}

} // namespace hub2kusto::hub
