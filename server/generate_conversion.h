// trustformers.v1 GenerateRequest / SamplingParams to the engine's GenerateCall, with the
// proto's defaults resolved, and the engine's chunks back to GenerateResponse.
#pragma once

#include "absl/status/statusor.h"
#include "engine/generation/generate_types.h"
#include "trustformers/v1/inference.pb.h"

namespace trustformers::server {

// INVALID_ARGUMENT for an input the proto forbids (no input, chat_template_kwargs that are not
// an object, ...). Range checks of the sampling values are the engine's (ValidateSamplingParams).
absl::StatusOr<engine::GenerateCall> GenerateCallFromProto(const v1::GenerateRequest& request);

// The input fields of a TokenizeRequest as the engine's GenerateInput.
absl::StatusOr<engine::GenerateInput> GenerateInputFromTokenize(const v1::TokenizeRequest& request);

// Fills index, text, token_ids, logprobs, finish_reason, matched_stop, echo and error_message.
void ChunkToProto(const engine::GenerateChunk& chunk, v1::GenerateResponse* response);

}  // namespace trustformers::server
