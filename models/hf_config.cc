#include "models/hf_config.h"

#include <filesystem>
#include <map>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "models/loader/json_file.h"

namespace trustformers::models {
namespace {

using json = nlohmann::json;

class ConfigReader {
 public:
  ConfigReader(const json& root, std::string path) : root_(root), path_(std::move(path)) {}

  absl::Status Bad(absl::string_view key, absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat("'", path_, "': \"", key, "\" ", what));
  }

  absl::Status Int(const char* key, int64_t min, int64_t max, int64_t* out) const {
    auto it = root_.find(key);
    if (it == root_.end() || it->is_null()) return absl::OkStatus();
    if (!it->is_number_integer()) return Bad(key, "must be an integer");
    const int64_t value = it->get<int64_t>();
    if (value < min || value > max) {
      return Bad(key, absl::StrCat("must be between ", min, " and ", max, ", got ", value));
    }
    *out = value;
    return absl::OkStatus();
  }

  absl::Status Number(const char* key, double* out) const {
    auto it = root_.find(key);
    if (it == root_.end() || it->is_null()) return absl::OkStatus();
    if (!it->is_number()) return Bad(key, "must be a number");
    *out = it->get<double>();
    return absl::OkStatus();
  }

  absl::Status String(const char* key, std::string* out) const {
    auto it = root_.find(key);
    if (it == root_.end() || it->is_null()) return absl::OkStatus();
    if (!it->is_string()) return Bad(key, "must be a string");
    *out = it->get<std::string>();
    return absl::OkStatus();
  }

 private:
  const json& root_;
  std::string path_;
};

}  // namespace

int64_t EncoderConfig::position_offset() const {
  return (model_type == "roberta" || model_type == "xlm-roberta" || model_type == "camembert")
             ? pad_token_id + 1
             : 0;
}

absl::StatusOr<EncoderConfig> ReadEncoderConfig(const std::string& folder) {
  const std::string path = (std::filesystem::path(folder) / "config.json").string();
  absl::StatusOr<json> root = ReadJsonFile(path);
  if (!root.ok()) return root.status();
  if (!root->is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("'", path, "' is not a JSON object"));
  }
  EncoderConfig c;
  ConfigReader r(*root, path);
  constexpr int64_t kBig = int64_t{1} << 24;
  for (absl::Status s :
       {r.String("model_type", &c.model_type), r.Int("vocab_size", 1, kBig, &c.vocab_size),
        r.Int("hidden_size", 1, 1 << 16, &c.hidden_size),
        r.Int("num_hidden_layers", 0, 1024, &c.num_hidden_layers),
        r.Int("num_attention_heads", 1, 1024, &c.num_attention_heads),
        r.Int("intermediate_size", 1, 1 << 18, &c.intermediate_size),
        r.String("hidden_act", &c.hidden_act),
        r.Int("max_position_embeddings", 1, kBig, &c.max_position_embeddings),
        r.Int("type_vocab_size", 0, 1 << 16, &c.type_vocab_size),
        r.Number("layer_norm_eps", &c.layer_norm_eps),
        r.Int("pad_token_id", 0, kBig, &c.pad_token_id),
        r.String("position_embedding_type", &c.position_embedding_type),
        r.String("problem_type", &c.problem_type),
        r.Number("hidden_dropout_prob", &c.hidden_dropout_prob),
        r.Number("attention_probs_dropout_prob", &c.attention_probs_dropout_prob),
        r.Number("initializer_range", &c.initializer_range),
        r.Number("classifier_dropout", &c.classifier_dropout)}) {
    if (!s.ok()) return s;
  }
  if (auto it = root->find("architectures"); it != root->end() && it->is_array()) {
    for (const json& a : *it) {
      if (a.is_string()) c.architectures.push_back(a.get<std::string>());
    }
  }
  if (c.vocab_size == 0) return r.Bad("vocab_size", "is required");
  if (c.hidden_size % c.num_attention_heads != 0) {
    return r.Bad("hidden_size", absl::StrCat(c.hidden_size, " is not a multiple of ",
                                             "num_attention_heads ", c.num_attention_heads));
  }
  if (c.layer_norm_eps <= 0 || c.layer_norm_eps > 1) {
    return r.Bad("layer_norm_eps", "must be in (0, 1]");
  }
  for (auto [key, p] :
       {std::pair{"hidden_dropout_prob", c.hidden_dropout_prob},
        std::pair{"attention_probs_dropout_prob", c.attention_probs_dropout_prob}}) {
    if (!(p >= 0 && p < 1)) return r.Bad(key, "must be in [0, 1)");
  }
  if (c.classifier_dropout >= 1) return r.Bad("classifier_dropout", "must be in [0, 1)");
  if (!(c.initializer_range >= 0)) return r.Bad("initializer_range", "must be >= 0");
  if (auto it = root->find("id2label"); it != root->end() && it->is_object()) {
    std::map<int64_t, std::string> labels;
    for (const auto& [key, value] : it->items()) {
      int64_t id = 0;
      if (!absl::SimpleAtoi(key, &id) || id < 0 || id >= 1 << 20 || !value.is_string()) {
        return r.Bad("id2label", absl::StrCat("entry '", key, "' is not id: label"));
      }
      labels[id] = value.get<std::string>();
    }
    for (int64_t i = 0; i < static_cast<int64_t>(labels.size()); ++i) {
      if (!labels.count(i)) return r.Bad("id2label", absl::StrCat("has no label for id ", i));
      c.id2label.push_back(labels[i]);
    }
  }
  return c;
}

}  // namespace trustformers::models
