#include "models/loader/gguf.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "catch2/catch.hpp"
#include "unit/models/gguf_builder.h"
#include "unit/models/model_fixtures.h"
#include "unit/temp_dir.h"

namespace trustformers::models {
namespace {

using testing::TempDir;
using testing::gguf::Array;
using testing::gguf::Bool;
using testing::gguf::Builder;
using testing::gguf::F32;
using testing::gguf::F64;
using testing::gguf::I16;
using testing::gguf::I32;
using testing::gguf::I64;
using testing::gguf::I8;
using testing::gguf::Le;
using testing::gguf::String;
using testing::gguf::TensorSpec;
using testing::gguf::U16;
using testing::gguf::U32;
using testing::gguf::U64;
using testing::gguf::U8;
using testing::gguf::Value;

// Two small tensors and a little metadata.
Builder Small() {
  Builder b;
  b.metadata = {{"general.architecture", String("llama")}, {"llama.block_count", U32(2)}};
  b.tensors = {{"a.weight", {32, 2}, 2}, {"b.weight", {3}, 0}};
  return b;
}

absl::StatusOr<std::unique_ptr<GgufFile>> OpenBytes(const TempDir& dir, const std::string& bytes,
                                                    const std::string& name = "m.gguf") {
  return GgufFile::Open(dir.Write(name, bytes).string());
}

// Opens `bytes` written to a temp file; returns the error message ("" when it opened).
std::string ErrorOf(const std::string& bytes) {
  TempDir dir;
  auto file = OpenBytes(dir, bytes);
  if (file.ok()) return "";
  CHECK(file.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(file.status().message());
}

bool Has(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return true;
  UNSCOPED_INFO("'" << text << "' lacks '" << part << "'");
  return false;
}

TEST_CASE("gguf: every metadata type reads back through the typed getters", "[models][gguf]") {
  for (uint32_t version : {2u, 3u}) {
    Builder b;
    b.version = version;
    b.metadata = {
        {"u8", U8(200)},
        {"i8", I8(-5)},
        {"u16", U16(60000)},
        {"i16", I16(-30000)},
        {"u32", U32(4000000000u)},
        {"i32", I32(-2000000000)},
        {"f32", F32(1.5f)},
        {"bool", Bool(true)},
        {"string", String("hello")},
        {"u64", U64(uint64_t{1} << 40)},
        {"i64", I64(-(int64_t{1} << 40))},
        {"f64", F64(0.25)},
        {"strings", Array(8, {String("a"), String(""), String("ccc")})},
        {"i16s", Array(3, {I16(-1), I16(7)})},
        {"u8s", Array(0, {U8(1), U8(255)})},
        {"f32s", Array(6, {F32(0.5f), F32(-2.0f)})},
        {"f64s", Array(12, {F64(0.125)})},
        {"bools", Array(7, {Bool(true), Bool(false)})},
        {"empty", Array(5, {})},
        {"nested", Array(9, {Array(5, {I32(1), I32(2)}), Array(5, {I32(3)})})},
        {"big_u64s", Array(10, {U64(uint64_t{1} << 33)})},
    };
    TempDir dir;
    auto opened = OpenBytes(dir, b.Build());
    REQUIRE(opened.ok());
    const GgufFile& file = **opened;
    CHECK(file.version() == version);
    CHECK(file.keys().size() == b.metadata.size());
    CHECK(file.keys()[0] == "u8");
    CHECK(file.tensors().empty());

    CHECK(*file.GetU32("u8") == 200);
    CHECK(*file.GetI64("i8") == -5);
    CHECK(*file.GetU32("u16") == 60000);
    CHECK(*file.GetI32("i16") == -30000);
    CHECK(*file.GetU32("u32") == 4000000000u);
    CHECK(*file.GetI64("u32") == 4000000000);
    CHECK(*file.GetI32("i32") == -2000000000);
    CHECK(*file.GetF32("f32") == 1.5f);
    CHECK(*file.GetBool("bool"));
    CHECK(*file.GetString("string") == "hello");
    CHECK(*file.GetU64("u64") == uint64_t{1} << 40);
    CHECK(*file.GetI64("i64") == -(int64_t{1} << 40));
    CHECK(*file.GetF32("f64") == 0.25f);
    CHECK(*file.GetStringArray("strings") == std::vector<std::string>{"a", "", "ccc"});
    CHECK(*file.GetI32Array("i16s") == std::vector<int32_t>{-1, 7});
    CHECK(*file.GetI32Array("u8s") == std::vector<int32_t>{1, 255});
    CHECK(*file.GetF32Array("f32s") == std::vector<float>{0.5f, -2.0f});
    CHECK(*file.GetF32Array("f64s") == std::vector<float>{0.125f});
    CHECK(file.GetI32Array("empty")->empty());

    const GgufValue* bools = file.FindValue("bools");
    REQUIRE(bools != nullptr);
    CHECK(bools->element_type == GgufValueType::kBool);
    CHECK(bools->count == 2);
    CHECK(bools->packed[0] == 1);
    const GgufValue* nested = file.FindValue("nested");
    REQUIRE(nested != nullptr);
    CHECK(nested->element_type == GgufValueType::kArray);
    REQUIRE(nested->arrays.size() == 2);
    CHECK(nested->arrays[0].element_type == GgufValueType::kI32);
    CHECK(nested->arrays[0].count == 2);
    CHECK(nested->arrays[1].count == 1);

    // Wrong kinds name the key and the stored type; values that do not fit name the value.
    auto not_integer = file.GetU32("string");
    CHECK(not_integer.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(Has(std::string(not_integer.status().message()), "key 'string' is string"));
    CHECK(Has(std::string(file.GetU32("i8").status().message()), "'i8' is -5 (i8), outside"));
    CHECK(Has(std::string(file.GetI32("u32").status().message()), "4000000000 (u32)"));
    CHECK(Has(std::string(file.GetU32("u64").status().message()), "outside the range"));
    CHECK(Has(std::string(file.GetString("u8").status().message()), "'u8' is u8; expected string"));
    CHECK(Has(std::string(file.GetBool("u8").status().message()), "expected bool"));
    CHECK(Has(std::string(file.GetF32("i32").status().message()), "expected f32"));
    CHECK(Has(std::string(file.GetStringArray("i16s").status().message()),
              "'i16s' is array of i16; expected array of string"));
    CHECK(Has(std::string(file.GetI32Array("strings").status().message()), "array of string"));
    CHECK(Has(std::string(file.GetI32Array("big_u64s").status().message()),
              "element 0 is 8589934592, outside i32"));
    CHECK(Has(std::string(file.GetF32Array("i16s").status().message()), "expected array of f32"));
    auto missing = file.GetString("general.architecture");
    CHECK(missing.status().code() == absl::StatusCode::kNotFound);
    CHECK(Has(std::string(missing.status().message()), "no metadata key 'general.architecture'"));
    CHECK(file.architecture().status().code() == absl::StatusCode::kNotFound);
    CHECK(file.FindValue("absent") == nullptr);
  }
}

TEST_CASE("gguf: tensors map zero-copy, shapes slowest-varying first", "[models][gguf]") {
  for (uint32_t alignment : {32u, 64u, 1u, 4096u}) {
    Builder b = Small();
    b.alignment = alignment;
    b.metadata.push_back({"general.alignment", U32(alignment)});
    b.tensors.push_back({"c.weight", {256, 1, 2}, 12});
    b.tensors.push_back({"d.weight", {4, 3, 2, 1}, 30});
    TempDir dir;
    auto opened = OpenBytes(dir, b.Build());
    REQUIRE(opened.ok());
    const GgufFile& file = **opened;
    CHECK(*file.architecture() == "llama");
    CHECK(file.alignment() == alignment);
    CHECK(file.data_offset() % alignment == 0);
    REQUIRE(file.tensors().size() == 4);
    CHECK(file.tensors()[0].name == "a.weight");
    const GgufTensor* a = file.FindTensor("a.weight");
    REQUIRE(a != nullptr);
    CHECK(a->type == GgmlType::kQ4_0);
    CHECK(a->shape == std::vector<int64_t>{2, 32});
    CHECK(a->row_length() == 32);
    CHECK(a->element_count() == 64);
    CHECK(a->offset == 0);
    CHECK(a->bytes.size() == 36);
    CHECK(a->bytes.data() == file.tensors()[0].bytes.data());
    CHECK(a->bytes[0] == 0);
    CHECK(a->bytes[35] == 35);
    const GgufTensor* b_tensor = file.FindTensor("b.weight");
    REQUIRE(b_tensor != nullptr);
    CHECK(b_tensor->type == GgmlType::kF32);
    CHECK(b_tensor->shape == std::vector<int64_t>{3});
    CHECK(b_tensor->offset % alignment == 0);
    CHECK(b_tensor->offset >= 36);
    CHECK(b_tensor->bytes.size() == 12);
    CHECK(b_tensor->bytes[0] == 1);  // tensor index 1
    const GgufTensor* c = file.FindTensor("c.weight");
    REQUIRE(c != nullptr);
    CHECK(c->type == GgmlType::kQ4_K);
    CHECK(c->shape == std::vector<int64_t>{2, 1, 256});
    CHECK(c->bytes.size() == 288);
    CHECK(file.FindTensor("d.weight")->shape == std::vector<int64_t>{1, 2, 3, 4});
    CHECK(file.FindTensor("d.weight")->bytes.size() == 48);
    CHECK(file.FindTensor("missing") == nullptr);
  }
}

TEST_CASE("gguf: a file copied into huge-page memory reads the same", "[models][gguf]") {
  Builder b = Small();
  b.tensors.push_back({"c.weight", {256, 1, 2}, 12});
  TempDir dir;
  const std::string path = dir.Write("m.gguf", b.Build()).string();
  auto mapped = GgufFile::Open(path);
  auto copied = GgufFile::Open(path, FileLoad::kCopyHugePages);
  REQUIRE(mapped.ok());
  REQUIRE(copied.ok());
  REQUIRE((*copied)->tensors().size() == (*mapped)->tensors().size());
  for (size_t i = 0; i < (*mapped)->tensors().size(); ++i) {
    const GgufTensor& m = (*mapped)->tensors()[i];
    const GgufTensor& c = (*copied)->tensors()[i];
    CHECK(c.name == m.name);
    CHECK(c.bytes.data() != m.bytes.data());
    CHECK(std::equal(c.bytes.begin(), c.bytes.end(), m.bytes.begin(), m.bytes.end()));
  }
  // The copy starts on a 2 MiB boundary, where the kernel can use huge pages.
  const auto* first = (*copied)->tensors()[0].bytes.data() - (*copied)->data_offset();
  CHECK(reinterpret_cast<uintptr_t>(first) % (uintptr_t{2} << 20) == 0);
  auto empty = MappedFile::Open(dir.Write("empty", "").string(), FileLoad::kCopyHugePages);
  REQUIRE(empty.ok());
  CHECK((*empty)->size() == 0);
  CHECK(GgufFile::Open(dir.path().string() + "/absent.gguf", FileLoad::kCopyHugePages)
            .status()
            .code() == absl::StatusCode::kNotFound);
}

TEST_CASE("gguf: the ggml type table", "[models][gguf]") {
  CHECK(GgmlTraits(GgmlType::kF32).block_bytes == 4);
  CHECK(GgmlTraits(GgmlType::kQ4_1).block_size == 32);
  CHECK(GgmlTraits(GgmlType::kQ4_1).block_bytes == 20);
  CHECK(GgmlTraits(GgmlType::kQ8_0).block_bytes == 34);
  CHECK(GgmlTraits(GgmlType::kQ6_K).block_size == 256);
  CHECK(GgmlTraits(GgmlType::kQ6_K).block_bytes == 210);
  CHECK(GgmlTraits(GgmlType::kBF16).name == "BF16");
  CHECK(FindGgmlType(4) == nullptr);  // Q4_2, removed from ggml
  CHECK(FindGgmlType(31) == nullptr);
  CHECK(FindGgmlType(1000) == nullptr);
  CHECK(FindGgmlType(39)->name == "MXFP4");
}

TEST_CASE("gguf: the header is checked", "[models][gguf]") {
  TempDir dir;
  auto missing = GgufFile::Open((dir.path() / "absent.gguf").string());
  CHECK(missing.status().code() == absl::StatusCode::kNotFound);

  const std::string valid = Small().Build();
  std::string wrong_magic = valid;
  wrong_magic[0] = 'X';
  CHECK(Has(ErrorOf(wrong_magic), "does not start with the magic bytes \"GGUF\""));
  CHECK(Has(ErrorOf(""), "not a GGUF file"));
  CHECK(ErrorOf(valid).empty());

  // Version 1 stored 32-bit counts.
  CHECK(Has(ErrorOf("GGUF" + Le<uint32_t>(1) + Le<uint32_t>(0) + Le<uint32_t>(0)),
            "is GGUF version 1"));
  Builder future = Small();
  future.version = 4;
  CHECK(Has(ErrorOf(future.Build()), "is GGUF version 4; versions 2 and 3 are supported"));
  const std::string error = ErrorOf(wrong_magic);
  CHECK(Has(error, "GGUF file '"));
  CHECK(Has(error, "m.gguf'"));
}

TEST_CASE("gguf: a file truncated at any byte is refused, never read past", "[models][gguf]") {
  Builder b = Small();
  b.metadata.push_back({"tokens", Array(8, {String("x"), String("yy")})});
  b.metadata.push_back({"nested", Array(9, {Array(0, {U8(1)})})});
  b.metadata.push_back({"f", F64(1.0)});
  const std::string valid = b.Build();
  TempDir dir;
  REQUIRE(OpenBytes(dir, valid).ok());
  for (size_t size = 0; size < valid.size(); ++size) {
    auto file = OpenBytes(dir, valid.substr(0, size));
    INFO("truncated to " << size << " of " << valid.size() << " bytes");
    REQUIRE_FALSE(file.ok());
    CHECK(file.status().code() == absl::StatusCode::kInvalidArgument);
  }
}

TEST_CASE("gguf: corrupting any byte gives a file or an error, never a crash", "[models][gguf]") {
  Builder b = Small();
  b.metadata.push_back({"tokens", Array(8, {String("x"), String("yy")})});
  b.metadata.push_back({"ids", Array(5, {I32(1), I32(2)})});
  const std::string valid = b.Build();
  TempDir dir;
  for (size_t at = 0; at < valid.size(); ++at) {
    for (uint8_t replacement : {0x00, 0x01, 0x0c, 0x7f, 0x80, 0xff}) {
      std::string corrupt = valid;
      corrupt[at] = static_cast<char>(replacement);
      auto file = OpenBytes(dir, corrupt);
      if (!file.ok()) {
        CHECK(file.status().code() == absl::StatusCode::kInvalidArgument);
        continue;
      }
      // Whatever opened lies inside the file; touching every byte lets ASan check it.
      unsigned sum = 0;
      for (const GgufTensor& tensor : (*file)->tensors()) {
        CHECK(tensor.offset + tensor.bytes.size() + (*file)->data_offset() <= corrupt.size());
        for (uint8_t byte : tensor.bytes) sum += byte;
      }
      for (const std::string& key : (*file)->keys()) {
        const GgufValue* value = (*file)->FindValue(key);
        for (absl::string_view text : value->strings) sum += text.empty() ? 0u : text[0] & 1u;
        for (uint8_t byte : value->packed) sum += byte;
      }
      CHECK(sum < 0xffffffffu);
    }
  }
}

TEST_CASE("gguf: counts and lengths are capped", "[models][gguf]") {
  Builder tensors = Small();
  tensors.tensor_count = 65537;
  CHECK(Has(ErrorOf(tensors.Build()), "declares 65537 tensors; the limit is 65536"));
  tensors.tensor_count = 60000;  // under the cap, more than the file holds
  CHECK(Has(ErrorOf(tensors.Build()), "truncated: 2 metadata keys and 60000 tensor infos"));
  Builder keys = Small();
  keys.metadata_count = uint64_t{1} << 62;
  CHECK(Has(ErrorOf(keys.Build()), "metadata keys; the limit is 65536"));

  // A string's length: over the cap, and under it but past the end of the file.
  Builder long_string;
  long_string.metadata = {{"k", {8, Le<uint64_t>((1 << 20) + 1) + "x"}}};
  CHECK(Has(ErrorOf(long_string.Build()),
            "key 'k': string value is 1048577 bytes long; the limit is 1048576"));
  long_string.metadata = {{"k", {8, Le<uint64_t>(1000) + "x"}}};
  CHECK(Has(ErrorOf(long_string.Build()), "truncated: key 'k': string value at byte"));
  Builder huge_key;
  huge_key.metadata = {{"k", U8(1)}};
  std::string bytes = huge_key.Build();
  const uint64_t key_length = uint64_t{1} << 40;
  std::memcpy(bytes.data() + 24, &key_length, sizeof(key_length));
  CHECK(Has(ErrorOf(bytes), "metadata key 0 is 1099511627776 bytes long; the limit is 65535"));
  Builder empty_key;
  empty_key.metadata = {{"", U8(1)}};
  CHECK(Has(ErrorOf(empty_key.Build()), "metadata key 0 is empty"));

  // An array's element count: over the cap, and under it but more than the file holds.
  Builder long_array;
  long_array.metadata = {{"a", {9, Le<uint32_t>(0) + Le<uint64_t>((1 << 24) + 1)}}};
  CHECK(Has(ErrorOf(long_array.Build()), "key 'a': array of 16777217 elements; the limit is"));
  long_array.metadata = {{"a", {9, Le<uint32_t>(8) + Le<uint64_t>(1 << 24)}}};
  CHECK(Has(ErrorOf(long_array.Build()), "truncated: key 'a': array of 16777216 string elements"));
  long_array.metadata = {{"a", {9, Le<uint32_t>(8) + Le<uint64_t>(1) + Le<uint64_t>(5) + "x"}}};
  CHECK(Has(ErrorOf(long_array.Build()), "truncated: key 'a': array element 0 at byte"));

  // Nesting depth: four levels are allowed, five are not.
  Value deep = Array(0, {U8(1)});
  for (int level = 1; level < kMaxGgufArrayDepth; ++level) deep = Array(9, {deep});
  Builder nesting;
  nesting.metadata = {{"deep", deep}};
  CHECK(ErrorOf(nesting.Build()).empty());
  nesting.metadata = {{"deep", Array(9, {deep})}};
  CHECK(Has(ErrorOf(nesting.Build()), "key 'deep': arrays nest deeper than 4 levels"));

  // Tensor names: the format's 64 bytes, and none empty.
  Builder name = Small();
  name.tensors[1].name = std::string(64, 'n');
  CHECK(ErrorOf(name.Build()).empty());
  name.tensors[1].name = std::string(65, 'n');
  CHECK(Has(ErrorOf(name.Build()), "the name of tensor 1 is 65 bytes long; the limit is 64"));
  name.tensors[1].name = "";
  CHECK(Has(ErrorOf(name.Build()), "the name of tensor 1 is empty"));
}

TEST_CASE("gguf: value types are checked", "[models][gguf]") {
  Builder bad_type;
  bad_type.metadata = {{"k", {13, Le<uint8_t>(0)}}};
  CHECK(Has(ErrorOf(bad_type.Build()), "key 'k': unknown value type 13"));
  bad_type.metadata = {{"k", {0xffffffffu, ""}}};
  CHECK(Has(ErrorOf(bad_type.Build()), "key 'k': unknown value type 4294967295"));
  Builder bad_element;
  bad_element.metadata = {{"k", {9, Le<uint32_t>(99) + Le<uint64_t>(0)}}};
  CHECK(Has(ErrorOf(bad_element.Build()), "key 'k': unknown array element type 99"));
  Builder bad_bool;
  bad_bool.metadata = {{"flag", {7, Le<uint8_t>(2)}}};
  CHECK(Has(ErrorOf(bad_bool.Build()), "key 'flag': bool value is 2"));
  bad_bool.metadata = {{"flags", {9, Le<uint32_t>(7) + Le<uint64_t>(2) + "\x01\x05"}}};
  CHECK(Has(ErrorOf(bad_bool.Build()), "key 'flags': bool array element 1 is 5"));
  Builder duplicate = Small();
  duplicate.metadata.push_back({"llama.block_count", U32(3)});
  CHECK(Has(ErrorOf(duplicate.Build()), "key 'llama.block_count' appears twice"));
}

TEST_CASE("gguf: alignment and layer counts are checked", "[models][gguf]") {
  for (uint32_t alignment : {0u, 3u, 48u}) {
    Builder b = Small();
    b.metadata.push_back({"general.alignment", U32(alignment)});
    CHECK(Has(ErrorOf(b.Build()), absl::StrCat("key 'general.alignment' is ", alignment,
                                               "; it must be a power of two")));
  }
  Builder wrong_type = Small();
  wrong_type.metadata.push_back({"general.alignment", U64(32)});
  CHECK(Has(ErrorOf(wrong_type.Build()), "key 'general.alignment' is u64; it must be u32"));

  for (const Value& count : {U32(1025), U32(0), I32(-1), U64(uint64_t{1} << 63)}) {
    Builder b = Small();
    b.metadata[1].second = count;
    CHECK(Has(ErrorOf(b.Build()), "key 'llama.block_count' is "));
    CHECK(Has(ErrorOf(b.Build()), "a layer count must be 1 to 1024"));
  }
  Builder string_count = Small();
  string_count.metadata[1].second = String("30");
  CHECK(Has(ErrorOf(string_count.Build()),
            "key 'llama.block_count' is string; a layer count must be an integer"));
  Builder other_arch;
  other_arch.metadata = {{"clip.vision.block_count", U16(5000)}};
  CHECK(Has(ErrorOf(other_arch.Build()), "'clip.vision.block_count' is 5000"));
  Builder fine = Small();
  fine.metadata[1].second = U8(30);
  CHECK(ErrorOf(fine.Build()).empty());
}

TEST_CASE("gguf: tensor shapes and types are checked", "[models][gguf]") {
  const auto error_with = [](const TensorSpec& tensor) {
    Builder b = Small();
    b.tensors[1] = tensor;
    return ErrorOf(b.Build());
  };
  CHECK(Has(error_with({"t", {1, 1, 1, 1, 1}, 0}),
            "tensor 't': has 5 dimensions; 1 to 4 are allowed"));
  CHECK(Has(error_with({"t", {}, 0}), "tensor 't': has 0 dimensions"));
  CHECK(Has(error_with({"t", {4, 0}, 0}), "tensor 't': dimension 1 is 0"));
  CHECK(Has(error_with({"t", {uint64_t{1} << 63}, 0}), "dimension 0 is 9223372036854775808"));
  CHECK(Has(error_with({"t", {uint64_t{1} << 32, uint64_t{1} << 32}, 0}),
            "tensor 't': element count overflows 63 bits"));
  CHECK(Has(error_with({"t", {uint64_t{1} << 62}, 0}), "tensor 't': byte size overflows 64 bits"));
  CHECK(Has(error_with({"t", {uint64_t{1} << 40}, 0}), "run past the end of the"));
  CHECK(Has(error_with({"t", {16, 2}, 2}),
            "tensor 't': rows of 16 elements are not a whole number of Q4_0 blocks of 32"));
  CHECK(Has(error_with({"t", {2, 32}, 2}), "rows of 2 elements"));  // divisible in total only
  CHECK(Has(error_with({"t", {4}, 4}), "tensor 't': unknown ggml type id 4"));
  CHECK(Has(error_with({"t", {4}, 99}), "tensor 't': unknown ggml type id 99"));
  CHECK(Has(error_with({"a.weight", {4}, 0}), "tensor 'a.weight': the name appears twice"));
}

TEST_CASE("gguf: tensor offsets are aligned, inside the file, not overlapping", "[models][gguf]") {
  Builder misaligned = Small();
  misaligned.tensors[1].offset = 40;
  CHECK(Has(ErrorOf(misaligned.Build()),
            "tensor 'b.weight': offset 40 is not a multiple of the 32-byte alignment"));
  Builder overlap = Small();
  overlap.tensors[1].offset = 32;  // a.weight holds [0, 36)
  CHECK(Has(ErrorOf(overlap.Build()),
            "tensor 'b.weight' at offset 32 overlaps tensor 'a.weight', which ends at 36"));
  Builder same = Small();
  same.tensors[1].offset = 0;
  CHECK(Has(ErrorOf(same.Build()), "overlaps tensor 'a.weight'"));
  Builder reordered = Small();  // listed out of data order, not overlapping: fine
  reordered.tensors[0].offset = 64;
  reordered.tensors[1].offset = 0;
  CHECK(ErrorOf(reordered.Build()).empty());
  Builder outside = Small();
  outside.tensors[1].offset = 1 << 21;
  CHECK(Has(ErrorOf(outside.Build()), "tensor 'b.weight': 12 bytes at offset 2097152"));
  Builder wraps = Small();
  wraps.tensors[1].offset = ~uint64_t{31};
  CHECK(Has(ErrorOf(wraps.Build()), "run past the end of the"));
  // The last tensor's bytes must all be there.
  std::string cut = Small().Build();
  cut.pop_back();
  CHECK(Has(ErrorOf(cut), "tensor 'b.weight': 12 bytes at offset 64"));
}

TEST_CASE("gguf: SmolLM2-135M-Instruct Q4_1 opens with its metadata and tensors",
          "[models][gguf]") {
  const std::string path =
      testing::ModelsDir() + "/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf";
  auto opened = GgufFile::Open(path);
  REQUIRE(opened.ok());
  const GgufFile& file = **opened;
  CHECK(file.version() == 3);
  CHECK(file.alignment() == 32);
  CHECK(file.data_offset() == 1785664);
  CHECK(file.keys().size() == 33);
  CHECK(*file.architecture() == "llama");
  CHECK(*file.GetU32("llama.block_count") == 30);
  CHECK(*file.GetU32("llama.embedding_length") == 576);
  CHECK(*file.GetU32("llama.attention.head_count_kv") == 3);
  CHECK(*file.GetF32("llama.rope.freq_base") == 100000.0f);
  CHECK_FALSE(*file.GetBool("tokenizer.ggml.add_bos_token"));
  CHECK(*file.GetString("tokenizer.ggml.model") == "gpt2");
  CHECK(*file.GetStringArray("general.languages") == std::vector<std::string>{"en"});

  auto tokens = file.GetStringArray("tokenizer.ggml.tokens");
  REQUIRE(tokens.ok());
  REQUIRE(tokens->size() == 49152);
  CHECK((*tokens)[0] == "<|endoftext|>");
  CHECK((*tokens)[1] == "<|im_start|>");
  auto merges = file.GetStringArray("tokenizer.ggml.merges");
  REQUIRE(merges.ok());
  CHECK(merges->size() == 48900);
  CHECK((*merges)[0] == "\xc4\xa0 t");  // "Ġ t"
  auto token_types = file.GetI32Array("tokenizer.ggml.token_type");
  REQUIRE(token_types.ok());
  CHECK(token_types->size() == 49152);
  CHECK((*token_types)[0] == 3);  // control
  auto template_text = file.GetString("tokenizer.chat_template");
  REQUIRE(template_text.ok());
  CHECK(template_text->size() == 368);
  CHECK(template_text->rfind("{% for message in messages %}", 0) == 0);
  CHECK(*file.GetU32("tokenizer.ggml.eos_token_id") == 2);

  REQUIRE(file.tensors().size() == 272);
  int q4_1 = 0;
  int f32 = 0;
  for (const GgufTensor& tensor : file.tensors()) {
    q4_1 += tensor.type == GgmlType::kQ4_1;
    f32 += tensor.type == GgmlType::kF32;
    const GgmlTypeTraits& traits = GgmlTraits(tensor.type);
    CHECK(static_cast<int64_t>(tensor.bytes.size()) ==
          tensor.element_count() / traits.block_size * traits.block_bytes);
  }
  CHECK(q4_1 == 210);
  CHECK(f32 == 61);
  const GgufTensor* embedding = file.FindTensor("token_embd.weight");
  REQUIRE(embedding != nullptr);
  CHECK(embedding->type == GgmlType::kQ8_0);  // the one tensor neither Q4_1 nor F32
  CHECK(embedding->shape == std::vector<int64_t>{49152, 576});
  CHECK(embedding->offset == 0);
  CHECK(embedding->bytes.size() == 30081024);
  const GgufTensor* down = file.FindTensor("blk.0.ffn_down.weight");
  REQUIRE(down != nullptr);
  CHECK(down->type == GgmlType::kQ4_1);
  CHECK(down->shape == std::vector<int64_t>{576, 1536});
  CHECK(down->bytes.size() == 552960);
  const GgufTensor* k = file.FindTensor("blk.29.attn_k.weight");
  REQUIRE(k != nullptr);
  CHECK(k->shape == std::vector<int64_t>{192, 576});
  const GgufTensor* norm = file.FindTensor("output_norm.weight");
  REQUIRE(norm != nullptr);
  CHECK(norm->type == GgmlType::kF32);
  CHECK(norm->shape == std::vector<int64_t>{576});
  float first = 0;
  std::memcpy(&first, norm->bytes.data(), sizeof(first));
  CHECK(std::isfinite(first));
  CHECK(file.FindTensor("output.weight") == nullptr);  // tied to the embedding
}

}  // namespace
}  // namespace trustformers::models
