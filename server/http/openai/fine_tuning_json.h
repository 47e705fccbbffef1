// OpenAI's fine-tuning and file objects <-> trustformers.v1 FineTuning messages, in the shapes
// the openai SDKs parse (openai/types/fine_tuning/, openai/types/file_object.py):
//   file                        {"object": "file", "id", "bytes", "created_at", "filename",
//                                "purpose", "status", ...}
//   fine_tuning.job             {"object": "fine_tuning.job", "id", "model", "status",
//   "created_at",
//                                "finished_at", "fine_tuned_model", "hyperparameters", "error",
//                                "trained_tokens", "training_file", "validation_file", "seed", ...}
//   fine_tuning.job.event       {"object": "fine_tuning.job.event", "id", "created_at", "level",
//                                "message", "type": "message" | "metrics", "data"}
//   fine_tuning.job.checkpoint  {"object": "fine_tuning.job.checkpoint", "id", "step_number",
//                                "metrics", "fine_tuned_model_checkpoint", ...}
// Times are Unix seconds. Fields OpenAI does not have (sha256, line_count, task, suffix,
// progress, our extra hyperparameters, an event's sequence) ride along; the SDKs keep extras.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "trustformers/v1/fine_tuning.pb.h"

namespace trustformers::server::openai {

// "fine-tune" -> FINE_TUNE, "fine-tune-validation" (ours) -> FINE_TUNE_VALIDATION; anything
// else is a ParamError on "purpose".
absl::StatusOr<v1::FilePurpose> FilePurposeFromOpenAi(const std::string& purpose);

nlohmann::json FileJson(const v1::File& file);

// The body of POST /v1/fine_tuning/jobs: model, training_file (required), validation_file,
// hyperparameters {n_epochs, batch_size, learning_rate_multiplier: a number or "auto"; and ours:
// learning_rate, max_steps, gradient_accumulation_steps, warmup_steps, warmup_ratio,
// weight_decay, max_grad_norm, lr_scheduler ("constant", "linear", "cosine"), eval_steps,
// save_steps, max_seq_length, num_labels, labels, logging_steps}, or the same under
// method {"type": "supervised", "supervised": {"hyperparameters": ...}}, suffix, seed, metadata
// and ours: task ("sequence_classification", "causal_lm"). Errors name the field as param.
absl::StatusOr<v1::CreateJobRequest> ParseCreateFineTuningJob(const nlohmann::json& body);

nlohmann::json FineTuningJobJson(const v1::Job& job);

// "ftevent-<job id>-<sequence>": unique per server; EventSequence reads the sequence back
// (nullopt for an id of another job or not ours).
std::string EventId(const std::string& job_id, int64_t sequence);
std::optional<int64_t> EventSequence(const std::string& job_id, const std::string& event_id);

nlohmann::json FineTuningEventJson(const v1::JobEvent& event);

// A checkpoint of `job`; fine_tuned_model_checkpoint is "<fine-tuned model name>:ckpt-step-N"
// (a label: checkpoints are not registered as models; `path` says where the folder is).
nlohmann::json CheckpointJson(const v1::Job& job, const v1::Checkpoint& checkpoint);

}  // namespace trustformers::server::openai
