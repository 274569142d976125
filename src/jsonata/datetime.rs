//! Date and time: `$fromMillis`/`$now` formatting and `$toMillis` parsing with XPath
//! `format-dateTime` picture strings, in the proleptic Gregorian calendar, UTC-based.

use super::numfmt::{
    analyse_integer_picture, format_integer_with, parse_with, IntegerFormat, Primary,
};
use super::JsonataError;

fn err(code: &str) -> JsonataError {
    JsonataError::new(code, None, None)
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 8] = [
    "",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

const DAY_MS: i64 = 86_400_000;

/// Days since 1970-01-01 of a civil date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

struct DateTime {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    millis: i64,
    days: i64,
}

fn split(ms: i64) -> DateTime {
    let days = ms.div_euclid(DAY_MS);
    let rem = ms.rem_euclid(DAY_MS);
    let (year, month, day) = civil_from_days(days);
    DateTime {
        year,
        month,
        day,
        hour: rem / 3_600_000,
        minute: rem / 60_000 % 60,
        second: rem / 1000 % 60,
        millis: rem % 1000,
        days,
    }
}

/// ISO day of week, Monday = 1.
fn weekday(days: i64) -> i64 {
    (days + 3).rem_euclid(7) + 1
}

/// The first day (days since epoch) of week 1 of the period starting at `start`.
fn start_of_first_week(start: i64) -> i64 {
    let dow = weekday(start);
    if dow > 4 {
        start + (8 - dow)
    } else {
        start - (dow - 1)
    }
}

fn delta_weeks(start: i64, end: i64) -> i64 {
    (end - start).div_euclid(7) + 1
}

/// (week, year or month of that week) by the ISO rule applied to years or months.
fn week_of(dt: &DateTime, by_month: bool) -> (i64, i64, i64) {
    let today = dt.days;
    let (y, m) = (dt.year, dt.month);
    let period_start = |y: i64, m: i64| days_from_civil(y, m, 1);
    let (next, prev) = if by_month {
        let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        let (py, pm) = if m == 1 { (y - 1, 12) } else { (y, m - 1) };
        ((ny, nm), (py, pm))
    } else {
        ((y + 1, 1), (y - 1, 1))
    };
    let this = if by_month { (y, m) } else { (y, 1) };
    let start1 = start_of_first_week(period_start(this.0, this.1));
    let mut week = delta_weeks(start1, today);
    let mut owner = this;
    let limit = if by_month { 4 } else { 52 };
    if week > limit {
        let following = start_of_first_week(period_start(next.0, next.1));
        if today >= following {
            week = 1;
            owner = next;
        }
    } else if week < 1 {
        let previous = start_of_first_week(period_start(prev.0, prev.1));
        week = delta_weeks(previous, today);
        owner = prev;
    }
    (week, owner.0, owner.1)
}

#[derive(Clone, Copy, PartialEq)]
enum Names {
    None,
    Lower,
    Upper,
    Title,
}

struct Marker {
    component: char,
    presentation2: Option<char>,
    names: Names,
    width: Option<(Option<usize>, Option<usize>)>,
    format: Option<IntegerFormat>,
    n: i64,
}

enum Part {
    Literal(String),
    Marker(Marker),
}

fn default_presentation(c: char) -> Option<&'static str> {
    Some(match c {
        'Y' | 'M' | 'D' | 'd' | 'W' | 'w' | 'X' | 'x' | 'H' | 'h' | 'f' => "1",
        'F' | 'P' | 'C' | 'E' => "n",
        'm' | 's' => "01",
        'Z' | 'z' => "01:01",
        _ => return None,
    })
}

fn analyse(picture: &str) -> Result<Vec<Part>, JsonataError> {
    let chars: Vec<char> = picture.chars().collect();
    let mut parts = Vec::new();
    let mut start = 0;
    let mut pos = 0;
    let add_literal = |parts: &mut Vec<Part>, a: usize, b: usize| {
        if b > a {
            let lit: String = chars[a..b].iter().collect();
            parts.push(Part::Literal(lit.replace("]]", "]")));
        }
    };
    while pos < chars.len() {
        if chars[pos] == '[' {
            if chars.get(pos + 1) == Some(&'[') {
                add_literal(&mut parts, start, pos);
                parts.push(Part::Literal("[".into()));
                pos += 2;
                start = pos;
                continue;
            }
            add_literal(&mut parts, start, pos);
            start = pos;
            let Some(close) = chars[start..]
                .iter()
                .position(|c| *c == ']')
                .map(|i| i + start)
            else {
                return Err(err("D3135"));
            };
            pos = close;
            let marker: String = chars[start + 1..pos]
                .iter()
                .filter(|c| !c.is_whitespace())
                .collect();
            let mchars: Vec<char> = marker.chars().collect();
            let component = mchars.first().copied().unwrap_or(' ');
            let mut width = None;
            let pres: String = match marker.rfind(',') {
                Some(comma) => {
                    let wm = &marker[comma + 1..];
                    let parse_w = |s: &str| -> Option<usize> {
                        if s == "*" || s.is_empty() {
                            None
                        } else {
                            let digits: String =
                                s.chars().take_while(|c| c.is_ascii_digit()).collect();
                            // A width past the longest string the engine builds would only
                            // pad for ever (found by fuzzing: `[M1,201216617]`).
                            digits
                                .parse::<usize>()
                                .ok()
                                .map(|width| width.min(super::functions::MAX_STRING))
                        }
                    };
                    width = Some(match wm.find('-') {
                        None => (parse_w(wm), None),
                        Some(d) => (parse_w(&wm[..d]), parse_w(&wm[d + 1..])),
                    });
                    marker
                        .get(component.len_utf8()..comma)
                        .unwrap_or("")
                        .to_string()
                }
                None => marker.get(component.len_utf8()..).unwrap_or("").to_string(),
            };
            let mut presentation2 = None;
            let presentation1 = if pres.chars().count() == 1 {
                pres
            } else if pres.chars().count() > 1 {
                let last = pres.chars().last().unwrap_or(' ');
                if "atco".contains(last) {
                    presentation2 = Some(last);
                    pres[..pres.len() - 1].to_string()
                } else {
                    pres
                }
            } else {
                match default_presentation(component) {
                    Some(p) => p.to_string(),
                    None => return Err(err("D3132").with_text(component.to_string())),
                }
            };
            let mut p1 = presentation1.chars();
            let names = match p1.next() {
                Some('n') => Names::Lower,
                Some('N') => {
                    if p1.next() == Some('n') {
                        Names::Title
                    } else {
                        Names::Upper
                    }
                }
                _ => Names::None,
            };
            let mut format = None;
            let mut n = -1;
            if names == Names::None && "YMDdFWwXxHhmsf".contains(component) {
                let mut pattern = presentation1.clone();
                if let Some(p2) = presentation2 {
                    pattern.push(';');
                    pattern.push(p2);
                }
                let mut f = analyse_integer_picture(&pattern)?;
                if let Some((Some(min), _)) = width {
                    if f.mandatory_digits < min {
                        f.mandatory_digits = min;
                    }
                }
                if "YMD".contains(component) {
                    if let Some((_, Some(max))) = width {
                        n = max as i64;
                        f.mandatory_digits = max;
                    } else {
                        let w = f.mandatory_digits + f.optional_digits;
                        if w >= 2 {
                            n = w as i64;
                        }
                    }
                }
                format = Some(f);
            }
            if component == 'Z' || component == 'z' {
                format = Some(analyse_integer_picture(&presentation1)?);
            }
            if !"YMDdFWwXxHhPmsfZzCE".contains(component) {
                return Err(err("D3132").with_text(component.to_string()));
            }
            parts.push(Part::Marker(Marker {
                component,
                presentation2,
                names,
                width,
                format,
                n,
            }));
            start = pos + 1;
        }
        pos += 1;
    }
    add_literal(&mut parts, start, pos);
    Ok(parts)
}

fn apply_names(s: &str, names: Names) -> String {
    match names {
        Names::Upper => s.to_uppercase(),
        Names::Lower => s.to_lowercase(),
        _ => s.to_string(),
    }
}

pub(crate) fn from_millis(
    ms: i64,
    picture: Option<&str>,
    tz: Option<&str>,
) -> Result<String, JsonataError> {
    let (mut off_h, mut off_m) = (0i64, 0i64);
    if let Some(tz) = tz {
        let t = tz.trim();
        let digits: String = t
            .chars()
            .enumerate()
            .take_while(|(i, c)| c.is_ascii_digit() || (*i == 0 && (*c == '+' || *c == '-')))
            .map(|(_, c)| c)
            .collect();
        let offset: i64 = digits.parse().unwrap_or(0);
        off_h = offset.div_euclid(100);
        off_m = offset.rem_euclid(100);
        if offset < 0 {
            // JavaScript's Math.floor and % on a negative offset
            off_h = (offset as f64 / 100.0).floor() as i64;
            off_m = offset % 100;
        }
    }
    if ms.unsigned_abs() > 8_640_000_000_000_000 || off_h.abs() > 10_000 {
        return Err(err("D1001").with_text(ms.to_string()));
    }
    let parts =
        analyse(picture.unwrap_or("[Y0001]-[M01]-[D01]T[H01]:[m01]:[s01].[f001][Z01:01t]"))?;
    let dt = split(ms + (60 * off_h + off_m) * 60_000);
    let mut out = String::new();
    for part in &parts {
        match part {
            Part::Literal(l) => out.push_str(l),
            Part::Marker(m) => out.push_str(&format_component(&dt, m, off_h, off_m)?),
        }
    }
    Ok(out)
}

fn format_component(
    dt: &DateTime,
    m: &Marker,
    off_h: i64,
    off_m: i64,
) -> Result<String, JsonataError> {
    let c = m.component;
    let value: i64 = match c {
        'Y' => dt.year,
        'M' => dt.month,
        'D' => dt.day,
        'd' => dt.days - days_from_civil(dt.year, 1, 1) + 1,
        'F' => weekday(dt.days),
        'W' => week_of(dt, false).0,
        'X' => week_of(dt, false).1,
        'w' => week_of(dt, true).0,
        'x' => week_of(dt, true).2,
        'H' => dt.hour,
        'h' => {
            let h = dt.hour % 12;
            if h == 0 {
                12
            } else {
                h
            }
        }
        'm' => dt.minute,
        's' => dt.second,
        'f' => dt.millis,
        _ => 0,
    };
    match c {
        'Y' | 'M' | 'D' | 'd' | 'F' | 'W' | 'w' | 'X' | 'x' | 'H' | 'h' | 'm' | 's' => {
            let mut value = value;
            if c == 'Y' && m.n != -1 {
                value %= 10i64.pow(m.n.clamp(0, 18) as u32);
            }
            if m.names != Names::None {
                let name = match c {
                    'M' | 'x' => MONTHS
                        .get((value - 1).clamp(0, 11) as usize)
                        .copied()
                        .unwrap_or(""),
                    'F' => DAYS.get(value.clamp(0, 7) as usize).copied().unwrap_or(""),
                    _ => return Err(err("D3133").with_text(c.to_string())),
                };
                let mut name = apply_names(name, m.names);
                if let Some((_, Some(max))) = m.width {
                    if name.chars().count() > max {
                        name = name.chars().take(max).collect();
                    }
                }
                Ok(name)
            } else {
                match &m.format {
                    Some(f) => format_integer_with(value as f64, f),
                    None => Ok(value.to_string()),
                }
            }
        }
        'f' => match &m.format {
            Some(f) => format_integer_with(value as f64, f),
            None => Ok(value.to_string()),
        },
        'Z' | 'z' => {
            let offset = off_h * 100 + off_m;
            let f = m.format.clone().ok_or_else(|| err("D3134"))?;
            let mut s = if f.regular > 0 {
                format_integer_with(offset as f64, &f)?
            } else {
                match f.mandatory_digits {
                    1 | 2 => {
                        let mut s = format_integer_with(off_h as f64, &f)?;
                        if off_m != 0 {
                            s.push(':');
                            s.push_str(&format!("{:02}", off_m.abs()));
                        }
                        s
                    }
                    3 | 4 => format_integer_with(offset as f64, &f)?,
                    n => return Err(err("D3134").with_text(n.to_string())),
                }
            };
            if offset >= 0 {
                s.insert(0, '+');
            }
            if c == 'z' {
                s.insert_str(0, "GMT");
            }
            if offset == 0 && m.presentation2 == Some('t') {
                s = "Z".into();
            }
            Ok(s)
        }
        'P' => {
            let s = if dt.hour >= 12 { "pm" } else { "am" };
            Ok(if m.names == Names::Upper {
                s.to_uppercase()
            } else {
                s.to_string()
            })
        }
        'C' | 'E' => Ok("ISO".into()),
        _ => Err(err("D3132").with_text(c.to_string())),
    }
}

fn iso8601(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let digits = |from: usize, n: usize| -> Option<i64> {
        let part = s.get(from..from + n)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let year = digits(0, 4)?;
    let mut i = 4;
    let (mut month, mut day) = (1, 1);
    if b.get(i) == Some(&b'-') {
        month = digits(i + 1, 2)?;
        i += 3;
        if b.get(i) == Some(&b'-') {
            day = digits(i + 1, 2)?;
            i += 3;
        }
    }
    let (mut h, mut mi, mut sec, mut ms) = (0, 0, 0, 0i64);
    if b.get(i) == Some(&b'T') {
        h = digits(i + 1, 2)?;
        if b.get(i + 3) != Some(&b':') {
            return None;
        }
        mi = digits(i + 4, 2)?;
        i += 6;
        if b.get(i) == Some(&b':') {
            sec = digits(i + 1, 2)?;
            i += 3;
        }
        if b.get(i) == Some(&b'.') {
            let frac: String = s[i + 1..]
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            if frac.is_empty() {
                return None;
            }
            let padded: String = format!("{frac:0<3}").chars().take(3).collect();
            ms = padded.parse().ok()?;
            i += 1 + frac.len();
        }
    }
    let mut offset = 0;
    if i < b.len() {
        match b[i] {
            b'Z' => i += 1,
            b'+' | b'-' => {
                let sign = if b[i] == b'-' { -1 } else { 1 };
                let oh = digits(i + 1, 2)?;
                let mut j = i + 3;
                if b.get(j) == Some(&b':') {
                    j += 1;
                }
                let om = digits(j, 2)?;
                offset = sign * (oh * 60 + om);
                i = j + 2;
            }
            _ => return None,
        }
    }
    if i != b.len()
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || h > 24
        || mi > 59
        || sec > 59
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * DAY_MS + ((h * 60 + mi - offset) * 60 + sec) * 1000 + ms)
}

pub(crate) fn to_millis(s: &str, picture: Option<&str>) -> Result<Option<i64>, JsonataError> {
    match picture {
        None => match iso8601(s) {
            Some(ms) => Ok(Some(ms)),
            None => Err(err("D3110").with_text(format!("\"{s}\""))),
        },
        Some(p) => parse_with_picture(s, p),
    }
}

/// Number words (with "and", hyphens and ", " between them) from `pos` on.
fn take_number_words(input: &[char], pos: &mut usize) -> String {
    let mut out = String::new();
    let mut i = *pos;
    loop {
        let word: String = input[i..]
            .iter()
            .take_while(|c| c.is_alphabetic())
            .collect();
        let lower = word.to_lowercase();
        if word.is_empty() || (lower != "and" && super::numfmt::is_number_word(&lower).is_none()) {
            break;
        }
        out.push_str(&word);
        i += word.chars().count();
        *pos = i;
        // a separator counts only if another number word follows
        let sep: String = input[i..]
            .iter()
            .take_while(|c| **c == ' ' || **c == '-' || **c == ',')
            .collect();
        if sep.is_empty() {
            break;
        }
        let after: String = input[i + sep.chars().count()..]
            .iter()
            .take_while(|c| c.is_alphabetic())
            .collect();
        let after = after.to_lowercase();
        if after.is_empty() || (after != "and" && super::numfmt::is_number_word(&after).is_none()) {
            break;
        }
        out.push_str(&sep);
        i += sep.chars().count();
    }
    out
}

fn name_match(input: &[char], pos: usize, names: &[&str]) -> Option<(usize, usize)> {
    let rest: String = input[pos..].iter().collect::<String>().to_lowercase();
    // longest full name first, then three-letter abbreviations
    let mut best: Option<(usize, usize)> = None;
    for (i, n) in names.iter().enumerate() {
        if n.is_empty() {
            continue;
        }
        let ln = n.to_lowercase();
        if rest.starts_with(&ln) && best.is_none_or(|b| ln.len() > b.1) {
            best = Some((i, ln.chars().count()));
        }
    }
    if best.is_none() {
        for (i, n) in names.iter().enumerate() {
            if n.len() >= 3 {
                let abbr: String = n.to_lowercase().chars().take(3).collect();
                if rest.starts_with(&abbr) {
                    return Some((i, 3));
                }
            }
        }
    }
    best
}

fn parse_with_picture(s: &str, picture: &str) -> Result<Option<i64>, JsonataError> {
    let parts = analyse(picture)?;
    let input: Vec<char> = s.chars().collect();
    let mut pos = 0;
    let mut values: std::collections::HashMap<char, i64> = std::collections::HashMap::new();
    let mut tz_offset: Option<i64> = None;
    for (idx, part) in parts.iter().enumerate() {
        match part {
            Part::Literal(l) => {
                for lc in l.chars() {
                    if input.get(pos) == Some(&lc) {
                        pos += 1;
                    } else {
                        return Ok(None);
                    }
                }
            }
            Part::Marker(m) => {
                let next_is_marker = matches!(parts.get(idx + 1), Some(Part::Marker(_)));
                match m.component {
                    'Z' | 'z' => {
                        let start = pos;
                        if m.component == 'z' {
                            let rest: String = input[pos..].iter().take(3).collect();
                            if rest == "GMT" {
                                pos += 3;
                            }
                        }
                        if input.get(pos) == Some(&'Z') {
                            pos += 1;
                            tz_offset = Some(0);
                            continue;
                        }
                        let sign = match input.get(pos) {
                            Some('+') => 1,
                            Some('-') => -1,
                            _ => return Ok(None),
                        };
                        pos += 1;
                        let text: String = input[pos..]
                            .iter()
                            .take_while(|c| c.is_ascii_digit() || **c == ':')
                            .collect();
                        pos += text.chars().count();
                        let (h, mi) = match text.split_once(':') {
                            Some((h, mi)) => (
                                h.parse::<i64>().unwrap_or(0),
                                mi.parse::<i64>().unwrap_or(0),
                            ),
                            None => {
                                let v: i64 = text.parse().unwrap_or(0);
                                if text.len() <= 2 {
                                    (v, 0)
                                } else {
                                    (v / 100, v % 100)
                                }
                            }
                        };
                        let _ = start;
                        tz_offset = Some(sign * (h * 60 + mi));
                    }
                    'P' => {
                        let rest: String = input[pos..]
                            .iter()
                            .take(2)
                            .collect::<String>()
                            .to_lowercase();
                        if rest == "am" || rest == "pm" {
                            values.insert('P', if rest == "pm" { 1 } else { 0 });
                            pos += 2;
                        } else {
                            return Ok(None);
                        }
                    }
                    'C' | 'E' => {
                        let rest: String = input[pos..].iter().take(3).collect();
                        if rest == "ISO" {
                            pos += 3;
                        }
                    }
                    c if m.names != Names::None => {
                        let names: Vec<&str> = match c {
                            'M' | 'x' => MONTHS.to_vec(),
                            'F' => DAYS.to_vec(),
                            _ => return Err(err("D3133").with_text(c.to_string())),
                        };
                        match name_match(&input, pos, &names) {
                            Some((i, len)) => {
                                pos += len;
                                values.insert(c, if c == 'F' { i as i64 } else { i as i64 + 1 });
                            }
                            None => return Ok(None),
                        }
                    }
                    c => {
                        let Some(f) = &m.format else { return Ok(None) };
                        let text: String = match f.primary {
                            Primary::Decimal => {
                                let is_digit = |ch: &char| {
                                    let cp = *ch as u32;
                                    cp >= f.zero_code && cp <= f.zero_code + 9
                                };
                                let mut t = String::new();
                                let max = if next_is_marker && c != 'f' {
                                    Some(f.mandatory_digits.max(1))
                                } else {
                                    None
                                };
                                let mut count = 0;
                                while let Some(ch) = input.get(pos) {
                                    if max.is_some_and(|mx| count >= mx) {
                                        break;
                                    }
                                    if is_digit(ch) {
                                        count += 1;
                                        t.push(*ch);
                                        pos += 1;
                                    } else if f.separators.iter().any(|(_, sc)| sc == ch)
                                        && input.get(pos + 1).is_some_and(is_digit)
                                    {
                                        t.push(*ch);
                                        pos += 1;
                                    } else {
                                        break;
                                    }
                                }
                                if f.ordinal {
                                    let suffix: String = input[pos..].iter().take(2).collect();
                                    if ["st", "nd", "rd", "th"].contains(&suffix.as_str()) {
                                        t.push_str(&suffix);
                                        pos += 2;
                                    }
                                }
                                t
                            }
                            Primary::Roman => {
                                let t: String = input[pos..]
                                    .iter()
                                    .take_while(|ch| "MDCLXVImdclxvi".contains(**ch))
                                    .collect();
                                pos += t.chars().count();
                                t
                            }
                            Primary::Letters => {
                                let t: String = input[pos..]
                                    .iter()
                                    .take_while(|ch| ch.is_ascii_alphabetic())
                                    .collect();
                                pos += t.chars().count();
                                t
                            }
                            Primary::Words => take_number_words(&input, &mut pos),
                            Primary::Sequence => {
                                return Err(err("D3130").with_text(f.token.clone()))
                            }
                        };
                        if text.is_empty() {
                            return Ok(None);
                        }
                        if c == 'f' {
                            let digits: String = format!("{text:0<3}").chars().take(3).collect();
                            values.insert('f', digits.parse().unwrap_or(0));
                            continue;
                        }
                        let Some(v) = parse_with(&text, f)? else {
                            return Ok(None);
                        };
                        values.insert(c, v as i64);
                    }
                }
            }
        }
    }
    compose(&values, tz_offset)
}

fn compose(
    values: &std::collections::HashMap<char, i64>,
    tz_offset: Option<i64>,
) -> Result<Option<i64>, JsonataError> {
    let has = |c: char| values.contains_key(&c);
    let get = |c: char, d: i64| values.get(&c).copied().unwrap_or(d);
    if values.is_empty() && tz_offset.is_none() {
        return Ok(None);
    }
    if values.values().any(|v| v.abs() > 10_000_000) || tz_offset.is_some_and(|o| o.abs() > 100_000)
    {
        return Ok(None);
    }
    // the components given must run without gaps from the most significant one present
    let mask: Vec<bool> = ['Y', 'M', 'D', 'H', 'm', 's', 'f']
        .iter()
        .map(|c| has(*c) || (*c == 'H' && has('h')))
        .collect();
    if !has('d') && !has('W') && !has('X') {
        let first = mask.iter().position(|b| *b);
        let last = mask.iter().rposition(|b| *b);
        if let (Some(a), Some(b)) = (first, last) {
            if mask[a..=b].iter().any(|x| !x) {
                return Err(err("D3136"));
            }
        }
    }
    // which components determine the date: year-month-day, year-day, or ISO week date
    let date_days = if has('d') {
        if !has('Y') {
            return Err(err("D3136"));
        }
        days_from_civil(get('Y', 1970), 1, 1) + get('d', 1) - 1
    } else if has('W') || has('X') || has('w') || has('x') {
        // week-based dates are not supported for parsing, as in the reference
        return Err(err("D3136"));
    } else {
        let year_given = has('Y');
        let month_given = has('M');
        let day_given = has('D');
        // a gap in the date components (e.g. year and day without month) cannot be resolved
        if year_given && !month_given && day_given {
            return Err(err("D3136"));
        }
        if !year_given && month_given && !day_given && (has('H') || has('h') || has('m')) {
            // a month alone with a time: the year and day default
        }
        let now_days = {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0);
            now.div_euclid(DAY_MS)
        };
        let (ny, nm, nd) = civil_from_days(now_days);
        let no_date = !year_given && !month_given && !day_given;
        let year = get('Y', ny);
        let month = get('M', if no_date { nm } else { 1 });
        let day = get('D', if no_date { nd } else { 1 });
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return Ok(None);
        }
        days_from_civil(year, month, day)
    };
    let time_given = has('H') || has('h') || has('m') || has('s') || has('f');
    let mut hour = get('H', 0);
    if has('h') {
        hour = get('h', 12) % 12;
        if get('P', 0) == 1 {
            hour += 12;
        }
    }
    let _ = time_given;
    let minute = get('m', 0);
    let second = get('s', 0);
    let millis = get('f', 0);
    let offset = tz_offset.unwrap_or(0);
    Ok(Some(
        date_days * DAY_MS + ((hour * 60 + minute - offset) * 60 + second) * 1000 + millis,
    ))
}
