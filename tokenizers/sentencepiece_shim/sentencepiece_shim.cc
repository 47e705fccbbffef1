// Built into its own shared object (see sentencepiece_api.h); includes no absl header, since
// sentencepiece_processor.h declares an absl::string_view of its own.
#include <sentencepiece_processor.h>

#include "tokenizers/sentencepiece_shim/sentencepiece_api.h"

namespace trustformers::tokenizers::sentencepiece_backend {
namespace {

const sentencepiece::SentencePieceProcessor& Get(const void* processor) {
  return *static_cast<const sentencepiece::SentencePieceProcessor*>(processor);
}

void SetError(const sentencepiece::util::Status& status, int* code, std::string* message) {
  *code = static_cast<int>(status.code());
  *message = status.ToString();
}

void* Load(const char* model, size_t model_size, int* code, std::string* message) {
  auto* processor = new sentencepiece::SentencePieceProcessor();
  const sentencepiece::util::Status status =
      processor->LoadFromSerializedProto(absl::string_view(model, model_size));
  if (!status.ok()) {
    SetError(status, code, message);
    delete processor;
    return nullptr;
  }
  return processor;
}

void Destroy(void* processor) {
  delete static_cast<sentencepiece::SentencePieceProcessor*>(processor);
}

bool Encode(const void* processor, const char* text, size_t text_size, std::vector<int>* ids,
            int* code, std::string* message) {
  const sentencepiece::util::Status status =
      Get(processor).Encode(absl::string_view(text, text_size), ids);
  if (!status.ok()) {
    SetError(status, code, message);
    return false;
  }
  return true;
}

bool Decode(const void* processor, const std::vector<int>* ids, std::string* text) {
  return Get(processor).Decode(*ids, text).ok();
}

int PieceSize(const void* processor) { return Get(processor).GetPieceSize(); }
int UnkId(const void* processor) { return Get(processor).unk_id(); }
int BosId(const void* processor) { return Get(processor).bos_id(); }
int EosId(const void* processor) { return Get(processor).eos_id(); }
int PadId(const void* processor) { return Get(processor).pad_id(); }

constexpr ShimApi kApi = {kShimApiVersion, Load,  Destroy, Encode, Decode,
                          PieceSize,       UnkId, BosId,   EosId,  PadId};

}  // namespace
}  // namespace trustformers::tokenizers::sentencepiece_backend

extern "C" __attribute__((visibility("default")))
const trustformers::tokenizers::sentencepiece_backend::ShimApi*
TfSentencePieceShimApi() {
  return &trustformers::tokenizers::sentencepiece_backend::kApi;
}
