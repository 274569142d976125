//! JSONPath as AWS Step Functions evaluates it.
//!
//! AWS evaluates JSONPath with Jayway JsonPath over Jackson nodes, and its error causes quote
//! Jayway's messages, so this module follows Jayway's rules closely:
//!
//! - a path is *definite* when every step selects at most one value (single names and single
//!   indices); it then yields that value or fails, while an indefinite path yields an array of
//!   matches, possibly empty;
//! - on a definite path, a missing leaf fails with `No results for path: …` and a missing
//!   intermediate with `Missing property in path …`;
//! - an array index past the end selects `null` (Jackson's `ArrayNode.get`), except in
//!   [`Path::select_strict`], which intrinsic function arguments use and where it selects nothing;
//! - `..` scans depth first, a step's own node before its children.
//!
//! Parsing happens once; evaluating a definite path walks the parsed steps without allocating.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt::{self, Write as _};
use std::sync::Arc;

use crate::json::{Map, Number, Value};

/// What a path is evaluated against.
pub trait Roots {
    /// The state input, read by `$…` paths.
    fn input(&self) -> &Value;
    /// The context object, read by `$$…` paths.
    fn context(&self) -> &Value;
    /// A workflow variable, read by `$name…` paths.
    fn variable(&self, name: &str) -> Option<&Value>;
}

/// The value a path starts from.
#[derive(Debug, Clone, PartialEq)]
pub enum Root {
    /// `$`: the state input.
    Input,
    /// `$$`: the context object.
    Context,
    /// `$name`: a workflow variable.
    Variable(Box<str>),
}

/// One step of a path that names single fields and indices only (see [`Path::steps`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Name(Box<str>),
    Index(i64),
}

/// A parsed JSONPath. Cloning is cheap (the parsed form is shared).
#[derive(Debug, Clone)]
pub struct Path {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    source: Box<str>,
    root: Root,
    steps: Steps,
    /// Every step is a single name or a single index: the allocation-free walk applies.
    simple: bool,
}

/// A parsed step list with what evaluation needs to know about each step.
#[derive(Debug, Clone, PartialEq)]
struct Steps {
    segments: Box<[Segment]>,
    /// `upstream[i]`: every step before `i` selects at most one value. Jayway only raises
    /// errors at such steps; elsewhere a mismatch just selects nothing.
    upstream: Box<[bool]>,
    definite: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    /// `.name` or `['name']`.
    Name(Box<str>),
    /// `['a','b']`.
    Names(Box<[Box<str>]>),
    /// `[3]`, `[-1]`.
    Index(i64),
    /// `[0,2]`.
    Indexes(Box<[i64]>),
    /// `[1:3]`, `[1:]`, `[:3]`.
    Slice(Option<i64>, Option<i64>),
    /// `.*`, `[*]`.
    Wildcard,
    /// `..`, always followed by the step it scans for.
    Scan,
    /// `[?(…)]`.
    Filter(Box<Expr>),
}

/// A filter expression.
#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not(Box<Expr>),
    Exists(SubPath),
    Compare(Operand, CompareOp, Operand),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Nin,
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Path(SubPath),
    Literal(Value),
}

/// A path inside a filter: relative to the current item (`@`) or to the document (`$`).
#[derive(Debug, Clone, PartialEq)]
struct SubPath {
    relative: bool,
    steps: Steps,
}

/// Why a path could not be evaluated or applied.
#[derive(Debug, Clone, PartialEq)]
pub struct PathError {
    path: Path,
    kind: Kind,
}

/// The broad kind of a [`PathError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathErrorKind {
    /// The path selects nothing: a missing property, a missing leaf, a step into a value of
    /// the wrong type (Jayway's `PathNotFoundException`).
    NotFound,
    /// An array step or filter met a value that is not an array (Jayway's
    /// `Filter: … can only be applied to arrays`).
    NotAnArray,
    /// `$name` names a variable that is not set.
    UnknownVariable,
    /// A ResultPath could not be applied to its input (`States.ResultPathMatchFailure`).
    ResultPathMismatch,
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    NoResults,
    MissingProperty(usize),
    NotAnObject(usize, &'static str),
    NullArray(usize),
    NotAnArray(usize, String),
    UnknownVariable,
    ResultPath(Box<Value>),
}

const JSON_PROVIDER: &str = "com.jayway.jsonpath.spi.json.JacksonJsonNodeJsonProvider";
const MAX_FILTER_DEPTH: usize = 32;
/// How many `null`s a slice may select before the start of an array (Jayway would loop on).
const MAX_SLICE_UNDERRUN: i64 = 10_000;

static NULL: Value = Value::Null;

/// Parses a JSONPath as allowed in InputPath, OutputPath, `"key.$"` values, ItemsPath, a Choice
/// `Variable` and the `…Path` fields: `$`, `$.a.b`, `$['a b']`, `$.a[0]`, `$.a[-1]`, `$.a[*]`,
/// `$..a`, `$.a[0,1]`, `$.a[1:3]`, `$.a[?(@.x > 1)]`, `$$.Execution.Id`, `$name.x`.
pub fn parse(src: &str) -> Result<Path, String> {
    let text = src.trim();
    let mut parser = Parser::new(text);
    if !parser.eat(b'$') {
        return Err(format!(
            "Invalid JSONPath '{src}': a path must start with '$'"
        ));
    }
    let root = if parser.eat(b'$') {
        Root::Context
    } else if parser
        .peek()
        .is_some_and(|c| c == b'_' || c.is_ascii_alphabetic())
    {
        let start = parser.pos;
        while parser
            .peek()
            .is_some_and(|c| c == b'_' || c.is_ascii_alphanumeric())
        {
            parser.pos += 1;
        }
        Root::Variable(text[start..parser.pos].into())
    } else {
        Root::Input
    };
    let segments = parser.segments(false)?;
    if parser.pos < text.len() {
        return Err(parser.error("unexpected character"));
    }
    let simple = segments
        .iter()
        .all(|s| matches!(s, Segment::Name(_) | Segment::Index(_)));
    Ok(Path {
        inner: Arc::new(Inner {
            source: text.into(),
            root,
            steps: Steps::new(segments),
            simple,
        }),
    })
}

/// Parses a Reference Path (ResultPath, a catcher's ResultPath): `$`, field names and
/// non-negative array indices only; no wildcards, filters, slices, `..`, `$$` or variables.
pub fn parse_reference(src: &str) -> Result<Path, String> {
    let path = parse(src)?;
    let reference = path.inner.root == Root::Input
        && path.inner.steps.segments.iter().all(|s| match s {
            Segment::Name(_) => true,
            Segment::Index(i) => *i >= 0,
            _ => false,
        });
    if reference {
        Ok(path)
    } else {
        Err(format!(
            "Invalid reference path '{}': only '$', field names and non-negative array indices are allowed",
            path.source()
        ))
    }
}

impl Path {
    /// The path as written (trimmed).
    pub fn source(&self) -> &str {
        &self.inner.source
    }

    /// What the path starts from.
    pub fn root(&self) -> &Root {
        &self.inner.root
    }

    /// Whether the path yields at most one value.
    pub fn is_definite(&self) -> bool {
        self.inner.steps.definite
    }

    /// Whether the path is `$` alone: the whole input.
    pub fn is_whole(&self) -> bool {
        self.inner.steps.segments.is_empty() && matches!(self.inner.root, Root::Input)
    }

    /// The top-level fields of its root that evaluating the path may read: the names of its
    /// first step when that step names fields (`$.a…`, `$['a','b']…`) and no filter
    /// appears (a filter may read the whole document); `None` when it may read anything.
    pub fn first_fields(&self) -> Option<Vec<&str>> {
        let segments = &self.inner.steps.segments;
        if segments
            .iter()
            .any(|segment| matches!(segment, Segment::Filter(_)))
        {
            return None;
        }
        match segments.first()? {
            Segment::Name(name) => Some(vec![name]),
            Segment::Names(names) => Some(names.iter().map(|name| &**name).collect()),
            _ => None,
        }
    }

    /// The steps of a path from `$` that names single fields and indices only (`$.a[0].b`);
    /// `None` for any other path.
    pub fn steps(&self) -> Option<Vec<Step>> {
        if self.inner.root != Root::Input || !self.inner.simple {
            return None;
        }
        let steps = self
            .inner
            .steps
            .segments
            .iter()
            .map(|segment| match segment {
                Segment::Name(name) => Some(Step::Name(name.clone())),
                Segment::Index(index) => Some(Step::Index(*index)),
                _ => None,
            });
        steps.collect()
    }

    /// The path from `$` through `steps`: `from_steps(&p.steps()?)` selects what `p` does.
    pub fn from_steps(steps: &[Step]) -> Path {
        let mut source = String::from("$");
        let segments = steps
            .iter()
            .map(|step| match step {
                Step::Name(name) => {
                    let plain = name.bytes().all(|c| c == b'_' || c.is_ascii_alphanumeric());
                    if plain && !name.is_empty() {
                        let _ = write!(source, ".{name}");
                    } else {
                        let _ = write!(
                            source,
                            "['{}']",
                            name.replace('\\', "\\\\").replace('\'', "\\'")
                        );
                    }
                    Segment::Name(name.clone())
                }
                Step::Index(index) => {
                    let _ = write!(source, "[{index}]");
                    Segment::Index(*index)
                }
            })
            .collect();
        Path {
            inner: Arc::new(Inner {
                source: source.into(),
                root: Root::Input,
                steps: Steps::new(segments),
                simple: true,
            }),
        }
    }

    /// Evaluates against the value of its root. A definite path borrows the selected value; an
    /// indefinite one builds an array of the matches (possibly empty, as Jayway does).
    pub fn select<'a>(&self, root_value: &'a Value) -> Result<Cow<'a, Value>, PathError> {
        self.select_with(root_value, false)
    }

    /// Like [`select`](Self::select), but an array index out of range selects nothing instead
    /// of `null`: AWS reads intrinsic function arguments this way.
    pub fn select_strict<'a>(&self, root_value: &'a Value) -> Result<Cow<'a, Value>, PathError> {
        self.select_with(root_value, true)
    }

    /// Picks the root from `roots` (an unknown variable is an error) and selects.
    pub fn resolve<'a>(&self, roots: &'a dyn Roots) -> Result<Cow<'a, Value>, PathError> {
        self.select(self.root_value(roots)?)
    }

    /// Like [`resolve`](Self::resolve), with the strict index rule of [`select_strict`](Self::select_strict).
    pub fn resolve_strict<'a>(&self, roots: &'a dyn Roots) -> Result<Cow<'a, Value>, PathError> {
        self.select_strict(self.root_value(roots)?)
    }

    /// The value this path starts from in `roots`.
    pub fn root_value<'a>(&self, roots: &'a dyn Roots) -> Result<&'a Value, PathError> {
        match &self.inner.root {
            Root::Input => Ok(roots.input()),
            Root::Context => Ok(roots.context()),
            Root::Variable(name) => roots
                .variable(name)
                .ok_or_else(|| self.error(Kind::UnknownVariable)),
        }
    }

    /// ResultPath semantics: puts `value` at this reference path inside `target` and returns the
    /// new whole. `$` replaces the whole; missing intermediate objects are created. It fails
    /// when a step meets a value of the wrong type or an index out of range.
    pub fn put(&self, target: Value, value: Value) -> Result<Value, PathError> {
        let segments = &self.inner.steps.segments;
        if segments.is_empty() {
            return Ok(value);
        }
        if !self.can_put(&target) {
            return Err(self.error(Kind::ResultPath(Box::new(target))));
        }
        let mut target = target;
        let mut value = Some(value);
        let mut cur = &mut target;
        for (i, segment) in segments.iter().enumerate() {
            let last = i + 1 == segments.len();
            cur = match (segment, cur) {
                (Segment::Name(name), Value::Object(map)) => {
                    if last {
                        map.insert(&**name, value.take().unwrap_or(Value::Null));
                        break;
                    }
                    map.get_or_insert_with(&**name, || Value::Object(Map::new()))
                }
                (Segment::Index(index), Value::Array(items)) => {
                    let Some(slot) = usize::try_from(*index).ok().and_then(|i| items.get_mut(i))
                    else {
                        return Err(self.error(Kind::ResultPath(Box::new(Value::Null))));
                    };
                    if last {
                        *slot = value.take().unwrap_or(Value::Null);
                        break;
                    }
                    slot
                }
                _ => return Err(self.error(Kind::ResultPath(Box::new(Value::Null)))),
            };
        }
        Ok(target)
    }

    /// Checks that [`put`](Self::put) can succeed without changing anything.
    fn can_put(&self, target: &Value) -> bool {
        let segments = &self.inner.steps.segments;
        let mut cur = target;
        for (i, segment) in segments.iter().enumerate() {
            let last = i + 1 == segments.len();
            match (segment, cur) {
                (Segment::Name(name), Value::Object(map)) => match map.get(name) {
                    _ if last => return true,
                    Some(next) => cur = next,
                    // Only objects are created, so the rest must be names.
                    None => {
                        return segments[i + 1..]
                            .iter()
                            .all(|s| matches!(s, Segment::Name(_)))
                    }
                },
                (Segment::Index(index), Value::Array(items)) => {
                    match usize::try_from(*index).ok().and_then(|i| items.get(i)) {
                        Some(_) if last => return true,
                        Some(next) => cur = next,
                        None => return false,
                    }
                }
                _ => return false,
            }
        }
        true
    }

    fn select_with<'a>(&self, root: &'a Value, strict: bool) -> Result<Cow<'a, Value>, PathError> {
        let steps = &self.inner.steps;
        if self.inner.simple {
            return self
                .walk_simple(root, strict)
                .map(Cow::Borrowed)
                .map_err(|fail| self.fail(fail));
        }
        let walker = Walker {
            steps,
            doc: root,
            strict,
            require: false,
        };
        let mut out = Vec::new();
        match walker.run(root, &mut out) {
            Ok(()) => {}
            // AWS answers an indefinite path that misses with an empty array.
            Err(fail) if !steps.definite && fail.is_miss(&steps.segments) => {
                return Ok(Cow::Owned(Value::from(Vec::new())))
            }
            Err(fail) => return Err(self.fail(fail)),
        }
        if steps.definite {
            out.pop().ok_or_else(|| self.error(Kind::NoResults))
        } else {
            Ok(Cow::Owned(Value::Array(
                out.into_iter().map(Cow::into_owned).collect(),
            )))
        }
    }

    /// The allocation-free walk of a path made of single names and single indices.
    fn walk_simple<'a>(&self, root: &'a Value, strict: bool) -> Result<&'a Value, Fail> {
        let segments = &self.inner.steps.segments;
        let mut cur = root;
        for (i, segment) in segments.iter().enumerate() {
            cur = match segment {
                Segment::Name(name) => match cur {
                    Value::Object(map) => match map.get(name) {
                        Some(next) => next,
                        None if i + 1 == segments.len() => return Err(Fail::NoResults),
                        None => return Err(Fail::MissingProperty(i)),
                    },
                    other => return Err(Fail::NotAnObject(i, class_name(other, i == 0))),
                },
                Segment::Index(index) => match array_of(cur, i, true)? {
                    Some(items) => match element(items, *index) {
                        Some(next) => next,
                        None if strict => return Err(Fail::NoResults),
                        None => &NULL,
                    },
                    None => return Err(Fail::NoResults),
                },
                // `simple` paths hold only the two kinds above.
                _ => return Err(Fail::NoResults),
            };
        }
        Ok(cur)
    }

    fn error(&self, kind: Kind) -> PathError {
        PathError {
            path: self.clone(),
            kind,
        }
    }

    fn fail(&self, fail: Fail) -> PathError {
        self.error(match fail {
            Fail::NoResults => Kind::NoResults,
            Fail::MissingProperty(at) => Kind::MissingProperty(at),
            Fail::NotAnObject(at, found) => Kind::NotAnObject(at, found),
            Fail::NullArray(at) => Kind::NullArray(at),
            Fail::NotAnArray(at, context) => Kind::NotAnArray(at, context),
        })
    }
}

impl PartialEq for Path {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
            || (self.inner.source == other.inner.source && self.inner.root == other.inner.root)
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.source())
    }
}

impl PathError {
    /// The broad kind of failure.
    pub fn kind(&self) -> PathErrorKind {
        match self.kind {
            Kind::NoResults
            | Kind::MissingProperty(_)
            | Kind::NotAnObject(..)
            | Kind::NullArray(_) => PathErrorKind::NotFound,
            Kind::NotAnArray(..) => PathErrorKind::NotAnArray,
            Kind::UnknownVariable => PathErrorKind::UnknownVariable,
            Kind::ResultPath(_) => PathErrorKind::ResultPathMismatch,
        }
    }

    /// Whether the path selected nothing (a missing property or variable, a step into a value
    /// of the wrong type): a Choice `IsPresent` reads this as "not present".
    pub fn is_missing(&self) -> bool {
        matches!(
            self.kind(),
            PathErrorKind::NotFound | PathErrorKind::UnknownVariable
        )
    }

    /// The path that failed.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The failure without the `Invalid path '…' : ` prefix: Jayway's own message, such as
    /// `No results for path: $['a']`.
    pub fn detail(&self) -> String {
        let steps = &self.path.inner.steps.segments;
        match &self.kind {
            Kind::NoResults => format!("No results for path: {}", Jayway(steps)),
            Kind::MissingProperty(at) => {
                format!("Missing property in path {}", Jayway(&steps[..=*at]))
            }
            Kind::NotAnObject(at, found) => format!(
                "Expected to find an object with property {} in path {} but found '{found}'. \
                 This is not a json object according to the JsonProvider: '{JSON_PROVIDER}'.",
                Fragment(&steps[*at]),
                Jayway(&steps[..*at])
            ),
            Kind::NullArray(at) => format!("The path {} is null", Jayway(&steps[..*at])),
            Kind::NotAnArray(at, context) => format!(
                "Filter: {} can only be applied to arrays. Current context is: {context}",
                Fragments(&steps[*at..])
            ),
            Kind::UnknownVariable => match &self.path.inner.root {
                Root::Variable(name) => format!("The variable '${name}' is not defined"),
                _ => "The variable is not defined".to_string(),
            },
            Kind::ResultPath(target) => {
                let mut text = format!(
                    "Unable to apply ReferencePath {} to input ",
                    self.path.source()
                );
                write_text(target, TextStyle::Json, &mut text);
                text
            }
        }
    }
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Kind::ResultPath(_) => f.write_str(&self.detail()),
            _ => write!(
                f,
                "Invalid path '{}' : {}",
                self.path.source(),
                self.detail()
            ),
        }
    }
}

impl std::error::Error for PathError {}

/// An evaluation failure, before it is tied to its path.
#[derive(Debug)]
enum Fail {
    NoResults,
    MissingProperty(usize),
    NotAnObject(usize, &'static str),
    NullArray(usize),
    NotAnArray(usize, String),
}

impl Fail {
    /// Whether Jayway reports this as a path that matches nothing (`PathNotFoundException`),
    /// rather than as an invalid path (a filter applied to a scalar).
    fn is_miss(&self, segments: &[Segment]) -> bool {
        match self {
            Fail::NotAnArray(at, _) => !matches!(segments.get(*at), Some(Segment::Filter(_))),
            _ => true,
        }
    }
}

impl Steps {
    fn new(segments: Vec<Segment>) -> Steps {
        let count = segments.len();
        let mut upstream = Vec::with_capacity(count);
        let mut definite = true;
        for (i, segment) in segments.iter().enumerate() {
            upstream.push(definite);
            definite &= match segment {
                Segment::Name(_) | Segment::Index(_) => true,
                Segment::Names(_) => i + 1 == count,
                _ => false,
            };
        }
        Steps {
            segments: segments.into(),
            upstream: upstream.into(),
            definite,
        }
    }
}

/// The array in `node` for an array step at `at`; `Ok(None)` when the step selects nothing.
fn array_of(node: &Value, at: usize, upstream: bool) -> Result<Option<&[Value]>, Fail> {
    match node {
        Value::Array(items) => Ok(Some(items)),
        _ if !upstream => Ok(None),
        // Below the root a JSON null is a Java null, which Jayway reports differently.
        Value::Null if at > 0 => Err(Fail::NullArray(at)),
        other => Err(Fail::NotAnArray(at, context_text(other, at == 0))),
    }
}

/// The element at a Jayway index (negative counts from the end); `None` when out of range.
fn element(items: &[Value], index: i64) -> Option<&Value> {
    let effective = if index < 0 {
        index + items.len() as i64
    } else {
        index
    };
    usize::try_from(effective).ok().and_then(|i| items.get(i))
}

/// Evaluates a step list depth first, in Jayway's order.
struct Walker<'a, 'p> {
    steps: &'p Steps,
    /// What `$` means inside filters.
    doc: &'a Value,
    /// An index out of range selects nothing instead of `null`.
    strict: bool,
    /// Jayway's REQUIRE_PROPERTIES, used for existence checks in filters.
    require: bool,
}

enum Frame<'a> {
    /// Apply step `.1` to the node (past the last step: a result).
    Apply(&'a Value, usize),
    /// Scan the node and its descendants for the step after the `..` at `.1`.
    Walk(&'a Value, usize),
}

impl<'a> Walker<'a, '_> {
    fn run(&self, start: &'a Value, out: &mut Vec<Cow<'a, Value>>) -> Result<(), Fail> {
        let segments = &self.steps.segments;
        let mut stack = vec![Frame::Apply(start, 0)];
        while let Some(frame) = stack.pop() {
            match frame {
                Frame::Apply(node, i) => match segments.get(i) {
                    None => out.push(Cow::Borrowed(node)),
                    Some(segment) => self.apply(segment, node, i, &mut stack, out)?,
                },
                Frame::Walk(node, i) => self.walk(node, i, &mut stack),
            }
        }
        Ok(())
    }

    fn apply(
        &self,
        segment: &Segment,
        node: &'a Value,
        i: usize,
        stack: &mut Vec<Frame<'a>>,
        out: &mut Vec<Cow<'a, Value>>,
    ) -> Result<(), Fail> {
        let upstream = self.steps.upstream[i];
        let leaf = i + 1 == self.steps.segments.len();
        let next = i + 1;
        match segment {
            Segment::Name(name) => {
                if let Some(found) = self.property(node, name, i, upstream, true, leaf)? {
                    stack.push(Frame::Apply(found, next));
                }
            }
            Segment::Names(names) => {
                let Value::Object(map) = node else {
                    return if upstream {
                        Err(Fail::NotAnObject(i, class_name(node, i == 0)))
                    } else {
                        Ok(())
                    };
                };
                if leaf {
                    // Jayway merges the properties that exist into one object.
                    let mut merged = Map::new();
                    for name in names.iter() {
                        if let Some(value) = map.get(name) {
                            merged.insert(name.to_string(), value.clone());
                        } else if self.require {
                            return Err(Fail::MissingProperty(i));
                        }
                    }
                    out.push(Cow::Owned(Value::Object(merged)));
                } else {
                    for name in names.iter().rev() {
                        if let Some(found) = self.property(node, name, i, upstream, false, false)? {
                            stack.push(Frame::Apply(found, next));
                        }
                    }
                }
            }
            Segment::Index(index) => {
                if let Some(items) = array_of(node, i, upstream)? {
                    if let Some(found) = self.index(items, *index) {
                        stack.push(Frame::Apply(found, next));
                    }
                }
            }
            Segment::Indexes(indexes) => {
                if let Some(items) = array_of(node, i, upstream)? {
                    for index in indexes.iter().rev() {
                        if let Some(found) = self.index(items, *index) {
                            stack.push(Frame::Apply(found, next));
                        }
                    }
                }
            }
            Segment::Slice(from, to) => {
                if let Some(items) = array_of(node, i, upstream)? {
                    let (start, end) = slice_bounds(items.len() as i64, *from, *to);
                    for index in (start..end).rev() {
                        if let Some(found) = self.index(items, index) {
                            stack.push(Frame::Apply(found, next));
                        }
                    }
                }
            }
            Segment::Wildcard => match node {
                Value::Object(map) => {
                    stack.extend(map.values().rev().map(|v| Frame::Apply(v, next)))
                }
                Value::Array(items) => {
                    stack.extend(items.iter().rev().map(|v| Frame::Apply(v, next)))
                }
                _ => {}
            },
            Segment::Scan => stack.push(Frame::Walk(node, i)),
            Segment::Filter(expr) => match node {
                Value::Object(_) if self.accept(expr, node) => stack.push(Frame::Apply(node, next)),
                Value::Object(_) => {}
                Value::Array(items) => {
                    let accepted: Vec<&'a Value> = items
                        .iter()
                        .filter(|item| self.accept(expr, item))
                        .collect();
                    stack.extend(accepted.into_iter().rev().map(|v| Frame::Apply(v, next)));
                }
                other if upstream => return Err(Fail::NotAnArray(i, context_text(other, i == 0))),
                _ => {}
            },
        }
        Ok(())
    }

    /// Jayway's single-property step; `Ok(None)` when it selects nothing without failing.
    fn property(
        &self,
        node: &'a Value,
        name: &str,
        i: usize,
        upstream: bool,
        definite: bool,
        leaf: bool,
    ) -> Result<Option<&'a Value>, Fail> {
        match node {
            Value::Object(map) => match map.get(name) {
                Some(found) => Ok(Some(found)),
                None if leaf => {
                    if self.require {
                        Err(Fail::NoResults)
                    } else {
                        Ok(None)
                    }
                }
                None if (upstream && definite) || self.require => Err(Fail::MissingProperty(i)),
                None => Ok(None),
            },
            other if upstream => Err(Fail::NotAnObject(i, class_name(other, i == 0))),
            _ => Ok(None),
        }
    }

    fn index(&self, items: &'a [Value], index: i64) -> Option<&'a Value> {
        match element(items, index) {
            Some(found) => Some(found),
            None if self.strict => None,
            None => Some(&NULL),
        }
    }

    /// One step of a `..` scan at `node`, for the step after the scan at `i`.
    fn walk(&self, node: &'a Value, i: usize, stack: &mut Vec<Frame<'a>>) {
        let Some(target) = self.steps.segments.get(i + 1) else {
            return;
        };
        let target_leaf = i + 2 == self.steps.segments.len();
        match node {
            Value::Object(map) => {
                stack.extend(map.values().rev().map(|v| Frame::Walk(v, i)));
                if self.scan_matches(target, target_leaf, node) {
                    stack.push(Frame::Apply(node, i + 1));
                }
            }
            Value::Array(items) => {
                stack.extend(items.iter().rev().map(|v| Frame::Walk(v, i)));
                if self.scan_matches(target, target_leaf, node) {
                    if target_leaf {
                        stack.push(Frame::Apply(node, i + 1));
                    } else {
                        // Jayway applies the steps after the target to every element.
                        stack.extend(items.iter().rev().map(|v| Frame::Apply(v, i + 2)));
                    }
                }
            }
            _ => {}
        }
    }

    fn scan_matches(&self, target: &Segment, leaf: bool, node: &Value) -> bool {
        match target {
            Segment::Name(name) => node.as_object().is_some_and(|map| map.contains_key(name)),
            Segment::Names(names) => match node {
                Value::Object(map) => !leaf || names.iter().all(|name| map.contains_key(name)),
                _ => false,
            },
            Segment::Index(_) | Segment::Indexes(_) | Segment::Slice(..) => node.is_array(),
            Segment::Wildcard => true,
            Segment::Filter(expr) => self.accept(expr, node),
            Segment::Scan => false,
        }
    }

    /// Whether a filter accepts `item`. Filter nesting is bounded when parsing.
    fn accept(&self, expr: &Expr, item: &Value) -> bool {
        match expr {
            Expr::Or(parts) => parts.iter().any(|part| self.accept(part, item)),
            Expr::And(parts) => parts.iter().all(|part| self.accept(part, item)),
            Expr::Not(inner) => !self.accept(inner, item),
            Expr::Exists(sub) => self.operand(sub, item, true).is_some(),
            Expr::Compare(left, op, right) => {
                let left = self.value(left, item);
                let right = self.value(right, item);
                compare(left.as_deref(), *op, right.as_deref())
            }
        }
    }

    fn value<'v>(&self, operand: &'v Operand, item: &'v Value) -> Option<Cow<'v, Value>>
    where
        'a: 'v,
    {
        match operand {
            Operand::Literal(value) => Some(Cow::Borrowed(value)),
            Operand::Path(sub) => self.operand(sub, item, false),
        }
    }

    /// Evaluates a filter path; `None` when it selects nothing (Jayway's undefined).
    fn operand<'v>(
        &self,
        sub: &'v SubPath,
        item: &'v Value,
        require: bool,
    ) -> Option<Cow<'v, Value>>
    where
        'a: 'v,
    {
        let start = if sub.relative { item } else { self.doc };
        let walker = Walker {
            steps: &sub.steps,
            doc: self.doc,
            strict: false,
            require,
        };
        let mut out = Vec::new();
        walker.run(start, &mut out).ok()?;
        if sub.steps.definite {
            out.pop()
        } else {
            Some(Cow::Owned(Value::Array(
                out.into_iter().map(Cow::into_owned).collect(),
            )))
        }
    }
}

/// Jayway's slice bounds: `[from:]`, `[from:to]` and `[:to]`, as a half-open index range whose
/// indices go through the usual index rule (negative ones count from the end).
fn slice_bounds(len: i64, from: Option<i64>, to: Option<i64>) -> (i64, i64) {
    match (from, to) {
        (Some(from), None) => {
            let from = if from < 0 { len + from } else { from }.max(0);
            if len == 0 || from >= len {
                (0, 0)
            } else {
                (from, len)
            }
        }
        (Some(from), Some(to)) => {
            let to = to.min(len);
            if from >= to || len == 0 {
                (0, 0)
            } else {
                (from.max(-len - MAX_SLICE_UNDERRUN), to)
            }
        }
        (None, Some(to)) => {
            if len == 0 {
                return (0, 0);
            }
            let to = if to < 0 { len + to } else { to }.min(len);
            (0, to.max(0))
        }
        (None, None) => (0, 0),
    }
}

/// Compares two filter operands the way Jayway's evaluators do.
fn compare(left: Option<&Value>, op: CompareOp, right: Option<&Value>) -> bool {
    match op {
        CompareOp::Eq => loosely_equal(left, right),
        CompareOp::Ne => !loosely_equal(left, right),
        CompareOp::In => in_list(left, right),
        CompareOp::Nin => !in_list(left, right),
        CompareOp::Lt | CompareOp::Le | CompareOp::Gt | CompareOp::Ge => {
            let ordering = match (left, right) {
                (Some(Value::Number(a)), Some(Value::Number(b))) => compare_numbers(a, b),
                (Some(Value::String(a)), Some(Value::String(b))) => {
                    Some(a.encode_utf16().cmp(b.encode_utf16()))
                }
                _ => None,
            };
            let Some(ordering) = ordering else {
                return false;
            };
            match op {
                CompareOp::Lt => ordering == Ordering::Less,
                CompareOp::Le => ordering != Ordering::Greater,
                CompareOp::Gt => ordering == Ordering::Greater,
                _ => ordering != Ordering::Less,
            }
        }
    }
}

fn in_list(left: Option<&Value>, right: Option<&Value>) -> bool {
    match (left, right) {
        (Some(_), Some(Value::Array(items))) => {
            items.iter().any(|item| loosely_equal(left, Some(item)))
        }
        _ => false,
    }
}

/// Jayway's `==`: numbers and strings compare across types (a number with a string parsed as a
/// number, a string with a number written as text); objects and arrays compare structurally.
fn loosely_equal(left: Option<&Value>, right: Option<&Value>) -> bool {
    let (Some(left), Some(right)) = (left, right) else {
        return false;
    };
    match (left, right) {
        (Value::Number(a), Value::Number(b)) => compare_numbers(a, b) == Some(Ordering::Equal),
        (Value::Number(a), Value::String(b)) => {
            let parsed = b
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite() && is_decimal(b));
            parsed
                .and_then(Number::from_f64)
                .is_some_and(|b| compare_numbers(a, &b) == Some(Ordering::Equal))
        }
        (Value::String(a), Value::Number(b)) => *a == decimal_text(b),
        (Value::String(a), Value::String(b)) => a == b,
        (Value::Bool(a), Value::Bool(b)) => a == b,
        (Value::Null, Value::Null) => true,
        (Value::Object(_), Value::Object(_)) | (Value::Array(_), Value::Array(_)) => left == right,
        _ => false,
    }
}

/// Whether text reads as a Java `BigDecimal`.
fn is_decimal(text: &str) -> bool {
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
}

fn compare_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    if let (Some(a), Some(b)) = (a.as_i64(), b.as_i64()) {
        return Some(a.cmp(&b));
    }
    if let (Some(a), Some(b)) = (a.as_u64(), b.as_u64()) {
        return Some(a.cmp(&b));
    }
    a.as_f64()?.partial_cmp(&b.as_f64()?)
}

/// A number as Java's `BigDecimal.toString` writes the number Jackson read.
fn decimal_text(number: &Number) -> String {
    if number.is_i64() || number.is_u64() {
        return number.to_string();
    }
    let mut java = String::new();
    java_double(number.as_f64().unwrap_or(0.0), &mut java);
    let (negative, body) = match java.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, java.as_str()),
    };
    let (mantissa, exponent) = match body.split_once('E') {
        Some((m, e)) => (m, e.parse::<i64>().unwrap_or(0)),
        None => (body, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{whole}{fraction}");
    let scale = fraction.len() as i64 - exponent;
    let adjusted = digits.len() as i64 - 1 - scale;
    let mut text = String::new();
    if negative {
        text.push('-');
    }
    if scale >= 0 && adjusted >= -6 {
        let point = digits.len() as i64 - scale;
        if point <= 0 {
            text.push_str("0.");
            text.push_str(&"0".repeat((-point) as usize));
            text.push_str(&digits);
        } else {
            let (int, frac) = digits.split_at(point as usize);
            text.push_str(int);
            if !frac.is_empty() {
                text.push('.');
                text.push_str(frac);
            }
        }
    } else {
        let (first, rest) = digits.split_at(1);
        text.push_str(first);
        if !rest.is_empty() {
            text.push('.');
            text.push_str(rest);
        }
        let _ = write!(text, "E{}{adjusted}", if adjusted >= 0 { "+" } else { "" });
    }
    text
}

/// The class Jayway names in "but found '…'": Jackson node classes at the root, the unwrapped
/// Java value below it.
fn class_name(value: &Value, at_root: bool) -> &'static str {
    match (value, at_root) {
        (Value::Object(_), _) => "com.fasterxml.jackson.databind.node.ObjectNode",
        (Value::Array(_), _) => "com.fasterxml.jackson.databind.node.ArrayNode",
        (Value::String(_), true) => "com.fasterxml.jackson.databind.node.TextNode",
        (Value::String(_), false) => "java.lang.String",
        (Value::Bool(_), true) => "com.fasterxml.jackson.databind.node.BooleanNode",
        (Value::Bool(_), false) => "java.lang.Boolean",
        (Value::Null, true) => "com.fasterxml.jackson.databind.node.NullNode",
        (Value::Null, false) => "null",
        (Value::Number(n), root) => {
            let (node, java) = if n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()) {
                ("IntNode", "java.lang.Integer")
            } else if n.is_i64() {
                ("LongNode", "java.lang.Long")
            } else if n.is_u64() {
                ("BigIntegerNode", "java.math.BigInteger")
            } else {
                ("DoubleNode", "java.lang.Double")
            };
            match (root, node) {
                (false, _) => java,
                (true, "IntNode") => "com.fasterxml.jackson.databind.node.IntNode",
                (true, "LongNode") => "com.fasterxml.jackson.databind.node.LongNode",
                (true, "BigIntegerNode") => "com.fasterxml.jackson.databind.node.BigIntegerNode",
                (true, _) => "com.fasterxml.jackson.databind.node.DoubleNode",
            }
        }
    }
}

/// How Jayway prints the value it met in "Current context is: …": Jackson's JSON for nodes
/// (the root, objects, arrays), Java's `toString` for unwrapped scalars.
fn context_text(value: &Value, at_root: bool) -> String {
    let style = if at_root || value.is_object() || value.is_array() {
        TextStyle::Json
    } else {
        TextStyle::Java
    };
    let mut text = String::new();
    write_text(value, style, &mut text);
    text
}

/// Jayway's normalized path text: `$['a'][0]`.
struct Jayway<'s>(&'s [Segment]);

impl fmt::Display for Jayway<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('$')?;
        Fragments(self.0).fmt(f)
    }
}

/// Jayway's text of a run of steps (a token's `toString`).
struct Fragments<'s>(&'s [Segment]);

impl fmt::Display for Fragments<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0
            .iter()
            .try_for_each(|segment| Fragment(segment).fmt(f))
    }
}

/// Jayway's text of one step.
struct Fragment<'s>(&'s Segment);

impl fmt::Display for Fragment<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Segment::Name(name) => write!(f, "['{name}']"),
            Segment::Names(names) => {
                f.write_char('[')?;
                for (i, name) in names.iter().enumerate() {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    write!(f, "'{name}'")?;
                }
                f.write_char(']')
            }
            Segment::Index(index) => write!(f, "[{index}]"),
            Segment::Indexes(indexes) => {
                f.write_char('[')?;
                for (i, index) in indexes.iter().enumerate() {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    write!(f, "{index}")?;
                }
                f.write_char(']')
            }
            Segment::Slice(from, to) => {
                f.write_char('[')?;
                if let Some(from) = from {
                    write!(f, "{from}")?;
                }
                f.write_char(':')?;
                if let Some(to) = to {
                    write!(f, "{to}")?;
                }
                f.write_char(']')
            }
            Segment::Wildcard => f.write_str("[*]"),
            Segment::Scan => f.write_str(".."),
            Segment::Filter(_) => f.write_str("[?]"),
        }
    }
}

/// How a value is written as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextStyle {
    /// Compact JSON as Jackson writes it (doubles in Java's notation, e.g. `1.0E20`).
    Json,
    /// Java's `toString` of the value read into maps and lists: strings unquoted, objects as
    /// `{a=1, b=[x, y]}`.
    Java,
}

/// Writes `value` as text in `style`, without recursion (any nesting depth is safe).
pub(crate) fn write_text(value: &Value, style: TextStyle, out: &mut String) {
    enum Piece<'v> {
        Value(&'v Value),
        Raw(&'static str),
        Key(&'v str),
    }
    let separator = if style == TextStyle::Json { "," } else { ", " };
    // The stack allocates only for containers; a scalar, the common case, needs none.
    let mut stack = Vec::new();
    let mut first = Some(Piece::Value(value));
    while let Some(piece) = first.take().or_else(|| stack.pop()) {
        match piece {
            Piece::Raw(text) => out.push_str(text),
            Piece::Key(key) => {
                if style == TextStyle::Json {
                    write_json_string(key, out);
                    out.push(':');
                } else {
                    out.push_str(key);
                    out.push('=');
                }
            }
            Piece::Value(value) => match value {
                Value::Null => out.push_str("null"),
                Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                Value::Number(n) => write_number(n, out),
                Value::String(s) if style == TextStyle::Json => write_json_string(s, out),
                Value::String(s) => out.push_str(s),
                Value::Array(items) => {
                    out.push('[');
                    stack.push(Piece::Raw("]"));
                    for (i, item) in items.iter().enumerate().rev() {
                        stack.push(Piece::Value(item));
                        if i > 0 {
                            stack.push(Piece::Raw(separator));
                        }
                    }
                }
                Value::Object(map) => {
                    out.push('{');
                    stack.push(Piece::Raw("}"));
                    for (i, (key, item)) in map.iter().enumerate().rev() {
                        stack.push(Piece::Value(item));
                        stack.push(Piece::Key(key));
                        if i > 0 {
                            stack.push(Piece::Raw(separator));
                        }
                    }
                }
            },
        }
    }
}

/// Writes a number as Java does: integers in full, doubles as `Double.toString`.
pub(crate) fn write_number(number: &Number, out: &mut String) {
    if let Some(value) = number.as_u64() {
        out.push_str(itoa::Buffer::new().format(value));
    } else if let Some(value) = number.as_i64() {
        out.push_str(itoa::Buffer::new().format(value));
    } else {
        java_double(number.as_f64().unwrap_or(0.0), out);
    }
}

/// Writes a double as Java's `Double.toString`: `1.0`, `0.001`, `1234567.0`, `1.0E7`, `1.0E-4`.
pub(crate) fn java_double(value: f64, out: &mut String) {
    if !value.is_finite() {
        out.push_str(if value.is_nan() {
            "NaN"
        } else if value > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        });
        return;
    }
    if value == 0.0 {
        out.push_str(if value.is_sign_negative() {
            "-0.0"
        } else {
            "0.0"
        });
        return;
    }
    // Rust's `{:e}` gives the shortest digits that read back exactly, e.g. `1.25e-5`.
    let scientific = format!("{:e}", value.abs());
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i64 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if value < 0.0 {
        out.push('-');
    }
    let magnitude = value.abs();
    if (1e-3..1e7).contains(&magnitude) {
        let point = exponent + 1;
        if point <= 0 {
            out.push_str("0.");
            out.push_str(&"0".repeat((-point) as usize));
            out.push_str(&digits);
        } else if point as usize >= digits.len() {
            out.push_str(&digits);
            out.push_str(&"0".repeat(point as usize - digits.len()));
            out.push_str(".0");
        } else {
            let (int, frac) = digits.split_at(point as usize);
            out.push_str(int);
            out.push('.');
            out.push_str(frac);
        }
    } else {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        out.push('.');
        out.push_str(if rest.is_empty() { "0" } else { rest });
        let _ = write!(out, "E{exponent}");
    }
}

/// Writes a JSON string literal with Jackson's escapes.
fn write_json_string(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A cursor over a path's text.
struct Parser<'s> {
    text: &'s str,
    pos: usize,
    depth: usize,
}

impl<'s> Parser<'s> {
    fn new(text: &'s str) -> Self {
        Parser {
            text,
            pos: 0,
            depth: 0,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<u8> {
        self.text.as_bytes().get(self.pos + offset).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        if found {
            self.pos += 1;
        }
        found
    }

    fn eat_str(&mut self, token: &str) -> bool {
        let found = self.text[self.pos..].starts_with(token);
        if found {
            self.pos += token.len();
        }
        found
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), String> {
        if self.eat(byte) {
            Ok(())
        } else {
            Err(self.error(&format!("expected '{}'", byte as char)))
        }
    }

    fn error(&self, message: &str) -> String {
        format!(
            "Invalid JSONPath '{}': {message} at position {}",
            self.text, self.pos
        )
    }

    /// Reads steps up to the end of the text or, inside a filter, up to a character that ends
    /// a filter path.
    fn segments(&mut self, in_filter: bool) -> Result<Vec<Segment>, String> {
        let mut segments = Vec::new();
        loop {
            match self.peek() {
                None => break,
                Some(b'.') if self.peek_at(1) == Some(b'.') => {
                    self.pos += 2;
                    segments.push(Segment::Scan);
                    match self.peek() {
                        Some(b'[') => segments.push(self.bracket()?),
                        Some(b'*') => {
                            self.pos += 1;
                            segments.push(Segment::Wildcard);
                        }
                        _ => segments.push(self.name(in_filter)?),
                    }
                }
                Some(b'.') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(b'[') => segments.push(self.bracket()?),
                        Some(b'*') => {
                            self.pos += 1;
                            segments.push(Segment::Wildcard);
                        }
                        _ => segments.push(self.name(in_filter)?),
                    }
                }
                Some(b'[') => segments.push(self.bracket()?),
                Some(_) if in_filter => break,
                Some(_) => return Err(self.error("unexpected character")),
            }
        }
        Ok(segments)
    }

    /// A dot-notation name.
    fn name(&mut self, in_filter: bool) -> Result<Segment, String> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            match c {
                b'.' | b'[' => break,
                b' ' | b')' | b'<' | b'>' | b'=' | b'!' | b'~' | b'&' | b'|' | b','
                    if in_filter =>
                {
                    break
                }
                c if in_filter && c.is_ascii_whitespace() => break,
                b' ' => {
                    return Err(
                        self.error("use bracket notation ['my prop'] for a property with blanks")
                    )
                }
                b'(' => return Err(self.error("functions are not supported")),
                _ => self.pos += 1,
            }
        }
        if self.pos == start {
            return Err(
                self.error("a path must not end with '.' or '..' or hold an empty property name")
            );
        }
        Ok(Segment::Name(self.text[start..self.pos].into()))
    }

    /// A `[…]` step.
    fn bracket(&mut self) -> Result<Segment, String> {
        self.expect(b'[')?;
        self.skip_spaces();
        match self.peek() {
            Some(b'\'' | b'"') => {
                let mut names = Vec::new();
                loop {
                    self.skip_spaces();
                    if !matches!(self.peek(), Some(b'\'' | b'"')) {
                        return Err(self.error("expected a quoted property name"));
                    }
                    names.push(self.quoted_name()?.into_boxed_str());
                    self.skip_spaces();
                    if self.eat(b']') {
                        break;
                    }
                    self.expect(b',')?;
                }
                Ok(if names.len() == 1 {
                    Segment::Name(names.remove(0))
                } else {
                    Segment::Names(names.into())
                })
            }
            Some(b'*') => {
                self.pos += 1;
                self.skip_spaces();
                self.expect(b']')?;
                Ok(Segment::Wildcard)
            }
            Some(b'?') => {
                self.pos += 1;
                self.skip_spaces();
                self.expect(b'(')?;
                let expr = self.or_expr()?;
                self.skip_spaces();
                self.expect(b')')?;
                self.skip_spaces();
                self.expect(b']')?;
                Ok(Segment::Filter(Box::new(expr)))
            }
            _ => {
                let start = self.pos;
                let Some(length) = self.text[start..].find(']') else {
                    return Err(self.error("unclosed '['"));
                };
                let content = &self.text[start..start + length];
                self.pos = start + length + 1;
                self.indexes(content)
            }
        }
    }

    /// The inside of `[0]`, `[0,1]` or `[1:3]`.
    fn indexes(&self, content: &str) -> Result<Segment, String> {
        let invalid = || self.error(&format!("invalid array index '[{content}]'"));
        let number = |text: &str| -> Result<Option<i64>, String> {
            let text = text.trim();
            if text.is_empty() {
                return Ok(None);
            }
            text.parse::<i32>()
                .map(|i| Some(i64::from(i)))
                .map_err(|_| invalid())
        };
        if content.contains(':') {
            let mut parts = content.split(':');
            let from = number(parts.next().unwrap_or(""))?;
            let to = number(parts.next().unwrap_or(""))?;
            if from.is_none() && to.is_none() {
                return Err(invalid());
            }
            return Ok(Segment::Slice(from, to));
        }
        let mut indexes = Vec::new();
        for part in content.split(',') {
            indexes.push(number(part)?.ok_or_else(invalid)?);
        }
        Ok(if indexes.len() == 1 {
            Segment::Index(indexes[0])
        } else {
            Segment::Indexes(indexes.into())
        })
    }

    /// backslash is kept as it is (AWS matches `$['a\"b']` against the key `a\"b`).
    /// backslash is kept as it is (AWS matches `$['a\\"b']` against the key `a\\"b`).
    fn quoted_name(&mut self) -> Result<String, String> {
        let Some(quote) = self.peek() else {
            return Err(self.error("expected a quote"));
        };
        self.pos += 1;
        let mut text = String::new();
        loop {
            let Some(c) = self.text[self.pos..].chars().next() else {
                return Err(self.error("unterminated string"));
            };
            self.pos += c.len_utf8();
            if c as u32 == u32::from(quote) {
                return Ok(text);
            }
            if c == '\\' && self.peek() == Some(quote) {
                self.pos += 1;
                text.push(char::from(quote));
            } else {
                text.push(c);
            }
        }
    }

    /// A quoted string with Java-style escapes.
    fn quoted(&mut self) -> Result<String, String> {
        let Some(quote) = self.peek() else {
            return Err(self.error("expected a quote"));
        };
        self.pos += 1;
        let mut text = String::new();
        loop {
            let Some(c) = self.text[self.pos..].chars().next() else {
                return Err(self.error("unterminated string"));
            };
            self.pos += c.len_utf8();
            match c {
                c if c as u32 == u32::from(quote) => return Ok(text),
                '\\' => {
                    let Some(escaped) = self.text[self.pos..].chars().next() else {
                        return Err(self.error("unterminated string"));
                    };
                    self.pos += escaped.len_utf8();
                    match escaped {
                        'n' => text.push('\n'),
                        't' => text.push('\t'),
                        'r' => text.push('\r'),
                        'b' => text.push('\u{8}'),
                        'f' => text.push('\u{c}'),
                        'u' => {
                            let hex = self
                                .text
                                .get(self.pos..self.pos + 4)
                                .ok_or_else(|| self.error("bad \\u escape"))?;
                            let code = u32::from_str_radix(hex, 16)
                                .map_err(|_| self.error("bad \\u escape"))?;
                            text.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                            self.pos += 4;
                        }
                        other => text.push(other),
                    }
                }
                c => text.push(c),
            }
        }
    }

    fn enter(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_FILTER_DEPTH {
            return Err(self.error("filter nested too deeply"));
        }
        Ok(())
    }

    fn or_expr(&mut self) -> Result<Expr, String> {
        self.enter()?;
        let mut parts = vec![self.and_expr()?];
        loop {
            self.skip_spaces();
            if !self.eat_str("||") {
                break;
            }
            parts.push(self.and_expr()?);
        }
        self.depth -= 1;
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::Or(parts)
        })
    }

    fn and_expr(&mut self) -> Result<Expr, String> {
        let mut parts = vec![self.unary()?];
        loop {
            self.skip_spaces();
            if !self.eat_str("&&") {
                break;
            }
            parts.push(self.unary()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::And(parts)
        })
    }

    fn unary(&mut self) -> Result<Expr, String> {
        self.skip_spaces();
        if self.peek() == Some(b'!') && self.peek_at(1) != Some(b'=') {
            self.pos += 1;
            self.enter()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        if self.eat(b'(') {
            let inner = self.or_expr()?;
            self.skip_spaces();
            self.expect(b')')?;
            return Ok(inner);
        }
        let left = self.operand()?;
        self.skip_spaces();
        let op = if self.eat_str("==") {
            CompareOp::Eq
        } else if self.eat_str("!=") {
            CompareOp::Ne
        } else if self.eat_str("<=") {
            CompareOp::Le
        } else if self.eat_str(">=") {
            CompareOp::Ge
        } else if self.eat(b'<') {
            CompareOp::Lt
        } else if self.eat(b'>') {
            CompareOp::Gt
        } else if self.peek() == Some(b'=') {
            return Err(self.error("unsupported filter operator"));
        } else if self.word("nin") {
            CompareOp::Nin
        } else if self.word("in") {
            CompareOp::In
        } else if self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            return Err(self.error("unsupported filter operator"));
        } else {
            return match left {
                Operand::Path(sub) => Ok(Expr::Exists(sub)),
                Operand::Literal(_) => Err(self.error("a filter needs a comparison or a path")),
            };
        };
        let right = self.operand()?;
        Ok(Expr::Compare(left, op, right))
    }

    /// Eats a keyword operator that stands alone.
    fn word(&mut self, word: &str) -> bool {
        let rest = &self.text[self.pos..];
        let standalone = rest.starts_with(word)
            && rest
                .as_bytes()
                .get(word.len())
                .is_none_or(|c| !c.is_ascii_alphanumeric() && *c != b'_');
        if standalone {
            self.pos += word.len();
        }
        standalone
    }

    fn operand(&mut self) -> Result<Operand, String> {
        self.skip_spaces();
        match self.peek() {
            Some(c @ (b'@' | b'$')) => {
                self.pos += 1;
                self.enter()?;
                let segments = self.segments(true)?;
                self.depth -= 1;
                Ok(Operand::Path(SubPath {
                    relative: c == b'@',
                    steps: Steps::new(segments),
                }))
            }
            Some(b'\'' | b'"') => Ok(Operand::Literal(Value::from(self.quoted()?))),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.pos;
                while self.peek().is_some_and(|c| {
                    c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b'e' | b'E')
                }) {
                    self.pos += 1;
                }
                let text = &self.text[start..self.pos];
                match crate::json::from_str(text) {
                    Ok(number @ Value::Number(_)) => Ok(Operand::Literal(number)),
                    _ => Err(self.error(&format!("invalid number '{text}'"))),
                }
            }
            Some(b'[') => {
                // A list literal; its strings may use either quote, as Jayway allows.
                self.pos += 1;
                self.enter()?;
                let mut items = Vec::new();
                self.skip_spaces();
                if !self.eat(b']') {
                    loop {
                        match self.operand()? {
                            Operand::Literal(value) => items.push(value),
                            Operand::Path(_) => {
                                return Err(self.error("a list may hold only literals"))
                            }
                        }
                        self.skip_spaces();
                        if self.eat(b']') {
                            break;
                        }
                        self.expect(b',')?;
                    }
                }
                self.depth -= 1;
                Ok(Operand::Literal(Value::from(items)))
            }
            Some(b'{') => {
                let start = self.pos;
                let end = self
                    .balanced_end()
                    .ok_or_else(|| self.error("unclosed JSON literal"))?;
                self.pos = end;
                crate::json::from_str(&self.text[start..end])
                    .map(Operand::Literal)
                    .map_err(|_| self.error("invalid JSON literal"))
            }
            _ if self.word("true") => Ok(Operand::Literal(Value::Bool(true))),
            _ if self.word("false") => Ok(Operand::Literal(Value::Bool(false))),
            _ if self.word("null") => Ok(Operand::Literal(Value::Null)),
            _ => Err(self.error("expected a value in the filter")),
        }
    }

    /// The end (exclusive) of the JSON array or object starting here.
    fn balanced_end(&self) -> Option<usize> {
        let bytes = self.text.as_bytes();
        let mut depth = 0usize;
        let mut in_string = false;
        let mut escaped = false;
        for (i, &b) in bytes.iter().enumerate().skip(self.pos) {
            if in_string {
                match b {
                    _ if escaped => escaped = false,
                    b'\\' => escaped = true,
                    b'"' => in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'[' | b'{' => depth += 1,
                b']' | b'}' => {
                    depth = depth.checked_sub(1)?;
                    if depth == 0 {
                        return Some(i + 1);
                    }
                }
                _ => {}
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json;

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
        /// The selected value.
        Is(Value),
        /// The error's Display text.
        Fails(&'static str),
        /// A parse error mentioning this text.
        Rejected(&'static str),
    }

    fn check(path: &str, input: Value, want: Want) {
        let roots = TestRoots {
            input,
            context: json!({"Execution": {"Id": "arn:exec", "Input": {"k": 1}}, "Map": {"Item": {"Index": 2}}}),
            vars: json!({"count": 3, "list": [10, 20], "obj": {"a": {"b": true}}})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        };
        let parsed = parse(path);
        match want {
            Want::Rejected(fragment) => match parsed {
                Err(message) => assert!(message.contains(fragment), "{path}: {message}"),
                Ok(_) => panic!("{path}: expected a parse error"),
            },
            Want::Is(expected) => {
                let parsed = parsed.unwrap_or_else(|e| panic!("{path}: {e}"));
                let got = parsed
                    .resolve(&roots)
                    .unwrap_or_else(|e| panic!("{path}: {e}"));
                assert_eq!(got.as_ref(), &expected, "{path}");
            }
            Want::Fails(expected) => {
                let parsed = parsed.unwrap_or_else(|e| panic!("{path}: {e}"));
                match parsed.resolve(&roots) {
                    Err(err) => assert_eq!(err.to_string(), expected, "{path}"),
                    Ok(value) => panic!("{path}: expected an error, got {value}"),
                }
            }
        }
    }

    #[test]
    fn selects_like_aws() {
        use Want::*;
        let store = json!({
            "store": {
                "book": [
                    {"title": "A", "price": 8, "tags": ["x"]},
                    {"title": "B", "price": 12.5, "isbn": "1"},
                    {"title": "C", "price": 30, "isbn": null}
                ],
                "bike": {"color": "red", "price": 20}
            },
            "n": 1,
            "s": "text",
            "nul": null,
            "a b": {"c.d": 5}
        });
        let cases: Vec<(&str, Value, Want)> = vec![
            ("$", json!({"a": 1}), Is(json!({"a": 1}))),
            ("  $.a ", json!({"a": 1}), Is(json!(1))),
            ("$.store.bike.color", store.clone(), Is(json!("red"))),
            ("$['store']['bike']['color']", store.clone(), Is(json!("red"))),
            ("$[\"a b\"]['c.d']", store.clone(), Is(json!(5))),
            ("$.store.book[0].title", store.clone(), Is(json!("A"))),
            ("$.store.book[-1].title", store.clone(), Is(json!("C"))),
            ("$.store.book[5]", store.clone(), Is(json!(null))),
            ("$.store.book[-9]", store.clone(), Is(json!(null))),
            ("$.nul", store.clone(), Is(json!(null))),
            ("$.store.book[*].title", store.clone(), Is(json!(["A", "B", "C"]))),
            ("$.store.book.*.price", store.clone(), Is(json!([8, 12.5, 30]))),
            ("$.store.*", json!({"store": {"x": 1, "y": [2]}}), Is(json!([1, [2]]))),
            ("$.store.book[0,2].title", store.clone(), Is(json!(["A", "C"]))),
            ("$.store.book[0,7]", json!({"store": {"book": [1]}}), Is(json!([1, null]))),
            ("$.store.book[1:].title", store.clone(), Is(json!(["B", "C"]))),
            ("$.store.book[:2].title", store.clone(), Is(json!(["A", "B"]))),
            ("$.store.book[-2:].title", store.clone(), Is(json!(["B", "C"]))),
            ("$.store.book[:-1].title", store.clone(), Is(json!(["A", "B"]))),
            ("$.store.book[0:2].title", store.clone(), Is(json!(["A", "B"]))),
            ("$.store.book[1:9].title", store.clone(), Is(json!(["B", "C"]))),
            ("$.store.book[2:1]", store.clone(), Is(json!([]))),
            ("$..price", store.clone(), Is(json!([8, 12.5, 30, 20]))),
            ("$..book[0].title", store.clone(), Is(json!(["A"]))),
            ("$..title", store.clone(), Is(json!(["A", "B", "C"]))),
            ("$.store..color", store.clone(), Is(json!(["red"]))),
            ("$..nothing", store.clone(), Is(json!([]))),
            ("$..*", json!({"a": {"b": 1}, "c": [2]}), Is(json!([{"b": 1}, [2], 1, 2]))),
            ("$.store.book[?(@.price > 10)].title", store.clone(), Is(json!(["B", "C"]))),
            ("$.store.book[?(@.price >= 12.5 && @.price < 30)].title", store.clone(), Is(json!(["B"]))),
            ("$.store.book[?(@.price < 9 || @.title == 'C')].title", store.clone(), Is(json!(["A", "C"]))),
            ("$.store.book[?(@.isbn)].title", store.clone(), Is(json!(["B", "C"]))),
            ("$.store.book[?(!@.isbn)].title", store.clone(), Is(json!(["A"]))),
            ("$.store.book[?(@.isbn != '1')].title", store.clone(), Is(json!(["A", "C"]))),
            ("$.store.book[?(@.title == \"B\")].price", store.clone(), Is(json!([12.5]))),
            ("$.store.book[?(@.price == '8')].title", store.clone(), Is(json!(["A"]))),
            ("$.store.book[?(@.title in ['A', 'C'])].price", store.clone(), Is(json!([8, 30]))),
            ("$.store.book[?(@.title nin ['A', 'C'])].price", store.clone(), Is(json!([12.5]))),
            ("$.store.book[?(@.tags == ['x'])].title", store.clone(), Is(json!(["A"]))),
            ("$.store.book[?(@.price > $.store.bike.price)].title", store.clone(), Is(json!(["C"]))),
            ("$.store.book[?((@.price > 10) && !(@.isbn == null))].title", store.clone(), Is(json!(["B"]))),
            ("$.store.book[?(@.tags[0] == 'x')].title", store.clone(), Is(json!(["A"]))),
            ("$.store.bike[?(@.color == 'red')].price", store.clone(), Is(json!([20]))),
            ("$[?(@ > 1)]", json!([1, 2, "3", 3]), Is(json!([2, 3]))),
            ("$[?(@ < 'b')]", json!(["a", "c", 1]), Is(json!(["a"]))),
            ("$['store']['book','bike']", json!({"store": {"book": 1, "bike": 2, "x": 3}}), Is(json!({"book": 1, "bike": 2}))),
            ("$['a','zz']", json!({"a": 1}), Is(json!({"a": 1}))),
            ("$$.Execution.Id", json!({}), Is(json!("arn:exec"))),
            ("$$", json!({}), Is(json!({"Execution": {"Id": "arn:exec", "Input": {"k": 1}}, "Map": {"Item": {"Index": 2}}}))),
            ("$count", json!({}), Is(json!(3))),
            ("$list[1]", json!({}), Is(json!(20))),
            ("$obj.a.b", json!({}), Is(json!(true))),
            ("$obj..b", json!({}), Is(json!([true]))),
            ("$.a-b", json!({"a-b": 1}), Is(json!(1))),
            ("$.é", json!({"é": 1}), Is(json!(1))),
            // Errors, worded as AWS quotes Jayway.
            ("$.NoSuchOutputPath", json!({}), Fails("Invalid path '$.NoSuchOutputPath' : No results for path: $['NoSuchOutputPath']")),
            ("$.no.such.result.path", json!({}), Fails("Invalid path '$.no.such.result.path' : Missing property in path $['no']")),
            ("$.a.b[0].c", json!({"a": {"b": [{}]}}), Fails("Invalid path '$.a.b[0].c' : No results for path: $['a']['b'][0]['c']")),
            ("$.s.x", store.clone(), Fails("Invalid path '$.s.x' : Expected to find an object with property ['x'] in path $['s'] but found 'java.lang.String'. This is not a json object according to the JsonProvider: 'com.jayway.jsonpath.spi.json.JacksonJsonNodeJsonProvider'.")),
            ("$.nul.x", store.clone(), Fails("Invalid path '$.nul.x' : Expected to find an object with property ['x'] in path $['nul'] but found 'null'. This is not a json object according to the JsonProvider: 'com.jayway.jsonpath.spi.json.JacksonJsonNodeJsonProvider'.")),
            ("$.a", json!("str"), Fails("Invalid path '$.a' : Expected to find an object with property ['a'] in path $ but found 'com.fasterxml.jackson.databind.node.TextNode'. This is not a json object according to the JsonProvider: 'com.jayway.jsonpath.spi.json.JacksonJsonNodeJsonProvider'.")),
            ("$.items[5].x", json!({"items": [1]}), Fails("Invalid path '$.items[5].x' : Expected to find an object with property ['x'] in path $['items'][5] but found 'null'. This is not a json object according to the JsonProvider: 'com.jayway.jsonpath.spi.json.JacksonJsonNodeJsonProvider'.")),
            ("$.n[0]", store.clone(), Fails("Invalid path '$.n[0]' : Filter: [0] can only be applied to arrays. Current context is: 1")),
            ("$.s[0].x", store.clone(), Fails("Invalid path '$.s[0].x' : Filter: [0]['x'] can only be applied to arrays. Current context is: text")),
            ("$.store.bike[0]", store.clone(), Fails("Invalid path '$.store.bike[0]' : Filter: [0] can only be applied to arrays. Current context is: {\"color\":\"red\",\"price\":20}")),
            ("$[0]", json!("s"), Fails("Invalid path '$[0]' : Filter: [0] can only be applied to arrays. Current context is: \"s\"")),
            ("$.nul[1]", store.clone(), Fails("Invalid path '$.nul[1]' : The path $['nul'] is null")),
            ("$.n[?(@ > 1)]", store.clone(), Fails("Invalid path '$.n[?(@ > 1)]' : Filter: [?] can only be applied to arrays. Current context is: 1")),
            ("$.missing[*]", json!({}), Is(json!([]))),
            ("$.item.items[1:5].itemValue", json!({}), Is(json!([]))),
            ("$.n[0,1]", store.clone(), Is(json!([]))),
            ("$['Test\\\"\"Name\"']", json!({"Test\\\"\"Name\"": "Value\"\\"}), Is(json!("Value\"\\"))),
            ("$['it\\'s']", json!({"it's": 1}), Is(json!(1))),
            ("$.x[*].missing", json!({"x": [{}]}), Is(json!([]))),
            ("$nope.x", json!({}), Fails("Invalid path '$nope.x' : The variable '$nope' is not defined")),
            // Parse errors.
            ("a.b", json!({}), Rejected("must start with '$'")),
            ("$.", json!({}), Rejected("must not end")),
            ("$..", json!({}), Rejected("must not end")),
            ("$.a b", json!({}), Rejected("bracket notation")),
            ("$.a.length()", json!({}), Rejected("functions")),
            ("$[", json!({}), Rejected("unclosed")),
            ("$['a'", json!({}), Rejected("expected ','")),
            ("$['a", json!({}), Rejected("unterminated")),
            ("$[x]", json!({}), Rejected("invalid array index")),
            ("$[:]", json!({}), Rejected("invalid array index")),
            ("$[99999999999]", json!({}), Rejected("invalid array index")),
            ("$[?(@.a =~ /x/)]", json!({}), Rejected("unsupported filter operator")),
            ("$[?(1)]", json!({}), Rejected("comparison or a path")),
            ("$[?(@.a == 1]", json!({}), Rejected("expected ')'")),
            ("$a b", json!({}), Rejected("unexpected character")),
        ];
        for (path, input, want) in cases {
            check(path, input, want);
        }
    }

    #[test]
    fn reports_definiteness_and_shape() {
        let cases: Vec<(&str, bool, bool, Root)> = vec![
            ("$", true, true, Root::Input),
            ("$$", true, false, Root::Context),
            ("$var", true, false, Root::Variable("var".into())),
            ("$.a[0]['b']", true, false, Root::Input),
            ("$.a[0,1]", false, false, Root::Input),
            ("$.a[*]", false, false, Root::Input),
            ("$..a", false, false, Root::Input),
            ("$.a[1:]", false, false, Root::Input),
            ("$.a[?(@.b)]", false, false, Root::Input),
            ("$['a','b']", true, false, Root::Input),
            ("$['a','b'].c", false, false, Root::Input),
        ];
        for (src, definite, whole, root) in cases {
            let path = parse(src).unwrap_or_else(|e| panic!("{src}: {e}"));
            assert_eq!(path.is_definite(), definite, "{src}");
            assert_eq!(path.is_whole(), whole, "{src}");
            assert_eq!(path.root(), &root, "{src}");
            assert_eq!(path.source(), src);
        }
    }

    #[test]
    fn strict_selection_misses_out_of_range_indices() {
        let cases: Vec<(&str, Value, Option<Value>)> = vec![
            ("$.items[5]", json!({"items": [1, 2]}), None),
            ("$.items[1]", json!({"items": [1, 2]}), Some(json!(2))),
            ("$.items[-3]", json!({"items": [1, 2]}), None),
            ("$.items[0,5]", json!({"items": [1]}), Some(json!([1]))),
            ("$.nul", json!({"nul": null}), Some(json!(null))),
        ];
        for (src, input, want) in cases {
            let path = parse(src).unwrap_or_else(|e| panic!("{src}: {e}"));
            match (path.select_strict(&input), want) {
                (Ok(got), Some(want)) => assert_eq!(got.as_ref(), &want, "{src}"),
                (Err(err), None) => assert!(err.is_missing(), "{src}: {err}"),
                (got, want) => panic!("{src}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn classifies_errors() {
        let cases: Vec<(&str, Value, PathErrorKind)> = vec![
            ("$.a", json!({}), PathErrorKind::NotFound),
            ("$.a.b", json!({}), PathErrorKind::NotFound),
            ("$.a.b", json!({"a": 1}), PathErrorKind::NotFound),
            ("$.a[0]", json!({"a": 1}), PathErrorKind::NotAnArray),
            ("$v", json!({}), PathErrorKind::UnknownVariable),
        ];
        let roots = TestRoots {
            input: json!(null),
            context: json!(null),
            vars: Map::new(),
        };
        for (src, input, kind) in cases {
            let path = parse(src).unwrap_or_else(|e| panic!("{src}: {e}"));
            let result = match path.root() {
                Root::Variable(_) => path.resolve(&roots),
                _ => path.select(&input),
            };
            let err = result.expect_err(src);
            assert_eq!(err.kind(), kind, "{src}");
            assert_eq!(err.is_missing(), kind != PathErrorKind::NotAnArray, "{src}");
            assert_eq!(err.path().source(), src);
        }
    }

    #[test]
    fn puts_results_like_result_path() {
        let cases: Vec<(&str, Value, Value, Result<Value, &str>)> = vec![
            ("$", json!({"a": 1}), json!([1]), Ok(json!([1]))),
            (
                "$.r",
                json!({"a": 1}),
                json!(2),
                Ok(json!({"a": 1, "r": 2})),
            ),
            (
                "$.a",
                json!({"a": 1, "b": 2}),
                json!(3),
                Ok(json!({"a": 3, "b": 2})),
            ),
            (
                "$.x.y.z",
                json!({"a": 1}),
                json!(true),
                Ok(json!({"a": 1, "x": {"y": {"z": true}}})),
            ),
            (
                "$.a.b",
                json!({"a": {"c": 1}}),
                json!(2),
                Ok(json!({"a": {"c": 1, "b": 2}})),
            ),
            (
                "$['a b'].c",
                json!({}),
                json!(1),
                Ok(json!({"a b": {"c": 1}})),
            ),
            (
                "$.list[1]",
                json!({"list": [1, 2]}),
                json!("x"),
                Ok(json!({"list": [1, "x"]})),
            ),
            (
                "$.list[0].k",
                json!({"list": [{}]}),
                json!(1),
                Ok(json!({"list": [{"k": 1}]})),
            ),
            ("$[0]", json!([1]), json!(9), Ok(json!([9]))),
            (
                "$.r",
                json!("text"),
                json!(1),
                Err("Unable to apply ReferencePath $.r to input \"text\""),
            ),
            (
                "$.a.b",
                json!({"a": 1}),
                json!(1),
                Err("Unable to apply ReferencePath $.a.b to input {\"a\":1}"),
            ),
            (
                "$.a.b",
                json!({"a": null}),
                json!(1),
                Err("Unable to apply ReferencePath $.a.b to input {\"a\":null}"),
            ),
            (
                "$.list[2]",
                json!({"list": [1]}),
                json!(1),
                Err("Unable to apply ReferencePath $.list[2] to input {\"list\":[1]}"),
            ),
            (
                "$.x[0]",
                json!({}),
                json!(1),
                Err("Unable to apply ReferencePath $.x[0] to input {}"),
            ),
            (
                "$.x.y[0]",
                json!({}),
                json!(1),
                Err("Unable to apply ReferencePath $.x.y[0] to input {}"),
            ),
        ];
        for (src, target, value, want) in cases {
            let path = parse_reference(src).unwrap_or_else(|e| panic!("{src}: {e}"));
            match (path.put(target, value), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{src}"),
                (Err(err), Err(want)) => {
                    assert_eq!(err.to_string(), want, "{src}");
                    assert_eq!(err.kind(), PathErrorKind::ResultPathMismatch);
                }
                (got, want) => panic!("{src}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn accepts_only_reference_paths_for_result_path() {
        let cases = [
            ("$", true),
            ("$.a.b", true),
            ("$['a'][0]", true),
            ("$.a[-1]", false),
            ("$.a[*]", false),
            ("$..a", false),
            ("$.a[0,1]", false),
            ("$.a[1:2]", false),
            ("$.a[?(@.b)]", false),
            ("$$.Execution", false),
            ("$var.a", false),
        ];
        for (src, ok) in cases {
            assert_eq!(parse_reference(src).is_ok(), ok, "{src}");
        }
    }

    #[test]
    fn writes_values_as_java_and_jackson_do() {
        let cases: Vec<(Value, &str, &str)> = vec![
            (json!("s"), "s", "\"s\""),
            (json!(1), "1", "1"),
            (json!(-7), "-7", "-7"),
            (json!(1.0), "1.0", "1.0"),
            (json!(1.1), "1.1", "1.1"),
            (json!(0.001), "0.001", "0.001"),
            (json!(0.0001), "1.0E-4", "1.0E-4"),
            (json!(1234567.0), "1234567.0", "1234567.0"),
            (json!(12345678.9), "1.23456789E7", "1.23456789E7"),
            (json!(1e20), "1.0E20", "1.0E20"),
            (json!(-2.5e-7), "-2.5E-7", "-2.5E-7"),
            (
                json!(18446744073709551615u64),
                "18446744073709551615",
                "18446744073709551615",
            ),
            (json!(null), "null", "null"),
            (
                json!({"Arg1": 1, "Arg2": []}),
                "{Arg1=1, Arg2=[]}",
                "{\"Arg1\":1,\"Arg2\":[]}",
            ),
            (
                json!([1, "a", [true, null]]),
                "[1, a, [true, null]]",
                "[1,\"a\",[true,null]]",
            ),
            (
                json!("q\"\\\n\u{1}"),
                "q\"\\\n\u{1}",
                "\"q\\\"\\\\\\n\\u0001\"",
            ),
        ];
        for (value, java, json_text) in cases {
            let mut text = String::new();
            write_text(&value, TextStyle::Java, &mut text);
            assert_eq!(text, java, "{value}");
            text.clear();
            write_text(&value, TextStyle::Json, &mut text);
            assert_eq!(text, json_text, "{value}");
        }
    }

    #[test]
    fn writes_numbers_as_big_decimal_does() {
        let cases: Vec<(Value, &str)> = vec![
            (json!(1), "1"),
            (json!(1.5), "1.5"),
            (json!(1e20), "1.0E+20"),
            (json!(1e-5), "0.000010"),
            (json!(1e-9), "1.0E-9"),
        ];
        for (value, want) in cases {
            let Value::Number(n) = &value else { continue };
            assert_eq!(decimal_text(n), want, "{value}");
        }
    }

    #[test]
    fn survives_hostile_input() {
        let deep_filter = format!("$[?({}@.a{})]", "(".repeat(100), ")".repeat(100));
        assert!(parse(&deep_filter).is_err());
        let deep_not = format!("$[?({}@.a)]", "!".repeat(100));
        assert!(parse(&deep_not).is_err());
        let huge_slice = parse("$[-2147483648:2]").unwrap_or_else(|e| panic!("{e}"));
        let small = json!([1, 2, 3]);
        let selected = huge_slice.select(&small).unwrap_or_else(|e| panic!("{e}"));
        assert!(selected
            .as_array()
            .is_some_and(|items| items.len() as i64 <= MAX_SLICE_UNDERRUN + 5));
        let mut deep = json!(1);
        for _ in 0..2000 {
            deep = Value::from(vec![deep]);
        }
        let scan = parse("$..x").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(scan.select(&deep).ok(), Some(Cow::Owned(json!([]))));
        let mut text = String::new();
        write_text(&deep, TextStyle::Json, &mut text);
        assert_eq!(text.len(), 4001);
        // Leak the deep value rather than drop it recursively.
        std::mem::forget(deep);
        for src in [
            "$[",
            "$['",
            "$[?(",
            "$[?(@",
            "$[?(@.a ==",
            "$[?(@.a == [1,",
            "$.a[?(@ in {",
            "$\u{301}",
            "$['\\u12",
        ] {
            assert!(parse(src).is_err(), "{src}");
        }
    }
}
