// stepstream's integration tests: one binary, `cargo test --test tests`.
//
// Modules:
// - util:        helpers shared by the others: test data paths, JSON lines, JSON comparison
//                (numbers compared numerically), running the `stepstream` binary.
// - conformance: the cases recorded against AWS (tests/data/conformance/aws-recorded.jsonl),
//                checked against tests/data/conformance-known-failures.txt; each case's history
//                kept at ERROR and FATAL is the full history's events of those levels.
// - workloads:   the benchmark workloads (tests/data/workloads) against expected.json, in
//                process and through the binary.
// - cli:         the binary's commands, exit codes and error messages.
// - golden:      compiled-program listings checked against tests/golden/*.dump
//                (`UPDATE_GOLDEN=1 cargo test --test tests golden` rewrites them).
// - integrations: the HTTP Task and Lambda invoke against local servers (tests/util/http_server.rs),
//                heartbeat timeouts, asynchronous native handlers that heartbeat, `test-state`'s
//                HTTP request and response at TRACE, and thousands of slow HTTP tasks overlapping
//                on two pool workers.
// - kafka:       the Kafka stage (`stepstream run --config`) against a real broker (skipped without
//                STEPSTREAM_BROKERS, failing then if STEPSTREAM_REQUIRE_BROKER=1): results and
//                dead letters, commits held at the watermark, restart, rebalance, bad events,
//                log records on a topic and on stdout.
// - hostile:     poison and hostile input, one test per class (invalid JSON and UTF-8, empty and
//                oversized events, deep nesting, a million-item Map, runaway intrinsics and
//                JSONata), through the worker pool and the `stepstream run` binary.
// - pipeline:    the line pipeline and worker pool: one result per event, dead letters,
//                waits that hold no worker, backpressure, panics contained, log records by
//                level (projected executions run again for them), `run --log-file`.
// - teststate:   `test-state` on the corpus's recorded histories: each top-level state that ran
//                once, given its recorded input, variables, execution input and task result,
//                gives the recorded output and next state (or the execution's error and cause),
//                through the library and, for a sample, through the binary.
// - variables:   JSONata states and variables: validation, scoping, evaluation order, runaways.
// - vm:          behaviour the corpus covers thinly: the VM driven by hand, retry timing, timeouts,
//                the payload limit, Map, Parallel, Choice, data flow, history ids, hostile inputs.

mod util;

mod cli;
mod conformance;
mod golden;
mod hostile;
mod integrations;
mod kafka;
mod pipeline;
mod teststate;
mod variables;
mod vm;
mod workloads;
