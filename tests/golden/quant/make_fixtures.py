"""Golden fixtures for trustformers' GGUF block dequantization: reference numbers from gguf-py.

What it writes, next to this file (tests/golden/quant/):

  blocks.bin.gz
      One gzip stream (mtime 0, no file name, so reruns are byte-identical) holding, case after
      case, the raw GGUF block bytes of the case followed by the float32 values (little-endian)
      that the `gguf` package's `gguf.quants.dequantize` returns for them.
  cases.json
      The index: a `header` (library versions, seeds, the SHA-256 of the uncompressed data and of
      the model file the real blocks come from), `types` (ggml type id, weights per block and
      bytes per block for every type, from gguf.GGML_QUANT_SIZES) and `cases`: name, type, weight
      count, where the block bytes and the expected floats lie in the uncompressed data, and how
      the blocks were made.

The cases, per type:

  F32, F16, BF16      seeded normal data converted by the package (F16 and BF16 through
                      `gguf.quants.quantize`); every one of the 65,536 F16 bit patterns (signalling
                      and quiet NaNs, infinities, subnormals included) and every 16th BF16 one
                      plus its special values.
  Q4_0, Q4_1, Q8_0    seeded float data in several distributions (normal, small weights with
                      outliers, blocks of zeros among normal ones, tiny magnitudes that give
                      subnormal or zero f16 scales, large magnitudes, positive only, constant
                      blocks) quantized by the package; and seeded random raw blocks whose f16
                      scales are set to finite values (every nibble/byte value, not only those a
                      quantizer emits).
  Q4_K, Q5_K, Q6_K    gguf 0.19.0 has no quantizer for the K-quants (it raises
                      NotImplementedError, checked here), so seeded random raw super-blocks: any
                      bytes are a valid block once the f16 scales d / dmin are finite, and those
                      are set explicitly (typical, negative, subnormal, zero, large); plus one
                      all-0xFF and one all-zero super-block with d = dmin = 1.
  real blocks         the first blocks of a few tensors of SmolLM2-135M-Instruct.Q4_1.gguf, read
                      with the package's GGUFReader: Q4_1 weights, the Q8_0 token embedding, F32
                      norms.

How to run (offline: only the local model file is read; nothing is downloaded):

    scripts/setup-ref-venv.sh
    $HOME/.cache/trustformers/ref-venv/bin/python tests/golden/quant/make_fixtures.py

The GGUF file defaults to $TRUSTFORMERS_HOME/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf
(else ~/.cache/trustformers/models/...); `--gguf FILE` overrides it, `--out DIR` the output
folder. The run is deterministic: running it twice gives byte-identical files.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib.metadata
import io
import json
import os
import platform
import sys
from pathlib import Path

import gguf
import numpy as np
from gguf import GGMLQuantizationType as T

HERE = Path(__file__).resolve().parent
DATA_FILE = "blocks.bin.gz"
INDEX_FILE = "cases.json"
SEED = 20240611
MODEL_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
TYPES = (T.F32, T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q8_0, T.Q4_K, T.Q5_K, T.Q6_K)
K_QUANTS = (T.Q4_K, T.Q5_K, T.Q6_K)
# Byte offsets of the f16 scales inside a block: (d, second scale or None).
SCALE_OFFSETS = {
    T.Q4_0: (0, None),
    T.Q4_1: (0, 2),    # d, m
    T.Q8_0: (0, None),
    T.Q4_K: (0, 2),    # d, dmin
    T.Q5_K: (0, 2),    # d, dmin
    T.Q6_K: (208, None),  # d comes last, after ql[128], qh[64], scales[16]
}
# Real blocks: (tensor name, number of blocks from its start).
REAL_TENSORS = (
    ("blk.0.attn_q.weight", 64),
    ("blk.0.ffn_down.weight", 64),
    ("blk.29.ffn_up.weight", 64),
    ("token_embd.weight", 64),
    ("blk.0.attn_norm.weight", 576),
    ("output_norm.weight", 576),
)


class Fixtures:
    """Accumulates cases: raw bytes + expected floats, and their index entries."""

    def __init__(self) -> None:
        self.data = io.BytesIO()
        self.cases: list[dict] = []

    def add(self, name: str, qtype: T, raw: np.ndarray, source: str) -> None:
        raw = np.ascontiguousarray(raw, dtype=np.uint8).reshape(-1)
        block_size, type_size = gguf.GGML_QUANT_SIZES[qtype]
        assert raw.size % type_size == 0, name
        count = raw.size // type_size * block_size
        expected = np.asarray(gguf.quants.dequantize(raw, qtype), dtype=np.float32).reshape(-1)
        assert expected.dtype == np.float32 and expected.size == count, name
        blocks_offset = self.data.tell()
        self.data.write(raw.tobytes())
        values_offset = self.data.tell()
        self.data.write(expected.astype("<f4").tobytes())
        self.cases.append({
            "name": name,
            "type": qtype.name,
            "count": int(count),
            "blocks_offset": blocks_offset,
            "blocks_bytes": int(raw.size),
            "values_offset": values_offset,
            "source": source,
        })


def f16_bytes(values: np.ndarray) -> np.ndarray:
    """Finite float16 little-endian bytes, shape (n, 2)."""
    h = np.asarray(values, dtype=np.float32).astype("<f2")
    assert np.all(np.isfinite(h))
    return h.view(np.uint8).reshape(-1, 2)


def float_distributions(rng: np.random.Generator, n_blocks: int, block: int) -> dict:
    """Named float32 arrays of n_blocks * block values."""
    n = n_blocks * block
    outliers = rng.normal(0, 0.02, n)
    picks = rng.random(n) < 0.01
    outliers[picks] = rng.choice([-1.0, 1.0], picks.sum()) * rng.uniform(0.5, 2.0, picks.sum())
    zero_blocks = rng.normal(0, 1, (n_blocks, block))
    zero_blocks[rng.random(n_blocks) < 0.5] = 0.0
    zero_blocks[0] = 0.0
    constant = np.repeat(rng.normal(0, 1, (n_blocks, 1)), block, axis=1)
    return {
        "normal": rng.normal(0, 1, n),
        "outliers": outliers,
        "zero_blocks": zero_blocks.reshape(-1),
        "tiny_1e-6": rng.normal(0, 1e-6, n),  # f16 scales in the subnormal range
        "tiny_1e-9": rng.normal(0, 1e-9, n),  # scales that round to (near) zero in f16
        "large": rng.normal(0, 1000, n),
        "positive": rng.uniform(0.5, 2.0, n),
        "constant_blocks": constant.reshape(-1),
    }


def random_scales(rng: np.random.Generator, n: int) -> np.ndarray:
    """Finite f16 scale values of mixed kinds: typical, negative, subnormal, zero, large."""
    kind = rng.integers(0, 6, n)
    typical = rng.uniform(1e-4, 0.05, n)
    values = np.select(
        [kind == 0, kind == 1, kind == 2, kind == 3, kind == 4],
        [typical, -typical, rng.uniform(1e-7, 6e-5, n), np.zeros(n), rng.uniform(-2000, 2000, n)],
        rng.normal(0, 1, n))
    return values


def random_blocks(rng: np.random.Generator, qtype: T, n_blocks: int) -> np.ndarray:
    """Seeded random raw blocks with explicitly finite f16 scales."""
    _, type_size = gguf.GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, (n_blocks, type_size), dtype=np.uint8)
    for offset in SCALE_OFFSETS[qtype]:
        if offset is not None:
            raw[:, offset:offset + 2] = f16_bytes(random_scales(rng, n_blocks))
    return raw


def edge_blocks(qtype: T) -> np.ndarray:
    """One all-0xFF and one all-zero block, f16 scales set to 1.0."""
    _, type_size = gguf.GGML_QUANT_SIZES[qtype]
    raw = np.stack([np.full(type_size, 0xFF, np.uint8), np.zeros(type_size, np.uint8)])
    for offset in SCALE_OFFSETS[qtype]:
        if offset is not None:
            raw[:, offset:offset + 2] = f16_bytes(np.ones(2))
    return raw


def quantize(values: np.ndarray, qtype: T) -> np.ndarray:
    block_size, _ = gguf.GGML_QUANT_SIZES[qtype]
    rows = np.asarray(values, dtype=np.float32).reshape(-1, block_size * 8)
    return np.asarray(gguf.quants.quantize(rows, qtype)).view(np.uint8)


def make_float_cases(fx: Fixtures, rng: np.random.Generator) -> None:
    normal = rng.normal(0, 1, 1024).astype(np.float32)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, 1e-40, -1e-45, 3.4028235e38, 1.0, -2.5],
                        dtype=np.float32)
    fx.add("f32/normal+specials", T.F32,
           np.concatenate([normal, specials]).view(np.uint8), "float32 bytes as stored")
    fx.add("f16/normal", T.F16, quantize(normal, T.F16), "gguf.quants.quantize")
    fx.add("f16/all_bit_patterns", T.F16, np.arange(65536, dtype="<u2").view(np.uint8),
           "every uint16 pattern 0..65535")
    fx.add("bf16/normal", T.BF16, quantize(normal * 100, T.BF16), "gguf.quants.quantize")
    fx.add("bf16/every_16th_pattern", T.BF16,
           np.concatenate([np.arange(0, 65536, 16), [0x7f80, 0xff80, 0x7fc0, 0x7f81, 0x0001,
                                                     0x8001, 0x7f7f, 0xff7f]]).astype("<u2")
           .view(np.uint8), "uint16 patterns 0, 16, 32, ... plus inf, NaN, subnormal, max")


def make_legacy_cases(fx: Fixtures, rng: np.random.Generator) -> None:
    n_blocks = 32  # per case: 1,024 weights
    for qtype in (T.Q4_0, T.Q4_1, T.Q8_0):
        block_size, _ = gguf.GGML_QUANT_SIZES[qtype]
        for name, values in float_distributions(rng, n_blocks, block_size).items():
            fx.add(f"{qtype.name.lower()}/{name}", qtype, quantize(values, qtype),
                   "gguf.quants.quantize of seeded float32 data")
        fx.add(f"{qtype.name.lower()}/random_raw", qtype, random_blocks(rng, qtype, n_blocks),
               "seeded random bytes, finite f16 scales set explicitly")
        fx.add(f"{qtype.name.lower()}/edge", qtype, edge_blocks(qtype),
               "an all-0xFF and an all-zero block, f16 scales 1.0")


def make_k_quant_cases(fx: Fixtures, rng: np.random.Generator) -> None:
    for qtype in K_QUANTS:
        try:
            gguf.quants.quantize(np.zeros((1, 256), np.float32), qtype)
        except NotImplementedError:
            pass
        else:
            raise SystemExit(f"make_fixtures: gguf now quantizes {qtype.name}: add quantized "
                             "cases for it")
        for i in range(4):
            fx.add(f"{qtype.name.lower()}/random_raw_{i}", qtype, random_blocks(rng, qtype, 16),
                   "seeded random bytes, finite f16 scales set explicitly")
        fx.add(f"{qtype.name.lower()}/edge", qtype, edge_blocks(qtype),
               "an all-0xFF and an all-zero super-block, f16 scales 1.0")


def make_real_cases(fx: Fixtures, gguf_path: Path) -> None:
    reader = gguf.GGUFReader(str(gguf_path))
    tensors = {t.name: t for t in reader.tensors}
    for name, n_blocks in REAL_TENSORS:
        tensor = tensors[name]
        qtype = tensor.tensor_type
        _, type_size = gguf.GGML_QUANT_SIZES[qtype]
        raw = np.asarray(tensor.data).view(np.uint8).reshape(-1)[:n_blocks * type_size]
        assert raw.size == n_blocks * type_size, name
        fx.add(f"real/{name}", qtype, raw.copy(),
               f"the first {n_blocks} blocks of {name} ({qtype.name}) in {gguf_path.name}")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def default_gguf() -> Path:
    home = os.environ.get("TRUSTFORMERS_HOME")
    root = Path(home) if home else Path.home() / ".cache" / "trustformers" / "models"
    return root / "smollm2-135m-instruct" / MODEL_NAME


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gguf", type=Path, default=default_gguf())
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()
    gguf_path = args.gguf.resolve()
    out = args.out.resolve()
    if not gguf_path.is_file():
        print(f"make_fixtures: no {gguf_path}; run scripts/fetch-models.sh", file=sys.stderr)
        return 1
    out.mkdir(parents=True, exist_ok=True)

    rng = np.random.default_rng(SEED)
    fx = Fixtures()
    make_float_cases(fx, rng)
    make_legacy_cases(fx, rng)
    make_k_quant_cases(fx, rng)
    make_real_cases(fx, gguf_path)

    data = fx.data.getvalue()
    compressed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, compresslevel=9,
                       mtime=0) as f:
        f.write(data)
    (out / DATA_FILE).write_bytes(compressed.getvalue())

    index = {
        "header": {
            "generator": "tests/golden/quant/make_fixtures.py",
            "versions": {
                "python": platform.python_version(),
                "gguf": importlib.metadata.version("gguf"),
                "numpy": np.__version__,
            },
            "seed": SEED,
            "data_file": DATA_FILE,
            "data_bytes": len(data),
            "data_sha256": hashlib.sha256(data).hexdigest(),
            "model_file": MODEL_NAME,
            "model_sha256": sha256_file(gguf_path),
            "layout": "uncompressed data: per case, blocks_bytes raw block bytes at blocks_offset, "
                      "then count float32 little-endian values at values_offset "
                      "(gguf.quants.dequantize of those bytes)",
        },
        "types": {
            qtype.name: {
                "id": int(qtype),
                "block_size": gguf.GGML_QUANT_SIZES[qtype][0],
                "type_size": gguf.GGML_QUANT_SIZES[qtype][1],
            } for qtype in TYPES
        },
        "cases": fx.cases,
    }
    with open(out / INDEX_FILE, "w", encoding="utf-8") as f:
        json.dump(index, f, indent=1)
        f.write("\n")
    print(f"make_fixtures: {len(fx.cases)} cases, {len(data)} bytes of data; wrote "
          f"{out / DATA_FILE} ({(out / DATA_FILE).stat().st_size} bytes), "
          f"{out / INDEX_FILE} ({(out / INDEX_FILE).stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
