//! The `stepstream` command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde_json::Value;

use stepstream::exec::{self, ExecOptions, Status};
use stepstream::tasks::{mock, MockConfig, TaskHandler};
use stepstream::{asl, compile};

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
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
}

#[derive(clap::Args)]
struct ExecArgs {
    /// Definition file (ASL JSON).
    file: PathBuf,
    /// Execution input as JSON text.
    #[arg(long, conflicts_with = "input_file")]
    input: Option<String>,
    /// File holding the execution input.
    #[arg(long)]
    input_file: Option<PathBuf>,
    /// Execution name.
    #[arg(long, default_value = "local")]
    name: String,
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
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// Adds the execution's history events to the result.
    #[arg(long)]
    history: bool,
    /// Largest payload in bytes.
    #[arg(long, default_value_t = 262_144)]
    max_payload_bytes: usize,
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

fn exec_command(args: ExecArgs) -> Result<u8, Failure> {
    let program = load_program(&args.file)?;
    let input_text = match (&args.input, &args.input_file) {
        (Some(text), _) => text.clone(),
        (None, Some(path)) => read(path)?,
        (None, None) => "{}".to_string(),
    };
    let input: Value = serde_json::from_str(&input_text)
        .map_err(|err| usage(format!("the input is not valid JSON: {err}")))?;
    if !(args.time_scale >= 0.0 && args.time_scale.is_finite()) {
        return Err(usage("--time-scale must be a number ≥ 0"));
    }

    let state_machine = args.state_machine.clone().unwrap_or_else(|| {
        // `order.asl.json` is the state machine `order`.
        let file_name = args
            .file
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        match file_name.split('.').next() {
            Some(stem) if !stem.is_empty() => stem.to_string(),
            _ => "StateMachine".to_string(),
        }
    });
    let mock_config = match &args.mock_config {
        Some(path) => Some(MockConfig::load(path).map_err(|err| usage(err.to_string()))?),
        None => mock::from_env()
            .transpose()
            .map_err(|err| usage(err.to_string()))?,
    };
    let handler: Box<dyn TaskHandler> = match (mock_config, &args.test_case) {
        (Some(config), Some(test_case)) => {
            // With a single state machine in the file, its name need not match the definition's.
            let machine_name = config
                .handler(&state_machine, test_case)
                .map(|_| state_machine.clone())
                .or_else(|err| {
                    config
                        .single_state_machine()
                        .map(str::to_string)
                        .ok_or_else(|| usage(err))
                })?;
            Box::new(config.handler(&machine_name, test_case).map_err(usage)?)
        }
        (Some(_), None) => {
            return Err(usage("--mock-config needs --test-case to pick a test case"))
        }
        (None, Some(_)) => {
            return Err(usage(
                "--test-case needs --mock-config (or SFN_MOCK_CONFIG)",
            ))
        }
        (None, None) => Box::new(exec::NoTasks),
    };

    let options = ExecOptions {
        name: args.name.clone(),
        state_machine_name: state_machine,
        time_scale: args.time_scale,
        record_history: args.history,
        max_payload_bytes: args.max_payload_bytes,
        ..ExecOptions::default()
    };
    let result = exec::run(&program, input, &options, handler.as_ref());
    let mut printed = result.to_json();
    if args.history {
        printed["events"] =
            Value::Array(result.history.iter().map(|event| event.to_json()).collect());
    }
    out!(
        "{}",
        serde_json::to_string_pretty(&printed).unwrap_or_default()
    );
    Ok(if result.status == Status::Succeeded {
        0
    } else {
        1
    })
}
