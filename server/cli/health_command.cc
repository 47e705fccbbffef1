// `trustformers health`: asks a server's grpc.health.v1.Health whether it is SERVING; exit 0 only
// then. The container HEALTHCHECK and Kubernetes exec probes use it.
#include <iostream>

#include "grpc/health/v1/health.grpc.pb.h"
#include "server/cli/client_channel.h"
#include "server/cli/commands.h"

namespace trustformers::cli {

void AddHealthCommand(CLI::App& app, int* exit_code) {
  auto client = std::make_shared<ClientOptions>();
  client->timeout_s = 5.0;
  client->server = "localhost:50051";
  auto service = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("health", "Exit 0 when a server reports SERVING");
  AddClientOptions(cmd, client.get());
  cmd->add_option("--service", *service, "Service to ask about (empty: the whole server)");
  cmd->callback([client, service, exit_code] {
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(*service);
    grpc::health::v1::HealthCheckResponse response;
    auto context = NewContext(*client);
    grpc::Status status = grpc::health::v1::Health::NewStub(OpenChannel(*client))
                              ->Check(context.get(), request, &response);
    if (!status.ok()) {
      *exit_code = ReportCall(status, "Health.Check");
      return;
    }
    std::cout << grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status())
              << "\n";
    *exit_code = response.status() == grpc::health::v1::HealthCheckResponse::SERVING ? 0 : 1;
  });
}

}  // namespace trustformers::cli
