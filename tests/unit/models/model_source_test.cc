#include "models/loader/model_source.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "catch2/catch.hpp"
#include "unit/temp_dir.h"

namespace trustformers::models {
namespace {

using testing::TempDir;

std::string Gguf(uint32_t version) {
  std::string bytes = "GGUF";
  bytes.append(reinterpret_cast<const char*>(&version), sizeof(version));
  bytes.append(16, '\0');  // tensor and metadata counts
  return bytes;
}

TEST_CASE("model source: Hugging Face folder with one safetensors file", "[models]") {
  TempDir dir;
  dir.Write("bert/config.json", R"({"architectures": ["BertModel"], "model_type": "bert"})");
  dir.Write("bert/model.safetensors", std::string(100, 'x'));
  absl::StatusOr<ModelSource> source = InspectModelSource((dir.path() / "bert").string());
  REQUIRE(source.ok());
  CHECK(source->format == ModelFormat::kHfSafetensors);
  CHECK(source->architecture == "BertModel");
  CHECK(source->weight_bytes == 100);
  REQUIRE(source->weight_files.size() == 1);
}

TEST_CASE("model source: sharded safetensors through the index", "[models]") {
  TempDir dir;
  dir.Write("m/config.json", R"({"model_type": "llama"})");
  dir.Write("m/model.safetensors.index.json",
            R"({"weight_map": {"a": "model-00001-of-00002.safetensors",
                               "b": "model-00002-of-00002.safetensors",
                               "c": "model-00001-of-00002.safetensors"}})");
  dir.Write("m/model-00001-of-00002.safetensors", "12345");
  dir.Write("m/model-00002-of-00002.safetensors", "123");
  absl::StatusOr<ModelSource> source = InspectModelSource((dir.path() / "m").string());
  REQUIRE(source.ok());
  CHECK(source->architecture == "llama");
  CHECK(source->weight_files.size() == 2);
  CHECK(source->weight_bytes == 8);
}

TEST_CASE("model source: a shard index cannot escape the folder", "[models]") {
  TempDir dir;
  dir.Write("m/config.json", "{}");
  dir.Write("m/model.safetensors.index.json", R"({"weight_map": {"a": "../../etc/passwd"}})");
  absl::StatusOr<ModelSource> source = InspectModelSource((dir.path() / "m").string());
  REQUIRE_FALSE(source.ok());
  CHECK(source.status().message().find("not a plain file name") != std::string::npos);
}

TEST_CASE("model source: GGUF v2 and v3 files", "[models]") {
  TempDir dir;
  for (uint32_t version : {2u, 3u}) {
    const auto file = dir.Write(absl::StrCat("m", version, ".gguf"), Gguf(version));
    absl::StatusOr<ModelSource> source = InspectModelSource(file.string());
    REQUIRE(source.ok());
    CHECK(source->format == ModelFormat::kGguf);
    CHECK(source->gguf_version == version);
  }
  const auto old = dir.Write("old.gguf", Gguf(1));
  absl::StatusOr<ModelSource> source = InspectModelSource(old.string());
  REQUIRE_FALSE(source.ok());
  CHECK(source.status().message().find("GGUF version 1; versions 2 and 3 are supported") !=
        std::string::npos);
}

TEST_CASE("model source: pickle checkpoints are refused by name and by content", "[models]") {
  TempDir dir;
  dir.Write("hf/config.json", "{}");
  dir.Write("hf/pytorch_model.bin", "\x80\x02}q\x00.");
  for (const auto& path :
       {dir.path() / "hf", dir.Write("w.pt", "x"), dir.Write("disguised.gguf", "PK\x03\x04zipped"),
        dir.Write("raw.gguf", "\x80\x04\x95pickle")}) {
    absl::StatusOr<ModelSource> source = InspectModelSource(path.string());
    REQUIRE_FALSE(source.ok());
    CHECK(source.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(source.status().message().find("pickle") != std::string::npos);
  }
}

TEST_CASE("model source: malformed inputs get a clear error", "[models]") {
  TempDir dir;
  CHECK(InspectModelSource((dir.path() / "missing").string()).status().code() ==
        absl::StatusCode::kNotFound);

  dir.Write("noconfig/model.safetensors", "x");
  CHECK(InspectModelSource((dir.path() / "noconfig").string())
            .status()
            .message()
            .find("has no config.json") != std::string::npos);

  dir.Write("badjson/config.json", "{not json");
  CHECK(InspectModelSource((dir.path() / "badjson").string())
            .status()
            .message()
            .find("is not valid JSON") != std::string::npos);

  dir.Write("noweights/config.json", "{}");
  CHECK(InspectModelSource((dir.path() / "noweights").string())
            .status()
            .message()
            .find("neither model.safetensors") != std::string::npos);

  CHECK(InspectModelSource(dir.Write("short.gguf", "GG").string())
            .status()
            .message()
            .find("shorter than a GGUF header") != std::string::npos);
  CHECK(InspectModelSource(dir.Write("text.gguf", "hello world!").string())
            .status()
            .message()
            .find("not a GGUF file") != std::string::npos);
  CHECK(InspectModelSource(dir.Write("bare.safetensors", "x").string())
            .status()
            .message()
            .find("bare safetensors file") != std::string::npos);
}

}  // namespace
}  // namespace trustformers::models
