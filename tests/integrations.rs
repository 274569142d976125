//! The real task integrations against local servers on 127.0.0.1: the HTTP Task (request
//! building, result shapes, status errors through Retry and Catch, refused connections,
//! timeouts and heartbeat timeouts, the egress allow list, secret headers kept out of history
//! and logs, keep-alive, the request and response `test-state` shows at TRACE) and Lambda
//! invoke against a fake Runtime Interface Emulator; asynchronous native handlers that send
//! heartbeats, alone and in the worker pool; and the worker pool holding thousands of slow
//! HTTP tasks in flight on two workers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stepstream::exec::{self, ExecOptions, ExecutionResult, Status};
use stepstream::json;
use stepstream::json::Value;
use stepstream::pool::{Job, Pool, PoolOptions, Verdict};
use stepstream::tasks::client::AllowList;
use stepstream::tasks::http::HttpSettings;
use stepstream::tasks::lambda::LambdaSettings;
use stepstream::tasks::{Chain, Fault, Integrations, NativeHandlers, Reply, TaskHandler};
use stepstream::{asl, compile};

use crate::util::http_server::{Answer, Received, Server};
use crate::util::{self, temp_dir, write_file};

fn program(definition: &Value) -> compile::Program {
    let machine = asl::parse_value(definition).expect("test definitions are valid");
    compile::compile(&machine)
}

/// The HTTP and Lambda handlers, allowed to call `allow`, with Lambda `functions`.
fn integrations(allow: &[String], functions: &[(&str, String)]) -> Arc<dyn TaskHandler> {
    let handlers = Integrations {
        io_threads: 1,
        http: HttpSettings {
            allow: AllowList::new(allow),
            secret_headers: vec!["X-Api-Key".into()],
            region: "us-east-1".into(),
        },
        lambda: LambdaSettings {
            functions: functions
                .iter()
                .map(|(name, url)| (name.to_string(), url.clone()))
                .collect::<HashMap<_, _>>(),
            region: "us-east-1".into(),
            account: "123456789012".into(),
        },
    }
    .start()
    .expect("the runtime starts");
    Arc::new(Chain(handlers))
}

/// Runs `definition` on `input` on a virtual clock, history recorded.
fn run(definition: Value, input: Value, tasks: &dyn TaskHandler) -> ExecutionResult {
    let options = ExecOptions {
        time_scale: 0.0,
        record_history: true,
        ..ExecOptions::default()
    };
    exec::run(&program(&definition), input, &options, tasks)
}

fn task(parameters: Value) -> Value {
    json!({
        "StartAt": "Call",
        "States": {"Call": {
            "Type": "Task",
            "Resource": "arn:aws:states:::http:invoke",
            "Parameters": parameters,
            "End": true
        }}
    })
}

fn output(result: &ExecutionResult) -> Value {
    assert_eq!(
        result.status,
        Status::Succeeded,
        "{:?}: {:?}",
        result.error,
        result.cause
    );
    result.output.clone().expect("an output")
}

#[test]
fn http_task_results_have_aws_shape_for_json_and_text_bodies() {
    let server = Server::start(|request: &Received| match request.target.as_str() {
        target if target.starts_with("/json") => {
            Answer::json(200, r#"{"id": 7, "tags": ["a"]}"#).header("X-Seen", "1")
        }
        _ => Answer::text(201, "plain words").chunked(),
    });
    let tasks = integrations(&[server.host_port()], &[]);
    let definition = json!({
        "StartAt": "Json",
        "States": {
            "Json": {
                "Type": "Task",
                "Resource": "arn:aws:states:::http:invoke",
                "Parameters": {
                    "ApiEndpoint.$": "$.url",
                    "Method": "POST",
                    "Authentication": {"ConnectionArn": "arn:aws:events:us-east-1:123456789012:connection/c/1"},
                    "Headers": {"X-Trace": "t-1"},
                    "QueryParameters": {"q": "a b", "page": 2},
                    "RequestBody": {"order.$": "$.order", "n": [1, 2]}
                },
                "ResultPath": "$.json",
                "Next": "Text"
            },
            "Text": {
                "Type": "Task",
                "Resource": "arn:aws:states:::http:invoke",
                "Parameters": {"ApiEndpoint.$": "States.Format('{}/text', $.base)", "Method": "GET"},
                "ResultSelector": {"body.$": "$.ResponseBody", "code.$": "$.StatusCode", "text.$": "$.StatusText"},
                "ResultPath": "$.text",
                "End": true
            }
        }
    });
    let input =
        json!({"url": format!("{}/json", server.url()), "base": server.url(), "order": "o-1"});
    let result = run(definition, input, tasks.as_ref());
    let output = output(&result);
    let json_result = &output["json"];
    assert_eq!(json_result["ResponseBody"], json!({"id": 7, "tags": ["a"]}));
    assert_eq!(json_result["StatusCode"], json!(200));
    assert_eq!(json_result["StatusText"], json!("OK"));
    assert_eq!(json_result["Headers"]["x-seen"], json!(["1"]));
    assert_eq!(
        json_result["Headers"]["content-type"],
        json!(["application/json"])
    );
    assert_eq!(
        output["text"],
        json!({"body": "plain words", "code": 201, "text": "Created"})
    );

    let received = server.received();
    assert_eq!(received.len(), 2);
    let first = &received[0];
    assert_eq!(first.method, "POST");
    assert_eq!(first.target, "/json?q=a%20b&page=2");
    assert_eq!(first.header("x-trace"), Some("t-1"));
    assert_eq!(
        first.header("content-type"),
        Some("application/json; charset=UTF-8")
    );
    assert_eq!(
        first.header("user-agent"),
        Some("Amazon|StepFunctions|HttpInvoke|us-east-1")
    );
    assert_eq!(first.body_text(), r#"{"order":"o-1","n":[1,2]}"#);
    assert_eq!(received[1].method, "GET");
    assert!(received[1].body.is_empty());
    // Both calls went over one kept-alive connection.
    assert_eq!(server.connections(), 1);
}

#[test]
fn url_encoded_bodies_follow_the_array_format() {
    let server = Server::start(|_: &Received| Answer::json(200, "{}"));
    let tasks = integrations(&[server.host_port()], &[]);
    for (format, expected) in [
        ("INDICES", "ids%5B0%5D=1&ids%5B1%5D=2&name=a%26b"),
        ("REPEAT", "ids=1&ids=2&name=a%26b"),
        ("COMMAS", "ids=1%2C2&name=a%26b"),
        ("BRACKETS", "ids%5B%5D=1&ids%5B%5D=2&name=a%26b"),
    ] {
        let definition = task(json!({
            "ApiEndpoint": format!("{}/form", server.url()),
            "Method": "PUT",
            "RequestBody": {"ids": [1, 2], "name": "a&b"},
            "Transform": {
                "RequestBodyEncoding": "URL_ENCODED",
                "RequestEncodingOptions": {"ArrayFormat": format}
            }
        }));
        output(&run(definition, json!({}), tasks.as_ref()));
        let last = server.received().pop().expect("a request");
        assert_eq!(last.method, "PUT");
        assert_eq!(last.body_text(), expected, "{format}");
        assert_eq!(
            last.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
    }
}

#[test]
fn non_2xx_statuses_are_retried_and_caught() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let server = Server::start(move |request: &Received| {
        if request.target.starts_with("/flaky") {
            match counter.fetch_add(1, Ordering::SeqCst) {
                0 | 1 => Answer::json(503, r#"{"busy": true}"#),
                _ => Answer::json(200, r#"{"done": true}"#),
            }
        } else {
            Answer::json(404, r#"{"message": "no such item"}"#)
        }
    });
    let tasks = integrations(&[server.host_port()], &[]);
    let definition = json!({
        "StartAt": "Flaky",
        "States": {
            "Flaky": {
                "Type": "Task",
                "Resource": "arn:aws:states:::http:invoke",
                "Parameters": {"ApiEndpoint": format!("{}/flaky", server.url()), "Method": "GET"},
                "Retry": [{"ErrorEquals": ["States.Http.StatusCode.503"], "IntervalSeconds": 1, "MaxAttempts": 3}],
                "ResultSelector": {"body.$": "$.ResponseBody"},
                "ResultPath": "$.flaky",
                "Next": "Missing"
            },
            "Missing": {
                "Type": "Task",
                "Resource": "arn:aws:states:::http:invoke",
                "Parameters": {"ApiEndpoint": format!("{}/missing", server.url()), "Method": "GET"},
                "Catch": [{"ErrorEquals": ["States.Http.StatusCode.404"], "ResultPath": "$.caught", "Next": "Parse"}],
                "End": true
            },
            "Parse": {
                "Type": "Pass",
                "Parameters": {
                    "flaky.$": "$.flaky",
                    "error.$": "$.caught.Error",
                    "cause.$": "States.StringToJson($.caught.Cause)"
                },
                "End": true
            }
        }
    });
    let result = run(definition, json!({}), tasks.as_ref());
    let output = output(&result);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "two 503s retried, then 200"
    );
    assert_eq!(output["flaky"], json!({"body": {"done": true}}));
    assert_eq!(output["error"], json!("States.Http.StatusCode.404"));
    assert_eq!(output["cause"]["StatusCode"], json!(404));
    assert_eq!(output["cause"]["StatusText"], json!("Not Found"));
    assert_eq!(
        output["cause"]["ResponseBody"],
        json!({"message": "no such item"})
    );
    let failed = result
        .history
        .iter()
        .filter(|event| event.event_type == "TaskFailed")
        .count();
    assert_eq!(failed, 3, "each non-2xx answer is a TaskFailed event");
}

#[test]
fn a_refused_connection_is_states_http_socket() {
    let address = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        listener.local_addr().expect("bound")
    };
    let tasks = integrations(&[address.to_string()], &[]);
    let definition = json!({
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": "arn:aws:states:::http:invoke",
                "Parameters": {"ApiEndpoint": format!("http://{address}/x"), "Method": "GET"},
                "Catch": [{"ErrorEquals": ["States.Http.Socket"], "Next": "Caught"}],
                "End": true
            },
            "Caught": {"Type": "Pass", "End": true}
        }
    });
    let output = output(&run(definition, json!({}), tasks.as_ref()));
    assert_eq!(output["Error"], json!("States.Http.Socket"));
    let cause = output["Cause"].as_str().expect("a cause");
    assert!(
        cause.contains(&format!("GET http://{address}/x")) && cause.contains("connect"),
        "{cause}"
    );
}

#[test]
fn timeout_seconds_ends_a_call_that_never_answers() {
    let server = Server::start(|_: &Received| Answer::never());
    let tasks = integrations(&[server.host_port()], &[]);
    let mut definition =
        task(json!({"ApiEndpoint": format!("{}/slow", server.url()), "Method": "GET"}));
    definition["States"]["Call"]["TimeoutSeconds"] = json!(1);
    let started = Instant::now();
    let result = run(definition, json!({}), tasks.as_ref());
    let elapsed = started.elapsed();
    assert_eq!(result.status, Status::Failed);
    assert_eq!(result.error.as_deref(), Some("States.Timeout"));
    assert!(
        result
            .history
            .iter()
            .any(|event| event.event_type == "TaskTimedOut"),
        "the history shows the timeout"
    );
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(10),
        "the timeout fired after about a second, not {elapsed:?}"
    );
    assert_eq!(server.received().len(), 1);
}

/// A call answered after `delay`, under `HeartbeatSeconds` 1 and `TimeoutSeconds` 10, with a
/// `States.TaskFailed` catcher (which takes no time-out) before `catch`.
fn slow_call(url: String, catch: &str, retry: Value) -> Value {
    json!({
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": "arn:aws:states:::http:invoke",
                "Parameters": {"ApiEndpoint": url, "Method": "GET"},
                "TimeoutSeconds": 10,
                "HeartbeatSeconds": 1,
                "Retry": retry,
                "Catch": [
                    {"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.failed", "Next": "Caught"},
                    {"ErrorEquals": [catch], "ResultPath": "$.caught", "Next": "Caught"}
                ],
                "End": true
            },
            "Caught": {"Type": "Pass", "End": true}
        }
    })
}

#[test]
fn heartbeat_seconds_ends_a_slow_http_call_before_its_timeout() {
    // An HTTP call sends no heartbeats: one slower than HeartbeatSeconds (1 s) but well
    // within TimeoutSeconds (10 s) times out after about a second.
    let server =
        Server::start(|_: &Received| Answer::json(200, "{}").after(Duration::from_secs(4)));
    let tasks = integrations(&[server.host_port()], &[]);
    let url = format!("{}/slow", server.url());
    let started = Instant::now();
    let result = run(
        slow_call(url.clone(), "States.HeartbeatTimeout", json!([])),
        json!({}),
        tasks.as_ref(),
    );
    let elapsed = started.elapsed();
    let output = output(&result);
    assert_eq!(output, json!({"caught": {"Error": "States.Timeout"}}));
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_millis(3_500),
        "the heartbeat timer fired after about a second, not {elapsed:?}"
    );
    let types: Vec<&str> = result
        .history
        .iter()
        .map(|event| event.event_type)
        .collect();
    let timed_out = result
        .history
        .iter()
        .find(|event| event.event_type == "TaskTimedOut")
        .unwrap_or_else(|| panic!("a TaskTimedOut event in {types:?}"));
    assert_eq!(
        timed_out.details["taskTimedOutEventDetails"]["error"],
        json!("States.Timeout")
    );
    let scheduled = result
        .history
        .iter()
        .find(|event| event.event_type == "TaskScheduled")
        .expect("a TaskScheduled event");
    assert_eq!(
        scheduled.details["taskScheduledEventDetails"]["heartbeatInSeconds"],
        json!(1)
    );
    assert!(!types.contains(&"TaskSucceeded"), "{types:?}");

    // Uncaught (States.TaskFailed does not match it), the execution fails with
    // States.Timeout, as AWS reports it.
    let result = run(
        slow_call(url, "Other.Error", json!([])),
        json!({}),
        tasks.as_ref(),
    );
    assert_eq!(result.status, Status::Failed);
    assert_eq!(result.error.as_deref(), Some("States.Timeout"));
}

#[test]
fn a_heartbeat_timeout_is_retried_by_a_heartbeat_timeout_retrier() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let server = Server::start(
        move |_: &Received| match counter.fetch_add(1, Ordering::SeqCst) {
            0 => Answer::json(200, r#"{"attempt": 1}"#).after(Duration::from_secs(4)),
            _ => Answer::json(200, r#"{"attempt": 2}"#),
        },
    );
    let tasks = integrations(&[server.host_port()], &[]);
    let definition = slow_call(
        format!("{}/flaky", server.url()),
        "Never.Caught",
        json!([{"ErrorEquals": ["States.HeartbeatTimeout"], "IntervalSeconds": 1, "MaxAttempts": 2}]),
    );
    let started = Instant::now();
    let result = run(definition, json!({}), tasks.as_ref());
    let elapsed = started.elapsed();
    let output = output(&result);
    assert_eq!(output["ResponseBody"], json!({"attempt": 2}));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert!(
        elapsed < Duration::from_secs(4),
        "the retry did not wait for the slow first answer: {elapsed:?}"
    );
    let types: Vec<&str> = result
        .history
        .iter()
        .map(|event| event.event_type)
        .collect();
    assert_eq!(
        types.iter().filter(|kind| **kind == "TaskTimedOut").count(),
        1,
        "{types:?}"
    );
}

/// A native resource whose work runs on its own thread: it heartbeats every `every` for
/// `beating`, then stops and answers after `answer_after` (measured from its start).
fn beating_handler(
    every: Duration,
    beating: Duration,
    answer_after: Duration,
) -> impl Fn(&Value, Reply) + Send + Sync + 'static {
    move |parameters: &Value, reply: Reply| {
        let parameters = parameters.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            let heartbeat = reply.heartbeats();
            while started.elapsed() < answer_after {
                std::thread::sleep(every.min(answer_after.saturating_sub(started.elapsed())));
                if started.elapsed() < beating {
                    heartbeat.beat();
                }
            }
            reply.send(Ok(
                json!({"worked": parameters, "ms": started.elapsed().as_millis() as u64}),
            ));
        });
    }
}

const BEATING: &str = "arn:aws:lambda:us-east-1:123456789012:function:beating";
const SILENT: &str = "arn:aws:lambda:us-east-1:123456789012:function:silent";

/// Two Tasks on native resources with `HeartbeatSeconds` 1: one that heartbeats every 200 ms
/// for all its 2.5 s, one that stops after 300 ms and answers after 3 s.
fn heartbeat_machine() -> (Value, NativeHandlers) {
    let definition = json!({
        "StartAt": "Beating",
        "States": {
            "Beating": {
                "Type": "Task", "Resource": BEATING, "HeartbeatSeconds": 1, "TimeoutSeconds": 20,
                "ResultPath": "$.beating", "Next": "Silent"
            },
            "Silent": {
                "Type": "Task", "Resource": SILENT, "HeartbeatSeconds": 1, "TimeoutSeconds": 20,
                "Catch": [{"ErrorEquals": ["States.HeartbeatTimeout"], "ResultPath": "$.silent", "Next": "Done"}],
                "ResultPath": "$.silent", "Next": "Done"
            },
            "Done": {"Type": "Succeed"}
        }
    });
    let handlers = NativeHandlers::new()
        .register_async(
            BEATING,
            beating_handler(
                Duration::from_millis(200),
                Duration::from_secs(60),
                Duration::from_millis(2_500),
            ),
        )
        .register_async(
            SILENT,
            beating_handler(
                Duration::from_millis(100),
                Duration::from_millis(300),
                Duration::from_secs(3),
            ),
        );
    (definition, handlers)
}

/// Checks a run of [`heartbeat_machine`]: the heartbeating task succeeded after several
/// heartbeat periods, the silent one timed out about a second after its last heartbeat.
fn check_heartbeat_output(output: &Value, elapsed: Duration) {
    assert_eq!(output["beating"]["worked"], json!({"n": 1}), "{output}");
    assert!(
        output["beating"]["ms"]
            .as_u64()
            .is_some_and(|ms| ms >= 2_400),
        "{output}"
    );
    assert_eq!(
        output["silent"],
        json!({"Error": "States.Timeout"}),
        "{output}"
    );
    // 2.5 s of heartbeats, then about 1.3 s until the silent task's timer ran out (not its
    // 3 s answer).
    assert!(
        elapsed >= Duration::from_millis(3_500) && elapsed < Duration::from_secs(10),
        "{elapsed:?}"
    );
}

#[test]
fn native_async_handlers_keep_a_task_alive_with_heartbeats() {
    let (definition, handlers) = heartbeat_machine();
    let started = Instant::now();
    let result = run(definition, json!({"n": 1}), &handlers);
    check_heartbeat_output(&output(&result), started.elapsed());
    let types: Vec<&str> = result
        .history
        .iter()
        .map(|event| event.event_type)
        .collect();
    assert_eq!(
        types
            .iter()
            .filter(|kind| **kind == "LambdaFunctionTimedOut")
            .count(),
        1,
        "{types:?}"
    );
}

#[test]
fn heartbeats_reach_executions_parked_in_the_worker_pool() {
    let (definition, handlers) = heartbeat_machine();
    let program: &'static compile::Program = Box::leak(Box::new(program(&definition)));
    let mut pool = Pool::start(
        program,
        PoolOptions {
            workers: 1,
            queue_per_worker: 4,
            execution: ExecOptions::default(),
            no_op: false,
            logs: None,
        },
        Arc::new(handlers),
    );
    let started = Instant::now();
    pool.submit(vec![Job {
        id: 1,
        name: "beats".into(),
        payload: br#"{"n": 1}"#.to_vec(),
    }]);
    let finished = pool
        .results()
        .recv_timeout(Duration::from_secs(30))
        .expect("a result");
    let elapsed = started.elapsed();
    pool.close();
    match finished.verdict {
        Verdict::Succeeded { output } => {
            check_heartbeat_output(&json::from_slice(&output).expect("JSON output"), elapsed)
        }
        other => panic!("the execution did not succeed: {other:?}"),
    }
}

#[test]
fn a_native_async_handler_that_drops_its_reply_fails_the_task() {
    let handlers = NativeHandlers::new().register_async(BEATING, |_: &Value, reply: Reply| {
        std::thread::spawn(move || drop(reply));
    });
    let definition = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": BEATING, "End": true}}});
    let result = run(definition.clone(), json!({}), &handlers);
    assert_eq!(result.error.as_deref(), Some("States.TaskFailed"));
    // A closure that panics before it starts its work fails the task with the panic message.
    let panicking =
        NativeHandlers::new().register_async(BEATING, |_: &Value, _: Reply| panic!("no worker"));
    let result = run(definition, json!({}), &panicking);
    assert_eq!(result.error.as_deref(), Some("States.TaskFailed"));
    assert!(
        result
            .cause
            .unwrap_or_default()
            .contains("panicked: no worker"),
        "the panic message is the cause"
    );
    // The blocking path (`invoke`) waits for the result, passing over heartbeats.
    let call_parameters = json!({});
    let call = stepstream::tasks::TaskCall {
        state_name: "T",
        resource: BEATING,
        parameters: &call_parameters,
        invocation: 0,
        state_machine: "M",
    };
    let answering = NativeHandlers::new().register_async(BEATING, |_: &Value, reply: Reply| {
        std::thread::spawn(move || {
            reply.heartbeat();
            reply.send(Err(Fault::new("Custom.Error", "from a thread")));
        });
    });
    assert_eq!(
        answering.invoke(&call),
        Some(Err(Fault::new("Custom.Error", "from a thread")))
    );
}

/// The charge machine `test-state` runs at TRACE: an HTTP Task with a secret header.
/// `stepstream test-state` of the Charge state of `machine` on `input`, with egress allowed to
/// `allow` and the `extra` arguments.
fn test_charge(
    machine: &std::path::Path,
    allow: &str,
    input: &str,
    extra: &[&str],
) -> util::BinaryRun {
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "test-state".as_ref(),
        machine.as_os_str(),
        "--state".as_ref(),
        "Charge".as_ref(),
        "--input".as_ref(),
        input.as_ref(),
        "--http-allow".as_ref(),
        allow.as_ref(),
    ];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    util::stepstream(args)
}

fn traced_machine(dir: &std::path::Path, url: &str) -> std::path::PathBuf {
    let definition = json!({
        "StartAt": "Charge",
        "States": {"Charge": {
            "Type": "Task",
            "Resource": "arn:aws:states:::http:invoke",
            "Parameters": {
                "ApiEndpoint": url,
                "Method": "POST",
                "Headers": {"X-Api-Key": "key-5678-secret", "X-Visible": "shown"},
                "QueryParameters": {"q": "a b"},
                "RequestBody": {"amount.$": "$.amount"}
            },
            "ResultSelector": {"code.$": "$.StatusCode"},
            "End": true
        }}
    });
    write_file(dir, "charge.asl.json", &json::to_string(&definition))
}

#[test]
fn test_state_at_trace_shows_the_http_request_and_response() {
    let server = Server::start(|_: &Received| {
        Answer::json(201, r#"{"id": "ch_1"}"#).header("X-Request-Id", "r-1")
    });
    let dir = temp_dir("test-state-trace");
    let machine = traced_machine(&dir, &format!("{}/charges", server.url()));
    let allow = server.host_port();
    let test_state = |extra: &[&str]| {
        let mut args = vec!["--secret-header", "x-api-key"];
        args.extend(extra);
        let run = test_charge(&machine, &allow, r#"{"amount": 5}"#, &args);
        assert_eq!(run.code, Some(0), "{}", run.describe());
        run
    };

    let run = test_state(&["--inspection-level", "TRACE"]);
    let response = run.stdout_json();
    assert_eq!(response["status"], json!("SUCCEEDED"));
    assert_eq!(response["output"], json!(r#"{"code":201}"#));
    let data = &response["inspectionData"];
    assert_eq!(
        data["afterParameters"]
            .as_str()
            .map(|text| text.contains("key-5678-secret")),
        Some(true)
    );
    let request = &data["request"];
    assert_eq!(request["protocol"], json!("http"));
    assert_eq!(request["method"], json!("POST"));
    assert_eq!(
        request["url"],
        json!(format!("{}/charges?q=a%20b", server.url()))
    );
    assert_eq!(
        request["headers"],
        json!("[X-Api-Key: *****, X-Visible: shown, Content-Type: application/json; charset=UTF-8, User-Agent: Amazon|StepFunctions|HttpInvoke|us-east-1, Range: bytes=0-262144]")
    );
    assert_eq!(request["body"], json!(r#"{"amount":5}"#));
    let response_data = &data["response"];
    assert_eq!(response_data["protocol"], json!("http"));
    assert_eq!(response_data["statusCode"], json!("201"));
    assert_eq!(response_data["statusMessage"], json!("Created"));
    assert_eq!(response_data["body"], json!(r#"{"id": "ch_1"}"#));
    let headers = response_data["headers"].as_str().expect("headers text");
    assert!(
        headers.starts_with('[') && headers.contains("x-request-id: r-1"),
        "{headers}"
    );
    // Every value is a string, as TestState gives them.
    for part in [request, response_data] {
        let fields = part.as_object().expect("an object");
        assert!(fields.iter().all(|(_, value)| value.is_string()), "{part}");
    }
    // The server got the secret all the same.
    assert_eq!(
        server.received()[0].header("x-api-key"),
        Some("key-5678-secret")
    );

    // --reveal-secrets shows the value.
    let run = test_state(&["--inspection-level", "TRACE", "--reveal-secrets"]);
    let revealed = run.stdout_json();
    assert!(
        revealed["inspectionData"]["request"]["headers"]
            .as_str()
            .is_some_and(|headers| headers.starts_with("[X-Api-Key: key-5678-secret, ")),
        "{}",
        run.stdout
    );

    // DEBUG shows no request or response.
    let run = test_state(&[]);
    let debug = run.stdout_json();
    assert!(
        debug["inspectionData"].get("request").is_none(),
        "{}",
        run.stdout
    );
    assert!(
        debug["inspectionData"].get("response").is_none(),
        "{}",
        run.stdout
    );
}

#[test]
fn test_state_at_trace_shows_the_request_of_a_call_that_got_no_answer() {
    let server = Server::start(|_: &Received| Answer::json(404, r#"{"message": "none"}"#));
    let dir = temp_dir("test-state-trace-404");
    let machine = traced_machine(&dir, &format!("{}/missing", server.url()));
    let run = test_charge(
        &machine,
        &server.host_port(),
        r#"{"amount": 1}"#,
        &["--inspection-level", "trace"],
    );
    assert_eq!(run.code, Some(1), "{}", run.describe());
    let response = run.stdout_json();
    assert_eq!(response["error"], json!("States.Http.StatusCode.404"));
    let data = &response["inspectionData"];
    assert_eq!(data["response"]["statusCode"], json!("404"));
    assert_eq!(data["response"]["statusMessage"], json!("Not Found"));
    assert_eq!(data["request"]["method"], json!("POST"));

    // A refused connection: the request, and no response.
    let address = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        listener.local_addr().expect("bound")
    };
    let machine = traced_machine(&dir, &format!("http://{address}/x"));
    let run = test_charge(
        &machine,
        &address.to_string(),
        r#"{"amount": 1}"#,
        &["--inspection-level", "TRACE"],
    );
    assert_eq!(run.code, Some(1), "{}", run.describe());
    let response = run.stdout_json();
    assert_eq!(response["error"], json!("States.Http.Socket"));
    assert_eq!(
        response["inspectionData"]["request"]["url"],
        json!(format!("http://{address}/x?q=a%20b"))
    );
    assert!(response["inspectionData"].get("response").is_none());
    // X-Api-Key is not a secret header here: its value is shown.
    assert!(
        response["inspectionData"]["request"]["headers"]
            .as_str()
            .is_some_and(|headers| headers.contains("X-Api-Key: key-5678-secret")),
        "{}",
        run.stdout
    );
}

#[test]
fn the_allow_list_denies_other_hosts() {
    let server = Server::start(|_: &Received| Answer::json(200, "{}"));
    let tasks = integrations(&["127.0.0.1:1".to_string()], &[]);
    let definition = task(json!({"ApiEndpoint": format!("{}/x", server.url()), "Method": "GET"}));
    let result = run(definition, json!({}), tasks.as_ref());
    assert_eq!(result.status, Status::Failed);
    assert_eq!(result.error.as_deref(), Some("States.Permissions"));
    let cause = result.cause.unwrap_or_default();
    assert!(
        cause.contains(&server.host_port()) && cause.contains("[tasks.http] allow"),
        "{cause}"
    );
    assert!(server.received().is_empty(), "nothing was sent");
    let https = task(json!({"ApiEndpoint": "https://127.0.0.1:1/x", "Method": "GET"}));
    let result = run(https, json!({}), tasks.as_ref());
    assert_eq!(result.error.as_deref(), Some("States.TaskFailed"));
    assert!(result
        .cause
        .unwrap_or_default()
        .contains("HTTPS endpoints are not supported"));
}

#[test]
fn secret_headers_stay_out_of_history_and_logs() {
    let server = Server::start(|_: &Received| Answer::json(200, r#"{"ok": true}"#));
    let dir = temp_dir("secret-headers");
    let definition = task(json!({
        "ApiEndpoint": format!("{}/secure", server.url()),
        "Method": "POST",
        "Headers": {
            "Authorization.$": "States.Format('Bearer {}', $.token)",
            "X-Api-Key": "key-5678-secret",
            "X-Visible": "shown"
        },
        "RequestBody": {"a": 1}
    }));
    let file = write_file(&dir, "secret.asl.json", &json::to_string(&definition));
    let config = write_file(
        &dir,
        "stepstream.toml",
        &format!(
            "state_machine = \"secret.asl.json\"\n[tasks.http]\nallow = [\"{}\"]\nsecret_headers = [\"x-api-key\"]\n",
            server.host_port()
        ),
    );
    let run = util::stepstream([
        "exec".as_ref(),
        file.as_os_str(),
        "--config".as_ref(),
        config.as_os_str(),
        "--input".as_ref(),
        r#"{"token": "tok-1234-secret"}"#.as_ref(),
        "--history".as_ref(),
        "--logs".as_ref(),
    ]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    let received = server.received();
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0].header("authorization"),
        Some("Bearer tok-1234-secret")
    );
    assert_eq!(received[0].header("x-api-key"), Some("key-5678-secret"));
    // The history's TaskScheduled parameters and the log records show the headers masked.
    assert!(
        !run.stdout.contains("Bearer tok-1234-secret"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("key-5678-secret"), "{}", run.stdout);
    assert!(
        !run.stderr.contains("Bearer tok-1234-secret"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("key-5678-secret"), "{}", run.stderr);
    let printed = run.stdout_json();
    let scheduled = printed["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|event| event["type"] == json!("TaskScheduled"))
        .cloned()
        .expect("a TaskScheduled event");
    assert_eq!(
        scheduled["taskScheduledEventDetails"]["parameters"]["Headers"],
        json!({"Authorization": "*****", "X-Api-Key": "*****", "X-Visible": "shown"})
    );
    assert!(run.stderr.contains("TaskScheduled"), "{}", run.stderr);
    assert!(run.stderr.contains("shown"), "{}", run.stderr);
}

/// A fake Lambda Runtime Interface Emulator: `echo` answers with the payload it got, `fail`
/// with a function error, anything else with the Invoke API's 404.
fn fake_rie() -> Server {
    Server::start(|request: &Received| {
        let name = request
            .target
            .strip_prefix("/2015-03-31/functions/")
            .and_then(|rest| rest.strip_suffix("/invocations"))
            .unwrap_or("");
        match (request.method.as_str(), name) {
            ("POST", "echo") => {
                let payload = request.body_text();
                Answer::json(200, &format!(r#"{{"echoed": {payload}}}"#))
                    .header("X-Amzn-RequestId", "req-1")
            }
            ("POST", "fail") => Answer::json(
                200,
                r#"{"errorMessage": "bad order", "errorType": "OrderError", "stackTrace": ["  File \"/var/task/app.py\", line 3"]}"#,
            )
            .header("X-Amz-Function-Error", "Unhandled"),
            _ => Answer::json(404, r#"{"Type": "User", "message": "Function not found"}"#)
                .header("X-Amzn-ErrorType", "ResourceNotFoundException"),
        }
    })
}

#[test]
fn lambda_invoke_results_and_errors() {
    let rie = fake_rie();
    let tasks = integrations(
        &[],
        &[
            ("echo", rie.url()),
            ("fail", rie.url()),
            ("gone", rie.url()),
        ],
    );
    let definition = json!({
        "StartAt": "Optimized",
        "States": {
            "Optimized": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:echo", "Payload.$": "$.order"},
                "ResultPath": "$.optimized",
                "Next": "Bare"
            },
            "Bare": {
                "Type": "Task",
                "Resource": "arn:aws:lambda:us-east-1:123456789012:function:echo",
                "InputPath": "$.order",
                "ResultPath": "$.bare",
                "Next": "Failing"
            },
            "Failing": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "fail", "Payload": {}},
                "Catch": [{"ErrorEquals": ["OrderError"], "ResultPath": "$.failure", "Next": "Unknown"}],
                "End": true
            },
            "Unknown": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "not-configured"},
                "Catch": [{"ErrorEquals": ["Lambda.ResourceNotFoundException"], "ResultPath": "$.unknown", "Next": "Gone"}],
                "End": true
            },
            "Gone": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "gone"},
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.gone", "Next": "Done"}],
                "End": true
            },
            "Done": {"Type": "Succeed"}
        }
    });
    let result = run(definition, json!({"order": {"id": "o-1"}}), tasks.as_ref());
    let output = output(&result);
    let optimized = &output["optimized"];
    assert_eq!(optimized["Payload"], json!({"echoed": {"id": "o-1"}}));
    assert_eq!(optimized["StatusCode"], json!(200));
    assert_eq!(optimized["ExecutedVersion"], json!("$LATEST"));
    assert_eq!(
        optimized["SdkResponseMetadata"],
        json!({"RequestId": "req-1"})
    );
    assert_eq!(optimized["SdkHttpMetadata"]["HttpStatusCode"], json!(200));
    assert_eq!(
        optimized["SdkHttpMetadata"]["HttpHeaders"]["Content-Type"],
        json!("application/json")
    );
    assert_eq!(
        optimized["SdkHttpMetadata"]["AllHttpHeaders"]["x-amzn-RequestId"],
        json!(["req-1"])
    );
    assert_eq!(output["bare"], json!({"echoed": {"id": "o-1"}}));
    assert_eq!(output["failure"]["Error"], json!("OrderError"));
    assert_eq!(
        json::from_str(output["failure"]["Cause"].as_str().expect("a cause")).expect("JSON"),
        json!({"errorMessage": "bad order", "errorType": "OrderError", "stackTrace": ["  File \"/var/task/app.py\", line 3"]})
    );
    assert_eq!(
        output["unknown"]["Error"],
        json!("Lambda.ResourceNotFoundException")
    );
    assert!(output["unknown"]["Cause"]
        .as_str()
        .unwrap_or_default()
        .starts_with("Function not found: arn:aws:lambda:us-east-1:123456789012:function:not-configured (Service: AWSLambda; Status Code: 404;"));
    assert_eq!(
        output["gone"]["Error"],
        json!("Lambda.ResourceNotFoundException")
    );
    // The bare ARN is a Lambda function resource in the history; lambda:invoke a service task.
    let types: Vec<&str> = result
        .history
        .iter()
        .map(|event| event.event_type)
        .collect();
    assert!(types.contains(&"LambdaFunctionSucceeded"), "{types:?}");
    assert!(types.contains(&"TaskSucceeded"), "{types:?}");
    let received = rie.received();
    assert_eq!(received[0].target, "/2015-03-31/functions/echo/invocations");
    assert_eq!(received[0].body_text(), r#"{"id":"o-1"}"#);
}

#[test]
fn an_unreachable_lambda_endpoint_is_an_sdk_client_exception() {
    let address = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        listener.local_addr().expect("bound")
    };
    let tasks = integrations(&[], &[("f", format!("http://{address}"))]);
    let definition = json!({
        "StartAt": "Call",
        "States": {"Call": {
            "Type": "Task",
            "Resource": "arn:aws:lambda:us-east-1:123456789012:function:f",
            "End": true
        }}
    });
    let result = run(definition, json!({}), tasks.as_ref());
    assert_eq!(result.status, Status::Failed);
    assert_eq!(result.error.as_deref(), Some("Lambda.SdkClientException"));
}

/// 2,000 executions whose HTTP call takes 200 ms each, on two workers: sequentially that is
/// 400 s; suspended, the calls overlap and the whole run takes a small part of it.
#[test]
fn thousands_of_slow_http_tasks_overlap_on_two_workers() {
    const EVENTS: usize = 2_000;
    const HOLD: Duration = Duration::from_millis(200);
    let arrivals = Arc::new(std::sync::Mutex::new(Vec::with_capacity(EVENTS)));
    let log = Arc::clone(&arrivals);
    let server = Server::start(move |_: &Received| {
        log.lock().expect("not poisoned").push(Instant::now());
        Answer::json(200, r#"{"ok": true}"#).after(HOLD)
    });
    let definition = json!({
        "StartAt": "Call",
        "States": {"Call": {
            "Type": "Task",
            "Resource": "arn:aws:states:::http:invoke",
            "Parameters": {"ApiEndpoint.$": "$.url", "Method": "GET", "QueryParameters": {"n.$": "$.n"}},
            "ResultSelector": {"n.$": "$.ResponseBody.ok"},
            "End": true
        }}
    });
    let program: &'static compile::Program = Box::leak(Box::new(program(&definition)));
    let tasks = integrations(&[server.host_port()], &[]);
    let mut pool = Pool::start(
        program,
        PoolOptions {
            workers: 2,
            queue_per_worker: 64,
            execution: ExecOptions::default(),
            no_op: false,
            logs: None,
        },
        tasks,
    );
    let started = Instant::now();
    let url = format!("{}/slow", server.url());
    let results = pool.results().clone();
    let collector = std::thread::spawn(move || {
        let mut succeeded = 0;
        let mut failed = Vec::new();
        for _ in 0..EVENTS {
            let finished = results
                .recv_timeout(Duration::from_secs(120))
                .expect("every event gets a result");
            match finished.verdict {
                Verdict::Succeeded { output } => {
                    assert_eq!(output, br#"{"n":true}"#);
                    succeeded += 1;
                }
                other => failed.push(other),
            }
        }
        (succeeded, failed)
    });
    for n in 0..EVENTS {
        let payload = format!(r#"{{"url": "{url}", "n": {n}}}"#).into_bytes();
        pool.submit(vec![Job {
            id: n as u64,
            name: format!("e-{n}"),
            payload,
        }]);
    }
    let (succeeded, failed) = collector.join().expect("the collector");
    let elapsed = started.elapsed();
    pool.close();
    assert!(
        failed.is_empty(),
        "failures: {:?}",
        &failed[..failed.len().min(3)]
    );
    assert_eq!(succeeded, EVENTS);
    assert_eq!(server.received().len(), EVENTS);
    // Sequentially 2,000 × 200 ms = 400 s; overlapped, far less.
    assert!(
        elapsed < Duration::from_secs(60),
        "2,000 slow calls took {elapsed:?}: they did not overlap"
    );
    // Each call is held 200 ms, so calls that arrived less than 200 ms apart were in flight
    // together: the most arrivals in any 200 ms window is a lower bound of the overlap.
    let mut times = arrivals.lock().expect("not poisoned").clone();
    times.sort();
    let mut most = 0;
    let mut first = 0;
    for (last, at) in times.iter().enumerate() {
        while at.duration_since(times[first]) >= HOLD {
            first += 1;
        }
        most = most.max(last - first + 1);
    }
    assert!(most >= 100, "at most {most} calls were in flight at once");
    eprintln!(
        "2,000 executions × 200 ms HTTP on 2 workers: {elapsed:?}, at least {most} calls in flight at once, {} connections",
        server.connections()
    );
}
