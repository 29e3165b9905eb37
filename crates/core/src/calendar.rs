//! Day and month buckets. Periods are calendar days in the organisation's
//! time zone (setting `time_zone`, default UTC): [`day_in`] is the one place
//! an instant becomes a day. A day is counted as days since 1970-01-01 (of
//! the local calendar) and a month as `year * 12 + (month − 1)`; weeks and
//! months are derived from those local days.
//!
//! Conversions between days and civil dates are plain arithmetic on the
//! proleptic Gregorian calendar (H. Hinnant, "chrono-Compatible Low-Level Date
//! Algorithms", `days_from_civil` / `civil_from_days`), so they are total:
//! every `Day` has its month and label, and nothing falls back to 1970-01-01.
//! Only conversions into `jiff` types, whose years stop at ±9999, are partial
//! and return `Option`.

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

const SECONDS_PER_DAY: i64 = 86_400;

/// Days since 1970-01-01 (UTC).
pub type Day = i32;
/// `year * 12 + (month − 1)`.
pub type Month = i32;

/// A civil date as plain numbers: year, month 1–12, day 1–31.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Civil {
    pub year: i64,
    pub month: u8,
    pub day: u8,
}

/// Days since 1970-01-01 of a civil date (any year; months and days are
/// taken as given, so callers pass valid ones).
fn days_from_civil(year: i64, month: u8, day: u8) -> i64 {
    let (m, d) = (i64::from(month), i64::from(day));
    let y = if m <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day (any `Day`).
pub fn civil_of_day(day: Day) -> Civil {
    let z = i64::from(day) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(m <= 2);
    // d is 1..=31 and m is 1..=12 by construction.
    Civil {
        year,
        month: m as u8,
        day: d as u8,
    }
}

/// Days outside this range are not representable as a `Day`; saturating keeps
/// the arithmetic total (no real data gets near: imports accept 1970–2099).
fn clamp_day(days: i64) -> Day {
    days.clamp(i64::from(Day::MIN), i64::from(Day::MAX)) as Day
}

/// The day of the calendar in `zone` on which the instant `unix_seconds`
/// falls: the one function every response's day comes from (imports, the
/// batch API, rollup maintenance, rebuilds and a change of time zone).
/// Exact across daylight-saving changes and for zones whose offset is not a
/// whole hour: the instant is shifted by the zone's offset at that instant.
pub fn day_in(unix_seconds: i64, zone: &TimeZone) -> Day {
    let offset = Timestamp::from_second(unix_seconds)
        .map_or(0, |ts| i64::from(zone.to_offset(ts).seconds()));
    day_of_unix(unix_seconds.saturating_add(offset))
}

/// Today in `zone`.
pub fn today_in(zone: &TimeZone) -> Day {
    day_in(Timestamp::now().as_second(), zone)
}

/// The time zone an IANA name names (`Europe/Paris`, `UTC`), with the
/// name as the time zone database spells it; the error names the setting
/// and how to fix it.
pub fn time_zone(name: &str) -> Result<(String, TimeZone), String> {
    let shown: String = name.trim().chars().take(64).collect();
    let unknown =
        || format!("time_zone: unknown IANA time zone '{shown}'; use a name such as Europe/Paris");
    // A name, not a POSIX rule or a path into the database.
    if shown.is_empty()
        || shown.starts_with('/')
        || shown.contains("..")
        || !shown
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+'))
    {
        return Err(unknown());
    }
    let zone = TimeZone::get(&shown).map_err(|_| unknown())?;
    let canonical = zone.iana_name().unwrap_or(&shown).to_string();
    Ok((canonical, zone))
}

/// The UTC day a timestamp falls on.
pub fn day_of_timestamp(ts: Timestamp) -> Day {
    day_of_unix(ts.as_second())
}

/// The UTC day of a Unix time in seconds.
pub fn day_of_unix(seconds: i64) -> Day {
    clamp_day(seconds.div_euclid(SECONDS_PER_DAY))
}

/// The day of a civil date.
pub fn day_of_date(date: Date) -> Day {
    clamp_day(days_from_civil(
        i64::from(date.year()),
        date.month() as u8,
        date.day() as u8,
    ))
}

/// The `jiff` date of a day, or `None` outside jiff's years −9999..=9999.
pub fn date_of_day(day: Day) -> Option<Date> {
    let c = civil_of_day(day);
    Date::new(i16::try_from(c.year).ok()?, c.month as i8, c.day as i8).ok()
}

/// The year a day falls in.
pub fn year_of_day(day: Day) -> i64 {
    civil_of_day(day).year
}

/// The month a day falls in.
pub fn month_of_day(day: Day) -> Month {
    let c = civil_of_day(day);
    // |year| ≤ 5.9 million for any i32 day, so year * 12 fits an i32.
    (c.year * 12 + i64::from(c.month) - 1) as Month
}

/// First day of a month.
pub fn first_day_of_month(month: Month) -> Day {
    let year = i64::from(month.div_euclid(12));
    let m = month.rem_euclid(12) as u8 + 1;
    clamp_day(days_from_civil(year, m, 1))
}

/// Last day of a month.
pub fn last_day_of_month(month: Month) -> Day {
    let next = i64::from(month) + 1;
    let year = next.div_euclid(12);
    let m = next.rem_euclid(12) as u8 + 1;
    clamp_day(days_from_civil(year, m, 1) - 1)
}

/// `2026-03` for a month.
pub fn month_label(month: Month) -> String {
    format!(
        "{:04}-{:02}",
        month.div_euclid(12),
        month.rem_euclid(12) + 1
    )
}

/// `2026-03-04` for a day.
pub fn day_label(day: Day) -> String {
    let c = civil_of_day(day);
    format!("{:04}-{:02}-{:02}", c.year, c.month, c.day)
}

/// The Monday that starts the ISO 8601 week of a day.
pub fn week_start(day: Day) -> Day {
    // 1970-01-01 was a Thursday: Monday is 0 after shifting by 3.
    clamp_day(i64::from(day) - (i64::from(day) + 3).rem_euclid(7))
}

/// `2026-W09` for a day: the ISO 8601 week-numbering year and week, so the
/// first days of January can belong to the previous year's week 52 or 53
/// and the last days of December to week 1.
pub fn week_label(day: Day) -> String {
    // The week belongs to the year of its Thursday.
    let thursday = i64::from(week_start(day)) + 3;
    let year = civil_of_day(clamp_day(thursday)).year;
    let week = (thursday - days_from_civil(year, 1, 1)) / 7 + 1;
    format!("{year:04}-W{week:02}")
}

/// Parses a `YYYY-MM-DD` date into a day.
pub fn parse_day(text: &str) -> Option<Day> {
    text.trim().parse::<Date>().ok().map(day_of_date)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn days_and_months_round_trip() {
        assert_eq!(day_of_date(Date::constant(1970, 1, 1)), 0);
        assert_eq!(
            parse_day("2026-03-04"),
            Some(day_of_date(Date::constant(2026, 3, 4)))
        );
        for day in [-400, -1, 0, 1, 59, 20_000, 20_513] {
            assert_eq!(day_of_date(date_of_day(day).unwrap()), day);
            let m = month_of_day(day);
            assert!(first_day_of_month(m) <= day && day <= last_day_of_month(m));
        }
        let feb_2028 = 2028 * 12 + 1;
        assert_eq!(
            last_day_of_month(feb_2028) - first_day_of_month(feb_2028) + 1,
            29
        );
        assert_eq!(month_label(feb_2028), "2028-02");
    }

    /// The old helpers mapped days outside jiff's range to 1970-01-01; now
    /// such a day has its own (far-future) date, and only the jiff
    /// conversion says it cannot represent it.
    #[test]
    fn days_outside_jiff_have_their_own_dates_not_the_epoch() {
        assert_eq!(date_of_day(i32::MAX), None);
        assert_ne!(day_label(i32::MAX), "1970-01-01");
        assert!(year_of_day(i32::MAX) > 5_000_000);
        assert!(year_of_day(i32::MIN) < -5_000_000);
        let m = month_of_day(i32::MAX);
        assert!(first_day_of_month(m) <= last_day_of_month(m));
        assert_ne!(month_of_day(i32::MAX), month_of_day(0));
        assert_ne!(month_of_day(i32::MIN), month_of_day(0));
    }

    #[test]
    fn timestamps_fall_on_utc_days() {
        let ts: Timestamp = "2026-03-04T23:30:00-02:00".parse().unwrap();
        assert_eq!(day_label(day_of_timestamp(ts)), "2026-03-05");
        assert_eq!(parse_day("2026-02-30"), None);
    }

    /// The local day of an RFC 3339 instant in a named zone, as a label.
    fn local(instant: &str, zone: &str) -> String {
        let ts: Timestamp = instant.parse().unwrap();
        day_label(day_in(ts.as_second(), &time_zone(zone).unwrap().1))
    }

    /// The first instant of a local day and the length of the day in hours,
    /// found by day_in alone (seconds scanned across the day's boundaries).
    fn day_length_hours(day: &str, zone: &str) -> f64 {
        let zone = time_zone(zone).unwrap().1;
        let d = parse_day(day).unwrap();
        let utc_start = i64::from(d) * 86_400;
        let first = (utc_start - 86_400..utc_start + 86_400)
            .step_by(60)
            .find(|s| day_in(*s, &zone) == d)
            .unwrap();
        let next = (first..first + 2 * 86_400)
            .step_by(60)
            .find(|s| day_in(*s, &zone) == d + 1)
            .unwrap();
        (next - first) as f64 / 3_600.0
    }

    #[test]
    fn paris_days_across_spring_forward_and_fall_back() {
        let paris = "Europe/Paris";
        // 2025-03-30: clocks go from 02:00 CET to 03:00 CEST at 01:00Z.
        assert_eq!(local("2025-03-29T22:59:59Z", paris), "2025-03-29");
        assert_eq!(local("2025-03-29T23:00:00Z", paris), "2025-03-30");
        assert_eq!(local("2025-03-30T00:59:59Z", paris), "2025-03-30");
        assert_eq!(local("2025-03-30T01:00:00Z", paris), "2025-03-30");
        assert_eq!(local("2025-03-30T21:59:59Z", paris), "2025-03-30");
        assert_eq!(local("2025-03-30T22:00:00Z", paris), "2025-03-31");
        assert_eq!(day_length_hours("2025-03-30", paris), 23.0);
        // 2025-10-26: clocks go from 03:00 CEST back to 02:00 CET at 01:00Z.
        assert_eq!(local("2025-10-25T21:59:59Z", paris), "2025-10-25");
        assert_eq!(local("2025-10-25T22:00:00Z", paris), "2025-10-26");
        assert_eq!(local("2025-10-26T00:30:00Z", paris), "2025-10-26");
        assert_eq!(local("2025-10-26T01:30:00Z", paris), "2025-10-26");
        assert_eq!(local("2025-10-26T22:59:59Z", paris), "2025-10-26");
        assert_eq!(local("2025-10-26T23:00:00Z", paris), "2025-10-27");
        assert_eq!(day_length_hours("2025-10-26", paris), 25.0);
        assert_eq!(day_length_hours("2025-06-15", paris), 24.0);
    }

    #[test]
    fn half_past_eleven_utc_is_the_next_day_in_paris() {
        assert_eq!(local("2025-06-14T23:30:00Z", "Europe/Paris"), "2025-06-15");
        assert_eq!(local("2025-01-14T23:30:00Z", "Europe/Paris"), "2025-01-15");
        assert_eq!(local("2025-06-14T23:30:00Z", "UTC"), "2025-06-14");
        // The week and the month follow the local day: Sunday 2025-06-29
        // 23:30Z is Monday 2025-06-30 in Paris (ISO week 27), and
        // 2025-06-30T23:30Z is July there.
        let paris = time_zone("Europe/Paris").unwrap().1;
        let sunday: Timestamp = "2025-06-29T23:30:00Z".parse().unwrap();
        assert_eq!(week_label(day_in(sunday.as_second(), &paris)), "2025-W27");
        assert_eq!(week_label(day_of_timestamp(sunday)), "2025-W26");
        let june: Timestamp = "2025-06-30T23:30:00Z".parse().unwrap();
        assert_eq!(
            month_label(month_of_day(day_in(june.as_second(), &paris))),
            "2025-07"
        );
    }

    #[test]
    fn new_york_days_across_both_changes() {
        let ny = "America/New_York";
        // 2025-03-09: EST (−5) to EDT (−4) at 07:00Z.
        assert_eq!(local("2025-03-09T04:59:59Z", ny), "2025-03-08");
        assert_eq!(local("2025-03-09T05:00:00Z", ny), "2025-03-09");
        assert_eq!(local("2025-03-10T03:59:59Z", ny), "2025-03-09");
        assert_eq!(local("2025-03-10T04:00:00Z", ny), "2025-03-10");
        assert_eq!(day_length_hours("2025-03-09", ny), 23.0);
        // 2025-11-02: EDT back to EST at 06:00Z.
        assert_eq!(local("2025-11-02T03:59:59Z", ny), "2025-11-01");
        assert_eq!(local("2025-11-02T04:00:00Z", ny), "2025-11-02");
        assert_eq!(local("2025-11-03T04:59:59Z", ny), "2025-11-02");
        assert_eq!(local("2025-11-03T05:00:00Z", ny), "2025-11-03");
        assert_eq!(day_length_hours("2025-11-02", ny), 25.0);
    }

    #[test]
    fn half_hour_zones_split_days_on_the_half_hour() {
        let kolkata = "Asia/Kolkata";
        assert_eq!(local("2025-06-01T18:29:59Z", kolkata), "2025-06-01");
        assert_eq!(local("2025-06-01T18:30:00Z", kolkata), "2025-06-02");
        assert_eq!(day_length_hours("2025-06-01", kolkata), 24.0);
    }

    #[test]
    fn time_zones_are_iana_names_and_errors_say_how_to_fix_them() {
        assert_eq!(time_zone("UTC").unwrap().0, "UTC");
        assert_eq!(time_zone(" Europe/Paris ").unwrap().0, "Europe/Paris");
        assert_eq!(
            time_zone("Europe/Pariss").unwrap_err(),
            "time_zone: unknown IANA time zone 'Europe/Pariss'; use a name such as Europe/Paris"
        );
        for bad in [
            "",
            "../../etc/passwd",
            "/etc/localtime",
            "EST5EDT,M3.2.0,M11.1.0",
            "Europe/Paris\0",
        ] {
            assert!(
                time_zone(bad)
                    .unwrap_err()
                    .starts_with("time_zone: unknown IANA time zone"),
                "{bad}"
            );
        }
    }

    #[test]
    fn iso_weeks_cross_the_year_like_iso_8601() {
        let label = |d: &str| week_label(parse_day(d).unwrap());
        assert_eq!(label("2021-01-03"), "2020-W53");
        assert_eq!(label("2021-01-04"), "2021-W01");
        assert_eq!(label("2024-12-30"), "2025-W01");
        assert_eq!(label("2025-01-15"), "2025-W03");
        assert_eq!(label("2026-12-31"), "2026-W53");
        assert_eq!(
            day_label(week_start(parse_day("2025-01-15").unwrap())),
            "2025-01-13"
        );
    }

    proptest! {
        /// In UTC the local day is the UTC day.
        #[test]
        fn utc_days_are_unix_days(seconds in -10_000_000_000i64..10_000_000_000) {
            prop_assert_eq!(day_in(seconds, &TimeZone::UTC), day_of_unix(seconds));
        }

        /// ISO weeks agree with jiff's ISO week dates.
        #[test]
        fn weeks_agree_with_jiff(day in 0i32..60_000) {
            let iso = date_of_day(day).unwrap().iso_week_date();
            prop_assert_eq!(week_label(day), format!("{:04}-W{:02}", iso.year(), iso.week()));
            prop_assert_eq!(date_of_day(week_start(day)).unwrap().weekday(), jiff::civil::Weekday::Monday);
        }

        /// The arithmetic agrees with jiff over jiff's whole range.
        #[test]
        fn civil_arithmetic_agrees_with_jiff(day in -4_000_000i32..2_900_000) {
            let date = Date::constant(1970, 1, 1)
                .checked_add(jiff::Span::new().days(i64::from(day)))
                .unwrap();
            prop_assert_eq!(date_of_day(day), Some(date));
            prop_assert_eq!(day_of_date(date), day);
            if date.year() >= 0 {
                prop_assert_eq!(day_label(day), date.to_string());
            }
            let m = month_of_day(day);
            prop_assert_eq!(m, i32::from(date.year()) * 12 + i32::from(date.month()) - 1);
            prop_assert_eq!(first_day_of_month(m), day_of_date(date.first_of_month()));
            prop_assert_eq!(last_day_of_month(m), day_of_date(date.last_of_month()));
        }
    }
}
