#pragma once
// A free TCP port on `host`, for the emulators' HTTP listeners: cpprestsdk's listener cannot
// report the port it bound when asked for port 0, so the port is found first by binding a
// socket to port 0 and reading back what the kernel chose. Returns -1 when none is found.
// (The port is released before the listener binds it; on loopback nothing else races for it
// in a test run.)

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

namespace hub2kusto::emulators {

inline int free_port(const std::string& host) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
  socklen_t len = sizeof addr;
  int port = -1;
  if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  if (fd >= 0) {
    ::close(fd);
  }
  return port;
}

} // namespace hub2kusto::emulators
