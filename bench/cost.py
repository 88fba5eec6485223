#!/usr/bin/env python3
"""bench/cost.py: what one round trip costs, by process, for each kind of worker.

usage (after `make build`; not part of make test):
  build/switchyard testenv --durable -- python3 bench/cost.py [--count N] [--reps R] [--build DIR]

Runs `switchyard bench roundtrip` on the testenv's servers, interleaved, for
the native batched worker, the native worker sending task.started
(--worker-started), and the client libraries' no-op workers (TypeScript and
Go, concurrency $SY_CONCURRENCY, default 64, when they are built:
clients/bench.sh builds them), and prints per run: workflows/s, the CPU
each process spent per workflow (nats-server, Postgres with its exited
backends, the bench process with its worker child), Postgres transactions
per workflow and WAL bytes per workflow. The last line is one JSON object.

Why: a rate alone does not say whether a worker is CPU bound (the box
full) or latency bound (the box idle, the worker waiting); CPU and
transactions per workflow do (bench/README.md, "Round trip: what a worker
costs").
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu(comm):
    """CPU seconds of every process named comm, with its reaped children."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                st = f.read()
        except OSError:
            continue
        name = st[st.index("(") + 1 : st.rindex(")")]
        if name != comm:
            continue
        fields = st[st.rindex(")") + 2 :].split()
        total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total / TICK


def pg_value(conninfo, sql):
    out = subprocess.run(["psql", conninfo, "-Atc", sql], capture_output=True, text=True,
                         check=True)
    return int(float(out.stdout.strip() or 0))


def snapshot(conninfo):
    return {
        "nats": proc_cpu("nats-server"),
        "pg": proc_cpu("postgres"),
        "xacts": pg_value(conninfo, "SELECT sum(xact_commit) FROM pg_stat_database"),
        "wal": pg_value(conninfo, "SELECT wal_bytes FROM pg_stat_wal"),
    }


def run(sy, n, args, nats, conninfo):
    before = snapshot(conninfo)
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run([sy, "bench", "roundtrip", "--count", str(n), "--nats", nats, "--db",
                        conninfo] + args, capture_output=True, text=True)
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    time.sleep(0.5)  # the last commits' statistics reach pg_stat_database
    after = snapshot(conninfo)
    if p.returncode != 0:
        sys.exit(f"bench/cost.py: bench roundtrip {' '.join(args)} failed:\n{p.stderr[-2000:]}")
    rate = json.loads(p.stdout.strip().splitlines()[-1])["workflows_per_s"]
    us = lambda s: round(s / n * 1e6, 1)
    sy_cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    return {
        "workflows_per_s": round(rate),
        "cpu_us_per_wf": {"nats": us(after["nats"] - before["nats"]),
                          "postgres": us(after["pg"] - before["pg"]),
                          "switchyard_and_worker": us(sy_cpu)},
        "xacts_per_wf": round((after["xacts"] - before["xacts"]) / n, 3),
        "wal_bytes_per_wf": round((after["wal"] - before["wal"]) / n),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--build", default=os.path.join(os.path.dirname(__file__), "..", "build"))
    ap.add_argument("--variant", action="append", default=[],
                    help="NAME=ARGS: also run the client workers with these bench roundtrip"
                         " arguments (e.g. lingerless='--linger-ms 0'), for an A/B in one run")
    a = ap.parse_args()
    nats, conninfo = os.environ.get("SY_TEST_NATS_URL"), os.environ.get("SY_TEST_PG_CONNINFO")
    if not nats or not conninfo:
        sys.exit("bench/cost.py: run it under `switchyard testenv --durable -- ...`")
    build = os.path.abspath(a.build)
    sy = os.path.join(build, "switchyard")
    workers = [("native", []), ("native-started", ["--worker-started"])]
    ts = os.path.join(build, "clients/typescript/dist/bench/noop-worker.js")
    go = os.path.join(build, "clients/bin/benchworker")
    if os.path.exists(ts):
        workers.append(("typescript", ["--worker-cmd", f"node {ts}"]))
    if os.path.exists(go):
        workers.append(("go", ["--worker-cmd", go]))
    for v in a.variant:
        vname, _, vargs = v.partition("=")
        workers += [(f"{n}-{vname}", args + vargs.split()) for n, args in list(workers)
                    if "-" not in n or n == "native-started"]
    os.environ.setdefault("SY_CONCURRENCY", "64")
    rows = []
    for rep in range(a.reps):
        for name, args in workers:
            r = run(sy, a.count, args, nats, conninfo)
            r.update(worker=name, rep=rep + 1)
            rows.append(r)
            c = r["cpu_us_per_wf"]
            total = round(sum(c.values()), 1)
            print(f"{name:15} {r['workflows_per_s']:6d} wf/s  CPU us/wf: nats {c['nats']:6.1f}"
                  f"  postgres {c['postgres']:6.1f}  switchyard+worker"
                  f" {c['switchyard_and_worker']:6.1f}  total {total:6.1f}"
                  f"  xacts/wf {r['xacts_per_wf']:.3f}  WAL B/wf {r['wal_bytes_per_wf']}",
                  flush=True)
    print(json.dumps({"bench": "roundtrip_cost", "count": a.count,
                      "concurrency": int(os.environ["SY_CONCURRENCY"]), "runs": rows}))


if __name__ == "__main__":
    main()
