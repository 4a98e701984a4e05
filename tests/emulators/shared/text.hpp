#pragma once
// The emulators compare entity names, command words, query keys and header values
// case-insensitively, with the project's one set of ASCII helpers (base/text.hpp).
#include "base/text.hpp"

namespace hub2kusto::emulators {

using text::iequals;
using text::is_space;
using text::lower;
using text::trim;

} // namespace hub2kusto::emulators
