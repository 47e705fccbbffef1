"""Golden fixtures for trustformers' training core (models/nn/): what PyTorch autograd and
torch.optim compute on small seeded inputs.

What it writes, next to this file (tests/golden/nn/):

  grads.json
      A `header` (versions, seed) and `cases`: each names an op or layer (`op`), its `inputs`
      (shape, float32 values, whether it requires a gradient), op `args`, the upstream weights
      `upstream` (the loss is sum(output * upstream), or the output itself for losses), the
      `output` and the `grads` of every input that requires one.

  optim.json
      `cases`: an optimizer (SGD with momentum / Nesterov / weight decay, Adam, AdamW with a
      no-decay group for the bias) with a learning-rate schedule, run for 50 steps on a small
      least-squares problem with gradient clipping by global norm; the initial parameters, the
      data, and the parameters after every 10 steps.

How to run (offline; nothing is downloaded):

    scripts/setup-ref-venv.sh
    $HOME/.cache/trustformers/ref-venv/bin/python tests/golden/nn/make_fixtures.py

`--out DIR` changes the output folder. The run is deterministic: running it twice gives
byte-identical files.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
SEED = 20251129


def values(t: torch.Tensor) -> list[float]:
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def tensor_json(t: torch.Tensor, requires_grad: bool) -> dict:
    return {"shape": list(t.shape), "values": values(t), "requires_grad": requires_grad}


def grad_case(gen: torch.Generator, op: str, shapes: list, fn, args=None, no_grad=(), loss=False,
              scale=1.0):
    inputs = []
    for i, shape in enumerate(shapes):
        t = (torch.randn(shape, generator=gen) * scale).float()
        inputs.append(t.requires_grad_(i not in no_grad))
    out = fn(*inputs)
    upstream = None
    if loss:
        total = out
    else:
        upstream = torch.randn(out.shape, generator=gen)
        total = (out * upstream).sum()
    total.backward()
    return {
        "op": op,
        "args": args or {},
        "inputs": [tensor_json(t, t.requires_grad) for t in inputs],
        "upstream": None if upstream is None else values(upstream),
        "output": tensor_json(out, False),
        "grads": [values(t.grad) if t.requires_grad else None for t in inputs],
    }


def attention(q, k, v, keep, scale):
    mask = torch.where(keep, 0.0, -1e9)[:, None, None, :]
    scores = q @ k.transpose(-2, -1) * scale + mask
    return torch.softmax(scores, dim=-1) @ v


def grad_cases() -> list[dict]:
    gen = torch.Generator().manual_seed(SEED)
    keep = torch.tensor([[True, True, True, False, False], [True, True, True, True, True]])
    ids = [3, 0, 3, 5, 1]
    targets = [2, -100, 0, 4, 4, 1]
    mlp_targets = [1, 0, 2, 2]
    cases = [
        grad_case(gen, "add", [[2, 3, 4], [3, 1]], torch.add),
        grad_case(gen, "sub", [[4], [2, 4]], torch.sub),
        grad_case(gen, "mul", [[2, 1, 4], [3, 4]], torch.mul),
        grad_case(gen, "broadcast_to", [[3, 1]], lambda x: x.broadcast_to(2, 3, 4),
                  {"shape": [2, 3, 4]}),
        grad_case(gen, "affine", [[5]], lambda x: x * -1.5 + 0.25),
        grad_case(gen, "reshape", [[2, 6]], lambda x: x.reshape(3, 4), {"shape": [3, 4]}),
        grad_case(gen, "transpose", [[2, 3, 4]], lambda x: x.transpose(0, 2), {"dims": [0, 2]}),
        grad_case(gen, "index", [[6, 4]], lambda x: x[ids], {"ids": ids}),
        grad_case(gen, "stack", [[2, 3], [2, 3]], lambda a, b: torch.stack([a, b, a])),
        grad_case(gen, "matmul", [[5, 7], [7, 3]], torch.matmul),
        grad_case(gen, "matmul", [[2, 5, 7], [2, 7, 3]], torch.matmul),
        grad_case(gen, "matmul", [[2, 5, 7], [7, 3]], torch.matmul),
        grad_case(gen, "linear", [[2, 3, 8], [6, 8], [6]], F.linear),
        grad_case(gen, "relu", [[4, 9]], F.relu),
        grad_case(gen, "gelu", [[4, 9]], F.gelu, scale=2.0),
        grad_case(gen, "softmax", [[2, 3, 7]], lambda x: torch.softmax(x, -1)),
        grad_case(gen, "log_softmax", [[5, 7]], lambda x: torch.log_softmax(x, -1)),
        grad_case(gen, "layer_norm", [[2, 3, 16], [16], [16]],
                  lambda x, w, b: F.layer_norm(x, (16,), w, b, 1e-12), {"eps": 1e-12}),
        grad_case(gen, "attention", [[2, 3, 5, 4], [2, 3, 5, 4], [2, 3, 5, 4]],
                  lambda q, k, v: attention(q, k, v, keep, 0.5),
                  {"keep": keep.tolist(), "scale": 0.5}),
        grad_case(gen, "sum", [[3, 4]], torch.sum, loss=True),
        grad_case(gen, "mean", [[3, 4]], torch.mean, loss=True),
        grad_case(gen, "cross_entropy", [[6, 5]],
                  lambda x: F.cross_entropy(x, torch.tensor(targets), label_smoothing=0.1),
                  {"targets": targets, "ignore_index": -100, "label_smoothing": 0.1}, loss=True),
        grad_case(gen, "cross_entropy", [[6, 5]],
                  lambda x: F.cross_entropy(x, torch.tensor(targets)),
                  {"targets": targets, "ignore_index": -100, "label_smoothing": 0.0}, loss=True),
        grad_case(gen, "mse_loss", [[3, 4], [3, 4]], F.mse_loss, loss=True),
        # A layer stack: Linear -> GELU -> LayerNorm -> Linear -> cross entropy.
        grad_case(gen, "mlp", [[4, 6], [8, 6], [8], [8], [8], [3, 8], [3]],
                  lambda x, w1, b1, g, beta, w2, b2: F.cross_entropy(
                      F.linear(F.layer_norm(F.gelu(F.linear(x, w1, b1)), (8,), g, beta), w2, b2),
                      torch.tensor(mlp_targets)),
                  {"targets": mlp_targets}, loss=True),
    ]
    return cases


def lr_factor(kind: str, step: int, warmup: int, total: int) -> float:
    if kind == "constant":
        return 1.0
    if step < warmup:
        return step / max(1, warmup)
    if kind == "linear":
        return max(0.0, (total - step) / max(1, total - warmup))
    progress = (step - warmup) / max(1, total - warmup)
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * 0.5 * 2.0 * progress)))


def optim_case(gen: torch.Generator, name: str, make, schedule: str, max_norm: float) -> dict:
    w = torch.randn(4, 3, generator=gen).requires_grad_()
    b = torch.randn(4, generator=gen).requires_grad_()
    x = torch.randn(8, 3, generator=gen)
    y = torch.randn(8, 4, generator=gen)
    init = {"w": values(w), "b": values(b)}
    opt = make(w, b)
    steps, warmup = 50, 5
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: lr_factor(schedule, s, warmup, steps))
    snapshots = []
    for step in range(1, steps + 1):
        opt.zero_grad()
        loss = F.mse_loss(F.linear(x, w, b), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([w, b], max_norm, foreach=False)
        opt.step()
        sched.step()
        if step % 10 == 0:
            snapshots.append({"step": step, "w": values(w), "b": values(b)})
    return {"name": name, "schedule": schedule, "warmup": warmup, "steps": steps,
            "max_norm": max_norm, "init": init, "x": values(x), "y": values(y),
            "snapshots": snapshots}


def optim_cases() -> list[dict]:
    gen = torch.Generator().manual_seed(SEED + 1)
    O = torch.optim
    return [
        optim_case(gen, "sgd", lambda w, b: O.SGD([w, b], lr=0.1, foreach=False),
                   "constant", 1e9),
        optim_case(gen, "sgd_momentum", lambda w, b: O.SGD(
            [w, b], lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01, foreach=False),
            "cosine", 1.0),
        optim_case(gen, "sgd_nesterov", lambda w, b: O.SGD(
            [w, b], lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01, foreach=False),
            "linear", 0.5),
        optim_case(gen, "adam", lambda w, b: O.Adam(
            [w, b], lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1, foreach=False),
            "linear", 1.0),
        optim_case(gen, "adamw", lambda w, b: O.AdamW(
            [{"params": [w]}, {"params": [b], "weight_decay": 0.0}], lr=0.03,
            weight_decay=0.05, foreach=False), "cosine", 0.7),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    header = {"torch": torch.__version__, "seed": SEED}
    args.out.mkdir(parents=True, exist_ok=True)
    for file, cases in (("grads.json", grad_cases()), ("optim.json", optim_cases())):
        with open(args.out / file, "w") as f:
            json.dump({"header": header, "cases": cases}, f, separators=(",", ":"))
            f.write("\n")
        print(f"wrote {args.out / file}: {len(cases)} cases")


if __name__ == "__main__":
    main()
