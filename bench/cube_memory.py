#!/usr/bin/env python3
"""How much memory the rollup cube needs at a given scale, today and under a compaction rule.

The cube keeps, per active dimension combination, one cell per day with answers and one total per
month with answers (crates/core/src/rollup.rs). Cells present, not responses, set its size. This
script computes the expected number of cells for a workload and the bytes they take:

  * responses arrive uniformly over `years` years; combination c gets a share of them that follows
    a Zipf law (exponent `zipf`) over `combinations` combinations, as real feedback does (a few
    touchpoint x department x segment combinations carry most answers);
  * answers of one combination on one day are Poisson: a day cell is present with probability
    1 - exp(-rate_c), a month cell with 1 - exp(-30.4 rate_c);
  * bytes per cell (from the data layout): a day cell is a BTreeMap<i32, ResponseSummary>
    entry: 4 + 200 bytes of key and 25 i64 counters, in B-tree leaves that are about 2/3 full on
    average -> about 310 bytes; a month cell is a key (4 bytes), a summary (200 bytes) and per
    metric its first and last answer day with their answer counts (4 x 20 bytes) in three
    vectors, shrunk to fit after a load -> 284 bytes (months added later may carry up to 2x growth slack until the next load).

Policies compared:
  today      day cells for every day, month totals for every month
  compact D  day cells only for the last D days, month totals for every month; a question that
             needs single days older than D days (a range starting or ending inside an old month)
             is answered from the database's rollups_daily (which keeps every day) instead.

Usage: bench/cube_memory.py [--responses 1e9] [--years 10] [--combinations 100000] [--zipf 1.0]
                            [--budget-gb 4] [--horizons 31,62,92]
"""

import argparse
import math

DAY_CELL_BYTES = 310
MONTH_CELL_BYTES = 284
COMBINATION_BYTES = 200  # dims, span fields, vector headers, hash-map slot


def zipf_shares(n, s):
    weights = [1.0 / (k ** s) for k in range(1, n + 1)]
    total = sum(weights)
    return [w / total for w in weights]


def expected_cells(responses, years, combinations, zipf, days_kept=None):
    days = int(round(years * 365.25))
    months = int(round(years * 12))
    per_day = responses / days
    day_cells = month_cells = 0.0
    kept = days if days_kept is None else min(days_kept, days)
    for share in zipf_shares(combinations, zipf):
        rate = per_day * share  # answers per day for this combination
        day_cells += kept * (1.0 - math.exp(-rate))
        month_cells += months * (1.0 - math.exp(-rate * 30.4375))
    return day_cells, month_cells


def gib(x):
    return x / 2**30


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--responses", type=float, default=1e9)
    ap.add_argument("--years", type=float, default=10)
    ap.add_argument("--combinations", type=int, default=100_000)
    ap.add_argument("--zipf", type=float, default=1.0)
    ap.add_argument("--budget-gb", type=float, default=4.0)
    ap.add_argument("--horizons", default="31,62,92,183")
    a = ap.parse_args()

    print(f"{a.responses:,.0f} responses over {a.years:g} years, {a.combinations:,} combinations, "
          f"Zipf {a.zipf:g}; budget {a.budget_gb:g} GiB\n")
    print(f"{'policy':<22}{'day cells':>16}{'month cells':>14}{'memory GiB':>12}  fits")
    base = a.combinations * COMBINATION_BYTES
    rows = [("today", None)] + [(f"compact, {h} days", int(h)) for h in a.horizons.split(",")]
    for name, kept in rows:
        d, m = expected_cells(a.responses, a.years, a.combinations, a.zipf, kept)
        mem = gib(d * DAY_CELL_BYTES + m * MONTH_CELL_BYTES + base)
        print(f"{name:<22}{d:>16,.0f}{m:>14,.0f}{mem:>12.2f}  {'yes' if mem <= a.budget_gb else 'NO'}")


if __name__ == "__main__":
    main()
