//! Point estimates with 95% intervals, and tests for differences.
//!
//! Each function names the reference it follows; `tools/golden/` holds the
//! reference values (scipy/statsmodels) that the tests compare against.

use serde::Serialize;
use statrs::distribution::{Continuous, ContinuousCDF, Normal, StudentsT};

use crate::summary::{MeanSummary, NpsSummary, ProportionSummary};

/// Confidence level of every interval Northstar reports.
pub const CONFIDENCE: f64 = 0.95;

/// A point estimate with its interval; `value` is `None` when n = 0, the
/// interval is `None` when it is undefined (e.g. a mean of one answer).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    pub n: i64,
    pub value: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
}

impl Estimate {
    fn none(n: i64) -> Self {
        Self {
            n,
            value: None,
            ci_low: None,
            ci_high: None,
        }
    }
}

/// The two-sided normal quantile for [`CONFIDENCE`] (1.959963984540054).
pub fn z_critical() -> f64 {
    standard_normal().inverse_cdf(1.0 - (1.0 - CONFIDENCE) / 2.0)
}

fn standard_normal() -> Normal {
    // Mean 0 and sd 1 are valid parameters, so this cannot fail.
    Normal::standard()
}

/// The Student-t quantile. statrs' `inverse_cdf` is only good to about 1e-7
/// for large degrees of freedom, so it is polished by Newton steps on the
/// (accurate, regularised-beta) CDF.
pub(crate) fn t_quantile(p: f64, df: f64) -> f64 {
    let Ok(t) = StudentsT::new(0.0, 1.0, df) else {
        return f64::NAN;
    };
    let mut x = t.inverse_cdf(p);
    for _ in 0..4 {
        let density = t.pdf(x);
        if density <= 0.0 || !density.is_finite() {
            break;
        }
        let step = (t.cdf(x) - p) / density;
        x -= step;
        if step.abs() < 1e-15 * x.abs().max(1.0) {
            break;
        }
    }
    x
}

/// Two-sided p-value of a standard-normal statistic.
fn two_sided_p(z: f64) -> f64 {
    2.0 * standard_normal().sf(z.abs())
}

/// Net Promoter Score on −100…100 with the adjusted-Wald interval.
///
/// Point estimate: 100 · (promoters − detractors) / n. Interval: Rocks (2016),
/// "Confidence intervals for the Net Promoter Score", the adjusted-Wald
/// method MeasuringU recommends: n' = n + 3, p' = (promoters + ¾)/n',
/// d' = (detractors + ¾)/n', NPS' = p' − d', var = (p' + d' − NPS'²)/n',
/// NPS' ± z·√var clipped to [−1, 1], reported ×100.
pub fn nps_adjusted_wald(s: &NpsSummary) -> Estimate {
    let n = s.n();
    if n <= 0 {
        return Estimate::none(n);
    }
    let (p, d) = (s.promoters() as f64, s.detractors() as f64);
    let value = 100.0 * (p - d) / n as f64;
    let n_adj = n as f64 + 3.0;
    let p_adj = (p + 0.75) / n_adj;
    let d_adj = (d + 0.75) / n_adj;
    let nps_adj = p_adj - d_adj;
    let var = (p_adj + d_adj - nps_adj * nps_adj) / n_adj;
    let half = z_critical() * var.max(0.0).sqrt();
    let (low, high) = (
        100.0 * (nps_adj - half).clamp(-1.0, 1.0),
        100.0 * (nps_adj + half).clamp(-1.0, 1.0),
    );
    // With a handful of unanimous answers the adjusted interval can miss the
    // raw score (n = 1 promoter: NPS 100, interval −48.5 to 98.5). An
    // interval that excludes its own estimate would mislead, so none is shown:
    // there are too few answers for one.
    let shown = (low..=high).contains(&value);
    Estimate {
        n,
        value: Some(value),
        ci_low: shown.then_some(low),
        ci_high: shown.then_some(high),
    }
}

/// A proportion (0…1) with the Wilson score interval.
///
/// Wilson (1927); the same as statsmodels'
/// `proportion_confint(method="wilson")`.
pub fn wilson(s: &ProportionSummary) -> Estimate {
    let n = s.trials;
    if n <= 0 {
        return Estimate::none(n);
    }
    let nf = n as f64;
    let p = s.successes as f64 / nf;
    let z = z_critical();
    let z2 = z * z;
    let denom = 1.0 + z2 / nf;
    let centre = (p + z2 / (2.0 * nf)) / denom;
    let half = z * (p * (1.0 - p) / nf + z2 / (4.0 * nf * nf)).max(0.0).sqrt() / denom;
    Estimate {
        n,
        value: Some(p),
        ci_low: Some((centre - half).max(0.0)),
        ci_high: Some((centre + half).min(1.0)),
    }
}

/// A mean with the Student-t interval: x̄ ± t(0.975, n − 1) · s/√n.
///
/// Same as scipy's `stats.t.interval` with `scale = sem` and statsmodels'
/// `DescrStatsW.tconfint_mean`. With zero variance the interval is the mean.
pub fn mean_t(s: &MeanSummary) -> Estimate {
    let Some(mean) = s.mean() else {
        return Estimate::none(s.n);
    };
    let Some(var) = s.variance() else {
        return Estimate {
            n: s.n,
            value: Some(mean),
            ci_low: None,
            ci_high: None,
        };
    };
    let se = (var / s.n as f64).sqrt();
    let half = t_quantile(1.0 - (1.0 - CONFIDENCE) / 2.0, (s.n - 1) as f64) * se;
    Estimate {
        n: s.n,
        value: Some(mean),
        ci_low: Some(mean - half),
        ci_high: Some(mean + half),
    }
}

/// A two-sample comparison: the difference a − b, its z statistic and the
/// two-sided p-value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DifferenceTest {
    pub difference: f64,
    pub z: f64,
    pub p_value: f64,
}

/// Difference of two NPS (in points, −200…200) with a z-test.
///
/// Each sample's variance is the trinomial (p + d − (p − d)²)/n with
/// proportions p and d (Rocks 2016, unadjusted); z = (NPSa − NPSb)/√(va + vb).
/// `None` when either sample is empty or both variances are zero.
pub fn nps_difference(a: &NpsSummary, b: &NpsSummary) -> Option<DifferenceTest> {
    let part = |s: &NpsSummary| -> Option<(f64, f64)> {
        let n = s.n();
        if n <= 0 {
            return None;
        }
        let p = s.promoters() as f64 / n as f64;
        let d = s.detractors() as f64 / n as f64;
        let nps = p - d;
        Some((nps, (p + d - nps * nps) / n as f64))
    };
    let (nps_a, var_a) = part(a)?;
    let (nps_b, var_b) = part(b)?;
    let se = (var_a + var_b).sqrt();
    if se <= 0.0 {
        return None;
    }
    let z = (nps_a - nps_b) / se;
    Some(DifferenceTest {
        difference: 100.0 * (nps_a - nps_b),
        z,
        p_value: two_sided_p(z),
    })
}

/// Difference of two NPS with the adjusted-Wald variance: each sample gets
/// ¾ promoter and ¾ detractor added and n + 3 (Rocks 2016), the adjustment
/// MeasuringU uses to compare two NPS (Sauro, "Comparing Two Net Promoter
/// Scores"); z = (NPS'a − NPS'b)/√(var'a + var'b). Unlike the plain trinomial
/// variance it is never zero, so a unanimous handful is not "significant" on
/// a zero standard error. The reported difference is of the raw scores.
/// `None` when either sample is empty.
pub fn nps_difference_adjusted(a: &NpsSummary, b: &NpsSummary) -> Option<DifferenceTest> {
    let part = |s: &NpsSummary| -> Option<(f64, f64, f64)> {
        let n = s.n();
        if n <= 0 {
            return None;
        }
        let raw = (s.promoters() - s.detractors()) as f64 / n as f64;
        let n_adj = n as f64 + 3.0;
        let p = (s.promoters() as f64 + 0.75) / n_adj;
        let d = (s.detractors() as f64 + 0.75) / n_adj;
        Some((raw, p - d, (p + d - (p - d) * (p - d)) / n_adj))
    };
    let (raw_a, adj_a, var_a) = part(a)?;
    let (raw_b, adj_b, var_b) = part(b)?;
    let z = (adj_a - adj_b) / (var_a + var_b).sqrt();
    Some(DifferenceTest {
        difference: 100.0 * (raw_a - raw_b),
        z,
        p_value: two_sided_p(z),
    })
}

/// Difference of two proportions with the Agresti–Caffo adjusted Wald test:
/// one success and one failure added to each sample (Agresti & Caffo 2000),
/// z = (p̃a − p̃b)/√(p̃a(1−p̃a)/(na+2) + p̃b(1−p̃b)/(nb+2)); the same as
/// statsmodels' `test_proportions_2indep(method="agresti-caffo")`. The
/// variance is never zero. The reported difference is of the raw shares.
/// `None` when either sample is empty.
pub fn two_proportion_adjusted(
    a: &ProportionSummary,
    b: &ProportionSummary,
) -> Option<DifferenceTest> {
    if a.trials <= 0 || b.trials <= 0 {
        return None;
    }
    let adjusted = |s: &ProportionSummary| {
        let n = s.trials as f64 + 2.0;
        let p = (s.successes as f64 + 1.0) / n;
        (p, p * (1.0 - p) / n)
    };
    let (pa, va) = adjusted(a);
    let (pb, vb) = adjusted(b);
    let z = (pa - pb) / (va + vb).sqrt();
    Some(DifferenceTest {
        difference: a.successes as f64 / a.trials as f64 - b.successes as f64 / b.trials as f64,
        z,
        p_value: two_sided_p(z),
    })
}

/// Difference of two proportions (a − b, on 0…1) with the pooled
/// two-proportion z-test; the same as statsmodels' `proportions_ztest`.
/// `None` when a sample is empty or the pooled proportion is 0 or 1.
pub fn two_proportion(a: &ProportionSummary, b: &ProportionSummary) -> Option<DifferenceTest> {
    if a.trials <= 0 || b.trials <= 0 {
        return None;
    }
    let (na, nb) = (a.trials as f64, b.trials as f64);
    let (pa, pb) = (a.successes as f64 / na, b.successes as f64 / nb);
    let pooled = (a.successes + b.successes) as f64 / (na + nb);
    let se = (pooled * (1.0 - pooled) * (1.0 / na + 1.0 / nb)).sqrt();
    if se <= 0.0 || se.is_nan() {
        return None;
    }
    let z = (pa - pb) / se;
    Some(DifferenceTest {
        difference: pa - pb,
        z,
        p_value: two_sided_p(z),
    })
}

/// Difference of two means (a − b) with Welch's unequal-variance t-test:
/// t = (x̄a − x̄b)/√(sa²/na + sb²/nb), degrees of freedom by the
/// Welch–Satterthwaite equation (Welch 1947); the same as scipy's
/// `ttest_ind_from_stats(equal_var=False)`. The statistic is reported in
/// `z`. `None` when a sample has fewer than two answers or both variances
/// are zero.
pub fn welch_t(a: &MeanSummary, b: &MeanSummary) -> Option<DifferenceTest> {
    let (ma, mb) = (a.mean()?, b.mean()?);
    let (va, vb) = (a.variance()? / a.n as f64, b.variance()? / b.n as f64);
    let se2 = va + vb;
    if se2 <= 0.0 || !se2.is_finite() {
        return None;
    }
    let t = (ma - mb) / se2.sqrt();
    let df = se2 * se2 / (va * va / (a.n - 1) as f64 + vb * vb / (b.n - 1) as f64);
    let dist = StudentsT::new(0.0, 1.0, df).ok()?;
    Some(DifferenceTest {
        difference: ma - mb,
        z: t,
        p_value: 2.0 * dist.sf(t.abs()),
    })
}

/// Holm (1979) step-down adjustment of p-values for testing several
/// hypotheses at once (e.g. every department against the rest); the same as
/// statsmodels' `multipletests(method="holm")`. Returns adjusted p-values in
/// the input order.
pub fn holm(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    let mut adjusted = vec![0.0; m];
    let mut running_max: f64 = 0.0;
    for (rank, &i) in order.iter().enumerate() {
        let candidate = ((m - rank) as f64 * p_values[i]).min(1.0);
        running_max = running_max.max(candidate);
        adjusted[i] = running_max;
    }
    adjusted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn z_is_the_familiar_one() {
        assert!((z_critical() - 1.959963984540054).abs() < 1e-12);
    }

    #[test]
    fn an_nps_interval_contains_its_estimate_or_is_not_shown() {
        let mut one = NpsSummary::from_counts([0; 11]);
        one.add(10);
        let e = nps_adjusted_wald(&one);
        assert_eq!((e.value, e.ci_low, e.ci_high), (Some(100.0), None, None));
        for counts in [
            [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0],
        ] {
            let e = nps_adjusted_wald(&NpsSummary::from_counts(counts));
            if let (Some(lo), Some(hi), Some(v)) = (e.ci_low, e.ci_high, e.value) {
                assert!(lo <= v && v <= hi, "{e:?}");
            }
        }
        let mut five = NpsSummary::from_counts([0; 11]);
        five.add_weighted(10, 5);
        let e = nps_adjusted_wald(&five);
        assert!(e.ci_low.is_some() && e.ci_high == Some(100.0), "{e:?}");
    }

    /// A unanimous small group against a large mixed rest: the plain
    /// trinomial variance of the group is zero; the adjusted one is not.
    #[test]
    fn adjusted_tests_never_divide_by_a_zero_variance() {
        let mut group = NpsSummary::from_counts([0; 11]);
        group.add_weighted(10, 3);
        let rest = NpsSummary::from_counts([5, 5, 5, 5, 5, 5, 5, 10, 10, 20, 20]);
        let plain = nps_difference(&group, &rest).unwrap();
        let adjusted = nps_difference_adjusted(&group, &rest).unwrap();
        assert!(adjusted.p_value > plain.p_value, "{plain:?} {adjusted:?}");
        assert!(adjusted.p_value > 0.05, "{adjusted:?}");
        let all_yes = ProportionSummary {
            successes: 3,
            trials: 3,
        };
        let all_no = ProportionSummary {
            successes: 0,
            trials: 3,
        };
        assert!(
            two_proportion_adjusted(&all_yes, &all_no)
                .unwrap()
                .z
                .is_finite()
        );
        assert_eq!(
            two_proportion_adjusted(&all_yes, &ProportionSummary::default()),
            None
        );
    }

    #[test]
    fn empty_samples_have_no_estimate() {
        assert_eq!(
            nps_adjusted_wald(&NpsSummary::from_counts([0; 11])).value,
            None
        );
        assert_eq!(wilson(&ProportionSummary::default()).value, None);
        assert_eq!(mean_t(&MeanSummary::default()).value, None);
    }
}
