//! Were the pilot and control alike before the start? The standardized
//! mean difference of each baseline characteristic (Austin 2009, "Balance
//! diagnostics for comparing the distribution of baseline covariates
//! between treatment groups in propensity-score matched samples", Stat Med
//! 28:3083–3107): d = (m_p − m_c) / √((s²_p + s²_c) / 2). Unlike a test's
//! p-value it does not grow with the sample, so it says whether the groups
//! differ by an amount that matters; |d| < 0.1 is the usual threshold.

/// Usual threshold for a negligible imbalance (Austin 2009).
pub const BALANCED_BELOW: f64 = 0.1;

/// Count, mean and sample variance (n − 1) of one group's values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Moments {
    pub n: u64,
    pub mean: f64,
    /// Sample variance (divisor n − 1); NaN when n < 2.
    pub variance: f64,
}

impl Moments {
    /// By Welford's one-pass update (stable where Σx² − n·x̄² cancels).
    /// Non-finite values are the caller's to filter: they make the moments
    /// non-finite and [`standardized_difference`] `None`.
    pub fn from_values(values: impl IntoIterator<Item = f64>) -> Self {
        let (mut n, mut mean, mut m2) = (0u64, 0.0f64, 0.0f64);
        for x in values {
            n += 1;
            let delta = x - mean;
            mean += delta / n as f64;
            m2 += delta * (x - mean);
        }
        let variance = if n < 2 { f64::NAN } else { m2 / (n - 1) as f64 };
        Self {
            n,
            mean: if n == 0 { f64::NAN } else { mean },
            variance,
        }
    }

    /// A share `p` of `n` (a 0/1 characteristic): mean p, variance
    /// p(1 − p), as Austin 2009 uses for binary variables.
    pub fn binary(n: u64, p: f64) -> Self {
        Self {
            n,
            mean: p,
            variance: p * (1.0 - p),
        }
    }
}

/// (m_p − m_c) / √((s²_p + s²_c) / 2); `Some(0.0)` when both groups are
/// constant at the same value, `None` when a group is empty or its moments
/// are not finite, or both are constant at different values (no spread to
/// standardise by).
pub fn standardized_difference(pilot: &Moments, control: &Moments) -> Option<f64> {
    if pilot.n == 0 || control.n == 0 {
        return None;
    }
    let diff = pilot.mean - control.mean;
    let pooled = (pilot.variance + control.variance) / 2.0;
    if !(diff.is_finite() && pooled.is_finite() && pooled >= 0.0) {
        return None;
    }
    if pooled == 0.0 {
        return (diff == 0.0).then_some(0.0);
    }
    Some(diff / pooled.sqrt())
}

/// One line of the balance table.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BalanceRow {
    pub name: String,
    /// The pilot's mean (a share for a binary characteristic).
    pub pilot: f64,
    pub control: f64,
    pub smd: Option<f64>,
    /// |smd| < [`BALANCED_BELOW`]; false when there is no smd.
    pub balanced: bool,
}

impl BalanceRow {
    pub fn new(name: impl Into<String>, pilot: &Moments, control: &Moments) -> Self {
        let smd = standardized_difference(pilot, control);
        Self {
            name: name.into(),
            pilot: pilot.mean,
            control: control.mean,
            smd,
            balanced: smd.is_some_and(|d| d.abs() < BALANCED_BELOW),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn welford_matches_the_textbook_moments() {
        // 2, 4, 4, 4, 5, 5, 7, 9: mean 5, Σ(x − 5)² = 32, s² = 32/7.
        let m = Moments::from_values([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert_eq!(m.n, 8);
        assert!((m.mean - 5.0).abs() < 1e-15);
        assert!((m.variance - 32.0 / 7.0).abs() < 1e-14);
        // Large offset: the naive formula loses everything, Welford not.
        let m = Moments::from_values([1e9 + 4.0, 1e9 + 7.0, 1e9 + 13.0, 1e9 + 16.0]);
        assert!((m.variance - 30.0).abs() < 1e-6);
        assert!(Moments::from_values([3.0]).variance.is_nan());
        assert!(Moments::from_values(std::iter::empty()).mean.is_nan());
    }

    #[test]
    fn hand_checked_smd() {
        // Pilot: mean 5, s² = 4; control: mean 4, s² = 2.
        // d = (5 − 4) / √((4 + 2) / 2) = 1 / √3 = 0.57735…
        let p = Moments {
            n: 30,
            mean: 5.0,
            variance: 4.0,
        };
        let c = Moments {
            n: 40,
            mean: 4.0,
            variance: 2.0,
        };
        let d = standardized_difference(&p, &c).unwrap();
        assert!((d - 0.577_350_269_189_625_8).abs() < 1e-15);
        assert!((standardized_difference(&c, &p).unwrap() + d).abs() < 1e-15);
        let row = BalanceRow::new("tenure_years", &p, &c);
        assert!(!row.balanced);
        assert_eq!((row.pilot, row.control), (5.0, 4.0));
    }

    #[test]
    fn binary_uses_p_times_one_minus_p() {
        // 0.30 vs 0.25: pooled variance (0.21 + 0.1875) / 2 = 0.19875;
        // d = 0.05 / √0.19875 = 0.1121544…
        let p = Moments::binary(200, 0.30);
        let c = Moments::binary(180, 0.25);
        let d = standardized_difference(&p, &c).unwrap();
        assert!((d - 0.05 / 0.19875_f64.sqrt()).abs() < 1e-15);
        assert!((d - 0.112_154_43).abs() < 1e-8);
        assert!(!BalanceRow::new("enterprise", &p, &c).balanced);
        let close = BalanceRow::new("enterprise", &Moments::binary(200, 0.27), &c);
        assert!(close.balanced, "{close:?}");
    }

    #[test]
    fn degenerate_groups() {
        let constant = |v: f64| Moments {
            n: 5,
            mean: v,
            variance: 0.0,
        };
        assert_eq!(
            standardized_difference(&constant(1.0), &constant(1.0)),
            Some(0.0)
        );
        assert_eq!(
            standardized_difference(&constant(1.0), &constant(2.0)),
            None
        );
        let empty = Moments::from_values(std::iter::empty());
        assert_eq!(standardized_difference(&empty, &constant(1.0)), None);
        let single = Moments::from_values([1.0]);
        assert_eq!(standardized_difference(&single, &constant(1.0)), None);
        assert!(!BalanceRow::new("x", &constant(1.0), &constant(2.0)).balanced);
        assert!(BalanceRow::new("x", &constant(1.0), &constant(1.0)).balanced);
    }
}
