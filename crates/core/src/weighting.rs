//! Representativeness weighting: respondents weighted so that their mix on
//! customer attributes (segment, region, …) matches the customer base, and
//! the headline metrics recomputed with those weights beside the raw ones.
//!
//! Respondents arrive as cells — one per combination of attribute values,
//! with the [`ResponseSummary`] of the answers in it and its respondent
//! count — so the work grows with the number of cells, not of responses.
//! The customer base is known by its margins: customers (or shares) per
//! value of each attribute.
//!
//! - One attribute: post-stratification, w_g = (N_g/N)/(n_g/n) (Holt &
//!   Smith 1979, "Post stratification", JRSS A 142).
//! - Several attributes: raking, the iterative proportional fitting of
//!   Deming & Stephan (1940), "On a least squares adjustment of a sampled
//!   frequency table when the expected marginal totals are known", Ann.
//!   Math. Statist. 11(4).
//! - Precision after weighting: Kish's effective sample size (Kish 1965,
//!   Survey Sampling, §11.7; Kish 1992, "Weighting for unequal Pi", JOS 8).
//!
//! Categories that cannot be weighted are reported, never divided by:
//! customers with no respondent ([`CategoryStatus::NotRepresented`]) and
//! respondents with no customers ([`CategoryStatus::NotInPopulation`]).

use std::collections::HashMap;

use serde::Serialize;
use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::comparison::MIN_ANSWERS_FOR_SIGNIFICANCE;
use crate::estimate::{CONFIDENCE, Estimate, t_quantile, z_critical};
use crate::{Mergeable, Metric, ResponseSummary};

/// Raking stops when every weighted margin share is within this of its
/// target share (absolute, on the 0…1 scale).
pub const RAKING_TOLERANCE: f64 = 1e-10;

/// Raking gives up after this many sweeps (one sweep adjusts every
/// attribute once), so a margin that cannot be met ends in bounded time.
pub const MAX_RAKING_ITERATIONS: u32 = 1_000;

/// The respondents sharing one combination of attribute values.
#[derive(Debug, Clone, PartialEq)]
pub struct RespondentCell {
    /// One value per attribute, in the order of the margins weighted to.
    pub values: Vec<String>,
    /// Respondents in the cell: what the weights are fitted on.
    pub respondents: u64,
    /// Their answers: what the weighted metrics are computed from.
    pub summary: ResponseSummary,
}

/// The customer base on one attribute: customers (or any non-negative
/// amount proportional to them, e.g. shares) per value. Values are
/// normalised within the attribute, so counts and shares give the same
/// weights.
#[derive(Debug, Clone, PartialEq)]
pub struct Margin {
    pub attribute: String,
    pub population: Vec<(String, f64)>,
}

/// Why weights could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WeightingError {
    #[error("no attribute to weight on")]
    NoMargins,
    #[error("attribute {attribute:?}: {reason}")]
    InvalidMargin { attribute: String, reason: String },
    #[error("cell {cell} has {found} attribute values where {expected} are needed")]
    CellShape {
        cell: usize,
        found: usize,
        expected: usize,
    },
    #[error("cell {cell} has a negative count")]
    NegativeCount { cell: usize },
    #[error("cell {cell} has answers but no respondents")]
    AnswersWithoutRespondents { cell: usize },
    #[error(
        "no respondent belongs to customer categories on every attribute: there is nothing to weight"
    )]
    NothingToWeight,
    #[error("{weights} weights for {cells} cells")]
    WeightCount { weights: usize, cells: usize },
    #[error("the weight of cell {cell} ({value}) is not a finite non-negative number")]
    InvalidWeight { cell: usize, value: f64 },
}

/// How the weights were made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightingMethod {
    PostStratification,
    Raking,
}

/// What became of one value of one attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CategoryStatus {
    /// Customers and weightable respondents: its weighted share is its
    /// customer share (rescaled if another value is not represented).
    Represented,
    /// Customers but no weightable respondent: its share cannot be met.
    /// The weights spread it over the represented values of the attribute,
    /// so the weighted figures assume these customers answer like the rest.
    NotRepresented,
    /// Respondents but no customers: weight 0, counted only in raw figures.
    NotInPopulation,
    /// Listed in the margin with no customers and no respondents.
    Unused,
}

/// One value of one attribute before and after weighting.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CategoryFit {
    pub attribute: String,
    pub category: String,
    pub status: CategoryStatus,
    /// Share of customers, 0…1, as given.
    pub population_share: f64,
    /// The share the weights were fitted to: the customer share rescaled
    /// over the represented values of the attribute (0 for the others).
    pub target_share: f64,
    pub respondents: u64,
    /// Share of all respondents in the cells, 0…1.
    pub respondent_share: f64,
    /// Share of the weighted respondents, 0…1.
    pub weighted_share: f64,
}

/// Weights for every cell, with what the fit achieved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Weighting {
    pub method: WeightingMethod,
    pub reference: &'static str,
    pub attributes: Vec<String>,
    /// Weight of each respondent (and each of their answers) in the cell of
    /// the same position; 0 for cells that cannot be weighted. The weights
    /// average 1 over the weighted respondents.
    pub cell_weights: Vec<f64>,
    /// Every target share met within [`RAKING_TOLERANCE`] (always true for
    /// post-stratification, which is exact in one step).
    pub converged: bool,
    /// Raking sweeps made (0 for post-stratification: closed form).
    pub iterations: u32,
    /// Largest |weighted share − target share| over all categories.
    pub max_margin_error: f64,
    pub categories: Vec<CategoryFit>,
    pub respondents: u64,
    /// Respondents with a positive weight.
    pub weighted_respondents: u64,
    /// Plain-language notes on categories not represented, respondents not
    /// weighted and a fit that did not converge.
    pub warnings: Vec<String>,
}

/// One metric weighted to the customer base, beside its raw value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeightedMetric {
    pub metric: Metric,
    /// Weighted value and 95% interval on the metric's reporting scale;
    /// `n` counts the answers with a positive weight.
    pub weighted: Estimate,
    /// Kish's (Σw)²/Σw² over this metric's weighted answers.
    pub effective_n: Option<f64>,
    /// Weighted answers / effective n: Kish's design effect of the
    /// weights, 1 + (coefficient of variation of the weights)².
    pub design_effect: Option<f64>,
    /// The unweighted estimate of all answers ([`Metric::estimate`]).
    pub raw: Estimate,
    /// Weighted − raw value, on the reporting scale.
    pub difference: Option<f64>,
    pub test: Option<WeightingEffectTest>,
    /// The test's p < 0.05 with at least
    /// [`MIN_ANSWERS_FOR_SIGNIFICANCE`] answers.
    pub differs_significantly: bool,
    /// A sentence for the reader when the weighted and raw figures differ
    /// significantly.
    pub warning: Option<String>,
    /// The weighted interval method.
    pub method: &'static str,
}

/// DuMouchel & Duncan's test of whether weighting changes an estimate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WeightingEffectTest {
    /// t statistic of the slope of the answer on its weight.
    pub t: f64,
    pub degrees_of_freedom: f64,
    pub p_value: f64,
}

/// Weights and weighted metrics together.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeightedReport {
    pub weighting: Weighting,
    pub metrics: Vec<WeightedMetric>,
}

/// Post-stratification on the attribute at position `attribute` of each
/// cell's values: every respondent of category g weighs
/// (N_g/N)/(n_g/n) (Holt & Smith 1979).
///
/// N and n count only categories that have both customers and respondents:
/// respondents of a category without customers weigh 0, and a category
/// with customers but no respondents is reported (its customers are not
/// represented: the weighted figures are biased to the extent they would
/// answer differently), never divided by. With every category matched this
/// is exactly the textbook formula.
pub fn post_stratify(
    cells: &[RespondentCell],
    attribute: usize,
    margin: &Margin,
) -> Result<Weighting, WeightingError> {
    let coded = Coded::new(cells, &[attribute], &[margin], false)?;
    let targets = coded.targets();
    let fitted: Vec<f64> = (0..cells.len())
        .map(|cell| {
            if !coded.weightable[cell] {
                return 0.0;
            }
            let g = coded.code(cell, 0);
            let category = &coded.categories[0][g];
            // weightable ⇒ the category has weightable respondents.
            coded.respondents[cell] as f64 * targets[0][g] * coded.weightable_total as f64
                / category.weightable_respondents as f64
        })
        .collect();
    Ok(coded.finish(
        WeightingMethod::PostStratification,
        "post-stratification, w = (N_g/N)/(n_g/n) (Holt & Smith 1979)",
        &fitted,
        &targets,
        0,
        true,
    ))
}

/// Raking (iterative proportional fitting, Deming & Stephan 1940) of the
/// cells to every margin at once; `margins[a]` describes the attribute at
/// position `a` of each cell's values.
///
/// Starting from the respondent counts, each sweep scales the cells of
/// every category of each attribute in turn so that the attribute's
/// weighted shares equal its targets; it stops when every share is within
/// [`RAKING_TOLERANCE`] of its target or after [`MAX_RAKING_ITERATIONS`]
/// sweeps. Categories without respondents cannot be met (their weighted
/// share stays 0, and plain IPF would then oscillate between the
/// attributes): they are reported and their customers' share is spread
/// over the attribute's represented categories (rescaled targets), so that
/// the rest can converge. Respondents in a category without customers
/// weigh 0. A fit that still does not converge (respondent cells that
/// cannot reproduce the margins together) is reported with its largest
/// remaining gap.
pub fn rake(cells: &[RespondentCell], margins: &[Margin]) -> Result<Weighting, WeightingError> {
    let positions: Vec<usize> = (0..margins.len()).collect();
    let margin_refs: Vec<&Margin> = margins.iter().collect();
    let coded = Coded::new(cells, &positions, &margin_refs, true)?;
    let targets = coded.targets();
    let mut fitted: Vec<f64> = (0..cells.len())
        .map(|cell| {
            if coded.weightable[cell] {
                coded.respondents[cell] as f64
            } else {
                0.0
            }
        })
        .collect();
    let total = coded.weightable_total as f64;
    let mut iterations = 0;
    let mut error = coded.max_margin_error(&fitted, &targets);
    let mut category_totals: Vec<f64> = Vec::new();
    while error > RAKING_TOLERANCE && iterations < MAX_RAKING_ITERATIONS {
        for (a, attribute_targets) in targets.iter().enumerate() {
            coded.category_totals(&fitted, a, &mut category_totals);
            for (cell, value) in fitted.iter_mut().enumerate() {
                let g = coded.code(cell, a);
                let current = category_totals[g];
                if current > 0.0 {
                    *value *= attribute_targets[g] * total / current;
                }
            }
        }
        iterations += 1;
        error = coded.max_margin_error(&fitted, &targets);
    }
    Ok(coded.finish(
        WeightingMethod::Raking,
        "raking: iterative proportional fitting (Deming & Stephan 1940)",
        &fitted,
        &targets,
        iterations,
        error <= RAKING_TOLERANCE,
    ))
}

/// Post-stratification for one margin, raking for several; then the
/// weighted metrics.
pub fn weight_and_estimate(
    cells: &[RespondentCell],
    margins: &[Margin],
) -> Result<WeightedReport, WeightingError> {
    let weighting = match margins {
        [] => return Err(WeightingError::NoMargins),
        [only] => post_stratify(cells, 0, only)?,
        _ => rake(cells, margins)?,
    };
    let metrics = weighted_metrics(cells, &weighting.cell_weights)?;
    Ok(WeightedReport { weighting, metrics })
}

/// Kish's effective sample size (Kish 1965, §11.7):
/// n_eff = (Σ a·w)² / Σ a·w² over (count a, weight w) pairs — each pair
/// standing for a answers of weight w. `None` when the total weight is 0.
/// It never exceeds Σ a (Cauchy–Schwarz) and equals it iff all weights of
/// the counted answers are equal.
pub fn kish_effective_sample_size(
    counts_and_weights: impl IntoIterator<Item = (f64, f64)>,
) -> Option<f64> {
    let (mut sum, mut sum_sq) = (0.0, 0.0);
    for (count, weight) in counts_and_weights {
        sum += count * weight;
        sum_sq += count * weight * weight;
    }
    (sum > 0.0 && sum_sq > 0.0).then(|| sum * sum / sum_sq)
}

/// Kish's effective sample size of one metric's answers: each cell counts
/// with its number of answers to that metric (the n of each metric
/// differs).
pub fn effective_answers(
    metric: Metric,
    cells: &[RespondentCell],
    weights: &[f64],
) -> Result<Option<f64>, WeightingError> {
    check_weights(cells, weights)?;
    Ok(kish_effective_sample_size(cells.iter().zip(weights).map(
        |(cell, &w)| (metric.answers(&cell.summary) as f64, w),
    )))
}

/// Every headline metric weighted and raw, in [`Metric::ALL`] order.
pub fn weighted_metrics(
    cells: &[RespondentCell],
    weights: &[f64],
) -> Result<Vec<WeightedMetric>, WeightingError> {
    Metric::ALL
        .into_iter()
        .map(|metric| weighted_metric(metric, cells, weights))
        .collect()
}

/// One metric weighted by `weights` (one per cell, e.g.
/// [`Weighting::cell_weights`]) with a 95% interval that uses Kish's
/// effective n, the raw estimate beside it, and DuMouchel & Duncan's test
/// of their difference.
///
/// Intervals, each the raw metric's method with n_eff in place of n, so
/// that equal weights reproduce the raw interval exactly:
/// - NPS: weighted promoter and detractor shares p, d; Rocks' (2016)
///   adjusted Wald on effective counts: n' = n_eff + 3,
///   p' = (p·n_eff + ¾)/n', d' likewise, variance of the trinomial
///   (p' + d' − (p' − d')²)/n', clipped to ±100; not shown when it misses
///   the estimate (as for the raw NPS).
/// - CSAT (top-two box) and FCR: Wilson's interval with the weighted share
///   and n_eff for n — the effective-sample-size substitution of Kish
///   (1965) that Korn & Graubard (1998, Survey Methodology 24) apply to
///   survey proportions; Wilson rather than Wald with a design effect
///   because it stays inside 0…1 and does not collapse at 0% or 100%
///   (Dean & Pagano 2015, J. Survey Stat. Methodol. 3, find it among the
///   best with n_eff).
/// - CES: weighted mean x̄_w; variance s² = n_eff/(n_eff − 1) ·
///   Σw(x − x̄_w)²/Σw; x̄_w ± t(0.975, n_eff − 1)·s/√n_eff, clipped to 1…7.
///
/// The test: weighted and raw estimates come from the same answers, so
/// they are strongly correlated and comparing two intervals would be far
/// too conservative. DuMouchel & Duncan (1983, JASA 78, "Using sample
/// survey weights in multiple regression analyses of stratified samples")
/// regress the answer y on (1, w) by ordinary least squares: the weighted
/// minus the raw mean equals β·Σ(w − w̄)²/Σw, so β = 0 exactly when
/// weighting changes nothing, and the usual t-test of β (n − 2 df) tests
/// it with the within-sample correlation accounted for. y is the score
/// (+1 promoter, 0 passive, −1 detractor) for NPS, 1/0 for CSAT top-two
/// box and FCR, the answer for CES. The flag also needs
/// [`MIN_ANSWERS_FOR_SIGNIFICANCE`] answers, as elsewhere.
pub fn weighted_metric(
    metric: Metric,
    cells: &[RespondentCell],
    weights: &[f64],
) -> Result<WeightedMetric, WeightingError> {
    check_weights(cells, weights)?;
    for (i, cell) in cells.iter().enumerate() {
        check_counts(i, &cell.summary)?;
    }
    let raw = metric.estimate(&ResponseSummary::merge_all(
        cells.iter().map(|c| &c.summary),
    ));
    let answers = WeightedAnswers::new(metric, cells, weights);
    let (weighted, effective_n) = match &answers {
        Some(a) => (a.estimate(metric), Some(a.effective_n)),
        None => (
            Estimate {
                n: 0,
                value: None,
                ci_low: None,
                ci_high: None,
            },
            None,
        ),
    };
    let design_effect = effective_n.map(|n_eff| weighted.n as f64 / n_eff);
    let difference = match (weighted.value, raw.value) {
        (Some(w), Some(r)) => Some(w - r),
        _ => None,
    };
    let test = weighting_effect_test(metric, cells, weights);
    let differs_significantly = difference.is_some()
        && raw.n >= MIN_ANSWERS_FOR_SIGNIFICANCE
        && test.is_some_and(|t| t.p_value < 1.0 - CONFIDENCE);
    let warning = match (differs_significantly, weighted.value, raw.value, test) {
        (true, Some(w), Some(r), Some(t)) => Some(significance_warning(metric, w, r, t.p_value)),
        _ => None,
    };
    Ok(WeightedMetric {
        metric,
        weighted,
        effective_n,
        design_effect,
        raw,
        difference,
        test,
        differs_significantly,
        warning,
        method: weighted_method(metric),
    })
}

fn weighted_method(metric: Metric) -> &'static str {
    match metric {
        Metric::Nps => {
            "weighted shares; adjusted-Wald interval (Rocks 2016) with Kish's effective n"
        }
        Metric::Csat | Metric::Fcr => {
            "weighted share; Wilson interval with Kish's effective n (Kish 1965; Korn & Graubard 1998)"
        }
        Metric::Ces => "weighted mean; Student-t interval with Kish's effective n − 1 df",
    }
}

fn significance_warning(metric: Metric, weighted: f64, raw: f64, p: f64) -> String {
    let unit = match metric {
        Metric::Nps => " points",
        Metric::Csat | Metric::Fcr => " percentage points",
        Metric::Ces => "",
    };
    let p_text = if p < 0.001 {
        "p < 0.001".to_string()
    } else {
        format!("p = {p:.3}")
    };
    format!(
        "Weighted to the customer base, {title} is {weighted:.1} against {raw:.1} as answered ({diff:+.1}{unit}); a shift this large is unlikely to be sampling noise ({p_text}), so the mix of respondents distorts the unweighted figure.",
        title = metric.title(),
        diff = weighted - raw,
    )
}

fn check_weights(cells: &[RespondentCell], weights: &[f64]) -> Result<(), WeightingError> {
    if weights.len() != cells.len() {
        return Err(WeightingError::WeightCount {
            weights: weights.len(),
            cells: cells.len(),
        });
    }
    match weights
        .iter()
        .enumerate()
        .find(|(_, w)| !(w.is_finite() && **w >= 0.0))
    {
        Some((cell, &value)) => Err(WeightingError::InvalidWeight { cell, value }),
        None => Ok(()),
    }
}

fn check_counts(cell: usize, s: &ResponseSummary) -> Result<(), WeightingError> {
    let negative = s.to_counters().iter().any(|&c| c < 0);
    if negative {
        Err(WeightingError::NegativeCount { cell })
    } else {
        Ok(())
    }
}

/// The answer levels of a metric in a summary as (y, count): the score the
/// weighting-effect test regresses and the weighted moments are taken of.
fn answer_levels(metric: Metric, s: &ResponseSummary) -> Vec<(f64, i64)> {
    match metric {
        Metric::Nps => vec![
            (1.0, s.nps.promoters()),
            (0.0, s.nps.passives()),
            (-1.0, s.nps.detractors()),
        ],
        Metric::Csat => vec![
            (1.0, s.csat.count_between(4, 5)),
            (0.0, s.csat.count_between(1, 3)),
        ],
        Metric::Ces => s
            .ces
            .counts()
            .iter()
            .enumerate()
            .map(|(i, &c)| (1.0 + i as f64, c))
            .collect(),
        Metric::Fcr => vec![
            (1.0, s.fcr.successes),
            (0.0, s.fcr.trials - s.fcr.successes),
        ],
    }
}

/// Weighted moments of one metric's answers with positive weight.
struct WeightedAnswers {
    answers: i64,
    effective_n: f64,
    mean: f64,
    /// Σw(y − ȳ_w)²/Σw.
    variance: f64,
    /// Weighted shares of y = +1 and y = −1 (NPS promoters, detractors).
    share_plus: f64,
    share_minus: f64,
}

impl WeightedAnswers {
    fn new(metric: Metric, cells: &[RespondentCell], weights: &[f64]) -> Option<Self> {
        let (mut answers, mut total, mut total_sq, mut sum) = (0i64, 0.0, 0.0, 0.0);
        let (mut plus, mut minus) = (0.0, 0.0);
        for (cell, &w) in cells.iter().zip(weights) {
            if w <= 0.0 {
                continue;
            }
            for (y, count) in answer_levels(metric, &cell.summary) {
                let a = count as f64;
                answers += count;
                total += a * w;
                total_sq += a * w * w;
                sum += a * w * y;
                if y == 1.0 {
                    plus += a * w;
                } else if y == -1.0 {
                    minus += a * w;
                }
            }
        }
        if total <= 0.0 {
            return None;
        }
        let mean = sum / total;
        let mut squares = 0.0;
        for (cell, &w) in cells.iter().zip(weights) {
            if w > 0.0 {
                for (y, count) in answer_levels(metric, &cell.summary) {
                    squares += count as f64 * w * (y - mean) * (y - mean);
                }
            }
        }
        Some(Self {
            answers,
            effective_n: total * total / total_sq,
            mean,
            variance: squares / total,
            share_plus: plus / total,
            share_minus: minus / total,
        })
    }

    fn estimate(&self, metric: Metric) -> Estimate {
        let n_eff = self.effective_n;
        let (value, interval) = match metric {
            Metric::Nps => {
                let value = 100.0 * (self.share_plus - self.share_minus);
                let n_adj = n_eff + 3.0;
                let p = (self.share_plus * n_eff + 0.75) / n_adj;
                let d = (self.share_minus * n_eff + 0.75) / n_adj;
                let var = (p + d - (p - d) * (p - d)) / n_adj;
                let half = z_critical() * var.max(0.0).sqrt();
                let low = 100.0 * (p - d - half).clamp(-1.0, 1.0);
                let high = 100.0 * (p - d + half).clamp(-1.0, 1.0);
                // As for the raw NPS: an interval missing its estimate is
                // not shown (a miss at the rounding level, at ±100, is none).
                let shown = (low - 1e-9..=high + 1e-9).contains(&value);
                (value, shown.then_some((low, high)))
            }
            Metric::Csat | Metric::Fcr => {
                let (low, high) = wilson_interval(self.mean, n_eff);
                (100.0 * self.mean, Some((100.0 * low, 100.0 * high)))
            }
            Metric::Ces => {
                let interval = (n_eff > 1.0).then(|| {
                    let s2 = self.variance * n_eff / (n_eff - 1.0);
                    let t = t_quantile(1.0 - (1.0 - CONFIDENCE) / 2.0, n_eff - 1.0);
                    let half = t * (s2 / n_eff).sqrt();
                    (
                        (self.mean - half).clamp(1.0, 7.0),
                        (self.mean + half).clamp(1.0, 7.0),
                    )
                });
                (
                    self.mean,
                    interval.filter(|(l, h)| l.is_finite() && h.is_finite()),
                )
            }
        };
        Estimate {
            n: self.answers,
            value: Some(value),
            ci_low: interval.map(|(l, _)| l),
            ci_high: interval.map(|(_, h)| h),
        }
    }
}

/// Wilson's (1927) score interval for a share p of n (n may be fractional,
/// e.g. an effective sample size).
fn wilson_interval(p: f64, n: f64) -> (f64, f64) {
    let z = z_critical();
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).max(0.0).sqrt() / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// DuMouchel & Duncan (1983): OLS of y on (1, w) over every answer (zero
/// weights included: they are part of the raw figure), t-test of the
/// slope with n − 2 df. `None` with fewer than 3 answers, equal weights
/// (nothing to test: weighted = raw) or no variation in the answers.
fn weighting_effect_test(
    metric: Metric,
    cells: &[RespondentCell],
    weights: &[f64],
) -> Option<WeightingEffectTest> {
    let (mut n, mut sum_w, mut sum_y) = (0.0, 0.0, 0.0);
    for (cell, &w) in cells.iter().zip(weights) {
        for (y, count) in answer_levels(metric, &cell.summary) {
            let a = count as f64;
            n += a;
            sum_w += a * w;
            sum_y += a * y;
        }
    }
    if n < 3.0 {
        return None;
    }
    let (mean_w, mean_y) = (sum_w / n, sum_y / n);
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    for (cell, &w) in cells.iter().zip(weights) {
        let dw = w - mean_w;
        for (y, count) in answer_levels(metric, &cell.summary) {
            let (a, dy) = (count as f64, y - mean_y);
            sxx += a * dw * dw;
            sxy += a * dw * dy;
            syy += a * dy * dy;
        }
    }
    // Weights equal up to rounding: the weighted estimate is the raw one.
    let equal_weights = sxx <= n * (1e-9 * mean_w).powi(2);
    if equal_weights || syy <= 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    let residual = (syy - slope * sxy).max(0.0);
    let df = n - 2.0;
    let se = (residual / df / sxx).sqrt();
    let t = slope / se;
    let p_value = if se > 0.0 {
        2.0 * StudentsT::new(0.0, 1.0, df).ok()?.sf(t.abs())
    } else {
        // The answers lie exactly on a line in the weights.
        0.0
    };
    Some(WeightingEffectTest {
        t,
        degrees_of_freedom: df,
        p_value,
    })
}

/// One category of one attribute while weighting.
struct CodedCategory<'a> {
    name: &'a str,
    population_share: f64,
    respondents: u64,
    weightable_respondents: u64,
}

/// Cells with their attribute values replaced by category indices.
struct Coded<'a> {
    attributes: Vec<&'a str>,
    /// Per attribute: the margin's categories in order, then values only
    /// respondents have (in order of first appearance).
    categories: Vec<Vec<CodedCategory<'a>>>,
    /// Category index of cell c on attribute a at c · attributes + a.
    codes: Vec<usize>,
    respondents: Vec<u64>,
    /// Respondents and a customer share > 0 on every attribute.
    weightable: Vec<bool>,
    weightable_total: u64,
}

impl<'a> Coded<'a> {
    fn new(
        cells: &'a [RespondentCell],
        positions: &[usize],
        margins: &[&'a Margin],
        exact_shape: bool,
    ) -> Result<Self, WeightingError> {
        if margins.is_empty() {
            return Err(WeightingError::NoMargins);
        }
        let mut categories = Vec::with_capacity(margins.len());
        let mut lookups: Vec<HashMap<&'a str, usize>> = Vec::with_capacity(margins.len());
        for (a, margin) in margins.iter().enumerate() {
            let invalid = |reason: String| WeightingError::InvalidMargin {
                attribute: margin.attribute.clone(),
                reason,
            };
            if margins[..a].iter().any(|m| m.attribute == margin.attribute) {
                return Err(invalid("appears twice".into()));
            }
            let mut lookup = HashMap::with_capacity(margin.population.len());
            let mut total = 0.0;
            for (i, (name, amount)) in margin.population.iter().enumerate() {
                if !(amount.is_finite() && *amount >= 0.0) {
                    return Err(invalid(format!(
                        "{name:?} has {amount} customers: not a finite non-negative number"
                    )));
                }
                if lookup.insert(name.as_str(), i).is_some() {
                    return Err(invalid(format!("{name:?} is listed twice")));
                }
                total += amount;
            }
            if !(total > 0.0 && total.is_finite()) {
                return Err(invalid("no customers".into()));
            }
            categories.push(
                margin
                    .population
                    .iter()
                    .map(|(name, amount)| CodedCategory {
                        name: name.as_str(),
                        population_share: amount / total,
                        respondents: 0,
                        weightable_respondents: 0,
                    })
                    .collect::<Vec<_>>(),
            );
            lookups.push(lookup);
        }
        let width = positions.len();
        let mut codes = Vec::with_capacity(cells.len() * width);
        let mut respondents = Vec::with_capacity(cells.len());
        for (c, cell) in cells.iter().enumerate() {
            // Raking: one value per margin; post-stratification: at least
            // up to the attribute used.
            let expected = if exact_shape {
                width
            } else {
                positions.iter().max().map_or(0, |&p| p + 1)
            };
            let fits = if exact_shape {
                cell.values.len() == expected
            } else {
                cell.values.len() >= expected
            };
            if !fits {
                return Err(WeightingError::CellShape {
                    cell: c,
                    found: cell.values.len(),
                    expected,
                });
            }
            check_counts(c, &cell.summary)?;
            let has_answers = Metric::ALL
                .into_iter()
                .any(|m| m.answers(&cell.summary) > 0);
            if cell.respondents == 0 && has_answers {
                return Err(WeightingError::AnswersWithoutRespondents { cell: c });
            }
            for (a, &position) in positions.iter().enumerate() {
                let value = cell.values[position].as_str();
                let lookup = &mut lookups[a];
                let list = &mut categories[a];
                let g = *lookup.entry(value).or_insert_with(|| {
                    list.push(CodedCategory {
                        name: value,
                        population_share: 0.0,
                        respondents: 0,
                        weightable_respondents: 0,
                    });
                    list.len() - 1
                });
                list[g].respondents = list[g].respondents.saturating_add(cell.respondents);
                codes.push(g);
            }
            respondents.push(cell.respondents);
        }
        let weightable: Vec<bool> = (0..cells.len())
            .map(|c| {
                respondents[c] > 0
                    && (0..width)
                        .all(|a| categories[a][codes[c * width + a]].population_share > 0.0)
            })
            .collect();
        let mut weightable_total: u64 = 0;
        for c in (0..cells.len()).filter(|&c| weightable[c]) {
            weightable_total = weightable_total.saturating_add(respondents[c]);
            for (a, list) in categories.iter_mut().enumerate() {
                let g = codes[c * width + a];
                list[g].weightable_respondents = list[g]
                    .weightable_respondents
                    .saturating_add(respondents[c]);
            }
        }
        if weightable_total == 0 {
            return Err(WeightingError::NothingToWeight);
        }
        Ok(Self {
            attributes: margins.iter().map(|m| m.attribute.as_str()).collect(),
            categories,
            codes,
            respondents,
            weightable,
            weightable_total,
        })
    }

    fn code(&self, cell: usize, attribute: usize) -> usize {
        self.codes[cell * self.attributes.len() + attribute]
    }

    fn status(category: &CodedCategory<'_>) -> CategoryStatus {
        match (
            category.population_share > 0.0,
            category.weightable_respondents > 0,
            category.respondents > 0,
        ) {
            (true, true, _) => CategoryStatus::Represented,
            (true, false, _) => CategoryStatus::NotRepresented,
            (false, _, true) => CategoryStatus::NotInPopulation,
            (false, _, false) => CategoryStatus::Unused,
        }
    }

    /// Target shares per attribute: customer shares rescaled over the
    /// represented categories (every attribute has one: a weightable cell
    /// exists).
    fn targets(&self) -> Vec<Vec<f64>> {
        self.categories
            .iter()
            .map(|list| {
                let represented: f64 = list
                    .iter()
                    .filter(|g| Self::status(g) == CategoryStatus::Represented)
                    .map(|g| g.population_share)
                    .sum();
                list.iter()
                    .map(|g| {
                        if Self::status(g) == CategoryStatus::Represented {
                            g.population_share / represented
                        } else {
                            0.0
                        }
                    })
                    .collect()
            })
            .collect()
    }

    /// Weighted totals per category of attribute `a` into `out`.
    fn category_totals(&self, fitted: &[f64], a: usize, out: &mut Vec<f64>) {
        out.clear();
        out.resize(self.categories[a].len(), 0.0);
        for (cell, &value) in fitted.iter().enumerate() {
            out[self.code(cell, a)] += value;
        }
    }

    fn max_margin_error(&self, fitted: &[f64], targets: &[Vec<f64>]) -> f64 {
        let total: f64 = fitted.iter().sum();
        let mut totals = Vec::new();
        let mut worst: f64 = 0.0;
        for (a, attribute_targets) in targets.iter().enumerate() {
            self.category_totals(fitted, a, &mut totals);
            for (current, target) in totals.iter().zip(attribute_targets) {
                let share = if total > 0.0 { current / total } else { 0.0 };
                worst = worst.max((share - target).abs());
            }
        }
        worst
    }

    fn finish(
        &self,
        method: WeightingMethod,
        reference: &'static str,
        fitted: &[f64],
        targets: &[Vec<f64>],
        iterations: u32,
        converged: bool,
    ) -> Weighting {
        let cell_weights: Vec<f64> = fitted
            .iter()
            .zip(&self.respondents)
            .map(|(&m, &n)| if n > 0 { m / n as f64 } else { 0.0 })
            .collect();
        let fitted_total: f64 = fitted.iter().sum();
        let respondents_total = self
            .respondents
            .iter()
            .fold(0u64, |acc, &n| acc.saturating_add(n));
        let mut categories = Vec::new();
        let mut warnings = Vec::new();
        let mut totals = Vec::new();
        for (a, list) in self.categories.iter().enumerate() {
            self.category_totals(fitted, a, &mut totals);
            let attribute = self.attributes[a];
            for (g, category) in list.iter().enumerate() {
                let status = Self::status(category);
                match status {
                    CategoryStatus::NotRepresented => warnings.push(format!(
                        "No weightable respondent has {attribute} = {name:?} ({share:.1}% of customers): the weights spread its share over the other {attribute} values, so the weighted figures assume these customers answer like the rest — a bias weighting cannot remove.",
                        name = category.name,
                        share = 100.0 * category.population_share,
                    )),
                    CategoryStatus::NotInPopulation => warnings.push(format!(
                        "{n} respondent(s) have {attribute} = {name:?}, which has no customers in the base: they weigh 0 and count only in the unweighted figures.",
                        n = category.respondents,
                        name = category.name,
                    )),
                    CategoryStatus::Represented | CategoryStatus::Unused => {}
                }
                categories.push(CategoryFit {
                    attribute: attribute.to_string(),
                    category: category.name.to_string(),
                    status,
                    population_share: category.population_share,
                    target_share: targets[a][g],
                    respondents: category.respondents,
                    respondent_share: if respondents_total > 0 {
                        category.respondents as f64 / respondents_total as f64
                    } else {
                        0.0
                    },
                    weighted_share: if fitted_total > 0.0 {
                        totals[g] / fitted_total
                    } else {
                        0.0
                    },
                });
            }
        }
        let max_margin_error = self.max_margin_error(fitted, targets);
        if !converged {
            warnings.push(format!(
                "Raking did not meet every customer share within {RAKING_TOLERANCE:e} after {iterations} sweeps (largest gap {:.1} percentage points): the respondents' combinations of attributes cannot reproduce these margins together.",
                100.0 * max_margin_error,
            ));
        }
        let weighted_respondents = self
            .respondents
            .iter()
            .zip(&cell_weights)
            .filter(|(_, w)| **w > 0.0)
            .fold(0u64, |acc, (&n, _)| acc.saturating_add(n));
        Weighting {
            method,
            reference,
            attributes: self.attributes.iter().map(|a| a.to_string()).collect(),
            cell_weights,
            converged,
            iterations,
            max_margin_error,
            categories,
            respondents: respondents_total,
            weighted_respondents,
            warnings,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(segment: &str, nps: &[u8]) -> RespondentCell {
        let mut summary = ResponseSummary::empty();
        for &v in nps {
            summary.add_answers(Some(v), None, None, None);
        }
        RespondentCell {
            values: vec![segment.to_string()],
            respondents: nps.len() as u64,
            summary,
        }
    }

    /// Worked example: customers are 70% smb, 30% enterprise; one smb and
    /// three enterprise respondents (n = 4). w_smb = 0.7/(1/4) = 2.8,
    /// w_ent = 0.3/(3/4) = 0.4. Σw = 2.8 + 3·0.4 = 4, Σw² = 7.84 + 3·0.16
    /// = 8.32, n_eff = 16/8.32 = 1.923. The smb answer is a 10, the
    /// enterprise ones 0, 7, 10: p = (2.8 + 0.4)/4 = 0.8, d = 0.4/4 = 0.1,
    /// weighted NPS = 70 (raw: 2 promoters, 1 detractor of 4 = 25).
    #[test]
    fn worked_post_stratification() {
        let cells = [cell("smb", &[10]), cell("enterprise", &[0, 7, 10])];
        let margin = Margin {
            attribute: "segment".into(),
            population: vec![("smb".into(), 700.0), ("enterprise".into(), 300.0)],
        };
        let w = post_stratify(&cells, 0, &margin).unwrap_or_else(|e| panic!("{e}"));
        assert!((w.cell_weights[0] - 2.8).abs() < 1e-12);
        assert!((w.cell_weights[1] - 0.4).abs() < 1e-12);
        assert!(w.converged && w.max_margin_error < 1e-15);
        let m =
            weighted_metric(Metric::Nps, &cells, &w.cell_weights).unwrap_or_else(|e| panic!("{e}"));
        assert!((m.effective_n.unwrap_or(0.0) - 16.0 / 8.32).abs() < 1e-12);
        assert!((m.weighted.value.unwrap_or(0.0) - 70.0).abs() < 1e-12);
        assert_eq!(m.raw.value, Some(25.0));
        assert!((m.difference.unwrap_or(0.0) - 45.0).abs() < 1e-12);
        // Four answers: never a verdict.
        assert!(!m.differs_significantly && m.warning.is_none());
    }

    #[test]
    fn a_significant_shift_is_explained_in_words() {
        let happy: Vec<u8> = (0..90).map(|i| if i % 10 < 7 { 10 } else { 8 }).collect();
        let unhappy: Vec<u8> = (0..30).map(|i| if i % 10 < 7 { 2 } else { 8 }).collect();
        let cells = [cell("enterprise", &happy), cell("smb", &unhappy)];
        let margin = Margin {
            attribute: "segment".into(),
            population: vec![("smb".into(), 3.0), ("enterprise".into(), 1.0)],
        };
        let w = post_stratify(&cells, 0, &margin).unwrap_or_else(|e| panic!("{e}"));
        let m =
            weighted_metric(Metric::Nps, &cells, &w.cell_weights).unwrap_or_else(|e| panic!("{e}"));
        assert!(m.differs_significantly, "{m:?}");
        let warning = m.warning.unwrap_or_default();
        assert!(
            warning.starts_with("Weighted to the customer base, Net Promoter Score is -35.0 against 35.0 as answered (-70.0 points)"),
            "{warning}"
        );
    }
}
