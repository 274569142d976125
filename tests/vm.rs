//! Behaviour the AWS-recorded corpus covers thinly, one table per API: the resumable VM driven
//! by hand (`vm::Execution` with explicit times), retry timing on the virtual clock, execution
//! and task timeouts, the payload limit, Map and Parallel scheduling and failure, Choice
//! operators, the JSONPath data flow, history event ids, and hostile definitions and inputs
//! that must end in an outcome instead of a panic.
//!
//! Cases run with `time_scale: 0.0` (or on times the test passes in), so waits cost nothing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use stepstream::compile::Program;
use stepstream::exec::{self, ExecOptions, ExecutionResult, Status};
use stepstream::json;
use stepstream::json::Value;
use stepstream::tasks::{Fault, MockConfig, NativeHandlers, TaskHandler};
use stepstream::vm::{Execution, Limits, Outcome, Poll, TaskRequest};
use stepstream::{asl, compile};

use crate::util::{json_diff, NoTasks};

/// The start time of executions driven by hand (2023-11-14T22:13:20Z).
const START: i64 = 1_700_000_000_000;
const WORK: &str = "arn:aws:lambda:us-east-1:111111111111:function:work";
const OTHER: &str = "arn:aws:lambda:us-east-1:111111111111:function:other";

// ----- helpers -----

fn program(definition: &Value) -> Program {
    let machine = asl::parse_value(definition).unwrap_or_else(|problems| {
        let listed: Vec<String> = problems.iter().map(ToString::to_string).collect();
        panic!(
            "the definition does not validate:\n  {}\n{definition}",
            listed.join("\n  ")
        )
    });
    compile::compile(&machine)
}

fn options() -> ExecOptions {
    ExecOptions {
        time_scale: 0.0,
        ..ExecOptions::default()
    }
}

fn run(definition: &Value, input: Value) -> ExecutionResult {
    run_with(definition, input, &options(), &NoTasks)
}

fn run_with(
    definition: &Value,
    input: Value,
    options: &ExecOptions,
    tasks: &dyn TaskHandler,
) -> ExecutionResult {
    exec::run(&program(definition), input, options, tasks)
}

/// How an execution is expected to end.
#[derive(Debug, Clone)]
enum End {
    Succeeded(Value),
    /// Succeeded; the caller checks the output itself.
    SucceededAny,
    /// The error, and what is checked of the cause.
    Failed(String, Cause),
    TimedOut,
}

fn ok(output: Value) -> End {
    End::Succeeded(output)
}

#[derive(Debug, Clone)]
enum Cause {
    Any,
    Exactly(String),
    StartingWith(String),
}

fn failed(error: &str) -> End {
    End::Failed(error.to_owned(), Cause::Any)
}

fn failed_with(error: &str, cause: &str) -> End {
    End::Failed(error.to_owned(), Cause::Exactly(cause.to_owned()))
}

fn failed_starting(error: &str, cause: &str) -> End {
    End::Failed(error.to_owned(), Cause::StartingWith(cause.to_owned()))
}

fn assert_end(
    label: &str,
    status: Status,
    output: Option<&Value>,
    error: Option<&str>,
    cause: Option<&str>,
    expected: &End,
) {
    let actual = format!(
        "status {}, output {}, error {error:?}, cause {cause:?}",
        status.as_str(),
        output.map_or("-".to_owned(), Value::to_string)
    );
    match expected {
        End::Succeeded(expected_output) => {
            assert_eq!(status, Status::Succeeded, "{label}: {actual}");
            let output = output.unwrap_or_else(|| panic!("{label}: no output"));
            if let Some(difference) = json_diff(expected_output, output) {
                panic!("{label}: output {difference}\n{actual}");
            }
        }
        End::SucceededAny => {
            assert_eq!(status, Status::Succeeded, "{label}: {actual}");
            assert!(output.is_some(), "{label}: no output");
        }
        End::Failed(expected_error, expected_cause) => {
            assert_eq!(status, Status::Failed, "{label}: {actual}");
            assert_eq!(error, Some(expected_error.as_str()), "{label}: {actual}");
            match expected_cause {
                Cause::Any => {}
                Cause::Exactly(expected) => {
                    assert_eq!(cause, Some(expected.as_str()), "{label}: {actual}")
                }
                Cause::StartingWith(prefix) => assert!(
                    cause.is_some_and(|cause| cause.starts_with(prefix.as_str())),
                    "{label}: the cause should start with {prefix:?}; {actual}"
                ),
            }
            assert_eq!(output, None, "{label}: a failed execution has no output");
        }
        End::TimedOut => {
            assert_eq!(status, Status::TimedOut, "{label}: {actual}");
            assert_eq!(output, None, "{label}: a timed-out execution has no output");
        }
    }
}

fn assert_result(label: &str, result: &ExecutionResult, expected: &End) {
    assert_end(
        label,
        result.status,
        result.output.as_ref(),
        result.error.as_deref(),
        result.cause.as_deref(),
        expected,
    );
}

fn assert_outcome(label: &str, outcome: &Outcome, expected: &End) {
    assert_end(
        label,
        outcome.status,
        outcome.output.as_ref(),
        outcome.error.as_deref(),
        outcome.cause.as_deref(),
        expected,
    );
}

/// Runs a definition on an input with no task handler and checks how it ends.
fn check(definition: Value, input: Value, expected: End) {
    let result = run(&definition, input);
    assert_result(&definition.to_string(), &result, &expected);
}

/// Like `check`, with options and task handlers.
fn check_with(
    definition: Value,
    input: Value,
    options: &ExecOptions,
    tasks: &dyn TaskHandler,
    expected: End,
) -> ExecutionResult {
    let result = run_with(&definition, input, options, tasks);
    assert_result(&definition.to_string(), &result, &expected);
    result
}

/// A one-state machine.
fn single(state: Value) -> Value {
    json!({"StartAt": "S", "States": {"S": state}})
}

/// A Task state on `WORK` with extra fields.
fn task(fields: Value) -> Value {
    let mut state = json!({"Type": "Task", "Resource": WORK, "End": true});
    merge(&mut state, fields);
    state
}

fn merge(target: &mut Value, fields: Value) {
    if let (Value::Object(target), Value::Object(fields)) = (target, fields) {
        target.extend(fields);
    }
}

/// The compact JSON size of a value, as the payload limit counts it.
fn compact_len(value: &Value) -> usize {
    serde_json::to_string(value)
        .expect("values serialise")
        .len()
}

/// Counts calls; cloned into a native handler.
#[derive(Clone, Default)]
struct Counter(Arc<AtomicUsize>);

impl Counter {
    fn bump(&self) -> usize {
        self.0.fetch_add(1, Ordering::SeqCst)
    }

    fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// A handler on `resource` that counts its calls and answers with `answer(call number)`.
fn counting<F>(
    handlers: NativeHandlers,
    resource: &str,
    counter: &Counter,
    answer: F,
) -> NativeHandlers
where
    F: Fn(usize, &Value) -> Result<Value, Fault> + Send + Sync + 'static,
{
    let counter = counter.clone();
    handlers.register(resource, move |parameters| {
        answer(counter.bump(), parameters)
    })
}

/// An execution driven by hand on a program that lives as long as the test binary.
struct Vm {
    execution: Execution<'static>,
}

impl Vm {
    fn start(definition: &Value, input: Value) -> Vm {
        Vm::start_with(definition, input, Limits::default())
    }

    fn start_with(definition: &Value, input: Value, limits: Limits) -> Vm {
        let program: &'static Program = Box::leak(Box::new(program(definition)));
        Vm {
            execution: Execution::new(program, input, options().info(START), limits),
        }
    }

    /// Runs at `now`, expecting the execution to wait; returns when it wants to run again.
    fn pending(&mut self, now: i64) -> Option<i64> {
        match self.execution.run(now) {
            Poll::Pending { wake_at } => wake_at,
            Poll::Done(outcome) => {
                panic!("expected a wait at {now}, the execution ended: {outcome:?}")
            }
        }
    }

    /// Runs at `now`, expecting the execution to end.
    fn done(&mut self, now: i64) -> Outcome {
        match self.execution.run(now) {
            Poll::Done(outcome) => outcome,
            Poll::Pending { wake_at } => {
                panic!("expected the end at {now}, it waits until {wake_at:?}")
            }
        }
    }

    /// Takes the requests issued so far, expecting exactly one.
    fn request(&mut self) -> TaskRequest<'static> {
        let mut requests = self.execution.take_requests();
        assert_eq!(requests.len(), 1, "expected one task request: {requests:?}");
        requests.remove(0)
    }

    fn complete(&mut self, request: &TaskRequest<'_>, result: Result<Value, Fault>, now: i64) {
        self.execution.complete_task(request.ticket, result, now);
    }
}

/// What serving every task request of an execution with one answer looked like.
#[derive(Debug)]
struct Trace {
    /// For each wait without a task request outstanding: how long the execution asked to sleep.
    delays: Vec<i64>,
    /// Each request's parameters and invocation index, in order.
    parameters: Vec<Value>,
    invocations: Vec<u32>,
    outcome: Outcome,
}

/// Drives an execution by hand: each task request is answered with `answer(invocation)`
/// 100 ms after it is taken, and each timer is slept out exactly.
fn drive<F>(definition: &Value, input: Value, answer: F) -> Trace
where
    F: Fn(u32) -> Result<Value, Fault>,
{
    let mut vm = Vm::start(definition, input);
    let mut now = START;
    let mut trace = Trace {
        delays: Vec::new(),
        parameters: Vec::new(),
        invocations: Vec::new(),
        outcome: Outcome {
            status: Status::Failed,
            output: None,
            error: None,
            cause: None,
        },
    };
    for _ in 0..10_000 {
        match vm.execution.run(now) {
            Poll::Done(outcome) => {
                trace.outcome = outcome;
                return trace;
            }
            Poll::Pending { wake_at } => {
                let requests = vm.execution.take_requests();
                if requests.is_empty() {
                    let at = wake_at.expect("a waiting execution names when to wake it");
                    assert!(at >= now, "wake time {at} is before now {now}");
                    trace.delays.push(at - now);
                    now = at;
                }
                for request in requests {
                    trace.parameters.push(request.parameters.clone());
                    trace.invocations.push(request.invocation);
                    now += 100;
                    vm.complete(&request, answer(request.invocation), now);
                }
            }
        }
    }
    panic!("the execution did not end: {trace:?}");
}

fn flaky(error: &str) -> Fault {
    Fault::new(error, "it broke")
}

// ----- 1. resumability: the VM driven by hand -----

#[test]
fn wait_wakes_exactly_at_its_time() {
    let definition = single(json!({"Type": "Wait", "Seconds": 10, "End": true}));
    let mut vm = Vm::start(&definition, json!({"k": 1}));
    assert_eq!(vm.pending(START), Some(START + 10_000));
    assert!(vm.execution.take_requests().is_empty());
    assert_eq!(vm.pending(START + 9_999), Some(START + 10_000));
    let outcome = vm.done(START + 10_000);
    assert_outcome("wait 10 s", &outcome, &ok(json!({"k": 1})));
    // Once over, the status stays, without the output.
    let Poll::Done(again) = vm.execution.run(START + 20_000) else {
        panic!("an ended execution stays ended");
    };
    assert_eq!((again.status, again.output), (Status::Succeeded, None));
}

#[test]
fn timers_compose_across_states_and_wait_kinds() {
    // Seconds, SecondsPath, Timestamp and TimestampPath, one after another.
    let definition = json!({"StartAt": "A", "States": {
        "A": {"Type": "Wait", "Seconds": 2, "Next": "B"},
        "B": {"Type": "Wait", "SecondsPath": "$.s", "Next": "C"},
        "C": {"Type": "Wait", "Timestamp": "2023-11-14T22:13:30Z", "Next": "D"},
        "D": {"Type": "Wait", "TimestampPath": "$.t", "End": true}}});
    let input = json!({"s": 3, "t": "2023-11-14T22:13:40.5Z"});
    let mut vm = Vm::start(&definition, input.clone());
    let cases = [
        (START, START + 2_000),
        (START + 2_000, START + 5_000),
        (START + 5_000, START + 10_000),
        (START + 10_000, START + 20_500),
    ];
    for (now, wake) in cases {
        assert_eq!(vm.pending(now), Some(wake), "at {now}");
    }
    assert_outcome("four waits", &vm.done(START + 20_500), &ok(input));
}

#[test]
fn task_issues_one_request_and_waits_for_its_result() {
    let definition = json!({"StartAt": "Prepare", "States": {
        "Prepare": {"Type": "Pass", "Next": "Work"},
        "Work": {"Type": "Task", "Resource": WORK,
                 "Parameters": {"id.$": "$.id", "fixed": 1}, "ResultPath": "$.result", "End": true}}});
    let mut vm = Vm::start(&definition, json!({"id": 7}));
    // Without a task timeout the execution only waits for the Express limit.
    assert_eq!(vm.pending(START), Some(START + 300_000));
    let request = vm.request();
    assert_eq!(request.state_name, "Work");
    assert_eq!(request.resource, WORK);
    assert_eq!(request.parameters, json!({"id": 7, "fixed": 1}));
    assert_eq!(request.invocation, 0);
    assert_eq!(request.deadline_ms, None);
    assert!(!vm.execution.is_runnable());
    // Running again before the result changes nothing and issues nothing new.
    assert_eq!(vm.pending(START + 1_000), Some(START + 300_000));
    assert!(vm.execution.take_requests().is_empty());
    vm.complete(&request, Ok(json!({"done": true})), START + 2_000);
    assert!(vm.execution.is_runnable());
    let outcome = vm.done(START + 2_000);
    assert_outcome(
        "task",
        &outcome,
        &ok(json!({"id": 7, "result": {"done": true}})),
    );
}

#[test]
fn stale_tickets_are_ignored() {
    let definition = json!({"StartAt": "First", "States": {
        "First": {"Type": "Task", "Resource": WORK, "ResultPath": "$.first", "Next": "Second"},
        "Second": {"Type": "Task", "Resource": WORK, "ResultPath": "$.second", "End": true}}});
    let mut vm = Vm::start(&definition, json!({}));
    vm.pending(START);
    let first = vm.request();
    vm.complete(&first, Ok(json!(1)), START + 10);
    vm.pending(START + 10);
    let second = vm.request();
    assert_eq!((second.state_name, second.invocation), ("Second", 0));
    // The first ticket again, with a different result: ignored, the Second task still waits.
    vm.complete(&first, Ok(json!("stale")), START + 20);
    vm.complete(&first, Err(flaky("Stale.Error")), START + 20);
    assert!(!vm.execution.is_runnable());
    assert_eq!(vm.pending(START + 20), Some(START + 300_000));
    assert!(vm.execution.take_requests().is_empty());
    vm.complete(&second, Ok(json!(2)), START + 30);
    // And the second ticket, once used, is stale too.
    vm.complete(&second, Ok(json!("again")), START + 30);
    let outcome = vm.done(START + 30);
    assert_outcome("stale", &outcome, &ok(json!({"first": 1, "second": 2})));
}

#[test]
fn task_timeout_fires_on_late_results_and_on_the_clock() {
    let timeout_task = |catch: Value| {
        json!({"StartAt": "Work", "States": {
            "Work": {"Type": "Task", "Resource": WORK, "TimeoutSeconds": 5,
                     "Catch": catch, "End": true},
            "Recover": {"Type": "Pass", "End": true}}})
    };
    let uncaught = timeout_task(json!([{"ErrorEquals": ["Other.Error"], "Next": "Recover"}]));
    let caught = timeout_task(json!([
        {"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.wrong", "Next": "Recover"},
        {"ErrorEquals": ["States.Timeout"], "ResultPath": "$.error", "Next": "Recover"}]));

    // A result within the deadline is taken.
    let mut vm = Vm::start(&uncaught, json!({}));
    assert_eq!(vm.pending(START), Some(START + 5_000));
    let request = vm.request();
    assert_eq!(request.deadline_ms, Some(START + 5_000));
    vm.complete(&request, Ok(json!("in time")), START + 4_000);
    assert_outcome("in time", &vm.done(START + 4_000), &ok(json!("in time")));

    // A result after the deadline fails the task with States.Timeout.
    let mut vm = Vm::start(&uncaught, json!({}));
    vm.pending(START);
    let request = vm.request();
    vm.complete(&request, Ok(json!("late")), START + 6_000);
    assert_outcome("late", &vm.done(START + 6_000), &failed("States.Timeout"));

    // Caught by name, and not by States.TaskFailed.
    let mut vm = Vm::start(&caught, json!({"k": 1}));
    vm.pending(START);
    let request = vm.request();
    vm.complete(&request, Ok(json!("late")), START + 7_000);
    let outcome = vm.done(START + 7_000);
    let output = outcome.output.clone().expect("the catcher's output");
    assert_eq!(outcome.status, Status::Succeeded, "{outcome:?}");
    assert_eq!(output["k"], json!(1));
    assert_eq!(output["error"]["Error"], json!("States.Timeout"));
    assert_eq!(output.get("wrong"), None);

    // With no result at all, running at the deadline times the task out; the catcher runs
    // and a result that comes after is stale.
    let mut vm = Vm::start(&caught, json!({"k": 2}));
    vm.pending(START);
    let request = vm.request();
    assert_eq!(vm.pending(START + 4_999), Some(START + 5_000));
    let outcome = vm.done(START + 5_000);
    assert_eq!(outcome.status, Status::Succeeded, "{outcome:?}");
    assert_eq!(
        outcome.output.expect("output")["error"]["Error"],
        json!("States.Timeout")
    );
    vm.complete(&request, Ok(json!("late")), START + 6_000);
}

#[test]

fn uncaught_task_timeout_on_the_clock_ends_the_run() {
    let definition = single(task(json!({"TimeoutSeconds": 5})));
    let mut vm = Vm::start(&definition, json!({}));
    assert_eq!(vm.pending(START), Some(START + 5_000));
    let request = vm.request();
    assert_outcome(
        "on the clock",
        &vm.done(START + 5_000),
        &failed("States.Timeout"),
    );
    vm.complete(&request, Ok(json!("late")), START + 6_000);
    assert_eq!(vm.done(START + 6_000).status, Status::Failed);
}

#[test]
fn timeout_seconds_path_sets_the_deadline() {
    let definition = single(task(json!({"TimeoutSecondsPath": "$.timeout"})));
    let mut vm = Vm::start(&definition, json!({"timeout": 3}));
    assert_eq!(vm.pending(START), Some(START + 3_000));
    let request = vm.request();
    assert_eq!(request.deadline_ms, Some(START + 3_000));
    vm.complete(&request, Ok(json!("late")), START + 3_001);
    assert_outcome(
        "deadline",
        &vm.done(START + 3_001),
        &failed("States.Timeout"),
    );
}

/// A Task with `TimeoutSeconds` 10 and `HeartbeatSeconds` 2, and the catchers of all three
/// time-out names (`States.TaskFailed` first, which matches none of them).
fn heartbeat_task(retry: Value) -> Value {
    json!({"StartAt": "Work", "States": {
        "Work": {"Type": "Task", "Resource": WORK, "TimeoutSeconds": 10, "HeartbeatSeconds": 2,
                 "Retry": retry,
                 "Catch": [
                     {"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.failed", "Next": "Done"},
                     {"ErrorEquals": ["States.HeartbeatTimeout"], "ResultPath": "$.heartbeat", "Next": "Done"},
                     {"ErrorEquals": ["States.Timeout"], "ResultPath": "$.timeout", "Next": "Done"}],
                 "End": true},
        "Done": {"Type": "Pass", "End": true}}})
}

/// Starts `definition` with history recorded.
fn recorded(definition: &Value) -> Vm {
    Vm::start_with(
        definition,
        json!({}),
        Limits {
            record_history: true,
            ..Limits::default()
        },
    )
}

/// Which catcher field a caught run's output has, and the error it holds.
fn caught_by(outcome: &Outcome) -> (String, Value) {
    assert_eq!(outcome.status, Status::Succeeded, "{outcome:?}");
    let output = outcome.output.clone().expect("the catcher's output");
    let fields = output.as_object().expect("an object");
    assert_eq!(fields.len(), 1, "{output}");
    let (name, value) = fields.iter().next().expect("one field");
    (name.to_string(), value["Error"].clone())
}

#[test]
fn heartbeat_seconds_times_out_a_task_that_stops_heartbeating() {
    let definition = heartbeat_task(json!([]));
    let mut vm = recorded(&definition);
    // The heartbeat timer runs out before the deadline, so the execution wakes for it first.
    assert_eq!(vm.pending(START), Some(START + 2_000));
    let request = vm.request();
    assert_eq!(request.deadline_ms, Some(START + 10_000));
    assert_eq!(request.heartbeat_ms, Some(2_000));
    // Each heartbeat starts the timer again.
    vm.execution.heartbeat_task(request.ticket, START + 1_500);
    assert_eq!(vm.pending(START + 1_500), Some(START + 3_500));
    vm.execution.heartbeat_task(request.ticket, START + 3_000);
    assert_eq!(vm.pending(START + 3_400), Some(START + 5_000));
    assert_eq!(vm.pending(START + 4_999), Some(START + 5_000));
    // No heartbeat for 2 s: the task times out, and States.HeartbeatTimeout catches it.
    let outcome = vm.done(START + 5_000);
    assert_eq!(
        caught_by(&outcome),
        ("heartbeat".to_string(), json!("States.Timeout"))
    );
    // AWS records a heartbeat time-out as a TaskTimedOut (here a Lambda function's) with
    // the error States.Timeout.
    let timed_out = vm
        .execution
        .history()
        .iter()
        .find(|event| event.event_type == "LambdaFunctionTimedOut")
        .expect("a time-out event");
    assert_eq!(
        timed_out.details,
        json!({"lambdaFunctionTimedOutEventDetails": {"error": "States.Timeout"}})
    );
    assert_eq!(timed_out.timestamp_ms, START + 5_000);
    // What comes after is stale: a heartbeat, then the result.
    vm.execution.heartbeat_task(request.ticket, START + 5_500);
    vm.complete(&request, Ok(json!("late")), START + 6_000);
    assert_eq!(vm.done(START + 6_000).status, Status::Succeeded);
}

#[test]
fn heartbeats_do_not_extend_timeout_seconds() {
    let definition = heartbeat_task(json!([]));
    let mut vm = Vm::start(&definition, json!({}));
    vm.pending(START);
    let request = vm.request();
    let mut now = START;
    while now < START + 9_000 {
        now += 1_500;
        vm.execution.heartbeat_task(request.ticket, now);
        assert!(vm.pending(now).is_some_and(|wake| wake <= START + 10_000));
    }
    // The deadline comes while the task still heartbeats: States.Timeout, which the
    // States.HeartbeatTimeout catcher does not take.
    let outcome = vm.done(START + 10_000);
    assert_eq!(
        caught_by(&outcome),
        ("timeout".to_string(), json!("States.Timeout"))
    );
}

#[test]
fn a_result_or_heartbeat_after_the_heartbeat_timer_ran_out_is_too_late() {
    // A result that comes after the timer ran out, before the execution was run at that
    // time, times the task out all the same.
    let definition = heartbeat_task(json!([]));
    let mut vm = Vm::start(&definition, json!({}));
    vm.pending(START);
    let request = vm.request();
    vm.complete(&request, Ok(json!("late")), START + 2_001);
    assert_eq!(
        caught_by(&vm.done(START + 2_001)),
        ("heartbeat".to_string(), json!("States.Timeout"))
    );
    // So does a heartbeat: it does not start the timer again once it ran out.
    let mut vm = Vm::start(&definition, json!({}));
    vm.pending(START);
    let request = vm.request();
    vm.execution.heartbeat_task(request.ticket, START + 2_500);
    assert_eq!(
        caught_by(&vm.done(START + 2_500)),
        ("heartbeat".to_string(), json!("States.Timeout"))
    );
    // A result within the heartbeat period is taken.
    let mut vm = Vm::start(&definition, json!({}));
    vm.pending(START);
    let request = vm.request();
    vm.execution.heartbeat_task(request.ticket, START + 1_000);
    vm.complete(&request, Ok(json!("in time")), START + 2_500);
    assert_outcome("in time", &vm.done(START + 2_500), &ok(json!("in time")));
}

#[test]
fn heartbeat_timeouts_are_retried_by_heartbeat_timeout_timeout_and_all() {
    for name in ["States.HeartbeatTimeout", "States.Timeout", "States.ALL"] {
        let definition = heartbeat_task(json!([
            {"ErrorEquals": [name], "IntervalSeconds": 1, "MaxAttempts": 1}]));
        let mut vm = Vm::start(&definition, json!({}));
        vm.pending(START);
        let first = vm.request();
        // The first attempt times out at +2 s and is retried 1 s later, with new timers.
        assert_eq!(vm.pending(START + 2_000), Some(START + 3_000), "{name}");
        assert_eq!(vm.pending(START + 3_000), Some(START + 5_000), "{name}");
        let second = vm.request();
        assert_eq!(
            (second.invocation, second.deadline_ms),
            (1, Some(START + 13_000)),
            "{name}"
        );
        vm.complete(&first, Ok(json!("stale")), START + 3_500);
        vm.complete(&second, Ok(json!("second")), START + 4_000);
        assert_outcome(name, &vm.done(START + 4_000), &ok(json!("second")));
    }
    // A States.HeartbeatTimeout retrier leaves TimeoutSeconds time-outs alone.
    let definition = heartbeat_task(json!([
        {"ErrorEquals": ["States.HeartbeatTimeout"], "IntervalSeconds": 1, "MaxAttempts": 3}]));
    let mut vm = Vm::start(&definition, json!({}));
    vm.pending(START);
    let request = vm.request();
    vm.execution.heartbeat_task(request.ticket, START + 1_900);
    vm.execution.heartbeat_task(request.ticket, START + 3_800);
    vm.execution.heartbeat_task(request.ticket, START + 5_700);
    vm.execution.heartbeat_task(request.ticket, START + 7_600);
    vm.execution.heartbeat_task(request.ticket, START + 9_500);
    assert_eq!(vm.pending(START + 9_500), Some(START + 10_000));
    assert_eq!(
        caught_by(&vm.done(START + 10_000)),
        ("timeout".to_string(), json!("States.Timeout"))
    );
}

#[test]
fn heartbeat_seconds_path_and_jsonata_set_the_heartbeat_timer() {
    let by_path = single(task(json!({"HeartbeatSecondsPath": "$.beat"})));
    let mut vm = Vm::start(&by_path, json!({"beat": 3}));
    assert_eq!(vm.pending(START), Some(START + 3_000));
    assert_eq!(vm.request().heartbeat_ms, Some(3_000));
    assert_outcome("path", &vm.done(START + 3_000), &failed("States.Timeout"));
    let by_jsonata = single(task(json!({"QueryLanguage": "JSONata",
        "HeartbeatSeconds": "{% $states.input.beat * 2 %}"})));
    let mut vm = Vm::start(&by_jsonata, json!({"beat": 2}));
    assert_eq!(vm.pending(START), Some(START + 4_000));
    assert_eq!(vm.request().heartbeat_ms, Some(4_000));
    // Without HeartbeatSeconds a heartbeat changes nothing.
    let plain = single(task(json!({})));
    let mut vm = Vm::start(&plain, json!({}));
    assert_eq!(vm.pending(START), Some(START + 300_000));
    let request = vm.request();
    assert_eq!(request.heartbeat_ms, None);
    vm.execution.heartbeat_task(request.ticket, START + 1_000);
    assert_eq!(vm.pending(START + 1_000), Some(START + 300_000));
}

#[test]
fn task_scheduled_records_heartbeat_in_seconds() {
    let definition = single(
        json!({"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",
        "TimeoutSeconds": 30, "HeartbeatSeconds": 5, "End": true}),
    );
    let mut vm = recorded(&definition);
    vm.pending(START);
    let request = vm.request();
    vm.complete(&request, Ok(json!({})), START + 10);
    vm.done(START + 10);
    let scheduled = vm
        .execution
        .history()
        .iter()
        .find(|event| event.event_type == "TaskScheduled")
        .expect("a TaskScheduled event");
    let details = &scheduled.details["taskScheduledEventDetails"];
    assert_eq!(details["timeoutInSeconds"], json!(30));
    assert_eq!(details["heartbeatInSeconds"], json!(5));
}

#[test]
fn each_retry_of_a_timed_out_task_gets_a_new_deadline() {
    let definition = single(task(json!({"TimeoutSeconds": 5,
        "Retry": [{"ErrorEquals": ["States.Timeout"], "IntervalSeconds": 1, "MaxAttempts": 1}]})));
    let mut vm = Vm::start(&definition, json!({}));
    assert_eq!(vm.pending(START), Some(START + 5_000));
    let first = vm.request();
    assert_eq!(
        (first.invocation, first.deadline_ms),
        (0, Some(START + 5_000))
    );
    // The late result times the first attempt out; the retry waits its interval.
    vm.complete(&first, Ok(json!("late")), START + 5_500);
    assert_eq!(vm.pending(START + 5_500), Some(START + 6_500));
    assert_eq!(vm.pending(START + 6_500), Some(START + 11_500));
    let second = vm.request();
    assert_eq!(
        (second.invocation, second.deadline_ms),
        (1, Some(START + 11_500))
    );
    vm.complete(&second, Ok(json!("second")), START + 11_000);
    assert_outcome("retried", &vm.done(START + 11_000), &ok(json!("second")));
}

#[test]
fn waits_already_due_do_not_wait() {
    // A timestamp in the past and zero seconds go straight on.
    let definition = json!({"StartAt": "Past", "States": {
        "Past": {"Type": "Wait", "Timestamp": "2001-01-01T00:00:00Z", "Next": "Zero"},
        "Zero": {"Type": "Wait", "SecondsPath": "$.zero", "Next": "Pause"},
        "Pause": {"Type": "Wait", "Seconds": 1, "End": true}}});
    let mut vm = Vm::start(&definition, json!({"zero": 0}));
    assert_eq!(vm.pending(START), Some(START + 1_000));
    assert_outcome("due", &vm.done(START + 1_000), &ok(json!({"zero": 0})));
}

#[test]
fn parallel_tasks_are_requested_together_and_completed_in_any_order() {
    let definition = single(json!({"Type": "Parallel", "End": true, "Branches": [
        {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": WORK, "End": true}}},
        {"StartAt": "B", "States": {"B": {"Type": "Task", "Resource": OTHER, "End": true}}}]}));
    let mut vm = Vm::start(&definition, json!({}));
    let mut requests = Vec::new();
    let mut now = START;
    while requests.len() < 2 {
        vm.pending(now);
        requests.extend(vm.execution.take_requests());
        now += 1;
        assert!(
            now < START + 10,
            "the branches did not both ask: {requests:?}"
        );
    }
    let names: Vec<&str> = requests.iter().map(|r| r.state_name).collect();
    assert_eq!(names, ["A", "B"]);
    // The later branch answers first; outputs still come in branch order.
    vm.complete(&requests[1], Ok(json!("b")), now);
    vm.pending(now);
    vm.complete(&requests[0], Ok(json!("a")), now + 1);
    assert_outcome("parallel", &vm.done(now + 1), &ok(json!(["a", "b"])));
}

// ----- 2. retry timing and error matching -----

#[test]
fn retry_back_off_on_the_virtual_clock() {
    // (retrier, delays between attempts, how it ends)
    let always_fail = json!({"ErrorEquals": ["Flaky.Error"]});
    #[rustfmt::skip]
    let cases: Vec<(Value, Vec<i64>, End)> = vec![
        // Defaults: IntervalSeconds 1, BackoffRate 2, MaxAttempts 3.
        (always_fail.clone(), vec![1_000, 2_000, 4_000], failed("Flaky.Error")),
        (
            json!({"ErrorEquals": ["Flaky.Error"], "IntervalSeconds": 1, "BackoffRate": 2.0, "MaxAttempts": 3}),
            vec![1_000, 2_000, 4_000],
            failed("Flaky.Error"),
        ),
        (
            json!({"ErrorEquals": ["Flaky.Error"], "IntervalSeconds": 3, "BackoffRate": 1.0, "MaxAttempts": 2}),
            vec![3_000, 3_000],
            failed("Flaky.Error"),
        ),
        (
            json!({"ErrorEquals": ["Flaky.Error"], "IntervalSeconds": 2, "BackoffRate": 1.5, "MaxAttempts": 4}),
            vec![2_000, 3_000, 4_500, 6_750],
            failed("Flaky.Error"),
        ),
        (
            json!({"ErrorEquals": ["Flaky.Error"], "IntervalSeconds": 1, "BackoffRate": 2.0, "MaxAttempts": 5, "MaxDelaySeconds": 3}),
            vec![1_000, 2_000, 3_000, 3_000, 3_000],
            failed("Flaky.Error"),
        ),
        (json!({"ErrorEquals": ["Flaky.Error"], "MaxAttempts": 0}), vec![], failed("Flaky.Error")),
        (json!({"ErrorEquals": ["States.ALL"], "MaxAttempts": 1}), vec![1_000], failed("Flaky.Error")),
        (json!({"ErrorEquals": ["Other.Error"]}), vec![], failed("Flaky.Error")),
    ];
    for (retrier, delays, end) in cases {
        let definition = single(task(json!({"Retry": [retrier]})));
        let trace = drive(&definition, json!({}), |_| Err(flaky("Flaky.Error")));
        assert_eq!(trace.delays, delays, "{retrier}");
        let attempts: Vec<u32> = (0..=delays.len() as u32).collect();
        assert_eq!(trace.invocations, attempts, "{retrier}");
        assert_outcome(&retrier.to_string(), &trace.outcome, &end);
    }
}

#[test]
fn retriers_are_tried_in_order_and_count_separately() {
    // Each retrier keeps its own attempt count: A fails twice, B once, then A again.
    let definition = single(task(json!({"Retry": [
        {"ErrorEquals": ["A.Error"], "IntervalSeconds": 1, "MaxAttempts": 3, "BackoffRate": 2},
        {"ErrorEquals": ["B.Error", "A.Error"], "IntervalSeconds": 5, "MaxAttempts": 1}]})));
    let errors = ["A.Error", "A.Error", "B.Error", "A.Error", "A.Error"];
    let trace = drive(&definition, json!({}), |invocation| {
        match errors.get(invocation as usize) {
            Some(error) => Err(flaky(error)),
            None => Ok(json!("finally")),
        }
    });
    assert_eq!(trace.delays, [1_000, 2_000, 5_000, 4_000]);
    assert_outcome("ordered retriers", &trace.outcome, &failed("A.Error"));
}

#[test]
fn full_jitter_stays_within_the_computed_delay() {
    let definition = single(task(json!({"Retry": [{"ErrorEquals": ["States.ALL"],
        "IntervalSeconds": 2, "BackoffRate": 2.0, "MaxAttempts": 3, "MaxDelaySeconds": 6,
        "JitterStrategy": "FULL"}]})));
    let ceilings = [2_000, 4_000, 6_000];
    let mut below = 0;
    for _ in 0..20 {
        let trace = drive(&definition, json!({}), |_| Err(flaky("Flaky.Error")));
        assert_eq!(trace.invocations, [0, 1, 2, 3], "{trace:?}");
        assert_outcome("jitter", &trace.outcome, &failed("Flaky.Error"));
        // A jittered delay under a millisecond does not sleep at all, so the trace then
        // holds fewer delays; each one left is still within the largest ceiling.
        if trace.delays.len() < 3 {
            assert!(
                trace.delays.iter().all(|delay| (0..=6_000).contains(delay)),
                "{trace:?}"
            );
            below += 1;
            continue;
        }
        for (delay, ceiling) in trace.delays.iter().zip(ceilings) {
            assert!(
                (0..=ceiling).contains(delay),
                "jittered delay {delay} outside [0, {ceiling}]"
            );
            below += usize::from(*delay < ceiling);
        }
    }
    assert!(below > 0, "FULL jitter never shortened a delay");
    // NONE is the default and leaves delays alone.
    let none = single(task(json!({"Retry": [{"ErrorEquals": ["States.ALL"],
        "MaxAttempts": 2, "JitterStrategy": "NONE"}]})));
    let trace = drive(&none, json!({}), |_| Err(flaky("Flaky.Error")));
    assert_eq!(trace.delays, [1_000, 2_000]);
}

#[test]

fn retry_count_is_visible_in_parameters() {
    let definition = single(task(json!({
        "Parameters": {"attempt.$": "$$.State.RetryCount", "id.$": "$.id"},
        "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 3}]})));
    let trace = drive(&definition, json!({"id": "x"}), |invocation| {
        if invocation < 3 {
            Err(flaky("Flaky.Error"))
        } else {
            Ok(json!("done"))
        }
    });
    let expected: Vec<Value> = (0..4).map(|n| json!({"attempt": n, "id": "x"})).collect();
    assert_eq!(trace.parameters, expected);
    assert_outcome("retry count", &trace.outcome, &ok(json!("done")));
}

#[test]
fn retry_resends_the_same_parameters() {
    let definition = single(task(json!({
        "InputPath": "$.inner",
        "Parameters": {"v.$": "$.v", "fixed": true},
        "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2}]})));
    let trace = drive(&definition, json!({"inner": {"v": 5}}), |invocation| {
        if invocation < 2 {
            Err(flaky("Flaky.Error"))
        } else {
            Ok(json!("done"))
        }
    });
    assert_eq!(trace.parameters, vec![json!({"v": 5, "fixed": true}); 3]);
    assert_eq!(trace.delays, [1_000, 2_000]);
}

#[test]
fn catch_runs_after_retries_are_exhausted() {
    let definition = json!({"StartAt": "Work", "States": {
        "Work": {"Type": "Task", "Resource": WORK,
                 "Retry": [{"ErrorEquals": ["Flaky.Error"], "MaxAttempts": 2}],
                 "Catch": [{"ErrorEquals": ["Flaky.Error"], "ResultPath": "$.error", "Next": "Recover"}],
                 "End": true},
        "Recover": {"Type": "Pass", "Parameters": {"recovered.$": "$.error.Error", "id.$": "$.id"}, "End": true}}});
    let trace = drive(&definition, json!({"id": 3}), |_| Err(flaky("Flaky.Error")));
    assert_eq!(trace.delays, [1_000, 2_000]);
    assert_eq!(trace.invocations, [0, 1, 2]);
    assert_outcome(
        "retry then catch",
        &trace.outcome,
        &ok(json!({"recovered": "Flaky.Error", "id": 3})),
    );
}

/// A Task whose handler fails with the error named in the input, under the given catchers
/// (each routing to a Pass state that reports the catcher's index).
fn catcher_machine(catchers: &[&[&str]]) -> Value {
    let mut states = json::Map::new();
    let catch: Vec<Value> = catchers
        .iter()
        .enumerate()
        .map(|(index, errors)| {
            let name = format!("Caught{index}");
            states.insert(
                name.clone(),
                json!({"Type": "Pass", "Result": index, "End": true}),
            );
            json!({"ErrorEquals": errors, "Next": name})
        })
        .collect();
    states.insert(
        "Work",
        json!({"Type": "Task", "Resource": WORK, "Catch": catch, "End": true}),
    );
    json!({"StartAt": "Work", "States": states})
}

#[test]
fn catchers_match_error_names() {
    let handlers = NativeHandlers::new().register(WORK, |parameters| {
        Err(Fault::new(
            parameters["error"].as_str().unwrap_or("Missing.Error"),
            "thrown",
        ))
    });
    // (catchers, error thrown, how it ends: the index of the catcher that ran, or the error)
    #[rustfmt::skip]
    let cases: Vec<(&[&[&str]], &str, End)> = vec![
        (&[&["Custom.Error"]], "Custom.Error", ok(json!(0))),
        (&[&["Other.Error"], &["Custom.Error"]], "Custom.Error", ok(json!(1))),
        (&[&["Other.Error", "Custom.Error"]], "Custom.Error", ok(json!(0))),
        (&[&["Custom.Error"], &["States.ALL"]], "Custom.Error", ok(json!(0))),
        (&[&["Other.Error"], &["States.ALL"]], "Custom.Error", ok(json!(1))),
        (&[&["States.TaskFailed"]], "Custom.Error", ok(json!(0))),
        (&[&["States.TaskFailed"]], "States.Permissions", ok(json!(0))),
        (&[&["States.TaskFailed"], &["States.ALL"]], "Lambda.Unknown", ok(json!(0))),
        (&[&["Other.Error"]], "Custom.Error", failed_with("Custom.Error", "thrown")),
        // Names are case-sensitive and not prefixes.
        (&[&["custom.error"]], "Custom.Error", failed("Custom.Error")),
        (&[&["Custom"]], "Custom.Error", failed("Custom.Error")),
    ];
    for (catchers, error, expected) in cases {
        let definition = catcher_machine(catchers);
        let label = format!("{error} against {catchers:?}");
        let result = run_with(&definition, json!({"error": error}), &options(), &handlers);
        assert_result(&label, &result, &expected);
    }
}

#[test]
fn task_failed_does_not_match_a_timeout() {
    let definition = catcher_machine(&[&["States.TaskFailed"], &["States.Timeout"]]);
    let mut definition = definition;
    definition["States"]["Work"]["TimeoutSeconds"] = json!(1);
    let mut vm = Vm::start(&definition, json!({}));
    vm.pending(START);
    vm.request();
    assert_outcome("timeout", &vm.done(START + 1_000), &ok(json!(1)));
}

#[test]
fn data_limit_exceeded_is_matched_only_by_name() {
    let options = ExecOptions {
        max_payload_bytes: 200,
        ..options()
    };
    let big = json!("x".repeat(300));
    let too_big_result = |catch: Value, retry: Value| {
        json!({"StartAt": "Work", "States": {
            "Work": {"Type": "Task", "Resource": WORK, "Retry": retry, "Catch": catch, "End": true},
            "Recover": {"Type": "Pass", "Result": "recovered", "End": true}}})
    };
    let cause = "The state/task 'Work' returned a result with a size exceeding the maximum number of bytes service limit.";
    let retry_all = json!([{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2}]);
    let retry_named = json!([{"ErrorEquals": ["States.DataLimitExceeded"], "MaxAttempts": 2}]);
    let catch_all = json!([{"ErrorEquals": ["States.ALL"], "Next": "Recover"}]);
    let catch_failed = json!([{"ErrorEquals": ["States.TaskFailed"], "Next": "Recover"}]);
    let catch_named = json!([{"ErrorEquals": ["States.DataLimitExceeded"], "Next": "Recover"}]);
    // (catch, retry, how it ends, task calls)
    #[rustfmt::skip]
    let cases = [
        (catch_all.clone(), json!([]), failed_with("States.DataLimitExceeded", cause), 1),
        (catch_failed, json!([]), failed_with("States.DataLimitExceeded", cause), 1),
        (catch_named.clone(), json!([]), ok(json!("recovered")), 1),
        (catch_all, retry_all, failed_with("States.DataLimitExceeded", cause), 1),
        (catch_named, retry_named, ok(json!("recovered")), 3),
    ];
    for (catch, retry, expected, calls) in cases {
        let counter = Counter::default();
        let answer = big.clone();
        let handlers = counting(NativeHandlers::new(), WORK, &counter, move |_, _| {
            Ok(answer.clone())
        });
        let definition = too_big_result(catch, retry);
        check_with(definition.clone(), json!({}), &options, &handlers, expected);
        assert_eq!(counter.get(), calls, "{definition}");
    }
}

#[test]

fn retry_after_data_limit_resends_the_parameters() {
    let options = ExecOptions {
        max_payload_bytes: 200,
        ..options()
    };
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    let handlers = NativeHandlers::new().register(WORK, move |parameters| {
        let mut seen = record.lock().expect("not poisoned");
        seen.push(parameters.clone());
        Ok(if seen.len() == 1 {
            json!("x".repeat(300))
        } else {
            json!("small")
        })
    });
    let definition = single(task(json!({"Parameters": {"id.$": "$.id"},
        "Retry": [{"ErrorEquals": ["States.DataLimitExceeded"]}]})));
    check_with(
        definition,
        json!({"id": 1}),
        &options,
        &handlers,
        ok(json!("small")),
    );
    assert_eq!(
        *seen.lock().expect("not poisoned"),
        [json!({"id": 1}), json!({"id": 1})]
    );
}

#[test]
fn runtime_errors_are_never_caught_or_retried() {
    let counter = Counter::default();
    let handlers = counting(NativeHandlers::new(), WORK, &counter, |_, _| {
        Ok(json!({"a": 1}))
    });
    let runtime = |fields: Value| {
        let mut work = json!({"Type": "Task", "Resource": WORK, "End": true,
            "Retry": [{"ErrorEquals": ["States.Runtime"]}, {"ErrorEquals": ["States.ALL"]}],
            "Catch": [{"ErrorEquals": ["States.Runtime"], "Next": "Recover"},
                      {"ErrorEquals": ["States.ALL"], "Next": "Recover"}]});
        merge(&mut work, fields);
        json!({"StartAt": "Work", "States": {"Work": work,
            "Recover": {"Type": "Pass", "Result": "recovered", "End": true}}})
    };
    let cases = [
        (
            json!({"OutputPath": "$.missing"}),
            "An error occurred while executing the state 'Work' (entered at the event id #2). Invalid path '$.missing' : No results for path: $['missing']",
            1,
        ),
        (
            json!({"InputPath": "$.missing"}),
            "An error occurred while executing the state 'Work' (entered at the event id #2). Invalid path '$.missing' : No results for path: $['missing']",
            0,
        ),
        (
            json!({"ResultSelector": {"b.$": "$.b"}}),
            "An error occurred while executing the state 'Work' (entered at the event id #2). The JSONPath '$.b' specified for the field 'b.$' could not be found in the input '{\"a\":1}'",
            1,
        ),
    ];
    for (fields, cause, calls) in cases {
        let before = counter.get();
        check_with(
            runtime(fields),
            json!({}),
            &options(),
            &handlers,
            failed_with("States.Runtime", cause),
        );
        assert_eq!(counter.get() - before, calls, "task calls");
    }
}

#[test]

fn result_path_failure_is_caught_into_the_state_input() {
    let handlers = NativeHandlers::new().register(WORK, |_| Ok(json!(1)));
    let definition = json!({"StartAt": "Work", "States": {
        "Work": {"Type": "Task", "Resource": WORK, "ResultPath": "$.a.b", "End": true,
                 "Catch": [{"ErrorEquals": ["States.ResultPathMatchFailure"], "ResultPath": "$.error", "Next": "Recover"}]},
        "Recover": {"Type": "Pass", "End": true}}});
    let result = check_with(
        definition,
        json!({"a": "text"}),
        &options(),
        &handlers,
        End::SucceededAny,
    );
    let output = result.output.expect("the catcher ran");
    assert_eq!(output["a"], json!("text"), "{output}");
    assert_eq!(
        output["error"]["Error"],
        json!("States.ResultPathMatchFailure"),
        "{output}"
    );
}

// ----- 3. execution timeout -----

#[test]
fn execution_timeout_on_the_virtual_clock() {
    let wait = |seconds: u64, timeout: Option<u64>| {
        let mut definition = json!({"StartAt": "Wait", "States": {
            "Wait": {"Type": "Wait", "Seconds": seconds, "Next": "Done"},
            "Done": {"Type": "Pass", "Result": "done", "End": true}}});
        if let Some(timeout) = timeout {
            definition["TimeoutSeconds"] = json!(timeout);
        }
        definition
    };
    // (definition, Express limit, how it ends, how long it ran in ms)
    let cases = [
        (wait(10, Some(5)), Some(300), End::TimedOut, 5_000),
        (wait(4, Some(5)), Some(300), ok(json!("done")), 4_000),
        (wait(10, None), Some(2), End::TimedOut, 2_000),
        (wait(10, Some(5)), Some(2), End::TimedOut, 2_000),
        (wait(600, None), Some(300), End::TimedOut, 300_000),
        (wait(600, Some(1_000)), Some(300), End::TimedOut, 300_000),
        (wait(600, None), None, ok(json!("done")), 600_000),
    ];
    for (definition, limit, expected, elapsed) in cases {
        let options = ExecOptions {
            max_duration: limit.map(Duration::from_secs),
            record_history: true,
            ..options()
        };
        let result = check_with(
            definition.clone(),
            json!({}),
            &options,
            &NoTasks,
            expected.clone(),
        );
        assert_eq!(
            result.stop_ms - result.info.start_ms,
            elapsed,
            "{definition}"
        );
        let last = result.history.last().expect("history was recorded");
        let expected_last = match expected {
            End::TimedOut => "ExecutionTimedOut",
            _ => "ExecutionSucceeded",
        };
        assert_eq!(last.event_type, expected_last, "{definition}");
    }
}

#[test]
fn execution_timeout_by_hand_wakes_at_the_deadline() {
    let definition = json!({"TimeoutSeconds": 5, "StartAt": "Wait", "States": {
        "Wait": {"Type": "Wait", "Seconds": 10, "End": true}}});
    let mut vm = Vm::start(&definition, json!({}));
    assert_eq!(vm.pending(START), Some(START + 5_000));
    assert_eq!(vm.pending(START + 4_999), Some(START + 5_000));
    assert_outcome("deadline", &vm.done(START + 5_000), &End::TimedOut);

    // The Express limit applies the same way; the smaller of the two wins.
    let definition = json!({"StartAt": "Wait", "States": {
        "Wait": {"Type": "Wait", "Seconds": 3_600, "End": true}}});
    let mut vm = Vm::start(&definition, json!({}));
    assert_eq!(vm.pending(START), Some(START + 300_000));
    assert_outcome("express limit", &vm.done(START + 300_000), &End::TimedOut);
    let limits = Limits {
        max_duration_ms: Some(1_500),
        ..Limits::default()
    };
    let mut vm = Vm::start_with(&definition, json!({}), limits);
    assert_eq!(vm.pending(START), Some(START + 1_500));
    assert_outcome("short limit", &vm.done(START + 1_500), &End::TimedOut);

    // A task outstanding at the deadline does not hold the execution up, and its late
    // result is ignored.
    let definition = json!({"TimeoutSeconds": 2, "StartAt": "Work", "States": {
        "Work": {"Type": "Task", "Resource": WORK, "TimeoutSeconds": 60, "End": true}}});
    let mut vm = Vm::start(&definition, json!({}));
    assert_eq!(vm.pending(START), Some(START + 2_000));
    let request = vm.request();
    assert_outcome("task at deadline", &vm.done(START + 2_000), &End::TimedOut);
    vm.complete(&request, Ok(json!("late")), START + 3_000);
    assert_eq!(vm.done(START + 3_000).status, Status::TimedOut);
}

// ----- 4. payload limit -----

/// Runs with `max_payload_bytes` set to `limit`, no task handlers.
fn check_payload(limit: usize, definition: Value, input: Value, expected: End) {
    let options = ExecOptions {
        max_payload_bytes: limit,
        ..options()
    };
    check_with(definition, input, &options, &NoTasks, expected);
}

fn too_big(state: &str) -> End {
    failed_with(
        "States.DataLimitExceeded",
        &format!("The state/task '{state}' returned a result with a size exceeding the maximum number of bytes service limit."),
    )
}

#[test]
fn payload_limit() {
    let text = |length: usize| json!("y".repeat(length));
    // Quotes, a backslash, a newline, a control character and a two-byte character: the
    // limit counts the compact JSON's UTF-8 bytes.
    let tricky = json!({"q": "\"quoted\" \\ back\nline\u{1} é", "n": [1, 2.5, -3], "t": true});
    let tricky_len = compact_len(&tricky);
    let copies = json!({"a.$": "$", "b.$": "$", "c.$": "$", "d.$": "$"});
    let map_of = |each: Value| map_state(json!({}), "Each", json!({"Each": each}));
    let input_over = failed_with(
        "States.DataLimitExceeded",
        "The input exceeds the maximum number of bytes service limit.",
    );
    #[rustfmt::skip]
    let cases = [
        // The execution input.
        (200, single(json!({"Type": "Pass", "End": true})), json!({"v": text(250)}), input_over),
        (tricky_len, single(json!({"Type": "Pass", "End": true})), tricky.clone(), ok(tricky.clone())),
        (tricky_len - 1, single(json!({"Type": "Pass", "End": true})), tricky.clone(), failed("States.DataLimitExceeded")),
        // Parameters copying the input past the limit.
        (200, single(json!({"Type": "Pass", "Parameters": copies.clone(), "End": true})), json!({"v": text(40)}), too_big("S")),
        (400, single(json!({"Type": "Pass", "Parameters": copies.clone(), "End": true})), json!({"v": text(40)}), End::SucceededAny),
        // A Result exactly at the limit passes, one byte more fails.
        (tricky_len, single(json!({"Type": "Pass", "Result": tricky.clone(), "End": true})), json!({}), ok(tricky.clone())),
        (tricky_len - 1, single(json!({"Type": "Pass", "Result": tricky.clone(), "End": true})), json!({}), too_big("S")),
        // ResultPath merging the result into the input grows past the limit.
        (200, single(json!({"Type": "Pass", "Result": text(100), "ResultPath": "$.r", "End": true})), json!({"v": text(100)}), too_big("S")),
        (
            200,
            single(json!({"Type": "Pass", "Result": text(100), "ResultPath": "$.r", "OutputPath": "$.r", "End": true})),
            json!({"v": text(80)}),
            ok(text(100)),
        ),
        // Growing over several states fails in the state that crossed the limit.
        (
            200,
            json!({"StartAt": "One", "States": {
                "One": {"Type": "Pass", "Result": text(60), "ResultPath": "$.one", "Next": "Two"},
                "Two": {"Type": "Pass", "Result": text(60), "ResultPath": "$.two", "Next": "Three"},
                "Three": {"Type": "Pass", "Result": text(60), "ResultPath": "$.three", "End": true}}}),
            json!({}),
            too_big("Three"),
        ),
        // Map and Parallel results.
        (200, map_of(json!({"Type": "Pass", "Result": text(30), "End": true})), json!([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), too_big("S")),
        (200, map_of(json!({"Type": "Pass", "Result": text(30), "End": true})), json!([1, 2, 3, 4]), ok(json!([text(30), text(30), text(30), text(30)]))),
        (
            200,
            single(json!({"Type": "Parallel", "End": true, "Branches": [
                {"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": text(70), "End": true}}},
                {"StartAt": "B", "States": {"B": {"Type": "Pass", "Result": text(70), "End": true}}},
                {"StartAt": "C", "States": {"C": {"Type": "Pass", "Result": text(70), "End": true}}}]})),
            json!({}),
            too_big("S"),
        ),
        // A Parallel whose branches each pass the whole input on.
        (
            200,
            single(json!({"Type": "Parallel", "End": true, "Branches": [
                {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}},
                {"StartAt": "B", "States": {"B": {"Type": "Pass", "End": true}}}]})),
            json!({"v": text(120)}),
            too_big("S"),
        ),
        // The limit inside an iteration names the iteration's state.
        (200, map_of(json!({"Type": "Pass", "Result": text(250), "End": true})), json!([1]), too_big("Each")),
    ];
    for (limit, definition, input, expected) in cases {
        check_payload(limit, definition, input, expected);
    }
}

// ----- 5. Map -----

/// A Map state over `$.items` (or the whole input) with an iteration of `states` from `start`.
fn map_state(fields: Value, start: &str, states: Value) -> Value {
    let mut map = json!({"Type": "Map", "End": true,
        "ItemProcessor": {"StartAt": start, "States": states}});
    merge(&mut map, fields);
    single(map)
}

/// An iteration that waits its item's number of seconds and outputs the item.
fn sleepy_iteration() -> Value {
    json!({"Sleep": {"Type": "Wait", "SecondsPath": "$", "End": true}})
}

/// An iteration that fails on the item "bad" and passes any other through.
fn picky_iteration() -> Value {
    json!({
        "Check": {"Type": "Choice", "Choices": [{"Variable": "$", "StringEquals": "bad", "Next": "Reject"}], "Default": "Accept"},
        "Reject": {"Type": "Fail", "Error": "Item.Bad", "Cause": "a bad item"},
        "Accept": {"Type": "Pass", "End": true}})
}

#[test]
fn map_concurrency_changes_timing_not_results() {
    // Items finish out of order; outputs stay in index order.
    let items = json!([3, 1, 2]);
    // (MaxConcurrency, virtual milliseconds the Map takes)
    let cases = [
        (None, 3_000),
        (Some(0), 3_000),
        (Some(1), 6_000),
        (Some(2), 3_000),
        (Some(3), 3_000),
    ];
    for (max_concurrency, elapsed) in cases {
        let fields = match max_concurrency {
            Some(n) => json!({"MaxConcurrency": n}),
            None => json!({}),
        };
        let definition = map_state(fields, "Sleep", sleepy_iteration());
        let result = check_with(
            definition,
            items.clone(),
            &options(),
            &NoTasks,
            ok(items.clone()),
        );
        assert_eq!(
            result.stop_ms - result.info.start_ms,
            elapsed,
            "MaxConcurrency {max_concurrency:?}"
        );
    }
    // With MaxConcurrency 2 over [4, 1, 1, 1]: item 1 ends at 1 s, item 2 at 2 s, item 3 at 3 s,
    // item 0 at 4 s.
    let definition = map_state(json!({"MaxConcurrency": 2}), "Sleep", sleepy_iteration());
    let result = check_with(
        definition,
        json!([4, 1, 1, 1]),
        &options(),
        &NoTasks,
        ok(json!([4, 1, 1, 1])),
    );
    assert_eq!(result.stop_ms - result.info.start_ms, 4_000);
}

#[test]
fn map_tasks_are_invoked_in_index_order() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    let handlers = NativeHandlers::new().register(WORK, move |parameters| {
        record
            .lock()
            .expect("not poisoned")
            .push(parameters.clone());
        Ok(json!({"twice": parameters.as_i64().unwrap_or(0) * 2}))
    });
    let iteration = json!({"Work": {"Type": "Task", "Resource": WORK, "ResultSelector": {"v.$": "$.twice"}, "End": true}});
    for max_concurrency in [0, 1, 4] {
        seen.lock().expect("not poisoned").clear();
        let definition = map_state(
            json!({"MaxConcurrency": max_concurrency}),
            "Work",
            iteration.clone(),
        );
        check_with(
            definition,
            json!([5, 6, 7, 8, 9]),
            &options(),
            &handlers,
            ok(json!([{"v": 10}, {"v": 12}, {"v": 14}, {"v": 16}, {"v": 18}])),
        );
        assert_eq!(
            *seen.lock().expect("not poisoned"),
            [json!(5), json!(6), json!(7), json!(8), json!(9)]
        );
    }
}

#[test]
fn map_item_selection() {
    let echo = json!({"Echo": {"Type": "Pass", "End": true}});
    let cases = [
        // ItemSelector with the context object's item and the Map's effective input.
        (
            map_state(
                json!({"ItemsPath": "$.items", "ItemSelector": {"i.$": "$$.Map.Item.Index", "v.$": "$$.Map.Item.Value", "k.$": "$.k"}}),
                "Echo",
                echo.clone(),
            ),
            json!({"k": "K", "items": ["a", {"b": 1}]}),
            ok(json!([{"i": 0, "v": "a", "k": "K"}, {"i": 1, "v": {"b": 1}, "k": "K"}])),
        ),
        // The older names: Parameters for ItemSelector, Iterator for ItemProcessor.
        (
            single(json!({"Type": "Map", "End": true, "ItemsPath": "$.items",
                "Parameters": {"index.$": "$$.Map.Item.Index"},
                "Iterator": {"StartAt": "Echo", "States": echo.clone()}})),
            json!({"items": [true, false]}),
            ok(json!([{"index": 0}, {"index": 1}])),
        ),
        // InputPath first, then ItemsPath on what it selected.
        (
            map_state(json!({"InputPath": "$.outer", "ItemsPath": "$.list"}), "Echo", echo.clone()),
            json!({"outer": {"list": [1, 2]}, "list": [9]}),
            ok(json!([1, 2])),
        ),
        // ResultSelector, ResultPath and OutputPath on the collected array.
        (
            map_state(
                json!({"ItemsPath": "$.items", "ResultSelector": {"all.$": "$", "n.$": "States.ArrayLength($)"}, "ResultPath": "$.out"}),
                "Echo",
                echo.clone(),
            ),
            json!({"items": [1, 2, 3]}),
            ok(json!({"items": [1, 2, 3], "out": {"all": [1, 2, 3], "n": 3}})),
        ),
        // No items: an empty array, with or without a selector.
        (map_state(json!({}), "Echo", echo.clone()), json!([]), ok(json!([]))),
        (
            map_state(json!({"ItemsPath": "$.items", "ItemSelector": {"x": 1}, "MaxConcurrency": 1}), "Echo", echo.clone()),
            json!({"items": []}),
            ok(json!([])),
        ),
        // Items that are not an array.
        (
            map_state(json!({"ItemsPath": "$.items"}), "Echo", echo.clone()),
            json!({"items": {"a": 1}}),
            failed_with(
                "States.Runtime",
                "An error occurred while executing the state 'S' (entered at the event id #2). Map state input must be an array but was: {\"a\":1}",
            ),
        ),
        (
            map_state(json!({}), "Echo", echo.clone()),
            json!("text"),
            failed_with(
                "States.Runtime",
                "An error occurred while executing the state 'S' (entered at the event id #2). Map state input must be an array but was: \"text\"",
            ),
        ),
        (
            map_state(json!({"ItemsPath": "$.missing"}), "Echo", echo.clone()),
            json!({}),
            failed_with(
                "States.Runtime",
                "An error occurred while executing the state 'S' (entered at the event id #2). Invalid path '$.missing' : No results for path: $['missing']",
            ),
        ),
    ];
    for (definition, input, expected) in cases {
        check(definition, input, expected);
    }
}

#[test]
fn nested_map() {
    let inner = json!({"Type": "Map", "End": true,
        "ItemSelector": {"inner.$": "$$.Map.Item.Index", "v.$": "$$.Map.Item.Value"},
        "ItemProcessor": {"StartAt": "Leaf", "States": {"Leaf": {"Type": "Pass", "End": true}}}});
    let definition = map_state(
        json!({"ItemSelector": {"row.$": "$$.Map.Item.Value"}, "MaxConcurrency": 1}),
        "Inner",
        json!({"Inner": merge_into(inner, json!({"ItemsPath": "$.row"}))}),
    );
    check(
        definition,
        json!([[10, 11], [], [12]]),
        ok(json!([
            [{"inner": 0, "v": 10}, {"inner": 1, "v": 11}],
            [],
            [{"inner": 0, "v": 12}]])),
    );
}

fn merge_into(mut target: Value, fields: Value) -> Value {
    merge(&mut target, fields);
    target
}

#[test]
fn map_tolerated_failures() {
    let threshold = "States.ExceedToleratedFailureThreshold";
    // (tolerance fields, items, how it ends)
    #[rustfmt::skip]
    let cases = [
        (json!({"ToleratedFailureCount": 2}), json!(["a", "bad", "b", "bad"]), End::SucceededAny),
        (json!({"ToleratedFailureCount": 1}), json!(["a", "bad", "b", "bad"]), failed(threshold)),
        (json!({"ToleratedFailureCount": 5}), json!(["bad", "bad", "bad"]), End::SucceededAny),
        (json!({"ToleratedFailurePercentage": 50}), json!(["a", "bad", "b", "bad"]), End::SucceededAny),
        (json!({"ToleratedFailurePercentage": 49.9}), json!(["a", "bad", "b", "bad"]), failed(threshold)),
        (json!({"ToleratedFailurePercentage": 100}), json!(["bad", "bad"]), End::SucceededAny),
        (json!({"ToleratedFailurePercentage": 0}), json!(["a", "bad"]), failed(threshold)),
        (
            json!({"ToleratedFailureCountPath": "$.tolerate", "ItemsPath": "$.items"}),
            json!({"items": ["bad", "a"], "tolerate": 1}),
            End::SucceededAny,
        ),
        (
            json!({"ToleratedFailurePercentagePath": "$.tolerate", "ItemsPath": "$.items"}),
            json!({"items": ["bad", "a"], "tolerate": 40}),
            failed(threshold),
        ),
        // Both given: exceeding either fails.
        (json!({"ToleratedFailureCount": 3, "ToleratedFailurePercentage": 25}), json!(["a", "bad", "b", "bad"]), failed(threshold)),
        (json!({"ToleratedFailureCount": 1, "ToleratedFailurePercentage": 90}), json!(["a", "bad", "b", "bad"]), failed(threshold)),
        // No tolerance: the iteration's own error and cause.
        (json!({}), json!(["a", "bad", "b"]), failed_with("Item.Bad", "a bad item")),
        (json!({"MaxConcurrency": 1}), json!(["bad", "a"]), failed_with("Item.Bad", "a bad item")),
    ];
    for (fields, input, expected) in cases {
        let definition = map_state(fields.clone(), "Check", picky_iteration());
        let result = check_with(
            definition,
            input.clone(),
            &options(),
            &NoTasks,
            expected.clone(),
        );
        if let (End::SucceededAny, Some(output)) = (&expected, &result.output) {
            // Successful iterations keep their outputs, in index order.
            let items = input.get("items").unwrap_or(&input);
            let outputs = output.as_array().expect("a Map outputs an array");
            assert_eq!(
                outputs.len(),
                items.as_array().map_or(0, |items| items.len()),
                "{fields}"
            );
            for (item, out) in items.as_array().into_iter().flatten().zip(outputs) {
                if item != "bad" {
                    assert_eq!(out, item, "{fields}");
                }
            }
        }
    }
}

#[test]
fn map_failure_is_caught_by_the_map() {
    let counter = Counter::default();
    let handlers = counting(NativeHandlers::new(), WORK, &counter, |_, parameters| {
        Ok(parameters.clone())
    });
    let iteration = json!({
        "Check": {"Type": "Choice", "Choices": [{"Variable": "$", "StringEquals": "bad", "Next": "Reject"}], "Default": "Work"},
        "Reject": {"Type": "Fail", "Error": "Item.Bad", "Cause": "a bad item"},
        "Work": {"Type": "Task", "Resource": WORK, "End": true}});
    let definition = json!({"StartAt": "Each", "States": {
        "Each": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 1, "Next": "Unreachable",
                 "ItemProcessor": {"StartAt": "Check", "States": iteration},
                 "Catch": [{"ErrorEquals": ["Item.Bad"], "ResultPath": "$.error", "Next": "Recover"}]},
        "Unreachable": {"Type": "Pass", "End": true},
        "Recover": {"Type": "Pass", "End": true}}});
    check_with(
        definition,
        json!({"items": ["a", "bad", "b", "c"]}),
        &options(),
        &handlers,
        ok(json!({"items": ["a", "bad", "b", "c"],
            "error": {"Error": "Item.Bad", "Cause": "a bad item"}})),
    );
    // With one iteration at a time, the items after the failing one never start.
    assert_eq!(counter.get(), 1);

    // The threshold error is caught the same way.
    let definition = json!({"StartAt": "Each", "States": {
        "Each": {"Type": "Map", "ToleratedFailureCount": 1, "End": true,
                 "ItemProcessor": {"StartAt": "Check", "States": picky_iteration()},
                 "Catch": [{"ErrorEquals": ["States.ExceedToleratedFailureThreshold"], "Next": "Recover"}]},
        "Recover": {"Type": "Pass", "Parameters": {"error.$": "$.Error"}, "End": true}}});
    check(
        definition,
        json!(["bad", "ok", "bad"]),
        ok(json!({"error": "States.ExceedToleratedFailureThreshold"})),
    );
}

#[test]
fn map_retry_reruns_every_iteration() {
    let counter = Counter::default();
    let handlers = counting(NativeHandlers::new(), WORK, &counter, |call, parameters| {
        if call == 1 {
            Err(flaky("Flaky.Error"))
        } else {
            Ok(parameters.clone())
        }
    });
    let definition = single(json!({"Type": "Map", "End": true, "MaxConcurrency": 1,
        "ItemProcessor": {"StartAt": "Work", "States": {"Work": {"Type": "Task", "Resource": WORK, "End": true}}},
        "Retry": [{"ErrorEquals": ["Flaky.Error"], "IntervalSeconds": 2}]}));
    let result = check_with(
        definition,
        json!([1, 2, 3]),
        &options(),
        &handlers,
        ok(json!([1, 2, 3])),
    );
    // First run: item 0, item 1 fails; second run: all three.
    assert_eq!(counter.get(), 5);
    assert_eq!(result.stop_ms - result.info.start_ms, 2_000);
}

#[test]

fn tolerance_paths_read_the_context_object() {
    let definition = map_state(
        json!({"ItemsPath": "$.items", "ToleratedFailureCountPath": "$$.Execution.Input.tolerate"}),
        "Check",
        picky_iteration(),
    );
    check(
        definition,
        json!({"items": ["bad", "a"], "tolerate": 1}),
        End::SucceededAny,
    );
}

// ----- 6. Parallel -----

fn branch(start: &str, states: Value) -> Value {
    json!({"StartAt": start, "States": states})
}

/// A branch that waits `seconds` (not at all for 0), then runs the state `last`, named `name`.
fn after_wait(name: &str, seconds: u64, last: Value) -> Value {
    let mut states = json::Map::new();
    states.insert(name.to_owned(), last);
    if seconds == 0 {
        return branch(name, Value::Object(states));
    }
    let wait = format!("{name} wait");
    states.insert(
        wait.clone(),
        json!({"Type": "Wait", "Seconds": seconds, "Next": name}),
    );
    branch(&wait, Value::Object(states))
}

#[test]
fn parallel_outputs_come_in_branch_order() {
    let definition = single(json!({"Type": "Parallel", "End": true, "Branches": [
        branch("Slow", json!({"Slow": {"Type": "Wait", "Seconds": 3, "Next": "SlowDone"},
                              "SlowDone": {"Type": "Pass", "Result": "slow", "End": true}})),
        branch("Fast", json!({"Fast": {"Type": "Pass", "Result": "fast", "End": true}})),
        branch("Echo", json!({"Echo": {"Type": "Pass", "InputPath": "$.v", "End": true}})),
        branch("Medium", json!({"Medium": {"Type": "Wait", "Seconds": 1, "Next": "MediumDone"},
                                "MediumDone": {"Type": "Pass", "Result": "medium", "End": true}}))]}));
    let result = check_with(
        definition,
        json!({"v": 42}),
        &options(),
        &NoTasks,
        ok(json!(["slow", "fast", 42, "medium"])),
    );
    assert_eq!(result.stop_ms - result.info.start_ms, 3_000);
}

#[test]
fn a_failing_branch_aborts_the_others() {
    let later = Counter::default();
    let earlier = Counter::default();
    let handlers = counting(NativeHandlers::new(), WORK, &earlier, |_, _| {
        Ok(json!("early"))
    });
    let handlers = counting(handlers, OTHER, &later, |_, _| Ok(json!("late")));
    let parallel = |branches: Value| {
        json!({"StartAt": "Both", "States": {
            "Both": {"Type": "Parallel", "Branches": branches, "Next": "Unreachable",
                     "Catch": [{"ErrorEquals": ["Branch.Failed"], "ResultPath": "$.error", "Next": "Recover"}]},
            "Unreachable": {"Type": "Pass", "End": true},
            "Recover": {"Type": "Pass", "End": true}}})
    };
    let give_up = json!({"Type": "Fail", "Error": "Branch.Failed", "Cause": "a branch gave up"});
    let call = |resource: &str| json!({"Type": "Task", "Resource": resource, "End": true});
    let caught =
        ok(json!({"id": 1, "error": {"Error": "Branch.Failed", "Cause": "a branch gave up"}}));
    // (branches, calls to WORK, calls to OTHER)
    #[rustfmt::skip]
    let cases = [
        // The first branch fails at once; the second's task comes after a wait.
        (json!([after_wait("Give up", 0, give_up.clone()), after_wait("Late", 1, call(OTHER))]), 0, 0),
        // The failing branch comes second and fails after a wait; the first branch's task
        // ran before, its second task would come after the failure.
        (
            json!([
                branch("Early", json!({"Early": {"Type": "Task", "Resource": WORK, "Next": "Pause"},
                                       "Pause": {"Type": "Wait", "Seconds": 5, "Next": "Late"},
                                       "Late": call(OTHER)})),
                after_wait("Give up", 2, give_up.clone())]),
            1,
            0,
        ),
        // A failure deep in a nested Parallel aborts the outer siblings too.
        (
            json!([
                branch("Inner", json!({"Inner": {"Type": "Parallel", "End": true,
                                                 "Branches": [after_wait("Give up", 1, give_up.clone())]}})),
                after_wait("Late", 3, call(OTHER))]),
            0,
            0,
        ),
    ];
    for (branches, work_calls, other_calls) in cases {
        let (earlier_before, later_before) = (earlier.get(), later.get());
        let definition = parallel(branches);
        check_with(
            definition.clone(),
            json!({"id": 1}),
            &options(),
            &handlers,
            caught.clone(),
        );
        assert_eq!(earlier.get() - earlier_before, work_calls, "{definition}");
        assert_eq!(later.get() - later_before, other_calls, "{definition}");
    }
    // Uncaught, the branch's error and cause are the execution's.
    let definition = single(json!({"Type": "Parallel", "End": true, "Branches": [
        branch("Fine", json!({"Fine": {"Type": "Pass", "End": true}})),
        after_wait("Give up", 0, give_up)]}));
    check(
        definition,
        json!({}),
        failed_with("Branch.Failed", "a branch gave up"),
    );
}

#[test]
fn parallel_retry_reruns_all_branches() {
    let first = Counter::default();
    let second = Counter::default();
    let handlers = counting(NativeHandlers::new(), WORK, &first, |call, _| {
        Ok(json!(format!("first {call}")))
    });
    let handlers = counting(handlers, OTHER, &second, |call, _| {
        if call == 0 {
            Err(flaky("Flaky.Error"))
        } else {
            Ok(json!(format!("second {call}")))
        }
    });
    let definition = single(json!({"Type": "Parallel", "End": true,
        "Retry": [{"ErrorEquals": ["Flaky.Error"], "IntervalSeconds": 3}],
        "Branches": [
            branch("A", json!({"A": {"Type": "Task", "Resource": WORK, "End": true}})),
            branch("B", json!({"B": {"Type": "Task", "Resource": OTHER, "End": true}}))]}));
    let result = check_with(
        definition,
        json!({}),
        &options(),
        &handlers,
        ok(json!(["first 1", "second 1"])),
    );
    assert_eq!((first.get(), second.get()), (2, 2));
    assert_eq!(result.stop_ms - result.info.start_ms, 3_000);
}

#[test]
fn parallel_data_flow() {
    let definition = single(json!({"Type": "Parallel", "End": true,
        "InputPath": "$.in", "Parameters": {"x.$": "$.x", "ctx.$": "$$.State.Name"},
        "ResultSelector": {"first.$": "$[0]", "second.$": "$[1].x"},
        "ResultPath": "$.out",
        "Branches": [
            branch("A", json!({"A": {"Type": "Pass", "Result": "a", "End": true}})),
            branch("B", json!({"B": {"Type": "Pass", "End": true}}))]}));
    check(
        definition,
        json!({"in": {"x": 5}}),
        ok(json!({"in": {"x": 5}, "out": {"first": "a", "second": 5}})),
    );
}

// ----- 7. Choice -----

/// Runs one Choice rule on an input: true when it matched, false when the Default ran.
fn check_choice(rule: Value, input: Value, expected: bool) {
    let mut rule = rule;
    rule["Next"] = json!("Yes");
    let definition = json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [rule.clone()], "Default": "No"},
        "Yes": {"Type": "Pass", "Result": true, "End": true},
        "No": {"Type": "Pass", "Result": false, "End": true}}});
    let result = run(&definition, input.clone());
    assert_result(&format!("{rule} on {input}"), &result, &ok(json!(expected)));
}

#[test]
fn choice_comparisons() {
    let t0 = "2024-03-01T12:00:00Z";
    let t1 = "2024-03-01T12:00:01Z";
    #[rustfmt::skip]
    let cases = [
        // Strings.
        (json!({"Variable": "$.s", "StringEquals": "abc"}), json!({"s": "abc"}), true),
        (json!({"Variable": "$.s", "StringEquals": "abc"}), json!({"s": "abd"}), false),
        (json!({"Variable": "$.s", "StringEquals": "1"}), json!({"s": 1}), false),
        (json!({"Variable": "$.s", "StringEquals": ""}), json!({"s": ""}), true),
        (json!({"Variable": "$.s", "StringLessThan": "b"}), json!({"s": "a"}), true),
        (json!({"Variable": "$.s", "StringLessThan": "b"}), json!({"s": "b"}), false),
        (json!({"Variable": "$.s", "StringLessThan": "b"}), json!({"s": "B"}), true),
        (json!({"Variable": "$.s", "StringGreaterThan": "b"}), json!({"s": "ba"}), true),
        (json!({"Variable": "$.s", "StringGreaterThan": "b"}), json!({"s": "b"}), false),
        (json!({"Variable": "$.s", "StringLessThanEquals": "b"}), json!({"s": "b"}), true),
        (json!({"Variable": "$.s", "StringLessThanEquals": "b"}), json!({"s": "c"}), false),
        (json!({"Variable": "$.s", "StringGreaterThanEquals": "b"}), json!({"s": "b"}), true),
        (json!({"Variable": "$.s", "StringGreaterThanEquals": "b"}), json!({"s": "a"}), false),
        (json!({"Variable": "$.s", "StringGreaterThanEquals": "b"}), json!({"s": null}), false),
        (json!({"Variable": "$.s", "StringEqualsPath": "$.t"}), json!({"s": "x", "t": "x"}), true),
        (json!({"Variable": "$.s", "StringEqualsPath": "$.t"}), json!({"s": "x", "t": "y"}), false),
        (json!({"Variable": "$.s", "StringEqualsPath": "$.t"}), json!({"s": "1", "t": 1}), false),
        (json!({"Variable": "$.s", "StringLessThanPath": "$.t"}), json!({"s": "a", "t": "b"}), true),
        (json!({"Variable": "$.s", "StringGreaterThanPath": "$.t"}), json!({"s": "a", "t": "b"}), false),
        (json!({"Variable": "$.s", "StringLessThanEqualsPath": "$.t"}), json!({"s": "b", "t": "b"}), true),
        (json!({"Variable": "$.s", "StringGreaterThanEqualsPath": "$.t"}), json!({"s": "c", "t": "b"}), true),
        (json!({"Variable": "$.s", "StringEqualsPath": "$$.State.Name"}), json!({"s": "C"}), true),
        // Numbers: integers and decimals compare by value.
        (json!({"Variable": "$.n", "NumericEquals": 1}), json!({"n": 1.0}), true),
        (json!({"Variable": "$.n", "NumericEquals": 1}), json!({"n": "1"}), false),
        (json!({"Variable": "$.n", "NumericEquals": 0.1}), json!({"n": 0.1}), true),
        (json!({"Variable": "$.n", "NumericEquals": -7}), json!({"n": -7}), true),
        (json!({"Variable": "$.n", "NumericLessThan": 2}), json!({"n": 1.5}), true),
        (json!({"Variable": "$.n", "NumericLessThan": 2}), json!({"n": 2}), false),
        (json!({"Variable": "$.n", "NumericGreaterThan": 2}), json!({"n": 2.0001}), true),
        (json!({"Variable": "$.n", "NumericGreaterThan": 2}), json!({"n": true}), false),
        (json!({"Variable": "$.n", "NumericLessThanEquals": 2}), json!({"n": 2}), true),
        (json!({"Variable": "$.n", "NumericLessThanEquals": 2}), json!({"n": 3}), false),
        (json!({"Variable": "$.n", "NumericGreaterThanEquals": -1}), json!({"n": -1}), true),
        (json!({"Variable": "$.n", "NumericGreaterThanEquals": -1}), json!({"n": -1.5}), false),
        (json!({"Variable": "$.n", "NumericEqualsPath": "$.m"}), json!({"n": 3, "m": 3.0}), true),
        (json!({"Variable": "$.n", "NumericEqualsPath": "$.m"}), json!({"n": 3, "m": "3"}), false),
        (json!({"Variable": "$.n", "NumericLessThanPath": "$.m"}), json!({"n": 1, "m": 2}), true),
        (json!({"Variable": "$.n", "NumericGreaterThanPath": "$.m"}), json!({"n": 1, "m": 2}), false),
        (json!({"Variable": "$.n", "NumericLessThanEqualsPath": "$.m"}), json!({"n": 2, "m": 2}), true),
        (json!({"Variable": "$.n", "NumericGreaterThanEqualsPath": "$.m"}), json!({"n": 2, "m": 3}), false),
        (json!({"Variable": "$.a[1]", "NumericEquals": 20}), json!({"a": [10, 20]}), true),
        // Booleans.
        (json!({"Variable": "$.b", "BooleanEquals": true}), json!({"b": true}), true),
        (json!({"Variable": "$.b", "BooleanEquals": false}), json!({"b": true}), false),
        (json!({"Variable": "$.b", "BooleanEquals": true}), json!({"b": "true"}), false),
        (json!({"Variable": "$.b", "BooleanEquals": false}), json!({"b": 0}), false),
        (json!({"Variable": "$.b", "BooleanEqualsPath": "$.c"}), json!({"b": false, "c": false}), true),
        (json!({"Variable": "$.b", "BooleanEqualsPath": "$.c"}), json!({"b": false, "c": "false"}), false),
        // Timestamps.
        (json!({"Variable": "$.t", "TimestampEquals": t0}), json!({"t": t0}), true),
        (json!({"Variable": "$.t", "TimestampEquals": t0}), json!({"t": t1}), false),
        (json!({"Variable": "$.t", "TimestampEquals": t0}), json!({"t": "2024-03-01T13:00:00+01:00"}), true),
        (json!({"Variable": "$.t", "TimestampEquals": t0}), json!({"t": "not a time"}), false),
        (json!({"Variable": "$.t", "TimestampEquals": t0}), json!({"t": 0}), false),
        (json!({"Variable": "$.t", "TimestampLessThan": t1}), json!({"t": t0}), true),
        (json!({"Variable": "$.t", "TimestampLessThan": t0}), json!({"t": t0}), false),
        (json!({"Variable": "$.t", "TimestampGreaterThan": t0}), json!({"t": t1}), true),
        (json!({"Variable": "$.t", "TimestampLessThanEquals": t0}), json!({"t": t0}), true),
        (json!({"Variable": "$.t", "TimestampGreaterThanEquals": t1}), json!({"t": t0}), false),
        (json!({"Variable": "$.t", "TimestampEqualsPath": "$.u"}), json!({"t": t0, "u": t0}), true),
        (json!({"Variable": "$.t", "TimestampLessThanPath": "$.u"}), json!({"t": t0, "u": t1}), true),
        (json!({"Variable": "$.t", "TimestampGreaterThanPath": "$.u"}), json!({"t": t0, "u": t1}), false),
        (json!({"Variable": "$.t", "TimestampLessThanEqualsPath": "$.u"}), json!({"t": t1, "u": t1}), true),
        (json!({"Variable": "$.t", "TimestampGreaterThanEqualsPath": "$.u"}), json!({"t": t1, "u": t0}), true),
        (json!({"Variable": "$.t", "TimestampGreaterThanEqualsPath": "$.u"}), json!({"t": t1, "u": "soon"}), false),
        // StringMatches: `*` is a wildcard, `\*` a star, `\\` a backslash.
        (json!({"Variable": "$.s", "StringMatches": "*.log"}), json!({"s": "app.log"}), true),
        (json!({"Variable": "$.s", "StringMatches": "*.log"}), json!({"s": "app.log.gz"}), false),
        (json!({"Variable": "$.s", "StringMatches": "log-*-end"}), json!({"s": "log--end"}), true),
        (json!({"Variable": "$.s", "StringMatches": "a*b*c"}), json!({"s": "aXXbYYc"}), true),
        (json!({"Variable": "$.s", "StringMatches": "a*b*c"}), json!({"s": "aXXcYYb"}), false),
        (json!({"Variable": "$.s", "StringMatches": "*"}), json!({"s": ""}), true),
        (json!({"Variable": "$.s", "StringMatches": "a\\*b"}), json!({"s": "a*b"}), true),
        (json!({"Variable": "$.s", "StringMatches": "a\\*b"}), json!({"s": "axb"}), false),
        (json!({"Variable": "$.s", "StringMatches": "a\\\\b"}), json!({"s": "a\\b"}), true),
        (json!({"Variable": "$.s", "StringMatches": "a\\\\*"}), json!({"s": "a\\bc"}), true),
        (json!({"Variable": "$.s", "StringMatches": "a.c"}), json!({"s": "abc"}), false),
        (json!({"Variable": "$.s", "StringMatches": "a?c"}), json!({"s": "abc"}), false),
        (json!({"Variable": "$.s", "StringMatches": "*"}), json!({"s": 5}), false),
        // Type tests.
        (json!({"Variable": "$.v", "IsNull": true}), json!({"v": null}), true),
        (json!({"Variable": "$.v", "IsNull": true}), json!({"v": 0}), false),
        (json!({"Variable": "$.v", "IsNull": false}), json!({"v": ""}), true),
        (json!({"Variable": "$.v", "IsPresent": true}), json!({"v": null}), true),
        (json!({"Variable": "$.v", "IsPresent": true}), json!({}), false),
        (json!({"Variable": "$.v", "IsPresent": false}), json!({}), true),
        (json!({"Variable": "$.v.deeper.more", "IsPresent": false}), json!({"v": {"deeper": [1]}}), true),
        (json!({"Variable": "$.v[0]", "IsPresent": true}), json!({"v": []}), false),
        (json!({"Variable": "$.v[0]", "IsPresent": true}), json!({"v": [null]}), true),
        (json!({"Variable": "$.v[2]", "IsPresent": false}), json!({"v": [1, 2]}), true),
        (json!({"Variable": "$.v", "IsNumeric": true}), json!({"v": 1.5}), true),
        (json!({"Variable": "$.v", "IsNumeric": true}), json!({"v": "1.5"}), false),
        (json!({"Variable": "$.v", "IsString": true}), json!({"v": "x"}), true),
        (json!({"Variable": "$.v", "IsString": false}), json!({"v": ["x"]}), true),
        (json!({"Variable": "$.v", "IsBoolean": true}), json!({"v": false}), true),
        (json!({"Variable": "$.v", "IsBoolean": true}), json!({"v": "false"}), false),
        (json!({"Variable": "$.v", "IsTimestamp": true}), json!({"v": t0}), true),
        (json!({"Variable": "$.v", "IsTimestamp": true}), json!({"v": "2024-03-01"}), false),
        (json!({"Variable": "$.v", "IsTimestamp": true}), json!({"v": 1_709_294_400}), false),
        // And, Or, Not, nested.
        (
            json!({"And": [{"Variable": "$.n", "NumericGreaterThan": 0}, {"Not": {"Variable": "$.s", "StringEquals": "x"}}]}),
            json!({"n": 1, "s": "y"}),
            true,
        ),
        (
            json!({"And": [{"Variable": "$.n", "NumericGreaterThan": 0}, {"Not": {"Variable": "$.s", "StringEquals": "x"}}]}),
            json!({"n": 1, "s": "x"}),
            false,
        ),
        (json!({"Or": [{"Variable": "$.n", "NumericLessThan": 0}, {"Variable": "$.s", "StringEquals": "x"}]}), json!({"n": 1, "s": "x"}), true),
        (json!({"Or": [{"Variable": "$.n", "NumericLessThan": 0}, {"Variable": "$.s", "StringEquals": "x"}]}), json!({"n": 1, "s": "y"}), false),
        (
            json!({"Not": {"Or": [
                {"And": [{"Variable": "$.a", "IsPresent": true}, {"Variable": "$.a", "IsString": true}]},
                {"Not": {"Variable": "$.b", "BooleanEquals": true}}]}}),
            json!({"a": 1, "b": true}),
            true,
        ),
        (
            json!({"Not": {"Or": [
                {"And": [{"Variable": "$.a", "IsPresent": true}, {"Variable": "$.a", "IsString": true}]},
                {"Not": {"Variable": "$.b", "BooleanEquals": true}}]}}),
            json!({"a": "1", "b": true}),
            false,
        ),
        (json!({"Not": {"Not": {"Variable": "$.v", "IsNull": true}}}), json!({"v": null}), true),
    ];
    for (rule, input, expected) in cases {
        check_choice(rule, input, expected);
    }
}

#[test]
fn choice_picks_the_first_match_and_fails_without_one() {
    let definition = json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [
            {"Variable": "$.n", "NumericGreaterThan": 10, "Next": "Big"},
            {"Variable": "$.n", "NumericGreaterThan": 0, "Next": "Small"},
            {"Variable": "$.n", "NumericGreaterThan": 5, "Next": "Big"}]},
        "Big": {"Type": "Pass", "Result": "big", "End": true},
        "Small": {"Type": "Pass", "Result": "small", "End": true}}});
    let cases = [
        (json!({"n": 11}), ok(json!("big"))),
        (json!({"n": 7}), ok(json!("small"))),
        (json!({"n": 0}), failed("States.NoChoiceMatched")),
        (json!({"n": "11"}), failed("States.NoChoiceMatched")),
        // A comparison on a missing path is a runtime error, not a mismatch.
        (
            json!({}),
            failed_starting(
                "States.Runtime",
                "An error occurred while executing the state 'C' (entered at the event id #2). Invalid path '$.n': The choice state's condition path references an invalid value.",
            ),
        ),
    ];
    for (input, expected) in cases {
        let result = run(&definition, input.clone());
        assert_result(&format!("Choice on {input}"), &result, &expected);
    }
    // The chosen state's output is the Choice's (InputPath and OutputPath apply).
    let definition = json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "InputPath": "$.in", "OutputPath": "$.keep",
              "Choices": [{"Variable": "$.go", "BooleanEquals": true, "Next": "Out"}], "Default": "Out"},
        "Out": {"Type": "Pass", "End": true}}});
    check(
        definition,
        json!({"in": {"go": true, "keep": [1]}}),
        ok(json!([1])),
    );
}

// ----- 8. data flow -----

#[test]
fn input_and_output_processing() {
    let pass = |fields: Value| single(merge_into(json!({"Type": "Pass", "End": true}), fields));
    let cases = [
        // InputPath → result → ResultPath (into the raw input) → OutputPath.
        (pass(json!({"InputPath": "$.a", "ResultPath": "$.b"})), json!({"a": {"x": 1}}), ok(json!({"a": {"x": 1}, "b": {"x": 1}}))),
        (pass(json!({"InputPath": "$.a", "ResultPath": "$.b", "OutputPath": "$.b.x"})), json!({"a": {"x": 1}}), ok(json!(1))),
        // null paths.
        (pass(json!({"InputPath": null})), json!({"a": 1}), ok(json!({}))),
        (pass(json!({"InputPath": null, "Parameters": {"c": 1, "p.$": "$"}})), json!({"a": 1}), ok(json!({"c": 1, "p": {}}))),
        (pass(json!({"InputPath": null, "Result": 1, "ResultPath": "$.r"})), json!({"a": 1}), ok(json!({"a": 1, "r": 1}))),
        (pass(json!({"OutputPath": null})), json!({"a": 1}), ok(json!({}))),
        (pass(json!({"Result": 5, "ResultPath": null})), json!({"a": 1}), ok(json!({"a": 1}))),
        (pass(json!({"Result": 5, "ResultPath": null, "OutputPath": "$.a"})), json!({"a": 1}), ok(json!(1))),
        // ResultPath into new nested objects, over an existing field, over the whole input.
        (pass(json!({"Result": "r", "ResultPath": "$.a.b.c"})), json!({"x": 1}), ok(json!({"x": 1, "a": {"b": {"c": "r"}}}))),
        (pass(json!({"Result": "r", "ResultPath": "$.x.y"})), json!({"x": {"z": 0}}), ok(json!({"x": {"z": 0, "y": "r"}}))),
        (pass(json!({"Result": "r", "ResultPath": "$.x"})), json!({"x": {"old": true}}), ok(json!({"x": "r"}))),
        (pass(json!({"Result": "r", "ResultPath": "$"})), json!({"x": 1}), ok(json!("r"))),
        (pass(json!({"Result": "r", "ResultPath": "$.list[1]"})), json!({"list": [0, 1, 2]}), ok(json!({"list": [0, "r", 2]}))),
        // Parameters over what InputPath selected; the result is merged into the raw input.
        (
            pass(json!({"InputPath": "$.inner", "Parameters": {"v.$": "$.v", "lit": [1, {"k": "$.v"}]}})),
            json!({"inner": {"v": 2}}),
            ok(json!({"v": 2, "lit": [1, {"k": "$.v"}]})),
        ),
        (
            pass(json!({"Parameters": {"b.$": "$.a", "nested": {"c.$": "$.a"}}, "ResultPath": "$.p"})),
            json!({"a": 1}),
            ok(json!({"a": 1, "p": {"b": 1, "nested": {"c": 1}}})),
        ),
        // `.$` keys inside Result are plain data.
        (
            pass(json!({"Result": {"a.$": "$.b", "n": {"c.$": "States.Format('x')"}}})),
            json!({"b": 1}),
            ok(json!({"a.$": "$.b", "n": {"c.$": "States.Format('x')"}})),
        ),
        // Paths that select nothing.
        (
            pass(json!({"InputPath": "$.missing"})),
            json!({"a": 1}),
            failed_with(
                "States.Runtime",
                "An error occurred while executing the state 'S' (entered at the event id #2). Invalid path '$.missing' : No results for path: $['missing']",
            ),
        ),
        (
            pass(json!({"Parameters": {"a.$": "$.missing"}})),
            json!({"b": 1}),
            failed_with(
                "States.Runtime",
                "An error occurred while executing the state 'S' (entered at the event id #2). The JSONPath '$.missing' specified for the field 'a.$' could not be found in the input '{\"b\":1}'",
            ),
        ),
        (
            pass(json!({"OutputPath": "$.missing"})),
            json!({"a": 1}),
            failed_with(
                "States.Runtime",
                "An error occurred while executing the state 'S' (entered at the event id #2). Invalid path '$.missing' : No results for path: $['missing']",
            ),
        ),
    ];
    for (definition, input, expected) in cases {
        check(definition, input, expected);
    }
}

#[test]
fn intrinsic_functions_in_parameters() {
    let input = json!({"name": "World", "list": [1, 2, 3, 2], "n": 40, "obj": {"k": [1, "v"]},
        "str": "{\"a\":[1,2]}", "csv": "a,b,c", "text": "hi"});
    #[rustfmt::skip]
    let cases = [
        ("States.Format('Hello, {}!', $.name)", json!("Hello, World!")),
        // Objects print as Java's toString does.
        ("States.Format('{} and {}', $.n, $.obj)", json!("40 and {k=[1, v]}")),
        ("States.ArrayLength($.list)", json!(4)),
        ("States.ArrayContains($.list, 2)", json!(true)),
        ("States.ArrayContains($.list, 9)", json!(false)),
        ("States.ArrayUnique($.list)", json!([1, 2, 3])),
        ("States.ArrayGetItem($.list, 2)", json!(3)),
        ("States.ArrayPartition($.list, 3)", json!([[1, 2, 3], [2]])),
        ("States.ArrayRange(1, 9, 4)", json!([1, 5, 9])),
        ("States.ArrayRange(5, 1, -2)", json!([5, 3, 1])),
        ("States.Array($.n, 'x', $.obj.k)", json!([40, "x", [1, "v"]])),
        ("States.MathAdd($.n, 2)", json!(42)),
        ("States.MathAdd($.n, -50)", json!(-10)),
        ("States.JsonToString($.obj)", json!("{\"k\":[1,\"v\"]}")),
        ("States.StringToJson($.str)", json!({"a": [1, 2]})),
        ("States.StringSplit($.csv, ',')", json!(["a", "b", "c"])),
        ("States.Base64Encode($.text)", json!("aGk=")),
        ("States.Base64Decode('aGk=')", json!("hi")),
        ("States.Hash($.text, 'SHA-256')", json!("8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4")),
        ("States.JsonMerge($.obj, States.StringToJson($.str), false)", json!({"k": [1, "v"], "a": [1, 2]})),
        ("States.ArrayLength(States.ArrayRange(0, 999, 1))", json!(1000)),
        ("States.Format('{}', $$.State.Name)", json!("S")),
    ];
    for (call, expected) in cases {
        let definition = single(json!({"Type": "Pass", "Parameters": {"v.$": call}, "End": true}));
        let result = run(&definition, input.clone());
        assert_result(call, &result, &ok(json!({"v": expected})));
    }
    // Calls whose results vary: shapes only.
    let definition = single(json!({"Type": "Pass", "End": true, "Parameters": {
        "uuid.$": "States.UUID()", "random.$": "States.MathRandom(1, 3)"}}));
    for _ in 0..20 {
        let output = run(&definition, json!({})).output.expect("succeeds");
        let uuid = output["uuid"].as_str().expect("a UUID is a string");
        assert_eq!((uuid.len(), &uuid[14..15]), (36, "4"), "{uuid}");
        let random = output["random"].as_i64().expect("an integer");
        assert!((1..=3).contains(&random), "{random}");
    }
}

#[test]
fn context_object() {
    let options = ExecOptions {
        name: "exec-7".into(),
        state_machine_name: "Orders".into(),
        ..options()
    };
    let definition = json!({"StartAt": "First", "States": {
        "First": {"Type": "Pass", "Next": "Ctx"},
        "Ctx": {"Type": "Pass", "End": true, "Parameters": {
            "name.$": "$$.Execution.Name", "input.$": "$$.Execution.Input",
            "state.$": "$$.State.Name", "machine.$": "$$.StateMachine.Name",
            "retries.$": "$$.State.RetryCount", "redrives.$": "$$.Execution.RedriveCount",
            "id.$": "$$.Execution.Id", "machineId.$": "$$.StateMachine.Id",
            "started.$": "$$.Execution.StartTime", "entered.$": "$$.State.EnteredTime"}}}});
    let input = json!({"order": 12});
    let result = check_with(
        definition,
        input.clone(),
        &options,
        &NoTasks,
        End::SucceededAny,
    );
    let output = result.output.expect("succeeded");
    assert_eq!(output["name"], json!("exec-7"));
    assert_eq!(output["input"], input);
    assert_eq!(output["state"], json!("Ctx"));
    assert_eq!(output["machine"], json!("Orders"));
    assert_eq!(output["retries"], json!(0));
    assert_eq!(output["redrives"], json!(0));
    assert_eq!(output["id"], json!(result.info.arn()));
    let machine_id = output["machineId"].as_str().expect("a string");
    assert!(machine_id.ends_with(":stateMachine:Orders"), "{machine_id}");
    for field in ["started", "entered"] {
        let text = output[field].as_str().expect("a timestamp");
        assert!(
            stepstream::time::parse_timestamp(text).is_some(),
            "{field}: {text}"
        );
    }
    // Inside a Map iteration, $$.Execution.Input is still the execution's input.
    let definition = map_state(
        json!({"ItemsPath": "$.items"}),
        "Ctx",
        json!({"Ctx": {"Type": "Pass", "Parameters": {"all.$": "$$.Execution.Input.tag", "state.$": "$$.State.Name"}, "End": true}}),
    );
    check(
        definition,
        json!({"tag": "t", "items": [1, 2]}),
        ok(json!([{"all": "t", "state": "Ctx"}, {"all": "t", "state": "Ctx"}])),
    );
}

#[test]
fn task_result_processing() {
    let handlers = NativeHandlers::new().register(WORK, |parameters| {
        if parameters.get("fail") == Some(&json!(true)) {
            Err(Fault::new("Asked.ToFail", "as asked"))
        } else {
            Ok(json!({"Payload": {"echo": parameters, "v": 1}, "StatusCode": 200}))
        }
    });
    #[rustfmt::skip]
    let cases = [
        (
            json!({"ResultSelector": {"v.$": "$.Payload.v", "code.$": "$.StatusCode"}, "ResultPath": "$.res", "OutputPath": "$.res"}),
            json!({"in": 1}),
            ok(json!({"v": 1, "code": 200})),
        ),
        (
            json!({"InputPath": "$.in", "Parameters": {"x.$": "$"}, "ResultSelector": {"e.$": "$.Payload.echo"}, "ResultPath": "$.out"}),
            json!({"in": 3}),
            ok(json!({"in": 3, "out": {"e": {"x": 3}}})),
        ),
        (json!({"ResultPath": null}), json!({"keep": true}), ok(json!({"keep": true}))),
        (json!({"ResultPath": "$.r", "OutputPath": "$.r.StatusCode"}), json!({}), ok(json!(200))),
        // A catcher's ResultPath merges the error into the state's raw input, not what
        // InputPath selected.
        (
            json!({"InputPath": "$.in", "Parameters": {"fail": true},
                   "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Recover"}]}),
            json!({"in": 1, "other": 2}),
            ok(
                json!({"in": 1, "other": 2, "error": {"Error": "Asked.ToFail", "Cause": "as asked"}}),
            ),
        ),
        (
            json!({"Parameters": {"fail": true},
                   "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": null, "Next": "Recover"}]}),
            json!({"in": 1}),
            ok(json!({"in": 1})),
        ),
        (
            json!({"Parameters": {"fail": true},
                   "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Recover"}]}),
            json!({"in": 1}),
            ok(json!({"Error": "Asked.ToFail", "Cause": "as asked"})),
        ),
    ];
    for (fields, input, expected) in cases {
        let is_catching = fields.get("Catch").is_some();
        let mut definition = single(task(fields));
        if is_catching {
            definition["States"]["Recover"] = json!({"Type": "Pass", "End": true});
        }
        check_with(definition, input, &options(), &handlers, expected);
    }
}

// ----- 9. history -----

/// Each event's (id, previousEventId, type).
fn event_ids(result: &ExecutionResult) -> Vec<(u64, u64, &'static str)> {
    result
        .history
        .iter()
        .map(|event| (event.id, event.previous_event_id, event.event_type))
        .collect()
}

fn mocked(responses: Value) -> stepstream::tasks::MockHandler {
    let file = json!({
        "StateMachines": {"StateMachine": {"TestCases": {"Recorded": {"Work": "WorkMock"}}}},
        "MockedResponses": {"WorkMock": responses}});
    MockConfig::parse(&file.to_string())
        .expect("the mock config is valid")
        .handler("StateMachine", "Recorded")
        .expect("the test case exists")
}

fn with_history() -> ExecOptions {
    ExecOptions {
        record_history: true,
        ..options()
    }
}

#[test]
fn history_of_pass_task_succeed() {
    let definition = json!({"StartAt": "Prepare", "States": {
        "Prepare": {"Type": "Pass", "Result": {"n": 1}, "Next": "Work"},
        "Work": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                 "Parameters": {"FunctionName": "f", "Payload.$": "$"}, "ResultSelector": {"r.$": "$.Payload"}, "Next": "Done"},
        "Done": {"Type": "Succeed"}}});
    let tasks = mocked(json!({"0": {"Return": {"Payload": "ok", "StatusCode": 200}}}));
    let result = check_with(
        definition,
        json!({"in": true}),
        &with_history(),
        &tasks,
        ok(json!({"r": "ok"})),
    );
    assert_eq!(
        event_ids(&result),
        [
            (1, 0, "ExecutionStarted"),
            (2, 0, "PassStateEntered"),
            (3, 2, "PassStateExited"),
            (4, 3, "TaskStateEntered"),
            (5, 4, "TaskScheduled"),
            (6, 5, "TaskStarted"),
            (7, 6, "TaskSucceeded"),
            (8, 7, "TaskStateExited"),
            (9, 8, "SucceedStateEntered"),
            (10, 9, "SucceedStateExited"),
            (11, 10, "ExecutionSucceeded"),
        ]
    );
    let details = |id: usize| result.history[id - 1].to_json();
    assert_eq!(
        details(1)["executionStartedEventDetails"]["input"],
        json!({"in": true})
    );
    assert_eq!(
        details(2)["stateEnteredEventDetails"]["name"],
        json!("Prepare")
    );
    assert_eq!(
        details(3)["stateExitedEventDetails"]["output"],
        json!({"n": 1})
    );
    let scheduled = &details(5)["taskScheduledEventDetails"];
    assert_eq!(
        scheduled["parameters"],
        json!({"FunctionName": "f", "Payload": {"n": 1}})
    );
    assert_eq!(
        (&scheduled["resourceType"], &scheduled["resource"]),
        (&json!("lambda"), &json!("invoke"))
    );
    assert_eq!(
        details(7)["taskSucceededEventDetails"]["output"],
        json!({"Payload": "ok", "StatusCode": 200})
    );
    assert_eq!(
        details(8)["stateExitedEventDetails"]["output"],
        json!({"r": "ok"})
    );
    assert_eq!(
        details(11)["executionSucceededEventDetails"]["output"],
        json!({"r": "ok"})
    );
    // Timestamps never go backwards.
    assert!(result
        .history
        .windows(2)
        .all(|pair| pair[0].timestamp_ms <= pair[1].timestamp_ms));
}

#[test]
fn history_of_retries_and_a_runtime_error() {
    let definition = json!({"StartAt": "Prepare", "States": {
        "Prepare": {"Type": "Pass", "Next": "Work"},
        "Work": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "OutputPath": "$.missing",
                 "Retry": [{"ErrorEquals": ["Lambda.Unknown"], "IntervalSeconds": 2}], "End": true}}});
    let tasks = mocked(json!({
        "0": {"Throw": {"Error": "Lambda.Unknown", "Cause": "cold"}},
        "1": {"Return": {"a": 1}}}));
    let cause = "An error occurred while executing the state 'Work' (entered at the event id #4). Invalid path '$.missing' : No results for path: $['missing']";
    let result = check_with(
        definition.clone(),
        json!({}),
        &with_history(),
        &tasks,
        failed_with("States.Runtime", cause),
    );
    assert_eq!(
        event_ids(&result),
        [
            (1, 0, "ExecutionStarted"),
            (2, 0, "PassStateEntered"),
            (3, 2, "PassStateExited"),
            (4, 3, "TaskStateEntered"),
            (5, 4, "TaskScheduled"),
            (6, 5, "TaskStarted"),
            (7, 6, "TaskFailed"),
            (8, 7, "TaskScheduled"),
            (9, 8, "TaskStarted"),
            (10, 9, "TaskSucceeded"),
            (11, 10, "ExecutionFailed"),
        ]
    );
    // The retry waited its interval between the failure and the next schedule.
    assert_eq!(
        result.history[7].timestamp_ms - result.history[6].timestamp_ms,
        2_000
    );
    let failed_details = &result.history[10].to_json()["executionFailedEventDetails"];
    assert_eq!(
        (&failed_details["error"], &failed_details["cause"]),
        (&json!("States.Runtime"), &json!(cause))
    );
    // Event ids are counted when history is not recorded: the cause is the same.
    let options = options();
    let result = check_with(
        definition,
        json!({}),
        &options,
        &tasks,
        failed_with("States.Runtime", cause),
    );
    assert!(result.history.is_empty());
}

#[test]
fn fail_state_runtime_error_quotes_its_entered_event() {
    let fail = |fields: Value| {
        json!({"StartAt": "One", "States": {
            "One": {"Type": "Pass", "Next": "Two"},
            "Two": {"Type": "Wait", "Seconds": 1, "Next": "Stop"},
            "Stop": merge_into(json!({"Type": "Fail"}), fields)}})
    };
    let cases = [
        json!({"Error": "Custom", "CausePath": "$.missing"}),
        json!({"ErrorPath": "$.missing", "Cause": "text"}),
        json!({"ErrorPath": "States.Format('{}', $.missing)"}),
    ];
    for fields in cases {
        let definition = fail(fields.clone());
        let result = check_with(
            definition,
            json!({"present": 1}),
            &with_history(),
            &NoTasks,
            failed_starting(
                "States.Runtime",
                "An error occurred while executing the state 'Stop' (entered at the event id #6). ",
            ),
        );
        assert_eq!(
            event_ids(&result),
            [
                (1, 0, "ExecutionStarted"),
                (2, 0, "PassStateEntered"),
                (3, 2, "PassStateExited"),
                (4, 3, "WaitStateEntered"),
                (5, 4, "WaitStateExited"),
                (6, 5, "FailStateEntered"),
                (7, 6, "ExecutionFailed"),
            ],
            "{fields}"
        );
    }
    // Without a runtime error the Fail state's texts are the execution's.
    let definition = fail(json!({"ErrorPath": "$.error", "CausePath": "$.why"}));
    check(
        definition,
        json!({"error": "E", "why": "W"}),
        failed_with("E", "W"),
    );
    let definition = fail(json!({}));
    let result = run(&definition, json!({}));
    assert_eq!(
        (result.status, result.error, result.cause),
        (Status::Failed, None, None)
    );
}

#[test]
fn history_of_a_caught_timeout_and_an_execution_timeout() {
    // Lambda resources have their own event types; a timed-out execution ends with
    // ExecutionTimedOut.
    let definition = json!({"TimeoutSeconds": 3, "StartAt": "Work", "States": {
        "Work": {"Type": "Task", "Resource": WORK, "TimeoutSeconds": 1,
                 "Catch": [{"ErrorEquals": ["States.Timeout"], "Next": "Pause"}], "End": true},
        "Pause": {"Type": "Wait", "Seconds": 60, "End": true}}});
    let limits = Limits {
        record_history: true,
        ..Limits::default()
    };
    let mut vm = Vm::start_with(&definition, json!({}), limits);
    assert_eq!(vm.pending(START), Some(START + 1_000));
    vm.request();
    assert_eq!(vm.pending(START + 1_000), Some(START + 3_000));
    assert_outcome("timed out", &vm.done(START + 3_000), &End::TimedOut);
    let events: Vec<(u64, u64, &str, i64)> = vm
        .execution
        .history()
        .iter()
        .map(|event| {
            (
                event.id,
                event.previous_event_id,
                event.event_type,
                event.timestamp_ms - START,
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            (1, 0, "ExecutionStarted", 0),
            (2, 0, "TaskStateEntered", 0),
            (3, 2, "LambdaFunctionScheduled", 0),
            (4, 3, "LambdaFunctionStarted", 0),
            (5, 4, "LambdaFunctionTimedOut", 1_000),
            (6, 5, "TaskStateExited", 1_000),
            (7, 6, "WaitStateEntered", 1_000),
            (8, 7, "ExecutionTimedOut", 3_000),
        ]
    );
}

// ----- 10. hostile definitions and inputs end in an outcome -----

/// `[[[…0…]]]`, `depth` arrays deep, built without recursion.
fn deep_array(depth: usize) -> Value {
    let mut value = json!(0);
    for _ in 0..depth {
        value = Value::from(vec![value]);
    }
    value
}

fn depth_of(value: &Value) -> usize {
    let mut depth = 0;
    let mut current = value;
    while let Some(inner) = current.as_array().and_then(|items| items.first()) {
        depth += 1;
        current = inner;
    }
    depth
}

/// Takes a deep value apart level by level, so that dropping it does not recurse.
fn dismantle(value: Value) {
    let mut pending = vec![value];
    while let Some(mut value) = pending.pop() {
        match &mut value {
            Value::Array(items) => pending.extend(std::mem::take(items).into_vec()),
            Value::Object(fields) => {
                pending.extend(std::mem::take(fields).into_iter().map(|(_, v)| v))
            }
            _ => {}
        }
    }
}

#[test]
fn deeply_nested_input() {
    const DEPTH: usize = 10_000;
    // serde_json refuses such text (its recursion limit), so the value is built directly.
    let text = format!("{}0{}", "[".repeat(DEPTH), "]".repeat(DEPTH));
    assert!(json::from_str(&text).is_err());
    let definition = json!({"StartAt": "Copy", "States": {
        "Copy": {"Type": "Pass", "Parameters": {"deep.$": "$", "first.$": "$[0][0][0]"}, "Next": "Unwrap"},
        "Unwrap": {"Type": "Pass", "InputPath": "$.deep", "ResultPath": "$.again", "Next": "Measure"},
        "Measure": {"Type": "Pass", "Parameters": {"text.$": "States.JsonToString($.deep[0])", "deep.$": "$.deep"}, "End": true}}});
    let options = ExecOptions {
        max_payload_bytes: 10 * DEPTH,
        ..with_history()
    };
    // serde_json clones and drops a `Value` recursively, a few stack frames per level, so a
    // value this deep needs more than the 2 MiB a test thread gets, in the engine or out.
    let worker = std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || {
            let mut result = run_with(&definition, deep_array(DEPTH), &options, &NoTasks);
            let history_events = result.history.len();
            for event in std::mem::take(&mut result.history) {
                dismantle(event.details);
            }
            let summary = result.output.take().map(|mut output| {
                let text_len = output["text"].as_str().map_or(0, str::len);
                let depth = depth_of(&output["deep"]);
                dismantle(output.take());
                (text_len, depth)
            });
            (result.status, result.error, summary, history_events)
        })
        .expect("spawning a thread");
    let (status, error, summary, history_events) = worker.join().expect("the run did not panic");
    assert_eq!((status, error), (Status::Succeeded, None));
    assert_eq!(summary, Some((2 * DEPTH - 1, DEPTH)));
    assert_eq!(history_events, 8);
}

#[test]
fn hostile_machines_end_in_an_outcome() {
    let pass =
        |parameters: Value| single(json!({"Type": "Pass", "Parameters": parameters, "End": true}));
    let failing_task = |retry: Value| single(task(json!({"Retry": [retry]})));
    let big_map = single(json!({"Type": "Map", "MaxConcurrency": 0, "End": true,
        "ItemProcessor": {"StartAt": "Each", "States": {"Each": {"Type": "Pass", "Parameters": {"i.$": "$"}, "OutputPath": "$.i", "End": true}}}}));
    let ten_thousand: Vec<u32> = (0..10_000).collect();
    let leaf = json!({"Type": "Map", "End": true,
        "ItemProcessor": {"StartAt": "Leaf", "States": {"Leaf": {"Type": "Pass", "Result": 1, "End": true}}}});
    let middle = json!({"Type": "Map", "End": true, "ItemSelector": {"x.$": "$$.Map.Item.Value"}, "ItemsPath": "$$.Execution.Input",
        "ItemProcessor": {"StartAt": "Inner", "States": {"Inner": merge_into(leaf, json!({"ItemsPath": "$$.Execution.Input"}))}}});
    let nested_maps = single(json!({"Type": "Map", "End": true,
        "ItemProcessor": {"StartAt": "Middle", "States": {"Middle": middle}}}));
    let wide_parallel = single(json!({"Type": "Parallel", "End": true, "Branches":
        (0..200).map(|i| json!({"StartAt": format!("B{i}"), "States": {format!("B{i}"): {"Type": "Pass", "Result": i, "End": true}}})).collect::<Vec<_>>()}));
    let long_chain = {
        let mut states = json::Map::new();
        for i in 0..2_000 {
            let next = if i == 1_999 {
                json!({"End": true})
            } else {
                json!({"Next": format!("P{}", i + 1)})
            };
            states.insert(
                format!("P{i}"),
                merge_into(
                    json!({"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($.n, 1)"}}),
                    next,
                ),
            );
        }
        json!({"StartAt": "P0", "States": states})
    };
    let cases = [
        ("huge ArrayRange", pass(json!({"r.$": "States.ArrayRange(1, 1000000000, 1)"})), json!({}), failed("States.Runtime")),
        ("ArrayRange step 0", pass(json!({"r.$": "States.ArrayRange(1, 5, 0)"})), json!({}), failed("States.Runtime")),
        ("ArrayPartition by 0", pass(json!({"r.$": "States.ArrayPartition($.a, 0)"})), json!({"a": [1]}), failed("States.Runtime")),
        ("ArrayGetItem out of range", pass(json!({"r.$": "States.ArrayGetItem($.a, 99999999)"})), json!({"a": [1]}), failed("States.Runtime")),
        ("MathAdd past i32", pass(json!({"r.$": "States.MathAdd($.n, 1)"})), json!({"n": 9_223_372_036_854_775_807_i64}), failed("States.Runtime")),
        // Decoded leniently, as Apache Commons Codec does: characters outside the alphabet are skipped.
        ("Base64Decode garbage", pass(json!({"r.$": "States.Base64Decode('!!!')"})), json!({}), ok(json!({"r": ""}))),
        ("StringToJson of deep text", pass(json!({"r.$": "States.StringToJson($.s)"})), json!({"s": format!("{}{}", "[".repeat(10_000), "]".repeat(10_000))}), failed("States.Runtime")),
        ("StringToJson of garbage", pass(json!({"r.$": "States.StringToJson($.s)"})), json!({"s": "{"}), failed("States.Runtime")),
        ("Hash with an unknown algorithm", pass(json!({"r.$": "States.Hash($.s, $.algorithm)"})), json!({"s": "x", "algorithm": "MD4"}), failed("States.Runtime")),
        ("Format with too few arguments", pass(json!({"r.$": "States.Format('{} {}', $.s)"})), json!({"s": "x"}), failed("States.Runtime")),
        ("Format of a 100 kB string", pass(json!({"r.$": "States.Format('{}{}', $.s, $.s)"})), json!({"s": "z".repeat(100_000)}), ok(json!({"r": "z".repeat(200_000)}))),
        ("Map over 10,000 items", big_map, json!(ten_thousand), ok(json!(ten_thousand))),
        ("20 × 20 × 20 nested Maps", nested_maps, json!((0..20).collect::<Vec<u32>>()), End::SucceededAny),
        ("Parallel of 200 branches", wide_parallel, json!({}), ok(json!((0..200).collect::<Vec<u32>>()))),
        ("a chain of 2,000 states", long_chain, json!({"n": 0}), ok(json!({"n": 2_000}))),
        ("a 3-year Wait", single(json!({"Type": "Wait", "Seconds": 99_999_999, "End": true})), json!({}), End::TimedOut),
        (
            "a Wait past year 9999",
            single(json!({"Type": "Wait", "Timestamp": "9999-12-31T23:59:59Z", "End": true})),
            json!({}),
            failed_with("States.Runtime", "An error occurred while executing the state 'S' (entered at the event id #2). Wait state delay is too long."),
        ),
        (
            "SecondsPath of i64::MAX",
            single(json!({"Type": "Wait", "SecondsPath": "$.s", "End": true})),
            json!({"s": i64::MAX}),
            failed_with("States.Runtime", "An error occurred while executing the state 'S' (entered at the event id #2). Wait state delay is too long."),
        ),
        (
            "SecondsPath of a negative number",
            single(json!({"Type": "Wait", "SecondsPath": "$.s", "End": true})),
            json!({"s": -5}),
            failed_with("States.Runtime", "An error occurred while executing the state 'S' (entered at the event id #2). The SecondsPath parameter cannot be parsed as a long value: $.s == -5"),
        ),
        (
            "TimestampPath of a number",
            single(json!({"Type": "Wait", "TimestampPath": "$.t", "End": true})),
            json!({"t": 5}),
            failed_with("States.Runtime", "An error occurred while executing the state 'S' (entered at the event id #2). The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: $.t == 5"),
        ),
        (
            "retry with enormous back-off",
            failing_task(json!({"ErrorEquals": ["States.ALL"], "IntervalSeconds": 99_999_999, "BackoffRate": 99_999.0, "MaxAttempts": 99_999_999})),
            json!({}),
            End::TimedOut,
        ),
        (
            "retry growing past any delay",
            failing_task(json!({"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "BackoffRate": 1000.0, "MaxAttempts": 1000})),
            json!({}),
            End::TimedOut,
        ),
        (
            "MaxConcurrencyPath of a huge number",
            single(json!({"Type": "Map", "MaxConcurrencyPath": "$.c", "ItemsPath": "$.items", "End": true,
                "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}})),
            json!({"c": u64::MAX, "items": [1, 2]}),
            ok(json!([1, 2])),
        ),
        (
            "ToleratedFailurePercentagePath out of range",
            single(json!({"Type": "Map", "ToleratedFailurePercentagePath": "$.p", "ItemsPath": "$.items", "End": true,
                "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}})),
            json!({"p": 1e300, "items": [1]}),
            failed("States.Runtime"),
        ),
        (
            "Choice on extreme numbers",
            json!({"StartAt": "C", "States": {
                "C": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericGreaterThan": 1.7e308, "Next": "Big"}], "Default": "Small"},
                "Big": {"Type": "Pass", "Result": "big", "End": true},
                "Small": {"Type": "Pass", "Result": "small", "End": true}}}),
            json!({"n": u64::MAX}),
            ok(json!("small")),
        ),
        ("an input far over the limit", single(json!({"Type": "Pass", "End": true})), json!({"s": "q".repeat(300_000)}), failed("States.DataLimitExceeded")),
    ];
    let counter = Counter::default();
    let tasks = counting(NativeHandlers::new(), WORK, &counter, |_, _| {
        Err(flaky("Flaky.Error"))
    });
    let options = options();
    let started = std::time::Instant::now();
    for (label, definition, input, expected) in cases {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run_with(&definition, input, &options, &tasks)
        }));
        let result = outcome.unwrap_or_else(|_| panic!("{label}: the engine panicked"));
        assert_result(label, &result, &expected);
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "hostile cases took {:?}",
        started.elapsed()
    );
}

#[test]

fn map_item_selector_reading_the_context_stays_linear() {
    let items: Vec<u32> = (0..10_000).collect();
    let definition = single(json!({"Type": "Map", "MaxConcurrency": 0, "End": true,
        "ItemSelector": {"i.$": "$$.Map.Item.Index"},
        "ItemProcessor": {"StartAt": "Each", "States": {"Each": {"Type": "Pass", "OutputPath": "$.i", "End": true}}}}));
    let started = std::time::Instant::now();
    check(definition, json!(items), ok(json!(items)));
    // Without the context read the same Map takes about 10 ms.
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "took {:?}",
        started.elapsed()
    );
}

// ----- input projection -----

/// Runs `input_text` both ways: parsed whole (`exec::run`) and as the pipeline does, with the
/// program's input projection (`exec::run_json`); the outcomes must be the same.
fn assert_projection_transparent(program: &Program, input_text: &str, options: &ExecOptions) {
    let whole = exec::run(
        program,
        json::from_str(input_text).expect("valid input"),
        options,
        &NoTasks,
    );
    let projected =
        exec::run_json(program, input_text.as_bytes(), options, &NoTasks).expect("valid input");
    assert_eq!(
        (&projected.status, &projected.error, &projected.cause),
        (&whole.status, &whole.error, &whole.cause),
        "{input_text}"
    );
    assert_eq!(projected.output, whole.output, "{input_text}");
}

#[test]
fn input_projection_changes_no_outcome() {
    let options = ExecOptions {
        time_scale: 0.0,
        ..ExecOptions::default()
    };
    let lines = crate::util::workload_input_lines();
    for workload in crate::util::workloads() {
        let program = program(&json::from_str(&workload.definition).expect("workloads are JSON"));
        for line in &lines {
            assert_projection_transparent(&program, line, &options);
        }
    }
    // W1 reads some fields and leaves `items` and `source` out...
    let w1 = program(&crate::util::read_json(
        &crate::util::workloads_dir().join("w1-pass-chain.json"),
    ));
    let kept: Vec<&str> = w1
        .input_fields
        .as_deref()
        .expect("W1 is projected")
        .iter()
        .map(|field| field.as_str())
        .collect();
    assert_eq!(kept, ["detail", "id", "meta", "p1", "p2", "p4"]);
    // ...but a missing field's error quotes the whole input, left-out fields included; a
    // payload over the limit counts them; duplicate and escaped keys; invalid JSON anywhere.
    let big_items = format!(r#"[{}]"#, vec![r#"{"sku":"s","qty":1}"#; 60].join(","));
    for input in [
        r#"{"id":"a","items":[1,2],"source":"x"}"#.to_string(),
        r#"{"id":"a","detail":5,"items":[1]}"#.to_string(),
        r#"{"detail":{"user":{"name":"n","tier":"t"},"amount":1},"items":{"deep":[[[]]]},"id":7}"#.to_string(),
        format!(r#"{{"id":"a","detail":{{"user":{{"name":"n","tier":"t"}},"amount":1}},"items":{big_items}}}"#),
        r#"{"id":"a","id":"b","detail":{"user":{"name":"n","tier":"t"},"amount":1},"\u0069tems":[]}"#.to_string(),
        r#"{"p4":{"summary":1},"id":"a","detail":{"user":{"name":"n","tier":"t"},"amount":1}}"#.to_string(),
        r#"[1,2,3]"#.to_string(),
        r#""text""#.to_string(),
    ] {
        assert_projection_transparent(&w1, &input, &options);
        let tight = ExecOptions {
            max_payload_bytes: 600,
            ..options.clone()
        };
        assert_projection_transparent(&w1, &input, &tight);
    }
    for invalid in [r#"{"id":"a","items":[1,]}"#, r#"{"id":"a","items":tru}"#] {
        let whole = json::from_str(invalid).unwrap_err();
        let Err(projected) = exec::run_json(&w1, invalid.as_bytes(), &options, &NoTasks) else {
            panic!("{invalid} is refused");
        };
        assert_eq!(projected, whole);
    }
}

#[test]
fn history_of_a_retried_parallel_shows_each_start_and_one_failure() {
    let definition = json!({"StartAt": "Both", "States": {
        "Both": {"Type": "Parallel", "Next": "After",
                 "Branches": [{"StartAt": "Stop", "States": {"Stop": {"Type": "Fail", "Error": "E"}}}],
                 "Retry": [{"ErrorEquals": ["E"], "MaxAttempts": 1, "IntervalSeconds": 1}],
                 "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "After"}]},
        "After": {"Type": "Pass", "End": true}}});
    let result = run_with(&definition, json!({}), &with_history(), &NoTasks);
    assert_eq!(result.status, Status::Succeeded);
    let events: Vec<(u64, &str)> = event_ids(&result)
        .iter()
        .map(|(id, _, event_type)| (*id, *event_type))
        .collect();
    assert_eq!(
        events,
        [
            (1, "ExecutionStarted"),
            (2, "ParallelStateEntered"),
            (3, "ParallelStateStarted"),
            (4, "FailStateEntered"),
            (5, "ParallelStateStarted"),
            (6, "FailStateEntered"),
            (7, "ParallelStateFailed"),
            (8, "ParallelStateExited"),
            (9, "PassStateEntered"),
            (10, "PassStateExited"),
            (11, "ExecutionSucceeded"),
        ]
    );
}

#[test]
fn history_of_a_distributed_map_is_one_map_run() {
    let definition = json!({"StartAt": "Each", "States": {
        "Each": {"Type": "Map", "Next": "Check",
                 "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                                   "StartAt": "Inner", "States": {"Inner": {"Type": "Pass", "End": true}}}},
        "Check": {"Type": "Pass", "Parameters": {"n.$": "States.ArrayLength($)"}, "Next": "Bad"},
        "Bad": {"Type": "Pass", "Parameters": {"x.$": "$.missing"}, "End": true}}});
    let result = run_with(&definition, json!([1, 2, 3]), &with_history(), &NoTasks);
    // Iteration events belong to the child executions: the ids here run on without them.
    assert_eq!(
        result
            .cause
            .as_deref()
            .map(|cause| cause.contains("(entered at the event id #10)")),
        Some(true),
        "{:?}",
        result.cause
    );
    let types: Vec<&str> = event_ids(&result).iter().map(|event| event.2).collect();
    assert_eq!(
        types,
        [
            "ExecutionStarted",
            "MapStateEntered",
            "MapStateStarted",
            "MapRunStarted",
            "MapRunSucceeded",
            "MapStateSucceeded",
            "MapStateExited",
            "PassStateEntered",
            "PassStateExited",
            "PassStateEntered",
            "ExecutionFailed",
        ]
    );
    let ids: Vec<u64> = event_ids(&result).iter().map(|event| event.0).collect();
    assert_eq!(ids, (1..=11).collect::<Vec<u64>>());
    let run_arn = result.history[3].to_json()["mapRunStartedEventDetails"]["mapRunArn"].clone();
    assert!(
        run_arn
            .as_str()
            .is_some_and(|arn| arn.starts_with("arn:aws:states:us-east-1:")
                && arn.contains(":mapRun:StateMachine/Each:")),
        "{run_arn}"
    );
}
