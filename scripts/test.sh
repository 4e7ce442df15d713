#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests need
# (Debian packages, Go modules), then go vet and go test -race in every Go
# module of the repository.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
# Browser tests (e2e/) need Chromium.
if [ -d e2e ] && ! command -v chromium >/dev/null 2>&1; then need_apt+=(chromium); fi
# The client's unit tests (js/test/) run in Node's own test runner.
if ! command -v node >/dev/null 2>&1; then need_apt+=(nodejs); fi
# The Redis module's tests start their own redis-server on loopback.
if [ -d redis ] && ! command -v redis-server >/dev/null 2>&1; then need_apt+=(redis-server); fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "== installing ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# staticcheck, pinned, from the Go module proxy.
staticcheck="$(go env GOPATH)/bin/staticcheck"
if ! "$staticcheck" -version 2>/dev/null | grep -qF '(0.8.2)'; then
  echo "== installing staticcheck"
  go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi

status=0
# The protocol's names are generated from protocol.json (go generate): the
# committed protocol_gen.go and js/protocol.js must be what it generates.
echo "== go generate is current"
go generate . && git diff --exit-code -- protocol_gen.go js/protocol.js || { echo "protocol_gen.go or js/protocol.js is stale: run go generate"; status=1; }
echo "== js: node --test"
node --test js/test/*.test.js || status=1
for mod in $(git ls-files '*go.mod' 2>/dev/null || find . -name go.mod -not -path '*/node_modules/*'); do
  dir=$(dirname "$mod")
  echo "== $dir: go vet"
  (cd "$dir" && go vet ./...) || status=1
  echo "== $dir: staticcheck"
  (cd "$dir" && "$staticcheck" ./...) || status=1
  echo "== $dir: go test -race"
  (cd "$dir" && go test -race -count=1 -timeout 20m ./...) || status=1
done
# A short burst of fuzzing on top of the committed seed corpora
# (testdata/fuzz), which every go test run above already replays. New
# inputs are minimized for 10 runs at most, so the burst spends its time
# fuzzing.
for target in FuzzWebSocketMessage FuzzHTTPForm FuzzFrames; do
  echo "== fuzz $target (10s)"
  go test -run '^$' -fuzz "^$target\$" -fuzztime 10s -fuzzminimizetime 10x . || status=1
done
exit $status
