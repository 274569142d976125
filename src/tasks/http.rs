//! The HTTP Task (`arn:aws:states:::http:invoke`): AWS's parameters (`ApiEndpoint`, `Method`,
//! `Headers`, `QueryParameters`, `RequestBody`, `Transform`), AWS's result shape (`Headers`,
//! `ResponseBody`, `StatusCode`, `StatusText`) and error names (`States.Http.StatusCode.NNN`
//! for a non-2xx answer, `States.Http.Socket` when no answer comes).
//!
//! Calls go out only to hosts the configuration allows; `https://` endpoints are refused
//! (the client speaks plain HTTP/1.1). `Authentication` (an EventBridge connection) is
//! accepted and ignored: credentials go in `Headers`, whose secret values never reach the
//! history or the logs (see [`redact`]).

use std::sync::Arc;
use std::time::Duration;

use hyper::{Method, Uri};

use crate::json::{self, Map, Value};

use super::client::{
    append_header, percent_encode, AllowList, Inbound, IoRuntime, Outbound, SendError,
};
use super::{invoke_blocking, Dispatch, Fault, ReplyTo, TaskCall, TaskHandler, Trace};

/// The HTTP Task's resource.
pub const RESOURCE: &str = "arn:aws:states:::http:invoke";

/// AWS ends an HTTP Task that has no answer after 60 seconds with `States.Http.Socket`.
pub const MAX_CALL: Duration = Duration::from_secs(60);

/// How long after a Task state's `TimeoutSeconds` (or `HeartbeatSeconds`: a call sends no
/// heartbeats) the call itself is abandoned: the execution has already timed the task out by
/// then, so the late answer is dropped.
const TIMEOUT_GRACE: Duration = Duration::from_secs(1);

/// The replacement of a secret header's value in history and logs.
pub const REDACTED: &str = "*****";

/// Headers a definition may not set: they belong to the HTTP framing the client does.
const FRAMING_HEADERS: [&str; 9] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "expect",
];

/// What the HTTP Task handler is allowed and told.
#[derive(Debug, Clone, Default)]
pub struct HttpSettings {
    /// The hosts calls may go to; none by default.
    pub allow: AllowList,
    /// Header names (lower case) whose values are secret, besides `authorization`.
    pub secret_headers: Vec<String>,
    /// The region named in the `User-Agent` header.
    pub region: String,
}

/// Serves `arn:aws:states:::http:invoke` on the shared async runtime.
pub struct HttpHandler {
    io: Arc<IoRuntime>,
    settings: Arc<HttpSettings>,
}

impl HttpHandler {
    pub fn new(io: Arc<IoRuntime>, settings: HttpSettings) -> HttpHandler {
        HttpHandler {
            io,
            settings: Arc::new(settings),
        }
    }
}

impl TaskHandler for HttpHandler {
    fn invoke(&self, call: &TaskCall<'_>) -> Option<Result<Value, Fault>> {
        if call.resource != RESOURCE {
            return None;
        }
        invoke_blocking(self, call)
    }

    fn dispatch(&self, call: &TaskCall<'_>, reply: &ReplyTo<'_>) -> Option<Dispatch> {
        if call.resource != RESOURCE {
            return None;
        }
        let outbound = match build_request(call.parameters, &self.settings) {
            Ok(outbound) => outbound,
            Err(fault) => return Some(Dispatch::Ready(Err(fault))),
        };
        let limit = reply
            .silent_limit()
            .map_or(MAX_CALL, |limit| (limit + TIMEOUT_GRACE).min(MAX_CALL));
        let trace = reply.trace.cloned();
        if let Some(trace) = &trace {
            trace.record_request(traced_request(&outbound, trace, &self.settings));
        }
        let client = self.io.client();
        let answer = reply.reply();
        self.io.spawn(async move {
            let target = format!("{} {}", outbound.method, outbound.uri);
            let result = client.send(outbound, limit).await;
            if let (Some(trace), Ok(inbound)) = (&trace, &result) {
                trace.record_response(traced_response(inbound));
            }
            answer.send(outcome(result, &target));
        });
        Some(Dispatch::Started)
    }
}

/// A request as TestState shows it at TRACE (`inspectionData.request`): every value a
/// string, the headers as `[Name: value, …]` in the order sent, secret values masked unless
/// the trace reveals secrets.
pub fn traced_request(outbound: &Outbound, trace: &Trace, settings: &HttpSettings) -> Value {
    let headers = header_list(outbound.headers.iter().map(|(name, value)| {
        let shown = if !trace.reveals_secrets() && is_secret(name, &settings.secret_headers) {
            REDACTED
        } else {
            value.as_str()
        };
        (name.as_str(), shown)
    }));
    json::object([
        (
            "protocol",
            Value::from(outbound.uri.scheme_str().unwrap_or("http")),
        ),
        ("method", Value::from(outbound.method.as_str())),
        ("url", Value::from(outbound.uri.to_string())),
        ("headers", Value::from(headers)),
        (
            "body",
            Value::from(String::from_utf8_lossy(&outbound.body).into_owned()),
        ),
    ])
}

/// A response as TestState shows it at TRACE (`inspectionData.response`): every value a
/// string, the headers as `[name: value, …]` in the order received.
pub fn traced_response(inbound: &Inbound) -> Value {
    let headers = header_list(
        inbound
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str())),
    );
    json::object([
        ("protocol", Value::from("http")),
        ("statusCode", Value::from(inbound.status.to_string())),
        ("statusMessage", Value::from(inbound.reason.as_str())),
        ("headers", Value::from(headers)),
        (
            "body",
            Value::from(String::from_utf8_lossy(&inbound.body).into_owned()),
        ),
    ])
}

/// `[Name: value, Name: value]`
fn header_list<'a>(headers: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut text = String::from("[");
    for (index, (name, value)) in headers.enumerate() {
        if index > 0 {
            text.push_str(", ");
        }
        text.push_str(name);
        text.push_str(": ");
        text.push_str(value);
    }
    text.push(']');
    text
}

/// The task result (or fault) of a call's response.
pub fn outcome(result: Result<Inbound, SendError>, target: &str) -> Result<Value, Fault> {
    match result {
        Ok(inbound) => {
            let status = inbound.status;
            let value = response_value(&inbound);
            if (200..300).contains(&status) {
                Ok(value)
            } else {
                Err(Fault::new(
                    format!("States.Http.StatusCode.{status}"),
                    json::to_string(&value),
                ))
            }
        }
        Err(SendError::TooLarge) => Err(Fault::new(
            "States.DataLimitExceeded",
            format!("The response to {target} exceeds the maximum number of bytes service limit."),
        )),
        Err(err) => Err(Fault::new(
            "States.Http.Socket",
            format!("The HTTP call {target} failed: {err}"),
        )),
    }
}

/// A response in AWS's result shape: `Headers` (each name with the list of its values),
/// `ResponseBody` (parsed when the response is JSON, else the text), `StatusCode`,
/// `StatusText`.
pub fn response_value(inbound: &Inbound) -> Value {
    let mut headers = Map::new();
    for (name, value) in &inbound.headers {
        append_header(&mut headers, name, value);
    }
    let body = body_value(inbound.header("content-type"), &inbound.body);
    json::object([
        ("Headers", Value::Object(headers)),
        ("ResponseBody", body),
        ("StatusCode", Value::from(inbound.status as u64)),
        ("StatusText", Value::from(inbound.reason.as_str())),
    ])
}

/// A response body as a value: parsed when its media type is JSON and it parses, else text.
pub fn body_value(content_type: Option<&str>, body: &[u8]) -> Value {
    let json_type = content_type.is_some_and(|content_type| {
        let media = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        media == "application/json" || media.ends_with("+json")
    });
    if json_type {
        if let Ok(value) = json::from_slice(body) {
            return value;
        }
    }
    Value::from(String::from_utf8_lossy(body).into_owned())
}

/// Builds the request an HTTP Task's parameters describe, or the fault that ends the task.
pub fn build_request(parameters: &Value, settings: &HttpSettings) -> Result<Outbound, Fault> {
    let Some(fields) = parameters.as_object() else {
        return Err(invalid(format!(
            "the parameters must be an object, not {}",
            parameters.kind()
        )));
    };
    let endpoint = match fields.get("ApiEndpoint") {
        Some(Value::String(text)) => text.as_str(),
        Some(other) => {
            return Err(invalid(format!(
                "ApiEndpoint must be a string, not {}",
                other.kind()
            )))
        }
        None => return Err(invalid("the ApiEndpoint field is required")),
    };
    let method = match fields.get("Method") {
        Some(Value::String(text)) => text.as_str().to_ascii_uppercase(),
        Some(other) => {
            return Err(invalid(format!(
                "Method must be a string, not {}",
                other.kind()
            )))
        }
        None => return Err(invalid("the Method field is required")),
    };
    let method = match method.as_str() {
        "GET" => Method::GET,
        "POST" => Method::POST,
        "PUT" => Method::PUT,
        "DELETE" => Method::DELETE,
        "PATCH" => Method::PATCH,
        "OPTIONS" => Method::OPTIONS,
        "HEAD" => Method::HEAD,
        _ => {
            return Err(invalid(format!(
                "Method {method:?} is not one of GET, POST, PUT, DELETE, PATCH, OPTIONS, HEAD"
            )))
        }
    };
    let (mut url, host, port) = parse_endpoint(endpoint)?;
    if !settings.allow.allows(&host, port) {
        return Err(Fault::new(
            "States.Permissions",
            format!(
                "HTTP calls to {host}:{port} are not allowed: the host is not in the [tasks.http] allow list of the configuration"
            ),
        ));
    }

    let transform = Transform::parse(fields.get("Transform"))?;
    if let Some(query) = fields.get("QueryParameters") {
        let Some(query) = query.as_object() else {
            return Err(invalid(format!(
                "QueryParameters must be an object, not {}",
                query.kind()
            )));
        };
        let mut encoded = String::new();
        for (key, value) in query.iter() {
            encode_pair(key.as_str(), value, ArrayFormat::Repeat, &mut encoded)
                .map_err(|kind| invalid(format!("QueryParameters/{key} is {kind}")))?;
        }
        if !encoded.is_empty() {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&encoded);
        }
    }
    let uri: Uri = url.parse().map_err(|err| {
        invalid(format!(
            "ApiEndpoint {endpoint:?} is not a valid URL: {err}"
        ))
    })?;

    let mut headers: Vec<(String, String)> = Vec::new();
    if let Some(given) = fields.get("Headers") {
        let Some(given) = given.as_object() else {
            return Err(invalid(format!(
                "Headers must be an object, not {}",
                given.kind()
            )));
        };
        for (name, value) in given.iter() {
            let lower = name.as_str().to_ascii_lowercase();
            if FRAMING_HEADERS.contains(&lower.as_str()) {
                return Err(invalid(format!("the header {name} cannot be set")));
            }
            let text = scalar_text(value).ok_or_else(|| {
                invalid(format!(
                    "the header {name} must be a string, not {}",
                    value.kind()
                ))
            })?;
            if hyper::header::HeaderName::from_bytes(name.as_str().as_bytes()).is_err()
                || hyper::header::HeaderValue::from_str(&text).is_err()
            {
                return Err(invalid(format!(
                    "the header {name} is not a valid HTTP header"
                )));
            }
            headers.push((name.as_str().to_string(), text));
        }
    }
    let has = |headers: &[(String, String)], name: &str| {
        headers
            .iter()
            .any(|(given, _)| given.eq_ignore_ascii_case(name))
    };

    let (body, content_type) = match fields.get("RequestBody") {
        None | Some(Value::Null) => (Vec::new(), None),
        Some(body) => match transform.encoding {
            Encoding::UrlEncoded => {
                let Some(object) = body.as_object() else {
                    return Err(invalid(format!(
                        "a URL_ENCODED RequestBody must be an object, not {}",
                        body.kind()
                    )));
                };
                let mut encoded = String::new();
                for (key, value) in object.iter() {
                    encode_pair(key.as_str(), value, transform.arrays, &mut encoded)
                        .map_err(|kind| invalid(format!("RequestBody/{key} is {kind}")))?;
                }
                (
                    encoded.into_bytes(),
                    Some("application/x-www-form-urlencoded"),
                )
            }
            Encoding::None => match body {
                Value::String(text) => (
                    text.as_str().as_bytes().to_vec(),
                    Some("text/plain; charset=UTF-8"),
                ),
                other => (json::to_vec(other), Some("application/json; charset=UTF-8")),
            },
        },
    };
    if let Some(content_type) = content_type {
        if !has(&headers, "content-type") {
            headers.push(("Content-Type".into(), content_type.into()));
        }
    }
    if !has(&headers, "user-agent") {
        headers.push((
            "User-Agent".into(),
            format!("Amazon|StepFunctions|HttpInvoke|{}", settings.region),
        ));
    }
    if !has(&headers, "range") {
        headers.push(("Range".into(), "bytes=0-262144".into()));
    }
    Ok(Outbound {
        method,
        uri,
        headers,
        body,
    })
}

/// Checks an endpoint URL: `http://host[:port]/…`. Gives back the URL, host and port.
fn parse_endpoint(endpoint: &str) -> Result<(String, String, u16), Fault> {
    let lower = endpoint.to_ascii_lowercase();
    if lower.starts_with("https://") {
        return Err(Fault::new(
            "States.TaskFailed",
            format!("HTTPS endpoints are not supported (stepstream's HTTP client speaks plain http://): {endpoint}"),
        ));
    }
    if !lower.starts_with("http://") {
        return Err(invalid(format!(
            "ApiEndpoint {endpoint:?} is not an http:// URL"
        )));
    }
    let uri: Uri = endpoint.parse().map_err(|err| {
        invalid(format!(
            "ApiEndpoint {endpoint:?} is not a valid URL: {err}"
        ))
    })?;
    let Some(host) = uri.host().filter(|host| !host.is_empty()) else {
        return Err(invalid(format!("ApiEndpoint {endpoint:?} names no host")));
    };
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri.port_u16().unwrap_or(80);
    if uri
        .authority()
        .is_some_and(|authority| authority.as_str().contains('@'))
    {
        return Err(invalid(
            "ApiEndpoint must not carry credentials; give them in Headers",
        ));
    }
    Ok((endpoint.to_string(), host, port))
}

/// How a request body is encoded.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Encoding {
    None,
    UrlEncoded,
}

/// How arrays are written in a URL-encoded body.
#[derive(Debug, Clone, Copy, PartialEq)]
enum ArrayFormat {
    /// `a[0]=x&a[1]=y` (the default).
    Indices,
    /// `a=x&a=y`
    Repeat,
    /// `a=x,y`
    Commas,
    /// `a[]=x&a[]=y`
    Brackets,
}

struct Transform {
    encoding: Encoding,
    arrays: ArrayFormat,
}

impl Transform {
    fn parse(value: Option<&Value>) -> Result<Transform, Fault> {
        let mut transform = Transform {
            encoding: Encoding::None,
            arrays: ArrayFormat::Indices,
        };
        let Some(value) = value else {
            return Ok(transform);
        };
        let Some(fields) = value.as_object() else {
            return Err(invalid(format!(
                "Transform must be an object, not {}",
                value.kind()
            )));
        };
        match fields
            .get("RequestBodyEncoding")
            .map(|value| value.as_str())
        {
            None | Some(Some("NONE")) => {}
            Some(Some("URL_ENCODED")) => transform.encoding = Encoding::UrlEncoded,
            Some(_) => {
                return Err(invalid(
                    "Transform/RequestBodyEncoding must be NONE or URL_ENCODED",
                ))
            }
        }
        if let Some(options) = fields.get("RequestEncodingOptions") {
            match options.get("ArrayFormat").map(|value| value.as_str()) {
                None | Some(Some("INDICES")) => {}
                Some(Some("REPEAT")) => transform.arrays = ArrayFormat::Repeat,
                Some(Some("COMMAS")) => transform.arrays = ArrayFormat::Commas,
                Some(Some("BRACKETS")) => transform.arrays = ArrayFormat::Brackets,
                Some(_) => {
                    return Err(invalid(
                        "Transform/RequestEncodingOptions/ArrayFormat must be INDICES, REPEAT, COMMAS or BRACKETS",
                    ))
                }
            }
        }
        Ok(transform)
    }
}

/// Appends `key=value` pairs for one field: scalars as they are, arrays in `format`, objects
/// as `key[field]`. Nulls are left out. Fails with the kind of a value that has no text.
fn encode_pair(
    key: &str,
    value: &Value,
    format: ArrayFormat,
    out: &mut String,
) -> Result<(), &'static str> {
    let push = |key: &str, text: &str, out: &mut String| {
        if !out.is_empty() {
            out.push('&');
        }
        percent_encode(key, out);
        out.push('=');
        percent_encode(text, out);
    };
    match value {
        Value::Null => Ok(()),
        Value::Array(items) => {
            if format == ArrayFormat::Commas {
                let mut texts = Vec::with_capacity(items.len());
                for item in items.iter() {
                    texts.push(scalar_text(item).ok_or("an array holding a non-scalar")?);
                }
                push(key, &texts.join(","), out);
                return Ok(());
            }
            for (index, item) in items.iter().enumerate() {
                let name = match format {
                    ArrayFormat::Indices => format!("{key}[{index}]"),
                    ArrayFormat::Brackets => format!("{key}[]"),
                    _ => key.to_string(),
                };
                match item {
                    Value::Object(_) | Value::Array(_) => encode_pair(&name, item, format, out)?,
                    _ => push(&name, &scalar_text(item).unwrap_or_default(), out),
                }
            }
            Ok(())
        }
        Value::Object(fields) => {
            for (field, item) in fields.iter() {
                encode_pair(&format!("{key}[{}]", field.as_str()), item, format, out)?;
            }
            Ok(())
        }
        scalar => {
            push(key, &scalar_text(scalar).unwrap_or_default(), out);
            Ok(())
        }
    }
}

/// The text of a string, number or boolean.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.as_str().to_string()),
        Value::Number(_) | Value::Bool(_) => Some(json::to_string(value)),
        Value::Null => Some(String::new()),
        _ => None,
    }
}

fn invalid(message: impl Into<String>) -> Fault {
    Fault::new(
        "States.Runtime",
        format!("Invalid HTTP Task parameters: {}", message.into()),
    )
}

/// Whether a header's value is secret: `Authorization` always, and the configured names.
pub fn is_secret(name: &str, secret_headers: &[String]) -> bool {
    name.eq_ignore_ascii_case("authorization")
        || secret_headers
            .iter()
            .any(|secret| secret.eq_ignore_ascii_case(name))
}

/// An HTTP Task's parameters as history and logs may show them: the values of secret
/// headers replaced by [`REDACTED`].
pub fn redact(parameters: &Value, secret_headers: &[String]) -> Value {
    let Some(Value::Object(headers)) = parameters.get("Headers") else {
        return parameters.clone();
    };
    if !headers
        .keys()
        .any(|name| is_secret(name.as_str(), secret_headers))
    {
        return parameters.clone();
    }
    let masked: Map = headers
        .iter()
        .map(|(name, value)| {
            let value = if is_secret(name.as_str(), secret_headers) {
                Value::from(REDACTED)
            } else {
                value.clone()
            };
            (name.clone(), value)
        })
        .collect();
    let mut parameters = parameters.clone();
    if let Some(fields) = parameters.as_object_mut() {
        fields.insert("Headers", Value::Object(masked));
    }
    parameters
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json;

    fn settings() -> HttpSettings {
        HttpSettings {
            allow: AllowList::new(["127.0.0.1:8080", "api.example.com"]),
            secret_headers: vec!["x-api-key".into()],
            region: "us-east-1".into(),
        }
    }

    fn request(parameters: Value) -> Result<Outbound, Fault> {
        build_request(&parameters, &settings())
    }

    fn body_of(parameters: Value) -> String {
        String::from_utf8(request(parameters).expect("valid").body).expect("utf-8")
    }

    #[test]
    fn builds_method_url_query_and_headers() {
        let outbound = request(json!({
            "ApiEndpoint": "http://127.0.0.1:8080/items?x=1",
            "Method": "get",
            "QueryParameters": {"q": "a b", "n": 3, "tags": ["x", "y"], "none": null},
            "Headers": {"X-Trace": "t-1", "Accept": "application/json"},
            "Authentication": {"ConnectionArn": "arn:aws:events:us-east-1:1:connection/c/1"}
        }))
        .expect("valid");
        assert_eq!(outbound.method, Method::GET);
        assert_eq!(
            outbound.uri.to_string(),
            "http://127.0.0.1:8080/items?x=1&q=a%20b&n=3&tags=x&tags=y"
        );
        assert_eq!(
            outbound.headers,
            vec![
                ("X-Trace".to_string(), "t-1".to_string()),
                ("Accept".to_string(), "application/json".to_string()),
                (
                    "User-Agent".to_string(),
                    "Amazon|StepFunctions|HttpInvoke|us-east-1".to_string()
                ),
                ("Range".to_string(), "bytes=0-262144".to_string()),
            ]
        );
        assert!(outbound.body.is_empty());
    }

    #[test]
    fn encodes_bodies() {
        let base = |body: Value, transform: Value| {
            let mut parameters = json!({
                "ApiEndpoint": "http://api.example.com/x",
                "Method": "POST",
                "RequestBody": body,
            });
            if !transform.is_null() {
                parameters["Transform"] = transform;
            }
            parameters
        };
        assert_eq!(
            body_of(base(json!({"a": [1, 2]}), Value::Null)),
            r#"{"a":[1,2]}"#
        );
        assert_eq!(body_of(base(json!("raw text"), Value::Null)), "raw text");
        let form = |format: &str| {
            body_of(base(
                json!({"a": ["x", "y"], "b": "c d", "o": {"k": 1}}),
                json!({"RequestBodyEncoding": "URL_ENCODED",
                       "RequestEncodingOptions": {"ArrayFormat": format}}),
            ))
        };
        assert_eq!(form("INDICES"), "a%5B0%5D=x&a%5B1%5D=y&b=c%20d&o%5Bk%5D=1");
        assert_eq!(form("REPEAT"), "a=x&a=y&b=c%20d&o%5Bk%5D=1");
        assert_eq!(form("COMMAS"), "a=x%2Cy&b=c%20d&o%5Bk%5D=1");
        assert_eq!(form("BRACKETS"), "a%5B%5D=x&a%5B%5D=y&b=c%20d&o%5Bk%5D=1");
        let outbound = request(base(
            json!({"a": 1}),
            json!({"RequestBodyEncoding": "URL_ENCODED"}),
        ))
        .expect("valid");
        assert!(outbound.headers.contains(&(
            "Content-Type".to_string(),
            "application/x-www-form-urlencoded".to_string()
        )));
    }

    #[test]
    fn refuses_what_cannot_be_sent() {
        let fault = |parameters: Value| request(parameters).expect_err("refused");
        let denied = fault(json!({"ApiEndpoint": "http://10.1.1.1/x", "Method": "GET"}));
        assert_eq!(denied.error.as_deref(), Some("States.Permissions"));
        assert!(denied.cause.unwrap().contains("10.1.1.1:80"));
        let wrong_port = fault(json!({"ApiEndpoint": "http://127.0.0.1:9/x", "Method": "GET"}));
        assert_eq!(wrong_port.error.as_deref(), Some("States.Permissions"));
        let https = fault(json!({"ApiEndpoint": "https://api.example.com/x", "Method": "GET"}));
        assert_eq!(https.error.as_deref(), Some("States.TaskFailed"));
        assert!(https
            .cause
            .unwrap()
            .contains("HTTPS endpoints are not supported"));
        for parameters in [
            json!({"Method": "GET"}),
            json!({"ApiEndpoint": "http://api.example.com/", "Method": "BREW"}),
            json!({"ApiEndpoint": "ftp://api.example.com/", "Method": "GET"}),
            json!({"ApiEndpoint": "http://api.example.com/", "Method": "GET", "Headers": {"Host": "x"}}),
            json!({"ApiEndpoint": "http://api.example.com/", "Method": "GET", "Headers": {"X": {"a": 1}}}),
            json!({"ApiEndpoint": "http://api.example.com/", "Method": "GET", "Headers": {"X": "a\nb"}}),
            json!({"ApiEndpoint": "http://api.example.com/", "Method": "POST", "RequestBody": [1],
                   "Transform": {"RequestBodyEncoding": "URL_ENCODED"}}),
            json!({"ApiEndpoint": "http://api.example.com/", "Method": "GET",
                   "Transform": {"RequestBodyEncoding": "GZIP"}}),
            json!({"ApiEndpoint": "http://user:pw@api.example.com/", "Method": "GET"}),
            json!("not an object"),
        ] {
            let fault = fault(parameters.clone());
            assert_eq!(
                fault.error.as_deref(),
                Some("States.Runtime"),
                "{parameters}"
            );
        }
    }

    #[test]
    fn response_shapes_and_status_errors() {
        let inbound = |status: u16, content_type: &str, body: &str| Inbound {
            status,
            reason: if status == 200 { "OK" } else { "Not Found" }.into(),
            headers: vec![
                ("content-type".into(), content_type.into()),
                ("set-cookie".into(), "a=1".into()),
                ("set-cookie".into(), "b=2".into()),
            ],
            body: body.as_bytes().to_vec(),
        };
        let ok = outcome(
            Ok(inbound(
                200,
                "application/json; charset=utf-8",
                r#"{"n":1}"#,
            )),
            "GET x",
        );
        assert_eq!(
            ok,
            Ok(json!({
                "Headers": {"content-type": ["application/json; charset=utf-8"], "set-cookie": ["a=1", "b=2"]},
                "ResponseBody": {"n": 1},
                "StatusCode": 200,
                "StatusText": "OK"
            }))
        );
        let text = outcome(Ok(inbound(200, "text/plain", "hello")), "GET x").expect("ok");
        assert_eq!(text["ResponseBody"], json!("hello"));
        let broken = outcome(Ok(inbound(200, "application/json", "{oops")), "GET x").expect("ok");
        assert_eq!(broken["ResponseBody"], json!("{oops"));
        let missing = outcome(
            Ok(inbound(404, "application/json", r#"{"e":"gone"}"#)),
            "GET x",
        )
        .expect_err("404 fails");
        assert_eq!(missing.error.as_deref(), Some("States.Http.StatusCode.404"));
        let cause = json::from_str(missing.cause.as_deref().unwrap()).expect("JSON cause");
        assert_eq!(cause["ResponseBody"], json!({"e": "gone"}));
        assert_eq!(cause["StatusCode"], json!(404));
        let refused =
            outcome(Err(SendError::Connect("refused".into())), "GET x").expect_err("fails");
        assert_eq!(refused.error.as_deref(), Some("States.Http.Socket"));
    }

    #[test]
    fn traced_exchanges_are_strings_with_secrets_masked_unless_revealed() {
        let outbound = request(json!({
            "ApiEndpoint": "http://api.example.com/pay",
            "Method": "POST",
            "QueryParameters": {"q": 1},
            "Headers": {"Authorization": "Bearer s3cret", "x-api-KEY": "k3y", "Accept": "*/*"},
            "RequestBody": {"a": 1}
        }))
        .expect("valid");
        let masked = traced_request(&outbound, &Trace::new(false), &settings());
        assert_eq!(
            masked,
            json!({
                "protocol": "http",
                "method": "POST",
                "url": "http://api.example.com/pay?q=1",
                "headers": "[Authorization: *****, x-api-KEY: *****, Accept: */*, Content-Type: application/json; charset=UTF-8, User-Agent: Amazon|StepFunctions|HttpInvoke|us-east-1, Range: bytes=0-262144]",
                "body": "{\"a\":1}"
            })
        );
        let revealed = traced_request(&outbound, &Trace::new(true), &settings());
        assert!(revealed["headers"]
            .as_str()
            .unwrap()
            .starts_with("[Authorization: Bearer s3cret, x-api-KEY: k3y, "));
        let inbound = Inbound {
            status: 503,
            reason: "Service Unavailable".into(),
            headers: vec![
                ("content-type".into(), "text/plain".into()),
                ("set-cookie".into(), "a=1".into()),
            ],
            body: b"busy".to_vec(),
        };
        assert_eq!(
            traced_response(&inbound),
            json!({
                "protocol": "http",
                "statusCode": "503",
                "statusMessage": "Service Unavailable",
                "headers": "[content-type: text/plain, set-cookie: a=1]",
                "body": "busy"
            })
        );
    }

    #[test]
    fn redaction_masks_secret_headers_only() {
        let secrets = vec!["x-api-key".to_string()];
        let parameters = json!({
            "ApiEndpoint": "http://h/",
            "Headers": {"authorization": "Bearer s3cret", "X-Api-Key": "k3y", "Accept": "*/*"}
        });
        assert_eq!(
            redact(&parameters, &secrets),
            json!({
                "ApiEndpoint": "http://h/",
                "Headers": {"authorization": REDACTED, "X-Api-Key": REDACTED, "Accept": "*/*"}
            })
        );
        let plain = json!({"Headers": {"Accept": "*/*"}});
        assert_eq!(redact(&plain, &secrets), plain);
        assert_eq!(redact(&json!(null), &secrets), json!(null));
    }
}
