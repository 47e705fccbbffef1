#include "server/http/openai/sampling_fields.h"

#include <limits>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/sampling/sampling_params.h"
#include "server/http/openai/openai_error.h"

namespace trustformers::server::openai {
namespace {

constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
constexpr int64_t kInt32Min = std::numeric_limits<int32_t>::min();

void ReadStreamFlags(FieldReader& reader, v1::GenerateRequest* request, StreamFlags* flags) {
  flags->stream = reader.Bool("stream").value_or(false);
  const nlohmann::json* options = reader.Find("stream_options");
  if (options != nullptr) {
    if (!options->is_object()) {
      reader.Fail("stream_options", kInvalidType,
                  absl::StrCat("'stream_options' must be an object, got ", JsonTypeName(*options)));
    } else if (!flags->stream) {
      reader.Fail("stream_options", kInvalidValue,
                  "'stream_options' is only allowed when 'stream' is true");
    } else {
      FieldReader nested(*options, "stream_options.");
      flags->include_usage = nested.Bool("include_usage").value_or(false);
      reader.Fail(nested.status());
    }
  }
  request->set_include_usage(true);
}

void ReadStop(FieldReader& reader, v1::SamplingParams* sampling) {
  const nlohmann::json* stop = reader.Find("stop");
  if (stop == nullptr) return;
  std::vector<const nlohmann::json*> items;
  if (stop->is_string()) {
    items.push_back(stop);
  } else if (stop->is_array()) {
    if (stop->size() > engine::kMaxStopStrings) {
      reader.Fail("stop", kInvalidValue,
                  absl::StrCat("'stop' allows at most ", engine::kMaxStopStrings, " strings, got ",
                               stop->size()));
      return;
    }
    for (const nlohmann::json& item : *stop) items.push_back(&item);
  } else {
    reader.Fail(
        "stop", kInvalidType,
        absl::StrCat("'stop' must be a string or an array of strings, got ", JsonTypeName(*stop)));
    return;
  }
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string param = stop->is_array() ? absl::StrCat("stop[", i, "]") : "stop";
    if (!items[i]->is_string()) {
      reader.Fail(ParamError(
          param, kInvalidType,
          absl::StrCat("'", param, "' must be a string, got ", JsonTypeName(*items[i]))));
      return;
    }
    const std::string& text = items[i]->get_ref<const std::string&>();
    if (text.empty() || text.size() > engine::kMaxStopStringBytes) {
      reader.Fail(
          ParamError(param, kInvalidValue,
                     absl::StrCat("'", param, "' must be 1 to ", engine::kMaxStopStringBytes,
                                  " bytes, got ", text.size())));
      return;
    }
    sampling->add_stop(text);
  }
}

void ReadLogitBias(FieldReader& reader, v1::SamplingParams* sampling) {
  const nlohmann::json* bias = reader.Find("logit_bias");
  if (bias == nullptr) return;
  if (!bias->is_object()) {
    reader.Fail("logit_bias", kInvalidType,
                absl::StrCat("'logit_bias' must be an object mapping token ids to numbers, got ",
                             JsonTypeName(*bias)));
    return;
  }
  for (const auto& [key, value] : bias->items()) {
    int32_t token = 0;
    if (!absl::SimpleAtoi(key, &token) || token < 0) {
      reader.Fail("logit_bias", kInvalidValue,
                  absl::StrCat("'logit_bias' keys must be token ids (non-negative integers), got '",
                               key, "'"));
      return;
    }
    if (!value.is_number()) {
      reader.Fail("logit_bias", kInvalidType,
                  absl::StrCat("'logit_bias' value for token ", key, " must be a number, got ",
                               JsonTypeName(value)));
      return;
    }
    const double v = value.get<double>();
    if (!(v >= -100.0 && v <= 100.0)) {
      reader.Fail("logit_bias", kInvalidValue,
                  absl::StrCat("'logit_bias' values must be in [-100, 100], got ", value.dump(),
                               " for token ", key));
      return;
    }
    (*sampling->mutable_logit_bias())[token] = static_cast<float>(v);
  }
}

void ReadStopTokenIds(FieldReader& reader, v1::SamplingParams* sampling) {
  const nlohmann::json* ids = reader.Find("stop_token_ids");
  if (ids == nullptr) return;
  if (!ids->is_array()) {
    reader.Fail(
        "stop_token_ids", kInvalidType,
        absl::StrCat("'stop_token_ids' must be an array of token ids, got ", JsonTypeName(*ids)));
    return;
  }
  if (ids->size() > engine::kMaxStopTokenIds) {
    reader.Fail("stop_token_ids", kInvalidValue,
                absl::StrCat("'stop_token_ids' allows at most ", engine::kMaxStopTokenIds,
                             " ids, got ", ids->size()));
    return;
  }
  for (size_t i = 0; i < ids->size(); ++i) {
    int32_t id = 0;
    if (absl::Status s =
            JsonToInt32((*ids)[i], absl::StrCat("stop_token_ids[", i, "]"), 0, kInt32Max, &id);
        !s.ok()) {
      reader.Fail(std::move(s));
      return;
    }
    sampling->add_stop_token_ids(id);
  }
}

// OpenAI documents seed as a 64-bit signed integer, the proto as unsigned: negative seeds keep
// their bits, so every value a client may send is a distinct, valid seed.
void ReadSeed(FieldReader& reader, v1::SamplingParams* sampling) {
  const nlohmann::json* seed = reader.Find("seed");
  if (seed == nullptr) return;
  if (seed->is_number_unsigned()) {
    sampling->set_seed(seed->get<uint64_t>());
  } else if (std::optional<int64_t> value = reader.Int("seed", std::numeric_limits<int64_t>::min(),
                                                       std::numeric_limits<int64_t>::max())) {
    sampling->set_seed(static_cast<uint64_t>(*value));
  }
}

}  // namespace

void ReadSharedFields(FieldReader& reader, v1::GenerateRequest* request, StreamFlags* flags) {
  if (const nlohmann::json* model = reader.Require("model")) {
    if (!model->is_string() || model->get_ref<const std::string&>().empty()) {
      reader.Fail("model", model->is_string() ? kInvalidValue : kInvalidType,
                  absl::StrCat("'model' must be a non-empty string, got ",
                               model->is_string() ? "an empty string" : JsonTypeName(*model)));
    } else {
      request->set_model(model->get<std::string>());
    }
  }
  ReadStreamFlags(reader, request, flags);

  v1::SamplingParams* s = request->mutable_sampling();
  if (auto n = reader.Int("n", 1, engine::kMaxChoices)) s->set_n(static_cast<int32_t>(*n));
  if (auto v = reader.Float("temperature", 0.0f, 2.0f)) s->set_temperature(*v);
  if (auto v = reader.Float("top_p", 0.0f, 1.0f, /*min_exclusive=*/true)) s->set_top_p(*v);
  if (auto v = reader.Float("presence_penalty", -2.0f, 2.0f)) s->set_presence_penalty(*v);
  if (auto v = reader.Float("frequency_penalty", -2.0f, 2.0f)) s->set_frequency_penalty(*v);
  ReadSeed(reader, s);
  ReadStop(reader, s);
  ReadLogitBias(reader, s);

  // vLLM's extensions, same names and meanings.
  if (auto v = reader.Int("top_k", -1, kInt32Max)) {
    s->set_top_k(*v == -1 ? 0 : static_cast<int32_t>(*v));  // vLLM disables with -1, we with 0
  }
  if (auto v = reader.Float("min_p", 0.0f, 1.0f)) s->set_min_p(*v);
  if (auto v = reader.Float("typical_p", 0.0f, 1.0f, /*min_exclusive=*/true)) s->set_typical_p(*v);
  if (auto v = reader.Float("repetition_penalty", 0.0f, std::numeric_limits<float>::max(),
                            /*min_exclusive=*/true)) {
    s->set_repetition_penalty(*v);
  }
  if (auto v = reader.Int("min_tokens", 0, kInt32Max)) s->set_min_tokens(static_cast<int32_t>(*v));
  if (auto v = reader.Bool("ignore_eos")) s->set_ignore_eos(*v);
  if (auto v = reader.Bool("skip_special_tokens")) s->set_skip_special_tokens(*v);
  ReadStopTokenIds(reader, s);
  if (auto v = reader.Bool("echo")) s->set_echo_prompt(*v);
  if (auto v = reader.Bool("add_special_tokens")) request->set_add_special_tokens(*v);
  if (auto v = reader.Int("priority", kInt32Min, kInt32Max)) {
    request->set_priority(static_cast<int32_t>(*v));
  }
}

int32_t NumChoices(const v1::GenerateRequest& request) {
  return request.sampling().n() == 0 ? 1 : request.sampling().n();
}

}  // namespace trustformers::server::openai
