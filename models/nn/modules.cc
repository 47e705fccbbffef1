#include "models/nn/modules.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "models/nn/functional.h"

namespace trustformers::nn {

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [name, p] : named_parameters()) out.push_back(p);
  return out;
}

void Module::zero_grad() const {
  for (const Tensor& p : parameters()) p.zero_grad();
}

Linear::Linear(int64_t in_features, int64_t out_features, Generator& generator, bool with_bias) {
  in_features = std::max<int64_t>(in_features, 0);
  out_features = std::max<int64_t>(out_features, 0);
  const float bound = in_features > 0 ? 1.0f / std::sqrt(static_cast<float>(in_features)) : 0.0f;
  weight = Tensor::rand_uniform({out_features, in_features}, generator, -bound, bound, true);
  if (with_bias) bias = Tensor::rand_uniform({out_features}, generator, -bound, bound, true);
}

absl::StatusOr<Tensor> Linear::forward(const Tensor& x) { return linear(x, weight, bias); }

std::vector<std::pair<std::string, Tensor>> Linear::named_parameters() const {
  std::vector<std::pair<std::string, Tensor>> out{{"weight", weight}};
  if (bias.defined()) out.emplace_back("bias", bias);
  return out;
}

absl::StatusOr<Tensor> ReLU::forward(const Tensor& x) { return relu(x); }
absl::StatusOr<Tensor> GELU::forward(const Tensor& x) { return gelu(x); }

LayerNorm::LayerNorm(int64_t dim, float eps)
    : weight(Tensor::ones({dim}, true)), bias(Tensor::zeros({dim}, true)), epsilon(eps) {}

absl::StatusOr<Tensor> LayerNorm::forward(const Tensor& x) {
  return layer_norm(x, weight, bias, epsilon);
}

std::vector<std::pair<std::string, Tensor>> LayerNorm::named_parameters() const {
  return {{"weight", weight}, {"bias", bias}};
}

Embedding::Embedding(int64_t count, int64_t dim, Generator& generator)
    : weight(Tensor::randn({std::max<int64_t>(count, 0), std::max<int64_t>(dim, 0)}, generator,
                           1.0f, true)) {}

absl::StatusOr<Tensor> Embedding::forward(const std::vector<int64_t>& ids, const Shape& shape) {
  int64_t count = 1;
  for (int64_t d : shape) count *= d;
  if (count != static_cast<int64_t>(ids.size())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Embedding: ", ids.size(), " ids do not fill shape ", backends::ShapeString(shape)));
  }
  absl::StatusOr<Tensor> rows = index(weight, ids);  // [N, dim]
  if (!rows.ok()) return rows.status();
  Shape out_shape = shape;
  out_shape.push_back(weight.dim(1));
  return reshape(*rows, out_shape);
}

absl::StatusOr<Tensor> Embedding::forward(const Tensor& ids) {
  std::vector<int64_t> values;
  for (float v : ids.to_vec()) {
    if (v != std::floor(v)) {
      return absl::InvalidArgumentError(absl::StrCat("Embedding: id ", v, " is not an integer"));
    }
    values.push_back(static_cast<int64_t>(v));
  }
  return forward(values, ids.shape());
}

std::vector<std::pair<std::string, Tensor>> Embedding::named_parameters() const {
  return {{"weight", weight}};
}

absl::StatusOr<Tensor> Dropout::forward(const Tensor& x) {
  return dropout(x, p_, training(), generator_);
}

Sequential& Sequential::add(std::shared_ptr<Module> module) {
  modules_.push_back(std::move(module));
  return *this;
}

absl::StatusOr<Tensor> Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (size_t i = 0; i < modules_.size(); ++i) {
    absl::StatusOr<Tensor> next = modules_[i]->forward(h);
    if (!next.ok()) {
      return absl::Status(next.status().code(),
                          absl::StrCat("Sequential[", i, "]: ", next.status().message()));
    }
    h = *std::move(next);
  }
  return h;
}

std::vector<std::pair<std::string, Tensor>> Sequential::named_parameters() const {
  std::vector<std::pair<std::string, Tensor>> out;
  for (size_t i = 0; i < modules_.size(); ++i) {
    for (auto& [name, p] : modules_[i]->named_parameters()) {
      out.emplace_back(absl::StrCat(i, ".", name), p);
    }
  }
  return out;
}

void Sequential::train(bool on) {
  Module::train(on);
  for (auto& m : modules_) m->train(on);
}

}  // namespace trustformers::nn
