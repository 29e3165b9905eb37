#!/usr/bin/env python3
"""Golden reference values for Northstar's representativeness weighting
(crates/core/src/weighting.rs) and revenue at risk (crates/core/src/revenue.rs).

Regenerate (deterministic output, no timestamps):
    pip install numpy scipy statsmodels ipfn
    python3 tools/golden/make_golden_weighting.py > tools/golden/weighting.json

Where each reference comes from:
- Raking and post-stratification weights: the `ipfn` package (PyPI `ipfn`,
  iterative proportional fitting, Deming & Stephan 1940) run on the full
  table of respondent counts (absent cells are structural zeros).
  Post-stratification is IPF on one attribute, and the closed form
  (N_g/N)/(n_g/n) is asserted equal here as well.
  Categories with customers but no respondents cannot be met: the script
  shows that ipfn on the requested margins does not converge, then fits
  the margins rescaled over the represented categories (Northstar's rule).
- Weighted means, shares and variances: statsmodels' DescrStatsW over the
  answers expanded one row per answer, with the cell weight.
- Kish's effective sample size (Sum w)^2 / Sum w^2: no package function;
  the published formula (Kish 1965, Survey Sampling, section 11.7).
- Wilson interval with n_eff for n: statsmodels' proportion_confint
  (method="wilson") with count = p_w * n_eff and nobs = n_eff.
- NPS interval: no package function; Rocks (2016) adjusted Wald on effective
  counts (n' = n_eff + 3, p' = (p_w n_eff + 3/4)/n', same for d'), with the
  weighted shares p_w, d_w from DescrStatsW.
- CES interval: weighted mean and DescrStatsW's variance (ddof=0), s^2 scaled
  by n_eff/(n_eff - 1), scipy's t quantile with n_eff - 1 df.
- Weighting-effect test: DuMouchel & Duncan (1983), statsmodels OLS of the
  answer on (1, weight), t and p of the weight's coefficient.
- Churn intervals: statsmodels' proportion_confint(method="wilson"); churn
  differences: statsmodels' confint_proportions_2indep(method="newcomb").
  Dollar figures: the published definitions (see revenue.rs), by hand.
"""
import contextlib
import importlib.metadata
import io
import itertools
import json
import math
import platform

import numpy as np
import scipy
import scipy.stats as st
import statsmodels
import statsmodels.api as sm
from ipfn.ipfn import ipfn
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint
from statsmodels.stats.weightstats import DescrStatsW

CONFIDENCE = 0.95
ALPHA = 1.0 - CONFIDENCE
Z = float(st.norm.ppf(1.0 - ALPHA / 2.0))
RAKING_TOLERANCE = 1e-10
MAX_RAKING_ITERATIONS = 1000


def f(x):
    x = float(x)
    assert math.isfinite(x), x
    return x


def opt(x):
    return None if x is None else f(x)


# ---------------------------------------------------------------------------
# Datasets: cells of respondents with their answers
# ---------------------------------------------------------------------------

def answers_for(rng, quality, respondents):
    """Summary counters of `respondents` answers with a cell quality shift."""
    nps = [0] * 11
    csat = [0] * 5
    ces = [0] * 7
    fcr = [0, 0]
    for _ in range(respondents):
        if rng.random() < 0.9:
            v = int(np.clip(np.rint(rng.normal(7.2 + quality, 2.0)), 0, 10))
            nps[v] += 1
        if rng.random() < 0.7:
            v = int(np.clip(np.rint(rng.normal(3.8 + quality / 2, 1.0)), 1, 5))
            csat[v - 1] += 1
        if rng.random() < 0.5:
            v = int(np.clip(np.rint(rng.normal(5.0 + quality / 2, 1.3)), 1, 7))
            ces[v - 1] += 1
        if rng.random() < 0.6:
            yes = rng.random() < 1.0 / (1.0 + math.exp(-(0.6 + quality)))
            fcr[0] += int(yes)
            fcr[1] += 1
    return {"nps": nps, "csat": csat, "ces": ces, "fcr": fcr}


def generated_cells(seed, attributes, mix, effects, size, drop=()):
    """Cells over the cross-product of attribute values; respondent counts
    Poisson(size * product of mix shares); `effects` shift answer quality."""
    rng = np.random.default_rng(seed)
    cells = []
    for combo in itertools.product(*[list(v) for v in attributes.values()]):
        if combo in drop:
            continue
        mean = size
        quality = 0.0
        for (name, values), value in zip(attributes.items(), combo):
            mean *= mix[name][value]
            quality += effects.get(name, {}).get(value, 0.0)
        n = int(rng.poisson(mean))
        if n == 0:
            continue
        cell = {"values": list(combo), "respondents": n}
        cell.update(answers_for(rng, quality, n))
        cells.append(cell)
    return cells


def fixed_cell(values, respondents, nps=None, csat=None, ces=None, fcr=None):
    return {
        "values": values,
        "respondents": respondents,
        "nps": nps or [0] * 11,
        "csat": csat or [0] * 5,
        "ces": ces or [0] * 7,
        "fcr": fcr or [0, 0],
    }


def margin(attribute, population):
    return {"attribute": attribute, "population": [[k, v] for k, v in population]}


DATASETS = []

# 1. Tiny: one attribute, 1 and 3 respondents.
DATASETS.append({
    "name": "post_stratify_tiny",
    "method": "post_stratify",
    "margins": [margin("segment", [("smb", 700), ("enterprise", 300)])],
    "cells": [
        fixed_cell(["smb"], 1, nps=[0] * 10 + [1], csat=[0, 0, 0, 0, 1], ces=[0] * 6 + [1], fcr=[1, 1]),
        fixed_cell(["enterprise"], 3, nps=[1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1], csat=[1, 0, 1, 0, 1],
                   ces=[1, 0, 0, 1, 0, 0, 1], fcr=[2, 3]),
    ],
})

# 2. Realistic one attribute, strongly unequal mix and real differences.
DATASETS.append({
    "name": "post_stratify_three_segments",
    "method": "post_stratify",
    "margins": [margin("segment", [("smb", 6200), ("mid_market", 2900), ("enterprise", 900)])],
    "cells": generated_cells(
        101, {"segment": ["smb", "mid_market", "enterprise"]},
        {"segment": {"smb": 0.25, "mid_market": 0.35, "enterprise": 0.40}},
        {"segment": {"smb": -1.2, "mid_market": 0.2, "enterprise": 1.0}}, 420),
})

# 3. One attribute with a category without respondents ("partner"), a
#    respondent value unknown to the base ("unknown") and a zero-share
#    category with respondents ("legacy").
DATASETS.append({
    "name": "post_stratify_empty_and_unknown",
    "method": "post_stratify",
    "margins": [margin("segment", [("smb", 500), ("enterprise", 300), ("partner", 200), ("legacy", 0)])],
    "cells": [
        fixed_cell(["smb"], 40, nps=[2, 1, 2, 3, 2, 3, 4, 6, 6, 5, 6], csat=[2, 3, 8, 9, 8],
                   ces=[1, 2, 3, 6, 8, 7, 3], fcr=[20, 33]),
        fixed_cell(["enterprise"], 80, nps=[0, 0, 1, 1, 2, 2, 4, 10, 14, 20, 18], csat=[1, 2, 6, 20, 31],
                   ces=[0, 1, 2, 5, 14, 20, 18], fcr=[50, 62]),
        fixed_cell(["unknown"], 7, nps=[1, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2], csat=[0, 1, 1, 2, 1],
                   ces=[0, 0, 1, 1, 1, 1, 0], fcr=[3, 5]),
        fixed_cell(["legacy"], 5, nps=[0, 0, 0, 0, 0, 1, 1, 1, 0, 1, 1], csat=[0, 0, 1, 1, 1],
                   ces=[0, 0, 0, 1, 1, 1, 0], fcr=[2, 4]),
    ],
})

# 4. Two attributes, every combination present.
DATASETS.append({
    "name": "rake_segment_region",
    "method": "rake",
    "margins": [
        margin("segment", [("smb", 6200), ("mid_market", 2900), ("enterprise", 900)]),
        margin("region", [("na", 4800), ("eu", 3700), ("apac", 1500)]),
    ],
    "cells": generated_cells(
        202, {"segment": ["smb", "mid_market", "enterprise"], "region": ["na", "eu", "apac"]},
        {"segment": {"smb": 0.3, "mid_market": 0.3, "enterprise": 0.4},
         "region": {"na": 0.6, "eu": 0.3, "apac": 0.1}},
        {"segment": {"smb": -0.8, "enterprise": 0.8}, "region": {"apac": -0.6}}, 600),
})

# 5. Three attributes with structural zeros (absent combinations).
DATASETS.append({
    "name": "rake_three_attributes",
    "method": "rake",
    "margins": [
        margin("segment", [("smb", 0.55), ("mid_market", 0.30), ("enterprise", 0.15)]),
        margin("region", [("na", 0.45), ("eu", 0.35), ("apac", 0.20)]),
        margin("plan", [("monthly", 0.7), ("annual", 0.3)]),
    ],
    "cells": generated_cells(
        303, {"segment": ["smb", "mid_market", "enterprise"], "region": ["na", "eu", "apac"],
              "plan": ["monthly", "annual"]},
        {"segment": {"smb": 0.3, "mid_market": 0.35, "enterprise": 0.35},
         "region": {"na": 0.5, "eu": 0.3, "apac": 0.2},
         "plan": {"monthly": 0.4, "annual": 0.6}},
        {"segment": {"smb": -0.5, "enterprise": 0.7}, "plan": {"annual": 0.5}}, 900,
        drop={("enterprise", "apac", "monthly"), ("smb", "apac", "annual")}),
})

# 6. Two attributes, region "latam" has customers but no respondents.
DATASETS.append({
    "name": "rake_empty_category",
    "method": "rake",
    "margins": [
        margin("segment", [("smb", 600), ("enterprise", 400)]),
        margin("region", [("na", 500), ("eu", 350), ("latam", 150)]),
    ],
    "cells": generated_cells(
        404, {"segment": ["smb", "enterprise"], "region": ["na", "eu"]},
        {"segment": {"smb": 0.35, "enterprise": 0.65}, "region": {"na": 0.7, "eu": 0.3}},
        {"segment": {"smb": -0.7}}, 300),
})

# 7. Respondents already in proportion: every weight 1 (ties), no test.
DATASETS.append({
    "name": "rake_already_in_proportion",
    "method": "rake",
    "margins": [
        margin("segment", [("smb", 600), ("enterprise", 400)]),
        margin("region", [("na", 500), ("eu", 500)]),
    ],
    "cells": [
        fixed_cell(["smb", "na"], 30, nps=[1, 1, 1, 2, 2, 2, 3, 4, 4, 5, 5], csat=[1, 2, 3, 10, 14],
                   ces=[1, 2, 3, 4, 8, 7, 5], fcr=[20, 30]),
        fixed_cell(["smb", "eu"], 30, nps=[0, 1, 1, 1, 2, 3, 3, 4, 5, 5, 5], csat=[2, 2, 4, 9, 13],
                   ces=[1, 1, 3, 5, 9, 6, 5], fcr=[18, 30]),
        fixed_cell(["enterprise", "na"], 20, nps=[0, 0, 1, 1, 1, 1, 2, 3, 3, 4, 4], csat=[0, 1, 3, 7, 9],
                   ces=[0, 1, 2, 3, 5, 5, 4], fcr=[15, 20]),
        fixed_cell(["enterprise", "eu"], 20, nps=[0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4], csat=[1, 1, 2, 6, 10],
                   ces=[0, 0, 2, 4, 5, 5, 4], fcr=[14, 20]),
    ],
})

# 8. Zero variance in the answers: every NPS a 10, every CES a 7, every
#    CSAT a 5, every FCR yes; unequal weights.
DATASETS.append({
    "name": "rake_zero_variance_answers",
    "method": "rake",
    "margins": [
        margin("segment", [("smb", 800), ("enterprise", 200)]),
        margin("region", [("na", 300), ("eu", 700)]),
    ],
    "cells": [
        fixed_cell(["smb", "na"], 12, nps=[0] * 10 + [12], csat=[0, 0, 0, 0, 9], ces=[0] * 6 + [6], fcr=[8, 8]),
        fixed_cell(["smb", "eu"], 5, nps=[0] * 10 + [5], csat=[0, 0, 0, 0, 4], ces=[0] * 6 + [3], fcr=[2, 2]),
        fixed_cell(["enterprise", "na"], 20, nps=[0] * 10 + [18], csat=[0, 0, 0, 0, 15], ces=[0] * 6 + [10],
                   fcr=[12, 12]),
        fixed_cell(["enterprise", "eu"], 9, nps=[0] * 10 + [9], csat=[0, 0, 0, 0, 6], ces=[0] * 6 + [5], fcr=[5, 5]),
    ],
})

# 9. Margins the cells cannot reproduce (only the diagonal combinations
#    answered): raking oscillates and stops after 1000 sweeps.
DATASETS.append({
    "name": "rake_cannot_converge",
    "method": "rake",
    "margins": [
        margin("segment", [("smb", 500), ("enterprise", 500)]),
        margin("region", [("na", 300), ("eu", 700)]),
    ],
    "cells": [
        fixed_cell(["smb", "na"], 40, nps=[2, 2, 2, 2, 2, 2, 4, 6, 6, 6, 6], csat=[2, 4, 8, 12, 14],
                   ces=[2, 2, 4, 8, 10, 8, 6], fcr=[25, 40]),
        fixed_cell(["enterprise", "eu"], 60, nps=[0, 0, 1, 1, 2, 2, 4, 10, 12, 14, 14], csat=[1, 2, 6, 20, 31],
                   ces=[0, 1, 2, 5, 14, 20, 18], fcr=[50, 60]),
    ],
})

# 10. Tiny raking: single respondents per cell (n_eff close to 1 per metric).
DATASETS.append({
    "name": "rake_tiny",
    "method": "rake",
    "margins": [
        margin("segment", [("smb", 900), ("enterprise", 100)]),
        margin("region", [("na", 400), ("eu", 600)]),
    ],
    "cells": [
        fixed_cell(["smb", "na"], 1, nps=[0] * 9 + [1, 0], csat=[0, 0, 0, 1, 0], ces=[0, 0, 0, 0, 1, 0, 0], fcr=[0, 1]),
        fixed_cell(["smb", "eu"], 1, nps=[0, 0, 1] + [0] * 8, csat=[0, 1, 0, 0, 0], ces=[0, 1, 0, 0, 0, 0, 0]),
        fixed_cell(["enterprise", "na"], 1, nps=[0] * 10 + [1], csat=[0, 0, 0, 0, 1], fcr=[1, 1]),
        fixed_cell(["enterprise", "eu"], 2, nps=[0] * 7 + [1, 0, 0, 1], ces=[0, 0, 0, 0, 0, 1, 1], fcr=[1, 2]),
    ],
})


# ---------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------

def categories_of(dataset):
    """Per attribute: [(name, normalised share)], margin order then
    respondent-only values in order of first appearance."""
    out = []
    for a, m in enumerate(dataset["margins"]):
        total = sum(v for _, v in m["population"])
        cats = [(k, v / total) for k, v in m["population"]]
        known = {k for k, _ in cats}
        for cell in dataset["cells"]:
            value = cell["values"][a]
            if value not in known:
                known.add(value)
                cats.append((value, 0.0))
        out.append(cats)
    return out


def weights_for(dataset):
    cells = dataset["cells"]
    cats = categories_of(dataset)
    share = [dict(c) for c in cats]
    weightable = [c["respondents"] > 0 and all(share[a][v] > 0 for a, v in enumerate(c["values"]))
                  for c in cells]
    statuses = []
    kept = []  # per attribute: represented categories in order
    targets = []
    for a, list_ in enumerate(cats):
        any_resp = {c["values"][a] for c in cells if c["respondents"] > 0}
        live = {c["values"][a] for c, w in zip(cells, weightable) if w}
        status = {}
        for name, s in list_:
            if s > 0 and name in live:
                status[name] = "represented"
            elif s > 0:
                status[name] = "not_represented"
            elif name in any_resp:
                status[name] = "not_in_population"
            else:
                status[name] = "unused"
        statuses.append(status)
        represented = [(n, s) for n, s in list_ if status[n] == "represented"]
        total = sum(s for _, s in represented)
        kept.append([n for n, _ in represented])
        targets.append({n: (s / total if status[n] == "represented" else 0.0) for n, s in list_})
    n_live = sum(c["respondents"] for c, w in zip(cells, weightable) if w)

    # Full table of respondent counts over the represented categories.
    shape = tuple(len(k) for k in kept)
    table = np.zeros(shape)
    index = {}
    for i, (c, w) in enumerate(zip(cells, weightable)):
        if w:
            idx = tuple(kept[a].index(v) for a, v in enumerate(c["values"]))
            table[idx] += c["respondents"]
            index[i] = idx
    aggregates = [np.array([targets[a][n] * n_live for n in kept[a]]) for a in range(len(kept))]
    dims = [[a] for a in range(len(kept))]
    cannot_converge = dataset["name"] == "rake_cannot_converge"
    with contextlib.redirect_stdout(io.StringIO()):
        if dataset["name"] == "rake_cannot_converge":
            # Exactly MAX_RAKING_ITERATIONS sweeps (ipfn runs max_iteration + 1),
            # never stopping on a stalled rate.
            fitted, ok = ipfn(table.copy(), aggregates, dims, convergence_rate=1e-14,
                              max_iteration=MAX_RAKING_ITERATIONS - 1, verbose=1,
                              rate_tolerance=-1.0).iteration()
        else:
            fitted, ok = ipfn(table.copy(), aggregates, dims, convergence_rate=1e-13,
                              max_iteration=10000, verbose=1, rate_tolerance=0.0).iteration()
    assert bool(ok) != cannot_converge, dataset["name"]
    weights = []
    for i, c in enumerate(cells):
        weights.append(float(fitted[index[i]] / table[index[i]] * 1.0) if i in index else 0.0)
    # Each cell is alone in its table slot here (distinct value combinations).
    assert len(set(index.values())) == len(index)

    # Margin fit on the shares.
    total_w = sum(w * c["respondents"] for w, c in zip(weights, cells))
    max_err = 0.0
    for a in range(len(cats)):
        for name, _ in cats[a]:
            got = sum(w * c["respondents"] for w, c in zip(weights, cells) if c["values"][a] == name) / total_w
            max_err = max(max_err, abs(got - targets[a][name]))
    converged = max_err <= RAKING_TOLERANCE

    # Post-stratification: IPF on one attribute equals the closed form.
    if dataset["method"] == "post_stratify":
        n_g = {n: sum(c["respondents"] for c, w in zip(cells, weightable) if w and c["values"][0] == n)
               for n in kept[0]}
        for i, c in enumerate(cells):
            closed = (targets[0][c["values"][0]] / (n_g[c["values"][0]] / n_live)) if weightable[i] else 0.0
            assert math.isclose(closed, weights[i], rel_tol=1e-12, abs_tol=1e-15), (closed, weights[i])
    return {
        "weights": [f(w) for w in weights],
        "converged": converged,
        "max_margin_error_below": f(max(max_err * 10, 1e-12)) if converged else None,
        "statuses": [[[n, statuses[a][n]] for n, _ in cats[a]] for a in range(len(cats))],
        "target_shares": [[[n, f(targets[a][n])] for n, _ in cats[a]] for a in range(len(cats))],
        "requested_margins_converge_with_ipfn": requested_margins_converge(dataset, table, kept, cats, n_live),
    }


def requested_margins_converge(dataset, table, kept, cats, n_live):
    """ipfn on the margins as requested, when some category has customers
    but no respondent (a zero slice): it cannot converge."""
    share = [dict(c) for c in cats]
    missing = [[n for n, s in cats[a] if s > 0 and n not in kept[a]] for a in range(len(cats))]
    if not any(missing):
        return None
    full = []
    for a in range(len(cats)):
        full.append(kept[a] + missing[a])
    big = np.zeros(tuple(len(x) for x in full))
    big[tuple(slice(0, len(k)) for k in kept)] = table
    aggregates = [np.array([share[a][n] * n_live for n in full[a]]) for a in range(len(full))]
    with contextlib.redirect_stdout(io.StringIO()):
        # rate_tolerance < 0: stop only on convergence or after the sweeps.
        _, ok = ipfn(big, aggregates, [[a] for a in range(len(full))], convergence_rate=1e-10,
                     max_iteration=MAX_RAKING_ITERATIONS - 1, verbose=1, rate_tolerance=-1.0).iteration()
    return bool(ok)  # expected False


# ---------------------------------------------------------------------------
# Weighted metrics
# ---------------------------------------------------------------------------

def levels(metric, cell):
    """(y, count) per answer level, as Rust's answer_levels."""
    if metric == "nps":
        c = cell["nps"]
        return [(1.0, c[9] + c[10]), (0.0, c[7] + c[8]), (-1.0, sum(c[:7]))]
    if metric == "csat":
        c = cell["csat"]
        return [(1.0, c[3] + c[4]), (0.0, sum(c[:3]))]
    if metric == "ces":
        return [(float(k + 1), n) for k, n in enumerate(cell["ces"])]
    s, t = cell["fcr"]
    return [(1.0, s), (0.0, t - s)]


def expanded(metric, cells, weights):
    ys, ws = [], []
    for cell, w in zip(cells, weights):
        for y, n in levels(metric, cell):
            ys.extend([y] * n)
            ws.extend([w] * n)
    return np.array(ys, dtype=float), np.array(ws, dtype=float)


def weighted_metric(metric, cells, weights):
    y_all, w_all = expanded(metric, cells, weights)
    positive = w_all > 0
    y, w = y_all[positive], w_all[positive]
    out = {"answers": int(positive.sum())}
    if w.sum() <= 0:
        out.update({"value": None, "ci_low": None, "ci_high": None, "effective_n": None})
    else:
        n_eff = w.sum() ** 2 / (w ** 2).sum()  # Kish (1965)
        out["effective_n"] = f(n_eff)
        if metric == "nps":
            p = DescrStatsW((y == 1.0).astype(float), weights=w).mean
            d = DescrStatsW((y == -1.0).astype(float), weights=w).mean
            value = 100.0 * (p - d)
            n_adj = n_eff + 3.0
            pa = (p * n_eff + 0.75) / n_adj
            da = (d * n_eff + 0.75) / n_adj
            var = (pa + da - (pa - da) ** 2) / n_adj
            half = Z * math.sqrt(max(var, 0.0))
            lo = 100.0 * float(np.clip(pa - da - half, -1, 1))
            hi = 100.0 * float(np.clip(pa - da + half, -1, 1))
            # Not shown when it misses the estimate (a rounding-level
            # miss at +-100 does not count).
            shown = lo - 1e-9 <= value <= hi + 1e-9
            out.update({"value": f(value), "ci_low": f(lo) if shown else None, "ci_high": f(hi) if shown else None})
        elif metric in ("csat", "fcr"):
            p = DescrStatsW(y, weights=w).mean
            lo, hi = proportion_confint(p * n_eff, n_eff, alpha=ALPHA, method="wilson")
            out.update({"value": f(100 * p), "ci_low": f(100 * max(lo, 0.0)), "ci_high": f(100 * min(hi, 1.0))})
        else:
            d = DescrStatsW(y, weights=w)
            mean = d.mean
            if n_eff > 1.0:
                s2 = d.var * n_eff / (n_eff - 1.0)  # DescrStatsW.var: ddof = 0
                t = st.t.ppf(1 - ALPHA / 2, n_eff - 1.0)
                half = t * math.sqrt(s2 / n_eff)
                out.update({"value": f(mean), "ci_low": f(np.clip(mean - half, 1, 7)),
                            "ci_high": f(np.clip(mean + half, 1, 7))})
            else:
                out.update({"value": f(mean), "ci_low": None, "ci_high": None})
            if np.allclose(w, w[0]) and len(w) >= 2 and d.var > 0:
                # Equal weights: the same as the raw t interval.
                lo_raw, hi_raw = DescrStatsW(y).tconfint_mean(alpha=ALPHA)
                assert math.isclose(lo_raw, mean - half, rel_tol=1e-9, abs_tol=1e-9)
    # DuMouchel & Duncan (1983): OLS of y on (1, w) over all answers.
    test = None
    n = len(y_all)
    if n >= 3:
        mean_w = w_all.mean()
        equal = ((w_all - mean_w) ** 2).sum() <= n * (1e-9 * mean_w) ** 2
        if not equal and np.var(y_all) > 0:
            fit = sm.OLS(y_all, sm.add_constant(w_all, has_constant="add")).fit()
            test = {"t": f(fit.tvalues[1]), "degrees_of_freedom": f(fit.df_resid), "p_value": f(fit.pvalues[1])}
    out["test"] = test
    return out


def section_weighting():
    out = []
    for ds in DATASETS:
        fit = weights_for(ds)
        metrics = {m: weighted_metric(m, ds["cells"], fit["weights"]) for m in ("nps", "csat", "ces", "fcr")}
        out.append({
            "name": ds["name"],
            "method": ds["method"],
            "margins": ds["margins"],
            "cells": ds["cells"],
            "expected": fit,
            "metrics": metrics,
        })
    names = {d["name"]: d for d in out}
    # The empty-category case: ipfn on the requested margins fails.
    assert names["rake_empty_category"]["expected"]["requested_margins_converge_with_ipfn"] is False
    assert names["post_stratify_empty_and_unknown"]["expected"]["requested_margins_converge_with_ipfn"] is False
    assert names["rake_cannot_converge"]["expected"]["converged"] is False
    # At least one realistic case where weighting matters significantly.
    assert any(m["test"] and m["test"]["p_value"] < 0.05 and m["answers"] >= 30
               for d in out for m in d["metrics"].values())
    return out


def section_kish():
    """Kish's n_eff for (count, weight) lists, by the formula."""
    cases = [
        [(1, 1.0)],
        [(10, 1.0)],
        [(5, 2.0), (5, 2.0)],
        [(3, 0.5), (7, 1.5)],
        [(1, 1e-6), (1, 1.0)],
        [(100, 0.2), (50, 3.0), (10, 7.5), (0, 4.0)],
    ]
    out = []
    for case in cases:
        w = np.repeat([wt for _, wt in case], [c for c, _ in case])
        out.append({"counts_and_weights": [[c, wt] for c, wt in case], "effective_n": f(w.sum() ** 2 / (w ** 2).sum())})
    return out


# ---------------------------------------------------------------------------
# Revenue at risk
# ---------------------------------------------------------------------------

ASSUMED = {"promoters": 0.05, "passives": 0.10, "detractors": 0.20}
MIN_FLAGS = 30

REVENUE_CASES = [
    # name, {group: (customers, churn_known, churned, value_known, value_sum)}
    ("measured_all", {"promoters": (500, 400, 20, 480, 2_400_000.0),
                      "passives": (300, 250, 25, 290, 1_305_000.0),
                      "detractors": (200, 160, 40, 190, 760_000.0)}),
    ("detractors_churn_less", {"promoters": (100, 80, 16, 100, 500_000.0),
                               "passives": (100, 90, 9, 100, 400_000.0),
                               "detractors": (60, 50, 5, 50, 150_000.0)}),
    ("few_flags_assumed", {"promoters": (120, 10, 1, 100, 600_000.0),
                           "passives": (80, 40, 6, 80, 320_000.0),
                           "detractors": (50, 12, 5, 40, 120_000.0)}),
    ("no_churn_at_all", {"promoters": (60, 40, 0, 60, 60_000.0),
                         "passives": (40, 35, 0, 40, 40_000.0),
                         "detractors": (30, 30, 0, 30, 30_000.0)}),
    ("everyone_churned", {"promoters": (40, 40, 40, 40, 4_000.0),
                          "passives": (40, 40, 40, 40, 4_000.0),
                          "detractors": (40, 40, 40, 40, 4_000.0)}),
    ("large", {"promoters": (52_000, 50_000, 2_600, 51_000, 102_000_000.0),
               "passives": (31_000, 30_000, 2_700, 30_500, 54_900_000.0),
               "detractors": (17_000, 16_500, 3_300, 16_800, 25_200_000.0)}),
]


def churn(group, g):
    customers, known, churned, _, _ = g
    if known >= MIN_FLAGS:
        lo, hi = proportion_confint(churned, known, alpha=ALPHA, method="wilson")
        return {"source": "measured", "rate": f(churned / known), "ci_low": f(max(lo, 0.0)), "ci_high": f(min(hi, 1.0)),
                "count": churned, "nobs": known}
    r = ASSUMED[group]
    return {"source": "assumed", "rate": r, "ci_low": r, "ci_high": r}


def difference(a, b):
    """Newcombe's hybrid score interval: statsmodels when both measured."""
    d = a["rate"] - b["rate"]
    if a["source"] == "measured" and b["source"] == "measured":
        lo, hi = confint_proportions_2indep(a["count"], a["nobs"], b["count"], b["nobs"],
                                            method="newcomb", compare="diff", alpha=ALPHA)
        return f(lo), f(hi)
    # No package function with a fixed (assumed) rate: Newcombe (1998)
    # method 10 with a zero-width interval for the assumed side.
    lo = d - math.sqrt((a["rate"] - a["ci_low"]) ** 2 + (b["ci_high"] - b["rate"]) ** 2)
    hi = d + math.sqrt((a["ci_high"] - a["rate"]) ** 2 + (b["rate"] - b["ci_low"]) ** 2)
    return lo, hi


def section_revenue():
    out = []
    for name, groups in REVENUE_CASES:
        rates = {g: churn(g, groups[g]) for g in groups}
        d_customers, _, _, d_known, d_sum = groups["detractors"]
        customers = sum(g[0] for g in groups.values())
        mean_d = d_sum / d_known
        v_d = d_customers * mean_d
        diff = rates["detractors"]["rate"] - rates["promoters"]["rate"]
        lo, hi = difference(rates["detractors"], rates["promoters"])
        diff_pa = rates["detractors"]["rate"] - rates["passives"]["rate"]
        lo_pa, hi_pa = difference(rates["detractors"], rates["passives"])
        scale = 0.01 * customers * mean_d
        out.append({
            "name": name,
            "groups": {g: dict(zip(["customers", "churn_known", "churned", "value_known", "annual_value_sum"], v))
                       for g, v in groups.items()},
            "churn": {g: {k: v for k, v in r.items() if k not in ("count", "nobs")} for g, r in rates.items()},
            "detractor_annual_value": f(v_d),
            "revenue_at_risk": {"value": f(v_d * max(diff, 0)), "low": f(v_d * max(lo, 0)), "high": f(v_d * max(hi, 0)),
                                "difference_low": f(lo), "difference_high": f(hi)},
            "value_of_one_nps_point": {"value": f(scale * max(diff_pa, 0)), "low": f(scale * max(lo_pa, 0)),
                                       "high": f(scale * max(hi_pa, 0)),
                                       "difference_low": f(lo_pa), "difference_high": f(hi_pa)},
        })
    return out


def main():
    doc = {
        "generated_by": {
            "script": "tools/golden/make_golden_weighting.py",
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "statsmodels": statsmodels.__version__,
            "ipfn": importlib.metadata.version("ipfn"),
        },
        "confidence": CONFIDENCE,
        "raking_tolerance": RAKING_TOLERANCE,
        "max_raking_iterations": MAX_RAKING_ITERATIONS,
        "weighting": section_weighting(),
        "kish": section_kish(),
        "revenue": {"assumed_churn": ASSUMED, "min_churn_flags": MIN_FLAGS, "cases": section_revenue()},
    }
    print(json.dumps(doc, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
