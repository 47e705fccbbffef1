// trustformers.v1 fine-tuning messages <-> the engine's job records (engine/jobs/job_types.h),
// both ways and field for field. Times: the engine's milliseconds since the epoch become
// google.protobuf.Timestamp (0 = unset, and an unset Timestamp reads back as 0); the engine's
// fractional seconds of an ETA become google.protobuf.Duration. The engine never sees a proto.
#pragma once

#include "absl/status/statusor.h"
#include "engine/jobs/job_types.h"
#include "trustformers/v1/fine_tuning.pb.h"

namespace trustformers::server {

v1::FilePurpose PurposeToProto(jobs::FilePurpose purpose);
// INVALID_ARGUMENT for FILE_PURPOSE_UNSPECIFIED and unknown values.
absl::StatusOr<jobs::FilePurpose> PurposeFromProto(v1::FilePurpose purpose);

v1::JobState StateToProto(jobs::JobState state);
// INVALID_ARGUMENT for JOB_STATE_UNSPECIFIED and unknown values.
absl::StatusOr<jobs::JobState> StateFromProto(v1::JobState state);

v1::JobTask TaskToProto(jobs::JobTask task);
// JOB_TASK_UNSPECIFIED is sequence classification (the only task of BERT-family bases).
absl::StatusOr<jobs::JobTask> TaskFromProto(v1::JobTask task);

v1::EventLevel LevelToProto(jobs::EventLevel level);
// EVENT_LEVEL_UNSPECIFIED reads as INFO.
jobs::EventLevel LevelFromProto(v1::EventLevel level);

void FileToProto(const jobs::StoredFile& file, v1::File* out);
// INVALID_ARGUMENT for an unset purpose.
absl::StatusOr<jobs::StoredFile> FileFromProto(const v1::File& file);

// Exactly the fields that are set, both ways.
void HyperparametersToProto(const jobs::Hyperparameters& h, v1::Hyperparameters* out);
jobs::Hyperparameters HyperparametersFromProto(const v1::Hyperparameters& h);

// `h` with the documented defaults filled in for what does not depend on the data or the base
// model (Hyperparameters in a Job: "every field the job uses is set to the value in effect"):
// n_epochs (unless max_steps decides), batch_size, gradient_accumulation_steps, learning_rate
// (5e-5 times learning_rate_multiplier), warmup_steps (0 unless warmup_ratio is set),
// weight_decay, max_grad_norm, lr_scheduler, seed and logging_steps. max_seq_length, num_labels
// and labels stay as the request gave them. Idempotent.
jobs::Hyperparameters InEffect(const jobs::Hyperparameters& h, uint64_t seed);

// CreateJobRequest -> the job the manager is asked to create (id, state and times unset).
absl::StatusOr<jobs::Job> JobRequestFromProto(const v1::CreateJobRequest& request);

// Every field of v1::Job; hyperparameters pass through InEffect. Progress is set once a step was
// logged (total_steps > 0), error only when the job has one.
void JobToProto(const jobs::Job& job, v1::Job* out);
absl::StatusOr<jobs::Job> JobFromProto(const v1::Job& job);

void CheckpointToProto(const jobs::CheckpointInfo& checkpoint, v1::Checkpoint* out);
jobs::CheckpointInfo CheckpointFromProto(const v1::Checkpoint& checkpoint);

void EventToProto(const jobs::JobEvent& event, v1::JobEvent* out);
absl::StatusOr<jobs::JobEvent> EventFromProto(const v1::JobEvent& event);

}  // namespace trustformers::server
