"""Fine-tuning, side by side on this machine in one run: trustformers against PyTorch +
transformers (bench/train_peer.py, in the reference virtualenv) on all-MiniLM-L6-v2 as a
6-class BertForSequenceClassification, 2 threads each.

  speed, WordNet rows   batch 32 x 64: WordNet noun glosses (bench/wordnet/make_dataset.py)
                        padded to 64 tokens, train mode with dropout, AdamW + clipping; samples/s
                        of the timed steps (bench/train_bench.cc against train_peer.py --task speed)
  speed, full rows      the same with random word-piece ids filling all 64 positions (no padding)
  WordNet task          the whole recipe: 1 epoch over 3000 glosses (batch 32, max length 64,
                        AdamW lr 5e-5, weight decay 0.01, 10% warmup, linear decay, clip 1.0,
                        seed 42), then accuracy and macro-F1 on 600 held-out glosses; ours through
                        `trustformers finetune`

Prints a Markdown table; with --markdown FILE rewrites that file's section."""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_report import machine_name, replace_section

ROOT = Path(__file__).resolve().parent.parent
MODELS = Path(os.environ.get("TRUSTFORMERS_HOME",
                             Path.home() / ".cache" / "trustformers" / "models"))
REF_PYTHON = Path(os.environ.get("TRUSTFORMERS_REF_VENV",
                                 Path.home() / ".cache" / "trustformers" / "ref-venv")) / "bin" / "python"
MODEL = MODELS / "all-minilm-l6-v2"


def run_json(command, env):
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(map(str, command))} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default="build")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10, help="timed steps of the speed tests")
    parser.add_argument("--markdown")
    args = parser.parse_args()
    if not REF_PYTHON.exists():
        sys.exit(f"{REF_PYTHON} missing: run scripts/setup-ref-venv.sh (make bench does)")
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "HF_HUB_OFFLINE": "1"}
    data = ROOT / args.build / "wordnet"
    subprocess.run([sys.executable, str(ROOT / "bench" / "wordnet" / "make_dataset.py"), "--out",
                    str(data)], check=True, capture_output=True)
    train, test = data / "train.jsonl", data / "test.jsonl"
    bench = str(ROOT / args.build / "bench" / "tf_bench_train")
    peer = [str(REF_PYTHON), str(ROOT / "bench" / "train_peer.py"), "--threads", str(args.threads)]
    common = ["--threads", str(args.threads), "--steps", str(args.steps)]

    speed = {}
    for name, ours_args, peer_args in [
            ("WordNet rows (padded to 64)", ["--texts", str(train)], ["--texts", str(train)]),
            ("full rows (64 real tokens)", ["--full-rows"], ["--full-rows"])]:
        ours = run_json([bench, "--model", str(MODEL), *common, *ours_args], env)
        theirs = run_json([*peer, "--task", "speed", "--steps", str(args.steps), *peer_args], env)
        speed[name] = (ours, theirs)

    with tempfile.TemporaryDirectory() as out:
        ours_task = run_json([str(ROOT / args.build / "server" / "trustformers"), "finetune",
                              "--base", str(MODEL), "--train", str(train), "--eval", str(test),
                              "--output", out, "--epochs", "1", "--batch-size", "32",
                              "--max-length", "64", "--learning-rate", "5e-5",
                              "--weight-decay", "0.01", "--warmup-ratio", "0.1",
                              "--max-grad-norm", "1.0", "--seed", "42", "--save-steps", "0",
                              "--threads", str(args.threads), "--quiet"], env)
    theirs_task = run_json([*peer, "--task", "wordnet", "--train", str(train), "--test",
                            str(test)], env)

    torch_version = speed["full rows (64 real tokens)"][1]["torch"]
    lines = [
        "| test | trustformers | PyTorch | ratio |",
        "|---|---:|---:|---:|",
    ]
    for name, (ours, theirs) in speed.items():
        lines.append(f"| samples/s, batch 32 x 64, {name} | {ours['samples_per_s']:.1f} | "
                     f"{theirs['samples_per_s']:.1f} | "
                     f"{ours['samples_per_s'] / theirs['samples_per_s']:.2f}x |")
    lines += [
        f"| WordNet task: training samples/s | {ours_task['samples_per_second']:.1f} | "
        f"{theirs_task['samples_per_s']:.1f} | "
        f"{ours_task['samples_per_second'] / theirs_task['samples_per_s']:.2f}x |",
        f"| WordNet task: test accuracy | {ours_task['eval']['accuracy']:.4f} | "
        f"{theirs_task['accuracy']:.4f} | |",
        f"| WordNet task: test macro-F1 | {ours_task['eval']['macro_f1']:.4f} | "
        f"{theirs_task['macro_f1']:.4f} | |",
        "",
        f"{machine_name()}, {args.threads} threads each; PyTorch {torch_version} with "
        f"transformers {speed['full rows (64 real tokens)'][1]['transformers']} "
        f"({speed['full rows (64 real tokens)'][1]['attn_implementation']} attention). "
        f"Speed: {args.steps} timed steps after 2 untimed ones. WordNet task: "
        f"{ours_task['steps']} optimizer steps over 3000 training glosses of 6 lexicographer "
        "classes, evaluated on 600 held-out ones (split by synset offset).",
    ]
    table = "\n".join(lines)
    print(table)
    if args.markdown:
        command = "make bench  (bench/train.py --build build --markdown BENCHMARKS.md)"
        replace_section(args.markdown, "training",
                        "## Fine-tuning (BERT sequence classification)\n\n"
                        f"`{command}`\n\n{table}")


if __name__ == "__main__":
    main()
