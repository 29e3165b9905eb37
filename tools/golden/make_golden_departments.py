#!/usr/bin/env python3
"""Golden reference values for the scorecard arithmetic of departments
(crates/core/src/department.rs): quantiles, KPI values, the KPI-to-customer
metric correlation and the North Star's decomposition into departments'
contributions.

Regenerate (deterministic output: fixed seeds, no timestamps):
    pip install numpy scipy
    python3 tools/golden/make_golden_departments.py > tools/golden/departments.json

What computes each expected value:

- quantiles: numpy's `np.quantile(values, q, method="linear")` (Hyndman &
  Fan 1996 type 7; asserted here to equal numpy's default method);
- KPI values: mean `np.mean`, median `np.median`, p90
  `np.quantile(..., 0.9, method="linear")`, external `np.mean`;
  share_within_target with numpy over the records that have a target
  (value <= the record's target when the measure's direction is
  lower_is_better, >= when higher_is_better; records without a target left
  out; n = records used). As kpi_value documents, non-finite values
  (and targets) are left out too; JSON has no NaN or infinity, so such
  inputs are written as the strings "NaN", "inf", "-inf". Each case also
  records whether the KPI meets its own target (>= for higher_is_better,
  <= for lower_is_better; on the target counts as met);
- correlation: `scipy.stats.pearsonr(x, y)`: r is `.statistic`, the 95%
  interval `.confidence_interval(0.95)` (scipy's default, method=None).
  The script asserts that this interval is Fisher's z one:
  tanh(atanh(r) -+ norm.ppf(0.975) / sqrt(n - 3)). department.rs departs
  from scipy on purpose below 4 pairs: no r below 3 pairs (scipy gives +-1
  for 2) and no interval below 4 (scipy reports -1 to 1, "undefined"); a
  constant side has no r (scipy warns and gives NaN). scipy's figures for
  those cases are kept under "scipy" for the record;
- contributions (NPS): each department's answers as raw 0-10 scores (numpy
  arrays built from the counts and shuffled with a fixed seed); NPS =
  100 * (promoters - detractors) / n counted with numpy, overall on all the
  answers pooled, each department's "rest" on the other departments'
  answers pooled; share = n_i / N; points_i = share_i * value_i;
  if_matched_rest_i = share_i * (rest_i - value_i) (null when there is no
  rest). The last part absorbs rounding so that the parts added left to
  right give the overall figure; whether ANY f64 last part can make that
  sum exactly equal to the overall figure is decided here by a binary
  search over all f64 (the sum prefix + y is monotone in y): in some splits
  none can (a large prefix cancelling a large last part leaves the sum on a
  coarser grid than the overall figure: 501 promoters and 499 detractors
  give 0.2, but 50.1 + y lands on multiples of 2**-47), and then the
  closest reachable sum is recorded. Floats of this section are written
  as decimal strings (Python's repr, which round-trips) because exact
  equality is checked and serde_json's default float parsing may be off by
  an ulp.
"""
import json
import math
import platform
import struct
import sys
import warnings

import numpy as np
import scipy
import scipy.stats as st

CONFIDENCE = 0.95
Z = float(st.norm.ppf(0.5 + CONFIDENCE / 2.0))
QS = [0.0, 0.1, 0.25, 1.0 / 3.0, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0]


def f(x):
    """Plain Python float with full precision; refuse non-finite values."""
    x = float(x)
    assert math.isfinite(x), x
    return x


def json_float(x):
    """A float for JSON: numbers when finite, else "NaN"/"inf"/"-inf"."""
    x = float(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def exact(x):
    """The shortest decimal string that round-trips to the same f64."""
    return repr(f(x))


# ---------------------------------------------------------------------------
# 1. Quantiles (type 7)
# ---------------------------------------------------------------------------
def quantile_case(name, values):
    v = np.asarray(values, dtype=float)
    expected = []
    for q in QS:
        linear = np.quantile(v, q, method="linear")
        assert linear == np.quantile(v, q), "numpy's default is type 7"
        expected.append(f(linear))
    return {"name": name, "values": [f(x) for x in values], "q": QS,
            "expected": expected}


def quantile_cases():
    rng = np.random.default_rng(20250601)
    days = np.round(rng.lognormal(1.0, 0.5, size=37), 2)
    return [
        quantile_case("n = 1", [7.25]),
        quantile_case("n = 2, unsorted", [3.0, 1.0]),
        quantile_case("n = 3", [2.0, 9.0, 4.0]),
        quantile_case("n = 4", [1.5, 2.5, 10.0, 4.0]),
        quantile_case("ties", [5.0, 2.0, 2.0, 7.0, 2.0, 5.0]),
        quantile_case("all equal", [3.3, 3.3, 3.3, 3.3, 3.3]),
        quantile_case("negative and positive", [-4.5, 0.0, -1.25, 8.0, 2.5]),
        quantile_case("n = 11 (q x 10 lands on order statistics)",
                      [float(x) for x in range(11, 0, -1)]),
        quantile_case("37 delivery times (lognormal, seed 20250601)",
                      [float(x) for x in days]),
    ]


# ---------------------------------------------------------------------------
# 2. KPI values
# ---------------------------------------------------------------------------
def kpi_reference(statistic, measure_direction, records):
    v = np.array([r[0] for r in records], dtype=float)
    t = np.array([np.nan if r[1] is None else r[1] for r in records],
                 dtype=float)
    if statistic in ("mean", "median", "p90", "external"):
        used = v[np.isfinite(v)]
        n = int(used.size)
        if n == 0:
            return None, 0
        if statistic in ("mean", "external"):
            return f(np.mean(used)), n
        if statistic == "median":
            return f(np.median(used)), n
        return f(np.quantile(used, 0.9, method="linear")), n
    assert statistic == "share_within_target"
    mask = np.isfinite(v) & np.isfinite(t)
    n = int(np.count_nonzero(mask))
    if n == 0:
        return None, 0
    if measure_direction == "lower_is_better":
        within = v[mask] <= t[mask]
    else:
        within = v[mask] >= t[mask]
    return f(np.count_nonzero(within) / n), n


def kpi_case(name, statistic, records, measure_direction="lower_is_better",
             direction="lower_is_better", target=0.0):
    value, n = kpi_reference(statistic, measure_direction, records)
    meets = None
    if value is not None:
        meets = bool(value >= target if direction == "higher_is_better"
                     else value <= target)
    return {
        "name": name,
        "kpi": {"measure": "m", "statistic": statistic,
                "direction": direction, "target": target,
                "measure_direction": measure_direction},
        "records": [{"value": json_float(r[0]),
                     "target": None if r[1] is None else json_float(r[1])}
                    for r in records],
        "expected": {"value": value, "n": n, "meets_target": meets},
    }


def plain(values):
    return [(float(x), None) for x in values]


def kpi_cases():
    rng = np.random.default_rng(20250602)
    days = [float(x) for x in np.round(rng.lognormal(1.1, 0.4, size=60), 2)]
    promised = [float(x) for x in rng.choice([2.0, 3.0, 4.0, 5.0], size=60)]
    # A few records on their own target, a few without a target.
    for i in (3, 17, 41):
        days[i] = promised[i]
    with_targets = [(d, None if i % 9 == 4 else p)
                    for i, (d, p) in enumerate(zip(days, promised))]
    scores = [float(x) for x in rng.integers(1, 8, size=40)]
    cases = [
        kpi_case("mean, 60 delivery times", "mean", plain(days),
                 target=3.5),
        kpi_case("mean, n = 1", "mean", plain([4.2]), target=4.2),
        kpi_case("mean, no records", "mean", []),
        kpi_case("mean, non-finite values left out", "mean",
                 plain([2.0, math.nan, 3.5, math.inf, 4.0, -math.inf])),
        kpi_case("external values (mean of the entered periods)", "external",
                 plain([0.91, 0.94, 0.89]), direction="higher_is_better",
                 target=0.9),
        kpi_case("median, n = 1", "median", plain([6.5])),
        kpi_case("median, n = 2", "median", plain([5.0, 2.0]), target=3.5),
        kpi_case("median, n = 3", "median", plain([9.0, 1.0, 4.0])),
        kpi_case("median, n = 4", "median", plain([4.0, 1.0, 9.0, 2.0])),
        kpi_case("median, ties", "median", plain([3.0, 3.0, 1.0, 3.0, 8.0, 8.0])),
        kpi_case("median, 60 delivery times", "median", plain(days),
                 target=3.0),
        kpi_case("p90, n = 1", "p90", plain([2.5])),
        kpi_case("p90, n = 2", "p90", plain([1.0, 11.0])),
        kpi_case("p90, n = 3", "p90", plain([10.0, 0.0, 5.0])),
        kpi_case("p90, n = 4", "p90", plain([2.0, 8.0, 4.0, 6.0]), target=7.4),
        kpi_case("p90, ties", "p90", plain([5.0, 5.0, 5.0, 5.0, 5.0, 9.0, 9.0])),
        kpi_case("p90, 60 delivery times", "p90", plain(days), target=5.0),
        kpi_case("p90, non-finite values left out", "p90",
                 plain([math.nan, 1.0, 2.0, math.inf, 3.0])),
        kpi_case("share within target, lower is better, records on their "
                 "target count, records without one are left out",
                 "share_within_target", with_targets,
                 direction="higher_is_better", target=0.6),
        kpi_case("share within target, every record exactly on its target",
                 "share_within_target",
                 [(3.0, 3.0), (2.5, 2.5), (0.0, 0.0)],
                 direction="higher_is_better", target=1.0),
        kpi_case("share within target, higher is better (score >= target)",
                 "share_within_target",
                 [(s, 4.0) for s in scores], measure_direction="higher_is_better",
                 direction="higher_is_better", target=0.5),
        kpi_case("share exactly at the KPI target: 19 of 20 vs 0.95",
                 "share_within_target",
                 [(1.0, 2.0)] * 19 + [(3.0, 2.0)],
                 direction="higher_is_better", target=0.95),
        kpi_case("share exactly at the KPI target: 7 of 10 vs 0.7 "
                 "(on the target, higher is better, values on record targets)",
                 "share_within_target",
                 [(4.0, 4.0)] * 7 + [(4.5, 4.0)] * 3,
                 direction="higher_is_better", target=0.7),
        kpi_case("share exactly at a lower-is-better KPI target: "
                 "1 of 4 escalated (escalations >= 1) vs 0.25",
                 "share_within_target",
                 [(1.0, 1.0), (0.0, 1.0), (0.0, 1.0), (0.0, 1.0)],
                 measure_direction="higher_is_better",
                 direction="lower_is_better", target=0.25),
        kpi_case("share, one record", "share_within_target", [(2.0, 1.0)],
                 direction="higher_is_better", target=0.5),
        kpi_case("share, no record has a target", "share_within_target",
                 [(2.0, None), (3.0, None)]),
        kpi_case("share, non-finite values and targets left out",
                 "share_within_target",
                 [(math.nan, 3.0), (2.0, math.inf), (2.0, 3.0), (4.0, 3.0),
                  (math.inf, 3.0), (1.0, None)],
                 direction="higher_is_better", target=0.5),
    ]
    return cases


# ---------------------------------------------------------------------------
# 3. Correlation
# ---------------------------------------------------------------------------
def correlation_case(name, x, y):
    x = [float(v) for v in x]
    y = [float(v) for v in y]
    n = len(x)
    assert len(y) == n
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant input warns and gives NaN
        res = st.pearsonr(np.array(x), np.array(y))
        ci = res.confidence_interval(CONFIDENCE)
    r = float(res.statistic)
    record = {"r": json_float(r), "ci_low": json_float(ci.low),
              "ci_high": json_float(ci.high)} if n >= 2 else None
    constant = len(set(x)) == 1 or len(set(y)) == 1
    expected = None
    if n >= 3 and not constant:
        assert math.isfinite(r)
        low = high = None
        if n >= 4:
            low, high = f(ci.low), f(ci.high)
            # scipy's default interval is Fisher's z with n - 3.
            zr = math.atanh(r) if abs(r) < 1.0 else math.copysign(math.inf, r)
            se = 1.0 / math.sqrt(n - 3)
            assert abs(math.tanh(zr - Z * se) - low) < 1e-15, (name, low)
            assert abs(math.tanh(zr + Z * se) - high) < 1e-15, (name, high)
        expected = {"r": f(r), "n": n, "ci_low": low, "ci_high": high}
    return {"name": name, "x": x, "y": y, "expected": expected,
            "scipy": record}


def correlation_cases():
    rng = np.random.default_rng(20250603)
    # 24 months: on-time share and NPS moving together, with noise.
    kpi = np.round(rng.uniform(0.80, 0.98, size=24), 3)
    nps = np.round(20 + 150 * (kpi - 0.9) + rng.normal(0, 4, size=24), 1)
    # 12 months: delivery days up, NPS down.
    days = np.round(rng.uniform(2.0, 6.0, size=12), 2)
    nps2 = np.round(45 - 6 * days + rng.normal(0, 3, size=12), 1)
    revenue = np.round(1e6 + rng.normal(0, 250, size=10), 2)
    csat = np.round(70 + 0.02 * (revenue - 1e6) + rng.normal(0, 2, size=10), 1)
    return [
        correlation_case("n = 2 (too few)", [1.0, 2.0], [3.0, 5.0]),
        correlation_case("n = 3 (r, no interval)", [1.0, 2.0, 3.0],
                         [2.0, 1.0, 4.0]),
        correlation_case("n = 4", [0.91, 0.88, 0.95, 0.93],
                         [31.0, 24.0, 40.0, 29.0]),
        correlation_case("n = 5, negative", [2.1, 3.4, 4.0, 5.2, 6.3],
                         [40.0, 33.0, 35.0, 22.0, 18.0]),
        correlation_case("perfect positive line", [1, 2, 3, 4, 5, 6],
                         [10, 12, 14, 16, 18, 20]),
        correlation_case("perfect negative line", [0, 1, 2, 3, 4],
                         [8, 6, 4, 2, 0]),
        correlation_case("r = 0 (to rounding)", [1, 2, 3, 4, 5], [2, 1, 0, 1, 2]),
        correlation_case("ties on both sides", [1, 1, 2, 2, 3, 3, 3],
                         [5, 6, 6, 7, 7, 7, 9]),
        correlation_case("constant KPI (0.1 does not average to itself)",
                         [0.1, 0.1, 0.1], [1.0, 2.0, 4.0]),
        correlation_case("constant KPI, n = 4", [0.1] * 4, [3.0, 1.0, 2.0, 5.0]),
        correlation_case("constant customer metric",
                         [1, 2, 3, 4, 5, 6, 7], [2.675] * 7),
        correlation_case("24 months, on-time share vs NPS (seed 20250603)",
                         kpi, nps),
        correlation_case("12 months, delivery days vs NPS", days, nps2),
        correlation_case("large offset: revenue around 1e6 vs CSAT",
                         revenue, csat),
    ]


# ---------------------------------------------------------------------------
# 4. Contributions (NPS)
# ---------------------------------------------------------------------------
def nps(scores):
    """NPS in points from raw 0-10 scores, counted with numpy."""
    promoters = np.count_nonzero(scores >= 9)
    detractors = np.count_nonzero(scores <= 6)
    value = 100.0 * int(promoters - detractors) / scores.size
    # The same figure as 100 x the mean of +1/0/-1 scores.
    scored = np.where(scores >= 9, 1.0, np.where(scores <= 6, -1.0, 0.0))
    assert abs(value - 100.0 * scored.mean()) < 1e-9
    return value


def key(y):
    """Orders f64 like their values (an integer per float, -0 = +0 aside)."""
    b = struct.unpack("<q", struct.pack("<d", y))[0]
    return b if b >= 0 else -(b & 0x7FFFFFFFFFFFFFFF)


def unkey(k):
    b = k if k >= 0 else (-k) | -0x8000000000000000
    return struct.unpack("<d", struct.pack("<q", b))[0]


def closest_sums(prefix, target):
    """The sums prefix + y (f64 addition) nearest target over all finite
    f64 y: the largest <= target and the smallest >= target."""
    top = key(sys.float_info.max)
    lo, hi = -top, top
    while lo < hi:  # smallest y with prefix + y >= target
        mid = (lo + hi) // 2
        if prefix + unkey(mid) >= target:
            hi = mid
        else:
            lo = mid + 1
    return prefix + unkey(lo - 1), prefix + unkey(lo)


def contribution_case(name, departments, seed):
    rng = np.random.default_rng(seed)
    answers = []
    for dept, counts in departments:
        assert len(counts) == 11 and sum(counts) > 0
        scores = np.repeat(np.arange(11), counts)
        answers.append((dept, rng.permutation(scores)))
    pooled = np.concatenate([s for _, s in answers])
    total = int(pooled.size)
    overall = nps(pooled)
    parts = []
    for i, (dept, scores) in enumerate(answers):
        n = int(scores.size)
        value = nps(scores)
        share = n / total
        others = [s for j, (_, s) in enumerate(answers) if j != i]
        rest = nps(np.concatenate(others)) if others else None
        parts.append({
            "department": dept,
            "n": n,
            "value": value,
            "share": share,
            "points": share * value,
            "rest": rest,
            "if_matched_rest": None if rest is None else share * (rest - value),
        })
    prefix = 0.0
    for p in parts[:-1]:
        prefix = prefix + p["points"]
    below, above = closest_sums(prefix, overall)
    exact_possible = overall in (below, above)
    distance = min(abs(below - overall), abs(above - overall))
    closest = [s for s in (below, above) if abs(s - overall) == distance]
    return {
        "name": name,
        "departments": [{"department": d, "counts": list(c)}
                        for d, c in departments],
        "expected": {
            "total": total,
            "overall": exact(overall),
            "parts": [{
                "department": p["department"],
                "n": p["n"],
                "value": exact(p["value"]),
                "share": exact(p["share"]),
                "points": exact(p["points"]),
                "rest": None if p["rest"] is None else exact(p["rest"]),
                "if_matched_rest": None if p["if_matched_rest"] is None
                else exact(p["if_matched_rest"]),
            } for p in parts],
            "prefix_sum": exact(prefix),
            "sum_exact_possible": exact_possible,
            "closest_sums": [exact(s) for s in closest],
        },
    }


def counts(promoters, passives, detractors):
    """Counts 0..10 with detractors at 3, passives at 8, promoters at 10."""
    c = [0] * 11
    c[3], c[8], c[10] = detractors, passives, promoters
    return c


def contribution_cases():
    rng = np.random.default_rng(20250604)

    def random_counts(n):
        weights = rng.dirichlet(np.ones(11))
        return [int(x) for x in rng.multinomial(n, weights)]

    names = ["logistics", "support", "billing", "sales", "onboarding",
             "product", "field_service", "returns", "web", "app", "retail",
             "partners"]
    random5 = [(names[i], random_counts(int(rng.integers(20, 400))))
               for i in range(5)]
    random12 = [(names[i], random_counts(int(rng.integers(1, 3000))))
                for i in range(12)]
    return [
        contribution_case("one department",
                          [("support", [3, 1, 0, 2, 5, 4, 6, 10, 12, 9, 8])], 1),
        contribution_case("two departments, sum exactly reachable",
                          [("support", counts(60, 30, 10)),
                           ("logistics", counts(20, 30, 50))], 2),
        contribution_case("501 promoters vs 499 detractors: no f64 last part "
                          "makes the sum exact",
                          [("sales", counts(501, 0, 0)),
                           ("support", counts(0, 0, 499))], 3),
        contribution_case("overall exactly 0",
                          [("sales", counts(50, 0, 0)),
                           ("support", counts(0, 0, 50))], 4),
        contribution_case("n = 1, 2, 3",
                          [("a", counts(1, 0, 0)), ("b", counts(0, 1, 1)),
                           ("c", counts(1, 1, 1))], 5),
        contribution_case("every department the same NPS",
                          [("a", counts(4, 2, 2)), ("b", counts(8, 4, 4)),
                           ("c", counts(2, 1, 1))], 6),
        contribution_case("one answer beside a million",
                          [("logistics", counts(412_345, 301_002, 286_653)),
                           ("legal", counts(0, 0, 1))], 7),
        contribution_case("a million beside one answer (the big one last)",
                          [("legal", counts(1, 0, 0)),
                           ("logistics", counts(286_653, 301_002, 412_345))],
                          8),
        contribution_case("five departments (seed 20250604)", random5, 9),
        contribution_case("twelve departments (seed 20250604)", random12, 10),
    ]


def main():
    doc = {
        "generated_by": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "script": "tools/golden/make_golden_departments.py",
        },
        "confidence": CONFIDENCE,
        "z": Z,
        "quantiles": quantile_cases(),
        "kpi": kpi_cases(),
        "correlation": correlation_cases(),
        "contributions": contribution_cases(),
    }
    json.dump(doc, sys.stdout, indent=1, allow_nan=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
