//! RFC 3339 timestamps in UTC with millisecond precision.
//!
//! Every record's `time` has the same fixed width
//! (`YYYY-MM-DDTHH:MM:SS.mmmZ`), so timestamps sort and compare as plain
//! strings, which [`crate::query`] relies on. The calendar is `jiff`'s; the
//! few lines that split `--since` text stay here because they accept only
//! UTC, with fixed-width fields: an offset is refused rather than converted,
//! so an operator's filter never quietly means another time.

use std::time::{SystemTime, UNIX_EPOCH};

use jiff::Timestamp;
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;

/// Formats a point in time as `2026-11-28T22:18:00.123Z`. Times before 1970
/// are clamped to the epoch: a log cannot contain them.
pub fn format_rfc3339_millis(at: SystemTime) -> String {
    let at = at.max(UNIX_EPOCH);
    let millis = at
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_millis();
    let whole = Timestamp::try_from(at).unwrap_or(Timestamp::UNIX_EPOCH);
    format!("{}.{millis:03}Z", whole.strftime("%Y-%m-%dT%H:%M:%S"))
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
    let year = number(parts.next()?, 4)?;
    let month = number(parts.next()?, 2)?;
    let day = number(parts.next()?, 2)?;
    if parts.next().is_some() {
        return None;
    }
    // 2026-02-30 and the like are refused by the calendar.
    let date = Date::new(year, month, day).ok()?;
    let mut clock = Time::midnight();
    if let Some(time) = time {
        let (hms, fraction) = match time.split_once('.') {
            Some((hms, f)) => (hms, Some(f)),
            None => (time, None),
        };
        let mut fields = hms.split(':');
        let hour = number(fields.next()?, 2)?;
        let minute = number(fields.next()?, 2)?;
        let second = match fields.next() {
            Some(s) => number(s, 2)?,
            None => 0,
        };
        if fields.next().is_some() {
            return None;
        }
        let mut nanos = 0;
        if let Some(fraction) = fraction {
            if fraction.is_empty()
                || fraction.len() > 9
                || !fraction.bytes().all(|b| b.is_ascii_digit())
            {
                return None;
            }
            nanos = format!("{fraction:0<9}").parse().ok()?;
        }
        clock = Time::new(hour, minute, second, nanos).ok()?;
    }
    let at = date
        .to_datetime(clock)
        .to_zoned(TimeZone::UTC)
        .ok()?
        .timestamp();
    if at < Timestamp::UNIX_EPOCH {
        return None;
    }
    Some(SystemTime::from(at))
}

/// A field of exactly `width` digits.
fn number<T: std::str::FromStr>(text: &str, width: usize) -> Option<T> {
    if text.len() != width || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
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
