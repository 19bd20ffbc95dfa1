#!/usr/bin/env python3
"""Check xlingo's exports with the PyPI transformers and peft packages.

Given the output directory of `xlingo train sft` (RUN/hf: Hugging Face checkpoint,
RUN/adapter: PEFT adapter with LoRA, RUN/model-f16.gguf) and the base model it was trained
from (a GGUF file, dequantised to float32 by transformers), this script

  1. runs `xlingo logits` (the burn reference model, f32) on a few multilingual prompts, raw
     and in the chat template, on RUN/hf and on RUN/model-f16.gguf;
  2. checks that transformers' tokenizer, built from RUN/hf/tokenizer.json and
     tokenizer_config.json, gives the same token ids (and the same rendered chat text);
  3. loads, all in float32 on the CPU, and runs on xlingo's token ids:
       merged   AutoModelForCausalLM.from_pretrained(RUN/hf)
       peft     the base GGUF (gguf_file=...) + PeftModel.from_pretrained(RUN/adapter)
       gguf     AutoModelForCausalLM.from_pretrained(RUN, gguf_file="model-f16.gguf")
       base     the base alone (peft's adapter disabled), to show how far training moved
  4. prints the largest absolute and relative logit differences and the argmax agreement of
     every pair, and exits non-zero when a checked pair is above the tolerance or a token id
     differs. With --llama-cpp-python it also loads RUN/model-f16.gguf in llama.cpp (through
     llama-cpp-python in another virtual environment) and reports top-1 agreement and KL
     (llama.cpp quantises activations in its matmuls, so that one is not exact).

Usage (see scripts/reference/README.md):
  python scripts/reference/check_hf_export.py --run RUN \\
      --base ~/.cache/xlingo/models/SmolLM2-135M-Instruct.Q4_1.gguf \\
      --xlingo $CARGO_TARGET_DIR/debug/xlingo --json RUN/hf-check.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

import numpy as np  # noqa: E402

# A few languages and scripts; the first is the CoIT training instruction (template 0).
PROMPTS = [
    ("en-es", "Translate the following sentences from English to Spanish.\nIn the beginning God created the heavens and the earth."),
    ("es", "¿Cuál es el río más largo de España?"),
    ("fr", "Écris une phrase sur la mer."),
    ("zh", "中国的首都是哪里？"),
    ("ru", "Москва — столица России, и этот город известен"),
    ("ar", "ما هي عاصمة مصر؟"),
]

# float32 paths that compute the same function: the largest |Δlogit| allowed. The reference
# test of the base model against transformers (crates/model/tests/reference_smollm2.rs) sees
# 1.2e-4 over 1,798 positions; 1e-3 leaves room for summation order and nothing more.
TOLERANCE = 1e-3
# Argmax must agree wherever the reference's top-1/top-2 margin exceeds this.
TIE_MARGIN = 1e-2
# The F16 GGUF against the f32 checkpoint: weights rounded to f16 move the logits by ~2e-3 of
# the largest logit on SmolLM2; a config.json that describes another model moves them by O(1).
F16_REL_TOLERANCE = 1e-2


def versions() -> dict:
    v = common.base_versions()
    v["peft"] = common.pkg_version("peft")
    v["safetensors"] = common.pkg_version("safetensors")
    return v


def find_xlingo(arg: str | None) -> str:
    if arg:
        return arg
    for d in [os.environ.get("CARGO_TARGET_DIR"), os.environ.get("XLINGO_TARGET_DIR")]:
        for profile in ["release", "debug"]:
            if d and Path(d, profile, "xlingo").exists():
                return str(Path(d, profile, "xlingo"))
    found = shutil.which("xlingo")
    if found:
        return found
    sys.exit("no xlingo binary: pass --xlingo or set CARGO_TARGET_DIR")


def xlingo_logits(xlingo: str, model: Path, chat: bool, out: Path, prompts) -> list[dict]:
    """Run `xlingo logits` and read back ids, logits and the rendered text per prompt."""
    from safetensors import safe_open

    cmd = [xlingo, "logits", "--model", str(model), "--out", str(out)]
    for _, text in prompts:
        cmd += ["--prompt", text]
    if chat:
        cmd.append("--chat")
    t0 = time.time()
    subprocess.run(cmd, check=True)
    print(f"  xlingo logits {model.name} {'chat' if chat else 'raw'}: {time.time() - t0:.1f}s", flush=True)
    cases = []
    with safe_open(str(out), framework="np") as f:
        meta = f.metadata()
        texts = json.loads(meta["xlingo.texts"])
        for n, (lang, prompt) in enumerate(prompts):
            ids = f.get_tensor(f"ids.{n}")
            logits = f.get_tensor(f"logits.{n}")
            assert ids.dtype == np.int64 and logits.dtype == np.float32
            assert logits.shape == (len(ids), logits.shape[1]), logits.shape
            cases.append(
                {
                    "name": f"{lang}_{'chat' if chat else 'raw'}",
                    "chat": chat,
                    "prompt": prompt,
                    "text": texts[n],
                    "ids": [int(i) for i in ids],
                    "logits": logits,
                }
            )
    return cases


def hf_logits(model, ids: list[int]) -> np.ndarray:
    import torch

    with torch.no_grad():
        out = model(torch.tensor([ids], dtype=torch.long)).logits[0]
    return out.float().numpy()


def compare(name: str, ref: list[np.ndarray], got: list[np.ndarray], cases: list[dict], tolerance) -> dict:
    """Largest |Δ|, |Δ| relative to the largest |logit|, argmax agreement (and where the
    reference's margin was clear) over every position of every case."""
    max_abs, max_ref, mean_abs, n = 0.0, 0.0, 0.0, 0
    agree, clear_disagree, worst_case = 0, [], None
    for r, g, c in zip(ref, got, cases):
        assert r.shape == g.shape, (name, c["name"], r.shape, g.shape)
        d = np.abs(r.astype(np.float64) - g.astype(np.float64))
        if d.max() > max_abs:
            max_abs, worst_case = float(d.max()), c["name"]
        max_ref = max(max_ref, float(np.abs(r).max()))
        mean_abs += float(d.sum())
        n += d.size
        ra, ga = r.argmax(-1), g.argmax(-1)
        agree += int((ra == ga).sum())
        top2 = np.sort(r, axis=-1)[:, -2:]
        margin = top2[:, 1] - top2[:, 0]
        for t in np.nonzero((ra != ga) & (margin > TIE_MARGIN))[0]:
            clear_disagree.append(f"{c['name']}@{int(t)}")
    positions = sum(len(r) for r in ref)
    result = {
        "pair": name,
        "max_abs": max_abs,
        "max_rel": max_abs / max(max_ref, 1e-30),
        "mean_abs": mean_abs / max(n, 1),
        "worst_case": worst_case,
        "argmax_agree": f"{agree}/{positions}",
        "clear_argmax_disagreements": clear_disagree,
        "tolerance": tolerance,
    }
    if isinstance(tolerance, tuple):  # ("rel", x): only the relative size is checked
        result["ok"] = result["max_rel"] <= tolerance[1]
    elif tolerance is not None:
        result["ok"] = max_abs <= tolerance and not clear_disagree
    return result


LLAMA_CPP_PROGRAM = r"""
import json, sys
import numpy as np
from llama_cpp import Llama
model, ids_path, out_path = sys.argv[1:4]
cases = json.load(open(ids_path))
llm = Llama(model_path=model, n_ctx=512, n_threads=2, logits_all=True, verbose=False, seed=0)
out = {}
for name, ids in cases.items():
    llm.reset()
    llm.eval(ids)
    out[name] = np.array(llm.scores[: len(ids)], dtype=np.float32)
np.savez(out_path, **out)
import llama_cpp
print(json.dumps({"llama_cpp_python": llama_cpp.__version__}))
"""


def llama_cpp_logits(python: str, gguf: Path, cases: list[dict], tmp: Path) -> tuple[list[np.ndarray], dict]:
    ids_path, out_path, prog = tmp / "ids.json", tmp / "llama_cpp.npz", tmp / "llama_cpp_logits.py"
    ids_path.write_text(json.dumps({c["name"]: c["ids"] for c in cases}))
    prog.write_text(LLAMA_CPP_PROGRAM)
    t0 = time.time()
    done = subprocess.run([python, str(prog), str(gguf), str(ids_path), str(out_path)], check=True, capture_output=True, text=True)
    print(f"  llama.cpp on {gguf.name}: {time.time() - t0:.1f}s", flush=True)
    info = json.loads(done.stdout.strip().splitlines()[-1])
    data = np.load(out_path)
    return [data[c["name"]] for c in cases], info


def kl_top1(ref: list[np.ndarray], got: list[np.ndarray]) -> dict:
    """Mean KL(got || ref) per position and top-1 agreement (for inexact implementations)."""
    kls, agree, n = [], 0, 0
    for r, g in zip(ref, got):
        lr = r - r.max(-1, keepdims=True)
        lr = lr - np.log(np.exp(lr).sum(-1, keepdims=True))
        lg = g - g.max(-1, keepdims=True)
        lg = lg - np.log(np.exp(lg).sum(-1, keepdims=True))
        kls.extend((np.exp(lg) * (lg - lr)).sum(-1).tolist())
        agree += int((r.argmax(-1) == g.argmax(-1)).sum())
        n += len(r)
    return {"mean_kl": float(np.mean(kls)), "max_kl": float(np.max(kls)), "top1_agree": f"{agree}/{n}"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, type=Path, help="output directory of `xlingo train sft`")
    ap.add_argument("--base", required=True, type=Path, help="the GGUF the run started from")
    ap.add_argument(
        "--base-hf",
        type=Path,
        help="load the base for PEFT from this Hugging Face checkpoint instead of --base (e.g. hf/ of "
        "`xlingo train sft --method full --steps 0`; for GGUF features transformers' GGUF loader drops)",
    )
    ap.add_argument("--xlingo", help="xlingo binary (default: $CARGO_TARGET_DIR/{release,debug}/xlingo, then PATH)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--tolerance", type=float, default=TOLERANCE)
    ap.add_argument("--llama-cpp-python", help="a Python with llama-cpp-python installed (optional)")
    ap.add_argument("--json", type=Path, help="write the report here")
    ap.add_argument("--prompt", action="append", help="a prompt instead of the built-in ones (repeatable; e.g. ASCII for tiny models)")
    args = ap.parse_args()
    prompts = [(f"p{i}", p) for i, p in enumerate(args.prompt)] if args.prompt else PROMPTS

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(args.threads)
    xlingo = find_xlingo(args.xlingo)
    run, hf_dir, adapter_dir, gguf = args.run, args.run / "hf", args.run / "adapter", args.run / "model-f16.gguf"
    report = {
        "generator": "scripts/reference/check_hf_export.py",
        "versions": versions(),
        "xlingo": xlingo,
        "run": str(run),
        "base": str(args.base),
        "base_sha256": common.sha256_file(args.base, expected=""),
        "summary": json.loads((run / "summary.json").read_text()) if (run / "summary.json").exists() else None,
        "threads": args.threads,
        "tolerance": args.tolerance,
        "tie_margin": TIE_MARGIN,
        "notes": [],
        "results": [],
    }
    for k, v in report["versions"].items():
        print(f"{k}: {v}")
    failures = []

    def attempt(label, fn):
        """Run one load/forward; a failure is reported and the other checks go on."""
        try:
            return fn()
        except Exception as e:  # noqa: BLE001 — any failure to load is a finding
            message = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
            failures.append(f"{label}: {type(e).__name__}: {message}")
            print(f"  FAILED {label}: {type(e).__name__}: {message}", flush=True)
            return None

    print("xlingo (burn reference, f32):", flush=True)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        ours = {}
        for model_name, path in [("hf", hf_dir), ("gguf", gguf)]:
            if path.exists():
                got = attempt(
                    f"xlingo logits on {path.name}",
                    lambda: xlingo_logits(xlingo, path, False, tmp / f"{model_name}-raw.st", prompts)
                    + xlingo_logits(xlingo, path, True, tmp / f"{model_name}-chat.st", prompts),
                )
                if got is not None:
                    ours[model_name] = got
        if not ours:
            print("FAILED: xlingo could not run either export")
            return 1
        cases = ours.get("hf") or ours["gguf"]
        if "gguf" in ours and "hf" in ours:
            assert [c["ids"] for c in ours["gguf"]] == [c["ids"] for c in cases], "GGUF and HF exports tokenise differently"

        # Tokenizer: transformers from our tokenizer.json + tokenizer_config.json.
        tok = AutoTokenizer.from_pretrained(hf_dir)
        report["tokenizer_class"] = type(tok).__name__
        token_rows = []
        for c in cases:
            if c["chat"]:
                text = tok.apply_chat_template(
                    [{"role": "user", "content": c["prompt"]}], tokenize=False, add_generation_prompt=True
                )
                ids = tok(text, add_special_tokens=False).input_ids
            else:
                text = c["prompt"]
                ids = tok(text).input_ids
            same_text, same_ids = text == c["text"], list(ids) == c["ids"]
            token_rows.append({"case": c["name"], "tokens": len(c["ids"]), "same_text": same_text, "same_ids": same_ids})
            if not (same_text and same_ids):
                failures.append(f"tokenizer: {c['name']}: text {'same' if same_text else 'differs'}, ids {'same' if same_ids else 'differ'}")
                print(f"  transformers: {ids}\n  xlingo:       {c['ids']}\n  {text!r}\n  {c['text']!r}")
        report["tokenizer"] = token_rows
        print(
            f"tokenizer ({type(tok).__name__} from {hf_dir.name}/tokenizer.json): "
            f"{sum(r['same_ids'] for r in token_rows)}/{len(token_rows)} cases with the same ids, "
            f"{sum(r['same_text'] for r in token_rows)}/{len(token_rows)} with the same text",
            flush=True,
        )

        def load(path, **kw):
            t0 = time.time()
            m = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, **kw)
            m.eval()
            assert next(m.parameters()).dtype == torch.float32
            print(f"  loaded {Path(path).name} {kw or ''} in {time.time() - t0:.1f}s", flush=True)
            return m

        print("transformers (f32):", flush=True)
        ids = [c["ids"] for c in cases]
        theirs = {}

        def run_model(key, label, make):
            m = attempt(label, make)
            if m is not None:
                out = attempt(f"{label}: forward", lambda: [hf_logits(m, i) for i in ids])
                if out is not None:
                    theirs[key] = out
            return m

        run_model("merged", "transformers on hf/", lambda: load(hf_dir))
        if gguf.exists():
            run_model("gguf", f"transformers on {gguf.name}", lambda: load(str(run), gguf_file=gguf.name))
        if args.base_hf:
            base = attempt("transformers on --base-hf", lambda: load(args.base_hf))
        else:
            base = attempt("transformers on the base GGUF", lambda: load(str(args.base.parent), gguf_file=args.base.name))
        if base is not None and adapter_dir.exists():
            from peft import PeftModel

            def with_adapter():
                t0 = time.time()
                m = PeftModel.from_pretrained(base, str(adapter_dir))
                m.eval()
                print(f"  PeftModel.from_pretrained({adapter_dir.name}) in {time.time() - t0:.1f}s", flush=True)
                return m

            peft_model = run_model("peft", "peft on the base + adapter/", with_adapter)
            if peft_model is not None:
                with peft_model.disable_adapter():
                    theirs["base"] = [hf_logits(peft_model, i) for i in ids]
                # The merge PEFT itself does, against our merged weights.
                from safetensors.numpy import load_file

                merged_weights = load_file(str(hf_dir / "model.safetensors"))
                state = peft_model.merge_and_unload().state_dict()
                worst, worst_name = 0.0, None
                for name, w in merged_weights.items():
                    if name not in state:
                        report["notes"].append(f"{name}: in our export, not in the PEFT-merged model")
                    elif state[name].shape != w.shape:
                        failures.append(f"PEFT merge: {name}: shape {tuple(state[name].shape)} vs ours {w.shape}")
                    else:
                        d = float(np.abs(state[name].float().numpy() - w).max())
                        if d > worst:
                            worst, worst_name = d, name
                report["peft_merge_vs_export_max_abs_weight_diff"] = {"max_abs": worst, "tensor": worst_name}
                print(f"  PEFT merge_and_unload() vs our merged weights: max |Δw| {worst:.2e} ({worst_name})")
        elif base is not None:
            theirs["base"] = [hf_logits(base, i) for i in ids]
        del base

        llama = None
        if args.llama_cpp_python and "gguf" in ours:
            got = attempt(f"llama.cpp on {gguf.name}", lambda: llama_cpp_logits(args.llama_cpp_python, gguf, cases, tmp))
            if got is not None:
                llama, info = got
                report["versions"].update(info)

    # (reference, other, tolerance); a pair with a side missing was already reported as failed.
    ours_hf = [c["logits"] for c in ours["hf"]] if "hf" in ours else None
    ours_gguf = [c["logits"] for c in ours["gguf"]] if "gguf" in ours else None
    merged = theirs.get("merged")
    pairs = [
        ("transformers merged (hf/) vs xlingo hf/", merged, ours_hf, args.tolerance),
        ("transformers base + PEFT adapter vs xlingo hf/", theirs.get("peft"), ours_hf, args.tolerance),
        ("transformers base + PEFT adapter vs transformers merged", theirs.get("peft"), merged, args.tolerance),
        ("transformers model-f16.gguf vs xlingo model-f16.gguf", theirs.get("gguf"), ours_gguf, args.tolerance),
        # The two exports of one model through xlingo's two readers (the GGUF one is checked
        # against llama.cpp and transformers): only f16 rounding may separate them, so this
        # catches a config.json that describes another model (as transformers on hf/ agreeing
        # with xlingo on hf/ cannot).
        ("xlingo hf/ vs xlingo model-f16.gguf (f16 rounding)", ours_hf, ours_gguf, ("rel", F16_REL_TOLERANCE)),
    ]
    if not adapter_dir.exists():
        pairs = [p for p in pairs if "PEFT" not in p[0]]
    if not gguf.exists():
        pairs = [p for p in pairs if "gguf" not in p[0]]
    if args.llama_cpp_python is None:
        report["notes"].append("llama.cpp not run (no --llama-cpp-python)")
    pairs.append(("base (before training) vs transformers merged (training's effect; not checked)", merged, theirs.get("base"), None))

    print(f"\n{'pair':<84} {'max|Δ|':>9} {'rel':>9} {'mean|Δ|':>9} {'argmax':>9}  ok")
    for name, ref, got, tol in pairs:
        if ref is None or got is None:
            print(f"{name:<84} {'(not run: see the failure above)':>40}")
            continue
        r = compare(name, ref, got, cases, tol)
        report["results"].append(r)
        ok = "" if tol is None else ("yes" if r["ok"] else "NO")
        tol_text = "" if tol is None else (f"rel ≤ {tol[1]:g}" if isinstance(tol, tuple) else f"≤ {tol:g}")
        print(f"{name:<84} {r['max_abs']:9.2e} {r['max_rel']:9.2e} {r['mean_abs']:9.2e} {r['argmax_agree']:>9}  {ok} {tol_text}")
        if tol is not None and not r["ok"]:
            failures.append(f"{name}: max |Δ| {r['max_abs']:.3e}, rel {r['max_rel']:.3e} ({tol_text}), clear argmax disagreements {r['clear_argmax_disagreements'][:5]}")
    if llama is not None:
        k = kl_top1(ours_gguf, llama)
        k["pair"] = "llama.cpp model-f16.gguf vs xlingo model-f16.gguf (8-bit activations; not checked)"
        report["results"].append(k)
        print(f"{k['pair']}: mean KL {k['mean_kl']:.2e}, max KL {k['max_kl']:.2e}, top-1 {k['top1_agree']}")

    positions = sum(len(c["ids"]) for c in cases)
    print(f"\n{len(cases)} cases, {positions} positions, vocabulary {cases[0]['logits'].shape[1]}")
    report["cases"] = [{"name": c["name"], "ids": c["ids"], "text": c["text"]} for c in cases]
    report["failures"] = failures
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        return 1
    print(f"OK: every checked pair within tolerance (f32 paths ≤ {args.tolerance:g}), token ids identical")
    return 0


if __name__ == "__main__":
    sys.exit(main())
