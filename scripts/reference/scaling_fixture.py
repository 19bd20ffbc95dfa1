#!/usr/bin/env python3
"""Records scipy.optimize.curve_fit fits of the four scaling-law forms, for crates/eval's tests.

`xlingo_eval::scaling` fits quality-vs-data-size laws with its own Levenberg-Marquardt;
`crates/eval/tests/scaling_scipy.rs` refits every data set here and compares parameters, sums
of squares and parameter covariances with scipy's (pcov = s^2 (J^T J)^-1, absolute_sigma=False),
and Student t quantiles with scipy.stats.t.ppf.

    python3 -m venv /tmp/venv-scaling && /tmp/venv-scaling/bin/pip install scipy numpy
    /tmp/venv-scaling/bin/python scripts/reference/scaling_fixture.py [OUT]

OUT defaults to crates/eval/tests/fixtures/scaling_scipy.json. Data: for each form, scores
generated from known parameters at log-spaced data sizes plus Gaussian noise from
numpy.random.default_rng(seed); the data themselves are stored, so the Rust side does not need
numpy's generator. scipy starts from the true parameters with tight tolerances, so it lands on
the least-squares minimum the Rust fit must also find.
"""

import json
import platform
import sys
from pathlib import Path

import numpy as np
import scipy
from scipy.optimize import curve_fit
from scipy.stats import t as student_t


def power_law(x, a, b, c):
    return a - b * x ** (-c)


def logarithmic(x, a, b, c):
    return a * np.log(x + b) + c


def saturating_exponential(x, a, b, c):
    return a - b * np.exp(-x / c)


def rational(x, a, b, c):
    return a * x / (x + b) + c


FORMS = {
    "power_law": (power_law, ([-np.inf, 0, 0], [np.inf, np.inf, np.inf])),
    "logarithmic": (logarithmic, ([0, 0, -np.inf], [np.inf, np.inf, np.inf])),
    "saturating_exponential": (saturating_exponential, ([-np.inf, 0, 0], [np.inf, np.inf, np.inf])),
    "rational": (rational, ([0, 0, -np.inf], [np.inf, np.inf, np.inf])),
}

# name -> (form, true parameters, x range, points, noise sd, seed)
SETS = {
    "power_law_bleu": ("power_law", [42.0, 120.0, 0.35], (100, 1e6), 12, 0.3, 1),
    "logarithmic_chrf": ("logarithmic", [3.2, 400.0, 10.0], (100, 2e5), 10, 0.4, 2),
    "exponential_bleu": ("saturating_exponential", [36.0, 30.0, 8000.0], (200, 6e4), 9, 0.3, 3),
    "rational_bleu": ("rational", [34.0, 3000.0, 4.0], (100, 2e5), 11, 0.3, 4),
    "rational_few_points": ("rational", [25.0, 1500.0, 2.0], (250, 64000), 6, 0.5, 5),
}

T_QUANTILES = [(p, df) for p in (0.9, 0.95, 0.975, 0.995) for df in (1, 2, 3, 5, 8, 13, 30, 100)]


def fit(form, x, y, p0):
    f, bounds = FORMS[form]
    popt, pcov = curve_fit(
        f, x, y, p0=p0, bounds=bounds, method="trf", ftol=1e-15, xtol=1e-15, gtol=1e-15,
        max_nfev=100000,
    )
    sse = float(np.sum((y - f(x, *popt)) ** 2))
    return {"params": popt.tolist(), "covariance": pcov.tolist(), "sse": sse}


def main():
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "crates/eval/tests/fixtures/scaling_scipy.json")
    sets = []
    for name, (form, truth, (lo, hi), n, sd, seed) in SETS.items():
        rng = np.random.default_rng(seed)
        x = np.geomspace(lo, hi, n)
        f, _ = FORMS[form]
        y = f(x, *truth) + rng.normal(0.0, sd, n)
        fits = {}
        # Every form fitted to every set (wrong forms too), started from the form's own fit of
        # noise-free data of the true curve so that scipy is near a sensible minimum.
        for other in FORMS:
            if other == form:
                p0 = truth
            else:
                p0 = fit(other, x, f(x, *truth), guess(other, x, f(x, *truth)))["params"]
            fits[other] = fit(other, x, y, p0)
        sets.append({
            "name": name, "form": form, "truth": truth, "noise_sd": sd, "seed": seed,
            "x": x.tolist(), "y": y.tolist(), "fits": fits,
        })
    doc = {
        "generator": "scripts/reference/scaling_fixture.py",
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
        },
        "method": "scipy.optimize.curve_fit(method='trf', bounds as the Rust constraints, "
                  "ftol=xtol=gtol=1e-15), absolute_sigma=False",
        "sets": sets,
        "t_quantiles": [
            {"p": p, "df": df, "t": float(student_t.ppf(p, df))} for p, df in T_QUANTILES
        ],
    }
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {out}")


def guess(form, x, y):
    """A rough start for fitting a form to another form's curve."""
    mid = float(np.median(x))
    span = float(y.max() - y.min())
    return {
        "power_law": [float(y.max()) + span, span * mid ** 0.5, 0.5],
        "logarithmic": [span / np.log(x.max() / x.min()), mid / 10, float(y.min())],
        "saturating_exponential": [float(y.max()), span * 2, mid],
        "rational": [span * 1.5, mid, float(y.min())],
    }[form]


if __name__ == "__main__":
    main()
