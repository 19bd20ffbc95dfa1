#!/usr/bin/env python3
"""Records sacreBLEU's own scores on a multilingual test set, for crates/eval's tests.

The Rust crate `xlingo-eval` reimplements sacreBLEU's BLEU and chrF; its test
(`crates/eval/tests/sacrebleu.rs`) compares every number here within 0.01 and every
signature and tokenisation exactly.

    python3 -m venv /tmp/sb && /tmp/sb/bin/pip install sacrebleu==2.5.1
    /tmp/sb/bin/python scripts/reference/sacrebleu_fixture.py [OUT]

OUT defaults to crates/eval/tests/fixtures/sacrebleu.json. The sentences below were written for
this fixture: several languages and scripts, numbers, URLs, HTML entities, Python-only
whitespace, empty hypotheses, hypotheses longer than their references, and multiple (and a
variable number of) references.
"""

import json
import logging
import platform
import sys
from pathlib import Path

import regex
import sacrebleu
from sacrebleu.metrics import BLEU, CHRF
from sacrebleu.metrics.bleu import _get_tokenizer

EXPECTED_VERSION = "2.5.1"
TOKENIZERS = ["13a", "intl", "zh", "char", "none"]
SMOOTHING = ["exp", "floor", "add-k", "none"]

# name -> (hypotheses, reference streams); a None reference is absent (variable refs).
SETS = {
    "en": (
        [
            "The company said its profit rose to $1,000.50 per share in 2019.",
            "Visit https://example.org/news?id=42&lang=en for more details.",
            "We don't know whether the bridge, which opened in 1998, is safe.",
            "Prices fell by 3.5% between 2019-2020 , analysts said .",
            "",
            "The cat sat on the mat and then it sat on the mat again and again and again.",
        ],
        [
            [
                "The company said its profit rose to $1,000.50 a share in 2019.",
                "For more details, visit https://example.org/news?id=42&lang=en.",
                "It is not known whether the bridge, opened in 1998, is safe.",
                "Analysts said prices fell 3.5% in 2019-2020.",
                "Nothing happened.",
                "The cat sat on the mat.",
            ]
        ],
    ),
    "de": (
        [
            "Die Bürger fordern mehr Grünflächen in der Innenstadt.",
            "Der Straßenbahnverkehr wurde am Montag wegen Bauarbeiten eingestellt.",
            "„Wir sind sehr zufrieden“, sagte die Bürgermeisterin.",
            "Über 1.000 Menschen nahmen an der Demonstration teil.",
            "ÄRZTE UND PFLEGEKRÄFTE ARBEITEN ÜBERSTUNDEN.",
        ],
        [
            [
                "Die Bürgerinnen und Bürger verlangen mehr Grünflächen im Stadtzentrum.",
                "Am Montag wurde der Straßenbahnverkehr wegen Bauarbeiten eingestellt.",
                "„Wir sind äußerst zufrieden“, sagte die Bürgermeisterin.",
                "Mehr als 1.000 Menschen nahmen an der Demonstration teil.",
                "Ärzte und Pflegekräfte arbeiten Überstunden.",
            ]
        ],
    ),
    "fr": (
        [
            "L'homme qu'on a vu hier n'était pas là aujourd'hui.",
            "« C'est incroyable ! » a-t-il dit.",
            "Le prix est de 12,50 € : c'est trop cher ?",
            "Aujourd\u2019hui, le musée est fermé\u00a0; revenez demain.",
        ],
        [
            [
                "L'homme que l'on a vu hier n'était pas là aujourd'hui.",
                "« C'est incroyable ! », a-t-il déclaré.",
                "Le prix est de 12,50 € : est-ce trop cher ?",
                "Aujourd\u2019hui, le musée est fermé\u202f; revenez demain.",
            ]
        ],
    ),
    "es": (
        [
            "¿Dónde está la estación de tren?",
            "¡Qué sorpresa verte aquí, José!",
            "El niño comió una manzana y dos plátanos.",
        ],
        [
            [
                "¿Dónde se encuentra la estación de tren?",
                "¡Qué sorpresa verte por aquí, José!",
                "El niño se comió una manzana y dos plátanos.",
            ]
        ],
    ),
    "ru": (
        [
            "Вчера в Москве прошёл сильный дождь.",
            "Президент заявил, что экономика растёт.",
            "ЭТО ОЧЕНЬ ВАЖНОЕ РЕШЕНИЕ.",
        ],
        [
            [
                "Вчера в Москве шёл сильный дождь.",
                "Президент сказал, что экономика растёт.",
                "Это очень важное решение.",
            ]
        ],
    ),
    "ar": (
        [
            "أعلنت الحكومة عن خطة جديدة للتعليم.",
            "هل تعرف أين تقع المكتبة؟",
            "بلغ عدد السكان ٤٫٥ مليون نسمة في عام ٢٠٢٠،",
        ],
        [
            [
                "أعلنت الحكومة خطة جديدة لتطوير التعليم.",
                "هل تعرف أين توجد المكتبة؟",
                "بلغ عدد السكان ٤٫٥ مليون نسمة عام ٢٠٢٠.",
            ]
        ],
    ),
    "hi": (
        [
            "सरकार ने किसानों के लिए नई योजना की घोषणा की।",
            "मौसम विभाग ने भारी बारिश की चेतावनी दी है।",
            "भारत की जनसंख्या १४० करोड़ से अधिक है।",
        ],
        [
            [
                "सरकार ने किसानों के लिए एक नई योजना घोषित की।",
                "मौसम विभाग ने भारी वर्षा की चेतावनी जारी की है।",
                "भारत की आबादी १४० करोड़ से ज़्यादा है।",
            ]
        ],
    ),
    "zh": (
        [
            "政府昨天宣布了一项新的教育计划。",
            "他说：“我们会在2024年完成这个项目。”",
            "今年的增长率为3.5%，高于去年。",
            "GPT-4 模型在多语言任务上表现很好",
            "欢迎访问 https://example.cn/新闻 了解更多——谢谢…",
        ],
        [
            [
                "政府昨日公布了一项新的教育计划。",
                "他表示：“我们将在2024年完成该项目。”",
                "今年增长率是3.5%，比去年高。",
                "GPT-4模型在多语言任务中表现良好。",
                "欢迎访问 https://example.cn/新闻 了解更多。",
            ]
        ],
    ),
    "ja": (
        [
            "東京では昨日から雨が降っています。",
            "「ありがとうございます」と彼女は言った。",
            "このカメラは3万円です。",
        ],
        [
            [
                "東京では昨日から雨が続いています。",
                "「どうもありがとう」と彼女は言いました。",
                "このカメラの値段は3万円です。",
            ]
        ],
    ),
    "el": (
        [
            "Η ΟΔΟΣ ΕΙΝΑΙ ΚΛΕΙΣΤΗ ΣΗΜΕΡΑ.",
            "Ο Οδυσσέας επέστρεψε στην Ιθάκη.",
        ],
        [
            [
                "Η οδός είναι κλειστή σήμερα.",
                "Ο Οδυσσέας γύρισε στην Ιθάκη.",
            ]
        ],
    ),
    "mixed": (
        [
            "Call +1 (555) 010-9999 or write to info@example.com &amp; ask for Ann &lt;3",
            "Version 2.0.1 costs 1,000,000 yen — a 50% rise.",
            "Tabs\tand\u001fseparators\u001c should count as spaces ",
            "<skipped> The hyphen-\nated word spans two lines.",
            "İstanbul ve İzmir'de hava güzel. 🌞🙂",
            "Ünïcödé, 3.14, and x² + y² = z²!",
        ],
        [
            [
                "Call +1 (555) 010-9999 or email info@example.com & ask for Ann <3",
                "Version 2.0.1 costs 1,000,000 yen, a rise of 50%.",
                "Tabs and separators should count as spaces",
                "The hyphenated word spans two lines.",
                "İstanbul'da ve İzmir'de hava güzel. 🌞",
                "Unicode, 3.14, and x² + y² = z²!",
            ]
        ],
    ),
    "edge": (
        [
            "",
            "identical sentence here",
            "completely different words",
            "word",
            "a much longer hypothesis than the short reference it is compared with",
            "   ",
            "only hypothesis",
        ],
        [
            [
                "non-empty reference",
                "identical sentence here",
                "nothing in common at all",
                "word",
                "a short reference",
                "   ",
                "",
            ]
        ],
    ),
    "multi_ref": (
        [
            "The weather is nice today and we go to the beach.",
            "He arrived late because the train was delayed.",
            "Das ist ein sehr gutes Buch.",
            "she reads",
        ],
        [
            [
                "The weather is good today, so we are going to the beach.",
                "He came late since the train had a delay.",
                "Das ist ein wirklich gutes Buch.",
                "She is reading a book in the garden.",
            ],
            [
                "Today the weather is nice and we are going to the beach.",
                "He arrived late because his train was delayed.",
                "Dies ist ein sehr gutes Buch.",
                "She reads.",
            ],
            [
                "It's a nice day, we're heading to the beach.",
                "Because the train was late, he arrived late.",
                "Ein sehr gutes Buch ist das.",
                "she reads books",
            ],
        ],
    ),
    "var_ref": (
        [
            "The meeting was postponed until next week.",
            "Il pleut depuis ce matin.",
            "Die Preise steigen weiter.",
        ],
        [
            [
                "The meeting has been postponed to next week.",
                "Il pleut depuis ce matin.",
                "Die Preise steigen immer weiter.",
            ],
            [
                "The meeting was moved to next week.",
                None,
                "Die Preise steigen weiter an.",
            ],
        ],
    ),
}


def segment_refs(streams, i):
    """The references of segment i, absent ones left out (as sacreBLEU does)."""
    return [s[i] for s in streams if s[i] is not None]


def bleu_record(metric, score):
    sig = metric.get_signature()
    return {
        "score": score.score,
        "counts": [int(c) for c in score.counts],
        "totals": [int(t) for t in score.totals],
        "precisions": score.precisions,
        "bp": score.bp,
        "sys_len": score.sys_len,
        "ref_len": score.ref_len,
        "signature": sig.format(),
        "formatted": str(score),
    }


def chrf_record(metric, score):
    sig = metric.get_signature()
    return {
        "score": score.score,
        "name": score.name,
        "signature": sig.format(),
        "signature_short": sig.format(short=True),
        "formatted": score.format(width=2, signature=sig.format()),
    }


def tokenisations():
    texts = sorted(
        {h for hyps, _ in SETS.values() for h in hyps}
        | {r for _, streams in SETS.values() for s in streams for r in s if r is not None}
    )
    out = []
    for name in TOKENIZERS:
        tok = _get_tokenizer(name)()
        out += [{"tokenize": name, "input": t, "output": tok(t)} for t in texts]
    return out


def corpus_bleu_records():
    out = []
    for set_name, (hyps, streams) in SETS.items():
        for tok in TOKENIZERS:
            for lc in (False, True):
                for smooth in SMOOTHING:
                    for eff in (False, True):
                        m = BLEU(tokenize=tok, lowercase=lc, smooth_method=smooth, effective_order=eff)
                        rec = bleu_record(m, m.corpus_score(hyps, streams))
                        if set_name in ("multi_ref", "var_ref"):
                            rec["signature_short"] = m.get_signature().format(short=True)
                        out.append({"set": set_name, "tokenize": tok, "lowercase": lc,
                                    "smooth_method": smooth, "effective_order": eff, **rec})
    return out


def sentence_bleu_records():
    out = []
    for set_name, (hyps, streams) in SETS.items():
        for i, hyp in enumerate(hyps):
            refs = segment_refs(streams, i)
            for tok in TOKENIZERS:
                for lc in (False, True):
                    smooths = SMOOTHING if (tok == "13a" and not lc) else ["exp"]
                    for smooth in smooths:
                        # sacrebleu.sentence_bleu's defaults: effective order on.
                        m = BLEU(tokenize=tok, lowercase=lc, smooth_method=smooth, effective_order=True)
                        score = m.sentence_score(hyp, refs)
                        via_api = sacrebleu.sentence_bleu(hyp, refs, smooth_method=smooth,
                                                          lowercase=lc, tokenize=tok)
                        assert via_api.score == score.score, (set_name, i, tok)
                        out.append({"set": set_name, "index": i, "tokenize": tok, "lowercase": lc,
                                    "smooth_method": smooth, "effective_order": True,
                                    **bleu_record(m, score)})
    return out


def corpus_chrf_records():
    out = []
    for set_name, (hyps, streams) in SETS.items():
        for word_order in (0, 2):
            for lc in (False, True):
                for ws in (False, True):
                    for eps in (False, True):
                        m = CHRF(word_order=word_order, lowercase=lc, whitespace=ws, eps_smoothing=eps)
                        rec = chrf_record(m, m.corpus_score(hyps, streams))
                        out.append({"set": set_name, "word_order": word_order, "lowercase": lc,
                                    "whitespace": ws, "eps_smoothing": eps, **rec})
    return out


def sentence_chrf_records():
    out = []
    for set_name, (hyps, streams) in SETS.items():
        for i, hyp in enumerate(hyps):
            refs = segment_refs(streams, i)
            for word_order in (0, 2):
                for eps in (False, True):
                    m = CHRF(word_order=word_order, eps_smoothing=eps)
                    score = m.sentence_score(hyp, refs)
                    via_api = sacrebleu.sentence_chrf(hyp, refs, word_order=word_order, eps_smoothing=eps)
                    assert via_api.score == score.score, (set_name, i, word_order)
                    out.append({"set": set_name, "index": i, "word_order": word_order,
                                "lowercase": False, "whitespace": False, "eps_smoothing": eps,
                                **chrf_record(m, score)})
    return out


def main():
    if sacrebleu.__version__ != EXPECTED_VERSION:
        sys.exit(f"sacrebleu {EXPECTED_VERSION} expected, found {sacrebleu.__version__}")
    logging.getLogger("sacrebleu").setLevel(logging.ERROR)
    default_out = Path(__file__).resolve().parents[2] / "crates/eval/tests/fixtures/sacrebleu.json"
    out_path = Path(sys.argv[1]) if len(sys.argv) > 1 else default_out
    fixture = {
        "generator": "scripts/reference/sacrebleu_fixture.py",
        "sacrebleu_version": sacrebleu.__version__,
        "regex_version": regex.__version__,
        "python_version": platform.python_version(),
        "sets": {k: {"hypotheses": h, "references": s} for k, (h, s) in SETS.items()},
        "tokenize": tokenisations(),
        "bleu_corpus": corpus_bleu_records(),
        "bleu_sentence": sentence_bleu_records(),
        "chrf_corpus": corpus_chrf_records(),
        "chrf_sentence": sentence_chrf_records(),
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(fixture, f, ensure_ascii=False, indent=None, separators=(",", ":"))
        f.write("\n")
    counts = {k: len(v) for k, v in fixture.items() if isinstance(v, list)}
    print(f"wrote {out_path}: {counts}")


if __name__ == "__main__":
    main()
