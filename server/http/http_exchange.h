// One HTTP request and the response to it, as a route handler sees it. The handler may answer at
// once or later from any thread (after a model call returns); the session serialises everything
// onto its connection. A response is either whole (Respond) or a server-sent event stream
// (StartEvents, SendEvent..., EndEvents).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace trustformers::server::http {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// A piece of a streamed request body (HttpExchange::ReadBody).
struct BodyPiece {
  std::string bytes;
  // The body ended with this piece (which may then be empty).
  bool last = false;
};

struct HttpRequestView {
  std::string method;
  // The path without the query string, percent-decoding not applied.
  std::string path;
  std::map<std::string, std::string> query;
  // Empty for routes added with Router::AddStreaming: their handlers call ReadBody.
  std::string body;
  std::string content_type;
  std::string authorization;
  // Values captured by `{name}` segments of the route pattern.
  std::map<std::string, std::string> path_params;
};

class HttpExchange {
 public:
  virtual ~HttpExchange() = default;

  virtual const HttpRequestView& request() const = 0;

  // Sends the whole response and ends the exchange.
  virtual void Respond(int status, std::string content_type, std::string body,
                       HeaderList headers = {}) = 0;

  // Starts a `text/event-stream` response with status 200.
  virtual void StartEvents(HeaderList headers = {}) = 0;
  // Sends one event: "data: <data>" followed by a blank line. `data` must hold no newline.
  virtual void SendEvent(std::string data) = 0;
  // Ends the event stream and the exchange.
  virtual void EndEvents() = 0;

  // Streaming routes only (Router::AddStreaming): reads the next piece of the request body, at
  // most 1 MiB, and calls `on_piece` once with it on an I/O thread (it must not block). Call it
  // again for the next piece once this one is handled: the body is read only as fast as the
  // handler asks for it. CANCELLED when the client went away or sent nothing for
  // http.body_timeout_s; OUT_OF_RANGE when the body passed the route's limit (the client then
  // already got 413); FAILED_PRECONDITION with a read already in flight.
  virtual void ReadBody(std::function<void(absl::StatusOr<BodyPiece>)> on_piece) = 0;

  // `on_gone` runs once, on an I/O thread, if the client disconnects (or the server stops the
  // connection) before the exchange ended; a handler cancels its model work there. Runs at once
  // when the client is already gone.
  virtual void OnClientGone(std::function<void()> on_gone) = 0;
};

}  // namespace trustformers::server::http
