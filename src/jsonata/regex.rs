//! Regular expressions (`/pattern/flags`) and the matching protocol the string functions
//! share: successive matches, with the reference's refusal of repeated empty matches.

use super::JsonataError;

#[derive(Debug)]
pub(crate) struct JRegex {
    pub re: regex::Regex,
}

impl JRegex {
    pub fn new(pattern: &str, flags: &str) -> Result<JRegex, regex::Error> {
        let mut prefix = String::new();
        if flags.contains('i') {
            prefix.push_str("(?i)");
        }
        if flags.contains('m') {
            prefix.push_str("(?m)");
        }
        let source = format!("{prefix}{}", translate(pattern));
        Ok(JRegex {
            re: regex::RegexBuilder::new(&source)
                .size_limit(1 << 20)
                .build()?,
        })
    }
}

/// Rewrites the few JavaScript spellings the `regex` crate reads differently.
fn translate(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push(c);
                if let Some(n) = chars.next() {
                    if n == '/' {
                        out.pop();
                        out.push('/');
                    } else {
                        out.push(n);
                    }
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    out.push_str("\\]");
                    chars.next();
                }
            }
            '[' if in_class => out.push_str("\\["),
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// One match: byte offsets into the subject, the matched text and the capture groups.
pub(crate) struct Match {
    pub start: usize,
    pub end: usize,
    pub text: String,
    pub groups: Vec<Option<String>>,
}

impl JRegex {
    pub fn match_at(&self, subject: &str, from: usize) -> Option<Match> {
        if from > subject.len() {
            return None;
        }
        let caps = self.re.captures_at(subject, from)?;
        let whole = caps.get(0)?;
        Some(Match {
            start: whole.start(),
            end: whole.end(),
            text: whole.as_str().to_string(),
            groups: (1..caps.len())
                .map(|i| caps.get(i).map(|m| m.as_str().to_string()))
                .collect(),
        })
    }

    /// The matches after the first, following the reference: matching resumes where the
    /// previous match ended, and an empty match there is an error (`D1004`).
    pub fn all(&self, subject: &str, limit: Option<usize>) -> Result<Vec<Match>, JsonataError> {
        let mut out = Vec::new();
        let mut current = self.match_at(subject, 0);
        while let Some(m) = current {
            if limit.is_some_and(|l| out.len() >= l) {
                break;
            }
            let end = m.end;
            out.push(m);
            if end >= subject.len() {
                break;
            }
            current = self.match_at(subject, end);
            if let Some(next) = &current {
                if next.text.is_empty() {
                    return Err(JsonataError::new("D1004", None, None));
                }
            }
        }
        Ok(out)
    }
}
