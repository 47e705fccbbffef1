// What one render of a chat template may consume. Templates come with user-supplied model files,
// so every loop, string and recursion they drive is bounded; exceeding a bound ends the render
// with INVALID_ARGUMENT.
#pragma once

#include <cstddef>
#include <cstdint>

namespace trustformers::tokenizers::jinja {

struct Limits {
  // The rendered text, and any string a template builds.
  size_t max_output_bytes = size_t{16} << 20;
  // Units of work: one per expression or statement evaluated, loop iteration or element
  // produced, one per 32 bytes of text read (compared, searched, decoded) and one per 128
  // bytes of text copied. A chat of a few turns takes a few
  // thousand; 2,000 turns of 2 KB through a tool-calling template take about a million, except
  // in templates that are quadratic in the conversation. The limit is about a second of work.
  int64_t max_steps = 20'000'000;
  // Nested macro calls (jinja2 itself stops near 300, at Python's recursion limit).
  int max_call_depth = 100;
  // Nesting of values: lists in lists, dicts in dicts.
  int max_value_depth = 128;
  // Nesting of evaluation (expressions, statements and macro calls together): bounds the
  // interpreter's use of the native stack, to well under 1 MiB at this default.
  int max_eval_depth = 400;
};

}  // namespace trustformers::tokenizers::jinja
