// Paths shared by tests that use the real default models and the committed reference fixtures.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "nlohmann/json.hpp"
#include "unit/temp_dir.h"

namespace trustformers::testing {

// $TRUSTFORMERS_HOME, else ~/.cache/trustformers/models (where `make fetch-models` puts them).
inline std::string ModelsDir() {
  const char* home = std::getenv("TRUSTFORMERS_HOME");
  if (home != nullptr && *home != '\0') return home;
  return std::string(std::getenv("HOME")) + "/.cache/trustformers/models";
}

inline std::string MiniLmDir() { return ModelsDir() + "/all-minilm-l6-v2"; }
inline std::string SmolLm2Gguf() {
  return ModelsDir() + "/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf";
}

inline std::string GoldenDir() { return std::string(TF_SOURCE_DIR) + "/tests/golden"; }

inline nlohmann::json ReadGolden(const std::string& relative) {
  std::ifstream in(GoldenDir() + "/" + relative);
  return nlohmann::json::parse(in);
}

// The fixture's classifier: the base checkpoint plus a 3-label head, assembled in `dir` as a
// sharded folder the way a user would lay it out. `config` names the config file in
// tests/golden/bert/. Returns the folder.
inline std::string AssembleClassifier(const TempDir& dir, const std::string& config) {
  namespace fs = std::filesystem;
  const fs::path folder = dir.path() / "classifier";
  fs::create_directories(folder);
  const std::string golden = GoldenDir() + "/bert/";
  fs::copy_file(golden + config, folder / "config.json");
  fs::copy_file(golden + "classifier_model.safetensors.index.json",
                folder / "model.safetensors.index.json");
  fs::copy_file(golden + "classifier_head.safetensors", folder / "classifier_head.safetensors");
  fs::create_symlink(MiniLmDir() + "/model.safetensors", folder / "base.safetensors");
  // The classifier shares the base model's tokenizer.
  fs::copy_file(MiniLmDir() + "/tokenizer.json", folder / "tokenizer.json");
  return folder.string();
}

}  // namespace trustformers::testing
