"""Throughput and latency under concurrency, side by side on this machine in one run:
`trustformers serve` (config/default.yaml, continuous batching) driven over gRPC, against
llama.cpp through llama-cpp-python serving one request at a time behind a lock, the way
llama_cpp.server runs it (bench/batching_peer.py, reference virtualenv). Same GGUF
(SmolLM2-135M-Instruct Q4_1), same model thread count, same requests.

Each point is N closed-loop clients (each sends its next request when the previous one ends) for a
fixed window. Client i's k-th request is fixed by a seed: a prompt of 16 to 512 random token ids
(log-uniform, so short prompts are common and long ones present), max_tokens 16 to 128, greedy,
ignore_eos, so both sides do the same work per request. Per request we record the time to the
first token and the gaps between tokens; per point the tokens generated inside the window per
second, TTFT and inter-token percentiles, and trustformers' own view from GET /metrics (mean
tokens per batched step, preemptions). Requests still running when the window closes are
cancelled; those still waiting for their first token count with the time they had waited, as a
lower bound ("≥" in the table when such a bound decides a percentile). Before measuring, both
sides decode two short prompts greedily: their tokens must agree up to the first position where
they differ, and there llama.cpp's logits for the two choices must be within 1.0 (kLogitNoise of
tests/unit/models/llama_model_test.cc), so the comparison is of equal work. Prints a Markdown
table; with --markdown FILE rewrites that file's section (added after the generation one)."""

import argparse
import datetime
import json
import math
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

from bench_report import machine_name, replace_section_after

ROOT = Path(__file__).resolve().parent.parent
MODELS = Path(os.environ.get("TRUSTFORMERS_HOME",
                             Path.home() / ".cache" / "trustformers" / "models"))
REF_VENV = Path(os.environ.get("TRUSTFORMERS_REF_VENV",
                               Path.home() / ".cache" / "trustformers" / "ref-venv"))
REF_PYTHON = REF_VENV / "bin" / "python"
MODEL = "smollm2-135m-instruct"
GGUF = MODELS / MODEL / "SmolLM2-135M-Instruct.Q4_1.gguf"
LABEL = f'{{model="{MODEL}"}}'

MIN_PROMPT_TOKENS, MAX_PROMPT_TOKENS = 16, 512
MIN_NEW_TOKENS, MAX_NEW_TOKENS = 16, 128
SEED = 20240611
CHECK_PROMPTS = ("The capital of France is", "def fibonacci(n):")
CHECK_TOKENS = 32
LOGIT_NOISE = 1.0  # kLogitNoise in tests/unit/models/llama_model_test.cc

SECTION = "batching"
HEADING = "## Throughput under concurrency (`bench/batching.py`)"
EXPLANATION = """\
What a server is judged by: many clients at once with long and short requests mixed. N clients
in a closed loop (each sends its next request when its previous one ends) for a fixed window, N =
1, 4, 16, 64. Client i's k-th request is the same on both sides: a prompt of 16 to 512 random
token ids (log-uniform: mostly short, some long), max_tokens from 16 to 128, greedy, past
end-of-sequence, so the work is fixed. trustformers is `trustformers serve` with
`config/default.yaml` (continuous batching, 512 MiB paged KV cache) driven over gRPC by client
threads in the benchmark's process. The peer is llama.cpp through llama-cpp-python serving the
way llama_cpp.server does, which does not batch concurrent requests: one `Llama` behind a
first-come-first-served lock, N client threads in its process, each request a reset, the prompt
in one batch and one `eval` per token (`bench/batching_peer.py`; llama_cpp.server's default of
interrupting a stream when another request arrives is not modelled). Both use the same GGUF
(SmolLM2-135M-Instruct Q4_1) and thread count, and run one after the other per point. Tokens/s
counts tokens generated inside the window; TTFT runs from sending the request to its first
token, queueing included; requests still waiting for a first token when the window ends count
with the time they waited, a lower bound (marked ≥ where it decides the percentile).
Inter-token gaps are as the client sees them (a message carrying several tokens spreads its gap
over them). Tokens per step and preemptions are the server's own counts
(`trustformers_engine_step_tokens`, `trustformers_preemptions_total`) over the point. Before
measuring, both decode two short prompts greedily and must agree up to where they first differ,
and there llama.cpp's logits for the two choices must be within 1.0."""


def log(message):
    print(f"batching: {message}", file=sys.stderr, flush=True)


# --- The request mix and its measurement, shared with bench/batching_peer.py ---------------------

def request_spec(seed, client, k):
    """Client `client`'s k-th request: (prompt token ids, max_tokens). Seeded by a string, which
    Python hashes the same way on every version and platform."""
    rng = random.Random(f"{seed}/{client}/{k}")
    length = round(math.exp(rng.uniform(math.log(MIN_PROMPT_TOKENS),
                                         math.log(MAX_PROMPT_TOKENS))))
    prompt = [rng.randrange(100, 30000) for _ in range(length)]
    return prompt, rng.randint(MIN_NEW_TOKENS, MAX_NEW_TOKENS)


class Record:
    """One request as its client saw it: when it was sent, when tokens arrived."""

    def __init__(self, start):
        self.start = start
        self.first = None       # arrival of the first token
        self.last = None        # arrival of the latest token
        self.tokens = 0
        self.arrivals = []      # (time, tokens in that message)
        self.gaps = []          # (time, gap per token, tokens) for messages after the first
        self.finished = False   # got all max_tokens

    def add(self, now, count):
        if self.first is None:
            self.first = now
        else:
            self.gaps.append((now, (now - self.last) / count, count))
        self.last = now
        self.tokens += count
        self.arrivals.append((now, count))


def percentile(samples, p):
    """Nearest-rank percentile of (value, is_lower_bound) samples: (value, bound_decides). The
    true percentile equals the value unless some lower bound at or below it could rise past it."""
    if not samples:
        return None, False
    ordered = sorted(samples)
    value = ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)][0]
    return value, any(bound and v <= value for v, bound in ordered)


def summarize(records, start, end):
    """The window [start, end]: tokens/s, TTFT and inter-token percentiles, request counts."""
    sent = [r for r in records if r.start <= end]
    tokens = sum(n for r in sent for t, n in r.arrivals if t <= end)
    ttft = [((r.first - r.start), False) if r.first is not None and r.first <= end
            else ((end - r.start), True) for r in sent]
    gaps = []
    for r in sent:
        for t, gap, n in r.gaps:
            if t <= end:
                gaps.extend([(gap, False)] * n)
    result = {"duration": end - start, "tokens": tokens, "tok_s": tokens / (end - start),
              "requests_sent": len(sent),
              "requests_finished": sum(1 for r in sent if r.finished and r.last <= end),
              "waiting_at_end": sum(1 for _, bound in ttft if bound)}
    for name, values in (("ttft", ttft), ("itl", gaps)):
        for p in (50, 99):
            value, bound = percentile(values, p)
            result[f"{name}_p{p}"] = value
            result[f"{name}_p{p}_bound"] = bound
    return result


# --- Driving trustformers ------------------------------------------------------------------------

def metrics(base_url):
    with urllib.request.urlopen(f"{base_url}/metrics", timeout=10) as response:
        text = response.read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def wait_server_idle(base_url, timeout=60):
    """Waits until the model has no running or waiting request and holds no KV block."""
    deadline = time.monotonic() + timeout
    while True:
        m = metrics(base_url)
        if all(m.get(f"trustformers_{k}{LABEL}", 0) == 0 for k in
               ("num_requests_running", "num_requests_waiting", "kv_cache_blocks_used")):
            return m
        if time.monotonic() > deadline:
            sys.exit(f"batching: the server did not become idle within {timeout} s")
        time.sleep(0.05)


def cpu_seconds_of(pid):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


class Ours:
    def __init__(self, grpc, pb, pb_grpc, address, base_url, pid):
        self.grpc, self.pb = grpc, pb
        self.channel = grpc.insecure_channel(address)
        self.stub = pb_grpc.InferenceStub(self.channel)
        self.base_url = base_url
        self.pid = pid

    def request(self, prompt, max_tokens, **sampling):
        return self.pb.GenerateRequest(
            model=MODEL, prompt_token_ids=self.pb.TokenIds(ids=prompt),
            sampling=self.pb.SamplingParams(max_tokens=max_tokens, temperature=0,
                                            ignore_eos=True, **sampling))

    def tokenize(self, text):
        return list(self.stub.Tokenize(self.pb.TokenizeRequest(model=MODEL, text=text),
                                       timeout=30).token_ids)

    def greedy(self, prompt, tokens):
        return [t for m in self.stub.Generate(self.request(prompt, tokens), timeout=120)
                for t in m.token_ids]

    def run_point(self, clients, duration, seed):
        grpc = self.grpc
        stop = threading.Event()
        guard = threading.Lock()
        calls = {}
        records = []
        errors = Counter()
        gate = threading.Barrier(clients + 1)

        def client(index):
            gate.wait()
            k = 0
            while not stop.is_set():
                prompt, max_tokens = request_spec(seed, index, k)
                k += 1
                record = Record(time.perf_counter())
                call = self.stub.Generate(self.request(prompt, max_tokens), timeout=600)
                with guard:
                    records.append(record)
                    calls[index] = call
                if stop.is_set():
                    call.cancel()
                try:
                    for message in call:
                        if message.token_ids:
                            record.add(time.perf_counter(), len(message.token_ids))
                    record.finished = record.tokens == max_tokens
                    if not record.finished:
                        errors[f"{record.tokens} of {max_tokens} tokens"] += 1
                except grpc.RpcError as e:
                    if not (stop.is_set() and e.code() == grpc.StatusCode.CANCELLED):
                        errors[e.code().name] += 1
                        time.sleep(0.01)

        threads = [threading.Thread(target=client, args=(i,), daemon=True)
                   for i in range(clients)]
        for t in threads:
            t.start()
        before = wait_server_idle(self.base_url)
        cpu_before = cpu_seconds_of(self.pid)
        usage_before = resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter()
        gate.wait()
        time.sleep(duration)
        end = time.perf_counter()
        cpu_after = cpu_seconds_of(self.pid)
        usage_after = resource.getrusage(resource.RUSAGE_SELF)
        stop.set()
        with guard:
            for call in calls.values():
                call.cancel()
        for t in threads:
            t.join()
        after = wait_server_idle(self.base_url)
        result = summarize(records, start, end)

        def delta(name):
            return after.get(name + LABEL, 0) - before.get(name + LABEL, 0)

        steps = delta("trustformers_engine_step_tokens_count")
        result.update(
            concurrency=clients, errors=dict(errors),
            step_tokens_mean=delta("trustformers_engine_step_tokens_sum") / steps if steps else 0,
            steps=steps, preemptions=delta("trustformers_preemptions_total"),
            prefix_cache_hits=delta("trustformers_prefix_cache_hits_total"),
            server_cores=(cpu_after - cpu_before) / (end - start),
            client_cores=(usage_after.ru_utime + usage_after.ru_stime - usage_before.ru_utime
                          - usage_before.ru_stime) / (end - start))
        return result


# --- The peer ------------------------------------------------------------------------------------

def run_peer(args, env, extra):
    command = [str(REF_PYTHON), str(ROOT / "bench" / "batching_peer.py"), "--model", str(GGUF),
               "--threads", str(args.threads), "--seed", str(args.seed), *extra]
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"batching: {' '.join(command)} failed ({result.returncode}):\n"
                 f"{result.stderr[-4000:]}")
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def check_equal_work(ours, args, env):
    """Both decode CHECK_PROMPTS greedily; they must agree up to their first difference, which
    must be a close call in llama.cpp's logits. Returns one line per prompt for the report."""
    prompts = [ours.tokenize(text) for text in CHECK_PROMPTS]
    mine = [ours.greedy(p, CHECK_TOKENS) for p in prompts]
    peer = run_peer(args, env, ["--check", json.dumps(prompts),
                                "--check-tokens", str(CHECK_TOKENS)])[-1]
    lines = []
    for text, a, b, tops in zip(CHECK_PROMPTS, mine, peer["greedy"], peer["top"]):
        if len(a) != CHECK_TOKENS:
            sys.exit(f"batching: trustformers gave {len(a)} tokens for {text!r}, "
                     f"not {CHECK_TOKENS}")
        same = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), CHECK_TOKENS)
        if same == CHECK_TOKENS:
            lines.append(f"{text!r}: {CHECK_TOKENS}/{CHECK_TOKENS} greedy tokens identical")
            continue
        top = {int(k): v for k, v in tops[same].items()}
        if a[same] not in top:
            sys.exit(f"batching: {text!r}: trustformers chose {a[same]} at step {same}, outside "
                     f"llama.cpp's top {len(top)} {sorted(top, key=top.get, reverse=True)}\n"
                     f"ours {a}\npeer {b}")
        margin = top[b[same]] - top[a[same]]
        if margin >= LOGIT_NOISE:
            sys.exit(f"batching: {text!r}: tokens differ at step {same}, where llama.cpp prefers "
                     f"its choice by {margin:.2f} >= {LOGIT_NOISE}\nours {a}\npeer {b}")
        lines.append(f"{text!r}: {same}/{CHECK_TOKENS} greedy tokens identical, then a close "
                     f"call (llama.cpp's logits {margin:.3f} apart)")
    for line in lines:
        log(f"equal work: {line}")
    return peer["peer"], lines


# --- Report --------------------------------------------------------------------------------------

def ms(seconds, bound=False):
    if seconds is None:
        return "–"
    value = seconds * 1000
    text = f"{value:.1f}" if value < 100 else f"{value:.0f}"
    return ("≥" if bound else "") + text


def pair(r, name):
    return (f"{ms(r[name + '_p50'], r[name + '_p50_bound'])} / "
            f"{ms(r[name + '_p99'], r[name + '_p99_bound'])}")


def table(rows, peer_name):
    lines = [
        f"| clients | trustformers tok/s | {peer_name} tok/s | ratio | "
        "trustformers TTFT p50 / p99 ms | peer TTFT p50 / p99 ms | "
        "trustformers inter-token p50 / p99 ms | tokens per step | preemptions | "
        "requests done (ours / peer) | errors |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for a, b in rows:
        ratio = f"{a['tok_s'] / b['tok_s']:.2f}x" if b["tok_s"] else "–"
        errors = sum(a["errors"].values())
        error_cell = "0" if not errors else "**" + ", ".join(
            f"{k} {v}" for k, v in a["errors"].items()) + "**"
        lines.append(
            f"| {a['concurrency']} | {a['tok_s']:.1f} | {b['tok_s']:.1f} | {ratio} | "
            f"{pair(a, 'ttft')} | {pair(b, 'ttft')} | {pair(a, 'itl')} | "
            f"{a['step_tokens_mean']:.1f} | {a['preemptions']:.0f} | "
            f"{a['requests_finished']} / {b['requests_finished']} | {error_cell} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", default="build")
    parser.add_argument("--duration", type=float, default=20, help="seconds per point")
    parser.add_argument("--concurrency", default="1,4,16,64", help="client counts, comma-separated")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="model threads for both (OMP_NUM_THREADS, llama.cpp n_threads)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 2 s per point, 1 and 4 clients")
    parser.add_argument("--markdown", help="BENCHMARKS.md to update")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.concurrency = 2, "1,4"
    try:
        concurrency = [int(c) for c in args.concurrency.split(",")]
    except ValueError:
        sys.exit(f"batching: --concurrency {args.concurrency!r} is not a list of integers")
    if args.duration <= 0 or args.threads < 1 or min(concurrency) < 1:
        sys.exit("batching: --duration, --threads and --concurrency must be positive")
    build = (ROOT / args.build).resolve()  # an absolute --build is kept as is
    binary = build / "server" / "trustformers"
    for path, hint in ((binary, "build it first (make)"),
                       (build / "python" / "trustformers", "build it first (make)"),
                       (GGUF, "run scripts/fetch-models.sh"),
                       (REF_PYTHON, "run scripts/setup-ref-venv.sh (make bench does)")):
        if not path.exists():
            sys.exit(f"batching: {path} missing: {hint}")
    sys.path.insert(0, str(build / "python"))
    import grpc
    from trustformers.v1 import inference_pb2, inference_pb2_grpc
    from embed_peers import cpu_busy_seconds
    from http_load import Process

    class Server(Process):
        def fail(self, message):
            self._log.flush()
            tail = self.log_path.read_text(errors="replace")[-4000:]
            sys.exit(f"batching: {self.name}: {message}\n{tail}")

    busy = cpu_busy_seconds()
    time.sleep(1.0)
    others = cpu_busy_seconds() - busy
    contention = None
    if others > 0.3:
        contention = (f"other processes kept {others:.1f} of {os.cpu_count()} cores busy just "
                      "before the run; the numbers mostly measure that contention")
        log(f"warning: {contention}")

    tmp = Path(tempfile.mkdtemp(prefix="tf-bench-batching-"))
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    server = Server("trustformers", [
        str(binary), "serve", "--config", str(ROOT / "config" / "default.yaml"),
        "--grpc-address", "127.0.0.1:0", "--port-file", str(tmp / "grpc-port"),
        "--http-address", "127.0.0.1:0", "--http-port-file", str(tmp / "http-port"),
        "--log-level", "warn"], tmp, {"OMP_NUM_THREADS": str(args.threads)})
    rows = []
    try:
        grpc_port = int(server.wait_for_file(tmp / "grpc-port", 120))  # after the HTTP port
        base_url = f"http://127.0.0.1:{int(server.wait_for_file(tmp / 'http-port', 5))}"
        server.wait_ok(f"{base_url}/readyz", 120)
        ours = Ours(grpc, inference_pb2, inference_pb2_grpc, f"127.0.0.1:{grpc_port}",
                    base_url, server.pid)
        peer_name, check_lines = check_equal_work(ours, args, env)
        for clients in concurrency:
            a = ours.run_point(clients, args.duration, args.seed)
            server.check_alive()
            b = run_peer(args, env, ["--concurrency", str(clients),
                                     "--duration", str(args.duration)])[-1]
            rows.append((a, b))
            log(f"c={clients}: trustformers {a['tok_s']:.1f} tok/s, TTFT p99 "
                f"{ms(a['ttft_p99'], a['ttft_p99_bound'])} ms, {a['step_tokens_mean']:.1f} "
                f"tokens/step, {a['preemptions']:.0f} preemptions, errors {a['errors'] or 0}, "
                f"server {a['server_cores']:.2f} cores, clients {a['client_cores']:.2f} cores; "
                f"peer {b['tok_s']:.1f} tok/s, TTFT p99 {ms(b['ttft_p99'], b['ttft_p99_bound'])}"
                " ms")
    finally:
        server.stop()
    shutil.rmtree(tmp, ignore_errors=True)  # kept, with the server's log, when a check failed

    mix = [request_spec(args.seed, c, k) for c in range(64) for k in range(16)]
    mean_prompt = sum(len(p) for p, _ in mix) / len(mix)
    mean_new = sum(n for _, n in mix) / len(mix)
    lost = sum(sum(a["errors"].values()) for a, _ in rows)
    notes = [
        f"Equal work: {'; '.join(check_lines)}.",
        f"Request mix: prompts of {mean_prompt:.0f} tokens and {mean_new:.0f} new tokens on "
        f"average (seed {args.seed}). trustformers: "
        + ", ".join(f"{a['server_cores']:.2f}" for a, _ in rows)
        + " cores busy in the server and "
        + ", ".join(f"{a['client_cores']:.2f}" for a, _ in rows)
        + " in the gRPC client threads at " + ", ".join(str(a["concurrency"]) for a, _ in rows)
        + f" clients; {'no' if not lost else lost} failed requests.",
    ]
    if contention:
        notes.append(f"**Warning**: {contention}.")
    body = table(rows, peer_name)
    print(body)
    print("\n".join(notes))
    if args.markdown:
        command = ("bench/batching.py --quick" if args.quick else "make bench" if
                   args.duration == 20 and args.concurrency == "1,4,16,64" else
                   f"bench/batching.py --duration {args.duration:g} --concurrency "
                   f"{args.concurrency}")
        header = (f"Machine: {machine_name()}, {os.cpu_count()} cores shared by the server, its "
                  f"clients and the peer (which runs after it at each point), {args.threads} "
                  f"model threads for each. Made with `{command}` on "
                  f"{datetime.date.today():%Y-%m-%d}: {args.duration:g} s per point. "
                  f"Peer: {peer_name}.")
        replace_section_after(args.markdown, SECTION, f"{HEADING}\n\n{EXPLANATION}",
                              f"{header}\n\n{body}\n\n" + "\n\n".join(notes),
                              after="generate")


if __name__ == "__main__":
    main()
