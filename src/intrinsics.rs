//! The intrinsic functions of JSONPath states (`States.Format`, `States.Array`, …) as AWS runs
//! them.
//!
//! A call is parsed once ([`parse`]) and evaluated against the state's [`Roots`]
//! ([`Call::eval`]). AWS reports every evaluation failure as `States.Runtime` (none as
//! `States.IntrinsicFailure`), with a cause that names the whole expression:
//! `The function 'States.MathAdd($.a, 1)' had the following error: Invalid arguments in States.MathAdd`.
//!
//! Behaviours observed on AWS that this module follows:
//! - arguments are evaluated first, left to right; a path argument that selects nothing fails with
//!   `The JsonPath argument for the field '$.x' could not be found in the input '{…}'`, and an
//!   array index past the end counts as selecting nothing;
//! - `States.Format` writes strings as they are and other values as Java's `toString` does
//!   (`{a=1, b=[x, y]}`); the template's `{}` count must equal the remaining arguments;
//! - `States.MathAdd` rounds each operand with Java's `Math.round` (half up) and works on 32-bit
//!   integers; `ArrayRange`, `ArrayPartition`, `ArrayGetItem` and `MathRandom` truncate
//!   fractions toward zero;
//! - `States.ArrayContains` compares values by their Java text, so `true` matches `"true"`;
//! - `States.Base64Decode` is lenient: it skips characters outside the alphabet and stops at `=`;
//! - `States.StringSplit` splits at any of the delimiter's characters and drops empty parts.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::hash::{DefaultHasher, Hash as _, Hasher};

use crate::json::Value;
use base64::Engine as _;
use sha2::Digest as _;

use crate::path::{self, Path, PathErrorKind, Roots, TextStyle};

/// How deep intrinsic calls may be nested in one field (an AWS limit).
pub const MAX_NESTING: usize = 10;
/// The longest string (in UTF-16 units, as Java counts) that the encoding and hash functions take.
const MAX_INPUT_CHARS: usize = 10_000;
/// The most items `States.ArrayRange` may produce.
const MAX_RANGE_ITEMS: i64 = 1000;
/// How deep structural comparison and hashing descend before treating values as opaque.
const MAX_HASH_DEPTH: usize = 64;

/// A parsed intrinsic function call.
#[derive(Debug, Clone)]
pub struct Call {
    function: Function,
    args: Vec<Arg>,
    source: Box<str>,
    /// The template of a `States.Format` whose first argument is a string literal.
    template: Option<FormatTemplate>,
}

/// An argument of an intrinsic call.
#[derive(Debug, Clone)]
pub enum Arg {
    /// `'text'` (with `\'`, `\{`, `\}`, `\\` escapes), a number, `true`, `false` or `null`.
    Literal(Value),
    /// `$…`, `$$…` or `$name…`.
    Path(Path),
    /// A nested call.
    Call(Box<Call>),
}

/// Why evaluating a call failed. AWS reports it as `States.Runtime`; the message is the cause
/// that follows the "An error occurred while executing the state …" prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntrinsicError {
    cause: String,
}

impl IntrinsicError {
    /// The cause text.
    pub fn cause(&self) -> &str {
        &self.cause
    }
}

impl fmt::Display for IntrinsicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.cause)
    }
}

impl std::error::Error for IntrinsicError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Function {
    Format,
    StringToJson,
    JsonToString,
    Array,
    ArrayPartition,
    ArrayContains,
    ArrayRange,
    ArrayGetItem,
    ArrayLength,
    ArrayUnique,
    Base64Encode,
    Base64Decode,
    Hash,
    JsonMerge,
    MathRandom,
    MathAdd,
    StringSplit,
    Uuid,
}

/// The static type of an argument, where it is known before running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    String,
    Number,
    Bool,
    Null,
    Array,
    Object,
    Any,
}

/// A `States.Format` template written as a literal.
#[derive(Debug, Clone, PartialEq)]
struct FormatTemplate {
    /// The text between the quotes, escapes kept.
    raw: Box<str>,
    /// `None` for unbalanced braces, which AWS reports when the call runs.
    pieces: Option<Vec<Piece>>,
}

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    Hole,
}

/// Where a value came from: AWS writes values that `States.StringToJson` produced as JSON
/// nodes, which `States.Format` prints as JSON rather than Java text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Plain,
    Parsed,
}

const HASH_ALGORITHMS: [&str; 5] = ["MD5", "SHA-1", "SHA-256", "SHA-384", "SHA-512"];

impl Function {
    const ALL: [Function; 18] = [
        Function::Format,
        Function::StringToJson,
        Function::JsonToString,
        Function::Array,
        Function::ArrayPartition,
        Function::ArrayContains,
        Function::ArrayRange,
        Function::ArrayGetItem,
        Function::ArrayLength,
        Function::ArrayUnique,
        Function::Base64Encode,
        Function::Base64Decode,
        Function::Hash,
        Function::JsonMerge,
        Function::MathRandom,
        Function::MathAdd,
        Function::StringSplit,
        Function::Uuid,
    ];

    fn name(self) -> &'static str {
        match self {
            Function::Format => "States.Format",
            Function::StringToJson => "States.StringToJson",
            Function::JsonToString => "States.JsonToString",
            Function::Array => "States.Array",
            Function::ArrayPartition => "States.ArrayPartition",
            Function::ArrayContains => "States.ArrayContains",
            Function::ArrayRange => "States.ArrayRange",
            Function::ArrayGetItem => "States.ArrayGetItem",
            Function::ArrayLength => "States.ArrayLength",
            Function::ArrayUnique => "States.ArrayUnique",
            Function::Base64Encode => "States.Base64Encode",
            Function::Base64Decode => "States.Base64Decode",
            Function::Hash => "States.Hash",
            Function::JsonMerge => "States.JsonMerge",
            Function::MathRandom => "States.MathRandom",
            Function::MathAdd => "States.MathAdd",
            Function::StringSplit => "States.StringSplit",
            Function::Uuid => "States.UUID",
        }
    }

    fn from_name(name: &str) -> Option<Function> {
        Function::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The fewest and most arguments (`None`: no limit).
    fn arity(self) -> (usize, Option<usize>) {
        match self {
            Function::Format => (1, None),
            Function::Array => (0, None),
            Function::Uuid => (0, Some(0)),
            Function::StringToJson
            | Function::JsonToString
            | Function::ArrayLength
            | Function::ArrayUnique
            | Function::Base64Encode
            | Function::Base64Decode => (1, Some(1)),
            Function::ArrayPartition
            | Function::ArrayContains
            | Function::ArrayGetItem
            | Function::Hash
            | Function::MathAdd
            | Function::StringSplit => (2, Some(2)),
            Function::MathRandom => (2, Some(3)),
            Function::ArrayRange | Function::JsonMerge => (3, Some(3)),
        }
    }

    /// The type an argument must have, where the function requires one.
    fn parameter(self, index: usize) -> Type {
        match (self, index) {
            (Function::Format, 0)
            | (Function::StringToJson, _)
            | (Function::Base64Encode, _)
            | (Function::Base64Decode, _)
            | (Function::Hash, 1)
            | (Function::StringSplit, _) => Type::String,
            (Function::ArrayPartition | Function::ArrayContains | Function::ArrayGetItem, 0)
            | (Function::ArrayLength | Function::ArrayUnique, _) => Type::Array,
            (Function::ArrayPartition | Function::ArrayGetItem, 1)
            | (Function::ArrayRange | Function::MathRandom | Function::MathAdd, _) => Type::Number,
            (Function::JsonMerge, 0 | 1) => Type::Object,
            (Function::JsonMerge, _) => Type::Bool,
            _ => Type::Any,
        }
    }

    /// The type of the function's result, where it is fixed.
    fn returns(self) -> Type {
        match self {
            Function::Format
            | Function::JsonToString
            | Function::Base64Encode
            | Function::Base64Decode
            | Function::Hash
            | Function::Uuid => Type::String,
            Function::Array
            | Function::ArrayPartition
            | Function::ArrayRange
            | Function::ArrayUnique
            | Function::StringSplit => Type::Array,
            Function::ArrayLength | Function::MathAdd | Function::MathRandom => Type::Number,
            Function::ArrayContains => Type::Bool,
            Function::JsonMerge => Type::Object,
            Function::StringToJson | Function::ArrayGetItem => Type::Any,
        }
    }
}

impl Type {
    fn of(value: &Value) -> Type {
        match value {
            Value::String(_) => Type::String,
            Value::Number(_) => Type::Number,
            Value::Bool(_) => Type::Bool,
            Value::Null => Type::Null,
            Value::Array(_) => Type::Array,
            Value::Object(_) => Type::Object,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Type::String => "a string",
            Type::Number => "a number",
            Type::Bool => "a boolean",
            Type::Null => "null",
            Type::Array => "an array",
            Type::Object => "an object",
            Type::Any => "a value",
        }
    }
}

/// Whether a `"key.$"` string value is an intrinsic call rather than a path.
pub fn is_call(src: &str) -> bool {
    src.starts_with("States.")
}

/// Parses and checks a call: syntax, known function name, nesting depth ≤ [`MAX_NESTING`],
/// argument count and the argument types known before running (literals and nested calls).
/// The error is a plain message naming the problem.
///
/// AWS itself accepts a definition whose call has a wrong argument count or type and fails
/// only when the call runs; [`parse_lenient`] accepts such calls the same way.
pub fn parse(src: &str) -> Result<Call, String> {
    let call = parse_lenient(src)?;
    call.check()?;
    Ok(call)
}

/// Parses a call, checking its syntax, function names and nesting depth only. Argument counts
/// and types are then checked when the call runs, as AWS does.
pub fn parse_lenient(src: &str) -> Result<Call, String> {
    let mut parser = CallParser { src, pos: 0 };
    let call = parser.call(1)?;
    parser.skip_spaces();
    if parser.pos < src.len() {
        return Err(format!(
            "unexpected text after the call at position {}",
            parser.pos
        ));
    }
    Ok(call)
}

impl Call {
    /// The function's name, e.g. `States.Format`.
    pub fn name(&self) -> &str {
        self.function.name()
    }

    /// The call as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The arguments.
    pub fn args(&self) -> &[Arg] {
        &self.args
    }

    /// Writes the call back as text (see the `Display` impl), e.g. for readable dumps.
    pub fn display(&self) -> String {
        self.to_string()
    }

    /// Every path among its arguments, nested calls' included.
    pub fn paths(&self) -> Vec<&Path> {
        let mut paths = Vec::new();
        let mut stack: Vec<&Call> = vec![self];
        while let Some(call) = stack.pop() {
            for arg in &call.args {
                match arg {
                    Arg::Literal(_) => {}
                    Arg::Path(path) => paths.push(path),
                    Arg::Call(inner) => stack.push(inner),
                }
            }
        }
        paths
    }

    /// Evaluates the call. The error is AWS's cause text, reported as `States.Runtime`.
    pub fn eval(&self, roots: &dyn Roots) -> Result<Value, IntrinsicError> {
        self.evaluate(roots)
            .map(|(value, _)| value)
            .map_err(|detail| IntrinsicError {
                cause: format!(
                    "The function '{}' had the following error: {detail}",
                    self.source
                ),
            })
    }

    /// Checks the argument count and the argument types known before running.
    fn check(&self) -> Result<(), String> {
        let name = self.name();
        let (min, max) = self.function.arity();
        let count = self.args.len();
        if count < min || max.is_some_and(|max| count > max) {
            let expected = match max {
                Some(max) if max == min => format!("{min}"),
                Some(max) => format!("{min} to {max}"),
                None => format!("at least {min}"),
            };
            return Err(format!(
                "{name} takes {expected} argument(s), but {count} were given"
            ));
        }
        for (index, arg) in self.args.iter().enumerate() {
            let wanted = self.function.parameter(index);
            let found = match arg {
                Arg::Literal(value) => Type::of(value),
                Arg::Path(_) => Type::Any,
                Arg::Call(call) => {
                    call.check()?;
                    call.function.returns()
                }
            };
            if wanted != Type::Any && found != Type::Any && found != wanted {
                return Err(format!(
                    "argument {} of {name} must be {}, not {}",
                    index + 1,
                    wanted.name(),
                    found.name()
                ));
            }
            let Arg::Literal(value) = arg else { continue };
            match (self.function, index, value) {
                (Function::JsonMerge, 2, Value::Bool(true)) => {
                    return Err(format!(
                    "the third argument of {name} must be false (deep merging is not supported)"
                ))
                }
                (Function::Hash, 1, Value::String(algorithm))
                    if !HASH_ALGORITHMS.contains(&algorithm.as_str()) =>
                {
                    return Err(format!(
                        "{name} does not support the algorithm '{algorithm}' (use one of {})",
                        HASH_ALGORITHMS.join(", ")
                    ))
                }
                _ => {}
            }
        }
        if self
            .template
            .as_ref()
            .is_some_and(|template| template.pieces.is_none())
        {
            return Err(format!(
                "the template of {name} has an unmatched '{{' or '}}'"
            ));
        }
        Ok(())
    }

    /// Evaluates the call; the error is the detail after "had the following error: ".
    fn evaluate(&self, roots: &dyn Roots) -> Result<(Value, Origin), String> {
        let mut values: Vec<(Cow<'_, Value>, Origin)> = Vec::with_capacity(self.args.len());
        for arg in &self.args {
            values.push(match arg {
                Arg::Literal(value) => (Cow::Borrowed(value), Origin::Plain),
                Arg::Path(path) => (
                    path.resolve_strict(roots)
                        .map_err(|err| missing_argument(path, &err, roots))?,
                    Origin::Plain,
                ),
                Arg::Call(call) => {
                    let (value, origin) = call.evaluate(roots)?;
                    (Cow::Owned(value), origin)
                }
            });
        }
        let invalid = || format!("Invalid arguments in {}", self.name());
        let (min, max) = self.function.arity();
        if values.len() < min || max.is_some_and(|max| values.len() > max) {
            return Err(invalid());
        }
        let arg = |index: usize| {
            values
                .get(index)
                .map_or(&Value::Null, |(value, _)| value.as_ref())
        };
        let plain =
            |value: Value| -> Result<(Value, Origin), String> { Ok((value, Origin::Plain)) };
        match self.function {
            Function::Format => self
                .format(&values)
                .ok_or_else(invalid)
                .and_then(|text| plain(Value::from(text))),
            Function::StringToJson => match arg(0) {
                Value::String(text) => parse_json(text)
                    .ok_or_else(invalid)
                    .map(|value| (value, Origin::Parsed)),
                _ => Err(invalid()),
            },
            Function::JsonToString => {
                let mut text = String::new();
                path::write_text(arg(0), TextStyle::Json, &mut text);
                plain(Value::from(text))
            }
            Function::Array => plain(Value::Array(
                values
                    .into_iter()
                    .map(|(value, _)| value.into_owned())
                    .collect(),
            )),
            Function::ArrayPartition => match (arg(0), int_arg(arg(1))) {
                (Value::Array(items), Some(size)) if size > 0 => {
                    let size = usize::try_from(size)
                        .unwrap_or(usize::MAX)
                        .min(items.len().max(1));
                    plain(Value::Array(
                        items
                            .chunks(size)
                            .map(|chunk| Value::from(chunk.to_vec()))
                            .collect(),
                    ))
                }
                _ => Err(invalid()),
            },
            Function::ArrayContains => match arg(0) {
                Value::Array(items) => {
                    let wanted = java_text(arg(1));
                    plain(Value::Bool(
                        items.iter().any(|item| java_text(item) == wanted),
                    ))
                }
                _ => Err(invalid()),
            },
            Function::ArrayRange => match (int_arg(arg(0)), int_arg(arg(1)), int_arg(arg(2))) {
                (Some(start), Some(end), Some(step)) if step != 0 => {
                    let count = if (step > 0 && start > end) || (step < 0 && start < end) {
                        0
                    } else {
                        (end - start) / step + 1
                    };
                    if count > MAX_RANGE_ITEMS {
                        return Err(invalid());
                    }
                    plain(Value::Array(
                        (0..count).map(|i| Value::from(start + i * step)).collect(),
                    ))
                }
                _ => Err(invalid()),
            },
            Function::ArrayGetItem => match (arg(0), int_arg(arg(1))) {
                (Value::Array(items), Some(index)) if index >= 0 => {
                    if items.is_empty() {
                        // AWS answers null here rather than failing.
                        return plain(Value::Null);
                    }
                    let item = usize::try_from(index)
                        .ok()
                        .and_then(|i| items.get(i))
                        .ok_or_else(invalid)?;
                    plain(item.clone())
                }
                _ => Err(invalid()),
            },
            Function::ArrayLength => match arg(0) {
                Value::Array(items) => plain(Value::from(items.len())),
                _ => Err(invalid()),
            },
            Function::ArrayUnique => match arg(0) {
                Value::Array(items) => plain(Value::from(unique(items))),
                _ => Err(invalid()),
            },
            Function::Base64Encode => match arg(0) {
                Value::String(text) if within_limit(text) => plain(Value::from(
                    base64::engine::general_purpose::STANDARD.encode(text.as_bytes()),
                )),
                _ => Err(invalid()),
            },
            Function::Base64Decode => match arg(0) {
                Value::String(text) if within_limit(text) => plain(Value::from(
                    String::from_utf8_lossy(&decode_base64_leniently(text)).into_owned(),
                )),
                _ => Err(invalid()),
            },
            Function::Hash => {
                let Value::String(algorithm) = arg(1) else {
                    return Err(invalid());
                };
                let data = match arg(0) {
                    Value::String(text) => Cow::Borrowed(text.as_str()),
                    other => Cow::Owned(java_text(other)),
                };
                if !within_limit(&data) {
                    return Err(invalid());
                }
                hash(algorithm, data.as_bytes())
                    .ok_or_else(invalid)
                    .and_then(|digest| plain(Value::from(digest)))
            }
            Function::JsonMerge => match (arg(0), arg(1), arg(2)) {
                (Value::Object(first), Value::Object(second), Value::Bool(false)) => {
                    // One allocation and an index for large maps: inserting key by key
                    // copies the map each time, quadratic in its width.
                    let mut merged = first.clone();
                    merged.extend(
                        second
                            .iter()
                            .map(|(key, value)| (key.clone(), value.clone())),
                    );
                    plain(Value::Object(merged))
                }
                _ => Err(invalid()),
            },
            Function::MathRandom => {
                let seed = match values.get(2) {
                    None => None,
                    Some((value, _)) => Some(int_arg(value).ok_or_else(invalid)?),
                };
                match (int_arg(arg(0)), int_arg(arg(1))) {
                    (Some(start), Some(end)) if start < end => {
                        plain(Value::from(random_between(start, end, seed)))
                    }
                    _ => Err(invalid()),
                }
            }
            Function::MathAdd => match (rounded_int(arg(0)), rounded_int(arg(1))) {
                (Some(a), Some(b)) => i32::try_from(a + b)
                    .map(Value::from)
                    .map(|v| (v, Origin::Plain))
                    .map_err(|_| invalid()),
                _ => Err(invalid()),
            },
            Function::StringSplit => match (arg(0), arg(1)) {
                (Value::String(text), Value::String(delimiters)) => plain(Value::Array(
                    text.split(|c| delimiters.contains(c))
                        .filter(|part| !part.is_empty())
                        .map(|part| Value::from(part.to_string()))
                        .collect(),
                )),
                _ => Err(invalid()),
            },
            Function::Uuid => plain(Value::from(uuid_v4())),
        }
    }

    /// `States.Format`: `None` when the template is not a string, is malformed, or its `{}`
    /// count differs from the number of values.
    fn format(&self, values: &[(Cow<'_, Value>, Origin)]) -> Option<String> {
        let pieces: Cow<'_, [Piece]> = match &self.template {
            Some(template) => Cow::Borrowed(template.pieces.as_deref()?),
            None => match values.first().map(|(value, _)| value.as_ref()) {
                Some(Value::String(text)) => Cow::Owned(parse_template(text)?),
                _ => return None,
            },
        };
        let holes = pieces.iter().filter(|piece| **piece == Piece::Hole).count();
        if holes + 1 != values.len() {
            return None;
        }
        let mut text = String::with_capacity(32);
        let mut next = values.iter().skip(1);
        for piece in pieces.iter() {
            match piece {
                Piece::Text(literal) => text.push_str(literal),
                Piece::Hole => {
                    let (value, origin) = next.next()?;
                    let style = if *origin == Origin::Parsed {
                        TextStyle::Json
                    } else {
                        TextStyle::Java
                    };
                    path::write_text(value, style, &mut text);
                }
            }
        }
        Some(text)
    }
}

impl fmt::Display for Call {
    /// Writes the call back as text, in a canonical spacing.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", self.name())?;
        for (index, arg) in self.args.iter().enumerate() {
            if index > 0 {
                f.write_str(", ")?;
            }
            match &self.template {
                // The template keeps its escapes: `\{` is not a placeholder.
                Some(template) if index == 0 => write!(f, "'{}'", template.raw)?,
                _ => arg.fmt(f)?,
            }
        }
        f.write_char(')')
    }
}

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arg::Literal(Value::String(text)) => {
                f.write_char('\'')?;
                for c in text.chars() {
                    if matches!(c, '\'' | '{' | '}' | '\\') {
                        f.write_char('\\')?;
                    }
                    f.write_char(c)?;
                }
                f.write_char('\'')
            }
            Arg::Literal(value) => write!(f, "{value}"),
            Arg::Path(path) => f.write_str(path.source()),
            Arg::Call(call) => call.fmt(f),
        }
    }
}

/// The detail for a path argument that failed: Jayway's own text for a step that needs an
/// array, AWS's "could not be found" sentence otherwise. A `$$` path is named as `$`.
fn missing_argument(path: &Path, err: &path::PathError, roots: &dyn Roots) -> String {
    if err.kind() == PathErrorKind::NotAnArray {
        return err.detail();
    }
    let source = path.source();
    let named = match source.strip_prefix("$$") {
        Some(rest) => Cow::Owned(format!("${rest}")),
        None => Cow::Borrowed(source),
    };
    let mut input = String::new();
    path::write_text(roots.input(), TextStyle::Json, &mut input);
    format!(
        "The JsonPath argument for the field '{named}' could not be found in the input '{input}'"
    )
}

/// Reads a JSON text as Jackson's `readTree` does: blank text is `null`, and text after the
/// first value is ignored.
fn parse_json(text: &str) -> Option<Value> {
    match text.trim() {
        "" => return Some(Value::Null),
        // An integer to Jackson, where serde_json reads the float -0.0.
        "-0" => return Some(Value::from(0)),
        _ => {}
    }
    // Rare enough to go through serde_json, whose stream reader stops after one value.
    serde_json::Deserializer::from_str(text)
        .into_iter::<serde_json::Value>()
        .next()?
        .ok()
        .map(Value::from)
}

/// A number argument truncated toward zero and saturated to a 32-bit integer, as Java's
/// `(int)` cast does; `None` for anything but a number.
fn int_arg(value: &Value) -> Option<i64> {
    let Value::Number(number) = value else {
        return None;
    };
    let wide = match (number.as_i64(), number.as_u64()) {
        (Some(i), _) => i,
        (None, Some(_)) => i64::MAX,
        (None, None) => number.as_f64()?.trunc() as i64,
    };
    Some(wide.clamp(i64::from(i32::MIN), i64::from(i32::MAX)))
}

/// A number argument rounded as Java's `Math.round` (half up), which must then fit in a
/// 32-bit integer; `None` otherwise.
fn rounded_int(value: &Value) -> Option<i64> {
    let Value::Number(number) = value else {
        return None;
    };
    let rounded = match number.as_i64() {
        Some(i) => i,
        None => {
            let f = number.as_f64()?;
            let truncated = f.trunc();
            // `round` goes half away from zero; Java goes half up, so -1.5 becomes -1.
            let r = if f - truncated == -0.5 {
                truncated
            } else {
                f.round()
            };
            if !(i32::MIN as f64..=i32::MAX as f64).contains(&r) {
                return None;
            }
            r as i64
        }
    };
    i32::try_from(rounded).ok().map(i64::from)
}

/// A value's text as Java's `toString` writes it.
fn java_text(value: &Value) -> String {
    let mut text = String::new();
    path::write_text(value, TextStyle::Java, &mut text);
    text
}

/// Whether a string is at most [`MAX_INPUT_CHARS`] long, counted in UTF-16 units as Java does.
fn within_limit(text: &str) -> bool {
    // A character never takes more UTF-16 units than UTF-8 bytes, so short texts need no count.
    text.len() <= MAX_INPUT_CHARS || text.encode_utf16().count() <= MAX_INPUT_CHARS
}

/// `States.ArrayUnique`: the first of each group of structurally equal items, in order.
fn unique(items: &[Value]) -> Vec<Value> {
    let mut seen: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut kept: Vec<Value> = Vec::new();
    for item in items {
        let bucket = seen.entry(structural_hash(item, 0)).or_default();
        if bucket.iter().any(|&index| same_value(&kept[index], item)) {
            continue;
        }
        bucket.push(kept.len());
        kept.push(item.clone());
    }
    kept
}

/// A hash that agrees with [`same_value`]: object members hash independently of their order.
fn structural_hash(value: &Value, depth: usize) -> u64 {
    let mut hasher = DefaultHasher::new();
    match value {
        Value::Null => 0u8.hash(&mut hasher),
        Value::Bool(b) => (1u8, b).hash(&mut hasher),
        Value::Number(n) => (2u8, n.to_string()).hash(&mut hasher),
        Value::String(s) => (3u8, s).hash(&mut hasher),
        Value::Array(items) => {
            (4u8, items.len()).hash(&mut hasher);
            if depth < MAX_HASH_DEPTH {
                items
                    .iter()
                    .for_each(|item| structural_hash(item, depth + 1).hash(&mut hasher));
            }
        }
        Value::Object(map) => {
            (5u8, map.len()).hash(&mut hasher);
            if depth < MAX_HASH_DEPTH {
                let members = map.iter().fold(0u64, |sum, (key, item)| {
                    let mut member = DefaultHasher::new();
                    (key, structural_hash(item, depth + 1)).hash(&mut member);
                    sum.wrapping_add(member.finish())
                });
                members.hash(&mut hasher);
            }
        }
    }
    hasher.finish()
}

/// Structural equality (object member order aside; `1` and `1.0` differ, as in Java), without
/// recursion.
fn same_value(a: &Value, b: &Value) -> bool {
    let mut pending = vec![(a, b)];
    while let Some((a, b)) = pending.pop() {
        match (a, b) {
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
                pending.extend(x.iter().zip(y))
            }
            (Value::Object(x), Value::Object(y)) if x.len() == y.len() => {
                for (key, item) in x {
                    let Some(other) = y.get(key) else {
                        return false;
                    };
                    pending.push((item, other));
                }
            }
            (Value::Array(_) | Value::Object(_), _) | (_, Value::Array(_) | Value::Object(_)) => {
                return false
            }
            (a, b) if a != b => return false,
            _ => {}
        }
    }
    true
}

/// Decodes Base64 as Apache Commons Codec does by default: characters outside the alphabet
/// (standard or URL-safe) are skipped, `=` ends the data, and a final partial group yields
/// the whole bytes it holds.
fn decode_base64_leniently(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 2);
    let mut bits: u32 = 0;
    let mut count = 0;
    for byte in text.bytes() {
        let sextet = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            _ => continue,
        };
        bits = (bits << 6) | u32::from(sextet);
        count += 1;
        if count == 4 {
            out.extend_from_slice(&[(bits >> 16) as u8, (bits >> 8) as u8, bits as u8]);
            bits = 0;
            count = 0;
        }
    }
    match count {
        2 => out.push((bits >> 4) as u8),
        3 => out.extend_from_slice(&[(bits >> 10) as u8, (bits >> 2) as u8]),
        _ => {}
    }
    out
}

/// The lowercase hex digest of `data`; `None` for an unknown algorithm.
fn hash(algorithm: &str, data: &[u8]) -> Option<String> {
    let digest: Vec<u8> = match algorithm {
        "MD5" => md5::Md5::digest(data).to_vec(),
        "SHA-1" => sha1::Sha1::digest(data).to_vec(),
        "SHA-256" => sha2::Sha256::digest(data).to_vec(),
        "SHA-384" => sha2::Sha384::digest(data).to_vec(),
        "SHA-512" => sha2::Sha512::digest(data).to_vec(),
        _ => return None,
    };
    let mut hex = String::with_capacity(digest.len() * 2);
    for byte in digest {
        let _ = write!(hex, "{byte:02x}");
    }
    Some(hex)
}

/// A random integer in `start..end`; with a seed, the one `java.util.Random(seed)` picks.
fn random_between(start: i64, end: i64, seed: Option<i64>) -> i64 {
    let width = end - start;
    match seed {
        None => fastrand::i64(start..end),
        Some(seed) => {
            let mut random = JavaRandom::new(seed);
            match i32::try_from(width) {
                Ok(bound) => start + i64::from(random.next_int(bound)),
                Err(_) => start + (random.next_long().rem_euclid(width)),
            }
        }
    }
}

/// `java.util.Random`'s generator, so that a seed gives the same numbers as on the JVM.
struct JavaRandom(u64);

impl JavaRandom {
    const MULTIPLIER: u64 = 0x5_DEEC_E66D;
    const MASK: u64 = (1 << 48) - 1;

    fn new(seed: i64) -> Self {
        JavaRandom((seed as u64 ^ Self::MULTIPLIER) & Self::MASK)
    }

    fn next(&mut self, bits: u32) -> i32 {
        self.0 = (self.0.wrapping_mul(Self::MULTIPLIER).wrapping_add(0xB)) & Self::MASK;
        (self.0 >> (48 - bits)) as u32 as i32
    }

    /// `nextInt(bound)` for a positive bound.
    fn next_int(&mut self, bound: i32) -> i32 {
        let mut r = self.next(31);
        let m = bound - 1;
        if bound & m == 0 {
            return ((i64::from(bound) * i64::from(r)) >> 31) as i32;
        }
        let mut u = r;
        loop {
            r = u % bound;
            if u.wrapping_sub(r).wrapping_add(m) >= 0 {
                return r;
            }
            u = self.next(31);
        }
    }

    fn next_long(&mut self) -> i64 {
        (i64::from(self.next(32)) << 32).wrapping_add(i64::from(self.next(32)))
    }
}

/// A random (version 4) UUID in lowercase.
pub(crate) fn uuid_v4() -> String {
    let mut bytes = fastrand::u128(..).to_be_bytes();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let mut text = String::with_capacity(36);
    for (index, byte) in bytes.iter().enumerate() {
        if matches!(index, 4 | 6 | 8 | 10) {
            text.push('-');
        }
        let _ = write!(text, "{byte:02x}");
    }
    text
}

/// Splits a `States.Format` template into text and `{}` holes. `\{`, `\}`, `\\` and `\'` stand
/// for the character itself; any other brace is an error.
fn parse_template(raw: &str) -> Option<Vec<Piece>> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some(&escaped @ ('{' | '}' | '\\' | '\'')) => {
                    text.push(escaped);
                    chars.next();
                }
                _ => text.push('\\'),
            },
            '{' if chars.next() == Some('}') => {
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Hole);
            }
            '{' | '}' => return None,
            c => text.push(c),
        }
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Some(pieces)
}

/// A cursor over a call's text.
struct CallParser<'s> {
    src: &'s str,
    pos: usize,
}

impl<'s> CallParser<'s> {
    fn peek(&self) -> Option<u8> {
        self.src.as_bytes().get(self.pos).copied()
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    fn error(&self, message: &str) -> String {
        format!("{message} at position {}", self.pos)
    }

    /// A call starting here, at nesting `depth` (1 for the outermost).
    fn call(&mut self, depth: usize) -> Result<Call, String> {
        let start = self.pos;
        if !self.src[start..].starts_with("States.") {
            return Err(self.error("expected an intrinsic function such as States.Format"));
        }
        self.pos += "States.".len();
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric()) {
            self.pos += 1;
        }
        let name = &self.src[start..self.pos];
        let function = Function::from_name(name)
            .ok_or_else(|| format!("unknown intrinsic function '{name}'"))?;
        if depth > MAX_NESTING {
            return Err(format!(
                "intrinsic functions may be nested at most {MAX_NESTING} deep"
            ));
        }
        if self.peek() != Some(b'(') {
            return Err(self.error(&format!("expected '(' after {name}")));
        }
        self.pos += 1;
        let mut args = Vec::new();
        let mut raw_template = None;
        self.skip_spaces();
        if self.peek() == Some(b')') {
            self.pos += 1;
        } else {
            loop {
                self.skip_spaces();
                let (arg, raw) = self.arg(depth)?;
                if args.is_empty() {
                    raw_template = raw;
                }
                args.push(arg);
                self.skip_spaces();
                match self.peek() {
                    Some(b',') => self.pos += 1,
                    Some(b')') => {
                        self.pos += 1;
                        break;
                    }
                    _ => return Err(self.error("expected ',' or ')'")),
                }
            }
        }
        let template = match (function, raw_template) {
            (Function::Format, Some(raw)) => Some(FormatTemplate {
                raw: raw.into(),
                pieces: parse_template(raw),
            }),
            _ => None,
        };
        Ok(Call {
            function,
            args,
            source: self.src[start..self.pos].into(),
            template,
        })
    }

    /// An argument, with the raw text of a string literal (escapes kept).
    fn arg(&mut self, depth: usize) -> Result<(Arg, Option<&'s str>), String> {
        match self.peek() {
            Some(b'\'') => {
                let (text, raw) = self.string()?;
                Ok((Arg::Literal(Value::from(text)), Some(raw)))
            }
            Some(b'$') => {
                let start = self.pos;
                self.pos = self.path_end();
                let text = self.src[start..self.pos].trim_end();
                path::parse(text)
                    .map(|path| (Arg::Path(path), None))
                    .map_err(|err| format!("invalid path argument: {err}"))
            }
            Some(b'S') if self.src[self.pos..].starts_with("States.") => {
                Ok((Arg::Call(Box::new(self.call(depth + 1)?)), None))
            }
            Some(b'-' | b'0'..=b'9') => {
                let start = self.pos;
                while self.peek().is_some_and(|c| {
                    c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b'e' | b'E')
                }) {
                    self.pos += 1;
                }
                let text = &self.src[start..self.pos];
                match crate::json::from_str(text) {
                    Ok(number @ Value::Number(_)) => Ok((Arg::Literal(number), None)),
                    _ => Err(self.error(&format!("invalid number '{text}'"))),
                }
            }
            _ => {
                for (word, value) in [
                    ("true", Value::Bool(true)),
                    ("false", Value::Bool(false)),
                    ("null", Value::Null),
                ] {
                    let rest = &self.src[self.pos..];
                    let standalone = rest.starts_with(word)
                        && rest
                            .as_bytes()
                            .get(word.len())
                            .is_none_or(|c| !c.is_ascii_alphanumeric() && *c != b'_');
                    if standalone {
                        self.pos += word.len();
                        return Ok((Arg::Literal(value), None));
                    }
                }
                Err(self.error(
                    "expected an argument (a 'string', number, true, false, null, path or call)",
                ))
            }
        }
    }

    /// A `'…'` literal: its value and its raw text between the quotes.
    fn string(&mut self) -> Result<(String, &'s str), String> {
        let src = self.src;
        self.pos += 1;
        let start = self.pos;
        let mut text = String::new();
        loop {
            let Some(c) = self.src[self.pos..].chars().next() else {
                return Err(self.error("unterminated string literal"));
            };
            self.pos += c.len_utf8();
            match c {
                '\'' => return Ok((text, &src[start..self.pos - 1])),
                '\\' => match self.src[self.pos..].chars().next() {
                    Some(escaped @ ('\'' | '{' | '}' | '\\')) => {
                        text.push(escaped);
                        self.pos += 1;
                    }
                    _ => return Err(self.error("invalid escape in string literal (only \\', \\{, \\} and \\\\ are allowed)")),
                },
                c => text.push(c),
            }
        }
    }

    /// Where a path argument ends: the first `,` or `)` outside brackets, filters and quotes.
    fn path_end(&self) -> usize {
        let bytes = self.src.as_bytes();
        let mut brackets = 0usize;
        let mut parens = 0usize;
        let mut quote: Option<u8> = None;
        let mut escaped = false;
        for (index, &byte) in bytes.iter().enumerate().skip(self.pos) {
            if let Some(q) = quote {
                match byte {
                    _ if escaped => escaped = false,
                    b'\\' => escaped = true,
                    _ if byte == q => quote = None,
                    _ => {}
                }
                continue;
            }
            match byte {
                b'\'' | b'"' if brackets > 0 => quote = Some(byte),
                b'[' => brackets += 1,
                b']' => brackets = brackets.saturating_sub(1),
                b'(' if brackets > 0 => parens += 1,
                b')' if parens > 0 => parens -= 1,
                b',' | b')' if brackets == 0 => return index,
                _ => {}
            }
        }
        bytes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json;
    use crate::json::Map;

    struct TestRoots {
        input: Value,
        context: Value,
        vars: Map,
    }

    impl Roots for TestRoots {
        fn input(&self) -> &Value {
            &self.input
        }
        fn context(&self) -> &Value {
            &self.context
        }
        fn variable(&self, name: &str) -> Option<&Value> {
            self.vars.get(name)
        }
    }

    /// What a case expects.
    enum Want {
        /// The result.
        Is(Value),
        /// A failure whose cause is exactly this.
        Fails(&'static str),
        /// A failure whose cause mentions this.
        FailsWith(&'static str),
        /// `parse` rejects the call with a message mentioning this.
        Rejected(&'static str),
        /// `parse` rejects the call, but `parse_lenient` accepts it and it fails with this cause.
        FailsWhenRun(&'static str),
    }

    fn check(src: &str, input: Value, want: Want) {
        let roots = TestRoots {
            input,
            context: json!({"Execution": {"Input": {"FunctionInput": "a,b,,c"}, "Name": "run-1"}, "Map": {"Item": {"Value": "Pikachu"}}}),
            vars: json!({"template": "It's {}!", "n": 7})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        };
        assert!(is_call(src), "{src}");
        match want {
            Want::Rejected(fragment) => match parse(src) {
                Err(message) => assert!(message.contains(fragment), "{src}: {message}"),
                Ok(call) => panic!("{src}: expected a parse error, got {call}"),
            },
            Want::FailsWhenRun(cause) => {
                assert!(parse(src).is_err(), "{src}: parse should reject it");
                let call = parse_lenient(src).unwrap_or_else(|e| panic!("{src}: {e}"));
                assert_eq!(
                    call.eval(&roots).map_err(|e| e.to_string()),
                    Err(cause.to_string()),
                    "{src}"
                );
            }
            other => {
                let call = parse(src).unwrap_or_else(|e| panic!("{src}: {e}"));
                let result = call.eval(&roots);
                match (other, result) {
                    (Want::Is(expected), Ok(value)) => assert_eq!(value, expected, "{src}"),
                    (Want::Fails(cause), Err(err)) => assert_eq!(err.to_string(), cause, "{src}"),
                    (Want::FailsWith(fragment), Err(err)) => {
                        assert!(err.cause().contains(fragment), "{src}: {err}")
                    }
                    (_, result) => panic!("{src}: unexpected {result:?}"),
                }
            }
        }
    }

    #[test]
    fn evaluates_like_aws() {
        use Want::*;
        let cases: Vec<(&str, Value, Want)> = vec![
            // States.Format (recorded on AWS).
            ("States.Format('Formatting argument {}.', $.v)", json!({"v": ""}), Is(json!("Formatting argument ."))),
            ("States.Format('Formatting argument {}.', $.v)", json!({"v": null}), Is(json!("Formatting argument null."))),
            ("States.Format('Formatting argument {}.', $.v)", json!({"v": 1}), Is(json!("Formatting argument 1."))),
            ("States.Format('Formatting argument {}.', $.v)", json!({"v": 1.1}), Is(json!("Formatting argument 1.1."))),
            (
                "States.Format('fst={} and snd={}.', $.a, $.b)",
                json!({"a": {"Arg1": 1, "Arg2": []}, "b": "{\"Arg1\": 1}"}),
                Is(json!("fst={Arg1=1, Arg2=[]} and snd={\"Arg1\": 1}.")),
            ),
            ("States.Format('{} {} {}', $.a, $.b, $.c)", json!({"a": "x", "b": [1, "y", null], "c": true}), Is(json!("x [1, y, null] true"))),
            ("States.Format('This is a custom error message for {}, caused by {}.', $.Error, $.Cause)", json!({"Error": "e", "Cause": "c"}), Is(json!("This is a custom error message for e, caused by c."))),
            ("States.Format($template, $$.Map.Item.Value)", json!({}), Is(json!("It's Pikachu!"))),
            ("States.Format('Name: \\'{}\\', \\{literal\\} \\\\ {}', $.a, 2.50)", json!({"a": "Ada"}), Is(json!("Name: 'Ada', {literal} \\ 2.5"))),
            ("States.Format('no placeholders')", json!({}), Is(json!("no placeholders"))),
            ("States.Format( '{}:{}' , $.a ,$$.Execution.Name )", json!({"a": "job"}), Is(json!("job:run-1"))),
            ("States.Format('{}', States.StringToJson($.j))", json!({"j": "\"x\""}), Is(json!("\"x\""))),
            ("States.Format('{}', 1e20)", json!({}), Is(json!("1.0E20"))),
            ("States.Format('{} {}', $.a)", json!({"a": 1}), Fails("The function 'States.Format('{} {}', $.a)' had the following error: Invalid arguments in States.Format")),
            ("States.Format($.t, 1)", json!({"t": 5}), FailsWith("Invalid arguments in States.Format")),
            ("States.Format($.t, 1)", json!({"t": "{"}), FailsWith("Invalid arguments in States.Format")),
            ("States.Format('{}', $.nope)", json!({"other": 1}), Fails("The function 'States.Format('{}', $.nope)' had the following error: The JsonPath argument for the field '$.nope' could not be found in the input '{\"other\":1}'")),
            ("States.Format('{}', States.Format('{}', $.a.b))", json!({"other": 1}), Fails("The function 'States.Format('{}', States.Format('{}', $.a.b))' had the following error: The JsonPath argument for the field '$.a.b' could not be found in the input '{\"other\":1}'")),
            ("States.Format('{}', $.items[5])", json!({"items": [1, 2]}), FailsWith("field '$.items[5]' could not be found in the input '{\"items\":[1,2]}'")),
            ("States.Format('{}', $$.Nope.Deep)", json!({"other": 1}), FailsWith("field '$.Nope.Deep' could not be found in the input '{\"other\":1}'")),
            ("States.Format('{}', $.other[0])", json!({"other": 1}), Fails("The function 'States.Format('{}', $.other[0])' had the following error: Filter: [0] can only be applied to arrays. Current context is: 1")),
            ("States.Format('{}', $nope)", json!({}), FailsWith("field '$nope' could not be found")),
            // States.StringToJson and States.JsonToString.
            ("States.StringToJson($.s)", json!({"s": " "}), Is(json!(null))),
            ("States.StringToJson($.s)", json!({"s": ""}), Is(json!(null))),
            ("States.StringToJson($.s)", json!({"s": "-0"}), Is(json!(0))),
            ("States.StringToJson($.s)", json!({"s": "1.1"}), Is(json!(1.1))),
            ("States.StringToJson($.s)", json!({"s": "\"HelloWorld\""}), Is(json!("HelloWorld"))),
            ("States.StringToJson($.s)", json!({"s": "{\"a\": [1, true]} trailing"}), Is(json!({"a": [1, true]}))),
            ("States.StringToJson('{\"constant_in_literal\": \"false\"}')", json!({}), Is(json!({"constant_in_literal": "false"}))),
            ("States.StringToJson($.s)", json!({"s": "{oops"}), FailsWith("Invalid arguments in States.StringToJson")),
            ("States.StringToJson($.s)", json!({"s": {"a": 1}}), FailsWith("Invalid arguments in States.StringToJson")),
            ("States.JsonToString($.v)", json!({"v": [1, 2, "HelloWorld"]}), Is(json!("[1,2,\"HelloWorld\"]"))),
            ("States.JsonToString($.v)", json!({"v": null}), Is(json!("null"))),
            ("States.JsonToString($.v)", json!({"v": 1.1}), Is(json!("1.1"))),
            ("States.JsonToString($)", json!({"other": 1}), Is(json!("{\"other\":1}"))),
            // States.Array and friends.
            ("States.Array()", json!({}), Is(json!([]))),
            ("States.Array($.a, $.a)", json!({"a": {"Arg1": 1}}), Is(json!([{"Arg1": 1}, {"Arg1": 1}]))),
            ("States.Array(42, true, null, 'hello', -1.5)", json!({}), Is(json!([42, true, null, "hello", -1.5]))),
            ("States.Array(1, States.Array(2, 3))", json!({}), Is(json!([1, [2, 3]]))),
            ("States.ArrayPartition($.a, 2)", json!({"a": [0, 1, 2, 3]}), Is(json!([[0, 1], [2, 3]]))),
            ("States.ArrayPartition($.a, 3)", json!({"a": [0, 1, 2, 3]}), Is(json!([[0, 1, 2], [3]]))),
            ("States.ArrayPartition($.a, 5)", json!({"a": []}), Is(json!([]))),
            ("States.ArrayPartition($.a, 2.6)", json!({"a": [1, 2, 3, 4, 5]}), Is(json!([[1, 2], [3, 4], [5]]))),
            ("States.ArrayPartition($.a, 2147483647)", json!({"a": [1, 2]}), Is(json!([[1, 2]]))),
            ("States.ArrayPartition($.a, 0.6)", json!({"a": [1]}), FailsWith("Invalid arguments in States.ArrayPartition")),
            ("States.ArrayPartition($.a, $.n)", json!({"a": [1], "n": -1}), FailsWith("Invalid arguments in States.ArrayPartition")),
            ("States.ArrayContains($.a, $.v)", json!({"a": [[1, 2, 3], 2], "v": [1, 2, 3]}), Is(json!(true))),
            ("States.ArrayContains($.a, $.v)", json!({"a": [[1, 2, 3], 2], "v": null}), Is(json!(false))),
            ("States.ArrayContains($.a, $.v)", json!({"a": [{"1": 2, "2": []}], "v": []}), Is(json!(false))),
            ("States.ArrayContains($.a, null)", json!({"a": [1, null]}), Is(json!(true))),
            ("States.ArrayContains($.a, true)", json!({"a": ["true"]}), Is(json!(true))),
            ("States.ArrayContains($.a, false)", json!({"a": [0, 1, -1.5]}), Is(json!(false))),
            ("States.ArrayContains($.a, $.v)", json!({"a": [{"a": 1, "b": 2}], "v": {"b": 2, "a": 1}}), Is(json!(false))),
            ("States.ArrayContains($.a, 1)", json!({"a": "x"}), FailsWith("Invalid arguments in States.ArrayContains")),
            ("States.ArrayRange(0, 9, 3)", json!({}), Is(json!([0, 3, 6, 9]))),
            ("States.ArrayRange(1, 9, 9)", json!({}), Is(json!([1]))),
            ("States.ArrayRange(5, 1, -2)", json!({}), Is(json!([5, 3, 1]))),
            ("States.ArrayRange(5, 1, 1)", json!({}), Is(json!([]))),
            ("States.ArrayRange(1.6, 1.4, 1)", json!({}), Is(json!([1]))),
            ("States.ArrayRange(5.4, -0.6, -2.4)", json!({}), Is(json!([5, 3, 1]))),
            ("States.ArrayRange(0, 3, 1)", json!({}), Is(json!([0, 1, 2, 3]))),
            ("States.ArrayRange($.a, $.b, 1)", json!({"a": 1, "b": 1000}), Is(Value::Array((1..=1000).map(Value::from).collect()))),
            ("States.ArrayRange($.a, $.b, 1)", json!({"a": 1, "b": 1001}), FailsWith("Invalid arguments in States.ArrayRange")),
            ("States.ArrayRange(1, 10, 0.49)", json!({}), FailsWith("Invalid arguments in States.ArrayRange")),
            ("States.ArrayRange(1, 10, $.s)", json!({"s": "1"}), FailsWith("Invalid arguments in States.ArrayRange")),
            ("States.ArrayGetItem($.a, $.i)", json!({"a": [1, 2, 3, 4, 5, 6, 7, 8, 9], "i": 5}), Is(json!(6))),
            ("States.ArrayGetItem($.a, 1.2)", json!({"a": [10, 20, 30]}), Is(json!(20))),
            ("States.ArrayGetItem($.a, 999)", json!({"a": []}), Is(json!(null))),
            ("States.ArrayGetItem($.a, 3)", json!({"a": [10, 20, 30]}), FailsWith("Invalid arguments in States.ArrayGetItem")),
            ("States.ArrayGetItem($.a, -1)", json!({"a": [10, 20, 30]}), FailsWith("Invalid arguments in States.ArrayGetItem")),
            ("States.ArrayGetItem(States.StringSplit($$.Execution.Input.FunctionInput, ','), 2)", json!({}), Is(json!("c"))),
            ("States.ArrayLength($.a)", json!({"a": [1, 2, 3, 4, 5, 6, 7, 8, 9]}), Is(json!(9))),
            ("States.ArrayLength($.a[*].nope)", json!({"a": [1, 2]}), Is(json!(0))),
            ("States.ArrayLength($.a)", json!({"a": {"k": 1}}), FailsWith("Invalid arguments in States.ArrayLength")),
            (
                "States.ArrayUnique($.a)",
                json!({"a": [null, null, true, true, false, 1, 1, 1.0, 1.1, "1", "HelloWorld", "HelloWorld", [], [], [null], [null], {"a": 1, "b": 2}, {"b": 2, "a": 1}, {"a": 1, "b": 1}]}),
                Is(json!([null, true, false, 1, 1.0, 1.1, "1", "HelloWorld", [], [null], {"a": 1, "b": 2}, {"a": 1, "b": 1}])),
            ),
            // Encoding and hashing (recorded on AWS).
            ("States.Base64Encode($.s)", json!({"s": "Data to encode"}), Is(json!("RGF0YSB0byBlbmNvZGU="))),
            ("States.Base64Encode($.s)", json!({"s": ""}), Is(json!(""))),
            ("States.Base64Encode('✓')", json!({}), Is(json!("4pyT"))),
            ("States.Base64Decode($.s)", json!({"s": "é".repeat(10_000)}), Is(json!(""))),
            ("States.Base64Encode($.s)", json!({"s": "a".repeat(10_001)}), FailsWith("Invalid arguments in States.Base64Encode")),
            ("States.Base64Encode($.s)", json!({"s": ["x"]}), FailsWith("Invalid arguments in States.Base64Encode")),
            ("States.Base64Decode($.s)", json!({"s": "RGF0YSB0byBlbmNvZGU="}), Is(json!("Data to encode"))),
            ("States.Base64Decode($.s)", json!({"s": ""}), Is(json!(""))),
            ("States.Base64Decode($.s)", json!({"s": " YWJjZA== "}), Is(json!("abcd"))),
            ("States.Base64Decode($.s)", json!({"s": "abc"}), Is(json!("i\u{fffd}"))),
            ("States.Base64Decode($.s)", json!({"s": "ab==cd"}), Is(json!("i"))),
            ("States.Base64Decode($.s)", json!({"s": "YWJjAGRlZg=="}), Is(json!("abc\u{0}def"))),
            ("States.Base64Decode($.s)", json!({"s": 123}), FailsWith("Invalid arguments in States.Base64Decode")),
            ("States.Hash($.s, 'MD5')", json!({"s": "hello"}), Is(json!("5d41402abc4b2a76b9719d911017c592"))),
            ("States.Hash($.s, $.a)", json!({"s": "input data", "a": "SHA-1"}), Is(json!("aaff4a450a104cd177d28d18d74485e8cae074b7"))),
            ("States.Hash($.s, $.a)", json!({"s": "input data", "a": "SHA-256"}), Is(json!("b4a697a057313163aee33cd8d40c66e9f0f177e00cac2de32475ffff6169c3e3"))),
            ("States.Hash($.s, $.a)", json!({"s": "input data", "a": "SHA-384"}), Is(json!("d28a7d5cf25a74f11a50a18452b75e04bb3d70c9dd0510d6123aa008c756511b87525bdc835ebb27e1fb9e9374a15562"))),
            ("States.Hash($.s, $.a)", json!({"s": "input data", "a": "SHA-512"}), Is(json!("6ce4adb348546d4f449c4d25aad9a7c9cb711d9e91982d3f0b29ca2f3f47d4ce2deba23bf2954f0f1d593fc50283731a533d30d425402d4f91316d871303aac4"))),
            ("States.Hash(123, 'MD5')", json!({}), Is(json!("202cb962ac59075b964b07152d234b70"))),
            ("States.Hash($.s, $.a)", json!({"s": "x", "a": "sha-256"}), FailsWith("Invalid arguments in States.Hash")),
            // JSON merging.
            (
                "States.JsonMerge($.a, $.b, false)",
                json!({"a": {"a": {"a1": 1}, "b": 2, "d": 3}, "b": {"a": {"a3": 1}, "c": 3, "d": 4}}),
                Is(json!({"a": {"a3": 1}, "b": 2, "d": 4, "c": 3})),
            ),
            ("States.JsonMerge($.a, $.b, false)", json!({"a": {}, "b": []}), FailsWith("Invalid arguments in States.JsonMerge")),
            // Math.
            ("States.MathAdd($.a, $.b)", json!({"a": -9, "b": 3}), Is(json!(-6))),
            ("States.MathAdd($.a, $.b)", json!({"a": 1.49, "b": 1.5}), Is(json!(3))),
            ("States.MathAdd($.a, $.b)", json!({"a": 1.5, "b": 1.51}), Is(json!(4))),
            ("States.MathAdd($.a, $.b)", json!({"a": 1.49, "b": -1.49}), Is(json!(0))),
            ("States.MathAdd($.a, $.b)", json!({"a": -1.5, "b": 0}), Is(json!(-1))),
            ("States.MathAdd($.a, $.b)", json!({"a": -1.51, "b": 0}), Is(json!(-2))),
            ("States.MathAdd($.a, $.b)", json!({"a": -0.5, "b": 0.5}), Is(json!(1))),
            ("States.MathAdd($.a, $.b)", json!({"a": -3.5, "b": 0}), Is(json!(-3))),
            ("States.MathAdd($.a, $.b)", json!({"a": 2.5, "b": 0}), Is(json!(3))),
            ("States.MathAdd($.a, $.b)", json!({"a": 0.49999999999999994, "b": 0}), Is(json!(0))),
            ("States.MathAdd($.Iterations, -1)", json!({"Iterations": 1}), Is(json!(0))),
            ("States.MathAdd(2147483646, 1)", json!({}), Is(json!(2147483647))),
            ("States.MathAdd(States.MathAdd($n, 1), 2)", json!({}), Is(json!(10))),
            ("States.MathAdd(2147483647, 1)", json!({}), FailsWith("Invalid arguments in States.MathAdd")),
            ("States.MathAdd(3000000000, 1)", json!({}), FailsWith("Invalid arguments in States.MathAdd")),
            ("States.MathAdd($.a, 1)", json!({"a": "1"}), FailsWith("Invalid arguments in States.MathAdd")),
            ("States.MathRandom(1, 1, 5)", json!({}), FailsWith("Invalid arguments in States.MathRandom")),
            ("States.MathRandom(1.4, 1.6)", json!({}), FailsWith("Invalid arguments in States.MathRandom")),
            ("States.MathRandom(1, 10, $.seed)", json!({"seed": null}), FailsWith("Invalid arguments in States.MathRandom")),
            // Strings.
            ("States.StringSplit($.s, $.d)", json!({"s": " , ", "d": ","}), Is(json!([" ", " "]))),
            ("States.StringSplit($.s, $.d)", json!({"s": ",,,,", "d": ","}), Is(json!([]))),
            ("States.StringSplit($.s, $.d)", json!({"s": "This.is+a,test=string", "d": ".+,="}), Is(json!(["This", "is", "a", "test", "string"]))),
            ("States.StringSplit($.s, $.d)", json!({"s": "split on T and \nnew line", "d": "T\n"}), Is(json!(["split on ", " and ", "new line"]))),
            ("States.StringSplit('Hello\nWorld', '\n')", json!({}), Is(json!(["Hello", "World"]))),
            ("States.StringSplit($.s, '')", json!({"s": "abc"}), Is(json!(["abc"]))),
            ("States.StringSplit($.s, ',')", json!({"s": 1}), FailsWith("Invalid arguments in States.StringSplit")),
            // Static checks by `parse`, and the same calls failing at run time when accepted.
            ("States.Hash('hello')", json!({}), FailsWhenRun("The function 'States.Hash('hello')' had the following error: Invalid arguments in States.Hash")),
            ("States.Base64Encode('a', 'b')", json!({}), FailsWhenRun("The function 'States.Base64Encode('a', 'b')' had the following error: Invalid arguments in States.Base64Encode")),
            ("States.MathAdd('a', 1)", json!({}), FailsWhenRun("The function 'States.MathAdd('a', 1)' had the following error: Invalid arguments in States.MathAdd")),
            ("States.JsonMerge($.a, $.b, true)", json!({"a": {}, "b": {}}), FailsWhenRun("The function 'States.JsonMerge($.a, $.b, true)' had the following error: Invalid arguments in States.JsonMerge")),
            ("States.Hash('x', 'SHA256')", json!({}), FailsWhenRun("The function 'States.Hash('x', 'SHA256')' had the following error: Invalid arguments in States.Hash")),
            ("States.Format('Hello {', $.a)", json!({"a": 1}), FailsWhenRun("The function 'States.Format('Hello {', $.a)' had the following error: Invalid arguments in States.Format")),
            ("States.Format('}')", json!({}), FailsWhenRun("The function 'States.Format('}')' had the following error: Invalid arguments in States.Format")),
            ("States.ArrayRange(1, 5)", json!({}), Rejected("takes 3 argument(s), but 2 were given")),
            ("States.UUID(1)", json!({}), Rejected("takes 0 argument(s)")),
            ("States.Format()", json!({}), Rejected("at least 1")),
            ("States.ArrayLength(States.Format('x'))", json!({}), Rejected("must be an array, not a string")),
            ("States.ArrayLength('x')", json!({}), Rejected("must be an array")),
            ("States.Format(1)", json!({}), Rejected("must be a string, not a number")),
            // Syntax.
            ("States.Nope(1)", json!({}), Rejected("unknown intrinsic function 'States.Nope'")),
            ("States.format('x')", json!({}), Rejected("unknown intrinsic function")),
            ("States.Array", json!({}), Rejected("expected '('")),
            ("States.Array(", json!({}), Rejected("expected an argument")),
            ("States.Array($.a", json!({}), Rejected("expected ',' or ')'")),
            ("States.Array($.a) trailing", json!({}), Rejected("unexpected text")),
            ("States.Array($.a, )", json!({}), Rejected("expected an argument")),
            ("States.Array([1,2])", json!({}), Rejected("expected an argument")),
            ("States.Array(1.)", json!({}), Rejected("invalid number")),
            ("States.Array(.5)", json!({}), Rejected("expected an argument")),
            ("States.Array(1e309)", json!({}), Rejected("invalid number")),
            ("States.Array('unterminated)", json!({}), Rejected("unterminated string")),
            ("States.Array('a\\nb')", json!({}), Rejected("invalid escape")),
            ("States.Array(truex)", json!({}), Rejected("expected an argument")),
            ("States.Array($.a[)", json!({}), Rejected("invalid path argument")),
            ("States.Array(\"x\")", json!({}), Rejected("expected an argument")),
        ];
        for (src, input, want) in cases {
            check(src, input, want);
        }
    }

    #[test]
    fn parses_paths_with_commas_and_parentheses() {
        let cases: Vec<(&str, Value, Value)> = vec![
            (
                "States.Array($.a[0,1], $['x,y'])",
                json!({"a": [1, 2, 3], "x,y": 4}),
                json!([[1, 2], 4]),
            ),
            (
                "States.Array($.a[?(@.k == 'a,b)')].v)",
                json!({"a": [{"k": "a,b)", "v": 1}, {"k": "c", "v": 2}]}),
                json!([[1]]),
            ),
            (
                "States.Array($$.Execution.Name, $n, $)",
                json!({"z": 0}),
                json!(["run-1", 7, {"z": 0}]),
            ),
        ];
        for (src, input, expected) in cases {
            check(src, input, Want::Is(expected));
        }
    }

    #[test]
    fn limits_nesting_to_ten() {
        for (depth, ok) in [(10, true), (11, false)] {
            let src = format!("{}1{}", "States.Array(".repeat(depth), ")".repeat(depth));
            assert_eq!(parse(&src).is_ok(), ok, "depth {depth}");
        }
        let hostile = format!("{}1", "States.Array(".repeat(100_000));
        assert!(parse(&hostile).is_err());
    }

    #[test]
    fn writes_calls_back() {
        let cases = [
            (
                "States.Format('a\\'b\\{\\}c {}',$.x)",
                "States.Format('a\\'b\\{\\}c {}', $.x)",
            ),
            (
                "States.Array( 1 , true, null ,-2.5, $$.Map.Item.Value, $v[0])",
                "States.Array(1, true, null, -2.5, $$.Map.Item.Value, $v[0])",
            ),
            (
                "States.MathAdd(States.ArrayLength($.a), 1)",
                "States.MathAdd(States.ArrayLength($.a), 1)",
            ),
            ("States.UUID()", "States.UUID()"),
        ];
        for (src, canonical) in cases {
            let call = parse(src).unwrap_or_else(|e| panic!("{src}: {e}"));
            assert_eq!(call.to_string(), canonical);
            assert_eq!(call.source(), src);
            let again = parse(canonical).unwrap_or_else(|e| panic!("{canonical}: {e}"));
            assert_eq!(again.to_string(), canonical);
        }
        let call = parse("States.Hash($.a, 'MD5')").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(call.name(), "States.Hash");
        assert_eq!(call.args().len(), 2);
    }

    #[test]
    fn generates_random_values_within_bounds() {
        let roots = TestRoots {
            input: json!({}),
            context: json!({}),
            vars: Map::new(),
        };
        let eval =
            |src: &str| parse(src).and_then(|call| call.eval(&roots).map_err(|e| e.to_string()));
        let cases: Vec<(&str, i64, i64)> = vec![
            ("States.MathRandom(1, 999)", 1, 999),
            ("States.MathRandom(1.6, 5.4)", 1, 5),
            (
                "States.MathRandom(-1000000, 1000000)",
                -1_000_000,
                1_000_000,
            ),
            (
                "States.MathRandom(2147483640, 2147483647, 1)",
                2_147_483_640,
                2_147_483_647,
            ),
        ];
        for (src, start, end) in cases {
            for _ in 0..50 {
                let value = eval(src).ok().and_then(|v| v.as_i64()).unwrap_or(i64::MIN);
                assert!((start..end).contains(&value), "{src}: {value}");
            }
        }
        let seeded = eval("States.MathRandom(1, 100, 42)");
        assert_eq!(seeded, eval("States.MathRandom(1, 100, 42)"));
        // `new java.util.Random(42).nextInt(99)` is 62 and `new Random(0).nextInt(9)` is 6.
        assert_eq!(seeded, Ok(json!(63)));
        assert_eq!(eval("States.MathRandom(1, 10, 0)"), Ok(json!(7)));
        // The first `nextInt()` of `new java.util.Random(seed)`, as the JVM gives it.
        for (seed, first) in [(42, -1_170_105_035), (0, -1_155_484_576)] {
            assert_eq!(JavaRandom::new(seed).next(32), first);
        }
        for _ in 0..20 {
            let Ok(Value::String(uuid)) = eval("States.UUID()") else {
                panic!("UUID failed")
            };
            let shape = uuid.len() == 36
                && uuid.chars().enumerate().all(|(i, c)| match i {
                    8 | 13 | 18 | 23 => c == '-',
                    14 => c == '4',
                    19 => matches!(c, '8' | '9' | 'a' | 'b'),
                    _ => c.is_ascii_hexdigit() && !c.is_ascii_uppercase(),
                });
            assert!(shape, "{uuid}");
        }
    }
}
