#include "tokenizers/unicode.h"

#include <array>
#include <cstdint>
#include <cstdlib>

#include "utf8proc.h"

namespace trustformers::tokenizers {
namespace {

utf8proc_category_t Category(char32_t c) {
  return utf8proc_category(static_cast<utf8proc_int32_t>(c));
}

}  // namespace

bool IsWhitespace(char32_t c) {
  // White_Space is exactly the Zs, Zl and Zp categories plus the C0 controls TAB..CR and NEL.
  if ((c >= 0x09 && c <= 0x0D) || c == 0x85) return true;
  const utf8proc_category_t category = Category(c);
  return category == UTF8PROC_CATEGORY_ZS || category == UTF8PROC_CATEGORY_ZL ||
         category == UTF8PROC_CATEGORY_ZP;
}

bool IsControlOrFormat(char32_t c) {
  const utf8proc_category_t category = Category(c);
  return category == UTF8PROC_CATEGORY_CC || category == UTF8PROC_CATEGORY_CF ||
         category == UTF8PROC_CATEGORY_CO;
}

bool IsPunctuation(char32_t c) {
  const utf8proc_category_t category = Category(c);
  return category >= UTF8PROC_CATEGORY_PC && category <= UTF8PROC_CATEGORY_PO;
}

bool IsAsciiPunctuation(char32_t c) {
  return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
         (c >= 0x7B && c <= 0x7E);
}

bool IsNumeric(char32_t c) {
  const utf8proc_category_t category = Category(c);
  return category == UTF8PROC_CATEGORY_ND || category == UTF8PROC_CATEGORY_NL ||
         category == UTF8PROC_CATEGORY_NO;
}

bool IsNonspacingMark(char32_t c) { return Category(c) == UTF8PROC_CATEGORY_MN; }

bool IsWordCharacter(char32_t c) {
  if (c == 0x200C || c == 0x200D) return true;
  const utf8proc_category_t category = Category(c);
  return (category >= UTF8PROC_CATEGORY_LU && category <= UTF8PROC_CATEGORY_ND) ||
         category == UTF8PROC_CATEGORY_NL || category == UTF8PROC_CATEGORY_PC;
}

void AppendLowercase(char32_t c, std::u32string* out) {
  // utf8proc gives the simple (one-to-one) mapping. SpecialCasing.txt has a single unconditional
  // lowercase mapping longer than one code point: U+0130 to "i" + COMBINING DOT ABOVE.
  if (c == 0x0130) {
    out->push_back(U'i');
    out->push_back(0x0307);
    return;
  }
  out->push_back(static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))));
}

void AppendCanonicalDecomposition(char32_t c, std::u32string* out) {
  std::array<utf8proc_int32_t, 8> buffer;
  int unused_boundclass = 0;
  const utf8proc_ssize_t written =
      utf8proc_decompose_char(static_cast<utf8proc_int32_t>(c), buffer.data(), buffer.size(),
                              UTF8PROC_DECOMPOSE, &unused_boundclass);
  // No canonical decomposition is longer than 4 code points; anything else keeps the character.
  if (written <= 0 || static_cast<size_t>(written) > buffer.size()) {
    out->push_back(c);
    return;
  }
  for (utf8proc_ssize_t i = 0; i < written; ++i) out->push_back(static_cast<char32_t>(buffer[i]));
}

int CombiningClass(char32_t c) {
  return utf8proc_get_property(static_cast<utf8proc_int32_t>(c))->combining_class;
}

std::string NfcNormalize(absl::string_view text) {
  utf8proc_uint8_t* normalized = nullptr;
  const utf8proc_ssize_t length =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                   static_cast<utf8proc_ssize_t>(text.size()), &normalized,
                   static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  // utf8proc fails only on invalid UTF-8 or out of memory; callers validated the text already.
  if (length < 0) return std::string(text);
  std::string out(reinterpret_cast<const char*>(normalized), static_cast<size_t>(length));
  std::free(normalized);
  return out;
}

}  // namespace trustformers::tokenizers
