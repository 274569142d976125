#!/usr/bin/env bash
# Soak: runs the Kafka stage at a steady rate for a long time and reports, per minute, the
# end-to-end latency percentiles and the daemon's resident memory (`stepstream bench
# --sample-every 60`), as a Markdown table for docs/reliability.md.
#
# Usage: scripts/soak.sh [MINUTES] [RATE]
#   MINUTES  how long to run (default 30)
#   RATE     events per second (default: half the stage's top rate, measured first on a
#            backlog of STEPSTREAM_SOAK_PROBE events)
#
# Environment:
#   STEPSTREAM_SOAK_WORKLOAD  definition to run (default tests/data/workloads/w1-pass-chain.json)
#   STEPSTREAM_SOAK_PROBE     events of the top-rate probe (default 300000)
#   STEPSTREAM_SOAK_OUT       where the JSON report goes (default target/soak-DATE.json)
#   STEPSTREAM_SOAK_ROTATE    seconds of events per set of topics (default 30; see below)
#   STEPSTREAM_BIN            the stepstream binary (default: the release build, built if missing)
# The broker is the project's local one (scripts/kafka-broker.sh, started if needed). Its memory
# storage keeps every record (about 0.7 GB per million W1 events with their results) and its
# fetches slow down as a partition's batches pile up, so the run moves to new topics every
# STEPSTREAM_SOAK_ROTATE seconds and deletes each set once all its results are in
# (`stepstream bench --rotate-topics`); the daemon subscribes to the sets by a pattern and
# refreshes its metadata every second to find each new one. Neither the bench's producer nor the
# daemon's may create topics: librdkafka keeps asking for the metadata of every topic it has
# produced to, and a broker that creates topics on demand would bring each deleted set back,
# which the daemon's pattern would then read again (the broker's load grew with every set).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
MINUTES=${1:-30}
RATE=${2:-}
WORKLOAD=${STEPSTREAM_SOAK_WORKLOAD:-tests/data/workloads/w1-pass-chain.json}
PROBE=${STEPSTREAM_SOAK_PROBE:-300000}
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
BIN=${STEPSTREAM_BIN:-$TARGET/release/stepstream}
OUT=${STEPSTREAM_SOAK_OUT:-$TARGET/soak-$(date -u +%Y%m%dT%H%M%SZ).json}
ROTATE=${STEPSTREAM_SOAK_ROTATE:-30}

say() { printf 'soak: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

[[ $MINUTES =~ ^[0-9]+$ && $MINUTES -gt 0 ]] || die "MINUTES must be a positive whole number"
[[ -z $RATE || $RATE =~ ^[0-9]+$ ]] || die "RATE must be a whole number of events per second"
[[ $ROTATE =~ ^[0-9]+$ && $ROTATE -gt 0 ]] || die "STEPSTREAM_SOAK_ROTATE must be a positive whole number"
if [[ ! -x $BIN ]]; then
  say "building $BIN"
  cargo build --release >&2
fi
scripts/kafka-broker.sh start
eval "$(scripts/kafka-broker.sh env)"

if [[ -z $RATE ]]; then
  say "measuring the top rate on a backlog of $PROBE events"
  top=$("$BIN" bench "$WORKLOAD" --events "$PROBE" --time-scale 0 --no-compare --json --quiet |
    python3 -c 'import json, sys; print(int(json.load(sys.stdin)["runs"][0]["events_per_second_out"]))')
  RATE=$((top / 2))
  say "top rate $top events/s; soaking at $RATE events/s"
fi
EVENTS=$((RATE * 60 * MINUTES))
say "$EVENTS events at $RATE/s for $MINUTES min; per-minute samples follow; report in $OUT"
mkdir -p "$(dirname "$OUT")"
CONFIG=$(mktemp "${TMPDIR:-/tmp}/stepstream-soak-XXXXXX.toml")
trap 'rm -f "$CONFIG"' EXIT
MACHINE=$(cd "$(dirname "$WORKLOAD")" && pwd)/$(basename "$WORKLOAD")
printf 'state_machine = "%s"\n\n[kafka.consumer]\n"topic.metadata.refresh.interval.ms" = "1000"\n"partition.assignment.strategy" = "cooperative-sticky"\n\n[kafka.producer]\n"allow.auto.create.topics" = "false"\n' \
  "$MACHINE" >"$CONFIG"
"$BIN" bench "$WORKLOAD" --config "$CONFIG" --events "$EVENTS" --rate "$RATE" --time-scale 0 \
  --no-compare --rotate-topics "$ROTATE" --sample-every 60 --stall-timeout 120 --json --quiet >"$OUT"

python3 - "$OUT" "$RATE" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
run = report["runs"][0]
print(f"rate {sys.argv[2]} events/s, {run['events']} events, {run['missing']} missing, "
      f"{run['duplicates']} duplicates, peak RSS {run.get('peak_rss_mib') or 0:.1f} MiB")
print()
print("| minute | results | p50 ms | p99 ms | max ms | RSS MiB |")
print("|---|---|---|---|---|---|")
for sample in run.get("samples", []):
    latency = sample.get("latency_ms") or {}
    cell = lambda key: f"{latency[key]:.1f}" if key in latency else "-"
    rss = sample.get("rss_mib")
    print(f"| {sample['at_seconds'] / 60:.0f} | {sample['results']} | {cell('p50')} | {cell('p99')} | "
          f"{cell('max')} | {rss:.1f} |" if rss is not None else
          f"| {sample['at_seconds'] / 60:.0f} | {sample['results']} | {cell('p50')} | {cell('p99')} | {cell('max')} | - |")
if run["missing"]:
    sys.exit(f"soak: {run['missing']} events got no result")
PY
