// Routes for the people and systems that run the server: liveness, readiness and metrics.
#pragma once

#include <functional>
#include <string>

#include "engine/model_registry.h"
#include "server/http/router.h"

namespace trustformers::server::http {

struct OperationHooks {
  const engine::ModelRegistry* registry = nullptr;
  // True while the server drains before exiting.
  std::function<bool()> draining;
  // The Prometheus text exposition of every metric.
  std::function<std::string()> metrics_text;
};

// GET /healthz: 200 while the process serves HTTP at all.
// GET /readyz: 200 once every configured model is loaded and the server is not draining, else
// 503 naming what is not ready. GET /metrics: Prometheus text format.
void AddOperationRoutes(Router& router, OperationHooks hooks);

}  // namespace trustformers::server::http
