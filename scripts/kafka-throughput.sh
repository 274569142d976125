#!/usr/bin/env bash
# Measures the Kafka stage on the local broker: produces EVENTS lines of a JSON-lines file
# (cycled) to a fresh 4-partition topic, runs `stepstream run` on a workload, and reads the
# output topic back with an independent client until every result is there.
#
#   scripts/kafka-throughput.sh [WORKLOAD.json] [EVENTS] [-- extra `stepstream run` flags]
#   scripts/kafka-throughput.sh tests/data/workloads/w1-pass-chain.json 200000 -- --no-op
#
# Prints events/s from the daemon's start (including the consumer group join, ≈3 s on this
# broker) and from the first output to the last, and the daemon's peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."

workload=${1:-tests/data/workloads/w1-pass-chain.json}
events=${2:-200000}
shift $(( $# >= 2 ? 2 : $# ))
[ "${1:-}" = "--" ] && shift

broker=scripts/kafka-broker.sh
"$broker" start >/dev/null
eval "$("$broker" env)"
# The broker's venv has the confluent-kafka client the count uses.
python=${STEPSTREAM_BROKER_DIR:-.cache/kafka-broker}/venv/bin/python
cargo build --release --quiet

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
suffix=$(date +%s%N)
for topic in in out dlq; do "$broker" create-topic "tp-$topic-$suffix" 4 >/dev/null 2>&1; done
lines=$(grep -c . tests/data/workloads/inputs.jsonl)
for _ in $(seq $(( (events + lines - 1) / lines ))); do cat tests/data/workloads/inputs.jsonl; done | head -n "$events" > "$work/events.jsonl"
"$broker" produce "tp-in-$suffix" "$work/events.jsonl" >/dev/null 2>&1

cat > "$work/stage.toml" <<EOT
state_machine = "$(realpath "$workload")"
[kafka]
brokers = "$STEPSTREAM_BROKERS"
group_id = "tp-$suffix"
input_topics = ["tp-in-$suffix"]
output_topic = "tp-out-$suffix"
dead_letter_topic = "tp-dlq-$suffix"
[limits]
time_scale = 0.0
EOT

cat > "$work/count.py" <<'EOT'
import sys, time
from confluent_kafka import Consumer, TopicPartition
brokers, topics, want = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3])
consumer = Consumer({"bootstrap.servers": brokers, "group.id": "throughput-counter", "enable.auto.commit": False})
consumer.assign([TopicPartition(topic, partition, 0) for topic in topics for partition in range(4)])
count, first, deadline = 0, None, time.time() + 600
while count < want and time.time() < deadline:
    for message in consumer.consume(10000, 0.05):
        if not message.error():
            count += 1
            first = first or time.time()
print(count, time.time(), first or time.time())
EOT

start=$(date +%s.%N)
./target/release/stepstream run --config "$work/stage.toml" "$@" 2>"$work/stage.err" &
daemon=$!
read -r count end first < <("$python" "$work/count.py" "$STEPSTREAM_BROKERS" "tp-out-$suffix,tp-dlq-$suffix" "$events")
rss=$(awk '/VmHWM/ {print $2}' "/proc/$daemon/status")
kill -TERM "$daemon"
wait "$daemon" || true
python3 - "$count" "$start" "$first" "$end" "$rss" "$workload" "$*" <<'EOT'
import sys
count, start, first, end, rss = int(sys.argv[1]), *map(float, sys.argv[2:6])
print(f"{sys.argv[6]} {sys.argv[7]}: {count} results; {count / (end - start):,.0f} events/s from daemon start, "
      f"{count / (end - first):,.0f} events/s first to last result; peak RSS {rss / 1024:.0f} MiB")
EOT
