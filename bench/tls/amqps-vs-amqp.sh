#!/usr/bin/env bash
# amqps-vs-amqp.sh PLAIN_PORT TLS_PORT [BROKER_PID] — the cost of TLS on one Warren: the shared
# load generator (../shared/bench/perf, amqp091-go) over amqp and over amqps, interleaved
# (round 1: plain then TLS, round 2: TLS then plain, ...), scenarios s1 (transient 16 B,
# autoack) and s2 (persistent 1 KiB, confirms, acks). Every frame is written separately in both
# (--no-coalesce: the perf tool's write coalescing would hold back the TLS handshake).
# The server certificate is checked against test/fixtures/tls/ca.pem (SSL_CERT_FILE), so start
# Warren with that directory's server.pem/server.key, e.g.
#   node dist/src/cli/warren.js --port 5782 --ssl-port 5783 --management-port off --prometheus-port off \
#     --ssl-certfile test/fixtures/tls/server.pem --ssl-keyfile test/fixtures/tls/server.key
# Environment: ROUNDS=3, DUR=8, PERF=/tmp/amqp-bench-perf/perf (built by run-scenarios.sh).
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,12p' "$0"; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
PERF=${PERF:-${TMPDIR:-/tmp}/amqp-bench-perf/perf}
ROUNDS=${ROUNDS:-3}
DUR=${DUR:-8}
export SSL_CERT_FILE="$HERE/../../test/fixtures/tls/ca.pem"
[ -x "$PERF" ] || { echo "no load generator at $PERF: run ../shared/bench/run-scenarios.sh once to build it" >&2; exit 1; }
pid=()
[ -n "${3:-}" ] && pid=(--broker-pid "$3")
s1=(--producers 1 --consumers 1 --size 16 --autoack --grace 1)
s2=(--producers 1 --consumers 1 --size 1024 --confirm 1000 --persistent --durable --prefetch 1000 --grace 1)
run() { # label uri scenario-args...
  local label=$1 uri=$2; shift 2
  "$PERF" --uri "$uri" --label "$label" --time "$DUR" --warmup 2 --no-coalesce "${pid[@]}" "$@" 2>/dev/null \
    | jq -r --arg l "$label" '"\($l)\t\(.consume_rate|floor)\t\(.latency_p99_ms)\t\(.broker_cpu_pct // "-")"'
}
printf 'run\tconsumed msg/s\tp99 ms\tbroker cpu %%\n'
for r in $(seq 1 "$ROUNDS"); do
  for sc in s1 s2; do
    declare -n args=$sc
    plain() { run "$sc-amqp-r$r" "amqp://guest:guest@127.0.0.1:$1/" "${args[@]}"; }
    tls() { run "$sc-amqps-r$r" "amqps://guest:guest@localhost:$2/" "${args[@]}"; }
    if [ $((r % 2)) -eq 1 ]; then plain "$1" "$2"; tls "$1" "$2"; else tls "$1" "$2"; plain "$1" "$2"; fi
  done
done
