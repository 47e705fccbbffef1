#include "engine/sampling/stop_matcher.h"

#include <algorithm>
#include <utility>

namespace trustformers::engine {

StopMatcher::StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {
  for (const std::string& stop : stops_) {
    max_stop_length_ = std::max(max_stop_length_, stop.size());
    if (!stop.empty()) starts_stop_[static_cast<unsigned char>(stop[0])] = true;
  }
}

StopMatcher::Result StopMatcher::Push(std::string_view piece, bool may_stop) {
  Result result;
  if (stopped_) return result;
  held_.append(piece);
  if (stops_.empty()) {
    result.text = Release(held_.size());
    return result;
  }
  if (may_stop) {
    size_t best_start = 0;
    size_t best_end = std::string::npos;
    for (size_t i = 0; i < stops_.size(); ++i) {
      const std::string& stop = stops_[i];
      if (stop.empty() || stop.size() > held_.size()) continue;
      // The first occurrence that ends after no_stop_before_ ends earliest for this string.
      const size_t from =
          no_stop_before_ >= stop.size() ? no_stop_before_ - stop.size() + 1 : size_t{0};
      const size_t start = held_.find(stop, from);
      if (start == std::string::npos) continue;
      const size_t end = start + stop.size();
      if (end < best_end || (end == best_end && start < best_start)) {
        best_start = start;
        best_end = end;
        result.matched = i;
      }
    }
    if (result.matched) {
      result.text = held_.substr(0, best_start);
      held_.clear();
      no_stop_before_ = 0;
      stopped_ = true;
      return result;
    }
  } else {
    no_stop_before_ = held_.size();
  }
  result.text = Release(held_.size() - HeldSuffixLength());
  return result;
}

std::string StopMatcher::Flush() {
  if (stopped_) return {};
  return Release(held_.size());
}

size_t StopMatcher::HeldSuffixLength() const {
  const size_t longest = std::min(held_.size(), max_stop_length_ - 1);
  for (size_t length = longest; length > 0; --length) {
    const std::string_view suffix = std::string_view(held_).substr(held_.size() - length);
    if (!starts_stop_[static_cast<unsigned char>(suffix[0])]) continue;
    for (const std::string& stop : stops_) {
      if (stop.size() > length && std::string_view(stop).substr(0, length) == suffix) {
        return length;
      }
    }
  }
  return 0;
}

std::string StopMatcher::Release(size_t bytes) {
  std::string out = held_.substr(0, bytes);
  held_.erase(0, bytes);
  no_stop_before_ -= std::min(no_stop_before_, bytes);
  return out;
}

}  // namespace trustformers::engine
