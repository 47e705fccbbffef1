// Finds stop strings in a choice's generated text as it arrives piece by piece, across token
// boundaries. What it returns is safe to send: text that could still turn out to be the start of
// a stop string is held back until the next pieces settle it, and a matched stop string and
// everything after it are never returned.
//
// When one piece completes several stop strings, the one that ends first wins (ties: the one
// that starts first), i.e. the match a character-by-character reader would see first; so the
// result does not depend on how the text is cut into pieces.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace trustformers::engine {

class StopMatcher {
 public:
  struct Result {
    // Text to emit now, in order after what earlier calls returned.
    std::string text;
    // Index of the stop string that ended the text, if one did; nothing follows it.
    std::optional<size_t> matched;
  };

  // `stops`: non-empty strings (validated UTF-8, see ValidateSamplingParams).
  explicit StopMatcher(std::vector<std::string> stops);

  // Appends `piece` (whole UTF-8 characters). With `may_stop` false a stop string that ends
  // inside this piece does not count (min_tokens not reached yet), though one that begins here
  // and ends in a later piece may. After a match, pieces are ignored.
  Result Push(std::string_view piece, bool may_stop = true);

  // The end of the text: releases what is held back. Empty after a match.
  std::string Flush();

  bool stopped() const { return stopped_; }
  const std::vector<std::string>& stops() const { return stops_; }

 private:
  // Length of the longest suffix of held_ that is a proper prefix of some stop string.
  size_t HeldSuffixLength() const;
  // Moves the first `bytes` of held_ out.
  std::string Release(size_t bytes);

  std::vector<std::string> stops_;
  size_t max_stop_length_ = 0;
  // Whether some stop string starts with this byte: most suffixes fail on their first byte.
  std::array<bool, 256> starts_stop_{};
  // Text received but not yet returned.
  std::string held_;
  // A match must end after this many bytes of held_ (they came while stops could not count).
  size_t no_stop_before_ = 0;
  bool stopped_ = false;
};

}  // namespace trustformers::engine
