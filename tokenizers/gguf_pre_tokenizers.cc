#include "tokenizers/gguf_pre_tokenizers.h"

#include <map>

#include "absl/strings/str_join.h"

namespace trustformers::tokenizers {
namespace {

// GPT-2's split: contractions, letters, numbers and other symbols (each with an optional leading
// space), and whitespace that does not precede a non-space.
constexpr char kGpt2[] =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";
// Llama 3's split with the case-insensitive group spelled out (as llama.cpp does; PCRE2 would
// take the original too): numbers in groups of up to three, newlines kept with what precedes.
constexpr char kLlama3[] =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// Qwen2's: as Llama 3's, but single digits.
constexpr char kQwen2[] =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// CJK ideographs and Hangul (and the blocks between), as DeepSeek's tokenizers group them.
constexpr char kCjkRuns[] = R"([\x{4E00}-\x{9FA5}\x{0800}-\x{4E00}\x{AC00}-\x{D7FF}]+)";

GgufPreTokenizerPreset Preset(std::vector<std::string> patterns, bool ignore_merges = false,
                              bool add_bos = false) {
  return {std::move(patterns), ignore_merges, add_bos};
}

const std::map<std::string, GgufPreTokenizerPreset, std::less<>>& Presets() {
  static const auto* const presets = [] {
    auto* map = new std::map<std::string, GgufPreTokenizerPreset, std::less<>>();
    auto add = [map](std::initializer_list<const char*> names,
                     const GgufPreTokenizerPreset& preset) {
      for (const char* name : names) map->emplace(name, preset);
    };
    // What llama.cpp applies to a file that names no pre-tokenizer or "default".
    add({"default"}, Preset({R"([\p{P}\$\+<=>\^~\|]+)", kGpt2, R"(\p{N}+)", "[0-9][0-9][0-9]"}));
    add({"gpt-2", "phi-2", "mpt", "olmo", "jais", "jina-es", "jina-de", "jina-v2-es", "jina-v2-de",
         "gigachat", "mellum", "modern-bert", "a.x-4.0", "exaone4"},
        Preset({kGpt2}));
    add({"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2"},
        Preset({kLlama3}, /*ignore_merges=*/true, /*add_bos=*/true));
    add({"dbrx", "smaug-bpe", "chatglm-bpe", "glm4"}, Preset({kLlama3}));
    add({"qwen2", "deepseek-r1-qwen", "stablelm2"}, Preset({kQwen2}));
    // Digits one by one, then GPT-2's split: the tokenizer.json form is
    // Sequence[Digits(individual), ByteLevel].
    add({"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"},
        Preset({R"(\p{N})", kGpt2}));
    add({"falcon"}, Preset({R"([\p{P}\$\+<=>\^~\|`]+)", kGpt2, "[0-9][0-9][0-9]"}));
    add({"deepseek-coder"},
        Preset({R"([\r\n])", R"(\s?\p{L}+)", R"(\s?\p{P}+)", kCjkRuns, R"(\p{N})"}));
    add({"deepseek-v3"},
        Preset(
            {R"(\p{N}{1,3})", R"([\x{4E00}-\x{9FA5}\x{3040}-\x{309F}\x{30A0}-\x{30FF}]+)",
             R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}));
    add({"poro-chat", "bloom", "gpt3-finnish"},
        Preset({R"( ?[^(\s|.,!?\x{2026}\x{3002}\x{FF0C}\x{3001}\x{0964}\x{06D4}\x{060C})]+)"}));
    return map;
  }();
  return *presets;
}

}  // namespace

const GgufPreTokenizerPreset* FindGgufPreTokenizer(absl::string_view name) {
  auto it = Presets().find(name);
  return it == Presets().end() ? nullptr : &it->second;
}

std::string KnownGgufPreTokenizers() {
  std::vector<std::string> names;
  for (const auto& [name, preset] : Presets()) names.push_back(name);
  return absl::StrJoin(names, ", ");
}

}  // namespace trustformers::tokenizers
