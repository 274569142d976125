//! The syntax tree of a compiled expression, in the form the evaluator walks: paths are
//! lists of steps, predicates are stages of the step they filter, and the parent operator is
//! resolved to the step whose context it names.

use super::signature::Signature;
use crate::json::Str;

#[derive(Debug)]
pub(crate) struct Node {
    pub kind: Kind,
    pub pos: usize,
    pub keep_array: bool,
    pub cons_array: bool,
    pub tuple: bool,
    pub focus: Option<Str>,
    pub index: Option<Str>,
    /// The label under which a step binds its context for a parent operator.
    pub ancestor: Option<usize>,
    pub stages: Vec<Stage>,
    pub predicate: Vec<Node>,
    pub group: Option<Box<Group>>,
    /// Parent slots not yet resolved (compile time only).
    pub seeking_parent: Vec<usize>,
}

#[derive(Debug)]
pub(crate) enum Stage {
    Filter(Node),
    Index(Str),
}

#[derive(Debug)]
pub(crate) struct Group {
    pub pairs: Vec<(Node, Node)>,
    pub pos: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Concat,
    And,
    Or,
    In,
    Range,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "%",
            BinOp::Eq => "=",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Concat => "&",
            BinOp::And => "and",
            BinOp::Or => "or",
            BinOp::In => "in",
            BinOp::Range => "..",
        }
    }
}

#[derive(Debug)]
pub(crate) struct SortTerm {
    pub expr: Node,
    pub descending: bool,
}

#[derive(Debug)]
pub(crate) enum Kind {
    Path {
        steps: Vec<Node>,
        keep_singleton: bool,
    },
    Name(Str),
    String(Str),
    Number(f64),
    Bool(bool),
    Null,
    Regex(std::sync::Arc<super::regex::JRegex>),
    Variable(Str),
    Wildcard,
    Descendant,
    Parent(usize),
    Binary {
        op: BinOp,
        lhs: Box<Node>,
        rhs: Box<Node>,
    },
    Neg(Box<Node>),
    Array(Vec<Node>),
    Object(Vec<(Node, Node)>),
    Condition {
        cond: Box<Node>,
        then: Box<Node>,
        otherwise: Option<Box<Node>>,
    },
    Block(Vec<Node>),
    Bind {
        name: Str,
        rhs: Box<Node>,
    },
    Apply {
        lhs: Box<Node>,
        rhs: Box<Node>,
    },
    Function {
        procedure: Box<Node>,
        args: Vec<Node>,
    },
    Partial {
        procedure: Box<Node>,
        args: Vec<Node>,
    },
    Placeholder,
    Lambda(Box<Lambda>),
    Transform {
        pattern: Box<Node>,
        update: Box<Node>,
        delete: Option<Box<Node>>,
    },
    Sort(Vec<SortTerm>),
    // Forms that only exist between parsing and processing.
    RawDot(Box<Node>, Box<Node>),
    RawFilter(Box<Node>, Box<Node>),
    RawGroup(Box<Node>, Vec<(Node, Node)>),
    RawSort(Box<Node>, Vec<SortTerm>),
    RawFocus(Box<Node>, Str),
    RawIndex(Box<Node>, Str),
    RawBind(Box<Node>, Box<Node>),
    Operator(&'static str),
}

#[derive(Debug)]
pub(crate) struct Lambda {
    pub params: Vec<Str>,
    pub signature: Option<Signature>,
    pub body: Node,
    pub thunk: bool,
}

impl Node {
    pub fn new(kind: Kind, pos: usize) -> Node {
        Node {
            kind,
            pos,
            keep_array: false,
            cons_array: false,
            tuple: false,
            focus: None,
            index: None,
            ancestor: None,
            stages: Vec::new(),
            predicate: Vec::new(),
            group: None,
            seeking_parent: Vec::new(),
        }
    }

    /// Whether the node has no predicates, stages, grouping or bindings of its own.
    pub fn is_bare(&self) -> bool {
        self.stages.is_empty()
            && self.predicate.is_empty()
            && self.group.is_none()
            && self.focus.is_none()
            && self.index.is_none()
            && self.ancestor.is_none()
    }

    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            Kind::Path { .. } => "path",
            Kind::Name(_) => "name",
            Kind::String(_) => "string",
            Kind::Number(_) => "number",
            Kind::Bool(_) | Kind::Null => "value",
            Kind::Regex(_) => "regex",
            Kind::Variable(_) => "variable",
            Kind::Wildcard => "wildcard",
            Kind::Descendant => "descendant",
            Kind::Parent(_) => "parent",
            Kind::Binary { .. } | Kind::RawDot(..) | Kind::RawFilter(..) | Kind::RawGroup(..) => {
                "binary"
            }
            Kind::RawSort(..) | Kind::RawFocus(..) | Kind::RawIndex(..) | Kind::RawBind(..) => {
                "binary"
            }
            Kind::Neg(_) | Kind::Array(_) | Kind::Object(_) => "unary",
            Kind::Condition { .. } => "condition",
            Kind::Block(_) => "block",
            Kind::Bind { .. } => "bind",
            Kind::Apply { .. } => "apply",
            Kind::Function { .. } => "function",
            Kind::Partial { .. } => "partial",
            Kind::Placeholder | Kind::Operator(_) => "operator",
            Kind::Lambda(_) => "lambda",
            Kind::Transform { .. } => "transform",
            Kind::Sort(_) => "sort",
        }
    }
}
