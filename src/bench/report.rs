//! What a benchmark run measured, printed as a plain table or as JSON.

use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// End-to-end latencies, recorded in microseconds (1 µs to 1 hour, 3 significant digits).
pub struct Latencies(Histogram<u64>);

impl Latencies {
    pub fn new() -> Latencies {
        Latencies(
            Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .expect("the histogram's bounds are valid"),
        )
    }

    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.0.saturating_record(micros.max(1));
    }

    pub fn percentiles(&self) -> Option<Percentiles> {
        if self.0.is_empty() {
            return None;
        }
        let ms = |quantile: f64| self.0.value_at_quantile(quantile) as f64 / 1000.0;
        Some(Percentiles {
            count: self.0.len(),
            p50: ms(0.5),
            p90: ms(0.9),
            p99: ms(0.99),
            p999: ms(0.999),
            max: self.0.max() as f64 / 1000.0,
        })
    }
}

impl Default for Latencies {
    fn default() -> Latencies {
        Latencies::new()
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

/// One measured run: the stage, the no-op pipe, or the engine alone.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunReport {
    /// "stage", "no-op pipe" or "engine".
    pub label: String,
    /// Events the run was given (warm-up events excluded).
    pub events: u64,
    /// Events per second written to the input (the producer's rate), if it was measured.
    pub events_per_second_in: Option<f64>,
    /// Results per second from the first result to the last.
    pub events_per_second_out: f64,
    /// Results per second from the start (the daemon's start in a backlog run, the first
    /// event produced in a paced run).
    pub events_per_second_from_start: f64,
    pub succeeded: u64,
    /// Failed or timed-out executions and rejected events (dead letters).
    pub failed: u64,
    /// Events with no result when the run ended.
    pub missing: u64,
    /// Results seen more than once for the same event.
    pub duplicates: u64,
    /// End-to-end latency (event produced or submitted → result seen), when events were paced.
    pub latency_ms: Option<Percentiles>,
    /// CPU time of the daemon (or of this process, engine only) over the time it worked:
    /// from the first result to the last in a backlog run, else the run's wall time.
    pub cpu_percent: Option<f64>,
    pub peak_rss_mib: Option<f64>,
    pub wall_seconds: f64,
    /// One entry per sampling interval (`--sample-every`), oldest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<Sample>,
}

/// What one sampling interval of a run saw.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// Seconds from the start of the measured part of the run to the end of the interval.
    pub at_seconds: f64,
    /// Distinct results that arrived in the interval.
    pub results: u64,
    /// End-to-end latency of those results (paced runs).
    pub latency_ms: Option<Percentiles>,
    /// The daemon's resident memory at the end of the interval.
    pub rss_mib: Option<f64>,
}

/// A whole benchmark: its setting and its runs.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub workload: String,
    pub inputs: String,
    pub events: u64,
    /// "backlog", "paced at N/s" or "flat out".
    pub mode: String,
    pub partitions: Option<i32>,
    pub workers: Option<usize>,
    pub runs: Vec<RunReport>,
    /// The stage's events/s out over the no-op pipe's, when both ran.
    pub stage_over_no_op: Option<f64>,
}

impl Report {
    pub fn new(workload: String, inputs: String, events: u64, mode: String) -> Report {
        Report {
            workload,
            inputs,
            events,
            mode,
            partitions: None,
            workers: None,
            runs: Vec::new(),
            stage_over_no_op: None,
        }
    }

    /// Fills in the stage / no-op ratio when both runs are there.
    pub fn finish(&mut self) {
        let rate = |label: &str| {
            self.runs
                .iter()
                .find(|run| run.label == label)
                .map(|run| run.events_per_second_out)
        };
        if let (Some(stage), Some(no_op)) = (rate("stage"), rate("no-op pipe")) {
            if no_op > 0.0 {
                self.stage_over_no_op = Some(stage / no_op);
            }
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The plain table printed at the end of a run.
    pub fn table(&self) -> String {
        let mut text = String::new();
        let _ = writeln!(text, "stepstream bench: {}", self.workload);
        let mut setting = format!(
            "  {} events from {}; {}",
            group(self.events as f64),
            self.inputs,
            self.mode
        );
        if let Some(partitions) = self.partitions {
            let _ = write!(setting, "; {partitions} partitions");
        }
        if let Some(workers) = self.workers {
            let _ = write!(
                setting,
                "; {workers} worker{}",
                if workers == 1 { "" } else { "s" }
            );
        }
        let _ = writeln!(text, "{setting}\n");
        let mut rows: Vec<(String, Vec<String>)> = Vec::new();
        let column =
            |f: &dyn Fn(&RunReport) -> String| -> Vec<String> { self.runs.iter().map(f).collect() };
        let dash = || "-".to_string();
        rows.push(("".into(), column(&|run| run.label.clone())));
        rows.push((
            "events/s in".into(),
            column(&|run| run.events_per_second_in.map_or_else(dash, group)),
        ));
        rows.push((
            "events/s out".into(),
            column(&|run| group(run.events_per_second_out)),
        ));
        rows.push((
            "  from the start".into(),
            column(&|run| group(run.events_per_second_from_start)),
        ));
        rows.push((
            "succeeded".into(),
            column(&|run| group(run.succeeded as f64)),
        ));
        rows.push((
            "failed (dead letters)".into(),
            column(&|run| group(run.failed as f64)),
        ));
        rows.push(("missing".into(), column(&|run| group(run.missing as f64))));
        rows.push((
            "duplicates".into(),
            column(&|run| group(run.duplicates as f64)),
        ));
        for (name, pick) in [
            (
                "latency p50 ms",
                (|p: &Percentiles| p.p50) as fn(&Percentiles) -> f64,
            ),
            ("latency p90 ms", |p| p.p90),
            ("latency p99 ms", |p| p.p99),
            ("latency p99.9 ms", |p| p.p999),
            ("latency max ms", |p| p.max),
        ] {
            rows.push((
                name.into(),
                column(&|run| {
                    run.latency_ms
                        .as_ref()
                        .map_or_else(dash, |percentiles| format!("{:.2}", pick(percentiles)))
                }),
            ));
        }
        rows.push((
            "CPU".into(),
            column(&|run| {
                run.cpu_percent
                    .map_or_else(dash, |cpu| format!("{cpu:.0}%"))
            }),
        ));
        rows.push((
            "peak RSS".into(),
            column(&|run| {
                run.peak_rss_mib
                    .map_or_else(dash, |mib| format!("{mib:.0} MiB"))
            }),
        ));
        rows.push((
            "wall time s".into(),
            column(&|run| format!("{:.1}", run.wall_seconds)),
        ));
        let name_width = rows
            .iter()
            .map(|(name, _)| name.chars().count())
            .max()
            .unwrap_or(0);
        let value_width = rows
            .iter()
            .flat_map(|(_, values)| values.iter().map(|value| value.chars().count()))
            .max()
            .unwrap_or(0)
            .max(10);
        for (name, values) in rows {
            let mut line = format!("  {name:<name_width$}");
            for value in values {
                let _ = write!(line, "  {value:>value_width$}");
            }
            let _ = writeln!(text, "{}", line.trim_end());
        }
        if let Some(ratio) = self.stage_over_no_op {
            let _ = writeln!(text, "\n  stage / no-op pipe: {ratio:.2}");
        }
        text
    }
}

/// A number rounded to an integer, with thousands separated by commas.
pub fn group(value: f64) -> String {
    let rounded = value.round();
    if !rounded.is_finite() {
        return "-".into();
    }
    let digits = format!("{}", rounded.abs() as u64);
    let mut text = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if rounded < 0.0 {
        text.push('-');
    }
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            text.push(',');
        }
        text.push(digit);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_thousands() {
        assert_eq!(group(0.0), "0");
        assert_eq!(group(999.4), "999");
        assert_eq!(group(1000.0), "1,000");
        assert_eq!(group(1234567.8), "1,234,568");
        assert_eq!(group(-12345.0), "-12,345");
    }

    #[test]
    fn percentiles_and_table() {
        let mut latencies = Latencies::new();
        for ms in 1..=1000u64 {
            latencies.record(Duration::from_millis(ms));
        }
        let percentiles = latencies.percentiles().unwrap();
        assert_eq!(percentiles.count, 1000);
        assert!((percentiles.p50 - 500.0).abs() < 1.0, "{percentiles:?}");
        assert!((percentiles.p99 - 990.0).abs() < 1.0, "{percentiles:?}");
        assert!((percentiles.max - 1000.0).abs() < 1.0, "{percentiles:?}");
        assert!(Latencies::new().percentiles().is_none());

        let mut report = Report::new("w.json".into(), "in.jsonl".into(), 10, "backlog".into());
        for (label, rate) in [("stage", 80.0), ("no-op pipe", 100.0)] {
            report.runs.push(RunReport {
                label: label.into(),
                events: 10,
                events_per_second_out: rate,
                succeeded: 10,
                latency_ms: Some(percentiles.clone()),
                ..RunReport::default()
            });
        }
        report.finish();
        assert_eq!(report.stage_over_no_op, Some(0.8));
        let table = report.table();
        assert!(table.contains("stage / no-op pipe: 0.80"), "{table}");
        assert!(table.contains("latency p99 ms"), "{table}");
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["runs"][1]["label"], "no-op pipe");
    }
}
