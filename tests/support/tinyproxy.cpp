#include "support/tinyproxy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include "support/eventually.hpp"

namespace hub2kusto::testing {
namespace {

// A port nothing listens on right now (the kernel's pick for a socket bound and closed).
int unused_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof address;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) == 0) {
    port = ntohs(address.sin_port);
  }
  ::close(fd);
  return port;
}

bool accepts(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return ok;
}

} // namespace

Tinyproxy::Tinyproxy(Options options) : dir_("hub2kusto-tinyproxy") {
  // The port is chosen here, as tinyproxy cannot pick one; another process may take it between
  // the pick and tinyproxy's bind, so a start that does not come up tries a new port.
  for (int attempt = 0; attempt < 5 && port_ == 0; ++attempt) {
    const int port = unused_port();
    const auto config = dir_.path() / "tinyproxy.conf";
    {
      std::ofstream out(config);
      out << "Port " << port << "\nListen 127.0.0.1\nTimeout 60\nMaxClients 50\n"
          << "LogLevel Connect\nLogFile \"" << (dir_.path() / "tinyproxy.log").string() << "\"\n"
          << "PidFile \"" << (dir_.path() / "tinyproxy.pid").string() << "\"\n";
      if (options.basic_auth) {
        out << "BasicAuth " << options.basic_auth->first << " " << options.basic_auth->second
            << "\n";
      }
      for (const int allowed : options.connect_ports) {
        out << "ConnectPort " << allowed << "\n";
      }
    }
    process_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{"tinyproxy", "-d", "-c", config.string()});
    if (eventually([&] { return accepts(port) || !process_->running(); },
                   std::chrono::seconds(10)) &&
        process_->running()) {
      port_ = port;
    }
  }
}

std::string Tinyproxy::url(const std::string& user, const std::string& password) const {
  const std::string credentials = user.empty() ? "" : user + ":" + password + "@";
  return "http://" + credentials + "127.0.0.1:" + std::to_string(port_);
}

std::string Tinyproxy::log() const {
  std::ifstream in(dir_.path() / "tinyproxy.log");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

} // namespace hub2kusto::testing
