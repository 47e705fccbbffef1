// GET /v1/models and GET /v1/models/{id}: the Models service's answers as OpenAI model objects
// {"id", "object": "model", "created", "owned_by"}, plus "max_model_len" (vLLM's name for the
// context length) once the model is loaded and "parent" (vLLM's name too) for a fine-tuned model.
// DELETE /v1/models/{id}: OpenAI's deletion object.
#pragma once

#include <string>

#include "nlohmann/json.hpp"
#include "trustformers/v1/models.pb.h"

namespace trustformers::server::openai {

// One model; `created` is when it reached its current state (for a served model: when it
// finished loading), in Unix seconds.
nlohmann::json ModelJson(const v1::ModelInfo& model);

// {"object": "list", "data": [...]}, in the service's order. Models that failed to load are
// left out: they cannot serve a request (GetModel still describes them).
nlohmann::json ModelListJson(const v1::ListModelsResponse& response);

// {"id", "object": "model", "deleted": true}: the answer to a DELETE that began unloading `name`.
nlohmann::json DeletedModelJson(const std::string& name);

}  // namespace trustformers::server::openai
