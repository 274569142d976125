//! The parser, printer and conversions, checked against `serde_json`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::*;

/// Parses `input` with both parsers and checks they agree: on the error (message, line and
/// column) or on the value, which must then print, size, convert and round-trip the same way.
fn agree(input: &[u8]) -> Option<Value> {
    let ours = from_slice(input);
    let theirs = serde_json::from_slice::<serde_json::Value>(input);
    match (ours, theirs) {
        (Ok(ours), Ok(theirs)) => {
            check_value(&ours, &theirs, input);
            Some(ours)
        }
        (Err(ours), Err(theirs)) => {
            assert_eq!(
                ours.to_string(),
                theirs.to_string(),
                "error for {:?}",
                String::from_utf8_lossy(input)
            );
            assert_eq!(
                (ours.line(), ours.column()),
                (theirs.line(), theirs.column())
            );
            None
        }
        (ours, theirs) => panic!(
            "{:?}: ours {ours:?}, serde_json {theirs:?}",
            String::from_utf8_lossy(input)
        ),
    }
}

/// Checks that a value parsed by both parsers prints, sizes, converts and round-trips the same.
fn check_value(ours: &Value, theirs: &serde_json::Value, input: &[u8]) {
    let printed = to_vec(ours);
    let expected = serde_json::to_vec(theirs).expect("serde_json prints");
    assert_eq!(
        String::from_utf8_lossy(&printed),
        String::from_utf8_lossy(&expected),
        "printing {:?}",
        String::from_utf8_lossy(input)
    );
    assert_eq!(size(ours), printed.len());
    assert_eq!(to_string(ours).as_bytes(), &printed[..]);
    assert_eq!(
        to_string_pretty(ours),
        serde_json::to_string_pretty(theirs).expect("serde_json prints")
    );
    // Serialize, and both conversions.
    assert_eq!(
        serde_json::to_vec(ours).expect("serializes"),
        printed,
        "serializing"
    );
    let converted = Value::from(theirs);
    assert_eq!(&converted, ours);
    assert_eq!(to_vec(&converted), printed);
    assert_eq!(to_vec(&Value::from(theirs.clone())), printed);
    let back = serde_json::Value::from(ours);
    assert_eq!(&back, theirs);
    assert_eq!(
        serde_json::to_vec(&back).expect("serde_json prints"),
        printed
    );
    // Deserialize, through serde_json's deserializer.
    let deserialized: Value = serde_json::from_slice(input).expect("deserializes");
    assert_eq!(to_vec(&deserialized), printed);
    // Printing is parsed back to the same value.
    let reparsed = from_slice(&printed).expect("printed JSON parses");
    assert_eq!(&reparsed, ours);
    assert_eq!(to_vec(&reparsed), printed);
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn json_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("tests/data is readable")
        .map(|entry| entry.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            json_files(&path, found);
        } else if matches!(
            path.extension().and_then(|extension| extension.to_str()),
            Some("json" | "jsonl")
        ) {
            found.push(path);
        }
    }
}

/// The documents of every JSON file under tests/data: a `.jsonl` file's lines, a `.json`
/// file whole.
fn data_documents() -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    json_files(&data_dir(), &mut files);
    let mut documents = Vec::new();
    for path in files {
        let bytes = std::fs::read(&path).expect("data file is readable");
        if path
            .extension()
            .is_some_and(|extension| extension == "jsonl")
        {
            for line in bytes.split(|&byte| byte == b'\n') {
                if !line.iter().all(u8::is_ascii_whitespace) {
                    documents.push((path.clone(), line.to_vec()));
                }
            }
        } else {
            documents.push((path, bytes));
        }
    }
    documents
}

fn workload_lines() -> Vec<Vec<u8>> {
    let bytes = std::fs::read(data_dir().join("workloads/inputs.jsonl")).expect("inputs.jsonl");
    bytes
        .split(|&byte| byte == b'\n')
        .filter(|line| !line.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

#[test]
fn every_data_document_agrees_with_serde_json() {
    let documents = data_documents();
    let inputs = documents
        .iter()
        .filter(|(path, _)| path.ends_with("workloads/inputs.jsonl"))
        .count();
    assert_eq!(inputs, 1000, "every line of inputs.jsonl");
    assert!(documents.len() > 1700, "{} documents", documents.len());
    for (path, document) in &documents {
        // The JSONata suite holds a few strings with lone UTF-16 surrogates, which neither
        // parser accepts (`agree` checks that they refuse them alike).
        let parsed = agree(document).is_some();
        assert!(
            parsed || path.to_string_lossy().contains("jsonata-suite"),
            "{} does not parse",
            path.display()
        );
    }
}

#[test]
fn workload_lines_parse_to_objects() {
    for line in workload_lines() {
        let value = from_slice(&line).expect("a workload input parses");
        let fields = value.as_object().expect("an event is an object");
        assert!(fields.get("id").and_then(Value::as_str).is_some());
        assert_eq!(size(&value), line.len(), "inputs are compact");
        assert_eq!(to_vec(&value), line);
    }
}

#[test]
fn scalars() {
    assert_eq!(from_str("null"), Ok(Value::Null));
    assert_eq!(from_str(" true "), Ok(Value::Bool(true)));
    assert_eq!(from_str("\n\t\rfalse"), Ok(Value::Bool(false)));
    assert_eq!(from_str("\"text\""), Ok(Value::from("text")));
    assert_eq!(from_str("[]"), Ok(Value::Array(Array::new())));
    assert_eq!(from_str("{}"), Ok(Value::Object(Map::new())));
    for text in [
        "null",
        "true",
        "false",
        "0",
        "\"\"",
        "[]",
        "{}",
        " [ ] ",
        "[[],{}]",
        "{\"a\":[]}",
    ] {
        agree(text.as_bytes());
    }
}

#[test]
fn structure() {
    let value =
        agree(br#" { "a" : [1, {"b": null}, "c"], "d": {"e": true, "f": -2} } "#).expect("parses");
    assert_eq!(value["a"][0], 1);
    assert!(value["a"][1]["b"].is_null());
    assert_eq!(value["a"][2], "c");
    assert_eq!(value["d"]["e"], true);
    assert_eq!(value["d"]["f"], -2);
    assert_eq!(
        to_string(&value),
        r#"{"a":[1,{"b":null},"c"],"d":{"e":true,"f":-2}}"#
    );
    let keys: Vec<&str> = value
        .as_object()
        .expect("object")
        .keys()
        .map(Str::as_str)
        .collect();
    assert_eq!(keys, ["a", "d"]);
}

/// Malformed documents whose errors (message, line and column) are `serde_json`'s.
const MALFORMED: &[&str] = &[
    "",
    "   ",
    "\n\n  ",
    "nul",
    "nulx",
    "tru",
    "trux",
    "fals",
    "falsy",
    "nope",
    "[nul]",
    "x",
    "]",
    "}",
    ":",
    ",",
    "[",
    "[ ",
    "[1",
    "[1 2]",
    "[1,",
    "[1,]",
    "[1,,2]",
    "[,1]",
    "[1}",
    "{",
    "{ ",
    "{\"a\"",
    "{\"a\" 1}",
    "{\"a\":",
    "{\"a\":}",
    "{\"a\":1",
    "{\"a\":1 \"b\":2}",
    "{\"a\":1,",
    "{\"a\":1,}",
    "{\"a\":1,2:3}",
    "{1:2}",
    "{a:1}",
    "{\"a\":1]",
    "[1]]",
    "[1] [2]",
    "1 2",
    "\"abc",
    "\"abc\\",
    "\"\\x\"",
    "\"\\u12\"",
    "\"\\u12",
    "\"\\uzzzz\"",
    "\"\\u12g4\"",
    "\"\\ud800\"",
    "\"\\ud800",
    "\"\\ud800x\"",
    "\"\\ud800\\n\"",
    "\"\\ud800\\",
    "\"\\ud800\\u0041\"",
    "\"\\ud800\\ud800\"",
    "\"\\udc00\"",
    "\"\\udfff\\udc00\"",
    "\"a\tb\"",
    "\"a\nb\"",
    "\"\u{1}\"",
    "\"\u{1f}\"",
    "[\"a\", \"b\nc\"]",
    "01",
    "-01",
    "00",
    "-",
    "- 1",
    "-a",
    "+1",
    ".5",
    "1.",
    "1.e5",
    "1.x",
    "1e",
    "1e+",
    "1e-",
    "1ex",
    "1E+x",
    "1x",
    "[1.]",
    "[1e]",
    "[-]",
    "1e400",
    "-1e400",
    "1e309",
    "179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093429931847202818848897.0",
    "1e2147483648",
    "1e99999999999",
    "1.5e99999999999999999999",
    "-0.5e2147483648",
    "NaN",
    "-Infinity",
    "Infinity",
    "[1,2,3",
    "{\"a\":[1,{\"b\":\"c\"},",
    "[\n1,\n2 3]",
    "{\n  \"a\": 1,\n  \"b\" 2\n}",
    "[\n  \"x\",\n  tru\n]",
    "\"\r\n\"",
    "[1]\n\n x",
    "\u{feff}[]",
    "// comment\n1",
    "[1 /* c */]",
    "'a'",
    "[\"\\'\"]",
];

#[test]
fn malformed_documents_fail_as_in_serde_json() {
    for text in MALFORMED {
        assert!(
            agree(text.as_bytes()).is_none(),
            "{text:?} should not parse"
        );
    }
}

#[test]
fn error_messages_and_positions() {
    let cases: &[(&str, &str, usize, usize)] = &[
        ("", "EOF while parsing a value", 1, 0),
        ("[1,", "EOF while parsing a value", 1, 3),
        ("\"ab", "EOF while parsing a string", 1, 3),
        ("[1", "EOF while parsing a list", 1, 2),
        ("{\"a\":1", "EOF while parsing an object", 1, 6),
        ("[1,}", "expected value", 1, 4),
        ("[1 2]", "expected `,` or `]`", 1, 4),
        ("{\"a\":1 2}", "expected `,` or `}`", 1, 8),
        ("{\"a\" 1}", "expected `:`", 1, 6),
        ("{1:2}", "key must be a string", 1, 2),
        ("\"\\q\"", "invalid escape", 1, 3),
        ("01", "invalid number", 1, 2),
        ("1e400", "number out of range", 1, 5),
        ("\"\\udc00\"", "lone leading surrogate in hex escape", 1, 7),
        ("\"\\ud800x\"", "unexpected end of hex escape", 1, 8),
        (
            "\"\u{1}\"",
            "control character (\\u0000-\\u001F) found while parsing a string",
            1,
            2,
        ),
        ("[] x", "trailing characters", 1, 4),
        ("[1,]", "trailing comma", 1, 4),
        ("tx", "expected ident", 1, 2),
        ("[\n  1,\n  2 3]", "expected `,` or `]`", 3, 5),
    ];
    for &(text, message, line, column) in cases {
        let error = from_str(text).expect_err(text);
        assert_eq!(
            (error.message(), error.line(), error.column()),
            (message, line, column),
            "{text:?}"
        );
        assert_eq!(
            error.to_string(),
            format!("{message} at line {line} column {column}")
        );
        agree(text.as_bytes());
    }
    let error = from_slice(b"\"\xff\"").expect_err("invalid UTF-8");
    assert_eq!(error.message(), "invalid unicode code point");
}

#[test]
fn numbers() {
    let cases: &[(&str, &str)] = &[
        ("0", "0"),
        ("-0", "-0.0"),
        ("-0.0", "-0.0"),
        ("0.0", "0.0"),
        ("1.0", "1.0"),
        ("1", "1"),
        ("-1", "-1"),
        ("1e2", "100.0"),
        ("1E2", "100.0"),
        ("1e+2", "100.0"),
        ("1e-2", "0.01"),
        ("1e21", "1e+21"),
        ("1e20", "1e+20"),
        ("1e16", "1e+16"),
        ("1e15", "1000000000000000.0"),
        ("1e-5", "0.00001"),
        ("1e-6", "1e-6"),
        ("1e-7", "1e-7"),
        ("0.1", "0.1"),
        ("0.30000000000000004", "0.30000000000000004"),
        ("18446744073709551615", "18446744073709551615"),
        ("18446744073709551616", "1.8446744073709552e+19"),
        ("-9223372036854775808", "-9223372036854775808"),
        ("-9223372036854775809", "-9.223372036854776e+18"),
        ("-18446744073709551615", "-1.8446744073709552e+19"),
        ("-18446744073709551616", "-1.8446744073709552e+19"),
        ("123456789012345678901234567890", "1.2345678901234568e+29"),
        ("1e-400", "0.0"),
        ("-1e-400", "-0.0"),
        ("1.7976931348623157e308", "1.7976931348623157e+308"),
        ("5e-324", "5e-324"),
        ("2.5e-324", "5e-324"),
        ("2.4e-324", "0.0"),
        ("2.4703282292062328e-324", "5e-324"),
        ("2.2250738585072011e-308", "2.225073858507201e-308"),
        ("9007199254740993", "9007199254740993"),
        ("9007199254740993.0", "9007199254740992.0"),
        ("0e99999999999", "0.0"),
        ("0.000e2147483648", "0.0"),
        ("1e-2147483649", "0.0"),
        ("-1e-99999999999999", "-0.0"),
        ("12.5E-3", "0.0125"),
        ("100000000000000000000000000000000e-30", "100.0"),
    ];
    for &(text, printed) in cases {
        let value = agree(text.as_bytes()).unwrap_or_else(|| panic!("{text} parses"));
        assert_eq!(to_string(&value), printed, "{text}");
    }
    let kinds: &[(&str, bool, bool, bool)] = &[
        // text, is_u64, is_i64, is_f64
        ("0", true, true, false),
        ("-0", false, false, true),
        ("18446744073709551615", true, false, false),
        ("9223372036854775807", true, true, false),
        ("-1", false, true, false),
        ("-9223372036854775808", false, true, false),
        ("-9223372036854775809", false, false, true),
        ("18446744073709551616", false, false, true),
        ("1.0", false, false, true),
        ("1e2", false, false, true),
    ];
    for &(text, is_u64, is_i64, is_f64) in kinds {
        let value = from_str(text).expect("parses");
        assert_eq!(
            (value.is_u64(), value.is_i64(), value.is_f64()),
            (is_u64, is_i64, is_f64),
            "{text}"
        );
    }
    assert_eq!(from_str("-0").ok().and_then(|v| v.as_f64()), Some(-0.0));
    assert!(from_str("-0")
        .ok()
        .and_then(|v| v.as_f64())
        .is_some_and(|zero| zero.is_sign_negative()));
    assert_eq!(
        from_str("-9223372036854775808")
            .ok()
            .and_then(|v| v.as_i64()),
        Some(i64::MIN)
    );
    assert_eq!(
        from_str("18446744073709551615")
            .ok()
            .and_then(|v| v.as_u64()),
        Some(u64::MAX)
    );
    assert_eq!(from_str("1").ok(), Some(Value::from(1)));
    assert_ne!(from_str("1.0").ok(), Some(Value::from(1)));
    for text in ["1e400", "-1e400"] {
        let error = from_str(text).expect_err(text);
        assert_eq!(error.message(), "number out of range");
        agree(text.as_bytes());
    }
}

#[test]
fn long_numbers() {
    let mut texts = vec![
        format!("1{}", "0".repeat(400)),
        format!("1{}", "0".repeat(308)),
        format!("-1{}", "0".repeat(308)),
        format!("0.{}1", "0".repeat(400)),
        format!("0.{}1e400", "0".repeat(399)),
        format!("0.{}1e70001", "0".repeat(70000)),
        format!("0.{}1e2147483000", "0".repeat(2_147_480)),
        format!("0.{}1e2147483647", "0".repeat(2_147_480)),
        format!("1{}e-2147483000", "0".repeat(2_147_480)),
        format!("0.{}1e9999", "0".repeat(2_000_000)),
        format!("1{}e-9999", "0".repeat(2_000_000)),
        format!("1{}e-70000", "0".repeat(70000)),
        format!("1{}.5e-70001", "0".repeat(70000)),
        format!("{}e-1000", "9".repeat(1200)),
        format!("0.{}", "3".repeat(1000)),
        format!("2.{}e10", "7".repeat(800)),
        // Halfway between two floats, then decided by a digit far away.
        format!("9007199254740993{}1", "0".repeat(800)),
        format!("9007199254740993.{}1", "0".repeat(800)),
        "1.00000000000000011102230246251565404236316680908203125".to_owned(),
        "1.00000000000000011102230246251565404236316680908203124".to_owned(),
        "1.00000000000000011102230246251565404236316680908203126".to_owned(),
    ];
    texts.push(format!("[{}]", texts.join(",")));
    for text in &texts {
        agree(text.as_bytes());
    }
    let huge = format!("1{}", "0".repeat(400));
    assert_eq!(
        from_str(&huge).map_err(|error| error.message()),
        Err("number out of range")
    );
}

#[test]
fn floats_print_as_in_serde_json() {
    let mut floats = vec![
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.1,
        0.5,
        1.5,
        100.0,
        1e15,
        1e16,
        1e17,
        1e20,
        1e21,
        1e22,
        1e-5,
        1e-6,
        1e-7,
        123456.789,
        f64::MAX,
        f64::MIN,
        f64::MIN_POSITIVE,
        f64::EPSILON,
        5e-324,
        std::f64::consts::PI,
        9007199254740992.0,
        9007199254740993.0,
        4294967296.0,
    ];
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    for _ in 0..20_000 {
        let float = f64::from_bits(next_random(&mut state));
        if float.is_finite() {
            floats.push(float);
        }
        floats.push((next_random(&mut state) % 1_000_000) as f64 / 1000.0);
    }
    for float in floats {
        let value = Value::from(float);
        let theirs = serde_json::Value::from(float);
        let printed = to_vec(&value);
        assert_eq!(
            printed,
            serde_json::to_vec(&theirs).expect("prints"),
            "{float:?}"
        );
        assert_eq!(size(&value), printed.len());
        assert_eq!(
            value.as_number().map(Number::to_string).as_deref(),
            std::str::from_utf8(&printed).ok()
        );
        let reparsed = from_slice(&printed).expect("parses");
        assert_eq!(reparsed.as_f64().map(f64::to_bits), Some(float.to_bits()));
        assert_eq!(serde_json::Value::from(&value), theirs);
    }
    assert!(Value::from(f64::NAN).is_null());
    assert!(Value::from(f64::INFINITY).is_null());
    assert_eq!(to_string(&Value::from(f64::NEG_INFINITY)), "null");
}

#[test]
fn integers_print_and_convert() {
    for value in [0, 1, 9, 10, 99, 100, 12345, u64::MAX / 10, u64::MAX] {
        let ours = Value::from(value);
        assert_eq!(to_string(&ours), value.to_string());
        assert_eq!(size(&ours), value.to_string().len());
        assert_eq!(
            serde_json::Value::from(&ours),
            serde_json::Value::from(value)
        );
        assert_eq!(Value::from(serde_json::Value::from(value)), ours);
    }
    for value in [-1, -9, -10, -12345, i64::MIN + 1, i64::MIN] {
        let ours = Value::from(value);
        assert!(ours.as_number().is_some_and(|number| !number.is_u64()));
        assert_eq!(to_string(&ours), value.to_string());
        assert_eq!(size(&ours), value.to_string().len());
        assert_eq!(
            serde_json::Value::from(&ours),
            serde_json::Value::from(value)
        );
        assert_eq!(Value::from(serde_json::Value::from(value)), ours);
    }
}

#[test]
fn strings() {
    let cases: &[(&str, &str)] = &[
        (r#""""#, ""),
        (r#""plain""#, "plain"),
        (r#""\"\\\/\b\f\n\r\t""#, "\"\\/\u{8}\u{c}\n\r\t"),
        (r#""\u0041\u00e9\u4e2d""#, "Aé中"),
        (r#""\u00E9\u00e9""#, "éé"),
        (r#""\ud83d\ude00""#, "😀"),
        (r#""\uD83D\uDE00 and \uDBFF\uDFFF""#, "😀 and \u{10ffff}"),
        (r#""\u0000""#, "\0"),
        (r#""x\u001fy""#, "x\u{1f}y"),
        ("\"é中😀\u{7f}\"", "é中😀\u{7f}"),
        (
            r#""a long string with an escape at its very end, past a few words\n""#,
            "a long string with an escape at its very end, past a few words\n",
        ),
        (r#""\\\\\\\\\\\\\\\\\\\\""#, "\\\\\\\\\\\\\\\\\\\\"),
    ];
    for &(text, expected) in cases {
        let value = agree(text.as_bytes()).unwrap_or_else(|| panic!("{text} parses"));
        assert_eq!(value.as_str(), Some(expected), "{text}");
    }
    // Printing escapes exactly what serde_json escapes.
    let every_ascii: String = (0..=0x7f_u8).map(char::from).collect();
    for text in [
        every_ascii.as_str(),
        "é中😀",
        "</script>",
        "\u{2028}\u{2029}",
        "tab\tin the middle of a longer line\n",
        "\"quoted\"",
    ] {
        let ours = Value::from(text);
        let printed = to_vec(&ours);
        assert_eq!(
            printed,
            serde_json::to_vec(&serde_json::Value::from(text)).expect("prints")
        );
        assert_eq!(size(&ours), printed.len());
        assert_eq!(from_slice(&printed).ok().as_ref(), Some(&ours));
    }
    assert_eq!(
        to_string(&Value::from("a/b\u{1}\u{7f}")),
        "\"a/b\\u0001\u{7f}\""
    );
}

#[test]
fn invalid_strings_fail_as_in_serde_json() {
    let cases: &[&[u8]] = &[
        b"\"\xff\"",
        b"\"ab\xffcd\"",
        b"\"\xc3\"",
        b"\"\xc3x\"",
        b"\"\xe4\xb8\"",
        b"\"\xf0\x9f\x98\"",
        b"\"\xc0\xaf\"",
        b"\"\xe0\x80\xaf\"",
        b"\"\xed\xa0\x80\"",
        b"\"\xf4\x90\x80\x80\"",
        b"\"\x80\"",
        b"\"abc\\n\xff\"",
        b"\"\\u00e9\xfe\"",
        b"[\"ok\", \"\xff\"]",
        b"{\"\xff\": 1}",
        b"{\"a\": 1, \"b\\t\xc3\": 2}",
        b"\"\xff\\x\"",
        b"\"\xff",
        b"\xff",
        b"[\xff]",
        b"\"\x00\"",
        b"\"\x1f\"",
        b"\"ok\x7f\"",
        b"\"\\ud800\\udc00\xff\"",
        b"\"a\\u",
        b"\"a\\",
        b"\"\\uD800\\uD800\"",
        b"\"\\uDBFF\"",
        b"\"\\uDC00\\uD800\"",
        b"\"\\ud83d\\ude0\"",
        b"\"\\ud83d\\u",
        b"\"\\ud83d\\",
        b"\"\\ud83d",
        b"\"\\ud83d\"",
    ];
    for &case in cases {
        agree(case);
    }
    assert_eq!(
        from_slice(b"\"ab\xffcd\"").map_err(|error| error.message()),
        Err("invalid unicode code point")
    );
    assert_eq!(
        from_slice(b"\"\\ud800\"").map_err(|error| error.message()),
        Err("unexpected end of hex escape")
    );
    assert_eq!(
        from_slice(b"\"\\udc00\"").map_err(|error| error.message()),
        Err("lone leading surrogate in hex escape")
    );
}

/// Strings of every length up to 40 with, at every place, a byte that is not ASCII (valid or
/// not), a control character or an escape: alone, after another string, and cut short. Strings
/// are scanned eight bytes at a time, so a string's last bytes are read with the next ones.
#[test]
fn strings_are_checked_at_every_offset() {
    let odd: &[&[u8]] = &[
        b"\xff",
        b"\xc3",
        b"\xc3\xa9",
        b"\xe4\xb8\xad",
        b"\x80",
        b"\x1f",
        b"\\n",
    ];
    for length in 0..40 {
        for place in 0..=length {
            for &bytes in odd {
                let mut body = vec![b'a'; length];
                body.splice(place..place, bytes.iter().copied());
                let inside = [b"\"".as_slice(), &body, b"\""].concat();
                agree(&inside);
                let mut after = vec![b'['];
                after.extend_from_slice(&[b"\"".as_slice(), &vec![b'b'; length], b"\","].concat());
                after.extend_from_slice(&inside);
                after.push(b']');
                agree(&after);
                let mut trailing = inside.clone();
                trailing.truncate(trailing.len() - 1);
                agree(&trailing);
            }
        }
    }
}

#[test]
fn duplicate_keys_keep_the_first_place_and_the_last_value() {
    let value = agree(br#"{"a":1,"b":2,"a":3,"c":{"x":1,"x":[2]},"b":4}"#).expect("parses");
    assert_eq!(to_string(&value), r#"{"a":3,"b":4,"c":{"x":[2]}}"#);
    assert_eq!(value.as_object().map(Map::len), Some(3));
    let value = agree(br#"{"\u0061":1,"a":2}"#).expect("parses");
    assert_eq!(to_string(&value), r#"{"a":2}"#);
    // Past the scanned size, through the hash index.
    let mut text = String::from("{");
    for key in 0..40 {
        text.push_str(&format!("\"k{key}\":{key},"));
    }
    text.push_str("\"k3\":\"three\",\"k39\":\"last\",\"k40\":40}");
    let value = agree(text.as_bytes()).expect("parses");
    let fields = value.as_object().expect("object");
    assert_eq!(fields.len(), 41);
    assert_eq!(fields.get("k3"), Some(&Value::from("three")));
    assert_eq!(fields.keys().nth(3).map(Str::as_str), Some("k3"));
    assert_eq!(fields.keys().nth(39).map(Str::as_str), Some("k39"));
    // And through serde's Deserialize.
    let value: Value = serde_json::from_str(&text).expect("deserializes");
    assert_eq!(
        to_string(&value),
        to_string(&from_str(&text).expect("parses"))
    );
    let map: Map = serde_json::from_str(r#"{"a":1,"b":2,"a":3}"#).expect("deserializes");
    assert_eq!(to_string(&Value::Object(map)), r#"{"a":3,"b":2}"#);
}

#[test]
fn huge_objects_parse_fast() {
    const KEYS: usize = 50_000;
    let mut unique = String::from("{");
    let mut repeated = String::from("{");
    let mut same = String::from("{");
    for key in 0..KEYS {
        if key > 0 {
            unique.push(',');
            repeated.push(',');
            same.push(',');
        }
        unique.push_str(&format!("\"key{key}\":{key}"));
        repeated.push_str(&format!("\"key{}\":{key}", key % (KEYS / 2)));
        same.push_str(&format!("\"key\":{key}"));
    }
    unique.push('}');
    repeated.push('}');
    same.push('}');
    for (text, len) in [(&unique, KEYS), (&repeated, KEYS / 2), (&same, 1)] {
        let started = Instant::now();
        let value = from_str(text).expect("parses");
        let elapsed = started.elapsed();
        assert!(elapsed < Duration::from_millis(500), "{elapsed:?}");
        assert_eq!(value.as_object().map(Map::len), Some(len));
        let started = Instant::now();
        let deserialized: Value = serde_json::from_str(text).expect("deserializes");
        assert!(started.elapsed() < Duration::from_secs(1));
        // Compared as printed: comparing maps this large key by key is quadratic.
        let printed = to_vec(&value);
        assert_eq!(to_vec(&deserialized), printed);
        let theirs: serde_json::Value = serde_json::from_str(text).expect("parses");
        assert_eq!(serde_json::to_vec(&theirs).expect("prints"), printed);
        assert_eq!(size(&value), printed.len());
    }
    let value = from_str(&repeated).expect("parses");
    assert_eq!(value["key0"], (KEYS / 2) as i64);
    assert_eq!(value["key1"], (KEYS / 2 + 1) as i64);
    assert_eq!(from_str(&same).expect("parses")["key"], (KEYS - 1) as i64);
}

#[test]
fn nesting_is_limited() {
    let deep = "[".repeat(1_000_000);
    let error = from_str(&deep).expect_err("too deep");
    assert_eq!(error.message(), "recursion limit exceeded");
    assert_eq!((error.line(), error.column()), (1, MAX_DEPTH));
    agree(deep.as_bytes());
    let deep_objects = "{\"a\":".repeat(1_000_000);
    assert_eq!(
        from_str(&deep_objects).map_err(|error| error.message()),
        Err("recursion limit exceeded")
    );
    agree(deep_objects.as_bytes());
    // As deep as allowed, and one more.
    for depth in [MAX_DEPTH - 2, MAX_DEPTH - 1, MAX_DEPTH] {
        let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        agree(arrays.as_bytes());
        let mixed: String = (0..depth)
            .map(|level| if level % 2 == 0 { "[" } else { "{\"k\":" })
            .collect::<String>()
            + &(0..depth)
                .rev()
                .map(|level| if level % 2 == 0 { "]" } else { "}" })
                .collect::<String>();
        agree(mixed.as_bytes());
    }
    assert!(from_str(&format!("{}{}", "[".repeat(127), "]".repeat(127))).is_ok());
    assert!(from_str(&format!("{}{}", "[".repeat(128), "]".repeat(128))).is_err());
}

#[test]
fn parsing_after_an_error_starts_clean() {
    assert!(from_str(r#"[1,[2,{"a":[3,{"b":4,"c":x"#).is_err());
    assert!(from_str(r#"{"a":{"b":[1,2,{"c":"#).is_err());
    let value = from_str(r#"[{"a":1},[2]]"#).expect("parses");
    assert_eq!(to_string(&value), r#"[{"a":1},[2]]"#);
}

#[test]
fn maps_compare_without_order() {
    let one = from_str(r#"{"a":1,"b":[1,2],"c":{"x":null,"y":true}}"#).expect("parses");
    let two = from_str(r#"{"c":{"y":true,"x":null},"b":[1,2],"a":1}"#).expect("parses");
    assert_eq!(one, two);
    assert_ne!(to_string(&one), to_string(&two));
    let three = from_str(r#"{"c":{"y":true,"x":null},"b":[2,1],"a":1}"#).expect("parses");
    assert_ne!(one, three);
    let four = from_str(r#"{"a":1,"b":[1,2]}"#).expect("parses");
    assert_ne!(one, four);
    assert_ne!(four, one);
    let five = from_str(r#"{"a":1,"b":[1,2],"d":{"x":null,"y":true}}"#).expect("parses");
    assert_ne!(one, five);
    assert_ne!(from_str("[1,2]").ok(), from_str("[2,1]").ok());
}

#[test]
fn pretty_printing() {
    let cases = [
        "[]",
        "{}",
        "1",
        "\"s\"",
        r#"{"a":[],"b":{},"c":[1,[2,[]],{"d":{}}],"e":"x\ny"}"#,
        r#"[[[[]]],{"a":{"b":{"c":null}}}]"#,
    ];
    for text in cases {
        agree(text.as_bytes());
    }
    let value = from_str(r#"{"a":[1,{}],"b":"c"}"#).expect("parses");
    assert_eq!(
        to_string_pretty(&value),
        "{\n  \"a\": [\n    1,\n    {}\n  ],\n  \"b\": \"c\"\n}"
    );
    assert_eq!(format!("{value:#}"), to_string_pretty(&value));
    assert_eq!(format!("{value}"), r#"{"a":[1,{}],"b":"c"}"#);
}

#[test]
fn built_values_print_and_size_alike() {
    let mut fields = Map::new();
    fields.insert("text", Value::from("line\nbreak \"quoted\" \u{1}"));
    fields.insert("list", Value::from(vec![Value::from(1.5), Value::Null]));
    fields.insert("empty", Value::Object(Map::new()));
    fields.insert("negative", Value::from(-7));
    let value = Value::Object(fields);
    let printed = to_vec(&value);
    assert_eq!(size(&value), printed.len());
    assert_eq!(
        String::from_utf8_lossy(&printed),
        r#"{"text":"line\nbreak \"quoted\" \u0001","list":[1.5,null],"empty":{},"negative":-7}"#
    );
    let theirs = serde_json::Value::from(&value);
    assert_eq!(serde_json::to_vec(&theirs).expect("prints"), printed);
    assert_eq!(serde_json::to_vec(&value).expect("serializes"), printed);
    let mut appended = b"prefix ".to_vec();
    write_to(&value, &mut appended);
    assert_eq!(&appended[7..], &printed[..]);
}

#[test]
fn serde_traits() {
    let text = r#"{"s":"x","n":[1,-2,3.5,18446744073709551615],"o":{"k":null,"t":true}}"#;
    let value: Value = serde_json::from_str(text).expect("deserializes");
    assert_eq!(Some(&value), from_str(text).ok().as_ref());
    assert_eq!(serde_json::to_string(&value).expect("serializes"), text);
    let fields: Map = serde_json::from_str(text).expect("an object");
    assert_eq!(fields.len(), 3);
    assert!(serde_json::from_str::<Map>("[1]").is_err());
    let items: Array = serde_json::from_str("[1,\"a\",null]").expect("an array");
    assert_eq!(items.len(), 3);
    assert!(serde_json::from_str::<Array>("{}").is_err());
    let key: Str = serde_json::from_str("\"k\\u00e9y\"").expect("a string");
    assert_eq!(key, "kéy");
    assert!(serde_json::from_str::<Str>("1").is_err());
    let number: Number = serde_json::from_str("-5").expect("a number");
    assert_eq!(number.as_i64(), Some(-5));
    assert_eq!(
        serde_json::to_string(&Str::from("a\"b")).expect("serializes"),
        r#""a\"b""#
    );
    assert_eq!(
        serde_json::to_string(&Number::from(-3)).expect("serializes"),
        "-3"
    );
    // From another format: integers keep their kind, floats that are not finite are null.
    let from_integers: Value =
        serde_json::from_value(serde_json::json!([1, -1, 1.5])).expect("deserializes");
    assert_eq!(to_string(&from_integers), "[1,-1,1.5]");
    let wide = serde::de::value::I128Deserializer::<serde::de::value::Error>::new(-5);
    assert_eq!(Value::deserialize(wide).ok(), Some(Value::from(-5)));
    let too_wide = serde::de::value::U128Deserializer::<serde::de::value::Error>::new(u128::MAX);
    assert!(Value::deserialize(too_wide).is_err());
    let nan = serde::de::value::F64Deserializer::<serde::de::value::Error>::new(f64::NAN);
    assert_eq!(Value::deserialize(nan).ok(), Some(Value::Null));
}

fn next_random(state: &mut u64) -> u64 {
    // xorshift64*
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

/// A copy of `document` with one to three bytes replaced, inserted or removed, or cut short.
fn damaged(document: &[u8], state: &mut u64) -> Vec<u8> {
    const BYTES: &[u8] = b"{}[]\",:\\/ -+.eE0123456789tfnulx\n\t\xff\xc3\xa9\x00\x1fu";
    let mut document = document.to_vec();
    for _ in 0..1 + next_random(state) % 3 {
        let at = (next_random(state) % (document.len() as u64 + 1)) as usize;
        let byte = BYTES[(next_random(state) % BYTES.len() as u64) as usize];
        match next_random(state) % 4 {
            0 if at < document.len() => document[at] = byte,
            1 => document.insert(at, byte),
            2 if at < document.len() => {
                document.remove(at);
            }
            _ => document.truncate(at),
        }
    }
    document
}

/// Damaged documents (bytes replaced, inserted, removed, cut) fail or parse as in serde_json.
#[test]
fn damaged_documents_agree_with_serde_json() {
    let mut documents: Vec<Vec<u8>> = workload_lines().into_iter().take(60).collect();
    documents.extend(
        [
            r#"{"a":"\u00e9\ud83d\ude00\n","b":[1.5e3,-0,0.25,-12,true,false,null],"c":{}}"#,
            r#"[1e2,2E-2,-0.0e+1,"x\"y\\z",{"k":[[]]}]"#,
            "{\n  \"pretty\": [\n    1,\n    2\n  ]\n}",
        ]
        .map(|text| text.as_bytes().to_vec()),
    );
    let mut state = 0x1234_5678_9abc_def1_u64;
    let mut parsed = 0;
    for round in 0..30_000 {
        let document = damaged(&documents[round % documents.len()], &mut state);
        if agree(&document).is_some() {
            parsed += 1;
        }
    }
    assert!(parsed > 100, "{parsed} damaged documents still parsed");
}

#[test]
fn compact_size_stays_within_the_bound_of_the_source_length() {
    let mut worst: f64 = 0.0;
    let mut check = |text: &str| {
        let Ok(value) = from_str(text) else { return };
        let printed = size(&value);
        assert!(
            printed <= size_bound(text.len()),
            "{text} prints as {} bytes",
            printed
        );
        worst = worst.max(printed as f64 / text.len() as f64);
    };
    // Every short number spelling with an exponent, where printing can grow the most.
    for mantissa in ["1", "9", "-1", "-9", "0", "1.5", "0.1", ".5", "12", "99"] {
        for marker in ["e", "E", "e+", "e-", "E-"] {
            for exponent in 0..=400 {
                check(&format!("{mantissa}{marker}{exponent}"));
            }
        }
    }
    for text in [
        "-0",
        "0.0",
        "-0.0",
        "1.0",
        "18446744073709551616",
        "1234567890123456789.5",
    ] {
        check(text);
    }
    // Random floats written as briefly as Rust writes them, with and without exponents.
    let mut state = 7;
    for _ in 0..20_000 {
        let bits = next_random(&mut state);
        let float = f64::from_bits(bits);
        if float.is_finite() {
            check(&format!("{float}"));
            check(&format!("{float:e}"));
            assert!(to_string(&Value::from(float)).len() <= 24, "{float}");
        }
    }
    // Documents mixing structure, strings and numbers.
    check(r#"{"a":[1e15,2e15,{"b":"\u00e9\n"}],"c":-0}"#);
    for (_, document) in data_documents() {
        if let Ok(text) = std::str::from_utf8(&document) {
            check(text);
        }
    }
    assert!(worst <= 4.5, "the largest growth seen is {worst}");
}

/// `from_slice_keeping` gives `from_slice`'s value without the left-out top-level fields, or
/// exactly its error, on intact, damaged and malformed documents.
#[test]
fn keeping_some_fields_agrees_with_the_full_parse() {
    fn check(document: &[u8], keep: &[Str]) -> bool {
        let full = from_slice(document);
        let kept = crate::json::from_slice_keeping(document, keep);
        match (full, kept) {
            (Err(full), Err(kept)) => {
                assert_eq!(full, kept, "{:?}", String::from_utf8_lossy(document));
                false
            }
            (Ok(Value::Object(map)), Ok((Value::Object(kept), skipped))) => {
                let expected: Vec<(&Str, &Value)> = map
                    .iter()
                    .filter(|(key, _)| keep.iter().any(|kept| kept == *key))
                    .collect();
                let got: Vec<(&Str, &Value)> = kept.iter().collect();
                assert_eq!(got, expected, "{:?}", String::from_utf8_lossy(document));
                assert_eq!(skipped, expected.len() < map.len());
                true
            }
            (Ok(full), Ok((kept, skipped))) => {
                assert_eq!(full, kept, "{:?}", String::from_utf8_lossy(document));
                assert!(!skipped);
                true
            }
            (full, kept) => panic!(
                "{:?}: {full:?} against {kept:?}",
                String::from_utf8_lossy(document)
            ),
        }
    }
    let keep = [Str::from("id"), Str::from("detail"), Str::from("a")];
    for text in MALFORMED {
        assert!(!check(text.as_bytes(), &keep), "{text:?} should not parse");
    }
    let mut documents: Vec<Vec<u8>> = workload_lines().into_iter().take(40).collect();
    documents.extend(
        [
            r#"{"a":"\u00e9\ud83d\ude00\n","b":[1.5e3,-0,0.25,-12,true,false,null],"c":{"d":[[{}]]}}"#,
            r#"{"id":1,"x":1e400,"detail":2}"#,
            r#"{"items":[1,2,],"id":1}"#,
            r#"{"id":1,"id":2,"skip":{"deep":[[[["x"]]]]},"a":[]}"#,
        ]
        .map(|text| text.as_bytes().to_vec()),
    );
    for document in &documents {
        check(document, &keep);
    }
    let mut state = 0x0bad_cafe_1234_5678_u64;
    let mut parsed = 0;
    for round in 0..20_000 {
        let document = damaged(&documents[round % documents.len()], &mut state);
        if check(&document, &keep) {
            parsed += 1;
        }
    }
    assert!(parsed > 100, "{parsed} damaged documents still parsed");
    // Nesting past the limit inside a left-out field is the full parser's error too.
    let deep = format!("{{\"skip\":{}{}}}", "[".repeat(200), "]".repeat(200));
    assert!(!check(deep.as_bytes(), &keep));
}

#[test]
fn deeper_than_walks_without_recursion() {
    use super::deeper_than;
    assert!(!deeper_than(&crate::json!(1), 0));
    assert!(deeper_than(&crate::json!([]), 0));
    assert!(!deeper_than(&crate::json!([]), 1));
    assert!(!deeper_than(
        &crate::json!({"a": [1, {"b": []}], "c": {}}),
        4
    ));
    assert!(deeper_than(
        &crate::json!({"a": [1, {"b": []}], "c": {}}),
        3
    ));
    // Wide and deep at once, past any stack: built and taken apart by hand. The innermost
    // array holds an empty one, one level deeper than the 200,000 wrappers.
    let mut value = Value::from(0);
    for level in 0..200_000 {
        value = if level % 2 == 0 {
            Value::from(vec![
                Value::from(1),
                value,
                Value::from(Vec::<Value>::new()),
            ])
        } else {
            Value::Object(Map::from_iter([("x", value)]))
        };
    }
    assert!(!deeper_than(&value, 200_001));
    assert!(deeper_than(&value, 200_000));
    let mut pending = vec![value];
    while let Some(mut value) = pending.pop() {
        match &mut value {
            Value::Array(items) => pending.extend(std::mem::take(items).into_vec()),
            Value::Object(fields) => {
                pending.extend(std::mem::take(fields).into_iter().map(|(_, v)| v))
            }
            _ => {}
        }
    }
}
