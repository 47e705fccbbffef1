"""Reference encodings for the C++ byte-level BPE tokenizer (tokenizers/bpe_tokenizer.h), made with
Hugging Face `tokenizers` from the SmolLM2-135M-Instruct GGUF file's own vocabulary and merges.

The reference tokenizer is built from the GGUF metadata (tokens, token types, merges) with the
components of SmolLM2's published tokenizer.json: pre-tokenizer Sequence[Digits(individual_digits),
ByteLevel(add_prefix_space=False)], BPE, ByteLevel decoder, and the control tokens (<|im_start|>,
<|im_end|>, ...) as special added tokens. Writes, next to this script:

  smollm2_tokenizer.json.gz  that tokenizer as tokenizer.json, so the C++ tokenizer.json loader is
                             checked on the same corpus as the GGUF path.
  corpus.txt.gz              a seeded corpus of 10,000+ lines (the WordPiece corpus generator of
                             tests/golden/tokenizers plus chat transcripts with control tokens,
                             code, whitespace runs, contractions and numbers) with, for each line,
                             the ids with special tokens parsed and with them taken as plain text.
  cases.jsonl.gz             decode cases (corpus encodings and random ids, with and without
                             skip_special_tokens) and encodings under variant pipelines: Llama 3's
                             and Qwen2's split patterns, plain GPT-2 ByteLevel, a prefix space, NFC,
                             and a TemplateProcessing post-processor.

Run with the reference virtualenv after `make fetch-models`:

  ~/.cache/trustformers/ref-venv/bin/python tests/golden/bpe/make_fixtures.py

The output depends only on the seed, the pinned tokenizers version and the GGUF file (whose
sha256 each file's header records), so rerunning it gives identical files.
"""

import gzip
import hashlib
import importlib.util
import json
import os
import sys
from pathlib import Path

import gguf
import tokenizers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, processors
from tokenizers import pre_tokenizers as pre

TOKENIZERS_VERSION = "0.23.3"
SEED = 20241129
HERE = Path(__file__).resolve().parent
MODEL_HOME = Path(os.environ.get("TRUSTFORMERS_HOME",
                                 Path.home() / ".cache" / "trustformers" / "models"))
GGUF_FILE = MODEL_HOME / "smollm2-135m-instruct" / "SmolLM2-135M-Instruct.Q4_1.gguf"

# Split patterns of other models' tokenizer.json files, as they write them.
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                  r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
                 r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def load_wordpiece_generator():
    """The seeded corpus generator of tests/golden/tokenizers/make_fixtures.py."""
    path = HERE.parent / "tokenizers" / "make_fixtures.py"
    spec = importlib.util.spec_from_file_location("wordpiece_fixtures", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_gguf():
    reader = gguf.GGUFReader(str(GGUF_FILE))
    fields = reader.fields

    def strings(key):
        f = fields[key]
        return [bytes(f.parts[i]).decode("utf-8") for i in f.data]

    tokens = strings("tokenizer.ggml.tokens")
    f = fields["tokenizer.ggml.token_type"]
    types = [int(f.parts[i][0]) for i in f.data]
    merges = strings("tokenizer.ggml.merges")
    return tokens, types, merges


def build(tokens, types, merges, pre_tokenizer, normalizer=None, ignore_merges=False,
          post_processor=None):
    vocab = {t: i for i, t in enumerate(tokens)}
    bpe = models.BPE(vocab=vocab, merges=[tuple(m.split(" ")) for m in merges],
                     ignore_merges=ignore_merges)
    tok = Tokenizer(bpe)
    if normalizer is not None:
        tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                            for t, ty in zip(tokens, types) if ty == 3])
    if post_processor is not None:
        tok.post_processor = post_processor
    return tok


CHAT_WORDS = ["Hello", "How", "are", "you", "today", "?", "Explain", "recursion", "in", "Python",
              "Write", "a", "haiku", "about", "the", "sea", "Sure", "!", "Here", "is", "code",
              "I'm", "can't", "won't", "it's", "they've", "we'll", "you'd", "42", "3.14",
              "naïve", "café", "日本語", "😀", "👍🏽", "—", "\n", "\n\n", "  ", "\t"]
SPECIALS = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<repo_name>", "<filename>",
            "<gh_stars>", "<jupyter_code>", "<empty_output>", "<file_sep>", "<issue_start>"]
BROKEN_SPECIALS = ["<|im_start|", "|im_end|>", "<|im_start", "<| im_start |>", "<|IM_START|>",
                   "<|im_start|><|im_end|>", "<<|im_end|>>", "x<|endoftext|>y", "<|im_end|>\n"]
CODE_LINES = [
    "def fib(n):", "    if n < 2:", "        return n", "    return fib(n - 1) + fib(n - 2)",
    "for i in range(10):", "\tprint(i, end='')", "int main(int argc, char** argv) {",
    "  std::cout << \"hi\\n\";", "}", "    ", "", "class Foo:  # trailing spaces   ",
    "SELECT id, name FROM users WHERE age >= 18;", "x = [1, 2, 3]  ;  y = {'a': 1}",
    "if (a && b || !c) { return -1; }", "    // TODO: fix this\t\t", "import numpy as np",
    "fn main() { println!(\"{}\", 1_000_000); }", "$ ls -la /tmp && echo $?",
    "const f = (x) => x ** 2;", "#include <vector>", "<div class=\"x\">&nbsp;</div>",
]
CONTRACTIONS = ["I'm", "you're", "he's", "she'll", "we've", "they'd", "don't", "can't",
                "won't", "I'M", "YOU'RE", "It'S", "o'clock", "O'Neil", "rock'n'roll", "'s",
                "'t", "''", "'", "Ma'am", "y'all", "'twas", "I'LL", "WE'VE", "he'D"]
NUMBER_BITS = ["0", "7", "12", "123", "1234", "12345", "1234567890", "3.14159", "1e10",
               "-42", "+7", "1,000", "0x1F", "v2.0.1", "abc123def", "٣٤٥", "１２３", "½",
               "①②", "Ⅻ", "२०२४", "9" * 40, "2024-11-29", "12:30", "100%"]
SPACES = [" ", "  ", "   ", "    ", "\t", "\t\t", "\n", "\n\n", "\n\n\n", " \n", "\n ", "\r\n",
          " \t ", "\u00a0", "\u3000", "\u2003", "\u180e", "\u0085", "\u200b"]


def chat_line(rng):
    turns = []
    for _ in range(rng.randint(1, 4)):
        role = rng.choice(["system", "user", "assistant"])
        words = [rng.choice(CHAT_WORDS) for _ in range(rng.randint(1, 15))]
        content = rng.choice([" ", ""]).join(words)
        turns.append(f"<|im_start|>{role}\n{content}<|im_end|>\n")
    text = "".join(turns)
    if rng.random() < 0.5:
        text += "<|im_start|>assistant\n"
    if rng.random() < 0.3:
        text += rng.choice(SPECIALS + BROKEN_SPECIALS)
    return text


def bpe_line(rng, kind, gen):
    if kind == "chat":
        return chat_line(rng)
    if kind == "specials":
        parts = [rng.choice(SPECIALS + BROKEN_SPECIALS + ["hello", " world", "\n", "x"])
                 for _ in range(rng.randint(1, 6))]
        return rng.choice(["", " "]).join(parts)
    if kind == "code":
        return "\n".join(rng.choice(CODE_LINES) for _ in range(rng.randint(1, 8)))
    if kind == "whitespace":
        parts = []
        for _ in range(rng.randint(1, 8)):
            parts.append(rng.choice(SPACES) * rng.randint(1, 3))
            parts.append(rng.choice(["a", "word", "x1", "!", "é", "中", "", "--"]))
        return "".join(parts)
    if kind == "contractions":
        return " ".join(rng.choice(CONTRACTIONS + ["the", "and", "it", "I"])
                        for _ in range(rng.randint(1, 10)))
    if kind == "numbers":
        return rng.choice(["", " "]).join(rng.choice(NUMBER_BITS + ["and", "x", " "])
                                          for _ in range(rng.randint(1, 8)))
    if kind == "long_space":
        return rng.choice(["a", ""]) + rng.choice(SPACES) * rng.randint(50, 400) + \
            rng.choice(["b", "", "\n"])
    raise ValueError(kind)


BPE_PLAN = [("chat", 700), ("specials", 300), ("code", 500), ("whitespace", 500),
            ("contractions", 300), ("numbers", 400), ("long_space", 40)]


def make_corpus(module):
    gen = module.Generator(SEED)
    lines = module.make_corpus(gen)
    for kind, count in BPE_PLAN:
        lines += [bpe_line(gen.rng, kind, gen) for _ in range(count)]
    gen.rng.shuffle(lines)
    fixed = ["", " ", "\n", "Hello world", "<|im_start|>user\nHi<|im_end|>\n",
             "<|im_start|><|im_end|>", "😀", "👨‍👩‍👧‍👦", "don't", "123456", "  x  ",
             "\u0085", "\u180e\u180ex", "a" * 1000, " " * 1000, "\n" * 50]
    return fixed + lines, gen.rng


def ids_field(ids):
    return " ".join(map(str, ids))


def header(kind, digest):
    return (f"# {kind} made by tests/golden/bpe/make_fixtures.py with tokenizers=="
            f"{tokenizers.__version__}, Python {sys.version.split()[0]}, seed {SEED}, "
            f"{GGUF_FILE.name} sha256 {digest}\n")


def main():
    if tokenizers.__version__ != TOKENIZERS_VERSION:
        sys.exit(f"need tokenizers=={TOKENIZERS_VERSION}, found {tokenizers.__version__}")
    digest = hashlib.sha256(GGUF_FILE.read_bytes()).hexdigest()
    tokens, types, merges = read_gguf()
    smollm_pre = pre.Sequence([pre.Digits(individual_digits=True),
                               pre.ByteLevel(add_prefix_space=False, use_regex=True)])
    tok = build(tokens, types, merges, smollm_pre)
    with gzip.GzipFile(HERE / "smollm2_tokenizer.json.gz", "wb", mtime=0) as raw:
        raw.write(tok.to_str().encode())

    corpus, rng = make_corpus(load_wordpiece_generator())
    plain = build(tokens, types, merges, smollm_pre)
    plain.encode_special_tokens = True
    with gzip.GzipFile(HERE / "corpus.txt.gz", "wb", mtime=0) as raw:
        raw.write(header("corpus", digest).encode())
        raw.write(b"# one line per text: JSON text <TAB> ids with special tokens parsed <TAB> "
                  b"ids with special tokens as text ('=' when the same)\n")
        for text in corpus:
            parsed = tok.encode(text, add_special_tokens=False).ids
            literal = plain.encode(text, add_special_tokens=False).ids
            fields = [json.dumps(text, ensure_ascii=False), ids_field(parsed),
                      "=" if literal == parsed else ids_field(literal)]
            raw.write(("\t".join(fields) + "\n").encode())

    cases = []
    for i in range(400):  # decoding: corpus encodings, byte-token runs and random ids
        if i % 4 == 3:
            ids = [rng.randint(0, len(tokens) + 20) for _ in range(rng.randint(0, 30))]
            ids += rng.sample(range(0, 17), 3)
            rng.shuffle(ids)
        elif i % 4 == 2:  # single byte tokens: characters split across tokens, broken sequences
            ids = [rng.choice(range(17, 17 + 256)) for _ in range(rng.randint(1, 12))]
        else:
            ids = tok.encode(rng.choice(corpus)).ids
        for skip in (True, False):
            cases.append({"case": "decode", "ids": ids, "skip_special_tokens": skip,
                          "expect": tok.decode(ids, skip_special_tokens=skip)})

    variants = {
        "gpt2": dict(pre_tokenizer=pre.ByteLevel(add_prefix_space=False, use_regex=True)),
        "prefix_space": dict(pre_tokenizer=pre.ByteLevel(add_prefix_space=True, use_regex=True)),
        "llama3": dict(pre_tokenizer=pre.Sequence([
            pre.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
            pre.ByteLevel(add_prefix_space=False, use_regex=False)]), ignore_merges=True),
        "qwen2": dict(pre_tokenizer=pre.Sequence([
            pre.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
            pre.ByteLevel(add_prefix_space=False, use_regex=False)])),
        "qwen2_nfc": dict(normalizer=normalizers.NFC(), pre_tokenizer=pre.Sequence([
            pre.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
            pre.ByteLevel(add_prefix_space=False, use_regex=False)])),
        "template": dict(pre_tokenizer=smollm_pre, post_processor=processors.TemplateProcessing(
            single="<|im_start|> $A <|im_end|>",
            special_tokens=[("<|im_start|>", 1), ("<|im_end|>", 2)])),
    }
    for name, kwargs in variants.items():
        variant = build(tokens, types, merges, **kwargs)
        config = json.loads(variant.to_str())
        cases.append({"case": "tokenizer", "variant": name,
                      "ignore_merges": config["model"]["ignore_merges"],
                      "config": {key: config[key] for key in
                                 ("normalizer", "pre_tokenizer", "post_processor", "decoder")}})
        for text in rng.sample(corpus, 1000 if name != "template" else 200):
            cases.append({"case": "encode", "variant": name, "text": text,
                          "add_special_tokens": True,
                          "ids": variant.encode(text, add_special_tokens=True).ids})

    with gzip.GzipFile(HERE / "cases.jsonl.gz", "wb", mtime=0) as raw:
        raw.write(header("cases", digest).encode())
        for case in cases:
            raw.write((json.dumps(case, ensure_ascii=False) + "\n").encode())
    print(f"{len(corpus)} corpus lines, {len(cases)} cases")


if __name__ == "__main__":
    main()
