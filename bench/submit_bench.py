"""Issue 12 load: survey answers posted to the hosted form's submit endpoint
(`POST /s/{token}`) on loopback by wrk (Debian's `wrk`, with
bench/submit.lua giving every request its own personal link), against a
release server on SQLite (synchronous=FULL, on disk) and on PostgreSQL.

    cargo build --release -p northstar
    python3 bench/submit_bench.py [--seconds 20] [--connections 64] [--postgres URL]

Targets (issue 12): >= 5,000 answers/s with p99 <= 50 ms on SQLite, >= 3,000/s
on PostgreSQL. Afterwards every acknowledged answer (303) must be present
(responses in the database == acknowledgements) and the rollups must equal
a rebuild (`northstar verify-rollups`). The reference in the same run is the
same server answering `GET /healthz` (no write: what the HTTP stack and wrk
cost on these two cores), reported as a ratio.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("NORTHSTAR_BIN", os.path.join(ROOT, "target", "release", "northstar"))

DEFINITION = {
    "name": "bench",
    "title": {"en": "Load"},
    "languages": ["en"],
    "touchpoint": "web",
    "questions": [
        {"key": "nps", "type": "nps", "required": True, "text": {"en": "Recommend?"}},
        {"key": "fcr", "type": "fcr", "text": {"en": "Solved?"}},
        {"key": "comment", "type": "text", "text": {"en": "Why?"}},
    ],
}


def call(base, token, method, path, body=None, content_type="application/json"):
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", content_type)
    with urllib.request.urlopen(req, timeout=600) as r:
        return r.read()


def wait_ready(base):
    for _ in range(600):
        try:
            urllib.request.urlopen(base + "/readyz", timeout=2).read()
            return
        except Exception:
            time.sleep(0.1)
    raise SystemExit("the server did not start")


def wrk(url, seconds, connections, env, script=None):
    cmd = ["wrk", f"-t{os.environ.get('WRK_THREADS', '1')}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, env=env, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return out, rps


def run(database, label, invitations, seconds, connections, work):
    port = 18000 + os.getpid() % 1000
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, NORTHSTAR_LOG="warn")
    name = f"bench_{os.getpid()}_{int(time.time())}"
    out = subprocess.run(
        [BIN, "token", "create", "--name", name, "--role", "admin", "--database", database],
        capture_output=True, text=True, env=env, check=True,
    ).stdout
    token = re.search(r"\b([0-9a-f]{64}|ns_[A-Za-z0-9_]+)\b", out)
    token = token.group(1) if token else out.strip().split()[-1]
    server = subprocess.Popen(
        [BIN, "serve", "--database", database, "--bind", f"127.0.0.1:{port}",
         "--public-rate-per-ip", "0", "--public-rate-per-survey", "0"],
        env=env, stdout=subprocess.DEVNULL,
    )
    try:
        wait_ready(base)
        survey = json.loads(call(base, token, "POST", "/api/v1/surveys", dict(DEFINITION, name=name)))
        sid = survey["id"]
        call(base, token, "POST", f"/api/v1/surveys/{sid}/status", {"status": "live"})
        made = 0
        while made < invitations:
            n = min(100_000, invitations - made)
            csv = "customer_id,email\n" + "".join(
                f"{name}-{made + i},{name}-{made + i}@example.com\n" for i in range(n))
            call(base, token, "POST", f"/api/v1/surveys/{sid}/invitations", csv.encode(), "text/csv")
            made += n
        links = call(base, token, "GET", f"/api/v1/surveys/{sid}/invitations.csv").decode()
        tokens = [line.split(",")[5].rsplit("/s/", 1)[1] for line in links.splitlines()[1:]]
        # A warm-up on the first 20,000 links (a live database has answers
        # and statistics; an empty one plans for empty tables), then the
        # measured run on the rest.
        warm, tokens = tokens[:20_000], tokens[20_000:]
        warm_file = os.path.join(work, f"warm-{label}.txt")
        with open(warm_file, "w") as f:
            f.write("\n".join(warm) + "\n")
        tokens_file = os.path.join(work, f"tokens-{label}.txt")
        with open(tokens_file, "w") as f:
            f.write("\n".join(tokens) + "\n")
        threads = os.environ.get("WRK_THREADS", "1")
        warm_env = dict(os.environ, TOKENS=warm_file, THREADS=threads)
        wrk(base, 5, connections, warm_env, os.path.join(ROOT, "bench", "submit.lua"))
        time.sleep(1)  # answers in flight when wrk stopped are committed by now
        warmed = json.loads(call(base, token, "GET", f"/api/v1/metrics?metric=nps&survey={name}"))["overall"]["n"]
        if database.startswith("postgres"):
            # Statistics of what is there now, and the WAL checkpointed.
            subprocess.run(["psql", database, "-qc", "ANALYZE"], check=True)
            subprocess.run(["psql", database, "-qc", "CHECKPOINT"], check=True)
        wenv = dict(os.environ, TOKENS=tokens_file, THREADS=threads)
        # Reference: the same stack answering a health check.
        _, healthz_rps = wrk(base + "/healthz", min(seconds, 10), connections, wenv)
        text, rps = wrk(base, seconds, connections, wenv, os.path.join(ROOT, "bench", "submit.lua"))
        fields = dict(re.findall(r"^([A-Z0-9_.]+) ([\d.]+)$", text, re.M))
        acked = int(fields["ACKED"])
        other = int(fields["OTHER"])
        metrics = json.loads(call(base, token, "GET", f"/api/v1/metrics?metric=nps&survey={name}"))
        present = metrics["overall"]["n"] - warmed
    finally:
        server.terminate()
        server.wait()
    verify = subprocess.run([BIN, "verify-rollups", "--database", database],
                            capture_output=True, text=True, env=env)
    return {
        "backend": label,
        "answers_per_s": round(acked / float(fields["SECONDS"]), 1),
        "wrk_requests_per_s": rps,
        "p50_ms": float(fields["P50_MS"]),
        "p90_ms": float(fields["P90_MS"]),
        "p99_ms": float(fields["P99_MS"]),
        "acknowledged": acked,
        "not_acknowledged": other,
        "present_after": present,
        # Requests still in flight when wrk stops may commit unacknowledged:
        # at most one per connection.
        "all_present": acked <= present <= acked + connections and acked <= len(tokens),
        "rollups_equal_rebuild": verify.returncode == 0,
        "verify": (verify.stdout + verify.stderr).strip().splitlines()[-1:] ,
        "healthz_per_s": healthz_rps,
        "ratio_to_healthz": round(acked / float(fields["SECONDS"]) / healthz_rps, 3),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--connections", type=int, default=96)
    ap.add_argument("--invitations", type=int, default=200_000)
    ap.add_argument("--postgres", help="a PostgreSQL URL (a database per run is created there)")
    ap.add_argument("--only-postgres", action="store_true")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="northstar-submit-", dir=os.environ.get("BENCH_DIR", ROOT))
    results = []
    if not args.only_postgres:
        results.append(run(f"sqlite://{work}/bench.db", "sqlite", args.invitations, args.seconds,
                           args.connections, work))
    if args.postgres:
        # A fresh database per run (runs must not inherit each other's rows).
        db = f"submit_{os.getpid()}"
        subprocess.run(["psql", args.postgres, "-qc", f"CREATE DATABASE {db}"], check=True)
        url = args.postgres.rsplit("/", 1)[0] + "/" + db
        results.append(run(url, "postgres", args.invitations, args.seconds,
                           args.connections, work))
    for r in results:
        print(json.dumps(r))
    ok = all(r["all_present"] and r["rollups_equal_rebuild"] and r["not_acknowledged"] == 0
             for r in results)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
