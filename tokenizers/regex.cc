#include "tokenizers/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <utility>

#include "absl/strings/str_cat.h"

namespace trustformers::tokenizers {
namespace {

// Unicode White_Space as a character-class body: TAB..CR, space, NEL, NBSP, OGHAM SPACE MARK,
// EN QUAD..HAIR SPACE, LINE and PARAGRAPH SEPARATOR, NNBSP, MMSP, IDEOGRAPHIC SPACE.
constexpr absl::string_view kWhiteSpace =
    "\\t-\\r\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}"
    "\\x{205F}\\x{3000}";

// PCRE2 allocates this much heap at most for one match's backtracking (the value is in KiB).
constexpr uint32_t kHeapLimitKib = 64 * 1024;

std::string ErrorText(int code) {
  PCRE2_UCHAR buffer[256];
  if (pcre2_get_error_message(code, buffer, sizeof(buffer)) < 0) return absl::StrCat("code ", code);
  return std::string(reinterpret_cast<const char*>(buffer));
}

struct CodeDeleter {
  void operator()(pcre2_code* code) const { pcre2_code_free(code); }
};
struct MatchContextDeleter {
  void operator()(pcre2_match_context* context) const { pcre2_match_context_free(context); }
};
struct MatchDataDeleter {
  void operator()(pcre2_match_data* data) const { pcre2_match_data_free(data); }
};

}  // namespace

struct Regex::Compiled {
  std::unique_ptr<pcre2_code, CodeDeleter> code;
  // Read-only during matches, so every thread shares it.
  std::unique_ptr<pcre2_match_context, MatchContextDeleter> context;
};

std::string RewriteWhitespaceClasses(absl::string_view pattern) {
  std::string out;
  out.reserve(pattern.size());
  bool in_class = false;
  size_t i = 0;
  while (i < pattern.size()) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char next = pattern[i + 1];
      if (next == 'Q') {  // \Q...\E is literal text
        const size_t end = pattern.find("\\E", i + 2);
        const size_t stop = end == absl::string_view::npos ? pattern.size() : end + 2;
        out.append(pattern.data() + i, stop - i);
        i = stop;
        continue;
      }
      if (next == 's') {
        absl::StrAppend(&out, in_class ? "" : "[", kWhiteSpace, in_class ? "" : "]");
      } else if (next == 'S' && !in_class) {
        absl::StrAppend(&out, "[^", kWhiteSpace, "]");
      } else {
        // \S inside a class keeps PCRE2's meaning: a class cannot subtract a set.
        out.append(pattern.data() + i, 2);
      }
      i += 2;
      continue;
    }
    if (!in_class && c == '[') {
      in_class = true;
      out.push_back(c);
      ++i;
      // A ']' right after '[' or '[^' is a literal member, not the end of the class.
      if (i < pattern.size() && pattern[i] == '^') out.push_back(pattern[i++]);
      if (i < pattern.size() && pattern[i] == ']') out.push_back(pattern[i++]);
      continue;
    }
    if (in_class && c == '[' && i + 1 < pattern.size() && pattern[i + 1] == ':') {
      const size_t end = pattern.find(":]", i + 2);
      if (end != absl::string_view::npos) {  // a POSIX class such as [:alpha:]
        out.append(pattern.data() + i, end + 2 - i);
        i = end + 2;
        continue;
      }
    }
    if (in_class && c == ']') in_class = false;
    out.push_back(c);
    ++i;
  }
  return out;
}

Regex::Regex(std::string pattern, std::unique_ptr<Compiled> compiled)
    : pattern_(std::move(pattern)), compiled_(std::move(compiled)) {}

Regex::~Regex() = default;

absl::StatusOr<std::unique_ptr<Regex>> Regex::Compile(absl::string_view pattern,
                                                      uint32_t match_limit) {
  const std::string rewritten = RewriteWhitespaceClasses(pattern);
  int error = 0;
  PCRE2_SIZE error_offset = 0;
  auto compiled = std::make_unique<Compiled>();
  compiled->code.reset(pcre2_compile(
      reinterpret_cast<PCRE2_SPTR>(rewritten.data()), rewritten.size(),
      PCRE2_UTF | PCRE2_UCP | PCRE2_NEVER_BACKSLASH_C, &error, &error_offset, nullptr));
  if (compiled->code == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot compile the regular expression '", pattern, "': ", ErrorText(error),
                     " (at offset ", error_offset, " of the rewritten pattern '", rewritten, "')"));
  }
  uint32_t jit_available = 0;
  pcre2_config(PCRE2_CONFIG_JIT, &jit_available);
  // Without the JIT (an unsupported CPU, or a kernel refusing executable memory) the interpreter
  // gives the same results, more slowly.
  if (jit_available != 0) pcre2_jit_compile(compiled->code.get(), PCRE2_JIT_COMPLETE);
  compiled->context.reset(pcre2_match_context_create(nullptr));
  if (compiled->context == nullptr) return absl::ResourceExhaustedError("out of memory");
  pcre2_set_match_limit(compiled->context.get(), match_limit);
  pcre2_set_depth_limit(compiled->context.get(), match_limit);
  pcre2_set_heap_limit(compiled->context.get(), kHeapLimitKib);
  return std::unique_ptr<Regex>(new Regex(std::string(pattern), std::move(compiled)));
}

absl::Status Regex::FindAll(absl::string_view text, std::vector<Match>* matches) const {
  std::unique_ptr<pcre2_match_data, MatchDataDeleter> data(
      pcre2_match_data_create_from_pattern(compiled_->code.get(), nullptr));
  if (data == nullptr) return absl::ResourceExhaustedError("out of memory");
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t start = 0;
  while (start <= text.size()) {
    int rc = pcre2_match(compiled_->code.get(), subject, text.size(), start, PCRE2_NO_UTF_CHECK,
                         data.get(), compiled_->context.get());
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
      // The JIT's stack is small and fixed; the interpreter's grows on the heap up to its limit.
      rc = pcre2_match(compiled_->code.get(), subject, text.size(), start,
                       PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, data.get(), compiled_->context.get());
    }
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
        rc == PCRE2_ERROR_HEAPLIMIT) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the text is too complex for the pre-tokenizer pattern '", pattern_,
          "': matching from byte offset ", start, " exceeded its limit (", ErrorText(rc), ")"));
    }
    if (rc < 0) {
      return absl::InternalError(
          absl::StrCat("matching the pattern '", pattern_, "' failed: ", ErrorText(rc)));
    }
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data.get());
    const size_t begin = ovector[0];
    const size_t end = ovector[1];
    if (end > begin) {
      matches->push_back({begin, end});
      start = end;
      continue;
    }
    // An empty match: step over one character and search on.
    if (begin >= text.size()) break;
    start = begin + 1;
    while (start < text.size() && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) {
      ++start;
    }
  }
  return absl::OkStatus();
}

}  // namespace trustformers::tokenizers
