// One client connection of the REST gateway: reads requests (keep-alive, limits and timeouts
// applied before a byte of the body is read), routes them, and writes whole responses or
// server-sent event streams. Everything on a connection runs on its strand; handlers answer from
// any thread through their HttpExchange.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "config/config.h"
#include "server/http/router.h"

namespace trustformers::server::http {

// What every connection shares with the server that accepted it.
struct SessionEnvironment {
  const Router* router = nullptr;
  config::HttpConfig limits;
  // Checks the Authorization header; empty when no API keys are configured.
  std::function<absl::Status(std::string_view)> authorize;
  // With keys configured, RouteAccess::kOperations routes still need none.
  bool open_operations = true;
  // Set while the server drains: new requests get 503 and the connection closes.
  const std::atomic<bool>* draining = nullptr;
  // Called once per finished exchange (metrics, logs).
  std::function<void(const std::string& method, const std::string& route, int status,
                     double seconds)>
      record;
};

// The server's handle on a connection, whatever its transport.
class Session {
 public:
  virtual ~Session() = default;
  // Starts the TLS handshake if any, then reads the first request.
  virtual void Run() = 0;
  // Closes the connection now; a running exchange sees its client as gone.
  virtual void Close() = 0;
  // Closes the connection if it is between requests; a running exchange may finish first.
  virtual void CloseIfIdle() = 0;
  // True while a request is being answered.
  virtual bool Busy() const = 0;
};

}  // namespace trustformers::server::http
