#!/usr/bin/env bash
# Fuzzing with cargo-fuzz (libFuzzer): the targets in fuzz/fuzz_targets, each for a while.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET…]   (default: 30 s, every target)
#        scripts/fuzz.sh seed     rebuild the seed corpora from the project's test data
#        scripts/fuzz.sh cmin     minimise the corpora in fuzz/corpus
#        scripts/fuzz.sh pack     store the corpora in fuzz/corpus.tar.gz (kept in the repository)
#
# Needs a nightly toolchain (`rustup toolchain install nightly`) and cargo-fuzz
# (`cargo install cargo-fuzz`). Runs at the lowest CPU priority. The corpora are kept in the
# repository as one archive, fuzz/corpus.tar.gz (thousands of small inputs), and unpacked into
# fuzz/corpus/TARGET by the first run (without the archive, seeded from the project's test data:
# `seed`). New inputs a run finds go to a scratch copy, so a run leaves the corpora as they
# were, unless STEPSTREAM_FUZZ_KEEP=1 (then they are added; `cmin` shrinks them, `pack` stores
# them). A crash stops the run with libFuzzer's report and leaves the input in
# fuzz/artifacts/TARGET; an input that once crashed a target belongs in tests/hostile.rs too,
# where every test run has it.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FUZZ=$REPO/fuzz
TARGETS=(asl json jsonpath intrinsics jsonata)
# The fuzz build has its own target dir: its flags (coverage instrumentation) differ from the
# project's builds, so sharing one would rebuild both each time.
export CARGO_TARGET_DIR=${STEPSTREAM_FUZZ_TARGET_DIR:-$FUZZ/target}

say() { printf 'fuzz: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

check_tools() {
  cargo +nightly --version >/dev/null 2>&1 || die "no nightly toolchain: rustup toolchain install nightly"
  cargo +nightly fuzz --version >/dev/null 2>&1 || die "no cargo-fuzz: cargo install cargo-fuzz"
}

# Seeds: definitions from the workloads and the conformance cases; JSON documents from the
# workload inputs; paths and intrinsic calls found in those definitions, each with an input;
# JSONata expressions of the reference suite with their data.
do_seed() {
  python3 - "$REPO" "$FUZZ/corpus" <<'PY'
import hashlib, json, os, sys
repo, out = sys.argv[1], sys.argv[2]
data = os.path.join(repo, "tests", "data")

def put(target, text):
    try:
        blob = text.encode()
    except UnicodeEncodeError:  # a lone surrogate in a test expression
        return
    folder = os.path.join(out, target)
    os.makedirs(folder, exist_ok=True)
    name = hashlib.sha1(blob).hexdigest()
    with open(os.path.join(folder, name), "wb") as f:
        f.write(blob)

definitions = []
workloads = os.path.join(data, "workloads")
for name in sorted(os.listdir(workloads)):
    if name.startswith("w") and name.endswith(".json"):
        definitions.append(json.load(open(os.path.join(workloads, name))))
inputs = [line for line in open(os.path.join(workloads, "inputs.jsonl")) if line.strip()][:40]
cases = [json.loads(line) for line in open(os.path.join(data, "conformance", "aws-recorded.jsonl"))]
seen = set()
for case in cases:
    key = json.dumps(case["definition"], sort_keys=True)
    if key not in seen:
        seen.add(key)
        definitions.append(case["definition"])
for definition in definitions:
    put("asl", json.dumps(definition, indent=1))

docs = [line.strip() for line in inputs] + [json.dumps(case.get("input")) for case in cases[:60]]
for doc in docs:
    put("json", doc)
for doc in ['[1,2', '{"a":1e400}', '"\\ud800"', '[-0.0, 1E+2, 123456789012345678901234567890]', '{"a":{"a":{}}}']:
    put("json", doc)

paths, calls = set(), set()
def walk(value):
    if isinstance(value, dict):
        for key, item in value.items():
            if key.endswith(".$") and isinstance(item, str):
                (calls if item.startswith("States.") else paths).add(item)
            elif key.endswith("Path") and isinstance(item, str):
                paths.add(item)
            walk(item)
    elif isinstance(value, list):
        for item in value:
            walk(item)
for definition in definitions:
    walk(definition)
sample = inputs[0].strip() if inputs else "{}"
for path in sorted(paths)[:300]:
    put("jsonpath", path + "\n" + sample)
for call in sorted(calls)[:300]:
    put("intrinsics", call + "\n" + sample)

suite = os.path.join(data, "jsonata-suite")
datasets = {}
count = 0
for line in open(os.path.join(suite, "cases.jsonl")):
    case = json.loads(line)
    expr = case.get("expr")
    if not isinstance(expr, str) or "\n" in expr:
        continue
    doc = case.get("data")
    if doc is None and case.get("dataset"):
        name = case["dataset"]
        if name not in datasets:
            datasets[name] = json.load(open(os.path.join(suite, "datasets", name + ".json")))
        doc = datasets[name]
    text = json.dumps(doc)
    if len(text) > 4000:
        text = "null"
    put("jsonata", expr + "\n" + text)
    count += 1
    if count >= 800:
        break
for target in ["asl", "json", "jsonpath", "intrinsics", "jsonata"]:
    folder = os.path.join(out, target)
    print(f"fuzz: seeded {target}: {len(os.listdir(folder))} inputs", file=sys.stderr)
PY
}

do_unpack() {
  if [[ -f $FUZZ/corpus.tar.gz ]]; then
    tar xzf "$FUZZ/corpus.tar.gz" -C "$FUZZ"
    say "unpacked the corpora from fuzz/corpus.tar.gz"
  else
    do_seed
  fi
}

do_pack() {
  [[ -d $FUZZ/corpus ]] || die "no corpora in fuzz/corpus"
  (cd "$FUZZ" && tar cf - --sort=name --mtime=2026-01-01 --owner=0 --group=0 --numeric-owner corpus |
    gzip -9n >corpus.tar.gz)
  say "packed fuzz/corpus into fuzz/corpus.tar.gz ($(du -h "$FUZZ/corpus.tar.gz" | cut -f1))"
}

do_cmin() {
  check_tools
  local target
  for target in "${TARGETS[@]}"; do
    (cd "$REPO" && nice -n 19 cargo +nightly fuzz cmin -s none "$target" "fuzz/corpus/$target" -- -rss_limit_mb=4096 >&2)
  done
}

# Runs one target for SECONDS on a scratch copy of its corpus; prints 'TARGET EXECS SECONDS'.
run_target() {
  local target=$1 seconds=$2 scratch log
  log=$(mktemp)
  mkdir -p "$FUZZ/corpus/$target"
  if [[ ${STEPSTREAM_FUZZ_KEEP:-} == 1 ]]; then
    scratch=$FUZZ/corpus/$target
  else
    scratch=$(mktemp -d)
    cp -r "$FUZZ/corpus/$target/." "$scratch/"
  fi
  say "$target: ${seconds} s"
  # -s none: no sanitizer; the safe Rust under test needs none, and the binary's allocator
  # (mimalloc, which replaces malloc) does not mix with AddressSanitizer's.
  if ! (cd "$REPO" && nice -n 19 cargo +nightly fuzz run -s none "$target" "$scratch" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -max_len=65536 -print_final_stats=1 \
    >"$log" 2>&1); then
    tail -n 60 "$log" >&2
    [[ $scratch == "$FUZZ/corpus/$target" ]] || rm -rf "$scratch"
    die "$target failed (log $log, crashing input in fuzz/artifacts/$target)"
  fi
  local execs
  execs=$(awk '/stat::number_of_executed_units:/ {print $2}' "$log" | tail -n 1)
  printf '%s %s %s\n' "$target" "${execs:-?}" "$seconds"
  [[ $scratch == "$FUZZ/corpus/$target" ]] || rm -rf "$scratch"
  rm -f "$log"
}

main() {
  case ${1:-} in
    seed) do_seed; return ;;
    cmin) do_cmin; return ;;
    pack) do_pack; return ;;
    -h | --help | help) sed -n '2,15p' "${BASH_SOURCE[0]}"; return ;;
  esac
  local seconds=${1:-30}
  [[ $seconds =~ ^[0-9]+$ && $seconds -gt 0 ]] || die "SECONDS must be a positive number"
  [[ $# -gt 0 ]] && shift
  local targets=("$@")
  [[ ${#targets[@]} -gt 0 ]] || targets=("${TARGETS[@]}")
  check_tools
  [[ -d $FUZZ/corpus/asl ]] || do_unpack
  (cd "$REPO" && nice -n 19 cargo +nightly fuzz build -s none >&2)
  local target
  for target in "${targets[@]}"; do
    run_target "$target" "$seconds"
  done
}

main "$@"
