// The training core's data side: token-id examples, a dataset interface over them, padding a
// batch (collate) and a loader that cuts an epoch into batches. The loader has random access —
// batch(epoch, index) — and an epoch's order depends only on (seed, epoch), so a run resumed from
// a checkpoint at any step sees exactly the batches the interrupted run would have seen, without
// replaying the earlier ones. (torch's DataLoader iterates instead; its DistributedSampler seeds
// each epoch's permutation from seed + epoch in the same spirit.)
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace trustformers::nn {

// One labelled sequence or sequence pair as token ids, special tokens included.
struct TextExample {
  std::vector<int32_t> ids;
  // Segment of each token (0 first sequence, 1 second); empty means all 0.
  std::vector<int32_t> type_ids;
  // Class id; -1 for none (the caller's loss decides what an unlabelled row means).
  int64_t label = -1;
};

// A padded batch, rows in the loader's order.
struct TokenBatch {
  int64_t batch = 0;                    // B
  int64_t length = 0;                   // T: the longest row, or the fixed pad length
  std::vector<int64_t> ids;             // [B, T] row-major, pad_id at padding
  std::vector<int64_t> type_ids;        // [B, T], 0 at padding
  std::vector<std::vector<bool>> keep;  // [B][T] true for real tokens (functional.h padding_mask)
  std::vector<int64_t> labels;          // [B]
  std::vector<size_t> indices;          // [B] dataset index of each row (row position for collate)
};

// Read-only examples by index. Implementations must allow get() from several threads at once.
class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual size_t size() const = 0;
  // index < size().
  virtual const TextExample& get(size_t index) const = 0;
};

// Examples held in memory.
class ExampleDataset : public Dataset {
 public:
  ExampleDataset() = default;
  explicit ExampleDataset(std::vector<TextExample> examples) : examples_(std::move(examples)) {}

  size_t size() const override { return examples_.size(); }
  const TextExample& get(size_t index) const override { return examples_.at(index); }

  // Not thread-safe: fill the dataset before sharing it.
  void Add(TextExample example) { examples_.push_back(std::move(example)); }
  const std::vector<TextExample>& examples() const { return examples_; }

 private:
  std::vector<TextExample> examples_;
};

// Pads `rows` into one batch: to the longest row, or to `pad_to` when it is > 0. indices holds the
// row positions 0..B-1. INVALID_ARGUMENT for no rows, a null or empty row, type_ids whose length
// differs from ids, a negative pad_id or pad_to, or a row longer than pad_to (naming the row).
absl::StatusOr<TokenBatch> collate(const std::vector<const TextExample*>& rows, int32_t pad_id,
                                   int64_t pad_to = 0);

struct DataLoaderOptions {
  int64_t batch_size = 8;
  // Reorder the examples every epoch (Fisher-Yates with an nn::Generator seeded from seed and the
  // epoch); false keeps the dataset's order.
  bool shuffle = false;
  uint64_t seed = 0;
  // Leave out the last batch of an epoch when it would be smaller than batch_size.
  bool drop_last = false;
  int32_t pad_id = 0;
  // 0: pad each batch to its longest row; > 0: every batch has exactly this length.
  int64_t pad_to = 0;
};

// Copies share the dataset and a cache of the last epoch's order (a pure function of seed and
// epoch, so sharing it is safe); the const methods may be called from several threads at once.
class DataLoader {
 public:
  // INVALID_ARGUMENT for a null dataset, batch_size < 1, negative pad_id or pad_to, or options
  // that leave an epoch without a batch (an empty dataset; drop_last with fewer examples than
  // batch_size), so that a training loop over the loader always makes progress.
  static absl::StatusOr<DataLoader> Create(std::shared_ptr<const Dataset> dataset,
                                           DataLoaderOptions options);

  // Batches per epoch: ceil(size / batch_size), or floor with drop_last. At least 1.
  size_t num_batches() const;

  // Batch `index` of epoch `epoch`: rows order(epoch)[index * batch_size ...], collated.
  // INVALID_ARGUMENT for a negative epoch or a row collate refuses (naming the dataset index);
  // OUT_OF_RANGE for index >= num_batches().
  absl::StatusOr<TokenBatch> batch(int64_t epoch, size_t index) const;

  // Every dataset index exactly once, in the order epoch `epoch` visits them (epoch >= 0).
  std::vector<size_t> order(int64_t epoch) const;

  const Dataset& dataset() const { return *dataset_; }
  const DataLoaderOptions& options() const { return options_; }

 private:
  struct OrderCache;

  DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions options);
  // order(epoch) through the cache, so that the batches of one epoch share one shuffle.
  std::shared_ptr<const std::vector<size_t>> CachedOrder(int64_t epoch) const;

  std::shared_ptr<const Dataset> dataset_;
  DataLoaderOptions options_;
  std::shared_ptr<OrderCache> cache_;
};

}  // namespace trustformers::nn
