#!/usr/bin/env bash
# Runs inside `switchyard testenv --durable` (run.sh): SY_TEST_NATS_URL and
# SY_TEST_PG_CONNINFO name the throwaway servers.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SY=$1; N=$2; REPS=$3
RPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
OUT=$(mktemp -d); trap 'redis-cli -p $RPORT shutdown nosave >/dev/null 2>&1 || true; rm -rf "$OUT"' EXIT
psql "$SY_TEST_PG_CONNINFO" -qc "CREATE DATABASE peers" >/dev/null
PEERS_PG=$(python3 "$HERE/pgurl.py" "$SY_TEST_PG_CONNINFO" peers)
redis() { # fsync policy
  redis-cli -p $RPORT shutdown nosave >/dev/null 2>&1 || true; sleep 0.3
  rm -rf "$OUT/redis"; mkdir -p "$OUT/redis"
  redis-server --bind 127.0.0.1 --port $RPORT --dir "$OUT/redis" --appendonly yes --appendfsync "$1" \
    --save "" --daemonize yes --logfile "$OUT/redis.log" >/dev/null
  for _ in $(seq 50); do redis-cli -p $RPORT ping >/dev/null 2>&1 && return; sleep 0.1; done
}
single=$(( N / 10 > 1000 ? N / 10 : 1000 ))
for rep in $(seq "$REPS"); do
  echo "SY $("$SY" bench roundtrip --count "$N" --nats "$SY_TEST_NATS_URL" --db "$SY_TEST_PG_CONNINFO" 2>&1 | tail -1)"
  echo "PEER $(node "$HERE/graphile.mjs" "$PEERS_PG" "$N" bulk | grep "^{" | tail -1)"
  echo "PEER $(node "$HERE/graphile.mjs" "$PEERS_PG" "$single" single | grep "^{" | tail -1)"
  echo "PEER $(node "$HERE/pgboss.mjs" "$PEERS_PG" "$N" bulk | grep "^{" | tail -1)"
  redis everysec
  echo "PEER $(node "$HERE/bullmq.mjs" $RPORT "$N" bulk | grep "^{" | tail -1)"
  echo "PEER $(node "$HERE/bullmq.mjs" $RPORT "$single" single | grep "^{" | tail -1) everysec"
  redis always
  echo "PEER $(node "$HERE/bullmq.mjs" $RPORT "$single" single | grep "^{" | tail -1) always"
done | tee "$OUT/lines"
python3 "$HERE/table.py" "$OUT/lines"
