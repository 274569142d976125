//! Function signatures (`<s-n?:s>`): parsing, and the validation the reference applies to
//! arguments before a call (type checks, the context argument, wrapping singletons into
//! arrays).

use super::value::Val;
use super::JsonataError;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Quant {
    One,
    Opt,
    Plus,
}

#[derive(Debug, Clone)]
struct Param {
    /// Accepted type symbols.
    set: Vec<u8>,
    quant: Quant,
    kind: u8,
    context: bool,
    subtype: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Signature {
    params: Vec<Param>,
}

fn find_closing(chars: &[u8], start: usize, open: u8, close: u8) -> usize {
    let mut depth = 1;
    let mut pos = start;
    while pos + 1 < chars.len() {
        pos += 1;
        if chars[pos] == open {
            depth += 1;
        } else if chars[pos] == close {
            depth -= 1;
            if depth == 0 {
                break;
            }
        }
    }
    pos
}

impl Signature {
    pub fn parse(text: &str) -> Result<Signature, JsonataError> {
        let chars = text.as_bytes();
        let mut params: Vec<Param> = Vec::new();
        let mut position = 1;
        while position < chars.len() {
            let symbol = chars[position];
            if symbol == b':' {
                break;
            }
            let simple = |set: &[u8], kind: u8| Param {
                set: set.to_vec(),
                quant: Quant::One,
                kind,
                context: false,
                subtype: None,
            };
            match symbol {
                b's' | b'n' | b'b' | b'l' | b'o' => params.push(simple(&[symbol, b'm'], symbol)),
                b'a' => params.push(simple(b"asnblfom", b'a')),
                b'f' => params.push(simple(b"f", b'f')),
                b'j' => params.push(simple(b"asnblom", b'j')),
                b'x' => params.push(simple(b"asnblfom", b'x')),
                b'-' => {
                    if let Some(prev) = params.last_mut() {
                        prev.context = true;
                        prev.quant = Quant::Opt;
                    }
                }
                b'?' => {
                    if let Some(prev) = params.last_mut() {
                        prev.quant = Quant::Opt;
                    }
                }
                b'+' => {
                    if let Some(prev) = params.last_mut() {
                        prev.quant = Quant::Plus;
                    }
                }
                b'(' => {
                    let end = find_closing(chars, position, b'(', b')');
                    let choice = chars.get(position + 1..end.min(chars.len())).unwrap_or(&[]);
                    if choice.contains(&b'<') {
                        return Err(JsonataError::new(
                            "S0402",
                            Some(position),
                            Some(String::from_utf8_lossy(choice).into_owned()),
                        ));
                    }
                    let mut set = choice.to_vec();
                    set.push(b'm');
                    params.push(Param {
                        set,
                        quant: Quant::One,
                        kind: b'(',
                        context: false,
                        subtype: None,
                    });
                    position = end;
                }
                b'<' => match params.last_mut() {
                    Some(prev) if prev.kind == b'a' || prev.kind == b'f' => {
                        let end = find_closing(chars, position, b'<', b'>');
                        prev.subtype = Some(
                            String::from_utf8_lossy(
                                chars.get(position + 1..end.min(chars.len())).unwrap_or(&[]),
                            )
                            .into_owned(),
                        );
                        position = end;
                    }
                    prev => {
                        let token = prev.map(|p| (p.kind as char).to_string());
                        return Err(JsonataError::new("S0401", Some(position), token));
                    }
                },
                _ => {}
            }
            position += 1;
        }
        Ok(Signature { params })
    }

    /// Matches the argument symbols against the parameters, as an anchored regular
    /// expression would (greedy, backtracking); returns each parameter's share.
    fn match_from(
        &self,
        symbols: &[u8],
        param: usize,
        at: usize,
        anchored: bool,
        out: &mut Vec<(usize, usize)>,
    ) -> bool {
        if param == self.params.len() {
            return !anchored || at == symbols.len();
        }
        let p = &self.params[param];
        let mut max = 0;
        while at + max < symbols.len() && p.set.contains(&symbols[at + max]) {
            max += 1;
            if p.quant != Quant::Plus {
                break;
            }
        }
        let min = if p.quant == Quant::Opt { 0 } else { 1 };
        let mut take = max;
        loop {
            if take < min {
                return false;
            }
            out.push((at, at + take));
            if self.match_from(symbols, param + 1, at + take, anchored, out) {
                return true;
            }
            out.pop();
            if take == 0 {
                return false;
            }
            take -= 1;
        }
    }

    /// Validates `args` for a call, returning the arguments the function receives.
    pub fn validate<'a>(
        &self,
        args: Vec<Val<'a>>,
        context: &Val<'a>,
    ) -> Result<Vec<Val<'a>>, JsonataError> {
        let symbols: Vec<u8> = args.iter().map(|a| a.symbol()).collect();
        let mut spans = Vec::with_capacity(self.params.len());
        if !self.match_from(&symbols, 0, 0, true, &mut spans) {
            return Err(self.validation_error(&args, &symbols));
        }
        let mut validated = Vec::with_capacity(self.params.len());
        let mut arg_index = 0;
        for (param, (start, end)) in self.params.iter().zip(spans) {
            if start == end {
                if param.context {
                    let ctx_symbol = context.symbol();
                    if param.set.contains(&ctx_symbol) {
                        if context.has_flag(super::value::OUTER_WRAPPER) {
                            validated.push(context.arr_get(0));
                        } else {
                            validated.push(context.clone());
                        }
                    } else {
                        return Err(JsonataError::new("T0411", None, None)
                            .with_index(arg_index + 1)
                            .with_value(context));
                    }
                } else {
                    validated.push(args.get(arg_index).cloned().unwrap_or(Val::Undef));
                    arg_index += 1;
                }
                continue;
            }
            let matched = &symbols[start..end];
            for &single in matched {
                let arg = args.get(arg_index).cloned().unwrap_or(Val::Undef);
                if param.kind == b'a' {
                    if single == b'm' {
                        validated.push(Val::Undef);
                    } else {
                        let mut ok = true;
                        if let Some(sub) = &param.subtype {
                            let sub0 = sub.as_bytes().first().copied().unwrap_or(b'x');
                            if single != b'a' && matched != sub.as_bytes() {
                                ok = false;
                            } else if single == b'a' && arg.arr_len() > 0 {
                                let first = arg.arr_get(0).symbol();
                                if first != sub0 {
                                    ok = false;
                                } else {
                                    ok = arg.items().all(|v| v.symbol() == first);
                                }
                            }
                        }
                        if !ok {
                            return Err(JsonataError::new("T0412", None, None)
                                .with_index(arg_index + 1)
                                .with_value(&arg)
                                .with_type(match param.subtype.as_deref() {
                                    Some("a") => "arrays",
                                    Some("b") => "booleans",
                                    Some("f") => "functions",
                                    Some("n") => "numbers",
                                    Some("o") => "objects",
                                    Some("s") => "strings",
                                    _ => "values",
                                }));
                        }
                        if single != b'a' {
                            validated.push(Val::array(vec![arg]));
                        } else {
                            validated.push(arg);
                        }
                    }
                } else {
                    validated.push(arg);
                }
                arg_index += 1;
            }
        }
        Ok(validated)
    }

    fn validation_error(&self, args: &[Val<'_>], symbols: &[u8]) -> JsonataError {
        let mut good_to = 0;
        for n in 1..=self.params.len() {
            let partial = Signature {
                params: self.params[..n].to_vec(),
            };
            let mut spans = Vec::new();
            if !partial.match_from(symbols, 0, 0, false, &mut spans) {
                break;
            }
            good_to = spans.last().map(|s| s.1).unwrap_or(0);
        }
        let value = args.get(good_to).cloned().unwrap_or(Val::Undef);
        JsonataError::new("T0410", None, None)
            .with_index(good_to + 1)
            .with_value(&value)
    }
}
