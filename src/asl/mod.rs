//! Amazon States Language: parse a definition into a typed model and validate it.
//!
//! `parse` reports every problem it finds at once, each with the JSON pointer of its place.
//! Paths, payload templates and intrinsic calls are parsed here (so their syntax errors carry a
//! pointer) and handed to the compiler ready to run. This module knows nothing of bytecode,
//! threads or Kafka.

mod reader;
mod suggest;
mod validate;

use crate::json::Value;
use std::fmt;
use std::sync::Arc;

use crate::intrinsics::Call;
use crate::path::Path;
use crate::time::Timestamp;

pub use suggest::did_you_mean;

/// A problem found in a definition: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// JSON pointer (RFC 6901) of the offending place; empty for the whole document.
    pub pointer: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pointer.is_empty() {
            write!(f, "/: {}", self.message)
        } else {
            write!(f, "{}: {}", self.pointer, self.message)
        }
    }
}

/// Parses and validates a definition given as JSON text.
pub fn parse(text: &str) -> Result<StateMachine, Vec<Problem>> {
    let document: Value = crate::json::from_str(text).map_err(|err| {
        vec![Problem {
            pointer: String::new(),
            message: format!("not valid JSON: {err}"),
        }]
    })?;
    parse_value(&document)
}

/// Parses and validates a definition already read as JSON.
pub fn parse_value(document: &Value) -> Result<StateMachine, Vec<Problem>> {
    let mut problems = Vec::new();
    let machine = reader::read_machine(document, &mut problems);
    if let Some(machine) = &machine {
        validate::check(machine, &mut problems);
    }
    match machine {
        Some(machine) if problems.is_empty() => Ok(machine),
        _ => {
            if problems.is_empty() {
                problems.push(Problem {
                    pointer: String::new(),
                    message: "the definition must be a JSON object".into(),
                });
            }
            Err(problems)
        }
    }
}

/// A whole state machine, or the body of a Parallel branch or Map item processor.
#[derive(Debug, Clone)]
pub struct StateMachine {
    pub comment: Option<String>,
    pub start_at: String,
    /// States in definition order.
    pub states: Vec<State>,
    /// Execution timeout (top level only).
    pub timeout_seconds: Option<u64>,
    pub query_language: QueryLanguage,
    /// JSON pointer of this machine or body (`""` for the top level).
    pub pointer: String,
}

impl StateMachine {
    /// Finds a state of this body by name.
    pub fn state(&self, name: &str) -> Option<&State> {
        self.states.iter().find(|state| state.name == name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueryLanguage {
    #[default]
    JsonPath,
    Jsonata,
}

/// A JSONata expression written as `"{% … %}"` in a field, parsed once when the definition is
/// read.
#[derive(Clone)]
pub struct Jsonata {
    pub expression: Arc<crate::jsonata::Expression>,
    /// The text between `{%` and `%}`, trimmed, as error messages quote it.
    pub source: Arc<str>,
    /// The field it was written in, as error messages name it (`Output`, `Assign/total`).
    pub field: Arc<str>,
    /// Whether it may read `$states.context` (the context object is built only then).
    pub reads_context: bool,
}

impl fmt::Debug for Jsonata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{% {} %}}", self.source)
    }
}

/// One state with the fields every state type shares.
#[derive(Debug, Clone)]
pub struct State {
    pub name: String,
    /// JSON pointer of the state object.
    pub pointer: String,
    pub comment: Option<String>,
    pub query_language: QueryLanguage,
    /// `Assign`: variables set when the state leaves. In JSONPath states a template whose
    /// `"key.$"` entries read the state's result; in JSONata states a JSONata template.
    pub assign: Option<Payload>,
    /// `Output` of a JSONata state: its output, evaluated from its input and result.
    pub output: Option<Payload>,
    /// The state's next state; `None` when it ends its body (`End: true`) or is Choice,
    /// Succeed or Fail.
    pub next: Option<String>,
    pub input_path: Option<InputOutputPath>,
    pub output_path: Option<InputOutputPath>,
    pub kind: Kind,
}

impl State {
    /// The AWS name of the state type (`Pass`, `Task`, …), as used in history event types.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Pass(_) => "Pass",
            Kind::Task(_) => "Task",
            Kind::Choice(_) => "Choice",
            Kind::Wait(_) => "Wait",
            Kind::Succeed => "Succeed",
            Kind::Fail(_) => "Fail",
            Kind::Parallel(_) => "Parallel",
            Kind::Map(_) => "Map",
        }
    }
}

/// `InputPath` / `OutputPath`: a path, or `null` (which means `{}`).
#[derive(Debug, Clone)]
pub enum InputOutputPath {
    Path(Path),
    Null,
}

/// `ResultPath`: a reference path, or `null` (discard the result, keep the input).
#[derive(Debug, Clone)]
pub enum ResultPath {
    Path(Path),
    Discard,
}

/// A payload template (Parameters, ResultSelector, ItemSelector): JSON whose `"key.$"`
/// entries are paths or intrinsic calls. Constant subtrees are folded into `Value`.
#[derive(Debug, Clone)]
pub enum Payload {
    Value(Value),
    /// Fields in order; the keys are unique.
    Object(Vec<(crate::json::Str, Payload)>),
    Array(Vec<Payload>),
    Path(Path),
    Call(Call),
    /// A `"{% … %}"` string of a JSONata state.
    Jsonata(Jsonata),
}

// The model is built once per definition; variant sizes do not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Kind {
    Pass(Pass),
    Task(Task),
    Choice(Choice),
    Wait(Wait),
    Succeed,
    Fail(Fail),
    Parallel(Parallel),
    Map(Map),
}

#[derive(Debug, Clone)]
pub struct Pass {
    pub result: Option<Value>,
    pub parameters: Option<Payload>,
    pub result_path: Option<ResultPath>,
}

#[derive(Debug, Clone)]
pub struct Task {
    pub resource: String,
    pub parameters: Option<Payload>,
    pub result_selector: Option<Payload>,
    pub result_path: Option<ResultPath>,
    pub timeout: Option<Seconds>,
    pub heartbeat: Option<Seconds>,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
}

/// A number of seconds given literally or by a path into the state's input.
#[derive(Debug, Clone)]
pub enum Seconds {
    Literal(u64),
    Path(Path),
    Jsonata(Jsonata),
}

#[derive(Debug, Clone)]
pub struct Retrier {
    pub error_equals: Vec<String>,
    pub interval_seconds: u64,
    pub max_attempts: u64,
    pub backoff_rate: f64,
    pub max_delay_seconds: Option<u64>,
    pub jitter: Jitter,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    None,
    Full,
}

#[derive(Debug, Clone)]
pub struct Catcher {
    pub error_equals: Vec<String>,
    pub next: String,
    pub result_path: Option<ResultPath>,
    pub assign: Option<Payload>,
    /// JSONata: the output, from `$states.input` and `$states.errorOutput`.
    pub output: Option<Payload>,
    pub pointer: String,
}

#[derive(Debug, Clone)]
pub struct Choice {
    pub choices: Vec<ChoiceRule>,
    pub default: Option<String>,
}

/// A top-level Choice rule: a condition and where it leads.
#[derive(Debug, Clone)]
pub struct ChoiceRule {
    pub condition: Condition,
    pub next: String,
    pub assign: Option<Payload>,
    pub output: Option<Payload>,
}

#[derive(Debug, Clone)]
pub enum Condition {
    And(Vec<Condition>),
    Or(Vec<Condition>),
    Not(Box<Condition>),
    Compare {
        variable: Path,
        operator: Operator,
        operand: Operand,
    },
    /// A JSONata `Condition`: a boolean, or an expression that must give one.
    Jsonata(Payload),
}

/// What a comparison compares the variable with.
#[derive(Debug, Clone)]
pub enum Operand {
    Value(Value),
    /// A parsed timestamp literal (`Timestamp…` operators without `Path`) and its text.
    Timestamp(Timestamp, String),
    /// `…Path` operators: another value of the input.
    Path(Path),
}

/// Choice comparison operators, without their `Path` suffix (the operand says which).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    StringEquals,
    StringLessThan,
    StringGreaterThan,
    StringLessThanEquals,
    StringGreaterThanEquals,
    StringMatches,
    NumericEquals,
    NumericLessThan,
    NumericGreaterThan,
    NumericLessThanEquals,
    NumericGreaterThanEquals,
    BooleanEquals,
    TimestampEquals,
    TimestampLessThan,
    TimestampGreaterThan,
    TimestampLessThanEquals,
    TimestampGreaterThanEquals,
    IsNull,
    IsPresent,
    IsNumeric,
    IsString,
    IsBoolean,
    IsTimestamp,
}

impl Operator {
    /// Every operator with its ASL name; `Path` variants are these names plus `Path`.
    pub const ALL: [(&'static str, Operator); 23] = [
        ("StringEquals", Operator::StringEquals),
        ("StringLessThan", Operator::StringLessThan),
        ("StringGreaterThan", Operator::StringGreaterThan),
        ("StringLessThanEquals", Operator::StringLessThanEquals),
        ("StringGreaterThanEquals", Operator::StringGreaterThanEquals),
        ("StringMatches", Operator::StringMatches),
        ("NumericEquals", Operator::NumericEquals),
        ("NumericLessThan", Operator::NumericLessThan),
        ("NumericGreaterThan", Operator::NumericGreaterThan),
        ("NumericLessThanEquals", Operator::NumericLessThanEquals),
        (
            "NumericGreaterThanEquals",
            Operator::NumericGreaterThanEquals,
        ),
        ("BooleanEquals", Operator::BooleanEquals),
        ("TimestampEquals", Operator::TimestampEquals),
        ("TimestampLessThan", Operator::TimestampLessThan),
        ("TimestampGreaterThan", Operator::TimestampGreaterThan),
        ("TimestampLessThanEquals", Operator::TimestampLessThanEquals),
        (
            "TimestampGreaterThanEquals",
            Operator::TimestampGreaterThanEquals,
        ),
        ("IsNull", Operator::IsNull),
        ("IsPresent", Operator::IsPresent),
        ("IsNumeric", Operator::IsNumeric),
        ("IsString", Operator::IsString),
        ("IsBoolean", Operator::IsBoolean),
        ("IsTimestamp", Operator::IsTimestamp),
    ];

    pub fn name(self) -> &'static str {
        Operator::ALL
            .iter()
            .find(|(_, op)| *op == self)
            .map_or("?", |(name, _)| name)
    }

    /// Whether the operator has a `…Path` form.
    pub fn has_path_form(self) -> bool {
        !matches!(
            self,
            Operator::StringMatches
                | Operator::IsNull
                | Operator::IsPresent
                | Operator::IsNumeric
                | Operator::IsString
                | Operator::IsBoolean
                | Operator::IsTimestamp
        )
    }
}

#[derive(Debug, Clone)]
pub enum Wait {
    Seconds(u64),
    SecondsPath(Path),
    Timestamp(Timestamp, String),
    TimestampPath(Path),
    /// JSONata `Seconds` and `Timestamp` expressions.
    SecondsJsonata(Jsonata),
    TimestampJsonata(Jsonata),
}

#[derive(Debug, Clone)]
pub struct Fail {
    pub error: Option<Text>,
    pub cause: Option<Text>,
}

/// A Fail state's Error or Cause: a literal, a path, or an intrinsic call.
#[derive(Debug, Clone)]
pub enum Text {
    Literal(String),
    Path(Path),
    Call(Call),
    Jsonata(Jsonata),
}

#[derive(Debug, Clone)]
pub struct Parallel {
    pub branches: Vec<StateMachine>,
    pub parameters: Option<Payload>,
    pub result_selector: Option<Payload>,
    pub result_path: Option<ResultPath>,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
}

#[derive(Debug, Clone)]
pub struct Map {
    pub processor: StateMachine,
    pub mode: MapMode,
    pub items_path: Option<Path>,
    /// JSONata `Items`: an array, or a template that gives one.
    pub items: Option<Payload>,
    pub item_selector: Option<Payload>,
    pub max_concurrency: Option<Seconds>,
    pub tolerated_failure_count: Option<Tolerance>,
    pub tolerated_failure_percentage: Option<Tolerance>,
    pub result_selector: Option<Payload>,
    pub result_path: Option<ResultPath>,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
    pub label: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapMode {
    Inline,
    /// Distributed mode without ItemReader/ResultWriter: the items come from the input and the
    /// iterations run in this engine like inline ones.
    Distributed,
}

/// ToleratedFailureCount / Percentage: a literal number or a path.
#[derive(Debug, Clone)]
pub enum Tolerance {
    Literal(f64),
    Path(Path),
    Jsonata(Jsonata),
}
