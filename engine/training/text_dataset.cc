#include "engine/training/text_dataset.h"

#include <limits>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/training/line_error.h"

namespace trustformers::training {
namespace {

// Encodes one record: once in full, and again with truncation only when it is too long, so that
// the caller learns which records were cut without reimplementing the tokenizer's truncation.
absl::StatusOr<tokenizers::Encoding> Encode(const tokenizers::Tokenizer& tokenizer,
                                            const TextRecord& record, size_t max_length,
                                            bool* truncated) {
  tokenizers::EncodeOptions options;
  options.add_special_tokens = true;
  const auto encode = [&]() -> absl::StatusOr<tokenizers::Encoding> {
    if (record.text_pair.has_value()) {
      return tokenizer.EncodePair(record.text, *record.text_pair, options);
    }
    return tokenizer.Encode(record.text, options);
  };
  absl::StatusOr<tokenizers::Encoding> full = encode();
  *truncated = full.ok() && full->size() > max_length;
  if (!full.ok() || !*truncated) return full;
  tokenizers::TruncationParams truncation;
  truncation.max_length = max_length;
  truncation.strategy = tokenizers::TruncationStrategy::kLongestFirst;
  truncation.direction = tokenizers::Side::kRight;
  options.truncation = truncation;
  return encode();
}

absl::StatusOr<std::vector<int32_t>> ToInt32(const std::vector<uint32_t>& values) {
  std::vector<int32_t> out;
  out.reserve(values.size());
  for (uint32_t value : values) {
    if (value > static_cast<uint32_t>(std::numeric_limits<int32_t>::max())) {
      return absl::OutOfRangeError(absl::StrCat("token id ", value, " does not fit in int32"));
    }
    out.push_back(static_cast<int32_t>(value));
  }
  return out;
}

}  // namespace

absl::StatusOr<TokenizedRecords> TokenizeRecords(const tokenizers::Tokenizer& tokenizer,
                                                 const std::vector<TextRecord>& records,
                                                 const std::vector<int64_t>& labels,
                                                 size_t max_length, absl::string_view file) {
  if (max_length == 0) return absl::InvalidArgumentError("max_length must be >= 1");
  if (labels.size() != records.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(labels.size(), " labels for ", records.size(), " records"));
  }
  std::vector<nn::TextExample> examples;
  examples.reserve(records.size());
  TokenizedRecords result;
  for (size_t i = 0; i < records.size(); ++i) {
    const TextRecord& record = records[i];
    bool truncated = false;
    absl::StatusOr<tokenizers::Encoding> encoding =
        Encode(tokenizer, record, max_length, &truncated);
    if (!encoding.ok()) {
      return LineError(file, record.line, encoding.status().message(), encoding.status().code());
    }
    absl::StatusOr<std::vector<int32_t>> ids = ToInt32(encoding->ids);
    absl::StatusOr<std::vector<int32_t>> type_ids = ToInt32(encoding->type_ids);
    if (!ids.ok()) return LineError(file, record.line, ids.status().message(), ids.status().code());
    if (!type_ids.ok()) {
      return LineError(file, record.line, type_ids.status().message(), type_ids.status().code());
    }
    examples.push_back(nn::TextExample{*std::move(ids), *std::move(type_ids), labels[i]});
    if (truncated) result.truncated_lines.push_back(record.line);
  }
  result.dataset = std::make_shared<const nn::ExampleDataset>(std::move(examples));
  return result;
}

absl::StatusOr<TextClassificationData> LoadTextClassificationFile(
    const std::string& path, const tokenizers::Tokenizer& tokenizer,
    const TextDatasetOptions& options) {
  absl::StatusOr<std::vector<TextRecord>> records = ReadTextRecords(path, options.limits);
  if (!records.ok()) return records.status();
  absl::StatusOr<LabelSet> labels = LabelSet::Resolve(options.labels, *records, path);
  if (!labels.ok()) return labels.status();
  absl::StatusOr<std::vector<int64_t>> ids = LabelIds(*labels, *records, path);
  if (!ids.ok()) return ids.status();
  absl::StatusOr<TokenizedRecords> tokenized =
      TokenizeRecords(tokenizer, *records, *ids, options.max_length, path);
  if (!tokenized.ok()) return tokenized.status();
  return TextClassificationData{*std::move(labels), std::move(tokenized->dataset),
                                std::move(tokenized->truncated_lines)};
}

}  // namespace trustformers::training
