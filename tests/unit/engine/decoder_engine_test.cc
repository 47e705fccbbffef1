// DecoderEngine on the committed Hugging Face fixtures (GPT-2, Llama): requests are tokenized and
// checked on the caller's thread, run on the engine's thread, and stream the greedy tokens the
// model's own forward pass gives; refusals arrive before any output.
#include "engine/decoder_engine.h"

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "catch2/catch.hpp"
#include "unit/models/model_fixtures.h"
#include "unit/temp_dir.h"

namespace trustformers::engine {
namespace {

// Collects a request's output; Wait blocks until OnDone.
class CollectingSink : public GenerateSink {
 public:
  void OnChunk(GenerateChunk chunk) override {
    std::lock_guard<std::mutex> lock(mutex_);
    chunks_.push_back(std::move(chunk));
  }
  void OnDone(absl::Status status, const GenerateUsage& usage) override {
    std::lock_guard<std::mutex> lock(mutex_);
    status_ = status;
    usage_ = usage;
    done_ = true;
    wake_.notify_all();
  }
  bool Cancelled() override { return cancel_; }

  void Wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    wake_.wait(lock, [&] { return done_; });
  }
  std::vector<int32_t> ids(int32_t index = 0) const {
    std::vector<int32_t> out;
    for (const GenerateChunk& c : chunks_) {
      if (c.index == index && !c.echo)
        out.insert(out.end(), c.token_ids.begin(), c.token_ids.end());
    }
    return out;
  }
  std::string text(int32_t index = 0) const {
    std::string out;
    for (const GenerateChunk& c : chunks_) {
      if (c.index == index && !c.echo) out += c.text;
    }
    return out;
  }
  const std::vector<GenerateChunk>& chunks() const { return chunks_; }
  const GenerateUsage& usage() const { return usage_; }
  bool cancel_ = false;

 private:
  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<GenerateChunk> chunks_;
  absl::Status status_;
  GenerateUsage usage_;
  bool done_ = false;
};

GenerateCall GreedyCall(std::vector<int32_t> ids, int32_t max_tokens) {
  GenerateCall call;
  call.input.kind = GenerateInput::Kind::kTokenIds;
  call.input.token_ids = std::move(ids);
  call.params.temperature = 0;
  call.params.max_tokens = max_tokens;
  call.params.ignore_eos = true;
  call.max_tokens_set = true;
  return call;
}

TEST_CASE("DecoderEngine streams a Hugging Face Llama's greedy tokens", "[decoder_engine]") {
  auto engine = DecoderEngine::LoadHfFolder(testing::GoldenDir() + "/llama_hf/llama");
  INFO(engine.status().ToString());
  REQUIRE(engine.ok());
  const nlohmann::json golden = testing::ReadGolden("llama_hf/reference.json");
  const nlohmann::json& c = golden["models"]["llama"][0];
  auto sink = std::make_shared<CollectingSink>();
  REQUIRE((*engine)->Submit(GreedyCall(c["prompt_ids"], 12), sink).ok());
  sink->Wait();
  const std::vector<int32_t> greedy = c["greedy"];
  CHECK(sink->ids() == std::vector<int32_t>(greedy.begin(), greedy.begin() + 12));
  CHECK(sink->chunks().back().finish == ChoiceFinish::kLength);
  CHECK(sink->usage().completion_tokens == 12);
  CHECK(sink->usage().prompt_tokens == static_cast<int32_t>(c["prompt_ids"].size()));
}

TEST_CASE("DecoderEngine tokenizes text and refuses bad requests up front", "[decoder_engine]") {
  auto engine = DecoderEngine::LoadHfFolder(testing::GoldenDir() + "/gpt2/model");
  REQUIRE(engine.ok());
  const nlohmann::json golden = testing::ReadGolden("gpt2/reference.json");
  const nlohmann::json& c = golden["cases"][0];

  GenerateCall call;
  call.input.prompt = c["prompt"];
  call.params.temperature = 0;
  call.params.max_tokens = 6;
  call.max_tokens_set = true;
  call.params.ignore_eos = true;
  auto sink = std::make_shared<CollectingSink>();
  REQUIRE((*engine)->Submit(call, sink).ok());
  sink->Wait();
  const std::vector<int32_t> greedy = c["greedy"];
  CHECK(sink->ids() == std::vector<int32_t>(greedy.begin(), greedy.begin() + 6));
  auto decoded = (*engine)->Detokenize(sink->ids(), true);
  REQUIRE(decoded.ok());
  CHECK(sink->text() == *decoded);

  auto refused = std::make_shared<CollectingSink>();
  GenerateCall bad = call;
  bad.params.temperature = 7;
  CHECK((*engine)->Submit(bad, refused).code() == absl::StatusCode::kInvalidArgument);
  bad = call;
  bad.params.max_tokens = 1000;  // beyond the 128-position context
  CHECK((*engine)->Submit(bad, refused).code() == absl::StatusCode::kInvalidArgument);
  bad = call;
  bad.input.kind = GenerateInput::Kind::kMessages;
  bad.input.messages = {{{"role", "user"}, {"content", "hi"}}};
  CHECK((*engine)->Submit(bad, refused).code() == absl::StatusCode::kFailedPrecondition);
  bad = call;
  bad.input.prompt = "";
  CHECK((*engine)->Submit(bad, refused).code() == absl::StatusCode::kInvalidArgument);
  CHECK(refused->chunks().empty());

  // A cancelled request ends every choice with kCancelled and still reports done.
  auto cancelled = std::make_shared<CollectingSink>();
  cancelled->cancel_ = true;
  call.params.n = 2;
  REQUIRE((*engine)->Submit(call, cancelled).ok());
  cancelled->Wait();
  REQUIRE(cancelled->chunks().size() == 2);
  for (const GenerateChunk& chunk : cancelled->chunks()) {
    CHECK(chunk.finish == ChoiceFinish::kCancelled);
  }
}

TEST_CASE("destroying the engine ends queued and running requests", "[decoder_engine]") {
  auto engine = DecoderEngine::LoadHfFolder(testing::GoldenDir() + "/llama_hf/llama");
  REQUIRE(engine.ok());
  std::vector<std::shared_ptr<CollectingSink>> sinks;
  for (int i = 0; i < 3; ++i) {
    sinks.push_back(std::make_shared<CollectingSink>());
    REQUIRE((*engine)->Submit(GreedyCall({5, 17, 99}, 250), sinks.back()).ok());
  }
  engine->reset();  // joins the engine's thread
  for (const auto& sink : sinks) {
    sink->Wait();  // every request was told it is done
    REQUIRE(!sink->chunks().empty());
    const ChoiceFinish finish = sink->chunks().back().finish;
    CHECK((finish == ChoiceFinish::kCancelled || finish == ChoiceFinish::kLength));
  }
}

TEST_CASE("generation_config.json supplies the defaults a request leaves unset",
          "[decoder_engine]") {
  namespace fs = std::filesystem;
  testing::TempDir dir;
  const fs::path folder = dir.path() / "gpt2";
  fs::copy(testing::GoldenDir() + "/gpt2/model", folder);
  // top_k 1 keeps only the most likely token: sampling becomes greedy.
  std::ofstream(folder / "generation_config.json") << R"({"top_k": 1, "temperature": 0.7})";
  auto engine = DecoderEngine::LoadHfFolder(folder.string());
  REQUIRE(engine.ok());
  CHECK((*engine)->sampling_defaults().top_k == 1);
  const nlohmann::json golden = testing::ReadGolden("gpt2/reference.json");
  const nlohmann::json& c = golden["cases"][1];
  GenerateCall call = GreedyCall(c["ids"], 8);
  call.params.temperature = 1.0f;
  call.params.seed = 5;
  call.unset.temperature = true;
  call.unset.top_k = true;
  auto sink = std::make_shared<CollectingSink>();
  REQUIRE((*engine)->Submit(call, sink).ok());
  sink->Wait();
  const std::vector<int32_t> greedy = c["greedy"];
  CHECK(sink->ids() == std::vector<int32_t>(greedy.begin(), greedy.begin() + 8));
}

}  // namespace
}  // namespace trustformers::engine
