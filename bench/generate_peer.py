"""llama.cpp's prefill (pp) and decode (tg) speed through llama-cpp-python, run by bench/generate.py
in the reference virtualenv: the same GGUF, thread count, prompt ids and step structure as
bench/generate_bench.cc (prefill in one batch; decode one token per call from an empty context,
greedy). Prints one JSON object."""

import argparse
import json
import time

import llama_cpp
import numpy as np


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prompt-tokens", type=int, default=512)
    parser.add_argument("--gen-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    llm = llama_cpp.Llama(args.model, n_ctx=max(args.prompt_tokens, args.gen_tokens) + 8,
                          n_batch=args.prompt_tokens, n_ubatch=args.prompt_tokens,
                          n_threads=args.threads, n_threads_batch=args.threads, verbose=False)
    prompt = [100 + (i * 7919) % 30000 for i in range(args.prompt_tokens)]
    best_pp = best_tg = 0.0
    for _ in range(args.repeats):
        llm.reset()
        begin = time.perf_counter()
        llm.eval(prompt)
        best_pp = max(best_pp, args.prompt_tokens / (time.perf_counter() - begin))
    for _ in range(args.repeats):
        llm.reset()
        token = 1
        begin = time.perf_counter()
        for _ in range(args.gen_tokens):
            llm.eval([token])
            # Llama.scores stays empty without logits_all in this binding: read llama.cpp's own.
            row = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
            token = int(np.argmax(np.ctypeslib.as_array(row, shape=(llm.n_vocab(),))))
        best_tg = max(best_tg, args.gen_tokens / (time.perf_counter() - begin))
    print(json.dumps({"peer": f"llama-cpp-python {llama_cpp.__version__}", "pp_tok_s": best_pp,
                      "tg_tok_s": best_tg}))


if __name__ == "__main__":
    main()
