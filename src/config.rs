//! The daemon's configuration: a TOML file (`config/stepstream.toml` documents every key),
//! with environment and command-line overrides for the usual keys.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::logs::sink::{Destination, Rotation, SinkOptions, WhenFull};
use crate::logs::{LogLevel, LogOptions};

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The state machine definition (ASL JSON), relative to the config file.
    pub state_machine: PathBuf,
    /// The state machine's name in ARNs and MockConfigFile lookups [default: file stem].
    #[serde(default)]
    pub state_machine_name: Option<String>,
    #[serde(default)]
    pub kafka: KafkaConfig,
    #[serde(default)]
    pub workers: WorkersConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub tasks: TasksConfig,
    #[serde(default)]
    pub aws: AwsConfig,
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    #[serde(default)]
    pub logging: LoggingConfig,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Bootstrap servers, `host:port[,host:port…]`.
    pub brokers: String,
    pub group_id: String,
    pub input_topics: Vec<String>,
    pub output_topic: String,
    pub dead_letter_topic: String,
    /// librdkafka consumer settings, passed through as they are.
    pub consumer: BTreeMap<String, String>,
    /// librdkafka producer settings, passed through as they are.
    pub producer: BTreeMap<String, String>,
}

/// What stands in for a credential's value wherever the configuration is shown.
pub const REDACTED: &str = "[redacted]";

/// Whether a librdkafka setting holds a credential (`sasl.password`, `ssl.key.password`,
/// `sasl.oauthbearer.client.secret`, a private key in `ssl.key.pem` …), whose value is never
/// shown in messages, errors or debug output.
pub fn is_secret_setting(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "password",
        "secret",
        "key.pem",
        "ssl_key",
        "oauthbearer.config",
        "jaas",
        "token",
    ]
    .iter()
    .any(|marker| key.contains(marker))
}

impl KafkaConfig {
    /// The values of the credential settings of the consumer and producer.
    fn secrets(&self) -> impl Iterator<Item = &str> {
        self.consumer
            .iter()
            .chain(&self.producer)
            .filter(|(key, value)| is_secret_setting(key) && !value.is_empty())
            .map(|(_, value)| value.as_str())
    }

    /// `text` with every credential value of the configuration replaced by [`REDACTED`], for
    /// messages that may quote librdkafka (which can echo a value it refuses).
    pub fn redact(&self, text: &str) -> String {
        let mut text = text.to_string();
        for secret in self.secrets() {
            text = text.replace(secret, REDACTED);
        }
        text
    }
}

/// The settings maps with credential values replaced.
fn redacted(settings: &BTreeMap<String, String>) -> BTreeMap<&str, &str> {
    settings
        .iter()
        .map(|(key, value)| {
            let shown = if is_secret_setting(key) {
                REDACTED
            } else {
                value.as_str()
            };
            (key.as_str(), shown)
        })
        .collect()
}

impl std::fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaConfig")
            .field("brokers", &self.brokers)
            .field("group_id", &self.group_id)
            .field("input_topics", &self.input_topics)
            .field("output_topic", &self.output_topic)
            .field("dead_letter_topic", &self.dead_letter_topic)
            .field("consumer", &redacted(&self.consumer))
            .field("producer", &redacted(&self.producer))
            .finish()
    }
}

impl Default for KafkaConfig {
    fn default() -> KafkaConfig {
        KafkaConfig {
            brokers: "127.0.0.1:9092".into(),
            group_id: "stepstream".into(),
            input_topics: vec!["stepstream-in".into()],
            output_topic: "stepstream-out".into(),
            dead_letter_topic: "stepstream-dlq".into(),
            consumer: BTreeMap::new(),
            producer: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkersConfig {
    /// Worker threads; 0 means one per core.
    pub count: usize,
    /// Most executions in flight; the Kafka stage reads further events ahead (up to
    /// `max_in_flight_bytes`), reading from standard input pauses.
    pub max_in_flight: usize,
    /// Most bytes of events the Kafka stage holds, in flight (payload and key) and read
    /// ahead; consumption pauses when reached.
    pub max_in_flight_bytes: usize,
    /// Seconds to finish in-flight executions after SIGTERM/SIGINT before exiting.
    pub shutdown_grace_seconds: u64,
}

impl Default for WorkersConfig {
    fn default() -> WorkersConfig {
        WorkersConfig {
            count: 0,
            max_in_flight: 100_000,
            max_in_flight_bytes: 64 << 20,
            shutdown_grace_seconds: 30,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Longest execution (Express: 300 s).
    pub execution_timeout_seconds: u64,
    /// Largest event, state input or output, in bytes (AWS: 262,144).
    pub max_payload_bytes: usize,
    /// Scale of waits and retry back-offs: 1 real time, 0 instant.
    pub time_scale: f64,
}

impl Default for LimitsConfig {
    fn default() -> LimitsConfig {
        LimitsConfig {
            execution_timeout_seconds: 300,
            max_payload_bytes: 262_144,
            time_scale: 1.0,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TasksConfig {
    /// A MockConfigFile serving Task states, relative to the config file.
    pub mock_config: Option<PathBuf>,
    /// The test case of the MockConfigFile to use.
    pub test_case: Option<String>,
    /// Threads of the async runtime the HTTP and Lambda calls run on.
    pub io_threads: usize,
    pub http: HttpTaskConfig,
    pub lambda: LambdaTaskConfig,
}

impl Default for TasksConfig {
    fn default() -> TasksConfig {
        TasksConfig {
            mock_config: None,
            test_case: None,
            io_threads: 1,
            http: HttpTaskConfig::default(),
            lambda: LambdaTaskConfig::default(),
        }
    }
}

/// The HTTP Task (`arn:aws:states:::http:invoke`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpTaskConfig {
    /// Hosts HTTP Tasks may call: `host` (any port) or `host:port`; `*` allows every host.
    /// Empty (the default) denies every call.
    pub allow: Vec<String>,
    /// Request header names whose values never appear in history or logs (besides
    /// `Authorization`, which never does).
    pub secret_headers: Vec<String>,
}

/// Lambda invoke (`arn:aws:states:::lambda:invoke` and function ARNs).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LambdaTaskConfig {
    /// Function name (or ARN) → base URL of an endpoint speaking the Lambda Invoke API
    /// (`http://host:port`, as the Lambda Runtime Interface Emulator serves it).
    pub functions: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AwsConfig {
    pub region: String,
    pub account: String,
}

impl Default for AwsConfig {
    fn default() -> AwsConfig {
        AwsConfig {
            region: "us-east-1".into(),
            account: "123456789012".into(),
        }
    }
}

/// Metrics and health.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// Where the HTTP listener for `/metrics`, `/healthz` and `/readyz` binds
    /// (`host:port`); none by default.
    pub listen: Option<String>,
}

/// The executions' log records (Express execution history as logs).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingConfig {
    /// ALL, ERROR, FATAL or OFF [default: ERROR for the Kafka stage, OFF for `run` over
    /// standard input].
    #[serde(deserialize_with = "log_level")]
    pub level: Option<LogLevel>,
    /// Whether records carry input, output and Task parameters (AWS's
    /// `includeExecutionData`).
    pub include_execution_data: bool,
    pub destination: LogDestination,
    /// The file, with `destination = "file"` (relative to the config file).
    pub path: Option<PathBuf>,
    /// The topic, with `destination = "kafka"` (on the `[kafka]` brokers).
    pub topic: String,
    /// What workers do when the sink is behind: wait, or drop records (counted).
    pub when_full: WhenFullConfig,
    /// Bytes a worker gathers before handing them to the sink.
    pub batch_bytes: usize,
    /// Bytes of batches queued for the sink before workers wait or drop.
    pub buffer_bytes: usize,
    /// With `destination = "file"`: the size at which the file is rotated (0: never).
    pub max_file_bytes: u64,
    /// Rotated files kept beside the current one (`path.1` is the newest).
    pub keep_files: u32,
    /// librdkafka producer settings for `destination = "kafka"`, passed through as they are.
    pub producer: BTreeMap<String, String>,
}

impl Default for LoggingConfig {
    fn default() -> LoggingConfig {
        LoggingConfig {
            level: None,
            include_execution_data: false,
            destination: LogDestination::Stdout,
            path: None,
            topic: "stepstream-logs".into(),
            when_full: WhenFullConfig::Block,
            batch_bytes: 64 << 10,
            buffer_bytes: 8 << 20,
            max_file_bytes: 100 << 20,
            keep_files: 5,
            producer: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogDestination {
    Stdout,
    Stderr,
    File,
    Kafka,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WhenFullConfig {
    Block,
    Drop,
}

fn log_level<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<LogLevel>, D::Error> {
    let text = String::deserialize(deserializer)?;
    text.parse().map(Some).map_err(serde::de::Error::custom)
}

impl LoggingConfig {
    /// The level in force: the configured one, else ERROR for the Kafka stage and OFF for a
    /// pipeline whose standard output carries the results.
    pub fn level_for(&self, kafka: bool) -> LogLevel {
        self.level.unwrap_or(if kafka {
            LogLevel::Error
        } else {
            LogLevel::Off
        })
    }

    /// The sink's options for a stage on `kafka`'s brokers.
    pub fn sink_options(&self, level: LogLevel, kafka: &KafkaConfig) -> SinkOptions {
        let destination = match self.destination {
            LogDestination::Stdout => Destination::Stdout,
            LogDestination::Stderr => Destination::Stderr,
            LogDestination::File => Destination::File(self.path.clone().unwrap_or_default()),
            LogDestination::Kafka => Destination::Kafka {
                brokers: kafka.brokers.clone(),
                topic: self.topic.clone(),
                producer: self.producer.clone(),
            },
        };
        SinkOptions {
            records: LogOptions {
                level,
                include_execution_data: self.include_execution_data,
            },
            destination,
            when_full: match self.when_full {
                WhenFullConfig::Block => WhenFull::Block,
                WhenFullConfig::Drop => WhenFull::Drop,
            },
            batch_bytes: self.batch_bytes,
            buffer_bytes: self.buffer_bytes,
            rotation: (self.max_file_bytes > 0).then_some(Rotation {
                max_bytes: self.max_file_bytes,
                keep: self.keep_files,
            }),
        }
    }
}

/// A configuration problem.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl Config {
    /// Reads a config file; relative paths in it are taken from the file's folder.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        let mut config = Config::parse(&text).map_err(|message| ConfigError::Invalid {
            path: path.into(),
            message,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.state_machine = base.join(&config.state_machine);
        if let Some(mock) = &config.tasks.mock_config {
            config.tasks.mock_config = Some(base.join(mock));
        }
        if let Some(log_file) = &config.logging.path {
            config.logging.path = Some(base.join(log_file));
        }
        Ok(config)
    }

    /// Parses config text (paths stay as written).
    pub fn parse(text: &str) -> Result<Config, String> {
        let config: Config = toml::from_str(text).map_err(|err| toml_error(text, &err))?;
        config.check()?;
        Ok(config)
    }

    /// Applies the environment's overrides: `STEPSTREAM_BROKERS`, `STEPSTREAM_GROUP_ID`,
    /// `STEPSTREAM_INPUT_TOPICS` (comma-separated), `STEPSTREAM_OUTPUT_TOPIC`,
    /// `STEPSTREAM_DEAD_LETTER_TOPIC`, `STEPSTREAM_WORKERS`, `STEPSTREAM_MAX_IN_FLIGHT`,
    /// `STEPSTREAM_TIME_SCALE`, `STEPSTREAM_LOG_LEVEL`.
    pub fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), String> {
        if let Some(value) = env("STEPSTREAM_BROKERS") {
            self.kafka.brokers = value;
        }
        if let Some(value) = env("STEPSTREAM_GROUP_ID") {
            self.kafka.group_id = value;
        }
        if let Some(value) = env("STEPSTREAM_INPUT_TOPICS") {
            self.kafka.input_topics = value
                .split(',')
                .map(|topic| topic.trim().to_string())
                .filter(|topic| !topic.is_empty())
                .collect();
        }
        if let Some(value) = env("STEPSTREAM_OUTPUT_TOPIC") {
            self.kafka.output_topic = value;
        }
        if let Some(value) = env("STEPSTREAM_DEAD_LETTER_TOPIC") {
            self.kafka.dead_letter_topic = value;
        }
        let number = |name: &str, value: String| {
            value
                .parse::<usize>()
                .map_err(|_| format!("{name} must be a whole number, not {value:?}"))
        };
        if let Some(value) = env("STEPSTREAM_WORKERS") {
            self.workers.count = number("STEPSTREAM_WORKERS", value)?;
        }
        if let Some(value) = env("STEPSTREAM_MAX_IN_FLIGHT") {
            self.workers.max_in_flight = number("STEPSTREAM_MAX_IN_FLIGHT", value)?;
        }
        if let Some(value) = env("STEPSTREAM_TELEMETRY_LISTEN") {
            self.telemetry.listen = Some(value);
        }
        if let Some(value) = env("STEPSTREAM_LOG_LEVEL") {
            self.logging.level = Some(
                value
                    .parse()
                    .map_err(|err| format!("STEPSTREAM_LOG_LEVEL: {err}"))?,
            );
        }
        if let Some(value) = env("STEPSTREAM_TIME_SCALE") {
            self.limits.time_scale = value
                .parse()
                .map_err(|_| format!("STEPSTREAM_TIME_SCALE must be a number, not {value:?}"))?;
        }
        self.check()
    }

    /// Checks values serde cannot.
    pub fn check(&self) -> Result<(), String> {
        let kafka = &self.kafka;
        if kafka.input_topics.is_empty() {
            return Err("kafka.input_topics must name at least one topic".into());
        }
        for (key, value) in [
            ("kafka.brokers", &kafka.brokers),
            ("kafka.group_id", &kafka.group_id),
            ("kafka.output_topic", &kafka.output_topic),
            ("kafka.dead_letter_topic", &kafka.dead_letter_topic),
        ] {
            if value.trim().is_empty() {
                return Err(format!("{key} must not be empty"));
            }
        }
        // `{topic}` in the output and dead-letter topics stands for the event's input topic.
        let route = crate::kafka::route;
        if kafka.input_topics.iter().any(|topic| {
            *topic == route(&kafka.output_topic, topic)
                || *topic == route(&kafka.dead_letter_topic, topic)
        }) {
            return Err("an input topic must not also be the output or dead-letter topic".into());
        }
        if self.workers.max_in_flight == 0 {
            return Err("workers.max_in_flight must be at least 1".into());
        }
        if self.workers.max_in_flight_bytes == 0 {
            return Err("workers.max_in_flight_bytes must be at least 1".into());
        }
        if !(self.limits.time_scale >= 0.0 && self.limits.time_scale.is_finite()) {
            return Err("limits.time_scale must be a number ≥ 0".into());
        }
        if self.limits.execution_timeout_seconds == 0 {
            return Err("limits.execution_timeout_seconds must be at least 1".into());
        }
        let logging = &self.logging;
        match logging.destination {
            LogDestination::File if logging.path.is_none() => {
                return Err(
                    "logging.path must name a file when logging.destination is \"file\"".into(),
                )
            }
            LogDestination::Kafka if logging.topic.trim().is_empty() => {
                return Err("logging.topic must not be empty".into())
            }
            LogDestination::Kafka if kafka.input_topics.contains(&logging.topic) => {
                return Err("logging.topic must not also be an input topic".into())
            }
            _ => {}
        }
        if logging.batch_bytes == 0 || logging.buffer_bytes < logging.batch_bytes {
            return Err(
                "logging.batch_bytes must be at least 1, and logging.buffer_bytes at least logging.batch_bytes"
                    .into(),
            );
        }
        self.tasks.check()
    }
}

impl TasksConfig {
    /// The real integrations' settings this configuration gives.
    pub fn integrations(&self, aws: &AwsConfig) -> crate::tasks::Integrations {
        use crate::tasks::{client::AllowList, http::HttpSettings, lambda::LambdaSettings};
        crate::tasks::Integrations {
            io_threads: self.io_threads,
            http: HttpSettings {
                allow: AllowList::new(&self.http.allow),
                secret_headers: self.http.secret_headers.clone(),
                region: aws.region.clone(),
            },
            lambda: LambdaSettings {
                functions: self
                    .lambda
                    .functions
                    .iter()
                    .map(|(name, endpoint)| (name.clone(), endpoint.clone()))
                    .collect(),
                region: aws.region.clone(),
                account: aws.account.clone(),
            },
        }
    }

    /// Checks the task integrations' values.
    pub fn check(&self) -> Result<(), String> {
        if self.io_threads == 0 {
            return Err("tasks.io_threads must be at least 1".into());
        }
        for (function, endpoint) in &self.lambda.functions {
            if !endpoint.starts_with("http://") {
                return Err(format!(
                    "tasks.lambda.functions.{function:?}: the endpoint {endpoint:?} must be an http:// URL (HTTPS is not supported)"
                ));
            }
        }
        for entry in &self.http.allow {
            if entry.trim().is_empty() || entry.contains('/') {
                return Err(format!(
                    "tasks.http.allow: {entry:?} is not a host or host:port"
                ));
            }
        }
        Ok(())
    }
}

/// A TOML error as the toml crate prints it (with the line it points at), unless that line
/// names a credential setting: then only where, without the line or the parser's message
/// (which can quote the value).
fn toml_error(text: &str, err: &toml::de::Error) -> String {
    let Some(span) = err.span() else {
        return err.to_string();
    };
    let at = span.start.min(text.len());
    let line_start = text[..at].rfind('\n').map_or(0, |index| index + 1);
    let line_end = text[at..].find('\n').map_or(text.len(), |index| at + index);
    let line = &text[line_start..line_end];
    let secret = line
        .split(|ch: char| ch == '"' || ch == '\'' || ch == '=' || ch.is_whitespace() || ch == ',')
        .any(|word| !word.is_empty() && is_secret_setting(word) && line.contains('='));
    if !secret {
        return err.to_string();
    }
    let number = text[..line_start].matches('\n').count() + 1;
    format!(
        "TOML parse error at line {number}: the value of a credential setting is invalid (not shown)"
    )
}

#[cfg(test)]
mod tests {
    use super::Config;

    #[test]
    fn credentials_are_never_shown() {
        let text = "state_machine = \"m.json\"\n[kafka.consumer]\n\"sasl.username\" = \"u\"\n\"sasl.password\" = \"hunter2-pass\"\n[kafka.producer]\n\"ssl.key.password\" = \"hunter3-key\"\n\"linger.ms\" = \"7\"";
        let config = Config::parse(text).expect("valid");
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("hunter3"),
            "{shown}"
        );
        assert!(
            shown.contains("\"sasl.username\": \"u\"") && shown.contains("\"linger.ms\": \"7\""),
            "{shown}"
        );
        assert!(
            shown.contains("\"sasl.password\": \"[redacted]\""),
            "{shown}"
        );
        assert_eq!(
            config
                .kafka
                .redact("Invalid value \"hunter2-pass\" for hunter3-key"),
            "Invalid value \"[redacted]\" for [redacted]"
        );
        // A value of the wrong type: the parser's message would quote it, with its line.
        let text = "state_machine = \"m.json\"\n[kafka.consumer]\n\"sasl.password\" = 987654321";
        let err = Config::parse(text).expect_err("a number is not a string");
        assert!(!err.contains("987654321"), "{err}");
        assert!(
            err.contains("line 3") && err.contains("credential"),
            "{err}"
        );
        // An unterminated string.
        let text = "state_machine = \"m.json\"\n[kafka.producer]\nsasl.password = \"hunter4\n";
        let err = Config::parse(text).expect_err("unterminated");
        assert!(!err.contains("hunter4"), "{err}");
        // Other errors keep the line they point at.
        let text = "state_machine = \"m.json\"\n[workers]\ncount = \"many\"";
        let err = Config::parse(text).expect_err("a string is not a count");
        assert!(err.contains("count = \"many\""), "{err}");
        for key in [
            "sasl.password",
            "ssl.key.password",
            "sasl.oauthbearer.client.secret",
            "ssl.key.pem",
            "SASL.PASSWORD",
        ] {
            assert!(super::is_secret_setting(key), "{key}");
        }
        for key in [
            "sasl.username",
            "sasl.mechanism",
            "ssl.ca.location",
            "linger.ms",
        ] {
            assert!(!super::is_secret_setting(key), "{key}");
        }
    }

    fn check(text: &str, expected_error: Option<&str>) {
        match (Config::parse(text), expected_error) {
            (Ok(_), None) => {}
            (Err(err), Some(part)) => {
                assert!(err.contains(part), "{err:?} should mention {part:?}")
            }
            (result, expected) => panic!("{text:?}: got {result:?}, expected error {expected:?}"),
        }
    }

    #[test]
    fn config_files() {
        check("state_machine = \"m.json\"", None);
        check("state_machine = \"m.json\"\n[kafka]\nbrokers = \"h:1\"\ninput_topics = [\"a\", \"b\"]\n[kafka.consumer]\n\"fetch.min.bytes\" = \"1\"", None);
        check(
            "state_machine = \"m.json\"\nstate_machin = 1",
            Some("unknown field"),
        );
        check("[kafka]\nbrokers = \"h:1\"", Some("state_machine"));
        check(
            "state_machine = \"m.json\"\n[kafka]\ninput_topics = []",
            Some("at least one topic"),
        );
        check(
            "state_machine = \"m.json\"\n[kafka]\ninput_topics = [\"x\"]\noutput_topic = \"x\"",
            Some("must not also be"),
        );
        check(
            "state_machine = \"m.json\"\n[kafka]\ninput_topics = [\"x\"]\ndead_letter_topic = \"{topic}\"",
            Some("must not also be"),
        );
        check(
            "state_machine = \"m.json\"\n[kafka]\ninput_topics = [\"^orders-.*\"]\noutput_topic = \"{topic}.out\"\ndead_letter_topic = \"{topic}.dlq\"",
            None,
        );
        check(
            "state_machine = \"m.json\"\n[workers]\nmax_in_flight = 0",
            Some("at least 1"),
        );
        check(
            "state_machine = \"m.json\"\n[limits]\ntime_scale = -1.0",
            Some("time_scale"),
        );
        check(
            "state_machine = \"m.json\"\n[workers]\nthreads = 2",
            Some("unknown field"),
        );
        check(
            "state_machine = \"m.json\"\n[logging]\nlevel = \"error\"\ndestination = \"kafka\"\nwhen_full = \"drop\"\n[logging.producer]\n\"linger.ms\" = \"100\"",
            None,
        );
        check(
            "state_machine = \"m.json\"\n[logging]\nlevel = \"LOUD\"",
            Some("expected ALL, ERROR, FATAL or OFF"),
        );
        check(
            "state_machine = \"m.json\"\n[logging]\ndestination = \"file\"",
            Some("logging.path"),
        );
        check(
            "state_machine = \"m.json\"\n[logging]\ndestination = \"syslog\"",
            Some("unknown variant"),
        );
        check(
            "state_machine = \"m.json\"\n[logging]\ndestination = \"kafka\"\ntopic = \"stepstream-in\"",
            Some("input topic"),
        );
        check(
            "state_machine = \"m.json\"\n[logging]\nbatch_bytes = 100\nbuffer_bytes = 10",
            Some("buffer_bytes"),
        );
        check(
            "state_machine = \"m.json\"\n[tasks.http]\nallow = [\"127.0.0.1:8080\", \"api.example.com\"]\nsecret_headers = [\"X-Api-Key\"]\n[tasks.lambda.functions]\nf = \"http://127.0.0.1:9001\"",
            None,
        );
        check(
            "state_machine = \"m.json\"\n[tasks.lambda.functions]\nf = \"https://lambda\"",
            Some("http:// URL"),
        );
        check(
            "state_machine = \"m.json\"\n[tasks.http]\nallow = [\"http://x/\"]",
            Some("not a host"),
        );
        check(
            "state_machine = \"m.json\"\n[tasks.http]\ndeny = []",
            Some("unknown field"),
        );
        check(
            "state_machine = \"m.json\"\n[tasks]\nio_threads = 0",
            Some("io_threads"),
        );
    }

    #[test]
    fn the_documented_config_file_loads() {
        let path = std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/config/stepstream.toml"
        ));
        let config = Config::load(path).unwrap_or_else(|err| panic!("{err}"));
        assert!(config
            .state_machine
            .ends_with("config/examples/order.asl.json"));
        assert_eq!(config.workers.max_in_flight, 100_000);
        assert_eq!(config.workers.max_in_flight_bytes, 64 << 20);
        assert_eq!(config.logging.level, None);
        assert_eq!(config.logging.level_for(true), crate::logs::LogLevel::Error);
        assert_eq!(config.logging.level_for(false), crate::logs::LogLevel::Off);
        assert!(!config.logging.include_execution_data);
    }

    #[test]
    fn environment_overrides() {
        let mut config =
            Config::parse("state_machine = \"m.json\"").unwrap_or_else(|err| panic!("{err}"));
        let env = |name: &str| match name {
            "STEPSTREAM_BROKERS" => Some("10.0.0.1:9092".to_string()),
            "STEPSTREAM_INPUT_TOPICS" => Some("a, b,".to_string()),
            "STEPSTREAM_MAX_IN_FLIGHT" => Some("7".to_string()),
            _ => None,
        };
        config.apply_env(env).unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(config.kafka.brokers, "10.0.0.1:9092");
        assert_eq!(
            config.kafka.input_topics,
            vec!["a".to_string(), "b".to_string()]
        );
        assert_eq!(config.workers.max_in_flight, 7);
        let bad =
            config.apply_env(|name| (name == "STEPSTREAM_WORKERS").then(|| "many".to_string()));
        assert!(bad.is_err());
    }
}
