//! Mocked Task responses from a MockConfigFile, the format of AWS Step Functions Local:
//!
//! ```json
//! {"StateMachines": {"Machine": {"TestCases": {"HappyPath": {"ChargeCard": "ChargeOk"}}}},
//!  "MockedResponses": {"ChargeOk": {"0": {"Throw": {"Error": "Timeout", "Cause": "slow"}},
//!                                   "1-2": {"Return": {"charged": true}}}}}
//! ```
//!
//! A test case maps Task state names to mocked responses. A mocked response lists, for each
//! invocation of the state (counted from 0, retries included), either the result (`Return`,
//! any JSON value) or the error (`Throw` with `Error` and `Cause`). Keys are invocation
//! numbers (`"0"`) or inclusive ranges (`"1-2"`), and must cover every invocation from 0 up
//! to the last one listed, without overlap.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::json::{Map, Value};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::{Fault, TaskCall, TaskHandler};

/// The environment variable naming the MockConfigFile (as in Step Functions Local).
pub const ENV_VAR: &str = "SFN_MOCK_CONFIG";

/// The error of an invocation that no mocked response covers.
///
/// Step Functions Local fails the execution when a mocked Task is invoked more times than
/// its mocked response lists. `States.Runtime` does that: neither a retrier nor a catcher
/// (not even `States.ALL`) handles it, so a test whose mocks are too short fails visibly
/// instead of being absorbed by the state machine's own error handling.
pub const EXHAUSTED_ERROR: &str = "States.Runtime";

/// A parsed and validated MockConfigFile.
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// State machine name → test case name → Task state name → mocked response name.
    state_machines: BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>>,
    responses: HashMap<String, Arc<MockedResponse>>,
}

/// One problem found in a MockConfigFile: where (a JSON pointer) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockConfigProblem {
    pub pointer: String,
    pub message: String,
}

impl fmt::Display for MockConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pointer.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.pointer, self.message)
        }
    }
}

/// Why a MockConfigFile could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum MockConfigError {
    #[error("cannot read mock config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Every problem found.
    #[error("{}", describe_problems(path.as_deref(), problems))]
    Invalid {
        path: Option<PathBuf>,
        problems: Vec<MockConfigProblem>,
    },
}

fn describe_problems(path: Option<&Path>, problems: &[MockConfigProblem]) -> String {
    let mut text = match path {
        Some(path) => format!("invalid mock config file {}:", path.display()),
        None => "invalid mock config:".to_owned(),
    };
    for problem in problems {
        text.push_str("\n  ");
        text.push_str(&problem.to_string());
    }
    text
}

/// The mocked outcome of one invocation.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Return(Value),
    Throw(Fault),
}

/// A named mocked response: outcomes for invocations `0..=last`.
#[derive(Debug, Clone, PartialEq)]
struct MockedResponse {
    /// Contiguous ranges from invocation 0, each with its last invocation, in order.
    ranges: Vec<(u32, Outcome)>,
}

impl MockedResponse {
    fn outcome(&self, invocation: u32) -> Option<&Outcome> {
        let index = self.ranges.partition_point(|(last, _)| *last < invocation);
        self.ranges.get(index).map(|(_, outcome)| outcome)
    }

    /// The invocations covered, in words.
    fn coverage(&self) -> String {
        match self.ranges.last() {
            None => "no invocation".to_owned(),
            Some((0, _)) => "invocation 0 only".to_owned(),
            Some((last, _)) => format!("invocations 0-{last}"),
        }
    }
}

impl MockConfig {
    /// Parses and validates a MockConfigFile, reporting every problem found.
    pub fn parse(text: &str) -> Result<MockConfig, MockConfigError> {
        let invalid = |problems| MockConfigError::Invalid {
            path: None,
            problems,
        };
        let document: Value = crate::json::from_str(text).map_err(|error| {
            invalid(vec![MockConfigProblem {
                pointer: String::new(),
                message: format!("invalid JSON: {error}"),
            }])
        })?;
        let mut checker = Checker::default();
        // The document parsed, so this walk succeeds; it only looks for repeated keys,
        // which a JSON object value silently collapses.
        let _ = DuplicateKeys {
            pointer: String::new(),
            checker: &mut checker,
        }
        .deserialize(&mut serde_json::Deserializer::from_str(text));
        let config = checker.config(&document);
        if checker.problems.is_empty() {
            Ok(config)
        } else {
            Err(invalid(checker.problems))
        }
    }

    /// Reads and parses the MockConfigFile at `path`.
    pub fn load(path: &Path) -> Result<MockConfig, MockConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| MockConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        MockConfig::parse(&text).map_err(|error| match error {
            MockConfigError::Invalid { problems, .. } => MockConfigError::Invalid {
                path: Some(path.to_owned()),
                problems,
            },
            other => other,
        })
    }

    /// The name of the only state machine the file describes, if it describes exactly one.
    pub fn single_state_machine(&self) -> Option<&str> {
        match self.state_machines.len() {
            1 => self.state_machines.keys().next().map(String::as_str),
            _ => None,
        }
    }

    /// The Task handler for one test case of one state machine.
    pub fn handler(&self, state_machine: &str, test_case: &str) -> Result<MockHandler, String> {
        let Some(test_cases) = self.state_machines.get(state_machine) else {
            return Err(format!(
                "no state machine {state_machine:?} in the mock config ({})",
                available("state machines", self.state_machines.keys())
            ));
        };
        let Some(states) = test_cases.get(test_case) else {
            return Err(format!(
                "no test case {test_case:?} for state machine {state_machine:?} in the mock \
                 config ({})",
                available("test cases", test_cases.keys())
            ));
        };
        let states = states
            .iter()
            .filter_map(|(state, name)| {
                let response = self.responses.get(name)?;
                Some((state.clone(), (name.clone(), Arc::clone(response))))
            })
            .collect();
        Ok(MockHandler {
            test_case: test_case.to_owned(),
            states,
        })
    }
}

fn available<'a>(what: &str, names: impl Iterator<Item = &'a String>) -> String {
    let names: Vec<String> = names.map(|name| format!("{name:?}")).collect();
    if names.is_empty() {
        format!("it has no {what}")
    } else {
        format!("{what}: {}", names.join(", "))
    }
}

/// Reads the MockConfigFile named by `SFN_MOCK_CONFIG`; `None` when the variable is unset
/// or empty.
pub fn from_env() -> Option<Result<MockConfig, MockConfigError>> {
    load_named(std::env::var_os(ENV_VAR))
}

fn load_named(path: Option<OsString>) -> Option<Result<MockConfig, MockConfigError>> {
    let path = PathBuf::from(path.filter(|path| !path.is_empty())?);
    Some(MockConfig::load(&path))
}

/// Serves the Task states one test case mocks; other states are left to the next handler.
///
/// Made for one state machine's test case by [`MockConfig::handler`], it does not consult
/// `TaskCall::state_machine`. Each call is a hash lookup and a binary search.
#[derive(Debug, Clone)]
pub struct MockHandler {
    test_case: String,
    /// Task state name → (mocked response name, its outcomes).
    states: HashMap<String, (String, Arc<MockedResponse>)>,
}

impl TaskHandler for MockHandler {
    fn invoke(&self, call: &TaskCall<'_>) -> Option<Result<Value, Fault>> {
        let (name, response) = self.states.get(call.state_name)?;
        Some(match response.outcome(call.invocation) {
            Some(Outcome::Return(value)) => Ok(value.clone()),
            Some(Outcome::Throw(fault)) => Err(fault.clone()),
            None => Err(Fault::new(
                EXHAUSTED_ERROR,
                format!(
                    "The mocked response {name:?} for state {:?} in test case {:?} has no \
                     response for invocation {}: it covers {}.",
                    call.state_name,
                    self.test_case,
                    call.invocation,
                    response.coverage()
                ),
            )),
        })
    }
}

/// Collects problems while building a [`MockConfig`] from the parsed document.
#[derive(Default)]
struct Checker {
    problems: Vec<MockConfigProblem>,
}

impl Checker {
    fn problem(&mut self, pointer: &[&str], message: impl Into<String>) {
        self.problems.push(MockConfigProblem {
            pointer: json_pointer(pointer),
            message: message.into(),
        });
    }

    fn object<'v>(&mut self, value: &'v Value, pointer: &[&str], what: &str) -> Option<&'v Map> {
        let object = value.as_object();
        if object.is_none() {
            self.problem(
                pointer,
                format!("{what} must be an object, not {}", kind(value)),
            );
        }
        object
    }

    fn unknown_fields(&mut self, object: &Map, pointer: &[&str], allowed: &[&str]) {
        for key in object.keys().filter(|key| !allowed.contains(&key.as_str())) {
            let expected: Vec<String> = allowed.iter().map(|name| format!("{name:?}")).collect();
            self.problem(
                &[pointer, &[key.as_str()]].concat(),
                format!("unknown field {key:?} (expected {})", expected.join(" or ")),
            );
        }
    }

    fn config(&mut self, document: &Value) -> MockConfig {
        let mut config = MockConfig {
            state_machines: BTreeMap::new(),
            responses: HashMap::new(),
        };
        let Some(root) = self.object(document, &[], "the mock config") else {
            return config;
        };
        self.unknown_fields(root, &[], &["StateMachines", "MockedResponses"]);
        let mut response_names = HashSet::new();
        match root.get("MockedResponses") {
            None => self.problem(&[], "missing required field \"MockedResponses\""),
            Some(value) => {
                if let Some(responses) =
                    self.object(value, &["MockedResponses"], "\"MockedResponses\"")
                {
                    for (name, value) in responses {
                        response_names.insert(name.as_str());
                        if let Some(response) = self.mocked_response(name, value) {
                            config
                                .responses
                                .insert(name.to_string(), Arc::new(response));
                        }
                    }
                }
            }
        }
        match root.get("StateMachines") {
            None => self.problem(&[], "missing required field \"StateMachines\""),
            Some(value) => {
                if let Some(machines) = self.object(value, &["StateMachines"], "\"StateMachines\"")
                {
                    for (machine, value) in machines {
                        let test_cases = self.state_machine(machine, value, &response_names);
                        config
                            .state_machines
                            .insert(machine.to_string(), test_cases);
                    }
                }
            }
        }
        config
    }

    fn state_machine(
        &mut self,
        machine: &str,
        value: &Value,
        response_names: &HashSet<&str>,
    ) -> BTreeMap<String, BTreeMap<String, String>> {
        let mut test_cases = BTreeMap::new();
        let pointer = ["StateMachines", machine];
        let Some(object) = self.object(value, &pointer, "a state machine") else {
            return test_cases;
        };
        self.unknown_fields(object, &pointer, &["TestCases"]);
        let Some(value) = object.get("TestCases") else {
            self.problem(&pointer, "missing required field \"TestCases\"");
            return test_cases;
        };
        let pointer = ["StateMachines", machine, "TestCases"];
        let Some(cases) = self.object(value, &pointer, "\"TestCases\"") else {
            return test_cases;
        };
        for (case, value) in cases {
            let pointer = ["StateMachines", machine, "TestCases", case];
            let mut states = BTreeMap::new();
            if let Some(object) = self.object(value, &pointer, "a test case") {
                for (state, value) in object {
                    let pointer = ["StateMachines", machine, "TestCases", case, state];
                    match value {
                        Value::String(name) if response_names.contains(name.as_str()) => {
                            states.insert(state.to_string(), name.to_string());
                        }
                        Value::String(name) => {
                            self.problem(&pointer, format!("no mocked response named {name:?}"));
                        }
                        other => self.problem(
                            &pointer,
                            format!(
                                "must name a mocked response (a string), not {}",
                                kind(other)
                            ),
                        ),
                    }
                }
            }
            test_cases.insert(case.to_string(), states);
        }
        test_cases
    }

    fn mocked_response(&mut self, name: &str, value: &Value) -> Option<MockedResponse> {
        let pointer = ["MockedResponses", name];
        let object = self.object(value, &pointer, "a mocked response")?;
        if object.is_empty() {
            self.problem(
                &pointer,
                "a mocked response needs at least one invocation (\"0\")",
            );
            return None;
        }
        let before = self.problems.len();
        // (first, last, key, outcome) for each well-formed entry.
        let mut ranges: Vec<(u32, u32, &str, Outcome)> = Vec::new();
        for (key, value) in object {
            let range = parse_range(key);
            if range.is_none() {
                self.problem(
                    &["MockedResponses", name, key],
                    format!("invalid invocation range {key:?} (expected \"N\" or \"N-M\", N ≤ M)"),
                );
            }
            let outcome = self.outcome(&["MockedResponses", name, key], value);
            if let (Some((first, last)), Some(outcome)) = (range, outcome) {
                ranges.push((first, last, key, outcome));
            }
        }
        ranges.sort_by_key(|(first, last, _, _)| (*first, *last));
        let mut next: u64 = 0; // the first invocation not yet covered
        let mut previous_key = "";
        for (first, last, key, _) in &ranges {
            let (first, last) = (u64::from(*first), u64::from(*last));
            if first > next {
                self.problem(
                    &pointer,
                    format!(
                        "no response for {} (every invocation from 0 up to the last one \
                         listed needs a response)",
                        invocations(next, first - 1)
                    ),
                );
            } else if first < next {
                self.problem(
                    &["MockedResponses", name, key],
                    format!(
                        "overlaps {previous_key:?} at {}",
                        invocations(first, last.min(next - 1))
                    ),
                );
            }
            if last + 1 > next {
                next = last + 1;
                previous_key = key;
            }
        }
        (self.problems.len() == before).then(|| MockedResponse {
            ranges: ranges
                .into_iter()
                .map(|(_, last, _, outcome)| (last, outcome))
                .collect(),
        })
    }

    fn outcome(&mut self, pointer: &[&str], value: &Value) -> Option<Outcome> {
        let object = self.object(value, pointer, "a response")?;
        self.unknown_fields(object, pointer, &["Return", "Throw"]);
        match (object.get("Return"), object.get("Throw")) {
            (Some(_), Some(_)) => {
                self.problem(
                    pointer,
                    "has both \"Return\" and \"Throw\"; a response holds exactly one",
                );
                None
            }
            (None, None) => {
                self.problem(pointer, "needs a \"Return\" or a \"Throw\"");
                None
            }
            (Some(result), None) => Some(Outcome::Return(result.clone())),
            (None, Some(throw)) => self.throw(&[pointer, &["Throw"]].concat(), throw),
        }
    }

    /// A `Throw`: `Error` is a string; `Cause` is optional and, when not a string, is kept
    /// as its JSON text (as AWS records a Lambda's JSON error payload).
    fn throw(&mut self, pointer: &[&str], value: &Value) -> Option<Outcome> {
        let object = self.object(value, pointer, "\"Throw\"")?;
        self.unknown_fields(object, pointer, &["Error", "Cause"]);
        let error = match object.get("Error") {
            Some(Value::String(error)) => Some(error.to_string()),
            Some(other) => {
                self.problem(
                    &[pointer, &["Error"]].concat(),
                    format!("must be a string, not {}", kind(other)),
                );
                None
            }
            None => {
                self.problem(pointer, "missing required field \"Error\"");
                None
            }
        };
        let cause = match object.get("Cause") {
            None | Some(Value::Null) => None,
            Some(Value::String(cause)) => Some(cause.to_string()),
            Some(other) => Some(other.to_string()),
        };
        Some(Outcome::Throw(Fault {
            error: Some(error?),
            cause,
        }))
    }
}

/// `"3"` or `"1-2"` (digits only, first ≤ last) as an inclusive range.
fn parse_range(key: &str) -> Option<(u32, u32)> {
    let number = |text: &str| -> Option<u32> {
        if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        text.parse().ok()
    };
    match key.split_once('-') {
        None => number(key).map(|n| (n, n)),
        Some((first, last)) => {
            let (first, last) = (number(first)?, number(last)?);
            (first <= last).then_some((first, last))
        }
    }
}

fn invocations(first: u64, last: u64) -> String {
    if first == last {
        format!("invocation {first}")
    } else {
        format!("invocations {first}-{last}")
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// An RFC 6901 JSON pointer (`""` for the whole document).
fn json_pointer(tokens: &[&str]) -> String {
    let mut pointer = String::new();
    for token in tokens {
        pointer.push('/');
        pointer.push_str(&token.replace('~', "~0").replace('/', "~1"));
    }
    pointer
}

/// Walks the JSON text and reports every key repeated within one object.
struct DuplicateKeys<'c> {
    pointer: String,
    checker: &'c mut Checker,
}

impl<'de> DeserializeSeed<'de> for DuplicateKeys<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DuplicateKeys<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0usize;
        loop {
            let element = DuplicateKeys {
                pointer: format!("{}/{index}", self.pointer),
                checker: &mut *self.checker,
            };
            if seq.next_element_seed(element)?.is_none() {
                return Ok(());
            }
            index += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let pointer = format!("{}{}", self.pointer, json_pointer(&[&key]));
            if !seen.insert(key.clone()) {
                self.checker.problems.push(MockConfigProblem {
                    pointer: pointer.clone(),
                    message: format!("duplicate key {key:?}"),
                });
            }
            map.next_value_seed(DuplicateKeys {
                pointer,
                checker: &mut *self.checker,
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json;

    /// What a handler answers for one call.
    type Served = Option<Result<Value, Fault>>;

    /// Parses `config`, builds the handler for `Machine`/`Case`, and invokes `state` once per
    /// expected outcome, with invocations 0, 1, 2, …
    fn check(config: Value, state: &str, expect: &[Served]) {
        let config = match MockConfig::parse(&config.to_string()) {
            Ok(config) => config,
            Err(error) => panic!("{error}"),
        };
        let handler = match config.handler("Machine", "Case") {
            Ok(handler) => handler,
            Err(error) => panic!("{error}"),
        };
        let parameters = json!({});
        for (invocation, expect) in (0..).zip(expect) {
            let call = TaskCall {
                state_name: state,
                resource: "arn:aws:states:::lambda:invoke",
                parameters: &parameters,
                invocation,
                state_machine: "Machine",
            };
            assert_eq!(
                &handler.invoke(&call),
                expect,
                "{state} invocation {invocation}"
            );
        }
    }

    /// A config whose test case `Machine`/`Case` maps `Task` to mocked response `M`.
    fn with_responses(responses: Value) -> Value {
        json!({
            "StateMachines": {"Machine": {"TestCases": {"Case": {"Task": "M"}}}},
            "MockedResponses": {"M": responses},
        })
    }

    fn exhausted(invocation: u32, covers: &str) -> Served {
        Some(Err(Fault::new(
            EXHAUSTED_ERROR,
            format!(
                "The mocked response \"M\" for state \"Task\" in test case \"Case\" has no \
                 response for invocation {invocation}: it covers {covers}."
            ),
        )))
    }

    #[test]
    fn serves_invocations() {
        let ok = |value: Value| Some(Ok(value));
        let throw = |error: &str, cause: Option<&str>| {
            Some(Err(Fault {
                error: Some(error.to_owned()),
                cause: cause.map(str::to_owned),
            }))
        };
        let cases: Vec<(Value, &str, Vec<Served>)> = vec![
            (
                with_responses(json!({"0": {"Return": {"a": 1}}})),
                "Task",
                vec![ok(json!({"a": 1})), exhausted(1, "invocation 0 only")],
            ),
            // The documented retry example: "0", "1-2", "3".
            (
                with_responses(json!({
                    "0": {"Throw": {"Error": "Lambda.ResourceNotReadyException", "Cause": "not ready"}},
                    "1-2": {"Throw": {"Error": "Lambda.TimeoutException", "Cause": "timed out"}},
                    "3": {"Return": {"StatusCode": 200}},
                })),
                "Task",
                vec![
                    throw("Lambda.ResourceNotReadyException", Some("not ready")),
                    throw("Lambda.TimeoutException", Some("timed out")),
                    throw("Lambda.TimeoutException", Some("timed out")),
                    ok(json!({"StatusCode": 200})),
                    exhausted(4, "invocations 0-3"),
                ],
            ),
            // Key order in the file does not matter.
            (
                with_responses(json!({"2": {"Return": 2}, "0-1": {"Return": "first"}})),
                "Task",
                vec![
                    ok(json!("first")),
                    ok(json!("first")),
                    ok(json!(2)),
                    exhausted(3, "invocations 0-2"),
                ],
            ),
            // Return may be any JSON value.
            (
                with_responses(json!({"0": {"Return": "HelloWorld!"}})),
                "Task",
                vec![ok(json!("HelloWorld!"))],
            ),
            (
                with_responses(json!({"0": {"Return": 0.0}})),
                "Task",
                vec![ok(json!(0.0))],
            ),
            (
                with_responses(json!({"0": {"Return": []}})),
                "Task",
                vec![ok(json!([]))],
            ),
            (
                with_responses(json!({"0": {"Return": null}})),
                "Task",
                vec![ok(json!(null))],
            ),
            // A JSON Cause becomes its text; a missing or null Cause is none.
            (
                with_responses(
                    json!({"0": {"Throw": {"Error": "Exception", "Cause": {"errorMessage": "x", "n": [1]}}}}),
                ),
                "Task",
                vec![throw("Exception", Some(r#"{"errorMessage":"x","n":[1]}"#))],
            ),
            (
                with_responses(
                    json!({"0-1": {"Throw": {"Error": "E"}}, "2": {"Throw": {"Error": "E", "Cause": null}}}),
                ),
                "Task",
                vec![throw("E", None), throw("E", None), throw("E", None)],
            ),
            // A large range is neither expanded nor a problem.
            (
                with_responses(json!({"0-4294967294": {"Return": 1}, "4294967295": {"Return": 2}})),
                "Task",
                vec![ok(json!(1)), ok(json!(1))],
            ),
            // States the test case does not mock are left to other handlers.
            (
                with_responses(json!({"0": {"Return": 1}})),
                "Other",
                vec![None, None],
            ),
        ];
        for (config, state, expect) in cases {
            check(config, state, &expect);
        }
    }

    #[test]
    fn serves_the_last_invocations() {
        let config =
            with_responses(json!({"0-4294967294": {"Return": 1}, "4294967295": {"Return": 2}}));
        let Ok(config) = MockConfig::parse(&config.to_string()) else {
            panic!("parse")
        };
        let Ok(handler) = config.handler("Machine", "Case") else {
            panic!("handler")
        };
        let parameters = json!(null);
        for (invocation, expect) in [(4_294_967_294, json!(1)), (u32::MAX, json!(2))] {
            let call = TaskCall {
                state_name: "Task",
                resource: "r",
                parameters: &parameters,
                invocation,
                state_machine: "Machine",
            };
            assert_eq!(handler.invoke(&call), Some(Ok(expect)));
        }
    }

    /// Parses `text` and compares the problems reported (as displayed).
    fn check_problems(text: &str, expect: &[&str]) {
        let problems: Vec<String> = match MockConfig::parse(text) {
            Ok(_) => Vec::new(),
            Err(MockConfigError::Invalid { problems, .. }) => {
                problems.iter().map(ToString::to_string).collect()
            }
            Err(other) => panic!("{other}"),
        };
        assert_eq!(problems, expect, "{text}");
    }

    #[test]
    fn reports_every_problem() {
        let cases: Vec<(String, Vec<&str>)> = vec![
            (with_responses(json!({"0": {"Return": 1}})).to_string(), vec![]),
            (json!({"StateMachines": {}, "MockedResponses": {}}).to_string(), vec![]),
            ("{".to_owned(), vec!["invalid JSON: EOF while parsing an object at line 1 column 1"]),
            ("[]".to_owned(), vec!["the mock config must be an object, not an array"]),
            (
                json!({"StateMachine": {}}).to_string(),
                vec![
                    "/StateMachine: unknown field \"StateMachine\" (expected \"StateMachines\" or \"MockedResponses\")",
                    "missing required field \"MockedResponses\"",
                    "missing required field \"StateMachines\"",
                ],
            ),
            (
                json!({"StateMachines": [], "MockedResponses": 1}).to_string(),
                vec![
                    "/MockedResponses: \"MockedResponses\" must be an object, not a number",
                    "/StateMachines: \"StateMachines\" must be an object, not an array",
                ],
            ),
            (
                with_responses(json!({"0": {"Return": 1}, "0-x": {"Return": 2}, "2-1": {"Return": 3}, "-1": {"Return": 4}, " 3": {"Return": 5}, "99999999999": {"Return": 6}})).to_string(),
                vec![
                    "/MockedResponses/M/0-x: invalid invocation range \"0-x\" (expected \"N\" or \"N-M\", N ≤ M)",
                    "/MockedResponses/M/2-1: invalid invocation range \"2-1\" (expected \"N\" or \"N-M\", N ≤ M)",
                    "/MockedResponses/M/-1: invalid invocation range \"-1\" (expected \"N\" or \"N-M\", N ≤ M)",
                    "/MockedResponses/M/ 3: invalid invocation range \" 3\" (expected \"N\" or \"N-M\", N ≤ M)",
                    "/MockedResponses/M/99999999999: invalid invocation range \"99999999999\" (expected \"N\" or \"N-M\", N ≤ M)",
                ],
            ),
            (
                with_responses(json!({"0-2": {"Return": 1}, "2-3": {"Return": 2}, "1": {"Return": 3}})).to_string(),
                vec![
                    "/MockedResponses/M/1: overlaps \"0-2\" at invocation 1",
                    "/MockedResponses/M/2-3: overlaps \"0-2\" at invocation 2",
                ],
            ),
            (
                with_responses(json!({"1": {"Return": 1}, "3-4": {"Return": 2}, "7": {"Return": 3}})).to_string(),
                vec![
                    "/MockedResponses/M: no response for invocation 0 (every invocation from 0 up to the last one listed needs a response)",
                    "/MockedResponses/M: no response for invocation 2 (every invocation from 0 up to the last one listed needs a response)",
                    "/MockedResponses/M: no response for invocations 5-6 (every invocation from 0 up to the last one listed needs a response)",
                ],
            ),
            (
                with_responses(json!({
                    "0": {"Return": 1, "Throw": {"Error": "E"}},
                    "1": {},
                    "2": {"Retrun": 1},
                    "3": {"Throw": {"Cause": "c"}},
                    "4": {"Throw": {"Error": 5, "Caus": "c"}},
                    "5": {"Throw": "E"},
                    "6": [],
                })).to_string(),
                vec![
                    "/MockedResponses/M/0: has both \"Return\" and \"Throw\"; a response holds exactly one",
                    "/MockedResponses/M/1: needs a \"Return\" or a \"Throw\"",
                    "/MockedResponses/M/2/Retrun: unknown field \"Retrun\" (expected \"Return\" or \"Throw\")",
                    "/MockedResponses/M/2: needs a \"Return\" or a \"Throw\"",
                    "/MockedResponses/M/3/Throw: missing required field \"Error\"",
                    "/MockedResponses/M/4/Throw/Caus: unknown field \"Caus\" (expected \"Error\" or \"Cause\")",
                    "/MockedResponses/M/4/Throw/Error: must be a string, not a number",
                    "/MockedResponses/M/5/Throw: \"Throw\" must be an object, not a string",
                    "/MockedResponses/M/6: a response must be an object, not an array",
                ],
            ),
            (
                json!({"StateMachines": {}, "MockedResponses": {"Empty": {}, "List": []}}).to_string(),
                vec![
                    "/MockedResponses/Empty: a mocked response needs at least one invocation (\"0\")",
                    "/MockedResponses/List: a mocked response must be an object, not an array",
                ],
            ),
            (
                json!({
                    "StateMachines": {
                        "A": {"TestCases": {}, "Comment": "x"},
                        "B": {},
                        "C": {"TestCases": []},
                        "D": {"TestCases": {"T1": {"S1": "Missing", "S2": 3, "S3": "M"}, "T2": "M"}},
                        "E/~": 1,
                    },
                    "MockedResponses": {"M": {"0": {"Return": 1}}},
                })
                .to_string(),
                vec![
                    "/StateMachines/A/Comment: unknown field \"Comment\" (expected \"TestCases\")",
                    "/StateMachines/B: missing required field \"TestCases\"",
                    "/StateMachines/C/TestCases: \"TestCases\" must be an object, not an array",
                    "/StateMachines/D/TestCases/T1/S1: no mocked response named \"Missing\"",
                    "/StateMachines/D/TestCases/T1/S2: must name a mocked response (a string), not a number",
                    "/StateMachines/D/TestCases/T2: a test case must be an object, not a string",
                    "/StateMachines/E~1~0: a state machine must be an object, not a number",
                ],
            ),
            // A test case naming a mocked response that has problems is not reported twice.
            (
                json!({
                    "StateMachines": {"Machine": {"TestCases": {"Case": {"Task": "M"}}}},
                    "MockedResponses": {"M": {"x": {"Return": 1}}},
                })
                .to_string(),
                vec![
                    "/MockedResponses/M/x: invalid invocation range \"x\" (expected \"N\" or \"N-M\", N ≤ M)",
                ],
            ),
            // Repeated keys, which a JSON object would silently collapse.
            (
                r#"{"StateMachines": {"Machine": {"TestCases": {"Case": {"Task": "M", "Task": "M"}}}},
                    "MockedResponses": {"M": {"0": {"Return": [{"a": 1, "a": 2}]}, "0": {"Return": 1}}}}"#
                    .to_owned(),
                vec![
                    "/StateMachines/Machine/TestCases/Case/Task: duplicate key \"Task\"",
                    "/MockedResponses/M/0/Return/0/a: duplicate key \"a\"",
                    "/MockedResponses/M/0: duplicate key \"0\"",
                ],
            ),
        ];
        for (text, expect) in cases {
            check_problems(&text, &expect);
        }
    }

    #[test]
    fn reports_unknown_machines_and_test_cases() {
        let text = json!({
            "StateMachines": {
                "Machine": {"TestCases": {"Case": {}, "Other": {}}},
                "Second": {"TestCases": {}},
            },
            "MockedResponses": {},
        })
        .to_string();
        let Ok(config) = MockConfig::parse(&text) else {
            panic!("parse")
        };
        let cases = [
            ("Machine", "Case", Ok(())),
            (
                "Nope",
                "Case",
                Err("no state machine \"Nope\" in the mock config (state machines: \"Machine\", \"Second\")"),
            ),
            (
                "Machine",
                "Nope",
                Err("no test case \"Nope\" for state machine \"Machine\" in the mock config (test cases: \"Case\", \"Other\")"),
            ),
            (
                "Second",
                "Case",
                Err("no test case \"Case\" for state machine \"Second\" in the mock config (it has no test cases)"),
            ),
        ];
        for (machine, case, expect) in cases {
            let result = config.handler(machine, case).map(|_| ());
            assert_eq!(result, expect.map_err(str::to_owned), "{machine}/{case}");
        }
    }

    #[test]
    fn loads_from_files_and_the_environment() {
        let directory =
            std::env::temp_dir().join(format!("stepstream-mock-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&directory);
        let good = directory.join("good.json");
        let bad = directory.join("bad.json");
        let missing = directory.join("missing.json");
        let written = std::fs::write(
            &good,
            with_responses(json!({"0": {"Return": 1}})).to_string(),
        )
        .and_then(|()| std::fs::write(&bad, r#"{"StateMachines": {}}"#));
        assert!(written.is_ok(), "{written:?}");

        let describe = |path: Option<&Path>| -> Option<String> {
            load_named(path.map(|path| path.as_os_str().to_owned())).map(|result| match result {
                Ok(_) => "ok".to_owned(),
                Err(error) => error.to_string(),
            })
        };
        let cases = [
            (None, None),
            (Some(Path::new("")), None),
            (Some(good.as_path()), Some("ok".to_owned())),
            (
                Some(bad.as_path()),
                Some(format!(
                    "invalid mock config file {}:\n  missing required field \"MockedResponses\"",
                    bad.display()
                )),
            ),
        ];
        for (path, expect) in cases {
            assert_eq!(describe(path), expect, "{path:?}");
        }
        let Some(message) = describe(Some(&missing)) else {
            panic!("a path was given")
        };
        assert!(message.starts_with(&format!(
            "cannot read mock config file {}: ",
            missing.display()
        )));
        let _ = std::fs::remove_dir_all(&directory);
    }

    #[test]
    fn parses_ranges() {
        let cases = [
            ("0", Some((0, 0))),
            ("17", Some((17, 17))),
            ("007", Some((7, 7))),
            ("1-2", Some((1, 2))),
            ("2-2", Some((2, 2))),
            ("0-4294967295", Some((0, u32::MAX))),
            ("4294967296", None),
            ("2-1", None),
            ("", None),
            ("-", None),
            ("1-", None),
            ("-1", None),
            ("1-2-3", None),
            ("+1", None),
            ("1 - 2", None),
            ("١", None),
        ];
        for (key, expect) in cases {
            assert_eq!(parse_range(key), expect, "{key:?}");
        }
    }

    #[test]
    fn escapes_json_pointers() {
        let cases: [(&[&str], &str); 4] = [
            (&[], ""),
            (&["a"], "/a"),
            (&["a/b", "c~d"], "/a~1b/c~0d"),
            (&["", "~1"], "//~01"),
        ];
        for (tokens, expect) in cases {
            assert_eq!(json_pointer(tokens), expect);
        }
    }

    #[test]
    fn parses_the_recorded_conformance_mocks() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/conformance/aws-recorded.jsonl"
        );
        let corpus = std::fs::read_to_string(path)
            .expect("the conformance corpus is part of the repository");
        let mut parsed = 0;
        for line in corpus.lines() {
            let Ok(case) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let Some(mock) = case.get("mock_config") else {
                continue;
            };
            let config = MockConfig::parse(&mock["file"].to_string());
            let handler = config
                .as_ref()
                .map_err(ToString::to_string)
                .and_then(|config| {
                    let machine = mock["state_machine"].as_str().unwrap_or_default();
                    let test_case = mock["test_case"].as_str().unwrap_or_default();
                    config.handler(machine, test_case)
                });
            assert!(handler.is_ok(), "{}: {:?}", case["id"], handler.err());
            parsed += 1;
        }
        assert!(parsed > 0);
    }
}
