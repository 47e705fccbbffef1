#include "engine/decoder_engine.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "backends/status_macros.h"
#include "engine/sampling/logprobs.h"
#include "engine/sampling/sampler.h"
#include "models/gpt2/gpt2_model.h"
#include "models/llama/llama_model.h"
#include "models/loader/gguf_tokenizer.h"
#include "models/loader/json_file.h"
#include "tokenizers/bpe_tokenizer.h"
#include "tokenizers/streaming_decoder.h"

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

ChoiceFinish ToChoiceFinish(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStop:
      return ChoiceFinish::kStop;
    case FinishReason::kLength:
      return ChoiceFinish::kLength;
    case FinishReason::kStopSequence:
      return ChoiceFinish::kStopSequence;
    case FinishReason::kNone:
      break;
  }
  return ChoiceFinish::kNone;
}

}  // namespace

absl::StatusOr<std::unique_ptr<DecoderEngine>> DecoderEngine::LoadGguf(
    const std::string& path, DecoderEngineOptions options) {
  std::unique_ptr<DecoderEngine> engine(new DecoderEngine());
  engine->options_ = options;
  TF_ASSIGN_OR_RETURN(std::unique_ptr<models::GgufFile> opened, models::GgufFile::Open(path));
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
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

DecoderEngine::~DecoderEngine() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

int64_t DecoderEngine::queued() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int64_t>(queue_.size());
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
  if (prompt_tokens >= context) {
    return absl::InvalidArgumentError(absl::StrCat("the prompt has ", prompt_tokens,
                                                   " tokens; the model's context holds ", context,
                                                   " with room for at least one generated token"));
  }
  const int64_t room = context - prompt_tokens;
  if (!call.max_tokens_set) call.params.max_tokens = static_cast<int32_t>(room);
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
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (static_cast<int64_t>(queue_.size()) >= options_.max_queued_requests) {
      return absl::ResourceExhaustedError(
          absl::StrCat("the generation queue is full (", queue_.size(), " requests); retry later"));
    }
    queue_.push_back(Request{std::move(call), std::move(prompt), std::move(sink),
                             std::chrono::steady_clock::now()});
  }
  wake_.notify_one();
  return absl::OkStatus();
}

void DecoderEngine::Run() {
  for (;;) {
    Request request;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping
      request = std::move(queue_.front());
      queue_.pop_front();
      running_.store(1);
    }
    Serve(request);
    generation_tokens_.fetch_add(request.generated_tokens);
    prompt_tokens_.fetch_add(static_cast<int64_t>(request.prompt.ids.size()));
    requests_finished_.fetch_add(1);
    running_.store(0);
  }
}

DecoderEngineCounters DecoderEngine::counters() const {
  DecoderEngineCounters counters;
  counters.running = running_.load();
  counters.queued = queued();
  counters.requests_finished = requests_finished_.load();
  counters.prompt_tokens = prompt_tokens_.load();
  counters.generation_tokens = generation_tokens_.load();
  return counters;
}

namespace {

// One choice of a request while it runs.
struct Choice {
  int32_t index = 0;
  models::KvCache cache;
  std::vector<float> logits;
  std::unique_ptr<Sampler> sampler;
  std::unique_ptr<StopChecker> stops;
  std::unique_ptr<tokenizers::StreamingDecoder> text;
  bool active = true;
};

}  // namespace

void DecoderEngine::Serve(Request& request) {
  GenerateSink& sink = *request.sink;
  const SamplingParams& params = request.call.params;
  const std::vector<int32_t>& ids = request.prompt.ids;
  GenerateUsage usage;
  usage.prompt_tokens = static_cast<int32_t>(ids.size());
  const int32_t choices = NumChoices(params);

  auto finish_all = [&](ChoiceFinish finish, const std::string& error) {
    for (int32_t i = 0; i < choices; ++i) {
      GenerateChunk chunk;
      chunk.index = i;
      chunk.finish = finish;
      chunk.error = error;
      sink.OnChunk(std::move(chunk));
    }
    sink.OnDone(absl::OkStatus(), usage);
  };
  // A stopping engine (unload, shutdown) cancels like a client that went away.
  auto cancelled = [&] { return stopping_ || sink.Cancelled(); };
  if (cancelled()) return finish_all(ChoiceFinish::kCancelled, "");

  // Prefill once for every choice, in chunks; with echoed logprobs every position's logits.
  const bool prompt_logprobs = params.echo_prompt && params.logprobs.has_value();
  models::KvCache cache =
      model_->NewCache(static_cast<int64_t>(ids.size()) + std::max<int64_t>(params.max_tokens, 1));
  std::vector<float> logits, all_logits;
  const std::span<const int32_t> prompt(ids);
  for (size_t begin = 0; begin < prompt.size();) {
    const size_t count =
        std::min(prompt.size() - begin, static_cast<size_t>(options_.prefill_chunk_tokens));
    if (absl::Status s =
            model_->Forward(prompt.subspan(begin, count), &cache, prompt_logprobs, &logits);
        !s.ok()) {
      return finish_all(ChoiceFinish::kError, std::string(s.message()));
    }
    if (prompt_logprobs) all_logits.insert(all_logits.end(), logits.begin(), logits.end());
    begin += count;
    if (cancelled()) return finish_all(ChoiceFinish::kCancelled, "");
  }
  const size_t vocab = static_cast<size_t>(vocab_size());
  if (prompt_logprobs)
    logits.assign(all_logits.end() - static_cast<ptrdiff_t>(vocab), all_logits.end());

  // Echo: the prompt (and its logprobs: token i given tokens before it) before each choice.
  if (params.echo_prompt) {
    GenerateChunk echo;
    echo.echo = true;
    echo.text = request.prompt.text;
    echo.token_ids = ids;
    if (prompt_logprobs) {
      for (size_t i = 0; i < ids.size(); ++i) {
        GeneratedTokenLogprob lp;
        lp.token_id = ids[i];
        lp.token_bytes = TokenBytes(ids[i]);
        if (i > 0) {
          const std::span<const float> row(all_logits.data() + (i - 1) * vocab, vocab);
          absl::StatusOr<TokenLogprobs> computed =
              ComputeLogprobs(row, static_cast<uint32_t>(ids[i]), *params.logprobs);
          if (!computed.ok())
            return finish_all(ChoiceFinish::kError, std::string(computed.status().message()));
          lp.logprob = computed->logprob;
          for (const TopLogprob& top : computed->top) {
            lp.top.push_back({static_cast<int32_t>(top.id),
                              TokenBytes(static_cast<int32_t>(top.id)), top.logprob});
          }
        }
        echo.logprobs.push_back(std::move(lp));
      }
    }
    for (int32_t i = 0; i < choices; ++i) {
      echo.index = i;
      sink.OnChunk(echo);
    }
  }

  std::vector<uint32_t> prompt_ids(ids.begin(), ids.end());
  std::vector<Choice> running;
  running.reserve(static_cast<size_t>(choices));
  for (int32_t i = 0; i < choices; ++i) {
    Choice c{.index = i,
             .cache = cache,
             .logits = logits,
             .sampler = std::make_unique<Sampler>(params, vocab_size(), eog_ids_,
                                                  static_cast<uint32_t>(i)),
             .stops = std::make_unique<StopChecker>(params, eog_ids_),
             .text = std::make_unique<tokenizers::StreamingDecoder>(*tokenizer_,
                                                                    params.skip_special_tokens)};
    c.sampler->SetPrompt(prompt_ids);
    running.push_back(std::move(c));
  }
  if (params.max_tokens == 0) {  // score the prompt only
    for (Choice& c : running) {
      GenerateChunk chunk;
      chunk.index = c.index;
      chunk.finish = ChoiceFinish::kLength;
      sink.OnChunk(std::move(chunk));
    }
    sink.OnDone(absl::OkStatus(), usage);
    return;
  }

  bool first_token = true;
  size_t active = running.size();
  while (active > 0) {
    const bool stop_now = cancelled();
    for (Choice& c : running) {
      if (!c.active) continue;
      GenerateChunk chunk;
      chunk.index = c.index;
      auto end = [&](ChoiceFinish finish) {
        chunk.finish = finish;
        c.active = false;
        --active;
      };
      if (stop_now) {
        end(ChoiceFinish::kCancelled);
        sink.OnChunk(std::move(chunk));
        continue;
      }
      absl::StatusOr<SampledToken> sampled = c.sampler->Sample(c.logits);
      if (!sampled.ok()) {
        chunk.error = std::string(sampled.status().message());
        end(ChoiceFinish::kError);
        sink.OnChunk(std::move(chunk));
        continue;
      }
      if (first_token) {
        usage.time_to_first_token = std::chrono::steady_clock::now() - request.accepted;
        first_token = false;
      }
      const uint32_t token = sampled->id;
      chunk.token_ids.push_back(static_cast<int32_t>(token));
      if (params.logprobs.has_value()) {
        GeneratedTokenLogprob lp;
        lp.token_id = static_cast<int32_t>(token);
        lp.token_bytes = TokenBytes(lp.token_id);
        lp.logprob = sampled->logprob;
        for (const TopLogprob& top : sampled->top) {
          lp.top.push_back({static_cast<int32_t>(top.id), TokenBytes(static_cast<int32_t>(top.id)),
                            top.logprob});
        }
        chunk.logprobs.push_back(std::move(lp));
      }
      const std::string piece = c.text->Push(token);
      StepOutput step = c.stops->Step(token, piece);
      chunk.text = std::move(step.text);
      if (step.finish != FinishReason::kNone) {
        chunk.matched_stop = std::move(step.matched_stop);
        end(ToChoiceFinish(step.finish));
      } else if (c.cache.length() >= c.cache.max_positions()) {
        StepOutput rest = c.stops->Finish(FinishReason::kLength);
        chunk.text += c.text->Finish();
        chunk.text += rest.text;
        end(ChoiceFinish::kLength);
      } else {
        const int32_t next[] = {static_cast<int32_t>(token)};
        if (absl::Status s = model_->Forward(next, &c.cache, false, &c.logits); !s.ok()) {
          chunk.error = std::string(s.message());
          end(ChoiceFinish::kError);
        }
      }
      sink.OnChunk(std::move(chunk));
    }
  }
  for (const Choice& c : running) usage.completion_tokens += c.stops->generated();
  request.generated_tokens = usage.completion_tokens;
  sink.OnDone(absl::OkStatus(), usage);
}

}  // namespace trustformers::engine
