//! Native Rust closures as Task resources, looked up by the exact `Resource` ARN.

use std::collections::HashMap;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};

use crate::json::Value;

use super::{Fault, TaskCall, TaskHandler};

/// A native task: receives the effective parameters and returns the task result or a fault.
pub type NativeFn = Box<dyn Fn(&Value) -> Result<Value, Fault> + Send + Sync>;

/// Task handlers written in Rust, keyed by resource ARN.
///
/// A call whose resource has no registered closure is left to the next handler (`None`).
/// A closure that panics fails the task with `States.TaskFailed` and the panic message as
/// the cause, as a crashed function would, instead of unwinding through the engine.
#[derive(Default)]
pub struct NativeHandlers {
    handlers: HashMap<String, NativeFn>,
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
        self.handlers.insert(resource.into(), Box::new(handler));
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
        let handler = self.handlers.get(call.resource)?;
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| handler(call.parameters)));
        Some(outcome.unwrap_or_else(|payload| {
            let message = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("no message");
            Err(Fault::new(
                "States.TaskFailed",
                format!(
                    "The native handler for '{}' panicked: {message}",
                    call.resource
                ),
            ))
        }))
    }
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
