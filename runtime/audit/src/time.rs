//! RFC 3339 timestamps in UTC with millisecond precision.
//!
//! Written by hand (about thirty lines) instead of pulling in a date crate:
//! the audit trail only ever formats "now", and every record's `time` has
//! the same fixed width (`YYYY-MM-DDTHH:MM:SS.mmmZ`), so timestamps sort and
//! compare as plain strings, which [`crate::query`] relies on.

use std::time::{SystemTime, UNIX_EPOCH};

/// Formats a point in time as `2026-11-28T22:18:00.123Z`. Times before 1970
/// are clamped to the epoch: a log cannot contain them.
pub fn format_rfc3339_millis(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let millis = since.subsec_millis();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Parses a UTC time as records write it (`2026-11-28T22:18:00.123Z`),
/// or shorter: `2026-11-28`, `2026-11-28T22:18`, `2026-11-28 22:18:00`; a
/// trailing `Z` is optional, other offsets are refused. `None` for anything
/// else, or a time before 1970.
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    let text = text.strip_suffix(['Z', 'z']).unwrap_or(text);
    let (date, time) = match text.split_once(['T', 't', ' ']) {
        Some((d, t)) => (d, Some(t)),
        None => (text, None),
    };
    let mut parts = date.split('-');
    let year: i64 = number(parts.next()?, 4)?;
    let month: u32 = number(parts.next()?, 2)?;
    let day: u32 = number(parts.next()?, 2)?;
    if parts.next().is_some() || !(1..=12).contains(&month) || day == 0 || day > 31 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    if civil_from_days(days) != (year, month, day) {
        return None; // 2026-02-30 and the like
    }
    let mut seconds = 0u64;
    let mut nanos = 0u32;
    if let Some(time) = time {
        let (hms, fraction) = match time.split_once('.') {
            Some((hms, f)) => (hms, Some(f)),
            None => (time, None),
        };
        let mut fields = hms.split(':');
        let hour: u64 = number(fields.next()?, 2)?;
        let minute: u64 = number(fields.next()?, 2)?;
        let second: u64 = match fields.next() {
            Some(s) => number(s, 2)?,
            None => 0,
        };
        if fields.next().is_some() || hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        seconds = hour * 3600 + minute * 60 + second;
        if let Some(fraction) = fraction {
            if fraction.is_empty()
                || fraction.len() > 9
                || !fraction.bytes().all(|b| b.is_ascii_digit())
            {
                return None;
            }
            let padded = format!("{fraction:0<9}");
            nanos = padded.parse().ok()?;
        }
    }
    let days = u64::try_from(days).ok()?;
    Some(UNIX_EPOCH + std::time::Duration::new(days * 86_400 + seconds, nanos))
}

fn number<T: std::str::FromStr>(text: &str, width: usize) -> Option<T> {
    if text.len() != width || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// (year, month, day) to days since 1970-01-01; Howard Hinnant's
/// `days_from_civil`.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar; Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64, millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis)
    }

    #[test]
    fn the_epoch_formats_with_zero_milliseconds() {
        assert_eq!(
            format_rfc3339_millis(UNIX_EPOCH),
            "1970-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn a_known_instant_formats_to_the_millisecond() {
        // 2026-11-28T22:18:00Z is 1795904280 seconds after the epoch.
        assert_eq!(
            format_rfc3339_millis(at(1_795_904_280, 123)),
            "2026-11-28T22:18:00.123Z"
        );
    }

    #[test]
    fn leap_day_and_year_end_are_right() {
        // 2024-02-29T12:00:00Z and 1999-12-31T23:59:59.999Z.
        assert_eq!(
            format_rfc3339_millis(at(1_709_208_000, 0)),
            "2024-02-29T12:00:00.000Z"
        );
        assert_eq!(
            format_rfc3339_millis(at(946_684_799, 999)),
            "1999-12-31T23:59:59.999Z"
        );
    }

    #[test]
    fn formatted_times_parse_back_exactly() {
        for t in [
            at(1_795_904_280, 123),
            at(1_709_208_000, 0),
            at(946_684_799, 999),
        ] {
            assert_eq!(parse_rfc3339(&format_rfc3339_millis(t)), Some(t));
        }
    }

    #[test]
    fn shorter_forms_parse_as_utc() {
        assert_eq!(parse_rfc3339("2024-02-29"), Some(at(1_709_164_800, 0)));
        assert_eq!(
            parse_rfc3339("2024-02-29T12:00"),
            Some(at(1_709_208_000, 0))
        );
        assert_eq!(
            parse_rfc3339("2024-02-29 12:00:00Z"),
            Some(at(1_709_208_000, 0))
        );
    }

    #[test]
    fn malformed_or_impossible_times_do_not_parse() {
        for bad in [
            "",
            "2024",
            "2023-02-29",
            "2024-13-01",
            "2024-01-01T24:00",
            "2024-01-01T12:00+02:00",
            "yesterday",
            "2024-01-01T12:00:00.",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn times_before_the_epoch_clamp_to_it() {
        let before = UNIX_EPOCH - Duration::from_secs(10);
        assert_eq!(format_rfc3339_millis(before), "1970-01-01T00:00:00.000Z");
    }
}
