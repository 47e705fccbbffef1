// Subcommands of the `trustformers` binary. Each Add*Command registers its options on `app`; when
// the subcommand runs it stores the process exit status in *exit_code (0 ok, 1 the operation
// failed, 2 bad configuration or usage).
#pragma once

#include "CLI/CLI.hpp"

namespace trustformers::cli {

void AddServeCommand(CLI::App& app, int* exit_code);
void AddVersionCommand(CLI::App& app, int* exit_code);
// Clients of a running server: models, embed, classify, generate.
void AddClientCommands(CLI::App& app, int* exit_code);
void AddFinetuneCommand(CLI::App& app, int* exit_code);
void AddHealthCommand(CLI::App& app, int* exit_code);

}  // namespace trustformers::cli
