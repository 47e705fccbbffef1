// Files that survive a crash whole or not at all: the bytes go to a temporary file beside the
// target, are flushed to disk (fsync), and the temporary is renamed over the target, then the
// folder itself is synced so the rename is durable too. A reader sees the old file or the new
// one, never a torn one. Checkpoints and saved models are written this way.
#pragma once

#include <string>

#include "absl/status/status.h"

namespace trustformers::nn {

// PERMISSION_DENIED when the file cannot be created or renamed, DATA_LOSS on a failed write or
// sync (a full disk, an I/O error).
absl::Status WriteFileAtomically(const std::string& path, const std::string& bytes);

// Makes entries created or renamed in `folder` durable.
absl::Status SyncDirectory(const std::string& folder);

}  // namespace trustformers::nn
