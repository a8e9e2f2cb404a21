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
    fn times_before_the_epoch_clamp_to_it() {
        let before = UNIX_EPOCH - Duration::from_secs(10);
        assert_eq!(format_rfc3339_millis(before), "1970-01-01T00:00:00.000Z");
    }
}
