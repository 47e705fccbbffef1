"""The peers of the embedding benchmark: sentences per second for a sentence-transformers model
(all-MiniLM-L6-v2 by default: mean pooling, L2 normalisation, max_seq_length 256) on this
machine's CPU, with
  torch        transformers' model in eval mode under torch.inference_mode, pooled in torch;
  onnxruntime  the same weights exported with torch.onnx.export (dynamic batch and sequence
               axes), run by ONNX Runtime's CPU provider, pooled in numpy.
Both tokenize with the Hugging Face fast tokenizer (pad to the longest text of the batch, truncate
at max_seq_length) inside the timed region, as trustformers does.

Run with the reference venv's python (scripts/setup-ref-venv.sh). bench/embed.py drives it:
    embed_peers.py --texts FILE.jsonl --batch 1,32 --threads 2 --min-seconds 3 \
        --peers torch,onnxruntime
FILE.jsonl holds one {"set": NAME, "texts": [...]} per line. For each peer, set and batch size:
two warm-up batches, then batches taken from the set cyclically until --min-seconds have passed;
one JSON line per measurement goes to stdout, everything else to stderr.

The exported model is cached in $HOME/.cache/trustformers/bench/, named by the sha256 of the
weights (and the torch version that exported it), so reruns skip the export. Every run first
checks that the ONNX Runtime embeddings match the PyTorch ones within 1e-4, and that the PyTorch
pipeline matches sentence-transformers' own encode()."""

import argparse
import contextlib
import gc
import hashlib
import json
import os
import sys
import time
import warnings
from pathlib import Path

CACHE = Path.home() / ".cache" / "trustformers"
TOLERANCE = 1e-4


def log(message):
    print(f"embed_peers: {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def stdout_to_stderr():
    """Keeps library chatter (the ONNX exporter prints its progress) out of the JSON on stdout,
    at the file-descriptor level so native code's output is caught too."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def read_sets(path):
    sets = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        entry = json.loads(line)
        texts = entry.get("texts")
        if not isinstance(entry.get("set"), str) or not isinstance(texts, list) or not texts \
                or not all(isinstance(t, str) for t in texts):
            sys.exit(f"{path}:{number}: want {{\"set\": NAME, \"texts\": [STRING, ...]}}")
        sets.append((entry["set"], texts))
    if not sets:
        sys.exit(f"{path}: no sets")
    return sets


def weights_sha256(model_dir):
    files = sorted(model_dir.glob("*.safetensors")) or sorted(model_dir.glob("pytorch_model*.bin"))
    if not files:
        sys.exit(f"{model_dir}: no weights")
    digest = hashlib.sha256()
    for file in files:
        with open(file, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


class Pipeline:
    """Tokenizer plus model; embed() takes a list of texts and returns float32 unit vectors."""

    def __init__(self, tokenizer, max_length):
        self.tokenizer = tokenizer
        self.max_length = max_length

    def tokenize(self, texts, tensors):
        return self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                              return_tensors=tensors)


class TorchPipeline(Pipeline):
    def __init__(self, tokenizer, max_length, model):
        super().__init__(tokenizer, max_length)
        self.model = model

    def embed(self, texts):
        import torch
        with torch.inference_mode():
            batch = self.tokenize(texts, "pt")
            hidden = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2, dim=1).numpy()


class OrtPipeline(Pipeline):
    def __init__(self, tokenizer, max_length, session):
        super().__init__(tokenizer, max_length)
        self.session = session
        self.inputs = [i.name for i in session.get_inputs()]

    def embed(self, texts):
        import numpy as np
        batch = self.tokenize(texts, "np")
        feed = {name: batch[name].astype(np.int64, copy=False) for name in self.inputs}
        hidden = self.session.run(["last_hidden_state"], feed)[0]
        mask = batch["attention_mask"][..., None].astype(hidden.dtype)
        mean = (hidden * mask).sum(1) / np.maximum(mask.sum(1), 1e-9)
        return mean / np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)


def export_onnx(model, tokenizer, path):
    """torch.onnx.export of the encoder: input_ids, attention_mask, token_type_ids (batch and
    sequence dynamic) to last_hidden_state; written under a temporary name, then renamed."""
    import torch

    class Encoder(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    sample = tokenizer(["an example sentence for the exporter",
                        "a second, somewhat longer example sentence so the batch is padded"],
                       padding=True, return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    batch = torch.export.Dim("batch")
    sequence = torch.export.Dim("sequence", max=model.config.max_position_embeddings)
    dynamic = {name: {0: batch, 1: sequence} for name in names}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    started = time.perf_counter()
    try:
        with stdout_to_stderr(), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the exporter's notes on axis names
            torch.onnx.export(Encoder(model).eval(), tuple(sample[n] for n in names),
                              str(partial), input_names=names, output_names=["last_hidden_state"],
                              dynamic_shapes=dynamic, external_data=False, dynamo=True)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    log(f"exported {path} in {time.perf_counter() - started:.1f} s")


def cpu_busy_seconds():
    """CPU seconds every core of the machine has spent busy since boot (from /proc/stat)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return float("nan")
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # less idle, iowait


def check(reference, other, texts, label, batch_sizes):
    """Max absolute difference between two pipelines' embeddings of texts, at each batch size
    (so padded batches are compared too); exits when it exceeds TOLERANCE."""
    import numpy as np
    worst = 0.0
    for size in batch_sizes:
        for start in range(0, len(texts), size):
            chunk = texts[start:start + size]
            diff = float(np.abs(reference(chunk) - other(chunk)).max())
            worst = max(worst, diff)
    log(f"{label}: max |diff| {worst:.3g} over {len(texts)} texts at batch {batch_sizes}")
    if not worst <= TOLERANCE:
        sys.exit(f"embed_peers: {label} differ by {worst:.3g} > {TOLERANCE:g}")
    return worst


def measure(embed, texts, batch, min_seconds):
    """Warm-up of two batches, then batches over texts cyclically until min_seconds passed.
    Returns the sentences embedded, the seconds taken, and the CPU cores this process and all
    others kept busy meanwhile."""
    cursor = 0

    def next_batch():
        nonlocal cursor
        chunk = [texts[(cursor + i) % len(texts)] for i in range(batch)]
        cursor = (cursor + batch) % len(texts)
        return chunk

    for _ in range(2):
        embed(next_batch())
    gc.collect()
    sentences = 0
    busy = cpu_busy_seconds()
    cpu = time.process_time()
    started = time.perf_counter()
    while True:
        embed(next_batch())
        sentences += batch
        seconds = time.perf_counter() - started
        if seconds >= min_seconds:
            ours = (time.process_time() - cpu) / seconds
            return sentences, seconds, ours, (cpu_busy_seconds() - busy) / seconds - ours


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", required=True, help="JSONL of {\"set\": ..., \"texts\": [...]}")
    parser.add_argument("--batch", default="1,32", help="comma-separated batch sizes")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--min-seconds", type=float, default=3.0)
    parser.add_argument("--peers", default="torch,onnxruntime")
    parser.add_argument("--model", default=str(CACHE / "models" / "all-minilm-l6-v2"))
    parser.add_argument("--onnx-cache", default=str(CACHE / "bench"))
    args = parser.parse_args()
    peers = list(dict.fromkeys(p for p in args.peers.split(",") if p))
    unknown = set(peers) - {"torch", "onnxruntime"}
    if unknown:
        sys.exit(f"embed_peers: unknown peers {sorted(unknown)} (have torch, onnxruntime)")
    batches = [int(b) for b in args.batch.split(",") if b]
    if args.threads < 1 or not batches or min(batches) < 1:
        sys.exit("embed_peers: --threads and --batch must be positive")
    sets = read_sets(args.texts)
    model_dir = Path(args.model).expanduser()

    # Before the libraries load: the tokenizer's Rust thread pool gets the same thread budget as
    # the runtimes, nothing reaches for the network, no progress bars.
    os.environ.setdefault("RAYON_NUM_THREADS", str(args.threads))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

    import torch
    import transformers
    from transformers import AutoModel, AutoTokenizer
    torch.set_num_threads(args.threads)

    bert_config = model_dir / "sentence_bert_config.json"
    max_length = json.loads(bert_config.read_text())["max_seq_length"] if bert_config.exists() \
        else 256
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if not tokenizer.is_fast:
        sys.exit(f"embed_peers: {model_dir} has no fast tokenizer")
    model = AutoModel.from_pretrained(model_dir).eval()
    torch_pipeline = TorchPipeline(tokenizer, max_length, model)
    log(f"{model_dir.name}: max_seq_length {max_length}, {args.threads} threads, "
        f"torch {torch.__version__}, transformers {transformers.__version__}")

    # The first 8 texts of every set, one at a time and in padded batches of 8, for the checks.
    sample = [t for _, texts in sets for t in texts[:8]]
    check_batches = [1, 8]

    from sentence_transformers import SentenceTransformer
    reference = SentenceTransformer(str(model_dir), device="cpu")
    check(lambda t: reference.encode(t, batch_size=len(t), convert_to_numpy=True),
          torch_pipeline.embed, sample, "sentence-transformers vs torch pipeline", check_batches)
    del reference

    # Two OpenMP threads on two busy cores wait at every barrier for a descheduled partner:
    # PyTorch at batch 1 slows down tens of times when one compiler runs next to it.
    busy = cpu_busy_seconds()
    time.sleep(1.0)
    others = cpu_busy_seconds() - busy
    if others + args.threads > (os.cpu_count() or 1) + 0.5:
        log(f"warning: other processes keep {others:.1f} of {os.cpu_count()} cores busy; "
            f"with {args.threads} threads the numbers will mostly measure the contention")

    pipelines = {}
    if "torch" in peers:
        pipelines["torch"] = (torch_pipeline, torch.__version__)
    if "onnxruntime" in peers:
        import onnxruntime as ort
        sha = weights_sha256(model_dir)
        path = Path(args.onnx_cache).expanduser() / \
            f"{model_dir.name}-{sha}-torch{torch.__version__.split('+')[0]}.onnx"
        if path.exists():
            log(f"using cached {path}")
        else:
            export_onnx(model, tokenizer, path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        ort_pipeline = OrtPipeline(tokenizer, max_length, session)
        check(torch_pipeline.embed, ort_pipeline.embed, sample, "onnxruntime vs torch",
              check_batches)
        pipelines["onnxruntime"] = (ort_pipeline, ort.__version__)

    for peer in peers:
        pipeline, version = pipelines[peer]
        for name, texts in sets:
            for batch in batches:
                sentences, seconds, ours, others = measure(pipeline.embed, texts, batch,
                                                           args.min_seconds)
                row = {"peer": peer, "set": name, "batch": batch,
                       "sentences_per_s": round(sentences / seconds, 2),
                       "seconds": round(seconds, 3), "sentences": sentences,
                       "threads": args.threads, "version": version}
                print(json.dumps(row), flush=True)
                log(f"{peer} {name} batch {batch}: {sentences / seconds:.1f} sentences/s; "
                    f"cores busy: {ours:.2f} here, {others:.2f} elsewhere")
        del pipelines[peer]
        gc.collect()


if __name__ == "__main__":
    main()
