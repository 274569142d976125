//! The Kafka stage (`stepstream run --config FILE`) against a real broker: the binary is started
//! as a daemon, events are produced to its input topic, and its output and dead-letter topics and
//! its consumer group's committed offsets are read back with librdkafka (the `rdkafka` crate).
//!
//! The broker comes from `STEPSTREAM_BROKERS` (`scripts/kafka-broker.sh start`, then
//! `eval "$(scripts/kafka-broker.sh env)"`). Without it every test prints a "skipped" line and
//! passes, unless `STEPSTREAM_REQUIRE_BROKER=1`, which makes a missing broker a failure.
//!
//! Every test uses its own topics and consumer group (test name, process id, start time and a
//! counter), so the tests can run in parallel with each other and with the other modules.
//! Each daemon runs one worker thread to keep the CPU use of a parallel run modest.
//!
//! `STEPSTREAM_REQUIRE_BROKER=1 cargo test --release --test tests kafka` (≈85 s with
//! `--test-threads 1`, ≈45 s in parallel; the rebalance-under-backpressure test is the long one).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use stepstream::json;
use stepstream::json::Value;
use stepstream::kafka::admin;

use crate::util;

// ---------------------------------------------------------------------------------------------
// The broker, names, topics
// ---------------------------------------------------------------------------------------------

/// The broker's address, or `None` (after printing why) when the test should be skipped.
/// With `STEPSTREAM_REQUIRE_BROKER=1` a missing broker fails the test instead.
fn broker() -> Option<String> {
    match std::env::var("STEPSTREAM_BROKERS") {
        Ok(brokers) if !brokers.trim().is_empty() => Some(brokers),
        _ => {
            let required =
                std::env::var("STEPSTREAM_REQUIRE_BROKER").is_ok_and(|value| value == "1");
            assert!(
                !required,
                "STEPSTREAM_REQUIRE_BROKER=1 but STEPSTREAM_BROKERS is not set: run \
                 scripts/kafka-broker.sh start and eval \"$(scripts/kafka-broker.sh env)\""
            );
            eprintln!("skipped: no broker (run scripts/kafka-broker.sh start and eval its env)");
            None
        }
    }
}

/// The topics and consumer group of one test, unique to it.
struct Names {
    input: String,
    output: String,
    dead_letters: String,
    group: String,
}

impl Names {
    fn new(test: &str) -> Names {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        // The start time keeps names unique across test runs against one long-lived broker,
        // whose memory storage keeps every topic until it stops.
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_millis());
        let base = format!(
            "{test}-{}-{millis}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        Names {
            input: format!("{base}-in"),
            output: format!("{base}-out"),
            dead_letters: format!("{base}-dlq"),
            group: format!("{base}-group"),
        }
    }

    /// Creates the input, output and dead-letter topics with `partitions` partitions each.
    fn create_topics(&self, brokers: &str, partitions: i32) {
        create_topics(
            brokers,
            &[
                (&self.input, partitions),
                (&self.output, partitions),
                (&self.dead_letters, partitions),
            ],
        );
    }
}

fn create_topics(brokers: &str, topics: &[(&str, i32)]) {
    admin::create_topics(brokers, topics).unwrap_or_else(|err| {
        panic!("{err} (is the broker running? scripts/kafka-broker.sh start; eval \"$(scripts/kafka-broker.sh env)\")")
    });
}

// ---------------------------------------------------------------------------------------------
// Producing inputs
// ---------------------------------------------------------------------------------------------

/// One event for the input topic; `None` payload is a null record (a tombstone); `None`
/// partition leaves the choice to the partitioner (by key).
#[derive(Clone)]
struct Event {
    key: Option<Vec<u8>>,
    payload: Option<Vec<u8>>,
    partition: Option<i32>,
}

impl Event {
    fn keyed(key: &str, payload: impl Into<Vec<u8>>) -> Event {
        Event {
            key: Some(key.as_bytes().to_vec()),
            payload: Some(payload.into()),
            partition: None,
        }
    }

    fn in_partition(self, partition: i32) -> Event {
        Event {
            partition: Some(partition),
            ..self
        }
    }
}

/// An event as the broker stored it.
#[derive(Debug, Clone)]
struct Produced {
    key: Option<Vec<u8>>,
    payload: Option<Vec<u8>>,
    partition: i32,
    offset: i64,
}

/// Collects the delivery reports of the test producer: (event index, partition and offset).
struct Deliveries(Mutex<Vec<Report>>);

/// An event's index and where it went, or why it was not delivered.
type Report = (usize, Result<(i32, i64), String>);

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = Box<usize>;

    fn delivery(&self, result: &DeliveryResult<'_>, index: Box<usize>) {
        let outcome = match result {
            Ok(message) => Ok((message.partition(), message.offset())),
            Err((err, _)) => Err(err.to_string()),
        };
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push((*index, outcome));
    }
}

/// Produces `events` to `topic` (in order: one partition keeps it) and returns where each went.
fn produce(brokers: &str, topic: &str, events: &[Event]) -> Vec<Produced> {
    produce_paced(brokers, topic, events, None)
}

/// Produces `events` at most `per_second` a second, in a thread of its own.
fn produce_in_background(
    brokers: &str,
    topic: &str,
    events: Vec<Event>,
    per_second: u32,
) -> std::thread::JoinHandle<Vec<Produced>> {
    let (brokers, topic) = (brokers.to_string(), topic.to_string());
    std::thread::spawn(move || produce_paced(&brokers, &topic, &events, Some(per_second)))
}

fn produce_paced(
    brokers: &str,
    topic: &str,
    events: &[Event],
    per_second: Option<u32>,
) -> Vec<Produced> {
    let producer: BaseProducer<Deliveries> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .create_with_context(Deliveries(Mutex::new(Vec::new())))
        .unwrap_or_else(|err| panic!("creating a producer for {brokers}: {err}"));
    let started = Instant::now();
    for (index, event) in events.iter().enumerate() {
        if let Some(per_second) = per_second {
            let due = started
                + Duration::from_secs(1) * u32::try_from(index).unwrap_or(u32::MAX) / per_second;
            while Instant::now() < due {
                producer.poll(
                    due.saturating_duration_since(Instant::now())
                        .min(Duration::from_millis(20)),
                );
            }
        }
        loop {
            let mut record = BaseRecord::with_opaque_to(topic, Box::new(index));
            if let Some(key) = &event.key {
                record = record.key(key);
            }
            if let Some(payload) = &event.payload {
                record = record.payload(payload);
            }
            if let Some(partition) = event.partition {
                record = record.partition(partition);
            }
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    producer.poll(Duration::from_millis(10));
                }
                Err((err, _)) => panic!("producing event {index} to {topic}: {err}"),
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer
        .flush(Duration::from_secs(30))
        .unwrap_or_else(|err| panic!("flushing the events for {topic}: {err}"));
    let reports = std::mem::take(
        &mut *producer
            .context()
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()),
    );
    assert_eq!(
        reports.len(),
        events.len(),
        "every produced event gets a delivery report"
    );
    let mut produced: Vec<Option<Produced>> = vec![None; events.len()];
    for (index, outcome) in reports {
        let (partition, offset) = outcome
            .unwrap_or_else(|err| panic!("event {index} for {topic} was not delivered: {err}"));
        let event = &events[index];
        produced[index] = Some(Produced {
            key: event.key.clone(),
            payload: event.payload.clone(),
            partition,
            offset,
        });
    }
    produced
        .into_iter()
        .map(|entry| entry.expect("one report per event"))
        .collect()
}

/// The produced events by their (partition, offset).
fn by_position(produced: &[Produced]) -> HashMap<(i32, i64), usize> {
    produced
        .iter()
        .enumerate()
        .map(|(index, event)| ((event.partition, event.offset), index))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Reading results and committed offsets
// ---------------------------------------------------------------------------------------------

/// A record of the output or dead-letter topic.
#[derive(Debug, Clone)]
struct Record {
    topic: String,
    key: Option<Vec<u8>>,
    payload: Option<Vec<u8>>,
    headers: BTreeMap<String, String>,
}

impl Record {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// `stepstream-source` as (topic, partition, offset).
    fn source(&self) -> Option<(String, i32, i64)> {
        let source = self.header("stepstream-source")?;
        let mut parts = source.rsplitn(3, '/');
        let offset = parts.next()?.parse().ok()?;
        let partition = parts.next()?.parse().ok()?;
        Some((parts.next()?.to_string(), partition, offset))
    }

    /// The source's (partition, offset), panicking when the header is missing or malformed.
    fn position(&self) -> (i32, i64) {
        let (_, partition, offset) = self.source().unwrap_or_else(|| {
            panic!(
                "a result without a well-formed stepstream-source header: {}",
                self.describe()
            )
        });
        (partition, offset)
    }

    fn json(&self) -> Value {
        let payload = self.payload.as_deref().unwrap_or_default();
        json::from_slice(payload)
            .unwrap_or_else(|err| panic!("the payload is not JSON ({err}): {}", self.describe()))
    }

    fn describe(&self) -> String {
        format!(
            "{{topic {}, key {:?}, headers {:?}, payload {}}}",
            self.topic,
            self.key.as_deref().map(String::from_utf8_lossy),
            self.headers,
            util::shorten(
                &String::from_utf8_lossy(self.payload.as_deref().unwrap_or_default()),
                200
            )
        )
    }
}

/// Reads the output and dead-letter topics from their beginning, without joining a group.
struct Collector {
    consumer: BaseConsumer,
    records: Vec<Record>,
}

impl Collector {
    fn new(brokers: &str, names: &Names, partitions: i32) -> Collector {
        Collector::reading(
            brokers,
            names,
            &[&names.output, &names.dead_letters],
            partitions,
        )
    }

    /// Reads `topics` from their beginning.
    fn reading(brokers: &str, names: &Names, topics: &[&str], partitions: i32) -> Collector {
        // librdkafka wants a group id even for manual assignment; it is never joined or committed.
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("group.id", format!("{}-reader", names.group))
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false")
            .set("fetch.wait.max.ms", "100")
            .create()
            .unwrap_or_else(|err| panic!("creating a consumer for {brokers}: {err}"));
        let mut assignment = TopicPartitionList::new();
        for topic in topics {
            for partition in 0..partitions {
                // Offset 0, not Beginning: the broker's ListOffsets is unreliable.
                assignment
                    .add_partition_offset(topic, partition, Offset::Offset(0))
                    .expect("a valid offset");
            }
        }
        consumer
            .assign(&assignment)
            .unwrap_or_else(|err| panic!("assigning the result topics: {err}"));
        Collector {
            consumer,
            records: Vec::new(),
        }
    }

    /// Polls for about `duration`, keeping what arrives.
    fn poll_for(&mut self, duration: Duration) {
        let deadline = Instant::now() + duration;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.consumer.poll(left.min(Duration::from_millis(100))) {
                Some(Ok(message)) => {
                    let headers = message
                        .headers()
                        .map(|headers| {
                            headers
                                .iter()
                                .map(|header| {
                                    (
                                        header.key.to_string(),
                                        String::from_utf8_lossy(header.value.unwrap_or_default())
                                            .into_owned(),
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    self.records.push(Record {
                        topic: message.topic().to_string(),
                        key: message.key().map(<[u8]>::to_vec),
                        payload: message.payload().map(<[u8]>::to_vec),
                        headers,
                    });
                }
                Some(Err(err)) => eprintln!("reading results: {err}"),
                None => {}
            }
            if left.is_zero() {
                return;
            }
        }
    }

    /// Polls until `done(records)` holds (true) or `timeout` passes (false).
    fn until(&mut self, timeout: Duration, mut done: impl FnMut(&[Record]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if done(&self.records) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            self.poll_for(Duration::from_millis(100));
        }
    }

    /// The distinct source positions among `records`.
    fn positions(records: &[Record]) -> BTreeSet<(i32, i64)> {
        records
            .iter()
            .filter_map(|record| {
                record
                    .source()
                    .map(|(_, partition, offset)| (partition, offset))
            })
            .collect()
    }
}

/// The committed offset of each partition of `topic` for `group` (`None`: nothing committed).
fn committed(brokers: &str, group: &str, topic: &str, partitions: i32) -> Vec<Option<i64>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap_or_else(|err| panic!("creating a consumer for {brokers}: {err}"));
    let mut wanted = TopicPartitionList::new();
    for partition in 0..partitions {
        wanted.add_partition(topic, partition);
    }
    let found = consumer
        .committed_offsets(wanted, Duration::from_secs(10))
        .unwrap_or_else(|err| panic!("reading the committed offsets of group {group}: {err}"));
    (0..partitions)
        .map(|partition| {
            match found
                .find_partition(topic, partition)
                .map(|element| element.offset())
            {
                Some(Offset::Offset(offset)) => Some(offset),
                _ => None,
            }
        })
        .collect()
}

/// The state of consumer group `group` and its member count (DescribeGroups); the broker
/// sends no member assignments, so the count is all there is to see of who consumes.
fn group_state(brokers: &str, group: &str) -> Option<(String, usize)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("{group}-describer"))
        .create()
        .unwrap_or_else(|err| panic!("creating a consumer for {brokers}: {err}"));
    let list = consumer
        .client()
        .fetch_group_list(Some(group), Duration::from_secs(5))
        .ok()?;
    let info = list.groups().iter().find(|info| info.name() == group)?;
    Some((info.state().to_string(), info.members().len()))
}

// ---------------------------------------------------------------------------------------------
// The daemon
// ---------------------------------------------------------------------------------------------

/// The parts of the daemon's config file the tests vary.
struct Stage<'a> {
    names: &'a Names,
    machine: PathBuf,
    time_scale: f64,
    max_in_flight: usize,
    max_in_flight_bytes: Option<usize>,
    max_payload_bytes: usize,
    /// librdkafka's `auto.commit.interval.ms` (its default is 5000).
    commit_interval_ms: Option<u64>,
    /// `[telemetry] listen` and librdkafka's `statistics.interval.ms`.
    telemetry: Option<(String, u64)>,
    /// The `[logging]` section's lines.
    logging: Option<String>,
}

impl<'a> Stage<'a> {
    fn new(names: &'a Names, machine: PathBuf) -> Stage<'a> {
        Stage {
            names,
            machine,
            time_scale: 0.0,
            max_in_flight: 10_000,
            max_in_flight_bytes: None,
            max_payload_bytes: 262_144,
            commit_interval_ms: None,
            telemetry: None,
            logging: None,
        }
    }

    fn config(&self, brokers: &str) -> String {
        let quote = |text: &str| serde_json::to_string(text).expect("strings serialise");
        let names = self.names;
        let mut text = format!(
            "state_machine = {}\n\n[kafka]\nbrokers = {}\ngroup_id = {}\ninput_topics = [{}]\noutput_topic = {}\n\
             dead_letter_topic = {}\n",
            quote(&self.machine.to_string_lossy()),
            quote(brokers),
            quote(&names.group),
            quote(&names.input),
            quote(&names.output),
            quote(&names.dead_letters),
        );
        if self.commit_interval_ms.is_some() || self.telemetry.is_some() {
            text.push_str("\n[kafka.consumer]\n");
        }
        if let Some(interval) = self.commit_interval_ms {
            text.push_str(&format!("\"auto.commit.interval.ms\" = \"{interval}\"\n"));
        }
        if let Some((_, statistics)) = &self.telemetry {
            text.push_str(&format!("\"statistics.interval.ms\" = \"{statistics}\"\n"));
        }
        text.push_str(&format!(
            "\n[workers]\ncount = 1\nmax_in_flight = {}\nshutdown_grace_seconds = 3\n\n[limits]\ntime_scale = {:?}\n\
             max_payload_bytes = {}\n",
            self.max_in_flight, self.time_scale, self.max_payload_bytes
        ));
        if let Some((listen, _)) = &self.telemetry {
            text.push_str(&format!("\n[telemetry]\nlisten = {}\n", quote(listen)));
        }
        if let Some(logging) = &self.logging {
            text.push_str(&format!("\n[logging]\n{logging}\n"));
        }
        if let Some(bytes) = self.max_in_flight_bytes {
            text = text.replace(
                "shutdown_grace_seconds = 3\n",
                &format!("shutdown_grace_seconds = 3\nmax_in_flight_bytes = {bytes}\n"),
            );
        }
        text
    }

    /// Writes the config to `dir` and starts `stepstream run --config` on it.
    fn start(&self, brokers: &str, dir: &Path, label: &str) -> Daemon {
        let config = util::write_file(dir, &format!("{label}.toml"), &self.config(brokers));
        Daemon::start(&config, brokers, dir, label)
    }
}

/// A running `stepstream run --config FILE`; stopped (SIGTERM, then SIGKILL) when dropped.
struct Daemon {
    label: String,
    child: Option<Child>,
    stderr_path: PathBuf,
    started: Instant,
}

/// Environment overrides that would redirect the daemon away from the test's own topics.
const OVERRIDES: [&str; 10] = [
    "STEPSTREAM_LOG_LEVEL",
    "STEPSTREAM_TELEMETRY_LISTEN",
    "STEPSTREAM_GROUP_ID",
    "STEPSTREAM_INPUT_TOPICS",
    "STEPSTREAM_OUTPUT_TOPIC",
    "STEPSTREAM_DEAD_LETTER_TOPIC",
    "STEPSTREAM_WORKERS",
    "STEPSTREAM_MAX_IN_FLIGHT",
    "STEPSTREAM_TIME_SCALE",
    "SFN_MOCK_CONFIG",
];

impl Daemon {
    fn start(config: &Path, brokers: &str, dir: &Path, label: &str) -> Daemon {
        let stdout_path = dir.join(format!("{label}.stdout"));
        let stderr_path = dir.join(format!("{label}.stderr"));
        let file = |path: &Path| {
            std::fs::File::create(path)
                .unwrap_or_else(|err| panic!("creating {}: {err}", path.display()))
        };
        let mut command = Command::new(env!("CARGO_BIN_EXE_stepstream"));
        command
            .args(["run", "--config"])
            .arg(config)
            .env("STEPSTREAM_BROKERS", brokers)
            .stdin(Stdio::null())
            .stdout(file(&stdout_path))
            .stderr(file(&stderr_path));
        for name in OVERRIDES {
            command.env_remove(name);
        }
        let child = command.spawn().expect("starting the stepstream binary");
        Daemon {
            label: label.to_string(),
            child: Some(child),
            stderr_path,
            started: Instant::now(),
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Panics (with its stderr) if the daemon has exited.
    fn assert_running(&mut self) {
        if let Some(child) = &mut self.child {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                panic!(
                    "daemon {} exited early ({status})\n--- stderr ---\n{}",
                    self.label,
                    self.stderr()
                );
            }
        }
    }

    /// Sends SIGTERM and waits up to `timeout` for the exit, then kills. Returns the exit code
    /// (`None`: killed) and how long the stop took.
    fn stop(&mut self, timeout: Duration) -> (Option<i32>, Duration) {
        let Some(mut child) = self.child.take() else {
            return (None, Duration::ZERO);
        };
        let asked = Instant::now();
        if let Ok(Some(status)) = child.try_wait() {
            return (status.code(), Duration::ZERO);
        }
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        while asked.elapsed() < timeout {
            if let Ok(Some(status)) = child.try_wait() {
                return (status.code(), asked.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        (None, asked.elapsed())
    }

    /// Kills the daemon with SIGKILL, as a crash would, and reaps it.
    fn crash(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the daemon and asserts a clean exit with the summary line; returns its stderr.
    fn stop_cleanly(&mut self) -> String {
        let (code, took) = self.stop(Duration::from_secs(20));
        let stderr = self.stderr();
        assert_eq!(
            code,
            Some(0),
            "daemon {} after SIGTERM ({took:?})\n--- stderr ---\n{stderr}",
            self.label
        );
        assert!(
            summary_events(&stderr).is_some(),
            "daemon {} printed no summary line after SIGTERM\n--- stderr ---\n{stderr}",
            self.label
        );
        eprintln!(
            "daemon {}: ran {:?}, stopped in {took:?}",
            self.label,
            self.started.elapsed()
        );
        stderr
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.stop(Duration::from_secs(10));
        }
        if std::thread::panicking() {
            eprintln!(
                "--- stderr of daemon {} ---\n{}",
                self.label,
                util::shorten(&self.stderr(), 4000)
            );
        }
    }
}

/// The event count of the daemon's summary line (`stepstream: N events in …`).
fn summary_events(stderr: &str) -> Option<usize> {
    stderr.lines().rev().find_map(|line| {
        let rest = line.strip_prefix("stepstream: ")?;
        let (count, tail) = rest.split_once(' ')?;
        tail.starts_with("events in ").then(|| count.parse().ok())?
    })
}

/// Writes a state machine definition to `dir` and returns its (absolute) path.
fn machine(dir: &Path, name: &str, definition: &Value) -> PathBuf {
    util::write_file(dir, name, &definition.to_string())
}

/// How results relate to the produced events: `(results per event, results pointing nowhere)`.
fn tally(records: &[Record], names: &Names, produced: &[Produced]) -> (Vec<usize>, Vec<String>) {
    let positions = by_position(produced);
    let mut counts = vec![0usize; produced.len()];
    let mut strays = Vec::new();
    for record in records {
        match record.source() {
            Some((topic, partition, offset)) if topic == names.input => {
                match positions.get(&(partition, offset)) {
                    Some(&index) => counts[index] += 1,
                    None => strays.push(record.describe()),
                }
            }
            _ => strays.push(record.describe()),
        }
    }
    (counts, strays)
}

/// Checks the headers every result carries: the execution name from the source position, a
/// source that is a produced event, and the event's key.
fn check_result_headers(
    record: &Record,
    names: &Names,
    produced: &[Produced],
    positions: &HashMap<(i32, i64), usize>,
) -> usize {
    let (topic, partition, offset) = record
        .source()
        .unwrap_or_else(|| panic!("no well-formed stepstream-source: {}", record.describe()));
    assert_eq!(
        topic,
        names.input,
        "stepstream-source names the input topic: {}",
        record.describe()
    );
    let index = *positions.get(&(partition, offset)).unwrap_or_else(|| {
        panic!(
            "stepstream-source points at no produced event: {}",
            record.describe()
        )
    });
    assert_eq!(
        record.header("stepstream-execution"),
        Some(format!("{}-{partition}-{offset}", names.input).as_str()),
        "the execution is named after its source position: {}",
        record.describe()
    );
    assert_eq!(
        record.key,
        produced[index].key,
        "the result keeps the event's key: {}",
        record.describe()
    );
    index
}

// ---------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------

/// W2 (Choice routing, ≈38% end in Fail) over the 1000 workload inputs: one result per event,
/// outputs to the output topic and failures to the dead-letter topic with their headers.
#[test]
fn events_in_outputs_and_dead_letters_out() {
    let Some(brokers) = broker() else { return };
    let started = Instant::now();
    let names = Names::new("kafka-w2");
    names.create_topics(&brokers, 4);
    let dir = util::temp_dir("kafka-w2");

    let lines = util::workload_input_lines();
    let expected: Vec<util::ExpectedEnd> = util::workloads_expected()["workloads"]
        ["w2-choice-route"]
        .as_array()
        .expect("expected.json has w2-choice-route")
        .iter()
        .map(util::expected_end)
        .collect();
    assert_eq!(lines.len(), expected.len());
    let events: Vec<Event> = lines
        .iter()
        .map(|line| {
            let input: Value = json::from_str(line).expect("inputs are JSON");
            Event::keyed(
                input["id"].as_str().expect("inputs have an id"),
                line.as_bytes(),
            )
        })
        .collect();
    let produced = produce(&brokers, &names.input, &events);
    let positions = by_position(&produced);

    let stage = Stage::new(&names, util::workloads_dir().join("w2-choice-route.json"));
    let mut daemon = stage.start(&brokers, &dir, "w2");
    let mut results = Collector::new(&brokers, &names, 4);
    let complete = results.until(Duration::from_secs(60), |records| {
        Collector::positions(records).len() >= events.len()
    });
    daemon.assert_running();
    // Anything more would be a second result for some event.
    results.poll_for(Duration::from_millis(500));
    let stderr = daemon.stop_cleanly();

    let (counts, strays) = tally(&results.records, &names, &produced);
    assert!(
        strays.is_empty(),
        "results that point at no event: {strays:#?}"
    );
    let missing: Vec<&str> = lines
        .iter()
        .zip(&counts)
        .filter(|(_, &count)| count == 0)
        .map(|(line, _)| line.as_str())
        .take(5)
        .collect();
    assert!(
        complete && missing.is_empty(),
        "events without a result ({} of them), e.g. {missing:#?}",
        counts.iter().filter(|&&count| count == 0).count()
    );
    let repeated = counts.iter().filter(|&&count| count > 1).count();
    assert_eq!(
        results.records.len(),
        events.len(),
        "one result per event ({repeated} events had more than one)"
    );
    assert_eq!(
        summary_events(&stderr),
        Some(events.len()),
        "the summary counts every event\n{stderr}"
    );

    let expected_failed = expected.iter().filter(|end| end.status == "FAILED").count();
    let dead_letters = results
        .records
        .iter()
        .filter(|record| record.topic == names.dead_letters)
        .count();
    assert_eq!(
        dead_letters, expected_failed,
        "dead letters = the expected FAILED count"
    );

    for record in &results.records {
        let index = check_result_headers(record, &names, &produced, &positions);
        let want = &expected[index];
        if record.topic == names.output {
            assert_eq!(
                want.status,
                "SUCCEEDED",
                "input {index} should have failed: {}",
                record.describe()
            );
            assert_eq!(
                record.header("stepstream-status"),
                Some("SUCCEEDED"),
                "{}",
                record.describe()
            );
            if let Some(output) = &want.output {
                let got = record.json();
                assert!(
                    util::json_eq(output, &got),
                    "input {index}: {}",
                    util::json_diff(output, &got).unwrap_or_default()
                );
            }
        } else {
            assert_eq!(
                want.status,
                "FAILED",
                "input {index} should have succeeded: {}",
                record.describe()
            );
            assert_eq!(
                record.header("stepstream-status"),
                Some("FAILED"),
                "{}",
                record.describe()
            );
            assert_eq!(
                record.header("stepstream-error"),
                Some("Route.Rejected"),
                "{}",
                record.describe()
            );
            if let Some(cause) = &want.cause {
                assert_eq!(
                    record.header("stepstream-cause"),
                    Some(cause.as_str()),
                    "{}",
                    record.describe()
                );
            }
            assert_eq!(
                record.payload,
                produced[index].payload,
                "a dead letter carries the original event: {}",
                record.describe()
            );
        }
    }
    // The first 40 inputs have full expected outputs: each of them was checked above.
    assert!(expected[..40]
        .iter()
        .filter(|end| end.status == "SUCCEEDED")
        .all(|end| end.output.is_some()));
    eprintln!(
        "events_in_outputs_and_dead_letters_out: {} outputs, {dead_letters} dead letters in {:?}",
        events.len() - dead_letters,
        started.elapsed()
    );
}

/// An offset is committed only when it and every earlier offset of its partition have their
/// results: one slow event holds the commit back while the 20 behind it finish.
#[test]
fn commits_stop_at_the_watermark() {
    let Some(brokers) = broker() else { return };
    let started = Instant::now();
    let names = Names::new("kafka-watermark");
    names.create_topics(&brokers, 1);
    let dir = util::temp_dir("kafka-watermark");
    let definition = json!({
        "StartAt": "Hold",
        "States": {"Hold": {"Type": "Wait", "SecondsPath": "$.wait", "Next": "Done"}, "Done": {"Type": "Pass", "End": true}}
    });
    let mut stage = Stage::new(&names, machine(&dir, "hold.json", &definition));
    stage.time_scale = 1.0;
    stage.commit_interval_ms = Some(200);

    let slow_seconds = 4;
    let events: Vec<Event> = (0..21)
        .map(|n| {
            Event::keyed(
                &format!("e{n}"),
                json!({"n": n, "wait": if n == 0 { slow_seconds } else { 0 }}).to_string(),
            )
        })
        .collect();
    let produced = produce(&brokers, &names.input, &events);
    assert!(produced
        .iter()
        .enumerate()
        .all(|(n, event)| event.partition == 0 && event.offset == n as i64));

    let mut daemon = stage.start(&brokers, &dir, "watermark");
    let mut results = Collector::new(&brokers, &names, 1);
    let quick_done = results.until(Duration::from_secs(30), |records| {
        Collector::positions(records)
            .range((0, 1)..=(0, 20))
            .count()
            == 20
    });
    daemon.assert_running();
    assert!(
        quick_done,
        "the 20 quick events got no results within 30 s: {:#?}",
        results.records
    );
    let quick_seen = Instant::now();
    // Give auto-commit (every 200 ms) several chances to commit too far.
    results.poll_for(Duration::from_millis(1200));
    let early = committed(&brokers, &names.group, &names.input, 1)[0];
    let slow_out_early = Collector::positions(&results.records).contains(&(0, 0));
    assert!(
        !slow_out_early,
        "the slow event finished before the commit could be checked; its wait is too short"
    );
    assert!(
        early.is_none_or(|offset| offset <= 0),
        "committed offset {early:?} while offset 0 has no result yet (must stay ≤ 0)"
    );

    let slow_done = results.until(Duration::from_secs(20), |records| {
        Collector::positions(records).contains(&(0, 0))
    });
    assert!(slow_done, "the slow event got no result");
    let slow_after = quick_seen.elapsed();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut last = committed(&brokers, &names.group, &names.input, 1)[0];
    while last != Some(21) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        last = committed(&brokers, &names.group, &names.input, 1)[0];
    }
    daemon.assert_running();
    assert_eq!(
        last,
        Some(21),
        "the commit reaches the end within 5 s of the slow event's result"
    );
    let stderr = daemon.stop_cleanly();
    assert_eq!(summary_events(&stderr), Some(21), "{stderr}");
    let positions = by_position(&produced);
    for record in &results.records {
        check_result_headers(record, &names, &produced, &positions);
        assert_eq!(record.topic, names.output, "{}", record.describe());
    }
    assert_eq!(results.records.len(), 21, "one result per event");
    eprintln!(
        "commits_stop_at_the_watermark: committed {early:?} while the slow event waited, 21 after; slow result {slow_after:?} \
         after the quick ones; {:?} in all",
        started.elapsed()
    );
}

/// At-least-once under crashes: the daemon is killed with SIGKILL at random moments while it
/// works through a stream, and restarted each time; in the end every event has a result, and
/// the repeats stay within what was in flight or not yet committed at each kill. Three kills by
/// default (each restart waits out the dead member's session, about 9 s);
/// `STEPSTREAM_CRASH_KILLS=10` (`make test-long`) for the full run.
#[test]
fn a_daemon_killed_repeatedly_loses_nothing() {
    let Some(brokers) = broker() else { return };
    let started = Instant::now();
    let names = Names::new("kafka-crash");
    names.create_topics(&brokers, 4);
    let dir = util::temp_dir("kafka-crash");
    // Each event waits 1 s at a tenth of real time: with at most 200 in flight the stage does
    // about 2,000 events/s, so the stream lasts long enough to be cut many times.
    let definition = json!({
        "StartAt": "Hold",
        "States": {
            "Hold": {"Type": "Wait", "Seconds": 1, "Next": "Echo"},
            "Echo": {"Type": "Pass", "Parameters": {"n.$": "$.n"}, "End": true}
        }
    });
    let mut stage = Stage::new(&names, machine(&dir, "crash.json", &definition));
    stage.time_scale = 0.1;
    stage.max_in_flight = 200;
    stage.commit_interval_ms = Some(200);
    let planned: usize = std::env::var("STEPSTREAM_CRASH_KILLS")
        .ok()
        .and_then(|kills| kills.parse().ok())
        .unwrap_or(3);
    let total = 600 * planned + 1_000;
    let events: Vec<Event> = (0..total)
        .map(|n| Event::keyed(&format!("c{n}"), json!({"n": n}).to_string()))
        .collect();
    let produced = produce(&brokers, &names.input, &events);
    let mut results = Collector::new(&brokers, &names, 4);
    let mut random = started.elapsed().as_nanos() as u64 | 1;
    let mut kills = 0;
    for round in 0..planned {
        let before = results.records.len();
        let mut daemon = stage.start(&brokers, &dir, &format!("crash-{round}"));
        // Kill it once it is working, at a random moment counted in results rather than in
        // time, so that every planned kill lands inside the stream however fast the machine:
        // after 50 to 500 new results, while up to 200 more are in flight.
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        let target = before + 50 + (random % 451) as usize;
        let working = results.until(Duration::from_secs(30), |records| records.len() >= target);
        daemon.assert_running();
        assert!(
            working,
            "daemon {round} produced fewer than {} results within 30 s",
            target - before
        );
        if Collector::positions(&results.records).len() >= total {
            break;
        }
        daemon.crash();
        kills += 1;
    }
    let mut daemon = stage.start(&brokers, &dir, "crash-final");
    let complete = results.until(Duration::from_secs(120), |records| {
        Collector::positions(records).len() >= total
    });
    daemon.assert_running();
    results.poll_for(Duration::from_millis(500));
    daemon.stop_cleanly();
    let (counts, strays) = tally(&results.records, &names, &produced);
    assert!(
        strays.is_empty(),
        "results that point at no event: {strays:#?}"
    );
    let lost = counts.iter().filter(|&&count| count == 0).count();
    let duplicates: usize = counts.iter().map(|&count| count.saturating_sub(1)).sum();
    eprintln!(
        "a_daemon_killed_repeatedly_loses_nothing: {kills} kills, {total} events, {lost} lost, \
         {duplicates} duplicates; {:?} in all",
        started.elapsed()
    );
    assert!(
        complete && lost == 0,
        "{lost} events without a result after {kills} kills"
    );
    assert!(
        kills * 2 >= planned,
        "only {kills} of {planned} kills happened before the stream ended"
    );
    // At a kill, what can be repeated is what was in flight (200) plus what finished since the
    // last commit (200 ms at about 2,000 events/s), on each of the kills.
    assert!(
        duplicates <= kills * 1_000,
        "{duplicates} duplicates after {kills} kills"
    );
}

// ---------------------------------------------------------------------------------------------
// Broker restarts (the durable broker)
// ---------------------------------------------------------------------------------------------

/// The durable broker's binary (nisshi with sqlite storage, `scripts/kafka-broker.sh
/// install-durable`), from `STEPSTREAM_DURABLE_BROKER` or the script; `None` (after printing
/// why) when it is not installed, unless `STEPSTREAM_REQUIRE_DURABLE_BROKER=1`.
fn durable_broker() -> Option<PathBuf> {
    let required =
        std::env::var("STEPSTREAM_REQUIRE_DURABLE_BROKER").is_ok_and(|value| value == "1");
    let found = match std::env::var("STEPSTREAM_DURABLE_BROKER") {
        Ok(path) if !path.trim().is_empty() => Some(PathBuf::from(path)),
        _ => Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/kafka-broker.sh"))
            .arg("durable-path")
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|output| output.status.success())
            .map(|output| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())),
    };
    match found {
        Some(path) if path.is_file() => Some(path),
        _ => {
            assert!(
                !required,
                "STEPSTREAM_REQUIRE_DURABLE_BROKER=1 but the durable broker is not installed: \
                 run scripts/kafka-broker.sh install-durable (or set STEPSTREAM_DURABLE_BROKER)"
            );
            eprintln!(
                "skipped: no durable broker (scripts/kafka-broker.sh install-durable builds it, \
                 ~15 min)"
            );
            None
        }
    }
}

/// A durable broker of the test's own: its own port and data directory, stopped and started
/// again at will; killed when dropped.
struct DurableBroker {
    binary: PathBuf,
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl DurableBroker {
    fn start(binary: PathBuf, dir: &Path) -> DurableBroker {
        // A port the system just handed out; the broker binds it a moment later.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|socket| socket.local_addr())
            .map(|address| address.port())
            .expect("a free port");
        let mut broker = DurableBroker {
            binary,
            dir: dir.to_path_buf(),
            port,
            child: None,
        };
        broker.restart();
        broker
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts the broker on the same port and data, and waits until it answers a metadata
    /// request.
    fn restart(&mut self) {
        assert!(self.child.is_none(), "the broker is already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("broker.log"))
            .expect("opening the broker log");
        let url = format!("tcp://{}", self.address());
        let child = Command::new(&self.binary)
            .args(["broker", "--storage-engine", "sqlite://broker.db"])
            .args(["--listener-url", &url, "--advertised-listener-url", &url])
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("a log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|err| panic!("starting {}: {err}", self.binary.display()));
        self.child = Some(child);
        let began = Instant::now();
        while began.elapsed() < Duration::from_secs(60) {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                panic!("the broker exited at once ({status}):\n{}", self.log());
            }
            if std::net::TcpStream::connect(self.address()).is_ok() {
                let consumer: BaseConsumer = ClientConfig::new()
                    .set("bootstrap.servers", self.address())
                    .create()
                    .expect("a metadata client");
                if consumer
                    .fetch_metadata(None, Duration::from_secs(2))
                    .is_ok_and(|metadata| !metadata.brokers().is_empty())
                {
                    eprintln!("durable broker up in {:?}", began.elapsed());
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the broker did not answer within 60 s:\n{}", self.log());
    }

    /// Stops the broker: SIGKILL (a crash) or SIGTERM (a clean stop, SIGKILL after 20 s).
    fn stop(&mut self, crash: bool) -> Duration {
        let Some(mut child) = self.child.take() else {
            return Duration::ZERO;
        };
        let asked = Instant::now();
        if !crash {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            while asked.elapsed() < Duration::from_secs(20) {
                if let Ok(Some(_)) = child.try_wait() {
                    return asked.elapsed();
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        asked.elapsed()
    }

    fn log(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("broker.log")).unwrap_or_default();
        let start = text.len().saturating_sub(4000);
        let start = (start..text.len())
            .find(|&index| text.is_char_boundary(index))
            .unwrap_or(text.len());
        text[start..].to_string()
    }
}

impl Drop for DurableBroker {
    fn drop(&mut self) {
        self.stop(true);
    }
}

/// At-least-once across broker restarts: the durable broker is crashed (SIGKILL) and stopped
/// (SIGTERM) in turns while the daemon works through a stream, and started again on the same
/// data; the daemon rides through on its clients' retries, takes the events produced after
/// each restart too, and in the end every event has a result. Two restarts by default;
/// `STEPSTREAM_BROKER_RESTARTS=6` (`make test-long`) for more. Skipped without the durable
/// broker (`scripts/kafka-broker.sh install-durable`).
#[test]
fn a_broker_restarted_mid_stream_loses_nothing() {
    let Some(binary) = durable_broker() else {
        return;
    };
    let started = Instant::now();
    let dir = util::temp_dir("kafka-broker-restart");
    let mut broker = DurableBroker::start(binary, &dir);
    let brokers = broker.address();
    let names = Names::new("kafka-broker-restart");
    names.create_topics(&brokers, 4);
    // Each event waits 1 s at a fifth of real time: with at most 100 in flight the stage does
    // about 500 events/s, so each batch is still being worked on when the broker goes away.
    let definition = json!({
        "StartAt": "Hold",
        "States": {
            "Hold": {"Type": "Wait", "Seconds": 1, "Next": "Echo"},
            "Echo": {"Type": "Pass", "Parameters": {"n.$": "$.n"}, "End": true}
        }
    });
    let mut stage = Stage::new(&names, machine(&dir, "restart.json", &definition));
    stage.time_scale = 0.2;
    stage.max_in_flight = 100;
    stage.commit_interval_ms = Some(200);
    let planned: usize = std::env::var("STEPSTREAM_BROKER_RESTARTS")
        .ok()
        .and_then(|restarts| restarts.parse().ok())
        .unwrap_or(2);
    const BATCH: usize = 1_500;
    let batch = |round: usize| -> Vec<Event> {
        (round * BATCH..(round + 1) * BATCH)
            .map(|n| Event::keyed(&format!("r{n}"), json!({"n": n}).to_string()))
            .collect()
    };
    let mut produced = produce(&brokers, &names.input, &batch(0));
    let mut daemon = stage.start(&brokers, &dir, "broker-restart");
    let mut results = Collector::new(&brokers, &names, 4);
    let mut downtime = Vec::new();
    for round in 0..planned {
        let before = results.records.len();
        let working = results.until(Duration::from_secs(60), |records| records.len() > before);
        daemon.assert_running();
        assert!(working, "no new result within 60 s in round {round}");
        results.poll_for(Duration::from_millis(300));
        // Crash first, then a clean stop, in turns.
        let crash = round % 2 == 0;
        let down = Instant::now();
        let stopping = broker.stop(crash);
        std::thread::sleep(Duration::from_secs(2));
        daemon.assert_running();
        broker.restart();
        downtime.push((crash, stopping, down.elapsed()));
        produced.extend(produce(&brokers, &names.input, &batch(round + 1)));
    }
    let total = produced.len();
    let complete = results.until(Duration::from_secs(180), |records| {
        Collector::positions(records).len() >= total
    });
    daemon.assert_running();
    results.poll_for(Duration::from_millis(500));
    daemon.stop_cleanly();
    let (counts, strays) = tally(&results.records, &names, &produced);
    assert!(
        strays.is_empty(),
        "results that point at no event: {strays:#?}"
    );
    let lost = counts.iter().filter(|&&count| count == 0).count();
    let duplicates: usize = counts.iter().map(|&count| count.saturating_sub(1)).sum();
    let dead_letters = results
        .records
        .iter()
        .filter(|record| record.topic == names.dead_letters)
        .count();
    eprintln!(
        "a_broker_restarted_mid_stream_loses_nothing: {planned} restarts (crash?, stop took, \
         down for: {downtime:?}), {total} events, {lost} lost, {duplicates} duplicates, \
         {dead_letters} dead letters; {:?} in all",
        started.elapsed()
    );
    assert!(
        complete && lost == 0,
        "{lost} of {total} events without a result after {planned} broker restarts\n--- broker \
         log ---\n{}",
        broker.log()
    );
    assert_eq!(
        dead_letters, 0,
        "every event succeeds; none may be rerouted as undeliverable"
    );
}

/// `GET path` on the daemon's telemetry listener: (status line, body).
fn http_get(address: &str, path: &str) -> Option<(String, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    Some((head.lines().next()?.to_string(), body.to_string()))
}

/// The value of a metric line `name` (labels included) in a Prometheus text body.
fn metric(body: &str, name: &str) -> Option<f64> {
    body.lines().find_map(|line| {
        line.strip_prefix(name)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// With `[telemetry] listen`, the daemon serves /metrics, /healthz and /readyz; the counters
/// count what the run did and the consumer lag shows per partition.
#[test]
fn metrics_and_health_during_a_run() {
    let Some(brokers) = broker() else { return };
    let names = Names::new("kafka-metrics");
    names.create_topics(&brokers, 2);
    let dir = util::temp_dir("kafka-metrics");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|socket| socket.local_addr())
        .expect("a free port")
        .port();
    let address = format!("127.0.0.1:{port}");
    let mut stage = Stage::new(&names, util::workloads_dir().join("w1-pass-chain.json"));
    stage.telemetry = Some((address.clone(), 500));
    let lines = util::workload_input_lines();
    let events: Vec<Event> = lines
        .iter()
        .take(300)
        .enumerate()
        .map(|(n, line)| Event::keyed(&format!("e{n}"), line.as_bytes()))
        .chain([Event::keyed("bad", "not json")])
        .collect();
    produce(&brokers, &names.input, &events);
    let mut daemon = stage.start(&brokers, &dir, "metrics");
    let deadline = Instant::now() + Duration::from_secs(10);
    while http_get(&address, "/healthz").is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, _) = http_get(&address, "/healthz").expect("the listener answers");
    assert!(status.contains("200"), "{status}");
    let mut results = Collector::new(&brokers, &names, 2);
    assert!(
        results.until(Duration::from_secs(60), |records| records.len() >= 301),
        "{} of 301 results",
        results.records.len()
    );
    let (ready, _) = http_get(&address, "/readyz").expect("the listener answers");
    assert!(ready.contains("200"), "{ready}");
    // Counters are flushed once per coordinator round and worker batch, lag every 500 ms.
    let wanted = [
        ("stepstream_events_consumed_total", 301.0),
        ("stepstream_events_produced_total", 300.0),
        ("stepstream_events_dead_lettered_total", 1.0),
        ("stepstream_executions_started_total", 300.0),
        (
            "stepstream_executions_ended_total{status=\"succeeded\"}",
            300.0,
        ),
        ("stepstream_state_transitions_total", 1500.0),
        ("stepstream_execution_duration_seconds_count", 300.0),
        ("stepstream_in_flight", 0.0),
    ];
    let mut body = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        body = http_get(&address, "/metrics")
            .map(|(_, body)| body)
            .unwrap_or_default();
        let counted = wanted
            .iter()
            .all(|(name, value)| metric(&body, name) == Some(*value));
        if counted && body.contains("stepstream_consumer_lag{") {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    for (name, value) in wanted {
        assert_eq!(metric(&body, name), Some(value), "{name} in\n{body}");
    }
    let lag = names.input.as_str();
    assert!(
        body.lines()
            .any(|line| line.starts_with("stepstream_consumer_lag{")
                && line.contains(lag)
                && line.ends_with(" 0")),
        "no consumer lag of 0 for {lag} in\n{body}"
    );
    daemon.assert_running();
    daemon.stop_cleanly();
}

/// `max_in_flight_bytes` bounds the bytes of events in flight: at one byte, the stage holds one
/// event at a time, so events that each wait a quarter second finish a quarter second apart.
#[test]
fn the_in_flight_byte_bound_holds_events_back() {
    let Some(brokers) = broker() else { return };
    let names = Names::new("kafka-bytes-bound");
    names.create_topics(&brokers, 1);
    let dir = util::temp_dir("kafka-bytes-bound");
    let definition = json!({
        "StartAt": "Hold",
        "States": {"Hold": {"Type": "Wait", "Seconds": 1, "End": true}}
    });
    let mut stage = Stage::new(&names, machine(&dir, "hold.json", &definition));
    stage.time_scale = 0.25;
    stage.max_in_flight_bytes = Some(1);
    let events: Vec<Event> = (0..6)
        .map(|n| Event::keyed(&format!("e{n}"), json!({"n": n}).to_string()))
        .collect();
    produce(&brokers, &names.input, &events);
    let mut daemon = stage.start(&brokers, &dir, "bytes-bound");
    let mut results = Collector::new(&brokers, &names, 1);
    assert!(
        results.until(Duration::from_secs(30), |records| !records.is_empty()),
        "no result within 30 s"
    );
    let first = Instant::now();
    let all = results.until(Duration::from_secs(30), |records| records.len() >= 6);
    let spread = first.elapsed();
    daemon.assert_running();
    let stderr = daemon.stop_cleanly();
    assert!(all, "{} of 6 results: {stderr}", results.records.len());
    assert!(
        spread >= Duration::from_millis(1200),
        "6 events of 0.25 s each, one at a time, finished within {spread:?} of the first"
    );
    eprintln!("the_in_flight_byte_bound_holds_events_back: last result {spread:?} after the first");
}

/// A daemon stopped with SIGTERM commits what it finished; the next one resumes there and
/// repeats nothing.
#[test]
fn a_restarted_daemon_resumes_at_the_committed_offset() {
    let Some(brokers) = broker() else { return };
    let started = Instant::now();
    let names = Names::new("kafka-restart");
    names.create_topics(&brokers, 4);
    let dir = util::temp_dir("kafka-restart");
    let definition = json!({
        "StartAt": "Echo",
        "States": {"Echo": {"Type": "Pass", "Parameters": {"id.$": "$.id", "seen": true}, "End": true}}
    });
    let stage = Stage::new(&names, machine(&dir, "echo.json", &definition));
    let event = |n: usize| {
        Event::keyed(
            &format!("r{n:04}"),
            json!({"id": format!("r{n:04}")}).to_string(),
        )
    };

    let first: Vec<Event> = (0..200).map(event).collect();
    let mut produced = produce(&brokers, &names.input, &first);
    let mut results = Collector::new(&brokers, &names, 4);
    let mut daemon = stage.start(&brokers, &dir, "restart-1");
    let done = results.until(Duration::from_secs(30), |records| {
        Collector::positions(records).len() >= 200
    });
    daemon.assert_running();
    assert!(
        done,
        "run 1 gave results for {} of 200 events",
        Collector::positions(&results.records).len()
    );
    let stderr_1 = daemon.stop_cleanly();
    drop(daemon);
    assert_eq!(
        summary_events(&stderr_1),
        Some(200),
        "run 1's summary\n{stderr_1}"
    );
    // Everything run 1 produced was flushed before it exited.
    results.poll_for(Duration::from_millis(300));
    let run_1 = results.records.len();
    let first_positions = Collector::positions(&results.records);
    assert_eq!(run_1, 200, "run 1 gave one result per event");

    let second: Vec<Event> = (200..300).map(event).collect();
    produced.extend(produce(&brokers, &names.input, &second));
    let mut daemon = stage.start(&brokers, &dir, "restart-2");
    let done = results.until(Duration::from_secs(30), |records| {
        Collector::positions(&records[run_1..])
            .difference(&first_positions)
            .count()
            >= 100
    });
    daemon.assert_running();
    assert!(
        done,
        "run 2 gave results for {} of the 100 new events",
        Collector::positions(&results.records[run_1..])
            .difference(&first_positions)
            .count()
    );
    // Time for any repeat of run 1's events to show up.
    results.poll_for(Duration::from_millis(700));
    let stderr_2 = daemon.stop_cleanly();

    let (counts, strays) = tally(&results.records, &names, &produced);
    assert!(
        strays.is_empty(),
        "results that point at no event: {strays:#?}"
    );
    assert!(
        counts.iter().all(|&count| count >= 1),
        "an event has no result"
    );
    let repeats: Vec<String> = results.records[run_1..]
        .iter()
        .filter(|record| first_positions.contains(&record.position()))
        .map(Record::describe)
        .collect();
    assert!(
        repeats.is_empty(),
        "run 2 repeated {} of run 1's events, e.g. {:#?}",
        repeats.len(),
        &repeats[..repeats.len().min(3)]
    );
    let executions: BTreeSet<&str> = results
        .records
        .iter()
        .filter_map(|record| record.header("stepstream-execution"))
        .collect();
    assert_eq!(executions.len(), 300, "distinct executions over both runs");
    assert_eq!(
        results.records.len(),
        300,
        "one result per event over both runs"
    );
    assert_eq!(
        summary_events(&stderr_2),
        Some(100),
        "run 2's summary\n{stderr_2}"
    );
    let positions = by_position(&produced);
    for record in &results.records {
        let index = check_result_headers(record, &names, &produced, &positions);
        assert_eq!(
            record.json(),
            json!({"id": format!("r{index:04}"), "seen": true})
        );
    }
    eprintln!(
        "a_restarted_daemon_resumes_at_the_committed_offset: {:?}",
        started.elapsed()
    );
}

/// Two daemons in one group over a live stream (150 events/s): B joins while A works, then A
/// leaves while work is in flight. Every event gets a result; repeats are allowed
/// (at-least-once) and reported. The stream is slower than the stage, so it never pauses for
/// backpressure (see the next test for that case).
#[test]
fn a_rebalance_with_two_instances_loses_nothing() {
    let Some(brokers) = broker() else { return };
    let started = Instant::now();
    let names = Names::new("kafka-rebalance");
    names.create_topics(&brokers, 4);
    let dir = util::temp_dir("kafka-rebalance");
    // 2 s at time scale 0.1: each execution waits 0.2 s of real time, so ≈40 are in flight.
    let definition = json!({
        "StartAt": "Pause",
        "States": {
            "Pause": {"Type": "Wait", "Seconds": 2, "Next": "Echo"},
            "Echo": {"Type": "Pass", "Parameters": {"id.$": "$.id"}, "End": true}
        }
    });
    let mut stage = Stage::new(&names, machine(&dir, "pause.json", &definition));
    stage.time_scale = 0.1;
    stage.commit_interval_ms = Some(500);

    let total = 2000;
    let events: Vec<Event> = (0..total)
        .map(|n| {
            Event::keyed(
                &format!("b{n:05}"),
                json!({"id": format!("b{n:05}")}).to_string(),
            )
        })
        .collect();
    let mut results = Collector::new(&brokers, &names, 4);
    let distinct = |records: &[Record]| Collector::positions(records).len();

    let mut a = stage.start(&brokers, &dir, "rebalance-a");
    let producer = produce_in_background(&brokers, &names.input, events, 150);
    let a_working = results.until(Duration::from_secs(30), |records| distinct(records) >= 300);
    a.assert_running();
    assert!(
        a_working,
        "A gave {} results in 30 s",
        distinct(&results.records)
    );
    let b_started = started.elapsed();
    let mut b = stage.start(&brokers, &dir, "rebalance-b");
    let both_working = results.until(Duration::from_secs(40), |records| distinct(records) >= 1200);
    a.assert_running();
    b.assert_running();
    assert!(
        both_working,
        "{} results 40 s after B started",
        distinct(&results.records)
    );
    // Both members hold partitions (the broker sends no assignments, but a stable group of two
    // has split the 4 partitions) while the stream still runs.
    let mut group = group_state(&brokers, &names.group);
    let shared_by = Instant::now() + Duration::from_secs(30);
    while group != Some(("Stable".to_string(), 2)) && Instant::now() < shared_by {
        results.poll_for(Duration::from_millis(200));
        group = group_state(&brokers, &names.group);
    }
    assert_eq!(
        group,
        Some(("Stable".to_string(), 2)),
        "the group never became a stable group of A and B"
    );
    let results_when_shared = distinct(&results.records);
    let a_stopped = started.elapsed();
    let stderr_a = a.stop_cleanly();
    let complete = results.until(Duration::from_secs(90), |records| {
        distinct(records) >= total
    });
    b.assert_running();
    results.poll_for(Duration::from_millis(500));
    let stderr_b = b.stop_cleanly();
    let produced = producer
        .join()
        .unwrap_or_else(|_| panic!("producing the events failed"));

    let (counts, strays) = tally(&results.records, &names, &produced);
    assert!(
        strays.is_empty(),
        "results that point at no event: {strays:#?}"
    );
    let lost: Vec<usize> = counts
        .iter()
        .enumerate()
        .filter(|(_, &count)| count == 0)
        .map(|(index, _)| index)
        .collect();
    let duplicates: usize = counts.iter().map(|&count| count.saturating_sub(1)).sum();
    let (events_a, events_b) = (summary_events(&stderr_a), summary_events(&stderr_b));
    eprintln!(
        "a_rebalance_with_two_instances_loses_nothing: {} results for {total} events, {} lost, {duplicates} duplicates; \
         A did {events_a:?}, B did {events_b:?}; B started at {b_started:?}, A stopped at {a_stopped:?} (with {results_when_shared} results), {:?} in all",
        results.records.len(),
        lost.len(),
        started.elapsed()
    );
    assert!(
        complete && lost.is_empty(),
        "{} events lost, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
    assert!(events_b.is_some_and(|count| count > 0), "B did no work");
    assert_eq!(
        events_a.unwrap_or(0) + events_b.unwrap_or(0),
        results.records.len(),
        "the summaries count every result produced"
    );
    let positions = by_position(&produced);
    for record in &results.records {
        let index = check_result_headers(record, &names, &produced, &positions);
        assert_eq!(record.json(), json!({"id": format!("b{index:05}")}));
    }
}

/// A rebalance while the stage is paused for backpressure must not leave partitions paused.
///
/// librdkafka keeps a partition's application pause when the partition is revoked and later
/// assigned again; the stage pauses and resumes only its current assignment. So: A is full
/// (two slow events in flight, which reach both `max_in_flight` and `max_in_flight_bytes`: the
/// byte bound is what pauses consumption) and has paused all 4 partitions; B joins and
/// takes 2 of them; A resumes its 2 when its slow events end; B leaves; A gets B's 2 back, still
/// paused, and never reads them again. (If A resumes between the revoke and the assignment, it
/// resumes nothing and its own new partitions stall at once.)
#[test]
fn a_rebalance_while_backpressured_leaves_no_partition_paused() {
    let Some(brokers) = broker() else { return };
    let started = Instant::now();
    let names = Names::new("kafka-paused-rebalance");
    names.create_topics(&brokers, 4);
    let dir = util::temp_dir("kafka-paused-rebalance");
    let definition = json!({
        "StartAt": "Hold",
        "States": {"Hold": {"Type": "Wait", "SecondsPath": "$.wait", "Next": "Done"}, "Done": {"Type": "Pass", "End": true}}
    });
    let mut stage = Stage::new(&names, machine(&dir, "hold.json", &definition));
    stage.time_scale = 1.0;
    stage.max_in_flight = 2;
    // Every event here is 17 bytes (key and payload): two in flight reach the bound and pause
    // consumption; one alone (17, within three quarters of it) resumes it.
    stage.max_in_flight_bytes = Some(34);
    stage.commit_interval_ms = Some(200);

    // Each partition: a quick event (offset 0), then a slow one (offset 1).
    let slow_seconds = 12;
    let events: Vec<Event> = (0..4)
        .flat_map(|partition| {
            [("quick", 0), ("slow", slow_seconds)].map(|(kind, wait)| {
                Event::keyed(
                    &format!("{kind}-{partition}"),
                    json!({"wait": wait}).to_string(),
                )
                .in_partition(partition)
            })
        })
        .collect();
    produce(&brokers, &names.input, &events);
    let mut results = Collector::new(&brokers, &names, 4);

    let mut a = stage.start(&brokers, &dir, "paused-a");
    assert!(
        results.until(Duration::from_secs(30), |records| !records.is_empty()),
        "A gave no result in 30 s"
    );
    // A is full (two slow events in flight, all partitions paused) once results stop coming:
    // each quick event takes one pause/resume round (well under a second).
    let mut seen = results.records.len();
    let mut quiet_since = Instant::now();
    while quiet_since.elapsed() < Duration::from_secs(2) {
        results.poll_for(Duration::from_millis(100));
        if results.records.len() != seen {
            seen = results.records.len();
            quiet_since = Instant::now();
        }
    }
    a.assert_running();
    let mut b = stage.start(&brokers, &dir, "paused-b");

    // Both settle: every partition committed past its slow event.
    let settle = Instant::now();
    let mut offsets = committed(&brokers, &names.group, &names.input, 4);
    while offsets.iter().any(|offset| *offset != Some(2))
        && settle.elapsed() < Duration::from_secs(60)
    {
        results.poll_for(Duration::from_millis(500));
        offsets = committed(&brokers, &names.group, &names.input, 4);
    }
    a.assert_running();
    b.assert_running();
    assert!(
        offsets.iter().all(|offset| *offset == Some(2)),
        "committed offsets {offsets:?} 60 s after B joined (expected 2 everywhere): some partition stopped being consumed"
    );
    b.stop_cleanly();

    // A alone owns all 4 partitions again: one event at a time on each (never 2 in flight, so
    // A does not pause and resume everything, which would hide the problem).
    let mut stalled = Vec::new();
    for partition in 0..4 {
        let probe = produce(
            &brokers,
            &names.input,
            &[Event::keyed(&format!("probe-{partition}"), "{\"wait\":0}").in_partition(partition)],
        );
        let position = (probe[0].partition, probe[0].offset);
        if !results.until(Duration::from_secs(12), |records| {
            Collector::positions(records).contains(&position)
        }) {
            stalled.push(partition);
        }
    }
    a.assert_running();
    a.stop_cleanly();
    eprintln!("a_rebalance_while_backpressured_leaves_no_partition_paused: stalled partitions {stalled:?}; {:?} in all", started.elapsed());
    assert!(
        stalled.is_empty(),
        "partitions {stalled:?} got no result in 12 s after B left: A never consumes them"
    );
}

/// Events that are not JSON, empty, not UTF-8 or too big become REJECTED dead letters holding
/// the event and the reason; any JSON value is an input; the stage goes on with later events.
#[test]
fn bad_events_go_to_the_dead_letter_topic_and_the_stage_keeps_going() {
    let Some(brokers) = broker() else { return };
    let started = Instant::now();
    let names = Names::new("kafka-bad-events");
    names.create_topics(&brokers, 1);
    let dir = util::temp_dir("kafka-bad-events");
    let definition = json!({
        "StartAt": "Wrap",
        "States": {"Wrap": {"Type": "Pass", "Parameters": {"input.$": "$"}, "End": true}}
    });
    let mut stage = Stage::new(&names, machine(&dir, "wrap.json", &definition));
    stage.max_payload_bytes = 1000;

    let big = json!({"id": "big", "pad": "x".repeat(1200)}).to_string();
    // (event, Ok(expected output) or Err(a part of the rejection's cause))
    let cases: Vec<(Event, Result<Value, &str>)> = vec![
        (
            Event::keyed("valid-1", r#"{"id":1}"#),
            Ok(json!({"input": {"id": 1}})),
        ),
        (Event::keyed("not-json", "not json"), Err("not valid JSON")),
        (Event::keyed("empty", ""), Err("not valid JSON")),
        (
            Event {
                payload: None,
                ..Event::keyed("null", "")
            },
            Err("not valid JSON"),
        ),
        (
            Event::keyed("bad-utf8", b"\xff\xfe\xfd".to_vec()),
            Err("not valid JSON"),
        ),
        (
            Event::keyed("bad-utf8-in-string", b"{\"text\":\"\xc3\x28\"}".to_vec()),
            Err("not valid JSON"),
        ),
        (
            Event::keyed("truncated", r#"{"id": 2"#),
            Err("not valid JSON"),
        ),
        (
            Event::keyed("too-big", big.as_bytes()),
            Err("payload limit of 1000 bytes"),
        ),
        (
            Event::keyed("array", "[1,2,3]"),
            Ok(json!({"input": [1, 2, 3]})),
        ),
        (
            Event::keyed("string", r#""just text""#),
            Ok(json!({"input": "just text"})),
        ),
        (
            Event::keyed("valid-2", r#"{"id":2}"#),
            Ok(json!({"input": {"id": 2}})),
        ),
        (
            Event::keyed("valid-3", r#"{"id":3}"#),
            Ok(json!({"input": {"id": 3}})),
        ),
    ];
    let events: Vec<Event> = cases.iter().map(|(event, _)| event.clone()).collect();
    let produced = produce(&brokers, &names.input, &events);
    let positions = by_position(&produced);

    let mut daemon = stage.start(&brokers, &dir, "bad-events");
    let mut results = Collector::new(&brokers, &names, 1);
    let done = results.until(Duration::from_secs(30), |records| {
        Collector::positions(records).len() >= events.len()
    });
    daemon.assert_running();
    results.poll_for(Duration::from_millis(500));
    let stderr = daemon.stop_cleanly();
    assert!(
        done,
        "results for {} of {} events: {:#?}",
        Collector::positions(&results.records).len(),
        events.len(),
        results.records
    );

    let mut per_event: Vec<Vec<&Record>> = vec![Vec::new(); events.len()];
    for record in &results.records {
        per_event[check_result_headers(record, &names, &produced, &positions)].push(record);
    }
    for (index, ((_, want), got)) in cases.iter().zip(&per_event).enumerate() {
        let key = produced[index].key.as_deref().map(String::from_utf8_lossy);
        assert_eq!(
            got.len(),
            1,
            "event {index} ({key:?}) has one result: {got:#?}"
        );
        let record = got[0];
        match want {
            Ok(output) => {
                assert_eq!(
                    record.topic,
                    names.output,
                    "event {index} ({key:?}) is an output: {}",
                    record.describe()
                );
                assert_eq!(record.header("stepstream-status"), Some("SUCCEEDED"));
                assert_eq!(&record.json(), output, "event {index} ({key:?})");
            }
            Err(reason) => {
                assert_eq!(
                    record.topic,
                    names.dead_letters,
                    "event {index} ({key:?}) is a dead letter: {}",
                    record.describe()
                );
                assert_eq!(
                    record.header("stepstream-status"),
                    Some("REJECTED"),
                    "{}",
                    record.describe()
                );
                let cause = record.header("stepstream-cause").unwrap_or_default();
                assert!(
                    cause.contains(reason),
                    "event {index} ({key:?}): the cause {cause:?} should say {reason:?}"
                );
                assert_eq!(
                    record.payload.as_deref().unwrap_or_default(),
                    produced[index].payload.as_deref().unwrap_or_default(),
                    "event {index} ({key:?}): a dead letter carries the original event"
                );
            }
        }
    }
    let rejected = cases.iter().filter(|(_, want)| want.is_err()).count();
    assert!(
        stderr.contains(&format!(
            "{} succeeded, 0 failed, 0 timed out, {rejected} rejected",
            events.len() - rejected
        )),
        "the summary counts the rejections\n{stderr}"
    );
    eprintln!(
        "bad_events_go_to_the_dead_letter_topic_and_the_stage_keeps_going: {:?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// `stepstream bench` through the broker
// ---------------------------------------------------------------------------------------------

/// Runs `stepstream bench … --json` against the broker and returns its report.
fn bench_report(brokers: &str, args: &[&str]) -> Value {
    bench_run(brokers, args).0
}

/// Runs `stepstream bench … --json` against the broker; its report and its process id (which
/// names the run's topics).
fn bench_run(brokers: &str, args: &[&str]) -> (Value, u32) {
    let workload = util::workloads_dir().join("w1-pass-chain.json");
    let child = Command::new(env!("CARGO_BIN_EXE_stepstream"))
        .arg("bench")
        .arg(&workload)
        .args([
            "--brokers",
            brokers,
            "--workers",
            "1",
            "--time-scale",
            "0",
            "--json",
            "--quiet",
        ])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting stepstream bench");
    let pid = child.id();
    let output = child
        .wait_with_output()
        .expect("waiting for stepstream bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stepstream bench {args:?} exited with {}\n{stdout}\n{stderr}",
        output.status
    );
    let report = json::from_str(&stdout).unwrap_or_else(|err| panic!("{err}: {stdout}"));
    (report, pid)
}

#[test]
fn bench_measures_the_stage_beside_the_no_op_pipe() {
    let Some(brokers) = broker() else { return };
    let report = bench_report(&brokers, &["--events", "3000", "--partitions", "2"]);
    assert_eq!(report["partitions"], 2);
    let runs = report["runs"].as_array().expect("runs");
    let labels: Vec<&str> = runs
        .iter()
        .filter_map(|run| run["label"].as_str())
        .collect();
    assert_eq!(labels, ["stage", "no-op pipe"]);
    for run in runs {
        assert_eq!(run["succeeded"], 3000, "{run:?}");
        assert_eq!(run["failed"], 0, "{run:?}");
        assert_eq!(run["missing"], 0, "{run:?}");
        assert_eq!(run["duplicates"], 0, "{run:?}");
        assert!(
            run["events_per_second_out"].as_f64().unwrap() > 0.0,
            "{run:?}"
        );
        assert!(
            run["events_per_second_in"].as_f64().unwrap() > 0.0,
            "{run:?}"
        );
        // The daemon's own CPU time and memory.
        assert!(run["cpu_percent"].as_f64().unwrap() > 0.0, "{run:?}");
        assert!(run["peak_rss_mib"].as_f64().unwrap() > 1.0, "{run:?}");
    }
    assert!(report["stage_over_no_op"].as_f64().unwrap() > 0.0);
}

#[test]
fn bench_paced_measures_end_to_end_latency() {
    let Some(brokers) = broker() else { return };
    let report = bench_report(
        &brokers,
        &[
            "--events",
            "1500",
            "--rate",
            "1000",
            "--warmup",
            "50",
            "--no-compare",
        ],
    );
    let runs = report["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 1);
    let stage = &runs[0];
    assert_eq!(stage["succeeded"], 1500, "{stage:?}");
    assert_eq!(stage["missing"], 0, "{stage:?}");
    let latency = &stage["latency_ms"];
    assert_eq!(latency["count"], 1500, "{stage:?}");
    let (p50, p99) = (
        latency["p50"].as_f64().unwrap(),
        latency["p99"].as_f64().unwrap(),
    );
    assert!(0.0 < p50 && p50 <= p99, "{latency:?}");
    // Paced at 1000/s, 1500 events take about 1.5 s to produce.
    let rate_in = stage["events_per_second_in"].as_f64().unwrap();
    assert!((700.0..1100.0).contains(&rate_in), "{stage:?}");
}

/// A paced run spread over sets of topics: every event answered, and every set deleted once
/// its results were in.
#[test]
fn bench_rotates_topics_and_deletes_each_finished_set() {
    let Some(brokers) = broker() else { return };
    let dir = util::temp_dir("kafka-bench-rotate");
    let workload = util::workloads_dir().join("w1-pass-chain.json");
    let config = util::write_file(
        &dir,
        "rotate.toml",
        &format!(
            "state_machine = {}\n\n[kafka.consumer]\n\"topic.metadata.refresh.interval.ms\" = \"500\"\n\
             \"partition.assignment.strategy\" = \"cooperative-sticky\"\n",
            serde_json::to_string(&workload.to_string_lossy()).expect("strings serialise")
        ),
    );
    let (report, pid) = bench_run(
        &brokers,
        &[
            "--config",
            &config.to_string_lossy(),
            "--events",
            "3000",
            "--rate",
            "1000",
            "--warmup",
            "50",
            "--partitions",
            "2",
            "--rotate-topics",
            "1",
            "--no-compare",
        ],
    );
    let stage = &report["runs"][0];
    assert_eq!(stage["succeeded"], 3000, "{stage:?}");
    assert_eq!(stage["missing"], 0, "{stage:?}");
    assert_eq!(stage["latency_ms"]["count"], 3000, "{stage:?}");
    // 3,050 events at 1,000 a second in sets of one second: four sets, all gone.
    let client: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .expect("a metadata client");
    let metadata = client
        .fetch_metadata(None, Duration::from_secs(10))
        .expect("the broker's topics");
    let marker = format!("-{pid}-stage-in-");
    let left: Vec<&str> = metadata
        .topics()
        .iter()
        .map(|topic| topic.name())
        .filter(|name| name.contains(&marker))
        .collect();
    assert!(left.is_empty(), "sets not deleted: {left:?}");
}

/// A machine that fails the events with an odd `n` (a Fail state) and passes the others.
fn odd_ones_fail(dir: &Path) -> PathBuf {
    machine(
        dir,
        "odd.json",
        &json!({"StartAt": "Parity", "States": {
            "Parity": {"Type": "Choice", "Choices": [
                {"Variable": "$.odd", "BooleanEquals": true, "Next": "Reject"}],
                "Default": "Accept"},
            "Accept": {"Type": "Pass", "End": true},
            "Reject": {"Type": "Fail", "Error": "Odd", "Cause": "an odd number"}}}),
    )
}

fn parity_events(count: usize) -> Vec<Event> {
    (0..count)
        .map(|n| {
            let payload = format!(
                "{{\"n\":{n},\"odd\":{},\"pad\":\"{}\"}}",
                n % 2 == 1,
                "x".repeat(n)
            );
            Event::keyed(&format!("e{n}"), payload)
        })
        .collect()
}

/// The `… N log records written, D dropped …` line of a daemon's stderr: (written, dropped,
/// failed).
fn log_report(stderr: &str) -> Option<(u64, u64, u64)> {
    let line = stderr
        .lines()
        .rev()
        .find(|line| line.contains(" log records written, "))?;
    let numbers: Vec<u64> = line
        .split(|ch: char| !ch.is_ascii_digit())
        .filter_map(|part| part.parse().ok())
        .collect();
    match numbers[..] {
        [written, dropped, failed] => Some((written, dropped, failed)),
        _ => None,
    }
}

/// With `[logging] destination = "kafka"`, each failed execution's ERROR records reach the log
/// topic, one message each, keyed by the execution ARN, with the whole event as the Fail
/// state's input; succeeded executions log nothing at ERROR.
#[test]
fn error_records_go_to_the_log_topic() {
    let Some(brokers) = broker() else { return };
    let names = Names::new("kafka-logs");
    names.create_topics(&brokers, 2);
    let log_topic = format!("{}-logs", names.input);
    create_topics(&brokers, &[(&log_topic, 2)]);
    let dir = util::temp_dir("kafka-logs");
    let mut stage = Stage::new(&names, odd_ones_fail(&dir));
    stage.logging = Some(format!(
        "level = \"ERROR\"\ninclude_execution_data = true\ndestination = \"kafka\"\ntopic = \"{log_topic}\"\nbatch_bytes = 1024"
    ));
    let events = parity_events(200);
    produce(&brokers, &names.input, &events);
    let mut daemon = stage.start(&brokers, &dir, "logs");
    let mut results = Collector::new(&brokers, &names, 2);
    assert!(
        results.until(Duration::from_secs(60), |records| records.len() >= 200),
        "{} of 200 results",
        results.records.len()
    );
    let failed: BTreeSet<String> = results
        .records
        .iter()
        .filter(|record| record.topic == names.dead_letters)
        .filter_map(|record| record.header("stepstream-execution").map(str::to_string))
        .collect();
    assert_eq!(failed.len(), 100);
    let mut logs = Collector::reading(&brokers, &names, &[&log_topic], 2);
    assert!(
        logs.until(Duration::from_secs(30), |records| records.len() >= 200),
        "{} of 200 log records",
        logs.records.len()
    );
    logs.poll_for(Duration::from_millis(500));
    assert_eq!(
        logs.records.len(),
        200,
        "no more than two records per failure"
    );
    let mut logged = BTreeMap::<String, Vec<String>>::new();
    for record in &logs.records {
        let body = record.json();
        let arn = body["execution_arn"].as_str().unwrap_or_default();
        assert_eq!(
            record.key.as_deref(),
            Some(arn.as_bytes()),
            "keyed by the ARN"
        );
        let name = arn.split(':').nth(7).unwrap_or_default().to_string();
        let event_type = body["type"].as_str().unwrap_or_default().to_string();
        if event_type == "FailStateEntered" {
            let input: Value =
                json::from_str(body["details"]["input"].as_str().unwrap_or_default()).unwrap();
            assert_eq!(input["odd"], true);
            assert!(input["pad"].is_string(), "the whole event: {input}");
        }
        logged.entry(name).or_default().push(event_type);
    }
    assert_eq!(logged.keys().cloned().collect::<BTreeSet<_>>(), failed);
    for types in logged.values() {
        assert_eq!(types, &["FailStateEntered", "ExecutionFailed"]);
    }
    let stderr = daemon.stop_cleanly();
    assert_eq!(log_report(&stderr), Some((200, 0, 0)), "{stderr}");
}

/// By default the Kafka stage logs at ERROR to standard output, without execution data.
#[test]
fn the_stage_logs_errors_to_stdout_by_default() {
    let Some(brokers) = broker() else { return };
    let names = Names::new("kafka-logs-stdout");
    names.create_topics(&brokers, 1);
    let dir = util::temp_dir("kafka-logs-stdout");
    let stage = Stage::new(&names, odd_ones_fail(&dir));
    produce(&brokers, &names.input, &parity_events(20));
    let mut daemon = stage.start(&brokers, &dir, "stdout");
    let mut results = Collector::new(&brokers, &names, 1);
    assert!(
        results.until(Duration::from_secs(60), |records| records.len() >= 20),
        "{} of 20 results",
        results.records.len()
    );
    let stderr = daemon.stop_cleanly();
    assert_eq!(log_report(&stderr), Some((20, 0, 0)), "{stderr}");
    let stdout = std::fs::read_to_string(dir.join("stdout.stdout")).unwrap_or_default();
    let records: Vec<Value> = stdout
        .lines()
        .map(|line| json::from_str(line).expect("every stdout line is a log record"))
        .collect();
    assert_eq!(records.len(), 20);
    for record in &records {
        assert!(record["details"].get("input").is_none(), "{record}");
    }
    let failures = records
        .iter()
        .filter(|record| record["type"] == "ExecutionFailed")
        .count();
    assert_eq!(failures, 10);
}

/// The topics of input `BASE-SUFFIX` whose results go to `{topic}.out` and `{topic}.dlq`.
fn routed(base: &Names, suffix: &str) -> Names {
    let input = format!("{}-{suffix}", base.input);
    Names {
        output: format!("{input}.out"),
        dead_letters: format!("{input}.dlq"),
        group: base.group.clone(),
        input,
    }
}

/// `stage`'s configuration, subscribed to the topics `pattern` matches and writing each
/// one's results to `{topic}.out` and `{topic}.dlq`.
fn routed_config(stage: &Stage, brokers: &str, pattern: &str) -> String {
    let names = stage.names;
    let quote = |text: &str| serde_json::to_string(text).expect("strings serialise");
    stage
        .config(brokers)
        .replace(
            &format!("input_topics = [{}]", quote(&names.input)),
            &format!("input_topics = [{}]", quote(pattern)),
        )
        .replace(&quote(&names.output), &quote("{topic}.out"))
        .replace(&quote(&names.dead_letters), &quote("{topic}.dlq"))
}

/// A regex subscription over several input topics, each event's results going to the output
/// and dead-letter topics named after its own input topic (`{topic}.out`, `{topic}.dlq`).
#[test]
fn results_go_to_topics_named_after_their_input_topic() {
    let Some(brokers) = broker() else { return };
    let base = Names::new("kafka-routes");
    let dir = util::temp_dir("kafka-routes");
    let views: Vec<Names> = ["a", "b"]
        .iter()
        .map(|suffix| routed(&base, suffix))
        .collect();
    for view in &views {
        view.create_topics(&brokers, 2);
    }
    let stage = Stage::new(&base, odd_ones_fail(&dir));
    let config = routed_config(&stage, &brokers, &format!("^{}-[ab]$", base.input));
    let config = util::write_file(&dir, "routes.toml", &config);
    let mut daemon = Daemon::start(&config, &brokers, &dir, "routes");
    let events = parity_events(40);
    let produced: Vec<Vec<Produced>> = views
        .iter()
        .map(|view| produce(&brokers, &view.input, &events))
        .collect();
    for (view, produced) in views.iter().zip(&produced) {
        let mut results = Collector::new(&brokers, view, 2);
        let complete = results.until(Duration::from_secs(60), |records| records.len() >= 40);
        results.poll_for(Duration::from_millis(300));
        daemon.assert_running();
        assert!(
            complete,
            "{} got {} of 40 results",
            view.input,
            results.records.len()
        );
        let (counts, strays) = tally(&results.records, view, produced);
        assert!(
            strays.is_empty(),
            "{}: results of no event: {strays:#?}",
            view.input
        );
        assert!(
            counts.iter().all(|&count| count == 1),
            "{}: {counts:?}",
            view.input
        );
        let positions = by_position(produced);
        for record in &results.records {
            check_result_headers(record, view, produced, &positions);
        }
        let dead = results
            .records
            .iter()
            .filter(|record| record.topic == view.dead_letters)
            .count();
        assert_eq!(
            dead, 20,
            "the odd events of {} are its dead letters",
            view.input
        );
    }
    daemon.stop_cleanly();
}

/// Deleting the topics the daemon reads and writes does not stop it: it goes on and picks up
/// a new topic that its pattern matches. The local broker answers the fetch of a deleted
/// topic in a way that crashed librdkafka 2.12.1 (vendor/rdkafka-sys/PATCHES.md).
#[test]
fn deleting_a_topic_the_daemon_reads_does_not_stop_it() {
    let Some(brokers) = broker() else { return };
    let base = Names::new("kafka-delete");
    let dir = util::temp_dir("kafka-delete");
    let (first, second) = (routed(&base, "1"), routed(&base, "2"));
    first.create_topics(&brokers, 2);
    let stage = Stage::new(&base, odd_ones_fail(&dir));
    let mut config = routed_config(&stage, &brokers, &format!("^{}-[0-9]+$", base.input));
    // New topics are found at the next metadata refresh.
    config.push_str("\n[kafka.consumer]\n\"topic.metadata.refresh.interval.ms\" = \"500\"\n");
    let config = util::write_file(&dir, "delete.toml", &config);
    let mut daemon = Daemon::start(&config, &brokers, &dir, "delete");
    let events = parity_events(20);
    for (round, view) in [&first, &second].into_iter().enumerate() {
        if round == 1 {
            view.create_topics(&brokers, 2);
        }
        let produced = produce(&brokers, &view.input, &events);
        let mut results = Collector::new(&brokers, view, 2);
        let complete = results.until(Duration::from_secs(60), |records| records.len() >= 20);
        daemon.assert_running();
        assert!(
            complete,
            "{} got {} of 20 results",
            view.input,
            results.records.len()
        );
        let (counts, strays) = tally(&results.records, view, &produced);
        assert!(
            strays.is_empty(),
            "{}: results of no event: {strays:#?}",
            view.input
        );
        assert!(
            counts.iter().all(|&count| count >= 1),
            "{}: {counts:?}",
            view.input
        );
        drop(results);
        if round == 0 {
            admin::delete_topics(&brokers, &[&view.input, &view.output, &view.dead_letters])
                .expect("the topics are deleted");
            // The daemon's next fetches ask for the deleted partitions.
            std::thread::sleep(Duration::from_secs(3));
            daemon.assert_running();
        }
    }
    daemon.stop_cleanly();
}
