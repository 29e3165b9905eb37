"""Issue 11 latencies: the demo pilot's evaluation and the business-case page
at a given demo size, against statsmodels fitting the same DiD from the same
database (the reference, in the same run).

    cargo build --release -p northstar
    python3 bench/value_bench.py --responses 1000000

Prints best-of-5 wall times over HTTP and the ratio to the reference (the
SQLite query plus statsmodels' OLS with cluster-robust errors).
"""

import argparse
import datetime as dt
import http.cookiejar
import os
import re
import sqlite3
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

import numpy as np
import statsmodels.api as sm


def best(f, n=5):
    times = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def reference(db):
    con = sqlite3.connect(db)
    start = (dt.date(2026, 8, 3) - dt.date(1970, 1, 1)).days
    end = (dt.date(2026, 10, 31) - dt.date(1970, 1, 1)).days
    rows = con.execute(
        """select r.customer_id, a.pilot_group, r.day, r.nps from responses r
           join pilot_assignments a on a.customer_id = r.customer_id and a.pilot_id = 1
           where r.segment = 'enterprise' and r.touchpoint = 'delivery' and r.department = 'logistics'
           and r.nps is not null and r.day <= ?""",
        (end,),
    ).fetchall()
    ids = {c: i for i, c in enumerate(sorted({r[0] for r in rows}))}
    y = np.array([100 if r[3] >= 9 else (0 if r[3] >= 7 else -100) for r in rows], float)
    p = np.array([r[1] == "pilot" for r in rows], float)
    a = np.array([r[2] >= start for r in rows], float)
    X = np.column_stack([np.ones_like(y), p, a, p * a])
    g = np.array([ids[r[0]] for r in rows])
    fit = sm.OLS(y, X).fit(cov_type="cluster", cov_kwds={"groups": g})
    return len(rows), fit.params[3], fit.bse[3]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--responses", type=int, default=1_000_000)
    ap.add_argument("--binary", default="target/release/northstar")
    ap.add_argument("--port", type=int, default=8740)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="value-bench-")
    db = os.path.join(work, "demo.db")
    log = open(os.path.join(work, "demo.log"), "w+")
    server = subprocess.Popen(
        [args.binary, "demo", "--responses", str(args.responses), "--database", f"sqlite://{db}",
         "--bind", f"127.0.0.1:{args.port}"],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{args.port}"
        for _ in range(1800):
            log.seek(0)
            text = log.read()
            if "is serving" in text:
                break
            time.sleep(1)
        password = re.search(r"cx-lead@demo\.northstar\.test\s+(\S+)", text).group(1)
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        data = urllib.parse.urlencode({"email": "cx-lead@demo.northstar.test", "password": password}).encode()
        req = urllib.request.Request(base + "/sign-in", data=data, headers={"Origin": base})
        opener.open(req).read()
        get = lambda path: (lambda: opener.open(base + path).read())
        print(f"demo: {args.responses} responses ({work})")
        n, effect, se = reference(db)
        ref = best(lambda: reference(db))
        print(f"reference (SQLite query + statsmodels OLS cluster): {ref*1000:.1f} ms for {n} answers; effect {effect:.6f} se {se:.6f}")
        for path in ["/api/v1/pilots/1/evaluation?metric=nps", "/pilots/1", "/api/v1/pilots/1",
                     "/api/v1/business-cases/1", "/business-cases/1",
                     "/api/v1/power?metric=nps&baseline=0.45,0.20&mde=5"]:
            t = best(get(path))
            print(f"{path}: {t*1000:.1f} ms ({t/ref:.2f}x the reference)")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
