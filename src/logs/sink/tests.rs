use std::sync::Mutex;

use super::*;
use crate::vm::history::error_details;

const ARN: &str = "arn:aws:states:us-east-1:123456789012:express:SM:run:0";

/// An output that keeps what it is given, waits while its gate is closed, and can be told to
/// fail.
#[derive(Clone, Default)]
struct Kept {
    bytes: Arc<Mutex<Vec<u8>>>,
    gate: Arc<Mutex<bool>>,
    fail: bool,
}

impl Output for Kept {
    fn write(&mut self, batch: &Batch, counters: &Counters) -> Result<(), String> {
        while *self.gate.lock().unwrap() {
            std::thread::sleep(Duration::from_millis(1));
        }
        if self.fail {
            counters.failed(batch.records);
            return Err("the disk is full".into());
        }
        self.bytes.lock().unwrap().extend_from_slice(&batch.bytes);
        counters.written(batch.records);
        Ok(())
    }

    fn finish(&mut self, _counters: &Counters) -> Result<(), String> {
        Ok(())
    }
}

fn options(level: LogLevel, when_full: WhenFull, batch_bytes: usize) -> SinkOptions {
    SinkOptions {
        records: LogOptions {
            level,
            include_execution_data: false,
        },
        destination: Destination::Stderr,
        when_full,
        batch_bytes,
        buffer_bytes: batch_bytes,
        rotation: None,
    }
}

/// A failed execution's history: two events that ERROR leaves out, two it keeps.
fn failed_history() -> Vec<HistoryEvent> {
    let event = |id: u64, event_type: &'static str, details: crate::json::Value| HistoryEvent {
        id,
        previous_event_id: id - 1,
        event_type,
        timestamp_ms: 1_713_959_670_680,
        details,
    };
    let failure = || error_details("failed", &Some("Oops".into()), &Some("bad".into()));
    vec![
        event(1, "ExecutionStarted", crate::json::Value::Null),
        event(2, "PassStateEntered", crate::json::Value::Null),
        event(3, "FailStateEntered", crate::json::Value::Null),
        event(4, "ExecutionFailed", failure()),
    ]
}

fn lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8(bytes.to_vec())
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn records_of_the_level_reach_the_output_in_batches() {
    let kept = Kept::default();
    let sink = LogSink::start_with(
        &options(LogLevel::Error, WhenFull::Block, 1 << 16),
        Box::new(kept.clone()),
    )
    .unwrap();
    let mut writer = sink.handle().writer();
    for _ in 0..3 {
        writer.write(ARN, &failed_history());
    }
    assert!(
        !writer.is_empty(),
        "below batch_bytes, records wait in the buffer"
    );
    writer.flush();
    assert!(writer.is_empty());
    drop(writer);
    let report = sink.close();
    assert_eq!(
        report,
        SinkReport {
            written: 6,
            dropped: 0,
            failed: 0
        }
    );
    let lines = lines(&kept.bytes.lock().unwrap());
    assert_eq!(lines.len(), 6);
    assert!(
        lines[0].starts_with("{\"id\":\"3\",\"type\":\"FailStateEntered\""),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains(
            "\"type\":\"ExecutionFailed\",\"details\":{\"cause\":\"bad\",\"error\":\"Oops\"}"
        ),
        "{}",
        lines[1]
    );
    assert!(lines[1].contains(ARN));
}

#[test]
fn a_full_buffer_is_handed_over_at_once() {
    let kept = Kept::default();
    let sink = LogSink::start_with(
        &options(LogLevel::All, WhenFull::Block, 64),
        Box::new(kept.clone()),
    )
    .unwrap();
    let mut writer = sink.handle().writer();
    writer.write(ARN, &failed_history());
    assert!(writer.is_empty(), "four records are more than 64 bytes");
    let report = sink.close();
    assert_eq!(report.written, 4);
    drop(writer);
}

#[test]
fn a_slow_sink_holds_the_writer_back_when_blocking() {
    let kept = Kept::default();
    *kept.gate.lock().unwrap() = true;
    let sink = LogSink::start_with(
        &options(LogLevel::All, WhenFull::Block, 16),
        Box::new(kept.clone()),
    )
    .unwrap();
    let handle = sink.handle();
    let (done_sender, done) = crossbeam_channel::bounded(1);
    let worker = std::thread::spawn(move || {
        let mut writer = handle.writer();
        // Each write fills a batch: the first is taken by the (stuck) output, the second
        // waits in the queue of one, the third must wait.
        for _ in 0..3 {
            writer.write(ARN, &failed_history());
        }
        done_sender.send(()).unwrap();
    });
    assert!(
        done.recv_timeout(Duration::from_millis(300)).is_err(),
        "the writer went on while the sink could take nothing"
    );
    *kept.gate.lock().unwrap() = false;
    done.recv_timeout(Duration::from_secs(10))
        .expect("the writer goes on once the sink catches up");
    worker.join().unwrap();
    let report = sink.close();
    assert_eq!(
        report,
        SinkReport {
            written: 12,
            dropped: 0,
            failed: 0
        }
    );
    assert_eq!(lines(&kept.bytes.lock().unwrap()).len(), 12);
}

#[test]
fn a_slow_sink_costs_counted_records_when_dropping() {
    let kept = Kept::default();
    *kept.gate.lock().unwrap() = true;
    let sink = LogSink::start_with(
        &options(LogLevel::All, WhenFull::Drop, 16),
        Box::new(kept.clone()),
    )
    .unwrap();
    let mut writer = sink.handle().writer();
    let started = std::time::Instant::now();
    for _ in 0..10 {
        writer.write(ARN, &failed_history());
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "dropping never waits"
    );
    drop(writer);
    *kept.gate.lock().unwrap() = false;
    let report = sink.close();
    assert_eq!(report.written + report.dropped, 40, "{report:?}");
    assert!(
        report.dropped >= 4 * 8,
        "at most two batches fit: {report:?}"
    );
    assert_eq!(report.failed, 0);
    assert_eq!(
        lines(&kept.bytes.lock().unwrap()).len() as u64,
        report.written
    );
}

#[test]
fn records_the_destination_refuses_are_counted() {
    let kept = Kept {
        fail: true,
        ..Kept::default()
    };
    let sink = LogSink::start_with(
        &options(LogLevel::Fatal, WhenFull::Block, 1 << 16),
        Box::new(kept),
    )
    .unwrap();
    let mut writer = sink.handle().writer();
    writer.write(ARN, &failed_history());
    writer.flush();
    let report = sink.close();
    assert_eq!(
        report,
        SinkReport {
            written: 0,
            dropped: 0,
            failed: 1
        }
    );
    // A writer that outlives its sink counts its records as dropped, it does not block.
    writer.write(ARN, &failed_history());
    writer.flush();
}

#[test]
fn a_batch_splits_into_each_executions_records() {
    let kept = Kept::default();
    let sink = LogSink::start_with(
        &options(LogLevel::Error, WhenFull::Block, 1 << 16),
        Box::new(kept),
    )
    .unwrap();
    let mut writer = sink.handle().writer();
    writer.write("arn:one", &failed_history());
    writer.write("arn:none", &failed_history()[..2]);
    writer.write("arn:two", &failed_history()[3..]);
    let executions: Vec<(&str, usize)> = writer
        .batch
        .executions()
        .map(|(arn, records)| (arn, lines(records).len()))
        .collect();
    assert_eq!(executions, vec![("arn:one", 2), ("arn:two", 1)]);
    drop(writer);
    assert_eq!(sink.close().written, 3);
}

#[test]
fn a_file_destination_appends() {
    let dir = std::env::temp_dir().join(format!("stepstream-sink-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("records.jsonl");
    std::fs::write(&path, "earlier\n").unwrap();
    let mut options = options(LogLevel::Error, WhenFull::Block, 1 << 16);
    options.destination = Destination::File(path.clone());
    let sink = LogSink::start(&options).unwrap();
    let mut writer = sink.handle().writer();
    writer.write(ARN, &failed_history());
    drop(writer);
    assert_eq!(sink.close().written, 2);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 3);
    assert!(text.starts_with("earlier\n"));
    options.destination = Destination::File(dir.join("no-such-folder").join("x"));
    assert!(matches!(
        LogSink::start(&options),
        Err(SinkError::File { .. })
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_file_is_rotated_by_size_and_keeps_the_newest_files() {
    let dir = std::env::temp_dir().join(format!("stepstream-rotation-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("records.jsonl");
    let mut options = options(LogLevel::Error, WhenFull::Block, 1 << 16);
    options.destination = Destination::File(path.clone());
    // One execution's two ERROR records are a few hundred bytes: each flushed batch of one
    // execution goes past 300 bytes with the next, so every batch but the first rotates.
    options.rotation = Some(Rotation {
        max_bytes: 300,
        keep: 2,
    });
    let sink = LogSink::start(&options).unwrap();
    let mut writer = sink.handle().writer();
    for _ in 0..5 {
        writer.write(ARN, &failed_history());
        writer.flush();
    }
    drop(writer);
    let report = sink.close();
    assert_eq!(report.written, 10);
    assert_eq!(report.failed, 0);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["records.jsonl", "records.jsonl.1", "records.jsonl.2"],
        "two rotated files are kept, the older ones deleted"
    );
    for name in &names {
        let text = std::fs::read(dir.join(name)).unwrap();
        let lines = lines(&text);
        assert_eq!(lines.len(), 2, "{name}: one batch of whole records");
        for line in lines {
            let record = crate::json::from_str(&line).expect("a whole JSON record");
            assert!(record.get("type").is_some());
        }
    }
    // Reopened, the sink appends to the current file and counts its size.
    let sink = LogSink::start(&options).unwrap();
    let mut writer = sink.handle().writer();
    writer.write(ARN, &failed_history());
    drop(writer);
    sink.close();
    assert_eq!(
        lines(&std::fs::read(dir.join("records.jsonl.1")).unwrap()).len(),
        2
    );
    assert_eq!(lines(&std::fs::read(&path).unwrap()).len(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}
