// Opaque ids for files, jobs and temporary names: a prefix and random hex digits from OpenSSL's
// CSPRNG, so ids cannot be guessed from one another (ids are all a client needs to name a file)
// and 96 random bits make a collision between ids of one server out of the question.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace trustformers::jobs {

// `prefix` followed by `hex_digits` lowercase hex digits (an even number; 24 gives 96 bits).
// INTERNAL only if the system's random source fails.
absl::StatusOr<std::string> RandomId(absl::string_view prefix, int hex_digits = 24);

// Random bytes from the same source.
absl::StatusOr<std::string> RandomBytes(int count);

}  // namespace trustformers::jobs
