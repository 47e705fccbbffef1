"""The REST gateway under load, side by side: `trustformers serve` (config/default.yaml) against
the Python deployment our users run today, a Starlette app under uvicorn computing the same
all-MiniLM-L6-v2 embeddings with transformers + torch (bench/http_peer.py, reference venv), both
on loopback in the same run, both loaded by wrk (Debian's package) with the same settings:
  GET  /healthz         at 16, 256 and 1000 connections (what a request costs with no model)
  POST /v1/embeddings   one short sentence, at 1, 16 and 64 connections
For each point: requests/s, p50 and p99 latency, socket errors (connect, read, write, timeout) and
responses outside 2xx, and trustformers' thread count before and at most during the run (sampled
from /proc/PID/status), since the server must neither drop connections nor grow threads with
load. Before any load, our /v1/embeddings answer must equal the peer's within 1e-4, so both do
the same work. Prints a Markdown table and, with --markdown FILE, writes it into that file's
section (adding the section after the gRPC overhead one when absent)."""

import argparse
import datetime
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench_report import machine_name, replace_section_after
from embed_peers import cpu_busy_seconds

ROOT = Path(__file__).resolve().parent.parent
MODELS = Path(os.environ.get("TRUSTFORMERS_HOME",
                             Path.home() / ".cache" / "trustformers" / "models"))
REF_VENV = Path(os.environ.get("TRUSTFORMERS_REF_VENV",
                               Path.home() / ".cache" / "trustformers" / "ref-venv"))
REF_PYTHON = REF_VENV / "bin" / "python"
MODEL = "all-minilm-l6-v2"
SENTENCE = "The quick brown fox jumps over the lazy dog."
TOLERANCE = 1e-4
SECTION = "http_load"
HEADING = "## REST gateway under load (`bench/http_load.py`)"
EXPLANATION = """\
The REST gateway (Boost.Beast) against what our users run today: a Hugging Face model behind a
Python web server, here a Starlette app under uvicorn with one worker computing the same
all-MiniLM-L6-v2 embeddings with transformers + PyTorch (`bench/http_peer.py`: one model call at
a time in its own thread, no batching across requests), both with the same number of model
threads. Both are loaded by `wrk -t2 --latency` on the same machine in the same run: `GET
/healthz` shows what the front end costs with no model behind it, `POST /v1/embeddings` with one
short sentence what a client sees of a whole request (our engine batches concurrent requests;
the peer runs them one after another). Before the load the two embeddings are checked equal
within 1e-4. Errors are wrk's socket errors (connect, read, write, timeout) plus responses outside
2xx; threads are those of the trustformers process, before each run and at most during it."""

# (route, method, concurrencies, quick concurrencies)
TARGETS = [
    ("/healthz", "GET", (16, 256, 1000), (16, 256)),
    ("/v1/embeddings", "POST", (1, 16, 64), (1, 16)),
]

# wrk calls done() once, after every thread has finished: one JSON line with the exact counts
# (latencies in microseconds) instead of wrk's rounded text report.
LUA_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK_RESULT {"requests": %d, "duration_us": %d, "p50_us": %.1f, '
    .. '"p99_us": %.1f, "connect": %d, "read": %d, "write": %d, "timeout": %d, "status": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.timeout, e.status))
end
"""


def log(message):
    print(f"http_load: {message}", file=sys.stderr, flush=True)


def raise_open_files_limit():
    """1000 connections need more descriptors than a default soft limit of 1024, in wrk and in
    both servers; children inherit the raised limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        want = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def thread_count(pid):
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class ThreadSampler:
    """Samples a process's thread count every 20 ms in a background thread; max() is the most
    seen from start() to stop(), both ends included."""

    def __init__(self, pid):
        self.pid = pid
        self.before = thread_count(pid)
        self.most = self.before
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(0.02):
            self.most = max(self.most, thread_count(self.pid))

    def stop(self):
        self._stop.set()
        self._thread.join()
        self.after = thread_count(self.pid)
        self.most = max(self.most, self.after)
        return self


def get(url, timeout=5):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return None, b""


def post_json(url, body, timeout=60):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


class Process:
    """A server started by this script, its output in a log file shown when it fails."""

    def __init__(self, name, args, workdir, env=None):
        self.name = name
        self.log_path = workdir / f"{name}.log"
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT,
                                        env={**os.environ, **(env or {})})
        self.pid = self.process.pid

    def fail(self, message):
        self._log.flush()
        tail = self.log_path.read_text(errors="replace")[-4000:]
        sys.exit(f"http_load: {self.name}: {message}\n{tail}")

    def check_alive(self):
        if self.process.poll() is not None:
            self.fail(f"exited with {self.process.returncode}")

    def wait_for_file(self, path, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if path.exists() and path.read_text().strip():
                return path.read_text()
            self.check_alive()
            time.sleep(0.05)
        self.fail(f"wrote no {path.name} within {timeout} s")

    def wait_ok(self, url, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if get(url)[0] == 200:
                return
            self.check_alive()
            time.sleep(0.1)
        self.fail(f"{url} did not answer 200 within {timeout} s")

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def lua_script(path, method, body):
    text = LUA_DONE
    if method == "POST":
        payload = json.dumps(body)
        level = "=" * 4  # a long bracket the JSON cannot close
        text = (f'wrk.method = "POST"\nwrk.body = [{level}[{payload}]{level}]\n'
                f'wrk.headers["Content-Type"] = "application/json"\n') + text
    path.write_text(text)
    return path


def cpu_ticks(pid):
    """User plus system clock ticks the process has used, from /proc/PID/stat."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return 0


def wait_idle(pid, timeout=30.0):
    """Waits until pid used under 10% of a core for 200 ms: a server still working through the
    requests of closed connections would otherwise load the next run of the other server."""
    ticks_per_s = os.sysconf("SC_CLK_TCK")
    deadline = time.monotonic() + timeout
    quiet = 0
    last = cpu_ticks(pid)
    while quiet < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
        now = cpu_ticks(pid)
        quiet = quiet + 1 if (now - last) / ticks_per_s < 0.01 else 0
        last = now


def run_wrk(url, script, connections, seconds, pid):
    """One wrk run; returns its counts plus the thread count of pid before and at most during."""
    command = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s",
               "--latency", "--timeout", "30s", "-s", str(script), url]
    sampler = ThreadSampler(pid)
    result = subprocess.run(command, capture_output=True, text=True)
    sampler.stop()
    wait_idle(pid)
    lines = [l for l in result.stdout.splitlines() if l.startswith("WRK_RESULT ")]
    if result.returncode != 0 or not lines:
        sys.exit(f"http_load: {' '.join(command)} failed ({result.returncode}):\n"
                 f"{result.stdout}{result.stderr}")
    counts = json.loads(lines[-1].split(" ", 1)[1])
    counts["rps"] = counts["requests"] / (counts["duration_us"] / 1e6)
    counts["socket_errors"] = sum(counts[k] for k in ("connect", "read", "write", "timeout"))
    counts["errors"] = counts["socket_errors"] + counts["status"]
    counts["threads_before"] = sampler.before
    counts["threads_max"] = sampler.most
    counts["threads_after"] = sampler.after
    return counts


def check_same_embeddings(ours_url, peer_url):
    """Our answer and the peer's for the benchmark's sentence (and a padded pair) agree."""
    worst = 0.0
    for texts in ([SENTENCE], [SENTENCE, "A second and somewhat longer sentence, so that one "
                               "input of the pair is padded."]):
        body = {"model": MODEL, "input": texts if len(texts) > 1 else texts[0]}
        a = post_json(ours_url, body)["data"]
        b = post_json(peer_url, body)["data"]
        if len(a) != len(texts) or len(b) != len(texts):
            sys.exit(f"http_load: {len(texts)} inputs, answers with {len(a)} and {len(b)} items")
        for x, y in zip(sorted(a, key=lambda d: d["index"]), sorted(b, key=lambda d: d["index"])):
            if len(x["embedding"]) != len(y["embedding"]):
                sys.exit("http_load: embeddings of different sizes")
            worst = max(worst, max(abs(p - q) for p, q in zip(x["embedding"], y["embedding"])))
    log(f"embeddings: trustformers vs peer max |diff| {worst:.3g}")
    if not worst <= TOLERANCE:
        sys.exit(f"http_load: the embeddings differ by {worst:.3g} > {TOLERANCE:g}")
    return worst


def milliseconds(us):
    ms = us / 1000
    return f"{ms:.2f}" if ms < 10 else f"{ms:.1f}" if ms < 100 else f"{ms:.0f}"


def error_cell(c):
    if not c["errors"]:
        return "0"
    parts = [f"{k} {c[k]}" for k in ("connect", "read", "write", "timeout") if c[k]]
    if c["status"]:
        parts.append(f"non-2xx {c['status']}")
    return f"**{c['errors']}** ({', '.join(parts)})"


def table(rows):
    lines = [
        "| route | concurrency | trustformers req/s | peer req/s | ratio | "
        "trustformers p50 / p99 ms | peer p50 / p99 ms | trustformers errors | "
        "trustformers threads |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for route, connections, a, b in rows:
        lines.append(
            f"| `{route}` | {connections} | {a['rps']:.0f} | {b['rps']:.0f} | "
            f"{a['rps'] / b['rps']:.2f}x | {milliseconds(a['p50_us'])} / "
            f"{milliseconds(a['p99_us'])} | {milliseconds(b['p50_us'])} / "
            f"{milliseconds(b['p99_us'])} | {error_cell(a)} | "
            f"{a['threads_before']} → {a['threads_max']} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", default="build")
    parser.add_argument("--duration", type=int, default=5, help="seconds per point")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="model threads for trustformers (OMP_NUM_THREADS) and torch")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 1 s per point, the lower concurrencies only")
    parser.add_argument("--markdown", help="BENCHMARKS.md to update")
    args = parser.parse_args()
    if args.quick:
        args.duration = 1
    if args.duration < 1 or args.threads < 1:
        sys.exit("http_load: --duration and --threads must be positive")
    build = (ROOT / args.build).resolve()  # an absolute --build is kept as is
    if shutil.which("wrk") is None:
        sys.exit("http_load: wrk missing: run scripts/install-deps.sh")
    if not REF_PYTHON.exists():
        sys.exit(f"http_load: {REF_PYTHON} missing: run scripts/setup-ref-venv.sh "
                 "(make bench does)")
    nofile = raise_open_files_limit()
    most = max(c for _, _, full, quick in TARGETS for c in (quick if args.quick else full))
    if nofile < most + 64:
        log(f"warning: only {nofile} open files allowed; {most} connections may fail")
    # Both servers' model threads (OpenMP) wait at every barrier for a descheduled partner: with
    # other work on the cores the embeddings rows measure mostly that contention.
    busy = cpu_busy_seconds()
    time.sleep(1.0)
    others = cpu_busy_seconds() - busy
    if others > 0.3:
        log(f"warning: other processes keep {others:.1f} of {os.cpu_count()} cores busy; "
            "the numbers will mostly measure the contention")
    tmp = Path(tempfile.mkdtemp(prefix="tf-bench-http-"))
    env = {"OMP_NUM_THREADS": str(args.threads)}

    ours = Process("trustformers", [
        str(build / "server" / "trustformers"), "serve", "--config",
        str(ROOT / "config" / "default.yaml"), "--grpc-address", "127.0.0.1:0", "--port-file",
        str(tmp / "grpc-port"), "--http-address", "127.0.0.1:0", "--http-port-file",
        str(tmp / "http-port"), "--log-level", "warn"], tmp, env)
    peer = None
    rows = []
    try:
        peer = Process("peer", [str(REF_PYTHON), str(ROOT / "bench" / "http_peer.py"),
                                "--model", str(MODELS / MODEL), "--threads", str(args.threads),
                                "--port-file", str(tmp / "peer.json")], tmp, env)
        ours.wait_for_file(tmp / "grpc-port", 120)  # written after the HTTP port
        ours_base = f"http://127.0.0.1:{int(ours.wait_for_file(tmp / 'http-port', 5))}"
        ours.wait_ok(f"{ours_base}/healthz", 60)
        ours.wait_ok(f"{ours_base}/readyz", 120)
        info = json.loads(peer.wait_for_file(tmp / "peer.json", 300))
        peer_base = f"http://127.0.0.1:{info['port']}"
        peer.wait_ok(f"{peer_base}/healthz", 60)
        log(f"trustformers on {ours_base} (pid {ours.pid}), peer on {peer_base} "
            f"(pid {peer.pid}): starlette {info['starlette']}, uvicorn {info['uvicorn']} "
            f"({info['http']}), torch {info['torch']}, {args.threads} threads each")
        check_same_embeddings(f"{ours_base}/v1/embeddings", f"{peer_base}/v1/embeddings")
        for route, method, full, quick in TARGETS:
            script = lua_script(tmp / f"{route.strip('/').replace('/', '_')}.lua", method,
                                {"model": MODEL, "input": SENTENCE})
            for server, base in ((ours, ours_base), (peer, peer_base)):  # warm-up
                run_wrk(base + route, script, 1, 1, server.pid)
            for connections in quick if args.quick else full:
                a = run_wrk(ours_base + route, script, connections, args.duration, ours.pid)
                ours.check_alive()
                b = run_wrk(peer_base + route, script, connections, args.duration, peer.pid)
                peer.check_alive()
                rows.append((route, connections, a, b))
                log(f"{route} c={connections}: trustformers {a['rps']:.0f} req/s "
                    f"p99 {milliseconds(a['p99_us'])} ms, errors {a['errors']}, threads "
                    f"{a['threads_before']}->{a['threads_max']}->{a['threads_after']}; "
                    f"peer {b['rps']:.0f} req/s p99 {milliseconds(b['p99_us'])} ms, errors "
                    f"{b['errors']}, threads {b['threads_before']}->{b['threads_max']}")
        final_threads = thread_count(ours.pid)
    finally:
        for process in (peer, ours):
            if process is not None:
                process.stop()
    shutil.rmtree(tmp, ignore_errors=True)  # kept, with the servers' logs, when a check failed

    first = rows[0][2]["threads_before"]
    most_threads = max(a["threads_max"] for _, _, a, _ in rows)
    lost = sum(a["errors"] for _, _, a, _ in rows)
    peer_errors = [(route, c, b) for route, c, _, b in rows if b["errors"]]
    notes = [f"trustformers kept {first} threads before the first run, at most {most_threads} "
             f"during any, {final_threads} after the last; "
             f"{'no' if not lost else lost} failed requests or dropped connections over all runs."]
    if peer_errors:
        notes.append("The peer's errors: " + "; ".join(
            f"`{route}` at {c}: {error_cell(b).replace('**', '')}" for route, c, b in peer_errors)
            + ".")
    if lost:
        log(f"warning: trustformers had {lost} errors")
    if most_threads > first:
        log(f"warning: trustformers' threads grew from {first} to {most_threads} under load")
    body = table(rows)
    print(body)
    print("\n".join(notes))
    if args.markdown:
        header = (f"Machine: {machine_name()}, {os.cpu_count()} cores (wrk and both servers share "
                  f"them), {args.threads} model threads for each server. Made with `make bench` "
                  f"on {datetime.date.today():%Y-%m-%d}: {args.duration} s per point after a "
                  f"1 s warm-up per route, `wrk -t2 -c C --latency` (`-t1` at one connection), "
                  f"one sentence (\"{SENTENCE}\") per embeddings request. Peer: Starlette "
                  f"{info['starlette']}, uvicorn {info['uvicorn']} "
                  f"({info['http'].removesuffix('_impl')}), "
                  f"torch {info['torch'].split('+')[0]}, transformers {info['transformers']}.")
        replace_section_after(args.markdown, SECTION, f"{HEADING}\n\n{EXPLANATION}",
                              f"{header}\n\n{body}\n\n" + "\n".join(notes),
                              after="grpc_overhead")


if __name__ == "__main__":
    main()
