#!/usr/bin/env bash
# The job queues a user would pick instead, beside `switchyard bench
# roundtrip`, on the same throwaway servers, interleaved, in one run:
#   bench/peers/run.sh [N] [REPS]      (after `make build`; not part of make test)
# Installs the pinned peers from npm into bench/peers/node_modules and
# Debian's redis-server when missing. Durable settings on every side:
# Postgres fsync + synchronous_commit on (devstack --durable), Redis
# appendonly with appendfsync everysec (and always for BullMQ single).
# Prints one line per measurement, then the table of ratios, then one JSON line.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SY=${SY:-$ROOT/build/switchyard}
N=${1:-20000}; REPS=${2:-3}
[ -x "$SY" ] || { echo "no $SY: run make build first" >&2; exit 1; }
if ! command -v redis-server >/dev/null; then
  if [ "$(id -u)" -eq 0 ]; then DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server >/dev/null
  else echo "peers: install redis-server (apt-get install redis-server)" >&2; exit 1; fi
fi
command -v node >/dev/null || { echo "peers: needs node and npm (apt-get install nodejs npm)" >&2; exit 1; }
[ -d "$HERE/node_modules/graphile-worker" ] || (cd "$HERE" && npm ci --no-audit --no-fund >/dev/null)
exec "$SY" testenv --durable -- bash "$HERE/inner.sh" "$SY" "$N" "$REPS"
