// The trainable BertForSequenceClassification against transformers + PyTorch: logits, loss and
// the gradient of every parameter of a small random model on a padded batch with a sentence pair
// (tests/golden/bert_train/make_fixtures.py), then what it saves served by the inference model.
#include "models/nn/bert_classifier.h"

#include <cmath>
#include <filesystem>

#include "catch2/catch.hpp"
#include "models/bert/bert_model.h"
#include "models/loader/safetensors.h"
#include "models/nn/functional.h"
#include "unit/models/model_fixtures.h"
#include "unit/temp_dir.h"

namespace trustformers::nn {
namespace {

using json = nlohmann::json;

std::string TinyDir() { return testing::GoldenDir() + "/bert_train/tiny"; }

BertInputs TinyInputs(const json& fixture) {
  BertInputs in;
  const auto ids = fixture["input_ids"].get<std::vector<std::vector<int64_t>>>();
  const auto types = fixture["token_type_ids"].get<std::vector<std::vector<int64_t>>>();
  const auto mask = fixture["attention_mask"].get<std::vector<std::vector<int>>>();
  in.batch = static_cast<int64_t>(ids.size());
  in.length = static_cast<int64_t>(ids[0].size());
  for (size_t b = 0; b < ids.size(); ++b) {
    in.ids.insert(in.ids.end(), ids[b].begin(), ids[b].end());
    in.type_ids.insert(in.type_ids.end(), types[b].begin(), types[b].end());
    std::vector<bool> keep;
    for (int m : mask[b]) keep.push_back(m != 0);
    in.keep.push_back(keep);
  }
  return in;
}

// max |ours - theirs| / max |theirs|.
double RelativeError(const float* ours, const float* theirs, int64_t n) {
  double diff = 0, scale = 1e-30;
  for (int64_t i = 0; i < n; ++i) {
    diff = std::max(diff, std::abs(double{ours[i]} - double{theirs[i]}));
    scale = std::max(scale, std::abs(double{theirs[i]}));
  }
  return diff / scale;
}

std::unique_ptr<BertForSequenceClassification> LoadTiny(double dropout = -1.0) {
  BertClassifierOptions options;
  options.num_labels = 3;
  options.dropout = dropout;
  auto model = BertForSequenceClassification::FromPretrained(TinyDir(), options);
  REQUIRE(model.ok());
  return *std::move(model);
}

TEST_CASE("BertForSequenceClassification: logits, loss and every gradient match PyTorch",
          "[nn][bert]") {
  const json fixture = testing::ReadGolden("bert_train/tiny_batch.json");
  auto model = LoadTiny();
  const BertInputs in = TinyInputs(fixture);
  absl::StatusOr<Tensor> logits = model->logits(in);
  REQUIRE(logits.ok());
  const auto want_logits = fixture["logits"].get<std::vector<std::vector<float>>>();
  std::vector<float> flat;
  for (const auto& row : want_logits) flat.insert(flat.end(), row.begin(), row.end());
  REQUIRE(logits->numel() == static_cast<int64_t>(flat.size()));
  CHECK(RelativeError(logits->data(), flat.data(), logits->numel()) < 1e-5);

  absl::StatusOr<Tensor> loss =
      cross_entropy(*logits, fixture["labels"].get<std::vector<int64_t>>());
  REQUIRE(loss.ok());
  CHECK(std::abs(loss->data()[0] - fixture["loss"].get<float>()) < 1e-5);
  REQUIRE(loss->backward().ok());

  auto grads =
      models::SafetensorsFile::Open(testing::GoldenDir() + "/bert_train/tiny_grads.safetensors");
  REQUIRE(grads.ok());
  const auto params = model->named_parameters();
  CHECK(params.size() == (*grads)->tensors().size());
  for (const auto& [name, param] : params) {
    INFO(name);
    const models::SafetensorsTensor* want = (*grads)->Find(name);
    REQUIRE(want != nullptr);
    REQUIRE(want->shape == std::vector<int64_t>(param.shape().begin(), param.shape().end()));
    const Tensor grad = param.grad();
    REQUIRE(grad.defined());
    const auto* reference = reinterpret_cast<const float*>(want->bytes.data());
    double largest = 0, ours = 0;
    for (int64_t i = 0; i < grad.numel(); ++i) {
      largest = std::max(largest, std::abs(double{reference[i]}));
      ours = std::max(ours, std::abs(double{grad.data()[i]}));
    }
    if (largest < 1e-6) {
      // The key bias adds q.b to every score of a query row, which softmax cancels: its true
      // gradient is 0, and both sides hold rounding noise of different digits.
      CHECK(ours < 1e-6);
      continue;
    }
    CHECK(RelativeError(grad.data(), reference, grad.numel()) < 1e-4);
  }
}

TEST_CASE("BertForSequenceClassification: a saved model is what the inference model serves",
          "[nn][bert]") {
  auto model = LoadTiny();
  model->eval();
  testing::TempDir dir;
  const std::string out = (dir.path() / "saved").string();
  REQUIRE(model->SavePretrained(out).ok());
  for (const char* file : {"config.json", "model.safetensors"}) {
    CHECK(std::filesystem::exists(std::filesystem::path(out) / file));
  }
  auto served = models::BertModel::Load(out);
  REQUIRE(served.ok());
  REQUIRE((*served)->has_classifier());
  CHECK((*served)->config().id2label == std::vector<std::string>{"LABEL_0", "LABEL_1", "LABEL_2"});

  const json fixture = testing::ReadGolden("bert_train/tiny_batch.json");
  const BertInputs in = TinyInputs(fixture);
  absl::StatusOr<Tensor> trained = model->logits(in);
  REQUIRE(trained.ok());
  // The inference model takes unpadded sequences.
  std::vector<models::EncoderInput> batch;
  for (int64_t b = 0; b < in.batch; ++b) {
    models::EncoderInput input;
    for (int64_t t = 0; t < in.length; ++t) {
      const auto cell = static_cast<size_t>(b * in.length + t);
      if (!in.keep[static_cast<size_t>(b)][static_cast<size_t>(t)]) continue;
      input.ids.push_back(static_cast<int32_t>(in.ids[cell]));
      input.type_ids.push_back(static_cast<int32_t>(in.type_ids[cell]));
    }
    batch.push_back(input);
  }
  backends::SequenceOffsets offsets;
  auto hidden = (*served)->Forward(batch, &offsets);
  REQUIRE(hidden.ok());
  auto served_logits = (*served)->ClassifierLogits(*hidden, offsets);
  REQUIRE(served_logits.ok());
  REQUIRE(served_logits->element_count() == trained->numel());
  CHECK(RelativeError(served_logits->data<float>(), trained->data(), trained->numel()) < 1e-4);
}

TEST_CASE("BertForSequenceClassification: a new head, dropout and bad inputs", "[nn][bert]") {
  BertClassifierOptions options;
  options.num_labels = 5;
  options.labels = {"a", "b", "c", "d", "e"};
  options.seed = 7;
  auto model = BertForSequenceClassification::FromPretrained(TinyDir(), options);
  REQUIRE(model.ok());
  CHECK((*model)->num_labels() == 5);
  CHECK((*model)->labels()[4] == "e");
  // A new head is drawn from N(0, initializer_range) with zero bias, the same for the same seed.
  auto again = BertForSequenceClassification::FromPretrained(TinyDir(), options);
  REQUIRE(again.ok());
  const auto a = (*model)->named_parameters().back();
  CHECK(a.first == "classifier.bias");
  CHECK(a.second.to_vec() == std::vector<float>(5, 0.0f));
  CHECK((*model)->named_parameters()[(*model)->named_parameters().size() - 2].second.to_vec() ==
        (*again)->named_parameters()[(*again)->named_parameters().size() - 2].second.to_vec());

  BertInputs in;
  in.batch = 1;
  in.length = 3;
  in.ids = {2, 99, 3};  // the tiny vocabulary has 64 entries
  auto bad_id = (*model)->logits(in);
  CHECK(bad_id.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(bad_id.status().message()).find("99") != std::string::npos);
  in.ids = {2, 9};
  CHECK((*model)->logits(in).status().code() == absl::StatusCode::kInvalidArgument);
  in.length = 40;  // beyond max_position_embeddings 32
  in.ids.assign(40, 5);
  CHECK((*model)->logits(in).status().code() == absl::StatusCode::kInvalidArgument);

  options.labels = {"only one"};
  CHECK(BertForSequenceClassification::FromPretrained(TinyDir(), options).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(BertForSequenceClassification::FromPretrained("/nonexistent", BertClassifierOptions{})
            .status()
            .code() != absl::StatusCode::kOk);

  // With dropout on, training mode differs between calls and evaluation mode does not.
  auto noisy = LoadTiny(0.3);
  const BertInputs tiny = TinyInputs(testing::ReadGolden("bert_train/tiny_batch.json"));
  auto first = noisy->logits(tiny), second = noisy->logits(tiny);
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  CHECK(first->to_vec() != second->to_vec());
  noisy->eval();
  auto third = noisy->logits(tiny), fourth = noisy->logits(tiny);
  CHECK(third->to_vec() == fourth->to_vec());
}

}  // namespace
}  // namespace trustformers::nn
