//! `GET /api/v1/drivers`: which driver ratings move NPS or CSAT, by
//! Johnson's relative weights with bootstrap intervals
//! (`northstar_core::drivers`).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use northstar_core::Metric;
use northstar_core::drivers::{self, BootstrapOptions, DriverWeight, MomentSummary};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::report::Period;
use crate::{AppState, params};

/// The key-driver analysis with its provenance.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DriverReport {
    /// `nps` (the 0–10 rating as a number) or `csat` (the 1–5 rating).
    #[schema(value_type = String, example = "nps")]
    pub metric: Metric,
    /// R² of the outcome on the drivers (the raw weights sum to it).
    pub r2: Option<f64>,
    pub r2_ci_low: Option<f64>,
    pub r2_ci_high: Option<f64>,
    /// Complete rows analysed.
    pub n: i64,
    /// By raw weight, largest first; each with its 95% interval, mean
    /// rating and quadrant (`fix_first`, `keep_up`, `monitor`, `maintain`).
    #[schema(value_type = Vec<Object>)]
    pub drivers: Vec<DriverWeight>,
    /// The drivers analysed: the set (of two or more drivers where one exists) with the most complete rows, counting responses that rated more drivers.
    pub driver_set: Vec<String>,
    /// Drivers every complete row rated alike (left out).
    pub constant_drivers: Vec<String>,
    /// Responses with the outcome that rated other driver sets (or none).
    pub rows_left_out: u64,
    /// Why there is no analysis, when there is none.
    pub note: Option<String>,
    pub method: &'static str,
    pub bootstrap_replicates: usize,
    pub bootstrap_seed: u64,
    pub filter: BTreeMap<String, Vec<String>>,
    pub requested_from: Option<String>,
    pub requested_to: Option<String>,
    /// The first and last day (organisation's time zone) of the responses analysed (those that
    /// rated every driver of the set); null without any.
    pub period: Period,
    pub restricted_to: Option<String>,
    pub source: &'static str,
}

/// Which ratings drive NPS or CSAT: Johnson's relative weights, R², raw
/// weights summing to R², rescaled percentages and a 95% interval for each
/// weight (normal-theory parametric bootstrap from the moments, fixed seed).
#[utoipa::path(
    get,
    path = "/api/v1/drivers",
    params(super::doc::DriversDoc, super::doc::SelectionDoc),
    responses(
        (status = 200, description = "Relative weights with intervals and provenance", body = DriverReport),
        (status = 400, description = "A parameter is wrong; the message names it", body = super::doc::ErrorBody),
        (status = 401, description = "No credentials, or an unknown or revoked token", body = super::doc::ErrorBody),
        (status = 403, description = "The role may not do this", body = super::doc::ErrorBody),
        (status = 500, description = "Internal error; quote the request id", body = super::doc::ErrorBody),
        (status = 503, description = "Busy (too many requests in flight) or past the request deadline", body = super::doc::ErrorBody),
    )
)]
pub async fn get_drivers(
    State(state): State<AppState>,
    principal: Principal,
    params::QueryPairs(pairs): params::QueryPairs,
) -> Result<Json<DriverReport>, ApiError> {
    Ok(Json(drivers_for(&state, &principal, &pairs).await?))
}

/// The analysis a request asks for (JSON, CSV and the page share it).
pub async fn drivers_for(
    state: &AppState,
    principal: &Principal,
    pairs: &[(String, String)],
) -> Result<DriverReport, ApiError> {
    params::reject_empty(pairs, &["metric", "from", "to"])?;
    let p = params::parse(pairs, &["metric"], &principal.scope)?;
    let metric = match p.metric {
        None => Metric::Nps,
        Some(m @ (Metric::Nps | Metric::Csat)) => m,
        Some(other) => {
            return Err(ApiError::parameter(
                "metric",
                format!("key drivers explain nps or csat, not {}", other.as_str()),
            ));
        }
    };
    let moments = state
        .store
        .driver_moments(&p.selection.respondents(), metric)
        .await?;
    let total: u64 = moments
        .by_set
        .iter()
        .map(|(_, m)| m.n().max(0) as u64)
        .sum::<u64>()
        + moments.without_drivers
        + moments.left_out;
    // The set with the most complete rows: its own and those of every set
    // that contains it (a response that rated more drivers is complete for
    // fewer too). Sets of two or more drivers come first: one driver alone
    // explains all it can and ranks nothing.
    let complete_rows = |set: &[String]| -> i64 {
        moments
            .by_set
            .iter()
            .filter(|(names, _)| set.iter().all(|d| names.contains(d)))
            .map(|(_, m)| m.n().max(0))
            .sum()
    };
    let chosen = moments
        .by_set
        .iter()
        .map(|(names, _)| (names, complete_rows(names)))
        .max_by(|a, b| {
            (a.0.len() >= 2)
                .cmp(&(b.0.len() >= 2))
                .then(a.1.cmp(&b.1))
                .then_with(|| a.0.len().cmp(&b.0.len()))
                .then_with(|| b.0.cmp(a.0))
        })
        .map(|(names, _)| names.clone());
    let options = BootstrapOptions::default();
    let mut report = DriverReport {
        metric,
        r2: None,
        r2_ci_low: None,
        r2_ci_high: None,
        n: 0,
        drivers: Vec::new(),
        driver_set: chosen.clone().unwrap_or_default(),
        constant_drivers: Vec::new(),
        rows_left_out: total,
        note: None,
        method: drivers::METHOD,
        bootstrap_replicates: options.replicates,
        bootstrap_seed: options.seed,
        filter: p.selection.filter_map(),
        requested_from: p.selection.from.map(northstar_core::calendar::day_label),
        requested_to: p.selection.to.map(northstar_core::calendar::day_label),
        period: Period::of(None, &p.selection),
        restricted_to: p.selection.restricted_to.clone(),
        source: "driver_<name> ratings (1–5) of the selected responses with the outcome answered, complete rows only",
    };
    let Some(set) = chosen else {
        report.note = Some("no response in the selection rated any driver".into());
        return Ok(report);
    };
    let mut merged = MomentSummary::new(set.len() + 1).map_err(bad)?;
    let mut span: Option<(northstar_core::calendar::Day, northstar_core::calendar::Day)> = None;
    for (i, (names, m)) in moments.by_set.iter().enumerate() {
        // Positions of the chosen drivers within this set (outcome first).
        let positions: Option<Vec<usize>> = std::iter::once(Some(0))
            .chain(
                set.iter()
                    .map(|d| names.iter().position(|n| n == d).map(|i| i + 1)),
            )
            .collect();
        if let Some(positions) = positions {
            merged
                .try_merge(&m.project(&positions).map_err(bad)?)
                .map_err(bad)?;
            if let Some(&(first, last)) = moments.set_days.get(i) {
                span = Some(span.map_or((first, last), |(a, b)| (a.min(first), b.max(last))));
            }
        }
    }
    report.period = Period::of(span, &p.selection);
    report.n = merged.n();
    report.rows_left_out = total.saturating_sub(merged.n().max(0) as u64);
    match drivers::key_drivers(&merged, &set, &options) {
        Ok(k) => {
            report.r2 = Some(k.r2);
            report.r2_ci_low = Some(k.r2_ci_low);
            report.r2_ci_high = Some(k.r2_ci_high);
            report.drivers = k.drivers;
            report.constant_drivers = k.constant_drivers;
            report.bootstrap_replicates = k.bootstrap_replicates;
        }
        Err(e) => report.note = Some(format!("no analysis: {e}")),
    }
    Ok(report)
}

/// The same analysis as CSV (the page's table): one row per driver with
/// its weight, interval, mean and quadrant, each row with its provenance.
#[utoipa::path(
    get,
    path = "/api/v1/drivers.csv",
    params(super::doc::DriversDoc, super::doc::SelectionDoc),
    responses(
        (status = 200, description = "CSV with provenance columns", body = String, content_type = "text/csv"),
        (status = 400, description = "A parameter is wrong; the message names it", body = super::doc::ErrorBody),
        (status = 401, description = "No credentials, or an unknown or revoked token", body = super::doc::ErrorBody),
        (status = 403, description = "The role may not do this", body = super::doc::ErrorBody),
        (status = 500, description = "Internal error; quote the request id", body = super::doc::ErrorBody),
        (status = 503, description = "Busy (too many requests in flight) or past the request deadline", body = super::doc::ErrorBody),
    )
)]
pub async fn get_drivers_csv(
    State(state): State<AppState>,
    principal: Principal,
    params::QueryPairs(pairs): params::QueryPairs,
) -> Result<axum::response::Response, ApiError> {
    use super::csv_export::{Table, num, quadrant_name, text};
    let r = drivers_for(&state, &principal, &pairs).await?;
    let filter = crate::report::describe_filter(&r.filter);
    let mut w = Table::new(&[
        "metric",
        "driver",
        "raw_weight",
        "rescaled_percent",
        "ci_low",
        "ci_high",
        "mean",
        "quadrant",
        "r2",
        "n",
        "method",
        "bootstrap_replicates",
        "bootstrap_seed",
        "filter",
        "period_from",
        "period_to",
        "restricted_to",
    ])?;
    for d in &r.drivers {
        w.row(&[
            r.metric.as_str().into(),
            text(&d.name),
            d.raw_weight.to_string().into(),
            num(d.rescaled_pct),
            d.ci_low.to_string().into(),
            d.ci_high.to_string().into(),
            d.mean.to_string().into(),
            quadrant_name(d.quadrant).into(),
            num(r.r2),
            r.n.to_string().into(),
            r.method.into(),
            r.bootstrap_replicates.to_string().into(),
            r.bootstrap_seed.to_string().into(),
            text(&filter),
            r.period.from.clone().unwrap_or_default().into(),
            r.period.to.clone().unwrap_or_default().into(),
            text(r.restricted_to.as_deref().unwrap_or("")),
        ])?;
    }
    w.finish(
        &*state.store,
        &principal,
        "drivers.csv",
        &format!("drivers of {}, filter {filter}", r.metric.as_str()),
        &format!("northstar-drivers-{}.csv", r.metric.as_str()),
    )
    .await
}

fn bad(e: drivers::DriverError) -> ApiError {
    ApiError::BadRequest(format!("the driver ratings could not be summarised: {e}"))
}
