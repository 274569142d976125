//! Which top-level fields of one bound value (such as `$states.input`) an expression can
//! observe: what the input projection needs to know of a JSONata state.
//!
//! The analysis follows three forms and answers "all of it" for anything else that names the
//! variable: a path `$var.field.name…` (it reads `name`, whatever follows), the value
//! `$var.field` itself (it reads what its reader observes of the result), and
//! `$merge([…])` (each item gives the result the fields the result keeps). A parent operator
//! anywhere, or an expression that binds `$merge` to something else, answers "all of it".

use std::collections::BTreeSet;

use super::ast::{Kind, Node, Stage};
use super::Expression;

/// Top-level field names.
pub type Fields = BTreeSet<Box<str>>;

impl Expression {
    /// The top-level fields of `$var.field` the expression can observe, when its reader
    /// observes only the `kept` top-level fields of its result (`None`: all of the result).
    /// `None` when it may observe the whole value.
    pub fn fields_read(&self, var: &str, field: &str, kept: Option<&Fields>) -> Option<Fields> {
        if binds(&self.root, "merge") {
            return None;
        }
        let mut reads = Reads {
            var,
            field,
            fields: Fields::new(),
        };
        reads.node(&self.root, kept).ok()?;
        Some(reads.fields)
    }
}

/// The whole value may be observed.
struct Everything;

struct Reads<'q> {
    var: &'q str,
    field: &'q str,
    fields: Fields,
}

impl Reads<'_> {
    fn node(&mut self, node: &Node, kept: Option<&Fields>) -> Result<(), Everything> {
        match &node.kind {
            Kind::Path { steps, .. } if self.is_value(steps) => {
                if !plain(node) {
                    return Err(Everything);
                }
                match steps.get(2) {
                    None => match kept {
                        Some(kept) => {
                            self.fields.extend(kept.iter().cloned());
                            Ok(())
                        }
                        None => Err(Everything),
                    },
                    Some(step) => match &step.kind {
                        Kind::Name(name) => {
                            // Its filters read the field's value, or follow what they name.
                            self.fields.insert(name.as_str().into());
                            self.node_parts(step)?;
                            steps[3..].iter().try_for_each(|step| self.whole(step))
                        }
                        _ => Err(Everything),
                    },
                }
            }
            Kind::Function { procedure, args }
                if plain(node) && is_variable(procedure, "merge") && args.len() == 1 =>
            {
                match &args[0].kind {
                    Kind::Array(items) if plain(&args[0]) => {
                        items.iter().try_for_each(|item| self.node(item, kept))
                    }
                    _ => self.whole(node),
                }
            }
            _ => self.whole(node),
        }
    }

    /// A node whose value is observed whole: every part of it is followed.
    fn whole(&mut self, node: &Node) -> Result<(), Everything> {
        match &node.kind {
            Kind::Path { steps, .. } if self.is_value(steps) => return self.node(node, None),
            // `$var.other…`: another field of the variable, which the path does not read.
            Kind::Path { steps, .. }
                if steps.len() >= 2
                    && is_variable(&steps[0], self.var)
                    && matches!(&steps[1].kind, Kind::Name(name) if name.as_str() != self.field) =>
            {
                self.node_parts(&steps[1])?;
                for step in &steps[2..] {
                    self.whole(step)?;
                }
                for (key, value) in node.group.iter().flat_map(|group| &group.pairs) {
                    self.whole(key)?;
                    self.whole(value)?;
                }
                for stage in &node.stages {
                    if let Stage::Filter(filter) = stage {
                        self.whole(filter)?;
                    }
                }
                return node.predicate.iter().try_for_each(|p| self.whole(p));
            }
            Kind::Variable(name) if name.as_str() == self.var => return Err(Everything),
            Kind::Parent(_) => return Err(Everything),
            _ => {}
        }
        self.node_parts(node)
    }

    /// Follows every child of `node`, each observed whole.
    fn node_parts(&mut self, node: &Node) -> Result<(), Everything> {
        let mut result = Ok(());
        children(node, &mut |child| {
            if result.is_ok() {
                result = self.whole(child);
            }
        });
        result
    }

    /// Whether `steps` start `$var.field`.
    fn is_value(&self, steps: &[Node]) -> bool {
        steps.len() >= 2
            && plain(&steps[0])
            && matches!(&steps[0].kind, Kind::Variable(name) if name.as_str() == self.var)
            && plain(&steps[1])
            && matches!(&steps[1].kind, Kind::Name(name) if name.as_str() == self.field)
    }
}

/// A node without predicates, stages, grouping or bindings of its own.
fn plain(node: &Node) -> bool {
    node.is_bare()
}

fn is_variable(node: &Node, name: &str) -> bool {
    plain(node) && matches!(&node.kind, Kind::Variable(variable) if variable.as_str() == name)
}

/// Whether the expression binds `name`, by `:=` or as a lambda's parameter.
fn binds(node: &Node, name: &str) -> bool {
    let own = match &node.kind {
        Kind::Bind { name: bound, .. } => bound.as_str() == name,
        Kind::Lambda(lambda) => lambda.params.iter().any(|param| param.as_str() == name),
        _ => false,
    };
    let mut found = own;
    children(node, &mut |child| found = found || binds(child, name));
    found
}

/// Calls `visit` on each direct child of `node`: the parts of its kind, then its stages,
/// predicates and grouping.
fn children(node: &Node, visit: &mut dyn FnMut(&Node)) {
    match &node.kind {
        Kind::Path { steps, .. } => steps.iter().for_each(&mut *visit),
        Kind::Binary { lhs, rhs, .. } | Kind::Apply { lhs, rhs } => {
            visit(lhs);
            visit(rhs);
        }
        Kind::Neg(inner) => visit(inner),
        Kind::Array(items) | Kind::Block(items) => items.iter().for_each(&mut *visit),
        Kind::Object(pairs) => {
            for (key, value) in pairs {
                visit(key);
                visit(value);
            }
        }
        Kind::Condition {
            cond,
            then,
            otherwise,
        } => {
            visit(cond);
            visit(then);
            if let Some(otherwise) = otherwise {
                visit(otherwise);
            }
        }
        Kind::Bind { rhs, .. } => visit(rhs),
        Kind::Function { procedure, args } | Kind::Partial { procedure, args } => {
            visit(procedure);
            args.iter().for_each(&mut *visit);
        }
        Kind::Lambda(lambda) => visit(&lambda.body),
        Kind::Transform {
            pattern,
            update,
            delete,
        } => {
            visit(pattern);
            visit(update);
            if let Some(delete) = delete {
                visit(delete);
            }
        }
        Kind::Sort(terms) => terms.iter().for_each(|term| visit(&term.expr)),
        Kind::RawDot(lhs, rhs) | Kind::RawFilter(lhs, rhs) | Kind::RawBind(lhs, rhs) => {
            visit(lhs);
            visit(rhs);
        }
        Kind::RawGroup(lhs, pairs) => {
            visit(lhs);
            for (key, value) in pairs {
                visit(key);
                visit(value);
            }
        }
        Kind::RawSort(lhs, terms) => {
            visit(lhs);
            terms.iter().for_each(|term| visit(&term.expr));
        }
        Kind::RawFocus(inner, _) | Kind::RawIndex(inner, _) => visit(inner),
        Kind::Name(_)
        | Kind::String(_)
        | Kind::Number(_)
        | Kind::Bool(_)
        | Kind::Null
        | Kind::Regex(_)
        | Kind::Variable(_)
        | Kind::Wildcard
        | Kind::Descendant
        | Kind::Parent(_)
        | Kind::Placeholder
        | Kind::Operator(_) => {}
    }
    for stage in &node.stages {
        match stage {
            Stage::Filter(filter) => visit(filter),
            Stage::Index(_) => {}
        }
    }
    node.predicate.iter().for_each(&mut *visit);
    if let Some(group) = &node.group {
        for (key, value) in &group.pairs {
            visit(key);
            visit(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Fields;

    fn reads(source: &str, kept: Option<&[&str]>) -> Option<Vec<String>> {
        let expression = super::super::compile(source).expect("compiles");
        let kept: Option<Fields> = kept.map(|kept| kept.iter().map(|&k| k.into()).collect());
        expression
            .fields_read("states", "input", kept.as_ref())
            .map(|fields| fields.iter().map(|field| field.to_string()).collect())
    }

    #[test]
    fn paths_read_their_first_field() {
        assert_eq!(
            reads("$states.input.a.b & $states.input.c[x > 1].d", None),
            Some(vec!["a".into(), "c".into()])
        );
        assert_eq!(reads("$states.result.a", None), Some(vec![]));
        assert_eq!(
            reads("{'k': $states.input.a}", None),
            Some(vec!["a".into()])
        );
    }

    #[test]
    fn merge_passes_on_what_its_reader_keeps() {
        let merge = "$merge([$states.input, {'p1': {'id': $states.input.id}}])";
        assert_eq!(
            reads(merge, Some(&["p0", "p1"])),
            Some(vec!["id".into(), "p0".into(), "p1".into()])
        );
        assert_eq!(reads(merge, None), None);
        assert_eq!(reads("$states.input", Some(&["x"])), Some(vec!["x".into()]));
        assert_eq!(
            reads("$merge($states.input.list)", Some(&["x"])),
            Some(vec!["list".into()])
        );
    }

    #[test]
    fn anything_else_that_names_the_value_reads_all_of_it() {
        for source in [
            "$keys($states.input)",
            "$states.input.*",
            "$states.input.**.x",
            "$states.input[0]",
            "$states",
            "$states.input.a.%.b",
            "($x := $states.input; $x.a)",
            "($merge := function($a){$a}; $merge([$states.input]))",
            "$states.input.$keys()",
            "$states.result.$states",
            "$states.result[$states.input]",
        ] {
            assert_eq!(reads(source, Some(&["a"])), None, "{source}");
        }
    }
}
