//! Revenue at risk: what detractors' extra churn costs a year, and what one
//! NPS point is worth, from customers grouped by their most recent NPS
//! answer (promoters 9–10, passives 7–8, detractors 0–6).
//!
//! Every figure carries its formula, the calculation with the numbers
//! substituted and the inputs with where each came from, so that a finance
//! reviewer can redo it. Churn rates are measured from churn flags (with
//! Wilson intervals) when enough flags are known, otherwise they are the
//! caller's assumption, and each rate says which ([`ChurnSource`]).
//!
//! The approach is the customer economics of Reichheld (2003, "The One
//! Number You Need to Grow", HBR 81(12)) and Reichheld & Markey (2011, The
//! Ultimate Question 2.0, ch. 2): value each loyalty group by what its
//! customers are worth and how they behave. Only retention is counted
//! here — no spend growth, referrals or cost to serve — so the figures are
//! a floor of the value Bain's worksheets would show.

use serde::Serialize;

use crate::estimate::{self, Estimate};
use crate::summary::ProportionSummary;

/// Fewest customers with a known churn flag before a group's churn rate is
/// measured rather than assumed: below it the interval is too wide to
/// price (the same floor as for significance, [`crate::comparison`]).
pub const MIN_CHURN_FLAGS: u64 = 30;

/// What the store knows about the customers of one loyalty group.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LoyaltyGroupCustomers {
    /// Customers whose most recent NPS answer puts them in the group.
    pub customers: u64,
    /// Of them, customers with a known churn flag (churned or stayed).
    pub churn_known: u64,
    /// Of those, customers who churned.
    pub churned: u64,
    /// Customers with a known annual value.
    pub value_known: u64,
    /// Sum of the annual values of those `value_known` customers.
    pub annual_value_sum: f64,
}

impl LoyaltyGroupCustomers {
    /// Adds another set of customers of the same group (e.g. to total
    /// several departments).
    pub fn merge(&mut self, other: &Self) {
        self.customers = self.customers.saturating_add(other.customers);
        self.churn_known = self.churn_known.saturating_add(other.churn_known);
        self.churned = self.churned.saturating_add(other.churned);
        self.value_known = self.value_known.saturating_add(other.value_known);
        self.annual_value_sum += other.annual_value_sum;
    }
}

/// Customers by loyalty group.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LoyaltyCustomers {
    pub promoters: LoyaltyGroupCustomers,
    pub passives: LoyaltyGroupCustomers,
    pub detractors: LoyaltyGroupCustomers,
}

impl LoyaltyCustomers {
    /// Adds every group of `other`.
    pub fn merge(&mut self, other: &Self) {
        self.promoters.merge(&other.promoters);
        self.passives.merge(&other.passives);
        self.detractors.merge(&other.detractors);
    }

    fn group(&self, group: LoyaltyGroup) -> &LoyaltyGroupCustomers {
        match group {
            LoyaltyGroup::Promoters => &self.promoters,
            LoyaltyGroup::Passives => &self.passives,
            LoyaltyGroup::Detractors => &self.detractors,
        }
    }
}

/// Churn rates (0…1, over the period the churn flags cover — a year for
/// annual figures) to use for groups with too few known flags.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChurnAssumptions {
    pub promoters: f64,
    pub passives: f64,
    pub detractors: f64,
}

/// The caller's choices.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RevenueSettings {
    pub assumed_churn: ChurnAssumptions,
    /// See [`MIN_CHURN_FLAGS`].
    pub min_churn_flags: u64,
}

/// A loyalty group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoyaltyGroup {
    Promoters,
    Passives,
    Detractors,
}

impl LoyaltyGroup {
    fn singular(self) -> &'static str {
        match self {
            LoyaltyGroup::Promoters => "promoter",
            LoyaltyGroup::Passives => "passive",
            LoyaltyGroup::Detractors => "detractor",
        }
    }
}

/// Where a churn rate comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChurnSource {
    /// From the group's churn flags, with a Wilson interval.
    Measured,
    /// The caller's assumption (too few flags known): no interval.
    Assumed,
}

/// A group's churn rate, 0…1.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChurnRate {
    pub group: LoyaltyGroup,
    pub rate: f64,
    /// Wilson 95% interval when measured; the rate itself when assumed.
    pub ci_low: f64,
    pub ci_high: f64,
    pub source: ChurnSource,
    pub flags_known: u64,
    pub churned: u64,
    /// One sentence on how the rate was obtained.
    pub basis: String,
}

/// One number a dollar figure is computed from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FormulaInput {
    pub name: String,
    pub value: f64,
    pub source: String,
}

/// An amount (in the currency of the annual values) with its range and
/// everything needed to check it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DollarFigure {
    /// `None` when it cannot be computed (`note` says why).
    pub value: Option<f64>,
    /// The range that the churn-rate intervals allow (annual values taken
    /// as known).
    pub low: Option<f64>,
    pub high: Option<f64>,
    /// The definition, in words and symbols.
    pub formula: String,
    /// The formula with this figure's numbers substituted.
    pub calculation: Option<String>,
    pub inputs: Vec<FormulaInput>,
    /// Anything the reader must know: a floor at zero, a missing input.
    pub note: Option<String>,
}

/// The revenue figures of one set of customers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RevenueAtRisk {
    /// Customers classified by an NPS answer (promoters + passives +
    /// detractors).
    pub customers: u64,
    pub promoter_churn: ChurnRate,
    pub passive_churn: ChurnRate,
    pub detractor_churn: ChurnRate,
    /// Annual value of all detractor customers.
    pub detractor_annual_value: DollarFigure,
    pub revenue_at_risk: DollarFigure,
    pub value_of_one_nps_point: DollarFigure,
}

/// The figures of one group of a breakdown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupRevenueAtRisk {
    pub key: String,
    #[serde(flatten)]
    pub figures: RevenueAtRisk,
}

/// The figures for all customers and per group (department, segment, …).
/// The groups' figures need not add up to the total: each group has its
/// own churn rates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RevenueBreakdown {
    pub total: RevenueAtRisk,
    pub groups: Vec<GroupRevenueAtRisk>,
}

/// Inconsistent inputs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RevenueError {
    #[error("{group:?}: {churned} churned of {known} customers with a churn flag")]
    ChurnedExceedsKnown {
        group: LoyaltyGroup,
        churned: u64,
        known: u64,
    },
    #[error("{group:?}: {known} customers with a churn flag of {customers} customers")]
    FlagsExceedCustomers {
        group: LoyaltyGroup,
        known: u64,
        customers: u64,
    },
    #[error("{group:?}: {known} customers with a known value of {customers} customers")]
    ValuesExceedCustomers {
        group: LoyaltyGroup,
        known: u64,
        customers: u64,
    },
    #[error(
        "{group:?}: sum of annual values {sum} for {known} customers is not a finite non-negative amount"
    )]
    InvalidValueSum {
        group: LoyaltyGroup,
        sum: f64,
        known: u64,
    },
    #[error("assumed churn rate of {group:?} ({rate}) is not between 0 and 1")]
    InvalidAssumption { group: LoyaltyGroup, rate: f64 },
    #[error("group {key:?}: {source}")]
    InGroup {
        key: String,
        source: Box<RevenueError>,
    },
}

/// Churn rates, revenue at risk and the value of one NPS point.
///
/// - Churn rate of a group: churned / customers with a churn flag, with
///   Wilson's 95% interval ([`estimate::wilson`]), when at least
///   `min_churn_flags` flags are known; otherwise the assumed rate.
/// - Detractor annual value V_D = detractors × (sum of known detractor
///   annual values / detractors with a known value): the customers without
///   a known value are taken to be worth the mean of those with one.
/// - Revenue at risk = V_D × max(0, c_D − c_P): the annual revenue lost
///   because detractors churn more than promoters do. When detractors
///   churn no more than promoters it is 0 and the note says so (a
///   negative "risk" would be a gain nobody should book).
/// - Value of one NPS point = 0.01 × customers × (V_D / detractors) ×
///   max(0, c_D − c_Pa): one point of NPS is 1% of the NPS-answering
///   customers moving from detractor to passive (NPS rises by exactly
///   one); each keeps their annual value and churns like a passive.
/// - Ranges: Newcombe's (1998) hybrid score interval of the churn
///   difference ("Interval estimation for the difference between
///   independent proportions", Stat. Med. 17, method 10; statsmodels'
///   `confint_proportions_2indep(method="newcomb")`), built from the two
///   Wilson intervals (an assumed rate contributes no width), floored at 0.
///   The annual values are taken as known.
pub fn revenue_at_risk(
    input: &LoyaltyCustomers,
    settings: &RevenueSettings,
) -> Result<RevenueAtRisk, RevenueError> {
    for group in [
        LoyaltyGroup::Promoters,
        LoyaltyGroup::Passives,
        LoyaltyGroup::Detractors,
    ] {
        validate(group, input.group(group), settings)?;
    }
    let promoter_churn = churn_rate(LoyaltyGroup::Promoters, &input.promoters, settings);
    let passive_churn = churn_rate(LoyaltyGroup::Passives, &input.passives, settings);
    let detractor_churn = churn_rate(LoyaltyGroup::Detractors, &input.detractors, settings);
    let customers = input
        .promoters
        .customers
        .saturating_add(input.passives.customers)
        .saturating_add(input.detractors.customers);
    let detractors = &input.detractors;
    let value = DetractorValue::new(detractors);
    let detractor_annual_value = value.figure(detractors);
    let revenue_at_risk = churn_cost(
        ChurnCost {
            formula: "revenue at risk = V_D × max(0, c_D − c_P), where V_D = detractors × mean known detractor annual value, c_D and c_P the detractor and promoter churn rates: the annual revenue lost because detractors churn more than promoters",
            scale: value.total,
            scale_text: value.total_text.clone(),
            higher: &detractor_churn,
            lower: &promoter_churn,
            extra_inputs: value.inputs.clone(),
        },
        value.missing.clone(),
    );
    let moved = 0.01 * customers as f64;
    let one_point_scale = value.mean.map(|mean| moved * mean);
    let mut one_point_inputs = vec![FormulaInput {
        name: "customers classified by NPS".into(),
        value: customers as f64,
        source: format!(
            "{} promoters + {} passives + {} detractors",
            input.promoters.customers, input.passives.customers, input.detractors.customers
        ),
    }];
    one_point_inputs.extend(value.inputs.iter().cloned());
    let mut value_of_one_nps_point = churn_cost(
        ChurnCost {
            formula: "value of one NPS point = 0.01 × customers × mean detractor annual value × max(0, c_D − c_Pa): one point is 1% of the NPS-answering customers moving from detractor to passive, each keeping their annual value and churning like a passive (retention only, no spend or referral gains)",
            scale: one_point_scale,
            scale_text: value
                .mean
                .map(|mean| format!("0.01 × {customers} × {}", money(mean))),
            higher: &detractor_churn,
            lower: &passive_churn,
            extra_inputs: one_point_inputs,
        },
        value.missing.clone(),
    );
    if value.mean.is_some() && moved > detractors.customers as f64 {
        let extra = format!(
            "There are fewer detractors ({}) than 1% of customers ({moved:.1}): the figure prices a move larger than the detractors available.",
            detractors.customers
        );
        value_of_one_nps_point.note = Some(match value_of_one_nps_point.note.take() {
            Some(note) => format!("{note} {extra}"),
            None => extra,
        });
    }
    Ok(RevenueAtRisk {
        customers,
        promoter_churn,
        passive_churn,
        detractor_churn,
        detractor_annual_value,
        revenue_at_risk,
        value_of_one_nps_point,
    })
}

/// [`revenue_at_risk`] for all customers (the groups merged) and for each
/// keyed group.
pub fn revenue_at_risk_by(
    groups: &[(String, LoyaltyCustomers)],
    settings: &RevenueSettings,
) -> Result<RevenueBreakdown, RevenueError> {
    let mut all = LoyaltyCustomers::default();
    let mut per_group = Vec::with_capacity(groups.len());
    for (key, customers) in groups {
        all.merge(customers);
        let figures =
            revenue_at_risk(customers, settings).map_err(|source| RevenueError::InGroup {
                key: key.clone(),
                source: Box::new(source),
            })?;
        per_group.push(GroupRevenueAtRisk {
            key: key.clone(),
            figures,
        });
    }
    Ok(RevenueBreakdown {
        total: revenue_at_risk(&all, settings)?,
        groups: per_group,
    })
}

fn validate(
    group: LoyaltyGroup,
    g: &LoyaltyGroupCustomers,
    settings: &RevenueSettings,
) -> Result<(), RevenueError> {
    if g.churned > g.churn_known {
        return Err(RevenueError::ChurnedExceedsKnown {
            group,
            churned: g.churned,
            known: g.churn_known,
        });
    }
    if g.churn_known > g.customers {
        return Err(RevenueError::FlagsExceedCustomers {
            group,
            known: g.churn_known,
            customers: g.customers,
        });
    }
    if g.value_known > g.customers {
        return Err(RevenueError::ValuesExceedCustomers {
            group,
            known: g.value_known,
            customers: g.customers,
        });
    }
    let sum_ok = g.annual_value_sum.is_finite()
        && g.annual_value_sum >= 0.0
        && (g.value_known > 0 || g.annual_value_sum == 0.0);
    if !sum_ok {
        return Err(RevenueError::InvalidValueSum {
            group,
            sum: g.annual_value_sum,
            known: g.value_known,
        });
    }
    let rate = assumed(group, settings);
    if !(0.0..=1.0).contains(&rate) {
        return Err(RevenueError::InvalidAssumption { group, rate });
    }
    Ok(())
}

fn assumed(group: LoyaltyGroup, settings: &RevenueSettings) -> f64 {
    let a = &settings.assumed_churn;
    match group {
        LoyaltyGroup::Promoters => a.promoters,
        LoyaltyGroup::Passives => a.passives,
        LoyaltyGroup::Detractors => a.detractors,
    }
}

fn churn_rate(
    group: LoyaltyGroup,
    g: &LoyaltyGroupCustomers,
    settings: &RevenueSettings,
) -> ChurnRate {
    let minimum = settings.min_churn_flags.max(1);
    if g.churn_known >= minimum {
        let summary = ProportionSummary {
            successes: i64::try_from(g.churned).unwrap_or(i64::MAX),
            trials: i64::try_from(g.churn_known).unwrap_or(i64::MAX),
        };
        if let Estimate {
            value: Some(rate),
            ci_low: Some(low),
            ci_high: Some(high),
            ..
        } = estimate::wilson(&summary)
        {
            return ChurnRate {
                group,
                rate,
                ci_low: low,
                ci_high: high,
                source: ChurnSource::Measured,
                flags_known: g.churn_known,
                churned: g.churned,
                basis: format!(
                    "measured: {} of {} {}s with a churn flag churned; Wilson 95% interval",
                    g.churned,
                    g.churn_known,
                    group.singular()
                ),
            };
        }
    }
    let rate = assumed(group, settings);
    ChurnRate {
        group,
        rate,
        ci_low: rate,
        ci_high: rate,
        source: ChurnSource::Assumed,
        flags_known: g.churn_known,
        churned: g.churned,
        basis: format!(
            "assumed {}: only {} {}s have a churn flag, fewer than the {} needed to measure it; no interval",
            percent(rate),
            g.churn_known,
            group.singular(),
            minimum
        ),
    }
}

/// Detractors' annual value, extrapolated from those with a known value.
struct DetractorValue {
    mean: Option<f64>,
    total: Option<f64>,
    total_text: Option<String>,
    inputs: Vec<FormulaInput>,
    missing: Option<String>,
}

impl DetractorValue {
    fn new(d: &LoyaltyGroupCustomers) -> Self {
        let mut inputs = vec![
            FormulaInput {
                name: "detractor customers".into(),
                value: d.customers as f64,
                source: "customers whose most recent NPS answer is 0–6".into(),
            },
            FormulaInput {
                name: "detractors with a known annual value".into(),
                value: d.value_known as f64,
                source: "customers' annual value field".into(),
            },
            FormulaInput {
                name: "sum of known detractor annual values".into(),
                value: d.annual_value_sum,
                source: "customers' annual value field".into(),
            },
        ];
        if d.customers == 0 {
            return Self {
                mean: None,
                total: Some(0.0),
                total_text: Some("0 detractors".into()),
                inputs,
                missing: Some("There are no detractors: nothing is at risk from them.".into()),
            };
        }
        if d.value_known == 0 {
            return Self {
                mean: None,
                total: None,
                total_text: None,
                inputs,
                missing: Some(
                    "No detractor has a known annual value, so their revenue cannot be priced."
                        .into(),
                ),
            };
        }
        let mean = d.annual_value_sum / d.value_known as f64;
        let total = d.customers as f64 * mean;
        inputs.push(FormulaInput {
            name: "mean detractor annual value".into(),
            value: mean,
            source: format!(
                "{} ÷ {} detractors with a known value",
                money(d.annual_value_sum),
                d.value_known
            ),
        });
        inputs.push(FormulaInput {
            name: "detractor annual value V_D".into(),
            value: total,
            source: format!(
                "{} detractors × {} (customers without a known value taken at the mean)",
                d.customers,
                money(mean)
            ),
        });
        Self {
            mean: Some(mean),
            total: Some(total),
            total_text: Some(format!(
                "{} × ({} ÷ {})",
                d.customers,
                money(d.annual_value_sum),
                d.value_known
            )),
            inputs,
            missing: None,
        }
    }

    fn figure(&self, d: &LoyaltyGroupCustomers) -> DollarFigure {
        DollarFigure {
            value: self.total,
            low: self.total,
            high: self.total,
            formula: "V_D = detractors × (sum of known detractor annual values ÷ detractors with a known value)".into(),
            calculation: match (self.total, &self.total_text) {
                (Some(total), Some(text)) if d.customers > 0 => {
                    Some(format!("{text} = {}", money(total)))
                }
                _ => None,
            },
            inputs: self.inputs.clone(),
            note: self.missing.clone(),
        }
    }
}

/// An amount × a churn-rate difference (floored at 0).
struct ChurnCost<'a> {
    formula: &'static str,
    scale: Option<f64>,
    scale_text: Option<String>,
    higher: &'a ChurnRate,
    lower: &'a ChurnRate,
    extra_inputs: Vec<FormulaInput>,
}

fn churn_cost(cost: ChurnCost<'_>, missing: Option<String>) -> DollarFigure {
    let (high_group, low_group) = (cost.higher, cost.lower);
    let difference = high_group.rate - low_group.rate;
    let (diff_low, diff_high) = newcombe_difference(high_group, low_group);
    let mut inputs = cost.extra_inputs;
    for rate in [high_group, low_group] {
        inputs.push(FormulaInput {
            name: format!("{} churn rate", rate.group.singular()),
            value: rate.rate,
            source: rate.basis.clone(),
        });
    }
    inputs.push(FormulaInput {
        name: format!(
            "churn difference {} − {}, 95% low",
            high_group.group.singular(),
            low_group.group.singular()
        ),
        value: diff_low,
        source: "Newcombe (1998) hybrid score interval from the two rates' intervals".into(),
    });
    inputs.push(FormulaInput {
        name: format!(
            "churn difference {} − {}, 95% high",
            high_group.group.singular(),
            low_group.group.singular()
        ),
        value: diff_high,
        source: "Newcombe (1998) hybrid score interval from the two rates' intervals".into(),
    });
    let Some(scale) = cost.scale else {
        return DollarFigure {
            value: None,
            low: None,
            high: None,
            formula: cost.formula.into(),
            calculation: None,
            inputs,
            note: missing,
        };
    };
    let value = scale * difference.max(0.0);
    let note = if difference <= 0.0 {
        Some(format!(
            "{}s churn no more than {}s here ({} against {}): on this evidence none of their revenue is at risk from their loyalty, so the figure is 0 rather than negative.",
            high_group.group.singular(),
            low_group.group.singular(),
            percent(high_group.rate),
            percent(low_group.rate)
        ))
    } else {
        missing
    };
    let calculation = cost.scale_text.map(|text| {
        format!(
            "{text} × max(0, {} − {}) = {} × {:.6} = {} (range {} to {})",
            percent(high_group.rate),
            percent(low_group.rate),
            money(scale),
            difference.max(0.0),
            money(value),
            money(scale * diff_low.max(0.0)),
            money(scale * diff_high.max(0.0))
        )
    });
    DollarFigure {
        value: Some(value),
        low: Some(scale * diff_low.max(0.0)),
        high: Some(scale * diff_high.max(0.0)),
        formula: cost.formula.into(),
        calculation,
        inputs,
        note,
    }
}

/// Newcombe's (1998) hybrid score interval for a − b from the two rates'
/// intervals: a − b − √((a − l_a)² + (u_b − b)²) to
/// a − b + √((u_a − a)² + (b − l_b)²).
fn newcombe_difference(a: &ChurnRate, b: &ChurnRate) -> (f64, f64) {
    let d = a.rate - b.rate;
    let low = d - ((a.rate - a.ci_low).powi(2) + (b.ci_high - b.rate).powi(2)).sqrt();
    let high = d + ((a.ci_high - a.rate).powi(2) + (b.rate - b.ci_low).powi(2)).sqrt();
    (low, high)
}

fn percent(rate: f64) -> String {
    format!("{:.2}%", 100.0 * rate)
}

/// An amount with thousands separators and cents: 1234567.891 → "1,234,567.89".
fn money(amount: f64) -> String {
    let text = format!("{:.2}", amount.abs());
    let (whole, cents) = text.split_once('.').unwrap_or((text.as_str(), "00"));
    let mut grouped = String::with_capacity(whole.len() + whole.len() / 3 + 4);
    for (i, ch) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    let sign = if amount < 0.0 { "-" } else { "" };
    format!("{sign}{grouped}.{cents}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(
        customers: u64,
        churn_known: u64,
        churned: u64,
        value_known: u64,
        annual_value_sum: f64,
    ) -> LoyaltyGroupCustomers {
        LoyaltyGroupCustomers {
            customers,
            churn_known,
            churned,
            value_known,
            annual_value_sum,
        }
    }

    fn settings() -> RevenueSettings {
        RevenueSettings {
            assumed_churn: ChurnAssumptions {
                promoters: 0.05,
                passives: 0.10,
                detractors: 0.20,
            },
            min_churn_flags: MIN_CHURN_FLAGS,
        }
    }

    fn close(got: Option<f64>, want: f64) {
        let got = got.unwrap_or(f64::NAN);
        assert!(
            (got - want).abs() <= 1e-9 * want.abs().max(1.0),
            "{got} vs {want}"
        );
    }

    /// Worked example 1, every rate measured.
    /// Promoters 500 customers, 20 of 400 flagged churned: 5%.
    /// Passives 300, 25 of 250: 10%. Detractors 200, 40 of 160: 25%;
    /// 190 detractors with a known value summing 760,000: mean 4,000, so
    /// V_D = 200 × 4,000 = 800,000.
    /// Revenue at risk = 800,000 × (25% − 5%) = 160,000.
    /// One NPS point = 1% of 1,000 customers = 10 detractors becoming
    /// passives: 10 × 4,000 × (25% − 10%) = 6,000.
    #[test]
    fn worked_example_with_measured_rates() {
        let input = LoyaltyCustomers {
            promoters: group(500, 400, 20, 480, 2_400_000.0),
            passives: group(300, 250, 25, 290, 1_305_000.0),
            detractors: group(200, 160, 40, 190, 760_000.0),
        };
        let r = revenue_at_risk(&input, &settings()).unwrap();
        assert_eq!(r.customers, 1_000);
        assert_eq!(r.detractor_churn.source, ChurnSource::Measured);
        close(Some(r.detractor_churn.rate), 0.25);
        close(r.detractor_annual_value.value, 800_000.0);
        close(r.revenue_at_risk.value, 160_000.0);
        close(r.value_of_one_nps_point.value, 6_000.0);
        let (low, high) = (
            r.revenue_at_risk.low.unwrap(),
            r.revenue_at_risk.high.unwrap(),
        );
        assert!(low < 160_000.0 && 160_000.0 < high);
        assert_eq!(r.revenue_at_risk.note, None);
        let calculation = r.revenue_at_risk.calculation.clone().unwrap();
        assert!(
            calculation.starts_with("200 × (760,000.00 ÷ 190) × max(0, 25.00% − 5.00%) = 800,000.00 × 0.200000 = 160,000.00"),
            "{calculation}"
        );
        assert!(
            r.value_of_one_nps_point
                .formula
                .contains("detractor to passive")
        );
    }

    /// Worked example 2: detractors churn less than promoters (10% vs
    /// 20%): nothing is at risk; the figure is 0, not −18,000, and says so.
    /// V_D = 60 × (150,000 ÷ 50) = 180,000. The range's top stays positive
    /// (the difference's interval reaches above 0).
    #[test]
    fn detractors_churning_less_put_nothing_at_risk() {
        let input = LoyaltyCustomers {
            promoters: group(100, 80, 16, 100, 500_000.0),
            passives: group(100, 90, 9, 100, 400_000.0),
            detractors: group(60, 50, 5, 50, 150_000.0),
        };
        let r = revenue_at_risk(&input, &settings()).unwrap();
        close(r.detractor_annual_value.value, 180_000.0);
        close(r.revenue_at_risk.value, 0.0);
        close(r.revenue_at_risk.low, 0.0);
        assert!(r.revenue_at_risk.high.unwrap() > 0.0);
        assert!(
            r.revenue_at_risk
                .note
                .as_deref()
                .unwrap()
                .contains("churn no more")
        );
    }

    /// Worked example 3: too few flags for promoters (10) and detractors
    /// (12), so the assumed 5% and 20% are used; passives are measured
    /// (6 of 40: 15%). V_D = 50 × (120,000 ÷ 40) = 150,000.
    /// Revenue at risk = 150,000 × (20% − 5%) = 22,500, with no range
    /// (both rates assumed). One point = 1% of 250 customers × 3,000 ×
    /// (20% − 15%) = 2.5 × 3,000 × 0.05 = 375.
    #[test]
    fn assumed_rates_are_used_and_labelled() {
        let input = LoyaltyCustomers {
            promoters: group(120, 10, 1, 100, 600_000.0),
            passives: group(80, 40, 6, 80, 320_000.0),
            detractors: group(50, 12, 5, 40, 120_000.0),
        };
        let r = revenue_at_risk(&input, &settings()).unwrap();
        assert_eq!(r.promoter_churn.source, ChurnSource::Assumed);
        assert_eq!(r.detractor_churn.source, ChurnSource::Assumed);
        assert_eq!(r.passive_churn.source, ChurnSource::Measured);
        assert!(r.detractor_churn.basis.contains("only 12 detractors"));
        close(r.revenue_at_risk.value, 22_500.0);
        close(r.revenue_at_risk.low, 22_500.0);
        close(r.revenue_at_risk.high, 22_500.0);
        close(r.value_of_one_nps_point.value, 375.0);
        assert!(r.value_of_one_nps_point.low.unwrap() < 375.0);
        let sources: Vec<&str> = r
            .revenue_at_risk
            .inputs
            .iter()
            .map(|i| i.source.as_str())
            .collect();
        assert!(
            sources.iter().any(|s| s.starts_with("assumed 20.00%")),
            "{sources:?}"
        );
    }

    #[test]
    fn missing_values_and_missing_detractors() {
        let none = LoyaltyCustomers {
            promoters: group(10, 0, 0, 10, 1_000.0),
            passives: group(5, 0, 0, 0, 0.0),
            detractors: LoyaltyGroupCustomers::default(),
        };
        let r = revenue_at_risk(&none, &settings()).unwrap();
        close(r.revenue_at_risk.value, 0.0);
        assert!(
            r.revenue_at_risk
                .note
                .as_deref()
                .unwrap()
                .contains("no detractors")
        );
        assert_eq!(r.value_of_one_nps_point.value, None);
        let unpriced = LoyaltyCustomers {
            detractors: group(7, 0, 0, 0, 0.0),
            ..none
        };
        let r = revenue_at_risk(&unpriced, &settings()).unwrap();
        assert_eq!(r.revenue_at_risk.value, None);
        assert!(
            r.revenue_at_risk
                .note
                .as_deref()
                .unwrap()
                .contains("cannot be priced")
        );
        // 1% of 22 customers is 0.22 people: fewer detractors than that is
        // impossible here, but 7 detractors among 1,000 customers is not.
        let few = LoyaltyCustomers {
            promoters: group(993, 0, 0, 0, 0.0),
            detractors: group(7, 0, 0, 7, 7_000.0),
            ..none
        };
        let r = revenue_at_risk(&few, &settings()).unwrap();
        assert!(
            r.value_of_one_nps_point
                .note
                .as_deref()
                .unwrap()
                .contains("fewer detractors")
        );
    }

    #[test]
    fn inconsistent_inputs_are_refused() {
        let ok = group(10, 5, 1, 5, 100.0);
        let with = |detractors| LoyaltyCustomers {
            promoters: ok,
            passives: ok,
            detractors,
        };
        for bad in [
            group(10, 5, 6, 5, 100.0),
            group(10, 11, 1, 5, 100.0),
            group(10, 5, 1, 11, 100.0),
            group(10, 5, 1, 5, -1.0),
            group(10, 5, 1, 5, f64::NAN),
            group(10, 5, 1, 0, 100.0),
        ] {
            assert!(revenue_at_risk(&with(bad), &settings()).is_err(), "{bad:?}");
        }
        let mut s = settings();
        s.assumed_churn.passives = 1.5;
        assert!(matches!(
            revenue_at_risk(&with(ok), &s),
            Err(RevenueError::InvalidAssumption { .. })
        ));
        let err = revenue_at_risk_by(
            &[("sales".into(), with(group(1, 2, 0, 0, 0.0)))],
            &settings(),
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("group \"sales\""), "{err}");
    }

    /// The breakdown: each group on its own rates; the total from all
    /// customers merged (not the sum of the groups' figures).
    #[test]
    fn breakdown_by_group() {
        let a = LoyaltyCustomers {
            promoters: group(100, 100, 5, 100, 100_000.0),
            passives: group(50, 50, 5, 50, 50_000.0),
            detractors: group(50, 50, 15, 50, 50_000.0),
        };
        let b = LoyaltyCustomers {
            promoters: group(40, 40, 4, 40, 80_000.0),
            passives: group(40, 40, 4, 40, 80_000.0),
            detractors: group(40, 40, 8, 40, 80_000.0),
        };
        let r = revenue_at_risk_by(&[("a".into(), a), ("b".into(), b)], &settings()).unwrap();
        // a: 50 × 1,000 × (30% − 5%) = 12,500; b: 40 × 2,000 × (20% − 10%) = 8,000.
        close(r.groups[0].figures.revenue_at_risk.value, 12_500.0);
        close(r.groups[1].figures.revenue_at_risk.value, 8_000.0);
        // All: 90 detractors × (130,000 ÷ 90) × (23/90 − 9/140).
        let want = 130_000.0 * (23.0 / 90.0 - 9.0 / 140.0);
        close(r.total.revenue_at_risk.value, want);
        assert_eq!(r.total.customers, 320);
    }

    #[test]
    fn amounts_are_grouped_by_thousands() {
        assert_eq!(money(1_234_567.891), "1,234,567.89");
        assert_eq!(money(0.0), "0.00");
        assert_eq!(money(999.999), "1,000.00");
        assert_eq!(money(-1_234.5), "-1,234.50");
        assert_eq!(money(12.0), "12.00");
    }
}
