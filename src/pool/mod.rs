//! The worker pool: worker threads run executions of one program; jobs come in and results
//! go out through lock-free channels. Knows nothing of Kafka.
//!
//! Each worker owns the executions it started. An execution that waits (a Wait state, a retry
//! back-off) is parked on the worker's timer heap and resumed when due, so it never holds the
//! thread; the worker keeps taking new jobs meanwhile. Task requests are served through the
//! pool's `TaskHandler`: one answered at once is completed at once; one started on an
//! asynchronous handler (HTTP, Lambda) suspends its execution, whose result comes back on the
//! worker's completion channel and resumes it; a heartbeat on that channel starts the task's
//! `HeartbeatSeconds` timer again and re-parks the execution until its new wake time. A panic
//! inside one execution fails that execution, not the worker.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::json::Value;
use crossbeam_channel::{bounded, unbounded, Receiver, Select, Sender, TryRecvError};

use crate::clock::Clock;
use crate::compile::fold::Printed;
use crate::compile::Program;
use crate::exec::{stalled, step, ExecOptions, Outstanding, Replies, Step};
use crate::logs::sink::{LogHandle, LogWriter};
use crate::tasks::{Completion, TaskHandler};
use crate::telemetry::WorkerMetrics;
use crate::vm::{Execution, ExecutionInfo, LogLevel, MachineIdentity, Status};

/// A worker thread's stack: room to print, measure and drop values nested
/// [`crate::vm::MAX_VALUE_DEPTH`] deep (recursively) many times over. Only the pages a deep
/// value touches are ever committed.
const WORKER_STACK: usize = 64 << 20;

/// One event to run an execution on.
#[derive(Debug, Clone)]
pub struct Job {
    /// The caller's handle on the job (e.g. a packed partition and offset).
    pub id: u64,
    /// The execution's name.
    pub name: String,
    /// The execution input as JSON text.
    pub payload: Vec<u8>,
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The execution succeeded with this output (compact JSON).
    Succeeded { output: Vec<u8> },
    /// The execution failed or timed out.
    Failed {
        status: Status,
        error: Option<String>,
        cause: Option<String>,
    },
    /// The event could not start an execution (invalid JSON, too large).
    Rejected { reason: String },
}

/// A finished job; `payload` is the job's input, handed back for dead letters.
#[derive(Debug, Clone)]
pub struct Finished {
    pub id: u64,
    pub name: String,
    pub verdict: Verdict,
    pub payload: Vec<u8>,
}

/// How the pool runs executions.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub workers: usize,
    /// Jobs a worker's queue holds before `submit` blocks (backpressure).
    pub queue_per_worker: usize,
    /// Execution settings (state machine name, limits, time scale); `name` is per job.
    pub execution: ExecOptions,
    /// Runs no execution: every event's payload comes back as its output. For measuring
    /// the pipe around the engine (`stepstream run --no-op`).
    pub no_op: bool,
    /// Where the log records of ended executions go; none by default. With a sink, each
    /// execution keeps the history events of the sink's level, and a worker hands on the
    /// results of a round only after that round's records are with the sink.
    pub logs: Option<LogHandle>,
}

impl Default for PoolOptions {
    fn default() -> PoolOptions {
        PoolOptions {
            workers: std::thread::available_parallelism().map_or(1, |count| count.get()),
            queue_per_worker: 64,
            execution: ExecOptions::default(),
            no_op: false,
            logs: None,
        }
    }
}

/// A running pool.
pub struct Pool {
    senders: Vec<Sender<Vec<Job>>>,
    results: Receiver<Finished>,
    workers: Vec<JoinHandle<()>>,
    next: usize,
}

impl Pool {
    /// Starts the worker threads. The program lives as long as the process.
    pub fn start(
        program: &'static Program,
        options: PoolOptions,
        tasks: Arc<dyn TaskHandler>,
    ) -> Pool {
        let workers = options.workers.max(1);
        let (result_sender, results) = unbounded();
        let mut senders = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        let machine = options.execution.machine();
        let mut execution = options.execution.clone();
        let mut log_data = false;
        if let Some(logs) = &options.logs {
            execution.record_history = logs.level() != LogLevel::Off;
            execution.history_level = logs.level();
            log_data = execution.record_history && logs.includes_execution_data();
        }
        // Records with payloads must show the whole input: a projected execution that logs
        // one runs again on all of it. At ALL every execution logs, so none is projected.
        let project = program.input_fields.is_some()
            && !(log_data && execution.history_level == LogLevel::All);
        for index in 0..workers {
            let (sender, receiver) = bounded::<Vec<Job>>(options.queue_per_worker.max(1));
            senders.push(sender);
            let (completion_sender, completions) = unbounded();
            let worker = Worker {
                program,
                options: execution.clone(),
                project,
                log_data,
                log: options.logs.as_ref().map(LogHandle::writer),
                held: Vec::new(),
                machine: Arc::clone(&machine),
                no_op: options.no_op,
                tasks: Arc::clone(&tasks),
                jobs: receiver,
                results: result_sender.clone(),
                parked: BinaryHeap::new(),
                slots: Vec::new(),
                metrics: WorkerMetrics::new(),
                epoch: Instant::now(),
                free: Vec::new(),
                sequence: 0,
                completion_sender,
                completions,
                awaiting: HashMap::new(),
                keys: 0,
            };
            let handle = std::thread::Builder::new()
                .name(format!("stepstream-worker-{index}"))
                .stack_size(WORKER_STACK)
                .spawn(move || worker.run())
                .expect("the operating system refused to start a worker thread");
            handles.push(handle);
        }
        Pool {
            senders,
            results,
            workers: handles,
            next: 0,
        }
    }

    /// Hands a batch of jobs to the next worker; blocks while its queue is full.
    pub fn submit(&mut self, jobs: Vec<Job>) {
        if jobs.is_empty() {
            return;
        }
        let index = self.next % self.senders.len();
        self.next = self.next.wrapping_add(1);
        // A worker only goes away when the pool is dropped; a send error cannot happen here.
        let _ = self.senders[index].send(jobs);
    }

    /// The finished jobs, in the order they finish.
    pub fn results(&self) -> &Receiver<Finished> {
        &self.results
    }

    /// Stops taking jobs, lets the workers finish what they hold, and waits for them.
    /// Results still arrive on `results` until every worker is done.
    pub fn close(self) -> Receiver<Finished> {
        drop(self.senders);
        for worker in self.workers {
            let _ = worker.join();
        }
        self.results
    }
}

/// An execution the worker holds while it waits.
struct InFlight {
    /// When the execution started, for the duration metric.
    started: Instant,
    /// Whether its input was projected (fields left out).
    projected: bool,
    id: u64,
    name: String,
    payload: Vec<u8>,
    execution: Execution<'static>,
    clock: Clock,
    /// The worker's name for the execution, which its task completions carry.
    key: u64,
    /// Task requests asynchronous handlers are working on.
    io: Outstanding,
    /// The sequence number of the execution's live entry on the timer heap (0: none).
    timer: u64,
}

struct Worker {
    program: &'static Program,
    options: ExecOptions,
    /// Whether executions start on the program's input projection.
    project: bool,
    /// Whether log records carry payloads (so must not come from a projected input).
    log_data: bool,
    /// The log records of ended executions, handed to the sink at the end of each round.
    log: Option<LogWriter>,
    /// Results held until their log records are with the sink (only with a log writer).
    held: Vec<Finished>,
    /// The state machine's identity, made once for all executions.
    machine: Arc<MachineIdentity>,
    no_op: bool,
    tasks: Arc<dyn TaskHandler>,
    jobs: Receiver<Vec<Job>>,
    results: Sender<Finished>,
    /// (real deadline, tie-breaker, slot) of parked executions.
    parked: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    slots: Vec<Option<InFlight>>,
    metrics: WorkerMetrics,
    /// A fixed instant standing in for start times when metrics are off.
    epoch: Instant,
    free: Vec<usize>,
    sequence: u64,
    /// Where asynchronous task results come back.
    completion_sender: Sender<Completion>,
    completions: Receiver<Completion>,
    /// Slots of the executions that wait for task completions, by key.
    awaiting: HashMap<u64, usize>,
    keys: u64,
}

impl Worker {
    fn run(mut self) {
        let mut open = true;
        while open || self.has_timers() || !self.awaiting.is_empty() {
            // The fast path: a batch is waiting.
            let received = if open {
                match self.jobs.try_recv() {
                    Ok(batch) => Some(Ok(batch)),
                    Err(TryRecvError::Disconnected) => Some(Err(())),
                    Err(TryRecvError::Empty) => None,
                }
            } else {
                None
            };
            let received = match received {
                Some(received) => Some(received),
                None => self.wait(open),
            };
            match received {
                Some(Ok(batch)) => {
                    for job in batch {
                        self.start(job);
                    }
                }
                Some(Err(())) => open = false,
                None => {}
            }
            while let Ok(done) = self.completions.try_recv() {
                self.complete(done);
            }
            self.resume_due();
            self.end_round();
        }
        self.end_round();
    }

    /// Hands the round's log records to the sink, then the results they belong to.
    fn end_round(&mut self) {
        if let Some(log) = &mut self.log {
            log.flush();
            for finished in self.held.drain(..) {
                let _ = self.results.send(finished);
            }
        }
        self.metrics.flush();
    }

    /// Whether any execution waits for a timer; drops the stale entries on top of the heap.
    fn has_timers(&mut self) -> bool {
        while let Some(Reverse((_, sequence, slot))) = self.parked.peek().copied() {
            if self.timer_is_live(sequence, slot) {
                return true;
            }
            self.parked.pop();
        }
        false
    }

    /// Whether a timer entry is still its execution's: an execution resumed by a task
    /// completion and parked again has a new one, and an ended one none.
    fn timer_is_live(&self, sequence: u64, slot: usize) -> bool {
        self.slots[slot]
            .as_ref()
            .is_some_and(|flight| flight.timer == sequence)
    }

    /// Blocks until a batch of jobs (when `open`), a task completion or the next timer comes.
    /// Completions are handled here; a batch is handed back (`Err` when the queue closed).
    fn wait(&mut self, open: bool) -> Option<Result<Vec<Job>, ()>> {
        self.has_timers();
        let deadline = self
            .parked
            .peek()
            .map(|Reverse((deadline, _, _))| *deadline);
        let mut select = Select::new();
        let completions = select.recv(&self.completions);
        let jobs = open.then(|| select.recv(&self.jobs));
        let operation = match deadline {
            Some(deadline) => select.select_deadline(deadline).ok()?,
            None => select.select(),
        };
        let index = operation.index();
        if index == completions {
            if let Ok(done) = operation.recv(&self.completions) {
                self.complete(done);
            }
            None
        } else if Some(index) == jobs {
            Some(operation.recv(&self.jobs).map_err(|_| ()))
        } else {
            None
        }
    }

    /// Hands a task completion to the execution waiting for it and runs that execution on.
    fn complete(&mut self, done: Completion) {
        let Some(&slot) = self.awaiting.get(&done.key) else {
            // The execution has ended (a timeout, a failed branch): nothing waits for it.
            return;
        };
        if let Some(flight) = self.slots[slot].take() {
            self.drive(flight, Some(slot), Some(done));
        }
    }

    fn start(&mut self, job: Job) {
        let Job { id, name, payload } = job;
        if self.no_op {
            self.finish(id, name, Vec::new(), Verdict::Succeeded { output: payload });
            return;
        }
        if payload.len() > self.options.max_payload_bytes {
            let reason = format!(
                "the event has {} bytes, more than the payload limit of {} bytes",
                payload.len(),
                self.options.max_payload_bytes
            );
            self.finish(id, name, payload, Verdict::Rejected { reason });
            return;
        }
        self.begin(id, name, payload, self.project, true);
    }

    /// Parses the event and starts its execution: with the program's input projection when
    /// `project` (see [`Program::input_fields`]), else on the whole input; `first` unless it
    /// runs again.
    fn begin(&mut self, id: u64, name: String, payload: Vec<u8>, project: bool, first: bool) {
        let program = self.program;
        let parsed = match &program.input_fields {
            Some(fields) if project => crate::json::from_slice_keeping(&payload, fields),
            _ => crate::json::from_slice(&payload).map(|input| (input, false)),
        };
        let (input, projected) = match parsed {
            Ok(parsed) => parsed,
            Err(err) => {
                let reason = format!("the event is not valid JSON: {err}");
                self.finish(id, name, payload, Verdict::Rejected { reason });
                return;
            }
        };
        if first {
            // A second start on the whole input is the same execution.
            self.metrics.started();
            if let Some(folded) = &program.folded {
                let started = self.metrics.enabled.then(Instant::now);
                let bound = crate::json::size_bound(payload.len());
                let limit = self.options.max_payload_bytes;
                let logging = self
                    .options
                    .record_history
                    .then_some(self.options.history_level);
                let run = || folded.run_printed(&input, bound, limit, logging);
                match catch_unwind(AssertUnwindSafe(run)) {
                    Ok(Some((outcome, transitions))) => {
                        let verdict = match outcome {
                            Printed::Output(output) => Verdict::Succeeded { output },
                            Printed::Failed { error, cause } => Verdict::Failed {
                                status: Status::Failed,
                                error,
                                cause,
                            },
                        };
                        if let Some(started) = started {
                            self.metrics.ended(&verdict, transitions, started.elapsed());
                        }
                        self.finish(id, name, payload, verdict);
                        return;
                    }
                    // The interpreter runs it.
                    Ok(None) => {}
                    Err(panic) => {
                        self.finish(id, name, payload, internal_error(&panic));
                        return;
                    }
                }
            }
        }
        let payload_len = payload.len();
        let clock = self.options.clock();
        let options = &self.options;
        let machine = &self.machine;
        let started = catch_unwind(AssertUnwindSafe(|| {
            let info = ExecutionInfo {
                name: name.clone(),
                machine: Arc::clone(machine),
                start_ms: clock.now(),
            };
            Execution::from_raw(
                program,
                input,
                payload_len,
                projected,
                info,
                options.limits(),
            )
        }));
        self.keys += 1;
        let key = self.keys;
        match started {
            Ok(execution) => self.drive(
                InFlight {
                    projected,
                    started: if self.metrics.enabled {
                        Instant::now()
                    } else {
                        self.epoch
                    },
                    id,
                    name,
                    payload,
                    execution,
                    clock,
                    key,
                    io: Outstanding::default(),
                    timer: 0,
                },
                None,
                None,
            ),
            Err(panic) => self.finish(id, name, payload, internal_error(&panic)),
        }
    }

    /// Runs an execution until it ends (reported) or waits (parked): first handing it `done`,
    /// a task completion, if given. `slot` is where the execution lives while it waits, kept
    /// for its whole life once it has one, so its completions can find it.
    fn drive(&mut self, mut flight: InFlight, slot: Option<usize>, done: Option<Completion>) {
        let tasks = Arc::clone(&self.tasks);
        let state_machine = self.options.state_machine_name.clone();
        let replies = Replies {
            sender: &self.completion_sender,
            key: flight.key,
            trace: None,
        };
        let polled = catch_unwind(AssertUnwindSafe(|| {
            if let Some(done) = done {
                flight
                    .io
                    .complete(&mut flight.execution, &mut flight.clock, done);
            }
            loop {
                let stopped = step(
                    &mut flight.execution,
                    &flight.clock,
                    tasks.as_ref(),
                    &state_machine,
                    &replies,
                    &mut flight.io,
                );
                flight.clock.set_live(!flight.io.is_empty());
                match stopped {
                    Step::Done(outcome) => return Ok(outcome),
                    // A virtual clock jumps; a scaled one (or a virtual one while task IO is
                    // outstanding) parks the execution until then.
                    Step::Wait(at) if flight.clock.real_wait(at).is_none() => {
                        flight.clock.advance_to(at)
                    }
                    Step::Wait(at) => return Err(Some(at)),
                    Step::Stalled if flight.io.is_empty() => return Ok(stalled()),
                    Step::Stalled => return Err(None),
                }
            }
        }));
        match polled {
            // The left-out fields of the input could have mattered: run it on the whole input.
            Ok(Ok(_))
                if flight.execution.is_tainted()
                    || flight.projected
                        && self.log_data
                        && !flight.execution.history().is_empty() =>
            {
                self.release(&flight, slot);
                self.begin(flight.id, flight.name, flight.payload, false, false)
            }
            Ok(Ok(outcome)) => {
                self.release(&flight, slot);
                if let Some(log) = &mut self.log {
                    let history = flight.execution.history();
                    if !history.is_empty() {
                        log.write(&flight.execution.info().arn(), history);
                    }
                }
                let verdict = match outcome.status {
                    Status::Succeeded => Verdict::Succeeded {
                        output: crate::json::to_vec(&outcome.output.unwrap_or(Value::Null)),
                    },
                    status => Verdict::Failed {
                        status,
                        error: outcome.error,
                        cause: outcome.cause,
                    },
                };
                if self.metrics.enabled {
                    self.metrics.ended(
                        &verdict,
                        flight.execution.transitions(),
                        flight.started.elapsed(),
                    );
                }
                self.finish(flight.id, flight.name, flight.payload, verdict);
            }
            Ok(Err(wake_at)) => self.park(flight, wake_at, slot),
            Err(panic) => {
                self.release(&flight, slot);
                self.finish(
                    flight.id,
                    flight.name,
                    flight.payload,
                    internal_error(&panic),
                )
            }
        }
    }

    /// Gives up an ended execution's slot; its late completions are dropped.
    fn release(&mut self, flight: &InFlight, slot: Option<usize>) {
        if let Some(slot) = slot {
            self.slots[slot] = None;
            self.free.push(slot);
        }
        if !self.awaiting.is_empty() {
            self.awaiting.remove(&flight.key);
        }
    }

    /// Parks a waiting execution until its clock reaches its wake time (if it has one) or a
    /// task completion comes for it.
    fn park(&mut self, mut flight: InFlight, wake_at: Option<i64>, slot: Option<usize>) {
        let slot = match slot {
            Some(slot) => slot,
            None => match self.free.pop() {
                Some(slot) => slot,
                None => {
                    self.slots.push(None);
                    self.slots.len() - 1
                }
            },
        };
        flight.timer = 0;
        if let Some(wake_at) = wake_at {
            let deadline =
                Instant::now() + flight.clock.real_wait(wake_at).unwrap_or(Duration::ZERO);
            self.sequence += 1;
            flight.timer = self.sequence;
            self.parked.push(Reverse((deadline, self.sequence, slot)));
        }
        self.settle(flight, slot);
        // Executions resumed by task completions leave their old entries behind: drop them
        // once they outnumber the live ones (at most one per slot in use).
        let in_use = self.slots.len() - self.free.len();
        if self.parked.len() > 2 * in_use + 1024 {
            let slots = &self.slots;
            self.parked.retain(|Reverse((_, sequence, slot))| {
                slots[*slot]
                    .as_ref()
                    .is_some_and(|flight| flight.timer == *sequence)
            });
        }
    }

    /// Puts a parked execution in its slot, findable by its completions if it awaits any.
    fn settle(&mut self, flight: InFlight, slot: usize) {
        if flight.io.is_empty() {
            if !self.awaiting.is_empty() {
                self.awaiting.remove(&flight.key);
            }
        } else {
            self.awaiting.insert(flight.key, slot);
        }
        self.slots[slot] = Some(flight);
    }

    fn resume_due(&mut self) {
        let now = Instant::now();
        while let Some(Reverse((deadline, sequence, slot))) = self.parked.peek().copied() {
            if deadline > now {
                break;
            }
            self.parked.pop();
            // An entry is stale when its execution was resumed (and re-parked) since.
            if self.timer_is_live(sequence, slot) {
                if let Some(flight) = self.slots[slot].take() {
                    self.drive(flight, Some(slot), None);
                }
            }
        }
    }

    fn finish(&mut self, id: u64, name: String, payload: Vec<u8>, verdict: Verdict) {
        let finished = Finished {
            id,
            name,
            verdict,
            payload,
        };
        if self.log.is_some() {
            self.held.push(finished);
            return;
        }
        // The receiver lives as long as the pool's owner wants results.
        let _ = self.results.send(finished);
    }
}

fn internal_error(panic: &Box<dyn std::any::Any + Send>) -> Verdict {
    let message = panic
        .downcast_ref::<&str>()
        .map(|text| text.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    Verdict::Failed {
        status: Status::Failed,
        error: Some("States.Runtime".into()),
        cause: Some(format!("internal error in stepstream: {message}")),
    }
}
