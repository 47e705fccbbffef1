#include "tokenizers/bert_normalizer.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "tokenizers/json_fields.h"
#include "tokenizers/unicode.h"

namespace trustformers::tokenizers {
namespace {

// BERT's "Chinese character": the CJK Unified Ideographs blocks and extensions A to E and the
// compatibility ideographs, as the original BERT code defines it (not Hangul, kana or later
// extensions).
bool IsCjkIdeograph(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

void CleanText(NormalizedString* text) {
  // TAB, LF and CR are controls by category but count as whitespace here.
  text->Filter([](char32_t c) {
    if (c == U'\t' || c == U'\n' || c == U'\r') return true;
    return c != 0 && c != 0xFFFD && !IsControlOrFormat(c);
  });
  text->Map([](char32_t c) { return IsWhitespace(c) ? U' ' : c; });
}

void SpaceOutIdeographs(NormalizedString* text) {
  std::vector<CharEdit> edits;
  edits.reserve(text->size());
  for (const AlignedChar& c : text->chars()) {
    if (IsCjkIdeograph(c.code_point)) {
      edits.push_back({U' ', false});
      edits.push_back({c.code_point, true});
      edits.push_back({U' ', true});
    } else {
      edits.push_back({c.code_point, false});
    }
  }
  text->Transform(edits);
}

// NFD with the alignment Hugging Face gives it: the first code point of each character's
// decomposition replaces that character and the rest are inserted after it; canonical reordering
// then moves code points together with their replace/insert role, so after a reorder the sources
// follow positions rather than characters.
void DecomposeCanonically(NormalizedString* text) {
  struct Pending {
    int combining_class;
    char32_t code_point;
    bool inserted;
  };
  std::vector<Pending> buffer;
  buffer.reserve(text->size());
  size_t unsorted_from = 0;
  auto sort_unsorted = [&]() {
    std::stable_sort(
        buffer.begin() + static_cast<std::ptrdiff_t>(unsorted_from), buffer.end(),
        [](const Pending& a, const Pending& b) { return a.combining_class < b.combining_class; });
    unsorted_from = buffer.size();
  };
  std::u32string decomposition;
  for (const AlignedChar& c : text->chars()) {
    decomposition.clear();
    AppendCanonicalDecomposition(c.code_point, &decomposition);
    for (size_t i = 0; i < decomposition.size(); ++i) {
      const int combining_class = CombiningClass(decomposition[i]);
      if (combining_class == 0) sort_unsorted();
      buffer.push_back({combining_class, decomposition[i], i > 0});
    }
  }
  sort_unsorted();
  std::vector<CharEdit> edits;
  edits.reserve(buffer.size());
  for (const Pending& p : buffer) edits.push_back({p.code_point, p.inserted});
  text->Transform(edits);
}

void Lowercase(NormalizedString* text) {
  std::vector<CharEdit> edits;
  edits.reserve(text->size());
  std::u32string lower;
  for (const AlignedChar& c : text->chars()) {
    lower.clear();
    AppendLowercase(c.code_point, &lower);
    for (size_t i = 0; i < lower.size(); ++i) edits.push_back({lower[i], i > 0});
  }
  text->Transform(edits);
}

}  // namespace

absl::StatusOr<BertNormalizer> BertNormalizer::FromJson(const nlohmann::json& config) {
  constexpr absl::string_view kPath = "normalizer";
  BertNormalizerOptions options;
  absl::StatusOr<bool> clean_text = ReadBool(config, kPath, "clean_text");
  if (!clean_text.ok()) return clean_text.status();
  absl::StatusOr<bool> handle_chinese_chars = ReadBool(config, kPath, "handle_chinese_chars");
  if (!handle_chinese_chars.ok()) return handle_chinese_chars.status();
  absl::StatusOr<bool> lowercase = ReadBool(config, kPath, "lowercase");
  if (!lowercase.ok()) return lowercase.status();
  options.clean_text = *clean_text;
  options.handle_chinese_chars = *handle_chinese_chars;
  options.lowercase = *lowercase;
  if (const nlohmann::json* strip = OptionalField(config, "strip_accents")) {
    if (!strip->is_boolean()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "normalizer.strip_accents must be a boolean or null, not ", DescribeJsonType(*strip)));
    }
    options.strip_accents = strip->get<bool>();
  }
  return BertNormalizer(options);
}

void BertNormalizer::Normalize(NormalizedString* text) const {
  if (options_.clean_text) CleanText(text);
  if (options_.handle_chinese_chars) SpaceOutIdeographs(text);
  if (options_.strip_accents.value_or(options_.lowercase)) {
    DecomposeCanonically(text);
    text->Filter([](char32_t c) { return !IsNonspacingMark(c); });
  }
  if (options_.lowercase) Lowercase(text);
}

}  // namespace trustformers::tokenizers
