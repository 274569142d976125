//! Tokens of a JSONata expression.

use super::JsonataError;

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    Name(String),
    Variable(String),
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
    /// `/pattern/flags`
    Regex(String, String),
    Op(&'static str),
    End,
}

#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub tok: Tok,
    /// Byte offset just past the token, as the reference reports positions.
    pub pos: usize,
}

const OPERATORS2: [&str; 9] = ["..", ":=", "!=", ">=", "<=", "**", "~>", "?:", "??"];
const OPERATORS1: &str = ".[]{}(),@#;:?+-*/%|=<>^&!~";

pub(crate) struct Lexer<'s> {
    src: &'s str,
    bytes: &'s [u8],
    pos: usize,
}

fn op1(c: u8) -> Option<&'static str> {
    Some(match c {
        b'.' => ".",
        b'[' => "[",
        b']' => "]",
        b'{' => "{",
        b'}' => "}",
        b'(' => "(",
        b')' => ")",
        b',' => ",",
        b'@' => "@",
        b'#' => "#",
        b';' => ";",
        b':' => ":",
        b'?' => "?",
        b'+' => "+",
        b'-' => "-",
        b'*' => "*",
        b'/' => "/",
        b'%' => "%",
        b'|' => "|",
        b'=' => "=",
        b'<' => "<",
        b'>' => ">",
        b'^' => "^",
        b'&' => "&",
        b'!' => "!",
        b'~' => "~",
        _ => return None,
    })
}

impl<'s> Lexer<'s> {
    pub fn new(src: &'s str) -> Self {
        Lexer {
            src,
            bytes: src.as_bytes(),
            pos: 0,
        }
    }

    fn err(&self, code: &str, pos: usize, token: Option<String>) -> JsonataError {
        JsonataError::new(code, Some(pos), token)
    }

    /// The next token; `prefix` is true where an operand is expected (there `/` starts a
    /// regular expression).
    pub fn next(&mut self, prefix: bool) -> Result<Token, JsonataError> {
        let b = self.bytes;
        // whitespace and comments
        loop {
            while self.pos < b.len() && matches!(b[self.pos], b' ' | b'\t' | b'\n' | b'\r' | 0x0b) {
                self.pos += 1;
            }
            if self.pos + 1 < b.len() && b[self.pos] == b'/' && b[self.pos + 1] == b'*' {
                let start = self.pos;
                match self.src[self.pos + 2..].find("*/") {
                    Some(end) => self.pos += 2 + end + 2,
                    None => return Err(self.err("S0106", start, None)),
                }
                continue;
            }
            break;
        }
        if self.pos >= b.len() {
            return Ok(Token {
                tok: Tok::End,
                pos: self.pos,
            });
        }
        let c = b[self.pos];
        if prefix && c == b'/' {
            self.pos += 1;
            return self.scan_regex();
        }
        if self.pos + 1 < b.len() {
            let two = &self.src.get(self.pos..self.pos + 2).unwrap_or("");
            if let Some(op) = OPERATORS2.iter().find(|op| *op == two) {
                // `?:` and `??` are not operators of the language version implemented here
                if *op != "?:" && *op != "??" {
                    self.pos += 2;
                    return Ok(Token {
                        tok: Tok::Op(op),
                        pos: self.pos,
                    });
                }
            }
        }
        if let Some(op) = op1(c) {
            self.pos += 1;
            return Ok(Token {
                tok: Tok::Op(op),
                pos: self.pos,
            });
        }
        if c == b'"' || c == b'\'' {
            return self.scan_string(c);
        }
        if c.is_ascii_digit() {
            return self.scan_number();
        }
        if c == b'`' {
            let start = self.pos;
            self.pos += 1;
            return match self.src[self.pos..].find('`') {
                Some(end) => {
                    let name = self.src[self.pos..self.pos + end].to_string();
                    self.pos += end + 1;
                    Ok(Token {
                        tok: Tok::Name(name),
                        pos: self.pos,
                    })
                }
                None => Err(self.err("S0105", start, None)),
            };
        }
        // names and variables
        let start = self.pos;
        let mut i = self.pos;
        while i < b.len() {
            let ch = b[i];
            if matches!(ch, b' ' | b'\t' | b'\n' | b'\r' | 0x0b)
                || OPERATORS1.as_bytes().contains(&ch)
            {
                break;
            }
            i += 1;
        }
        self.pos = i;
        if b[start] == b'$' {
            return Ok(Token {
                tok: Tok::Variable(self.src[start + 1..i].to_string()),
                pos: i,
            });
        }
        let name = &self.src[start..i];
        let tok = match name {
            "or" => Tok::Op("or"),
            "and" => Tok::Op("and"),
            "in" => Tok::Op("in"),
            "true" => Tok::Bool(true),
            "false" => Tok::Bool(false),
            "null" => Tok::Null,
            _ => Tok::Name(name.to_string()),
        };
        Ok(Token { tok, pos: i })
    }

    fn scan_regex(&mut self) -> Result<Token, JsonataError> {
        let b = self.bytes;
        let start = self.pos;
        let mut depth: i32 = 0;
        while self.pos < b.len() {
            let c = b[self.pos];
            let escaped = self.pos > 0 && b[self.pos - 1] == b'\\';
            if c == b'/' && depth == 0 {
                let mut count = 0;
                while self.pos > count && b[self.pos - count - 1] == b'\\' {
                    count += 1;
                }
                if count % 2 == 0 {
                    let pattern = self.src[start..self.pos].to_string();
                    if pattern.is_empty() {
                        return Err(self.err("S0301", self.pos, None));
                    }
                    self.pos += 1;
                    let fstart = self.pos;
                    while self.pos < b.len() && (b[self.pos] == b'i' || b[self.pos] == b'm') {
                        self.pos += 1;
                    }
                    let flags = self.src[fstart..self.pos].to_string();
                    return Ok(Token {
                        tok: Tok::Regex(pattern, flags),
                        pos: self.pos,
                    });
                }
            }
            if matches!(c, b'(' | b'[' | b'{') && !escaped {
                depth += 1;
            }
            if matches!(c, b')' | b']' | b'}') && !escaped {
                depth -= 1;
            }
            self.pos += 1;
        }
        Err(self.err("S0302", self.pos, None))
    }

    fn scan_string(&mut self, quote: u8) -> Result<Token, JsonataError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        let mut units: Vec<u16> = Vec::new();
        let src = self.src;
        let mut chars = src[self.pos..].char_indices();
        while let Some((i, ch)) = chars.next() {
            if ch != '\\' && !units.is_empty() {
                out.push_str(&String::from_utf16_lossy(&units));
                units.clear();
            }
            if ch as u32 == quote as u32 {
                self.pos += i + 1;
                return Ok(Token {
                    tok: Tok::Str(out),
                    pos: self.pos,
                });
            }
            if ch == '\\' {
                let (j, esc) = match chars.next() {
                    Some(x) => x,
                    None => break,
                };
                let simple = match esc {
                    '"' => Some('"'),
                    '\\' => Some('\\'),
                    '/' => Some('/'),
                    'b' => Some('\u{8}'),
                    'f' => Some('\u{c}'),
                    'n' => Some('\n'),
                    'r' => Some('\r'),
                    't' => Some('\t'),
                    _ => None,
                };
                if let Some(s) = simple {
                    if !units.is_empty() {
                        out.push_str(&String::from_utf16_lossy(&units));
                        units.clear();
                    }
                    out.push(s);
                    continue;
                }
                if esc == 'u' {
                    let hex = src.get(self.pos + j + 1..self.pos + j + 5);
                    match hex.and_then(|h| {
                        if h.bytes().all(|c| c.is_ascii_hexdigit()) {
                            u16::from_str_radix(h, 16).ok()
                        } else {
                            None
                        }
                    }) {
                        Some(unit) => {
                            units.push(unit);
                            for _ in 0..4 {
                                chars.next();
                            }
                            continue;
                        }
                        None => return Err(self.err("S0104", self.pos + j, None)),
                    }
                }
                return Err(self.err("S0103", self.pos + j, Some(esc.to_string())));
            }
            out.push(ch);
        }
        Err(self.err("S0101", start, None))
    }

    fn scan_number(&mut self) -> Result<Token, JsonataError> {
        let b = self.bytes;
        let start = self.pos;
        let mut i = self.pos;
        if b[i] == b'0' {
            i += 1;
        } else {
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
        }
        if i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit() {
            i += 1;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
        }
        if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
            let mut j = i + 1;
            if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
                j += 1;
            }
            if j < b.len() && b[j].is_ascii_digit() {
                while j < b.len() && b[j].is_ascii_digit() {
                    j += 1;
                }
                i = j;
            }
        }
        let text = &self.src[start..i];
        match text.parse::<f64>() {
            Ok(n) if n.is_finite() => {
                self.pos = i;
                Ok(Token {
                    tok: Tok::Num(n),
                    pos: i,
                })
            }
            _ => Err(self.err("S0102", start, Some(text.to_string()))),
        }
    }
}
