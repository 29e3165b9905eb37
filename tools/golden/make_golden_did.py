"""Golden difference-in-differences estimates (crates/core/src/did.rs).

Each dataset is a list of observations (customer, pilot, after, y). The
effect is the interaction b3 of statsmodels OLS y ~ 1 + pilot + after +
pilot*after. Standard errors:
- some customer answers both before and after: cluster-robust by customer,
  `OLS(y, X).fit(cov_type="cluster", cov_kwds={"groups": customer})`
  (statsmodels' defaults: use_correction=True, i.e. CR1 with
  G/(G-1) * (N-1)/(N-K), and use_t=False, so z, p and the interval are
  normal-based);
- else `OLS(y, X).fit(cov_type="HC1")` (N/(N-K)), normal-based.
The interval is statsmodels' `conf_int(alpha=1 - confidence)`; p is
`pvalues` (two-sided normal). `responses_to_settle` is the extra number of
observations N * (z * se / |effect|)^2 - N, rounded up, for estimates whose
interval contains zero.

Datasets (numpy default_rng with fixed seeds; the data are written into the
JSON so Rust reads exactly what statsmodels saw):
- clustered_nps: customers answering in both periods, NPS scored
  -100/0/100, planted effect;
- hc1_nps: each customer answers once (no customer in both periods);
- small_ties: a small unbalanced set with repeated values (clustered);
- binary_fcr: a 0/1 outcome (CSAT/FCR shares), clustered;
- hc1_binary: a 0/1 outcome, each customer once.

Regenerate (deterministic output):
    pip install numpy statsmodels
    python3 tools/golden/make_golden_did.py > tools/golden/did.json
"""

import json
import math
import sys

import numpy as np
import scipy
import statsmodels
import statsmodels.api as sm
from scipy.stats import norm


def nps_answer(rng, promoters, detractors, size):
    u = rng.random(size)
    return np.where(u < promoters, 100.0, np.where(u < promoters + detractors, -100.0, 0.0))


def clustered_nps():
    rng = np.random.default_rng(20240611)
    rows = []
    for c in range(60):
        pilot = c < 25
        for after in (False, True):
            k = int(rng.integers(1, 4))
            p = 0.40 + (0.10 if (pilot and after) else 0.0) + 0.02 * after
            rows += [(c, pilot, after, float(v)) for v in nps_answer(rng, p, 0.20, k)]
    return rows


def hc1_nps():
    rng = np.random.default_rng(7)
    rows = []
    for c in range(400):
        pilot = bool(rng.random() < 0.4)
        after = bool(rng.random() < 0.5)
        p = 0.45 + (0.08 if (pilot and after) else 0.0)
        rows.append((c, pilot, after, float(nps_answer(rng, p, 0.25, 1)[0])))
    return rows


def small_ties():
    # Unbalanced cells, repeated y values, some customers only in one period.
    return [
        (1, True, False, 3.0), (1, True, True, 4.0), (1, True, True, 4.0),
        (2, True, False, 2.0), (2, True, False, 3.0),
        (3, True, True, 5.0),
        (4, False, False, 3.0), (4, False, True, 3.0),
        (5, False, False, 4.0), (5, False, True, 4.0), (5, False, True, 2.0),
        (6, False, False, 3.0),
        (7, False, True, 3.0),
    ]


def binary_fcr():
    rng = np.random.default_rng(99)
    rows = []
    for c in range(120):
        pilot = c % 3 == 0
        for after in (False, True):
            k = int(rng.integers(0, 5))
            p = 0.62 + (0.07 if (pilot and after) else 0.0) - 0.03 * pilot
            rows += [(c, pilot, after, float(v)) for v in (rng.random(k) < p).astype(float)]
    return rows


def hc1_binary():
    rng = np.random.default_rng(4242)
    rows = []
    for c in range(150):
        pilot = c < 70
        after = bool(c % 2)
        p = 0.55 + (0.12 if (pilot and after) else 0.0)
        rows.append((c, pilot, after, float(rng.random() < p)))
    return rows


DATASETS = [
    ("clustered_nps", clustered_nps, [0.95, 0.90]),
    ("hc1_nps", hc1_nps, [0.95]),
    ("small_ties", small_ties, [0.95, 0.80]),
    ("binary_fcr", binary_fcr, [0.95]),
    ("hc1_binary", hc1_binary, [0.95, 0.99]),
]


def fit(rows, confidence):
    c = np.array([r[0] for r in rows])
    p = np.array([float(r[1]) for r in rows])
    a = np.array([float(r[2]) for r in rows])
    y = np.array([r[3] for r in rows])
    X = np.column_stack([np.ones_like(y), p, a, p * a])
    both = any(
        a[c == g].min() == 0.0 and a[c == g].max() == 1.0 for g in np.unique(c)
    )
    model = sm.OLS(y, X)
    if both:
        res = model.fit(cov_type="cluster", cov_kwds={"groups": c})
        method = "clustered_by_customer"
    else:
        res = model.fit(cov_type="HC1")
        method = "hc1"
    assert res.use_t is False
    lo, hi = res.conf_int(alpha=1.0 - confidence)[3]
    effect = float(res.params[3])
    se = float(res.bse[3])
    z = float(res.tvalues[3])
    crit = float(norm.ppf(1.0 - (1.0 - confidence) / 2.0))
    n = len(y)
    if effect != 0.0 and abs(effect) <= crit * se:
        more = int(math.ceil(n * (crit * se / abs(effect)) ** 2 - n))
    else:
        more = None
    cells = {}
    for name, pv, av in [
        ("pilot_before", 1.0, 0.0), ("pilot_after", 1.0, 1.0),
        ("control_before", 0.0, 0.0), ("control_after", 0.0, 1.0),
    ]:
        m = (p == pv) & (a == av)
        cells[name] = {
            "n": int(m.sum()), "mean": float(y[m].mean()),
            "customers": int(len(np.unique(c[m]))),
        }
    return {
        "confidence": confidence,
        "method": method,
        "effect": effect,
        "se": se,
        "z": z,
        "p_value": float(res.pvalues[3]),
        "ci_low": float(lo),
        "ci_high": float(hi),
        "clusters": int(len(np.unique(c))),
        "cells": cells,
        "responses_to_settle": more,
    }


def main():
    out = {
        "generated_by": {
            "script": "tools/golden/make_golden_did.py",
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "statsmodels": statsmodels.__version__,
        },
        "datasets": [],
    }
    for name, make, levels in DATASETS:
        rows = make()
        out["datasets"].append(
            {
                "name": name,
                # customer, pilot (0/1), after (0/1), y
                "observations": [[r[0], int(r[1]), int(r[2]), r[3]] for r in rows],
                "fits": [fit(rows, level) for level in levels],
            }
        )
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
