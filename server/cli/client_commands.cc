// Client subcommands that call a running server: models, embed, classify, generate.
#include <iostream>

#include "server/cli/client_channel.h"
#include "server/cli/commands.h"
#include "trustformers/v1/inference.grpc.pb.h"
#include "trustformers/v1/models.grpc.pb.h"

namespace trustformers::cli {
namespace {

struct InputOptions {
  ClientOptions client;
  std::string model;
  std::vector<std::string> inputs;
};

CLI::App* AddInputCommand(CLI::App& app, const char* name, const char* description,
                          InputOptions* options) {
  CLI::App* cmd = app.add_subcommand(name, description);
  AddClientOptions(cmd, &options->client);
  cmd->add_option("-m,--model", options->model, "Model name as the server lists it")->required();
  cmd->add_option("inputs", options->inputs, "Texts")->required();
  return cmd;
}

struct GenerateOptions {
  ClientOptions client;
  std::string model;
  std::string prompt;
  bool chat = false;
  int max_tokens = 0;
  float temperature = -1;
  float top_p = -1;
  int top_k = -1;
  int64_t seed = -1;
  std::vector<std::string> stop;
  std::string system;
};

int Generate(const GenerateOptions& options) {
  v1::GenerateRequest request;
  request.set_model(options.model);
  if (options.chat) {
    if (!options.system.empty()) {
      v1::ChatMessage* system = request.mutable_messages()->add_messages();
      system->set_role("system");
      system->set_content(options.system);
    }
    v1::ChatMessage* message = request.mutable_messages()->add_messages();
    message->set_role("user");
    message->set_content(options.prompt);
  } else {
    request.set_prompt(options.prompt);
  }
  if (options.max_tokens > 0) request.mutable_sampling()->set_max_tokens(options.max_tokens);
  if (options.temperature >= 0) request.mutable_sampling()->set_temperature(options.temperature);
  if (options.top_p >= 0) request.mutable_sampling()->set_top_p(options.top_p);
  if (options.top_k >= 0) request.mutable_sampling()->set_top_k(options.top_k);
  for (const std::string& stop : options.stop) request.mutable_sampling()->add_stop(stop);
  if (options.seed >= 0) {
    request.mutable_sampling()->set_seed(static_cast<uint64_t>(options.seed));
  }
  request.set_include_usage(true);

  auto channel = OpenChannel(options.client, options.model);
  if (channel == nullptr) return 1;
  auto stub = v1::Inference::NewStub(channel);
  auto context = NewContext(options.client);
  auto reader = stub->Generate(context.get(), request);
  v1::GenerateResponse response;
  v1::Usage usage;
  v1::FinishReason finish = v1::FINISH_REASON_UNSPECIFIED;
  std::string error;
  while (reader->Read(&response)) {
    std::cout << response.text() << std::flush;
    if (response.has_usage()) usage = response.usage();
    if (response.finish_reason() != v1::FINISH_REASON_UNSPECIFIED) {
      finish = response.finish_reason();
      error = response.error_message();
    }
  }
  const grpc::Status status = reader->Finish();
  std::cout << "\n";
  if (status.ok()) {
    std::cerr << "[" << usage.prompt_tokens() << " prompt + " << usage.completion_tokens()
              << " generated tokens, " << v1::FinishReason_Name(finish) << "]\n";
    if (finish == v1::FINISH_REASON_ERROR) {
      std::cerr << "generate: " << error << "\n";
      return 1;
    }
  }
  return ReportCall(status, "Generate");
}

}  // namespace

void AddClientCommands(CLI::App& app, int* exit_code) {
  auto models = std::make_shared<ClientOptions>();
  CLI::App* models_cmd = app.add_subcommand("models", "List the models a server serves");
  AddClientOptions(models_cmd, models.get());
  models_cmd->callback([models, exit_code] {
    v1::ListModelsResponse response;
    auto context = NewContext(*models);
    auto channel = OpenChannel(*models);
    if (channel == nullptr) {
      *exit_code = 1;
      return;
    }
    grpc::Status status =
        v1::Models::NewStub(channel)->ListModels(context.get(), v1::ListModelsRequest(), &response);
    *exit_code = status.ok() ? PrintJson(response) : ReportCall(status, "ListModels");
  });

  auto embed = std::make_shared<InputOptions>();
  AddInputCommand(app, "embed", "Embed texts with a running server", embed.get())
      ->callback([embed, exit_code] {
        v1::EmbedRequest request;
        request.set_model(embed->model);
        for (const std::string& input : embed->inputs) request.add_inputs(input);
        v1::EmbedResponse response;
        auto channel = OpenChannel(embed->client, embed->model);
        if (channel == nullptr) {
          *exit_code = 1;
          return;
        }
        auto context = NewContext(embed->client);
        grpc::Status status =
            v1::Inference::NewStub(channel)->Embed(context.get(), request, &response);
        *exit_code = status.ok() ? PrintJson(response) : ReportCall(status, "Embed");
      });

  auto classify = std::make_shared<InputOptions>();
  AddInputCommand(app, "classify", "Classify texts with a running server", classify.get())
      ->callback([classify, exit_code] {
        v1::ClassifyRequest request;
        request.set_model(classify->model);
        for (const std::string& input : classify->inputs) request.add_inputs(input);
        v1::ClassifyResponse response;
        auto channel = OpenChannel(classify->client, classify->model);
        if (channel == nullptr) {
          *exit_code = 1;
          return;
        }
        auto context = NewContext(classify->client);
        grpc::Status status =
            v1::Inference::NewStub(channel)->Classify(context.get(), request, &response);
        *exit_code = status.ok() ? PrintJson(response) : ReportCall(status, "Classify");
      });

  auto generate = std::make_shared<GenerateOptions>();
  CLI::App* generate_cmd =
      app.add_subcommand("generate", "Stream generated text from a running server");
  AddClientOptions(generate_cmd, &generate->client);
  generate_cmd->add_option("-m,--model", generate->model, "Model name")->required();
  generate_cmd->add_option("prompt", generate->prompt, "Prompt text")->required();
  generate_cmd->add_flag("--chat", generate->chat,
                         "Send the prompt as a user chat message through the chat template");
  generate_cmd->add_option("--max-tokens", generate->max_tokens, "Tokens to generate at most")
      ->check(CLI::NonNegativeNumber);
  generate_cmd->add_option("--temperature", generate->temperature, "0 = greedy")
      ->check(CLI::Range(0.0, 2.0));
  generate_cmd->add_option("--top-p", generate->top_p, "Nucleus sampling threshold (0, 1]");
  generate_cmd->add_option("--top-k", generate->top_k, "Keep the k most likely tokens (0: off)");
  generate_cmd->add_option("--stop", generate->stop, "Stop string (repeatable)");
  generate_cmd->add_option("--system", generate->system, "System message (with --chat)");
  generate_cmd->add_option("--seed", generate->seed, "Sampling seed")
      ->check(CLI::NonNegativeNumber);
  generate_cmd->callback([generate, exit_code] { *exit_code = Generate(*generate); });
}

}  // namespace trustformers::cli
