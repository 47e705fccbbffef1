// The byte-level alphabet of GPT-2-style BPE: each of the 256 byte values stands for one printable
// Unicode character, so that any byte string becomes text a vocabulary of strings can cover. The
// printable Latin-1 bytes stand for themselves; the others (controls, space, soft hyphen) take
// U+0100 onwards in byte order, which is why a space shows up as "Ġ" (U+0120) in vocabularies.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace trustformers::tokenizers {

// The character that stands for `byte`.
char32_t ByteLevelChar(uint8_t byte);

// The byte `c` stands for, or nullopt when `c` is outside the alphabet.
std::optional<uint8_t> ByteLevelByte(char32_t c);

// Appends the UTF-8 of the characters standing for each byte of `bytes`.
void AppendByteLevel(absl::string_view bytes, std::string* out);

// Appends the bytes that the characters of `text` (valid UTF-8) stand for. False, with `out`
// unchanged, when some character is outside the alphabet.
bool AppendByteLevelDecoded(absl::string_view text, std::string* out);

// The byte a byte-fallback token such as "<0xAB>" stands for (SentencePiece's and llama.cpp's
// spelling; hex digits in either case), or nullopt for any other token.
std::optional<uint8_t> ByteTokenValue(absl::string_view token);

}  // namespace trustformers::tokenizers
