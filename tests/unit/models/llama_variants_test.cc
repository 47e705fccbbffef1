// The Llama family's variants against llama.cpp on tiny random GGUF models
// (tests/golden/decoders/, written and run through llama-cpp-python by make_fixtures.py there):
// Qwen2 (q/k/v biases, RoPE on halves), Llama 3 (rope_freqs factors), linear RoPE scaling, and
// Q8_0 weights. With float weights nothing is quantized, so logits agree to float rounding and
// greedy decoding must agree token for token.
#include <algorithm>
#include <cmath>

#include "catch2/catch.hpp"
#include "models/llama/llama_model.h"
#include "unit/models/model_fixtures.h"

namespace trustformers::models {
namespace {

int32_t ArgMax(const std::vector<float>& logits) {
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

TEST_CASE("Llama-family variants match llama.cpp", "[llama]") {
  const nlohmann::json golden = testing::ReadGolden("decoders/reference.json");
  for (const auto& [name, cases] : golden["models"].items()) {
    CAPTURE(name);
    auto file = GgufFile::Open(testing::GoldenDir() + "/decoders/" + name + ".gguf");
    REQUIRE(file.ok());
    auto model = LlamaModel::FromGguf(*std::move(file));
    REQUIRE(model.ok());
    const bool quantized = name.find("q8_0") != std::string::npos;
    double worst = 0;
    for (const nlohmann::json& c : cases) {
      const std::vector<int32_t> ids = c["prompt_ids"];
      CAPTURE(ids);
      KvCache cache = (*model)->NewCache();
      std::vector<float> logits;
      REQUIRE((*model)->Forward(ids, &cache, false, &logits).ok());
      const std::vector<float> want = c["logits"];
      REQUIRE(logits.size() == want.size());
      for (size_t i = 0; i < want.size(); ++i) {
        worst = std::max(worst, std::fabs(double{logits[i]} - double{want[i]}));
      }
      const std::vector<int32_t> greedy = c["greedy"];
      std::vector<int32_t> got;
      for (size_t step = 0; step < greedy.size(); ++step) {
        got.push_back(ArgMax(logits));
        const int32_t one[] = {got.back()};
        REQUIRE((*model)->Forward(one, &cache, false, &logits).ok());
      }
      CHECK(got == greedy);
    }
    INFO("largest |logit difference| " << worst);
    CHECK(worst < (quantized ? 0.05 : 2e-3));
    WARN(name << ": largest |logit difference| against llama.cpp " << worst);
  }
}

}  // namespace
}  // namespace trustformers::models
