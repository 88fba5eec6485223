#!/usr/bin/env bash
# clients/bench.sh [N] [REPS]: the client libraries' workers against the
# native no-op worker of `switchyard bench roundtrip`, on the same durable
# throwaway servers, interleaved (native, TypeScript, Go, native, ...), N
# workflows (default 10000) each, REPS rounds (default 3). The TypeScript
# and Go workers (clients/typescript/bench/noop-worker.ts,
# clients/go/benchworker) run at concurrency $SY_CONCURRENCY (default 64)
# with a no-op handler and the whole protocol (task.started with the claim
# check, task.completed, each after its PubAck, then the ack); the native
# worker is batched and skips task.started (bench/README.md);
# native-started is the same worker sending task.started too (the
# engine's work per task the clients cause). The workers' CPU per task is
# in the log the script names.
# SY_NO_CLAIM=1 measures the clients without the claim check too.
# After `make build`; not part of make test. Prints one line a run, the
# ratios, then one JSON line.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
SY=$BUILD/switchyard
N=${1:-10000} REPS=${2:-3}
[ -x "$SY" ] || { echo "clients/bench.sh: no $SY: run make build first" >&2; exit 1; }
"$ROOT/tests/integration/clients.sh" ts-build "$ROOT" "$BUILD" >&2
"$ROOT/tests/integration/clients.sh" go-build "$ROOT" "$BUILD" >&2
TS="node $BUILD/clients/typescript/dist/bench/noop-worker.js"
GO="$BUILD/clients/bin/benchworker"
export SY_CONCURRENCY=${SY_CONCURRENCY:-64}
exec "$SY" testenv --durable -- bash -c '
  set -euo pipefail
  SY=$1 N=$2 REPS=$3 TS=$4 GO=$5
  LOG=$(mktemp /tmp/sy-clients-bench-XXXXXX.log)
  echo "clients/bench.sh: the runs log to $LOG" >&2
  rt() { "$SY" bench roundtrip --count "$N" --nats "$SY_TEST_NATS_URL" --db "$SY_TEST_PG_CONNINFO" "$@" 2>>"$LOG" | tail -1; }
  for rep in $(seq "$REPS"); do
    echo "native $(rt)"
    echo "native-started $(rt --worker-started)"
    echo "typescript $(rt --worker-cmd "$TS")"
    echo "go $(rt --worker-cmd "$GO")"
    if [ "${SY_NO_CLAIM:-}" = 1 ]; then
      echo "typescript-no-claim $(SY_NO_CLAIM=1 rt --worker-cmd "$TS")"
      echo "go-no-claim $(SY_NO_CLAIM=1 rt --worker-cmd "$GO")"
    fi
  done | tee /dev/stderr | python3 "$6" "$N" "$SY_CONCURRENCY"
' bench "$SY" "$N" "$REPS" "$TS" "$GO" "$ROOT/clients/bench_table.py"
