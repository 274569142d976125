//! Benchmark runs through a real broker: fresh topics, a producer writing the events, a
//! `stepstream run` daemon (started here, or already running), and a reader of the output and
//! dead-letter topics that matches each result to its event by the `stepstream-source` header.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::report::Sample;
use super::{
    procfs, sleep_until, Events, Latencies, Percentiles, Progress, ProgressBar, RunReport, Seen,
};
use crate::kafka::admin;

/// How a Kafka benchmark run goes.
#[derive(Debug, Clone)]
pub struct KafkaBench {
    pub brokers: String,
    /// Events measured (warm-up events come on top in paced runs).
    pub events: u64,
    /// Events per second while the daemon runs; `None` produces a backlog first.
    pub rate: Option<f64>,
    /// Partitions of each topic the run creates.
    pub partitions: i32,
    /// Events sent and answered before a paced run starts measuring.
    pub warmup: u64,
    /// The run ends when no new result has come for this long.
    pub stall_timeout: Duration,
    pub progress: bool,
    /// Reports latency and the daemon's memory once per interval (a soak), on stderr as
    /// the run goes and in the report.
    pub sample_every: Option<Duration>,
    /// Moves a paced run to new topics after this long, deleting each set of topics once all
    /// its events have results, so the broker holds only a few sets at a time (a soak).
    pub rotate: Option<Duration>,
}

/// What runs the executions.
#[derive(Debug, Clone)]
pub enum Target {
    /// Starts `program args…` (a `stepstream run` without topics); the run's topics and group
    /// reach it through the `STEPSTREAM_*` environment overrides.
    Spawn {
        program: PathBuf,
        args: Vec<OsString>,
    },
    /// A daemon that is already running on these topics; with its pid, its CPU and memory
    /// are reported too.
    Attach {
        input_topic: String,
        output_topic: String,
        dead_letter_topic: String,
        pid: Option<u32>,
    },
}

struct Topics {
    input: String,
    output: String,
    dead_letters: String,
    group: String,
}

/// Topic rotation: event `i` goes to segment `i / per_segment`, whose input topic is
/// `PREFIX<segment>` and whose results go to `PREFIX<segment>.out` and `PREFIX<segment>.dlq`
/// (the daemon subscribes to `^PREFIX[0-9]+$` and writes to `{topic}.out` and `{topic}.dlq`).
/// A segment's topics are created while the one before it is being produced, and deleted
/// once every event of the segment has a result.
#[derive(Debug, Clone)]
struct Rotation {
    brokers: String,
    prefix: String,
    partitions: i32,
    /// Events per segment, a multiple of the partitions, so an event's partition and offset
    /// in its segment's topic give its number.
    per_segment: u64,
    total: u64,
}

impl Rotation {
    fn new(bench: &KafkaBench, prefix: String, total: u64, rate: f64, every: Duration) -> Self {
        let partitions = bench.partitions.max(1) as u64;
        let wanted = (rate * every.as_secs_f64()).ceil().max(1.0) as u64;
        Rotation {
            brokers: bench.brokers.clone(),
            prefix,
            partitions: partitions as i32,
            per_segment: wanted.div_ceil(partitions) * partitions,
            total,
        }
    }

    fn segments(&self) -> u64 {
        self.total.div_ceil(self.per_segment)
    }

    /// Events in segment `segment` (the last one may be short).
    fn len(&self, segment: u64) -> u64 {
        self.per_segment
            .min(self.total.saturating_sub(segment * self.per_segment))
    }

    fn input(&self, segment: u64) -> String {
        format!("{}{segment}", self.prefix)
    }

    fn results(&self, segment: u64) -> [String; 2] {
        [
            format!("{}{segment}.out", self.prefix),
            format!("{}{segment}.dlq", self.prefix),
        ]
    }

    fn create(&self, segment: u64) -> Result<(), String> {
        let [output, dead_letters] = self.results(segment);
        create_set(
            &self.brokers,
            [&self.input(segment), &output, &dead_letters],
            self.partitions,
        )
    }

    fn delete(&self, segment: u64) -> Result<(), String> {
        let [output, dead_letters] = self.results(segment);
        admin::delete_topics(
            &self.brokers,
            &[&self.input(segment), &output, &dead_letters],
        )
    }

    /// The result topics' partitions of `segment`, read from the start.
    fn result_partitions(&self, segment: u64) -> Result<TopicPartitionList, String> {
        let mut list = TopicPartitionList::new();
        for topic in self.results(segment) {
            for partition in 0..self.partitions {
                list.add_partition_offset(&topic, partition, Offset::Beginning)
                    .map_err(|err| err.to_string())?;
            }
        }
        Ok(list)
    }

    /// The event that `topic`/`partition`/`offset` holds, if the topic is one of the run's.
    fn event(&self, topic: &str, partition: i32, offset: i64) -> Option<u64> {
        let segment: u64 = topic.strip_prefix(&self.prefix)?.parse().ok()?;
        let (partition, offset) = (u64::try_from(partition).ok()?, u64::try_from(offset).ok()?);
        (partition < self.partitions as u64).then_some(())?;
        let index = segment * self.per_segment + offset * self.partitions as u64 + partition;
        (offset * (self.partitions as u64) < self.per_segment).then_some(index)
    }
}

/// Creates an input topic with its output and dead-letter topics.
fn create_set(
    brokers: &str,
    [input, output, dead_letters]: [&str; 3],
    partitions: i32,
) -> Result<(), String> {
    admin::create_topics(
        brokers,
        &[
            (input, partitions),
            (output, partitions),
            (dead_letters, partitions),
        ],
    )
}

/// Runs one measured run (`label` names it in the report) against `target`.
pub fn run(
    bench: &KafkaBench,
    events: &Events,
    label: &str,
    target: &Target,
) -> Result<RunReport, String> {
    let paced = bench.rate.is_some();
    let warmup = if paced { bench.warmup } else { 0 };
    let total = warmup + bench.events;
    let mut rotation = None;
    let topics = match target {
        Target::Spawn { .. } => {
            let stamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |time| time.as_millis());
            let slug: String = label
                .chars()
                .map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '-' })
                .collect();
            let base = format!("stepstream-bench-{stamp}-{}-{slug}", std::process::id());
            if let (Some(every), Some(rate)) = (bench.rotate, bench.rate) {
                let turn = Rotation::new(bench, format!("{base}-in-"), total, rate, every);
                turn.create(0)?;
                let topics = Topics {
                    input: format!("^{}[0-9]+$", turn.prefix),
                    output: "{topic}.out".into(),
                    dead_letters: "{topic}.dlq".into(),
                    group: format!("{base}-group"),
                };
                rotation = Some(turn);
                topics
            } else {
                let topics = Topics {
                    input: format!("{base}-in"),
                    output: format!("{base}-out"),
                    dead_letters: format!("{base}-dlq"),
                    group: format!("{base}-group"),
                };
                create_set(
                    &bench.brokers,
                    [&topics.input, &topics.output, &topics.dead_letters],
                    bench.partitions,
                )?;
                topics
            }
        }
        Target::Attach {
            input_topic,
            output_topic,
            dead_letter_topic,
            ..
        } => Topics {
            input: input_topic.clone(),
            output: output_topic.clone(),
            dead_letters: dead_letter_topic.clone(),
            group: String::new(),
        },
    };

    let reader = reader(&bench.brokers)?;
    let (input_partitions, input_bases) = match &rotation {
        Some(turn) => {
            reader
                .assign(&turn.result_partitions(0)?)
                .map_err(|err| err.to_string())?;
            (turn.partitions, vec![0; turn.partitions as usize])
        }
        None => {
            let input_partitions = partition_count(&reader, &topics.input)?;
            let input_bases = high_watermarks(&reader, &topics.input, input_partitions)?;
            let mut assignment = TopicPartitionList::new();
            for topic in [&topics.output, &topics.dead_letters] {
                let partitions = partition_count(&reader, topic)?;
                for (partition, high) in high_watermarks(&reader, topic, partitions)?
                    .into_iter()
                    .enumerate()
                {
                    assignment
                        .add_partition_offset(topic, partition as i32, Offset::Offset(high))
                        .map_err(|err| err.to_string())?;
                }
            }
            reader.assign(&assignment).map_err(|err| err.to_string())?;
            (input_partitions, input_bases)
        }
    };
    // With rotation: segments whose topics were created (sender → reader), and segments
    // whose results are all in (reader → the thread that deletes their topics).
    let (created_tx, created_rx) = std::sync::mpsc::channel::<u64>();
    let (finished_tx, finished_rx) = std::sync::mpsc::channel::<u64>();
    let deleter = rotation.clone().map(|turn| {
        std::thread::spawn(move || {
            for segment in finished_rx {
                if let Err(err) = turn.delete(segment) {
                    eprintln!("stepstream bench: {err}");
                }
            }
        })
    });

    let progress = Arc::new(Progress::default());
    // When the paced part of the run began; event `warmup + k` is due `k / rate` after it.
    let paced_from: Arc<OnceLock<Instant>> = Arc::new(OnceLock::new());
    let stop = Arc::new(AtomicBool::new(false));
    // The daemon's pid for the sampler (0 until known).
    let daemon_pid = Arc::new(AtomicU32::new(match target {
        Target::Attach { pid, .. } => pid.unwrap_or(0),
        Target::Spawn { .. } => 0,
    }));
    let collector = Collector {
        reader,
        rotation: rotation.clone().map(|turn| Rotating {
            done: vec![0; turn.segments() as usize],
            turn,
            created: created_rx,
            finished: finished_tx,
        }),
        input_topic: topics.input.clone(),
        output_topic: topics.output.clone(),
        bases: input_bases.clone(),
        warmup,
        seen: Seen::new(total),
        measured: Arc::new(AtomicU64::new(0)),
        warm: Arc::new(AtomicU64::new(0)),
        schedule: bench.rate.map(|rate| Schedule {
            start: Arc::clone(&paced_from),
            first: warmup,
            rate,
        }),
        outcome: Outcome::default(),
        progress: Arc::clone(&progress),
        stop: Arc::clone(&stop),
        sampler: bench.sample_every.map(|every| Sampler {
            every,
            pid: Arc::clone(&daemon_pid),
            started: None,
            next: None,
            results: 0,
            latencies: Latencies::new(),
            samples: Vec::new(),
        }),
    };
    let measured = Arc::clone(&collector.measured);
    let warm = Arc::clone(&collector.warm);
    let collector = std::thread::Builder::new()
        .name("stepstream-bench-reader".into())
        .spawn(move || collector.run())
        .map_err(|err| err.to_string())?;

    let mut sender = Sender::new(bench, &topics.input, input_partitions)?;
    if let Some(turn) = rotation.clone() {
        sender.rotation = Some((turn, 1, created_tx));
    }
    let bar = ProgressBar::start(label, bench.events, Arc::clone(&progress), bench.progress);
    let mut daemon: Option<Daemon> = None;
    let result = (|| -> Result<Measured, String> {
        let mut produced_in = None;
        if !paced {
            // A backlog: every event is in the topic before the daemon starts.
            let started = Instant::now();
            sender.send_range(events, 0..total, None, &progress)?;
            sender.flush()?;
            produced_in = Some(total as f64 / started.elapsed().as_secs_f64());
        }
        if let Target::Spawn { program, args } = target {
            daemon = Some(Daemon::start(program, args, &bench.brokers, &topics)?);
        }
        let pid = match target {
            Target::Spawn { .. } => daemon.as_ref().map(|daemon| daemon.child.id()),
            Target::Attach { pid, .. } => *pid,
        };
        daemon_pid.store(pid.unwrap_or(0), Ordering::Relaxed);
        if paced {
            sender.send_range(events, 0..warmup, None, &progress)?;
            sender.flush()?;
            wait_for(&warm, warmup, bench.stall_timeout, &mut daemon)?;
        }
        let start = Instant::now();
        let cpu_start = pid.and_then(procfs::cpu_seconds);
        if let Some(rate) = bench.rate {
            let started = *paced_from.get_or_init(Instant::now);
            sender.send_range(events, warmup..total, Some((started, rate)), &progress)?;
            sender.flush()?;
            produced_in = Some(bench.events as f64 / started.elapsed().as_secs_f64());
        }
        wait_for(&measured, bench.events, bench.stall_timeout, &mut daemon)?;
        Ok(Measured {
            produced_in,
            start,
            end: Instant::now(),
            cpu_start,
            cpu_end: pid.and_then(procfs::cpu_seconds),
            peak_rss: pid.and_then(procfs::peak_rss_bytes),
            delivery_failures: sender.failures.load(Ordering::Relaxed),
        })
    })();
    stop.store(true, Ordering::Relaxed);
    let outcome = collector
        .join()
        .map_err(|_| "the result reader panicked".to_string())?;
    if let Some(deleter) = deleter {
        let _ = deleter.join();
    }
    drop(bar);
    let stopped = daemon.map(Daemon::stop);
    let measured = result?;
    if let Some(Err(err)) = stopped {
        return Err(err);
    }

    // Without any result the run lasted until it was given up.
    let last = outcome.last.unwrap_or(measured.end);
    let wall = last
        .saturating_duration_since(measured.start)
        .as_secs_f64()
        .max(1e-9);
    let distinct = outcome.distinct;
    let mut report = RunReport {
        label: label.into(),
        events: bench.events,
        events_per_second_in: measured.produced_in,
        events_per_second_from_start: distinct as f64 / wall,
        succeeded: outcome.succeeded,
        failed: outcome.failed,
        missing: bench.events - distinct.min(bench.events),
        duplicates: outcome.duplicates,
        latency_ms: outcome.latencies.percentiles(),
        peak_rss_mib: measured.peak_rss.map(|bytes| bytes as f64 / 1048576.0),
        wall_seconds: wall,
        samples: outcome.samples,
        ..RunReport::default()
    };
    report.events_per_second_out = match (outcome.first, outcome.last) {
        (Some(first), Some(last)) if last > first && distinct > 1 => {
            (distinct - 1) as f64 / last.duration_since(first).as_secs_f64()
        }
        _ => report.events_per_second_from_start,
    };
    if let (Some(before), Some(after)) = (measured.cpu_start, measured.cpu_end) {
        // A backlog run's daemon idles while it joins its group: its CPU is taken over the
        // time results flowed.
        let busy = match (paced, outcome.first, outcome.last) {
            (false, Some(first), Some(last)) if last > first => {
                last.duration_since(first).as_secs_f64()
            }
            _ => wall,
        };
        report.cpu_percent = Some((after - before) / busy * 100.0);
    }
    if measured.delivery_failures > 0 {
        eprintln!(
            "stepstream bench: {} event(s) could not be produced to {}",
            measured.delivery_failures, topics.input
        );
    }
    Ok(report)
}

struct Measured {
    produced_in: Option<f64>,
    start: Instant,
    /// When the last result came or the run was given up.
    end: Instant,
    cpu_start: Option<f64>,
    cpu_end: Option<f64>,
    peak_rss: Option<u64>,
    delivery_failures: u64,
}

/// Waits until `counter` reaches `want`; fails when nothing moves for `stall` or the daemon
/// exits.
fn wait_for(
    counter: &AtomicU64,
    want: u64,
    stall: Duration,
    daemon: &mut Option<Daemon>,
) -> Result<(), String> {
    let mut last = (counter.load(Ordering::Relaxed), Instant::now());
    loop {
        let now_count = counter.load(Ordering::Relaxed);
        if now_count >= want {
            return Ok(());
        }
        if now_count != last.0 {
            last = (now_count, Instant::now());
        } else if last.1.elapsed() >= stall {
            eprintln!(
                "stepstream bench: no new result for {} s; {now_count} of {want} arrived",
                stall.as_secs()
            );
            if let Some(daemon) = daemon {
                eprintln!(
                    "stepstream bench: the daemon's last words:\n{}",
                    daemon.log_tail()
                );
            }
            return Ok(());
        }
        if let Some(daemon) = daemon {
            if let Some(failure) = daemon.exited() {
                return Err(failure);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn reader(brokers: &str) -> Result<BaseConsumer, String> {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "stepstream-bench-reader")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", "5")
        .create()
        .map_err(|err| format!("cannot create a consumer for {brokers}: {err}"))
}

fn partition_count(client: &BaseConsumer, topic: &str) -> Result<i32, String> {
    let metadata = client
        .fetch_metadata(Some(topic), Duration::from_secs(15))
        .map_err(|err| format!("cannot read the metadata of {topic}: {err}"))?;
    let count = metadata
        .topics()
        .iter()
        .find(|found| found.name() == topic)
        .map_or(0, |found| found.partitions().len());
    if count == 0 {
        return Err(format!("the topic {topic} does not exist"));
    }
    Ok(count as i32)
}

fn high_watermarks(
    client: &BaseConsumer,
    topic: &str,
    partitions: i32,
) -> Result<Vec<i64>, String> {
    (0..partitions)
        .map(|partition| {
            client
                .fetch_watermarks(topic, partition, Duration::from_secs(15))
                .map(|(_, high)| high)
                .map_err(|err| format!("cannot read the offsets of {topic}/{partition}: {err}"))
        })
        .collect()
}

/// Counts delivery failures.
struct Deliveries {
    failures: Arc<AtomicU64>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if result.is_err() {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Writes events to the input topic, event `i` to partition `i % partitions`, so an event's
/// number follows from its partition and offset.
struct Sender {
    producer: BaseProducer<Deliveries>,
    topic: String,
    partitions: i32,
    failures: Arc<AtomicU64>,
    /// With rotation: the segments whose topics exist, and where to announce new ones.
    rotation: Option<(Rotation, u64, std::sync::mpsc::Sender<u64>)>,
    /// With rotation: the segment `topic` belongs to.
    segment: Option<u64>,
}

impl Sender {
    fn new(bench: &KafkaBench, topic: &str, partitions: i32) -> Result<Sender, String> {
        let failures = Arc::new(AtomicU64::new(0));
        let producer = ClientConfig::new()
            .set("bootstrap.servers", &bench.brokers)
            .set("enable.idempotence", "true")
            // The run makes its topics. A producer that may create them would bring each
            // deleted set of a rotation back to life (librdkafka goes on asking for the
            // metadata of every topic it has produced to), and the daemon's pattern would
            // subscribe to it again.
            .set("allow.auto.create.topics", "false")
            .set("linger.ms", "5")
            .set("batch.num.messages", "10000")
            .set("queue.buffering.max.messages", "1000000")
            .set("queue.buffering.max.kbytes", "1048576")
            .create_with_context(Deliveries {
                failures: Arc::clone(&failures),
            })
            .map_err(|err| format!("cannot create a producer for {}: {err}", bench.brokers))?;
        Ok(Sender {
            producer,
            topic: topic.to_string(),
            partitions,
            failures,
            rotation: None,
            segment: None,
        })
    }

    /// Sends events `range`, as fast as it can, or paced: `rate` per second from `started`.
    fn send_range(
        &mut self,
        events: &Events,
        range: std::ops::Range<u64>,
        pace: Option<(Instant, f64)>,
        progress: &Progress,
    ) -> Result<(), String> {
        let first = range.start;
        for index in range {
            if let Some((started, rate)) = pace {
                sleep_until(started + Duration::from_secs_f64((index - first) as f64 / rate));
            }
            if let Some((turn, created, announce)) = &mut self.rotation {
                let segment = index / turn.per_segment;
                // The next segment's topics are made while this one is produced, so the
                // daemon's subscription has found them by the time they are needed.
                while *created <= (segment + 1).min(turn.segments() - 1) {
                    turn.create(*created)?;
                    let _ = announce.send(*created);
                    *created += 1;
                }
                if self.segment != Some(segment) {
                    self.segment = Some(segment);
                    self.topic = turn.input(segment);
                }
            }
            let payload = events.payload(index);
            let partition = (index % self.partitions as u64) as i32;
            let mut record: BaseRecord<(), _> = BaseRecord::to(&self.topic)
                .partition(partition)
                .payload(&payload);
            loop {
                match self.producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        record = back;
                        self.producer.poll(Duration::from_millis(5));
                    }
                    Err((err, _)) => {
                        return Err(format!("cannot produce to {}: {err}", self.topic))
                    }
                }
            }
            if index % 1024 == 0 {
                self.producer.poll(Duration::ZERO);
            }
            progress.produced.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), String> {
        self.producer
            .flush(Duration::from_secs(120))
            .map_err(|err| format!("cannot flush the events to {}: {err}", self.topic))
    }
}

#[derive(Default)]
struct Outcome {
    distinct: u64,
    duplicates: u64,
    succeeded: u64,
    failed: u64,
    latencies: Latencies,
    first: Option<Instant>,
    last: Option<Instant>,
    samples: Vec<Sample>,
}

/// Per-interval latency and memory for `--sample-every`.
struct Sampler {
    every: Duration,
    pid: Arc<AtomicU32>,
    /// The first measured result's arrival, from which intervals are counted.
    started: Option<Instant>,
    next: Option<Instant>,
    results: u64,
    latencies: Latencies,
    samples: Vec<Sample>,
}

impl Sampler {
    /// Closes the intervals that ended by `now`, printing a line for each.
    fn tick(&mut self, now: Instant) {
        let (Some(started), Some(mut next)) = (self.started, self.next) else {
            return;
        };
        while now >= next {
            let pid = self.pid.load(Ordering::Relaxed);
            let sample = Sample {
                at_seconds: next.duration_since(started).as_secs_f64(),
                results: self.results,
                latency_ms: self.latencies.percentiles(),
                rss_mib: (pid != 0)
                    .then(|| procfs::rss_bytes(pid))
                    .flatten()
                    .map(|bytes| bytes as f64 / 1048576.0),
            };
            let ms = |pick: fn(&Percentiles) -> f64| {
                sample
                    .latency_ms
                    .as_ref()
                    .map_or("-".to_string(), |latency| format!("{:.1}", pick(latency)))
            };
            eprintln!(
                "sample: at {:.0} s, {} results, p50 {} ms, p99 {} ms, max {} ms, rss {} MiB",
                sample.at_seconds,
                sample.results,
                ms(|latency| latency.p50),
                ms(|latency| latency.p99),
                ms(|latency| latency.max),
                sample
                    .rss_mib
                    .map_or("-".to_string(), |mib| format!("{mib:.1}"))
            );
            self.samples.push(sample);
            self.results = 0;
            self.latencies = Latencies::new();
            next += self.every;
        }
        self.next = Some(next);
    }

    fn record(&mut self, now: Instant, latency: Option<Duration>) {
        if self.started.is_none() {
            self.started = Some(now);
            self.next = Some(now + self.every);
        }
        self.tick(now);
        self.results += 1;
        if let Some(latency) = latency {
            self.latencies.record(latency);
        }
    }
}

/// The reader's side of topic rotation.
struct Rotating {
    turn: Rotation,
    /// Distinct events with a result, per segment.
    done: Vec<u64>,
    created: std::sync::mpsc::Receiver<u64>,
    finished: std::sync::mpsc::Sender<u64>,
}

/// When a paced run's events are due: latency counts from the moment an event should have been
/// sent, not from when it was, so a producer that falls behind its schedule shows up as latency
/// instead of hiding it (coordinated omission), and nothing is kept per event.
struct Schedule {
    /// Set when the first paced event is due.
    start: Arc<OnceLock<Instant>>,
    /// The first paced event.
    first: u64,
    rate: f64,
}

impl Schedule {
    fn due(&self, index: u64) -> Option<Instant> {
        let start = *self.start.get()?;
        let after = index.checked_sub(self.first)?;
        Some(start + Duration::from_secs_f64(after as f64 / self.rate))
    }
}

/// Reads results and matches them to events.
struct Collector {
    reader: BaseConsumer,
    rotation: Option<Rotating>,
    input_topic: String,
    output_topic: String,
    bases: Vec<i64>,
    warmup: u64,
    seen: Seen,
    /// Distinct measured events (not warm-up) with a result.
    measured: Arc<AtomicU64>,
    /// Distinct warm-up events with a result.
    warm: Arc<AtomicU64>,
    /// A paced run's schedule, from which latency is measured.
    schedule: Option<Schedule>,
    outcome: Outcome,
    progress: Arc<Progress>,
    stop: Arc<AtomicBool>,
    sampler: Option<Sampler>,
}

impl Collector {
    fn run(mut self) -> Outcome {
        let partitions = self.bases.len() as u64;
        while !self.stop.load(Ordering::Relaxed) {
            if let Some(rotating) = &self.rotation {
                for segment in rotating.created.try_iter() {
                    if let Err(err) = rotating.turn.result_partitions(segment).and_then(|list| {
                        self.reader
                            .incremental_assign(&list)
                            .map_err(|err| err.to_string())
                    }) {
                        eprintln!("stepstream bench: cannot read segment {segment}: {err}");
                    }
                }
            }
            let polled = self.reader.poll(Duration::from_millis(50));
            if let Some(sampler) = &mut self.sampler {
                sampler.tick(Instant::now());
            }
            let Some(polled) = polled else {
                continue;
            };
            let Ok(message) = polled else { continue };
            let Some(index) = message.headers().and_then(|headers| {
                let source = headers
                    .iter()
                    .find(|header| header.key == "stepstream-source")?
                    .value?;
                let source = std::str::from_utf8(source).ok()?;
                let mut parts = source.rsplitn(3, '/');
                let offset: i64 = parts.next()?.parse().ok()?;
                let partition: usize = parts.next()?.parse().ok()?;
                let topic = parts.next()?;
                if let Some(rotating) = &self.rotation {
                    return rotating.turn.event(topic, partition as i32, offset);
                }
                (topic == self.input_topic).then_some(())?;
                let base = *self.bases.get(partition)?;
                u64::try_from(offset - base)
                    .ok()
                    .map(|sequence| sequence * partitions + partition as u64)
            }) else {
                continue;
            };
            if index >= self.seen.events {
                // Not one of this run's events.
                continue;
            }
            if !self.seen.mark(index) {
                if index >= self.warmup {
                    self.outcome.duplicates += 1;
                }
                continue;
            }
            if let Some(rotating) = &mut self.rotation {
                let segment = index / rotating.turn.per_segment;
                let done = &mut rotating.done[segment as usize];
                *done += 1;
                if *done == rotating.turn.len(segment) {
                    // Stop reading the segment's topics before they go.
                    if let Ok(list) = rotating.turn.result_partitions(segment) {
                        let _ = self.reader.incremental_unassign(&list);
                    }
                    let _ = rotating.finished.send(segment);
                }
            }
            if index < self.warmup {
                self.warm.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let now = Instant::now();
            self.outcome.first.get_or_insert(now);
            self.outcome.last = Some(now);
            self.outcome.distinct += 1;
            let output = match &self.rotation {
                Some(_) => message.topic().ends_with(".out"),
                None => message.topic() == self.output_topic,
            };
            if output {
                self.outcome.succeeded += 1;
            } else {
                self.outcome.failed += 1;
            }
            let latency = self
                .schedule
                .as_ref()
                .and_then(|schedule| schedule.due(index))
                .map(|due| now.saturating_duration_since(due));
            if let Some(latency) = latency {
                self.outcome.latencies.record(latency);
            }
            if let Some(sampler) = &mut self.sampler {
                sampler.record(now, latency);
            }
            self.measured
                .store(self.outcome.distinct, Ordering::Relaxed);
            self.progress
                .results
                .store(self.outcome.distinct, Ordering::Relaxed);
        }
        if let Some(mut sampler) = self.sampler.take() {
            // The last, partial interval.
            if sampler.results > 0 {
                if let Some(next) = sampler.next {
                    sampler.tick(next);
                }
            }
            self.outcome.samples = sampler.samples;
        }
        self.outcome
    }
}

/// A `stepstream run` started for one run.
struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn start(
        program: &PathBuf,
        args: &[OsString],
        brokers: &str,
        topics: &Topics,
    ) -> Result<Daemon, String> {
        let log = std::env::temp_dir().join(format!("{}.log", topics.group));
        let stderr = std::fs::File::create(&log)
            .map_err(|err| format!("cannot create {}: {err}", log.display()))?;
        let child = Command::new(program)
            .args(args)
            .env("STEPSTREAM_BROKERS", brokers)
            .env("STEPSTREAM_GROUP_ID", &topics.group)
            .env("STEPSTREAM_INPUT_TOPICS", &topics.input)
            .env("STEPSTREAM_OUTPUT_TOPIC", &topics.output)
            .env("STEPSTREAM_DEAD_LETTER_TOPIC", &topics.dead_letters)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|err| format!("cannot start {}: {err}", program.display()))?;
        Ok(Daemon { child, log })
    }

    /// Why the daemon stopped, if it has.
    fn exited(&mut self) -> Option<String> {
        let status = self.child.try_wait().ok()??;
        Some(format!(
            "the daemon exited ({status}) before the run ended:\n{}",
            self.log_tail()
        ))
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Stops the daemon as an operator would (SIGTERM) and waits for it.
    fn stop(mut self) -> Result<(), String> {
        procfs::terminate(self.child.id());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    let _ = std::fs::remove_file(&self.log);
                    return if status.success() {
                        Ok(())
                    } else {
                        Err(format!(
                            "the daemon exited with {status}:\n{}",
                            self.log_tail()
                        ))
                    };
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return Err("the daemon did not stop within 60 s of SIGTERM".into());
                }
            }
        }
    }
}
