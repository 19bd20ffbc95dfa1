#!/usr/bin/env python3
"""Sanity-check and compare the two reference fixtures (numpy + stdlib only).

For each case prints: number of positions, greedy continuation agreement
(same-index matches and common prefix length), minimum top1-top2 margin in
each fixture (all rows, and only the rows that chose the greedy continuation), and the mean approximate KL(llama.cpp || HF) over the positions
whose input prefix is identical in both fixtures (prompt positions plus the
continuation up to the first divergence).

KL approximation ("tail mass lumped"): the distributions are coarse-grained to
P's top-k token ids plus one "rest" bucket.  p_i = exp(l_i - lse_P) is exact for
P (llama.cpp).  q_i = exp(l^Q_i - lse_Q) is exact when id i is in Q's (HF)
top-k; otherwise l^Q_i is approximated by Q's k-th logit (an upper bound).  The
rest bucket gets the leftover mass of each.  This is a lower-bound-style
estimate of the true KL, fine for spotting gross disagreement.

Usage: python scripts/reference/compare.py [HF_JSON] [LLAMACPP_JSON]
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def kl_approx(pp: dict, qp: dict) -> float:
    lse_p, lse_q = pp["logsumexp"], qp["logsumexp"]
    q_map = dict(zip(qp["top_ids"], qp["top_logits"]))
    q_floor = qp["top_logits"][-1]
    kl = 0.0
    sp = sq = 0.0
    for tid, lp in zip(pp["top_ids"], pp["top_logits"]):
        p = math.exp(lp - lse_p)
        q = math.exp(q_map.get(tid, q_floor) - lse_q)
        sp += p
        sq += q
        if p > 0:
            kl += p * math.log(p / max(q, 1e-30))
    p_rest = max(1.0 - sp, 0.0)
    q_rest = max(1.0 - sq, 1e-12)
    if p_rest > 1e-12:
        kl += p_rest * math.log(p_rest / q_rest)
    return kl


def main() -> None:
    hf_path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "fixtures/reference/hf_smollm2_q4_1.json"
    lc_path = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "fixtures/reference/llamacpp_smollm2_q4_1.json"
    hf = json.loads(hf_path.read_text(encoding="utf-8"))
    lc = json.loads(lc_path.read_text(encoding="utf-8"))
    assert hf["model_sha256"] == lc["model_sha256"]
    lc_cases = {c["name"]: c for c in lc["cases"]}

    print(f"{'case':12s} {'prompt':>6s} {'pos':>4s} {'agree':>6s} {'prefix':>6s} "
          f"{'minmargin_hf':>12s} {'minmargin_lc':>12s} {'contmargin_hf':>13s} {'contmargin_lc':>13s} {'kl_pos':>6s} {'meanKL':>9s} {'maxKL':>9s} {'top1agree':>9s}")
    tot_agree = tot_cont = 0
    all_kl = []
    for h in hf["cases"]:
        l = lc_cases[h["name"]]
        assert h["prompt_ids"] == l["prompt_ids"], h["name"]
        n_prompt = len(h["prompt_ids"])
        seq_h = h["prompt_ids"] + h["continuation_ids"]
        seq_l = l["prompt_ids"] + l["continuation_ids"]
        assert len(h["positions"]) == len(seq_h) and len(l["positions"]) == len(seq_l)
        agree = sum(a == b for a, b in zip(h["continuation_ids"], l["continuation_ids"]))
        prefix = 0
        for a, b in zip(h["continuation_ids"], l["continuation_ids"]):
            if a != b:
                break
            prefix += 1
        tot_agree += agree
        tot_cont += len(h["continuation_ids"])
        # positions whose inputs are identical: rows 0 .. n_prompt-1+prefix
        n_same = n_prompt + prefix
        kls = [kl_approx(l["positions"][t], h["positions"][t]) for t in range(min(n_same, len(seq_h)))]
        top1 = sum(l["positions"][t]["top_ids"][0] == h["positions"][t]["top_ids"][0] for t in range(len(kls)))
        all_kl += kls
        mm_h = min(p["margin"] for p in h["positions"])
        mm_l = min(p["margin"] for p in l["positions"])
        # rows that chose the greedy continuation tokens
        cm_h = min(p["margin"] for p in h["positions"][n_prompt - 1 : -1])
        cm_l = min(p["margin"] for p in l["positions"][n_prompt - 1 : -1])
        print(f"{h['name']:12s} {n_prompt:6d} {len(h['positions']):4d} {agree:3d}/{len(h['continuation_ids']):<2d} "
              f"{prefix:6d} {mm_h:12.5f} {mm_l:12.5f} {cm_h:13.5f} {cm_l:13.5f} {len(kls):6d} {sum(kls)/len(kls):9.2e} {max(kls):9.2e} "
              f"{top1:4d}/{len(kls):<4d}")
    print(f"continuation tokens agreeing (same index): {tot_agree}/{tot_cont}")
    print(f"mean approx KL(llama.cpp||HF) over {len(all_kl)} shared-prefix positions: {sum(all_kl)/len(all_kl):.3e}; "
          f"max {max(all_kl):.3e}")


if __name__ == "__main__":
    main()
