//! The arithmetic of a business case (issue 11): net present value, return
//! on investment and payback of yearly cash flows. Cash flow `t` falls at
//! the end of year `t`, the first (year 0) today — numpy-financial's `npv`
//! convention: NPV = Σₜ CFₜ / (1 + r)ᵗ.

/// Most years a case may span.
pub const MAX_YEARS: usize = 50;

/// A business case's inputs that cannot be computed on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CaseError {
    #[error("discount rate {0} must be greater than -1 (0.08 for 8%)")]
    Rate(f64),
    #[error("{0} years: a case spans 1 to {MAX_YEARS} years")]
    Years(usize),
    #[error("cash flow of year {0} is not a finite number")]
    NotFinite(usize),
}

fn check(rate: f64, flows: &[f64]) -> Result<(), CaseError> {
    if !(rate.is_finite() && rate > -1.0) {
        return Err(CaseError::Rate(rate));
    }
    if flows.is_empty() || flows.len() > MAX_YEARS + 1 {
        return Err(CaseError::Years(flows.len()));
    }
    if let Some(t) = flows.iter().position(|v| !v.is_finite()) {
        return Err(CaseError::NotFinite(t));
    }
    Ok(())
}

/// Σₜ CFₜ / (1 + r)ᵗ, year 0 undiscounted (as `numpy_financial.npv`).
pub fn npv(rate: f64, flows: &[f64]) -> Result<f64, CaseError> {
    check(rate, flows)?;
    Ok(flows
        .iter()
        .enumerate()
        .map(|(t, v)| v / (1.0 + rate).powi(t as i32))
        .sum())
}

/// Return on investment: (PV of benefits − PV of costs) ÷ PV of costs, each
/// a stream of non-negative yearly amounts; `None` without costs.
pub fn roi(rate: f64, costs: &[f64], benefits: &[f64]) -> Result<Option<f64>, CaseError> {
    let pv_costs = npv(rate, costs)?;
    let pv_benefits = npv(rate, benefits)?;
    Ok((pv_costs > 0.0).then(|| (pv_benefits - pv_costs) / pv_costs))
}

/// Years until the cumulative (undiscounted, or discounted at `rate` when
/// given) net cash flow first reaches zero, interpolating linearly within
/// the year it turns; `Some(0.0)` when it never goes below zero, `None`
/// when it does not recover within the case.
pub fn payback_years(flows: &[f64], rate: Option<f64>) -> Result<Option<f64>, CaseError> {
    check(rate.unwrap_or(0.0), flows)?;
    let r = rate.unwrap_or(0.0);
    let mut cumulative = 0.0;
    let mut below = false;
    for (t, v) in flows.iter().enumerate() {
        let flow = v / (1.0 + r).powi(t as i32);
        let before = cumulative;
        cumulative += flow;
        if cumulative < 0.0 {
            below = true;
        } else if before < 0.0 {
            // Within year t (t ≥ 1: year 0 starts from nothing): the share
            // of this year's flow that repays the rest.
            return Ok(Some((t - 1) as f64 + (-before / flow)));
        }
    }
    // Never below zero: paid back at once.
    Ok((!below).then_some(0.0))
}

// ---------------------------------------------------------------------------
// The case: named assumptions, yearly cash flows and lines computed from the
// assumptions, and the figures a finance reviewer checks.
// ---------------------------------------------------------------------------

use serde::{Deserialize, Serialize};

use crate::field::{FieldError, TextLimit};

/// Most assumptions in one case.
pub const MAX_ASSUMPTIONS: usize = 50;
/// Most computed lines in one case.
pub const MAX_LINES: usize = 20;
/// Most factors one line multiplies.
pub const MAX_FACTORS: usize = 8;
/// Largest magnitude of any amount or assumption: beyond it a typo is
/// likelier than a real figure (and sums lose cents).
pub const MAX_AMOUNT: f64 = 1e12;
/// Names, owners, citations, comments.
pub const CASE_TEXT: TextLimit = TextLimit {
    applies_to: "business-case texts",
    max_chars: 500,
};
/// Longest assumption key (`[a-z0-9_]`).
pub const KEY_LIMIT: usize = 40;

/// Where an assumption's value comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum AssumptionSource {
    /// Computed by Northstar from its data: `figure` names what
    /// (`churn_gap_detractor_promoter`, `pilot_effect`, …), `scope` the
    /// customers it is computed on, `link` the API address that shows it
    /// with its provenance, `provenance` its n, interval, method and period.
    Measured {
        figure: String,
        #[serde(default)]
        scope: std::collections::BTreeMap<String, crate::department::OneOrMany>,
        #[serde(default)]
        pilot_id: Option<i64>,
        #[serde(default)]
        link: String,
        #[serde(default)]
        provenance: String,
    },
    /// An outside benchmark, with its citation.
    Benchmark { citation: String },
    /// Someone's estimate, with who owns it.
    Estimate { owner: String },
}

impl AssumptionSource {
    pub fn kind(&self) -> &'static str {
        match self {
            AssumptionSource::Measured { .. } => "measured",
            AssumptionSource::Benchmark { .. } => "benchmark",
            AssumptionSource::Estimate { .. } => "estimate",
        }
    }
}

/// The unit an assumption is in (for display and for the reviewer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Money, in the currency of the annual values.
    Currency,
    /// 0…1.
    Share,
    /// NPS points (−100…100).
    Points,
    /// A count (customers, calls).
    Count,
    #[default]
    Number,
}

/// One input to a dollar figure: a value with the range it could take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assumption {
    /// Lower-case letters, digits and `_`; lines name it in their factors.
    pub key: String,
    pub name: String,
    pub value: f64,
    pub low: f64,
    pub high: f64,
    #[serde(default)]
    pub unit: Unit,
    pub source: AssumptionSource,
    /// When the value was set or measured (`YYYY-MM-DD`).
    pub as_of: String,
}

/// One year's explicit amounts (year 0 is today, undiscounted).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CashFlow {
    pub year: u32,
    #[serde(default)]
    pub cost: f64,
    #[serde(default)]
    pub benefit: f64,
}

/// Whether a line adds to costs or to benefits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    Cost,
    Benefit,
}

/// A yearly amount computed from assumptions: `scale × Π factors`, in each
/// year from `from_year` to `to_year` (the case's last year when absent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Line {
    pub name: String,
    pub kind: LineKind,
    pub factors: Vec<String>,
    #[serde(default = "one")]
    pub scale: f64,
    #[serde(default = "one_year")]
    pub from_year: u32,
    #[serde(default)]
    pub to_year: Option<u32>,
}

fn one() -> f64 {
    1.0
}

fn one_year() -> u32 {
    1
}

/// Everything a business case is computed from (one version's inputs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseInputs {
    pub name: String,
    /// What the case is for ("deliver within 3 days for enterprise
    /// customers").
    #[serde(default)]
    pub initiative: String,
    /// The department whose pages show the case.
    #[serde(default)]
    pub department: Option<String>,
    /// The pilot whose measured effect the case can take.
    #[serde(default)]
    pub pilot_id: Option<i64>,
    /// Yearly, e.g. 0.08 for 8%.
    pub discount_rate: f64,
    #[serde(default)]
    pub cash_flows: Vec<CashFlow>,
    #[serde(default)]
    pub assumptions: Vec<Assumption>,
    #[serde(default)]
    pub lines: Vec<Line>,
    /// The assumption that is the initiative's effect: the break-even
    /// effect size is solved for it.
    #[serde(default)]
    pub effect: Option<String>,
}

fn key_ok(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= KEY_LIMIT
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn amount(errors: &mut Vec<FieldError>, field: &str, v: f64, non_negative: bool) {
    if !v.is_finite() || v.abs() > MAX_AMOUNT {
        errors.push(FieldError::new(
            field,
            format!("{v} is not a finite amount within ±{MAX_AMOUNT:e}"),
            "give a plain number (1e12 at most)",
        ));
    } else if non_negative && v < 0.0 {
        errors.push(FieldError::new(
            field,
            format!("{v} is negative"),
            "give costs and benefits as positive amounts (a cost is subtracted)",
        ));
    }
}

fn case_text(errors: &mut Vec<FieldError>, field: &str, value: &str, required: bool) {
    if required && value.trim().is_empty() {
        errors.push(FieldError::new(field, "is empty", "give it a name"));
    }
    if let Err(e) = crate::field::within(field, value, CASE_TEXT) {
        errors.push(e);
    }
}

impl CaseInputs {
    /// Every problem, each naming its field (`assumptions[2].low`).
    pub fn check(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        case_text(&mut errors, "name", &self.name, true);
        case_text(&mut errors, "initiative", &self.initiative, false);
        if !(self.discount_rate.is_finite()
            && self.discount_rate > -1.0
            && self.discount_rate < 1.0)
        {
            errors.push(FieldError::new(
                "discount_rate",
                format!(
                    "{} is not a yearly rate between -1 and 1",
                    self.discount_rate
                ),
                "give it as a share: 0.08 for 8%",
            ));
        }
        if self.assumptions.len() > MAX_ASSUMPTIONS {
            errors.push(FieldError::new(
                "assumptions",
                format!(
                    "has {} entries; the limit is {MAX_ASSUMPTIONS}",
                    self.assumptions.len()
                ),
                "merge or drop assumptions",
            ));
        }
        if self.lines.len() > MAX_LINES {
            errors.push(FieldError::new(
                "lines",
                format!("has {} entries; the limit is {MAX_LINES}", self.lines.len()),
                "merge lines",
            ));
        }
        if self.cash_flows.len() > MAX_YEARS + 1 {
            errors.push(FieldError::new(
                "cash_flows",
                format!(
                    "has {} entries; a case spans at most {} years (0 to {MAX_YEARS})",
                    self.cash_flows.len(),
                    MAX_YEARS + 1
                ),
                "give one entry per year",
            ));
        }
        if errors
            .iter()
            .any(|e| matches!(e.field.as_str(), "assumptions" | "lines" | "cash_flows"))
        {
            // Too many entries: do not walk them.
            return Err(errors);
        }
        let mut years = std::collections::BTreeSet::new();
        for (i, f) in self.cash_flows.iter().enumerate() {
            let at = format!("cash_flows[{i}]");
            if f.year as usize > MAX_YEARS {
                errors.push(FieldError::new(
                    format!("{at}.year"),
                    format!("{} is past year {MAX_YEARS}", f.year),
                    "a case spans years 0 (today) to 50",
                ));
            }
            if !years.insert(f.year) {
                errors.push(FieldError::new(
                    format!("{at}.year"),
                    format!("year {} is given twice", f.year),
                    "give each year once, with its cost and benefit",
                ));
            }
            amount(&mut errors, &format!("{at}.cost"), f.cost, true);
            amount(&mut errors, &format!("{at}.benefit"), f.benefit, true);
        }
        let mut keys = std::collections::BTreeSet::new();
        for (i, a) in self.assumptions.iter().enumerate() {
            let at = format!("assumptions[{i}]");
            if !key_ok(&a.key) {
                errors.push(FieldError::new(
                    format!("{at}.key"),
                    format!("{:?} is not a key", a.key),
                    format!("use 1–{KEY_LIMIT} lower-case letters, digits and _ (churn_gap)"),
                ));
            } else if !keys.insert(a.key.as_str()) {
                errors.push(FieldError::new(
                    format!("{at}.key"),
                    format!("{:?} is given twice", a.key),
                    "give each assumption once",
                ));
            }
            case_text(&mut errors, &format!("{at}.name"), &a.name, true);
            amount(&mut errors, &format!("{at}.value"), a.value, false);
            amount(&mut errors, &format!("{at}.low"), a.low, false);
            amount(&mut errors, &format!("{at}.high"), a.high, false);
            if a.low.is_finite()
                && a.high.is_finite()
                && a.value.is_finite()
                && !(a.low <= a.value && a.value <= a.high)
            {
                errors.push(FieldError::new(
                    format!("{at}.low"),
                    format!(
                        "low {} ≤ value {} ≤ high {} does not hold",
                        a.low, a.value, a.high
                    ),
                    "give a range that contains the value (low = value = high when it is certain)",
                ));
            }
            if crate::calendar::parse_day(&a.as_of).is_none() {
                errors.push(FieldError::new(
                    format!("{at}.as_of"),
                    format!("{:?} is not a date", a.as_of),
                    "give the day the value was set or measured, as YYYY-MM-DD",
                ));
            }
            match &a.source {
                AssumptionSource::Benchmark { citation } => case_text(
                    &mut errors,
                    &format!("{at}.source.citation"),
                    citation,
                    true,
                ),
                AssumptionSource::Estimate { owner } => {
                    case_text(&mut errors, &format!("{at}.source.owner"), owner, true)
                }
                AssumptionSource::Measured { figure, scope, .. } => {
                    case_text(&mut errors, &format!("{at}.source.figure"), figure, true);
                    crate::department::check_scope(
                        scope,
                        &mut errors,
                        &format!("{at}.source.scope"),
                    );
                }
            }
        }
        let last = self.last_year();
        for (i, l) in self.lines.iter().enumerate() {
            let at = format!("lines[{i}]");
            case_text(&mut errors, &format!("{at}.name"), &l.name, true);
            if l.factors.is_empty() || l.factors.len() > MAX_FACTORS {
                errors.push(FieldError::new(
                    format!("{at}.factors"),
                    format!("has {} factors", l.factors.len()),
                    format!("name 1 to {MAX_FACTORS} assumption keys to multiply"),
                ));
            }
            for (j, f) in l.factors.iter().enumerate() {
                if !keys.contains(f.as_str()) {
                    errors.push(FieldError::new(
                        format!("{at}.factors[{j}]"),
                        format!("{f:?} is not an assumption of this case"),
                        "name the key of one of the case's assumptions",
                    ));
                }
            }
            amount(&mut errors, &format!("{at}.scale"), l.scale, true);
            if l.from_year as usize > MAX_YEARS {
                errors.push(FieldError::new(
                    format!("{at}.from_year"),
                    format!("{} is past year {MAX_YEARS}", l.from_year),
                    "a case spans years 0 to 50",
                ));
            }
            if let Some(to) = l.to_year {
                if to < l.from_year || to as usize > MAX_YEARS {
                    errors.push(FieldError::new(
                        format!("{at}.to_year"),
                        format!(
                            "{to} is before from_year {} or past year {MAX_YEARS}",
                            l.from_year
                        ),
                        "give a last year between from_year and 50",
                    ));
                }
            } else if l.from_year > last {
                errors.push(FieldError::new(
                    format!("{at}.from_year"),
                    format!("{} is after the case's last year {last}", l.from_year),
                    "give cash_flows up to the last year, or a to_year",
                ));
            }
        }
        if let Some(effect) = &self.effect
            && !keys.contains(effect.as_str())
        {
            {
                errors.push(FieldError::new(
                    "effect",
                    format!("{effect:?} is not an assumption of this case"),
                    "name the key of the assumption that is the initiative's effect",
                ));
            }
        }
        if self.cash_flows.is_empty() && self.lines.iter().all(|l| l.to_year.is_none()) {
            errors.push(FieldError::new(
                "cash_flows",
                "is empty, so the case has no years",
                "give at least year 0 (the one-off cost) and the years the case spans",
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The case's last year: the latest cash flow or line end.
    pub fn last_year(&self) -> u32 {
        let flows = self.cash_flows.iter().map(|f| f.year).max().unwrap_or(0);
        let lines = self
            .lines
            .iter()
            .filter_map(|l| l.to_year)
            .max()
            .unwrap_or(0);
        flows.max(lines)
    }

    fn value_of(&self, key: &str, values: &std::collections::BTreeMap<&str, f64>) -> f64 {
        values.get(key).copied().unwrap_or(0.0)
    }

    /// Yearly (cost, benefit) with the assumptions at `values`.
    fn flows_with(&self, values: &std::collections::BTreeMap<&str, f64>) -> Vec<(f64, f64)> {
        let last = self.last_year() as usize;
        let mut out = vec![(0.0, 0.0); last + 1];
        for f in &self.cash_flows {
            if let Some(y) = out.get_mut(f.year as usize) {
                y.0 += f.cost;
                y.1 += f.benefit;
            }
        }
        for l in &self.lines {
            let amount = l.scale
                * l.factors
                    .iter()
                    .map(|k| self.value_of(k, values))
                    .product::<f64>();
            let to = l.to_year.unwrap_or(last as u32) as usize;
            let from = l.from_year as usize;
            for year in out.iter_mut().take(to.min(last) + 1).skip(from) {
                match l.kind {
                    LineKind::Cost => year.0 += amount,
                    LineKind::Benefit => year.1 += amount,
                }
            }
        }
        out
    }

    fn base_values(&self) -> std::collections::BTreeMap<&str, f64> {
        self.assumptions
            .iter()
            .map(|a| (a.key.as_str(), a.value))
            .collect()
    }
}

/// One year of the case.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct YearFlow {
    pub year: u32,
    pub cost: f64,
    pub benefit: f64,
    pub net: f64,
    /// net ÷ (1 + r)ᵗ.
    pub discounted: f64,
}

/// A result with the formula that made it and the numbers substituted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figure {
    pub value: Option<f64>,
    pub formula: String,
    pub calculation: String,
}

/// NPV, ROI and paybacks of one setting of the assumptions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scenario {
    pub npv: f64,
    pub roi: Option<f64>,
    pub payback_years: Option<f64>,
    /// The assumptions' values in this scenario.
    pub values: std::collections::BTreeMap<String, f64>,
}

/// One bar of the sensitivity (tornado) chart: NPV with one assumption at
/// its low and at its high, the others at their values.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TornadoBar {
    pub key: String,
    pub name: String,
    pub low: f64,
    pub high: f64,
    pub npv_at_low: f64,
    pub npv_at_high: f64,
    /// |npv_at_high − npv_at_low|: bars are sorted by it, widest first.
    pub swing: f64,
}

/// The effect at which NPV is zero, the others at their values.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BreakEven {
    pub key: String,
    /// `None` when NPV does not depend on the effect.
    pub value: Option<f64>,
    pub formula: String,
    pub calculation: String,
}

/// Everything computed from a case's inputs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseFigures {
    pub years: Vec<YearFlow>,
    pub npv: Figure,
    pub roi: Figure,
    pub payback_years: Figure,
    pub discounted_payback_years: Figure,
    pub break_even: Option<BreakEven>,
    /// How `low` and `high` were found (see [`MAX_CORNER_ASSUMPTIONS`]).
    pub scenario_method: String,
    /// The lowest NPV over the assumptions' ranges (every corner of the
    /// box, or one assumption at a time; see `scenario_method`).
    pub low: Scenario,
    pub base: Scenario,
    /// Each assumption at the end of its range that raises NPV.
    pub high: Scenario,
    pub tornado: Vec<TornadoBar>,
    /// How each computed line was made, per year it runs.
    pub lines: Vec<Figure>,
}

fn scenario(
    inputs: &CaseInputs,
    values: &std::collections::BTreeMap<&str, f64>,
) -> Result<Scenario, CaseError> {
    let flows = inputs.flows_with(values);
    let net: Vec<f64> = flows.iter().map(|(c, b)| b - c).collect();
    let costs: Vec<f64> = flows.iter().map(|f| f.0).collect();
    let benefits: Vec<f64> = flows.iter().map(|f| f.1).collect();
    Ok(Scenario {
        npv: npv(inputs.discount_rate, &net)?,
        roi: roi(inputs.discount_rate, &costs, &benefits)?,
        payback_years: payback_years(&net, None)?,
        values: values.iter().map(|(k, v)| ((*k).to_string(), *v)).collect(),
    })
}

/// Money as a reader checks it: whole units with thousands separators.
pub fn money(v: f64) -> String {
    let rounded = v.round();
    let digits = format!("{:.0}", rounded.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if rounded < 0.0 {
        format!("−{out}")
    } else {
        out
    }
}

/// A number as the calculations print it: money style from 1,000, else at
/// most four decimals.
pub fn plain(v: f64) -> String {
    if v.abs() >= 1000.0 {
        money(v)
    } else {
        format!("{v:.4}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

/// Most assumptions that vary for the scenarios to be searched over every
/// corner of their ranges (2¹⁰ evaluations); past it, one at a time.
pub const MAX_CORNER_ASSUMPTIONS: usize = 10;

/// The lowest and highest NPV over the box of the assumptions' ranges.
/// NPV is affine in each assumption that appears at most once in every line
/// (a sum of products of distinct assumptions), so its extremes over the box
/// lie at corners; they are found exactly by trying every corner when few
/// assumptions vary. Otherwise each assumption takes the end that moves NPV
/// its way with the others at their values, which need not be the joint
/// extreme (said in the method).
fn extreme_scenarios<'a>(
    inputs: &'a CaseInputs,
    base_values: &std::collections::BTreeMap<&'a str, f64>,
    one_at_a_time: (
        std::collections::BTreeMap<&'a str, f64>,
        std::collections::BTreeMap<&'a str, f64>,
    ),
) -> Result<(Scenario, Scenario, String), CaseError> {
    let multilinear = inputs.lines.iter().all(|l| {
        let mut seen = std::collections::BTreeSet::new();
        l.factors.iter().all(|f| seen.insert(f.as_str()))
    });
    let varying: Vec<&Assumption> = inputs
        .assumptions
        .iter()
        .filter(|a| a.low < a.high && inputs.lines.iter().any(|l| l.factors.contains(&a.key)))
        .collect();
    if multilinear && varying.len() <= MAX_CORNER_ASSUMPTIONS {
        // NPV alone per corner; the full scenario at the two extremes.
        let corner_values = |corner: u32| {
            let mut at = base_values.clone();
            for (bit, a) in varying.iter().enumerate() {
                at.insert(
                    a.key.as_str(),
                    if corner >> bit & 1 == 1 {
                        a.high
                    } else {
                        a.low
                    },
                );
            }
            at
        };
        let npv_at = |at: &std::collections::BTreeMap<&str, f64>| {
            let net: Vec<f64> = inputs.flows_with(at).iter().map(|(c, b)| b - c).collect();
            npv(inputs.discount_rate, &net)
        };
        let (mut low, mut high) = ((f64::INFINITY, 0u32), (f64::NEG_INFINITY, 0u32));
        for corner in 0u32..(1u32 << varying.len()) {
            let v = npv_at(&corner_values(corner))?;
            if v < low.0 {
                low = (v, corner);
            }
            if v > high.0 {
                high = (v, corner);
            }
        }
        return Ok((
            scenario(inputs, &corner_values(low.1))?,
            scenario(inputs, &corner_values(high.1))?,
            format!(
                "the lowest and highest NPV over every combination of the {} varying assumptions at their low or high end (NPV is linear in each, so these are its extremes over the ranges); a range that is a 95% interval does not make the scenario a 95% range",
                varying.len()
            ),
        ));
    }
    Ok((
        scenario(inputs, &one_at_a_time.0)?,
        scenario(inputs, &one_at_a_time.1)?,
        format!(
            "each assumption at the end of its range that lowers (low) or raises (high) NPV with the others at their values — {}; not necessarily the joint extremes",
            if multilinear {
                format!("more than {MAX_CORNER_ASSUMPTIONS} assumptions vary")
            } else {
                "an assumption appears twice in a line".to_string()
            }
        ),
    ))
}

/// The case's NPV alone, with every assumption at its value (lists and
/// version histories need no more).
pub fn base_npv(inputs: &CaseInputs) -> Result<f64, CaseError> {
    let flows = inputs.flows_with(&inputs.base_values());
    let net: Vec<f64> = flows.iter().map(|(c, b)| b - c).collect();
    npv(inputs.discount_rate, &net)
}

/// Computes the case (inputs checked first with [`CaseInputs::check`]).
pub fn evaluate(inputs: &CaseInputs) -> Result<CaseFigures, CaseError> {
    let r = inputs.discount_rate;
    let base_values = inputs.base_values();
    let flows = inputs.flows_with(&base_values);
    let years: Vec<YearFlow> = flows
        .iter()
        .enumerate()
        .map(|(t, (c, b))| YearFlow {
            year: t as u32,
            cost: *c,
            benefit: *b,
            net: b - c,
            discounted: (b - c) / (1.0 + r).powi(t as i32),
        })
        .collect();
    let base = scenario(inputs, &base_values)?;
    let rate_text = format!("{}", 1.0 + r);
    let npv_terms: Vec<String> = years
        .iter()
        .map(|y| format!("{} / {rate_text}^{}", money(y.net), y.year))
        .collect();
    let npv_figure = Figure {
        value: Some(base.npv),
        formula:
            "NPV = Σₜ (benefitₜ − costₜ) ÷ (1 + r)ᵗ, year 0 undiscounted (numpy-financial npv)"
                .into(),
        calculation: format!("{} = {}", npv_terms.join(" + "), money(base.npv)),
    };
    let pv_costs = npv(r, &years.iter().map(|y| y.cost).collect::<Vec<_>>())?;
    let pv_benefits = npv(r, &years.iter().map(|y| y.benefit).collect::<Vec<_>>())?;
    let roi_figure = Figure {
        value: base.roi,
        formula: "ROI = (PV of benefits − PV of costs) ÷ PV of costs, both discounted at r".into(),
        calculation: match base.roi {
            Some(v) => format!(
                "({} − {}) ÷ {} = {:.1}%",
                money(pv_benefits),
                money(pv_costs),
                money(pv_costs),
                v * 100.0
            ),
            None => "no costs: ROI is undefined".into(),
        },
    };
    let net: Vec<f64> = years.iter().map(|y| y.net).collect();
    let discounted_payback = payback_years(&net, Some(r))?;
    let payback_text = |v: Option<f64>, what: &str| match v {
        Some(v) => {
            format!("the cumulative {what} net cash flow turns non-negative after {v:.2} years")
        }
        None => format!(
            "the cumulative {what} net cash flow does not turn non-negative within the case"
        ),
    };
    let payback_figure = Figure {
        value: base.payback_years,
        formula: "payback = the year the cumulative net cash flow turns non-negative, interpolated linearly within that year".into(),
        calculation: payback_text(base.payback_years, "undiscounted"),
    };
    let discounted_payback_figure = Figure {
        value: discounted_payback,
        formula:
            "discounted payback = as payback, each year's net cash flow discounted by (1 + r)ᵗ"
                .into(),
        calculation: payback_text(discounted_payback, "discounted"),
    };
    // One assumption at a time between its low and high (NPV is linear in
    // each assumption that appears once in a line, so the ends bound it).
    let mut tornado = Vec::new();
    let mut low_values = base_values.clone();
    let mut high_values = base_values.clone();
    for a in &inputs.assumptions {
        let mut at = base_values.clone();
        at.insert(a.key.as_str(), a.low);
        let npv_at_low = scenario(inputs, &at)?.npv;
        at.insert(a.key.as_str(), a.high);
        let npv_at_high = scenario(inputs, &at)?.npv;
        let (pessimistic, optimistic) = if npv_at_low <= npv_at_high {
            (a.low, a.high)
        } else {
            (a.high, a.low)
        };
        low_values.insert(a.key.as_str(), pessimistic);
        high_values.insert(a.key.as_str(), optimistic);
        tornado.push(TornadoBar {
            key: a.key.clone(),
            name: a.name.clone(),
            low: a.low,
            high: a.high,
            npv_at_low,
            npv_at_high,
            swing: (npv_at_high - npv_at_low).abs(),
        });
    }
    tornado.sort_by(|a, b| b.swing.total_cmp(&a.swing).then_with(|| a.key.cmp(&b.key)));
    let (low, high, scenario_method) =
        extreme_scenarios(inputs, &base_values, (low_values, high_values))?;
    let break_even = match &inputs.effect {
        None => None,
        Some(key) => {
            let mut at = base_values.clone();
            at.insert(key.as_str(), 0.0);
            let at_zero = scenario(inputs, &at)?.npv;
            at.insert(key.as_str(), 1.0);
            let slope = scenario(inputs, &at)?.npv - at_zero;
            let linear = inputs
                .lines
                .iter()
                .all(|l| l.factors.iter().filter(|f| *f == key).count() <= 1);
            let value = (slope != 0.0 && linear).then(|| -at_zero / slope);
            Some(BreakEven {
                key: key.clone(),
                value,
                formula: format!(
                    "break-even {key} = −NPV({key} = 0) ÷ (NPV({key} = 1) − NPV({key} = 0)): NPV is linear in {key}"
                ),
                calculation: match value {
                    Some(v) => format!("−({}) ÷ {} = {v:.3}", money(at_zero), money(slope)),
                    None if !linear => {
                        format!("{key} appears more than once in a line: NPV is not linear in it")
                    }
                    None => format!("NPV does not depend on {key}"),
                },
            })
        }
    };
    let last = inputs.last_year();
    let lines = inputs
        .lines
        .iter()
        .map(|l| {
            let amount = l.scale
                * l.factors
                    .iter()
                    .map(|k| inputs.value_of(k, &base_values))
                    .product::<f64>();
            let mut terms: Vec<String> = Vec::new();
            if l.scale != 1.0 {
                terms.push(format!("{}", l.scale));
            }
            terms.extend(
                l.factors
                    .iter()
                    .map(|k| format!("{k} {}", inputs.value_of(k, &base_values))),
            );
            let mut names = Vec::new();
            if l.scale != 1.0 {
                names.push(format!("{}", l.scale));
            }
            names.extend(l.factors.iter().cloned());
            Figure {
                value: Some(amount),
                formula: format!(
                    "{} ({}, years {}–{}) = {}",
                    l.name,
                    match l.kind {
                        LineKind::Cost => "cost",
                        LineKind::Benefit => "benefit",
                    },
                    l.from_year,
                    l.to_year.unwrap_or(last),
                    names.join(" × ")
                ),
                calculation: format!("{} = {} a year", terms.join(" × "), money(amount)),
            }
        })
        .collect();
    Ok(CaseFigures {
        years,
        npv: npv_figure,
        roi: roi_figure,
        payback_years: payback_figure,
        discounted_payback_years: discounted_payback_figure,
        break_even,
        scenario_method,
        low,
        base,
        high,
        tornado,
        lines,
    })
}

/// The case with one assumption replaced (the measured effect taking the
/// place of the assumed one); the caller checks it again.
pub fn with_assumption(
    inputs: &CaseInputs,
    key: &str,
    value: f64,
    low: f64,
    high: f64,
) -> CaseInputs {
    let mut out = inputs.clone();
    if let Some(a) = out.assumptions.iter_mut().find(|a| a.key == key) {
        a.value = value;
        a.low = low;
        a.high = high;
    }
    out
}
