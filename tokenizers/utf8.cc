#include "tokenizers/utf8.h"

#include <cstdint>

#include "absl/strings/str_cat.h"

namespace trustformers::tokenizers {
namespace {

absl::Status IllFormed(absl::string_view text, size_t offset, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      "text is not valid UTF-8: ill-formed sequence at byte offset ", offset, " (byte 0x",
      absl::Hex(static_cast<unsigned char>(text[offset]), absl::kZeroPad2), ": ", why, ")"));
}

bool IsContinuation(unsigned char byte) { return (byte & 0xC0) == 0x80; }

// The length of the sequence `lead` starts (2 to 4), or 0 when it cannot start one.
size_t SequenceLength(unsigned char lead) {
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

// How many bytes of bytes[i, ...) (lead byte included, at most the sequence's length) agree with
// a well-formed sequence started by the lead byte at i.
size_t WellFormedPrefix(absl::string_view bytes, size_t i, size_t length) {
  const unsigned char lead = static_cast<unsigned char>(bytes[i]);
  size_t k = 1;
  while (k < length && i + k < bytes.size()) {
    const unsigned char b = static_cast<unsigned char>(bytes[i + k]);
    unsigned char min = 0x80;
    unsigned char max = 0xBF;
    if (k == 1) {
      if (lead == 0xE0) min = 0xA0;
      if (lead == 0xED) max = 0x9F;
      if (lead == 0xF0) min = 0x90;
      if (lead == 0xF4) max = 0x8F;
    }
    if (b < min || b > max) break;
    ++k;
  }
  return k;
}

}  // namespace

absl::Status ValidateUtf8(absl::string_view text) {
  const size_t size = text.size();
  size_t i = 0;
  while (i < size) {
    const unsigned char lead = static_cast<unsigned char>(text[i]);
    if (lead < 0x80) {
      ++i;
      continue;
    }
    size_t length = 0;
    // The range the second byte must fall in: tighter than 80..BF right after the leads whose
    // shortest forms, surrogates or values above U+10FFFF would otherwise slip through.
    unsigned char second_min = 0x80;
    unsigned char second_max = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      if (lead == 0xE0) second_min = 0xA0;  // E0 80..9F would be an overlong form
      if (lead == 0xED) second_max = 0x9F;  // ED A0..BF would encode a surrogate
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      if (lead == 0xF0) second_min = 0x90;  // F0 80..8F would be an overlong form
      if (lead == 0xF4) second_max = 0x8F;  // F4 90.. would exceed U+10FFFF
    } else if (IsContinuation(lead)) {
      return IllFormed(text, i, "continuation byte without a lead byte");
    } else if (lead == 0xC0 || lead == 0xC1) {
      return IllFormed(text, i, "overlong encoding");
    } else {
      return IllFormed(text, i, "byte never appears in UTF-8");
    }
    if (i + 1 >= size || !IsContinuation(static_cast<unsigned char>(text[i + 1]))) {
      return IllFormed(text, i, "truncated sequence");
    }
    const unsigned char second = static_cast<unsigned char>(text[i + 1]);
    if (second < second_min || second > second_max) {
      return IllFormed(text, i,
                       lead == 0xED   ? "encoded surrogate"
                       : lead == 0xF4 ? "code point above U+10FFFF"
                                      : "overlong encoding");
    }
    for (size_t k = 2; k < length; ++k) {
      if (i + k >= size || !IsContinuation(static_cast<unsigned char>(text[i + k]))) {
        return IllFormed(text, i, "truncated sequence");
      }
    }
    i += length;
  }
  return absl::OkStatus();
}

char32_t DecodeUtf8(absl::string_view text, size_t* pos) {
  const unsigned char lead = static_cast<unsigned char>(text[*pos]);
  if (lead < 0x80) {
    ++*pos;
    return lead;
  }
  size_t length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
  char32_t code_point = lead & (0x7F >> length);
  for (size_t k = 1; k < length; ++k) {
    code_point = (code_point << 6) | (static_cast<unsigned char>(text[*pos + k]) & 0x3F);
  }
  *pos += length;
  return code_point;
}

size_t Utf8Length(char32_t code_point) {
  return code_point < 0x80 ? 1 : code_point < 0x800 ? 2 : code_point < 0x10000 ? 3 : 4;
}

void AppendUtf8(char32_t code_point, std::string* out) {
  const uint32_t c = code_point;
  if (c < 0x80) {
    out->push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (c >> 6)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (c >> 12)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (c >> 18)));
    out->push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

void AppendUtf8Lossy(absl::string_view bytes, std::string* out) {
  size_t i = 0;
  while (i < bytes.size()) {
    const unsigned char lead = static_cast<unsigned char>(bytes[i]);
    if (lead < 0x80) {
      out->push_back(static_cast<char>(lead));
      ++i;
      continue;
    }
    const size_t length = SequenceLength(lead);
    if (length == 0) {
      out->append("\xEF\xBF\xBD");
      ++i;
      continue;
    }
    const size_t good = WellFormedPrefix(bytes, i, length);
    if (good == length) {
      out->append(bytes.data() + i, length);
    } else {
      out->append("\xEF\xBF\xBD");
    }
    i += good;
  }
}

size_t IncompleteUtf8Tail(absl::string_view bytes) {
  const size_t size = bytes.size();
  // A lead byte is never a continuation, so the last one within reach starts the tail's unit.
  for (size_t back = 1; back <= 3 && back <= size; ++back) {
    const size_t i = size - back;
    const unsigned char byte = static_cast<unsigned char>(bytes[i]);
    if (IsContinuation(byte)) continue;
    const size_t length = SequenceLength(byte);
    if (length <= back) return 0;
    return WellFormedPrefix(bytes, i, length) == back ? back : 0;
  }
  return 0;
}

}  // namespace trustformers::tokenizers
