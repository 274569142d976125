//! Lambda invoke: `arn:aws:states:::lambda:invoke` (the optimized integration: `FunctionName`,
//! `Payload`, result `{ExecutedVersion, Payload, SdkHttpMetadata, SdkResponseMetadata,
//! StatusCode}`) and bare function ARNs (`arn:aws:lambda:REGION:ACCOUNT:function:NAME`, whose
//! payload is the whole effective input and whose result is the function's own).
//!
//! Functions are served by endpoints that speak the Lambda Invoke API as the Lambda Runtime
//! Interface Emulator does (`POST {endpoint}/2015-03-31/functions/NAME/invocations`); the
//! configuration maps function names or ARNs to them. Errors are AWS's: a function error
//! (`X-Amz-Function-Error`) fails the task with its `errorType` and the error body as cause;
//! an unknown function is `Lambda.ResourceNotFoundException`; an endpoint that does not
//! answer is `Lambda.SdkClientException`, one that answers with a server error
//! `Lambda.ServiceException`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use hyper::{Method, Uri};

use crate::json::{self, Map, Value};

use super::client::{append_header, Inbound, IoRuntime, Outbound, SendError};
use super::{invoke_blocking, Dispatch, Fault, ReplyTo, TaskCall, TaskHandler};

/// The optimized integration's resource.
pub const RESOURCE: &str = "arn:aws:states:::lambda:invoke";

/// The longest a Lambda function may run (15 minutes): the call's own limit when the state
/// sets no `TimeoutSeconds`.
const MAX_CALL: Duration = Duration::from_secs(900);

const TIMEOUT_GRACE: Duration = Duration::from_secs(1);

/// What the Lambda handler knows: where each function is served.
#[derive(Debug, Clone, Default)]
pub struct LambdaSettings {
    /// Function names or ARNs → endpoint base URLs (`http://host:port`).
    pub functions: HashMap<String, String>,
    /// Region and account of the ARNs in error causes.
    pub region: String,
    pub account: String,
}

/// Serves Lambda invocations on the shared async runtime.
pub struct LambdaHandler {
    io: Arc<IoRuntime>,
    settings: Arc<LambdaSettings>,
}

impl LambdaHandler {
    pub fn new(io: Arc<IoRuntime>, settings: LambdaSettings) -> LambdaHandler {
        LambdaHandler {
            io,
            settings: Arc::new(settings),
        }
    }
}

/// Which of the two forms a call is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Form {
    /// `arn:aws:states:::lambda:invoke`: parameters name the function and hold the payload.
    Optimized,
    /// A function ARN as the resource: the parameters are the payload.
    Bare,
}

fn form_of(resource: &str) -> Option<Form> {
    if resource == RESOURCE {
        Some(Form::Optimized)
    } else if resource.starts_with("arn:aws:lambda:") && resource.contains(":function:") {
        Some(Form::Bare)
    } else {
        None
    }
}

/// Whether a resource is a Lambda invocation this handler serves.
pub fn serves(resource: &str) -> bool {
    form_of(resource).is_some()
}

impl TaskHandler for LambdaHandler {
    fn invoke(&self, call: &TaskCall<'_>) -> Option<Result<Value, Fault>> {
        form_of(call.resource)?;
        invoke_blocking(self, call)
    }

    fn dispatch(&self, call: &TaskCall<'_>, reply: &ReplyTo<'_>) -> Option<Dispatch> {
        let form = form_of(call.resource)?;
        let (function, payload) = match form {
            Form::Bare => (call.resource.to_string(), json::to_vec(call.parameters)),
            Form::Optimized => match optimized_parameters(call.parameters) {
                Ok(found) => found,
                Err(fault) => return Some(Dispatch::Ready(Err(fault))),
            },
        };
        let (name, qualifier) = function_name(&function);
        let Some(endpoint) = self
            .settings
            .functions
            .get(&function)
            .or_else(|| self.settings.functions.get(name))
        else {
            return Some(Dispatch::Ready(Err(not_found(&self.settings, name))));
        };
        let outbound = match invocation(endpoint, name, qualifier, payload) {
            Ok(outbound) => outbound,
            Err(fault) => return Some(Dispatch::Ready(Err(fault))),
        };
        let limit = reply
            .silent_limit()
            .map_or(MAX_CALL, |limit| (limit + TIMEOUT_GRACE).min(MAX_CALL));
        let client = self.io.client();
        let answer = reply.reply();
        let settings = Arc::clone(&self.settings);
        let name = name.to_string();
        self.io.spawn(async move {
            let target = outbound.uri.to_string();
            let result = client.send(outbound, limit).await;
            answer.send(outcome(result, form, &name, &target, &settings));
        });
        Some(Dispatch::Started)
    }
}

/// `FunctionName` and the payload bytes of an optimized call.
fn optimized_parameters(parameters: &Value) -> Result<(String, Vec<u8>), Fault> {
    let function = match parameters.get("FunctionName") {
        Some(Value::String(name)) if !name.as_str().is_empty() => name.as_str().to_string(),
        _ => {
            return Err(Fault::new(
                "Lambda.InvalidParameterValueException",
                "FunctionName must be a function name or ARN (a non-empty string)",
            ))
        }
    };
    let payload = match parameters.get("Payload") {
        None => b"{}".to_vec(),
        Some(payload) => json::to_vec(payload),
    };
    Ok((function, payload))
}

/// The function's name and qualifier in a name, partial ARN or ARN
/// (`NAME[:QUALIFIER]`, `ACCOUNT:function:NAME[:QUALIFIER]`,
/// `arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`).
fn function_name(function: &str) -> (&str, Option<&str>) {
    let rest = match function.find(":function:") {
        Some(at) => &function[at + ":function:".len()..],
        None => function,
    };
    match rest.split_once(':') {
        Some((name, qualifier)) => (name, Some(qualifier)),
        None => (rest, None),
    }
}

/// The Invoke API request for `name` at `endpoint`.
fn invocation(
    endpoint: &str,
    name: &str,
    qualifier: Option<&str>,
    payload: Vec<u8>,
) -> Result<Outbound, Fault> {
    let mut url = format!(
        "{}/2015-03-31/functions/{}/invocations",
        endpoint.trim_end_matches('/'),
        encode_segment(name)
    );
    if let Some(qualifier) = qualifier {
        url.push_str("?Qualifier=");
        url.push_str(&encode_segment(qualifier));
    }
    let uri: Uri = url.parse().map_err(|err| {
        Fault::new(
            "Lambda.SdkClientException",
            format!("Unable to execute HTTP request: invalid endpoint {url:?}: {err}"),
        )
    })?;
    Ok(Outbound {
        method: Method::POST,
        uri,
        headers: vec![
            ("Content-Type".into(), "application/json".into()),
            ("X-Amz-Invocation-Type".into(), "RequestResponse".into()),
        ],
        body: payload,
    })
}

fn encode_segment(text: &str) -> String {
    let mut out = String::new();
    super::client::percent_encode(text, &mut out);
    out
}

fn function_arn(settings: &LambdaSettings, name: &str) -> String {
    format!(
        "arn:aws:lambda:{}:{}:function:{name}",
        settings.region, settings.account
    )
}

/// The AWS SDK's way of describing a service error.
fn service_cause(message: &str, status: u16, code: &str, request_id: &str) -> String {
    format!(
        "{message} (Service: AWSLambda; Status Code: {status}; Error Code: {code}; Request ID: {request_id}; Proxy: null)"
    )
}

fn not_found(settings: &LambdaSettings, name: &str) -> Fault {
    Fault::new(
        "Lambda.ResourceNotFoundException",
        service_cause(
            &format!("Function not found: {}", function_arn(settings, name)),
            404,
            "ResourceNotFoundException",
            &crate::intrinsics::uuid_v4(),
        ),
    )
}

/// The task result (or fault) of an Invoke API exchange.
fn outcome(
    result: Result<Inbound, SendError>,
    form: Form,
    name: &str,
    target: &str,
    settings: &LambdaSettings,
) -> Result<Value, Fault> {
    let inbound = match result {
        Ok(inbound) => inbound,
        Err(SendError::TooLarge) => {
            return Err(Fault::new(
                "Lambda.SdkClientException",
                format!("The response of {target} is larger than the payload limit"),
            ))
        }
        Err(err) => {
            return Err(Fault::new(
                "Lambda.SdkClientException",
                format!("Unable to execute HTTP request to {target}: {err}"),
            ))
        }
    };
    let request_id = inbound
        .header("x-amzn-requestid")
        .map(str::to_string)
        .unwrap_or_else(crate::intrinsics::uuid_v4);
    if !(200..300).contains(&inbound.status) {
        let code = inbound
            .header("x-amzn-errortype")
            .map(|kind| kind.split(':').next().unwrap_or(kind).to_string())
            .unwrap_or_else(|| {
                match inbound.status {
                    404 => "ResourceNotFoundException",
                    429 => "TooManyRequestsException",
                    status if status >= 500 => "ServiceException",
                    _ => "AWSLambdaException",
                }
                .to_string()
            });
        let message = match json::from_slice(&inbound.body) {
            Ok(body) => body
                .get("message")
                .or_else(|| body.get("Message"))
                .and_then(Value::as_str)
                .map(str::to_string),
            Err(_) => None,
        }
        .unwrap_or_else(|| match inbound.status {
            404 => format!("Function not found: {}", function_arn(settings, name)),
            _ => String::from_utf8_lossy(&inbound.body).trim().to_string(),
        });
        return Err(Fault::new(
            format!("Lambda.{code}"),
            service_cause(&message, inbound.status, &code, &request_id),
        ));
    }
    if inbound.header("x-amz-function-error").is_some() {
        let body = json::from_slice(&inbound.body).ok();
        let error = body
            .as_ref()
            .and_then(|body| body.get("errorType"))
            .and_then(Value::as_str)
            .unwrap_or("Lambda.Unknown")
            .to_string();
        let cause = match &body {
            Some(body) => json::to_string(body),
            None => String::from_utf8_lossy(&inbound.body).into_owned(),
        };
        return Err(Fault::new(error, cause));
    }
    let payload = if inbound.body.is_empty() {
        Value::Null
    } else {
        json::from_slice(&inbound.body)
            .unwrap_or_else(|_| Value::from(String::from_utf8_lossy(&inbound.body).into_owned()))
    };
    Ok(match form {
        Form::Bare => payload,
        Form::Optimized => optimized_result(&inbound, payload, &request_id),
    })
}

/// The optimized integration's result, in the shape AWS records.
fn optimized_result(inbound: &Inbound, payload: Value, request_id: &str) -> Value {
    let version = inbound
        .header("x-amz-executed-version")
        .unwrap_or("$LATEST")
        .to_string();
    let mut all = Map::new();
    let mut single = Map::new();
    for (name, value) in &inbound.headers {
        let name = header_case(name);
        if append_header(&mut all, &name, value) {
            single.insert(name.as_str(), Value::from(value.as_str()));
        }
    }
    json::object([
        ("ExecutedVersion", Value::from(version)),
        ("Payload", payload),
        (
            "SdkHttpMetadata",
            json::object([
                ("AllHttpHeaders", Value::Object(all)),
                ("HttpHeaders", Value::Object(single)),
                ("HttpStatusCode", Value::from(inbound.status as u64)),
            ]),
        ),
        (
            "SdkResponseMetadata",
            json::object([("RequestId", Value::from(request_id))]),
        ),
        ("StatusCode", Value::from(inbound.status as u64)),
    ])
}

/// A header name as Lambda's service spells it (`Content-Type`, `x-amzn-RequestId`).
fn header_case(name: &str) -> String {
    match name {
        "x-amzn-requestid" => "x-amzn-RequestId".into(),
        "x-amzn-remapped-content-length" => "x-amzn-Remapped-Content-Length".into(),
        _ => name
            .split('-')
            .map(|part| {
                let mut chars = part.chars();
                match chars.next() {
                    Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                    None => String::new(),
                }
            })
            .collect::<Vec<_>>()
            .join("-"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json;

    fn settings() -> LambdaSettings {
        LambdaSettings {
            functions: HashMap::new(),
            region: "us-east-1".into(),
            account: "123456789012".into(),
        }
    }

    fn inbound(status: u16, headers: &[(&str, &str)], body: &str) -> Inbound {
        Inbound {
            status,
            reason: String::new(),
            headers: headers
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn function_names_from_names_and_arns() {
        assert_eq!(function_name("f"), ("f", None));
        assert_eq!(function_name("f:prod"), ("f", Some("prod")));
        assert_eq!(
            function_name("arn:aws:lambda:us-east-1:1:function:f"),
            ("f", None)
        );
        assert_eq!(
            function_name("arn:aws:lambda:us-east-1:1:function:f:$LATEST"),
            ("f", Some("$LATEST"))
        );
        assert_eq!(function_name("1:function:f"), ("f", None));
    }

    #[test]
    fn results_and_errors() {
        let ok = inbound(
            200,
            &[
                ("content-type", "application/json"),
                ("x-amzn-requestid", "r-1"),
            ],
            r#"{"a":1}"#,
        );
        let result = outcome(Ok(ok.clone()), Form::Optimized, "f", "t", &settings()).expect("ok");
        assert_eq!(
            result,
            json!({
                "ExecutedVersion": "$LATEST",
                "Payload": {"a": 1},
                "SdkHttpMetadata": {
                    "AllHttpHeaders": {"Content-Type": ["application/json"], "x-amzn-RequestId": ["r-1"]},
                    "HttpHeaders": {"Content-Type": "application/json", "x-amzn-RequestId": "r-1"},
                    "HttpStatusCode": 200
                },
                "SdkResponseMetadata": {"RequestId": "r-1"},
                "StatusCode": 200
            })
        );
        assert_eq!(
            outcome(Ok(ok), Form::Bare, "f", "t", &settings()),
            Ok(json!({"a": 1}))
        );
        let failed = inbound(
            200,
            &[("x-amz-function-error", "Unhandled")],
            r#"{"errorMessage": "boom", "errorType": "ValueError", "stackTrace": []}"#,
        );
        assert_eq!(
            outcome(Ok(failed), Form::Optimized, "f", "t", &settings()),
            Err(Fault::new(
                "ValueError",
                r#"{"errorMessage":"boom","errorType":"ValueError","stackTrace":[]}"#
            ))
        );
        let server = inbound(500, &[], "internal");
        let fault = outcome(Ok(server), Form::Bare, "f", "t", &settings()).expect_err("fails");
        assert_eq!(fault.error.as_deref(), Some("Lambda.ServiceException"));
        let refused = outcome(
            Err(SendError::Connect("refused".into())),
            Form::Bare,
            "f",
            "t",
            &settings(),
        )
        .expect_err("fails");
        assert_eq!(refused.error.as_deref(), Some("Lambda.SdkClientException"));
        let fault = not_found(&settings(), "missing");
        assert_eq!(
            fault.error.as_deref(),
            Some("Lambda.ResourceNotFoundException")
        );
        assert!(fault.cause.unwrap().starts_with(
            "Function not found: arn:aws:lambda:us-east-1:123456789012:function:missing (Service: AWSLambda; Status Code: 404; Error Code: ResourceNotFoundException; Request ID: "
        ));
    }
}
