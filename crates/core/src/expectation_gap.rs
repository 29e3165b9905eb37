//! The expectation gap: where customers stop being satisfied with an
//! operational measure (delivery days, waiting minutes), set against the
//! target the department holds itself to.
//!
//! A logistics department may promise delivery within 5 days and keep the
//! promise, while its customers' satisfaction already falls once delivery
//! takes more than 3. Each operational record is linked to the CSAT answer
//! (1–5) about the same order; an answer of 4 or 5 counts as satisfied (the
//! CSAT definition of [`crate::metric::Metric::Csat`]). The satisfied share
//! is fitted as a monotone step function of the measure by isotonic
//! regression, and the *threshold* is the first measured value (in the
//! customers' worse direction) at which the fitted share falls below a
//! level such as 80%.
//!
//! Everything is computed from a [`GapSummary`]: counts per distinct measured
//! value, mergeable and exactly retractable like the other summaries, so the
//! target can be changed at query time.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::Serialize;

use crate::estimate::{self, Estimate};
use crate::summary::{Mergeable, ProportionSummary};

/// The level a department head usually asks about: 80% satisfied.
pub const DEFAULT_LEVEL: f64 = 0.8;

/// Fewest linked records for a firm reading (the usual rule of thumb for a
/// sample share). Even at 30, 24 satisfied of 30 (80%) has a Wilson 95%
/// interval of 63% to 90%; below it the figures are returned but marked not
/// enough.
pub const MIN_RECORDS: i64 = 30;

/// Fewest distinct measured values for a curve: with one value there is
/// nothing to compare satisfaction across.
pub const MIN_DISTINCT_VALUES: usize = 2;

/// Whether a CSAT answer (1–5) counts as satisfied: 4 or 5, as in the CSAT
/// metric.
pub fn is_satisfied(csat: u8) -> bool {
    matches!(csat, 4 | 5)
}

/// Which way the measure is good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Smaller is better (days to deliver, minutes waiting): the fitted
    /// satisfied share does not increase with the measure, and a record
    /// meets its target when its value is at most the target.
    LowerIsBetter,
    /// Larger is better (a quality score, days of notice given): the fitted
    /// share does not decrease with the measure, and a record meets its
    /// target when its value is at least the target.
    HigherIsBetter,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::LowerIsBetter => "lower_is_better",
            Direction::HigherIsBetter => "higher_is_better",
        }
    }

    /// The inverse of [`Direction::as_str`].
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "lower_is_better" => Some(Direction::LowerIsBetter),
            "higher_is_better" => Some(Direction::HigherIsBetter),
            _ => None,
        }
    }

    /// Whether a measured value `x` meets `target` (inclusive).
    pub fn meets(self, x: f64, target: f64) -> bool {
        match self {
            Direction::LowerIsBetter => x <= target,
            Direction::HigherIsBetter => x >= target,
        }
    }
}

/// Why an expectation gap could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GapError {
    #[error("the level must be a share strictly between 0 and 1 (such as 0.8 for 80%), not {0}")]
    LevelOutOfRange(f64),
    #[error("a measured value must be a finite number, not {0}")]
    NonFiniteValue(f64),
    #[error("the target must be a finite number, not {0}")]
    NonFiniteTarget(f64),
    #[error(
        "the counts at {x} are inconsistent ({satisfied} satisfied of {n}): more was retracted than was added"
    )]
    InconsistentCounts { x: f64, satisfied: i64, n: i64 },
}

/// A measured value as a map key: finite, −0.0 stored as 0.0, ordered by
/// `f64::total_cmp` (which, with those two rules, is the numeric order).
#[derive(Debug, Clone, Copy)]
struct MeasuredValue(f64);

impl MeasuredValue {
    fn new(x: f64) -> Result<Self, GapError> {
        if !x.is_finite() {
            return Err(GapError::NonFiniteValue(x));
        }
        Ok(Self(if x == 0.0 { 0.0 } else { x }))
    }
}

impl PartialEq for MeasuredValue {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for MeasuredValue {}

impl PartialOrd for MeasuredValue {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for MeasuredValue {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Linked records at one measured value: how many, and how many satisfied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct GapCounts {
    pub satisfied: i64,
    pub n: i64,
}

impl GapCounts {
    /// Records whose customer was not satisfied.
    pub fn dissatisfied(&self) -> i64 {
        self.n - self.satisfied
    }
}

/// Counts of linked records per distinct measured value.
///
/// Memory is one entry per distinct value present: an entry whose counts
/// return to zero (by retraction or by merging a negated summary) is
/// removed, so retracting rows gives back exactly the earlier summary.
/// Counts are signed so that a delta can retract; a summary of real rows
/// never holds a negative count, and [`expectation_gap`] refuses one that
/// does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GapSummary {
    counts: BTreeMap<MeasuredValue, GapCounts>,
}

impl GapSummary {
    /// The summary of no records.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one linked record; non-finite values are rejected.
    pub fn add(&mut self, x: f64, satisfied: bool) -> Result<(), GapError> {
        self.add_counts(x, i64::from(satisfied), 1)
    }

    /// Undoes one [`GapSummary::add`] of the same record.
    pub fn retract(&mut self, x: f64, satisfied: bool) -> Result<(), GapError> {
        self.add_counts(x, -i64::from(satisfied), -1)
    }

    /// Adds `n` records at `x` of which `satisfied` were satisfied (negative
    /// counts retract), e.g. one row of a `GROUP BY value` query.
    pub fn add_counts(&mut self, x: f64, satisfied: i64, n: i64) -> Result<(), GapError> {
        let key = MeasuredValue::new(x)?;
        self.add_at(key, GapCounts { satisfied, n });
        Ok(())
    }

    fn add_at(&mut self, key: MeasuredValue, counts: GapCounts) {
        let entry = self.counts.entry(key).or_default();
        entry.satisfied += counts.satisfied;
        entry.n += counts.n;
        if *entry == GapCounts::default() {
            self.counts.remove(&key);
        }
    }

    /// The summary with every count negated (merging it retracts `self`).
    pub fn negated(&self) -> Self {
        Self {
            counts: self
                .counts
                .iter()
                .map(|(&k, c)| {
                    (
                        k,
                        GapCounts {
                            satisfied: -c.satisfied,
                            n: -c.n,
                        },
                    )
                })
                .collect(),
        }
    }

    /// Number of linked records.
    pub fn n(&self) -> i64 {
        self.counts.values().map(|c| c.n).sum()
    }

    /// Number of linked records whose customer was satisfied.
    pub fn satisfied(&self) -> i64 {
        self.counts.values().map(|c| c.satisfied).sum()
    }

    /// Number of distinct measured values.
    pub fn distinct_values(&self) -> usize {
        self.counts.len()
    }

    /// True when the summary counts nothing.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// The counts per distinct value, in increasing order of the value.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (f64, GapCounts)> + '_ {
        self.counts.iter().map(|(k, &c)| (k.0, c))
    }

    /// The records that meet `target` in `direction` (value at most the
    /// target when lower is better, at least it when higher is better).
    pub fn meeting_target(&self, target: f64, direction: Direction) -> Result<GapCounts, GapError> {
        if !target.is_finite() {
            return Err(GapError::NonFiniteTarget(target));
        }
        let key = MeasuredValue(if target == 0.0 { 0.0 } else { target });
        let total = |range: &mut dyn Iterator<Item = &GapCounts>| {
            range.fold(GapCounts::default(), |acc, c| GapCounts {
                satisfied: acc.satisfied + c.satisfied,
                n: acc.n + c.n,
            })
        };
        Ok(match direction {
            Direction::LowerIsBetter => total(&mut self.counts.range(..=key).map(|(_, c)| c)),
            Direction::HigherIsBetter => total(&mut self.counts.range(key..).map(|(_, c)| c)),
        })
    }
}

impl Mergeable for GapSummary {
    fn empty() -> Self {
        Self::default()
    }
    fn merge(&mut self, other: &Self) {
        for (&key, &counts) in &other.counts {
            self.add_at(key, counts);
        }
    }
}

/// One distinct measured value on the fitted curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CurvePoint {
    pub x: f64,
    /// The fitted (isotonic) satisfied share, 0…1.
    pub satisfied_share: f64,
    /// The share observed at this value alone, 0…1.
    pub observed_share: f64,
    pub n: i64,
    pub satisfied: i64,
}

/// A run of pooled values: its first curve index and its totals.
struct Block {
    start: usize,
    satisfied: i64,
    n: i64,
}

impl Block {
    /// Whether `self`, followed by `next`, breaks strict monotonicity in
    /// `direction`; compared exactly by cross-multiplication (n > 0).
    fn must_pool_with(&self, next: &Block, direction: Direction) -> bool {
        let this = i128::from(self.satisfied) * i128::from(next.n);
        let that = i128::from(next.satisfied) * i128::from(self.n);
        match direction {
            Direction::LowerIsBetter => this <= that,
            Direction::HigherIsBetter => this >= that,
        }
    }
}

/// The satisfied share per distinct value, fitted by weighted isotonic
/// regression: non-increasing in the value when lower is better,
/// non-decreasing when higher is better, each value weighted by its number
/// of records. This is the maximum-likelihood fit of a monotone share
/// (Barlow, Bartholomew, Bremner & Brunk 1972, "Statistical Inference under
/// Order Restrictions"), computed by pool-adjacent-violators (Best &
/// Chakravarti 1990, "Active set algorithms for isotonic regression"); the
/// same values as scikit-learn's `IsotonicRegression(increasing=...)` with
/// `sample_weight`.
///
/// Adjacent blocks are pooled whenever they are not strictly monotone, so
/// equal neighbouring blocks become one (the fitted values are the same as
/// pooling only strict violators). Each block's value is its satisfied count
/// over its record count, compared exactly in integers. Runs in O(distinct
/// values): each value is pushed once and pooled at most once.
pub fn isotonic_fit(
    summary: &GapSummary,
    direction: Direction,
) -> Result<Vec<CurvePoint>, GapError> {
    let mut blocks: Vec<Block> = Vec::new();
    for (i, (x, c)) in summary.iter().enumerate() {
        if c.n <= 0 || c.satisfied < 0 || c.satisfied > c.n {
            return Err(GapError::InconsistentCounts {
                x,
                satisfied: c.satisfied,
                n: c.n,
            });
        }
        let mut block = Block {
            start: i,
            satisfied: c.satisfied,
            n: c.n,
        };
        while let Some(previous) = blocks.pop_if(|p| p.must_pool_with(&block, direction)) {
            block = Block {
                start: previous.start,
                satisfied: previous.satisfied + block.satisfied,
                n: previous.n + block.n,
            };
        }
        blocks.push(block);
    }
    let mut curve: Vec<CurvePoint> = summary
        .iter()
        .map(|(x, c)| CurvePoint {
            x,
            satisfied_share: 0.0,
            observed_share: c.satisfied as f64 / c.n as f64,
            n: c.n,
            satisfied: c.satisfied,
        })
        .collect();
    let mut end = curve.len();
    for block in blocks.iter().rev() {
        let share = block.satisfied as f64 / block.n as f64;
        for point in curve.get_mut(block.start..end).into_iter().flatten() {
            point.satisfied_share = share;
        }
        end = block.start;
    }
    Ok(curve)
}

/// How the customers' threshold stands against the department's target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The threshold meets the target: customers are already dissatisfied
    /// (fitted share below the level) at a value the target accepts. This is
    /// the disagreement the analysis looks for.
    CustomersStricterThanTarget,
    /// Every value that meets the target has a fitted share at or above the
    /// level; satisfaction falls below it only beyond the target.
    TargetAtLeastAsStrict,
    /// The fitted share never falls below the level: customers stayed
    /// satisfied across the whole observed range (with or without a target).
    NoThreshold,
    /// There is a threshold but no target to compare it with.
    NoTarget,
    /// No linked records.
    NoData,
}

/// Where customers' satisfaction falls, against the department's target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExpectationGap {
    pub direction: Direction,
    /// The satisfied share asked about, 0…1.
    pub level: f64,
    /// The measure's unit as given ("days"), used in `summary`.
    pub unit: String,
    /// LowerIsBetter: the smallest observed value whose fitted satisfied
    /// share is below `level` (so every larger value's is too).
    /// HigherIsBetter, the mirror: the largest observed value whose fitted
    /// share is below `level` (so every smaller value's is too). `None` when no fitted share is below it. A
    /// point estimate: no interval is computed, and sparse values at the
    /// ends of the range can move it.
    pub threshold: Option<f64>,
    /// The target, as given.
    pub target: Option<f64>,
    /// Linked records.
    pub n: i64,
    /// Overall satisfied share, `None` when n = 0.
    pub satisfied_share: Option<f64>,
    /// Records meeting the target (`None` without a target).
    pub met_target_n: Option<i64>,
    /// Records meeting the target whose customer was dissatisfied.
    pub met_target_dissatisfied_n: Option<i64>,
    /// (met target ∧ dissatisfied) / all linked records.
    pub met_target_but_dissatisfied_share: Option<f64>,
    /// (met target ∧ dissatisfied) / met target, with its Wilson 95%
    /// interval; its `n` is `met_target_n`, its value `None` when no record
    /// met the target.
    pub dissatisfied_share_among_met: Option<Estimate>,
    /// One point per distinct value, in increasing order of the value
    /// (to draw a measure with very many values, use
    /// [`ExpectationGap::curve_bins`]).
    pub curve: Vec<CurvePoint>,
    /// False with fewer than [`MIN_RECORDS`] records or fewer than
    /// [`MIN_DISTINCT_VALUES`] distinct values; the figures are still given.
    pub enough_data: bool,
    pub verdict: Verdict,
    /// The finding in plain language for a department head.
    pub summary: String,
}

/// The expectation gap of the linked records in `summary`.
///
/// `level` is the satisfied share asked about (use [`DEFAULT_LEVEL`]) and
/// must lie strictly between 0 and 1. `target` is the department's own
/// target in the measure's units (inclusive: a record meets it at equality).
/// `unit` names the units in the summary text (plural, e.g. "days"; empty
/// for none). The threshold is a point estimate (see
/// [`ExpectationGap::threshold`]). Runs in O(distinct values).
pub fn expectation_gap(
    summary: &GapSummary,
    direction: Direction,
    level: f64,
    target: Option<f64>,
    unit: &str,
) -> Result<ExpectationGap, GapError> {
    if !(level > 0.0 && level < 1.0) {
        return Err(GapError::LevelOutOfRange(level));
    }
    let met = target
        .map(|t| summary.meeting_target(t, direction))
        .transpose()?;
    let curve = isotonic_fit(summary, direction)?;
    let n = summary.n();
    let satisfied = summary.satisfied();
    let below = |p: &&CurvePoint| p.satisfied_share < level;
    let threshold = match direction {
        Direction::LowerIsBetter => curve.iter().find(below),
        Direction::HigherIsBetter => curve.iter().rev().find(below),
    }
    .map(|p| p.x);
    let verdict = match (n, threshold, target) {
        (0, _, _) => Verdict::NoData,
        (_, None, _) => Verdict::NoThreshold,
        (_, Some(_), None) => Verdict::NoTarget,
        (_, Some(th), Some(t)) if direction.meets(th, t) => Verdict::CustomersStricterThanTarget,
        (_, Some(_), Some(_)) => Verdict::TargetAtLeastAsStrict,
    };
    let share = |count: i64, of: i64| (of > 0).then(|| count as f64 / of as f64);
    let mut gap = ExpectationGap {
        direction,
        level,
        unit: unit.to_string(),
        threshold,
        target,
        n,
        satisfied_share: share(satisfied, n),
        met_target_n: met.map(|m| m.n),
        met_target_dissatisfied_n: met.map(|m| m.dissatisfied()),
        met_target_but_dissatisfied_share: met.and_then(|m| share(m.dissatisfied(), n)),
        dissatisfied_share_among_met: met.map(|m| {
            estimate::wilson(&ProportionSummary {
                successes: m.dissatisfied(),
                trials: m.n,
            })
        }),
        enough_data: n >= MIN_RECORDS && curve.len() >= MIN_DISTINCT_VALUES,
        curve,
        verdict,
        summary: String::new(),
    };
    gap.summary = describe(&gap);
    Ok(gap)
}

/// A run of consecutive curve points drawn as one, for display.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CurveBin {
    /// Smallest value in the bin.
    pub x_low: f64,
    /// Largest value in the bin.
    pub x_high: f64,
    /// The record-weighted mean of the fitted shares in the bin (exactly the
    /// fitted share when the bin lies within one fitted step).
    pub satisfied_share: f64,
    /// The share observed over the bin's records.
    pub observed_share: f64,
    pub n: i64,
    pub satisfied: i64,
    /// Number of distinct values in the bin.
    pub distinct_values: usize,
}

impl ExpectationGap {
    /// The curve in at most `max_bins` bins: see [`bin_curve`].
    pub fn curve_bins(&self, max_bins: usize) -> Vec<CurveBin> {
        bin_curve(&self.curve, max_bins)
    }
}

/// At most `max_bins` bins of consecutive curve points, for drawing a curve
/// of very many distinct values (none for `max_bins` = 0).
///
/// - When the curve has no more points than `max_bins`, one bin per point.
/// - Otherwise, when the fitted step function has at most `max_bins` steps
///   (runs of equal fitted share), no bin crosses a step: every step
///   boundary — the threshold among them — stays a bin boundary and every
///   bin's fitted share is exact. Each step gets one bin plus a share of the
///   spare bins in proportion to its number of points (at most one bin per
///   point), and is cut into runs of (nearly) equal numbers of points.
/// - Otherwise (more steps than bins), the points are cut into `max_bins`
///   runs of nearly equal numbers of points, and a bin's fitted share is the
///   record-weighted mean of its points' — still monotone in the fitted
///   direction, since those are means of consecutive runs of a monotone
///   sequence.
///
/// The output length never exceeds `max_bins` or the curve's length, and
/// the bins' `n` add up to the curve's.
pub fn bin_curve(curve: &[CurvePoint], max_bins: usize) -> Vec<CurveBin> {
    let len = curve.len();
    if max_bins == 0 || len == 0 {
        return Vec::new();
    }
    if len <= max_bins {
        return curve
            .iter()
            .filter_map(|p| bin_of(std::slice::from_ref(p)))
            .collect();
    }
    let mut steps: Vec<(usize, usize)> = Vec::new();
    let mut start = 0;
    for i in 1..=len {
        let boundary = match (curve.get(i - 1), curve.get(i)) {
            (Some(a), Some(b)) => a.satisfied_share != b.satisfied_share,
            _ => true,
        };
        if boundary {
            steps.push((start, i));
            start = i;
        }
    }
    let mut bins = Vec::with_capacity(max_bins.min(len));
    if steps.len() <= max_bins {
        // The spare bins are shared by cumulative rounding, so the shares add
        // up to exactly `spare`; spare < len, so the products fit in u128.
        let spare = (max_bins - steps.len()) as u128;
        let share_before = |points: usize| (points as u128 * spare / len as u128) as usize;
        for &(start, end) in &steps {
            let extra = share_before(end) - share_before(start);
            push_runs(&mut bins, curve.get(start..end).unwrap_or(&[]), 1 + extra);
        }
    } else {
        push_runs(&mut bins, curve, max_bins);
    }
    bins
}

/// Cuts `points` into `runs` (at most its length) runs of nearly equal
/// length and appends their bins.
fn push_runs(bins: &mut Vec<CurveBin>, points: &[CurvePoint], runs: usize) {
    let runs = runs.min(points.len()).max(1);
    let len = points.len();
    for j in 0..runs {
        let (from, to) = (j * len / runs, (j + 1) * len / runs);
        if let Some(bin) = points.get(from..to).and_then(bin_of) {
            bins.push(bin);
        }
    }
}

fn bin_of(points: &[CurvePoint]) -> Option<CurveBin> {
    let first = points.first()?;
    let last = points.last()?;
    let n: i64 = points.iter().map(|p| p.n).sum();
    let satisfied: i64 = points.iter().map(|p| p.satisfied).sum();
    let one_step = points
        .iter()
        .all(|p| p.satisfied_share == first.satisfied_share);
    let satisfied_share = if one_step || n <= 0 {
        first.satisfied_share
    } else {
        points
            .iter()
            .map(|p| p.satisfied_share * p.n as f64)
            .sum::<f64>()
            / n as f64
    };
    Some(CurveBin {
        x_low: first.x,
        x_high: last.x,
        satisfied_share,
        observed_share: if n > 0 {
            satisfied as f64 / n as f64
        } else {
            0.0
        },
        n,
        satisfied,
        distinct_values: points.len(),
    })
}

/// The plain-language finding.
fn describe(gap: &ExpectationGap) -> String {
    let level = format!("{}%", shown(gap.level * 100.0, 2));
    let (threshold_text, target_text) = match (gap.threshold, gap.target) {
        (Some(th), Some(t)) => {
            let (a, b) = distinguishable(th, t);
            (
                Some(with_unit(&a, &gap.unit)),
                Some(with_unit(&b, &gap.unit)),
            )
        }
        (th, t) => (
            th.map(|v| with_unit(&number(v), &gap.unit)),
            t.map(|v| with_unit(&number(v), &gap.unit)),
        ),
    };
    let (worse, accepts) = match gap.direction {
        Direction::LowerIsBetter => ("or more", "allows up to"),
        Direction::HigherIsBetter => ("or less", "asks for at least"),
    };
    let falls = |th: &str| format!("Customers' satisfaction falls below {level} at {th} {worse}");
    let met_sentence = |t: &str| match (gap.met_target_n, gap.met_target_dissatisfied_n) {
        (Some(met), Some(dissatisfied)) if met > 0 => format!(
            "{} of orders that met the target ({dissatisfied} of {met}) left the customer dissatisfied.",
            percent(dissatisfied as f64 / met as f64)
        ),
        _ => format!("No order met the target (the target {accepts} {t})."),
    };
    let mut text = caveat(gap);
    let main = match (gap.verdict, threshold_text, target_text) {
        (Verdict::NoData, _, _) => {
            "No orders are linked to a satisfaction answer yet, so there is nothing to compare with the target."
                .to_string()
        }
        (Verdict::CustomersStricterThanTarget, Some(th), Some(t)) => {
            let share = match (gap.met_target_n, gap.met_target_dissatisfied_n) {
                (Some(met), Some(dissatisfied)) if met > 0 => {
                    percent(dissatisfied as f64 / met as f64)
                }
                _ => "none".to_string(),
            };
            format!(
                "{}, while the target {accepts} {t}: {share} of orders that met the target left the customer dissatisfied.",
                falls(&th)
            )
        }
        (Verdict::TargetAtLeastAsStrict, Some(th), Some(t)) => match gap.met_target_n {
            Some(met) if met > 0 => format!(
                "The target ({accepts} {t}) is at least as strict as customers are: the fitted satisfied share stays at or above {level} for every value that meets it, and falls below {level} only at {th} {worse}. {}",
                met_sentence(&t)
            ),
            _ => format!("{}. {}", falls(&th), met_sentence(&t)),
        },
        (Verdict::NoTarget, Some(th), _) => format!(
            "{}. No target was given to compare with.",
            falls(&th)
        ),
        (_, _, target) => {
            let range = match (gap.curve.first(), gap.curve.last()) {
                (Some(a), Some(b)) if a.x != b.x => format!(
                    "across the whole observed range ({} to {})",
                    number(a.x),
                    with_unit(&number(b.x), &gap.unit)
                ),
                (Some(a), _) => format!(
                    "at the only observed value ({})",
                    with_unit(&number(a.x), &gap.unit)
                ),
                _ => "across the observed range".to_string(),
            };
            let mut s = format!(
                "Customers stayed satisfied {range}: the fitted satisfied share never falls below {level}."
            );
            if let Some(t) = target {
                s.push(' ');
                s.push_str(&met_sentence(&t));
            }
            s
        }
    };
    text.push_str(&main);
    text
}

/// The warning that opens the summary when there is too little data.
fn caveat(gap: &ExpectationGap) -> String {
    if gap.enough_data || gap.n == 0 {
        return String::new();
    }
    if gap.n < MIN_RECORDS {
        format!(
            "Too little data for a firm reading: only {} linked orders ({MIN_RECORDS} are needed). ",
            gap.n
        )
    } else {
        "Too little data for a firm reading: every linked order has the same value, so satisfaction cannot be compared across values. "
            .to_string()
    }
}

fn with_unit(value: &str, unit: &str) -> String {
    if unit.is_empty() {
        value.to_string()
    } else {
        format!("{value} {unit}")
    }
}

/// A share as a whole percentage, never rounded to 0% or 100% when it is
/// not exactly that.
fn percent(share: f64) -> String {
    let p = share * 100.0;
    if p > 0.0 && p < 0.5 {
        "under 1%".to_string()
    } else if (99.5..100.0).contains(&p) {
        "over 99%".to_string()
    } else {
        format!("{p:.0}%")
    }
}

/// Decimals to show for a measured value: none for whole numbers, else two,
/// or three significant digits for small values (at most 6).
fn decimals(x: f64) -> usize {
    if x.fract() == 0.0 {
        return 0;
    }
    let magnitude = x.abs().log10().floor();
    if magnitude >= -2.0 {
        2
    } else {
        ((2.0 - magnitude) as usize).min(6)
    }
}

fn number(x: f64) -> String {
    shown(x, decimals(x))
}

/// `x` with at most `decimals` decimals, trailing zeros dropped.
fn shown(x: f64, decimals: usize) -> String {
    let text = format!("{x:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        &text
    };
    if text == "-0" {
        "0".to_string()
    } else {
        text.to_string()
    }
}

/// Two values shown with enough decimals that different values never look
/// the same (up to 12 decimals).
fn distinguishable(a: f64, b: f64) -> (String, String) {
    let mut d = decimals(a).max(decimals(b));
    loop {
        let (sa, sb) = (shown(a, d), shown(b, d));
        if a == b || sa != sb || d >= 12 {
            return (sa, sb);
        }
        d += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_shown_plainly() {
        assert_eq!(number(4.0), "4");
        assert_eq!(number(-0.0), "0");
        assert_eq!(number(2.5), "2.5");
        assert_eq!(number(47.23167), "47.23");
        assert_eq!(number(0.001234), "0.00123");
        assert_eq!(shown(80.0, 2), "80");
        assert_eq!(shown(87.5, 2), "87.5");
        assert_eq!(distinguishable(4.999, 5.0), ("4.999".into(), "5".into()));
        assert_eq!(distinguishable(5.0, 5.0), ("5".into(), "5".into()));
    }

    #[test]
    fn percentages_never_round_to_none_or_all() {
        assert_eq!(percent(0.001), "under 1%");
        assert_eq!(percent(0.0), "0%");
        assert_eq!(percent(0.996), "over 99%");
        assert_eq!(percent(1.0), "100%");
        assert_eq!(percent(0.375), "38%");
    }
}
