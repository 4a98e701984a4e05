#pragma once
// Desired capabilities on receiver links, written into their attach frames on the way out.
//
// Current SDKs ask for `com.microsoft:georeplication` on every receiver link, so that a
// geo-replicated namespace serves them (docs/protocols.md, "Receiver links and start
// positions"). Proton 0.37's C API has no link capabilities: it always writes the attach's
// offered- and desired-capabilities fields empty. The stream io (stream_io.cpp) carries the
// connection driver's output bytes while they are still plain frames (TLS is the io's, below),
// and passes them through this filter.
//
// The filter follows the frame stream from its first byte. Protocol headers ("AMQP" and four
// bytes) and every frame pass as they are, except an attach (AMQP 1.0 §2.7.3) whose role is
// receiver and whose source is not a `$cbs` or `$management` reply address: its
// desired-capabilities field (the thirteenth) gets the missing capabilities, merged with any
// it had, and the frame's size grows to match. A frame cut across two writes waits for its
// rest. Bytes that do not read as frames end the filtering; from there on they pass as they
// are.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace hub2kusto::hub {

class AttachCapabilities {
public:
  explicit AttachCapabilities(std::vector<std::string> receiver_capabilities);

  // Appends `bytes`, the next part of the outgoing stream, to `out`, rewritten; keeps back the
  // start of a frame whose end has not been written yet.
  void rewrite(std::string_view bytes, std::vector<char>& out);

  // How many attach frames got capabilities so far.
  std::size_t rewritten() const { return rewritten_; }

private:
  // The end of the whole frames and headers in `bytes` (copied to `out`, attaches rewritten).
  std::size_t frames(std::string_view bytes, std::vector<char>& out);
  // `frame` (whole, an AMQP frame) as it is to be sent.
  void frame(std::string_view frame, std::vector<char>& out);

  std::vector<std::string> capabilities_;
  std::vector<char> partial_; // the start of a frame or header whose rest is still to come
  bool passthrough_ = false;
  std::size_t rewritten_ = 0;
};

} // namespace hub2kusto::hub
