//! Five-field cron expressions (`minute hour day-of-month month
//! day-of-week`) in a named time zone, with the meaning admins know from
//! Vixie cron and crontab(5): `*`, lists, ranges, steps, month and day
//! names, Sunday as 0 or 7, and a day matching when *either* the day of the
//! month or the day of the week matches once both are restricted.
//!
//! Why not a cron crate: the ones built on jiff count the day of the week
//! from 1 = Sunday and add a seconds field, so `0 2 * * 1` would mean
//! Sunday, not Monday; the crontab meaning is the one an admin writes.
//!
//! Time zones: slots are civil times in the schedule's zone. A civil time
//! skipped by a daylight-saving jump fires at the first instant after the
//! gap; one that happens twice in a fall-back fires once, at the earlier.

use std::str::FromStr;

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{Disambiguation, TimeZone};
use jiff::{Timestamp, ToSpan};

/// A parsed expression and its time zone.
#[derive(Clone, Debug)]
pub struct CronSchedule {
    expression: String,
    zone_name: String,
    zone: TimeZone,
    minutes: u64,
    hours: u32,
    days: u32,
    months: u16,
    weekdays: u8,
    /// `*` in the day-of-month field (crontab's OR rule needs to know).
    any_day: bool,
    any_weekday: bool,
}

impl PartialEq for CronSchedule {
    fn eq(&self, other: &Self) -> bool {
        self.expression == other.expression && self.zone_name == other.zone_name
    }
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

impl CronSchedule {
    /// Parses `expression` in the IANA zone `zone` (`Europe/Berlin`, `UTC`).
    pub fn parse(expression: &str, zone: &str) -> Result<CronSchedule, String> {
        let fail = |why: String| format!("cron \"{expression}\": {why}");
        let fields: Vec<&str> = expression.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(fail(format!(
                "has {} fields; write five: minute hour day-of-month month day-of-week (like \"0 2 * * 1-5\")",
                fields.len()
            )));
        }
        let minutes = field(fields[0], 0, 59, &[]).map_err(|e| fail(format!("minute {e}")))?;
        let hours = field(fields[1], 0, 23, &[]).map_err(|e| fail(format!("hour {e}")))?;
        let days = field(fields[2], 1, 31, &[]).map_err(|e| fail(format!("day-of-month {e}")))?;
        let months = field(fields[3], 1, 12, &MONTHS).map_err(|e| fail(format!("month {e}")))?;
        let mut weekdays =
            field(fields[4], 0, 7, &WEEKDAYS).map_err(|e| fail(format!("day-of-week {e}")))?;
        if weekdays & (1 << 7) != 0 {
            weekdays = (weekdays | 1) & !(1 << 7);
        }
        let zone_value = TimeZone::get(zone).map_err(|_| {
            format!("time-zone \"{zone}\" is not an IANA time zone name (like \"Europe/Berlin\" or \"UTC\")")
        })?;
        Ok(CronSchedule {
            expression: fields.join(" "),
            zone_name: zone.to_owned(),
            zone: zone_value,
            minutes,
            hours: hours as u32,
            days: days as u32,
            months: months as u16,
            weekdays: weekdays as u8,
            any_day: fields[2].starts_with('*'),
            any_weekday: fields[4].starts_with('*'),
        })
    }

    pub fn expression(&self) -> &str {
        &self.expression
    }

    pub fn zone(&self) -> &str {
        &self.zone_name
    }

    fn day_matches(&self, date: Date) -> bool {
        if self.months & (1 << date.month()) == 0 {
            return false;
        }
        let dom = self.days & (1 << date.day()) != 0;
        let dow = self.weekdays & (1 << date.weekday().to_sunday_zero_offset()) != 0;
        match (self.any_day, self.any_weekday) {
            (false, false) => dom || dow,
            _ => dom && dow,
        }
    }

    /// The first slot strictly after `after`. `None` only for an
    /// expression no date matches within eight years (`0 0 30 2 *`).
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        let start = after.to_zoned(self.zone.clone());
        let mut date = start.date();
        let last = date.checked_add(8.years()).ok()?;
        while date <= last {
            if self.day_matches(date) {
                for hour in 0..24 {
                    if self.hours & (1 << hour) == 0 {
                        continue;
                    }
                    for minute in 0..60 {
                        if self.minutes & (1 << minute) == 0 {
                            continue;
                        }
                        let civil = DateTime::from_parts(date, Time::constant(hour, minute, 0, 0));
                        let Ok(at) = self
                            .zone
                            .to_ambiguous_zoned(civil)
                            .disambiguate(Disambiguation::Compatible)
                        else {
                            continue;
                        };
                        if at.timestamp() > after {
                            return Some(at.timestamp());
                        }
                    }
                }
            }
            date = date.tomorrow().ok()?;
        }
        None
    }

    /// The last slot at or before `at`, looking back at most `window`.
    pub fn latest_at_or_before(
        &self,
        at: Timestamp,
        window: std::time::Duration,
    ) -> Option<Timestamp> {
        let from = at
            .checked_sub(jiff::SignedDuration::try_from(window).ok()?)
            .ok()?;
        let mut slot = self.next_after(from.checked_sub(1.second()).ok()?)?;
        if slot > at {
            return None;
        }
        while let Some(next) = self.next_after(slot) {
            if next > at {
                break;
            }
            slot = next;
        }
        Some(slot)
    }
}

/// One field as a bit set of the values it allows.
fn field(text: &str, min: u32, max: u32, names: &[&str]) -> Result<u64, String> {
    let mut set = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => {
                let step = u32::from_str(step)
                    .ok()
                    .filter(|s| (1..=max).contains(s))
                    .ok_or_else(|| format!("step '/{step}' must be a number from 1 to {max}"))?;
                (range, step)
            }
            None => (part, 1),
        };
        let (low, high) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a, min, max, names)?, value(b, min, max, names)?)
        } else {
            let v = value(range, min, max, names)?;
            // `5/15` means from 5 to the end, every 15.
            (v, if step > 1 { max } else { v })
        };
        if low > high {
            return Err(format!("range '{range}' runs backwards"));
        }
        let mut v = low;
        while v <= high {
            set |= 1 << v;
            v += step;
        }
    }
    Ok(set)
}

fn value(text: &str, min: u32, max: u32, names: &[&str]) -> Result<u32, String> {
    if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
        // Month names count from 1, weekday names from 0 (Sunday).
        return Ok(i as u32 + min);
    }
    u32::from_str(text)
        .ok()
        .filter(|v| (min..=max).contains(v))
        .ok_or_else(|| format!("'{text}' is not a value from {min} to {max}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn next(expr: &str, zone: &str, after: &str) -> String {
        CronSchedule::parse(expr, zone)
            .unwrap()
            .next_after(ts(after))
            .unwrap()
            .to_string()
    }

    #[test]
    fn weekday_one_is_monday_as_in_crontab() {
        // 2026-12-05 is a Saturday.
        assert_eq!(
            next("0 2 * * 1", "UTC", "2026-12-05T00:00:00Z"),
            "2026-12-07T02:00:00Z"
        );
        assert_eq!(
            next("0 2 * * sun", "UTC", "2026-12-05T00:00:00Z"),
            "2026-12-06T02:00:00Z"
        );
        assert_eq!(
            next("0 2 * * 7", "UTC", "2026-12-05T00:00:00Z"),
            "2026-12-06T02:00:00Z"
        );
    }

    #[test]
    fn day_of_month_or_weekday_when_both_are_given() {
        // The 15th, or any Monday: from Sat 2026-12-05, Monday the 7th.
        assert_eq!(
            next("0 0 15 * mon", "UTC", "2026-12-05T00:00:00Z"),
            "2026-12-07T00:00:00Z"
        );
    }

    #[test]
    fn steps_lists_and_ranges() {
        assert_eq!(
            next("*/15 * * * *", "UTC", "2026-12-05T10:07:00Z"),
            "2026-12-05T10:15:00Z"
        );
        assert_eq!(
            next("5,35 9-17 * * mon-fri", "UTC", "2026-12-04T17:40:00Z"),
            "2026-12-07T09:05:00Z"
        );
    }

    #[test]
    fn civil_time_in_the_schedule_zone() {
        // 02:00 in Berlin (UTC+1 in winter) is 01:00 UTC.
        assert_eq!(
            next("0 2 * * *", "Europe/Berlin", "2026-12-05T00:00:00Z"),
            "2026-12-05T01:00:00Z"
        );
    }

    #[test]
    fn a_slot_in_the_spring_gap_fires_after_it_and_a_fall_back_slot_fires_once() {
        // Berlin skipped 02:00-03:00 on 2026-03-29: 02:30 fires at 03:30 CEST.
        assert_eq!(
            next("30 2 * * *", "Europe/Berlin", "2026-03-29T00:00:00Z"),
            "2026-03-29T01:30:00Z"
        );
        // 02:30 happened twice on 2026-10-25; only the first fires, and
        // the next is a day later.
        let s = CronSchedule::parse("30 2 * * *", "Europe/Berlin").unwrap();
        let first = s.next_after(ts("2026-10-25T00:00:00Z")).unwrap();
        assert_eq!(first.to_string(), "2026-10-25T00:30:00Z");
        assert_eq!(
            s.next_after(first).unwrap().to_string(),
            "2026-10-26T01:30:00Z"
        );
    }

    #[test]
    fn the_latest_missed_slot_within_a_window() {
        let s = CronSchedule::parse("0 * * * *", "UTC").unwrap();
        let at = ts("2026-12-05T10:20:00Z");
        assert_eq!(
            s.latest_at_or_before(at, std::time::Duration::from_secs(3600))
                .unwrap()
                .to_string(),
            "2026-12-05T10:00:00Z"
        );
        assert_eq!(
            s.latest_at_or_before(at, std::time::Duration::from_secs(600)),
            None
        );
    }

    #[test]
    fn refuses_what_crontab_refuses_with_the_field() {
        for (expr, why) in [
            ("61 * * * *", "minute '61' is not a value from 0 to 59"),
            ("* 24 * * *", "hour '24' is not a value from 0 to 23"),
            ("* * 0 * *", "day-of-month '0' is not a value from 1 to 31"),
            ("* * * 13 *", "month '13' is not a value from 1 to 12"),
            ("* * * * 8", "day-of-week '8' is not a value from 0 to 7"),
            (
                "*/0 * * * *",
                "minute step '/0' must be a number from 1 to 59",
            ),
            ("5-1 * * * *", "minute range '5-1' runs backwards"),
            ("* * * *", "has 4 fields"),
        ] {
            let err = CronSchedule::parse(expr, "UTC").unwrap_err();
            assert!(err.contains(why), "{expr}: {err}");
        }
        let err = CronSchedule::parse("0 2 * * *", "Mars/Olympus").unwrap_err();
        assert!(err.contains("not an IANA time zone"), "{err}");
    }

    #[test]
    fn an_impossible_date_has_no_next_slot() {
        let s = CronSchedule::parse("0 0 30 2 *", "UTC").unwrap();
        assert_eq!(s.next_after(ts("2026-01-01T00:00:00Z")), None);
    }
}
