#include "engine/decoder_engine.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "backends/status_macros.h"
#include "engine/sampling/sampler.h"
#include "models/gpt2/gpt2_model.h"
#include "models/llama/llama_model.h"
#include "models/loader/gguf_tokenizer.h"
#include "models/loader/json_file.h"
#include "tokenizers/bpe_tokenizer.h"

namespace trustformers::engine {
namespace {

// Control tokens that end a turn in the chat formats of the families we serve; llama.cpp
// treats the same spellings as end-of-generation when the file does not list them.
constexpr const char* kTurnEndTokens[] = {"<|im_end|>",    "<|eot_id|>",    "<|eom_id|>", "<|end|>",
                                          "<end_of_turn>", "<|endoftext|>", "</s>"};

// The model's declared end ids plus the turn-end control tokens its vocabulary has.
std::vector<uint32_t> EndOfGenerationIds(std::set<uint32_t> ids,
                                         const tokenizers::CausalTokenizer& tokenizer) {
  for (const char* spelling : kTurnEndTokens) {
    if (std::optional<uint32_t> id = tokenizer.TokenToId(spelling);
        id.has_value() && tokenizer.IsSpecial(*id)) {
      ids.insert(*id);
    }
  }
  return {ids.begin(), ids.end()};
}

// A template that does not parse fails loading, with where it came from.
absl::StatusOr<std::unique_ptr<tokenizers::ChatTemplate>> ParseChatTemplate(
    const std::string& source, const std::string& where) {
  absl::StatusOr<std::unique_ptr<tokenizers::ChatTemplate>> parsed =
      tokenizers::ChatTemplate::Parse(source);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", parsed.status().message()));
  }
  return parsed;
}

}  // namespace

absl::StatusOr<std::unique_ptr<DecoderEngine>> DecoderEngine::LoadGguf(
    const std::string& path, DecoderEngineOptions options) {
  std::unique_ptr<DecoderEngine> engine(new DecoderEngine());
  engine->options_ = options;
  TF_ASSIGN_OR_RETURN(
      std::unique_ptr<models::GgufFile> opened,
      models::GgufFile::Open(path, options.weights_in_memory ? models::FileLoad::kCopyHugePages
                                                             : models::FileLoad::kMap));
  // The model first: it refuses architectures we do not run before anything else is built.
  TF_ASSIGN_OR_RETURN(std::unique_ptr<models::LlamaModel> model,
                      models::LlamaModel::FromGguf(std::move(opened)));
  const models::GgufFile& file = *model->gguf();
  TF_ASSIGN_OR_RETURN(engine->tokenizer_, models::LoadGgufTokenizer(file));
  if (file.FindValue("tokenizer.chat_template") != nullptr) {
    TF_ASSIGN_OR_RETURN(std::string source, file.GetString("tokenizer.chat_template"));
    TF_ASSIGN_OR_RETURN(engine->chat_template_,
                        ParseChatTemplate(source, path + ": tokenizer.chat_template"));
  }
  std::set<uint32_t> declared;
  for (const char* key : {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id",
                          "tokenizer.ggml.eom_token_id"}) {
    if (absl::StatusOr<uint32_t> id = file.GetU32(key); id.ok()) declared.insert(*id);
  }
  engine->eog_ids_ = EndOfGenerationIds(std::move(declared), *engine->tokenizer_);
  engine->model_ = std::move(model);
  TF_RETURN_IF_ERROR(engine->Start(path));
  return engine;
}

absl::StatusOr<std::unique_ptr<DecoderEngine>> DecoderEngine::LoadHfFolder(
    const std::string& folder, DecoderEngineOptions options) {
  std::unique_ptr<DecoderEngine> engine(new DecoderEngine());
  engine->options_ = options;
  TF_ASSIGN_OR_RETURN(nlohmann::json config, models::ReadJsonFile(folder + "/config.json"));
  const std::string type = config.is_object() ? config.value("model_type", std::string()) : "";
  if (type == "gpt2") {
    TF_ASSIGN_OR_RETURN(engine->model_, models::Gpt2Model::Load(folder));
  } else if (type == "llama" || type == "mistral" || type == "qwen2") {
    TF_ASSIGN_OR_RETURN(engine->model_, models::LlamaModel::FromHfFolder(folder));
  } else {
    return absl::UnimplementedError(
        absl::StrCat(folder, ": Hugging Face decoder model_type '", type,
                     "' is not supported (gpt2, llama, mistral and qwen2 are)"));
  }
  TF_ASSIGN_OR_RETURN(engine->tokenizer_, tokenizers::BpeTokenizer::FromHfFolder(folder));
  std::set<uint32_t> declared;
  // generation_config.json's eos_token_id wins over config.json's; either may be a list.
  for (const char* file : {"/config.json", "/generation_config.json"}) {
    absl::StatusOr<nlohmann::json> json = models::ReadJsonFile(folder + file);
    if (!json.ok() || !json->is_object() || !json->contains("eos_token_id")) continue;
    const nlohmann::json& eos = (*json)["eos_token_id"];
    declared.clear();
    for (const nlohmann::json& id : eos.is_array() ? eos : nlohmann::json::array({eos})) {
      if (id.is_number_unsigned()) declared.insert(id.get<uint32_t>());
    }
  }
  engine->eog_ids_ = EndOfGenerationIds(std::move(declared), *engine->tokenizer_);
  if (absl::StatusOr<nlohmann::json> gc = models::ReadJsonFile(folder + "/generation_config.json");
      gc.ok() && gc->is_object()) {
    SamplingDefaults& d = engine->sampling_defaults_;
    auto number = [&](const char* key, std::optional<float>* out) {
      if (const auto it = gc->find(key); it != gc->end() && it->is_number())
        *out = it->get<float>();
    };
    number("temperature", &d.temperature);
    number("top_p", &d.top_p);
    number("min_p", &d.min_p);
    number("typical_p", &d.typical_p);
    number("repetition_penalty", &d.repetition_penalty);
    if (const auto it = gc->find("top_k"); it != gc->end() && it->is_number_integer()) {
      d.top_k = it->get<int32_t>();
    }
  }
  if (absl::StatusOr<nlohmann::json> tc = models::ReadJsonFile(folder + "/tokenizer_config.json");
      tc.ok() && tc->is_object() && tc->contains("chat_template") &&
      (*tc)["chat_template"].is_string()) {
    TF_ASSIGN_OR_RETURN(engine->chat_template_,
                        ParseChatTemplate((*tc)["chat_template"].get<std::string>(),
                                          folder + "/tokenizer_config.json: chat_template"));
  }
  TF_RETURN_IF_ERROR(engine->Start(folder));
  return engine;
}

absl::Status DecoderEngine::Start(const std::string& source) {
  for (uint32_t id : eog_ids_) {
    if (id >= static_cast<uint32_t>(vocab_size())) {
      return absl::InvalidArgumentError(absl::StrCat(
          source, ": end-of-sequence id ", id, " is outside the vocabulary of ", vocab_size()));
    }
  }
  if (tokenizer_->vocab_size() > static_cast<size_t>(vocab_size())) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": the tokenizer has ", tokenizer_->vocab_size(),
                     " tokens but the model's embeddings only ", vocab_size()));
  }
  if (std::optional<uint32_t> bos = tokenizer_->bos_id()) {
    bos_text_ = std::string(tokenizer_->TokenBytes(*bos));
  }
  if (std::optional<uint32_t> eos = tokenizer_->eos_id()) {
    eos_text_ = std::string(tokenizer_->TokenBytes(*eos));
  }
  vocabulary_.tokenizer = tokenizer_.get();
  vocabulary_.end_of_generation_ids = eog_ids_;
  vocabulary_.vocab_size = vocab_size();
  vocabulary_.context_length = context_length();
  const models::DecoderModel::KvShape shape = model_->kv_shape();
  TF_ASSIGN_OR_RETURN(
      std::unique_ptr<KvBlockPool> pool,
      KvBlockPool::Create({shape.layers, shape.row_width, shape.element, options_.kv_block_tokens},
                          options_.kv_cache_bytes));
  SchedulerOptions scheduler;
  scheduler.max_queued_requests = options_.max_queued_requests;
  scheduler.max_running_sequences = options_.max_running_sequences;
  scheduler.max_batch_tokens = options_.max_batch_tokens;
  scheduler.prefill_chunk_tokens = options_.prefill_chunk_tokens;
  scheduler.prefix_caching = options_.prefix_caching;
  scheduler_ = std::make_unique<Scheduler>(model_.get(), &vocabulary_, std::move(pool), scheduler,
                                           options_.histograms);
  return absl::OkStatus();
}

DecoderEngine::~DecoderEngine() { scheduler_.reset(); }

absl::Status DecoderEngine::CheckFits(const GenerateCall& call, int64_t prompt_tokens) const {
  const KvBlockPool& pool = scheduler_->pool();
  const int64_t block = pool.block_tokens();
  const auto blocks = [block](int64_t positions) { return (positions + block - 1) / block; };
  // The prompt's blocks are shared by the choices; each choice's own tokens take their own
  // (plus the copied partial block of the prompt).
  const int64_t choices = NumChoices(call.params);
  const int64_t generated = std::max<int64_t>(call.params.max_tokens, 1);
  int64_t needed = blocks(prompt_tokens + generated);
  if (choices > 1) needed = blocks(prompt_tokens) + choices * (blocks(generated) + 1);
  if (needed > pool.total_blocks()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the request needs up to ", needed, " KV blocks of ", block, " positions (", prompt_tokens,
        " prompt tokens, max_tokens ", generated, ", n ", choices, ") but the KV cache holds ",
        pool.total_blocks(), "; lower max_tokens or n, or raise engine.kv_cache_mib"));
  }
  return absl::OkStatus();
}

std::string DecoderEngine::TokenBytes(int32_t id) const {
  if (id < 0) return {};
  return std::string(tokenizer_->TokenBytes(static_cast<uint32_t>(id)));
}

std::string DecoderEngine::TokenString(int32_t id) const {
  if (id < 0) return {};
  const std::string* token = tokenizer_->IdToToken(static_cast<uint32_t>(id));
  return token != nullptr ? *token : std::string();
}

absl::StatusOr<std::string> DecoderEngine::Detokenize(std::span<const int32_t> ids,
                                                      bool skip_special_tokens) const {
  std::vector<uint32_t> unsigned_ids;
  unsigned_ids.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab_size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "token id ", ids[i], " at index ", i, " is outside the vocabulary of ", vocab_size()));
    }
    unsigned_ids.push_back(static_cast<uint32_t>(ids[i]));
  }
  return tokenizer_->Decode(unsigned_ids, skip_special_tokens);
}

absl::StatusOr<PromptTokens> DecoderEngine::Tokenize(const GenerateInput& input) const {
  PromptTokens prompt;
  if (input.kind != GenerateInput::Kind::kMessages &&
      (input.add_generation_prompt.has_value() || !input.template_kwargs.empty())) {
    return absl::InvalidArgumentError(
        "add_generation_prompt and chat_template_kwargs apply to messages only");
  }
  switch (input.kind) {
    case GenerateInput::Kind::kTokenIds: {
      prompt.ids = input.token_ids;
      TF_ASSIGN_OR_RETURN(prompt.text, Detokenize(prompt.ids, false));
      break;
    }
    case GenerateInput::Kind::kPrompt:
    case GenerateInput::Kind::kMessages: {
      const bool chat = input.kind == GenerateInput::Kind::kMessages;
      if (chat) {
        if (chat_template_ == nullptr) {
          return absl::FailedPreconditionError(
              "this model has no chat template: send a prompt instead of messages");
        }
        if (!input.messages.is_array() || input.messages.empty()) {
          return absl::InvalidArgumentError("messages must hold at least one message");
        }
        nlohmann::json context =
            input.template_kwargs.is_object() ? input.template_kwargs : nlohmann::json::object();
        for (const char* reserved :
             {"messages", "add_generation_prompt", "bos_token", "eos_token"}) {
          if (context.contains(reserved)) {
            return absl::InvalidArgumentError(absl::StrCat("chat_template_kwargs may not set \"",
                                                           reserved, "\": the request sets it"));
          }
        }
        context["messages"] = input.messages;
        context["add_generation_prompt"] = input.add_generation_prompt.value_or(true);
        context["bos_token"] = bos_text_;
        context["eos_token"] = eos_text_;
        absl::StatusOr<std::string> rendered = chat_template_->Render(context);
        if (!rendered.ok()) {
          return absl::InvalidArgumentError(absl::StrCat("the chat template refused the messages: ",
                                                         rendered.status().message()));
        }
        prompt.text = *std::move(rendered);
      } else {
        prompt.text = input.prompt;
      }
      TF_ASSIGN_OR_RETURN(std::vector<uint32_t> ids,
                          tokenizer_->Encode(prompt.text, input.add_special_tokens.value_or(!chat),
                                             /*parse_special=*/true));
      prompt.ids.assign(ids.begin(), ids.end());
      break;
    }
  }
  if (prompt.ids.empty()) {
    return absl::InvalidArgumentError("the prompt has no tokens: there is nothing to continue");
  }
  for (size_t i = 0; i < prompt.ids.size(); ++i) {
    if (prompt.ids[i] < 0 || prompt.ids[i] >= vocab_size()) {
      return absl::InvalidArgumentError(absl::StrCat("token id ", prompt.ids[i], " at index ", i,
                                                     " is outside the vocabulary of ",
                                                     vocab_size()));
    }
  }
  return prompt;
}

absl::Status DecoderEngine::Submit(GenerateCall call, std::shared_ptr<GenerateSink> sink) {
  TF_ASSIGN_OR_RETURN(PromptTokens prompt, Tokenize(call.input));
  const int64_t context = context_length();
  if (call.truncation != PromptTruncation::kNone) {
    // Keep as much of the prompt as leaves room for the requested tokens (or one).
    const int64_t want = call.max_tokens_set ? std::max(1, call.params.max_tokens) : 1;
    const int64_t keep = std::max<int64_t>(1, context - want);
    if (static_cast<int64_t>(prompt.ids.size()) > keep) {
      auto& ids = prompt.ids;
      if (call.truncation == PromptTruncation::kKeepEnd) {
        ids.erase(ids.begin(), ids.end() - keep);
      } else {
        ids.resize(static_cast<size_t>(keep));
      }
      TF_ASSIGN_OR_RETURN(prompt.text, Detokenize(ids, false));
    }
  }
  const int64_t prompt_tokens = static_cast<int64_t>(prompt.ids.size());
  if (options_.max_prompt_tokens > 0 && prompt_tokens > options_.max_prompt_tokens) {
    return absl::InvalidArgumentError(
        absl::StrCat("the prompt has ", prompt_tokens, " tokens; this server accepts at most ",
                     options_.max_prompt_tokens, " (limits.max_prompt_tokens)"));
  }
  if (call.max_tokens_set && options_.max_new_tokens > 0 &&
      call.params.max_tokens > options_.max_new_tokens) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_tokens is ", call.params.max_tokens, "; this server allows at most ",
                     options_.max_new_tokens, " (limits.max_new_tokens)"));
  }
  if (NumChoices(call.params) > options_.max_choices) {
    return absl::InvalidArgumentError(absl::StrCat("n is ", NumChoices(call.params),
                                                   "; this server allows at most ",
                                                   options_.max_choices, " (limits.max_choices)"));
  }
  if (static_cast<int64_t>(call.params.stop.size()) > options_.max_stop_strings) {
    return absl::InvalidArgumentError(
        absl::StrCat("stop has ", call.params.stop.size(), " strings; this server allows at most ",
                     options_.max_stop_strings, " (limits.max_stop_strings)"));
  }
  if (prompt_tokens >= context) {
    return absl::InvalidArgumentError(absl::StrCat("the prompt has ", prompt_tokens,
                                                   " tokens; the model's context holds ", context,
                                                   " with room for at least one generated token"));
  }
  const int64_t room = context - prompt_tokens;
  if (!call.max_tokens_set) {
    // Until the context is full, or the KV cache: a long-context model may have a context
    // larger than the pool.
    const KvBlockPool& pool = scheduler_->pool();
    const int64_t choices = NumChoices(call.params);
    const int64_t pool_room =
        (pool.total_blocks() * pool.block_tokens() - prompt_tokens) / choices -
        2 * pool.block_tokens();
    int64_t cap = std::clamp<int64_t>(pool_room, 1, room);
    if (options_.max_new_tokens > 0) cap = std::min(cap, options_.max_new_tokens);
    call.params.max_tokens = static_cast<int32_t>(cap);
  }
  const SamplingDefaults& d = sampling_defaults_;
  SamplingParams& p = call.params;
  if (call.unset.temperature && d.temperature) p.temperature = *d.temperature;
  if (call.unset.top_k && d.top_k) p.top_k = *d.top_k;
  if (call.unset.top_p && d.top_p) p.top_p = *d.top_p;
  if (call.unset.min_p && d.min_p) p.min_p = *d.min_p;
  if (call.unset.typical_p && d.typical_p) p.typical_p = *d.typical_p;
  if (call.unset.repetition_penalty && d.repetition_penalty) {
    p.repetition_penalty = *d.repetition_penalty;
  }
  TF_RETURN_IF_ERROR(ValidateSamplingParams(call.params, vocab_size(), room));
  TF_RETURN_IF_ERROR(CheckFits(call, prompt_tokens));
  auto request = std::make_shared<GenerationRequest>(std::move(call), std::move(prompt.ids),
                                                     std::move(prompt.text), std::move(sink),
                                                     next_arrival_.fetch_add(1));
  return scheduler_->Submit(std::move(request));
}

}  // namespace trustformers::engine
