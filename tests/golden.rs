//! Golden listings of compiled programs: `compile(..).dump()` of each workload must equal
//! tests/golden/<workload>.dump. After a deliberate change to the compiler or the listing,
//! regenerate them with `UPDATE_GOLDEN=1 cargo test --test tests golden` and review the diff.

use crate::util;
use std::path::PathBuf;
use stepstream::{asl, compile};

fn golden_dir() -> PathBuf {
    util::tests_dir().join("golden")
}

#[test]
fn golden_dumps() {
    let update = std::env::var("UPDATE_GOLDEN").is_ok_and(|v| !v.is_empty() && v != "0");
    let mut mismatches = Vec::new();
    for workload in util::workloads() {
        let state_machine = asl::parse(&workload.definition).unwrap_or_else(|problems| {
            let listed: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
            panic!(
                "{} does not validate:\n  {}",
                workload.name,
                listed.join("\n  ")
            )
        });
        let dump = compile::compile(&state_machine).dump();
        let path = golden_dir().join(format!("{}.dump", workload.name));
        if update {
            std::fs::create_dir_all(golden_dir()).expect("creating tests/golden");
            std::fs::write(&path, &dump)
                .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
            continue;
        }
        let Ok(golden) = std::fs::read_to_string(&path) else {
            mismatches.push(format!("{}: missing", path.display()));
            continue;
        };
        if golden != dump {
            mismatches.push(first_difference(&path, &golden, &dump));
        }
    }
    assert!(
        mismatches.is_empty(),
        "compiled programs differ from their golden listings:\n{}\n\
         If the change is intended: UPDATE_GOLDEN=1 cargo test --test tests golden",
        mismatches.join("\n")
    );
}

fn first_difference(path: &std::path::Path, golden: &str, dump: &str) -> String {
    let golden_lines: Vec<&str> = golden.lines().collect();
    let dump_lines: Vec<&str> = dump.lines().collect();
    let line = golden_lines
        .iter()
        .zip(&dump_lines)
        .position(|(g, d)| g != d)
        .unwrap_or(golden_lines.len().min(dump_lines.len()));
    format!(
        "{}:{}:\n  golden: {}\n  now:    {}",
        path.display(),
        line + 1,
        golden_lines.get(line).unwrap_or(&"(end of file)"),
        dump_lines.get(line).unwrap_or(&"(end of listing)")
    )
}
