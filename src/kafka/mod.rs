//! The Kafka stage: consume events, run one execution each in the pool, produce each result
//! to the output topic (failures to the dead-letter topic), and commit an input offset only
//! once the results of it and of every earlier offset of its partition are acknowledged.
//!
//! Offsets follow the pattern librdkafka documents for at-least-once: `enable.auto.offset.store`
//! is off, the stage stores a partition's position when its watermark moves, and librdkafka's
//! auto-commit commits what was stored. On a rebalance, stored offsets of revoked partitions
//! are committed at once and their unfinished work is dropped (it will be redelivered).
//!
//! Backpressure: at most `max_in_flight` executions (and `max_in_flight_bytes` of events) are
//! out at once; events read beyond that wait in the read-ahead queue (`read_ahead`).
//! Consumption pauses only when the bytes held, in flight and read ahead, reach
//! `max_in_flight_bytes`, because a pause makes librdkafka drop what it prefetched and fetch it
//! all again on resume.

pub mod admin;
mod read_ahead;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver, Sender};
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::compile::Program;
use crate::config::KafkaConfig;
use crate::pipeline::offsets::Watermark;
use crate::pipeline::Summary;
use crate::pool::{Finished, Job, Pool, PoolOptions, Verdict};
use crate::tasks::TaskHandler;
use crate::telemetry::StageMetrics;
use read_ahead::{should_pause, ReadAhead, Waiting};

/// Where the stage reads and writes, librdkafka's settings, and its bounds.
#[derive(Debug, Clone)]
pub struct KafkaOptions {
    /// Brokers, group, topics and the librdkafka settings passed through (they override the
    /// stage's own).
    pub connection: KafkaConfig,
    /// Most events in flight (handed to the pool and not yet acknowledged downstream); further
    /// events wait in the read-ahead.
    pub max_in_flight: usize,
    /// Most bytes of events in flight (payloads and keys); consumption pauses when these and
    /// the read-ahead's (which also count each event's bookkeeping) reach it.
    pub max_in_flight_bytes: usize,
    /// How long to finish in-flight work after a shutdown request.
    pub shutdown_grace: Duration,
    /// Set while the stage owns partitions (the `/readyz` probe).
    pub ready: Arc<AtomicBool>,
}

/// A Kafka problem that stops the stage.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error("kafka client: {0}")]
    Client(#[from] KafkaError),
}

/// The partitions this instance owns and their watermarks; shared with the rebalance
/// callback, which runs inside `poll` on the stage's own thread.
#[derive(Default)]
struct Assignment {
    partitions: HashMap<(Arc<str>, i32), Owned, FastHash>,
    generation: u64,
    /// Counts revocations and assignments, so the stage knows when to drop read-ahead events
    /// of partitions it no longer owns.
    changes: u64,
}

struct Owned {
    generation: u64,
    watermark: Watermark,
}

struct StageContext {
    assignment: Arc<Mutex<Assignment>>,
    /// Whether the stage holds consumption back (backpressure or draining); newly assigned
    /// partitions get the same state, as librdkafka keeps a partition's old pause across a
    /// revoke and a later assignment.
    paused: Arc<AtomicBool>,
    /// Whether the stage owns partitions.
    ready: Arc<AtomicBool>,
    log: ClientLog,
}

impl ClientContext for StageContext {
    fn stats(&self, statistics: rdkafka::Statistics) {
        crate::telemetry::record_lag(&statistics);
    }

    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        self.log.write(level, facility, message);
    }
}

/// Passes a Kafka client's warnings and errors (a broker that cannot be reached, a refused
/// setting) to standard error, credential values masked; its notices and debugging lines
/// stay out unless the client's settings ask for them with librdkafka's `debug`.
pub(crate) struct ClientLog {
    client: &'static str,
    secrets: Vec<String>,
    everything: bool,
}

impl ClientLog {
    /// For the client named `client` (in each line) made with `settings`.
    pub(crate) fn new<'a>(
        client: &'static str,
        settings: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> ClientLog {
        let mut secrets = Vec::new();
        let mut everything = false;
        for (key, value) in settings {
            everything |= key == "debug" && !value.is_empty();
            if crate::config::is_secret_setting(key) && !value.is_empty() {
                secrets.push(value.clone());
            }
        }
        ClientLog {
            client,
            secrets,
            everything,
        }
    }

    /// The level the client is to log at (librdkafka filters below it).
    pub(crate) fn level(&self) -> RDKafkaLogLevel {
        if self.everything {
            RDKafkaLogLevel::Debug
        } else {
            RDKafkaLogLevel::Warning
        }
    }

    pub(crate) fn write(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        if !self.everything && level as i32 > RDKafkaLogLevel::Warning as i32 {
            return;
        }
        let mut message = message.to_string();
        for secret in &self.secrets {
            message = message.replace(secret.as_str(), crate::config::REDACTED);
        }
        eprintln!("stepstream: kafka {} {facility}: {message}", self.client);
    }
}

impl ConsumerContext for StageContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(partitions) = rebalance {
            // Commit what is done before the partitions go; drop the rest (redelivered).
            let _ = consumer.commit_consumer_state(CommitMode::Sync);
            let mut assignment = lock(&self.assignment);
            assignment.changes += 1;
            for element in partitions.elements() {
                assignment
                    .partitions
                    .remove(&(Arc::from(element.topic()), element.partition()));
            }
            self.ready
                .store(!assignment.partitions.is_empty(), Ordering::Relaxed);
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(partitions) = rebalance {
            let _ = if self.paused.load(Ordering::Relaxed) {
                consumer.pause(partitions)
            } else {
                consumer.resume(partitions)
            };
            let mut assignment = lock(&self.assignment);
            assignment.generation += 1;
            assignment.changes += 1;
            let generation = assignment.generation;
            for element in partitions.elements() {
                assignment.partitions.insert(
                    (Arc::from(element.topic()), element.partition()),
                    Owned {
                        generation,
                        watermark: Watermark::new(),
                    },
                );
            }
            self.ready
                .store(!assignment.partitions.is_empty(), Ordering::Relaxed);
        }
    }
}

fn lock(assignment: &Mutex<Assignment>) -> MutexGuard<'_, Assignment> {
    // The data stays consistent even if a holder panicked: every update is a single step.
    assignment
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Reports each produced record's acknowledgement back to the stage.
struct DeliveryContext {
    acks: Sender<(u64, Result<(), String>)>,
    log: ClientLog,
}

impl ClientContext for DeliveryContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        self.log.write(level, facility, message);
    }
}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, id: Self::DeliveryOpaque) {
        let outcome = match result {
            Ok(_) => Ok(()),
            Err((err, _)) => Err(err.to_string()),
        };
        let _ = self.acks.send((id as u64, outcome));
    }
}

/// Where a job came from, kept until its result is acknowledged.
struct Origin {
    topic: Arc<str>,
    partition: i32,
    offset: i64,
    generation: u64,
    key: Option<Vec<u8>>,
    /// The event's size (payload and key), counted in the stage's in-flight bytes.
    bytes: usize,
    /// The produced record, kept to send again if its delivery fails.
    record: Option<Produced>,
}

struct Produced {
    topic: Arc<str>,
    payload: Vec<u8>,
    headers: Vec<(&'static str, String)>,
}

/// Runs the stage until `shutdown` is set, then drains within the grace period.
pub fn run_stage(
    program: &'static Program,
    kafka: KafkaOptions,
    pool_options: PoolOptions,
    tasks: Arc<dyn TaskHandler>,
    shutdown: Arc<AtomicBool>,
) -> Result<Summary, StageError> {
    let assignment = Arc::new(Mutex::new(Assignment::default()));
    let paused = Arc::new(AtomicBool::new(false));
    let mut consumer_config = ClientConfig::new();
    consumer_config
        .set("bootstrap.servers", &kafka.connection.brokers)
        .set("group.id", &kafka.connection.group_id)
        .set("enable.auto.commit", "true")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        // The longest a fetch waits for data to arrive: librdkafka's 500 ms becomes the
        // latency of every event on brokers that hold a fetch that long; 10 ms costs an
        // idle stage a hundred empty fetches a second.
        .set("fetch.wait.max.ms", "10");
    for (key, value) in &kafka.connection.consumer {
        consumer_config.set(key, value);
    }
    let consumer_log = ClientLog::new("consumer", &kafka.connection.consumer);
    consumer_config.set_log_level(consumer_log.level());
    let consumer: BaseConsumer<StageContext> =
        consumer_config.create_with_context(StageContext {
            assignment: Arc::clone(&assignment),
            paused: Arc::clone(&paused),
            ready: Arc::clone(&kafka.ready),
            log: consumer_log,
        })?;
    let topics: Vec<&str> = kafka
        .connection
        .input_topics
        .iter()
        .map(String::as_str)
        .collect();
    consumer.subscribe(&topics)?;

    let (ack_sender, acks) = unbounded();
    let mut producer_config = ClientConfig::new();
    producer_config
        .set("bootstrap.servers", &kafka.connection.brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5");
    for (key, value) in &kafka.connection.producer {
        producer_config.set(key, value);
    }
    let producer_log = ClientLog::new("producer", &kafka.connection.producer);
    producer_config.set_log_level(producer_log.level());
    let producer: BaseProducer<DeliveryContext> =
        producer_config.create_with_context(DeliveryContext {
            acks: ack_sender,
            log: producer_log,
        })?;

    let mut pool = Pool::start(program, pool_options, tasks);
    let results = pool.results().clone();
    let mut stage = Stage {
        kafka: &kafka,
        consumer: &consumer,
        producer: &producer,
        assignment,
        origins: HashMap::default(),
        in_flight_bytes: 0,
        read_ahead: ReadAhead::default(),
        assignment_changes: 0,
        next_id: 0,
        paused,
        positions: HashMap::default(),
        last_topic: None,
        routes: Routes::new(
            &kafka.connection.output_topic,
            &kafka.connection.dead_letter_topic,
        ),
        summary: Summary::default(),
        metrics: StageMetrics::new(),
    };

    let mut draining_since: Option<Instant> = None;
    loop {
        let stopping = shutdown.load(Ordering::Relaxed);
        if stopping && draining_since.is_none() {
            draining_since = Some(Instant::now());
            stage.pause(true);
        }
        if let Some(since) = draining_since {
            if stage.origins.is_empty() || since.elapsed() >= kafka.shutdown_grace {
                break;
            }
        }
        // Backpressure: stop fetching while the events held (in flight and read ahead) reach
        // the byte bound. Reaching `max_in_flight` only holds events back in the read-ahead:
        // pausing would make librdkafka drop its prefetch and fetch it again (see `read_ahead`).
        if draining_since.is_none() {
            let held = stage.in_flight_bytes + stage.read_ahead.held();
            if let Some(pause) = should_pause(held, kafka.max_in_flight_bytes, stage.is_paused()) {
                stage.pause(pause);
            }
        }
        let idle = stage.consume(&mut pool, draining_since.is_some());
        let produced = stage.produce_results(&results);
        stage.producer.poll(Duration::ZERO);
        let acknowledged = stage.acknowledge(&acks);
        stage.store_positions();
        let in_flight = stage.origins.len();
        stage.metrics.flush(in_flight);
        if idle && produced == 0 && acknowledged == 0 {
            // Nothing moved: wait a little for results or acknowledgements.
            crossbeam_channel::select! {
                recv(results) -> finished => if let Ok(finished) = finished { stage.produce(finished); },
                recv(acks) -> ack => if let Ok((id, outcome)) = ack { stage.acknowledged(id, outcome); },
                                default(Duration::from_millis(5)) => {}
            }
            stage.store_positions();
        }
    }
    stage.producer.flush(Duration::from_secs(10))?;
    while let Ok((id, outcome)) = acks.try_recv() {
        stage.acknowledged(id, outcome);
    }
    stage.store_positions();
    let _ = consumer.commit_consumer_state(CommitMode::Sync);
    consumer.unsubscribe();
    drop(pool);
    Ok(stage.summary)
}

struct Stage<'a> {
    kafka: &'a KafkaOptions,
    consumer: &'a BaseConsumer<StageContext>,
    producer: &'a BaseProducer<DeliveryContext>,
    assignment: Arc<Mutex<Assignment>>,
    origins: HashMap<u64, Origin, FastHash>,
    /// Bytes of the events in `origins`.
    in_flight_bytes: usize,
    /// Events read and not yet handed to the pool.
    read_ahead: ReadAhead,
    /// `Assignment::changes` when the read-ahead was last matched against the assignment.
    assignment_changes: u64,
    next_id: u64,
    paused: Arc<AtomicBool>,
    /// Commit positions moved since they were last stored.
    positions: HashMap<(Arc<str>, i32), i64, FastHash>,
    /// The last input topic seen, shared, with its execution-name prefix.
    last_topic: Option<(Arc<str>, String)>,
    routes: Routes,
    summary: Summary,
    metrics: StageMetrics,
}

/// Where an event's results go: the configured output and dead-letter topics, in which
/// `{topic}` stands for the event's input topic (`{topic}.out` sends the results of `orders`
/// to `orders.out`), made once per input topic.
struct Routes {
    output: Arc<str>,
    dead_letter: Arc<str>,
    by_input: HashMap<Arc<str>, (Arc<str>, Arc<str>), FastHash>,
}

/// What stands for the input topic in an output or dead-letter topic name.
pub const INPUT_TOPIC: &str = "{topic}";

/// The topic that the output or dead-letter topic `template` names for events read from
/// `input`.
pub fn route(template: &str, input: &str) -> String {
    template.replace(INPUT_TOPIC, input)
}

impl Routes {
    fn new(output: &str, dead_letter: &str) -> Routes {
        Routes {
            output: Arc::from(output),
            dead_letter: Arc::from(dead_letter),
            by_input: HashMap::default(),
        }
    }

    /// The output and dead-letter topics of an event read from `input`.
    fn of(&mut self, input: &Arc<str>) -> (Arc<str>, Arc<str>) {
        if !self.output.contains(INPUT_TOPIC) && !self.dead_letter.contains(INPUT_TOPIC) {
            return (Arc::clone(&self.output), Arc::clone(&self.dead_letter));
        }
        let (output, dead_letter) = self.by_input.entry(Arc::clone(input)).or_insert_with(|| {
            (
                Arc::from(route(&self.output, input)),
                Arc::from(route(&self.dead_letter, input)),
            )
        });
        (Arc::clone(output), Arc::clone(dead_letter))
    }
}

/// Refusals of a record before it is rerouted (to the dead-letter topic, or without payload).
const REFUSALS_BEFORE_REROUTE: u32 = 20;

/// Events read, and events handed to the pool, per round before results are looked at.
const CONSUME_BATCH: usize = 512;

impl Stage<'_> {
    fn pause(&mut self, pause: bool) {
        self.paused.store(pause, Ordering::Relaxed);
        if let Ok(partitions) = self.consumer.assignment() {
            let _ = if pause {
                self.consumer.pause(&partitions)
            } else {
                self.consumer.resume(&partitions)
            };
        }
    }

    fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Relaxed)
    }

    /// Polls the consumer (which also runs rebalance callbacks) into the read-ahead, then hands
    /// waiting events to the pool while the in-flight bounds allow. Returns whether nothing was
    /// handed to the pool.
    fn consume(&mut self, pool: &mut Pool, draining: bool) -> bool {
        self.read(draining);
        if draining {
            return true;
        }
        self.start(pool)
    }

    /// Reads what the consumer delivers into the read-ahead, up to a batch or the byte bound
    /// (the pause that follows makes librdkafka drop the rest, to fetch it again on resume).
    fn read(&mut self, draining: bool) {
        for _ in 0..CONSUME_BATCH {
            let Some(polled) = self.consumer.poll(Duration::ZERO) else {
                break;
            };
            let message = match polled {
                Ok(message) => message,
                Err(_) => break,
            };
            if draining {
                // Paused partitions deliver nothing new; anything that slips through will be
                // redelivered after the restart, as its offset is never stored.
                continue;
            }
            let topic = match &self.last_topic {
                Some((topic, _)) if **topic == *message.topic() => Arc::clone(topic),
                _ => {
                    let topic: Arc<str> = Arc::from(message.topic());
                    let prefix = execution_name_prefix(&topic);
                    self.last_topic = Some((Arc::clone(&topic), prefix));
                    topic
                }
            };
            let partition = message.partition();
            let generation = {
                let assignment = lock(&self.assignment);
                match assignment.partitions.get(&(Arc::clone(&topic), partition)) {
                    Some(owned) => owned.generation,
                    None => continue,
                }
            };
            self.read_ahead.push(Waiting {
                topic,
                partition,
                offset: message.offset(),
                generation,
                key: message.key().map(<[u8]>::to_vec),
                payload: message.payload().map(<[u8]>::to_vec).unwrap_or_default(),
            });
            if self.in_flight_bytes + self.read_ahead.held() >= self.kafka.max_in_flight_bytes {
                break;
            }
        }
        // A rebalance ran inside `poll`: what waits for a partition revoked since it was read
        // is dropped; the partition's next owner (perhaps this stage again) reads it again.
        let assignment = lock(&self.assignment);
        if assignment.changes != self.assignment_changes {
            self.assignment_changes = assignment.changes;
            self.read_ahead.retain(|event| {
                assignment
                    .partitions
                    .get(&(Arc::clone(&event.topic), event.partition))
                    .is_some_and(|owned| owned.generation == event.generation)
            });
        }
    }

    /// Hands waiting events to the pool, oldest first, while fewer than `max_in_flight`
    /// executions and `max_in_flight_bytes` of events are out. Returns whether none was.
    fn start(&mut self, pool: &mut Pool) -> bool {
        let mut batch = Vec::new();
        let mut assignment = lock(&self.assignment);
        while batch.len() < CONSUME_BATCH
            && self.origins.len() < self.kafka.max_in_flight
            && self.in_flight_bytes < self.kafka.max_in_flight_bytes
        {
            let Some(event) = self.read_ahead.pop() else {
                break;
            };
            match assignment
                .partitions
                .get_mut(&(Arc::clone(&event.topic), event.partition))
            {
                Some(owned) if owned.generation == event.generation => {
                    owned.watermark.started(event.offset);
                }
                // Revoked since it was read: its next owner reads it again.
                _ => continue,
            }
            if !matches!(&self.last_topic, Some((topic, _)) if **topic == *event.topic) {
                let prefix = execution_name_prefix(&event.topic);
                self.last_topic = Some((Arc::clone(&event.topic), prefix));
            }
            let prefix = self.last_topic.as_ref().map_or("", |(_, prefix)| prefix);
            let name = name_with_prefix(prefix, event.partition, event.offset);
            let id = self.next_id;
            self.next_id += 1;
            let bytes = event.bytes();
            self.in_flight_bytes += bytes;
            self.origins.insert(
                id,
                Origin {
                    topic: event.topic,
                    partition: event.partition,
                    offset: event.offset,
                    generation: event.generation,
                    key: event.key,
                    bytes,
                    record: None,
                },
            );
            batch.push(Job {
                id,
                name,
                payload: event.payload,
            });
        }
        drop(assignment);
        let idle = batch.is_empty();
        self.metrics.consumed += batch.len() as u64;
        pool.submit(batch);
        idle
    }

    fn produce_results(&mut self, results: &Receiver<Finished>) -> usize {
        let mut count = 0;
        while let Ok(finished) = results.try_recv() {
            self.produce(finished);
            count += 1;
        }
        count
    }

    /// Produces a finished job's result: the output, or a dead letter with the reason.
    fn produce(&mut self, finished: Finished) {
        let Some(origin) = self.origins.get_mut(&finished.id) else {
            return;
        };
        self.summary.count(&finished.verdict);
        let source = format!("{}/{}/{}", origin.topic, origin.partition, origin.offset);
        let mut headers = vec![
            ("stepstream-execution", finished.name.clone()),
            ("stepstream-source", source),
        ];
        let (output_topic, dead_letter_topic) = self.routes.of(&origin.topic);
        let (topic, payload) = match finished.verdict {
            Verdict::Succeeded { output } => {
                self.metrics.produced += 1;
                headers.push(("stepstream-status", "SUCCEEDED".into()));
                (output_topic, output)
            }
            Verdict::Failed {
                status,
                error,
                cause,
            } => {
                self.metrics.dead_lettered += 1;
                headers.push(("stepstream-status", status.as_str().into()));
                if let Some(error) = error {
                    headers.push(("stepstream-error", error));
                }
                if let Some(cause) = cause {
                    headers.push(("stepstream-cause", cause));
                }
                (dead_letter_topic, finished.payload)
            }
            Verdict::Rejected { reason } => {
                self.metrics.dead_lettered += 1;
                headers.push(("stepstream-status", "REJECTED".into()));
                headers.push(("stepstream-cause", reason));
                (dead_letter_topic, finished.payload)
            }
        };
        origin.record = Some(Produced {
            topic,
            payload,
            headers,
        });
        self.send(finished.id);
    }

    /// Sends (or sends again) the record of a job, waiting while the producer queue is full.
    /// A record the producer keeps refusing becomes a dead letter saying why (an output), or
    /// a dead letter without its payload (a dead letter): the event is never dropped silently.
    fn send(&mut self, id: u64) {
        let mut refusals = 0;
        loop {
            let Some(origin) = self.origins.get(&id) else {
                return;
            };
            let Some(record) = &origin.record else { return };
            let mut headers = OwnedHeaders::new();
            for (key, value) in &record.headers {
                headers = headers.insert(Header {
                    key,
                    value: Some(value.as_bytes()),
                });
            }
            let mut base = BaseRecord::with_opaque_to(&record.topic, id as usize)
                .payload(&record.payload)
                .headers(headers);
            if let Some(key) = &origin.key {
                base = base.key(key);
            }
            let refusal = match self.producer.send(base) {
                Ok(()) => return,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    self.producer.poll(Duration::from_millis(10));
                    continue;
                }
                Err((err, _)) => err.to_string(),
            };
            refusals += 1;
            if refusals < REFUSALS_BEFORE_REROUTE {
                self.producer.poll(Duration::from_millis(100));
                continue;
            }
            refusals = 0;
            let Some(origin) = self.origins.get_mut(&id) else {
                return;
            };
            let (_, dead_letter_topic) = self.routes.of(&origin.topic);
            let Some(record) = origin.record.as_mut() else {
                return;
            };
            let cause = format!(
                "the producer refused the result for {}: {refusal}",
                record.topic
            );
            if record.topic != dead_letter_topic {
                record.topic = dead_letter_topic;
                record.headers.retain(|(key, _)| {
                    *key == "stepstream-execution" || *key == "stepstream-source"
                });
                record
                    .headers
                    .push(("stepstream-status", "UNDELIVERABLE".into()));
            } else if record.payload.is_empty() {
                // Nothing is left to take away: the record waits for the broker to take it,
                // and its offset stays uncommitted, rather than being dropped.
                eprintln!(
                    "stepstream: {cause}, even without its payload; retrying (offset held back)"
                );
                continue;
            } else {
                record.payload.clear();
            }
            record.headers.push(("stepstream-cause", cause));
        }
    }

    fn acknowledge(&mut self, acks: &Receiver<(u64, Result<(), String>)>) -> usize {
        let mut count = 0;
        while let Ok((id, outcome)) = acks.try_recv() {
            self.acknowledged(id, outcome);
            count += 1;
        }
        count
    }

    /// A result was acknowledged (or refused) by the broker.
    fn acknowledged(&mut self, id: u64, outcome: Result<(), String>) {
        if outcome.is_err() {
            // Delivery failed after librdkafka's own retries: send it again.
            self.send(id);
            return;
        }
        let Some(origin) = self.origins.remove(&id) else {
            return;
        };
        self.in_flight_bytes -= origin.bytes;
        let position = {
            let mut assignment = lock(&self.assignment);
            match assignment
                .partitions
                .get_mut(&(Arc::clone(&origin.topic), origin.partition))
            {
                Some(owned) if owned.generation == origin.generation => {
                    owned.watermark.delivered(origin.offset)
                }
                _ => None,
            }
        };
        if let Some(position) = position {
            self.positions
                .insert((origin.topic, origin.partition), position);
        }
    }

    /// Stores the commit positions that moved since the last call, in one request; librdkafka's
    /// auto-commit commits them. Called before each poll, so a rebalance commits them too.
    fn store_positions(&mut self) {
        if self.positions.is_empty() {
            return;
        }
        let mut offsets = TopicPartitionList::new();
        for ((topic, partition), position) in self.positions.drain() {
            let _ = offsets.add_partition_offset(&topic, partition, Offset::Offset(position));
        }
        let _ = self.consumer.store_offsets(&offsets);
    }
}

/// The execution name of an event: `TOPIC-PARTITION-OFFSET`, in the characters AWS allows,
/// at most 80 of them; a redelivered event gets the same name.
pub fn execution_name(topic: &str, partition: i32, offset: i64) -> String {
    name_with_prefix(&execution_name_prefix(topic), partition, offset)
}

/// A topic in the characters execution names allow (ASCII letters, digits, `-` and `_`).
fn execution_name_prefix(topic: &str) -> String {
    topic
        .chars()
        .map(|ch| {
            if ch.is_ascii_alphanumeric() || ch == '-' || ch == '_' {
                ch
            } else {
                '_'
            }
        })
        .collect()
}

/// `PREFIX-PARTITION-OFFSET`, the prefix cut so that the whole is at most 80 characters.
fn name_with_prefix(prefix: &str, partition: i32, offset: i64) -> String {
    let mut partition_text = itoa::Buffer::new();
    let mut offset_text = itoa::Buffer::new();
    let partition_text = partition_text.format(partition);
    let offset_text = offset_text.format(offset);
    let suffix_len = 2 + partition_text.len() + offset_text.len();
    // The prefix is ASCII, so any byte length is a character boundary.
    let keep = prefix.len().min(80usize.saturating_sub(suffix_len));
    let mut name = String::with_capacity(keep + suffix_len);
    name.push_str(&prefix[..keep]);
    name.push('-');
    name.push_str(partition_text);
    name.push('-');
    name.push_str(offset_text);
    name
}

/// A hasher for the stage's maps, keyed by job ids and partitions: a multiplicative hash,
/// much cheaper than SipHash; the keys are not chosen by outsiders.
#[derive(Default)]
struct Multiply(u64);

impl Hasher for Multiply {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0.rotate_left(5) ^ value).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    fn write_u32(&mut self, value: u32) {
        self.write_u64(u64::from(value));
    }

    fn write_i32(&mut self, value: i32) {
        self.write_u64(value as u32 as u64);
    }

    fn write_usize(&mut self, value: usize) {
        self.write_u64(value as u64);
    }

    fn write_u8(&mut self, value: u8) {
        self.write_u64(u64::from(value));
    }
}

type FastHash = BuildHasherDefault<Multiply>;

#[cfg(test)]
mod tests {
    use super::execution_name;

    #[test]
    fn execution_names() {
        assert_eq!(execution_name("orders", 3, 42), "orders-3-42");
        assert_eq!(execution_name("a.b/c", 0, 0), "a_b_c-0-0");
        let long = execution_name(&"t".repeat(200), 12, 1_000_000);
        assert_eq!(long.len(), 80);
        assert!(long.ends_with("-12-1000000"));
    }
}
