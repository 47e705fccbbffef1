#include "tokenizers/truncation.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "tokenizers/json_fields.h"

namespace trustformers::tokenizers {
namespace {

template <typename T>
void Keep(std::vector<T>* values, size_t length, Side side) {
  if (side == Side::kRight) {
    values->resize(length);
  } else {
    values->erase(values->begin(), values->end() - static_cast<std::ptrdiff_t>(length));
  }
}

absl::Status TruncateOne(Encoding* encoding, size_t length, size_t stride, Side side) {
  if (length >= encoding->size()) return absl::OkStatus();
  if (length > 0 && stride >= length) {
    return absl::InvalidArgumentError(absl::StrCat("truncation stride (", stride,
                                                   ") must be smaller than the length truncated "
                                                   "to (",
                                                   length, ", after the special tokens)"));
  }
  Keep(&encoding->ids, length, side);
  Keep(&encoding->type_ids, length, side);
  Keep(&encoding->tokens, length, side);
  Keep(&encoding->offsets, length, side);
  Keep(&encoding->special_tokens_mask, length, side);
  Keep(&encoding->attention_mask, length, side);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TruncationParams> ParseTruncation(const nlohmann::json& config) {
  constexpr absl::string_view kPath = "truncation";
  TruncationParams params;
  absl::StatusOr<size_t> max_length = ReadSize(config, kPath, "max_length");
  if (!max_length.ok()) return max_length.status();
  absl::StatusOr<size_t> stride = ReadSize(config, kPath, "stride");
  if (!stride.ok()) return stride.status();
  absl::StatusOr<std::string> strategy = ReadString(config, kPath, "strategy");
  if (!strategy.ok()) return strategy.status();
  params.max_length = *max_length;
  params.stride = *stride;
  if (*strategy == "LongestFirst") {
    params.strategy = TruncationStrategy::kLongestFirst;
  } else if (*strategy == "OnlyFirst") {
    params.strategy = TruncationStrategy::kOnlyFirst;
  } else if (*strategy == "OnlySecond") {
    params.strategy = TruncationStrategy::kOnlySecond;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("truncation.strategy must be LongestFirst, OnlyFirst or OnlySecond, not \"",
                     *strategy, "\""));
  }
  if (OptionalField(config, "direction") != nullptr) {
    absl::StatusOr<std::string> direction = ReadString(config, kPath, "direction");
    if (!direction.ok()) return direction.status();
    if (*direction == "Left") {
      params.direction = Side::kLeft;
    } else if (*direction != "Right") {
      return absl::InvalidArgumentError(
          absl::StrCat("truncation.direction must be Left or Right, not \"", *direction, "\""));
    }
  }
  return params;
}

absl::Status Truncate(const TruncationParams& params, Encoding* a, Encoding* b) {
  const size_t max_length = params.max_length;
  const size_t stride = params.stride;
  const Side side = params.direction;
  if (max_length == 0) {
    absl::Status status = TruncateOne(a, 0, stride, side);
    if (status.ok() && b != nullptr) status = TruncateOne(b, 0, stride, side);
    return status;
  }
  const size_t total = a->size() + (b != nullptr ? b->size() : 0);
  if (total <= max_length) return absl::OkStatus();
  const size_t to_remove = total - max_length;

  if (params.strategy == TruncationStrategy::kLongestFirst) {
    if (b == nullptr) return TruncateOne(a, max_length, stride, side);
    // Keep the shorter sequence whole when the longer one can absorb the cut; otherwise split the
    // budget evenly (the odd token going to the longer one).
    size_t short_length = std::min(a->size(), b->size());
    size_t long_length;
    if (short_length > max_length) {
      long_length = short_length;
    } else {
      long_length = std::max(short_length, max_length - short_length);
    }
    if (short_length + long_length > max_length) {
      short_length = max_length / 2;
      long_length = short_length + max_length % 2;
    }
    const bool a_is_longer = a->size() > b->size();
    absl::Status status = TruncateOne(a, a_is_longer ? long_length : short_length, stride, side);
    if (!status.ok()) return status;
    return TruncateOne(b, a_is_longer ? short_length : long_length, stride, side);
  }

  Encoding* target = params.strategy == TruncationStrategy::kOnlyFirst ? a : b;
  if (target == nullptr) {
    return absl::InvalidArgumentError(
        "truncation strategy OnlySecond needs a second sequence, but the input is single");
  }
  if (target->size() <= to_remove) {
    return absl::InvalidArgumentError(absl::StrCat(
        "truncation: the ", params.strategy == TruncationStrategy::kOnlyFirst ? "first" : "second",
        " sequence has ", target->size(), " tokens, too few to remove the ", to_remove,
        " needed to respect max_length ", max_length));
  }
  return TruncateOne(target, target->size() - to_remove, stride, side);
}

}  // namespace trustformers::tokenizers
