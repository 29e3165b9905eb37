//! A pilot, pre-registered (seeds 001 and 003: start small — one segment,
//! one touchpoint —, prove it, then grow): the plan fixed before the start
//! (scope, hypothesis, primary metric, minimum detectable effect, α and
//! power → respondents per group) and the arithmetic around it that is not
//! the estimator itself (windows, outcome coding, expected duration). The
//! difference-in-differences estimator is [`crate::did`], the power
//! calculation [`crate::power`], the group assignment [`crate::assignment`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Metric;
use crate::calendar::{self, Day};
use crate::department::OneOrMany;
use crate::field::{FieldError, TextLimit};

/// Longest pilot: past a year a "pilot" is a programme.
pub const MAX_PILOT_DAYS: i32 = 366;
/// Most secondary metrics.
pub const MAX_SECONDARY: usize = 3;
/// Days of responses before the start the baseline is read from.
pub const BASELINE_DAYS: i32 = 90;
/// Names, hypotheses.
pub const PILOT_TEXT: TextLimit = TextLimit {
    applies_to: "pilot texts",
    max_chars: 1_000,
};

/// A pilot's plan, as registered (`POST /api/v1/pilots`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PilotPlan {
    pub name: String,
    pub hypothesis: String,
    /// The primary metric: nps, csat (satisfied share, 4–5) or fcr.
    pub metric: String,
    /// Secondary metrics, reported but not decided on.
    #[serde(default)]
    pub secondary: Vec<String>,
    /// Dimension → value(s): the customers and responses the pilot is
    /// about (segment, touchpoint, department, …); empty: every customer.
    #[serde(default)]
    pub scope: BTreeMap<String, OneOrMany>,
    /// First and last day of the pilot (`YYYY-MM-DD`, the organisation's
    /// days).
    pub start: String,
    pub end: String,
    /// Smallest effect worth detecting: NPS points, or a difference of
    /// shares for CSAT and FCR (0.05).
    pub mde: f64,
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    #[serde(default = "default_power")]
    pub power: f64,
    /// The baseline to plan with, as `GET /api/v1/power` takes it; when
    /// absent it is measured on the scope's responses in the
    /// [`BASELINE_DAYS`] days before the start.
    #[serde(default)]
    pub baseline: Option<String>,
    /// Share of the scope's customers put in the pilot group (0.5).
    #[serde(default = "default_share")]
    pub pilot_share: f64,
    /// The business case whose assumed effect the measured one replaces.
    #[serde(default)]
    pub business_case_id: Option<i64>,
    /// Days before the start the evaluation compares with; every answer
    /// before the start when absent.
    #[serde(default)]
    pub before_days: Option<i32>,
}

/// Longest before period a plan may name (three years).
pub const MAX_BEFORE_DAYS: i32 = 1_096;

fn default_alpha() -> f64 {
    0.05
}

fn default_power() -> f64 {
    0.8
}

fn default_share() -> f64 {
    0.5
}

/// The customer-level primary metric: the share of the scope's customers
/// who stay (churn flags), planned like a proportion (Cohen's h).
pub const RETENTION: &str = "retention";

/// A metric a pilot can be decided on: what one response contributes.
pub fn pilot_metric(name: &str) -> Option<Metric> {
    match name {
        "nps" => Some(Metric::Nps),
        "csat" => Some(Metric::Csat),
        "fcr" => Some(Metric::Fcr),
        _ => None,
    }
}

/// One answer as the estimator counts it: NPS +100 / 0 / −100 (so means
/// and effects are in NPS points), CSAT 1 when satisfied (4–5) else 0,
/// FCR 1 / 0 (effects are differences of shares).
pub fn outcome(metric: Metric, raw: i64) -> f64 {
    match metric {
        Metric::Nps => match raw {
            9.. => 100.0,
            7..=8 => 0.0,
            _ => -100.0,
        },
        Metric::Csat => f64::from(u8::from(raw >= 4)),
        Metric::Ces => raw as f64,
        Metric::Fcr => f64::from(u8::from(raw == 1)),
    }
}

/// The plan's days, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PilotDays {
    pub start: Day,
    pub end: Day,
    /// See [`PilotPlan::before_days`].
    pub before_days: Option<i32>,
}

impl PilotDays {
    /// Days the pilot runs (inclusive).
    pub fn length(self) -> i32 {
        self.end - self.start + 1
    }

    /// The comparison period, ending the day before the start: from its
    /// first day when the plan names `before_days`, else every answer
    /// before the start (`None`: no first day).
    pub fn before(self) -> (Option<Day>, Day) {
        (self.before_days.map(|n| self.start - n), self.start - 1)
    }

    /// Where the baseline is read: the [`BASELINE_DAYS`] before the start.
    pub fn baseline_window(self) -> (Day, Day) {
        (self.start - BASELINE_DAYS, self.start - 1)
    }
}

fn text(errors: &mut Vec<FieldError>, field: &str, value: &str) {
    if value.trim().is_empty() {
        errors.push(FieldError::new(field, "is empty", "write it out"));
    }
    if let Err(e) = crate::field::within(field, value, PILOT_TEXT) {
        errors.push(e);
    }
}

impl PilotPlan {
    /// Metric names as stored: trimmed, lower-case (`NPS` is `nps`).
    pub fn normalise(&mut self) {
        self.metric = self.metric.trim().to_ascii_lowercase();
        for m in &mut self.secondary {
            *m = m.trim().to_ascii_lowercase();
        }
    }

    /// Every problem, each naming its field; the pilot's days when none.
    pub fn check(&self) -> Result<PilotDays, Vec<FieldError>> {
        let mut errors = Vec::new();
        text(&mut errors, "name", &self.name);
        text(&mut errors, "hypothesis", &self.hypothesis);
        if pilot_metric(&self.metric).is_none() && self.metric != RETENTION {
            errors.push(FieldError::new(
                "metric",
                format!("{:?} cannot be a pilot's primary metric", self.metric),
                "use nps, csat, fcr or retention",
            ));
        }
        if self.secondary.len() > MAX_SECONDARY {
            errors.push(FieldError::new(
                "secondary",
                format!(
                    "has {} entries; the limit is {MAX_SECONDARY}",
                    self.secondary.len()
                ),
                "name the few metrics that matter",
            ));
        } else {
            for (i, m) in self.secondary.iter().enumerate() {
                if pilot_metric(m).is_none() {
                    errors.push(FieldError::new(
                        format!("secondary[{i}]"),
                        format!("{m:?} is not a metric a pilot reports"),
                        "use nps, csat or fcr",
                    ));
                } else if *m == self.metric || self.secondary[..i].contains(m) {
                    errors.push(FieldError::new(
                        format!("secondary[{i}]"),
                        format!("{m:?} is the primary metric or given twice"),
                        "list each metric once",
                    ));
                }
            }
        }
        crate::department::check_scope(&self.scope, &mut errors, "scope");
        let start = calendar::parse_day(&self.start);
        let end = calendar::parse_day(&self.end);
        if start.is_none() {
            errors.push(FieldError::new(
                "start",
                format!("{:?} is not a date", self.start),
                "give the first day as YYYY-MM-DD",
            ));
        }
        if end.is_none() {
            errors.push(FieldError::new(
                "end",
                format!("{:?} is not a date", self.end),
                "give the last day as YYYY-MM-DD",
            ));
        }
        if let (Some(s), Some(e)) = (start, end)
            && !(s <= e && e - s < MAX_PILOT_DAYS)
        {
            errors.push(FieldError::new(
                "end",
                format!(
                    "{} to {} is not 1 to {MAX_PILOT_DAYS} days",
                    self.start, self.end
                ),
                "end on or after the start, within a year",
            ));
        }
        if !(self.mde.is_finite() && self.mde > 0.0) {
            errors.push(FieldError::new(
                "mde",
                format!("{} is not a positive effect", self.mde),
                "give NPS points (5) or, for CSAT and FCR, a difference of shares (0.05)",
            ));
        }
        if !(self.alpha > 0.0 && self.alpha < 0.5) {
            errors.push(FieldError::new(
                "alpha",
                format!(
                    "{} is not a significance level between 0 and 0.5",
                    self.alpha
                ),
                "0.05 is usual",
            ));
        }
        if !(self.power > self.alpha && self.power < 1.0) {
            errors.push(FieldError::new(
                "power",
                format!("{} is not a power between alpha and 1", self.power),
                "0.8 is usual",
            ));
        }
        if !(self.pilot_share >= 0.05 && self.pilot_share <= 0.95) {
            errors.push(FieldError::new(
                "pilot_share",
                format!("{} is not a share between 0.05 and 0.95", self.pilot_share),
                "0.5 puts half the scope's customers in the pilot",
            ));
        }
        if let Some(b) = &self.baseline
            && let Err(e) = crate::field::within_length("baseline", b, PILOT_TEXT)
        {
            errors.push(e);
        }
        if let Some(n) = self.before_days
            && !(1..=MAX_BEFORE_DAYS).contains(&n)
        {
            errors.push(FieldError::new(
                "before_days",
                format!("{n} is not 1 to {MAX_BEFORE_DAYS} days"),
                "leave it out to compare with every answer before the start",
            ));
        }
        match (start, end, errors.is_empty()) {
            (Some(start), Some(end), true) => Ok(PilotDays {
                start,
                end,
                before_days: self.before_days,
            }),
            _ => Err(errors),
        }
    }
}

/// Days of responses the pilot group needs to reach `n_per_group`, at the
/// scope's recent volume (`daily_volume` answers of the metric a day) with
/// `pilot_share` of them from pilot customers; `None` without volume.
/// The smaller group sets the pace.
pub fn expected_days(n_per_group: u64, daily_volume: f64, pilot_share: f64) -> Option<f64> {
    let slower = pilot_share.min(1.0 - pilot_share) * daily_volume;
    (slower > 0.0 && slower.is_finite()).then(|| n_per_group as f64 / slower)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> PilotPlan {
        serde_json::from_str(
            r#"{"name": "Proactive updates", "hypothesis": "Updates raise NPS",
                "metric": "nps", "scope": {"segment": "enterprise"},
                "start": "2026-08-01", "end": "2026-10-31", "mde": 8}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_before_period_is_everything_or_as_many_days_as_planned() {
        let days = plan().check().unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(days.length(), 92);
        assert_eq!(days.before(), (None, days.start - 1));
        let mut p = plan();
        p.before_days = Some(92);
        let days = p.check().unwrap_or_else(|e| panic!("{e:?}"));
        let (from, to) = days.before();
        assert_eq!(to, days.start - 1);
        assert_eq!(from.map(|f| to - f + 1), Some(92));
        assert_eq!(days.baseline_window().1, days.start - 1);
    }

    #[test]
    fn bad_plans_name_fields() {
        let mut p = plan();
        p.metric = "loyalty".into();
        p.end = "2026-07-01".into();
        p.scope
            .insert("region".into(), OneOrMany::One("north".into()));
        p.pilot_share = 1.0;
        let fields: Vec<String> = p
            .check()
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        for f in ["metric", "end", "scope.region", "pilot_share"] {
            assert!(fields.iter().any(|x| x == f), "{f} in {fields:?}");
        }
    }

    #[test]
    fn outcomes_are_coded_in_points_and_shares() {
        assert_eq!(outcome(Metric::Nps, 10), 100.0);
        assert_eq!(outcome(Metric::Nps, 7), 0.0);
        assert_eq!(outcome(Metric::Nps, 6), -100.0);
        assert_eq!(outcome(Metric::Csat, 4), 1.0);
        assert_eq!(outcome(Metric::Csat, 3), 0.0);
        assert_eq!(outcome(Metric::Fcr, 1), 1.0);
        assert_eq!(expected_days(100, 20.0, 0.5), Some(10.0));
        assert!((expected_days(100, 20.0, 0.8).unwrap_or(0.0) - 25.0).abs() < 1e-9);
        assert_eq!(expected_days(100, 0.0, 0.5), None);
    }
}
