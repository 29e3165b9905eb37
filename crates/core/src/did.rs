//! Did the pilot move the metric? Difference-in-differences of the pilot's
//! customers against the control's, before and after the start (Angrist &
//! Pischke 2009, *Mostly Harmless Econometrics*, ch. 5): the interaction
//! b₃ of the OLS fit y = b₀ + b₁·pilot + b₂·after + b₃·pilot·after, which
//! equals (ȳ_PA − ȳ_PB) − (ȳ_CA − ȳ_CB). Subtracting the control's change
//! removes what moved for everybody (season, product, a price change).
//!
//! One customer's answers are not independent, so when any customer
//! answers in both periods the standard error is cluster-robust by customer
//! (CR1, Cameron & Miller 2015, "A Practitioner's Guide to Cluster-Robust
//! Inference", J. Human Resources 50(2)); when every customer answers in
//! one period only it is heteroskedasticity-robust HC1 (MacKinnon & White
//! 1985, J. Econometrics 29(3)). Both exactly as statsmodels computes them
//! by default (`OLS(y, X).fit(cov_type="cluster", cov_kwds={"groups":
//! customer})`, `fit(cov_type="HC1")`), with normal-based z, p and
//! interval; golden test against statsmodels in `tools/golden/did.json`.

use std::collections::BTreeMap;

use nalgebra::{Matrix4, Vector4};
use statrs::distribution::{ContinuousCDF, Normal};

/// The usual confidence level.
pub const DEFAULT_CONFIDENCE: f64 = 0.95;

/// Regressors: intercept, pilot, after, pilot·after.
const K: usize = 4;

/// One answer. For NPS pass y ∈ {−100, 0, 100} (promoter 100, detractor
/// −100) so the effect is in NPS points; for CSAT or FCR pass 1 or 0 so it
/// is a difference of shares.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DidObservation {
    /// The customer (account) the answer belongs to: the cluster.
    pub cluster: u32,
    pub pilot: bool,
    pub after: bool,
    pub y: f64,
}

/// How the standard error was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DidMethod {
    /// Some customer answered both before and after: CR1 by customer.
    ClusteredByCustomer,
    /// Every customer answered in one period only: HC1.
    Hc1,
}

impl DidMethod {
    /// The method and where it comes from, for the report.
    pub fn reference(self) -> &'static str {
        match self {
            DidMethod::ClusteredByCustomer => {
                "difference-in-differences, OLS y = b0 + b1·pilot + b2·after + b3·pilot·after (Angrist & Pischke 2009, Mostly Harmless Econometrics, ch. 5); standard error cluster-robust by customer, CR1 with G/(G−1)·(N−1)/(N−K) (Cameron & Miller 2015, A Practitioner's Guide to Cluster-Robust Inference, J. Human Resources 50(2)); as statsmodels OLS.fit(cov_type='cluster'), normal-based interval and p"
            }
            DidMethod::Hc1 => {
                "difference-in-differences, OLS y = b0 + b1·pilot + b2·after + b3·pilot·after (Angrist & Pischke 2009, Mostly Harmless Econometrics, ch. 5); heteroskedasticity-robust standard error HC1, N/(N−K) (MacKinnon & White 1985, J. Econometrics 29(3)); as statsmodels OLS.fit(cov_type='HC1'), normal-based interval and p"
            }
        }
    }
}

/// One of the four groups of answers.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct DidCell {
    /// Answers.
    pub n: u64,
    pub mean: f64,
    /// Distinct customers among them.
    pub customers: u64,
}

/// The four cells the effect is the difference of differences of.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct DidCells {
    pub pilot_before: DidCell,
    pub pilot_after: DidCell,
    pub control_before: DidCell,
    pub control_after: DidCell,
}

impl DidCells {
    /// All answers.
    pub fn n(&self) -> u64 {
        self.pilot_before.n + self.pilot_after.n + self.control_before.n + self.control_after.n
    }
}

/// The pilot's effect with its uncertainty.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DidEstimate {
    /// b₃, in the unit of y (NPS points, or a share).
    pub effect: f64,
    pub se: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    /// Two-sided, normal.
    pub p_value: f64,
    /// effect / se.
    pub z: f64,
    /// The level of `ci_low`..`ci_high`.
    pub confidence: f64,
    pub method: DidMethod,
    /// Distinct customers.
    pub clusters: usize,
    pub cells: DidCells,
}

impl DidEstimate {
    /// The method and its references.
    pub fn reference(&self) -> &'static str {
        self.method.reference()
    }
}

/// Data a difference-in-differences cannot be computed from.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DidError {
    #[error(
        "no answers in {0}: the pilot and the control each need answers before and after the start"
    )]
    EmptyCell(&'static str),
    #[error("only {0} customer(s): a cluster-robust error needs at least 2")]
    TooFewClusters(usize),
    #[error("only {0} answers: at least 5 are needed for 4 coefficients and their error")]
    TooFewObservations(usize),
    #[error("answer {0} is not a finite number")]
    NotFinite(usize),
    #[error("confidence {0} is not a level between 0 and 1 (0.95 is usual)")]
    Confidence(f64),
    #[error("the design matrix is singular")]
    Singular,
    #[error("every answer equals its group's mean: no variation to estimate an error from")]
    NoVariation,
}

const CELL_NAMES: [&str; 4] = [
    "pilot_before",
    "pilot_after",
    "control_before",
    "control_after",
];

fn cell_index(o: &DidObservation) -> usize {
    match (o.pilot, o.after) {
        (true, false) => 0,
        (true, true) => 1,
        (false, false) => 2,
        (false, true) => 3,
    }
}

fn regressors(o: &DidObservation) -> Vector4<f64> {
    let p = f64::from(u8::from(o.pilot));
    let a = f64::from(u8::from(o.after));
    Vector4::new(1.0, p, a, p * a)
}

/// What is kept per customer: which cells they answered in (bits by
/// [`cell_index`]) and, in the second pass, their score Σ xᵢ·eᵢ.
#[derive(Default)]
struct Cluster {
    cells: u8,
    score: Vector4<f64>,
}

const BEFORE: u8 = 0b0101;
const AFTER: u8 = 0b1010;

fn critical(confidence: f64) -> Result<f64, DidError> {
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(DidError::Confidence(confidence));
    }
    Ok(Normal::standard().inverse_cdf(1.0 - (1.0 - confidence) / 2.0))
}

/// The pilot's effect at `confidence` ([`DEFAULT_CONFIDENCE`] usually).
/// Two passes over the answers; memory grows with the number of customers.
pub fn estimate(observations: &[DidObservation], confidence: f64) -> Result<DidEstimate, DidError> {
    let q = critical(confidence)?;

    // Pass 1: cell counts and sums, and which cells each customer is in.
    let mut n = [0u64; 4];
    let mut sum = [0.0f64; 4];
    let mut clusters: BTreeMap<u32, Cluster> = BTreeMap::new();
    for (i, o) in observations.iter().enumerate() {
        if !o.y.is_finite() {
            return Err(DidError::NotFinite(i));
        }
        let c = cell_index(o);
        n[c] += 1;
        sum[c] += o.y;
        clusters.entry(o.cluster).or_default().cells |= 1 << c;
    }
    if let Some(c) = n.iter().position(|&k| k == 0) {
        return Err(DidError::EmptyCell(CELL_NAMES[c]));
    }
    let total: u64 = n.iter().sum();
    if total <= K as u64 {
        return Err(DidError::TooFewObservations(total as usize));
    }
    let g = clusters.len();
    let method = if clusters
        .values()
        .any(|c| c.cells & BEFORE != 0 && c.cells & AFTER != 0)
    {
        DidMethod::ClusteredByCustomer
    } else {
        DidMethod::Hc1
    };
    if method == DidMethod::ClusteredByCustomer && g < 2 {
        return Err(DidError::TooFewClusters(g));
    }

    // X'X and X'y from the cells (each cell shares one row of X).
    let mut xtx = Matrix4::<f64>::zeros();
    let mut xty = Vector4::<f64>::zeros();
    for c in 0..4 {
        let x = regressors(&DidObservation {
            cluster: 0,
            pilot: c < 2,
            after: c % 2 == 1,
            y: 0.0,
        });
        xtx += x * x.transpose() * n[c] as f64;
        xty += x * sum[c];
    }
    let bread = xtx.try_inverse().ok_or(DidError::Singular)?;
    let b = bread * xty;

    // Pass 2: residuals into the meat of the sandwich.
    let mut meat = Matrix4::<f64>::zeros();
    for o in observations {
        let x = regressors(o);
        let e = o.y - x.dot(&b);
        match method {
            DidMethod::ClusteredByCustomer => {
                if let Some(c) = clusters.get_mut(&o.cluster) {
                    c.score += x * e;
                }
            }
            DidMethod::Hc1 => meat += x * x.transpose() * (e * e),
        }
    }
    let nf = total as f64;
    let kf = K as f64;
    let factor = match method {
        DidMethod::ClusteredByCustomer => {
            for c in clusters.values() {
                meat += c.score * c.score.transpose();
            }
            let gf = g as f64;
            gf / (gf - 1.0) * (nf - 1.0) / (nf - kf)
        }
        DidMethod::Hc1 => nf / (nf - kf),
    };
    let cov = bread * meat * bread * factor;
    let se = cov[(3, 3)].sqrt();
    if !(se.is_finite() && se > 0.0) {
        return Err(DidError::NoVariation);
    }
    let effect = b[3];
    let z = effect / se;
    let p_value = 2.0 * Normal::standard().cdf(-z.abs());

    let customers = |c: usize| {
        clusters
            .values()
            .filter(|k| k.cells & (1 << c) != 0)
            .count() as u64
    };
    let cell = |c: usize| DidCell {
        n: n[c],
        mean: sum[c] / n[c] as f64,
        customers: customers(c),
    };
    Ok(DidEstimate {
        effect,
        se,
        ci_low: effect - q * se,
        ci_high: effect + q * se,
        p_value,
        z,
        confidence,
        method,
        clusters: g,
        cells: DidCells {
            pilot_before: cell(0),
            pilot_after: cell(1),
            control_before: cell(2),
            control_after: cell(3),
        },
    })
}

/// How many more answers in total would make the interval at `confidence`
/// exclude zero, if the effect stayed at its estimate. Assumes the new
/// answers fall into the four cells (and customers) in the same shares as
/// so far, so the standard error shrinks as 1/√N: the interval excludes
/// zero once N' = N·(z·se/|effect|)², and the answer is ⌈N' − N⌉ (at
/// least 1). `None` when the effect is exactly 0 (no amount of data
/// settles it), when the interval already excludes zero, or when the
/// confidence is not a level. A planning figure, not a promise: the effect
/// itself will move as answers come in. Saturates at `u64::MAX`.
pub fn responses_to_settle(estimate: &DidEstimate, confidence: f64) -> Option<u64> {
    let q = critical(confidence).ok()?;
    let effect = estimate.effect.abs();
    if effect == 0.0 || !effect.is_finite() || effect > q * estimate.se {
        return None;
    }
    let n = estimate.cells.n() as f64;
    let needed = n * (q * estimate.se / effect).powi(2);
    // `as` saturates: an effect this small needs more than any pilot has.
    Some(((needed - n).ceil() as u64).max(1))
}
