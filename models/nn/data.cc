#include "models/nn/data.h"

#include <algorithm>
#include <mutex>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "backends/xoshiro.h"
#include "models/nn/generator.h"

namespace trustformers::nn {
namespace {

// Uniform in [0, bound) without modulo bias: draws below 2^64 mod bound are redrawn, so the
// accepted range is a whole number of copies of [0, bound).
uint64_t UniformBelow(Generator& generator, uint64_t bound) {
  const uint64_t reject_below = (0 - bound) % bound;
  while (true) {
    const uint64_t draw = generator.NextU64();
    if (draw >= reject_below) return draw % bound;
  }
}

// The generator seed of one epoch. Passing seed through SplitMix64 before mixing in the epoch
// keeps (seed, epoch + 1) and (seed + 1, epoch) apart, which seed + epoch would not.
uint64_t EpochSeed(uint64_t seed, int64_t epoch) {
  uint64_t state = seed;
  return backends::SplitMix64(&state) ^ static_cast<uint64_t>(epoch);
}

// "row 3", or "example 17 (row 3)" when the dataset indices are known.
std::string DescribeRow(size_t row, const std::vector<size_t>* indices) {
  if (indices == nullptr) return absl::StrCat("row ", row);
  return absl::StrCat("example ", (*indices)[row], " (row ", row, ")");
}

absl::StatusOr<TokenBatch> CollateRows(const std::vector<const TextExample*>& rows,
                                       const std::vector<size_t>* indices, int32_t pad_id,
                                       int64_t pad_to) {
  if (rows.empty()) return absl::InvalidArgumentError("collate: no rows");
  if (pad_id < 0)
    return absl::InvalidArgumentError(absl::StrCat("collate: pad_id ", pad_id, " < 0"));
  if (pad_to < 0)
    return absl::InvalidArgumentError(absl::StrCat("collate: pad_to ", pad_to, " < 0"));
  size_t longest = 0;
  for (size_t r = 0; r < rows.size(); ++r) {
    const TextExample* row = rows[r];
    if (row == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("collate: ", DescribeRow(r, indices), " is null"));
    }
    if (row->ids.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("collate: ", DescribeRow(r, indices), " has no tokens"));
    }
    if (!row->type_ids.empty() && row->type_ids.size() != row->ids.size()) {
      return absl::InvalidArgumentError(absl::StrCat("collate: ", DescribeRow(r, indices), " has ",
                                                     row->ids.size(), " ids but ",
                                                     row->type_ids.size(), " type ids"));
    }
    if (pad_to > 0 && row->ids.size() > static_cast<size_t>(pad_to)) {
      return absl::InvalidArgumentError(absl::StrCat("collate: ", DescribeRow(r, indices), " has ",
                                                     row->ids.size(), " tokens, more than pad_to ",
                                                     pad_to));
    }
    longest = std::max(longest, row->ids.size());
  }

  const size_t length = pad_to > 0 ? static_cast<size_t>(pad_to) : longest;
  TokenBatch batch;
  batch.batch = static_cast<int64_t>(rows.size());
  batch.length = static_cast<int64_t>(length);
  batch.ids.assign(rows.size() * length, pad_id);                    // [B, T]
  batch.type_ids.assign(rows.size() * length, 0);                    // [B, T]
  batch.keep.assign(rows.size(), std::vector<bool>(length, false));  // [B][T]
  batch.labels.reserve(rows.size());                                 // [B]
  batch.indices.reserve(rows.size());                                // [B]
  for (size_t r = 0; r < rows.size(); ++r) {
    const TextExample& row = *rows[r];
    const size_t base = r * length;
    for (size_t t = 0; t < row.ids.size(); ++t) {
      batch.ids[base + t] = row.ids[t];
      if (!row.type_ids.empty()) batch.type_ids[base + t] = row.type_ids[t];
      batch.keep[r][t] = true;
    }
    batch.labels.push_back(row.label);
    batch.indices.push_back(indices != nullptr ? (*indices)[r] : r);
  }
  return batch;
}

}  // namespace

absl::StatusOr<TokenBatch> collate(const std::vector<const TextExample*>& rows, int32_t pad_id,
                                   int64_t pad_to) {
  return CollateRows(rows, nullptr, pad_id, pad_to);
}

// The last epoch's order. Training asks for every batch of one epoch before moving to the next,
// so one entry turns an O(size) shuffle per batch into one per epoch.
struct DataLoader::OrderCache {
  std::mutex mutex;
  int64_t epoch = -1;
  std::shared_ptr<const std::vector<size_t>> order;
};

absl::StatusOr<DataLoader> DataLoader::Create(std::shared_ptr<const Dataset> dataset,
                                              DataLoaderOptions options) {
  if (dataset == nullptr) return absl::InvalidArgumentError("DataLoader: no dataset");
  if (options.batch_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("DataLoader: batch_size must be >= 1, not ", options.batch_size));
  }
  if (options.pad_id < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("DataLoader: pad_id must be >= 0, not ", options.pad_id));
  }
  if (options.pad_to < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "DataLoader: pad_to must be >= 0 (0 pads to the longest row), not ", options.pad_to));
  }
  if (dataset->size() == 0) return absl::InvalidArgumentError("DataLoader: the dataset is empty");
  if (options.drop_last && dataset->size() < static_cast<size_t>(options.batch_size)) {
    return absl::InvalidArgumentError(absl::StrCat("DataLoader: drop_last with ", dataset->size(),
                                                   " examples and batch_size ", options.batch_size,
                                                   " leaves no batch"));
  }
  return DataLoader(std::move(dataset), options);
}

DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions options)
    : dataset_(std::move(dataset)), options_(options), cache_(std::make_shared<OrderCache>()) {}

size_t DataLoader::num_batches() const {
  const size_t size = dataset_->size();
  const size_t batch_size = static_cast<size_t>(options_.batch_size);
  return options_.drop_last ? size / batch_size : (size + batch_size - 1) / batch_size;
}

std::vector<size_t> DataLoader::order(int64_t epoch) const {
  std::vector<size_t> order(dataset_->size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  if (!options_.shuffle) return order;
  // Fisher-Yates from the back: position i takes a uniform pick among positions 0..i.
  Generator generator(EpochSeed(options_.seed, epoch));
  for (size_t i = order.size(); i > 1; --i) {
    const size_t j = static_cast<size_t>(UniformBelow(generator, i));
    std::swap(order[i - 1], order[j]);
  }
  return order;
}

std::shared_ptr<const std::vector<size_t>> DataLoader::CachedOrder(int64_t epoch) const {
  {
    std::lock_guard<std::mutex> lock(cache_->mutex);
    if (cache_->epoch == epoch) return cache_->order;
  }
  // Shuffled outside the lock; two threads racing on a new epoch compute the same order.
  auto computed = std::make_shared<const std::vector<size_t>>(order(epoch));
  std::lock_guard<std::mutex> lock(cache_->mutex);
  cache_->epoch = epoch;
  cache_->order = computed;
  return computed;
}

absl::StatusOr<TokenBatch> DataLoader::batch(int64_t epoch, size_t index) const {
  if (epoch < 0) {
    return absl::InvalidArgumentError(absl::StrCat("DataLoader: epoch ", epoch, " < 0"));
  }
  if (index >= num_batches()) {
    return absl::OutOfRangeError(
        absl::StrCat("DataLoader: batch ", index, " of an epoch of ", num_batches(), " batches"));
  }
  const std::shared_ptr<const std::vector<size_t>> order = CachedOrder(epoch);
  const size_t batch_size = static_cast<size_t>(options_.batch_size);
  const size_t begin = index * batch_size;
  const size_t end = std::min(order->size(), begin + batch_size);
  std::vector<size_t> indices(order->begin() + static_cast<std::ptrdiff_t>(begin),
                              order->begin() + static_cast<std::ptrdiff_t>(end));
  std::vector<const TextExample*> rows;
  rows.reserve(indices.size());
  for (size_t i : indices) rows.push_back(&dataset_->get(i));
  return CollateRows(rows, &indices, options_.pad_id, options_.pad_to);
}

}  // namespace trustformers::nn
