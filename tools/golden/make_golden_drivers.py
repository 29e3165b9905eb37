#!/usr/bin/env python3
"""Golden reference values for Northstar's key-driver analysis
(crates/core/src/drivers.rs: Johnson's relative weights from a moment summary,
with a normal-theory parametric (Wishart) bootstrap interval).

Regenerate (deterministic output, no timestamps):
    pip install numpy scipy statsmodels pandas relativeImp==0.0.2
    python3 tools/golden/make_golden_drivers.py > tools/golden/drivers.json

Each case holds the raw rows (outcome first, then the drivers; at most 2,000
rows), so the Rust test builds its own MomentSummary from them. References:

* r2: statsmodels OLS, ``sm.OLS(y, sm.add_constant(X)).fit().rsquared``.
* correlation: ``numpy.corrcoef``; means: ``numpy.mean``.
* raw / rescaled relative weights: Johnson (2000), "A heuristic method for
  estimating the relative weight of predictor variables in multiple
  regression", Multivariate Behavioral Research 35(1):1-19. Neither numpy,
  scipy, statsmodels nor scikit-learn has it. The small PyPI package
  ``relativeImp`` (0.0.2, function ``relativeImp.relativeImp``) implements
  Johnson's steps and is used as the reference wherever it works: it inverts
  the square-root matrix outright, so it fails (or gives NaN) when drivers
  are perfectly collinear. For those cases, and for the bootstrap replicates
  (matrices, not data frames), the weights come from ``johnson()`` below, a
  transcription of Johnson's published steps with ``numpy.linalg.eigh``
  (eigenvalues <= 1e-9 x the largest set to zero, pseudo-inverse, as
  documented in drivers.rs); the script asserts it agrees with relativeImp to
  1e-10 wherever both apply, and that the weights add up to statsmodels' R^2.
* bootstrap interval: ``scipy.stats.wishart(df=n-1, scale=S/(n-1))`` draws
  (S = ``numpy.cov`` of the rows), Johnson weights of each draw's correlation
  matrix, ``numpy.percentile(..., [2.5, 97.5])`` (linear interpolation), with
  B = 20,000. scipy's generator is not Rust's, so the two intervals agree only
  up to Monte Carlo error: each bound's Monte Carlo standard error is
  estimated here by resampling the B replicates (``mc_se``), and the Rust
  test allows 5 x sqrt(2) x mc_se (both sides draw B = 20,000).
* quadrant: the rule documented in drivers.rs (no package has it): importance
  (raw weight) above the median of the drivers' raw weights by more than
  1e-9, performance (mean) below the median of the drivers' means by more
  than 1e-9.
"""
import importlib.metadata
import json
import math
import platform
import warnings

import numpy as np
import pandas as pd
import scipy
import scipy.stats as st
import statsmodels
import statsmodels.api as sm
from relativeImp import relativeImp
from statsmodels.tools.sm_exceptions import SingularMatrixWarning

# Rank-deficient designs (the exact-duplicate case) are intended here.
warnings.simplefilter("ignore", SingularMatrixWarning)

REPLICATES = 20_000
EIGENVALUE_TOLERANCE = 1e-9
TIE = 1e-9
MC_RESAMPLES = 400


def f(x):
    x = float(x)
    assert math.isfinite(x), x
    return x


def johnson(r):
    """Johnson's raw weights and R^2 from correlation matrices r[..., p, p]
    (outcome first): Rxx = V L V', half = V L^1/2 V', beta = half^+ rxy,
    raw_j = sum_k half[j,k]^2 beta_k^2, R^2 = sum_k beta_k^2."""
    rxx = r[..., 1:, 1:]
    rxy = r[..., 1:, 0]
    lam, v = np.linalg.eigh(rxx)
    floor = EIGENVALUE_TOLERANCE * np.maximum(lam[..., -1:], 0.0)
    root = np.where(lam > floor, np.sqrt(np.where(lam > floor, lam, 1.0)), 0.0)
    inv_root = np.where(root > 0.0, 1.0 / np.where(root > 0.0, root, 1.0), 0.0)
    vt = np.swapaxes(v, -1, -2)
    half = (v * root[..., None, :]) @ vt
    beta = ((v * inv_root[..., None, :]) @ vt @ rxy[..., None])[..., 0]
    raw = ((half ** 2) @ (beta ** 2)[..., None])[..., 0]
    return raw, (beta ** 2).sum(axis=-1)


def corr_of(cov):
    d = np.sqrt(np.einsum("...ii->...i", cov))
    r = cov / d[..., :, None] / d[..., None, :]
    return np.clip(r, -1.0, 1.0)


def bootstrap(rows, seed):
    n = rows.shape[0]
    s = np.cov(rows, rowvar=False)
    rng = np.random.default_rng(seed)
    w = st.wishart(df=n - 1, scale=s / (n - 1)).rvs(REPLICATES, random_state=rng)
    if w.ndim == 0 or w.shape[-1] != rows.shape[1]:
        w = w.reshape(REPLICATES, rows.shape[1], rows.shape[1])
    raw, r2 = johnson(corr_of(w))
    draws = np.column_stack([raw, r2])  # B x (drivers + 1)
    bounds = np.percentile(draws, [2.5, 97.5], axis=0)
    # Monte Carlo standard error of each bound: resample the replicates.
    idx = rng.integers(0, REPLICATES, size=(MC_RESAMPLES, REPLICATES))
    again = np.percentile(draws[idx], [2.5, 97.5], axis=1)  # 2 x R x k
    se = again.std(axis=1, ddof=1)
    return bounds, se


def quadrants(raw, means):
    mi, mm = np.median(raw), np.median(means)
    out = []
    for w, m in zip(raw, means):
        high_importance = w - mi > TIE
        low_performance = mm - m > TIE
        out.append({(True, True): "fix_first", (True, False): "keep_up",
                    (False, True): "monitor", (False, False): "maintain"}
                   [(bool(high_importance), bool(low_performance))])
    return out


def ratings(latent, centre, spread, low, high):
    return np.clip(np.round(centre + spread * latent), low, high)


def correlated_normals(rng, n, k, rho):
    c = np.full((k, k), rho)
    np.fill_diagonal(c, 1.0)
    return rng.multivariate_normal(np.zeros(k), c, size=n)


def survey(rng, n, coefs, rho, outcome_scale, noise=0.8, centres=None):
    """Discrete 1-5 drivers and an outcome (0-10 or 1-5) from a latent linear
    model, rounded and clipped like real ratings."""
    z = correlated_normals(rng, n, len(coefs), rho)
    latent = z @ np.asarray(coefs) + rng.normal(0.0, noise, n)
    centres = np.full(len(coefs), 3.6) if centres is None else np.asarray(centres)
    x = ratings(z, centres, 1.0, 1, 5)
    if outcome_scale == "nps":
        y = ratings(latent / latent.std(), 7.3, 2.1, 0, 10)
    else:
        y = ratings(latent / latent.std(), 3.7, 1.0, 1, 5)
    return np.column_stack([y, x])


def make_cases():
    cases = []
    rng = np.random.default_rng(20000101)

    def add(name, outcome, drivers, rows, note, bootstrap_ok=True, error=None):
        cases.append(dict(name=name, outcome=outcome, drivers=drivers,
                          rows=np.asarray(rows, dtype=float), note=note,
                          bootstrap_ok=bootstrap_ok, error=error))

    add("two_drivers_csat", "csat", ["delivery", "support"],
        survey(rng, 150, [0.7, 0.3], 0.3, "csat"),
        "2 discrete drivers, CSAT 1-5 outcome, n = 150")
    add("five_drivers_nps", "nps", ["delivery", "support", "price", "quality", "app"],
        survey(rng, 2000, [0.55, 0.35, 0.2, 0.1, 0.02], 0.45, "nps",
               centres=[3.9, 3.3, 2.9, 4.2, 3.6]),
        "realistic: 5 discrete 1-5 drivers, NPS 0-10 outcome, n = 2000, one near-zero driver")
    z = correlated_normals(rng, 400, 5, 0.2)
    y = z @ np.array([0.5, -0.3, 0.2, 0.0, 0.4]) + rng.normal(0, 1.0, 400)
    add("five_drivers_continuous", "score", ["a", "b", "c", "d", "e"],
        np.round(np.column_stack([y, z]), 4),
        "continuous (4-decimal) data, a negative and a null effect, n = 400")
    base = rng.normal(0, 1, 600)
    a = base + rng.normal(0, 0.12, 600)
    b = base + rng.normal(0, 0.12, 600)
    c = rng.normal(0, 1, 600)
    y = 0.6 * a + 0.2 * b + 0.4 * c + rng.normal(0, 1, 600)
    add("collinear_ish", "score", ["speed", "timeliness", "price"],
        np.round(np.column_stack([y, a, b, c]), 4),
        "two drivers correlated about 0.985 (smallest eigenvalue ~0.015), n = 600")
    rows = survey(rng, 300, [0.6, 0.3], 0.3, "nps")
    add("exact_duplicate", "nps", ["delivery", "delivery_copy", "support"],
        np.column_stack([rows[:, 0], rows[:, 1], rows[:, 1], rows[:, 2]]),
        "a driver duplicated exactly: singular R_xx, the copies split the weight "
        "(relativeImp and scipy.stats.wishart cannot take it: point values only)",
        bootstrap_ok=False)
    add("one_driver", "csat", ["support"], survey(rng, 60, [0.8], 0.0, "csat"),
        "p = 1: the weight is r^2")
    add("tiny_n", "csat", ["delivery", "support"],
        [[5, 4, 5], [3, 2, 4], [4, 4, 3], [1, 1, 2], [4, 5, 2]],
        "n = 5 = variables + 2, the fewest rows accepted")
    half = survey(rng, 100, [0.5, 0.5, 0.2], 0.3, "nps")
    swapped = half[:, [0, 2, 1, 3]]
    add("ties_symmetric", "nps", ["delivery", "support", "price"],
        np.vstack([half, swapped]),
        "rows repeated with drivers 1 and 2 swapped: their weights and means tie exactly")
    rows = survey(rng, 200, [0.6, 0.3], 0.3, "csat")
    add("constant_driver", "csat", ["delivery", "price", "support"],
        np.column_stack([rows[:, 0], rows[:, 1], np.full(200, 4.0), rows[:, 2]]),
        "price rated 4 by everyone: left out and listed as constant")
    x = rng.integers(1, 6, size=(80, 2)).astype(float)
    add("perfect_fit", "score", ["a", "b"], np.column_stack([x.sum(axis=1), x]),
        "outcome = a + b exactly: R^2 = 1, singular full correlation matrix (point values only)",
        bootstrap_ok=False)
    add("constant_outcome", "csat", ["delivery", "support"],
        [[4, 1, 2], [4, 2, 5], [4, 3, 3], [4, 5, 1], [4, 2, 2], [4, 4, 4]],
        "everyone gave the same outcome rating", error="zero_variance_outcome")
    add("too_few_rows", "csat", ["delivery", "support"],
        [[4, 1, 2], [5, 2, 5], [3, 3, 3], [2, 5, 1]],
        "n = 4 < variables + 2 = 5", error="too_few_rows")
    add("no_varying_driver", "csat", ["delivery", "support"],
        [[4, 3, 2], [5, 3, 2], [3, 3, 2], [2, 3, 2], [1, 3, 2], [5, 3, 2]],
        "every driver rated the same by everyone", error="no_varying_driver")
    return cases


def solve(case, seed):
    rows = case["rows"]
    drivers = case["drivers"]
    out = {"name": case["name"], "note": case["note"], "outcome": case["outcome"],
           "drivers": drivers, "rows": rows.tolist()}
    if case["error"]:
        out["error"] = case["error"]
        return out
    varying = [j for j in range(len(drivers)) if np.var(rows[:, 1 + j]) > 0]
    constant = [drivers[j] for j in range(len(drivers)) if j not in varying]
    kept = rows[:, [0] + [1 + j for j in varying]]
    names = [drivers[j] for j in varying]
    y, x = kept[:, 0], kept[:, 1:]
    r2 = sm.OLS(y, sm.add_constant(x)).fit().rsquared
    if constant:
        # With the constant columns left in, OLS (pinv) gives the same R^2.
        full = sm.OLS(rows[:, 0], sm.add_constant(rows[:, 1:], has_constant="add")).fit()
        assert abs(full.rsquared - r2) < 1e-10
    corr = np.corrcoef(kept, rowvar=False)
    raw, r2_johnson = johnson(corr)
    assert abs(raw.sum() - r2) < 1e-10, (case["name"], raw.sum(), r2)
    assert abs(r2_johnson - r2) < 1e-10
    frame = pd.DataFrame(kept, columns=["outcome"] + names)
    lam = np.linalg.eigvalsh(corr[1:, 1:])
    singular = lam[0] <= EIGENVALUE_TOLERANCE * lam[-1]
    try:
        if singular:
            raise np.linalg.LinAlgError("singular R_xx")
        with np.errstate(all="ignore"):
            ref = relativeImp(frame, "outcome", list(names))
        package_raw = ref["rawRelaImpt"].to_numpy(dtype=float)
        package_ok = bool(np.all(np.isfinite(package_raw))) and np.allclose(
            package_raw.sum(), r2, atol=1e-10)
    except (np.linalg.LinAlgError, TypeError, ValueError):
        package_ok = False
    if package_ok:
        assert np.allclose(package_raw, raw, atol=1e-10, rtol=0), (package_raw, raw)
        raw = package_raw
        rescaled = ref["normRelaImpt"].to_numpy(dtype=float)
        source = "relativeImp.relativeImp"
    else:
        rescaled = 100.0 * raw / r2
        source = "johnson() transcription (relativeImp cannot invert a singular matrix)"
    if case["name"] == "one_driver":
        assert abs(raw[0] - st.pearsonr(y, x[:, 0]).statistic ** 2) < 1e-12
    means = kept[:, 1:].mean(axis=0)
    quads = quadrants(raw, means)
    out.update({
        "n": int(rows.shape[0]),
        "constant_drivers": constant,
        "r2": f(r2),
        "correlation": [[f(v) for v in row] for row in corr],
        "weights_from": source,
        "weights": [
            {"name": names[j], "raw_weight": f(raw[j]), "rescaled_pct": f(rescaled[j]),
             "mean": f(means[j]), "quadrant": quads[j]}
            for j in range(len(names))
        ],
    })
    if case["bootstrap_ok"]:
        bounds, se = bootstrap(kept, seed)
        for j, w in enumerate(out["weights"]):
            w.update({"ci_low": f(bounds[0, j]), "ci_high": f(bounds[1, j]),
                      "ci_low_mc_se": f(se[0, j]), "ci_high_mc_se": f(se[1, j])})
        out["r2_interval"] = {"ci_low": f(bounds[0, -1]), "ci_high": f(bounds[1, -1]),
                              "ci_low_mc_se": f(se[0, -1]), "ci_high_mc_se": f(se[1, -1])}
    return out


def main():
    cases = [solve(c, 1000 + i) for i, c in enumerate(make_cases())]
    doc = {
        "generated_by": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "statsmodels": statsmodels.__version__,
            "pandas": pd.__version__,
            "relativeImp": importlib.metadata.version("relativeImp"),
            "script": "tools/golden/make_golden_drivers.py",
        },
        "confidence": 0.95,
        "bootstrap_replicates": REPLICATES,
        "mc_tolerance_factor": 5.0 * math.sqrt(2.0),
        "eigenvalue_tolerance": EIGENVALUE_TOLERANCE,
        "cases": cases,
    }
    print(json.dumps(doc, indent=1, sort_keys=False))


if __name__ == "__main__":
    main()
