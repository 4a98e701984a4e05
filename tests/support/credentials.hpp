#pragma once
// A credential of one kind for the tests, with its tenant and client ids.
#include <string>
#include <utility>

#include "azure/credential.hpp"

namespace hub2kusto::testing {

inline azure::Credential credential(azure::CredentialKind kind, std::string tenant = "",
                                    std::string client = "") {
  azure::Credential c;
  c.kind = kind;
  c.tenant_id = std::move(tenant);
  c.client_id = std::move(client);
  return c;
}

} // namespace hub2kusto::testing
