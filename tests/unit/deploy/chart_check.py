#!/usr/bin/env python3
"""chart_check.py: renders deploy/helm/switchyard and checks what came out.

    chart_check.py CHART WORKDIR [-f VALUES.yaml ...]

Renders with `helm template` when a helm binary is on PATH, else with
helm_render.py (Debian has no helm). Every rendered file must parse as YAML
(yaml.safe_load_all), and the objects must fit together: probes on the
admin port's /livez and /readyz, the Secret mounted where
CREDENTIALS_DIRECTORY points and holding every key the configuration
reads, one worker Deployment per worker, a ScaledObject on each worker's
durable consumer, a ServiceMonitor selecting the Service. Writes the
ConfigMap's files and the decoded Secret to WORKDIR/extract/ for the caller
to load with `switchyard serve --check-config`. Exit 0, or 1 with the
first problem on stderr.
"""
import base64
import os
import shutil
import subprocess
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))


def fail(msg):
    print(f"chart_check.py: {msg}", file=sys.stderr)
    sys.exit(1)


def render(chart, out, values):
    if shutil.which("helm"):
        cmd = ["helm", "template", "sy", chart, "--output-dir", out]
        for v in values:
            cmd += ["-f", v]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            fail(f"helm template: {r.stderr}")
        return os.path.join(out, os.path.basename(chart.rstrip("/")), "templates")
    cmd = [sys.executable, os.path.join(HERE, "helm_render.py"), chart, out]
    for v in values:
        cmd += ["-f", v]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        fail(r.stderr.strip())
    return out


def load_all(tdir):
    objs = []
    for fn in sorted(os.listdir(tdir)):
        with open(os.path.join(tdir, fn)) as f:
            try:
                docs = list(yaml.safe_load_all(f))
            except yaml.YAMLError as e:
                fail(f"{fn}: not YAML: {e}")
        for d in docs:
            if d is None:
                continue
            if not isinstance(d, dict) or "kind" not in d or "apiVersion" not in d:
                fail(f"{fn}: a document without kind/apiVersion: {d!r}")
            d["_file"] = fn
            objs.append(d)
    return objs


def one(objs, kind, name=None):
    found = [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    if len(found) != 1:
        fail(f"expected one {kind} {name or ''}, found {len(found)}")
    return found[0]


def check_serve(objs, values):
    dep = one(objs, "Deployment", "sy-switchyard")
    spec = dep["spec"]["template"]["spec"]
    c = spec["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    if "admin" not in ports:
        fail("the serve container has no admin port")
    for probe, path in (("livenessProbe", "/livez"), ("readinessProbe", "/readyz"),
                        ("startupProbe", "/livez")):
        h = c.get(probe, {}).get("httpGet", {})
        if h.get("path") != path or h.get("port") != "admin":
            fail(f"{probe} is {h!r}, expected {path} on the admin port")
    if dep["spec"]["replicas"] != values.get("replicaCount", 2):
        fail("replicas do not follow replicaCount")
    sel = dep["spec"]["selector"]["matchLabels"]
    labels = dep["spec"]["template"]["metadata"]["labels"]
    if any(labels.get(k) != v for k, v in sel.items()):
        fail("the Deployment's selector does not match its pods")
    sc = c["securityContext"]
    if sc.get("readOnlyRootFilesystem") is not True or sc.get("allowPrivilegeEscalation") is not False:
        fail(f"the serve container is not locked down: {sc!r}")
    if spec["securityContext"].get("runAsNonRoot") is not True:
        fail("the pod may run as root")
    env = {e["name"]: e.get("value") for e in c.get("env", [])}
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    vols = {v["name"]: v for v in spec["volumes"]}
    if env.get("CREDENTIALS_DIRECTORY") != mounts.get("credentials"):
        fail("CREDENTIALS_DIRECTORY is not where the Secret is mounted")
    cm = one(objs, "ConfigMap")
    if vols["config"]["configMap"]["name"] != cm["metadata"]["name"]:
        fail("the config volume is not the chart's ConfigMap")
    config_path = c["args"][c["args"].index("--config") + 1]
    if os.path.dirname(config_path) != mounts["config"] or os.path.basename(config_path) not in cm["data"]:
        fail(f"--config {config_path} is not a file of the mounted ConfigMap")
    return dep, cm, vols["credentials"]["secret"]["secretName"]


def check_secret(objs, cm, secret_name, extract):
    serve = yaml.safe_load(cm["data"]["serve.yaml"])
    yaml.safe_load(cm["data"]["rules.yaml"])
    sec = one(objs, "Secret", secret_name)
    keys = set(sec["data"])
    wanted = set()
    for section in serve.values():
        for v in (section or {}).values() if isinstance(section, dict) else []:
            if isinstance(v, str) and v.startswith("${CREDENTIALS_DIRECTORY}/"):
                wanted.add(v.split("/", 1)[1])
    if wanted - keys:
        fail(f"serve.yaml reads {sorted(wanted - keys)}, which the Secret lacks")
    os.makedirs(os.path.join(extract, "credentials"), exist_ok=True)
    for name, text in cm["data"].items():
        with open(os.path.join(extract, name), "w") as f:
            f.write(text)
    for k, b64 in sec["data"].items():
        with open(os.path.join(extract, "credentials", k), "wb") as f:
            f.write(base64.b64decode(b64))
    return wanted


def check_workers(objs, values):
    workers = values.get("workers") or []
    keda = values.get("keda", {}).get("enabled")
    for w in workers:
        name = f"sy-switchyard-worker-{w['queue']}"
        dep = one(objs, "Deployment", name)
        args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
        if args[:3] != ["worker", "--queue", w["queue"]] or args[args.index("--") + 1:] != w["command"]:
            fail(f"{name}: args {args!r}")
        if keda:
            so = one(objs, "ScaledObject", name)
            if so["spec"]["scaleTargetRef"]["name"] != name:
                fail(f"ScaledObject {name} scales {so['spec']['scaleTargetRef']['name']}")
            t = so["spec"]["triggers"][0]
            if t["type"] != "nats-jetstream" or t["metadata"]["consumer"] != f"sy-worker-{w['queue']}":
                fail(f"ScaledObject {name}: trigger {t!r}")
            if "replicas" in dep["spec"]:
                fail(f"{name}: replicas set while KEDA owns them")
    if not keda and any(o["kind"] == "ScaledObject" for o in objs):
        fail("a ScaledObject without keda.enabled")


def check_monitor(objs, values):
    mons = [o for o in objs if o["kind"] == "ServiceMonitor"]
    if not values.get("serviceMonitor", {}).get("enabled"):
        if mons:
            fail("a ServiceMonitor without serviceMonitor.enabled")
        return
    svc = one(objs, "Service")
    mon = one(objs, "ServiceMonitor")
    sel = mon["spec"]["selector"]["matchLabels"]
    if any(svc["metadata"]["labels"].get(k) != v for k, v in sel.items()):
        fail("the ServiceMonitor does not select the Service")
    ep = mon["spec"]["endpoints"][0]
    if ep["path"] != "/metrics" or ep["port"] not in [p["name"] for p in svc["spec"]["ports"]]:
        fail(f"ServiceMonitor endpoint {ep!r}")


def main(argv):
    if len(argv) < 2:
        fail("usage: chart_check.py CHART WORKDIR [-f VALUES.yaml ...]")
    chart, work = argv[0], argv[1]
    files = [argv[i + 1] for i in range(2, len(argv) - 1) if argv[i] == "-f"]
    values = {}
    sys.path.insert(0, HERE)
    from helm_render import merge
    for path in [os.path.join(chart, "values.yaml")] + files:
        with open(path) as f:
            values = merge(values, yaml.safe_load(f) or {})
    tdir = render(chart, os.path.join(work, "rendered"), files)
    objs = load_all(tdir)
    dep, cm, secret_name = check_serve(objs, values)
    wanted = check_secret(objs, cm, secret_name, os.path.join(work, "extract"))
    check_workers(objs, values)
    check_monitor(objs, values)
    kinds = sorted({o["kind"] for o in objs})
    print(f"chart_check.py: {len(objs)} objects ({', '.join(kinds)}); secrets read: {sorted(wanted)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
