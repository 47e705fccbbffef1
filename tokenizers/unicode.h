// Character properties the BERT pieces need, all from utf8proc's Unicode database rather than
// tables of our own: general categories, White_Space, lowercase mappings, canonical
// decompositions and combining classes.
#pragma once

#include <string>

namespace trustformers::tokenizers {

// The Unicode White_Space property (what Rust's char::is_whitespace tests).
bool IsWhitespace(char32_t c);
// General category Cc, Cf or Co.
bool IsControlOrFormat(char32_t c);
// General category P* (Pc, Pd, Ps, Pe, Pi, Pf, Po).
bool IsPunctuation(char32_t c);
// The 32 ASCII punctuation and symbol characters: !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~
bool IsAsciiPunctuation(char32_t c);
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

}  // namespace trustformers::tokenizers
