// `trustformers finetune` without --server: fine-tunes a BERT-family model folder on a JSONL or
// CSV file in this process with the Trainer, shows a progress bar on stderr, writes a Hugging
// Face model folder that `serve` (Classify) and transformers load, and prints a JSON summary
// line on stdout.
#pragma once

#include <cstdint>
#include <string>

namespace trustformers::cli {

struct LocalFinetuneOptions {
  std::string base;  // a model folder, or a model name under $TRUSTFORMERS_HOME
  std::string train_path;
  std::string eval_path;
  std::string output_dir;   // the model folder; checkpoints go to <output_dir>/checkpoints
  int64_t num_labels = 0;   // 0: from --label-names, or discovered from the training file
  std::string label_names;  // comma-separated, in id order
  int64_t epochs = 3;
  int64_t max_steps = -1;
  int64_t batch_size = 16;
  int64_t eval_batch_size = 64;
  int64_t gradient_accumulation_steps = 1;
  double learning_rate = 5e-5;
  double warmup_ratio = 0.0;
  int64_t warmup_steps = 0;
  double weight_decay = 0.01;
  double max_grad_norm = 1.0;
  std::string lr_scheduler = "linear";
  int64_t max_length = 128;
  int64_t logging_steps = 10;
  std::string eval_strategy;  // default: "epoch" with --eval, else "no"
  int64_t save_steps = 200;
  int64_t save_total_limit = 2;
  uint64_t seed = 42;
  double dropout = -1.0;  // < 0: the config's
  std::string resume;     // a checkpoint folder or "latest"
  int threads = 0;        // 0: one per core
  bool quiet = false;     // no progress bar
};

// The process exit status: 0 done, 1 training failed, 2 bad options or data.
int FinetuneLocally(const LocalFinetuneOptions& options);

}  // namespace trustformers::cli
