// Reading the gzip-compressed golden fixtures.
#pragma once

#include <zlib.h>

#include <string>
#include <vector>

#include "catch2/catch.hpp"

namespace trustformers::testing {

// The whole decompressed file; fails the test when it cannot be read.
inline std::string ReadGzip(const std::string& path) {
  gzFile file = gzopen(path.c_str(), "rb");
  INFO(path);
  REQUIRE(file != nullptr);
  std::string text;
  std::vector<char> buffer(1 << 16);
  int read;
  while ((read = gzread(file, buffer.data(), static_cast<unsigned>(buffer.size()))) > 0) {
    text.append(buffer.data(), static_cast<size_t>(read));
  }
  gzclose(file);
  REQUIRE(read == 0);
  return text;
}

}  // namespace trustformers::testing
