#!/usr/bin/env python3
"""Golden reference values for Northstar's expectation gap
(crates/core/src/expectation_gap.rs).

Regenerate (deterministic output, no timestamps):
    pip install numpy scikit-learn statsmodels
    python3 tools/golden/make_golden_expectation_gap.py > tools/golden/expectation_gap.json

Each dataset is a list of linked records (measured value x, customer satisfied
or not, i.e. CSAT 4 or 5). Each case applies a direction, level and target to
a dataset. The expected values come from the outside packages wherever one
has the function:

- fitted satisfied share per distinct x: scikit-learn's
  `IsotonicRegression(increasing=...)` fitted on the distinct values with
  per-value weights (the record counts); checked here against the same
  estimator fitted on the raw rows and against
  `sklearn.isotonic.isotonic_regression` (all three must agree to 1e-12);
- Wilson 95% interval of the dissatisfied share among records that met the
  target: statsmodels' `proportion_confint(method="wilson")`;
- counts and shares: direct counting with numpy over the raw rows.

No package has the threshold or the verdict; they follow the rules stated in
expectation_gap.rs and are applied here to scikit-learn's fit:
- threshold, lower is better: the smallest observed x whose fitted share is
  strictly below the level; higher is better: the largest such x;
- a record meets the target when x <= target (lower is better) or
  x >= target (higher is better);
- verdict: no_data (n = 0), no_threshold, no_target,
  customers_stricter_than_target (the threshold meets the target), else
  target_at_least_as_strict;
- enough_data: n >= 30 and at least 2 distinct values.
"""
import json
import math
import platform
import sys

import numpy as np
import sklearn
import statsmodels
from sklearn.isotonic import IsotonicRegression, isotonic_regression
from statsmodels.stats.proportion import proportion_confint

MIN_RECORDS = 30
MIN_DISTINCT_VALUES = 2


def f(x):
    """Plain Python float with full precision; refuse non-finite values."""
    x = float(x)
    assert math.isfinite(x), x
    return x


def rows_from_counts(counts):
    """[(x, satisfied, n)] -> (x list, satisfied list), rows in x order."""
    xs, ss = [], []
    for x, sat, n in counts:
        xs += [x] * n
        ss += [1] * sat + [0] * (n - sat)
    return xs, ss


def shuffled(xs, ss, seed):
    order = np.random.default_rng(seed).permutation(len(xs))
    return [xs[i] for i in order], [ss[i] for i in order]


def datasets():
    out = {}

    # Integer delivery days 1-10, satisfaction planted to drop after 3 days.
    rng = np.random.default_rng(20240501)
    weights = np.array([8, 14, 16, 15, 12, 9, 6, 4, 3, 2], dtype=float)
    days = rng.choice(np.arange(1, 11), size=600, p=weights / weights.sum())
    p_sat = {1: .93, 2: .92, 3: .90, 4: .62, 5: .58, 6: .52, 7: .45, 8: .40, 9: .35, 10: .30}
    sat = rng.random(600) < np.array([p_sat[int(d)] for d in days])
    out["delivery_days"] = ([float(d) for d in days], [int(s) for s in sat])

    # Continuous hours (rounded to 0.01 h, so a few ties), logistic decline
    # centred at 36 h.
    rng = np.random.default_rng(20240502)
    hours = np.round(rng.gamma(shape=4.0, scale=10.0, size=400), 2)
    p = 0.95 - 0.5 / (1.0 + np.exp(-(hours - 36.0) / 5.0))
    sat = rng.random(400) < p
    out["delivery_hours"] = ([float(h) for h in hours], [int(s) for s in sat])

    # Ties: equal observed shares on neighbouring values, and a fitted share of
    # exactly 0.8 (8/10) that is not below the level 0.8.
    out["tied_shares"] = shuffled(*rows_from_counts(
        [(1.0, 8, 10), (2.0, 8, 10), (3.0, 4, 10), (4.0, 4, 10)]), 1)

    out["all_satisfied"] = shuffled(*rows_from_counts(
        [(float(x), 8, 8) if x <= 3 else (float(x), 4, 4) for x in range(1, 7)]), 2)

    out["all_dissatisfied"] = shuffled(*rows_from_counts(
        [(1.0, 0, 5), (2.0, 0, 5), (3.0, 0, 5), (4.0, 0, 5), (5.0, 0, 5),
         (6.0, 0, 5), (7.0, 0, 5)]), 3)

    # One distinct value only (zero variance in x).
    out["single_value"] = shuffled(*rows_from_counts([(3.0, 30, 50)]), 4)

    # Tiny n: three records on two values.
    out["tiny"] = ([1.0, 2.0, 2.0], [1, 0, 1])

    # Non-monotone observed shares that PAV must pool over several levels,
    # including a rise at the end.
    out["non_monotone"] = shuffled(*rows_from_counts(
        [(1.0, 9, 10), (2.0, 5, 10), (3.0, 19, 20), (4.0, 7, 10), (5.0, 16, 20),
         (6.0, 3, 10), (7.0, 6, 10), (8.0, 1, 2)]), 5)

    # Higher is better: days of notice given for a delivery slot, 0-7.
    rng = np.random.default_rng(20240503)
    notice = rng.integers(0, 8, size=300)
    p = np.array([.40, .55, .70, .84, .88, .90, .91, .93])[notice]
    sat = rng.random(300) < p
    out["notice_days"] = ([float(d) for d in notice], [int(s) for s in sat])

    # Higher is better with negative values and both zeros: days early
    # (negative = late); -0.0 and 0.0 are one value.
    xs, ss = rows_from_counts(
        [(-3.0, 1, 6), (-2.0, 3, 8), (-1.0, 6, 10), (-0.0, 5, 6), (0.0, 4, 6),
         (1.0, 9, 10), (2.0, 5, 5)])
    out["days_early"] = shuffled(xs, ss, 6)

    # A sparse long tail: a few satisfied customers at very long waits.
    rng = np.random.default_rng(20240504)
    minutes = np.concatenate([rng.integers(1, 20, size=200), [45, 60, 75, 90, 120]])
    p = np.where(minutes <= 8, 0.9, 0.6)
    sat = rng.random(len(minutes)) < p
    sat[-5:] = [True, False, True, True, True]
    out["wait_minutes_sparse_tail"] = ([float(m) for m in minutes], [int(s) for s in sat])
    return out


CASES = [
    # name, dataset, direction, level, target, unit
    ("days_target_5", "delivery_days", "lower_is_better", 0.8, 5.0, "days"),
    ("days_target_3", "delivery_days", "lower_is_better", 0.8, 3.0, "days"),
    ("days_target_equals_threshold", "delivery_days", "lower_is_better", 0.8, 4.0, "days"),
    ("days_no_target", "delivery_days", "lower_is_better", 0.8, None, "days"),
    ("days_level_0_5", "delivery_days", "lower_is_better", 0.5, 5.0, "days"),
    ("days_target_below_range", "delivery_days", "lower_is_better", 0.8, 0.5, "days"),
    ("hours_target_48", "delivery_hours", "lower_is_better", 0.8, 48.0, "hours"),
    ("hours_level_0_6", "delivery_hours", "lower_is_better", 0.6, 36.5, "hours"),
    ("tied_shares", "tied_shares", "lower_is_better", 0.8, 2.0, "days"),
    ("tied_shares_level_0_81", "tied_shares", "lower_is_better", 0.81, 2.0, "days"),
    ("all_satisfied", "all_satisfied", "lower_is_better", 0.8, 3.0, "days"),
    ("all_satisfied_no_target", "all_satisfied", "lower_is_better", 0.8, None, "days"),
    ("all_dissatisfied", "all_dissatisfied", "lower_is_better", 0.8, 5.0, "days"),
    ("single_value", "single_value", "lower_is_better", 0.8, 5.0, "days"),
    ("single_value_higher", "single_value", "higher_is_better", 0.5, 5.0, "days"),
    ("tiny", "tiny", "lower_is_better", 0.8, 1.0, "days"),
    ("non_monotone", "non_monotone", "lower_is_better", 0.8, 4.0, "days"),
    ("non_monotone_as_higher", "non_monotone", "higher_is_better", 0.7, 4.0, "days"),
    ("notice_days", "notice_days", "higher_is_better", 0.8, 2.0, "days"),
    ("notice_days_target_5", "notice_days", "higher_is_better", 0.8, 5.0, "days"),
    ("days_early_target_zero", "days_early", "higher_is_better", 0.8, 0.0, "days"),
    ("days_early_target_minus_zero", "days_early", "higher_is_better", 0.8, -0.0, "days"),
    ("wait_minutes_sparse_tail", "wait_minutes_sparse_tail", "lower_is_better", 0.8, 10.0, "minutes"),
]


def fit(xs, observed, n, x_rows, s_rows, increasing):
    """scikit-learn's isotonic fit on the distinct values with weights,
    checked against the raw rows and against the function form."""
    by_weights = IsotonicRegression(increasing=increasing).fit(
        xs, observed, sample_weight=n).predict(xs)
    by_rows = IsotonicRegression(increasing=increasing).fit(
        x_rows, s_rows.astype(float)).predict(xs)
    by_function = isotonic_regression(observed, sample_weight=n, increasing=increasing)
    assert np.max(np.abs(by_weights - by_rows)) < 1e-12, (by_weights, by_rows)
    assert np.max(np.abs(by_weights - by_function)) < 1e-12, (by_weights, by_function)
    return by_weights


def case(name, dataset, data, direction, level, target, unit):
    x_rows = np.array(data[0], dtype=float)
    s_rows = np.array(data[1], dtype=bool)
    # np.unique puts -0.0 and 0.0 together; show the value as 0.0.
    xs, inverse = np.unique(x_rows, return_inverse=True)
    xs = np.where(xs == 0.0, 0.0, xs)
    n = np.bincount(inverse, minlength=len(xs))
    satisfied = np.bincount(inverse, weights=s_rows.astype(float), minlength=len(xs))
    observed = satisfied / n
    increasing = direction == "higher_is_better"
    fitted = fit(xs, observed, n.astype(float), x_rows, s_rows, increasing)
    below = [i for i in range(len(xs)) if fitted[i] < level]
    if not below:
        threshold = None
    elif increasing:
        threshold = f(xs[below[-1]])
    else:
        threshold = f(xs[below[0]])

    total = len(x_rows)
    expected = {
        "n": total,
        "satisfied_share": f(s_rows.mean()),
        "threshold": threshold,
        "enough_data": bool(total >= MIN_RECORDS and len(xs) >= MIN_DISTINCT_VALUES),
        "curve": [{"x": f(x), "n": int(k), "satisfied": int(s),
                   "observed_share": f(o), "satisfied_share": f(v)}
                  for x, k, s, o, v in zip(xs, n, satisfied, observed, fitted)],
    }
    if target is None:
        expected.update({"met_target_n": None, "met_target_dissatisfied_n": None,
                         "met_target_but_dissatisfied_share": None,
                         "dissatisfied_share_among_met": None,
                         "wilson_low": None, "wilson_high": None})
    else:
        met = x_rows >= target if increasing else x_rows <= target
        met_n = int(met.sum())
        met_dissatisfied = int((met & ~s_rows).sum())
        expected["met_target_n"] = met_n
        expected["met_target_dissatisfied_n"] = met_dissatisfied
        expected["met_target_but_dissatisfied_share"] = f(met_dissatisfied / total)
        if met_n > 0:
            low, high = proportion_confint(met_dissatisfied, met_n, alpha=0.05, method="wilson")
            expected["dissatisfied_share_among_met"] = f(met_dissatisfied / met_n)
            expected["wilson_low"] = f(low)
            expected["wilson_high"] = f(high)
        else:
            expected["dissatisfied_share_among_met"] = None
            expected["wilson_low"] = None
            expected["wilson_high"] = None

    if threshold is None:
        verdict = "no_threshold"
    elif target is None:
        verdict = "no_target"
    elif (threshold >= target) if increasing else (threshold <= target):
        verdict = "customers_stricter_than_target"
    else:
        verdict = "target_at_least_as_strict"
    expected["verdict"] = verdict
    return {"name": name, "dataset": dataset, "direction": direction,
            "level": level, "target": target, "unit": unit, "expected": expected}


def main():
    data = datasets()
    doc = {
        "generated_by": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scikit-learn": sklearn.__version__,
            "statsmodels": statsmodels.__version__,
            "script": "tools/golden/make_golden_expectation_gap.py",
        },
        "min_records": MIN_RECORDS,
        "min_distinct_values": MIN_DISTINCT_VALUES,
        "datasets": {k: {"x": [f(x) for x in v[0]], "satisfied": [int(s) for s in v[1]]}
                     for k, v in data.items()},
        "cases": [case(name, ds, data[ds], direction, level, target, unit)
                  for name, ds, direction, level, target, unit in CASES],
    }
    json.dump(doc, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
