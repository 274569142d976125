//! Checks that span states: names resolve, every state is reachable, every body can end,
//! state names are unique across the whole machine.

use std::collections::{HashMap, VecDeque};

use super::reader::child;
use super::*;

/// Runs the cross-state checks on a machine whose states were read without problems of shape.
pub(super) fn check(machine: &StateMachine, problems: &mut Vec<Problem>) {
    let mut names: HashMap<&str, &str> = HashMap::new();
    check_body(machine, problems, &mut names);
}

fn check_body<'m>(
    body: &'m StateMachine,
    problems: &mut Vec<Problem>,
    names: &mut HashMap<&'m str, &'m str>,
) {
    for state in &body.states {
        if let Some(first) = names.insert(&state.name, &state.pointer) {
            problems.push(Problem {
                pointer: state.pointer.clone(),
                message: format!("state name \"{}\" is already used at {first}; state names must be unique in the whole state machine", state.name),
            });
        }
    }
    let lookup = |name: &str| body.states.iter().position(|state| state.name == name);
    let suggest = |wrong: &str| match did_you_mean(
        wrong,
        body.states.iter().map(|state| state.name.as_str()),
    ) {
        Some(near) => format!(" (did you mean \"{near}\"?)"),
        None => String::new(),
    };

    if !body.start_at.is_empty() && lookup(&body.start_at).is_none() {
        problems.push(Problem {
            pointer: child(&body.pointer, "StartAt"),
            message: format!(
                "no state named \"{}\"{}",
                body.start_at,
                suggest(&body.start_at)
            ),
        });
    }

    // Edges, checked as they are collected.
    let mut edges: Vec<Vec<usize>> = vec![Vec::new(); body.states.len()];
    for (index, state) in body.states.iter().enumerate() {
        let mut targets: Vec<(String, &str)> = Vec::new();
        if let Some(next) = &state.next {
            targets.push((child(&state.pointer, "Next"), next));
        }
        match &state.kind {
            Kind::Choice(choice) => {
                for (rule_index, rule) in choice.choices.iter().enumerate() {
                    let pointer = child(
                        &child(&child(&state.pointer, "Choices"), &rule_index.to_string()),
                        "Next",
                    );
                    targets.push((pointer, &rule.next));
                }
                if let Some(default) = &choice.default {
                    targets.push((child(&state.pointer, "Default"), default));
                }
            }
            Kind::Task(Task { catch, .. })
            | Kind::Parallel(Parallel { catch, .. })
            | Kind::Map(Map { catch, .. }) => {
                for catcher in catch {
                    targets.push((child(&catcher.pointer, "Next"), &catcher.next));
                }
            }
            _ => {}
        }
        for (pointer, target) in targets {
            match lookup(target) {
                Some(to) => edges[index].push(to),
                None => problems.push(Problem {
                    pointer,
                    message: format!("no state named \"{target}\"{}", suggest(target)),
                }),
            }
        }
        match &state.kind {
            Kind::Parallel(parallel) => {
                for branch in &parallel.branches {
                    check_body(branch, problems, names);
                }
            }
            Kind::Map(map) => check_body(&map.processor, problems, names),
            _ => {}
        }
    }

    // Reachability from StartAt.
    if let Some(start) = lookup(&body.start_at) {
        let mut seen = vec![false; body.states.len()];
        let mut queue = VecDeque::from([start]);
        seen[start] = true;
        while let Some(at) = queue.pop_front() {
            for &to in &edges[at] {
                if !seen[to] {
                    seen[to] = true;
                    queue.push_back(to);
                }
            }
        }
        for (state, reached) in body.states.iter().zip(seen) {
            if !reached {
                problems.push(Problem {
                    pointer: state.pointer.clone(),
                    message: format!(
                        "state \"{}\" is unreachable from StartAt \"{}\"",
                        state.name, body.start_at
                    ),
                });
            }
        }
    }

    let terminal = body.states.iter().any(|state| match state.kind {
        Kind::Succeed | Kind::Fail(_) => true,
        Kind::Choice(_) => false,
        _ => state.next.is_none(),
    });
    if !terminal && !body.states.is_empty() {
        problems.push(Problem {
            pointer: child(&body.pointer, "States"),
            message: "no terminal state: at least one state must be a Succeed or Fail state or have \"End\": true".into(),
        });
    }
}
