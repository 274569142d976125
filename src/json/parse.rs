//! The JSON parser: bytes to a [`Value`], with `serde_json`'s error messages.
//!
//! The grammar, the numbers it produces and the errors it reports (message, line and column)
//! are `serde_json`'s (with `float_roundtrip`): parsing a document here and parsing it into a
//! `serde_json::Value` (with `preserve_order`) give the same value or the same error.
//!
//! The parser descends recursively, at most [`MAX_DEPTH`] levels. The elements of the arrays
//! and the fields of the objects being parsed wait on two stacks shared by all levels, and move
//! into an allocation of exactly their size when their container closes; the stacks are kept
//! per thread between documents, so a document costs two allocations per array or object, one
//! per string too long to be stored inline (see [`Str`]) and nothing more.

use std::cell::Cell;
use std::collections::HashMap;

use super::{Array, Map, Number, Str, Value, N};

/// How deeply arrays and objects may nest (`serde_json`'s limit): a document may open
/// `MAX_DEPTH - 1` containers inside one another, one more is an error.
pub const MAX_DEPTH: usize = 128;

/// A parse error: a message and where it happened (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    message: &'static str,
    line: usize,
    column: usize,
}

impl Error {
    /// What went wrong, as `serde_json` words it (`"expected value"`, ...).
    pub fn message(&self) -> &'static str {
        self.message
    }

    /// The line of the error, from 1.
    pub fn line(&self) -> usize {
        self.line
    }

    /// The column of the error, counted in bytes from the start of its line: the column of
    /// the offending byte for most errors, as in `serde_json`.
    pub fn column(&self) -> usize {
        self.column
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} at line {} column {}",
            self.message, self.line, self.column
        )
    }
}

impl std::error::Error for Error {}

/// Parses one JSON value; only whitespace may follow it.
pub fn from_slice(bytes: &[u8]) -> Result<Value, Error> {
    with_parser(bytes, Parser::document)
}

/// Parses one JSON value, but of a top-level object builds only the fields named in `keep`:
/// the values of the others are checked (they must be valid JSON, as for [`from_slice`]) and
/// left out. Returns the value and whether any field was left out. An invalid document gives
/// exactly [`from_slice`]'s error.
pub fn from_slice_keeping(bytes: &[u8], keep: &[Str]) -> Result<(Value, bool), Error> {
    let projected = with_parser(bytes, |parser| {
        let value = match parser.peek_token() {
            Some(b'{') => parser.object_with::<true>(0, keep)?,
            _ => parser.value(0)?,
        };
        match parser.peek_token() {
            Some(_) => Err(parser.peek_fault(Code::TrailingCharacters)),
            None => Ok((value, parser.skipped)),
        }
    });
    match projected {
        Ok(parsed) => Ok(parsed),
        // The full parser words the error (and would take the same path to it).
        Err(_) => from_slice(bytes).map(|value| (value, false)),
    }
}

/// Runs `parse` with the thread's stacks, and turns its fault into an error.
fn with_parser<'a, T>(
    bytes: &'a [u8],
    parse: impl FnOnce(&mut Parser<'a>) -> Result<T>,
) -> Result<T, Error> {
    let mut parser = Parser {
        bytes,
        index: 0,
        scratch: Vec::new(),
        items: ITEMS.try_with(Cell::take).unwrap_or_default(),
        fields: FIELDS.try_with(Cell::take).unwrap_or_default(),
        skipped: false,
    };
    let result = parse(&mut parser);
    let Parser {
        mut items,
        mut fields,
        ..
    } = parser;
    // The stacks are empty unless parsing failed; a large one is freed rather than kept.
    items.clear();
    fields.clear();
    // Without the thread's storage (while it is destroyed), they are dropped.
    if items.capacity() <= KEPT_CAPACITY {
        let _ = ITEMS.try_with(|kept| kept.set(items));
    }
    if fields.capacity() <= KEPT_CAPACITY {
        let _ = FIELDS.try_with(|kept| kept.set(fields));
    }
    result.map_err(|fault| fault.into_error(bytes))
}

/// Parses one JSON value from text.
pub fn from_str(text: &str) -> Result<Value, Error> {
    from_slice(text.as_bytes())
}

thread_local! {
    /// The element stack, kept between documents.
    static ITEMS: Cell<Vec<Value>> = const { Cell::new(Vec::new()) };
    /// The field stack, kept between documents.
    static FIELDS: Cell<Vec<(Str, Value)>> = const { Cell::new(Vec::new()) };
}

/// The largest stack (in entries) kept for the next document; a larger one is freed.
const KEPT_CAPACITY: usize = 4096;

/// What went wrong; the messages are `serde_json`'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Code {
    EofWhileParsingList,
    EofWhileParsingObject,
    EofWhileParsingString,
    EofWhileParsingValue,
    ExpectedColon,
    ExpectedListCommaOrEnd,
    ExpectedObjectCommaOrEnd,
    ExpectedSomeIdent,
    ExpectedSomeValue,
    InvalidEscape,
    InvalidNumber,
    NumberOutOfRange,
    InvalidUnicodeCodePoint,
    ControlCharacterWhileParsingString,
    KeyMustBeAString,
    LoneLeadingSurrogateInHexEscape,
    TrailingComma,
    TrailingCharacters,
    UnexpectedEndOfHexEscape,
    RecursionLimitExceeded,
}

impl Code {
    fn message(self) -> &'static str {
        match self {
            Code::EofWhileParsingList => "EOF while parsing a list",
            Code::EofWhileParsingObject => "EOF while parsing an object",
            Code::EofWhileParsingString => "EOF while parsing a string",
            Code::EofWhileParsingValue => "EOF while parsing a value",
            Code::ExpectedColon => "expected `:`",
            Code::ExpectedListCommaOrEnd => "expected `,` or `]`",
            Code::ExpectedObjectCommaOrEnd => "expected `,` or `}`",
            Code::ExpectedSomeIdent => "expected ident",
            Code::ExpectedSomeValue => "expected value",
            Code::InvalidEscape => "invalid escape",
            Code::InvalidNumber => "invalid number",
            Code::NumberOutOfRange => "number out of range",
            Code::InvalidUnicodeCodePoint => "invalid unicode code point",
            Code::ControlCharacterWhileParsingString => {
                "control character (\\u0000-\\u001F) found while parsing a string"
            }
            Code::KeyMustBeAString => "key must be a string",
            Code::LoneLeadingSurrogateInHexEscape => "lone leading surrogate in hex escape",
            Code::TrailingComma => "trailing comma",
            Code::TrailingCharacters => "trailing characters",
            Code::UnexpectedEndOfHexEscape => "unexpected end of hex escape",
            Code::RecursionLimitExceeded => "recursion limit exceeded",
        }
    }
}

/// An error and the byte offset its position is computed from: the error's line and column
/// are those of the byte just before `at` (column 0 when `at` starts a line).
#[derive(Debug, Clone, Copy)]
struct Fault {
    code: Code,
    at: usize,
}

impl Fault {
    #[cold]
    fn into_error(self, bytes: &[u8]) -> Error {
        let before = &bytes[..self.at.min(bytes.len())];
        let line_start = before
            .iter()
            .rposition(|&byte| byte == b'\n')
            .map_or(0, |newline| newline + 1);
        let line = 1 + before[..line_start]
            .iter()
            .filter(|&&byte| byte == b'\n')
            .count();
        Error {
            message: self.code.message(),
            line,
            column: before.len() - line_start,
        }
    }
}

type Result<T, E = Fault> = std::result::Result<T, E>;

/// A string's text: borrowed from the input when it has no escapes, else decoded.
enum Text<'a> {
    Input(&'a str),
    Decoded(Str),
}

impl Text<'_> {
    #[inline(always)]
    fn as_str(&self) -> &str {
        match self {
            Text::Input(text) => text,
            Text::Decoded(text) => text,
        }
    }

    #[inline(always)]
    fn into_str(self) -> Str {
        match self {
            Text::Input(text) => Str::from(text),
            Text::Decoded(text) => text,
        }
    }
}

struct Parser<'a> {
    bytes: &'a [u8],
    /// The next byte to read.
    index: usize,
    /// The decoded text of a string with escapes.
    scratch: Vec<u8>,
    /// The elements of the arrays being parsed, innermost last.
    items: Vec<Value>,
    /// The fields of the objects being parsed, innermost last.
    fields: Vec<(Str, Value)>,
    /// Whether a top-level field was left out (`from_slice_keeping`).
    skipped: bool,
}

impl<'a> Parser<'a> {
    /// An error found at the byte just read (`serde_json`'s `error`).
    #[cold]
    fn fault(&self, code: Code) -> Fault {
        Fault {
            code,
            at: self.index,
        }
    }

    /// An error found at the byte about to be read (`serde_json`'s `peek_error`).
    #[cold]
    fn peek_fault(&self, code: Code) -> Fault {
        Fault {
            code,
            at: (self.index + 1).min(self.bytes.len()),
        }
    }

    /// The next byte that is not whitespace, not consumed.
    #[inline(always)]
    fn peek_token(&mut self) -> Option<u8> {
        while let Some(&byte) = self.bytes.get(self.index) {
            match byte {
                b' ' | b'\n' | b'\t' | b'\r' => self.index += 1,
                _ => return Some(byte),
            }
        }
        None
    }

    fn document(&mut self) -> Result<Value> {
        let value = self.value(0)?;
        match self.peek_token() {
            Some(_) => Err(self.peek_fault(Code::TrailingCharacters)),
            None => Ok(value),
        }
    }

    /// Parses a value inside `depth` containers.
    #[inline(always)]
    fn value(&mut self, depth: usize) -> Result<Value> {
        let Some(byte) = self.peek_token() else {
            return Err(self.peek_fault(Code::EofWhileParsingValue));
        };
        match byte {
            b'"' => {
                self.index += 1;
                Ok(Value::String(self.string()?.into_str()))
            }
            b'{' => self.object(depth),
            b'[' => self.array(depth),
            b'-' | b'0'..=b'9' => self.number().map(Value::Number),
            b't' => self.ident(b"true", Value::Bool(true)),
            b'f' => self.ident(b"false", Value::Bool(false)),
            b'n' => self.ident(b"null", Value::Null),
            _ => Err(self.peek_fault(Code::ExpectedSomeValue)),
        }
    }

    /// Parses `true`, `false` or `null`, whose first byte is next.
    fn ident(&mut self, ident: &[u8], value: Value) -> Result<Value> {
        let end = self.index + ident.len();
        if self.bytes.get(self.index..end) == Some(ident) {
            self.index = end;
            return Ok(value);
        }
        self.index += 1;
        for &expected in &ident[1..] {
            match self.bytes.get(self.index) {
                None => return Err(self.fault(Code::EofWhileParsingValue)),
                Some(&byte) => {
                    self.index += 1;
                    if byte != expected {
                        return Err(self.fault(Code::ExpectedSomeIdent));
                    }
                }
            }
        }
        Ok(value)
    }

    /// Enters a container whose opening bracket is next.
    #[inline]
    fn enter(&mut self, depth: usize) -> Result<()> {
        if depth + 1 >= MAX_DEPTH {
            return Err(self.peek_fault(Code::RecursionLimitExceeded));
        }
        self.index += 1;
        Ok(())
    }

    #[inline(never)]
    fn array(&mut self, depth: usize) -> Result<Value> {
        self.enter(depth)?;
        match self.peek_token() {
            None => return Err(self.peek_fault(Code::EofWhileParsingList)),
            Some(b']') => {
                self.index += 1;
                return Ok(Value::Array(Array::new()));
            }
            Some(_) => {}
        }
        let start = self.items.len();
        loop {
            let item = self.value(depth + 1)?;
            self.items.push(item);
            match self.peek_token() {
                Some(b',') => {
                    self.index += 1;
                    match self.peek_token() {
                        Some(b']') => return Err(self.peek_fault(Code::TrailingComma)),
                        Some(_) => {}
                        None => return Err(self.peek_fault(Code::EofWhileParsingValue)),
                    }
                }
                Some(b']') => {
                    self.index += 1;
                    return Ok(Value::Array(Array::from_tail(&mut self.items, start)));
                }
                Some(_) => return Err(self.peek_fault(Code::ExpectedListCommaOrEnd)),
                None => return Err(self.peek_fault(Code::EofWhileParsingList)),
            }
        }
    }

    #[inline(never)]
    fn object(&mut self, depth: usize) -> Result<Value> {
        self.object_with::<false>(depth, &[])
    }

    /// Parses an object; with `KEEPING`, only the fields named in `keep` are built, the values
    /// of the others are skipped.
    #[inline(always)]
    fn object_with<const KEEPING: bool>(&mut self, depth: usize, keep: &[Str]) -> Result<Value> {
        self.enter(depth)?;
        match self.peek_token() {
            None => return Err(self.peek_fault(Code::EofWhileParsingObject)),
            Some(b'}') => {
                self.index += 1;
                return Ok(Value::Object(Map::new()));
            }
            Some(b'"') => {}
            Some(_) => return Err(self.peek_fault(Code::KeyMustBeAString)),
        }
        let start = self.fields.len();
        let mut keys = KeyIndex::default();
        loop {
            // At the key's opening quote.
            self.index += 1;
            let key = self.string()?;
            match self.peek_token() {
                Some(b':') => self.index += 1,
                Some(_) => return Err(self.peek_fault(Code::ExpectedColon)),
                None => return Err(self.peek_fault(Code::EofWhileParsingObject)),
            }
            if KEEPING && !keep.iter().any(|kept| kept.as_str() == key.as_str()) {
                self.skip(depth + 1)?;
                self.skipped = true;
            } else {
                let value = self.value(depth + 1)?;
                let fields = &mut self.fields[start..];
                match keys.position(fields, key.as_str()) {
                    Some(position) => fields[position].1 = value,
                    None => {
                        self.fields.push((key.into_str(), value));
                        keys.added(&self.fields[start..]);
                    }
                }
            }
            match self.peek_token() {
                Some(b',') => {
                    self.index += 1;
                    match self.peek_token() {
                        Some(b'"') => {}
                        Some(b'}') => return Err(self.peek_fault(Code::TrailingComma)),
                        Some(_) => return Err(self.peek_fault(Code::KeyMustBeAString)),
                        None => return Err(self.peek_fault(Code::EofWhileParsingValue)),
                    }
                }
                Some(b'}') => {
                    self.index += 1;
                    return Ok(Value::Object(Map::from_unique_tail(
                        &mut self.fields,
                        start,
                    )));
                }
                Some(_) => return Err(self.peek_fault(Code::ExpectedObjectCommaOrEnd)),
                None => return Err(self.peek_fault(Code::EofWhileParsingObject)),
            }
        }
    }

    /// Checks a value inside `depth` containers without building it. It accepts no more than
    /// [`value`](Self::value) does (its errors are not worded: the caller parses again).
    /// Containers are walked without recursion: bit `i` of `objects` says whether the `i`-th
    /// open container (from the innermost) is an object.
    fn skip(&mut self, depth: usize) -> Result<()> {
        let mut objects: u128 = 0;
        let mut open = 0usize;
        loop {
            // A value is next.
            let Some(byte) = self.peek_token() else {
                return Err(self.peek_fault(Code::EofWhileParsingValue));
            };
            match byte {
                b'"' => {
                    self.index += 1;
                    self.skip_string()?;
                }
                b'{' | b'[' => {
                    self.enter(depth + open)?;
                    let object = byte == b'{';
                    let close = if object { b'}' } else { b']' };
                    if self.peek_token() == Some(close) {
                        self.index += 1;
                    } else {
                        objects = (objects << 1) | u128::from(object);
                        open += 1;
                        if object {
                            self.skip_key()?;
                        }
                        continue;
                    }
                }
                b'-' | b'0'..=b'9' => self.skip_number()?,
                b't' => drop(self.ident(b"true", Value::Null)?),
                b'f' => drop(self.ident(b"false", Value::Null)?),
                b'n' => drop(self.ident(b"null", Value::Null)?),
                _ => return Err(self.peek_fault(Code::ExpectedSomeValue)),
            }
            // A value ended: close what it ends, or go on after a comma.
            loop {
                if open == 0 {
                    return Ok(());
                }
                let object = objects & 1 == 1;
                match self.peek_token() {
                    Some(b',') => {
                        self.index += 1;
                        if object {
                            self.skip_key()?;
                        }
                        break;
                    }
                    Some(b'}') if object => {}
                    Some(b']') if !object => {}
                    _ => return Err(self.peek_fault(Code::ExpectedSomeValue)),
                }
                self.index += 1;
                objects >>= 1;
                open -= 1;
            }
        }
    }

    /// Skips `"key":` inside an object being skipped.
    fn skip_key(&mut self) -> Result<()> {
        if self.peek_token() != Some(b'"') {
            return Err(self.peek_fault(Code::KeyMustBeAString));
        }
        self.index += 1;
        self.skip_string()?;
        if self.peek_token() != Some(b':') {
            return Err(self.peek_fault(Code::ExpectedColon));
        }
        self.index += 1;
        Ok(())
    }

    /// Skips a string whose opening quote has been read: plain ASCII at once, anything else
    /// through [`string`](Self::string), which checks escapes and UTF-8.
    fn skip_string(&mut self) -> Result<()> {
        let (end, ascii) = scan_plain(self.bytes, self.index);
        if ascii && self.bytes.get(end) == Some(&b'"') {
            self.index = end + 1;
            return Ok(());
        }
        self.string().map(drop)
    }

    /// Skips a number: a short integer at once, anything else through
    /// [`number`](Self::number), which also finds floats out of range.
    fn skip_number(&mut self) -> Result<()> {
        let bytes = self.bytes;
        let start = self.index;
        let mut at = start + usize::from(bytes[start] == b'-');
        match bytes.get(at) {
            Some(b'0') => at += 1,
            Some(b'1'..=b'9') => {
                while bytes.get(at).is_some_and(u8::is_ascii_digit) {
                    at += 1;
                }
            }
            _ => return self.number().map(drop),
        }
        if at - start > 18 || matches!(bytes.get(at), Some(b'.' | b'e' | b'E' | b'0'..=b'9')) {
            return self.number().map(drop);
        }
        self.index = at;
        Ok(())
    }

    /// Parses a string's body and closing quote; the opening quote has been read.
    #[inline(always)]
    fn string(&mut self) -> Result<Text<'a>> {
        let bytes = self.bytes;
        let start = self.index;
        let (end, ascii) = scan_plain(bytes, start);
        if bytes.get(end) == Some(&b'"') {
            self.index = end + 1;
            let body = &bytes[start..end];
            if ascii {
                // SAFETY: `scan_plain` found every byte of `body` ASCII, and ASCII is UTF-8.
                return Ok(Text::Input(unsafe { std::str::from_utf8_unchecked(body) }));
            }
            return match std::str::from_utf8(body) {
                Ok(text) => Ok(Text::Input(text)),
                Err(error) => Err(self.invalid_utf8(body.len(), error.valid_up_to())),
            };
        }
        self.escaped_string(start, end)
    }

    /// Continues a string at its first escape, control character or the end of the input.
    #[cold]
    #[inline(never)]
    fn escaped_string(&mut self, start: usize, mut end: usize) -> Result<Text<'a>> {
        let bytes = self.bytes;
        self.scratch.clear();
        let mut copied = start;
        loop {
            match bytes.get(end) {
                None => {
                    self.index = bytes.len();
                    return Err(self.fault(Code::EofWhileParsingString));
                }
                Some(b'"') => {
                    self.scratch.extend_from_slice(&bytes[copied..end]);
                    self.index = end + 1;
                    return match std::str::from_utf8(&self.scratch) {
                        Ok(text) => Ok(Text::Decoded(Str::from(text))),
                        Err(error) => {
                            Err(self.invalid_utf8(self.scratch.len(), error.valid_up_to()))
                        }
                    };
                }
                Some(b'\\') => {
                    self.scratch.extend_from_slice(&bytes[copied..end]);
                    self.index = end + 1;
                    self.escape()?;
                    copied = self.index;
                }
                Some(_) => {
                    self.index = end + 1;
                    return Err(self.fault(Code::ControlCharacterWhileParsingString));
                }
            }
            end = skip_plain(bytes, self.index);
        }
    }

    /// The error for a string whose text (read up to its closing quote, just read) is not
    /// UTF-8: `serde_json` reports the column of the closing quote minus the length of the
    /// text from the first invalid byte.
    #[cold]
    fn invalid_utf8(&self, length: usize, valid_up_to: usize) -> Fault {
        Fault {
            code: Code::InvalidUnicodeCodePoint,
            at: self.index - (length - valid_up_to),
        }
    }

    /// The next byte of a string, consumed.
    fn next_in_string(&mut self) -> Result<u8> {
        match self.bytes.get(self.index) {
            Some(&byte) => {
                self.index += 1;
                Ok(byte)
            }
            None => Err(self.fault(Code::EofWhileParsingString)),
        }
    }

    /// Decodes an escape into the scratch buffer; its backslash has been read.
    fn escape(&mut self) -> Result<()> {
        let decoded = match self.next_in_string()? {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => b'\x08',
            b'f' => b'\x0c',
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => return self.unicode_escape(),
            _ => return Err(self.fault(Code::InvalidEscape)),
        };
        self.scratch.push(decoded);
        Ok(())
    }

    /// Decodes a `\u` escape (two for a surrogate pair); `\u` has been read.
    fn unicode_escape(&mut self) -> Result<()> {
        let first = self.hex_escape()?;
        let code = match first {
            0xDC00..=0xDFFF => return Err(self.fault(Code::LoneLeadingSurrogateInHexEscape)),
            0xD800..=0xDBFF => {
                for expected in [b'\\', b'u'] {
                    match self.bytes.get(self.index) {
                        None => return Err(self.fault(Code::EofWhileParsingString)),
                        Some(&byte) => {
                            self.index += 1;
                            if byte != expected {
                                return Err(self.fault(Code::UnexpectedEndOfHexEscape));
                            }
                        }
                    }
                }
                let second = self.hex_escape()?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return Err(self.fault(Code::LoneLeadingSurrogateInHexEscape));
                }
                0x10000 + ((u32::from(first) - 0xD800) << 10 | (u32::from(second) - 0xDC00))
            }
            _ => u32::from(first),
        };
        let Some(decoded) = char::from_u32(code) else {
            return Err(self.fault(Code::InvalidUnicodeCodePoint));
        };
        let mut buffer = [0; 4];
        self.scratch
            .extend_from_slice(decoded.encode_utf8(&mut buffer).as_bytes());
        Ok(())
    }

    /// Reads the four hex digits of a `\u` escape.
    fn hex_escape(&mut self) -> Result<u16> {
        let Some(digits) = self.bytes.get(self.index..self.index + 4) else {
            self.index = self.bytes.len();
            return Err(self.fault(Code::EofWhileParsingString));
        };
        self.index += 4;
        let mut value = 0;
        for &digit in digits {
            let nibble = match digit {
                b'0'..=b'9' => digit - b'0',
                b'a'..=b'f' => digit - b'a' + 10,
                b'A'..=b'F' => digit - b'A' + 10,
                _ => return Err(self.fault(Code::InvalidEscape)),
            };
            value = value << 4 | u16::from(nibble);
        }
        Ok(value)
    }

    /// Parses a number, whose `-` or first digit is next.
    #[inline]
    fn number(&mut self) -> Result<Number> {
        let bytes = self.bytes;
        let start = self.index;
        let negative = bytes[start] == b'-';
        let mut index = start + usize::from(negative);
        let Some(&first) = bytes.get(index) else {
            self.index = bytes.len();
            return Err(self.fault(Code::EofWhileParsingValue));
        };
        index += 1;
        let mut significand = u64::from(first.wrapping_sub(b'0'));
        let mut overflow = false;
        match first {
            b'0' => {
                if bytes.get(index).is_some_and(u8::is_ascii_digit) {
                    self.index = index;
                    return Err(self.peek_fault(Code::InvalidNumber));
                }
            }
            b'1'..=b'9' => {
                while let Some(&byte) = bytes.get(index) {
                    let digit = byte.wrapping_sub(b'0');
                    if digit > 9 {
                        break;
                    }
                    index += 1;
                    match significand
                        .checked_mul(10)
                        .and_then(|tens| tens.checked_add(u64::from(digit)))
                    {
                        Some(next) => significand = next,
                        None => overflow = true,
                    }
                }
            }
            _ => {
                self.index = index;
                return Err(self.fault(Code::InvalidNumber));
            }
        }
        self.index = index;
        if let Some(b'.' | b'e' | b'E') = bytes.get(index) {
            return self.float(start, negative);
        }
        if overflow {
            return self.float(start, negative);
        }
        Ok(Number(if !negative {
            N::PosInt(significand)
        } else if significand == 0 {
            N::Float(-0.0)
        } else if significand <= i64::MIN.unsigned_abs() {
            N::NegInt(0_i64.wrapping_sub_unsigned(significand))
        } else {
            N::Float(-(significand as f64))
        }))
    }

    /// Parses the rest of a number that is a float: its fraction and exponent, if any, follow
    /// (`self.index` is just past its integer digits).
    #[cold]
    #[inline(never)]
    fn float(&mut self, start: usize, negative: bool) -> Result<Number> {
        let bytes = self.bytes;
        if bytes.get(self.index) == Some(&b'.') {
            self.index += 1;
            let digits = count_digits(&bytes[self.index..]);
            self.index += digits;
            if digits == 0 {
                return Err(match bytes.get(self.index) {
                    Some(_) => self.peek_fault(Code::InvalidNumber),
                    None => self.peek_fault(Code::EofWhileParsingValue),
                });
            }
        }
        let mut exponent_digits = 0;
        if let Some(b'e' | b'E') = bytes.get(self.index) {
            self.index += 1;
            let positive_exponent = match bytes.get(self.index) {
                Some(b'+') => {
                    self.index += 1;
                    true
                }
                Some(b'-') => {
                    self.index += 1;
                    false
                }
                _ => true,
            };
            match bytes.get(self.index) {
                None => return Err(self.fault(Code::EofWhileParsingValue)),
                Some(byte) => {
                    self.index += 1;
                    if !byte.is_ascii_digit() {
                        return Err(self.fault(Code::InvalidNumber));
                    }
                }
            }
            let exponent_start = self.index - 1;
            let digits = 1 + count_digits(&bytes[self.index..]);
            self.index = exponent_start + digits;
            exponent_digits = digits;
            if digits >= 10 {
                self.exponent_overflow(start, exponent_start, positive_exponent)?;
            }
        }
        let text = &bytes[start..self.index];
        let parsed = if exponent_digits > 4 {
            parse_long_float(text, negative)
        } else {
            std::str::from_utf8(text)
                .ok()
                .and_then(|text| text.parse::<f64>().ok())
        };
        match parsed {
            Some(value) if value.is_finite() => Ok(Number(N::Float(value))),
            Some(_) => Err(self.fault(Code::NumberOutOfRange)),
            // The text is a valid Rust float literal, so this is not reached.
            None => Err(self.fault(Code::InvalidNumber)),
        }
    }

    /// `serde_json` fails on an exponent beyond `i32::MAX` when the number is not zero, at the
    /// digit that takes it beyond.
    #[cold]
    fn exponent_overflow(
        &mut self,
        start: usize,
        exponent_start: usize,
        positive_exponent: bool,
    ) -> Result<()> {
        let bytes = self.bytes;
        let zero = bytes[start..exponent_start]
            .iter()
            .all(|&byte| !matches!(byte, b'1'..=b'9'));
        if zero || !positive_exponent {
            return Ok(());
        }
        let mut exponent: i32 = 0;
        for (offset, &digit) in bytes[exponent_start..self.index].iter().enumerate() {
            match exponent
                .checked_mul(10)
                .and_then(|tens| tens.checked_add(i32::from(digit - b'0')))
            {
                Some(next) => exponent = next,
                None => {
                    return Err(Fault {
                        code: Code::NumberOutOfRange,
                        at: exponent_start + offset + 1,
                    })
                }
            }
        }
        Ok(())
    }
}

/// The number of ASCII digits `bytes` starts with.
#[inline]
fn count_digits(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .position(|byte| !byte.is_ascii_digit())
        .unwrap_or(bytes.len())
}

/// Parses a float whose exponent has five digits or more, correctly rounded.
///
/// `str::parse` does not keep such exponents exactly, which is wrong when many digits
/// compensate them (`0.000…0001e2147483000` with two million zeros reads as 0): the digits and
/// exponent are normalised here first.
#[cold]
fn parse_long_float(text: &[u8], negative: bool) -> Option<f64> {
    let text = if negative { &text[1..] } else { text };
    let mantissa_end = text
        .iter()
        .position(|&byte| byte == b'e' || byte == b'E')
        .unwrap_or(text.len());
    let (mantissa, exponent) = text.split_at(mantissa_end);
    let (integer, fraction) = match mantissa.iter().position(|&byte| byte == b'.') {
        Some(point) => (&mantissa[..point], &mantissa[point + 1..]),
        None => (mantissa, &mantissa[mantissa.len()..]),
    };
    // The exponent, saturated far beyond any finite or non-zero result.
    const LIMIT: i64 = 1 << 40;
    let mut scale: i64 = 0;
    if let Some((_, digits)) = exponent.split_first() {
        let (sign, digits) = match digits.split_first() {
            Some((b'-', rest)) => (-1, rest),
            Some((b'+', rest)) => (1, rest),
            _ => (1, digits),
        };
        for &digit in digits {
            scale = (scale * 10 + i64::from(digit - b'0')).min(LIMIT);
        }
        scale *= sign;
    }
    // The significant digits and the power of ten of the first: value = 0.DIGITS × 10^point.
    let all = integer.iter().chain(fraction);
    let leading_zeros = all.clone().take_while(|&&byte| byte == b'0').count();
    let digits: Vec<u8> = all.skip(leading_zeros).copied().collect();
    let significant = digits.len() - digits.iter().rev().take_while(|&&d| d == b'0').count();
    let sign = if negative { -1.0 } else { 1.0 };
    if significant == 0 {
        return Some(sign * 0.0);
    }
    let point = integer.len() as i64 - leading_zeros as i64 + scale;
    if point > 400 {
        return Some(sign * f64::INFINITY);
    }
    if point < -400 {
        return Some(sign * 0.0);
    }
    let mut normal = String::with_capacity(significant + 16);
    if negative {
        normal.push('-');
    }
    normal.push_str("0.");
    normal.extend(digits[..significant].iter().map(|&digit| char::from(digit)));
    normal.push('e');
    normal.push_str(&point.to_string());
    normal.parse().ok()
}

/// The offset of the first byte from `index` that is `"`, `\` or a control character, or the
/// length of `bytes` if there is none.
#[inline(always)]
pub(super) fn skip_plain(bytes: &[u8], index: usize) -> usize {
    scan_plain(bytes, index).0
}

/// [`skip_plain`], and whether the bytes skipped are all ASCII.
#[inline(always)]
fn scan_plain(bytes: &[u8], mut index: usize) -> (usize, bool) {
    const ONES: u64 = u64::MAX / 255;
    const HIGH: u64 = ONES << 7;
    // The high bits of the bytes skipped.
    let mut high = 0;
    while let Some(chunk) = bytes.get(index..).and_then(<[u8]>::first_chunk::<8>) {
        let word = u64::from_le_bytes(*chunk);
        let control = word.wrapping_sub(ONES * 0x20) & !word;
        let quote = word ^ (ONES * u64::from(b'"'));
        let quote = quote.wrapping_sub(ONES) & !quote;
        let backslash = word ^ (ONES * u64::from(b'\\'));
        let backslash = backslash.wrapping_sub(ONES) & !backslash;
        let found = (control | quote | backslash) & HIGH;
        if found != 0 {
            // The found byte's high bit: the bytes before it are the lowest `bit - 7` bits.
            let bit = found.trailing_zeros();
            high |= word & ((1 << (bit - 7)) - 1);
            return (index + (bit / 8) as usize, high & HIGH == 0);
        }
        high |= word;
        index += 8;
    }
    let mut ascii = high & HIGH == 0;
    while let Some(&byte) = bytes.get(index) {
        if byte < 0x20 || byte == b'"' || byte == b'\\' {
            break;
        }
        ascii &= byte.is_ascii();
        index += 1;
    }
    (index, ascii)
}

/// Finds the keys already in an object being built, so that a repeated key replaces the
/// earlier value in its place: by a scan while the object is small, by a hash index beyond.
#[derive(Default)]
pub(super) struct KeyIndex {
    index: Option<HashMap<Str, usize>>,
}

/// Whether two keys are equal, comparing their lengths and last bytes before their text.
#[inline(always)]
fn same_key(one: &str, other: &str) -> bool {
    one.len() == other.len() && one.as_bytes().last() == other.as_bytes().last() && one == other
}

/// The number of fields up to which keys are found by scanning.
const SCANNED_FIELDS: usize = 16;

impl KeyIndex {
    /// Where `key` is among `fields` (the object's fields so far, all noted by [`added`]).
    ///
    /// [`added`]: KeyIndex::added
    #[inline]
    pub(super) fn position(&self, fields: &[(Str, Value)], key: &str) -> Option<usize> {
        match &self.index {
            None => fields.iter().position(|(name, _)| same_key(name, key)),
            Some(index) => index.get(key).copied(),
        }
    }

    /// Notes the field just pushed at the end of `fields`.
    #[inline]
    pub(super) fn added(&mut self, fields: &[(Str, Value)]) {
        match &mut self.index {
            Some(index) => {
                if let Some((key, _)) = fields.last() {
                    index.insert(key.clone(), fields.len() - 1);
                }
            }
            None if fields.len() > SCANNED_FIELDS => {
                let index = fields
                    .iter()
                    .enumerate()
                    .map(|(position, (key, _))| (key.clone(), position))
                    .collect();
                self.index = Some(index);
            }
            None => {}
        }
    }
}
