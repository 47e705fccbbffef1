// UTF-8 checks and conversions for tokenizer input. Validation follows the Unicode standard's
// definition of well-formed UTF-8 (no overlong forms, no encoded surrogates, nothing above
// U+10FFFF), so everything after it can decode without re-checking.
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace trustformers::tokenizers {

// OK, or INVALID_ARGUMENT naming the byte offset where the first ill-formed sequence starts.
absl::Status ValidateUtf8(absl::string_view text);

// Decodes the code point that starts at text[*pos] and moves *pos past it. `text` must be valid
// UTF-8 (see ValidateUtf8) and *pos a character boundary inside it.
char32_t DecodeUtf8(absl::string_view text, size_t* pos);

// Bytes that `code_point` takes in UTF-8 (1 to 4).
size_t Utf8Length(char32_t code_point);

// Appends the UTF-8 form of `code_point`, which must be a Unicode scalar value.
void AppendUtf8(char32_t code_point, std::string* out);

// Appends `bytes` (any bytes) as valid UTF-8: well-formed characters are copied and each maximal
// ill-formed subsequence becomes one U+FFFD, the Unicode-recommended practice that Python's
// errors="replace" and Rust's from_utf8_lossy follow, so decoded text matches theirs.
void AppendUtf8Lossy(absl::string_view bytes, std::string* out);

// How many trailing bytes of `bytes` (0 to 3) start a well-formed character without finishing it:
// the bytes a stream must hold back until more arrive.
size_t IncompleteUtf8Tail(absl::string_view bytes);

}  // namespace trustformers::tokenizers
