//! Trends with control limits: which period-to-period movements are signal
//! and which are the noise a metric shows when nothing changed.
//!
//! The construction is Shewhart's, with limits that vary with each period's
//! n (Montgomery, *Introduction to Statistical Quality Control*, 7th ed.,
//! §7.2.2 "variable sample size" for the p-chart, §6.4 for the x̄-chart):
//! the centre is the value pooled over every period shown, and a period's
//! limits are centre ∓ 3σ/√nᵢ with σ from the pooled answers:
//!
//! - CSAT and FCR (shares): σ² = p̄(1 − p̄), the p-chart.
//! - NPS: σ² = p̄ + d̄ − (p̄ − d̄)², the variance of one answer scored +1
//!   (promoter), 0 or −1 (detractor) with the pooled promoter and detractor
//!   shares p̄ and d̄ (the trinomial variance of Rocks 2016).
//! - CES (a mean): σ² = the pooled within-period variance
//!   Σ(nᵢ − 1)sᵢ² / Σ(nᵢ − 1), the x̄-chart with variable n; with one
//!   answer in every period there is no σ and no limits.
//!
//! Limits are not clipped to the scale: a limit past 100 says that no value
//! of that period could be a signal on that side. A period whose value lies
//! outside its limits is a signal (`above`/`below`); the rest is noise.
//! Beside each period: its own 95% interval (the metric's usual method) and
//! its change from the previous period shown, with the same test a breakdown
//! uses for that metric (Welch's t for CES).

use serde::Serialize;

use crate::estimate::{self, DifferenceTest};
use crate::metric::Metric;
use crate::summary::{Mergeable, ProportionSummary, ResponseSummary};

/// How far the limits lie from the centre, in standard errors.
pub const SIGMAS: f64 = 3.0;

/// The bucket a trend is drawn in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    Day,
    Week,
    Month,
}

impl Interval {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "day" => Some(Self::Day),
            "week" => Some(Self::Week),
            "month" => Some(Self::Month),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Week => "week",
            Self::Month => "month",
        }
    }
}

/// Where a period lies against its control limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    Above,
    Below,
    None,
}

/// A period's change from the previous period shown.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PeriodChange {
    /// This period minus the previous one, on the metric's scale.
    pub difference: f64,
    /// The test statistic (z, or Welch's t for CES).
    pub statistic: f64,
    pub p_value: f64,
    pub method: &'static str,
}

/// One period of a trend.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrendPoint {
    /// `2025-01-31`, `2025-W03` or `2025-01`.
    pub period: String,
    pub n: i64,
    pub value: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    /// Lower control limit: centre − 3σ/√n (not clipped); null without σ.
    pub lcl: Option<f64>,
    /// Upper control limit: centre + 3σ/√n (not clipped).
    pub ucl: Option<f64>,
    pub signal: Signal,
    /// Null for the first period, or when no test applies.
    pub change: Option<PeriodChange>,
}

/// A metric over time with its control limits.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trend {
    /// The value pooled over every period shown; null without answers.
    pub centre: Option<f64>,
    /// σ of one answer from the pooled answers (on the metric's scale);
    /// null without answers, or for CES when no period has two answers
    /// (then no period has limits).
    pub sigma: Option<f64>,
    pub periods: Vec<TrendPoint>,
    /// Periods outside their limits.
    pub signals: usize,
    pub method: &'static str,
}

/// The method, as the provenance panel states it.
pub fn method(metric: Metric) -> &'static str {
    match metric {
        Metric::Nps => {
            "Shewhart chart with variable n: centre = NPS pooled over the periods shown; limits = centre ± 3·100·√((p̄ + d̄ − (p̄ − d̄)²)/n) with pooled promoter and detractor shares p̄, d̄ (Montgomery §7.2.2; trinomial variance, Rocks 2016); not clipped. With thousands of answers per period the limits are narrow: a real but small change is a signal (Laney 2002's p′ chart would widen them for variation between periods)"
        }
        Metric::Csat | Metric::Fcr => {
            "p-chart with variable n: centre = share pooled over the periods shown; limits = centre ± 3·100·√(p̄(1 − p̄)/n) (Montgomery §7.2.2); not clipped. With thousands of answers per period the limits are narrow: a real but small change is a signal (Laney 2002's p′ chart would widen them for variation between periods)"
        }
        Metric::Ces => {
            "x̄-chart with variable n: centre = mean of all answers in the periods shown; limits = centre ± 3·s/√n with s² the pooled within-period variance (Montgomery §6.4), no limits when no period has two answers; not clipped"
        }
    }
}

fn csat_share(s: &ResponseSummary) -> ProportionSummary {
    ProportionSummary {
        successes: s.csat.count_between(4, 5),
        trials: s.csat.n(),
    }
}

/// The centre and σ of one answer, on the metric's reported scale; σ is
/// `None` when the answers give no estimate of it (CES with one answer in
/// every period).
fn centre_and_sigma(
    metric: Metric,
    periods: &[(String, ResponseSummary)],
) -> Option<(f64, Option<f64>)> {
    let mut pooled = ResponseSummary::empty();
    for (_, s) in periods {
        pooled.merge(s);
    }
    let share = |p: ProportionSummary| -> Option<(f64, Option<f64>)> {
        (p.trials > 0).then(|| {
            let p = p.successes as f64 / p.trials as f64;
            (100.0 * p, Some(100.0 * (p * (1.0 - p)).sqrt()))
        })
    };
    match metric {
        Metric::Nps => {
            let n = pooled.nps.n();
            (n > 0).then(|| {
                let p = pooled.nps.promoters() as f64 / n as f64;
                let d = pooled.nps.detractors() as f64 / n as f64;
                let var = (p + d - (p - d) * (p - d)).max(0.0);
                (100.0 * (p - d), Some(100.0 * var.sqrt()))
            })
        }
        Metric::Csat => share(csat_share(&pooled)),
        Metric::Fcr => share(pooled.fcr),
        Metric::Ces => {
            let mean = pooled.ces.to_mean().mean()?;
            // Pooled within-period variance: Σ(nᵢ − 1)sᵢ² / Σ(nᵢ − 1).
            let (mut ss, mut df) = (0.0, 0i64);
            for (_, s) in periods {
                let m = s.ces.to_mean();
                if let Some(v) = m.variance() {
                    ss += v * (m.n - 1) as f64;
                    df += m.n - 1;
                }
            }
            // With Σ(nᵢ − 1) = 0 (one answer in every period) the pooled
            // s̄ of Montgomery §6.4 is 0/0: there is no within-period
            // variance to set limits by, so none are drawn. (Reading it as
            // σ = 0 put both limits on the centre and made every period off
            // the centre a signal; tools/golden/make_golden_trends.py.)
            let sigma = (df > 0).then(|| (ss / df as f64).sqrt());
            Some((mean, sigma))
        }
    }
}

/// The change from one period to the next with the metric's test.
pub fn change(
    metric: Metric,
    current: &ResponseSummary,
    previous: &ResponseSummary,
) -> Option<PeriodChange> {
    let (test, method): (DifferenceTest, &'static str) = match metric {
        Metric::Nps => (
            estimate::nps_difference_adjusted(&current.nps, &previous.nps)?,
            "z-test with adjusted-Wald variances (Rocks 2016)",
        ),
        Metric::Csat | Metric::Fcr => {
            let prop = |s: &ResponseSummary| match metric {
                Metric::Csat => csat_share(s),
                _ => s.fcr,
            };
            let t = estimate::two_proportion_adjusted(&prop(current), &prop(previous))?;
            (
                DifferenceTest {
                    difference: 100.0 * t.difference,
                    ..t
                },
                "Agresti-Caffo adjusted two-proportion z-test (Agresti & Caffo 2000)",
            )
        }
        Metric::Ces => (
            estimate::welch_t(&current.ces.to_mean(), &previous.ces.to_mean())?,
            "Welch's unequal-variance t-test (Welch 1947)",
        ),
    };
    Some(PeriodChange {
        difference: test.difference,
        statistic: test.z,
        p_value: test.p_value,
        method,
    })
}

/// The control chart of `metric` over `periods` (in time order, each with
/// its label). Periods without an answer to the metric are left out: they
/// have no value and no limits.
pub fn control_chart(metric: Metric, periods: &[(String, ResponseSummary)]) -> Trend {
    let answered: Vec<&(String, ResponseSummary)> = periods
        .iter()
        .filter(|(_, s)| metric.answers(s) > 0)
        .collect();
    let owned: Vec<(String, ResponseSummary)> = answered.iter().map(|p| (*p).clone()).collect();
    let pooled = centre_and_sigma(metric, &owned);
    let mut points = Vec::with_capacity(answered.len());
    let mut previous: Option<&ResponseSummary> = None;
    for (label, s) in answered {
        let e = metric.estimate(s);
        let n = metric.answers(s);
        let limits = pooled.and_then(|(centre, sigma)| {
            let half = SIGMAS * sigma? / (n as f64).sqrt();
            Some((centre - half, centre + half))
        });
        let signal = match (e.value, limits) {
            (Some(v), Some((lcl, _))) if v < lcl => Signal::Below,
            (Some(v), Some((_, ucl))) if v > ucl => Signal::Above,
            _ => Signal::None,
        };
        points.push(TrendPoint {
            period: label.clone(),
            n,
            value: e.value,
            ci_low: e.ci_low,
            ci_high: e.ci_high,
            lcl: limits.map(|l| l.0),
            ucl: limits.map(|l| l.1),
            signal,
            change: previous.and_then(|p| change(metric, s, p)),
        });
        previous = Some(s);
    }
    Trend {
        centre: pooled.map(|p| p.0),
        sigma: pooled.and_then(|p| p.1),
        signals: points.iter().filter(|p| p.signal != Signal::None).count(),
        periods: points,
        method: method(metric),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nps(promoters: i64, passives: i64, detractors: i64) -> ResponseSummary {
        let mut s = ResponseSummary::empty();
        s.nps.add_weighted(10, promoters);
        s.nps.add_weighted(8, passives);
        s.nps.add_weighted(2, detractors);
        s
    }

    #[test]
    fn nps_limits_use_the_pooled_trinomial_variance_and_each_n() {
        let periods = vec![
            ("2025-01".to_string(), nps(50, 30, 20)),
            ("2025-02".to_string(), nps(40, 40, 20)),
            ("2025-03".to_string(), nps(10, 20, 70)),
        ];
        let t = control_chart(Metric::Nps, &periods);
        // Pooled: 100 promoters, 110 detractors of 300.
        let (p, d): (f64, f64) = (100.0 / 300.0, 110.0 / 300.0);
        let centre = 100.0 * (p - d);
        let sigma = 100.0 * (p + d - (p - d) * (p - d)).sqrt();
        assert!((t.centre.unwrap() - centre).abs() < 1e-12);
        let first = &t.periods[0];
        assert!((first.ucl.unwrap() - (centre + 3.0 * sigma / 10.0)).abs() < 1e-12);
        assert!((first.lcl.unwrap() - (centre - 3.0 * sigma / 10.0)).abs() < 1e-12);
        assert_eq!(t.periods[0].signal, Signal::Above);
        assert_eq!(t.periods[2].signal, Signal::Below);
        assert_eq!(
            t.signals,
            3 - usize::from(t.periods[1].signal == Signal::None)
        );
        assert!(t.periods[0].change.is_none());
        let c = t.periods[2].change.unwrap();
        assert!((c.difference - (-60.0 - 20.0)).abs() < 1e-12 && c.p_value < 1e-6);
    }

    #[test]
    fn limits_are_not_clipped_and_empty_periods_are_left_out() {
        let mut all_yes = ResponseSummary::empty();
        for _ in 0..4 {
            all_yes.add_answers(None, None, None, Some(true));
        }
        let mut mixed = ResponseSummary::empty();
        for i in 0..4 {
            mixed.add_answers(None, None, None, Some(i % 2 == 0));
        }
        let periods = vec![
            ("2025-W01".to_string(), all_yes),
            ("2025-W02".to_string(), nps(1, 0, 0)),
            ("2025-W03".to_string(), mixed),
        ];
        let t = control_chart(Metric::Fcr, &periods);
        assert_eq!(t.periods.len(), 2);
        assert!(t.periods[0].ucl.unwrap() > 100.0);
        assert_eq!(t.periods[1].period, "2025-W03");
    }

    #[test]
    fn ces_uses_the_pooled_within_period_variance() {
        let mut a = ResponseSummary::empty();
        for v in [5, 6, 7] {
            a.add_answers(None, None, Some(v), None);
        }
        let mut b = ResponseSummary::empty();
        for v in [1, 2, 3, 4] {
            b.add_answers(None, None, Some(v), None);
        }
        let t = control_chart(
            Metric::Ces,
            &[("2025-01-01".into(), a), ("2025-01-02".into(), b)],
        );
        // Within-period variances 1 and 5/3 with 2 and 3 df: (2 + 5)/5.
        let s = (7.0f64 / 5.0).sqrt();
        assert!((t.sigma.unwrap() - s).abs() < 1e-12);
        assert!((t.centre.unwrap() - 28.0 / 7.0).abs() < 1e-12);
        assert!((t.periods[0].ucl.unwrap() - (4.0 + 3.0 * s / 3f64.sqrt())).abs() < 1e-12);
    }
}
