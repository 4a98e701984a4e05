#pragma once
// The inside of AmqpEventSource, shared by its parts: amqp_event_source.cpp (the public face),
// amqp_connection.cpp (the connection, management requests and the AMQP thread's loop),
// amqp_authorization.cpp (CBS tokens and their renewal) and partition_receiver.cpp (one
// partition's link). Proton types live here and in those files
// only, never in a public header. Internal to hub/.
#include "hub/amqp_event_source.hpp"
#include "hub/amqp_io.hpp"

#include <proton/condition.h>
#include <proton/connection.h>
#include <proton/delivery.h>
#include <proton/event.h>
#include <proton/link.h>
#include <proton/sasl.h>
#include <proton/session.h>
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
#include <utility>

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

using std::chrono::milliseconds;
using ManagementBody = std::map<std::string, proton::value>;
using ManagementReply = std::function<void(Result<ManagementBody>)>;

// The selector filter's descriptor: apache.org domain 0x468C, code 4 (docs/protocols.md, "Receiver
// links and start positions").
constexpr std::uint64_t kSelectorFilterCode = 0x0000468C00000004ULL;
// The desired capability current SDKs ask for on receiver links, so that a geo-replicated
// namespace serves them (docs/protocols.md, "Receiver links and start positions").
constexpr std::string_view kGeoReplicationCapability = "com.microsoft:georeplication";
// How finely timers (backoffs, renewals) are run; the AMQP thread wakes this often.
constexpr milliseconds kTick{20};
// How long a clean close may take before the connection is simply dropped.
constexpr milliseconds kCloseDeadline{2'000};

inline pn_bytes_t bytes_of(std::string_view s) {
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

inline Condition condition_of(pn_condition_t* c) {
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

inline void close_link(pn_link_t* link) {
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

inline int status_code(const proton::message& reply) {
  const proton::scalar code = reply.properties().get("status-code");
  if (code.empty()) {
    const proton::scalar alt = reply.properties().get("statusCode");
    return alt.empty() ? 0 : proton::coerce<int>(alt);
  }
  return proton::coerce<int>(code);
}

inline std::string status_description(const proton::message& reply) {
  const proton::scalar d = reply.properties().get("status-description");
  return d.type() == proton::STRING ? proton::get<std::string>(d) : std::string();
}

inline std::string text_of(const proton::value& v) {
  if (v.type() == proton::STRING) {
    return proton::get<std::string>(v);
  }
  if (v.type() == proton::SYMBOL) {
    return std::string(proton::get<proton::symbol>(v));
  }
  return {};
}

// What a PartitionReceiver needs of its connection, and all it may touch: the AMQP thread's
// timers, the connection while it is ready, management reads, and where to count and log.
// AmqpEventSource::Impl is the one host; the receiver never sees the rest of it. AMQP thread.
class ReceiverHost {
public:
  virtual ~ReceiverHost() = default;
  // Whether links may be attached now: connected, authorised, on the hub (not redirecting).
  virtual bool ready() const = 0;
  virtual bool closing() const = 0;
  virtual pn_connection_t* connection() const = 0;
  virtual void schedule(milliseconds delay, std::function<void()> fn) = 0;
  // Runs `fn` once the current batch of events is handled (a reader is woken once per burst).
  virtual void after_batch(std::function<void()> fn) = 0;
  virtual void management_read(std::string type, std::optional<PartitionId> partition,
                               ManagementReply reply) = 0;
  virtual const HubOptions& options() const = 0;
  virtual const Target& target() const = 0;
  virtual RandomSource& random() = 0;
  // A link on the redirected endpoint answered amqp:not-found.
  virtual void endpoint_not_found() = 0;
  // Whether `problem` was not logged in the last minute: a hub-wide problem is logged at ERROR
  // once a minute, however many partitions meet it.
  virtual bool report_due(const std::string& problem) = 0;
  virtual const std::string& hub_label() const = 0; // host/hub for messages, no secrets
  // Appended to an amqp:unauthorized-access refusal: which right or role is probably missing.
  virtual std::string unauthorized_hint() const = 0;
  virtual HubMetrics& hub_metrics() = 0;
  virtual spdlog::logger& hub_log() = 0;
};

// One partition's link: the partition loop of the header comment. AMQP thread only.
class PartitionReceiver final : public LinkOwner {
public:
  PartitionReceiver(ReceiverHost& host, std::shared_ptr<PartitionChannel> channel,
                    StartPosition start)
      : host_(host), channel_(std::move(channel)), start_(std::move(start)),
        backoff_(host.options().reconnect, host.random()) {}

  bool stopped() const { return channel_->status().stopped(); }
  PartitionChannel& channel() { return *channel_; }

  // Attaches on the owner's connection from the resume position, when the owner is ready().
  void attach();

  // The reader made room: grant credit if in flight fell to the low watermark.
  void top_up();

  // The connection is gone, and every link of it; `why` is what the partition's status says
  // until it receives again (on /readyz).
  void connection_lost(const std::string& why);

  void close();

  void fail(const std::string& reason);

  void on_link_open(pn_link_t* link) override;

  void on_transfer(pn_link_t* link, std::string_view bytes) override;

  void on_link_close(pn_link_t* link, const Condition& error) override;

private:
  // amqp:not-found on a receiver: the Event Hub or the consumer group does not exist (or an
  // IoT Hub's endpoint moved, which the owner handles). The management node tells which, as
  // it reads the hub without a consumer group. The partition keeps retrying, so it resumes on
  // its own once an operator creates what is missing; until then /readyz and one ERROR line a
  // minute say what is missing and how to fix it.
  void explain_not_found(const std::string& reason);

  // `hub_error`: why the management node could not read the hub; null: it could.
  void explained(const Error* hub_error, const std::string& reason);

  void retry_after(milliseconds delay);

  // `latest` means after the last event enqueued when we first attach; the partition's
  // information pins it to a sequence number so a reconnect before the first event does not
  // skip what arrived meanwhile.
  void resolve_latest();

  ReceiverHost& host_;
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

// Everything on the AMQP thread, and the doors into it.
class AmqpEventSource::Impl final : public ReceiverHost, private AmqpIo::Handler {
public:
  Impl(HubOptions options, const Clock& clock, RandomSource& random);
  ~Impl();

  // Any thread.
  bool post(std::function<void()> fn);
  Result<ManagementBody> management_call(std::string type, std::optional<PartitionId> partition,
                                         milliseconds timeout);
  std::shared_ptr<PartitionStream> open_partition(const PartitionId& id,
                                                  const StartPosition& start);
  void close_partition(const PartitionId& id);
  void close();
  std::optional<Error> fatal_error() const {
    std::lock_guard lock(mutex_);
    return fatal_;
  }
  const std::string& hub_label() const override { return hub_label_; }
  std::string unauthorized_hint() const override {
    return uses_entra_id()
               ? " (" + options_.tokens->describe() +
                     " needs the Azure Event Hubs Data Receiver role on the hub or its namespace)"
               : " (the SAS rule needs the Listen right)";
  }
  // The Event Hubs namespace host read from now (after an IoT Hub redirect, its target). Any
  // thread.
  std::string event_hubs_namespace() const {
    std::lock_guard lock(namespace_mutex_);
    return event_hubs_namespace_;
  }

  // ReceiverHost, and used by the other link owners. AMQP thread.
  void schedule(milliseconds delay, std::function<void()> fn) override {
    timers_.add(clock_.steady_now() + delay, std::move(fn));
  }
  void after_batch(std::function<void()> fn) override { after_batch_.push_back(std::move(fn)); }
  bool ready() const override { return open_ && authorized_ && phase_ == Phase::hub; }
  bool closing() const override { return phase_ == Phase::closing; }
  pn_connection_t* connection() const override { return connection_; }
  void management_read(std::string type, std::optional<PartitionId> partition,
                       ManagementReply reply) override;
  const HubOptions& options() const override { return options_; }
  const Target& target() const override { return target_; }
  RandomSource& random() override { return random_; }
  HubMetrics& hub_metrics() override { return metrics; }
  spdlog::logger& hub_log() override { return *log; }
  void on_redirect(const Condition& condition);
  // IoT Hub: the redirected endpoint failed; the next connection goes to the front end.
  void ask_for_redirect_again(const std::string& why);
  void endpoint_not_found() override;
  bool report_due(const std::string& problem) override {
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
  // AmqpIo::Handler.
  void handle(pn_event_t* e) override;
  void run_inbox() override;
  void tick() override;
  void on_delivery(pn_delivery_t* d);
  void wake_connection() {
    if (connection_ != nullptr && open_) {
      io_->flush(connection_);
    }
  }
  void connect();
  void on_connection_open();
  void on_transport_close();
  void put_token(bool renewal);
  // Entra ID: the token is fetched on a thread of its own (the identity endpoint may be slow)
  // and put from here when it arrives.
  void fetch_jwt(bool renewal);
  void on_jwt(Result<AccessToken> token, bool renewal);
  void send_token(const Secret& token, const char* type,
                  std::chrono::system_clock::time_point expires, bool renewal);
  void on_token_reply(Result<proton::message> reply, bool renewal,
                      std::chrono::system_clock::time_point issued,
                      std::chrono::system_clock::time_point expires);
  bool uses_entra_id() const { return options_.tokens != nullptr && !target_.iot_front_end; }
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

  HubTransport transport_ = HubTransport::amqp;
  std::unique_ptr<AmqpIo> io_;
  std::thread thread_;
  std::once_flag close_once_;

  // Work from other threads, under inbox_mutex_; the io is interrupted to run it.
  std::mutex inbox_mutex_;
  std::vector<std::function<void()>> inbox_;
  bool loop_ended_ = false;
  // The open connection, for waking it instead of the io: work then runs in the connection's
  // own batch and what it writes (credit) leaves at once. Set and cleared on the AMQP thread,
  // within the batch, before the io could free the connection.
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
  // The proxy URL last used and what parsing it gave: parsed once, not on every reconnect.
  std::optional<std::pair<std::string, Result<ProxyUrl>>> proxy_;
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
  bool jwt_fetching_ = false;
  // How a token fetched on another thread finds its way back: cleared when the source goes.
  struct TokenMailbox {
    std::mutex mutex;
    Impl* impl = nullptr;
  };
  std::shared_ptr<TokenMailbox> mailbox_ = std::make_shared<TokenMailbox>();
  std::vector<std::pair<proton::message, ManagementReply>> management_waiting_;
  std::unique_ptr<LinkOwner> probe_;
  bool redirected_ = false;
  std::map<PartitionId, std::unique_ptr<PartitionReceiver>> partitions_;
  // Receivers of closed partitions: kept until the source goes, as timers and management
  // replies they asked for may still name them.
  std::vector<std::unique_ptr<PartitionReceiver>> retired_;
  std::map<std::string, std::chrono::steady_clock::time_point> reported_; // report_due()

  // Any thread, under mutex_.
  mutable std::mutex mutex_;
  std::optional<Error> fatal_;
  std::string last_error_;
  std::map<PartitionId, std::shared_ptr<PartitionChannel>> streams_;
};

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

} // namespace hub2kusto::hub
