"""Tiny random GGUF decoders of the Llama family's variants and llama.cpp's outputs on them, for
the C++ decoder (models/llama/): Qwen2 (q/k/v biases, RoPE on halves), Llama 3 (rope_freqs
frequency factors), Mistral-style GQA with linear RoPE scaling, each with float32 weights (so
no activation quantization makes the two implementations diverge), and a Q8_0 Llama.

Writes next to this script, for each model, NAME.gguf (written with gguf-py's GGUFWriter, random
weights from a fixed seed; a 300-token byte-level vocabulary) and reference.json: per model and
prompt, the prompt ids, llama.cpp's logits at the last prompt position (full vocabulary) and 32
greedily generated ids. llama.cpp runs through llama-cpp-python on the CPU with 2 threads,
flash attention off.

Run with the reference virtualenv:

  ~/.cache/trustformers/ref-venv/bin/python tests/golden/decoders/make_fixtures.py
"""

import json
from pathlib import Path

import gguf
import llama_cpp
import numpy as np
from gguf import GGMLQuantizationType, GGUFWriter

HERE = Path(__file__).resolve().parent
SEED = 20261129
VOCAB = 300
PROMPTS = [[1, 40, 41, 42], [1, 100, 7, 250, 31, 31, 9], [1, 5], [1] + list(range(60, 90)),
           [1, 299, 298, 3, 150, 151, 152, 153]]


def byte_tokens():
    # GPT-2's byte-to-character table: printable bytes map to themselves, the rest above 255.
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
                 + list(range(ord("®"), ord("ÿ") + 1)))
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


def write_model(name, arch, quant, *, rope_freqs=False, biases=False, linear_scale=None):
    rng = np.random.default_rng([SEED, sum(name.encode())])
    h, ff, heads, kv_heads, layers, head_dim = 64, 128, 4, 2, 2, 16
    path = HERE / f"{name}.gguf"
    w = GGUFWriter(str(path), arch=arch)
    w.add_block_count(layers)
    w.add_context_length(256)
    w.add_embedding_length(h)
    w.add_feed_forward_length(ff)
    w.add_head_count(heads)
    w.add_head_count_kv(kv_heads)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(head_dim)
    if linear_scale:
        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(linear_scale)
    tokens = ["<unk>", "<s>", "</s>"] + byte_tokens() + [f"tok{i}" for i in range(VOCAB - 259)]
    types = [3, 3, 3] + [1] * (VOCAB - 3)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(["Ġ t", "h e"])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)

    def tensor(tname, shape, scale):
        data = (rng.standard_normal(shape) * scale).astype(np.float32)
        if quant is None or len(shape) == 1:
            w.add_tensor(tname, data)
        else:
            w.add_tensor(tname, gguf.quants.quantize(data, quant), raw_dtype=quant)

    tensor("token_embd.weight", (VOCAB, h), 1.0)
    tensor("output_norm.weight", (h,), 0.2)
    if rope_freqs:
        w.add_tensor("rope_freqs.weight", np.linspace(1.0, 8.0, head_dim // 2).astype(np.float32))
    for i in range(layers):
        p = f"blk.{i}."
        tensor(p + "attn_norm.weight", (h,), 0.2)
        tensor(p + "attn_q.weight", (h, h), 0.3)
        tensor(p + "attn_k.weight", (kv_heads * head_dim, h), 0.3)
        tensor(p + "attn_v.weight", (kv_heads * head_dim, h), 0.3)
        if biases:
            tensor(p + "attn_q.bias", (h,), 0.5)
            tensor(p + "attn_k.bias", (kv_heads * head_dim,), 0.5)
            tensor(p + "attn_v.bias", (kv_heads * head_dim,), 0.5)
        tensor(p + "attn_output.weight", (h, h), 0.3)
        tensor(p + "ffn_norm.weight", (h,), 0.2)
        tensor(p + "ffn_gate.weight", (ff, h), 0.3)
        tensor(p + "ffn_up.weight", (ff, h), 0.3)
        tensor(p + "ffn_down.weight", (h, ff), 0.3)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def reference(path):
    llm = llama_cpp.Llama(str(path), n_ctx=256, n_threads=2, n_threads_batch=2, logits_all=True,
                          flash_attn=False, verbose=False)
    cases = []
    for ids in PROMPTS:
        llm.reset()
        llm.eval(ids)
        logits = np.array(llm.scores[len(ids) - 1], dtype=np.float32)
        greedy = []
        for token in llm.generate(ids, top_k=1, temp=0.0, reset=True):
            greedy.append(int(token))
            if len(greedy) == 32:
                break
        cases.append({"prompt_ids": ids, "logits": [float(v) for v in logits],
                      "greedy": greedy})
    return cases


def main():
    models = {
        "qwen2_f32": write_model("qwen2_f32", "qwen2", None, biases=True),
        "llama3_f32": write_model("llama3_f32", "llama", None, rope_freqs=True),
        "mistral_linear_f32": write_model("mistral_linear_f32", "llama", None, linear_scale=4.0),
        "llama_q8_0": write_model("llama_q8_0", "llama", GGMLQuantizationType.Q8_0),
    }
    out = {"generator": f"llama-cpp-python {llama_cpp.__version__}, gguf {gguf.__version__}"
           if hasattr(gguf, "__version__") else f"llama-cpp-python {llama_cpp.__version__}",
           "models": {name: reference(path) for name, path in models.items()}}
    (HERE / "reference.json").write_text(json.dumps(out) + "\n")
    print("wrote", ", ".join(models))


if __name__ == "__main__":
    main()
