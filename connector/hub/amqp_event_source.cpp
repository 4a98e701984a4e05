#include "hub/amqp_event_source.hpp"

#include <proton/condition.h>
#include <proton/connection.h>
#include <proton/delivery.h>
#include <proton/event.h>
#include <proton/link.h>
#include <proton/proactor.h>
#include <proton/sasl.h>
#include <proton/session.h>
#include <proton/ssl.h>
#include <proton/terminus.h>
#include <proton/transport.h>

#include <proton/codec/map.hpp>
#include <proton/codec/vector.hpp>
#include <proton/map.hpp>
#include <proton/message.hpp>
#include <proton/message_id.hpp>
#include <proton/scalar.hpp>
#include <proton/timestamp.hpp>
#include <proton/value.hpp>

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
  case PartitionState::starting:
    return "starting";
  case PartitionState::receiving:
    return "receiving";
  case PartitionState::recovering:
    return "recovering";
  case PartitionState::stolen:
    return "stolen";
  case PartitionState::failed:
    return "failed";
  case PartitionState::closed:
    return "closed";
  }
  return "unknown";
}

namespace {

using std::chrono::milliseconds;
using ManagementBody = std::map<std::string, proton::value>;
using ManagementReply = std::function<void(Result<ManagementBody>)>;

// The selector filter's descriptor: apache.org domain 0x468C, code 4 (docs/protocols.md, "Receiver
// links and start positions").
constexpr std::uint64_t kSelectorFilterCode = 0x0000468C00000004ULL;
// How finely timers (backoffs, renewals) are run; the proactor wakes this often.
constexpr milliseconds kTick{20};
// How long a clean close may take before the connection is simply dropped.
constexpr milliseconds kCloseDeadline{2'000};

pn_bytes_t bytes_of(std::string_view s) {
  return pn_bytes(s.size(), s.data());
}

// An AMQP error condition, copied out of Proton.
struct Condition {
  std::string name;
  std::string description;
  std::map<std::string, std::string> info_text; // string-valued info entries (redirects)
  std::optional<std::int64_t> info_port;

  bool set() const { return !name.empty(); }
  std::string what() const {
    return description.empty() ? name : fmt::format("{}: {}", name, description);
  }
};

Condition condition_of(pn_condition_t* c) {
  Condition out;
  if (c == nullptr || !pn_condition_is_set(c)) {
    return out;
  }
  out.name = pn_condition_get_name(c) != nullptr ? pn_condition_get_name(c) : "";
  out.description =
      pn_condition_get_description(c) != nullptr ? pn_condition_get_description(c) : "";
  pn_data_t* info = pn_condition_info(c);
  pn_data_rewind(info);
  if (pn_data_next(info) && pn_data_type(info) == PN_MAP) {
    const std::size_t n = pn_data_get_map(info);
    pn_data_enter(info);
    for (std::size_t i = 0; i < n; i += 2) {
      pn_data_next(info);
      std::string key;
      if (pn_data_type(info) == PN_SYMBOL) {
        const pn_bytes_t k = pn_data_get_symbol(info);
        key.assign(k.start, k.size);
      } else if (pn_data_type(info) == PN_STRING) {
        const pn_bytes_t k = pn_data_get_string(info);
        key.assign(k.start, k.size);
      }
      pn_data_next(info);
      switch (pn_data_type(info)) {
      case PN_STRING: {
        const pn_bytes_t v = pn_data_get_string(info);
        out.info_text[key].assign(v.start, v.size);
        break;
      }
      case PN_SYMBOL: {
        const pn_bytes_t v = pn_data_get_symbol(info);
        out.info_text[key].assign(v.start, v.size);
        break;
      }
      case PN_INT:
        if (key == "port")
          out.info_port = pn_data_get_int(info);
        break;
      case PN_UINT:
        if (key == "port")
          out.info_port = pn_data_get_uint(info);
        break;
      case PN_LONG:
        if (key == "port")
          out.info_port = pn_data_get_long(info);
        break;
      case PN_USHORT:
        if (key == "port")
          out.info_port = pn_data_get_ushort(info);
        break;
      default:
        break;
      }
    }
    pn_data_exit(info);
  }
  return out;
}

// Where a connection goes and how it proves itself.
struct Target {
  std::string network_host; // TCP connect
  std::uint16_t port = 5671;
  bool tls = true;
  std::string hostname;  // AMQP open hostname, TLS server name, SAS resource host
  std::string event_hub; // empty on the IoT Hub front end
  bool iot_front_end = false;
  std::string key_name;
  Secret key;      // Event Hubs: the key text; IoT Hub front end: base64
  Secret prebuilt; // a SharedAccessSignature from the connection string
  std::chrono::sys_seconds prebuilt_expiry{};

  // The CBS audience and SAS resource: the hub (docs/protocols.md, "Claims-based security ($cbs)"),
  // or the IoT Hub host.
  std::string audience() const {
    return iot_front_end ? hostname : fmt::format("sb://{}/{}", hostname, event_hub);
  }
};

// Whoever opened a link gets its events; the link's context points to it.
class LinkOwner {
public:
  virtual ~LinkOwner() = default;
  virtual void on_link_open(pn_link_t*) {}
  virtual void on_link_close(pn_link_t* link, const Condition& condition) = 0;
  virtual void on_flow(pn_link_t*) {}
  virtual void on_transfer(pn_link_t*, std::string_view) {}
};

void close_link(pn_link_t* link) {
  if (link == nullptr) {
    return;
  }
  pn_link_set_context(link, nullptr);
  if (!(pn_link_state(link) & PN_LOCAL_CLOSED)) {
    pn_link_close(link);
  }
  pn_session_t* session = pn_link_session(link);
  if (!(pn_session_state(session) & PN_LOCAL_CLOSED)) {
    pn_session_close(session);
  }
}

// A request/response link pair on one node ($cbs or $management), AMQP thread only. Requests
// and replies are small and rare, so they are built and read with proton::message, a plain
// value type. Every request's callback is called exactly once: with the reply, or with why
// there is none.
class RequestResponseLink final : public LinkOwner {
public:
  using Reply = std::function<void(Result<proton::message>)>;

  explicit RequestResponseLink(std::string reply_prefix) : reply_prefix_(std::move(reply_prefix)) {}

  void open(pn_connection_t* connection, const std::string& node, std::uint64_t generation) {
    node_ = node;
    reply_to_ = fmt::format("{}-{}", reply_prefix_, generation);
    pn_session_t* session = pn_session(connection);
    pn_session_open(session);
    sender_ = pn_sender(session, (reply_to_ + "-requests").c_str());
    pn_terminus_set_address(pn_link_target(sender_), node_.c_str());
    pn_link_set_snd_settle_mode(sender_, PN_SND_SETTLED); // the reply is the outcome
    pn_link_set_context(sender_, this);
    pn_link_open(sender_);
    receiver_ = pn_receiver(session, reply_to_.c_str());
    pn_terminus_set_address(pn_link_source(receiver_), node_.c_str());
    pn_terminus_set_address(pn_link_target(receiver_), reply_to_.c_str());
    pn_link_set_context(receiver_, this);
    pn_link_open(receiver_);
    pn_link_flow(receiver_, 16);
    open_ = true;
  }
  bool is_open() const { return open_; }

  void request(proton::message message, Reply reply) {
    if (!open_) {
      reply(failure(fmt::format("the {} link is not open", node_)));
      return;
    }
    std::string id = fmt::format("{}-{}", reply_to_, next_id_++);
    message.id(proton::message_id(id));
    message.reply_to(reply_to_);
    message.to(node_);
    std::vector<char> bytes;
    message.encode(bytes);
    queued_.push_back({std::move(bytes), std::move(id), std::move(reply)});
    flush();
  }

  // The connection is gone (its links with it): every outstanding request fails with `why`.
  void lost(const std::string& why) {
    open_ = false;
    sender_ = receiver_ = nullptr;
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

  void on_flow(pn_link_t* link) override {
    if (link == sender_) {
      flush();
    }
  }

  void on_transfer(pn_link_t* link, std::string_view bytes) override {
    if (link != receiver_) {
      return;
    }
    pn_link_flow(receiver_, 1);
    proton::message reply;
    try {
      reply.decode(std::vector<char>(bytes.begin(), bytes.end()));
    } catch (const std::exception&) {
      return; // not a message: no request can be matched to it
    }
    const std::string id = proton::to_string(reply.correlation_id());
    const auto it = awaiting_.find(id);
    if (it == awaiting_.end()) {
      return; // a reply to a request given up on
    }
    Reply callback = std::move(it->second);
    awaiting_.erase(it);
    callback(std::move(reply));
  }

  void on_link_close(pn_link_t* link, const Condition& condition) override {
    if (open_ && (link == sender_ || link == receiver_)) {
      close_link(sender_);
      close_link(receiver_);
      lost(fmt::format("the service closed the {} link{}{}", node_, condition.set() ? ": " : "",
                       condition.what()));
    }
  }

private:
  struct Queued {
    std::vector<char> bytes;
    std::string id;
    Reply reply;
  };

  void flush() {
    while (open_ && !queued_.empty() && pn_link_credit(sender_) > 0) {
      Queued q = std::move(queued_.front());
      queued_.pop_front();
      const std::uint64_t tag = next_tag_++;
      pn_delivery_t* d =
          pn_delivery(sender_, pn_dtag(reinterpret_cast<const char*>(&tag), sizeof tag));
      pn_link_send(sender_, q.bytes.data(), q.bytes.size());
      pn_link_advance(sender_);
      pn_delivery_settle(d);
      awaiting_.emplace(std::move(q.id), std::move(q.reply));
    }
  }

  std::string reply_prefix_;
  std::string node_;
  std::string reply_to_;
  pn_link_t* sender_ = nullptr;
  pn_link_t* receiver_ = nullptr;
  bool open_ = false;
  std::uint64_t next_id_ = 0;
  std::uint64_t next_tag_ = 0;
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

std::string text_of(const proton::value& v) {
  if (v.type() == proton::STRING) {
    return proton::get<std::string>(v);
  }
  if (v.type() == proton::SYMBOL) {
    return std::string(proton::get<proton::symbol>(v));
  }
  return {};
}

} // namespace

class PartitionReceiver;

// Everything on the AMQP thread, and the doors into it.
class AmqpEventSource::Impl {
public:
  Impl(HubOptions options, const Clock& clock, RandomSource& random);
  ~Impl();

  // Any thread.
  bool post(std::function<void()> fn);
  Result<ManagementBody> management_call(std::string type, std::optional<PartitionId> partition,
                                         milliseconds timeout);
  std::shared_ptr<PartitionStream> open_partition(const PartitionId& id,
                                                  const StartPosition& start);
  void close();
  std::optional<Error> fatal_error() const {
    std::lock_guard lock(mutex_);
    return fatal_;
  }
  const std::string& hub_label() const { return hub_label_; }
  // The Event Hubs namespace host read from now (after an IoT Hub redirect, its target). Any
  // thread.
  std::string event_hubs_namespace() const {
    std::lock_guard lock(namespace_mutex_);
    return event_hubs_namespace_;
  }

  // AMQP thread (used by the link owners).
  void schedule(milliseconds delay, std::function<void()> fn) {
    timers_.add(clock_.steady_now() + delay, std::move(fn));
  }
  // Runs `fn` once the current batch of events is handled (a reader is woken once per burst).
  void after_batch(std::function<void()> fn) { after_batch_.push_back(std::move(fn)); }
  bool ready() const { return open_ && authorized_ && phase_ == Phase::hub; }
  bool closing() const { return phase_ == Phase::closing; }
  pn_connection_t* connection() const { return connection_; }
  void management_read(std::string type, std::optional<PartitionId> partition,
                       ManagementReply reply);
  const HubOptions& options() const { return options_; }
  const Target& target() const { return target_; }
  RandomSource& random() { return random_; }
  void on_redirect(const Condition& condition);
  // IoT Hub: the redirected endpoint failed; the next connection goes to the front end.
  void ask_for_redirect_again(const std::string& why);
  // A link on the redirected endpoint answered amqp:not-found. AMQP thread.
  void endpoint_not_found();
  // Whether `problem` was not logged in the last minute: a hub-wide problem is logged at ERROR
  // once a minute, however many partitions meet it. AMQP thread.
  bool report_due(const std::string& problem) {
    const auto now = clock_.steady_now();
    auto [it, added] = reported_.try_emplace(problem, now);
    if (!added && now - it->second < std::chrono::minutes(1)) {
      return false;
    }
    it->second = now;
    return true;
  }

  HubMetrics metrics;
  std::shared_ptr<spdlog::logger> log = logger("hub");

private:
  enum class Phase { redirect, hub, closing, failed };

  void run();
  bool handle(pn_event_t* e);
  void on_delivery(pn_delivery_t* d);
  void run_inbox();
  void tick();
  void wake_connection() {
    if (connection_ != nullptr && open_) {
      pn_connection_wake(connection_);
    }
  }
  void connect();
  void on_connection_open();
  void on_transport_close();
  void put_token(bool renewal);
  void on_token_reply(Result<proton::message> reply, bool renewal, std::chrono::sys_seconds issued,
                      std::chrono::sys_seconds expires);
  void on_authorized();
  void management_read_send(proton::message message, ManagementReply reply);
  void begin_close();
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
  // target_.hostname for other threads: the Event Hubs namespace now read from.
  mutable std::mutex namespace_mutex_;
  std::string event_hubs_namespace_;

  pn_proactor_t* proactor_ = nullptr;
  std::thread thread_;
  std::once_flag close_once_;

  // Work from other threads, under inbox_mutex_; the proactor is interrupted to run it.
  std::mutex inbox_mutex_;
  std::vector<std::function<void()>> inbox_;
  bool loop_ended_ = false;
  // The open connection, for waking it instead of the proactor: work then runs in the
  // connection's own batch and what it writes (credit) leaves at once. Set and cleared on the
  // AMQP thread, within the batch, before the proactor could free the connection.
  pn_connection_t* inbox_connection_ = nullptr;

  // AMQP thread only.
  Phase phase_ = Phase::hub;
  Target target_;
  // IoT Hub: the front end, to ask for the redirect again; set when the source is an IoT Hub.
  std::optional<Target> iot_front_end_;
  // Since when the redirected endpoint has failed without a connection getting authorised.
  std::optional<std::chrono::steady_clock::time_point> failing_since_;
  bool redirect_just_followed_ = false; // connect to the new endpoint at once
  bool endpoint_not_found_ = false;     // a link there answered amqp:not-found
  pn_connection_t* connection_ = nullptr;
  pn_ssl_domain_t* ssl_domain_ = nullptr;
  std::uint64_t generation_ = 0; // one per connection attempt; stale timers compare it
  bool open_ = false;
  bool authorized_ = false;
  bool stop_loop_ = false;
  Backoff backoff_;
  TimerQueue timers_;
  std::vector<std::function<void()>> after_batch_;
  std::string receive_buffer_; // one buffer for every transfer, keeping its capacity
  RequestResponseLink cbs_{"hub2kusto-cbs"};
  RequestResponseLink management_{"hub2kusto-mgmt"};
  Secret last_token_; // the token last put on $cbs, sent with management requests too
  std::vector<std::pair<proton::message, ManagementReply>> management_waiting_;
  std::unique_ptr<LinkOwner> probe_;
  bool redirected_ = false;
  std::map<PartitionId, std::unique_ptr<PartitionReceiver>> partitions_;
  std::map<std::string, std::chrono::steady_clock::time_point> reported_; // report_due()

  // Any thread, under mutex_.
  mutable std::mutex mutex_;
  std::optional<Error> fatal_;
  std::string last_error_;
  std::map<PartitionId, std::shared_ptr<PartitionChannel>> streams_;
};

// One partition's link: the partition loop of the header comment. AMQP thread only.
class PartitionReceiver final : public LinkOwner {
public:
  PartitionReceiver(AmqpEventSource::Impl& owner, std::shared_ptr<PartitionChannel> channel,
                    StartPosition start)
      : owner_(owner), channel_(std::move(channel)), start_(std::move(start)),
        backoff_(owner.options().reconnect, owner.random()) {}

  bool stopped() const { return channel_->status().stopped(); }
  PartitionChannel& channel() { return *channel_; }

  // Attaches on the owner's connection from the resume position, when the owner is ready().
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
    const std::string name = fmt::format("{}-{}-{}", o.receiver_name, address, ++attaches_);
    const std::string expression = selector_expression(from);

    pn_session_t* session = pn_session(owner_.connection());
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
    owner_.log->debug("partition {} of {}: attaching with {}", channel_->partition(),
                      owner_.hub_label(), expression);
  }

  // The reader made room: grant credit if in flight fell to the low watermark.
  void top_up() {
    if (!attached_) {
      return;
    }
    if (const std::size_t n = channel_->grant(PartitionChannel::GrantReason::top_up); n > 0) {
      pn_link_flow(link_, static_cast<int>(n));
      owner_.metrics.credit_grants.fetch_add(1, std::memory_order_relaxed);
    }
  }

  // The connection is gone, and every link of it.
  void connection_lost() {
    linked_ = attached_ = false;
    link_ = nullptr;
    channel_->link_lost();
    if (!stopped()) {
      channel_->set_status(PartitionState::recovering);
    }
  }

  void close() {
    if (link_ != nullptr) {
      close_link(link_);
    }
    link_ = nullptr;
    linked_ = attached_ = false;
  }

  void fail(const std::string& reason) {
    if (!stopped()) {
      owner_.metrics.partitions_failed.fetch_add(1, std::memory_order_relaxed);
      channel_->set_status(PartitionState::failed, reason);
    }
  }

  void on_link_open(pn_link_t* link) override {
    if (link != link_ || pn_terminus_get_address(pn_link_remote_source(link)) == nullptr) {
      return; // a refusal: the detach with its condition follows (docs/protocols.md, "Receiver
              // links and start positions")
    }
    attached_ = true;
    not_found_.clear();
    channel_->set_status(PartitionState::receiving);
    owner_.log->info("partition {} of {}: receiving", channel_->partition(), owner_.hub_label());
    if (const std::size_t n = channel_->grant(PartitionChannel::GrantReason::attach); n > 0) {
      pn_link_flow(link, static_cast<int>(n));
      owner_.metrics.credit_grants.fetch_add(1, std::memory_order_relaxed);
    }
  }

  void on_transfer(pn_link_t* link, std::string_view bytes) override {
    if (link != link_ || stopped()) {
      return;
    }
    auto event = decode_event(bytes, channel_->partition());
    if (!event) {
      // An event we cannot position cannot be skipped silently: stop the partition here.
      owner_.log->error("{}; partition stopped", event.error().message);
      fail(event.error().message);
      close();
      return;
    }
    if (!first_event_seen_) {
      first_event_seen_ = true;
      backoff_.reset();
    }
    owner_.metrics.events_received.fetch_add(1, std::memory_order_relaxed);
    owner_.metrics.bytes_received.fetch_add(event->body.size(), std::memory_order_relaxed);
    if (channel_->push(std::move(event).value()) && !wake_pending_) {
      wake_pending_ = true;
      owner_.after_batch([this] {
        wake_pending_ = false;
        channel_->wake_reader();
      });
    }
  }

  void on_link_close(pn_link_t* link, const Condition& error) override {
    if (link != link_) {
      return;
    }
    close();
    first_event_seen_ = false;
    channel_->link_lost();
    if (owner_.closing() || stopped()) {
      return;
    }
    const std::string reason = error.set() ? error.what() : "detached without a condition";
    const auto& p = channel_->partition();
    switch (classify_condition(error.name)) {
    case ConditionAction::retry: {
      const milliseconds delay = backoff_.next();
      owner_.metrics.reattaches.fetch_add(1, std::memory_order_relaxed);
      if (error.name == "amqp:not-found") {
        owner_.endpoint_not_found(); // an IoT Hub's endpoint may have moved
        channel_->set_status(PartitionState::recovering, not_found_.empty() ? reason : not_found_);
        explain_not_found(reason);
      } else {
        channel_->set_status(PartitionState::recovering);
        owner_.log->warn("partition {} of {} detached ({}); re-attaching in {} ms", p,
                         owner_.hub_label(), reason, delay.count());
      }
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
  // amqp:not-found on a receiver: the Event Hub or the consumer group does not exist (or an
  // IoT Hub's endpoint moved, which the owner handles). The management node tells which, as
  // it reads the hub without a consumer group. The partition keeps retrying, so it resumes on
  // its own once an operator creates what is missing; until then /readyz and one ERROR line a
  // minute say what is missing and how to fix it.
  void explain_not_found(const std::string& reason) {
    owner_.management_read("com.microsoft:eventhub", std::nullopt,
                           [this, attempt = attaches_, reason](Result<ManagementBody> hub) {
                             if (!owner_.closing() && !stopped() && attempt == attaches_ &&
                                 !attached_) {
                               explained(hub ? nullptr : &hub.error(), reason);
                             }
                           });
  }

  // `hub_error`: why the management node could not read the hub; null: it could.
  void explained(const Error* hub_error, const std::string& reason) {
    const auto& cg = owner_.options().consumer_group.value();
    not_found_ =
        hub_error == nullptr
            ? fmt::format("consumer group '{}' does not exist in Event Hub {}: create it (az "
                          "eventhubs eventhub consumer-group create --name {} ...) or set "
                          "source.consumer_group; retrying",
                          cg, owner_.hub_label(), cg)
            : fmt::format("Event Hub {} was not found ({}): check source.event_hub or the "
                          "connection string's EntityPath; retrying",
                          owner_.hub_label(), hub_error->message);
    channel_->set_status(PartitionState::recovering, not_found_);
    if (owner_.report_due(not_found_)) {
      owner_.log->error("partition {} (and any other that meets it): {} (the service said: {})",
                        channel_->partition(), not_found_, reason);
    }
  }

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
              start_ =
                  StartPosition::after(SequenceNumber(proton::coerce<std::int64_t>(it->second)));
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
  pn_link_t* link_ = nullptr;
  bool linked_ = false;   // a link is open or being opened
  bool attached_ = false; // the service confirmed it
  bool first_event_seen_ = false;
  bool wake_pending_ = false;
  std::uint64_t attaches_ = 0;
  std::string not_found_; // what a not-found answer meant, once the management node said
};

namespace {
// The receiver attached under messages/events on the IoT Hub front end, only to be redirected.
class RedirectProbe final : public LinkOwner {
public:
  explicit RedirectProbe(AmqpEventSource::Impl& owner) : owner_(owner) {}
  void on_link_close(pn_link_t*, const Condition& condition) override {
    owner_.on_redirect(condition);
  }

private:
  AmqpEventSource::Impl& owner_;
};
} // namespace

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
  proactor_ = pn_proactor();
  thread_ = std::thread([this] { run(); });
  post([this] {
    if (target_.event_hub.empty() && !target_.iot_front_end) {
      fail("no Event Hub name: set EntityPath in the connection string or the event_hub setting");
      return;
    }
    connect();
  });
}

AmqpEventSource::Impl::~Impl() {
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
    if (inbox_connection_ != nullptr) {
      pn_connection_wake(inbox_connection_);
    } else {
      pn_proactor_interrupt(proactor_);
    }
  }
  return true;
}

void AmqpEventSource::Impl::run() {
  pn_proactor_set_timeout(proactor_, kTick.count());
  try {
    while (!stop_loop_) {
      pn_event_batch_t* batch = pn_proactor_wait(proactor_);
      while (pn_event_t* e = pn_event_batch_next(batch)) {
        handle(e);
      }
      pn_proactor_done(proactor_, batch);
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
  pn_proactor_free(proactor_); // frees the connection, if any
  connection_ = nullptr;
  if (ssl_domain_ != nullptr) {
    pn_ssl_domain_free(ssl_domain_);
  }
}

bool AmqpEventSource::Impl::handle(pn_event_t* e) {
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
  case PN_PROACTOR_INTERRUPT:
    run_inbox();
    wake_connection(); // so frames the work produced are written now
    break;
  case PN_CONNECTION_WAKE:
    run_inbox(); // in the connection's batch: its output is written when the batch ends
    break;
  case PN_PROACTOR_TIMEOUT:
    tick();
    break;
  default:
    break;
  }
  return !stop_loop_;
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
  if (!stop_loop_) {
    pn_proactor_set_timeout(proactor_, kTick.count());
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
    pn_connection_wake(connection_);
    schedule(kCloseDeadline, [this] { stop_loop_ = true; });
  } else {
    stop_loop_ = true;
  }
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
  if (target_.tls) {
    if (ssl_domain_ == nullptr) {
      ssl_domain_ = pn_ssl_domain(PN_SSL_MODE_CLIENT);
      if (!options_.ca_file.empty()) {
        pn_ssl_domain_set_trusted_ca_db(ssl_domain_, options_.ca_file.c_str());
      }
      // Verify the certificate chain and that it names the host (the system trust store
      // unless a CA file is given).
      pn_ssl_domain_set_peer_authentication(ssl_domain_, PN_SSL_VERIFY_PEER_NAME,
                                            options_.ca_file.empty() ? nullptr
                                                                     : options_.ca_file.c_str());
    }
    pn_ssl_t* ssl = pn_ssl(transport);
    pn_ssl_init(ssl, ssl_domain_, nullptr);
    pn_ssl_set_peer_hostname(ssl, target_.hostname.c_str());
  }
  pn_connection_open(connection_);
  char address[PN_MAX_ADDR];
  pn_proactor_addr(address, sizeof address, target_.network_host.c_str(),
                   std::to_string(target_.port).c_str());
  log->debug("connecting to {}:{}", target_.network_host, target_.port);
  pn_proactor_connect2(proactor_, connection_, transport, address);
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

void AmqpEventSource::Impl::put_token(bool renewal) {
  auto token = make_token();
  if (!token) {
    fail(token.error().message);
    return;
  }
  last_token_ = token->token;
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
        milliseconds(100), std::chrono::duration_cast<milliseconds>(due - clock_.system_now()));
    const std::uint64_t generation = generation_;
    schedule(delay, [this, generation] {
      if (generation == generation_ && open_ && phase_ != Phase::closing &&
          phase_ != Phase::failed) {
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
  target_.port = redirect->port;
  target_.tls = redirect->tls;
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
      pn_proactor_interrupt(proactor_); // a wake sent to the dying connection may be lost
    }
  }
  connection_ = nullptr; // the proactor frees it after this batch
  ++generation_;
  probe_.reset();
  if (phase_ == Phase::closing) {
    stop_loop_ = true;
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
    pn_connection_wake(connection_);
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

// ---- AmqpEventSource ----

AmqpEventSource::AmqpEventSource(HubOptions options, const Clock& clock, RandomSource& random)
    : impl_(std::make_unique<Impl>(std::move(options), clock, random)) {}

AmqpEventSource::~AmqpEventSource() {
  impl_->close();
}

void AmqpEventSource::close() {
  impl_->close();
}

const HubMetrics& AmqpEventSource::metrics() const {
  return impl_->metrics;
}

std::optional<Error> AmqpEventSource::fatal_error() const {
  return impl_->fatal_error();
}

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
    p.fully_qualified_namespace = impl_->event_hubs_namespace();
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
    p.begin_sequence_number =
        SequenceNumber(field<std::int64_t>(*body, "begin_sequence_number", -1));
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
