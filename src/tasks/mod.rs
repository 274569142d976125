//! Task resources: the `TaskHandler` trait the VM's Task requests are served through, and
//! its implementations (MockConfigFile responses, native Rust closures).

use crate::json::Value;

pub mod mock;
pub mod native;

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

/// Serves Task invocations. Implementations must be cheap to call from worker threads.
pub trait TaskHandler: Send + Sync {
    /// Serves one invocation; `None` means this handler does not serve the call, and the
    /// next handler in a chain is asked.
    fn invoke(&self, call: &TaskCall<'_>) -> Option<Result<Value, Fault>>;
}

/// Asks each handler in turn; the first that answers wins.
pub struct Chain(pub Vec<Box<dyn TaskHandler>>);

impl TaskHandler for Chain {
    fn invoke(&self, call: &TaskCall<'_>) -> Option<Result<Value, Fault>> {
        self.0.iter().find_map(|handler| handler.invoke(call))
    }
}
