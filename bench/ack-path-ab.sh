#!/bin/bash
# The deliver/ack path before and after a change: two Warren builds (BASE, default a `git archive
# main` built in /tmp/warren-base, and this tree), interleaved, each fresh, with the shared perf
# tool: 1 producer, 1 consumer, 16 B, manual acks, prefetch 1000, 10 s a run, 3 rounds.
#   bench/ack-path-ab.sh [BASE_DIR]
# Needs /tmp/amqp-bench-perf/perf (../shared/bench/run-scenarios.sh builds it) and both trees built.
BASE=${1:-/tmp/warren-base}
HERE=$(cd "$(dirname "$0")/.." && pwd)
PERF=${PERF:-/tmp/amqp-bench-perf/perf}
run() { # dir port
  local dir=$1 port=$2 data
  data=$(mktemp -d)
  node "$dir/dist/src/cli/warren.js" --port "$port" --bind 127.0.0.1 --data-dir "$data" --management-port off --prometheus-port off --log-level warn >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 100); do (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.2; done
  "$PERF" --uri "amqp://guest:guest@127.0.0.1:$port/" --producers 1 --consumers 1 --size 16 --prefetch 1000 --time 10 2>/dev/null \
    | python3 -c 'import json,sys; d=json.loads(sys.stdin.readline()); print("publish %s/s consume %s/s" % (d["publish_rate"], d["consume_rate"]))'
  kill "$pid"; wait "$pid" 2>/dev/null; rm -rf "$data"
}
for r in 1 2 3; do
  echo "round $r base: $(run "$BASE" 27672)"
  echo "round $r this: $(run "$HERE" 27673)"
done
