"""Embedding throughput, side by side on this machine in one run: trustformers in process
(bench/embed_bench.cc) and through its gRPC server, against PyTorch and ONNX Runtime
(bench/embed_peers.py, in the reference virtualenv) on the same all-MiniLM-L6-v2 weights, all on
the same thread count. Sentences per second at batch 1 and 32 for inputs of 16, 128 and 256
tokens and for a realistic mix (the fixture sentences of tests/golden/bert), tokenization
included everywhere. Prints a Markdown table; with --markdown FILE rewrites that file's section."""

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_report import machine_name, replace_section
from serve_process import start_serve

ROOT = Path(__file__).resolve().parent.parent
MODELS = Path(os.environ.get("TRUSTFORMERS_HOME",
                             Path.home() / ".cache" / "trustformers" / "models"))
REF_PYTHON = Path(os.environ.get("TRUSTFORMERS_REF_VENV",
                                 Path.home() / ".cache" / "trustformers" / "ref-venv")) / "bin" / "python"

# Lower-case words that are one WordPiece token each, so "n words" is n + 2 tokens.
WORDS = ("the of and to in is was for that with as on by at from his an were are which this be "
         "has had one not but have its they new first after also who two been their more her "
         "time other most some out when into during only over year can there these all city "
         "may such would about world made school later where film state used between three "
         "team each through both could many before under known like group season then part "
         "music being well since however second while number area found work use").split()


def texts_file(path):
    rng = random.Random(1234)
    sets = []
    for tokens in (16, 128, 256):
        texts = [" ".join(rng.choice(WORDS) for _ in range(tokens - 2)) for _ in range(64)]
        sets.append({"set": f"len{tokens}", "texts": texts})
    fixture = json.loads((ROOT / "tests" / "golden" / "bert" / "embeddings.json").read_text())
    mix = [s["text"] for s in fixture["sentences"] if s["text"]]
    sets.append({"set": "mix", "texts": mix})
    path.write_text("".join(json.dumps(s) + "\n" for s in sets))
    return sets


def run_lines(command, env=None):
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        sys.exit(f"{command[0]} failed:\n{result.stderr[-3000:]}")
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def grpc_measurements(build, sets, batches, min_seconds, env):
    sys.path.insert(0, str(build / "python"))
    import grpc
    from trustformers.v1 import inference_pb2, inference_pb2_grpc
    tmp = Path(tempfile.mkdtemp(prefix="tf-bench-embed-"))
    config = tmp / "config.yaml"
    config.write_text(f"models:\n  - name: minilm\n    path: {MODELS / 'all-minilm-l6-v2'}\n")
    server, address = start_serve(build, config, tmp, env)
    try:
        deadline = time.monotonic() + 60
        channel = grpc.insecure_channel(address)
        stub = inference_pb2_grpc.InferenceStub(channel)
        grpc.channel_ready_future(channel).result(timeout=30)
        from grpc_health.v1 import health_pb2, health_pb2_grpc
        health = health_pb2_grpc.HealthStub(channel)
        while health.Check(health_pb2.HealthCheckRequest(), timeout=5).status != \
                health_pb2.HealthCheckResponse.SERVING:
            if time.monotonic() > deadline:
                sys.exit("trustformers serve did not report SERVING")
            time.sleep(0.05)
        out = []
        for s in sets:
            for batch in batches:
                texts = s["texts"]
                cursor = 0

                def call():
                    nonlocal cursor
                    chunk = [texts[(cursor + i) % len(texts)] for i in range(batch)]
                    cursor += batch
                    stub.Embed(inference_pb2.EmbedRequest(model="minilm", inputs=chunk),
                               timeout=300)

                for _ in range(2):
                    call()
                sentences, begin = 0, time.monotonic()
                while time.monotonic() - begin < min_seconds:
                    call()
                    sentences += batch
                seconds = time.monotonic() - begin
                out.append({"peer": "trustformers-grpc", "set": s["set"], "batch": batch,
                            "sentences_per_s": sentences / seconds})
        channel.close()
        return out
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default="build")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", default="1,32")
    parser.add_argument("--min-seconds", type=float, default=3.0)
    parser.add_argument("--peers", default="torch,onnxruntime")
    parser.add_argument("--markdown")
    args = parser.parse_args()
    build = (ROOT / args.build).resolve()
    batches = [int(b) for b in args.batch.split(",")]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    tmp = Path(tempfile.mkdtemp(prefix="tf-bench-texts-"))
    sets = texts_file(tmp / "texts.jsonl")

    rows = run_lines([str(build / "bench" / "tf_bench_embed"), "--model-dir",
                      str(MODELS / "all-minilm-l6-v2"), "--texts", str(tmp / "texts.jsonl"),
                      "--batch", args.batch, "--min-seconds", str(args.min_seconds)], env)
    rows += grpc_measurements(build, sets, batches, args.min_seconds, env)
    if args.peers:
        if not REF_PYTHON.exists():
            sys.exit(f"{REF_PYTHON} missing: run scripts/setup-ref-venv.sh (make bench does)")
        rows += run_lines([str(REF_PYTHON), str(ROOT / "bench" / "embed_peers.py"), "--texts",
                           str(tmp / "texts.jsonl"), "--batch", args.batch, "--threads",
                           str(args.threads), "--min-seconds", str(args.min_seconds), "--peers",
                           args.peers], env)
    gemm = run_lines([str(build / "bench" / "tf_bench_gemm_peak")], env)

    table = render(rows, sets, batches, args.peers.split(",") if args.peers else [])
    peak = next(r for r in gemm if r["kind"] == "peak")
    gemm_lines = [f"Measured fp32 peak on {args.threads} threads: {peak['peak_gflops']:.0f} "
                  f"GFLOP/s (AVX2 {peak['avx2_gflops']:.0f}, AVX-512 {peak['avx512_gflops']:.0f}).",
                  "", "| M x K x N | GFLOP/s | of peak |", "|---|---:|---:|"]
    for r in gemm:
        if r["kind"] == "linear":
            gemm_lines.append(f"| {r['m']} x {r['k']} x {r['n']} | {r['gflops']:.0f} | "
                              f"{100 * r['fraction_of_peak']:.0f}% |")
    text = table + "\n\n" + "\n".join(gemm_lines)
    print(text)
    if args.markdown:
        update_markdown(Path(args.markdown), text, args)


def render(rows, sets, batches, peers):
    by = {(r["peer"], r["set"], r["batch"]): r["sentences_per_s"] for r in rows}
    columns = ["trustformers", "trustformers-grpc"] + peers
    head = "| input | batch | " + " | ".join(columns + [f"vs {p}" for p in peers]) + " |"
    lines = [head, "|---|---:|" + "---:|" * (len(columns) + len(peers))]
    for s in sets:
        for batch in batches:
            ours = by.get(("trustformers", s["set"], batch))
            cells = [f"{by[(c, s['set'], batch)]:.1f}" if (c, s["set"], batch) in by else "-"
                     for c in columns]
            ratios = [f"{ours / by[(p, s['set'], batch)]:.2f}x" if ours and (p, s["set"], batch) in by
                      else "-" for p in peers]
            lines.append(f"| {s['set']} | {batch} | " + " | ".join(cells + ratios) + " |")
    return "\n".join(lines)


def update_markdown(path, body, args):
    replace_section(path, "embed",
                    f"Machine: {machine_name()}, {args.threads} threads for every engine. Sentences "
                    f"per second, {args.min_seconds:g} s per cell after warm-up; ratios are "
                    f"trustformers in process over the peer.\n\n{body}")

if __name__ == "__main__":
    main()
