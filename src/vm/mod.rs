//! Runs a `Program` on one input: one `Execution`, resumable.
//!
//! The VM does no IO, takes no locks and never sleeps. Work that must wait — a Task's
//! invocation, a Wait state, a retry back-off — parks the frame that asked for it; `run`
//! returns `Poll::Pending` saying until when, and the caller serves the requests it takes
//! with `take_requests`, hands results back with `complete_task`, and calls `run` again.
//! Time is whatever the caller says it is (`now_ms`), so a driver may run on a scaled or
//! virtual clock. Parallel branches and Map iterations are frames of the same execution,
//! scheduled in order.

pub(crate) mod eval;
pub mod history;

use std::collections::VecDeque;
use std::sync::Arc;

use crate::json;
use crate::json::{Map as JsonMap, Value};

use crate::asl::{self, ResultPath, Seconds, Tolerance};
use crate::compile::{Body, Index, Op, Program, Source, StateId};
use crate::json::size as payload_size;
use crate::tasks::Fault;
use eval::{EvalError, Scope};
use history::{error_details, io_details, resource_kind, state_event_types, ResourceKind};
pub use history::{HistoryEvent, LogLevel};

/// The identity of an execution, as its context object and history show it.
#[derive(Debug, Clone)]
pub struct ExecutionInfo {
    pub name: String,
    /// The state machine's identity, shared by all its executions.
    pub machine: Arc<MachineIdentity>,
    /// Start time, milliseconds since the Unix epoch (on the caller's clock).
    pub start_ms: i64,
}

/// What an execution shows of the state machine it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineIdentity {
    pub name: String,
    pub region: String,
    pub account: String,
    /// `arn:aws:states:REGION:ACCOUNT:stateMachine:NAME`.
    pub arn: String,
    /// The role executions report (`arn:aws:iam::ACCOUNT:role/stepstream`).
    pub role_arn: String,
}

impl MachineIdentity {
    pub fn new(name: &str, region: &str, account: &str) -> MachineIdentity {
        MachineIdentity {
            name: name.to_string(),
            region: region.to_string(),
            account: account.to_string(),
            arn: format!("arn:aws:states:{region}:{account}:stateMachine:{name}"),
            role_arn: format!("arn:aws:iam::{account}:role/stepstream"),
        }
    }
}

impl ExecutionInfo {
    /// The execution's ARN in the Express form,
    /// `arn:aws:states:REGION:ACCOUNT:express:MACHINE:NAME:ID`. Made on demand: most
    /// executions never show it.
    pub fn arn(&self) -> String {
        let machine = &self.machine;
        let parts = [
            "arn:aws:states:",
            &machine.region,
            ":",
            &machine.account,
            ":express:",
            &machine.name,
            ":",
            &self.name,
            ":",
        ];
        let mut arn =
            String::with_capacity(parts.iter().map(|part| part.len()).sum::<usize>() + 36);
        for part in parts {
            arn.push_str(part);
        }
        write_execution_id(&mut arn, &self.name, self.start_ms);
        arn
    }
}

/// A stable id for the execution ARN's last part, derived from its name and start.
fn execution_id(name: &str, start_ms: i64) -> String {
    let mut id = String::with_capacity(36);
    write_execution_id(&mut id, name, start_ms);
    id
}

/// Appends the id, in the layout of a version 4 UUID. Written digit by digit: the log sink
/// makes an ARN for each execution it logs, and `format!` with padded hex cost more than
/// the rest of the ARN (about 4,000 instructions, callgrind).
fn write_execution_id(out: &mut String, name: &str, start_ms: i64) {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes().chain(start_ms.to_le_bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    let high = hash;
    let low = hash.rotate_left(29).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    push_hex(out, high >> 32, 8);
    out.push('-');
    push_hex(out, (high >> 16) & 0xffff, 4);
    out.push_str("-4");
    push_hex(out, high & 0x0fff, 3);
    out.push('-');
    push_hex(out, 0x8000 | (low >> 48) & 0x3fff, 4);
    out.push('-');
    push_hex(out, low & 0xffff_ffff_ffff, 12);
}

/// Appends the low `digits` hex digits of `value`, zero-padded.
fn push_hex(out: &mut String, value: u64, digits: u32) {
    for digit in (0..digits).rev() {
        let nibble = (value >> (digit * 4)) & 0xf;
        out.push(char::from(b"0123456789abcdef"[nibble as usize]));
    }
}

/// Limits an execution runs under.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest state input/output, execution input and output, in bytes (AWS: 262,144).
    pub max_payload_bytes: usize,
    /// Longest run, in milliseconds (Express: 5 minutes); the definition's `TimeoutSeconds`
    /// may make it shorter.
    pub max_duration_ms: Option<u64>,
    /// Whether history events are kept (their ids are counted either way).
    pub record_history: bool,
    /// Which of them are kept: those of the event types this log level logs. An event left
    /// out costs no more than one with history off: its details are never made.
    pub history_level: LogLevel,
    /// Header names (besides `Authorization`) whose values an HTTP Task's parameters never
    /// show in the history.
    pub secret_headers: Arc<[String]>,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_payload_bytes: 262_144,
            max_duration_ms: Some(300_000),
            record_history: false,
            history_level: LogLevel::All,
            secret_headers: Arc::from(Vec::new()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Succeeded,
    Failed,
    TimedOut,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Succeeded => "SUCCEEDED",
            Status::Failed => "FAILED",
            Status::TimedOut => "TIMED_OUT",
        }
    }
}

/// How an execution ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub status: Status,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
}

/// What `run` reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Poll {
    /// The execution ended.
    Done(Outcome),
    /// Nothing can run now: task requests are waiting to be taken or served, or a timer is
    /// set. Call `run` again at `wake_at` (milliseconds, caller's clock), or as soon as a
    /// task completes.
    Pending { wake_at: Option<i64> },
}

/// Names one task invocation so its result can be handed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    frame: u32,
    generation: u32,
    sequence: u32,
}

impl Ticket {
    /// A ticket that names no request: what an invocation outside any execution answers to.
    pub fn detached() -> Ticket {
        Ticket {
            frame: u32::MAX,
            generation: 0,
            sequence: 0,
        }
    }
}

/// A Task state's request to invoke its resource.
#[derive(Debug, Clone)]
pub struct TaskRequest<'p> {
    pub ticket: Ticket,
    pub state_name: &'p str,
    pub resource: &'p str,
    pub parameters: Value,
    /// Invocations of this state before this one in the execution (retries count).
    pub invocation: u32,
    /// When the task times out (`TimeoutSeconds`), on the caller's clock.
    pub deadline_ms: Option<i64>,
    /// The longest the task may go without a heartbeat (`HeartbeatSeconds`), in milliseconds
    /// of the caller's clock. The heartbeat timer starts when the task is requested; each
    /// [`Execution::heartbeat_task`] starts it again.
    pub heartbeat_ms: Option<u64>,
}

/// Why a frame is not runnable.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Parked {
    No,
    Timer(i64),
    Task {
        sequence: u32,
        deadline: Option<i64>,
        heartbeat: Option<HeartbeatTimer>,
    },
    Children,
}

/// The heartbeat timer of a task that has `HeartbeatSeconds`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct HeartbeatTimer {
    /// When the task times out unless a heartbeat comes first, on the caller's clock.
    due: i64,
    /// `HeartbeatSeconds` in milliseconds.
    period: i64,
}

/// Which of a task's timers ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    /// `TimeoutSeconds`.
    Timeout,
    /// `HeartbeatSeconds` passed without a heartbeat.
    Heartbeat,
}

impl Parked {
    /// The timer of a task parked here that runs out first, and when: `TimeoutSeconds` wins a
    /// tie.
    fn task_expiry(&self) -> Option<(i64, Expiry)> {
        let Parked::Task {
            deadline,
            heartbeat,
            ..
        } = *self
        else {
            return None;
        };
        match (deadline, heartbeat) {
            (Some(deadline), Some(timer)) if timer.due < deadline => {
                Some((timer.due, Expiry::Heartbeat))
            }
            (Some(deadline), _) => Some((deadline, Expiry::Timeout)),
            (None, Some(timer)) => Some((timer.due, Expiry::Heartbeat)),
            (None, None) => None,
        }
    }
}

/// A thread of control: the top level, a Parallel branch or a Map iteration.
#[derive(Debug)]
struct Frame {
    generation: u32,
    live: bool,
    pc: u32,
    state: StateId,
    /// The current state's raw input.
    input: Value,
    /// The working value: effective input, then result, then output.
    work: Value,
    /// Upper bounds of the serialised sizes of `input` and `work` (the payload limit is
    /// checked against them, and measured exactly only when a bound exceeds it).
    input_bound: usize,
    work_bound: usize,
    /// A copy of the raw input for states with Retry or Catch: a retry starts the state
    /// over from it, and a catcher's ResultPath merges into it.
    saved_input: Option<Value>,
    entered_event: u64,
    last_event: u64,
    entered_ms: i64,
    /// Attempts used per retrier of the current state.
    retries: Vec<u32>,
    retry_total: u32,
    /// The op a retry re-runs.
    retry_pc: u32,
    chosen: StateId,
    parent: Option<(u32, u32)>,
    join: Option<Box<Join>>,
    parked: Parked,
    task_sequence: u32,
    /// Whose history the frame's events belong to: [`MAIN_HISTORY`], or the frame running a
    /// DISTRIBUTED Map iteration (a child execution) that it is part of.
    history: u32,
    /// In a frame that runs a DISTRIBUTED Map iteration: the last event id of that child
    /// execution (its ExecutionStarted is 1).
    child_events: u64,
    /// The variables this frame's scope holds (a branch or iteration also reads its
    /// ancestors').
    vars: Vec<(json::Str, Value)>,
    /// Values the current state assigns, set when it leaves.
    pending: Vec<(json::Str, Value)>,
}

/// The variables a frame can read: its own scope's, then its ancestors'.
#[derive(Clone, Copy)]
pub(crate) struct Vars<'a> {
    frames: &'a [Frame],
    frame: u32,
}

impl<'a> Vars<'a> {
    pub(crate) fn get(&self, name: &str) -> Option<&'a Value> {
        let mut at = Some(self.frame);
        while let Some(index) = at {
            let frame = &self.frames[index as usize];
            if let Some((_, value)) = frame.vars.iter().find(|(key, _)| key.as_str() == name) {
                return Some(value);
            }
            at = frame.parent.map(|(parent, _)| parent);
        }
        None
    }
}

/// Most bytes the values one state assigns may take (AWS: 256 KiB).
const MAX_ASSIGN_BYTES: usize = 262_144;

/// The `Frame::history` of frames whose events are this execution's.
const MAIN_HISTORY: u32 = u32::MAX;

/// A Parallel or Map state waiting for its children.
#[derive(Debug)]
struct Join {
    is_map: bool,
    /// A DISTRIBUTED Map: its iterations are child executions, recorded as one map run.
    distributed: bool,
    results: Vec<Value>,
    /// Bound of the serialised size of `results` so far.
    bound: usize,
    children: Vec<u32>,
    /// Map items not started yet, in order.
    waiting: VecDeque<(u32, Value)>,
    body: Body,
    running: usize,
    finished: usize,
    failures: usize,
    tolerated_count: Option<u64>,
    tolerated_percentage: Option<f64>,
    max_concurrency: usize,
}

/// How an op ends.
enum Flow {
    Continue,
    Park,
    Jump(StateId),
    Finish,
    Fault(Fault),
}

/// One execution of a program.
pub struct Execution<'p> {
    program: &'p Program,
    info: ExecutionInfo,
    limits: Limits,
    /// The execution input, kept only when the context object may be read.
    input_copy: Option<Value>,
    frames: Vec<Frame>,
    free: Vec<u32>,
    queue: VecDeque<u32>,
    requests: Vec<TaskRequest<'p>>,
    invocations: Vec<u32>,
    now: i64,
    deadline: Option<i64>,
    next_event: u64,
    history: Vec<HistoryEvent>,
    outcome: Option<Outcome>,
    /// States entered so far (state transitions, for metrics).
    transitions: u64,
    /// Set when one state runs alone ([`Execution::for_state`]).
    single: Option<Box<SingleState>>,
    /// The input was parsed with fields left out ([`Program::input_fields`]).
    projected: bool,
    /// A projected execution did something whose result could depend on the left-out fields
    /// (an engine error whose cause may quote the input, a payload near the size limit); its
    /// outcome must not be used: it is run again on the whole input.
    tainted: std::cell::Cell<bool>,
    /// Sizes of the containers measured so far, so that the parts a state passes on from its
    /// input are not measured again.
    sizes: crate::json::SizeMemo,
}

/// How a state run alone ended (AWS TestState's `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SingleStatus {
    Succeeded,
    Failed,
    /// The error matched a retrier with attempts left.
    Retriable,
    /// The error was caught; the output is the catcher's.
    CaughtError,
}

impl SingleStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SingleStatus::Succeeded => "SUCCEEDED",
            SingleStatus::Failed => "FAILED",
            SingleStatus::Retriable => "RETRIABLE",
            SingleStatus::CaughtError => "CAUGHT_ERROR",
        }
    }
}

/// What a state run alone did: where it would go next, and the value after each stage of its
/// data flow (`afterInputPath`, `afterParameters`, `result`, `afterResultSelector`,
/// `afterResultPath`), in that order.
#[derive(Debug, Clone, Default)]
pub struct SingleState {
    pub status: Option<SingleStatus>,
    pub next_state: Option<String>,
    pub stages: Vec<(&'static str, Value)>,
    /// The retrier that would retry (index, back-off in seconds).
    pub retry: Option<(usize, f64)>,
    /// The catcher that caught the error.
    pub catch_index: Option<usize>,
    /// The variables in the state's scope when it ended: those it was given
    /// ([`Execution::with_variables`]) with what its `Assign` (or its catcher's) set.
    pub variables: Vec<(json::Str, Value)>,
    /// Fields of the context object given to the state ([`Execution::with_context`]).
    context: Option<Value>,
}

impl SingleState {
    fn record(&mut self, stage: &'static str, value: &Value) {
        match self.stages.iter_mut().find(|(name, _)| *name == stage) {
            Some(slot) => slot.1 = value.clone(),
            None => self.stages.push((stage, value.clone())),
        }
    }
}

/// Errors `States.ALL` and `States.TaskFailed` do not match; `States.Runtime` is not even
/// matched by its own name (it ends the execution), `States.DataLimitExceeded` is.
pub(crate) const TERMINAL_ERRORS: [&str; 2] = ["States.Runtime", "States.DataLimitExceeded"];

/// The deepest nesting a state's output may have. The parser refuses events nested deeper than
/// [`crate::json::MAX_DEPTH`], but a loop can wrap a value once more each time round; beyond
/// this depth the state fails with `States.Runtime`, so that the recursive printer, measure
/// and destructor never meet a value deeper than a worker's stack can walk.
pub const MAX_VALUE_DEPTH: usize = 16_384;

impl<'p> Execution<'p> {
    /// Starts an execution: records ExecutionStarted and makes the first state runnable.
    pub fn new(
        program: &'p Program,
        input: Value,
        info: ExecutionInfo,
        limits: Limits,
    ) -> Execution<'p> {
        Execution::start(program, input, None, info, limits, false)
    }

    /// Starts an execution whose input was parsed from `raw_len` bytes of JSON text. Its size
    /// is bounded from that length ([`crate::json::size_bound`]) instead of measured, unless
    /// the bound exceeds the payload limit. `projected` says the input was parsed with only
    /// the program's [`input_fields`](Program::input_fields) (`json::from_slice_keeping`);
    /// if the outcome could then differ from the whole input's,
    /// [`is_tainted`](Self::is_tainted) says so.
    pub fn from_raw(
        program: &'p Program,
        input: Value,
        raw_len: usize,
        projected: bool,
        info: ExecutionInfo,
        limits: Limits,
    ) -> Execution<'p> {
        let bound = crate::json::size_bound(raw_len);
        Execution::start(program, input, Some(bound), info, limits, projected)
    }

    /// Runs one state alone on `input`, as AWS's TestState does: the execution ends when the
    /// state leaves (its next state is noted, not entered), when an error would be retried,
    /// or when a catcher takes it; [`single_state`](Self::single_state) tells what happened.
    pub fn for_state(
        program: &'p Program,
        state: crate::compile::StateId,
        input: Value,
        info: ExecutionInfo,
        limits: Limits,
    ) -> Execution<'p> {
        let mut execution = Execution::start(program, Value::Null, None, info, limits, false);
        // `start` queued the program's first state; run the chosen one instead.
        execution.frames.clear();
        execution.queue.clear();
        execution.free.clear();
        execution.single = Some(Box::default());
        execution.input_copy = program.uses_context.then(|| input.clone());
        let size = payload_size(&input);
        execution.spawn(
            crate::compile::Body { start: state },
            input,
            size,
            None,
            false,
        );
        execution
    }

    /// Gives a state run alone ([`for_state`](Self::for_state)) variables in its scope, as
    /// TestState's `variables` does: `$name` reads them in paths and expressions. Call it
    /// before the first `run`; it does nothing to other executions.
    pub fn with_variables<I>(mut self, variables: I) -> Execution<'p>
    where
        I: IntoIterator<Item = (json::Str, Value)>,
    {
        let Some(single) = self.single.as_deref_mut() else {
            return self;
        };
        let Some(root) = self.frames.first_mut() else {
            return self;
        };
        for (name, value) in variables {
            match root.vars.iter_mut().find(|(key, _)| *key == name) {
                Some(slot) => slot.1 = value,
                None => root.vars.push((name, value)),
            }
        }
        single.variables = root.vars.clone();
        self
    }

    /// Gives a state run alone ([`for_state`](Self::for_state)) fields of its context object,
    /// as TestState's `context` does: `$$` and `$states.context` read the object the
    /// execution would build with these fields put over it (objects merged field by field,
    /// anything else replaced), e.g. `{"Execution": {"Id": "…"}, "Task": {"Token": "…"}}`.
    /// It does nothing to other executions.
    pub fn with_context(mut self, context: Value) -> Execution<'p> {
        if let Some(single) = self.single.as_deref_mut() {
            single.context = Some(context);
        }
        self
    }

    /// What a state run alone did ([`for_state`](Self::for_state)).
    pub fn single_state(&self) -> Option<&SingleState> {
        self.single.as_deref()
    }

    /// Whether this execution ran on a projected input and its outcome must be recomputed
    /// on the whole input.
    pub fn is_tainted(&self) -> bool {
        self.tainted.get()
    }

    /// Marks a projected execution's outcome as unusable.
    fn taint(&self) {
        if self.projected {
            self.tainted.set(true);
        }
    }

    fn start(
        program: &'p Program,
        input: Value,
        input_bound: Option<usize>,
        info: ExecutionInfo,
        limits: Limits,
        projected: bool,
    ) -> Execution<'p> {
        let limit_ms = program
            .timeout_seconds
            .map(|seconds| seconds.saturating_mul(1000));
        let limit_ms = match (limit_ms, limits.max_duration_ms) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let now = info.start_ms;
        let mut execution = Execution {
            program,
            input_copy: program.uses_context.then(|| input.clone()),
            deadline: limit_ms.map(|ms| now.saturating_add(ms as i64)),
            info,
            limits,
            frames: Vec::new(),
            free: Vec::new(),
            queue: VecDeque::new(),
            requests: Vec::new(),
            invocations: Vec::new(),
            now,
            next_event: 0,
            history: Vec::new(),
            outcome: None,
            transitions: 0,
            single: None,
            projected,
            tainted: std::cell::Cell::new(false),
            sizes: crate::json::SizeMemo::default(),
        };
        let machine = Arc::clone(&execution.info.machine);
        execution.event(
            None,
            "ExecutionStarted",
            |input: &Value| {
                let mut details = io_details("executionStartedEventDetails", None, "input", input);
                details["executionStartedEventDetails"]["roleArn"] =
                    Value::from(machine.role_arn.as_str());
                details
            },
            &input,
        );
        let input_size = match input_bound {
            Some(bound) if bound <= execution.limits.max_payload_bytes => bound,
            _ => {
                execution.taint();
                payload_size(&input)
            }
        };
        if input_size > execution.limits.max_payload_bytes {
            let fault = Fault::new(
                "States.DataLimitExceeded",
                "The input exceeds the maximum number of bytes service limit.",
            );
            execution.finish_execution(Err(fault));
            return execution;
        }
        let root = execution.spawn(program.top, input, input_size, None, false);
        execution.frames[root as usize].last_event = 0;
        execution
    }

    /// Runs until the execution ends or nothing can run at `now_ms`.
    ///
    /// `Poll::Done` hands over the outcome once; a later call reports the same status, error
    /// and cause without the output.
    pub fn run(&mut self, now_ms: i64) -> Poll {
        self.now = self.now.max(now_ms);
        if self.outcome.is_none() && self.deadline.is_some_and(|deadline| self.now >= deadline) {
            self.time_out();
        }
        if let Some(outcome) = self.take_outcome() {
            return Poll::Done(outcome);
        }
        self.wake_due();
        if let Some(outcome) = self.take_outcome() {
            return Poll::Done(outcome);
        }
        while let Some(frame) = self.queue.pop_front() {
            if !self.frames[frame as usize].live || self.frames[frame as usize].parked != Parked::No
            {
                continue;
            }
            self.run_frame(frame);
            if let Some(outcome) = self.take_outcome() {
                return Poll::Done(outcome);
            }
            if !self.requests.is_empty() {
                // Hand requests out before running others, so that served-at-once tasks keep
                // the order of events AWS shows.
                break;
            }
        }
        Poll::Pending {
            wake_at: self.next_wake(),
        }
    }

    /// Moves the outcome out, leaving a copy without the output behind.
    fn take_outcome(&mut self) -> Option<Outcome> {
        let outcome = self.outcome.as_mut()?;
        let output = outcome.output.take();
        Some(Outcome {
            output,
            ..outcome.clone()
        })
    }

    /// Takes the task requests issued since the last call.
    pub fn take_requests(&mut self) -> Vec<TaskRequest<'p>> {
        std::mem::take(&mut self.requests)
    }

    /// Whether any frame is runnable now (a completed task, for instance).
    pub fn is_runnable(&self) -> bool {
        !self.queue.is_empty() || !self.requests.is_empty()
    }

    /// Hands back the result of a task request. Stale tickets (an aborted branch, a task
    /// that already timed out) are ignored.
    pub fn complete_task(&mut self, ticket: Ticket, result: Result<Value, Fault>, now_ms: i64) {
        self.now = self.now.max(now_ms);
        let Some(frame) = self.frames.get(ticket.frame as usize) else {
            return;
        };
        if !frame.live || frame.generation != ticket.generation {
            return;
        }
        let parked = frame.parked;
        match parked {
            Parked::Task { sequence, .. } if sequence == ticket.sequence => {}
            _ => return,
        }
        let f = ticket.frame;
        self.frames[f as usize].parked = Parked::No;
        let resource = self.current_resource(f);
        // A result that comes after a timer ran out is too late: the task timed out.
        if let Some((at, expiry)) = parked.task_expiry() {
            if self.now > at {
                self.task_timed_out(f, resource, expiry);
                self.resume_if_runnable(f);
                return;
            }
        }
        match result {
            Ok(value) => {
                match resource_kind(resource) {
                    ResourceKind::LambdaFunction => self.event(
                        Some(f),
                        "LambdaFunctionSucceeded",
                        |value: &Value| {
                            io_details("lambdaFunctionSucceededEventDetails", None, "output", value)
                        },
                        &value,
                    ),
                    ResourceKind::Service {
                        resource_type,
                        resource,
                    } => self.event(
                        Some(f),
                        "TaskSucceeded",
                        |value: &Value| {
                            let mut details =
                                io_details("taskSucceededEventDetails", None, "output", value);
                            details["taskSucceededEventDetails"]["resource"] = json!(resource);
                            details["taskSucceededEventDetails"]["resourceType"] =
                                json!(resource_type);
                            details
                        },
                        &value,
                    ),
                };
                self.frames[f as usize].work_bound = payload_size(&value);
                if let Some(single) = self.single.as_deref_mut() {
                    single.record("result", &value);
                }
                self.frames[f as usize].work = value;
            }
            Err(fault) => {
                let key = match resource_kind(resource) {
                    ResourceKind::LambdaFunction => {
                        ("LambdaFunctionFailed", "lambdaFunctionFailedEventDetails")
                    }
                    ResourceKind::Service { .. } => ("TaskFailed", "taskFailedEventDetails"),
                };
                self.event(
                    Some(f),
                    key.0,
                    |_: &Value| error_details(key.1, &fault.error, &fault.cause),
                    &Value::Null,
                );
                self.on_fault(f, fault);
                self.resume_if_runnable(f);
                return;
            }
        }
        self.queue.push_front(f);
    }

    /// Takes a heartbeat of a task request: its `HeartbeatSeconds` timer starts again. A
    /// heartbeat of a stale ticket (the task ended, timed out or was aborted), of a task
    /// without `HeartbeatSeconds`, or one that comes after the timer ran out is ignored.
    pub fn heartbeat_task(&mut self, ticket: Ticket, now_ms: i64) {
        self.now = self.now.max(now_ms);
        let now = self.now;
        let Some(frame) = self.frames.get_mut(ticket.frame as usize) else {
            return;
        };
        if !frame.live || frame.generation != ticket.generation {
            return;
        }
        if let Parked::Task {
            sequence,
            heartbeat: Some(timer),
            ..
        } = &mut frame.parked
        {
            if *sequence == ticket.sequence && now <= timer.due {
                timer.due = now.saturating_add(timer.period);
            }
        }
    }

    /// The history recorded so far (empty unless `Limits::record_history`).
    pub fn history(&self) -> &[HistoryEvent] {
        &self.history
    }

    /// The states entered so far, in every branch and iteration.
    pub fn transitions(&self) -> u64 {
        self.transitions
    }

    pub fn info(&self) -> &ExecutionInfo {
        &self.info
    }

    /// Ends the execution's life, giving back its identity and recorded history.
    pub fn into_parts(self) -> (ExecutionInfo, Vec<HistoryEvent>) {
        (self.info, self.history)
    }

    // ----- scheduling -----

    /// Makes a frame that runs `body`; a `detached` one runs a DISTRIBUTED Map iteration, a
    /// child execution with a history of its own.
    fn spawn(
        &mut self,
        body: Body,
        input: Value,
        bound: usize,
        parent: Option<(u32, u32)>,
        detached: bool,
    ) -> u32 {
        let entry = self.program.state(body.start).entry;
        let last_event = match parent {
            Some((frame, _)) if !detached => self.frames[frame as usize].last_event,
            _ => 0,
        };
        let history = parent.map_or(MAIN_HISTORY, |(frame, _)| {
            self.frames[frame as usize].history
        });
        let frame = Frame {
            generation: 0,
            live: true,
            pc: entry,
            state: body.start,
            input: Value::Null,
            work: input,
            input_bound: 0,
            work_bound: bound,
            saved_input: None,
            entered_event: 0,
            last_event,
            entered_ms: self.now,
            retries: Vec::new(),
            retry_total: 0,
            retry_pc: entry,
            chosen: body.start,
            parent,
            join: None,
            parked: Parked::No,
            task_sequence: 0,
            history,
            child_events: 1,
            vars: Vec::new(),
            pending: Vec::new(),
        };
        let index = match self.free.pop() {
            Some(index) => {
                let generation = self.frames[index as usize].generation.wrapping_add(1);
                self.frames[index as usize] = Frame {
                    generation,
                    ..frame
                };
                index
            }
            None => {
                self.frames.push(frame);
                (self.frames.len() - 1) as u32
            }
        };
        if detached {
            self.frames[index as usize].history = index;
        }
        self.queue.push_back(index);
        index
    }

    fn release(&mut self, frame: u32) {
        let slot = &mut self.frames[frame as usize];
        slot.live = false;
        slot.generation = slot.generation.wrapping_add(1);
        slot.join = None;
        slot.input = Value::Null;
        slot.work = Value::Null;
        self.free.push(frame);
    }

    /// Ends a frame and all its descendants without results.
    fn abort(&mut self, frame: u32) {
        if let Some(join) = self.frames[frame as usize].join.take() {
            for child in join.children {
                if self.frames[child as usize].live {
                    self.abort(child);
                }
            }
        }
        self.release(frame);
    }

    fn wake_due(&mut self) {
        for index in 0..self.frames.len() {
            let frame = &self.frames[index];
            if !frame.live {
                continue;
            }
            match frame.parked {
                Parked::Timer(at) if at <= self.now => {
                    self.frames[index].parked = Parked::No;
                    self.queue.push_back(index as u32);
                }
                parked @ Parked::Task { .. } => {
                    let Some((at, expiry)) = parked.task_expiry() else {
                        continue;
                    };
                    if at > self.now {
                        continue;
                    }
                    self.frames[index].parked = Parked::No;
                    let resource = self.current_resource(index as u32);
                    self.task_timed_out(index as u32, resource, expiry);
                    self.resume_if_runnable(index as u32);
                }
                _ => {}
            }
        }
    }

    fn next_wake(&self) -> Option<i64> {
        let mut wake = self.deadline;
        for frame in self.frames.iter().filter(|frame| frame.live) {
            let at = match frame.parked {
                Parked::Timer(at) => at,
                parked @ Parked::Task { .. } => match parked.task_expiry() {
                    Some((at, _)) => at,
                    None => continue,
                },
                _ => continue,
            };
            wake = Some(wake.map_or(at, |wake: i64| wake.min(at)));
        }
        wake
    }

    fn current_resource(&self, frame: u32) -> &'p str {
        let program: &'p Program = self.program;
        let pc = self.frames[frame as usize].retry_pc as usize;
        match program.ops.get(pc) {
            Some(Op::Invoke(index)) => &program.tasks[*index as usize].resource,
            _ => "",
        }
    }

    // ----- events -----

    /// Records an event (its id is counted even when history is off) and gives its id. An
    /// event of a DISTRIBUTED Map iteration belongs to that child execution: it is counted
    /// there and not recorded.
    fn event<F>(
        &mut self,
        frame: Option<u32>,
        event_type: &'static str,
        details: F,
        value: &Value,
    ) -> u64
    where
        F: FnOnce(&Value) -> Value,
    {
        if let Some(f) = frame {
            let history = self.frames[f as usize].history;
            if history != MAIN_HISTORY {
                let owner = &mut self.frames[history as usize];
                owner.child_events += 1;
                let id = owner.child_events;
                self.frames[f as usize].last_event = id;
                return id;
            }
        }
        self.next_event += 1;
        let id = self.next_event;
        let previous = match frame {
            Some(frame) => std::mem::replace(&mut self.frames[frame as usize].last_event, id),
            // The event before it in this execution's own history, kept or not.
            None => id - 1,
        };
        if self.keeps(event_type) {
            self.history.push(HistoryEvent {
                id,
                previous_event_id: previous,
                event_type,
                timestamp_ms: self.now,
                details: details(value),
            });
        }
        id
    }

    /// Whether events of `event_type` are kept in the history.
    #[inline]
    fn keeps(&self, event_type: &str) -> bool {
        self.limits.record_history && self.limits.history_level.includes(event_type)
    }

    // ----- the run loop -----

    fn run_frame(&mut self, f: u32) {
        let program: &'p Program = self.program;
        loop {
            let pc = self.frames[f as usize].pc;
            self.frames[f as usize].pc = pc + 1;
            let flow = match program.ops[pc as usize] {
                Op::Enter(state) => self.enter(f, state),
                Op::TakeInput => {
                    let frame = &mut self.frames[f as usize];
                    frame.work = std::mem::take(&mut frame.input);
                    frame.work_bound = frame.input_bound;
                    Flow::Continue
                }
                Op::CopyInput => {
                    let frame = &mut self.frames[f as usize];
                    frame.work = frame.input.clone();
                    frame.work_bound = frame.input_bound;
                    Flow::Continue
                }
                Op::InputPath(index) => {
                    self.select_into_work(f, &program.paths[index as usize], true)
                }
                Op::InputNull | Op::OutputNull => {
                    let frame = &mut self.frames[f as usize];
                    frame.work = Value::Object(JsonMap::new());
                    frame.work_bound = 2;
                    Flow::Continue
                }
                Op::Parameters(index, source) => {
                    self.build_payload(f, index, source == Source::Input)
                }
                Op::SelectParameters { path, payload } => {
                    self.select_parameters(f, &program.paths[path as usize], payload)
                }
                Op::Const(index) => {
                    let frame = &mut self.frames[f as usize];
                    frame.work = program.consts[index as usize].clone();
                    frame.work_bound = program.const_sizes[index as usize];
                    Flow::Continue
                }
                Op::Invoke(index) => self.invoke(f, pc, index),
                Op::Parallel(index) => self.start_parallel(f, pc, index),
                Op::Map(index) => self.start_map(f, pc, index),
                Op::Wait(index) => self.wait(f, index),
                Op::ResultSelector(index) => self.build_payload(f, index, false),
                Op::ResultPut(index) => {
                    let frame = &mut self.frames[f as usize];
                    let input = std::mem::take(&mut frame.input);
                    let result = std::mem::take(&mut frame.work);
                    let path = &program.paths[index as usize];
                    // The result lands under keys the path names (and nulls padding arrays).
                    let bound = frame
                        .input_bound
                        .saturating_add(frame.work_bound)
                        .saturating_add(4 * path.source().len() + 8);
                    match path.put(input, result) {
                        Ok(value) => {
                            let frame = &mut self.frames[f as usize];
                            frame.work = value;
                            frame.work_bound = bound;
                            Flow::Continue
                        }
                        Err(err) => {
                            self.taint();
                            Flow::Fault(Fault::new(
                                "States.ResultPathMatchFailure",
                                err.to_string(),
                            ))
                        }
                    }
                }
                Op::ResultDiscard => {
                    let frame = &mut self.frames[f as usize];
                    frame.work = std::mem::take(&mut frame.input);
                    frame.work_bound = frame.input_bound;
                    Flow::Continue
                }
                Op::OutputPath(index) => {
                    self.select_into_work(f, &program.paths[index as usize], false)
                }
                Op::Choice(index) => self.choose(f, index),
                Op::Next(next) => match self.exit(f) {
                    Ok(()) => Flow::Jump(next),
                    Err(fault) => Flow::Fault(fault),
                },
                Op::NextChosen => match self.exit(f) {
                    Ok(()) => Flow::Jump(self.frames[f as usize].chosen),
                    Err(fault) => Flow::Fault(fault),
                },
                Op::End => match self.exit(f) {
                    Ok(()) => Flow::Finish,
                    Err(fault) => Flow::Fault(fault),
                },
                Op::Fail(index) => self.fail_state(f, index),
                Op::Assign(index) => self.assign(f, index, true),
                Op::Output(index) => {
                    let built = self.in_result_scope(f, |scope| {
                        eval::build(&program.payloads[index as usize], scope)
                    });
                    self.set_built(f, index, usize::MAX, built)
                }
            };
            if let (Some(single), Flow::Continue) = (self.single.as_deref_mut(), &flow) {
                let work = &self.frames[f as usize].work;
                let jsonata = program.state(self.frames[f as usize].state).jsonata;
                match program.ops[pc as usize] {
                    // A JSONata state's stages are its input, `Arguments` and its result.
                    Op::Parameters(..) if jsonata => single.record("afterArguments", work),
                    _ if jsonata => {}
                    Op::TakeInput | Op::CopyInput | Op::InputPath(_) | Op::InputNull => {
                        single.record("afterInputPath", work)
                    }
                    Op::SelectParameters { path, .. } => {
                        let frame = &self.frames[f as usize];
                        if let Ok(selected) = program.paths[path as usize].select(&frame.input) {
                            single.record("afterInputPath", &selected);
                        }
                        single.record("afterParameters", work);
                    }
                    Op::Parameters(_, source) => {
                        if source == Source::Input
                            && !single
                                .stages
                                .iter()
                                .any(|(name, _)| *name == "afterInputPath")
                        {
                            single.record("afterInputPath", &self.frames[f as usize].input);
                        }
                        single.record("afterParameters", work);
                    }
                    Op::Const(_) => single.record("result", work),
                    Op::ResultSelector(_) => single.record("afterResultSelector", work),
                    Op::ResultPut(_) | Op::ResultDiscard => single.record("afterResultPath", work),
                    _ => {}
                }
            }
            match flow {
                Flow::Continue => {}
                Flow::Jump(state)
                    if self.single.is_some() && self.frames[f as usize].parent.is_none() =>
                {
                    if let Some(single) = self.single.as_deref_mut() {
                        single.next_state = Some(program.state(state).name.to_string());
                    }
                    let output = std::mem::take(&mut self.frames[f as usize].work);
                    self.finish_frame(f, Ok(output));
                    return;
                }
                Flow::Jump(state) => self.frames[f as usize].pc = program.state(state).entry,
                Flow::Park => return,
                Flow::Finish => {
                    let output = std::mem::take(&mut self.frames[f as usize].work);
                    self.finish_frame(f, Ok(output));
                    return;
                }
                Flow::Fault(fault) => {
                    self.on_fault(f, fault);
                    if !self.frames[f as usize].live
                        || self.outcome.is_some()
                        || self.frames[f as usize].parked != Parked::No
                    {
                        return;
                    }
                }
            }
        }
    }

    fn enter(&mut self, f: u32, state: StateId) -> Flow {
        let code = self.program.state(state);
        let frame = &mut self.frames[f as usize];
        frame.state = state;
        frame.input = std::mem::take(&mut frame.work);
        frame.input_bound = frame.work_bound;
        frame.entered_ms = self.now;
        frame.retry_total = 0;
        frame.retries.clear();
        frame.retries.resize(code.retry.len(), 0);
        frame.saved_input =
            (!code.retry.is_empty() || !code.catch.is_empty()).then(|| frame.input.clone());
        let (entered, _) = state_event_types(code.type_name);
        self.transitions += 1;
        let name = &code.name;
        let input = std::mem::take(&mut self.frames[f as usize].input);
        let id = self.event(
            Some(f),
            entered,
            |input: &Value| io_details("stateEnteredEventDetails", Some(name), "input", input),
            &input,
        );
        let frame = &mut self.frames[f as usize];
        frame.input = input;
        frame.entered_event = id;
        Flow::Continue
    }

    /// Leaves the current state: checks the output size and records `…StateExited`.
    fn exit(&mut self, f: u32) -> Result<(), Fault> {
        let code = self.program.state(self.frames[f as usize].state);
        let output = std::mem::take(&mut self.frames[f as usize].work);
        // A value prints in at least two bytes per level of nesting, so only an output whose
        // size bound is large can be too deep; the walk does not recurse.
        if self.frames[f as usize].work_bound > 2 * MAX_VALUE_DEPTH
            && crate::json::deeper_than(&output, MAX_VALUE_DEPTH)
        {
            return Err(self.runtime_fault(
                f,
                format_args!(
                    "The state's output is nested more than {MAX_VALUE_DEPTH} levels deep."
                ),
            ));
        }
        // The bound is cheap and usually far below the limit; measure only when it is not.
        let limit = self.limits.max_payload_bytes;
        if self.frames[f as usize].work_bound > limit {
            self.taint();
            let exact = payload_size(&output);
            self.frames[f as usize].work_bound = exact;
        }
        if self.frames[f as usize].work_bound > limit {
            return Err(Fault::new(
                "States.DataLimitExceeded",
                format!(
                    "The state/task '{}' returned a result with a size exceeding the maximum number of bytes service limit.",
                    code.name
                ),
            ));
        }
        let (_, exited) = state_event_types(code.type_name);
        let pending = std::mem::take(&mut self.frames[f as usize].pending);
        if code.type_name != "Fail" {
            let name = &code.name;
            self.event(
                Some(f),
                exited,
                |output: &Value| {
                    let mut details =
                        io_details("stateExitedEventDetails", Some(name), "output", output);
                    if !pending.is_empty() {
                        let mut assigned: Vec<(json::Str, Value)> = pending
                            .iter()
                            .map(|(name, value)| (name.clone(), Value::from(value.to_string())))
                            .collect();
                        assigned.sort_by(|a, b| a.0.cmp(&b.0));
                        assigned.dedup_by(|a, b| a.0 == b.0);
                        let exited = &mut details["stateExitedEventDetails"];
                        exited["assignedVariables"] = Value::Object(JsonMap::from_unique(assigned));
                        exited["assignedVariablesDetails"] = json!({"truncated": false});
                    }
                    details
                },
                &output,
            );
        }
        let frame = &mut self.frames[f as usize];
        for (name, value) in pending {
            match frame.vars.iter_mut().find(|(key, _)| *key == name) {
                Some(slot) => slot.1 = value,
                None => frame.vars.push((name, value)),
            }
        }
        frame.work = output;
        if frame.parent.is_none() {
            if let Some(single) = self.single.as_deref_mut() {
                single.variables.clone_from(&frame.vars);
            }
        }
        Ok(())
    }

    /// The cause prefix AWS puts before runtime errors.
    fn runtime_fault(&self, f: u32, message: impl std::fmt::Display) -> Fault {
        // The message may quote the state's input.
        self.taint();
        let frame = &self.frames[f as usize];
        let name = &self.program.state(frame.state).name;
        Fault::new(
            "States.Runtime",
            format!("An error occurred while executing the state '{name}' (entered at the event id #{}). {message}", frame.entered_event),
        )
    }

    /// A failed evaluation as the fault AWS reports, its cause prefixed with the state.
    fn eval_fault(&mut self, f: u32, err: EvalError) -> Fault {
        let mut fault = self.runtime_fault(f, err.message);
        fault.error = Some(err.name.to_string());
        if err.name == "States.QueryEvaluationError" {
            let state = &self.program.state(self.frames[f as usize].state).name;
            let mut details = vec![
                (
                    "cause",
                    Value::from(fault.cause.clone().unwrap_or_default()),
                ),
                ("error", Value::from(err.name)),
            ];
            if let Some(location) = &err.location {
                details.push(("location", Value::from(location.as_ref())));
            }
            details.push(("state", Value::from(state.as_ref())));
            let details = Value::Object(JsonMap::from_unique(
                details
                    .into_iter()
                    .map(|(key, value)| (key.into(), value))
                    .collect(),
            ));
            self.event(
                Some(f),
                "EvaluationFailed",
                |details: &Value| json!({"evaluationFailedEventDetails": details.clone()}),
                &details,
            );
        }
        fault
    }

    /// Runs `body` with a scope over frame `f`'s raw input or working value; the context
    /// object is built only if a path reads it. JSONata's `$states.input` is the raw input.
    fn in_scope<R>(&self, f: u32, from_input: bool, body: impl FnOnce(&Scope<'_>) -> R) -> R {
        let frame = &self.frames[f as usize];
        let make = || self.context(f);
        let scope = Scope::new(
            if from_input {
                &frame.input
            } else {
                &frame.work
            },
            &make,
        )
        .vars(self.vars(f))
        .states(&frame.input, None);
        body(&scope)
    }

    /// A scope over the working value as a state's result: JSONPath `$` and JSONata
    /// `$states.result` are the working value, `$states.input` the raw input.
    fn in_result_scope<R>(&self, f: u32, body: impl FnOnce(&Scope<'_>) -> R) -> R {
        let frame = &self.frames[f as usize];
        let make = || self.context(f);
        let scope = Scope::new(&frame.work, &make)
            .vars(self.vars(f))
            .states(&frame.input, Some(&frame.work));
        body(&scope)
    }

    fn vars(&self, f: u32) -> Vars<'_> {
        Vars {
            frames: &self.frames,
            frame: f,
        }
    }

    /// Evaluates an `Assign` payload; its values are set when the state leaves.
    fn assign(&mut self, f: u32, index: Index, as_result: bool) -> Flow {
        let payload = &self.program.payloads[index as usize];
        let built = if as_result {
            self.in_result_scope(f, |scope| eval::build(payload, scope))
        } else {
            self.in_scope(f, false, |scope| eval::build(payload, scope))
        };
        match built {
            Ok(value) => match self.set_pending(f, value) {
                Ok(()) => Flow::Continue,
                Err(fault) => Flow::Fault(fault),
            },
            Err(err) => Flow::Fault(self.eval_fault(f, err)),
        }
    }

    fn set_pending(&mut self, f: u32, assigned: Value) -> Result<(), Fault> {
        let Value::Object(fields) = assigned else {
            return Ok(());
        };
        if payload_size(&Value::Object(fields.clone())) > MAX_ASSIGN_BYTES {
            let name = &self.program.state(self.frames[f as usize].state).name;
            return Err(Fault::new(
                "States.DataLimitExceeded",
                format!("The state/task '{name}' assigned variables with a size exceeding the maximum number of bytes service limit."),
            ));
        }
        let frame = &mut self.frames[f as usize];
        for (name, value) in fields.iter() {
            match frame.pending.iter_mut().find(|(key, _)| key == name) {
                Some(slot) => slot.1 = value.clone(),
                None => frame.pending.push((name.clone(), value.clone())),
            }
        }
        Ok(())
    }

    /// The context object as a path sees it from frame `f`.
    fn context(&self, f: u32) -> Value {
        let frame = &self.frames[f as usize];
        let code = self.program.state(frame.state);
        use crate::json::object;
        let context = object([
            (
                "Execution",
                object([
                    ("Id", Value::from(self.info.arn())),
                    ("Input", self.input_copy.clone().unwrap_or(Value::Null)),
                    ("Name", Value::from(self.info.name.as_str())),
                    ("RoleArn", Value::from(self.info.machine.role_arn.as_str())),
                    (
                        "StartTime",
                        Value::from(crate::time::format_millis(self.info.start_ms)),
                    ),
                    ("RedriveCount", Value::from(0)),
                ]),
            ),
            (
                "State",
                object([
                    (
                        "EnteredTime",
                        Value::from(crate::time::format_millis(frame.entered_ms)),
                    ),
                    ("Name", Value::from(code.name.as_ref())),
                    ("RetryCount", Value::from(frame.retry_total)),
                ]),
            ),
            (
                "StateMachine",
                object([
                    ("Id", Value::from(self.info.machine.arn.as_str())),
                    ("Name", Value::from(self.info.machine.name.as_str())),
                ]),
            ),
        ]);
        match self
            .single
            .as_deref()
            .and_then(|single| single.context.as_ref())
        {
            Some(given) => overlay(context, given),
            None => context,
        }
    }

    fn select_into_work(&mut self, f: u32, path: &crate::path::Path, from_input: bool) -> Flow {
        let selected = self.in_scope(f, from_input, |scope| {
            path.resolve(scope).map(|value| value.into_owned())
        });
        match selected {
            Ok(value) => {
                let frame = &mut self.frames[f as usize];
                frame.work_bound = match path.root() {
                    crate::path::Root::Input if from_input => frame.input_bound,
                    crate::path::Root::Input => frame.work_bound,
                    _ => payload_size(&value),
                };
                frame.work = value;
                Flow::Continue
            }
            Err(err) => Flow::Fault(self.runtime_fault(f, err)),
        }
    }

    /// Builds a payload template (Parameters, ResultSelector) into the working value.
    fn build_payload(&mut self, f: u32, index: Index, from_input: bool) -> Flow {
        let built = self.in_scope(f, from_input, |scope| {
            eval::build(&self.program.payloads[index as usize], scope)
        });
        let frame = &self.frames[f as usize];
        let source_bound = if from_input {
            frame.input_bound
        } else {
            frame.work_bound
        };
        self.set_built(f, index, source_bound, built)
    }

    /// Parameters over what InputPath selects, read in place.
    fn select_parameters(&mut self, f: u32, path: &crate::path::Path, index: Index) -> Flow {
        let built = {
            let frame = &self.frames[f as usize];
            let make = || self.context(f);
            let scope = Scope::new(&frame.input, &make).vars(self.vars(f));
            match path.resolve(&scope) {
                Ok(selected) => {
                    let scope = Scope::new(selected.as_ref(), &make).vars(self.vars(f));
                    eval::build(&self.program.payloads[index as usize], &scope)
                }
                Err(err) => Err(err.to_string().into()),
            }
        };
        let source_bound = match path.root() {
            crate::path::Root::Input => self.frames[f as usize].input_bound,
            _ => usize::MAX,
        };
        self.set_built(f, index, source_bound, built)
    }

    /// Makes a built payload the working value; its size bound comes from the payload's bound
    /// over a source of `source_bound` bytes, or is measured (`usize::MAX`: no cheap bound).
    fn set_built(
        &mut self,
        f: u32,
        index: Index,
        source_bound: usize,
        built: Result<Value, EvalError>,
    ) -> Flow {
        match built {
            Ok(value) => {
                let bound = self.program.payload_bounds[index as usize];
                let work_bound = if bound.exact || source_bound == usize::MAX {
                    self.sizes.size(&value)
                } else {
                    bound.with_source(source_bound)
                };
                let frame = &mut self.frames[f as usize];
                frame.work_bound = work_bound;
                frame.work = value;
                Flow::Continue
            }
            Err(err) => Flow::Fault(self.eval_fault(f, err)),
        }
    }

    fn choose(&mut self, f: u32, index: Index) -> Flow {
        let choice = &self.program.choices[index as usize];
        let chosen = self.in_scope(f, false, |scope| {
            let mut chosen = Ok(None);
            for (position, (rule, next)) in choice.rules.iter().enumerate() {
                match eval::condition(rule, scope) {
                    Ok(true) => {
                        chosen = Ok(Some((position, *next)));
                        break;
                    }
                    Ok(false) => {}
                    Err(message) => {
                        chosen = Err(message);
                        break;
                    }
                }
            }
            chosen
        });
        match chosen {
            Ok(Some((position, next))) => {
                self.frames[f as usize].chosen = next;
                self.choice_extras(f, choice.extras.get(position).copied())
            }
            Ok(None) => match choice.default {
                Some(default) => {
                    self.frames[f as usize].chosen = default;
                    self.choice_extras(f, choice.extras.last().copied())
                }
                None => {
                    let name = &self.program.state(self.frames[f as usize].state).name;
                    Flow::Fault(Fault::new(
                        "States.NoChoiceMatched",
                        format!(
                            "No Matches! in the state '{name}' (entered at the event id #{}).",
                            self.frames[f as usize].entered_event
                        ),
                    ))
                }
            },
            Err(err) => Flow::Fault(self.eval_fault(f, err)),
        }
    }

    /// The `Assign` and `Output` of the Choice rule (or default) taken.
    fn choice_extras(&mut self, f: u32, extras: Option<(Option<Index>, Option<Index>)>) -> Flow {
        let Some((assign, output)) = extras else {
            return Flow::Continue;
        };
        if let Some(assign) = assign {
            if let Flow::Fault(fault) = self.assign(f, assign, false) {
                return Flow::Fault(fault);
            }
        }
        match output {
            Some(output) => {
                let built = self.in_scope(f, false, |scope| {
                    eval::build(&self.program.payloads[output as usize], scope)
                });
                self.set_built(f, output, usize::MAX, built)
            }
            None => Flow::Continue,
        }
    }

    fn fail_state(&mut self, f: u32, index: Index) -> Flow {
        let fail = &self.program.fails[index as usize];
        let texts = self.in_scope(f, true, |scope| {
            let error = fail
                .error
                .as_ref()
                .map(|text| eval::text(text, scope))
                .transpose();
            let cause = fail
                .cause
                .as_ref()
                .map(|text| eval::text(text, scope))
                .transpose();
            error.and_then(|error| cause.map(|cause| (error, cause)))
        });
        match texts {
            Ok((error, cause)) => {
                let fault = Fault { error, cause };
                self.finish_frame(f, Err(fault));
                Flow::Park
            }
            Err(err) => Flow::Fault(self.eval_fault(f, err)),
        }
    }

    // ----- waiting -----

    fn wait(&mut self, f: u32, index: Index) -> Flow {
        let wait = &self.program.waits[index as usize];
        let until: Result<i64, EvalError> = match wait {
            asl::Wait::SecondsJsonata(expression) => {
                match self.in_scope(f, false, |scope| eval::jsonata(expression, scope)) {
                    Ok(value) => match value.as_i64() {
                        Some(seconds) if seconds >= 0 => {
                            Ok(self.now.saturating_add(seconds.saturating_mul(1000)))
                        }
                        _ => Err(eval::unexpected(expression, "integer", &value)),
                    },
                    Err(err) => Err(err),
                }
            }
            asl::Wait::TimestampJsonata(expression) => {
                match self.in_scope(f, false, |scope| eval::jsonata(expression, scope)) {
                    Ok(value) => match value.as_str().and_then(crate::time::parse_timestamp) {
                        Some(timestamp) => Ok(timestamp.epoch_millis()),
                        None => Err(EvalError::at(expression, format!(
                            "The Timestamp field cannot be parsed as an ISO-8601 extended offset date-time format string: {}",
                            plain(&value)
                        ))),
                    },
                    Err(err) => Err(err),
                }
            }
            asl::Wait::Seconds(seconds) => Ok(self
                .now
                .saturating_add((*seconds as i64).saturating_mul(1000))),
            asl::Wait::Timestamp(timestamp, _) => Ok(timestamp.epoch_millis()),
            asl::Wait::SecondsPath(path) => {
                match self.in_scope(f, false, |scope| {
                    path.resolve(scope).map(|value| value.into_owned())
                }) {
                    Err(_) => Err(format!(
                        "The SecondsPath parameter does not reference an input value: {}",
                        path.source()
                    )
                    .into()),
                    Ok(value) => match value.as_i64() {
                        Some(seconds) if seconds >= 0 => {
                            Ok(self.now.saturating_add(seconds.saturating_mul(1000)))
                        }
                        _ => Err(format!(
                            "The SecondsPath parameter cannot be parsed as a long value: {} == {}",
                            path.source(),
                            plain(&value)
                        )
                        .into()),
                    },
                }
            }
            asl::Wait::TimestampPath(path) => {
                match self.in_scope(f, false, |scope| path.resolve(scope).map(|value| value.into_owned())) {
                    Err(_) => Err(format!("The TimestampPath parameter does not reference an input value: {}", path.source()).into()),
                    Ok(value) => match value.as_str().and_then(crate::time::parse_timestamp) {
                        Some(timestamp) => Ok(timestamp.epoch_millis()),
                        None => Err(format!(
                            "The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: {} == {}",
                            path.source(),
                            plain(&value)
                        )
                        .into()),
                    },
                }
            }
        };
        let until = match until {
            Ok(until) => until,
            Err(err) => return Flow::Fault(self.eval_fault(f, err)),
        };
        // AWS refuses delays past what a signed 32-bit count of seconds can hold.
        if until.saturating_sub(self.now) / 1000 > i64::from(i32::MAX) {
            return Flow::Fault(self.runtime_fault(f, "Wait state delay is too long."));
        }
        if until <= self.now {
            return Flow::Continue;
        }
        self.frames[f as usize].parked = Parked::Timer(until);
        Flow::Park
    }

    // ----- tasks -----

    /// Reads a number a `…Path` field points at in the working value; `read` converts it,
    /// and a value it refuses is reported as AWS words it ("not a valid integer").
    fn number_at<T>(
        &self,
        f: u32,
        path: &crate::path::Path,
        field: &str,
        kind: &str,
        read: impl Fn(&Value) -> Option<T>,
    ) -> Result<T, Fault> {
        let value = self
            .in_scope(f, false, |scope| {
                path.resolve(scope).map(|value| value.into_owned())
            })
            .map_err(|err| self.runtime_fault(f, err))?;
        // A variable holding a number as text is read as that number.
        let number_text = match (&value, path.root()) {
            (Value::String(text), crate::path::Root::Variable(_)) => {
                crate::json::from_str(text).ok().filter(Value::is_number)
            }
            _ => None,
        };
        read(number_text.as_ref().unwrap_or(&value)).ok_or_else(|| {
            self.runtime_fault(
                f,
                format!(
                    "The {field}Path field refers to value \"{}\" which is not a valid {kind}: {}",
                    plain(&value),
                    path.source()
                ),
            )
        })
    }

    fn seconds(&mut self, f: u32, seconds: &Seconds, field: &str) -> Result<u64, Fault> {
        match seconds {
            Seconds::Literal(value) => Ok(*value),
            Seconds::Path(path) => self.number_at(f, path, field, "integer", Value::as_u64),
            Seconds::Jsonata(expression) => {
                self.jsonata_number(f, expression, "integer", Value::as_u64)
            }
        }
    }

    /// A number a JSONata expression gives; `read` converts it.
    fn jsonata_number<T>(
        &mut self,
        f: u32,
        expression: &asl::Jsonata,
        kind: &str,
        read: impl Fn(&Value) -> Option<T>,
    ) -> Result<T, Fault> {
        let value = match self.in_scope(f, false, |scope| eval::jsonata(expression, scope)) {
            Ok(value) => value,
            Err(err) => return Err(self.eval_fault(f, err)),
        };
        match read(&value) {
            Some(number) => Ok(number),
            None => Err(self.eval_fault(f, eval::unexpected(expression, kind, &value))),
        }
    }

    fn invoke(&mut self, f: u32, pc: u32, index: Index) -> Flow {
        let program: &'p Program = self.program;
        let task = &program.tasks[index as usize];
        self.frames[f as usize].retry_pc = pc;
        let timeout = match task
            .timeout
            .as_ref()
            .map(|seconds| self.seconds(f, seconds, "TimeoutSeconds"))
            .transpose()
        {
            Ok(timeout) => timeout,
            Err(fault) => return Flow::Fault(fault),
        };
        let heartbeat = match task
            .heartbeat
            .as_ref()
            .map(|seconds| self.seconds(f, seconds, "HeartbeatSeconds"))
            .transpose()
        {
            Ok(heartbeat) => heartbeat,
            Err(fault) => return Flow::Fault(fault),
        };
        let state = self.frames[f as usize].state;
        if self.invocations.is_empty() {
            self.invocations = vec![0; program.states.len()];
        }
        let invocation = self.invocations[state.0 as usize];
        self.invocations[state.0 as usize] += 1;
        let parameters = self.frames[f as usize].work.clone();
        let resource: &'p str = &task.resource;
        match resource_kind(resource) {
            ResourceKind::LambdaFunction => {
                self.event(
                    Some(f),
                    "LambdaFunctionScheduled",
                    |parameters: &Value| {
                        let mut details = io_details(
                            "lambdaFunctionScheduledEventDetails",
                            None,
                            "input",
                            parameters,
                        );
                        details["lambdaFunctionScheduledEventDetails"]["resource"] =
                            json!(resource);
                        if let Some(timeout) = timeout {
                            details["lambdaFunctionScheduledEventDetails"]["timeoutInSeconds"] =
                                json!(timeout);
                        }
                        details
                    },
                    &parameters,
                );
                self.event(
                    Some(f),
                    "LambdaFunctionStarted",
                    |_: &Value| json!({}),
                    &Value::Null,
                );
            }
            ResourceKind::Service {
                resource_type,
                resource: short,
            } => {
                // Secret header values of an HTTP Task never reach the history.
                let secrets = (resource == crate::tasks::http::RESOURCE
                    && self.limits.record_history)
                    .then(|| Arc::clone(&self.limits.secret_headers));
                self.event(
                    Some(f),
                    "TaskScheduled",
                    |parameters: &Value| {
                        let parameters = match &secrets {
                            Some(secrets) => &crate::tasks::http::redact(parameters, secrets),
                            None => parameters,
                        };
                        let mut details = json!({"taskScheduledEventDetails": {
                            "parameters": parameters,
                            "region": "us-east-1",
                            "resource": short,
                            "resourceType": resource_type,
                        }});
                        if let Some(timeout) = timeout {
                            details["taskScheduledEventDetails"]["timeoutInSeconds"] =
                                json!(timeout);
                        }
                        if let Some(heartbeat) = heartbeat {
                            details["taskScheduledEventDetails"]["heartbeatInSeconds"] =
                                json!(heartbeat);
                        }
                        details
                    },
                    &parameters,
                );
                self.event(Some(f), "TaskStarted", |_: &Value| {
                    json!({"taskStartedEventDetails": {"resource": short, "resourceType": resource_type}})
                }, &Value::Null);
            }
        }
        let frame = &mut self.frames[f as usize];
        frame.task_sequence = frame.task_sequence.wrapping_add(1);
        let deadline = timeout.map(|seconds| {
            self.now
                .saturating_add((seconds as i64).saturating_mul(1000))
        });
        let heartbeat_ms = heartbeat.map(|seconds| seconds.saturating_mul(1000));
        frame.parked = Parked::Task {
            sequence: frame.task_sequence,
            deadline,
            heartbeat: heartbeat_ms.map(|ms| {
                let period = ms.min(i64::MAX as u64) as i64;
                HeartbeatTimer {
                    due: self.now.saturating_add(period),
                    period,
                }
            }),
        };
        let ticket = Ticket {
            frame: f,
            generation: frame.generation,
            sequence: frame.task_sequence,
        };
        self.requests.push(TaskRequest {
            ticket,
            state_name: &program.state(state).name,
            resource,
            parameters,
            invocation,
            deadline_ms: deadline,
            heartbeat_ms,
        });
        Flow::Park
    }

    /// Fails a task whose `TimeoutSeconds` ran out, or that went `HeartbeatSeconds` without a
    /// heartbeat. Both are `States.Timeout` in the history and to the caller, as AWS records
    /// them; a heartbeat time-out is also matched by `States.HeartbeatTimeout`
    /// ([`matches_error`]).
    fn task_timed_out(&mut self, f: u32, resource: &str, expiry: Expiry) {
        let fault = Fault {
            error: Some("States.Timeout".into()),
            cause: None,
        };
        let event = match resource_kind(resource) {
            ResourceKind::LambdaFunction => (
                "LambdaFunctionTimedOut",
                "lambdaFunctionTimedOutEventDetails",
            ),
            ResourceKind::Service { .. } => ("TaskTimedOut", "taskTimedOutEventDetails"),
        };
        self.event(
            Some(f),
            event.0,
            |_: &Value| error_details(event.1, &fault.error, &fault.cause),
            &Value::Null,
        );
        self.frames[f as usize].pc = self.frames[f as usize].retry_pc + 1;
        self.handle_fault(f, fault, expiry == Expiry::Heartbeat);
    }

    // ----- Parallel and Map -----

    fn start_parallel(&mut self, f: u32, pc: u32, index: Index) -> Flow {
        let program: &'p Program = self.program;
        let branches = &program.parallels[index as usize].branches;
        self.frames[f as usize].retry_pc = pc;
        self.event(
            Some(f),
            "ParallelStateStarted",
            |_: &Value| json!({}),
            &Value::Null,
        );
        let input = self.frames[f as usize].work.clone();
        let bound = self.frames[f as usize].work_bound;
        self.frames[f as usize].join = Some(Box::new(Join {
            is_map: false,
            distributed: false,
            results: vec![Value::Null; branches.len()],
            bound: 0,
            children: Vec::with_capacity(branches.len()),
            waiting: VecDeque::new(),
            body: program.top,
            running: branches.len(),
            finished: 0,
            failures: 0,
            tolerated_count: None,
            tolerated_percentage: None,
            max_concurrency: 0,
        }));
        for (slot, branch) in branches.iter().enumerate() {
            let child = self.spawn(*branch, input.clone(), bound, Some((f, slot as u32)), false);
            if let Some(join) = self.frames[f as usize].join.as_mut() {
                join.children.push(child);
            }
        }
        self.frames[f as usize].parked = Parked::Children;
        Flow::Park
    }

    fn tolerance(&mut self, f: u32, tolerance: &Tolerance, field: &str) -> Result<f64, Fault> {
        match tolerance {
            Tolerance::Literal(value) => Ok(*value),
            Tolerance::Path(path) if field == "ToleratedFailureCount" => {
                self.number_at(f, path, field, "integer", |value| {
                    value.as_u64().map(|count| count as f64)
                })
            }
            Tolerance::Path(path) => self.number_at(f, path, field, "percentage", |value| {
                value
                    .as_f64()
                    .filter(|percentage| (0.0..=100.0).contains(percentage))
            }),
            Tolerance::Jsonata(expression) if field == "ToleratedFailureCount" => self
                .jsonata_number(f, expression, "integer", |value| {
                    value.as_u64().map(|count| count as f64)
                }),
            Tolerance::Jsonata(expression) => {
                self.jsonata_number(f, expression, "number", |value| {
                    value
                        .as_f64()
                        .filter(|percentage| (0.0..=100.0).contains(percentage))
                })
            }
        }
    }

    fn start_map(&mut self, f: u32, pc: u32, index: Index) -> Flow {
        let program: &'p Program = self.program;
        let map = &program.maps[index as usize];
        self.frames[f as usize].retry_pc = pc;
        let items = match map.items_path {
            Some(path) => {
                let path = &program.paths[path as usize];
                match self.in_scope(f, false, |scope| {
                    path.resolve(scope).map(|value| value.into_owned())
                }) {
                    Ok(value) => value,
                    Err(err) => return Flow::Fault(self.runtime_fault(f, err)),
                }
            }
            None => match map.items {
                Some(items) => {
                    let payload = &program.payloads[items as usize];
                    match self.in_scope(f, false, |scope| eval::build(payload, scope)) {
                        Ok(value @ Value::Array(_)) => value,
                        Ok(other) => {
                            let err = match payload {
                                asl::Payload::Jsonata(expression) => {
                                    eval::unexpected(expression, "array", &other)
                                }
                                _ => EvalError::query(format!(
                                    "Map state input must be an array but was: {other}"
                                )),
                            };
                            return Flow::Fault(self.map_items_fault(f, err));
                        }
                        Err(err) => return Flow::Fault(self.map_items_fault(f, err)),
                    }
                }
                None => self.frames[f as usize].work.clone(),
            },
        };
        let Value::Array(items) = items else {
            let message = format!("Map state input must be an array but was: {}", items);
            if program.state(self.frames[f as usize].state).jsonata {
                return Flow::Fault(self.map_items_fault(f, EvalError::query(message)));
            }
            return Flow::Fault(self.runtime_fault(f, message));
        };
        let max_concurrency = match map
            .max_concurrency
            .as_ref()
            .map(|seconds| self.seconds(f, seconds, "MaxConcurrency"))
            .transpose()
        {
            Ok(value) => value.unwrap_or(0) as usize,
            Err(fault) => return Flow::Fault(fault),
        };
        let length = items.len();
        self.event(
            Some(f),
            "MapStateStarted",
            |_: &Value| json!({"mapStateStartedEventDetails": {"length": length}}),
            &Value::Null,
        );
        // AWS reads the tolerated failures once the map has started.
        let tolerated_count = match map
            .tolerated_failure_count
            .as_ref()
            .map(|t| self.tolerance(f, t, "ToleratedFailureCount"))
            .transpose()
        {
            Ok(value) => value.map(|count| count as u64),
            Err(fault) => return Flow::Fault(fault),
        };
        let tolerated_percentage = match map
            .tolerated_failure_percentage
            .as_ref()
            .map(|t| self.tolerance(f, t, "ToleratedFailurePercentage"))
            .transpose()
        {
            Ok(value) => value,
            Err(fault) => return Flow::Fault(fault),
        };
        if map.distributed {
            self.map_run_started(f);
        }
        if items.is_empty() {
            if map.distributed {
                self.event(
                    Some(f),
                    "MapRunSucceeded",
                    |_: &Value| json!({}),
                    &Value::Null,
                );
            }
            self.event(
                Some(f),
                "MapStateSucceeded",
                |_: &Value| json!({}),
                &Value::Null,
            );
            self.frames[f as usize].work = Value::from(Vec::new());
            return Flow::Continue;
        }
        self.frames[f as usize].join = Some(Box::new(Join {
            is_map: true,
            distributed: map.distributed,
            results: vec![Value::Null; length],
            bound: 0,
            children: Vec::new(),
            waiting: items
                .into_iter()
                .enumerate()
                .map(|(index, item)| (index as u32, item))
                .collect(),
            body: map.processor,
            running: 0,
            finished: 0,
            failures: 0,
            tolerated_count,
            tolerated_percentage,
            max_concurrency,
        }));
        self.frames[f as usize].parked = Parked::Children;
        if let Err(fault) = self.start_iterations(f, index) {
            self.abort_children(f);
            return Flow::Fault(fault);
        }
        Flow::Park
    }

    /// A JSONata Map state's items that could not be read: the map fails before it starts.
    fn map_items_fault(&mut self, f: u32, err: EvalError) -> Fault {
        let fault = self.eval_fault(f, err);
        self.event(
            Some(f),
            "MapStateFailed",
            |_: &Value| json!({}),
            &Value::Null,
        );
        fault
    }

    /// Starts Map iterations while MaxConcurrency allows.
    fn start_iterations(&mut self, f: u32, map_index: Index) -> Result<(), Fault> {
        let program: &'p Program = self.program;
        let map = &program.maps[map_index as usize];
        let name: &'p str = &program.state(self.frames[f as usize].state).name;
        let mut context: Option<Value> = None;
        loop {
            let Some(join) = self.frames[f as usize].join.as_mut() else {
                return Ok(());
            };
            if join.max_concurrency != 0 && join.running >= join.max_concurrency {
                return Ok(());
            }
            let Some((index, item)) = join.waiting.pop_front() else {
                return Ok(());
            };
            join.running += 1;
            let body = join.body;
            let (input, bound) = match map.item_selector {
                Some(selector) => {
                    let built = {
                        let frame = &self.frames[f as usize];
                        if program.uses_context {
                            // One context object for all iterations; only Map.Item changes.
                            let context = context.get_or_insert_with(|| self.context(f));
                            context["Map"] = crate::json::object([(
                                "Item",
                                crate::json::object([
                                    ("Index", Value::from(index)),
                                    ("Value", item.clone()),
                                ]),
                            )]);
                            let scope = Scope::with_context(&frame.work, context)
                                .vars(self.vars(f))
                                .states(&frame.input, None);
                            eval::build(&program.payloads[selector as usize], &scope)
                        } else {
                            self.in_scope(f, false, |scope| {
                                eval::build(&program.payloads[selector as usize], scope)
                            })
                        }
                    };
                    let input = built.map_err(|err| self.eval_fault(f, err))?;
                    let bound = payload_size(&input);
                    (input, bound)
                }
                None => {
                    // An item is part of the Map's input.
                    let bound = self.frames[f as usize].work_bound;
                    (item, bound)
                }
            };
            if !map.distributed {
                self.event(Some(f), "MapIterationStarted", |_: &Value| {
                    json!({"mapIterationStartedEventDetails": {"index": index, "name": name}})
                }, &Value::Null);
            }
            let child = self.spawn(body, input, bound, Some((f, index)), map.distributed);
            if let Some(join) = self.frames[f as usize].join.as_mut() {
                join.children.push(child);
            }
        }
    }

    fn abort_children(&mut self, f: u32) {
        if let Some(join) = self.frames[f as usize].join.take() {
            for child in join.children {
                if self.frames[child as usize].live {
                    self.abort(child);
                }
            }
        }
    }

    /// A child frame ended: record its result in the parent's join.
    fn child_finished(
        &mut self,
        parent: u32,
        slot: u32,
        result: Result<Value, Fault>,
        bound: usize,
    ) {
        let program: &'p Program = self.program;
        let name: &'p str = &program.state(self.frames[parent as usize].state).name;
        let Some(join) = self.frames[parent as usize].join.as_mut() else {
            return;
        };
        join.running -= 1;
        join.finished += 1;
        let is_map = join.is_map;
        let distributed = join.distributed;
        // A DISTRIBUTED Map's iterations are child executions: no iteration events here.
        let iteration_events = is_map && !distributed;
        match result {
            Ok(value) => {
                join.results[slot as usize] = value;
                join.bound = join.bound.saturating_add(bound + 1);
                if iteration_events {
                    self.event(Some(parent), "MapIterationSucceeded", |_: &Value| {
                        json!({"mapIterationSucceededEventDetails": {"index": slot, "name": name}})
                    }, &Value::Null);
                }
            }
            Err(fault) => {
                join.failures += 1;
                let total = join.results.len();
                let tolerated = is_map
                    && (join.tolerated_count.is_some() || join.tolerated_percentage.is_some())
                    && join
                        .tolerated_count
                        .is_none_or(|count| join.failures as u64 <= count)
                    && join
                        .tolerated_percentage
                        .is_none_or(|pct| (join.failures as f64) * 100.0 / (total as f64) <= pct);
                let has_tolerance =
                    join.tolerated_count.is_some() || join.tolerated_percentage.is_some();
                if iteration_events {
                    self.event(Some(parent), "MapIterationFailed", |_: &Value| {
                        json!({"mapIterationFailedEventDetails": {"index": slot, "name": name}})
                    }, &Value::Null);
                }
                if tolerated {
                    if let Some(join) = self.frames[parent as usize].join.as_mut() {
                        let output = error_output(&fault);
                        join.bound = join.bound.saturating_add(payload_size(&output) + 1);
                        join.results[slot as usize] = output;
                    }
                } else {
                    self.abort_children(parent);
                    let fault = if has_tolerance {
                        Fault::new(
                            "States.ExceedToleratedFailureThreshold",
                            "The specified tolerated failure threshold was exceeded",
                        )
                    } else {
                        fault
                    };
                    if distributed {
                        self.event(
                            Some(parent),
                            "MapRunFailed",
                            |_: &Value| json!({}),
                            &Value::Null,
                        );
                    }
                    // A state that is retried starts again (…StateStarted) without having
                    // failed in the history.
                    if !self.will_retry(parent, &fault) {
                        let failed = if is_map {
                            "MapStateFailed"
                        } else {
                            "ParallelStateFailed"
                        };
                        self.event(Some(parent), failed, |_: &Value| json!({}), &Value::Null);
                    }
                    self.frames[parent as usize].parked = Parked::No;
                    self.on_fault(parent, fault);
                    self.resume_if_runnable(parent);
                    return;
                }
            }
        }
        let Some(join) = self.frames[parent as usize].join.as_ref() else {
            return;
        };
        if join.finished == join.results.len() {
            let join = self.frames[parent as usize].join.take().map(|join| *join);
            if let Some(join) = join {
                for child in &join.children {
                    if self.frames[*child as usize].live {
                        self.release(*child);
                    }
                }
                if distributed {
                    self.event(
                        Some(parent),
                        "MapRunSucceeded",
                        |_: &Value| json!({}),
                        &Value::Null,
                    );
                }
                let succeeded = if is_map {
                    "MapStateSucceeded"
                } else {
                    "ParallelStateSucceeded"
                };
                self.event(Some(parent), succeeded, |_: &Value| json!({}), &Value::Null);
                let frame = &mut self.frames[parent as usize];
                frame.work = Value::from(join.results);
                frame.work_bound = join.bound + 2;
                frame.parked = Parked::No;
                self.queue.push_front(parent);
            }
        } else if is_map {
            let map_index = match program.ops[self.frames[parent as usize].retry_pc as usize] {
                Op::Map(index) => index,
                _ => return,
            };
            if let Err(fault) = self.start_iterations(parent, map_index) {
                self.abort_children(parent);
                self.frames[parent as usize].parked = Parked::No;
                self.on_fault(parent, fault);
                self.resume_if_runnable(parent);
            }
        }
    }

    /// Records MapRunStarted for the DISTRIBUTED Map frame `f` is in.
    fn map_run_started(&mut self, f: u32) {
        // The details borrow the execution's identity, so they are made before the event,
        // and only when they are kept.
        let details = if self.keeps("MapRunStarted") {
            let info = &self.info;
            let machine = &info.machine;
            let frame = &self.frames[f as usize];
            let state_name = &self.program.state(frame.state).name;
            let run = execution_id(
                &format!("{}#{}", info.name, frame.entered_event),
                info.start_ms,
            );
            let arn = format!(
                "arn:aws:states:{}:{}:mapRun:{}/{state_name}:{run}",
                machine.region, machine.account, machine.name
            );
            json!({"mapRunStartedEventDetails": {"mapRunArn": arn}})
        } else {
            Value::Null
        };
        self.event(Some(f), "MapRunStarted", |_: &Value| details, &Value::Null);
    }

    /// Whether `on_fault` will retry the current state of frame `f` on `fault`.
    fn will_retry(&self, f: u32, fault: &Fault) -> bool {
        let error = fault.error.as_deref().unwrap_or("");
        if error == "States.Runtime" {
            return false;
        }
        let frame = &self.frames[f as usize];
        let code = self.program.state(frame.state);
        code.retry
            .iter()
            .position(|retrier| matches_error(&retrier.error_equals, error, false))
            .is_some_and(|position| {
                frame.retries.get(position).copied().unwrap_or(0)
                    < code.retry[position].max_attempts
            })
    }

    // ----- faults -----

    /// Puts a frame that was handed a result back at the front of the queue, unless it ended
    /// or waits (a retry back-off).
    fn resume_if_runnable(&mut self, f: u32) {
        let frame = &self.frames[f as usize];
        if self.outcome.is_none() && frame.live && frame.parked == Parked::No {
            self.queue.push_front(f);
        }
    }

    /// Applies the current state's Retry and Catch to a fault, or ends the frame with it.
    /// It never queues the frame: a caller outside the run loop uses `resume_if_runnable`.
    fn on_fault(&mut self, f: u32, fault: Fault) {
        self.handle_fault(f, fault, false);
    }

    /// Retries, catches or passes on a state's error; `heartbeat` says the error is a task's
    /// heartbeat time-out, which `States.HeartbeatTimeout` matches too.
    fn handle_fault(&mut self, f: u32, fault: Fault, heartbeat: bool) {
        let program: &'p Program = self.program;
        let error = fault.error.as_deref().unwrap_or("");
        if error == "States.Runtime" {
            self.finish_execution(Err(fault));
            return;
        }
        // What the failed attempt assigned is dropped.
        self.frames[f as usize].pending.clear();
        let state = self.frames[f as usize].state;
        let code = program.state(state);
        if let Some(position) = code
            .retry
            .iter()
            .position(|retrier| matches_error(&retrier.error_equals, error, heartbeat))
        {
            let retrier = &code.retry[position];
            let attempts = self.frames[f as usize].retries[position];
            if attempts < retrier.max_attempts {
                let mut delay = retrier.interval_ms as f64
                    * retrier.backoff_rate.powi(attempts.min(1000) as i32);
                if let Some(max_delay) = retrier.max_delay_ms {
                    delay = delay.min(max_delay as f64);
                }
                if retrier.full_jitter {
                    delay *= fastrand::f64();
                }
                if self.frames[f as usize].parent.is_none() {
                    if let Some(single) = self.single.as_deref_mut() {
                        single.status = Some(SingleStatus::Retriable);
                        single.retry = Some((position, delay / 1000.0));
                        self.finish_execution(Err(fault));
                        return;
                    }
                }
                let frame = &mut self.frames[f as usize];
                frame.retries[position] += 1;
                frame.retry_total += 1;
                // A retry runs the state again from its input processing, so Parameters see
                // the new $$.State.RetryCount; no new Entered event is recorded.
                frame.pc = code.entry + 1;
                if let Some(saved) = &frame.saved_input {
                    frame.input = saved.clone();
                }
                frame.work_bound = frame.input_bound;
                frame.parked = Parked::Timer(self.now.saturating_add(delay.min(1e15) as i64));
                return;
            }
        }
        if let Some(catcher) = code
            .catch
            .iter()
            .find(|catcher| matches_error(&catcher.error_equals, error, heartbeat))
        {
            let output = error_output(&fault);
            let frame = &mut self.frames[f as usize];
            let input = match frame.saved_input.take() {
                Some(saved) => saved,
                None => std::mem::take(&mut frame.input),
            };
            let mut bound = frame
                .input_bound
                .saturating_add(payload_size(&output))
                .saturating_add(catcher.result_path.as_ref().map_or(0, |path| match path {
                    ResultPath::Path(path) => 4 * path.source().len() + 8,
                    ResultPath::Discard => 0,
                }));
            // The catcher's Assign and (JSONata) Output read the error output
            // (`$` or `$states.errorOutput`) and the state's input.
            let mut caught_output = None;
            if catcher.assign.is_some() || catcher.output.is_some() {
                let built = {
                    let make = || self.context(f);
                    let scope = Scope::new(&output, &make)
                        .vars(self.vars(f))
                        .states(&input, None)
                        .error_output(&output);
                    let assign = catcher
                        .assign
                        .map(|index| eval::build(&program.payloads[index as usize], &scope))
                        .transpose();
                    let built_output = catcher
                        .output
                        .map(|index| eval::build(&program.payloads[index as usize], &scope))
                        .transpose();
                    assign.and_then(|assign| built_output.map(|out| (assign, out)))
                };
                match built {
                    Ok((assign, built_output)) => {
                        if let Some(assign) = assign {
                            if let Err(fault) = self.set_pending(f, assign) {
                                self.finish_execution(Err(fault));
                                return;
                            }
                        }
                        caught_output = built_output;
                    }
                    Err(err) => {
                        let fault = self.eval_fault(f, err);
                        self.finish_frame(f, Err(fault));
                        return;
                    }
                }
            }
            let merged = match (&catcher.result_path, caught_output) {
                (_, Some(built)) => {
                    bound = payload_size(&built);
                    Ok(built)
                }
                (None, None) => Ok(output),
                (Some(ResultPath::Discard), None) => Ok(input),
                (Some(ResultPath::Path(path)), None) => path.put(input, output),
            };
            match merged {
                Ok(value) => {
                    self.frames[f as usize].work = value;
                    self.frames[f as usize].work_bound = bound;
                    if let Err(fault) = self.exit(f) {
                        self.finish_execution(Err(fault));
                        return;
                    }
                    if self.frames[f as usize].parent.is_none() {
                        if let Some(single) = self.single.as_deref_mut() {
                            single.status = Some(SingleStatus::CaughtError);
                            single.next_state = Some(program.state(catcher.next).name.to_string());
                            single.catch_index = code
                                .catch
                                .iter()
                                .position(|other| std::ptr::eq(other, catcher));
                            let output = std::mem::take(&mut self.frames[f as usize].work);
                            self.finish_frame(f, Ok(output));
                            return;
                        }
                    }
                    self.frames[f as usize].pc = program.state(catcher.next).entry;
                }
                Err(err) => {
                    self.taint();
                    let fault = Fault::new("States.ResultPathMatchFailure", err.to_string());
                    self.finish_frame(f, Err(fault));
                }
            }
            return;
        }
        self.finish_frame(f, Err(fault));
    }

    fn finish_frame(&mut self, f: u32, result: Result<Value, Fault>) {
        match self.frames[f as usize].parent {
            None => self.finish_execution(result),
            Some((parent, slot)) => {
                let bound = self.frames[f as usize].work_bound;
                self.release(f);
                self.child_finished(parent, slot, result, bound);
            }
        }
    }

    fn finish_execution(&mut self, result: Result<Value, Fault>) {
        if self.outcome.is_some() {
            return;
        }
        let outcome = match result {
            Ok(output) => {
                self.event(
                    None,
                    "ExecutionSucceeded",
                    |output: &Value| {
                        io_details("executionSucceededEventDetails", None, "output", output)
                    },
                    &output,
                );
                Outcome {
                    status: Status::Succeeded,
                    output: Some(output),
                    error: None,
                    cause: None,
                }
            }
            Err(fault) => {
                self.event(
                    None,
                    "ExecutionFailed",
                    |_: &Value| {
                        error_details("executionFailedEventDetails", &fault.error, &fault.cause)
                    },
                    &Value::Null,
                );
                Outcome {
                    status: Status::Failed,
                    output: None,
                    error: fault.error,
                    cause: fault.cause,
                }
            }
        };
        self.outcome = Some(outcome);
        self.queue.clear();
        self.requests.clear();
    }

    fn time_out(&mut self) {
        if self.outcome.is_some() {
            return;
        }
        self.event(
            None,
            "ExecutionTimedOut",
            |_: &Value| json!({"executionTimedOutEventDetails": {}}),
            &Value::Null,
        );
        self.outcome = Some(timed_out());
        self.queue.clear();
        self.requests.clear();
    }
}

fn timed_out() -> Outcome {
    Outcome {
        status: Status::TimedOut,
        output: None,
        error: None,
        cause: None,
    }
}

/// The error output a catcher receives.
fn error_output(fault: &Fault) -> Value {
    let mut object = JsonMap::new();
    if let Some(error) = &fault.error {
        object.insert("Error", Value::from(error.clone()));
    }
    if let Some(cause) = &fault.cause {
        object.insert("Cause", Value::from(cause.clone()));
    }
    Value::Object(object)
}

/// Whether a retrier's or catcher's `ErrorEquals` matches an error name; `heartbeat` says the
/// error is a task's heartbeat time-out. That one is named `States.Timeout` (so
/// `States.Timeout` and `States.ALL` match it, `States.TaskFailed` does not), and
/// `States.HeartbeatTimeout` matches it and no other time-out.
pub(crate) fn matches_error(error_equals: &[String], error: &str, heartbeat: bool) -> bool {
    error_equals.iter().any(|name| match name.as_str() {
        "States.ALL" => !TERMINAL_ERRORS.contains(&error),
        "States.TaskFailed" => {
            error != "States.Timeout" && !TERMINAL_ERRORS.contains(&error) && !error.is_empty()
        }
        "States.HeartbeatTimeout" => heartbeat || error == "States.HeartbeatTimeout",
        other => other == error,
    })
}

/// `base` with `given` put over it: objects merged field by field (recursively), anything
/// else replaced.
fn overlay(base: Value, given: &Value) -> Value {
    match (base, given) {
        (Value::Object(mut fields), Value::Object(over)) => {
            for (name, value) in over.iter() {
                let merged = match fields.get(name.as_str()) {
                    Some(current) => overlay(current.clone(), value),
                    None => value.clone(),
                };
                fields.insert(name.clone(), merged);
            }
            Value::Object(fields)
        }
        (_, given) => given.clone(),
    }
}

/// A value as AWS quotes it in messages: strings bare, everything else as JSON.
fn plain(value: &Value) -> String {
    match value {
        Value::String(text) => text.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_ids_have_the_uuid_layout_they_always_had() {
        for (name, start_ms) in [("local", 0i64), ("stdin-0-42", 1_713_959_670_680), ("", -5)] {
            let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
            for byte in name.bytes().chain(start_ms.to_le_bytes()) {
                hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
            }
            let low = hash.rotate_left(29).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            let formatted = format!(
                "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
                hash >> 32,
                (hash >> 16) & 0xffff,
                hash & 0x0fff,
                0x8000 | (low >> 48) & 0x3fff,
                low & 0xffff_ffff_ffff
            );
            assert_eq!(execution_id(name, start_ms), formatted);
        }
        let info = ExecutionInfo {
            name: "run".into(),
            machine: Arc::new(MachineIdentity::new("SM", "eu-west-1", "1")),
            start_ms: 7,
        };
        assert_eq!(
            info.arn(),
            format!(
                "arn:aws:states:eu-west-1:1:express:SM:run:{}",
                execution_id("run", 7)
            )
        );
    }
}
