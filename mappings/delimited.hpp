#pragma once
// How Kusto's delimited formats (csv, tsv, tsve, psv, scsv, sohsv) split a body into records
// and fields: one reader, used by the mapping engine and by `hub2kusto infer`, so that what is
// inferred from events is what the engine will read from them (docs/protocols.md,
// "Data formats"; learn.microsoft.com/azure/data-explorer/ingestion-supported-formats).
//
// RFC 4180 quoting: a field that starts with a quote may hold delimiters, line ends and ""
// for a quote. tsve has no quotes; a backslash escapes the next character instead (\t, \n,
// \r, \0 and \<c> for <c>). A record ends at LF or CRLF outside quotes.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "mappings/format.hpp"

namespace hub2kusto::mappings {

struct Dialect {
  char delimiter = ',';
  bool escapes = false; // tsve
};

// The dialect of a delimited format; nullopt for the others (json, txt, raw ...).
std::optional<Dialect> dialect_of(DataFormat format);

// Why a record could not be split, and where.
struct SplitError {
  std::size_t position = 0; // in the body
  std::string_view why;     // "has a quoted field that is never closed", ...
};

// Splits the record that starts at `pos` of `body` into `fields`, and returns the position
// after its line end. A field is a view into `body`, or into `unescaped` when it had to be
// rewritten (quoted, escaped). The caller reserves body.size() bytes in `unescaped` before the
// first record of a body, so that the views stay where they are while it fills.
Result<std::size_t, SplitError> split_record(std::string_view body, std::size_t pos,
                                             const Dialect& dialect,
                                             std::vector<std::string_view>& fields,
                                             std::string& unescaped);

// The start of the next record at or after `pos`: empty lines (LF or CRLF) are not records.
std::size_t skip_empty_lines(std::string_view body, std::size_t pos);

} // namespace hub2kusto::mappings
