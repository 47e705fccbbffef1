#include "models/loader/safetensors.h"

#include <cstring>
#include <string>

#include "catch2/catch.hpp"
#include "unit/temp_dir.h"

namespace trustformers::models {
namespace {

using backends::DType;
using testing::TempDir;

// A safetensors file: 8-byte little-endian header length, the header, then `data`.
std::string File(const std::string& header, const std::string& data) {
  std::string bytes(8, '\0');
  const uint64_t size = header.size();
  std::memcpy(bytes.data(), &size, sizeof(size));
  return bytes + header + data;
}

std::string Floats(std::initializer_list<float> values) {
  std::string bytes;
  for (float v : values) bytes.append(reinterpret_cast<const char*>(&v), sizeof(v));
  return bytes;
}

// Opens `contents` written to a temp file; returns the error message ("" when it opened).
std::string ErrorOf(const std::string& contents) {
  TempDir dir;
  auto file = SafetensorsFile::Open(dir.Write("m.safetensors", contents).string());
  if (file.ok()) return "";
  CHECK(file.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(file.status().message());
}

TEST_CASE("safetensors: a valid file maps every tensor zero-copy", "[models][safetensors]") {
  TempDir dir;
  const std::string header =
      R"({"__metadata__":{"format":"pt"},"b":{"dtype":"F16","shape":[2],"data_offsets":[8,12]},)"
      R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("empty":{"dtype":"I64","shape":[0,3],"data_offsets":[12,12]}})";
  const std::string data = Floats({1.5f, -2.0f}) + std::string("\x00\x3c\x00\xc0", 4);
  auto file = SafetensorsFile::Open(dir.Write("m.safetensors", File(header, data)).string());
  REQUIRE(file.ok());
  REQUIRE((*file)->tensors().size() == 3);
  CHECK((*file)->tensors()[0].name == "a");  // data order, not header order
  CHECK((*file)->metadata().at("format") == "pt");
  const SafetensorsTensor* a = (*file)->Find("a");
  REQUIRE(a != nullptr);
  CHECK(a->dtype == DType::kF32);
  CHECK(a->shape == std::vector<int64_t>{2});
  CHECK(a->element_count() == 2);
  float values[2];
  std::memcpy(values, a->bytes.data(), sizeof(values));
  CHECK(values[0] == 1.5f);
  CHECK(values[1] == -2.0f);
  CHECK((*file)->Find("b")->dtype == DType::kF16);
  CHECK((*file)->Find("empty")->element_count() == 0);
  CHECK((*file)->Find("missing") == nullptr);
}

TEST_CASE("safetensors: every validation rule names the problem", "[models][safetensors]") {
  const std::string four = Floats({1.0f});
  // One case per rule of the format.
  CHECK(ErrorOf("short").find("fewer than the 8-byte header length") != std::string::npos);
  {
    std::string huge(8, '\0');
    const uint64_t size = 100'000'001;
    std::memcpy(huge.data(), &size, sizeof(size));
    CHECK(ErrorOf(huge).find("exceeds the limit of 100000000 bytes") != std::string::npos);
  }
  {
    std::string past(8, '\0');
    const uint64_t size = 50;
    std::memcpy(past.data(), &size, sizeof(size));
    CHECK(ErrorOf(past + "{}").find("runs past the end") != std::string::npos);
  }
  CHECK(ErrorOf(File("[1,2]", "")).find("does not start with '{'") != std::string::npos);
  CHECK(ErrorOf(File("{\"a\":", "")).find("not valid JSON") != std::string::npos);
  CHECK(ErrorOf(File("{\"\xff\":1}", "")).find("not valid JSON (or not UTF-8)") !=
        std::string::npos);
  CHECK(ErrorOf(File(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                     R"("a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                     four))
            .find("names a tensor twice") != std::string::npos);
  CHECK(ErrorOf(File(R"({"__metadata__":{"k":1}})", "")).find("is not a string") !=
        std::string::npos);
  CHECK(ErrorOf(File(R"({"t":[1]})", "")).find("tensor 't': entry is not an object") !=
        std::string::npos);
  CHECK(ErrorOf(File(R"({"t":{"dtype":"F31","shape":[1],"data_offsets":[0,4]}})", four))
            .find("tensor 't': unknown dtype 'F31'") != std::string::npos);
  CHECK(ErrorOf(File(R"({"t":{"shape":[1],"data_offsets":[0,4]}})", four))
            .find("\"dtype\" is missing") != std::string::npos);
  CHECK(ErrorOf(File(R"({"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", four))
            .find("shape entry -1 is not a non-negative integer") != std::string::npos);
  CHECK(ErrorOf(File(R"({"t":{"dtype":"F32","shape":"1","data_offsets":[0,4]}})", four))
            .find("\"shape\" is missing or not an array") != std::string::npos);
  CHECK(ErrorOf(File(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", four))
            .find("\"data_offsets\" must be [begin, end]") != std::string::npos);
  CHECK(ErrorOf(File(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", four))
            .find("end before they begin") != std::string::npos);
  CHECK(ErrorOf(File(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", four))
            .find("tensor 't': shape [2] of F32 needs 8 bytes but data_offsets [0, 4] hold 4") !=
        std::string::npos);
  CHECK(ErrorOf(File(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", four))
            .find("data_offsets end at 8 but the data section has only 4 bytes") !=
        std::string::npos);
  CHECK(ErrorOf(File(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                     R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                     Floats({1, 2})))
            .find("tensor 'b': data_offsets [4, 8] overlap tensor 'a'") != std::string::npos);
  CHECK(ErrorOf(File(R"({"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", Floats({1, 2})))
            .find("bytes [0, 4) of the data section belong to no tensor") != std::string::npos);
  CHECK(ErrorOf(File(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", Floats({1, 2})))
            .find("tensors cover 4; trailing bytes belong to no tensor") != std::string::npos);
  CHECK(ErrorOf(File(R"({"t":{"dtype":"F32","shape":[4294967296,4294967296],)"
                     R"("data_offsets":[0,4]}})",
                     four))
            .find("element count overflows 64 bits") != std::string::npos);
  CHECK(ErrorOf(File(R"({"t":{"dtype":"F64","shape":[4611686018427387904],)"
                     R"("data_offsets":[0,4]}})",
                     four))
            .find("byte size overflows 64 bits") != std::string::npos);
}

TEST_CASE("safetensors: garbage never crashes the parser", "[models][safetensors]") {
  // Every prefix of a valid file, and single-byte corruptions of it, either open or give an
  // error: never a crash or an out-of-bounds read (the sanitizer builds would flag those).
  const std::string valid =
      File(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", Floats({1, 2}));
  for (size_t n = 0; n < valid.size(); ++n) CHECK_FALSE(ErrorOf(valid.substr(0, n)).empty());
  for (size_t i = 0; i < valid.size(); ++i) {
    std::string corrupt = valid;
    corrupt[i] = static_cast<char>(corrupt[i] ^ 0x5a);
    (void)ErrorOf(corrupt);
  }
}

TEST_CASE("safetensors: sharded checkpoints resolve names across shards", "[models][safetensors]") {
  TempDir dir;
  dir.Write("m/model-1.safetensors",
            File(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", Floats({3})));
  dir.Write("m/model-2.safetensors",
            File(R"({"y":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", Floats({4})));
  dir.Write("m/model.safetensors.index.json",
            R"({"weight_map":{"x":"model-1.safetensors","y":"model-2.safetensors"}})");
  auto checkpoint = SafetensorsCheckpoint::Open((dir.path() / "m").string());
  REQUIRE(checkpoint.ok());
  CHECK((*checkpoint)->shard_count() == 2);
  REQUIRE((*checkpoint)->Find("y") != nullptr);
  CHECK((*checkpoint)->AllTensors().size() == 2);

  dir.Write("m/model.safetensors.index.json",
            R"({"weight_map":{"x":"model-2.safetensors","y":"model-2.safetensors"}})");
  auto wrong = SafetensorsCheckpoint::Open((dir.path() / "m").string());
  REQUIRE_FALSE(wrong.ok());
  CHECK(wrong.status().message().find("maps tensor 'x' to 'model-2.safetensors'") !=
        std::string::npos);

  dir.Write("m/model-3.safetensors",
            File(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", Floats({5})));
  dir.Write("m/model.safetensors.index.json",
            R"({"weight_map":{"x":"model-1.safetensors","y":"model-3.safetensors"}})");
  auto twice = SafetensorsCheckpoint::Open((dir.path() / "m").string());
  REQUIRE_FALSE(twice.ok());
  CHECK(twice.status().message().find("appears in two shards") != std::string::npos);
}

TEST_CASE("safetensors: the real all-MiniLM checkpoint validates", "[models][safetensors]") {
  const char* home = std::getenv("TRUSTFORMERS_HOME");
  const std::string models =
      home != nullptr ? home : std::string(std::getenv("HOME")) + "/.cache/trustformers/models";
  auto checkpoint = SafetensorsCheckpoint::Open(models + "/all-minilm-l6-v2");
  REQUIRE(checkpoint.ok());
  const SafetensorsTensor* embeddings = (*checkpoint)->Find("embeddings.word_embeddings.weight");
  REQUIRE(embeddings != nullptr);
  CHECK(embeddings->dtype == DType::kF32);
  CHECK(embeddings->shape == std::vector<int64_t>{30522, 384});
  CHECK((*checkpoint)->AllTensors().size() == 104);
}

}  // namespace
}  // namespace trustformers::models
