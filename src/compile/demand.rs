//! Input projection: which top-level fields of the execution input a machine can observe.
//!
//! A backward analysis over the top-level states: a state's demand on its input follows from
//! its successors' demand on its output and from the fields its paths read. When the start
//! state demands only some fields, the input parser skips the others (it still checks that
//! they are valid JSON) and builds nothing for them.
//!
//! The analysis is conservative: whatever it cannot follow demands the whole input. It only
//! applies to machines whose executions are pure data transformations (Pass, Choice, Succeed
//! and Fail states, and Parallel and Map states made of them; no context object): such an execution can be run again on the fully
//! parsed input whenever skipping could have shown, which the VM reports as a *taint* (an
//! engine error whose cause may quote the input, or a payload near the size limit).
//!
//! JSONata states take part through `jsonata::Expression::fields_read`, which follows paths
//! from `$states.input` and `$merge`.
//!
//! Any new way for a state to read its input (a new field, variables) must be added here, or
//! must make the analysis answer "the whole input".

use std::collections::{BTreeSet, HashMap};

use crate::asl::{
    Catcher, Choice, Condition, InputOutputPath, Jsonata, Kind, Operand, Payload, QueryLanguage,
    ResultPath, Seconds, State, StateMachine, Text, Tolerance,
};
use crate::path::{Path, Root};

/// What part of a value may be observed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Demand {
    All,
    Fields(BTreeSet<Box<str>>),
}

impl Demand {
    fn none() -> Demand {
        Demand::Fields(BTreeSet::new())
    }

    fn field(name: &str) -> Demand {
        Demand::Fields(BTreeSet::from([name.into()]))
    }

    fn union(self, other: Demand) -> Demand {
        match (self, other) {
            (Demand::All, _) | (_, Demand::All) => Demand::All,
            (Demand::Fields(mut one), Demand::Fields(other)) => {
                one.extend(other);
                Demand::Fields(one)
            }
        }
    }

    fn contains(&self, name: &str) -> bool {
        match self {
            Demand::All => true,
            Demand::Fields(fields) => fields.contains(name),
        }
    }
}

/// The top-level input fields the machine can observe, sorted; `None` when it may observe
/// the whole input or when the machine is not one the projection applies to.
pub fn input_fields(machine: &StateMachine) -> Option<Vec<Box<str>>> {
    if !eligible(machine) {
        return None;
    }
    match body_demand(machine) {
        Demand::All => None,
        Demand::Fields(fields) => Some(fields.iter().cloned().collect()),
    }
}

/// Whether every state of a body, and of the bodies inside it, is a pure transformation the
/// analysis follows: Pass, Choice, Succeed, Fail, and Parallel and Map states of such states.
/// Variables carry values past the states that read them, so none may be assigned.
fn eligible(machine: &StateMachine) -> bool {
    machine.states.iter().all(|state| {
        state.assign.is_none()
            && match &state.kind {
                Kind::Pass(_) | Kind::Succeed | Kind::Fail(_) => true,
                Kind::Choice(choice) => choice.choices.iter().all(|rule| rule.assign.is_none()),
                Kind::Parallel(parallel) => {
                    parallel
                        .catch
                        .iter()
                        .all(|catcher| catcher.assign.is_none())
                        && parallel.branches.iter().all(eligible)
                }
                Kind::Map(map) => {
                    map.catch.iter().all(|catcher| catcher.assign.is_none())
                        && eligible(&map.processor)
                }
                _ => false,
            }
    })
}

/// A body's demand on its input: its start state's, where the output of every state that
/// ends the body is seen whole.
fn body_demand(machine: &StateMachine) -> Demand {
    let index: HashMap<&str, usize> = machine
        .states
        .iter()
        .enumerate()
        .map(|(position, state)| (state.name.as_str(), position))
        .collect();
    // Least fixpoint, from "nothing demanded" upwards; the lattice is finite.
    let mut demands = vec![Demand::none(); machine.states.len()];
    loop {
        let mut changed = false;
        for (position, state) in machine.states.iter().enumerate() {
            let after = |name: &str| {
                index
                    .get(name)
                    .map_or(Demand::All, |&next| demands[next].clone())
            };
            let grown = state_demand(state, &after).union(demands[position].clone());
            if grown != demands[position] {
                demands[position] = grown;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    match index.get(machine.start_at.as_str()) {
        Some(&start) => demands[start].clone(),
        None => Demand::All,
    }
}

/// A state's demand on its input, given its successors' demands (`after`).
fn state_demand(state: &State, after: &dyn Fn(&str) -> Demand) -> Demand {
    let output = match &state.next {
        Some(next) => after(next),
        // The end of the execution: its output is seen whole.
        None => Demand::All,
    };
    if state.query_language == QueryLanguage::Jsonata {
        return jsonata_state_demand(state, output, after);
    }
    match &state.kind {
        Kind::Pass(pass) => {
            let before_output = through_output_path(state.output_path.as_ref(), output);
            let (raw, result) = through_result_path(pass.result_path.as_ref(), before_output);
            let effective = match (&pass.parameters, &pass.result) {
                (Some(parameters), _) => payload_reads(parameters),
                (None, Some(_)) => Demand::none(),
                // Without Parameters or Result, the result is the effective input.
                (None, None) => result,
            };
            raw.union(through_input_path(state.input_path.as_ref(), effective))
        }
        Kind::Choice(choice) => {
            if state.input_path.is_some() || state.output_path.is_some() {
                return Demand::All;
            }
            choice_demand(choice, after)
        }
        Kind::Succeed => through_input_path(
            state.input_path.as_ref(),
            through_output_path(state.output_path.as_ref(), Demand::All),
        ),
        Kind::Fail(fail) => text_reads(fail.error.as_ref()).union(text_reads(fail.cause.as_ref())),
        Kind::Parallel(parallel) => {
            // Every branch runs on the effective input whether or not its result is kept.
            let branches = parallel
                .branches
                .iter()
                .fold(Demand::none(), |demand, branch| {
                    demand.union(body_demand(branch))
                });
            let effective = match &parallel.parameters {
                Some(parameters) => payload_reads(parameters),
                None => branches,
            };
            let (raw, _) = through_result_path(
                parallel.result_path.as_ref(),
                through_output_path(state.output_path.as_ref(), output),
            );
            raw.union(through_input_path(state.input_path.as_ref(), effective))
                .union(catchers_demand(&parallel.catch, after))
        }
        Kind::Map(map) => {
            if map.items.is_some() {
                return Demand::All;
            }
            // The items are taken whole; a selector reads the effective input besides them.
            let items = match &map.items_path {
                Some(path) => path_reads(path),
                None => Demand::All,
            };
            let selector = map
                .item_selector
                .as_ref()
                .map_or_else(Demand::none, payload_reads);
            let settings = seconds_reads(map.max_concurrency.as_ref())
                .union(tolerance_reads(map.tolerated_failure_count.as_ref()))
                .union(tolerance_reads(map.tolerated_failure_percentage.as_ref()));
            let (raw, _) = through_result_path(
                map.result_path.as_ref(),
                through_output_path(state.output_path.as_ref(), output),
            );
            raw.union(through_input_path(
                state.input_path.as_ref(),
                items.union(selector).union(settings),
            ))
            .union(catchers_demand(&map.catch, after))
        }
        _ => Demand::All,
    }
}

/// What the catchers of a state demand of its raw input, into which each merges the error
/// output before going on to its next state.
fn catchers_demand(catchers: &[Catcher], after: &dyn Fn(&str) -> Demand) -> Demand {
    catchers.iter().fold(Demand::none(), |demand, catcher| {
        let (raw, _) = through_result_path(catcher.result_path.as_ref(), after(&catcher.next));
        demand.union(raw)
    })
}

fn seconds_reads(seconds: Option<&Seconds>) -> Demand {
    match seconds {
        None | Some(Seconds::Literal(_)) => Demand::none(),
        Some(Seconds::Path(path)) => path_reads(path),
        Some(Seconds::Jsonata(expression)) => jsonata_reads(expression, Demand::All),
    }
}

fn tolerance_reads(tolerance: Option<&Tolerance>) -> Demand {
    match tolerance {
        None | Some(Tolerance::Literal(_)) => Demand::none(),
        Some(Tolerance::Path(path)) => path_reads(path),
        Some(Tolerance::Jsonata(expression)) => jsonata_reads(expression, Demand::All),
    }
}

/// A Choice state's demand on its input (which it passes on as it is): what its rules read
/// and what the states it may go to demand.
fn choice_demand(choice: &Choice, after: &dyn Fn(&str) -> Demand) -> Demand {
    let mut demand = choice.default.as_deref().map_or_else(Demand::none, after);
    for rule in &choice.choices {
        demand = demand
            .union(after(&rule.next))
            .union(condition_reads(&rule.condition));
    }
    demand
}

/// A JSONata state's demand on its input (`$states.input`), given the demand on its output.
fn jsonata_state_demand(state: &State, output: Demand, after: &dyn Fn(&str) -> Demand) -> Demand {
    match &state.kind {
        // Without Output, a Pass state's output is its input.
        Kind::Pass(_) => match &state.output {
            Some(payload) => payload_demand(payload, output),
            None => output,
        },
        Kind::Choice(choice) => {
            let outputs =
                state.output.is_some() || choice.choices.iter().any(|rule| rule.output.is_some());
            if outputs {
                return Demand::All;
            }
            choice_demand(choice, after)
        }
        Kind::Succeed => match &state.output {
            Some(payload) => payload_reads(payload),
            None => Demand::All,
        },
        Kind::Fail(fail) => text_reads(fail.error.as_ref()).union(text_reads(fail.cause.as_ref())),
        _ => Demand::All,
    }
}

/// What a payload reads of the input when only `output` of its value is observed.
fn payload_demand(payload: &Payload, output: Demand) -> Demand {
    match payload {
        Payload::Jsonata(expression) => jsonata_reads(expression, output),
        _ => payload_reads(payload),
    }
}

/// What an expression reads of `$states.input` when only `output` of its value is observed.
fn jsonata_reads(expression: &Jsonata, output: Demand) -> Demand {
    let kept = match &output {
        Demand::All => None,
        Demand::Fields(fields) => Some(fields),
    };
    match expression.expression.fields_read("states", "input", kept) {
        Some(fields) => Demand::Fields(fields),
        None => Demand::All,
    }
}

/// The demand on what a path reads: its first fields, or everything.
fn path_reads(path: &Path) -> Demand {
    match path.root() {
        Root::Input if path.is_whole() => Demand::All,
        Root::Input => match path.first_fields() {
            Some(names) => names.into_iter().fold(Demand::none(), |demand, name| {
                demand.union(Demand::field(name))
            }),
            None => Demand::All,
        },
        // Programs that read the context object are not projected at all.
        Root::Context => Demand::none(),
        Root::Variable(_) => Demand::All,
    }
}

fn payload_reads(payload: &Payload) -> Demand {
    match payload {
        Payload::Value(_) => Demand::none(),
        Payload::Object(entries) => entries.iter().fold(Demand::none(), |demand, (_, part)| {
            demand.union(payload_reads(part))
        }),
        Payload::Array(parts) => parts.iter().fold(Demand::none(), |demand, part| {
            demand.union(payload_reads(part))
        }),
        Payload::Path(path) => path_reads(path),
        Payload::Jsonata(expression) => jsonata_reads(expression, Demand::All),
        Payload::Call(call) => call
            .paths()
            .into_iter()
            .fold(Demand::none(), |demand, path| {
                demand.union(path_reads(path))
            }),
    }
}

fn condition_reads(condition: &Condition) -> Demand {
    match condition {
        Condition::And(rules) | Condition::Or(rules) => {
            rules.iter().fold(Demand::none(), |demand, rule| {
                demand.union(condition_reads(rule))
            })
        }
        Condition::Not(rule) => condition_reads(rule),
        Condition::Compare {
            variable, operand, ..
        } => {
            let demand = path_reads(variable);
            match operand {
                Operand::Path(path) => demand.union(path_reads(path)),
                Operand::Value(_) | Operand::Timestamp(..) => demand,
            }
        }
        Condition::Jsonata(expression) => payload_reads(expression),
    }
}

fn text_reads(text: Option<&Text>) -> Demand {
    match text {
        None | Some(Text::Literal(_)) => Demand::none(),
        Some(Text::Jsonata(expression)) => jsonata_reads(expression, Demand::All),
        Some(Text::Path(path)) => path_reads(path),
        Some(Text::Call(call)) => call
            .paths()
            .into_iter()
            .fold(Demand::none(), |demand, path| {
                demand.union(path_reads(path))
            }),
    }
}

/// The demand before an InputPath, given the demand on the effective input. A path that
/// selects must find what it names, so its first fields are demanded even when nothing
/// of the effective input is.
fn through_input_path(path: Option<&InputOutputPath>, effective: Demand) -> Demand {
    match path {
        None => effective,
        Some(InputOutputPath::Null) => Demand::none(),
        Some(InputOutputPath::Path(path)) if path.is_whole() => effective,
        Some(InputOutputPath::Path(path)) => path_reads(path),
    }
}

/// The demand before an OutputPath (the same rules as InputPath).
fn through_output_path(path: Option<&InputOutputPath>, output: Demand) -> Demand {
    through_input_path(path, output)
}

/// Splits the demand on a ResultPath's product into the demand on the raw state input and
/// the demand on the result.
fn through_result_path(path: Option<&ResultPath>, merged: Demand) -> (Demand, Demand) {
    match path {
        None => (Demand::none(), merged),
        Some(ResultPath::Discard) => (merged, Demand::none()),
        Some(ResultPath::Path(path)) if path.is_whole() => (Demand::none(), merged),
        Some(ResultPath::Path(path)) => match (path.root(), path.first_fields()) {
            (Root::Input, Some(names)) if names.len() == 1 => {
                let name = names[0];
                let result = if merged.contains(name) {
                    Demand::All
                } else {
                    Demand::none()
                };
                // The raw input keeps its other fields; the named one is read too, as the
                // merge walks into it (and must find an object there).
                (merged.union(Demand::field(name)), result)
            }
            _ => (Demand::All, Demand::All),
        },
    }
}

#[cfg(test)]
mod tests {
    /// The compiled program's input fields (the compiler also rules out the context object).
    fn fields(definition: &str) -> Option<Vec<String>> {
        let machine = crate::asl::parse(definition).expect("a valid definition");
        crate::compile::compile(&machine)
            .input_fields
            .map(|fields| fields.iter().map(|field| field.to_string()).collect())
    }

    #[test]
    fn the_pass_chain_reads_a_few_fields() {
        let w1 = include_str!("../../tests/data/workloads/w1-pass-chain.json");
        assert_eq!(
            fields(w1),
            Some(
                ["detail", "id", "meta", "p1", "p2", "p4"]
                    .map(String::from)
                    .to_vec()
            )
        );
    }

    #[test]
    fn jsonata_states_read_what_their_expressions_name() {
        let w1 = include_str!("../../benches/data/w1-pass-chain-jsonata.json");
        assert_eq!(
            fields(w1),
            Some(
                ["detail", "id", "meta", "p1", "p2", "p4"]
                    .map(String::from)
                    .to_vec()
            )
        );
        let choice = r#"{"QueryLanguage":"JSONata","StartAt":"C","States":{
            "C":{"Type":"Choice","Choices":[{"Condition":"{% $states.input.n > 1 %}","Next":"Out"}],"Default":"Bad"},
            "Out":{"Type":"Pass","Output":{"v":"{% $states.input.body.v %}"},"End":true},
            "Bad":{"Type":"Fail","Error":"E","Cause":"{% $states.input.why %}"}}}"#;
        assert_eq!(
            fields(choice),
            Some(["body", "n", "why"].map(String::from).to_vec())
        );
        // The input passed on whole, a function given all of it, or the context object.
        for output in [
            r#""{% $merge([$states.input, {'a': 1}]) %}""#,
            r#""{% $keys($states.input) %}""#,
            r#""{% $states.context.Execution.Input.a %}""#,
        ] {
            let definition = format!(
                r#"{{"QueryLanguage":"JSONata","StartAt":"A","States":{{"A":{{"Type":"Pass","Output":{output},"End":true}}}}}}"#
            );
            assert_eq!(fields(&definition), None, "{output}");
        }
    }

    #[test]
    fn whole_input_observers_demand_everything() {
        // The end state's output is the input with a field added.
        assert_eq!(
            fields(
                r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Result":1,"ResultPath":"$.r","End":true}}}"#
            ),
            None
        );
        // `$` read whole by Parameters.
        assert_eq!(
            fields(
                r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"all.$":"$"},"OutputPath":"$.all","End":true}}}"#
            ),
            None
        );
        // A filter may read the whole document.
        assert_eq!(
            fields(
                r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"x.$":"$.a[?(@.n > 1)]"},"End":true}}}"#
            ),
            None
        );
        // The context object, Tasks and Waits are not projected.
        assert_eq!(
            fields(
                r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"x.$":"$$.Execution.Input"},"End":true}}}"#
            ),
            None
        );
        assert_eq!(
            fields(
                r#"{"StartAt":"A","States":{"A":{"Type":"Wait","Seconds":1,"OutputPath":"$.a","End":true}}}"#
            ),
            None
        );
    }

    #[test]
    fn parallels_maps_and_catchers_read_what_their_bodies_read() {
        let w4 = include_str!("../../tests/data/workloads/w4-parallel-3.json");
        assert_eq!(
            fields(w4),
            Some(["detail", "id", "par"].map(String::from).to_vec())
        );
        // The catcher merges the error into the raw input, which the recovery state reads.
        let w5 = include_str!("../../tests/data/workloads/w5-retry-catch.json");
        assert_eq!(fields(w5), Some(["error", "id"].map(String::from).to_vec()));
        let w3 = include_str!("../../tests/data/workloads/w3-map-10.json");
        assert_eq!(
            fields(w3),
            Some(["items", "labels"].map(String::from).to_vec())
        );
        // A selector reads the Map's input; a path setting is read too.
        let selector = r#"{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.xs",
            "MaxConcurrencyPath":"$.limit","ItemSelector":{"k.$":"$.key"},
            "ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},
            "ResultPath":null,"OutputPath":"$.out","End":true}}}"#;
        assert_eq!(
            fields(selector),
            Some(["key", "limit", "out", "xs"].map(String::from).to_vec())
        );
        // A branch passing its input on whole, a parallel whose result merges into the input,
        // or a catcher handing the whole input to a state that ends.
        for definition in [
            r#"{"StartAt":"P","States":{"P":{"Type":"Parallel","Branches":[{"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}],"End":true}}}"#,
            r#"{"StartAt":"P","States":{"P":{"Type":"Parallel","Branches":[{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"a.$":"$.a"},"End":true}}}],"ResultPath":"$.r","End":true}}}"#,
            r#"{"StartAt":"P","States":{"P":{"Type":"Parallel","Branches":[{"StartAt":"A","States":{"A":{"Type":"Fail","Error":"E"}}}],"ResultPath":null,"OutputPath":"$.a","Catch":[{"ErrorEquals":["States.ALL"],"ResultPath":"$.err","Next":"Z"}],"End":true},"Z":{"Type":"Pass","End":true}}}"#,
        ] {
            assert_eq!(fields(definition), None, "{definition}");
        }
        // Tasks inside a branch, and variables assigned by a catcher, are not analysed.
        for definition in [
            r#"{"StartAt":"P","States":{"P":{"Type":"Parallel","Branches":[{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"a.$":"$.a"},"End":true}}}],"OutputPath":"$[0]","End":true}}}"#,
            r#"{"StartAt":"P","States":{"P":{"Type":"Parallel","Branches":[{"StartAt":"A","States":{"A":{"Type":"Fail","Error":"E"}}}],"Catch":[{"ErrorEquals":["States.ALL"],"Assign":{"x":1},"ResultPath":null,"Next":"Z"}],"End":true},"Z":{"Type":"Succeed","OutputPath":"$.a"}}}"#,
        ] {
            assert_eq!(fields(definition), None, "{definition}");
        }
    }

    #[test]
    fn choices_fails_and_paths_add_their_reads() {
        let definition = r#"{"StartAt":"C","States":{
            "C":{"Type":"Choice","Choices":[{"Variable":"$.kind","StringEquals":"x","Next":"Out"},
                 {"Not":{"Variable":"$.n","NumericGreaterThanPath":"$.limit"},"Next":"Bad"}],"Default":"Out"},
            "Out":{"Type":"Pass","InputPath":"$.body","Parameters":{"v.$":"$.v","f.$":"States.Format('{}', $.w)"},"End":true},
            "Bad":{"Type":"Fail","ErrorPath":"$.code","Cause":"bad"}}}"#;
        assert_eq!(
            fields(definition),
            Some(
                ["body", "code", "kind", "limit", "n"]
                    .map(String::from)
                    .to_vec()
            )
        );
        // A loop reaches its fixpoint.
        let looping = r#"{"StartAt":"A","States":{
            "A":{"Type":"Pass","Parameters":{"n.$":"$.n","x.$":"$.x"},"Next":"C"},
            "C":{"Type":"Choice","Choices":[{"Variable":"$.n","NumericLessThan":3,"Next":"A"}],"Default":"D"},
            "D":{"Type":"Succeed","OutputPath":"$.x"}}}"#;
        assert_eq!(fields(looping), Some(["n", "x"].map(String::from).to_vec()));
    }
}
