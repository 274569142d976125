//! Load benchmarking (`stepstream bench`): drives a real pipeline through a real broker, or
//! the engine alone, and reports events/s in and out, end-to-end latency percentiles,
//! outcomes, duplicates, and the CPU and peak memory of what ran the executions.
//!
//! Through Kafka, each run gets fresh topics; the events are produced either all before the
//! daemon starts (a backlog: the stage's top throughput) or paced at a rate while it runs
//! (latency). The same run repeated with `stepstream run --no-op` measures the pipe around the
//! engine, and the report gives the ratio of the two.

pub mod engine;
pub mod kafka;
pub mod procfs;
pub mod report;

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use report::{Latencies, Percentiles, Report, RunReport};

/// The events a benchmark sends: lines of a JSON-lines file, cycled, or one template whose
/// `${seq}` is replaced by the event's number.
#[derive(Debug, Clone)]
pub enum Events {
    Lines(Vec<Vec<u8>>),
    Template(String),
}

impl Events {
    /// The non-empty lines of a JSON-lines file.
    pub fn from_file(path: &Path) -> Result<Events, String> {
        let text =
            std::fs::read(path).map_err(|err| format!("cannot read {}: {err}", path.display()))?;
        let lines: Vec<Vec<u8>> = text
            .split(|&byte| byte == b'\n')
            .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
            .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
            .map(<[u8]>::to_vec)
            .collect();
        if lines.is_empty() {
            return Err(format!("{} holds no events", path.display()));
        }
        Ok(Events::Lines(lines))
    }

    /// The payload of event number `index`.
    pub fn payload(&self, index: u64) -> Vec<u8> {
        match self {
            Events::Lines(lines) => lines[(index % lines.len() as u64) as usize].clone(),
            Events::Template(template) => template
                .replace("${seq}", itoa::Buffer::new().format(index))
                .into_bytes(),
        }
    }

    /// How the events are described in the report.
    pub fn describe(&self, source: &str) -> String {
        match self {
            Events::Lines(lines) => format!("{source} ({} lines, cycled)", lines.len()),
            Events::Template(_) => format!("the template {source}"),
        }
    }
}

/// Counters the progress line reads while a run goes on.
#[derive(Default)]
pub struct Progress {
    pub produced: AtomicU64,
    pub results: AtomicU64,
}

/// Draws a progress bar on standard error (when it is a terminal) until dropped.
pub struct ProgressBar {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ProgressBar {
    pub fn start(label: &str, total: u64, progress: Arc<Progress>, enabled: bool) -> ProgressBar {
        let stop = Arc::new(AtomicBool::new(false));
        if !enabled || !std::io::stderr().is_terminal() {
            return ProgressBar { stop, thread: None };
        }
        let label = label.to_string();
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("stepstream-progress".into())
            .spawn(move || {
                let started = Instant::now();
                let mut last = (Instant::now(), 0u64);
                let mut rate = 0.0;
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(250));
                    let produced = progress.produced.load(Ordering::Relaxed);
                    let results = progress.results.load(Ordering::Relaxed);
                    let now = Instant::now();
                    let elapsed = now.duration_since(last.0).as_secs_f64();
                    if elapsed >= 1.0 {
                        rate = (results - last.1.min(results)) as f64 / elapsed;
                        last = (now, results);
                    }
                    let done = if total == 0 {
                        1.0
                    } else {
                        results as f64 / total as f64
                    };
                    let width = 30;
                    let filled = ((done.min(1.0)) * width as f64) as usize;
                    let bar: String = (0..width)
                        .map(|cell| if cell < filled { '#' } else { '.' })
                        .collect();
                    let _ = write!(
                        std::io::stderr().lock(),
                        "\r\x1b[K{label} [{bar}] {:>3.0}%  in {}  out {}  {}/s  {:.0}s",
                        done * 100.0,
                        report::group(produced as f64),
                        report::group(results as f64),
                        report::group(rate),
                        started.elapsed().as_secs_f64(),
                    );
                }
                let _ = write!(std::io::stderr().lock(), "\r\x1b[K");
            })
            .ok();
        ProgressBar { stop, thread }
    }
}

impl Drop for ProgressBar {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Waits until `due` (for pacing at a rate); returns at once when it has passed.
pub(crate) fn sleep_until(due: Instant) {
    let now = Instant::now();
    if due > now {
        std::thread::sleep(due - now);
    }
}

/// Bits, one per event, to tell first results from duplicates.
pub(crate) struct Seen {
    bits: Vec<u64>,
    events: u64,
    pub distinct: u64,
    pub duplicates: u64,
}

impl Seen {
    pub fn new(events: u64) -> Seen {
        Seen {
            bits: vec![0; events.div_ceil(64) as usize],
            events,
            distinct: 0,
            duplicates: 0,
        }
    }

    /// Marks event `index`; returns whether it is the first result for it (an index beyond
    /// the events is never one).
    pub fn mark(&mut self, index: u64) -> bool {
        if index >= self.events {
            return false;
        }
        let Some(word) = self.bits.get_mut((index / 64) as usize) else {
            return false;
        };
        let bit = 1u64 << (index % 64);
        if *word & bit != 0 {
            self.duplicates += 1;
            false
        } else {
            *word |= bit;
            self.distinct += 1;
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_cycle_and_templates_number() {
        let lines = Events::Lines(vec![b"{\"a\":1}".to_vec(), b"{\"a\":2}".to_vec()]);
        assert_eq!(lines.payload(0), b"{\"a\":1}");
        assert_eq!(lines.payload(3), b"{\"a\":2}");
        let template = Events::Template("{\"id\":${seq}}".into());
        assert_eq!(template.payload(42), b"{\"id\":42}");
    }

    #[test]
    fn seen_counts_duplicates() {
        let mut seen = Seen::new(100);
        assert!(seen.mark(5));
        assert!(!seen.mark(5));
        assert!(seen.mark(99));
        assert!(!seen.mark(100));
        assert_eq!((seen.distinct, seen.duplicates), (2, 1));
    }
}
