"""Turns run.sh's lines into the table of switchyard / peer ratios."""
import json, sys
sy, peers = [], {}
for line in open(sys.argv[1]):
    kind, _, rest = line.partition(" ")
    if kind == "SY" and rest.startswith("{"):
        sy.append(json.loads(rest)["workflows_per_s"])
    elif kind == "PEER" and rest.startswith("{"):
        body, _, policy = rest.rpartition("}")
        j = json.loads(body + "}")
        key = f'{j["peer"]} {j["version"]}, {j["mode"]}' + (f", appendfsync {policy.strip()}" if policy.strip() else "")
        peers.setdefault(key, []).append(j["jobs_per_s"])
if not sy or not peers:
    sys.exit("peers: a run failed; see the lines above")
rng = lambda v: f"{min(v)/1000:.1f}k-{max(v)/1000:.1f}k"
print(f"\nswitchyard round trip (bench roundtrip): {rng(sy)} workflows/s over {len(sy)} reps\n")
print("| peer | its jobs/s | switchyard / peer (same rep) |\n|---|---|---|")
out = {"bench": "peers", "switchyard_workflows_per_s": sy, "peers": {}}
for k, v in peers.items():
    ratios = [a / b for a, b in zip(sy, v)]
    print(f"| {k} | {rng(v)} | {min(ratios):.2f}-{max(ratios):.2f} |")
    out["peers"][k] = {"jobs_per_s": v, "ratio": [round(r, 3) for r in ratios]}
print(json.dumps(out))
