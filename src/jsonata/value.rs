//! The evaluator's values: JSON (input documents stay in `json::Value` form and are read in
//! place), plus what only exists during evaluation: undefined, sequences with their flags,
//! constructed objects that may hold functions, and functions.

use std::collections::HashMap;
use std::rc::Rc;

use super::ast::{Lambda, Node};
use super::functions::Builtin;
use super::regex::JRegex;
use super::Env;
use crate::json::{self, Map, Number, Str, Value};

pub(crate) const SEQUENCE: u8 = 1;
pub(crate) const KEEP_SINGLETON: u8 = 2;
pub(crate) const CONS: u8 = 4;
pub(crate) const OUTER_WRAPPER: u8 = 8;
pub(crate) const TUPLE_STREAM: u8 = 16;

#[derive(Clone)]
pub(crate) enum Val<'a> {
    Undef,
    Null,
    Bool(bool),
    Num(f64),
    Str(Str),
    /// An array of the input (or of a binding), with sequence flags.
    JArr(json::Array, u8),
    JObj(Map),
    Arr(Rc<Members<'a>>, u8),
    Obj(Rc<Obj<'a>>),
    Func(Rc<Func<'a>>),
}

/// The members of a constructed array. Dropping it is iterative, so that deeply nested
/// values built by an expression cannot overflow the stack when freed.
pub(crate) struct Members<'a> {
    items: Vec<Val<'a>>,
    /// How deeply constructed containers nest inside (1 for a flat array).
    pub depth: u32,
}

impl<'a> Members<'a> {
    pub fn new(items: Vec<Val<'a>>) -> Members<'a> {
        let depth = 1 + items.iter().map(Val::depth).max().unwrap_or(0);
        Members { items, depth }
    }
}

impl<'a> std::ops::Deref for Members<'a> {
    type Target = Vec<Val<'a>>;
    fn deref(&self) -> &Vec<Val<'a>> {
        &self.items
    }
}

impl<'a> FromIterator<Val<'a>> for Members<'a> {
    fn from_iter<I: IntoIterator<Item = Val<'a>>>(iter: I) -> Self {
        Members::new(iter.into_iter().collect())
    }
}

impl Drop for Members<'_> {
    fn drop(&mut self) {
        drop_iteratively(std::mem::take(&mut self.items));
    }
}

fn drop_iteratively(values: Vec<Val<'_>>) {
    let mut stack = values;
    while let Some(v) = stack.pop() {
        match v {
            Val::Arr(rc, _) => {
                if let Ok(mut items) = Rc::try_unwrap(rc) {
                    stack.append(&mut items.items);
                }
            }
            Val::Obj(rc) => {
                if let Ok(mut obj) = Rc::try_unwrap(rc) {
                    stack.extend(std::mem::take(&mut obj.pairs).into_iter().map(|(_, v)| v));
                }
            }
            _ => {}
        }
    }
}

pub(crate) struct Obj<'a> {
    pub pairs: Vec<(Str, Val<'a>)>,
    index: Option<HashMap<Str, usize>>,
    pub depth: u32,
}

impl Drop for Obj<'_> {
    fn drop(&mut self) {
        drop_iteratively(
            std::mem::take(&mut self.pairs)
                .into_iter()
                .map(|(_, v)| v)
                .collect(),
        );
    }
}

impl<'a> Obj<'a> {
    pub fn new(pairs: Vec<(Str, Val<'a>)>) -> Obj<'a> {
        let index = if pairs.len() > 16 {
            Some(
                pairs
                    .iter()
                    .enumerate()
                    .map(|(i, (k, _))| (k.clone(), i))
                    .collect(),
            )
        } else {
            None
        };
        let depth = 1 + pairs.iter().map(|(_, v)| v.depth()).max().unwrap_or(0);
        Obj {
            pairs,
            index,
            depth,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Val<'a>> {
        match &self.index {
            Some(index) => index.get(key).map(|&i| &self.pairs[i].1),
            None => self
                .pairs
                .iter()
                .find(|(k, _)| k.as_str() == key)
                .map(|(_, v)| v),
        }
    }
}

/// Up to this many keys, an object's keys are searched one by one: comparing short keys is
/// cheaper than hashing them.
const LINEAR_KEYS: usize = 24;

/// Builds an object key by key, keeping the first position of a key that is set twice.
pub(crate) struct ObjBuilder<'a> {
    pairs: Vec<(Str, Val<'a>)>,
    index: HashMap<Str, usize>,
}

impl<'a> ObjBuilder<'a> {
    pub fn new() -> Self {
        ObjBuilder {
            pairs: Vec::new(),
            index: HashMap::new(),
        }
    }

    pub fn insert(&mut self, key: Str, value: Val<'a>) {
        if self.pairs.len() < LINEAR_KEYS && self.index.is_empty() {
            if let Some(slot) = self.pairs.iter_mut().find(|(k, _)| *k == key) {
                slot.1 = value;
                return;
            }
            self.pairs.push((key, value));
            if self.pairs.len() == LINEAR_KEYS {
                for (i, (k, _)) in self.pairs.iter().enumerate() {
                    self.index.insert(k.clone(), i);
                }
            }
            return;
        }
        match self.index.get(&key) {
            Some(&i) => self.pairs[i].1 = value,
            None => {
                self.index.insert(key.clone(), self.pairs.len());
                self.pairs.push((key, value));
            }
        }
    }

    pub fn remove(&mut self, key: &str) {
        if let Some(pos) = self.pairs.iter().position(|(k, _)| k.as_str() == key) {
            self.pairs.remove(pos);
            self.index.clear();
            if self.pairs.len() >= LINEAR_KEYS {
                for (i, (k, _)) in self.pairs.iter().enumerate() {
                    self.index.insert(k.clone(), i);
                }
            }
        }
    }

    pub fn build(self) -> Val<'a> {
        Val::Obj(Rc::new(Obj::new(self.pairs)))
    }
}

pub(crate) struct LambdaVal<'a> {
    pub def: &'a Lambda,
    pub env: Env<'a>,
    pub input: Val<'a>,
    pub params: Vec<Str>,
}

pub(crate) enum Func<'a> {
    Lambda(LambdaVal<'a>),
    Builtin(&'static Builtin),
    Native(&'a super::NativeFunction),
    Partial {
        target: Val<'a>,
        args: Vec<Option<Val<'a>>>,
    },
    Regex(&'a JRegex),
    Transform {
        node: &'a Node,
        env: Env<'a>,
    },
    Compose(Val<'a>, Val<'a>),
}

impl<'a> Func<'a> {
    /// How many arguments higher-order functions pass to this function.
    pub fn arity(&self) -> usize {
        match self {
            Func::Lambda(l) => l.params.len(),
            Func::Builtin(b) => b.arity,
            Func::Native(n) => n.arity,
            Func::Partial { args, .. } => args.iter().filter(|a| a.is_none()).count(),
            Func::Regex(_) => 1,
            Func::Transform { .. } => 1,
            Func::Compose(..) => 1,
        }
    }
}

pub(crate) enum Items<'v, 'a> {
    Json(std::slice::Iter<'v, Value>),
    Val(std::slice::Iter<'v, Val<'a>>),
    One(Option<&'v Val<'a>>),
}

impl<'a> Iterator for Items<'_, 'a> {
    type Item = Val<'a>;
    #[inline]
    fn next(&mut self) -> Option<Val<'a>> {
        match self {
            Items::Json(it) => it.next().map(Val::from_json),
            Items::Val(it) => it.next().cloned(),
            Items::One(v) => v.take().cloned(),
        }
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Items::Json(it) => it.size_hint(),
            Items::Val(it) => it.size_hint(),
            Items::One(v) => (v.is_some() as usize, Some(v.is_some() as usize)),
        }
    }
}

impl<'a> Val<'a> {
    #[inline]
    pub fn from_json(value: &Value) -> Val<'a> {
        match value {
            Value::Null => Val::Null,
            Value::Bool(b) => Val::Bool(*b),
            Value::Number(n) => Val::Num(n.as_f64().unwrap_or(0.0)),
            Value::String(s) => Val::Str(s.clone()),
            Value::Array(a) => Val::JArr(a.clone(), 0),
            Value::Object(m) => Val::JObj(m.clone()),
        }
    }

    pub fn array(items: Vec<Val<'a>>) -> Val<'a> {
        Val::Arr(Rc::new(Members::new(items)), 0)
    }

    pub fn seq(items: Vec<Val<'a>>) -> Val<'a> {
        Val::Arr(Rc::new(Members::new(items)), SEQUENCE)
    }

    pub fn string(s: &str) -> Val<'a> {
        Val::Str(Str::from(s))
    }

    /// How deeply containers nest in the value (input JSON counts as one level: the JSON
    /// parser bounds its depth).
    pub fn depth(&self) -> u32 {
        match self {
            Val::Arr(m, _) => m.depth,
            Val::Obj(o) => o.depth,
            Val::JArr(..) | Val::JObj(_) => 1,
            _ => 0,
        }
    }

    #[inline]
    pub fn is_undef(&self) -> bool {
        matches!(self, Val::Undef)
    }

    #[inline]
    pub fn is_array(&self) -> bool {
        matches!(self, Val::JArr(..) | Val::Arr(..))
    }

    pub fn is_object(&self) -> bool {
        matches!(self, Val::JObj(_) | Val::Obj(_))
    }

    pub fn is_func(&self) -> bool {
        matches!(self, Val::Func(_))
    }

    pub fn flags(&self) -> u8 {
        match self {
            Val::JArr(_, f) | Val::Arr(_, f) => *f,
            _ => 0,
        }
    }

    pub fn has_flag(&self, flag: u8) -> bool {
        self.flags() & flag != 0
    }

    pub fn set_flag(&mut self, flag: u8) {
        match self {
            Val::JArr(_, f) | Val::Arr(_, f) => *f |= flag,
            _ => {}
        }
    }

    pub fn is_sequence(&self) -> bool {
        self.has_flag(SEQUENCE)
    }

    pub fn arr_len(&self) -> usize {
        match self {
            Val::JArr(a, _) => a.len(),
            Val::Arr(a, _) => a.len(),
            _ => 0,
        }
    }

    pub fn arr_get(&self, i: usize) -> Val<'a> {
        match self {
            Val::JArr(a, _) => a.get(i).map(Val::from_json).unwrap_or(Val::Undef),
            Val::Arr(a, _) => a.get(i).cloned().unwrap_or(Val::Undef),
            _ => Val::Undef,
        }
    }

    /// The members of an array; any other value is its only member.
    pub fn items(&self) -> Items<'_, 'a> {
        match self {
            Val::JArr(a, _) => Items::Json(a.iter()),
            Val::Arr(a, _) => Items::Val(a.iter()),
            Val::Undef => Items::One(None),
            other => Items::One(Some(other)),
        }
    }

    /// The members as a vector (a non-array is a one-member vector, undefined is empty).
    pub fn to_vec(&self) -> Vec<Val<'a>> {
        match self {
            Val::Arr(a, _) => a.items.clone(),
            _ => self.items().collect(),
        }
    }

    pub fn field(&self, key: &str) -> Val<'a> {
        match self {
            Val::JObj(m) => m.get(key).map(Val::from_json).unwrap_or(Val::Undef),
            Val::Obj(o) => o.get(key).cloned().unwrap_or(Val::Undef),
            _ => Val::Undef,
        }
    }

    pub fn entries(&self) -> Vec<(Str, Val<'a>)> {
        match self {
            Val::JObj(m) => m
                .iter()
                .map(|(k, v)| (k.clone(), Val::from_json(v)))
                .collect(),
            Val::Obj(o) => o.pairs.clone(),
            _ => Vec::new(),
        }
    }

    pub fn obj_len(&self) -> usize {
        match self {
            Val::JObj(m) => m.len(),
            Val::Obj(o) => o.pairs.len(),
            _ => 0,
        }
    }

    pub fn keys(&self) -> Vec<Str> {
        match self {
            Val::JObj(m) => m.keys().cloned().collect(),
            Val::Obj(o) => o.pairs.iter().map(|(k, _)| k.clone()).collect(),
            _ => Vec::new(),
        }
    }

    /// The signature symbol of the value's type.
    pub fn symbol(&self) -> u8 {
        match self {
            Val::Undef => b'm',
            Val::Null => b'l',
            Val::Bool(_) => b'b',
            Val::Num(_) => b'n',
            Val::Str(_) => b's',
            Val::JArr(..) | Val::Arr(..) => b'a',
            Val::JObj(_) | Val::Obj(_) => b'o',
            Val::Func(_) => b'f',
        }
    }

    pub fn as_num(&self) -> Option<f64> {
        match self {
            Val::Num(n) => Some(*n),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Val::Str(s) => Some(s.as_str()),
            _ => None,
        }
    }

    /// The JSON value, or `None` for undefined. Functions become empty strings inside
    /// structures, as the reference's JSON output shows them.
    pub fn to_json(&self) -> Option<Value> {
        Some(match self {
            Val::Undef => return None,
            Val::Null => Value::Null,
            Val::Bool(b) => Value::Bool(*b),
            Val::Num(n) => Value::Number(number_to_json(*n)),
            Val::Str(s) => Value::String(s.clone()),
            Val::JArr(a, _) => Value::Array(a.clone()),
            Val::JObj(m) => Value::Object(m.clone()),
            Val::Arr(items, _) => Value::Array(
                items
                    .iter()
                    .filter_map(|v| match v {
                        Val::Undef => None,
                        Val::Func(_) => Some(Value::String(Str::from(""))),
                        v => v.to_json(),
                    })
                    .collect(),
            ),
            Val::Obj(o) => {
                // A key given twice keeps its last value; few keys are compared one by one.
                let mut seen = std::collections::HashSet::new();
                let mut seen_few: Vec<&Str> = Vec::new();
                let linear = o.pairs.len() <= LINEAR_KEYS;
                let mut pairs: Vec<(Str, Value)> = Vec::with_capacity(o.pairs.len());
                for (k, v) in o.pairs.iter().rev() {
                    let repeated = if linear {
                        let repeated = seen_few.contains(&k);
                        seen_few.push(k);
                        repeated
                    } else {
                        !seen.insert(k.clone())
                    };
                    if repeated {
                        continue;
                    }
                    let value = match v {
                        Val::Func(_) => Value::String(Str::from("")),
                        v => match v.to_json() {
                            Some(v) => v,
                            None => continue,
                        },
                    };
                    pairs.push((k.clone(), value));
                }
                pairs.reverse();
                Value::Object(pairs.into_iter().collect())
            }
            Val::Func(_) => Value::String(Str::from("")),
        })
    }

    /// The JSONata type name (`$type`).
    pub fn type_name(&self) -> Option<&'static str> {
        Some(match self {
            Val::Undef => return None,
            Val::Null => "null",
            Val::Bool(_) => "boolean",
            Val::Num(_) => "number",
            Val::Str(_) => "string",
            Val::JArr(..) | Val::Arr(..) => "array",
            Val::JObj(_) | Val::Obj(_) => "object",
            Val::Func(_) => "function",
        })
    }
}

pub(crate) fn number_to_json(n: f64) -> Number {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        if n == 0.0 {
            return Number::from(0i64);
        }
        return Number::from(n as i64);
    }
    Number::from_f64(n).unwrap_or_else(|| Number::from(0i64))
}

/// Truthiness (`$boolean`); `None` for undefined.
pub(crate) fn boolean(v: &Val<'_>) -> Option<bool> {
    Some(match v {
        Val::Undef => return None,
        Val::Null => false,
        Val::Bool(b) => *b,
        Val::Num(n) => *n != 0.0,
        Val::Str(s) => !s.is_empty(),
        Val::JArr(..) | Val::Arr(..) => match v.arr_len() {
            0 => false,
            1 => boolean(&v.arr_get(0)).unwrap_or(false),
            _ => v.items().any(|x| boolean(&x).unwrap_or(false)),
        },
        Val::JObj(_) | Val::Obj(_) => v.obj_len() > 0,
        Val::Func(_) => false,
    })
}

/// Deep equality, as `=` compares.
pub(crate) fn deep_equal<'a>(a: &Val<'a>, b: &Val<'a>) -> bool {
    match (a, b) {
        (Val::Undef, Val::Undef) => true,
        (Val::Null, Val::Null) => true,
        (Val::Bool(x), Val::Bool(y)) => x == y,
        (Val::Num(x), Val::Num(y)) => x == y,
        (Val::Str(x), Val::Str(y)) => x == y,
        (Val::JArr(x, _), Val::JArr(y, _)) => x == y && json_arr_eq(x, y),
        (Val::JObj(x), Val::JObj(y)) => {
            json_eq(&Value::Object(x.clone()), &Value::Object(y.clone()))
        }
        _ if a.is_array() && b.is_array() => {
            a.arr_len() == b.arr_len() && a.items().zip(b.items()).all(|(x, y)| deep_equal(&x, &y))
        }
        _ if a.is_object() && b.is_object() => {
            let ea = a.entries();
            a.obj_len() == b.obj_len()
                && ea.iter().all(|(k, v)| {
                    let w = b.field(k);
                    !w.is_undef() && deep_equal(v, &w)
                })
        }
        (Val::Func(x), Val::Func(y)) => Rc::ptr_eq(x, y),
        _ => false,
    }
}

fn json_arr_eq(x: &json::Array, y: &json::Array) -> bool {
    x.len() == y.len() && x.iter().zip(y.iter()).all(|(a, b)| json_eq(a, b))
}

fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => json_arr_eq(x, y),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// A number as JavaScript prints it (`String(n)`).
pub(crate) fn format_number(n: f64) -> String {
    if n.is_nan() {
        return "NaN".into();
    }
    if n.is_infinite() {
        return if n > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if n == 0.0 {
        return "0".into();
    }
    if n.fract() == 0.0 && n.abs() < 1e21 {
        return format!("{n:.0}");
    }
    let sci = format!("{:e}", n.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let k = digits.len() as i32;
    let point = exp + 1;
    let mut out = String::new();
    if n < 0.0 {
        out.push('-');
    }
    if k <= point && point <= 21 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (point - k) as usize));
    } else if 0 < point && point <= 21 {
        out.push_str(&digits[..point as usize]);
        out.push('.');
        out.push_str(&digits[point as usize..]);
    } else if -6 < point && point <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-point) as usize));
        out.push_str(&digits);
    } else {
        out.push_str(&digits[..1]);
        if k > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        if point > 0 {
            out.push('+');
        }
        out.push_str(&(point - 1).to_string());
    }
    out
}

/// A number rounded to 15 significant digits, as `$string` prints numbers.
pub(crate) fn round15(n: f64) -> f64 {
    if !n.is_finite() || n.fract() == 0.0 {
        return n;
    }
    format!("{n:.14e}").parse().unwrap_or(n)
}

/// JSON text of a value the way `$string` renders structures (`JSON.stringify` with numbers
/// at 15 significant digits and functions as empty strings).
pub(crate) fn stringify(v: &Val<'_>, pretty: bool, out: &mut String, indent: usize) {
    match v {
        Val::Undef | Val::Null => out.push_str("null"),
        Val::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Val::Num(n) => {
            if n.is_finite() {
                out.push_str(&format_number(round15(*n)))
            } else {
                out.push_str("null")
            }
        }
        Val::Str(s) => quote(s, out),
        Val::Func(_) => out.push_str("\"\""),
        Val::JArr(..) | Val::Arr(..) => {
            if v.arr_len() == 0 {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in v.items().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(pretty, out, indent + 1);
                if item.is_undef() {
                    out.push_str("null");
                } else {
                    stringify(&item, pretty, out, indent + 1);
                }
            }
            newline(pretty, out, indent);
            out.push(']');
        }
        Val::JObj(_) | Val::Obj(_) => {
            let entries: Vec<(Str, Val<'_>)> = v
                .entries()
                .into_iter()
                .filter(|(_, v)| !v.is_undef())
                .collect();
            if entries.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push('{');
            for (i, (k, item)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(pretty, out, indent + 1);
                quote(k, out);
                out.push(':');
                if pretty {
                    out.push(' ');
                }
                stringify(item, pretty, out, indent + 1);
            }
            newline(pretty, out, indent);
            out.push('}');
        }
    }
}

fn newline(pretty: bool, out: &mut String, indent: usize) {
    if pretty {
        out.push('\n');
        for _ in 0..indent {
            out.push_str("  ");
        }
    }
}

fn quote(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}
