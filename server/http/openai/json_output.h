// Writing JSON for OpenAI clients. Our numbers are float32 (logprobs, embeddings); stored in
// JSON as the double nearest to them they print with garbage digits (0.1f as
// 0.10000000149011612). FloatForJson stores the double nearest to the float's shortest decimal
// form instead, so the text is that shortest form ("0.1") and parsing it as float32 gives back
// the same float bit for bit.
#pragma once

#include <string>

#include "nlohmann/json.hpp"

namespace trustformers::server::openai {

// A finite float as a JSON number that prints in its shortest round-trip form; NaN and
// infinities (which JSON cannot hold) become null.
nlohmann::json FloatForJson(float value);

// A log-probability: like FloatForJson, but -inf (a token the model rules out) becomes -9999.0,
// the value OpenAI uses for "very unlikely", so clients always get a number.
nlohmann::json LogprobForJson(float value);

// `value` as compact JSON text. Never throws: invalid UTF-8 in a string (which our outputs do
// not produce) is replaced by U+FFFD instead of failing.
std::string DumpJson(const nlohmann::json& value);

}  // namespace trustformers::server::openai
