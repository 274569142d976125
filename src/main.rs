//! The `stepstream` command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use stepstream::json::{self, Value};

use stepstream::config::{AwsConfig, Config, LogDestination, TasksConfig};
use stepstream::exec::{self, ExecOptions, Status};
use stepstream::kafka::{self, KafkaOptions};
use stepstream::logs::sink::{LogSink, SinkReport};
use stepstream::logs::{self, LogLevel, LogOptions};
use stepstream::pipeline::{self, LineOptions};
use stepstream::pool::PoolOptions;
use stepstream::tasks::{mock, Chain, Integrations, MockConfig, TaskHandler};
use stepstream::{asl, bench, compile};

/// Prints a line to stdout; a closed pipe (`stepstream … | head`) is not an error.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// Prints to stdout without a newline, ignoring a closed pipe.
macro_rules! out_raw {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout().lock(), $($arg)*);
    }};
}

#[global_allocator]
static GLOBAL: stepstream::alloc::MiMalloc = stepstream::alloc::MiMalloc;

/// Runs AWS Step Functions state machines (Amazon States Language) the way Express
/// workflows do.
#[derive(Parser)]
#[command(name = "stepstream", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Checks definitions and prints every problem with its JSON pointer (exit 1 if any).
    Validate {
        /// Definition files (ASL JSON).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Compiles a definition; `--dump` prints the readable bytecode listing.
    Compile {
        file: PathBuf,
        #[arg(long)]
        dump: bool,
    },
    /// Runs one execution and prints a StartSyncExecution-shaped result
    /// (exit 0 succeeded, 1 failed or timed out, 2 invalid definition or usage).
    Exec(ExecArgs),
    /// Runs one state alone, as AWS TestState does, and prints its result: output, error,
    /// next state, status, (at DEBUG) the value after each data-flow stage and the variables,
    /// and (at TRACE) an HTTP Task's request and response
    /// (exit 0 succeeded or caught, 1 failed or retriable, 2 usage).
    TestState(TestStateArgs),
    /// Runs the pipeline stage: one execution per event, outputs and dead letters out.
    Run(RunArgs),
    /// Measures a pipeline through a real broker (the stage beside a no-op pipe), or the
    /// engine alone: events/s, latency percentiles, outcomes, CPU and peak memory.
    Bench(BenchArgs),
}

/// What every running command needs: the definition and how its tasks and time behave.
#[derive(clap::Args)]
struct MachineArgs {
    /// Definition file (ASL JSON).
    file: PathBuf,
    /// State machine name (ARNs; the MockConfigFile StateMachines key) [default: the file
    /// name up to its first dot].
    #[arg(long)]
    state_machine: Option<String>,
    /// MockConfigFile with mocked task responses (default: $SFN_MOCK_CONFIG).
    #[arg(long)]
    mock_config: Option<PathBuf>,
    /// Test case of the MockConfigFile to use.
    #[arg(long)]
    test_case: Option<String>,
    /// Scale of waits and retry back-offs: 1 real time, 0 instant.
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// When the execution starts (ISO 8601, e.g. 2026-01-31T12:00:00Z) [default: now]: Wait
    /// timestamps and `$$.Execution.StartTime` then behave the same on any day.
    #[arg(long, value_name = "TIMESTAMP")]
    start_time: Option<String>,
    /// Largest payload in bytes.
    #[arg(long, default_value_t = 262_144)]
    max_payload_bytes: usize,
    /// A daemon configuration file whose [tasks] (HTTP allow list, secret headers, Lambda
    /// endpoints, MockConfigFile) and [aws] sections apply, as they do for `run`.
    #[arg(long)]
    config: Option<PathBuf>,
    /// A host (any port) or host:port HTTP Tasks may call; repeatable (adds to --config's).
    #[arg(long, value_name = "HOST[:PORT]")]
    http_allow: Vec<String>,
    /// A request header whose value never appears in history or logs (besides
    /// Authorization); repeatable.
    #[arg(long, value_name = "NAME")]
    secret_header: Vec<String>,
    /// A Lambda function (name or ARN) and the base URL of the endpoint serving it (the
    /// Lambda Invoke API, as the Runtime Interface Emulator speaks it); repeatable.
    #[arg(long, value_name = "FUNCTION=URL")]
    lambda_endpoint: Vec<String>,
}

#[derive(clap::Args)]
struct ExecArgs {
    #[command(flatten)]
    machine: MachineArgs,
    /// Execution input as JSON text.
    #[arg(long, conflicts_with = "input_file")]
    input: Option<String>,
    /// File holding the execution input.
    #[arg(long)]
    input_file: Option<PathBuf>,
    /// Execution name.
    #[arg(long, default_value = "local")]
    name: String,
    /// Adds the execution's history events to the result.
    #[arg(long)]
    history: bool,
    /// Prints the log records of the execution's history events to standard error, one JSON
    /// line each, as an Express workflow writes them to CloudWatch Logs.
    #[arg(long)]
    logs: bool,
    /// Which events --logs prints: ALL, ERROR (failures, aborts and time-outs), FATAL (the
    /// execution's failure, time-out or abort) or OFF.
    #[arg(long, value_name = "LEVEL", default_value = "ALL", requires = "logs")]
    log_level: LogLevel,
    /// Leaves input, output and task parameters out of the --logs records
    /// (includeExecutionData: false).
    #[arg(long, requires = "logs")]
    no_execution_data: bool,
}

#[derive(clap::Args)]
struct TestStateArgs {
    #[command(flatten)]
    machine: MachineArgs,
    /// The state to run (a top-level state of the definition).
    #[arg(long)]
    state: String,
    /// The state's input as JSON text.
    #[arg(long, conflicts_with = "input_file")]
    input: Option<String>,
    /// File holding the state's input.
    #[arg(long)]
    input_file: Option<PathBuf>,
    /// INFO (result only), DEBUG (and every data-flow stage) or TRACE.
    #[arg(long, default_value = "DEBUG")]
    inspection_level: String,
    /// The Task's result, as JSON text (instead of calling its resource).
    #[arg(long, conflicts_with_all = ["mock_error", "mock_config"])]
    mock_result: Option<String>,
    /// The Task's error name (instead of calling its resource).
    #[arg(long, conflicts_with = "mock_config")]
    mock_error: Option<String>,
    /// The cause that goes with --mock-error.
    #[arg(long, requires = "mock_error")]
    mock_cause: Option<String>,
    /// Variables in the state's scope, as a JSON object of names and values (`$name` reads
    /// them).
    #[arg(long, value_name = "JSON", conflicts_with = "variables_file")]
    variables: Option<String>,
    /// File holding the variables (a JSON object).
    #[arg(long, value_name = "FILE")]
    variables_file: Option<PathBuf>,
    /// Context object fields, as a JSON object put over the ones the run builds (what `$$`
    /// and `$states.context` read), e.g. {"Execution": {"Id": "…"}, "Task": {"Token": "…"}}.
    #[arg(long, value_name = "JSON", conflicts_with = "context_file")]
    context: Option<String>,
    /// File holding the context object fields (a JSON object).
    #[arg(long, value_name = "FILE")]
    context_file: Option<PathBuf>,
    /// Shows the values of secret headers (Authorization and --secret-header ones) in the
    /// HTTP request TRACE shows; masked by default.
    #[arg(long)]
    reveal_secrets: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Source {
    /// JSON lines on standard input, one event per line.
    Stdin,
    /// The config's input topics, as a member of its consumer group.
    Kafka,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Sink {
    /// Outputs as JSON lines on standard output; dead letters as JSON lines on standard error.
    Stdout,
    /// The config's output and dead-letter topics.
    Kafka,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Definition file (ASL JSON); or `state_machine` in the config file.
    file: Option<PathBuf>,
    /// TOML configuration (see config/stepstream.toml); its Kafka settings make Kafka the
    /// default source and sink.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Where events come from [default: kafka with --config, else stdin].
    #[arg(long, value_enum)]
    source: Option<Source>,
    /// Where results go [default: kafka when the source is kafka, else stdout].
    #[arg(long, value_enum)]
    sink: Option<Sink>,
    /// Kafka bootstrap servers (overrides the config and STEPSTREAM_BROKERS).
    #[arg(long)]
    brokers: Option<String>,
    /// State machine name (ARNs; the MockConfigFile StateMachines key).
    #[arg(long)]
    state_machine: Option<String>,
    /// MockConfigFile with mocked task responses (default: $SFN_MOCK_CONFIG).
    #[arg(long)]
    mock_config: Option<PathBuf>,
    /// Test case of the MockConfigFile to use.
    #[arg(long)]
    test_case: Option<String>,
    /// Scale of waits and retry back-offs: 1 real time, 0 instant.
    #[arg(long)]
    time_scale: Option<f64>,
    /// Largest payload in bytes.
    #[arg(long)]
    max_payload_bytes: Option<usize>,
    /// Worker threads [default: one per core].
    #[arg(long)]
    workers: Option<usize>,
    /// Most executions in flight; consumption pauses when reached.
    #[arg(long)]
    max_in_flight: Option<usize>,
    /// Runs no state machine: each event's payload is produced as its output. Measures the
    /// pipe (consume → produce, commits included) around the engine.
    #[arg(long)]
    no_op: bool,
    /// Serves /metrics (Prometheus), /healthz and /readyz on this address (host:port).
    #[arg(long)]
    telemetry_listen: Option<String>,
    #[command(flatten)]
    logging: LoggingArgs,
}

/// The log records of the executions a pipeline runs.
#[derive(clap::Args, Clone, Default)]
struct LoggingArgs {
    /// Which history events become log records: ALL, ERROR, FATAL or OFF [default: the
    /// config's [logging] level, else ERROR for the Kafka stage and OFF over standard input].
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<LogLevel>,
    /// Appends the log records to this file (instead of the config's [logging] destination).
    #[arg(long, value_name = "FILE")]
    log_file: Option<PathBuf>,
}

#[derive(clap::Args)]
struct BenchArgs {
    /// Definition file (ASL JSON); or `state_machine` in the config file.
    file: Option<PathBuf>,
    /// The events: a JSON-lines file, cycled [default: inputs.jsonl beside the definition].
    #[arg(long, conflicts_with = "event")]
    inputs: Option<PathBuf>,
    /// One event for all: JSON text in which `${seq}` becomes the event's number.
    #[arg(long)]
    event: Option<String>,
    /// Events to measure.
    #[arg(long, default_value_t = 100_000)]
    events: u64,
    /// Events per second, produced while the daemon runs (latency is measured). Without it
    /// the events are a backlog produced before the daemon starts (top throughput).
    #[arg(long)]
    rate: Option<f64>,
    /// Runs the engine in this process, without Kafka: events from memory into the worker
    /// pool, results back.
    #[arg(long)]
    engine_only: bool,
    /// Configuration of the daemon (as for `run`); the run's topics and group replace its own.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Kafka bootstrap servers [default: the config's, $STEPSTREAM_BROKERS, 127.0.0.1:9092].
    #[arg(long)]
    brokers: Option<String>,
    /// Partitions of each topic the run creates.
    #[arg(long, default_value_t = 4)]
    partitions: i32,
    /// Worker threads [default: one per core; 1 with --engine-only].
    #[arg(long)]
    workers: Option<usize>,
    /// Most executions in flight [default: the config's; 4096 with --engine-only].
    #[arg(long)]
    max_in_flight: Option<usize>,
    /// Scale of waits and retry back-offs: 1 real time, 0 instant [default: the config's, 1].
    #[arg(long)]
    time_scale: Option<f64>,
    /// MockConfigFile with mocked task responses (default: $SFN_MOCK_CONFIG).
    #[arg(long)]
    mock_config: Option<PathBuf>,
    /// Test case of the MockConfigFile to use.
    #[arg(long)]
    test_case: Option<String>,
    /// State machine name (ARNs; the MockConfigFile StateMachines key).
    #[arg(long)]
    state_machine: Option<String>,
    /// Skips the no-op pipe run (the stage only).
    #[arg(long)]
    no_compare: bool,
    /// Events sent and answered before a paced run starts measuring (group join, caches).
    #[arg(long, default_value_t = 1000)]
    warmup: u64,
    /// Ends a run when no new result has come for this many seconds.
    #[arg(long, default_value_t = 30)]
    stall_timeout: u64,
    /// Prints the latency percentiles and the daemon's resident memory of each interval of
    /// this many seconds as the run goes, and adds them to the report (a soak test)
    #[arg(long, value_name = "SECONDS")]
    sample_every: Option<u64>,
    /// Moves a paced run to new topics every this many seconds and deletes each set once all
    /// its events have results, so that a long run (a soak) does not fill a broker that keeps
    /// every record. The daemon subscribes to the sets by a pattern and finds each at its
    /// next metadata refresh: set `topic.metadata.refresh.interval.ms` low in the config's
    /// `[kafka.consumer]` (scripts/soak.sh does).
    #[arg(
        long,
        value_name = "SECONDS",
        requires = "rate",
        conflicts_with = "attach"
    )]
    rotate_topics: Option<u64>,
    /// Measures a daemon that is already running: its input topic (with --output-topic and
    /// --dead-letter-topic). No no-op pipe is run.
    #[arg(long, requires_all = ["output_topic", "dead_letter_topic"])]
    attach: Option<String>,
    /// The attached daemon's output topic.
    #[arg(long)]
    output_topic: Option<String>,
    /// The attached daemon's dead-letter topic.
    #[arg(long)]
    dead_letter_topic: Option<String>,
    /// The attached daemon's process id, for its CPU and peak memory.
    #[arg(long)]
    pid: Option<u32>,
    /// Prints the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    logging: LoggingArgs,
}

/// A CLI failure with its exit code.
struct Failure {
    code: u8,
    message: String,
}

fn usage(message: impl Into<String>) -> Failure {
    Failure {
        code: 2,
        message: message.into(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate { files } => validate(&files),
        Command::Compile { file, dump } => compile_file(&file, dump),
        Command::Exec(args) => exec_command(args),
        Command::TestState(args) => test_state_command(args),
        Command::Run(args) => run_command(args),
        Command::Bench(args) => bench_command(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            eprintln!("stepstream: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

fn read(path: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(path)
        .map_err(|err| usage(format!("cannot read {}: {err}", path.display())))
}

fn validate(files: &[PathBuf]) -> Result<u8, Failure> {
    let mut invalid = false;
    for file in files {
        let text = read(file)?;
        match asl::parse(&text) {
            Ok(_) => out!("{}: valid", file.display()),
            Err(problems) => {
                invalid = true;
                out!(
                    "{}: {} problem{}",
                    file.display(),
                    problems.len(),
                    if problems.len() == 1 { "" } else { "s" }
                );
                for problem in problems {
                    out!("  {problem}");
                }
            }
        }
    }
    Ok(u8::from(invalid))
}

/// Reads, validates and compiles a definition; problems are a usage failure (exit 2).
fn load_program(file: &Path) -> Result<compile::Program, Failure> {
    let text = read(file)?;
    let machine = asl::parse(&text).map_err(|problems| {
        let list: Vec<String> = problems
            .iter()
            .map(|problem| format!("  {problem}"))
            .collect();
        usage(format!(
            "{} is not a valid state machine:\n{}",
            file.display(),
            list.join("\n")
        ))
    })?;
    Ok(compile::compile(&machine))
}

fn compile_file(file: &Path, dump: bool) -> Result<u8, Failure> {
    let program = load_program(file)?;
    if dump {
        out_raw!("{}", program.dump());
    } else {
        out!(
            "{}: {} states, {} ops",
            file.display(),
            program.states.len(),
            program.ops.len()
        );
    }
    Ok(0)
}

impl MachineArgs {
    /// The state machine's name: given, or the definition file's name up to its first dot
    /// (`order.asl.json` is `order`).
    fn state_machine_name(&self) -> String {
        if let Some(name) = &self.state_machine {
            return name.clone();
        }
        let file_name = self
            .file
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        match file_name.split('.').next() {
            Some(stem) if !stem.is_empty() => stem.to_string(),
            _ => "StateMachine".to_string(),
        }
    }

    fn check(&self) -> Result<(), Failure> {
        if !(self.time_scale >= 0.0 && self.time_scale.is_finite()) {
            return Err(usage("--time-scale must be a number ≥ 0"));
        }
        self.start_time()?;
        Ok(())
    }

    /// --start-time in milliseconds since the Unix epoch.
    fn start_time(&self) -> Result<Option<i64>, Failure> {
        self.start_time
            .as_deref()
            .map(|text| {
                stepstream::time::parse_timestamp(text)
                    .map(|timestamp| timestamp.epoch_millis())
                    .ok_or_else(|| {
                        usage(format!(
                            "--start-time takes an ISO 8601 timestamp such as 2026-01-31T12:00:00Z, not {text:?}"
                        ))
                    })
            })
            .transpose()
    }

    /// The configuration of the tasks and the AWS identity: --config's sections with the
    /// flags' additions.
    fn settings(&self) -> Result<(TasksConfig, AwsConfig), Failure> {
        let (mut tasks, aws) = match &self.config {
            Some(path) => {
                let config = Config::load(path).map_err(|err| usage(err.to_string()))?;
                (config.tasks, config.aws)
            }
            None => (TasksConfig::default(), AwsConfig::default()),
        };
        if self.mock_config.is_some() || self.test_case.is_some() {
            tasks.mock_config = self.mock_config.clone();
            tasks.test_case = self.test_case.clone();
        }
        tasks.http.allow.extend(self.http_allow.iter().cloned());
        tasks
            .http
            .secret_headers
            .extend(self.secret_header.iter().cloned());
        for pair in &self.lambda_endpoint {
            let Some((function, endpoint)) = pair.split_once('=') else {
                return Err(usage(format!(
                    "--lambda-endpoint takes FUNCTION=URL, not {pair:?}"
                )));
            };
            tasks
                .lambda
                .functions
                .insert(function.to_string(), endpoint.to_string());
        }
        tasks.check().map_err(usage)?;
        Ok((tasks, aws))
    }

    /// The task handler: the chosen MockConfigFile test case, then the real integrations.
    fn task_handler(
        &self,
        state_machine: &str,
        program: &compile::Program,
    ) -> Result<Arc<dyn TaskHandler>, Failure> {
        let (tasks, aws) = self.settings()?;
        task_handler(&tasks, &aws, state_machine, program)
    }

    fn options(&self, state_machine: String) -> Result<ExecOptions, Failure> {
        let (tasks, aws) = self.settings()?;
        Ok(ExecOptions {
            state_machine_name: state_machine,
            region: aws.region,
            account: aws.account,
            time_scale: self.time_scale,
            max_payload_bytes: self.max_payload_bytes,
            secret_headers: Arc::from(tasks.http.secret_headers),
            start_time: self.start_time()?,
            ..ExecOptions::default()
        })
    }
}

fn exec_command(args: ExecArgs) -> Result<u8, Failure> {
    let machine = &args.machine;
    machine.check()?;
    let program = load_program(&machine.file)?;
    let input_text = match (&args.input, &args.input_file) {
        (Some(text), _) => text.clone(),
        (None, Some(path)) => read(path)?,
        (None, None) => "{}".to_string(),
    };
    let input: Value = json::from_str(&input_text).map_err(|err| {
        let source = args
            .input_file
            .as_ref()
            .map_or_else(|| "--input".to_string(), |path| path.display().to_string());
        usage(format!("the input ({source}) is not valid JSON: {err}"))
    })?;
    let state_machine = machine.state_machine_name();
    let handler = machine.task_handler(&state_machine, &program)?;
    let options = ExecOptions {
        name: args.name.clone(),
        record_history: args.history || args.logs,
        // Without --history, only the events --logs prints are kept.
        history_level: if args.history {
            LogLevel::All
        } else {
            args.log_level
        },
        ..machine.options(state_machine)?
    };
    let result = exec::run(&program, input, &options, handler.as_ref());
    if args.logs {
        // The records go to stderr, so stdout stays one JSON value (the result) for scripts
        // and `jq`, and `2>records.jsonl` keeps exactly what the log group would receive.
        let log_options = LogOptions {
            level: args.log_level,
            include_execution_data: !args.no_execution_data,
        };
        let arn = result.info.arn();
        let mut records = Vec::new();
        for event in &result.history {
            logs::write_record(&mut records, event, &arn, &log_options);
        }
        use std::io::Write as _;
        let _ = std::io::stderr().lock().write_all(&records);
    }
    let mut printed = result.to_json();
    if args.history {
        printed["events"] =
            Value::Array(result.history.iter().map(|event| event.to_json()).collect());
    }
    out!("{}", json::to_string_pretty(&printed));
    Ok(if result.status == Status::Succeeded {
        0
    } else {
        1
    })
}

/// A JSON value given inline (`--NAME`) or in a file (`--NAME-file`), or `None`.
fn json_argument(
    name: &str,
    text: &Option<String>,
    file: &Option<PathBuf>,
) -> Result<Option<Value>, Failure> {
    let (text, source) = match (text, file) {
        (Some(text), _) => (text.clone(), format!("--{name}")),
        (None, Some(path)) => (read(path)?, path.display().to_string()),
        (None, None) => return Ok(None),
    };
    json::from_str(&text)
        .map(Some)
        .map_err(|err| usage(format!("the {name} ({source}) is not valid JSON: {err}")))
}

fn test_state_command(args: TestStateArgs) -> Result<u8, Failure> {
    use stepstream::teststate::{self, InspectionLevel, Mocked, TestStateOptions};
    let machine = &args.machine;
    machine.check()?;
    let level = InspectionLevel::parse(&args.inspection_level).map_err(usage)?;
    let program = load_program(&machine.file)?;
    let input_text = match (&args.input, &args.input_file) {
        (Some(text), _) => text.clone(),
        (None, Some(path)) => read(path)?,
        (None, None) => "{}".to_string(),
    };
    let input: Value = json::from_str(&input_text)
        .map_err(|err| usage(format!("the input is not valid JSON: {err}")))?;
    let state_machine = machine.state_machine_name();
    let handler: Arc<dyn TaskHandler> = match (&args.mock_result, &args.mock_error) {
        (Some(text), _) => Arc::new(Mocked(Ok(json::from_str(text)
            .map_err(|err| usage(format!("--mock-result is not valid JSON: {err}")))?))),
        (None, Some(error)) => Arc::new(Mocked(Err(stepstream::tasks::Fault {
            error: Some(error.clone()),
            cause: args.mock_cause.clone(),
        }))),
        (None, None) => machine.task_handler(&state_machine, &program)?,
    };
    let mut test = TestStateOptions::new(level);
    test.reveal_secrets = args.reveal_secrets;
    if let Some(variables) = json_argument("variables", &args.variables, &args.variables_file)? {
        test = test.variables_from(&variables).map_err(usage)?;
    }
    if let Some(context) = json_argument("context", &args.context, &args.context_file)? {
        test = test.context_from(&context).map_err(usage)?;
    }
    let options = machine.options(state_machine)?;
    let response = teststate::run(
        &program,
        &args.state,
        input,
        &options,
        handler.as_ref(),
        &test,
    )
    .map_err(usage)?;
    out!("{}", json::to_string_pretty(&response));
    Ok(match response["status"].as_str() {
        Some("SUCCEEDED" | "CAUGHT_ERROR") => 0,
        _ => 1,
    })
}

/// The task handler: a MockConfigFile test case (from the configuration or `SFN_MOCK_CONFIG`),
/// then, when the program has Tasks they serve, the HTTP Task and Lambda integrations.
fn task_handler(
    tasks: &TasksConfig,
    aws: &AwsConfig,
    state_machine: &str,
    program: &compile::Program,
) -> Result<Arc<dyn TaskHandler>, Failure> {
    let mock = mock_handler(
        tasks.mock_config.as_deref(),
        tasks.test_case.as_deref(),
        state_machine,
    )?;
    if !Integrations::serve_any(program) {
        return Ok(mock.map_or_else(
            || Arc::new(exec::NoTasks) as Arc<dyn TaskHandler>,
            Arc::from,
        ));
    }
    let mut chain: Vec<Box<dyn TaskHandler>> = mock.into_iter().collect();
    chain.extend(tasks.integrations(aws).start().map_err(|err| Failure {
        code: 1,
        message: format!("cannot start the runtime of the task integrations: {err}"),
    })?);
    Ok(Arc::new(Chain(chain)))
}

/// A MockConfigFile test case (from the argument or `SFN_MOCK_CONFIG`), or none.
fn mock_handler(
    mock_config: Option<&Path>,
    test_case: Option<&str>,
    state_machine: &str,
) -> Result<Option<Box<dyn TaskHandler>>, Failure> {
    let mock_config = match mock_config {
        Some(path) => Some(MockConfig::load(path).map_err(|err| usage(err.to_string()))?),
        None => mock::from_env()
            .transpose()
            .map_err(|err| usage(err.to_string()))?,
    };
    match (mock_config, test_case) {
        (Some(config), Some(test_case)) => {
            // With a single state machine in the file, its name need not match.
            let machine_name = config
                .handler(state_machine, test_case)
                .map(|_| state_machine.to_string())
                .or_else(|err| {
                    config
                        .single_state_machine()
                        .map(str::to_string)
                        .ok_or_else(|| usage(err))
                })?;
            Ok(Some(Box::new(
                config.handler(&machine_name, test_case).map_err(usage)?,
            )))
        }
        (Some(_), None) => Err(usage("--mock-config needs --test-case to pick a test case")),
        (None, Some(_)) => Err(usage(
            "--test-case needs --mock-config (or SFN_MOCK_CONFIG)",
        )),
        (None, None) => Ok(None),
    }
}

/// The configuration `run` works with: the file's, then the environment's, then the flags'.
fn run_config(args: &RunArgs) -> Result<Config, Failure> {
    let mut config = match &args.config {
        Some(path) => Config::load(path).map_err(|err| usage(err.to_string()))?,
        None => {
            let Some(file) = &args.file else {
                return Err(usage("run needs a definition file, or --config naming one"));
            };
            Config::parse(&format!(
                "state_machine = {}",
                toml_string(&file.to_string_lossy())
            ))
            .map_err(usage)?
        }
    };
    config
        .apply_env(|name| std::env::var(name).ok())
        .map_err(usage)?;
    if let Some(file) = &args.file {
        config.state_machine = file.clone();
    }
    if let Some(name) = &args.state_machine {
        config.state_machine_name = Some(name.clone());
    }
    if let Some(brokers) = &args.brokers {
        config.kafka.brokers = brokers.clone();
    }
    if let Some(path) = &args.mock_config {
        config.tasks.mock_config = Some(path.clone());
    }
    if let Some(test_case) = &args.test_case {
        config.tasks.test_case = Some(test_case.clone());
    }
    if let Some(scale) = args.time_scale {
        config.limits.time_scale = scale;
    }
    if let Some(bytes) = args.max_payload_bytes {
        config.limits.max_payload_bytes = bytes;
    }
    if let Some(workers) = args.workers {
        if workers == 0 {
            return Err(usage("--workers must be at least 1"));
        }
        config.workers.count = workers;
    }
    if let Some(max) = args.max_in_flight {
        config.workers.max_in_flight = max;
    }
    if let Some(listen) = &args.telemetry_listen {
        config.telemetry.listen = Some(listen.clone());
    }
    if let Some(level) = args.logging.log_level {
        config.logging.level = Some(level);
    }
    if let Some(path) = &args.logging.log_file {
        config.logging.destination = LogDestination::File;
        config.logging.path = Some(path.clone());
    }
    config.check().map_err(usage)?;
    Ok(config)
}

/// A TOML basic string holding `text`.
fn toml_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

fn run_command(args: RunArgs) -> Result<u8, Failure> {
    let config = run_config(&args)?;
    let source = args.source.unwrap_or(if args.config.is_some() {
        Source::Kafka
    } else {
        Source::Stdin
    });
    let sink = args.sink.unwrap_or(if source == Source::Kafka {
        Sink::Kafka
    } else {
        Sink::Stdout
    });
    if (source == Source::Kafka) != (sink == Sink::Kafka) {
        return Err(usage(
            "run supports --source stdin --sink stdout, and --source kafka --sink kafka",
        ));
    }
    // A panic inside an execution is reported in that execution's dead letter; the default
    // hook would also print it to stderr, in the middle of the dead-letter stream.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let worker = std::thread::current()
            .name()
            .is_some_and(|name| name.starts_with("stepstream-worker-"));
        if !worker {
            default_hook(info);
        }
    }));
    // The daemon runs one program for its whole life.
    let program: &'static compile::Program =
        Box::leak(Box::new(load_program(&config.state_machine)?));
    let (execution, tasks) = execution_setup(&config, program)?;
    let mut pool = PoolOptions {
        execution,
        no_op: args.no_op,
        ..PoolOptions::default()
    };
    if config.workers.count > 0 {
        pool.workers = config.workers.count;
    }
    let ready = Arc::new(AtomicBool::new(source == Source::Stdin));
    if let Some(listen) = &config.telemetry.listen {
        let handle = stepstream::telemetry::install().map_err(usage)?;
        let listener = stepstream::telemetry::Listener::start(listen, handle, Arc::clone(&ready))
            .map_err(usage)?;
        eprintln!(
            "stepstream: metrics on http://{}/metrics (health /healthz, readiness /readyz)",
            listener.address
        );
    }
    let sink = if args.no_op {
        None
    } else {
        start_log_sink(&config, source == Source::Kafka)?
    };
    pool.logs = sink.as_ref().map(LogSink::handle);
    let started = Instant::now();
    let summary = if source == Source::Stdin {
        let options = LineOptions {
            pool,
            max_in_flight: config.workers.max_in_flight,
            source_name: "stdin".into(),
        };
        pipeline::run_lines(
            std::io::stdin(),
            std::io::stdout().lock(),
            std::io::stderr(),
            program,
            options,
            tasks,
        )
        .map_err(|err| Failure {
            code: 1,
            message: format!("the pipeline stopped: {err}"),
        })?
    } else {
        let shutdown = Arc::new(AtomicBool::new(false));
        for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
            signal_hook::flag::register(signal, Arc::clone(&shutdown)).map_err(|err| Failure {
                code: 1,
                message: format!("cannot handle signals: {err}"),
            })?;
        }
        let mut connection = config.kafka.clone();
        if config.telemetry.listen.is_some() {
            // librdkafka's statistics carry the consumer lag per partition.
            connection
                .consumer
                .entry("statistics.interval.ms".into())
                .or_insert_with(|| "5000".into());
        }
        let kafka = KafkaOptions {
            connection,
            max_in_flight: config.workers.max_in_flight,
            max_in_flight_bytes: config.workers.max_in_flight_bytes,
            shutdown_grace: Duration::from_secs(config.workers.shutdown_grace_seconds),
            ready: Arc::clone(&ready),
        };
        eprintln!(
            "stepstream: consuming {} from {} as group {}",
            kafka.connection.input_topics.join(", "),
            kafka.connection.brokers,
            kafka.connection.group_id
        );
        // librdkafka can quote a value it refuses: a credential's is never shown.
        kafka::run_stage(program, kafka, pool, tasks, shutdown).map_err(|err| Failure {
            code: 1,
            message: config
                .kafka
                .redact(&format!("the Kafka stage stopped: {err}")),
        })?
    };
    eprintln!("stepstream: {}", pipeline::describe(&summary, started));
    if let Some(sink) = sink {
        eprintln!("stepstream: {}", describe_log_report(&sink.close()));
    }
    Ok(0)
}

/// Starts the log sink the configuration asks for; none at level OFF. Without Kafka, standard
/// output carries the results (or a report), so the records must go elsewhere.
fn start_log_sink(config: &Config, kafka: bool) -> Result<Option<LogSink>, Failure> {
    let level = config.logging.level_for(kafka);
    if level == LogLevel::Off {
        return Ok(None);
    }
    if !kafka && config.logging.destination == LogDestination::Stdout {
        return Err(usage(
            "standard output carries the results here: send the log records elsewhere \
             (--log-file, or [logging] destination), or turn them off (--log-level OFF)",
        ));
    }
    let options = config.logging.sink_options(level, &config.kafka);
    let sink = LogSink::start(&options).map_err(|err| usage(err.to_string()))?;
    eprintln!(
        "stepstream: log records at {level} to {}",
        options.destination
    );
    Ok(Some(sink))
}

fn describe_log_report(report: &SinkReport) -> String {
    format!(
        "{} log records written, {} dropped (sink full), {} failed (destination refused)",
        report.written, report.dropped, report.failed
    )
}

/// How the configured state machine's executions run, and what serves their tasks.
fn execution_setup(
    config: &Config,
    program: &compile::Program,
) -> Result<(ExecOptions, Arc<dyn TaskHandler>), Failure> {
    let state_machine = config
        .state_machine_name
        .clone()
        .unwrap_or_else(|| machine_name_of(&config.state_machine));
    let tasks = task_handler(&config.tasks, &config.aws, &state_machine, program)?;
    let execution = ExecOptions {
        state_machine_name: state_machine,
        region: config.aws.region.clone(),
        account: config.aws.account.clone(),
        time_scale: config.limits.time_scale,
        max_payload_bytes: config.limits.max_payload_bytes,
        max_duration: Some(Duration::from_secs(config.limits.execution_timeout_seconds)),
        secret_headers: Arc::from(config.tasks.http.secret_headers.clone()),
        ..ExecOptions::default()
    };
    Ok((execution, tasks))
}

fn bench_command(args: BenchArgs) -> Result<u8, Failure> {
    if args.events == 0 {
        return Err(usage("--events must be at least 1"));
    }
    if args
        .rate
        .is_some_and(|rate| !(rate > 0.0 && rate.is_finite()))
    {
        return Err(usage(
            "--rate must be a positive number of events per second",
        ));
    }
    if args.partitions < 1 {
        return Err(usage("--partitions must be at least 1"));
    }
    let run_args = RunArgs {
        file: args.file.clone(),
        config: args.config.clone(),
        source: None,
        sink: None,
        brokers: args.brokers.clone(),
        state_machine: args.state_machine.clone(),
        mock_config: args.mock_config.clone(),
        test_case: args.test_case.clone(),
        time_scale: args.time_scale,
        max_payload_bytes: None,
        workers: args.workers,
        max_in_flight: args.max_in_flight,
        no_op: false,
        telemetry_listen: None,
        logging: args.logging.clone(),
    };
    let config = run_config(&run_args)?;
    let (events, inputs) = match (&args.inputs, &args.event) {
        (Some(path), _) => (
            bench::Events::from_file(path).map_err(usage)?,
            path.display().to_string(),
        ),
        (None, Some(text)) => (bench::Events::Template(text.clone()), text.clone()),
        (None, None) => {
            let beside = config.state_machine.with_file_name("inputs.jsonl");
            if !beside.is_file() {
                return Err(usage(
                    "bench needs events: --inputs FILE (JSON lines) or --event JSON",
                ));
            }
            (
                bench::Events::from_file(&beside).map_err(usage)?,
                beside.display().to_string(),
            )
        }
    };
    let mode = match (args.rate, args.engine_only) {
        (Some(rate), _) => format!("paced at {} events/s", bench::report::group(rate)),
        (None, true) => "flat out".to_string(),
        (None, false) => "backlog (produced before the daemon starts)".to_string(),
    };
    let mut report = bench::Report::new(
        config.state_machine.display().to_string(),
        events.describe(&inputs),
        args.events,
        mode,
    );
    let program: &'static compile::Program =
        Box::leak(Box::new(load_program(&config.state_machine)?));
    if args.engine_only {
        let (execution, tasks) = execution_setup(&config, program)?;
        let workers = args.workers.unwrap_or(1);
        let sink = start_log_sink(&config, false)?;
        let pool = PoolOptions {
            workers,
            execution,
            logs: sink.as_ref().map(LogSink::handle),
            ..PoolOptions::default()
        };
        let options = bench::engine::EngineOptions {
            events: args.events,
            rate: args.rate,
            max_in_flight: args.max_in_flight.unwrap_or(4096),
            progress: !args.quiet,
        };
        report.workers = Some(workers);
        report
            .runs
            .push(bench::engine::run(program, pool, tasks, &events, &options));
        if let Some(sink) = sink {
            eprintln!("stepstream: {}", describe_log_report(&sink.close()));
        }
    } else {
        let kafka_bench = bench::kafka::KafkaBench {
            brokers: config.kafka.brokers.clone(),
            events: args.events,
            rate: args.rate,
            partitions: args.partitions,
            warmup: args.warmup,
            stall_timeout: Duration::from_secs(args.stall_timeout.max(1)),
            progress: !args.quiet,
            sample_every: args
                .sample_every
                .map(|seconds| Duration::from_secs(seconds.max(1))),
            rotate: args
                .rotate_topics
                .map(|seconds| Duration::from_secs(seconds.max(1))),
        };
        let mut targets = Vec::new();
        if let Some(input_topic) = &args.attach {
            targets.push((
                "stage",
                bench::kafka::Target::Attach {
                    input_topic: input_topic.clone(),
                    output_topic: args.output_topic.clone().unwrap_or_default(),
                    dead_letter_topic: args.dead_letter_topic.clone().unwrap_or_default(),
                    pid: args.pid,
                },
            ));
        } else {
            report.partitions = Some(args.partitions);
            let program = std::env::current_exe()
                .map_err(|err| usage(format!("cannot find the stepstream executable: {err}")))?;
            let mut daemon_args: Vec<std::ffi::OsString> = vec!["run".into()];
            daemon_args.push(config.state_machine.clone().into_os_string());
            daemon_args.extend(["--source", "kafka", "--sink", "kafka"].map(Into::into));
            let mut flag = |name: &str, value: Option<String>| {
                if let Some(value) = value {
                    daemon_args.push(name.into());
                    daemon_args.push(value.into());
                }
            };
            flag(
                "--config",
                args.config.as_ref().map(|path| path.display().to_string()),
            );
            flag("--workers", args.workers.map(|count| count.to_string()));
            flag(
                "--max-in-flight",
                args.max_in_flight.map(|count| count.to_string()),
            );
            flag(
                "--time-scale",
                args.time_scale.map(|scale| scale.to_string()),
            );
            flag(
                "--mock-config",
                args.mock_config
                    .as_ref()
                    .map(|path| path.display().to_string()),
            );
            flag("--test-case", args.test_case.clone());
            flag("--state-machine", args.state_machine.clone());
            flag(
                "--log-level",
                args.logging.log_level.map(|level| level.to_string()),
            );
            flag(
                "--log-file",
                args.logging
                    .log_file
                    .as_ref()
                    .map(|path| path.display().to_string()),
            );
            if !args.no_compare {
                let mut no_op_args = daemon_args.clone();
                no_op_args.push("--no-op".into());
                targets.push((
                    "stage",
                    bench::kafka::Target::Spawn {
                        program: program.clone(),
                        args: daemon_args,
                    },
                ));
                targets.push((
                    "no-op pipe",
                    bench::kafka::Target::Spawn {
                        program,
                        args: no_op_args,
                    },
                ));
            } else {
                targets.push((
                    "stage",
                    bench::kafka::Target::Spawn {
                        program,
                        args: daemon_args,
                    },
                ));
            }
        }
        for (label, target) in &targets {
            let run =
                bench::kafka::run(&kafka_bench, &events, label, target).map_err(|err| Failure {
                    code: 1,
                    message: format!("the {label} run failed: {err}"),
                })?;
            report.runs.push(run);
        }
    }
    report.finish();
    if args.json {
        out!("{}", report.to_json());
    } else {
        out_raw!("{}", report.table());
    }
    // Events without a result are a finding, not a figure.
    Ok(u8::from(report.runs.iter().any(|run| run.missing > 0)))
}

/// A state machine's default name: its file's name up to the first dot.
fn machine_name_of(file: &Path) -> String {
    let file_name = file
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    match file_name.split('.').next() {
        Some(stem) if !stem.is_empty() => stem.to_string(),
        _ => "StateMachine".to_string(),
    }
}
