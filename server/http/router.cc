#include "server/http/router.h"

#include <algorithm>

namespace trustformers::server::http {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsCapture(const std::string& segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

}  // namespace

std::vector<std::string_view> SplitNonEmpty(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(separator, start);
    if (end == std::string_view::npos) end = text.size();
    if (end > start) parts.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

std::vector<std::string> PathSegments(std::string_view path) {
  std::vector<std::string> segments;
  for (std::string_view part : SplitNonEmpty(path, '/')) segments.emplace_back(part);
  return segments;
}

bool PercentDecode(std::string_view in, std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    const int high = HexValue(in[i + 1]);
    const int low = HexValue(in[i + 2]);
    if (high < 0 || low < 0) return false;
    out->push_back(static_cast<char>(high * 16 + low));
    i += 2;
  }
  return true;
}

void Router::Add(std::string method, std::string pattern, Handler handler, RouteAccess access) {
  std::vector<std::string> segments = PathSegments(pattern);
  routes_.push_back(
      {std::move(method), std::move(pattern), std::move(segments), std::move(handler), access});
}

void Router::AddStreaming(std::string method, std::string pattern, Handler handler,
                          int64_t max_body_bytes, RouteAccess access) {
  Add(std::move(method), std::move(pattern), std::move(handler), access);
  routes_.back().stream_body_limit = std::max<int64_t>(1, max_body_bytes);
}

RouteMatch Router::Match(std::string_view method, std::string_view path) const {
  const std::vector<std::string> segments = PathSegments(path);
  RouteMatch result;
  for (const Route& route : routes_) {
    if (route.segments.size() != segments.size()) continue;
    std::map<std::string, std::string> params;
    bool matches = true;
    for (size_t i = 0; i < segments.size() && matches; ++i) {
      const std::string& want = route.segments[i];
      if (IsCapture(want)) {
        std::string decoded;
        matches = PercentDecode(segments[i], &decoded) && !decoded.empty();
        params[want.substr(1, want.size() - 2)] = std::move(decoded);
      } else {
        matches = want == segments[i];
      }
    }
    if (!matches) continue;
    if (route.method != method) {
      if (std::find(result.allowed_methods.begin(), result.allowed_methods.end(), route.method) ==
          result.allowed_methods.end()) {
        result.allowed_methods.push_back(route.method);
      }
      continue;
    }
    result.handler = &route.handler;
    result.access = route.access;
    result.pattern = route.pattern;
    result.params = std::move(params);
    result.stream_body_limit = route.stream_body_limit;
    result.allowed_methods.clear();
    return result;
  }
  return result;
}

}  // namespace trustformers::server::http
