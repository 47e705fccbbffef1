"""Golden fixtures for trustformers' BERT: reference numbers from PyTorch / sentence-transformers.

What it writes, next to this file (tests/golden/bert/):

  embeddings.json
      The default embedder all-minilm-l6-v2 (BERT, mean pooling, then L2 normalisation, as its
      modules.json says) on a fixed set of sentences of mixed length and language, a few of them
      longer than the model's max_seq_length (256, sentence_bert_config.json) so truncation is
      exercised. For every sentence: the token ids sentence-transformers fed the model (so a C++
      test can tell a tokenizer bug from a model bug), what `SentenceTransformer.encode` returns
      with its default settings (already normalised by the model's own Normalize module), and the
      un-normalised mean-pooled vector (Transformer + Pooling modules only). Two short sentences
      also carry the full last hidden state, for debugging the encoder layer by layer.
  classifier_head.safetensors
      The tensors that `AutoModelForSequenceClassification` initialised at random (after
      torch.manual_seed(1234)) on top of the checkpoint: only `classifier.weight` and
      `classifier.bias`; the checkpoint already has the pooler (`pooler.dense.*`).
  classifier_config.json, classifier_multilabel_config.json
      The config.json that `save_pretrained` writes for that model, 3 labels
      (negative / neutral / positive), single-label and multi-label problem types.
  classifier_model.safetensors.index.json
      A sharded-checkpoint index that assembles the classifier from the base checkpoint and the
      head: base tensors under their names in the fetched model.safetensors (no `bert.` prefix),
      to be reached through a file named `base.safetensors` (a link to the fetched
      model.safetensors), and the head tensors to classifier_head.safetensors. The base file must
      not be called model.safetensors in the assembled folder: transformers loads a single
      model.safetensors in preference to an index. This script builds such a folder and checks
      that transformers loads it into a model whose logits equal the in-memory one bit for bit.
  classification.json
      Logits and softmax probabilities (eval mode, so no dropout) of that classifier for single
      texts and for text pairs, with the input ids and token type ids fed to it, plus logits and
      sigmoid probabilities of the multi-label variant on a few texts.

Every JSON file starts with a `header`: library versions, SHA-256 of the model files and the
exact settings. Floats carry 8 significant digits.

How to run (offline: only local files are read; nothing is downloaded):

    scripts/setup-ref-venv.sh
    $HOME/.cache/trustformers/ref-venv/bin/python tests/golden/bert/make_fixtures.py

`make fixtures` calls it too. The model folder defaults to
$TRUSTFORMERS_HOME/all-minilm-l6-v2 (else ~/.cache/trustformers/models/all-minilm-l6-v2, as
scripts/fetch-models.sh lays it out); `--model-dir DIR` overrides it, `--out DIR` the output
folder. The run is deterministic: running it twice gives byte-identical files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

# Offline before any Hugging Face import: everything comes from the model folder.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import huggingface_hub  # noqa: E402
import numpy as np  # noqa: E402
import safetensors  # noqa: E402
import sentence_transformers  # noqa: E402
import tokenizers  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from safetensors import safe_open  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402
from transformers import AutoModelForSequenceClassification, AutoTokenizer  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
SIGNIFICANT_DIGITS = 8
SEED = 1234
BATCH_SIZE = 32
BATCH_TOLERANCE = 1e-5
LABELS = {0: "negative", 1: "neutral", 2: "positive"}
HEAD_TENSORS = ("classifier.weight", "classifier.bias")
BASE_FILE_IN_ASSEMBLY = "base.safetensors"
HEAD_FILE = "classifier_head.safetensors"
# Sentences whose full last hidden state is recorded (short, to keep the files small).
HIDDEN_STATE_SENTENCES = ("Good morning.", "The package arrived on Tuesday.")


# ---------------------------------------------------------------------------------------------
# Inputs. Written for this project; the long ones are paragraphs so that they tokenise to more
# than 256 word pieces (and a few to more than 512, for the classifier's truncation).

LONG_ENGLISH = (
    "The old lighthouse on the northern cape had been dark for nearly forty years when the "
    "village council finally agreed to restore it. Nobody remembered exactly why the lamp had "
    "been switched off; some said the shipping lanes had moved further out to sea, others that "
    "the keeper had simply retired and no one wanted the lonely job. The restoration took two "
    "summers. Volunteers scraped rust from the spiral staircase, replaced the cracked panes of "
    "the lantern room and hauled new cables up the cliff path by hand, because the road was too "
    "narrow for a truck. An engineer from the coast guard checked the optics and found that the "
    "original glass lens, polished by a workshop more than a century ago, was still in perfect "
    "condition. On the evening the light was switched on again, the whole village gathered on "
    "the harbour wall. Children counted the seconds between flashes, fishermen argued about "
    "whether the beam reached further than before, and an elderly woman who had grown up in the "
    "keeper's cottage quietly wiped her eyes. Since then the lighthouse has become a small "
    "museum during the day, with photographs of storms, shipwrecks and rescues, logbooks written "
    "in careful handwriting and a model of the clockwork mechanism that once turned the lens. "
    "At night it still works as a real navigation aid, although modern ships rely mostly on "
    "satellites. Visitors often ask whether the light is really necessary anymore. The council's "
    "answer is always the same: a satellite can fail, a battery can run flat, but a bright, "
    "steady light on a dark coast is something every sailor understands at once, in any "
    "language and in any weather, and that is reason enough to keep it burning."
)

LONG_FRENCH = (
    "Chaque samedi matin, le marché de la place centrale se remplit bien avant le lever du "
    "soleil. Les maraîchers arrivent les premiers, déchargent leurs cagettes de tomates, de "
    "courgettes et de salades encore humides de rosée, puis installent leurs étals sous de "
    "grands parasols rayés. Un peu plus tard viennent le fromager, avec ses tommes de montagne "
    "et ses chèvres frais, le boulanger qui vend des miches de campagne encore tièdes, et la "
    "vieille dame qui propose depuis trente ans les mêmes confitures de figues et d'abricots. "
    "Vers huit heures, les habitants du quartier commencent à flâner entre les allées, un panier "
    "au bras, en comparant les prix et en échangeant les nouvelles de la semaine. On y parle de "
    "la pluie qui n'arrive pas, du nouveau maire, des travaux interminables sur le pont et des "
    "enfants qui grandissent trop vite. Les touristes, eux, photographient les pyramides de "
    "pêches et s'étonnent qu'on puisse encore acheter des œufs à l'unité. À midi, tout se "
    "démonte aussi vite que cela s'était monté : les parasols se replient, les camionnettes "
    "repartent et il ne reste sur les pavés que quelques feuilles de chou que les pigeons se "
    "disputent avec énergie. Pourtant, pour beaucoup d'habitants, ces quelques heures "
    "hebdomadaires comptent davantage que toutes les grandes surfaces de la périphérie réunies."
)

LONG_GERMAN = (
    "Als die kleine Bahnstrecke durch das Tal im Herbst stillgelegt werden sollte, gründeten die "
    "Bewohner der umliegenden Dörfer kurzerhand einen Verein. Innerhalb weniger Wochen sammelten "
    "sie Unterschriften, organisierten Informationsabende in Gasthöfen und Turnhallen und "
    "schrieben unzählige Briefe an das Verkehrsministerium. Ihr wichtigstes Argument war "
    "einfach: Ohne den Zug müssten Schülerinnen und Schüler, Pendlerinnen und Pendler sowie "
    "ältere Menschen ohne Führerschein täglich stundenlang mit dem Bus über kurvenreiche "
    "Landstraßen fahren. Die Verantwortlichen in der Landeshauptstadt zeigten sich zunächst "
    "wenig beeindruckt und verwiesen auf die hohen Instandhaltungskosten der Gleise, Brücken und "
    "Signalanlagen. Doch der Verein ließ nicht locker, erstellte eigene Fahrgastzählungen und "
    "legte ein Konzept vor, nach dem ehrenamtliche Helferinnen und Helfer die kleinen Bahnhöfe "
    "pflegen und kleine Cafés darin betreiben könnten. Nach fast zwei Jahren zäher Verhandlungen "
    "wurde schließlich ein Kompromiss gefunden: Die Strecke bleibt erhalten, der Takt wird am "
    "Wochenende sogar verdichtet, und die Gemeinden beteiligen sich an den Kosten für die "
    "Modernisierung der Bahnsteige. Heute gilt das Tal vielen als Beispiel dafür, was "
    "Bürgerengagement im ländlichen Raum bewirken kann."
)

LONG_RUSSIAN = (
    "Летом наша семья всегда уезжала на дачу, которая стояла на самом краю деревни, у старого "
    "соснового леса. Дом был деревянный, с резными наличниками и скрипучим крыльцом, а за ним "
    "начинался огород, где бабушка выращивала картошку, огурцы, укроп и клубнику. Каждое утро "
    "мы, дети, бегали к колодцу за холодной водой, а потом шли на речку купаться, пока взрослые "
    "пили чай на веранде и обсуждали новости. Днём мы собирали грибы и ягоды, строили шалаши из "
    "веток и до хрипоты спорили о том, кто первым заметил белку на сосне. Вечером дедушка "
    "растапливал самовар, и вся семья собиралась за большим столом под абажуром. Мы слушали "
    "истории о войне, о том, как строили эту деревню, и о соседях, которых давно уже не было в "
    "живых. Иногда отключали электричество, и тогда зажигали керосиновую лампу, а тени на "
    "стенах казались нам сказочными чудовищами. Прошло много лет, дача давно продана, но запах "
    "нагретой смолы и звук дождя по железной крыше до сих пор возвращают меня в то беззаботное "
    "время."
)

LONG_CHINESE = (
    "我的家乡是一个位于长江边上的小城市，虽然不大，但是历史非常悠久。城里有一条古老的石板路，"
    "两边是白墙黑瓦的老房子，很多房子已经有一百多年的历史了。每天早上，街上的早点铺子最先热闹起来，"
    "包子、油条、豆浆和热干面的香味飘满了整条街。老人们喜欢在河边的公园里打太极拳、下象棋，"
    "年轻人则骑着自行车匆匆赶去上班。到了周末，很多外地游客会来这里参观古老的寺庙和博物馆，"
    "品尝当地有名的小吃。近几年来，城市发展得很快，修建了新的高铁站、图书馆和体育中心，"
    "交通也比以前方便多了。不过，我最怀念的还是小时候和朋友们一起在河边放风筝、捉蜻蜓的日子。"
    "那时候生活虽然简单，但是每个人都很快乐。每次回家，我都会去那条石板路上走一走，"
    "买一碗热腾腾的面，和老邻居聊聊天，感觉好像时间从来没有走远。我希望家乡在发展的同时，"
    "也能把这些美好的传统和回忆好好地保留下来，让下一代的孩子们也能感受到这份温暖。"
)

LONG_JAPANESE = (
    "私が初めて京都を訪れたのは、大学二年生の秋でした。朝早く新幹線に乗り、"
    "窓の外に広がる田んぼや山々を眺めているうちに、あっという間に京都駅に着きました。"
    "最初に向かったのは清水寺で、紅葉に染まった山と木造の舞台の美しさに思わず息をのみました。"
    "その後、細い坂道を歩きながら、お土産屋さんで八つ橋を試食したり、抹茶のソフトクリームを食べたりしました。"
    "午後は嵐山まで足をのばし、竹林の小道を散歩しました。風が吹くたびに竹がさらさらと音を立て、"
    "まるで別の世界に迷い込んだような気持ちになりました。夕方には鴨川のほとりに座って、"
    "川の流れと行き交う人々をぼんやりと眺めました。旅館に戻ると、温かい湯豆腐と季節の料理が用意されていて、"
    "一日の疲れがすっかり消えていきました。あれから何度も京都を訪れていますが、"
    "あの最初の旅で感じた静かな感動は、今でも心の中に大切に残っています。"
)

LONG_ARABIC = (
    "في كل صباح يستيقظ أهل القرية مع أذان الفجر، ثم يتوجه المزارعون إلى حقولهم قبل أن تشتد حرارة "
    "الشمس. يحمل بعضهم أدوات بسيطة ورثوها عن آبائهم، بينما يعتمد آخرون على آلات حديثة اشتروها "
    "بالتعاون مع جيرانهم. وفي الطريق يمرون بالسوق الصغير حيث يبيع الخباز الخبز الطازج، ويعرض "
    "البقال التمر والزيتون والجبن. وعند الظهر يجتمع الرجال في ظل شجرة كبيرة قرب المسجد لتناول "
    "الشاي وتبادل الأخبار، أما الأطفال فيعودون من المدرسة وهم يركضون ويضحكون. وفي المساء تضيء "
    "النوافذ واحدة بعد الأخرى، وتجلس العائلات معا لتناول العشاء والحديث عن يومها، ثم يخلد الجميع "
    "إلى النوم استعدادا ليوم جديد مليء بالعمل والأمل."
)

LONG_CODE = '''import json
from dataclasses import dataclass, field
from typing import Iterable


@dataclass
class Inventory:
    """Counts items by SKU and reports the ones that run low."""

    threshold: int = 5
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, sku: str, quantity: int = 1) -> None:
        if quantity <= 0:
            raise ValueError(f"quantity must be positive, got {quantity}")
        self.counts[sku] = self.counts.get(sku, 0) + quantity

    def remove(self, sku: str, quantity: int = 1) -> bool:
        have = self.counts.get(sku, 0)
        if have < quantity:
            return False
        self.counts[sku] = have - quantity
        return True

    def low_stock(self) -> list[str]:
        return sorted(sku for sku, n in self.counts.items() if n < self.threshold)

    def load(self, lines: Iterable[str]) -> None:
        for line in lines:
            record = json.loads(line)
            self.add(record["sku"], int(record.get("qty", 1)))


if __name__ == "__main__":
    inv = Inventory(threshold=3)
    inv.load(['{"sku": "A-100", "qty": 2}', '{"sku": "B-200", "qty": 7}'])
    print(inv.low_stock())
'''

MEDIUM_ENGLISH = (
    "After three weeks of testing, the team decided to ship the new search feature to ten percent "
    "of users first. The early numbers looked promising: queries returned faster, fewer people "
    "abandoned their carts, and support tickets about missing results dropped noticeably. Still, "
    "the engineers kept a close eye on memory usage, because the index had grown larger than "
    "anyone had expected."
)

MEDIUM_SPANISH = (
    "El verano pasado recorrimos la costa del norte en bicicleta, desde un pequeño pueblo de "
    "pescadores hasta la frontera. Dormimos en albergues, comimos pescado fresco en tabernas "
    "familiares y conocimos a viajeros de todo el mundo. Algunos días llovió sin parar, pero el "
    "paisaje verde y los acantilados compensaron cada subida difícil."
)

MEDIUM_CODE = """template <typename T>
T dot(const std::vector<T>& a, const std::vector<T>& b) {
  T acc{};
  for (size_t i = 0; i < a.size(); ++i) acc += a[i] * b[i];
  return acc;
}"""

SENTENCES = [
    # English, short and medium
    "Good morning.",
    "The cat sat on the warm windowsill and watched the rain.",
    "How do I reset my password if I no longer have access to my email?",
    "Quarterly revenue grew 12.5% year over year, reaching $4.3 billion.",
    "I absolutely loved this movie; the soundtrack alone is worth the ticket.",
    "This is the worst customer service I have ever experienced.",
    "The package arrived on Tuesday.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "Can you recommend a good vegetarian restaurant near the train station?",
    "UNBELIEVABLE!!! Best. Day. Ever.",
    "don't won't can't shouldn't y'all",
    "e-mail, e.g., U.S.A., Ph.D., and so on...",
    MEDIUM_ENGLISH,
    # Whitespace, accents, invisible and combining characters
    "  leading and trailing spaces\tand\ttabs\nand newlines  ",
    "Café, naïve, résumé, São Paulo, Zürich and Ångström.",
    "zero\u200bwidth\u00a0space, no-break space and soft\u00adhyphen",
    "e\u0301 versus \u00e9: combining acute accent versus precomposed",
    # Numbers
    "3.14159 2.71828 1.41421 1234567890 0x1F 1e-9 -42",
    "Call +1 (555) 010-9999 before 23:59 on 2024-02-29.",
    ", ".join(str(i) for i in range(1, 21)),
    # Emoji
    "I love pizza \U0001f355\U0001f355\U0001f355 and sunshine \u2600\ufe0f!",
    "Great job \U0001f44d\U0001f44f\U0001f389",
    "\U0001f642\U0001f643\U0001f609\U0001f60a family: "
    "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466 flags: "
    "\U0001f1eb\U0001f1f7\U0001f1e9\U0001f1ea\U0001f1ef\U0001f1f5",
    # Code
    "def add(a, b):\n    return a + b  # simple helper",
    "for (int i = 0; i < n; ++i) { sum += v[i] * w[i]; }",
    "SELECT name, COUNT(*) FROM users WHERE age >= 18 GROUP BY name ORDER BY 2 DESC;",
    '{"key": [1, 2, 3], "nested": {"ok": true, "value": null}}',
    "git commit -m 'fix: handle empty input' && git push origin main",
    "See https://example.com/path?query=1&lang=en#section for details.",
    MEDIUM_CODE,
    # French
    "Bonjour, comment allez-vous aujourd'hui ?",
    "Le petit chat noir dort paisiblement près de la cheminée.",
    "Je n'ai pas aimé ce film : l'intrigue était prévisible et bien trop longue.",
    "Où se trouve la gare la plus proche, s'il vous plaît ?",
    # German
    "Guten Tag! Wie geht es Ihnen?",
    "Die Donaudampfschifffahrtsgesellschaft veröffentlichte ihren Jahresbericht.",
    "Straße, Größe, Mädchen und Übermut gehören zum deutschen Wortschatz.",
    "Das Essen war ausgezeichnet, aber der Service war leider sehr langsam.",
    # Spanish
    "¿Dónde está la biblioteca?",
    "Me encanta aprender idiomas nuevos con mis amigos.",
    "El niño comió una manzana y después salió a jugar al fútbol.",
    "¡Qué sorpresa tan agradable verte por aquí!",
    MEDIUM_SPANISH,
    # Chinese
    "你好，世界！",
    "我今天去公园散步，天气非常好。",
    "机器学习是人工智能的一个重要分支。",
    "这家餐厅的服务太差了，我再也不来了。",
    # Japanese
    "こんにちは、元気ですか？",
    "東京は日本の首都です。",
    "昨日、友達と一緒に映画を見に行きました。",
    "カタカナとひらがなと漢字が混ざった文章です。",
    # Russian
    "Привет, как дела?",
    "Москва — столица России.",
    "Этот фильм мне очень понравился, особенно музыка.",
    "Ёжик в тумане искал свою лошадку.",
    # Arabic
    "مرحبا بالعالم",
    "أنا أحب القراءة في المساء.",
    "الطقس جميل اليوم في المدينة.",
    # Mixed scripts
    "The word for cat is chat in French, Katze in German, gato in Spanish, 猫 in Chinese, "
    "and кошка in Russian.",
    "Korean: 안녕하세요, Greek: Καλημέρα, Hindi: नमस्ते, Hebrew: שלום",
    # Degenerate inputs
    "Hello",
    "",
    # Long: more than 256 tokens, truncated by sentence-transformers
    LONG_ENGLISH,
    LONG_FRENCH,
    LONG_GERMAN,
    LONG_RUSSIAN,
    LONG_CHINESE,
    LONG_JAPANESE,
    LONG_ARABIC,
    LONG_CODE,
    " ".join(f"{i * 1.25:.2f}" for i in range(1, 121)),
    " ".join(["\U0001f600"] * 300),
]

# The classifier's single texts: a spread of the sentences above, plus one input longer than
# 512 tokens (the model's max_position_embeddings), so truncation to 512 is exercised.
CLASSIFICATION_TEXTS = [
    s
    for s in SENTENCES
    if s
    in {
        "Good morning.",
        "The cat sat on the warm windowsill and watched the rain.",
        "I absolutely loved this movie; the soundtrack alone is worth the ticket.",
        "This is the worst customer service I have ever experienced.",
        "The package arrived on Tuesday.",
        "UNBELIEVABLE!!! Best. Day. Ever.",
        "don't won't can't shouldn't y'all",
        MEDIUM_ENGLISH,
        "Café, naïve, résumé, São Paulo, Zürich and Ångström.",
        "3.14159 2.71828 1.41421 1234567890 0x1F 1e-9 -42",
        "I love pizza \U0001f355\U0001f355\U0001f355 and sunshine \u2600\ufe0f!",
        "for (int i = 0; i < n; ++i) { sum += v[i] * w[i]; }",
        "Je n'ai pas aimé ce film : l'intrigue était prévisible et bien trop longue.",
        "Le petit chat noir dort paisiblement près de la cheminée.",
        "Das Essen war ausgezeichnet, aber der Service war leider sehr langsam.",
        "Straße, Größe, Mädchen und Übermut gehören zum deutschen Wortschatz.",
        "¡Qué sorpresa tan agradable verte por aquí!",
        MEDIUM_SPANISH,
        "这家餐厅的服务太差了，我再也不来了。",
        "我今天去公园散步，天气非常好。",
        "昨日、友達と一緒に映画を見に行きました。",
        "Этот фильм мне очень понравился, особенно музыка.",
        "أنا أحب القراءة في المساء.",
        "Korean: 안녕하세요, Greek: Καλημέρα, Hindi: नमस्ते, Hebrew: שלום",
        "Hello",
        LONG_ENGLISH,
        LONG_RUSSIAN,
        LONG_CHINESE,
        LONG_CODE,
    }
] + [
    "Terrible. Absolutely terrible.",
    "It was fine, nothing special.",
    LONG_ENGLISH + " " + LONG_FRENCH,
]

CLASSIFICATION_PAIRS = [
    ("How do I reset my password?",
     "Click 'Forgot password' on the sign-in page and follow the link we email you."),
    ("The movie was great.", "The film was excellent."),
    ("The movie was great.", "The weather is cold today."),
    ("Le train part à quelle heure ?", "Le prochain train part à 14 h 30 du quai numéro 3."),
    ("Wo ist der Bahnhof?", "Where is the train station?"),
    ("我喜欢这本书。", "这本书很无聊。"),
    ("Is the café open on Sundays? \u2615", "Yes, from 9:00 to 17:00 \U0001f642"),
    (LONG_ENGLISH, LONG_RUSSIAN),  # longer than 512 together: longest_first truncation
]

MULTI_LABEL_TEXTS = [
    "Good morning.",
    "I absolutely loved this movie; the soundtrack alone is worth the ticket.",
    "This is the worst customer service I have ever experienced.",
    "It was fine, nothing special.",
    "Das Essen war ausgezeichnet, aber der Service war leider sehr langsam.",
    "这家餐厅的服务太差了，我再也不来了。",
    "Great job \U0001f44d\U0001f44f\U0001f389",
    LONG_ENGLISH,
]


# ---------------------------------------------------------------------------------------------
# Output helpers


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def rounded(values) -> list:
    """A float array as nested lists of Python floats with SIGNIFICANT_DIGITS digits."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 0:
        return float(f"{float(array):.{SIGNIFICANT_DIGITS}g}")
    return [rounded(v) for v in array]


def _to_json(value, indent: int, level: int) -> str:
    """json.dumps, but lists of scalars stay on one line so 384-d vectors stay compact."""
    if isinstance(value, dict):
        if not value:
            return "{}"
        pad = " " * (indent * (level + 1))
        items = [f"{pad}{json.dumps(str(k), ensure_ascii=False)}: {_to_json(v, indent, level + 1)}"
                 for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * (indent * level) + "}"
    if isinstance(value, (list, tuple)):
        if all(not isinstance(v, (dict, list, tuple)) for v in value):
            return "[" + ", ".join(_to_json(v, indent, level) for v in value) + "]"
        pad = " " * (indent * (level + 1))
        items = [pad + _to_json(v, indent, level + 1) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + " " * (indent * level) + "]"
    if isinstance(value, float):
        if not np.isfinite(value):
            raise ValueError(f"non-finite float in fixture: {value}")
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


def write_json(path: Path, data) -> None:
    path.write_text(_to_json(data, 1, 0) + "\n", encoding="utf-8")
    print(f"make_fixtures: wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}"
          f" ({path.stat().st_size} bytes)")


def header(model_dir: Path, settings: dict, extra_files: dict[str, Path] | None = None) -> dict:
    files = ["model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json",
             "vocab.txt", "modules.json", "sentence_bert_config.json", "1_Pooling/config.json"]
    hashes = {name: sha256_file(model_dir / name) for name in files if (model_dir / name).exists()}
    for name, path in (extra_files or {}).items():
        hashes[name] = sha256_file(path)
    return {
        "generator": "tests/golden/bert/make_fixtures.py",
        "model": "all-minilm-l6-v2 (sentence-transformers all-MiniLM-L6-v2, BERT 6 layers, "
                 "384 hidden)",
        "sha256": hashes,
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "sentence_transformers": sentence_transformers.__version__,
            "tokenizers": tokenizers.__version__,
            "safetensors": safetensors.__version__,
            "numpy": np.__version__,
            "huggingface_hub": huggingface_hub.__version__,
        },
        "float_format": f"{SIGNIFICANT_DIGITS} significant digits (values computed in float32)",
        "settings": settings,
    }


# ---------------------------------------------------------------------------------------------
# Embeddings


def make_embeddings(model_dir: Path, out: Path) -> dict:
    model = SentenceTransformer(str(model_dir), device="cpu")
    model.eval()
    transformer_module = model[0]
    module_types = [type(m).__name__ for m in model]
    assert module_types == ["Transformer", "Pooling", "Normalize"], module_types
    max_seq_length = model.max_seq_length
    assert max_seq_length == 256, max_seq_length

    torch.manual_seed(SEED)
    batched = model.encode(SENTENCES, batch_size=BATCH_SIZE, normalize_embeddings=False,
                           convert_to_numpy=True)
    torch.manual_seed(SEED)
    single = model.encode(SENTENCES, batch_size=1, normalize_embeddings=False,
                          convert_to_numpy=True)
    assert batched.shape == (len(SENTENCES), 384) and batched.dtype == np.float32
    batch_diff = float(np.max(np.abs(batched.astype(np.float64) - single.astype(np.float64))))
    assert batch_diff <= BATCH_TOLERANCE, f"batch_size 1 vs {BATCH_SIZE}: max diff {batch_diff}"

    # Token ids as sentence-transformers feeds them (one sentence at a time: no padding), the
    # un-normalised mean-pooled vector (Transformer + Pooling, no Normalize) and, for a few short
    # sentences, the last hidden state.
    tokenizer = model.tokenizer
    records = []
    pooled_vs_encode = 0.0
    with torch.inference_mode():
        for text in SENTENCES:
            features = model.preprocess([text])
            ids = features["input_ids"][0].tolist()
            assert features["attention_mask"][0].tolist() == [1] * len(ids)
            assert features["token_type_ids"][0].tolist() == [0] * len(ids)
            features = model[1](model[0](features))
            pooled = features["sentence_embedding"][0].double()
            untruncated = len(tokenizer(text, truncation=False)["input_ids"])
            renormalised = (pooled / pooled.norm().clamp_min(1e-12)).numpy()
            index = len(records)
            pooled_vs_encode = max(pooled_vs_encode,
                                   float(np.max(np.abs(renormalised - batched[index]))))
            record = {
                "text": text,
                "num_tokens": len(ids),
                "num_tokens_untruncated": untruncated,
                "truncated": untruncated > len(ids),
                "token_ids": ids,
                "embedding": rounded(batched[index]),
                "mean_pooled": rounded(pooled.numpy()),
            }
            if text in HIDDEN_STATE_SENTENCES:
                record["last_hidden_state"] = rounded(features["token_embeddings"][0].numpy())
            records.append(record)
    assert pooled_vs_encode <= BATCH_TOLERANCE, pooled_vs_encode
    assert sum(r["truncated"] for r in records) >= 5, "too few sentences exercise truncation"
    assert transformer_module.can_flatten_inputs is False  # padded batches, the plain BERT path

    settings = {
        "pipeline": "SentenceTransformer(model_dir, device='cpu'): " + " -> ".join(module_types),
        "encode": {"batch_size": BATCH_SIZE, "normalize_embeddings": False,
                   "convert_to_numpy": True, "other arguments": "defaults"},
        "max_seq_length": max_seq_length,
        "truncation": "right, to max_seq_length tokens including [CLS] and [SEP]; the "
                      "truncation (128) and padding (fixed 128) stored in tokenizer.json are NOT "
                      "what sentence-transformers uses",
        "do_lower_case": True,
        "pooling": "mean over tokens where attention_mask is 1 ([CLS] and [SEP] included)",
        "normalize": "x / max(||x||_2, 1e-12), the model's own Normalize module (modules.json)",
        "attn_implementation": transformer_module.model.config._attn_implementation,
        "dtype": "float32",
        "device": "cpu",
        "torch_num_threads": torch.get_num_threads(),
        "torch_seed": SEED,
        "token_ids": "input_ids from SentenceTransformer.preprocess([text]) (unpadded); "
                     "token_type_ids all 0, attention_mask all 1",
        "embedding": f"SentenceTransformer.encode output, batch_size {BATCH_SIZE} (length-sorted "
                     "batches, padded to the longest in each)",
        "mean_pooled": "Transformer + Pooling modules on the sentence alone, before Normalize",
        "last_hidden_state": "BertModel last_hidden_state [num_tokens][384], only for: "
                             + ", ".join(repr(s) for s in HIDDEN_STATE_SENTENCES),
        "batch_size_1_vs_32_max_abs_diff": rounded(batch_diff),
        "normalized_mean_pooled_vs_embedding_max_abs_diff": rounded(pooled_vs_encode),
        "tolerance_asserted": BATCH_TOLERANCE,
    }
    write_json(out / "embeddings.json", {"header": header(model_dir, settings),
                                         "sentences": records})
    return {"batch_diff": batch_diff, "pooled_diff": pooled_vs_encode,
            "truncated": sum(r["truncated"] for r in records)}


# ---------------------------------------------------------------------------------------------
# Sequence classification


def load_classifier(model_dir: Path, **kwargs):
    torch.manual_seed(SEED)
    model = AutoModelForSequenceClassification.from_pretrained(
        str(model_dir), num_labels=len(LABELS), id2label=dict(LABELS),
        label2id={v: k for k, v in LABELS.items()}, **kwargs)
    model.eval()
    return model


def base_tensor_names(model_dir: Path) -> list[str]:
    with safe_open(str(model_dir / "model.safetensors"), "pt") as f:
        return sorted(f.keys())


def saved_config(model) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        return (Path(tmp) / "config.json").read_text(encoding="utf-8")


def index_for_assembly(model_dir: Path, head: dict[str, torch.Tensor]) -> dict:
    weight_map = {}
    total = 0
    with safe_open(str(model_dir / "model.safetensors"), "pt") as f:
        for name in f.keys():
            tensor = f.get_tensor(name)
            total += tensor.numel() * tensor.element_size()
            weight_map[name] = BASE_FILE_IN_ASSEMBLY
    for name, tensor in head.items():
        assert name not in weight_map
        total += tensor.numel() * tensor.element_size()
        weight_map[name] = HEAD_FILE
    return {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}


def check_assembly(model_dir: Path, out: Path, reference, inputs: dict) -> None:
    """Builds the assembled folder in a temporary directory and checks transformers loads it."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "config.json").write_bytes((out / "classifier_config.json").read_bytes())
        (folder / "model.safetensors.index.json").write_bytes(
            (out / "classifier_model.safetensors.index.json").read_bytes())
        (folder / BASE_FILE_IN_ASSEMBLY).symlink_to(model_dir / "model.safetensors")
        (folder / HEAD_FILE).symlink_to(out / HEAD_FILE)
        assembled = AutoModelForSequenceClassification.from_pretrained(str(folder))
        assembled.eval()
        want, got = reference.state_dict(), assembled.state_dict()
        assert want.keys() == got.keys()
        for name in want:
            assert torch.equal(want[name], got[name]), f"assembled tensor differs: {name}"
        with torch.inference_mode():
            assert torch.equal(reference(**inputs).logits, assembled(**inputs).logits)


def classify(model, tokenizer, text: str, text_pair: str | None = None):
    """Logits for one input, and the pooler output the classifier layer received."""
    encoded = tokenizer(text, text_pair, truncation=True, max_length=512, return_tensors="pt")
    seen = []
    hook = model.classifier.register_forward_hook(lambda _m, args, _out: seen.append(args[0]))
    try:
        with torch.inference_mode():
            logits = model(**encoded).logits[0]
    finally:
        hook.remove()
    assert len(seen) == 1
    return encoded, logits, seen[0][0]


def make_classification(model_dir: Path, out: Path) -> dict:
    base_names = base_tensor_names(model_dir)
    pooler_in_checkpoint = "pooler.dense.weight" in base_names and "pooler.dense.bias" in base_names

    model = load_classifier(model_dir)
    state = model.state_dict()
    # Everything not in the checkpoint (under its names, with or without the "bert." prefix) was
    # initialised at random.
    new = sorted(k for k in state
                 if k not in base_names and k.removeprefix("bert.") not in base_names)
    assert tuple(sorted(HEAD_TENSORS)) == tuple(new), new
    head = {name: state[name].detach().contiguous().clone() for name in HEAD_TENSORS}
    save_file(head, str(out / HEAD_FILE), metadata={"format": "pt"})
    os.chmod(out / HEAD_FILE, 0o644)
    print(f"make_fixtures: wrote {(out / HEAD_FILE).relative_to(REPO)} "
          f"({(out / HEAD_FILE).stat().st_size} bytes)")
    (out / "classifier_config.json").write_text(saved_config(model), encoding="utf-8")
    write_json(out / "classifier_model.safetensors.index.json", index_for_assembly(model_dir, head))

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    assert tokenizer.model_max_length == 512, tokenizer.model_max_length
    check_assembly(model_dir, out, model,
                   tokenizer(CLASSIFICATION_TEXTS[:8], padding=True, truncation=True,
                             max_length=512, return_tensors="pt"))

    def entry(text, text_pair, logits, probabilities, encoded, pooler_output=None):
        item = {"text": text}
        if text_pair is not None:
            item["text_pair"] = text_pair
        item["num_tokens"] = int(encoded["input_ids"].shape[1])
        item["input_ids"] = encoded["input_ids"][0].tolist()
        if any(encoded["token_type_ids"][0].tolist()):
            item["token_type_ids"] = encoded["token_type_ids"][0].tolist()
        if pooler_output is not None:
            item["pooler_output"] = rounded(pooler_output.numpy())
        item["logits"] = rounded(logits.numpy())
        item["probabilities"] = rounded(probabilities.numpy())
        item["label"] = LABELS[int(torch.argmax(logits))]
        return item

    singles, pairs = [], []
    single_logits = []
    for text in CLASSIFICATION_TEXTS:
        encoded, logits, pooled = classify(model, tokenizer, text)
        single_logits.append(logits)
        singles.append(entry(text, None, logits, torch.softmax(logits.double(), -1), encoded,
                             pooled))
    for text, text_pair in CLASSIFICATION_PAIRS:
        encoded, logits, pooled = classify(model, tokenizer, text, text_pair)
        pairs.append(entry(text, text_pair, logits, torch.softmax(logits.double(), -1), encoded,
                           pooled))
    assert any(s["num_tokens"] == 512 for s in singles) and pairs[-1]["num_tokens"] == 512

    # The same texts in one padded batch must give the same logits.
    batch = tokenizer(CLASSIFICATION_TEXTS, padding=True, truncation=True, max_length=512,
                      return_tensors="pt")
    with torch.inference_mode():
        batch_logits = model(**batch).logits
    batch_diff = float((batch_logits - torch.stack(single_logits)).abs().max())
    assert batch_diff <= BATCH_TOLERANCE, batch_diff

    multi = load_classifier(model_dir, problem_type="multi_label_classification")
    for name in HEAD_TENSORS:  # the same seed gives the same head: one head file serves both
        assert torch.equal(multi.state_dict()[name], head[name]), name
    (out / "classifier_multilabel_config.json").write_text(saved_config(multi), encoding="utf-8")
    multi_label = []
    for text in MULTI_LABEL_TEXTS:
        encoded, logits, _ = classify(multi, tokenizer, text)
        item = entry(text, None, logits, torch.sigmoid(logits.double()), encoded)
        item["labels"] = [LABELS[i] for i in range(len(LABELS)) if logits[i] > 0]
        del item["label"]
        multi_label.append(item)

    settings = {
        "model": "AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=3, "
                 "id2label={0: 'negative', 1: 'neutral', 2: 'positive'}, label2id=...) right after "
                 f"torch.manual_seed({SEED}); eval mode (no dropout)",
        "pooler_in_checkpoint": pooler_in_checkpoint,
        "randomly_initialised_tensors": list(HEAD_TENSORS),
        "head_file": f"{HEAD_FILE}: exactly the randomly initialised tensors, named as in "
                     "BertForSequenceClassification.state_dict()",
        "config_files": "classifier_config.json (problem_type unset: with 3 labels transformers "
                        "treats it as single_label_classification, softmax), "
                        "classifier_multilabel_config.json (problem_type "
                        "multi_label_classification: sigmoid); both as save_pretrained writes them",
        "assembly": "config.json = classifier_config.json; model.safetensors.index.json = "
                    "classifier_model.safetensors.index.json; base.safetensors = link to the "
                    "fetched model.safetensors (not named model.safetensors: transformers prefers "
                    "a single model.safetensors over an index); classifier_head.safetensors. "
                    "Base tensors keep their checkpoint names without 'bert.'; the loader adds "
                    "'bert.' to a name when only the prefixed name is a model parameter (and "
                    "strips it in the opposite case), per tensor; 'classifier.*' match as they "
                    "are; the checkpoint's 'embeddings.position_ids' (int64, 0..511) is not part "
                    "of the model's state (a non-persistent buffer) and is ignored. "
                    "Checked here: transformers loads that folder into a model with equal "
                    "tensors and bit-identical logits.",
        "tokenizer": "AutoTokenizer.from_pretrained(model_dir)(text, text_pair, truncation=True, "
                     "max_length=512): [CLS] a [SEP] (b [SEP]), token_type_ids 0 for a and 1 for "
                     "b, truncation longest_first; each input run alone, unpadded",
        "token_type_ids": "omitted where all 0",
        "pooler_output": "tanh(pooler.dense([CLS] hidden state)), the classifier layer's input "
                         "(single_label and pairs only; multi_label shares the encoder and head)",
        "logits_scale": "the head is random (std 0.02): logits are small (|x| < 0.1) and "
                        "probabilities near 1/3, so compare logits numerically, not labels",
        "probabilities": "softmax(logits) for single_label / pairs, sigmoid(logits) for "
                         "multi_label, computed in float64 from the float32 logits",
        "multi_label_labels": "labels whose logit > 0 (sigmoid > 0.5)",
        "padded_batch_vs_single_max_abs_diff": rounded(batch_diff),
        "tolerance_asserted": BATCH_TOLERANCE,
        "attn_implementation": model.config._attn_implementation,
        "dtype": "float32",
        "device": "cpu",
        "torch_num_threads": torch.get_num_threads(),
    }
    write_json(out / "classification.json", {
        "header": header(model_dir, settings, {HEAD_FILE: out / HEAD_FILE}),
        "id2label": {str(k): v for k, v in LABELS.items()},
        "single_label": singles,
        "pairs": pairs,
        "multi_label": multi_label,
    })
    return {"pooler_in_checkpoint": pooler_in_checkpoint, "batch_diff": batch_diff}


def default_model_dir() -> Path:
    home = os.environ.get("TRUSTFORMERS_HOME")
    root = Path(home) if home else Path.home() / ".cache" / "trustformers" / "models"
    return root / "all-minilm-l6-v2"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-dir", type=Path, default=default_model_dir())
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()
    model_dir = args.model_dir.resolve()
    out = args.out.resolve()
    if not (model_dir / "model.safetensors").is_file():
        print(f"make_fixtures: no model.safetensors in {model_dir}; run scripts/fetch-models.sh",
              file=sys.stderr)
        return 1
    out.mkdir(parents=True, exist_ok=True)

    # One thread and deterministic kernels, so a rerun gives byte-identical files.
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    transformers.logging.set_verbosity_error()

    embeddings = make_embeddings(model_dir, out)
    classification = make_classification(model_dir, out)
    print(f"make_fixtures: {len(SENTENCES)} sentences ({embeddings['truncated']} truncated at 256 "
          f"tokens); batch_size 1 vs {BATCH_SIZE} max abs diff {embeddings['batch_diff']:.3g}; "
          f"normalised mean-pooled vs encode {embeddings['pooled_diff']:.3g}; classifier padded "
          f"batch vs single {classification['batch_diff']:.3g}; pooler in checkpoint: "
          f"{classification['pooler_in_checkpoint']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
