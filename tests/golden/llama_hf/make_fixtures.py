"""Small randomly initialised Llama and Qwen2 checkpoints as Hugging Face folders and their
reference outputs, for the Llama decoder's Hugging Face path (models/llama/, FromHfFolder), made
with transformers.

Writes next to this script, for each model, a folder as `save_pretrained` writes it (config.json,
model.safetensors, generation_config.json) plus tokenizer.json and tokenizer_config.json copied
from the GPT-2 fixture (tests/golden/gpt2/model, a byte-level BPE vocabulary of 400), and
reference.json: per model and prompt, the prompt ids, the logits at every position (float32,
full vocabulary) and 24 greedily generated ids.
  llama/  LlamaForCausalLM, grouped-query attention, llama3 rope scaling, untied head.
  qwen2/  Qwen2ForCausalLM, q/k/v biases, tied head.

  ~/.cache/trustformers/ref-venv/bin/python tests/golden/llama_hf/make_fixtures.py
"""

import json
import shutil
from pathlib import Path

import torch
import transformers
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

HERE = Path(__file__).resolve().parent
TOKENIZER = HERE.parent / "gpt2" / "model" / "tokenizer.json"
SEED = 20261129
PROMPTS = [[5, 17, 99, 100, 3], [0, 250, 251, 252], [42], list(range(100, 140)),
           [7, 7, 7, 7, 7, 7, 7, 7]]


def models():
    common = dict(vocab_size=400, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                  rms_norm_eps=1e-5, bos_token_id=0, eos_token_id=0, initializer_range=0.2)
    llama = LlamaConfig(**common, rope_theta=10000.0, tie_word_embeddings=False,
                        rope_scaling={"rope_type": "llama3", "factor": 8.0,
                                      "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                      "original_max_position_embeddings": 64})
    qwen2 = Qwen2Config(**common, rope_theta=1000000.0, tie_word_embeddings=True)
    return {"llama": LlamaForCausalLM(llama), "qwen2": Qwen2ForCausalLM(qwen2)}


def main():
    torch.manual_seed(SEED)
    out = {"generator": f"transformers {transformers.__version__}, torch {torch.__version__}",
           "models": {}}
    for name, model in models().items():
        model = model.eval()
        folder = HERE / name
        folder.mkdir(exist_ok=True)
        model.save_pretrained(folder, safe_serialization=True)
        shutil.copy(TOKENIZER, folder / "tokenizer.json")
        (folder / "tokenizer_config.json").write_text(json.dumps(
            {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
             "add_bos_token": False}) + "\n")
        cases = []
        with torch.no_grad():
            for ids in PROMPTS:
                logits = model(torch.tensor([ids])).logits[0]
                # An explicit mask: generate would otherwise mask the prompt's id 0 as padding.
                generated = model.generate(torch.tensor([ids]),
                                           attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                           max_new_tokens=24, do_sample=False, pad_token_id=0,
                                           eos_token_id=None)
                cases.append({"prompt_ids": ids,
                              "logits": [[round(float(v), 7) for v in row] for row in logits],
                              "greedy": [int(t) for t in generated[0][len(ids):]]})
        out["models"][name] = cases
    (HERE / "reference.json").write_text(json.dumps(out) + "\n")
    print("wrote", ", ".join(out["models"]))


if __name__ == "__main__":
    main()
