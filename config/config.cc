#include "config/config.h"

#include <cstdlib>
#include <filesystem>

namespace trustformers::config {

std::string ResolvedModelDir(const Config& config) {
  if (!config.model_dir.empty()) return config.model_dir;
  if (const char* home = std::getenv("TRUSTFORMERS_HOME"); home != nullptr && *home != '\0') {
    return home;
  }
  const char* user_home = std::getenv("HOME");
  const std::filesystem::path base = (user_home != nullptr && *user_home != '\0') ? user_home : ".";
  return (base / ".cache" / "trustformers" / "models").string();
}

std::string ResolvedFineTuningDir(const Config& config) {
  if (!config.fine_tuning.data_dir.empty()) return config.fine_tuning.data_dir;
  return (std::filesystem::path(ResolvedModelDir(config)) / "fine-tuning").string();
}

std::string ResolvedModelPath(const Config& config, const ModelConfig& model) {
  const std::filesystem::path path(model.path);
  if (path.is_absolute()) return path.lexically_normal().string();
  return (std::filesystem::path(ResolvedModelDir(config)) / path).lexically_normal().string();
}

}  // namespace trustformers::config
