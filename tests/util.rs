//! Helpers shared by the test modules.

#![allow(dead_code)]

pub mod diff;
pub mod http_server;

pub use diff::{brief, json_diff, json_eq, shorten};

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use stepstream::json;
use stepstream::json::Value;

/// `tests/` of this crate.
pub fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

/// `tests/data/`.
pub fn data_dir() -> PathBuf {
    tests_dir().join("data")
}

pub fn read_text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

pub fn read_json(path: &Path) -> Value {
    json::from_str(&read_text(path))
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The non-empty lines of a JSON-lines file, each parsed.
pub fn read_json_lines(path: &Path) -> Vec<Value> {
    read_text(path)
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            json::from_str(line)
                .unwrap_or_else(|e| panic!("{}:{}: not JSON: {e}", path.display(), index + 1))
        })
        .collect()
}

/// A fresh, empty directory for one test, under cargo's per-target temporary directory.
pub fn temp_dir(label: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "{label}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    path
}

/// What one run of the `stepstream` binary did.
#[derive(Debug)]
pub struct BinaryRun {
    pub args: Vec<String>,
    /// `None` when the process was killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl BinaryRun {
    /// The command line and everything it printed, for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "stepstream {}\nexit code: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.args.join(" "),
            self.code,
            self.stdout,
            self.stderr
        )
    }

    /// stdout parsed as one JSON value.
    pub fn stdout_json(&self) -> Value {
        json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not one JSON value ({e})\n{}", self.describe()))
    }

    /// stdout and stderr together, for substring checks that don't care which stream.
    pub fn all_output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// Asserts the exit code, and that the binary did not panic.
    pub fn assert_code(&self, expected: i32) -> &Self {
        self.assert_no_panic();
        assert_eq!(
            self.code,
            Some(expected),
            "unexpected exit code\n{}",
            self.describe()
        );
        self
    }

    pub fn assert_no_panic(&self) -> &Self {
        assert!(
            self.code != Some(101) && !self.stderr.contains("panicked"),
            "the binary panicked\n{}",
            self.describe()
        );
        self
    }

    /// Asserts that stdout or stderr contains `needle`.
    pub fn assert_output_contains(&self, needle: &str) -> &Self {
        assert!(
            self.all_output().contains(needle),
            "expected the output to contain {needle:?}\n{}",
            self.describe()
        );
        self
    }
}

impl BinaryRun {
    fn new(args: &[std::ffi::OsString], output: &std::process::Output) -> BinaryRun {
        BinaryRun {
            args: args
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// Runs the `stepstream` binary built for these tests, with no standard input.
pub fn stepstream<I, S>(args: I) -> BinaryRun
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let output = Command::new(env!("CARGO_BIN_EXE_stepstream"))
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .expect("starting the stepstream binary");
    BinaryRun::new(&args, &output)
}

/// Runs the `stepstream` binary with `input` on its standard input.
pub fn stepstream_with_input<I, S>(args: I, input: &str) -> BinaryRun
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    stepstream_with_bytes(args, input.as_bytes())
}

/// Runs the `stepstream` binary with `input` (any bytes) on its standard input.
pub fn stepstream_with_bytes<I, S>(args: I, input: &[u8]) -> BinaryRun
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    use std::io::Write as _;
    let args: Vec<std::ffi::OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let mut child = Command::new(env!("CARGO_BIN_EXE_stepstream"))
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the stepstream binary");
    let mut stdin = child.stdin.take().expect("the child's stdin is piped");
    let input = input.to_owned();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let output = child
        .wait_with_output()
        .expect("waiting for the stepstream binary");
    let _ = writer.join();
    BinaryRun::new(&args, &output)
}

/// The `output` of a StartSyncExecution-shaped response. AWS sends it as a string holding JSON;
/// a raw JSON value is accepted too.
pub fn response_output(response: &Value) -> Option<Value> {
    match response.get("output")? {
        Value::String(text) => {
            Some(json::from_str(text).unwrap_or_else(|_| Value::from(text.clone())))
        }
        other => Some(other.clone()),
    }
}

/// A task handler that serves nothing: for machines without Task states.
pub use stepstream::exec::NoTasks;

/// One benchmark workload of tests/data/workloads.
pub struct Workload {
    /// The file stem and the key in expected.json, e.g. `w1-pass-chain`.
    pub name: String,
    pub definition_path: PathBuf,
    pub definition: String,
}

pub fn workloads_dir() -> PathBuf {
    data_dir().join("workloads")
}

/// The workloads named in expected.json, in its order.
pub fn workloads() -> Vec<Workload> {
    let expected = workloads_expected();
    expected["workloads"]
        .as_object()
        .expect("expected.json has a `workloads` object")
        .keys()
        .map(|name| {
            let definition_path = workloads_dir().join(format!("{name}.json"));
            let definition = read_text(&definition_path);
            Workload {
                name: name.to_string(),
                definition_path,
                definition,
            }
        })
        .collect()
}

pub fn workloads_expected() -> Value {
    read_json(&workloads_dir().join("expected.json"))
}

/// The lines of inputs.jsonl, unparsed.
pub fn workload_input_lines() -> Vec<String> {
    read_text(&workloads_dir().join("inputs.jsonl"))
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// What expected.json says one execution ends with. Failed executions list their error and
/// cause either at the top level or inside `output`.
#[derive(Debug, Clone)]
pub struct ExpectedEnd {
    pub status: String,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
}

pub fn expected_end(entry: &Value) -> ExpectedEnd {
    let status = entry["status"]
        .as_str()
        .expect("an expected entry has a status")
        .to_owned();
    let text = |value: Option<&Value>| value.and_then(Value::as_str).map(str::to_owned);
    if status == "SUCCEEDED" {
        ExpectedEnd {
            status,
            output: entry.get("output").cloned(),
            error: None,
            cause: None,
        }
    } else {
        let holder = entry.get("output").unwrap_or(entry);
        ExpectedEnd {
            status,
            output: None,
            error: text(entry.get("error")).or_else(|| text(holder.get("error"))),
            cause: text(entry.get("cause")).or_else(|| text(holder.get("cause"))),
        }
    }
}

/// The first difference between an expected end and what happened, or `None`.
pub fn end_difference(
    expected: &ExpectedEnd,
    status: &str,
    output: Option<&Value>,
    error: Option<&str>,
    cause: Option<&str>,
) -> Option<String> {
    if status != expected.status {
        let mut line = format!("status: expected {}, got {status}", expected.status);
        if status != "SUCCEEDED" {
            line.push_str(&format!(
                " (error {:?}, cause {:?})",
                error.unwrap_or("-"),
                shorten(cause.unwrap_or("-"), 120)
            ));
        }
        return Some(line);
    }
    if expected.status == "SUCCEEDED" {
        let expected_output = expected.output.as_ref()?;
        return match output {
            None => Some("output: missing".to_owned()),
            Some(output) => json_diff(expected_output, output).map(|d| format!("output {d}")),
        };
    }
    if expected.error.as_deref() != error {
        return Some(format!(
            "error: expected {:?}, got {:?}",
            expected.error, error
        ));
    }
    if expected.cause.as_deref() != cause {
        return Some(format!(
            "cause: expected {:?}, got {:?}",
            expected.cause, cause
        ));
    }
    None
}

#[test]
fn json_comparison_is_numeric_and_ignores_key_order() {
    assert!(json_eq(
        &json!({"a": 1, "b": [1.0, -0.0]}),
        &json!({"b": [1, 0], "a": 1.0})
    ));
    assert!(!json_eq(&json!({"a": 1}), &json!({"a": 1, "b": null})));
    assert!(!json_eq(&json!([1, 2]), &json!([2, 1])));
    assert!(!json_eq(&json!("1"), &json!(1)));
    assert_eq!(
        json_diff(&json!({"a": {"b": [1, 2]}}), &json!({"a": {"b": [1, 3]}})).as_deref(),
        Some("at $.a.b[1]: expected 2, got 3")
    );
    assert_eq!(
        json_diff(&json!({"a": 1}), &json!({"a": 1, "x y": 2})).as_deref(),
        Some("at $[\"x y\"]: unexpected 2")
    );
}

#[test]
fn placeholders_stand_for_one_or_more_characters() {
    use diff::matches_with_placeholders;
    let placeholders = ["<region>".to_owned(), "lambda_function_name".to_owned()];
    let matches =
        |expected: &str, actual: &str| matches_with_placeholders(expected, actual, &placeholders);
    assert!(matches("<region>", "us-east-1"));
    assert!(matches(
        "no_such_lambda_function_name",
        "no_such_lambda_func_00000001"
    ));
    assert!(matches(
        "arn:aws:lambda:<region>:1:function:f",
        "arn:aws:lambda:eu-west-1:1:function:f"
    ));
    assert!(!matches(
        "arn:aws:lambda:<region>:1:function:f",
        "arn:aws:lambda:eu-west-1:2:function:f"
    ));
    assert!(!matches("<region>", ""));
    assert!(!matches("plain", "other"));
    assert!(matches("plain", "plain"));
}
