#include "hub/attach_capabilities.hpp"

#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <proton/codec.h>
#include <proton/connection.h>
#include <proton/connection_driver.h>
#include <proton/link.h>
#include <proton/session.h>
#include <proton/terminus.h>
#include <proton/transport.h>

namespace hub2kusto::hub {
namespace {

constexpr const char* kGeoReplication = "com.microsoft:georeplication";
constexpr const char* kPartition = "telemetry/ConsumerGroups/$Default/Partitions/0";

// What a client's Proton writes when it opens a partition receiver (with an epoch), a sender
// and the $cbs request-response pair: the bytes the stream io hands the filter.
std::string client_output() {
  pn_connection_driver_t driver;
  pn_connection_driver_init(&driver, nullptr, nullptr);
  pn_connection_driver_bind(&driver);
  pn_connection_t* c = driver.connection;
  pn_connection_set_container(c, "client");
  pn_connection_open(c);
  pn_session_t* s = pn_session(c);
  pn_session_open(s);
  pn_link_t* partition = pn_receiver(s, "partition-0");
  pn_terminus_set_address(pn_link_source(partition), kPartition);
  pn_data_t* properties = pn_link_properties(partition);
  pn_data_put_map(properties);
  pn_data_enter(properties);
  pn_data_put_symbol(properties, pn_bytes(19, "com.microsoft:epoch"));
  pn_data_put_long(properties, 7);
  pn_data_exit(properties);
  pn_link_open(partition);
  pn_link_t* sender = pn_sender(s, "cbs-requests");
  pn_terminus_set_address(pn_link_target(sender), "$cbs");
  pn_link_open(sender);
  pn_link_t* replies = pn_receiver(s, "cbs-replies");
  pn_terminus_set_address(pn_link_source(replies), "$cbs");
  pn_link_open(replies);
  std::string out;
  while (true) {
    while (pn_connection_driver_next_event(&driver) != nullptr) {
    }
    const pn_bytes_t b = pn_connection_driver_write_buffer(&driver);
    if (b.size == 0) {
      break;
    }
    out.append(b.start, b.size);
    pn_connection_driver_write_done(&driver, b.size);
  }
  pn_connection_driver_destroy(&driver);
  return out;
}

// The desired capabilities of every attach in `stream`, by link name, read with Proton's
// decoder field by field (an independent reading of what the filter wrote).
std::map<std::string, std::vector<std::string>> desired_capabilities(const std::string& stream) {
  std::map<std::string, std::vector<std::string>> found;
  pn_data_t* data = pn_data(16);
  for (std::size_t at = 8; at + 8 <= stream.size();) { // after the AMQP protocol header
    const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(stream[i]); };
    const std::size_t size = (std::size_t{byte(at)} << 24) | (std::size_t{byte(at + 1)} << 16) |
                             (std::size_t{byte(at + 2)} << 8) | byte(at + 3);
    if (size < 8) {
      break;
    }
    const std::size_t body = at + std::size_t{byte(at + 4)} * 4;
    pn_data_clear(data);
    if (pn_data_decode(data, stream.data() + body, at + size - body) > 0) {
      pn_data_rewind(data);
      pn_data_next(data);
      pn_data_enter(data);
      pn_data_next(data);
      if (pn_data_get_ulong(data) == 0x12) { // attach
        pn_data_next(data);
        const std::size_t fields = pn_data_get_list(data);
        pn_data_enter(data);
        pn_data_next(data);
        const pn_bytes_t name = pn_data_get_string(data);
        std::vector<std::string>& caps = found[std::string(name.start, name.size)];
        for (std::size_t i = 1; i <= 12 && i < fields; ++i) {
          pn_data_next(data);
        }
        if (fields > 12 && pn_data_type(data) == PN_ARRAY) {
          pn_data_enter(data);
          while (pn_data_next(data)) {
            const pn_bytes_t s = pn_data_get_symbol(data);
            caps.emplace_back(s.start, s.size);
          }
        }
      }
    }
    at += size;
  }
  pn_data_free(data);
  return found;
}

struct ServerView {
  bool transport_error = false;
  std::map<std::string, std::string> sources; // link name -> source address
  std::int64_t epoch = 0;
};

// Proton's server side reading `stream`: the frames must still be valid AMQP to it.
ServerView server_reads(const std::string& stream) {
  pn_connection_driver_t driver;
  pn_connection_driver_init(&driver, nullptr, nullptr);
  pn_transport_set_server(driver.transport);
  pn_connection_driver_bind(&driver);
  std::size_t at = 0;
  while (at < stream.size()) {
    const pn_rwbytes_t in = pn_connection_driver_read_buffer(&driver);
    if (in.size == 0) {
      break;
    }
    const std::size_t n = std::min(in.size, stream.size() - at);
    std::copy_n(stream.data() + at, n, in.start);
    pn_connection_driver_read_done(&driver, n);
    at += n;
  }
  ServerView view;
  while (pn_event_t* e = pn_connection_driver_next_event(&driver)) {
    if (pn_event_type(e) == PN_TRANSPORT_ERROR) {
      view.transport_error = true;
    }
    if (pn_event_type(e) == PN_LINK_REMOTE_OPEN) {
      pn_link_t* l = pn_event_link(e);
      pn_terminus_t* t = pn_link_is_sender(l) ? pn_link_remote_source(l) : pn_link_remote_target(l);
      view.sources[pn_link_name(l)] = pn_terminus_get_address(t) ? pn_terminus_get_address(t) : "";
      pn_data_t* p = pn_link_remote_properties(l);
      if (p != nullptr && (pn_data_rewind(p), pn_data_next(p)) && pn_data_type(p) == PN_MAP) {
        pn_data_enter(p);
        pn_data_next(p);
        pn_data_next(p);
        view.epoch = pn_data_get_long(p);
      }
    }
  }
  pn_connection_driver_destroy(&driver);
  return view;
}

std::string filtered(const std::string& stream, std::size_t piece,
                     std::size_t* rewritten = nullptr) {
  AttachCapabilities filter({kGeoReplication});
  std::vector<char> out;
  for (std::size_t at = 0; at < stream.size(); at += piece) {
    filter.rewrite(std::string_view(stream).substr(at, piece), out);
  }
  if (rewritten != nullptr) {
    *rewritten = filter.rewritten();
  }
  return {out.begin(), out.end()};
}

TEST(AttachCapabilities, APartitionReceiverAsksForThemAndProtonStillReadsEveryFrame) {
  const std::string before = client_output();
  EXPECT_EQ(desired_capabilities(before)["partition-0"], std::vector<std::string>{})
      << "Proton 0.37 writes none itself";

  std::size_t rewritten = 0;
  const std::string after = filtered(before, before.size(), &rewritten);
  EXPECT_EQ(rewritten, 1u);
  auto caps = desired_capabilities(after);
  EXPECT_EQ(caps["partition-0"], std::vector<std::string>{kGeoReplication});
  EXPECT_EQ(caps["cbs-requests"], std::vector<std::string>{}) << "a sender";
  EXPECT_EQ(caps["cbs-replies"], std::vector<std::string>{}) << "a request-response reply";
  EXPECT_GT(after.size(), before.size());

  ServerView server = server_reads(after);
  EXPECT_FALSE(server.transport_error);
  EXPECT_EQ(server.sources["partition-0"], kPartition);
  EXPECT_EQ(server.sources["cbs-replies"], "$cbs");
  EXPECT_EQ(server.sources["cbs-requests"], "$cbs");
  EXPECT_EQ(server.epoch, 7) << "the link properties after the capabilities are intact";
}

TEST(AttachCapabilities, FramesCutAcrossWritesAreRewrittenWhole) {
  const std::string stream = client_output();
  const std::string whole = filtered(stream, stream.size());
  for (const std::size_t piece : {1u, 3u, 7u, 64u}) {
    EXPECT_EQ(filtered(stream, piece), whole) << "pieces of " << piece << " bytes";
  }
}

TEST(AttachCapabilities, AnAttachThatAlreadyAsksForThemPassesAsItIs) {
  const std::string once = filtered(client_output(), 4096);
  std::size_t rewritten = 1;
  EXPECT_EQ(filtered(once, 4096, &rewritten), once);
  EXPECT_EQ(rewritten, 0u);
}

TEST(AttachCapabilities, BytesThatAreNotFramesPassUnchanged) {
  const std::string junk("\x00\x00\x00\x02garbage that is not AMQP", 28);
  EXPECT_EQ(filtered(junk, 5), junk);
}

} // namespace
} // namespace hub2kusto::hub
