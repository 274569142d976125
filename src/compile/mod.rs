//! Lowers a validated `asl::StateMachine` to a `Program`: a flat table of states, one op
//! sequence per state, and side tables of parsed paths, payload templates and rules.
//!
//! State names become `StateId`s and every string was parsed by `asl`; the VM does no string
//! parsing. Compilation cannot fail on a validated machine.

mod demand;
mod dump;
pub mod fold;

pub use fold::Folded;

use crate::json::Value;

use crate::asl::{
    self, Catcher, Condition, Kind, Payload, ResultPath, Retrier, Seconds, StateMachine, Text,
    Tolerance,
};
use crate::path::Path;

/// Index of a state in `Program::states`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StateId(pub u32);

/// Index into one of the program's side tables.
pub type Index = u32;

/// Where a payload template reads its `$` from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The state's raw input (no InputPath).
    Input,
    /// The working value (the effective input after InputPath, or a task's result).
    Work,
}

/// One instruction. The VM's loop is a `match` with a short arm per op.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    /// Enter a state: its input is the working value; records `…StateEntered`.
    Enter(StateId),
    /// Working value = the raw input, moved (the raw input is not needed again).
    TakeInput,
    /// Working value = a copy of the raw input (ResultPath or a catcher needs the original).
    CopyInput,
    /// Working value = the value InputPath selects from the raw input.
    InputPath(Index),
    /// Working value = `{}` (`InputPath: null`).
    InputNull,
    /// Working value = Parameters built from `Source`.
    Parameters(Index, Source),
    /// Working value = Parameters built from what InputPath selects in the raw input.
    SelectParameters { path: Index, payload: Index },
    /// Working value = a constant (Pass `Result`).
    Const(Index),
    /// Calls the state's resource with the working value as parameters; suspends.
    Invoke(Index),
    /// Runs a Parallel state's branches on the working value; suspends until they end.
    Parallel(Index),
    /// Runs a Map state's iterations over the items in the working value; suspends.
    Map(Index),
    /// Waits as a Wait state says, measured from the working value.
    Wait(Index),
    /// Working value = ResultSelector built from the result.
    ResultSelector(Index),
    /// Working value = the raw input with the result put at a reference path.
    ResultPut(Index),
    /// Working value = the raw input (`ResultPath: null`).
    ResultDiscard,
    /// Working value = the value OutputPath selects from it.
    OutputPath(Index),
    /// Working value = `{}` (`OutputPath: null`).
    OutputNull,
    /// Evaluates a Choice state's rules against the working value; remembers the target.
    Choice(Index),
    /// Leaves the state (records `…StateExited`) and enters the given state.
    Next(StateId),
    /// Leaves a Choice state for the target its rules chose.
    NextChosen,
    /// Leaves the state and ends its body with the working value as output.
    End,
    /// Fails the body with the Fail state's error and cause.
    Fail(Index),
    /// Evaluates `Assign` (a payload) from the working value; the variables are set when
    /// the state leaves.
    Assign(Index),
    /// Working value = a JSONata state's `Output` (a payload), from its input and result.
    Output(Index),
}

const _: () = assert!(std::mem::size_of::<Op>() <= 12);

/// Compiled retry policy of one retrier.
#[derive(Debug, Clone)]
pub struct RetryCode {
    pub error_equals: Vec<String>,
    pub interval_ms: u64,
    pub max_attempts: u32,
    pub backoff_rate: f64,
    pub max_delay_ms: Option<u64>,
    pub full_jitter: bool,
}

#[derive(Debug, Clone)]
pub struct CatchCode {
    pub error_equals: Vec<String>,
    pub next: StateId,
    pub result_path: Option<ResultPath>,
    /// `Assign` and (JSONata) `Output` payloads.
    pub assign: Option<Index>,
    pub output: Option<Index>,
}

/// What the VM needs to know about a state outside its op sequence.
#[derive(Debug, Clone)]
pub struct StateCode {
    pub name: Box<str>,
    /// AWS type name (`Pass`, `Task`, …), the prefix of its history event types.
    pub type_name: &'static str,
    /// Index of the state's first op.
    pub entry: u32,
    pub retry: Vec<RetryCode>,
    pub catch: Vec<CatchCode>,
    /// JSON pointer of the state in the definition.
    pub pointer: Box<str>,
    /// The state uses JSONata (its errors are `States.QueryEvaluationError`).
    pub jsonata: bool,
}

#[derive(Debug, Clone)]
pub struct TaskCode {
    pub resource: Box<str>,
    pub timeout: Option<Seconds>,
    pub heartbeat: Option<Seconds>,
}

/// A state body: the top level, a Parallel branch or a Map item processor.
#[derive(Debug, Clone, Copy)]
pub struct Body {
    pub start: StateId,
}

#[derive(Debug, Clone)]
pub struct ParallelCode {
    pub branches: Vec<Body>,
}

#[derive(Debug, Clone)]
pub struct MapCode {
    pub processor: Body,
    /// DISTRIBUTED mode: each iteration is a child execution, whose events are not part of
    /// this execution's history.
    pub distributed: bool,
    pub items_path: Option<Index>,
    /// JSONata `Items` (a payload).
    pub items: Option<Index>,
    pub item_selector: Option<Index>,
    pub max_concurrency: Option<Seconds>,
    pub tolerated_failure_count: Option<Tolerance>,
    pub tolerated_failure_percentage: Option<Tolerance>,
}

#[derive(Debug, Clone)]
pub struct ChoiceCode {
    pub rules: Vec<(Condition, StateId)>,
    pub default: Option<StateId>,
    /// Per rule, then for the default: the `Assign` and `Output` payloads that apply when
    /// it is taken.
    pub extras: Vec<(Option<Index>, Option<Index>)>,
}

#[derive(Debug, Clone)]
pub struct FailCode {
    pub error: Option<Text>,
    pub cause: Option<Text>,
}

/// A compiled state machine, ready to run any number of times.
#[derive(Debug, Clone)]
pub struct Program {
    pub ops: Vec<Op>,
    pub states: Vec<StateCode>,
    pub paths: Vec<Path>,
    pub payloads: Vec<Payload>,
    pub consts: Vec<Value>,
    pub tasks: Vec<TaskCode>,
    pub parallels: Vec<ParallelCode>,
    pub maps: Vec<MapCode>,
    pub waits: Vec<asl::Wait>,
    pub choices: Vec<ChoiceCode>,
    pub fails: Vec<FailCode>,
    pub top: Body,
    pub timeout_seconds: Option<u64>,
    /// Whether any path reads the context object (`$$`): if not, it is never built.
    pub uses_context: bool,
    /// The top-level input fields the machine can observe, when it is a pure transformation
    /// that observes only some (`demand.rs`); the input parser skips the others.
    pub input_fields: Option<Box<[crate::json::Str]>>,
    /// Per payload: how big its result can be, for the payload limit.
    pub payload_bounds: Vec<PayloadBound>,
    /// Per constant: its serialised size.
    pub const_sizes: Vec<usize>,
    /// The machine as one template over its input, when it folds to one (`fold.rs`);
    /// executions without history build it instead of running the states.
    pub folded: Option<Folded>,
}

/// An upper bound of a built payload's serialised size: `fixed` bytes plus, per selection,
/// at most the size of the value it selects from. `exact` payloads (intrinsic calls, context
/// or variable paths) have no cheap bound and are measured after they are built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadBound {
    pub fixed: usize,
    pub selections: usize,
    pub exact: bool,
}

impl PayloadBound {
    /// The bound when selections read a value of at most `source` bytes.
    pub fn with_source(self, source: usize) -> usize {
        self.fixed
            .saturating_add(self.selections.saturating_mul(source))
    }
}

fn payload_bound(payload: &Payload) -> PayloadBound {
    use crate::json::{size as payload_size, string_size};
    use crate::path::Root;
    let mut bound = PayloadBound {
        fixed: 0,
        selections: 0,
        exact: false,
    };
    let add = |part: PayloadBound, bound: &mut PayloadBound| {
        bound.fixed += part.fixed;
        bound.selections += part.selections;
        bound.exact |= part.exact;
    };
    match payload {
        Payload::Value(value) => bound.fixed = payload_size(value),
        Payload::Path(path) => {
            bound.selections = 1;
            bound.exact = !matches!(path.root(), Root::Input);
        }
        Payload::Call(_) | Payload::Jsonata(_) => bound.exact = true,
        Payload::Array(parts) => {
            bound.fixed = 2 + parts.len().saturating_sub(1);
            for part in parts {
                add(payload_bound(part), &mut bound);
            }
        }
        Payload::Object(entries) => {
            bound.fixed = 2 + entries.len().saturating_sub(1);
            for (key, part) in entries {
                bound.fixed += string_size(key) + 1;
                add(payload_bound(part), &mut bound);
            }
        }
    }
    bound
}

impl Program {
    pub fn state(&self, id: StateId) -> &StateCode {
        &self.states[id.0 as usize]
    }

    /// The readable listing of the program.
    pub fn dump(&self) -> String {
        dump::dump(self)
    }
}

/// Compiles a validated machine.
pub fn compile(machine: &StateMachine) -> Program {
    let mut compiler = Compiler {
        program: Program {
            ops: Vec::new(),
            states: Vec::new(),
            paths: Vec::new(),
            payloads: Vec::new(),
            consts: Vec::new(),
            tasks: Vec::new(),
            parallels: Vec::new(),
            maps: Vec::new(),
            waits: Vec::new(),
            choices: Vec::new(),
            fails: Vec::new(),
            top: Body { start: StateId(0) },
            timeout_seconds: machine.timeout_seconds,
            uses_context: false,
            input_fields: None,
            payload_bounds: Vec::new(),
            const_sizes: Vec::new(),
            folded: None,
        },
    };
    compiler.program.top = compiler.body(machine);
    let program = compiler.program;
    let uses_context = program_uses_context(&program);
    let input_fields = if uses_context {
        None
    } else {
        demand::input_fields(machine).map(|fields| {
            fields
                .iter()
                .map(|field| crate::json::Str::from(&**field))
                .collect()
        })
    };
    let payload_bounds = program.payloads.iter().map(payload_bound).collect();
    let const_sizes = program.consts.iter().map(crate::json::size).collect();
    let folded = fold::fold(machine, input_fields.as_deref());
    Program {
        folded,
        uses_context,
        input_fields,
        payload_bounds,
        const_sizes,
        ..program
    }
}

struct Compiler {
    program: Program,
}

fn push<T>(table: &mut Vec<T>, item: T) -> Index {
    table.push(item);
    (table.len() - 1) as Index
}

impl Compiler {
    /// Compiles a body: reserves ids for its states, then emits each state's ops.
    fn body(&mut self, body: &StateMachine) -> Body {
        let first = self.program.states.len() as u32;
        for state in &body.states {
            self.program.states.push(StateCode {
                name: state.name.as_str().into(),
                type_name: state.type_name(),
                entry: 0,
                retry: Vec::new(),
                catch: Vec::new(),
                pointer: state.pointer.as_str().into(),
                jsonata: state.query_language == asl::QueryLanguage::Jsonata,
            });
        }
        let id_of = |name: &str| -> StateId {
            let offset = body
                .states
                .iter()
                .position(|state| state.name == name)
                .unwrap_or(0);
            StateId(first + offset as u32)
        };
        for (offset, state) in body.states.iter().enumerate() {
            let id = StateId(first + offset as u32);
            self.state(id, state, &id_of);
        }
        Body {
            start: id_of(&body.start_at),
        }
    }

    fn state(&mut self, id: StateId, state: &asl::State, id_of: &dyn Fn(&str) -> StateId) {
        // Nested bodies first, so this state's ops stay contiguous.
        let nested = match &state.kind {
            Kind::Parallel(parallel) => {
                let branches = parallel
                    .branches
                    .iter()
                    .map(|branch| self.body(branch))
                    .collect();
                Some(push(&mut self.program.parallels, ParallelCode { branches }))
            }
            Kind::Map(map) => {
                let processor = self.body(&map.processor);
                let items_path = map
                    .items_path
                    .clone()
                    .map(|path| push(&mut self.program.paths, path));
                let item_selector = map
                    .item_selector
                    .clone()
                    .map(|payload| push(&mut self.program.payloads, payload));
                let items = map
                    .items
                    .clone()
                    .map(|payload| push(&mut self.program.payloads, payload));
                Some(push(
                    &mut self.program.maps,
                    MapCode {
                        processor,
                        distributed: map.mode == asl::MapMode::Distributed,
                        items_path,
                        items,
                        item_selector,
                        max_concurrency: map.max_concurrency.clone(),
                        tolerated_failure_count: map.tolerated_failure_count.clone(),
                        tolerated_failure_percentage: map.tolerated_failure_percentage.clone(),
                    },
                ))
            }
            _ => None,
        };

        let (retry, catch): (&[Retrier], &[Catcher]) = match &state.kind {
            Kind::Task(task) => (&task.retry, &task.catch),
            Kind::Parallel(parallel) => (&parallel.retry, &parallel.catch),
            Kind::Map(map) => (&map.retry, &map.catch),
            _ => (&[], &[]),
        };
        let result_path = match &state.kind {
            Kind::Pass(pass) => pass.result_path.as_ref(),
            Kind::Task(task) => task.result_path.as_ref(),
            Kind::Parallel(parallel) => parallel.result_path.as_ref(),
            Kind::Map(map) => map.result_path.as_ref(),
            _ => None,
        };
        // The raw input must survive when ResultPath merges into it (retries and catchers keep
        // their own copy, taken when the state is entered).
        let keeps_input = matches!(result_path, Some(ResultPath::Path(path)) if !path.is_whole())
            || matches!(result_path, Some(ResultPath::Discard));

        let jsonata = state.query_language == asl::QueryLanguage::Jsonata;
        let entry = self.program.ops.len() as u32;
        self.program.ops.push(Op::Enter(id));
        let is_fail = matches!(state.kind, Kind::Fail(_));
        let parameters = match &state.kind {
            Kind::Pass(pass) => pass.parameters.as_ref(),
            Kind::Task(task) => task.parameters.as_ref(),
            Kind::Parallel(parallel) => parallel.parameters.as_ref(),
            _ => None,
        };
        if !is_fail {
            // A Pass state's Result replaces the effective input: without InputPath or
            // Parameters there is nothing to compute before it.
            let has_result = matches!(&state.kind, Kind::Pass(pass) if pass.result.is_some());
            let input_path = match &state.input_path {
                Some(asl::InputOutputPath::Path(path)) if path.is_whole() => None,
                other => other.as_ref(),
            };
            match (input_path, parameters) {
                (Some(asl::InputOutputPath::Null), payload) => {
                    self.program.ops.push(Op::InputNull);
                    if let Some(payload) = payload {
                        let index = push(&mut self.program.payloads, payload.clone());
                        self.program.ops.push(Op::Parameters(index, Source::Work));
                    }
                }
                (Some(asl::InputOutputPath::Path(path)), Some(payload)) => {
                    // Parameters read the selection in place: no copy of it.
                    let path = push(&mut self.program.paths, path.clone());
                    let payload = push(&mut self.program.payloads, payload.clone());
                    self.program
                        .ops
                        .push(Op::SelectParameters { path, payload });
                }
                (Some(asl::InputOutputPath::Path(path)), None) => {
                    let index = push(&mut self.program.paths, path.clone());
                    self.program.ops.push(Op::InputPath(index));
                }
                (None, Some(payload)) => {
                    // Parameters read the raw input in place: no copy of it.
                    let index = push(&mut self.program.payloads, payload.clone());
                    self.program.ops.push(Op::Parameters(index, Source::Input));
                }
                (None, None) if has_result => {}
                // JSONata reads `$states.input` until the state leaves.
                (None, None) => self.program.ops.push(if keeps_input || jsonata {
                    Op::CopyInput
                } else {
                    Op::TakeInput
                }),
            }
        }

        let mut ends_with_choice = false;
        match &state.kind {
            Kind::Pass(pass) => {
                if let Some(result) = &pass.result {
                    let index = push(&mut self.program.consts, result.clone());
                    self.program.ops.push(Op::Const(index));
                }
            }
            Kind::Task(task) => {
                let index = push(
                    &mut self.program.tasks,
                    TaskCode {
                        resource: task.resource.as_str().into(),
                        timeout: task.timeout.clone(),
                        heartbeat: task.heartbeat.clone(),
                    },
                );
                self.program.ops.push(Op::Invoke(index));
            }
            Kind::Parallel(_) => self
                .program
                .ops
                .push(Op::Parallel(nested.unwrap_or_default())),
            Kind::Map(_) => self.program.ops.push(Op::Map(nested.unwrap_or_default())),
            Kind::Wait(wait) => {
                let index = push(&mut self.program.waits, wait.clone());
                self.program.ops.push(Op::Wait(index));
            }
            Kind::Choice(choice) => {
                let rules = choice
                    .choices
                    .iter()
                    .map(|rule| (rule.condition.clone(), id_of(&rule.next)))
                    .collect();
                let default = choice.default.as_deref().map(id_of);
                let mut extras: Vec<(Option<Index>, Option<Index>)> = Vec::new();
                for (assign, output) in choice
                    .choices
                    .iter()
                    .map(|rule| (&rule.assign, &rule.output))
                    .chain([(&state.assign, &state.output)])
                {
                    let assign = assign
                        .clone()
                        .map(|payload| push(&mut self.program.payloads, payload));
                    let output = output
                        .clone()
                        .map(|payload| push(&mut self.program.payloads, payload));
                    extras.push((assign, output));
                }
                let index = push(
                    &mut self.program.choices,
                    ChoiceCode {
                        rules,
                        default,
                        extras,
                    },
                );
                self.program.ops.push(Op::Choice(index));
                ends_with_choice = true;
            }
            Kind::Fail(fail) => {
                let index = push(
                    &mut self.program.fails,
                    FailCode {
                        error: fail.error.clone(),
                        cause: fail.cause.clone(),
                    },
                );
                self.program.ops.push(Op::Fail(index));
            }
            Kind::Succeed => {}
        }
        if is_fail {
            self.finish_state(id, entry, retry, catch, id_of);
            return;
        }

        let result_selector = match &state.kind {
            Kind::Task(task) => task.result_selector.as_ref(),
            Kind::Parallel(parallel) => parallel.result_selector.as_ref(),
            Kind::Map(map) => map.result_selector.as_ref(),
            _ => None,
        };
        if let Some(payload) = result_selector {
            let index = push(&mut self.program.payloads, payload.clone());
            self.program.ops.push(Op::ResultSelector(index));
        }
        // Assign reads the result (JSONPath `$`, JSONata `$states.result`); a Choice state's
        // Assign and Output depend on the rule taken.
        if !ends_with_choice {
            if let Some(assign) = &state.assign {
                let index = push(&mut self.program.payloads, assign.clone());
                self.program.ops.push(Op::Assign(index));
            }
            if let Some(output) = &state.output {
                let index = push(&mut self.program.payloads, output.clone());
                self.program.ops.push(Op::Output(index));
            }
        }
        match result_path {
            Some(ResultPath::Discard) => self.program.ops.push(Op::ResultDiscard),
            Some(ResultPath::Path(path)) if !path.is_whole() => {
                let index = push(&mut self.program.paths, path.clone());
                self.program.ops.push(Op::ResultPut(index));
            }
            _ => {}
        }
        match &state.output_path {
            Some(asl::InputOutputPath::Null) => self.program.ops.push(Op::OutputNull),
            Some(asl::InputOutputPath::Path(path)) if !path.is_whole() => {
                let index = push(&mut self.program.paths, path.clone());
                self.program.ops.push(Op::OutputPath(index));
            }
            _ => {}
        }
        let exit = if ends_with_choice {
            Op::NextChosen
        } else {
            match &state.next {
                Some(next) => Op::Next(id_of(next)),
                None => Op::End,
            }
        };
        self.program.ops.push(exit);
        self.finish_state(id, entry, retry, catch, id_of);
    }

    fn finish_state(
        &mut self,
        id: StateId,
        entry: u32,
        retry: &[Retrier],
        catch: &[Catcher],
        id_of: &dyn Fn(&str) -> StateId,
    ) {
        let code = &mut self.program.states[id.0 as usize];
        code.entry = entry;
        code.retry = retry
            .iter()
            .map(|retrier| RetryCode {
                error_equals: retrier.error_equals.clone(),
                interval_ms: retrier.interval_seconds.saturating_mul(1000),
                max_attempts: u32::try_from(retrier.max_attempts).unwrap_or(u32::MAX),
                backoff_rate: retrier.backoff_rate,
                max_delay_ms: retrier
                    .max_delay_seconds
                    .map(|seconds| seconds.saturating_mul(1000)),
                full_jitter: retrier.jitter == asl::Jitter::Full,
            })
            .collect();
        code.catch = catch
            .iter()
            .map(|catcher| CatchCode {
                error_equals: catcher.error_equals.clone(),
                next: id_of(&catcher.next),
                result_path: catcher.result_path.clone(),
                assign: catcher
                    .assign
                    .clone()
                    .map(|payload| push(&mut self.program.payloads, payload)),
                output: catcher
                    .output
                    .clone()
                    .map(|payload| push(&mut self.program.payloads, payload)),
            })
            .collect();
    }
}

/// Whether any path or intrinsic argument of the program reads `$$`.
fn program_uses_context(program: &Program) -> bool {
    use crate::path::Root;
    let path_uses = |path: &Path| matches!(path.root(), Root::Context);
    fn payload_uses(payload: &Payload, path_uses: &dyn Fn(&Path) -> bool) -> bool {
        match payload {
            Payload::Value(_) => false,
            Payload::Object(entries) => entries
                .iter()
                .any(|(_, part)| payload_uses(part, path_uses)),
            Payload::Array(parts) => parts.iter().any(|part| payload_uses(part, path_uses)),
            Payload::Path(path) => path_uses(path),
            Payload::Call(call) => call.display().contains("$$"),
            Payload::Jsonata(expression) => expression.reads_context,
        }
    }
    fn condition_uses(condition: &Condition, path_uses: &dyn Fn(&Path) -> bool) -> bool {
        match condition {
            Condition::And(rules) | Condition::Or(rules) => {
                rules.iter().any(|rule| condition_uses(rule, path_uses))
            }
            Condition::Not(rule) => condition_uses(rule, path_uses),
            Condition::Compare {
                variable, operand, ..
            } => {
                path_uses(variable)
                    || matches!(operand, asl::Operand::Path(path) if path_uses(path))
            }
            Condition::Jsonata(payload) => payload_uses(payload, path_uses),
        }
    }
    let text_uses = |text: &Option<Text>| match text {
        Some(Text::Path(path)) => path_uses(path),
        Some(Text::Call(call)) => call.display().contains("$$"),
        Some(Text::Jsonata(expression)) => expression.reads_context,
        _ => false,
    };
    let seconds_uses = |seconds: &Option<Seconds>| match seconds {
        Some(Seconds::Path(path)) => path_uses(path),
        Some(Seconds::Jsonata(expression)) => expression.reads_context,
        _ => false,
    };
    program.paths.iter().any(path_uses)
        || program
            .payloads
            .iter()
            .any(|payload| payload_uses(payload, &path_uses))
        || program.choices.iter().any(|choice| {
            choice
                .rules
                .iter()
                .any(|(rule, _)| condition_uses(rule, &path_uses))
        })
        || program
            .fails
            .iter()
            .any(|fail| text_uses(&fail.error) || text_uses(&fail.cause))
        || program
            .tasks
            .iter()
            .any(|task| seconds_uses(&task.timeout) || seconds_uses(&task.heartbeat))
        || program.maps.iter().any(|map| {
            let tolerance_uses = |tolerance: &Option<Tolerance>| match tolerance {
                Some(Tolerance::Path(path)) => path_uses(path),
                Some(Tolerance::Jsonata(expression)) => expression.reads_context,
                _ => false,
            };
            seconds_uses(&map.max_concurrency)
                || tolerance_uses(&map.tolerated_failure_count)
                || tolerance_uses(&map.tolerated_failure_percentage)
        })
        || program.waits.iter().any(|wait| match wait {
            asl::Wait::SecondsPath(path) | asl::Wait::TimestampPath(path) => path_uses(path),
            asl::Wait::SecondsJsonata(expression) | asl::Wait::TimestampJsonata(expression) => {
                expression.reads_context
            }
            _ => false,
        })
}
