#!/usr/bin/env python3
"""Northstar Understand benchmark (issue 9): drivers, expectation gap, attribute breakdowns, trends and
the metrics call over HTTP, each against DuckDB computing the same answer on the same CSV rows in the
same run, with a correctness check of every answer and the servers' memory after all requests.

Normally started by bench/run (after bench/metrics_bench.py), which generates the demo data, imports
customers.csv, operations.csv and responses.csv (timing each) and starts the server(s).

What is measured:
  * northstar: median and p95 latency over one keep-alive HTTP connection (http.client) after a
    warm-up, >= 100 requests per call unless one request takes so long that --budget seconds would
    not hold them (then fewer, at least 3, and the table says how many); the first (cold) request's
    latency and the server's VmRSS after each call are shown beside them.
  * DuckDB: the same answer from the raw rows in native in-memory DuckDB tables (loading not
    counted; all cores; no HTTP, no JSON), median of --duckdb-runs runs after a warm-up:
      - drivers: rows with the outcome per set of rated drivers; the set (of two or more drivers
        first) with the most complete rows, counting rows that rated more; then n, means and the
        correlation matrix of its complete rows; R² and Johnson's raw relative weights from the
        correlation matrix (numpy, part of the timed work);
      - expectation gap: operations joined to responses on order_id, CSAT answers per value of the
        measure, satisfied = CSAT 4-5; the monotone (isotonic, pool-adjacent-violators) fit in Python;
      - breakdown: NPS per value of a customer attribute (responses LEFT JOIN customers) or of a
        response attribute column;
      - trends: the API's default window (the last 26 ISO weeks / 24 months up to the last day with an
        NPS answer), NPS per week / month;
      - metrics: NPS by department over all data (as bench/metrics_bench.py).
  * correctness: n equal, values within 1e-6 (the API does not round); the script exits 1 otherwise.
  * memory: VmRSS and VmHWM of each server from /proc/PID/status after all requests.
"""

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import statistics
import sys
import time
import urllib.parse

import duckdb
import numpy as np

TOL = 1e-6
# Issue 9's targets (ms, over 10M responses).
TARGETS = {"drivers": 10.0, "gap": 20.0, "breakdown": 20.0, "trends": 2.0, "metrics": 1.0}


def die(msg):
    sys.exit(f"understand_bench: {msg}")


def close(a, b, tol=TOL):
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


def nps(n, p, d):
    return 100.0 * (p - d) / n if n else None


# ---------------------------------------------------------------- HTTP

def wait_ready(host, port, pid, timeout=600):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pid:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                die("northstar serve exited before /readyz returned 200")
        try:
            conn = http.client.HTTPConnection(host, port, timeout=2)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    die(f"/readyz did not return 200 within {timeout}s")


class Server:
    def __init__(self, name, base, pid, token_env):
        url = urllib.parse.urlsplit(base)
        wait_ready(url.hostname, url.port, pid)
        self.name, self.pid = name, pid
        self.conn = http.client.HTTPConnection(url.hostname, url.port, timeout=600)  # keep-alive
        token = os.environ.get(token_env, "")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def get(self, path):
        self.conn.request("GET", path, headers=self.headers)
        resp = self.conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            die(f"{self.name}: GET {path} -> HTTP {resp.status}: {body[:500]!r}")
        return body

    def bench(self, path, runs, warmup, budget):
        """Latency samples (s), the first (cold) request's latency and the last answer.

        The first request may fill caches; the second tells how long one takes: when `runs` +
        `warmup` of those would exceed `budget` seconds, the two count as the warm-up and fewer
        (at least 3) are timed."""
        t = time.perf_counter()
        self.get(path)
        first = time.perf_counter() - t
        t = time.perf_counter()
        body = self.get(path)
        second = time.perf_counter() - t
        if second * (runs + warmup) > budget:
            warmup = 0
            runs = max(3, min(runs, int(budget / max(second, 1e-9))))
        for _ in range(warmup):
            body = self.get(path)
        samples = []
        for _ in range(runs):
            t = time.perf_counter()
            body = self.get(path)
            samples.append(time.perf_counter() - t)
        return samples, first, json.loads(body)

    def attribute_cells(self, timeout):
        """Waits for the server's log line "attribute cells built" (breakdowns by attributes outside
        the cube are answered from memory once it is there); returns its fields and the wait."""
        try:  # bench/run sends the server's output to its log file
            log = os.readlink(f"/proc/{self.pid}/fd/1")
        except OSError:
            return None
        started = time.monotonic()
        while True:
            try:
                for line in open(log, errors="replace"):
                    if "attribute cells built" in line:
                        fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
                        fields["waited"] = f"{time.monotonic() - started:.1f}"
                        return fields
            except OSError:
                return None
            if time.monotonic() - started > timeout:
                return {"waited": f"{timeout:.0f} (gave up: not built)"}
            time.sleep(0.5)

    def memory(self):
        out = {}
        try:
            for line in open(f"/proc/{self.pid}/status"):
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                    out[key] = int(value.split()[0]) * 1024
        except OSError:
            pass
        return out


def timed(fn, runs, warmup):
    result = None
    for _ in range(warmup):
        result = fn()
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - t)
    return samples, result


# ---------------------------------------------------------------- DuckDB references

def load(duck, data):
    def path(name):
        return os.path.join(os.path.abspath(data), name).replace("'", "''")
    header = duck.execute(f"SELECT * FROM read_csv('{path('responses.csv')}', header = true, all_varchar = true) LIMIT 0").description
    drivers = [c[0] for c in header if c[0].startswith("driver_")]
    driver_types = ", ".join(f"'{d}': 'INTEGER'" for d in drivers)
    duck.execute(f"""CREATE TABLE responses AS SELECT submitted_at, timezone('UTC', submitted_at) AS ts,
        customer_id, order_id, department, nps, csat, language, {", ".join(drivers)}
        FROM read_csv('{path('responses.csv')}', header = true,
          types = {{'submitted_at': 'TIMESTAMPTZ', 'nps': 'INTEGER', 'csat': 'INTEGER',
                    'customer_id': 'VARCHAR', 'order_id': 'VARCHAR', 'language': 'VARCHAR', {driver_types}}})""")
    duck.execute(f"""CREATE TABLE customers AS SELECT customer_id, region
        FROM read_csv('{path('customers.csv')}', header = true, types = {{'customer_id': 'VARCHAR', 'region': 'VARCHAR'}})""")
    duck.execute(f"""CREATE TABLE operations AS SELECT order_id, department, delivery_days
        FROM read_csv('{path('operations.csv')}', header = true,
          types = {{'order_id': 'VARCHAR', 'department': 'VARCHAR', 'delivery_days': 'DOUBLE'}})""")
    return drivers


def duck_drivers(duck, drivers, outcome="nps"):
    """The API's answer: of the driver sets rated exactly by some rows with the outcome, the one with
    the most complete rows (its own and those of every set containing it), sets of two or more first
    (ties: more drivers, then the smaller name list); n, means, R² and raw weights of its complete rows."""
    mask = " + ".join(f"({d} IS NOT NULL)::INTEGER * {1 << i}" for i, d in enumerate(drivers))
    by_mask = dict(duck.execute(f"SELECT {mask} AS m, count(*) FROM responses WHERE {outcome} IS NOT NULL GROUP BY m").fetchall())
    if not any(by_mask):
        return None
    def names(m):
        return [d.removeprefix("driver_") for i, d in enumerate(drivers) if m >> i & 1]
    def rank(c):
        complete = sum(n for m, n in by_mask.items() if m & c == c)
        size = bin(c).count("1")
        return (size >= 2, complete, size, [-ord(ch) for ch in "\0".join(sorted(names(c)))])
    best = max((m for m in by_mask if m), key=rank)
    chosen = [d for i, d in enumerate(drivers) if best >> i & 1]
    cols = [outcome, *chosen]
    pairs = [(a, b) for i, a in enumerate(cols) for b in cols[i + 1:]]
    sql = (f"SELECT count(*), {', '.join(f'avg({c})' for c in chosen)}, "
           f"{', '.join(f'corr({a}, {b})' for a, b in pairs)} FROM responses WHERE "
           + " AND ".join(f"{c} IS NOT NULL" for c in cols))
    row = duck.execute(sql).fetchone()
    n, means, corrs = row[0], row[1:1 + len(chosen)], row[1 + len(chosen):]
    k = len(cols)
    r = np.eye(k)
    for (a, b), c in zip(pairs, corrs):
        i, j = cols.index(a), cols.index(b)
        r[i, j] = r[j, i] = c
    rxx, rxy = r[1:, 1:], r[1:, 0]
    vals, vecs = np.linalg.eigh(rxx)
    lam = vecs @ np.diag(np.sqrt(np.clip(vals, 0, None))) @ vecs.T
    beta = np.linalg.solve(lam, rxy)
    raw = (lam ** 2) @ (beta ** 2)
    r2 = float(rxy @ np.linalg.solve(rxx, rxy))
    return {"n": n, "set": chosen, "r2": r2,
            "raw": {d.removeprefix("driver_"): float(w) for d, w in zip(chosen, raw)},
            "mean": {d.removeprefix("driver_"): m for d, m in zip(chosen, means)}}


def pav_non_increasing(points):
    """Weighted isotonic fit (non-increasing in x) of satisfied shares: [(x, sat, n)] -> [fitted]."""
    blocks = []  # [sat, n, count]
    for _, sat, n in points:
        blocks.append([sat, n, 1])
        while len(blocks) > 1 and blocks[-1][0] / blocks[-1][1] > blocks[-2][0] / blocks[-2][1]:
            s, m, c = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += m
            blocks[-1][2] += c
    fitted = []
    for s, m, c in blocks:
        fitted += [s / m] * c
    return fitted


def duck_gap(duck, department, measure):
    rows = duck.execute(f"""SELECT o.{measure} AS x, count_if(r.csat >= 4), count(*)
        FROM operations o JOIN responses r ON r.order_id = o.order_id
        WHERE o.department = $1 AND r.csat IS NOT NULL AND o.{measure} IS NOT NULL
        GROUP BY x ORDER BY x""", [department]).fetchall()
    return {"points": rows, "fitted": pav_non_increasing(rows), "n": sum(r[2] for r in rows)}


def duck_breakdown(duck, by):
    if by == "region":
        sql = """SELECT coalesce(c.region, ''), count(r.nps), count_if(r.nps >= 9), count_if(r.nps <= 6)
            FROM responses r LEFT JOIN customers c ON c.customer_id = r.customer_id GROUP BY 1"""
    else:
        sql = f"""SELECT coalesce({by}, ''), count(nps), count_if(nps >= 9), count_if(nps <= 6)
            FROM responses GROUP BY 1"""
    rows = duck.execute(sql).fetchall()
    n, p, d = (sum(r[i] for r in rows) for i in (1, 2, 3))
    return {"overall": (n, nps(n, p, d)), "groups": {k: (gn, nps(gn, gp, gd)) for k, gn, gp, gd in rows if gn}}


def trend_window(last, interval):
    """The API's default window ending on `last`: 26 ISO weeks or 24 months, whole periods."""
    if interval == "week":
        to = last - dt.timedelta(days=last.weekday()) + dt.timedelta(days=6)
        back = to - dt.timedelta(days=7 * 25)
        frm = back - dt.timedelta(days=back.weekday())
    else:
        nxt = dt.date(last.year + last.month // 12, last.month % 12 + 1, 1)
        to = nxt - dt.timedelta(days=1)
        m = last.year * 12 + last.month - 1 - 23
        frm = dt.date(m // 12, m % 12 + 1, 1)
    return frm, to


def duck_trend(duck, interval):
    last = duck.execute("SELECT max(CAST(ts AS DATE)) FROM responses WHERE nps IS NOT NULL").fetchone()[0]
    frm, to = trend_window(last, interval)
    fmt = "%G-W%V" if interval == "week" else "%Y-%m"
    rows = duck.execute(f"""SELECT strftime(ts, '{fmt}') AS k, count(nps), count_if(nps >= 9), count_if(nps <= 6)
        FROM responses WHERE ts >= CAST($1 AS TIMESTAMP) AND ts < CAST($2 AS TIMESTAMP) GROUP BY k""",
                        [str(frm), str(to + dt.timedelta(days=1))]).fetchall()
    n, p, d = (sum(r[i] for r in rows) for i in (1, 2, 3))
    return {"from": str(frm), "to": str(to), "n": n,
            "periods": {k: (gn, nps(gn, gp, gd)) for k, gn, gp, gd in rows if gn}}


def duck_metrics(duck):
    rows = duck.execute("""SELECT department, count(nps), count_if(nps >= 9), count_if(nps <= 6)
        FROM responses GROUP BY department""").fetchall()
    n, p, d = (sum(r[i] for r in rows) for i in (1, 2, 3))
    return {"overall": (n, nps(n, p, d)), "groups": {k: (gn, nps(gn, gp, gd)) for k, gn, gp, gd in rows if gn}}


# ---------------------------------------------------------------- checks (list of differences)

def check_drivers(ref, got):
    bad = []
    if got.get("n") != ref["n"]:
        bad.append(f"n: duckdb {ref['n']} vs northstar {got.get('n')}")
    names = sorted(s.removeprefix("driver_") for s in got.get("driver_set", []))
    want = sorted(s.removeprefix("driver_") for s in ref["set"])
    if names != want:
        bad.append(f"driver set: duckdb {want} vs northstar {names}")
    if not close(ref["r2"], got.get("r2")):
        bad.append(f"r2: duckdb {ref['r2']!r} vs northstar {got.get('r2')!r}")
    answered = {d["name"].removeprefix("driver_") for d in got.get("drivers", [])}
    if answered != set(ref["raw"]):
        bad.append(f"drivers weighed: duckdb {sorted(ref['raw'])} vs northstar {sorted(answered)}")
    for d in got.get("drivers", []):
        name = d["name"].removeprefix("driver_")
        if name in ref["raw"] and not close(ref["raw"][name], d["raw_weight"]):
            bad.append(f"raw weight of {name}: duckdb {ref['raw'][name]!r} vs northstar {d['raw_weight']!r}")
        if name in ref["mean"] and not close(ref["mean"][name], d["mean"]):
            bad.append(f"mean of {name}: duckdb {ref['mean'][name]!r} vs northstar {d['mean']!r}")
    return bad


def check_gap(ref, got):
    bad = []
    if got.get("n") != ref["n"]:
        bad.append(f"n: duckdb {ref['n']} vs northstar {got.get('n')}")
    curve = got.get("curve", [])
    if got.get("curve_binned"):
        bad.append("curve is binned; the check compares single values")
    if len(curve) != len(ref["points"]):
        bad.append(f"curve points: duckdb {len(ref['points'])} vs northstar {len(curve)}")
    for (x, sat, n), fit, c in zip(ref["points"], ref["fitted"], curve):
        if not close(x, c["x"]) or n != c["n"]:
            bad.append(f"x={x}: duckdb n={n} vs northstar x={c['x']} n={c['n']}")
        if not close(sat / n, c["observed_share"]):
            bad.append(f"x={x}: observed share duckdb {sat / n!r} vs northstar {c['observed_share']!r}")
        if not close(fit, c["satisfied_share"]):
            bad.append(f"x={x}: fitted share duckdb {fit!r} vs northstar {c['satisfied_share']!r}")
    return bad


def check_groups(ref_overall, ref_groups, got_overall, got_groups, what):
    bad = []
    if ref_overall is not None:
        rn, rv = ref_overall
        if got_overall["n"] != rn or not close(rv, got_overall["value"]):
            bad.append(f"overall: duckdb n={rn} value={rv!r} vs northstar n={got_overall['n']} value={got_overall['value']!r}")
    got = {k: v for k, v in got_groups.items() if v[0]}
    for k in sorted(set(ref_groups) | set(got)):
        (rn, rv), (gn, gv) = ref_groups.get(k, (0, None)), got.get(k, (0, None))
        if rn != gn or not close(rv, gv):
            bad.append(f"{what} {k!r}: duckdb n={rn} value={rv!r} vs northstar n={gn} value={gv!r}")
    return bad


def check_breakdown(ref, got):
    groups = {g["key"]: (g["n"], g["value"]) for g in got.get("groups", [])}
    bad = check_groups(ref["overall"], ref["groups"], got["overall"], groups, "group")
    if got.get("truncated"):
        bad.append("truncated: more groups than shown")
    return bad


def check_trend(ref, got):
    bad = []
    if (got.get("from"), got.get("to")) != (ref["from"], ref["to"]):
        bad.append(f"window: duckdb {ref['from']}..{ref['to']} vs northstar {got.get('from')}..{got.get('to')}")
    if got.get("n") != ref["n"]:
        bad.append(f"n: duckdb {ref['n']} vs northstar {got.get('n')}")
    periods = {p["period"]: (p["n"], p["value"]) for p in got.get("periods", [])}
    return bad + check_groups(None, ref["periods"], None, periods, "period")


def check_metrics(ref, got):
    groups = {g["key"]: (g["n"], g["value"]) for g in got.get("groups", [])}
    return check_groups(ref["overall"], ref["groups"], got["overall"], groups, "department")


# ---------------------------------------------------------------- report

def ms(samples, q=None):
    if q is None:
        return 1000 * statistics.median(samples)
    return 1000 * (statistics.quantiles(samples, n=100)[q - 1] if len(samples) > 1 else samples[0])


def fmt_ms(x):
    return f"{x:.3f}" if x < 1 else f"{x:.2f}" if x < 100 else f"{x:,.0f}"


def fmt_ratio(x):
    return f"{x:.2g}x" if x < 1 else f"{x:.1f}x" if x < 100 else f"{x:,.0f}x"


def verdict(samples, target):
    med, p95 = ms(samples), ms(samples, 95)
    if med <= target and p95 <= target:
        return "met"
    if med <= target:
        return f"met by the median (p95 {p95 / target:.1f}x target)"
    return f"not met ({med / target:.1f}x target)"


def mb(x):
    return f"{x / 2**20:,.0f} MB"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="directory of `northstar demo-data` (responses, customers, operations)")
    ap.add_argument("--url", required=True, help="base URL of `northstar serve` on SQLite")
    ap.add_argument("--server-pid", type=int, required=True)
    ap.add_argument("--pg-url", help="base URL of a second `northstar serve` on PostgreSQL (same data)")
    ap.add_argument("--pg-server-pid", type=int)
    ap.add_argument("--import", dest="imports", nargs=3, action="append", default=[],
                    metavar=("BACKEND", "FILE", "SECONDS"), help="wall clock of one `northstar import` (repeat)")
    ap.add_argument("--startup-seconds", type=float)
    ap.add_argument("--pg-startup-seconds", type=float)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--budget", type=float, default=90.0,
                    help="seconds of requests per call and server at most (a slow call gets fewer requests)")
    ap.add_argument("--cells-timeout", type=float, default=900,
                    help="seconds to wait for a server's attribute cells before measuring breakdowns")
    ap.add_argument("--duckdb-runs", type=int, default=15)
    ap.add_argument("--breakdown-by", default="region,language",
                    help="attributes that are not rollup dimensions (region: customers.csv; language: responses.csv)")
    ap.add_argument("--northstar-version", default="?")
    ap.add_argument("--commit", default="?")
    args = ap.parse_args()

    print("loading responses.csv, customers.csv, operations.csv into DuckDB ...", file=sys.stderr)
    duck = duckdb.connect()
    duck.execute("SET TimeZone = 'UTC'")
    drivers = load(duck, args.data)
    counts = {t: duck.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("responses", "customers", "operations")}
    threads = duck.execute("SELECT current_setting('threads')").fetchone()[0]

    servers = [Server("northstar-sqlite", args.url, args.server_pid, "NORTHSTAR_BENCH_TOKEN")]
    if args.pg_url:
        servers.append(Server("northstar-postgres", args.pg_url, args.pg_server_pid, "NORTHSTAR_BENCH_PG_TOKEN"))

    calls = [
        ("drivers", "key drivers", "/api/v1/drivers?metric=nps", lambda: duck_drivers(duck, drivers), check_drivers),
        ("gap", "expectation gap", "/api/v1/expectation-gap?measure=delivery_days&department=logistics",
         lambda: duck_gap(duck, "logistics", "delivery_days"), check_gap),
    ]
    for by in filter(None, args.breakdown_by.split(",")):
        calls.append(("breakdown", f"breakdown by {by}", f"/api/v1/breakdown?metric=nps&by={urllib.parse.quote(by)}",
                      lambda by=by: duck_breakdown(duck, by), check_breakdown))
    for interval in ("week", "month"):
        calls.append(("trends", f"trends by {interval}", f"/api/v1/trends?metric=nps&interval={interval}",
                      lambda interval=interval: duck_trend(duck, interval), check_trend))
    calls.append(("metrics", "metrics (NPS by department)", "/api/v1/metrics?metric=nps&group_by=department",
                  lambda: duck_metrics(duck), check_metrics))

    memory_at_start = {s.name: s.memory() for s in servers}
    results, failures = [], []
    cells_built = {}
    for kind, label, path, ref_fn, check in calls:
        if kind == "breakdown" and not cells_built:
            for s in servers:
                print(f"waiting for {s.name}'s attribute cells ...", file=sys.stderr)
                cells_built[s.name] = s.attribute_cells(args.cells_timeout)
        print(f"measuring {label} ...", file=sys.stderr)
        r = {"kind": kind, "label": label, "path": path, "ns": {}}
        r["duck"], ref = timed(ref_fn, args.duckdb_runs, warmup=2)
        for s in servers:
            samples, first, body = s.bench(path, args.requests, args.warmup, args.budget)
            r["ns"][s.name] = samples
            r.setdefault("first", {})[s.name] = first
            r.setdefault("rss", {})[s.name] = s.memory().get("VmRSS", 0)
            if bad := check(ref, body):
                failures += [f"{label} ({s.name}, GET {path}) differs from DuckDB:", *(f"  {b}" for b in bad)]
            r.setdefault("answer", body)
        r["n"] = ref["n"] if "n" in ref else ref["overall"][0]
        results.append(r)
    memory = {s.name: s.memory() for s in servers}

    report(args, counts, results, memory, memory_at_start, cells_built, servers, threads)
    if failures:
        print("\nCORRECTNESS CHECK FAILED\n" + "\n".join(failures), file=sys.stderr)
        sys.exit(1)
    print("\ncorrectness: every answer's n equals DuckDB's and every value agrees within 1e-6 (relative)")


def report(args, counts, results, memory, memory_at_start, cells_built, servers, threads):
    rows = counts["responses"]
    imports = []
    for backend, file, secs in args.imports:
        secs = float(secs)
        n = counts.get(file, 0)
        imports.append(f"{backend} {file}.csv {n:,} rows {secs:.2f} s ({n / secs:,.0f} rows/s)")
    names = [s.name for s in servers]
    head = ["call", "target ms", "n"]
    for name in names:
        short = name.removeprefix('northstar-')
        head += [f"{short} med / p95 ms", f"{short} requests", f"{short} 1st request ms", f"{short} RSS after"]
    head += ["DuckDB med ms"] + [f"DuckDB/{n.removeprefix('northstar-')}" for n in names] + \
        [f"target {n.removeprefix('northstar-')}" for n in names]
    cells = []
    for r in results:
        row = [r["label"], f"{TARGETS[r['kind']]:g}", f"{r['n']:,}"]
        for name in names:
            s = r["ns"][name]
            row += [f"{fmt_ms(ms(s))} / {fmt_ms(ms(s, 95))}", str(len(s)), fmt_ms(1000 * r["first"][name]),
                    mb(r["rss"][name])]
        duck_med = ms(r["duck"])
        row.append(fmt_ms(duck_med))
        row += [fmt_ratio(duck_med / ms(r["ns"][name])) for name in names]
        row += [verdict(r["ns"][name], TARGETS[r["kind"]]) for name in names]
        cells.append(row)
    mem = "; ".join(f"{name}: VmRSS {mb(m.get('VmRSS', 0))} (RssAnon {mb(m.get('RssAnon', 0))}, "
                    f"RssFile {mb(m.get('RssFile', 0))}), VmHWM {mb(m.get('VmHWM', 0))} "
                    f"(before the first request: VmRSS {mb(memory_at_start[name].get('VmRSS', 0))}, "
                    f"VmHWM {mb(memory_at_start[name].get('VmHWM', 0))})" for name, m in memory.items())
    start = "; ".join(f"{b} {x:.2f} s" for b, x in (("SQLite", args.startup_seconds), ("PostgreSQL", args.pg_startup_seconds)) if x is not None)
    built = "; ".join(f"{name}: " + (", ".join(f"{k} {v}" for k, v in c.items()) if c else "no log")
                      for name, c in cells_built.items()) or "not waited for"
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    info = [
        ("machine", f"{cpu}, nproc {len(os.sched_getaffinity(0))}, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM, {platform.system()} {platform.release()}"),
        ("versions", f"northstar {args.northstar_version} ({args.commit}), duckdb {duckdb.__version__} (threads {threads}), python {platform.python_version()}"),
        ("runs", f"northstar: up to {args.requests} requests per call over one keep-alive connection after {args.warmup} warm-up "
                 f"(when they would take more than {args.budget:g} s: at least 3 after 2 untimed, see the requests column); '1st request': the first, cold one; 'RSS after': the server's VmRSS after that call's requests; DuckDB: median of {args.duckdb_runs} runs after 2 warm-up"),
    ]
    print(f"\nNorthstar Understand benchmark (issue 9): {rows:,} responses, {counts['customers']:,} customers, "
          f"{counts['operations']:,} operational records")
    print("imports: " + "; ".join(imports))
    print(f"start-up (cube load): {start or 'not measured'}")
    print(f"memory after all requests: {mem}")
    print(f"attribute cells (server log; waited s before the breakdowns): {built}\n")
    widths = [max(len(row[i]) for row in [head, *cells]) for i in range(len(head))]
    for row in [head, *cells]:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
    print()
    for k, v in info:
        print(f"{k}: {v}")
    print("\nrequests:")
    for r in results:
        print(f"  {r['label']}: GET {r['path']}")

    print(f"\n----- markdown for bench/RESULTS.md -----\n### {rows:,} responses, {dt.date.today()}\n")
    print("Imports: " + "; ".join(imports) + f". Start-up (cube load): {start or 'not measured'}.\n")
    print("| " + " | ".join(head) + " |\n|" + "---|" + "---:|" * (len(head) - 1 - len(names)) + "---|" * len(names))
    for row in cells:
        print("| " + " | ".join(row) + " |")
    print(f"\n- memory after all requests: {mem}")
    print(f"- attribute cells (server log; waited s before the breakdowns): {built}")
    for k, v in info:
        print(f"- {k}: {v}")
    print("-----------------------------------------")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
