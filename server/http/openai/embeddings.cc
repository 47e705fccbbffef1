#include "server/http/openai/embeddings.h"

#include <cstring>
#include <limits>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "server/http/openai/json_fields.h"
#include "server/http/openai/json_output.h"
#include "server/http/openai/openai_error.h"

namespace trustformers::server::openai {
namespace {

absl::Status ReadText(const nlohmann::json& value, const std::string& param,
                      v1::EmbedRequest* request) {
  if (!value.is_string()) {
    return ParamError(param, kInvalidType,
                      absl::StrCat("'", param, "' must be a string, got ", JsonTypeName(value),
                                   " (an input array holds strings, token ids or arrays of "
                                   "token ids, not a mix)"));
  }
  if (value.get_ref<const std::string&>().empty()) {
    return ParamError(param, kInvalidValue, absl::StrCat("'", param, "' must not be empty"));
  }
  request->add_inputs(value.get<std::string>());
  return absl::OkStatus();
}

absl::Status ReadTokens(const nlohmann::json& value, const std::string& param,
                        v1::EmbedRequest* request) {
  std::vector<int32_t> ids;
  if (absl::Status s = JsonToTokenIds(value, param, &ids); !s.ok()) return s;
  request->add_input_token_ids()->mutable_ids()->Add(ids.begin(), ids.end());
  return absl::OkStatus();
}

absl::Status ReadInput(const nlohmann::json& input, v1::EmbedRequest* request) {
  if (input.is_string()) return ReadText(input, "input", request);
  if (!input.is_array()) {
    return ParamError("input", kInvalidType,
                      absl::StrCat("'input' must be a string, an array of strings, an array of "
                                   "token ids or an array of arrays of token ids, got ",
                                   JsonTypeName(input)));
  }
  if (input.empty()) return ParamError("input", kInvalidValue, "'input' must not be empty");
  if (IsIntegerArray(input)) return ReadTokens(input, "input", request);
  const bool tokens = input[0].is_array();
  for (size_t i = 0; i < input.size(); ++i) {
    const std::string param = absl::StrCat("input[", i, "]");
    absl::Status s =
        tokens ? ReadTokens(input[i], param, request) : ReadText(input[i], param, request);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

// Little-endian whatever the host, as the format promises.
std::string Base64Floats(const google::protobuf::RepeatedField<float>& values) {
  std::string bytes;
  bytes.reserve(values.size() * 4);
  for (float value : values) {
    uint32_t bits = 0;
    std::memcpy(&bits, &value, sizeof(bits));
    for (int shift = 0; shift < 32; shift += 8) bytes.push_back(static_cast<char>(bits >> shift));
  }
  return absl::Base64Escape(bytes);
}

}  // namespace

absl::StatusOr<EmbeddingsRequest> ParseEmbeddingsRequest(const nlohmann::json& body) {
  if (!body.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the request body must be a JSON object, got ", JsonTypeName(body)));
  }
  try {
    EmbeddingsRequest out;
    FieldReader reader(body);
    if (const nlohmann::json* model = reader.Require("model")) {
      if (!model->is_string() || model->get_ref<const std::string&>().empty()) {
        reader.Fail("model", model->is_string() ? kInvalidValue : kInvalidType,
                    absl::StrCat("'model' must be a non-empty string, got ",
                                 model->is_string() ? "an empty string" : JsonTypeName(*model)));
      } else {
        out.embed.set_model(model->get<std::string>());
      }
    }
    if (const nlohmann::json* input = reader.Require("input")) {
      reader.Fail(ReadInput(*input, &out.embed));
    }
    if (auto format = reader.String("encoding_format")) {
      if (*format == "base64") {
        out.encoding = EmbeddingEncoding::kBase64;
      } else if (*format != "float") {
        reader.Fail("encoding_format", kInvalidValue,
                    absl::StrCat("'encoding_format' must be \"float\" or \"base64\", got \"",
                                 *format, "\""));
      }
    }
    if (auto dimensions = reader.Int("dimensions", 1, std::numeric_limits<int32_t>::max())) {
      out.embed.set_dimensions(static_cast<int32_t>(*dimensions));
    }
    if (!reader.ok()) return reader.status();
    return out;
  } catch (const nlohmann::json::exception& e) {
    // The reads above check every type first; reaching this is a bug, not bad input.
    return absl::InternalError(absl::StrCat("reading the request failed: ", e.what()));
  }
}

nlohmann::json EmbeddingsResponseJson(const v1::EmbedResponse& response,
                                      EmbeddingEncoding encoding) {
  nlohmann::json data = nlohmann::json::array();
  for (const v1::Embedding& embedding : response.embeddings()) {
    nlohmann::json values;
    if (encoding == EmbeddingEncoding::kBase64) {
      values = Base64Floats(embedding.values());
    } else {
      values = nlohmann::json::array();
      for (float value : embedding.values()) values.push_back(FloatForJson(value));
    }
    data.push_back(
        {{"object", "embedding"}, {"index", embedding.index()}, {"embedding", std::move(values)}});
  }
  const int32_t prompt_tokens = response.usage().prompt_tokens();
  return {{"object", "list"},
          {"data", std::move(data)},
          {"model", response.model()},
          {"usage", {{"prompt_tokens", prompt_tokens}, {"total_tokens", prompt_tokens}}}};
}

}  // namespace trustformers::server::openai
