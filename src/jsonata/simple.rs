//! The direct form of the commonest state expressions: fields of a variable
//! (`$states.input.a.b`), literals, object constructors with literal keys, and `$merge([…])`
//! of those. Such an expression is built straight into JSON, with none of the evaluator's
//! sequences, frames or conversions.
//!
//! The direct form gives exactly what the evaluator gives, or declines: whenever a value
//! would take the evaluator down another road (an array met on a path, whose fields a path
//! maps over; something other than an object given to `$merge`, which is an error), it
//! answers [`Declined`] and the evaluator runs the expression instead.

use super::ast::{Kind, Node};
use super::value::number_to_json;
use super::{Bindings, Resolver};
use crate::json::{Map, Str, Value};

/// An expression in direct form.
#[derive(Debug)]
pub(crate) enum Simple {
    /// `$variable.field.field…`.
    Path {
        variable: Str,
        fields: Vec<Str>,
    },
    Literal(Value),
    /// `{'key': …, …}` with literal, distinct keys.
    Object(Vec<(Str, Simple)>),
    /// `$merge([…])`.
    Merge(Vec<Simple>),
}

/// The value would take the evaluator down a road the direct form does not follow.
pub(crate) struct Declined;

type Outcome = Result<Option<Value>, Declined>;

/// The direct form of `node`, when it has one.
pub(crate) fn lower(node: &Node) -> Option<Simple> {
    if !plain(node) {
        return None;
    }
    Some(match &node.kind {
        Kind::Variable(name) if !name.is_empty() => Simple::Path {
            variable: name.clone(),
            fields: Vec::new(),
        },
        Kind::Path {
            steps,
            keep_singleton: false,
        } => {
            let (first, rest) = steps.split_first()?;
            let variable = match &first.kind {
                Kind::Variable(name) if plain(first) && !name.is_empty() => name.clone(),
                _ => return None,
            };
            let fields = rest
                .iter()
                .map(|step| match &step.kind {
                    Kind::Name(name) if plain(step) => Some(name.clone()),
                    _ => None,
                })
                .collect::<Option<Vec<Str>>>()?;
            Simple::Path { variable, fields }
        }
        Kind::String(text) => Simple::Literal(Value::String(text.clone())),
        Kind::Number(number) => Simple::Literal(Value::Number(number_to_json(*number))),
        Kind::Bool(value) => Simple::Literal(Value::Bool(*value)),
        Kind::Null => Simple::Literal(Value::Null),
        Kind::Object(pairs) => {
            let mut entries: Vec<(Str, Simple)> = Vec::with_capacity(pairs.len());
            for (key_node, value) in pairs {
                let key = match &key_node.kind {
                    Kind::String(key) if key_node.is_bare() => key.clone(),
                    _ => return None,
                };
                // A key given twice is an error (D1009) the evaluator reports.
                if entries.iter().any(|(seen, _)| *seen == key) {
                    return None;
                }
                entries.push((key, lower(value)?));
            }
            Simple::Object(entries)
        }
        Kind::Function { procedure, args } => {
            let is_merge = plain(procedure)
                && matches!(&procedure.kind, Kind::Variable(name) if name.as_str() == "merge");
            match (is_merge, args.as_slice()) {
                (true, [list]) if plain(list) => match &list.kind {
                    Kind::Array(items) => {
                        Simple::Merge(items.iter().map(lower).collect::<Option<Vec<_>>>()?)
                    }
                    _ => return None,
                },
                _ => return None,
            }
        }
        _ => return None,
    })
}

/// A node with no predicates, stages, grouping, bindings or array flags.
fn plain(node: &Node) -> bool {
    node.is_bare() && !node.keep_array && !node.tuple
}

/// Evaluates the direct form; `None` is undefined.
pub(crate) fn evaluate(
    simple: &Simple,
    bindings: &Bindings,
    resolver: Option<&Resolver<'_>>,
) -> Outcome {
    match simple {
        Simple::Path { variable, fields } => {
            let root = variable_value(variable, bindings, resolver)?;
            let Some(mut value) = root else {
                return Ok(None);
            };
            for field in fields {
                value = match value {
                    Value::Object(map) => match map.get(field) {
                        Some(next) => next.clone(),
                        None => return Ok(None),
                    },
                    // A path maps over an array's members.
                    Value::Array(_) => return Err(Declined),
                    _ => return Ok(None),
                };
            }
            match value {
                Value::Array(_) => Err(Declined),
                value => Ok(Some(normalised(value))),
            }
        }
        Simple::Literal(value) => Ok(Some(value.clone())),
        Simple::Object(entries) => {
            let mut pairs = Vec::with_capacity(entries.len());
            for (key, part) in entries {
                if let Some(value) = evaluate(part, bindings, resolver)? {
                    pairs.push((key.clone(), value));
                }
            }
            Ok(Some(Value::Object(Map::from_unique(pairs))))
        }
        Simple::Merge(parts) => {
            // `$merge` must be the built-in: a binding or variable of that name shadows it.
            if bindings.var("merge").is_some()
                || bindings.function("merge").is_some()
                || resolver.is_some_and(|resolve| resolve("merge").is_some())
            {
                return Err(Declined);
            }
            let mut pairs: Vec<(Str, Value)> = Vec::new();
            for part in parts {
                match evaluate(part, bindings, resolver)? {
                    None => {}
                    Some(Value::Object(map)) => {
                        for (key, value) in map.iter() {
                            let value = normalised(value.clone());
                            match pairs.iter_mut().find(|(seen, _)| seen == key) {
                                Some(slot) => slot.1 = value,
                                None => pairs.push((key.clone(), value)),
                            }
                        }
                    }
                    // Arrays are flattened into the list, other values are type errors.
                    Some(_) => return Err(Declined),
                }
            }
            Ok(Some(Value::Object(Map::from_unique(pairs))))
        }
    }
}

/// A variable's value as the evaluator looks it up (after the expression's own bindings,
/// which the direct form has none of).
fn variable_value(
    name: &str,
    bindings: &Bindings,
    resolver: Option<&Resolver<'_>>,
) -> Result<Option<Value>, Declined> {
    if let Some(value) = bindings.var(name) {
        return Ok(Some(value.clone()));
    }
    if let Some(value) = resolver.and_then(|resolve| resolve(name)) {
        return Ok(Some(value));
    }
    // A function's name, the context (`$`) or an unset variable: the evaluator's business.
    Err(Declined)
}

/// A top-level number as the evaluator gives it back: through a double.
fn normalised(value: Value) -> Value {
    match value {
        Value::Number(number) => Value::Number(number_to_json(number.as_f64().unwrap_or(0.0))),
        value => value,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{compile, Bindings, Limits};
    use crate::json::{from_str, Value};

    /// The direct form and the evaluator agree, or the direct form declines.
    fn agree(source: &str, states: &str) -> bool {
        let expression = compile(source).expect("compiles");
        let simple = expression.simple.as_ref().expect("a direct form");
        let states: Value = from_str(states).unwrap();
        let resolve = |name: &str| (name == "states").then(|| states.clone());
        let bindings = Bindings::new();
        let full = super::super::eval::run(
            &expression,
            None,
            &bindings,
            Some(&resolve),
            &Limits::default(),
        )
        .map_err(|_| ());
        match super::evaluate(simple, &bindings, Some(&resolve)) {
            Ok(direct) => {
                assert_eq!(Ok(direct.clone()), full, "{source} on {states:?}");
                true
            }
            Err(super::Declined) => false,
        }
    }

    #[test]
    fn the_direct_form_gives_what_the_evaluator_gives() {
        let states = r#"{"input": {"a": {"b": 1.0, "c": [1, 2], "d": {"e": 2.50}}, "n": 3.0,
            "s": "x", "z": null, "t": true, "big": 12345678901234567890}}"#;
        for source in [
            "$states.input.a.b",
            "$states.input.a.d",
            "$states.input.n",
            "$states.input.big",
            "$states.input.s",
            "$states.input.z",
            "$states.input.t",
            "$states.input.missing",
            "$states.input.s.deeper",
            "{'x': $states.input.a.b, 'y': $states.input.missing, 'z': {'k': 1.50, 'l': 'text'}}",
            "$merge([$states.input, {'n': 4, 'extra': $states.input.a.d}])",
            "$merge([$states.input.a, $states.input.missing, {'b': null}])",
            "$merge([])",
            "$states.input",
        ] {
            assert!(agree(source, states), "{source} declined");
        }
    }

    #[test]
    fn arrays_and_type_errors_go_to_the_evaluator() {
        let states = r#"{"input": {"a": [{"b": 1}, {"b": 2}], "one": [{"b": 1}], "s": "x"}}"#;
        for source in [
            "$states.input.a.b",
            "$states.input.a",
            "$states.input.one.b",
            "$merge([$states.input.s])",
            "$merge([$states.input.a])",
            "$unset.field",
        ] {
            assert!(!agree(source, states), "{source} should decline");
        }
    }

    #[test]
    fn only_the_plain_forms_have_a_direct_form() {
        for source in [
            "$states.input.a[0]",
            "$states.input.a[]",
            "$states.input.*",
            "{'a': 1, 'a': 2}",
            "{$states.input.k: 1}",
            "$merge($states.input.list)",
            "$sum([1, 2])",
            "$states.input.a & 'x'",
        ] {
            assert!(compile(source).unwrap().simple.is_none(), "{source}");
        }
    }
}
