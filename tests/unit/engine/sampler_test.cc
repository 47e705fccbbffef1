#include "engine/sampling/sampler.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "catch2/catch.hpp"
#include "engine/sampling/logits_processors.h"
#include "engine/sampling/logprobs.h"
#include "engine/sampling/rng.h"
#include "engine/sampling/sampling_params.h"
#include "nlohmann/json.hpp"

namespace trustformers::engine {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
using Logits = std::vector<float>;

SamplingParams Params() {
  SamplingParams params;
  params.max_tokens = 100;
  return params;
}

// The processed logits of one step, after `prompt` and the generated `output`.
std::vector<float> Processed(const SamplingParams& params, const std::vector<float>& logits,
                             const std::vector<uint32_t>& prompt = {},
                             const std::vector<uint32_t>& output = {},
                             const std::vector<uint32_t>& eos = {}) {
  Sampler sampler(params, static_cast<int32_t>(logits.size()), eos, 0);
  sampler.SetPrompt(prompt);
  for (uint32_t token : output) sampler.Accept(token);
  absl::StatusOr<std::vector<float>> processed = sampler.ProcessedLogits(logits);
  REQUIRE(processed.ok());
  return *processed;
}

// Which entries survive (are not -inf).
std::vector<bool> Kept(const std::vector<float>& processed) {
  std::vector<bool> kept;
  for (float v : processed) kept.push_back(v != -kInf);
  return kept;
}

std::vector<float> Softmax(const std::vector<float>& logits) {
  double max = -kInf, sum = 0;
  for (float v : logits) max = std::max<double>(max, v);
  std::vector<float> p;
  for (float v : logits) sum += std::exp(v - max);
  for (float v : logits) p.push_back(static_cast<float>(std::exp(v - max) / sum));
  return p;
}

std::vector<float> RandomLogits(size_t vocab, uint32_t seed, float scale) {
  std::mt19937 gen(seed);
  std::vector<float> logits(vocab);
  // Portable enough for test data: no std::*_distribution, whose output varies by library.
  for (float& v : logits) v = (static_cast<float>(gen() % 20001) / 10000.0f - 1.0f) * scale;
  return logits;
}

// ---------------------------------------------------------------------------------------------
// Random numbers

TEST_CASE("rng: SplitMix64 and xoshiro256** match their reference outputs", "[sampler]") {
  uint64_t state = 0;
  CHECK(SplitMix64(&state) == 0xE220A8397B1DCDAFull);
  CHECK(SplitMix64(&state) == 0x6E789E6AA1B965F4ull);
  CHECK(SplitMix64(&state) == 0x06C45D188009454Full);
  Rng rng = Rng::FromState(1, 2, 3, 4);
  CHECK(rng.Next() == 11520ull);
  CHECK(rng.Next() == 0ull);
  CHECK(rng.Next() == 1509978240ull);
  CHECK(rng.Next() == 1215971899390074240ull);
}

TEST_CASE("rng: streams are repeatable, distinct per seed and per choice", "[sampler]") {
  const auto first = [](uint64_t seed, uint64_t stream) {
    Rng rng(seed, stream);
    std::vector<uint64_t> out;
    for (int i = 0; i < 4; ++i) out.push_back(rng.Next());
    return out;
  };
  CHECK(first(42, 0) == first(42, 0));
  CHECK(first(42, 0) != first(42, 1));
  CHECK(first(42, 0) != first(43, 0));
  CHECK(first(0, 0) != first(0, 1));
  // The (seed, choice) derivation is part of the repeatability promise: pinned.
  CHECK(first(42, 0)[0] == 0x1FF785474F113B15ull);
  CHECK(first(42, 0)[2] == 0x90CA7A95A9909966ull);
  CHECK(first(42, 1)[0] == 0x584870A53E6DDCDFull);
  Rng rng(7, 3);
  double sum = 0;
  for (int i = 0; i < 100000; ++i) {
    const double u = rng.Uniform();
    REQUIRE(u >= 0.0);
    REQUIRE(u < 1.0);
    sum += u;
  }
  CHECK(sum / 100000 == Approx(0.5).margin(0.005));
}

// ---------------------------------------------------------------------------------------------
// Token adjustments (temperature 0 shows them unshifted)

TEST_CASE("sampler: logit_bias adds to the named tokens", "[sampler]") {
  SamplingParams params = Params();
  params.temperature = 0.0f;
  params.logit_bias = {{1, 2.5f}, {3, -100.0f}};
  CHECK(Processed(params, {1.0f, 2.0f, 3.0f, 4.0f}) ==
        std::vector<float>{1.0f, 4.5f, 3.0f, -96.0f});
}

TEST_CASE("sampler: logit_bias of +100 forces a token, -100 bans one", "[sampler]") {
  const std::vector<float> logits = {5.0f, 20.0f, -3.0f, 12.0f};
  for (float temperature : {0.0f, 1.0f}) {
    SamplingParams params = Params();
    params.temperature = temperature;
    params.logit_bias = {{2, 100.0f}};
    Sampler forced(params, 4, {}, 0);
    for (int i = 0; i < 50; ++i) CHECK(forced.Sample(logits)->id == 2);
    params.logit_bias = {{1, -100.0f}};
    Sampler banned(params, 4, {}, 0);
    for (int i = 0; i < 50; ++i) CHECK(banned.Sample(logits)->id != 1);
  }
}

TEST_CASE("sampler: repetition penalty divides positive, multiplies negative, once per token",
          "[sampler]") {
  SamplingParams params = Params();
  params.temperature = 0.0f;
  params.repetition_penalty = 2.0f;
  // Prompt tokens 0, 1 (1 twice), output token 2; tokens 3 and 4 unseen.
  CHECK(Processed(params, {2.0f, -1.0f, 0.5f, 3.0f, -4.0f}, {0, 1, 1}, {2, 2}) ==
        std::vector<float>{1.0f, -2.0f, 0.25f, 3.0f, -4.0f});
  params.repetition_penalty = 0.5f;  // below 1 rewards repetition
  CHECK(Processed(params, {2.0f, -1.0f, 0.0f}, {0, 1, 2}) == std::vector<float>{4.0f, -0.5f, 0.0f});
}

TEST_CASE("sampler: presence and frequency penalties count output tokens only", "[sampler]") {
  SamplingParams params = Params();
  params.temperature = 0.0f;
  params.presence_penalty = 0.5f;
  params.frequency_penalty = 0.25f;
  // Token 0 only in the prompt; token 1 generated twice, token 2 once.
  CHECK(Processed(params, {1.0f, 1.0f, 1.0f, 1.0f}, {0, 0}, {1, 2, 1}) ==
        std::vector<float>{1.0f, 0.0f, 0.25f, 1.0f});
  params.presence_penalty = -2.0f;
  params.frequency_penalty = 0.0f;
  CHECK(Processed(params, {1.0f, 1.0f}, {}, {1, 1, 1}) == std::vector<float>{1.0f, 3.0f});
}

TEST_CASE("sampler: adjustments apply in the proto's order", "[sampler]") {
  SamplingParams params = Params();
  params.temperature = 0.0f;
  params.logit_bias = {{0, 1.0f}, {1, -3.0f}};
  params.repetition_penalty = 2.0f;
  params.presence_penalty = 1.0f;
  // Token 0: (1 + 1) / 2 - 1 = 0 (penalty after bias). Token 1: (1 - 3) * 2 - 1 = -5.
  CHECK(Processed(params, {1.0f, 1.0f, 1.0f}, {}, {0, 1}) == std::vector<float>{0.0f, -5.0f, 1.0f});
}

TEST_CASE("sampler: end tokens are masked until min_tokens were generated", "[sampler]") {
  SamplingParams params = Params();
  params.temperature = 0.0f;
  params.min_tokens = 2;
  params.stop_token_ids = {3};
  const std::vector<float> logits = {1.0f, 2.0f, 3.0f, 4.0f};
  const std::vector<uint32_t> eos = {2};
  CHECK(Processed(params, logits, {}, {}, eos) == std::vector<float>{1.0f, 2.0f, -kInf, -kInf});
  CHECK(Processed(params, logits, {}, {0}, eos) == std::vector<float>{1.0f, 2.0f, -kInf, -kInf});
  CHECK(Processed(params, logits, {}, {0, 1}, eos) == logits);
  params.ignore_eos = true;  // eos is then an ordinary token; stop_token_ids still end
  CHECK(Processed(params, logits, {}, {}, eos) == std::vector<float>{1.0f, 2.0f, 3.0f, -kInf});

  // Greedy skips the masked end tokens, then may pick them.
  params.ignore_eos = false;
  Sampler sampler(params, 4, eos, 0);
  CHECK(sampler.Sample(logits)->id == 1);
  CHECK(sampler.Sample(logits)->id == 1);
  CHECK(sampler.Sample(logits)->id == 3);
}

// ---------------------------------------------------------------------------------------------
// Temperature and filters

TEST_CASE("sampler: temperature divides the logits (shifted so the largest is 0)", "[sampler]") {
  SamplingParams params = Params();
  params.temperature = 0.5f;
  CHECK(Processed(params, {1.0f, 3.0f, -1.0f}) == std::vector<float>{-4.0f, 0.0f, -8.0f});
  params.temperature = 2.0f;
  CHECK(Processed(params, {1.0f, 3.0f, -1.0f}) == std::vector<float>{-1.0f, 0.0f, -2.0f});
}

TEST_CASE("sampler: a tiny temperature does not overflow", "[sampler]") {
  SamplingParams params = Params();
  params.temperature = 1e-38f;
  const std::vector<float> logits = {1.0f, 30.0f, 25.0f};
  CHECK(Kept(Processed(params, logits)) == std::vector<bool>{false, true, false});
  Sampler sampler(params, 3, {}, 0);
  for (int i = 0; i < 20; ++i) CHECK(sampler.Sample(logits)->id == 1);
}

TEST_CASE("sampler: top_k keeps the k largest, and every tie at the cut", "[sampler]") {
  SamplingParams params = Params();
  const std::vector<float> logits = {1.0f, 3.0f, 2.0f, 3.0f, 2.0f};
  params.top_k = 1;
  CHECK(Kept(Processed(params, logits)) == std::vector<bool>{false, true, false, true, false});
  params.top_k = 2;
  CHECK(Kept(Processed(params, logits)) == std::vector<bool>{false, true, false, true, false});
  params.top_k = 3;
  CHECK(Kept(Processed(params, logits)) == std::vector<bool>{false, true, true, true, true});
  params.top_k = 5;
  CHECK(Kept(Processed(params, logits)) == std::vector<bool>(5, true));
  params.top_k = 0;
  CHECK(Kept(Processed(params, logits)) == std::vector<bool>(5, true));
}

TEST_CASE("sampler: top_p keeps the smallest prefix reaching the mass", "[sampler]") {
  SamplingParams params = Params();
  const std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.15f),
                                     std::log(0.05f)};
  params.top_p = 0.75f;
  CHECK(Kept(Processed(params, logits)) == std::vector<bool>{true, true, false, false});
  params.top_p = 0.85f;
  CHECK(Kept(Processed(params, logits)) == std::vector<bool>{true, true, true, false});
  params.top_p = 0.4f;
  CHECK(Kept(Processed(params, logits)) == std::vector<bool>{true, false, false, false});
  params.top_p = 1.0f;  // a no-op, even for tokens whose probability underflows
  CHECK(Kept(Processed(params, {0.0f, -200.0f, -1000.0f})) == std::vector<bool>(3, true));
}

TEST_CASE("sampler: top_p with all mass in one token keeps only it", "[sampler]") {
  SamplingParams params = Params();
  params.top_p = 0.999f;
  CHECK(Kept(Processed(params, {-10.0f, 30.0f, -10.0f, 0.0f})) ==
        std::vector<bool>{false, true, false, false});
}

TEST_CASE("sampler: top_p on equal logits keeps the higher ids, as transformers does",
          "[sampler]") {
  SamplingParams params = Params();
  params.top_p = 0.5f;
  CHECK(Kept(Processed(params, {1.0f, 1.0f, 1.0f, 1.0f})) ==
        std::vector<bool>{false, false, true, true});
  params.top_p = 0.6f;
  CHECK(Kept(Processed(params, {1.0f, 1.0f, 1.0f, 1.0f})) ==
        std::vector<bool>{false, true, true, true});
  params.top_p = 0.01f;  // at least one token always stays
  CHECK(Kept(Processed(params, {1.0f, 1.0f, 1.0f, 1.0f})) ==
        std::vector<bool>{false, false, false, true});
}

TEST_CASE("sampler: min_p keeps tokens at least min_p times as likely as the top", "[sampler]") {
  SamplingParams params = Params();
  const std::vector<float> logits = {std::log(0.4f), std::log(0.3f), std::log(0.1f),
                                     std::log(0.09f), std::log(0.11f)};
  params.min_p = 0.24f;  // threshold 0.096
  CHECK(Kept(Processed(params, logits)) == std::vector<bool>{true, true, true, false, true});
  params.min_p = 1.0f;  // only the most likely, ties included
  CHECK(Kept(Processed(params, {2.0f, 1.0f, 2.0f})) == std::vector<bool>{true, false, true});
  params.min_p = 0.0f;
  CHECK(Kept(Processed(params, logits)) == std::vector<bool>(5, true));
}

TEST_CASE("sampler: typical_p keeps tokens whose surprisal is closest to the entropy",
          "[sampler]") {
  SamplingParams params = Params();
  params.typical_p = 0.5f;
  CHECK(Kept(Processed(params, {3.0f, 1.0f, 1.0f, 0.5f, -2.0f})) ==
        std::vector<bool>{true, false, false, false, false});
  params.typical_p = 0.9f;
  CHECK(Kept(Processed(params, {3.0f, 1.0f, 1.0f, 0.5f, -2.0f})) ==
        std::vector<bool>{true, true, true, false, false});
  // p = 0.39 for token 0 and 0.087 for seven others; entropy 1.855 nats. The seven (surprisal
  // 2.44) are closer to it than token 0 (0.94), so the most likely token is the one dropped.
  params.typical_p = 0.2f;
  const std::vector<float> skewed = {1.5f, 0, 0, 0, 0, 0, 0, 0};
  std::vector<bool> expected(8, true);
  expected[0] = false;
  CHECK(Kept(Processed(params, skewed)) == expected);
}

TEST_CASE("sampler: filters act on what the previous one left", "[sampler]") {
  SamplingParams params = Params();
  // p = 0.4, 0.3, 0.2, 0.1. top_k 2 leaves 0.4 and 0.3, renormalised to 0.571 and 0.429: a top_p
  // of 0.55 then keeps only the first, where on all four it would keep two.
  const std::vector<float> logits = {std::log(0.4f), std::log(0.3f), std::log(0.2f),
                                     std::log(0.1f)};
  params.top_p = 0.5f;
  CHECK(Kept(Processed(params, logits)) == std::vector<bool>{true, true, false, false});
  params.top_k = 2;
  params.top_p = 0.55f;
  CHECK(Kept(Processed(params, logits)) == std::vector<bool>{true, false, false, false});
}

TEST_CASE("logits processors: filters keep the survivors in their order", "[sampler]") {
  std::vector<Candidate> candidates;
  const std::vector<float> logits = RandomLogits(5000, 3, 4.0f);
  for (uint32_t i = 0; i < logits.size(); ++i) candidates.push_back({logits[i], i});
  FilterScratch scratch;
  ApplyTemperature(candidates, 0.7f);
  ApplyTopK(candidates, 2000, scratch);
  ApplyTopP(candidates, 0.97f, scratch);
  ApplyMinP(candidates, 0.001f);
  ApplyTypicalP(candidates, 0.95f, scratch);
  REQUIRE(candidates.size() > 10);
  for (size_t i = 1; i < candidates.size(); ++i) CHECK(candidates[i - 1].id < candidates[i].id);
}

// Full-sort references for top_p and typical_p, straight from transformers' definitions.
std::vector<bool> TopPReference(const std::vector<float>& logits, float top_p) {
  std::vector<uint32_t> order(logits.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a > b);
  });
  const std::vector<float> p = Softmax(logits);
  std::vector<bool> kept(logits.size(), false);
  double ahead = 0;
  for (uint32_t id : order) {
    if (ahead >= top_p) break;
    kept[id] = true;
    ahead += p[id];
  }
  return kept;
}

std::vector<bool> TypicalReference(const std::vector<float>& logits, float mass) {
  const std::vector<float> p = Softmax(logits);
  double entropy = 0;
  for (float q : p) entropy -= q > 0 ? q * std::log(static_cast<double>(q)) : 0.0;
  std::vector<double> distance;
  for (float q : p) distance.push_back(std::abs(-std::log(static_cast<double>(q)) - entropy));
  std::vector<uint32_t> order(logits.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](uint32_t a, uint32_t b) { return distance[a] < distance[b]; });
  double cumulative = 0;
  size_t last = order.size() - 1;
  for (size_t j = 0; j < order.size(); ++j) {
    cumulative += p[order[j]];
    if (cumulative >= mass) {
      last = j;
      break;
    }
  }
  std::vector<bool> kept;
  for (double d : distance) kept.push_back(d <= distance[order[last]]);
  return kept;
}

TEST_CASE("sampler: top_p and typical_p agree with full-sort references", "[sampler]") {
  // Wide and narrow ranges (coarse and fine histogram buckets), ties, large vocabularies.
  int compared = 0;
  for (uint32_t trial = 0; trial < 60; ++trial) {
    const size_t vocab = trial % 3 == 0 ? 20000 : 50 + trial * 37;
    const float scale = trial % 4 == 0 ? 0.01f : (trial % 4 == 1 ? 40.0f : 3.0f);
    std::vector<float> logits = RandomLogits(vocab, 1000 + trial, scale);
    if (trial % 5 == 0) {
      for (float& v : logits) v = std::round(v * 4.0f / scale);
    }
    if (trial % 7 == 0) logits[trial % vocab] = 1000.0f;  // one token far above the rest
    for (float top_p : {0.07f, 0.37f, 0.81f, 0.993f}) {
      SamplingParams params = Params();
      params.top_p = top_p;
      INFO("trial " << trial << " top_p " << top_p);
      CHECK(Kept(Processed(params, logits)) == TopPReference(logits, top_p));
      ++compared;
    }
    for (float typical_p : {0.13f, 0.58f, 0.97f}) {
      SamplingParams params = Params();
      params.typical_p = typical_p;
      INFO("trial " << trial << " typical_p " << typical_p);
      CHECK(Kept(Processed(params, logits)) == TypicalReference(logits, typical_p));
      ++compared;
    }
  }
  CHECK(compared == 420);
}

// ---------------------------------------------------------------------------------------------
// Golden: transformers' logits processors (tests/golden/sampling/make_fixtures.py)

TEST_CASE("sampler: processed logits match transformers' processors", "[sampler][golden]") {
  std::ifstream in(std::string(TF_SOURCE_DIR) + "/tests/golden/sampling/processed_logits.json");
  REQUIRE(in.good());
  const nlohmann::json fixtures = nlohmann::json::parse(in);
  REQUIRE(fixtures["cases"].size() >= 10);
  for (const nlohmann::json& c : fixtures["cases"]) {
    INFO(c["name"].get<std::string>());
    const nlohmann::json& p = c["params"];
    SamplingParams params = Params();
    params.temperature = p.value("temperature", 1.0f);
    params.top_k = p.value("top_k", 0);
    params.top_p = p.value("top_p", 1.0f);
    params.min_p = p.value("min_p", 0.0f);
    params.typical_p = p.value("typical_p", 1.0f);
    params.repetition_penalty = p.value("repetition_penalty", 1.0f);
    params.presence_penalty = p.value("presence_penalty", 0.0f);
    params.frequency_penalty = p.value("frequency_penalty", 0.0f);
    params.min_tokens = p.value("min_tokens", 0);
    params.stop_token_ids = p.value("stop_token_ids", std::vector<int32_t>{});
    params.ignore_eos = p.value("ignore_eos", false);
    if (p.contains("logit_bias")) {
      for (const auto& [key, value] : p["logit_bias"].items()) {
        params.logit_bias[std::stoi(key)] = value.get<float>();
      }
    }
    const std::vector<float> logits = c["logits"].get<std::vector<float>>();
    REQUIRE(ValidateSamplingParams(params, static_cast<int32_t>(logits.size()), 100).ok());
    const std::vector<float> ours =
        Processed(params, logits, c["prompt"].get<std::vector<uint32_t>>(),
                  c["output"].get<std::vector<uint32_t>>(), c["eos"].get<std::vector<uint32_t>>());

    // Ours are shifted by a constant (see ProcessedLogits): compare both relative to their
    // largest surviving value, once the same tokens survive.
    std::vector<float> expected;
    for (const nlohmann::json& v : c["expected"]) {
      expected.push_back(v.is_null() ? -kInf : v.get<float>());
    }
    REQUIRE(Kept(ours) == Kept(expected));
    float our_max = -kInf, expected_max = -kInf;
    for (size_t i = 0; i < ours.size(); ++i) {
      our_max = std::max(our_max, ours[i]);
      expected_max = std::max(expected_max, expected[i]);
    }
    for (size_t i = 0; i < ours.size(); ++i) {
      if (expected[i] == -kInf) continue;
      INFO("token " << i);
      CHECK(ours[i] - our_max == Approx(expected[i] - expected_max).margin(1e-5));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Greedy

TEST_CASE("sampler: greedy picks the largest processed logit, lowest id on ties", "[sampler]") {
  SamplingParams params = Params();
  params.temperature = 0.0f;
  params.top_k = 1;  // ignored when greedy
  params.top_p = 0.1f;
  Sampler sampler(params, 5, {}, 0);
  CHECK(sampler.Sample(Logits{1.0f, 7.0f, 3.0f, 7.0f, -2.0f})->id == 1);
  CHECK(sampler.Sample(Logits{-kInf, -5.0f, -kInf, -5.0f, -6.0f})->id == 1);
  CHECK(sampler.Sample(Logits{0.0f, 0.0f, 0.0f, 0.0f, 0.0f})->id == 0);
}

TEST_CASE("sampler: greedy agrees with the argmax of the processed logits", "[sampler]") {
  // Random penalties make the raw winner sometimes adjusted (second pass) and sometimes not.
  for (uint32_t trial = 0; trial < 200; ++trial) {
    SamplingParams params = Params();
    params.temperature = 0.0f;
    params.repetition_penalty = 1.0f + static_cast<float>(trial % 5) * 0.3f;
    params.presence_penalty = static_cast<float>(trial % 3) * 0.7f;
    params.frequency_penalty = static_cast<float>(trial % 4) * 0.4f - 0.6f;
    params.min_tokens = static_cast<int32_t>(trial % 3);
    params.stop_token_ids = {static_cast<int32_t>(trial % 50)};
    if (trial % 2) params.logit_bias = {{static_cast<int32_t>(trial * 7 % 50), 1.5f}};
    // Coarse values make ties common.
    std::vector<float> logits = RandomLogits(50, trial, 3.0f);
    for (float& v : logits) v = std::round(v * 2.0f) / 2.0f;
    const std::vector<uint32_t> prompt = {trial % 50, (trial * 3) % 50};

    Sampler sampler(params, 50, {}, 0);
    sampler.SetPrompt(prompt);
    Sampler reference(params, 50, {}, 0);
    reference.SetPrompt(prompt);
    for (int step = 0; step < 6; ++step) {
      const std::vector<float> processed = *reference.ProcessedLogits(logits);
      uint32_t argmax = 0;
      for (uint32_t i = 1; i < processed.size(); ++i) {
        if (processed[i] > processed[argmax]) argmax = i;
      }
      absl::StatusOr<SampledToken> token = sampler.Sample(logits);
      REQUIRE(token.ok());
      CHECK(token->id == argmax);
      reference.Accept(token->id);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Seeds and the distribution

std::vector<uint32_t> Generate(SamplingParams params, uint32_t choice, int steps) {
  params.top_k = 20;
  params.temperature = 1.2f;
  Sampler sampler(params, 200, {}, choice);
  std::vector<uint32_t> tokens;
  for (int step = 0; step < steps; ++step) {
    tokens.push_back(sampler.Sample(RandomLogits(200, static_cast<uint32_t>(step), 3.0f))->id);
  }
  return tokens;
}

TEST_CASE("sampler: the same seed and choice repeat, other choices and seeds differ", "[sampler]") {
  SamplingParams params = Params();
  params.seed = 1234;
  const std::vector<uint32_t> a = Generate(params, 0, 100);
  CHECK(Generate(params, 0, 100) == a);
  CHECK(Generate(params, 1, 100) != a);
  CHECK(Generate(params, 1, 100) == Generate(params, 1, 100));
  params.seed = 1235;
  CHECK(Generate(params, 0, 100) != a);
}

TEST_CASE("sampler: draws invert the CDF of the seeded stream, in id order", "[sampler]") {
  SamplingParams params = Params();
  params.seed = 42;
  Sampler sampler(params, 4, {}, 0);
  const std::vector<float> logits = {0.0f, 0.0f, 0.0f, 0.0f};
  std::vector<uint32_t> tokens;
  for (int i = 0; i < 16; ++i) tokens.push_back(sampler.Sample(logits)->id);
  Rng rng(42, 0);
  std::vector<uint32_t> expected;
  for (int i = 0; i < 16; ++i) expected.push_back(static_cast<uint32_t>(rng.Uniform() * 4));
  CHECK(tokens == expected);
}

// Draws `draws` tokens and checks each frequency against `p` within 5 standard deviations.
void CheckFrequencies(Sampler& sampler, const std::vector<float>& logits,
                      const std::vector<float>& p, int draws) {
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < draws; ++i) ++counts[sampler.Sample(logits)->id];
  double chi2 = 0;
  int dof = -1;
  for (size_t i = 0; i < p.size(); ++i) {
    const double f = static_cast<double>(counts[i]) / draws;
    INFO("token " << i << " p " << p[i] << " frequency " << f);
    if (p[i] == 0.0f) {
      CHECK(counts[i] == 0);
      continue;
    }
    CHECK(std::abs(f - p[i]) <= 5.0 * std::sqrt(p[i] * (1 - p[i]) / draws));
    const double expected = p[i] * draws;
    chi2 += (counts[i] - expected) * (counts[i] - expected) / expected;
    ++dof;
  }
  // Far beyond the 0.999 quantile for these few degrees of freedom only when the sampler is off.
  CHECK(chi2 < 3.0 * dof + 30.0);
}

TEST_CASE("sampler: temperature-1 frequencies match the softmax", "[sampler]") {
  SamplingParams params = Params();
  params.seed = 99;
  const std::vector<float> logits = {1.0f, 2.0f, 0.5f, -1.0f, 3.0f, 0.0f, 2.5f, -3.0f};
  Sampler sampler(params, 8, {}, 0);
  CheckFrequencies(sampler, logits, Softmax(logits), 20000);
}

TEST_CASE("sampler: filtered frequencies match the renormalised softmax", "[sampler]") {
  SamplingParams params = Params();
  params.seed = 5;
  params.temperature = 0.5f;
  params.top_k = 4;
  const std::vector<float> logits = {1.0f, 2.0f, 0.5f, -1.0f, 3.0f, 0.0f, 2.5f, -3.0f};
  std::vector<float> scaled;
  for (float v : logits) scaled.push_back(v / 0.5f);
  // top_k 4 keeps 3, 2.5, 2 and 1.
  for (size_t i : {2, 3, 5, 7}) scaled[i] = -kInf;
  Sampler sampler(params, 8, {}, 0);
  CheckFrequencies(sampler, logits, Softmax(scaled), 20000);
}

TEST_CASE("sampler: never draws a token at -inf", "[sampler]") {
  SamplingParams params = Params();
  const std::vector<float> logits = {-kInf, 0.0f, -kInf, 0.0f, -kInf};
  Sampler sampler(params, 5, {}, 0);
  for (int i = 0; i < 2000; ++i) {
    const uint32_t id = sampler.Sample(logits)->id;
    REQUIRE((id == 1 || id == 3));
  }
}

// ---------------------------------------------------------------------------------------------
// Logprobs

TEST_CASE("sampler: logprobs are the raw log-softmax, with sorted alternatives", "[sampler]") {
  SamplingParams params = Params();
  params.logprobs = 3;
  params.logit_bias = {{3, 100.0f}};  // forces token 3, which is unlikely under the raw logits
  params.temperature = 0.3f;
  params.repetition_penalty = 3.0f;
  const std::vector<float> logits = {2.0f, 1.0f, 2.0f, -1.0f, 0.5f};
  Sampler sampler(params, 5, {}, 0);
  sampler.SetPrompt(std::vector<uint32_t>{0});
  absl::StatusOr<SampledToken> token = sampler.Sample(logits);
  REQUIRE(token.ok());
  CHECK(token->id == 3);
  double norm = 0;
  for (float v : logits) norm += std::exp(v);
  const double log_norm = std::log(norm);
  CHECK(token->logprob == Approx(-1.0 - log_norm).margin(1e-6));
  REQUIRE(token->top.size() == 3);
  // 0 and 2 tie: ascending id.
  CHECK(token->top[0].id == 0);
  CHECK(token->top[1].id == 2);
  CHECK(token->top[2].id == 1);
  CHECK(token->top[0].logprob == Approx(2.0 - log_norm).margin(1e-6));
  CHECK(token->top[1].logprob == token->top[0].logprob);
  CHECK(token->top[2].logprob == Approx(1.0 - log_norm).margin(1e-6));
}

TEST_CASE("logprobs: edge cases", "[sampler]") {
  const std::vector<float> logits = {0.0f, -kInf, 1.0f};
  absl::StatusOr<TokenLogprobs> none = ComputeLogprobs(logits, 2, 0);
  REQUIRE(none.ok());
  CHECK(none->top.empty());
  CHECK(none->logprob == Approx(1.0 - std::log(1.0 + std::exp(1.0))).margin(1e-6));
  absl::StatusOr<TokenLogprobs> all = ComputeLogprobs(logits, 1, 20);
  REQUIRE(all.ok());
  CHECK(all->logprob == -kInf);
  REQUIRE(all->top.size() == 3);
  CHECK(all->top[0].id == 2);
  CHECK(all->top[1].id == 0);
  CHECK(all->top[2].id == 1);
  CHECK(all->top[2].logprob == -kInf);
  // A one-token distribution: logprob exactly 0.
  CHECK(ComputeLogprobs(std::vector<float>{-kInf, 5.0f}, 1, 1)->logprob == 0.0f);
  // Large vocabulary: the top entries match a full sort.
  const std::vector<float> big = RandomLogits(100000, 11, 10.0f);
  absl::StatusOr<TokenLogprobs> top = ComputeLogprobs(big, 0, 20);
  REQUIRE(top.ok());
  std::vector<uint32_t> order(big.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](uint32_t a, uint32_t b) { return big[a] > big[b]; });
  for (size_t i = 0; i < 20; ++i) CHECK(top->top[i].id == order[i]);
  double sum = 0;
  for (float v : big) sum += std::exp(static_cast<double>(v) - big[order[0]]);
  CHECK(top->top[0].logprob == Approx(-std::log(sum)).margin(1e-5));
}

TEST_CASE("sampler: no logprobs unless asked", "[sampler]") {
  Sampler sampler(Params(), 3, {}, 0);
  absl::StatusOr<SampledToken> token = sampler.Sample(std::vector<float>{0.0f, 1.0f, 2.0f});
  REQUIRE(token.ok());
  CHECK(token->logprob == 0.0f);
  CHECK(token->top.empty());
}

// ---------------------------------------------------------------------------------------------
// Non-finite logits

TEST_CASE("sampler: NaN or +inf logits are an error, not a token", "[sampler]") {
  for (float temperature : {0.0f, 0.8f}) {
    SamplingParams params = Params();
    params.temperature = temperature;
    params.logprobs = 2;
    Sampler sampler(params, 4, {}, 0);
    absl::StatusOr<SampledToken> nan = sampler.Sample(Logits{0.0f, std::nanf(""), 1.0f, 2.0f});
    CHECK(nan.status().code() == absl::StatusCode::kInternal);
    CHECK_THAT(std::string(nan.status().message()),
               Catch::Contains("nan") && Catch::Contains("token 1"));
    absl::StatusOr<SampledToken> inf = sampler.Sample(Logits{0.0f, 1.0f, 2.0f, kInf});
    CHECK(inf.status().code() == absl::StatusCode::kInternal);
    CHECK_THAT(std::string(inf.status().message()), Catch::Contains("+inf"));
    CHECK(sampler.generated() == 0);
    CHECK(sampler.Sample(Logits{0.0f, 1.0f, 2.0f, 0.5f}).ok());
    CHECK(sampler.generated() == 1);
  }
}

TEST_CASE("sampler: nothing left to choose is an error", "[sampler]") {
  for (float temperature : {0.0f, 1.0f}) {
    SamplingParams params = Params();
    params.temperature = temperature;
    Sampler all_inf(params, 3, {}, 0);
    absl::StatusOr<SampledToken> token = all_inf.Sample(Logits{-kInf, -kInf, -kInf});
    CHECK(token.status().code() == absl::StatusCode::kFailedPrecondition);
    CHECK_THAT(std::string(token.status().message()), Catch::Contains("every logit is -inf"));

    // Only end tokens are finite, and min_tokens masks them.
    params.min_tokens = 1;
    Sampler masked(params, 3, std::vector<uint32_t>{1}, 0);
    token = masked.Sample(Logits{-kInf, 4.0f, -kInf});
    CHECK(token.status().code() == absl::StatusCode::kFailedPrecondition);
  }
}

TEST_CASE("sampler: logits of the wrong size are an error", "[sampler]") {
  Sampler sampler(Params(), 4, {}, 0);
  CHECK(sampler.Sample(std::vector<float>{1.0f, 2.0f}).status().code() ==
        absl::StatusCode::kInternal);
}

// ---------------------------------------------------------------------------------------------
// Speed (not run by default: `tf_unit_tests "[.sampler-speed]"`)

TEST_CASE("sampler: time per step on a 256k vocabulary", "[.sampler-speed]") {
  const std::vector<float> logits = RandomLogits(256000, 1, 8.0f);
  const std::vector<uint32_t> prompt(2000, 17);
  struct Setting {
    const char* name;
    std::function<void(SamplingParams&)> set;
  };
  const std::vector<Setting> settings = {
      {"greedy", [](SamplingParams& p) { p.temperature = 0.0f; }},
      {"greedy + repetition 1.1",
       [](SamplingParams& p) {
         p.temperature = 0.0f;
         p.repetition_penalty = 1.1f;
       }},
      {"temperature 1", [](SamplingParams&) {}},
      {"top_k 50 top_p 0.9",
       [](SamplingParams& p) {
         p.top_k = 50;
         p.top_p = 0.9f;
       }},
      {"top_p 0.95", [](SamplingParams& p) { p.top_p = 0.95f; }},
      {"min_p 0.05", [](SamplingParams& p) { p.min_p = 0.05f; }},
      {"typical_p 0.9", [](SamplingParams& p) { p.typical_p = 0.9f; }},
      {"logprobs 5", [](SamplingParams& p) { p.logprobs = 5; }},
  };
  for (const Setting& setting : settings) {
    SamplingParams params = Params();
    params.max_tokens = 1000;
    setting.set(params);
    Sampler sampler(params, 256000, {}, 0);
    sampler.SetPrompt(prompt);
    REQUIRE(sampler.Sample(logits).ok());
    const int steps = 50;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < steps; ++i) REQUIRE(sampler.Sample(logits).ok());
    const std::chrono::duration<double, std::micro> took = std::chrono::steady_clock::now() - start;
    std::printf("%-26s %8.1f us/step\n", setting.name, took.count() / steps);
  }
}

}  // namespace
}  // namespace trustformers::engine
