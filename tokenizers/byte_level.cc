#include "tokenizers/byte_level.h"

#include <array>

#include "tokenizers/utf8.h"

namespace trustformers::tokenizers {
namespace {

bool StandsForItself(int byte) {
  return (byte >= 0x21 && byte <= 0x7E) || (byte >= 0xA1 && byte <= 0xAC) ||
         (byte >= 0xAE && byte <= 0xFF);
}

struct Tables {
  std::array<char32_t, 256> char_of_byte{};
  // Indexed by code point; the alphabet ends below U+0144.
  std::array<int16_t, 0x144> byte_of_char{};
  // UTF-8 of each byte's character, so encoding is a table copy.
  std::array<std::string, 256> utf8_of_byte;
};

const Tables& GetTables() {
  static const Tables* const tables = [] {
    auto* t = new Tables();
    t->byte_of_char.fill(-1);
    char32_t next = 0x100;
    for (int byte = 0; byte < 256; ++byte) {
      const char32_t c = StandsForItself(byte) ? static_cast<char32_t>(byte) : next++;
      t->char_of_byte[byte] = c;
      t->byte_of_char[c] = static_cast<int16_t>(byte);
      AppendUtf8(c, &t->utf8_of_byte[byte]);
    }
    return t;
  }();
  return *tables;
}

}  // namespace

char32_t ByteLevelChar(uint8_t byte) { return GetTables().char_of_byte[byte]; }

std::optional<uint8_t> ByteLevelByte(char32_t c) {
  const Tables& tables = GetTables();
  if (c >= tables.byte_of_char.size() || tables.byte_of_char[c] < 0) return std::nullopt;
  return static_cast<uint8_t>(tables.byte_of_char[c]);
}

void AppendByteLevel(absl::string_view bytes, std::string* out) {
  const Tables& tables = GetTables();
  for (char byte : bytes) out->append(tables.utf8_of_byte[static_cast<unsigned char>(byte)]);
}

bool AppendByteLevelDecoded(absl::string_view text, std::string* out) {
  const size_t size_before = out->size();
  size_t pos = 0;
  while (pos < text.size()) {
    const std::optional<uint8_t> byte = ByteLevelByte(DecodeUtf8(text, &pos));
    if (!byte.has_value()) {
      out->resize(size_before);
      return false;
    }
    out->push_back(static_cast<char>(*byte));
  }
  return true;
}

std::optional<uint8_t> ByteTokenValue(absl::string_view token) {
  if (token.size() != 6 || token.substr(0, 3) != "<0x" || token[5] != '>') return std::nullopt;
  int value = 0;
  for (char c : token.substr(3, 2)) {
    value <<= 4;
    if (c >= '0' && c <= '9') {
      value |= c - '0';
    } else if (c >= 'A' && c <= 'F') {
      value |= c - 'A' + 10;
    } else if (c >= 'a' && c <= 'f') {
      value |= c - 'a' + 10;
    } else {
      return std::nullopt;
    }
  }
  return static_cast<uint8_t>(value);
}

}  // namespace trustformers::tokenizers
