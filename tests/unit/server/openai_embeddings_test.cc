#include <cstring>

#include "absl/strings/escaping.h"
#include "catch2/catch.hpp"
#include "server/http/openai/embeddings.h"
#include "server/http/openai/json_output.h"
#include "server/http/openai/models_list.h"
#include "server/http/openai/openai_error.h"

namespace trustformers::server::openai {
namespace {

using nlohmann::json;
using P = std::pair<std::string, std::string>;

EmbeddingsRequest Parse(const std::string& body) {
  absl::StatusOr<EmbeddingsRequest> request = ParseEmbeddingsRequest(json::parse(body));
  INFO(request.status().ToString());
  REQUIRE(request.ok());
  return *std::move(request);
}

P ErrorOf(const std::string& body) {
  absl::StatusOr<EmbeddingsRequest> request = ParseEmbeddingsRequest(json::parse(body));
  REQUIRE_FALSE(request.ok());
  const ApiError error = ApiErrorFromStatus(request.status());
  CHECK(error.http_status == 400);
  return {error.param.value_or("<none>"), error.code};
}

TEST_CASE("openai embeddings request: the four input forms", "[openai]") {
  EmbeddingsRequest r = Parse(R"({"model": "bge", "input": "hello"})");
  CHECK(r.embed.model() == "bge");
  REQUIRE(r.embed.inputs_size() == 1);
  CHECK(r.embed.inputs(0) == "hello");
  CHECK(r.encoding == EmbeddingEncoding::kFloat);
  CHECK_FALSE(r.embed.has_dimensions());

  r = Parse(R"({"model": "bge", "input": ["a", "b"], "encoding_format": "base64",
                "dimensions": 64, "user": "u"})");
  CHECK(r.embed.inputs_size() == 2);
  CHECK(r.embed.inputs(1) == "b");
  CHECK(r.encoding == EmbeddingEncoding::kBase64);
  CHECK(r.embed.dimensions() == 64);

  r = Parse(R"({"model": "bge", "input": [101, 102], "encoding_format": "float"})");
  CHECK(r.embed.inputs_size() == 0);
  REQUIRE(r.embed.input_token_ids_size() == 1);
  CHECK(r.embed.input_token_ids(0).ids_size() == 2);
  CHECK(r.embed.input_token_ids(0).ids(1) == 102);

  r = Parse(R"({"model": "bge", "input": [[1], [2, 3]], "encoding_format": null})");
  REQUIRE(r.embed.input_token_ids_size() == 2);
  CHECK(r.embed.input_token_ids(1).ids(1) == 3);
}

TEST_CASE("openai embeddings request: errors name the field", "[openai]") {
  CHECK(ErrorOf(R"({"model": "m"})") == P{"input", "missing_required_parameter"});
  CHECK(ErrorOf(R"({"model": "m", "input": ""})") == P{"input", "invalid_value"});
  CHECK(ErrorOf(R"({"model": "m", "input": []})") == P{"input", "invalid_value"});
  CHECK(ErrorOf(R"({"model": "m", "input": null})") == P{"input", "missing_required_parameter"});
  CHECK(ErrorOf(R"({"model": "m", "input": 5})") == P{"input", "invalid_type"});
  CHECK(ErrorOf(R"({"model": "m", "input": ["a", ""]})") == P{"input[1]", "invalid_value"});
  CHECK(ErrorOf(R"({"model": "m", "input": ["a", 3]})") == P{"input[1]", "invalid_type"});
  CHECK(ErrorOf(R"({"model": "m", "input": [[1], []]})") == P{"input[1]", "invalid_value"});
  CHECK(ErrorOf(R"({"model": "m", "input": [[1], [-1]]})") == P{"input[1][0]", "invalid_value"});
  CHECK(ErrorOf(R"({"input": "x"})") == P{"model", "missing_required_parameter"});
  CHECK(ErrorOf(R"({"model": "m", "input": "x", "encoding_format": "int8"})") ==
        P{"encoding_format", "invalid_value"});
  CHECK(ErrorOf(R"({"model": "m", "input": "x", "dimensions": 0})") ==
        P{"dimensions", "invalid_value"});
  CHECK(ErrorOf(R"({"model": "m", "input": "x", "dimensions": "8"})") ==
        P{"dimensions", "invalid_type"});
}

v1::EmbedResponse Response() {
  v1::EmbedResponse response;
  response.set_model("bge");
  for (int i = 0; i < 2; ++i) {
    v1::Embedding* e = response.add_embeddings();
    e->set_index(i);
    e->add_values(0.1f * static_cast<float>(i + 1));
    e->add_values(-1.5f);
    e->add_values(3.4028235e38f);
    e->set_token_count(3);
  }
  response.mutable_usage()->set_prompt_tokens(6);
  response.mutable_usage()->set_total_tokens(6);
  return response;
}

TEST_CASE("openai embeddings response: float encoding", "[openai]") {
  const json body = EmbeddingsResponseJson(Response(), EmbeddingEncoding::kFloat);
  CHECK(DumpJson(body) ==
        R"({"data":[{"embedding":[0.1,-1.5,3.4028235e+38],"index":0,"object":"embedding"},)"
        R"({"embedding":[0.2,-1.5,3.4028235e+38],"index":1,"object":"embedding"}],)"
        R"("model":"bge","object":"list","usage":{"prompt_tokens":6,"total_tokens":6}})");
}

TEST_CASE("openai embeddings response: base64 round-trips float32 little-endian", "[openai]") {
  const v1::EmbedResponse response = Response();
  const json body = EmbeddingsResponseJson(response, EmbeddingEncoding::kBase64);
  REQUIRE(body["data"].size() == 2);
  for (size_t i = 0; i < 2; ++i) {
    const json& item = body["data"][i];
    CHECK(item["object"] == "embedding");
    CHECK(item["index"] == i);
    REQUIRE(item["embedding"].is_string());
    std::string bytes;
    REQUIRE(absl::Base64Unescape(item["embedding"].get<std::string>(), &bytes));
    REQUIRE(bytes.size() == 12);
    for (int k = 0; k < 3; ++k) {
      uint32_t bits = 0;
      for (int b = 3; b >= 0; --b) {
        bits = (bits << 8) | static_cast<unsigned char>(bytes[static_cast<size_t>(k * 4 + b)]);
      }
      float value = 0;
      std::memcpy(&value, &bits, sizeof(value));
      CHECK(value == response.embeddings(static_cast<int>(i)).values(k));
    }
  }
  // 1.0f is 00 00 80 3f little-endian.
  v1::EmbedResponse one;
  one.add_embeddings()->add_values(1.0f);
  CHECK(EmbeddingsResponseJson(one, EmbeddingEncoding::kBase64)["data"][0]["embedding"] ==
        "AACAPw==");
}

TEST_CASE("openai models: list and one model", "[openai]") {
  v1::ListModelsResponse response;
  v1::ModelInfo* ready = response.add_models();
  ready->set_name("smol");
  ready->set_state(v1::MODEL_STATE_READY);
  ready->set_max_context_tokens(8192);
  ready->mutable_state_changed_at()->set_seconds(1700000000);
  v1::ModelInfo* failed = response.add_models();
  failed->set_name("broken");
  failed->set_state(v1::MODEL_STATE_FAILED);
  v1::ModelInfo* loading = response.add_models();
  loading->set_name("next");
  loading->set_state(v1::MODEL_STATE_LOADING);

  CHECK(ModelListJson(response) == json::parse(R"({"object": "list", "data": [
    {"id": "smol", "object": "model", "created": 1700000000, "owned_by": "trustformers",
     "max_model_len": 8192},
    {"id": "next", "object": "model", "created": 0, "owned_by": "trustformers"}]})"));
  CHECK(ModelJson(*failed) == json::parse(R"({"id": "broken", "object": "model", "created": 0,
      "owned_by": "trustformers"})"));
  CHECK(ModelListJson(v1::ListModelsResponse()) ==
        json::parse(R"({"object": "list", "data": []})"));
}

}  // namespace
}  // namespace trustformers::server::openai
