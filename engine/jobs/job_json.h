// The job store's text form of the records it does not query by: a job's body (everything but
// its id, state, creation time, idempotency key and base model, which are columns) and an
// event's body (level, message, payload) as JSON. Decoding gives back exactly what was encoded:
// doubles keep every bit (NaN and the infinities as strings, since JSON has no such numbers),
// uint64 seeds travel as decimal strings, and unset optionals stay unset (they are omitted).
// Unknown keys are ignored and missing ones keep their defaults, so later versions can add
// fields without a migration. Also the stable names the store writes for the records' enums.
#pragma once

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "engine/jobs/job_types.h"

namespace trustformers::jobs {

std::string EncodeJobBody(const Job& job);
// Fills every field of `job` the body holds; DATA_LOSS when the text is not a body we wrote.
absl::Status DecodeJobBody(absl::string_view text, Job* job);

std::string EncodeEventBody(const JobEvent& event);
absl::Status DecodeEventBody(absl::string_view text, JobEvent* event);

// JobStateName's inverse; nullopt for anything else.
std::optional<JobState> JobStateFromName(absl::string_view name);

// "fine-tune", "fine-tune-validation", "fine-tune-results".
const char* FilePurposeName(FilePurpose purpose);
std::optional<FilePurpose> FilePurposeFromName(absl::string_view name);

}  // namespace trustformers::jobs
