// The Llama decoder's Hugging Face path against transformers (tests/golden/llama_hf/, random
// LlamaForCausalLM with llama3 rope scaling and an untied head, and Qwen2ForCausalLM with q/k/v
// biases and a tied head, made by make_fixtures.py there): logits at every position within 1e-4
// and the same greedy continuation.
#include <algorithm>
#include <cmath>

#include "catch2/catch.hpp"
#include "models/llama/llama_model.h"
#include "unit/models/model_fixtures.h"

namespace trustformers::models {
namespace {

TEST_CASE("Llama and Qwen2 Hugging Face folders match transformers", "[llama]") {
  const nlohmann::json golden = testing::ReadGolden("llama_hf/reference.json");
  for (const auto& [name, cases] : golden["models"].items()) {
    CAPTURE(name);
    auto model = LlamaModel::FromHfFolder(testing::GoldenDir() + "/llama_hf/" + name);
    REQUIRE(model.ok());
    const int64_t vocab = (*model)->vocab_size();
    double worst = 0;
    for (const nlohmann::json& c : cases) {
      const std::vector<int32_t> ids = c["prompt_ids"];
      CAPTURE(ids);
      KvCache cache = (*model)->NewCache();
      std::vector<float> logits;
      REQUIRE((*model)->Forward(ids, &cache, true, &logits).ok());
      const std::vector<std::vector<float>> want = c["logits"];
      REQUIRE(logits.size() == want.size() * static_cast<size_t>(vocab));
      for (size_t r = 0; r < want.size(); ++r) {
        for (int64_t v = 0; v < vocab; ++v) {
          worst = std::max(worst, std::fabs(double{logits[r * vocab + v]} - double{want[r][v]}));
        }
      }
      const std::vector<int32_t> greedy = c["greedy"];
      std::vector<int32_t> got;
      const float* last = logits.data() + (ids.size() - 1) * vocab;
      int32_t next = static_cast<int32_t>(std::max_element(last, last + vocab) - last);
      for (size_t step = 0; step < greedy.size(); ++step) {
        got.push_back(next);
        const int32_t one[] = {next};
        REQUIRE((*model)->Forward(one, &cache, false, &logits).ok());
        next =
            static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
      }
      CHECK(got == greedy);
    }
    INFO("largest |logit difference| " << worst);
    CHECK(worst <= 1e-4);
  }
}

}  // namespace
}  // namespace trustformers::models
