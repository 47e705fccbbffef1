"""A small randomly initialised GPT-2 and its reference outputs, for the C++ GPT-2 decoder
(models/gpt2/), made with Hugging Face transformers and tokenizers.

Writes next to this script:
  model/         a Hugging Face folder as `save_pretrained` writes it (config.json,
                 model.safetensors, generation_config.json) plus tokenizer.json: a byte-level BPE
                 tokenizer trained here on seeded text, GPT-2 style (ByteLevel pre-tokenizer and
                 decoder, no normalizer), with <|endoftext|> as its special token.
  reference.json for each prompt: its ids, the logits at every position (float32, full
                 vocabulary) and 24 greedily generated ids (transformers' generate, do_sample off).

Run with the reference virtualenv after scripts/setup-ref-venv.sh:

  ~/.cache/trustformers/ref-venv/bin/python tests/golden/gpt2/make_fixtures.py
"""

import json
import random
from pathlib import Path

import torch
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GPT2Config, GPT2LMHeadModel

HERE = Path(__file__).resolve().parent
SEED = 20261129
PROMPTS = [
    "Hello, world! The quick brown fox",
    "def add(a, b):\n    return a + b\n",
    "Numbers: 3.14159, 2718, and 42.",
    "Ünïcödé and emoji 🙂 mixed in",
    "a",
]


def training_text():
    rng = random.Random(SEED)
    words = ("the quick brown fox jumps over lazy dog model token server stream batch layer "
             "attention weight value key query hello world python code return number").split()
    lines = []
    for _ in range(2000):
        n = rng.randint(3, 12)
        lines.append(" ".join(rng.choice(words) for _ in range(n)) + rng.choice([".", ",", "!", "?", ""]))
    lines += PROMPTS
    return lines


def build_tokenizer():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(training_text(), trainer)
    return tok


def main():
    torch.manual_seed(SEED)
    tok = build_tokenizer()
    eos = tok.token_to_id("<|endoftext|>")
    config = GPT2Config(vocab_size=tok.get_vocab_size(), n_positions=128, n_embd=64, n_layer=3,
                        n_head=4, bos_token_id=eos, eos_token_id=eos)
    model = GPT2LMHeadModel(config).eval()
    folder = HERE / "model"
    folder.mkdir(exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    tok.save(str(folder / "tokenizer.json"))

    cases = []
    with torch.no_grad():
        for prompt in PROMPTS:
            ids = tok.encode(prompt).ids
            logits = model(torch.tensor([ids])).logits[0]
            out = model.generate(torch.tensor([ids]), max_new_tokens=24, do_sample=False,
                                 pad_token_id=eos, eos_token_id=None)
            cases.append({
                "prompt": prompt,
                "ids": ids,
                "logits": [[round(float(v), 7) for v in row] for row in logits],
                "greedy": [int(t) for t in out[0][len(ids):]],
            })
    (HERE / "reference.json").write_text(json.dumps({
        "generator": f"transformers {transformers.__version__}, torch {torch.__version__}",
        "cases": cases}) + "\n")
    print(f"wrote {len(cases)} cases, vocabulary {tok.get_vocab_size()}")


if __name__ == "__main__":
    main()
