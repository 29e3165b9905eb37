//! `GET /api/v1/breakdown`: a metric by any dimension or attribute, each
//! group with its interval and a Holm-adjusted test against the rest.
//!
//! The five rollup dimensions are answered from the in-memory cube. Any
//! other attribute — a column of the responses file kept as an attribute
//! (`journey_stage`, `attribute.<name>`), or a field of the answering
//! customer's record (`region`, `customer.<name>`) — is answered by the
//! store grouping the selected raw responses by that attribute (one
//! indexed scan of the selection; see bench/RESULTS.md for its cost).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use northstar_core::comparison::{self, MIN_ANSWERS_FOR_SIGNIFICANCE};
use northstar_core::field::NAME_LIMIT;
use northstar_core::rollup::{CubeAnswer, GroupBy};
use northstar_core::{Dimension, Mergeable, Metric, ResponseSummary};
use northstar_store::{BreakdownAttribute, Store};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::report::{Figure, Period, Selection};
use crate::{AppState, params};

/// Most groups a breakdown by an attribute shows: the values with the most
/// responses; `truncated` says when more exist.
pub const MAX_BREAKDOWN_GROUPS: usize = 200;

/// What a breakdown is split by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BreakdownBy {
    Dimension(Dimension),
    Attribute(BreakdownAttribute),
}

impl BreakdownBy {
    /// Parses `by`: a dimension; `region` or `customer.<name>` (the
    /// answering customer's record); `attribute.<name>` or any other name
    /// (a column of the responses file kept as an attribute).
    pub fn parse(value: &str) -> Result<Self, ApiError> {
        let value = value.trim();
        if let Some(d) = Dimension::parse(value) {
            return Ok(Self::Dimension(d));
        }
        let name_ok = |name: &str| {
            if name.is_empty() {
                Err(ApiError::parameter(
                    "by",
                    "names no attribute; use a dimension, region, customer.<name> or attribute.<name>",
                ))
            } else if name.chars().count() > NAME_LIMIT.max_chars {
                Err(ApiError::parameter(
                    "by",
                    format!(
                        "is longer than {} characters (the limit on column names)",
                        NAME_LIMIT.max_chars
                    ),
                ))
            } else {
                Ok(name.to_string())
            }
        };
        let attribute = match value.split_once('.') {
            Some(("customer", "region")) => BreakdownAttribute::CustomerRegion,
            Some(("customer", "segment")) => BreakdownAttribute::CustomerSegment,
            Some(("customer", name)) => BreakdownAttribute::Customer(name_ok(name)?),
            Some(("attribute", name)) => BreakdownAttribute::Response(name_ok(name)?),
            _ if value == "region" => BreakdownAttribute::CustomerRegion,
            _ => BreakdownAttribute::Response(name_ok(value)?),
        };
        Ok(Self::Attribute(attribute))
    }

    pub fn name(&self) -> String {
        match self {
            Self::Dimension(d) => d.as_str().to_string(),
            Self::Attribute(a) => a.name(),
        }
    }
}

/// One group of a breakdown.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BreakdownGroup {
    /// The value ("" for responses without one).
    pub key: String,
    pub n: i64,
    pub value: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    /// This group minus the rest of the selection, on the metric's scale;
    /// null where no test applies (CES, or an empty side).
    pub difference_vs_rest: Option<f64>,
    /// Two-sided p-value of the test against the rest, unadjusted.
    pub p_value: Option<f64>,
    /// The p-value after Holm's step-down adjustment across every group
    /// tested in this breakdown.
    pub p_adjusted: Option<f64>,
    /// Differs significantly from the rest: adjusted p < 0.05, at least
    /// 30 answers on each side, and the group's own interval excludes the
    /// rest's value.
    pub significant: bool,
}

/// A metric broken down by a dimension or attribute, with provenance.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BreakdownReport {
    #[schema(value_type = String, example = "nps")]
    pub metric: Metric,
    pub title: &'static str,
    pub scale: &'static str,
    /// What the groups are: a dimension, `customer.region`, `attribute.x`.
    pub by: String,
    /// `dimension`, `response attribute` or `customer attribute`.
    pub by_kind: &'static str,
    pub overall: Figure,
    pub groups: Vec<BreakdownGroup>,
    /// More values exist than the 200 largest shown.
    pub truncated: bool,
    /// Interval method of each figure.
    pub method: &'static str,
    /// The test of each group against the rest (null for CES).
    pub test: Option<&'static str>,
    /// The multiple-comparison correction applied across the groups.
    pub correction: &'static str,
    pub min_answers_for_significance: i64,
    pub confidence: f64,
    pub filter: BTreeMap<String, Vec<String>>,
    pub period: Period,
    pub restricted_to: Option<String>,
    pub source: String,
}

/// Each group's figure and its Holm-adjusted test against the rest.
fn groups_versus_rest(
    metric: Metric,
    overall: &ResponseSummary,
    groups: &[(String, ResponseSummary)],
) -> (Vec<BreakdownGroup>, Option<&'static str>) {
    let mut method = None;
    let mut tested: Vec<(BreakdownGroup, Option<comparison::VersusRest>)> = groups
        .iter()
        .filter(|(_, s)| metric.answers(s) > 0)
        .map(|(key, s)| {
            let mut rest = *overall;
            rest.merge(&s.negated());
            let versus = comparison::versus_rest(metric, s, &rest);
            if let Some(v) = &versus {
                method = Some(v.method);
            }
            let e = metric.estimate(s);
            let group = BreakdownGroup {
                key: key.clone(),
                n: e.n,
                value: e.value,
                ci_low: e.ci_low,
                ci_high: e.ci_high,
                difference_vs_rest: None,
                p_value: None,
                p_adjusted: None,
                significant: false,
            };
            (group, versus)
        })
        .collect();
    comparison::adjust_for_multiple_groups(tested.iter_mut().filter_map(|(_, v)| v.as_mut()));
    let groups = tested
        .into_iter()
        .map(|(mut g, v)| {
            if let Some(v) = v {
                g.difference_vs_rest = Some(v.difference);
                g.p_value = Some(v.p_value);
                g.p_adjusted = Some(v.p_adjusted);
                g.significant = v.significant;
            }
            g
        })
        .collect();
    (groups, method)
}

/// Computes a breakdown for a selection.
pub async fn breakdown_report(
    store: &dyn Store,
    metric: Metric,
    by: &BreakdownBy,
    selection: &Selection,
) -> Result<BreakdownReport, ApiError> {
    let (answer, groups, truncated, by_kind, source): (CubeAnswer, _, bool, _, String) = match by {
        BreakdownBy::Dimension(d) => {
            let answer = store
                .query_rollups(&selection.query(Some(GroupBy::Dimension(*d))))
                .await?;
            let groups: Vec<(String, ResponseSummary)> = answer
                .groups
                .iter()
                .map(|g| (g.key.clone(), g.summary))
                .collect();
            (
                answer,
                groups,
                false,
                "dimension",
                "daily rollups of raw responses (calendar days in the organisation's time zone), merged in memory".to_string(),
            )
        }
        BreakdownBy::Attribute(attribute) => {
            let answer = store.query_rollups(&selection.query(None)).await?;
            let found = store
                .attribute_summaries(&selection.respondents(), attribute, MAX_BREAKDOWN_GROUPS)
                .await?;
            let kind = match attribute {
                BreakdownAttribute::Response(_) => "response attribute",
                _ => "customer attribute",
            };
            (
                answer,
                found.groups,
                found.truncated,
                kind,
                format!(
                    "raw responses grouped by {} ({}); the overall figure from the daily rollups",
                    attribute.name(),
                    attribute.source()
                ),
            )
        }
    };
    let (groups, test) = groups_versus_rest(metric, &answer.overall, &groups);
    Ok(BreakdownReport {
        metric,
        title: metric.title(),
        scale: metric.scale(),
        by: by.name(),
        by_kind,
        overall: metric.estimate(&answer.overall).into(),
        groups,
        truncated,
        method: metric.method(),
        test,
        correction: "Holm (1979) step-down adjustment across every group tested in this breakdown (family-wise error rate 5%)",
        min_answers_for_significance: MIN_ANSWERS_FOR_SIGNIFICANCE,
        confidence: northstar_core::estimate::CONFIDENCE,
        filter: selection.filter_map(),
        period: Period::of(answer.span(metric), selection),
        restricted_to: selection.restricted_to.clone(),
        source,
    })
}

/// A metric by any dimension or attribute: each group with its 95%
/// interval, its test against the rest of the selection and the
/// Holm-adjusted p-value, flagged when it differs significantly.
#[utoipa::path(
    get,
    path = "/api/v1/breakdown",
    params(super::doc::BreakdownDoc, super::doc::SelectionDoc),
    responses(
        (status = 200, description = "The groups with intervals, tests and provenance", body = BreakdownReport),
        (status = 400, description = "A parameter is wrong; the message names it", body = super::doc::ErrorBody),
        (status = 401, description = "No credentials, or an unknown or revoked token", body = super::doc::ErrorBody),
        (status = 403, description = "The role may not do this", body = super::doc::ErrorBody),
        (status = 500, description = "Internal error; quote the request id", body = super::doc::ErrorBody),
        (status = 503, description = "Busy (too many requests in flight) or past the request deadline", body = super::doc::ErrorBody),
    )
)]
pub async fn get_breakdown(
    State(state): State<AppState>,
    principal: Principal,
    params::QueryPairs(pairs): params::QueryPairs,
) -> Result<Json<BreakdownReport>, ApiError> {
    Ok(Json(breakdown_for(&state, &principal, &pairs).await?))
}

/// The breakdown a request asks for (JSON, CSV and the page share it).
pub async fn breakdown_for(
    state: &AppState,
    principal: &Principal,
    pairs: &[(String, String)],
) -> Result<BreakdownReport, ApiError> {
    params::reject_empty(pairs, &["metric", "by", "from", "to"])?;
    let p = params::parse(pairs, &["metric", "by"], &principal.scope)?;
    let metric = p.metric.ok_or_else(|| {
        ApiError::parameter("metric", "is required; use one of nps, csat, ces, fcr")
    })?;
    let mut by = None;
    for (_, value) in pairs.iter().filter(|(n, _)| n == "by") {
        if by.is_some() {
            return Err(ApiError::parameter("by", "is given twice; give it once"));
        }
        by = Some(BreakdownBy::parse(value)?);
    }
    let by = by.ok_or_else(|| {
        ApiError::parameter(
            "by",
            format!(
                "is required; use a dimension ({}), region, customer.<name> or attribute.<name>",
                Dimension::column_list()
            ),
        )
    })?;
    breakdown_report(&*state.store, metric, &by, &p.selection).await
}

/// The same breakdown as CSV (the page's table): one row per group with
/// its test against the rest and the Holm-adjusted p-value, each row with
/// its provenance.
#[utoipa::path(
    get,
    path = "/api/v1/breakdown.csv",
    params(super::doc::BreakdownDoc, super::doc::SelectionDoc),
    responses(
        (status = 200, description = "CSV with provenance columns", body = String, content_type = "text/csv"),
        (status = 400, description = "A parameter is wrong; the message names it", body = super::doc::ErrorBody),
        (status = 401, description = "No credentials, or an unknown or revoked token", body = super::doc::ErrorBody),
        (status = 403, description = "The role may not do this", body = super::doc::ErrorBody),
        (status = 500, description = "Internal error; quote the request id", body = super::doc::ErrorBody),
        (status = 503, description = "Busy (too many requests in flight) or past the request deadline", body = super::doc::ErrorBody),
    )
)]
pub async fn get_breakdown_csv(
    State(state): State<AppState>,
    principal: Principal,
    params::QueryPairs(pairs): params::QueryPairs,
) -> Result<axum::response::Response, ApiError> {
    use super::csv_export::{Table, num, text};
    let r = breakdown_for(&state, &principal, &pairs).await?;
    let filter = crate::report::describe_filter(&r.filter);
    let mut w = Table::new(&[
        "metric",
        "by",
        "key",
        "n",
        "value",
        "ci_low",
        "ci_high",
        "difference_vs_rest",
        "p_value",
        "p_adjusted_holm",
        "significant",
        "confidence",
        "method",
        "test",
        "correction",
        "filter",
        "period_from",
        "period_to",
        "restricted_to",
    ])?;
    let overall = std::iter::once((
        "(all)",
        r.overall.n,
        r.overall.value,
        r.overall.ci_low,
        r.overall.ci_high,
        None,
        None,
        None,
        None,
    ));
    let groups = r.groups.iter().map(|g| {
        (
            g.key.as_str(),
            g.n,
            g.value,
            g.ci_low,
            g.ci_high,
            g.difference_vs_rest,
            g.p_value,
            g.p_adjusted,
            g.p_adjusted.map(|_| g.significant),
        )
    });
    for (key, n, value, lo, hi, diff, p, p_adj, significant) in overall.chain(groups) {
        w.row(&[
            r.metric.as_str().into(),
            text(&r.by),
            text(key),
            n.to_string().into(),
            num(value),
            num(lo),
            num(hi),
            num(diff),
            num(p),
            num(p_adj),
            significant
                .map_or("", |s| if s { "yes" } else { "no" })
                .into(),
            r.confidence.to_string().into(),
            r.method.into(),
            r.test.unwrap_or("").into(),
            r.correction.into(),
            text(&filter),
            r.period.from.clone().unwrap_or_default().into(),
            r.period.to.clone().unwrap_or_default().into(),
            text(r.restricted_to.as_deref().unwrap_or("")),
        ])?;
    }
    w.finish(
        &*state.store,
        &principal,
        "breakdown.csv",
        &format!("{} by {}, filter {filter}", r.metric.as_str(), r.by),
        &format!("northstar-breakdown-{}.csv", r.metric.as_str()),
    )
    .await
}
