// GET /v1/models and GET /v1/models/{id}: the Models service's answers as OpenAI model objects
// {"id", "object": "model", "created", "owned_by"}, plus "max_model_len" (vLLM's name for the
// context length) once the model is loaded.
#pragma once

#include "nlohmann/json.hpp"
#include "trustformers/v1/models.pb.h"

namespace trustformers::server::openai {

// One model; `created` is when it reached its current state (for a served model: when it
// finished loading), in Unix seconds.
nlohmann::json ModelJson(const v1::ModelInfo& model);

// {"object": "list", "data": [...]}, in the service's order. Models that failed to load are
// left out: they cannot serve a request (GetModel still describes them).
nlohmann::json ModelListJson(const v1::ListModelsResponse& response);

}  // namespace trustformers::server::openai
