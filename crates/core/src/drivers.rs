//! Key drivers: which rated aspects ("drivers": delivery, support, price…)
//! move an outcome rating (NPS 0–10 or CSAT 1–5, taken as a number).
//!
//! Everything is computed from a [`MomentSummary`] — n, Σv and Σv·vᵀ over
//! the complete rows — so that a query costs the same over ten thousand rows
//! as over ten million, and per-day summaries merge (and retract) exactly.
//!
//! * Importance is Johnson's relative weight (Johnson 2000, "A heuristic
//!   method for estimating the relative weight of predictor variables in
//!   multiple regression", Multivariate Behavioral Research 35(1):1–19): the
//!   share of the regression R² each driver accounts for, robust to drivers
//!   that are correlated with each other (where regression coefficients are
//!   not). See [`relative_weights`].
//! * Its 95% interval is a normal-theory parametric bootstrap from the moments
//!   (Wishart draws), as there are no rows at query time. See [`key_drivers`].

use nalgebra::{Cholesky, DMatrix, SymmetricEigen};
use serde::Serialize;
use thiserror::Error;

use crate::summary::Mergeable;

/// Most variables (outcome plus drivers) a summary holds; bounds the memory
/// a caller can ask for and the p³ cost of each bootstrap replicate.
pub const MAX_VARIABLES: usize = 32;

/// Most bootstrap replicates a caller may ask for (bounds time and memory).
pub const MAX_REPLICATES: usize = 20_000;

/// Default number of bootstrap replicates: a query with 10 drivers takes
/// about 7 ms in a release build (400 replicates: about 3 ms), the cost of
/// each replicate being mostly one 10×10 eigen-decomposition.
pub const DEFAULT_REPLICATES: usize = 1_000;

/// Default bootstrap seed: fixed, so the same data always gets the same
/// interval (and every query uses the same random stream).
pub const DEFAULT_SEED: u64 = 20_000_101;

/// Eigenvalues of the drivers' correlation matrix at or below this fraction
/// of the largest are taken as exactly zero: the drivers are then perfectly
/// collinear along that direction and share its weight (pseudo-inverse).
/// Rounding leaves exact collinearity at about 1e-16; 1e-9 keeps real but
/// strong correlations (a correlation of 0.99999 gives 1e-5) untouched.
pub const EIGENVALUE_TOLERANCE: f64 = 1e-9;

/// A variance at or below this fraction of the variable's mean square is
/// zero (everyone gave the same rating; the raw-sums formula can leave a
/// rounding residue at very large n).
const ZERO_VARIANCE_TOLERANCE: f64 = 1e-12;

/// Iteration cap for one symmetric eigen-decomposition (nalgebra's implicit
/// QR needs a few per eigenvalue; p ≤ 31 converges in well under 1,000).
const MAX_EIGEN_ITERATIONS: usize = 1_000;

/// Cap on Marsaglia–Tsang rejection rounds for one gamma draw; each round
/// accepts with probability above 0.95, so the cap is never reached in
/// practice (the draw then falls back to shape − ⅓, near the median).
const MAX_GAMMA_ROUNDS: usize = 100;

/// Differences from a median up to this count as ties in [`Quadrant`]: two
/// exchangeable drivers get weights equal up to rounding, which must not
/// split them between quadrants.
const QUADRANT_TIE: f64 = 1e-9;

/// Largest integer every f64 represents exactly; counts beyond it are refused.
const EXACT_INTEGER_LIMIT: f64 = 9_007_199_254_740_992.0;

/// Provenance string stored with every result.
pub const METHOD: &str = "Johnson's relative weights (Johnson 2000) from the correlation matrix of complete rows; 95% percentile interval from a normal-theory parametric bootstrap (Wishart draws from the moment summary, fixed seed)";

/// Why moments could not be kept or key drivers not computed.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum DriverError {
    /// A summary holds 1 to [`MAX_VARIABLES`] variables.
    #[error("a summary holds 1 to {MAX_VARIABLES} variables, not {0}")]
    VariableCount(usize),
    /// A row or summary of another width than the summary's.
    #[error("expected {expected} variables, got {found}")]
    ShapeMismatch { expected: usize, found: usize },
    /// The summary was merged with one of another width (through
    /// [`Mergeable::merge`], which cannot report it) and is unusable.
    #[error("the summary was merged with a summary of other variables")]
    Inconsistent,
    /// A value that is NaN or infinite.
    #[error("variable {index} is not a finite number")]
    NotFinite { index: usize },
    /// A flat encoding that is not one [`MomentSummary::to_flat`] makes.
    #[error("not an encoded moment summary: {0}")]
    Encoding(&'static str),
    /// A projection index out of range or repeated.
    #[error("variable index {index} is out of range or repeated")]
    Projection { index: usize },
    /// Fewer complete rows than the analysis needs (n ≥ variables + 2).
    /// Show "not enough complete responses (n of needed)".
    #[error("{n} complete rows; at least {needed} are needed")]
    TooFewRows { n: i64, needed: i64 },
    /// A variable everyone rated the same. For the outcome (index 0) show
    /// "everyone gave the same rating: there is nothing to explain".
    #[error("variable {index} has no variance")]
    ZeroVariance { index: usize },
    /// Every driver was rated the same by everyone: nothing can be ranked.
    #[error("no driver varies")]
    NoVaryingDriver,
    /// The number of names does not match the number of drivers.
    #[error("{names} driver names for {drivers} drivers")]
    NameCount { names: usize, drivers: usize },
    /// Bootstrap replicates must be between 1 and [`MAX_REPLICATES`].
    #[error("bootstrap replicates must be between 1 and {MAX_REPLICATES}, not {0}")]
    Replicates(usize),
    /// Not a correlation matrix (square, symmetric, unit diagonal, finite,
    /// at least 2×2 with the outcome first).
    #[error("not a correlation matrix with an outcome and at least one driver")]
    NotCorrelation,
    /// An eigen-decomposition did not converge within its iteration cap.
    #[error("the eigen-decomposition did not converge")]
    NoConvergence,
}

/// n, Σvᵢ and Σvᵢ·vⱼ (i ≤ j) over complete rows of p variables, the outcome
/// first and then the drivers in a fixed order.
///
/// A commutative monoid like the other summaries, and a group: with rating
/// data (small integers) every sum is an integer held exactly in f64 (up to
/// 2⁵³), so merging in any order and retracting ([`MomentSummary::retract`])
/// are exact. [`Mergeable::empty`] is a summary of no shape yet, which takes
/// the shape of the first row or summary added to it.
#[derive(Debug, Clone, PartialEq)]
pub struct MomentSummary {
    variables: usize,
    n: i64,
    sums: Vec<f64>,
    /// Upper triangle of Σv·vᵀ including the diagonal, row by row.
    products: Vec<f64>,
    /// Set when [`Mergeable::merge`] met a summary of another width.
    inconsistent: bool,
}

/// Number of entries in the upper triangle (with diagonal) of a p×p matrix.
fn triangle_len(p: usize) -> usize {
    p * (p + 1) / 2
}

/// Position of (i, j), i ≤ j, in the row-by-row upper triangle of a p×p matrix.
fn triangle_index(p: usize, i: usize, j: usize) -> usize {
    i * (2 * p - i + 1) / 2 + (j - i)
}

impl MomentSummary {
    /// The summary of no rows of `variables` variables (outcome first).
    pub fn new(variables: usize) -> Result<Self, DriverError> {
        if variables == 0 || variables > MAX_VARIABLES {
            return Err(DriverError::VariableCount(variables));
        }
        Ok(Self {
            variables,
            n: 0,
            sums: vec![0.0; variables],
            products: vec![0.0; triangle_len(variables)],
            inconsistent: false,
        })
    }

    /// Number of variables (0 for the shapeless [`Mergeable::empty`]).
    pub fn variables(&self) -> usize {
        self.variables
    }

    /// Number of rows (negative only in a pure retraction delta).
    pub fn n(&self) -> i64 {
        self.n
    }

    /// Σ of each variable, outcome first.
    pub fn sums(&self) -> &[f64] {
        &self.sums
    }

    /// Σvᵢ·vⱼ (in either order); `None` for an index out of range.
    pub fn product_sum(&self, i: usize, j: usize) -> Option<f64> {
        let (i, j) = if i <= j { (i, j) } else { (j, i) };
        (j < self.variables)
            .then(|| {
                self.products
                    .get(triangle_index(self.variables, i, j))
                    .copied()
            })
            .flatten()
    }

    fn usable(&self) -> Result<(), DriverError> {
        if self.inconsistent {
            Err(DriverError::Inconsistent)
        } else {
            Ok(())
        }
    }

    /// Adopts the width of a first row if the summary has no shape yet.
    fn shape_for(&mut self, width: usize) -> Result<(), DriverError> {
        self.usable()?;
        if self.variables == 0 {
            *self = Self::new(width)?;
        }
        if width != self.variables {
            return Err(DriverError::ShapeMismatch {
                expected: self.variables,
                found: width,
            });
        }
        Ok(())
    }

    /// Records one complete row (outcome first). Refuses a row of another
    /// width or with a non-finite value, leaving the summary unchanged.
    pub fn add(&mut self, row: &[f64]) -> Result<(), DriverError> {
        self.accumulate(row, 1.0)
    }

    /// Takes away a row [`Self::add`] recorded (a retraction: a replaced or
    /// erased answer), exactly for integer ratings.
    pub fn remove(&mut self, row: &[f64]) -> Result<(), DriverError> {
        self.accumulate(row, -1.0)
    }

    fn accumulate(&mut self, row: &[f64], sign: f64) -> Result<(), DriverError> {
        if let Some(index) = row.iter().position(|v| !v.is_finite()) {
            return Err(DriverError::NotFinite { index });
        }
        self.shape_for(row.len())?;
        let p = self.variables;
        let mut k = 0;
        for i in 0..p {
            self.sums[i] += sign * row[i];
            for j in i..p {
                self.products[k] += sign * (row[i] * row[j]);
                k += 1;
            }
        }
        self.n += if sign < 0.0 { -1 } else { 1 };
        Ok(())
    }

    /// Records a row if every value is present (a row is complete or it is
    /// left out: pairwise deletion would give a correlation matrix of mixed
    /// samples that need not be positive semi-definite). Returns whether the
    /// row was recorded.
    pub fn add_if_complete(&mut self, row: &[Option<f64>]) -> Result<bool, DriverError> {
        self.shape_for(row.len())?;
        let complete: Option<Vec<f64>> = row.iter().copied().collect();
        match complete {
            Some(values) => self.add(&values).map(|()| true),
            None => Ok(false),
        }
    }

    /// The summary with every sum negated: merging it retracts these rows.
    pub fn negated(&self) -> Self {
        Self {
            variables: self.variables,
            n: -self.n,
            sums: self.sums.iter().map(|v| -v).collect(),
            products: self.products.iter().map(|v| -v).collect(),
            inconsistent: self.inconsistent,
        }
    }

    /// Adds `other` in, refusing (and leaving `self` unchanged) if its width
    /// differs. A shapeless empty summary on either side is the identity.
    pub fn try_merge(&mut self, other: &Self) -> Result<(), DriverError> {
        self.usable()?;
        other.usable()?;
        if other.variables == 0 {
            return Ok(());
        }
        if self.variables == 0 {
            *self = other.clone();
            return Ok(());
        }
        if other.variables != self.variables {
            return Err(DriverError::ShapeMismatch {
                expected: self.variables,
                found: other.variables,
            });
        }
        self.n += other.n;
        for (a, b) in self.sums.iter_mut().zip(&other.sums) {
            *a += b;
        }
        for (a, b) in self.products.iter_mut().zip(&other.products) {
            *a += b;
        }
        Ok(())
    }

    /// Takes `other`'s rows out again (a replaced or erased response).
    pub fn retract(&mut self, other: &Self) -> Result<(), DriverError> {
        self.try_merge(&other.negated())
    }

    /// The summary of a subset of the variables, in the order given (put the
    /// outcome's index 0 first to keep it the outcome). Exact: a row complete
    /// for all variables is complete for any subset. (Rows complete for the
    /// subset but not for all were never recorded, so a subset summary from
    /// raw rows can hold more rows than the projection.)
    pub fn project(&self, indices: &[usize]) -> Result<Self, DriverError> {
        self.usable()?;
        for (k, &index) in indices.iter().enumerate() {
            if index >= self.variables || indices[..k].contains(&index) {
                return Err(DriverError::Projection { index });
            }
        }
        let mut out = Self::new(indices.len())?;
        out.n = self.n;
        let p = self.variables;
        let mut k = 0;
        for (a, &i) in indices.iter().enumerate() {
            out.sums[a] = self.sums[i];
            for &j in &indices[a..] {
                out.products[k] = self.products[triangle_index(p, i.min(j), i.max(j))];
                k += 1;
            }
        }
        Ok(out)
    }

    /// Flat encoding for storage: `[p, n, Σv (p values), Σv·vᵀ upper
    /// triangle row by row (p(p+1)/2 values)]`; `[0, 0]` for the shapeless
    /// empty summary. Refused for an [`DriverError::Inconsistent`] summary.
    pub fn to_flat(&self) -> Result<Vec<f64>, DriverError> {
        self.usable()?;
        let mut out = Vec::with_capacity(2 + self.sums.len() + self.products.len());
        out.push(self.variables as f64);
        out.push(self.n as f64);
        out.extend_from_slice(&self.sums);
        out.extend_from_slice(&self.products);
        Ok(out)
    }

    /// Decodes [`MomentSummary::to_flat`]. Checks the length against the
    /// variable count before allocating, and that counts are whole numbers
    /// and every value finite; never panics.
    pub fn from_flat(flat: &[f64]) -> Result<Self, DriverError> {
        let [p, n, rest @ ..] = flat else {
            return Err(DriverError::Encoding("shorter than its header"));
        };
        let whole = |v: f64| v.is_finite() && v.fract() == 0.0 && v.abs() < EXACT_INTEGER_LIMIT;
        if !whole(*p) || *p < 0.0 || *p > MAX_VARIABLES as f64 {
            return Err(DriverError::Encoding("variable count"));
        }
        if !whole(*n) {
            return Err(DriverError::Encoding("row count"));
        }
        let variables = *p as usize;
        if rest.len() != variables + triangle_len(variables) {
            return Err(DriverError::Encoding(
                "length does not match the variable count",
            ));
        }
        if rest.iter().any(|v| !v.is_finite()) {
            return Err(DriverError::Encoding("a sum is not finite"));
        }
        if variables == 0 {
            return if *n == 0.0 {
                Ok(Self::empty())
            } else {
                Err(DriverError::Encoding("rows without variables"))
            };
        }
        let (sums, products) = rest.split_at(variables);
        Ok(Self {
            variables,
            n: *n as i64,
            sums: sums.to_vec(),
            products: products.to_vec(),
            inconsistent: false,
        })
    }

    /// Mean of each variable (outcome first); `None` without rows.
    pub fn means(&self) -> Option<Vec<f64>> {
        if self.inconsistent || self.n <= 0 {
            return None;
        }
        let n = self.n as f64;
        Some(self.sums.iter().map(|s| s / n).collect())
    }

    /// Corrected sum of squares and products Σ(vᵢ − v̄ᵢ)(vⱼ − v̄ⱼ).
    fn centred(&self, i: usize, j: usize) -> f64 {
        let (i, j) = if i <= j { (i, j) } else { (j, i) };
        let raw = self.products[triangle_index(self.variables, i, j)];
        raw - self.sums[i] * (self.sums[j] / self.n as f64)
    }

    /// Whether variable `i` varies over the rows (n ≥ 2 assumed).
    fn varies(&self, i: usize) -> bool {
        let mean_square = self.products[triangle_index(self.variables, i, i)] / self.n as f64;
        self.centred(i, i) > ZERO_VARIANCE_TOLERANCE * mean_square
    }

    fn enough_rows(&self) -> Result<(), DriverError> {
        self.usable()?;
        let needed = self.variables as i64 + 2;
        if self.variables == 0 || self.n < needed {
            return Err(DriverError::TooFewRows { n: self.n, needed });
        }
        Ok(())
    }

    /// Sample covariance matrix (n − 1 denominator). Refused with fewer than
    /// p + 2 rows ([`DriverError::TooFewRows`]): a regression of the outcome
    /// on p − 1 drivers then has under 2 residual degrees of freedom.
    pub fn covariance(&self) -> Result<DMatrix<f64>, DriverError> {
        self.enough_rows()?;
        let p = self.variables;
        let denominator = (self.n - 1) as f64;
        Ok(DMatrix::from_fn(p, p, |i, j| {
            self.centred(i, j) / denominator
        }))
    }

    /// Correlation matrix (outcome row and column 0), with an exact unit
    /// diagonal and off-diagonal values clamped to [−1, 1]. Refused with too
    /// few rows, like [`MomentSummary::covariance`], or when a variable has
    /// no variance ([`DriverError::ZeroVariance`], the first such index).
    pub fn correlation(&self) -> Result<DMatrix<f64>, DriverError> {
        self.enough_rows()?;
        if let Some(index) = (0..self.variables).find(|&i| !self.varies(i)) {
            return Err(DriverError::ZeroVariance { index });
        }
        let p = self.variables;
        let scale: Vec<f64> = (0..p).map(|i| self.centred(i, i).sqrt()).collect();
        Ok(DMatrix::from_fn(p, p, |i, j| {
            if i == j {
                1.0
            } else {
                (self.centred(i, j) / (scale[i] * scale[j])).clamp(-1.0, 1.0)
            }
        }))
    }
}

impl Mergeable for MomentSummary {
    /// No rows and no shape yet: the identity for any width.
    fn empty() -> Self {
        Self {
            variables: 0,
            n: 0,
            sums: Vec::new(),
            products: Vec::new(),
            inconsistent: false,
        }
    }

    /// As [`MomentSummary::try_merge`]; merging summaries of different widths
    /// is a caller's error that this signature cannot report, so it marks the
    /// summary inconsistent and every later use reports
    /// [`DriverError::Inconsistent`] rather than mixing variables.
    fn merge(&mut self, other: &Self) {
        if self.try_merge(other).is_err() {
            self.inconsistent = true;
        }
    }
}

/// Johnson's relative weights of the drivers, and the R² they share.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RelativeWeights {
    /// R² of the least-squares regression of the outcome on all drivers.
    pub r2: f64,
    /// One raw weight per driver (in the correlation matrix's order); each
    /// is ≥ 0 and they add up to `r2`.
    pub raw: Vec<f64>,
}

/// Johnson's (2000) relative weights from a correlation matrix whose row and
/// column 0 are the outcome and the rest the drivers.
///
/// With R_xx = V Λ Vᵀ (symmetric eigen-decomposition), Λ½ = V Λ^½ Vᵀ is the
/// symmetric square root: the correlations of the drivers with their closest
/// orthogonal counterparts Z. β = Λ½⁻¹ r_xy regresses the outcome on Z, and
/// driver j's raw weight is Σₖ Λ½\[j,k\]² βₖ². Σ raw = βᵀβ = r_xyᵀ R_xx⁻¹ r_xy
/// = R². With one driver the weight is r².
///
/// Perfectly collinear drivers: eigenvalues at or below
/// [`EIGENVALUE_TOLERANCE`] × the largest are set to zero and the inverse is
/// the pseudo-inverse, so R² is that of the least-squares fit and
/// duplicated drivers split their weight evenly; nothing is NaN.
pub fn relative_weights(correlation: &DMatrix<f64>) -> Result<RelativeWeights, DriverError> {
    let p = correlation.nrows();
    let symmetric = (0..p).all(|i| {
        (0..p).all(|j| {
            let (a, b) = (correlation[(i, j)], correlation[(j, i)]);
            a.is_finite() && (a - b).abs() <= 1e-12 && a.abs() <= 1.0 + 1e-12
        })
    });
    let unit_diagonal = (0..p).all(|i| (correlation[(i, i)] - 1.0).abs() <= 1e-9);
    if p < 2 || correlation.ncols() != p || !symmetric || !unit_diagonal {
        return Err(DriverError::NotCorrelation);
    }
    johnson(correlation).ok_or(DriverError::NoConvergence)
}

/// [`relative_weights`] without the checks; `None` if the eigen-decomposition
/// does not converge within [`MAX_EIGEN_ITERATIONS`].
fn johnson(correlation: &DMatrix<f64>) -> Option<RelativeWeights> {
    let k = correlation.nrows() - 1;
    let rxx = correlation.view((1, 1), (k, k)).into_owned();
    let rxy: Vec<f64> = (1..=k).map(|j| correlation[(j, 0)]).collect();
    let mut raw = vec![0.0; k];
    let r2 = johnson_steps(rxx, &rxy, &mut raw)?;
    Some(RelativeWeights { r2, raw })
}

/// Johnson's steps on the drivers' correlation matrix `rxx` and their
/// correlations with the outcome `rxy`: writes the raw weights into `raw`
/// and returns R² (allocation-light: the bootstrap calls it B times).
fn johnson_steps(rxx: DMatrix<f64>, rxy: &[f64], raw: &mut [f64]) -> Option<f64> {
    let k = rxy.len();
    let eigen = SymmetricEigen::try_new(rxx, f64::EPSILON, MAX_EIGEN_ITERATIONS)?;
    let v = eigen.eigenvectors;
    let floor = EIGENVALUE_TOLERANCE * eigen.eigenvalues.max().max(0.0);
    // v_root = V Λ^½ (columns scaled); scaled = Λ^-½ Vᵀ r_xy (pseudo-inverse:
    // zero where Λ is clamped).
    let mut v_root = v.clone();
    let mut scaled = [0.0; MAX_VARIABLES];
    for (m, mut column) in v_root.column_iter_mut().enumerate() {
        let l = eigen.eigenvalues[m];
        let root = if l > floor { l.sqrt() } else { 0.0 };
        let along: f64 = column.iter().zip(rxy).map(|(a, b)| a * b).sum();
        scaled[m] = if root > 0.0 { along / root } else { 0.0 };
        column *= root;
    }
    // β = V · scaled; Λ½ = V Λ^½ Vᵀ.
    let mut beta_sq = [0.0; MAX_VARIABLES];
    for (j, b) in beta_sq.iter_mut().take(k).enumerate() {
        let beta: f64 = (0..k).map(|m| v[(j, m)] * scaled[m]).sum();
        *b = beta * beta;
    }
    let half = v_root * v.transpose();
    for (j, w) in raw.iter_mut().enumerate() {
        *w = (0..k)
            .map(|m| half[(j, m)] * half[(j, m)] * beta_sq[m])
            .sum();
    }
    Some(beta_sq.iter().sum())
}

/// How many bootstrap replicates to draw, and from which seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BootstrapOptions {
    /// 1 to [`MAX_REPLICATES`]; default [`DEFAULT_REPLICATES`].
    pub replicates: usize,
    /// Default [`DEFAULT_SEED`].
    pub seed: u64,
}

impl Default for BootstrapOptions {
    fn default() -> Self {
        Self {
            replicates: DEFAULT_REPLICATES,
            seed: DEFAULT_SEED,
        }
    }
}

/// Where a driver sits on the importance–performance chart.
///
/// Importance is the raw weight, performance the driver's mean rating; both
/// are compared with the median over the analysed drivers (the mean of the
/// two middle values for an even count). "High" importance is above the
/// median, "low" performance below it, each by more than 1e-9 (closer is a
/// tie: exchangeable drivers get weights equal up to rounding); so a driver
/// on a median counts as low importance and high performance (with one
/// driver: `maintain`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Quadrant {
    /// High importance, low performance: improve these first.
    FixFirst,
    /// High importance, high performance: keep up the good work.
    KeepUp,
    /// Low importance, low performance: watch, no priority.
    Monitor,
    /// Low importance, high performance: maintain, possibly over-invested.
    Maintain,
}

/// One driver's importance with its interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriverWeight {
    pub name: String,
    /// Johnson's raw relative weight: the part of R² this driver accounts for.
    pub raw_weight: f64,
    /// 100 · raw / R², the driver's share of the explained variance in %;
    /// `None` when R² is 0 (no driver explains anything).
    pub rescaled_pct: Option<f64>,
    /// 95% bootstrap percentile interval of `raw_weight`.
    pub ci_low: f64,
    pub ci_high: f64,
    /// Mean rating of the driver over the complete rows.
    pub mean: f64,
    pub quadrant: Quadrant,
}

/// The key-driver analysis of one selection of responses.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyDrivers {
    /// Complete rows analysed.
    pub n: i64,
    /// R² of the outcome on the analysed drivers, with its bootstrap interval.
    pub r2: f64,
    pub r2_ci_low: f64,
    pub r2_ci_high: f64,
    /// Analysed drivers, by raw weight descending (ties keep input order).
    pub drivers: Vec<DriverWeight>,
    /// Drivers every complete row rated the same, left out: they cannot
    /// explain differences ("everyone rated price the same").
    pub constant_drivers: Vec<String>,
    /// Provenance: [`METHOD`].
    pub method: &'static str,
    /// Replicates the intervals rest on: those requested, less any whose
    /// drawn matrix had a zero variance (probability zero) or whose
    /// eigen-decomposition hit its iteration cap.
    pub bootstrap_replicates: usize,
    pub bootstrap_seed: u64,
}

/// Key drivers of the outcome (variable 0 of `moments`) among the drivers
/// (variables 1.., named by `driver_names` in that order).
///
/// Drivers with no variance are left out and listed in `constant_drivers`;
/// an outcome with no variance is [`DriverError::ZeroVariance`] (index 0),
/// no varying driver [`DriverError::NoVaryingDriver`], fewer than (analysed
/// variables + 2) rows [`DriverError::TooFewRows`].
///
/// Weights: [`relative_weights`] of the correlation matrix.
///
/// Intervals: a **normal-theory parametric bootstrap**. Were the rows
/// multivariate normal, (n − 1)·S would be Wishart W_p(Σ, n − 1); so each
/// replicate draws S* ~ W_p(Σ̂/(n − 1), n − 1), recomputes the weights from
/// S*'s correlation matrix, and the interval is the 2.5th–97.5th percentile
/// of the replicates (linear interpolation, numpy's default). Weights depend
/// only on correlations, so the draws use the correlation matrix as Σ̂ (the
/// same distribution of correlations). Draws: Bartlett's decomposition
/// (S* = G A Aᵀ Gᵀ with G Gᵀ = Σ̂, A lower triangular, Aᵢᵢ² ~ χ²(n − 1 − i),
/// Aᵢⱼ ~ N(0, 1) below the diagonal; G is the Cholesky factor, or the
/// eigen square root when Σ̂ is singular), with chi-square draws by
/// Marsaglia & Tsang (2000) and normals by Box–Muller, from a seeded
/// `fastrand` generator: the same moments and options always give the same
/// intervals. Rating data are discrete, not normal: in simulations with 1–5
/// drivers and a 0–10 outcome (n = 200 and 2,000, 1,000 repetitions each)
/// the 95% intervals covered the true weights 94–96% of the time, and
/// 92.2–94.9% with strong ceiling effects, where the normal theory
/// understates the spread by about a tenth; see `tests/it/drivers.rs`.
///
/// Cost: `replicates` × O(p³), independent of n; memory `replicates` × p.
pub fn key_drivers<S: AsRef<str>>(
    moments: &MomentSummary,
    driver_names: &[S],
    options: &BootstrapOptions,
) -> Result<KeyDrivers, DriverError> {
    moments.usable()?;
    let drivers = moments.variables().saturating_sub(1);
    if driver_names.len() != drivers || drivers == 0 {
        return Err(DriverError::NameCount {
            names: driver_names.len(),
            drivers,
        });
    }
    if options.replicates == 0 || options.replicates > MAX_REPLICATES {
        return Err(DriverError::Replicates(options.replicates));
    }
    let all_needed = moments.variables() as i64 + 2;
    if moments.n() < 2 {
        return Err(DriverError::TooFewRows {
            n: moments.n(),
            needed: all_needed,
        });
    }
    if !moments.varies(0) {
        return Err(DriverError::ZeroVariance { index: 0 });
    }
    let (varying, constant): (Vec<usize>, Vec<usize>) =
        (1..=drivers).partition(|&i| moments.varies(i));
    if varying.is_empty() {
        return Err(DriverError::NoVaryingDriver);
    }
    let kept: Vec<usize> = std::iter::once(0).chain(varying.iter().copied()).collect();
    let analysed = moments.project(&kept)?;
    let correlation = analysed.correlation()?;
    let weights = johnson(&correlation).ok_or(DriverError::NoConvergence)?;
    let means = analysed.means().ok_or(DriverError::TooFewRows {
        n: analysed.n(),
        needed: kept.len() as i64 + 2,
    })?;
    let mut draws = wishart_bootstrap(&correlation, analysed.n(), options)?;

    let name = |i: usize| driver_names[i - 1].as_ref().to_string();
    let importance_median = median(&weights.raw);
    let performance_median = median(&means[1..]);
    let r2 = weights.r2;
    let mut rows: Vec<DriverWeight> = varying
        .iter()
        .zip(draws.raw.iter_mut())
        .enumerate()
        .map(|(k, (&i, replicates))| {
            let raw = weights.raw[k];
            let mean = means[k + 1];
            let (ci_low, ci_high) = percentile_interval(replicates);
            DriverWeight {
                name: name(i),
                raw_weight: raw,
                rescaled_pct: (r2 > 0.0).then(|| 100.0 * raw / r2),
                ci_low,
                ci_high,
                mean,
                quadrant: quadrant(
                    raw - importance_median > QUADRANT_TIE,
                    performance_median - mean <= QUADRANT_TIE,
                ),
            }
        })
        .collect();
    rows.sort_by(|a, b| b.raw_weight.total_cmp(&a.raw_weight));
    let (r2_ci_low, r2_ci_high) = percentile_interval(&mut draws.r2);
    Ok(KeyDrivers {
        n: analysed.n(),
        r2,
        r2_ci_low,
        r2_ci_high,
        drivers: rows,
        constant_drivers: constant.into_iter().map(name).collect(),
        method: METHOD,
        bootstrap_replicates: draws.r2.len(),
        bootstrap_seed: options.seed,
    })
}

fn quadrant(high_importance: bool, high_performance: bool) -> Quadrant {
    match (high_importance, high_performance) {
        (true, false) => Quadrant::FixFirst,
        (true, true) => Quadrant::KeepUp,
        (false, false) => Quadrant::Monitor,
        (false, true) => Quadrant::Maintain,
    }
}

/// Median (mean of the two middle values for an even count); 0 when empty.
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let m = sorted.len() / 2;
    match (sorted.len() % 2, sorted.get(m)) {
        (1, Some(&v)) => v,
        (_, Some(&v)) => (sorted[m - 1] + v) / 2.0,
        _ => 0.0,
    }
}

/// The 2.5th and 97.5th percentiles with linear interpolation between order
/// statistics (numpy's default, Hyndman & Fan type 7). Sorts `values`.
fn percentile_interval(values: &mut [f64]) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    let tail = (1.0 - crate::estimate::CONFIDENCE) / 2.0;
    (percentile(values, tail), percentile(values, 1.0 - tail))
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let Some(last) = sorted.len().checked_sub(1) else {
        return f64::NAN;
    };
    let h = last as f64 * q;
    let below = (h.floor() as usize).min(last);
    let above = (below + 1).min(last);
    sorted[below] + (h - below as f64) * (sorted[above] - sorted[below])
}

/// Bootstrap replicates: per analysed driver its raw weights, and R².
struct Draws {
    raw: Vec<Vec<f64>>,
    r2: Vec<f64>,
}

/// A square root G (G Gᵀ = Σ) of a positive semi-definite p×p matrix, row
/// by row: the Cholesky factor (then `true`: lower triangular), or V Λ^½
/// (negative rounding residues clamped to 0) when Σ is singular.
fn matrix_root(sigma: &DMatrix<f64>) -> Option<(Vec<f64>, bool)> {
    let p = sigma.nrows();
    let row_major = |g: &DMatrix<f64>| (0..p * p).map(|k| g[(k / p, k % p)]).collect();
    if let Some(cholesky) = Cholesky::new(sigma.clone()) {
        return Some((row_major(&cholesky.l()), true));
    }
    let eigen = SymmetricEigen::try_new(sigma.clone(), f64::EPSILON, MAX_EIGEN_ITERATIONS)?;
    let mut root = eigen.eigenvectors;
    for (mut column, &l) in root.column_iter_mut().zip(eigen.eigenvalues.iter()) {
        column *= l.max(0.0).sqrt();
    }
    Some((row_major(&root), false))
}

/// Draws the bootstrap replicates (see [`key_drivers`]); `n` ≥ p + 2.
fn wishart_bootstrap(
    correlation: &DMatrix<f64>,
    n: i64,
    options: &BootstrapOptions,
) -> Result<Draws, DriverError> {
    let p = correlation.nrows();
    let k = p - 1;
    let (root, lower_triangular) = matrix_root(correlation).ok_or(DriverError::NoConvergence)?;
    let degrees = (n - 1) as f64;
    let mut random = Random::new(options.seed);
    let mut draws = Draws {
        raw: vec![Vec::with_capacity(options.replicates); k],
        r2: Vec::with_capacity(options.replicates),
    };
    // Row-major p×p work space, reused: Bartlett's A, then T = G A, then W = T Tᵀ.
    let mut bartlett = vec![0.0; p * p];
    let mut factor = vec![0.0; p * p];
    let mut wishart = vec![0.0; p * p];
    let mut rxy = vec![0.0; k];
    let mut raw = vec![0.0; k];
    for _ in 0..options.replicates {
        for i in 0..p {
            bartlett[i * p + i] = random.chi_square(degrees - i as f64).sqrt();
            for j in 0..i {
                bartlett[i * p + j] = random.normal();
            }
        }
        // A is lower triangular: T[i][j] = Σ_{m ≥ j} G[i][m] A[m][j], and
        // with a Cholesky G only m ≤ i contribute.
        for i in 0..p {
            let end = if lower_triangular { i + 1 } else { p };
            let g = &root[i * p..i * p + end];
            for j in 0..p {
                factor[i * p + j] = (j..end).map(|m| g[m] * bartlett[m * p + j]).sum();
            }
        }
        for i in 0..p {
            for j in i..p {
                let (ti, tj) = (&factor[i * p..(i + 1) * p], &factor[j * p..(j + 1) * p]);
                wishart[i * p + j] = ti.iter().zip(tj).map(|(a, b)| a * b).sum();
            }
        }
        let scale: Vec<f64> = (0..p).map(|i| wishart[i * p + i].sqrt()).collect();
        if scale.iter().any(|s| !(*s > 0.0 && s.is_finite())) {
            continue;
        }
        let drawn = |i: usize, j: usize| {
            let (i, j) = (i.min(j), i.max(j));
            (wishart[i * p + j] / (scale[i] * scale[j])).clamp(-1.0, 1.0)
        };
        for (a, r) in rxy.iter_mut().enumerate() {
            *r = drawn(0, a + 1);
        }
        let rxx = DMatrix::from_fn(k, k, |a, b| if a == b { 1.0 } else { drawn(a + 1, b + 1) });
        let Some(r2) = johnson_steps(rxx, &rxy, &mut raw) else {
            continue;
        };
        for (column, &w) in draws.raw.iter_mut().zip(&raw) {
            column.push(w);
        }
        draws.r2.push(r2);
    }
    if draws.r2.is_empty() {
        return Err(DriverError::NoConvergence);
    }
    Ok(draws)
}

/// Seeded normal and chi-square draws on `fastrand`.
struct Random {
    rng: fastrand::Rng,
    spare_normal: Option<f64>,
}

impl Random {
    fn new(seed: u64) -> Self {
        Self {
            rng: fastrand::Rng::with_seed(seed),
            spare_normal: None,
        }
    }

    /// Uniform on (0, 1].
    fn open_uniform(&mut self) -> f64 {
        1.0 - self.rng.f64()
    }

    /// Standard normal by the Box–Muller transform (Box & Muller 1958), two
    /// draws per pair of uniforms.
    fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare_normal.take() {
            return z;
        }
        let radius = (-2.0 * self.open_uniform().ln()).sqrt();
        let angle = std::f64::consts::TAU * self.rng.f64();
        self.spare_normal = Some(radius * angle.sin());
        radius * angle.cos()
    }

    /// Gamma(shape, 1) by Marsaglia & Tsang (2000), "A simple method for
    /// generating gamma variables", ACM TOMS 26(3):363–372; for shape < 1
    /// their boost Gamma(shape + 1)·U^(1/shape). At most
    /// [`MAX_GAMMA_ROUNDS`] rejection rounds.
    fn gamma(&mut self, shape: f64) -> f64 {
        if shape < 1.0 {
            let boost = self.open_uniform().powf(1.0 / shape);
            return self.gamma(shape + 1.0) * boost;
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        for _ in 0..MAX_GAMMA_ROUNDS {
            let x = self.normal();
            let v = 1.0 + c * x;
            if v <= 0.0 {
                continue;
            }
            let v = v * v * v;
            let u = self.open_uniform();
            if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                return d * v;
            }
        }
        d
    }

    /// χ²(degrees) = 2 · Gamma(degrees / 2).
    fn chi_square(&mut self, degrees: f64) -> f64 {
        2.0 * self.gamma(degrees / 2.0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn moments(draws: &[f64]) -> (f64, f64) {
        let n = draws.len() as f64;
        let mean = draws.iter().sum::<f64>() / n;
        let var = draws.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
        (mean, var)
    }

    #[test]
    fn chi_square_draws_have_the_right_mean_and_variance() {
        let mut random = Random::new(7);
        for degrees in [1.0, 2.0, 3.0, 9.0, 199.0, 1e6] {
            let draws: Vec<f64> = (0..200_000).map(|_| random.chi_square(degrees)).collect();
            let (mean, var) = moments(&draws);
            // Standard errors: mean √(2k/N), variance ≈ √(2(12k + 8k²)/N)/… ;
            // 5 standard errors of each.
            let se_mean = (2.0 * degrees / 200_000.0).sqrt();
            assert!(
                (mean - degrees).abs() < 5.0 * se_mean,
                "k={degrees}: mean {mean}"
            );
            let se_var = ((8.0 * degrees * degrees + 48.0 * degrees) / 200_000.0).sqrt();
            assert!(
                (var - 2.0 * degrees).abs() < 5.0 * se_var,
                "k={degrees}: var {var}"
            );
        }
    }

    #[test]
    fn normal_draws_are_standard() {
        let mut random = Random::new(11);
        let draws: Vec<f64> = (0..200_000).map(|_| random.normal()).collect();
        let (mean, var) = moments(&draws);
        assert!(
            mean.abs() < 0.012 && (var - 1.0).abs() < 0.02,
            "{mean} {var}"
        );
        let below = draws.iter().filter(|&&z| z < -1.959964).count() as f64 / 200_000.0;
        assert!((below - 0.025).abs() < 0.002, "{below}");
    }

    #[test]
    fn percentiles_interpolate_like_numpy() {
        // np.percentile([1, 2, 3, 4, 10], [2.5, 97.5]) = [1.1, 9.4]
        let (lo, hi) = percentile_interval(&mut [10.0, 3.0, 1.0, 4.0, 2.0]);
        assert!(
            (lo - 1.1).abs() < 1e-12 && (hi - 9.4).abs() < 1e-12,
            "{lo} {hi}"
        );
        assert_eq!(percentile_interval(&mut [2.0]), (2.0, 2.0));
        assert!(percentile(&[], 0.5).is_nan());
    }

    #[test]
    fn medians_and_quadrants() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
        assert_eq!(quadrant(true, false), Quadrant::FixFirst);
        assert_eq!(quadrant(true, true), Quadrant::KeepUp);
        assert_eq!(quadrant(false, false), Quadrant::Monitor);
        assert_eq!(quadrant(false, true), Quadrant::Maintain);
    }

    #[test]
    fn triangle_indices_run_row_by_row() {
        let p = 4;
        let mut k = 0;
        for i in 0..p {
            for j in i..p {
                assert_eq!(triangle_index(p, i, j), k);
                k += 1;
            }
        }
        assert_eq!(k, triangle_len(p));
    }
}
