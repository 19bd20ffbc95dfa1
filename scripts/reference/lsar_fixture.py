#!/usr/bin/env python3
"""Records the LSAR language-subspace probe (METHODS.md, part b), computed with numpy, for
crates/eval's tests.

`xlingo_eval::subspace::probe_layer` implements the probe in Rust (nalgebra, f64);
`crates/eval/tests/subspace_numpy.rs` reruns it on the states stored here and compares
w_c' (`agnostic_raw`) within 1e-6 relative, and the projector onto the language-specific
subspace (sum_k s_k s_k^T, free of the singular vectors' signs) and the shifts within 1e-5.

    python3 scripts/reference/lsar_fixture.py [OUT]      # needs only numpy

OUT defaults to crates/eval/tests/fixtures/lsar_numpy.json. The maths, line by line as
METHODS.md writes it (d = hidden size, L = languages, r = rank):

    mu_l   = mean over language l's states             W = [mu_1 ... mu_L]  (d x L)
    w_c    = W 1 / L
    U S V^T = svd(W - w_c 1^T) (thin);  W_s = U[:, :r],  Gamma = V[:, :r] diag(S[:r])
    W'     = w_c 1^T + W_s Gamma^T
    w_c'   = pinv(W')^T 1,  then  w_c' /= |w_c'|^2
    U' = svd(W' - w_c' 1^T) (thin);  W_s' = U'[:, :r]       P_s = W_s' W_s'^T
    delta_l = mean_i P_s h_{l,i} - mean_i P_s h_{pivot,i}

pinv uses a relative cut-off of 1e-10 (singular values <= 1e-10 * the largest are dropped),
as the Rust code does; numpy's default (1e-15) would keep round-off singular values of W'
when r < L - 1 (W' then has rank r + 1 < L).

States are drawn from numpy.random.default_rng(seed) like a model's: a large shared mean,
per-sentence content shared by all languages, a per-language offset and noise. They are
rounded to float32 (the Rust input type) before anything is computed, and stored, so the Rust
side does not need numpy's generator.
"""

import json
import platform
import sys
from pathlib import Path

import numpy as np

PINV_RTOL = 1e-10

# name -> (languages, states per language, d, rank (None = L - 1), pivot, seed)
CASES = {
    "four_languages_default_rank": (["en", "zh", "ar", "sw"], [10, 10, 10, 10], 16, None, "en", 7),
    "five_languages_rank_2": (["zh", "en", "ja", "ko", "bn"], [10, 8, 12, 10, 9], 16, 2, "en", 8),
    "three_languages_rank_1": (["en", "de", "fr"], [6, 6, 6], 12, 1, "de", 9),
}


def states_for(languages, counts, d, seed):
    rng = np.random.default_rng(seed)
    shared = rng.normal(0.0, 3.0, d)
    content = rng.normal(0.0, 1.0, (max(counts), d))
    out = {}
    for lang, n in zip(languages, counts):
        offset = rng.normal(0.0, 1.5, d)
        noise = rng.normal(0.0, 0.3, (n, d))
        h = shared + content[:n] + offset + noise
        out[lang] = h.astype(np.float32)
    return out


def lsar(states, languages, rank, pivot):
    L = len(languages)
    r = L - 1 if rank is None else rank
    W = np.stack([states[lang].astype(np.float64).mean(axis=0) for lang in languages], axis=1)
    ones = np.ones(L)
    w_c = W @ ones / L
    U, S, Vt = np.linalg.svd(W - np.outer(w_c, ones), full_matrices=False)
    W_s = U[:, :r]
    Gamma = Vt[:r].T * S[:r]
    W_prime = np.outer(w_c, ones) + W_s @ Gamma.T
    w_c_prime = np.linalg.pinv(W_prime, rtol=PINV_RTOL).T @ ones
    w_c_prime = w_c_prime / np.dot(w_c_prime, w_c_prime)
    U2, S2, _ = np.linalg.svd(W_prime - np.outer(w_c_prime, ones), full_matrices=False)
    W_s_prime = U2[:, :r]
    P_s = W_s_prime @ W_s_prime.T
    projected_mean = {
        lang: (states[lang].astype(np.float64) @ P_s.T).mean(axis=0) for lang in languages
    }
    shifts = {lang: (projected_mean[lang] - projected_mean[pivot]).tolist() for lang in languages}
    return {
        "rank_used": r,
        "singular_values": S.tolist(),
        "second_singular_values": S2.tolist(),
        "agnostic_raw": w_c_prime.tolist(),
        "agnostic": (w_c_prime / np.linalg.norm(w_c_prime)).tolist(),
        "projector": P_s.tolist(),
        "shifts": shifts,
    }


def main():
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "crates/eval/tests/fixtures/lsar_numpy.json")
    cases = []
    for name, (languages, counts, d, rank, pivot, seed) in CASES.items():
        states = states_for(languages, counts, d, seed)
        case = {
            "name": name, "seed": seed, "dim": d, "rank": rank, "pivot": pivot,
            "languages": languages,
            # float32 values written as the float64 that equals them, so Rust reads them exactly
            "states": {lang: [[float(x) for x in row] for row in states[lang]] for lang in languages},
        }
        case.update(lsar(states, languages, rank, pivot))
        cases.append(case)
    doc = {
        "generator": "scripts/reference/lsar_fixture.py",
        "versions": {"python": platform.python_version(), "numpy": np.__version__},
        "method": "METHODS.md part b, LSAR probe, float64; thin SVDs (numpy.linalg.svd, "
                  f"full_matrices=False); numpy.linalg.pinv(rtol={PINV_RTOL})",
        "cases": cases,
    }
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
