"""Front-end overhead, side by side: trustformers' C++ gRPC server against a Python grpcio server
returning the identical Models.ListModels answer, both on this machine in the same run, loaded by
the same C++ closed-loop client (bench/grpc_unary_load.cc) at several concurrencies.

This measures what every request pays before any model runs: transport, dispatch, serialisation.
Prints a Markdown table and, with --markdown FILE, writes it into that file's section."""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_report import machine_name, replace_section

ROOT = Path(__file__).resolve().parent.parent


def wait_for_file(path, process, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return int(path.read_text())
        if process.poll() is not None:
            sys.exit(f"{process.args[0]} exited with {process.returncode}")
        time.sleep(0.05)
    sys.exit(f"no port from {process.args}")


def wait_serving(binary, port, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if subprocess.run([str(binary), "health", "--server", f"127.0.0.1:{port}"],
                          capture_output=True).returncode == 0:
            return
        time.sleep(0.1)
    sys.exit("trustformers did not report SERVING")


def load(binary, port, concurrency, duration):
    result = subprocess.run([str(binary), "--target", f"127.0.0.1:{port}", "--concurrency",
                             str(concurrency), "--duration", str(duration)],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default="build")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--concurrency", default="1,8,64")
    parser.add_argument("--markdown", help="BENCHMARKS.md to update")
    args = parser.parse_args()
    build = (ROOT / args.build).resolve()  # an absolute --build is kept as is
    python = build / "venv" / "bin" / "python"
    tmp = Path(tempfile.mkdtemp(prefix="tf-bench-"))

    ours = subprocess.Popen([str(build / "server" / "trustformers"), "serve", "--config",
                             str(ROOT / "config" / "default.yaml"), "--grpc-address",
                             "127.0.0.1:0", "--port-file", str(tmp / "ours"), "--log-level",
                             "warn"])
    peer = None
    try:
        our_port = wait_for_file(tmp / "ours", ours)
        wait_serving(build / "server" / "trustformers", our_port)
        peer = subprocess.Popen([str(python), str(ROOT / "bench" / "python_models_server.py"),
                                 "--stubs", str(build / "python"), "--copy-from",
                                 f"127.0.0.1:{our_port}", "--port-file", str(tmp / "peer")])
        peer_port = wait_for_file(tmp / "peer", peer)
        loader = build / "bench" / "tf_bench_grpc_load"
        rows = []
        for concurrency in [int(c) for c in args.concurrency.split(",")]:
            a = load(loader, our_port, concurrency, args.duration)
            b = load(loader, peer_port, concurrency, args.duration)
            rows.append((concurrency, a, b))
            print(f"concurrency {concurrency}: trustformers {a['qps']:.0f} qps, "
                  f"grpcio {b['qps']:.0f} qps", file=sys.stderr)
    finally:
        for process in (ours, peer):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=30)

    lines = [
        "| concurrency | trustformers qps | grpcio (Python) qps | qps ratio | trustformers p50 / p99 µs | grpcio p50 / p99 µs |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for concurrency, a, b in rows:
        lines.append(f"| {concurrency} | {a['qps']:.0f} | {b['qps']:.0f} | "
                     f"{a['qps'] / b['qps']:.2f}x | {a['p50_us']:.0f} / {a['p99_us']:.0f} | "
                     f"{b['p50_us']:.0f} / {b['p99_us']:.0f} |")
    table = "\n".join(lines)
    print(table)
    if args.markdown:
        update_markdown(Path(args.markdown), table, args)


def update_markdown(path, table, args):
    replace_section(path, "grpc_overhead",
                    f"Machine: {machine_name()}, {os.cpu_count()} cores (client and both servers "
                    f"share them). {args.duration:g} s per point after 1 s warm-up, closed loop."
                    f"\n\n{table}")

if __name__ == "__main__":
    main()
