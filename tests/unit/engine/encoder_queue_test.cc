#include "engine/encoder_queue.h"

#include <atomic>
#include <future>

#include "catch2/catch.hpp"
#include "unit/models/model_fixtures.h"

namespace trustformers::engine {
namespace {

using models::EncoderInput;

const models::BertModel& MiniLm() {
  static auto* model = models::BertModel::Load(testing::MiniLmDir())->release();
  return *model;
}

std::future<absl::StatusOr<std::vector<EncoderOutput>>> Submit(
    EncoderQueue& queue, std::vector<EncoderInput> inputs,
    EncoderQueue::IsCancelled cancelled = {}) {
  auto promise = std::make_shared<std::promise<absl::StatusOr<std::vector<EncoderOutput>>>>();
  auto future = promise->get_future();
  absl::Status status =
      queue.Submit(std::move(inputs), backends::PoolingMode::kMean, std::move(cancelled),
                   [promise](absl::StatusOr<std::vector<EncoderOutput>> result) {
                     promise->set_value(std::move(result));
                   });
  if (!status.ok()) promise->set_value(status);
  return future;
}

TEST_CASE("encoder queue: batched results equal one-at-a-time results", "[engine][encoder]") {
  const std::vector<EncoderInput> inputs = {
      {{101, 7592, 2088, 102}, {}},
      {{101, 2023, 2003, 1037, 2936, 6251, 2007, 2062, 19204, 2015, 102}, {}},
      {{101, 102}, {}}};
  std::vector<std::vector<float>> alone;
  {
    EncoderQueue queue(&MiniLm(), {});
    for (const EncoderInput& input : inputs) {
      auto result = Submit(queue, {input}).get();
      REQUIRE(result.ok());
      alone.push_back((*result)[0].embedding);
    }
  }
  // A budget of 12 tokens forces the 17 tokens of the second request into two passes.
  EncoderQueue queue(&MiniLm(), {12, 16});
  auto first = Submit(queue, {inputs[0]});
  auto second = Submit(queue, {inputs[1], inputs[2]});
  auto a = first.get(), b = second.get();
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  REQUIRE(b->size() == 2);
  CHECK((*b)[0].token_count == 11);
  for (size_t i = 0; i < 384; ++i) {
    CHECK((*a)[0].embedding[i] == Approx(alone[0][i]).margin(1e-5));
    CHECK((*b)[0].embedding[i] == Approx(alone[1][i]).margin(1e-5));
    CHECK((*b)[1].embedding[i] == Approx(alone[2][i]).margin(1e-5));
  }
}

TEST_CASE("encoder queue: cancelled callers are dropped, failures stay local",
          "[engine][encoder]") {
  EncoderQueue queue(&MiniLm(), {});
  auto gone = Submit(queue, {{{101, 102}, {}}}, [] { return true; });
  auto bad = Submit(queue, {{{101, 999999, 102}, {}}});
  auto good = Submit(queue, {{{101, 7592, 102}, {}}});
  CHECK(gone.get().status().code() == absl::StatusCode::kCancelled);
  const auto bad_result = bad.get();
  CHECK(bad_result.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(bad_result.status().message().find("input 0: token id 999999 at position 1") !=
        std::string::npos);
  CHECK(good.get().ok());
}

TEST_CASE("encoder queue: a full queue answers RESOURCE_EXHAUSTED", "[engine][encoder]") {
  EncoderQueue queue(&MiniLm(), {16384, 2});
  std::vector<std::future<absl::StatusOr<std::vector<EncoderOutput>>>> futures;
  const std::vector<int32_t> long_input(500, 2000);
  for (int i = 0; i < 20; ++i) futures.push_back(Submit(queue, {{long_input, {}}}));
  int exhausted = 0;
  for (auto& f : futures) {
    auto result = f.get();
    if (!result.ok()) {
      CHECK(result.status().code() == absl::StatusCode::kResourceExhausted);
      ++exhausted;
    }
  }
  CHECK(exhausted > 0);
  CHECK(queue.queued() == 0);
}

}  // namespace
}  // namespace trustformers::engine
