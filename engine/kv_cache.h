// The paged KV cache of the batching engine. One pool, allocated once at the size the
// configuration gives, is cut into blocks of block_tokens positions (every layer's keys and
// values for those positions); each sequence maps its positions onto blocks through a block
// table, so sequences of any length share one budget without fragmentation or copies.
//
// Full blocks can be published to a prefix cache: a later prompt that starts with the same tokens
// (a repeated system prompt, a preempted sequence coming back) attaches the blocks already
// computed instead of recomputing them. Blocks are counted by reference; a shared block is never
// written; a cached block that nobody references stays resident until the pool needs room, then
// the least recently released goes first.
//
// Who decides what: this file owns memory and sharing. The scheduler decides admission and
// preemption with BlocksNeeded(), free_blocks() and Clear() (a cleared victim recomputes later,
// mostly from its own published blocks). The model reads and writes rows through
// models::SequenceKv::Rows, or, for kernels that read the paged layout directly, through
// layout() and block_table().
//
// Threading: the engine's owner thread makes every call on the pool and its sequences. The only
// exception are the gauges and counters (free_blocks() through evictions()): atomics that any
// thread may read at any time, e.g. a metrics scrape. Each is current on its own; read together
// they may straddle one mutation.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "models/kv_view.h"

namespace trustformers::engine {

struct KvPoolShape {
  int64_t layers = 0;
  // Elements per row: kv_heads * head_dim.
  int64_t row_width = 0;
  models::KvElement element = models::KvElement::kF16;
  int64_t block_tokens = 16;
};

// Index of a block in its pool; int32 because kernels take block tables as int32 arrays.
using BlockId = int32_t;

// Names one whole prefix of full blocks in the prefix cache. Keys are handed out when a block is
// published and never reused, and an entry matches only when its parent key and its own token
// ids are equal, so equal keys mean equal prefixes exactly (no 64-bit hash is trusted, and no
// crafted prompt can attach another prompt's keys and values). kEmptyPrefix is the parent of
// every sequence's first block.
using PrefixKey = uint64_t;
inline constexpr PrefixKey kEmptyPrefix = 0;

// A cached block and the key of the prefix that ends with it.
struct CachedBlock {
  BlockId block = 0;
  PrefixKey key = kEmptyPrefix;
};

// Where the rows are, for kernels that walk block tables themselves. Byte offsets:
//   keys of (block b, layer l, slot s)   = base + b * block_bytes + l * layer_bytes + s * row_bytes
//   values of the same position          = that + values_offset
// row_bytes is row_width elements rounded up to 32 bytes, and base is 64-byte aligned, so every
// row starts 32-byte aligned; the padding after row_width elements is never read or written.
struct KvPoolLayout {
  std::byte* base = nullptr;
  int64_t block_bytes = 0;
  int64_t layer_bytes = 0;
  int64_t values_offset = 0;
  int64_t row_bytes = 0;
};

class KvBlockPool {
 public:
  // Allocates floor(pool_bytes / bytes_per_block()) blocks at once (pages are committed by the
  // OS on first write). INVALID_ARGUMENT for a shape outside sane bounds or a pool_bytes that
  // holds no block; RESOURCE_EXHAUSTED when the memory cannot be had.
  static absl::StatusOr<std::unique_ptr<KvBlockPool>> Create(const KvPoolShape& shape,
                                                             int64_t pool_bytes);
  // Every sequence of this pool must be gone (cleared or destroyed) first.
  ~KvBlockPool();
  KvBlockPool(const KvBlockPool&) = delete;
  KvBlockPool& operator=(const KvBlockPool&) = delete;

  const KvPoolShape& shape() const { return shape_; }
  int64_t block_tokens() const { return shape_.block_tokens; }
  int64_t total_blocks() const { return total_blocks_; }
  int64_t bytes_per_block() const { return layout_.block_bytes; }
  KvPoolLayout layout() const { return layout_; }

  // Gauges, readable from any thread. free + used == total; cached blocks count as free while
  // nobody references them (they are evicted on demand) and as used while someone does.
  int64_t free_blocks() const { return free_gauge_.load(std::memory_order_relaxed); }
  int64_t used_blocks() const { return used_gauge_.load(std::memory_order_relaxed); }
  int64_t cached_blocks() const { return cached_gauge_.load(std::memory_order_relaxed); }
  // Counters, readable from any thread: prefix-cache hits and misses in blocks, and cached blocks
  // evicted to make room.
  int64_t prefix_hits() const { return hits_.load(std::memory_order_relaxed); }
  int64_t prefix_misses() const { return misses_.load(std::memory_order_relaxed); }
  int64_t evictions() const { return evictions_.load(std::memory_order_relaxed); }

  // The row of `slot` (0 <= slot < block_tokens) of layer `layer` in block `block`: row_width
  // elements of the pool's element type.
  void* KeyRow(BlockId block, int64_t layer, int64_t slot) const {
    return layout_.base + RowOffset(block, layer, slot);
  }
  void* ValueRow(BlockId block, int64_t layer, int64_t slot) const {
    return layout_.base + RowOffset(block, layer, slot) + layout_.values_offset;
  }

  // A block with one reference for the caller: a free one, else the least recently released
  // cached block nobody references (evicted from the prefix cache); nullopt when neither exists.
  // Its rows hold whatever was there before.
  std::optional<BlockId> Allocate();
  // One more reference to a referenced block, or to a cached one nobody references (which then
  // stops being evictable).
  void AddRef(BlockId block);
  // Drops one reference. At zero a cached block stays cached and becomes evictable, as the most
  // recently released; an uncached one becomes free.
  void Release(BlockId block);
  int32_t refs(BlockId block) const { return blocks_[static_cast<size_t>(block)].refs; }
  bool cached(BlockId block) const { return blocks_[static_cast<size_t>(block)].cached; }

  // The cached full block whose prefix is `parent` followed by `tokens` (block_tokens ids), with
  // a reference for the caller, and counts a hit; nullopt and a miss when there is none. A hit
  // takes the block out of the eviction order until its last reference goes.
  // With count false the caller counts later, with CountPrefixUse (a lookup that may be undone).
  std::optional<CachedBlock> Lookup(PrefixKey parent, std::span<const int32_t> tokens,
                                    bool count = true);
  // Callers that stop looking up after the first miss count the blocks they skipped here, so the
  // hit rate is per block of prompt.
  void CountMisses(int64_t blocks);
  void CountPrefixUse(int64_t hits, int64_t misses);
  // Makes `block` (referenced, every slot written with the rows of `tokens` after the prefix
  // `parent`) shareable and returns its entry. When that prefix is cached already, the existing
  // entry is kept and returned: the caller may switch to that block and release its own.
  // Publishing a block again under the same prefix returns its entry.
  CachedBlock Publish(BlockId block, PrefixKey parent, std::span<const int32_t> tokens);

  // Walks every block and checks the bookkeeping (each block free, evictable or referenced and
  // in exactly one place; the cache index and gauges agree); O(total blocks), for tests.
  absl::Status CheckConsistency() const;

 private:
  static constexpr BlockId kNoBlock = -1;

  struct Block {
    int32_t refs = 0;
    bool cached = false;
    bool on_free_list = false;
    PrefixKey key = kEmptyPrefix;
    PrefixKey parent = kEmptyPrefix;
    // Neighbours in the eviction order while cached with no references.
    BlockId older = kNoBlock;
    BlockId newer = kNoBlock;
  };

  // What the prefix index matches on; for cached blocks the tokens live in tokens_.
  struct PrefixView {
    PrefixKey parent = kEmptyPrefix;
    std::span<const int32_t> tokens;

    friend bool operator==(const PrefixView& a, const PrefixView& b) {
      return a.parent == b.parent && std::ranges::equal(a.tokens, b.tokens);
    }
    template <typename H>
    friend H AbslHashValue(H state, const PrefixView& view) {
      return H::combine(
          H::combine_contiguous(std::move(state), view.tokens.data(), view.tokens.size()),
          view.parent);
    }
  };

  struct FreeStorage {
    void operator()(std::byte* storage) const;
  };

  KvBlockPool(const KvPoolShape& shape, int64_t total_blocks, KvPoolLayout layout,
              std::unique_ptr<std::byte[], FreeStorage> storage);

  int64_t RowOffset(BlockId block, int64_t layer, int64_t slot) const {
    return block * layout_.block_bytes + layer * layout_.layer_bytes + slot * layout_.row_bytes;
  }
  std::span<const int32_t> StoredTokens(BlockId block) const;
  void LinkNewest(BlockId block);
  void Unlink(BlockId block);
  void Evict(BlockId block);
  void UpdateGauges();

  KvPoolShape shape_;
  int64_t total_blocks_;
  KvPoolLayout layout_;
  std::unique_ptr<std::byte[], FreeStorage> storage_;

  std::vector<Block> blocks_;
  // Token ids of cached blocks, block_tokens per block, indexed by block.
  std::vector<int32_t> tokens_;
  // Free uncached blocks; the back is handed out next.
  std::vector<BlockId> free_list_;
  // Cached blocks nobody references, oldest release first.
  BlockId oldest_ = kNoBlock;
  BlockId newest_ = kNoBlock;
  int64_t evictable_ = 0;
  int64_t referenced_ = 0;
  absl::flat_hash_map<PrefixView, BlockId> index_;
  PrefixKey next_key_ = kEmptyPrefix + 1;

  std::atomic<int64_t> free_gauge_{0};
  std::atomic<int64_t> used_gauge_{0};
  std::atomic<int64_t> cached_gauge_{0};
  std::atomic<int64_t> hits_{0};
  std::atomic<int64_t> misses_{0};
  std::atomic<int64_t> evictions_{0};
};

// One sequence's keys and values in a pool: a block table mapping position p to slot
// p % block_tokens of block table[p / block_tokens]. Blocks below length() / block_tokens are
// full and may be shared (prefix cache, forks); the block holding position length(), if any,
// and every block after it are this sequence's alone, so writes (always at positions >=
// length()) never touch a shared block.
class PagedSequenceKv final : public models::SequenceKv {
 public:
  // The pool must outlive the sequence.
  PagedSequenceKv(KvBlockPool* pool, int64_t max_positions);
  ~PagedSequenceKv() override;
  PagedSequenceKv(const PagedSequenceKv&) = delete;
  PagedSequenceKv& operator=(const PagedSequenceKv&) = delete;

  int64_t length() const override { return length_; }
  models::KvElement element() const override { return pool_->shape().element; }
  int64_t row_width() const override { return pool_->shape().row_width; }
  // All or nothing: OUT_OF_RANGE past max_positions, RESOURCE_EXHAUSTED (naming the blocks
  // needed and free) when the pool cannot supply them. May evict unreferenced cached blocks.
  absl::Status Reserve(int64_t count) override;
  void Rows(int64_t layer, int64_t begin, int64_t end, void** keys, void** values) const override;
  void Advance(int64_t count) override;

  int64_t max_positions() const { return max_positions_; }
  KvBlockPool* pool() const { return pool_; }
  // One entry per block held, reserved ones included. Entries below length() / block_tokens may
  // change in PublishFullBlocks (a duplicate swapped for the cached original), so kernels take
  // the table afresh every step.
  std::span<const BlockId> block_table() const { return table_; }

  // Blocks that Reserve(extra_positions) would take from the pool now.
  int64_t BlocksNeeded(int64_t extra_positions) const;

  // On an empty sequence: attaches the longest run of cached full blocks that matches the start
  // of `prompt`, leaving at least its last token to compute (the model needs that token's
  // logits). Returns the positions reused, a multiple of block_tokens; length() becomes that.
  // With count false the hits and misses are counted only by CountAttach (an admission that may
  // be retried next step counts once).
  int64_t AttachPrefix(std::span<const int32_t> prompt, bool count = true);
  // Counts the hits and misses of the last AttachPrefix(..., false).
  void CountAttach();

  // `tokens` holds the token id of every position in [0, length()) (more are ignored). Publishes
  // each block that became full since the last call, so other sequences, or this one after a
  // preemption, can attach it. Call it after Advance; it is cheap when no block filled up.
  void PublishFullBlocks(std::span<const int32_t> tokens);

  // A sequence with the same contents, for another choice after a shared prompt: the full blocks
  // are shared, the partial last block is copied into a new one (the one block of memory a fork
  // costs). RESOURCE_EXHAUSTED when that block is not to be had; nothing changes then.
  absl::StatusOr<std::unique_ptr<PagedSequenceKv>> Fork() const;

  // Releases every block (finish, cancel, preemption); the sequence is empty and reusable.
  void Clear();

 private:
  KvBlockPool* pool_;
  int64_t max_positions_;
  std::vector<BlockId> table_;
  int64_t length_ = 0;
  // Leading blocks already published or attached, and the key of the prefix they form.
  int64_t published_ = 0;
  // The last AttachPrefix(..., false), not counted yet.
  int64_t uncounted_hits_ = 0;
  int64_t uncounted_misses_ = 0;
  PrefixKey chain_key_ = kEmptyPrefix;
};

}  // namespace trustformers::engine
