#include "engine/kv_cache.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>

#include "absl/strings/str_cat.h"

namespace trustformers::engine {
namespace {

// Generous bounds that keep every offset computation far from int64 overflow.
constexpr int64_t kMaxLayers = int64_t{1} << 16;
constexpr int64_t kMaxRowWidth = int64_t{1} << 24;
constexpr int64_t kMaxBlockTokens = int64_t{1} << 16;
constexpr int64_t kRowAlignment = 32;  // AVX2 loads
constexpr size_t kStorageAlignment = 64;

// A caller broke the contract in kv_cache.h: no input reaches these, so stop before the
// bookkeeping hands one block to two owners.
void Require(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "engine/kv_cache: %s\n", what);
  std::abort();
}

int64_t ElementBytes(models::KvElement element) {
  return element == models::KvElement::kF16 ? 2 : 4;
}

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

void KvBlockPool::FreeStorage::operator()(std::byte* storage) const {
  ::operator delete[](storage, std::align_val_t{kStorageAlignment});
}

absl::StatusOr<std::unique_ptr<KvBlockPool>> KvBlockPool::Create(const KvPoolShape& shape,
                                                                 int64_t pool_bytes) {
  if (shape.layers < 1 || shape.layers > kMaxLayers || shape.row_width < 1 ||
      shape.row_width > kMaxRowWidth || shape.block_tokens < 1 ||
      shape.block_tokens > kMaxBlockTokens) {
    return absl::InvalidArgumentError(
        absl::StrCat("KV pool shape out of range: layers ", shape.layers, " (1 to ", kMaxLayers,
                     "), row width ", shape.row_width, " (1 to ", kMaxRowWidth, "), block tokens ",
                     shape.block_tokens, " (1 to ", kMaxBlockTokens, ")"));
  }
  KvPoolLayout layout;
  layout.row_bytes =
      CeilDiv(shape.row_width * ElementBytes(shape.element), kRowAlignment) * kRowAlignment;
  layout.values_offset = shape.block_tokens * layout.row_bytes;
  layout.layer_bytes = 2 * layout.values_offset;
  layout.block_bytes = shape.layers * layout.layer_bytes;
  if (pool_bytes < layout.block_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("a KV pool of ", pool_bytes, " bytes holds no block: one block needs ",
                     layout.block_bytes, " bytes (", shape.layers, " layers x keys and values x ",
                     shape.block_tokens, " positions x ", layout.row_bytes, " bytes per row)"));
  }
  const int64_t total_blocks =
      std::min<int64_t>(pool_bytes / layout.block_bytes, std::numeric_limits<BlockId>::max());
  const size_t bytes = static_cast<size_t>(total_blocks * layout.block_bytes);
  std::unique_ptr<std::byte[], FreeStorage> storage(static_cast<std::byte*>(
      ::operator new[](bytes, std::align_val_t{kStorageAlignment}, std::nothrow)));
  if (storage == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot allocate the KV pool: ", bytes,
                                                     " bytes for ", total_blocks, " blocks of ",
                                                     layout.block_bytes, " bytes"));
  }
  layout.base = storage.get();
  return std::unique_ptr<KvBlockPool>(
      new KvBlockPool(shape, total_blocks, layout, std::move(storage)));
}

KvBlockPool::KvBlockPool(const KvPoolShape& shape, int64_t total_blocks, KvPoolLayout layout,
                         std::unique_ptr<std::byte[], FreeStorage> storage)
    : shape_(shape),
      total_blocks_(total_blocks),
      layout_(layout),
      storage_(std::move(storage)),
      blocks_(static_cast<size_t>(total_blocks)),
      tokens_(static_cast<size_t>(total_blocks * shape.block_tokens)) {
  free_list_.reserve(static_cast<size_t>(total_blocks));
  // Reversed, so blocks go out in index order from a fresh pool.
  for (int64_t b = total_blocks - 1; b >= 0; --b) {
    free_list_.push_back(static_cast<BlockId>(b));
    blocks_[static_cast<size_t>(b)].on_free_list = true;
  }
  index_.reserve(static_cast<size_t>(total_blocks));
  UpdateGauges();
}

KvBlockPool::~KvBlockPool() = default;

std::span<const int32_t> KvBlockPool::StoredTokens(BlockId block) const {
  return std::span<const int32_t>(tokens_).subspan(static_cast<size_t>(block * shape_.block_tokens),
                                                   static_cast<size_t>(shape_.block_tokens));
}

void KvBlockPool::LinkNewest(BlockId block) {
  Block& b = blocks_[static_cast<size_t>(block)];
  b.older = newest_;
  b.newer = kNoBlock;
  if (newest_ != kNoBlock) {
    blocks_[static_cast<size_t>(newest_)].newer = block;
  } else {
    oldest_ = block;
  }
  newest_ = block;
  ++evictable_;
}

void KvBlockPool::Unlink(BlockId block) {
  Block& b = blocks_[static_cast<size_t>(block)];
  (b.older != kNoBlock ? blocks_[static_cast<size_t>(b.older)].newer : oldest_) = b.newer;
  (b.newer != kNoBlock ? blocks_[static_cast<size_t>(b.newer)].older : newest_) = b.older;
  b.older = b.newer = kNoBlock;
  --evictable_;
}

void KvBlockPool::Evict(BlockId block) {
  Block& b = blocks_[static_cast<size_t>(block)];
  Unlink(block);
  index_.erase(PrefixView{b.parent, StoredTokens(block)});
  b.cached = false;
  b.key = b.parent = kEmptyPrefix;
  evictions_.fetch_add(1, std::memory_order_relaxed);
}

void KvBlockPool::UpdateGauges() {
  const int64_t free = static_cast<int64_t>(free_list_.size()) + evictable_;
  free_gauge_.store(free, std::memory_order_relaxed);
  used_gauge_.store(referenced_, std::memory_order_relaxed);
  cached_gauge_.store(static_cast<int64_t>(index_.size()), std::memory_order_relaxed);
}

std::optional<BlockId> KvBlockPool::Allocate() {
  BlockId block;
  if (!free_list_.empty()) {
    block = free_list_.back();
    free_list_.pop_back();
    blocks_[static_cast<size_t>(block)].on_free_list = false;
  } else if (oldest_ != kNoBlock) {
    block = oldest_;
    Evict(block);
  } else {
    return std::nullopt;
  }
  blocks_[static_cast<size_t>(block)].refs = 1;
  ++referenced_;
  UpdateGauges();
  return block;
}

void KvBlockPool::AddRef(BlockId block) {
  Require(block >= 0 && block < total_blocks_, "AddRef of a block outside the pool");
  Block& b = blocks_[static_cast<size_t>(block)];
  Require(b.refs > 0 || b.cached, "AddRef of a free block");
  if (b.refs++ == 0) {
    Unlink(block);
    ++referenced_;
    UpdateGauges();
  }
}

void KvBlockPool::Release(BlockId block) {
  Require(block >= 0 && block < total_blocks_, "Release of a block outside the pool");
  Block& b = blocks_[static_cast<size_t>(block)];
  Require(b.refs > 0, "Release of a block nobody references");
  if (--b.refs > 0) return;
  --referenced_;
  if (b.cached) {
    LinkNewest(block);
  } else {
    free_list_.push_back(block);
    b.on_free_list = true;
  }
  UpdateGauges();
}

std::optional<CachedBlock> KvBlockPool::Lookup(PrefixKey parent, std::span<const int32_t> tokens,
                                               bool count) {
  Require(static_cast<int64_t>(tokens.size()) == shape_.block_tokens,
          "Lookup needs exactly block_tokens token ids");
  const auto it = index_.find(PrefixView{parent, tokens});
  if (it == index_.end()) {
    if (count) misses_.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }
  if (count) hits_.fetch_add(1, std::memory_order_relaxed);
  const BlockId block = it->second;
  AddRef(block);
  return CachedBlock{block, blocks_[static_cast<size_t>(block)].key};
}

void KvBlockPool::CountMisses(int64_t blocks) {
  if (blocks > 0) misses_.fetch_add(blocks, std::memory_order_relaxed);
}

void KvBlockPool::CountPrefixUse(int64_t hits, int64_t misses) {
  if (hits > 0) hits_.fetch_add(hits, std::memory_order_relaxed);
  CountMisses(misses);
}

CachedBlock KvBlockPool::Publish(BlockId block, PrefixKey parent, std::span<const int32_t> tokens) {
  Require(block >= 0 && block < total_blocks_, "Publish of a block outside the pool");
  Require(static_cast<int64_t>(tokens.size()) == shape_.block_tokens,
          "Publish needs exactly block_tokens token ids");
  Block& b = blocks_[static_cast<size_t>(block)];
  Require(b.refs > 0, "Publish of a block nobody references");
  const PrefixView view{parent, tokens};
  if (b.cached) {
    Require(PrefixView{b.parent, StoredTokens(block)} == view,
            "Publish of a cached block under another prefix");
    return CachedBlock{block, b.key};
  }
  if (const auto it = index_.find(view); it != index_.end()) {
    return CachedBlock{it->second, blocks_[static_cast<size_t>(it->second)].key};
  }
  std::copy(tokens.begin(), tokens.end(),
            tokens_.begin() + static_cast<ptrdiff_t>(block * shape_.block_tokens));
  b.cached = true;
  b.parent = parent;
  b.key = next_key_++;
  index_.emplace(PrefixView{parent, StoredTokens(block)}, block);
  UpdateGauges();
  return CachedBlock{block, b.key};
}

absl::Status KvBlockPool::CheckConsistency() const {
  std::vector<int> places(static_cast<size_t>(total_blocks_), 0);
  for (BlockId block : free_list_) {
    const Block& b = blocks_[static_cast<size_t>(block)];
    if (!b.on_free_list || b.refs != 0 || b.cached) {
      return absl::InternalError(absl::StrCat("block ", block, " on the free list is in use"));
    }
    ++places[static_cast<size_t>(block)];
  }
  int64_t evictable = 0;
  BlockId previous = kNoBlock;
  for (BlockId block = oldest_; block != kNoBlock;
       block = blocks_[static_cast<size_t>(block)].newer) {
    const Block& b = blocks_[static_cast<size_t>(block)];
    if (b.refs != 0 || !b.cached || b.on_free_list || b.older != previous) {
      return absl::InternalError(absl::StrCat("block ", block, " in the eviction order is wrong"));
    }
    if (++places[static_cast<size_t>(block)] > 1 || ++evictable > total_blocks_) {
      return absl::InternalError(absl::StrCat("block ", block, " is in two places"));
    }
    previous = block;
  }
  if (previous != newest_ || evictable != evictable_) {
    return absl::InternalError("the eviction order's ends or count are wrong");
  }
  int64_t referenced = 0;
  for (BlockId block = 0; block < total_blocks_; ++block) {
    const Block& b = blocks_[static_cast<size_t>(block)];
    if (b.refs < 0) return absl::InternalError(absl::StrCat("block ", block, " has refs < 0"));
    if (b.refs > 0) {
      ++referenced;
      ++places[static_cast<size_t>(block)];
    }
    if (places[static_cast<size_t>(block)] != 1) {
      return absl::InternalError(
          absl::StrCat("block ", block, " is in ", places[static_cast<size_t>(block)], " places"));
    }
    if (b.cached) {
      const auto it = index_.find(PrefixView{b.parent, StoredTokens(block)});
      if (it == index_.end() || it->second != block) {
        return absl::InternalError(absl::StrCat("cached block ", block, " is not indexed"));
      }
    }
  }
  for (const auto& [view, block] : index_) {
    if (!blocks_[static_cast<size_t>(block)].cached) {
      return absl::InternalError(absl::StrCat("the index names uncached block ", block));
    }
  }
  if (referenced != referenced_ ||
      free_blocks() != static_cast<int64_t>(free_list_.size()) + evictable_ ||
      used_blocks() != referenced_ || cached_blocks() != static_cast<int64_t>(index_.size()) ||
      free_blocks() + used_blocks() != total_blocks_) {
    return absl::InternalError("the gauges disagree with the blocks");
  }
  return absl::OkStatus();
}

PagedSequenceKv::PagedSequenceKv(KvBlockPool* pool, int64_t max_positions)
    : pool_(pool), max_positions_(max_positions) {}

PagedSequenceKv::~PagedSequenceKv() { Clear(); }

absl::Status PagedSequenceKv::Reserve(int64_t count) {
  if (count < 0) {
    return absl::InvalidArgumentError(absl::StrCat("cannot reserve ", count, " positions"));
  }
  if (length_ + count > max_positions_) {
    return absl::OutOfRangeError(absl::StrCat("the sequence would hold ", length_ + count,
                                              " positions; the context has room for ",
                                              max_positions_));
  }
  const int64_t needed = BlocksNeeded(count);
  if (needed == 0) return absl::OkStatus();
  const int64_t free = pool_->free_blocks();
  if (needed > free) {
    return absl::ResourceExhaustedError(absl::StrCat("reserving ", count, " positions needs ",
                                                     needed, " KV blocks; ", free, " of ",
                                                     pool_->total_blocks(), " are free"));
  }
  for (int64_t i = 0; i < needed; ++i) {
    const std::optional<BlockId> block = pool_->Allocate();
    Require(block.has_value(), "a free block vanished during Reserve");
    table_.push_back(*block);
  }
  return absl::OkStatus();
}

void PagedSequenceKv::Rows(int64_t layer, int64_t begin, int64_t end, void** keys,
                           void** values) const {
  const int64_t tokens = pool_->block_tokens();
  for (int64_t p = begin; p < end; ++p) {
    const BlockId block = table_[static_cast<size_t>(p / tokens)];
    keys[p - begin] = pool_->KeyRow(block, layer, p % tokens);
    values[p - begin] = pool_->ValueRow(block, layer, p % tokens);
  }
}

void PagedSequenceKv::Advance(int64_t count) {
  Require(
      count >= 0 && length_ + count <= static_cast<int64_t>(table_.size()) * pool_->block_tokens(),
      "Advance past the reserved positions");
  length_ += count;
}

int64_t PagedSequenceKv::BlocksNeeded(int64_t extra_positions) const {
  const int64_t blocks =
      CeilDiv(length_ + std::max<int64_t>(extra_positions, 0), pool_->block_tokens());
  return std::max<int64_t>(blocks - static_cast<int64_t>(table_.size()), 0);
}

int64_t PagedSequenceKv::AttachPrefix(std::span<const int32_t> prompt, bool count) {
  Require(length_ == 0 && table_.empty(), "AttachPrefix on a sequence that holds positions");
  const int64_t tokens = pool_->block_tokens();
  const int64_t prompt_size = static_cast<int64_t>(prompt.size());
  // At least one prompt token stays to compute, and attached positions fit the context.
  const int64_t candidates =
      std::min(std::max<int64_t>(prompt_size - 1, 0), max_positions_) / tokens;
  int64_t attached = 0;
  for (; attached < candidates; ++attached) {
    const std::optional<CachedBlock> hit = pool_->Lookup(
        chain_key_,
        prompt.subspan(static_cast<size_t>(attached * tokens), static_cast<size_t>(tokens)), count);
    if (!hit.has_value()) break;
    table_.push_back(hit->block);
    chain_key_ = hit->key;
  }
  // Lookup counted the first miss; the blocks after it would have missed too.
  if (count && attached < candidates) pool_->CountMisses(candidates - attached - 1);
  uncounted_hits_ = count ? 0 : attached;
  uncounted_misses_ = count ? 0 : candidates - attached;
  published_ = attached;
  length_ = attached * tokens;
  return length_;
}

void PagedSequenceKv::CountAttach() {
  pool_->CountPrefixUse(uncounted_hits_, uncounted_misses_);
  uncounted_hits_ = uncounted_misses_ = 0;
}

void PagedSequenceKv::PublishFullBlocks(std::span<const int32_t> tokens) {
  Require(static_cast<int64_t>(tokens.size()) >= length_,
          "PublishFullBlocks needs the token id of every position");
  const int64_t block_tokens = pool_->block_tokens();
  for (const int64_t full = length_ / block_tokens; published_ < full; ++published_) {
    BlockId& block = table_[static_cast<size_t>(published_)];
    const CachedBlock entry =
        pool_->Publish(block, chain_key_,
                       tokens.subspan(static_cast<size_t>(published_ * block_tokens),
                                      static_cast<size_t>(block_tokens)));
    if (entry.block != block) {
      // Another sequence published the same prefix first: hold its block and free ours, so the
      // pool keeps one copy and this sequence's chain stays attached to live entries.
      pool_->AddRef(entry.block);
      pool_->Release(block);
      block = entry.block;
    }
    chain_key_ = entry.key;
  }
}

absl::StatusOr<std::unique_ptr<PagedSequenceKv>> PagedSequenceKv::Fork() const {
  const int64_t tokens = pool_->block_tokens();
  const int64_t full = length_ / tokens;
  const int64_t partial = length_ % tokens;
  if (partial > 0 && pool_->free_blocks() < 1) {
    return absl::ResourceExhaustedError(
        absl::StrCat("forking a sequence of ", length_,
                     " positions needs 1 KV block for its partial last block; 0 of ",
                     pool_->total_blocks(), " are free"));
  }
  auto fork = std::make_unique<PagedSequenceKv>(pool_, max_positions_);
  for (int64_t i = 0; i < full; ++i) {
    pool_->AddRef(table_[static_cast<size_t>(i)]);
    fork->table_.push_back(table_[static_cast<size_t>(i)]);
  }
  if (partial > 0) {
    const std::optional<BlockId> copy = pool_->Allocate();
    Require(copy.has_value(), "a free block vanished during Fork");
    const BlockId source = table_[static_cast<size_t>(full)];
    const KvPoolLayout layout = pool_->layout();
    // Only the written slots: a layer's key rows are consecutive, then its value rows.
    const size_t bytes = static_cast<size_t>(partial * layout.row_bytes);
    for (int64_t layer = 0; layer < pool_->shape().layers; ++layer) {
      std::memcpy(pool_->KeyRow(*copy, layer, 0), pool_->KeyRow(source, layer, 0), bytes);
      std::memcpy(pool_->ValueRow(*copy, layer, 0), pool_->ValueRow(source, layer, 0), bytes);
    }
    fork->table_.push_back(*copy);
  }
  fork->length_ = length_;
  fork->published_ = published_;
  fork->chain_key_ = chain_key_;
  return fork;
}

void PagedSequenceKv::Clear() {
  // Last block first: released blocks join the eviction order newest last, so a prefix's later
  // blocks are evicted before the earlier ones they depend on.
  for (auto it = table_.rbegin(); it != table_.rend(); ++it) pool_->Release(*it);
  table_.clear();
  length_ = 0;
  published_ = 0;
  chain_key_ = kEmptyPrefix;
}

}  // namespace trustformers::engine
