#!/usr/bin/env bash
# fuzz-soak.sh: the long runs of the two fuzz tests, to make a leak or a rare crash visible: the
# AMQP protocol fuzzer for FUZZ_CASES cases (default 20,000) and the management API fuzzer for
# HTTP_FUZZ_CASES requests (default 4,000), each against a fresh Warren from this checkout's dist/
# (npm run build first), with a bystander publishing and consuming throughout. Prints the footprint
# lines (connections, channels, sockets, fds, handles, RSS: after warm-up, every FUZZ_SAMPLE_EVERY
# cases, and after a quiet period once every fuzz connection closed) and each test's verdict.
#
#   bench/fuzz-soak.sh                         # both, seed 1
#   FUZZ_SEED=7 FUZZ_CASES=50000 bench/fuzz-soak.sh amqp
#   HTTP_FUZZ_CASES=10000 bench/fuzz-soak.sh http
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
WHAT=${1:-"amqp http"}
LOGS=${LOGS:-/tmp}
status=0
for w in $WHAT; do
  log="$LOGS/fuzz-soak-$w.log"
  start=$(date +%s)
  if [ "$w" = amqp ]; then
    FUZZ_CASES=${FUZZ_CASES:-20000} FUZZ_SAMPLE_EVERY=${FUZZ_SAMPLE_EVERY:-2000} node --test dist/test/integration/fuzz.test.js >"$log" 2>&1 || status=1
  else
    HTTP_FUZZ_CASES=${HTTP_FUZZ_CASES:-4000} node --test dist/test/integration/http-fuzz.test.js >"$log" 2>&1 || status=1
  fi
  echo "== $w: $(( $(date +%s) - start )) s, log $log"
  grep -a -E '# (footprint|seed|bystander|overview)|^# (pass|fail)|^not ok' "$log" | sed 's/^# \\# /  /'
done
exit $status
