#include "server/http/openai/models_list.h"

namespace trustformers::server::openai {

nlohmann::json ModelJson(const v1::ModelInfo& model) {
  nlohmann::json out = {{"id", model.name()},
                        {"object", "model"},
                        {"created", model.state_changed_at().seconds()},
                        {"owned_by", "trustformers"}};
  if (model.max_context_tokens() > 0) out["max_model_len"] = model.max_context_tokens();
  if (!model.parent_model().empty()) out["parent"] = model.parent_model();
  return out;
}

nlohmann::json ModelListJson(const v1::ListModelsResponse& response) {
  nlohmann::json data = nlohmann::json::array();
  for (const v1::ModelInfo& model : response.models()) {
    if (model.state() != v1::MODEL_STATE_FAILED) data.push_back(ModelJson(model));
  }
  return {{"object", "list"}, {"data", std::move(data)}};
}

nlohmann::json DeletedModelJson(const std::string& name) {
  return {{"id", name}, {"object", "model"}, {"deleted", true}};
}

}  // namespace trustformers::server::openai
