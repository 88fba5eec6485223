"""clients/bench_table.py N CONCURRENCY < lines: the table and JSON line of
clients/bench.sh from its lines "<worker> <bench roundtrip JSON line>"."""
import json
import sys


def main():
    runs = {}
    for line in sys.stdin:
        name, _, js = line.partition(" ")
        try:
            runs.setdefault(name, []).append(json.loads(js)["workflows_per_s"])
        except (ValueError, KeyError):
            print("a run failed:", line.strip(), file=sys.stderr)
    mean = lambda v: sum(v) / len(v) if v else 0.0
    base = mean(runs.get("native", []))
    out = {"bench": "clients_roundtrip", "workflows": int(sys.argv[1]), "concurrency": int(sys.argv[2])}
    for name, v in runs.items():
        r = mean(v) / base if base else 0.0
        each = ", ".join("%.0f" % x for x in v)
        print("%-20s %8.0f workflows/s (runs: %s)  %.2fx native" % (name, mean(v), each, r))
        key = name.replace("-", "_")
        out[key + "_per_s"] = round(mean(v), 1)
        out[key + "_ratio"] = round(r, 3)
    print(json.dumps(out))


main()
