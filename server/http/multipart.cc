#include "server/http/multipart.h"

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace trustformers::server::http {
namespace {

constexpr size_t kMaxHeaderBytes = 16 * 1024;
constexpr size_t kMaxHeaders = 64;
constexpr size_t kMaxBoundaryLine = 256;

struct Parameter {
  std::string name;  // lower case
  std::string value;
};

// Splits `value` at ';' outside quotes into the leading token and name=value parameters (values
// unquoted, backslash escapes resolved).
absl::Status SplitParameters(absl::string_view value, std::string* token,
                             std::vector<Parameter>* parameters) {
  std::vector<std::string> items;
  std::string current;
  bool quoted = false;
  for (size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (quoted && c == '\\' && i + 1 < value.size()) {
      current.push_back(c);
      current.push_back(value[++i]);
      continue;
    }
    if (c == '"') quoted = !quoted;
    if (c == ';' && !quoted) {
      items.push_back(std::move(current));
      current.clear();
      continue;
    }
    current.push_back(c);
  }
  if (quoted) return absl::InvalidArgumentError("an unterminated quoted string");
  items.push_back(std::move(current));
  *token = absl::AsciiStrToLower(absl::StripAsciiWhitespace(items[0]));
  for (size_t i = 1; i < items.size(); ++i) {
    absl::string_view item = absl::StripAsciiWhitespace(items[i]);
    if (item.empty()) continue;
    const size_t equals = item.find('=');
    if (equals == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("a parameter without '=': ", item));
    }
    Parameter p;
    p.name = absl::AsciiStrToLower(absl::StripAsciiWhitespace(item.substr(0, equals)));
    absl::string_view raw = absl::StripAsciiWhitespace(item.substr(equals + 1));
    if (raw.size() >= 2 && raw.front() == '"' && raw.back() == '"') {
      raw = raw.substr(1, raw.size() - 2);
      for (size_t j = 0; j < raw.size(); ++j) {
        if (raw[j] == '\\' && j + 1 < raw.size()) ++j;
        p.value.push_back(raw[j]);
      }
    } else {
      p.value = std::string(raw);
    }
    parameters->push_back(std::move(p));
  }
  return absl::OkStatus();
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// RFC 5987 ext-value: charset'language'percent-encoded.
std::optional<std::string> DecodeExtValue(absl::string_view value) {
  const size_t first = value.find('\'');
  if (first == absl::string_view::npos) return std::nullopt;
  const size_t second = value.find('\'', first + 1);
  if (second == absl::string_view::npos) return std::nullopt;
  std::string out;
  for (size_t i = second + 1; i < value.size(); ++i) {
    if (value[i] != '%') {
      out.push_back(value[i]);
      continue;
    }
    if (i + 2 >= value.size()) return std::nullopt;
    const int high = HexDigit(value[i + 1]);
    const int low = HexDigit(value[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    out.push_back(static_cast<char>(high * 16 + low));
    i += 2;
  }
  return out;
}

}  // namespace

absl::StatusOr<std::string> MultipartBoundary(absl::string_view content_type) {
  std::string token;
  std::vector<Parameter> parameters;
  if (absl::Status s = SplitParameters(content_type, &token, &parameters); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("Content-Type: ", s.message()));
  }
  if (token != "multipart/form-data") {
    return absl::InvalidArgumentError(absl::StrCat(
        "the body must be multipart/form-data (fields 'purpose' and 'file'), got Content-Type '",
        content_type, "'"));
  }
  for (const Parameter& p : parameters) {
    if (p.name != "boundary") continue;
    if (p.value.empty() || p.value.size() > 70) {
      return absl::InvalidArgumentError("Content-Type: the boundary must be 1 to 70 characters");
    }
    return p.value;
  }
  return absl::InvalidArgumentError("Content-Type: multipart/form-data without a boundary");
}

MultipartReader::MultipartReader(std::string boundary, Callbacks callbacks)
    : dash_boundary_("--" + boundary),
      body_delimiter_("\r\n--" + boundary),
      callbacks_(std::move(callbacks)),
      // The first boundary may open the body without a line break before it.
      pending_("\r\n") {}

absl::Status MultipartReader::Fail(std::string message) {
  status_ = absl::InvalidArgumentError(absl::StrCat("multipart body: ", message));
  pending_.clear();
  return status_;
}

absl::Status MultipartReader::ParseHeaders(absl::string_view block) {
  MultipartPart part;
  bool disposition = false;
  std::vector<absl::string_view> lines =
      block.empty() ? std::vector<absl::string_view>{} : absl::StrSplit(block, "\r\n");
  if (lines.size() > kMaxHeaders) return Fail("a part has more than 64 headers");
  for (absl::string_view line : lines) {
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos) {
      return Fail(absl::StrCat("a malformed part header: '", line.substr(0, 100), "'"));
    }
    const std::string name =
        absl::AsciiStrToLower(absl::StripAsciiWhitespace(line.substr(0, colon)));
    const absl::string_view value = absl::StripAsciiWhitespace(line.substr(colon + 1));
    if (name == "content-type") {
      part.content_type = std::string(value);
    } else if (name == "content-disposition") {
      std::string token;
      std::vector<Parameter> parameters;
      if (absl::Status s = SplitParameters(value, &token, &parameters); !s.ok()) {
        return Fail(absl::StrCat("Content-Disposition: ", s.message()));
      }
      if (token != "form-data") {
        return Fail(absl::StrCat("Content-Disposition must be form-data, got '", token, "'"));
      }
      disposition = true;
      for (const Parameter& p : parameters) {
        if (p.name == "name") {
          part.name = p.value;
        } else if (p.name == "filename") {
          part.filename = p.value;
        } else if (p.name == "filename*" && !part.filename) {
          part.filename = DecodeExtValue(p.value);
        }
      }
    }
  }
  if (!disposition || part.name.empty()) {
    return Fail("a part without a Content-Disposition naming its field");
  }
  if (absl::Status s = callbacks_.on_part(part); !s.ok()) {
    status_ = s;
    return s;
  }
  return absl::OkStatus();
}

absl::Status MultipartReader::Feed(absl::string_view piece) {
  if (!status_.ok()) return status_;
  if (state_ == State::kDone) return absl::OkStatus();  // the epilogue is ignored
  pending_.append(piece.data(), piece.size());
  return Step();
}

absl::Status MultipartReader::Step() {
  while (true) {
    switch (state_) {
      case State::kPreamble: {
        const size_t at = pending_.find(body_delimiter_);
        if (at == std::string::npos) {
          // Keep what could be the start of the delimiter.
          const size_t keep = std::min(pending_.size(), body_delimiter_.size() - 1);
          pending_.erase(0, pending_.size() - keep);
          return absl::OkStatus();
        }
        pending_.erase(0, at + body_delimiter_.size());
        state_ = State::kAfterBoundary;
        break;
      }
      case State::kAfterBoundary: {
        if (pending_.size() < 2) return absl::OkStatus();
        if (pending_.compare(0, 2, "--") == 0) {
          state_ = State::kDone;
          pending_.clear();
          return absl::OkStatus();
        }
        const size_t eol = pending_.find("\r\n");
        if (eol == std::string::npos) {
          if (pending_.size() > kMaxBoundaryLine) return Fail("a malformed boundary line");
          return absl::OkStatus();
        }
        for (size_t i = 0; i < eol; ++i) {
          if (pending_[i] != ' ' && pending_[i] != '\t') {
            return Fail("a boundary followed by something other than a line break");
          }
        }
        pending_.erase(0, eol + 2);
        state_ = State::kHeaders;
        break;
      }
      case State::kHeaders: {
        std::string block;
        if (pending_.size() >= 2 && pending_.compare(0, 2, "\r\n") == 0) {
          pending_.erase(0, 2);  // a part without headers
        } else {
          const size_t end = pending_.find("\r\n\r\n");
          if (end == std::string::npos) {
            if (pending_.size() > kMaxHeaderBytes) return Fail("part headers over 16 KiB");
            return absl::OkStatus();
          }
          if (end > kMaxHeaderBytes) return Fail("part headers over 16 KiB");
          block = pending_.substr(0, end);
          pending_.erase(0, end + 4);
        }
        if (absl::Status s = ParseHeaders(block); !s.ok()) return s;
        state_ = State::kBody;
        break;
      }
      case State::kBody: {
        const size_t at = pending_.find(body_delimiter_);
        if (at == std::string::npos) {
          const size_t keep = std::min(pending_.size(), body_delimiter_.size() - 1);
          const size_t emit = pending_.size() - keep;
          if (emit > 0) {
            if (absl::Status s = callbacks_.on_data(absl::string_view(pending_).substr(0, emit));
                !s.ok()) {
              status_ = s;
              return s;
            }
            pending_.erase(0, emit);
          }
          return absl::OkStatus();
        }
        if (at > 0) {
          if (absl::Status s = callbacks_.on_data(absl::string_view(pending_).substr(0, at));
              !s.ok()) {
            status_ = s;
            return s;
          }
        }
        if (absl::Status s = callbacks_.on_part_end(); !s.ok()) {
          status_ = s;
          return s;
        }
        pending_.erase(0, at + body_delimiter_.size());
        state_ = State::kAfterBoundary;
        break;
      }
      case State::kDone:
        pending_.clear();
        return absl::OkStatus();
    }
  }
}

absl::Status MultipartReader::Finish() {
  if (!status_.ok()) return status_;
  if (state_ != State::kDone) return Fail("the body ended before the closing boundary");
  return absl::OkStatus();
}

}  // namespace trustformers::server::http
