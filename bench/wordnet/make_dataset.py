"""WordNet noun-category classification data for the fine-tuning benchmark (bench/train_peer.py
and the C++ Trainer): short English definitions labelled with their WordNet lexicographer file.

What it writes, into --out (default build/wordnet, not committed):

  train.jsonl, test.jsonl
      One JSON object a line: {"text": ..., "label": ...}. `text` is the synset's first word
      (underscores turned into spaces) + ": " + the definition part of its gloss (the gloss up to
      the first `; "`, where the usage examples begin), e.g.
      {"text": "aardvark: nocturnal burrowing mammal of the grasslands of Africa that feeds on
      termites; sole extant representative of the order Tubulidentata", "label": "noun.animal"}.
  meta.json
      The classes (sorted: the label index order), the split rule, per-class counts and the
      SHA-256 of the data.noun read.

Source: /usr/share/wordnet/data.noun (WordNet 3.0, Debian package wordnet-base:
`apt-get install -y wordnet-base`). Each data line is
`synset_offset lex_filenum ss_type w_cnt word lex_id [word lex_id...] p_cnt ... | gloss`
(w_cnt in hex); the license header lines start with two spaces and are skipped. The label is
the lexicographer file of lex_filenum (the lexnames table below).

Classes: the six concrete noun categories with at least 2,500 synsets each (counts in WordNet
3.0, see --check): noun.artifact 11587, noun.person 11087, noun.plant 8030, noun.animal 7509,
noun.location 3209, noun.food 2573. (noun.act 6650, noun.communication 5607 and noun.state 3544
are as large but abstract, with heavily overlapping glosses; they are left out.) --classes
changes the set.

Split: a synset is a test example when its offset % 10 == 0 (offsets are byte positions in
data.noun, so this is an arbitrary but fixed ~10%), a training example otherwise. Each class is
capped at --train-per-class (500) training and --test-per-class (100) test examples, so the
default sizes are 3000 and 600, balanced. Which synsets survive the cap, and the order of the
output lines, is fixed by SHA-256 of the offset (a stable pseudo-random order that interleaves
the classes): the output is the same on every run and machine.

How to run (plain Python 3, no third-party packages):

    python3 bench/wordnet/make_dataset.py                 # writes build/wordnet/{train,test}.jsonl
    python3 bench/wordnet/make_dataset.py --check         # prints class counts, writes nothing
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import sys
from pathlib import Path

DATA_NOUN = Path("/usr/share/wordnet/data.noun")

# WordNet's lexnames file (lex_filenum -> lexicographer file); 00-02 are adjective/adverb files.
LEXNAMES = {
    0: "adj.all", 1: "adj.pert", 2: "adv.all", 3: "noun.Tops", 4: "noun.act",
    5: "noun.animal", 6: "noun.artifact", 7: "noun.attribute", 8: "noun.body",
    9: "noun.cognition", 10: "noun.communication", 11: "noun.event", 12: "noun.feeling",
    13: "noun.food", 14: "noun.group", 15: "noun.location", 16: "noun.motive",
    17: "noun.object", 18: "noun.person", 19: "noun.phenomenon", 20: "noun.plant",
    21: "noun.possession", 22: "noun.process", 23: "noun.quantity", 24: "noun.relation",
    25: "noun.shape", 26: "noun.state", 27: "noun.substance", 28: "noun.time",
}
DEFAULT_CLASSES = ("noun.animal", "noun.artifact", "noun.food", "noun.location", "noun.person",
                   "noun.plant")
TEST_MODULUS = 10  # test when offset % 10 == 0


def parse(path: Path) -> list[dict]:
    """Every synset of data.noun: offset, label, first word, definition."""
    synsets = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("  "):  # license header
                continue
            head, sep, gloss = line.partition(" | ")
            if not sep:
                raise ValueError(f"{path}: no gloss in line {line[:60]!r}")
            fields = head.split(" ")
            offset, lex_filenum, ss_type, w_cnt = fields[0], fields[1], fields[2], fields[3]
            assert ss_type == "n", line[:60]
            assert int(w_cnt, 16) >= 1, line[:60]
            word = fields[4].replace("_", " ")
            definition = gloss.split('; "', 1)[0].strip()
            synsets.append({"offset": int(offset), "label": LEXNAMES[int(lex_filenum)],
                            "text": f"{word}: {definition}"})
    return synsets


def order_key(offset: int) -> str:
    return hashlib.sha256(str(offset).encode()).hexdigest()


def select(synsets: list[dict], classes: list[str], per_class: int, test: bool) -> list[dict]:
    by_class = collections.defaultdict(list)
    for s in synsets:
        if s["label"] in classes and (s["offset"] % TEST_MODULUS == 0) == test:
            by_class[s["label"]].append(s)
    chosen = []
    for label in classes:
        chosen += sorted(by_class[label], key=lambda s: order_key(s["offset"]))[:per_class]
    return sorted(chosen, key=lambda s: order_key(s["offset"]))


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-noun", type=Path, default=DATA_NOUN)
    parser.add_argument("--out", type=Path, default=Path("build/wordnet"))
    parser.add_argument("--classes", default=",".join(DEFAULT_CLASSES),
                        help="comma-separated lexicographer files (default: %(default)s)")
    parser.add_argument("--train-per-class", type=int, default=500)
    parser.add_argument("--test-per-class", type=int, default=100)
    parser.add_argument("--check", action="store_true",
                        help="print the class counts (all of data.noun and the selection) and "
                             "write nothing")
    args = parser.parse_args()
    if not args.data_noun.is_file():
        print(f"make_dataset: no {args.data_noun}; apt-get install -y wordnet-base",
              file=sys.stderr)
        return 1
    classes = sorted(c.strip() for c in args.classes.split(",") if c.strip())
    unknown = [c for c in classes if c not in LEXNAMES.values()]
    if unknown:
        print(f"make_dataset: unknown classes {unknown}", file=sys.stderr)
        return 1

    synsets = parse(args.data_noun)
    train = select(synsets, classes, args.train_per_class, test=False)
    test = select(synsets, classes, args.test_per_class, test=True)
    train_counts = collections.Counter(s["label"] for s in train)
    test_counts = collections.Counter(s["label"] for s in test)

    if args.check:
        total = collections.Counter(s["label"] for s in synsets)
        in_test = collections.Counter(s["label"] for s in synsets
                                      if s["offset"] % TEST_MODULUS == 0)
        print(f"{'lexicographer file':<22}{'synsets':>9}{'train-split':>13}{'test-split':>12}"
              f"{'train':>7}{'test':>6}")
        for name, n in sorted(total.items(), key=lambda kv: -kv[1]):
            mark = "*" if name in classes else " "
            print(f"{mark}{name:<21}{n:>9}{n - in_test[name]:>13}{in_test[name]:>12}"
                  f"{train_counts.get(name, 0):>7}{test_counts.get(name, 0):>6}")
        print(f"{len(synsets)} noun synsets; * = chosen; selected {len(train)} train, "
              f"{len(test)} test")
        lengths = sorted(len(s["text"].split()) for s in train)
        print(f"train text length in words: median {lengths[len(lengths) // 2]}, "
              f"max {lengths[-1]}")
        return 0

    args.out.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train.jsonl", train), ("test.jsonl", test)):
        with open(args.out / name, "w", encoding="utf-8") as f:
            for s in rows:
                f.write(json.dumps({"text": s["text"], "label": s["label"]},
                                   ensure_ascii=False) + "\n")
    meta = {
        "generator": "bench/wordnet/make_dataset.py",
        "source": str(args.data_noun),
        "source_sha256": sha256_file(args.data_noun),
        "classes": classes,
        "split": f"test when synset offset % {TEST_MODULUS} == 0",
        "cap": {"train_per_class": args.train_per_class, "test_per_class": args.test_per_class},
        "order": "sha256 of the decimal offset",
        "train_counts": {c: train_counts.get(c, 0) for c in classes},
        "test_counts": {c: test_counts.get(c, 0) for c in classes},
    }
    (args.out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    counts = ", ".join(f"{c} {train_counts[c]}/{test_counts[c]}" for c in classes)
    print(f"make_dataset: wrote {args.out}/train.jsonl ({len(train)}), test.jsonl ({len(test)}), "
          f"meta.json; classes (train/test) {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
