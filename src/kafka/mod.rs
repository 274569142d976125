//! The Kafka stage: consume events, run one execution each in the pool, produce each result
//! to the output topic (failures to the dead-letter topic), and commit an input offset only
//! once the results of it and of every earlier offset of its partition are acknowledged.
//!
//! Offsets follow the pattern librdkafka documents for at-least-once: `enable.auto.offset.store`
//! is off, the stage stores a partition's position when its watermark moves, and librdkafka's
//! auto-commit commits what was stored. On a rebalance, stored offsets of revoked partitions
//! are committed at once and their unfinished work is dropped (it will be redelivered).

pub mod admin;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver, Sender};
use rdkafka::config::ClientConfig;
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

/// Where the stage reads and writes, librdkafka's settings, and its bounds.
#[derive(Debug, Clone)]
pub struct KafkaOptions {
    /// Brokers, group, topics and the librdkafka settings passed through (they override the
    /// stage's own).
    pub connection: KafkaConfig,
    /// Most events in flight (consumed and not yet acknowledged downstream).
    pub max_in_flight: usize,
    /// Most bytes of those events (payloads and keys).
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
}

impl ClientContext for StageContext {
    fn stats(&self, statistics: rdkafka::Statistics) {
        crate::telemetry::record_lag(&statistics);
    }
}

impl ConsumerContext for StageContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(partitions) = rebalance {
            // Commit what is done before the partitions go; drop the rest (redelivered).
            let _ = consumer.commit_consumer_state(CommitMode::Sync);
            let mut assignment = lock(&self.assignment);
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
}

impl ClientContext for DeliveryContext {}

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
        .set("session.timeout.ms", "6000");
    for (key, value) in &kafka.connection.consumer {
        consumer_config.set(key, value);
    }
    let consumer: BaseConsumer<StageContext> =
        consumer_config.create_with_context(StageContext {
            assignment: Arc::clone(&assignment),
            paused: Arc::clone(&paused),
            ready: Arc::clone(&kafka.ready),
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
    let producer: BaseProducer<DeliveryContext> =
        producer_config.create_with_context(DeliveryContext { acks: ack_sender })?;

    let mut pool = Pool::start(program, pool_options, tasks);
    let results = pool.results().clone();
    let mut stage = Stage {
        kafka: &kafka,
        consumer: &consumer,
        producer: &producer,
        assignment,
        origins: HashMap::default(),
        in_flight_bytes: 0,
        next_id: 0,
        paused,
        positions: HashMap::default(),
        last_topic: None,
        output_topic: Arc::from(kafka.connection.output_topic.as_str()),
        dead_letter_topic: Arc::from(kafka.connection.dead_letter_topic.as_str()),
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
        // Backpressure: stop fetching while too much is in flight.
        if draining_since.is_none() {
            if stage.is_full() && !stage.is_paused() {
                stage.pause(true);
            } else if stage.is_paused()
                && stage.origins.len() <= kafka.max_in_flight * 3 / 4
                && stage.in_flight_bytes <= kafka.max_in_flight_bytes * 3 / 4
            {
                stage.pause(false);
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
    next_id: u64,
    paused: Arc<AtomicBool>,
    /// Commit positions moved since they were last stored.
    positions: HashMap<(Arc<str>, i32), i64, FastHash>,
    /// The last input topic seen, shared, with its execution-name prefix.
    last_topic: Option<(Arc<str>, String)>,
    output_topic: Arc<str>,
    dead_letter_topic: Arc<str>,
    summary: Summary,
    metrics: StageMetrics,
}

/// Refusals of a record before it is rerouted (to the dead-letter topic, or without payload).
const REFUSALS_BEFORE_REROUTE: u32 = 20;

/// Events consumed per poll round before results are looked at.
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

    /// Whether either in-flight bound is reached.
    fn is_full(&self) -> bool {
        self.origins.len() >= self.kafka.max_in_flight
            || self.in_flight_bytes >= self.kafka.max_in_flight_bytes
    }

    fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Relaxed)
    }

    /// Polls the consumer (which also runs rebalance callbacks) and hands new events to the
    /// pool. Returns whether nothing was consumed.
    fn consume(&mut self, pool: &mut Pool, draining: bool) -> bool {
        let mut batch = Vec::new();
        let room = self
            .kafka
            .max_in_flight
            .saturating_sub(self.origins.len())
            .min(CONSUME_BATCH);
        let mut timeout = Duration::ZERO;
        loop {
            let Some(polled) = self.consumer.poll(timeout) else {
                break;
            };
            timeout = Duration::ZERO;
            let message = match polled {
                Ok(message) => message,
                Err(_) => break,
            };
            if draining {
                // Paused partitions deliver nothing new; anything that slips through will be
                // redelivered after the restart, as its offset is never stored.
                continue;
            }
            let (topic, prefix) = match &self.last_topic {
                Some((topic, prefix)) if **topic == *message.topic() => {
                    (Arc::clone(topic), prefix.as_str())
                }
                _ => {
                    let topic: Arc<str> = Arc::from(message.topic());
                    let prefix = execution_name_prefix(&topic);
                    let (_, prefix) = self.last_topic.insert((Arc::clone(&topic), prefix));
                    (topic, prefix.as_str())
                }
            };
            let (partition, offset) = (message.partition(), message.offset());
            let generation = {
                let mut assignment = lock(&self.assignment);
                match assignment
                    .partitions
                    .get_mut(&(Arc::clone(&topic), partition))
                {
                    Some(owned) => {
                        owned.watermark.started(offset);
                        owned.generation
                    }
                    None => continue,
                }
            };
            let id = self.next_id;
            self.next_id += 1;
            let name = name_with_prefix(prefix, partition, offset);
            let payload = message.payload().map(<[u8]>::to_vec).unwrap_or_default();
            let key = message.key().map(<[u8]>::to_vec);
            let bytes = payload.len() + key.as_ref().map_or(0, Vec::len);
            self.in_flight_bytes += bytes;
            self.origins.insert(
                id,
                Origin {
                    topic,
                    partition,
                    offset,
                    generation,
                    key,
                    bytes,
                    record: None,
                },
            );
            batch.push(Job { id, name, payload });
            if batch.len() >= room || self.in_flight_bytes >= self.kafka.max_in_flight_bytes {
                break;
            }
        }
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
        let (topic, payload) = match finished.verdict {
            Verdict::Succeeded { output } => {
                self.metrics.produced += 1;
                headers.push(("stepstream-status", "SUCCEEDED".into()));
                (Arc::clone(&self.output_topic), output)
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
                (Arc::clone(&self.dead_letter_topic), finished.payload)
            }
            Verdict::Rejected { reason } => {
                self.metrics.dead_lettered += 1;
                headers.push(("stepstream-status", "REJECTED".into()));
                headers.push(("stepstream-cause", reason));
                (Arc::clone(&self.dead_letter_topic), finished.payload)
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
            let dead_letter_topic = Arc::clone(&self.dead_letter_topic);
            let Some(record) = self
                .origins
                .get_mut(&id)
                .and_then(|origin| origin.record.as_mut())
            else {
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
