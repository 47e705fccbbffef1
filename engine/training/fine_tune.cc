#include "engine/training/fine_tune.h"

#include "models/nn/bert_classifier.h"

namespace trustformers::training {

absl::StatusOr<TrainResult> FineTune(const FineTuneSpec& spec, TrainerHooks hooks) {
  nn::BertClassifierOptions options;
  options.num_labels = static_cast<int64_t>(spec.labels.size());
  options.labels = spec.labels;
  options.seed = spec.seed;
  options.dropout = spec.dropout;
  absl::StatusOr<std::unique_ptr<nn::BertForSequenceClassification>> model =
      nn::BertForSequenceClassification::FromPretrained(spec.base_folder, options);
  if (!model.ok()) return model.status();
  Trainer trainer(model->get(), spec.args, spec.train, spec.eval, std::move(hooks));
  absl::StatusOr<TrainResult> result = trainer.Train(spec.resume);
  if (!result.ok()) return result.status();
  if (absl::Status s = (*model)->SavePretrained(spec.output_folder); !s.ok()) return s;
  return result;
}

}  // namespace trustformers::training
