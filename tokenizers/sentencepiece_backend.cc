// No absl header may be included here (see sentencepiece_backend.h).
#include "tokenizers/sentencepiece_backend.h"

#include <sentencepiece_processor.h>

namespace trustformers::tokenizers::sentencepiece_backend {

struct Processor::Impl {
  sentencepiece::SentencePieceProcessor processor;
};

namespace {

void SetError(const sentencepiece::util::Status& status, Error* error) {
  error->code = static_cast<int>(status.code());
  error->message = status.ToString();
}

}  // namespace

Processor::Processor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Processor::~Processor() = default;

std::unique_ptr<Processor> Processor::Load(std::string_view serialized_model, Error* error) {
  auto impl = std::make_unique<Impl>();
  const sentencepiece::util::Status status =
      impl->processor.LoadFromSerializedProto(serialized_model);
  if (!status.ok()) {
    SetError(status, error);
    return nullptr;
  }
  return std::unique_ptr<Processor>(new Processor(std::move(impl)));
}

bool Processor::Encode(std::string_view text, std::vector<int>* ids, Error* error) const {
  const sentencepiece::util::Status status = impl_->processor.Encode(text, ids);
  if (!status.ok()) {
    SetError(status, error);
    return false;
  }
  return true;
}

std::string Processor::Decode(const std::vector<int>& ids) const {
  std::string text;
  // Decoding fails only for ids outside the vocabulary, which callers drop beforehand.
  if (!impl_->processor.Decode(ids, &text).ok()) text.clear();
  return text;
}

int Processor::piece_size() const { return impl_->processor.GetPieceSize(); }
int Processor::unk_id() const { return impl_->processor.unk_id(); }
int Processor::bos_id() const { return impl_->processor.bos_id(); }
int Processor::eos_id() const { return impl_->processor.eos_id(); }
int Processor::pad_id() const { return impl_->processor.pad_id(); }

}  // namespace trustformers::tokenizers::sentencepiece_backend
