"""Reference encodings for the C++ tokenizer (tokenizers/), made with Hugging Face `tokenizers`.

Writes, next to this script:
  corpus.txt.gz   a seeded corpus of 10,000+ varied lines (English, accented Latin in NFC and
                  NFD, CJK, emoji, right-to-left and Indic scripts, control characters, lone
                  combining marks, over-long words, punctuation, numbers, URLs and code, empty
                  lines, 512+ token paragraphs, literal special tokens) with, for each line, the
                  ids, type ids and offsets of `encode(line)` without truncation or padding.
  cases.jsonl.gz  300+ smaller cases: pairs, truncation (every strategy and side), padding
                  (fixed, batch-longest, multiples, left), batches, add_special_tokens=False,
                  and decode with and without skip_special_tokens.
Offsets are UTF-8 byte offsets into the input (Python reports character offsets; they are
converted here), which is what the C++ tokenizer reports.

Run with the reference virtualenv (scripts/setup-ref-venv.sh creates it from
tests/golden/requirements-ref.txt, which pins tokenizers) after `make fetch-models`:

  ~/.cache/trustformers/ref-venv/bin/python tests/golden/tokenizers/make_fixtures.py

The output depends only on the seed, the pinned tokenizers version and the model's tokenizer.json
(both recorded in each file's header), so rerunning it gives identical files.
"""

import gzip
import hashlib
import json
import os
import random
import sys
import unicodedata
from pathlib import Path

import tokenizers
from tokenizers import Tokenizer

TOKENIZERS_VERSION = "0.23.3"
SEED = 20240611
HERE = Path(__file__).resolve().parent
MODEL_HOME = Path(os.environ.get("TRUSTFORMERS_HOME",
                                 Path.home() / ".cache" / "trustformers" / "models"))
TOKENIZER_JSON = MODEL_HOME / "all-minilm-l6-v2" / "tokenizer.json"

# ---------------------------------------------------------------------------------------------
# Text material. Hand-written sentences and word lists per language; the generator combines them.

ENGLISH_WORDS = """
the of and to in is was for on that with as by at from his her it an were are which this be or
have had not but one all their they has been there who its more can also first new other time
after two would when into only some could these over such most made years city many may then
them school state world during about before three where well between under being later while
both used known through since those united film national during water people house season team
war music group year part second including life including series however work called high
family several area government south north early born name number found although against
American became back because day each end even four long made much never own place right same
show small still system three took way without young quick brown fox jumps lazy dog hello
tokenizer model language neural network transformer attention embedding sentence paragraph
unbelievable unaffordable internationalization disestablishment antidisestablishmentarianism
photosynthesis electroencephalography pneumonoultramicroscopic running jumped happily quickly
""".split()

PUNCT = [".", ",", "!", "?", ";", ":", "'", '"', "-", "(", ")", "...", "--", "?!", "'s", "n't"]

ACCENTED = [
    # French
    "Le cœur a ses raisons que la raison ne connaît point.",
    "Où est la bibliothèque ? Ça dépend de l'été prochain.",
    "Noël à Montréal : déjà vu, naïveté, façade, garçon, élève, crème brûlée.",
    "L'œuvre d'Émile Zola, « J'accuse… ! », paraît en 1898.",
    # German
    "Größe, Straße, Mädchen, Übermäßig, schön, Fußgängerübergänge.",
    "Die Bäume blühen im Frühling, und die Vögel singen fröhlich.",
    "Ärger über Öl und Überstunden? Grüße aus Köln und München!",
    # Spanish / Portuguese / others
    "¿Dónde está el niño? ¡Qué sorpresa! Mañana será otro día.",
    "Ação, coração, informação, não, são, português, você.",
    "Ångström, Øresund, Æsir, Þór, Ðrúð, čeština, Łódź, Żółć, Dvořák.",
    "İstanbul'da ılık bir gün; ğ, ş, ç, ö, ü harfleri Türkçe'dir.",
    "Crème fraîche, jalapeño, piñata, résumé, naïve, coöperate, Zoë.",
    # Vietnamese (stacked marks)
    "Tiếng Việt có nhiều dấu: người, được, những, thưởng, ngưỡng.",
    "Xin chào, tôi là người Việt Nam. Chúng tôi yêu hòa bình.",
    "Hà Nội, Thành phố Hồ Chí Minh, Đà Nẵng, Huế, Cần Thơ.",
    "Ở đây có phở, bún chả, bánh mì và cà phê sữa đá.",
    "Ngữ pháp tiếng Việt: ắ ằ ẳ ẵ ặ ấ ầ ẩ ẫ ậ ế ề ể ễ ệ ố ồ ổ ỗ ộ ớ ờ ở ỡ ợ ứ ừ ử ữ ự.",
]

CHINESE = [
    "我爱北京天安门。", "今天天气很好，我们去公园散步吧！", "机器学习是人工智能的一个分支。",
    "中华人民共和国成立于一九四九年。", "你好，世界！这是一个测试句子。", "學習漢字需要時間和耐心。",
]
JAPANESE = [
    "東京は日本の首都です。", "ひらがなとカタカナと漢字を使います。", "今日はいい天気ですね。",
    "コンピューターでプログラミングを勉強しています。", "ありがとうございました！",
]
KOREAN = [
    "안녕하세요, 만나서 반갑습니다.", "한국어는 한글로 씁니다.", "서울은 대한민국의 수도입니다.",
    "감사합니다! 좋은 하루 보내세요.",
]
OTHER_SCRIPTS = [
    "مرحبا بالعالم، هذا اختبار.", "اللغة العربية جميلة جدًا!", "كِتَابٌ مُفِيدٌ",
    "שלום עולם, זה מבחן.", "עִבְרִית עִם נִקּוּד",
    "नमस्ते दुनिया, यह एक परीक्षण है।", "हिन्दी भाषा बहुत सुंदर है।", "क्षत्रिय, द्वार, ज्ञान",
    "สวัสดีชาวโลก นี่คือการทดสอบ", "ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ",
    "Привет, мир! Это проверка.", "Ёлка, щука, объём, съешь ещё этих мягких булок.",
    "Γειά σου Κόσμε! Αυτό είναι ένα τεστ.", "ΆΈΉΊΌΎΏ άέήίόύώ ϊϋΐΰ",
    "Բարեւ աշխարհ", "გამარჯობა მსოფლიო", "হ্যালো বিশ্ব", "வணக்கம் உலகம்",
    "ሰላም ለዓለም", "Сәлем әлем", "ᐊᐃᓐᓇᐃᑦ",
]
EMOJI = [
    "😀", "😂", "🥰", "🤖", "🚀", "🎉", "❤️", "👍", "👍🏽", "👋🏿", "🧑🏼‍💻", "👨‍👩‍👧‍👦",
    "🏳️‍🌈", "🇫🇷", "🇯🇵", "1️⃣", "#️⃣", "©️", "™", "☕", "🫠", "🫶🏻", "👩‍❤️‍💋‍👨", "🐈‍⬛",
    "🤷‍♀️", "🙇🏾‍♂️", "✍️", "⭐", "🌍", "🔥",
]
CONTROLS = ["\t", "\x0b", "\x0c", "\r", "\n", "\r\n", "\x00", "\x1b", "\x07", "\x7f", "\x85",
            "\u200b", "\ufeff", "\ufffd", "\u00ad", "\u200c", "\u200d", "\u200e", "\u202e",
            "\u2028", "\u2029", "\u00a0", "\u3000", "\u2003", "\u2009", "\u180e", "\u2060",
            "\ue000", "\U000f0001", "\u061c", "\u0600", "\U0001d173"]
MARKS = ["\u0300", "\u0301", "\u0302", "\u0303", "\u0308", "\u030a", "\u0323", "\u0327",
         "\u0328", "\u031b", "\u0345", "\u0344", "\u0651", "\u05b4", "\u093c", "\u0e31",
         "\u20dd", "\u20e3", "\ufe0f", "\u0488", "\u1ab0", "\u1dc0", "\u0903", "\u0f71"]
PUNCT_RUNS = ["!!!", "???", "...", "?!?!", "---", "—", "–", "«»", "“”", "‘’", "„", "‚",
              "¿¡", "…", "·", "•", "§", "¶", "†", "‡", "‰", "′″", "※", "、。", "「」", "『』",
              "【】", "〈〉", "《》", "！？", "：；", "（）", "＠＃", "~~~", "^^", "&&", "||",
              "<<>>", "{}", "[]", "()", "/\\", "@#$%", "*+=", "`", "|", "_", "__init__",
              "¡Hola!", "¿Qué?", "‼", "⁉", "⸘", "¦", "÷×", "±", "°", "℃"]
URLS_CODE = [
    "https://example.com/path/to/page?query=1&lang=en#section-2",
    "http://www.test.org/~user/index.html", "ftp://files.example.net/pub/file_v2.tar.gz",
    "mailto:someone@example.com", "user.name+tag@sub.domain.co.uk",
    "def f(x): return x**2 + 3*x - 1", "for (int i = 0; i < n; ++i) { sum += a[i]; }",
    "std::vector<std::string> v{\"a\", \"b\"};", "SELECT * FROM users WHERE id = 42;",
    "git commit -m 'Fix #123: handle edge-case'", "C:\\Program Files\\App\\bin\\app.exe",
    "/usr/local/lib/python3.11/site-packages/", "{\"key\": [1, 2, 3], \"ok\": true}",
    "<div class=\"main\"><p>Hello</p></div>", "$HOME/.config && echo $?", "0x7FFF_FFFF",
    "a_b_c.d-e/f", "@mention #hashtag $TICKER", "v1.2.3-rc.4+build.567", "λx.x", "x ≠ y ≤ z",
]
NUMBERS = ["0", "7", "42", "3.14159", "2.718281828", "1,000,000", "1.000.000,50", "-273.15",
           "+1 (555) 123-4567", "2024-01-31", "12:34:56", "1e-10", "6.022e23", "50%", "$19.99",
           "€5", "£3.50", "¥1000", "₹250", "1/2", "½", "¾", "²", "³", "①②③", "Ⅻ", "٣٤٥",
           "१२३", "๑๒๓", "１２３", "0001", "123456789012345678901234567890", "3rd", "21st"]
SPECIAL_LITERALS = ["[CLS]", "[SEP]", "[MASK]", "[PAD]", "[UNK]", "[mask]", "[Mask]",
                    "[ MASK ]", "[MASK", "MASK]", "[[MASK]]", "[CLS][SEP]", "x[MASK]y",
                    "[MASK].", "[UNK]!", "<s>", "</s>", "<mask>", "##", "##ing", "[unused0]"]
SCRIPT_RANGES = [  # Blocks whose characters are all older than Unicode 9.0 (see the report).
    (0x00C0, 0x024F), (0x0250, 0x02AF), (0x0370, 0x03FF), (0x0400, 0x04FF), (0x0530, 0x058F),
    (0x05D0, 0x05EA), (0x0621, 0x064A), (0x064B, 0x0652), (0x0900, 0x097F), (0x0E01, 0x0E5B),
    (0x10A0, 0x10FF), (0x1100, 0x11FF), (0x1E00, 0x1EFF), (0x1F00, 0x1FFF), (0x2000, 0x206F),
    (0x20A0, 0x20BE), (0x2100, 0x214F), (0x2190, 0x21FF), (0x2200, 0x22FF), (0x2500, 0x257F),
    (0x2600, 0x26FF), (0x2E00, 0x2E42), (0x3000, 0x303F), (0x3040, 0x309F), (0x30A0, 0x30FF),
    (0x3400, 0x4DB5), (0x4E00, 0x9FD5), (0xAC00, 0xD7A3), (0xF900, 0xFAD9), (0xFE30, 0xFE4F),
    (0xFF00, 0xFFEF), (0x1F300, 0x1F5FF), (0x20000, 0x2A6D6), (0x2F800, 0x2FA1D),
]


class Generator:
    def __init__(self, seed):
        self.rng = random.Random(seed)

    def pick(self, items):
        return self.rng.choice(items)

    def english(self, n_words):
        words = []
        for i in range(n_words):
            w = self.pick(ENGLISH_WORDS)
            r = self.rng.random()
            if i == 0 or r < 0.1:
                w = w.capitalize()
            elif r < 0.13:
                w = w.upper()
            words.append(w)
            if self.rng.random() < 0.12:
                words.append(self.pick(PUNCT))
        sentence = " ".join(words)
        return sentence + self.pick([".", ".", ".", "!", "?", ""])

    def random_chars(self, n):
        out = []
        for _ in range(n):
            lo, hi = self.pick(SCRIPT_RANGES)
            c = chr(self.rng.randint(lo, hi))
            if unicodedata.category(c) in ("Cn", "Cs"):
                c = "?"
            out.append(c)
            if self.rng.random() < 0.2:
                out.append(" ")
        return "".join(out)

    def form(self, text):
        return unicodedata.normalize(self.pick(["NFC", "NFD", "NFC", "NFKC"]), text)

    def sprinkle(self, text, pool, count):
        chars = list(text)
        for _ in range(count):
            chars.insert(self.rng.randint(0, len(chars)), self.pick(pool))
        return "".join(chars)

    def line(self, kind):
        rng = self.rng
        if kind == "english":
            return self.english(rng.choice([1, 2, 3, 5, 8, 12, 20, 30, 45]))
        if kind == "paragraph":  # near or over 512 tokens
            return " ".join(self.english(rng.randint(8, 25)) for _ in range(rng.randint(18, 40)))
        if kind == "accented":
            text = " ".join(self.pick(ACCENTED) for _ in range(rng.randint(1, 3)))
            text = self.form(text)
            return text.upper() if rng.random() < 0.1 else text
        if kind == "cjk":
            parts = [self.pick(CHINESE + JAPANESE + KOREAN) for _ in range(rng.randint(1, 3))]
            if rng.random() < 0.5:
                parts.append("".join(chr(rng.randint(0x4E00, 0x9FA5))
                                     for _ in range(rng.randint(1, 12))))
            if rng.random() < 0.3:
                parts.append("".join(chr(rng.randint(0xAC00, 0xD7A3))
                                     for _ in range(rng.randint(1, 6))))
            if rng.random() < 0.3:
                parts.append(self.english(rng.randint(1, 5)))
            return self.form(rng.choice(["", " "]).join(parts))
        if kind == "emoji":
            parts = [self.pick(EMOJI) for _ in range(rng.randint(1, 6))]
            if rng.random() < 0.6:
                parts.insert(rng.randint(0, len(parts)), self.english(rng.randint(1, 8)))
            return rng.choice(["", " "]).join(parts)
        if kind == "scripts":
            text = " ".join(self.pick(OTHER_SCRIPTS) for _ in range(rng.randint(1, 3)))
            return self.form(text)
        if kind == "controls":
            base = self.pick([self.english(rng.randint(1, 10)), self.pick(ACCENTED),
                              self.pick(CHINESE), self.pick(EMOJI) + " ok"])
            return self.sprinkle(base, CONTROLS, rng.randint(1, 5))
        if kind == "marks":
            pieces = []
            for _ in range(rng.randint(1, 5)):
                marks = "".join(self.pick(MARKS) for _ in range(rng.randint(1, 4)))
                pieces.append(self.pick(["", " ", "a", "A", "x ", "!", "中", "1", "\t"]) + marks)
            return "".join(pieces)
        if kind == "long_word":
            unit = self.pick(["a", "ab", "xyz", "é", "e\u0301", "über", "字", "😀", "supercali",
                              "na", "-", "0", "ß", "İ"])
            length = self.pick([50, 99, 100, 101, 120, 200, 400])
            word = (unit * (length // len(unit) + 1))[:length]
            return self.pick(["", "the ", "A "]) + word + self.pick(["", " end", "!", " x"])
        if kind == "punct":
            return self.pick(["", "x", "Hello"]) + "".join(
                self.pick(PUNCT_RUNS) + self.pick(["", " ", ""]) for _ in range(rng.randint(1, 6)))
        if kind == "numbers":
            return " ".join(self.pick(NUMBERS + ["and", "is", "=", "+"])
                            for _ in range(rng.randint(1, 8)))
        if kind == "code":
            text = self.pick(URLS_CODE)
            if rng.random() < 0.4:
                text = self.english(rng.randint(2, 8)) + " " + text
            return text
        if kind == "mixed_case":
            words = [self.pick(ENGLISH_WORDS) for _ in range(rng.randint(1, 8))]
            return " ".join("".join(c.upper() if rng.random() < 0.5 else c for c in w)
                            for w in words) + self.pick(["", " iPhone", " McDonald's", " NASA",
                                                         " eBay", " PhD", " ÉCOLE", " İI"])
        if kind == "blank":
            return "".join(self.pick(["", " ", "  ", "\t", "\n", "\u3000", "\u00a0", "\r\n",
                                      "\u2003", "\u200b"]) for _ in range(rng.randint(0, 4)))
        if kind == "special":
            parts = [self.pick(SPECIAL_LITERALS) for _ in range(rng.randint(1, 4))]
            if rng.random() < 0.7:
                parts.insert(rng.randint(0, len(parts)), self.english(rng.randint(1, 6)))
            return self.pick([" ", "", "  "]).join(parts)
        if kind == "random_chars":
            return self.random_chars(rng.randint(1, 40))
        if kind == "mix":
            kinds = ["english", "accented", "cjk", "emoji", "scripts", "controls", "marks",
                     "punct", "numbers", "code", "special", "random_chars"]
            return self.pick([" ", "", "\n", "\t"]).join(
                self.line(self.pick(kinds)) for _ in range(rng.randint(2, 4)))
        raise ValueError(kind)


CORPUS_PLAN = [("english", 2600), ("paragraph", 80), ("accented", 900), ("cjk", 800),
               ("emoji", 450), ("scripts", 700), ("controls", 600), ("marks", 300),
               ("long_word", 300), ("punct", 450), ("numbers", 400), ("code", 450),
               ("mixed_case", 300), ("blank", 80), ("special", 300), ("random_chars", 700),
               ("mix", 1000)]


def make_corpus(gen):
    lines = [gen.line(kind) for kind, count in CORPUS_PLAN for _ in range(count)]
    gen.rng.shuffle(lines)
    # Fixed lines first: the edge cases a reader looks for.
    fixed = ["", " ", "Hello, world!", "a", "[CLS]", "\u0301", "İ", "\x00", "\ufffd", "中",
             "e\u0301\u0323", "a" * 100, "a" * 101, "😀" * 101]
    return fixed + lines


def byte_offsets(text, offsets):
    starts = [0]
    for ch in text:
        starts.append(starts[-1] + len(ch.encode("utf-8")))
    return [(starts[s], starts[e]) for s, e in offsets]


def encoding_dict(enc, texts):
    """An Encoding as plain lists; `texts` gives the input each token's offsets refer to."""
    offsets = []
    seq_ids = enc.sequence_ids
    for i, (s, e) in enumerate(enc.offsets):
        if seq_ids[i] is None:
            offsets.append([s, e])  # special or padding: (0, 0)
        else:
            offsets.append(list(byte_offsets(texts[seq_ids[i]], [(s, e)])[0]))
    return {"ids": enc.ids, "type_ids": enc.type_ids, "tokens": enc.tokens, "offsets": offsets,
            "special_tokens_mask": enc.special_tokens_mask,
            "attention_mask": enc.attention_mask}


def configure(tok, truncation, padding):
    """Applies tokenizer.json-style settings (or None) to a Python tokenizer."""
    tok.no_truncation()
    tok.no_padding()
    if truncation:
        tok.enable_truncation(max_length=truncation["max_length"], stride=truncation["stride"],
                              strategy={"LongestFirst": "longest_first", "OnlyFirst": "only_first",
                                        "OnlySecond": "only_second"}[truncation["strategy"]],
                              direction=truncation["direction"].lower())
    if padding:
        fixed = padding["strategy"]["Fixed"] if isinstance(padding["strategy"], dict) else None
        tok.enable_padding(direction=padding["direction"].lower(), pad_id=padding["pad_id"],
                           pad_type_id=padding["pad_type_id"], pad_token=padding["pad_token"],
                           length=fixed, pad_to_multiple_of=padding["pad_to_multiple_of"])


def trunc(max_length, strategy="LongestFirst", direction="Right"):
    return {"max_length": max_length, "strategy": strategy, "direction": direction, "stride": 0}


def pad(strategy="BatchLongest", direction="Right", multiple=None, pad_id=0, pad_type_id=0,
        pad_token="[PAD]"):
    return {"strategy": strategy, "direction": direction, "pad_to_multiple_of": multiple,
            "pad_id": pad_id, "pad_type_id": pad_type_id, "pad_token": pad_token}


def run_case(tok, case):
    configure(tok, case.get("truncation"), case.get("padding"))
    add = case.get("add_special_tokens", True)
    try:
        if case["case"] == "single":
            enc = tok.encode(case["a"], add_special_tokens=add)
            case["expect"] = encoding_dict(enc, [case["a"]])
        elif case["case"] == "pair":
            enc = tok.encode(case["a"], case["b"], add_special_tokens=add)
            case["expect"] = encoding_dict(enc, [case["a"], case["b"]])
        elif case["case"] == "batch":
            encs = tok.encode_batch(case["texts"], add_special_tokens=add)
            case["expect"] = [encoding_dict(e, [t]) for e, t in zip(encs, case["texts"])]
        elif case["case"] == "pair_batch":
            encs = tok.encode_batch([tuple(p) for p in case["pairs"]], add_special_tokens=add)
            case["expect"] = [encoding_dict(e, p) for e, p in zip(encs, case["pairs"])]
        elif case["case"] == "decode":
            case["expect"] = tok.decode(case["ids"],
                                        skip_special_tokens=case["skip_special_tokens"])
        else:
            raise ValueError(case["case"])
    except Exception as error:  # the C++ side must fail too
        case["error"] = str(error).splitlines()[0]
    return case


def make_cases(gen, tok, corpus):
    rng = gen.rng
    short = [t for t in corpus if len(t) < 400]
    cases = []
    for i in range(120):  # pairs, with and without special tokens
        cases.append({"case": "pair", "a": rng.choice(short), "b": rng.choice(short),
                      "add_special_tokens": i % 4 != 3})
    long_lines = [t for t in corpus if len(t) > 200]
    for i in range(80):  # truncation at 128, LongestFirst (the model's setting)
        text = rng.choice(long_lines)
        if i % 2:
            cases.append({"case": "single", "a": text, "truncation": trunc(128)})
        else:
            cases.append({"case": "pair", "a": text, "b": rng.choice(corpus),
                          "truncation": trunc(128)})
    for i in range(80):  # every strategy and side, at lengths that bite
        strategy = ["LongestFirst", "OnlyFirst", "OnlySecond"][i % 3]
        direction = ["Right", "Left"][(i // 3) % 2]
        max_length = rng.choice([3, 5, 8, 16, 32, 64])
        if i % 5 == 4:
            cases.append({"case": "single", "a": rng.choice(corpus),
                          "truncation": trunc(max_length, strategy, direction)})
        else:
            cases.append({"case": "pair", "a": rng.choice(corpus), "b": rng.choice(corpus),
                          "truncation": trunc(max_length, strategy, direction),
                          "add_special_tokens": i % 7 != 6})
    for i in range(60):  # padding alone and with truncation (the model's own settings)
        padding = rng.choice([pad({"Fixed": 128}), pad({"Fixed": 40}, "Left"),
                              pad("BatchLongest", "Right", 8),
                              pad({"Fixed": 10}, "Right", 16, 1, 1, "[UNK]")])
        truncation = trunc(128) if i % 2 else None
        if i % 3:
            cases.append({"case": "single", "a": rng.choice(corpus), "truncation": truncation,
                          "padding": padding})
        else:
            cases.append({"case": "pair", "a": rng.choice(short), "b": rng.choice(short),
                          "truncation": truncation, "padding": padding})
    for i in range(30):  # batches: BatchLongest across members
        padding = rng.choice([pad(), pad("BatchLongest", "Left"), pad("BatchLongest", "Right", 8),
                              pad({"Fixed": 24}), None])
        truncation = rng.choice([None, trunc(128), trunc(20)])
        if i % 3 == 2:
            cases.append({"case": "pair_batch",
                          "pairs": [[rng.choice(short), rng.choice(short)]
                                    for _ in range(rng.randint(1, 5))],
                          "truncation": truncation, "padding": padding})
        else:
            cases.append({"case": "batch",
                          "texts": [rng.choice(corpus) for _ in range(rng.randint(1, 6))],
                          "truncation": truncation, "padding": padding,
                          "add_special_tokens": i % 5 != 4})
    configure(tok, None, None)
    for i in range(160):  # decode the encodings of corpus lines, and random ids
        if i % 4 == 3:
            ids = [rng.randint(0, 30600) for _ in range(rng.randint(0, 30))]
            ids += rng.sample([0, 100, 101, 102, 103, 1005, 1010, 1012, 999, 1029], 3)
            rng.shuffle(ids)
        else:
            ids = tok.encode(rng.choice(corpus)).ids
        cases.append({"case": "decode", "ids": ids, "skip_special_tokens": i % 2 == 0})
    return [run_case(tok, case) for case in cases]


def header(kind):
    digest = hashlib.sha256(TOKENIZER_JSON.read_bytes()).hexdigest()
    return (f"# {kind} made by tests/golden/tokenizers/make_fixtures.py with tokenizers=="
            f"{tokenizers.__version__}, Python {sys.version.split()[0]}, seed {SEED}, "
            f"all-minilm-l6-v2 tokenizer.json sha256 {digest}\n")


def main():
    if tokenizers.__version__ != TOKENIZERS_VERSION:
        sys.exit(f"need tokenizers=={TOKENIZERS_VERSION}, found {tokenizers.__version__}")
    tok = Tokenizer.from_file(str(TOKENIZER_JSON))
    gen = Generator(SEED)
    corpus = make_corpus(gen)

    tok.no_truncation()
    tok.no_padding()
    with gzip.GzipFile(HERE / "corpus.txt.gz", "wb", mtime=0) as raw:
        raw.write(header("corpus").encode())
        raw.write(b"# one line per text: JSON text <TAB> ids <TAB> type ids <TAB> start,end byte "
                  b"offsets\n")
        for text in corpus:
            enc = tok.encode(text)
            offsets = byte_offsets(text, enc.offsets)
            fields = [json.dumps(text, ensure_ascii=False),
                      " ".join(map(str, enc.ids)), " ".join(map(str, enc.type_ids)),
                      " ".join(f"{s},{e}" for s, e in offsets)]
            raw.write(("\t".join(fields) + "\n").encode())

    cases = make_cases(gen, tok, corpus)
    with gzip.GzipFile(HERE / "cases.jsonl.gz", "wb", mtime=0) as raw:
        raw.write(header("cases").encode())
        for case in cases:
            raw.write((json.dumps(case, ensure_ascii=False) + "\n").encode())
    print(f"{len(corpus)} corpus lines, {len(cases)} cases "
          f"({sum('error' in c for c in cases)} expecting an error)")


if __name__ == "__main__":
    main()
