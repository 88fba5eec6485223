#!/usr/bin/env python3
"""compose_check.py: docker-compose.dev.yml starts the stack `make dev` runs.

    compose_check.py CONFIG.yml QUEUE...

CONFIG.yml is the output of `docker-compose -f docker-compose.dev.yml
config` (the file as docker-compose understood it); QUEUE... are the queues
`switchyard dev` runs an example worker for (cli/dev_workers.c). Checks:
nats-server with JetStream, Postgres, switchyard serving the example rules
with the payload schemas once both are healthy, and exactly one example
worker per queue, started after switchyard is ready. Exit 0, or 1 with the
first difference.
"""
import sys

import yaml


def fail(msg):
    print(f"compose_check.py: {msg}", file=sys.stderr)
    sys.exit(1)


def command(svc):
    c = svc.get("command") or []
    return c.split() if isinstance(c, str) else c


def main(argv):
    with open(argv[0]) as f:
        services = yaml.safe_load(f)["services"]
    queues = argv[1:]
    if "-js" not in command(services.get("nats", {})):
        fail("no nats service with JetStream (-js)")
    if "postgres" not in services:
        fail("no postgres service")
    sy = services.get("switchyard")
    if not sy or command(sy)[:1] != ["serve"]:
        fail("no switchyard service running serve")
    env = sy.get("environment", {})
    for key in ("SWITCHYARD_RULES", "SWITCHYARD_ENVELOPE_SCHEMAS_DIR", "SWITCHYARD_NATS_URL",
                "SWITCHYARD_DB"):
        if not env.get(key):
            fail(f"switchyard: {key} is not set (switchyard dev sets it)")
    for dep in ("nats", "postgres"):
        if sy.get("depends_on", {}).get(dep, {}).get("condition") != "service_healthy":
            fail(f"switchyard does not wait for a healthy {dep}")
    workers = {}
    for name, svc in services.items():
        c = command(svc)
        if "--queue" in c:
            workers[c[c.index("--queue") + 1]] = (name, svc)
    if sorted(workers) != sorted(queues):
        fail(f"worker queues {sorted(workers)}, switchyard dev runs {sorted(queues)}")
    for q, (name, svc) in workers.items():
        if svc.get("depends_on", {}).get("switchyard", {}).get("condition") != "service_healthy":
            fail(f"{name} does not wait for switchyard to be ready")
        if "nats://nats:4222" not in command(svc):
            fail(f"{name} does not connect to the nats service")
    print(f"compose_check.py: nats, postgres, switchyard and {len(workers)} workers ({', '.join(sorted(workers))})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
