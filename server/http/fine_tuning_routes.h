// OpenAI's files and fine-tuning routes, run against the FineTuning gRPC service through the
// bridge, so a REST client gets the validation, limits and errors a gRPC client gets:
//   POST /v1/files                                 multipart/form-data: purpose=fine-tune, file
//   GET  /v1/files/{file_id}
//   POST /v1/fine_tuning/jobs                      JSON body (openai/fine_tuning_json.h)
//   GET  /v1/fine_tuning/jobs                      ?after=<job id>&limit=1..100 (20)
//   GET  /v1/fine_tuning/jobs/{job_id}
//   POST /v1/fine_tuning/jobs/{job_id}/cancel
//   GET  /v1/fine_tuning/jobs/{job_id}/events      ?after=<event id>&limit=1..1000 (20)
//   GET  /v1/fine_tuning/jobs/{job_id}/checkpoints ?after=<checkpoint id>&limit=1..100 (10)
// Lists are {"object": "list", "data": [...], "has_more"} newest first, as OpenAI's are; `after`
// is the last id of the previous page.
//
// An upload is streamed: the body is read a piece at a time (up to max_file_bytes plus 1 MiB of
// form overhead, whatever http.max_body_bytes says) and each piece of the file part goes on to
// UploadFile as it arrives, the next piece read only once it is written. A client that leaves
// cancels the upload, and nothing is kept.
#pragma once

#include <cstdint>

#include "server/http/grpc_bridge.h"
#include "server/http/router.h"

namespace trustformers::server::http {

// `bridge` must outlive the router.
void AddFineTuningRoutes(Router& router, GrpcBridge* bridge, int64_t max_file_bytes);

}  // namespace trustformers::server::http
