// The fine-tuning jobs service as `trustformers serve` runs it: the job store
// (<data_dir>/jobs.sqlite) and the uploaded files under fine_tuning.data_dir, and the JobManager
// with its hooks into the model registry (base models are the registry's BERT-family folders;
// results are loaded into it as "ft:..." models). Fine-tuning never stops the server from
// serving: when it is turned off or its folder is unusable (read-only, taken by another server),
// the FineTuning API answers UNAVAILABLE with the reason, which the log also gives.
#pragma once

#include <memory>
#include <string>

#include "config/config.h"
#include "engine/jobs/file_store.h"
#include "engine/jobs/job_manager.h"
#include "engine/jobs/job_store.h"
#include "engine/model_registry.h"
#include "server/fine_tuning_service.h"

namespace trustformers::cli {

// What the manager needs to know about the registry's model `name` (see JobManagerHooks).
absl::StatusOr<jobs::BaseModel> ResolveBaseModel(const engine::ModelRegistry& registry,
                                                 const std::string& name);

class FineTuningSetup {
 public:
  // Opens the stores and creates the manager (not started). `registry` must outlive it.
  static std::unique_ptr<FineTuningSetup> Open(const config::Config& config,
                                               engine::ModelRegistry* registry);
  // Shuts the manager down.
  ~FineTuningSetup();

  // For the gRPC service; the objects stay owned here.
  server::FineTuningBackend backend() const;

  // Once the configured models are loaded: starts the manager, which serves the models of jobs
  // that succeeded before (they are not in the configuration) and recovers unfinished jobs.
  void Start();

  // Stops the manager: running jobs stop at their next step and resume after a restart.
  void Shutdown();

 private:
  FineTuningSetup() = default;

  std::string unavailable_reason_;
  std::unique_ptr<jobs::JobStore> store_;
  std::unique_ptr<jobs::FileStore> files_;
  std::unique_ptr<jobs::JobManager> manager_;  // last: its threads use the stores
};

}  // namespace trustformers::cli
