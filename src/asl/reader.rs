//! Reads a definition's JSON into the typed model, field by field, recording every problem
//! of shape, type, unknown field or syntax with its JSON pointer.

use crate::json::{Map as JsonMap, Value};

use super::*;
use crate::{intrinsics, path, time};

type Object = JsonMap;

/// Appends `key` to a JSON pointer, escaping it as RFC 6901 says.
pub(super) fn child(pointer: &str, key: &str) -> String {
    let mut out = String::with_capacity(pointer.len() + key.len() + 1);
    out.push_str(pointer);
    out.push('/');
    for ch in key.chars() {
        match ch {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            _ => out.push(ch),
        }
    }
    out
}

/// An array template from its parts, read in full so every problem is recorded: `None`
/// when a part is broken, the array itself when every part is constant.
fn array_template(value: &Value, parts: Vec<Option<Payload>>) -> Option<Payload> {
    let parts: Vec<Payload> = parts.into_iter().collect::<Option<_>>()?;
    if parts.iter().all(|part| matches!(part, Payload::Value(_))) {
        Some(Payload::Value(value.clone()))
    } else {
        Some(Payload::Array(parts))
    }
}

/// Collects problems while the model is read.
struct Reader<'p> {
    problems: &'p mut Vec<Problem>,
    /// Whether the state being read uses JSONata.
    jsonata: bool,
}

/// The expression inside a `"{% … %}"` string, when the string is one.
pub(super) fn expression_text(text: &str) -> Option<&str> {
    let text = text.strip_prefix("{%")?.strip_suffix("%}")?;
    Some(text.trim())
}

/// Whether an expression may read `$states.context`: it names `$states` other than as
/// `$states.input`, `$states.result` or `$states.errorOutput`.
fn reads_context(source: &str) -> bool {
    let mut rest = source;
    while let Some(at) = rest.find("$states") {
        let after = rest[at + 7..].trim_start();
        let plain = [".input", ".result", ".errorOutput"].iter().any(|field| {
            after.strip_prefix(field).is_some_and(|tail| {
                !tail
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_')
            })
        });
        if !plain {
            return true;
        }
        rest = &rest[at + 7..];
    }
    false
}

impl Reader<'_> {
    fn problem(&mut self, pointer: String, message: impl Into<String>) {
        self.problems.push(Problem {
            pointer,
            message: message.into(),
        });
    }

    fn object<'v>(&mut self, value: &'v Value, pointer: &str, what: &str) -> Option<&'v Object> {
        match value {
            Value::Object(object) => Some(object),
            other => {
                self.problem(
                    pointer.to_string(),
                    format!("{what} must be an object, not {}", kind_of(other)),
                );
                None
            }
        }
    }

    /// Reports every field of `object` that is not in `allowed`.
    fn known_fields(&mut self, object: &Object, pointer: &str, allowed: &[&str], owner: &str) {
        for key in object.keys() {
            if !allowed.contains(&key.as_str()) {
                let hint = match did_you_mean(key, allowed.iter().copied()) {
                    Some(near) => format!(" (did you mean \"{near}\"?)"),
                    None => String::new(),
                };
                self.problem(
                    child(pointer, key),
                    format!("unknown field \"{key}\" in {owner}{hint}"),
                );
            }
        }
    }

    fn string(&mut self, object: &Object, pointer: &str, key: &str) -> Option<String> {
        match object.get(key)? {
            Value::String(text) => Some(text.to_string()),
            other => {
                self.problem(
                    child(pointer, key),
                    format!("{key} must be a string, not {}", kind_of(other)),
                );
                None
            }
        }
    }

    fn required_string(
        &mut self,
        object: &Object,
        pointer: &str,
        key: &str,
        owner: &str,
    ) -> Option<String> {
        if !object.contains_key(key) {
            self.problem(
                pointer.to_string(),
                format!("{owner} is missing the required field \"{key}\""),
            );
            return None;
        }
        self.string(object, pointer, key)
    }

    fn unsigned(
        &mut self,
        object: &Object,
        pointer: &str,
        key: &str,
        min: u64,
        max: u64,
    ) -> Option<u64> {
        let value = object.get(key)?;
        match value.as_u64() {
            Some(number) if (min..=max).contains(&number) => Some(number),
            Some(number) => {
                self.problem(
                    child(pointer, key),
                    format!("{key} must be between {min} and {max}, not {number}"),
                );
                None
            }
            None => {
                self.problem(
                    child(pointer, key),
                    format!(
                        "{key} must be a non-negative integer, not {}",
                        describe(value)
                    ),
                );
                None
            }
        }
    }

    fn boolean(&mut self, object: &Object, pointer: &str, key: &str) -> Option<bool> {
        match object.get(key)? {
            Value::Bool(flag) => Some(*flag),
            other => {
                self.problem(
                    child(pointer, key),
                    format!("{key} must be true or false, not {}", kind_of(other)),
                );
                None
            }
        }
    }

    /// Parses a JSONata expression written in `field` (`"{% … %}"`, already unwrapped).
    fn jsonata(&mut self, source: &str, pointer: &str, field: &str) -> Option<Jsonata> {
        match crate::jsonata::compile(source) {
            Ok(expression) => Some(Jsonata {
                expression: Arc::new(expression),
                source: source.into(),
                field: field.into(),
                reads_context: reads_context(source),
            }),
            Err(err) => {
                self.problem(
                    pointer.to_string(),
                    format!("invalid JSONata expression {source:?}: {err}"),
                );
                None
            }
        }
    }

    /// A JSONata template: JSON whose `"{% … %}"` strings are expressions. `field` names the
    /// place for error messages (`Output`, `Output/total`).
    fn jsonata_template(&mut self, value: &Value, pointer: &str, field: &str) -> Option<Payload> {
        match value {
            Value::String(text) => match expression_text(text) {
                Some(source) => self.jsonata(source, pointer, field).map(Payload::Jsonata),
                None => Some(Payload::Value(value.clone())),
            },
            Value::Object(fields) => {
                let mut entries = Vec::with_capacity(fields.len());
                let mut broken = false;
                for (key, item) in fields {
                    let item_field = format!("{field}/{key}");
                    match self.jsonata_template(item, &child(pointer, key), &item_field) {
                        Some(part) => entries.push((key.clone(), part)),
                        None => broken = true,
                    }
                }
                if broken {
                    None
                } else if entries
                    .iter()
                    .all(|(_, part)| matches!(part, Payload::Value(_)))
                {
                    Some(Payload::Value(value.clone()))
                } else {
                    Some(Payload::Object(entries))
                }
            }
            Value::Array(items) => {
                let parts = items
                    .iter()
                    .enumerate()
                    .map(|(index, item)| {
                        let item_field = format!("{field}[{index}]");
                        let item_pointer = child(pointer, &index.to_string());
                        self.jsonata_template(item, &item_pointer, &item_field)
                    })
                    .collect();
                array_template(value, parts)
            }
            other => Some(Payload::Value(other.clone())),
        }
    }

    /// A field holding a JSONata template, when present.
    fn jsonata_field(&mut self, object: &Object, pointer: &str, key: &str) -> Option<Payload> {
        let value = object.get(key)?;
        self.jsonata_template(value, &child(pointer, key), key)
    }

    /// A field that may be a `"{% … %}"` expression in a JSONata state.
    fn expression_field(
        &mut self,
        object: &Object,
        pointer: &str,
        key: &str,
    ) -> Option<Option<Jsonata>> {
        if !self.jsonata {
            return None;
        }
        let Some(Value::String(text)) = object.get(key) else {
            return None;
        };
        let source = expression_text(text)?;
        Some(self.jsonata(source, &child(pointer, key), key))
    }

    /// `Assign`: a JSONPath template (its `"key.$"` entries read the result) or a JSONata one.
    fn assign(&mut self, object: &Object, pointer: &str) -> Option<Payload> {
        let value = object.get("Assign")?;
        let assign_pointer = child(pointer, "Assign");
        let fields = self.object(value, &assign_pointer, "Assign")?;
        for key in fields.keys() {
            let name = key
                .strip_suffix(".$")
                .filter(|_| !self.jsonata)
                .unwrap_or(key);
            let valid = name
                .chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_alphanumeric() || c == '_');
            if !valid {
                self.problem(
                    child(&assign_pointer, key),
                    format!("{name:?} is not a valid variable name (letters, digits and _, not starting with a digit)"),
                );
            } else if name == "states" {
                self.problem(
                    child(&assign_pointer, key),
                    "the variable name \"states\" is reserved",
                );
            }
        }
        if self.jsonata {
            self.jsonata_template(value, &assign_pointer, "Assign")
        } else {
            self.template(value, &assign_pointer)
        }
    }

    fn path(&mut self, object: &Object, pointer: &str, key: &str) -> Option<Path> {
        let text = self.string(object, pointer, key)?;
        self.parse_path(&text, &child(pointer, key), key)
    }

    fn parse_path(&mut self, text: &str, pointer: &str, key: &str) -> Option<Path> {
        match path::parse(text) {
            Ok(parsed) => Some(parsed),
            Err(err) => {
                self.problem(
                    pointer.to_string(),
                    format!("{key} is not a valid JSONPath ({err}): {text:?}"),
                );
                None
            }
        }
    }

    fn reference_path(&mut self, object: &Object, pointer: &str, key: &str) -> Option<ResultPath> {
        match object.get(key)? {
            Value::Null => Some(ResultPath::Discard),
            Value::String(text) => match path::parse_reference(text) {
                Ok(parsed) => Some(ResultPath::Path(parsed)),
                Err(err) => {
                    self.problem(
                        child(pointer, key),
                        format!("{key} is not a valid reference path ({err}): {text:?}"),
                    );
                    None
                }
            },
            other => {
                self.problem(
                    child(pointer, key),
                    format!(
                        "{key} must be a reference path or null, not {}",
                        kind_of(other)
                    ),
                );
                None
            }
        }
    }

    fn io_path(&mut self, object: &Object, pointer: &str, key: &str) -> Option<InputOutputPath> {
        match object.get(key)? {
            Value::Null => Some(InputOutputPath::Null),
            Value::String(text) => self
                .parse_path(text, &child(pointer, key), key)
                .map(InputOutputPath::Path),
            other => {
                self.problem(
                    child(pointer, key),
                    format!("{key} must be a JSONPath or null, not {}", kind_of(other)),
                );
                None
            }
        }
    }

    /// Reads a payload template; `None` when absent or broken (problems recorded).
    fn payload(&mut self, object: &Object, pointer: &str, key: &str) -> Option<Payload> {
        let value = object.get(key)?;
        self.template(value, &child(pointer, key))
    }

    fn template(&mut self, value: &Value, pointer: &str) -> Option<Payload> {
        match value {
            Value::Object(fields) => {
                let mut entries = Vec::with_capacity(fields.len());
                let mut dynamic = false;
                let mut broken = false;
                for (key, field) in fields {
                    let field_pointer = child(pointer, key);
                    let entry = if let Some(name) = key.strip_suffix(".$") {
                        dynamic = true;
                        let Value::String(text) = field else {
                            self.problem(
                                field_pointer,
                                format!("the value of \"{key}\" must be a string holding a path or an intrinsic function, not {}", kind_of(field)),
                            );
                            broken = true;
                            continue;
                        };
                        let parsed = self.dynamic_text(text, &field_pointer);
                        match parsed {
                            Some(Text::Path(path)) => (name, Payload::Path(path)),
                            Some(Text::Call(call)) => (name, Payload::Call(call)),
                            _ => {
                                broken = true;
                                continue;
                            }
                        }
                    } else {
                        match self.template(field, &field_pointer) {
                            Some(payload) => {
                                dynamic |= !matches!(payload, Payload::Value(_));
                                (key.as_str(), payload)
                            }
                            None => {
                                broken = true;
                                continue;
                            }
                        }
                    };
                    // "a" and "a.$" name the same field: the later one wins, in the earlier
                    // one's place (as a JSON object's repeated key does), so the template's
                    // keys are unique.
                    match entries.iter_mut().find(|(key, _)| *key == entry.0) {
                        Some(slot) => slot.1 = entry.1,
                        None => entries.push((crate::json::Str::from(entry.0), entry.1)),
                    }
                }
                if broken {
                    None
                } else if dynamic {
                    Some(Payload::Object(entries))
                } else {
                    Some(Payload::Value(value.clone()))
                }
            }
            Value::Array(items) => {
                let parts = items
                    .iter()
                    .enumerate()
                    .map(|(index, item)| self.template(item, &child(pointer, &index.to_string())))
                    .collect();
                array_template(value, parts)
            }
            other => Some(Payload::Value(other.clone())),
        }
    }

    /// A `"key.$"` value, ErrorPath or CausePath: an intrinsic call or a path.
    fn dynamic_text(&mut self, text: &str, pointer: &str) -> Option<Text> {
        if intrinsics::is_call(text) {
            match intrinsics::parse(text) {
                Ok(call) => Some(Text::Call(call)),
                Err(err) => {
                    self.problem(
                        pointer.to_string(),
                        format!("invalid intrinsic function call {text:?}: {err}"),
                    );
                    None
                }
            }
        } else {
            match path::parse(text) {
                Ok(parsed) => Some(Text::Path(parsed)),
                Err(err) => {
                    self.problem(
                        pointer.to_string(),
                        format!("{text:?} is neither a valid JSONPath nor an intrinsic function call ({err})"),
                    );
                    None
                }
            }
        }
    }

    fn seconds(&mut self, object: &Object, pointer: &str, key: &str, min: u64) -> Option<Seconds> {
        if let Some(expression) = self.expression_field(object, pointer, key) {
            return expression.map(Seconds::Jsonata);
        }
        let path_key = format!("{key}Path");
        match (object.contains_key(key), object.contains_key(&path_key)) {
            (true, true) => {
                self.problem(
                    pointer.to_string(),
                    format!("{key} and {path_key} cannot both be set"),
                );
                None
            }
            (true, false) => self
                .unsigned(object, pointer, key, min, 99_999_999)
                .map(Seconds::Literal),
            (false, true) => self.path(object, pointer, &path_key).map(Seconds::Path),
            (false, false) => None,
        }
    }

    fn tolerance(
        &mut self,
        object: &Object,
        pointer: &str,
        key: &str,
        max: f64,
    ) -> Option<Tolerance> {
        if let Some(expression) = self.expression_field(object, pointer, key) {
            return expression.map(Tolerance::Jsonata);
        }
        let path_key = format!("{key}Path");
        match (object.get(key), object.contains_key(&path_key)) {
            (Some(_), true) => {
                self.problem(
                    pointer.to_string(),
                    format!("{key} and {path_key} cannot both be set"),
                );
                None
            }
            (Some(value), false) => match value.as_f64() {
                Some(number) if (0.0..=max).contains(&number) => Some(Tolerance::Literal(number)),
                _ => {
                    self.problem(
                        child(pointer, key),
                        format!(
                            "{key} must be a number between 0 and {max}, not {}",
                            describe(value)
                        ),
                    );
                    None
                }
            },
            (None, true) => self.path(object, pointer, &path_key).map(Tolerance::Path),
            (None, false) => None,
        }
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Number(number) => number.to_string(),
        other => kind_of(other).to_string(),
    }
}

const TOP_FIELDS: &[&str] = &[
    "StartAt",
    "States",
    "Comment",
    "Version",
    "TimeoutSeconds",
    "QueryLanguage",
];
const BODY_FIELDS: &[&str] = &["StartAt", "States", "Comment", "ProcessorConfig"];

/// Reads the top-level document.
pub(super) fn read_machine(document: &Value, problems: &mut Vec<Problem>) -> Option<StateMachine> {
    let mut reader = Reader {
        problems,
        jsonata: false,
    };
    let object = reader.object(document, "", "the definition")?;
    reader.known_fields(object, "", TOP_FIELDS, "the state machine");
    if let Some(version) = reader.string(object, "", "Version") {
        if version != "1.0" {
            reader.problem(
                "/Version".into(),
                format!("Version must be \"1.0\", not {version:?}"),
            );
        }
    }
    let query_language = read_query_language(&mut reader, object, "", QueryLanguage::JsonPath);
    let timeout_seconds = reader.unsigned(object, "", "TimeoutSeconds", 1, 99_999_999);
    let mut machine = read_body(&mut reader, object, "", query_language)?;
    machine.timeout_seconds = timeout_seconds;
    Some(machine)
}

fn read_query_language(
    reader: &mut Reader<'_>,
    object: &Object,
    pointer: &str,
    inherited: QueryLanguage,
) -> QueryLanguage {
    match reader.string(object, pointer, "QueryLanguage").as_deref() {
        None => inherited,
        Some("JSONPath") if inherited == QueryLanguage::Jsonata && !pointer.is_empty() => {
            reader.problem(
                child(pointer, "QueryLanguage"),
                "a state cannot use JSONPath when the state machine's QueryLanguage is JSONata",
            );
            inherited
        }
        Some("JSONPath") => QueryLanguage::JsonPath,
        Some("JSONata") => QueryLanguage::Jsonata,
        Some(other) => {
            reader.problem(
                child(pointer, "QueryLanguage"),
                format!("QueryLanguage must be \"JSONPath\" or \"JSONata\", not {other:?}"),
            );
            inherited
        }
    }
}

/// Reads `StartAt` and `States` of the top level, a branch or an item processor.
fn read_body(
    reader: &mut Reader<'_>,
    object: &Object,
    pointer: &str,
    query_language: QueryLanguage,
) -> Option<StateMachine> {
    let outer = reader.jsonata;
    let body = read_states(reader, object, pointer, query_language);
    reader.jsonata = outer;
    body
}

fn read_states(
    reader: &mut Reader<'_>,
    object: &Object,
    pointer: &str,
    query_language: QueryLanguage,
) -> Option<StateMachine> {
    let comment = reader.string(object, pointer, "Comment");
    let start_at = reader.required_string(object, pointer, "StartAt", "the state machine");
    let states_pointer = child(pointer, "States");
    let states_value = match object.get("States") {
        Some(value) => value,
        None => {
            reader.problem(
                pointer.to_string(),
                "the state machine is missing the required field \"States\"",
            );
            return None;
        }
    };
    let states_object = reader.object(states_value, &states_pointer, "States")?;
    if states_object.is_empty() {
        reader.problem(
            states_pointer.clone(),
            "States must hold at least one state",
        );
    }
    let mut states = Vec::with_capacity(states_object.len());
    for (name, value) in states_object {
        let state_pointer = child(&states_pointer, name);
        if name.is_empty() || name.chars().count() > 80 {
            reader.problem(
                state_pointer.clone(),
                format!("a state name must have 1 to 80 characters: {name:?}"),
            );
        }
        if let Some(state) = read_state(reader, name, value, &state_pointer, query_language) {
            states.push(state);
        }
    }
    Some(StateMachine {
        comment,
        start_at: start_at.unwrap_or_default(),
        states,
        timeout_seconds: None,
        query_language,
        pointer: pointer.to_string(),
    })
}

const COMMON: &[&str] = &["Type", "Comment", "QueryLanguage"];
/// Fields only JSONPath states may have.
const JSONPATH_ONLY: &[&str] = &[
    "InputPath",
    "OutputPath",
    "Parameters",
    "ResultSelector",
    "ResultPath",
    "Result",
    "ItemsPath",
    "SecondsPath",
    "TimestampPath",
    "TimeoutSecondsPath",
    "HeartbeatSecondsPath",
    "MaxConcurrencyPath",
    "ToleratedFailureCountPath",
    "ToleratedFailurePercentagePath",
    "ErrorPath",
    "CausePath",
];
/// Fields only JSONata states may have.
const JSONATA_ONLY: &[&str] = &["Arguments", "Output", "Items"];
const FLOW: &[&str] = &["Next", "End"];
const IO: &[&str] = &["InputPath", "OutputPath"];
const VARIABLES: &[&str] = &["Assign", "Output"];

fn allowed_fields(type_name: &str) -> Option<Vec<&'static str>> {
    let specific: &[&str] = match type_name {
        "Pass" => &["Result", "Parameters", "ResultPath"],
        "Task" => &[
            "Resource",
            "Parameters",
            "Arguments",
            "ResultSelector",
            "ResultPath",
            "TimeoutSeconds",
            "TimeoutSecondsPath",
            "HeartbeatSeconds",
            "HeartbeatSecondsPath",
            "Retry",
            "Catch",
            "Credentials",
        ],
        "Choice" => &["Choices", "Default"],
        "Wait" => &["Seconds", "SecondsPath", "Timestamp", "TimestampPath"],
        "Succeed" => &[],
        "Fail" => &["Error", "ErrorPath", "Cause", "CausePath"],
        "Parallel" => &[
            "Branches",
            "Parameters",
            "Arguments",
            "ResultSelector",
            "ResultPath",
            "Retry",
            "Catch",
        ],
        "Map" => &[
            "ItemProcessor",
            "Iterator",
            "ItemsPath",
            "Items",
            "ItemSelector",
            "Parameters",
            "MaxConcurrency",
            "MaxConcurrencyPath",
            "ToleratedFailureCount",
            "ToleratedFailureCountPath",
            "ToleratedFailurePercentage",
            "ToleratedFailurePercentagePath",
            "ItemBatcher",
            "ItemReader",
            "ResultWriter",
            "ResultSelector",
            "ResultPath",
            "Retry",
            "Catch",
            "Label",
        ],
        _ => return None,
    };
    let mut fields: Vec<&'static str> = COMMON.to_vec();
    fields.extend_from_slice(specific);
    if !matches!(type_name, "Choice" | "Succeed" | "Fail") {
        fields.extend_from_slice(FLOW);
    }
    if type_name != "Fail" {
        fields.extend_from_slice(IO);
        fields.extend_from_slice(VARIABLES);
    }
    Some(fields)
}

const STATE_TYPES: [&str; 8] = [
    "Pass", "Task", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map",
];

fn read_state(
    reader: &mut Reader<'_>,
    name: &str,
    value: &Value,
    pointer: &str,
    inherited: QueryLanguage,
) -> Option<State> {
    let object = reader.object(value, pointer, "a state")?;
    let type_name =
        reader.required_string(object, pointer, "Type", &format!("state \"{name}\""))?;
    let Some(allowed) = allowed_fields(&type_name) else {
        let hint = match did_you_mean(&type_name, STATE_TYPES) {
            Some(near) => format!(" (did you mean \"{near}\"?)"),
            None => format!(" (one of {})", STATE_TYPES.join(", ")),
        };
        reader.problem(
            child(pointer, "Type"),
            format!("unknown state type {type_name:?}{hint}"),
        );
        return None;
    };
    reader.known_fields(object, pointer, &allowed, &format!("a {type_name} state"));
    let query_language = read_query_language(reader, object, pointer, inherited);
    let jsonata = query_language == QueryLanguage::Jsonata;
    reader.jsonata = jsonata;
    let (wrong, language, other) = if jsonata {
        (JSONPATH_ONLY, "JSONata", "JSONPath")
    } else {
        (JSONATA_ONLY, "JSONPath", "JSONata")
    };
    for key in wrong {
        if object.contains_key(key) && allowed.contains(key) {
            reader.problem(
                child(pointer, key),
                format!("{key} is a {other} field; this state uses {language} (QueryLanguage)"),
            );
        }
    }
    for key in ["Credentials", "ItemBatcher", "ItemReader", "ResultWriter"] {
        if object.contains_key(key) {
            reader.problem(
                child(pointer, key),
                format!("{key} is not supported by stepstream (it needs AWS resources)"),
            );
        }
    }

    let comment = reader.string(object, pointer, "Comment");
    let next = read_flow(reader, object, pointer, &type_name);
    let input_path = reader.io_path(object, pointer, "InputPath");
    let output_path = reader.io_path(object, pointer, "OutputPath");
    let assign = reader.assign(object, pointer);
    let output = if jsonata {
        reader.jsonata_field(object, pointer, "Output")
    } else {
        None
    };

    let kind = match type_name.as_str() {
        "Pass" => Kind::Pass(Pass {
            result: object.get("Result").cloned().filter(|_| !jsonata),
            parameters: reader.payload(object, pointer, "Parameters"),
            result_path: reader.reference_path(object, pointer, "ResultPath"),
        }),
        "Task" => Kind::Task(read_task(reader, object, pointer)?),
        "Choice" => Kind::Choice(read_choice(reader, object, pointer)?),
        "Wait" => Kind::Wait(read_wait(reader, object, pointer)?),
        "Succeed" => Kind::Succeed,
        "Fail" => Kind::Fail(Fail {
            error: read_text(reader, object, pointer, "Error"),
            cause: read_text(reader, object, pointer, "Cause"),
        }),
        "Parallel" => Kind::Parallel(read_parallel(reader, object, pointer, query_language)?),
        _ => Kind::Map(read_map(reader, object, pointer, query_language)?),
    };
    reader.jsonata = jsonata;
    Some(State {
        name: name.to_string(),
        pointer: pointer.to_string(),
        comment,
        query_language,
        assign,
        output,
        next,
        input_path,
        output_path,
        kind,
    })
}

/// Reads Next/End: exactly one for states that flow on; neither for Choice, Succeed, Fail.
fn read_flow(
    reader: &mut Reader<'_>,
    object: &Object,
    pointer: &str,
    type_name: &str,
) -> Option<String> {
    if matches!(type_name, "Choice" | "Succeed" | "Fail") {
        // Unknown-field checks already reported Next/End on these types.
        return None;
    }
    let next = reader.string(object, pointer, "Next");
    let end = reader.boolean(object, pointer, "End").unwrap_or(false);
    match (&next, end) {
        (Some(_), true) => reader.problem(
            pointer.to_string(),
            "a state cannot have both Next and \"End\": true",
        ),
        (None, false) if !object.contains_key("Next") => reader.problem(
            pointer.to_string(),
            format!("a {type_name} state needs either Next or \"End\": true"),
        ),
        _ => {}
    }
    next
}

fn read_task(reader: &mut Reader<'_>, object: &Object, pointer: &str) -> Option<Task> {
    let resource = reader.required_string(object, pointer, "Resource", "a Task state");
    if let Some(resource) = &resource {
        check_resource(reader, resource, &child(pointer, "Resource"));
    }
    let timeout = reader.seconds(object, pointer, "TimeoutSeconds", 1);
    let heartbeat = reader.seconds(object, pointer, "HeartbeatSeconds", 1);
    if let (Some(Seconds::Literal(timeout)), Some(Seconds::Literal(heartbeat))) =
        (&timeout, &heartbeat)
    {
        if heartbeat >= timeout {
            reader.problem(
                child(pointer, "HeartbeatSeconds"),
                "HeartbeatSeconds must be smaller than TimeoutSeconds",
            );
        }
    }
    Some(Task {
        resource: resource?,
        parameters: arguments(reader, object, pointer),
        result_selector: reader.payload(object, pointer, "ResultSelector"),
        result_path: reader.reference_path(object, pointer, "ResultPath"),
        timeout,
        heartbeat,
        retry: read_retry(reader, object, pointer),
        catch: read_catch(reader, object, pointer),
    })
}

/// `Parameters` of a JSONPath state, `Arguments` of a JSONata one.
fn arguments(reader: &mut Reader<'_>, object: &Object, pointer: &str) -> Option<Payload> {
    if reader.jsonata {
        reader.jsonata_field(object, pointer, "Arguments")
    } else {
        reader.payload(object, pointer, "Parameters")
    }
}

/// Checks a Task resource against what an Express workflow may call.
fn check_resource(reader: &mut Reader<'_>, resource: &str, pointer: &str) {
    if !resource.starts_with("arn:") {
        reader.problem(
            pointer.to_string(),
            format!("Resource must be an ARN (arn:…), not {resource:?}"),
        );
    } else if resource.ends_with(".sync") || resource.contains(".sync:") {
        reader.problem(
            pointer.to_string(),
            format!("{resource:?}: the .sync (run a job) integration pattern is not supported by Express workflows"),
        );
    } else if resource.ends_with(".waitForTaskToken") {
        reader.problem(
            pointer.to_string(),
            format!("{resource:?}: the .waitForTaskToken (callback) integration pattern is not supported by Express workflows"),
        );
    } else if resource.split(':').nth(5) == Some("activity") {
        reader.problem(
            pointer.to_string(),
            format!("{resource:?}: activities are not supported by Express workflows"),
        );
    }
}

const RETRY_FIELDS: &[&str] = &[
    "ErrorEquals",
    "IntervalSeconds",
    "MaxAttempts",
    "BackoffRate",
    "MaxDelaySeconds",
    "JitterStrategy",
    "Comment",
];
const CATCH_FIELDS: &[&str] = &[
    "ErrorEquals",
    "Next",
    "ResultPath",
    "Assign",
    "Output",
    "Comment",
];

fn read_array<'v>(
    reader: &mut Reader<'_>,
    object: &'v Object,
    pointer: &str,
    key: &str,
) -> Option<&'v crate::json::Array> {
    match object.get(key)? {
        Value::Array(items) => Some(items),
        other => {
            reader.problem(
                child(pointer, key),
                format!("{key} must be an array, not {}", kind_of(other)),
            );
            None
        }
    }
}

/// Reads and checks `ErrorEquals`: a non-empty list of names; `States.ALL` stands alone.
fn read_error_equals(reader: &mut Reader<'_>, object: &Object, pointer: &str) -> Vec<String> {
    let Some(items) = read_array(reader, object, pointer, "ErrorEquals") else {
        if !object.contains_key("ErrorEquals") {
            reader.problem(
                pointer.to_string(),
                "missing the required field \"ErrorEquals\"",
            );
        }
        return Vec::new();
    };
    let list_pointer = child(pointer, "ErrorEquals");
    if items.is_empty() {
        reader.problem(
            list_pointer.clone(),
            "ErrorEquals must name at least one error",
        );
    }
    let mut names = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        match item {
            Value::String(name) => names.push(name.to_string()),
            other => reader.problem(
                child(&list_pointer, &index.to_string()),
                format!("an error name must be a string, not {}", kind_of(other)),
            ),
        }
    }
    if names.len() > 1 && names.iter().any(|name| name == "States.ALL") {
        reader.problem(list_pointer, "States.ALL must appear alone in ErrorEquals");
    }
    names
}

/// Reports a `States.ALL` retrier or catcher that is not the last one.
fn check_all_last(reader: &mut Reader<'_>, lists: &[(usize, bool)], pointer: &str, what: &str) {
    let count = lists.len();
    for (index, has_all) in lists {
        if *has_all && index + 1 != count {
            reader.problem(
                child(pointer, &index.to_string()),
                format!("a {what} with States.ALL must be the last one"),
            );
        }
    }
}

fn read_retry(reader: &mut Reader<'_>, object: &Object, pointer: &str) -> Vec<Retrier> {
    let Some(items) = read_array(reader, object, pointer, "Retry") else {
        return Vec::new();
    };
    let list_pointer = child(pointer, "Retry");
    let mut retriers = Vec::with_capacity(items.len());
    let mut all_flags = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let item_pointer = child(&list_pointer, &index.to_string());
        let Some(fields) = reader.object(item, &item_pointer, "a retrier") else {
            continue;
        };
        reader.known_fields(fields, &item_pointer, RETRY_FIELDS, "a retrier");
        let error_equals = read_error_equals(reader, fields, &item_pointer);
        all_flags.push((index, error_equals.iter().any(|name| name == "States.ALL")));
        let backoff_rate = match fields.get("BackoffRate") {
            None => 2.0,
            Some(value) => match value.as_f64() {
                Some(rate) if rate >= 1.0 => rate,
                _ => {
                    reader.problem(
                        child(&item_pointer, "BackoffRate"),
                        format!(
                            "BackoffRate must be a number ≥ 1.0, not {}",
                            describe(value)
                        ),
                    );
                    2.0
                }
            },
        };
        let jitter = match reader
            .string(fields, &item_pointer, "JitterStrategy")
            .as_deref()
        {
            None | Some("NONE") => Jitter::None,
            Some("FULL") => Jitter::Full,
            Some(other) => {
                reader.problem(
                    child(&item_pointer, "JitterStrategy"),
                    format!("JitterStrategy must be \"FULL\" or \"NONE\", not {other:?}"),
                );
                Jitter::None
            }
        };
        retriers.push(Retrier {
            error_equals,
            interval_seconds: reader
                .unsigned(fields, &item_pointer, "IntervalSeconds", 1, 99_999_999)
                .unwrap_or(1),
            max_attempts: reader
                .unsigned(fields, &item_pointer, "MaxAttempts", 0, 99_999_999)
                .unwrap_or(3),
            backoff_rate,
            max_delay_seconds: reader.unsigned(
                fields,
                &item_pointer,
                "MaxDelaySeconds",
                1,
                31_622_400,
            ),
            jitter,
        });
    }
    check_all_last(reader, &all_flags, &list_pointer, "retrier");
    retriers
}

fn read_catch(reader: &mut Reader<'_>, object: &Object, pointer: &str) -> Vec<Catcher> {
    let Some(items) = read_array(reader, object, pointer, "Catch") else {
        return Vec::new();
    };
    let list_pointer = child(pointer, "Catch");
    let mut catchers = Vec::with_capacity(items.len());
    let mut all_flags = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let item_pointer = child(&list_pointer, &index.to_string());
        let Some(fields) = reader.object(item, &item_pointer, "a catcher") else {
            continue;
        };
        reader.known_fields(fields, &item_pointer, CATCH_FIELDS, "a catcher");
        let (wrong, language) = if reader.jsonata {
            ("ResultPath", "JSONata")
        } else {
            ("Output", "JSONPath")
        };
        if fields.contains_key(wrong) {
            reader.problem(
                child(&item_pointer, wrong),
                format!("{wrong} is not allowed in a catcher of a {language} state"),
            );
        }
        let assign = reader.assign(fields, &item_pointer);
        let output = if reader.jsonata {
            reader.jsonata_field(fields, &item_pointer, "Output")
        } else {
            None
        };
        let error_equals = read_error_equals(reader, fields, &item_pointer);
        all_flags.push((index, error_equals.iter().any(|name| name == "States.ALL")));
        let next = reader.required_string(fields, &item_pointer, "Next", "a catcher");
        let result_path = reader.reference_path(fields, &item_pointer, "ResultPath");
        if let Some(next) = next {
            catchers.push(Catcher {
                error_equals,
                next,
                result_path,
                assign,
                output,
                pointer: item_pointer,
            });
        }
    }
    check_all_last(reader, &all_flags, &list_pointer, "catcher");
    catchers
}

fn read_choice(reader: &mut Reader<'_>, object: &Object, pointer: &str) -> Option<Choice> {
    let default = reader.string(object, pointer, "Default");
    let Some(items) = read_array(reader, object, pointer, "Choices") else {
        if !object.contains_key("Choices") {
            reader.problem(
                pointer.to_string(),
                "a Choice state is missing the required field \"Choices\"",
            );
        }
        return None;
    };
    let list_pointer = child(pointer, "Choices");
    if items.is_empty() {
        reader.problem(list_pointer.clone(), "Choices must hold at least one rule");
    }
    let mut choices = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let item_pointer = child(&list_pointer, &index.to_string());
        if let Some((condition, Some(next))) = read_rule(reader, item, &item_pointer, true, 0) {
            let (assign, output) = match item {
                Value::Object(fields) => (
                    reader.assign(fields, &item_pointer),
                    if reader.jsonata {
                        reader.jsonata_field(fields, &item_pointer, "Output")
                    } else {
                        None
                    },
                ),
                _ => (None, None),
            };
            choices.push(ChoiceRule {
                condition,
                next,
                assign,
                output,
            });
        }
    }
    Some(Choice { choices, default })
}

const MAX_RULE_DEPTH: usize = 64;

/// Reads a Choice rule; top-level rules carry `Next`, nested ones must not.
fn read_rule(
    reader: &mut Reader<'_>,
    value: &Value,
    pointer: &str,
    top: bool,
    depth: usize,
) -> Option<(Condition, Option<String>)> {
    if depth > MAX_RULE_DEPTH {
        reader.problem(
            pointer.to_string(),
            format!("Choice rules nest deeper than {MAX_RULE_DEPTH} levels"),
        );
        return None;
    }
    let object = reader.object(value, pointer, "a Choice rule")?;
    let next = if top {
        let next = reader.string(object, pointer, "Next");
        if !object.contains_key("Next") {
            reader.problem(
                pointer.to_string(),
                "a Choice rule is missing the required field \"Next\"",
            );
        }
        next
    } else {
        if object.contains_key("Next") {
            reader.problem(
                child(pointer, "Next"),
                "Next is only allowed on top-level Choice rules, not inside And, Or or Not",
            );
        }
        None
    };
    if reader.jsonata {
        reader.known_fields(
            object,
            pointer,
            &["Condition", "Next", "Assign", "Output", "Comment"],
            "a Choice rule of a JSONata state",
        );
        let condition = match object.get("Condition") {
            None => {
                reader.problem(
                    pointer.to_string(),
                    "a Choice rule of a JSONata state is missing the required field \"Condition\"",
                );
                return None;
            }
            Some(Value::Bool(flag)) => Payload::Value(Value::Bool(*flag)),
            Some(Value::String(text)) if expression_text(text).is_some() => {
                reader.jsonata_field(object, pointer, "Condition")?
            }
            Some(other) => {
                reader.problem(
                    child(pointer, "Condition"),
                    format!("Condition must be true, false or a JSONata expression \"{{% … %}}\", not {}", describe(other)),
                );
                return None;
            }
        };
        return Some((Condition::Jsonata(condition), next));
    }
    if object.contains_key("Condition") {
        reader.problem(
            child(pointer, "Condition"),
            "Condition is a JSONata field; this state uses JSONPath (use Variable and a comparison)",
        );
        return None;
    }
    if !top && object.contains_key("Assign") {
        reader.problem(
            child(pointer, "Assign"),
            "Assign is only allowed on top-level Choice rules, not inside And, Or or Not",
        );
    }

    let mut operators: Vec<(&str, Operator, bool)> = Vec::new();
    let mut unknown = Vec::new();
    for key in object.keys() {
        match key.as_str() {
            "Variable" | "Next" | "Comment" | "And" | "Or" | "Not" | "Assign" => {}
            other => {
                let (base, is_path) = match other.strip_suffix("Path") {
                    Some(base) => (base, true),
                    None => (other, false),
                };
                match Operator::ALL.iter().find(|(name, _)| *name == base) {
                    Some((name, op)) if !is_path || op.has_path_form() => {
                        operators.push((name, *op, is_path))
                    }
                    _ => unknown.push(other.to_string()),
                }
            }
        }
    }
    let names: Vec<String> = Operator::ALL
        .iter()
        .flat_map(|(name, op)| {
            let mut forms = vec![name.to_string()];
            if op.has_path_form() {
                forms.push(format!("{name}Path"));
            }
            forms
        })
        .chain(["Variable", "Next", "Comment", "And", "Or", "Not"].map(String::from))
        .collect();
    for key in unknown {
        let hint = match did_you_mean(&key, names.iter().map(String::as_str)) {
            Some(near) => format!(" (did you mean \"{near}\"?)"),
            None => String::new(),
        };
        reader.problem(
            child(pointer, &key),
            format!("unknown field \"{key}\" in a Choice rule{hint}"),
        );
    }

    let combinators = ["And", "Or", "Not"]
        .iter()
        .filter(|key| object.contains_key(key))
        .count();
    if combinators + operators.len() != 1 {
        reader.problem(
            pointer.to_string(),
            "a Choice rule must have exactly one comparison operator, or one of And, Or, Not",
        );
        return None;
    }
    let condition = if let Some(items) = object.get("And").or_else(|| object.get("Or")) {
        let key = if object.contains_key("And") {
            "And"
        } else {
            "Or"
        };
        if object.contains_key("Variable") {
            reader.problem(
                child(pointer, "Variable"),
                format!("a rule with {key} cannot also have a Variable"),
            );
        }
        let Value::Array(items) = items else {
            reader.problem(
                child(pointer, key),
                format!("{key} must be a non-empty array of rules"),
            );
            return None;
        };
        if items.is_empty() {
            reader.problem(
                child(pointer, key),
                format!("{key} must be a non-empty array of rules"),
            );
        }
        let list_pointer = child(pointer, key);
        let mut rules = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            if let Some((rule, _)) = read_rule(
                reader,
                item,
                &child(&list_pointer, &index.to_string()),
                false,
                depth + 1,
            ) {
                rules.push(rule);
            }
        }
        if key == "And" {
            Condition::And(rules)
        } else {
            Condition::Or(rules)
        }
    } else if let Some(inner) = object.get("Not") {
        if object.contains_key("Variable") {
            reader.problem(
                child(pointer, "Variable"),
                "a rule with Not cannot also have a Variable",
            );
        }
        let (rule, _) = read_rule(reader, inner, &child(pointer, "Not"), false, depth + 1)?;
        Condition::Not(Box::new(rule))
    } else {
        let (name, operator, is_path) = operators[0];
        let key = if is_path {
            format!("{name}Path")
        } else {
            name.to_string()
        };
        if !object.contains_key("Variable") {
            reader.problem(
                pointer.to_string(),
                format!("a Choice rule with {key} needs a Variable"),
            );
            return None;
        }
        let variable = reader.path(object, pointer, "Variable")?;
        let operand_value = &object[&key];
        let operand_pointer = child(pointer, &key);
        let operand = if is_path {
            let Value::String(text) = operand_value else {
                reader.problem(operand_pointer, format!("{key} must be a JSONPath string"));
                return None;
            };
            Operand::Path(reader.parse_path(text, &operand_pointer, &key)?)
        } else {
            read_operand(reader, operator, operand_value, &operand_pointer, &key)?
        };
        Condition::Compare {
            variable,
            operator,
            operand,
        }
    };
    Some((condition, next))
}

fn read_operand(
    reader: &mut Reader<'_>,
    operator: Operator,
    value: &Value,
    pointer: &str,
    key: &str,
) -> Option<Operand> {
    use Operator::*;
    let expected = match operator {
        StringEquals
        | StringLessThan
        | StringGreaterThan
        | StringLessThanEquals
        | StringGreaterThanEquals
        | StringMatches => "a string",
        NumericEquals
        | NumericLessThan
        | NumericGreaterThan
        | NumericLessThanEquals
        | NumericGreaterThanEquals => "a number",
        TimestampEquals
        | TimestampLessThan
        | TimestampGreaterThan
        | TimestampLessThanEquals
        | TimestampGreaterThanEquals => "a timestamp string",
        _ => "true or false",
    };
    let fits = match expected {
        "a string" => value.is_string(),
        "a number" => value.is_number(),
        "a timestamp string" => value.is_string(),
        _ => value.is_boolean(),
    };
    if !fits {
        reader.problem(
            pointer.to_string(),
            format!("{key} must be {expected}, not {}", kind_of(value)),
        );
        return None;
    }
    if expected == "a timestamp string" {
        let text = value.as_str().unwrap_or_default();
        return match time::parse_timestamp(text) {
            Some(timestamp) => Some(Operand::Timestamp(timestamp, text.to_string())),
            None => {
                reader.problem(pointer.to_string(), format!("{key} must be an ISO-8601 timestamp such as \"2016-03-14T01:59:00Z\", not {text:?}"));
                None
            }
        };
    }
    Some(Operand::Value(value.clone()))
}

fn read_wait(reader: &mut Reader<'_>, object: &Object, pointer: &str) -> Option<Wait> {
    let present: Vec<&str> = ["Seconds", "SecondsPath", "Timestamp", "TimestampPath"]
        .into_iter()
        .filter(|key| object.contains_key(key))
        .collect();
    if present.len() != 1 {
        let found = if present.is_empty() {
            "none".to_string()
        } else {
            present.join(", ")
        };
        reader.problem(
            pointer.to_string(),
            format!("a Wait state needs exactly one of Seconds, SecondsPath, Timestamp, TimestampPath (found {found})"),
        );
        return None;
    }
    if let Some(expression) = reader.expression_field(object, pointer, present[0]) {
        return match present[0] {
            "Seconds" => expression.map(Wait::SecondsJsonata),
            _ => expression.map(Wait::TimestampJsonata),
        };
    }
    match present[0] {
        "Seconds" => reader
            .unsigned(object, pointer, "Seconds", 0, 99_999_999)
            .map(Wait::Seconds),
        "SecondsPath" => reader
            .path(object, pointer, "SecondsPath")
            .map(Wait::SecondsPath),
        "TimestampPath" => reader
            .path(object, pointer, "TimestampPath")
            .map(Wait::TimestampPath),
        _ => {
            let text = reader.string(object, pointer, "Timestamp")?;
            match time::parse_timestamp(&text) {
                Some(timestamp) => Some(Wait::Timestamp(timestamp, text)),
                None => {
                    reader.problem(child(pointer, "Timestamp"), format!("Timestamp must be an ISO-8601 timestamp such as \"2016-03-14T01:59:00Z\", not {text:?}"));
                    None
                }
            }
        }
    }
}

/// Fail `Error`/`ErrorPath` or `Cause`/`CausePath`.
fn read_text(reader: &mut Reader<'_>, object: &Object, pointer: &str, key: &str) -> Option<Text> {
    let path_key = format!("{key}Path");
    match (object.contains_key(key), object.contains_key(&path_key)) {
        (true, true) => {
            reader.problem(
                pointer.to_string(),
                format!("{key} and {path_key} cannot both be set"),
            );
            None
        }
        (true, false) => match reader.expression_field(object, pointer, key) {
            Some(expression) => expression.map(Text::Jsonata),
            None => reader.string(object, pointer, key).map(Text::Literal),
        },
        (false, true) => {
            let text = reader.string(object, pointer, &path_key)?;
            reader.dynamic_text(&text, &child(pointer, &path_key))
        }
        (false, false) => None,
    }
}

fn read_parallel(
    reader: &mut Reader<'_>,
    object: &Object,
    pointer: &str,
    query_language: QueryLanguage,
) -> Option<Parallel> {
    let Some(items) = read_array(reader, object, pointer, "Branches") else {
        if !object.contains_key("Branches") {
            reader.problem(
                pointer.to_string(),
                "a Parallel state is missing the required field \"Branches\"",
            );
        }
        return None;
    };
    let list_pointer = child(pointer, "Branches");
    if items.is_empty() {
        reader.problem(
            list_pointer.clone(),
            "Branches must hold at least one branch",
        );
    }
    let mut branches = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let branch_pointer = child(&list_pointer, &index.to_string());
        let Some(fields) = reader.object(item, &branch_pointer, "a branch") else {
            continue;
        };
        reader.known_fields(fields, &branch_pointer, &BODY_FIELDS[..3], "a branch");
        if let Some(branch) = read_body(reader, fields, &branch_pointer, query_language) {
            branches.push(branch);
        }
    }
    Some(Parallel {
        branches,
        parameters: arguments(reader, object, pointer),
        result_selector: reader.payload(object, pointer, "ResultSelector"),
        result_path: reader.reference_path(object, pointer, "ResultPath"),
        retry: read_retry(reader, object, pointer),
        catch: read_catch(reader, object, pointer),
    })
}

fn read_map(
    reader: &mut Reader<'_>,
    object: &Object,
    pointer: &str,
    query_language: QueryLanguage,
) -> Option<Map> {
    let processor_key = match (
        object.contains_key("ItemProcessor"),
        object.contains_key("Iterator"),
    ) {
        (true, true) => {
            reader.problem(pointer.to_string(), "ItemProcessor and Iterator cannot both be set (Iterator is the older name of ItemProcessor)");
            return None;
        }
        (false, false) => {
            reader.problem(
                pointer.to_string(),
                "a Map state is missing the required field \"ItemProcessor\"",
            );
            return None;
        }
        (true, false) => "ItemProcessor",
        (false, true) => "Iterator",
    };
    let processor_pointer = child(pointer, processor_key);
    let fields = reader.object(&object[processor_key], &processor_pointer, processor_key)?;
    reader.known_fields(fields, &processor_pointer, BODY_FIELDS, processor_key);
    let mut mode = MapMode::Inline;
    if let Some(config) = fields.get("ProcessorConfig") {
        let config_pointer = child(&processor_pointer, "ProcessorConfig");
        if let Some(config) = reader.object(config, &config_pointer, "ProcessorConfig") {
            reader.known_fields(
                config,
                &config_pointer,
                &["Mode", "ExecutionType"],
                "ProcessorConfig",
            );
            match reader.string(config, &config_pointer, "Mode").as_deref() {
                None | Some("INLINE") => {}
                Some("DISTRIBUTED") => mode = MapMode::Distributed,
                Some(other) => reader.problem(
                    child(&config_pointer, "Mode"),
                    format!("Mode must be \"INLINE\" or \"DISTRIBUTED\", not {other:?}"),
                ),
            }
            if let Some(kind) = reader.string(config, &config_pointer, "ExecutionType") {
                if kind != "STANDARD" && kind != "EXPRESS" {
                    reader.problem(
                        child(&config_pointer, "ExecutionType"),
                        format!("ExecutionType must be \"STANDARD\" or \"EXPRESS\", not {kind:?}"),
                    );
                }
            }
        }
    }
    let processor = read_body(reader, fields, &processor_pointer, query_language);
    let item_selector = match (
        object.contains_key("ItemSelector"),
        object.contains_key("Parameters"),
    ) {
        (true, true) => {
            reader.problem(pointer.to_string(), "ItemSelector and Parameters cannot both be set (Parameters is the older name of ItemSelector)");
            None
        }
        (true, false) if reader.jsonata => reader.jsonata_field(object, pointer, "ItemSelector"),
        (true, false) => reader.payload(object, pointer, "ItemSelector"),
        (false, true) => reader.payload(object, pointer, "Parameters"),
        (false, false) => None,
    };
    let items = if reader.jsonata {
        match object.get("Items") {
            Some(value @ (Value::Array(_) | Value::String(_))) => {
                reader.jsonata_field(object, pointer, "Items").and_then(|items| match items {
                    Payload::Value(Value::String(_)) => {
                        reader.problem(
                            child(pointer, "Items"),
                            format!("Items must be an array or a JSONata expression \"{{% … %}}\", not {}", describe(value)),
                        );
                        None
                    }
                    items => Some(items),
                })
            }
            Some(other) => {
                reader.problem(
                    child(pointer, "Items"),
                    format!("Items must be an array or a JSONata expression \"{{% … %}}\", not {}", describe(other)),
                );
                None
            }
            None => None,
        }
    } else {
        None
    };
    let max_concurrency = reader.seconds(object, pointer, "MaxConcurrency", 0);
    let label = reader.string(object, pointer, "Label");
    Some(Map {
        processor: processor?,
        mode,
        items_path: reader.path(object, pointer, "ItemsPath"),
        items,
        item_selector,
        max_concurrency,
        tolerated_failure_count: reader.tolerance(
            object,
            pointer,
            "ToleratedFailureCount",
            f64::from(u32::MAX),
        ),
        tolerated_failure_percentage: reader.tolerance(
            object,
            pointer,
            "ToleratedFailurePercentage",
            100.0,
        ),
        result_selector: reader.payload(object, pointer, "ResultSelector"),
        result_path: reader.reference_path(object, pointer, "ResultPath"),
        retry: read_retry(reader, object, pointer),
        catch: read_catch(reader, object, pointer),
        label,
    })
}
