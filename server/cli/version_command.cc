// `trustformers version`: the build and the devices this machine offers it.
#include <iostream>

#include "absl/strings/str_join.h"
#include "backends/device.h"
#include "build_info.h"
#include "server/cli/commands.h"

namespace trustformers::cli {

void AddVersionCommand(CLI::App& app, int* exit_code) {
  CLI::App* cmd = app.add_subcommand("version", "Print the version, backends and devices");
  cmd->callback([exit_code] {
    std::cout << "trustformers " << kVersion << " (" << kBuildType << ", " << kCompiler << ")\n";
    std::cout << "backends: " << absl::StrJoin(backends::CompiledBackends(), ", ") << "\n";
    for (const backends::DeviceInfo& device : backends::ListDevices()) {
      std::cout << "device " << device.name << ": " << device.description << ", "
                << device.memory_bytes / (1024 * 1024) << " MiB";
      if (device.compute_units > 0) std::cout << ", " << device.compute_units << " compute units";
      std::cout << "\n";
    }
    *exit_code = 0;
  });
}

}  // namespace trustformers::cli
