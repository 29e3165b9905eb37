"""Golden business-case figures (crates/core/src/business_case.rs).

NPV: numpy-financial `npv(rate, values)` (year 0 undiscounted). ROI: (npv of
benefits - npv of costs) / npv of costs, each with numpy-financial. Payback:
numpy cumulative sums of the (optionally discounted) flows, interpolated
linearly within the year the sum turns non-negative.

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
    if cum[0] >= 0:
        return 0.0
    for t in range(1, len(cum)):
        if cum[t - 1] < 0 <= cum[t]:
            return float(t - 1 + (-cum[t - 1]) / flows[t])
    return None


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
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
