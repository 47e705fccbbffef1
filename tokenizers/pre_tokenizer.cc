#include "tokenizers/pre_tokenizer.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "tokenizers/byte_level.h"
#include "tokenizers/gguf_pre_tokenizers.h"
#include "tokenizers/json_fields.h"
#include "tokenizers/regex.h"
#include "tokenizers/unicode.h"
#include "tokenizers/utf8.h"

namespace trustformers::tokenizers {

// Hugging Face's ByteLevel split; the final \s+ takes whitespace the lookahead alternative leaves.
const char kGpt2SplitPattern[] =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

namespace {

using json = nlohmann::json;

// Sequence nests; real files use one level.
constexpr int kMaxJsonDepth = 8;

// A stretch [begin, end) of a piece and whether it is a delimiter.
struct Span {
  size_t begin = 0;
  size_t end = 0;
  bool delimiter = false;
};

// Cuts `text` at `matches` (sorted, non-overlapping) as `behavior` says and appends the pieces.
void CutAt(absl::string_view text, const std::vector<Regex::Match>& matches, SplitBehavior behavior,
           bool invert, std::vector<std::string>* pieces) {
  std::vector<Span> spans;
  spans.reserve(2 * matches.size() + 1);
  size_t done = 0;
  for (const Regex::Match& match : matches) {
    if (done < match.begin) spans.push_back({done, match.begin, invert});
    spans.push_back({match.begin, match.end, !invert});
    done = match.end;
  }
  if (done < text.size()) spans.push_back({done, text.size(), invert});

  std::vector<Span> out;
  out.reserve(spans.size());
  switch (behavior) {
    case SplitBehavior::kRemoved:
      for (const Span& s : spans) {
        if (!s.delimiter) out.push_back(s);
      }
      break;
    case SplitBehavior::kIsolated:
      out = std::move(spans);
      break;
    case SplitBehavior::kMergedWithPrevious: {
      bool previous_delimiter = false;
      for (const Span& s : spans) {
        if (s.delimiter && !previous_delimiter && !out.empty()) {
          out.back().end = s.end;
        } else {
          out.push_back(s);
        }
        previous_delimiter = s.delimiter;
      }
      break;
    }
    case SplitBehavior::kMergedWithNext: {
      bool next_delimiter = false;
      for (size_t i = spans.size(); i-- > 0;) {
        const Span& s = spans[i];
        if (s.delimiter && !next_delimiter && !out.empty()) {
          out.back().begin = s.begin;
        } else {
          out.push_back(s);
        }
        next_delimiter = s.delimiter;
      }
      std::reverse(out.begin(), out.end());
      break;
    }
    case SplitBehavior::kContiguous: {
      bool previous_delimiter = false;
      for (const Span& s : spans) {
        if (s.delimiter && previous_delimiter && !out.empty()) {
          out.back().end = s.end;
        } else {
          out.push_back(s);
        }
        previous_delimiter = s.delimiter;
      }
      break;
    }
  }
  for (const Span& s : out) {
    if (s.end > s.begin) pieces->emplace_back(text.substr(s.begin, s.end - s.begin));
  }
}

absl::StatusOr<SplitBehavior> ParseBehavior(const json& config, const std::string& path) {
  absl::StatusOr<std::string> name = ReadString(config, path, "behavior");
  if (!name.ok()) return name.status();
  if (*name == "Removed") return SplitBehavior::kRemoved;
  if (*name == "Isolated") return SplitBehavior::kIsolated;
  if (*name == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (*name == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (*name == "Contiguous") return SplitBehavior::kContiguous;
  return absl::InvalidArgumentError(absl::StrCat(
      path, ".behavior '", *name,
      "' is not one of Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous"));
}

absl::StatusOr<bool> BoolOr(const json& config, const std::string& path, const char* key,
                            bool default_value) {
  if (OptionalField(config, key) == nullptr) return default_value;
  return ReadBool(config, path, key);
}

}  // namespace

struct PreTokenizer::Step {
  enum class Kind { kRegex, kString, kDigits, kByteLevel };
  Kind kind = Kind::kRegex;
  std::unique_ptr<Regex> regex;  // kRegex; kByteLevel with use_regex
  std::string delimiter;         // kString
  SplitBehavior behavior = SplitBehavior::kIsolated;
  bool invert = false;
  bool individual_digits = false;  // kDigits
  bool add_prefix_space = false;   // kByteLevel

  absl::Status Apply(absl::string_view piece, std::vector<std::string>* out) const {
    std::vector<Regex::Match> matches;
    switch (kind) {
      case Kind::kRegex:
        if (absl::Status status = regex->FindAll(piece, &matches); !status.ok()) return status;
        CutAt(piece, matches, behavior, invert, out);
        return absl::OkStatus();
      case Kind::kString: {
        // An empty delimiter matches nowhere.
        for (size_t pos = delimiter.empty() ? absl::string_view::npos : piece.find(delimiter);
             pos != absl::string_view::npos; pos = piece.find(delimiter, pos + delimiter.size())) {
          matches.push_back({pos, pos + delimiter.size()});
        }
        CutAt(piece, matches, behavior, invert, out);
        return absl::OkStatus();
      }
      case Kind::kDigits: {
        size_t pos = 0;
        while (pos < piece.size()) {
          const size_t begin = pos;
          if (!IsNumeric(DecodeUtf8(piece, &pos))) continue;
          if (!individual_digits && !matches.empty() && matches.back().end == begin) {
            matches.back().end = pos;
          } else {
            matches.push_back({begin, pos});
          }
        }
        CutAt(piece, matches, SplitBehavior::kIsolated, false, out);
        return absl::OkStatus();
      }
      case Kind::kByteLevel: {
        std::string prefixed;
        if (add_prefix_space && (piece.empty() || piece[0] != ' ')) {
          prefixed = absl::StrCat(" ", piece);
          piece = prefixed;
        }
        std::vector<std::string> parts;
        if (regex != nullptr) {
          if (absl::Status status = regex->FindAll(piece, &matches); !status.ok()) return status;
          CutAt(piece, matches, SplitBehavior::kIsolated, false, &parts);
        } else if (!piece.empty()) {
          parts.emplace_back(piece);
        }
        for (const std::string& part : parts) {
          std::string mapped;
          AppendByteLevel(part, &mapped);
          out->push_back(std::move(mapped));
        }
        return absl::OkStatus();
      }
    }
    return absl::InternalError("unknown pre-tokenizer step");
  }
};

PreTokenizer::PreTokenizer() = default;
PreTokenizer::~PreTokenizer() = default;
PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;

absl::Status PreTokenizer::AddRegexSplit(absl::string_view pattern, SplitBehavior behavior,
                                         bool invert) {
  absl::StatusOr<std::unique_ptr<Regex>> regex = Regex::Compile(pattern);
  if (!regex.ok()) return regex.status();
  auto step = std::make_unique<Step>();
  step->kind = Step::Kind::kRegex;
  step->regex = *std::move(regex);
  step->behavior = behavior;
  step->invert = invert;
  steps_.push_back(std::move(step));
  return absl::OkStatus();
}

void PreTokenizer::AddStringSplit(std::string delimiter, SplitBehavior behavior, bool invert) {
  auto step = std::make_unique<Step>();
  step->kind = Step::Kind::kString;
  step->delimiter = std::move(delimiter);
  step->behavior = behavior;
  step->invert = invert;
  steps_.push_back(std::move(step));
}

void PreTokenizer::AddDigits(bool individual) {
  auto step = std::make_unique<Step>();
  step->kind = Step::Kind::kDigits;
  step->individual_digits = individual;
  steps_.push_back(std::move(step));
}

absl::Status PreTokenizer::AddByteLevel(bool add_prefix_space, bool use_regex) {
  auto step = std::make_unique<Step>();
  step->kind = Step::Kind::kByteLevel;
  step->add_prefix_space = add_prefix_space;
  if (use_regex) {
    absl::StatusOr<std::unique_ptr<Regex>> regex = Regex::Compile(kGpt2SplitPattern);
    if (!regex.ok()) return regex.status();
    step->regex = *std::move(regex);
  }
  steps_.push_back(std::move(step));
  byte_level_ = true;
  return absl::OkStatus();
}

absl::Status PreTokenizer::Split(absl::string_view text, std::vector<std::string>* pieces) const {
  if (text.empty()) return absl::OkStatus();
  std::vector<std::string> current;
  current.emplace_back(text);
  std::vector<std::string> next;
  for (const std::unique_ptr<Step>& step : steps_) {
    next.clear();
    for (const std::string& piece : current) {
      if (absl::Status status = step->Apply(piece, &next); !status.ok()) return status;
    }
    current.swap(next);
  }
  for (std::string& piece : current) {
    if (!piece.empty()) pieces->push_back(std::move(piece));
  }
  return absl::OkStatus();
}

absl::StatusOr<PreTokenizer> PreTokenizer::ForGgufName(absl::string_view name) {
  const GgufPreTokenizerPreset* preset = FindGgufPreTokenizer(name);
  if (preset == nullptr) {
    return absl::UnimplementedError(
        absl::StrCat("GGUF pre-tokenizer '", name,
                     "' is not supported (supported: ", KnownGgufPreTokenizers(), ")"));
  }
  PreTokenizer pre_tokenizer;
  for (const std::string& pattern : preset->patterns) {
    absl::Status status = pre_tokenizer.AddRegexSplit(pattern, SplitBehavior::kIsolated, false);
    if (!status.ok()) return status;
  }
  if (absl::Status status = pre_tokenizer.AddByteLevel(false, false); !status.ok()) return status;
  return pre_tokenizer;
}

absl::StatusOr<PreTokenizer> PreTokenizer::FromJson(const json& config) {
  PreTokenizer pre_tokenizer;
  if (config.is_null()) return pre_tokenizer;
  absl::Status status = pre_tokenizer.AddJsonStep(config, "pre_tokenizer", 0);
  if (!status.ok()) return status;
  return pre_tokenizer;
}

absl::Status PreTokenizer::AddJsonStep(const json& config, const std::string& path, int depth) {
  if (depth > kMaxJsonDepth) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": Sequence nested more than ", kMaxJsonDepth, " deep"));
  }
  absl::StatusOr<std::string> type = ComponentType(config, path);
  if (!type.ok()) return type.status();
  if (*type == "Sequence") {
    absl::StatusOr<const json*> list = RequiredField(config, path, "pretokenizers");
    if (!list.ok()) return list.status();
    if (!(*list)->is_array()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ".pretokenizers must be an array, not ", DescribeJsonType(**list)));
    }
    for (size_t i = 0; i < (*list)->size(); ++i) {
      absl::Status status =
          AddJsonStep((**list)[i], absl::StrCat(path, ".pretokenizers[", i, "]"), depth + 1);
      if (!status.ok()) return status;
    }
    return absl::OkStatus();
  }
  if (*type == "ByteLevel") {
    absl::StatusOr<bool> add_prefix_space = BoolOr(config, path, "add_prefix_space", true);
    if (!add_prefix_space.ok()) return add_prefix_space.status();
    absl::StatusOr<bool> use_regex = BoolOr(config, path, "use_regex", true);
    if (!use_regex.ok()) return use_regex.status();
    return AddByteLevel(*add_prefix_space, *use_regex);
  }
  if (*type == "Digits") {
    absl::StatusOr<bool> individual = BoolOr(config, path, "individual_digits", false);
    if (!individual.ok()) return individual.status();
    AddDigits(*individual);
    return absl::OkStatus();
  }
  if (*type == "Split") {
    absl::StatusOr<SplitBehavior> behavior = ParseBehavior(config, path);
    if (!behavior.ok()) return behavior.status();
    absl::StatusOr<bool> invert = BoolOr(config, path, "invert", false);
    if (!invert.ok()) return invert.status();
    absl::StatusOr<const json*> pattern = RequiredField(config, path, "pattern");
    if (!pattern.ok()) return pattern.status();
    const std::string pattern_path = absl::StrCat(path, ".pattern");
    if (const json* regex = OptionalField(**pattern, "Regex")) {
      absl::StatusOr<std::string> text = AsString(*regex, absl::StrCat(pattern_path, ".Regex"));
      if (!text.ok()) return text.status();
      absl::Status status = AddRegexSplit(*text, *behavior, *invert);
      if (!status.ok())
        return absl::InvalidArgumentError(absl::StrCat(path, ": ", status.message()));
      return absl::OkStatus();
    }
    if (const json* literal = OptionalField(**pattern, "String")) {
      absl::StatusOr<std::string> text = AsString(*literal, absl::StrCat(pattern_path, ".String"));
      if (!text.ok()) return text.status();
      AddStringSplit(*std::move(text), *behavior, *invert);
      return absl::OkStatus();
    }
    return absl::InvalidArgumentError(
        absl::StrCat(pattern_path, " must be {\"Regex\": ...} or {\"String\": ...}"));
  }
  return absl::UnimplementedError(
      absl::StrCat(path, " type '", *type,
                   "' is not supported (supported: Sequence, Split, Digits, ByteLevel)"));
}

}  // namespace trustformers::tokenizers
