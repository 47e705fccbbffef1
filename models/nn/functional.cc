#include "models/nn/functional.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "backends/ops.h"
#include "backends/status_macros.h"
#include "backends/xoshiro.h"

namespace trustformers::nn {
namespace {

namespace bt = backends::training;
using BTensor = backends::Tensor;
using Grads = absl::StatusOr<std::vector<BTensor>>;

// x's value broadcast to `shape` (the value itself when it already has that shape).
absl::StatusOr<BTensor> Expand(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x.value();
  return bt::BroadcastTo(x.value(), shape);
}

absl::Status Undefined(absl::string_view op) {
  return absl::InvalidArgumentError(absl::StrCat(op, ": undefined tensor"));
}

absl::StatusOr<Tensor> Binary(const Tensor& a, const Tensor& b, absl::string_view op) {
  if (!a.defined() || !b.defined()) return Undefined(op);
  TF_ASSIGN_OR_RETURN(const Shape shape, bt::BroadcastShapes(a.shape(), b.shape()));
  TF_ASSIGN_OR_RETURN(BTensor av, Expand(a, shape));
  TF_ASSIGN_OR_RETURN(BTensor bv, Expand(b, shape));
  const Shape sa = a.shape(), sb = b.shape();
  if (op == "add" || op == "sub") {
    const float sign = op == "add" ? 1.0f : -1.0f;
    TF_ASSIGN_OR_RETURN(BTensor y, op == "add" ? bt::Add(av, bv) : bt::Sub(av, bv));
    return MakeResult(std::move(y), std::string(op), {a, b},
                      [sa, sb, sign](const BTensor& dy) -> Grads {
                        TF_ASSIGN_OR_RETURN(BTensor da, bt::SumToShape(dy, sa));
                        TF_ASSIGN_OR_RETURN(BTensor db, bt::SumToShape(dy, sb));
                        if (sign < 0) db = bt::Affine(db, -1.0f, 0.0f);
                        return std::vector<BTensor>{std::move(da), std::move(db)};
                      });
  }
  TF_ASSIGN_OR_RETURN(BTensor y, bt::Mul(av, bv));
  return MakeResult(std::move(y), "mul", {a, b}, [sa, sb, av, bv](const BTensor& dy) -> Grads {
    TF_ASSIGN_OR_RETURN(BTensor ga, bt::Mul(dy, bv));
    TF_ASSIGN_OR_RETURN(BTensor gb, bt::Mul(dy, av));
    TF_ASSIGN_OR_RETURN(BTensor da, bt::SumToShape(ga, sa));
    TF_ASSIGN_OR_RETURN(BTensor db, bt::SumToShape(gb, sb));
    return std::vector<BTensor>{std::move(da), std::move(db)};
  });
}

}  // namespace

absl::StatusOr<Tensor> add(const Tensor& a, const Tensor& b) { return Binary(a, b, "add"); }
absl::StatusOr<Tensor> sub(const Tensor& a, const Tensor& b) { return Binary(a, b, "sub"); }
absl::StatusOr<Tensor> mul(const Tensor& a, const Tensor& b) { return Binary(a, b, "mul"); }

Tensor affine(const Tensor& x, float scale, float shift) {
  return MakeResult(bt::Affine(x.value(), scale, shift), "affine", {x},
                    [scale](const BTensor& dy) -> Grads {
                      return std::vector<BTensor>{bt::Affine(dy, scale, 0.0f)};
                    });
}

absl::StatusOr<Tensor> broadcast_to(const Tensor& x, const Shape& shape) {
  if (!x.defined()) return Undefined("broadcast_to");
  TF_ASSIGN_OR_RETURN(BTensor y, bt::BroadcastTo(x.value(), shape));
  const Shape from = x.shape();
  return MakeResult(std::move(y), "broadcast_to", {x}, [from](const BTensor& dy) -> Grads {
    TF_ASSIGN_OR_RETURN(BTensor dx, bt::SumToShape(dy, from));
    return std::vector<BTensor>{std::move(dx)};
  });
}

absl::StatusOr<Tensor> reshape(const Tensor& x, Shape shape) {
  if (!x.defined()) return Undefined("reshape");
  int64_t known = 1;
  int inferred = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1 && inferred < 0) {
      inferred = static_cast<int>(i);
    } else if (shape[i] < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("reshape: bad shape ", backends::ShapeString(shape)));
    } else {
      known *= shape[i];
    }
  }
  if (inferred >= 0) {
    if (known == 0 || x.numel() % known != 0) {
      return absl::InvalidArgumentError(absl::StrCat("reshape: cannot infer -1 reshaping ",
                                                     x.Describe(), " to ",
                                                     backends::ShapeString(shape)));
    }
    shape[static_cast<size_t>(inferred)] = x.numel() / known;
  }
  TF_ASSIGN_OR_RETURN(BTensor y, x.value().Reshape(shape));
  const Shape from = x.shape();
  return MakeResult(std::move(y), "reshape", {x}, [from](const BTensor& dy) -> Grads {
    TF_ASSIGN_OR_RETURN(BTensor dx, dy.Reshape(from));
    return std::vector<BTensor>{std::move(dx)};
  });
}

absl::StatusOr<Tensor> transpose(const Tensor& x, int d0, int d1) {
  if (!x.defined()) return Undefined("transpose");
  TF_ASSIGN_OR_RETURN(BTensor y, bt::Transpose(x.value(), d0, d1));
  return MakeResult(std::move(y), "transpose", {x}, [d0, d1](const BTensor& dy) -> Grads {
    TF_ASSIGN_OR_RETURN(BTensor dx, bt::Transpose(dy, d0, d1));
    return std::vector<BTensor>{std::move(dx)};
  });
}

absl::StatusOr<Tensor> index(const Tensor& x, const std::vector<int64_t>& ids) {
  if (!x.defined()) return Undefined("index");
  if (x.rank() < 1) return absl::InvalidArgumentError("index: needs a tensor of rank >= 1");
  const int64_t rows = x.dim(0);
  const int64_t width = rows == 0 ? 0 : x.numel() / rows;
  std::vector<int32_t> ids32(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= rows) {
      return absl::InvalidArgumentError(
          absl::StrCat("index: id ", ids[i], " at position ", i, " is outside [0, ", rows, ")"));
    }
    ids32[i] = static_cast<int32_t>(ids[i]);
  }
  TF_ASSIGN_OR_RETURN(BTensor table, x.value().Reshape({rows, width}));
  TF_ASSIGN_OR_RETURN(BTensor picked, backends::Gather(table, ids32));
  Shape out_shape = x.shape();
  out_shape[0] = static_cast<int64_t>(ids.size());
  TF_ASSIGN_OR_RETURN(BTensor y, picked.Reshape(out_shape));
  const Shape from = x.shape();
  return MakeResult(
      std::move(y), "index", {x}, [from, ids32, rows, width](const BTensor& dy) -> Grads {
        TF_ASSIGN_OR_RETURN(BTensor dy2, dy.Reshape({static_cast<int64_t>(ids32.size()), width}));
        TF_ASSIGN_OR_RETURN(BTensor dx, bt::ScatterAddRows(dy2, ids32, rows));
        TF_ASSIGN_OR_RETURN(BTensor out, dx.Reshape(from));
        return std::vector<BTensor>{std::move(out)};
      });
}

absl::StatusOr<Tensor> scatter_rows(const Tensor& x, const std::vector<int64_t>& positions,
                                    int64_t rows) {
  if (!x.defined()) return Undefined("scatter_rows");
  if (x.rank() < 1 || x.dim(0) != static_cast<int64_t>(positions.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat("scatter_rows: ", x.Describe(), " for ", positions.size(), " positions"));
  }
  const int64_t count = x.dim(0);
  const int64_t width = count == 0 ? 0 : x.numel() / count;
  std::vector<int32_t> ids(positions.size());
  for (size_t i = 0; i < positions.size(); ++i) {
    if (positions[i] < 0 || positions[i] >= rows) {
      return absl::InvalidArgumentError(
          absl::StrCat("scatter_rows: position ", positions[i], " is outside [0, ", rows, ")"));
    }
    ids[i] = static_cast<int32_t>(positions[i]);
  }
  TF_ASSIGN_OR_RETURN(BTensor x2, x.value().Reshape({count, width}));
  TF_ASSIGN_OR_RETURN(BTensor placed, bt::ScatterAddRows(x2, ids, rows));  // [rows, width]
  Shape out_shape = x.shape();
  out_shape[0] = rows;
  TF_ASSIGN_OR_RETURN(BTensor y, placed.Reshape(out_shape));
  const Shape from = x.shape();
  return MakeResult(std::move(y), "scatter_rows", {x},
                    [from, ids, rows, width](const BTensor& dy) -> Grads {
                      TF_ASSIGN_OR_RETURN(BTensor dy2, dy.Reshape({rows, width}));
                      TF_ASSIGN_OR_RETURN(BTensor picked, backends::Gather(dy2, ids));
                      TF_ASSIGN_OR_RETURN(BTensor dx, picked.Reshape(from));
                      return std::vector<BTensor>{std::move(dx)};
                    });
}

absl::StatusOr<Tensor> stack(const std::vector<Tensor>& parts) {
  if (parts.empty()) return absl::InvalidArgumentError("stack: nothing to stack");
  const Shape part_shape = parts[0].shape();
  Shape row_shape = part_shape;
  row_shape.insert(row_shape.begin(), 1);
  std::vector<BTensor> rows;
  for (const Tensor& p : parts) {
    if (!p.defined()) return Undefined("stack");
    if (p.shape() != part_shape) {
      return absl::InvalidArgumentError(
          absl::StrCat("stack: ", p.Describe(), " differs from ", parts[0].Describe()));
    }
    TF_ASSIGN_OR_RETURN(BTensor r, p.value().Reshape(row_shape));
    rows.push_back(std::move(r));
  }
  TF_ASSIGN_OR_RETURN(BTensor y, backends::ConcatRows(rows));
  const int64_t n = static_cast<int64_t>(parts.size());
  return MakeResult(std::move(y), "stack", parts, [part_shape, n](const BTensor& dy) -> Grads {
    std::vector<BTensor> grads;
    for (int64_t i = 0; i < n; ++i) {
      TF_ASSIGN_OR_RETURN(BTensor g, dy.Rows(i, i + 1).Reshape(part_shape));
      grads.push_back(std::move(g));
    }
    return grads;
  });
}

absl::StatusOr<Tensor> matmul(const Tensor& a, const Tensor& b) {
  if (!a.defined() || !b.defined()) return Undefined("matmul");
  TF_ASSIGN_OR_RETURN(BTensor y, bt::MatMul(a.value(), b.value()));
  BTensor av = a.value(), bv = b.value();
  return MakeResult(std::move(y), "matmul", {a, b}, [av, bv](const BTensor& dy) -> Grads {
    TF_ASSIGN_OR_RETURN(bt::MatMulGrads g, bt::MatMulBackward(dy, av, bv));
    return std::vector<BTensor>{std::move(g.da), std::move(g.db)};
  });
}

absl::StatusOr<Tensor> linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  if (!x.defined() || !weight.defined()) return Undefined("linear");
  if (x.rank() < 1 || weight.rank() != 2 || x.dim(-1) != weight.dim(1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("linear: input ", x.Describe(), " does not match weight ", weight.Describe()));
  }
  const int64_t k = weight.dim(1), n = weight.dim(0);
  if (bias.defined() && bias.shape() != Shape{n}) {
    return absl::InvalidArgumentError(absl::StrCat("linear: bias ", bias.Describe(),
                                                   " does not match weight ", weight.Describe()));
  }
  const int64_t m = k == 0 ? 0 : x.numel() / k;
  TF_ASSIGN_OR_RETURN(BTensor x2, x.value().Reshape({m, k}));                    // [M, K]
  TF_ASSIGN_OR_RETURN(BTensor y2, bt::MatMul(x2, weight.value(), false, true));  // [M, N]
  if (bias.defined()) {
    float* y = y2.data<float>();
    const float* b = bias.data();
#pragma omp parallel for schedule(static) if (m * n > (1 << 15))
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) y[i * n + j] += b[j];
    }
  }
  Shape out_shape = x.shape();
  out_shape.back() = n;
  TF_ASSIGN_OR_RETURN(BTensor y, y2.Reshape(out_shape));
  const Shape x_shape = x.shape();
  BTensor w = weight.value();
  const bool has_bias = bias.defined();
  std::vector<Tensor> inputs{x, weight};
  if (has_bias) inputs.push_back(bias);
  return MakeResult(std::move(y), "linear", inputs,
                    [x2, w, x_shape, m, n, has_bias](const BTensor& dy) -> Grads {
                      TF_ASSIGN_OR_RETURN(BTensor dy2, dy.Reshape({m, n}));               // [M, N]
                      TF_ASSIGN_OR_RETURN(BTensor dx2, bt::MatMul(dy2, w));               // [M, K]
                      TF_ASSIGN_OR_RETURN(BTensor dw, bt::MatMul(dy2, x2, true, false));  // [N, K]
                      TF_ASSIGN_OR_RETURN(BTensor dx, dx2.Reshape(x_shape));
                      std::vector<BTensor> grads{std::move(dx), std::move(dw)};
                      if (has_bias) {
                        TF_ASSIGN_OR_RETURN(BTensor db, bt::SumToShape(dy2, {n}));  // [N]
                        grads.push_back(std::move(db));
                      }
                      return grads;
                    });
}

absl::StatusOr<Tensor> relu(const Tensor& x) {
  if (!x.defined()) return Undefined("relu");
  TF_ASSIGN_OR_RETURN(BTensor y, bt::Relu(x.value()));
  BTensor xv = x.value();
  return MakeResult(std::move(y), "relu", {x}, [xv](const BTensor& dy) -> Grads {
    TF_ASSIGN_OR_RETURN(BTensor dx, bt::ReluBackward(dy, xv));
    return std::vector<BTensor>{std::move(dx)};
  });
}

absl::StatusOr<Tensor> gelu(const Tensor& x) {
  if (!x.defined()) return Undefined("gelu");
  TF_ASSIGN_OR_RETURN(BTensor y, bt::Gelu(x.value()));
  BTensor xv = x.value();
  return MakeResult(std::move(y), "gelu", {x}, [xv](const BTensor& dy) -> Grads {
    TF_ASSIGN_OR_RETURN(BTensor dx, bt::GeluBackward(dy, xv));
    return std::vector<BTensor>{std::move(dx)};
  });
}

absl::StatusOr<Tensor> tanh(const Tensor& x) {
  if (!x.defined()) return Undefined("tanh");
  TF_ASSIGN_OR_RETURN(BTensor y, bt::Tanh(x.value()));
  return MakeResult(y, "tanh", {x}, [y](const BTensor& dy) -> Grads {
    TF_ASSIGN_OR_RETURN(BTensor dx, bt::TanhBackward(dy, y));
    return std::vector<BTensor>{std::move(dx)};
  });
}

absl::StatusOr<Tensor> softmax(const Tensor& x) {
  if (!x.defined()) return Undefined("softmax");
  TF_ASSIGN_OR_RETURN(BTensor y, bt::Softmax(x.value()));
  return MakeResult(y, "softmax", {x}, [y](const BTensor& dy) -> Grads {
    TF_ASSIGN_OR_RETURN(BTensor dx, bt::SoftmaxBackward(dy, y));
    return std::vector<BTensor>{std::move(dx)};
  });
}

absl::StatusOr<Tensor> log_softmax(const Tensor& x) {
  if (!x.defined()) return Undefined("log_softmax");
  TF_ASSIGN_OR_RETURN(BTensor y, bt::LogSoftmax(x.value()));
  return MakeResult(y, "log_softmax", {x}, [y](const BTensor& dy) -> Grads {
    TF_ASSIGN_OR_RETURN(BTensor dx, bt::LogSoftmaxBackward(dy, y));
    return std::vector<BTensor>{std::move(dx)};
  });
}

absl::StatusOr<Tensor> layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                  float epsilon) {
  if (!x.defined() || !weight.defined() || !bias.defined()) return Undefined("layer_norm");
  if (x.rank() < 1) return absl::InvalidArgumentError("layer_norm: needs rank >= 1");
  const int64_t h = x.dim(-1);
  const int64_t rows = h == 0 ? 0 : x.numel() / h;
  TF_ASSIGN_OR_RETURN(BTensor x2, x.value().Reshape({rows, h}));  // [M, H]
  TF_ASSIGN_OR_RETURN(bt::LayerNormResult r,
                      bt::LayerNormForward(x2, weight.value(), bias.value(), epsilon));
  TF_ASSIGN_OR_RETURN(BTensor y, r.y.Reshape(x.shape()));
  const Shape x_shape = x.shape();
  BTensor gamma = weight.value(), mean_v = r.mean, rstd = r.rstd;
  return MakeResult(
      std::move(y), "layer_norm", {x, weight, bias},
      [x2, gamma, mean_v, rstd, x_shape, rows, h](const BTensor& dy) -> Grads {
        TF_ASSIGN_OR_RETURN(BTensor dy2, dy.Reshape({rows, h}));
        TF_ASSIGN_OR_RETURN(bt::LayerNormGrads g,
                            bt::LayerNormBackward(dy2, x2, mean_v, rstd, gamma));
        TF_ASSIGN_OR_RETURN(BTensor dx, g.dx.Reshape(x_shape));
        return std::vector<BTensor>{std::move(dx), std::move(g.dgamma), std::move(g.dbeta)};
      });
}

absl::StatusOr<Tensor> dropout(const Tensor& x, float p, bool training, Generator& generator) {
  if (!x.defined()) return Undefined("dropout");
  if (!(p >= 0.0f && p < 1.0f)) {
    return absl::InvalidArgumentError(absl::StrCat("dropout: p = ", p, " is outside [0, 1)"));
  }
  if (!training || p == 0.0f) return x;
  BTensor mask = bt::Full(x.shape(), 0.0f);  // 0 or 1 / (1 - p)
  const float keep_scale = 1.0f / (1.0f - p);
  float* m = mask.data<float>();
  const int64_t n = x.numel();
  // One draw from `generator` seeds a stream per fixed-size chunk, so chunks fill in parallel
  // and the mask depends only on the generator's state, never on the thread count.
  const uint64_t base = generator.NextU64();
  constexpr int64_t kChunk = 1 << 14;
#pragma omp parallel for schedule(static) if (n > kChunk)
  for (int64_t begin = 0; begin < n; begin += kChunk) {
    backends::Xoshiro256 stream(base ^
                                static_cast<uint64_t>(begin / kChunk) * 0x9e3779b97f4a7c15ull);
    const int64_t end = std::min(n, begin + kChunk);
    for (int64_t i = begin; i < end; ++i) m[i] = stream.Uniform() < p ? 0.0f : keep_scale;
  }
  TF_ASSIGN_OR_RETURN(BTensor y, bt::Mul(x.value(), mask));
  return MakeResult(std::move(y), "dropout", {x}, [mask](const BTensor& dy) -> Grads {
    TF_ASSIGN_OR_RETURN(BTensor dx, bt::Mul(dy, mask));
    return std::vector<BTensor>{std::move(dx)};
  });
}

absl::StatusOr<Tensor> attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                 const Tensor& mask, float scale) {
  TF_ASSIGN_OR_RETURN(Tensor k_t, transpose(k, -2, -1));  // [..., D, Tk]
  TF_ASSIGN_OR_RETURN(Tensor scores, matmul(q, k_t));     // [..., Tq, Tk]
  scores = mul(scores, scale);
  if (mask.defined()) {
    TF_ASSIGN_OR_RETURN(scores, add(scores, mask));
  }
  TF_ASSIGN_OR_RETURN(Tensor probs, softmax(scores));  // [..., Tq, Tk]
  return matmul(probs, v);                             // [..., Tq, Dv]
}

absl::StatusOr<Tensor> padding_mask(const std::vector<std::vector<bool>>& keep) {
  if (keep.empty()) return absl::InvalidArgumentError("padding_mask: empty batch");
  const size_t t = keep[0].size();
  std::vector<float> values;
  for (const auto& row : keep) {
    if (row.size() != t) {
      return absl::InvalidArgumentError("padding_mask: rows of different lengths");
    }
    for (bool k : row) values.push_back(k ? 0.0f : -1e9f);
  }
  return Tensor::from_vec(values,
                          {static_cast<int64_t>(keep.size()), 1, 1, static_cast<int64_t>(t)});
}

Tensor sum(const Tensor& x) {
  const Shape shape = x.shape();
  return MakeResult(bt::SumAll(x.value()), "sum", {x}, [shape](const BTensor& dy) -> Grads {
    return std::vector<BTensor>{bt::Full(shape, dy.data<float>()[0])};
  });
}

Tensor mean(const Tensor& x) {
  const Shape shape = x.shape();
  const int64_t n = x.numel();
  const float inv = n == 0 ? 0.0f : 1.0f / static_cast<float>(n);
  BTensor total = bt::SumAll(x.value());
  return MakeResult(bt::Affine(total, inv, 0.0f), "mean", {x},
                    [shape, inv](const BTensor& dy) -> Grads {
                      return std::vector<BTensor>{bt::Full(shape, dy.data<float>()[0] * inv)};
                    });
}

absl::StatusOr<Tensor> cross_entropy(const Tensor& logits, const std::vector<int64_t>& targets,
                                     const bt::CrossEntropyOptions& options) {
  if (!logits.defined()) return Undefined("cross_entropy");
  TF_ASSIGN_OR_RETURN(bt::CrossEntropyResult r, bt::CrossEntropy(logits.value(), targets, options));
  auto forward = std::make_shared<bt::CrossEntropyResult>(std::move(r));
  return MakeResult(
      forward->loss, "cross_entropy", {logits},
      [forward, targets, options](const BTensor& dy) -> Grads {
        TF_ASSIGN_OR_RETURN(
            BTensor dx, bt::CrossEntropyBackward(dy.data<float>()[0], *forward, targets, options));
        return std::vector<BTensor>{std::move(dx)};
      });
}

absl::StatusOr<Tensor> mse_loss(const Tensor& prediction, const Tensor& target) {
  if (!prediction.defined() || !target.defined()) return Undefined("mse_loss");
  if (prediction.shape() != target.shape()) {
    return absl::InvalidArgumentError(absl::StrCat("mse_loss: prediction ", prediction.Describe(),
                                                   " and target ", target.Describe(), " differ"));
  }
  TF_ASSIGN_OR_RETURN(Tensor diff, sub(prediction, target));
  TF_ASSIGN_OR_RETURN(Tensor squared, mul(diff, diff));
  return mean(squared);
}

}  // namespace trustformers::nn
