// Entry point of the `trustformers` binary: one process that serves (`serve`) or acts as a client
// of a running server.
#include "CLI/CLI.hpp"
#include "server/cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"trustformers: serve transformer models over gRPC for inference and fine-tuning"};
  app.require_subcommand(1);
  int exit_code = 0;
  trustformers::cli::AddServeCommand(app, &exit_code);
  trustformers::cli::AddClientCommands(app, &exit_code);
  trustformers::cli::AddFinetuneCommand(app, &exit_code);
  trustformers::cli::AddHealthCommand(app, &exit_code);
  trustformers::cli::AddVersionCommand(app, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int status = app.exit(e);
    return status == 0 ? 0 : 2;
  }
  return exit_code;
}
