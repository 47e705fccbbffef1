// The REST gateway's listener: accepts TCP (or TLS) connections on a few I/O threads and hands
// each to a session that reads requests and runs the router's handlers. No thread per connection:
// idle keep-alive connections and open event streams cost a socket and a little memory.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "config/config.h"
#include "server/http/router.h"

namespace trustformers::server::http {

struct HttpServerOptions {
  config::HttpConfig http;
  config::TlsConfig tls;
  // Checks an Authorization header; empty: no API keys configured.
  std::function<absl::Status(std::string_view)> authorize;
  bool open_operations = true;
  // Called once per finished request with its route pattern (metrics).
  std::function<void(const std::string& method, const std::string& route, int status,
                     double seconds)>
      record;
};

class HttpServer {
 public:
  // Binds options.http.address and starts serving `router`, which must outlive the server.
  // UNAVAILABLE when the address cannot be bound, INVALID_ARGUMENT for unusable TLS files.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(HttpServerOptions options,
                                                           const Router* router);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The port actually bound (differs from the config for port 0).
  int port() const;
  int64_t open_connections() const;

  // From now on new requests are refused with 503 and connections close after their response.
  void SetDraining();
  bool draining() const;

  // Stops accepting, lets requests in flight finish until `grace` has passed, then closes every
  // connection (their handlers see the client as gone) and stops the I/O threads.
  void Shutdown(std::chrono::milliseconds grace);

 private:
  struct State;
  explicit HttpServer(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace trustformers::server::http
