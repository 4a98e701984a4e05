#include "hub/amqp_internal.hpp"

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

void AmqpEventSource::close_partition(const PartitionId& partition) {
  impl_->close_partition(partition);
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
