#include "models/decoder_model.h"

#include "absl/strings/str_cat.h"

namespace trustformers::models {

absl::Status DecoderModel::PrepareSteps(std::span<const SequenceStep> steps) const {
  const KvShape shape = kv_shape();
  for (const SequenceStep& step : steps) {
    if (step.tokens.empty()) return absl::InvalidArgumentError("Forward: no tokens");
    for (size_t i = 0; i < step.tokens.size(); ++i) {
      if (step.tokens[i] < 0 || step.tokens[i] >= vocab_size()) {
        return absl::InvalidArgumentError(absl::StrCat("token id ", step.tokens[i], " at index ", i,
                                                       " is outside the vocabulary of ",
                                                       vocab_size()));
      }
    }
    if (step.kv->row_width() != shape.row_width || step.kv->element() != shape.element) {
      return absl::InvalidArgumentError("Forward: the KV cache belongs to another model");
    }
    const int64_t positions = step.kv->length() + static_cast<int64_t>(step.tokens.size());
    if (positions > context_length()) {
      return absl::OutOfRangeError(absl::StrCat("the sequence would hold ", positions,
                                                " positions; the context has room for ",
                                                context_length()));
    }
  }
  for (const SequenceStep& step : steps) {
    if (absl::Status s = step.kv->Reserve(static_cast<int64_t>(step.tokens.size())); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace trustformers::models
