#!/usr/bin/env bash
# The demo: a local broker, the daemon on the example order workflow, a few events in, and
# the results and dead letters that come out.
set -euo pipefail
cd "$(dirname "$0")/.."

broker=scripts/kafka-broker.sh
binary=target/release/stepstream
events=config/examples/orders.jsonl
count=$(grep -c . "$events")

cargo build --release --quiet
"$broker" start
eval "$("$broker" env)"
# Fresh topics each time, so the demo shows this run's results only.
suffix=$(date +%s)
topics=(--brokers "$STEPSTREAM_BROKERS")
export STEPSTREAM_INPUT_TOPICS="demo-orders-$suffix"
export STEPSTREAM_OUTPUT_TOPIC="demo-results-$suffix"
export STEPSTREAM_DEAD_LETTER_TOPIC="demo-dead-letters-$suffix"
export STEPSTREAM_GROUP_ID="stepstream-demo-$suffix"
for topic in "$STEPSTREAM_INPUT_TOPICS" "$STEPSTREAM_OUTPUT_TOPIC" "$STEPSTREAM_DEAD_LETTER_TOPIC"; do
  "$broker" create-topic "$topic" 2
done

logs=target/demo-logs.jsonl
mkdir -p target && : >"$logs"
echo "== the daemon: stepstream run --config config/demo.toml" >&2
"$binary" run --config config/demo.toml "${topics[@]}" &
daemon=$!
trap 'kill -TERM "$daemon" 2>/dev/null || true' EXIT

echo "== $count events into $STEPSTREAM_INPUT_TOPICS" >&2
"$broker" produce "$STEPSTREAM_INPUT_TOPICS" "$events"

# Every event ends as a result or a dead letter. Of the example events, three orders succeed
# (each after two mocked "Payment.Busy" errors and their retries); an order without lines and
# one without an id fail validation (Order.Invalid); a line that is not JSON is rejected.
echo "== results in $STEPSTREAM_OUTPUT_TOPIC (partition offset key value)" >&2
"$broker" consume "$STEPSTREAM_OUTPUT_TOPIC" 3 || true
echo "== dead letters in $STEPSTREAM_DEAD_LETTER_TOPIC (partition offset key payload, then the reason)" >&2
STEPSTREAM_SHOW_HEADERS=1 "$broker" consume "$STEPSTREAM_DEAD_LETTER_TOPIC" $((count - 3)) || true

kill -TERM "$daemon"
wait "$daemon" || true
trap - EXIT
# The mocked "Payment.Busy" errors (TaskFailed, then retried) and the failed executions.
echo "== log records at ERROR in $logs (one JSON line per history event)" >&2
cat "$logs"
echo "== done; the broker keeps running (scripts/kafka-broker.sh stop)" >&2
