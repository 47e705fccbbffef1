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

namespace trustformers::server::http {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct HttpRequestView {
  std::string method;
  // The path without the query string, percent-decoding not applied.
  std::string path;
  std::map<std::string, std::string> query;
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

  // `on_gone` runs once, on an I/O thread, if the client disconnects (or the server stops the
  // connection) before the exchange ended; a handler cancels its model work there. Runs at once
  // when the client is already gone.
  virtual void OnClientGone(std::function<void()> on_gone) = 0;
};

}  // namespace trustformers::server::http
