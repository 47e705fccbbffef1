// Python's text behaviour over UTF-8 strings: what str() and repr() print for floats and strings,
// which characters str.isspace() accepts, and the str methods templates call (strip, split,
// splitlines, upper, lower, ...). Chat templates are rendered by Python, so a byte-identical
// result needs these rules rather than C's or ICU's. Every input is valid UTF-8 (the template
// source and the context are validated before rendering) and lengths count code points.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace trustformers::tokenizers::jinja {

std::u32string DecodeAll(absl::string_view text);
std::string EncodeAll(std::u32string_view text);
void AppendCodePoint(char32_t c, std::string* out);
// Number of code points (Python's len()).
size_t CodePointCount(absl::string_view text);

// str.isspace(): the characters Python treats as whitespace (and regex \s matches).
bool IsPySpace(char32_t c);
// str.isprintable() for one character (repr() escapes the others).
bool IsPyPrintable(char32_t c);

// repr(float) / str(float): the shortest digits that round-trip, in Python's layout
// ("1.0", "0.1", "1e-05", "1.5e+16", "inf", "nan").
std::string FloatRepr(double value);
// repr(str): quoted with ' unless the text holds ' and no ", escapes as Python does.
std::string StrRepr(absl::string_view text);

// str.strip / lstrip / rstrip. `chars` absent: Python whitespace.
std::string Strip(absl::string_view text, const std::optional<std::u32string>& chars, bool left,
                  bool right);
// str.split(sep, maxsplit); `sep` absent splits on whitespace runs and drops empty parts. `sep`
// must not be empty (the caller raises Python's ValueError).
std::vector<std::string> Split(absl::string_view text, const std::optional<std::string>& sep,
                               int64_t maxsplit);
// str.rsplit(sep, maxsplit).
std::vector<std::string> RSplit(absl::string_view text, const std::optional<std::string>& sep,
                                int64_t maxsplit);
// str.splitlines() without keepends: every Python line boundary (\n, \r, \r\n, \v, \f, \x1c-\x1e,
// \x85, U+2028, U+2029).
std::vector<std::string> SplitLines(absl::string_view text);
// str.replace(old, new, count); count < 0 replaces all. An empty `old` inserts between code
// points, as Python does.
std::string Replace(absl::string_view text, absl::string_view old, absl::string_view replacement,
                    int64_t count);

// Case mappings (Unicode simple mappings, plus U+00DF to "SS" and U+0130 to "i̇").
std::string Upper(absl::string_view text);
std::string Lower(absl::string_view text);
// str.capitalize(): first character titlecased, the rest lowercased.
std::string Capitalize(absl::string_view text);
// Jinja's title filter: each word (split at runs of whitespace, '-', '(', '{', '[' and '<')
// gets its first character uppercased and the rest lowercased.
std::string TitleWords(absl::string_view text);
// str.title(): first letter of every run of cased letters titlecased, the rest lowercased.
std::string Title(absl::string_view text);
// str.islower() / str.isupper(): some cased character, and none of the other case.
bool IsLower(absl::string_view text);
bool IsUpper(absl::string_view text);
// Count of \w+ runs (Jinja's wordcount).
size_t WordCount(absl::string_view text);

// markupsafe.escape: & < > ' " as HTML entities.
std::string HtmlEscape(absl::string_view text);

}  // namespace trustformers::tokenizers::jinja
