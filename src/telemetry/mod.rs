//! Metrics and health: counters kept locally by the workers and the Kafka coordinator and
//! added to the `metrics` registry once per batch (no shared atomic is touched per event), a
//! Prometheus recorder, and a small HTTP listener serving `/metrics`, `/healthz` and
//! `/readyz`.
//!
//! Without an installed recorder (no `[telemetry] listen` address) the `metrics` calls are
//! no-ops.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use metrics::{counter, gauge, histogram, Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::pool::Verdict;
use crate::vm::Status;

/// Executions started by the workers.
pub const EXECUTIONS_STARTED: &str = "stepstream_executions_started_total";
/// Executions that ended, by `status` (succeeded, failed, timed_out).
pub const EXECUTIONS_ENDED: &str = "stepstream_executions_ended_total";
/// States entered, in every branch and iteration.
pub const STATE_TRANSITIONS: &str = "stepstream_state_transitions_total";
/// Wall time from an execution's start to its end.
pub const EXECUTION_DURATION: &str = "stepstream_execution_duration_seconds";
/// Events consumed from the input topics.
pub const EVENTS_CONSUMED: &str = "stepstream_events_consumed_total";
/// Results produced to the output topic.
pub const EVENTS_PRODUCED: &str = "stepstream_events_produced_total";
/// Events produced to the dead-letter topic (failed, timed out, rejected).
pub const EVENTS_DEAD_LETTERED: &str = "stepstream_events_dead_lettered_total";
/// Events consumed and not yet acknowledged downstream.
pub const IN_FLIGHT: &str = "stepstream_in_flight";
/// Messages between the consumer's position and the end of a partition, by `topic` and
/// `partition` (from librdkafka's statistics).
pub const CONSUMER_LAG: &str = "stepstream_consumer_lag";

/// Bucket bounds of the duration histogram, in seconds.
const DURATION_BUCKETS: [f64; 14] = [
    0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 300.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process's Prometheus recorder (once; later calls return the same handle).
pub fn install() -> Result<PrometheusHandle, String> {
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(EXECUTION_DURATION.to_string()),
            &DURATION_BUCKETS,
        )
        .map_err(|err| err.to_string())?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder)
        .map_err(|_| "a metrics recorder is already installed".to_string())?;
    describe();
    Ok(HANDLE.get_or_init(|| handle).clone())
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(EXECUTIONS_STARTED, "Executions started");
    describe_counter!(EXECUTIONS_ENDED, "Executions ended, by status");
    describe_counter!(STATE_TRANSITIONS, "States entered");
    describe_histogram!(
        EXECUTION_DURATION,
        Unit::Seconds,
        "Wall time from an execution's start to its end"
    );
    describe_counter!(EVENTS_CONSUMED, "Events consumed from the input topics");
    describe_counter!(EVENTS_PRODUCED, "Results produced to the output topic");
    describe_counter!(
        EVENTS_DEAD_LETTERED,
        "Events produced to the dead-letter topic"
    );
    describe_gauge!(
        IN_FLIGHT,
        "Events consumed and not yet acknowledged downstream"
    );
    describe_gauge!(CONSUMER_LAG, "Messages behind the end of the partition");
    describe_counter!(
        crate::logs::sink::LOG_RECORDS,
        "Log records written to their destination"
    );
    describe_counter!(
        crate::logs::sink::LOG_RECORDS_DROPPED,
        "Log records lost, by reason: full (the sink was behind) or failed (the destination refused them)"
    );
}

/// The HTTP listener: `/metrics` (Prometheus text), `/healthz` (the process is up) and
/// `/readyz` (200 once `ready` is set: the stage has partitions and produces).
pub struct Listener {
    pub address: SocketAddr,
}

impl Listener {
    /// Binds `address` and serves on a thread of its own for the life of the process.
    /// A bare port (`9464` or `:9464`) binds the loopback interface only; another interface
    /// must be named (`0.0.0.0:9464`).
    pub fn start(
        address: &str,
        handle: PrometheusHandle,
        ready: Arc<AtomicBool>,
    ) -> Result<Listener, String> {
        let port = address.strip_prefix(':').unwrap_or(address);
        let loopback;
        let address = if !port.is_empty() && port.bytes().all(|byte| byte.is_ascii_digit()) {
            loopback = format!("127.0.0.1:{port}");
            loopback.as_str()
        } else {
            address
        };
        let socket = TcpListener::bind(address)
            .map_err(|err| format!("cannot listen on {address}: {err}"))?;
        let bound = socket
            .local_addr()
            .map_err(|err| format!("cannot listen on {address}: {err}"))?;
        std::thread::Builder::new()
            .name("stepstream-telemetry".into())
            .spawn(move || {
                for stream in socket.incoming().flatten() {
                    // One request per connection, answered in turn: the clients are scrapers
                    // and probes.
                    let _ = answer(stream, &handle, &ready);
                }
            })
            .map_err(|err| format!("cannot start the telemetry listener: {err}"))?;
        Ok(Listener { address: bound })
    }
}

fn answer(stream: TcpStream, handle: &PrometheusHandle, ready: &AtomicBool) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // Skip the headers.
    let mut header = String::new();
    while reader.read_line(&mut header)? > 2 {
        header.clear();
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("");
    let path = parts.next().unwrap_or("").split('?').next().unwrap_or("");
    let (status, content_type, body) = match (method, path) {
        ("GET", "/metrics") => ("200 OK", "text/plain; version=0.0.4", handle.render()),
        ("GET", "/healthz") => ("200 OK", "text/plain", "ok\n".to_string()),
        ("GET", "/readyz") if ready.load(Ordering::Relaxed) => {
            ("200 OK", "text/plain", "ready\n".to_string())
        }
        ("GET", "/readyz") => (
            "503 Service Unavailable",
            "text/plain",
            "not ready\n".to_string(),
        ),
        ("GET", _) => ("404 Not Found", "text/plain", "not found\n".to_string()),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "only GET\n".to_string(),
        ),
    };
    let mut stream = reader.into_inner();
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

/// Whether a recorder is installed: without one, counting is skipped altogether.
pub fn enabled() -> bool {
    HANDLE.get().is_some()
}

/// A worker's counts since its last flush.
pub struct WorkerMetrics {
    /// Whether anything is recorded (a recorder was installed before the worker started).
    pub enabled: bool,
    started: u64,
    succeeded: u64,
    failed: u64,
    timed_out: u64,
    transitions: u64,
    durations: Vec<f64>,
    handles: WorkerHandles,
}

struct WorkerHandles {
    started: Counter,
    succeeded: Counter,
    failed: Counter,
    timed_out: Counter,
    transitions: Counter,
    duration: Histogram,
}

impl WorkerMetrics {
    pub fn new() -> WorkerMetrics {
        WorkerMetrics {
            enabled: enabled(),
            started: 0,
            succeeded: 0,
            failed: 0,
            timed_out: 0,
            transitions: 0,
            durations: Vec::new(),
            handles: WorkerHandles {
                started: counter!(EXECUTIONS_STARTED),
                succeeded: counter!(EXECUTIONS_ENDED, "status" => "succeeded"),
                failed: counter!(EXECUTIONS_ENDED, "status" => "failed"),
                timed_out: counter!(EXECUTIONS_ENDED, "status" => "timed_out"),
                transitions: counter!(STATE_TRANSITIONS),
                duration: histogram!(EXECUTION_DURATION),
            },
        }
    }

    pub fn started(&mut self) {
        self.started += 1;
    }

    /// Counts an execution's end.
    pub fn ended(&mut self, verdict: &Verdict, transitions: u64, duration: Duration) {
        match verdict {
            Verdict::Succeeded { .. } => self.succeeded += 1,
            Verdict::Failed {
                status: Status::TimedOut,
                ..
            } => self.timed_out += 1,
            Verdict::Failed { .. } => self.failed += 1,
            Verdict::Rejected { .. } => return,
        }
        self.transitions += transitions;
        self.durations.push(duration.as_secs_f64());
    }

    /// Adds the counts to the registry and starts again from zero.
    pub fn flush(&mut self) {
        if !self.enabled {
            return;
        }
        let handles = &self.handles;
        for (count, counter) in [
            (&mut self.started, &handles.started),
            (&mut self.succeeded, &handles.succeeded),
            (&mut self.failed, &handles.failed),
            (&mut self.timed_out, &handles.timed_out),
            (&mut self.transitions, &handles.transitions),
        ] {
            if *count > 0 {
                counter.increment(*count);
                *count = 0;
            }
        }
        for duration in self.durations.drain(..) {
            handles.duration.record(duration);
        }
    }
}

impl Default for WorkerMetrics {
    fn default() -> WorkerMetrics {
        WorkerMetrics::new()
    }
}

/// The Kafka coordinator's counts since its last flush.
pub struct StageMetrics {
    enabled: bool,
    pub consumed: u64,
    pub produced: u64,
    pub dead_lettered: u64,
    handles: [Counter; 3],
    in_flight: metrics::Gauge,
}

impl StageMetrics {
    pub fn new() -> StageMetrics {
        StageMetrics {
            enabled: enabled(),
            consumed: 0,
            produced: 0,
            dead_lettered: 0,
            handles: [
                counter!(EVENTS_CONSUMED),
                counter!(EVENTS_PRODUCED),
                counter!(EVENTS_DEAD_LETTERED),
            ],
            in_flight: gauge!(IN_FLIGHT),
        }
    }

    /// Adds the counts to the registry and sets the in-flight gauge.
    pub fn flush(&mut self, in_flight: usize) {
        if !self.enabled {
            return;
        }
        for (count, counter) in [
            &mut self.consumed,
            &mut self.produced,
            &mut self.dead_lettered,
        ]
        .into_iter()
        .zip(&self.handles)
        {
            if *count > 0 {
                counter.increment(*count);
                *count = 0;
            }
        }
        self.in_flight.set(in_flight as f64);
    }
}

impl Default for StageMetrics {
    fn default() -> StageMetrics {
        StageMetrics::new()
    }
}

/// Sets the lag gauges from a librdkafka statistics report.
pub fn record_lag(statistics: &rdkafka::Statistics) {
    for (topic, stats) in &statistics.topics {
        for (partition, stats) in &stats.partitions {
            // librdkafka lists an internal partition -1, and -1 for unknown lags.
            if *partition < 0 || stats.consumer_lag < 0 {
                continue;
            }
            gauge!(CONSUMER_LAG, "topic" => topic.clone(), "partition" => partition.to_string())
                .set(stats.consumer_lag as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn get(address: SocketAddr, path: &str) -> String {
        let mut stream = TcpStream::connect(address).unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    }

    #[test]
    fn serves_metrics_health_and_readiness() {
        let handle = install().unwrap();
        assert!(
            install().is_ok(),
            "installing twice returns the same handle"
        );
        let ready = Arc::new(AtomicBool::new(false));
        let listener = Listener::start("127.0.0.1:0", handle, Arc::clone(&ready)).unwrap();
        let mut worker = WorkerMetrics::new();
        worker.started();
        worker.ended(
            &Verdict::Succeeded { output: Vec::new() },
            5,
            Duration::from_micros(40),
        );
        worker.flush();
        let mut stage = StageMetrics::new();
        stage.consumed += 3;
        stage.dead_lettered += 1;
        stage.flush(2);

        let metrics = get(listener.address, "/metrics");
        assert!(metrics.starts_with("HTTP/1.1 200 OK"), "{metrics}");
        for line in [
            "stepstream_executions_started_total 1",
            "stepstream_executions_ended_total{status=\"succeeded\"} 1",
            "stepstream_state_transitions_total 5",
            "stepstream_events_consumed_total 3",
            "stepstream_events_dead_lettered_total 1",
            "stepstream_in_flight 2",
            "stepstream_execution_duration_seconds_bucket{le=\"0.00005\"} 1",
        ] {
            assert!(metrics.contains(line), "{line} missing from\n{metrics}");
        }
        assert!(get(listener.address, "/healthz").starts_with("HTTP/1.1 200"));
        assert!(get(listener.address, "/readyz").starts_with("HTTP/1.1 503"));
        ready.store(true, Ordering::Relaxed);
        assert!(get(listener.address, "/readyz").starts_with("HTTP/1.1 200"));
        assert!(get(listener.address, "/nope").starts_with("HTTP/1.1 404"));
    }

    #[test]
    fn a_bare_port_binds_the_loopback_interface_only() {
        let handle = install().unwrap();
        for address in ["0", ":0"] {
            let ready = Arc::new(AtomicBool::new(true));
            let listener = Listener::start(address, handle.clone(), ready).unwrap();
            assert_eq!(
                listener.address.ip(),
                std::net::IpAddr::from([127, 0, 0, 1]),
                "{address}"
            );
            assert!(get(listener.address, "/healthz").starts_with("HTTP/1.1 200"));
        }
        let ready = Arc::new(AtomicBool::new(true));
        let error = Listener::start("no-such-host.invalid:1", handle, ready)
            .err()
            .expect("an unknown host cannot be bound");
        assert!(error.starts_with("cannot listen on"), "{error}");
    }
}
