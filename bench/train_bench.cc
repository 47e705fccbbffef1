// Fine-tuning throughput in the shape of bench/train_peer.py --task speed: a BERT-family model
// as a sequence classifier, batches of B x T tokens (texts of a JSONL file, every row padded to
// T), train mode with the config's dropout, AdamW (no decay for biases and LayerNorm weights),
// clipping at 1.0, one optimizer step per batch. Untimed warmup steps, then timed ones.
// Prints one JSON object.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <numeric>
#include <vector>

#include "CLI/CLI.hpp"
#include "backends/ops.h"
#include "engine/training/text_dataset.h"
#include "engine/training/trainer.h"
#include "models/nn/bert_classifier.h"
#include "models/nn/functional.h"
#include "models/nn/optim.h"
#include "nlohmann/json.hpp"
#include "tokenizers/tokenizer.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace nn = trustformers::nn;
namespace training = trustformers::training;

int Fail(const absl::Status& status) {
  std::cerr << "tf_bench_train: " << status.message() << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("Fine-tuning steps per second of a BERT sequence classifier");
  std::string model_dir, texts;
  int batch = 32, seq_len = 64, warmup = 2, steps = 10, threads = 0;
  app.add_option("--model", model_dir, "Model folder")->required();
  bool full_rows = false;
  app.add_option("--texts", texts, "JSONL with text and label (the WordNet training file)");
  app.add_flag("--full-rows", full_rows,
               "Random word-piece ids instead, every row --seq-len real tokens (no padding)");
  app.add_option("--batch", batch, "Rows per batch");
  app.add_option("--seq-len", seq_len, "Tokens per row (every row padded to it)");
  app.add_option("--warmup-steps", warmup, "Untimed steps");
  app.add_option("--steps", steps, "Timed steps");
  app.add_option("--threads", threads, "CPU threads (0: one per core)");
  CLI11_PARSE(app, argc, argv);
  if (threads > 0) trustformers::backends::SetCpuThreads(threads);

  std::shared_ptr<const nn::Dataset> dataset;
  int64_t num_labels = 6;
  if (full_rows) {
    // [CLS] random ids [SEP], as bench/train_peer.py --full-rows draws them.
    auto examples = std::make_shared<nn::ExampleDataset>();
    nn::Generator generator(42);
    for (int i = 0; i < batch * (warmup + steps); ++i) {
      nn::TextExample e;
      e.ids.push_back(101);
      for (int t = 1; t + 1 < seq_len; ++t) {
        e.ids.push_back(1000 + static_cast<int32_t>(generator.NextU64() % 29000));
      }
      e.ids.push_back(102);
      e.label = static_cast<int64_t>(generator.NextU64() % static_cast<uint64_t>(num_labels));
      examples->Add(std::move(e));
    }
    dataset = examples;
  } else {
    if (texts.empty()) return Fail(absl::InvalidArgumentError("give --texts or --full-rows"));
    auto tokenizer = trustformers::tokenizers::Tokenizer::FromFile(model_dir + "/tokenizer.json");
    if (!tokenizer.ok()) return Fail(tokenizer.status());
    training::TextDatasetOptions data_options;
    data_options.max_length = static_cast<size_t>(seq_len);
    auto data = training::LoadTextClassificationFile(texts, **tokenizer, data_options);
    if (!data.ok()) return Fail(data.status());
    dataset = data->dataset;
    num_labels = static_cast<int64_t>(data->labels.size());
  }
  nn::DataLoaderOptions loader_options;
  loader_options.batch_size = batch;
  loader_options.pad_to = seq_len;
  loader_options.drop_last = true;
  auto loader = nn::DataLoader::Create(dataset, loader_options);
  if (!loader.ok()) return Fail(loader.status());

  nn::BertClassifierOptions model_options;
  model_options.num_labels = num_labels;
  model_options.seed = 42;
  auto model = nn::BertForSequenceClassification::FromPretrained(model_dir, model_options);
  if (!model.ok()) return Fail(model.status());
  std::vector<nn::Tensor> decay, no_decay;
  for (const auto& [name, p] : (*model)->named_parameters()) {
    (training::UsesWeightDecay(name) ? decay : no_decay).push_back(p);
  }
  nn::AdamOptions adam;
  adam.lr = 5e-5;
  adam.weight_decay = 0.01;
  nn::AdamW optimizer({{decay, {}, {}}, {no_decay, 0.0, {}}}, adam);
  (*model)->train();

  std::vector<double> times;
  for (int i = 0; i < warmup + steps; ++i) {
    auto b = loader->batch(0, static_cast<size_t>(i) % loader->num_batches());
    if (!b.ok()) return Fail(b.status());
    const Clock::time_point begin = Clock::now();
    optimizer.zero_grad();
    auto logits = (*model)->logits(training::ToBertInputs(*b));
    if (!logits.ok()) return Fail(logits.status());
    auto loss = nn::cross_entropy(*logits, b->labels);
    if (!loss.ok()) return Fail(loss.status());
    if (absl::Status s = loss->backward(); !s.ok()) return Fail(s);
    if (auto norm = nn::clip_grad_norm((*model)->parameters(), 1.0); !norm.ok()) {
      return Fail(norm.status());
    }
    if (absl::Status s = optimizer.step(); !s.ok()) return Fail(s);
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - begin).count();
    std::cerr << "step " << i << (i < warmup ? " warmup " : " timed ") << static_cast<int>(ms)
              << " ms loss " << loss->data()[0] << "\n";
    if (i >= warmup) times.push_back(ms);
  }
  std::vector<double> sorted = times;
  std::sort(sorted.begin(), sorted.end());
  const double total_ms = std::accumulate(times.begin(), times.end(), 0.0);
  nlohmann::json out = {
      {"peer", "trustformers"},
      {"threads", trustformers::backends::CpuThreads()},
      {"samples_per_s", batch * static_cast<double>(times.size()) / total_ms * 1e3},
      {"step_ms_p50", sorted[sorted.size() / 2]},
      {"step_ms_min", sorted.front()},
      {"batch", batch},
      {"seq_len", seq_len},
      {"warmup_steps", warmup},
      {"steps", steps}};
  std::cout << out.dump() << std::endl;
  return 0;
}
