"""Reference generations for the C++ Llama decoder (models/llama/), made with llama-cpp-python.

Writes reference.json next to this script: for each prompt, the prompt's token ids as llama.cpp
tokenizes them, the logits of the prompt's last position (the 64 highest and 192 seeded random
other ids, with the argmax), 64 greedily decoded token ids, and at each greedy step the margin
between llama.cpp's two highest logits. llama.cpp runs on the CPU with
2 threads and without flash attention, so its attention rounds as ggml's mul_mat path does.

Run with the reference virtualenv (scripts/setup-ref-venv.sh; it pins llama-cpp-python) after
`make fetch-models`:

  ~/.cache/trustformers/ref-venv/bin/python tests/golden/llama/make_fixtures.py
"""

import json
import os
import random
from pathlib import Path

import jinja2
import llama_cpp
import numpy as np
from gguf import GGUFReader

HERE = Path(__file__).resolve().parent
MODEL_HOME = Path(os.environ.get("TRUSTFORMERS_HOME",
                                 Path.home() / ".cache" / "trustformers" / "models"))
GGUF = MODEL_HOME / "smollm2-135m-instruct" / "SmolLM2-135M-Instruct.Q4_1.gguf"
SEED = 20261129
GREEDY_TOKENS = 64

RAW_PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
    "Once upon a time, in a small village by the sea, there lived",
    "Q: What is 17 times 23?\nA:",
    "Les mathématiques sont",
    "import numpy as np\n\n# Compute the mean of each column of a matrix\n",
    "The three primary colors are",
    "1, 2, 3, 5, 8, 13,",
]
CHATS = [
    [{"role": "user", "content": "Write a haiku about autumn leaves."}],
    [{"role": "system", "content": "You are a terse assistant."},
     {"role": "user", "content": "Explain what a hash table is."}],
    [{"role": "user", "content": "What is the boiling point of water?"},
     {"role": "assistant", "content": "100 degrees Celsius at sea level."},
     {"role": "user", "content": "And at the top of Mount Everest?"}],
    [{"role": "user", "content": "Translate to French: I like green apples."}],
    [{"role": "user", "content": "List three uses of copper, briefly."}],
]


def chat_template():
    reader = GGUFReader(str(GGUF))
    field = reader.fields["tokenizer.chat_template"]
    return bytes(field.parts[field.data[0]]).decode("utf-8")


def render(template, messages):
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    return env.from_string(template).render(messages=messages, add_generation_prompt=True)


def main():
    llm = llama_cpp.Llama(str(GGUF), n_ctx=1024, n_threads=2, n_threads_batch=2,
                          logits_all=True, flash_attn=False, verbose=False, seed=SEED)
    template = chat_template()
    prompts = [("raw", p, None) for p in RAW_PROMPTS] + [("chat", render(template, c), c)
                                                         for c in CHATS]
    rng = random.Random(SEED)
    cases = []
    for kind, text, messages in prompts:
        ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        llm.reset()
        llm.eval(ids)
        logits = np.array(llm.scores[len(ids) - 1], dtype=np.float32)
        top = [int(i) for i in np.argsort(-logits, kind="stable")[:64]]
        others = rng.sample([i for i in range(len(logits)) if i not in set(top)], 192)
        checked = sorted(top + others)
        greedy = []
        for token in llm.generate(ids, top_k=1, temp=0.0, reset=True):
            greedy.append(int(token))
            if len(greedy) == GREEDY_TOKENS:
                break
        # How decided each greedy choice was: the gap between the two highest logits.
        margins = []
        for step in range(len(greedy)):
            row = np.sort(np.array(llm.scores[len(ids) - 1 + step], dtype=np.float32))
            margins.append(round(float(row[-1] - row[-2]), 4))
        cases.append({
            "kind": kind,
            **({"messages": messages} if messages else {}),
            "prompt": text,
            "prompt_ids": [int(i) for i in ids],
            "argmax": int(np.argmax(logits)),
            "logit_ids": checked,
            "logits": [float(logits[i]) for i in checked],
            "greedy": greedy,
            "margins": margins,
        })
    out = {
        "generator": f"llama-cpp-python {llama_cpp.__version__}, 2 threads, flash_attn off",
        "model": GGUF.name,
        "cases": cases,
    }
    (HERE / "reference.json").write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {len(cases)} cases")


if __name__ == "__main__":
    main()
