// How a sentence-transformers model turns token vectors into one embedding: the pooling mode
// from 1_Pooling/config.json, whether modules.json ends with a Normalize step, and the maximum
// sequence length from sentence_bert_config.json. A plain Hugging Face folder without these
// files gets mean pooling, no normalisation and the model's position limit.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "backends/ops.h"

namespace trustformers::models {

struct SentencePooling {
  backends::PoolingMode mode = backends::PoolingMode::kMean;
  bool normalize = false;
  // Tokens per input before truncation; 0: the model's own limit.
  int64_t max_seq_length = 0;
  // True when read from sentence-transformers files rather than defaulted.
  bool from_sentence_transformers = false;
};

// INVALID_ARGUMENT naming the file for malformed files or pooling modes this build lacks
// (weighted-mean, last-token and similar).
absl::StatusOr<SentencePooling> ReadSentencePooling(const std::string& folder);

}  // namespace trustformers::models
