// Reference dequantization against gguf-py (tests/golden/quant/, made by make_fixtures.py there):
// every fixture case must give the package's floats bit for bit. Plus the block layouts spelled
// out on hand-made blocks, and the size checks.
#include "backends/cpu/quant/dequantize.h"

#include <zlib.h>

#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "backends/tensor.h"
#include "catch2/catch.hpp"
#include "nlohmann/json.hpp"

namespace trustformers::backends::cpu {
namespace {

const std::string kFixtureDir = std::string(TF_SOURCE_DIR) + "/tests/golden/quant/";

std::vector<uint8_t> ReadGzip(const std::string& path) {
  gzFile file = gzopen(path.c_str(), "rb");
  REQUIRE(file != nullptr);
  std::vector<uint8_t> data;
  uint8_t chunk[1 << 16];
  int n = 0;
  while ((n = gzread(file, chunk, sizeof(chunk))) > 0) data.insert(data.end(), chunk, chunk + n);
  const bool ok = n == 0;
  gzclose(file);
  REQUIRE(ok);
  return data;
}

nlohmann::json ReadIndex() {
  std::ifstream in(kFixtureDir + "cases.json");
  REQUIRE(in.good());
  return nlohmann::json::parse(in);
}

uint32_t Bits(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof(bits));
  return bits;
}

uint16_t HalfBits(float f) {  // for the few exact values the hand-made blocks use
  for (uint32_t h = 0; h <= 0xFFFF; ++h) {
    if (HalfToFloat(static_cast<uint16_t>(h)) == f) return static_cast<uint16_t>(h);
  }
  FAIL("not an f16 value: " << f);
  return 0;
}

template <typename Block>
std::span<const uint8_t> Bytes(const Block& block) {
  return {reinterpret_cast<const uint8_t*>(&block), sizeof(block)};
}

const std::map<std::string, GgmlBlockType> kTypes = {
    {"F32", GgmlBlockType::kF32},   {"F16", GgmlBlockType::kF16},   {"BF16", GgmlBlockType::kBF16},
    {"Q4_0", GgmlBlockType::kQ4_0}, {"Q4_1", GgmlBlockType::kQ4_1}, {"Q8_0", GgmlBlockType::kQ8_0},
    {"Q4_K", GgmlBlockType::kQ4_K}, {"Q5_K", GgmlBlockType::kQ5_K}, {"Q6_K", GgmlBlockType::kQ6_K},
};

TEST_CASE("dequantize: ids and sizes equal gguf-py's", "[backends][quant]") {
  const nlohmann::json index = ReadIndex();
  REQUIRE(index["types"].size() == kTypes.size());
  for (const auto& [name, type] : kTypes) {
    INFO(name);
    const nlohmann::json& t = index["types"].at(name);
    CHECK(t["id"].get<uint32_t>() == static_cast<uint32_t>(type));
    CHECK(t["block_size"].get<int64_t>() == BlockSize(type));
    CHECK(t["type_size"].get<int64_t>() == BytesPerBlock(type));
    CHECK(GgmlBlockTypeName(type) == name);
  }
}

TEST_CASE("dequantize: equals gguf-py bit for bit on every fixture case", "[backends][quant]") {
  const nlohmann::json index = ReadIndex();
  const std::vector<uint8_t> data =
      ReadGzip(kFixtureDir + index["header"]["data_file"].get<std::string>());
  REQUIRE(data.size() == index["header"]["data_bytes"].get<size_t>());

  std::map<std::string, int> cases_per_type;
  for (const nlohmann::json& c : index["cases"]) {
    const std::string name = c["name"];
    INFO(name);
    const GgmlBlockType type = kTypes.at(c["type"].get<std::string>());
    const auto count = c["count"].get<int64_t>();
    const auto blocks_offset = c["blocks_offset"].get<size_t>();
    const auto blocks_bytes = c["blocks_bytes"].get<size_t>();
    const auto values_offset = c["values_offset"].get<size_t>();
    REQUIRE(blocks_offset + blocks_bytes <= data.size());
    REQUIRE(values_offset + static_cast<size_t>(count) * sizeof(float) <= data.size());

    std::vector<float> expected(static_cast<size_t>(count));
    std::memcpy(expected.data(), data.data() + values_offset, expected.size() * sizeof(float));
    std::vector<float> got(static_cast<size_t>(count));
    const absl::Status status =
        Dequantize(type, std::span(data.data() + blocks_offset, blocks_bytes), count, got.data());
    REQUIRE(status.ok());

    int64_t mismatches = 0;
    int64_t first = -1;
    for (int64_t i = 0; i < count; ++i) {
      if (Bits(got[static_cast<size_t>(i)]) != Bits(expected[static_cast<size_t>(i)])) {
        if (first < 0) first = i;
        ++mismatches;
      }
    }
    if (first >= 0) {
      INFO("weight " << first << ": got " << got[static_cast<size_t>(first)] << ", expected "
                     << expected[static_cast<size_t>(first)]);
      CHECK(mismatches == 0);
    }
    ++cases_per_type[c["type"].get<std::string>()];
  }
  // Every type is covered.
  for (const auto& [name, type] : kTypes) {
    INFO(name);
    CHECK(cases_per_type[name] > 0);
  }
}

TEST_CASE("dequantize: Q4_0 and Q4_1 nibble order", "[backends][quant]") {
  // Byte j holds weight j (low nibble) and weight j + 16 (high nibble).
  BlockQ4_0 q4_0{};
  q4_0.d = HalfBits(0.5f);
  for (int j = 0; j < 16; ++j) q4_0.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  std::vector<float> out(32);
  REQUIRE(Dequantize(GgmlBlockType::kQ4_0, Bytes(q4_0), 32, out.data()).ok());
  for (int j = 0; j < 16; ++j) {
    CHECK(out[static_cast<size_t>(j)] == 0.5f * static_cast<float>(j - 8));
    CHECK(out[static_cast<size_t>(j + 16)] == 0.5f * static_cast<float>(7 - j));
  }

  BlockQ4_1 q4_1{};
  q4_1.d = HalfBits(2.0f);
  q4_1.m = HalfBits(-1.0f);
  q4_1.qs[3] = 0x5A;
  REQUIRE(Dequantize(GgmlBlockType::kQ4_1, Bytes(q4_1), 32, out.data()).ok());
  CHECK(out[0] == -1.0f);
  CHECK(out[3] == 2.0f * 10 - 1.0f);
  CHECK(out[19] == 2.0f * 5 - 1.0f);
}

TEST_CASE("dequantize: Q8_0 is signed bytes times d", "[backends][quant]") {
  BlockQ8_0 block{};
  block.d = HalfBits(0.25f);
  block.qs[0] = -128;
  block.qs[31] = 127;
  std::vector<float> out(32);
  REQUIRE(Dequantize(GgmlBlockType::kQ8_0, Bytes(block), 32, out.data()).ok());
  CHECK(out[0] == -32.0f);
  CHECK(out[1] == 0.0f);
  CHECK(out[31] == 31.75f);
}

TEST_CASE("dequantize: Q4_K / Q5_K 6-bit scales and mins", "[backends][quant]") {
  // Sub-block 1: scale 5, min 7 (plain 6-bit fields); sub-block 6: scale 0b110011 = 51 and
  // min 0b101100 = 44, their top 2 bits in bytes 2 and 6, their low 4 bits in byte 10.
  BlockQ4_K q4{};
  q4.d = HalfBits(1.0f);
  q4.dmin = HalfBits(0.5f);
  q4.scales[1] = 5;
  q4.scales[5] = 7;
  q4.scales[2] = 0b11 << 6;
  q4.scales[6] = 0b10 << 6;
  q4.scales[10] = (0b1100 << 4) | 0b0011;
  q4.qs[0] = 0x90;           // sub-block 1 (high nibbles of the first chunk), weight 32: q = 9
  q4.qs[3 * 32 + 4] = 0x0E;  // sub-block 6 (low nibbles of chunk 3), weight 196: q = 14
  std::vector<float> out(256);
  REQUIRE(Dequantize(GgmlBlockType::kQ4_K, Bytes(q4), 256, out.data()).ok());
  CHECK(out[0] == 0.0f);           // sub-block 0: scale 0, min 0
  CHECK(out[32] == 5 * 9 - 3.5f);  // 1 * 5 * 9 - 0.5 * 7
  CHECK(out[33] == -3.5f);
  CHECK(out[196] == 51 * 14 - 22.0f);
  CHECK(out[197] == -22.0f);

  // Q5_K: bit j of qh[l] is the fifth bit of weight l of sub-block j.
  BlockQ5_K q5{};
  q5.d = q4.d;
  q5.dmin = q4.dmin;
  std::memcpy(q5.scales, q4.scales, sizeof(q5.scales));
  std::memcpy(q5.qs, q4.qs, sizeof(q5.qs));
  q5.qh[0] = 1 << 1;  // weight 32 (sub-block 1, l = 0): q = 9 + 16
  q5.qh[4] = 1 << 6;  // weight 196 (sub-block 6, l = 4): q = 14 + 16
  REQUIRE(Dequantize(GgmlBlockType::kQ5_K, Bytes(q5), 256, out.data()).ok());
  CHECK(out[32] == 5 * 25 - 3.5f);
  CHECK(out[196] == 51 * 30 - 22.0f);
  CHECK(out[0] == 0.0f);
}

TEST_CASE("dequantize: Q6_K bit layout", "[backends][quant]") {
  BlockQ6_K block{};
  block.d = HalfBits(0.5f);
  for (int s = 0; s < 16; ++s) block.scales[s] = static_cast<int8_t>(s - 8);
  // Weight 128 + 64 + 5 = 197: second half, k = 2, l = 5: high nibble of ql[64 + 5], bits 4-5 of
  // qh[32 + 5]; scale index 197 / 16 = 12.
  block.ql[64 + 5] = 0xB0;
  block.qh[32 + 5] = 0b10 << 4;
  std::vector<float> out(256);
  REQUIRE(Dequantize(GgmlBlockType::kQ6_K, Bytes(block), 256, out.data()).ok());
  CHECK(out[197] == 0.5f * 4 * static_cast<float>((0xB | (0b10 << 4)) - 32));
  CHECK(out[0] == 0.5f * -8 * -32);  // all-zero bits: q = -32
}

TEST_CASE("dequantize: F16 and BF16 convert exactly", "[backends][quant]") {
  const uint16_t halves[] = {0x3C00, 0xC000, 0x0001, 0x7C00};
  std::vector<float> out(4);
  REQUIRE(Dequantize(GgmlBlockType::kF16, std::span(reinterpret_cast<const uint8_t*>(halves), 8), 4,
                     out.data())
              .ok());
  CHECK(out == std::vector<float>{1.0f, -2.0f, 0x1p-24f, HalfToFloat(0x7C00)});
  const uint16_t bf16[] = {0x3F80, 0xC040};
  REQUIRE(Dequantize(GgmlBlockType::kBF16, std::span(reinterpret_cast<const uint8_t*>(bf16), 4), 2,
                     out.data())
              .ok());
  CHECK(out[0] == 1.0f);
  CHECK(out[1] == -3.0f);
}

TEST_CASE("dequantize: sizes are checked", "[backends][quant]") {
  std::vector<uint8_t> bytes(2 * sizeof(BlockQ4_K));
  std::vector<float> out(512);
  CHECK(Dequantize(GgmlBlockType::kQ4_K, bytes, 512, out.data()).ok());
  CHECK(Dequantize(GgmlBlockType::kQ4_K, {}, 0, nullptr).ok());

  const auto code = [&](GgmlBlockType type, std::span<const uint8_t> span, int64_t count) {
    return Dequantize(type, span, count, out.data()).code();
  };
  const auto span = std::span<const uint8_t>(bytes);
  // count not a multiple of the block size
  CHECK(code(GgmlBlockType::kQ4_K, span, 300) == absl::StatusCode::kInvalidArgument);
  CHECK(code(GgmlBlockType::kQ4_0, span.first(18), 31) == absl::StatusCode::kInvalidArgument);
  CHECK(code(GgmlBlockType::kQ4_0, span.first(18), -32) == absl::StatusCode::kInvalidArgument);
  // byte span one block short, one byte long, one byte short
  CHECK(code(GgmlBlockType::kQ4_K, span.first(144), 512) == absl::StatusCode::kInvalidArgument);
  CHECK(code(GgmlBlockType::kQ4_K, span.first(145), 256) == absl::StatusCode::kInvalidArgument);
  CHECK(code(GgmlBlockType::kQ6_K, span.first(209), 256) == absl::StatusCode::kInvalidArgument);
  CHECK(code(GgmlBlockType::kF32, span.first(7), 2) == absl::StatusCode::kInvalidArgument);
  CHECK(code(GgmlBlockType::kF16, span.first(4), 2) == absl::StatusCode::kOk);
  // a type id we do not support (Q5_0)
  CHECK(code(static_cast<GgmlBlockType>(6), span.first(22), 32) ==
        absl::StatusCode::kInvalidArgument);
  // no output
  CHECK(Dequantize(GgmlBlockType::kQ8_0, span.first(34), 32, nullptr).code() ==
        absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace trustformers::backends::cpu
