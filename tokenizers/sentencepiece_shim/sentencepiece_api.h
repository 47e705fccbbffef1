// The boundary between trustformers and libsentencepiece: a table of plain functions, in standard
// library types only.
//
// libsentencepiece carries its own protobuf-lite (3.14) and exports it under the same symbol names
// as the system libprotobuf (3.21) that our gRPC protos use. In one symbol namespace whichever
// library loads first takes the other's calls, and the process aborts (protobuf's version check)
// or crashes. So the server never links libsentencepiece: a small shared object
// (sentencepiece_shim.cc) does, embedded in the binary and loaded with RTLD_DEEPBIND, which binds
// SentencePiece to its own protobuf. Builds without a separate namespace (the sanitizer fuzzer,
// where no libprotobuf is loaded) link the shim's table directly.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace trustformers::tokenizers::sentencepiece_backend {

inline constexpr int kShimApiVersion = 1;

struct ShimApi {
  int version;
  // A processor for a serialized ModelProto, or null with `code` (absl::StatusCode numbering)
  // and `message` set.
  void* (*load)(const char* model, size_t model_size, int* code, std::string* message);
  void (*destroy)(void* processor);
  // False with `code` and `message` set when SentencePiece refuses the text.
  bool (*encode)(const void* processor, const char* text, size_t text_size, std::vector<int>* ids,
                 int* code, std::string* message);
  // False when an id is outside the vocabulary.
  bool (*decode)(const void* processor, const std::vector<int>* ids, std::string* text);
  int (*piece_size)(const void* processor);
  int (*unk_id)(const void* processor);
  int (*bos_id)(const void* processor);
  int (*eos_id)(const void* processor);
  int (*pad_id)(const void* processor);
};

}  // namespace trustformers::tokenizers::sentencepiece_backend

// The shim's one exported symbol.
extern "C" const trustformers::tokenizers::sentencepiece_backend::ShimApi* TfSentencePieceShimApi();
