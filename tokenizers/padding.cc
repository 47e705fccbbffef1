#include "tokenizers/padding.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "tokenizers/json_fields.h"

namespace trustformers::tokenizers {
namespace {

template <typename T>
void Fill(std::vector<T>* values, size_t count, const T& value, Side side) {
  values->insert(side == Side::kRight ? values->end() : values->begin(), count, value);
}

}  // namespace

absl::StatusOr<PaddingParams> ParsePadding(const nlohmann::json& config) {
  constexpr absl::string_view kPath = "padding";
  PaddingParams params;
  absl::StatusOr<const nlohmann::json*> strategy = RequiredField(config, kPath, "strategy");
  if (!strategy.ok()) return strategy.status();
  if ((*strategy)->is_string() && (*strategy)->get<std::string>() == "BatchLongest") {
    params.strategy = PaddingStrategy::kBatchLongest;
  } else if ((*strategy)->is_object() && (*strategy)->size() == 1 &&
             (*strategy)->contains("Fixed")) {
    absl::StatusOr<size_t> length = ReadSize(**strategy, "padding.strategy", "Fixed");
    if (!length.ok()) return length.status();
    params.strategy = PaddingStrategy::kFixed;
    params.fixed_length = *length;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("padding.strategy must be \"BatchLongest\" or {\"Fixed\": length}, not ",
                     DescribeJsonType(**strategy)));
  }
  absl::StatusOr<std::string> direction = ReadString(config, kPath, "direction");
  if (!direction.ok()) return direction.status();
  if (*direction == "Left") {
    params.direction = Side::kLeft;
  } else if (*direction == "Right") {
    params.direction = Side::kRight;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("padding.direction must be Left or Right, not \"", *direction, "\""));
  }
  if (OptionalField(config, "pad_to_multiple_of") != nullptr) {
    absl::StatusOr<size_t> multiple = ReadSize(config, kPath, "pad_to_multiple_of");
    if (!multiple.ok()) return multiple.status();
    params.pad_to_multiple_of = *multiple;
  }
  absl::StatusOr<uint32_t> pad_id = ReadUint32(config, kPath, "pad_id");
  if (!pad_id.ok()) return pad_id.status();
  absl::StatusOr<uint32_t> pad_type_id = ReadUint32(config, kPath, "pad_type_id");
  if (!pad_type_id.ok()) return pad_type_id.status();
  absl::StatusOr<std::string> pad_token = ReadString(config, kPath, "pad_token");
  if (!pad_token.ok()) return pad_token.status();
  params.pad_id = *pad_id;
  params.pad_type_id = *pad_type_id;
  params.pad_token = *std::move(pad_token);
  if (absl::Status status = ValidatePadding(params); !status.ok()) return status;
  return params;
}

absl::Status ValidatePadding(const PaddingParams& params) {
  if (params.strategy == PaddingStrategy::kFixed && params.fixed_length > kMaxPaddingLength) {
    return absl::InvalidArgumentError(absl::StrCat("padding length ", params.fixed_length,
                                                   " exceeds the limit of ", kMaxPaddingLength));
  }
  if (params.pad_to_multiple_of > kMaxPaddingLength) {
    return absl::InvalidArgumentError(absl::StrCat("padding multiple ", params.pad_to_multiple_of,
                                                   " exceeds the limit of ", kMaxPaddingLength));
  }
  return absl::OkStatus();
}

void Pad(const PaddingParams& params, std::span<Encoding> encodings) {
  if (encodings.empty()) return;
  size_t length = params.fixed_length;
  if (params.strategy == PaddingStrategy::kBatchLongest) {
    length = 0;
    for (const Encoding& encoding : encodings) length = std::max(length, encoding.size());
  }
  const size_t multiple = params.pad_to_multiple_of;
  if (multiple > 0 && length % multiple != 0) length += multiple - length % multiple;
  for (Encoding& encoding : encodings) {
    if (encoding.size() >= length) continue;
    const size_t count = length - encoding.size();
    const Side side = params.direction;
    Fill(&encoding.ids, count, params.pad_id, side);
    Fill(&encoding.type_ids, count, params.pad_type_id, side);
    Fill(&encoding.tokens, count, params.pad_token, side);
    Fill(&encoding.offsets, count, Offsets{0, 0}, side);
    Fill(&encoding.special_tokens_mask, count, uint8_t{1}, side);
    Fill(&encoding.attention_mask, count, uint8_t{0}, side);
  }
}

}  // namespace trustformers::tokenizers
