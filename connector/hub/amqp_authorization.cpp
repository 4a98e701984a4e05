// Claims-based authorization on the connection (docs/protocols.md, "Claims-based security
// ($cbs)"): the token put on $cbs before any link attaches (a SAS token signed with the key,
// a prebuilt signature, or an Entra ID token fetched off the AMQP thread), the answer to it,
// and the renewal scheduled before the token expires.
#include "hub/amqp_internal.hpp"

namespace hub2kusto::hub {

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

void AmqpEventSource::Impl::put_token(bool renewal) {
  if (uses_entra_id()) {
    fetch_jwt(renewal);
    return;
  }
  auto token = make_token();
  if (!token) {
    fail(token.error().message);
    return;
  }
  send_token(token->token, "servicebus.windows.net:sastoken", token->expires_at, renewal);
}

void AmqpEventSource::Impl::fetch_jwt(bool renewal) {
  if (jwt_fetching_) {
    return;
  }
  jwt_fetching_ = true;
  std::thread([mailbox = mailbox_, tokens = options_.tokens, renewal] {
    auto token = tokens->access_token();
    std::lock_guard lock(mailbox->mutex);
    if (Impl* impl = mailbox->impl) {
      impl->post([impl, token = std::move(token), renewal]() mutable {
        impl->on_jwt(std::move(token), renewal);
      });
    }
  }).detach();
}

void AmqpEventSource::Impl::on_jwt(Result<AccessToken> token, bool renewal) {
  jwt_fetching_ = false;
  if (!open_ || phase_ == Phase::closing || phase_ == Phase::failed) {
    return; // no connection now: the next one fetches its own when it opens
  }
  if (!token) {
    fail(fmt::format("no Entra ID token for {} (audience {}) from {}: {}", hub_label_,
                     kEventHubsAudience, options_.tokens->describe(), token.error().message));
    return;
  }
  // A token is not bound to a connection: one fetched for a connection that has gone since
  // serves the one open now (whose own put-token found this fetch running and waited for it).
  send_token(token->value, "jwt", token->expires_at, renewal && authorized_);
}

void AmqpEventSource::Impl::send_token(const Secret& token, const char* type,
                                       std::chrono::system_clock::time_point expires,
                                       bool renewal) {
  last_token_ = token;
  proton::message m;
  m.body(token.reveal());
  m.properties().put("operation", std::string("put-token"));
  m.properties().put("type", std::string(type));
  m.properties().put("name", target_.audience());
  const auto issued = clock_.system_now();
  const std::uint64_t generation = generation_;
  cbs_.request(std::move(m), [this, generation, renewal, issued, expires](auto reply) {
    if (generation == generation_) {
      on_token_reply(std::move(reply), renewal, issued, expires);
    }
  });
}

void AmqpEventSource::Impl::on_token_reply(Result<proton::message> reply, bool renewal,
                                           std::chrono::system_clock::time_point issued,
                                           std::chrono::system_clock::time_point expires) {
  if (!reply) {
    return; // the connection went; on_transport_close reconnects and puts a token again
  }
  const int status = status_code(*reply);
  if (status != 200 && status != 202) {
    if (uses_entra_id()) {
      options_.tokens->invalidate();
      fail(fmt::format("the hub refused the Entra ID token of {} for '{}' (audience {}; "
                       "status {}: {}); check the credential and that it has the Azure Event "
                       "Hubs Data Receiver role on the hub or its namespace",
                       options_.tokens->describe(), target_.audience(), kEventHubsAudience, status,
                       status_description(*reply)));
      return;
    }
    const std::string rule = target_.key_name.empty() ? std::string("(prebuilt signature)")
                                                      : "'" + target_.key_name + "'";
    fail(fmt::format("the hub refused the SAS token for rule {} on '{}' (status {}: {}); "
                     "check the key and the rule's Listen right",
                     rule, target_.audience(), status, status_description(*reply)));
    return;
  }
  if (renewal) {
    metrics.token_renewals.fetch_add(1, std::memory_order_relaxed);
    log->debug("token for {} renewed until {:%H:%M:%S}", hub_label_,
               std::chrono::floor<std::chrono::seconds>(expires));
  }
  const bool renewable = target_.prebuilt.empty() || target_.iot_front_end || redirected_;
  if (renewable) {
    // An Entra ID token is renewed once the token provider would fetch a new one (a quarter of
    // its lifetime, at most five minutes, before it expires); a SAS token at 3/4 of its life.
    const auto due = uses_entra_id()
                         ? expires - std::min<std::chrono::system_clock::duration>(
                                         (expires - issued) / 4, std::chrono::minutes(5))
                         : std::chrono::system_clock::time_point(
                               sas_renewal_time(std::chrono::floor<std::chrono::seconds>(issued),
                                                std::chrono::floor<std::chrono::seconds>(expires)));
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

} // namespace hub2kusto::hub
