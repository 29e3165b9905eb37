"""Golden pilot/control assignments (crates/core/src/assignment.rs).

An independent Python reimplementation of the algorithm documented in
assignment.rs, so the split can be re-created outside Rust:
1. pilot_share strictly between 0 and 1; customer ids unique.
2. Sort (customer, stratum) by stratum, then customer id (Python str order
   is code-point order, the same as Rust's UTF-8 byte order).
3. Stratified: one block per stratum, SplitMix64 seeded with
   seed XOR FNV-1a-64(UTF-8 stratum); else one block, seeded with seed.
4. Fisher-Yates (i from n-1 down to 1, j uniform in 0..=i by Lemire's
   unbiased multiply-and-reject method).
5. The first floor(share * n + 0.5) of each shuffled block are the pilot.
6. Listed in the sorted order of step 2.

Pure Python (no package computes this); the SplitMix64 and FNV-1a
implementations are checked here against their published vectors.

Regenerate (deterministic output):
    python3 tools/golden/make_golden_assignment.py > tools/golden/assignment.json
"""

import json
import math
import sys

M64 = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & M64

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & M64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        return z ^ (z >> 31)

    def below(self, s):
        m = self.next() * s
        low = m & M64
        if low < s:
            t = ((1 << 64) - s) % s
            while low < t:
                m = self.next() * s
                low = m & M64
        return m >> 64


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & M64
    return h


def assign(customers, share, seed, stratified):
    assert 0.0 < share < 1.0
    ids = [c for c, _ in customers]
    assert len(set(ids)) == len(ids)
    rows = sorted(customers, key=lambda cs: (cs[1], cs[0]))
    if stratified:
        blocks = {}
        for c, s in rows:
            blocks.setdefault(s, []).append((c, s))
        blocks = [(blocks[s], seed ^ fnv1a64(s.encode("utf-8"))) for s in sorted(blocks)]
    else:
        blocks = [(rows, seed)]
    pilot = set()
    for block, block_seed in blocks:
        rng = SplitMix64(block_seed)
        order = list(range(len(block)))
        for i in range(len(order) - 1, 0, -1):
            j = rng.below(i + 1)
            order[i], order[j] = order[j], order[i]
        k = math.floor(share * len(block) + 0.5)
        pilot.update(block[i][0] for i in order[:k])
    return [[c, "pilot" if c in pilot else "control", s] for c, s in rows]


def self_check():
    r = SplitMix64(1234567)
    assert [r.next() for _ in range(3)] == [
        6457827717110365317, 3203168211198807973, 9817491932198370423,
    ]
    assert fnv1a64(b"") == 0xCBF29CE484222325
    assert fnv1a64(b"a") == 0xAF63DC4C8601EC8C
    assert fnv1a64(b"foobar") == 0x85944171F73967E8


def fixed_customers():
    strata = [("enterprise", 7), ("mid-market", 12), ("smb", 20), ("öffentlich", 3), ("solo", 1)]
    rows, k = [], 0
    for s, n in strata:
        for _ in range(n):
            rows.append((f"cust-{(k * 37) % 101:03d}", s))
            k += 1
    # Not in sorted order, to show the order plays no part.
    return rows[::-1]


CASES = [
    # share, seed, stratified
    (0.5, 42, True),
    (0.5, 42, False),
    (0.3, 2024, True),
    (0.25, 0xFFFFFFFFFFFFFFFF, False),
    (0.6, 0, True),
]


def main():
    self_check()
    cust = fixed_customers()
    out = {
        "generated_by": {
            "script": "tools/golden/make_golden_assignment.py",
            "python": sys.version.split()[0],
        },
        "splitmix64_seed_1234567": [str(v) for v in (lambda r: [r.next() for _ in range(5)])(SplitMix64(1234567))],
        # Bounded draws with sizes where Lemire's rejection step is common.
        "below_seed_5": [
            {"s": str(n), "draws": (lambda r: [str(r.below(n)) for _ in range(8)])(SplitMix64(5))}
            for n in [3, 2**63 + 1, 2**64 - 1, 3 * 2**62]
        ],
        "fnv1a64": {s: str(fnv1a64(s.encode("utf-8"))) for s in ["", "smb", "öffentlich"]},
        "customers": [list(c) for c in cust],
        "cases": [
            {
                "share": share, "seed": str(seed), "stratified": stratified,
                "assignment": assign(cust, share, seed, stratified),
            }
            for share, seed, stratified in CASES
        ],
    }
    json.dump(out, sys.stdout, indent=1, sort_keys=True, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
