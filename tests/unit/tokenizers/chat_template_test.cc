// Chat templates, piece by piece: language rules with their expected text (checked against
// jinja2 when written), errors with their line:column, the API's JSON handling and threading,
// and hostile templates that the limits must stop quickly. The real templates are covered by
// chat_template_golden_test.cc.
#include "tokenizers/chat_template.h"

#include <pthread.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "catch2/catch.hpp"
#include "nlohmann/json.hpp"

namespace trustformers::tokenizers {
namespace {

using ordered_json = nlohmann::ordered_json;

absl::StatusOr<std::string> RenderWith(absl::string_view source, const ordered_json& context,
                                       const ChatTemplate::RenderOptions& options = {}) {
  absl::StatusOr<std::unique_ptr<ChatTemplate>> parsed = ChatTemplate::Parse(source);
  if (!parsed.ok()) return parsed.status();
  return (*parsed)->Render(context, options);
}

std::string Render(absl::string_view source, const ordered_json& context = ordered_json::object()) {
  absl::StatusOr<std::string> rendered = RenderWith(source, context);
  INFO(source);
  INFO(rendered.status().message());
  REQUIRE(rendered.ok());
  return *rendered;
}

// The error message of a template that must fail (to parse or to render).
std::string Error(absl::string_view source, const ordered_json& context = ordered_json::object()) {
  absl::StatusOr<std::string> rendered = RenderWith(source, context);
  INFO(source);
  REQUIRE(!rendered.ok());
  CHECK(rendered.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(rendered.status().message());
}

TEST_CASE("chat templates render text, variables and loops", "[chat_template]") {
  CHECK(Render("Hello {{ name }}!", {{"name", "world"}}) == "Hello world!");
  const ordered_json chat = {
      {"messages",
       {{{"role", "user"}, {"content", " hi "}}, {{"role", "assistant"}, {"content", "yo"}}}}};
  CHECK(Render("{% for m in messages %}<{{ m.role }}>{{ m.content | trim }}\n{% endfor %}", chat) ==
        "<user>hi\n<assistant>yo\n");
  CHECK(Render("{% for x in 'abc' %}{{ loop.index }}{{ x }}{{ ',' if not loop.last }}"
               "{% endfor %}") == "1a,2b,3c");
  CHECK(Render("{% for x in [3, 1, 2] if x > 1 %}{{ loop.index0 }}:{{ x }}/{{ loop.length }} "
               "{% else %}none{% endfor %}") == "0:3/2 1:2/2 ");
  CHECK(Render("{% for x in [] %}{{ x }}{% else %}none{% endfor %}") == "none");
  CHECK(Render("{% for i in range(10) %}{% if i == 3 %}{% break %}{% endif %}{% if i == 1 %}"
               "{% continue %}{% endif %}{{ i }}{% endfor %}") == "02");
}

TEST_CASE("chat templates apply trim_blocks, lstrip_blocks and - markers", "[chat_template]") {
  CHECK(Render("  {% if true %}\n    kept\n  {% endif %}\ndone") == "    kept\ndone");
  CHECK(Render("a {{- ' b ' -}} c\n  {#- note -#}\nd") == "a b cd");
  // The newline after a variable tag stays; one trailing newline of the source goes.
  CHECK(Render("{{ 'x' }}\ny\n") == "x\ny");
  CHECK(Render("a\r\n{% if true %}\r\nb\r\n{% endif %}\r\nc") == "a\nb\nc");
}

TEST_CASE("chat templates scope variables as jinja2 does", "[chat_template]") {
  CHECK(Render("{% set ns = namespace(n=0) %}{% for i in range(4) %}{% set ns.n = ns.n + i %}"
               "{% set local = i %}{% endfor %}{{ ns.n }}|{{ local is defined }}") == "6|False");
  CHECK(Render("{% set x = 'outer' %}{% for i in [1, 2] %}{{ x }}{% set x = i %}{{ x }}"
               "{% endfor %}{{ x }}") == "outer1outer2outer");
  CHECK(Render("{% if true %}{% set y = 'if' %}{% endif %}{{ y }}") == "if");
  CHECK(Render("{% macro m() %}{{ z }}{% endmacro %}{% set z = 1 %}{{ m() }}{% set z = 2 %}"
               "{{ m() }}") == "12");
}

TEST_CASE("chat templates call macros and call blocks", "[chat_template]") {
  CHECK(Render("{% macro tag(name, body='') %}<{{ name }}>{{ body }}</{{ name }}>{% endmacro %}"
               "{{ tag('b', 'x') }}{{ tag(name='i') }}") == "<b>x</b><i></i>");
  CHECK(Render("{% macro each(items) %}{% for i in items %}{{ caller(i) }}{% endfor %}"
               "{% endmacro %}{% call(x) each([1, 2]) %}[{{ x }}]{% endcall %}") == "[1][2]");
  CHECK(Render("{% macro va() %}{{ varargs }}{{ kwargs }}{% endmacro %}{{ va(1, k=2) }}") ==
        "(1,){'k': 2}");
}

TEST_CASE("chat templates print values as Python does", "[chat_template]") {
  CHECK(Render("{{ 1 }} {{ 1.0 }} {{ 0.1 + 0.2 }} {{ 1e-05 }} {{ 10 / 4 }} {{ 7 // 2 }} "
               "{{ -7 % 3 }} {{ 2 ** 10 }}") == "1 1.0 0.30000000000000004 1e-05 2.5 3 2 1024");
  CHECK(Render("{{ 1e16 }} {{ 123456789.0 }} {{ -0.0 }} {{ 2.5e-7 }}") ==
        "1e+16 123456789.0 -0.0 2.5e-07");
  CHECK(Render("{{ {'a': [1, 'b', none, true]} }} {{ ('x',) }} {{ 'it\\'s' }}") ==
        "{'a': [1, 'b', None, True]} ('x',) it's");
  CHECK(Render("{{ [\"it's\", 'say \"hi\"', 'tab\\t'] }}") == "[\"it's\", 'say \"hi\"', 'tab\\t']");
}

TEST_CASE("chat templates serialise with tojson as json.dumps does", "[chat_template]") {
  const ordered_json tools = {{"tools", {{{"name", "f"}, {"args", {{"b", 1}, {"a", "é"}}}}}}};
  CHECK(Render("{{ tools | tojson }}|{{ tools[0] | tojson(indent=2) }}", tools) ==
        "[{\"name\": \"f\", \"args\": {\"b\": 1, \"a\": \"é\"}}]|{\n  \"name\": \"f\",\n  "
        "\"args\": {\n    \"b\": 1,\n    \"a\": \"é\"\n  }\n}");
  CHECK(Render("{{ v | tojson(sort_keys=true, separators=(',', ':')) }}",
               {{"v", {{"b", 1.5}, {"a", nullptr}}}}) == "{\"a\":null,\"b\":1.5}");
  CHECK(Render("{{ 'é😀' | tojson(ensure_ascii=true) }}") == "\"\\u00e9\\ud83d\\ude00\"");
  // A plain nlohmann::json sorts its keys, so only ordered_json keeps the caller's order.
  auto parsed = ChatTemplate::Parse("{{ v | tojson }}");
  REQUIRE(parsed.ok());
  const auto sorted = (*parsed)->Render(nlohmann::json::parse(R"({"v": {"b": 1, "a": 2}})"));
  REQUIRE(sorted.ok());
  CHECK(*sorted == "{\"a\": 2, \"b\": 1}");
}

TEST_CASE("chat templates treat undefined values as jinja2's Undefined", "[chat_template]") {
  CHECK(Render("[{{ missing }}][{{ missing is defined }}][{{ missing | default('d') }}]"
               "[{{ missing | length }}][{% for x in missing %}{{ x }}{% endfor %}]") ==
        "[][False][d][0][]");
  CHECK(Render("[{{ d.nope }}][{{ d['nope'] is defined }}][{{ l[5] }}]",
               {{"d", {{"a", 1}}}, {"l", {1, 2}}}) == "[][False][]");
  CHECK(Error("{{ x.y }}") == "chat template line 1:5: 'x' is undefined");
  CHECK(Error("{{ missing + 1 }}") == "chat template line 1:12: 'missing' is undefined");
}

TEST_CASE("chat templates have Python's string and dict methods", "[chat_template]") {
  CHECK(Render("{{ 'a,b,c'.split(',') }} {{ '  x '.strip() }} {{ 'Hi'.upper() }} "
               "{{ 'abc'[::-1] }} {{ 'héllo'[1:3] }}") == "['a', 'b', 'c'] x HI cba él");
  CHECK(Render("{{ d.get('a') }} {{ d.get('z', 0) }} {% for k, v in d.items() %}{{ k }}={{ v }};"
               "{% endfor %}",
               {{"d", {{"b", 2}, {"a", 1}}}}) == "1 0 b=2;a=1;");
  CHECK(Render("{{ '<think>x</think>\\n\\nanswer'.split('</think>')[-1].lstrip('\\n') }}") ==
        "answer");
  CHECK(Render("{{ 'straße' | upper }} {{ 'ΑΣ' | lower }}") == "STRASSE ας");
}

TEST_CASE("chat templates have jinja2's filters and tests", "[chat_template]") {
  const ordered_json users = {{"users",
                               {{{"name", "zed"}, {"admin", true}},
                                {{"name", "amy"}, {"admin", false}},
                                {{"name", "bob"}, {"admin", true}}}}};
  CHECK(Render("{{ users | selectattr('admin') | map(attribute='name') | join(', ') }}|"
               "{{ users | map(attribute='name') | sort | first }}",
               users) == "zed, bob|amy");
  CHECK(Render("{{ 'x' is string }} {{ 1 is number }} {{ d is mapping }} {{ 'a' is iterable }} "
               "{{ none is none }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 'a' is in 'cat' }}",
               {{"d", ordered_json::object()}}) == "True True True True True True True True");
  CHECK(Render("{{ 0 or 'x' }} {{ 'a' and 'b' }} {{ not [] }} {{ 1 if 0 else 2 }} "
               "{{ 'b' in ['a', 'b'] }} {{ 1 < 2 < 3 }}") == "x b True 2 True True");
  // Generators are always true and have no length, as in jinja2.
  CHECK(Render("{{ 'yes' if [] | select('odd') else 'no' }}") == "yes");
  CHECK(Error("{{ [1] | select('odd') | length }}") ==
        "chat template line 1:26: object of type 'generator' has no len()");
}

TEST_CASE("chat templates format strftime_now with the given clock", "[chat_template]") {
  ChatTemplate::RenderOptions options;
  std::tm now{};
  now.tm_year = 124;
  now.tm_mon = 6;
  now.tm_mday = 26;
  now.tm_hour = 9;
  options.now = now;
  const auto rendered =
      RenderWith("{{ strftime_now('%d %b %Y %H:%M') }}", ordered_json::object(), options);
  REQUIRE(rendered.ok());
  CHECK(*rendered == "26 Jul 2024 09:00");
}

TEST_CASE("chat template raise_exception comes back verbatim", "[chat_template]") {
  CHECK(Error("{% if messages | length > 1 %}{{ raise_exception('Only one message, got ' ~ "
              "messages | length) }}{% endif %}",
              {{"messages", {1, 2}}}) == "Only one message, got 2");
}

TEST_CASE("chat template syntax errors name the line and column", "[chat_template]") {
  CHECK(Error("{% if x %}") ==
        "chat template line 1:4: unexpected end of template: the 'if' tag here is never closed "
        "(looking for 'elif' or 'else' or 'endif')");
  CHECK(Error("{{ x | nofilter }}") == "chat template line 1:8: No filter named 'nofilter'.");
  CHECK(Error("{{ x is nosuchtest }}") == "chat template line 1:6: No test named 'nosuchtest'.");
  CHECK(Error("line one\nline two {{ ok }}\n  {% for %}") ==
        "chat template line 3:10: expected a name, got end of statement block");
  CHECK(Error("{{ 'abc }}") == "chat template line 1:4: unterminated string literal");
  CHECK(Error("{{ x ]] }}") == "chat template line 1:6: unexpected ']'");
  CHECK(Error("{% endfor %}") == "chat template line 1:4: Encountered unknown tag 'endfor'");
  CHECK(Error("{% break %}") == "chat template line 1:4: 'break' outside of a loop");
  CHECK(Error("{{ 1 + }}") == "chat template line 1:8: unexpected end of print statement");
  CHECK(Error("{% raw %}no end") == "chat template line 1:1: Missing end of raw directive");
  CHECK(Error("{% include 'other.jinja' %}") ==
        "chat template line 1:4: unsupported tag 'include': a chat template cannot load other "
        "templates");
  CHECK(Error("{% for x in y recursive %}{% endfor %}") ==
        "chat template line 1:15: unsupported: recursive loops");
  // Like jinja2, an unknown filter inside an if is an error only when it runs.
  CHECK(Render("{% if false %}{{ x | nofilter }}{% endif %}ok") == "ok");
  CHECK(Error("{% if true %}{{ x | nofilter }}{% endif %}") ==
        "chat template line 1:21: No filter named 'nofilter' found.");
  CHECK(ChatTemplate::Parse("bad \xff byte").status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("chat template runtime errors name the line and column", "[chat_template]") {
  const ordered_json chat = {{"messages", {{{"role", "user"}, {"content", "hi"}}}}};
  CHECK(Error("a\n{{ messages[0].content.nope.deeper }}", chat) ==
        "chat template line 2:28: 'str object' has no attribute 'nope'");
  CHECK(Error("{{ 'a' + 1 }}") ==
        "chat template line 1:8: can only concatenate str (not \"int\") to str");
  CHECK(Error("{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}") ==
        "chat template line 1:35: macro 'm' takes not more than 1 argument(s)");
  CHECK(Error("{% for a, b in [1] %}{% endfor %}") ==
        "chat template line 1:4: 'int' object is not iterable");
}

TEST_CASE("chat templates are sandboxed to data", "[chat_template]") {
  // Private attributes read as undefined; using them fails; containers cannot be modified.
  CHECK(Render("[{{ ''.__class__ }}]") == "[]");
  CHECK(Error("{{ ''.__class__.__mro__ }}") ==
        "chat template line 1:16: access to attribute '__class__' of 'str' object is unsafe.");
  CHECK(Error("{{ items.append(4) }}", {{"items", {1}}}) ==
        "chat template line 1:16: access to attribute 'append' of 'list' object is unsafe.");
  CHECK(Error("{% set ns = namespace() %}{% set ns._x = 1 %}") ==
        "chat template line 1:30: Chat templates cannot store underscore-prefixed attributes on "
        "a namespace, but got '_x'. Please rename the attribute.");
  CHECK(Error("{% set ns = namespace() %}{% set ns.self = ns %}") ==
        "chat template line 1:30: unsupported: a namespace stored inside a namespace");
  // Namespaces are the only mutable values; nothing that reaches one may be stored in one, so
  // values never form cycles (which reference counting would leak).
  CHECK(Error("{% set ns = namespace() %}{% set d = {'n': ns} %}{% set ns.f = d.items %}") ==
        "chat template line 1:53: unsupported: a namespace stored inside a namespace");
  CHECK(Error("{% set ns = namespace() %}{% for x in [ns] %}{% set ns.l = loop %}{% endfor %}") ==
        "chat template line 1:49: unsupported: a namespace stored inside a namespace");
  CHECK(Error("{% set ns = namespace() %}{% for x in [1] %}{{ loop.changed(ns) }}{% endfor %}") ==
        "chat template line 1:60: unsupported: loop.changed() with a namespace");
  CHECK(Error("{{ range(1000000) | length }}") ==
        "chat template line 1:9: Range too big. The sandbox blocks ranges larger than MAX_RANGE "
        "(100000).");
}

TEST_CASE("chat template context must be a JSON object of bounded depth", "[chat_template]") {
  auto parsed = ChatTemplate::Parse("x");
  REQUIRE(parsed.ok());
  CHECK((*parsed)->Render(ordered_json::array()).status().code() ==
        absl::StatusCode::kInvalidArgument);
  ordered_json deep = ordered_json::array();
  for (int i = 0; i < 1000; ++i) deep = ordered_json::array({deep});
  const auto rendered = (*parsed)->Render(ordered_json{{"deep", deep}});
  REQUIRE(!rendered.ok());
  CHECK(rendered.status().message() == "chat template context is nested too deeply");
}

TEST_CASE("one parsed chat template renders from many threads", "[chat_template]") {
  auto parsed = ChatTemplate::Parse(
      "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}"
      "{{ m.role }}:{{ m.content | upper }}|{% endfor %}{{ ns.n }}");
  REQUIRE(parsed.ok());
  const ChatTemplate& chat_template = **parsed;
  std::vector<std::string> results(8);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < results.size(); ++t) {
    threads.emplace_back([&, t] {
      ordered_json messages = ordered_json::array();
      for (size_t i = 0; i <= t; ++i) {
        messages.push_back({{"role", "user"}, {"content", absl::StrCat("m", i)}});
      }
      for (int round = 0; round < 50; ++round) {
        auto rendered = chat_template.Render(ordered_json{{"messages", messages}});
        results[t] = rendered.ok() ? *rendered : std::string(rendered.status().message());
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (size_t t = 0; t < results.size(); ++t) {
    std::string expected;
    for (size_t i = 0; i <= t; ++i) absl::StrAppend(&expected, "user:M", i, "|");
    absl::StrAppend(&expected, t + 1);
    CHECK(results[t] == expected);
  }
}

// A hostile template must fail with INVALID_ARGUMENT, quickly, under the default limits.
void CheckStopped(const std::string& source, const std::string& expected_substring) {
  INFO(source.substr(0, 200));
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<std::string> rendered = RenderWith(source, ordered_json::object());
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  INFO(rendered.status().message());
  REQUIRE(!rendered.ok());
  CHECK(rendered.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(rendered.status().message()).find(expected_substring) != std::string::npos);
  CHECK(seconds < 5.0);
}

std::string Repeat(const std::string& text, int times) {
  std::string out;
  for (int i = 0; i < times; ++i) out += text;
  return out;
}

TEST_CASE("hostile chat templates stop at the limits", "[chat_template]") {
  CheckStopped("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
               "exceeded its work limit");
  CheckStopped(
      "{% set ns = namespace(s='x') %}{% for i in range(100) %}"
      "{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
      "over the limit of 16777216");
  CheckStopped("{{ 'x' * 100000000 }}", "string over 16777216 bytes");
  CheckStopped("{{ ([1] * 100000000) | length }}", "exceeded its work limit");
  CheckStopped("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}",
               "output exceeds 16777216 bytes");
  CheckStopped("{{ ('a' * 1000000) | replace('a', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa') }}",
               "over the limit of 16777216");
  CheckStopped("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
               "macro calls nest deeper than 100");
  CheckStopped(
      "{% macro f(n) %}{% if n < 60 %}{{ f(n + 1) }}{{ f(n + 1) }}{% endif %}"
      "{% endmacro %}{{ f(0) }}",
      "exceeded its work limit");
  CheckStopped(
      "{% set ns = namespace(l=[]) %}{% for i in range(10000) %}"
      "{% set ns.l = [ns.l] %}{% endfor %}",
      "nested deeper than 128 levels");
  CheckStopped(
      "{% set big = range(100000) | list %}{% for i in range(100000) %}"
      "{% if i in big %}{% endif %}{% endfor %}",
      "exceeded its work limit");
  CheckStopped("{% set s = 'é' * 1000000 %}{% for i in range(100000) %}{{ s[i] }}{% endfor %}",
               "exceeded its work limit");
  CheckStopped("{{ range(100000) | list | unique | list | length }}", "exceeded its work limit");
  // Nesting the parser would recurse into, or the interpreter and destructors would.
  CheckStopped("{{ " + Repeat("(", 5000) + "1" + Repeat(")", 5000) + " }}",
               "expression nested too deeply");
  CheckStopped("{{ 1" + Repeat(" + 1", 100000) + " }}", "expression nested too deeply");
  CheckStopped("{{ x" + Repeat("|trim", 100000) + " }}", "expression nested too deeply");
  CheckStopped("{{ 1" + Repeat(" if 0 else 1", 100000) + " }}", "nested too deeply");
  CheckStopped(Repeat("{% if true %}", 5000) + Repeat("{% endif %}", 5000), "nested too deeply");
}

TEST_CASE("chat template limits can be tightened per render", "[chat_template]") {
  ChatTemplate::RenderOptions options;
  options.limits.max_steps = 1000;
  const auto stopped =
      RenderWith("{% for i in range(500) %}{{ i }}{% endfor %}", ordered_json::object(), options);
  REQUIRE(!stopped.ok());
  CHECK(absl::EndsWith(stopped.status().message(), "exceeded its work limit (1000 steps)"));
  options.limits = {};
  options.limits.max_output_bytes = 10;
  CHECK(!RenderWith("{{ 'x' * 11 }}", ordered_json::object(), options).ok());
  CHECK(RenderWith("{{ 'x' * 10 }}", ordered_json::object(), options).ok());
}

// The deepest recursion the limits allow, on a thread with a 1 MiB stack: the limit must trip
// before the stack runs out.
TEST_CASE("chat template recursion fits in a 1 MiB stack", "[chat_template]") {
  struct Job {
    std::string source;
    absl::Status status;
  };
  Job job;
  job.source = "{% macro f(n) %}{{ (f(n - 1) if n > 0 else '')" + Repeat("|trim", 240) +
               " }}{% endmacro %}{{ f(10) }}";
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, size_t{1} << 20);
  pthread_t thread;
  REQUIRE(pthread_create(
              &thread, &attr,
              [](void* arg) -> void* {
                auto* j = static_cast<Job*>(arg);
                j->status = RenderWith(j->source, ordered_json::object()).status();
                return nullptr;
              },
              &job) == 0);
  pthread_join(thread, nullptr);
  pthread_attr_destroy(&attr);
  CHECK(job.status.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(job.status.message()).find("recursion limit") != std::string::npos);
}

}  // namespace
}  // namespace trustformers::tokenizers
