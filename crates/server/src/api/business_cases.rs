//! Business cases a finance reviewer signs off (issue 11): every input a
//! named assumption with a range and a source, figures computed with their
//! formulas (`northstar_core::business_case`), measured assumptions read
//! from Northstar's own data, and versions: a change of any input makes a
//! new version that needs review again; an approved version is frozen.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use northstar_core::business_case::{self, Assumption, AssumptionSource, CaseFigures, CaseInputs};
use northstar_core::calendar;
use northstar_core::department::OneOrMany;
use northstar_core::revenue::{self, ChurnRate, ChurnSource, RevenueSettings};
use northstar_store::value_records::{
    AssumptionReview, BusinessCase, CaseStatus, CaseVersion, Verdict,
};
use serde::{Deserialize, Serialize};

use super::departments::{field_errors, record_body};
use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::report::Selection;

fn now_unix() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// Most measured assumptions in one case: each is measured again whenever
/// the case is shown.
pub const MAX_MEASURED: usize = 12;

/// Refuses more than [`MAX_MEASURED`] measured assumptions.
fn check_measured(measured: usize) -> Result<(), ApiError> {
    if measured > MAX_MEASURED {
        return Err(ApiError::BadBody(format!(
            "assumptions: {measured} are measured; the limit is {MAX_MEASURED} (each is measured again whenever the case is shown)"
        )));
    }
    Ok(())
}

/// The figures Northstar can measure for an assumption.
pub const MEASURED_FIGURES: [&str; 7] = [
    "churn_gap_detractor_promoter",
    "churn_gap_detractor_passive",
    "annual_value",
    "annual_value_detractors",
    "customers",
    "pilot_effect",
    "pilot_detractor_reduction",
];

/// A measured value with where it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measured {
    pub value: f64,
    pub low: f64,
    pub high: f64,
    pub link: String,
    pub provenance: String,
}

fn scope_selection(
    scope: &BTreeMap<String, OneOrMany>,
    field: &str,
) -> Result<Selection, ApiError> {
    let filter =
        northstar_core::department::scope_pairs(scope, field).map_err(|e| field_errors(vec![e]))?;
    Ok(Selection {
        filter,
        ..Selection::default()
    })
}

fn scope_query(scope: &BTreeMap<String, OneOrMany>) -> String {
    let mut parts = Vec::new();
    for (k, v) in scope {
        for value in v.values() {
            parts.push(format!(
                "{k}={}",
                url::form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>()
            ));
        }
    }
    parts.join("&")
}

fn scope_text(scope: &BTreeMap<String, OneOrMany>) -> String {
    if scope.is_empty() {
        return "all customers".into();
    }
    scope
        .iter()
        .map(|(k, v)| format!("{k} = {}", v.values().join(" or ")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Newcombe's hybrid score interval for a difference of two proportions
/// from their Wilson intervals (Newcombe 1998, Stat Med 17:873, method 10).
pub fn newcombe_difference(a: &ChurnRate, b: &ChurnRate) -> (f64, f64, f64) {
    let d = a.rate - b.rate;
    let low = d - ((a.rate - a.ci_low).powi(2) + (b.ci_high - b.rate).powi(2)).sqrt();
    let high = d + ((a.ci_high - a.rate).powi(2) + (b.rate - b.ci_low).powi(2)).sqrt();
    (d, low, high)
}

/// Measures `figure` on `scope` (or the pilot) from the store.
pub async fn measure(
    state: &AppState,
    principal: &Principal,
    figure: &str,
    scope: &BTreeMap<String, OneOrMany>,
    pilot_id: Option<i64>,
    field: &str,
) -> Result<Measured, ApiError> {
    let selection = scope_selection(scope, &format!("{field}.scope"))?;
    let where_ = scope_text(scope);
    let query = scope_query(scope);
    match figure {
        "pilot_effect" | "pilot_detractor_reduction" => {
            let id = pilot_id.ok_or_else(|| {
                ApiError::BadBody(format!(
                    "{field}.pilot_id: a pilot's effect needs the pilot's id"
                ))
            })?;
            let detractors = figure == "pilot_detractor_reduction";
            let e = if detractors {
                super::pilots::detractor_reduction_evaluation(state, principal, id).await?
            } else {
                super::pilots::primary_evaluation(state, principal, id).await?
            };
            Ok(Measured {
                value: e.effect,
                low: e.ci_low,
                high: e.ci_high,
                link: format!("/api/v1/pilots/{id}/evaluation"),
                provenance: format!(
                    "difference-in-differences of pilot {id} against its control{}: {} (95% CI {} to {}, {}, n = {} answers, {}), {}",
                    if detractors {
                        " in the share of detractors (NPS 0–6), fewer = positive"
                    } else {
                        ""
                    },
                    short(e.effect),
                    short(e.ci_low),
                    short(e.ci_high),
                    super::pilots::p_text(e.p_value),
                    e.n,
                    e.method_name,
                    e.period
                ),
            })
        }
        "customers" => {
            let only_segments = !scope.is_empty() && scope.keys().all(|k| k == "segment");
            if only_segments {
                let wanted: Vec<&str> = scope.values().flat_map(|v| v.values()).collect();
                // Customers who had not churned by today.
                let today = calendar::today_in(
                    &northstar_store::settings::time_zone(state.store.backend())
                        .await?
                        .1,
                );
                let segments = state.store.backend().customer_segments(Some(today)).await?;
                let count: u64 = segments
                    .iter()
                    .filter(|(s, _)| wanted.contains(&s.as_str()))
                    .map(|(_, n)| *n)
                    .sum();
                let v = count as f64;
                return Ok(Measured {
                    value: v,
                    low: v,
                    high: v,
                    link: "/api/v1/customers/segments".into(),
                    provenance: format!(
                        "customers in the customers file with {where_} who had not churned by {}: {count}",
                        calendar::day_label(today)
                    ),
                });
            }
            let loyalty = loyalty(state, &selection).await?;
            let n = loyalty.promoters.customers
                + loyalty.passives.customers
                + loyalty.detractors.customers;
            let v = n as f64;
            Ok(Measured {
                value: v,
                low: v,
                high: v,
                link: format!("/api/v1/revenue-at-risk?{query}"),
                provenance: format!("customers with an NPS answer where {where_}: {n}"),
            })
        }
        "annual_value" | "annual_value_detractors" => {
            let loyalty = loyalty(state, &selection).await?;
            let groups = if figure == "annual_value" {
                vec![loyalty.promoters, loyalty.passives, loyalty.detractors]
            } else {
                vec![loyalty.detractors]
            };
            let known: u64 = groups.iter().map(|g| g.value_known).sum();
            let sum: f64 = groups.iter().map(|g| g.annual_value_sum).sum();
            if known == 0 {
                return Err(ApiError::BadBody(format!(
                    "{field}: no customer {where_} has a known annual value; import customers with annual_value, or give the assumption as an estimate"
                )));
            }
            let mean = sum / known as f64;
            Ok(Measured {
                value: mean,
                low: mean,
                high: mean,
                link: format!("/api/v1/revenue-at-risk?{query}"),
                provenance: format!(
                    "mean annual value of {known} {}customers with an NPS answer and a known value, {where_}",
                    if figure == "annual_value" {
                        ""
                    } else {
                        "detractor "
                    }
                ),
            })
        }
        "churn_gap_detractor_promoter" | "churn_gap_detractor_passive" => {
            let loyalty = loyalty(state, &selection).await?;
            let settings = RevenueSettings {
                assumed_churn: super::revenue::DEFAULT_ASSUMED_CHURN,
                min_churn_flags: revenue::MIN_CHURN_FLAGS,
            };
            let r = revenue::revenue_at_risk(&loyalty, &settings)
                .map_err(|e| ApiError::BadRequest(e.to_string()))?;
            let other = if figure == "churn_gap_detractor_promoter" {
                &r.promoter_churn
            } else {
                &r.passive_churn
            };
            for rate in [&r.detractor_churn, other] {
                if rate.source != ChurnSource::Measured {
                    return Err(ApiError::BadBody(format!(
                        "{field}: only {} customers of one loyalty group {where_} have a known churn flag (at least {} are needed to measure a churn rate); give the churn gap as an estimate or a benchmark",
                        rate.flags_known,
                        revenue::MIN_CHURN_FLAGS
                    )));
                }
            }
            let (d, low, high) = newcombe_difference(&r.detractor_churn, other);
            Ok(Measured {
                value: d,
                low,
                high,
                link: format!("/api/v1/revenue-at-risk?{query}"),
                provenance: format!(
                    "churn of detractors {:.1}% ({} of {}) minus {} {:.1}% ({} of {}), customers by their latest NPS answer, {where_}; 95% interval by Newcombe's hybrid score method (1998) from Wilson intervals",
                    r.detractor_churn.rate * 100.0,
                    r.detractor_churn.churned,
                    r.detractor_churn.flags_known,
                    if figure == "churn_gap_detractor_promoter" {
                        "promoters"
                    } else {
                        "passives"
                    },
                    other.rate * 100.0,
                    other.churned,
                    other.flags_known
                ),
            })
        }
        other => Err(ApiError::BadBody(format!(
            "{field}.figure: {other:?} is not a figure Northstar measures; use one of {}",
            MEASURED_FIGURES.join(", ")
        ))),
    }
}

async fn loyalty(
    state: &AppState,
    selection: &Selection,
) -> Result<northstar_core::revenue::LoyaltyCustomers, ApiError> {
    Ok(state
        .store
        .loyalty_customers(&selection.respondents(), None)
        .await?
        .into_iter()
        .next()
        .map(|(_, l)| l)
        .unwrap_or_default())
}

/// A case as a client sends it: the inputs, with the discount rate
/// optional and measured assumptions' values filled in by Northstar.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseRequest {
    pub name: String,
    #[serde(default)]
    pub initiative: String,
    #[serde(default)]
    pub department: Option<String>,
    #[serde(default)]
    pub pilot_id: Option<i64>,
    #[serde(default)]
    pub discount_rate: Option<f64>,
    #[serde(default)]
    pub cash_flows: Vec<business_case::CashFlow>,
    #[serde(default)]
    pub assumptions: Vec<AssumptionRequest>,
    #[serde(default)]
    pub lines: Vec<business_case::Line>,
    #[serde(default)]
    pub effect: Option<String>,
}

/// An assumption as sent: a measured one needs no value.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssumptionRequest {
    /// Lines name it; derived from the name when absent
    /// ("Churn gap" → `churn_gap`).
    #[serde(default)]
    pub key: Option<String>,
    pub name: String,
    #[serde(default)]
    pub value: Option<f64>,
    #[serde(default)]
    pub low: Option<f64>,
    #[serde(default)]
    pub high: Option<f64>,
    #[serde(default)]
    pub unit: business_case::Unit,
    pub source: AssumptionSource,
    #[serde(default, alias = "date")]
    pub as_of: Option<String>,
}

/// A key from a name: lower-case letters and digits, other runs as `_`.
pub fn key_from_name(name: &str) -> String {
    let mut key = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            key.push(c);
        } else if !key.ends_with('_') && !key.is_empty() {
            key.push('_');
        }
    }
    key.trim_end_matches('_')
        .chars()
        .take(business_case::KEY_LIMIT)
        .collect::<String>()
        .trim_end_matches('_')
        .to_string()
}

/// One assumption as stored: a measured one read from the data now (its
/// interval never narrower than measured), the others as given.
pub async fn assumption_from(
    state: &AppState,
    principal: &Principal,
    a: AssumptionRequest,
    field: &str,
    today: &str,
) -> Result<Assumption, ApiError> {
    let key = a.key.clone().unwrap_or_else(|| key_from_name(&a.name));
    Ok(match a.source {
        AssumptionSource::Measured {
            figure,
            scope,
            pilot_id,
            ..
        } => {
            let m = measure(
                state,
                principal,
                &figure,
                &scope,
                pilot_id,
                &format!("{field}.source"),
            )
            .await?;
            Assumption {
                key: key.clone(),
                name: a.name,
                value: m.value,
                // The measured interval, or wider when the author widens
                // it; never narrower.
                low: a.low.map_or(m.low, |l| l.min(m.low)),
                high: a.high.map_or(m.high, |h| h.max(m.high)),
                unit: a.unit,
                source: AssumptionSource::Measured {
                    figure,
                    scope,
                    pilot_id,
                    link: m.link,
                    provenance: m.provenance,
                },
                as_of: today.to_string(),
            }
        }
        source => {
            let value = a.value.ok_or_else(|| {
                ApiError::BadBody(format!(
                    "{field}.value: is missing; give the value (low and high default to it)"
                ))
            })?;
            Assumption {
                key: key.clone(),
                name: a.name,
                value,
                low: a.low.unwrap_or(value),
                high: a.high.unwrap_or(value),
                unit: a.unit,
                source,
                as_of: a.as_of.unwrap_or_else(|| today.to_string()),
            }
        }
    })
}

/// Turns a request into checked inputs, measuring what is measured.
pub async fn inputs_of(
    state: &AppState,
    principal: &Principal,
    request: CaseRequest,
) -> Result<CaseInputs, ApiError> {
    if request.assumptions.len() > business_case::MAX_ASSUMPTIONS {
        return Err(ApiError::BadBody(format!(
            "assumptions: has {} entries; the limit is {}",
            request.assumptions.len(),
            business_case::MAX_ASSUMPTIONS
        )));
    }
    check_measured(
        request
            .assumptions
            .iter()
            .filter(|a| matches!(a.source, AssumptionSource::Measured { .. }))
            .count(),
    )?;
    let today = calendar::day_label(calendar::today_in(
        &northstar_store::settings::time_zone(state.store.backend())
            .await?
            .1,
    ));
    let mut assumptions = Vec::with_capacity(request.assumptions.len());
    for (i, a) in request.assumptions.into_iter().enumerate() {
        let field = format!("assumptions[{i}]");
        assumptions.push(assumption_from(state, principal, a, &field, &today).await?);
    }
    let inputs = CaseInputs {
        name: request.name,
        initiative: request.initiative,
        department: request.department,
        pilot_id: request.pilot_id,
        discount_rate: match request.discount_rate {
            Some(r) => r,
            // The organisation's setting (`northstar settings set discount_rate`).
            None => {
                northstar_store::settings::organisation_discount_rate(state.store.backend()).await?
            }
        },
        cash_flows: request.cash_flows,
        assumptions,
        lines: request.lines,
        effect: request.effect,
    };
    inputs.check().map_err(field_errors)?;
    if let Some(d) = &inputs.department
        && !state
            .store
            .backend()
            .departments()
            .await?
            .iter()
            .any(|x| &x.record.name == d)
    {
        return Err(ApiError::BadBody(format!(
            "department: {d:?} is not a department; create it first or leave it out"
        )));
    }
    if let Some(id) = inputs.pilot_id
        && state.store.backend().pilot(id).await?.is_none()
    {
        return Err(ApiError::BadBody(format!(
            "pilot_id: there is no pilot {id}"
        )));
    }
    Ok(inputs)
}

/// A reviewer's verdict on one assumption, as shown.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewView {
    pub verdict: Verdict,
    pub comment: String,
    pub reviewer: String,
    pub reviewed_at: String,
    /// The version the verdict was given on, when carried over unchanged.
    pub carried_from: Option<i64>,
}

/// An assumption with its review and, for a measured one, today's value.
#[derive(Debug, Clone, Serialize)]
pub struct AssumptionView {
    #[serde(flatten)]
    pub assumption: Assumption,
    pub review: Option<ReviewView>,
    /// Measured again now: `None` for estimates and benchmarks.
    pub current: Option<Measured>,
    /// The data has moved since the version was made: a refresh makes a
    /// new version for review.
    pub changed: bool,
    pub note: Option<String>,
}

/// Who decided a version, and when.
#[derive(Debug, Clone, Serialize)]
pub struct VersionSummary {
    pub version: i64,
    pub status: CaseStatus,
    pub created_by: String,
    pub created_at: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    pub decision_comment: Option<String>,
    pub npv: Option<f64>,
}

/// A business case at one version, with its figures.
#[derive(Debug, Clone, Serialize)]
pub struct CaseView {
    pub id: i64,
    pub name: String,
    pub initiative: String,
    pub department: Option<String>,
    pub pilot_id: Option<i64>,
    pub version: i64,
    pub latest_version: i64,
    pub status: CaseStatus,
    /// One line: "approved by finance (ana@…, 2026-12-07)", "awaiting
    /// finance review", "returned by finance …".
    pub finance_review: String,
    pub discount_rate: f64,
    pub npv: f64,
    /// On present values: (PV benefits − PV costs) ÷ PV costs.
    pub roi: Option<f64>,
    /// The same on plain sums: (Σ benefits − Σ costs) ÷ Σ costs.
    pub roi_undiscounted: Option<f64>,
    pub payback_years: Option<f64>,
    pub discounted_payback_years: Option<f64>,
    pub break_even: Option<business_case::BreakEven>,
    pub figures: CaseFigures,
    pub assumptions: Vec<AssumptionView>,
    pub cash_flows: Vec<business_case::CashFlow>,
    pub lines: Vec<business_case::Line>,
    pub effect: Option<String>,
    pub versions: Vec<VersionSummary>,
    /// Assumptions not accepted yet (approval needs none).
    pub open_assumptions: Vec<String>,
}

fn time_label(unix: i64) -> String {
    jiff::Timestamp::from_second(unix)
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// The review line every dollar figure of a case carries.
pub fn finance_review_line(v: &CaseVersion) -> String {
    let when = v.decided_unix.map(time_label).unwrap_or_default();
    let who = v.decided_by.clone().unwrap_or_default();
    match v.status {
        CaseStatus::Approved => {
            format!("approved by finance ({who}, {when}), version {}", v.version)
        }
        CaseStatus::Returned => format!(
            "returned by finance ({who}, {when}), version {}: not approved",
            v.version
        ),
        CaseStatus::AwaitingReview => {
            format!("not reviewed by finance yet (version {})", v.version)
        }
    }
}

pub fn inputs_of_version(v: &CaseVersion) -> Result<CaseInputs, ApiError> {
    serde_json::from_str(&v.document).map_err(|e| {
        ApiError::Store(northstar_store::StoreError::Corrupt(format!(
            "business case version document: {e}"
        )))
    })
}

fn figures(inputs: &CaseInputs) -> Result<CaseFigures, ApiError> {
    business_case::evaluate(inputs).map_err(|e| ApiError::BadBody(e.to_string()))
}

/// Builds the view of one version; `remeasure` reads measured assumptions
/// again to say whether the data has moved.
pub async fn case_view(
    state: &AppState,
    principal: &Principal,
    case: &BusinessCase,
    versions: &[CaseVersion],
    version: i64,
    remeasure: bool,
) -> Result<CaseView, ApiError> {
    let v = versions
        .iter()
        .find(|v| v.version == version)
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "business case {} has no version {version}",
                case.id
            ))
        })?;
    let latest = versions.iter().map(|v| v.version).max().unwrap_or(version);
    let inputs = inputs_of_version(v)?;
    let f = figures(&inputs)?;
    let reviews: BTreeMap<String, AssumptionReview> = state
        .store
        .backend()
        .assumption_reviews(case.id, version)
        .await?
        .into_iter()
        .map(|r| (r.key.clone(), r))
        .collect();
    let mut assumptions = Vec::new();
    let mut open = Vec::new();
    for a in &inputs.assumptions {
        let review = reviews.get(&a.key).map(|r| ReviewView {
            verdict: r.verdict,
            comment: r.comment.clone(),
            reviewer: r.reviewer.clone(),
            reviewed_at: time_label(r.reviewed_unix),
            carried_from: r.carried_from,
        });
        if !matches!(review.as_ref().map(|r| &r.verdict), Some(Verdict::Accepted)) {
            open.push(a.key.clone());
        }
        let (current, changed, note) = match (&a.source, remeasure) {
            (
                AssumptionSource::Measured {
                    figure,
                    scope,
                    pilot_id,
                    ..
                },
                true,
            ) => match measure(state, principal, figure, scope, *pilot_id, &a.key).await {
                Ok(m) => {
                    let changed = (m.value - a.value).abs() > 1e-9 * a.value.abs().max(1.0);
                    let note = changed.then(|| {
                            format!(
                                "the data has moved since {}: measured now {} (was {}); refreshing makes a new version for review",
                                a.as_of,
                                short(m.value),
                                short(a.value)
                            )
                        });
                    (Some(m), changed, note)
                }
                Err(e) => (
                    None,
                    false,
                    Some(format!("cannot be measured now: {}", e.public_message())),
                ),
            },
            _ => (None, false, None),
        };
        assumptions.push(AssumptionView {
            assumption: a.clone(),
            review,
            current,
            changed,
            note,
        });
    }
    let mut summaries = Vec::new();
    for s in versions {
        let npv = inputs_of_version(s)
            .ok()
            .and_then(|i| business_case::base_npv(&i).ok());
        summaries.push(VersionSummary {
            version: s.version,
            status: s.status,
            created_by: s.created_by.clone(),
            created_at: time_label(s.created_unix),
            decided_by: s.decided_by.clone(),
            decided_at: s.decided_unix.map(time_label),
            decision_comment: s.decision_comment.clone(),
            npv,
        });
    }
    Ok(CaseView {
        id: case.id,
        name: inputs.name.clone(),
        initiative: inputs.initiative.clone(),
        department: inputs.department.clone(),
        pilot_id: inputs.pilot_id,
        version,
        latest_version: latest,
        status: v.status,
        finance_review: finance_review_line(v),
        discount_rate: inputs.discount_rate,
        npv: f.base.npv,
        roi: f.base.roi,
        roi_undiscounted: {
            let costs: f64 = f.years.iter().map(|y| y.cost).sum();
            let benefits: f64 = f.years.iter().map(|y| y.benefit).sum();
            (costs > 0.0).then(|| (benefits - costs) / costs)
        },
        payback_years: f.base.payback_years,
        discounted_payback_years: f.discounted_payback_years.value,
        break_even: f.break_even.clone(),
        figures: f,
        assumptions,
        cash_flows: inputs.cash_flows.clone(),
        lines: inputs.lines.clone(),
        effect: inputs.effect.clone(),
        versions: summaries,
        open_assumptions: open,
    })
}

/// A number as a reader scans it.
pub fn short(v: f64) -> String {
    if v.abs() >= 1000.0 {
        business_case::money(v)
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        let decimals = if v.abs() >= 10.0 {
            1
        } else if v.abs() >= 1.0 {
            2
        } else {
            4
        };
        format!("{v:.decimals$}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

/// The keys whose assumption is the same in both versions (their accepted
/// verdicts carry over to the new version).
fn unchanged_keys(before: &CaseInputs, after: &CaseInputs) -> Vec<String> {
    after
        .assumptions
        .iter()
        .filter(|a| before.assumptions.iter().any(|b| same_assumption(a, b)))
        .map(|a| a.key.clone())
        .collect()
}

/// The same assumption for a reviewer: key, name, unit, value, range and
/// where it comes from — not the day it was read or the wording of its
/// provenance.
fn same_assumption(a: &Assumption, b: &Assumption) -> bool {
    let source = |x: &AssumptionSource| match x {
        AssumptionSource::Measured {
            figure,
            scope,
            pilot_id,
            ..
        } => {
            format!("measured {figure} {scope:?} {pilot_id:?}")
        }
        AssumptionSource::Benchmark { citation } => format!("benchmark {citation}"),
        AssumptionSource::Estimate { owner } => format!("estimate {owner}"),
    };
    a.key == b.key
        && a.name == b.name
        && a.unit == b.unit
        && a.value.to_bits() == b.value.to_bits()
        && a.low.to_bits() == b.low.to_bits()
        && a.high.to_bits() == b.high.to_bits()
        && source(&a.source) == source(&b.source)
}

/// `POST /api/v1/business-cases`: creates a case (version 1, awaiting
/// finance review) and returns its figures.
pub async fn post_business_case(
    State(state): State<AppState>,
    principal: Principal,
    body: Result<Bytes, BytesRejection>,
) -> Result<(axum::http::StatusCode, Json<CaseView>), ApiError> {
    let request: CaseRequest = record_body(body, "business case")?;
    let inputs = inputs_of(&state, &principal, request).await?;
    figures(&inputs)?;
    let document =
        serde_json::to_string(&inputs).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let id = state
        .store
        .backend()
        .create_business_case(
            &inputs.name,
            inputs.department.as_deref(),
            inputs.pilot_id,
            &document,
            &principal.who,
            now_unix(),
        )
        .await?;
    let view = load_view(&state, &principal, id, None, false).await?;
    Ok((axum::http::StatusCode::CREATED, Json(view)))
}

/// Loads a case at a version (the latest when `None`).
pub async fn load_view(
    state: &AppState,
    principal: &Principal,
    id: i64,
    version: Option<i64>,
    remeasure: bool,
) -> Result<CaseView, ApiError> {
    let (case, versions) = state
        .store
        .backend()
        .business_case(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("there is no business case {id}")))?;
    // A department role sees its own department's cases only (a case
    // without a department is the organisation's).
    if let Some(own) = principal.scope.department()
        && case.department.as_deref() != Some(own)
    {
        return Err(ApiError::NotFound(format!(
            "there is no business case {id}"
        )));
    }
    let version = version.unwrap_or_else(|| versions.iter().map(|v| v.version).max().unwrap_or(1));
    case_view(state, principal, &case, &versions, version, remeasure).await
}

/// `GET /api/v1/business-cases/{id}`: the latest version, its figures,
/// reviews and history; measured assumptions read again.
pub async fn get_business_case(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
) -> Result<Json<CaseView>, ApiError> {
    Ok(Json(load_view(&state, &principal, id, None, true).await?))
}

/// `GET /api/v1/business-cases/{id}/versions/{version}`.
pub async fn get_business_case_version(
    State(state): State<AppState>,
    principal: Principal,
    Path((id, version)): Path<(i64, i64)>,
) -> Result<Json<CaseView>, ApiError> {
    Ok(Json(
        load_view(&state, &principal, id, Some(version), false).await?,
    ))
}

/// One case in the list.
#[derive(Debug, Clone, Serialize)]
pub struct CaseListEntry {
    pub id: i64,
    pub name: String,
    pub department: Option<String>,
    pub version: i64,
    pub status: CaseStatus,
    pub finance_review: String,
    pub npv: Option<f64>,
}

/// The cases a principal may see, each at its latest version.
pub async fn case_list(
    state: &AppState,
    principal: &Principal,
) -> Result<Vec<CaseListEntry>, ApiError> {
    let own = principal.scope.department();
    let mut out = Vec::new();
    for (case, latest) in state.store.backend().business_cases().await? {
        if let Some(own) = own
            && case.department.as_deref() != Some(own)
        {
            continue;
        }
        let npv = inputs_of_version(&latest)
            .ok()
            .and_then(|i| business_case::base_npv(&i).ok());
        // While a newer version waits, the last approved figure stays in view.
        let mut finance_review = finance_review_line(&latest);
        if latest.status != CaseStatus::Approved
            && let Some((_, versions)) = state.store.backend().business_case(case.id).await?
            && let Some(approved) = versions
                .iter()
                .filter(|v| v.status == CaseStatus::Approved)
                .max_by_key(|v| v.version)
        {
            let approved_npv = inputs_of_version(approved)
                .ok()
                .and_then(|i| business_case::base_npv(&i).ok());
            finance_review.push_str(&format!(
                "; the last approved version, {}, has NPV {} ({})",
                approved.version,
                approved_npv.map_or("–".into(), business_case::money),
                finance_review_line(approved)
            ));
        }
        out.push(CaseListEntry {
            id: case.id,
            name: case.name.clone(),
            department: case.department.clone(),
            version: latest.version,
            status: latest.status,
            finance_review,
            npv,
        });
    }
    Ok(out)
}

/// `GET /api/v1/business-cases`.
pub async fn get_business_cases(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<CaseListEntry>>, ApiError> {
    Ok(Json(case_list(&state, &principal).await?))
}

/// Makes a new version from `inputs` unless they equal the latest's;
/// returns the version now current.
pub async fn new_version(
    state: &AppState,
    principal: &Principal,
    id: i64,
    inputs: &CaseInputs,
) -> Result<i64, ApiError> {
    let (_, versions) = state
        .store
        .backend()
        .business_case(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("there is no business case {id}")))?;
    let latest = versions
        .iter()
        .max_by_key(|v| v.version)
        .ok_or_else(|| ApiError::NotFound(format!("business case {id} has no version")))?;
    check_measured(
        inputs
            .assumptions
            .iter()
            .filter(|a| matches!(a.source, AssumptionSource::Measured { .. }))
            .count(),
    )?;
    let before = inputs_of_version(latest)?;
    if &before == inputs {
        return Ok(latest.version);
    }
    let document =
        serde_json::to_string(inputs).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(state
        .store
        .backend()
        .add_case_version(
            id,
            &document,
            inputs.department.as_deref(),
            inputs.pilot_id,
            &unchanged_keys(&before, inputs),
            &principal.who,
            now_unix(),
        )
        .await?)
}

/// `PUT /api/v1/business-cases/{id}`: new inputs → a new version that
/// needs review (accepted verdicts of unchanged assumptions carry over).
pub async fn put_business_case(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<CaseView>, ApiError> {
    let request: CaseRequest = record_body(body, "business case")?;
    let inputs = inputs_of(&state, &principal, request).await?;
    figures(&inputs)?;
    let version = new_version(&state, &principal, id, &inputs).await?;
    Ok(Json(
        load_view(&state, &principal, id, Some(version), false).await?,
    ))
}

/// `POST /api/v1/business-cases/{id}/refresh`: measures the measured
/// assumptions again; a new version when any moved.
pub async fn post_refresh(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
) -> Result<Json<CaseView>, ApiError> {
    let view = load_view(&state, &principal, id, None, true).await?;
    let (_, versions) = state
        .store
        .backend()
        .business_case(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("there is no business case {id}")))?;
    let latest = versions
        .iter()
        .max_by_key(|v| v.version)
        .ok_or_else(|| ApiError::NotFound(format!("business case {id} has no version")))?;
    let mut inputs = inputs_of_version(latest)?;
    let today = calendar::day_label(calendar::today_in(
        &northstar_store::settings::time_zone(state.store.backend())
            .await?
            .1,
    ));
    for a in view.assumptions.iter().filter(|a| a.changed) {
        if let (Some(m), Some(target)) = (
            &a.current,
            inputs
                .assumptions
                .iter_mut()
                .find(|x| x.key == a.assumption.key),
        ) {
            target.value = m.value;
            // The interval measured now.
            target.low = m.low;
            target.high = m.high;
            target.as_of = today.clone();
            if let AssumptionSource::Measured {
                link, provenance, ..
            } = &mut target.source
            {
                *link = m.link.clone();
                *provenance = m.provenance.clone();
            }
        }
    }
    let version = new_version(&state, &principal, id, &inputs).await?;
    Ok(Json(
        load_view(&state, &principal, id, Some(version), false).await?,
    ))
}

/// A reviewer's verdict on one assumption.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    pub assumption: String,
    /// accepted or challenged.
    pub verdict: String,
    #[serde(default)]
    pub comment: String,
}

/// Records a verdict (shared by the API and the page).
pub async fn review(
    state: &AppState,
    principal: &Principal,
    id: i64,
    version: i64,
    request: &ReviewRequest,
) -> Result<(), ApiError> {
    let verdict = match request.verdict.trim() {
        "accepted" | "accept" => Verdict::Accepted,
        "challenged" | "challenge" => Verdict::Challenged,
        other => {
            return Err(ApiError::BadBody(format!(
                "verdict: {other:?} is not a verdict; use accepted or challenged"
            )));
        }
    };
    if let Err(e) =
        northstar_core::field::within("comment", &request.comment, business_case::CASE_TEXT)
    {
        return Err(field_errors(vec![e]));
    }
    if verdict == Verdict::Challenged && request.comment.trim().is_empty() {
        return Err(ApiError::BadBody(
            "comment: a challenge needs a comment saying what is wrong and what would convince you"
                .into(),
        ));
    }
    let view = load_view(state, principal, id, Some(version), false).await?;
    if !view
        .assumptions
        .iter()
        .any(|a| a.assumption.key == request.assumption)
    {
        return Err(ApiError::BadBody(format!(
            "assumption: version {version} has no assumption {:?}",
            request.assumption
        )));
    }
    state
        .store
        .backend()
        .review_assumption(
            id,
            version,
            &request.assumption,
            verdict,
            request.comment.trim(),
            &principal.who,
            now_unix(),
        )
        .await?;
    Ok(())
}

/// `POST /api/v1/business-cases/{id}/versions/{version}/reviews`.
pub async fn post_review(
    State(state): State<AppState>,
    principal: Principal,
    Path((id, version)): Path<(i64, i64)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<CaseView>, ApiError> {
    let request: ReviewRequest = record_body(body, "review")?;
    review(&state, &principal, id, version, &request).await?;
    Ok(Json(
        load_view(&state, &principal, id, Some(version), false).await?,
    ))
}

/// Approve or return a version.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// approve or return.
    pub decision: String,
    #[serde(default)]
    pub comment: String,
}

/// Records a decision (shared by the API and the page).
pub async fn decide(
    state: &AppState,
    principal: &Principal,
    id: i64,
    version: i64,
    request: &DecisionRequest,
) -> Result<(), ApiError> {
    let approve = match request.decision.trim() {
        "approve" | "approved" => true,
        "return" | "returned" => false,
        other => {
            return Err(ApiError::BadBody(format!(
                "decision: {other:?} is not a decision; use approve or return"
            )));
        }
    };
    if let Err(e) =
        northstar_core::field::within("comment", &request.comment, business_case::CASE_TEXT)
    {
        return Err(field_errors(vec![e]));
    }
    if !approve && request.comment.trim().is_empty() {
        return Err(ApiError::BadBody(
            "comment: returning a version needs a comment saying what must change".into(),
        ));
    }
    let view = load_view(state, principal, id, Some(version), false).await?;
    let keys: Vec<String> = view
        .assumptions
        .iter()
        .map(|a| a.assumption.key.clone())
        .collect();
    state
        .store
        .backend()
        .decide_case_version(
            id,
            version,
            approve,
            &keys,
            request.comment.trim(),
            &principal.who,
            now_unix(),
        )
        .await?;
    Ok(())
}

/// `POST /api/v1/business-cases/{id}/versions/{version}/decision`.
pub async fn post_decision(
    State(state): State<AppState>,
    principal: Principal,
    Path((id, version)): Path<(i64, i64)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<CaseView>, ApiError> {
    let request: DecisionRequest = record_body(body, "decision")?;
    decide(&state, &principal, id, version, &request).await?;
    Ok(Json(
        load_view(&state, &principal, id, Some(version), false).await?,
    ))
}

/// The cases shown on a department's page and in its digest, each with
/// its review line.
pub async fn department_cases(
    state: &AppState,
    principal: &Principal,
    department: &str,
) -> Result<Vec<CaseListEntry>, ApiError> {
    Ok(case_list(state, principal)
        .await?
        .into_iter()
        .filter(|c| c.department.as_deref() == Some(department))
        .collect())
}

/// Status words for pages.
pub fn status_label(s: &CaseStatus) -> &'static str {
    match s {
        CaseStatus::AwaitingReview => "Awaiting finance review",
        CaseStatus::Approved => "Approved by finance",
        CaseStatus::Returned => "Returned by finance",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(rate: f64, low: f64, high: f64) -> ChurnRate {
        ChurnRate {
            group: revenue::LoyaltyGroup::Detractors,
            rate,
            ci_low: low,
            ci_high: high,
            source: ChurnSource::Measured,
            flags_known: 100,
            churned: 10,
            basis: String::new(),
        }
    }

    /// Newcombe (1998) Table II, example (a): 56/70 vs 48/80 → difference
    /// 0.2000, interval 0.0524 to 0.3339 (method 10).
    #[test]
    fn newcombe_matches_the_published_example() {
        let wilson = |successes: i64, trials: i64| {
            let e = northstar_core::estimate::wilson(&northstar_core::ProportionSummary {
                successes,
                trials,
            });
            rate(
                successes as f64 / trials as f64,
                e.ci_low.unwrap_or(f64::NAN),
                e.ci_high.unwrap_or(f64::NAN),
            )
        };
        let (d, low, high) = newcombe_difference(&wilson(56, 70), &wilson(48, 80));
        assert!((d - 0.2).abs() < 1e-12);
        assert!((low - 0.0524).abs() < 5e-5, "{low}");
        assert!((high - 0.3339).abs() < 5e-5, "{high}");
    }
}
