// trustformers' side of bench/embed.py, in process: loads an encoder folder through the same
// EncoderEngine the server uses, then embeds the benchmark texts at each batch size for at least
// --min-seconds, tokenization included. One JSON line per (set, batch) on stdout, in the format
// bench/embed_peers.py prints for PyTorch and ONNX Runtime.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <future>
#include <iostream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "build_info.h"
#include "engine/encoder_engine.h"
#include "nlohmann/json.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using trustformers::engine::EmbedCall;
using trustformers::engine::EmbedResult;
using trustformers::engine::EncoderEngine;

absl::Status EmbedOnce(EncoderEngine& engine, std::vector<std::string> texts) {
  std::promise<absl::Status> done;
  EmbedCall call;
  call.texts = std::move(texts);
  engine.Embed(std::move(call), {},
               [&done](absl::StatusOr<EmbedResult> result) { done.set_value(result.status()); });
  return done.get_future().get();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"In-process embedding throughput"};
  std::string model_dir, texts_path, batches = "1,32";
  double min_seconds = 3.0;
  app.add_option("--model-dir", model_dir)->required();
  app.add_option("--texts", texts_path, "JSON lines: {\"set\": NAME, \"texts\": [...]}")
      ->required();
  app.add_option("--batch", batches, "Comma-separated batch sizes");
  app.add_option("--min-seconds", min_seconds);
  CLI11_PARSE(app, argc, argv);

  absl::StatusOr<std::unique_ptr<EncoderEngine>> engine = EncoderEngine::Load(model_dir, {});
  if (!engine.ok()) {
    std::cerr << engine.status() << "\n";
    return 1;
  }
  std::ifstream in(texts_path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const nlohmann::json set = nlohmann::json::parse(line);
    const auto texts = set["texts"].get<std::vector<std::string>>();
    for (size_t start = 0, end; start < batches.size(); start = end + 1) {
      end = batches.find(',', start);
      if (end == std::string::npos) end = batches.size();
      const size_t batch = std::stoul(batches.substr(start, end - start));
      size_t cursor = 0;
      auto next = [&] {
        std::vector<std::string> chunk;
        for (size_t i = 0; i < batch; ++i) chunk.push_back(texts[cursor++ % texts.size()]);
        return chunk;
      };
      for (int warm = 0; warm < 2; ++warm) {
        if (absl::Status s = EmbedOnce(**engine, next()); !s.ok()) {
          std::cerr << s << "\n";
          return 1;
        }
      }
      size_t sentences = 0;
      const Clock::time_point begin = Clock::now();
      double seconds = 0;
      while (seconds < min_seconds) {
        if (absl::Status s = EmbedOnce(**engine, next()); !s.ok()) {
          std::cerr << s << "\n";
          return 1;
        }
        sentences += batch;
        seconds = std::chrono::duration<double>(Clock::now() - begin).count();
      }
      std::cout << nlohmann::json{{"peer", "trustformers"},
                                  {"set", set["set"]},
                                  {"batch", batch},
                                  {"sentences_per_s", static_cast<double>(sentences) / seconds},
                                  {"seconds", seconds},
                                  {"sentences", sentences},
                                  {"version", trustformers::kVersion}}
                       .dump()
                << std::endl;
    }
  }
  return 0;
}
