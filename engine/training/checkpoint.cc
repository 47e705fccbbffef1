#include "engine/training/checkpoint.h"

#include <algorithm>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "backends/status_macros.h"
#include "models/loader/json_file.h"
#include "models/nn/durable_file.h"
#include "nlohmann/json.hpp"

namespace trustformers::training {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr char kStateFile[] = "trainer_state.json";
constexpr char kOptimizerFile[] = "optimizer.safetensors";
constexpr char kTempSuffix[] = ".tmp";

// The step of a "checkpoint-<step>" folder name; -1 for other names.
int64_t StepOf(const std::string& name) {
  if (!absl::StartsWith(name, kCheckpointPrefix)) return -1;
  int64_t step = -1;
  if (!absl::SimpleAtoi(name.substr(sizeof(kCheckpointPrefix) - 1), &step) || step < 0) return -1;
  return step;
}

// Complete checkpoints by step, ascending.
std::vector<std::pair<int64_t, fs::path>> CompleteCheckpoints(const std::string& output_dir) {
  std::vector<std::pair<int64_t, fs::path>> out;
  std::error_code ec;
  for (fs::directory_iterator it(output_dir, ec), end; !ec && it != end; it.increment(ec)) {
    const int64_t step = StepOf(it->path().filename().string());
    if (step >= 0 && fs::exists(it->path() / kCompleteMarker)) out.emplace_back(step, it->path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

json StateToJson(const CheckpointState& s) {
  json rng = json::array();
  // As strings: JSON readers often hold numbers as doubles, which would round 64-bit words.
  for (uint64_t word : s.dropout_generator) rng.push_back(std::to_string(word));
  return {{"global_step", s.global_step},
          {"max_steps", s.max_steps},
          {"epoch", s.epoch},
          {"batch_in_epoch", s.batch_in_epoch},
          {"dropout_generator", rng},
          {"optimizer_steps", s.optimizer_steps},
          {"loss_since_log", s.loss_since_log},
          {"steps_since_log", s.steps_since_log},
          {"loss_sum", s.loss_sum},
          {"batch_size", s.batch_size},
          {"gradient_accumulation_steps", s.gradient_accumulation_steps},
          {"train_examples", s.train_examples},
          {"seed", std::to_string(s.seed)},
          {"shuffle", s.shuffle},
          {"drop_last", s.drop_last}};
}

absl::StatusOr<CheckpointState> StateFromJson(const json& j, const std::string& path) {
  CheckpointState s;
  auto bad = [&](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat("'", path, "': ", what));
  };
  try {
    s.global_step = j.at("global_step").get<int64_t>();
    s.max_steps = j.at("max_steps").get<int64_t>();
    s.epoch = j.at("epoch").get<int64_t>();
    s.batch_in_epoch = j.at("batch_in_epoch").get<int64_t>();
    const json& rng = j.at("dropout_generator");
    if (!rng.is_array() || rng.size() != 4) return bad("dropout_generator must hold 4 words");
    for (size_t i = 0; i < 4; ++i) {
      if (!absl::SimpleAtoi(rng[i].get<std::string>(), &s.dropout_generator[i])) {
        return bad("dropout_generator holds a word that is not a number");
      }
    }
    s.optimizer_steps = j.at("optimizer_steps").get<std::vector<int64_t>>();
    s.loss_since_log = j.at("loss_since_log").get<double>();
    s.steps_since_log = j.at("steps_since_log").get<int64_t>();
    s.loss_sum = j.at("loss_sum").get<double>();
    s.batch_size = j.at("batch_size").get<int64_t>();
    s.gradient_accumulation_steps = j.at("gradient_accumulation_steps").get<int64_t>();
    s.train_examples = j.at("train_examples").get<int64_t>();
    if (!absl::SimpleAtoi(j.at("seed").get<std::string>(), &s.seed)) {
      return bad("seed is not a number");
    }
    s.shuffle = j.at("shuffle").get<bool>();
    s.drop_last = j.at("drop_last").get<bool>();
  } catch (const json::exception& e) {
    return bad(e.what());
  }
  if (s.global_step < 0 || s.epoch < 0 || s.batch_in_epoch < 0) {
    return bad("negative step, epoch or batch");
  }
  return s;
}

}  // namespace

absl::StatusOr<std::string> WriteCheckpoint(const std::string& output_dir,
                                            const nn::BertForSequenceClassification& model,
                                            const CheckpointState& state,
                                            const nn::NamedTensors& optimizer) {
  const fs::path final_dir =
      fs::path(output_dir) / absl::StrCat(kCheckpointPrefix, state.global_step);
  const fs::path temp_dir = fs::path(final_dir.string() + kTempSuffix);
  std::error_code ec;
  fs::remove_all(temp_dir, ec);
  fs::create_directories(temp_dir, ec);
  if (ec) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create '", temp_dir.string(), "': ", ec.message()));
  }
  TF_RETURN_IF_ERROR(model.SavePretrained(temp_dir.string()));
  TF_RETURN_IF_ERROR(nn::save_tensors(optimizer, (temp_dir / kOptimizerFile).string()));
  TF_RETURN_IF_ERROR(
      nn::WriteFileAtomically((temp_dir / kStateFile).string(), StateToJson(state).dump(2) + "\n"));
  // Last: the marker says every other file is whole.
  TF_RETURN_IF_ERROR(nn::WriteFileAtomically((temp_dir / kCompleteMarker).string(),
                                             absl::StrCat(state.global_step, "\n")));
  fs::remove_all(final_dir, ec);
  fs::rename(temp_dir, final_dir, ec);
  if (ec) {
    return absl::PermissionDeniedError(absl::StrCat("cannot rename '", temp_dir.string(), "' to '",
                                                    final_dir.string(), "': ", ec.message()));
  }
  TF_RETURN_IF_ERROR(nn::SyncDirectory(output_dir));
  return final_dir.string();
}

absl::Status ReadCheckpoint(const std::string& folder,
                            const nn::BertForSequenceClassification& model, CheckpointState* state,
                            const nn::NamedTensors& optimizer) {
  const fs::path dir(folder);
  if (!fs::is_directory(dir)) {
    return absl::NotFoundError(absl::StrCat("checkpoint '", folder, "' does not exist"));
  }
  if (!fs::exists(dir / kCompleteMarker)) {
    return absl::NotFoundError(absl::StrCat("checkpoint '", folder, "' is incomplete (no ",
                                            kCompleteMarker,
                                            " marker: its write was interrupted)"));
  }
  const std::string state_path = (dir / kStateFile).string();
  TF_ASSIGN_OR_RETURN(json j, models::ReadJsonFile(state_path));
  TF_ASSIGN_OR_RETURN(CheckpointState loaded, StateFromJson(j, state_path));
  // Everything is checked before the model changes.
  nn::NamedTensors staged;
  for (const auto& [name, tensor] : model.named_parameters()) {
    staged.emplace_back(name, nn::Tensor::zeros(tensor.shape()));
  }
  TF_RETURN_IF_ERROR(nn::load_tensors(staged, (dir / "model.safetensors").string()));
  TF_RETURN_IF_ERROR(nn::load_tensors(optimizer, (dir / kOptimizerFile).string()));
  const auto params = model.named_parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    std::copy(staged[i].second.data(), staged[i].second.data() + staged[i].second.numel(),
              params[i].second.mutable_data());
  }
  *state = std::move(loaded);
  return absl::OkStatus();
}

std::string LatestCheckpoint(const std::string& output_dir) {
  auto all = CompleteCheckpoints(output_dir);
  return all.empty() ? "" : all.back().second.string();
}

absl::Status PruneCheckpoints(const std::string& output_dir, int64_t keep) {
  std::error_code ec;
  for (fs::directory_iterator it(output_dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (absl::StartsWith(name, kCheckpointPrefix) && absl::EndsWith(name, kTempSuffix)) {
      fs::remove_all(it->path(), ec);
    }
  }
  if (keep <= 0) return absl::OkStatus();
  auto all = CompleteCheckpoints(output_dir);
  for (size_t i = 0; i + static_cast<size_t>(keep) < all.size(); ++i) {
    fs::remove_all(all[i].second, ec);
    if (ec) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot delete '", all[i].second.string(), "': ", ec.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace trustformers::training
