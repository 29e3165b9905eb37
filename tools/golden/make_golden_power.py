"""Golden sample sizes for pilots (crates/core/src/power.rs).

Proportions (CSAT satisfied share, FCR): statsmodels
`proportion_effectsize(baseline + mde, baseline)` (Cohen's h) and
`NormalIndPower().solve_power(effect_size=h, alpha, power, ratio=1,
alternative="two-sided")`. NPS: the effect size mde/100 over the standard
deviation of one answer scored +1/0/-1, sqrt(p + d - (p - d)^2), into the
same `NormalIndPower` solve. The per-group size is the solution rounded up.

Regenerate (deterministic output):
    python3 tools/golden/make_golden_power.py > tools/golden/power.json
"""

import json
import math
import sys

import numpy
import scipy
import statsmodels
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

CASES_PROPORTION = [
    # baseline, mde, alpha, power
    (0.70, 0.05, 0.05, 0.80),
    (0.70, -0.05, 0.05, 0.80),
    (0.50, 0.10, 0.05, 0.90),
    (0.90, 0.05, 0.01, 0.80),
    (0.20, 0.02, 0.05, 0.80),
    (0.55, 0.30, 0.10, 0.95),
    (0.05, 0.01, 0.05, 0.80),
]
CASES_NPS = [
    # promoters, detractors, mde points, alpha, power
    (0.45, 0.20, 5.0, 0.05, 0.80),
    (0.45, 0.20, 10.0, 0.05, 0.80),
    (0.30, 0.30, 3.0, 0.05, 0.90),
    (0.60, 0.10, -8.0, 0.01, 0.80),
    (0.10, 0.70, 20.0, 0.10, 0.95),
]


def solve(effect, alpha, power):
    n = NormalIndPower().solve_power(
        effect_size=effect, alpha=alpha, power=power, ratio=1.0, alternative="two-sided"
    )
    n = float(numpy.asarray(n).item())
    return n, int(math.ceil(n - 1e-9))


def main():
    out = {
        "generated_by": {
            "script": "tools/golden/make_golden_power.py",
            "python": sys.version.split()[0],
            "numpy": numpy.__version__,
            "scipy": scipy.__version__,
            "statsmodels": statsmodels.__version__,
        },
        "proportion": [],
        "nps": [],
    }
    for baseline, mde, alpha, power in CASES_PROPORTION:
        h = float(proportion_effectsize(baseline + mde, baseline))
        n, n_per_group = solve(abs(h), alpha, power)
        out["proportion"].append(
            {
                "baseline": baseline, "mde": mde, "alpha": alpha, "power": power,
                "effect_size": abs(h), "n_exact": n, "n_per_group": n_per_group,
            }
        )
    for p, d, mde, alpha, power in CASES_NPS:
        sd = math.sqrt(p + d - (p - d) ** 2)
        effect = abs(mde) / 100.0 / sd
        n, n_per_group = solve(effect, alpha, power)
        out["nps"].append(
            {
                "promoters": p, "detractors": d, "mde": mde, "alpha": alpha, "power": power,
                "effect_size": effect, "n_exact": n, "n_per_group": n_per_group,
            }
        )
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
