//! Timestamps as Step Functions reads and writes them: the ISO-8601 strings of Choice
//! `Timestamp*` rules, `IsTimestamp` and Wait `Timestamp`/`TimestampPath`, and the
//! millisecond UTC form of the context object's times. Date arithmetic is proleptic
//! Gregorian, in UTC.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// The longest delay a Wait state accepts, in seconds. AWS fails a Wait whose delay does
/// not fit a signed 32-bit count of seconds ("Wait state delay is too long."): 24,855 days
/// ahead is accepted, 24,856 days is not.
pub const MAX_WAIT_SECONDS: i64 = i32::MAX as i64;

const SECONDS_PER_DAY: i64 = 86_400;
const NANOS_PER_SECOND: u32 = 1_000_000_000;

/// An instant: seconds and nanoseconds since the Unix epoch, in UTC. Ordered in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    /// Whole seconds since 1970-01-01T00:00:00Z (negative before it).
    seconds: i64,
    /// Nanoseconds within the second, below 1,000,000,000.
    nanos: u32,
}

impl Timestamp {
    /// The instant `epoch_ms` milliseconds after the Unix epoch.
    pub fn from_epoch_millis(epoch_ms: i64) -> Timestamp {
        let millis = epoch_ms.rem_euclid(1000);
        Timestamp {
            seconds: epoch_ms.div_euclid(1000),
            // `millis` is in 0..1000, so the product is below one second of nanoseconds.
            nanos: u32::try_from(millis).unwrap_or(0) * 1_000_000,
        }
    }

    /// Whole seconds since the Unix epoch (rounded towards the past).
    pub fn epoch_seconds(&self) -> i64 {
        self.seconds
    }

    /// Nanoseconds within the second.
    pub fn subsec_nanos(&self) -> u32 {
        self.nanos
    }

    /// Milliseconds since the Unix epoch (rounded towards the past, saturating).
    pub fn epoch_millis(&self) -> i64 {
        self.seconds
            .saturating_mul(1000)
            .saturating_add(i64::from(self.nanos / 1_000_000))
    }
}

impl fmt::Display for Timestamp {
    /// `YYYY-MM-DDThh:mm:ss[.fraction]Z`, the fraction without trailing zeros.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_date_time(f, self.seconds)?;
        if self.nanos != 0 {
            let digits = format!("{:09}", self.nanos);
            write!(f, ".{}", digits.trim_end_matches('0'))?;
        }
        f.write_str("Z")
    }
}

/// Parses an ISO-8601 extended offset date-time as Step Functions accepts it:
/// `YYYY-MM-DDThh:mm:ss[.fraction](Z|+hh:mm|-hh:mm)`.
///
/// Follows the AWS rules: the RFC 3339 profile with an uppercase `T` between date and time
/// and an uppercase `Z` for UTC; seconds and an offset are required; the fraction has 1 to
/// 9 digits; the date must exist (leap years included); hours 00–23, minutes and seconds
/// 00–59 (no leap second); offsets at most ±18:00. A space instead of `T`, a
/// day-month-year order or an out-of-range field gives `None`.
pub fn parse_timestamp(text: &str) -> Option<Timestamp> {
    let mut cursor = Cursor {
        bytes: text.as_bytes(),
        position: 0,
    };
    let year = cursor.digits(4)?;
    cursor.expect(b'-')?;
    let month = cursor.digits(2)?;
    cursor.expect(b'-')?;
    let day = cursor.digits(2)?;
    cursor.expect(b'T')?;
    let hour = cursor.digits(2)?;
    cursor.expect(b':')?;
    let minute = cursor.digits(2)?;
    cursor.expect(b':')?;
    let second = cursor.digits(2)?;
    let nanos = if cursor.accept(b'.') {
        cursor.fraction()?
    } else {
        0
    };
    let offset_seconds = match cursor.next()? {
        b'Z' => 0,
        sign @ (b'+' | b'-') => {
            let offset_hours = cursor.digits(2)?;
            cursor.expect(b':')?;
            let offset_minutes = cursor.digits(2)?;
            let magnitude = offset_hours * 3600 + offset_minutes * 60;
            if offset_minutes > 59 || magnitude > 18 * 3600 {
                return None;
            }
            if sign == b'-' {
                -magnitude
            } else {
                magnitude
            }
        }
        _ => return None,
    };
    if !cursor.at_end()
        || !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let seconds =
        days_from_civil(year, month, day) * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second
            - offset_seconds;
    Some(Timestamp { seconds, nanos })
}

/// Formats milliseconds since the Unix epoch as the context object does:
/// `2024-01-31T12:34:56.789Z` (always three fraction digits).
pub fn format_millis(epoch_ms: i64) -> String {
    struct Millis(i64);
    impl fmt::Display for Millis {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write_date_time(f, self.0.div_euclid(1000))?;
            write!(f, ".{:03}Z", self.0.rem_euclid(1000))
        }
    }
    Millis(epoch_ms).to_string()
}

/// The current time in milliseconds since the Unix epoch, from the system clock.
pub fn now_millis() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    }
}

/// How long a Wait state waits for `until`, in milliseconds from `now_ms`: 0 when the time
/// has passed.
///
/// Step Functions reads a Wait timestamp to the second and drops the fraction ("Step
/// Functions considers the time value up to seconds and truncates milliseconds"), so the
/// fraction of `until` is ignored. Compare the result with [`MAX_WAIT_SECONDS`] to reject
/// delays that are too long.
pub fn millis_until(until: &Timestamp, now_ms: i64) -> i64 {
    until
        .seconds
        .saturating_mul(1000)
        .saturating_sub(now_ms)
        .max(0)
}

/// Writes `YYYY-MM-DDThh:mm:ss` for whole seconds since the Unix epoch.
fn write_date_time(f: &mut fmt::Formatter<'_>, epoch_seconds: i64) -> fmt::Result {
    let days = epoch_seconds.div_euclid(SECONDS_PER_DAY);
    let second_of_day = epoch_seconds.rem_euclid(SECONDS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    if year < 0 {
        write!(f, "-{:04}", year.unsigned_abs())?;
    } else {
        write!(f, "{year:04}")?;
    }
    write!(
        f,
        "-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    )
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let shifted_month = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The proleptic Gregorian date of a count of days since 1970-01-01 (`civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A position in the ASCII text being parsed.
struct Cursor<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl Cursor<'_> {
    fn next(&mut self) -> Option<u8> {
        let byte = *self.bytes.get(self.position)?;
        self.position += 1;
        Some(byte)
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.position).copied()
    }

    fn at_end(&self) -> bool {
        self.position == self.bytes.len()
    }

    fn expect(&mut self, wanted: u8) -> Option<()> {
        (self.next()? == wanted).then_some(())
    }

    fn accept(&mut self, wanted: u8) -> bool {
        let found = self.peek() == Some(wanted);
        if found {
            self.position += 1;
        }
        found
    }

    /// Exactly `count` decimal digits as a number.
    fn digits(&mut self, count: usize) -> Option<i64> {
        let mut value = 0;
        for _ in 0..count {
            let byte = self.next()?;
            if !byte.is_ascii_digit() {
                return None;
            }
            value = value * 10 + i64::from(byte - b'0');
        }
        Some(value)
    }

    /// 1 to 9 digits after the decimal point, as nanoseconds.
    fn fraction(&mut self) -> Option<u32> {
        let mut nanos = 0;
        let mut scale = NANOS_PER_SECOND;
        while let Some(byte) = self.peek().filter(u8::is_ascii_digit) {
            if scale == 1 {
                return None;
            }
            scale /= 10;
            nanos += u32::from(byte - b'0') * scale;
            self.position += 1;
        }
        (scale < NANOS_PER_SECOND).then_some(nanos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `text` and compares (epoch seconds, nanos); `None` expects a rejection.
    fn check(text: &str, expect: Option<(i64, u32)>) {
        let parsed = parse_timestamp(text).map(|ts| (ts.epoch_seconds(), ts.subsec_nanos()));
        assert_eq!(parsed, expect, "parse_timestamp({text:?})");
    }

    #[test]
    fn parses_valid_timestamps() {
        let cases = [
            ("1970-01-01T00:00:00Z", (0, 0)),
            ("2012-10-09T19:00:55Z", (1_349_809_255, 0)),
            ("2016-03-14T01:59:00Z", (1_457_920_740, 0)),
            (
                "2016-03-05T21:29:29.243167252Z",
                (1_457_213_369, 243_167_252),
            ),
            ("2024-01-31T12:34:56.789Z", (1_706_704_496, 789_000_000)),
            ("2024-01-31T12:34:56.7Z", (1_706_704_496, 700_000_000)),
            ("2024-01-31T12:34:56.000000001Z", (1_706_704_496, 1)),
            ("2024-02-29T00:00:00Z", (1_709_164_800, 0)),
            ("2000-02-29T23:59:59Z", (951_868_799, 0)),
            ("1969-12-31T23:59:59Z", (-1, 0)),
            ("1969-12-31T23:59:59.5Z", (-1, 500_000_000)),
            ("0000-01-01T00:00:00Z", (-62_167_219_200, 0)),
            ("9999-12-31T23:59:59Z", (253_402_300_799, 0)),
            ("2038-01-19T03:14:08Z", (2_147_483_648, 0)),
            // Offsets move the instant to UTC.
            ("2012-10-09T21:00:55+02:00", (1_349_809_255, 0)),
            ("2012-10-09T14:30:55-04:30", (1_349_809_255, 0)),
            ("2012-10-09T19:00:55+00:00", (1_349_809_255, 0)),
            ("2012-10-09T19:00:55-00:00", (1_349_809_255, 0)),
            ("2012-10-10T13:00:55+18:00", (1_349_809_255, 0)),
            ("2012-10-09T01:00:55-18:00", (1_349_809_255, 0)),
        ];
        for (text, expect) in cases {
            check(text, Some(expect));
        }
    }

    #[test]
    fn rejects_invalid_timestamps() {
        let cases = [
            // Recorded AWS rejections.
            "2016-13-05T21:29:29Z",
            "2016-12-05T25:29:29Z",
            "05-12-2016T21:29:29Z",
            "2016-12-05 21:29:29Z",
            "2023-02-24 12:15:56.832957",
            // Ranges.
            "2016-00-05T21:29:29Z",
            "2016-12-00T21:29:29Z",
            "2016-12-32T21:29:29Z",
            "2023-02-29T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2016-04-31T00:00:00Z",
            "2016-12-05T24:00:00Z",
            "2016-12-05T21:60:29Z",
            "2016-12-05T21:29:60Z",
            "2016-12-05T21:29:29+18:01",
            "2016-12-05T21:29:29+19:00",
            "2016-12-05T21:29:29+01:60",
            // Shape.
            "",
            "timestamp",
            "2016-12-05",
            "2016-12-05T21:29Z",
            "2016-12-05T21:29:29",
            "2016-12-05t21:29:29Z",
            "2016-12-05T21:29:29z",
            "2016-12-05T21:29:29.Z",
            "2016-12-05T21:29:29.1234567891Z",
            "2016-12-05T21:29:29,5Z",
            "2016-12-05T21:29:29+0100",
            "2016-12-05T21:29:29+01",
            "2016-12-05T21:29:29Z ",
            " 2016-12-05T21:29:29Z",
            "2016-12-05T21:29:29ZZ",
            "+2016-12-05T21:29:29Z",
            "16-12-05T21:29:29Z",
            "20161205T212929Z",
            "2016-1-05T21:29:29Z",
            "２016-12-05T21:29:29Z",
            "2016-12-05T21:29:2９Z",
        ];
        for text in cases {
            check(text, None);
        }
    }

    #[test]
    fn orders_instants() {
        let cases = [
            (
                "2012-10-09T19:00:55Z",
                "2012-10-09T19:00:56Z",
                std::cmp::Ordering::Less,
            ),
            (
                "2012-10-09T19:00:55Z",
                "2012-10-09T19:00:55Z",
                std::cmp::Ordering::Equal,
            ),
            (
                "2012-10-09T19:00:55Z",
                "2012-10-09T19:00:55.000Z",
                std::cmp::Ordering::Equal,
            ),
            (
                "2012-10-09T19:00:55.1Z",
                "2012-10-09T19:00:55.09Z",
                std::cmp::Ordering::Greater,
            ),
            (
                "2012-10-09T21:00:55+02:00",
                "2012-10-09T19:00:55Z",
                std::cmp::Ordering::Equal,
            ),
            (
                "2012-10-09T20:00:55+02:00",
                "2012-10-09T19:00:55Z",
                std::cmp::Ordering::Less,
            ),
            (
                "1969-12-31T23:59:59.9Z",
                "1970-01-01T00:00:00Z",
                std::cmp::Ordering::Less,
            ),
        ];
        for (a, b, expect) in cases {
            let (Some(left), Some(right)) = (parse_timestamp(a), parse_timestamp(b)) else {
                panic!("{a:?} or {b:?} did not parse");
            };
            assert_eq!(left.cmp(&right), expect, "{a} vs {b}");
        }
    }

    #[test]
    fn formats_millis() {
        let cases = [
            (0, "1970-01-01T00:00:00.000Z"),
            (1_706_704_496_789, "2024-01-31T12:34:56.789Z"),
            (1_706_704_496_007, "2024-01-31T12:34:56.007Z"),
            (951_868_799_000, "2000-02-29T23:59:59.000Z"),
            (-1, "1969-12-31T23:59:59.999Z"),
            (-62_167_219_200_000, "0000-01-01T00:00:00.000Z"),
            (-62_167_219_200_001, "-0001-12-31T23:59:59.999Z"),
            (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
            (i64::MAX, "292278994-08-17T07:12:55.807Z"),
            (i64::MIN, "-292275055-05-16T16:47:04.192Z"),
        ];
        for (epoch_ms, expect) in cases {
            assert_eq!(format_millis(epoch_ms), expect, "format_millis({epoch_ms})");
        }
    }

    #[test]
    fn round_trips_through_text() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..2000 {
            let epoch_ms = rng.i64(-62_167_219_200_000..=253_402_300_799_999);
            let text = format_millis(epoch_ms);
            let parsed = parse_timestamp(&text).map(|ts| ts.epoch_millis());
            assert_eq!(parsed, Some(epoch_ms), "{text}");
            assert_eq!(
                Timestamp::from_epoch_millis(epoch_ms).epoch_millis(),
                epoch_ms
            );
        }
    }

    #[test]
    fn displays_timestamps() {
        let cases = [
            ("2012-10-09T21:00:55+02:00", "2012-10-09T19:00:55Z"),
            (
                "2016-03-05T21:29:29.243167252Z",
                "2016-03-05T21:29:29.243167252Z",
            ),
            ("2016-03-05T21:29:29.500Z", "2016-03-05T21:29:29.5Z"),
        ];
        for (text, expect) in cases {
            let shown = parse_timestamp(text).map(|ts| ts.to_string());
            assert_eq!(shown.as_deref(), Some(expect), "{text}");
        }
    }

    #[test]
    fn waits_until_whole_seconds() {
        let cases = [
            // (timestamp, now in ms, expected wait in ms)
            ("2024-01-31T12:34:56Z", 1_706_704_496_000, 0),
            ("2024-01-31T12:34:56.999Z", 1_706_704_496_000, 0),
            ("2024-01-31T12:34:57Z", 1_706_704_496_000, 1000),
            ("2024-01-31T12:34:57.5Z", 1_706_704_496_250, 750),
            ("2024-01-31T12:34:56Z", 1_706_704_497_000, 0),
            ("1970-01-01T00:00:00Z", i64::MIN, i64::MAX),
            ("9999-12-31T23:59:59Z", i64::MAX, 0),
        ];
        for (text, now_ms, expect) in cases {
            let wait = parse_timestamp(text).map(|ts| millis_until(&ts, now_ms));
            assert_eq!(wait, Some(expect), "{text} at {now_ms}");
        }
    }

    #[test]
    fn max_wait_is_between_the_recorded_boundaries() {
        const { assert!(24_855 * SECONDS_PER_DAY <= MAX_WAIT_SECONDS) };
        const { assert!(24_856 * SECONDS_PER_DAY > MAX_WAIT_SECONDS) };
    }

    #[test]
    fn now_is_after_2024() {
        assert!(now_millis() > 1_704_067_200_000);
    }
}
