"""Seed corpus for gguf_fuzzer.cc: small valid GGUF files (v2 and v3, a tiny Llama with a BPE
vocabulary, metadata of every value type, arrays, nested arrays) written with the `gguf`
package's writer logic reimplemented here byte by byte, so the seeds need no dependency.
Run: python3 tests/fuzz/make_seeds.py OUT_DIR"""

import struct
import sys
from pathlib import Path


def s(text):
    b = text.encode()
    return struct.pack("<Q", len(b)) + b


def kv(key, vtype, payload):
    return s(key) + struct.pack("<I", vtype) + payload


def array(etype, items):
    return struct.pack("<IQ", etype, len(items)) + b"".join(items)


def gguf(version, metadata, tensors, alignment=32):
    out = b"GGUF" + struct.pack("<I", version) + struct.pack("<QQ", len(tensors), len(metadata))
    out += b"".join(metadata)
    offset = 0
    infos, blobs = b"", []
    for name, dims, ggml_type, data in tensors:
        infos += s(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        infos += struct.pack("<IQ", ggml_type, offset)
        blobs.append((offset, data))
        offset += (len(data) + alignment - 1) // alignment * alignment
    out += infos
    out += b"\0" * ((-len(out)) % alignment)
    body = bytearray(offset)
    for at, data in blobs:
        body[at:at + len(data)] = data
    return out + bytes(body)


def tiny_llama():
    h, ff, vocab, layers = 32, 64, 8, 1
    tokens = [b"<unk>", b"<s>", b"</s>", b"a", b"b", b"ab", b"\xc4\xa0", b"\xc4\xa0a"]
    meta = [
        kv("general.architecture", 8, s("llama")),
        kv("llama.block_count", 4, struct.pack("<I", layers)),
        kv("llama.embedding_length", 4, struct.pack("<I", h)),
        kv("llama.feed_forward_length", 4, struct.pack("<I", ff)),
        kv("llama.attention.head_count", 4, struct.pack("<I", 4)),
        kv("llama.attention.head_count_kv", 4, struct.pack("<I", 2)),
        kv("llama.context_length", 4, struct.pack("<I", 64)),
        kv("llama.attention.layer_norm_rms_epsilon", 6, struct.pack("<f", 1e-5)),
        kv("tokenizer.ggml.model", 8, s("gpt2")),
        kv("tokenizer.ggml.pre", 8, s("smollm")),
        kv("tokenizer.ggml.tokens", 9, array(8, [struct.pack("<Q", len(t)) + t for t in tokens])),
        kv("tokenizer.ggml.token_type", 9, array(5, [struct.pack("<i", 3 if i < 3 else 1)
                                                     for i in range(len(tokens))])),
        kv("tokenizer.ggml.merges", 9, array(8, [s("a b"), s("\u0120 a")])),
        kv("tokenizer.ggml.bos_token_id", 4, struct.pack("<I", 1)),
        kv("tokenizer.ggml.eos_token_id", 4, struct.pack("<I", 2)),
    ]
    f32 = lambda n: struct.pack(f"<{n}f", *([0.01] * n))
    tensors = [("token_embd.weight", [h, vocab], 0, f32(h * vocab)),
               ("output_norm.weight", [h], 0, f32(h))]
    for i in range(layers):
        p = f"blk.{i}."
        tensors += [(p + "attn_norm.weight", [h], 0, f32(h)),
                    (p + "attn_q.weight", [h, h], 0, f32(h * h)),
                    (p + "attn_k.weight", [h, 16], 0, f32(h * 16)),
                    (p + "attn_v.weight", [h, 16], 0, f32(h * 16)),
                    (p + "attn_output.weight", [h, h], 0, f32(h * h)),
                    (p + "ffn_norm.weight", [h], 0, f32(h)),
                    (p + "ffn_gate.weight", [h, ff], 0, f32(h * ff)),
                    (p + "ffn_up.weight", [h, ff], 0, f32(h * ff)),
                    (p + "ffn_down.weight", [ff, h], 0, f32(h * ff))]
    return gguf(3, meta, tensors)


def every_type():
    meta = [kv("u8", 0, b"\x01"), kv("i8", 1, b"\xff"), kv("u16", 2, b"\x01\x00"),
            kv("i16", 3, b"\xff\xff"), kv("u32", 4, b"\x01\0\0\0"), kv("i32", 5, b"\xff" * 4),
            kv("f32", 6, struct.pack("<f", 1.5)), kv("bool", 7, b"\x01"), kv("str", 8, s("x")),
            kv("u64", 10, b"\x01" + b"\0" * 7), kv("i64", 11, b"\xff" * 8),
            kv("f64", 12, struct.pack("<d", 2.5)),
            kv("nested", 9, array(9, [array(4, [b"\x01\0\0\0"]), array(8, [s("y")])]))]
    return gguf(2, meta, [("t", [32], 8, b"\0" * 34)])


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    (out / "tiny_llama.gguf").write_bytes(tiny_llama())
    (out / "every_type.gguf").write_bytes(every_type())
    (out / "empty_v3.gguf").write_bytes(gguf(3, [], []))


if __name__ == "__main__":
    main()
