"""The peer of bench/batching.py: llama.cpp through llama-cpp-python serving the same closed-loop
request mix the way its users deploy it. llama_cpp.server keeps one `Llama` object and runs one
request at a time behind a lock (it does not batch concurrent requests), so here N client threads
share one `Llama` behind a first-come-first-served lock, in one process. Each request: reset the
context, evaluate the prompt ids in one batch, then decode greedily one token per `eval` until
max_tokens, ignoring end-of-sequence (the same fixed work as trustformers' ignore_eos). Prompts and
max_tokens come from batching.request_spec, so client i's k-th request is the same on both sides.

Run with the reference venv's python (scripts/setup-ref-venv.sh); bench/batching.py drives it:
    batching_peer.py --model GGUF --threads 2 --concurrency 1,4 --duration 20
prints one JSON line per concurrency (tokens/s, TTFT and inter-token summaries), and
    batching_peer.py --model GGUF --threads 2 --check '[[ids...], [ids...]]' --check-tokens 32
prints one JSON line with each prompt's greedy tokens and, per step, llama.cpp's five highest
logits, for the equal-work check. Everything else goes to stderr."""

import argparse
import json
import sys
import threading
import time

from batching import MAX_PROMPT_TOKENS, MAX_NEW_TOKENS, Record, request_spec, summarize

TOP = 5


def log(message):
    print(f"batching_peer: {message}", file=sys.stderr, flush=True)


class FifoLock:
    """A lock granted in arrival order (like the anyio lock llama_cpp.server serializes on).
    acquire() gives up, returning False, once `stop` is set."""

    def __init__(self, stop):
        self._cond = threading.Condition()
        self._next_ticket = 0
        self._serving = 0
        self._abandoned = set()
        self._stop = stop

    def acquire(self):
        with self._cond:
            ticket = self._next_ticket
            self._next_ticket += 1
            while self._serving != ticket and not self._stop.is_set():
                self._cond.wait()  # woken by release() and wake_all()
            if self._serving != ticket:
                # Leave the queue without holding it up: the ticket is skipped when reached.
                self._abandoned.add(ticket)
                return False
            return True

    def release(self):
        with self._cond:
            self._serving += 1
            while self._serving in self._abandoned:
                self._abandoned.discard(self._serving)
                self._serving += 1
            self._cond.notify_all()

    def wake_all(self):
        """Call after setting `stop`: waiters see it and give up."""
        with self._cond:
            self._cond.notify_all()


class Peer:
    def __init__(self, model, threads):
        import llama_cpp
        import numpy as np
        self.llama_cpp, self.np = llama_cpp, np
        self.version = llama_cpp.__version__
        self.llm = llama_cpp.Llama(model, n_ctx=MAX_PROMPT_TOKENS + MAX_NEW_TOKENS + 16,
                                   n_batch=MAX_PROMPT_TOKENS, n_ubatch=MAX_PROMPT_TOKENS,
                                   n_threads=threads, n_threads_batch=threads, verbose=False)

    def logits(self):
        """The last evaluated position's logits, read from llama.cpp (this version of the binding
        keeps `Llama.scores` only with logits_all); valid until the next eval."""
        row = self.llama_cpp.llama_get_logits_ith(self.llm.ctx, -1)
        return self.np.ctypeslib.as_array(row, shape=(self.llm.n_vocab(),))

    def next_token(self):
        return int(self.np.argmax(self.logits()))

    def greedy(self, prompt, tokens):
        """Greedy tokens after prompt and, at each step, the five highest logits {id: logit}."""
        self.llm.reset()
        self.llm.eval(prompt)
        out, tops = [], []
        for step in range(tokens):
            row = self.logits()
            best = self.np.argsort(row)[::-1][:TOP]
            tops.append({int(i): float(row[i]) for i in best})
            out.append(int(best[0]))
            if step + 1 < tokens:
                self.llm.eval([out[-1]])
        return out, tops

    def serve_point(self, clients, duration, seed):
        """N closed-loop clients for `duration` seconds; returns the summary of the window."""
        stop = threading.Event()
        lock = FifoLock(stop)
        records = []
        records_lock = threading.Lock()
        start_gate = threading.Barrier(clients + 1)

        def client(index):
            start_gate.wait()
            k = 0
            while not stop.is_set():
                prompt, max_tokens = request_spec(seed, index, k)
                k += 1
                record = Record(time.perf_counter())
                with records_lock:
                    records.append(record)
                if not lock.acquire():
                    break
                try:
                    if stop.is_set():
                        break
                    self.llm.reset()
                    self.llm.eval(prompt)
                    token = self.next_token()
                    record.add(time.perf_counter(), 1)
                    while record.tokens < max_tokens and not stop.is_set():
                        self.llm.eval([token])
                        token = self.next_token()
                        record.add(time.perf_counter(), 1)
                    record.finished = record.tokens == max_tokens
                finally:
                    lock.release()

        threads = [threading.Thread(target=client, args=(i,), daemon=True)
                   for i in range(clients)]
        for t in threads:
            t.start()
        start = time.perf_counter()
        start_gate.wait()
        time.sleep(duration)
        end = time.perf_counter()
        stop.set()
        lock.wake_all()
        for t in threads:
            t.join()
        return summarize(records, start, end)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--concurrency", default="1,4,16,64")
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check", help="JSON list of prompts (token id lists) to decode greedily")
    parser.add_argument("--check-tokens", type=int, default=32)
    args = parser.parse_args()
    peer = Peer(args.model, args.threads)
    if args.check:
        results = [peer.greedy(prompt, args.check_tokens) for prompt in json.loads(args.check)]
        print(json.dumps({"peer": f"llama-cpp-python {peer.version}",
                          "greedy": [tokens for tokens, _ in results],
                          "top": [[{str(k): v for k, v in top.items()} for top in tops]
                                  for _, tops in results]}), flush=True)
        return
    peer.greedy(request_spec(args.seed, -1, 0)[0], 8)  # warm-up: pages the weights in
    for clients in (int(c) for c in args.concurrency.split(",")):
        result = peer.serve_point(clients, args.duration, args.seed)
        result.update(peer=f"llama-cpp-python {peer.version}", concurrency=clients)
        log(f"c={clients}: {result['tok_s']:.1f} tok/s, {result['requests_finished']} requests "
            "finished")
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
