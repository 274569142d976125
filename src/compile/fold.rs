//! Folding: a machine whose top level is a chain of JSONPath Pass and Succeed states reading
//! only its input is run once at compile time on a symbolic input, which leaves its output as
//! a template over the input (`Folded`); an execution then builds that template instead of
//! running the states one by one.
//!
//! W1's five Pass states, for instance, fold to `{"out": {"id": $.id, "name":
//! $.detail.user.name, "amt": $.detail.amount}, "stage": "three", "const": "done"}`: every
//! ResultPath merge, InputPath and OutputPath in between is resolved at compile time.
//!
//! The outcome cannot differ from the interpreter's:
//! - the states' values are built by the functions the interpreter uses (`Path::select`,
//!   `Path::put`), applied to the same values, only fewer of them;
//! - a selection whose value is dropped later is still made (`Folded::checks`), and so is every
//!   check a ResultPath merge makes, so an execution the interpreter would fail fails here;
//! - every size is bounded from the input's text length, as the interpreter bounds it;
//! - any selection or check that fails, and any bound over the payload limit, gives `None`,
//!   and the interpreter runs the execution instead (and words the error).
//!
//! Anything else (other state types, intrinsic functions, the context object, variables,
//! JSONata, paths with wildcards or filters, nested ResultPaths) is not folded.

use crate::asl::{InputOutputPath, Kind, Payload, QueryLanguage, ResultPath, StateMachine};
use crate::json::{self, Map as JsonMap, Str, Value};
use crate::path::{Path, Step};

use super::PayloadBound;

/// A value in terms of the execution's input.
#[derive(Debug, Clone)]
enum Sym {
    /// What a path selects from the input (`None`: the whole input).
    Input(Option<Path>),
    Const(Value),
    /// An object built from a template: keys in order, unique.
    Object(Vec<(Str, Sym)>),
    Array(Vec<Sym>),
    /// `base` with the field `key` set to `value` (a ResultPath `$.key`).
    Put {
        base: Box<Sym>,
        path: Path,
        key: Box<str>,
        value: Box<Sym>,
    },
}

/// What every execution must check before it takes the folded output.
#[derive(Debug, Clone)]
enum Check {
    /// The path selects something from the input.
    Selects(Path),
    /// The input (`None`), or what the path selects from it, is an object.
    Object(Option<Path>),
}

/// A machine folded to one template over its input.
#[derive(Debug, Clone)]
pub struct Folded {
    output: Sym,
    checks: Vec<Check>,
    /// Bounds every state's output: fixed bytes plus selections of at most the input's size.
    bound: PayloadBound,
    /// States an execution enters.
    pub transitions: u64,
}

/// The history event types of a folded execution: it enters and leaves Pass and Succeed
/// states and succeeds.
const EVENT_TYPES: [&str; 6] = [
    "ExecutionStarted",
    "PassStateEntered",
    "PassStateExited",
    "SucceedStateEntered",
    "SucceedStateExited",
    "ExecutionSucceeded",
];

impl Folded {
    /// Whether an execution that takes the folded output would log any record at `level`; a
    /// driver that logs at such a level runs the interpreter instead. At ERROR and FATAL a
    /// folded execution, which succeeds, logs nothing.
    pub fn logs_at(&self, level: crate::vm::LogLevel) -> bool {
        EVENT_TYPES
            .iter()
            .any(|event_type| level.includes(event_type))
    }

    /// The output of an execution on `input` (of at most `input_bound` bytes printed), or
    /// `None` when the interpreter must run it.
    pub fn run(&self, input: &Value, input_bound: usize, max_payload: usize) -> Option<Value> {
        // A value deeper than the interpreter's limit prints in more than twice as many bytes.
        let limit = max_payload.min(2 * crate::vm::MAX_VALUE_DEPTH);
        if self.bound.with_source(input_bound.max(2)) > limit {
            return None;
        }
        for check in &self.checks {
            let holds = match check {
                Check::Selects(path) => path.select(input).is_ok(),
                Check::Object(None) => matches!(input, Value::Object(_)),
                Check::Object(Some(path)) => {
                    matches!(path.select(input).as_deref(), Ok(Value::Object(_)))
                }
            };
            if !holds {
                return None;
            }
        }
        build(&self.output, input)
    }
}

/// The template as the program listing shows it: `$…` selects from the input, `A + {"k": B}`
/// is A with field `k` set to B.
impl std::fmt::Display for Folded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.output)?;
        let checks: Vec<String> = self
            .checks
            .iter()
            .map(|check| match check {
                Check::Selects(path) => path.source().to_string(),
                Check::Object(None) => "$ is an object".to_string(),
                Check::Object(Some(path)) => format!("{} is an object", path.source()),
            })
            .collect();
        write!(f, "; checks: {}", checks.join(", "))
    }
}

impl std::fmt::Display for Sym {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sym::Input(None) => write!(f, "$"),
            Sym::Input(Some(path)) => write!(f, "{}", path.source()),
            Sym::Const(value) => write!(f, "{value}"),
            Sym::Object(fields) => {
                write!(f, "{{")?;
                for (index, (key, field)) in fields.iter().enumerate() {
                    let comma = if index == 0 { "" } else { ", " };
                    write!(f, "{comma}{}: {field}", Value::from(key.as_str()))?;
                }
                write!(f, "}}")
            }
            Sym::Array(items) => {
                write!(f, "[")?;
                for (index, item) in items.iter().enumerate() {
                    let comma = if index == 0 { "" } else { ", " };
                    write!(f, "{comma}{item}")?;
                }
                write!(f, "]")
            }
            Sym::Put {
                base, key, value, ..
            } => write!(f, "{base} + {{{}: {value}}}", Value::from(&**key)),
        }
    }
}

fn build(sym: &Sym, input: &Value) -> Option<Value> {
    Some(match sym {
        Sym::Input(None) => input.clone(),
        Sym::Input(Some(path)) => path.select(input).ok()?.into_owned(),
        Sym::Const(value) => value.clone(),
        Sym::Object(fields) => {
            let mut built = Vec::with_capacity(fields.len());
            for (key, field) in fields {
                built.push((key.clone(), build(field, input)?));
            }
            Value::Object(JsonMap::from_unique(built))
        }
        Sym::Array(items) => {
            let mut built = Vec::with_capacity(items.len());
            for item in items {
                built.push(build(item, input)?);
            }
            Value::from(built)
        }
        Sym::Put {
            base, path, value, ..
        } => path.put(build(base, input)?, build(value, input)?).ok()?,
    })
}

/// Folds `machine`, if it is such a chain.
pub fn fold(machine: &StateMachine, input_fields: Option<&[Str]>) -> Option<Folded> {
    let mut folder = Folder {
        checks: Vec::new(),
        bound: PayloadBound {
            fixed: 0,
            selections: 1,
            exact: false,
        },
    };
    let mut value = Sym::Input(None);
    let mut name = machine.start_at.as_str();
    let mut transitions = 0u64;
    loop {
        let state = machine.state(name)?;
        transitions += 1;
        // A chain that comes back to a state loops until the execution times out.
        if transitions > machine.states.len() as u64
            || state.query_language != QueryLanguage::JsonPath
            || state.assign.is_some()
            || state.output.is_some()
        {
            return None;
        }
        let effective = match &state.input_path {
            None => value.clone(),
            Some(InputOutputPath::Null) => Sym::Const(Value::Object(JsonMap::new())),
            Some(InputOutputPath::Path(path)) => folder.select(&value, path)?,
        };
        let output = match &state.kind {
            Kind::Pass(pass) => {
                let parameters = match &pass.parameters {
                    Some(payload) => folder.template(payload, &effective)?,
                    None => effective,
                };
                let result = match &pass.result {
                    Some(result) => Sym::Const(result.clone()),
                    None => parameters,
                };
                match &pass.result_path {
                    None => result,
                    Some(ResultPath::Discard) => value,
                    Some(ResultPath::Path(path)) => folder.put(value, path, result)?,
                }
            }
            Kind::Succeed => effective,
            _ => return None,
        };
        let output = match &state.output_path {
            None => output,
            Some(InputOutputPath::Null) => Sym::Const(Value::Object(JsonMap::new())),
            Some(InputOutputPath::Path(path)) => folder.select(&output, path)?,
        };
        let bound = bound_of(&output);
        folder.bound.fixed = folder.bound.fixed.max(bound.fixed);
        folder.bound.selections = folder.bound.selections.max(bound.selections);
        value = output;
        match (&state.kind, &state.next) {
            (Kind::Succeed, _) | (_, None) => break,
            (_, Some(next)) => name = next,
        }
    }
    // The input projection keeps what the interpreter can read; the folded program reads
    // nothing else, which is checked rather than assumed.
    if let Some(fields) = input_fields {
        let mut paths = folder.checks.iter().filter_map(|check| match check {
            Check::Selects(path) | Check::Object(Some(path)) => Some(path),
            Check::Object(None) => None,
        });
        let kept = |path: &Path| match path.steps().as_deref() {
            Some([Step::Name(first), ..]) => fields.iter().any(|field| **field == **first),
            Some([]) => true,
            _ => false,
        };
        if !paths.all(kept) {
            return None;
        }
    }
    Some(Folded {
        output: value,
        checks: folder.checks,
        bound: folder.bound,
        transitions,
    })
}

struct Folder {
    checks: Vec<Check>,
    bound: PayloadBound,
}

impl Folder {
    /// What `path` selects from `value`: resolved now where `value` is known, else a
    /// selection from the input, checked by every execution.
    fn select(&mut self, value: &Sym, path: &Path) -> Option<Sym> {
        let steps = path.steps()?;
        self.resolve(value, &steps)
    }

    fn resolve(&mut self, value: &Sym, steps: &[Step]) -> Option<Sym> {
        let Some((step, rest)) = steps.split_first() else {
            return Some(value.clone());
        };
        match (value, step) {
            (Sym::Input(base), _) => {
                let mut all = match base {
                    Some(base) => base.steps()?,
                    None => Vec::new(),
                };
                all.extend_from_slice(steps);
                let path = Path::from_steps(&all);
                self.check(Check::Selects(path.clone()));
                Some(Sym::Input(Some(path)))
            }
            (Sym::Const(constant), _) => {
                let path = Path::from_steps(steps);
                // A selection that fails on a constant fails on every execution: left to
                // the interpreter, which words the error.
                let selected = path.select(constant).ok()?.into_owned();
                Some(Sym::Const(selected))
            }
            (Sym::Object(fields), Step::Name(name)) => {
                let (_, field) = fields.iter().find(|(key, _)| **key == **name)?;
                self.resolve(field, rest)
            }
            (Sym::Array(items), Step::Index(index)) => {
                let item = items.get(usize::try_from(*index).ok()?)?;
                self.resolve(item, rest)
            }
            (
                Sym::Put {
                    base, key, value, ..
                },
                Step::Name(name),
            ) => {
                if **key == **name {
                    self.resolve(value, rest)
                } else {
                    self.resolve(base, steps)
                }
            }
            _ => None,
        }
    }

    /// A Parameters template over `value`.
    fn template(&mut self, payload: &Payload, value: &Sym) -> Option<Sym> {
        Some(match payload {
            Payload::Value(constant) => Sym::Const(constant.clone()),
            Payload::Path(path) => self.select(value, path)?,
            Payload::Object(entries) => {
                let mut fields = Vec::with_capacity(entries.len());
                for (key, part) in entries {
                    fields.push((key.clone(), self.template(part, value)?));
                }
                Sym::Object(fields)
            }
            Payload::Array(parts) => {
                let mut items = Vec::with_capacity(parts.len());
                for part in parts {
                    items.push(self.template(part, value)?);
                }
                Sym::Array(items)
            }
            Payload::Call(_) | Payload::Jsonata(_) => return None,
        })
    }

    /// ResultPath: `result` put into `value` at `path` (`$` or `$.key`).
    fn put(&mut self, value: Sym, path: &Path, result: Sym) -> Option<Sym> {
        let key = match path.steps()?.as_slice() {
            [] => return Some(result),
            [Step::Name(key)] => key.clone(),
            _ => return None,
        };
        // The merge needs an object to merge into.
        match &value {
            Sym::Object(_) | Sym::Put { .. } => {}
            Sym::Const(Value::Object(_)) => {}
            Sym::Input(base) => self.check(Check::Object(base.clone())),
            _ => return None,
        }
        Some(Sym::Put {
            base: Box::new(value),
            path: path.clone(),
            key,
            value: Box::new(result),
        })
    }

    fn check(&mut self, check: Check) {
        let same = |a: &Option<Path>, b: &Option<Path>| match (a, b) {
            (None, None) => true,
            (Some(a), Some(b)) => a.source() == b.source(),
            _ => false,
        };
        let known = self.checks.iter().any(|known| match (known, &check) {
            (Check::Selects(a), Check::Selects(b)) => a.source() == b.source(),
            (Check::Object(a), Check::Object(b)) => same(a, b),
            _ => false,
        });
        if !known {
            self.checks.push(check);
        }
    }
}

/// An upper bound of the printed size of `sym`'s value: fixed bytes plus, per input
/// selection, the input's size.
fn bound_of(sym: &Sym) -> PayloadBound {
    let mut bound = PayloadBound {
        fixed: 0,
        selections: 0,
        exact: false,
    };
    let mut add = |part: PayloadBound| {
        bound.fixed = bound.fixed.saturating_add(part.fixed);
        bound.selections = bound.selections.saturating_add(part.selections);
    };
    match sym {
        Sym::Input(_) => add(PayloadBound {
            fixed: 0,
            selections: 1,
            exact: false,
        }),
        Sym::Const(value) => add(PayloadBound {
            fixed: json::size(value),
            selections: 0,
            exact: false,
        }),
        Sym::Object(fields) => {
            add(PayloadBound {
                fixed: 2 + fields.len(),
                selections: 0,
                exact: false,
            });
            for (key, field) in fields {
                add(PayloadBound {
                    fixed: json::string_size(key) + 1,
                    selections: 0,
                    exact: false,
                });
                add(bound_of(field));
            }
        }
        Sym::Array(items) => {
            add(PayloadBound {
                fixed: 2 + items.len(),
                selections: 0,
                exact: false,
            });
            for item in items {
                add(bound_of(item));
            }
        }
        Sym::Put {
            base, key, value, ..
        } => {
            add(bound_of(base));
            add(PayloadBound {
                fixed: json::string_size(key) + 2,
                selections: 0,
                exact: false,
            });
            add(bound_of(value));
        }
    }
    bound
}

#[cfg(test)]
mod tests {
    use crate::compile::{compile, Program};
    use crate::exec::{self, ExecOptions, NoTasks};

    fn program(definition: &str) -> Program {
        compile(&crate::asl::parse(definition).expect("a valid definition"))
    }

    /// The outcome of `input` folded (when the program folds) and interpreted.
    fn both(program: &Program, input: &str, options: &ExecOptions) -> [String; 2] {
        let plain = Program {
            folded: None,
            ..program.clone()
        };
        [program, &plain].map(|program| {
            let result =
                exec::run_json(program, input.as_bytes(), options, &NoTasks).expect("valid JSON");
            format!(
                "{:?} {:?} {:?} {:?}",
                result.status,
                result.output.map(|output| output.to_string()),
                result.error,
                result.cause
            )
        })
    }

    fn same(program: &Program, input: &str, options: &ExecOptions) -> String {
        let [folded, interpreted] = both(program, input, options);
        assert_eq!(folded, interpreted, "input {input}");
        folded
    }

    #[test]
    fn the_pass_chain_folds_and_agrees_on_every_workload_input() {
        let w1 = program(include_str!(
            "../../tests/data/workloads/w1-pass-chain.json"
        ));
        let folded = w1.folded.as_ref().expect("W1 folds");
        assert_eq!(folded.transitions, 5);
        // Only the three fields the output shows are read, besides the checks.
        assert_eq!(
            folded.output.to_string(),
            r#"{"out": {"id": $.id, "name": $.detail.user.name, "amt": $.detail.amount}, "stage": "three", "const": "done"}"#
        );
        let inputs = include_str!("../../tests/data/workloads/inputs.jsonl");
        let options = ExecOptions::default();
        for line in inputs.lines().take(200) {
            let outcome = same(&w1, line, &options);
            assert!(outcome.starts_with("Succeeded"), "{outcome}");
        }
        // Inputs the folded program leaves to the interpreter: its errors are the same.
        for input in [
            r#"{"id":1}"#,
            r#"{"id":1,"detail":{"user":"x","amount":1}}"#,
            r#"[1,2]"#,
            r#""text""#,
            r#"{"id":1,"detail":{"user":{"name":"n","tier":"t"},"amount":1},"p1":7}"#,
            r#"{"id":1,"detail":{"user":{"name":"n","tier":"t"},"amount":[1,{"a":null}]}}"#,
        ] {
            same(&w1, input, &options);
        }
    }

    #[test]
    fn selections_whose_values_are_dropped_are_still_made() {
        let chain = program(
            r#"{"StartAt":"A","States":{
            "A":{"Type":"Pass","Parameters":{"gone.$":"$.gone"},"ResultPath":"$.a","Next":"B"},
            "B":{"Type":"Pass","Parameters":{"keep.$":"$.keep"},"End":true}}}"#,
        );
        assert!(chain.folded.is_some());
        let options = ExecOptions::default();
        assert_eq!(
            same(&chain, r#"{"keep":1,"gone":2}"#, &options),
            r#"Succeeded Some("{\"keep\":1}") None None"#
        );
        let failed = same(&chain, r#"{"keep":1}"#, &options);
        assert!(failed.contains("States.Runtime"), "{failed}");
    }

    #[test]
    fn results_merge_and_paths_resolve_through_them() {
        let chain = program(
            r#"{"StartAt":"A","States":{
            "A":{"Type":"Pass","Result":{"x":[10,{"y":"z"}]},"ResultPath":"$.r","Next":"B"},
            "B":{"Type":"Pass","InputPath":"$.r.x[1]","Parameters":{"y.$":"$.y","all":[1,"two"]},"ResultPath":"$.r","Next":"C"},
            "C":{"Type":"Pass","ResultPath":null,"OutputPath":"$.r","Next":"D"},
            "D":{"Type":"Succeed","InputPath":"$"}}}"#,
        );
        let folded = chain.folded.as_ref().expect("the chain folds");
        assert_eq!(folded.transitions, 4);
        let options = ExecOptions::default();
        assert_eq!(
            same(&chain, r#"{"r":0,"s":1}"#, &options),
            r#"Succeeded Some("{\"y\":\"z\",\"all\":[1,\"two\"]}") None None"#
        );
        // ResultPath merges into an object only.
        let failed = same(&chain, "[]", &options);
        assert!(failed.contains("States.ResultPathMatchFailure"), "{failed}");
    }

    #[test]
    fn the_payload_limit_is_the_interpreters() {
        let chain = program(
            r#"{"StartAt":"A","States":{
            "A":{"Type":"Pass","Parameters":{"a.$":"$","b.$":"$"},"ResultPath":"$.copy","Next":"B"},
            "B":{"Type":"Pass","Parameters":{"n.$":"$.n"},"End":true}}}"#,
        );
        assert!(chain.folded.is_some());
        let options = ExecOptions {
            max_payload_bytes: 300,
            ..ExecOptions::default()
        };
        let small = format!(r#"{{"n":1,"pad":"{}"}}"#, "x".repeat(10));
        assert!(same(&chain, &small, &options).starts_with("Succeeded"));
        // State A's output is three times the input: over the limit, though the last
        // state's is small.
        let large = format!(r#"{{"n":1,"pad":"{}"}}"#, "x".repeat(100));
        let failed = same(&chain, &large, &options);
        assert!(failed.contains("States.DataLimitExceeded"), "{failed}");
    }

    #[test]
    fn other_machines_do_not_fold() {
        for definition in [
            // A Choice, an intrinsic function, the context object, a variable.
            r#"{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.a","IsPresent":true,"Next":"P"}],"Default":"P"},"P":{"Type":"Pass","End":true}}}"#,
            r#"{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"s.$":"States.Format('{}', $.a)"},"End":true}}}"#,
            r#"{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"s.$":"$$.Execution.Id"},"End":true}}}"#,
            r#"{"StartAt":"P","States":{"P":{"Type":"Pass","Assign":{"v":1},"Next":"Q"},"Q":{"Type":"Pass","Parameters":{"v.$":"$v"},"End":true}}}"#,
            // A wildcard, a nested ResultPath, JSONata, a Fail state.
            r#"{"StartAt":"P","States":{"P":{"Type":"Pass","InputPath":"$.a[*]","End":true}}}"#,
            r#"{"StartAt":"P","States":{"P":{"Type":"Pass","ResultPath":"$.a.b","End":true}}}"#,
            r#"{"QueryLanguage":"JSONata","StartAt":"P","States":{"P":{"Type":"Pass","Output":{"a":"{% $states.input.a %}"},"End":true}}}"#,
            r#"{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"E"}}}"#,
        ] {
            assert!(program(definition).folded.is_none(), "{definition}");
        }
    }
}
