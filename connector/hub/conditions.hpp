#pragma once
// What a receiver does with an AMQP error condition on a detach or a closed connection, decided
// in one place (docs/architecture.md, "Delivery outcomes"; docs/protocols.md, "Link errors and
// retries"). Where the SDKs disagree we take the choice that loses nothing and stops for what only
// an operator can fix:
//   retry:  server-busy, timeout, internal-error, detach-forced, connection:forced,
//           framing-error, illegal-state, not-found (C++ SDK: the service reports transient
//           entity lookups this way), resource-limit-exceeded (Rust SDK: the receiver quota
//           frees up), and an empty condition;
//   stolen: amqp:link:stolen: another receiver with an equal or higher epoch owns the
//           partition; this one stops and says so;
//   redirect: amqp:link:redirect (IoT Hub, docs/protocols.md, "IoT Hub");
//   fatal:  unauthorized-access, entity-disabled, argument-out-of-range, argument-error,
//           georeplication:invalid-offset, and anything unknown.
#include <string_view>

namespace hub2kusto::hub {

enum class ConditionAction { retry, stolen, redirect, fatal };

ConditionAction classify_condition(std::string_view condition);

} // namespace hub2kusto::hub
