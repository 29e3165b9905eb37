//! Whether a group differs from the rest of its selection — the analytic
//! policy behind every "significant" flag, in one place so that the API,
//! the pages and any later report or digest decide alike: which test per
//! metric, the fewest answers before a verdict, the interval that must
//! agree, and Holm's adjustment across the groups of one breakdown.

use crate::estimate::{self, CONFIDENCE, DifferenceTest};
use crate::{Metric, ProportionSummary, ResponseSummary};

/// Fewest answers in a group, and in the rest, before a difference is
/// called significant: below it the normal approximation is unreliable
/// (a unanimous handful has zero variance and any z).
pub const MIN_ANSWERS_FOR_SIGNIFICANCE: i64 = 30;

/// A group's difference from all other responses in the selection.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct VersusRest {
    /// This group minus the rest, on the metric's scale.
    pub difference: f64,
    pub z: f64,
    pub p_value: f64,
    /// The p-value after Holm's adjustment across all groups tested.
    pub p_adjusted: f64,
    /// Holm-adjusted p < 0.05, both sides have at least
    /// [`MIN_ANSWERS_FOR_SIGNIFICANCE`] answers, and the group's own 95%
    /// interval excludes the rest's value, so the verdict never contradicts
    /// the interval shown beside it.
    pub significant: bool,
    pub method: &'static str,
}

/// Tests a group against the rest (CES: no test). The verdict is final
/// only after [`adjust_for_multiple_groups`].
pub fn versus_rest(
    metric: Metric,
    group: &ResponseSummary,
    rest: &ResponseSummary,
) -> Option<VersusRest> {
    let n = |s: &ResponseSummary| metric.estimate(s).n;
    let group_interval = metric.estimate(group);
    let rest_value = metric.estimate(rest).value;
    let interval_excludes_rest = match (group_interval.ci_low, group_interval.ci_high, rest_value) {
        (Some(lo), Some(hi), Some(v)) => v < lo || v > hi,
        _ => false,
    };
    let enough = n(group) >= MIN_ANSWERS_FOR_SIGNIFICANCE
        && n(rest) >= MIN_ANSWERS_FOR_SIGNIFICANCE
        && interval_excludes_rest;
    let (test, method): (DifferenceTest, &'static str) = match metric {
        Metric::Nps => (
            estimate::nps_difference_adjusted(&group.nps, &rest.nps)?,
            "z-test with adjusted-Wald variances (Rocks 2016), group's interval excluding the rest's NPS",
        ),
        Metric::Csat | Metric::Fcr => {
            let prop = |s: &ResponseSummary| match metric {
                Metric::Csat => ProportionSummary {
                    successes: s.csat.count_between(4, 5),
                    trials: s.csat.n(),
                },
                _ => s.fcr,
            };
            let t = estimate::two_proportion_adjusted(&prop(group), &prop(rest))?;
            (
                DifferenceTest {
                    difference: 100.0 * t.difference,
                    ..t
                },
                "Agresti-Caffo adjusted two-proportion z-test (Agresti & Caffo 2000), group's interval excluding the rest's share",
            )
        }
        Metric::Ces => return None,
    };
    Some(VersusRest {
        difference: test.difference,
        z: test.z,
        p_value: test.p_value,
        p_adjusted: test.p_value,
        // Decided after the adjustment, in `adjust_for_multiple_groups`.
        significant: enough,
        method,
    })
}

/// Tests two independent samples against each other — a period against
/// the previous one, the months after a change against those before, a
/// department against the rest of the organisation — by the same tests as
/// [`versus_rest`], without its interval rule (made for a small group
/// against a large rest). Significant after [`adjust_for_multiple_groups`]
/// when the (Holm-adjusted) p < 0.05 with at least
/// [`MIN_ANSWERS_FOR_SIGNIFICANCE`] answers on each side. CES: no test.
pub fn two_samples(metric: Metric, a: &ResponseSummary, b: &ResponseSummary) -> Option<VersusRest> {
    let n = |s: &ResponseSummary| metric.estimate(s).n;
    let mut t = versus_rest(metric, a, b)?;
    t.significant = n(a) >= MIN_ANSWERS_FOR_SIGNIFICANCE && n(b) >= MIN_ANSWERS_FOR_SIGNIFICANCE;
    t.method = match metric {
        Metric::Nps => {
            "z-test with adjusted-Wald variances (Rocks 2016), Holm-adjusted p < 0.05, at least 30 answers on each side"
        }
        _ => {
            "Agresti-Caffo adjusted two-proportion z-test (Agresti & Caffo 2000), Holm-adjusted p < 0.05, at least 30 answers on each side"
        }
    };
    Some(t)
}

/// Applies Holm's adjustment across the groups that were tested (one
/// family per breakdown) and settles each verdict.
pub fn adjust_for_multiple_groups<'a>(tests: impl IntoIterator<Item = &'a mut VersusRest>) {
    let mut tests: Vec<&mut VersusRest> = tests.into_iter().collect();
    let p_values: Vec<f64> = tests.iter().map(|t| t.p_value).collect();
    for (t, p) in tests.iter_mut().zip(estimate::holm(&p_values)) {
        t.p_adjusted = p;
        t.significant = t.significant && p < 1.0 - CONFIDENCE;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(nps: &[(u8, usize)]) -> ResponseSummary {
        let mut s = ResponseSummary::default();
        for &(score, times) in nps {
            for _ in 0..times {
                s.add_answers(Some(score), None, None, None);
            }
        }
        s
    }

    #[test]
    fn a_verdict_needs_enough_answers_an_agreeing_interval_and_holm() {
        let high = answers(&[(10, 80), (3, 20)]);
        let low = answers(&[(10, 20), (3, 80)]);
        let mut clear = versus_rest(Metric::Nps, &high, &low).unwrap();
        assert!(clear.significant && clear.difference > 0.0, "{clear:?}");
        // The same shares from 10 answers: never a verdict.
        let few = answers(&[(10, 8), (3, 2)]);
        let small = versus_rest(Metric::Nps, &few, &low).unwrap();
        assert!(!small.significant, "{small:?}");
        // CES has no test.
        assert!(versus_rest(Metric::Ces, &high, &low).is_none());
        // Holm over a family: the adjusted p is at least the raw one, and
        // a borderline difference loses its flag among many tests.
        let a = answers(&[(10, 50), (3, 50)]);
        let b = answers(&[(10, 32), (3, 68)]);
        let mut borderline = versus_rest(Metric::Nps, &a, &b).unwrap();
        let raw = borderline.p_value;
        let mut nulls: Vec<VersusRest> = (0..19)
            .map(|_| versus_rest(Metric::Nps, &a, &a).unwrap())
            .collect();
        adjust_for_multiple_groups(
            std::iter::once(&mut borderline)
                .chain(std::iter::once(&mut clear))
                .chain(nulls.iter_mut()),
        );
        assert!(borderline.p_adjusted >= raw);
        assert!((0.0..=1.0).contains(&borderline.p_adjusted));
        assert!(clear.significant, "{clear:?}");
        assert!(nulls.iter().all(|n| !n.significant));
        // Significant alone, not after Holm over 21 tests.
        assert!(raw < 0.05, "{raw}");
        assert!(
            borderline.p_adjusted > 0.05 && !borderline.significant,
            "{borderline:?}"
        );
    }
}
