//! The log sink: where the pipeline's log records go, batched and off the workers' hot path.
//!
//! Each worker owns a [`LogWriter`] that appends the records of the executions it ends into a
//! byte buffer; a full buffer, and whatever is buffered at the end of the worker's round, is
//! handed as one batch to the sink's thread over a bounded channel. That thread writes the
//! batches to standard output, standard error, a file, or a Kafka topic (one message per
//! record, keyed by the execution ARN so an execution's records stay in order).
//!
//! When the channel is full, a worker either waits ([`WhenFull::Block`], the default: the
//! stage slows to the sink's pace) or drops the batch ([`WhenFull::Drop`]); every record
//! dropped, or that the destination refused, is counted (`stepstream_log_records_dropped_total`)
//! and reported when the sink closes. Nothing is lost silently.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use metrics::{counter, Counter};
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;

use super::{write_record, LogOptions};
use crate::vm::{HistoryEvent, LogLevel};

/// Log records written to their destination (for Kafka: acknowledged by the broker).
pub const LOG_RECORDS: &str = "stepstream_log_records_total";
/// Log records lost, by `reason`: `full` (dropped because the sink was behind, with
/// `when_full = "drop"`) or `failed` (the destination refused them).
pub const LOG_RECORDS_DROPPED: &str = "stepstream_log_records_dropped_total";

/// Where the records go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Stdout,
    Stderr,
    /// Appended to this file (created if missing).
    File(PathBuf),
    /// One message per record on this topic, keyed by the execution ARN.
    Kafka {
        brokers: String,
        topic: String,
        /// librdkafka producer settings, passed through as they are.
        producer: BTreeMap<String, String>,
    },
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Destination::Stdout => f.write_str("standard output"),
            Destination::Stderr => f.write_str("standard error"),
            Destination::File(path) => write!(f, "{}", path.display()),
            Destination::Kafka { topic, .. } => write!(f, "the Kafka topic {topic}"),
        }
    }
}

/// What a worker does when the sink is behind and its queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenFull {
    /// Waits: the stage slows down to the pace of the sink.
    Block,
    /// Drops the batch and counts its records.
    Drop,
}

/// How the sink runs.
#[derive(Debug, Clone)]
pub struct SinkOptions {
    /// The level and whether payloads are part of the records.
    pub records: LogOptions,
    pub destination: Destination,
    pub when_full: WhenFull,
    /// Bytes a worker buffers before handing a batch to the sink (it also hands over what it
    /// has at the end of each of its rounds).
    pub batch_bytes: usize,
    /// Bytes of batches queued for the sink before workers wait or drop: the queue holds
    /// `buffer_bytes / batch_bytes` batches.
    pub buffer_bytes: usize,
    /// For a file: when it is rotated, and how many rotated files are kept (none: it grows).
    pub rotation: Option<Rotation>,
}

/// Size-based rotation of a log file, as logrotate does it: when the next batch would take
/// `path` past `max_bytes`, `path.N-1` becomes `path.N` (the oldest, `path.keep`, is deleted),
/// …, `path` becomes `path.1`, and a new `path` is begun. Batches hold whole records, so no
/// record is split across two files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    pub max_bytes: u64,
    /// Rotated files kept beside the current one (0: the full file is deleted).
    pub keep: u32,
}

/// What the sink did, reported when it closes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkReport {
    /// Records written (for Kafka: acknowledged).
    pub written: u64,
    /// Records dropped because the queue was full (`WhenFull::Drop`).
    pub dropped: u64,
    /// Records the destination refused (a write error, a failed delivery).
    pub failed: u64,
}

/// A problem starting the sink.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("cannot open the log file {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the log sink's Kafka producer: {0}")]
    Kafka(#[from] KafkaError),
    #[error("cannot start the log sink's thread: {0}")]
    Thread(std::io::Error),
}

/// Records from the workers, with what the Kafka destination needs to key them.
struct Batch {
    bytes: Vec<u8>,
    records: u64,
    /// For each execution with records in `bytes`: where its records end, and its ARN.
    executions: Vec<(usize, Box<str>)>,
}

impl Batch {
    fn new(capacity: usize) -> Batch {
        Batch {
            bytes: Vec::with_capacity(capacity),
            records: 0,
            executions: Vec::new(),
        }
    }

    /// The records of each execution: its ARN and its lines (each ending in a line feed).
    fn executions(&self) -> impl Iterator<Item = (&str, &[u8])> {
        let mut start = 0;
        self.executions.iter().map(move |(end, arn)| {
            let records = &self.bytes[start..*end];
            start = *end;
            (&**arn, records)
        })
    }
}

enum Message {
    Batch(Batch),
    /// Every batch sent before this one is written: flush and stop.
    Close,
}

/// The sink's counts, shared by the workers (drops) and the sink's thread.
struct Counters {
    written: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
    metric_written: Counter,
    metric_dropped: Counter,
    metric_failed: Counter,
}

impl Counters {
    fn new() -> Counters {
        Counters {
            written: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            metric_written: counter!(LOG_RECORDS),
            metric_dropped: counter!(LOG_RECORDS_DROPPED, "reason" => "full"),
            metric_failed: counter!(LOG_RECORDS_DROPPED, "reason" => "failed"),
        }
    }

    fn written(&self, records: u64) {
        if records > 0 {
            self.written.fetch_add(records, Ordering::Relaxed);
            self.metric_written.increment(records);
        }
    }

    fn dropped(&self, records: u64) {
        if records > 0 {
            self.dropped.fetch_add(records, Ordering::Relaxed);
            self.metric_dropped.increment(records);
        }
    }

    fn failed(&self, records: u64) {
        if records > 0 {
            self.failed.fetch_add(records, Ordering::Relaxed);
            self.metric_failed.increment(records);
        }
    }

    fn report(&self) -> SinkReport {
        SinkReport {
            written: self.written.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
        }
    }
}

/// The running sink: its thread, and the handle workers make their writers from.
pub struct LogSink {
    handle: LogHandle,
    thread: Option<JoinHandle<()>>,
}

/// What a worker needs to make its [`LogWriter`]; cheap to clone.
#[derive(Clone)]
pub struct LogHandle {
    sender: Sender<Message>,
    records: LogOptions,
    when_full: WhenFull,
    batch_bytes: usize,
    counters: Arc<Counters>,
}

impl fmt::Debug for LogHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogHandle")
            .field("records", &self.records)
            .field("when_full", &self.when_full)
            .field("batch_bytes", &self.batch_bytes)
            .finish_non_exhaustive()
    }
}

impl LogHandle {
    /// The level records are written at (the VM keeps only those events).
    pub fn level(&self) -> LogLevel {
        self.records.level
    }

    /// Whether records carry payloads (input, output, Task parameters).
    pub fn includes_execution_data(&self) -> bool {
        self.records.include_execution_data
    }

    /// A writer for one worker.
    pub fn writer(&self) -> LogWriter {
        LogWriter {
            handle: self.clone(),
            batch: Batch::new(0),
        }
    }
}

impl LogSink {
    /// Opens the destination and starts the sink's thread.
    pub fn start(options: &SinkOptions) -> Result<LogSink, SinkError> {
        let output: Box<dyn Output> = match &options.destination {
            Destination::Stdout => Box::new(Stream(std::io::stdout())),
            Destination::Stderr => Box::new(Stream(std::io::stderr())),
            Destination::File(path) => {
                let file = open_append(path).map_err(|source| SinkError::File {
                    path: path.clone(),
                    source,
                })?;
                match options.rotation {
                    Some(rotation) => Box::new(RotatingFile::new(path.clone(), file, rotation)?),
                    None => Box::new(Stream(file)),
                }
            }
            Destination::Kafka {
                brokers,
                topic,
                producer,
            } => Box::new(KafkaOutput::new(brokers, topic, producer)?),
        };
        LogSink::start_with(options, output)
    }

    fn start_with(options: &SinkOptions, output: Box<dyn Output>) -> Result<LogSink, SinkError> {
        let batch_bytes = options.batch_bytes.max(1);
        let capacity = (options.buffer_bytes / batch_bytes).max(1);
        let (sender, receiver) = bounded(capacity);
        let counters = Arc::new(Counters::new());
        let thread_counters = Arc::clone(&counters);
        let destination = options.destination.to_string();
        let thread = std::thread::Builder::new()
            .name("stepstream-logs".into())
            .spawn(move || drain(receiver, output, &thread_counters, &destination))
            .map_err(SinkError::Thread)?;
        Ok(LogSink {
            handle: LogHandle {
                sender,
                records: options.records,
                when_full: options.when_full,
                batch_bytes,
                counters,
            },
            thread: Some(thread),
        })
    }

    /// The handle the pool makes its workers' writers from.
    pub fn handle(&self) -> LogHandle {
        self.handle.clone()
    }

    /// Writes every batch handed over so far, flushes the destination, and stops. Writers
    /// still alive after this (a worker abandoned at shutdown) count what they hand over as
    /// dropped.
    pub fn close(mut self) -> SinkReport {
        self.stop();
        self.handle.counters.report()
    }

    fn stop(&mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = self.handle.sender.send(Message::Close);
            let _ = thread.join();
        }
    }
}

impl Drop for LogSink {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A worker's buffer of records.
pub struct LogWriter {
    handle: LogHandle,
    batch: Batch,
}

impl LogWriter {
    /// Appends the records of an execution's history events (those kept at the sink's level);
    /// hands the buffer to the sink once it holds `batch_bytes`.
    pub fn write(&mut self, execution_arn: &str, events: &[HistoryEvent]) {
        let records = self.write_records(execution_arn, events);
        if records > 0 && self.batch.bytes.len() >= self.handle.batch_bytes {
            self.flush();
        }
    }

    fn write_records(&mut self, execution_arn: &str, events: &[HistoryEvent]) -> u64 {
        if events.is_empty() {
            return 0;
        }
        if self.batch.bytes.capacity() == 0 {
            self.batch = Batch::new(self.handle.batch_bytes + self.handle.batch_bytes / 4);
        }
        let mut records = 0;
        for event in events {
            if write_record(
                &mut self.batch.bytes,
                event,
                execution_arn,
                &self.handle.records,
            ) {
                records += 1;
            }
        }
        if records > 0 {
            self.batch.records += records;
            self.batch
                .executions
                .push((self.batch.bytes.len(), execution_arn.into()));
        }
        records
    }

    /// Whether records are buffered.
    pub fn is_empty(&self) -> bool {
        self.batch.records == 0
    }

    /// Hands what is buffered to the sink: waits while its queue is full, or drops the batch
    /// and counts its records, as `when_full` says.
    pub fn flush(&mut self) {
        if self.batch.records == 0 {
            return;
        }
        let batch = std::mem::replace(&mut self.batch, Batch::new(0));
        let records = batch.records;
        let sent = match self.handle.when_full {
            WhenFull::Block => self.handle.sender.send(Message::Batch(batch)).is_ok(),
            WhenFull::Drop => match self.handle.sender.try_send(Message::Batch(batch)) {
                Ok(()) => true,
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
            },
        };
        if !sent {
            self.handle.counters.dropped(records);
        }
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        self.flush();
    }
}

/// A destination, driven by the sink's thread.
trait Output: Send {
    /// Writes a batch; counts what was written and what failed.
    fn write(&mut self, batch: &Batch, counters: &Counters) -> Result<(), String>;
    /// Waits until everything written is out (for Kafka: acknowledged or failed).
    fn finish(&mut self, counters: &Counters) -> Result<(), String>;
}

/// The sink's thread: writes batches until told to close (or every handle is gone).
fn drain(
    receiver: Receiver<Message>,
    mut output: Box<dyn Output>,
    counters: &Counters,
    destination: &str,
) {
    let mut last_error: Option<String> = None;
    let mut report = |result: Result<(), String>| {
        if let Err(error) = result {
            // Each new kind of failure is said once; every record it costs is counted.
            if last_error.as_deref() != Some(error.as_str()) {
                eprintln!("stepstream: log records to {destination} failed: {error}");
                last_error = Some(error);
            }
        }
    };
    while let Ok(Message::Batch(batch)) = receiver.recv() {
        report(output.write(&batch, counters));
    }
    report(output.finish(counters));
    // Batches that came after the close (from workers abandoned at shutdown) are not written.
    while let Ok(Message::Batch(batch)) = receiver.try_recv() {
        counters.dropped(batch.records);
    }
}

/// Standard output, standard error or a file.
struct Stream<W>(W);

impl<W: Write + Send> Output for Stream<W> {
    fn write(&mut self, batch: &Batch, counters: &Counters) -> Result<(), String> {
        match self.0.write_all(&batch.bytes).and_then(|()| self.0.flush()) {
            Ok(()) => {
                counters.written(batch.records);
                Ok(())
            }
            Err(err) => {
                // How much of the batch got out is unknown; all of it is counted as failed.
                counters.failed(batch.records);
                Err(err.to_string())
            }
        }
    }

    fn finish(&mut self, _counters: &Counters) -> Result<(), String> {
        self.0.flush().map_err(|err| err.to_string())
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

/// A file rotated by size (see `Rotation`).
struct RotatingFile {
    path: PathBuf,
    file: File,
    /// Bytes in the current file.
    size: u64,
    rotation: Rotation,
}

impl RotatingFile {
    fn new(path: PathBuf, file: File, rotation: Rotation) -> Result<RotatingFile, SinkError> {
        let size = file
            .metadata()
            .map_err(|source| SinkError::File {
                path: path.clone(),
                source,
            })?
            .len();
        Ok(RotatingFile {
            path,
            file,
            size,
            rotation,
        })
    }

    /// The name of rotated file `n` (`path.n`).
    fn rotated(&self, n: u32) -> PathBuf {
        let mut name = self.path.clone().into_os_string();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    /// Shifts the rotated files up by one, moves the current file to `path.1` and begins a
    /// new one.
    fn rotate(&mut self) -> std::io::Result<()> {
        self.file.flush()?;
        if self.rotation.keep == 0 {
            std::fs::remove_file(&self.path)?;
        } else {
            for n in (1..self.rotation.keep).rev() {
                let from = self.rotated(n);
                if from.exists() {
                    std::fs::rename(&from, self.rotated(n + 1))?;
                }
            }
            std::fs::rename(&self.path, self.rotated(1))?;
        }
        self.file = open_append(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

impl Output for RotatingFile {
    fn write(&mut self, batch: &Batch, counters: &Counters) -> Result<(), String> {
        let length = batch.bytes.len() as u64;
        let mut problem = None;
        if self.size > 0 && self.size + length > self.rotation.max_bytes {
            if let Err(err) = self.rotate() {
                // The records go on into the current file, so none is lost; rotation is tried
                // again once another `max_bytes` have been written.
                problem = Some(format!("cannot rotate {}: {err}", self.path.display()));
                self.size = 0;
            }
        }
        self.size += length;
        let written = Stream(&mut self.file).write(batch, counters);
        match problem {
            Some(problem) => written.and(Err(problem)),
            None => written,
        }
    }

    fn finish(&mut self, _counters: &Counters) -> Result<(), String> {
        self.file.flush().map_err(|err| err.to_string())
    }
}

/// Counts the broker's acknowledgements; the sink's thread adds them to the counters after
/// each poll.
struct LogDelivery {
    delivered: AtomicU64,
    failed: AtomicU64,
    last_error: std::sync::Mutex<Option<String>>,
    log: crate::kafka::ClientLog,
}

impl ClientContext for LogDelivery {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, facility: &str, message: &str) {
        self.log.write(level, facility, message);
    }
}

impl ProducerContext for LogDelivery {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((err, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut last) = self.last_error.lock() {
                    *last = Some(err.to_string());
                }
            }
        }
    }
}

/// Sends made for a record before it is counted as failed (besides waits on a full queue).
const KAFKA_SEND_ATTEMPTS: u32 = 5;

/// How long closing waits for outstanding records to be acknowledged.
const KAFKA_FLUSH_TIMEOUT: Duration = Duration::from_secs(30);

struct KafkaOutput {
    producer: BaseProducer<LogDelivery>,
    topic: String,
}

impl KafkaOutput {
    fn new(
        brokers: &str,
        topic: &str,
        settings: &BTreeMap<String, String>,
    ) -> Result<KafkaOutput, SinkError> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", brokers)
            .set("linger.ms", "50")
            .set("compression.type", "lz4");
        for (key, value) in settings {
            config.set(key, value);
        }
        let log = crate::kafka::ClientLog::new("log producer", settings);
        config.set_log_level(log.level());
        let producer = config.create_with_context(LogDelivery {
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            last_error: std::sync::Mutex::new(None),
            log,
        })?;
        Ok(KafkaOutput {
            producer,
            topic: topic.to_string(),
        })
    }

    /// Adds the acknowledgements and failures since the last call to the counters.
    fn settle(&self, counters: &Counters) -> Result<(), String> {
        let context = self.producer.context();
        counters.written(context.delivered.swap(0, Ordering::Relaxed));
        let failed = context.failed.swap(0, Ordering::Relaxed);
        counters.failed(failed);
        if failed == 0 {
            return Ok(());
        }
        let error = context
            .last_error
            .lock()
            .ok()
            .and_then(|mut last| last.take())
            .unwrap_or_else(|| "delivery failed".into());
        Err(error)
    }
}

impl Output for KafkaOutput {
    fn write(&mut self, batch: &Batch, counters: &Counters) -> Result<(), String> {
        let mut refused = None;
        for (arn, records) in batch.executions() {
            for record in records.split_inclusive(|byte| *byte == b'\n') {
                let payload = record.strip_suffix(b"\n").unwrap_or(record);
                let mut attempts = 0;
                loop {
                    let message = BaseRecord::to(&self.topic).key(arn).payload(payload);
                    match self.producer.send(message) {
                        Ok(()) => break,
                        Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                            self.producer.poll(Duration::from_millis(10));
                        }
                        Err((err, _)) => {
                            attempts += 1;
                            if attempts >= KAFKA_SEND_ATTEMPTS {
                                counters.failed(1);
                                refused = Some(err.to_string());
                                break;
                            }
                            self.producer.poll(Duration::from_millis(100));
                        }
                    }
                }
            }
        }
        self.producer.poll(Duration::ZERO);
        let settled = self.settle(counters);
        match refused {
            Some(error) => Err(error),
            None => settled,
        }
    }

    fn finish(&mut self, counters: &Counters) -> Result<(), String> {
        let flushed = self.producer.flush(KAFKA_FLUSH_TIMEOUT);
        let settled = self.settle(counters);
        let outstanding = self.producer.in_flight_count().max(0) as u64;
        counters.failed(outstanding);
        flushed.map_err(|err| err.to_string())?;
        settled
    }
}

#[cfg(test)]
mod tests;
