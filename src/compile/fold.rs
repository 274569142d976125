//! Folding: a machine made only of JSONPath Pass, Succeed, Fail, Choice and Parallel states
//! reading only its input is run once at compile time on a symbolic input, which leaves, for
//! every road through its Choice states, its outcome as a template over the input
//! (`Folded`); an execution then tests the Choice rules on its input and builds that
//! template instead of running the states one by one.
//!
//! W1's five Pass states, for instance, fold to `{"out": {"id": $.id, "name":
//! $.detail.user.name, "amt": $.detail.amount}, "stage": "three", "const": "done"}`: every
//! ResultPath merge, InputPath and OutputPath in between is resolved at compile time.
//! W4's Parallel state folds to an array of its three branches' templates, W5's failing
//! branch to the error its Catch merges into the input.
//!
//! The outcome cannot differ from the interpreter's:
//! - the states' values are built by the functions the interpreter uses (`Path::select`,
//!   `Path::put`, the Choice rule evaluator, Retry and Catch matching), applied to the same
//!   values, only fewer of them;
//! - a selection whose value is dropped later is still made (`Leaf::checks`), and so is every
//!   check a ResultPath merge makes, so an execution the interpreter would fail fails here;
//! - every size is bounded from the input's text length, as the interpreter bounds it;
//! - any selection, rule or check that fails, and any bound over the payload limit, gives
//!   `None`, and the interpreter runs the execution instead (and words the error);
//! - an error a Retry would retry is not folded at all (the retry waits).
//!
//! Anything else (other state types, intrinsic functions, the context object, variables,
//! JSONata, paths with wildcards or filters, nested ResultPaths, Fail texts from paths) is not
//! folded.

use crate::asl::{
    Condition, InputOutputPath, Kind, MapMode, Operand, Payload, QueryLanguage, ResultPath,
    StateMachine, Text,
};
use crate::intrinsics::{Arg, Call};
use crate::json::{self, Map as JsonMap, Str, Value};
use crate::path::{Path, Root, Step};
use crate::vm::LogLevel;

/// The most outcomes a machine folds to (roads through its Choice states).
const MAX_LEAVES: usize = 64;

/// An upper bound of printed sizes: `fixed` bytes, plus `selections` times the input's size,
/// plus `runtime` times the size of the largest value a call or Map made (measured when made).
#[derive(Debug, Clone, Copy, Default)]
struct Bound {
    fixed: usize,
    selections: usize,
    runtime: usize,
}

impl Bound {
    fn with(self, input: usize, largest: usize) -> usize {
        self.fixed
            .saturating_add(self.selections.saturating_mul(input))
            .saturating_add(self.runtime.saturating_mul(largest))
    }

    fn add(&mut self, other: Bound) {
        self.fixed = self.fixed.saturating_add(other.fixed);
        self.selections = self.selections.saturating_add(other.selections);
        self.runtime = self.runtime.saturating_add(other.runtime);
    }

    /// A bound of both.
    fn widen(&mut self, other: Bound) {
        self.fixed = self.fixed.max(other.fixed);
        self.selections = self.selections.max(other.selections);
        self.runtime = self.runtime.max(other.runtime);
    }
}

/// What building an output finds out: the states Map iterations enter, and the size of the
/// largest value a call or Map made.
#[derive(Debug, Default)]
struct Made {
    entered: u64,
    largest: usize,
}

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
    /// A `States.Format` call whose paths read `base`; `id` tells calls apart.
    Call {
        call: Call,
        base: Box<Sym>,
        id: u32,
    },
    /// An inline Map state's result: `body`, whose input is each item of `items`, run on every
    /// item in order.
    Map {
        items: Box<Sym>,
        body: Box<Leaf>,
        id: u32,
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

/// The largest output size a folded execution may reach: the payload limit, and twice the
/// interpreter's depth limit (a value deeper than that prints in more bytes).
fn size_limit(max_payload: usize) -> usize {
    max_payload.min(2 * crate::vm::MAX_VALUE_DEPTH)
}

/// How a folded execution ends.
#[derive(Debug, Clone, PartialEq)]
pub enum Ending {
    Succeeded(Value),
    /// A Fail state's error and cause, not caught.
    Failed {
        error: Option<String>,
        cause: Option<String>,
    },
}

/// How a folded execution ends, its output printed.
#[derive(Debug, Clone, PartialEq)]
pub enum Printed {
    /// Compact JSON, as `json::to_vec` prints the output.
    Output(Vec<u8>),
    Failed {
        error: Option<String>,
        cause: Option<String>,
    },
}

/// How one road through the machine ends.
#[derive(Debug, Clone)]
enum End {
    Output(Sym),
    Fail {
        error: Option<String>,
        cause: Option<String>,
    },
}

/// One road through the machine: its end and what an execution taking it must check.
#[derive(Debug, Clone)]
struct Leaf {
    end: End,
    checks: Vec<Check>,
    /// Bounds every state's output.
    bound: Bound,
    /// States an execution on this road enters.
    transitions: u64,
    /// A state fails on the way (caught or not), which logs at ERROR.
    failure: bool,
    /// The output template as bytes to print, when it has no merge (`Sym::Put`).
    printed: Option<Vec<Piece>>,
}

/// A part of an output printed straight into bytes.
#[derive(Debug, Clone)]
enum Piece {
    /// Compact JSON text: keys, punctuation and constants.
    Bytes(Box<[u8]>),
    /// What a path selects from the input (`None`: the whole input), printed.
    Select(Option<Path>),
}

/// `sym` as pieces to print, when it has no merge.
fn pieces(sym: &Sym) -> Option<Vec<Piece>> {
    fn add(sym: &Sym, text: &mut Vec<u8>, pieces: &mut Vec<Piece>) -> Option<()> {
        match sym {
            Sym::Input(path) => {
                if !text.is_empty() {
                    pieces.push(Piece::Bytes(std::mem::take(text).into()));
                }
                pieces.push(Piece::Select(path.clone()));
            }
            Sym::Const(value) => json::write_to(value, text),
            Sym::Object(fields) => {
                text.push(b'{');
                for (index, (key, field)) in fields.iter().enumerate() {
                    if index > 0 {
                        text.push(b',');
                    }
                    json::write_str(key, text);
                    text.push(b':');
                    add(field, text, pieces)?;
                }
                text.push(b'}');
            }
            Sym::Array(items) => {
                text.push(b'[');
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        text.push(b',');
                    }
                    add(item, text, pieces)?;
                }
                text.push(b']');
            }
            Sym::Put { .. } | Sym::Call { .. } | Sym::Map { .. } => return None,
        }
        Some(())
    }
    let mut text = Vec::new();
    let mut pieces = Vec::new();
    add(sym, &mut text, &mut pieces)?;
    if !text.is_empty() {
        pieces.push(Piece::Bytes(text.into()));
    }
    Some(pieces)
}

#[derive(Debug, Clone)]
enum Node {
    Leaf(Leaf),
    /// A Choice state: the first of `rules` that holds for `value` leads on, else `default`.
    Choice {
        value: Sym,
        rules: Vec<(Condition, Node)>,
        default: Option<Box<Node>>,
    },
}

/// A machine folded to templates over its input.
#[derive(Debug, Clone)]
pub struct Folded {
    root: Node,
}

impl Folded {
    /// The outcome of an execution on `input` (of at most `input_bound` bytes printed) and
    /// the states it enters, or `None` when the interpreter must run it. With `logging`, an
    /// execution that would log a record at that level is left to the interpreter too.
    pub fn run(
        &self,
        input: &Value,
        input_bound: usize,
        max_payload: usize,
        logging: Option<LogLevel>,
    ) -> Option<(Ending, u64)> {
        let leaf = self.road(input)?;
        leaf.admits(input, input_bound, max_payload, logging)?;
        let mut made = Made::default();
        let ending = match &leaf.end {
            End::Output(sym) => {
                let output = build(sym, input, &mut made)?;
                leaf.fits(input_bound, max_payload, &made)?;
                Ending::Succeeded(output)
            }
            End::Fail { error, cause } => Ending::Failed {
                error: error.clone(),
                cause: cause.clone(),
            },
        };
        Some((ending, leaf.transitions + made.entered))
    }

    /// [`run`](Self::run) with a successful output printed as compact JSON, without building
    /// it where its template has no merge.
    pub fn run_printed(
        &self,
        input: &Value,
        input_bound: usize,
        max_payload: usize,
        logging: Option<LogLevel>,
    ) -> Option<(Printed, u64)> {
        let leaf = self.road(input)?;
        leaf.admits(input, input_bound, max_payload, logging)?;
        let mut made = Made::default();
        let printed = match (&leaf.end, &leaf.printed) {
            (End::Output(_), Some(pieces)) => {
                let mut out = Vec::with_capacity(128);
                for piece in pieces {
                    match piece {
                        Piece::Bytes(bytes) => out.extend_from_slice(bytes),
                        Piece::Select(None) => json::write_to(input, &mut out),
                        Piece::Select(Some(path)) => {
                            let selected = path.select(input).ok()?;
                            json::write_to(&selected, &mut out);
                        }
                    }
                }
                Printed::Output(out)
            }
            (End::Output(sym), None) => {
                let output = build(sym, input, &mut made)?;
                leaf.fits(input_bound, max_payload, &made)?;
                Printed::Output(json::to_vec(&output))
            }
            (End::Fail { error, cause }, _) => Printed::Failed {
                error: error.clone(),
                cause: cause.clone(),
            },
        };
        Some((printed, leaf.transitions + made.entered))
    }

    /// The road an execution on `input` takes through the Choice states, or `None` when a
    /// rule cannot be evaluated or none holds and there is no default.
    fn road(&self, input: &Value) -> Option<&Leaf> {
        let mut node = &self.root;
        loop {
            match node {
                Node::Leaf(leaf) => return Some(leaf),
                Node::Choice {
                    value,
                    rules,
                    default,
                } => {
                    let value = build(value, input, &mut Made::default())?;
                    let no_context = || Value::Null;
                    let scope = crate::vm::eval::Scope::new(&value, &no_context);
                    let mut next = None;
                    for (condition, then) in rules {
                        // A rule that cannot be evaluated fails the execution: the
                        // interpreter words the error.
                        if crate::vm::eval::condition(condition, &scope).ok()? {
                            next = Some(then);
                            break;
                        }
                    }
                    node = match next {
                        Some(then) => then,
                        None => default.as_deref()?,
                    };
                }
            }
        }
    }

    /// Whether some execution that takes a folded outcome could log a record at `level`.
    pub fn logs_at(&self, level: LogLevel) -> bool {
        fn any(node: &Node, level: LogLevel) -> bool {
            match node {
                Node::Leaf(leaf) => leaf.logs_at(level),
                Node::Choice { rules, default, .. } => {
                    rules.iter().any(|(_, then)| any(then, level))
                        || default.as_deref().is_some_and(|then| any(then, level))
                }
            }
        }
        any(&self.root, level)
    }

    /// The states an execution enters, when every execution enters the same number.
    pub fn transitions(&self) -> Option<u64> {
        match &self.root {
            Node::Leaf(leaf) if !leaf.maps() => Some(leaf.transitions),
            _ => None,
        }
    }

    fn leaves(&self) -> Vec<&Leaf> {
        fn walk<'a>(node: &'a Node, leaves: &mut Vec<&'a Leaf>) {
            match node {
                Node::Leaf(leaf) => leaves.push(leaf),
                Node::Choice { rules, default, .. } => {
                    for (_, then) in rules {
                        walk(then, leaves);
                    }
                    if let Some(then) = default {
                        walk(then, leaves);
                    }
                }
            }
        }
        let mut leaves = Vec::new();
        walk(&self.root, &mut leaves);
        leaves
    }
}

impl Leaf {
    /// Whether the output runs Map iterations, whose states add to `transitions`.
    fn maps(&self) -> bool {
        fn maps(sym: &Sym) -> bool {
            match sym {
                Sym::Input(_) | Sym::Const(_) => false,
                Sym::Object(fields) => fields.iter().any(|(_, field)| maps(field)),
                Sym::Array(items) => items.iter().any(maps),
                Sym::Put { base, value, .. } => maps(base) || maps(value),
                Sym::Call { base, .. } => maps(base),
                Sym::Map { .. } => true,
            }
        }
        matches!(&self.end, End::Output(output) if maps(output))
    }

    /// Whether an execution ending here logs a record at `level`: one that succeeds without
    /// a failure on the way logs only at ALL, a caught failure logs at ERROR (the state's
    /// …Failed event), an execution that fails at FATAL too (ExecutionFailed).
    fn logs_at(&self, level: LogLevel) -> bool {
        match level {
            LogLevel::Off => false,
            LogLevel::All => true,
            LogLevel::Error => self.failure,
            LogLevel::Fatal => matches!(self.end, End::Fail { .. }),
        }
    }

    /// Whether an execution on `input` may end here without the interpreter: it logs nothing
    /// at `logging`, every size is within the limit and every check holds.
    fn admits(
        &self,
        input: &Value,
        input_bound: usize,
        max_payload: usize,
        logging: Option<LogLevel>,
    ) -> Option<()> {
        if logging.is_some_and(|level| self.logs_at(level)) {
            return None;
        }
        if self.bound.with(input_bound.max(2), 0) > size_limit(max_payload) {
            return None;
        }
        self.checks_hold(input).then_some(())
    }

    /// Whether every state's output fits, now that the values calls and Maps made are
    /// measured.
    fn fits(&self, input_bound: usize, max_payload: usize, made: &Made) -> Option<()> {
        let bound = self.bound.with(input_bound.max(2), made.largest);
        (self.bound.runtime == 0 || bound <= size_limit(max_payload)).then_some(())
    }

    /// Whether every check holds on `input`.
    fn checks_hold(&self, input: &Value) -> bool {
        self.checks.iter().all(|check| match check {
            Check::Selects(path) => path.select(input).is_ok(),
            Check::Object(None) => matches!(input, Value::Object(_)),
            Check::Object(Some(path)) => {
                matches!(path.select(input).as_deref(), Ok(Value::Object(_)))
            }
        })
    }
}

/// The templates as the program listing shows them: `$…` selects from the input, `A + {"k":
/// B}` is A with field `k` set to B; a Choice lists its rules' roads in order.
impl std::fmt::Display for Folded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fn show(f: &mut std::fmt::Formatter<'_>, node: &Node, indent: usize) -> std::fmt::Result {
            match node {
                Node::Leaf(leaf) => write!(f, "{leaf}"),
                Node::Choice {
                    value,
                    rules,
                    default,
                } => {
                    write!(f, "a Choice on {value}")?;
                    let pad = "  ".repeat(indent + 1);
                    for (index, (_, then)) in rules.iter().enumerate() {
                        write!(f, "\n{pad}rule {} → ", index + 1)?;
                        show(f, then, indent + 1)?;
                    }
                    match default {
                        Some(then) => {
                            write!(f, "\n{pad}default → ")?;
                            show(f, then, indent + 1)
                        }
                        None => write!(f, "\n{pad}no default: the interpreter runs it"),
                    }
                }
            }
        }
        show(f, &self.root, 0)
    }
}

impl std::fmt::Display for Leaf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.maps() {
            write!(
                f,
                "({} states and each Map iteration's): ",
                self.transitions
            )?;
        } else {
            write!(f, "({} states): ", self.transitions)?;
        }
        match &self.end {
            End::Output(sym) => write!(f, "{sym}")?,
            End::Fail { error, cause } => write!(
                f,
                "fails with {}: {}",
                error.as_deref().unwrap_or("(no error)"),
                cause.as_deref().unwrap_or("(no cause)")
            )?,
        }
        let checks: Vec<String> = self
            .checks
            .iter()
            .map(|check| match check {
                Check::Selects(path) => path.source().to_string(),
                Check::Object(None) => "$ is an object".to_string(),
                Check::Object(Some(path)) => format!("{} is an object", path.source()),
            })
            .collect();
        if checks.is_empty() {
            return write!(f, "; no checks");
        }
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
            Sym::Call { call, base, .. } => write!(f, "{} over {base}", call.display()),
            Sym::Map { items, body, .. } => write!(f, "map {items} to [{body}]"),
        }
    }
}

/// `sym`'s value for `input`; `made` counts the states of Map iterations and keeps the size of
/// the largest value a call or Map made.
fn build(sym: &Sym, input: &Value, made: &mut Made) -> Option<Value> {
    Some(match sym {
        Sym::Input(None) => input.clone(),
        Sym::Input(Some(path)) => path.select(input).ok()?.into_owned(),
        Sym::Const(value) => value.clone(),
        Sym::Object(fields) => {
            let mut built = Vec::with_capacity(fields.len());
            for (key, field) in fields {
                built.push((key.clone(), build(field, input, made)?));
            }
            Value::Object(JsonMap::from_unique(built))
        }
        Sym::Array(items) => {
            let mut built = Vec::with_capacity(items.len());
            for item in items {
                built.push(build(item, input, made)?);
            }
            Value::from(built)
        }
        Sym::Put {
            base, path, value, ..
        } => path
            .put(build(base, input, made)?, build(value, input, made)?)
            .ok()?,
        Sym::Call { call, base, .. } => {
            let base = build(base, input, made)?;
            let no_context = || Value::Null;
            let text = call
                .eval(&crate::vm::eval::Scope::new(&base, &no_context))
                .ok()?;
            made.largest = made.largest.max(json::size(&text));
            text
        }
        Sym::Map { items, body, .. } => {
            let items = build(items, input, made)?;
            // Anything else fails the Map state: the interpreter words the error.
            let Value::Array(items) = items else {
                return None;
            };
            let End::Output(output) = &body.end else {
                return None;
            };
            let mut built = Vec::with_capacity(items.len());
            let mut size = 2 + items.len().saturating_sub(1);
            for item in items.iter() {
                // The iteration's sizes are bounded with the whole execution's (an item is
                // part of the input).
                if !body.checks_hold(item) {
                    return None;
                }
                let output = build(output, item, made)?;
                size = size.saturating_add(json::size(&output));
                built.push(output);
                made.entered += body.transitions;
            }
            made.largest = made.largest.max(size);
            Value::from(built)
        }
    })
}

/// Folds `machine`, if it is such a machine.
pub fn fold(machine: &StateMachine, input_fields: Option<&[Str]>) -> Option<Folded> {
    let mut leaves = 0;
    let root = body(
        machine,
        &machine.start_at,
        Sym::Input(None),
        Folder::new(),
        0,
        &mut leaves,
    )?;
    let folded = Folded { root };
    // The input projection keeps what the interpreter can read; the folded program reads
    // nothing else, which is checked rather than assumed.
    if let Some(fields) = input_fields {
        let kept = |path: &Path| match path.steps().as_deref() {
            Some([Step::Name(first), ..]) => fields.iter().any(|field| **field == **first),
            Some([]) => true,
            _ => false,
        };
        for leaf in folded.leaves() {
            let mut paths = leaf.checks.iter().filter_map(|check| match check {
                Check::Selects(path) | Check::Object(Some(path)) => Some(path),
                Check::Object(None) => None,
            });
            if !paths.all(kept) {
                return None;
            }
            if let End::Output(output) = &leaf.end {
                if !calls_read_kept(output, &kept) {
                    return None;
                }
            }
        }
        if !choices_read_kept(&folded.root, &kept) {
            return None;
        }
    }
    Some(folded)
}

/// Whether the calls over the input in `sym` read only kept fields of it (a Map's body reads
/// items, which are kept whole).
fn calls_read_kept(sym: &Sym, kept: &dyn Fn(&Path) -> bool) -> bool {
    match sym {
        Sym::Input(_) | Sym::Const(_) => true,
        Sym::Object(fields) => fields.iter().all(|(_, field)| calls_read_kept(field, kept)),
        Sym::Array(items) => items.iter().all(|item| calls_read_kept(item, kept)),
        Sym::Put { base, value, .. } => calls_read_kept(base, kept) && calls_read_kept(value, kept),
        Sym::Map { items, .. } => calls_read_kept(items, kept),
        Sym::Call { call, base, .. } => {
            let Sym::Input(base) = &**base else {
                return false;
            };
            let base = match base {
                Some(path) => path.steps(),
                None => Some(Vec::new()),
            };
            let Some(base) = base else {
                return false;
            };
            call.paths().into_iter().all(|path| {
                let Some(steps) = path.steps() else {
                    return false;
                };
                let mut all = base.clone();
                all.extend(steps);
                kept(&Path::from_steps(&all))
            })
        }
    }
}

/// Whether the rules of every Choice read only kept fields of the input.
fn choices_read_kept(node: &Node, kept: &dyn Fn(&Path) -> bool) -> bool {
    let Node::Choice {
        value,
        rules,
        default,
    } = node
    else {
        return true;
    };
    let base = match value {
        Sym::Input(None) => Vec::new(),
        Sym::Input(Some(path)) => match path.steps() {
            Some(steps) => steps,
            None => return false,
        },
        // Built from selections that are checked themselves.
        Sym::Const(_) | Sym::Object(_) | Sym::Array(_) => {
            return rules.iter().all(|(_, then)| choices_read_kept(then, kept))
                && default
                    .as_deref()
                    .is_none_or(|then| choices_read_kept(then, kept));
        }
        Sym::Put { .. } | Sym::Call { .. } | Sym::Map { .. } => return false,
    };
    rules.iter().all(|(condition, then)| {
        condition_paths(condition).into_iter().all(|path| {
            let Some(steps) = path.steps() else {
                return false;
            };
            let mut all = base.clone();
            all.extend(steps);
            kept(&Path::from_steps(&all))
        }) && choices_read_kept(then, kept)
    }) && default
        .as_deref()
        .is_none_or(|then| choices_read_kept(then, kept))
}

/// The paths a rule reads; only rules over the input fold.
fn condition_paths(condition: &Condition) -> Vec<&Path> {
    match condition {
        Condition::And(rules) | Condition::Or(rules) => {
            rules.iter().flat_map(condition_paths).collect()
        }
        Condition::Not(rule) => condition_paths(rule),
        Condition::Compare {
            variable, operand, ..
        } => match operand {
            Operand::Path(path) => vec![variable, path],
            Operand::Value(_) | Operand::Timestamp(..) => vec![variable],
        },
        Condition::Jsonata(_) => Vec::new(),
    }
}

/// Whether a rule reads only the input, by paths the folder follows.
fn condition_folds(condition: &Condition) -> bool {
    let plain = |path: &Path| matches!(path.root(), Root::Input) && path.steps().is_some();
    match condition {
        Condition::And(rules) | Condition::Or(rules) => rules.iter().all(condition_folds),
        Condition::Not(rule) => condition_folds(rule),
        Condition::Compare { .. } => condition_paths(condition).into_iter().all(plain),
        Condition::Jsonata(_) => false,
    }
}

/// A Fail state's Error or Cause, when it is written out.
fn literal(text: Option<&Text>) -> Option<Option<String>> {
    match text {
        None => Some(None),
        Some(Text::Literal(text)) => Some(Some(text.clone())),
        Some(_) => None,
    }
}

/// Folds the states of `machine` (the top level or a branch) from the state `name` on, whose
/// input is `value`; `steps` states of `machine` were entered before on this road.
fn body<'m>(
    machine: &'m StateMachine,
    mut name: &'m str,
    mut value: Sym,
    mut folder: Folder,
    mut steps: usize,
    leaves: &mut usize,
) -> Option<Node> {
    loop {
        let state = machine.state(name)?;
        steps += 1;
        folder.transitions += 1;
        // A road that comes back to a state loops until the execution times out.
        if steps > machine.states.len()
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
            Kind::Fail(fail) => {
                let error = literal(fail.error.as_ref())?;
                let cause = literal(fail.cause.as_ref())?;
                folder.failure = true;
                return folder.leaf(End::Fail { error, cause }, leaves);
            }
            Kind::Choice(choice) => {
                // Calls and Maps run where the output is built, and counted there.
                let mut ids = Vec::new();
                runtime_ids(&effective, &mut ids);
                if !ids.is_empty() {
                    return None;
                }
                // The rules test the effective input, which the state passes on.
                let output = folder.output_path(effective.clone(), state.output_path.as_ref())?;
                folder.note(&output);
                let mut rules = Vec::with_capacity(choice.choices.len());
                for rule in &choice.choices {
                    if rule.assign.is_some()
                        || rule.output.is_some()
                        || !condition_folds(&rule.condition)
                    {
                        return None;
                    }
                    let then = body(
                        machine,
                        &rule.next,
                        output.clone(),
                        folder.clone(),
                        steps,
                        leaves,
                    )?;
                    rules.push((rule.condition.clone(), then));
                }
                let default = match &choice.default {
                    Some(next) => Some(Box::new(body(
                        machine, next, output, folder, steps, leaves,
                    )?)),
                    None => None,
                };
                return Some(Node::Choice {
                    value: effective,
                    rules,
                    default,
                });
            }
            Kind::Parallel(parallel) => {
                let input = match &parallel.parameters {
                    Some(payload) => folder.template(payload, &effective)?,
                    None => effective,
                };
                let mut results = Vec::with_capacity(parallel.branches.len());
                let mut failed = None;
                for branch in &parallel.branches {
                    let Node::Leaf(leaf) = body(
                        branch,
                        &branch.start_at,
                        input.clone(),
                        Folder::new(),
                        0,
                        leaves,
                    )?
                    else {
                        return None;
                    };
                    folder.absorb(&leaf);
                    match leaf.end {
                        End::Output(output) => results.push(output),
                        // Which of several failing branches fails first, and how many states
                        // the others enter by then, is the interpreter's business.
                        End::Fail { error, cause } if parallel.branches.len() == 1 => {
                            failed = Some((error, cause));
                        }
                        End::Fail { .. } => return None,
                    }
                }
                if let Some((error, cause)) = failed {
                    let name_of = error.as_deref().unwrap_or("");
                    if crate::vm::TERMINAL_ERRORS.contains(&name_of) {
                        return None;
                    }
                    let retried = parallel.retry.iter().find(|retrier| {
                        crate::vm::matches_error(&retrier.error_equals, name_of, false)
                    });
                    if retried.is_some_and(|retrier| retrier.max_attempts > 0) {
                        return None;
                    }
                    let catcher = parallel.catch.iter().find(|catcher| {
                        crate::vm::matches_error(&catcher.error_equals, name_of, false)
                    });
                    let Some(catcher) = catcher else {
                        return folder.leaf(End::Fail { error, cause }, leaves);
                    };
                    if catcher.assign.is_some() || catcher.output.is_some() {
                        return None;
                    }
                    let mut fields = JsonMap::new();
                    if let Some(error) = error {
                        fields.insert("Error", Value::from(error));
                    }
                    if let Some(cause) = cause {
                        fields.insert("Cause", Value::from(cause));
                    }
                    let error_output = Sym::Const(Value::Object(fields));
                    // The catcher merges into the state's raw input, and its output is not
                    // filtered by the state's OutputPath.
                    value = match &catcher.result_path {
                        None => error_output,
                        Some(ResultPath::Discard) => value,
                        Some(ResultPath::Path(path)) => folder.put(value, path, error_output)?,
                    };
                    folder.note(&value);
                    name = &catcher.next;
                    continue;
                }
                let result = Sym::Array(results);
                let result = match &parallel.result_selector {
                    Some(payload) => folder.template(payload, &result)?,
                    None => result,
                };
                match &parallel.result_path {
                    None => result,
                    Some(ResultPath::Discard) => value,
                    Some(ResultPath::Path(path)) => folder.put(value, path, result)?,
                }
            }
            Kind::Map(map) => {
                let plain = map.mode == MapMode::Inline
                    && map.items.is_none()
                    && map.item_selector.is_none()
                    && map.tolerated_failure_count.is_none()
                    && map.tolerated_failure_percentage.is_none()
                    && !matches!(
                        map.max_concurrency,
                        Some(crate::asl::Seconds::Path(_) | crate::asl::Seconds::Jsonata(_))
                    );
                if !plain {
                    return None;
                }
                let items = match &map.items_path {
                    Some(path) => folder.select(&effective, path)?,
                    None => effective,
                };
                // The bound of the result counts on items that are part of the input.
                if !matches!(items, Sym::Input(_)) {
                    return None;
                }
                let processor = &map.processor;
                let Node::Leaf(leaf) = body(
                    processor,
                    &processor.start_at,
                    Sym::Input(None),
                    Folder::new(),
                    0,
                    leaves,
                )?
                else {
                    return None;
                };
                if leaf.failure || !matches!(leaf.end, End::Output(_)) {
                    return None;
                }
                // Each iteration's states are bounded as the input's are (an item is part of
                // it).
                folder.bound.widen(leaf.bound);
                let id = next_id();
                folder.runtime.push(id);
                let result = Sym::Map {
                    items: Box::new(items),
                    body: Box::new(leaf),
                    id,
                };
                let result = match &map.result_selector {
                    Some(payload) => folder.template(payload, &result)?,
                    None => result,
                };
                match &map.result_path {
                    None => result,
                    Some(ResultPath::Discard) => value,
                    Some(ResultPath::Path(path)) => folder.put(value, path, result)?,
                }
            }
            _ => return None,
        };
        let output = folder.output_path(output, state.output_path.as_ref())?;
        folder.note(&output);
        value = output;
        match (&state.kind, &state.next) {
            (Kind::Succeed, _) | (_, None) => return folder.leaf(End::Output(value), leaves),
            (_, Some(next)) => name = next,
        }
    }
}

#[derive(Debug, Clone)]
struct Folder {
    checks: Vec<Check>,
    bound: Bound,
    transitions: u64,
    failure: bool,
    /// The calls and Maps made on this road: each can fail only when it runs, so each must
    /// be shown by the output, whose building then gives up when it fails.
    runtime: Vec<u32>,
}

/// Ids for `Sym::Call` and `Sym::Map`, unique in a process.
fn next_id() -> u32 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl Folder {
    fn new() -> Folder {
        Folder {
            checks: Vec::new(),
            bound: Bound {
                fixed: 0,
                selections: 1,
                runtime: 0,
            },
            transitions: 0,
            failure: false,
            runtime: Vec::new(),
        }
    }

    /// Ends a road.
    fn leaf(self, end: End, leaves: &mut usize) -> Option<Node> {
        *leaves += 1;
        if *leaves > MAX_LEAVES {
            return None;
        }
        if !self.runtime.is_empty() {
            let mut shown = Vec::new();
            if let End::Output(output) = &end {
                runtime_ids(output, &mut shown);
            }
            if !self.runtime.iter().all(|id| shown.contains(id)) {
                return None;
            }
        }
        let printed = match &end {
            End::Output(sym) => pieces(sym),
            End::Fail { .. } => None,
        };
        let checks = match &end {
            End::Output(sym) => implied_dropped(self.checks, sym),
            End::Fail { .. } => self.checks,
        };
        Some(Node::Leaf(Leaf {
            end,
            printed,
            checks,
            bound: self.bound,
            transitions: self.transitions,
            failure: self.failure,
        }))
    }

    /// Takes in what a branch checks, bounds and enters.
    fn absorb(&mut self, branch: &Leaf) {
        for check in &branch.checks {
            self.check(check.clone());
        }
        self.bound.widen(branch.bound);
        self.transitions += branch.transitions;
        self.failure |= branch.failure;
        // The branch's calls and Maps run only if the state's result is shown.
        if let End::Output(output) = &branch.end {
            runtime_ids(output, &mut self.runtime);
        }
    }

    /// Bounds a state's output.
    fn note(&mut self, output: &Sym) {
        self.bound.widen(bound_of(output));
    }

    /// OutputPath applied to a state's output.
    fn output_path(&mut self, output: Sym, path: Option<&InputOutputPath>) -> Option<Sym> {
        match path {
            None => Some(output),
            Some(InputOutputPath::Null) => Some(Sym::Const(Value::Object(JsonMap::new()))),
            Some(InputOutputPath::Path(path)) => self.select(&output, path),
        }
    }

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
            Payload::Call(call) => {
                // `States.Format` over paths of the input and literals: its text is bounded by
                // its arguments' sizes.
                let plain = call.args().iter().all(|arg| match arg {
                    Arg::Literal(_) => true,
                    Arg::Path(path) => matches!(path.root(), Root::Input) && path.steps().is_some(),
                    Arg::Call(_) => false,
                });
                if call.name() != "States.Format" || !plain || !matches!(value, Sym::Input(_)) {
                    return None;
                }
                let id = next_id();
                self.runtime.push(id);
                Sym::Call {
                    call: call.clone(),
                    base: Box::new(value.clone()),
                    id,
                }
            }
            Payload::Jsonata(_) => return None,
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

/// `checks` without the selections that another selection implies: one that selects
/// `$.a.b` selects `$.a`, and building `output` makes its own selections (and gives up when
/// one fails).
fn implied_dropped(checks: Vec<Check>, output: &Sym) -> Vec<Check> {
    fn selections(sym: &Sym, paths: &mut Vec<Vec<Step>>) {
        match sym {
            Sym::Input(Some(path)) => paths.extend(path.steps()),
            Sym::Input(None) | Sym::Const(_) => {}
            Sym::Object(fields) => fields
                .iter()
                .for_each(|(_, field)| selections(field, paths)),
            Sym::Array(items) => items.iter().for_each(|item| selections(item, paths)),
            Sym::Put { base, value, .. } => {
                selections(base, paths);
                selections(value, paths);
            }
            // What these select is read relative to another value, or not at all.
            Sym::Call { .. } | Sym::Map { .. } => {}
        }
    }
    // Made anyway: by the output, and by the checks that stay.
    let mut made = Vec::new();
    selections(output, &mut made);
    let mut selects = Vec::new();
    for check in &checks {
        match check {
            Check::Object(Some(path)) => made.extend(path.steps()),
            Check::Selects(path) => selects.extend(path.steps()),
            Check::Object(None) => {}
        }
    }
    checks
        .into_iter()
        .filter(|check| {
            let Check::Selects(path) = check else {
                return true;
            };
            let Some(steps) = path.steps() else {
                return true;
            };
            let extends = |other: &Vec<Step>| other.starts_with(&steps);
            let longer = |other: &Vec<Step>| other.len() > steps.len() && other.starts_with(&steps);
            !(made.iter().any(extends) || selects.iter().any(longer))
        })
        .collect()
}

/// An upper bound of the printed size of `sym`'s value.
fn bound_of(sym: &Sym) -> Bound {
    let bytes = |fixed: usize| Bound {
        fixed,
        ..Bound::default()
    };
    let mut bound = Bound::default();
    match sym {
        Sym::Input(_) => bound.selections = 1,
        Sym::Const(value) => bound.fixed = json::size(value),
        Sym::Object(fields) => {
            bound.add(bytes(2 + fields.len()));
            for (key, field) in fields {
                bound.add(bytes(json::string_size(key) + 1));
                bound.add(bound_of(field));
            }
        }
        Sym::Array(items) => {
            bound.add(bytes(2 + items.len()));
            for item in items {
                bound.add(bound_of(item));
            }
        }
        Sym::Put {
            base, key, value, ..
        } => {
            bound.add(bound_of(base));
            bound.add(bytes(json::string_size(key) + 2));
            bound.add(bound_of(value));
        }
        Sym::Call { .. } | Sym::Map { .. } => bound.runtime = 1,
    }
    bound
}

/// The ids of the calls and Maps whose values `sym` shows.
fn runtime_ids(sym: &Sym, ids: &mut Vec<u32>) {
    match sym {
        Sym::Input(_) | Sym::Const(_) => {}
        Sym::Object(fields) => fields.iter().for_each(|(_, field)| runtime_ids(field, ids)),
        Sym::Array(items) => items.iter().for_each(|item| runtime_ids(item, ids)),
        Sym::Put { base, value, .. } => {
            runtime_ids(base, ids);
            runtime_ids(value, ids);
        }
        Sym::Call { base, id, .. } => {
            ids.push(*id);
            runtime_ids(base, ids);
        }
        Sym::Map { items, id, .. } => {
            ids.push(*id);
            runtime_ids(items, ids);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Ending, Folded, Printed};
    use crate::compile::{compile, Program};
    use crate::exec::{self, ExecOptions, NoTasks};
    use crate::json::{self, Value};
    use crate::vm::LogLevel;

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
        assert_eq!(folded.transitions(), Some(5));
        // Only the three fields the output shows are read, besides the checks.
        assert!(folded.to_string().starts_with(
            r#"(5 states): {"out": {"id": $.id, "name": $.detail.user.name, "amt": $.detail.amount}, "stage": "three", "const": "done"}; "#
        ));
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
        assert_eq!(folded.transitions(), Some(4));
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

    /// The interpreter's outcome and state count for every workload input, against the folded
    /// program's (which must answer for every one of them).
    fn agrees_on_the_workload(program: &Program, name: &str) {
        let inputs = include_str!("../../tests/data/workloads/inputs.jsonl");
        let expected: Value =
            json::from_str(include_str!("../../tests/data/workloads/expected.json")).unwrap();
        let transitions = expected["transitions"][name].as_u64();
        let folded = program.folded.as_ref().expect("the workload folds");
        let options = ExecOptions::default();
        for line in inputs.lines().take(300) {
            same(program, line, &options);
            let input = json::from_str(line).unwrap();
            let bound = json::size_bound(line.len());
            let (ending, entered) = folded
                .run(&input, bound, options.max_payload_bytes, None)
                .expect("the folded program answers");
            assert_eq!(Some(entered), transitions, "{name}: {line}");
            // Printed straight into bytes, the output is what printing the built one gives.
            let (printed, _) = folded
                .run_printed(&input, bound, options.max_payload_bytes, None)
                .expect("the folded program answers");
            let expected = match ending {
                Ending::Succeeded(output) => Printed::Output(json::to_vec(&output)),
                Ending::Failed { error, cause } => Printed::Failed { error, cause },
            };
            assert_eq!(printed, expected, "{name}: {line}");
        }
    }

    #[test]
    fn choices_parallels_and_caught_failures_fold() {
        let w1 = program(include_str!(
            "../../tests/data/workloads/w1-pass-chain.json"
        ));
        agrees_on_the_workload(&w1, "w1-pass-chain");
        let w2 = program(include_str!(
            "../../tests/data/workloads/w2-choice-route.json"
        ));
        agrees_on_the_workload(&w2, "w2-choice-route");
        let w4 = program(include_str!(
            "../../tests/data/workloads/w4-parallel-3.json"
        ));
        assert_eq!(w4.folded.as_ref().and_then(Folded::transitions), Some(7));
        agrees_on_the_workload(&w4, "w4-parallel-3");
        let w5 = program(include_str!(
            "../../tests/data/workloads/w5-retry-catch.json"
        ));
        assert!(w5.folded.as_ref().is_some_and(
            |folded| !folded.logs_at(LogLevel::Fatal) && folded.logs_at(LogLevel::Error)
        ));
        agrees_on_the_workload(&w5, "w5-retry-catch");
        // W2 leaves executions with a Fail state to the interpreter when it logs at ERROR.
        let folded = w2.folded.as_ref().unwrap();
        assert!(folded.logs_at(LogLevel::Error));
        let rejected = json::from_str(r#"{"id":"x","detail":{"amount":1,"user":{"tier":"silver","age":50},"flag":false},"source":"s"}"#).unwrap();
        let run = |level| {
            folded
                .run(&rejected, 200, 262_144, level)
                .map(|(ending, _)| ending)
        };
        let failed = Ending::Failed {
            error: Some("Route.Rejected".into()),
            cause: Some("no rule matched".into()),
        };
        assert_eq!(run(None), Some(failed.clone()));
        assert_eq!(run(Some(LogLevel::Off)), Some(failed));
        assert_eq!(run(Some(LogLevel::Error)), None);
        // Inputs the folded programs leave to the interpreter: the same errors.
        let options = ExecOptions::default();
        for input in [
            r#"{"id":1}"#,
            r#"{"detail":{"amount":"x"}}"#,
            r#"{"id":1,"detail":{"amount":1,"user":{"tier":"gold"}}}"#,
            r#"{"id":1,"detail":{"amount":1,"user":[]}}"#,
            "[1,2]",
            "7",
        ] {
            for program in [&w2, &w4, &w5] {
                same(program, input, &options);
            }
        }
    }

    #[test]
    fn maps_of_formats_fold() {
        for name in ["w3-map-10", "w3b-map-10-itemprocessor"] {
            let text = std::fs::read_to_string(format!(
                "{}/tests/data/workloads/{name}.json",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap();
            let w3 = program(&text);
            assert!(w3.folded.is_some(), "{name}");
            agrees_on_the_workload(&w3, name);
        }
        let options = ExecOptions::default();
        let map = |body: &str, tail: &str| {
            program(&format!(
                r#"{{"StartAt":"M","States":{{"M":{{"Type":"Map","ItemsPath":"$.xs","ItemProcessor":{{"StartAt":"P","States":{{"P":{body}}}}}{tail}}}}}}}"#
            ))
        };
        let formats = map(
            r#"{"Type":"Pass","Parameters":{"s.$":"States.Format('{} and {}', $.a, $.b)"},"End":true}"#,
            r#","End":true"#,
        );
        assert!(formats.folded.is_some());
        for input in [
            r#"{"xs":[{"a":1,"b":"x"},{"a":[1,2.5,{"c":null}],"b":{"d":"\""}}]}"#,
            r#"{"xs":[]}"#,
            r#"{"xs":[{"a":1}]}"#,
            r#"{"xs":{"a":1,"b":2}}"#,
            r#"{"xs":[1]}"#,
            r#"{"ys":[]}"#,
        ] {
            same(&formats, input, &options);
        }
        // A result shown nowhere, a call whose value is dropped, a call with a nested call,
        // an item selector: not folded.
        for definition in [
            map(
                r#"{"Type":"Pass","End":true}"#,
                r#","ResultPath":null,"End":true"#,
            ),
            map(
                r#"{"Type":"Pass","Parameters":{"s.$":"States.Format('{}', $.a)"},"ResultPath":null,"End":true}"#,
                r#","End":true"#,
            ),
            map(
                r#"{"Type":"Pass","Parameters":{"s.$":"States.Format('{}', States.ArrayLength($.a))"},"End":true}"#,
                r#","End":true"#,
            ),
            map(
                r#"{"Type":"Pass","End":true}"#,
                r#","ItemSelector":{"v.$":"$$.Map.Item.Value"},"End":true"#,
            ),
        ] {
            assert!(definition.folded.is_none());
        }
    }

    #[test]
    fn catchers_merge_where_the_interpreter_does() {
        let options = ExecOptions::default();
        for (definition, input) in [
            // No ResultPath: the error output replaces the input; null: the input goes on.
            (
                r#"{"StartAt":"P","States":{"P":{"Type":"Parallel","Branches":[{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"E","Cause":"c"}}}],"Catch":[{"ErrorEquals":["X"],"Next":"Z"},{"ErrorEquals":["States.ALL"],"Next":"Z"}],"End":true},"Z":{"Type":"Pass","End":true}}}"#,
                r#"{"a":1}"#,
            ),
            (
                r#"{"StartAt":"P","States":{"P":{"Type":"Parallel","Branches":[{"StartAt":"F","States":{"F":{"Type":"Fail"}}}],"Catch":[{"ErrorEquals":["States.ALL"],"ResultPath":null,"Next":"Z"}],"End":true},"Z":{"Type":"Succeed"}}}"#,
                r#"{"a":1}"#,
            ),
            // A retrier with no attempts lets the catcher have it; uncaught, the execution fails.
            (
                r#"{"StartAt":"P","States":{"P":{"Type":"Parallel","Branches":[{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"E"}}}],"Retry":[{"ErrorEquals":["E"],"MaxAttempts":0}],"Catch":[{"ErrorEquals":["E"],"ResultPath":"$.e","Next":"Z"}],"End":true},"Z":{"Type":"Pass","End":true}}}"#,
                r#"{"a":1}"#,
            ),
            (
                r#"{"StartAt":"P","States":{"P":{"Type":"Parallel","Branches":[{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"E","Cause":"c"}}}],"Catch":[{"ErrorEquals":["X"],"Next":"Z"}],"End":true},"Z":{"Type":"Pass","End":true}}}"#,
                r#"{"a":1}"#,
            ),
            // The merge target is not an object: the interpreter fails it.
            (
                r#"{"StartAt":"P","States":{"P":{"Type":"Parallel","Branches":[{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"E"}}}],"Catch":[{"ErrorEquals":["E"],"ResultPath":"$.e","Next":"Z"}],"End":true},"Z":{"Type":"Pass","End":true}}}"#,
                "[1]",
            ),
        ] {
            let folding = program(definition);
            assert!(folding.folded.is_some(), "{definition}");
            same(&folding, input, &options);
        }
    }

    #[test]
    fn other_machines_do_not_fold() {
        for definition in [
            // An intrinsic function, the context object, a variable.
            r#"{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"s.$":"States.Format('{}', States.ArrayLength($.a))"},"End":true}}}"#,
            r#"{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"s.$":"States.UUID()"},"End":true}}}"#,
            r#"{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"s.$":"$$.Execution.Id"},"End":true}}}"#,
            r#"{"StartAt":"P","States":{"P":{"Type":"Pass","Assign":{"v":1},"Next":"Q"},"Q":{"Type":"Pass","Parameters":{"v.$":"$v"},"End":true}}}"#,
            // A wildcard, a nested ResultPath, JSONata, a Fail state's cause from a path.
            r#"{"StartAt":"P","States":{"P":{"Type":"Pass","InputPath":"$.a[*]","End":true}}}"#,
            r#"{"StartAt":"P","States":{"P":{"Type":"Pass","ResultPath":"$.a.b","End":true}}}"#,
            r#"{"QueryLanguage":"JSONata","StartAt":"P","States":{"P":{"Type":"Pass","Output":{"a":"{% $states.input.a %}"},"End":true}}}"#,
            r#"{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"E","CausePath":"$.why"}}}"#,
            // A Choice rule reading a variable or the context object; a loop.
            r#"{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$v","IsPresent":true,"Next":"P"}],"Default":"P"},"P":{"Type":"Pass","End":true}}}"#,
            r#"{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$$.Execution.Name","StringEquals":"x","Next":"P"}],"Default":"P"},"P":{"Type":"Pass","End":true}}}"#,
            r#"{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.n","NumericLessThan":3,"Next":"P"}],"Default":"D"},"P":{"Type":"Pass","Next":"C"},"D":{"Type":"Succeed"}}}"#,
            // A retried error (the retry waits); two failing branches.
            r#"{"StartAt":"P","States":{"P":{"Type":"Parallel","Branches":[{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"E"}}}],"Retry":[{"ErrorEquals":["States.ALL"]}],"End":true}}}"#,
            r#"{"StartAt":"P","States":{"P":{"Type":"Parallel","Branches":[{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"E"}}},{"StartAt":"G","States":{"G":{"Type":"Fail","Error":"G"}}}],"End":true}}}"#,
        ] {
            assert!(program(definition).folded.is_none(), "{definition}");
        }
    }
}
