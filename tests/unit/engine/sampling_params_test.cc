#include "engine/sampling/sampling_params.h"

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "catch2/catch.hpp"

namespace trustformers::engine {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

SamplingParams Params() {
  SamplingParams params;
  params.max_tokens = 100;
  return params;
}

TEST_CASE("sampling params: defaults with max_tokens set are valid", "[sampler]") {
  CHECK(ValidateSamplingParams(Params(), 1000, 100).ok());
  SamplingParams echo_only = Params();
  echo_only.max_tokens = 0;
  echo_only.echo_prompt = true;
  CHECK(ValidateSamplingParams(echo_only, 1000, 0).ok());
}

TEST_CASE("sampling params: each out-of-range field names itself and its range", "[sampler]") {
  struct Case {
    std::function<void(SamplingParams&)> set;
    std::string message;
  };
  const std::vector<Case> cases = {
      {[](SamplingParams& p) { p.max_tokens = 0; },
       "max_tokens must be in [1, 100] (the room left in the model's context after the prompt; 0 "
       "only with echo_prompt), got 0"},
      {[](SamplingParams& p) { p.max_tokens = 101; }, "max_tokens must be in [1, 100]"},
      {[](SamplingParams& p) { p.min_tokens = 101; },
       "min_tokens must be in [0, max_tokens = 100], got 101"},
      {[](SamplingParams& p) { p.min_tokens = -1; }, "min_tokens must be in [0, max_tokens"},
      {[](SamplingParams& p) { p.temperature = 2.5f; }, "temperature must be in [0, 2], got 2.5"},
      {[](SamplingParams& p) { p.temperature = -0.1f; }, "temperature must be in [0, 2]"},
      {[](SamplingParams& p) { p.temperature = std::nanf(""); }, "temperature must be in [0, 2]"},
      {[](SamplingParams& p) { p.top_k = 1001; },
       "top_k must be in [0, 1000] (0 disables it), got 1001"},
      {[](SamplingParams& p) { p.top_k = -1; }, "top_k must be in [0, 1000]"},
      {[](SamplingParams& p) { p.top_p = 0.0f; }, "top_p must be in (0, 1], got 0"},
      {[](SamplingParams& p) { p.top_p = 1.5f; }, "top_p must be in (0, 1], got 1.5"},
      {[](SamplingParams& p) { p.min_p = -0.5f; }, "min_p must be in [0, 1], got -0.5"},
      {[](SamplingParams& p) { p.min_p = 1.01f; }, "min_p must be in [0, 1]"},
      {[](SamplingParams& p) { p.typical_p = 0.0f; }, "typical_p must be in (0, 1], got 0"},
      {[](SamplingParams& p) { p.typical_p = 2.0f; }, "typical_p must be in (0, 1]"},
      {[](SamplingParams& p) { p.repetition_penalty = 0.0f; },
       "repetition_penalty must be a finite number > 0, got 0"},
      {[](SamplingParams& p) { p.repetition_penalty = kInf; },
       "repetition_penalty must be a finite number > 0"},
      {[](SamplingParams& p) { p.presence_penalty = 2.5f; },
       "presence_penalty must be in [-2, 2], got 2.5"},
      {[](SamplingParams& p) { p.frequency_penalty = -3.0f; },
       "frequency_penalty must be in [-2, 2], got -3"},
      {[](SamplingParams& p) { p.logit_bias[1000] = 1.0f; },
       "logit_bias keys must be token ids in [0, 1000), got 1000"},
      {[](SamplingParams& p) { p.logit_bias[-1] = 1.0f; }, "logit_bias keys must be token ids"},
      {[](SamplingParams& p) { p.logit_bias[5] = 100.5f; },
       "logit_bias values must be in [-100, 100], got 100.5 for token 5"},
      {[](SamplingParams& p) { p.stop.assign(17, "x"); }, "stop allows at most 16 strings, got 17"},
      {[](SamplingParams& p) {
         p.stop = {"ok", ""};
       },
       "stop[1] must be 1 to 256 bytes, got 0"},
      {[](SamplingParams& p) { p.stop = {std::string(257, 'a')}; },
       "stop[0] must be 1 to 256 bytes, got 257"},
      {[](SamplingParams& p) { p.stop = {"a\xC3"}; }, "stop[0] must be valid UTF-8"},
      {[](SamplingParams& p) { p.stop_token_ids.assign(65, 1); },
       "stop_token_ids allows at most 64 ids, got 65"},
      {[](SamplingParams& p) {
         p.stop_token_ids = {3, 1000};
       },
       "stop_token_ids must be token ids in [0, 1000), got 1000"},
      {[](SamplingParams& p) { p.logprobs = 21; }, "logprobs must be in [0, 20], got 21"},
      {[](SamplingParams& p) { p.logprobs = -1; }, "logprobs must be in [0, 20]"},
      {[](SamplingParams& p) { p.n = 17; }, "n must be in [0, 16] (0 means 1), got 17"},
      {[](SamplingParams& p) { p.n = -1; }, "n must be in [0, 16]"},
  };
  for (const Case& c : cases) {
    SamplingParams params = Params();
    c.set(params);
    const absl::Status status = ValidateSamplingParams(params, 1000, 100);
    INFO(c.message);
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(status.message()), Catch::StartsWith(c.message));
  }
}

TEST_CASE("sampling params: limits are inclusive where the proto says so", "[sampler]") {
  SamplingParams params = Params();
  params.temperature = 2.0f;
  params.top_k = 1000;
  params.top_p = 1.0f;
  params.min_p = 1.0f;
  params.typical_p = 1.0f;
  params.presence_penalty = -2.0f;
  params.frequency_penalty = 2.0f;
  params.logit_bias = {{0, -100.0f}, {999, 100.0f}};
  params.stop.assign(16, std::string(256, 'x'));
  params.stop_token_ids.assign(64, 999);
  params.logprobs = 20;
  params.n = 16;
  params.min_tokens = 100;
  CHECK(ValidateSamplingParams(params, 1000, 100).ok());
  params.stop = {"終わり", "\xF0\x9F\x98\x80"};
  CHECK(ValidateSamplingParams(params, 1000, 100).ok());
}

TEST_CASE("sampling params: the context leaves no room", "[sampler]") {
  const absl::Status full = ValidateSamplingParams(Params(), 1000, 0);
  CHECK(full.code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(full.message()), Catch::Contains("no room left"));
  const absl::Status over = ValidateSamplingParams(Params(), 1000, -5);
  CHECK_THAT(std::string(over.message()), Catch::Contains("longer than the model's context"));
}

TEST_CASE("sampling params: end tokens and choices", "[sampler]") {
  SamplingParams params = Params();
  params.stop_token_ids = {9, 4, 9};
  const std::vector<uint32_t> eos = {2, 4};
  CHECK(EndTokenIds(params, eos) == std::vector<uint32_t>{2, 4, 9});
  params.ignore_eos = true;
  CHECK(EndTokenIds(params, eos) == std::vector<uint32_t>{4, 9});
  CHECK(NumChoices(params) == 1);
  params.n = 3;
  CHECK(NumChoices(params) == 3);
}

}  // namespace
}  // namespace trustformers::engine
