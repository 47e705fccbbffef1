#include "tokenizers/jinja/lexer.h"

#include <charconv>
#include <limits>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tokenizers/jinja/py_text.h"
#include "tokenizers/jinja/status_macros.h"
#include "tokenizers/utf8.h"

namespace trustformers::tokenizers::jinja {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsNameStart(char c) { return absl::ascii_isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IsNameChar(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// Python whitespace (regex \s) at `pos`; sets *length to its byte length.
bool SpaceAt(absl::string_view source, size_t pos, size_t* length) {
  if (pos >= source.size()) return false;
  size_t next = pos;
  const char32_t c = DecodeUtf8(source, &next);
  if (!IsPySpace(c)) return false;
  *length = next - pos;
  return true;
}

size_t SkipSpaces(absl::string_view source, size_t pos) {
  size_t length = 0;
  while (SpaceAt(source, pos, &length)) pos += length;
  return pos;
}

// Python's str.rstrip(): drops trailing whitespace of `text`.
absl::string_view RStripSpaces(absl::string_view text) {
  size_t end = text.size();
  while (end > 0) {
    size_t start = end - 1;
    while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
    size_t next = start;
    if (!IsPySpace(DecodeUtf8(text, &next))) break;
    end = start;
  }
  return text.substr(0, end);
}

// (\d+_)*\d+ at `pos`: the end of the match, or nullopt.
std::optional<size_t> MatchDigits(absl::string_view s, size_t pos) {
  if (pos >= s.size() || !IsDigit(s[pos])) return std::nullopt;
  while (true) {
    while (pos < s.size() && IsDigit(s[pos])) ++pos;
    if (pos + 1 < s.size() && s[pos] == '_' && IsDigit(s[pos + 1])) {
      ++pos;
      continue;
    }
    return pos;
  }
}

// jinja2's float literal: digits with a fraction and/or an exponent, not right after a '.'.
std::optional<size_t> MatchFloat(absl::string_view s, size_t pos) {
  if (pos > 0 && s[pos - 1] == '.') return std::nullopt;
  const std::optional<size_t> integer_end = MatchDigits(s, pos);
  if (!integer_end) return std::nullopt;
  auto match_exponent = [&](size_t at) -> std::optional<size_t> {
    if (at >= s.size() || (s[at] != 'e' && s[at] != 'E')) return std::nullopt;
    ++at;
    if (at < s.size() && (s[at] == '+' || s[at] == '-')) ++at;
    return MatchDigits(s, at);
  };
  std::optional<size_t> fraction_end;
  if (*integer_end < s.size() && s[*integer_end] == '.') {
    fraction_end = MatchDigits(s, *integer_end + 1);
  }
  if (fraction_end) {
    if (std::optional<size_t> end = match_exponent(*fraction_end)) return end;
  }
  if (std::optional<size_t> end = match_exponent(*integer_end)) return end;
  return fraction_end;
}

bool IsDigitIn(char c, int base) {
  const char lower = absl::ascii_tolower(static_cast<unsigned char>(c));
  if (base == 2) return c == '0' || c == '1';
  if (base == 8) return c >= '0' && c <= '7';
  if (base == 16) return IsDigit(c) || (lower >= 'a' && lower <= 'f');
  return IsDigit(c);
}

// jinja2's integer literal (0b / 0o / 0x prefixes, '_' separators, no leading zeros).
std::optional<size_t> MatchInteger(absl::string_view s, size_t pos, int* base) {
  if (pos >= s.size() || !IsDigit(s[pos])) return std::nullopt;
  if (s[pos] == '0' && pos + 1 < s.size()) {
    const char prefix = absl::ascii_tolower(static_cast<unsigned char>(s[pos + 1]));
    const int prefixed_base = prefix == 'b' ? 2 : prefix == 'o' ? 8 : prefix == 'x' ? 16 : 0;
    if (prefixed_base != 0) {
      size_t at = pos + 2;
      bool any = false;
      while (true) {
        size_t next = at;
        if (next < s.size() && s[next] == '_') ++next;
        if (next < s.size() && IsDigitIn(s[next], prefixed_base)) {
          at = next + 1;
          any = true;
          continue;
        }
        break;
      }
      if (any) {
        *base = prefixed_base;
        return at;
      }
    }
  }
  *base = 10;
  const char first = s[pos];
  size_t at = pos + 1;
  while (true) {
    size_t next = at;
    if (next < s.size() && s[next] == '_') ++next;
    if (next < s.size() && (first == '0' ? s[next] == '0' : IsDigit(s[next]))) {
      at = next + 1;
      continue;
    }
    break;
  }
  return at;
}

absl::StatusOr<int64_t> IntegerValue(absl::string_view text, int base) {
  std::string digits;
  for (size_t i = base == 10 ? 0 : 2; i < text.size(); ++i) {
    if (text[i] != '_') digits.push_back(text[i]);
  }
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value, base);
  if (ec != std::errc() || end != digits.data() + digits.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("integer literal ", text, " is too large (beyond 64 bits)"));
  }
  return value;
}

absl::StatusOr<double> FloatValue(absl::string_view text) {
  std::string digits;
  for (char c : text) {
    if (c != '_') digits.push_back(c);
  }
  double value = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec == std::errc::result_out_of_range) {
    // Python reads an overflowing literal as inf and an underflowing one as 0.0.
    return digits.find_first_of("eE") != std::string::npos &&
                   digits.find("e-") == std::string::npos && digits.find("E-") == std::string::npos
               ? std::numeric_limits<double>::infinity()
               : 0.0;
  }
  if (ec != std::errc() || end != digits.data() + digits.size()) {
    return absl::InvalidArgumentError(absl::StrCat("bad float literal ", text));
  }
  return value;
}

int HexDigit(char c) {
  if (IsDigit(c)) return c - '0';
  const char lower = absl::ascii_tolower(static_cast<unsigned char>(c));
  if (lower >= 'a' && lower <= 'f') return lower - 'a' + 10;
  return -1;
}

// The value of a string literal's body, as jinja2 decodes it: Python's unicode-escape codec
// applied after non-ASCII characters were turned into backslash escapes (so "\é" reads as the
// four characters \xe9, as it does in jinja2).
absl::StatusOr<std::string> DecodeStringBody(absl::string_view body) {
  std::string out;
  out.reserve(body.size());
  size_t i = 0;
  while (i < body.size()) {
    const char c = body[i];
    if (c != '\\') {
      out.push_back(c);
      ++i;
      continue;
    }
    if (i + 1 >= body.size()) return absl::InvalidArgumentError("\\ at end of string");
    const char e = body[i + 1];
    if (static_cast<unsigned char>(e) >= 0x80) {
      size_t next = i + 1;
      const char32_t cp = DecodeUtf8(body, &next);
      if (cp <= 0xFF) {
        absl::StrAppend(&out, "\\x", absl::Hex(static_cast<uint32_t>(cp), absl::kZeroPad2));
      } else if (cp <= 0xFFFF) {
        absl::StrAppend(&out, "\\u", absl::Hex(static_cast<uint32_t>(cp), absl::kZeroPad4));
      } else {
        absl::StrAppend(&out, "\\U", absl::Hex(static_cast<uint32_t>(cp), absl::kZeroPad8));
      }
      i = next;
      continue;
    }
    i += 2;
    char32_t code_point = 0;
    int hex_digits = 0;
    switch (e) {
      case '\n':
        continue;
      case '\\':
      case '\'':
      case '"':
        out.push_back(e);
        continue;
      case 'a':
        out.push_back('\a');
        continue;
      case 'b':
        out.push_back('\b');
        continue;
      case 'f':
        out.push_back('\f');
        continue;
      case 'n':
        out.push_back('\n');
        continue;
      case 'r':
        out.push_back('\r');
        continue;
      case 't':
        out.push_back('\t');
        continue;
      case 'v':
        out.push_back('\v');
        continue;
      case 'x':
        hex_digits = 2;
        break;
      case 'u':
        hex_digits = 4;
        break;
      case 'U':
        hex_digits = 8;
        break;
      case 'N':
        return absl::InvalidArgumentError("unsupported \\N{...} escape in a string literal");
      default:
        if (e >= '0' && e <= '7') {
          code_point = static_cast<char32_t>(e - '0');
          for (int k = 0; k < 2 && i < body.size() && body[i] >= '0' && body[i] <= '7'; ++k) {
            code_point = code_point * 8 + static_cast<char32_t>(body[i++] - '0');
          }
          AppendCodePoint(code_point, &out);
          continue;
        }
        out.push_back('\\');
        out.push_back(e);
        continue;
    }
    for (int k = 0; k < hex_digits; ++k) {
      const int digit = i < body.size() ? HexDigit(body[i]) : -1;
      if (digit < 0) {
        return absl::InvalidArgumentError(absl::StrCat("truncated \\", std::string(1, e),
                                                       std::string(hex_digits, 'X'), " escape"));
      }
      code_point = code_point * 16 + static_cast<char32_t>(digit);
      ++i;
    }
    if (code_point > 0x10FFFF) return absl::InvalidArgumentError("illegal Unicode character");
    if (code_point >= 0xD800 && code_point <= 0xDFFF) {
      return absl::InvalidArgumentError("unsupported surrogate escape in a string literal");
    }
    AppendCodePoint(code_point, &out);
  }
  return out;
}

class Lexer {
 public:
  explicit Lexer(absl::string_view source) : source_(source) {}

  absl::StatusOr<std::vector<Token>> Run() {
    while (pos_ < source_.size()) {
      const size_t tag = FindTagStart(pos_);
      if (tag == absl::string_view::npos) {
        AddData(source_.substr(pos_), pos_);
        pos_ = source_.size();
        break;
      }
      JINJA_RETURN_IF_ERROR(LexTag(tag));
    }
    Token eof;
    eof.kind = TokenKind::kEof;
    eof.offset = static_cast<uint32_t>(source_.size());
    tokens_.push_back(std::move(eof));
    return std::move(tokens_);
  }

 private:
  size_t FindTagStart(size_t from) const {
    size_t at = from;
    while ((at = source_.find('{', at)) != absl::string_view::npos) {
      if (at + 1 < source_.size() &&
          (source_[at + 1] == '{' || source_[at + 1] == '%' || source_[at + 1] == '#')) {
        return at;
      }
      ++at;
    }
    return absl::string_view::npos;
  }

  // Whitespace control for the text before a tag: '-' strips all trailing whitespace;
  // otherwise lstrip_blocks drops the spaces between the last line start and a block or comment
  // tag when nothing else stands there.
  absl::string_view StripBeforeTag(absl::string_view text, char sign, bool is_variable) const {
    if (sign == '-') return RStripSpaces(text);
    if (sign == '+' || is_variable) return text;
    const size_t newline = text.rfind('\n');
    const size_t line_start = newline == absl::string_view::npos ? 0 : newline + 1;
    if (line_start == 0 && !line_starting_) return text;
    const absl::string_view tail = text.substr(line_start);
    if (tail.empty() || SkipSpaces(tail, 0) != tail.size()) return text;
    return text.substr(0, line_start);
  }

  void AddData(absl::string_view text, size_t offset) {
    if (text.empty()) return;
    Token token;
    token.kind = TokenKind::kData;
    token.offset = static_cast<uint32_t>(offset);
    token.text = std::string(text);
    tokens_.push_back(std::move(token));
  }

  void AddToken(TokenKind kind, size_t offset, std::string text = {}) {
    Token token;
    token.kind = kind;
    token.offset = static_cast<uint32_t>(offset);
    token.text = std::move(text);
    tokens_.push_back(std::move(token));
  }

  char SignAt(size_t at) const {
    if (at < source_.size() && (source_[at] == '-' || source_[at] == '+')) return source_[at];
    return 0;
  }

  // The end of a block tag at `at` ("+%}", "-%}" + whitespace, "%}" + one newline), or npos.
  size_t MatchBlockEnd(size_t at) const {
    const absl::string_view rest = source_.substr(at);
    if (absl::StartsWith(rest, "+%}")) return at + 3;
    if (absl::StartsWith(rest, "-%}")) return SkipSpaces(source_, at + 3);
    if (absl::StartsWith(rest, "%}")) {
      return at + 2 < source_.size() && source_[at + 2] == '\n' ? at + 3 : at + 2;
    }
    return absl::string_view::npos;
  }

  // "{% raw %}" at `tag` (any sign, spaces around the word): the end of the opening tag.
  size_t MatchRawBegin(size_t tag) const {
    size_t at = tag + 2;
    if (SignAt(at) != 0) ++at;
    at = SkipSpaces(source_, at);
    if (!absl::StartsWith(source_.substr(at), "raw")) return absl::string_view::npos;
    at = SkipSpaces(source_, at + 3);
    // The opening tag takes no trim_blocks newline, as in jinja2.
    if (absl::StartsWith(source_.substr(at), "-%}")) return SkipSpaces(source_, at + 3);
    if (absl::StartsWith(source_.substr(at), "%}")) return at + 2;
    return absl::string_view::npos;
  }

  absl::Status LexTag(size_t tag) {
    const char type = source_[tag + 1];
    const char sign = SignAt(tag + 2);
    const absl::string_view text = source_.substr(pos_, tag - pos_);
    AddData(StripBeforeTag(text, sign, type == '{'), pos_);
    if (type == '%') {
      const size_t raw_end = MatchRawBegin(tag);
      if (raw_end != absl::string_view::npos) return LexRaw(tag, raw_end);
    }
    if (type == '#') return LexComment(tag, sign);
    AddToken(type == '{' ? TokenKind::kVariableBegin : TokenKind::kBlockBegin, tag);
    pos_ = tag + 2 + (sign != 0 ? 1 : 0);
    return LexInside(type == '{');
  }

  absl::Status LexRaw(size_t tag, size_t body_start) {
    line_starting_ = source_[body_start - 1] == '\n';
    size_t search = body_start;
    while (true) {
      const size_t start = source_.find("{%", search);
      if (start == absl::string_view::npos) {
        return ErrorAt(source_, static_cast<uint32_t>(tag), "Missing end of raw directive");
      }
      const char sign = SignAt(start + 2);
      size_t at = SkipSpaces(source_, start + 2 + (sign != 0 ? 1 : 0));
      if (absl::StartsWith(source_.substr(at), "endraw")) {
        const size_t end = MatchBlockEnd(SkipSpaces(source_, at + 6));
        if (end != absl::string_view::npos) {
          const absl::string_view body = source_.substr(body_start, start - body_start);
          AddData(StripBeforeTag(body, sign, false), body_start);
          pos_ = end;
          line_starting_ = source_[end - 1] == '\n';
          return absl::OkStatus();
        }
      }
      search = start + 2;
    }
  }

  absl::Status LexComment(size_t tag, char sign) {
    const size_t content = tag + 2 + (sign != 0 ? 1 : 0);
    const size_t close = source_.find("#}", content);
    if (close == absl::string_view::npos) {
      return ErrorAt(source_, static_cast<uint32_t>(tag), "Missing end of comment tag");
    }
    const char end_sign = close > content ? SignAt(close - 1) : 0;
    size_t end = close + 2;
    if (end_sign == '-') {
      end = SkipSpaces(source_, end);
    } else if (end_sign == 0 && end < source_.size() && source_[end] == '\n') {
      ++end;
    }
    pos_ = end;
    line_starting_ = source_[end - 1] == '\n';
    return absl::OkStatus();
  }

  absl::Status LexInside(bool variable) {
    const size_t tag_offset = tokens_.back().offset;
    // Closing brackets still expected: a tag cannot end inside {...}, [...] or (...), which is
    // how jinja2 reads "{{ {'a': 1}}}" as a dict followed by the end of the tag.
    std::vector<char> balance;
    while (true) {
      if (pos_ >= source_.size()) {
        return ErrorAt(source_, static_cast<uint32_t>(tag_offset),
                       variable ? "unexpected end of template, expected end of print statement"
                                : "unexpected end of template, expected end of statement block");
      }
      if (balance.empty()) {
        size_t end = absl::string_view::npos;
        if (variable) {
          if (absl::StartsWith(source_.substr(pos_), "-}}")) {
            end = SkipSpaces(source_, pos_ + 3);
          } else if (absl::StartsWith(source_.substr(pos_), "}}")) {
            end = pos_ + 2;
          }
        } else {
          end = MatchBlockEnd(pos_);
        }
        if (end != absl::string_view::npos) {
          AddToken(variable ? TokenKind::kVariableEnd : TokenKind::kBlockEnd, pos_);
          pos_ = end;
          line_starting_ = source_[end - 1] == '\n';
          return absl::OkStatus();
        }
      }
      size_t space = 0;
      if (SpaceAt(source_, pos_, &space)) {
        pos_ += space;
        continue;
      }
      JINJA_RETURN_IF_ERROR(LexOne(&balance));
    }
  }

  absl::Status LexOne(std::vector<char>* balance) {
    const size_t start = pos_;
    const char c = source_[pos_];
    if (const std::optional<size_t> end = MatchFloat(source_, pos_)) {
      absl::StatusOr<double> value = FloatValue(source_.substr(start, *end - start));
      if (!value.ok())
        return ErrorAt(source_, static_cast<uint32_t>(start), value.status().message());
      AddToken(TokenKind::kFloat, start);
      tokens_.back().number = *value;
      pos_ = *end;
      return absl::OkStatus();
    }
    int base = 10;
    if (const std::optional<size_t> end = MatchInteger(source_, pos_, &base)) {
      absl::StatusOr<int64_t> value = IntegerValue(source_.substr(start, *end - start), base);
      if (!value.ok())
        return ErrorAt(source_, static_cast<uint32_t>(start), value.status().message());
      AddToken(TokenKind::kInteger, start);
      tokens_.back().integer = *value;
      pos_ = *end;
      return absl::OkStatus();
    }
    if (IsNameStart(c)) {
      size_t end = pos_ + 1;
      while (end < source_.size() && IsNameChar(source_[end])) ++end;
      if (end < source_.size() && static_cast<unsigned char>(source_[end]) >= 0x80) {
        return ErrorAt(source_, static_cast<uint32_t>(start),
                       "unsupported non-ASCII character in an identifier");
      }
      AddToken(TokenKind::kName, start, std::string(source_.substr(start, end - start)));
      pos_ = end;
      return absl::OkStatus();
    }
    if (c == '\'' || c == '"') return LexString(c);
    static constexpr absl::string_view kTwoCharOperators[] = {"//", "**", "==", "!=", ">=", "<="};
    for (absl::string_view op : kTwoCharOperators) {
      if (absl::StartsWith(source_.substr(pos_), op)) {
        AddToken(TokenKind::kOperator, start, std::string(op));
        pos_ += 2;
        return absl::OkStatus();
      }
    }
    if (absl::string_view("+-/*%~[](){}=.:|,;<>").find(c) != absl::string_view::npos) {
      if (c == '(' || c == '[' || c == '{') {
        balance->push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
      } else if (c == ')' || c == ']' || c == '}') {
        if (balance->empty()) {
          return ErrorAt(source_, static_cast<uint32_t>(start),
                         absl::StrCat("unexpected '", std::string(1, c), "'"));
        }
        if (balance->back() != c) {
          return ErrorAt(source_, static_cast<uint32_t>(start),
                         absl::StrCat("unexpected '", std::string(1, c), "', expected '",
                                      std::string(1, balance->back()), "'"));
        }
        balance->pop_back();
      }
      AddToken(TokenKind::kOperator, start, std::string(1, c));
      ++pos_;
      return absl::OkStatus();
    }
    size_t next = pos_;
    const char32_t cp = DecodeUtf8(source_, &next);
    std::string shown;
    AppendCodePoint(cp, &shown);
    return ErrorAt(source_, static_cast<uint32_t>(start),
                   absl::StrCat("unexpected char '", shown, "'"));
  }

  absl::Status LexString(char quote) {
    const size_t start = pos_;
    size_t at = pos_ + 1;
    while (at < source_.size() && source_[at] != quote) {
      if (source_[at] == '\\') {
        if (at + 1 >= source_.size()) break;
        size_t next = at + 1;
        DecodeUtf8(source_, &next);
        at = next;
        continue;
      }
      ++at;
    }
    if (at >= source_.size()) {
      return ErrorAt(source_, static_cast<uint32_t>(start), "unterminated string literal");
    }
    absl::StatusOr<std::string> value = DecodeStringBody(source_.substr(start + 1, at - start - 1));
    if (!value.ok())
      return ErrorAt(source_, static_cast<uint32_t>(start), value.status().message());
    AddToken(TokenKind::kString, start, *std::move(value));
    pos_ = at + 1;
    return absl::OkStatus();
  }

  absl::string_view source_;
  size_t pos_ = 0;
  // Whether the last thing consumed ended a line: lstrip_blocks then also applies to a tag whose
  // text has no newline of its own (jinja2 starts the template in this state).
  bool line_starting_ = true;
  std::vector<Token> tokens_;
};

}  // namespace

std::string NormalizeSource(absl::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out.push_back(source[i]);
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

absl::StatusOr<std::vector<Token>> Tokenize(absl::string_view source) {
  return Lexer(source).Run();
}

std::string LineColumn(absl::string_view source, uint32_t offset) {
  int line = 1;
  size_t line_start = 0;
  const size_t end = std::min<size_t>(offset, source.size());
  for (size_t i = 0; i < end; ++i) {
    if (source[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  return absl::StrCat(line, ":", CodePointCount(source.substr(line_start, end - line_start)) + 1);
}

absl::Status ErrorAt(absl::string_view source, uint32_t offset, absl::string_view message) {
  return absl::InvalidArgumentError(
      absl::StrCat("chat template line ", LineColumn(source, offset), ": ", message));
}

}  // namespace trustformers::tokenizers::jinja
