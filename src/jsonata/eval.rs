//! The evaluator: walks the processed tree with the reference implementation's semantics
//! (sequences and their flattening, tuple streams for focus/index/parent bindings,
//! undefined propagation).

use std::collections::HashMap;
use std::rc::Rc;
use std::time::Instant;

use super::ast::{BinOp, Group, Kind, Node, SortTerm, Stage};
use super::functions;
use super::value::{
    boolean, deep_equal, Func, LambdaVal, Members, Obj, ObjBuilder, Val, CONS, KEEP_SINGLETON,
    OUTER_WRAPPER, SEQUENCE, TUPLE_STREAM,
};
use super::{Bindings, Env, Expression, Frame, JsonataError, Limits, Resolver};
use crate::json::{Str, Value};

pub(crate) type Result<T> = std::result::Result<T, JsonataError>;

/// The deepest nesting of arrays and objects an expression may build: the functions that
/// walk values (printing, comparing, copying) recurse on it.
const MAX_VALUE_DEPTH: u32 = 500;

pub(crate) struct Evaluator<'a> {
    expr: &'a Expression,
    bindings: &'a Bindings,
    /// Supplies variables the bindings lack, on demand.
    resolver: Option<&'a Resolver<'a>>,
    depth: usize,
    max_depth: usize,
    stack_base: usize,
    max_stack: usize,
    deadline: Option<Instant>,
    ticks: u32,
    /// Frames that may be part of a reference cycle (a function stored in a scope it
    /// closes over); their variables are dropped when the evaluation ends.
    cyclic: Vec<Env<'a>>,
    root: Val<'a>,
    /// The evaluation's timestamp (`$now`, `$millis` agree within one evaluation).
    pub now: Option<i64>,
    pub rng: Option<u64>,
}

pub(crate) fn run<'a>(
    expr: &'a Expression,
    input: Option<&Value>,
    bindings: &'a Bindings,
    resolver: Option<&'a Resolver<'a>>,
    limits: &Limits,
) -> Result<Option<Value>> {
    let input = match input {
        None => Val::Undef,
        Some(v) => {
            let v = Val::from_json(v);
            if v.is_array() {
                Val::Arr(Rc::new(Members::new(vec![v])), SEQUENCE | OUTER_WRAPPER)
            } else {
                v
            }
        }
    };
    let mut ev = Evaluator {
        expr,
        bindings,
        resolver,
        depth: 0,
        max_depth: limits.max_depth,
        stack_base: super::stack_address(),
        max_stack: limits.max_stack_bytes,
        deadline: limits.time_limit.map(|d| Instant::now() + d),
        ticks: 0,
        cyclic: Vec::new(),
        root: input.clone(),
        now: None,
        rng: None,
    };
    let env = Frame::new(None);
    let result = ev.eval(&expr.root, &input, &env);
    for frame in ev.cyclic.drain(..) {
        frame.clear();
    }
    env.clear();
    let result = result?;
    Ok(result.to_json())
}

/// Whether a value may hold a function (and so a scope); large structures are assumed to.
fn may_hold_function(v: &Val<'_>, budget: &mut usize) -> bool {
    if *budget == 0 {
        return true;
    }
    *budget -= 1;
    match v {
        Val::Func(_) => true,
        Val::Arr(items, _) => items.iter().any(|i| may_hold_function(i, budget)),
        Val::Obj(o) => o.pairs.iter().any(|(_, i)| may_hold_function(i, budget)),
        _ => false,
    }
}

fn is_numeric(v: &Val<'_>) -> Result<bool> {
    match v {
        Val::Num(n) => {
            if n.is_nan() {
                Ok(false)
            } else if n.is_infinite() {
                Err(JsonataError::new("D1001", None, None).with_value(v))
            } else {
                Ok(true)
            }
        }
        _ => Ok(false),
    }
}

fn procedure_name(node: &Node) -> Option<String> {
    match &node.kind {
        Kind::Path { steps, .. } => match steps.first().map(|s| &s.kind) {
            Some(Kind::Name(n)) => Some(n.to_string()),
            _ => None,
        },
        Kind::Variable(n) => Some(n.to_string()),
        _ => None,
    }
}

impl<'a> Evaluator<'a> {
    pub(crate) fn bind(&mut self, env: &Env<'a>, name: Str, value: Val<'a>) {
        let mut budget = 64;
        if may_hold_function(&value, &mut budget) {
            self.cyclic.push(env.clone());
        }
        env.bind(name, value);
    }

    fn lookup(&self, env: &Env<'a>, name: &str) -> Val<'a> {
        if let Some(v) = env.lookup(name) {
            return v;
        }
        if name == "$" {
            return self.root.clone();
        }
        if let Some(v) = self.bindings.var(name) {
            return Val::from_json(v);
        }
        if let Some(v) = self.resolver.and_then(|resolve| resolve(name)) {
            return Val::from_json(&v);
        }
        if let Some(f) = self.bindings.function(name) {
            return Val::Func(Rc::new(Func::Native(f)));
        }
        if let Some(b) = functions::lookup(name) {
            return Val::Func(Rc::new(Func::Builtin(b)));
        }
        Val::Undef
    }

    fn tick(&mut self) -> Result<()> {
        self.ticks = self.ticks.wrapping_add(1);
        if self.ticks % 512 == 0 {
            if let Some(deadline) = self.deadline {
                if Instant::now() > deadline {
                    return Err(JsonataError::with_message(
                        "U1001",
                        "Expression evaluation timeout: Check for infinite loop".into(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Counts work done outside `eval` (long loops inside functions).
    pub(crate) fn check_time(&mut self) -> Result<()> {
        self.tick()
    }

    pub(crate) fn eval(
        &mut self,
        node: &'a Node,
        input: &Val<'a>,
        env: &Env<'a>,
    ) -> Result<Val<'a>> {
        self.depth += 1;
        if self.depth > self.max_depth
            || self.stack_base.abs_diff(super::stack_address()) > self.max_stack
        {
            self.depth -= 1;
            return Err(JsonataError::new("U1001", Some(node.pos), None));
        }
        let result = self.tick().and_then(|_| self.eval_inner(node, input, env));
        self.depth -= 1;
        result
    }

    fn eval_inner(&mut self, node: &'a Node, input: &Val<'a>, env: &Env<'a>) -> Result<Val<'a>> {
        let mut result = match &node.kind {
            Kind::Path {
                steps,
                keep_singleton,
            } => self.eval_path(node, steps, *keep_singleton, input, env)?,
            Kind::Binary { op, lhs, rhs } => self.eval_binary(node, *op, lhs, rhs, input, env)?,
            Kind::Neg(expr) => self.eval_neg(node, expr, input, env)?,
            Kind::Array(items) => self.eval_array(node, items, input, env)?,
            Kind::Object(pairs) => self.eval_group(pairs, node.pos, input.clone(), env)?,
            Kind::Name(name) => lookup_field(input, name),
            Kind::String(s) => Val::Str(s.clone()),
            Kind::Number(n) => Val::Num(*n),
            Kind::Bool(b) => Val::Bool(*b),
            Kind::Null => Val::Null,
            Kind::Wildcard => wildcard(input),
            Kind::Descendant => descendants(input),
            Kind::Parent(slot) => {
                let label = &self.expr.labels[*slot];
                env.lookup(label).unwrap_or(Val::Undef)
            }
            Kind::Condition {
                cond,
                then,
                otherwise,
            } => self.eval_condition(cond, then, otherwise.as_deref(), input, env)?,
            Kind::Block(exprs) => self.eval_block(exprs, input, env)?,
            Kind::Bind { name, rhs } => self.eval_bind(name, rhs, input, env)?,
            Kind::Regex(re) => Val::Func(Rc::new(Func::Regex(re))),
            Kind::Variable(name) => self.eval_variable(name, input, env),
            Kind::Apply { lhs, rhs } => self.eval_apply(node, lhs, rhs, input, env)?,
            Kind::Function { procedure, args } => {
                self.eval_function(node, procedure, args, input, env, None)?
            }
            Kind::Partial { procedure, args } => {
                self.eval_partial(node, procedure, args, input, env)?
            }
            Kind::Lambda(def) => make_lambda(def, input, env),
            Kind::Transform { .. } => make_transform(node, env),
            Kind::Sort(terms) => self.eval_sort(terms, input, env)?,
            Kind::Placeholder | Kind::Operator(_) => Val::Undef,
            Kind::RawDot(..)
            | Kind::RawFilter(..)
            | Kind::RawGroup(..)
            | Kind::RawSort(..)
            | Kind::RawFocus(..)
            | Kind::RawIndex(..)
            | Kind::RawBind(..) => return Err(JsonataError::new("S0206", Some(node.pos), None)),
        };
        for predicate in &node.predicate {
            result = self.eval_filter(predicate, result, env)?;
        }
        if !matches!(node.kind, Kind::Path { .. }) {
            if let Some(group) = &node.group {
                result = self.eval_group_node(group, result, env)?;
            }
        }
        if result.depth() > MAX_VALUE_DEPTH {
            return Err(JsonataError::new("U1001", Some(node.pos), None));
        }
        if result.is_sequence() && !result.has_flag(TUPLE_STREAM) {
            if node.keep_array {
                result.set_flag(KEEP_SINGLETON);
            }
            match result.arr_len() {
                0 => result = Val::Undef,
                1 if !result.has_flag(KEEP_SINGLETON) => result = result.arr_get(0),
                _ => {}
            }
        }
        Ok(result)
    }

    #[inline(never)]
    fn eval_neg(
        &mut self,
        node: &'a Node,
        expr: &'a Node,
        input: &Val<'a>,
        env: &Env<'a>,
    ) -> Result<Val<'a>> {
        let v = self.eval(expr, input, env)?;
        match v {
            Val::Undef => Ok(Val::Undef),
            Val::Num(n) if is_numeric(&v)? => Ok(Val::Num(-n)),
            other => {
                Err(JsonataError::new("D1002", Some(node.pos), Some("-".into())).with_value(&other))
            }
        }
    }

    #[inline(never)]
    fn eval_condition(
        &mut self,
        cond: &'a Node,
        then: &'a Node,
        otherwise: Option<&'a Node>,
        input: &Val<'a>,
        env: &Env<'a>,
    ) -> Result<Val<'a>> {
        let c = self.eval(cond, input, env)?;
        if boolean(&c).unwrap_or(false) {
            self.eval(then, input, env)
        } else if let Some(o) = otherwise {
            self.eval(o, input, env)
        } else {
            Ok(Val::Undef)
        }
    }

    #[inline(never)]
    fn eval_block(&mut self, exprs: &'a [Node], input: &Val<'a>, env: &Env<'a>) -> Result<Val<'a>> {
        let frame = Frame::new(Some(env.clone()));
        let mut result = Val::Undef;
        for e in exprs {
            result = self.eval(e, input, &frame)?;
        }
        Ok(result)
    }

    #[inline(never)]
    fn eval_bind(
        &mut self,
        name: &Str,
        rhs: &'a Node,
        input: &Val<'a>,
        env: &Env<'a>,
    ) -> Result<Val<'a>> {
        let v = self.eval(rhs, input, env)?;
        self.bind(env, name.clone(), v.clone());
        Ok(v)
    }

    #[inline(never)]
    fn eval_variable(&mut self, name: &str, input: &Val<'a>, env: &Env<'a>) -> Val<'a> {
        if name.is_empty() {
            if input.has_flag(OUTER_WRAPPER) {
                input.arr_get(0)
            } else {
                input.clone()
            }
        } else {
            self.lookup(env, name)
        }
    }

    fn eval_path(
        &mut self,
        node: &'a Node,
        steps: &'a [Node],
        keep_singleton: bool,
        input: &Val<'a>,
        env: &Env<'a>,
    ) -> Result<Val<'a>> {
        if let Some(v) = self.simple_path(node, steps, keep_singleton, input, env)? {
            return Ok(v);
        }
        let mut input_seq = if input.is_array() && !matches!(steps[0].kind, Kind::Variable(_)) {
            input.clone()
        } else {
            Val::seq(vec![input.clone()])
        };
        let mut result = Val::Undef;
        let mut is_tuple = false;
        let mut tuples: Option<Vec<Val<'a>>> = None;
        let last = steps.len() - 1;
        for (i, step) in steps.iter().enumerate() {
            if step.tuple {
                is_tuple = true;
            }
            if i == 0 && step.cons_array {
                result = self.eval(step, &input_seq, env)?;
            } else if is_tuple {
                tuples = Some(self.eval_tuple_step(step, &input_seq, tuples.take(), env)?);
            } else {
                result = self.eval_step(step, &input_seq, env, i == last)?;
            }
            if !is_tuple && (result.is_undef() || (result.is_array() && result.arr_len() == 0)) {
                break;
            }
            if step.focus.is_none() {
                input_seq = result.clone();
            }
        }
        let mut stream = Val::Undef;
        if is_tuple {
            let tuples = tuples.unwrap_or_default();
            stream = Val::Arr(Rc::new(Members::new(tuples)), SEQUENCE | TUPLE_STREAM);
            if node.tuple {
                result = stream.clone();
            } else {
                result = Val::seq(stream.items().map(|t| t.field("@")).collect());
            }
        }
        if keep_singleton {
            if result.is_array() && result.has_flag(CONS) && !result.is_sequence() {
                result = Val::seq(vec![result]);
            }
            result.set_flag(KEEP_SINGLETON);
        }
        if let Some(group) = &node.group {
            let data = if is_tuple { stream } else { result };
            result = self.eval_group_node(group, data, env)?;
        }
        Ok(result)
    }

    /// The common case of a path of plain field names (after an optional variable) through
    /// objects: walked directly, with the same result as the general algorithm. `None` when
    /// the path or the data needs the general algorithm.
    fn simple_path(
        &mut self,
        node: &'a Node,
        steps: &'a [Node],
        keep_singleton: bool,
        input: &Val<'a>,
        env: &Env<'a>,
    ) -> Result<Option<Val<'a>>> {
        if keep_singleton || node.group.is_some() || node.tuple {
            return Ok(None);
        }
        let plain = |s: &Node| s.is_bare() && !s.tuple && !s.keep_array && !s.cons_array;
        for (i, step) in steps.iter().enumerate() {
            let ok = match &step.kind {
                Kind::Name(_) => true,
                Kind::Variable(_) => i == 0,
                _ => false,
            };
            if !ok || !plain(step) {
                return Ok(None);
            }
        }
        let mut current = match &steps[0].kind {
            Kind::Variable(_) => self.eval(&steps[0], input, env)?,
            Kind::Name(name) => {
                if input.is_array() {
                    return Ok(None);
                }
                lookup_field(input, name)
            }
            _ => return Ok(None),
        };
        for step in &steps[1..] {
            let Kind::Name(name) = &step.kind else {
                return Ok(None);
            };
            match &current {
                Val::JObj(m) => current = m.get(name).map(Val::from_json).unwrap_or(Val::Undef),
                Val::Obj(o) => current = o.get(name).cloned().unwrap_or(Val::Undef),
                Val::JArr(..) | Val::Arr(..) => return Ok(None),
                _ => return Ok(Some(Val::Undef)),
            }
        }
        if current.is_sequence() {
            return Ok(None);
        }
        Ok(Some(current))
    }

    fn eval_step(
        &mut self,
        step: &'a Node,
        input: &Val<'a>,
        env: &Env<'a>,
        last: bool,
    ) -> Result<Val<'a>> {
        if let Kind::Sort(terms) = &step.kind {
            let result = self.eval_sort(terms, input, env)?;
            return self.eval_stages(&step.stages, result, env);
        }
        let mut results: Vec<Val<'a>> = Vec::with_capacity(input.arr_len().max(1));
        for item in input.items() {
            let mut res = self.eval(step, &item, env)?;
            for stage in &step.stages {
                if let Stage::Filter(p) = stage {
                    res = self.eval_filter(p, res, env)?;
                }
            }
            if !res.is_undef() {
                results.push(res);
            }
        }
        if last && results.len() == 1 && results[0].is_array() && !results[0].is_sequence() {
            return Ok(results.pop().unwrap_or(Val::Undef));
        }
        if results.iter().all(|r| !r.is_array() || r.has_flag(CONS)) {
            return Ok(Val::seq(results));
        }
        let mut out = Vec::with_capacity(results.len());
        for res in results {
            if !res.is_array() || res.has_flag(CONS) {
                out.push(res);
            } else {
                out.extend(res.items());
            }
        }
        Ok(Val::seq(out))
    }

    fn tuple_frame(&mut self, env: &Env<'a>, tuple: &Val<'a>) -> Env<'a> {
        let frame = Frame::new(Some(env.clone()));
        for (k, v) in tuple.entries() {
            self.bind(&frame, k, v);
        }
        frame
    }

    fn eval_tuple_step(
        &mut self,
        step: &'a Node,
        input: &Val<'a>,
        tuples: Option<Vec<Val<'a>>>,
        env: &Env<'a>,
    ) -> Result<Vec<Val<'a>>> {
        if let Kind::Sort(terms) = &step.kind {
            let result = match tuples {
                Some(t) => {
                    let stream = Val::Arr(Rc::new(Members::new(t)), SEQUENCE | TUPLE_STREAM);
                    self.eval_sort(terms, &stream, env)?
                }
                None => {
                    let sorted = self.eval_sort(terms, input, env)?;
                    let mut out = Vec::new();
                    for (i, s) in sorted.items().enumerate() {
                        let mut pairs = vec![(Str::from("@"), s)];
                        if let Some(index) = &step.index {
                            pairs.push((index.clone(), Val::Num(i as f64)));
                        }
                        out.push(Val::Obj(Rc::new(Obj::new(pairs))));
                    }
                    Val::Arr(Rc::new(Members::new(out)), SEQUENCE | TUPLE_STREAM)
                }
            };
            let result = self.eval_stages(&step.stages, result, env)?;
            return Ok(result.to_vec());
        }
        let tuples = match tuples {
            Some(t) => t,
            None => input
                .items()
                .map(|item| Val::Obj(Rc::new(Obj::new(vec![(Str::from("@"), item)]))))
                .collect(),
        };
        let mut result = Vec::new();
        for tuple in &tuples {
            let frame = self.tuple_frame(env, tuple);
            let context = tuple.field("@");
            let res = self.eval(step, &context, &frame)?;
            if res.is_undef() {
                continue;
            }
            let is_stream = res.has_flag(TUPLE_STREAM);
            let items: Vec<Val<'a>> = if res.is_array() {
                res.to_vec()
            } else {
                vec![res]
            };
            for (bb, item) in items.into_iter().enumerate() {
                let mut pairs = tuple.entries();
                let mut set = |k: Str, v: Val<'a>| match pairs.iter_mut().find(|(n, _)| *n == k) {
                    Some(slot) => slot.1 = v,
                    None => pairs.push((k, v)),
                };
                if is_stream {
                    for (k, v) in item.entries() {
                        set(k, v);
                    }
                } else {
                    if let Some(focus) = &step.focus {
                        set(focus.clone(), item);
                        set(Str::from("@"), context.clone());
                    } else {
                        set(Str::from("@"), item);
                    }
                    if let Some(index) = &step.index {
                        set(index.clone(), Val::Num(bb as f64));
                    }
                    if let Some(slot) = step.ancestor {
                        set(self.expr.labels[slot].clone(), context.clone());
                    }
                }
                result.push(Val::Obj(Rc::new(Obj::new(pairs))));
            }
        }
        if !step.stages.is_empty() {
            let stream = Val::Arr(Rc::new(Members::new(result)), SEQUENCE | TUPLE_STREAM);
            let filtered = self.eval_stages(&step.stages, stream, env)?;
            return Ok(filtered.to_vec());
        }
        Ok(result)
    }

    fn eval_stages(
        &mut self,
        stages: &'a [Stage],
        input: Val<'a>,
        env: &Env<'a>,
    ) -> Result<Val<'a>> {
        let mut result = input;
        for stage in stages {
            match stage {
                Stage::Filter(p) => result = self.eval_filter(p, result, env)?,
                Stage::Index(name) => {
                    let flags = result.flags();
                    let items: Vec<Val<'a>> = result
                        .items()
                        .enumerate()
                        .map(|(i, t)| {
                            let mut pairs = t.entries();
                            match pairs.iter_mut().find(|(k, _)| k == name) {
                                Some(slot) => slot.1 = Val::Num(i as f64),
                                None => pairs.push((name.clone(), Val::Num(i as f64))),
                            }
                            Val::Obj(Rc::new(Obj::new(pairs)))
                        })
                        .collect();
                    result = Val::Arr(Rc::new(Members::new(items)), flags | SEQUENCE);
                }
            }
        }
        Ok(result)
    }

    pub(crate) fn eval_filter(
        &mut self,
        predicate: &'a Node,
        input: Val<'a>,
        env: &Env<'a>,
    ) -> Result<Val<'a>> {
        let tuple_stream = input.has_flag(TUPLE_STREAM);
        let flags = if tuple_stream {
            SEQUENCE | TUPLE_STREAM
        } else {
            SEQUENCE
        };
        let items: Vec<Val<'a>> = if input.is_array() {
            input.to_vec()
        } else {
            vec![input]
        };
        if let Kind::Number(n) = predicate.kind {
            let mut index = n.floor();
            if index < 0.0 {
                index += items.len() as f64;
            }
            if index >= 0.0 && (index as usize) < items.len() {
                let item = items[index as usize].clone();
                if item.is_undef() {
                    return Ok(Val::Arr(Rc::new(Members::new(Vec::new())), flags));
                }
                if item.is_array() {
                    return Ok(item);
                }
                return Ok(Val::Arr(Rc::new(Members::new(vec![item])), flags));
            }
            return Ok(Val::Arr(Rc::new(Members::new(Vec::new())), flags));
        }
        let len = items.len() as f64;
        let mut results = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let (context, frame) = if tuple_stream {
                let frame = self.tuple_frame(env, item);
                (item.field("@"), frame)
            } else {
                (item.clone(), env.clone())
            };
            let res = self.eval(predicate, &context, &frame)?;
            let numbers: Option<Vec<f64>> = if is_numeric(&res)? {
                Some(vec![res.as_num().unwrap_or(0.0)])
            } else if res.is_array() {
                let mut all = Vec::new();
                let mut ok = true;
                for v in res.items() {
                    match v {
                        Val::Num(n) => all.push(n),
                        _ => {
                            ok = false;
                            break;
                        }
                    }
                }
                ok.then_some(all)
            } else {
                None
            };
            match numbers {
                Some(ns) => {
                    for n in ns {
                        let mut ii = n.floor();
                        if ii < 0.0 {
                            ii += len;
                        }
                        if ii == index as f64 {
                            results.push(item.clone());
                        }
                    }
                }
                None => {
                    if boolean(&res).unwrap_or(false) {
                        results.push(item.clone());
                    }
                }
            }
        }
        Ok(Val::Arr(Rc::new(Members::new(results)), flags))
    }

    fn eval_group_node(
        &mut self,
        group: &'a Group,
        input: Val<'a>,
        env: &Env<'a>,
    ) -> Result<Val<'a>> {
        self.eval_group(&group.pairs, group.pos, input, env)
    }

    fn eval_group(
        &mut self,
        pairs: &'a [(Node, Node)],
        _pos: usize,
        input: Val<'a>,
        env: &Env<'a>,
    ) -> Result<Val<'a>> {
        let reduce = input.has_flag(TUPLE_STREAM);
        let mut items: Vec<Val<'a>> = if input.is_array() {
            input.to_vec()
        } else {
            vec![input]
        };
        if items.is_empty() {
            items.push(Val::Undef);
        }
        if items.len() == 1 && !reduce && pairs.len() <= 16 {
            // an object constructor on one context value: no grouping to do
            let item = &items[0];
            let mut keys: Vec<(Str, usize)> = Vec::with_capacity(pairs.len());
            for (pair_index, (key_node, _)) in pairs.iter().enumerate() {
                match self.eval(key_node, item, env)? {
                    Val::Undef => {}
                    Val::Str(k) => {
                        if keys.iter().any(|(seen, _)| *seen == k) {
                            return Err(JsonataError::new("D1009", Some(key_node.pos), None)
                                .with_value(&Val::Str(k)));
                        }
                        keys.push((k, pair_index));
                    }
                    other => {
                        return Err(
                            JsonataError::new("T1003", Some(key_node.pos), None).with_value(&other)
                        )
                    }
                }
            }
            let mut out = Vec::with_capacity(keys.len());
            for (key, idx) in keys {
                let value = self.eval(&pairs[idx].1, item, env)?;
                if !value.is_undef() {
                    out.push((key, value));
                }
            }
            return Ok(Val::Obj(Rc::new(Obj::new(out))));
        }
        // key -> (data, pair index)
        let mut order: Vec<Str> = Vec::new();
        let mut groups: HashMap<Str, (Val<'a>, usize)> = HashMap::new();
        for item in &items {
            let frame = if reduce {
                self.tuple_frame(env, item)
            } else {
                env.clone()
            };
            let context = if reduce {
                item.field("@")
            } else {
                item.clone()
            };
            for (pair_index, (key_node, _)) in pairs.iter().enumerate() {
                let key = self.eval(key_node, &context, &frame)?;
                match key {
                    Val::Undef => {}
                    Val::Str(k) => match groups.get_mut(&k) {
                        Some((data, idx)) => {
                            if *idx != pair_index {
                                return Err(JsonataError::new("D1009", Some(key_node.pos), None)
                                    .with_value(&Val::Str(k)));
                            }
                            *data = functions::append(data.clone(), item.clone());
                        }
                        None => {
                            order.push(k.clone());
                            groups.insert(k, (item.clone(), pair_index));
                        }
                    },
                    other => {
                        return Err(
                            JsonataError::new("T1003", Some(key_node.pos), None).with_value(&other)
                        )
                    }
                }
            }
        }
        let mut out = ObjBuilder::new();
        for key in order {
            let Some((data, idx)) = groups.remove(&key) else {
                continue;
            };
            let (context, frame) = if reduce {
                let tuple = reduce_tuple_stream(&data);
                let context = tuple.field("@");
                let pairs_wo: Vec<(Str, Val<'a>)> = tuple
                    .entries()
                    .into_iter()
                    .filter(|(k, _)| k.as_str() != "@")
                    .collect();
                let t = Val::Obj(Rc::new(Obj::new(pairs_wo)));
                (context, self.tuple_frame(env, &t))
            } else {
                (data, env.clone())
            };
            let value = self.eval(&pairs[idx].1, &context, &frame)?;
            if !value.is_undef() {
                out.insert(key, value);
            }
        }
        Ok(out.build())
    }

    fn eval_array(
        &mut self,
        node: &'a Node,
        items: &'a [Node],
        input: &Val<'a>,
        env: &Env<'a>,
    ) -> Result<Val<'a>> {
        let mut result: Vec<Val<'a>> = Vec::with_capacity(items.len());
        for item in items {
            let value = self.eval(item, input, env)?;
            if value.is_undef() {
                continue;
            }
            if matches!(item.kind, Kind::Array(_)) {
                result.push(value);
            } else if value.is_array() {
                result.extend(value.items());
            } else {
                result.push(value);
            }
        }
        let flags = if node.cons_array { CONS } else { 0 };
        Ok(Val::Arr(Rc::new(Members::new(result)), flags))
    }

    fn eval_binary(
        &mut self,
        node: &'a Node,
        op: BinOp,
        lhs_node: &'a Node,
        rhs_node: &'a Node,
        input: &Val<'a>,
        env: &Env<'a>,
    ) -> Result<Val<'a>> {
        let lhs = self.eval(lhs_node, input, env)?;
        let err =
            |code: &str| JsonataError::new(code, Some(node.pos), Some(op.symbol().to_string()));
        match op {
            BinOp::And => {
                if !boolean(&lhs).unwrap_or(false) {
                    return Ok(Val::Bool(false));
                }
                let rhs = self.eval(rhs_node, input, env)?;
                return Ok(Val::Bool(boolean(&rhs).unwrap_or(false)));
            }
            BinOp::Or => {
                if boolean(&lhs).unwrap_or(false) {
                    return Ok(Val::Bool(true));
                }
                let rhs = self.eval(rhs_node, input, env)?;
                return Ok(Val::Bool(boolean(&rhs).unwrap_or(false)));
            }
            _ => {}
        }
        let rhs = self.eval(rhs_node, input, env)?;
        Ok(match op {
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Mod => {
                if !lhs.is_undef() && !is_numeric(&lhs)? {
                    return Err(err("T2001").with_value(&lhs));
                }
                if !rhs.is_undef() && !is_numeric(&rhs)? {
                    return Err(err("T2002").with_value(&rhs));
                }
                let (Val::Num(l), Val::Num(r)) = (&lhs, &rhs) else {
                    return Ok(Val::Undef);
                };
                Val::Num(match op {
                    BinOp::Add => l + r,
                    BinOp::Sub => l - r,
                    BinOp::Mul => l * r,
                    BinOp::Div => l / r,
                    _ => l % r,
                })
            }
            BinOp::Eq | BinOp::Ne => {
                if lhs.is_undef() || rhs.is_undef() {
                    return Ok(Val::Bool(false));
                }
                let eq = deep_equal(&lhs, &rhs);
                Val::Bool(if op == BinOp::Eq { eq } else { !eq })
            }
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                let comparable = |v: &Val<'a>| matches!(v, Val::Undef | Val::Str(_) | Val::Num(_));
                if !comparable(&lhs) {
                    return Err(err("T2010").with_value(&lhs));
                }
                if !comparable(&rhs) {
                    return Err(err("T2010").with_value(&rhs));
                }
                if lhs.is_undef() || rhs.is_undef() {
                    return Ok(Val::Undef);
                }
                let ord = match (&lhs, &rhs) {
                    (Val::Num(a), Val::Num(b)) => a.partial_cmp(b),
                    (Val::Str(a), Val::Str(b)) => Some(functions::compare_strings(a, b)),
                    _ => return Err(err("T2009").with_value(&lhs).with_value2(&rhs)),
                };
                let Some(ord) = ord else {
                    return Ok(Val::Bool(false));
                };
                use std::cmp::Ordering::*;
                Val::Bool(match op {
                    BinOp::Lt => ord == Less,
                    BinOp::Le => ord != Greater,
                    BinOp::Gt => ord == Greater,
                    _ => ord != Less,
                })
            }
            BinOp::Concat => {
                let mut s = String::new();
                if !lhs.is_undef() {
                    s.push_str(&functions::to_string(&lhs, false)?);
                }
                if !rhs.is_undef() {
                    let right = functions::to_string(&rhs, false)?;
                    if s.len() + right.len() > functions::MAX_STRING {
                        return Err(err("D2014").with_text(super::value::format_number(
                            (s.len() + right.len()) as f64,
                        )));
                    }
                    s.push_str(&right);
                }
                Val::Str(Str::from(s))
            }
            BinOp::In => {
                if lhs.is_undef() || rhs.is_undef() {
                    return Ok(Val::Bool(false));
                }
                Val::Bool(rhs.items().any(|v| strict_equal(&v, &lhs)))
            }
            BinOp::Range => {
                let is_int =
                    |v: &Val<'a>| matches!(v, Val::Num(n) if n.fract() == 0.0 && n.is_finite());
                if !lhs.is_undef() && !is_int(&lhs) {
                    return Err(err("T2003").with_value(&lhs));
                }
                if !rhs.is_undef() && !is_int(&rhs) {
                    return Err(err("T2004").with_value(&rhs));
                }
                let (Val::Num(l), Val::Num(r)) = (&lhs, &rhs) else {
                    return Ok(Val::Undef);
                };
                if l > r {
                    return Ok(Val::Undef);
                }
                let size = r - l + 1.0;
                if size > 1e7 {
                    return Err(err("D2014").with_text(super::value::format_number(size)));
                }
                let (l, size) = (*l as i64, size as usize);
                let items: Vec<Val<'a>> =
                    (0..size).map(|i| Val::Num((l + i as i64) as f64)).collect();
                Val::Arr(Rc::new(Members::new(items)), SEQUENCE)
            }
            BinOp::And | BinOp::Or => Val::Undef,
        })
    }

    fn eval_apply(
        &mut self,
        node: &'a Node,
        lhs_node: &'a Node,
        rhs_node: &'a Node,
        input: &Val<'a>,
        env: &Env<'a>,
    ) -> Result<Val<'a>> {
        let lhs = self.eval(lhs_node, input, env)?;
        if let Kind::Function { procedure, args } = &rhs_node.kind {
            return self.eval_function(rhs_node, procedure, args, input, env, Some(lhs));
        }
        let func = self.eval(rhs_node, input, env)?;
        if !func.is_func() {
            return Err(JsonataError::new("T2006", Some(node.pos), None).with_value(&func));
        }
        if lhs.is_func() {
            return Ok(Val::Func(Rc::new(Func::Compose(lhs, func))));
        }
        self.apply(&func, vec![lhs], input, env)
    }

    fn eval_function(
        &mut self,
        node: &'a Node,
        procedure: &'a Node,
        args: &'a [Node],
        input: &Val<'a>,
        env: &Env<'a>,
        applyto: Option<Val<'a>>,
    ) -> Result<Val<'a>> {
        let proc = self.eval(procedure, input, env)?;
        let name = procedure_name(procedure);
        if proc.is_undef() {
            if let (Kind::Path { .. }, Some(n)) = (&procedure.kind, &name) {
                if !self.lookup(env, n).is_undef() {
                    return Err(JsonataError::new("T1005", Some(node.pos), Some(n.clone())));
                }
            }
        }
        let mut evaluated = Vec::with_capacity(args.len() + 1);
        if let Some(context) = applyto {
            evaluated.push(context);
        }
        for arg in args {
            evaluated.push(self.eval(arg, input, env)?);
        }
        self.apply(&proc, evaluated, input, env).map_err(|e| {
            let e = e.at(node.pos);
            match &name {
                Some(n) => e.token_if_none(n),
                None => e,
            }
        })
    }

    fn eval_partial(
        &mut self,
        node: &'a Node,
        procedure: &'a Node,
        args: &'a [Node],
        input: &Val<'a>,
        env: &Env<'a>,
    ) -> Result<Val<'a>> {
        let proc = self.eval(procedure, input, env)?;
        let name = procedure_name(procedure);
        if proc.is_undef() {
            if let (Kind::Path { .. }, Some(n)) = (&procedure.kind, &name) {
                if !self.lookup(env, n).is_undef() {
                    return Err(JsonataError::new("T1007", Some(node.pos), Some(n.clone())));
                }
            }
        }
        if !proc.is_func() {
            return Err(JsonataError::new("T1008", Some(node.pos), name));
        }
        let mut bound = Vec::with_capacity(args.len());
        for arg in args {
            if matches!(arg.kind, Kind::Placeholder) {
                bound.push(None);
            } else {
                bound.push(Some(self.eval(arg, input, env)?));
            }
        }
        Ok(Val::Func(Rc::new(Func::Partial {
            target: proc,
            args: bound,
        })))
    }

    /// Calls a function value, running tail calls in a loop.
    pub(crate) fn apply(
        &mut self,
        proc: &Val<'a>,
        args: Vec<Val<'a>>,
        input: &Val<'a>,
        env: &Env<'a>,
    ) -> Result<Val<'a>> {
        let mut result = self.apply_inner(proc, args, input, env)?;
        loop {
            let thunk = match &result {
                Val::Func(f) => match &**f {
                    Func::Lambda(l) if l.def.thunk => Some(f.clone()),
                    _ => None,
                },
                _ => None,
            };
            let Some(f) = thunk else { break };
            let Func::Lambda(l) = &*f else { break };
            let Kind::Function { procedure, args } = &l.def.body.kind else {
                break;
            };
            self.tick()?;
            let next = self.eval(procedure, &l.input, &l.env)?;
            let mut evaluated = Vec::with_capacity(args.len());
            for arg in args {
                evaluated.push(self.eval(arg, &l.input, &l.env)?);
            }
            let name = procedure_name(procedure);
            result = self
                .apply_inner(&next, evaluated, &l.input, &l.env)
                .map_err(|e| match &name {
                    Some(n) => e.token_if_none(n).at(l.def.body.pos),
                    None => e.at(l.def.body.pos),
                })?;
        }
        Ok(result)
    }

    fn apply_inner(
        &mut self,
        proc: &Val<'a>,
        args: Vec<Val<'a>>,
        input: &Val<'a>,
        env: &Env<'a>,
    ) -> Result<Val<'a>> {
        let Val::Func(f) = proc else {
            return Err(JsonataError::new("T1006", None, None));
        };
        match &**f {
            Func::Lambda(l) => {
                let args = match &l.def.signature {
                    Some(sig) => sig.validate(args, input)?,
                    None => args,
                };
                let frame = Frame::new(Some(l.env.clone()));
                for (i, p) in l.params.iter().enumerate() {
                    let v = args.get(i).cloned().unwrap_or(Val::Undef);
                    self.bind(&frame, p.clone(), v);
                }
                let r = self.eval(&l.def.body, &l.input, &frame);
                r
            }
            Func::Builtin(b) => {
                let args = match b.signature() {
                    Some(sig) => sig.validate(args, input)?,
                    None => args,
                };
                (b.func)(self, args, input, env).map_err(|e| e.token_if_none(b.name))
            }
            Func::Native(n) => {
                let args = match &n.signature {
                    Some(sig) => sig.validate(args, input)?,
                    None => args,
                };
                let json_args: Vec<Option<Value>> = args.iter().map(|a| a.to_json()).collect();
                let r = (n.function)(&json_args).map_err(|e| e.token_if_none(&n.name))?;
                Ok(r.map(|v| Val::from_json(&v)).unwrap_or(Val::Undef))
            }
            Func::Partial {
                target,
                args: bound,
            } => {
                let mut supplied = args.into_iter();
                let full: Vec<Val<'a>> = bound
                    .iter()
                    .map(|b| match b {
                        Some(v) => v.clone(),
                        None => supplied.next().unwrap_or(Val::Undef),
                    })
                    .collect();
                self.apply(target, full, input, env)
            }
            Func::Regex(re) => {
                let s = match args.first() {
                    Some(Val::Str(s)) => s.clone(),
                    _ => return Ok(Val::Undef),
                };
                Ok(functions::regex_match_object(re, &s, 0))
            }
            Func::Transform { node, env: tenv } => {
                let obj = args.into_iter().next().unwrap_or(Val::Undef);
                self.transform(node, tenv, obj)
            }
            Func::Compose(first, second) => {
                let r = self.apply(first, args, input, env)?;
                self.apply(second, vec![r], input, env)
            }
        }
    }

    fn transform(&mut self, node: &'a Node, env: &Env<'a>, obj: Val<'a>) -> Result<Val<'a>> {
        let Kind::Transform {
            pattern,
            update,
            delete,
        } = &node.kind
        else {
            return Ok(Val::Undef);
        };
        if obj.is_undef() {
            return Ok(Val::Undef);
        }
        if obj.symbol() != b'o' && obj.symbol() != b'a' {
            return Err(JsonataError::new("T0410", Some(node.pos), None)
                .with_index(1)
                .with_value(&obj));
        }
        let doc = deep_copy(&obj);
        let matches = self.eval(pattern, &doc, env)?;
        let mut edits: HashMap<*const Obj<'a>, Vec<Edit<'a>>> = HashMap::new();
        if !matches.is_undef() {
            for m in matches.items() {
                let update_value = self.eval(update, &m, env)?;
                let mut edit = Edit {
                    set: Vec::new(),
                    remove: Vec::new(),
                };
                if !update_value.is_undef() {
                    if !update_value.is_object() {
                        return Err(JsonataError::new("T2011", Some(update.pos), None)
                            .with_value(&update_value));
                    }
                    edit.set = update_value.entries();
                }
                if let Some(delete) = delete {
                    let deletions = self.eval(delete, &m, env)?;
                    if !deletions.is_undef() {
                        let all_strings = deletions.items().all(|d| matches!(d, Val::Str(_)));
                        if !all_strings {
                            return Err(JsonataError::new("T2012", Some(delete.pos), None)
                                .with_value(&deletions));
                        }
                        edit.remove = deletions
                            .items()
                            .filter_map(|d| match d {
                                Val::Str(s) => Some(s),
                                _ => None,
                            })
                            .collect();
                    }
                }
                if let Val::Obj(o) = &m {
                    edits.entry(Rc::as_ptr(o)).or_default().push(edit);
                }
            }
        }
        if edits.is_empty() {
            return Ok(doc);
        }
        Ok(rebuild(&doc, &edits))
    }

    pub(crate) fn eval_sort(
        &mut self,
        terms: &'a [SortTerm],
        input: &Val<'a>,
        env: &Env<'a>,
    ) -> Result<Val<'a>> {
        let tuple_sort = input.has_flag(TUPLE_STREAM);
        let items: Vec<Val<'a>> = input.to_vec();
        if items.len() <= 1 {
            return Ok(input.clone());
        }
        // evaluate the sort keys once per item
        let mut keyed: Vec<(Vec<Val<'a>>, Val<'a>)> = Vec::with_capacity(items.len());
        for item in items {
            let (context, frame) = if tuple_sort {
                (item.field("@"), self.tuple_frame(env, &item))
            } else {
                (item.clone(), env.clone())
            };
            let mut keys = Vec::with_capacity(terms.len());
            for term in terms {
                keys.push(self.eval(&term.expr, &context, &frame)?);
            }
            keyed.push((keys, item));
        }
        let mut error = None;
        let mut comparator = |a: &(Vec<Val<'a>>, Val<'a>), b: &(Vec<Val<'a>>, Val<'a>)| -> bool {
            for (i, term) in terms.iter().enumerate() {
                let (aa, bb) = (&a.0[i], &b.0[i]);
                let comp = match (aa, bb) {
                    (Val::Undef, Val::Undef) => 0,
                    (Val::Undef, _) => 1,
                    (_, Val::Undef) => -1,
                    (Val::Num(x), Val::Num(y)) => cmp_num(*x, *y),
                    (Val::Str(x), Val::Str(y)) => match functions::compare_strings(x, y) {
                        std::cmp::Ordering::Less => -1,
                        std::cmp::Ordering::Equal => 0,
                        std::cmp::Ordering::Greater => 1,
                    },
                    _ => {
                        let ok = |v: &Val<'a>| matches!(v, Val::Num(_) | Val::Str(_));
                        if !ok(aa) || !ok(bb) {
                            let bad = if !ok(aa) { aa } else { bb };
                            error.get_or_insert(
                                JsonataError::new("T2008", Some(term.expr.pos), None)
                                    .with_value(bad),
                            );
                        } else {
                            error.get_or_insert(
                                JsonataError::new("T2007", Some(term.expr.pos), None)
                                    .with_value(aa)
                                    .with_value2(bb),
                            );
                        }
                        0
                    }
                };
                let comp = if term.descending { -comp } else { comp };
                if comp != 0 {
                    return comp == 1;
                }
            }
            false
        };
        let sorted = merge_sort(keyed, &mut comparator);
        if let Some(e) = error {
            return Err(e);
        }
        let out: Vec<Val<'a>> = sorted.into_iter().map(|(_, v)| v).collect();
        let flags = if tuple_sort {
            SEQUENCE | TUPLE_STREAM
        } else {
            0
        };
        Ok(Val::Arr(Rc::new(Members::new(out)), flags))
    }
}

fn cmp_num(x: f64, y: f64) -> i32 {
    if x == y {
        0
    } else if x < y {
        -1
    } else {
        1
    }
}

/// A stable merge sort with the reference's comparator convention (`true`: `a` goes after
/// `b`).
pub(crate) fn merge_sort<T>(items: Vec<T>, after: &mut dyn FnMut(&T, &T) -> bool) -> Vec<T> {
    if items.len() <= 1 {
        return items;
    }
    let mut items = items;
    let right = items.split_off(items.len() / 2);
    let left = merge_sort(items, after);
    let right = merge_sort(right, after);
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut l = left.into_iter().peekable();
    let mut r = right.into_iter().peekable();
    loop {
        match (l.peek(), r.peek()) {
            (Some(a), Some(b)) => {
                if after(a, b) {
                    out.extend(r.next());
                } else {
                    out.extend(l.next());
                }
            }
            (Some(_), None) => out.extend(l.next()),
            (None, Some(_)) => out.extend(r.next()),
            (None, None) => break,
        }
    }
    out
}

fn make_lambda<'a>(def: &'a super::ast::Lambda, input: &Val<'a>, env: &Env<'a>) -> Val<'a> {
    Val::Func(Rc::new(Func::Lambda(LambdaVal {
        def,
        env: env.clone(),
        input: input.clone(),
        params: def.params.clone(),
    })))
}

fn make_transform<'a>(node: &'a Node, env: &Env<'a>) -> Val<'a> {
    Val::Func(Rc::new(Func::Transform {
        node,
        env: env.clone(),
    }))
}

struct Edit<'a> {
    set: Vec<(Str, Val<'a>)>,
    remove: Vec<Str>,
}

/// A copy in which every object and array is new, so that matches of a transform's pattern
/// identify their place in the copy.
fn deep_copy<'a>(v: &Val<'a>) -> Val<'a> {
    match v {
        Val::JArr(..) | Val::Arr(..) => Val::Arr(
            Rc::new(v.items().map(|i| deep_copy(&i)).collect()),
            v.flags(),
        ),
        Val::JObj(_) | Val::Obj(_) => Val::Obj(Rc::new(Obj::new(
            v.entries()
                .into_iter()
                .map(|(k, i)| (k, deep_copy(&i)))
                .collect(),
        ))),
        other => other.clone(),
    }
}

fn rebuild<'a>(v: &Val<'a>, edits: &HashMap<*const Obj<'a>, Vec<Edit<'a>>>) -> Val<'a> {
    match v {
        Val::Arr(items, flags) => Val::Arr(
            Rc::new(items.iter().map(|i| rebuild(i, edits)).collect()),
            *flags,
        ),
        Val::Obj(o) => {
            let mut builder = ObjBuilder::new();
            for (k, i) in &o.pairs {
                builder.insert(k.clone(), rebuild(i, edits));
            }
            if let Some(list) = edits.get(&Rc::as_ptr(o)) {
                for edit in list {
                    for (k, val) in &edit.set {
                        builder.insert(k.clone(), val.clone());
                    }
                    for k in &edit.remove {
                        builder.remove(k);
                    }
                }
            }
            builder.build()
        }
        other => other.clone(),
    }
}

fn reduce_tuple_stream<'a>(data: &Val<'a>) -> Val<'a> {
    if !data.is_array() {
        return data.clone();
    }
    let mut pairs: Vec<(Str, Val<'a>)> = Vec::new();
    for (i, tuple) in data.items().enumerate() {
        for (k, v) in tuple.entries() {
            if i == 0 {
                pairs.push((k, v));
            } else {
                match pairs.iter_mut().find(|(n, _)| *n == k) {
                    Some(slot) => slot.1 = functions::append(slot.1.clone(), v),
                    None => pairs.push((k, v)),
                }
            }
        }
    }
    Val::Obj(Rc::new(Obj::new(pairs)))
}

fn strict_equal(a: &Val<'_>, b: &Val<'_>) -> bool {
    match (a, b) {
        (Val::Num(x), Val::Num(y)) => x == y,
        (Val::Str(x), Val::Str(y)) => x == y,
        (Val::Bool(x), Val::Bool(y)) => x == y,
        (Val::Null, Val::Null) => true,
        _ => false,
    }
}

/// A field of an object, or of every object in an array (flattened one level).
pub(crate) fn lookup_field<'a>(input: &Val<'a>, key: &str) -> Val<'a> {
    match input {
        Val::JObj(m) => m.get(key).map(Val::from_json).unwrap_or(Val::Undef),
        Val::Obj(o) => o.get(key).cloned().unwrap_or(Val::Undef),
        Val::JArr(..) | Val::Arr(..) => {
            let mut out = Vec::new();
            for item in input.items() {
                let res = lookup_field(&item, key);
                if res.is_array() {
                    out.extend(res.items());
                } else if !res.is_undef() {
                    out.push(res);
                }
            }
            Val::seq(out)
        }
        _ => Val::Undef,
    }
}

fn flatten_into<'a>(v: Val<'a>, out: &mut Vec<Val<'a>>) {
    if v.is_array() {
        for i in v.items() {
            flatten_into(i, out);
        }
    } else {
        out.push(v);
    }
}

fn wildcard<'a>(input: &Val<'a>) -> Val<'a> {
    let mut input = input.clone();
    if input.has_flag(OUTER_WRAPPER) && input.arr_len() > 0 {
        input = input.arr_get(0);
    }
    let mut out = Vec::new();
    if input.is_array() {
        for v in input.items() {
            if v.is_array() {
                flatten_into(v, &mut out);
            } else {
                out.push(v);
            }
        }
    } else if input.is_object() {
        for (_, v) in input.entries() {
            if v.is_array() {
                flatten_into(v, &mut out);
            } else {
                out.push(v);
            }
        }
    }
    Val::seq(out)
}

fn descendants<'a>(input: &Val<'a>) -> Val<'a> {
    if input.is_undef() {
        return Val::Undef;
    }
    let mut out = Vec::new();
    recurse_descendants(input, &mut out);
    if out.len() == 1 {
        return out.pop().unwrap_or(Val::Undef);
    }
    Val::seq(out)
}

fn recurse_descendants<'a>(input: &Val<'a>, out: &mut Vec<Val<'a>>) {
    if input.is_array() {
        for i in input.items() {
            recurse_descendants(&i, out);
        }
    } else {
        out.push(input.clone());
        if input.is_object() {
            for (_, v) in input.entries() {
                recurse_descendants(&v, out);
            }
        }
    }
}
