// POST /v1/embeddings: the OpenAI body as a v1::EmbedRequest, and the v1::EmbedResponse as
// OpenAI's {"object": "list", "data": [{"object": "embedding", "index", "embedding"}], "model",
// "usage"}. The openai Python SDK asks for base64 unless the caller chose a format, so both
// encodings matter.
#pragma once

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "trustformers/v1/inference.pb.h"

namespace trustformers::server::openai {

enum class EmbeddingEncoding {
  kFloat,   // a JSON array of numbers
  kBase64,  // a string: base64 of the float32 values, little-endian, in order
};

struct EmbeddingsRequest {
  v1::EmbedRequest embed;
  EmbeddingEncoding encoding = EmbeddingEncoding::kFloat;
};

// Reads model (required), input (a string, an array of strings, an array of token ids or an
// array of arrays of token ids; none empty), encoding_format ("float", the default, or
// "base64"), dimensions (>= 1); user is ignored. Errors are INVALID_ARGUMENT with the field as
// param (see ParamOf), e.g. "input[3]".
absl::StatusOr<EmbeddingsRequest> ParseEmbeddingsRequest(const nlohmann::json& body);

// The response body; usage counts prompt tokens only.
nlohmann::json EmbeddingsResponseJson(const v1::EmbedResponse& response,
                                      EmbeddingEncoding encoding);

}  // namespace trustformers::server::openai
