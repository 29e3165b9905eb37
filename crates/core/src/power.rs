//! Sample size for a pilot: respondents per group for a two-sided z-test
//! of two independent groups of equal size to detect a minimum effect with
//! a given α and power — the power function of statsmodels'
//! `NormalIndPower` (power = Φ(d·√(n/2) − z₁₋α/₂) + Φ(−d·√(n/2) − z₁₋α/₂)),
//! solved for n. The standardised effect d is Cohen's h for a proportion
//! (CSAT satisfied share, FCR; Cohen 1988, h = 2·asin√p₁ − 2·asin√p₂) and,
//! for NPS, the difference in points over the standard deviation of one
//! answer scored +1 / 0 / −1 (the trinomial variance p + d − (p − d)²,
//! promoters p and detractors d at the baseline).

use statrs::distribution::{ContinuousCDF, Normal};

/// What a power calculation was asked with that cannot be answered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PowerError {
    #[error("{field}: {message}")]
    Input {
        field: &'static str,
        message: String,
    },
}

fn input(field: &'static str, message: impl Into<String>) -> PowerError {
    PowerError::Input {
        field,
        message: message.into(),
    }
}

/// Respondents per group, with what they were computed from.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SampleSize {
    /// Rounded up: each group needs this many respondents.
    pub n_per_group: u64,
    /// The root of the power equation before rounding (statsmodels'
    /// `solve_power` value).
    pub n_exact: f64,
    /// The standardised effect size d.
    pub effect_size: f64,
    pub method: &'static str,
}

/// Method texts, with their references.
pub const METHOD_PROPORTION: &str = "two-sided z-test of two independent proportions, equal groups; effect size Cohen's h = 2·asin√(baseline + mde) − 2·asin√baseline (Cohen 1988); n solves the power of statsmodels NormalIndPower";
pub const METHOD_NPS: &str = "two-sided z-test of two independent NPS, equal groups; effect size = mde / 100 ÷ √(p + d − (p − d)²), the standard deviation of one answer scored +1/0/−1 at the baseline's promoter (p) and detractor (d) shares; n solves the power of statsmodels NormalIndPower";

/// Largest group size reported (a smaller effect needs more respondents
/// than any pilot has).
pub const MAX_N: f64 = 1e9;

fn normal() -> Normal {
    Normal::standard()
}

/// The power of the two-sided test with `n` respondents in each group.
pub fn power_of(effect: f64, n: f64, alpha: f64) -> f64 {
    let z = normal().inverse_cdf(1.0 - alpha / 2.0);
    let shift = effect.abs() * (n / 2.0).sqrt();
    (1.0 - normal().cdf(z - shift)) + normal().cdf(-z - shift)
}

fn check_levels(alpha: f64, power: f64) -> Result<(), PowerError> {
    if !(alpha > 0.0 && alpha < 0.5) {
        return Err(input(
            "alpha",
            format!("{alpha} is not a significance level between 0 and 0.5 (0.05 is usual)"),
        ));
    }
    if !(power > alpha && power < 1.0) {
        return Err(input(
            "power",
            format!("{power} is not a power between alpha and 1 (0.8 is usual)"),
        ));
    }
    Ok(())
}

/// n per group for a standardised effect (bisection on the monotone power
/// function, to 1e-10 relative).
pub fn n_for_effect(effect: f64, alpha: f64, power: f64) -> Result<f64, PowerError> {
    check_levels(alpha, power)?;
    if !(effect.is_finite() && effect != 0.0) {
        return Err(input(
            "mde",
            "gives no effect: use a difference other than 0",
        ));
    }
    let (mut lo, mut hi) = (1e-9_f64, 1.0_f64);
    while power_of(effect, hi, alpha) < power {
        hi *= 2.0;
        if hi > MAX_N {
            return Err(input(
                "mde",
                format!(
                    "is so small that more than {MAX_N:e} respondents per group would be needed"
                ),
            ));
        }
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if power_of(effect, mid, alpha) < power {
            lo = mid;
        } else {
            hi = mid;
        }
        if (hi - lo) <= 1e-12 * hi {
            break;
        }
    }
    Ok(hi)
}

fn size(
    effect: f64,
    alpha: f64,
    power: f64,
    method: &'static str,
) -> Result<SampleSize, PowerError> {
    let n = n_for_effect(effect, alpha, power)?;
    Ok(SampleSize {
        // A root a hair above an integer from floating error is that integer.
        n_per_group: (n - 1e-9).ceil().max(1.0) as u64,
        n_exact: n,
        effect_size: effect.abs(),
        method,
    })
}

/// For a proportion (CSAT satisfied share, FCR): the baseline share and
/// the smallest difference to detect, as shares (0.70 and 0.05).
pub fn proportion(
    baseline: f64,
    mde: f64,
    alpha: f64,
    power: f64,
) -> Result<SampleSize, PowerError> {
    if !(baseline > 0.0 && baseline < 1.0) {
        return Err(input(
            "baseline",
            format!("{baseline} is not a share strictly between 0 and 1 (0.70 for 70%)"),
        ));
    }
    if !(mde.abs() > 0.0 && mde.abs() < 1.0) {
        return Err(input(
            "mde",
            format!("{mde} is not a difference of shares (0.05 for 5 points)"),
        ));
    }
    let target = baseline + mde;
    if !(0.0..=1.0).contains(&target) {
        return Err(input(
            "mde",
            format!("baseline + mde = {target} is not a share; use a smaller difference"),
        ));
    }
    let h = 2.0 * target.sqrt().asin() - 2.0 * baseline.sqrt().asin();
    size(h, alpha, power, METHOD_PROPORTION)
}

/// For NPS: the baseline's promoter and detractor shares and the smallest
/// difference to detect, in NPS points.
pub fn nps(
    promoters: f64,
    detractors: f64,
    mde_points: f64,
    alpha: f64,
    power: f64,
) -> Result<SampleSize, PowerError> {
    let share = |v: f64| (0.0..=1.0).contains(&v);
    if !(share(promoters) && share(detractors) && promoters + detractors <= 1.0) {
        return Err(input(
            "baseline",
            format!(
                "{promoters},{detractors} are not promoter and detractor shares summing to at most 1 (give e.g. 0.45,0.20)"
            ),
        ));
    }
    if !(mde_points.abs() > 0.0 && mde_points.abs() <= 200.0) {
        return Err(input(
            "mde",
            format!("{mde_points} is not a difference in NPS points (e.g. 5)"),
        ));
    }
    let variance = promoters + detractors - (promoters - detractors).powi(2);
    if variance <= 0.0 {
        return Err(input(
            "baseline",
            "every answer scores the same at this baseline: no variance to test against",
        ));
    }
    size(
        mde_points / 100.0 / variance.sqrt(),
        alpha,
        power,
        METHOD_NPS,
    )
}
