//! JSONata, the expression language of Step Functions states that use `QueryLanguage:
//! JSONata`: the language of JSONata 2.0 (without `$eval`), plus the functions Step Functions
//! adds (`$partition`, `$range`, `$hash`, `$random` with a seed, `$uuid`, `$parse`).
//!
//! ```
//! use stepstream::jsonata::{compile, Bindings};
//! use stepstream::json;
//!
//! let expr = compile("$states.input.amount * 2").unwrap();
//! let mut bindings = Bindings::new();
//! bindings.bind("states", json::from_str(r#"{"input": {"amount": 21}}"#).unwrap());
//! let result = expr.evaluate(None, &bindings).unwrap();
//! assert_eq!(result, Some(json::Value::from(42)));
//! ```
//!
//! [`compile`] parses once; an [`Expression`] is immutable, `Send + Sync`, and evaluates any
//! number of times. `None` stands for JSONata's *undefined* (no value), both as the input and
//! as the result.

mod ast;
mod datetime;
mod errors;
mod eval;
mod functions;
mod lexer;
mod numfmt;
mod parser;
mod reads;
mod regex;
mod signature;
mod simple;
mod value;

#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use crate::json::{Str, Value};

pub use errors::JsonataError;

/// A compiled expression.
pub struct Expression {
    root: ast::Node,
    /// Parent-operator slot labels, by slot.
    labels: Vec<Str>,
    /// The direct form, for the expressions that have one (see `simple.rs`).
    simple: Option<simple::Simple>,
}

impl std::fmt::Debug for Expression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Expression").finish_non_exhaustive()
    }
}

/// Parses an expression. Syntax errors carry the reference's codes (`S0201` …).
///
/// Parsing runs on a short-lived thread with a large stack, so that deeply nested
/// expressions fail with an error (`U1001`) rather than exhausting the caller's stack.
pub fn compile(source: &str) -> Result<Expression, JsonataError> {
    let owned = source.to_string();
    let parsed = std::thread::Builder::new()
        .name("jsonata-compile".into())
        .stack_size(parser::PARSER_THREAD_STACK)
        .spawn(move || parser::parse(&owned))
        .map_err(|_| JsonataError::new("U1001", None, None))?
        .join()
        .map_err(|_| JsonataError::new("U1001", None, None))?
        .map_err(JsonataError::finish)?;
    Ok(Expression {
        simple: simple::lower(&parsed.root),
        root: parsed.root,
        labels: parsed.labels,
    })
}

/// Bounds on one evaluation, so that hostile expressions end with an error.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Deepest nesting of evaluation steps (each sub-expression evaluated counts one, as
    /// the reference counts); beyond it evaluation fails with `U1001`.
    pub max_depth: usize,
    /// Longest evaluation; beyond it evaluation fails with `U1001`.
    pub time_limit: Option<Duration>,
    /// Most bytes of the calling thread's stack evaluation may use (measured from where
    /// it starts); beyond it evaluation fails with `U1001` instead of overflowing the
    /// stack. Keep it well below the thread's stack size.
    pub max_stack_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 1000,
            time_limit: Some(Duration::from_secs(10)),
            max_stack_bytes: 1 << 20,
        }
    }
}

/// An address in the current stack frame, to measure how much stack recursion has used.
#[inline(never)]
pub(crate) fn stack_address() -> usize {
    let marker = 0u8;
    std::hint::black_box(&marker) as *const u8 as usize
}

/// The signature of a native function: its arguments as JSON (`None` for undefined).
pub type NativeFn =
    dyn Fn(&[Option<Value>]) -> Result<Option<Value>, JsonataError> + Send + Sync + 'static;

/// A function the host provides to expressions.
#[derive(Clone)]
pub struct NativeFunction {
    name: Str,
    signature: Option<signature::Signature>,
    arity: usize,
    function: Arc<NativeFn>,
}

/// Variables and extra functions visible to an evaluation. Binding a variable is a push
/// onto a short list; cloning a `Bindings` shares its functions.
#[derive(Clone, Default)]
pub struct Bindings {
    vars: Vec<(Str, Value)>,
    functions: Arc<Vec<NativeFunction>>,
}

impl Bindings {
    pub fn new() -> Bindings {
        Bindings::default()
    }

    /// Binds `$name` (give the name without `$`), replacing an earlier binding.
    pub fn bind(&mut self, name: &str, value: Value) -> &mut Self {
        match self.vars.iter_mut().find(|(n, _)| n.as_str() == name) {
            Some(slot) => slot.1 = value,
            None => self.vars.push((Str::from(name), value)),
        }
        self
    }

    /// Removes every variable binding, keeping the functions.
    pub fn clear_vars(&mut self) {
        self.vars.clear();
    }

    /// Registers `$name` as a native function. `signature` is a JSONata signature such as
    /// `"<s-n?:s>"` that validates (and completes, from the context) the arguments; `arity`
    /// is how many arguments higher-order functions such as `$map` pass to it.
    pub fn register_function(
        &mut self,
        name: &str,
        signature: Option<&str>,
        arity: usize,
        function: impl Fn(&[Option<Value>]) -> Result<Option<Value>, JsonataError>
            + Send
            + Sync
            + 'static,
    ) -> Result<&mut Self, JsonataError> {
        let signature = signature
            .map(signature::Signature::parse)
            .transpose()
            .map_err(JsonataError::finish)?;
        let function = NativeFunction {
            name: Str::from(name),
            signature,
            arity,
            function: Arc::new(function),
        };
        let functions = Arc::make_mut(&mut self.functions);
        functions.retain(|f| f.name.as_str() != name);
        functions.push(function);
        Ok(self)
    }

    fn var(&self, name: &str) -> Option<&Value> {
        self.vars
            .iter()
            .find(|(n, _)| n.as_str() == name)
            .map(|(_, v)| v)
    }

    fn function(&self, name: &str) -> Option<&NativeFunction> {
        self.functions.iter().find(|f| f.name.as_str() == name)
    }
}

impl Expression {
    /// Evaluates against `input` (`None`: no input) with the default [`Limits`].
    pub fn evaluate(
        &self,
        input: Option<&Value>,
        bindings: &Bindings,
    ) -> Result<Option<Value>, JsonataError> {
        self.evaluate_with_limits(input, bindings, &Limits::default())
    }

    /// Evaluates with explicit limits.
    pub fn evaluate_with_limits(
        &self,
        input: Option<&Value>,
        bindings: &Bindings,
        limits: &Limits,
    ) -> Result<Option<Value>, JsonataError> {
        if let Some(simple) = &self.simple {
            if let Ok(value) = simple::evaluate(simple, bindings, None) {
                return Ok(value);
            }
        }
        eval::run(self, input, bindings, None, limits).map_err(JsonataError::finish)
    }

    /// Evaluates with explicit limits; a variable neither the expression nor `bindings`
    /// binds is asked of `resolver` (give it the name without `$`), so a host can supply
    /// variables on demand instead of binding them all up front.
    pub fn evaluate_resolving(
        &self,
        input: Option<&Value>,
        bindings: &Bindings,
        resolver: &Resolver<'_>,
        limits: &Limits,
    ) -> Result<Option<Value>, JsonataError> {
        if let Some(simple) = &self.simple {
            if let Ok(value) = simple::evaluate(simple, bindings, Some(resolver)) {
                return Ok(value);
            }
        }
        eval::run(self, input, bindings, Some(resolver), limits).map_err(JsonataError::finish)
    }
}

/// Supplies the value of a variable by name (without `$`), or `None` when it is not set.
pub type Resolver<'a> = dyn Fn(&str) -> Option<Value> + 'a;

/// A scope of variables during evaluation.
pub(crate) struct Frame<'a> {
    vars: RefCell<Vec<(Str, value::Val<'a>)>>,
    parent: Option<Env<'a>>,
}

pub(crate) type Env<'a> = Rc<Frame<'a>>;

impl<'a> Frame<'a> {
    pub(crate) fn new(parent: Option<Env<'a>>) -> Env<'a> {
        Rc::new(Frame {
            vars: RefCell::new(Vec::new()),
            parent,
        })
    }

    pub(crate) fn bind(&self, name: Str, value: value::Val<'a>) {
        let mut vars = self.vars.borrow_mut();
        match vars.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => vars.push((name, value)),
        }
    }

    pub(crate) fn lookup(&self, name: &str) -> Option<value::Val<'a>> {
        let mut frame = self;
        loop {
            if let Some((_, v)) = frame.vars.borrow().iter().find(|(n, _)| n.as_str() == name) {
                return Some(v.clone());
            }
            match &frame.parent {
                Some(parent) => frame = parent,
                None => return None,
            }
        }
    }

    pub(crate) fn clear(&self) {
        self.vars.borrow_mut().clear();
    }
}
