//! stepstream's JSON parser and printer against `serde_json` (with `preserve_order`, as the
//! crate builds it) on the first 100 workload inputs (tests/data/workloads/inputs.jsonl,
//! about 370 bytes each). One iteration parses, or prints, all 100 lines; the time per line is
//! the reported time divided by 100. Parsing is measured without dropping the values parsed.
//!
//! Run with `cargo bench --bench json`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use std::path::Path;
use stepstream::json;

#[global_allocator]
static GLOBAL: stepstream::alloc::MiMalloc = stepstream::alloc::MiMalloc;

/// How many input lines each iteration handles.
const LINES: usize = 100;

fn lines() -> Vec<Vec<u8>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/workloads/inputs.jsonl");
    let bytes = std::fs::read(&path).expect("tests/data/workloads/inputs.jsonl is readable");
    let lines: Vec<Vec<u8>> = bytes
        .split(|&byte| byte == b'\n')
        .filter(|line| !line.is_empty())
        .take(LINES)
        .map(<[u8]>::to_vec)
        .collect();
    assert_eq!(lines.len(), LINES);
    lines
}

fn parse(c: &mut Criterion) {
    let lines = lines();
    let mut group = c.benchmark_group("json/parse");
    group.throughput(Throughput::Elements(LINES as u64));
    // The values are dropped outside the measurement: their drop is the value type's cost,
    // not the parser's (and differs: reference counts against plain frees).
    group.bench_function("stepstream", |b| {
        b.iter_with_large_drop(|| {
            lines
                .iter()
                .map(|line| json::from_slice(black_box(line)).expect("parses"))
                .collect::<Vec<_>>()
        })
    });
    group.bench_function("serde_json", |b| {
        b.iter_with_large_drop(|| {
            lines
                .iter()
                .map(|line| {
                    serde_json::from_slice::<serde_json::Value>(black_box(line)).expect("parses")
                })
                .collect::<Vec<_>>()
        })
    });
    group.finish();
}

fn print(c: &mut Criterion) {
    let lines = lines();
    let ours: Vec<json::Value> = lines
        .iter()
        .map(|line| json::from_slice(line).expect("parses"))
        .collect();
    let theirs: Vec<serde_json::Value> = lines
        .iter()
        .map(|line| serde_json::from_slice(line).expect("parses"))
        .collect();
    for ((line, ours), theirs) in lines.iter().zip(&ours).zip(&theirs) {
        assert_eq!(&json::to_vec(ours), line);
        assert_eq!(&serde_json::to_vec(theirs).expect("prints"), line);
    }
    let mut group = c.benchmark_group("json/print");
    group.throughput(Throughput::Elements(LINES as u64));
    group.bench_function("stepstream", |b| {
        b.iter(|| {
            for value in &ours {
                black_box(json::to_vec(black_box(value)));
            }
        })
    });
    group.bench_function("serde_json", |b| {
        b.iter(|| {
            for value in &theirs {
                black_box(serde_json::to_vec(black_box(value)).expect("prints"));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, parse, print);
criterion_main!(benches);
