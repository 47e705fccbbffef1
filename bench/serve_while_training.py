"""Serving latency while a fine-tuning job runs: one trustformers server serves all-MiniLM-L6-v2
for Embed while it fine-tunes the same base model on the WordNet glosses
(bench/wordnet/make_dataset.py). A closed-loop gRPC client sends one single-sentence Embed at a
time with a pause between calls (a light interactive load), first with the server idle, then
while the job is RUNNING. Reports p50 / p99 / max latency of both phases and the job's training
speed during the second. The job trains with `fine_tuning.train_threads` threads and yields
between steps while inference requests wait. Prints a Markdown table; with --markdown FILE
rewrites that file's section."""

import argparse
import json
import os
import signal
import statistics
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
SENTENCE = "a former administrative district of England; equivalent to a county"


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(stub, inference_pb2, seconds, pause):
    latencies = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        begin = time.perf_counter()
        stub.Embed(inference_pb2.EmbedRequest(model="minilm", inputs=[SENTENCE]), timeout=60)
        latencies.append((time.perf_counter() - begin) * 1e3)
        time.sleep(pause)
    return latencies


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default="build")
    parser.add_argument("--seconds", type=float, default=30.0, help="per phase")
    parser.add_argument("--pause", type=float, default=0.05, help="between calls, seconds")
    parser.add_argument("--train-threads", type=int, default=1)
    parser.add_argument("--markdown")
    args = parser.parse_args()
    build = (ROOT / args.build).resolve()
    sys.path.insert(0, str(build / "python"))
    import grpc
    from trustformers.v1 import (fine_tuning_pb2, fine_tuning_pb2_grpc, inference_pb2,
                                 inference_pb2_grpc)

    tmp = Path(tempfile.mkdtemp(prefix="tf-bench-serve-train-"))
    data = build / "wordnet"
    subprocess.run([sys.executable, str(ROOT / "bench" / "wordnet" / "make_dataset.py"), "--out",
                    str(data)], check=True, capture_output=True)
    config = tmp / "config.yaml"
    config.write_text(
        f"models:\n  - name: minilm\n    path: {MODELS / 'all-minilm-l6-v2'}\n"
        f"fine_tuning:\n  data_dir: {tmp / 'data'}\n  train_threads: {args.train_threads}\n")
    server, address = start_serve(build, config, tmp)
    try:
        channel = grpc.insecure_channel(address)
        grpc.channel_ready_future(channel).result(timeout=60)
        inference = inference_pb2_grpc.InferenceStub(channel)
        tuning = fine_tuning_pb2_grpc.FineTuningStub(channel)
        ready_by = time.monotonic() + 120
        while True:  # until the model is loaded
            try:
                inference.Embed(inference_pb2.EmbedRequest(model="minilm", inputs=[SENTENCE]),
                                timeout=60)
                break
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > ready_by:
                    raise
                time.sleep(0.2)
        for _ in range(20):  # warm up
            inference.Embed(inference_pb2.EmbedRequest(model="minilm", inputs=[SENTENCE]),
                            timeout=60)
        idle = measure(inference, inference_pb2, args.seconds, args.pause)

        payload = (data / "train.jsonl").read_bytes()

        def chunks():
            yield fine_tuning_pb2.UploadFileRequest(metadata=fine_tuning_pb2.FileMetadata(
                filename="train.jsonl", purpose=fine_tuning_pb2.FILE_PURPOSE_FINE_TUNE,
                size_bytes=len(payload)))
            for i in range(0, len(payload), 1 << 20):
                yield fine_tuning_pb2.UploadFileRequest(chunk=payload[i:i + (1 << 20)])

        file = tuning.UploadFile(chunks(), timeout=120)
        job = tuning.CreateJob(fine_tuning_pb2.CreateJobRequest(
            base_model="minilm", training_file=file.id,
            hyperparameters=fine_tuning_pb2.Hyperparameters(
                n_epochs=3, batch_size=32, max_seq_length=64, seed=42, logging_steps=5)),
            timeout=60)
        while tuning.GetJob(fine_tuning_pb2.GetJobRequest(job_id=job.id)).state != \
                fine_tuning_pb2.JOB_STATE_RUNNING:
            time.sleep(0.2)
        time.sleep(3)  # past the model load, into the steps
        busy = measure(inference, inference_pb2, args.seconds, args.pause)
        running = tuning.GetJob(fine_tuning_pb2.GetJobRequest(job_id=job.id))
        if running.state != fine_tuning_pb2.JOB_STATE_RUNNING:
            sys.exit(f"the job left RUNNING during the measurement: {running}")
        samples_per_s = running.progress.samples_per_second
        tuning.CancelJob(fine_tuning_pb2.CancelJobRequest(job_id=job.id), timeout=60)
        channel.close()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)

    def row(name, values):
        return (f"| {name} | {len(values)} | {statistics.median(values):.1f} | "
                f"{percentile(values, 0.99):.1f} | {max(values):.1f} |")

    table = "\n".join([
        "| Embed (1 sentence), gRPC | calls | p50 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|",
        row("server idle", idle),
        row("while a fine-tuning job runs", busy),
        "",
        f"{machine_name()}; {os.cpu_count()} cores; the job (WordNet, batch 32 x 64, "
        f"train_threads {args.train_threads}) trained at {samples_per_s:.1f} samples/s during "
        f"the measurement; {args.seconds:.0f} s per phase, one call at a time with "
        f"{args.pause * 1e3:.0f} ms between calls.",
    ])
    print(table)
    if args.markdown:
        replace_section(args.markdown, "serve_while_training",
                        "## Serving while fine-tuning\n\n"
                        "`make bench  (bench/serve_while_training.py --build build "
                        "--markdown BENCHMARKS.md)`\n\n" + table)


if __name__ == "__main__":
    main()
