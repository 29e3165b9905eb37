//! The headline metrics, each tied to the summary it is computed from and the
//! method that gives its interval.

use serde::Serialize;

use crate::estimate::{self, Estimate};
use crate::summary::ResponseSummary;

/// A headline metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Nps,
    Csat,
    Ces,
    Fcr,
}

impl Metric {
    pub const ALL: [Metric; 4] = [Metric::Nps, Metric::Csat, Metric::Ces, Metric::Fcr];

    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Nps => "nps",
            Metric::Csat => "csat",
            Metric::Ces => "ces",
            Metric::Fcr => "fcr",
        }
    }

    /// Position in [`Metric::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Number of answers to this metric in a summary.
    pub fn answers(self, s: &ResponseSummary) -> i64 {
        match self {
            Metric::Nps => s.nps.n(),
            Metric::Csat => s.csat.n(),
            Metric::Ces => s.ces.n(),
            Metric::Fcr => s.fcr.trials,
        }
    }

    /// True when a summary (or a delta) has any non-zero counter of this metric.
    pub fn touches(self, s: &ResponseSummary) -> bool {
        match self {
            Metric::Nps => !s.nps.is_empty(),
            Metric::Csat => !s.csat.is_empty(),
            Metric::Ces => !s.ces.is_empty(),
            Metric::Fcr => s.fcr.trials != 0 || s.fcr.successes != 0,
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == name)
    }

    /// Display name.
    pub fn title(self) -> &'static str {
        match self {
            Metric::Nps => "Net Promoter Score",
            Metric::Csat => "Customer satisfaction",
            Metric::Ces => "Customer effort",
            Metric::Fcr => "First-contact resolution",
        }
    }

    /// How the value is defined and on which scale it is reported.
    pub fn scale(self) -> &'static str {
        match self {
            Metric::Nps => "% promoters (9–10) − % detractors (0–6) of 0–10 answers; −100 to 100",
            Metric::Csat => "% of 1–5 answers that are 4 or 5; 0 to 100",
            Metric::Ces => "mean of 1–7 answers (7 = least effort); 1 to 7",
            Metric::Fcr => "% of yes/no answers that are yes; 0 to 100",
        }
    }

    /// The interval method, with its reference.
    pub fn method(self) -> &'static str {
        match self {
            Metric::Nps => "adjusted-Wald interval for NPS (Rocks 2016)",
            Metric::Csat | Metric::Fcr => "Wilson score interval (Wilson 1927)",
            Metric::Ces => "Student-t interval for the mean",
        }
    }

    /// The estimate on the reported scale.
    pub fn estimate(self, s: &ResponseSummary) -> Estimate {
        match self {
            Metric::Nps => estimate::nps_adjusted_wald(&s.nps),
            Metric::Csat => {
                let top_two = crate::ProportionSummary {
                    successes: s.csat.count_between(4, 5),
                    trials: s.csat.n(),
                };
                percent(estimate::wilson(&top_two))
            }
            // The t interval can reach past the scale (a few answers of 7
            // give 6.2 to 7.8); the mean cannot, so the interval is clipped.
            Metric::Ces => clipped(estimate::mean_t(&s.ces.to_mean()), 1.0, 7.0),
            Metric::Fcr => percent(estimate::wilson(&s.fcr)),
        }
    }
}

fn clipped(e: Estimate, low: f64, high: f64) -> Estimate {
    Estimate {
        ci_low: e.ci_low.map(|v| v.clamp(low, high)),
        ci_high: e.ci_high.map(|v| v.clamp(low, high)),
        ..e
    }
}

fn percent(e: Estimate) -> Estimate {
    Estimate {
        n: e.n,
        value: e.value.map(|v| 100.0 * v),
        ci_low: e.ci_low.map(|v| 100.0 * v),
        ci_high: e.ci_high.map(|v| 100.0 * v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ces_interval_stays_on_the_scale() {
        let mut s = ResponseSummary::default();
        for v in [7, 7, 7, 6] {
            s.add_answers(None, None, Some(v), None);
        }
        let e = Metric::Ces.estimate(&s);
        assert_eq!(e.ci_high, Some(7.0));
        assert!(
            e.ci_low.is_some_and(|lo| (1.0..6.75).contains(&lo)),
            "{e:?}"
        );
        let unclipped = estimate::mean_t(&s.ces.to_mean());
        assert!(
            unclipped.ci_high.is_some_and(|hi| hi > 7.0),
            "{unclipped:?}"
        );
    }
}
