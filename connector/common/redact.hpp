#pragma once
// Redaction: the last line of defence that keeps keys, signatures and tokens out of logs and
// error messages. Secrets are held as `Secret` (which formats as a mask) everywhere they are
// known; these helpers cover text that may carry one anyway -- a connection string echoed by
// a library, an HTTP body, a third-party exception message. The log sink runs every message
// through redact_text().

#include <string>
#include <string_view>

namespace hub2kusto {

// Masks the value of every secret-bearing key of a `Key=Value;...` connection string
// (SharedAccessKey, SharedAccessSignature, AccountKey, Application Key / AppKey, Application
// Token, Password, ...), keeping the rest readable.
std::string redact_connection_string(std::string_view text);

// Masks secrets wherever they appear in free text: `<secret key>=value` and `"<secret
// key>":"value"` forms (connection-string keys, sig=, client_secret, client_assertion,
// access_token, refresh_token) and `Bearer <token>`.
std::string redact_text(std::string_view text);

// `text` made safe for one log line or error message: control characters and bytes that are
// not printable ASCII become \n, \t or \xNN, and anything past `max` bytes is cut, saying how
// long it was. For values that come from events or users (table names, routing values).
std::string printable(std::string_view text, std::size_t max = 200);

} // namespace hub2kusto
