#include "engine/kv_cache.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "catch2/catch.hpp"

namespace trustformers::engine {
namespace {

using models::KvElement;

// What Create should compute: rows padded to 32 bytes, keys and values of every layer.
int64_t BlockBytes(const KvPoolShape& shape) {
  const int64_t element = shape.element == KvElement::kF16 ? 2 : 4;
  const int64_t row = (shape.row_width * element + 31) / 32 * 32;
  return shape.layers * 2 * shape.block_tokens * row;
}

std::unique_ptr<KvBlockPool> MakePool(const KvPoolShape& shape, int64_t blocks) {
  absl::StatusOr<std::unique_ptr<KvBlockPool>> pool =
      KvBlockPool::Create(shape, blocks * BlockBytes(shape));
  INFO(pool.status().ToString());
  REQUIRE(pool.ok());
  REQUIRE((*pool)->total_blocks() == blocks);
  return *std::move(pool);
}

void RequireConsistent(const KvBlockPool& pool) {
  const absl::Status status = pool.CheckConsistency();
  INFO(status.ToString());
  REQUIRE(status.ok());
}

std::vector<int32_t> Tokens(int32_t first, int64_t count) {
  std::vector<int32_t> tokens(static_cast<size_t>(count));
  std::iota(tokens.begin(), tokens.end(), first);
  return tokens;
}

// A distinct value for every element of every row, small enough for uint16_t and exact in float.
uint32_t Pattern(int64_t layer, int64_t position, int side, int64_t i, uint32_t salt) {
  return static_cast<uint32_t>((salt * 7919 + layer * 4001 + position * 67 + side * 31 + i) %
                               60000);
}

template <typename T>
void FillTyped(const PagedSequenceKv& kv, int64_t begin, int64_t end, uint32_t salt) {
  std::vector<void*> keys(static_cast<size_t>(end - begin));
  std::vector<void*> values(keys.size());
  for (int64_t layer = 0; layer < kv.pool()->shape().layers; ++layer) {
    kv.Rows(layer, begin, end, keys.data(), values.data());
    for (int64_t p = begin; p < end; ++p) {
      for (int side = 0; side < 2; ++side) {
        T* row = static_cast<T*>((side == 0 ? keys : values)[static_cast<size_t>(p - begin)]);
        for (int64_t i = 0; i < kv.row_width(); ++i)
          row[i] = static_cast<T>(Pattern(layer, p, side, i, salt));
      }
    }
  }
}

// Positions whose rows differ from the pattern written with `salt`.
template <typename T>
int64_t MismatchesTyped(const PagedSequenceKv& kv, int64_t begin, int64_t end, uint32_t salt) {
  std::vector<void*> keys(static_cast<size_t>(end - begin));
  std::vector<void*> values(keys.size());
  int64_t wrong = 0;
  for (int64_t layer = 0; layer < kv.pool()->shape().layers; ++layer) {
    kv.Rows(layer, begin, end, keys.data(), values.data());
    for (int64_t p = begin; p < end; ++p) {
      for (int side = 0; side < 2; ++side) {
        const T* row =
            static_cast<const T*>((side == 0 ? keys : values)[static_cast<size_t>(p - begin)]);
        for (int64_t i = 0; i < kv.row_width(); ++i) {
          if (row[i] != static_cast<T>(Pattern(layer, p, side, i, salt))) {
            ++wrong;
            break;
          }
        }
      }
    }
  }
  return wrong;
}

void Fill(const PagedSequenceKv& kv, int64_t begin, int64_t end, uint32_t salt = 0) {
  if (kv.element() == KvElement::kF16) {
    FillTyped<uint16_t>(kv, begin, end, salt);
  } else {
    FillTyped<float>(kv, begin, end, salt);
  }
}

int64_t Mismatches(const PagedSequenceKv& kv, int64_t begin, int64_t end, uint32_t salt = 0) {
  return kv.element() == KvElement::kF16 ? MismatchesTyped<uint16_t>(kv, begin, end, salt)
                                         : MismatchesTyped<float>(kv, begin, end, salt);
}

// Reserves, writes and advances `count` positions, as one forward step would.
void Step(PagedSequenceKv& kv, int64_t count, uint32_t salt = 0) {
  const absl::Status status = kv.Reserve(count);
  INFO(status.ToString());
  REQUIRE(status.ok());
  Fill(kv, kv.length(), kv.length() + count, salt);
  kv.Advance(count);
}

const KvPoolShape kSmall{
    .layers = 2, .row_width = 10, .element = KvElement::kF16, .block_tokens = 16};

TEST_CASE("kv_cache: Create sizes blocks with 32-byte rows and says what one block needs",
          "[kv_cache]") {
  REQUIRE(BlockBytes(kSmall) == 2 * 2 * 16 * 32);
  absl::StatusOr<std::unique_ptr<KvBlockPool>> pool =
      KvBlockPool::Create(kSmall, 5 * BlockBytes(kSmall) + 100);
  REQUIRE(pool.ok());
  CHECK((*pool)->total_blocks() == 5);
  CHECK((*pool)->bytes_per_block() == 2048);
  CHECK((*pool)->free_blocks() == 5);
  CHECK((*pool)->used_blocks() == 0);
  CHECK((*pool)->cached_blocks() == 0);
  CHECK((*pool)->layout().row_bytes == 32);

  absl::StatusOr<std::unique_ptr<KvBlockPool>> tiny = KvBlockPool::Create(kSmall, 2047);
  REQUIRE(tiny.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(tiny.status().message()),
             Catch::Contains("2047 bytes") && Catch::Contains("needs 2048 bytes"));

  KvPoolShape bad = kSmall;
  bad.row_width = 0;
  CHECK(KvBlockPool::Create(bad, 1 << 20).status().code() == absl::StatusCode::kInvalidArgument);
  bad = kSmall;
  bad.block_tokens = 0;
  CHECK(KvBlockPool::Create(bad, 1 << 20).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("kv_cache: every row is 32-byte aligned and rows never overlap", "[kv_cache]") {
  for (const KvElement element : {KvElement::kF16, KvElement::kF32}) {
    const KvPoolShape shape{.layers = 3, .row_width = 7, .element = element, .block_tokens = 4};
    std::unique_ptr<KvBlockPool> pool = MakePool(shape, 3);
    const int64_t row_bytes = 7 * (element == KvElement::kF16 ? 2 : 4);
    std::set<uintptr_t> starts;
    for (BlockId b = 0; b < 3; ++b) {
      for (int64_t layer = 0; layer < 3; ++layer) {
        for (int64_t slot = 0; slot < 4; ++slot) {
          for (void* row : {pool->KeyRow(b, layer, slot), pool->ValueRow(b, layer, slot)}) {
            const auto address = reinterpret_cast<uintptr_t>(row);
            CHECK(address % 32 == 0);
            starts.insert(address);
          }
        }
      }
    }
    REQUIRE(starts.size() == 3 * 3 * 4 * 2);
    for (auto it = starts.begin(); std::next(it) != starts.end(); ++it)
      CHECK(*std::next(it) - *it >= static_cast<uintptr_t>(row_bytes));
  }
}

TEST_CASE("kv_cache: Allocate and Release keep the free and used counts", "[kv_cache]") {
  std::unique_ptr<KvBlockPool> pool = MakePool(kSmall, 4);
  std::vector<BlockId> blocks;
  for (int i = 0; i < 4; ++i) {
    std::optional<BlockId> block = pool->Allocate();
    REQUIRE(block.has_value());
    CHECK(pool->refs(*block) == 1);
    blocks.push_back(*block);
    CHECK(pool->free_blocks() == 3 - i);
    CHECK(pool->used_blocks() == i + 1);
    RequireConsistent(*pool);
  }
  CHECK(std::set<BlockId>(blocks.begin(), blocks.end()).size() == 4);
  CHECK_FALSE(pool->Allocate().has_value());
  pool->Release(blocks[2]);
  CHECK(pool->free_blocks() == 1);
  CHECK(pool->Allocate() == blocks[2]);
  for (BlockId block : blocks) pool->Release(block);
  CHECK(pool->free_blocks() == 4);
  CHECK(pool->used_blocks() == 0);
  CHECK(pool->evictions() == 0);
  RequireConsistent(*pool);
}

TEST_CASE("kv_cache: a block is free only when its last reference goes", "[kv_cache]") {
  std::unique_ptr<KvBlockPool> pool = MakePool(kSmall, 2);
  const BlockId block = *pool->Allocate();
  pool->AddRef(block);
  pool->AddRef(block);
  CHECK(pool->refs(block) == 3);
  pool->Release(block);
  pool->Release(block);
  CHECK(pool->used_blocks() == 1);
  CHECK(pool->free_blocks() == 1);
  pool->Release(block);
  CHECK(pool->refs(block) == 0);
  CHECK(pool->used_blocks() == 0);
  CHECK(pool->free_blocks() == 2);
  RequireConsistent(*pool);
}

TEST_CASE("kv_cache: Reserve is all or nothing", "[kv_cache]") {
  std::unique_ptr<KvBlockPool> pool = MakePool(kSmall, 4);
  PagedSequenceKv a(pool.get(), 1000);
  PagedSequenceKv b(pool.get(), 1000);
  REQUIRE(a.Reserve(40).ok());  // 3 blocks
  CHECK(a.block_table().size() == 3);
  CHECK(a.BlocksNeeded(48) == 0);  // from length() 0, within the reserved blocks
  CHECK(a.BlocksNeeded(49) == 1);
  CHECK(b.BlocksNeeded(33) == 3);

  const absl::Status exhausted = b.Reserve(33);
  REQUIRE(exhausted.code() == absl::StatusCode::kResourceExhausted);
  CHECK_THAT(std::string(exhausted.message()),
             Catch::Contains("needs 3 KV blocks") && Catch::Contains("1 of 4 are free"));
  CHECK(b.block_table().empty());
  CHECK(b.length() == 0);
  CHECK(pool->free_blocks() == 1);
  CHECK(pool->used_blocks() == 3);
  RequireConsistent(*pool);

  PagedSequenceKv short_context(pool.get(), 20);
  const absl::Status too_long = short_context.Reserve(21);
  CHECK(too_long.code() == absl::StatusCode::kOutOfRange);
  CHECK_THAT(std::string(too_long.message()), Catch::Contains("room for 20"));
  CHECK(short_context.block_table().empty());
  CHECK(short_context.Reserve(-1).code() == absl::StatusCode::kInvalidArgument);

  REQUIRE(b.Reserve(16).ok());
  CHECK(pool->free_blocks() == 0);
  a.Clear();
  CHECK(pool->free_blocks() == 3);
  REQUIRE(b.Reserve(40).ok());
  RequireConsistent(*pool);
}

TEST_CASE("kv_cache: Rows map positions across block boundaries", "[kv_cache]") {
  for (const KvElement element : {KvElement::kF16, KvElement::kF32}) {
    CAPTURE(element == KvElement::kF16 ? "f16" : "f32");
    const KvPoolShape shape{.layers = 3, .row_width = 7, .element = element, .block_tokens = 4};
    std::unique_ptr<KvBlockPool> pool = MakePool(shape, 8);
    PagedSequenceKv kv(pool.get(), 64);
    PagedSequenceKv other(pool.get(), 64);
    Step(kv, 5, 1);
    Step(other, 6, 2);  // interleaved, so the two tables alternate blocks
    Step(kv, 6, 1);
    Step(kv, 1, 1);
    REQUIRE(kv.length() == 12);
    CHECK(kv.block_table().size() == 3);
    CHECK(Mismatches(kv, 0, 12, 1) == 0);
    CHECK(Mismatches(other, 0, 6, 2) == 0);
    CHECK(Mismatches(kv, 3, 9, 1) == 0);  // a window starting mid-block

    // Position p is slot p % 4 of block table[p / 4].
    void* key = nullptr;
    void* value = nullptr;
    kv.Rows(2, 9, 10, &key, &value);
    CHECK(key == pool->KeyRow(kv.block_table()[2], 2, 1));
    CHECK(value == pool->ValueRow(kv.block_table()[2], 2, 1));
  }
}

TEST_CASE("kv_cache: an attach that may be undone counts its hits once, when kept", "[kv_cache]") {
  std::unique_ptr<KvBlockPool> pool = MakePool(kSmall, 16);
  const std::vector<int32_t> prompt = Tokens(100, 40);
  PagedSequenceKv first(pool.get(), 1000);
  first.AttachPrefix(prompt);
  Step(first, 40);
  first.PublishFullBlocks(prompt);
  const int64_t hits = pool->prefix_hits(), misses = pool->prefix_misses();

  PagedSequenceKv waiting(pool.get(), 1000);
  for (int attempt = 0; attempt < 3; ++attempt) {  // a sequence retried at every step
    CHECK(waiting.AttachPrefix(prompt, /*count=*/false) == 32);
    waiting.Clear();
  }
  CHECK(pool->prefix_hits() == hits);
  CHECK(waiting.AttachPrefix(prompt, /*count=*/false) == 32);
  waiting.CountAttach();
  CHECK(pool->prefix_hits() == hits + 2);
  CHECK(pool->prefix_misses() == misses);
  RequireConsistent(*pool);
}

TEST_CASE("kv_cache: a repeated prompt attaches the cached blocks", "[kv_cache]") {
  std::unique_ptr<KvBlockPool> pool = MakePool(kSmall, 16);
  const std::vector<int32_t> prompt = Tokens(100, 40);

  PagedSequenceKv first(pool.get(), 1000);
  CHECK(first.AttachPrefix(prompt) == 0);
  CHECK(pool->prefix_misses() == 2);  // two full blocks could have been reused
  Step(first, 40);
  first.PublishFullBlocks(prompt);
  CHECK(pool->cached_blocks() == 2);
  CHECK(pool->cached(first.block_table()[0]));
  CHECK_FALSE(pool->cached(first.block_table()[2]));  // partial

  PagedSequenceKv second(pool.get(), 1000);
  CHECK(second.AttachPrefix(prompt) == 32);
  CHECK(second.length() == 32);
  CHECK(pool->prefix_hits() == 2);
  REQUIRE(second.block_table().size() == 2);
  CHECK(second.block_table()[0] == first.block_table()[0]);
  CHECK(second.block_table()[1] == first.block_table()[1]);
  CHECK(pool->refs(first.block_table()[0]) == 2);
  CHECK(Mismatches(second, 0, 32) == 0);
  // The rest is computed into a block of its own; the shared rows stay as they were.
  Step(second, 8, 9);
  REQUIRE(second.block_table().size() == 3);
  CHECK(second.block_table()[2] != first.block_table()[2]);
  CHECK(Mismatches(first, 0, 40) == 0);
  RequireConsistent(*pool);

  // At exactly two blocks one token must stay to compute, so one block is attached.
  PagedSequenceKv exact(pool.get(), 1000);
  CHECK(exact.AttachPrefix(std::span(prompt).first(32)) == 16);
  CHECK(pool->prefix_hits() == 3);
  PagedSequenceKv one_block(pool.get(), 1000);
  CHECK(one_block.AttachPrefix(std::span(prompt).first(16)) == 0);
  CHECK(pool->prefix_hits() == 3);

  // Finished sequences leave their published blocks cached and evictable.
  first.Clear();
  second.Clear();
  exact.Clear();
  CHECK(pool->used_blocks() == 0);
  CHECK(pool->free_blocks() == 16);
  CHECK(pool->cached_blocks() == 2);
  PagedSequenceKv later(pool.get(), 1000);
  CHECK(later.AttachPrefix(prompt) == 32);
  RequireConsistent(*pool);
}

TEST_CASE("kv_cache: a block matches only after the same whole prefix", "[kv_cache]") {
  const KvPoolShape shape{
      .layers = 1, .row_width = 4, .element = KvElement::kF32, .block_tokens = 4};
  std::unique_ptr<KvBlockPool> pool = MakePool(shape, 8);
  const std::vector<int32_t> x = Tokens(1, 4), y = Tokens(5, 4), z = Tokens(9, 4);
  std::vector<int32_t> xy = x;
  xy.insert(xy.end(), y.begin(), y.end());
  std::vector<int32_t> zy = z;
  zy.insert(zy.end(), y.begin(), y.end());

  PagedSequenceKv a(pool.get(), 100);
  Step(a, 8, 1);
  a.PublishFullBlocks(xy);
  REQUIRE(pool->cached_blocks() == 2);

  // Y's tokens after Z: the first block misses, so nothing is attached.
  std::vector<int32_t> zy_more = zy;
  zy_more.push_back(0);
  PagedSequenceKv b(pool.get(), 100);
  CHECK(b.AttachPrefix(zy_more) == 0);
  CHECK(pool->prefix_hits() == 0);
  CHECK(pool->prefix_misses() == 2);
  // Looked up directly, Y's block exists only under X's key.
  CHECK_FALSE(pool->Lookup(kEmptyPrefix, y).has_value());
  const std::optional<CachedBlock> hx = pool->Lookup(kEmptyPrefix, x);
  REQUIRE(hx.has_value());
  CHECK_FALSE(pool->Lookup(hx->key + 1000, y).has_value());
  const std::optional<CachedBlock> hy = pool->Lookup(hx->key, y);
  REQUIRE(hy.has_value());
  CHECK(hy->block == a.block_table()[1]);
  CHECK(hy->key != hx->key);
  pool->Release(hy->block);
  pool->Release(hx->block);

  // Z then Y published is a different entry with a different key.
  Step(b, 8, 2);
  b.PublishFullBlocks(zy);
  CHECK(pool->cached_blocks() == 4);
  CHECK(b.block_table()[1] != a.block_table()[1]);
  PagedSequenceKv c(pool.get(), 100);
  CHECK(c.AttachPrefix(zy_more) == 8);
  CHECK(c.block_table()[1] == b.block_table()[1]);
  CHECK(Mismatches(c, 0, 8, 2) == 0);
  RequireConsistent(*pool);
}

TEST_CASE("kv_cache: publishing a duplicate keeps the cached block and frees the copy",
          "[kv_cache]") {
  std::unique_ptr<KvBlockPool> pool = MakePool(kSmall, 8);
  const std::vector<int32_t> prompt = Tokens(7, 20);
  // Both compute the same prompt before either publishes (admitted in the same step).
  PagedSequenceKv a(pool.get(), 100), b(pool.get(), 100);
  CHECK(a.AttachPrefix(prompt) == 0);
  CHECK(b.AttachPrefix(prompt) == 0);
  Step(a, 20);
  Step(b, 20);
  const BlockId b_own = b.block_table()[0];
  a.PublishFullBlocks(prompt);
  b.PublishFullBlocks(prompt);
  CHECK(pool->cached_blocks() == 1);
  CHECK(b.block_table()[0] == a.block_table()[0]);
  CHECK(pool->refs(a.block_table()[0]) == 2);
  CHECK(pool->refs(b_own) == 0);
  CHECK(pool->used_blocks() == 3);
  CHECK(Mismatches(b, 0, 20) == 0);
  // Publishing again is a no-op.
  b.PublishFullBlocks(prompt);
  CHECK(pool->used_blocks() == 3);
  RequireConsistent(*pool);
}

TEST_CASE("kv_cache: eviction takes the least recently released unreferenced block", "[kv_cache]") {
  const KvPoolShape shape{
      .layers = 1, .row_width = 4, .element = KvElement::kF32, .block_tokens = 4};
  std::unique_ptr<KvBlockPool> pool = MakePool(shape, 4);
  // Three one-block prompts, each published by its own sequence.
  std::vector<std::vector<int32_t>> prompts;
  std::vector<std::unique_ptr<PagedSequenceKv>> seqs;
  std::vector<BlockId> blocks;
  for (int i = 0; i < 3; ++i) {
    prompts.push_back(Tokens(10 * i, 4));
    seqs.push_back(std::make_unique<PagedSequenceKv>(pool.get(), 100));
    Step(*seqs.back(), 4);
    seqs.back()->PublishFullBlocks(prompts.back());
    blocks.push_back(seqs.back()->block_table()[0]);
  }
  // Another sequence holds the third block; then all three publishers finish, second first.
  std::vector<int32_t> longer = prompts[2];
  longer.push_back(99);
  PagedSequenceKv holder(pool.get(), 100);
  REQUIRE(holder.AttachPrefix(longer) == 4);
  seqs[1]->Clear();
  seqs[0]->Clear();
  seqs[2]->Clear();
  CHECK(pool->cached_blocks() == 3);
  CHECK(pool->free_blocks() == 3);  // the never-used one and two evictable ones

  // A hit refreshes: looking up the second prompt's block and letting go makes it the newest.
  const std::optional<CachedBlock> hit = pool->Lookup(kEmptyPrefix, prompts[1]);
  REQUIRE(hit.has_value());
  CHECK(pool->free_blocks() == 2);
  pool->Release(hit->block);

  // The free block goes first, then the oldest release, and the held block never.
  const std::optional<BlockId> fresh = pool->Allocate();
  REQUIRE(fresh.has_value());
  CHECK(std::find(blocks.begin(), blocks.end(), *fresh) == blocks.end());
  CHECK(pool->evictions() == 0);
  CHECK(pool->Allocate() == blocks[0]);
  CHECK(pool->evictions() == 1);
  CHECK(pool->Allocate() == blocks[1]);
  CHECK(pool->evictions() == 2);
  CHECK_FALSE(pool->Allocate().has_value());
  CHECK(pool->cached_blocks() == 1);
  CHECK(pool->cached(blocks[2]));
  CHECK_FALSE(pool->Lookup(kEmptyPrefix, prompts[0]).has_value());
  RequireConsistent(*pool);
  for (BlockId block : {*fresh, blocks[0], blocks[1]}) pool->Release(block);
  RequireConsistent(*pool);
}

TEST_CASE("kv_cache: a cleared sequence's later blocks are evicted before its earlier ones",
          "[kv_cache]") {
  const KvPoolShape shape{
      .layers = 1, .row_width = 4, .element = KvElement::kF32, .block_tokens = 4};
  std::unique_ptr<KvBlockPool> pool = MakePool(shape, 3);
  const std::vector<int32_t> prompt = Tokens(0, 12);
  PagedSequenceKv kv(pool.get(), 100);
  Step(kv, 12);
  kv.PublishFullBlocks(prompt);
  const std::vector<BlockId> table(kv.block_table().begin(), kv.block_table().end());
  kv.Clear();
  CHECK(pool->Allocate() == table[2]);
  PagedSequenceKv again(pool.get(), 100);
  CHECK(again.AttachPrefix(prompt) == 8);  // the first two blocks survived
  RequireConsistent(*pool);
  pool->Release(table[2]);
}

TEST_CASE("kv_cache: Fork shares full blocks and copies the partial one", "[kv_cache]") {
  for (const KvElement element : {KvElement::kF16, KvElement::kF32}) {
    const KvPoolShape shape{.layers = 2, .row_width = 5, .element = element, .block_tokens = 4};
    std::unique_ptr<KvBlockPool> pool = MakePool(shape, 8);
    PagedSequenceKv original(pool.get(), 100);
    Step(original, 10, 1);  // blocks 0 and 1 full, block 2 holds positions 8 and 9

    absl::StatusOr<std::unique_ptr<PagedSequenceKv>> forked = original.Fork();
    REQUIRE(forked.ok());
    PagedSequenceKv& fork = **forked;
    CHECK(fork.length() == 10);
    REQUIRE(fork.block_table().size() == 3);
    CHECK(fork.block_table()[0] == original.block_table()[0]);
    CHECK(fork.block_table()[1] == original.block_table()[1]);
    CHECK(fork.block_table()[2] != original.block_table()[2]);
    CHECK(pool->refs(original.block_table()[0]) == 2);
    CHECK(pool->refs(fork.block_table()[2]) == 1);
    CHECK(Mismatches(fork, 0, 10, 1) == 0);

    // Each writes its own next positions; neither sees the other's.
    Step(original, 3, 2);
    Step(fork, 3, 3);
    CHECK(Mismatches(original, 0, 10, 1) == 0);
    CHECK(Mismatches(original, 10, 13, 2) == 0);
    CHECK(Mismatches(fork, 0, 10, 1) == 0);
    CHECK(Mismatches(fork, 10, 13, 3) == 0);
    RequireConsistent(*pool);

    // At a block boundary nothing is copied: the next write opens a block of its own.
    PagedSequenceKv aligned(pool.get(), 100);
    Step(aligned, 4, 4);
    const int64_t used = pool->used_blocks();
    absl::StatusOr<std::unique_ptr<PagedSequenceKv>> boundary = aligned.Fork();
    REQUIRE(boundary.ok());
    CHECK(pool->used_blocks() == used);
    CHECK(pool->refs(aligned.block_table()[0]) == 2);
    Step(**boundary, 1, 5);
    CHECK((*boundary)->block_table()[1] != aligned.block_table()[0]);
    CHECK(Mismatches(aligned, 0, 4, 4) == 0);

    fork.Clear();
    (*boundary)->Clear();
    aligned.Clear();
    original.Clear();
    CHECK(pool->used_blocks() == 0);
    CHECK(pool->free_blocks() == 8);
    RequireConsistent(*pool);
  }
}

TEST_CASE("kv_cache: Fork without a free block changes nothing", "[kv_cache]") {
  const KvPoolShape shape{
      .layers = 1, .row_width = 4, .element = KvElement::kF32, .block_tokens = 4};
  std::unique_ptr<KvBlockPool> pool = MakePool(shape, 2);
  PagedSequenceKv kv(pool.get(), 100);
  Step(kv, 6);
  absl::StatusOr<std::unique_ptr<PagedSequenceKv>> fork = kv.Fork();
  REQUIRE(fork.status().code() == absl::StatusCode::kResourceExhausted);
  CHECK(pool->refs(kv.block_table()[0]) == 1);
  CHECK(pool->used_blocks() == 2);
  RequireConsistent(*pool);
}

TEST_CASE("kv_cache: after AttachPrefix writes never reach a shared block", "[kv_cache]") {
  std::unique_ptr<KvBlockPool> pool = MakePool(kSmall, 8);
  const std::vector<int32_t> prompt = Tokens(0, 33);
  PagedSequenceKv a(pool.get(), 100);
  Step(a, 33, 1);
  a.PublishFullBlocks(prompt);
  PagedSequenceKv b(pool.get(), 100);
  REQUIRE(b.AttachPrefix(prompt) == 32);
  Step(b, 1, 2);  // position 32 opens a block of b's own
  REQUIRE(b.block_table().size() == 3);
  CHECK(pool->refs(b.block_table()[2]) == 1);
  // A fork of b at its boundary, and both writing on, leave a's rows as they were.
  absl::StatusOr<std::unique_ptr<PagedSequenceKv>> fork = b.Fork();
  REQUIRE(fork.ok());
  Step(b, 20, 3);
  Step(**fork, 20, 4);
  CHECK(Mismatches(a, 0, 33, 1) == 0);
  CHECK(Mismatches(b, 0, 32, 1) == 0);
  CHECK(Mismatches(**fork, 0, 32, 1) == 0);
  CHECK(Mismatches(**fork, 33, 53, 4) == 0);
  RequireConsistent(*pool);
}

TEST_CASE("kv_cache: Clear and the destructor return every block", "[kv_cache]") {
  std::unique_ptr<KvBlockPool> pool = MakePool(kSmall, 6);
  {
    PagedSequenceKv a(pool.get(), 100);
    Step(a, 50);
    PagedSequenceKv b(pool.get(), 100);
    REQUIRE(b.Reserve(20).ok());
    CHECK(pool->free_blocks() == 0);
    b.Clear();
    CHECK(b.length() == 0);
    CHECK(b.block_table().empty());
    CHECK(pool->free_blocks() == 2);
    REQUIRE(b.Reserve(20).ok());  // a cleared sequence is reusable
  }
  CHECK(pool->used_blocks() == 0);
  CHECK(pool->free_blocks() == 6);
  RequireConsistent(*pool);
}

// One sequence of the property test, with the token id of every position and its salts.
struct Model {
  std::unique_ptr<PagedSequenceKv> kv;
  std::vector<int32_t> tokens;
};

// The rows of position p are a function of tokens [0, p], as a model's are: equal prefixes,
// equal rows. Float rows of width 2: the prefix hash's low 20 bits and the position.
uint32_t PrefixHash(std::span<const int32_t> tokens) {
  uint32_t h = 2166136261u;
  for (int32_t t : tokens) h = (h ^ static_cast<uint32_t>(t)) * 16777619u;
  return h & 0xFFFFF;
}

void WriteModelRows(const Model& m, int64_t begin, int64_t end) {
  void* key = nullptr;
  void* value = nullptr;
  for (int64_t p = begin; p < end; ++p) {
    m.kv->Rows(0, p, p + 1, &key, &value);
    const auto h = static_cast<float>(PrefixHash(std::span(m.tokens).first(p + 1)));
    static_cast<float*>(key)[0] = h;
    static_cast<float*>(key)[1] = static_cast<float>(p);
    static_cast<float*>(value)[0] = h + 1;
    static_cast<float*>(value)[1] = static_cast<float>(-p);
  }
}

bool ModelRowsHold(const Model& m) {
  void* key = nullptr;
  void* value = nullptr;
  for (int64_t p = 0; p < m.kv->length(); ++p) {
    m.kv->Rows(0, p, p + 1, &key, &value);
    const auto h = static_cast<float>(PrefixHash(std::span(m.tokens).first(p + 1)));
    if (static_cast<float*>(key)[0] != h || static_cast<float*>(key)[1] != static_cast<float>(p) ||
        static_cast<float*>(value)[0] != h + 1 ||
        static_cast<float*>(value)[1] != static_cast<float>(-p)) {
      return false;
    }
  }
  return true;
}

TEST_CASE("kv_cache: random operations keep the pool's invariants", "[kv_cache]") {
  const KvPoolShape shape{
      .layers = 1, .row_width = 2, .element = KvElement::kF32, .block_tokens = 4};
  for (const uint64_t seed : {1u, 2u, 3u, 4u}) {
    CAPTURE(seed);
    std::mt19937_64 rng(seed);
    auto uniform = [&rng](int64_t lo, int64_t hi) {
      return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
    };
    std::unique_ptr<KvBlockPool> pool = MakePool(shape, 24);
    std::vector<Model> seqs(8);
    // Admits `m` with `tokens`: attaches what the cache has and computes the rest if it fits.
    auto admit = [&](Model& m, const std::vector<int32_t>& tokens) {
      const int64_t length = static_cast<int64_t>(tokens.size());
      const int64_t attached = m.kv->AttachPrefix(tokens);
      CHECK(attached % 4 == 0);
      CHECK((attached < length || length == 0));
      CHECK(m.kv->length() == attached);
      m.tokens.assign(tokens.begin(), tokens.begin() + attached);
      if (m.kv->Reserve(length - attached).ok()) {
        m.tokens = tokens;
        WriteModelRows(m, attached, length);
        m.kv->Advance(length - attached);
      }
    };
    int64_t steps = 0, refused = 0, forks = 0, clears = 0, preemptions = 0;
    for (int step = 0; step < 4000; ++step) {
      CAPTURE(step);
      Model& m = seqs[static_cast<size_t>(uniform(0, 7))];
      const int op = static_cast<int>(uniform(0, 6));
      if (m.kv == nullptr) {
        // A new request: a prompt from 3 token ids, so prefixes repeat often.
        m.kv = std::make_unique<PagedSequenceKv>(pool.get(), 40);
        std::vector<int32_t> prompt(static_cast<size_t>(uniform(1, 30)));
        for (int32_t& token : prompt) token = static_cast<int32_t>(uniform(0, 2));
        admit(m, prompt);
      } else if (op <= 1) {  // a decode or prefill step
        const int64_t count = uniform(1, 6);
        const std::vector<BlockId> before(m.kv->block_table().begin(), m.kv->block_table().end());
        const int64_t free = pool->free_blocks();
        const absl::Status status = m.kv->Reserve(count);
        if (status.ok()) {
          ++steps;
          for (int64_t i = 0; i < count; ++i)
            m.tokens.push_back(static_cast<int32_t>(uniform(0, 2)));
          WriteModelRows(m, m.kv->length(), m.kv->length() + count);
          m.kv->Advance(count);
        } else {
          ++refused;
          CHECK((status.code() == absl::StatusCode::kResourceExhausted ||
                 status.code() == absl::StatusCode::kOutOfRange));
          CHECK(std::equal(before.begin(), before.end(), m.kv->block_table().begin(),
                           m.kv->block_table().end()));
          CHECK(pool->free_blocks() == free);
        }
      } else if (op == 2) {
        m.kv->PublishFullBlocks(m.tokens);
      } else if (op == 3) {  // another choice, into an empty slot
        Model& target = seqs[static_cast<size_t>(uniform(0, 7))];
        if (target.kv == nullptr) {
          absl::StatusOr<std::unique_ptr<PagedSequenceKv>> fork = m.kv->Fork();
          if (fork.ok()) {
            ++forks;
            target.kv = *std::move(fork);
            target.tokens = m.tokens;
          } else {
            CHECK(fork.status().code() == absl::StatusCode::kResourceExhausted);
          }
        }
      } else if (op == 4) {  // finish or cancel
        ++clears;
        if (uniform(0, 1) == 0) {
          m.kv.reset();
        } else {
          m.kv->Clear();
        }
        m.tokens.clear();
      } else if (op == 5) {  // a raw lookup of a sequence's first block
        if (m.tokens.size() >= 4) {
          const std::optional<CachedBlock> hit =
              pool->Lookup(kEmptyPrefix, std::span(m.tokens).first(4));
          if (hit.has_value()) pool->Release(hit->block);
        }
      } else {  // preemption: free everything, then readmit with every token so far
        ++preemptions;
        const std::vector<int32_t> all = m.tokens;
        m.kv->Clear();
        admit(m, all);
      }

      // Invariants: the bookkeeping, every reference accounted for by a table, private tails,
      // and every sequence still reading the rows its own tokens produced.
      const absl::Status consistent = pool->CheckConsistency();
      INFO(consistent.ToString());
      REQUIRE(consistent.ok());
      REQUIRE(pool->free_blocks() + pool->used_blocks() == pool->total_blocks());
      std::vector<int64_t> held(static_cast<size_t>(pool->total_blocks()), 0);
      for (const Model& s : seqs) {
        if (s.kv == nullptr) continue;
        REQUIRE(s.kv->length() <= s.kv->max_positions());
        const std::span<const BlockId> table = s.kv->block_table();
        for (size_t i = 0; i < table.size(); ++i) {
          ++held[static_cast<size_t>(table[i])];
          if (static_cast<int64_t>(i) >= s.kv->length() / 4) {
            REQUIRE(pool->refs(table[i]) == 1);
            REQUIRE_FALSE(pool->cached(table[i]));
          }
        }
        REQUIRE(ModelRowsHold(s));
      }
      for (BlockId b = 0; b < pool->total_blocks(); ++b)
        REQUIRE(pool->refs(b) == held[static_cast<size_t>(b)]);
    }
    CHECK(steps > 100);
    CHECK(refused > 10);
    CHECK(forks > 10);
    CHECK(clears > 100);
    CHECK(preemptions > 100);
    CHECK(pool->prefix_hits() > 0);
    CHECK(pool->evictions() > 0);
    seqs.clear();
    CHECK(pool->used_blocks() == 0);
    RequireConsistent(*pool);
  }
}

}  // namespace
}  // namespace trustformers::engine
