#include "server/status_mapping.h"

#include "catch2/catch.hpp"

namespace trustformers::server {
namespace {

TEST_CASE("status mapping: gRPC code and message", "[server]") {
  CHECK(ToGrpcStatus(absl::OkStatus()).ok());
  const grpc::Status status = ToGrpcStatus(absl::NotFoundError("model 'x' is not served here"));
  CHECK(status.error_code() == grpc::StatusCode::NOT_FOUND);
  CHECK(status.error_message() == "model 'x' is not served here");
  CHECK(ToGrpcStatus(absl::ResourceExhaustedError("queue full")).error_code() ==
        grpc::StatusCode::RESOURCE_EXHAUSTED);
  CHECK(ToGrpcStatus(absl::UnauthenticatedError("no key")).error_code() ==
        grpc::StatusCode::UNAUTHENTICATED);
  CHECK(ToGrpcStatus(absl::DataLossError("checksum")).error_code() == grpc::StatusCode::DATA_LOSS);
}

TEST_CASE("status mapping: every absl code has a gRPC code of the same meaning", "[server]") {
  for (int code = 1; code <= 16; ++code) {
    const absl::Status status(static_cast<absl::StatusCode>(code), "m");
    CHECK(static_cast<int>(ToGrpcStatus(status).error_code()) == code);
  }
}

TEST_CASE("status mapping: HTTP statuses", "[server]") {
  CHECK(HttpStatusFor(absl::StatusCode::kOk) == 200);
  CHECK(HttpStatusFor(absl::StatusCode::kInvalidArgument) == 400);
  CHECK(HttpStatusFor(absl::StatusCode::kFailedPrecondition) == 422);
  CHECK(HttpStatusFor(absl::StatusCode::kUnauthenticated) == 401);
  CHECK(HttpStatusFor(absl::StatusCode::kPermissionDenied) == 403);
  CHECK(HttpStatusFor(absl::StatusCode::kNotFound) == 404);
  CHECK(HttpStatusFor(absl::StatusCode::kAlreadyExists) == 409);
  CHECK(HttpStatusFor(absl::StatusCode::kResourceExhausted) == 429);
  CHECK(HttpStatusFor(absl::StatusCode::kCancelled) == 499);
  CHECK(HttpStatusFor(absl::StatusCode::kInternal) == 500);
  CHECK(HttpStatusFor(absl::StatusCode::kUnimplemented) == 501);
  CHECK(HttpStatusFor(absl::StatusCode::kUnavailable) == 503);
  CHECK(HttpStatusFor(absl::StatusCode::kDeadlineExceeded) == 504);
}

}  // namespace
}  // namespace trustformers::server
