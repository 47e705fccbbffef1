// The one door to libsentencepiece, which lives behind a shim with its own symbol scope (see
// sentencepiece_shim/sentencepiece_api.h: its protobuf would clash with ours). This header speaks
// only the standard library; sentencepiece_tokenizer.cc turns its errors into absl::Status.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace trustformers::tokenizers::sentencepiece_backend {

// libsentencepiece's error: its code (numbered as absl::StatusCode) and message.
struct Error {
  int code = 0;
  std::string message;
};

class Processor {
 public:
  // A processor for a serialized ModelProto (a .model file's bytes); nullptr with `error` set
  // when libsentencepiece refuses it.
  static std::unique_ptr<Processor> Load(std::string_view serialized_model, Error* error);
  ~Processor();
  Processor(const Processor&) = delete;
  Processor& operator=(const Processor&) = delete;

  // Thread-safe, as libsentencepiece's Encode and Decode are.
  bool Encode(std::string_view text, std::vector<int>* ids, Error* error) const;
  std::string Decode(const std::vector<int>& ids) const;

  int piece_size() const;
  // Reserved ids; -1 when the model has none.
  int unk_id() const;
  int bos_id() const;
  int eos_id() const;
  int pad_id() const;

 private:
  struct Impl;
  explicit Processor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace trustformers::tokenizers::sentencepiece_backend
