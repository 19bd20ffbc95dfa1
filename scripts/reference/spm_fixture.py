#!/usr/bin/env python3
"""Records SentencePiece's pieces and sacreBLEU's spBLEU for crates/eval's tests.

spBLEU tokenises with a SentencePiece model (FLORES-101's or FLORES-200's) before counting
n-grams. Those models are downloads that are not reachable from every machine, so this script
trains two small models of the same kinds with the PyPI `sentencepiece` package (a BPE model,
like the FLORES ones, and a unigram model with byte fallback), commits them as test files, and
records what SentencePiece and sacreBLEU do with them:

- `pieces`: `EncodeAsPieces` of every test line under both models;
- `bleu`: sacreBLEU's corpus and sentence BLEU with `tokenize=flores101` (the BPE model) and
  `tokenize=flores200` (the unigram model), on the sets of sacrebleu_fixture.py.

sacreBLEU loads its SPM model from `$SACREBLEU/models/<basename of the download URL>`; the
script points `SACREBLEU` at a temporary directory holding our models under those names, so
sacreBLEU's own code path (TokenizerSPM) runs on them.

    python3 -m venv /tmp/sb && /tmp/sb/bin/pip install sacrebleu==2.5.1 sentencepiece==0.2.3
    /tmp/sb/bin/python scripts/reference/spm_fixture.py

Writes crates/eval/tests/fixtures/spm-{bpe,unigram}.model and spm.json.
"""

import json
import os
import platform
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parents[1] / "crates/eval/tests/fixtures"

# Training text: a few sentences per language and script, written for this fixture.
TRAIN = """\
The weather is good today, so we are going to the beach with our friends.
He arrived late because the train was delayed by almost an hour.
The government announced a new plan to improve the schools in every city.
She is reading a book in the garden while the children are playing.
Prices rose by three percent last year, analysts said on Monday.
El niño se comió una manzana y dos plátanos antes de ir a la escuela.
¿Dónde se encuentra la estación de tren más cercana, por favor?
La ciudad anunció que las bibliotecas abrirán también los domingos.
Die Bürger fordern mehr Grünflächen in der Innenstadt und bessere Radwege.
Am Montag wurde der Straßenbahnverkehr wegen Bauarbeiten eingestellt.
L'homme qu'on a vu hier n'était pas là aujourd'hui, a dit la voisine.
Le musée est fermé aujourd'hui ; revenez demain matin, s'il vous plaît.
Вчера в Москве шёл сильный дождь, и многие остались дома.
Президент сказал, что экономика растёт быстрее, чем ожидалось.
政府昨日公布了一项新的教育计划，以提高学校的质量。
今年的增长率是百分之三，比去年高一点。
我们明天早上去北京参观博物馆。
東京では昨日から雨が続いています。
"""

# Lines to tokenise: the training text, unseen words and scripts, and characters NFKC changes
# (full-width letters and digits, ligatures, compatibility forms, NBSP and other spaces).
EXTRA = [
    "Ｆｕｌｌ－ｗｉｄｔｈ ＡＢＣ １２３ and ﬁne ﬂowers ﬀ",
    "No\u00a0break\u2009thin\u3000ideographic  double   spaces\ttab",
    "  leading and trailing spaces  ",
    "Ελληνικά και עברית και ქართული: unseen scripts",
    "Emoji 🌞🚀 and symbols ½ ™ ℃ № ①②",
    "İstanbul'da hava güzel; Zürich, Kraków, Ærøskøbing.",
    "unbelievably extraordinary internationalisation",
    "",
    "a",
    "政府、学校と病院。",
]


def train(model_type, prefix, byte_fallback, vocab_size):
    import sentencepiece as spm

    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(TRAIN.splitlines()),
        model_prefix=str(prefix),
        model_type=model_type,
        vocab_size=vocab_size,
        character_coverage=0.98,
        normalization_rule_name="nmt_nfkc",
        byte_fallback=byte_fallback,
        num_threads=1,
        minloglevel=2,
    )


def main():
    import sentencepiece as spm

    FIXTURES.mkdir(parents=True, exist_ok=True)
    models = {"bpe": FIXTURES / "spm-bpe.model", "unigram": FIXTURES / "spm-unigram.model"}
    with tempfile.TemporaryDirectory() as tmp:
        for kind, byte_fallback, vocab in (("bpe", False, 500), ("unigram", True, 450)):
            train(kind, Path(tmp) / kind, byte_fallback, vocab)
            models[kind].write_bytes((Path(tmp) / f"{kind}.model").read_bytes())

        # sacreBLEU finds its models by the basename of their download URLs.
        os.environ["SACREBLEU"] = tmp
        (Path(tmp) / "models").mkdir()
        (Path(tmp) / "models/sacrebleu_tokenizer_spm.model").write_bytes(models["bpe"].read_bytes())
        (Path(tmp) / "models/flores200sacrebleuspm").write_bytes(models["unigram"].read_bytes())
        sys.path.insert(0, str(HERE))
        import sacrebleu
        from sacrebleu.metrics import BLEU

        from sacrebleu_fixture import EXPECTED_VERSION, SETS, bleu_record, segment_refs

        if sacrebleu.__version__ != EXPECTED_VERSION:
            sys.exit(f"sacrebleu {EXPECTED_VERSION} expected, found {sacrebleu.__version__}")

        lines = TRAIN.splitlines() + EXTRA
        for hyps, streams in SETS.values():
            lines += hyps + [r for s in streams for r in s if r is not None]
        pieces = []
        for kind, path in models.items():
            sp = spm.SentencePieceProcessor(model_file=str(path))
            pieces += [{"model": kind, "input": t, "pieces": sp.encode(t, out_type=str)} for t in lines]

        bleu = []
        for tok in ("flores101", "flores200"):
            for set_name, (hyps, streams) in SETS.items():
                m = BLEU(tokenize=tok)
                bleu.append({"set": set_name, "tokenize": tok, "index": None, "lowercase": False,
                             "smooth_method": "exp", "effective_order": False,
                             **bleu_record(m, m.corpus_score(hyps, streams))})
                for i, hyp in enumerate(hyps):
                    m = BLEU(tokenize=tok, effective_order=True)
                    score = m.sentence_score(hyp, segment_refs(streams, i))
                    bleu.append({"set": set_name, "tokenize": tok, "index": i, "lowercase": False,
                                 "smooth_method": "exp", "effective_order": True,
                                 **bleu_record(m, score)})

    fixture = {
        "generator": "scripts/reference/spm_fixture.py",
        "sacrebleu_version": sacrebleu.__version__,
        "sentencepiece_version": spm.__version__,
        "python": platform.python_version(),
        "models": {"flores101": "spm-bpe.model", "flores200": "spm-unigram.model"},
        "pieces": pieces,
        "bleu": bleu,
    }
    out = FIXTURES / "spm.json"
    out.write_text(json.dumps(fixture, ensure_ascii=False, indent=1) + "\n")
    print(f"wrote {out} ({len(pieces)} tokenisations, {len(bleu)} BLEU scores)")


if __name__ == "__main__":
    main()
