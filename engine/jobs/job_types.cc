#include "engine/jobs/job_types.h"

namespace trustformers::jobs {

bool IsTerminal(JobState state) {
  switch (state) {
    case JobState::kSucceeded:
    case JobState::kFailed:
    case JobState::kCancelled:
      return true;
    case JobState::kValidatingFiles:
    case JobState::kQueued:
    case JobState::kRunning:
      return false;
  }
  return false;
}

const char* JobStateName(JobState state) {
  switch (state) {
    case JobState::kValidatingFiles:
      return "validating_files";
    case JobState::kQueued:
      return "queued";
    case JobState::kRunning:
      return "running";
    case JobState::kSucceeded:
      return "succeeded";
    case JobState::kFailed:
      return "failed";
    case JobState::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

}  // namespace trustformers::jobs
