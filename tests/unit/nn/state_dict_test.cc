// save_state_dict / load_state_dict: a round trip restores every parameter exactly, the file is a
// valid safetensors file under the modules' names, and a file that does not fit is refused
// without changing the model.
#include "models/nn/state_dict.h"

#include <memory>

#include "catch2/catch.hpp"
#include "models/loader/safetensors.h"
#include "unit/temp_dir.h"

namespace trustformers::nn {
namespace {

std::shared_ptr<Sequential> MakeModel(uint64_t seed, int64_t hidden = 3) {
  Generator generator(seed);
  auto model = std::make_shared<Sequential>();
  model->add(std::make_shared<Linear>(4, hidden, generator));
  model->add(std::make_shared<GELU>());
  model->add(std::make_shared<LayerNorm>(hidden));
  return model;
}

TEST_CASE("state dict: a round trip restores every parameter exactly", "[nn]") {
  testing::TempDir dir;
  const std::string path = (dir.path() / "model.safetensors").string();
  auto saved = MakeModel(1);
  REQUIRE(save_state_dict(*saved, path).ok());

  absl::StatusOr<std::unique_ptr<models::SafetensorsFile>> file =
      models::SafetensorsFile::Open(path);
  REQUIRE(file.ok());
  CHECK((*file)->metadata().at("format") == "pt");
  const models::SafetensorsTensor* weight = (*file)->Find("0.weight");
  REQUIRE(weight != nullptr);
  CHECK(weight->shape == std::vector<int64_t>{3, 4});
  CHECK((*file)->Find("2.bias") != nullptr);

  auto loaded = MakeModel(2);
  CHECK(loaded->named_parameters()[0].second.to_vec() !=
        saved->named_parameters()[0].second.to_vec());
  REQUIRE(load_state_dict(*loaded, path).ok());
  const auto a = saved->named_parameters();
  const auto b = loaded->named_parameters();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CAPTURE(a[i].first);
    CHECK(a[i].second.to_vec() == b[i].second.to_vec());
  }
}

TEST_CASE("state dict: a file that does not fit is refused and changes nothing", "[nn]") {
  testing::TempDir dir;
  const std::string path = (dir.path() / "model.safetensors").string();
  REQUIRE(save_state_dict(*MakeModel(1, 5), path).ok());
  auto model = MakeModel(2);
  const std::vector<float> before = model->named_parameters()[0].second.to_vec();
  const absl::Status shape = load_state_dict(*model, path);
  CHECK(shape.code() == absl::StatusCode::kInvalidArgument);
  CHECK(shape.message().find("0.weight is [5, 4] in the file, [3, 4] in the model") !=
        std::string::npos);
  CHECK(model->named_parameters()[0].second.to_vec() == before);

  // A file holding only part of the model: strict names what is missing; non-strict loads it.
  auto part = std::make_shared<Sequential>();
  Generator generator(3);
  part->add(std::make_shared<Linear>(4, 3, generator));
  REQUIRE(save_state_dict(*part, path).ok());
  const absl::Status strict = load_state_dict(*model, path);
  CHECK(strict.message().find("missing: [2.weight, 2.bias]") != std::string::npos);
  REQUIRE(load_state_dict(*model, path, /*strict=*/false).ok());
  CHECK(model->named_parameters()[0].second.to_vec() ==
        part->named_parameters()[0].second.to_vec());

  CHECK(load_state_dict(*model, (dir.path() / "absent.safetensors").string()).code() ==
        absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace trustformers::nn
