// Closed-loop load generator for one unary gRPC method (Models.ListModels): keeps `concurrency`
// calls in flight on one completion queue for `duration` seconds and prints one JSON line with
// the throughput and latency percentiles. Written in C++ so the client costs little CPU next to
// the server it measures on a small machine.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <vector>

#include "CLI/CLI.hpp"
#include "grpcpp/grpcpp.h"
#include "trustformers/v1/models.grpc.pb.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace v1 = trustformers::v1;

struct Call {
  grpc::ClientContext context;
  v1::ListModelsResponse response;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncResponseReader<v1::ListModelsResponse>> reader;
  Clock::time_point started;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Unary gRPC load generator"};
  std::string target = "127.0.0.1:50051";
  int concurrency = 8;
  double duration_s = 5.0;
  double warmup_s = 1.0;
  app.add_option("--target", target);
  app.add_option("--concurrency", concurrency)->check(CLI::Range(1, 4096));
  app.add_option("--duration", duration_s)->check(CLI::PositiveNumber);
  app.add_option("--warmup", warmup_s)->check(CLI::NonNegativeNumber);
  CLI11_PARSE(app, argc, argv);

  auto channel = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
    std::fprintf(stderr, "cannot connect to %s\n", target.c_str());
    return 1;
  }
  auto stub = v1::Models::NewStub(channel);
  grpc::CompletionQueue queue;
  const v1::ListModelsRequest request;

  auto start_call = [&](std::unique_ptr<Call> call) {
    Call* raw = call.release();
    raw->started = Clock::now();
    raw->reader = stub->AsyncListModels(&raw->context, request, &queue);
    raw->reader->Finish(&raw->response, &raw->status, raw);
  };

  const Clock::time_point begin = Clock::now();
  const Clock::time_point measure_from =
      begin + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(warmup_s));
  const Clock::time_point end = measure_from + std::chrono::duration_cast<Clock::duration>(
                                                   std::chrono::duration<double>(duration_s));
  for (int i = 0; i < concurrency; ++i) start_call(std::make_unique<Call>());

  std::vector<double> latencies_us;
  latencies_us.reserve(1 << 20);
  int64_t errors = 0;
  int in_flight = concurrency;
  void* tag = nullptr;
  bool ok = false;
  while (in_flight > 0 && queue.Next(&tag, &ok)) {
    std::unique_ptr<Call> call(static_cast<Call*>(tag));
    const Clock::time_point now = Clock::now();
    if (call->started >= measure_from && now <= end) {
      if (ok && call->status.ok()) {
        latencies_us.push_back(
            std::chrono::duration<double, std::micro>(now - call->started).count());
      } else {
        ++errors;
      }
    }
    if (now < end) {
      start_call(std::make_unique<Call>());
    } else {
      --in_flight;
    }
  }
  queue.Shutdown();

  std::sort(latencies_us.begin(), latencies_us.end());
  auto percentile = [&](double p) {
    if (latencies_us.empty()) return 0.0;
    const size_t index = std::min(
        latencies_us.size() - 1, static_cast<size_t>(p * static_cast<double>(latencies_us.size())));
    return latencies_us[index];
  };
  std::printf(
      "{\"target\": \"%s\", \"concurrency\": %d, \"calls\": %zu, \"errors\": %lld, "
      "\"qps\": %.1f, \"p50_us\": %.1f, \"p99_us\": %.1f}\n",
      target.c_str(), concurrency, latencies_us.size(), static_cast<long long>(errors),
      static_cast<double>(latencies_us.size()) / duration_s, percentile(0.50), percentile(0.99));
  return errors == 0 ? 0 : 1;
}
