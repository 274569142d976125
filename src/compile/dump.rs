//! The readable listing of a `Program` (`stepstream compile FILE --dump`), also used for the
//! golden dumps the tests compare against.

use std::fmt::Write;

use super::*;
use crate::asl::{Operand, Wait};

pub(super) fn dump(program: &Program) -> String {
    let mut out = String::new();
    let name = |id: StateId| program.state(id).name.to_string();
    let _ = writeln!(
        out,
        "program: {} states, {} ops, start {:?}",
        program.states.len(),
        program.ops.len(),
        name(program.top.start)
    );
    if let Some(seconds) = program.timeout_seconds {
        let _ = writeln!(out, "timeout: {seconds}s");
    }
    let _ = writeln!(out, "uses context: {}", program.uses_context);
    if let Some(fields) = &program.input_fields {
        let names: Vec<&str> = fields.iter().map(|field| field.as_str()).collect();
        let _ = writeln!(out, "input fields read: {}", names.join(", "));
    }
    if let Some(folded) = &program.folded {
        let _ = writeln!(out, "folded {folded}");
    }
    for (index, state) in program.states.iter().enumerate() {
        let _ = writeln!(
            out,
            "\nstate #{index} {:?} ({}) at {}",
            state.name.as_ref(),
            state.type_name,
            state.pointer
        );
        for retry in &state.retry {
            let _ = writeln!(
                out,
                "  retry {:?} interval {}ms max {} backoff {}{}{}",
                retry.error_equals,
                retry.interval_ms,
                retry.max_attempts,
                retry.backoff_rate,
                retry
                    .max_delay_ms
                    .map(|ms| format!(" max-delay {ms}ms"))
                    .unwrap_or_default(),
                if retry.full_jitter {
                    " jitter FULL"
                } else {
                    ""
                }
            );
        }
        for catch in &state.catch {
            let result_path = match &catch.result_path {
                None => "$".to_string(),
                Some(ResultPath::Discard) => "null".to_string(),
                Some(ResultPath::Path(path)) => path.source().to_string(),
            };
            let _ = writeln!(
                out,
                "  catch {:?} -> {:?} result-path {}",
                catch.error_equals,
                name(catch.next),
                result_path
            );
        }
        let mut pc = state.entry as usize;
        while let Some(op) = program.ops.get(pc) {
            if pc != state.entry as usize && matches!(op, Op::Enter(_)) {
                break;
            }
            let _ = writeln!(out, "  {pc:04} {}", op_text(program, op));
            pc += 1;
            if matches!(op, Op::Next(_) | Op::NextChosen | Op::End | Op::Fail(_)) {
                break;
            }
        }
    }
    out
}

fn op_text(program: &Program, op: &Op) -> String {
    let name = |id: StateId| format!("{:?}", program.state(id).name.as_ref());
    let path = |index: Index| program.paths[index as usize].source().to_string();
    let payload = |index: Index| payload_text(&program.payloads[index as usize]);
    match *op {
        Op::Enter(id) => format!("enter {}", name(id)),
        Op::TakeInput => "take-input".into(),
        Op::CopyInput => "copy-input".into(),
        Op::InputPath(index) => format!("input-path {}", path(index)),
        Op::InputNull => "input-null".into(),
        Op::Parameters(index, source) => {
            let from = if source == Source::Input {
                "input"
            } else {
                "work"
            };
            format!("parameters from {from} {}", payload(index))
        }
        Op::SelectParameters {
            path: selection,
            payload: template,
        } => {
            format!(
                "parameters from input-path {} {}",
                path(selection),
                payload(template)
            )
        }
        Op::Const(index) => format!("const {}", program.consts[index as usize]),
        Op::Invoke(index) => {
            let task = &program.tasks[index as usize];
            let mut text = format!("invoke {}", task.resource);
            if let Some(timeout) = &task.timeout {
                text.push_str(&format!(" timeout {}", seconds_text(timeout)));
            }
            if let Some(heartbeat) = &task.heartbeat {
                text.push_str(&format!(" heartbeat {}", seconds_text(heartbeat)));
            }
            text
        }
        Op::Parallel(index) => {
            let branches: Vec<String> = program.parallels[index as usize]
                .branches
                .iter()
                .map(|body| name(body.start))
                .collect();
            format!("parallel [{}]", branches.join(", "))
        }
        Op::Map(index) => {
            let map = &program.maps[index as usize];
            let mut text = format!("map processor {}", name(map.processor.start));
            if let Some(items) = map.items_path {
                text.push_str(&format!(" items {}", path(items)));
            }
            if let Some(selector) = map.item_selector {
                text.push_str(&format!(" selector {}", payload(selector)));
            }
            if let Some(concurrency) = &map.max_concurrency {
                text.push_str(&format!(" max-concurrency {}", seconds_text(concurrency)));
            }
            for (label, tolerance) in [
                ("tolerated-count", &map.tolerated_failure_count),
                ("tolerated-percentage", &map.tolerated_failure_percentage),
            ] {
                match tolerance {
                    Some(Tolerance::Literal(number)) => {
                        text.push_str(&format!(" {label} {number}"))
                    }
                    Some(Tolerance::Path(path)) => {
                        text.push_str(&format!(" {label} {}", path.source()))
                    }
                    Some(Tolerance::Jsonata(expression)) => {
                        text.push_str(&format!(" {label} {expression:?}"))
                    }
                    None => {}
                }
            }
            text
        }
        Op::Wait(index) => match &program.waits[index as usize] {
            Wait::Seconds(seconds) => format!("wait {seconds}s"),
            Wait::SecondsPath(path) => format!("wait seconds-path {}", path.source()),
            Wait::Timestamp(_, text) => format!("wait until {text}"),
            Wait::TimestampPath(path) => format!("wait timestamp-path {}", path.source()),
            Wait::SecondsJsonata(expression) => format!("wait seconds {expression:?}"),
            Wait::TimestampJsonata(expression) => format!("wait until {expression:?}"),
        },
        Op::ResultSelector(index) => format!("result-selector {}", payload(index)),
        Op::ResultPut(index) => format!("result-path {}", path(index)),
        Op::ResultDiscard => "result-discard".into(),
        Op::OutputPath(index) => format!("output-path {}", path(index)),
        Op::OutputNull => "output-null".into(),
        Op::Choice(index) => {
            let choice = &program.choices[index as usize];
            let mut text = String::from("choice");
            for (rule, next) in &choice.rules {
                text.push_str(&format!(
                    "\n         when {} -> {}",
                    condition_text(rule),
                    name(*next)
                ));
            }
            match choice.default {
                Some(default) => text.push_str(&format!("\n         default -> {}", name(default))),
                None => text.push_str("\n         default -> fail States.NoChoiceMatched"),
            }
            text
        }
        Op::Assign(index) => format!("assign {}", payload(index)),
        Op::Output(index) => format!("output {}", payload(index)),
        Op::Next(id) => format!("next {}", name(id)),
        Op::NextChosen => "next chosen".into(),
        Op::End => "end".into(),
        Op::Fail(index) => {
            let fail = &program.fails[index as usize];
            format!(
                "fail error {} cause {}",
                text_text(&fail.error),
                text_text(&fail.cause)
            )
        }
    }
}

fn seconds_text(seconds: &Seconds) -> String {
    match seconds {
        Seconds::Literal(value) => value.to_string(),
        Seconds::Path(path) => path.source().to_string(),
        Seconds::Jsonata(expression) => format!("{expression:?}"),
    }
}

fn text_text(text: &Option<Text>) -> String {
    match text {
        None => "-".into(),
        Some(Text::Literal(literal)) => format!("{literal:?}"),
        Some(Text::Path(path)) => path.source().to_string(),
        Some(Text::Call(call)) => call.display(),
        Some(Text::Jsonata(expression)) => format!("{expression:?}"),
    }
}

fn payload_text(payload: &Payload) -> String {
    match payload {
        Payload::Value(value) => value.to_string(),
        Payload::Path(path) => path.source().to_string(),
        Payload::Call(call) => call.display(),
        Payload::Jsonata(expression) => format!("{expression:?}"),
        Payload::Array(parts) => format!(
            "[{}]",
            parts
                .iter()
                .map(payload_text)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Payload::Object(entries) => {
            let fields: Vec<String> = entries
                .iter()
                .map(|(key, part)| format!("{key:?}: {}", payload_text(part)))
                .collect();
            format!("{{{}}}", fields.join(", "))
        }
    }
}

fn condition_text(condition: &Condition) -> String {
    match condition {
        Condition::And(rules) => format!(
            "and({})",
            rules
                .iter()
                .map(condition_text)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Condition::Or(rules) => format!(
            "or({})",
            rules
                .iter()
                .map(condition_text)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Condition::Not(rule) => format!("not({})", condition_text(rule)),
        Condition::Compare {
            variable,
            operator,
            operand,
        } => {
            let operand = match operand {
                Operand::Value(value) => value.to_string(),
                Operand::Timestamp(_, text) => format!("{text:?}"),
                Operand::Path(path) => format!("path {}", path.source()),
            };
            format!("{} {} {}", variable.source(), operator.name(), operand)
        }
        Condition::Jsonata(payload) => payload_text(payload),
    }
}
