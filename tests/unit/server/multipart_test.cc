#include "server/http/multipart.h"

#include <random>
#include <vector>

#include "catch2/catch.hpp"

namespace trustformers::server::http {
namespace {

struct Part {
  MultipartPart header;
  std::string data;
  bool ended = false;
};

// Feeds `body` in pieces cut at `cuts` (offsets); returns the parts seen and the final status.
absl::Status Read(const std::string& boundary, const std::string& body,
                  const std::vector<size_t>& cuts, std::vector<Part>* parts) {
  MultipartReader reader(boundary, {[&](const MultipartPart& part) {
                                      parts->push_back({part, "", false});
                                      return absl::OkStatus();
                                    },
                                    [&](absl::string_view bytes) {
                                      REQUIRE_FALSE(bytes.empty());
                                      parts->back().data.append(bytes.data(), bytes.size());
                                      return absl::OkStatus();
                                    },
                                    [&] {
                                      parts->back().ended = true;
                                      return absl::OkStatus();
                                    }});
  size_t at = 0;
  for (size_t cut : cuts) {
    if (absl::Status s = reader.Feed(absl::string_view(body).substr(at, cut - at)); !s.ok()) {
      return s;
    }
    at = cut;
  }
  if (absl::Status s = reader.Feed(absl::string_view(body).substr(at)); !s.ok()) return s;
  return reader.Finish();
}

// What the openai SDK (httpx) sends for files.create(file=..., purpose="fine-tune").
std::string SdkBody(const std::string& boundary, const std::string& file) {
  return "--" + boundary +
         "\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nfine-tune\r\n--" + boundary +
         "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"train.jsonl\"\r\n"
         "Content-Type: application/octet-stream\r\n\r\n" +
         file + "\r\n--" + boundary + "--\r\n";
}

TEST_CASE("multipart: the boundary of a form-data content type", "[multipart]") {
  CHECK(*MultipartBoundary("multipart/form-data; boundary=abc123") == "abc123");
  CHECK(*MultipartBoundary("Multipart/Form-Data;boundary=\"a b;c\"") == "a b;c");
  CHECK(*MultipartBoundary("multipart/form-data; charset=utf-8; boundary=x") == "x");
  CHECK(MultipartBoundary("application/json").status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(MultipartBoundary("multipart/form-data").status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(MultipartBoundary("multipart/form-data; boundary=").status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(MultipartBoundary("").status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("multipart: the SDK's body, split anywhere, gives the same parts", "[multipart]") {
  const std::string boundary = "5c1b1a9d0e7f4b1e8c6a";
  // File bytes that look like a boundary, a CRLF, and a near miss of the delimiter.
  const std::string file =
      "{\"text\": \"a\", \"label\": \"x\"}\r\n--5c1b1a9d0e7f4b1e8c6\r\n"
      "{\"text\": \"--" +
      boundary + "x\", \"label\": \"y\"}\n\r\n";
  const std::string body = SdkBody(boundary, file);
  std::mt19937 rng(7);
  for (int trial = 0; trial < 300; ++trial) {
    std::vector<size_t> cuts;
    if (trial < static_cast<int>(body.size())) {
      cuts.push_back(static_cast<size_t>(trial));  // every single cut point
    } else {
      std::uniform_int_distribution<size_t> at(0, body.size());
      for (int i = 0; i < 6; ++i) cuts.push_back(at(rng));
      std::sort(cuts.begin(), cuts.end());
    }
    std::vector<Part> parts;
    absl::Status status = Read(boundary, body, cuts, &parts);
    INFO("trial " << trial);
    REQUIRE(status.ok());
    REQUIRE(parts.size() == 2);
    CHECK(parts[0].header.name == "purpose");
    CHECK_FALSE(parts[0].header.filename.has_value());
    CHECK(parts[0].data == "fine-tune");
    CHECK(parts[1].header.name == "file");
    CHECK(parts[1].header.filename == "train.jsonl");
    CHECK(parts[1].header.content_type == "application/octet-stream");
    CHECK(parts[1].data == file);
    CHECK(parts[0].ended);
    CHECK(parts[1].ended);
  }
  // Byte by byte.
  std::vector<size_t> every(body.size());
  for (size_t i = 0; i < body.size(); ++i) every[i] = i;
  std::vector<Part> parts;
  REQUIRE(Read(boundary, body, every, &parts).ok());
  REQUIRE(parts.size() == 2);
  CHECK(parts[1].data == file);
}

TEST_CASE("multipart: preamble, empty parts, quoted names and RFC 5987 file names", "[multipart]") {
  const std::string body =
      "ignored preamble\r\n--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n\r\n--b  \r\n"
      "content-disposition: form-data; name=\"f\"; filename*=utf-8''r%C3%A9sum%C3%A9.jsonl\r\n"
      "\r\n{}\r\n--b\r\nContent-Disposition: form-data; name=\"q\\\"x\"; filename=\"a;b.txt\"\r\n"
      "\r\nz\r\n--b--\r\nepilogue";
  std::vector<Part> parts;
  REQUIRE(Read("b", body, {}, &parts).ok());
  REQUIRE(parts.size() == 3);
  CHECK(parts[0].header.name == "a");
  CHECK(parts[0].data.empty());
  CHECK(parts[1].header.filename == "r\xC3\xA9sum\xC3\xA9.jsonl");
  CHECK(parts[1].data == "{}");
  CHECK(parts[2].header.name == "q\"x");
  CHECK(parts[2].header.filename == "a;b.txt");
}

TEST_CASE("multipart: malformed bodies are INVALID_ARGUMENT", "[multipart]") {
  auto error = [](const std::string& body) {
    std::vector<Part> parts;
    absl::Status status = Read("b", body, {}, &parts);
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    return std::string(status.message());
  };
  CHECK_THAT(error("--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx"),
             Catch::Contains("before the closing boundary"));
  CHECK_THAT(error(""), Catch::Contains("before the closing boundary"));
  CHECK_THAT(error("--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--"),
             Catch::Contains("Content-Disposition"));
  CHECK_THAT(error("--b\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nx\r\n--b--"),
             Catch::Contains("form-data"));
  CHECK_THAT(error("--bX\r\n"), Catch::Contains("boundary"));
  CHECK_THAT(error("--b\r\nno colon here\r\n\r\n\r\n--b--"), Catch::Contains("header"));
  CHECK_THAT(error("--b\r\n" + std::string(20000, 'h')), Catch::Contains("16 KiB"));

  // A callback's error stops the reader and is returned again.
  MultipartReader reader(
      "b", {[](const MultipartPart&) { return absl::FailedPreconditionError("no thanks"); },
            [](absl::string_view) { return absl::OkStatus(); }, [] { return absl::OkStatus(); }});
  CHECK(reader.Feed("--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n").code() ==
        absl::StatusCode::kFailedPrecondition);
  CHECK(reader.Feed("more").code() == absl::StatusCode::kFailedPrecondition);
  CHECK(reader.Finish().code() == absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace trustformers::server::http
