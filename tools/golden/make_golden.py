#!/usr/bin/env python3
"""Generate golden reference values for Northstar statistics tests.

Usage:
    pip install scipy statsmodels numpy
    python3 tools/golden/make_golden.py > tools/golden/golden.json

Output is deterministic JSON on stdout (no timestamps). All intervals are 95%.
"""
import json
import math
import platform
import sys

import numpy as np
import scipy
import scipy.stats as st
import statsmodels
from statsmodels.stats.proportion import proportion_confint, proportions_ztest
from statsmodels.stats.weightstats import DescrStatsW

CONFIDENCE = 0.95
ALPHA = 1.0 - CONFIDENCE
Z = float(st.norm.ppf(1.0 - ALPHA / 2.0))  # 1.959963984540054


def f(x):
    """Plain Python float with full precision; refuse non-finite values."""
    x = float(x)
    assert math.isfinite(x), x
    return x


# ---------------------------------------------------------------------------
# 1. NPS with adjusted-Wald interval (Rocks 2016 / MeasuringU)
# ---------------------------------------------------------------------------
NPS_CASES = [
    # (promoters, passives, detractors)
    (1, 0, 0),          # n=1, all promoters
    (0, 0, 1),          # n=1, all detractors
    (0, 1, 0),          # n=1, passive only
    (1, 1, 1),          # n=3
    (2, 1, 2),          # n=5, NPS 0
    (5, 0, 0),          # n=5 all promoters (upper bound clipped)
    (0, 0, 5),          # n=5 all detractors (lower bound clipped)
    (3, 2, 0),          # zero detractors, small n
    (0, 4, 3),          # zero promoters
    (100, 0, 0),        # all promoters, n=100
    (0, 0, 100),        # all detractors, n=100
    (90, 60, 50),       # typical medium n=200
    (120, 50, 30),      # medium n=200
    (60, 70, 70),       # negative NPS, n=200
    (27500, 12500, 10000),  # large n=50000
    (10000, 15000, 25000),  # large n, negative
]


def nps_adjusted_wald(p, pa, d):
    n = p + pa + d
    assert n > 0
    value = 100.0 * (p - d) / n
    n_adj = n + 3.0
    p_adj = (p + 0.75) / n_adj
    d_adj = (d + 0.75) / n_adj
    nps_adj = p_adj - d_adj
    var = (p_adj + d_adj - nps_adj ** 2) / n_adj
    half = Z * np.sqrt(var)
    lo = float(np.clip(nps_adj - half, -1.0, 1.0)) * 100.0
    hi = float(np.clip(nps_adj + half, -1.0, 1.0)) * 100.0
    return value, lo, hi


def section_nps():
    out = []
    for p, pa, d in NPS_CASES:
        v, lo, hi = nps_adjusted_wald(p, pa, d)
        assert lo <= hi
        out.append({"promoters": p, "passives": pa, "detractors": d,
                    "value": f(v), "ci_low": f(lo), "ci_high": f(hi)})
    return out


# ---------------------------------------------------------------------------
# 2. Wilson score interval (0..1 scale)
# ---------------------------------------------------------------------------
WILSON_CASES = [
    (0, 1), (1, 1), (0, 2), (1, 3), (2, 5), (5, 5), (0, 10),
    (0, 200), (87, 200), (200, 200), (1, 50000), (31234, 50000),
    (50000, 50000),
]


def section_wilson():
    out = []
    for s, n in WILSON_CASES:
        lo, hi = proportion_confint(s, n, alpha=ALPHA, method="wilson")
        out.append({"successes": s, "trials": n, "ci_low": f(lo), "ci_high": f(hi)})
    return out


# ---------------------------------------------------------------------------
# 3. t-interval for the mean of a 1-7 rating distribution
# ---------------------------------------------------------------------------
T_CASES = [
    [1, 0, 0, 0, 0, 0, 1],          # n=2
    [0, 0, 1, 1, 1, 0, 0],          # n=3
    [1, 0, 0, 1, 0, 0, 2],          # n=4
    [0, 1, 0, 2, 0, 1, 1],          # n=5
    [0, 0, 0, 0, 0, 4, 1],          # n=5 skewed high
    [1, 0, 0, 0, 0, 0, 0 + 9],      # n=10, mostly 7s
    [5, 10, 20, 40, 60, 45, 20],    # n=200 typical
    [30, 25, 30, 40, 30, 25, 20],   # n=200 flat
    [1000, 2000, 4000, 8000, 15000, 12000, 8000],  # n=50000
    [0, 0, 0, 0, 0, 0, 12],         # variance 0 (all equal) -> ci = mean
]


def section_t_mean():
    out = []
    n_zero_var = 0
    for counts in T_CASES:
        assert len(counts) == 7
        sample = np.repeat(np.arange(1, 8, dtype=float), counts)
        n = sample.size
        assert n >= 2
        mean = float(np.mean(sample))
        if np.var(sample) == 0.0:
            n_zero_var += 1
            lo = hi = mean
        else:
            lo, hi = DescrStatsW(sample).tconfint_mean(alpha=ALPHA)
            lo2, hi2 = st.t.interval(CONFIDENCE, n - 1, loc=mean, scale=st.sem(sample))
            assert math.isclose(lo, lo2, rel_tol=1e-12, abs_tol=1e-12), (counts, lo, lo2)
            assert math.isclose(hi, hi2, rel_tol=1e-12, abs_tol=1e-12), (counts, hi, hi2)
        out.append({"counts": list(counts), "mean": f(mean), "ci_low": f(lo), "ci_high": f(hi)})
    assert n_zero_var == 1
    return out


# ---------------------------------------------------------------------------
# 4. Difference of two NPS values (unpooled z-test)
# ---------------------------------------------------------------------------
DIFF_CASES = [
    ((1, 1, 1), (2, 1, 0)),
    ((3, 1, 1), (1, 1, 3)),
    ((5, 0, 0), (2, 2, 1)),               # a all promoters (var_a = 0)
    ((0, 0, 4), (1, 2, 2)),               # a all detractors
    ((0, 3, 2), (2, 3, 0)),               # zero promoters / zero detractors
    ((90, 60, 50), (80, 70, 50)),         # medium, small difference
    ((120, 50, 30), (60, 70, 70)),        # medium, large difference
    ((100, 0, 0), (60, 30, 10)),          # all promoters vs typical
    ((27500, 12500, 10000), (27000, 12700, 10300)),  # large n
    ((20000, 15000, 15000), (20000, 15000, 15000)),  # identical -> z = 0
    ((50, 100, 50), (10, 20, 20)),        # unequal n
]


def nps_var(p, pa, d):
    n = p + pa + d
    pp, dd = p / n, d / n
    return (pp - dd), (pp + dd - (pp - dd) ** 2) / n


def section_nps_difference():
    out = []
    for a, b in DIFF_CASES:
        nps_a, var_a = nps_var(*a)
        nps_b, var_b = nps_var(*b)
        se = np.sqrt(var_a + var_b)
        assert se > 0, (a, b)
        z = (nps_a - nps_b) / se
        p_value = 2.0 * st.norm.sf(abs(z))
        keys = ("promoters", "passives", "detractors")
        out.append({"a": dict(zip(keys, a)), "b": dict(zip(keys, b)),
                    "difference": f(100.0 * (nps_a - nps_b)),
                    "z": f(z), "p_value": f(p_value)})
    return out


# ---------------------------------------------------------------------------
# 5. Two-proportion z-test (pooled, two-sided)
# ---------------------------------------------------------------------------
TWO_PROP_CASES = [
    # (successes_a, trials_a, successes_b, trials_b)
    (1, 2, 0, 1),
    (1, 3, 2, 3),
    (0, 5, 3, 5),          # zero count in a
    (5, 5, 2, 5),          # a all successes
    (4, 4, 0, 4),          # a all, b none (pooled 0.5)
    (87, 200, 87, 200),    # identical -> z = 0
    (120, 200, 95, 210),   # typical
    (30, 200, 45, 180),
    (200, 200, 190, 200),  # near 1
    (25000, 50000, 25300, 50000),  # large n
    (31234, 50000, 1200, 2000),    # large vs medium
]


def section_two_proportion():
    out = []
    for sa, na, sb, nb in TWO_PROP_CASES:
        pooled = (sa + sb) / (na + nb)
        assert 0.0 < pooled < 1.0
        z, p_value = proportions_ztest(np.array([sa, sb]), np.array([na, nb]))
        out.append({"successes_a": sa, "trials_a": na, "successes_b": sb, "trials_b": nb,
                    "z": f(z), "p_value": f(p_value)})
    return out


AGRESTI_CAFFO_CASES = [
    # (successes_a, trials_a, successes_b, trials_b)
    (3, 3, 0, 3),          # unanimous small groups: plain variance would be zero
    (30, 30, 450, 900),    # unanimous group against a mixed rest
    (12, 40, 300, 600),
    (0, 25, 40, 100),
    (410, 500, 3900, 5000),
    (31234, 50000, 1200, 2000),
]


def section_two_proportion_agresti_caffo():
    """Agresti & Caffo (2000) adjusted Wald test of p_a - p_b, from
    statsmodels' test_proportions_2indep(method="agresti-caffo")."""
    from statsmodels.stats.proportion import test_proportions_2indep
    out = []
    for sa, na, sb, nb in AGRESTI_CAFFO_CASES:
        r = test_proportions_2indep(sa, na, sb, nb, method="agresti-caffo", compare="diff")
        out.append({"successes_a": sa, "trials_a": na, "successes_b": sb, "trials_b": nb,
                    "z": f(r.statistic), "p_value": f(r.pvalue)})
    return out


def section_holm():
    """Holm (1979) step-down adjusted p-values, from statsmodels' multipletests."""
    from statsmodels.stats.multitest import multipletests
    cases = [
        [0.01, 0.04, 0.03, 0.005],
        [0.2, 0.001, 0.049, 0.5, 0.0001],
        [0.04],
        [0.03, 0.03, 0.03],
        [0.9, 0.8, 0.7, 0.6, 0.5, 0.4],
        [1e-12, 0.02, 0.02, 0.5],
    ]
    out = []
    for pvals in cases:
        _, adjusted, _, _ = multipletests(np.array(pvals), alpha=0.05, method="holm")
        out.append({"p_values": pvals, "adjusted": [f(x) for x in adjusted]})
    return out


def section_chi_square():
    """Pearson's goodness-of-fit test of observed counts against expected
    shares, from scipy.stats.chisquare."""
    from scipy.stats import chisquare
    cases = [
        ([120, 300, 580], [0.68, 0.24, 0.08]),
        ([50, 30, 20], [0.5, 0.3, 0.2]),
        ([10, 12], [0.5, 0.5]),
        ([5, 40, 100, 3], [0.1, 0.2, 0.3, 0.4]),
        ([9000, 7000, 5000], [0.6, 0.3, 0.1]),
    ]
    out = []
    for observed, shares in cases:
        total = sum(observed)
        expected = [total * s for s in shares]
        stat, p = chisquare(np.array(observed, dtype=float), np.array(expected, dtype=float))
        out.append({"observed": observed, "shares": shares, "chi_square": f(stat),
                    "degrees_of_freedom": len(observed) - 1, "p_value": f(p)})
    return out


def main():
    doc = {
        "generated_by": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "statsmodels": statsmodels.__version__,
            "script": "tools/golden/make_golden.py",
        },
        "confidence": CONFIDENCE,
        "z": Z,
        "nps_adjusted_wald": section_nps(),
        "wilson": section_wilson(),
        "t_mean": section_t_mean(),
        "nps_difference": section_nps_difference(),
        "two_proportion": section_two_proportion(),
        "two_proportion_agresti_caffo": section_two_proportion_agresti_caffo(),
        "holm": section_holm(),
        "chi_square": section_chi_square(),
    }
    json.dump(doc, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
