//! The engine alone (`stepstream bench --engine-only`): events go from memory into the worker
//! pool the daemon uses and results come back, with no broker; the same report as through
//! Kafka, for this process.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;

use super::{procfs, sleep_until, Events, Latencies, Progress, ProgressBar, RunReport};
use crate::compile::Program;
use crate::pool::{Job, Pool, PoolOptions, Verdict};
use crate::tasks::TaskHandler;

/// How an engine-only run goes.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub events: u64,
    /// Events per second; `None` runs flat out.
    pub rate: Option<f64>,
    /// Most executions submitted and not yet finished.
    pub max_in_flight: usize,
    pub progress: bool,
}

/// Jobs handed to a worker at once.
const BATCH: u64 = 64;

/// Runs `options.events` executions through a pool and reports what it measured.
pub fn run(
    program: &'static Program,
    pool_options: PoolOptions,
    tasks: Arc<dyn TaskHandler>,
    events: &Events,
    options: &EngineOptions,
) -> RunReport {
    let total = options.events;
    let progress = Arc::new(Progress::default());
    let _bar = ProgressBar::start("engine", total, Arc::clone(&progress), options.progress);
    let pid = std::process::id();
    let mut pool = Pool::start(program, pool_options, tasks);
    let results = pool.results().clone();
    let max_in_flight = options.max_in_flight.max(BATCH as usize) as u64;
    let mut submitted_at: Vec<Instant> = Vec::new();
    let mut latencies = Latencies::new();
    let mut report = RunReport {
        label: "engine".into(),
        events: total,
        ..RunReport::default()
    };
    let cpu_before = procfs::cpu_seconds(pid);
    let started = Instant::now();
    let (mut next, mut finished) = (0u64, 0u64);
    let mut first_result: Option<Instant> = None;
    let mut last_result = started;
    while finished < total {
        // Submit what the in-flight bound and the pace allow.
        let mut wait = Duration::from_millis(5);
        while next < total && next - finished < max_in_flight {
            let mut count = BATCH
                .min(total - next)
                .min(max_in_flight - (next - finished));
            if let Some(rate) = options.rate {
                let due = (started.elapsed().as_secs_f64() * rate) as u64 + 1;
                if due <= next {
                    let at = started + Duration::from_secs_f64(next as f64 / rate);
                    wait = at.saturating_duration_since(Instant::now());
                    break;
                }
                count = count.min(due - next);
            }
            let now = Instant::now();
            let batch: Vec<Job> = (next..next + count)
                .map(|index| Job {
                    id: index,
                    name: format!("bench-{index}"),
                    payload: events.payload(index),
                })
                .collect();
            if options.rate.is_some() {
                submitted_at.resize(submitted_at.len() + count as usize, now);
            }
            pool.submit(batch);
            next += count;
            progress.produced.store(next, Ordering::Relaxed);
        }
        // Collect what finished.
        let mut received = match results.recv_timeout(wait.max(Duration::from_micros(50))) {
            Ok(done) => Some(done),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        while let Some(done) = received.take() {
            let now = Instant::now();
            first_result.get_or_insert(now);
            last_result = now;
            finished += 1;
            match done.verdict {
                Verdict::Succeeded { .. } => report.succeeded += 1,
                Verdict::Failed { .. } | Verdict::Rejected { .. } => report.failed += 1,
            }
            if let Some(at) = submitted_at.get(done.id as usize) {
                latencies.record(now.duration_since(*at));
            }
            received = results.try_recv().ok();
        }
        progress.results.store(finished, Ordering::Relaxed);
        if options.rate.is_some() && next < total && finished == next {
            let at = started + Duration::from_secs_f64(next as f64 / options.rate.unwrap_or(1.0));
            sleep_until(at.min(Instant::now() + Duration::from_millis(5)));
        }
    }
    let wall = last_result.duration_since(started).as_secs_f64().max(1e-9);
    let cpu_after = procfs::cpu_seconds(pid);
    drop(pool);
    report.missing = total - finished;
    report.events_per_second_from_start = finished as f64 / wall;
    report.events_per_second_out = match first_result {
        Some(first) if last_result > first && finished > 1 => {
            (finished - 1) as f64 / last_result.duration_since(first).as_secs_f64()
        }
        _ => report.events_per_second_from_start,
    };
    report.events_per_second_in = Some(next as f64 / wall);
    report.latency_ms = latencies.percentiles();
    report.cpu_percent = match (cpu_before, cpu_after) {
        (Some(before), Some(after)) => Some((after - before) / wall * 100.0),
        _ => None,
    };
    report.peak_rss_mib = procfs::peak_rss_bytes(pid).map(|bytes| bytes as f64 / 1048576.0);
    report.wall_seconds = wall;
    report
}
