//! The reference implementation's JSONata test suite (tests/data/jsonata-suite) run against
//! `stepstream::jsonata`. Prints the pass rate and the failures by group; fails when the pass
//! rate over the cases not excluded (tests/data/jsonata-suite-excluded.txt) drops below
//! `THRESHOLD`. `JSONATA_SUITE_VERBOSE=1` lists every failing case; `JSONATA_SUITE_FILTER=x`
//! runs only the cases whose id contains `x`.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;

use serde_json::Value as J;
use stepstream::json;
use stepstream::jsonata::{compile, Bindings, Limits};

/// The share of non-excluded cases that must pass.
const THRESHOLD: f64 = 0.998;

fn numbers_equal(a: &J, b: &J) -> bool {
    match (a, b) {
        (J::Number(x), J::Number(y)) => x.as_f64() == y.as_f64(),
        (J::Array(x), J::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| numbers_equal(p, q))
        }
        (J::Object(x), J::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| numbers_equal(v, w)))
        }
        _ => a == b,
    }
}

fn unordered_equal(a: &J, b: &J) -> bool {
    match (a, b) {
        (J::Array(x), J::Array(y)) => {
            if x.len() != y.len() {
                return false;
            }
            let mut used = vec![false; y.len()];
            x.iter().all(
                |p| match (0..y.len()).find(|&i| !used[i] && numbers_equal(p, &y[i])) {
                    Some(i) => {
                        used[i] = true;
                        true
                    }
                    None => false,
                },
            )
        }
        _ => numbers_equal(a, b),
    }
}

enum Outcome {
    Pass,
    Fail(String),
}

fn run_case(dir: &Path, case: &J) -> Outcome {
    let id = case["id"].as_str().unwrap_or("");
    let group = id.split('/').next().unwrap_or("");
    let expr = match case.get("expr").and_then(J::as_str) {
        Some(e) => e.to_string(),
        None => {
            let file = case["expr-file"].as_str().unwrap_or("");
            match std::fs::read_to_string(dir.join("groups").join(group).join(file)) {
                Ok(text) => text,
                Err(e) => return Outcome::Fail(format!("expression file {file}: {e}")),
            }
        }
    };
    let input: Option<json::Value> = if let Some(data) = case.get("data") {
        Some(json::from_str(&data.to_string()).expect("data parses"))
    } else if let Some(name) = case.get("dataset").and_then(J::as_str) {
        let text = std::fs::read_to_string(dir.join("datasets").join(format!("{name}.json")))
            .expect("dataset exists");
        Some(json::from_str(&text).expect("dataset parses"))
    } else {
        None
    };
    let mut bindings = Bindings::new();
    if let Some(J::Object(vars)) = case.get("bindings") {
        for (k, v) in vars {
            bindings.bind(k, json::from_str(&v.to_string()).expect("binding parses"));
        }
    }
    // the suite runs on a thread with a large stack: the depth limits decide
    let mut limits = Limits {
        max_stack_bytes: 200 << 20,
        ..Limits::default()
    };
    if let Some(depth) = case.get("depth").and_then(J::as_u64) {
        limits.max_depth = depth as usize;
    }
    if let Some(ms) = case.get("timelimit").and_then(J::as_u64) {
        limits.time_limit = Some(Duration::from_millis(ms));
    }
    let expected_code = case.get("code").and_then(J::as_str).or_else(|| {
        case.get("error")
            .and_then(|e| e.get("code"))
            .and_then(J::as_str)
    });
    let outcome =
        compile(&expr).and_then(|e| e.evaluate_with_limits(input.as_ref(), &bindings, &limits));
    match (outcome, expected_code) {
        (Err(e), Some(code)) if e.code == code => Outcome::Pass,
        (Err(e), _) => Outcome::Fail(format!("error {e}")),
        (Ok(r), Some(code)) => Outcome::Fail(format!(
            "expected error {code}, got {}",
            r.map(|v| json::to_string(&v)).unwrap_or("undefined".into())
        )),
        (Ok(r), None) => {
            let got: Option<J> =
                r.map(|v| serde_json::from_str(&json::to_string(&v)).expect("prints JSON"));
            if case.get("undefinedResult").and_then(J::as_bool) == Some(true) {
                return match got {
                    None => Outcome::Pass,
                    Some(v) => Outcome::Fail(format!("expected undefined, got {v}")),
                };
            }
            let expected = case.get("result");
            let ok = match (&got, expected) {
                (Some(g), Some(e)) => {
                    if case.get("unordered").and_then(J::as_bool) == Some(true) {
                        unordered_equal(g, e)
                    } else {
                        numbers_equal(g, e)
                    }
                }
                (None, None) => true,
                _ => false,
            };
            if ok {
                Outcome::Pass
            } else {
                Outcome::Fail(format!(
                    "expected {}, got {}",
                    expected
                        .map(|e| e.to_string())
                        .unwrap_or("undefined".into()),
                    got.map(|g| g.to_string()).unwrap_or("undefined".into())
                ))
            }
        }
    }
}

fn suite() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let dir = root.join("jsonata-suite");
    let cases = std::fs::read_to_string(dir.join("cases.jsonl")).expect("cases.jsonl");
    let excluded_text =
        std::fs::read_to_string(root.join("jsonata-suite-excluded.txt")).expect("exclusion list");
    let excluded: HashSet<String> = excluded_text
        .lines()
        .filter_map(|l| l.split(" #").next())
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    let filter = std::env::var("JSONATA_SUITE_FILTER").ok();
    let verbose = std::env::var("JSONATA_SUITE_VERBOSE").is_ok();
    let (mut passed, mut total, mut skipped) = (0usize, 0usize, 0usize);
    let mut by_group: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut failures = Vec::new();
    for line in cases.lines().filter(|l| !l.trim().is_empty()) {
        // lone surrogates (which Rust strings cannot hold) stand for U+FFFD here
        let case: J = serde_json::from_str(line)
            .or_else(|_| serde_json::from_str(&line.replace("\\ud800", "\\ufffd")))
            .expect("case parses");
        let id = case["id"].as_str().unwrap_or("").to_string();
        if excluded.contains(&id) {
            skipped += 1;
            continue;
        }
        if filter.as_ref().is_some_and(|f| !id.contains(f.as_str())) {
            continue;
        }
        let group = id.split('/').next().unwrap_or("").to_string();
        total += 1;
        let entry = by_group.entry(group).or_default();
        entry.1 += 1;
        let outcome = std::panic::catch_unwind(|| run_case(&dir, &case))
            .unwrap_or_else(|_| Outcome::Fail("panicked".into()));
        match outcome {
            Outcome::Pass => {
                passed += 1;
                entry.0 += 1;
            }
            Outcome::Fail(why) => failures.push((id, case["expr"].clone(), why)),
        }
    }
    println!("failures by group:");
    for (group, (p, t)) in &by_group {
        if p < t {
            println!("  {group}: {p}/{t}");
        }
    }
    if verbose {
        for (id, expr, why) in &failures {
            let why: String = why.chars().take(300).collect();
            println!("FAIL {id}: {expr}\n     {why}");
        }
    }
    let rate = passed as f64 / total.max(1) as f64;
    println!(
        "jsonata suite: {passed}/{total} passed ({:.1}%), {skipped} excluded",
        rate * 100.0
    );
    if filter.is_none() {
        assert!(
            rate >= THRESHOLD,
            "pass rate {:.1}% is below {:.1}%",
            rate * 100.0,
            THRESHOLD * 100.0
        );
    }
}

#[test]
fn jsonata_suite() {
    // the suite's own depth limits (as the reference counts them) need more stack than a
    // test thread has in unoptimised builds
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(suite)
        .expect("thread starts")
        .join()
        .expect("suite passes");
}
