"""Decoder speed, side by side on this machine in one run: trustformers (bench/generate_bench.cc,
the model alone) against llama.cpp through llama-cpp-python (bench/generate_peer.py, in the
reference virtualenv) on the same SmolLM2-135M-Instruct Q4_1 GGUF and thread count: prefill of 512
tokens in one batch (pp512) and decode of 128 tokens one at a time (tg128), as llama-bench
defines them. Decode is also given as bytes read per second against this machine's measured DRAM
read bandwidth. Prints a Markdown table; with --markdown FILE rewrites that file's section."""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from bench_report import machine_name, replace_section

ROOT = Path(__file__).resolve().parent.parent
MODELS = Path(os.environ.get("TRUSTFORMERS_HOME",
                             Path.home() / ".cache" / "trustformers" / "models"))
REF_PYTHON = Path(os.environ.get("TRUSTFORMERS_REF_VENV",
                                 Path.home() / ".cache" / "trustformers" / "ref-venv")) / "bin" / "python"
GGUF = MODELS / "smollm2-135m-instruct" / "SmolLM2-135M-Instruct.Q4_1.gguf"


def run_json(command, env):
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default="build")
    parser.add_argument("--threads", type=int, default=2)
    # Best of several runs on both sides: this shared machine's speed varies from run to run.
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--markdown")
    args = parser.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    ours = run_json([str(ROOT / args.build / "bench" / "tf_bench_generate"), "--model", str(GGUF),
                     "--repeats", str(args.repeats)], env)
    if not REF_PYTHON.exists():
        sys.exit(f"{REF_PYTHON} missing: run scripts/setup-ref-venv.sh (make bench does)")
    peer = run_json([str(REF_PYTHON), str(ROOT / "bench" / "generate_peer.py"), "--model",
                     str(GGUF), "--threads", str(args.threads), "--repeats", str(args.repeats)],
                    env)
    lines = [
        f"| test | trustformers tok/s | {peer['peer']} tok/s | ratio |",
        "|---|---:|---:|---:|",
        f"| pp512 | {ours['pp_tok_s']:.1f} | {peer['pp_tok_s']:.1f} | "
        f"{ours['pp_tok_s'] / peer['pp_tok_s']:.2f}x |",
        f"| tg128 | {ours['tg_tok_s']:.1f} | {peer['tg_tok_s']:.1f} | "
        f"{ours['tg_tok_s'] / peer['tg_tok_s']:.2f}x |",
        "",
        f"Decode reads {ours['bytes_per_token'] / 1e6:.1f} MB of weights per token: "
        f"{ours['decode_read_gbs']:.1f} GB/s at tg128, {100 * ours['decode_fraction_of_dram']:.0f}% "
        f"of the {ours['dram_read_gbs']:.1f} GB/s this machine's {args.threads} threads read from "
        "DRAM (measured in the same run).",
    ]
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        replace_section(Path(args.markdown), "generate",
                        f"Machine: {machine_name()}, {args.threads} threads for both. Best of "
                        f"{args.repeats} runs each, greedy, same GGUF (SmolLM2-135M-Instruct Q4_1) "
                        f"and prompt ids.\n\n{text}")


if __name__ == "__main__":
    main()
