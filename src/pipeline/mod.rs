//! The pipeline stage: events in, one execution each, results out.
//!
//! `run_lines` runs the stage over JSON lines (stdin → stdout, dead letters → stderr): the
//! same pool, backpressure and result routing the Kafka stage uses, without a broker.

pub mod offsets;

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::json;
use crossbeam_channel::{bounded, never, select};

use crate::compile::Program;
use crate::pool::{Finished, Job, Pool, PoolOptions, Verdict};
use crate::tasks::TaskHandler;

/// How a line pipeline runs.
#[derive(Debug, Clone)]
pub struct LineOptions {
    pub pool: PoolOptions,
    /// Most executions in flight at once; reading pauses when it is reached.
    pub max_in_flight: usize,
    /// Prefix of execution names (`PREFIX-0-LINE`), like a topic name.
    pub source_name: String,
}

/// What a pipeline run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub events: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub timed_out: u64,
    pub rejected: u64,
}

impl Summary {
    /// Counts one finished event.
    pub(crate) fn count(&mut self, verdict: &Verdict) {
        self.events += 1;
        match verdict {
            Verdict::Succeeded { .. } => self.succeeded += 1,
            Verdict::Failed {
                status: crate::vm::Status::TimedOut,
                ..
            } => self.timed_out += 1,
            Verdict::Failed { .. } => self.failed += 1,
            Verdict::Rejected { .. } => self.rejected += 1,
        }
    }
}

/// Lines read before a batch is handed to a worker (fewer when input pauses).
const BATCH: usize = 64;

/// Runs one execution per non-empty input line; each success's output goes to `out` as one
/// JSON line, each failure or rejected line to `dead` as a JSON line with the reason and the
/// original event. Returns when the input ends and every execution has finished.
pub fn run_lines<R, O, D>(
    input: R,
    mut out: O,
    mut dead: D,
    program: &'static Program,
    options: LineOptions,
    tasks: Arc<dyn TaskHandler>,
) -> std::io::Result<Summary>
where
    R: Read + Send + 'static,
    O: Write,
    D: Write,
{
    let mut pool = Pool::start(program, options.pool.clone(), tasks);
    let results = pool.results().clone();
    // One permit per execution in flight: the reader takes one per event, the writer gives it
    // back when the result is out.
    let (permits, returned) = bounded::<()>(options.max_in_flight.max(1));
    // The reader's last word: how many events it read, and the read error that stopped it.
    let (done_sender, mut done) = bounded::<(u64, Option<std::io::Error>)>(1);
    // Lines longer than the payload limit, refused by the reader without holding them whole.
    let (oversize_sender, oversize) = bounded::<Finished>(options.max_in_flight.max(1));
    let limit = options.pool.execution.max_payload_bytes;
    let source_name = options.source_name.clone();
    let reader = std::thread::Builder::new()
        .name("stepstream-reader".into())
        .spawn(move || {
            let mut reader = BufReader::new(input);
            let mut batch = Vec::with_capacity(BATCH);
            let mut line = Vec::new();
            let mut index = 0u64;
            let error = loop {
                line.clear();
                let read = match read_line_bounded(&mut reader, &mut line, limit) {
                    Ok(read) if read.bytes == 0 => break None,
                    Ok(read) => read,
                    Err(err) => break Some(err),
                };
                let payload = trim(&line);
                if !payload.is_empty() || read.cut {
                    if permits.is_full() && !batch.is_empty() {
                        // About to wait for a permit: let the held events run first.
                        pool.submit(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)));
                    }
                    if permits.send(()).is_err() {
                        break None;
                    }
                    let name = format!("{source_name}-0-{index}");
                    if read.cut {
                        let reason = format!(
                            "the line has {} bytes, more than the payload limit of {limit} bytes",
                            read.bytes
                        );
                        let payload = std::mem::take(&mut line);
                        let verdict = Verdict::Rejected { reason };
                        let rejected = Finished {
                            id: index,
                            name,
                            verdict,
                            payload,
                        };
                        if oversize_sender.send(rejected).is_err() {
                            break None;
                        }
                    } else {
                        let payload = payload.to_vec();
                        batch.push(Job {
                            id: index,
                            name,
                            payload,
                        });
                    }
                    index += 1;
                }
                if batch.len() >= BATCH || (reader.buffer().is_empty() && !batch.is_empty()) {
                    pool.submit(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)));
                }
            };
            pool.submit(batch);
            let _ = done_sender.send((index, error));
            pool.close();
        })?;

    let mut summary = Summary::default();
    let mut expected: Option<u64> = None;
    let mut read_error = None;
    while expected != Some(summary.events) {
        select! {
            recv(results) -> finished => match finished {
                Ok(finished) => {
                    summary.count(&finished.verdict);
                    write_result(&finished, &mut out, &mut dead)?;
                    let _ = returned.recv_timeout(Duration::from_secs(1));
                }
                Err(_) => break,
            },
            recv(oversize) -> finished => if let Ok(finished) = finished {
                summary.count(&finished.verdict);
                write_result(&finished, &mut out, &mut dead)?;
                let _ = returned.recv_timeout(Duration::from_secs(1));
            },
            recv(done) -> last => match last {
                Ok((total, error)) => {
                    expected = Some(total);
                    read_error = error;
                    done = never();
                }
                // The reader died without its last word: nothing more will come.
                Err(_) => break,
            },
        }
    }
    out.flush()?;
    dead.flush()?;
    let _ = reader.join();
    match read_error {
        Some(err) => Err(err),
        None => Ok(summary),
    }
}

/// One line as [`read_line_bounded`] read it.
struct LineRead {
    /// The line's whole length with its line break; 0 at the end of the input.
    bytes: usize,
    /// Whether the line held more than the limit beyond what was kept (whitespace aside).
    cut: bool,
}

/// Reads one line into `line`, keeping at most `limit` bytes of it and skipping the rest, so
/// that a line without end (or one far over the payload limit) never grows memory unbounded.
fn read_line_bounded(
    reader: &mut impl BufRead,
    line: &mut Vec<u8>,
    limit: usize,
) -> std::io::Result<LineRead> {
    let mut read = LineRead {
        bytes: 0,
        cut: false,
    };
    loop {
        let buffer = match reader.fill_buf() {
            Ok(buffer) => buffer,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        if buffer.is_empty() {
            return Ok(read);
        }
        let (chunk, ended) = match buffer.iter().position(|&byte| byte == b'\n') {
            Some(end) => (&buffer[..=end], true),
            None => (buffer, false),
        };
        let room = limit.saturating_sub(line.len()).min(chunk.len());
        line.extend_from_slice(&chunk[..room]);
        // What does not fit is skipped; only whitespace may be skipped without consequence.
        let skipped = &chunk[room..];
        read.cut |= !skipped.iter().all(u8::is_ascii_whitespace);
        read.bytes += chunk.len();
        let consumed = chunk.len();
        reader.consume(consumed);
        if ended {
            return Ok(read);
        }
    }
}

fn trim(line: &[u8]) -> &[u8] {
    let start = line
        .iter()
        .position(|byte| !byte.is_ascii_whitespace())
        .unwrap_or(line.len());
    let end = line
        .iter()
        .rposition(|byte| !byte.is_ascii_whitespace())
        .map_or(start, |end| end + 1);
    &line[start..end.max(start)]
}

fn write_result(
    finished: &Finished,
    out: &mut impl Write,
    dead: &mut impl Write,
) -> std::io::Result<()> {
    let (status, error, cause) = match &finished.verdict {
        Verdict::Succeeded { output } => {
            out.write_all(output)?;
            return out.write_all(b"\n");
        }
        Verdict::Failed {
            status,
            error,
            cause,
        } => (status.as_str(), error.clone(), cause.clone()),
        Verdict::Rejected { reason } => ("REJECTED", None, Some(reason.clone())),
    };
    let letter = json!({
        "event": finished.id,
        "execution": finished.name,
        "status": status,
        "error": error,
        "cause": cause,
        "input": String::from_utf8_lossy(&finished.payload),
    });
    dead.write_all(&json::to_vec(&letter))?;
    dead.write_all(b"\n")
}

/// Times a line pipeline, for a summary line.
pub fn describe(summary: &Summary, started: Instant) -> String {
    let seconds = started.elapsed().as_secs_f64();
    let rate = if seconds > 0.0 {
        summary.events as f64 / seconds
    } else {
        0.0
    };
    format!(
        "{} events in {:.3} s ({:.0} events/s): {} succeeded, {} failed, {} timed out, {} rejected",
        summary.events,
        seconds,
        rate,
        summary.succeeded,
        summary.failed,
        summary.timed_out,
        summary.rejected
    )
}
