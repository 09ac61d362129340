#!/usr/bin/env bash
# delayed-bench.sh: benchmarks of the delayed-message exchange (x-delayed-message), against Warren
# started here from this checkout (dist/, build it first with `npx tsc -p tsconfig.json`).
#
# Scenarios (SCENARIOS, default "rate m1 m10"):
#   rate  publish rate into a durable delayed exchange (x-delay 60-90 s) against Warren's own plain
#         durable queue, persistent, publisher confirms (1000 in flight), 16 B and 1 KiB bodies,
#         ROUNDS interleaved rounds of RATE_DUR s (RATE_WARMUP s not counted); plus one run of
#         ../shared/bench/perf into the plain queue as a cross-check of the load generator.
#   m1    1M pending (x-delay uniform in 60-90 s), a consumer running throughout: broker RSS (peak,
#         sampled every 250 ms) while publishing, pending and delivering; lateness of every message.
#   m10   10M pending (x-delay uniform in M10_MIN..M10_MAX ms, default 300-400 s, so that nothing
#         falls due while publishing), RSS, then a clean restart (SIGTERM, start again) right away:
#         time to stop, time until the broker accepts connections (TCP, and AMQP connection.open).
#         With RESTART_AT_DUE=1 (default) a second clean restart brings it back DUE_LEAD_MS (2 s)
#         before the first message is due, so that "first delivery after start" measures recovery.
#         Then a consumer receives all 10M as they fall due (lateness, RSS while delivering).
#
# Every message carries its due time (publish time + x-delay) and an id; the consumer checks that
# every id arrives exactly once. Results: $OUT (JSON per run, RSS samples, broker log, summary.md).
#
#   bench/delayed-bench.sh                         # everything (~25 min)
#   SCENARIOS=m1 bench/delayed-bench.sh            # one scenario
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
PORT=${PORT:-5701}
DATA=${DATA:-/tmp/wb-delayed-data}
OUT=${OUT:-/tmp/wb-delayed-results/$(date +%Y%m%d-%H%M%S)}
SCENARIOS=${SCENARIOS:-"rate m1 m10"}
BIN=${BIN:-/tmp/wb-delayed-bench}
PERF=${PERF:-/tmp/wb-perf}
ROUNDS=${ROUNDS:-3}
RATE_DUR=${RATE_DUR:-12}
RATE_WARMUP=${RATE_WARMUP:-2}
SIZES=${SIZES:-"16 1024"}
# publisher socket writes: complete publishes held until this many bytes (or 0.5 ms), then written
# at once; 0 = one write per publish (as ../shared/bench/perf). The rate scenario runs each value.
BATCHES=${BATCHES:-"16384 0"}
PUB_BATCH=${PUB_BATCH:-16384}   # for m1 and m10
M1_N=${M1_N:-1000000}
M1_MIN=${M1_MIN:-60000}
M1_MAX=${M1_MAX:-90000}
M10_N=${M10_N:-10000000}
M10_MIN=${M10_MIN:-300000}
M10_MAX=${M10_MAX:-400000}
RESTART_AT_DUE=${RESTART_AT_DUE:-1}
DUE_LEAD_MS=${DUE_LEAD_MS:-2000}
NODE_FLAGS=${NODE_FLAGS:-}   # e.g. "--cpu-prof --cpu-prof-dir=/tmp/wb-prof" (profiles the broker)
MEMLOG=${MEMLOG:-1}          # 1: log the broker's process.memoryUsage() and event-loop delay (bench/delayed/memlog.cjs)
IDLE_MAX=${IDLE_MAX:-25}     # % of one core used by others above which we wait
IDLE_WAIT=${IDLE_WAIT:-300}  # seconds to wait at most for a quiet machine
URI=amqp://guest:guest@127.0.0.1:$PORT/
mkdir -p "$OUT"
LOG=$OUT/warren.log
SUM=$OUT/summary.md
: > "$SUM"
say() { echo "$*" | tee -a "$SUM"; }

# ------------------------------------------------------------------ tools
gobuild() { (cd "$1" && GO111MODULE=off GOPATH=/usr/share/gocode go build -o "$2" .); }
if [ ! -x "$BIN" ] || [ -n "$(find "$HERE/delayed" -newer "$BIN" -name '*.go')" ]; then gobuild "$HERE/delayed" "$BIN"; fi
if [[ " $SCENARIOS " == *" rate "* ]] && { [ ! -x "$PERF" ] || [ -n "$(find "$SHARED/bench/perf" -newer "$PERF" -name '*.go')" ]; }; then
  gobuild "$SHARED/bench/perf" "$PERF"
fi

now_ms() { date +%s%3N; }
now_ns() { date +%s%N; }
mib() { awk -v k="$1" 'BEGIN { printf "%.0f\n", k / 1024 }'; }

# host CPU used over 2 s, in % of one core, minus our broker's share (when one is running)
others_busy() {
  local b0 t0 b1 t1 p0=0 p1=0
  read -r b0 t0 < <(awk '/^cpu / { b = $2+$3+$4+$7+$8+$9; print b, b+$5+$6 }' /proc/stat)
  [ -n "${PID:-}" ] && [ -r "/proc/$PID/stat" ] && p0=$(awk '{ print $14+$15 }' "/proc/$PID/stat")
  sleep 2
  read -r b1 t1 < <(awk '/^cpu / { b = $2+$3+$4+$7+$8+$9; print b, b+$5+$6 }' /proc/stat)
  [ -n "${PID:-}" ] && [ -r "/proc/$PID/stat" ] && p1=$(awk '{ print $14+$15 }' "/proc/$PID/stat")
  awk -v b=$((b1 - b0 - (p1 - p0))) -v t=$((t1 - t0)) -v n="$(nproc)" 'BEGIN { printf "%.0f\n", (t > 0 ? 100 * n * b / t : 0) }'
}
# waits (up to IDLE_WAIT s) until other processes use under IDLE_MAX % of a core; logs the load
wait_quiet() {
  local waited=0 busy
  busy=$(others_busy)
  while [ "$busy" -gt "$IDLE_MAX" ] && [ "$waited" -lt "$IDLE_WAIT" ]; do
    echo "  (machine busy: others use ${busy}% of a core; waiting)" >&2
    sleep 8; waited=$((waited + 10)); busy=$(others_busy)
  done
  echo "$(date +%T) before $1: others ${busy}% of a core after waiting ${waited} s; $(uptime | sed 's/.*load/load/')" >> "$OUT/load.txt"
  LOAD_NOTE="others ${busy}% of a core (waited ${waited} s), $(uptime | sed 's/.*load average: //')"
}

# ------------------------------------------------------------------ broker
PID=
broker_start() { # $1: tag for the RSS file; sets PID, START_NS, READY (JSON)
  START_NS=$(now_ns)
  local flags=$NODE_FLAGS
  if [ "$MEMLOG" = 1 ]; then flags="$flags --require $HERE/delayed/memlog.cjs"; export WARREN_MEMLOG=$OUT/memlog-$1.txt; fi
  # shellcheck disable=SC2086
  nohup node $flags "$ROOT/dist/src/cli/warren.js" --port "$PORT" --data-dir "$DATA" --log-level warn < /dev/null >> "$LOG" 2>&1 &
  PID=$!
  "$BIN" rss --pid "$PID" --out "$OUT/rss-$1.txt" < /dev/null > /dev/null 2>&1 &
  READY=$("$BIN" ready --uri "$URI" --since "$START_NS" --timeout 600)
}
broker_stop() { # sets STOP_S (SIGTERM until the process is gone)
  local t0
  t0=$(now_ns)
  kill -TERM "$PID"
  while kill -0 "$PID" 2>/dev/null; do sleep 0.01; done
  STOP_S=$(awk -v a="$t0" -v b="$(now_ns)" 'BEGIN { printf "%.2f\n", (b - a) / 1e9 }')
  PID=
}
fresh() { rm -rf "$DATA"; }
# on any exit, stop the broker this script started (its RSS sampler ends with it)
cleanup() { if [ -n "${PID:-}" ] && kill -0 "$PID" 2>/dev/null; then kill -TERM "$PID"; fi; }
trap cleanup EXIT

# peak RSS (MiB) in the samples of $1 between $2 and $3 (Unix ms; empty = unbounded)
rss_peak() { awk -v a="${2:-0}" -v b="${3:-99999999999999}" '$1 >= a && $1 <= b && $2 > m { m = $2 } END { printf "%.0f\n", m / 1024 }' "$1"; }
# RSS (MiB) at the last sample before $2
rss_at() { awk -v t="$2" '$1 <= t { r = $2 } END { printf "%.0f\n", r / 1024 }' "$1"; }
# broker CPU (% of one core) and host CPU between $2 and $3
cpu_pct() {
  awk -v a="$2" -v b="$3" '$1 >= a && $1 <= b { if (!k++) { t0 = $1; p0 = $3; h0 = $4; T0 = $5 } t1 = $1; p1 = $3; h1 = $4; T1 = $5 }
    END { if (t1 > t0) printf "%.0f %.0f\n", (p1 - p0) * 1000 / (t1 - t0), (T1 > T0 ? 100 * n * (h1 - h0) / (T1 - T0) : 0); else print "- -" }' n="$(nproc)" "$1"
}
# the broker logs at warn: every line in its log is a warning, an error or output outside the logger
log_problems() { local n; n=$(wc -l < "$LOG"); echo "$n"; [ "$n" = 0 ] || tail -5 "$LOG" | cut -c1-400 >&2; }

# ------------------------------------------------------------------ rate
scenario_rate() {
  say "## rate: publish into a delayed exchange vs a plain durable queue (persistent, confirms 1000, ${RATE_DUR}s runs, ${RATE_WARMUP}s warm-up, $ROUNDS rounds)"
  fresh; broker_start rate
  wait_quiet rate
  say "load before: $LOAD_NOTE"
  local bb s r order kind f a b bc hc
  for bb in $BATCHES; do
    for s in $SIZES; do
      for r in $(seq 1 "$ROUNDS"); do
        if [ $((r % 2)) = 1 ]; then order="plain delayed"; else order="delayed plain"; fi
        for kind in $order; do
          f=$OUT/rate-b$bb-$s-$r-$kind.json
          if [ "$kind" = plain ]; then
            "$BIN" publish --uri "$URI" --plain-queue "plain-$s-$r" --duration "$RATE_DUR" --warmup "$RATE_WARMUP" --batch-bytes "$bb" \
              --size "$s" --confirm 1000 --delete-after --quiet --label "rate $bb $s $r plain" > "$f" || true
          else
            "$BIN" publish --uri "$URI" --exchange "dx-$s-$r" --min-delay 60000 --max-delay 90000 --duration "$RATE_DUR" --batch-bytes "$bb" \
              --warmup "$RATE_WARMUP" --size "$s" --confirm 1000 --delete-after --quiet --label "rate $bb $s $r delayed" > "$f" || true
          fi
          a=$(( $(jq .first_publish_unix_ms "$f") + RATE_WARMUP * 1000 )); b=$(jq .last_publish_unix_ms "$f")
          read -r bc hc < <(cpu_pct "$OUT/rss-rate.txt" "$a" "$b")
          jq -c --arg bc "$bc" --arg hc "$hc" --arg rss "$(rss_peak "$OUT/rss-rate.txt" "$a" "$b")" \
            '. + {broker_cpu_pct: ($bc|tonumber? // null), host_cpu_pct: ($hc|tonumber? // null), broker_rss_peak_mib: ($rss|tonumber)}' "$f" > "$f.tmp" && mv "$f.tmp" "$f"
          echo "  batch $bb size $s round $r $kind: $(jq -r '"\(.confirm_rate|floor) msg/s confirmed, confirm p99 \(.confirm_latency_ms.p99) ms, broker CPU \(.broker_cpu_pct)%, host \(.host_cpu_pct)%, client \(.client_cpu_pct)%, RSS \(.broker_rss_peak_mib) MiB, errors \(.errors|length)"' "$f")"
          sleep 2
        done
      done
    done
  done
  for s in $SIZES; do
    f=$OUT/rate-$s-perf-plain.json
    "$PERF" --uri "$URI" --broker-pid "$PID" --pub-only --queue "perf-plain-$s" --durable --persistent --confirm 1000 \
      --size "$s" --time "$RATE_DUR" --warmup "$RATE_WARMUP" --grace 5 --cleanup --quiet > "$f" 2>/dev/null || true
    echo "  size $s ../shared/bench/perf into a plain queue: $(jq -r '"\(.confirm_rate|floor) msg/s, broker CPU \(.broker_cpu_pct)%, client \(.client_cpu_pct)%"' "$f")"
    sleep 2
  done
  say ""
  say "| publisher writes | body | plain durable queue msg/s (median, min..max) | delayed exchange msg/s (median, min..max) | delayed/plain (median of paired ratios; min..max) | confirm p99 ms plain / delayed | broker CPU % plain / delayed | broker CPU µs/msg plain / delayed | client CPU % plain / delayed |"
  say "|---|---|---:|---:|---:|---:|---:|---:|---:|"
  for bb in $BATCHES; do
    for s in $SIZES; do
      jq -s -r --arg s "$s" --arg bb "$([ "$bb" = 0 ] && echo "one per publish" || echo "batched ($bb B / 0.5 ms)")" '
        def med: sort | if length % 2 == 1 then .[length/2|floor] else (.[length/2 - 1] + .[length/2]) / 2 end;
        def f0: floor | tostring;
        def r1: . * 10 | round / 10 | tostring;
        def r2: . * 100 | round / 100 | tostring;
        def span: "\(med | f0) (\(min | f0)..\(max | f0))";
        (map(select(.target == "plain")) | sort_by(.label)) as $p | (map(select(.target == "delayed")) | sort_by(.label)) as $d |
        ([range(0; $p|length)] | map($d[.].confirm_rate / $p[.].confirm_rate)) as $ratio |
        def us: map(.broker_cpu_pct * 10000 / .confirm_rate) | med | r2;
        "| \($bb) | \($s) B | \($p | map(.confirm_rate) | span) | \($d | map(.confirm_rate) | span) | **\($ratio | med | r2)** (\($ratio | min | r2)..\($ratio | max | r2)) | \($p | map(.confirm_latency_ms.p99) | med | r1) / \($d | map(.confirm_latency_ms.p99) | med | r1) | \($p | map(.broker_cpu_pct) | med | f0) / \($d | map(.broker_cpu_pct) | med | f0) | \($p | us) / \($d | us) | \($p | map(.client_cpu_pct) | med | f0) / \($d | map(.client_cpu_pct) | med | f0) |"
      ' "$OUT"/rate-b"$bb"-"$s"-[0-9]*-*.json | tee -a "$SUM"
    done
  done
  for s in $SIZES; do
    say "- cross-check, ../shared/bench/perf (one write per publish) into a plain durable queue, $s B: $(jq -r '"\(.confirm_rate|floor) msg/s (broker CPU \(.broker_cpu_pct)%, client \(.client_cpu_pct)%)"' "$OUT/rate-$s-perf-plain.json")"
  done
  broker_stop
  say "broker log lines at warn or above: $(log_problems)"
  say ""
}

# ------------------------------------------------------------------ m1
scenario_m1() {
  say "## m1: $M1_N pending, x-delay uniform $((M1_MIN / 1000))-$((M1_MAX / 1000)) s, 16 B, consumer running throughout"
  fresh; broker_start m1
  wait_quiet m1
  say "load before: $LOAD_NOTE"
  rm -f "$OUT/m1-ready"
  "$BIN" consume --uri "$URI" --n "$M1_N" --timeout 400 --ready-file "$OUT/m1-ready" --timeline "$OUT/m1-timeline.txt" \
    > "$OUT/m1-consume.json" 2> "$OUT/m1-consume.log" &
  local cons=$!
  until [ -e "$OUT/m1-ready" ]; do sleep 0.05; done
  "$BIN" publish --uri "$URI" --batch-bytes "$PUB_BATCH" --n "$M1_N" --min-delay "$M1_MIN" --max-delay "$M1_MAX" --size 16 --confirm 1000 \
    > "$OUT/m1-publish.json" 2> "$OUT/m1-publish.log" || true
  wait "$cons" || true
  report_pending m1 "$OUT/m1-publish.json" "$OUT/m1-consume.json" "$OUT/rss-m1.txt"
  broker_stop
  say "broker log lines at warn or above: $(log_problems)"
  say ""
}

# prints publish/pending/delivery figures; $1 tag, $2 publish JSON, $3 consume JSON, $4.. RSS files
report_pending() {
  local tag=$1 p=$2 c=$3; shift 3
  local fp lc mind maxd fa la
  fp=$(jq .first_publish_unix_ms "$p"); lc=$(jq .last_confirm_unix_ms "$p")
  mind=$(jq .min_due_unix_ms "$p"); maxd=$(jq .max_due_unix_ms "$p")
  fa=$(jq .first_arrival_unix_ms "$c"); la=$(jq .last_arrival_unix_ms "$c")
  local all; all=$(cat "$@" | sort -n)
  echo "$all" > "$OUT/rss-$tag-all.txt"
  local R=$OUT/rss-$tag-all.txt
  say "- publish: $(jq -r '"\(.published) published, \(.confirmed) confirmed, \(.nacked) nacked, \(.confirm_rate|floor) msg/s over \(.elapsed_s) s, confirm p99 \(.confirm_latency_ms.p99) ms"' "$p")"
  say "- first message due $(( (mind - lc) / 1000 )) s after the last confirm (nothing may fall due while publishing: $([ "$mind" -gt "$lc" ] && echo ok || echo VIOLATED)); due times span $(( (maxd - mind) / 1000 )) s"
  say "- broker RSS peak: publishing $(rss_peak "$R" "$fp" "$lc") MiB, pending (last confirm .. first due) $(rss_peak "$R" "$lc" "$mind") MiB, delivering $(rss_peak "$R" "$mind" "$la") MiB; overall $(rss_peak "$R") MiB"
  read -r bc hc < <(cpu_pct "$R" "$mind" "$la")
  say "- delivery: $(jq -r '"\(.unique) of \(.expected) arrived (\(.missing) missing, \(.duplicates) duplicates, \(.early) early, \(.out_of_range) unknown), lateness ms p50 \(.lateness_ms.p50) p95 \(.lateness_ms.p95) p99 \(.lateness_ms.p99) p99.9 \(.lateness_ms.p999) max \(.lateness_ms.max); \(.late_over_50ms) later than 50 ms, \(.late_over_1s) later than 1 s; worst second \(.worst_second); ended by \(.ended_by)"' "$c")"
  say "- broker CPU while delivering ${bc}% of a core (host ${hc}%); consumer CPU $(jq .client_cpu_pct "$c")% over its run"
  local ml=("$OUT"/memlog-"$tag"*.txt)
  if [ -e "${ml[0]}" ]; then
    sort -n "${ml[@]}" > "$OUT/memlog-$tag-all.txt"
    say "- broker memory at its RSS peak (process.memoryUsage, MiB): $(awk '$2 > m { m = $2; l = $0 } END { split(l, f, " "); printf "rss %.0f, heapTotal %.0f, heapUsed %.0f, external %.0f (arrayBuffers %.0f)", f[2]/2^20, f[3]/2^20, f[4]/2^20, f[5]/2^20, f[6]/2^20 }' "$OUT/memlog-$tag-all.txt")"
    say "- event-loop delay, max per phase (ms): publishing $(awk -v a="$fp" -v b="$lc" '$1 >= a && $1 <= b && $7 > m { m = $7 } END { print m + 0 }' "$OUT/memlog-$tag-all.txt"), pending $(awk -v a="$lc" -v b="$mind" '$1 >= a && $1 <= b && $7 > m { m = $7 } END { print m + 0 }' "$OUT/memlog-$tag-all.txt"), delivering $(awk -v a="$mind" -v b="$la" '$1 >= a && $1 <= b && $7 > m { m = $7 } END { print m + 0 }' "$OUT/memlog-$tag-all.txt")"
  fi
}

# ------------------------------------------------------------------ m10
scenario_m10() {
  say "## m10: $M10_N pending, x-delay uniform $((M10_MIN / 1000))-$((M10_MAX / 1000)) s, 16 B; clean restarts; then a consumer"
  fresh; broker_start m10a
  local empty_ready=$READY
  wait_quiet m10
  say "load before: $LOAD_NOTE"
  say "- for reference, the start with an empty data dir: TCP accept $(echo "$empty_ready" | jq .tcp_accept_s) s, AMQP connection open $(echo "$empty_ready" | jq .amqp_open_s) s"
  "$BIN" publish --uri "$URI" --batch-bytes "$PUB_BATCH" --n "$M10_N" --min-delay "$M10_MIN" --max-delay "$M10_MAX" --size 16 --confirm 1000 \
    --bind-queue delayed-bench-q > "$OUT/m10-publish.json" 2> "$OUT/m10-publish.log" || true
  local mind maxd lc
  mind=$(jq .min_due_unix_ms "$OUT/m10-publish.json"); maxd=$(jq .max_due_unix_ms "$OUT/m10-publish.json")
  lc=$(jq .last_confirm_unix_ms "$OUT/m10-publish.json")
  sleep 5
  say "- RSS with $M10_N pending, 5 s after the last confirm: $(mib "$(awk '/VmRSS/ { print $2 }' "/proc/$PID/status")") MiB; data dir $(du -sh "$DATA" | cut -f1)"
  # restart 1: right away (nothing is due or ripe yet)
  broker_stop
  local stop1=$STOP_S
  broker_start m10b
  say "- clean restart 1 (${M10_N} pending, nothing ripe): SIGTERM to exit ${stop1} s; start to TCP accept $(echo "$READY" | jq .tcp_accept_s) s, to AMQP connection open $(echo "$READY" | jq .amqp_open_s) s"
  sleep 5
  say "- RSS 5 s after restart 1: $(mib "$(awk '/VmRSS/ { print $2 }' "/proc/$PID/status")") MiB (peak since start $(rss_peak "$OUT/rss-m10b.txt") MiB)"
  local tag=m10b
  if [ "$RESTART_AT_DUE" = 1 ]; then
    # restart 2: stopped and started again so that it is back DUE_LEAD_MS before the first message is due
    local wait_ms=$(( mind - DUE_LEAD_MS - 1000 - $(now_ms) ))
    [ "$wait_ms" -gt 0 ] && sleep "$(awk -v m="$wait_ms" 'BEGIN { print m / 1000 }')"
    broker_stop
    local stop2=$STOP_S
    broker_start m10c
    tag=m10c
    say "- clean restart 2, started $(( mind - START_NS / 1000000 )) ms before the first due time: SIGTERM to exit ${stop2} s; start to TCP accept $(echo "$READY" | jq .tcp_accept_s) s, to AMQP connection open $(echo "$READY" | jq .amqp_open_s) s"
  fi
  local start_ms=$(( START_NS / 1000000 ))
  "$BIN" consume --uri "$URI" --n "$M10_N" --timeout $(( (maxd - $(now_ms)) / 1000 + 2400 )) --reconnect 60 \
    --timeline "$OUT/m10-timeline.txt" > "$OUT/m10-consume.json" 2> "$OUT/m10-consume.log" || true
  local fa; fa=$(jq .first_arrival_unix_ms "$OUT/m10-consume.json")
  say "- first delivery after the last restart: $(( fa - start_ms )) ms after the start command, $(( fa - mind )) ms after the earliest due time (the first message's lateness $(jq .first_lateness_ms "$OUT/m10-consume.json") ms)"
  report_pending m10 "$OUT/m10-publish.json" "$OUT/m10-consume.json" "$OUT"/rss-m10?.txt
  broker_stop
  say "broker log lines at warn or above: $(log_problems)"
  say ""
}

say "# delayed-bench $(date -Is), commit $(git -C "$ROOT" rev-parse --short HEAD), $(nproc) cores, node $(node --version)"
for sc in $SCENARIOS; do "scenario_$sc"; done
echo "results in $OUT"
