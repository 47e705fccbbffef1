// Text-classification data for training: records (text_records.h) with class ids (label_set.h)
// tokenized into an nn::ExampleDataset the DataLoader batches. Each example is
// "[CLS] text [SEP]", or "[CLS] text [SEP] text_pair [SEP]" with type ids 0 then 1 (the
// tokenizer's post-processor decides the exact special tokens), cut longest-first to max_length
// tokens as Hugging Face does with tokenizer(text, text_pair, truncation=True,
// max_length=N). The tokenizer's own truncation and padding settings are not used: the length is
// the job's, and the DataLoader pads each batch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/training/label_set.h"
#include "engine/training/text_records.h"
#include "models/nn/data.h"
#include "tokenizers/tokenizer.h"

namespace trustformers::training {

struct TokenizedRecords {
  std::shared_ptr<const nn::ExampleDataset> dataset;
  // Lines of the records cut to max_length, in order: used anyway, but worth a warning (the
  // job's ValidationIssue with level WARN).
  std::vector<int64_t> truncated_lines;
};

// One example per record, labels[i] the class id of records[i]. INVALID_ARGUMENT for max_length 0
// or a labels list of another length; a tokenizer error (text it cannot encode, a max_length below
// its special tokens) keeps its code and gains "file:line: ".
absl::StatusOr<TokenizedRecords> TokenizeRecords(const tokenizers::Tokenizer& tokenizer,
                                                 const std::vector<TextRecord>& records,
                                                 const std::vector<int64_t>& labels,
                                                 size_t max_length, absl::string_view file);

struct TextDatasetOptions {
  // Empty: discover the labels from this file (label_set.h). For a validation file pass the
  // training set's spec().
  LabelSpec labels;
  // Tokens per example, special tokens included (BERT models take at most 512).
  size_t max_length = 512;
  TextFileLimits limits;
};

struct TextClassificationData {
  LabelSet labels;
  std::shared_ptr<const nn::ExampleDataset> dataset;
  std::vector<int64_t> truncated_lines;
};

// Reads `path` (text_records.h), resolves its labels and tokenizes it.
absl::StatusOr<TextClassificationData> LoadTextClassificationFile(
    const std::string& path, const tokenizers::Tokenizer& tokenizer,
    const TextDatasetOptions& options);

}  // namespace trustformers::training
