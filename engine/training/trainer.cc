#include "engine/training/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "backends/status_macros.h"
#include "engine/training/checkpoint.h"
#include "models/nn/functional.h"
#include "models/nn/lr_schedule.h"
#include "models/nn/optim.h"

namespace trustformers::training {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

absl::Status CheckLabels(const nn::Dataset& dataset, int64_t num_labels, const char* which) {
  for (size_t i = 0; i < dataset.size(); ++i) {
    const int64_t label = dataset.get(i).label;
    if (label < 0 || label >= num_labels) {
      return absl::InvalidArgumentError(absl::StrCat(which, " example ", i, " has label ", label,
                                                     "; the model has ", num_labels, " labels"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

bool UsesWeightDecay(const std::string& parameter_name) {
  return !absl::StrContains(parameter_name, "bias") &&
         !absl::StrContains(parameter_name, "LayerNorm.weight");
}

nn::BertInputs ToBertInputs(const nn::TokenBatch& batch) {
  nn::BertInputs in;
  in.batch = batch.batch;
  in.length = batch.length;
  in.ids = batch.ids;
  in.type_ids = batch.type_ids;
  in.keep = batch.keep;
  return in;
}

Trainer::Trainer(nn::BertForSequenceClassification* model, TrainingArguments args,
                 std::shared_ptr<const nn::Dataset> train, std::shared_ptr<const nn::Dataset> eval,
                 TrainerHooks hooks)
    : model_(model),
      args_(std::move(args)),
      train_(std::move(train)),
      eval_(std::move(eval)),
      hooks_(std::move(hooks)) {}

absl::StatusOr<TrainResult> Trainer::Train(const std::string& resume_from_checkpoint) {
  const TrainingArguments& a = args_;
  if (train_ == nullptr || train_->size() == 0) {
    return absl::InvalidArgumentError("the training set is empty");
  }
  TF_RETURN_IF_ERROR(CheckLabels(*train_, model_->num_labels(), "training"));
  if (eval_ != nullptr) TF_RETURN_IF_ERROR(CheckLabels(*eval_, model_->num_labels(), "evaluation"));
  nn::DataLoaderOptions loader_options;
  loader_options.batch_size = a.per_device_train_batch_size;
  loader_options.shuffle = a.train_shuffle;
  loader_options.seed = a.seed;
  loader_options.drop_last = a.dataloader_drop_last;
  loader_options.pad_id = static_cast<int32_t>(model_->config().pad_token_id);
  TF_ASSIGN_OR_RETURN(nn::DataLoader loader, nn::DataLoader::Create(train_, loader_options));
  const auto batches = static_cast<int64_t>(loader.num_batches());
  if (batches == 0) {
    return absl::InvalidArgumentError(absl::StrCat("the training set (", train_->size(),
                                                   " examples) is smaller than one batch of ",
                                                   a.per_device_train_batch_size));
  }
  const int64_t accumulation = a.gradient_accumulation_steps;
  const int64_t steps_per_epoch = (batches + accumulation - 1) / accumulation;
  const int64_t max_steps = a.max_steps > 0 ? a.max_steps : a.num_train_epochs * steps_per_epoch;
  const int64_t warmup =
      a.warmup_steps > 0
          ? a.warmup_steps
          : static_cast<int64_t>(std::ceil(a.warmup_ratio * static_cast<double>(max_steps)));

  // AdamW over two groups; `named` keeps the model's order for the checkpoint's moments.
  const auto named = model_->named_parameters();
  std::vector<nn::Tensor> decay, no_decay;
  std::vector<std::pair<size_t, size_t>> slot(named.size());  // (group, index) per parameter
  for (size_t i = 0; i < named.size(); ++i) {
    std::vector<nn::Tensor>& group = UsesWeightDecay(named[i].first) ? decay : no_decay;
    slot[i] = {UsesWeightDecay(named[i].first) ? 0 : 1, group.size()};
    group.push_back(named[i].second);
  }
  nn::AdamOptions adam_options;
  adam_options.lr = a.learning_rate;
  adam_options.beta1 = a.adam_beta1;
  adam_options.beta2 = a.adam_beta2;
  adam_options.eps = a.adam_epsilon;
  adam_options.weight_decay = a.weight_decay;
  nn::AdamW optimizer({{decay, {}, {}}, {no_decay, 0.0, {}}}, adam_options);
  nn::LrScheduleOptions schedule_options;
  schedule_options.kind = a.lr_scheduler_type;
  schedule_options.warmup_steps = warmup;
  schedule_options.total_steps = max_steps;
  TF_ASSIGN_OR_RETURN(nn::LrScheduler scheduler,
                      nn::LrScheduler::Create(&optimizer, schedule_options));

  std::error_code ec;
  std::filesystem::create_directories(a.output_dir, ec);
  if (ec) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create '", a.output_dir, "': ", ec.message()));
  }
  CheckpointState state;
  state.max_steps = max_steps;
  state.batch_size = a.per_device_train_batch_size;
  state.gradient_accumulation_steps = accumulation;
  state.train_examples = static_cast<int64_t>(train_->size());
  state.seed = a.seed;
  state.shuffle = a.train_shuffle;
  state.drop_last = a.dataloader_drop_last;
  const CheckpointState run = state;
  std::string resume = resume_from_checkpoint;
  if (resume == "latest") resume = LatestCheckpoint(a.output_dir);
  if (!resume.empty()) {
    nn::NamedTensors moments;
    for (const auto& [name, tensor] : named) {
      moments.emplace_back("exp_avg." + name, nn::Tensor::zeros(tensor.shape()));
      moments.emplace_back("exp_avg_sq." + name, nn::Tensor::zeros(tensor.shape()));
    }
    CheckpointState saved;
    TF_RETURN_IF_ERROR(ReadCheckpoint(resume, *model_, &saved, moments));
    // The saved position in the data means the same only with the same batches.
    std::vector<std::string> differences;
    auto compare = [&](const char* what, auto then, auto now) {
      if (then != now) differences.push_back(absl::StrCat(what, " ", then, " (now ", now, ")"));
    };
    compare("batch size", saved.batch_size, run.batch_size);
    compare("gradient accumulation steps", saved.gradient_accumulation_steps,
            run.gradient_accumulation_steps);
    compare("training examples", saved.train_examples, run.train_examples);
    compare("seed", saved.seed, run.seed);
    compare("shuffle", saved.shuffle, run.shuffle);
    compare("drop_last", saved.drop_last, run.drop_last);
    if (!differences.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "checkpoint '", resume, "' was written by a run with ", absl::StrJoin(differences, ", "),
          "; resume with the same data and batch settings"));
    }
    if (saved.batch_in_epoch >= batches || saved.global_step > max_steps) {
      return absl::FailedPreconditionError(absl::StrCat(
          "checkpoint '", resume, "' is at step ", saved.global_step, " (batch ",
          saved.batch_in_epoch, " of ", batches, "), past this run's ", max_steps, " steps"));
    }
    state = saved;
    if (state.optimizer_steps.size() != named.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("checkpoint '", resume, "' holds ", state.optimizer_steps.size(),
                       " optimizer states for ", named.size(), " parameters"));
    }
    std::vector<std::vector<nn::Adam::State>> adam_state(2);
    adam_state[0].resize(decay.size());
    adam_state[1].resize(no_decay.size());
    for (size_t i = 0; i < named.size(); ++i) {
      nn::Adam::State& s = adam_state[slot[i].first][slot[i].second];
      s.step = state.optimizer_steps[i];
      if (s.step > 0) {
        s.exp_avg = moments[2 * i].second.to_vec();
        s.exp_avg_sq = moments[2 * i + 1].second.to_vec();
      }
    }
    TF_RETURN_IF_ERROR(optimizer.set_state(std::move(adam_state)));
    scheduler.set_last_step(state.global_step);
    model_->dropout_generator().set_state(state.dropout_generator);
    state.max_steps = max_steps;
  }
  TF_RETURN_IF_ERROR(PruneCheckpoints(a.output_dir, 0));  // leftovers of a crashed write

  auto epoch_progress = [&] {
    return static_cast<double>(state.epoch) +
           static_cast<double>(state.batch_in_epoch) / static_cast<double>(batches);
  };
  auto emit = [&](const TrainerEvent& event) {
    if (hooks_.on_event) hooks_.on_event(event);
  };
  auto save = [&]() -> absl::Status {
    state.dropout_generator = model_->dropout_generator().state();
    state.optimizer_steps.assign(named.size(), 0);
    nn::NamedTensors moments;
    const auto& adam_state = optimizer.state();
    for (size_t i = 0; i < named.size(); ++i) {
      const nn::Adam::State& s = adam_state[slot[i].first][slot[i].second];
      state.optimizer_steps[i] = s.step;
      const nn::Shape& shape = named[i].second.shape();
      auto moment = [&](const std::vector<float>& v) {
        return s.step > 0 ? *nn::Tensor::from_vec(v, shape) : nn::Tensor::zeros(shape);
      };
      moments.emplace_back("exp_avg." + named[i].first, moment(s.exp_avg));
      moments.emplace_back("exp_avg_sq." + named[i].first, moment(s.exp_avg_sq));
    }
    TF_ASSIGN_OR_RETURN(std::string folder, WriteCheckpoint(a.output_dir, *model_, state, moments));
    TF_RETURN_IF_ERROR(PruneCheckpoints(a.output_dir, a.save_total_limit));
    TrainerEvent event;
    event.kind = TrainerEvent::Kind::kCheckpoint;
    event.step = state.global_step;
    event.max_steps = max_steps;
    event.epoch = epoch_progress();
    event.checkpoint = folder;
    emit(event);
    return absl::OkStatus();
  };

  TrainResult result;
  const Clock::time_point start = Clock::now();
  const int64_t first_step = state.global_step;
  int64_t samples = 0;
  double grad_norm = 0.0;
  model_->train();
  optimizer.zero_grad();
  while (state.global_step < max_steps) {
    if (hooks_.should_stop && hooks_.should_stop()) {
      return absl::CancelledError(
          absl::StrCat("training stopped at step ", state.global_step, " of ", max_steps));
    }
    if (hooks_.between_steps) hooks_.between_steps();
    // One optimizer step: up to `accumulation` batches, never across an epoch's end.
    const int64_t micro = std::min(accumulation, batches - state.batch_in_epoch);
    double step_loss = 0.0;
    for (int64_t m = 0; m < micro; ++m) {
      TF_ASSIGN_OR_RETURN(nn::TokenBatch batch,
                          loader.batch(state.epoch, static_cast<size_t>(state.batch_in_epoch)));
      ++state.batch_in_epoch;
      TF_ASSIGN_OR_RETURN(nn::Tensor logits, model_->logits(ToBertInputs(batch)));  // [B, labels]
      TF_ASSIGN_OR_RETURN(nn::Tensor loss, nn::cross_entropy(logits, batch.labels));
      TF_ASSIGN_OR_RETURN(float value, loss.item());
      if (!std::isfinite(value)) {
        return absl::InternalError(absl::StrCat("the training loss is ", value, " at step ",
                                                state.global_step + 1,
                                                "; lower the learning rate"));
      }
      step_loss += value / static_cast<double>(micro);
      TF_RETURN_IF_ERROR(nn::mul(loss, 1.0f / static_cast<float>(micro)).backward());
      samples += batch.batch;
    }
    if (a.max_grad_norm > 0) {
      TF_ASSIGN_OR_RETURN(float norm, nn::clip_grad_norm(model_->parameters(), a.max_grad_norm));
      grad_norm = norm;
    }
    const double lr = optimizer.lr(0);
    TF_RETURN_IF_ERROR(optimizer.step());
    scheduler.step();
    optimizer.zero_grad();
    ++state.global_step;
    state.loss_since_log += step_loss;
    ++state.steps_since_log;
    state.loss_sum += step_loss;
    const bool epoch_done = state.batch_in_epoch >= batches;
    if (epoch_done) {
      ++state.epoch;
      state.batch_in_epoch = 0;
    }

    const double elapsed = SecondsSince(start);
    const double per_step = elapsed / static_cast<double>(state.global_step - first_step);
    const bool last = state.global_step == max_steps;
    if (state.global_step % a.logging_steps == 0 || last) {
      TrainerEvent event;
      event.kind = TrainerEvent::Kind::kLog;
      event.step = state.global_step;
      event.max_steps = max_steps;
      event.epoch = epoch_progress();
      event.loss = state.loss_since_log / static_cast<double>(state.steps_since_log);
      event.learning_rate = lr;
      event.grad_norm = grad_norm;
      event.samples_per_second = static_cast<double>(samples) / elapsed;
      event.eta_seconds = per_step * static_cast<double>(max_steps - state.global_step);
      state.loss_since_log = 0.0;
      state.steps_since_log = 0;
      result.log_history.push_back(event);
      emit(event);
    }
    const int64_t eval_every = a.eval_steps > 0 ? a.eval_steps : a.logging_steps;
    const bool evaluate =
        eval_ != nullptr && ((a.eval_strategy == EvalStrategy::kSteps &&
                              (state.global_step % eval_every == 0 || last)) ||
                             (a.eval_strategy == EvalStrategy::kEpoch && (epoch_done || last)));
    if (evaluate) {
      TF_ASSIGN_OR_RETURN(ClassificationMetrics metrics, Evaluate());
      model_->train();
      TrainerEvent event;
      event.kind = TrainerEvent::Kind::kEvaluation;
      event.step = state.global_step;
      event.max_steps = max_steps;
      event.epoch = epoch_progress();
      event.metrics = metrics;
      result.eval_metrics = metrics;
      result.log_history.push_back(event);
      emit(event);
    }
    if (a.save_steps > 0 && (state.global_step % a.save_steps == 0 || last)) {
      // A run told to stop writes nothing more (saving prunes older checkpoints).
      if (hooks_.should_stop && hooks_.should_stop()) {
        return absl::CancelledError(
            absl::StrCat("training stopped at step ", state.global_step, " of ", max_steps));
      }
      TF_RETURN_IF_ERROR(save());
    }
  }

  if (eval_ != nullptr && a.eval_strategy != EvalStrategy::kNo && !result.eval_metrics) {
    // Resumed from the last step's checkpoint: nothing ran, but the result still reports the
    // final evaluation.
    TF_ASSIGN_OR_RETURN(ClassificationMetrics metrics, Evaluate());
    result.eval_metrics = metrics;
  }
  result.global_step = state.global_step;
  result.train_loss =
      state.global_step > 0 ? state.loss_sum / static_cast<double>(state.global_step) : 0.0;
  result.seconds = SecondsSince(start);
  result.samples_per_second =
      result.seconds > 0 ? static_cast<double>(samples) / result.seconds : 0;
  TrainerEvent end;
  end.kind = TrainerEvent::Kind::kEnd;
  end.step = state.global_step;
  end.max_steps = max_steps;
  end.epoch = epoch_progress();
  end.loss = result.train_loss;
  end.samples_per_second = result.samples_per_second;
  end.metrics = result.eval_metrics;
  emit(end);
  model_->eval();
  return result;
}

absl::StatusOr<ClassificationMetrics> Trainer::Evaluate(const nn::Dataset* dataset,
                                                        std::vector<int64_t>* predictions) {
  if (dataset == nullptr) dataset = eval_.get();
  if (dataset == nullptr) return absl::FailedPreconditionError("there is no evaluation set");
  if (dataset->size() == 0) return absl::InvalidArgumentError("the evaluation set is empty");
  TF_RETURN_IF_ERROR(CheckLabels(*dataset, model_->num_labels(), "evaluation"));
  // The loader only borrows the dataset here.
  std::shared_ptr<const nn::Dataset> borrowed(dataset, [](const nn::Dataset*) {});
  nn::DataLoaderOptions options;
  options.batch_size = args_.per_device_eval_batch_size;
  options.pad_id = static_cast<int32_t>(model_->config().pad_token_id);
  TF_ASSIGN_OR_RETURN(nn::DataLoader loader, nn::DataLoader::Create(borrowed, options));
  const bool was_training = model_->training();
  model_->eval();
  nn::NoGradGuard no_grad;
  std::vector<int64_t> labels, predicted;
  double loss_sum = 0.0;
  for (size_t i = 0; i < loader.num_batches(); ++i) {
    TF_ASSIGN_OR_RETURN(nn::TokenBatch batch, loader.batch(0, i));
    TF_ASSIGN_OR_RETURN(nn::Tensor logits, model_->logits(ToBertInputs(batch)));  // [B, labels]
    TF_ASSIGN_OR_RETURN(nn::Tensor loss, nn::cross_entropy(logits, batch.labels));
    loss_sum += static_cast<double>(loss.data()[0]) * static_cast<double>(batch.batch);
    const int64_t classes = logits.dim(1);
    const float* scores = logits.data();
    for (int64_t r = 0; r < batch.batch; ++r) {
      const float* row = scores + r * classes;
      predicted.push_back(std::max_element(row, row + classes) - row);
      labels.push_back(batch.labels[static_cast<size_t>(r)]);
    }
  }
  model_->train(was_training);
  if (predictions != nullptr) *predictions = predicted;
  return ComputeClassificationMetrics(labels, predicted, model_->num_labels(),
                                      loss_sum / static_cast<double>(labels.size()));
}

}  // namespace trustformers::training
