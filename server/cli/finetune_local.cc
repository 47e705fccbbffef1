#include "server/cli/finetune_local.h"

#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <optional>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "backends/ops.h"
#include "config/config.h"
#include "engine/training/checkpoint.h"
#include "engine/training/fine_tune.h"
#include "engine/training/text_dataset.h"
#include "engine/training/trainer.h"
#include "nlohmann/json.hpp"
#include "tokenizers/tokenizer.h"

namespace trustformers::cli {
namespace {

namespace fs = std::filesystem;

// A folder as given, else a model name under the default model folder ($TRUSTFORMERS_HOME or
// ~/.cache/trustformers/models, where `make fetch-models` puts the default models).
std::string ResolveBase(const std::string& base) {
  if (fs::is_directory(base)) return base;
  const fs::path named = fs::path(config::ResolvedModelDir(config::Config{})) / base;
  return fs::is_directory(named) ? named.string() : base;
}

std::string FormatDuration(double seconds) {
  const auto s = static_cast<int64_t>(seconds);
  return s >= 3600 ? absl::StrFormat("%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
                   : absl::StrFormat("%d:%02d", s / 60, s % 60);
}

nlohmann::json MetricsJson(const training::ClassificationMetrics& m) {
  return {{"loss", m.loss},
          {"accuracy", m.accuracy},
          {"macro_f1", m.macro_f1},
          {"examples", m.examples}};
}

class ProgressBar {
 public:
  explicit ProgressBar(bool enabled) : enabled_(enabled), tty_(isatty(STDERR_FILENO) != 0) {}

  void operator()(const training::TrainerEvent& e) {
    using Kind = training::TrainerEvent::Kind;
    if (!enabled_) return;
    switch (e.kind) {
      case Kind::kLog: {
        const double done =
            e.max_steps > 0 ? static_cast<double>(e.step) / static_cast<double>(e.max_steps) : 0;
        constexpr int kWidth = 30;
        const int filled = static_cast<int>(done * kWidth);
        std::cerr << (tty_ ? "\r" : "")
                  << absl::StrFormat(
                         "[%s%s] %d/%d  epoch %.2f  loss %.4f  lr %.2e  %.1f samples/s  eta %s ",
                         std::string(static_cast<size_t>(filled), '#'),
                         std::string(static_cast<size_t>(kWidth - filled), '.'), e.step,
                         e.max_steps, e.epoch, e.loss, e.learning_rate, e.samples_per_second,
                         FormatDuration(e.eta_seconds))
                  << (tty_ ? "" : "\n") << std::flush;
        break;
      }
      case Kind::kEvaluation:
        std::cerr << (tty_ ? "\n" : "")
                  << absl::StrFormat("eval at step %d: loss %.4f  accuracy %.4f  macro-F1 %.4f\n",
                                     e.step, e.metrics->loss, e.metrics->accuracy,
                                     e.metrics->macro_f1);
        break;
      case Kind::kCheckpoint:
        std::cerr << (tty_ ? "\n" : "") << "checkpoint " << e.checkpoint << "\n";
        break;
      case Kind::kEnd:
        std::cerr << (tty_ ? "\n" : "");
        break;
    }
  }

 private:
  bool enabled_;
  bool tty_;
};

int Fail(int code, const absl::Status& status) {
  std::cerr << "trustformers finetune: " << status.message() << "\n";
  return code;
}

}  // namespace

int FinetuneLocally(const LocalFinetuneOptions& o) {
  if (o.threads > 0) backends::SetCpuThreads(o.threads);
  const std::string base = ResolveBase(o.base);
  absl::StatusOr<std::unique_ptr<tokenizers::Tokenizer>> tokenizer =
      tokenizers::Tokenizer::FromFile((fs::path(base) / "tokenizer.json").string());
  if (!tokenizer.ok()) return Fail(2, tokenizer.status());

  // Labels: the names given, else discovered from the file; --num-labels checks a discovered
  // set of names, and widens ids-only labels to that many classes (the file may lack some).
  training::TextDatasetOptions data_options;
  data_options.max_length = static_cast<size_t>(o.max_length);
  if (!o.label_names.empty()) data_options.labels.names = absl::StrSplit(o.label_names, ',');
  absl::StatusOr<training::TextClassificationData> train =
      training::LoadTextClassificationFile(o.train_path, **tokenizer, data_options);
  if (!train.ok()) return Fail(2, train.status());
  if (o.num_labels > 0 && static_cast<int64_t>(train->labels.size()) != o.num_labels) {
    if (train->labels.by_name()) {
      return Fail(2,
                  absl::InvalidArgumentError(absl::StrFormat(
                      "--num-labels is %d but '%s' has %d labels: %s", o.num_labels, o.train_path,
                      train->labels.size(), absl::StrJoin(train->labels.names(), ", "))));
    }
    data_options.labels = training::LabelSpec{};
    data_options.labels.count = o.num_labels;
    train = training::LoadTextClassificationFile(o.train_path, **tokenizer, data_options);
    if (!train.ok()) return Fail(2, train.status());
  }
  std::optional<training::TextClassificationData> eval;
  if (!o.eval_path.empty()) {
    training::TextDatasetOptions eval_options = data_options;
    eval_options.labels = train->labels.spec();
    absl::StatusOr<training::TextClassificationData> loaded =
        training::LoadTextClassificationFile(o.eval_path, **tokenizer, eval_options);
    if (!loaded.ok()) return Fail(2, loaded.status());
    eval = *std::move(loaded);
  }
  if (!o.quiet) {
    std::cerr << absl::StrFormat("%d training examples", train->dataset->size())
              << (eval ? absl::StrFormat(", %d evaluation examples", eval->dataset->size()) : "")
              << absl::StrFormat(", %d labels (%s)", train->labels.size(),
                                 absl::StrJoin(train->labels.names(), ", "));
    if (!train->truncated_lines.empty()) {
      std::cerr << absl::StrFormat("; %d examples cut to %d tokens", train->truncated_lines.size(),
                                   o.max_length);
    }
    std::cerr << "\n";
  }

  absl::StatusOr<training::EvalStrategy> strategy = training::ParseEvalStrategy(
      o.eval_strategy.empty() ? (eval ? "epoch" : "no") : o.eval_strategy);
  if (!strategy.ok()) return Fail(2, strategy.status());
  absl::StatusOr<nn::LrScheduleKind> schedule = training::ParseLrSchedulerType(o.lr_scheduler);
  if (!schedule.ok()) return Fail(2, schedule.status());
  absl::StatusOr<training::TrainingArguments> args =
      training::TrainingArgumentsBuilder()
          .output_dir((fs::path(o.output_dir) / "checkpoints").string())
          .num_train_epochs(o.epochs)
          .max_steps(o.max_steps)
          .per_device_train_batch_size(o.batch_size)
          .per_device_eval_batch_size(o.eval_batch_size)
          .gradient_accumulation_steps(o.gradient_accumulation_steps)
          .learning_rate(o.learning_rate)
          .warmup_ratio(o.warmup_ratio)
          .warmup_steps(o.warmup_steps)
          .lr_scheduler_type(*schedule)
          .weight_decay(o.weight_decay)
          .max_grad_norm(o.max_grad_norm)
          .logging_steps(o.logging_steps)
          .eval_strategy(*strategy)
          .save_steps(o.save_steps)
          .save_total_limit(o.save_total_limit)
          .seed(o.seed)
          .Build();
  if (!args.ok()) return Fail(2, args.status());

  ProgressBar bar(!o.quiet);
  training::TrainerHooks hooks;
  hooks.on_event = [&bar](const training::TrainerEvent& e) { bar(e); };
  if (o.resume == "latest" && training::LatestCheckpoint(args->output_dir).empty() && !o.quiet) {
    std::cerr << "no checkpoint under " << args->output_dir << ": starting from the beginning\n";
  }
  training::FineTuneSpec spec;
  spec.base_folder = base;
  spec.output_folder = o.output_dir;
  spec.args = *args;
  spec.labels = train->labels.names();
  spec.train = train->dataset;
  if (eval) spec.eval = eval->dataset;
  spec.seed = o.seed;
  spec.dropout = o.dropout;
  spec.resume = o.resume;
  absl::StatusOr<training::TrainResult> result = training::FineTune(spec, hooks);
  if (!result.ok()) {
    // A model, options or data the run cannot use are the caller's to fix (2); the rest failed.
    const absl::StatusCode code = result.status().code();
    const bool usage =
        code == absl::StatusCode::kInvalidArgument || code == absl::StatusCode::kNotFound ||
        code == absl::StatusCode::kFailedPrecondition || code == absl::StatusCode::kUnimplemented;
    return Fail(usage ? 2 : 1, result.status());
  }

  nlohmann::json summary = {{"model", o.output_dir},
                            {"steps", result->global_step},
                            {"train_loss", result->train_loss},
                            {"train_seconds", result->seconds},
                            {"samples_per_second", result->samples_per_second},
                            {"labels", train->labels.names()}};
  if (result->eval_metrics) summary["eval"] = MetricsJson(*result->eval_metrics);
  std::cout << summary.dump() << std::endl;
  return 0;
}

}  // namespace trustformers::cli
