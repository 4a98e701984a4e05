#pragma once
// A bearer token and where the stages get one, without knowing how it is obtained: the hub puts
// Entra ID tokens on its AMQP connection, the Azure clients send them over HTTP, and
// azure/token_provider.hpp implements this seam with the Entra ID credentials.
#include <chrono>
#include <string>

#include "base/result.hpp"
#include "common/secret.hpp"

namespace hub2kusto {

// The audiences of the Azure services (docs/protocols.md, "Authentication and connection
// strings"): tokens for Event Hubs and for Storage are asked for these resources.
inline constexpr const char* kEventHubsAudience = "https://eventhubs.azure.net";
inline constexpr const char* kStorageAudience = "https://storage.azure.com";

struct AccessToken {
  Secret value;
  std::chrono::system_clock::time_point expires_at;
};

// Tokens for one audience, cached and refreshed ahead of expiry. Any thread; token() may block
// on the identity endpoint.
class AccessTokens {
public:
  virtual ~AccessTokens() = default;
  virtual Result<AccessToken> access_token() = 0;
  // After the service refused the token: the next access_token() gets a new one.
  virtual void invalidate() = 0;
  // Which credential, for logs ("application <id> in tenant <id> (client secret)").
  virtual std::string describe() const = 0;
};

} // namespace hub2kusto
