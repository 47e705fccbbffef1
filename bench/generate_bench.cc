// Decoder speed in the terms llama.cpp's llama-bench uses: prefill of N prompt tokens in one
// batch (pp) and decoding M tokens one at a time from an empty context (tg), on the model alone
// (no server, no sampling). Also measures this machine's DRAM read bandwidth, so decode speed
// can be stated as a fraction of what memory allows (each decoded token reads every weight once).
// Prints one JSON object.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <numeric>
#include <vector>

#include "CLI/CLI.hpp"
#include "models/llama/llama_model.h"
#include "nlohmann/json.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point begin) {
  return std::chrono::duration<double>(Clock::now() - begin).count();
}

// Best of `repeats` passes summing a buffer far larger than the caches, with every thread
// reading its own share: the read bandwidth decoding can hope for. Each thread keeps 16
// independent sums (vectorised), so the adds never limit the reading.
double ReadBandwidthGbs(int repeats) {
  const size_t floats = size_t{1} << 28;  // 1 GiB
  std::vector<float> buffer(floats, 1.0f);
  double best = 0;
  for (int r = 0; r < repeats; ++r) {
    const Clock::time_point begin = Clock::now();
    float total = 0;
#pragma omp parallel reduction(+ : total)
    {
      float lanes[16] = {};
#pragma omp for schedule(static)
      for (size_t i = 0; i < floats; i += 16) {
        for (size_t j = 0; j < 16; ++j) lanes[j] += buffer[i + j];
      }
      for (const float lane : lanes) total += lane;
    }
    const double seconds = Seconds(begin);
    if (total < 0) std::printf("impossible\n");
    best = std::max(best, static_cast<double>(floats * sizeof(float)) / seconds / 1e9);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("Prefill and decode speed of a GGUF decoder");
  std::string path;
  int prompt_tokens = 512, gen_tokens = 128, repeats = 3, batch = 0, context = 256;
  app.add_option("--model", path, "GGUF file")->required();
  app.add_option("--prompt-tokens", prompt_tokens, "pp: tokens prefilled in one batch");
  app.add_option("--gen-tokens", gen_tokens, "tg: tokens decoded one at a time");
  app.add_option("--repeats", repeats, "Runs of each; the best counts");
  app.add_option("--batch", batch,
                 "bd: also decode this many sequences together, one batched step per token");
  app.add_option("--batch-context", context, "bd: positions each sequence holds already");
  CLI11_PARSE(app, argc, argv);

  // Loaded as the server loads it by default (engine.weights_in_memory).
  auto file =
      trustformers::models::GgufFile::Open(path, trustformers::models::FileLoad::kCopyHugePages);
  if (!file.ok()) return std::fprintf(stderr, "%s\n", file.status().ToString().c_str()), 1;
  auto model = trustformers::models::LlamaModel::FromGguf(*std::move(file));
  if (!model.ok()) return std::fprintf(stderr, "%s\n", model.status().ToString().c_str()), 1;
  const auto& m = **model;
  const int64_t bytes_per_token = m.decode_bytes_per_token();

  std::vector<int32_t> prompt(static_cast<size_t>(prompt_tokens));
  for (int i = 0; i < prompt_tokens; ++i) prompt[i] = 100 + (i * 7919) % 30000;
  std::vector<float> logits;
  double best_pp = 0, best_tg = 0;
  for (int r = 0; r < repeats; ++r) {
    trustformers::models::KvCache cache = m.NewCache(prompt_tokens + 1);
    const Clock::time_point begin = Clock::now();
    if (!m.Forward(prompt, &cache, false, &logits).ok()) return 1;
    best_pp = std::max(best_pp, prompt_tokens / Seconds(begin));
  }
  for (int r = 0; r < repeats; ++r) {
    trustformers::models::KvCache cache = m.NewCache(gen_tokens + 1);
    int32_t token = 1;
    const Clock::time_point begin = Clock::now();
    for (int i = 0; i < gen_tokens; ++i) {
      const int32_t one[] = {token};
      if (!m.Forward(one, &cache, false, &logits).ok()) return 1;
      token = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    }
    best_tg = std::max(best_tg, gen_tokens / Seconds(begin));
  }
  // Batched decode: `batch` sequences, each `context` positions in, one token each per step.
  double best_bd = 0;
  if (batch > 0) {
    std::vector<trustformers::models::KvCache> caches;
    std::vector<std::vector<int32_t>> next(static_cast<size_t>(batch), std::vector<int32_t>{1});
    for (int s = 0; s < batch; ++s) {
      caches.push_back(m.NewCache(context + gen_tokens + 1));
      std::vector<int32_t> ids(static_cast<size_t>(context));
      for (int i = 0; i < context; ++i) ids[i] = 100 + ((i + 31 * s) * 7919) % 30000;
      if (!m.Forward(ids, &caches.back(), false, &logits).ok()) return 1;
    }
    for (int r = 0; r < repeats; ++r) {
      std::vector<trustformers::models::DecoderModel::SequenceStep> steps;
      for (int s = 0; s < batch; ++s) caches[s].Truncate(context);
      const Clock::time_point begin = Clock::now();
      for (int i = 0; i < gen_tokens; ++i) {
        steps.clear();
        for (int s = 0; s < batch; ++s) steps.push_back({next[s], &caches[s], false});
        if (!m.ForwardBatch(steps, &logits).ok()) return 1;
      }
      best_bd = std::max(best_bd, static_cast<double>(batch) * gen_tokens / Seconds(begin));
    }
  }
  const double bandwidth = ReadBandwidthGbs(10);
  const double decode_gbs = best_tg * static_cast<double>(bytes_per_token) / 1e9;
  nlohmann::json out = {{"threads", omp_get_max_threads()},
                        {"pp_tokens", prompt_tokens},
                        {"tg_tokens", gen_tokens},
                        {"pp_tok_s", best_pp},
                        {"tg_tok_s", best_tg},
                        {"bd_batch", batch},
                        {"bd_context", context},
                        {"bd_tok_s", best_bd},
                        {"bytes_per_token", bytes_per_token},
                        {"decode_read_gbs", decode_gbs},
                        {"dram_read_gbs", bandwidth},
                        {"decode_fraction_of_dram", decode_gbs / bandwidth}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
