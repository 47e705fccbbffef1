// The dense part of logits processing: temperature and the filters top_k, top_p, min_p and
// typical_p, each on what the previous one left, with Hugging Face transformers' semantics
// (min_tokens_to_keep = 1, filtered tokens dropped as if set to -inf).
//
// They work on a candidate list rather than on the whole vocabulary: tokens already at -inf are
// not in it, and every filter only removes entries, keeping the others in their order. The
// sampler starts the list in id order, so the draw that follows walks tokens in id order whatever
// the filters did, which keeps a seeded draw independent of how std::nth_element or
// std::partial_sort happen to permute ties in a given standard library.
//
// Finding a filter's cut needs an ordering, but never a full sort: top_k keeps a small heap (or
// runs nth_element for large k); top_p and typical_p add the probability mass into a histogram
// over the ranking key, find the bucket where the mass crosses the threshold, and order only the
// tokens of that bucket.
#pragma once

#include <cstdint>
#include <vector>

namespace trustformers::engine {

struct Candidate {
  float logit;
  uint32_t id;
};

// Buffers the filters reuse from step to step; one per thread is enough.
struct FilterScratch {
  std::vector<float> keys;
  std::vector<float> weights;
  std::vector<double> bucket_mass;
  std::vector<Candidate> bucket;
};

// Every function below expects a non-empty list without NaN or +inf, and leaves it non-empty.

// Divides by `temperature` (> 0) after subtracting the largest logit, so the largest becomes 0.
// The shift changes no probability but keeps tiny temperatures from overflowing to +inf; tokens
// that underflow to -inf (no probability left) are dropped.
void ApplyTemperature(std::vector<Candidate>& candidates, float temperature);

// Keeps the tokens whose logit is at least the k-th largest (ties with it all stay). 0 or a k
// not below the list's size keeps everything.
void ApplyTopK(std::vector<Candidate>& candidates, int32_t k, FilterScratch& scratch);

// Keeps the most likely tokens while the probability of those before them (most likely first)
// is below top_p, i.e. the smallest prefix whose mass reaches top_p. Among equal logits the
// higher id counts as more likely, as with transformers' stable ascending sort, so at a tie on
// the cut the lower ids go first. 1 keeps everything.
void ApplyTopP(std::vector<Candidate>& candidates, float top_p, FilterScratch& scratch);

// Keeps the tokens whose probability is at least min_p times the largest. 0 keeps everything.
void ApplyMinP(std::vector<Candidate>& candidates, float min_p);

// Locally typical sampling: ranks tokens by how far their surprisal (-log p) is from the
// distribution's entropy, and keeps the closest ones until their mass reaches typical_p, plus
// every token as close as the last one kept. 1 keeps everything.
void ApplyTypicalP(std::vector<Candidate>& candidates, float typical_p, FilterScratch& scratch);

}  // namespace trustformers::engine
