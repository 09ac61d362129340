#!/usr/bin/env bash
# Starts Debian's RabbitMQ beside the tests, on side ports (AMQP 5673, management 15673,
# Prometheus 15693, guest/guest from anywhere), for the tests that check Warren's output
# against a real RabbitMQ (definitions round trip). Idempotent.
set -euo pipefail
BASE=/tmp/warren-ci-rabbitmq
export RABBITMQ_NODENAME=reference@localhost RABBITMQ_NODE_PORT=5673 RABBITMQ_DIST_PORT=25673
export RABBITMQ_MNESIA_BASE=$BASE/mnesia RABBITMQ_LOG_BASE=$BASE/log HOME=$BASE
export RABBITMQ_CONFIG_FILE=$BASE/rabbitmq RABBITMQ_ENABLED_PLUGINS_FILE=$BASE/enabled_plugins
CTL=/usr/lib/rabbitmq/bin/rabbitmqctl
# Already up (this script ran before, or a developer's reference broker holds the ports).
if curl -sf -u guest:guest http://127.0.0.1:15673/api/overview >/dev/null; then exit 0; fi
mkdir -p $BASE/mnesia $BASE/log
printf '%s\n' 'listeners.tcp.default = 127.0.0.1:5673' 'management.tcp.port = 15673' \
  'management.tcp.ip = 127.0.0.1' 'prometheus.tcp.port = 15693' 'loopback_users = none' > $BASE/rabbitmq.conf
echo '[rabbitmq_management,rabbitmq_prometheus].' > $BASE/enabled_plugins
[ -f $BASE/.erlang.cookie ] || { echo warrenci > $BASE/.erlang.cookie; chmod 400 $BASE/.erlang.cookie; }
/usr/lib/rabbitmq/bin/rabbitmq-server -detached
for _ in $(seq 90); do
  if $CTL -n reference@localhost await_startup >/dev/null 2>&1 && curl -sf -u guest:guest http://127.0.0.1:15673/api/overview >/dev/null; then
    echo "reference RabbitMQ up (AMQP 5673, management 15673)"; exit 0
  fi
  sleep 1
done
echo "reference RabbitMQ did not start; logs in $BASE/log" >&2; exit 1
