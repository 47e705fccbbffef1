#include "server/http/operation_routes.h"

#include "nlohmann/json.hpp"
#include "server/http/json_io.h"
#include "server/http/openai/json_output.h"

namespace trustformers::server::http {
namespace {

const char* StateName(engine::ModelState state) {
  switch (state) {
    case engine::ModelState::kLoading:
      return "loading";
    case engine::ModelState::kReady:
      return "ready";
    case engine::ModelState::kFailed:
      return "failed";
    case engine::ModelState::kUnloading:
      return "unloading";
  }
  return "unknown";
}

}  // namespace

void AddOperationRoutes(Router& router, OperationHooks hooks) {
  router.Add(
      "GET", "/healthz",
      [](std::shared_ptr<HttpExchange> exchange) {
        RespondJson(*exchange, 200, R"({"status":"ok"})");
      },
      RouteAccess::kOperations);

  router.Add(
      "GET", "/readyz",
      [hooks](std::shared_ptr<HttpExchange> exchange) {
        nlohmann::json models = nlohmann::json::object();
        bool ready = true;
        for (const engine::ModelEntry& entry : hooks.registry->List()) {
          if (!entry.base_model) continue;
          models[entry.name] = StateName(entry.state);
          ready = ready && entry.state == engine::ModelState::kReady;
        }
        const bool draining = hooks.draining && hooks.draining();
        const char* status = draining ? "draining" : (ready ? "ready" : "loading");
        nlohmann::json body = {{"status", status}, {"models", std::move(models)}};
        const bool ok = ready && !draining;
        RespondJson(*exchange, ok ? 200 : 503, openai::DumpJson(body),
                    ok ? HeaderList{} : HeaderList{{"Retry-After", "1"}});
      },
      RouteAccess::kOperations);

  router.Add(
      "GET", "/metrics",
      [hooks](std::shared_ptr<HttpExchange> exchange) {
        exchange->Respond(200, "text/plain; version=0.0.4; charset=utf-8",
                          hooks.metrics_text ? hooks.metrics_text() : std::string());
      },
      RouteAccess::kOperations);
}

}  // namespace trustformers::server::http
