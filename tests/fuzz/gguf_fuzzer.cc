// libFuzzer target for the GGUF reader (models/loader/gguf.*) and the tokenizer and model
// binding built on it: any byte string must give a GgufFile or an error Status, never a crash,
// a hang, an out-of-bounds read (AddressSanitizer) or undefined behaviour (UBSan). Inputs are
// written to a file because the reader maps files.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "models/llama/llama_model.h"
#include "models/loader/gguf.h"
#include "models/loader/gguf_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/tf-gguf-fuzz-" + std::to_string(getpid()) + ".gguf";
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  auto file = trustformers::models::GgufFile::Open(path);
  if (!file.ok()) return 0;
  // A file the reader accepts goes on to the tokenizer and to binding a model, which must also
  // refuse anything inconsistent with a Status.
  (void)trustformers::models::LoadGgufTokenizer(**file);
  (void)trustformers::models::LlamaModel::FromGguf(*std::move(file));
  return 0;
}
