#!/usr/bin/env bash
# clients.sh: builds and tests the client libraries against the servers of
# `switchyard testenv` (SY_TEST_NATS_URL, SY_TEST_PG_CONNINFO), with the
# switchyard binary of this build. Registered by clients/CMakeLists.txt:
#
#   clients.sh ts-build SRC BUILD   copy clients/typescript into BUILD, npm ci
#                                   (only when the lockfile changed; the npm
#                                   cache lives in BUILD too), tsc
#   clients.sh ts-test SRC BUILD    node --test over the compiled tests
#   clients.sh go-test SRC BUILD    go test, offline, on Debian's Go sources;
#                                   builds the Go examples and the bench worker
#                                   into BUILD/clients/bin
#
# The source tree is never written to: node_modules, dist and Go's caches
# all live under BUILD/clients.
set -euo pipefail
mode=$1 src=$2 build=$3
out=$build/clients
export SY_SOURCE_DIR=$src SWITCHYARD_BIN=$build/switchyard
mkdir -p "$out"

ts_build() {
  local d=$out/typescript
  mkdir -p "$d"
  # a fresh copy of the sources (removed files must not linger in dist)
  rm -rf "$d/src" "$d/test" "$d/bench" "$d/examples" "$d/dist"
  cp -r "$src/clients/typescript/src" "$src/clients/typescript/test" "$src/clients/typescript/bench" "$d/"
  mkdir -p "$d/examples"
  for e in "$src"/examples/ts-*; do [ -d "$e" ] && cp -r "$e" "$d/examples/"; done
  cp "$src/clients/typescript/package.json" "$src/clients/typescript/package-lock.json" \
     "$src/clients/typescript/tsconfig.json" "$d/"
  local stamp=$d/node_modules/.lock-sha
  local sha
  sha=$(sha256sum "$d/package-lock.json" | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sha" ]; then
    (cd "$d" && npm ci --no-audit --no-fund --cache "$out/npm-cache" --loglevel=error)
    echo "$sha" > "$stamp"
  fi
  (cd "$d" && ./node_modules/.bin/tsc -p tsconfig.json)
}

ts_test() {
  local d=$out/typescript
  cd "$d"
  exec node --test --test-concurrency=1 dist/test/*.test.js
}

# GOPATH mode on Debian's packaged sources: no module proxy, no network
gopath_go() {
  local gp=$out/gopath repo=$out/gopath/src/github.com/switchyard/switchyard
  mkdir -p "$repo/clients"
  ln -sfn "$src/clients/go" "$repo/clients/go"
  ln -sfn "$src/examples" "$repo/examples"
  (cd "$repo" && GO111MODULE=off GOPATH="$gp:/usr/share/gocode" GOPROXY=off GOFLAGS= \
    GOCACHE="$out/gocache" go "$@")
}

go_build() {
  mkdir -p "$out/bin"
  local p
  for p in clients/go/benchworker examples/go-worker examples/go-publisher; do
    gopath_go build -o "$out/bin/$(basename "$p")" "github.com/switchyard/switchyard/$p"
  done
}

go_test() {
  go_build
  gopath_go test -count=1 -timeout 500s -v ./clients/go/...
}

case $mode in
  ts-build) ts_build ;;
  ts-test) ts_test ;;
  go-test) go_test ;;
  go-build) go_build ;;
  *) echo "clients.sh: unknown mode $mode" >&2; exit 64 ;;
esac
