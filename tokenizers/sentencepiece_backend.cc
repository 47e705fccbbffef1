#include "tokenizers/sentencepiece_backend.h"

#include <dlfcn.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tokenizers/sentencepiece_shim/sentencepiece_api.h"

#ifdef TF_SENTENCEPIECE_EMBEDDED
// The shim as bytes, from the generated sentencepiece_shim_image.cc. Builds without it link the
// shim's table directly instead.
extern "C" {
extern const unsigned char tf_sentencepiece_shim_image[];
extern const size_t tf_sentencepiece_shim_image_size;
}
#endif

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TF_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TF_SANITIZED 1
#endif

namespace trustformers::tokenizers::sentencepiece_backend {
namespace {

struct Shim {
  const ShimApi* api = nullptr;
  std::string error;
};

// Loads the embedded shim from memory (no file to install, none to write on a read-only root),
// with its own symbol scope ahead of the process's.
Shim LoadShim() {
  Shim shim;
#ifndef TF_SENTENCEPIECE_EMBEDDED
  shim.api = TfSentencePieceShimApi();
  return shim;
#else
  const int fd = memfd_create("trustformers-sentencepiece", MFD_CLOEXEC);
  if (fd < 0) {
    shim.error = "memfd_create failed";
    return shim;
  }
  size_t written = 0;
  while (written < tf_sentencepiece_shim_image_size) {
    const ssize_t n = write(fd, tf_sentencepiece_shim_image + written,
                            tf_sentencepiece_shim_image_size - written);
    if (n <= 0) break;
    written += static_cast<size_t>(n);
  }
  int flags = RTLD_NOW | RTLD_LOCAL;
#ifndef TF_SANITIZED
  // Sanitizer runtimes refuse RTLD_DEEPBIND; their builds load no libprotobuf to clash with.
  flags |= RTLD_DEEPBIND;
#endif
  void* handle = nullptr;
  if (written == tf_sentencepiece_shim_image_size) {
    handle = dlopen(("/proc/self/fd/" + std::to_string(fd)).c_str(), flags);
  }
  close(fd);  // the mapping dlopen made stays
  if (handle == nullptr) {
    const char* reason = dlerror();
    shim.error = std::string(
                     "cannot load the SentencePiece library (is libsentencepiece0 "
                     "installed?): ") +
                 (reason != nullptr ? reason : "short write");
    return shim;
  }
  using Entry = const ShimApi* (*)();
  auto entry = reinterpret_cast<Entry>(dlsym(handle, "TfSentencePieceShimApi"));
  shim.api = entry != nullptr ? entry() : nullptr;
  if (shim.api == nullptr || shim.api->version != kShimApiVersion) {
    shim.api = nullptr;
    shim.error = "the embedded SentencePiece shim does not match this build";
  }
  return shim;
#endif
}

const Shim& GetShim() {
  static const Shim shim = LoadShim();
  return shim;
}

constexpr int kInternal = 13;

}  // namespace

struct Processor::Impl {
  const ShimApi* api = nullptr;
  void* processor = nullptr;
  ~Impl() {
    if (processor != nullptr) api->destroy(processor);
  }
};

Processor::Processor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Processor::~Processor() = default;

std::unique_ptr<Processor> Processor::Load(std::string_view serialized_model, Error* error) {
  const Shim& shim = GetShim();
  if (shim.api == nullptr) {
    error->code = kInternal;
    error->message = shim.error;
    return nullptr;
  }
  auto impl = std::make_unique<Impl>();
  impl->api = shim.api;
  impl->processor = shim.api->load(serialized_model.data(), serialized_model.size(), &error->code,
                                   &error->message);
  if (impl->processor == nullptr) return nullptr;
  return std::unique_ptr<Processor>(new Processor(std::move(impl)));
}

bool Processor::Encode(std::string_view text, std::vector<int>* ids, Error* error) const {
  return impl_->api->encode(impl_->processor, text.data(), text.size(), ids, &error->code,
                            &error->message);
}

std::string Processor::Decode(const std::vector<int>& ids) const {
  std::string text;
  // Decoding fails only for ids outside the vocabulary, which callers drop beforehand.
  if (!impl_->api->decode(impl_->processor, &ids, &text)) text.clear();
  return text;
}

int Processor::piece_size() const { return impl_->api->piece_size(impl_->processor); }
int Processor::unk_id() const { return impl_->api->unk_id(impl_->processor); }
int Processor::bos_id() const { return impl_->api->bos_id(impl_->processor); }
int Processor::eos_id() const { return impl_->api->eos_id(impl_->processor); }
int Processor::pad_id() const { return impl_->api->pad_id(impl_->processor); }

}  // namespace trustformers::tokenizers::sentencepiece_backend
