// Paths shared by tests that use the real default models and the committed reference fixtures.
#pragma once

#include <cstdlib>
#include <fstream>
#include <string>

#include "nlohmann/json.hpp"

namespace trustformers::testing {

// $TRUSTFORMERS_HOME, else ~/.cache/trustformers/models (where `make fetch-models` puts them).
inline std::string ModelsDir() {
  const char* home = std::getenv("TRUSTFORMERS_HOME");
  if (home != nullptr && *home != '\0') return home;
  return std::string(std::getenv("HOME")) + "/.cache/trustformers/models";
}

inline std::string MiniLmDir() { return ModelsDir() + "/all-minilm-l6-v2"; }

inline std::string GoldenDir() { return std::string(TF_SOURCE_DIR) + "/tests/golden"; }

inline nlohmann::json ReadGolden(const std::string& relative) {
  std::ifstream in(GoldenDir() + "/" + relative);
  return nlohmann::json::parse(in);
}

}  // namespace trustformers::testing
