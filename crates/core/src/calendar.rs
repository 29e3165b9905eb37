//! Day and month buckets. Periods are UTC calendar days; a day is counted as
//! days since 1970-01-01 and a month as `year * 12 + (month − 1)`.

use jiff::civil::Date;
use jiff::{Span, Timestamp};

const SECONDS_PER_DAY: i64 = 86_400;

/// Days since 1970-01-01 (UTC).
pub type Day = i32;
/// `year * 12 + (month − 1)`.
pub type Month = i32;

fn epoch() -> Date {
    Date::constant(1970, 1, 1)
}

/// The UTC day a timestamp falls on.
pub fn day_of_timestamp(ts: Timestamp) -> Day {
    // jiff timestamps span years −9999..=9999, well inside i32 days.
    day_of_unix(ts.as_second())
}

/// The UTC day of a Unix time in seconds.
pub fn day_of_unix(seconds: i64) -> Day {
    seconds.div_euclid(SECONDS_PER_DAY) as Day
}

/// The day of a civil date.
pub fn day_of_date(date: Date) -> Day {
    epoch()
        .until(date)
        .map(|span| span.get_days())
        .unwrap_or_default()
}

/// The civil date of a day. Days outside jiff's range (years −9999..=9999,
/// which valid data never reaches) map to the epoch instead of panicking.
pub fn date_of_day(day: Day) -> Date {
    Span::new()
        .try_days(i64::from(day))
        .and_then(|span| epoch().checked_add(span))
        .unwrap_or_else(|_| epoch())
}

/// The month a day falls in.
pub fn month_of_day(day: Day) -> Month {
    let d = date_of_day(day);
    i32::from(d.year()) * 12 + i32::from(d.month()) - 1
}

/// First day of a month.
pub fn first_day_of_month(month: Month) -> Day {
    let year = month.div_euclid(12);
    let m = month.rem_euclid(12) + 1;
    Date::new(year as i16, m as i8, 1)
        .map(day_of_date)
        .unwrap_or_default()
}

/// Last day of a month.
pub fn last_day_of_month(month: Month) -> Day {
    first_day_of_month(month + 1) - 1
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
    date_of_day(day).to_string()
}

/// Parses a `YYYY-MM-DD` date into a day.
pub fn parse_day(text: &str) -> Option<Day> {
    text.trim().parse::<Date>().ok().map(day_of_date)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_months_round_trip() {
        assert_eq!(day_of_date(Date::constant(1970, 1, 1)), 0);
        assert_eq!(
            parse_day("2026-03-04"),
            Some(day_of_date(Date::constant(2026, 3, 4)))
        );
        assert_eq!(date_of_day(i32::MAX), epoch());
        for day in [-400, -1, 0, 1, 59, 20_000, 20_513] {
            assert_eq!(day_of_date(date_of_day(day)), day);
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

    #[test]
    fn timestamps_fall_on_utc_days() {
        let ts: Timestamp = "2026-03-04T23:30:00-02:00".parse().unwrap();
        assert_eq!(day_label(day_of_timestamp(ts)), "2026-03-05");
        assert_eq!(parse_day("2026-02-30"), None);
    }
}
