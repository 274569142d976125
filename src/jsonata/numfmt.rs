//! Number formatting: `$formatNumber` (XPath `format-number` pictures), `$formatBase`,
//! `$formatInteger` and `$parseInteger` (XPath `format-integer` pictures).

use super::value::format_number as js_number;
use super::JsonataError;

fn err(code: &str) -> JsonataError {
    JsonataError::new(code, None, None)
}

/// A number in another radix, as JavaScript's `toString(radix)` prints integers.
pub(crate) fn to_radix(n: f64, radix: u32) -> String {
    let neg = n < 0.0;
    let mut v = n.abs().min(u128::MAX as f64) as u128;
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(digits[(v % radix as u128) as usize]);
        v /= radix as u128;
        if v == 0 {
            break;
        }
    }
    if neg {
        out.push(b'-');
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

const DECIMAL_GROUPS: [u32; 37] = [
    0x30, 0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6,
    0x0D66, 0x0DE6, 0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80,
    0x1A90, 0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0,
    0xFF10,
];

#[derive(Clone, Copy, PartialEq, Debug)]
pub(crate) enum Primary {
    Letters,
    Roman,
    Words,
    Decimal,
    Sequence,
}

#[derive(Clone, Copy, PartialEq, Debug)]
pub(crate) enum Case {
    Lower,
    Upper,
    Title,
}

#[derive(Clone, Debug)]
pub(crate) struct IntegerFormat {
    pub primary: Primary,
    pub case: Case,
    pub ordinal: bool,
    pub zero_code: u32,
    pub mandatory_digits: usize,
    pub optional_digits: usize,
    pub regular: usize,
    /// (position from the right, character)
    pub separators: Vec<(usize, char)>,
    pub token: String,
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn regular_repeat(positions: &[usize]) -> usize {
    if positions.is_empty() {
        return 0;
    }
    let factor = positions.iter().copied().fold(positions[0], gcd);
    if factor == 0 {
        return 0;
    }
    for index in 1..=positions.len() {
        if !positions.contains(&(index * factor)) {
            return 0;
        }
    }
    factor
}

pub(crate) fn analyse_integer_picture(picture: &str) -> Result<IntegerFormat, JsonataError> {
    let mut format = IntegerFormat {
        primary: Primary::Decimal,
        case: Case::Lower,
        ordinal: false,
        zero_code: 0x30,
        mandatory_digits: 0,
        optional_digits: 0,
        regular: 0,
        separators: Vec::new(),
        token: String::new(),
    };
    let primary = match picture.rfind(';') {
        None => picture,
        Some(i) => {
            if picture[i + 1..].starts_with('o') {
                format.ordinal = true;
            }
            &picture[..i]
        }
    };
    match primary {
        "A" => {
            format.case = Case::Upper;
            format.primary = Primary::Letters;
        }
        "a" => format.primary = Primary::Letters,
        "I" => {
            format.case = Case::Upper;
            format.primary = Primary::Roman;
        }
        "i" => format.primary = Primary::Roman,
        "W" => {
            format.case = Case::Upper;
            format.primary = Primary::Words;
        }
        "Ww" => {
            format.case = Case::Title;
            format.primary = Primary::Words;
        }
        "w" => format.primary = Primary::Words,
        _ => {
            let mut zero: Option<u32> = None;
            let mut mandatory = 0;
            let mut position = 0;
            let mut separators = Vec::new();
            for c in primary.chars().rev() {
                let cp = c as u32;
                match DECIMAL_GROUPS.iter().find(|&&g| cp >= g && cp <= g + 9) {
                    Some(&group) => {
                        mandatory += 1;
                        position += 1;
                        match zero {
                            None => zero = Some(group),
                            Some(z) if z != group => return Err(err("D3131")),
                            _ => {}
                        }
                    }
                    None => {
                        if c == '#' {
                            position += 1;
                            format.optional_digits += 1;
                        } else {
                            separators.push((position, c));
                        }
                    }
                }
            }
            if mandatory > 0 {
                format.zero_code = zero.unwrap_or(0x30);
                format.mandatory_digits = mandatory;
                let same_char = separators.iter().all(|s| s.1 == separators[0].1);
                let positions: Vec<usize> = separators.iter().map(|s| s.0).collect();
                let regular = if same_char {
                    regular_repeat(&positions)
                } else {
                    0
                };
                if regular > 0 {
                    format.regular = regular;
                    format.separators = vec![(regular, separators[0].1)];
                } else {
                    format.separators = separators;
                }
            } else {
                format.primary = Primary::Sequence;
                format.token = primary.to_string();
            }
        }
    }
    Ok(format)
}

const FEW: [&str; 20] = [
    "Zero",
    "One",
    "Two",
    "Three",
    "Four",
    "Five",
    "Six",
    "Seven",
    "Eight",
    "Nine",
    "Ten",
    "Eleven",
    "Twelve",
    "Thirteen",
    "Fourteen",
    "Fifteen",
    "Sixteen",
    "Seventeen",
    "Eighteen",
    "Nineteen",
];
const ORDINALS: [&str; 20] = [
    "Zeroth",
    "First",
    "Second",
    "Third",
    "Fourth",
    "Fifth",
    "Sixth",
    "Seventh",
    "Eighth",
    "Ninth",
    "Tenth",
    "Eleventh",
    "Twelfth",
    "Thirteenth",
    "Fourteenth",
    "Fifteenth",
    "Sixteenth",
    "Seventeenth",
    "Eighteenth",
    "Nineteenth",
];
const DECADES: [&str; 9] = [
    "Twenty", "Thirty", "Forty", "Fifty", "Sixty", "Seventy", "Eighty", "Ninety", "Hundred",
];
const MAGNITUDES: [&str; 4] = ["Thousand", "Million", "Billion", "Trillion"];

fn words_lookup(num: f64, prev: bool, ord: bool) -> String {
    if num <= 19.0 {
        let i = num.max(0.0) as usize;
        format!(
            "{}{}",
            if prev { " and " } else { "" },
            if ord { ORDINALS[i] } else { FEW[i] }
        )
    } else if num < 100.0 {
        let tens = (num / 10.0).floor() as usize;
        let rem = num % 10.0;
        let mut words = format!("{}{}", if prev { " and " } else { "" }, DECADES[tens - 2]);
        if rem > 0.0 {
            words.push('-');
            words.push_str(&words_lookup(rem, false, ord));
        } else if ord {
            words.pop();
            words.push_str("ieth");
        }
        words
    } else if num < 1000.0 {
        let hundreds = (num / 100.0).floor() as usize;
        let rem = num % 100.0;
        let mut words = format!("{}{} Hundred", if prev { ", " } else { "" }, FEW[hundreds]);
        if rem > 0.0 {
            words.push_str(&words_lookup(rem, true, ord));
        } else if ord {
            words.push_str("th");
        }
        words
    } else {
        let mut mag = (num.log10() / 3.0).floor() as usize;
        if mag > MAGNITUDES.len() {
            mag = MAGNITUDES.len();
        }
        let factor = 10f64.powi(mag as i32 * 3);
        let mant = (num / factor).floor();
        let rem = num - mant * factor;
        let mut words = format!(
            "{}{} {}",
            if prev { ", " } else { "" },
            words_lookup(mant, false, false),
            MAGNITUDES[mag - 1]
        );
        if rem > 0.0 {
            words.push_str(&words_lookup(rem, true, ord));
        } else if ord {
            words.push_str("th");
        }
        words
    }
}

fn to_letters(mut value: u64, a: u8) -> String {
    let mut letters = Vec::new();
    while value > 0 {
        letters.push(((value - 1) % 26) as u8 + a);
        value = (value - 1) / 26;
    }
    letters.reverse();
    String::from_utf8(letters).unwrap_or_default()
}

fn to_roman(mut value: u64) -> String {
    const TABLE: [(u64, &str); 13] = [
        (1000, "m"),
        (900, "cm"),
        (500, "d"),
        (400, "cd"),
        (100, "c"),
        (90, "xc"),
        (50, "l"),
        (40, "xl"),
        (10, "x"),
        (9, "ix"),
        (5, "v"),
        (4, "iv"),
        (1, "i"),
    ];
    let mut out = String::new();
    for (n, s) in TABLE {
        while value >= n {
            out.push_str(s);
            value -= n;
        }
    }
    out
}

pub(crate) fn format_integer_with(
    value: f64,
    format: &IntegerFormat,
) -> Result<String, JsonataError> {
    let negative = value < 0.0;
    let v = value.abs().min(1e19) as u64;
    let mut out = match format.primary {
        Primary::Words if value.is_finite() && value.abs() < 1e300 => {
            let w = words_lookup(value.abs().floor(), false, format.ordinal);
            match format.case {
                Case::Upper => w.to_uppercase(),
                Case::Lower => w.to_lowercase(),
                Case::Title => w,
            }
        }
        Primary::Letters => to_letters(
            v,
            if format.case == Case::Upper {
                b'A'
            } else {
                b'a'
            },
        ),
        Primary::Roman => {
            // One "m" per thousand: a huge number would spell out a string beyond memory.
            let thousands = v / 1000;
            if thousands > super::functions::MAX_STRING as u64 {
                return Err(
                    JsonataError::new("D2014", None, None).with_text(js_number(thousands as f64))
                );
            }
            let r = to_roman(v);
            if format.case == Case::Upper {
                r.to_uppercase()
            } else {
                r
            }
        }
        Primary::Words => {
            let w = words_lookup(v as f64, false, format.ordinal);
            match format.case {
                Case::Upper => w.to_uppercase(),
                Case::Lower => w.to_lowercase(),
                Case::Title => w,
            }
        }
        Primary::Decimal => {
            let mut digits: Vec<char> = v.to_string().chars().collect();
            if format.mandatory_digits > digits.len() {
                let pad = format.mandatory_digits - digits.len();
                let mut padded = vec!['0'; pad];
                padded.extend(digits);
                digits = padded;
            }
            if format.zero_code != 0x30 {
                digits = digits
                    .into_iter()
                    .map(|c| char::from_u32(c as u32 - 0x30 + format.zero_code).unwrap_or(c))
                    .collect();
            }
            if format.regular > 0 {
                let (step, sep) = format.separators[0];
                let n = (digits.len().saturating_sub(1)) / step;
                for ii in (1..=n).rev() {
                    let pos = digits.len() - ii * step;
                    digits.insert(pos, sep);
                }
            } else {
                for &(position, sep) in format.separators.iter().rev() {
                    let pos = digits.len().saturating_sub(position);
                    digits.insert(pos, sep);
                }
            }
            let mut s: String = digits.into_iter().collect();
            if format.ordinal {
                let chars: Vec<char> = s.chars().collect();
                let last = chars.last().copied().unwrap_or('0');
                let mut suffix = match last {
                    '1' => "st",
                    '2' => "nd",
                    '3' => "rd",
                    _ => "th",
                };
                if chars.len() > 1 && chars[chars.len() - 2] == '1' {
                    suffix = "th";
                }
                s.push_str(suffix);
            }
            s
        }
        Primary::Sequence => {
            return Err(err("D3130").with_text(format.token.clone()));
        }
    };
    if negative {
        out.insert(0, '-');
    }
    Ok(out)
}

pub(crate) fn format_integer(n: f64, picture: &str) -> Result<String, JsonataError> {
    let format = analyse_integer_picture(picture)?;
    format_integer_with(n.floor(), &format)
}

/// The value of one number word (`"twenty"`, `"fifth"`, `"thousand"`), lower case.
pub(crate) fn is_number_word(word: &str) -> Option<f64> {
    word_value(word)
}

fn word_value(word: &str) -> Option<f64> {
    word_value_int(word).map(|v| v as f64)
}

fn word_value_int(word: &str) -> Option<u64> {
    for (i, w) in FEW.iter().enumerate() {
        if w.eq_ignore_ascii_case(word) {
            return Some(i as u64);
        }
    }
    for (i, w) in ORDINALS.iter().enumerate() {
        if w.eq_ignore_ascii_case(word) {
            return Some(i as u64);
        }
    }
    for (i, w) in DECADES.iter().enumerate() {
        let lw = w.to_lowercase();
        let ieth = format!("{}ieth", &lw[..lw.len() - 1]);
        if lw == word || ieth == word {
            return Some((i as u64 + 2) * 10);
        }
    }
    if word == "hundredth" {
        return Some(100);
    }
    for (i, w) in MAGNITUDES.iter().enumerate() {
        let lw = w.to_lowercase();
        if lw == word || format!("{lw}th") == word {
            return Some(10u64.pow((i as u32 + 1) * 3));
        }
    }
    None
}

fn words_to_number(text: &str) -> Option<f64> {
    let text = text.replace(", ", " ").replace(" and ", " ");
    let mut segs: Vec<f64> = vec![0.0];
    for part in text.split([' ', '-']).filter(|p| !p.is_empty()) {
        let value = word_value(part)?;
        if value < 100.0 {
            let mut top = segs.pop().unwrap_or(0.0);
            if top >= 1000.0 {
                segs.push(top);
                top = 0.0;
            }
            segs.push(top + value);
        } else {
            let top = segs.pop().unwrap_or(0.0);
            segs.push(top * value);
        }
    }
    Some(segs.iter().sum::<f64>())
}

pub(crate) fn parse_with(s: &str, format: &IntegerFormat) -> Result<Option<f64>, JsonataError> {
    Ok(match format.primary {
        Primary::Letters => {
            let a = if format.case == Case::Upper {
                b'A'
            } else {
                b'a'
            };
            let mut total = 0f64;
            for (i, c) in s.bytes().rev().enumerate() {
                total += (c as f64 - a as f64 + 1.0) * 26f64.powi(i as i32);
            }
            Some(total)
        }
        Primary::Roman => {
            let mut total: i64 = 0;
            let mut max = 1;
            for c in s.to_uppercase().chars().rev() {
                let v = match c {
                    'M' => 1000,
                    'D' => 500,
                    'C' => 100,
                    'L' => 50,
                    'X' => 10,
                    'V' => 5,
                    'I' => 1,
                    _ => 0,
                };
                if v < max {
                    total -= v;
                } else {
                    max = v;
                    total += v;
                }
            }
            Some(total as f64)
        }
        Primary::Words => words_to_number(&s.to_lowercase()),
        Primary::Decimal => {
            let mut digits: String = s.to_string();
            if format.ordinal && digits.chars().count() >= 2 {
                let n = digits.chars().count() - 2;
                digits = digits.chars().take(n).collect();
            }
            if format.regular > 0 {
                digits = digits.replace(',', "");
            } else {
                for (_, sep) in &format.separators {
                    digits = digits.replace(*sep, "");
                }
            }
            if format.zero_code != 0x30 {
                digits = digits
                    .chars()
                    .map(|c| {
                        char::from_u32((c as u32).wrapping_sub(format.zero_code) + 0x30)
                            .unwrap_or(c)
                    })
                    .collect();
            }
            let lead: String = digits.chars().take_while(|c| c.is_ascii_digit()).collect();
            lead.parse::<f64>().ok()
        }
        Primary::Sequence => return Err(err("D3130").with_text(format.token.clone())),
    })
}

pub(crate) fn parse_integer(s: &str, picture: &str) -> Result<Option<f64>, JsonataError> {
    let format = analyse_integer_picture(picture)?;
    parse_with(s, &format)
}

struct Parts {
    prefix: Vec<char>,
    suffix: Vec<char>,
    active: Vec<char>,
    mantissa: Vec<char>,
    exponent: Option<Vec<char>>,
    integer: Vec<char>,
    fractional: Vec<char>,
    picture: Vec<char>,
}

fn index_of(hay: &[char], needle: char, from: usize) -> Option<usize> {
    hay.iter()
        .skip(from)
        .position(|c| *c == needle)
        .map(|i| i + from)
}

fn last_index_of(hay: &[char], needle: char) -> Option<usize> {
    hay.iter().rposition(|c| *c == needle)
}

struct Props {
    decimal: char,
    grouping: char,
    exponent: char,
    minus: String,
    percent: char,
    per_mille: char,
    zero: char,
    digit: char,
    pattern: char,
}

fn first_char(s: &str, default: char) -> char {
    s.chars().next().unwrap_or(default)
}

/// `$formatNumber`: the XPath F&O 4.7 algorithm as the reference implements it.
pub(crate) fn format_number(
    value: f64,
    picture: &str,
    options: &[(String, String)],
) -> Result<String, JsonataError> {
    let mut props = Props {
        decimal: '.',
        grouping: ',',
        exponent: 'e',
        minus: "-".into(),
        percent: '%',
        per_mille: '\u{2030}',
        zero: '0',
        digit: '#',
        pattern: ';',
    };
    for (k, v) in options {
        match k.as_str() {
            "decimal-separator" => props.decimal = first_char(v, '.'),
            "grouping-separator" => props.grouping = first_char(v, ','),
            "exponent-separator" => props.exponent = first_char(v, 'e'),
            "minus-sign" => props.minus = v.clone(),
            "percent" => props.percent = first_char(v, '%'),
            "per-mille" => props.per_mille = first_char(v, '\u{2030}'),
            "zero-digit" => props.zero = first_char(v, '0'),
            "digit" => props.digit = first_char(v, '#'),
            "pattern-separator" => props.pattern = first_char(v, ';'),
            _ => {}
        }
    }
    let family: Vec<char> = (0..10)
        .filter_map(|i| char::from_u32(props.zero as u32 + i))
        .collect();
    let is_digit = |c: char| family.contains(&c);
    let mut active: Vec<char> = family.clone();
    active.extend([
        props.decimal,
        props.exponent,
        props.grouping,
        props.digit,
        props.pattern,
    ]);
    let is_active = |c: char| active.contains(&c);
    let pic: Vec<char> = picture.chars().collect();
    let subs: Vec<Vec<char>> = pic
        .split(|c| *c == props.pattern)
        .map(|s| s.to_vec())
        .collect();
    if subs.len() > 2 {
        return Err(err("D3080"));
    }
    let split_parts = |sub: &Vec<char>| -> Parts {
        let prefix_len = sub
            .iter()
            .position(|c| is_active(*c) && *c != props.exponent)
            .unwrap_or(sub.len());
        let suffix_start = sub
            .iter()
            .rposition(|c| is_active(*c) && *c != props.exponent)
            .map(|i| i + 1)
            .unwrap_or(sub.len());
        let prefix = sub[..prefix_len].to_vec();
        let suffix = if suffix_start >= prefix_len {
            sub[suffix_start..].to_vec()
        } else {
            Vec::new()
        };
        let active_end = sub.len() - suffix.len();
        let active_part = if active_end >= prefix.len() {
            sub[prefix.len()..active_end].to_vec()
        } else {
            Vec::new()
        };
        let exp_pos = index_of(sub, props.exponent, prefix.len());
        let (mantissa, exponent) = match exp_pos {
            Some(p) if p <= sub.len() - suffix.len() => {
                let rel = p - prefix.len();
                (
                    active_part[..rel.min(active_part.len())].to_vec(),
                    Some(active_part[(rel + 1).min(active_part.len())..].to_vec()),
                )
            }
            _ => (active_part.clone(), None),
        };
        let (integer, fractional) = match index_of(&mantissa, props.decimal, 0) {
            None => (mantissa.clone(), suffix.clone()),
            Some(d) => (mantissa[..d].to_vec(), mantissa[d + 1..].to_vec()),
        };
        Parts {
            prefix,
            suffix,
            active: active_part,
            mantissa,
            exponent,
            integer,
            fractional,
            picture: sub.clone(),
        }
    };
    if subs
        .iter()
        .any(|sub| !sub.iter().any(|c| is_active(*c) && *c != props.exponent))
    {
        return Err(err("D3086"));
    }
    let parts: Vec<Parts> = subs.iter().map(split_parts).collect();
    for p in &parts {
        let sub = &p.picture;
        let mut error = None;
        let dpos = index_of(sub, props.decimal, 0);
        if dpos != last_index_of(sub, props.decimal) {
            error = Some("D3081");
        }
        if index_of(sub, props.percent, 0) != last_index_of(sub, props.percent) {
            error = Some("D3082");
        }
        if index_of(sub, props.per_mille, 0) != last_index_of(sub, props.per_mille) {
            error = Some("D3083");
        }
        if sub.contains(&props.percent) && sub.contains(&props.per_mille) {
            error = Some("D3084");
        }
        if !p.mantissa.iter().any(|c| is_digit(*c) || *c == props.digit) {
            error = Some("D3085");
        }
        if p.active.iter().any(|c| !is_active(*c)) {
            error = Some("D3086");
        }
        match dpos {
            Some(d) => {
                if (d > 0 && sub[d - 1] == props.grouping)
                    || sub.get(d + 1) == Some(&props.grouping)
                {
                    error = Some("D3087");
                }
            }
            None => {
                if p.integer.last() == Some(&props.grouping) {
                    error = Some("D3088");
                }
            }
        }
        if sub
            .windows(2)
            .any(|w| w[0] == props.grouping && w[1] == props.grouping)
        {
            error = Some("D3089");
        }
        if let Some(o) = index_of(&p.integer, props.digit, 0) {
            if p.integer[..o].iter().any(|c| is_digit(*c)) {
                error = Some("D3090");
            }
        }
        if let Some(o) = last_index_of(&p.fractional, props.digit) {
            if p.fractional[o..].iter().any(|c| is_digit(*c)) {
                error = Some("D3091");
            }
        }
        if let Some(e) = &p.exponent {
            if !e.is_empty() && (sub.contains(&props.percent) || sub.contains(&props.per_mille)) {
                error = Some("D3092");
            }
            if e.is_empty() || e.iter().any(|c| !is_digit(*c)) {
                error = Some("D3093");
            }
        }
        if let Some(code) = error {
            return Err(err(code));
        }
    }
    struct Vars {
        int_groups: Vec<usize>,
        regular: usize,
        min_int: usize,
        scaling: usize,
        prefix: String,
        frac_groups: Vec<usize>,
        min_frac: usize,
        max_frac: usize,
        min_exp: usize,
        suffix: String,
        picture: Vec<char>,
    }
    let analyse = |p: &Parts| -> Vars {
        let grouping_positions = |part: &[char], to_left: bool| -> Vec<usize> {
            let mut positions = Vec::new();
            let mut g = index_of(part, props.grouping, 0);
            while let Some(pos) = g {
                let slice = if to_left { &part[..pos] } else { &part[pos..] };
                positions.push(
                    slice
                        .iter()
                        .filter(|c| is_digit(**c) || **c == props.digit)
                        .count(),
                );
                g = index_of(part, props.grouping, pos + 1);
            }
            positions
        };
        let int_groups = grouping_positions(&p.integer, false);
        let regular = regular_repeat(&int_groups);
        let frac_groups = grouping_positions(&p.fractional, true);
        let mut min_int = p.integer.iter().filter(|c| is_digit(**c)).count();
        let scaling = min_int;
        let mut min_frac = p.fractional.iter().filter(|c| is_digit(**c)).count();
        let mut max_frac = p
            .fractional
            .iter()
            .filter(|c| is_digit(**c) || **c == props.digit)
            .count();
        let exp_present = p.exponent.is_some();
        if min_int == 0 && max_frac == 0 {
            if exp_present {
                min_frac = 1;
                max_frac = 1;
            } else {
                min_int = 1;
            }
        }
        if exp_present && min_int == 0 && p.integer.contains(&props.digit) {
            min_int = 1;
        }
        if min_int == 0 && min_frac == 0 {
            min_frac = 1;
        }
        let min_exp = p
            .exponent
            .as_ref()
            .map(|e| e.iter().filter(|c| is_digit(**c)).count())
            .unwrap_or(0);
        Vars {
            int_groups,
            regular,
            min_int,
            scaling,
            prefix: p.prefix.iter().collect(),
            frac_groups,
            min_frac,
            max_frac,
            min_exp,
            suffix: p.suffix.iter().collect(),
            picture: p.picture.clone(),
        }
    };
    let mut vars: Vec<Vars> = parts.iter().map(analyse).collect();
    if vars.len() == 1 {
        let mut neg = analyse(&parts[0]);
        neg.prefix = format!("{}{}", props.minus, neg.prefix);
        vars.push(neg);
    }
    let pic = if value >= 0.0 { &vars[0] } else { &vars[1] };
    let adjusted = if pic.picture.contains(&props.percent) {
        value * 100.0
    } else if pic.picture.contains(&props.per_mille) {
        value * 1000.0
    } else {
        value
    };
    let mut mantissa = adjusted;
    let mut exponent: Option<i32> = None;
    if pic.min_exp != 0 {
        let max_m = 10f64.powi(pic.scaling as i32);
        let min_m = 10f64.powi(pic.scaling as i32 - 1);
        let mut e = 0;
        if mantissa != 0.0 {
            while mantissa.abs() < min_m {
                mantissa *= 10.0;
                e -= 1;
            }
            while mantissa.abs() > max_m {
                mantissa /= 10.0;
                e += 1;
            }
        }
        exponent = Some(e);
    }
    let rounded = round_half_even(mantissa, pic.max_frac as i32);
    let make_string = |v: f64, dp: usize| -> Vec<char> {
        let s = format!("{:.*}", dp, v.abs());
        s.chars()
            .map(|c| {
                if c.is_ascii_digit() {
                    family.get((c as u8 - b'0') as usize).copied().unwrap_or(c)
                } else {
                    c
                }
            })
            .collect()
    };
    let mut s = make_string(rounded, pic.max_frac);
    match s.iter().position(|c| *c == '.') {
        None => s.push(props.decimal),
        Some(i) => s[i] = props.decimal,
    }
    while s.first() == Some(&props.zero) {
        s.remove(0);
    }
    while s.last() == Some(&props.zero) {
        s.pop();
    }
    let dpos = index_of(&s, props.decimal, 0).unwrap_or(0);
    let pad_left = pic.min_int as isize - dpos as isize;
    let pad_right = pic.min_frac as isize - (s.len() as isize - dpos as isize - 1);
    if pad_left > 0 {
        let mut p = vec![props.zero; pad_left as usize];
        p.extend(s);
        s = p;
    }
    if pad_right > 0 {
        s.extend(std::iter::repeat_n(props.zero, pad_right as usize));
    }
    let mut dpos = index_of(&s, props.decimal, 0).unwrap_or(0);
    if let Some(count) = dpos.saturating_sub(1).checked_div(pic.regular) {
        for group in 1..=count {
            let at = dpos - group * pic.regular;
            s.insert(at, props.grouping);
        }
    } else {
        for pos in &pic.int_groups {
            if *pos <= dpos {
                s.insert(dpos - pos, props.grouping);
                dpos += 1;
            }
        }
    }
    let dpos = index_of(&s, props.decimal, 0).unwrap_or(0);
    for pos in &pic.frac_groups {
        let at = pos + dpos + 1;
        if at <= s.len() {
            s.insert(at, props.grouping);
        }
    }
    let dpos = index_of(&s, props.decimal, 0).unwrap_or(0);
    if pic.min_frac == 0 && dpos + 1 == s.len() {
        s.pop();
    }
    let mut out: String = s.into_iter().collect();
    if let Some(e) = exponent {
        let mut es: Vec<char> = make_string(e as f64, 0);
        if pic.min_exp > es.len() {
            let mut p = vec![props.zero; pic.min_exp - es.len()];
            p.extend(es);
            es = p;
        }
        out.push(props.exponent);
        if e < 0 {
            out.push_str(&props.minus);
        }
        out.extend(es);
    }
    Ok(format!("{}{}{}", pic.prefix, out, pic.suffix))
}

/// `$round`'s rounding: half to even at `precision` decimal places.
pub(crate) fn round_half_even(n: f64, precision: i32) -> f64 {
    let precision = precision.clamp(-400, 400);
    let shift = |n: f64, places: i32| -> f64 {
        let text = js_number(n);
        let (m, e) = match text.split_once('e') {
            Some((m, e)) => (m.to_string(), e.parse::<i32>().unwrap_or(0)),
            None => (text.clone(), 0),
        };
        format!("{m}e{}", e + places).parse().unwrap_or(n)
    };
    let mut v = n;
    if precision != 0 {
        v = shift(v, precision);
    }
    let mut result = (v + 0.5).floor();
    if (result - v).abs() == 0.5 && (result % 2.0).abs() == 1.0 {
        result -= 1.0;
    }
    if precision != 0 {
        result = shift(result, -precision);
    }
    if result == 0.0 {
        result = 0.0;
    }
    result
}
