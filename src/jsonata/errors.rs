//! Errors with the reference implementation's codes and messages.

use std::fmt;

use super::value::{format_number, stringify, Val};

/// A compile or evaluation error. `code` is the reference implementation's error code
/// (`S0xxx` syntax, `T` type, `D` dynamic, `U` limits), `position` a byte offset in the
/// expression where known, `token` the offending token or function name where known.
#[derive(Clone, Debug, PartialEq)]
pub struct JsonataError {
    pub code: String,
    pub message: String,
    pub position: Option<usize>,
    pub token: Option<String>,
    /// What the message template inserts besides the token (boxed: errors stay small).
    detail: Option<Box<Detail>>,
}

#[derive(Clone, Debug, PartialEq, Default)]
struct Detail {
    value: Option<String>,
    value2: Option<String>,
    index: Option<usize>,
    type_name: Option<&'static str>,
}

impl JsonataError {
    pub(crate) fn new(code: &str, position: Option<usize>, token: Option<String>) -> Self {
        JsonataError {
            code: code.to_string(),
            message: String::new(),
            position,
            token,
            detail: None,
        }
    }

    fn detail(&mut self) -> &mut Detail {
        self.detail.get_or_insert_with(Box::default)
    }

    /// An error whose message is given (`$error`, `$assert`).
    pub(crate) fn with_message(code: &str, message: String) -> Self {
        let mut err = JsonataError::new(code, None, None);
        err.message = message;
        err
    }

    pub(crate) fn with_value(mut self, value: &Val<'_>) -> Self {
        self.detail().value = Some(describe(value));
        self
    }

    pub(crate) fn with_value2(mut self, value: &Val<'_>) -> Self {
        self.detail().value2 = Some(describe(value));
        self
    }

    pub(crate) fn with_text(mut self, value: impl Into<String>) -> Self {
        self.detail().value = Some(value.into());
        self
    }

    pub(crate) fn with_index(mut self, index: usize) -> Self {
        self.detail().index = Some(index);
        self
    }

    pub(crate) fn with_type(mut self, type_name: &'static str) -> Self {
        self.detail().type_name = Some(type_name);
        self
    }

    pub(crate) fn at(mut self, position: usize) -> Self {
        if self.position.is_none() {
            self.position = Some(position);
        }
        self
    }

    pub(crate) fn token_if_none(mut self, token: &str) -> Self {
        if self.token.is_none() {
            self.token = Some(token.to_string());
        }
        self
    }

    /// Renders the message from the code's template, once the error leaves the engine.
    pub(crate) fn finish(mut self) -> Self {
        if self.message.is_empty() {
            self.message = self.render();
        }
        self
    }

    fn render(&self) -> String {
        let template = template(&self.code);
        let mut out = String::with_capacity(template.len() + 16);
        let mut rest = template;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else {
                out.push_str(&rest[start..]);
                rest = "";
                break;
            };
            let name = &after[..end];
            let detail = self.detail.as_deref();
            let text = match name {
                "token" => self.token.clone().unwrap_or_default(),
                "value" => detail.and_then(|d| d.value.clone()).unwrap_or_default(),
                "value2" => detail.and_then(|d| d.value2.clone()).unwrap_or_default(),
                "index" => detail
                    .and_then(|d| d.index)
                    .map(|i| i.to_string())
                    .unwrap_or_default(),
                "type" => detail.and_then(|d| d.type_name).unwrap_or("").to_string(),
                _ => String::new(),
            };
            out.push_str(&text);
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        out
    }
}

impl fmt::Display for JsonataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let message = if self.message.is_empty() {
            self.render()
        } else {
            self.message.clone()
        };
        write!(f, "{}: {}", self.code, message)?;
        if let Some(position) = self.position {
            write!(f, " (at {position})")?;
        }
        Ok(())
    }
}

impl std::error::Error for JsonataError {}

/// A value as the reference's messages show it.
fn describe(value: &Val<'_>) -> String {
    match value {
        Val::Undef => "undefined".into(),
        Val::Str(s) => format!("\"{s}\""),
        Val::Num(n) => format_number(*n),
        Val::Func(_) => "function".into(),
        other => {
            let mut out = String::new();
            stringify(other, false, &mut out, 0);
            out
        }
    }
}

fn template(code: &str) -> &'static str {
    match code {
        "S0101" => "String literal must be terminated by a matching quote",
        "S0102" => "Number out of range: {{token}}",
        "S0103" => "Unsupported escape sequence: \\{{token}}",
        "S0104" => "The escape sequence \\u must be followed by 4 hex digits",
        "S0105" => "Quoted property name must be terminated with a backquote (`)",
        "S0106" => "Comment has no closing tag",
        "S0201" => "Syntax error: {{token}}",
        "S0202" => "Expected {{value}}, got {{token}}",
        "S0203" => "Expected {{value}} before end of expression",
        "S0204" => "Unknown operator: {{token}}",
        "S0205" => "Unexpected token: {{token}}",
        "S0206" => "Unknown expression type: {{token}}",
        "S0207" => "Unexpected end of expression",
        "S0208" => "Parameter {{token}} of function definition must be a variable name (start with $)",
        "S0209" => "A predicate cannot follow a grouping expression in a step",
        "S0210" => "Each step can only have one grouping expression",
        "S0211" => "The symbol {{token}} cannot be used as a unary operator",
        "S0212" => "The left side of := must be a variable name (start with $)",
        "S0213" => "The literal value {{token}} cannot be used as a step within a path expression",
        "S0214" => "The right side of {{token}} must be a variable name (start with $)",
        "S0215" => "A context variable binding must precede any predicates on a step",
        "S0216" => "A context variable binding must precede the 'order-by' clause on a step",
        "S0217" => "The object representing the 'parent' cannot be derived from this expression",
        "S0301" => "Empty regular expressions are not allowed",
        "S0302" => "No terminating / in regular expression",
        "S0303" => "Invalid regular expression: {{token}}",
        "S0401" => "Type parameters can only be applied to functions and arrays",
        "S0402" => "Choice groups containing parameterized types are not supported",
        "T0410" => "Argument {{index}} of function {{token}} does not match function signature",
        "T0411" => "Context value is not a compatible type with argument {{index}} of function {{token}}",
        "T0412" => "Argument {{index}} of function {{token}} must be an array of {{type}}",
        "D1001" => "Number out of range: {{value}}",
        "D1002" => "Cannot negate a non-numeric value: {{value}}",
        "T1003" => "Key in object structure must evaluate to a string; got: {{value}}",
        "D1004" => "Regular expression matches zero length string",
        "T1005" => "Attempted to invoke a non-function. Did you mean ${{token}}?",
        "T1006" => "Attempted to invoke a non-function",
        "T1007" => "Attempted to partially apply a non-function. Did you mean ${{token}}?",
        "T1008" => "Attempted to partially apply a non-function",
        "D1009" => "Multiple key definitions evaluate to same key: {{value}}",
        "T1010" => "The matcher function argument passed to function {{token}} does not return the correct object structure",
        "T2001" => "The left side of the {{token}} operator must evaluate to a number",
        "T2002" => "The right side of the {{token}} operator must evaluate to a number",
        "T2003" => "The left side of the range operator (..) must evaluate to an integer",
        "T2004" => "The right side of the range operator (..) must evaluate to an integer",
        "T2006" => "The right side of the function application operator ~> must be a function",
        "T2007" => "Type mismatch when comparing values {{value}} and {{value2}} in order-by clause",
        "T2008" => "The expressions within an order-by clause must evaluate to numeric or string values",
        "T2009" => "The values {{value}} and {{value2}} either side of operator {{token}} must be of the same data type",
        "T2010" => "The expressions either side of operator {{token}} must evaluate to numeric or string values",
        "T2011" => "The insert/update clause of the transform expression must evaluate to an object: {{value}}",
        "T2012" => "The delete clause of the transform expression must evaluate to a string or array of strings: {{value}}",
        "T2013" => "The transform expression clones the input object using the $clone() function.  This has been overridden in the current scope by a non-function.",
        "D2014" => "The size of the sequence allocated by the range operator (..) must not exceed 1e7.  Attempted to allocate {{value}}.",
        "D3001" => "Attempting to invoke string function on Infinity or NaN",
        "D3010" => "Second argument of replace function cannot be an empty string",
        "D3011" => "Fourth argument of replace function must evaluate to a positive number",
        "D3012" => "Attempted to replace a matched string with a non-string value",
        "D3020" => "Third argument of split function must evaluate to a positive number",
        "D3030" => "Unable to cast value to a number: {{value}}",
        "D3040" => "Third argument of match function must evaluate to a positive number",
        "D3050" => "The second argument of reduce function must be a function with at least two arguments",
        "D3060" => "The sqrt function cannot be applied to a negative number: {{value}}",
        "D3061" => "The power function has resulted in a value that cannot be represented as a JSON number: base={{value}}, exponent={{value2}}",
        "D3070" => "The single argument form of the sort function can only be applied to an array of strings or an array of numbers.  Use the second argument to specify a comparison function",
        "D3080" => "The picture string must only contain a maximum of two sub-pictures",
        "D3081" => "The sub-picture must not contain more than one instance of the 'decimal-separator' character",
        "D3082" => "The sub-picture must not contain more than one instance of the 'percent' character",
        "D3083" => "The sub-picture must not contain more than one instance of the 'per-mille' character",
        "D3084" => "The sub-picture must not contain both a 'percent' and a 'per-mille' character",
        "D3085" => "The mantissa part of a sub-picture must contain at least one character that is either an 'optional digit character' or a member of the 'decimal digit family'",
        "D3086" => "The sub-picture must not contain a passive character that is preceded by an active character and that is followed by another active character",
        "D3087" => "The sub-picture must not contain a 'grouping-separator' character that appears adjacent to a 'decimal-separator' character",
        "D3088" => "The sub-picture must not contain a 'grouping-separator' at the end of the integer part",
        "D3089" => "The sub-picture must not contain two adjacent instances of the 'grouping-separator' character",
        "D3090" => "The integer part of the sub-picture must not contain a member of the 'decimal digit family' that is followed by an instance of the 'optional digit character'",
        "D3091" => "The fractional part of the sub-picture must not contain an instance of the 'optional digit character' that is followed by a member of the 'decimal digit family'",
        "D3092" => "A sub-picture that contains a 'percent' or 'per-mille' character must not contain a character treated as an 'exponent-separator'",
        "D3093" => "The exponent part of the sub-picture must comprise only of one or more characters that are members of the 'decimal digit family'",
        "D3100" => "The radix of the formatBase function must be between 2 and 36.  It was given {{value}}",
        "D3110" => "The argument of the toMillis function must be an ISO 8601 formatted timestamp. Given {{value}}",
        "D3130" => "Formatting or parsing an integer as a sequence starting with {{value}} is not supported by this implementation",
        "D3131" => "In a decimal digit pattern, all digits must be from the same decimal group",
        "D3132" => "Unknown component specifier {{value}} in date/time picture string",
        "D3133" => "The 'name' modifier can only be applied to months and days in the date/time picture string, not {{value}}",
        "D3134" => "The timezone integer format specifier cannot have more than four digits",
        "D3135" => "No matching closing bracket ']' in date/time picture string",
        "D3136" => "The date/time picture string is missing specifiers required to parse the timestamp",
        "D3137" => "{{value}}",
        "D3138" => "The $single() function expected exactly 1 matching result.  Instead it matched more.",
        "D3139" => "The $single() function expected exactly 1 matching result.  Instead it matched 0.",
        "D3140" => "Malformed URL passed to ${{token}}(): {{value}}",
        "D3141" => "{{value}}",
        "D3150" => "The algorithm of the hash function must be one of MD5, SHA-1, SHA-256, SHA-384, SHA-512. It was given {{value}}",
        "D3151" => "The size argument of the partition function must be a positive integer. It was given {{value}}",
        "D3152" => "The step argument of the range function must not be zero",
        "D3153" => "The argument of the parse function must be a JSON document: {{value}}",
        "U1001" => "Stack overflow error: Check for non-terminating recursive function.  Consider rewriting as tail-recursive.",
        "U1002" => "Expression evaluation timeout: Check for infinite loop",
        _ => "Error {{token}}",
    }
}
