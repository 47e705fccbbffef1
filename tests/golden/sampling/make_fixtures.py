"""Golden fixtures for trustformers' logits processing: what Hugging Face transformers' logits
processors make of a few seeded logit vectors, in the order trustformers.v1.SamplingParams states.

What it writes, next to this file (tests/golden/sampling/):

  processed_logits.json
      A `header` (library versions, seed) and `cases`: name, raw `logits` (float32 values), the
      `prompt` and `output` token ids so far, the model's `eos` ids, the sampling `params` and the
      `expected` processed logits (null where a token is filtered out, i.e. -inf).

Each case applies, in this order and only where the parameter is active (as `generate` would):
logit_bias (added by hand: transformers has no per-token additive bias), RepetitionPenalty-
LogitsProcessor over prompt + output, presence and frequency penalties (OpenAI's formula, by
hand: transformers has none), MinNewTokensLengthLogitsProcessor over stop_token_ids + eos,
TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper, MinPLogitsWarper,
TypicalLogitsWarper. Temperature 0 (greedy) stops after the end-token mask.

How to run (offline; nothing is downloaded):

    scripts/setup-ref-venv.sh
    $HOME/.cache/trustformers/ref-venv/bin/python tests/golden/sampling/make_fixtures.py

`--out DIR` changes the output folder. The run is deterministic: running it twice gives
byte-identical files.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
from pathlib import Path

import numpy as np
import torch
from transformers.generation.logits_process import (
    MinNewTokensLengthLogitsProcessor,
    MinPLogitsWarper,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
    TypicalLogitsWarper,
)

HERE = Path(__file__).resolve().parent
OUT_FILE = "processed_logits.json"
SEED = 20250107

DEFAULTS = {
    "temperature": 1.0,
    "top_k": 0,
    "top_p": 1.0,
    "min_p": 0.0,
    "typical_p": 1.0,
    "repetition_penalty": 1.0,
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
    "logit_bias": {},
    "min_tokens": 0,
    "stop_token_ids": [],
    "ignore_eos": False,
}


def process(logits: np.ndarray, prompt: list[int], output: list[int], eos: list[int],
            params: dict) -> np.ndarray:
    p = {**DEFAULTS, **params}
    scores = torch.tensor(logits, dtype=torch.float32).unsqueeze(0)  # [1, V]
    input_ids = torch.tensor([prompt + output], dtype=torch.long)  # [1, L]

    for token, bias in sorted(p["logit_bias"].items()):
        scores[0, int(token)] += np.float32(bias)
    if p["repetition_penalty"] != 1.0:
        scores = RepetitionPenaltyLogitsProcessor(float(p["repetition_penalty"]))(input_ids, scores)
    if p["presence_penalty"] != 0.0 or p["frequency_penalty"] != 0.0:
        counts = np.bincount(np.array(output, dtype=np.int64), minlength=logits.size)
        for token in np.flatnonzero(counts):
            penalty = np.float32(p["presence_penalty"]) + np.float32(
                p["frequency_penalty"]) * np.float32(counts[token])
            scores[0, int(token)] -= penalty
    end_ids = sorted(set(p["stop_token_ids"]) | (set() if p["ignore_eos"] else set(eos)))
    if p["min_tokens"] > 0 and end_ids:
        scores = MinNewTokensLengthLogitsProcessor(len(prompt), p["min_tokens"], end_ids)(
            input_ids, scores)
    if p["temperature"] == 0.0:
        return scores[0].numpy()

    warpers = [TemperatureLogitsWarper(float(p["temperature"]))]
    if p["top_k"] != 0:
        warpers.append(TopKLogitsWarper(p["top_k"]))
    if p["top_p"] < 1.0:
        warpers.append(TopPLogitsWarper(p["top_p"]))
    if p["min_p"] > 0.0:
        warpers.append(MinPLogitsWarper(p["min_p"]))
    if p["typical_p"] < 1.0:
        warpers.append(TypicalLogitsWarper(p["typical_p"]))
    for warper in warpers:
        scores = warper(input_ids, scores)
    return scores[0].numpy()


def as_json_floats(values: np.ndarray) -> list:
    # float32 -> Python float is exact; repr is the shortest round-trip form.
    return [None if v == -np.inf else float(v) for v in values.astype(np.float32)]


def make_cases(rng: np.random.Generator) -> list[dict]:
    def normal(vocab: int, scale: float) -> np.ndarray:
        return (rng.standard_normal(vocab) * scale).astype(np.float32)

    def tokens(vocab: int, count: int) -> list[int]:
        return [int(t) for t in rng.integers(0, vocab, count)]

    specs = []
    specs.append(("temperature_0.7", normal(64, 2.0), [], [], [0], {"temperature": 0.7}))
    specs.append(("temperature_1.9_top_k_10", normal(64, 2.0), [], [], [0],
                  {"temperature": 1.9, "top_k": 10}))
    specs.append(("top_p_0.9", normal(300, 2.5), [], [], [0], {"temperature": 0.8, "top_p": 0.9}))
    specs.append(("top_p_0.3", normal(300, 1.0), [], [], [0], {"top_p": 0.3}))
    specs.append(("min_p_0.1", normal(300, 2.0), [], [], [0], {"min_p": 0.1}))
    specs.append(("typical_p_0.5", normal(300, 2.0), [], [], [0], {"typical_p": 0.5}))
    specs.append(("typical_p_0.95_flat", normal(300, 0.3), [], [], [0], {"typical_p": 0.95}))
    specs.append(("penalties_and_bias", normal(100, 3.0), tokens(100, 20), tokens(100, 12), [1],
                  {"repetition_penalty": 1.3, "presence_penalty": 0.5,
                   "frequency_penalty": 0.3, "logit_bias": {"3": 5.0, "7": -100.0,
                                                           "11": 100.0, "42": -2.5}}))
    specs.append(("reward_repetition", normal(100, 3.0), tokens(100, 8), tokens(100, 8), [1],
                  {"repetition_penalty": 0.7, "presence_penalty": -1.0,
                   "frequency_penalty": -0.25}))
    specs.append(("min_tokens_masks_end_tokens", normal(100, 2.0), tokens(100, 5),
                  tokens(100, 2), [5, 9], {"min_tokens": 3, "stop_token_ids": [17]}))
    specs.append(("min_tokens_ignore_eos", normal(100, 2.0), tokens(100, 5), tokens(100, 2),
                  [5, 9], {"min_tokens": 3, "stop_token_ids": [17], "ignore_eos": True}))
    specs.append(("greedy_keeps_penalties", normal(100, 2.0), tokens(100, 10), tokens(100, 10),
                  [2], {"temperature": 0.0, "repetition_penalty": 1.5, "top_k": 3,
                        "logit_bias": {"8": 3.0}, "min_tokens": 50}))
    specs.append(("everything", normal(500, 2.5), tokens(500, 40), tokens(500, 25), [0, 1],
                  {"temperature": 0.6, "top_k": 40, "top_p": 0.95, "min_p": 0.02,
                   "typical_p": 0.9, "repetition_penalty": 1.1, "presence_penalty": 0.2,
                   "frequency_penalty": 0.1, "logit_bias": {"10": 2.0, "20": -3.0},
                   "min_tokens": 30, "stop_token_ids": [499]}))
    # Ties: logits on a coarse grid, so the cuts of top_k and top_p fall inside runs of equal
    # values (transformers keeps every tie at top_k's cut; top_p keeps the higher ids first).
    ties = (np.round(normal(200, 1.5) * 2.0) / 2.0).astype(np.float32)
    specs.append(("ties_top_k_7", ties, [], [], [0], {"top_k": 7}))
    specs.append(("ties_top_p_0.5", ties, [], [], [0], {"top_p": 0.5}))
    specs.append(("ties_top_p_0.8_min_p_0.2", ties, [], [], [0], {"top_p": 0.8, "min_p": 0.2}))
    specs.append(("ties_typical_p_0.6", ties, [], [], [0], {"typical_p": 0.6}))

    cases = []
    for name, logits, prompt, output, eos, params in specs:
        expected = process(logits, prompt, output, eos, params)
        cases.append({
            "name": name,
            "logits": as_json_floats(logits),
            "prompt": prompt,
            "output": output,
            "eos": eos,
            "params": params,
            "expected": as_json_floats(expected),
        })
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()

    torch.manual_seed(SEED)
    header = {
        "generator": "tests/golden/sampling/make_fixtures.py",
        "seed": SEED,
        "versions": {name: importlib.metadata.version(name)
                     for name in ("torch", "transformers", "numpy")},
    }
    fixtures = {"header": header, "cases": make_cases(np.random.default_rng(SEED))}
    text = json.dumps(fixtures, sort_keys=True, separators=(",", ":"))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / OUT_FILE).write_text(text + "\n", encoding="utf-8")
    print(f"wrote {len(fixtures['cases'])} cases to {args.out / OUT_FILE}")


if __name__ == "__main__":
    main()
