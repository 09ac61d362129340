#!/usr/bin/env bash
# deep-queue.sh: fill one durable queue with N persistent messages of SIZE bytes (with confirms),
# record the broker's RSS, restart the broker (clean stop, or kill -9 with CRASH=1), time how long
# until the queue is back with all N messages, record RSS again, then drain it.
# Runs against Warren (started here, from this checkout) and the reference RabbitMQ
# (../shared/tools/rabbitmq-reference.sh), one after the other.
#
#   N=1000000 SIZE=16 bench/deep-queue.sh          # recovery time for 1M small messages
#   N=5000000 SIZE=1024 bench/deep-queue.sh        # memory with 5M x 1 KiB queued
#   BROKERS="warren" ...                           # only one of them
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
N=${N:-1000000}
SIZE=${SIZE:-16}
CRASH=${CRASH:-0}
BROKERS=${BROKERS:-"warren rabbitmq"}
PERF=${PERF:-/tmp/amqp-bench-perf/perf}
WARREN_PORT=${WARREN_PORT:-5690}
WARREN_DATA=${WARREN_DATA:-/tmp/warren-deep-queue}
Q=deep-$N-$SIZE

[ -x "$PERF" ] || { echo "build the load generator first: ../shared/bench/run-scenarios.sh builds it into $PERF"; exit 2; }

rss_mb() { awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }

# count URI QUEUE: prints the queue's message count, or -1 while unavailable.
count() {
  node --input-type=module -e "
    import amqp from '$ROOT/node_modules/amqplib/channel_api.js';
    try {
      const c = await amqp.connect('$1'); c.on('error', () => {});
      const ch = await c.createChannel(); ch.on('error', () => {});
      const q = await ch.checkQueue('$2'); console.log(q.messageCount); await c.close();
    } catch { console.log(-1); }" 2>/dev/null
}

warren_start() {
  nohup node "$ROOT/dist/src/cli/warren.js" --port "$WARREN_PORT" --data-dir "$WARREN_DATA" --log-level warn \
    >> /tmp/warren-deep-queue.log 2>&1 &
  PID=$!
  until (echo > "/dev/tcp/127.0.0.1/$WARREN_PORT") 2>/dev/null; do sleep 0.05; done
}
warren_stop() { if [ "$CRASH" = 1 ]; then kill -9 "$PID"; else kill -TERM "$PID"; fi; while kill -0 "$PID" 2>/dev/null; do sleep 0.05; done; }
rabbit_pid() { PID=$(pgrep -f 'beam.smp.*reference' || pgrep -f beam.smp); }
rabbit_start() { "$SHARED/tools/rabbitmq-reference.sh" start >/dev/null; rabbit_pid; }
rabbit_stop() {
  if [ "$CRASH" = 1 ]; then kill -9 "$PID"; while kill -0 "$PID" 2>/dev/null; do sleep 0.05; done; pkill -9 -f epmd || true
  else "$SHARED/tools/rabbitmq-reference.sh" stop >/dev/null; fi
}

for b in $BROKERS; do
  case $b in
    warren) URI=amqp://guest:guest@127.0.0.1:$WARREN_PORT/; rm -rf "$WARREN_DATA"; warren_start; start=warren_start; stop=warren_stop ;;
    rabbitmq) URI=amqp://guest:guest@127.0.0.1:5673/; rabbit_start; start=rabbit_start; stop=rabbit_stop ;;
  esac
  echo "== $b: fill $Q with $N x $SIZE B persistent (confirms)"
  "$PERF" --uri "$URI" --broker-pid "$PID" --pub-only --queue "$Q" --durable --persistent --confirm 1000 \
    --size "$SIZE" --pmessages "$N" --time 3600 --grace 5 > "/tmp/deep-$b-fill.json" 2>/dev/null
  jq -r '"  fill: \(.confirmed) confirmed at \(.confirm_rate|floor)/s, broker RSS peak \(.broker_rss_peak_mb) MB"' "/tmp/deep-$b-fill.json"
  sleep 5
  echo "  RSS with the queue full: $(rss_mb "$PID") MB"
  $stop
  t0=$(date +%s.%N)
  $start
  while [ "$(count "$URI" "$Q")" != "$N" ]; do sleep 0.1; done
  t1=$(date +%s.%N)
  echo "  restart ($([ "$CRASH" = 1 ] && echo 'kill -9' || echo clean)) until all $N are back: $(echo "$t1 - $t0" | bc) s; RSS $(rss_mb "$PID") MB"
  "$PERF" --uri "$URI" --broker-pid "$PID" --drain --queue "$Q" --durable --prefetch 1000 --multi-ack-every 100 \
    --time 3600 --cleanup > "/tmp/deep-$b-drain.json" 2>/dev/null
  jq -r '"  drain: \(.consumed) at \(.consume_rate|floor)/s, broker RSS peak \(.broker_rss_peak_mb) MB"' "/tmp/deep-$b-drain.json"
  if [ "$b" = warren ]; then CRASH=0 warren_stop; rm -rf "$WARREN_DATA"; fi
done
