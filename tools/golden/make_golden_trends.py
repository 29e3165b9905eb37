#!/usr/bin/env python3
"""Golden reference values for Northstar's trends: control charts with
variable n and the change from one period to the next
(crates/core/src/trends.rs).

Regenerate (deterministic output, no timestamps):
    pip install numpy scipy statsmodels
    python3 tools/golden/make_golden_trends.py > tools/golden/trends.json

Each series is a list of periods, each with the counts of its answers to one
metric (NPS 0-10, CSAT 1-5, CES 1-7, FCR yes/no). The script expands the
counts to one row per answer and computes everything from those rows. Where
a package has the function, the package computes it; the rest follows the
cited formula and is marked so:

Control chart (no scipy/statsmodels function; formulas from Montgomery,
Introduction to Statistical Quality Control, 7th ed., section 7.2.2 p-chart
with variable sample size, section 6.4 x-bar chart with variable n), with
numpy doing the pooling over the raw rows:
- NPS: each answer scored +1 (9-10), 0 (7-8) or -1 (0-6); centre =
  100 * mean of the pooled scores, sigma = 100 * numpy's population standard
  deviation (ddof=0) of the pooled scores, which equals the trinomial
  sqrt(p + d - (p - d)^2) with pooled promoter and detractor shares p, d
  (asserted here; Rocks 2016);
- CSAT (answers 4-5 of 1-5) and FCR (yes): each answer 1 or 0; centre =
  100 * pooled share, sigma = 100 * numpy std (ddof=0) = 100 sqrt(p(1 - p));
- CES: centre = numpy mean of every answer; sigma^2 = pooled within-period
  variance sum((n_i - 1) s_i^2) / sum(n_i - 1) with s_i^2 numpy's var
  (ddof=1) per period. Montgomery's s-bar is undefined when sum(n_i - 1) = 0
  (every period a single answer): then there is no sigma and no limits.
  Like trends.rs, no c4 unbiasing constant is applied (section 6.4 uses
  A3 = 3/(c4 sqrt(n_i)) with an average of s_i; here sigma is the pooled
  standard deviation, whose c4 for sum(n_i - 1) degrees of freedom is within
  1% of 1 past 25 degrees of freedom).
- lcl, ucl = centre -+ 3 sigma / sqrt(n_i), not clipped; a period is a
  signal "above" when value > ucl, "below" when value < lcl (strict: a value
  exactly on a limit is not a signal).

Each period's 95% interval (the metric's usual method):
- CSAT, FCR: statsmodels' proportion_confint(method="wilson"), x100;
- CES: scipy.stats.t.interval(0.95, n - 1, loc=mean, scale=sem) with
  scipy.stats.sem, clipped to the 1-7 scale; none for n = 1; the mean itself
  when the variance is zero;
- NPS: no package function; Rocks (2016) adjusted Wald by formula
  (n' = n + 3, p' = (promoters + 3/4)/n', d' likewise, var = (p' + d' -
  (p' - d')^2)/n'), z from scipy.stats.norm.ppf, clipped to -100..100; not
  shown when it misses the raw score (the rule in estimate.rs).

Change from the previous period with an answer (this minus previous):
- CSAT, FCR: statsmodels' test_proportions_2indep(method="agresti-caffo",
  compare="diff") statistic and p-value (Agresti & Caffo 2000; not the pooled
  proportions_ztest: trends.rs does not pool); the explicit formula is
  asserted equal; difference = raw shares x100;
- NPS: no package function; z = (NPS'a - NPS'b)/sqrt(var'a + var'b) with the
  adjusted-Wald shares and variances above (Rocks 2016; Sauro, "Comparing Two
  Net Promoter Scores"), p = 2 * scipy.stats.norm.sf(|z|); difference = raw
  scores;
- CES: scipy.stats.ttest_ind_from_stats(equal_var=False) (Welch 1947),
  checked against scipy.stats.ttest_ind(equal_var=False) on the raw rows;
  none when either period has fewer than 2 answers or both variances are 0.
"""
import json
import math
import platform
import sys
import warnings

import numpy as np
import scipy
import scipy.stats as st
import statsmodels
from statsmodels.stats.proportion import proportion_confint, test_proportions_2indep

CONFIDENCE = 0.95
ALPHA = 1.0 - CONFIDENCE
SIGMAS = 3.0
Z = float(st.norm.ppf(1.0 - ALPHA / 2.0))
# A value this close to a limit, unless exactly on it, would make the
# reference's signal depend on rounding; the data are chosen to avoid it.
EDGE_MARGIN = 1e-6

SCALE = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}


def f(x):
    """Plain Python float with full precision; refuse non-finite values."""
    x = float(x)
    assert math.isfinite(x), x
    return x


# --- the data ---------------------------------------------------------------


def counts_of(metric, answers):
    """Counts per scale value (FCR: [yes, no])."""
    answers = np.asarray(answers, dtype=int)
    if metric == "fcr":
        return [int((answers == 1).sum()), int((answers == 0).sum())]
    low, high = SCALE[metric]
    return [int((answers == v).sum()) for v in range(low, high + 1)]


def rows_of(metric, counts):
    """The answers, one row per answer, from the counts."""
    if metric == "fcr":
        return np.array([1] * counts[0] + [0] * counts[1], dtype=float)
    low, _ = SCALE[metric]
    return np.repeat(np.arange(low, low + len(counts)), counts).astype(float)


def draw(rng, metric, n, p):
    """n answers drawn with probabilities p over the scale (FCR: p = P(yes))."""
    if metric == "fcr":
        return counts_of(metric, (rng.random(n) < p).astype(int))
    low, high = SCALE[metric]
    return counts_of(metric, rng.choice(np.arange(low, high + 1), size=n, p=p))


def nps_p(promoter, detractor):
    """Probabilities over 0..10 with the given promoter and detractor shares."""
    passive = 1.0 - promoter - detractor
    p = [detractor / 7.0] * 7 + [passive / 2.0] * 2 + [promoter / 2.0] * 2
    return np.array(p) / sum(p)


def series():
    out = []

    # NPS by month: ~45% promoters, 25% detractors; a month of one promoter,
    # a month of two answers, a month with no NPS answer (left out), and a
    # planted drop in October (55% detractors) that must be a signal.
    rng = np.random.default_rng(20250701)
    periods = []
    for month in range(1, 13):
        label = f"2025-{month:02d}"
        if month == 4:
            c = counts_of("nps", [10])
        elif month == 6:
            c = counts_of("nps", [10, 0])
        elif month == 8:
            c = [0] * 11
        elif month == 10:
            c = draw(rng, "nps", 250, nps_p(0.25, 0.55))
        else:
            c = draw(rng, "nps", int(rng.integers(60, 200)), nps_p(0.45, 0.25))
        periods.append((label, c))
    out.append(("nps_monthly_planted_drop", "nps", periods, {"2025-10": "below"}))

    # NPS, unanimous promoters in every period: sigma 0, no signal, and the
    # adjusted-Wald tests still have a variance.
    out.append(("nps_unanimous", "nps", [
        ("2025-01", counts_of("nps", [10] * 5)),
        ("2025-02", counts_of("nps", [9] * 12)),
        ("2025-03", counts_of("nps", [10] * 3)),
    ], {}))

    # CSAT by week: ~80% top-two; a week of three answers, a week without a
    # CSAT answer, and a planted rise in week 7 (96% of 300) that must be a
    # signal.
    rng = np.random.default_rng(20250702)
    base = np.array([0.05, 0.05, 0.10, 0.40, 0.40])
    high = np.array([0.01, 0.01, 0.02, 0.26, 0.70])
    periods = []
    for week in range(1, 11):
        label = f"2025-W{week:02d}"
        if week == 3:
            c = counts_of("csat", [5, 2, 4])
        elif week == 5:
            c = [0] * 5
        elif week == 7:
            c = draw(rng, "csat", 300, high)
        else:
            c = draw(rng, "csat", int(rng.integers(40, 150)), base)
        periods.append((label, c))
    out.append(("csat_weekly_planted_rise", "csat", periods, {"2025-W07": "above"}))

    # FCR by day, written so the pooled share is exactly 1/2: sigma = 50,
    # half-width 150/sqrt(n). With n = 9 the limits are exactly 0 and 100 and
    # with n = 16 exactly 12.5 and 87.5, so 9/9, 0/9, 14/16 and 2/16 lie
    # exactly on a limit (not a signal); 70/100 and 30/100 lie outside 35..65.
    # (Exact in floating point too: p = 0.5, sigma = 100 * sqrt(0.25) = 50,
    # 3 * 50 / 3 = 50 and 3 * 50 / 4 = 37.5.)
    out.append(("fcr_daily_exact_edges", "fcr", [
        ("2025-03-01", [9, 0]),
        ("2025-03-02", [0, 9]),
        ("2025-03-03", [14, 2]),
        ("2025-03-04", [2, 14]),
        ("2025-03-05", [50, 50]),
        ("2025-03-06", [20, 20]),
        ("2025-03-07", [70, 30]),
        ("2025-03-08", [30, 70]),
        ("2025-03-09", [1, 1]),
    ], {"2025-03-07": "above", "2025-03-08": "below"}))

    # FCR drawn at 70% yes with a planted drop to 45% on day 6.
    rng = np.random.default_rng(20250703)
    periods = []
    for day in range(1, 9):
        n = 2 if day == 3 else int(rng.integers(30, 120))
        p = 0.45 if day == 6 else 0.70
        if day == 6:
            n = 200
        periods.append((f"2025-04-{day:02d}", draw(rng, "fcr", n, p)))
    out.append(("fcr_daily_planted_drop", "fcr", periods, {"2025-04-06": "below"}))

    # CES by day: a single answer (no variance, no Welch test either side of
    # it), a unanimous period followed by another (both variances zero: no
    # test), two answers, and a planted drop of the mean on day 9.
    rng = np.random.default_rng(20250704)
    base = np.array([0.02, 0.03, 0.05, 0.15, 0.25, 0.30, 0.20])
    low = np.array([0.20, 0.25, 0.20, 0.15, 0.10, 0.05, 0.05])
    periods = []
    for day in range(1, 11):
        label = f"2025-05-{day:02d}"
        if day == 3:
            c = counts_of("ces", [4])
        elif day == 5:
            c = counts_of("ces", [7, 7, 7])
        elif day == 6:
            c = counts_of("ces", [7, 7])
        elif day == 7:
            c = counts_of("ces", [2, 6])
        elif day == 9:
            c = draw(rng, "ces", 80, low)
        else:
            c = draw(rng, "ces", int(rng.integers(20, 60)), base)
        periods.append((label, c))
    out.append(("ces_daily_planted_drop", "ces", periods, {"2025-05-09": "below"}))

    # CES with one answer per period: no within-period variance, so no sigma
    # and no limits (and no signal).
    out.append(("ces_single_answers", "ces", [
        ("2025-06-01", counts_of("ces", [7])),
        ("2025-06-02", counts_of("ces", [1])),
        ("2025-06-03", counts_of("ces", [4])),
    ], {}))
    return out


# --- the reference ----------------------------------------------------------


def nps_scores(rows):
    """+1 promoter (9-10), 0 passive (7-8), -1 detractor (0-6)."""
    return np.where(rows >= 9, 1.0, np.where(rows >= 7, 0.0, -1.0))


def binary(metric, rows):
    """The 0/1 answer of a share metric."""
    return (rows >= 4).astype(float) if metric == "csat" else rows


def nps_adjusted(rows):
    """Rocks (2016) adjusted Wald: (raw NPS, adjusted NPS, adjusted variance)."""
    n = len(rows)
    prom = float((rows >= 9).sum())
    det = float((rows <= 6).sum())
    n_adj = n + 3.0
    p, d = (prom + 0.75) / n_adj, (det + 0.75) / n_adj
    return (prom - det) / n, p - d, (p + d - (p - d) ** 2) / n_adj


def estimate(metric, rows):
    """Value and 95% interval of one period on the reported scale."""
    n = len(rows)
    if metric == "nps":
        raw, adj, var = nps_adjusted(rows)
        half = Z * math.sqrt(var)
        low = 100.0 * min(max(adj - half, -1.0), 1.0)
        high = 100.0 * min(max(adj + half, -1.0), 1.0)
        value = 100.0 * raw
        assert min(abs(value - low), abs(value - high)) > EDGE_MARGIN or low <= value <= high
        if not low <= value <= high:
            return value, None, None
        return value, low, high
    if metric in ("csat", "fcr"):
        x = binary(metric, rows)
        low, high = proportion_confint(int(x.sum()), n, alpha=ALPHA, method="wilson")
        return 100.0 * x.mean(), 100.0 * low, 100.0 * high
    mean = float(np.mean(rows))
    if n < 2:
        return mean, None, None
    sem = float(st.sem(rows))
    if sem == 0.0:
        return mean, mean, mean
    low, high = st.t.interval(CONFIDENCE, n - 1, loc=mean, scale=sem)
    return mean, min(max(low, 1.0), 7.0), min(max(high, 1.0), 7.0)


def centre_and_sigma(metric, all_rows):
    """The pooled centre and sigma of one answer (None without a variance)."""
    pooled = np.concatenate(all_rows)
    if metric == "nps":
        s = nps_scores(pooled)
        p, d = float((s == 1).mean()), float((s == -1).mean())
        sigma = float(np.std(s, ddof=0))
        assert abs(sigma - math.sqrt(p + d - (p - d) ** 2)) < 1e-12
        return 100.0 * float(np.mean(s)), 100.0 * sigma
    if metric in ("csat", "fcr"):
        x = binary(metric, pooled)
        p = float(x.mean())
        assert abs(float(np.std(x, ddof=0)) - math.sqrt(p * (1 - p))) < 1e-12
        return 100.0 * p, 100.0 * float(np.std(x, ddof=0))
    ss = sum((len(r) - 1) * float(np.var(r, ddof=1)) for r in all_rows if len(r) >= 2)
    df = sum(len(r) - 1 for r in all_rows)
    return float(np.mean(pooled)), (math.sqrt(ss / df) if df > 0 else None)


def change(metric, current, previous):
    """This period minus the previous one: difference, statistic, p-value."""
    if metric == "nps":
        raw_a, adj_a, var_a = nps_adjusted(current)
        raw_b, adj_b, var_b = nps_adjusted(previous)
        z = (adj_a - adj_b) / math.sqrt(var_a + var_b)
        return 100.0 * (raw_a - raw_b), z, 2.0 * float(st.norm.sf(abs(z)))
    if metric in ("csat", "fcr"):
        a, b = binary(metric, current), binary(metric, previous)
        res = test_proportions_2indep(
            int(a.sum()), len(a), int(b.sum()), len(b),
            method="agresti-caffo", compare="diff", alternative="two-sided")
        # The Agresti-Caffo statistic by hand (one success and one failure
        # added to each sample), to show which statistic statsmodels gave.
        pa, pb = (a.sum() + 1) / (len(a) + 2), (b.sum() + 1) / (len(b) + 2)
        z = (pa - pb) / math.sqrt(pa * (1 - pa) / (len(a) + 2) + pb * (1 - pb) / (len(b) + 2))
        assert abs(z - res.statistic) < 1e-12, (z, res.statistic)
        return 100.0 * (a.mean() - b.mean()), res.statistic, res.pvalue
    if len(current) < 2 or len(previous) < 2:
        return None
    sa, sb = float(np.std(current, ddof=1)), float(np.std(previous, ddof=1))
    if sa == 0.0 and sb == 0.0:
        return None
    t, p = st.ttest_ind_from_stats(
        float(np.mean(current)), sa, len(current),
        float(np.mean(previous)), sb, len(previous), equal_var=False)
    raw = st.ttest_ind(current, previous, equal_var=False)
    assert abs(raw.statistic - t) < 1e-9 and abs(raw.pvalue - p) < 1e-12, (raw, t, p)
    return float(np.mean(current)) - float(np.mean(previous)), t, p


def signal_of(value, lcl, ucl):
    if lcl is None:
        return "none"
    for limit in (lcl, ucl):
        assert value == limit or abs(value - limit) > EDGE_MARGIN, (value, limit)
    if value < lcl:
        return "below"
    if value > ucl:
        return "above"
    return "none"


def case(name, metric, periods, planted):
    answered = [(label, rows_of(metric, c)) for label, c in periods]
    answered = [(label, rows) for label, rows in answered if len(rows) > 0]
    centre, sigma = centre_and_sigma(metric, [rows for _, rows in answered])
    points = []
    previous = None
    for label, rows in answered:
        n = len(rows)
        value, ci_low, ci_high = estimate(metric, rows)
        if sigma is None:
            lcl = ucl = None
        else:
            half = SIGMAS * sigma / math.sqrt(n)
            lcl, ucl = centre - half, centre + half
        signal = signal_of(value, lcl, ucl)
        if label in planted:
            assert signal == planted[label], (name, label, value, lcl, ucl, signal)
        c = change(metric, rows, previous) if previous is not None else None
        points.append({
            "period": label,
            "n": n,
            "value": f(value),
            "ci_low": None if ci_low is None else f(ci_low),
            "ci_high": None if ci_high is None else f(ci_high),
            "lcl": None if lcl is None else f(lcl),
            "ucl": None if ucl is None else f(ucl),
            "signal": signal,
            "change": None if c is None else {
                "difference": f(c[0]), "statistic": f(c[1]), "p_value": f(c[2])},
        })
        previous = rows
    return {
        "name": name,
        "metric": metric,
        "periods": [{"period": label, "counts": c} for label, c in periods],
        "expected": {
            "centre": f(centre),
            "sigma": None if sigma is None else f(sigma),
            "signals": sum(p["signal"] != "none" for p in points),
            "periods": points,
        },
    }


def main():
    # statsmodels also computes the ratio and odds ratio (dividing by a zero
    # share) and scipy warns about a unanimous sample; neither touches the
    # figures recorded here.
    warnings.simplefilter("ignore", RuntimeWarning)
    doc = {
        "generated_by": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "statsmodels": statsmodels.__version__,
            "script": "tools/golden/make_golden_trends.py",
        },
        "sigmas": SIGMAS,
        "confidence": CONFIDENCE,
        "counts": "nps: answers 0..10; csat: 1..5; ces: 1..7; fcr: [yes, no]",
        "series": [case(*s) for s in series()],
    }
    json.dump(doc, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
