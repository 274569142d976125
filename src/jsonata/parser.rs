//! A Pratt parser from tokens to a raw tree, and the processing that turns the raw tree into
//! the evaluator's form (paths of steps, stages, focus and index bindings, parent slots,
//! tail calls).

use super::ast::{BinOp, Group, Kind, Lambda, Node, SortTerm, Stage};
use super::lexer::{Lexer, Tok, Token};
use super::signature::Signature;
use super::JsonataError;
use crate::json::Str;

/// Nesting deeper than this is refused rather than risking the parser's stack.
const MAX_NESTING: usize = 1000;
/// The stack of the thread that compiles, and the most of it the parser's recursion uses.
pub(crate) const PARSER_THREAD_STACK: usize = 64 << 20;
const MAX_STACK: usize = 48 << 20;

pub(crate) struct Parsed {
    pub root: Node,
    pub labels: Vec<Str>,
}

pub(crate) fn parse(source: &str) -> Result<Parsed, JsonataError> {
    let mut parser = Parser {
        lexer: Lexer::new(source),
        token: Token {
            tok: Tok::End,
            pos: 0,
        },
        depth: 0,
        stack_base: super::stack_address(),
    };
    parser.advance_any(false)?;
    let raw = parser.expression(0)?;
    if parser.token.tok != Tok::End {
        return Err(parser.error("S0201", Some(parser.token_text())));
    }
    let mut processor = Processor {
        slots: Vec::new(),
        depth: 0,
        stack_base: super::stack_address(),
    };
    let root = processor.process(raw)?;
    if matches!(root.kind, Kind::Parent(_)) || !root.seeking_parent.is_empty() {
        return Err(JsonataError::new(
            "S0217",
            Some(root.pos),
            Some(root.type_name().to_string()),
        ));
    }
    let labels = processor
        .slots
        .iter()
        .map(|slot| Str::from(slot.label.as_str()))
        .collect();
    Ok(Parsed { root, labels })
}

struct Parser<'s> {
    lexer: Lexer<'s>,
    token: Token,
    depth: usize,
    stack_base: usize,
}

fn lbp(tok: &Tok) -> u32 {
    match tok {
        Tok::Op(op) => match *op {
            "." => 75,
            "[" | "(" | "@" | "#" => 80,
            "{" => 70,
            "?" => 20,
            "+" | "-" | "&" => 50,
            "*" | "/" | "%" => 60,
            "=" | "<" | ">" | "!=" | "<=" | ">=" | "~>" | "in" | "^" => 40,
            "and" => 30,
            "or" => 25,
            ":=" => 10,
            _ => 0,
        },
        _ => 0,
    }
}

fn tok_text(tok: &Tok) -> String {
    match tok {
        Tok::Name(n) | Tok::Variable(n) | Tok::Str(n) => n.clone(),
        Tok::Num(n) => super::value::format_number(*n),
        Tok::Bool(b) => b.to_string(),
        Tok::Null => "null".into(),
        Tok::Regex(p, _) => p.clone(),
        Tok::Op(op) => op.to_string(),
        Tok::End => "(end)".into(),
    }
}

impl Parser<'_> {
    fn error(&self, code: &str, token: Option<String>) -> JsonataError {
        JsonataError::new(code, Some(self.token.pos), token)
    }

    fn token_text(&self) -> String {
        tok_text(&self.token.tok)
    }

    fn advance_any(&mut self, infix: bool) -> Result<(), JsonataError> {
        let token = self.lexer.next(!infix)?;
        if let Tok::Op(op) = token.tok {
            if matches!(op, "!" | "~") {
                return Err(JsonataError::new("S0204", Some(token.pos), Some(op.into())));
            }
        }
        self.token = token;
        Ok(())
    }

    fn is_op(&self, op: &str) -> bool {
        matches!(self.token.tok, Tok::Op(o) if o == op)
    }

    fn advance(&mut self, expected: &str, infix: bool) -> Result<(), JsonataError> {
        if !self.is_op(expected) {
            let code = if self.token.tok == Tok::End {
                "S0203"
            } else {
                "S0202"
            };
            return Err(self
                .error(code, Some(self.token_text()))
                .with_text(expected.to_string()));
        }
        self.advance_any(infix)
    }

    fn expression(&mut self, rbp: u32) -> Result<Node, JsonataError> {
        self.depth += 1;
        if self.depth > MAX_NESTING || self.stack_base.abs_diff(super::stack_address()) > MAX_STACK
        {
            return Err(self.error("U1001", None));
        }
        let token = self.token.clone();
        self.advance_any(true)?;
        let mut left = self.nud(token)?;
        while rbp < lbp(&self.token.tok) {
            let token = self.token.clone();
            self.advance_any(false)?;
            left = self.led(token, left)?;
        }
        self.depth -= 1;
        Ok(left)
    }

    fn nud(&mut self, token: Token) -> Result<Node, JsonataError> {
        let pos = token.pos;
        let node = |kind| Ok(Node::new(kind, pos));
        match token.tok {
            Tok::Name(name) => node(Kind::Name(Str::from(name))),
            Tok::Variable(name) => node(Kind::Variable(Str::from(name))),
            Tok::Str(s) => node(Kind::String(Str::from(s))),
            Tok::Num(n) => node(Kind::Number(n)),
            Tok::Bool(b) => node(Kind::Bool(b)),
            Tok::Null => node(Kind::Null),
            Tok::Regex(pattern, flags) => {
                let regex = super::regex::JRegex::new(&pattern, &flags)
                    .map_err(|_| JsonataError::new("S0302", Some(pos), Some(pattern.clone())))?;
                node(Kind::Regex(std::sync::Arc::new(regex)))
            }
            Tok::End => Err(JsonataError::new("S0207", Some(pos), None)),
            Tok::Op(op) => match op {
                "and" | "or" | "in" => node(Kind::Operator(op)),
                "?" => node(Kind::Placeholder),
                "-" => {
                    let expr = self.expression(70)?;
                    node(Kind::Neg(Box::new(expr)))
                }
                "*" => node(Kind::Wildcard),
                "**" => node(Kind::Descendant),
                "%" => node(Kind::Parent(0)),
                "(" => {
                    let mut exprs = Vec::new();
                    while !self.is_op(")") {
                        exprs.push(self.expression(0)?);
                        if !self.is_op(";") {
                            break;
                        }
                        self.advance(";", false)?;
                    }
                    self.advance(")", true)?;
                    node(Kind::Block(exprs))
                }
                "[" => {
                    let mut items = Vec::new();
                    if !self.is_op("]") {
                        loop {
                            let mut item = self.expression(0)?;
                            if self.is_op("..") {
                                let rpos = self.token.pos;
                                self.advance("..", false)?;
                                let rhs = self.expression(0)?;
                                item = Node::new(
                                    Kind::Binary {
                                        op: BinOp::Range,
                                        lhs: Box::new(item),
                                        rhs: Box::new(rhs),
                                    },
                                    rpos,
                                );
                            }
                            items.push(item);
                            if !self.is_op(",") {
                                break;
                            }
                            self.advance(",", false)?;
                        }
                    }
                    self.advance("]", true)?;
                    node(Kind::Array(items))
                }
                "{" => {
                    let pairs = self.object_pairs()?;
                    node(Kind::Object(pairs))
                }
                "|" => {
                    let pattern = self.expression(0)?;
                    self.advance("|", false)?;
                    let update = self.expression(0)?;
                    let mut delete = None;
                    if self.is_op(",") {
                        self.advance(",", false)?;
                        delete = Some(Box::new(self.expression(0)?));
                    }
                    self.advance("|", false)?;
                    node(Kind::Transform {
                        pattern: Box::new(pattern),
                        update: Box::new(update),
                        delete,
                    })
                }
                _ => Err(JsonataError::new("S0211", Some(pos), Some(op.to_string()))),
            },
        }
    }

    fn object_pairs(&mut self) -> Result<Vec<(Node, Node)>, JsonataError> {
        let mut pairs = Vec::new();
        if !self.is_op("}") {
            loop {
                let key = self.expression(0)?;
                self.advance(":", false)?;
                let value = self.expression(0)?;
                pairs.push((key, value));
                if !self.is_op(",") {
                    break;
                }
                self.advance(",", false)?;
            }
        }
        self.advance("}", true)?;
        Ok(pairs)
    }

    fn led(&mut self, token: Token, left: Node) -> Result<Node, JsonataError> {
        let pos = token.pos;
        let op = match token.tok {
            Tok::Op(op) => op,
            _ => {
                return Err(JsonataError::new(
                    "S0201",
                    Some(pos),
                    Some(tok_text(&token.tok)),
                ))
            }
        };
        let binary = |op: BinOp, lhs: Node, rhs: Node| {
            Ok(Node::new(
                Kind::Binary {
                    op,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                },
                pos,
            ))
        };
        let bin_op = match op {
            "+" => Some(BinOp::Add),
            "-" => Some(BinOp::Sub),
            "*" => Some(BinOp::Mul),
            "/" => Some(BinOp::Div),
            "%" => Some(BinOp::Mod),
            "=" => Some(BinOp::Eq),
            "!=" => Some(BinOp::Ne),
            "<" => Some(BinOp::Lt),
            "<=" => Some(BinOp::Le),
            ">" => Some(BinOp::Gt),
            ">=" => Some(BinOp::Ge),
            "&" => Some(BinOp::Concat),
            "and" => Some(BinOp::And),
            "or" => Some(BinOp::Or),
            "in" => Some(BinOp::In),
            _ => None,
        };
        if let Some(bop) = bin_op {
            let rhs = self.expression(lbp(&Tok::Op(op)))?;
            return binary(bop, left, rhs);
        }
        match op {
            "." => {
                let rhs = self.expression(75)?;
                Ok(Node::new(Kind::RawDot(Box::new(left), Box::new(rhs)), pos))
            }
            "~>" => {
                let rhs = self.expression(40)?;
                Ok(Node::new(
                    Kind::Apply {
                        lhs: Box::new(left),
                        rhs: Box::new(rhs),
                    },
                    pos,
                ))
            }
            ":=" => {
                if !matches!(left.kind, Kind::Variable(_)) {
                    return Err(JsonataError::new(
                        "S0212",
                        Some(left.pos),
                        Some(node_token(&left)),
                    ));
                }
                let rhs = self.expression(9)?;
                Ok(Node::new(Kind::RawBind(Box::new(left), Box::new(rhs)), pos))
            }
            "@" | "#" => {
                let rhs = self.expression(80)?;
                let name = match rhs.kind {
                    Kind::Variable(name) => name,
                    _ => return Err(JsonataError::new("S0214", Some(rhs.pos), Some(op.into()))),
                };
                let kind = if op == "@" {
                    Kind::RawFocus(Box::new(left), name)
                } else {
                    Kind::RawIndex(Box::new(left), name)
                };
                Ok(Node::new(kind, pos))
            }
            "?" => {
                let then = self.expression(0)?;
                let mut otherwise = None;
                if self.is_op(":") {
                    self.advance(":", false)?;
                    otherwise = Some(Box::new(self.expression(0)?));
                }
                Ok(Node::new(
                    Kind::Condition {
                        cond: Box::new(left),
                        then: Box::new(then),
                        otherwise,
                    },
                    pos,
                ))
            }
            "[" => {
                if self.is_op("]") {
                    // `[]` keeps singleton arrays
                    let mut left = left;
                    {
                        let mut step = &mut left;
                        while let Kind::RawFilter(lhs, _) = &mut step.kind {
                            step = lhs;
                        }
                        step.keep_array = true;
                    }
                    self.advance("]", true)?;
                    return Ok(left);
                }
                let rhs = self.expression(0)?;
                self.advance("]", true)?;
                Ok(Node::new(
                    Kind::RawFilter(Box::new(left), Box::new(rhs)),
                    pos,
                ))
            }
            "{" => {
                let pairs = self.object_pairs()?;
                Ok(Node::new(Kind::RawGroup(Box::new(left), pairs), pos))
            }
            "^" => {
                self.advance("(", false)?;
                let mut terms = Vec::new();
                loop {
                    let mut descending = false;
                    if self.is_op("<") {
                        self.advance("<", false)?;
                    } else if self.is_op(">") {
                        descending = true;
                        self.advance(">", false)?;
                    }
                    let expr = self.expression(0)?;
                    terms.push(SortTerm { expr, descending });
                    if !self.is_op(",") {
                        break;
                    }
                    self.advance(",", false)?;
                }
                self.advance(")", true)?;
                Ok(Node::new(Kind::RawSort(Box::new(left), terms), pos))
            }
            "(" => self.call(left, pos),
            _ => Err(JsonataError::new("S0201", Some(pos), Some(op.to_string()))),
        }
    }

    fn call(&mut self, left: Node, pos: usize) -> Result<Node, JsonataError> {
        let mut args = Vec::new();
        let mut partial = false;
        if !self.is_op(")") {
            loop {
                if self.is_op("?") {
                    partial = true;
                    let p = self.token.pos;
                    self.advance("?", true)?;
                    args.push(Node::new(Kind::Placeholder, p));
                } else {
                    args.push(self.expression(0)?);
                }
                if !self.is_op(",") {
                    break;
                }
                self.advance(",", false)?;
            }
        }
        self.advance(")", true)?;
        let is_lambda =
            matches!(&left.kind, Kind::Name(n) if n.as_str() == "function" || n.as_str() == "λ");
        if is_lambda {
            let mut params = Vec::new();
            for arg in args {
                match arg.kind {
                    Kind::Variable(name) => params.push(name),
                    _ => {
                        return Err(JsonataError::new(
                            "S0208",
                            Some(arg.pos),
                            Some(node_token(&arg)),
                        ))
                    }
                }
            }
            let mut signature = None;
            if self.is_op("<") {
                let sig_pos = self.token.pos;
                let mut depth = 1;
                let mut text = String::from("<");
                while depth > 0 && !self.is_op("{") && self.token.tok != Tok::End {
                    self.advance_any(false)?;
                    if self.is_op(">") {
                        depth -= 1;
                    } else if self.is_op("<") {
                        depth += 1;
                    }
                    text.push_str(&self.token_text());
                }
                self.advance(">", false)?;
                signature = Some(Signature::parse(&text).map_err(|mut e| {
                    e.position = Some(sig_pos);
                    e
                })?);
            }
            self.advance("{", false)?;
            let body = self.expression(0)?;
            self.advance("}", true)?;
            return Ok(Node::new(
                Kind::Lambda(Box::new(Lambda {
                    params,
                    signature,
                    body,
                    thunk: false,
                })),
                pos,
            ));
        }
        let kind = if partial {
            Kind::Partial {
                procedure: Box::new(left),
                args,
            }
        } else {
            Kind::Function {
                procedure: Box::new(left),
                args,
            }
        };
        Ok(Node::new(kind, pos))
    }
}

fn node_token(node: &Node) -> String {
    match &node.kind {
        Kind::Name(n) | Kind::Variable(n) | Kind::String(n) => n.to_string(),
        Kind::Number(n) => super::value::format_number(*n),
        Kind::Bool(b) => b.to_string(),
        Kind::Null => "null".into(),
        Kind::Operator(op) => op.to_string(),
        _ => node.type_name().to_string(),
    }
}

struct Slot {
    label: String,
    level: usize,
}

struct Processor {
    slots: Vec<Slot>,
    depth: usize,
    stack_base: usize,
}

impl Processor {
    fn push_ancestry(result: &mut Node, value: &Node) {
        let mut slots = value.seeking_parent.clone();
        if let Kind::Parent(slot) = value.kind {
            slots.push(slot);
        }
        result.seeking_parent.extend(slots);
    }

    fn process(&mut self, expr: Node) -> Result<Node, JsonataError> {
        self.depth += 1;
        if self.depth > MAX_NESTING || self.stack_base.abs_diff(super::stack_address()) > MAX_STACK
        {
            return Err(JsonataError::new("U1001", Some(expr.pos), None));
        }
        let result = self.process_inner(expr);
        self.depth -= 1;
        result
    }

    fn process_inner(&mut self, expr: Node) -> Result<Node, JsonataError> {
        let pos = expr.pos;
        let keep_array = expr.keep_array;
        let mut result = match expr.kind {
            Kind::RawDot(lhs, rhs) => {
                let lstep = self.process(*lhs)?;
                let mut result = if matches!(lstep.kind, Kind::Path { .. }) {
                    lstep
                } else {
                    let parent_slot = match lstep.kind {
                        Kind::Parent(slot) => Some(slot),
                        _ => None,
                    };
                    let mut path = Node::new(
                        Kind::Path {
                            steps: vec![lstep],
                            keep_singleton: false,
                        },
                        pos,
                    );
                    if let Some(slot) = parent_slot {
                        path.seeking_parent = vec![slot];
                    }
                    path
                };
                let mut rest = self.process(*rhs)?;
                let Kind::Path { steps, .. } = &mut result.kind else {
                    return unreachable_path();
                };
                if let Kind::Path { steps: rsteps, .. } = rest.kind {
                    steps.extend(rsteps);
                    // a path's own annotations (keep array) were folded into its steps
                } else {
                    if !rest.predicate.is_empty() {
                        let preds = std::mem::take(&mut rest.predicate);
                        rest.stages.extend(preds.into_iter().map(Stage::Filter));
                    }
                    steps.push(rest);
                }
                for step in steps.iter_mut() {
                    match &step.kind {
                        Kind::Number(n) => {
                            return Err(JsonataError::new(
                                "S0213",
                                Some(step.pos),
                                Some(super::value::format_number(*n)),
                            ))
                        }
                        Kind::Bool(_) | Kind::Null => {
                            return Err(JsonataError::new(
                                "S0213",
                                Some(step.pos),
                                Some(node_token(step)),
                            ))
                        }
                        Kind::String(s) => {
                            let s = s.clone();
                            step.kind = Kind::Name(s);
                        }
                        _ => {}
                    }
                }
                let keep = steps.iter().any(|s| s.keep_array);
                if let Some(first) = steps.first_mut() {
                    if matches!(first.kind, Kind::Array(_)) {
                        first.cons_array = true;
                    }
                }
                if let Some(last) = steps.last_mut() {
                    if matches!(last.kind, Kind::Array(_)) {
                        last.cons_array = true;
                    }
                }
                if keep {
                    if let Kind::Path { keep_singleton, .. } = &mut result.kind {
                        *keep_singleton = true;
                    }
                }
                self.resolve_ancestry(&mut result)?;
                result
            }
            Kind::RawFilter(lhs, rhs) => {
                let mut result = self.process(*lhs)?;
                let mut predicate = self.process(*rhs)?;
                let is_path = matches!(result.kind, Kind::Path { .. });
                {
                    let step: &mut Node = if is_path {
                        match &mut result.kind {
                            Kind::Path { steps, .. } => match steps.last_mut() {
                                Some(s) => s,
                                None => return Err(JsonataError::new("S0201", Some(pos), None)),
                            },
                            _ => return unreachable_path(),
                        }
                    } else {
                        &mut result
                    };
                    if step.group.is_some() {
                        return Err(JsonataError::new("S0209", Some(pos), None));
                    }
                    if !predicate.seeking_parent.is_empty() {
                        let slots = predicate.seeking_parent.clone();
                        let mut remaining = Vec::new();
                        for slot in slots {
                            if self.slots[slot].level == 1 {
                                self.seek_parent(step, slot)?;
                            } else {
                                self.slots[slot].level -= 1;
                            }
                            remaining.push(slot);
                        }
                        predicate.seeking_parent = remaining;
                        Self::push_ancestry(step, &predicate);
                    }
                    if is_path {
                        step.stages.push(Stage::Filter(predicate));
                    } else {
                        step.predicate.push(predicate);
                    }
                }
                result
            }
            Kind::RawGroup(lhs, pairs) => {
                let mut result = self.process(*lhs)?;
                if result.group.is_some() {
                    return Err(JsonataError::new("S0210", Some(pos), None));
                }
                let mut processed = Vec::with_capacity(pairs.len());
                for (k, v) in pairs {
                    processed.push((self.process(k)?, self.process(v)?));
                }
                result.group = Some(Box::new(Group {
                    pairs: processed,
                    pos,
                }));
                result
            }
            Kind::RawSort(lhs, terms) => {
                let lhs = self.process(*lhs)?;
                let mut result = if matches!(lhs.kind, Kind::Path { .. }) {
                    lhs
                } else {
                    Node::new(
                        Kind::Path {
                            steps: vec![lhs],
                            keep_singleton: false,
                        },
                        pos,
                    )
                };
                let mut sort_step = Node::new(Kind::Sort(Vec::new()), pos);
                let mut processed = Vec::with_capacity(terms.len());
                for term in terms {
                    let expr = self.process(term.expr)?;
                    Self::push_ancestry(&mut sort_step, &expr);
                    processed.push(SortTerm {
                        expr,
                        descending: term.descending,
                    });
                }
                sort_step.kind = Kind::Sort(processed);
                if let Kind::Path { steps, .. } = &mut result.kind {
                    steps.push(sort_step);
                }
                self.resolve_ancestry(&mut result)?;
                result
            }
            Kind::RawBind(lhs, rhs) => {
                let name = match lhs.kind {
                    Kind::Variable(name) => name,
                    _ => return Err(JsonataError::new("S0212", Some(pos), None)),
                };
                let rhs = self.process(*rhs)?;
                let mut result = Node::new(
                    Kind::Bind {
                        name,
                        rhs: Box::new(rhs),
                    },
                    pos,
                );
                if let Kind::Bind { rhs, .. } = &result.kind {
                    let mut slots = rhs.seeking_parent.clone();
                    if let Kind::Parent(slot) = rhs.kind {
                        slots.push(slot);
                    }
                    result.seeking_parent = slots;
                }
                result
            }
            Kind::RawFocus(lhs, name) => {
                let mut result = self.process(*lhs)?;
                {
                    let step = if has_steps(&result) {
                        last_of_path(&mut result)
                            .ok_or_else(|| JsonataError::new("S0201", Some(pos), None))?
                    } else {
                        &mut result
                    };
                    if !step.stages.is_empty() || !step.predicate.is_empty() {
                        return Err(JsonataError::new("S0215", Some(pos), Some("@".into())));
                    }
                    if matches!(step.kind, Kind::Sort(_)) {
                        return Err(JsonataError::new("S0216", Some(pos), Some("@".into())));
                    }
                    if keep_array {
                        step.keep_array = true;
                    }
                    step.focus = Some(name);
                    step.tuple = true;
                }
                result
            }
            Kind::RawIndex(lhs, name) => {
                let mut result = self.process(*lhs)?;
                if !matches!(result.kind, Kind::Path { .. }) {
                    let mut step = result;
                    if !step.predicate.is_empty() {
                        let preds = std::mem::take(&mut step.predicate);
                        step.stages.extend(preds.into_iter().map(Stage::Filter));
                    }
                    result = Node::new(
                        Kind::Path {
                            steps: vec![step],
                            keep_singleton: false,
                        },
                        pos,
                    );
                }
                {
                    let step = if has_steps(&result) {
                        last_of_path(&mut result)
                            .ok_or_else(|| JsonataError::new("S0201", Some(pos), None))?
                    } else {
                        &mut result
                    };
                    if step.stages.is_empty() {
                        step.index = Some(name);
                    } else {
                        step.stages.push(Stage::Index(name));
                    }
                    step.tuple = true;
                }
                result
            }
            Kind::Apply { lhs, rhs } => {
                let lhs = self.process(*lhs)?;
                let rhs = self.process(*rhs)?;
                let keep = lhs.keep_array || rhs.keep_array;
                let mut result = Node::new(
                    Kind::Apply {
                        lhs: Box::new(lhs),
                        rhs: Box::new(rhs),
                    },
                    pos,
                );
                result.keep_array = keep;
                result
            }
            Kind::Binary { op, lhs, rhs } => {
                let lhs = self.process(*lhs)?;
                let rhs = self.process(*rhs)?;
                let mut result = Node::new(
                    Kind::Binary {
                        op,
                        lhs: Box::new(lhs),
                        rhs: Box::new(rhs),
                    },
                    pos,
                );
                let mut slots = Vec::new();
                if let Kind::Binary { lhs, rhs, .. } = &result.kind {
                    for side in [lhs, rhs] {
                        slots.extend(side.seeking_parent.iter().copied());
                        if let Kind::Parent(slot) = side.kind {
                            slots.push(slot);
                        }
                    }
                }
                result.seeking_parent = slots;
                result
            }
            Kind::Array(items) => {
                let mut result = Node::new(Kind::Null, pos);
                let mut processed = Vec::with_capacity(items.len());
                for item in items {
                    let value = self.process(item)?;
                    Self::push_ancestry(&mut result, &value);
                    processed.push(value);
                }
                result.kind = Kind::Array(processed);
                result
            }
            Kind::Object(pairs) => {
                let mut result = Node::new(Kind::Null, pos);
                let mut processed = Vec::with_capacity(pairs.len());
                for (k, v) in pairs {
                    let key = self.process(k)?;
                    Self::push_ancestry(&mut result, &key);
                    let value = self.process(v)?;
                    Self::push_ancestry(&mut result, &value);
                    processed.push((key, value));
                }
                result.kind = Kind::Object(processed);
                result
            }
            Kind::Neg(expr) => {
                let expr = self.process(*expr)?;
                if let Kind::Number(n) = expr.kind {
                    Node::new(Kind::Number(-n), expr.pos)
                } else {
                    let mut result = Node::new(Kind::Null, pos);
                    Self::push_ancestry(&mut result, &expr);
                    result.kind = Kind::Neg(Box::new(expr));
                    result
                }
            }
            Kind::Function { procedure, args } => {
                let mut result = Node::new(Kind::Null, pos);
                let mut processed = Vec::with_capacity(args.len());
                for arg in args {
                    let a = self.process(arg)?;
                    Self::push_ancestry(&mut result, &a);
                    processed.push(a);
                }
                let procedure = self.process(*procedure)?;
                result.kind = Kind::Function {
                    procedure: Box::new(procedure),
                    args: processed,
                };
                result
            }
            Kind::Partial { procedure, args } => {
                let mut result = Node::new(Kind::Null, pos);
                let mut processed = Vec::with_capacity(args.len());
                for arg in args {
                    let a = self.process(arg)?;
                    Self::push_ancestry(&mut result, &a);
                    processed.push(a);
                }
                let procedure = self.process(*procedure)?;
                result.kind = Kind::Partial {
                    procedure: Box::new(procedure),
                    args: processed,
                };
                result
            }
            Kind::Lambda(lambda) => {
                let Lambda {
                    params,
                    signature,
                    body,
                    ..
                } = *lambda;
                let body = self.process(body)?;
                let body = tail_call_optimize(body);
                Node::new(
                    Kind::Lambda(Box::new(Lambda {
                        params,
                        signature,
                        body,
                        thunk: false,
                    })),
                    pos,
                )
            }
            Kind::Condition {
                cond,
                then,
                otherwise,
            } => {
                let mut result = Node::new(Kind::Null, pos);
                let cond = self.process(*cond)?;
                Self::push_ancestry(&mut result, &cond);
                let then = self.process(*then)?;
                Self::push_ancestry(&mut result, &then);
                let otherwise = match otherwise {
                    Some(e) => {
                        let e = self.process(*e)?;
                        Self::push_ancestry(&mut result, &e);
                        Some(Box::new(e))
                    }
                    None => None,
                };
                result.kind = Kind::Condition {
                    cond: Box::new(cond),
                    then: Box::new(then),
                    otherwise,
                };
                result
            }
            Kind::Transform {
                pattern,
                update,
                delete,
            } => {
                let pattern = self.process(*pattern)?;
                let update = self.process(*update)?;
                let delete = match delete {
                    Some(d) => Some(Box::new(self.process(*d)?)),
                    None => None,
                };
                Node::new(
                    Kind::Transform {
                        pattern: Box::new(pattern),
                        update: Box::new(update),
                        delete,
                    },
                    pos,
                )
            }
            Kind::Block(exprs) => {
                let mut result = Node::new(Kind::Null, pos);
                let mut processed = Vec::with_capacity(exprs.len());
                for e in exprs {
                    let part = self.process(e)?;
                    Self::push_ancestry(&mut result, &part);
                    let cons = part.cons_array
                        || matches!(&part.kind, Kind::Path { steps, .. } if steps.first().is_some_and(|s| s.cons_array));
                    if cons {
                        result.cons_array = true;
                    }
                    processed.push(part);
                }
                result.kind = Kind::Block(processed);
                result
            }
            Kind::Name(name) => {
                let mut step = Node::new(Kind::Name(name), pos);
                step.keep_array = keep_array;
                let mut result = Node::new(
                    Kind::Path {
                        steps: vec![step],
                        keep_singleton: keep_array,
                    },
                    pos,
                );
                result.keep_array = keep_array;
                return Ok(result);
            }
            Kind::Parent(_) => {
                let slot = self.slots.len();
                self.slots.push(Slot {
                    label: format!("!{slot}"),
                    level: 1,
                });
                Node::new(Kind::Parent(slot), pos)
            }
            Kind::Operator(op) => {
                if matches!(op, "and" | "or" | "in") {
                    let mut n = Node::new(Kind::Name(Str::from(op)), pos);
                    n.keep_array = keep_array;
                    return self.process(n);
                }
                return Err(JsonataError::new("S0201", Some(pos), Some(op.to_string())));
            }
            Kind::Placeholder => Node::new(Kind::Placeholder, pos),
            other => Node::new(other, pos),
        };
        if keep_array {
            result.keep_array = true;
        }
        Ok(result)
    }

    fn resolve_ancestry(&mut self, path: &mut Node) -> Result<(), JsonataError> {
        let Kind::Path { steps, .. } = &mut path.kind else {
            return Ok(());
        };
        let Some(last) = steps.last() else {
            return Ok(());
        };
        let mut slots = last.seeking_parent.clone();
        if let Kind::Parent(slot) = last.kind {
            slots.push(slot);
        }
        let mut unresolved = Vec::new();
        for slot in slots {
            let mut index = steps.len() as isize - 2;
            while self.slots[slot].level > 0 {
                if index < 0 {
                    unresolved.push(slot);
                    break;
                }
                let mut i = index as usize;
                index -= 1;
                while index >= 0
                    && steps[i].focus.is_some()
                    && steps[index as usize].focus.is_some()
                {
                    i = index as usize;
                    index -= 1;
                }
                self.seek_parent(&mut steps[i], slot)?;
            }
        }
        path.seeking_parent.extend(unresolved);
        Ok(())
    }

    fn seek_parent(&mut self, node: &mut Node, slot: usize) -> Result<(), JsonataError> {
        match &mut node.kind {
            Kind::Name(_) | Kind::Wildcard => {
                self.slots[slot].level -= 1;
                if self.slots[slot].level == 0 {
                    if let Some(existing) = node.ancestor {
                        let label = self.slots[existing].label.clone();
                        self.slots[slot].label = label;
                    }
                    node.ancestor = Some(slot);
                    node.tuple = true;
                }
            }
            Kind::Parent(_) => {
                self.slots[slot].level += 1;
            }
            Kind::Block(exprs) => {
                if let Some(last) = exprs.last_mut() {
                    node.tuple = true;
                    self.seek_parent(last, slot)?;
                }
            }
            Kind::Path { steps, .. } => {
                node.tuple = true;
                let mut index = steps.len() as isize - 1;
                if index >= 0 {
                    self.seek_parent(&mut steps[index as usize], slot)?;
                    index -= 1;
                    while self.slots[slot].level > 0 && index >= 0 {
                        self.seek_parent(&mut steps[index as usize], slot)?;
                        index -= 1;
                    }
                }
            }
            _ => {
                return Err(JsonataError::new(
                    "S0217",
                    Some(node.pos),
                    Some(node.type_name().to_string()),
                ))
            }
        }
        Ok(())
    }
}

fn has_steps(node: &Node) -> bool {
    matches!(&node.kind, Kind::Path { steps, .. } if !steps.is_empty())
}

fn last_of_path(node: &mut Node) -> Option<&mut Node> {
    match &mut node.kind {
        Kind::Path { steps, .. } => steps.last_mut(),
        _ => None,
    }
}

fn unreachable_path<T>() -> Result<T, JsonataError> {
    Err(JsonataError::new("S0201", None, None))
}

/// Calls in tail position of a lambda body become thunks, which the evaluator's apply loop
/// runs without growing the stack.
fn tail_call_optimize(mut expr: Node) -> Node {
    match &mut expr.kind {
        Kind::Function { .. } if expr.predicate.is_empty() => {
            let pos = expr.pos;
            Node::new(
                Kind::Lambda(Box::new(Lambda {
                    params: Vec::new(),
                    signature: None,
                    body: expr,
                    thunk: true,
                })),
                pos,
            )
        }
        Kind::Condition {
            then, otherwise, ..
        } => {
            let t = std::mem::replace(then.as_mut(), Node::new(Kind::Null, 0));
            **then = tail_call_optimize(t);
            if let Some(o) = otherwise {
                let e = std::mem::replace(o.as_mut(), Node::new(Kind::Null, 0));
                **o = tail_call_optimize(e);
            }
            expr
        }
        Kind::Block(exprs) => {
            if let Some(last) = exprs.pop() {
                exprs.push(tail_call_optimize(last));
            }
            expr
        }
        _ => expr,
    }
}
