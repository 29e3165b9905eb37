//! The North Star (seed 004): how the organisation wants to be perceived,
//! its guiding principles, and one metric with a target — with each
//! department's contribution to the current figure.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use northstar_core::department::{self, Contribution, NorthStar};
use northstar_core::rollup::GroupBy;
use northstar_core::{Dimension, Mergeable, Metric};
use serde::Serialize;
use utoipa::ToSchema;

use super::departments::{field_errors, record_body};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::report::{self, Period, Selection};
use crate::{AppState, params};

/// The North Star with its current value.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NorthStarReport {
    pub statement: String,
    #[schema(value_type = Object)]
    pub principles: Vec<department::Principle>,
    #[schema(value_type = String)]
    pub metric: Metric,
    pub value: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub n: i64,
    pub target: f64,
    pub target_date: String,
    pub method: &'static str,
    /// Departments' parts: `points` add up to `value`.
    #[schema(value_type = Object)]
    pub contributions: Vec<Contribution>,
    pub contribution_method: &'static str,
    #[schema(value_type = Object)]
    pub period: Period,
    pub updated_by: String,
    pub updated_unix: i64,
}

/// The part of every other department, as a department role sees it.
pub const REST: &str = "(rest of the organisation)";

const CONTRIBUTION_METHOD: &str = "each department's answers as a share of all answers × the metric on its answers alone; the parts add up to the overall figure (a weighted mean: Σ shareᵢ·valueᵢ) exactly, in any order of addition: parts and value are rounded to a grid of 2⁻⁴⁰ (≈ 9·10⁻¹³), the last part taking the remainder. if_matched_rest = share × (the rest's value − the department's value): how far the overall figure would move if the department matched the rest of the organisation. Responses without a department count as the department \"\". Shares are of the answers, so a department that surveys more weighs more";

/// Sets the North Star.
#[utoipa::path(put, path = "/api/v1/north-star",
    request_body(content = Object, description = "{statement, principles: [...], metric: nps|csat|ces|fcr, target, target_date}"),
    responses((status = 200, description = "Stored", body = Object),
        (status = 400, description = "The message names the field", body = super::doc::ErrorBody)))]
pub async fn put_north_star(
    State(state): State<AppState>,
    principal: Principal,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<NorthStar>, ApiError> {
    let ns: NorthStar = record_body(body, "North Star")?;
    ns.check().map_err(field_errors)?;
    state
        .store
        .backend()
        .put_north_star(&ns, &principal.who, jiff::Timestamp::now().as_second())
        .await?;
    Ok(Json(ns))
}

/// The North Star, its current value with interval, and departments'
/// contributions over a period (default: the 90 days that end with the
/// last answer).
#[utoipa::path(get, path = "/api/v1/north-star",
    params(("from" = Option<String>, Query, description = "First day (YYYY-MM-DD)"),
        ("to" = Option<String>, Query, description = "Last day (YYYY-MM-DD)")),
    responses((status = 200, description = "The North Star with its value", body = NorthStarReport),
        (status = 404, description = "No North Star set yet", body = super::doc::ErrorBody)))]
pub async fn get_north_star(
    State(state): State<AppState>,
    principal: Principal,
    params::QueryPairs(pairs): params::QueryPairs,
) -> Result<Json<NorthStarReport>, ApiError> {
    params::reject_empty(&pairs, &["from", "to"])?;
    let p = params::parse(&pairs, &[], &northstar_core::access::Scope::Organisation)?;
    if !p.selection.filter.is_empty() {
        return Err(ApiError::parameter(
            "from",
            "the North Star is the whole organisation's; give from and to only",
        ));
    }
    north_star_report(&state, &p.selection, &principal.scope)
        .await?
        .map(Json)
        .ok_or_else(|| {
            ApiError::NotFound("no North Star is set yet; PUT /api/v1/north-star".into())
        })
}

/// The report for a selection (the whole organisation over its period;
/// without `from`, the 90 days that end with the last answer: the current
/// value); `None` before a North Star is set. Every page's header shows it.
/// A department role sees the overall figure and its own department's
/// part beside the rest of the organisation's, not other departments'.
pub async fn north_star_report(
    state: &AppState,
    selection: &Selection,
    scope: &northstar_core::access::Scope,
) -> Result<Option<NorthStarReport>, ApiError> {
    let Some(stored) = state.store.backend().north_star().await? else {
        return Ok(None);
    };
    let ns = stored.record;
    let metric = ns.metric;
    let mut selection = selection.clone();
    if selection.from.is_none() {
        let everything = state
            .store
            .query_rollups(&northstar_core::rollup::CubeQuery::default())
            .await?;
        if let Some((_, last)) = everything.span(metric) {
            let to = selection.to.unwrap_or(last).min(last);
            selection.to = Some(to);
            selection.from = Some(to - 89);
        }
    }
    let selection = &selection;
    let answer = state
        .store
        .query_rollups(&selection.query(Some(GroupBy::Dimension(Dimension::Department))))
        .await?;
    let overall = metric.estimate(&answer.overall);
    let groups: Vec<(String, i64, f64)> = match scope.department() {
        None => answer
            .groups
            .iter()
            .filter_map(|g| {
                let e = metric.estimate(&g.summary);
                Some((g.key.clone(), e.n, e.value?))
            })
            .collect(),
        Some(own) => {
            let mine = answer
                .groups
                .iter()
                .find(|g| g.key == own)
                .map(|g| g.summary)
                .unwrap_or_default();
            let mut rest = answer.overall;
            rest.merge(&mine.negated());
            [(own.to_string(), mine), (REST.to_string(), rest)]
                .into_iter()
                .filter_map(|(key, summary)| {
                    let e = metric.estimate(&summary);
                    Some((key, e.n, e.value?))
                })
                .collect()
        }
    };
    // The value shown is the total the parts sum to exactly, in any order
    // (the direct figure rounded to 2⁻⁴⁰, within 5·10⁻¹³ of it).
    let (contributions, value) = match overall.value {
        Some(v) => {
            let (parts, total) = department::exact_contributions(&groups, v);
            (parts, Some(total))
        }
        None => (Vec::new(), None),
    };
    Ok(Some(NorthStarReport {
        statement: ns.statement,
        principles: ns.principles,
        metric,
        value,
        ci_low: overall.ci_low,
        ci_high: overall.ci_high,
        n: overall.n,
        target: ns.target,
        target_date: ns.target_date,
        method: metric.method(),
        contributions,
        contribution_method: CONTRIBUTION_METHOD,
        period: report::Period::of(answer.span(metric), selection),
        updated_by: stored.updated_by,
        updated_unix: stored.updated_unix,
    }))
}
