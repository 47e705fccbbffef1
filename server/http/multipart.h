// An incremental reader of multipart/form-data bodies (RFC 7578), for uploads that are streamed
// rather than held whole: the body arrives in pieces of any size, split anywhere, and each part's
// bytes are handed on as they come, so memory stays bounded by the largest piece plus the
// boundary. What the openai SDKs and curl -F send: parts with a Content-Disposition naming the
// field (and a filename for files), CRLF line ends.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace trustformers::server::http {

// The boundary of a Content-Type "multipart/form-data; boundary=..." value (quoted or not);
// INVALID_ARGUMENT for another type or a missing or malformed boundary.
absl::StatusOr<std::string> MultipartBoundary(absl::string_view content_type);

struct MultipartPart {
  std::string name;                     // the form field
  std::optional<std::string> filename;  // set for file fields
  std::string content_type;             // "" when the part gives none
};

class MultipartReader {
 public:
  struct Callbacks {
    // A part begins; a non-OK status stops the reader with that error.
    std::function<absl::Status(const MultipartPart& part)> on_part;
    // The next bytes of the current part (never empty).
    std::function<absl::Status(absl::string_view bytes)> on_data;
    // The current part ended.
    std::function<absl::Status()> on_part_end;
  };

  MultipartReader(std::string boundary, Callbacks callbacks);

  // Feeds the next piece of the body. After an error every call returns it again. Part headers
  // over 16 KiB, or more than 64 headers, are INVALID_ARGUMENT.
  absl::Status Feed(absl::string_view piece);
  // The body ended: INVALID_ARGUMENT unless the closing boundary was seen.
  absl::Status Finish();

  bool done() const { return state_ == State::kDone; }

 private:
  enum class State { kPreamble, kAfterBoundary, kHeaders, kBody, kDone };

  absl::Status Fail(std::string message);
  absl::Status ParseHeaders(absl::string_view block);
  absl::Status Step();

  const std::string dash_boundary_;   // "--" + boundary
  const std::string body_delimiter_;  // "\r\n--" + boundary
  Callbacks callbacks_;
  State state_ = State::kPreamble;
  std::string pending_;  // bytes not yet consumed
  absl::Status status_;
};

}  // namespace trustformers::server::http
