#!/usr/bin/env python3
"""Northstar metrics benchmark: measure our figures and reference figures in the same run and print ratios.

Normally started by bench/run, which generates the data, times the import and starts the server.

What is measured, and why:
  * northstar: median and p90 latency of GET /api/v1/metrics?metric=nps&group_by=department,
    measured end to end over one keep-alive HTTP connection (http.client), so each figure includes
    the HTTP round trip and JSON encoding. Northstar answers from rollups it maintains at import time,
    so its latency should hardly depend on the number of raw responses.
  * DuckDB: the same aggregate, computed from the raw rows in a native in-memory DuckDB table
    (vectorized, columnar, all cores; loading time not counted; no HTTP, no JSON). This is the strong
    baseline: "why not just put the raw rows in a fast analytical engine and scan them?".
    Only the columns the query reads are loaded, which changes nothing for a column store.
  * SQLite scan: the same aggregate over the raw `responses` table in Northstar's own SQLite file,
    run with Python's sqlite3. This is what computing the metric straight from the stored rows costs.
Two queries: (a) NPS by department over all data; (b) the same for three calendar months (the
4th to 6th month of the data) and segment=enterprise. Ratio "X/northstar = Nx": northstar is N times
faster than X (the medians are compared). A correctness check requires the API's overall and
per-department n and NPS to equal DuckDB's (and the SQLite scan's); the script exits 1 otherwise.
"""

import argparse
import calendar
import datetime as dt
import http.client
import json
import os
import platform
import sqlite3
import statistics
import sys
import time
import urllib.parse

import duckdb

DUCK_SQL = """SELECT department, count(nps), count_if(nps >= 9), count_if(nps <= 6)
FROM responses {where} GROUP BY department"""
DUCK_WHERE = ("WHERE submitted_at >= CAST($1 AS TIMESTAMPTZ) AND submitted_at < CAST($2 AS TIMESTAMPTZ)"
              " AND segment = $3")
SQLITE_SQL = """SELECT department, count(nps), coalesce(sum(nps >= 9), 0), coalesce(sum(nps <= 6), 0)
FROM responses {where} GROUP BY department"""
SQLITE_WHERE = "WHERE submitted_unix >= ? AND submitted_unix < ? AND segment = ?"


def die(msg):
    sys.exit(f"metrics_bench: {msg}")


def nps_table(rows):
    """[(dept, n, promoters, detractors)] -> {dept: (n, nps)} plus an '(overall)' entry."""
    out, total = {}, [0, 0, 0]
    for dept, n, p, d in rows:
        out[dept] = (n, 100.0 * (p - d) / n if n else None)
        total = [a + b for a, b in zip(total, (n, p, d))]
    n, p, d = total
    out["(overall)"] = (n, 100.0 * (p - d) / n if n else None)
    return out


def api_table(body):
    out = {g["key"]: (g["n"], g["value"]) for g in body["groups"]}
    out["(overall)"] = (body["overall"]["n"], body["overall"]["value"])
    return out


def mismatches(ref, got, ref_name, got_name):
    bad = []
    for key in sorted(set(ref) | set(got), key=str):
        (rn, rv), (gn, gv) = ref.get(key, (0, None)), got.get(key, (0, None))
        if rn != gn or (rn and (gv is None or abs(rv - gv) > 1e-9)):
            bad.append(f"  {key}: {ref_name} n={rn} nps={rv}  vs  {got_name} n={gn} nps={gv}")
    return bad


def timed(fn, runs, warmup):
    for _ in range(warmup):
        result = fn()
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - t)
    return samples, result


def median_ms(samples):
    return 1000 * statistics.median(samples)


def p90_ms(samples):
    return 1000 * statistics.quantiles(samples, n=10)[8] if len(samples) > 1 else 1000 * samples[0]


def wait_ready(host, port, pid, timeout=300):
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


def http_bench(conn, path, runs, warmup, token_env="NORTHSTAR_BENCH_TOKEN"):
    # Every /api/v1 route needs credentials: bench/run creates an admin token per server.
    token = os.environ.get(token_env, "")
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    def get():
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            die(f"GET {path} -> HTTP {resp.status}: {body[:500]!r}")
        return body
    samples, body = timed(get, runs, warmup)
    return samples, json.loads(body)


def month_window(first_day):
    """From the 1st day of (first month + 3) to the last day of (first month + 5), inclusive."""
    def add(months):
        y, m = divmod(first_day.year * 12 + first_day.month - 1 + months, 12)
        return y, m + 1
    lo, hi = add(3), add(5)
    return dt.date(*lo, 1), dt.date(*hi, calendar.monthrange(*hi)[1])


def machine_info(args, duck):
    threads = duck.execute("SELECT current_setting('threads')").fetchone()[0]
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), platform.processor() or "?")
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return [
        ("machine", f"{cpu}, nproc {len(os.sched_getaffinity(0))}, {mem_gib:.0f} GiB RAM, {platform.system()} {platform.release()}"),
        ("versions", f"northstar {args.northstar_version} ({args.commit}), duckdb {duckdb.__version__} "
                     f"(threads {threads}), python {platform.python_version()}, sqlite {sqlite3.sqlite_version}"),
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--csv", required=True, help="responses.csv written by `northstar demo-data`")
    ap.add_argument("--sqlite", help="SQLite file written by `northstar import` (omit to skip the SQLite scan)")
    ap.add_argument("--url", help="base URL of `northstar serve` (omit to measure only the references)")
    ap.add_argument("--server-pid", type=int, help="pid of the server, to notice it dying while waiting")
    ap.add_argument("--import-seconds", type=float, help="wall clock of `northstar import responses`")
    ap.add_argument("--startup-seconds", type=float, help="the server's cube load at start-up (from its log)")
    ap.add_argument("--pg-url", help="base URL of a second `northstar serve` on PostgreSQL (same data)")
    ap.add_argument("--pg-server-pid", type=int)
    ap.add_argument("--pg-import-seconds", type=float, help="wall clock of the import into PostgreSQL")
    ap.add_argument("--pg-startup-seconds", type=float, help="the PostgreSQL server's cube load at start-up")
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--duckdb-runs", type=int, default=30)
    ap.add_argument("--sqlite-runs", type=int, default=5)
    ap.add_argument("--northstar-version", default="?")
    ap.add_argument("--commit", default="?")
    args = ap.parse_args()

    print("loading responses.csv into DuckDB ...", file=sys.stderr)
    duck = duckdb.connect()
    duck.execute("SET TimeZone = 'UTC'")
    csv_path = os.path.abspath(args.csv).replace("'", "''")
    duck.execute(f"""CREATE TABLE responses AS SELECT submitted_at, department, segment, nps
        FROM read_csv('{csv_path}', header = true, types = {{'submitted_at': 'TIMESTAMPTZ', 'nps': 'INTEGER'}})""")
    rows, first_day = duck.execute("SELECT count(*), CAST(min(submitted_at) AS DATE) FROM responses").fetchone()
    lo, hi = month_window(first_day)
    hi_excl = hi + dt.timedelta(days=1)
    epoch = lambda d: calendar.timegm(d.timetuple())  # noqa: E731
    queries = [
        ("(a) all data", {}, (), ()),
        (f"(b) {lo}..{hi}, enterprise",
         {"from": lo.isoformat(), "to": hi.isoformat(), "segment": "enterprise"},
         (f"{lo} 00:00:00+00", f"{hi_excl} 00:00:00+00", "enterprise"), (epoch(lo), epoch(hi_excl), "enterprise")),
    ]

    conn = None
    if args.url:
        url = urllib.parse.urlsplit(args.url)
        wait_ready(url.hostname, url.port, args.server_pid)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)  # HTTP/1.1 keep-alive
    lite = sqlite3.connect(f"file:{args.sqlite}?mode=ro", uri=True) if args.sqlite else None
    pg = None
    if args.pg_url:
        url = urllib.parse.urlsplit(args.pg_url)
        wait_ready(url.hostname, url.port, args.pg_server_pid)
        pg = http.client.HTTPConnection(url.hostname, url.port, timeout=60)

    results, failures = [], []
    for label, params, duck_params, lite_params in queries:
        print(f"measuring {label} ...", file=sys.stderr)
        r = {"label": label}
        if conn:
            path = "/api/v1/metrics?" + urllib.parse.urlencode({"metric": "nps", "group_by": "department", **params})
            r["ns"], body = http_bench(conn, path, args.requests, warmup=20)
            got = api_table(body)
            if pg:
                r["pg"], pg_body = http_bench(pg, path, args.requests, warmup=20, token_env="NORTHSTAR_BENCH_PG_TOKEN")
                if bad := mismatches(api_table(body), api_table(pg_body), "northstar-sqlite", "northstar-postgres"):
                    failures += [f"{label}: northstar on PostgreSQL differs from northstar on SQLite:", *bad]
        sql = DUCK_SQL.format(where=DUCK_WHERE if duck_params else "")
        r["duck"], duck_rows = timed(lambda: duck.execute(sql, duck_params).fetchall(), args.duckdb_runs, warmup=3)
        ref = nps_table(duck_rows)
        if lite:
            sql = SQLITE_SQL.format(where=SQLITE_WHERE if lite_params else "")
            r["lite"], lite_rows = timed(lambda: lite.execute(sql, lite_params).fetchall(), args.sqlite_runs, warmup=1)
            if bad := mismatches(ref, nps_table(lite_rows), "duckdb", "sqlite"):
                failures += [f"{label}: SQLite scan differs from DuckDB:", *bad]
        if conn:
            if bad := mismatches(ref, got, "duckdb", "northstar"):
                failures += [f"{label}: northstar API differs from DuckDB:", *bad]
        r["n"] = ref["(overall)"][0]
        results.append(r)

    report(args, rows, results, machine_info(args, duck))
    if failures:
        print("\nCORRECTNESS CHECK FAILED\n" + "\n".join(failures), file=sys.stderr)
        sys.exit(1)
    print("\ncorrectness: northstar n and NPS equal DuckDB's for every department and overall"
          if conn else "\ncorrectness: northstar not measured (no --url)")


def fmt_ms(ms):
    return f"{ms:.3f}" if ms < 1 else f"{ms:.2f}" if ms < 100 else f"{ms:,.0f}"


def fmt_ratio(r, key):
    if "ns" not in r or key not in r:
        return "-"
    x = statistics.median(r[key]) / statistics.median(r["ns"])
    return f"{x:.2g}x" if x < 1 else f"{x:.1f}x" if x < 100 else f"{x:,.0f}x"


def seconds(x, rows):
    return f"{x:.2f} s ({rows / x:,.0f} rows/s)" if x else "not measured"


def report(args, rows, results, info):
    imp = f"SQLite {seconds(args.import_seconds, rows)}"
    if args.pg_url:
        imp += f"; PostgreSQL {seconds(args.pg_import_seconds, rows)}"
    start = []
    if args.startup_seconds is not None:
        start.append(f"SQLite {args.startup_seconds:.2f} s")
    if args.pg_startup_seconds is not None:
        start.append(f"PostgreSQL {args.pg_startup_seconds:.2f} s")
    startup = "; ".join(start) or "not measured"
    cells = []
    for r in results:
        ns = f"{fmt_ms(median_ms(r['ns']))} / {fmt_ms(p90_ms(r['ns']))}" if "ns" in r else "-"
        lite = fmt_ms(median_ms(r["lite"])) if "lite" in r else "-"
        pgms = f"{fmt_ms(median_ms(r['pg']))} / {fmt_ms(p90_ms(r['pg']))}" if "pg" in r else "-"
        pg_ratio = "-"
        if "pg" in r:
            x = statistics.median(r["duck"]) / statistics.median(r["pg"])
            pg_ratio = f"{x:.2g}x" if x < 1 else f"{x:.1f}x" if x < 100 else f"{x:,.0f}x"
        cells.append((r["label"], f"{r['n']:,}", ns, pgms, fmt_ms(median_ms(r["duck"])), lite,
                      fmt_ratio(r, "duck"), pg_ratio, fmt_ratio(r, "lite")))
    head = ("query", "NPS n", "northstar/SQLite med / p90 ms", "northstar/PostgreSQL med / p90 ms",
            "DuckDB med ms", "SQLite scan med ms", "DuckDB/northstar-SQLite", "DuckDB/northstar-PG",
            "SQLite-scan/northstar-SQLite")
    runs = (f"northstar: {args.requests} HTTP requests per query over one keep-alive connection after 20 warmup; "
            f"DuckDB: median of {args.duckdb_runs} runs after 3 warmup; SQLite scan: median of {args.sqlite_runs} runs")

    print(f"\nNorthstar metrics benchmark: {rows:,} responses\nimport: {imp}\nstart-up (cube load): {startup}\n"
          "query: NPS by department\n")
    widths = [max(len(row[i]) for row in [head, *cells]) for i in range(len(head))]
    for row in [head, *cells]:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
    print()
    for k, v in info:
        print(f"{k}: {v}")
    print(runs)

    print(f"\n----- markdown for bench/RESULTS.md -----\n### {rows:,} responses, {dt.date.today()}\n")
    print(f"Import: {imp}. Start-up (cube load): {startup}. Query: NPS by department (`metric=nps&group_by=department`).\n")
    print("| " + " | ".join(head) + " |\n|" + "---|" + "---:|" * (len(head) - 1))
    for row in cells:
        print("| " + " | ".join(row) + " |")
    print()
    for k, v in info:
        print(f"- {k}: {v}")
    print(f"- {runs}\n-----------------------------------------")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
