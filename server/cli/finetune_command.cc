// `trustformers finetune --server ADDR`: uploads the training data, creates a fine-tuning job and
// follows it with a live progress bar until it ends.
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
  options->client.server = "localhost:50051";
  CLI::App* cmd = app.add_subcommand(
      "finetune", "Fine-tune a served model through a running server and print the new model");
  AddClientOptions(cmd, &options->client);
  cmd->add_option("--base", options->base_model, "Base model name")->required();
  cmd->add_option("--train", options->train_path, "Training data (JSON Lines)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--validation", options->validation_path, "Validation data (JSON Lines)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--suffix", options->suffix, "Text in the new model's name ([a-z0-9-])");
  cmd->add_option("--epochs", options->epochs, "Training epochs")->check(CLI::PositiveNumber);
  cmd->add_option("--batch-size", options->batch_size, "Batch size")->check(CLI::PositiveNumber);
  cmd->add_option("--labels", options->num_labels, "Number of classification labels")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--learning-rate", options->learning_rate, "Peak learning rate")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--seed", options->seed, "Seed")->check(CLI::NonNegativeNumber);
  cmd->callback([options, exit_code] { *exit_code = Finetune(*options); });
}

}  // namespace trustformers::cli
