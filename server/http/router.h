// Maps a request's method and path to its handler. Patterns are literal segments and `{name}`
// segments that capture one path segment ("/v1/models/{model}"). A path that matches no pattern is
// 404; one that matches under another method is 405 with the allowed methods.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "server/http/http_exchange.h"

namespace trustformers::server::http {

using Handler = std::function<void(std::shared_ptr<HttpExchange>)>;

enum class RouteAccess {
  // Needs an API key when keys are configured.
  kProtected,
  // Health and metrics: open when the auth config says so.
  kOperations,
};

struct RouteMatch {
  // Null when nothing matched; then `allowed_methods` is non-empty for a 405.
  const Handler* handler = nullptr;
  RouteAccess access = RouteAccess::kProtected;
  // The pattern that matched (a metrics label with bounded cardinality), or "unmatched".
  std::string pattern = "unmatched";
  std::map<std::string, std::string> params;
  std::vector<std::string> allowed_methods;
  // > 0 for a streaming route: the handler reads the body (HttpExchange::ReadBody), up to this
  // many bytes, instead of the session reading it whole under http.max_body_bytes.
  int64_t stream_body_limit = 0;
};

class Router {
 public:
  void Add(std::string method, std::string pattern, Handler handler,
           RouteAccess access = RouteAccess::kProtected);

  // A route whose handler reads the request body itself, a piece at a time, up to
  // `max_body_bytes` (which replaces http.max_body_bytes for it): for uploads.
  void AddStreaming(std::string method, std::string pattern, Handler handler,
                    int64_t max_body_bytes, RouteAccess access = RouteAccess::kProtected);

  RouteMatch Match(std::string_view method, std::string_view path) const;

 private:
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    Handler handler;
    RouteAccess access;
    int64_t stream_body_limit = 0;
  };
  std::vector<Route> routes_;
};

// The non-empty parts of `text` between separators.
std::vector<std::string_view> SplitNonEmpty(std::string_view text, char separator);

// Splits "/a/b/" into {"a", "b"}; empty segments are dropped.
std::vector<std::string> PathSegments(std::string_view path);

// Decodes %XX escapes (and nothing else); false for a malformed escape.
bool PercentDecode(std::string_view in, std::string* out);

}  // namespace trustformers::server::http
