#!/usr/bin/env bash
# Interoperability checks for a RabbitMQ-compatible broker with the rabbitmq-c command-line
# tools (Debian package amqp-tools): amqp-publish, amqp-get, amqp-consume,
# amqp-declare-queue, amqp-delete-queue.
#
# Usage: amqp_tools_checks.sh [amqp://guest:guest@127.0.0.1:5672/]   (or env AMQP_URL)
#        amqp_tools_checks.sh --list
# Prints one line per check, `ok NAME` or `FAIL NAME: reason`, and exits 1 if any failed.
set -u

CHECKS=(connect_declare_delete publish_get publish_persistent_content_type stdin_lines_publish
        consume_n large_message_stdin redeclare_durable_mismatch missing_queue_404 wrong_password)

if [[ ${1:-} == --list ]]; then printf '%s\n' "${CHECKS[@]}"; exit 0; fi

URL=${1:-${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/}}
# rabbitmq-c reads "amqp://host:port/" as the vhost "" (an empty path segment), unlike the
# Go clients and pika which take it as "/". Drop a bare trailing slash so the default
# vhost "/" is used.
if [[ $URL =~ ^amqps?://[^/]+/$ ]]; then URL=${URL%/}; fi

for tool in amqp-publish amqp-get amqp-consume amqp-declare-queue amqp-delete-queue; do
  if ! command -v "$tool" >/dev/null; then
    echo "FAIL setup: $tool not found (apt-get install amqp-tools)"; exit 2
  fi
done

RUN_ID=interop-amqptools-$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')
TMP=$(mktemp -d)
QUEUES=()
FAILED=0
trap 'rm -rf "$TMP"' EXIT

echo "# amqp-tools against $(sed -E 's#//([^:@/]*):[^@/]*@#//\1@#' <<<"$URL") (names prefixed $RUN_ID)"

# q SUFFIX: sets NAME to a per-run queue name and remembers it for cleanup (not via $(...),
# which would run in a subshell and lose the list)
q() { NAME="$RUN_ID-$1"; QUEUES+=("$NAME"); }
T() { timeout 10 "$@"; }  # no tool may hang a check

fail() { echo "FAIL $CURRENT: $*"; FAILED=$((FAILED + 1)); return 1; }

# run NAME: runs check_NAME, which returns non-zero after calling fail
run() {
  CURRENT=$1
  if "check_$1"; then echo "ok $1"; fi
}

# out/err/rc of the last `cmd ...`
cmd() {
  T "$@" >"$TMP/out" 2>"$TMP/err"
  RC=$?
  OUT=$(cat "$TMP/out")
  ERR=$(cat "$TMP/err")
}

check_connect_declare_delete() {
  q declare; local name=$NAME
  cmd amqp-declare-queue -u "$URL" -q "$name"
  [[ $RC == 0 && $OUT == "$name" ]] || { fail "declare: rc=$RC out=$OUT err=$ERR"; return 1; }
  cmd amqp-declare-queue -u "$URL" -q "$name"
  [[ $RC == 0 && $OUT == "$name" ]] || { fail "idempotent redeclare: rc=$RC out=$OUT err=$ERR"; return 1; }
  cmd amqp-declare-queue -u "$URL" -q ""
  [[ -n $OUT ]] && QUEUES+=("$OUT")  # not exclusive: it stays until deleted
  [[ $RC == 0 && $OUT == amq.gen-* ]] || { fail "server-named declare: rc=$RC out=$OUT err=$ERR"; return 1; }
  for b in d1 d2; do
    cmd amqp-publish -u "$URL" -r "$name" -b "$b"
    [[ $RC == 0 ]] || { fail "publish: rc=$RC err=$ERR"; return 1; }
  done
  # amqp-delete-queue prints the message count from queue.delete-ok
  cmd amqp-delete-queue -u "$URL" -q "$name"
  [[ $RC == 0 && $OUT == 2 ]] || { fail "delete: rc=$RC out=$OUT (want 2) err=$ERR"; return 1; }
  cmd amqp-get -u "$URL" -q "$name"
  [[ $RC != 0 && $ERR == *404* ]] || { fail "get after delete: rc=$RC err=$ERR, want a 404"; return 1; }
}

check_publish_get() {
  q get; local name=$NAME
  cmd amqp-declare-queue -u "$URL" -q "$name"
  [[ $RC == 0 ]] || { fail "declare: $ERR"; return 1; }
  cmd amqp-get -u "$URL" -q "$name"
  [[ $RC == 2 && -z $OUT ]] || { fail "get on empty queue: rc=$RC out=$OUT err=$ERR (want rc 2, get-empty)"; return 1; }
  local body="hello from rabbitmq-c $RUN_ID ünïcode"
  cmd amqp-publish -u "$URL" -r "$name" -b "$body"
  [[ $RC == 0 ]] || { fail "publish: rc=$RC err=$ERR"; return 1; }
  cmd amqp-get -u "$URL" -q "$name"
  [[ $RC == 0 && $OUT == "$body" ]] || { fail "get: rc=$RC out=$OUT err=$ERR"; return 1; }
  cmd amqp-get -u "$URL" -q "$name"
  [[ $RC == 2 ]] || { fail "second get: rc=$RC out=$OUT (want 2: amqp-get acks, the queue is empty)"; return 1; }
}

check_publish_persistent_content_type() {
  q persistent; local name=$NAME
  cmd amqp-declare-queue -u "$URL" -d -q "$name"
  [[ $RC == 0 ]] || { fail "durable declare: rc=$RC err=$ERR"; return 1; }
  cmd amqp-publish -u "$URL" -r "$name" -p -C application/json -E utf-8 -t "reply-$RUN_ID" \
      -H "x-interop: yes" -H "x-run: $RUN_ID" -b '{"persistent":true}'
  [[ $RC == 0 ]] || { fail "publish: rc=$RC err=$ERR"; return 1; }
  cmd amqp-get -u "$URL" -q "$name"
  [[ $RC == 0 && $OUT == '{"persistent":true}' ]] || { fail "get: rc=$RC out=$OUT err=$ERR"; return 1; }
  cmd amqp-delete-queue -u "$URL" -q "$name"
  [[ $RC == 0 && $OUT == 0 ]] || { fail "delete: rc=$RC out=$OUT err=$ERR"; return 1; }
}

check_stdin_lines_publish() {
  q lines; local name=$NAME
  cmd amqp-declare-queue -u "$URL" -q "$name"
  printf 'line1\nline2\nline3\n' | T amqp-publish -u "$URL" -r "$name" -l 2>"$TMP/err"
  [[ $? == 0 ]] || { fail "publish -l: $(cat "$TMP/err")"; return 1; }
  local got=()
  for _ in 1 2 3 4; do
    cmd amqp-get -u "$URL" -q "$name"
    [[ $RC == 0 ]] || break
    got+=("$OUT")
  done
  [[ "${got[*]}" == "line1 line2 line3" && $RC == 2 ]] || { fail "got [${got[*]}] (last rc=$RC), want [line1 line2 line3] then empty"; return 1; }
}

check_consume_n() {
  q consume; local name=$NAME
  cmd amqp-declare-queue -u "$URL" -q "$name"
  for i in 1 2 3 4 5; do
    cmd amqp-publish -u "$URL" -r "$name" -b "c$i"
    [[ $RC == 0 ]] || { fail "publish c$i: rc=$RC err=$ERR"; return 1; }
  done
  # amqp-consume pipes each body to a fresh `sh -c` and acks it when the command exits 0;
  # `--` stops popt from reading the command's own -c as --count
  cmd amqp-consume -u "$URL" -q "$name" -c 3 -p 1 -- sh -c 'cat; echo'
  local want=$'c1\nc2\nc3'
  [[ $RC == 0 && $OUT == "$want" ]] || { fail "consume -c 3: rc=$RC out=[${OUT//$'\n'/,}] err=$ERR"; return 1; }
  cmd amqp-consume -u "$URL" -q "$name" -c 2 -- sh -c 'cat; echo'
  want=$'c4\nc5'
  [[ $RC == 0 && $OUT == "$want" ]] || { fail "second consume -c 2: rc=$RC out=[${OUT//$'\n'/,}] err=$ERR"; return 1; }
  cmd amqp-get -u "$URL" -q "$name"
  [[ $RC == 2 ]] || { fail "queue not empty after consuming all: rc=$RC out=$OUT"; return 1; }
}

check_large_message_stdin() {
  q large; local name=$NAME
  cmd amqp-declare-queue -u "$URL" -q "$name"
  head -c $((512 * 1024 + 7)) /dev/urandom >"$TMP/large.in"
  T amqp-publish -u "$URL" -r "$name" <"$TMP/large.in" 2>"$TMP/err" || { fail "publish: $(cat "$TMP/err")"; return 1; }
  T amqp-get -u "$URL" -q "$name" >"$TMP/large.out" 2>"$TMP/err" || { fail "get: $(cat "$TMP/err")"; return 1; }
  cmp -s "$TMP/large.in" "$TMP/large.out" || { fail "body differs: got $(stat -c %s "$TMP/large.out") bytes, want $(stat -c %s "$TMP/large.in")"; return 1; }
}

check_redeclare_durable_mismatch() {
  q mismatch; local name=$NAME
  cmd amqp-declare-queue -u "$URL" -q "$name"
  [[ $RC == 0 ]] || { fail "declare: $ERR"; return 1; }
  cmd amqp-declare-queue -u "$URL" -d -q "$name"
  [[ $RC != 0 && $ERR == *406* && $ERR == *PRECONDITION_FAILED* ]] || { fail "durable redeclare: rc=$RC err=$ERR, want 406 PRECONDITION_FAILED"; return 1; }
}

check_missing_queue_404() {
  cmd amqp-get -u "$URL" -q "$RUN_ID-missing"
  [[ $RC != 0 && $ERR == *404* && $ERR == *NOT_FOUND* ]] || { fail "get from a missing queue: rc=$RC err=$ERR, want 404 NOT_FOUND"; return 1; }
}

check_wrong_password() {
  local bad
  bad=$(sed -E 's#^(amqps?://)([^:@/]+)(:[^@/]*)?@#\1\2:wrong-'"$RUN_ID"'@#' <<<"$URL")
  [[ $bad == *wrong-* ]] || bad=$(sed -E 's#^(amqps?://)#\1guest:wrong-'"$RUN_ID"'@#' <<<"$URL")
  cmd amqp-publish -u "$bad" -r "$RUN_ID-nowhere" -b x
  # rabbitmq-c announces authentication_failure_close, so the broker says why it refused
  [[ $RC != 0 && $ERR == *403* && $ERR == *ACCESS_REFUSED* ]] || { fail "rc=$RC err=$ERR, want non-zero and 403 ACCESS_REFUSED"; return 1; }
}

ONLY=("${@:2}")
selected() { [[ ${#ONLY[@]} -eq 0 || " ${ONLY[*]} " == *" $1 "* ]]; }

# A broker that cannot be reached at all fails every check at once instead of timing out
# in each one (deleting a queue that does not exist succeeds in 0-9-1).
if ! timeout 5 amqp-delete-queue -u "$URL" -q "$RUN_ID-probe" >/dev/null 2>"$TMP/err"; then
  why=$(tr '\n' ' ' <"$TMP/err")
  for c in "${CHECKS[@]}"; do
    if selected "$c"; then echo "FAIL $c: not run, cannot connect: ${why:-timed out}"; fi
  done
  exit 1
fi

for c in "${CHECKS[@]}"; do
  if selected "$c"; then run "$c"; fi
done

for name in "${QUEUES[@]}"; do T amqp-delete-queue -u "$URL" -q "$name" >/dev/null 2>&1; done

if [[ $FAILED -gt 0 ]]; then echo "# $FAILED check(s) failed"; exit 1; fi
exit 0
