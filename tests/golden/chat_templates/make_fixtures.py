"""Reference renders of chat templates for the C++ interpreter (tokenizers/chat_template), made
with Python's jinja2 configured the way Hugging Face transformers configures it for
apply_chat_template.

Writes cases.jsonl.gz next to this script. Line 1 is a header (versions, the fixed clock);
every other line is one JSON object:
  {"kind": "template", "name", "origin", "source", "cases": [{"name", "context", "output"}
   or {"name", "context", "error": {"type", "message"}}]}
  {"kind": "snippet", "name", "source", "context", "output" or "error"}
Templates are real ones: SmolLM2's from its GGUF file, and the llama.cpp collection
(models/templates/*.jinja) vendored in the llama-cpp-python source distribution, each rendered
over 25+ conversations (system or not, multi-turn, generation prompt on and off, unicode, empty,
long and awkward content, tools and tool calls, roles a template must reject). Snippets are
small templates that pin down one language rule each (number formatting, repr of containers,
filters, tests, whitespace control, scoping).

The environment mirrors transformers' _compile_jinja_template: ImmutableSandboxedEnvironment
with trim_blocks, lstrip_blocks, the loopcontrols extension and a {% generation %} block;
raise_exception, strftime_now, dict and namespace globals; tojson as a plain json.dumps. One
departure makes the files reproducible: strftime_now formats a fixed moment (FIXED_NOW), which
the C++ test passes to the renderer as well.

Run with the reference virtualenv (jinja2 3.1.6 and gguf come with it) after `make
fetch-models`:

  ~/.cache/trustformers/ref-venv/bin/python tests/golden/chat_templates/make_fixtures.py

The llama-cpp-python sdist is read from ~/.cache/trustformers/sdists/ and downloaded there with
`pip download` when absent; its sha256 is checked. The output depends only on the pinned versions
and the inputs, so rerunning it gives identical files.
"""

import datetime
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import jinja2
import jinja2.ext
import jinja2.nodes
import jinja2.utils
from jinja2.sandbox import ImmutableSandboxedEnvironment

JINJA2_VERSION = "3.1.6"
LLAMA_CPP_PYTHON_VERSION = "0.3.36"
FIXED_NOW = datetime.datetime(2024, 7, 26, 9, 5, 3)
HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("TRUSTFORMERS_CACHE", Path.home() / ".cache" / "trustformers"))
MODEL_HOME = Path(os.environ.get("TRUSTFORMERS_HOME", CACHE / "models"))
SMOLLM2_GGUF = MODEL_HOME / "smollm2-135m-instruct" / "SmolLM2-135M-Instruct.Q4_1.gguf"
SDIST_DIR = CACHE / "sdists"
SDIST_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
TEMPLATE_DIR = f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}/vendor/llama.cpp/models/templates/"

# Special tokens per template (transformers passes the tokenizer's special tokens as variables).
SPECIAL_TOKENS = {
    "SmolLM2-135M-Instruct": ("<|im_start|>", "<|im_end|>"),
    "HuggingFaceTB-SmolLM3-3B": ("<|im_start|>", "<|im_end|>"),
    "meta-llama-Llama-3.1-8B-Instruct": ("<|begin_of_text|>", "<|eot_id|>"),
    "meta-llama-Llama-3.2-3B-Instruct": ("<|begin_of_text|>", "<|eot_id|>"),
    "meta-llama-Llama-3.3-70B-Instruct": ("<|begin_of_text|>", "<|eot_id|>"),
    "Qwen-Qwen2.5-7B-Instruct": (None, "<|im_end|>"),
    "Qwen-Qwen3-0.6B": (None, "<|im_end|>"),
    "Qwen-QwQ-32B": (None, "<|im_end|>"),
    "google-gemma-2-2b-it": ("<bos>", "<eos>"),
    "microsoft-Phi-3.5-mini-instruct": ("<s>", "<|endoftext|>"),
    "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B": ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
    "deepseek-ai-DeepSeek-R1-Distill-Llama-8B": ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
}
DEFAULT_SPECIAL_TOKENS = ("<s>", "</s>")


# ---------------------------------------------------------------------------------------------
# The environment, as transformers builds it.


class GenerationBlock(jinja2.ext.Extension):
    """transformers' {% generation %}...{% endgeneration %}: renders its body unchanged (the real
    extension also records where assistant text starts and ends)."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        call = self.call_method("_render_body")
        return jinja2.nodes.CallBlock(call, [], [], body).set_lineno(lineno)

    def _render_body(self, caller):
        return caller()


class GuardedNamespace(jinja2.utils.Namespace):
    """namespace() refusing underscore names, as transformers' TemplateNamespace does."""

    def __init__(*args, **kwargs):
        self, rest = args[0], args[1:]
        attrs = dict(*rest, **kwargs)
        for key in attrs:
            GuardedNamespace._refuse_private(key)
        jinja2.utils.Namespace.__init__(self, attrs)

    def __setitem__(self, key, value):
        GuardedNamespace._refuse_private(key)
        jinja2.utils.Namespace.__setitem__(self, key, value)

    @staticmethod
    def _refuse_private(key):
        if isinstance(key, str) and key.startswith("_"):
            raise jinja2.exceptions.SecurityError(
                "Chat templates cannot store underscore-prefixed attributes on a namespace, "
                f"but got {key!r}. Please rename the attribute."
            )


class DictFactory:
    """The `dict` global: builds dicts, exposes nothing else of the type."""

    def __call__(self, *args, **kwargs):
        return dict(*args, **kwargs)

    def fromkeys(self, *args, **kwargs):
        return dict.fromkeys(*args, **kwargs)


def make_environment():
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[GenerationBlock, jinja2.ext.loopcontrols]
    )

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(
            x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
        )

    def strftime_now(format):
        return FIXED_NOW.strftime(format)

    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    env.globals["dict"] = DictFactory()
    env.globals["namespace"] = GuardedNamespace
    return env


ENV = make_environment()


def render(source, context):
    """{"output": text} or {"error": {"type", "message"}}; the template must compile."""
    template = ENV.from_string(source)
    try:
        return {"output": template.render(**context)}
    except Exception as e:  # noqa: BLE001 - every failure is a fixture outcome
        return {"error": {"type": type(e).__name__, "message": str(e)}}


# ---------------------------------------------------------------------------------------------
# Template sources.


def smollm2_template():
    import gguf

    reader = gguf.GGUFReader(str(SMOLLM2_GGUF))
    field = reader.fields["tokenizer.chat_template"]
    return bytes(field.parts[field.data[0]]).decode("utf-8")


def find_sdist():
    # pip may spell the file with '-' or '_'.
    for path in sorted(SDIST_DIR.glob(f"llama[-_]cpp[-_]python-{LLAMA_CPP_PYTHON_VERSION}.tar.gz")):
        return path
    return None


def ensure_sdist():
    sdist = find_sdist()
    if sdist is None:
        SDIST_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
             "--disable-pip-version-check", "-d", str(SDIST_DIR),
             f"llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION}"],
            check=True,
        )
        sdist = find_sdist()
        if sdist is None:
            sys.exit(f"make_fixtures: pip download left no llama-cpp-python sdist in {SDIST_DIR}")
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        sys.exit(f"make_fixtures: {sdist} has sha256 {digest}, expected {SDIST_SHA256}")
    return sdist


def llama_cpp_templates():
    sdist = ensure_sdist()
    templates = {}
    with tarfile.open(sdist, "r:gz") as tar:
        for member in tar.getmembers():
            if member.name.startswith(TEMPLATE_DIR) and member.name.endswith(".jinja"):
                name = member.name[len(TEMPLATE_DIR):-len(".jinja")]
                templates[name] = tar.extractfile(member).read().decode("utf-8")
    return dict(sorted(templates.items()))


# ---------------------------------------------------------------------------------------------
# Conversations.

LONG_TEXT = "\n".join(
    f"Line {i}: the quick brown fox jumps over the lazy dog; {'é' * (i % 7)} {i * i} "
    f"{'and ' * (i % 5)}done." for i in range(120)
)

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name, e.g. Paris"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"],
                         "description": "Temperature unit"},
                "days": {"type": "integer", "description": "Forecast days", "minimum": 1},
            },
            "required": ["city"],
        },
    },
}
SEARCH_TOOL = {
    "type": "function",
    "function": {
        "name": "search_web",
        "description": "Search the web and return the top results. Handles \"quotes\" & <tags>.",
        "parameters": {
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "Query text"},
                "limit": {"type": "number", "description": "At most this many results",
                          "default": 5.0},
                "filters": {
                    "type": "object",
                    "description": "Optional filters",
                    "properties": {
                        "site": {"type": "string"},
                        "after": {"type": ["string", "null"], "description": "ISO date"},
                    },
                },
                "tags": {"type": "array", "items": {"type": "string"}},
                "safe": {"type": "boolean"},
            },
            "required": ["query", "limit"],
        },
    },
}
TOOLS = [WEATHER_TOOL, SEARCH_TOOL]

WEATHER_CALL = {
    "id": "call12345",
    "type": "function",
    "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}},
}
SEARCH_CALL = {
    "id": "call67890",
    "type": "function",
    "function": {"name": "search_web",
                 "arguments": {"query": "jinja2 trim_blocks", "limit": 3, "safe": True,
                               "filters": {"site": "docs.example.org", "after": None}}},
}


def user(text):
    return {"role": "user", "content": text}


def assistant(text):
    return {"role": "assistant", "content": text}


def system(text):
    return {"role": "system", "content": text}


def conversations():
    """(name, messages, extra variables) for every template."""
    hello = user("Hello! How are you?")
    reply = assistant("I'm doing well, thank you. How can I help?")
    cases = [
        ("single_user", [hello], {"add_generation_prompt": True}),
        ("single_user_no_prompt", [hello], {"add_generation_prompt": False}),
        ("system_user", [system("You are a terse assistant."), hello],
         {"add_generation_prompt": True}),
        ("multi_turn", [system("You are helpful."), hello, reply,
                        user("What is 2 + 2?"), assistant("4."), user("And 3 * 3?")],
         {"add_generation_prompt": True}),
        ("multi_turn_no_system", [hello, reply, user("Tell me a joke."),
                                  assistant("Why did the chicken cross the road?")],
         {"add_generation_prompt": False}),
        ("unicode", [system("Réponds en français. 日本語もOK。"),
                     user("Ça va ? 🙂 Привет, мир! مرحبا بالعالم 你好，世界 ñandú Ⅻ"),
                     assistant("Très bien ! 👍🏽 ẞ ﬁ ǅ"), user("Encore: ∑ ∫ √ ≠ ≤ — « » “ ”")],
         {"add_generation_prompt": True}),
        ("empty_content", [user("")], {"add_generation_prompt": True}),
        ("empty_system", [system(""), user("Hi")], {"add_generation_prompt": True}),
        ("long_content", [system("Summarise."), user(LONG_TEXT)], {"add_generation_prompt": True}),
        ("special_characters", [user("Quotes ' \" backslash \\ braces {{ x }} {% if %} {# c #} "
                                     "tags <|im_start|> <s> [INST] \t tab\r\ncrlf\n\nend")],
         {"add_generation_prompt": True}),
        ("surrounding_whitespace", [system("  padded system  \n"), user("\n\n  hi there  \n "),
                                    assistant("  answer with spaces   "), user(" \t ")],
         {"add_generation_prompt": True}),
        ("consecutive_users", [user("First."), user("Second?")], {"add_generation_prompt": True}),
        ("assistant_first", [assistant("I start."), user("Odd.")],
         {"add_generation_prompt": True}),
        ("system_only", [system("Only a system prompt.")], {"add_generation_prompt": True}),
        ("no_messages", [], {"add_generation_prompt": True}),
        ("ends_with_assistant", [hello, reply], {"add_generation_prompt": False}),
        ("many_turns", [m for i in range(25)
                        for m in (user(f"Question {i}?"), assistant(f"Answer {i}."))],
         {"add_generation_prompt": True}),
        ("tools_no_call", [system("Use tools when needed."), user("Weather in Paris?")],
         {"add_generation_prompt": True, "tools": TOOLS}),
        ("tool_call_round_trip", [
            user("What's the weather in Paris?"),
            {"role": "assistant", "tool_calls": [WEATHER_CALL]},
            {"role": "tool", "tool_call_id": "call12345", "name": "get_weather",
             "content": "{\"temperature\": 21.5, \"unit\": \"celsius\"}"},
            assistant("It is 21.5 °C in Paris."),
            user("Thanks!")],
         {"add_generation_prompt": True, "tools": TOOLS}),
        ("tool_calls_parallel", [
            system("You can call functions."),
            user("Weather in Paris and search jinja2."),
            {"role": "assistant", "content": "", "tool_calls": [WEATHER_CALL, SEARCH_CALL]},
            {"role": "tool", "tool_call_id": "call12345", "content": "sunny"},
            {"role": "tool", "tool_call_id": "call67890", "content": "3 results"}],
         {"add_generation_prompt": True, "tools": TOOLS}),
        ("tool_call_string_arguments", [
            user("Weather?"),
            {"role": "assistant", "tool_calls": [{
                "id": "callabcde", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\": \"Oslo\"}"}}]},
            {"role": "tool", "tool_call_id": "callabcde", "content": "cold"}],
         {"add_generation_prompt": True, "tools": [WEATHER_TOOL]}),
        ("content_parts", [
            {"role": "user", "content": [{"type": "text", "text": "Describe this:"},
                                         {"type": "text", "text": " a cat."}]}],
         {"add_generation_prompt": True}),
        ("reasoning_content", [
            user("Think first."),
            {"role": "assistant", "content": "The answer is 7.",
             "reasoning_content": "3 + 4 = 7"},
            user("Again?")],
         {"add_generation_prompt": True}),
        ("thinking_in_content", [
            user("Solve."), assistant("<think>\nsteps\n</think>\n\nDone."), user("More.")],
         {"add_generation_prompt": True}),
        ("thinking_disabled", [user("No thinking please.")],
         {"add_generation_prompt": True, "enable_thinking": False}),
        ("no_think_flag", [system("Be brief. /no_think"), user("Hi")],
         {"add_generation_prompt": True}),
        ("custom_date", [user("What day is it?")],
         {"add_generation_prompt": True, "date_string": "01 Jan 2025"}),
        ("date_from_clock", [user("What day is it?")], {"add_generation_prompt": True,
                                                        "date_string": None}),
        ("documents", [user("What do the documents say?")],
         {"add_generation_prompt": True,
          "documents": [{"title": "Doc A", "text": "Alpha text."},
                        {"title": "Doc B", "text": "Beta \"quoted\" text."}]}),
        ("tool_content_mapping", [
            user("Weather?"),
            {"role": "assistant", "tool_calls": [WEATHER_CALL]},
            {"role": "tool", "tool_call_id": "call12345",
             "content": {"temperature": 21.5, "conditions": ["sunny", "dry"]}}],
         {"add_generation_prompt": True, "tools": [WEATHER_TOOL]}),
        ("numeric_content", [user(42)], {"add_generation_prompt": True}),
        ("named_messages", [{"role": "user", "content": "Hi", "name": "alice"},
                            {"role": "assistant", "content": "Hello alice", "name": "bot"},
                            {"role": "user", "content": "Bye"}],
         {"add_generation_prompt": False}),
    ]
    return cases


def context_for(template_name, messages, extra):
    bos, eos = SPECIAL_TOKENS.get(template_name, DEFAULT_SPECIAL_TOKENS)
    context = {"messages": messages, "tools": None, "documents": None,
               "add_generation_prompt": False}
    if bos is not None:
        context["bos_token"] = bos
    context["eos_token"] = eos
    context["date_string"] = "26 Jul 2024"
    for key, value in extra.items():
        if value is None:
            context.pop(key, None)
        else:
            context[key] = value
    return context


# ---------------------------------------------------------------------------------------------
# Snippets: one language rule each.

SNIPPETS = [
    # Numbers as Python prints them.
    ("int_float", "{{ 1 }} {{ 1.0 }} {{ 0.1 }} {{ 1e-05 }} {{ 1.5e16 }} {{ 1e15 }} {{ 123.456 }} "
                  "{{ -0.0 }} {{ 2.5e-4 }} {{ 1/3 }} {{ 10/2 }} {{ 7//2 }} {{ -7//2 }} {{ 7%3 }} "
                  "{{ -7%3 }} {{ 2**10 }} {{ 2**-1 }} {{ 7.5//2 }} {{ -7.5%2 }} {{ 1_000 }} {{ 0x1F }}",
     {}),
    ("float_repr_more", "{{ 3.14159 }} {{ 1e100 }} {{ 1.7976931348623157e308 }} {{ 5e-324 }} "
                        "{{ 0.30000000000000004 }} {{ 100.0 }} {{ 1234567890123456.0 }} "
                        "{{ 12345678901234567.0 }} {{ x }} {{ y }}",
     {"x": 0.000123, "y": 1e22}),
    ("arithmetic_types", "{{ 1 + 2.0 }} {{ true + 1 }} {{ 3 * 'ab' }} {{ 'ab' * 2 }} {{ [1] * 3 }} "
                         "{{ [1, 2] + [3] }} {{ 'a' + 'b' }} {{ -x }} {{ +x }} {{ 5 - 7 }}",
     {"x": 4}),
    ("division_by_zero", "{{ 1 / 0 }}", {}),
    # repr of containers and constants.
    ("repr_containers", "{{ [1, 'a', none, true, 2.5] }} {{ {'k': 'v', 'n': [1, {'x': none}]} }} "
                        "{{ (1,) }} {{ (1, 2) }} {{ () }} {{ [] }} {{ {} }} {{ none }} {{ true }}",
     {}),
    ("repr_strings", "{{ ['it\\'s', 'say \"hi\"', 'both \\' and \"', 'tab\\there', 'nl\\n', "
                     "'back\\\\slash', 'é', '\\x07', '\\u200b', '😀'] }}",
     {}),
    ("repr_context", "{{ messages }} {{ messages[0] }} {{ flag }} {{ nothing }}",
     {"messages": [{"role": "user", "content": "hi"}], "flag": False, "nothing": None}),
    # Undefined.
    ("undefined_prints_empty", "[{{ missing }}][{{ missing is defined }}][{{ missing is undefined }}]"
                               "[{{ missing | length }}][{{ missing | default('d') }}]"
                               "[{% for x in missing %}{{ x }}{% endfor %}][{{ 'a' in missing }}]",
     {}),
    ("undefined_attribute_error", "{{ missing.attr }}", {}),
    ("undefined_add_error", "{{ missing + 1 }}", {}),
    ("missing_key_is_undefined", "[{{ d.nope }}][{{ d['nope'] is defined }}][{{ l[5] }}]"
                                 "[{{ 'abc'[10] }}][{{ none.x }}]",
     {"d": {"a": 1}, "l": [1, 2]}),
    ("undefined_chain_error", "{{ d.nope.deeper }}", {"d": {"a": 1}}),
    # Truthiness and logic.
    ("and_or_values", "{{ 0 or 'x' }} {{ '' or [] }} {{ 'a' and 'b' }} {{ none and 1 }} "
                      "{{ not [] }} {{ not 'x' }} {{ 1 if [] else 2 }} {{ 'yes' if x }}|",
     {}),
    ("comparisons", "{{ 1 == 1.0 }} {{ true == 1 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} "
                    "{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 'ab' in 'cabd' }} {{ 2 not in [1, 3] }} "
                    "{{ 'k' in {'k': 1} }} {{ {'a': 1} == {'a': 1} }} {{ (1, 2) == [1, 2] }} "
                    "{{ none == none }} {{ missing == missing2 }}",
     {}),
    ("compare_type_error", "{{ 1 < 'a' }}", {}),
    # Strings.
    ("string_methods", "{{ '  a b  '.strip() }}|{{ 'xxhixx'.strip('x') }}|{{ '  a'.lstrip() }}|"
                       "{{ 'b  '.rstrip() }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|"
                       "{{ 'a b c'.split(' ', 1) }}|{{ 'a-b-c'.rsplit('-', 1) }}|"
                       "{{ 'Hello'.startswith('He') }}|{{ 'Hello'.endswith(('x', 'lo')) }}|"
                       "{{ 'aXbX'.replace('X', '-') }}|{{ 'aaa'.replace('a', 'b', 2) }}|"
                       "{{ 'hello world'.title() }}|{{ 'hELLO'.capitalize() }}|{{ 'MiXed'.upper() }}"
                       "|{{ 'MiXed'.lower() }}|{{ 'abcabc'.find('c') }}|{{ 'abc'.count('b') }}|"
                       "{{ '-'.join(['a', 'b']) }}|{{ 'a\\nb\\r\\nc'.splitlines() }}",
     {}),
    ("string_indexing", "{{ s[0] }}{{ s[-1] }}|{{ s[1:3] }}|{{ s[::-1] }}|{{ s[:-1] }}|{{ s[::2] }}|"
                        "{{ u[1] }}|{{ u[1:] }}|{{ u | length }}|{{ u[::-1] }}|{{ l[1:] }}|"
                        "{{ l[-2:] }}|{{ l[::-1] }}|{{ l[5:] }}",
     {"s": "hello", "u": "héllo😀", "l": [1, 2, 3, 4]}),
    ("string_escapes", "{{ 'tab\\tnl\\nq\\'dq\\\"bs\\\\' }}|{{ \"\\x41\\u00e9\\U0001F600\" }}|"
                       "{{ '\\z unknown' }}|{{ '\\101' }}",
     {}),
    ("concat_tilde", "{{ 'a' ~ 1 ~ none ~ missing ~ [1] ~ 2.0 ~ true }}", {}),
    ("concat_type_error", "{{ 'a' + 1 }}", {}),
    # Filters.
    ("filters_text", "{{ '  x  ' | trim }}|{{ 'xxyxx' | trim('x') }}|{{ 'abc' | upper }}|"
                     "{{ 'ABC' | lower }}|{{ 'hello world' | capitalize }}|"
                     "{{ 'hello big-world (x)' | title }}|{{ 'a b c' | replace(' ', '_') }}|"
                     "{{ 'abc' | length }}|{{ 'héllo' | count }}|{{ 'one two  three' | wordcount }}|"
                     "{{ 'abc' | reverse }}|{{ 'abc' | first }}|{{ 'abc' | last }}|"
                     "{{ 'ab' | list }}|{{ 42 | string }}|{{ 'x' | center(5) }}|",
     {}),
    ("filters_numbers", "{{ '42' | int }} {{ '4.7' | int }} {{ 'x' | int }} {{ 'x' | int(7) }} "
                        "{{ 3.9 | int }} {{ '2.5' | float }} {{ 'x' | float }} {{ 3 | float }} "
                        "{{ -3 | abs }} {{ 2.567 | round(2) }} {{ 2.5 | round }} {{ 3.5 | round }} "
                        "{{ 2.1 | round(0, 'ceil') }} {{ 2.9 | round(0, 'floor') }} {{ 5 | round }} "
                        "{{ [1, 2, 3.5] | sum }} {{ [3, 1, 2] | max }} {{ [3, 1, 2] | min }} "
                        "{{ ' 12 ' | int }} {{ '1_000' | int }} {{ true | int }}",
     {}),
    ("filters_lists", "{{ [3, 1, 2] | sort }}|{{ ['b', 'A', 'c'] | sort }}|"
                      "{{ ['b', 'A', 'c'] | sort(case_sensitive=true) }}|{{ [1, 2] | sort(reverse=true) }}|"
                      "{{ [1, 2, 1, 3] | unique | list }}|{{ ['a', 'A', 'b'] | unique | list }}|"
                      "{{ [1, 2, 3] | reverse | list }}|{{ [1, 2] | join(', ') }}|{{ [1, 2] | first }}|"
                      "{{ [1, 2] | last }}|{{ [] | first }}|{{ [1, 2, 3] | length }}|"
                      "{{ [0, 1, 2, 3] | select('odd') | list }}|{{ [0, 1, 2] | reject | list }}|"
                      "{{ [1, 2, 3, 4] | select('divisibleby', 2) | list }}|"
                      "{{ ['a', 'b'] | map('upper') | list }}|{{ [1, 2] | map('string') | join }}",
     {}),
    ("filters_dicts", "{{ d | dictsort }}|{{ d | dictsort(reverse=true) }}|"
                      "{{ d | dictsort(by='value') }}|{{ d | items | list }}|{{ d | list }}|"
                      "{{ d | length }}|{% for k, v in d | items %}{{ k }}={{ v }};{% endfor %}|"
                      "{% for k, v in d.items() %}{{ k }}:{{ v }},{% endfor %}|{{ d.keys() | list }}|"
                      "{{ d.values() | list }}|{{ d.get('b') }}|{{ d.get('z', 'dflt') }}|{{ d.get('z') }}",
     {"d": {"b": 2, "a": 3, "C": 1}}),
    ("filters_attributes", "{{ people | map(attribute='name') | join(', ') }}|"
                           "{{ people | selectattr('admin') | map(attribute='name') | list }}|"
                           "{{ people | rejectattr('admin') | map(attribute='name') | list }}|"
                           "{{ people | selectattr('age', 'gt', 30) | list | length }}|"
                           "{{ people | selectattr('name', 'equalto', 'Bo') | list }}|"
                           "{{ people | sort(attribute='age') | map(attribute='name') | join }}|"
                           "{{ people | map(attribute='nick', default='?') | join }}|"
                           "{{ people | map(attribute='tags.0') | list }}|"
                           "{{ people | sum(attribute='age') }}|{{ people | max(attribute='age') }}",
     {"people": [{"name": "Al", "age": 40, "admin": True, "tags": ["x"]},
                 {"name": "Bo", "age": 25, "admin": False, "tags": ["y", "z"], "nick": "b"}]}),
    ("generator_length_error", "{{ [1, 2] | select('odd') | length }}", {}),
    ("generator_truthy", "{{ 'yes' if [] | select('odd') else 'no' }}", {}),
    ("filter_default", "{{ missing | default('a') }}|{{ none | default('b') }}|"
                       "{{ '' | default('c', true) }}|{{ 0 | d('z', boolean=true) }}|{{ 'v' | d('w') }}",
     {}),
    ("filter_indent", "{{ text | indent }}|{{ text | indent(2, true) }}|{{ text | indent('> ', blank=true) }}|"
                      "{{ text | indent(first=true) }}",
     {"text": "line one\n\nline three\n"}),
    ("tojson_forms", "{{ v | tojson }}|{{ v | tojson(indent=2) }}|{{ v | tojson(sort_keys=true) }}|"
                     "{{ v | tojson(separators=(',', ':')) }}|{{ v | tojson(ensure_ascii=true) }}|"
                     "{{ 'é\"\\n' | tojson }}|{{ [] | tojson(indent=4) }}|{{ {} | tojson }}|"
                     "{{ 1.0 | tojson }}|{{ none | tojson }}|{{ (1, 'a') | tojson }}|{{ v | tojson(indent='\\t') }}",
     {"v": {"b": [1, 2.5, None, True, {"z": "é😀\u2028\x7f"}], "a": "x", "c": {}}}),
    ("tojson_undefined_error", "{{ missing | tojson }}", {}),
    ("safe_markup_concat", "{{ 'a<b>'|safe + '<i>' }}|{{ '<x>' + 'y&'|safe }}|{{ ('a'|safe) ~ '<' }}|"
                           "{{ '<>' | escape }}|{{ '<' | e | safe }}|{{ '\"q\\'' | escape }}",
     {}),
    # Tests.
    ("tests_types", "{{ 'a' is string }} {{ 1 is number }} {{ true is number }} {{ 1 is integer }} "
                    "{{ true is integer }} {{ 1.0 is float }} {{ true is boolean }} {{ none is none }} "
                    "{{ d is mapping }} {{ l is mapping }} {{ 'a' is iterable }} {{ l is iterable }} "
                    "{{ d is iterable }} {{ 1 is iterable }} {{ 'a' is sequence }} {{ d is sequence }} "
                    "{{ missing is iterable }} {{ true is true }} {{ 1 is true }} {{ false is false }} "
                    "{{ 0 is false }} {{ none is defined }} {{ range is callable }} {{ 'x' is callable }}",
     {"d": {"a": 1}, "l": [1]}),
    ("tests_values", "{{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }} "
                     "{{ 'a' is eq 'a' }} {{ 1 is equalto 2 }} {{ 2 is gt 1 }} {{ 2 is lt 1 }} "
                     "{{ 2 is ge 2 }} {{ 2 is le 1 }} {{ 2 is ne 3 }} {{ 1 is in [1, 2] }} "
                     "{{ 'x' is in 'xyz' }} {{ 'abc' is lower }} {{ 'ABC' is upper }} "
                     "{{ 'aB' is lower }} {{ x is not none }} {{ x is not defined }} "
                     "{{ 'upper' is filter }} {{ 'odd' is test }} {{ 'nope' is filter }}",
     {"x": 1}),
    # Statements and scoping.
    ("for_loop_vars", "{% for x in items %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}"
                      "{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}"
                      "[{{ loop.previtem }}|{{ loop.nextitem }}]{{ loop.cycle('a', 'b') }};{% endfor %}",
     {"items": ["x", "y", "z"]}),
    ("for_else_filter", "{% for x in items if x > 1 %}{{ x }},{% else %}none{% endfor %}|"
                        "{% for x in [] %}{{ x }}{% else %}empty{% endfor %}|"
                        "{% for x in items if x > 1 %}{{ loop.index }}/{{ loop.length }} {% endfor %}",
     {"items": [1, 2, 3]}),
    ("for_unpack", "{% for a, b in pairs %}{{ a }}={{ b }};{% endfor %}|"
                   "{% for k in d %}{{ k }}{% endfor %}|{% for c in 'héj' %}[{{ c }}]{% endfor %}",
     {"pairs": [[1, 2], ["x", "y"]], "d": {"p": 1, "q": 2}}),
    ("break_continue", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}"
                       "{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}",
     {}),
    ("set_scoping", "{% set x = 'outer' %}{% for i in [1, 2] %}{{ x }}{% set x = i %}{{ x }}"
                    "{% endfor %}{{ x }}|{% if true %}{% set y = 'if' %}{% endif %}{{ y }}",
     {}),
    ("namespace_state", "{% set ns = namespace(count=0, seen=[]) %}{% for m in messages %}"
                        "{% set ns.count = ns.count + 1 %}{% set ns.seen = ns.seen + [m.role] %}"
                        "{% endfor %}{{ ns.count }} {{ ns.seen }} {{ ns.missing }}",
     {"messages": [{"role": "user"}, {"role": "assistant"}]}),
    ("set_block", "{% set block %}  Hello {{ name }}!\n{% endset %}[{{ block }}]"
                  "{% set up | upper %}abc{% endset %}[{{ up }}]",
     {"name": "you"}),
    ("set_tuple", "{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set t = 1, 2 %}{{ t }}", {}),
    ("macros", "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}"
               "{{ greet('A') }} {{ greet('B', '?') }} {{ greet(name='C', punct='.') }} {{ greet() }}|"
               "{% macro va() %}{{ varargs }}{{ kwargs }}{% endmacro %}{{ va(1, 2, k=3) }}|"
               "{% macro rec(n) %}{{ n }}{% if n > 0 %}{{ rec(n - 1) }}{% endif %}{% endmacro %}{{ rec(3) }}",
     {}),
    ("macro_call_block", "{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}"
                         "{% call wrap('b') %}inner {{ 1 + 1 }}{% endcall %}|"
                         "{% macro each(items) %}{% for i in items %}{{ caller(i) }}{% endfor %}{% endmacro %}"
                         "{% call(x) each([1, 2]) %}({{ x }}){% endcall %}",
     {}),
    ("macro_sees_later_globals", "{% macro m() %}{{ z }}{% endmacro %}{% set z = 1 %}{{ m() }}"
                                 "{% set z = 2 %}{{ m() }}",
     {}),
    ("filter_block", "{% filter upper %}hello {{ 'x' }}{% endfilter %}|"
                     "{% filter replace('a', 'o') | trim %}  banana  {% endfilter %}",
     {}),
    ("with_block", "{% with a = 1, b = 'x' %}{{ a }}{{ b }}{% endwith %}[{{ a }}]", {}),
    ("raw_block", "{% raw %}{{ not evaluated }} {% if %}{% endraw %}", {}),
    ("generation_block", "{% generation %}gen {{ 1 }}{% endgeneration %}", {}),
    ("dict_global", "{{ dict(a=1, b='x') }} {{ dict([('k', 2)]) }} {{ dict({'m': 3}, n=4) }}", {}),
    ("range_global", "{{ range(3) | list }} {{ range(1, 7, 2) | list }} {{ range(5, 0, -2) | list }}",
     {}),
    ("range_too_big", "{{ range(1000000) | length }}", {}),
    ("strftime", "{{ strftime_now('%d %b %Y') }} {{ strftime_now('%Y-%m-%d %H:%M:%S') }} "
                 "{{ strftime_now('%A %B %j') }}",
     {}),
    ("raise_exception", "before{{ raise_exception('Custom failure: ' ~ code) }}after", {"code": 42}),
    ("unsafe_method", "{{ items.append(4) }}", {"items": [1, 2]}),
    ("unsafe_method_print", "[{{ items.append }}]", {"items": [1, 2]}),
    ("namespace_private_error", "{% set ns = namespace() %}{% set ns._x = 1 %}", {}),
    ("attribute_then_item", "{{ d.items is callable }}|{{ d['items'] }}|{{ m.role }}|{{ m['role'] }}|"
                            "{{ l.0 }}|{{ obj.get('a') }}",
     {"d": {"items": "value"}, "m": {"role": "user"}, "l": ["first"], "obj": {"a": 1}}),
    # Whitespace control: trim_blocks, lstrip_blocks, - and +.
    ("whitespace_blocks", "a\n  {% if true %}\n    b\n  {% endif %}\nc\n{# comment #}\nd\n"
                          "  {%- if true -%}  e  {%- endif -%}  \nf\n    {%+ if true %}g{% endif +%}\nh",
     {}),
    ("whitespace_vars", "x {{- ' y ' -}} z\n  {{ 'v' }}  \n{{- '\\n w' }}", {}),
    ("whitespace_after_var", "{{ 'a' }}    {% if true %}b{% endif %}\n   {% if true %}c{% endif %}", {}),
    ("whitespace_comment_lines", "line1\n    {# comment #}\nline2\n{#- c -#}   \nline3", {}),
    ("trailing_newline", "text\n", {}),
    ("crlf_source", "a\r\n{% if true %}\r\nb\r\n{% endif %}\r\nc", {}),
    ("whitespace_unicode_lstrip", "a\n\u3000\u00a0 {% if true %}x{% endif %}\n\t{%- if true %}y{% endif %}"
                                  "\n  {#- c #}z\n\n   {{- 'w' }}",
     {}),
    ("whitespace_template_start", "   {% if true %}start{% endif %}  \n  {% for i in [1, 2] %}\n"
                                  "    {{ i }}\n  {% endfor %}\nend  {% if true %} same line{% endif %}",
     {}),
    ("whitespace_raw_minus", "a  {%- raw -%}  {{ x }}  {%- endraw -%}  b\n  {% raw %}\nkeep\n  {% endraw %}\nc",
     {}),
    ("whitespace_plus_minus", "x\n  {%+ if true -%}\n  y\n  {%- endif +%}\nz\n  {#+ c +#}\nw", {}),
    ("comments_multiline", "a{# one\ntwo {{ x }} {% if %} #}b{#- trimmed -#}  c", {}),
    ("string_literals", "{{ 'a' 'b' \"c\" }}|{{ '%}' }}|{{ '}}' }}|{{ \"it's\" }}|{{ '\\u00e9\\n' }}|"
                        "{{ 'x\\\ny' }}",
     {}),
    ("number_literals", "{{ 1_000.5 }} {{ 1e3 }} {{ 2E-2 }} {{ 0b101 }} {{ 0o17 }} {{ 0xff }} {{ 00 }} "
                        "{{ 10 ** 15 }} {{ 1.5e300 * 1e10 }} {{ -1e-7 }}",
     {}),
    ("nested_braces", "{{ {'a': {'b': [1, {'c': 2}]}} }}|{{ {'x':1}}}|{% set d = {'k': {'j': 1}} %}{{ d.k.j }}",
     {}),
    ("operator_precedence", "{{ not 1 in [1] }} {{ -2 | abs }} {{ - 2 ** 2 }} {{ 2 ** 3 ** 2 }} "
                            "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 10 - 2 - 3 }} {{ 1 or 0 and 0 }} "
                            "{{ 'a' if 0 else 'b' if 1 else 'c' }} {{ 7 // 2 * 2 }} {{ 2 * 3 % 4 }} "
                            "{{ not not 0 }} {{ 3 > 2 == 2 }} {{ [1, 2, 3][1:] | length }}",
     {}),
    ("concat_precedence_error", "{{ 'a' ~ 1 + 2 }}", {}),
    ("dict_literal_keys", "{{ {1: 'a', true: 'b', 1.0: 'c', 2: 'd'} }} {{ {(1, 'x'): 1} }} "
                          "{{ {'a': 1, 'a': 2} }} {{ {none: 1}[none] }} {{ {1: 2}[1.0] }} "
                          "{{ {1: 'x', 2: 'y'} | tojson }} {{ {1: 'x'} | dictsort }}",
     {}),
    ("unhashable_key_error", "{{ {[1]: 2} }}", {}),
    ("more_string_methods", "{{ ' a  b c '.split(none, 1) }}|{{ ' a b c '.rsplit(none, 1) }}|"
                            "{{ 'xyhelloyx'.strip('xy') }}|{{ 'abc'.startswith(('x', 'a')) }}|"
                            "{{ '{} and {}'.format(1, 'b') }}|{{ '{1}{0}'.format('a', 'b') }}|"
                            "{{ '{k}!'.format(k='v') }}|{{ '{{x}}'.format() }}|{{ '\n\nx'.lstrip('\n') }}|"
                            "{{ \"they're bill's\".title() }}|{{ 'ab'.replace('', '-') }}|{{ 'héllo'.find('l') }}|"
                            "{{ 'abc'.count('') }}|{{ 'a b'.split(' ') }}|{{ ''.split() }}|{{ ''.split(',') }}|"
                            "{{ 'A1'.isupper() }}|{{ '12'.isdigit() }}|{{ 'ab'.isalpha() }}|{{ ' '.isspace() }}|"
                            "{{ 'aXb'.removeprefix('a') }}|{{ 'x'.upper().lower() }}",
     {}),
    ("unicode_case", "{{ 'straße' | upper }}|{{ 'İSTANBUL' | lower | length }}|{{ 'éCOLE' | capitalize }}|"
                     "{{ 'ǆemal ǉubljana' | title }}|{{ 'ÀÉÎ' | lower }}|{{ 'ñ' is lower }}|{{ 'Ω' is upper }}|"
                     "{{ 'ﬁ' | upper }}|{{ 'ΑΣ' | lower }}",
     {}),
    ("unicode_whitespace_trim", "[{{ '\u3000x\u00a0' | trim }}][{{ '\u2028y\x1c' | trim }}]"
                                "[{{ '\u200bz' | trim }}][{{ 'a\u3000b'.split() }}][{{ '\x85a'.strip() }}]",
     {}),
    ("slices_more", "{{ s[-3:-1] }}|{{ s[10:] }}|{{ s[-10:2] }}|{{ s[::-2] }}|{{ l[1:-1] }}|{{ l[::-2] }}|"
                    "{{ l[-1] }}|{{ l[-9] }}|{{ t[1:] }}|{{ u[-2:] }}|{{ u[::-1] }}|{{ s[1:4:2] }}|{{ l[3:1] }}",
     {"s": "abcdef", "l": [1, 2, 3, 4, 5], "t": [9, 8], "u": "añ😀b"}),
    ("undefined_through_filters", "[{{ u | upper }}][{{ u | trim }}][{{ u | list }}][{{ u | join }}]"
                                  "[{{ u | first }}][{{ u | items | list }}][{{ u ~ 'x' }}][{{ u is string }}]"
                                  "[{{ u == none }}][{{ u | default(none) is none }}][{{ u | length }}]"
                                  "[{{ u | selectattr('a') | list }}][{{ u | string }}][{{ u | reverse | list }}]"
                                  "[{{ u | replace('a', 'b') }}][{{ u | capitalize }}][{{ u | wordcount }}]"
                                  "[{{ u in ['x'] }}][{{ u | map('upper') | list }}][{{ u | unique | list }}]",
     {}),
    ("undefined_int_error", "{{ u | int }}", {}),
    ("undefined_item_error", "{{ u['x'] }}", {}),
    ("undefined_compare_error", "{{ u < 1 }}", {}),
    ("none_compare_error", "{{ none < 1 }}", {}),
    ("filters_more", "{{ d | join(',') }}|{{ d | first }}|{{ d | last }}|{{ d | list }}|{{ d | reverse | list }}|"
                     "{{ 'abc' | list | reverse | join }}|{{ ['b', 'B', 'a'] | unique | list }}|"
                     "{{ ['b', 'B', 'a'] | unique(case_sensitive=true) | list }}|{{ ['Bb', 'a', 'C'] | max }}|"
                     "{{ ['Bb', 'a', 'C'] | min }}|{{ [0.1, 0.2] | sum }}|{{ 2.675 | round(2) }}|"
                     "{{ '0x1F' | int }}|{{ ' -5 ' | int }}|{{ '1e3' | float }}|{{ 'inf' | float }}|"
                     "{{ -0.0 | abs }}|{{ [1, 2] | string }}|{{ 'a\r\nb\rc' | indent(2) }}|"
                     "{{ [[1, 2], [3]] | map('length') | list }}|{{ [3, 1] | sort | first }}|"
                     "{{ {'b': 1, 'A': 2} | dictsort(case_sensitive=true) }}|{{ 12.0 | int }}|{{ '3.9' | int }}",
     {"d": {"x": 1, "y": 2}}),
    ("sort_mixed_error", "{{ [1, 'a'] | sort }}", {}),
    ("tojson_more", "{{ v | tojson(indent=2, separators=(', ', ': ')) }}|{{ v | tojson(indent=0) }}|"
                    "{{ w | tojson(sort_keys=true, ensure_ascii=true) }}|{{ [[], {}, [[]]] | tojson(indent=1) }}|"
                    "{{ 12345678901234 | tojson }}|{{ 1e-7 | tojson }}|{{ 'a' | tojson | safe }}|"
                    "{{ x | tojson(true) }}",
     {"v": {"a": [1, {"b": None}]}, "w": {"é": "😀", "b": "\u2028", "a": "\x1f"},
      "x": "é"}),
    ("tests_more", "{{ 'x' is sequence }} {{ ns is iterable }} {{ ns is mapping }} {{ loop is defined }} "
                   "{{ u is none }} {{ 'a'|safe is string }} {{ '1' is number }} {{ m is callable }} "
                   "{{ 'x'.upper is callable }} {{ 'a'|safe is escaped }} {{ 'a' is escaped }} "
                   "{{ 2.0 is even }} {{ 1 is sameas 1 }} {{ none is sameas none }} {{ [] is sameas [] }}",
     {}),
    ("loops_more", "{% for x in [1, 1, 2, 3, 3] %}{% if loop.changed(x) %}{{ x }}{% endif %}{% endfor %}|"
                   "{% for a in [1, 2] %}{% set outer = loop %}{% for b in 'xy' %}{{ outer.index }}{{ b }}"
                   "{% if b == 'x' %}{% break %}{% endif %}{% endfor %}{% endfor %}|"
                   "{% for k, v in {'p': 1, 'q': 2}.items() %}{{ k }}{{ v }}{% endfor %}|"
                   "{% for x in [1, 2] if x > 5 %}{{ x }}{% else %}filtered{% endfor %}|"
                   "{% for x in [1, 2, 3] %}{{ loop.previtem }}-{{ loop.nextitem }};{% endfor %}|"
                   "{% for x in range(3) %}{{ loop.cycle('a', 'b') }}{% endfor %}|{{ loop }}",
     {}),
    ("scoping_more", "{% macro m() %}[{{ x }}]{% endmacro %}{% for x in [1] %}{{ m() }}{% endfor %}|"
                     "{% set y = 1 %}{% macro n() %}{{ y }}{% endmacro %}{% for i in [1] %}{% set y = 2 %}"
                     "{{ n() }}{{ y }}{% endfor %}{{ y }}|{% for i in [1] %}{% macro inner() %}{{ i }}"
                     "{% endmacro %}{{ inner() }}{% endfor %}|{% with z = 5 %}{% set z = 6 %}{{ z }}{% endwith %}"
                     "{{ z }}|{% macro s() %}{% set w = 1 %}{% endmacro %}{{ s() }}{{ w }}|"
                     "{% if true %}{% set v = 'leak' %}{% endif %}{{ v }}",
     {}),
    ("macro_defaults_calls", "{% macro m(a, b=a * 2, c=none) %}{{ a }},{{ b }},{{ c }}{% endmacro %}"
                             "{{ m(1) }}|{{ m(1, c=3) }}|{{ m(*[4, 5]) }}|{{ m(**{'a': 6}) }}|"
                             "{{ dict(b=2, **{'a': 1}) }}|{{ m }}|{{ m.name }}",
     {}),
    ("macro_kwarg_error", "{% macro m(a) %}{% endmacro %}{{ m(b=1) }}", {}),
    ("markup_more", "{{ ('<a>'|safe) ~ '<b>' }}|{{ ('x'|safe + 'y'|safe) }}|{{ '<' | e | e }}|"
                    "{{ ('&'|safe) + '&' }}|{{ '<b>' | forceescape }}|{{ 'ab' | safe | upper }}",
     {}),
    ("printing_more", "{{ (1, 'a') }}|{{ {'a': (1,)} }}|{{ namespace(a=1, b='x') }}|{{ 1, 'two' }}|"
                      "{{ [1.0, 1e-10, -0.5] }}|{{ {'q': \"'\"} }}|{{ ['\\\\'] }}|{{ [none] }}"
                      "{% print 'printed' %}",
     {}),
    ("range_more", "{{ range(0) | list }}|{{ range(-3) | list }}|{{ range(3, 0) | list }}|{{ range(2, 10, 3) | list }}",
     {}),
    ("raise_non_string", "{{ raise_exception(42) }}", {}),
    ("chat_idioms", "{{ messages | selectattr('role', 'equalto', 'system') | list | length }}|"
                    "{{ (messages | last).content }}|{{ messages[-1]['role'] }}|"
                    "{{ messages[1].content.split('</think>')[-1].lstrip('\n') }}|"
                    "{% for m in messages %}{{ m.role[0] | upper }}{{ '' if loop.last else ',' }}{% endfor %}|"
                    "{{ messages | map(attribute='role') | unique | join('/') }}|"
                    "{{ messages | rejectattr('role', 'in', ['system']) | list | length }}",
     {"messages": [{"role": "system", "content": "s"},
                   {"role": "assistant", "content": "<think>x</think>\n\nfinal"},
                   {"role": "user", "content": "u"}]}),
    ("percent_format", "{{ '%s and %r' % ('a', 'b') }}|{{ '%d%%' % 42.9 }}|{{ 'x=%s' % [1] }}|"
                       "{{ 'none' % [] }}|{{ '%s' % missing }}|{{ '%i' % true }}",
     {}),
    ("percent_format_error", "{{ 'no fields' % 5 }}", {}),
    ("dict_views", "{{ d.items() }}|{{ d.keys() }}|{{ d.values() }}|{{ d.keys() | list }}|"
                   "{{ d.items() | length }}|{{ 'a' in d.keys() }}|{{ d.keys()[0] }}|{{ d.values() | first }}|"
                   "{{ d.items() | last }}|{{ d.keys() is sequence }}",
     {"d": {"a": 1, "b": [2]}}),
    ("dict_view_slice_error", "{{ d.keys()[1:] }}", {"d": {"a": 1}}),
    ("markup_methods", "{{ ('<a> ' | safe).strip() ~ '|' }}{{ ('A' | safe).lower() is escaped }}|"
                       "{{ ('x<y' | safe).replace('<', '>') }}|{{ ('a-b' | safe).split('-') }}|"
                       "{{ ('&' | safe).join(['<', 'x' | safe]) }}|{{ ('AB' | safe)[0] is escaped }}|"
                       "{{ (' x ' | safe) | trim is escaped }}|{{ ('x' | safe) | title is escaped }}|"
                       "{{ ('%s!' | safe) % '<b>' }}|{{ ('ab' | safe) * 2 }}|{{ [('q' | safe) | upper] }}",
     {}),
    ("lazy_generators", "{{ 'yes' if (5 | select('odd')) else 'no' }}|{{ 'yes' if (x | map('upper')) }}|"
                        "{{ (none | items) is iterable }}|{% set g = 3 | select %}{{ g is defined }}",
     {}),
    ("lazy_generator_consumed_error", "{{ 5 | select('odd') | list }}", {}),
    ("slice_errors_runtime", "{{ n[1:] }}", {"n": 5}),
    ("slice_dict_error", "{{ d[1:] }}", {"d": {"a": 1}}),
    ("str_index_error", "{{ 'abc'.index('b') }}{{ 'abc'.index('z') }}", {}),
    ("indent_non_string_error", "{{ t | indent }}", {"t": [1]}),
    ("abs_undefined_error", "{{ missing | abs }}", {}),
    ("concat_evaluates_first", "{{ (5 | select('odd')) ~ missing.attr }}", {}),
    ("last_not_reversible_error", "{{ 5 | last }}", {}),
    ("loop_length_filter", "{% for x in 'ab' %}{{ loop | length }}{% endfor %}", {}),
    # Errors a template may meet.
    ("call_undefined", "{{ nothing() }}", {}),
    ("iterate_none", "{% for x in none %}{% endfor %}", {}),
    ("unpack_error", "{% for a, b in [[1, 2, 3]] %}{% endfor %}", {}),
    ("macro_too_many_args", "{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}", {}),
]


# ---------------------------------------------------------------------------------------------


def template_record(name, origin, source):
    ENV.from_string(source)  # must compile; callers filter those that do not
    cases = []
    for case_name, messages, extra in conversations():
        context = context_for(name, messages, extra)
        cases.append({"name": case_name, "context": context, **render(source, context)})
    return {"kind": "template", "name": name, "origin": origin, "source": source, "cases": cases}


def main():
    if jinja2.__version__ != JINJA2_VERSION:
        sys.exit(f"make_fixtures: jinja2 {JINJA2_VERSION} required, found {jinja2.__version__}")
    records = [template_record("SmolLM2-135M-Instruct", "gguf:" + SMOLLM2_GGUF.name,
                               smollm2_template())]
    skipped = []
    for name, source in llama_cpp_templates().items():
        try:
            ENV.from_string(source)
        except jinja2.exceptions.TemplateError as e:
            # jinja2 itself cannot compile it (e.g. an unknown filter): nothing to compare with.
            skipped.append(f"{name}: {type(e).__name__}: {e}")
            continue
        records.append(template_record(
            name, f"llama-cpp-python-{LLAMA_CPP_PYTHON_VERSION}:{TEMPLATE_DIR}{name}.jinja", source))
    for name, source, context in SNIPPETS:
        try:
            ENV.from_string(source)
        except jinja2.exceptions.TemplateError as e:
            sys.exit(f"make_fixtures: snippet {name} does not compile: {e}")
        records.append({"kind": "snippet", "name": name, "source": source, "context": context,
                        **render(source, context)})

    header = {"kind": "header", "generator": "tests/golden/chat_templates/make_fixtures.py",
              "jinja2": jinja2.__version__, "python": sys.version.split()[0],
              "llama_cpp_python": LLAMA_CPP_PYTHON_VERSION, "now": FIXED_NOW.isoformat(),
              "skipped": skipped}
    text = io.StringIO()
    for record in [header] + records:
        text.write(json.dumps(record, ensure_ascii=False, sort_keys=False))
        text.write("\n")
    path = HERE / "cases.jsonl.gz"
    with open(path, "wb") as raw:
        # mtime=0 and no file name in the header: identical inputs give identical bytes.
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
            gz.write(text.getvalue().encode("utf-8"))
    templates = sum(1 for r in records if r["kind"] == "template")
    cases = sum(len(r["cases"]) for r in records if r["kind"] == "template")
    errors = sum(1 for r in records if r["kind"] == "template" for c in r["cases"] if "error" in c)
    snippets = sum(1 for r in records if r["kind"] == "snippet")
    print(f"make_fixtures: {templates} templates, {cases} cases ({errors} raise), "
          f"{snippets} snippets, {len(skipped)} templates jinja2 cannot compile -> {path}")
    for line in skipped:
        print(f"  skipped {line}")


if __name__ == "__main__":
    main()
