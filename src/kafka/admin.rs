//! Topic administration for tools and tests: creating and deleting topics, without
//! an async runtime (rdkafka's admin futures are completed by the admin client's own thread).

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication, TopicResult};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaResult;
use rdkafka::types::RDKafkaErrorCode;

/// Runs a future to its end on this thread, parking between polls. `None` after `timeout`.
pub fn block_on<F: Future>(future: F, timeout: Duration) -> Option<F::Output> {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let mut future = std::pin::pin!(future);
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    let deadline = Instant::now() + timeout;
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return Some(output);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        std::thread::park_timeout(left.min(Duration::from_millis(50)));
    }
}

/// Creates topics (name, partitions) with replication factor 1; a topic that already exists
/// is not an error.
pub fn create_topics(brokers: &str, topics: &[(&str, i32)]) -> Result<(), String> {
    let admin = client(brokers)?;
    let new_topics: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|&(name, partitions)| NewTopic::new(name, partitions, TopicReplication::Fixed(1)))
        .collect();
    let results = block_on(
        admin.create_topics(&new_topics, &options()),
        REQUEST_TIMEOUT,
    );
    check(
        results,
        brokers,
        "creating",
        RDKafkaErrorCode::TopicAlreadyExists,
    )
}

/// Deletes topics; a topic that does not exist is not an error.
pub fn delete_topics(brokers: &str, topics: &[&str]) -> Result<(), String> {
    let admin = client(brokers)?;
    let results = block_on(admin.delete_topics(topics, &options()), REQUEST_TIMEOUT);
    check(
        results,
        brokers,
        "deleting",
        RDKafkaErrorCode::UnknownTopicOrPartition,
    )
}

/// How long an admin request may take before it is given up.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

fn client(brokers: &str) -> Result<AdminClient<DefaultClientContext>, String> {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .map_err(|err| format!("cannot create an admin client for {brokers}: {err}"))
}

fn options() -> AdminOptions {
    AdminOptions::new()
        .request_timeout(Some(Duration::from_secs(15)))
        .operation_timeout(Some(Duration::from_secs(15)))
}

/// The outcome of a request on topics (`doing` names it: "creating"); `expected` is the
/// per-topic error that means the topic is already as asked.
fn check(
    results: Option<KafkaResult<Vec<TopicResult>>>,
    brokers: &str,
    doing: &str,
    expected: RDKafkaErrorCode,
) -> Result<(), String> {
    let results = results
        .ok_or_else(|| format!("{doing} topics on {brokers} timed out; is the broker running?"))?
        .map_err(|err| format!("{doing} topics on {brokers}: {err}"))?;
    for result in results {
        match result {
            Ok(_) => {}
            Err((_, code)) if code == expected => {}
            Err((topic, code)) => {
                return Err(format!("{doing} topic {topic} on {brokers}: {code}"))
            }
        }
    }
    Ok(())
}
