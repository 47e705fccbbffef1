// A BERT classifier fine-tuned with the Trainer, written the way the Hugging Face snippet it
// mirrors is written: AutoTokenizer / AutoModelForSequenceClassification.from_pretrained,
// TrainingArguments, Trainer(model, args, train_dataset, eval_dataset).train(), evaluate(),
// save_pretrained.
//
// The task: the topic (computing, cooking, sports, weather) of short sentences
// (tests/golden/bert_train/texts.jsonl, split 128 / 32). Prints the progress and the evaluation;
// exits 1 when the final accuracy is below --min-accuracy (CTest runs it so).
//
//   bert_finetune --base MODEL_DIR --data texts.jsonl [--out DIR] [--epochs N]
//                 [--min-accuracy X]
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "engine/training/text_dataset.h"
#include "engine/training/trainer.h"
#include "models/nn/bert_classifier.h"
#include "tokenizers/tokenizer.h"

namespace nn = trustformers::nn;
namespace training = trustformers::training;

namespace {

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "bert_finetune: %s\n", std::string(status.message()).c_str());
  return 1;
}

// The first `count` lines of `from` into `to` when keep is true, the rest when false.
void SplitLines(const std::string& from, const std::string& to, int count, bool keep) {
  std::ifstream in(from);
  std::ofstream out(to);
  std::string line;
  for (int i = 0; std::getline(in, line); ++i) {
    if ((i < count) == keep) out << line << "\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string base, data, out = "bert_finetune_out";
  int64_t epochs = 3;
  double min_accuracy = 0.0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--base") {
      base = argv[i + 1];
    } else if (flag == "--data") {
      data = argv[i + 1];
    } else if (flag == "--out") {
      out = argv[i + 1];
    } else if (flag == "--epochs") {
      epochs = std::atoi(argv[i + 1]);
    } else if (flag == "--min-accuracy") {
      min_accuracy = std::atof(argv[i + 1]);
    } else {
      std::fprintf(stderr,
                   "usage: bert_finetune --base DIR --data FILE [--out DIR] "
                   "[--epochs N] [--min-accuracy X]\n");
      return 2;
    }
  }
  std::filesystem::create_directories(out);
  const std::string train_file = out + "/train.jsonl", eval_file = out + "/eval.jsonl";
  SplitLines(data, train_file, 128, true);
  SplitLines(data, eval_file, 128, false);

  // tokenizer = AutoTokenizer.from_pretrained(base)
  auto tokenizer = trustformers::tokenizers::Tokenizer::FromFile(base + "/tokenizer.json");
  if (!tokenizer.ok()) return Fail(tokenizer.status());
  // train_dataset = load_dataset("json", ...).map(tokenize): labels are the sorted names
  training::TextDatasetOptions data_options;
  data_options.max_length = 64;
  auto train = training::LoadTextClassificationFile(train_file, **tokenizer, data_options);
  if (!train.ok()) return Fail(train.status());
  data_options.labels = train->labels.spec();  // the evaluation set uses the same labels
  auto eval = training::LoadTextClassificationFile(eval_file, **tokenizer, data_options);
  if (!eval.ok()) return Fail(eval.status());

  // model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=4, id2label=...)
  nn::BertClassifierOptions model_options;
  model_options.num_labels = static_cast<int64_t>(train->labels.size());
  model_options.labels = train->labels.names();
  model_options.seed = 42;
  auto model = nn::BertForSequenceClassification::FromPretrained(base, model_options);
  if (!model.ok()) return Fail(model.status());

  // args = TrainingArguments(output_dir=..., num_train_epochs=3, learning_rate=1e-4, ...)
  auto args = training::TrainingArgumentsBuilder()
                  .output_dir(out + "/checkpoints")
                  .num_train_epochs(epochs)
                  .per_device_train_batch_size(16)
                  .learning_rate(1e-4)
                  .weight_decay(0.01)
                  .warmup_ratio(0.1)
                  .logging_steps(4)
                  .eval_strategy(training::EvalStrategy::kEpoch)
                  .save_steps(0)
                  .seed(42)
                  .Build();
  if (!args.ok()) return Fail(args.status());

  training::TrainerHooks hooks;
  hooks.on_event = [](const training::TrainerEvent& e) {
    if (e.kind == training::TrainerEvent::Kind::kLog) {
      std::printf("step %3lld/%lld  epoch %.2f  loss %.4f  lr %.2e  %.1f samples/s\n",
                  static_cast<long long>(e.step), static_cast<long long>(e.max_steps), e.epoch,
                  e.loss, e.learning_rate, e.samples_per_second);
    } else if (e.kind == training::TrainerEvent::Kind::kEvaluation) {
      std::printf("eval: loss %.4f  accuracy %.4f  macro-F1 %.4f\n", e.metrics->loss,
                  e.metrics->accuracy, e.metrics->macro_f1);
    }
  };
  // trainer = Trainer(model=model, args=args, train_dataset=..., eval_dataset=...); trainer.train()
  training::Trainer trainer(model->get(), *args, train->dataset, eval->dataset, hooks);
  auto result = trainer.Train();
  if (!result.ok()) return Fail(result.status());
  // trainer.evaluate(); model.save_pretrained(out)
  auto metrics = trainer.Evaluate();
  if (!metrics.ok()) return Fail(metrics.status());
  if (absl::Status s = (*model)->SavePretrained(out + "/model"); !s.ok()) return Fail(s);
  std::printf("accuracy %.4f, macro-F1 %.4f; saved %s/model\n", metrics->accuracy,
              metrics->macro_f1, out.c_str());
  return metrics->accuracy >= min_accuracy ? 0 : 1;
}
