"""Golden business-case figures (crates/core/src/business_case.rs).

NPV: numpy-financial `npv(rate, values)` (year 0 undiscounted). ROI: (npv of
benefits - npv of costs) / npv of costs, each with numpy-financial. Payback:
numpy cumulative sums of the (optionally discounted) flows, interpolated
linearly within the year the sum turns non-negative.

Whole cases (`business_case::evaluate`): yearly flows = explicit cash flows
+ lines (scale x product of assumptions) per year; NPV of each scenario with
numpy-financial; the tornado moves one assumption to its low and high; the
break-even effect is found with scipy.optimize.brentq on NPV(effect) = 0
(independent of the closed form the Rust code uses).

Regenerate (deterministic output):
    pip install numpy-financial
    python3 tools/golden/make_golden_business_case.py > tools/golden/business_case.json
"""

import json
import sys

import numpy as np
import numpy_financial as npf

CASES = [
    # rate, costs by year, benefits by year
    (0.08, [40_000, 0, 0, 0, 0], [0, 5_000, 8_000, 12_000, 30_000]),
    (0.10, [120_000, 20_000, 20_000, 20_000], [0, 60_000, 80_000, 90_000]),
    (0.00, [1_000, 0, 0], [0, 400, 700]),
    (0.05, [10_000, 10_000, 0, 0, 0, 0], [0, 0, 3_000, 6_000, 6_000, 6_000]),
    (0.12, [50_000, 5_000, 5_000], [0, 10_000, 10_000]),
    (-0.02, [500, 0], [0, 600]),
    (0.07, [0, 0, 0], [100, 100, 100]),
]


def payback(flows, rate):
    flows = np.asarray(flows, dtype=float)
    if rate is not None:
        flows = flows / (1 + rate) ** np.arange(len(flows))
    cum = np.cumsum(flows)
    for t in range(1, len(cum)):
        if cum[t - 1] < 0 <= cum[t]:
            return float(t - 1 + (-cum[t - 1]) / flows[t])
    # Never below zero: paid back at once (a zero year 0 followed by
    # costs is not).
    return 0.0 if (cum >= 0).all() else None


# A whole case: explicit flows, assumptions (key, value, low, high), lines
# (kind, factors, scale, from_year, to_year or None), the effect key.
WHOLE = [
    {
        "discount_rate": 0.08,
        "cash_flows": [
            {"year": 0, "cost": 150_000, "benefit": 0},
            {"year": 1, "cost": 40_000, "benefit": 0},
            {"year": 2, "cost": 40_000, "benefit": 0},
            {"year": 3, "cost": 40_000, "benefit": 0},
        ],
        "assumptions": [
            ("nps_effect", 6.0, 2.0, 9.0),
            ("customers", 1_200.0, 1_200.0, 1_200.0),
            ("churn_gap", 0.12, 0.08, 0.16),
            ("annual_value", 48_000.0, 44_000.0, 52_000.0),
            ("calls_avoided", 3_000.0, 1_000.0, 5_000.0),
            ("cost_per_call", 7.5, 6.0, 9.0),
            ("cost_overrun", 20_000.0, 0.0, 60_000.0),
        ],
        "lines": [
            ("benefit", ["nps_effect", "customers", "churn_gap", "annual_value"], 0.01, 1, None),
            ("benefit", ["calls_avoided", "cost_per_call"], 1.0, 1, None),
            ("cost", ["cost_overrun"], 1.0, 0, 0),
        ],
        "effect": "nps_effect",
    },
    {
        "discount_rate": 0.10,
        "cash_flows": [
            {"year": 0, "cost": 500_000, "benefit": 0},
            {"year": 5, "cost": 0, "benefit": 0},
        ],
        "assumptions": [
            ("lift", 0.02, -0.01, 0.05),
            ("base_revenue", 3_000_000.0, 2_500_000.0, 3_500_000.0),
        ],
        "lines": [("benefit", ["lift", "base_revenue"], 1.0, 1, None)],
        "effect": "lift",
    },
]


def whole_flows(case, values):
    last = max([f["year"] for f in case["cash_flows"]] + [l[4] or 0 for l in case["lines"]])
    cost = np.zeros(last + 1)
    benefit = np.zeros(last + 1)
    for f in case["cash_flows"]:
        cost[f["year"]] += f["cost"]
        benefit[f["year"]] += f["benefit"]
    for kind, factors, scale, start, end in case["lines"]:
        amount = scale * float(np.prod([values[k] for k in factors]))
        for t in range(start, (last if end is None else end) + 1):
            (cost if kind == "cost" else benefit)[t] += amount
    return cost, benefit


def whole_npv(case, values):
    cost, benefit = whole_flows(case, values)
    return float(npf.npv(case["discount_rate"], benefit - cost))


def whole(case):
    from scipy.optimize import brentq

    base = {k: v for k, v, _, _ in case["assumptions"]}
    tornado = []
    for k, _, lo, hi in case["assumptions"]:
        at_lo = whole_npv(case, {**base, k: lo})
        at_hi = whole_npv(case, {**base, k: hi})
        tornado.append({"key": k, "npv_at_low": at_lo, "npv_at_high": at_hi})
    # Scenarios: the lowest and highest NPV over every corner of the box of
    # ranges (brute force over all assumptions, whether or not they matter).
    import itertools

    corners = [
        whole_npv(case, dict(zip([a[0] for a in case["assumptions"]], ends)))
        for ends in itertools.product(*[(lo, hi) for _, _, lo, hi in case["assumptions"]])
    ]
    cost, benefit = whole_flows(case, base)
    eff = case["effect"]
    f = lambda e: whole_npv(case, {**base, eff: e})
    return {
        "input": {
            "name": "golden",
            "discount_rate": case["discount_rate"],
            "cash_flows": case["cash_flows"],
            "assumptions": [
                {
                    "key": k, "name": k, "value": v, "low": lo, "high": hi,
                    "source": {"kind": "estimate", "owner": "golden"}, "as_of": "2026-12-01",
                }
                for k, v, lo, hi in case["assumptions"]
            ],
            "lines": [
                {"name": "+".join(fs), "kind": kind, "factors": fs, "scale": sc, "from_year": st, "to_year": en}
                for kind, fs, sc, st, en in case["lines"]
            ],
            "effect": eff,
        },
        "npv": whole_npv(case, base),
        "pv_costs": float(npf.npv(case["discount_rate"], cost)),
        "pv_benefits": float(npf.npv(case["discount_rate"], benefit)),
        "payback_years": payback(benefit - cost, None),
        "discounted_payback_years": payback(benefit - cost, case["discount_rate"]),
        "low_npv": min(corners),
        "high_npv": max(corners),
        "tornado": tornado,
        "break_even": brentq(f, -1e6, 1e6, xtol=1e-12),
    }


def main():
    out = {
        "generated_by": {
            "script": "tools/golden/make_golden_business_case.py",
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "numpy_financial": npf.__version__,
        },
        "cases": [],
    }
    for rate, costs, benefits in CASES:
        net = [b - c for b, c in zip(benefits, costs)]
        pv_costs = float(npf.npv(rate, costs))
        pv_benefits = float(npf.npv(rate, benefits))
        out["cases"].append(
            {
                "rate": rate,
                "costs": costs,
                "benefits": benefits,
                "npv": float(npf.npv(rate, net)),
                "roi": (pv_benefits - pv_costs) / pv_costs if pv_costs > 0 else None,
                "payback_years": payback(net, None),
                "discounted_payback_years": payback(net, rate),
            }
        )
    import scipy

    out["generated_by"]["scipy"] = scipy.__version__
    out["whole"] = [whole(c) for c in WHOLE]
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
