"""SentencePiece models and reference encodings for the C++ SentencePiece tokenizer
(tokenizers/sentencepiece_tokenizer.h), made with the `sentencepiece` Python package.

Trains two small models on the texts of tests/golden/bpe/corpus.txt.gz (deterministic: one
thread, no shuffling) and writes, next to this script:

  bpe.model       a Llama-2-style model: BPE, byte fallback, identity normalisation, a dummy
                  prefix, digits split, control tokens <|im_start|> <|im_end|> and a user-defined
                  <tool>.
  unigram.model   a Unigram model with the default nmt_nfkc normalisation and no byte fallback.
  bpe.gguf        bpe.model's pieces, scores and types as GGUF tokenizer metadata
                  (tokenizer.ggml.model "llama"), the form llama.cpp conversion writes.
  ids.txt.gz      for every corpus line, the ids of sp.encode(line) under each model.
  decode.jsonl.gz decode cases: corpus encodings and random ids, with sp.decode's text.

Run with the reference virtualenv after the BPE fixtures exist:

  ~/.cache/trustformers/ref-venv/bin/python tests/golden/sentencepiece/make_fixtures.py
"""

import gzip
import io
import json
import random
import sys
from pathlib import Path

import gguf
import sentencepiece as spm

SENTENCEPIECE_VERSION = "0.2.3"
SEED = 20241130
HERE = Path(__file__).resolve().parent
CORPUS = HERE.parent / "bpe" / "corpus.txt.gz"
COMMON = dict(vocab_size=3000, num_threads=1, shuffle_input_sentence=False,
              input_sentence_size=0, max_sentence_length=1 << 20, character_coverage=0.99,
              hard_vocab_limit=False, minloglevel=2)


def corpus_texts():
    texts = []
    with gzip.open(CORPUS, "rt", encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                continue
            texts.append(json.loads(line.rstrip("\n").split("\t")[0]))
    return texts


def train(texts, **options):
    model = io.BytesIO()
    # Training reads one sentence per item; the corpus has multi-line texts, split them.
    sentences = [s for t in texts for s in t.split("\n") if s.strip()]
    spm.SentencePieceTrainer.train(sentence_iterator=iter(sentences), model_writer=model,
                                   **COMMON, **options)
    return model.getvalue()


def write_gguf(processor, path):
    writer = gguf.GGUFWriter(str(path), "llama")
    n = processor.get_piece_size()
    tokens, scores, types = [], [], []
    for i in range(n):
        tokens.append(processor.id_to_piece(i))
        scores.append(processor.get_score(i))
        if processor.is_unknown(i):
            types.append(2)
        elif processor.is_control(i):
            types.append(3)
        elif processor.is_byte(i):
            types.append(6)
        elif processor.is_unused(i):
            types.append(5)
        elif tokens[-1] == "<tool>":
            types.append(4)
        else:
            types.append(1)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(processor.bos_id())
    writer.add_eos_token_id(processor.eos_id())
    writer.add_unk_token_id(processor.unk_id())
    writer.add_add_bos_token(True)
    writer.add_add_space_prefix(True)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def main():
    if spm.__version__ != SENTENCEPIECE_VERSION:
        sys.exit(f"need sentencepiece=={SENTENCEPIECE_VERSION}, found {spm.__version__}")
    texts = corpus_texts()
    bpe = train(texts, model_type="bpe", byte_fallback=True, normalization_rule_name="identity",
                add_dummy_prefix=True, remove_extra_whitespaces=False, split_digits=True,
                control_symbols=["<|im_start|>", "<|im_end|>"], user_defined_symbols=["<tool>"])
    unigram = train(texts, model_type="unigram")
    (HERE / "bpe.model").write_bytes(bpe)
    (HERE / "unigram.model").write_bytes(unigram)
    processors = {"bpe": spm.SentencePieceProcessor(model_proto=bpe),
                  "unigram": spm.SentencePieceProcessor(model_proto=unigram)}
    write_gguf(processors["bpe"], HERE / "bpe.gguf")

    header = (f"# made by tests/golden/sentencepiece/make_fixtures.py with sentencepiece=="
              f"{spm.__version__}, seed {SEED}\n")
    with gzip.GzipFile(HERE / "ids.txt.gz", "wb", mtime=0) as raw:
        raw.write(header.encode())
        raw.write(b"# one line per corpus line: bpe.model ids <TAB> unigram.model ids\n")
        for text in texts:
            fields = [" ".join(map(str, processors[name].encode(text)))
                      for name in ("bpe", "unigram")]
            raw.write(("\t".join(fields) + "\n").encode())

    rng = random.Random(SEED)
    with gzip.GzipFile(HERE / "decode.jsonl.gz", "wb", mtime=0) as raw:
        raw.write(header.encode())
        for i in range(600):
            name = "bpe" if i % 2 == 0 else "unigram"
            sp = processors[name]
            if i % 3 == 2:
                ids = [rng.randrange(sp.get_piece_size()) for _ in range(rng.randint(0, 25))]
            else:
                ids = sp.encode(rng.choice(texts))
            case = {"model": name, "ids": ids, "expect": sp.decode(ids)}
            raw.write((json.dumps(case, ensure_ascii=False) + "\n").encode())
    print(f"{len(texts)} lines; bpe.model {len(bpe)} bytes, unigram.model {len(unigram)} bytes")


if __name__ == "__main__":
    main()
