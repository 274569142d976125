//! Evaluation of the parsed pieces a state holds: payload templates, Choice rules and Fail
//! texts, against a `Scope` of input, context object and variables.

use std::cell::OnceCell;
use std::sync::OnceLock;

use crate::json;

use crate::json::{Map as JsonMap, Value};

use super::Vars;
use crate::asl::{Condition, Jsonata, Operand, Operator, Payload, Text};
use crate::jsonata;
use crate::path::{Path, Roots};
use crate::time;

/// An evaluation failure: the ASL error name and the message AWS puts after the state
/// prefix of its cause.
#[derive(Debug)]
pub(crate) struct EvalError {
    pub name: &'static str,
    pub message: String,
    /// The field whose expression failed (`Output/total`), as EvaluationFailed events name it.
    pub location: Option<std::sync::Arc<str>>,
}

impl EvalError {
    pub fn query(message: String) -> EvalError {
        EvalError {
            name: "States.QueryEvaluationError",
            message,
            location: None,
        }
    }

    /// A failure of the expression of `expression`'s field.
    pub fn at(expression: &Jsonata, message: String) -> EvalError {
        EvalError {
            location: Some(expression.field.clone()),
            ..EvalError::query(message)
        }
    }
}

impl From<String> for EvalError {
    fn from(message: String) -> EvalError {
        EvalError {
            name: "States.Runtime",
            message,
            location: None,
        }
    }
}

/// What paths and expressions read: the value `$` stands for, the context object (built only
/// when asked for, or handed in ready), the variables in scope, and for JSONata the parts of
/// `$states`.
pub(crate) struct Scope<'a> {
    pub input: &'a Value,
    context: Context<'a>,
    vars: Option<Vars<'a>>,
    /// `$states.input`, `$states.result`, `$states.errorOutput`.
    states_input: Option<&'a Value>,
    result: Option<&'a Value>,
    error_output: Option<&'a Value>,
}

enum Context<'a> {
    Lazy(OnceCell<Value>, &'a dyn Fn() -> Value),
    Ready(&'a Value),
}

impl<'a> Scope<'a> {
    pub fn new(input: &'a Value, make_context: &'a dyn Fn() -> Value) -> Scope<'a> {
        Scope {
            input,
            context: Context::Lazy(OnceCell::new(), make_context),
            vars: None,
            states_input: None,
            result: None,
            error_output: None,
        }
    }

    /// A scope whose context object is already built.
    pub fn with_context(input: &'a Value, context: &'a Value) -> Scope<'a> {
        Scope {
            input,
            context: Context::Ready(context),
            vars: None,
            states_input: None,
            result: None,
            error_output: None,
        }
    }

    /// The variables paths and expressions can read.
    pub fn vars(mut self, vars: Vars<'a>) -> Scope<'a> {
        self.vars = Some(vars);
        self
    }

    /// `$states.input`, and `$states.result` when there is one.
    pub fn states(mut self, input: &'a Value, result: Option<&'a Value>) -> Scope<'a> {
        self.states_input = Some(input);
        self.result = result;
        self
    }

    /// `$states.errorOutput`.
    pub fn error_output(mut self, error_output: &'a Value) -> Scope<'a> {
        self.error_output = Some(error_output);
        self
    }

    /// The `$states` object of a JSONata expression.
    fn states_value(&self, with_context: bool) -> Value {
        let mut fields: Vec<(json::Str, Value)> = Vec::with_capacity(4);
        fields.push((
            "input".into(),
            self.states_input.unwrap_or(self.input).clone(),
        ));
        if let Some(result) = self.result {
            fields.push(("result".into(), result.clone()));
        }
        if let Some(error_output) = self.error_output {
            fields.push(("errorOutput".into(), error_output.clone()));
        }
        if with_context {
            fields.push(("context".into(), self.context().clone()));
        }
        Value::Object(JsonMap::from_unique(fields))
    }
}

impl Roots for Scope<'_> {
    fn input(&self) -> &Value {
        self.input
    }

    fn context(&self) -> &Value {
        match &self.context {
            Context::Lazy(cell, make) => cell.get_or_init(make),
            Context::Ready(context) => context,
        }
    }

    fn variable(&self, name: &str) -> Option<&Value> {
        self.vars.and_then(|vars| vars.get(name))
    }
}

/// The bindings every state expression starts from: none (variables come from the scope).
fn bindings() -> &'static jsonata::Bindings {
    static BINDINGS: OnceLock<jsonata::Bindings> = OnceLock::new();
    BINDINGS.get_or_init(jsonata::Bindings::new)
}

/// Evaluates a JSONata expression of a state field; no result is an error, as in AWS.
pub(crate) fn jsonata(expression: &Jsonata, scope: &Scope<'_>) -> Result<Value, EvalError> {
    let states: OnceCell<Value> = OnceCell::new();
    let resolve = |name: &str| -> Option<Value> {
        if name == "states" {
            let value = states.get_or_init(|| scope.states_value(expression.reads_context));
            return Some(value.clone());
        }
        scope.vars.and_then(|vars| vars.get(name)).cloned()
    };
    let input = scope.states_input.unwrap_or(scope.input);
    let limits = jsonata::Limits::default();
    match expression
        .expression
        .evaluate_resolving(Some(input), bindings(), &resolve, &limits)
    {
        Ok(Some(value)) => Ok(value),
        Ok(None) => Err(EvalError::at(
            expression,
            format!(
                "The JSONata expression '{}' specified for the field '{}' returned nothing (undefined).",
                expression.source, expression.field
            ),
        )),
        Err(err) => Err(EvalError::at(expression, format!(
            "The JSONata expression '{}' specified for the field '{}' threw an error during evaluation: {err}",
            expression.source, expression.field
        ))),
    }
}

/// Builds a payload template (Parameters, ResultSelector, ItemSelector, Arguments, Output,
/// Assign).
pub(crate) fn build(payload: &Payload, scope: &Scope<'_>) -> Result<Value, EvalError> {
    match payload {
        Payload::Value(value) => Ok(value.clone()),
        Payload::Object(entries) => {
            let mut fields = Vec::with_capacity(entries.len());
            for (key, part) in entries {
                let value = match part {
                    Payload::Path(path) => select_field(path, key, scope)?,
                    other => build(other, scope)?,
                };
                fields.push((key.clone(), value));
            }
            // A template's keys are unique (see `Payload::Object`).
            Ok(Value::Object(JsonMap::from_unique(fields)))
        }
        Payload::Array(parts) => parts
            .iter()
            .map(|part| build(part, scope))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::from),
        Payload::Path(path) => path
            .resolve(scope)
            .map(|value| value.into_owned())
            .map_err(|err| err.to_string().into()),
        Payload::Call(call) => call.eval(scope).map_err(|err| err.to_string().into()),
        Payload::Jsonata(expression) => jsonata(expression, scope),
    }
}

/// Selects a `"key.$"` path; a miss is reported as AWS words it for Parameters.
fn select_field(path: &Path, key: &str, scope: &Scope<'_>) -> Result<Value, String> {
    match path.resolve(scope) {
        Ok(value) => Ok(value.into_owned()),
        Err(err) if matches!(path.root(), crate::path::Root::Variable(_)) => Err(err.to_string()),
        Err(_) => {
            let root = match path.root() {
                crate::path::Root::Context => scope.context(),
                _ => scope.input,
            };
            Err(format!(
                "The JSONPath '{}' specified for the field '{key}.$' could not be found in the input '{}'",
                path.source(),
                root
            ))
        }
    }
}

/// A JSONata expression's result that is not of the type its field needs.
pub(crate) fn unexpected(expression: &Jsonata, expected: &str, value: &Value) -> EvalError {
    EvalError::at(expression, format!(
        "The JSONata expression '{}' specified for the field '{}' returned an unexpected result type. Expected '{expected}', but was '{}' for value: {value}",
        expression.source,
        expression.field,
        value.kind()
    ))
}

/// Evaluates a Fail state's Error or Cause.
pub(crate) fn text(text: &Text, scope: &Scope<'_>) -> Result<String, EvalError> {
    let value = match text {
        Text::Literal(literal) => return Ok(literal.clone()),
        Text::Path(path) => path
            .resolve(scope)
            .map(|value| value.into_owned())
            .map_err(|err| err.to_string())?,
        Text::Call(call) => call.eval(scope).map_err(|err| err.to_string())?,
        Text::Jsonata(expression) => jsonata(expression, scope)?,
    };
    Ok(match value {
        Value::String(text) => text.to_string(),
        other => other.to_string(),
    })
}

/// Evaluates a Choice condition. A comparison whose types do not fit is false.
pub(crate) fn condition(condition: &Condition, scope: &Scope<'_>) -> Result<bool, EvalError> {
    match condition {
        Condition::And(rules) => {
            for rule in rules {
                if !self::condition(rule, scope)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Condition::Or(rules) => {
            for rule in rules {
                if self::condition(rule, scope)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Condition::Not(rule) => Ok(!self::condition(rule, scope)?),
        Condition::Compare {
            variable,
            operator,
            operand,
        } => Ok(compare(variable, *operator, operand, scope)?),
        Condition::Jsonata(payload) => match build(payload, scope)? {
            Value::Bool(flag) => Ok(flag),
            other => match payload {
                Payload::Jsonata(expression) => Err(unexpected(expression, "boolean", &other)),
                _ => Err(EvalError::query(format!(
                    "The Condition field must be a boolean, but was: {other}"
                ))),
            },
        },
    }
}

fn compare(
    variable: &Path,
    operator: Operator,
    operand: &Operand,
    scope: &Scope<'_>,
) -> Result<bool, String> {
    if operator == Operator::IsPresent {
        // An array element past the end is not present (a plain read would give null).
        let present = match &variable.resolve_strict(scope) {
            Ok(value) => {
                variable.is_definite()
                    || !matches!(value.as_ref(), Value::Array(items) if items.is_empty())
            }
            Err(_) => false,
        };
        return Ok(present == matches!(operand, Operand::Value(Value::Bool(true))));
    }
    let value = match variable.resolve(scope) {
        Ok(value) => value,
        Err(err) => {
            return Err(format!("Invalid path '{}': The choice state's condition path references an invalid value. ({err})", variable.source()))
        }
    };
    let value = value.as_ref();
    let expected_flag = |operand: &Operand| matches!(operand, Operand::Value(Value::Bool(true)));
    let type_check = |holds: bool| Ok(holds == expected_flag(operand));
    match operator {
        Operator::IsNull => return type_check(value.is_null()),
        Operator::IsNumeric => return type_check(value.is_number()),
        Operator::IsString => return type_check(value.is_string()),
        Operator::IsBoolean => return type_check(value.is_boolean()),
        Operator::IsTimestamp => {
            return type_check(value.as_str().and_then(time::parse_timestamp).is_some())
        }
        _ => {}
    }
    let resolved;
    let other: Option<&Value> = match operand {
        Operand::Value(value) => Some(value),
        Operand::Path(path) => {
            resolved = path.resolve(scope).map_err(|err| err.to_string())?;
            Some(resolved.as_ref())
        }
        Operand::Timestamp(..) => None,
    };
    use std::cmp::Ordering;
    let order = |ordering: Option<Ordering>| -> bool {
        let Some(ordering) = ordering else {
            return false;
        };
        match operator {
            Operator::StringEquals | Operator::NumericEquals | Operator::TimestampEquals => {
                ordering == Ordering::Equal
            }
            Operator::StringLessThan | Operator::NumericLessThan | Operator::TimestampLessThan => {
                ordering == Ordering::Less
            }
            Operator::StringGreaterThan
            | Operator::NumericGreaterThan
            | Operator::TimestampGreaterThan => ordering == Ordering::Greater,
            Operator::StringLessThanEquals
            | Operator::NumericLessThanEquals
            | Operator::TimestampLessThanEquals => ordering != Ordering::Greater,
            _ => ordering != Ordering::Less,
        }
    };
    Ok(match operator {
        Operator::StringEquals
        | Operator::StringLessThan
        | Operator::StringGreaterThan
        | Operator::StringLessThanEquals
        | Operator::StringGreaterThanEquals => match (value, other) {
            (Value::String(left), Some(Value::String(right))) => {
                order(Some(left.as_str().cmp(right.as_str())))
            }
            _ => false,
        },
        Operator::StringMatches => match (value, other) {
            (Value::String(text), Some(Value::String(pattern))) => string_matches(text, pattern),
            _ => false,
        },
        Operator::NumericEquals
        | Operator::NumericLessThan
        | Operator::NumericGreaterThan
        | Operator::NumericLessThanEquals
        | Operator::NumericGreaterThanEquals => match (value, other) {
            (Value::Number(left), Some(Value::Number(right))) => {
                order(compare_numbers(left, right))
            }
            _ => false,
        },
        Operator::BooleanEquals => match (value, other) {
            (Value::Bool(left), Some(Value::Bool(right))) => left == right,
            _ => false,
        },
        _ => {
            // Timestamp comparisons.
            let left = value.as_str().and_then(time::parse_timestamp);
            let right = match operand {
                Operand::Timestamp(timestamp, _) => Some(*timestamp),
                _ => other
                    .and_then(Value::as_str)
                    .and_then(time::parse_timestamp),
            };
            match (left, right) {
                (Some(left), Some(right)) => order(Some(left.cmp(&right))),
                _ => false,
            }
        }
    })
}

/// Compares two JSON numbers exactly when both are integers, else as doubles.
fn compare_numbers(left: &json::Number, right: &json::Number) -> Option<std::cmp::Ordering> {
    if let (Some(left), Some(right)) = (left.as_i64(), right.as_i64()) {
        return Some(left.cmp(&right));
    }
    if let (Some(left), Some(right)) = (left.as_u64(), right.as_u64()) {
        return Some(left.cmp(&right));
    }
    left.as_f64()?.partial_cmp(&right.as_f64()?)
}

/// `StringMatches`: `*` matches any run of characters; `\*` and `\\` are literal.
pub(crate) fn string_matches(text: &str, pattern: &str) -> bool {
    // Pattern pieces: literal characters, or a star.
    let mut pieces: Vec<Option<char>> = Vec::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(ch) = chars.next() {
        match ch {
            '\\' => pieces.push(Some(chars.next().unwrap_or('\\'))),
            '*' => pieces.push(None),
            other => pieces.push(Some(other)),
        }
    }
    let text: Vec<char> = text.chars().collect();
    // Classic wildcard matching with backtracking to the last star.
    let (mut t, mut p) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pieces.get(p) {
            Some(Some(ch)) if *ch == text[t] => {
                t += 1;
                p += 1;
            }
            Some(None) => {
                star = Some((p, t));
                p += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pieces[p..].iter().all(Option::is_none)
}

#[cfg(test)]
mod tests {
    use super::string_matches;

    #[test]
    fn string_matches_cases() {
        let cases = [
            ("log-2020.txt", "log-*.txt", true),
            ("log.txt", "log-*.txt", false),
            ("a*b", "a\\*b", true),
            ("axb", "a\\*b", false),
            ("", "*", true),
            ("abc", "*c", true),
            ("abc", "a*b*c", true),
            ("abcd", "a*c", false),
            ("a\\b", "a\\\\b", true),
        ];
        for (text, pattern, expected) in cases {
            assert_eq!(
                string_matches(text, pattern),
                expected,
                "{text:?} ~ {pattern:?}"
            );
        }
    }
}
