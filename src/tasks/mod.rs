//! Task resources: the `TaskHandler` trait the VM's Task requests are served through, and
//! its implementations (MockConfigFile responses, native Rust closures, and the real
//! integrations: HTTP Task and Lambda invoke, whose IO runs on an async runtime).
//!
//! A handler either answers at once (`invoke`, the synchronous path: no allocation, no
//! channel) or starts the work and answers later through a [`Reply`] (`dispatch` returning
//! [`Dispatch::Started`]); the driver then suspends the execution until the reply comes back
//! on its completion channel. Work that runs long sends heartbeats the same way
//! ([`Reply::heartbeat`]), which a Task state with `HeartbeatSeconds` requires.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::Sender;

use crate::json::Value;
use crate::vm::Ticket;

pub mod client;
pub mod http;
pub mod lambda;
pub mod mock;
pub mod native;

pub use client::{IoRuntime, Outbound};
pub use http::HttpHandler;
pub use lambda::LambdaHandler;
pub use mock::{MockConfig, MockHandler};
pub use native::NativeHandlers;

/// An ASL runtime error as data: what Retry and Catch match against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The error name (`States.Timeout`, `Lambda.Unknown`, a user name). `None` only for a Fail
    /// state without `Error`.
    pub error: Option<String>,
    /// The cause text; `None` when none was given.
    pub cause: Option<String>,
}

impl Fault {
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Fault {
        Fault {
            error: Some(error.into()),
            cause: Some(cause.into()),
        }
    }
}

/// One invocation of a Task state's resource.
#[derive(Debug, Clone)]
pub struct TaskCall<'a> {
    /// Name of the Task state.
    pub state_name: &'a str,
    /// The `Resource` ARN as written in the definition.
    pub resource: &'a str,
    /// The effective parameters (after InputPath and Parameters).
    pub parameters: &'a Value,
    /// How many times this state has been invoked before in this execution (retries count),
    /// across Map iterations and Parallel branches: the MockConfigFile invocation index.
    pub invocation: u32,
    /// Name of the execution's state machine (the MockConfigFile `StateMachines` key).
    pub state_machine: &'a str,
}

/// A message of an asynchronous invocation to the driver that started it: its result, or a
/// heartbeat.
#[derive(Debug)]
pub struct Completion {
    /// The driver's name for the execution (see [`ReplyTo::key`]).
    pub key: u64,
    /// The task request this is about.
    pub ticket: Ticket,
    pub event: TaskEvent,
}

/// What an asynchronous invocation reports.
#[derive(Debug)]
pub enum TaskEvent {
    /// The work is still going: the Task state's `HeartbeatSeconds` timer starts again.
    Heartbeat,
    /// The work ended with this result.
    Done(Result<Value, Fault>),
}

/// Where the result of an asynchronous invocation goes: the driver's completion channel,
/// and how long the work may take in real time.
///
/// Borrowed, so a handler that answers at once costs its driver nothing; a handler that
/// goes asynchronous takes an owned [`Reply`] with [`ReplyTo::reply`].
pub struct ReplyTo<'a> {
    pub sender: &'a Sender<Completion>,
    /// The driver's name for the execution the request belongs to.
    pub key: u64,
    pub ticket: Ticket,
    /// Real time left before the Task state's `TimeoutSeconds` runs out, if it has one.
    pub timeout: Option<Duration>,
    /// The Task state's `HeartbeatSeconds` in real time, if it has one: the longest the work
    /// may go without a heartbeat ([`Reply::heartbeat`]) before the task times out.
    pub heartbeat: Option<Duration>,
    /// Where the call's HTTP exchange goes when the driver asks for it (TestState at
    /// TRACE); `None` for ordinary executions, which capture nothing.
    pub trace: Option<&'a Trace>,
}

impl ReplyTo<'_> {
    /// The owned handle the asynchronous work answers through.
    pub fn reply(&self) -> Reply {
        Reply {
            sender: Some(self.sender.clone()),
            key: self.key,
            ticket: self.ticket,
            heartbeat: self.heartbeat,
        }
    }

    /// The real time the work may take before its first timer runs out: `TimeoutSeconds`,
    /// or `HeartbeatSeconds` for work that sends no heartbeats (an HTTP call, a Lambda
    /// invocation).
    pub fn silent_limit(&self) -> Option<Duration> {
        match (self.timeout, self.heartbeat) {
            (Some(timeout), Some(heartbeat)) => Some(timeout.min(heartbeat)),
            (timeout, heartbeat) => timeout.or(heartbeat),
        }
    }
}

/// The answer channel of one asynchronous invocation. Exactly one result is delivered: the
/// one sent, or, if the handle is dropped unsent (the work was cancelled or panicked), a
/// `States.TaskFailed` fault, so an execution never waits for a result that cannot come.
/// Before that, the work may send any number of heartbeats.
pub struct Reply {
    sender: Option<Sender<Completion>>,
    key: u64,
    ticket: Ticket,
    heartbeat: Option<Duration>,
}

impl Reply {
    pub fn send(mut self, result: Result<Value, Fault>) {
        self.deliver(result);
    }

    /// Tells the driver the work is still going, which starts the Task state's
    /// `HeartbeatSeconds` timer again. A heartbeat that comes after the task timed out, or
    /// of a task without `HeartbeatSeconds`, is ignored.
    pub fn heartbeat(&self) {
        if let Some(sender) = &self.sender {
            let _ = sender.send(Completion {
                key: self.key,
                ticket: self.ticket,
                event: TaskEvent::Heartbeat,
            });
        }
    }

    /// A handle that sends this invocation's heartbeats from elsewhere (another thread, a
    /// timer), cloneable; heartbeats it sends after the result are ignored.
    pub fn heartbeats(&self) -> Heartbeat {
        Heartbeat {
            sender: self.sender.clone(),
            key: self.key,
            ticket: self.ticket,
        }
    }

    /// The Task state's `HeartbeatSeconds` in real time, if it has one: the longest the work
    /// may go without a heartbeat.
    pub fn heartbeat_interval(&self) -> Option<Duration> {
        self.heartbeat
    }

    fn deliver(&mut self, result: Result<Value, Fault>) {
        if let Some(sender) = self.sender.take() {
            // A driver that is gone no longer wants the result.
            let _ = sender.send(Completion {
                key: self.key,
                ticket: self.ticket,
                event: TaskEvent::Done(result),
            });
        }
    }
}

/// Sends the heartbeats of one asynchronous invocation ([`Reply::heartbeats`]).
#[derive(Clone)]
pub struct Heartbeat {
    sender: Option<Sender<Completion>>,
    key: u64,
    ticket: Ticket,
}

impl Heartbeat {
    /// Tells the driver the work is still going (see [`Reply::heartbeat`]).
    pub fn beat(&self) {
        if let Some(sender) = &self.sender {
            let _ = sender.send(Completion {
                key: self.key,
                ticket: self.ticket,
                event: TaskEvent::Heartbeat,
            });
        }
    }
}

/// The HTTP request and response of a task call, as TestState shows them at TRACE
/// (`inspectionData.request`: `protocol`, `method`, `url`, `headers`, `body`;
/// `inspectionData.response`: `protocol`, `statusCode`, `statusMessage`, `headers`, `body`;
/// every value a string).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exchange {
    pub request: Option<Value>,
    /// `None` when no response came.
    pub response: Option<Value>,
}

/// Where handlers put the HTTP exchange of a traced call. A driver hands one to its task
/// calls only when asked (TestState at TRACE), so ordinary executions capture nothing.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    inner: Arc<TraceInner>,
}

#[derive(Debug, Default)]
struct TraceInner {
    reveal_secrets: bool,
    exchange: Mutex<Exchange>,
}

impl Trace {
    /// A trace that shows secret header values masked, or as they are with `reveal_secrets`
    /// (TestState's `revealSecrets`).
    pub fn new(reveal_secrets: bool) -> Trace {
        Trace {
            inner: Arc::new(TraceInner {
                reveal_secrets,
                exchange: Mutex::new(Exchange::default()),
            }),
        }
    }

    /// Whether secret header values are shown.
    pub fn reveals_secrets(&self) -> bool {
        self.inner.reveal_secrets
    }

    /// Records the request of a new exchange (the last call's is what is shown).
    pub fn record_request(&self, request: Value) {
        let mut exchange = self.lock();
        *exchange = Exchange {
            request: Some(request),
            response: None,
        };
    }

    /// Records the response of the exchange.
    pub fn record_response(&self, response: Value) {
        self.lock().response = Some(response);
    }

    /// The last exchange recorded.
    pub fn exchange(&self) -> Exchange {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Exchange> {
        // An exchange is plain data: one left by a panicking writer is still readable.
        self.inner
            .exchange
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        self.deliver(Err(Fault::new(
            "States.TaskFailed",
            "the task's work ended without a result",
        )));
    }
}

/// How a handler took an invocation.
#[derive(Debug)]
pub enum Dispatch {
    /// Answered at once.
    Ready(Result<Value, Fault>),
    /// Started; the result comes later through the [`Reply`] taken from the [`ReplyTo`].
    Started,
}

/// Serves Task invocations. Implementations must be cheap to call from worker threads.
pub trait TaskHandler: Send + Sync {
    /// Serves one invocation at once; `None` means this handler does not serve the call,
    /// and the next handler in a chain is asked. A handler whose work is IO may block here
    /// until it is done; drivers that can suspend executions call `dispatch` instead.
    fn invoke(&self, call: &TaskCall<'_>) -> Option<Result<Value, Fault>>;

    /// Serves one invocation, answering at once or starting work that answers through
    /// `reply` later; `None` means this handler does not serve the call. The default answers
    /// with `invoke`, so synchronous handlers keep their direct path.
    fn dispatch(&self, call: &TaskCall<'_>, reply: &ReplyTo<'_>) -> Option<Dispatch> {
        let _ = reply;
        self.invoke(call).map(Dispatch::Ready)
    }
}

/// Asks each handler in turn; the first that answers wins.
pub struct Chain(pub Vec<Box<dyn TaskHandler>>);

impl TaskHandler for Chain {
    fn invoke(&self, call: &TaskCall<'_>) -> Option<Result<Value, Fault>> {
        self.0.iter().find_map(|handler| handler.invoke(call))
    }

    fn dispatch(&self, call: &TaskCall<'_>, reply: &ReplyTo<'_>) -> Option<Dispatch> {
        self.0
            .iter()
            .find_map(|handler| handler.dispatch(call, reply))
    }
}

impl<T: TaskHandler + ?Sized> TaskHandler for std::sync::Arc<T> {
    fn invoke(&self, call: &TaskCall<'_>) -> Option<Result<Value, Fault>> {
        (**self).invoke(call)
    }

    fn dispatch(&self, call: &TaskCall<'_>, reply: &ReplyTo<'_>) -> Option<Dispatch> {
        (**self).dispatch(call, reply)
    }
}

/// Runs an asynchronous handler's work to its end on the calling thread: the blocking
/// `invoke` of handlers whose work is IO.
pub(crate) fn invoke_blocking(
    handler: &dyn TaskHandler,
    call: &TaskCall<'_>,
) -> Option<Result<Value, Fault>> {
    let (sender, receiver) = crossbeam_channel::bounded(1);
    let reply = ReplyTo {
        sender: &sender,
        key: 0,
        ticket: Ticket::detached(),
        timeout: None,
        heartbeat: None,
        trace: None,
    };
    match handler.dispatch(call, &reply)? {
        Dispatch::Ready(result) => Some(result),
        Dispatch::Started => loop {
            match receiver.recv() {
                Ok(Completion {
                    event: TaskEvent::Done(result),
                    ..
                }) => return Some(result),
                Ok(Completion {
                    event: TaskEvent::Heartbeat,
                    ..
                }) => continue,
                Err(_) => {
                    return Some(Err(Fault::new(
                        "States.TaskFailed",
                        "the task's work ended without a result",
                    )))
                }
            }
        },
    }
}

/// The real integrations' settings: the HTTP Task's and Lambda's, and the threads of the async
/// runtime they share.
#[derive(Debug, Clone, Default)]
pub struct Integrations {
    pub io_threads: usize,
    pub http: http::HttpSettings,
    pub lambda: lambda::LambdaSettings,
}

impl Integrations {
    /// Starts the shared runtime and gives the HTTP Task and Lambda handlers, to be chained
    /// after any mock.
    pub fn start(self) -> std::io::Result<Vec<Box<dyn TaskHandler>>> {
        let io = IoRuntime::start(self.io_threads)?;
        Ok(vec![
            Box::new(HttpHandler::new(std::sync::Arc::clone(&io), self.http)),
            Box::new(LambdaHandler::new(io, self.lambda)),
        ])
    }

    /// Whether a program has a Task these integrations serve (else no runtime is needed).
    pub fn serve_any(program: &crate::compile::Program) -> bool {
        program
            .tasks
            .iter()
            .any(|task| &*task.resource == http::RESOURCE || lambda::serves(&task.resource))
    }
}
