#include "hub/amqp_event_source.hpp"

#include <proton/codec/encoder.hpp>
#include <proton/codec/map.hpp>
#include <proton/codec/vector.hpp>
#include <proton/connection.hpp>
#include <proton/connection_options.hpp>
#include <proton/container.hpp>
#include <proton/delivery.hpp>
#include <proton/error_condition.hpp>
#include <proton/map.hpp>
#include <proton/message.hpp>
#include <proton/message_id.hpp>
#include <proton/messaging_handler.hpp>
#include <proton/receiver.hpp>
#include <proton/receiver_options.hpp>
#include <proton/sender.hpp>
#include <proton/sender_options.hpp>
#include <proton/session.hpp>
#include <proton/source.hpp>
#include <proton/source_options.hpp>
#include <proton/ssl.hpp>
#include <proton/target_options.hpp>
#include <proton/timestamp.hpp>
#include <proton/transport.hpp>
#include <proton/value.hpp>
#include <proton/work_queue.hpp>

#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "common/logging.hpp"
#include "common/sas_token.hpp"
#include "hub/conditions.hpp"
#include "hub/message_decoder.hpp"
#include "hub/redirect.hpp"
#include "hub/selector.hpp"
#include "hub/timer_queue.hpp"

namespace hub2kusto::hub {

std::string_view partition_state_name(PartitionState state) {
  switch (state) {
  case PartitionState::starting: return "starting";
  case PartitionState::receiving: return "receiving";
  case PartitionState::recovering: return "recovering";
  case PartitionState::stolen: return "stolen";
  case PartitionState::failed: return "failed";
  case PartitionState::closed: return "closed";
  }
  return "unknown";
}

namespace {

using std::chrono::milliseconds;
using ManagementBody = std::map<std::string, proton::value>;
using ManagementReply = std::function<void(Result<ManagementBody>)>;

// The selector filter's descriptor: apache.org domain 0x468C, code 4 (eventhubs-amqp.md §5.1).
constexpr std::uint64_t kSelectorFilterCode = 0x0000468C00000004ULL;

proton::value selector_filter(const std::string& expression) {
  proton::value v;
  proton::codec::encoder e(v);
  e << proton::codec::start::described() << kSelectorFilterCode << expression
    << proton::codec::finish();
  return v;
}

std::string text_of(const proton::value& v) {
  if (v.type() == proton::STRING) {
    return proton::get<std::string>(v);
  }
  if (v.type() == proton::SYMBOL) {
    return std::string(proton::get<proton::symbol>(v));
  }
  return {};
}

// Where a connection goes and how it proves itself.
struct Target {
  std::string network_host; // TCP connect
  std::uint16_t port = 5671;
  bool tls = true;
  std::string hostname;   // AMQP open hostname, TLS server name, SAS resource host
  std::string event_hub;  // empty on the IoT Hub front end
  bool iot_front_end = false;
  std::string key_name;
  Secret key;             // Event Hubs: the key text; IoT Hub front end: base64
  Secret prebuilt;        // a SharedAccessSignature from the connection string
  std::chrono::sys_seconds prebuilt_expiry{};

  std::string url() const {
    const bool v6 = network_host.find(':') != std::string::npos;
    return fmt::format("{}://{}{}{}:{}", tls ? "amqps" : "amqp", v6 ? "[" : "", network_host,
                       v6 ? "]" : "", port);
  }
  // The CBS audience and SAS resource: the hub (eventhubs-amqp.md §3.3), or the IoT Hub host.
  std::string audience() const {
    return iot_front_end ? hostname : fmt::format("sb://{}/{}", hostname, event_hub);
  }
};

// A request/response link pair on one node ($cbs or $management), AMQP thread only. Every
// request's callback is called exactly once: with the reply, or with why there is none.
class RequestResponseLink final : public proton::messaging_handler {
public:
  using Reply = std::function<void(Result<proton::message>)>;

  explicit RequestResponseLink(std::string reply_prefix) : reply_prefix_(std::move(reply_prefix)) {}

  void open(proton::connection& connection, const std::string& node, std::uint64_t generation) {
    node_ = node;
    reply_to_ = fmt::format("{}-{}", reply_prefix_, generation);
    proton::session session = connection.open_session();
    sender_ = session.open_sender(
        node_, proton::sender_options().handler(*this).name(reply_to_ + "-requests"));
    proton::target_options reply_target;
    reply_target.address(reply_to_);
    receiver_ = session.open_receiver(
        node_, proton::receiver_options().handler(*this).name(reply_to_).credit_window(16).target(
                   reply_target));
    open_ = true;
  }
  bool is_open() const { return open_; }

  void request(proton::message message, Reply reply) {
    if (!open_) {
      reply(failure(fmt::format("the {} link is not open", node_)));
      return;
    }
    std::string id = fmt::format("{}-{}", reply_to_, next_id_++);
    message.id(id);
    message.reply_to(reply_to_);
    message.to(node_);
    queued_.push_back({std::move(message), std::move(id), std::move(reply)});
    flush();
  }

  // The connection or the link is gone: every outstanding request fails with `why`.
  void lost(const std::string& why) {
    open_ = false;
    auto queued = std::move(queued_);
    auto awaiting = std::move(awaiting_);
    queued_.clear();
    awaiting_.clear();
    for (auto& q : queued) {
      q.reply(failure(why));
    }
    for (auto& [id, reply] : awaiting) {
      reply(failure(why));
    }
  }

  void on_sendable(proton::sender&) override { flush(); }

  void on_message(proton::delivery&, proton::message& message) override {
    const std::string id = proton::to_string(message.correlation_id());
    const auto it = awaiting_.find(id);
    if (it == awaiting_.end()) {
      return; // a reply to a request given up on
    }
    Reply reply = std::move(it->second);
    awaiting_.erase(it);
    reply(std::move(message));
  }

  void on_sender_close(proton::sender& s) override { closed(s.error()); }
  void on_receiver_close(proton::receiver& r) override { closed(r.error()); }
  void on_sender_error(proton::sender&) override {}
  void on_receiver_error(proton::receiver&) override {}
  void on_session_error(proton::session&) override {}
  void on_error(const proton::error_condition&) override {}

private:
  struct Queued {
    proton::message message;
    std::string id;
    Reply reply;
  };

  void flush() {
    while (open_ && !queued_.empty() && sender_.active() && sender_.credit() > 0) {
      Queued q = std::move(queued_.front());
      queued_.pop_front();
      sender_.send(q.message);
      awaiting_.emplace(std::move(q.id), std::move(q.reply));
    }
  }

  void closed(const proton::error_condition& error) {
    if (open_) {
      lost(fmt::format("the service closed the {} link{}{}", node_, error ? ": " : "",
                       error ? error.what() : ""));
    }
  }

  std::string reply_prefix_;
  std::string node_;
  std::string reply_to_;
  proton::sender sender_;
  proton::receiver receiver_;
  bool open_ = false;
  std::uint64_t next_id_ = 0;
  std::deque<Queued> queued_;
  std::unordered_map<std::string, Reply> awaiting_;
};

int status_code(const proton::message& reply) {
  const proton::scalar code = reply.properties().get("status-code");
  if (code.empty()) {
    const proton::scalar alt = reply.properties().get("statusCode");
    return alt.empty() ? 0 : proton::coerce<int>(alt);
  }
  return proton::coerce<int>(code);
}

std::string status_description(const proton::message& reply) {
  const proton::scalar d = reply.properties().get("status-description");
  return d.type() == proton::STRING ? proton::get<std::string>(d) : std::string();
}

// Thread-safe entry to the AMQP thread that can be switched off before the source is
// destroyed, so a stream read after close() posts nothing to a dead container.
//
// While a connection is open, work goes to that connection's proton::work_queue, as Proton's
// cpp/docs/mt.md prescribes: it runs in the connection's context, so frames it produces (a
// credit top-up) are written at once. Between connections it goes in through
// container::schedule with no delay: a container-backed proton::work_queue does not wake the
// proactor in Proton 0.37 (work waited for the next I/O event, a heartbeat seconds later).
// With one container thread all of it runs serialised with every handler event.
class WorkPort {
public:
  explicit WorkPort(proton::container& container) : container_(&container) {}
  bool post(proton::work fn) {
    std::lock_guard lock(mutex_);
    if (container_ == nullptr) {
      return false;
    }
    if (connection_ != nullptr && connection_->add(fn)) {
      return true;
    }
    container_->schedule(proton::duration(0), std::move(fn));
    return true;
  }
  // AMQP thread: the open connection's queue, or nullptr once it is gone.
  void set_connection(proton::work_queue* queue) {
    std::lock_guard lock(mutex_);
    connection_ = queue;
  }
  void disable() {
    std::lock_guard lock(mutex_);
    container_ = nullptr;
    connection_ = nullptr;
  }

private:
  std::mutex mutex_;
  proton::container* container_;
  proton::work_queue* connection_ = nullptr;
};

} // namespace

class PartitionReceiver;

// The connection's handler and the owner of everything on the AMQP thread.
class AmqpEventSource::Impl final : public proton::messaging_handler {
public:
  Impl(HubOptions options, const Clock& clock, RandomSource& random);
  ~Impl() override;

  // Any thread.
  Result<ManagementBody> management_call(std::string type, std::optional<PartitionId> partition,
                                         milliseconds timeout);
  std::shared_ptr<PartitionStream> open_partition(const PartitionId& id, const StartPosition& start);
  void close();
  std::optional<Error> fatal_error() const {
    std::lock_guard lock(mutex_);
    return fatal_;
  }
  const std::string& hub_label() const { return hub_label_; }

  // AMQP thread (used by PartitionReceiver).
  // Runs `fn` on the AMQP thread once `delay` has passed on the injected clock.
  void schedule(milliseconds delay, std::function<void()> fn) {
    timers_.add(clock_.steady_now() + delay, std::move(fn));
  }
  // Runs `fn` on the AMQP thread after the events being handled now (a zero-delay timer).
  void defer(proton::work fn) { container_.schedule(proton::duration(0), std::move(fn)); }
  // Wraps work run in the container's context (a timer, a hand-off from another thread) so
  // that frames it produced leave now: a no-op on the connection's own work queue wakes the
  // connection, whose event batch writes its output.
  proton::work run_then_flush(std::function<void()> fn) {
    return [this, fn = std::move(fn)] {
      fn();
      if (open_) {
        connection_.work_queue().add([] {});
      }
    };
  }
  bool ready() const { return open_ && authorized_ && phase_ == Phase::hub; }
  bool closing() const { return phase_ == Phase::closing; }
  proton::connection& connection() { return connection_; }
  void management_read(std::string type, std::optional<PartitionId> partition,
                       ManagementReply reply);
  void management_read_send(proton::message message, ManagementReply reply);
  const HubOptions& options() const { return options_; }
  const Target& target() const { return target_; }
  RandomSource& random() { return random_; }
  HubMetrics metrics;
  std::shared_ptr<spdlog::logger> log = logger("hub");

  // proton::messaging_handler, AMQP thread.
  void on_connection_open(proton::connection& c) override;
  void on_connection_error(proton::connection& c) override;
  void on_transport_error(proton::transport& t) override;
  void on_transport_close(proton::transport& t) override;
  void on_session_error(proton::session&) override {}
  void on_error(const proton::error_condition& e) override { note_error(e.what()); }

  // The IoT Hub probe link's outcome (AMQP thread).
  void on_redirect(const proton::error_condition& condition);

private:
  enum class Phase { redirect, hub, closing, failed };

  void connect();
  void tick();
  void put_token(bool renewal);
  void on_token_reply(Result<proton::message> reply, bool renewal,
                      std::chrono::sys_seconds issued, std::chrono::sys_seconds expires);
  void on_authorized();
  void fail(std::string message);
  void note_error(std::string text) {
    std::lock_guard lock(mutex_);
    last_error_ = std::move(text);
  }
  std::string last_error() const {
    std::lock_guard lock(mutex_);
    return last_error_;
  }
  Result<SasToken> make_token() const;

  HubOptions options_;
  const Clock& clock_;
  RandomSource& random_;
  std::string hub_label_; // for messages: host/hub, no secrets

  proton::container container_;
  std::shared_ptr<WorkPort> port_;
  std::thread thread_;
  std::once_flag close_once_;
  TimerQueue timers_; // AMQP thread only

  // AMQP thread only.
  Phase phase_ = Phase::hub;
  Target target_;
  proton::connection connection_;
  std::uint64_t generation_ = 0; // one per connection attempt; stale timers compare it
  bool open_ = false;
  bool authorized_ = false;
  Backoff backoff_;
  RequestResponseLink cbs_{"hub2kusto-cbs"};
  RequestResponseLink management_{"hub2kusto-mgmt"};
  std::vector<std::pair<proton::message, ManagementReply>> management_waiting_;
  std::unique_ptr<proton::messaging_handler> probe_;
  bool redirected_ = false;
  std::map<PartitionId, std::unique_ptr<PartitionReceiver>> partitions_;

  // Any thread, under mutex_.
  mutable std::mutex mutex_;
  std::optional<Error> fatal_;
  std::string last_error_;
  std::map<PartitionId, std::shared_ptr<PartitionChannel>> streams_;
};

// One partition's link: the partition loop of the header comment. AMQP thread only.
class PartitionReceiver final : public proton::messaging_handler {
public:
  PartitionReceiver(AmqpEventSource::Impl& owner, std::shared_ptr<PartitionChannel> channel,
                    StartPosition start)
      : owner_(owner), channel_(std::move(channel)), start_(start),
        backoff_(owner.options().reconnect, owner.random()) {}

  bool linked() const { return linked_; }
  bool stopped() const { return channel_->status().stopped(); }
  PartitionChannel& channel() { return *channel_; }

  // Attach on the owner's connection from the resume position; the owner is ready().
  void attach() {
    if (linked_ || stopped() || !owner_.ready()) {
      return;
    }
    const auto last = channel_->last_received();
    if (!last && start_.kind == StartPosition::Kind::latest) {
      resolve_latest();
      return;
    }
    const StartPosition from = last ? StartPosition::after(*last) : start_;
    const auto& o = owner_.options();
    const std::string address =
        fmt::format("{}/ConsumerGroups/{}/Partitions/{}", owner_.target().event_hub,
                    o.consumer_group.value(), channel_->partition().value());
    proton::source::filter_map filters;
    filters.put(proton::symbol("apache.org:selector-filter:string"),
                selector_filter(selector_expression(from)));
    proton::source_options source;
    source.address(address).filters(filters);
    std::map<proton::symbol, proton::value> properties;
    properties[proton::symbol("com.microsoft:receiver-name")] = o.receiver_name;
    if (o.owner_level) {
      properties[proton::symbol("com.microsoft:epoch")] = static_cast<std::int64_t>(*o.owner_level);
    }
    proton::receiver_options options;
    options.handler(*this)
        .name(fmt::format("{}-{}-{}-{}", o.receiver_name, address, ++attaches_, owner_.hub_label()))
        .credit_window(0) // manual credit: PartitionChannel decides
        .delivery_mode(proton::delivery_mode::AT_MOST_ONCE) // Event Hubs ignores outcomes
        .source(source)
        .properties(properties);
    proton::session session = owner_.connection().open_session();
    link_ = session.open_receiver(address, options);
    linked_ = true;
    owner_.log->debug("partition {} of {}: attaching with {}", channel_->partition(),
                      owner_.hub_label(), selector_expression(from));
  }

  // The reader made room: grant credit if in flight fell to the low watermark.
  void top_up() {
    if (!attached_) {
      return;
    }
    if (const std::size_t n = channel_->grant(PartitionChannel::GrantReason::top_up); n > 0) {
      link_.add_credit(static_cast<int>(n));
      owner_.metrics.credit_grants.fetch_add(1, std::memory_order_relaxed);
    }
  }

  void connection_lost() {
    linked_ = attached_ = false;
    link_ = proton::receiver();
    channel_->link_lost();
    if (!stopped()) {
      channel_->set_status(PartitionState::recovering);
    }
  }

  void close() {
    if (linked_ && link_.active()) {
      link_.close();
    }
  }

  void fail(const std::string& reason) {
    if (!stopped()) {
      owner_.metrics.partitions_failed.fetch_add(1, std::memory_order_relaxed);
      channel_->set_status(PartitionState::failed, reason);
    }
  }

  void on_receiver_open(proton::receiver& r) override {
    if (r.source().address().empty()) {
      return; // a refusal: the detach with its condition follows (§5.3)
    }
    attached_ = true;
    channel_->set_status(PartitionState::receiving);
    owner_.log->info("partition {} of {}: receiving", channel_->partition(), owner_.hub_label());
    if (const std::size_t n = channel_->grant(PartitionChannel::GrantReason::attach); n > 0) {
      r.add_credit(static_cast<int>(n));
      owner_.metrics.credit_grants.fetch_add(1, std::memory_order_relaxed);
    }
  }

  void on_message(proton::delivery& d, proton::message& m) override {
    auto event = decode_event(m, channel_->partition());
    if (!event) {
      // An event we cannot position cannot be skipped silently: stop the partition here.
      owner_.log->error("{}; partition stopped", event.error().message);
      fail(event.error().message);
      d.receiver().close();
      return;
    }
    if (!first_event_seen_) {
      first_event_seen_ = true;
      backoff_.reset();
    }
    owner_.metrics.events_received.fetch_add(1, std::memory_order_relaxed);
    owner_.metrics.bytes_received.fetch_add(event->body.size(), std::memory_order_relaxed);
    if (channel_->push(std::move(event).value()) && !wake_pending_) {
      // Wake the reader after this burst of transfers, not on every one: the zero-delay
      // timer runs once the current batch of connection events is handled.
      wake_pending_ = true;
      owner_.defer([this] {
        wake_pending_ = false;
        channel_->wake_reader();
      });
    }
  }

  void on_receiver_error(proton::receiver&) override {} // handled in on_receiver_close
  void on_session_error(proton::session&) override {}
  void on_error(const proton::error_condition&) override {}

  void on_receiver_close(proton::receiver& r) override {
    const proton::error_condition error = r.error();
    r.session().close();
    linked_ = attached_ = false;
    first_event_seen_ = false;
    link_ = proton::receiver();
    channel_->link_lost();
    if (owner_.closing() || stopped()) {
      return;
    }
    const std::string reason =
        error ? fmt::format("{}: {}", error.name(), error.description()) : "detached without a condition";
    const auto& p = channel_->partition();
    switch (classify_condition(error.name())) {
    case ConditionAction::retry: {
      const milliseconds delay = backoff_.next();
      owner_.metrics.reattaches.fetch_add(1, std::memory_order_relaxed);
      channel_->set_status(PartitionState::recovering);
      owner_.log->warn("partition {} of {} detached ({}); re-attaching in {} ms", p,
                       owner_.hub_label(), reason, delay.count());
      retry_after(delay);
      break;
    }
    case ConditionAction::stolen:
      owner_.metrics.partitions_stolen.fetch_add(1, std::memory_order_relaxed);
      channel_->set_status(PartitionState::stolen, reason);
      owner_.log->warn("partition {} of {} was taken by another receiver and stops here ({})", p,
                       owner_.hub_label(), reason);
      break;
    case ConditionAction::redirect:
    case ConditionAction::fatal:
      owner_.log->error("partition {} of {} stopped: {}", p, owner_.hub_label(), reason);
      fail(reason);
      break;
    }
  }

private:
  void retry_after(milliseconds delay) {
    const std::uint64_t attempt = attaches_;
    owner_.schedule(delay, [this, attempt] {
      if (attempt == attaches_) {
        attach();
      }
    });
  }

  // `latest` means after the last event enqueued when we first attach; the partition's
  // information pins it to a sequence number so a reconnect before the first event does not
  // skip what arrived meanwhile.
  void resolve_latest() {
    linked_ = true; // no second attach while the answer is outstanding
    owner_.management_read(
        "com.microsoft:partition", channel_->partition(), [this](Result<ManagementBody> body) {
          linked_ = false;
          if (owner_.closing() || stopped()) {
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
          owner_.log->warn("partition {} of {}: could not read the latest position ({}); "
                           "retrying in {} ms",
                           channel_->partition(), owner_.hub_label(),
                           body ? "no last_enqueued_sequence_number" : body.error().message,
                           delay.count());
          ++attaches_;
          retry_after(delay);
        });
  }

  AmqpEventSource::Impl& owner_;
  std::shared_ptr<PartitionChannel> channel_;
  StartPosition start_;
  Backoff backoff_;
  proton::receiver link_;
  bool linked_ = false;   // a link is open or being opened
  bool attached_ = false; // the service confirmed it
  bool first_event_seen_ = false;
  bool wake_pending_ = false;
  std::uint64_t attaches_ = 0;
};

namespace {
// The receiver attached under messages/events on the IoT Hub front end, only to be redirected.
class RedirectProbe final : public proton::messaging_handler {
public:
  explicit RedirectProbe(AmqpEventSource::Impl& owner) : owner_(owner) {}
  void on_receiver_close(proton::receiver& r) override { owner_.on_redirect(r.error()); }
  void on_receiver_error(proton::receiver&) override {}
  void on_session_error(proton::session&) override {}
  void on_error(const proton::error_condition&) override {}

private:
  AmqpEventSource::Impl& owner_;
};
} // namespace

AmqpEventSource::Impl::Impl(HubOptions options, const Clock& clock, RandomSource& random)
    : options_(std::move(options)), clock_(clock), random_(random),
      container_("hub2kusto"), port_(std::make_shared<WorkPort>(container_)), backoff_(options_.reconnect, random) {
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
  } else {
    const auto& iot = std::get<IotHubConnectionString>(options_.connection);
    target_.network_host = target_.hostname = iot.host;
    target_.port = iot.amqp_port();
    target_.tls = iot.uses_tls();
    target_.iot_front_end = true;
    target_.key_name = iot.key_name;
    target_.key = iot.key;
    phase_ = Phase::redirect;
    hub_label_ = fmt::format("IoT Hub {}", iot.host);
  }
  container_.auto_stop(false);
  thread_ = std::thread([this] {
    try {
      container_.run();
    } catch (const std::exception& e) {
      // A handler threw: nothing below may run any more; every partition says why.
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
  });
  port_->post([this] {
    if (target_.event_hub.empty() && !target_.iot_front_end) {
      fail("no Event Hub name: set EntityPath in the connection string or the event_hub setting");
      return;
    }
    connect();
    tick();
  });
}

AmqpEventSource::Impl::~Impl() { close(); }

// The timer tick: how finely backoffs and renewals are timed. It stops once closing, so the
// container has nothing pending and run() returns.
constexpr milliseconds kTick{20};

void AmqpEventSource::Impl::tick() {
  if (phase_ == Phase::closing) {
    timers_.clear();
    return;
  }
  if (timers_.run_due(clock_.steady_now()) > 0 && open_) {
    connection_.work_queue().add([] {}); // flush what the timers wrote (see run_then_flush)
  }
  container_.schedule(proton::duration(kTick.count()), [this] { tick(); });
}

void AmqpEventSource::Impl::close() {
  std::call_once(close_once_, [this] {
    const bool posted = port_->post(run_then_flush([this] {
      const bool was_open = open_;
      phase_ = Phase::closing;
      for (auto& [id, p] : partitions_) {
        p->channel().set_status(PartitionState::closed);
      }
      cbs_.lost("the source is closing");
      management_.lost("the source is closing");
      for (auto& w : management_waiting_) {
        w.second(failure(std::string("the source is closing")));
      }
      management_waiting_.clear();
      if (was_open) {
        // A clean close: the service sees the links and the connection closed, not a dropped
        // socket; on_transport_close then stops the container.
        for (auto& [id, p] : partitions_) {
          p->close();
        }
        connection_.close();
        open_ = true; // so run_then_flush writes the close frames
      } else {
        container_.stop();
      }
    }));
    if (!posted) {
      container_.stop();
    }
    if (thread_.joinable()) {
      thread_.join();
    }
    port_->disable();
    std::lock_guard lock(mutex_);
    for (auto& [id, s] : streams_) {
      s->set_status(PartitionState::closed);
    }
  });
}

Result<SasToken> AmqpEventSource::Impl::make_token() const {
  const auto now = std::chrono::time_point_cast<std::chrono::seconds>(clock_.system_now());
  if (!target_.prebuilt.empty() && !target_.iot_front_end && !redirected_) {
    if (target_.prebuilt_expiry <= now) {
      return failure(fmt::format("the SharedAccessSignature in the connection string for {} "
                                 "expired at {:%Y-%m-%dT%H:%M:%SZ}; a prebuilt signature cannot "
                                 "be renewed, so give a new one or a key",
                                 hub_label_, target_.prebuilt_expiry));
    }
    return SasToken{target_.prebuilt, target_.prebuilt_expiry};
  }
  const auto expires = now + options_.token_lifetime;
  if (target_.iot_front_end) {
    return make_iot_hub_sas_token(target_.audience(), target_.key_name, target_.key, expires);
  }
  return make_event_hubs_sas_token(target_.audience(), target_.key_name, target_.key, expires);
}

void AmqpEventSource::Impl::connect() {
  if (phase_ == Phase::closing || phase_ == Phase::failed) {
    return;
  }
  ++generation_;
  proton::connection_options o;
  o.handler(*this)
      .sasl_enabled(true)
      .sasl_allowed_mechs("ANONYMOUS") // CBS works with ANONYMOUS (eventhubs-amqp.md §3.1)
      .virtual_host(target_.hostname)
      .container_id(fmt::format("hub2kusto-{}", options_.receiver_name))
      .idle_timeout(proton::duration(options_.idle_timeout.count()))
      .properties({{proton::symbol("product"), proton::value(std::string("hub2kusto"))}});
  if (target_.tls) {
    o.ssl_client_options(options_.ca_file.empty()
                             ? proton::ssl_client_options()
                             : proton::ssl_client_options(options_.ca_file,
                                                          proton::ssl::VERIFY_PEER_NAME));
  }
  log->debug("connecting to {}", target_.url());
  connection_ = container_.connect(target_.url(), o);
}

void AmqpEventSource::Impl::on_connection_open(proton::connection& c) {
  open_ = true;
  port_->set_connection(&c.work_queue());
  cbs_.open(c, "$cbs", generation_);
  put_token(false);
}

void AmqpEventSource::Impl::put_token(bool renewal) {
  auto token = make_token();
  if (!token) {
    fail(token.error().message);
    return;
  }
  proton::message m;
  m.body(token->token.reveal());
  m.properties().put("operation", std::string("put-token"));
  m.properties().put("type", std::string("servicebus.windows.net:sastoken"));
  m.properties().put("name", target_.audience());
  const auto issued = std::chrono::time_point_cast<std::chrono::seconds>(clock_.system_now());
  const auto expires = token->expires_at;
  const std::uint64_t generation = generation_;
  cbs_.request(std::move(m), [this, generation, renewal, issued, expires](auto reply) {
    if (generation == generation_) {
      on_token_reply(std::move(reply), renewal, issued, expires);
    }
  });
}

void AmqpEventSource::Impl::on_token_reply(Result<proton::message> reply, bool renewal,
                                           std::chrono::sys_seconds issued,
                                           std::chrono::sys_seconds expires) {
  if (!reply) {
    return; // the connection went; on_transport_close reconnects and puts a token again
  }
  const int status = status_code(*reply);
  if (status != 200 && status != 202) {
    const std::string rule = target_.key_name.empty() ? std::string("(prebuilt signature)")
                                                      : "'" + target_.key_name + "'";
    fail(fmt::format("the hub refused the SAS token for rule {} on '{}' (status {}: {}); "
                     "check the key and the rule's Listen right",
                     rule, target_.audience(), status, status_description(*reply)));
    return;
  }
  if (renewal) {
    metrics.token_renewals.fetch_add(1, std::memory_order_relaxed);
    log->debug("token for {} renewed until {:%H:%M:%S}", hub_label_, expires);
  }
  const bool renewable = target_.prebuilt.empty() || target_.iot_front_end || redirected_;
  if (renewable) {
    const auto due = sas_renewal_time(issued, expires);
    const auto delay = std::max<milliseconds>(
        milliseconds(100),
        std::chrono::duration_cast<milliseconds>(due - clock_.system_now()));
    const std::uint64_t generation = generation_;
    schedule(delay, [this, generation] {
      if (generation == generation_ && open_ && phase_ != Phase::closing && phase_ != Phase::failed) {
        put_token(true);
      }
    });
  }
  if (!authorized_) {
    authorized_ = true;
    on_authorized();
  }
}

void AmqpEventSource::Impl::on_authorized() {
  if (phase_ == Phase::redirect) {
    // Attach anywhere under messages/events: the front end answers with the redirect (§8).
    auto probe = std::make_unique<RedirectProbe>(*this);
    proton::source_options source;
    source.address("messages/events/");
    connection_.open_session().open_receiver(
        "messages/events/", proton::receiver_options().handler(*probe).credit_window(0).source(source));
    probe_ = std::move(probe);
    return;
  }
  metrics.connections_opened.fetch_add(1, std::memory_order_relaxed);
  backoff_.reset();
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

void AmqpEventSource::Impl::on_redirect(const proton::error_condition& condition) {
  if (phase_ != Phase::redirect) {
    return;
  }
  if (condition.name() != "amqp:link:redirect") {
    fail(fmt::format("the IoT Hub front end {} refused the events endpoint instead of "
                     "redirecting to it ({}: {})",
                     target_.hostname, condition.name(), condition.description()));
    return;
  }
  RedirectInfo info;
  try {
    const proton::value properties = condition.properties();
    if (!properties.empty() && properties.type() == proton::MAP) {
      std::map<proton::symbol, proton::value> map;
      proton::get(properties, map);
      for (const auto& [key, value] : map) {
        if (key == "hostname") {
          info.hostname = text_of(value);
        } else if (key == "network-host") {
          info.network_host = text_of(value);
        } else if (key == "port" && !value.empty()) {
          info.port = proton::coerce<std::int64_t>(value);
        } else if (key == "address") {
          info.address = text_of(value);
        }
      }
    }
  } catch (const std::exception& e) {
    fail(fmt::format("the IoT Hub redirect could not be read: {}", e.what()));
    return;
  }
  auto redirect = resolve_redirect(info);
  if (!redirect) {
    fail(redirect.error().message);
    return;
  }
  metrics.redirects.fetch_add(1, std::memory_order_relaxed);
  // From here on the hub is an Event Hub (§8 step 5): EH token rules, the same policy and key.
  target_.network_host = redirect->network_host;
  target_.hostname = redirect->hostname;
  target_.port = redirect->port;
  target_.tls = redirect->tls;
  target_.event_hub = redirect->event_hub;
  target_.iot_front_end = false;
  redirected_ = true;
  hub_label_ = fmt::format("{}/{}", target_.hostname, target_.event_hub);
  phase_ = Phase::hub;
  log->info("IoT Hub redirected to the Event Hub-compatible endpoint {}:{}", hub_label_,
            target_.port);
  connection_.close(); // on_transport_close connects to the target at once
}

void AmqpEventSource::Impl::on_connection_error(proton::connection& c) {
  const proton::error_condition e = c.error();
  note_error(e.what());
  if (e.name() == "amqp:unauthorized-access") {
    fail(fmt::format("the hub {} closed the connection: {}", hub_label_, e.what()));
  }
}

void AmqpEventSource::Impl::on_transport_error(proton::transport& t) {
  note_error(t.error().what());
}

void AmqpEventSource::Impl::on_transport_close(proton::transport&) {
  const bool was_open = open_ && authorized_;
  open_ = authorized_ = false;
  port_->set_connection(nullptr);
  ++generation_;
  probe_.reset();
  if (phase_ == Phase::closing) {
    container_.stop();
    return;
  }
  const std::string why = fmt::format("the connection to {} was lost", hub_label_);
  cbs_.lost(why);
  management_.lost(why);
  for (auto& [id, p] : partitions_) {
    p->connection_lost();
  }
  if (phase_ == Phase::failed) {
    return;
  }
  if (redirected_ && metrics.connections_opened.load() == 0 && backoff_.attempts() == 0 &&
      metrics.redirects.load() == 1 && !was_open) {
    // Just redirected: go to the target now rather than after a backoff.
    backoff_.reset();
  }
  if (was_open && phase_ == Phase::hub) {
    metrics.connections_lost.fetch_add(1, std::memory_order_relaxed);
  }
  const milliseconds delay =
      (redirected_ && metrics.connections_opened.load() == 0 && backoff_.attempts() == 0)
          ? milliseconds(0)
          : backoff_.next();
  log->warn("{} ({}); reconnecting in {} ms", why, last_error().empty() ? "closed" : last_error(),
            delay.count());
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
  if (open_) {
    connection_.close();
  }
}

void AmqpEventSource::Impl::management_read(std::string type, std::optional<PartitionId> partition,
                                            ManagementReply reply) {
  if (phase_ == Phase::failed || phase_ == Phase::closing) {
    reply(failure(fatal_error().value_or(Error{"the source is closed"}).message));
    return;
  }
  proton::message m;
  m.properties().put("operation", std::string("READ"));
  m.properties().put("type", type);
  m.properties().put("name", target_.event_hub);
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
  // The hub name is only known once a redirect is followed; set it now.
  message.properties().put("name", target_.event_hub);
  management_.request(std::move(message), [this, reply = std::move(reply)](auto answer) {
    if (!answer) {
      reply(failure(answer.error().message));
      return;
    }
    const int status = status_code(*answer);
    if (status < 200 || status > 299) {
      reply(failure(fmt::format("the management node of {} answered {}: {}", hub_label_, status,
                                status_description(*answer))));
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
  const bool posted = port_->post(run_then_flush([this, promise, type = std::move(type), partition] {
    management_read(type, partition, [promise](Result<ManagementBody> body) {
      promise->set_value(std::move(body));
    });
  }));
  if (!posted) {
    return failure(fmt::format("the event source for {} is closed", hub_label_));
  }
  if (answer.wait_for(timeout) != std::future_status::ready) {
    if (auto fatal = fatal_error()) {
      return failure(fatal->message);
    }
    const std::string last = last_error();
    return failure(fmt::format("no answer from the management node of {} within {} ms{}{}",
                               hub_label_, timeout.count(), last.empty() ? "" : "; last error: ",
                               last));
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
    streams_.emplace(id, channel);
  }
  std::weak_ptr<WorkPort> port = port_;
  channel->on_room([this, port, id] {
    if (auto p = port.lock()) {
      p->post(run_then_flush([this, id] {
        if (auto it = partitions_.find(id); it != partitions_.end()) {
          it->second->top_up();
        }
      }));
    }
  });
  const bool posted = port_->post(run_then_flush([this, channel, start] {
    const PartitionId& pid = channel->partition();
    auto receiver = std::make_unique<PartitionReceiver>(*this, channel, start);
    if (phase_ == Phase::failed) {
      receiver->fail(fatal_error().value_or(Error{"the source failed"}).message);
    } else if (phase_ == Phase::closing) {
      channel->set_status(PartitionState::closed);
    }
    auto& r = *(partitions_[pid] = std::move(receiver));
    r.attach();
  }));
  if (!posted) {
    channel->set_status(PartitionState::closed);
  }
  return channel;
}

// ---- AmqpEventSource ----

AmqpEventSource::AmqpEventSource(HubOptions options, const Clock& clock, RandomSource& random)
    : impl_(std::make_unique<Impl>(std::move(options), clock, random)) {}

AmqpEventSource::~AmqpEventSource() { impl_->close(); }

void AmqpEventSource::close() { impl_->close(); }

const HubMetrics& AmqpEventSource::metrics() const { return impl_->metrics; }

std::optional<Error> AmqpEventSource::fatal_error() const { return impl_->fatal_error(); }

std::shared_ptr<PartitionStream> AmqpEventSource::open_partition(const PartitionId& partition,
                                                                 const StartPosition& start) {
  return impl_->open_partition(partition, start);
}

namespace {
template <typename T> T field(const ManagementBody& body, const char* name, T fallback = T{}) {
  const auto it = body.find(name);
  if (it == body.end() || it->second.empty()) {
    return fallback;
  }
  if constexpr (std::is_same_v<T, std::string>) {
    return text_of(it->second);
  } else if constexpr (std::is_same_v<T, Timestamp>) {
    return Timestamp(milliseconds(proton::get<proton::timestamp>(it->second).milliseconds()));
  } else {
    return proton::coerce<T>(it->second);
  }
}
} // namespace

Result<HubProperties> AmqpEventSource::hub_properties(milliseconds timeout) {
  auto body = impl_->management_call("com.microsoft:eventhub", std::nullopt, timeout);
  if (!body) {
    return failure(std::move(body).error());
  }
  try {
    HubProperties p;
    p.name = EventHubName(field<std::string>(*body, "name"));
    p.created_at = field<Timestamp>(*body, "created_at");
    if (auto it = body->find("partition_ids"); it != body->end()) {
      std::vector<std::string> ids;
      proton::get(it->second, ids);
      for (auto& id : ids) {
        p.partition_ids.emplace_back(std::move(id));
      }
    }
    return p;
  } catch (const std::exception& e) {
    return failure(fmt::format("the hub information of {} has an unexpected shape: {}",
                               impl_->hub_label(), e.what()));
  }
}

Result<PartitionProperties> AmqpEventSource::partition_properties(const PartitionId& partition,
                                                                  milliseconds timeout) {
  auto body = impl_->management_call("com.microsoft:partition", partition, timeout);
  if (!body) {
    return failure(std::move(body).error());
  }
  try {
    PartitionProperties p;
    p.partition = PartitionId(field<std::string>(*body, "partition", partition.value()));
    p.begin_sequence_number = SequenceNumber(field<std::int64_t>(*body, "begin_sequence_number", -1));
    p.last_enqueued_sequence_number =
        SequenceNumber(field<std::int64_t>(*body, "last_enqueued_sequence_number", -1));
    p.last_enqueued_offset = Offset(field<std::string>(*body, "last_enqueued_offset"));
    p.last_enqueued_time = field<Timestamp>(*body, "last_enqueued_time_utc");
    p.is_empty = field<bool>(*body, "is_partition_empty", false);
    return p;
  } catch (const std::exception& e) {
    return failure(fmt::format("the information of partition {} of {} has an unexpected shape: {}",
                               partition, impl_->hub_label(), e.what()));
  }
}

} // namespace hub2kusto::hub
