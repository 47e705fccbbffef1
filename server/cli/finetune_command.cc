// `trustformers finetune`: with --server ADDR, uploads the training data, creates a fine-tuning
// job and follows it with a live progress bar until it ends; without, trains in this process
// (finetune_local.h).
#include <openssl/evp.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "server/cli/client_channel.h"
#include "server/cli/commands.h"
#include "server/cli/finetune_local.h"
#include "trustformers/v1/fine_tuning.grpc.pb.h"

namespace trustformers::cli {
namespace {

constexpr size_t kChunkBytes = 256 * 1024;

struct FinetuneOptions {
  ClientOptions client;
  std::string base_model;
  std::string train_path;
  std::string validation_path;
  std::string suffix;
  int epochs = 0;
  int batch_size = 0;
  int num_labels = 0;
  double learning_rate = 0;
  int64_t seed = -1;
};

// Hex SHA-256 of a file, so the server can verify the upload arrived intact.
std::string Sha256OfFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  std::vector<char> buffer(kChunkBytes);
  while (in.read(buffer.data(), static_cast<std::streamsize>(buffer.size())) || in.gcount() > 0) {
    EVP_DigestUpdate(ctx, buffer.data(), static_cast<size_t>(in.gcount()));
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(ctx, digest, &length);
  EVP_MD_CTX_free(ctx);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), length));
}

int Upload(v1::FineTuning::Stub& stub, const ClientOptions& client, const std::string& path,
           v1::FilePurpose purpose, v1::File* file) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  std::ifstream in(path, std::ios::binary);
  if (ec || !in) {
    std::cerr << "trustformers: cannot read '" << path << "'\n";
    return 2;
  }
  auto context = NewContext(client);
  auto writer = stub.UploadFile(context.get(), file);
  v1::UploadFileRequest request;
  v1::FileMetadata* metadata = request.mutable_metadata();
  metadata->set_filename(std::filesystem::path(path).filename().string());
  metadata->set_purpose(purpose);
  metadata->set_size_bytes(static_cast<int64_t>(size));
  metadata->set_sha256(Sha256OfFile(path));
  bool open = writer->Write(request);
  std::string chunk(kChunkBytes, '\0');
  while (open &&
         (in.read(chunk.data(), static_cast<std::streamsize>(chunk.size())) || in.gcount() > 0)) {
    request.set_chunk(chunk.data(), static_cast<size_t>(in.gcount()));
    open = writer->Write(request);
  }
  writer->WritesDone();
  return ReportCall(writer->Finish(), "UploadFile " + path);
}

void PrintEvent(const v1::JobEvent& event) {
  if (event.has_training_step()) {
    const v1::TrainingStep& step = event.training_step();
    const double done = step.total_steps() > 0 ? static_cast<double>(step.step()) /
                                                     static_cast<double>(step.total_steps())
                                               : 0.0;
    const int width = 30;
    const int filled = static_cast<int>(done * width);
    std::cerr
        << absl::StrFormat(
               "\r[%s%s] step %d/%d  epoch %.2f  loss %.4f  lr %.2e  %.1f samples/s  eta %ds ",
               std::string(filled, '#'), std::string(width - filled, '.'), step.step(),
               step.total_steps(), step.epoch(), step.loss(), step.learning_rate(),
               step.samples_per_second(), step.eta().seconds())
        << std::flush;
    return;
  }
  std::cerr << "\n";
  if (event.has_state_change()) {
    std::cerr << v1::JobState_Name(event.state_change().to_state()) << ": ";
  }
  std::cerr << event.message();
  if (event.has_evaluation()) {
    for (const auto& [name, value] : event.evaluation().metrics()) {
      std::cerr << absl::StrFormat("  %s=%.4f", name, value);
    }
  }
  if (event.has_file_validation()) {
    for (const v1::ValidationIssue& issue : event.file_validation().issues()) {
      std::cerr << "\n  line " << issue.line() << ": " << issue.message();
    }
  }
  std::cerr << std::flush;
}

int Finetune(const FinetuneOptions& options) {
  auto stub = v1::FineTuning::NewStub(OpenChannel(options.client));
  v1::CreateJobRequest create;
  create.set_base_model(options.base_model);
  v1::File train;
  if (int code =
          Upload(*stub, options.client, options.train_path, v1::FILE_PURPOSE_FINE_TUNE, &train);
      code != 0) {
    return code;
  }
  create.set_training_file(train.id());
  if (!options.validation_path.empty()) {
    v1::File validation;
    if (int code = Upload(*stub, options.client, options.validation_path,
                          v1::FILE_PURPOSE_FINE_TUNE_VALIDATION, &validation);
        code != 0) {
      return code;
    }
    create.set_validation_file(validation.id());
  }
  create.set_suffix(options.suffix);
  v1::Hyperparameters* hp = create.mutable_hyperparameters();
  if (options.epochs > 0) hp->set_n_epochs(options.epochs);
  if (options.batch_size > 0) hp->set_batch_size(options.batch_size);
  if (options.num_labels > 0) hp->set_num_labels(options.num_labels);
  if (options.learning_rate > 0) hp->set_learning_rate(options.learning_rate);
  if (options.seed >= 0) hp->set_seed(static_cast<uint64_t>(options.seed));

  v1::Job job;
  {
    auto context = NewContext(options.client);
    if (int code = ReportCall(stub->CreateJob(context.get(), create, &job), "CreateJob");
        code != 0) {
      return code;
    }
  }
  std::cerr << "job " << job.id() << " created\n";

  // Training runs for as long as it needs: the watch has no deadline.
  grpc::ClientContext watch_context;
  v1::WatchJobRequest watch;
  watch.set_job_id(job.id());
  watch.set_follow(true);
  auto reader = stub->WatchJob(&watch_context, watch);
  v1::JobEvent event;
  v1::JobState last_state = job.state();
  while (reader->Read(&event)) {
    PrintEvent(event);
    if (event.has_state_change()) last_state = event.state_change().to_state();
  }
  std::cerr << "\n";
  if (int code = ReportCall(reader->Finish(), "WatchJob"); code != 0) return code;

  auto context = NewContext(options.client);
  v1::GetJobRequest get;
  get.set_job_id(job.id());
  if (stub->GetJob(context.get(), get, &job).ok()) last_state = job.state();
  if (last_state != v1::JOB_STATE_SUCCEEDED) {
    std::cerr << "trustformers: job " << job.id() << " ended " << v1::JobState_Name(last_state)
              << (job.has_error() ? ": " + job.error().message() : "") << "\n";
    return 1;
  }
  std::cout << job.fine_tuned_model() << "\n";
  return 0;
}

}  // namespace

void AddFinetuneCommand(CLI::App& app, int* exit_code) {
  auto options = std::make_shared<FinetuneOptions>();
  auto local = std::make_shared<LocalFinetuneOptions>();
  CLI::App* cmd = app.add_subcommand(
      "finetune",
      "Fine-tune a classifier: in this process from a model folder (writes --output), or as a job "
      "of a running server with --server (prints the new model's name)");
  AddClientOptions(cmd, &options->client);
  cmd->add_option("--base", options->base_model,
                  "Base model: a folder or a name under $TRUSTFORMERS_HOME (in this process), a "
                  "served model's name (with --server)")
      ->required();
  cmd->add_option("--train", options->train_path, "Training data (JSON Lines, CSV or TSV)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--eval,--validation", options->validation_path,
                  "Evaluation data (JSON Lines, CSV or TSV)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--suffix", options->suffix, "Text in the new model's name ([a-z0-9-])");
  cmd->add_option("--epochs", options->epochs, "Training epochs")->check(CLI::PositiveNumber);
  cmd->add_option("--batch-size", options->batch_size, "Batch size")->check(CLI::PositiveNumber);
  cmd->add_option("--num-labels,--labels", options->num_labels, "Number of classification labels")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--learning-rate", options->learning_rate, "Peak learning rate")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--seed", options->seed, "Seed")->check(CLI::NonNegativeNumber);
  // In this process only.
  cmd->add_option("-o,--output", local->output_dir,
                  "Folder of the fine-tuned model (in this process; checkpoints in "
                  "<output>/checkpoints)");
  cmd->add_option("--label-names", local->label_names, "Label names in id order, comma-separated");
  cmd->add_option("--max-steps", local->max_steps, "Optimizer steps, overriding --epochs")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--eval-batch-size", local->eval_batch_size, "Evaluation batch size")
      ->capture_default_str();
  cmd->add_option("--gradient-accumulation-steps", local->gradient_accumulation_steps,
                  "Batches per optimizer step")
      ->capture_default_str();
  cmd->add_option("--warmup-ratio", local->warmup_ratio, "Warmup as a share of all steps");
  cmd->add_option("--warmup-steps", local->warmup_steps, "Warmup steps (wins over the ratio)");
  cmd->add_option("--weight-decay", local->weight_decay, "AdamW weight decay")
      ->capture_default_str();
  cmd->add_option("--max-grad-norm", local->max_grad_norm, "Gradient clipping (0: off)")
      ->capture_default_str();
  cmd->add_option("--lr-scheduler", local->lr_scheduler,
                  "constant, constant_with_warmup, linear or cosine")
      ->capture_default_str();
  cmd->add_option("--max-length", local->max_length, "Tokens per example, special ones included")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--logging-steps", local->logging_steps, "Steps between progress lines")
      ->capture_default_str();
  cmd->add_option("--eval-strategy", local->eval_strategy,
                  "no, steps or epoch (default: epoch with --eval)");
  cmd->add_option("--save-steps", local->save_steps, "Steps between checkpoints (0: at the end)")
      ->capture_default_str();
  cmd->add_option("--save-total-limit", local->save_total_limit, "Checkpoints kept (0: all)")
      ->capture_default_str();
  cmd->add_option("--dropout", local->dropout, "Dropout for every layer (default: the config's)");
  cmd->add_option("--resume", local->resume, "Checkpoint folder to continue from, or 'latest'");
  cmd->add_option("--threads", local->threads, "CPU threads (default: one per core)");
  cmd->add_flag("-q,--quiet", local->quiet, "No progress bar");
  cmd->callback([options, local, exit_code] {
    if (!options->client.server.empty()) {
      *exit_code = Finetune(*options);
      return;
    }
    if (local->output_dir.empty()) {
      std::cerr << "trustformers finetune: --output is required without --server\n";
      *exit_code = 2;
      return;
    }
    LocalFinetuneOptions o = *local;
    o.base = options->base_model;
    o.train_path = options->train_path;
    o.eval_path = options->validation_path;
    if (options->epochs > 0) o.epochs = options->epochs;
    if (options->batch_size > 0) o.batch_size = options->batch_size;
    o.num_labels = options->num_labels;
    if (options->learning_rate > 0) o.learning_rate = options->learning_rate;
    if (options->seed >= 0) o.seed = static_cast<uint64_t>(options->seed);
    *exit_code = FinetuneLocally(o);
  });
}

}  // namespace trustformers::cli
