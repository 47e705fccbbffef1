// The BERT encoder against PyTorch: embeddings from sentence-transformers and logits from
// transformers' BertForSequenceClassification, recorded by tests/golden/bert/make_fixtures.py.
// Token ids come from the fixture, so these tests check the model alone.
#include "models/bert/bert_model.h"

#include <cmath>
#include <filesystem>

#include "catch2/catch.hpp"
#include "models/bert/sentence_pooling.h"
#include "unit/models/model_fixtures.h"
#include "unit/temp_dir.h"

namespace trustformers::models {
namespace {

using backends::Tensor;
using nlohmann::json;

struct Comparison {
  double max_abs_diff = 0;
  double min_cosine = 1;
};

void Compare(const float* got, const json& expected, Comparison* c) {
  double dot = 0, a2 = 0, b2 = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    const double e = expected[i].get<double>();
    c->max_abs_diff = std::max(c->max_abs_diff, std::abs(got[i] - e));
    dot += got[i] * e;
    a2 += double{got[i]} * got[i];
    b2 += e * e;
  }
  c->min_cosine = std::min(c->min_cosine, dot / std::sqrt(a2 * b2));
}

// Embeds fixture sentences [begin, end) as one packed batch; compares with sentence-transformers.
void CheckEmbeddings(const BertModel& model, const SentencePooling& pooling, const json& sentences,
                     size_t begin, size_t end, Comparison* c) {
  std::vector<EncoderInput> batch;
  for (size_t i = begin; i < end; ++i) {
    batch.push_back({sentences[i]["token_ids"].get<std::vector<int32_t>>(), {}});
  }
  backends::SequenceOffsets offsets;
  absl::StatusOr<Tensor> hidden = model.Forward(batch, &offsets);
  REQUIRE(hidden.ok());
  absl::StatusOr<Tensor> pooled = backends::Pool(*hidden, offsets, pooling.mode);
  REQUIRE(pooled.ok());
  if (pooling.normalize) REQUIRE(backends::L2NormalizeRowsInPlace(*pooled).ok());
  for (size_t i = begin; i < end; ++i) {
    Compare(pooled->data<float>() + (i - begin) * pooled->dim(1), sentences[i]["embedding"], c);
  }
}

TEST_CASE("bert: all-MiniLM embeddings equal sentence-transformers", "[models][bert]") {
  absl::StatusOr<std::unique_ptr<BertModel>> model = BertModel::Load(testing::MiniLmDir());
  REQUIRE(model.ok());
  CHECK((*model)->parameter_count() > 22'000'000);
  absl::StatusOr<SentencePooling> pooling = ReadSentencePooling(testing::MiniLmDir());
  REQUIRE(pooling.ok());
  CHECK(pooling->mode == backends::PoolingMode::kMean);
  CHECK(pooling->normalize);
  CHECK(pooling->max_seq_length == 256);

  const json sentences = testing::ReadGolden("bert/embeddings.json")["sentences"];
  REQUIRE(sentences.size() >= 50);
  for (size_t batch : {size_t{1}, size_t{32}}) {
    Comparison c;
    for (size_t begin = 0; begin < sentences.size(); begin += batch) {
      CheckEmbeddings(**model, *pooling, sentences, begin,
                      std::min(sentences.size(), begin + batch), &c);
    }
    INFO("batch " << batch << ": max |diff| " << c.max_abs_diff << ", min cosine " << c.min_cosine);
    CHECK(c.max_abs_diff <= 1e-4);
    CHECK(c.min_cosine >= 0.99999);
  }
}

TEST_CASE("bert: sequence-classification logits equal transformers", "[models][bert]") {
  testing::TempDir dir;
  absl::StatusOr<std::unique_ptr<BertModel>> model =
      BertModel::Load(testing::AssembleClassifier(dir, "classifier_config.json"));
  REQUIRE(model.ok());
  REQUIRE((*model)->has_classifier());
  CHECK((*model)->num_labels() == 3);
  CHECK((*model)->config().id2label == std::vector<std::string>{"negative", "neutral", "positive"});

  const json fixture = testing::ReadGolden("bert/classification.json");
  double max_diff = 0;
  size_t checked = 0;
  for (const char* group : {"single_label", "pairs"}) {
    std::vector<EncoderInput> batch;
    for (const json& item : fixture[group]) {
      EncoderInput input{item["input_ids"].get<std::vector<int32_t>>(), {}};
      if (item.contains("token_type_ids")) {
        input.type_ids = item["token_type_ids"].get<std::vector<int32_t>>();
      }
      batch.push_back(std::move(input));
    }
    backends::SequenceOffsets offsets;
    absl::StatusOr<Tensor> hidden = (*model)->Forward(batch, &offsets);
    REQUIRE(hidden.ok());
    absl::StatusOr<Tensor> logits = (*model)->ClassifierLogits(*hidden, offsets);
    REQUIRE(logits.ok());
    for (size_t i = 0; i < batch.size(); ++i) {
      const json& expected = fixture[group][i]["logits"];
      for (size_t l = 0; l < 3; ++l) {
        max_diff = std::max(max_diff,
                            std::abs(logits->data<float>()[i * 3 + l] - expected[l].get<double>()));
      }
      ++checked;
    }
  }
  INFO("max |logit diff| " << max_diff << " over " << checked << " inputs");
  CHECK(checked >= 40);
  CHECK(max_diff <= 1e-4);
}

TEST_CASE("bert: bad inputs and bad checkpoints are clear errors", "[models][bert]") {
  absl::StatusOr<std::unique_ptr<BertModel>> model = BertModel::Load(testing::MiniLmDir());
  REQUIRE(model.ok());
  backends::SequenceOffsets offsets;
  CHECK((*model)->Forward({}, &offsets).status().message() == "Forward: the batch is empty");
  CHECK(
      (*model)->Forward({{{101, 99999, 102}, {}}}, &offsets).status().message().find("id 99999") !=
      std::string::npos);
  CHECK((*model)
            ->Forward({{std::vector<int32_t>(513, 100), {}}}, &offsets)
            .status()
            .message()
            .find("has 513 tokens; the model accepts at most 512") != std::string::npos);
  CHECK((*model)
            ->ClassifierLogits(Tensor::Zeros(backends::DType::kF32, {1, 384}), {0, 1})
            .status()
            .code() == absl::StatusCode::kFailedPrecondition);

  testing::TempDir dir;
  dir.Write("m/config.json",
            R"({"model_type":"bert","vocab_size":10,"hidden_size":8,"num_attention_heads":2,
                "num_hidden_layers":1,"intermediate_size":16,"max_position_embeddings":4})");
  std::string header = R"({"embeddings.word_embeddings.weight":)"
                       R"({"dtype":"F32","shape":[10,4],"data_offsets":[0,160]}})";
  std::string file(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(file.data(), &n, 8);
  dir.Write("m/model.safetensors", file + header + std::string(160, '\0'));
  absl::StatusOr<std::unique_ptr<BertModel>> bad = BertModel::Load((dir.path() / "m").string());
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("weight 'embeddings.word_embeddings.weight' has shape "
                                    "[10, 4] but config.json implies [10, 8]") !=
        std::string::npos);
  dir.Write("m/config.json", R"({"vocab_size":10,"hidden_size":9,"num_attention_heads":2})");
  CHECK(BertModel::Load((dir.path() / "m").string())
            .status()
            .message()
            .find("9 is not a multiple of num_attention_heads 2") != std::string::npos);
}

}  // namespace
}  // namespace trustformers::models
