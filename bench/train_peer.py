"""The PyTorch peer of trustformers' fine-tuning (BertForSequenceClassification + Trainer): the
same model, batch shapes and recipe in PyTorch + transformers, run in the reference virtualenv.
Prints one JSON line.

  --task speed
      Training throughput: all-minilm-l6-v2 as BertForSequenceClassification (6 labels), batch
      32 x 64 tokens (every row padded to 64), train mode with the config's dropout (0.1),
      AdamW lr 5e-5 (weight decay 0.01, none for biases and LayerNorm weights), clip_grad_norm_
      1.0, one optimizer step per batch; --warmup-steps untimed steps, then --steps timed ones.
      The token ids come from tokenizing --texts (the WordNet training file of
      bench/wordnet/make_dataset.py) when it exists, else random word-piece ids (seeded) with
      [CLS]/[SEP] and lengths 16..64. Prints
      {"peer": "pytorch", "torch": ..., "threads": N, "samples_per_s": ..., "step_ms_p50": ...,
       ...}; samples_per_s = batch * steps / (time of the timed steps).

  --task wordnet --train FILE --test FILE
      Accuracy of the recipe the C++ Trainer runs: texts -> tokenizer.json of the model,
      truncation to --max-length 64, padding to the longest row of the batch (--pad max_length:
      to 64); labels = indices of the sorted label names of the training file; batch 32,
      --epochs 1, shuffled every epoch (torch.randperm with a generator seeded 42; the last
      batch may be short); torch.manual_seed(42) before loading (the classifier head's init);
      train mode with the config's dropout; AdamW lr 5e-5, betas (0.9, 0.999), eps 1e-8, weight
      decay 0.01 except for parameters whose name contains "bias" or "LayerNorm.weight";
      transformers' get_linear_schedule_with_warmup with ceil(10% of the optimizer steps) warmup
      steps; clip_grad_norm_ 1.0; then test accuracy and macro-F1 (mean over the classes of
      2TP / (2TP + FP + FN)) in eval mode. Prints accuracy, macro_f1, train_seconds (the
      training loop only, tokenization excluded), samples_per_s (training examples x epochs /
      train_seconds) and the mean training loss of the last 10 steps.

How to run (offline; the model folder is $TRUSTFORMERS_HOME/all-minilm-l6-v2, else
~/.cache/trustformers/models/all-minilm-l6-v2, or --model-dir):

    py=$HOME/.cache/trustformers/ref-venv/bin/python
    python3 bench/wordnet/make_dataset.py
    $py bench/train_peer.py --task speed --threads 2
    $py bench/train_peer.py --task wordnet --train build/wordnet/train.jsonl \\
        --test build/wordnet/test.jsonl --threads 2

--limit N keeps the first N lines of each of the train and test files (a quick check).
Everything is seeded: the wordnet task gives the same numbers on every run with the same
thread count (times aside). With the defaults on the full WordNet files (3000 train, 600 test,
6 classes, 94 optimizer steps, 10 warmup), torch 2.15 / transformers 5.24, 2 threads, sdpa:
accuracy 0.915, macro-F1 0.9145.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import tokenizers  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import (BertForSequenceClassification,  # noqa: E402
                          get_linear_schedule_with_warmup)

REPO = Path(__file__).resolve().parents[1]


def default_model_dir() -> Path:
    home = os.environ.get("TRUSTFORMERS_HOME")
    root = Path(home) if home else Path.home() / ".cache" / "trustformers" / "models"
    return root / "all-minilm-l6-v2"


def log(message: str) -> None:
    print(f"train_peer: {message}", file=sys.stderr, flush=True)


def no_decay(name: str) -> bool:
    """Hugging Face's rule: no weight decay for biases and LayerNorm weights."""
    return "bias" in name or "LayerNorm.weight" in name


def load_model(model_dir: Path, num_labels: int, attn: str):
    model = BertForSequenceClassification.from_pretrained(
        str(model_dir), num_labels=num_labels, attn_implementation=attn, dtype=torch.float32)
    model.train()
    return model


def make_optimizer(model, lr: float, weight_decay: float):
    decay, plain = [], []
    for name, p in model.named_parameters():
        (plain if no_decay(name) else decay).append(p)
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": plain, "weight_decay": 0.0}],
                             lr=lr, betas=(0.9, 0.999), eps=1e-8)


def tokenizer(model_dir: Path, max_length: int, pad_to: int | None):
    tok = tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.enable_truncation(max_length=max_length)
    tok.enable_padding(direction="right", pad_id=0, pad_type_id=0, pad_token="[PAD]",
                       length=pad_to)
    return tok


def encode(tok, texts: list[str]) -> dict[str, torch.Tensor]:
    encodings = tok.encode_batch(texts)
    return {"input_ids": torch.tensor([e.ids for e in encodings]),
            "token_type_ids": torch.tensor([e.type_ids for e in encodings]),
            "attention_mask": torch.tensor([e.attention_mask for e in encodings])}


def read_jsonl(path: Path, limit: int | None) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                rows.append(json.loads(line))
            if limit is not None and len(rows) >= limit:
                break
    return rows


def train_step(model, optimizer, scheduler, batch: dict, labels: torch.Tensor,
               max_grad_norm: float) -> float:
    optimizer.zero_grad(set_to_none=True)
    output = model(**batch, labels=labels)
    output.loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    optimizer.step()
    if scheduler is not None:
        scheduler.step()
    return float(output.loss.detach())


# ---------------------------------------------------------------------------------------------
def task_speed(args) -> dict:
    num_labels, batch_size, seq_len = args.num_labels, args.batch_size, args.seq_len
    total = args.warmup_steps + args.steps
    gen = torch.Generator().manual_seed(args.seed)
    texts_path = args.texts
    if texts_path.is_file() and not args.full_rows:
        rows = read_jsonl(texts_path, batch_size * total)
        texts = [r["text"] for r in rows]
        while len(texts) < batch_size * total:  # a small file: cycle it
            texts += texts[:batch_size * total - len(texts)]
        tok = tokenizer(args.model_dir, seq_len, seq_len)
        batches = [encode(tok, texts[i * batch_size:(i + 1) * batch_size]) for i in range(total)]
        source = str(texts_path)
    else:
        batches = []
        for _ in range(total):
            lengths = (torch.full((batch_size,), seq_len) if args.full_rows else
                       torch.randint(16, seq_len + 1, (batch_size,), generator=gen))
            ids = torch.randint(1000, 30000, (batch_size, seq_len), generator=gen)
            mask = (torch.arange(seq_len)[None, :] < lengths[:, None]).long()
            ids[:, 0] = 101  # [CLS]
            ids[torch.arange(batch_size), lengths - 1] = 102  # [SEP]
            ids = ids * mask
            batches.append({"input_ids": ids, "token_type_ids": torch.zeros_like(ids),
                            "attention_mask": mask})
        source = (f"random ids, every row {seq_len} real tokens (seed {args.seed})"
                  if args.full_rows else f"random ids (seed {args.seed})")
    labels = [torch.randint(0, num_labels, (batch_size,), generator=gen) for _ in range(total)]
    for b in batches:
        assert tuple(b["input_ids"].shape) == (batch_size, seq_len), b["input_ids"].shape

    torch.manual_seed(args.seed)
    model = load_model(args.model_dir, num_labels, args.attn)
    optimizer = make_optimizer(model, args.lr, args.weight_decay)
    times = []
    for i in range(total):
        begin = time.perf_counter()
        loss = train_step(model, optimizer, None, batches[i], labels[i], args.max_grad_norm)
        elapsed = time.perf_counter() - begin
        if i >= args.warmup_steps:
            times.append(elapsed)
        log(f"step {i} {'warmup' if i < args.warmup_steps else 'timed'} "
            f"{elapsed * 1e3:.0f} ms loss {loss:.4f}")
    return {
        "peer": "pytorch",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "threads": torch.get_num_threads(),
        "samples_per_s": batch_size * len(times) / sum(times),
        "step_ms_p50": statistics.median(times) * 1e3,
        "step_ms_min": min(times) * 1e3,
        "batch": batch_size,
        "seq_len": seq_len,
        "warmup_steps": args.warmup_steps,
        "steps": len(times),
        "attn_implementation": model.config._attn_implementation,
        "ids": source,
    }


# ---------------------------------------------------------------------------------------------
def macro_f1(predictions: list[int], targets: list[int], num_classes: int) -> float:
    scores = []
    for c in range(num_classes):
        tp = sum(1 for p, t in zip(predictions, targets) if p == c and t == c)
        fp = sum(1 for p, t in zip(predictions, targets) if p == c and t != c)
        fn = sum(1 for p, t in zip(predictions, targets) if p != c and t == c)
        scores.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return sum(scores) / num_classes


def task_wordnet(args) -> dict:
    train_rows = read_jsonl(args.train, args.limit)
    test_rows = read_jsonl(args.test, args.limit)
    names = sorted({r["label"] for r in train_rows})
    index = {n: i for i, n in enumerate(names)}
    unknown = sorted({r["label"] for r in test_rows} - set(names))
    if unknown:
        raise SystemExit(f"train_peer: test labels not in the training file: {unknown}")
    pad_to = args.max_length if args.pad == "max_length" else None
    tok = tokenizer(args.model_dir, args.max_length, pad_to)
    train_texts = [r["text"] for r in train_rows]
    train_labels = torch.tensor([index[r["label"]] for r in train_rows])

    torch.manual_seed(args.seed)
    model = load_model(args.model_dir, len(names), args.attn)
    optimizer = make_optimizer(model, args.lr, args.weight_decay)
    n = len(train_rows)
    steps_per_epoch = math.ceil(n / args.batch_size)
    total_steps = steps_per_epoch * args.epochs
    warmup = math.ceil(args.warmup_ratio * total_steps)
    scheduler = get_linear_schedule_with_warmup(optimizer, warmup, total_steps)
    shuffle = torch.Generator().manual_seed(args.seed)

    # The epochs' batches, tokenized before the clock starts (train_seconds is the training
    # loop only).
    plan = []
    for epoch in range(args.epochs):
        order = torch.randperm(n, generator=shuffle).tolist()
        for s in range(steps_per_epoch):
            rows = order[s * args.batch_size:(s + 1) * args.batch_size]
            plan.append((epoch, s, encode(tok, [train_texts[i] for i in rows]),
                         train_labels[rows]))

    losses = []
    begin = time.perf_counter()
    for epoch, s, batch, labels in plan:
        loss = train_step(model, optimizer, scheduler, batch, labels, args.max_grad_norm)
        losses.append(loss)
        if s % 10 == 0 or s == steps_per_epoch - 1:
            log(f"epoch {epoch} step {s + 1}/{steps_per_epoch} loss {loss:.4f} "
                f"({time.perf_counter() - begin:.0f} s)")
    train_seconds = time.perf_counter() - begin

    model.eval()
    predictions, targets = [], [index[r["label"]] for r in test_rows]
    with torch.no_grad():
        for s in range(0, len(test_rows), args.batch_size):
            batch = encode(tok, [r["text"] for r in test_rows[s:s + args.batch_size]])
            predictions += model(**batch).logits.argmax(-1).tolist()
    accuracy = sum(p == t for p, t in zip(predictions, targets)) / len(targets)
    return {
        "peer": "pytorch",
        "task": "wordnet",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "threads": torch.get_num_threads(),
        "train_examples": n,
        "test_examples": len(test_rows),
        "classes": names,
        "epochs": args.epochs,
        "optimizer_steps": total_steps,
        "warmup_steps": warmup,
        "accuracy": accuracy,
        "macro_f1": macro_f1(predictions, targets, len(names)),
        "train_seconds": train_seconds,
        "samples_per_s": n * args.epochs / train_seconds,
        "final_loss_mean10": statistics.fmean(losses[-10:]),
        "attn_implementation": model.config._attn_implementation,
        "pad": args.pad,
        "seed": args.seed,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", choices=("speed", "wordnet"), required=True)
    parser.add_argument("--model-dir", type=Path, default=default_model_dir())
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--max-grad-norm", type=float, default=1.0)
    parser.add_argument("--attn", default="sdpa", choices=("sdpa", "eager"),
                        help="attention implementation (default: transformers' default, sdpa)")
    parser.add_argument("--seed", type=int, default=42)
    speed = parser.add_argument_group("--task speed")
    speed.add_argument("--seq-len", type=int, default=64)
    speed.add_argument("--num-labels", type=int, default=6)
    speed.add_argument("--warmup-steps", type=int, default=2)
    speed.add_argument("--steps", type=int, default=10)
    speed.add_argument("--texts", type=Path, default=REPO / "build" / "wordnet" / "train.jsonl")
    speed.add_argument("--full-rows", action="store_true",
                       help="random ids, every row seq-len real tokens (no padding)")
    wordnet = parser.add_argument_group("--task wordnet")
    wordnet.add_argument("--train", type=Path)
    wordnet.add_argument("--test", type=Path)
    wordnet.add_argument("--max-length", type=int, default=64)
    wordnet.add_argument("--pad", choices=("longest", "max_length"), default="longest")
    wordnet.add_argument("--epochs", type=int, default=1)
    wordnet.add_argument("--warmup-ratio", type=float, default=0.1)
    wordnet.add_argument("--limit", type=int, default=None,
                         help="keep the first N lines of each of --train and --test")
    args = parser.parse_args()
    if not (args.model_dir / "model.safetensors").is_file():
        print(f"train_peer: no model.safetensors in {args.model_dir}; run "
              f"scripts/fetch-models.sh", file=sys.stderr)
        return 1
    torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()
    if args.task == "speed":
        result = task_speed(args)
    else:
        if args.train is None or args.test is None:
            parser.error("--task wordnet needs --train and --test")
        result = task_wordnet(args)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
