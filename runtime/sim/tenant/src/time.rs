//! Dates as Exchange prints and accepts them.
//!
//! Times are kept as Unix seconds (UTC); the simulated tenant has no time
//! zones, so every offset is `+00:00`. The calendar is `jiff`'s; the
//! splitting of the forms a caller may send stays here because it follows
//! what the service accepts (en-US `M/d/yyyy`, the module's offset-less
//! form), which no general parser does.

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

/// `2022-06-29T17:57:03.0000000+00:00`: the form of `System.DateTime` values.
pub fn format_offset(secs: i64) -> String {
    format!("{}.0000000+00:00", format_plain(secs))
}

/// `2022-06-29T17:57:03.0000000Z`: the form of the `*UTC` variants.
pub fn format_utc(secs: i64) -> String {
    format!("{}.0000000Z", format_plain(secs))
}

fn format_plain(secs: i64) -> String {
    // Seconds outside jiff's years -9999..=9999 cannot come from a caller
    // (they would not parse); they print as the epoch rather than panic.
    let at = Timestamp::from_second(secs).unwrap_or(Timestamp::UNIX_EPOCH);
    at.strftime("%Y-%m-%dT%H:%M:%S").to_string()
}

/// Parses the date forms a caller may send: the module's
/// `yyyy-MM-ddTHH:mm:ss` (already UTC), ISO 8601 with fraction, `Z` or
/// `+00:00`, a bare `yyyy-MM-dd`, and en-US `M/d/yyyy [H:mm[:ss]]`.
/// Non-zero offsets are applied; anything else is `None`.
pub fn parse(text: &str) -> Option<i64> {
    let text = text.trim();
    if text.contains('/') {
        return parse_us(text);
    }
    let (date, rest) = match text.find(['T', ' ']) {
        Some(i) => (&text[..i], &text[i + 1..]),
        None => (text, ""),
    };
    let mut parts = date.split('-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: u32 = parts.next()?.parse().ok()?;
    let d: u32 = parts.next()?.parse().ok()?;
    if parts.next().is_some() {
        return None;
    }
    let (clock, offset) = split_offset(rest)?;
    let clock_secs = parse_clock(clock)?;
    Some(to_secs(y, m, d)? + clock_secs - offset)
}

fn parse_us(text: &str) -> Option<i64> {
    let (date, clock) = match text.split_once(' ') {
        Some((d, c)) => (d, c.trim()),
        None => (text, ""),
    };
    let mut parts = date.split('/');
    let m: u32 = parts.next()?.parse().ok()?;
    let d: u32 = parts.next()?.parse().ok()?;
    let y: i64 = parts.next()?.parse().ok()?;
    if parts.next().is_some() {
        return None;
    }
    Some(to_secs(y, m, d)? + parse_clock(clock)?)
}

/// Splits `10:00:00.123+02:00` into the clock and the offset in seconds.
fn split_offset(rest: &str) -> Option<(&str, i64)> {
    if let Some(clock) = rest.strip_suffix('Z') {
        return Some((clock, 0));
    }
    match rest.rfind(['+', '-']) {
        Some(i) => {
            let sign = if rest.as_bytes()[i] == b'-' { -1 } else { 1 };
            let (h, m) = rest[i + 1..].split_once(':')?;
            let h: i64 = h.parse().ok()?;
            let m: i64 = m.parse().ok()?;
            Some((&rest[..i], sign * (h * 3600 + m * 60)))
        }
        None => Some((rest, 0)),
    }
}

fn parse_clock(clock: &str) -> Option<i64> {
    if clock.is_empty() {
        return Some(0);
    }
    let clock = clock.split('.').next()?;
    let mut parts = clock.split(':');
    let h: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next().unwrap_or("0").parse().ok()?;
    let s: i64 = parts.next().unwrap_or("0").parse().ok()?;
    if parts.next().is_some()
        || !(0..24).contains(&h)
        || !(0..60).contains(&m)
        || !(0..60).contains(&s)
    {
        return None;
    }
    Some(h * 3600 + m * 60 + s)
}

/// Midnight UTC of a calendar date, in Unix seconds; `None` for a date
/// that does not exist (2023-02-29, month 13).
fn to_secs(y: i64, m: u32, d: u32) -> Option<i64> {
    let date = Date::new(y.try_into().ok()?, m.try_into().ok()?, d.try_into().ok()?).ok()?;
    Some(date.to_zoned(TimeZone::UTC).ok()?.timestamp().as_second())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPTURE: i64 = 1_656_525_423; // 2022-06-29T17:57:03Z

    #[test]
    fn formats_both_date_forms() {
        assert_eq!(format_offset(CAPTURE), "2022-06-29T17:57:03.0000000+00:00");
        assert_eq!(format_utc(CAPTURE), "2022-06-29T17:57:03.0000000Z");
    }

    #[test]
    fn parses_the_forms_callers_send() {
        assert_eq!(parse("2022-06-29T17:57:03"), Some(CAPTURE));
        assert_eq!(parse("2022-06-29T17:57:03.0000000Z"), Some(CAPTURE));
        assert_eq!(parse("2022-06-29T17:57:03.0000000+00:00"), Some(CAPTURE));
        assert_eq!(parse("2022-06-29T19:57:03+02:00"), Some(CAPTURE));
        assert_eq!(parse("6/29/2022 17:57:03"), Some(CAPTURE));
        assert_eq!(
            parse("2022-06-29"),
            Some(CAPTURE - (17 * 3600 + 57 * 60 + 3))
        );
    }

    #[test]
    fn refuses_impossible_dates() {
        assert_eq!(parse("2023-02-29"), None);
        assert_eq!(parse("2022-13-01"), None);
        assert_eq!(parse("next tuesday"), None);
        assert_eq!(parse("2022-06-29T25:00:00"), None);
    }
}
