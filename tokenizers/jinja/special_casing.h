// Case mappings that turn one character into several (U+00DF to "SS", U+FB01 to "FI", Greek with
// iota subscript...), which Python's str.upper(), title() and capitalize() apply and utf8proc's
// one-to-one mappings do not.
#pragma once

#include <string>

namespace trustformers::tokenizers::jinja {

// Appends the mapping and returns true when `c` has a multi-character one.
bool AppendSpecialUpper(char32_t c, std::string* out);
bool AppendSpecialTitle(char32_t c, std::string* out);

}  // namespace trustformers::tokenizers::jinja
