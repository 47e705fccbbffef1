#include "tokenizers/jinja/py_text.h"

#include <utf8proc.h>

#include <array>
#include <charconv>
#include <cmath>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "tokenizers/jinja/special_casing.h"
#include "tokenizers/utf8.h"

namespace trustformers::tokenizers::jinja {
namespace {

utf8proc_category_t Category(char32_t c) {
  return static_cast<utf8proc_category_t>(utf8proc_category(static_cast<utf8proc_int32_t>(c)));
}

bool IsCasedLetter(char32_t c) {
  const utf8proc_category_t category = Category(c);
  return category == UTF8PROC_CATEGORY_LU || category == UTF8PROC_CATEGORY_LL ||
         category == UTF8PROC_CATEGORY_LT;
}

bool IsWordChar(char32_t c) {
  if (c == U'_') return true;
  switch (Category(c)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
      return true;
    default:
      return false;
  }
}

void AppendUpper(char32_t c, std::string* out) {
  if (AppendSpecialUpper(c, out)) return;
  AppendCodePoint(static_cast<char32_t>(utf8proc_toupper(static_cast<utf8proc_int32_t>(c))), out);
}

void AppendLower(char32_t c, std::string* out) {
  if (c == 0x0130) {
    out->append("i\xCC\x87");
    return;
  }
  AppendCodePoint(static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))), out);
}

void AppendTitle(char32_t c, std::string* out) {
  if (AppendSpecialTitle(c, out)) return;
  AppendCodePoint(static_cast<char32_t>(utf8proc_totitle(static_cast<utf8proc_int32_t>(c))), out);
}

bool InSet(char32_t c, const std::optional<std::u32string>& chars) {
  if (!chars.has_value()) return IsPySpace(c);
  return chars->find(c) != std::u32string::npos;
}

bool IsLineBreak(char32_t c) {
  switch (c) {
    case U'\n':
    case U'\r':
    case 0x0B:
    case 0x0C:
    case 0x1C:
    case 0x1D:
    case 0x1E:
    case 0x85:
    case 0x2028:
    case 0x2029:
      return true;
    default:
      return false;
  }
}

}  // namespace

std::u32string DecodeAll(absl::string_view text) {
  std::u32string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) out.push_back(DecodeUtf8(text, &pos));
  return out;
}

std::string EncodeAll(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : text) AppendCodePoint(c, &out);
  return out;
}

void AppendCodePoint(char32_t c, std::string* out) { AppendUtf8(c, out); }

size_t CodePointCount(absl::string_view text) {
  size_t count = 0;
  for (char c : text) count += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return count;
}

bool IsPySpace(char32_t c) {
  if (c <= 0x20) return c == 0x20 || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
  if (c < 0x85) return false;
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
         c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

bool IsPyPrintable(char32_t c) {
  if (c == U' ') return true;
  switch (Category(c)) {
    case UTF8PROC_CATEGORY_CN:
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_ZS:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
      return false;
    default:
      return true;
  }
}

std::string FloatRepr(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value < 0 ? "-inf" : "inf";
  // Shortest round-trip digits, as Python's repr picks them; only the layout differs.
  std::array<char, 64> buffer;
  const auto [end, ec] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value,
                                       std::chars_format::scientific);
  std::string scientific(buffer.data(), ec == std::errc() ? end : buffer.data());
  std::string out;
  size_t pos = 0;
  if (!scientific.empty() && scientific[0] == '-') {
    out.push_back('-');
    pos = 1;
  }
  std::string digits;
  const size_t e_pos = scientific.find('e');
  for (size_t i = pos; i < e_pos; ++i) {
    if (scientific[i] != '.') digits.push_back(scientific[i]);
  }
  const int exponent = std::atoi(scientific.c_str() + e_pos + 1);
  if (exponent < -4 || exponent >= 16) {
    out.push_back(digits[0]);
    if (digits.size() > 1) absl::StrAppend(&out, ".", digits.substr(1));
    absl::StrAppend(&out, "e", exponent < 0 ? "-" : "+");
    const int magnitude = std::abs(exponent);
    if (magnitude < 10) out.push_back('0');
    absl::StrAppend(&out, magnitude);
    return out;
  }
  if (exponent < 0) {
    absl::StrAppend(&out, "0.", std::string(static_cast<size_t>(-exponent - 1), '0'), digits);
    return out;
  }
  const size_t integer_digits = static_cast<size_t>(exponent) + 1;
  if (digits.size() <= integer_digits) {
    absl::StrAppend(&out, digits, std::string(integer_digits - digits.size(), '0'), ".0");
  } else {
    absl::StrAppend(&out, digits.substr(0, integer_digits), ".", digits.substr(integer_digits));
  }
  return out;
}

std::string StrRepr(absl::string_view text) {
  const bool has_single = text.find('\'') != absl::string_view::npos;
  const bool has_double = text.find('"') != absl::string_view::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  size_t pos = 0;
  while (pos < text.size()) {
    const char32_t c = DecodeUtf8(text, &pos);
    if (c == static_cast<char32_t>(quote) || c == U'\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c == U'\t') {
      out.append("\\t");
    } else if (c == U'\n') {
      out.append("\\n");
    } else if (c == U'\r') {
      out.append("\\r");
    } else if (c < 0x20 || c == 0x7F) {
      absl::StrAppend(&out, "\\x", absl::Hex(static_cast<uint32_t>(c), absl::kZeroPad2));
    } else if (c < 0x7F || IsPyPrintable(c)) {
      AppendCodePoint(c, &out);
    } else if (c <= 0xFF) {
      absl::StrAppend(&out, "\\x", absl::Hex(static_cast<uint32_t>(c), absl::kZeroPad2));
    } else if (c <= 0xFFFF) {
      absl::StrAppend(&out, "\\u", absl::Hex(static_cast<uint32_t>(c), absl::kZeroPad4));
    } else {
      absl::StrAppend(&out, "\\U", absl::Hex(static_cast<uint32_t>(c), absl::kZeroPad8));
    }
  }
  out.push_back(quote);
  return out;
}

std::string Strip(absl::string_view text, const std::optional<std::u32string>& chars, bool left,
                  bool right) {
  size_t begin = 0;
  size_t end = text.size();
  if (left) {
    while (begin < end) {
      size_t next = begin;
      if (!InSet(DecodeUtf8(text, &next), chars)) break;
      begin = next;
    }
  }
  if (right) {
    while (end > begin) {
      size_t start = end - 1;
      while (start > begin && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
      size_t next = start;
      if (!InSet(DecodeUtf8(text, &next), chars)) break;
      end = start;
    }
  }
  return std::string(text.substr(begin, end - begin));
}

std::vector<std::string> Split(absl::string_view text, const std::optional<std::string>& sep,
                               int64_t maxsplit) {
  std::vector<std::string> parts;
  if (sep.has_value()) {
    size_t start = 0;
    while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
      const size_t found = text.find(*sep, start);
      if (found == absl::string_view::npos) break;
      parts.emplace_back(text.substr(start, found - start));
      start = found + sep->size();
    }
    parts.emplace_back(text.substr(start));
    return parts;
  }
  const std::u32string chars = DecodeAll(text);
  size_t i = 0;
  const size_t n = chars.size();
  while (true) {
    while (i < n && IsPySpace(chars[i])) ++i;
    if (i == n) break;
    if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
      // The remainder keeps its trailing whitespace, as Python's does.
      parts.push_back(EncodeAll(std::u32string_view(chars).substr(i)));
      break;
    }
    size_t j = i;
    while (j < n && !IsPySpace(chars[j])) ++j;
    parts.push_back(EncodeAll(std::u32string_view(chars).substr(i, j - i)));
    i = j;
  }
  return parts;
}

std::vector<std::string> RSplit(absl::string_view text, const std::optional<std::string>& sep,
                                int64_t maxsplit) {
  std::vector<std::string> parts;
  if (sep.has_value()) {
    size_t end = text.size();
    while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
      if (end < sep->size()) break;
      const size_t found = text.rfind(*sep, end - sep->size());
      if (found == absl::string_view::npos) break;
      parts.emplace_back(text.substr(found + sep->size(), end - found - sep->size()));
      end = found;
    }
    parts.emplace_back(text.substr(0, end));
  } else {
    const std::u32string chars = DecodeAll(text);
    size_t j = chars.size();
    while (true) {
      while (j > 0 && IsPySpace(chars[j - 1])) --j;
      if (j == 0) break;
      if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
        parts.push_back(EncodeAll(std::u32string_view(chars).substr(0, j)));
        break;
      }
      size_t i = j;
      while (i > 0 && !IsPySpace(chars[i - 1])) --i;
      parts.push_back(EncodeAll(std::u32string_view(chars).substr(i, j - i)));
      j = i;
    }
  }
  return std::vector<std::string>(parts.rbegin(), parts.rend());
}

std::vector<std::string> SplitLines(absl::string_view text) {
  std::vector<std::string> lines;
  size_t start = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t here = pos;
    const char32_t c = DecodeUtf8(text, &pos);
    if (!IsLineBreak(c)) continue;
    lines.emplace_back(text.substr(start, here - start));
    if (c == U'\r' && pos < text.size() && text[pos] == '\n') ++pos;
    start = pos;
  }
  if (start < text.size()) lines.emplace_back(text.substr(start));
  return lines;
}

std::string Replace(absl::string_view text, absl::string_view old, absl::string_view replacement,
                    int64_t count) {
  std::string out;
  if (old.empty()) {
    // Python inserts the replacement before every code point and at the end.
    int64_t done = 0;
    size_t pos = 0;
    while (pos <= text.size()) {
      if (count >= 0 && done >= count) {
        absl::StrAppend(&out, text.substr(pos));
        break;
      }
      absl::StrAppend(&out, replacement);
      ++done;
      if (pos == text.size()) break;
      const size_t start = pos;
      DecodeUtf8(text, &pos);
      absl::StrAppend(&out, text.substr(start, pos - start));
    }
    return out;
  }
  size_t start = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    const size_t found = text.find(old, start);
    if (found == absl::string_view::npos) break;
    absl::StrAppend(&out, text.substr(start, found - start));
    absl::StrAppend(&out, replacement);
    start = found + old.size();
    ++done;
  }
  absl::StrAppend(&out, text.substr(start));
  return out;
}

std::string Upper(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) AppendUpper(DecodeUtf8(text, &pos), &out);
  return out;
}

// Characters Unicode calls case-ignorable, approximately: marks, format characters, modifiers
// and the in-word punctuation of the Word_Break property.
bool IsCaseIgnorable(char32_t c) {
  switch (c) {
    case U'\'':
    case U'.':
    case U':':
    case U'^':
    case U'`':
    case 0x00B7:
    case 0x2018:
    case 0x2019:
    case 0x2024:
    case 0xFE52:
    case 0xFF07:
    case 0xFF0E:
      return true;
    default:
      break;
  }
  switch (Category(c)) {
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_SK:
      return true;
    default:
      return false;
  }
}

// Python lowercases a capital sigma to the final form at the end of a word: after a cased
// letter and not before one, looking past case-ignorable characters both ways.
bool IsFinalSigma(const std::u32string& text, size_t at) {
  size_t i = at;
  bool cased_before = false;
  while (i > 0) {
    --i;
    if (IsCaseIgnorable(text[i])) continue;
    cased_before = IsCasedLetter(text[i]);
    break;
  }
  if (!cased_before) return false;
  for (size_t j = at + 1; j < text.size(); ++j) {
    if (IsCaseIgnorable(text[j])) continue;
    return !IsCasedLetter(text[j]);
  }
  return true;
}

void AppendLowerAt(const std::u32string& chars, size_t i, std::string* out) {
  if (chars[i] == 0x03A3 && IsFinalSigma(chars, i)) {
    AppendCodePoint(0x03C2, out);
  } else {
    AppendLower(chars[i], out);
  }
}

std::string Lower(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  if (text.find("\xCE\xA3") == absl::string_view::npos) {
    size_t pos = 0;
    while (pos < text.size()) AppendLower(DecodeUtf8(text, &pos), &out);
    return out;
  }
  const std::u32string chars = DecodeAll(text);
  for (size_t i = 0; i < chars.size(); ++i) AppendLowerAt(chars, i, &out);
  return out;
}

std::string Capitalize(absl::string_view text) {
  const std::u32string chars = DecodeAll(text);
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < chars.size(); ++i) {
    if (i == 0) {
      AppendTitle(chars[0], &out);
    } else {
      AppendLowerAt(chars, i, &out);
    }
  }
  return out;
}

std::string TitleWords(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool word_start = true;
  size_t pos = 0;
  while (pos < text.size()) {
    const char32_t c = DecodeUtf8(text, &pos);
    const bool separator =
        IsPySpace(c) || c == U'-' || c == U'(' || c == U'{' || c == U'[' || c == U'<';
    if (separator) {
      // Separators have no case, so the mapping Jinja applies to them changes nothing.
      AppendCodePoint(c, &out);
      word_start = true;
      continue;
    }
    if (word_start) {
      AppendUpper(c, &out);
      word_start = false;
    } else {
      AppendLower(c, &out);
    }
  }
  return out;
}

std::string Title(absl::string_view text) {
  const std::u32string chars = DecodeAll(text);
  std::string out;
  out.reserve(text.size());
  bool previous_cased = false;
  for (size_t i = 0; i < chars.size(); ++i) {
    if (previous_cased) {
      AppendLowerAt(chars, i, &out);
    } else {
      AppendTitle(chars[i], &out);
    }
    previous_cased = IsCasedLetter(chars[i]);
  }
  return out;
}

bool IsLower(absl::string_view text) {
  bool cased = false;
  size_t pos = 0;
  while (pos < text.size()) {
    const utf8proc_category_t category = Category(DecodeUtf8(text, &pos));
    if (category == UTF8PROC_CATEGORY_LU || category == UTF8PROC_CATEGORY_LT) return false;
    if (category == UTF8PROC_CATEGORY_LL) cased = true;
  }
  return cased;
}

bool IsUpper(absl::string_view text) {
  bool cased = false;
  size_t pos = 0;
  while (pos < text.size()) {
    const utf8proc_category_t category = Category(DecodeUtf8(text, &pos));
    if (category == UTF8PROC_CATEGORY_LL || category == UTF8PROC_CATEGORY_LT) return false;
    if (category == UTF8PROC_CATEGORY_LU) cased = true;
  }
  return cased;
}

size_t WordCount(absl::string_view text) {
  size_t count = 0;
  bool in_word = false;
  size_t pos = 0;
  while (pos < text.size()) {
    const bool word = IsWordChar(DecodeUtf8(text, &pos));
    if (word && !in_word) ++count;
    in_word = word;
  }
  return count;
}

std::string HtmlEscape(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out.append("&amp;");
        break;
      case '<':
        out.append("&lt;");
        break;
      case '>':
        out.append("&gt;");
        break;
      case '\'':
        out.append("&#39;");
        break;
      case '"':
        out.append("&#34;");
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

}  // namespace trustformers::tokenizers::jinja
