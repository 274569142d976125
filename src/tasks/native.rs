//! Native Rust closures as Task resources, looked up by the exact `Resource` ARN: ones that
//! answer at once, and asynchronous ones that start work answering later through a [`Reply`]
//! (and send heartbeats meanwhile, for Task states with `HeartbeatSeconds`).

use std::collections::HashMap;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};

use crate::json::Value;

use super::{invoke_blocking, Dispatch, Fault, Reply, ReplyTo, TaskCall, TaskHandler};

/// A native task: receives the effective parameters and returns the task result or a fault.
pub type NativeFn = Box<dyn Fn(&Value) -> Result<Value, Fault> + Send + Sync>;

/// An asynchronous native task: receives the effective parameters and the [`Reply`] to
/// answer through. It must not block: it starts the work (a thread, a task on a runtime)
/// and returns; the work sends its heartbeats and result through the reply.
pub type NativeAsyncFn = Box<dyn Fn(&Value, Reply) + Send + Sync>;

/// A registered closure.
enum Native {
    Sync(NativeFn),
    Async(NativeAsyncFn),
}

/// Task handlers written in Rust, keyed by resource ARN.
///
/// A call whose resource has no registered closure is left to the next handler (`None`).
/// A closure that panics fails the task with `States.TaskFailed` and the panic message as
/// the cause, as a crashed function would, instead of unwinding through the engine.
#[derive(Default)]
pub struct NativeHandlers {
    handlers: HashMap<String, Native>,
}

impl NativeHandlers {
    pub fn new() -> NativeHandlers {
        NativeHandlers::default()
    }

    /// Adds (or replaces) the closure serving `resource`; builder style.
    pub fn register<F>(mut self, resource: impl Into<String>, handler: F) -> NativeHandlers
    where
        F: Fn(&Value) -> Result<Value, Fault> + Send + Sync + 'static,
    {
        self.insert(resource, handler);
        self
    }

    /// Adds (or replaces) the closure serving `resource`.
    pub fn insert<F>(&mut self, resource: impl Into<String>, handler: F) -> &mut NativeHandlers
    where
        F: Fn(&Value) -> Result<Value, Fault> + Send + Sync + 'static,
    {
        self.handlers
            .insert(resource.into(), Native::Sync(Box::new(handler)));
        self
    }

    /// Adds (or replaces) an asynchronous closure serving `resource`; builder style. See
    /// [`insert_async`](Self::insert_async).
    pub fn register_async<F>(mut self, resource: impl Into<String>, handler: F) -> NativeHandlers
    where
        F: Fn(&Value, Reply) + Send + Sync + 'static,
    {
        self.insert_async(resource, handler);
        self
    }

    /// Adds (or replaces) an asynchronous closure serving `resource`. The closure is called
    /// on the driver's thread with the parameters and the [`Reply`] to answer through; it
    /// starts the work and returns at once. The execution waits meanwhile without holding
    /// its worker; the work may call [`Reply::heartbeat`] (or beat through
    /// [`Reply::heartbeats`] from elsewhere) to keep a Task state with `HeartbeatSeconds`
    /// alive, and ends with [`Reply::send`]. A reply dropped unsent fails the task with
    /// `States.TaskFailed`.
    pub fn insert_async<F>(
        &mut self,
        resource: impl Into<String>,
        handler: F,
    ) -> &mut NativeHandlers
    where
        F: Fn(&Value, Reply) + Send + Sync + 'static,
    {
        self.handlers
            .insert(resource.into(), Native::Async(Box::new(handler)));
        self
    }

    /// Whether a closure serves `resource`.
    pub fn contains(&self, resource: &str) -> bool {
        self.handlers.contains_key(resource)
    }

    /// The number of registered resources.
    pub fn len(&self) -> usize {
        self.handlers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.handlers.is_empty()
    }
}

impl TaskHandler for NativeHandlers {
    fn invoke(&self, call: &TaskCall<'_>) -> Option<Result<Value, Fault>> {
        match self.handlers.get(call.resource)? {
            Native::Sync(handler) => {
                let outcome = panic::catch_unwind(AssertUnwindSafe(|| handler(call.parameters)));
                Some(outcome.unwrap_or_else(|payload| Err(panicked(call.resource, &*payload))))
            }
            Native::Async(_) => invoke_blocking(self, call),
        }
    }

    fn dispatch(&self, call: &TaskCall<'_>, reply: &ReplyTo<'_>) -> Option<Dispatch> {
        match self.handlers.get(call.resource)? {
            Native::Sync(_) => self.invoke(call).map(Dispatch::Ready),
            Native::Async(handler) => {
                let answer = reply.reply();
                let started =
                    panic::catch_unwind(AssertUnwindSafe(|| handler(call.parameters, answer)));
                Some(match started {
                    Ok(()) => Dispatch::Started,
                    // The reply dropped in the unwinding sent a fault nobody waits for.
                    Err(payload) => Dispatch::Ready(Err(panicked(call.resource, &*payload))),
                })
            }
        }
    }
}

/// The fault of a native handler that panicked.
fn panicked(resource: &str, payload: &(dyn std::any::Any + Send)) -> Fault {
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message");
    Fault::new(
        "States.TaskFailed",
        format!("The native handler for '{resource}' panicked: {message}"),
    )
}

impl fmt::Debug for NativeHandlers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut resources: Vec<&str> = self.handlers.keys().map(String::as_str).collect();
        resources.sort_unstable();
        f.debug_struct("NativeHandlers")
            .field("resources", &resources)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json;

    const ECHO: &str = "arn:aws:lambda:us-east-1:111111111111:function:echo";
    const FAIL: &str = "arn:aws:lambda:us-east-1:111111111111:function:fail";
    const PANIC: &str = "arn:aws:lambda:us-east-1:111111111111:function:panic";

    fn handlers() -> NativeHandlers {
        let mut handlers = NativeHandlers::new()
            .register(ECHO, |parameters| Ok(json!({ "echo": parameters })))
            .register(FAIL, |_| Err(Fault::new("Custom.Error", "it failed")));
        handlers.insert(PANIC, |parameters| match parameters.get("message") {
            Some(Value::String(message)) => panic!("{message}"),
            _ => panic!("static message"),
        });
        handlers
    }

    fn check(resource: &str, parameters: Value, expect: Option<Result<Value, Fault>>) {
        let call = TaskCall {
            state_name: "Task",
            resource,
            parameters: &parameters,
            invocation: 0,
            state_machine: "Machine",
        };
        assert_eq!(handlers().invoke(&call), expect, "resource {resource}");
    }

    #[test]
    fn serves_registered_resources() {
        let cases = [
            (ECHO, json!({"a": 1}), Some(Ok(json!({"echo": {"a": 1}})))),
            (ECHO, json!(null), Some(Ok(json!({"echo": null})))),
            (
                FAIL,
                json!({}),
                Some(Err(Fault::new("Custom.Error", "it failed"))),
            ),
            (
                PANIC,
                json!({"message": "boom"}),
                Some(Err(Fault::new(
                    "States.TaskFailed",
                    format!("The native handler for '{PANIC}' panicked: boom"),
                ))),
            ),
            (
                PANIC,
                json!({}),
                Some(Err(Fault::new(
                    "States.TaskFailed",
                    format!("The native handler for '{PANIC}' panicked: static message"),
                ))),
            ),
            // Exact match only.
            (
                "arn:aws:lambda:us-east-1:111111111111:function:other",
                json!({}),
                None,
            ),
            (
                "arn:aws:lambda:us-east-1:111111111111:function:ECHO",
                json!({}),
                None,
            ),
            ("", json!({}), None),
        ];
        for (resource, parameters, expect) in cases {
            check(resource, parameters, expect);
        }
    }

    #[test]
    fn registering_again_replaces() {
        let handlers = handlers().register(ECHO, |_| Ok(json!("replaced")));
        assert_eq!(handlers.len(), 3);
        assert!(handlers.contains(ECHO) && !handlers.is_empty());
        let parameters = json!({});
        let call = TaskCall {
            state_name: "Task",
            resource: ECHO,
            parameters: &parameters,
            invocation: 0,
            state_machine: "Machine",
        };
        assert_eq!(handlers.invoke(&call), Some(Ok(json!("replaced"))));
        assert_eq!(
            format!("{handlers:?}"),
            format!("NativeHandlers {{ resources: [{ECHO:?}, {FAIL:?}, {PANIC:?}] }}")
        );
    }
}
