// collate and DataLoader: padding and keep masks, fixed pad lengths, batch counts with and without
// drop_last, and shuffles that visit every example once per epoch, depend only on (seed, epoch)
// and can be entered at any batch.
#include "models/nn/data.h"

#include <algorithm>
#include <memory>
#include <thread>
#include <vector>

#include "catch2/catch.hpp"

namespace trustformers::nn {
namespace {

// Example i has i % 4 + 1 tokens valued 100 * (i + 1) + t, type ids 0 for the first half (the
// middle token included) then 1, label i.
std::shared_ptr<ExampleDataset> Numbered(size_t count) {
  auto dataset = std::make_shared<ExampleDataset>();
  for (size_t i = 0; i < count; ++i) {
    TextExample example;
    const size_t length = i % 4 + 1;
    for (size_t t = 0; t < length; ++t) {
      example.ids.push_back(static_cast<int32_t>(100 * (i + 1) + t));
      example.type_ids.push_back(t < (length + 1) / 2 ? 0 : 1);
    }
    example.label = static_cast<int64_t>(i);
    dataset->Add(std::move(example));
  }
  return dataset;
}

DataLoader MakeLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions options) {
  absl::StatusOr<DataLoader> loader = DataLoader::Create(std::move(dataset), options);
  INFO(loader.status().ToString());
  REQUIRE(loader.ok());
  return *std::move(loader);
}

std::vector<size_t> Sorted(std::vector<size_t> values) {
  std::sort(values.begin(), values.end());
  return values;
}

std::vector<size_t> Iota(size_t count) {
  std::vector<size_t> values(count);
  for (size_t i = 0; i < count; ++i) values[i] = i;
  return values;
}

TEST_CASE("collate pads to the longest row with keep masks", "[data]") {
  const TextExample a{{101, 7, 102}, {0, 0, 0}, 1};
  const TextExample b{{101, 8, 9, 102, 10}, {0, 0, 0, 1, 1}, 0};
  const TextExample c{{101}, {}, -1};  // no type ids: all segment 0
  absl::StatusOr<TokenBatch> batch = collate({&a, &b, &c}, /*pad_id=*/3);
  REQUIRE(batch.ok());
  CHECK(batch->batch == 3);
  CHECK(batch->length == 5);
  CHECK(batch->ids == std::vector<int64_t>{101, 7, 102, 3, 3,   //
                                           101, 8, 9, 102, 10,  //
                                           101, 3, 3, 3, 3});
  CHECK(batch->type_ids == std::vector<int64_t>{0, 0, 0, 0, 0,  //
                                                0, 0, 0, 1, 1,  //
                                                0, 0, 0, 0, 0});
  CHECK(batch->keep == std::vector<std::vector<bool>>{{true, true, true, false, false},
                                                      {true, true, true, true, true},
                                                      {true, false, false, false, false}});
  CHECK(batch->labels == std::vector<int64_t>{1, 0, -1});
  CHECK(batch->indices == std::vector<size_t>{0, 1, 2});
}

TEST_CASE("collate pads to a fixed length and refuses longer rows", "[data]") {
  const TextExample a{{1, 2}, {0, 1}, 0};
  const TextExample b{{1, 2, 3, 4}, {}, 1};
  absl::StatusOr<TokenBatch> batch = collate({&a}, 0, /*pad_to=*/4);
  REQUIRE(batch.ok());
  CHECK(batch->length == 4);
  CHECK(batch->ids == std::vector<int64_t>{1, 2, 0, 0});
  CHECK(batch->type_ids == std::vector<int64_t>{0, 1, 0, 0});
  CHECK(batch->keep == std::vector<std::vector<bool>>{{true, true, false, false}});

  absl::StatusOr<TokenBatch> exact = collate({&a, &b}, 0, 4);
  REQUIRE(exact.ok());
  CHECK(exact->length == 4);

  absl::StatusOr<TokenBatch> too_long = collate({&a, &b}, 0, 3);
  REQUIRE(too_long.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(too_long.status().message()),
             Catch::Contains("row 1 has 4 tokens, more than pad_to 3"));
}

TEST_CASE("collate refuses rows it cannot pad", "[data]") {
  const TextExample good{{1, 2}, {}, 0};
  const TextExample empty{{}, {}, 0};
  const TextExample mismatched{{1, 2, 3}, {0, 1}, 0};
  const auto message = [](const absl::StatusOr<TokenBatch>& batch) {
    REQUIRE(batch.status().code() == absl::StatusCode::kInvalidArgument);
    return std::string(batch.status().message());
  };
  CHECK_THAT(message(collate({}, 0)), Catch::Contains("no rows"));
  CHECK_THAT(message(collate({&good, nullptr}, 0)), Catch::Contains("row 1 is null"));
  CHECK_THAT(message(collate({&empty}, 0)), Catch::Contains("row 0 has no tokens"));
  CHECK_THAT(message(collate({&good, &mismatched}, 0)),
             Catch::Contains("row 1 has 3 ids but 2 type ids"));
  CHECK_THAT(message(collate({&good}, 0, -1)), Catch::Contains("pad_to -1"));
  CHECK_THAT(message(collate({&good}, -2)), Catch::Contains("pad_id -2"));
}

TEST_CASE("DataLoader::Create refuses options that cannot make batches", "[data]") {
  const auto code = [](std::shared_ptr<const Dataset> dataset, DataLoaderOptions options) {
    return DataLoader::Create(std::move(dataset), options).status().code();
  };
  const auto five = Numbered(5);
  CHECK(code(nullptr, {}) == absl::StatusCode::kInvalidArgument);
  CHECK(code(five, {.batch_size = 0}) == absl::StatusCode::kInvalidArgument);
  CHECK(code(five, {.batch_size = -3}) == absl::StatusCode::kInvalidArgument);
  CHECK(code(five, {.pad_id = -1}) == absl::StatusCode::kInvalidArgument);
  CHECK(code(five, {.pad_to = -1}) == absl::StatusCode::kInvalidArgument);
  CHECK(code(std::make_shared<ExampleDataset>(), {}) == absl::StatusCode::kInvalidArgument);
  CHECK(code(five, {.batch_size = 6, .drop_last = true}) == absl::StatusCode::kInvalidArgument);
  CHECK(code(five, {.batch_size = 6}) == absl::StatusCode::kOk);
  CHECK(code(five, {.batch_size = 5, .drop_last = true}) == absl::StatusCode::kOk);
}

TEST_CASE("DataLoader counts batches with and without drop_last", "[data]") {
  const auto ten = Numbered(10);
  const DataLoader kept = MakeLoader(ten, {.batch_size = 3});
  const DataLoader dropped = MakeLoader(ten, {.batch_size = 3, .drop_last = true});
  CHECK(kept.num_batches() == 4);
  CHECK(dropped.num_batches() == 3);
  CHECK(MakeLoader(Numbered(9), {.batch_size = 3}).num_batches() == 3);
  CHECK(MakeLoader(Numbered(9), {.batch_size = 3, .drop_last = true}).num_batches() == 3);
  CHECK(MakeLoader(ten, {.batch_size = 100}).num_batches() == 1);

  absl::StatusOr<TokenBatch> last = kept.batch(0, 3);
  REQUIRE(last.ok());
  CHECK(last->batch == 1);
  CHECK(last->indices == std::vector<size_t>{9});
  CHECK(kept.batch(0, 4).status().code() == absl::StatusCode::kOutOfRange);
  CHECK(dropped.batch(0, 3).status().code() == absl::StatusCode::kOutOfRange);
  CHECK(kept.batch(-1, 0).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("DataLoader without shuffle keeps the dataset's order", "[data]") {
  const DataLoader loader = MakeLoader(Numbered(5), {.batch_size = 2, .pad_id = 9});
  CHECK(loader.order(0) == Iota(5));
  CHECK(loader.order(7) == Iota(5));
  absl::StatusOr<TokenBatch> first = loader.batch(3, 0);
  REQUIRE(first.ok());
  // Example 0 has one token, example 1 two.
  CHECK(first->length == 2);
  CHECK(first->ids == std::vector<int64_t>{100, 9, 200, 201});
  CHECK(first->type_ids == std::vector<int64_t>{0, 0, 0, 1});
  CHECK(first->labels == std::vector<int64_t>{0, 1});
  CHECK(first->indices == std::vector<size_t>{0, 1});
}

TEST_CASE("DataLoader shuffles every index exactly once per epoch", "[data]") {
  const DataLoader loader = MakeLoader(Numbered(23), {.batch_size = 4, .shuffle = true, .seed = 7});
  for (int64_t epoch = 0; epoch < 5; ++epoch) {
    const std::vector<size_t> order = loader.order(epoch);
    CHECK(Sorted(order) == Iota(23));
    // The batches, concatenated, are the epoch's order, and each row is its example.
    std::vector<size_t> visited;
    for (size_t b = 0; b < loader.num_batches(); ++b) {
      absl::StatusOr<TokenBatch> batch = loader.batch(epoch, b);
      REQUIRE(batch.ok());
      for (size_t r = 0; r < batch->indices.size(); ++r) {
        const size_t index = batch->indices[r];
        CHECK(batch->labels[r] == static_cast<int64_t>(index));
        CHECK(batch->ids[r * static_cast<size_t>(batch->length)] ==
              static_cast<int64_t>(100 * (index + 1)));
      }
      visited.insert(visited.end(), batch->indices.begin(), batch->indices.end());
    }
    CHECK(visited == order);
  }
}

TEST_CASE("DataLoader's order depends only on seed and epoch", "[data]") {
  const auto dataset = Numbered(50);
  const DataLoaderOptions options{.batch_size = 8, .shuffle = true, .seed = 1234};
  const DataLoader a = MakeLoader(dataset, options);
  const DataLoader b = MakeLoader(dataset, options);
  DataLoaderOptions other_seed = options;
  other_seed.seed = 1235;
  const DataLoader c = MakeLoader(dataset, other_seed);

  CHECK(a.order(0) == b.order(0));
  CHECK(a.order(3) == b.order(3));
  CHECK(a.order(0) != a.order(1));
  CHECK(a.order(1) != a.order(2));
  CHECK(a.order(0) != Iota(50));
  CHECK(a.order(0) != c.order(0));
  // Neighbouring seeds and epochs do not alias ((seed, epoch + 1) vs (seed + 1, epoch)).
  CHECK(a.order(1) != c.order(0));

  // Random access: a batch is the same whether reached first, after other epochs, or again.
  absl::StatusOr<TokenBatch> direct = a.batch(4, 3);
  REQUIRE(direct.ok());
  REQUIRE(b.batch(0, 0).ok());
  REQUIRE(b.batch(2, 5).ok());
  absl::StatusOr<TokenBatch> after = b.batch(4, 3);
  REQUIRE(after.ok());
  CHECK(after->indices == direct->indices);
  CHECK(after->ids == direct->ids);
  const std::vector<size_t> order = a.order(4);
  CHECK(direct->indices == std::vector<size_t>(order.begin() + 24, order.begin() + 32));
}

TEST_CASE("DataLoader's shuffle is pinned across builds", "[data]") {
  // A checkpoint written by one build must resume with the same batches on another, so the
  // algorithm (SplitMix64-mixed seed, xoshiro256**, unbiased Fisher-Yates) must not drift. The
  // vectors come from an independent Python transcription of those three steps.
  const DataLoader loader = MakeLoader(Numbered(10), {.shuffle = true, .seed = 42});
  CHECK(loader.order(0) == std::vector<size_t>{9, 3, 6, 4, 0, 7, 5, 2, 8, 1});
  CHECK(loader.order(1) == std::vector<size_t>{5, 4, 3, 6, 8, 1, 9, 7, 2, 0});
}

TEST_CASE("DataLoader's shuffle is uniform over positions", "[data]") {
  // Fisher-Yates with an off-by-one (Sattolo's cycles, or j drawn from 0..n) skews where an index
  // lands; over 4,000 epochs each of the 16 (position, index) cells expects 1,000 hits.
  const DataLoader loader = MakeLoader(Numbered(4), {.shuffle = true, .seed = 3});
  std::vector<std::vector<int>> hits(4, std::vector<int>(4, 0));
  for (int64_t epoch = 0; epoch < 4000; ++epoch) {
    const std::vector<size_t> order = loader.order(epoch);
    for (size_t position = 0; position < 4; ++position) ++hits[position][order[position]];
  }
  for (size_t position = 0; position < 4; ++position) {
    for (size_t index = 0; index < 4; ++index) {
      INFO("position " << position << " index " << index);
      CHECK(hits[position][index] > 880);
      CHECK(hits[position][index] < 1120);
    }
  }
}

TEST_CASE("DataLoader names the example a batch cannot hold", "[data]") {
  auto dataset = Numbered(4);
  dataset->Add(TextExample{{1, 2, 3, 4, 5, 6}, {}, 0});  // index 4, longer than pad_to
  const DataLoader loader = MakeLoader(dataset, {.batch_size = 2, .pad_to = 5});
  REQUIRE(loader.batch(0, 1).ok());
  absl::StatusOr<TokenBatch> bad = loader.batch(0, 2);
  REQUIRE(bad.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(bad.status().message()),
             Catch::Contains("example 4 (row 0) has 6 tokens, more than pad_to 5"));
}

TEST_CASE("DataLoader copies give the same batches from several threads", "[data]") {
  const DataLoader loader = MakeLoader(Numbered(64), {.batch_size = 4, .shuffle = true, .seed = 9});
  std::vector<std::vector<size_t>> expected;
  for (size_t b = 0; b < loader.num_batches(); ++b) {
    absl::StatusOr<TokenBatch> batch = loader.batch(1, b);
    REQUIRE(batch.ok());
    expected.push_back(batch->indices);
  }
  // Each thread walks epochs 0..3 on its own copy; the copies share one order cache.
  std::vector<std::vector<std::vector<size_t>>> seen(4);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < 4; ++t) {
    threads.emplace_back([&, t, copy = loader] {
      for (int64_t epoch = 0; epoch < 4; ++epoch) {
        for (size_t b = 0; b < copy.num_batches(); ++b) {
          absl::StatusOr<TokenBatch> batch = copy.batch(epoch, b);
          if (epoch == 1 && batch.ok()) seen[t].push_back(batch->indices);
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (size_t t = 0; t < 4; ++t) CHECK(seen[t] == expected);
}

}  // namespace
}  // namespace trustformers::nn
