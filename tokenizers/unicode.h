// Character properties the BERT pieces need, all from utf8proc's Unicode database rather than
// tables of our own: general categories, White_Space, lowercase mappings, canonical
// decompositions and combining classes.
//
// Hugging Face `tokenizers` takes categories from the unicode_categories crate, frozen at Unicode
// 9.0, while utf8proc follows a current Unicode (15.0 on Debian 12). Over every code point the
// results differ for 568 characters, all added or recategorised since Unicode 9.0 (e.g. U+061D,
// U+2E43..U+2E5D, newer combining marks such as U+0B55 and U+1AC0): we call them punctuation,
// nonspacing marks or format characters where Hugging Face does not know them.
#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace trustformers::tokenizers {

// The Unicode White_Space property (what Rust's char::is_whitespace tests).
bool IsWhitespace(char32_t c);
// General category Cc, Cf or Co.
bool IsControlOrFormat(char32_t c);
// General category P* (Pc, Pd, Ps, Pe, Pi, Pf, Po).
bool IsPunctuation(char32_t c);
// The 32 ASCII punctuation and symbol characters: !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~
bool IsAsciiPunctuation(char32_t c);
// General category Nd, Nl or No (what Rust's char::is_numeric tests).
bool IsNumeric(char32_t c);
// General category Mn.
bool IsNonspacingMark(char32_t c);
// What a Unicode regex's \w matches, approximated by categories: letters, marks, decimal and
// letter numbers, connector punctuation, ZWNJ and ZWJ.
bool IsWordCharacter(char32_t c);

// Appends the full lowercase mapping of `c` (one code point, except U+0130).
void AppendLowercase(char32_t c, std::u32string* out);

// Appends the full canonical decomposition of `c` (itself when it has none), unordered: the
// caller applies canonical ordering.
void AppendCanonicalDecomposition(char32_t c, std::u32string* out);

// Canonical combining class (0 for starters).
int CombiningClass(char32_t c);

// `text` (valid UTF-8) in Normalization Form C.
std::string NfcNormalize(absl::string_view text);

}  // namespace trustformers::tokenizers
