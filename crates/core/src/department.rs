//! Departments as partners (seed 001: a CX leader has influence, not
//! authority): the goals each department is judged by, in its own terms,
//! each paired with the customer evidence that complements it — the "reach
//! out" conversation captured as data — and the arithmetic of a scorecard:
//! a KPI's value against its target, the correlation between a KPI and its
//! customer metric across periods, and the North Star's decomposition into
//! departments' contributions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::field::{DIMENSION_LIMIT, FieldError, NAME_LIMIT, TextLimit};
use crate::{Dimension, Metric};

/// Most departments an organisation keeps.
pub const MAX_DEPARTMENTS: usize = 200;
/// Most goals per department.
pub const MAX_GOALS: usize = 20;
/// Most entries in a department's lists (ambassadors, touchpoints, surveys)
/// and values in a goal's filter.
pub const MAX_LIST: usize = 50;
/// Longest mission line, goal title or principle.
pub const TEXT_LIMIT: TextLimit = TextLimit {
    applies_to: "titles and mission lines",
    max_chars: 500,
};
/// Largest magnitude of a KPI value or target: beyond it sums overflow and
/// a typo is likelier than a real figure.
pub const MAX_KPI_MAGNITUDE: f64 = 1e12;

/// Longest e-mail address of a leader or ambassador.
pub const EMAIL_LIMIT: TextLimit = TextLimit {
    applies_to: "e-mail addresses",
    max_chars: 254,
};

/// A department and the goals it is judged by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Department {
    /// As the `department` dimension of responses and operational records
    /// spells it (`logistics`).
    pub name: String,
    #[serde(default)]
    pub mission: String,
    /// The leader's account e-mail.
    #[serde(default)]
    pub leader: Option<String>,
    /// Accounts with the ambassador role for this department.
    #[serde(default)]
    pub ambassadors: Vec<String>,
    /// Touchpoints and surveys the department owns (values of those
    /// dimensions): its customer evidence is read on them.
    #[serde(default)]
    pub touchpoints: Vec<String>,
    #[serde(default)]
    pub surveys: Vec<String>,
    #[serde(default)]
    pub goals: Vec<Goal>,
}

/// What a department is judged by, paired with the customer evidence that
/// complements it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Goal {
    pub title: String,
    pub kpi: Kpi,
    pub customer_metric: CustomerMetric,
    /// The period a KPI value covers on the scorecard's trend.
    #[serde(default)]
    pub period_grain: Grain,
    /// When the pairing was agreed (YYYY-MM-DD) and who agreed to it: the
    /// seed's "reach out" conversation.
    #[serde(default)]
    pub agreed_on: Option<String>,
    #[serde(default)]
    pub agreed_by: Option<String>,
}

/// A key performance indicator in the department's own terms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kpi {
    /// An operational measure from the department's imports
    /// (`delivery_days`), or for `external` the KPI's name.
    pub measure: String,
    pub statistic: Statistic,
    pub direction: Direction,
    /// On the KPI itself: e.g. a share ≥ 0.95, a mean ≤ 4 days.
    pub target: f64,
    /// For `share_within_target`: whether a record is within its own
    /// target when its value is at or below it (`lower_is_better`, the
    /// default: durations) or at or above it.
    #[serde(default)]
    pub measure_direction: Direction,
}

/// How a KPI is computed from the records of a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Statistic {
    Mean,
    Median,
    P90,
    /// The share of records at or within their own target.
    ShareWithinTarget,
    /// Values per period entered or imported (not computed from records).
    External,
}

impl Statistic {
    pub fn as_str(self) -> &'static str {
        match self {
            Statistic::Mean => "mean",
            Statistic::Median => "median",
            Statistic::P90 => "p90",
            Statistic::ShareWithinTarget => "share_within_target",
            Statistic::External => "external",
        }
    }

    /// The method, with its reference, for a provenance panel.
    pub fn method(self) -> &'static str {
        match self {
            Statistic::Mean => "arithmetic mean of the records' values in the period",
            Statistic::Median => {
                "median of the records' values in the period (linear interpolation, Hyndman & Fan 1996 type 7, as numpy)"
            }
            Statistic::P90 => {
                "90th percentile of the records' values in the period (linear interpolation, Hyndman & Fan 1996 type 7, as numpy)"
            }
            Statistic::ShareWithinTarget => {
                "share of the records with a target whose value is at or within the record's own target; records without a target are left out"
            }
            Statistic::External => {
                "mean of the values entered for the periods that start within the period"
            }
        }
    }
}

/// Which way is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    HigherIsBetter,
    #[default]
    LowerIsBetter,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::HigherIsBetter => "higher_is_better",
            Direction::LowerIsBetter => "lower_is_better",
        }
    }

    /// Whether `value` meets `target` (on the target counts as met).
    pub fn meets(self, value: f64, target: f64) -> bool {
        match self {
            Direction::HigherIsBetter => value >= target,
            Direction::LowerIsBetter => value <= target,
        }
    }

    pub fn gap(self) -> crate::expectation_gap::Direction {
        match self {
            Direction::HigherIsBetter => crate::expectation_gap::Direction::HigherIsBetter,
            Direction::LowerIsBetter => crate::expectation_gap::Direction::LowerIsBetter,
        }
    }
}

/// The period a goal's KPI is tracked by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grain {
    Week,
    #[default]
    Month,
    Quarter,
}

impl Grain {
    pub fn as_str(self) -> &'static str {
        match self {
            Grain::Week => "week",
            Grain::Month => "month",
            Grain::Quarter => "quarter",
        }
    }
}

/// The customer metric paired with a goal, on the department's touchpoints
/// unless the filter says otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerMetric {
    #[serde(with = "metric_name")]
    pub metric: Metric,
    /// Dimension → value or values (any of them).
    #[serde(default)]
    pub filter: BTreeMap<String, OneOrMany>,
}

/// A filter value: one, or a list meaning any of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn values(&self) -> Vec<&str> {
        match self {
            OneOrMany::One(v) => vec![v.as_str()],
            OneOrMany::Many(vs) => vs.iter().map(String::as_str).collect(),
        }
    }
}

mod metric_name {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::Metric;

    pub fn serialize<S: Serializer>(m: &Metric, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(m.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Metric, D::Error> {
        let name = String::deserialize(d)?;
        Metric::parse(&name).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown metric {name:?}; use one of nps, csat, ces, fcr"
            ))
        })
    }
}

impl CustomerMetric {
    /// Adds the filter's problems to `errors` (field prefix `field`): an
    /// unknown dimension, more than [`MAX_LIST`] values, an over-long value.
    pub fn check_filter(&self, errors: &mut Vec<FieldError>, field: &str) {
        check_scope(&self.filter, errors, &format!("{field}.filter"));
    }

    /// The filter as (dimension, value) pairs; an unknown dimension is an
    /// error naming the field.
    pub fn dimension_filter(&self, field: &str) -> Result<Vec<(Dimension, String)>, FieldError> {
        scope_pairs(&self.filter, &format!("{field}.filter"))
    }
}

/// Adds the problems of a dimension → value(s) map found at `field` (a
/// pilot's `scope`, a filter) to `errors`, each naming `field.dimension`.
pub fn check_scope(scope: &BTreeMap<String, OneOrMany>, errors: &mut Vec<FieldError>, field: &str) {
    match scope_pairs(scope, field) {
        Ok(pairs) if pairs.len() > MAX_LIST => errors.push(FieldError::new(
            field,
            format!("has {} values; the limit is {MAX_LIST}", pairs.len()),
            "filter by fewer values",
        )),
        Ok(pairs) => {
            for (d, v) in pairs {
                text(
                    errors,
                    &format!("{field}.{}", d.as_str()),
                    &v,
                    DIMENSION_LIMIT,
                );
            }
        }
        Err(e) => errors.push(e),
    }
}

/// A dimension → value(s) map found at `field` as (dimension, value) pairs;
/// an unknown dimension is an error naming `field.dimension`.
pub fn scope_pairs(
    scope: &BTreeMap<String, OneOrMany>,
    field: &str,
) -> Result<Vec<(Dimension, String)>, FieldError> {
    let mut out = Vec::new();
    for (name, values) in scope {
        let d = Dimension::parse(name).ok_or_else(|| {
            FieldError::new(
                format!("{field}.{name}"),
                format!("{name:?} is not a dimension"),
                "filter by survey, touchpoint, department, segment or channel",
            )
        })?;
        for v in values.values() {
            out.push((d, v.to_string()));
        }
    }
    Ok(out)
}

fn text(errors: &mut Vec<FieldError>, field: &str, value: &str, limit: TextLimit) {
    if let Err(e) = crate::field::within(field, value, limit) {
        errors.push(e);
    }
}

fn list(errors: &mut Vec<FieldError>, field: &str, values: &[String], limit: TextLimit) {
    if values.len() > MAX_LIST {
        errors.push(FieldError::new(
            field,
            format!("has {} entries; the limit is {MAX_LIST}", values.len()),
            "keep the list short",
        ));
        return;
    }
    for (i, v) in values.iter().enumerate() {
        text(errors, &format!("{field}[{i}]"), v, limit);
    }
}

impl Department {
    /// Every problem, each naming its field (`goals[1].kpi.target`).
    pub fn check(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if self.name.trim().is_empty() {
            errors.push(FieldError::new(
                "name",
                "is empty",
                "name the department as its responses' department column does",
            ));
        }
        text(&mut errors, "name", &self.name, DIMENSION_LIMIT);
        text(&mut errors, "mission", &self.mission, TEXT_LIMIT);
        if let Some(leader) = &self.leader {
            text(&mut errors, "leader", leader, EMAIL_LIMIT);
        }
        list(&mut errors, "ambassadors", &self.ambassadors, EMAIL_LIMIT);
        list(
            &mut errors,
            "touchpoints",
            &self.touchpoints,
            DIMENSION_LIMIT,
        );
        list(&mut errors, "surveys", &self.surveys, DIMENSION_LIMIT);
        if self.goals.len() > MAX_GOALS {
            errors.push(FieldError::new(
                "goals",
                format!("has {} goals; the limit is {MAX_GOALS}", self.goals.len()),
                "keep the goals the department is really judged by",
            ));
        }
        for (i, g) in self.goals.iter().enumerate() {
            if let Err(mut e) = g.check(&format!("goals[{i}]")) {
                errors.append(&mut e);
            }
            if self.goals[..i].iter().any(|other| other.title == g.title) {
                errors.push(FieldError::new(
                    format!("goals[{i}].title"),
                    format!("{:?} names another goal too", g.title),
                    "give each goal its own title",
                ));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

impl Goal {
    /// Every problem, each field prefixed with `at` (`goals[0]`).
    pub fn check(&self, at: &str) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if self.title.trim().is_empty() {
            errors.push(FieldError::new(
                format!("{at}.title"),
                "is empty",
                "say what the department is judged by",
            ));
        }
        text(&mut errors, &format!("{at}.title"), &self.title, TEXT_LIMIT);
        if self.kpi.measure.trim().is_empty() {
            errors.push(FieldError::new(
                format!("{at}.kpi.measure"),
                "is empty",
                "name a measure of the department's operational records (delivery_days) or the external KPI",
            ));
        }
        text(
            &mut errors,
            &format!("{at}.kpi.measure"),
            &self.kpi.measure,
            NAME_LIMIT,
        );
        if self.kpi.target.is_nan() || self.kpi.target.abs() > MAX_KPI_MAGNITUDE {
            errors.push(FieldError::new(
                format!("{at}.kpi.target"),
                "is not a number of at most 1e12 in magnitude",
                "give the target as a number",
            ));
        } else if self.kpi.statistic == Statistic::ShareWithinTarget
            && !(0.0..=1.0).contains(&self.kpi.target)
        {
            errors.push(FieldError::new(
                format!("{at}.kpi.target"),
                format!("{} is not a share", self.kpi.target),
                "give a share between 0 and 1 (0.95 for 95%)",
            ));
        }
        self.customer_metric
            .check_filter(&mut errors, &format!("{at}.customer_metric"));
        if let Some(on) = &self.agreed_on
            && crate::calendar::parse_day(on).is_none()
        {
            errors.push(FieldError::new(
                format!("{at}.agreed_on"),
                format!("{on:?} is not a date"),
                "give the date as YYYY-MM-DD",
            ));
        }
        if let Some(by) = &self.agreed_by {
            text(&mut errors, &format!("{at}.agreed_by"), by, EMAIL_LIMIT);
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// One operational record as a KPI reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KpiRecord {
    pub value: f64,
    pub target: Option<f64>,
}

/// A KPI computed for a period.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct KpiValue {
    /// Null when no record (or entered value) falls in the period.
    pub value: Option<f64>,
    /// Records (for `external`: entered periods) the value is computed from.
    pub n: usize,
}

/// The KPI of records by its statistic (`external` values are means of the
/// entered values: pass them as records without targets).
pub fn kpi_value(kpi: &Kpi, records: &[KpiRecord]) -> KpiValue {
    let values = || records.iter().map(|r| r.value).filter(|v| v.is_finite());
    match kpi.statistic {
        Statistic::Mean | Statistic::External => {
            let n = values().count();
            KpiValue {
                value: (n > 0).then(|| values().sum::<f64>() / n as f64),
                n,
            }
        }
        Statistic::Median | Statistic::P90 => {
            let mut sorted: Vec<f64> = values().collect();
            sorted.sort_by(f64::total_cmp);
            let q = if kpi.statistic == Statistic::Median {
                0.5
            } else {
                0.9
            };
            KpiValue {
                value: quantile_sorted(&sorted, q),
                n: sorted.len(),
            }
        }
        Statistic::ShareWithinTarget => {
            let with_target: Vec<(f64, f64)> = records
                .iter()
                .filter_map(|r| Some((r.value, r.target?)))
                .filter(|(v, t)| v.is_finite() && t.is_finite())
                .collect();
            let within = with_target
                .iter()
                .filter(|(v, t)| kpi.measure_direction.meets(*v, *t))
                .count();
            let n = with_target.len();
            KpiValue {
                value: (n > 0).then(|| within as f64 / n as f64),
                n,
            }
        }
    }
}

/// The q-quantile of sorted values by linear interpolation between order
/// statistics (Hyndman & Fan 1996, type 7; numpy's default).
pub fn quantile_sorted(sorted: &[f64], q: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let h = q.clamp(0.0, 1.0) * last as f64;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(last);
    let (a, b) = (sorted[lo], sorted[hi]);
    Some(a + (h - lo as f64) * (b - a))
}

/// A Pearson correlation with its Fisher-z 95% interval (Fisher 1921): how
/// closely a KPI and its customer metric move together across periods, so
/// the link itself can be scrutinised.
///
/// From 4 pairs on, r and the interval are those of
/// `scipy.stats.pearsonr(x, y)` and its default
/// `.confidence_interval(0.95)`, which is this Fisher interval:
/// tanh(atanh(r) ∓ z₀.₉₇₅ / √(n − 3)) with z₀.₉₇₅ = `norm.ppf(0.975)`. At
/// |r| = 1 that is the single point [r, r], as scipy reports it.
/// Deliberately unlike scipy below that: 2 pairs have no r here (scipy
/// gives ±1), 3 pairs an r but no interval (scipy reports −1 to 1, as
/// the approximation is undefined), and a constant side has no r (scipy
/// warns and gives NaN). Checked against scipy in
/// crates/core/tests/it/departments.rs (tools/golden/departments.json).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Correlation {
    pub r: f64,
    /// Periods with both values.
    pub n: usize,
    /// Null below 4 periods (the interval needs n − 3 > 0); both equal r
    /// when |r| = 1.
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub method: &'static str,
}

/// Pearson's r of paired values; `None` below 3 pairs or when either side
/// is constant (every value equal to the first, as scipy tests it: the mean
/// of equal values need not be that value — three 0.1s average to
/// 0.10000000000000002 — so a zero spread cannot be relied on).
pub fn correlation(pairs: &[(f64, f64)]) -> Option<Correlation> {
    let n = pairs.len();
    if n < 3 {
        return None;
    }
    let (x0, y0) = pairs[0];
    if pairs.iter().all(|p| p.0 == x0) || pairs.iter().all(|p| p.1 == y0) {
        return None;
    }
    let mean = |f: fn(&(f64, f64)) -> f64| pairs.iter().map(f).sum::<f64>() / n as f64;
    let (mx, my) = (mean(|p| p.0), mean(|p| p.1));
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in pairs {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx) * (x - mx);
        syy += (y - my) * (y - my);
    }
    if sxx <= 0.0 || syy <= 0.0 {
        // Spreads too small for f64 (squares underflowing to 0).
        return None;
    }
    let r = (sxy / (sxx * syy).sqrt()).clamp(-1.0, 1.0);
    let (ci_low, ci_high) = if n > 3 {
        // At |r| = 1, atanh(r) = ±∞ and tanh gives back [r, r], as scipy.
        let z = r.atanh();
        let se = 1.0 / ((n - 3) as f64).sqrt();
        let q = crate::estimate::z_critical();
        (Some((z - q * se).tanh()), Some((z + q * se).tanh()))
    } else {
        (None, None)
    };
    Some(Correlation {
        r,
        n,
        ci_low,
        ci_high,
        method: "Pearson's r across periods; 95% interval by Fisher's z transformation (Fisher 1921), as scipy.stats.pearsonr's default; none below 4 periods",
    })
}

/// One department's part of the North Star figure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contribution {
    pub department: String,
    /// Its share of the metric's answers.
    pub share: f64,
    /// The metric on its answers alone.
    pub value: f64,
    /// share × value (the last part absorbs rounding): the parts, added in
    /// order, sum to the overall figure (exactly whenever an f64 can; see
    /// [`contributions`]).
    pub points: f64,
    /// How far the overall figure would move if this department's value
    /// equalled the rest's: share × (rest − value).
    pub if_matched_rest: Option<f64>,
}

/// Decomposes an overall figure into departments' parts. `groups` are
/// (department, answers, value) partitioning the answers; the overall value
/// is Σ nᵢ·vᵢ / Σ nᵢ for NPS (in points), CSAT, CES and FCR alike. Each
/// part is shareᵢ × valueᵢ but the last, `overall` − (the others added in
/// order), which absorbs floating-point rounding: the parts added in order
/// give `overall` exactly whenever any f64 last part can. Not always one
/// can: when the others add up to much more than `overall` in magnitude,
/// their sum plus any f64 lies on a coarser grid than `overall` (501
/// promoters and 499 detractors in two departments: 50.1 + y is a multiple
/// of 2⁻⁴⁷ near 0.2, so the sum is 0.20000000000000284); the sum is then
/// the nearest one reachable. (About 4% of random NPS splits into 2–6
/// departments are like that in a simulation; tools/golden/departments.json
/// checks both kinds against a search over every f64.)
pub fn contributions(groups: &[(String, i64, f64)], overall: f64) -> Vec<Contribution> {
    let total: i64 = groups.iter().map(|g| g.1).sum();
    if total <= 0 {
        return Vec::new();
    }
    let total_f = total as f64;
    let weighted: f64 = groups.iter().map(|g| g.1 as f64 * g.2).sum();
    let mut out: Vec<Contribution> = groups
        .iter()
        .filter(|g| g.1 > 0)
        .map(|(department, n, value)| {
            let share = *n as f64 / total_f;
            let rest_n = total - n;
            let if_matched_rest = (rest_n > 0).then(|| {
                let rest = (weighted - *n as f64 * value) / rest_n as f64;
                share * (rest - value)
            });
            Contribution {
                department: department.clone(),
                share,
                value: *value,
                points: share * value,
                if_matched_rest,
            }
        })
        .collect();
    if let Some((last, before)) = out.split_last_mut() {
        let sum_before = before.iter().fold(0.0, |acc, c| acc + c.points);
        last.points = overall - sum_before;
    }
    out
}

/// How the organisation wants to be perceived (seed 004), the principles
/// that carry it, and the one metric everyone is aligned on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NorthStar {
    pub statement: String,
    #[serde(default)]
    pub principles: Vec<Principle>,
    #[serde(with = "metric_name")]
    pub metric: Metric,
    pub target: f64,
    /// YYYY-MM-DD.
    pub target_date: String,
}

/// A guiding principle: the departments that carry it and the customer
/// metric or driver (`driver_<name>`) that evidences it. A plain string is
/// a principle without links.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "PrincipleInput")]
pub struct Principle {
    pub text: String,
    pub departments: Vec<String>,
    pub evidence: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum PrincipleInput {
    Text(String),
    Full {
        text: String,
        #[serde(default)]
        departments: Vec<String>,
        #[serde(default)]
        evidence: Option<String>,
    },
}

impl From<PrincipleInput> for Principle {
    fn from(p: PrincipleInput) -> Self {
        match p {
            PrincipleInput::Text(text) => Principle {
                text,
                departments: Vec::new(),
                evidence: None,
            },
            PrincipleInput::Full {
                text,
                departments,
                evidence,
            } => Principle {
                text,
                departments,
                evidence,
            },
        }
    }
}

/// Most guiding principles.
pub const MAX_PRINCIPLES: usize = 10;

impl NorthStar {
    pub fn check(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if self.statement.trim().is_empty() {
            errors.push(FieldError::new(
                "statement",
                "is empty",
                "say how the organisation wants to be perceived",
            ));
        }
        text(&mut errors, "statement", &self.statement, TEXT_LIMIT);
        if self.principles.len() > MAX_PRINCIPLES {
            errors.push(FieldError::new(
                "principles",
                format!(
                    "has {} principles; the limit is {MAX_PRINCIPLES}",
                    self.principles.len()
                ),
                "keep the few that guide decisions",
            ));
        }
        for (i, p) in self.principles.iter().enumerate() {
            text(
                &mut errors,
                &format!("principles[{i}].text"),
                &p.text,
                TEXT_LIMIT,
            );
            list(
                &mut errors,
                &format!("principles[{i}].departments"),
                &p.departments,
                DIMENSION_LIMIT,
            );
            if let Some(e) = &p.evidence {
                let known = Metric::parse(e).is_some()
                    || e.strip_prefix("driver_")
                        .is_some_and(crate::field::is_identifier);
                if !known {
                    errors.push(FieldError::new(
                        format!("principles[{i}].evidence"),
                        format!("{e:?} is neither a metric nor a driver"),
                        "give nps, csat, ces, fcr or driver_<name>",
                    ));
                }
            }
        }
        if !self.target.is_finite() {
            errors.push(FieldError::new(
                "target",
                "is not a finite number",
                "give the target on the metric's scale (NPS in points)",
            ));
        }
        if crate::calendar::parse_day(&self.target_date).is_none() {
            errors.push(FieldError::new(
                "target_date",
                format!("{:?} is not a date", self.target_date),
                "give the date as YYYY-MM-DD",
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// A win credited to a department (seed 002: credit the team; keep a
/// sponsor who knows what the CX team did), with the evidence that makes
/// it one: a customer metric before and after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewWin {
    /// What changed.
    pub title: String,
    /// People credited by name (optional).
    #[serde(default)]
    pub people: Vec<String>,
    /// The CX team's part, stated separately.
    #[serde(default)]
    pub cx_part: String,
    /// When it happened (YYYY-MM-DD).
    pub on: String,
    pub evidence: WinEvidence,
}

/// A customer metric on a filter, before and after the change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WinEvidence {
    #[serde(with = "metric_name")]
    pub metric: Metric,
    #[serde(default)]
    pub filter: BTreeMap<String, OneOrMany>,
    pub before: DayRange,
    pub after: DayRange,
}

/// Inclusive days, YYYY-MM-DD.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DayRange {
    pub from: String,
    pub to: String,
}

impl DayRange {
    pub fn days(&self) -> Option<(crate::calendar::Day, crate::calendar::Day)> {
        let from = crate::calendar::parse_day(&self.from)?;
        let to = crate::calendar::parse_day(&self.to)?;
        (from <= to).then_some((from, to))
    }
}

impl NewWin {
    pub fn check(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if self.title.trim().is_empty() {
            errors.push(FieldError::new("title", "is empty", "say what changed"));
        }
        text(&mut errors, "title", &self.title, TEXT_LIMIT);
        text(&mut errors, "cx_part", &self.cx_part, TEXT_LIMIT);
        list(&mut errors, "people", &self.people, EMAIL_LIMIT);
        if crate::calendar::parse_day(&self.on).is_none() {
            errors.push(FieldError::new(
                "on",
                format!("{:?} is not a date", self.on),
                "give the date as YYYY-MM-DD",
            ));
        }
        CustomerMetric {
            metric: self.evidence.metric,
            filter: self.evidence.filter.clone(),
        }
        .check_filter(&mut errors, "evidence");
        for (name, range) in [
            ("before", &self.evidence.before),
            ("after", &self.evidence.after),
        ] {
            if range.days().is_none() {
                errors.push(FieldError::new(
                    format!("evidence.{name}"),
                    format!("{:?} to {:?} is not a range of days", range.from, range.to),
                    "give from and to as YYYY-MM-DD, from on or before to",
                ));
            }
        }
        if let (Some(on), Some(b), Some(a)) = (
            crate::calendar::parse_day(&self.on),
            self.evidence.before.days(),
            self.evidence.after.days(),
        ) && !(b.1 < on && on <= a.0)
        {
            errors.push(FieldError::new(
                "on",
                format!(
                    "{} is not between the end of evidence.before and the start of evidence.after",
                    self.on
                ),
                "the change happens after the period before it and on or before the period after it starts",
            ));
        }
        if let (Some(b), Some(a)) = (self.evidence.before.days(), self.evidence.after.days())
            && b.1 >= a.0
        {
            errors.push(FieldError::new(
                "evidence.after",
                "starts before the end of evidence.before",
                "compare a period before the change with one after it",
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// The grid [`exact_contributions`] rounds parts to: 2⁻⁴⁰. Parts are at
/// most 100 in magnitude and their shares sum to 1, so every partial sum is
/// a multiple of 2⁻⁴⁰ below 2⁸ — an exact f64 — and the parts add up to the
/// total exactly in any order (left to right, compensated, `math.fsum`).
const POINTS_GRID: f64 = 1_099_511_627_776.0;

/// [`contributions`] rounded to a fine grid (2⁻⁴⁰ ≈ 9·10⁻¹³) with the total
/// they sum to exactly, whatever the order of addition: the figure to show
/// as the overall value beside its parts. The total is `overall` rounded to
/// the same grid (within 5·10⁻¹³ of it); each part but the last is
/// shareᵢ × valueᵢ within 5·10⁻¹³, the last takes the remainder.
pub fn exact_contributions(
    groups: &[(String, i64, f64)],
    overall: f64,
) -> (Vec<Contribution>, f64) {
    let snap = |x: f64| (x * POINTS_GRID).round() / POINTS_GRID;
    let mut parts = contributions(groups, overall);
    let total = snap(overall);
    let mut before = 0.0;
    let last = parts.len().saturating_sub(1);
    for (i, c) in parts.iter_mut().enumerate() {
        if i < last {
            c.points = snap(c.points);
            before += c.points;
        } else {
            c.points = total - before;
        }
    }
    (parts, total)
}
