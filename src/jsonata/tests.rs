use super::*;
use crate::json;

fn eval_with(
    expr: &str,
    input: Option<&str>,
    bindings: &Bindings,
) -> Result<Option<Value>, JsonataError> {
    let input = input.map(|i| json::from_str(i).expect("input parses"));
    compile(expr)?.evaluate(input.as_ref(), bindings)
}

fn eval(expr: &str) -> Result<Option<Value>, JsonataError> {
    eval_with(expr, None, &Bindings::new())
}

fn value(expr: &str) -> String {
    match eval(expr) {
        Ok(Some(v)) => json::to_string(&v),
        Ok(None) => "undefined".into(),
        Err(e) => format!("error {}", e.code),
    }
}

fn code(expr: &str) -> String {
    match eval(expr) {
        Err(e) => e.code,
        Ok(v) => format!("no error: {v:?}"),
    }
}

#[test]
fn expression_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Expression>();
    check::<Bindings>();
}

#[test]
fn bindings_and_states() {
    let mut bindings = Bindings::new();
    bindings.bind(
        "states",
        json::from_str(r#"{"input": {"id": "a1", "items": [1, 2, 3], "detail": {"amount": 21}}}"#)
            .unwrap(),
    );
    let expr = compile(r#"{ "id": $states.input.id, "n": $count($states.input.items), "twice": $states.input.detail.amount * 2 }"#).unwrap();
    let result = expr.evaluate(None, &bindings).unwrap().unwrap();
    assert_eq!(json::to_string(&result), r#"{"id":"a1","n":3,"twice":42}"#);
    // rebinding replaces
    bindings.bind(
        "states",
        json::from_str(r#"{"input": {"id": "b", "items": []}}"#).unwrap(),
    );
    let result = expr.evaluate(None, &bindings).unwrap().unwrap();
    assert_eq!(json::to_string(&result), r#"{"id":"b","n":0}"#);
}

#[test]
fn undefined_is_none() {
    assert_eq!(eval("nothing").unwrap(), None);
    assert_eq!(
        eval_with("a.b", Some(r#"{"a": {}}"#), &Bindings::new()).unwrap(),
        None
    );
}

#[test]
fn native_functions() {
    let mut bindings = Bindings::new();
    bindings
        .register_function("double", Some("<n:n>"), 1, |args| {
            let n = args[0].as_ref().and_then(|v| v.as_f64()).unwrap_or(0.0);
            Ok(Some(Value::from(n * 2.0)))
        })
        .unwrap();
    let r = eval_with("$map([1, 2], $double)", None, &bindings)
        .unwrap()
        .unwrap();
    assert_eq!(json::to_string(&r), "[2,4]");
    let e = eval_with("$double('x')", None, &bindings).unwrap_err();
    assert_eq!(e.code, "T0410");
}

#[test]
fn partition() {
    assert_eq!(
        value("$partition([1,2,3,4,5,6,7,8,9], 3)"),
        "[[1,2,3],[4,5,6],[7,8,9]]"
    );
    assert_eq!(value("$partition([1,2,3,4,5], 2)"), "[[1,2],[3,4],[5]]");
    assert_eq!(value("$partition([], 2)"), "[]");
    assert_eq!(code("$partition([1], 0)"), "D3151");
}

#[test]
fn range() {
    assert_eq!(value("$range(0, 10, 2)"), "[0,2,4,6,8,10]");
    assert_eq!(value("$range(1, 3)"), "[1,2,3]");
    assert_eq!(value("$range(5, 1, -2)"), "[5,3,1]");
    assert_eq!(value("$range(5, 1)"), "[]");
    assert_eq!(code("$range(0, 10, 0)"), "D3152");
    assert_eq!(code("$range(0, 1e12)"), "D2014");
}

#[test]
fn hash() {
    assert_eq!(
        value("$hash('hello', 'MD5')"),
        r#""5d41402abc4b2a76b9719d911017c592""#
    );
    assert_eq!(
        value("$hash('hello', 'SHA-1')"),
        r#""aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d""#
    );
    assert_eq!(
        value("$hash('hello', 'SHA-256')"),
        r#""2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824""#
    );
    assert!(value("$hash('hello', 'SHA-384')").len() == 96 + 2);
    assert!(value("$hash('hello', 'SHA-512')").len() == 128 + 2);
    assert_eq!(code("$hash('hello', 'SHA-3')"), "D3150");
}

#[test]
fn random_uuid_parse() {
    let r: f64 = value("$random()").parse().unwrap();
    assert!((0.0..1.0).contains(&r));
    assert_eq!(value("$random(42)"), value("$random(42)"));
    assert_ne!(value("$random(42)"), value("$random(43)"));
    let u = value("$uuid()");
    assert_eq!(u.len(), 36 + 2);
    assert_eq!(&u[15..16], "4");
    assert_eq!(value(r#"$parse('{"a": [1, 2]}').a[1]"#), "2");
    assert_eq!(code("$parse('{')"), "D3153");
}

#[test]
fn eval_is_not_available() {
    assert_eq!(code("$eval('1 + 1')"), "T1006");
}

#[test]
fn recursion_depth_limit() {
    let expr = "($f := function($n){ $n = 0 ? 0 : 1 + $f($n - 1) }; $f(100000))";
    assert_eq!(code(expr), "U1001");
    // tail calls run in constant depth
    assert_eq!(
        value("($f := function($n, $a){ $n = 0 ? $a : $f($n - 1, $a + 1) }; $f(20000, 0))"),
        "20000"
    );
}

#[test]
fn deep_nesting_in_source_is_an_error() {
    let deep = format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000));
    assert!(compile(&deep).is_err());
    let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(compile(&deep).is_err());
    let deep = format!("{}1", "-".repeat(100_000));
    assert!(compile(&deep).is_err());
}

#[test]
fn time_limit() {
    let limits = Limits {
        time_limit: Some(std::time::Duration::from_millis(50)),
        ..Limits::default()
    };
    let expr = compile("($f := function($n){ $f($n + 1) }; $f(0))").unwrap();
    let e = expr
        .evaluate_with_limits(None, &Bindings::new(), &limits)
        .unwrap_err();
    assert_eq!(e.code, "U1001");
}

#[test]
fn range_operator_cap() {
    assert_eq!(code("[1..10000001]"), "D2014");
    assert_eq!(value("$count([1..10])"), "10");
}

#[test]
fn error_messages() {
    let e = eval("1 + 'a'").unwrap_err();
    assert_eq!(e.code, "T2002");
    assert_eq!(e.token.as_deref(), Some("+"));
    assert!(e.message.contains("right side"), "{}", e.message);
    let e = compile("1 +").unwrap_err();
    assert_eq!(e.code, "S0207");
    let e = eval("$error('boom')").unwrap_err();
    assert_eq!(e.message, "boom");
    assert!(e.to_string().starts_with("D3137"));
}

#[test]
fn hostile_inputs_do_not_panic() {
    for expr in [
        "$fromMillis(1e300)",
        "$formatInteger(1e300, 'w')",
        "$formatNumber(1e300, '#,##0.00')",
        "$formatBase(1e300, 36)",
        "$toMillis('99999-99-99')",
        "$pad('x', 1e12)",
        "$substring('abc', -1e300, 1e300)",
        "$power(10, 1000)",
        "$round(1e308, 10)",
        "'a' & 1e308 * 10",
        "$split('abc', /x*/)",
        "$replace('abc', /x*/, '-')",
        "[1..3].$string($)",
        "$sort([3, 1, 'a'])",
        "$zip()",
        "$formatNumber(1, '')",
        "$fromMillis(0, '[')",
        "$toMillis('2020', '[Y][')",
        "$fromMillis(-9.3e18)",
        "$fromMillis(0, '[,]')",
        "$round(1.5, 1e12)",
        "$formatNumber(1, '0', {'zero-digit': '\u{10FFFF}'})",
        "$toMillis('99999999999999', '[Y]')",
        "(function($x)<a<>{1})(1)",
        "(function($x)<(>{1})(1)",
    ] {
        let _ = eval(expr);
    }
}

/// Evaluation cost of typical Step Functions expressions:
/// `cargo test --lib jsonata::tests::timing -- --ignored --nocapture`.
#[test]
#[ignore]
fn timing() {
    let mut bindings = Bindings::new();
    bindings.bind(
        "states",
        json::from_str(r#"{"input": {"id": "a1", "items": [1, 2, 3], "detail": {"amount": 21}}}"#)
            .unwrap(),
    );
    for source in [
        "$states.input.detail.amount * 2",
        r#"{ "id": $states.input.id, "n": $count($states.input.items) }"#,
        "$sum($states.input.items[$ > 1])",
    ] {
        let expr = compile(source).unwrap();
        let n = 200_000;
        let start = std::time::Instant::now();
        for _ in 0..n {
            std::hint::black_box(expr.evaluate(None, &bindings).unwrap());
        }
        println!("{source}: {:?} per evaluation", start.elapsed() / n);
    }
}

#[test]
fn moderate_recursion_fits_default_limits() {
    // non-tail recursion 20 calls deep (about 60 nested evaluations), within the default
    // stack budget even in unoptimised builds
    assert_eq!(
        value("($f := function($n){ $n = 0 ? 0 : 1 + $f($n - 1) }; $f(20))"),
        "20"
    );
}

#[test]
fn deeply_nested_results_do_not_overflow() {
    assert_eq!(
        code("$reduce([1..100000], function($a, $v){ [[$a]] }, [])"),
        "U1001"
    );
    assert_eq!(
        code("$reduce([1..100000], function($a, $v){ {'a': $a} }, {})"),
        "U1001"
    );
    assert_eq!(
        value("$count($reduce([1..100], function($a, $v){ [[$a]] }, []))"),
        "1"
    );
}
