#include "engine/sampling/logits_processors.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <optional>

namespace trustformers::engine {
namespace {

float MaxLogit(const std::vector<Candidate>& candidates) {
  float max = -std::numeric_limits<float>::infinity();
  for (const Candidate& c : candidates) max = std::max(max, c.logit);
  return max;
}

// Keeps the candidates at the positions where keep(position) holds, in order: the draw relies on
// the order (see the header).
template <typename Keep>
void KeepPositions(std::vector<Candidate>& candidates, Keep keep) {
  size_t kept = 0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (keep(i)) candidates[kept++] = candidates[i];
  }
  candidates.resize(kept);
}

// Fills scratch.weights with exp(logit - max) and returns their sum.
double Weights(const std::vector<Candidate>& candidates, float max, FilterScratch& scratch) {
  scratch.weights.resize(candidates.size());
  double total = 0.0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    scratch.weights[i] = std::exp(candidates[i].logit - max);
    total += scratch.weights[i];
  }
  return total;
}

// Orders [begin, end) by `before`, sorting only as far as `visit` reads: chunks that grow
// fourfold. Returns the position where visit first returned true, or end.
template <typename Before, typename Visit>
size_t WalkInOrder(std::vector<Candidate>& items, Before before, Visit visit) {
  size_t sorted = 0;
  size_t chunk = 64;
  while (sorted < items.size()) {
    const size_t end = std::min(items.size(), sorted + chunk);
    std::partial_sort(items.begin() + static_cast<std::ptrdiff_t>(sorted),
                      items.begin() + static_cast<std::ptrdiff_t>(end), items.end(), before);
    for (size_t j = sorted; j < end; ++j) {
      if (visit(items[j])) return j;
    }
    sorted = end;
    chunk *= 4;
  }
  return items.size();
}

// A position in the candidate list and its ranking key.
struct Cut {
  float key;
  size_t position;
};

// Ranks the candidates by ascending scratch.keys (equal keys: ascending position, or descending
// with `later_first`), and returns the first one at which the running sum of scratch.weights
// reaches `target`; nothing if the whole sum stays below it.
//
// One pass adds the weights into a histogram over the key range; the bucket where the running
// sum crosses `target` is the only one whose members need ordering. A distribution whose mass
// sits in a narrow key range still only costs a sort of that bucket.
std::optional<Cut> FindMassCut(double target, bool later_first, FilterScratch& scratch) {
  const std::vector<float>& keys = scratch.keys;
  const std::vector<float>& weights = scratch.weights;
  const size_t n = keys.size();
  const auto [lowest, highest] = std::minmax_element(keys.begin(), keys.end());
  const double low = *lowest;
  const double range = static_cast<double>(*highest) - low;
  constexpr size_t kBuckets = 4096;
  const double scale = kBuckets / range;
  const auto bucket_of = [&](float key) {
    return std::min(kBuckets - 1, static_cast<size_t>((key - low) * scale));
  };

  if (range == 0.0) {
    // One key for all: the ranking is the positions' order, no sorting needed.
    double before = 0.0;
    for (size_t j = 0; j < n; ++j) {
      const size_t i = later_first ? n - 1 - j : j;
      before += weights[i];
      if (before >= target) return Cut{keys[i], i};
    }
    return std::nullopt;
  }
  std::vector<double>& mass = scratch.bucket_mass;
  mass.assign(kBuckets, 0.0);
  for (size_t i = 0; i < n; ++i) mass[bucket_of(keys[i])] += weights[i];
  double before = 0.0;
  size_t crossing = 0;
  for (; crossing < kBuckets; ++crossing) {
    if (before + mass[crossing] >= target) break;
    before += mass[crossing];
  }
  if (crossing == kBuckets) return std::nullopt;

  // Members of the crossing bucket as (key, position) pairs in the Candidate layout.
  std::vector<Candidate>& bucket = scratch.bucket;
  bucket.clear();
  for (size_t i = 0; i < n; ++i) {
    if (bucket_of(keys[i]) == crossing) bucket.push_back({keys[i], static_cast<uint32_t>(i)});
  }
  if (bucket.empty()) return std::nullopt;
  const auto ranks_before = [later_first](const Candidate& a, const Candidate& b) {
    if (a.logit != b.logit) return a.logit < b.logit;
    return later_first ? a.id > b.id : a.id < b.id;
  };
  size_t at = WalkInOrder(bucket, ranks_before, [&](const Candidate& item) {
    before += weights[item.id];
    return before >= target;
  });
  // The histogram's sum crossed the target but this one, added in another order, fell a
  // rounding error short: the bucket's last member is the cut.
  if (at == bucket.size()) at = bucket.size() - 1;
  return Cut{bucket[at].logit, bucket[at].id};
}

}  // namespace

void ApplyTemperature(std::vector<Candidate>& candidates, float temperature) {
  const float max = MaxLogit(candidates);
  for (Candidate& c : candidates) c.logit = (c.logit - max) / temperature;
  KeepPositions(candidates, [&](size_t i) { return std::isfinite(candidates[i].logit); });
}

void ApplyTopK(std::vector<Candidate>& candidates, int32_t k, FilterScratch& scratch) {
  if (k <= 0 || static_cast<size_t>(k) >= candidates.size()) return;
  std::vector<float>& values = scratch.keys;
  float threshold;
  if (static_cast<size_t>(k) <= candidates.size() / 16) {
    // A min-heap of the k largest so far: after the first few thousand tokens most fail the
    // comparison with its top, so this is one cheap pass.
    values.clear();
    values.reserve(static_cast<size_t>(k));
    const std::greater<float> min_heap;
    for (const Candidate& c : candidates) {
      if (values.size() < static_cast<size_t>(k)) {
        values.push_back(c.logit);
        std::push_heap(values.begin(), values.end(), min_heap);
      } else if (c.logit > values.front()) {
        std::pop_heap(values.begin(), values.end(), min_heap);
        values.back() = c.logit;
        std::push_heap(values.begin(), values.end(), min_heap);
      }
    }
    threshold = values.front();
  } else {
    values.resize(candidates.size());
    for (size_t i = 0; i < candidates.size(); ++i) values[i] = candidates[i].logit;
    const auto kth = values.begin() + (k - 1);
    std::nth_element(values.begin(), kth, values.end(), std::greater<float>());
    threshold = *kth;
  }
  KeepPositions(candidates, [&](size_t i) { return candidates[i].logit >= threshold; });
}

void ApplyTopP(std::vector<Candidate>& candidates, float top_p, FilterScratch& scratch) {
  if (top_p >= 1.0f || candidates.size() <= 1) return;
  const double total = Weights(candidates, MaxLogit(candidates), scratch);
  // Most likely first is ascending -logit; equal logits rank the higher id (later position)
  // first. The cut is the last token kept: the first whose inclusive mass reaches top_p, i.e.
  // every kept token has less than top_p ahead of it.
  scratch.keys.resize(candidates.size());
  for (size_t i = 0; i < candidates.size(); ++i) scratch.keys[i] = -candidates[i].logit;
  const std::optional<Cut> cut =
      FindMassCut(static_cast<double>(top_p) * total, /*later_first=*/true, scratch);
  if (!cut) return;
  const std::vector<float>& keys = scratch.keys;
  KeepPositions(candidates, [&](size_t i) {
    return keys[i] < cut->key || (keys[i] == cut->key && i >= cut->position);
  });
}

void ApplyMinP(std::vector<Candidate>& candidates, float min_p) {
  if (min_p <= 0.0f) return;
  const float max = MaxLogit(candidates);
  // p / p_max = exp(logit - max): no normalisation needed.
  KeepPositions(candidates, [&](size_t i) { return std::exp(candidates[i].logit - max) >= min_p; });
}

void ApplyTypicalP(std::vector<Candidate>& candidates, float typical_p, FilterScratch& scratch) {
  if (typical_p >= 1.0f || candidates.size() <= 1) return;
  const size_t n = candidates.size();
  const float max = MaxLogit(candidates);
  const double total = Weights(candidates, max, scratch);
  const double log_total = max + std::log(total);
  double entropy = 0.0;
  for (size_t i = 0; i < n; ++i) {
    entropy -= scratch.weights[i] / total * (candidates[i].logit - log_total);
  }
  // The key: how far a token's surprisal, -log p, is from the entropy.
  scratch.keys.resize(n);
  for (size_t i = 0; i < n; ++i) {
    scratch.keys[i] = static_cast<float>(std::abs(log_total - candidates[i].logit - entropy));
  }
  const std::optional<Cut> cut =
      FindMassCut(static_cast<double>(typical_p) * total, /*later_first=*/false, scratch);
  // Rounding can leave the total just under typical_p: then everything stays.
  if (!cut) return;
  const std::vector<float>& keys = scratch.keys;
  KeepPositions(candidates, [&](size_t i) { return keys[i] <= cut->key; });
}

}  // namespace trustformers::engine
