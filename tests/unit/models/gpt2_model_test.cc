// GPT-2 from a Hugging Face folder against transformers (tests/golden/gpt2/, a randomly
// initialised GPT2LMHeadModel saved with save_pretrained, made by make_fixtures.py there): logits
// at every position within 1e-4 and the same greedy continuation; its tokenizer.json through
// the byte-level BPE tokenizer gives the same prompt ids.
#include "models/gpt2/gpt2_model.h"

#include <algorithm>
#include <cmath>

#include "catch2/catch.hpp"
#include "tokenizers/bpe_tokenizer.h"
#include "unit/models/model_fixtures.h"

namespace trustformers::models {
namespace {

const std::string kFolder = testing::GoldenDir() + "/gpt2/model";

int32_t ArgMax(const float* logits, int64_t n) {
  return static_cast<int32_t>(std::max_element(logits, logits + n) - logits);
}

TEST_CASE("GPT-2 logits and greedy decoding match transformers", "[gpt2]") {
  auto model = Gpt2Model::Load(kFolder);
  REQUIRE(model.ok());
  const Gpt2Model& m = **model;
  CHECK(m.config().layers == 3);
  CHECK(m.vocab_size() == 400);
  auto tokenizer = tokenizers::BpeTokenizer::FromFile(kFolder + "/tokenizer.json");
  REQUIRE(tokenizer.ok());
  const nlohmann::json golden = testing::ReadGolden("gpt2/reference.json");
  double worst = 0;
  for (const nlohmann::json& c : golden["cases"]) {
    const std::string prompt = c["prompt"];
    CAPTURE(prompt);
    const std::vector<int32_t> ids = c["ids"];
    auto encoded = (*tokenizer)->Encode(prompt, true);
    REQUIRE(encoded.ok());
    CHECK(std::vector<int32_t>(encoded->begin(), encoded->end()) == ids);

    KvCache cache = m.NewCache();
    std::vector<float> logits;
    REQUIRE(m.Forward(ids, &cache, true, &logits).ok());
    const std::vector<std::vector<float>> want = c["logits"];
    REQUIRE(logits.size() == want.size() * 400);
    for (size_t r = 0; r < want.size(); ++r) {
      for (size_t v = 0; v < 400; ++v) {
        worst = std::max(worst, std::fabs(double{logits[r * 400 + v]} - double{want[r][v]}));
      }
    }
    const std::vector<int32_t> greedy = c["greedy"];
    std::vector<int32_t> got;
    int32_t next = ArgMax(logits.data() + (ids.size() - 1) * 400, 400);
    for (size_t step = 0; step < greedy.size(); ++step) {
      got.push_back(next);
      const int32_t one[] = {next};
      REQUIRE(m.Forward(one, &cache, false, &logits).ok());
      next = ArgMax(logits.data(), 400);
    }
    CHECK(got == greedy);
  }
  INFO("largest |logit difference| " << worst);
  CHECK(worst <= 1e-4);
}

TEST_CASE("GPT-2 refuses malformed input", "[gpt2]") {
  auto model = Gpt2Model::Load(kFolder);
  REQUIRE(model.ok());
  KvCache cache = (*model)->NewCache(4);
  std::vector<float> logits;
  const int32_t outside[] = {400};
  CHECK((*model)->Forward(outside, &cache, false, &logits).code() ==
        absl::StatusCode::kInvalidArgument);
  const int32_t five[] = {1, 2, 3, 4, 5};
  CHECK((*model)->Forward(five, &cache, false, &logits).code() == absl::StatusCode::kOutOfRange);
  CHECK(cache.length() == 0);
  CHECK(!Gpt2Model::Load(testing::GoldenDir() + "/bert").ok());
}

}  // namespace
}  // namespace trustformers::models
