#!/usr/bin/env bash
# s1 and s2 (../shared/bench/run-scenarios.sh) on two Warrens from this checkout's dist/: one with
# the management API and Prometheus on and watched (overview, a sorted queue page and /metrics
# every second, as an open UI and a scraper would), one with both off. SWAP=1 makes the "off"
# broker A, to cancel position effects; run both ways.
#   bench/management/api-on-off.sh; SWAP=1 bench/management/api-on-off.sh
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
OUT=${OUT:-/tmp/warren-api-on-off/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
rm -rf "$OUT/on-data" "$OUT/off-data"
node "$ROOT/dist/src/cli/warren.js" --port 5691 --management-port 15694 --prometheus-port 15695 \
  --data-dir "$OUT/on-data" --log-level warn > "$OUT/on.log" 2>&1 &
ON=$!
node "$ROOT/dist/src/cli/warren.js" --port 5692 --management-port off --prometheus-port off \
  --data-dir "$OUT/off-data" --log-level warn > "$OUT/off.log" 2>&1 &
OFF=$!
trap 'kill $ON $OFF $POLL 2>/dev/null' EXIT
sleep 3
( while kill -0 $ON 2>/dev/null; do
    curl -s -u guest:guest -o /dev/null 'http://127.0.0.1:15694/api/overview'
    curl -s -u guest:guest -o /dev/null 'http://127.0.0.1:15694/api/queues?page=1&page_size=100&sort=messages'
    curl -s -o /dev/null http://127.0.0.1:15695/metrics
    sleep 1
  done ) &
POLL=$!
ON_URI=amqp://guest:guest@127.0.0.1:5691/
OFF_URI=amqp://guest:guest@127.0.0.1:5692/
if [ "${SWAP:-0}" = 1 ]; then
  PID_A=$OFF PID_B=$ON SCENARIOS="s1 s2" ROUNDS=${ROUNDS:-3} OUT=$OUT/results "$SHARED/bench/run-scenarios.sh" $OFF_URI $ON_URI
else
  PID_A=$ON PID_B=$OFF SCENARIOS="s1 s2" ROUNDS=${ROUNDS:-3} OUT=$OUT/results "$SHARED/bench/run-scenarios.sh" $ON_URI $OFF_URI
fi
