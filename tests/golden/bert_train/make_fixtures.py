"""Golden fixtures for training trustformers' BertForSequenceClassification: gradients and
optimizer steps computed by PyTorch + transformers, for the C++ model and Trainer to reproduce.

What it writes, next to this file (tests/golden/bert_train/):

  tiny/config.json, tiny/model.safetensors
      A tiny random BertForSequenceClassification (hidden 32, 2 layers, 4 heads, intermediate
      64, vocab 64, 32 positions, 2 token types, 3 labels, GELU (erf), LayerNorm eps 1e-12,
      dropout 0, eager attention), initialised by transformers after torch.manual_seed(0) with
      initializer_range 0.2 (not 0.02, so that attention and gradients are far from trivial),
      written by `save_pretrained` (float32, HF tensor names, e.g. "bert.pooler.dense.weight").
  tiny_batch.json
      One batch of 3 rows (lengths 7, 5, 3, right-padded with id 0 to 7; the first row is a
      sentence pair, token type 1 on its second segment), attention_mask, labels [2, 0, 1], and
      what the model gives in train mode: `logits` [3][3] and `loss` (transformers' own
      single-label loss: mean cross entropy over the 3 rows).
  tiny_grads.safetensors
      d loss / d parameter for every named parameter of the tiny model, under its HF name (the
      same names as in tiny/model.safetensors), float32. Rows of the embeddings that the batch
      does not touch have zero gradient; the key biases' gradient is zero in exact arithmetic
      (softmax ignores a shift shared by a row), so what is stored there is rounding noise
      (~1e-9): compare with an absolute tolerance. The script checks these numbers against a
      plain re-implementation (`plain_bert` below: embeddings, post-LN encoder, -1e9 additive
      mask, tanh pooler on [CLS], linear head, mean cross entropy), which the C++ model follows.
  minilm_head_init.safetensors
      `classifier.weight` [4, 384] and `classifier.bias` [4] that transformers initialised at
      random (torch.manual_seed(1234) right before from_pretrained) when all-minilm-l6-v2 was
      loaded as BertForSequenceClassification(num_labels=4). Everything else, pooler included,
      comes from the checkpoint.
  minilm_steps.json
      20 optimizer steps fine-tuning that model on texts.jsonl (committed, 160 sentences in 4
      classes): the recipe (`settings`), every batch (input_ids, token_type_ids, attention_mask,
      labels) and per step the loss, the gradient norm clip_grad_norm_ returned (before
      clipping) and the learning rate the step used; then `final_param_stats`: for every
      parameter (HF name) the sum and the sum of absolute values after step 20, accumulated in
      float64 over the float32 values.
  minilm_final_head.safetensors
      `classifier.weight` and `classifier.bias` after the 20 steps.

The recipe of the 20 steps (what the C++ Trainer must do to match):
  * model: all-minilm-l6-v2 as BertForSequenceClassification, num_labels 4, hidden and attention
    dropout 0, eager attention, float32, model.train(); head from minilm_head_init.safetensors.
  * data: texts.jsonl in file order, no shuffle, batches of 8 (20 batches); labels are indices in
    sorted label-name order (computing 0, cooking 1, sports 2, weather 3); tokenizer.json of the
    model, [CLS] text [SEP], truncation to 32 tokens, right-padded with [PAD] (0) to the longest
    row of the batch; token type ids all 0.
  * loss: mean cross entropy over the batch (transformers' single_label_classification loss).
  * gradient clipping: torch.nn.utils.clip_grad_norm_(params, 1.0): total = L2 norm of all
    gradients together; if total > 1 every gradient is multiplied by 1.0 / (total + 1e-6).
  * optimizer: torch.optim.AdamW, lr 1e-4, betas (0.9, 0.999), eps 1e-8; two groups, Hugging
    Face's rule: a parameter whose name contains "bias" or "LayerNorm.weight" has weight decay
    0.0, every other one 0.01. (Decoupled decay: p -= lr * wd * p before the Adam update.)
  * schedule: transformers.get_linear_schedule_with_warmup(opt, 2, 20): step k (0-based) uses
    lr = 1e-4 * k / 2 for k < 2 (so step 0 runs with lr 0, which still updates the Adam moments
    and the step count), else 1e-4 * (20 - k) / 18.
  * order per step: zero grads, forward, loss.backward(), clip, optimizer.step(), scheduler.step().

Attention masking: transformers adds finfo(float32).min to the scores of padded keys; the C++
side adds -1e9. Both give exactly zero probability to padded keys here (exp underflows), so
the results agree.

How to run (offline: only local files are read; nothing is downloaded):

    scripts/setup-ref-venv.sh
    $HOME/.cache/trustformers/ref-venv/bin/python tests/golden/bert_train/make_fixtures.py

`make fixtures` runs it too. The model folder defaults to $TRUSTFORMERS_HOME/all-minilm-l6-v2
(else ~/.cache/trustformers/models/all-minilm-l6-v2); `--model-dir DIR` overrides it, `--out
DIR` the output folder. One thread, deterministic algorithms: running it twice gives
byte-identical files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path

# Offline before any Hugging Face import: everything comes from local files.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import safetensors  # noqa: E402
import tokenizers  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from transformers import (BertConfig, BertForSequenceClassification,  # noqa: E402
                          get_linear_schedule_with_warmup)

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]

# ---------------------------------------------------------------------------------------------
# (a) The tiny model.
TINY_SEED = 0
TINY_CONFIG = dict(
    hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
    vocab_size=64, max_position_embeddings=32, type_vocab_size=2, num_labels=3,
    layer_norm_eps=1e-12, hidden_act="gelu", hidden_dropout_prob=0.0,
    attention_probs_dropout_prob=0.0, pad_token_id=0,
    # Not transformers' default 0.02: with weights that small every attention row is nearly
    # uniform, the three rows give almost the same logits and the encoder's gradients are ~1e-6,
    # so a fixture would barely tell a wrong attention or mask from a right one. With 0.2 the
    # attention is peaked (max probability ~0.8), the logits differ and the gradients are ~0.1.
    # Only the initial values depend on it; the C++ side loads them from tiny/model.safetensors.
    initializer_range=0.2)
# Rows of lengths 7, 5, 3 ([CLS]=2 ... [SEP]=3 in this made-up vocabulary), right-padded with 0.
# Row 0 is a pair: [CLS] a b [SEP] c d [SEP], token type 1 on "c d [SEP]".
TINY_INPUT_IDS = [
    [2, 17, 41, 3, 9, 58, 3],
    [2, 33, 5, 62, 3, 0, 0],
    [2, 47, 3, 0, 0, 0, 0],
]
TINY_TOKEN_TYPE_IDS = [
    [0, 0, 0, 0, 1, 1, 1],
    [0, 0, 0, 0, 0, 0, 0],
    [0, 0, 0, 0, 0, 0, 0],
]
TINY_LENGTHS = [7, 5, 3]
TINY_LABELS = [2, 0, 1]

# ---------------------------------------------------------------------------------------------
# (b) The 20 steps on all-minilm-l6-v2.
MINILM_SEED = 1234
NUM_STEPS = 20
BATCH_SIZE = 8
MAX_LENGTH = 32
LR = 1e-4
BETAS = (0.9, 0.999)
EPS = 1e-8
WEIGHT_DECAY = 0.01
WARMUP_STEPS = 2
MAX_GRAD_NORM = 1.0
HEAD_TENSORS = ("classifier.weight", "classifier.bias")


def floats(t: torch.Tensor) -> list:
    """Nested lists of the float32 values, each written exactly (as the float64 it equals)."""
    return t.detach().to(torch.float64).tolist()


def write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, separators=(",", ":")) + "\n", encoding="utf-8")
    report(path)


def report(path: Path) -> None:
    shown = path.relative_to(REPO) if path.is_relative_to(REPO) else path
    print(f"make_fixtures: wrote {shown} ({path.stat().st_size} bytes)")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def versions() -> dict:
    return {"python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
            "safetensors": safetensors.__version__}


def save_tensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    save_file({k: v.detach().contiguous().clone() for k, v in sorted(tensors.items())},
              str(path), metadata={"format": "pt"})
    os.chmod(path, 0o644)
    report(path)


def no_decay(name: str) -> bool:
    """Hugging Face's rule: no weight decay for biases and LayerNorm weights."""
    return "bias" in name or "LayerNorm.weight" in name


# ---------------------------------------------------------------------------------------------
def make_tiny(out: Path) -> dict:
    torch.manual_seed(TINY_SEED)
    config = BertConfig(**TINY_CONFIG, attn_implementation="eager")
    model = BertForSequenceClassification(config)
    assert model.config._attn_implementation == "eager"
    assert all(p.dtype == torch.float32 for p in model.parameters())

    # save_pretrained, then keep config.json and model.safetensors only.
    tiny = out / "tiny"
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tiny.mkdir(parents=True, exist_ok=True)
        for name in ("config.json", "model.safetensors"):
            shutil.copyfile(Path(tmp) / name, tiny / name)
            os.chmod(tiny / name, 0o644)
            report(tiny / name)
    saved = load_file(str(tiny / "model.safetensors"))
    params = dict(model.named_parameters())
    assert sorted(saved) == sorted(params), (sorted(saved), sorted(params))
    for name, p in params.items():
        assert torch.equal(saved[name], p.detach()), name

    input_ids = torch.tensor(TINY_INPUT_IDS)
    token_type_ids = torch.tensor(TINY_TOKEN_TYPE_IDS)
    attention_mask = torch.tensor([[1] * n + [0] * (len(TINY_INPUT_IDS[0]) - n)
                                   for n in TINY_LENGTHS])
    assert torch.equal(input_ids == 0, attention_mask == 0)
    labels = torch.tensor(TINY_LABELS)

    model.train()
    model.zero_grad(set_to_none=True)
    output = model(input_ids=input_ids, token_type_ids=token_type_ids,
                   attention_mask=attention_mask, labels=labels)
    assert model.config.problem_type == "single_label_classification"
    check = torch.nn.functional.cross_entropy(output.logits, labels)
    assert torch.equal(check, output.loss), (check, output.loss)
    output.loss.backward()
    grads = {}
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        grads[name] = p.grad
    save_tensors(grads, out / "tiny_grads.safetensors")

    write_json(out / "tiny_batch.json", {
        "header": {
            "generator": "tests/golden/bert_train/make_fixtures.py",
            "versions": versions(),
            "seed": TINY_SEED,
            "initializer_range": TINY_CONFIG["initializer_range"],
            "model": "tiny/ (save_pretrained of a random BertForSequenceClassification)",
            "settings": {"mode": "train (dropout 0)", "attn_implementation": "eager",
                         "loss": "mean cross entropy (single_label_classification)",
                         "dtype": "float32", "torch_num_threads": torch.get_num_threads()},
            "sha256": {"tiny/config.json": sha256_file(tiny / "config.json"),
                       "tiny/model.safetensors": sha256_file(tiny / "model.safetensors"),
                       "tiny_grads.safetensors": sha256_file(out / "tiny_grads.safetensors")},
        },
        "input_ids": TINY_INPUT_IDS,
        "token_type_ids": TINY_TOKEN_TYPE_IDS,
        "attention_mask": attention_mask.tolist(),
        "labels": TINY_LABELS,
        "loss": float(output.loss.detach()),
        "logits": floats(output.logits),
    })
    diffs = check_plain_bert(model, input_ids, token_type_ids, attention_mask, labels,
                             output.logits.detach(), grads)
    return {"loss": float(output.loss.detach()),
            "params": sum(p.numel() for p in params.values()), **diffs}


def plain_bert(p: dict, config: BertConfig, input_ids, token_type_ids, attention_mask, labels):
    """BertForSequenceClassification in plain torch ops, with the -1e9 additive mask."""
    F = torch.nn.functional
    H, heads = config.hidden_size, config.num_attention_heads
    d = H // heads
    B, T = input_ids.shape
    eps = config.layer_norm_eps

    def linear(x, name):
        return F.linear(x, p[name + ".weight"], p[name + ".bias"])

    def norm(x, name):
        return F.layer_norm(x, (H,), p[name + ".weight"], p[name + ".bias"], eps)

    e = "bert.embeddings."
    x = (p[e + "word_embeddings.weight"][input_ids]
         + p[e + "position_embeddings.weight"][torch.arange(T)][None]
         + p[e + "token_type_embeddings.weight"][token_type_ids])
    x = norm(x, e + "LayerNorm")
    mask = torch.where(attention_mask.bool(), 0.0, -1e9)[:, None, None, :]
    for i in range(config.num_hidden_layers):
        L = f"bert.encoder.layer.{i}."

        def split(t):
            return t.reshape(B, T, heads, d).transpose(1, 2)

        q = split(linear(x, L + "attention.self.query"))
        k = split(linear(x, L + "attention.self.key"))
        v = split(linear(x, L + "attention.self.value"))
        probs = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d) + mask, dim=-1)
        ctx = (probs @ v).transpose(1, 2).reshape(B, T, H)
        x = norm(linear(ctx, L + "attention.output.dense") + x, L + "attention.output.LayerNorm")
        inner = F.gelu(linear(x, L + "intermediate.dense"))  # erf GELU
        x = norm(linear(inner, L + "output.dense") + x, L + "output.LayerNorm")
    pooled = torch.tanh(linear(x[:, 0], "bert.pooler.dense"))
    logits = linear(pooled, "classifier")
    return logits, F.cross_entropy(logits, labels)


def check_plain_bert(model, input_ids, token_type_ids, attention_mask, labels, logits,
                     grads) -> dict:
    params = {n: p.detach().clone().requires_grad_() for n, p in model.named_parameters()}
    plain_logits, loss = plain_bert(params, model.config, input_ids, token_type_ids,
                                    attention_mask, labels)
    loss.backward()
    logit_diff = float((plain_logits.detach() - logits).abs().max())
    grad_diff = max(float((params[n].grad - g).abs().max()) for n, g in grads.items())
    assert logit_diff < 1e-5 and grad_diff < 1e-5, (logit_diff, grad_diff)
    return {"plain_logit_diff": logit_diff, "plain_grad_diff": grad_diff}


# ---------------------------------------------------------------------------------------------
def read_texts(path: Path) -> tuple[list[str], list[int], list[str]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    names = sorted({r["label"] for r in rows})
    index = {n: i for i, n in enumerate(names)}
    return [r["text"] for r in rows], [index[r["label"]] for r in rows], names


def make_batches(model_dir: Path, texts: list[str], labels: list[int]) -> list[dict]:
    tok = tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.enable_truncation(max_length=MAX_LENGTH)
    tok.enable_padding(direction="right", pad_id=0, pad_type_id=0, pad_token="[PAD]")
    batches = []
    for step in range(NUM_STEPS):
        lo = step * BATCH_SIZE
        encodings = tok.encode_batch(texts[lo:lo + BATCH_SIZE])
        batches.append({
            "input_ids": [e.ids for e in encodings],
            "token_type_ids": [e.type_ids for e in encodings],
            "attention_mask": [e.attention_mask for e in encodings],
            "labels": labels[lo:lo + BATCH_SIZE],
        })
    # The same ids as transformers' tokenizer with the usual call.
    auto = transformers.AutoTokenizer.from_pretrained(str(model_dir))
    for step, batch in enumerate(batches):
        lo = step * BATCH_SIZE
        enc = auto(texts[lo:lo + BATCH_SIZE], truncation=True, max_length=MAX_LENGTH,
                   padding="longest")
        for key in ("input_ids", "token_type_ids", "attention_mask"):
            assert enc[key] == batch[key], (step, key)
    return batches


def make_minilm(model_dir: Path, out: Path) -> dict:
    texts, labels, names = read_texts(HERE / "texts.jsonl")
    assert len(texts) >= NUM_STEPS * BATCH_SIZE, len(texts)
    batches = make_batches(model_dir, texts, labels)

    torch.manual_seed(MINILM_SEED)
    model = BertForSequenceClassification.from_pretrained(
        str(model_dir), num_labels=len(names), id2label=dict(enumerate(names)),
        label2id={n: i for i, n in enumerate(names)}, hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0, attn_implementation="eager",
        dtype=torch.float32)
    assert model.config._attn_implementation == "eager"
    assert all(p.dtype == torch.float32 for p in model.parameters())
    params = dict(model.named_parameters())
    # Everything but the head comes from the checkpoint (its names have no "bert." prefix).
    base = load_file(str(model_dir / "model.safetensors"))
    for name, p in params.items():
        if name not in HEAD_TENSORS:
            assert torch.equal(p.detach(), base[name.removeprefix("bert.")]), name
    save_tensors({n: params[n] for n in HEAD_TENSORS}, out / "minilm_head_init.safetensors")

    decay = [n for n in params if not no_decay(n)]
    plain = [n for n in params if no_decay(n)]
    optimizer = torch.optim.AdamW(
        [{"params": [params[n] for n in decay], "weight_decay": WEIGHT_DECAY},
         {"params": [params[n] for n in plain], "weight_decay": 0.0}],
        lr=LR, betas=BETAS, eps=EPS, weight_decay=WEIGHT_DECAY, foreach=False)
    scheduler = get_linear_schedule_with_warmup(optimizer, WARMUP_STEPS, NUM_STEPS)

    model.train()
    steps = []
    for step, batch in enumerate(batches):
        lr = scheduler.get_last_lr()[0]
        assert all(g["lr"] == lr for g in optimizer.param_groups)
        optimizer.zero_grad(set_to_none=True)
        output = model(input_ids=torch.tensor(batch["input_ids"]),
                       token_type_ids=torch.tensor(batch["token_type_ids"]),
                       attention_mask=torch.tensor(batch["attention_mask"]),
                       labels=torch.tensor(batch["labels"]))
        output.loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM,
                                                   foreach=False)
        optimizer.step()
        scheduler.step()
        steps.append({"step": step, "lr": lr, "loss": float(output.loss.detach()),
                      "grad_norm": float(grad_norm)})
        print(f"make_fixtures: step {step:2d} lr {lr:.3e} loss {float(output.loss.detach()):.6f} "
              f"grad_norm {float(grad_norm):.4f}")

    save_tensors({n: params[n] for n in HEAD_TENSORS}, out / "minilm_final_head.safetensors")
    stats = {n: {"sum": float(p.detach().to(torch.float64).sum()),
                 "abs_sum": float(p.detach().to(torch.float64).abs().sum()),
                 "shape": list(p.shape)}
             for n, p in params.items()}
    write_json(out / "minilm_steps.json", {
        "header": {
            "generator": "tests/golden/bert_train/make_fixtures.py",
            "versions": versions(),
            "model": "all-minilm-l6-v2 (sentence-transformers all-MiniLM-L6-v2, BERT 6 layers, "
                     "384 hidden) as BertForSequenceClassification",
            "sha256": {
                "model.safetensors": sha256_file(model_dir / "model.safetensors"),
                "tokenizer.json": sha256_file(model_dir / "tokenizer.json"),
                "texts.jsonl": sha256_file(HERE / "texts.jsonl"),
                "minilm_head_init.safetensors": sha256_file(out / "minilm_head_init.safetensors"),
                "minilm_final_head.safetensors":
                    sha256_file(out / "minilm_final_head.safetensors"),
            },
        },
        "settings": {
            "seed_before_from_pretrained": MINILM_SEED,
            "num_labels": len(names),
            "id2label": dict(enumerate(names)),
            "hidden_dropout_prob": 0.0,
            "attention_probs_dropout_prob": 0.0,
            "attn_implementation": "eager",
            "dtype": "float32",
            "mode": "train",
            "data": "texts.jsonl in file order, no shuffle",
            "batch_size": BATCH_SIZE,
            "steps": NUM_STEPS,
            "tokenizer": "tokenizer.json; truncation max_length 32; right padding with 0 to the "
                         "longest row of the batch",
            "max_length": MAX_LENGTH,
            "loss": "mean cross entropy (single_label_classification)",
            "optimizer": {"name": "torch.optim.AdamW", "lr": LR, "betas": list(BETAS),
                          "eps": EPS, "amsgrad": False, "foreach": False,
                          "weight_decay": WEIGHT_DECAY,
                          "no_decay_rule": "name contains 'bias' or 'LayerNorm.weight' -> "
                                           "weight_decay 0.0",
                          "no_decay_params": plain},
            "schedule": {"name": "get_linear_schedule_with_warmup",
                         "num_warmup_steps": WARMUP_STEPS, "num_training_steps": NUM_STEPS,
                         "lr_of_step_k": "lr * k / warmup if k < warmup else "
                                         "lr * max(0, (total - k) / (total - warmup))"},
            "clip_grad_norm": {"max_norm": MAX_GRAD_NORM, "norm_type": 2.0,
                               "coef": "min(1, max_norm / (total_norm + 1e-6))"},
            "step_order": "zero_grad, forward, backward, clip_grad_norm_, optimizer.step, "
                          "scheduler.step",
            "torch_num_threads": torch.get_num_threads(),
            "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        },
        "batches": batches,
        "steps": steps,
        "final_param_stats": stats,
    })
    return {"first_loss": steps[0]["loss"], "last_loss": steps[-1]["loss"]}


def default_model_dir() -> Path:
    home = os.environ.get("TRUSTFORMERS_HOME")
    root = Path(home) if home else Path.home() / ".cache" / "trustformers" / "models"
    return root / "all-minilm-l6-v2"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-dir", type=Path, default=default_model_dir())
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()
    model_dir = args.model_dir.resolve()
    out = args.out.resolve()
    if not (model_dir / "model.safetensors").is_file():
        print(f"make_fixtures: no model.safetensors in {model_dir}; run scripts/fetch-models.sh",
              file=sys.stderr)
        return 1
    out.mkdir(parents=True, exist_ok=True)

    # One thread and deterministic kernels, so a rerun gives byte-identical files.
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.set_default_dtype(torch.float32)
    transformers.logging.set_verbosity_error()

    tiny = make_tiny(out)
    minilm = make_minilm(model_dir, out)
    assert math.isfinite(tiny["loss"]) and math.isfinite(minilm["last_loss"])
    print(f"make_fixtures: tiny model ({tiny['params']} parameters) loss {tiny['loss']:.6f}, "
          f"vs plain torch with a -1e9 mask: logits {tiny['plain_logit_diff']:.2g}, "
          f"grads {tiny['plain_grad_diff']:.2g}; "
          f"minilm 20 steps loss {minilm['first_loss']:.6f} -> {minilm['last_loss']:.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
