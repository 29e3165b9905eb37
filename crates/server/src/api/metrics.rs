use axum::Json;
use axum::extract::{Query, State};

use crate::error::ApiError;
use crate::report::{self, MetricReport};
use crate::{AppState, params};

/// A metric with n, 95% interval, method, filter and period, overall and by
/// group; computed from rollups, never by re-reading raw rows.
#[utoipa::path(
    get,
    path = "/api/v1/metrics",
    params(
        ("metric" = String, Query, description = "nps, csat, ces or fcr"),
        ("group_by" = Option<String>, Query, description = "survey, touchpoint, department, segment, channel or month"),
        ("from" = Option<String>, Query, description = "first UTC day, YYYY-MM-DD (inclusive)"),
        ("to" = Option<String>, Query, description = "last UTC day, YYYY-MM-DD (inclusive)"),
        ("segment" = Option<String>, Query, description = "filter; any dimension may be given, repeated for any-of"),
    ),
    responses(
        (status = 200, description = "The metric with its provenance", body = MetricReport),
        (status = 400, description = "A parameter is wrong; the message names it"),
    )
)]
pub async fn get_metrics(
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Json<MetricReport>, ApiError> {
    let p = params::parse(&pairs, &["metric", "group_by"])?;
    let metric = p.metric.ok_or_else(|| {
        ApiError::parameter("metric", "is required; use one of nps, csat, ces, fcr")
    })?;
    Ok(Json(
        report::metric_report(&*state.store, metric, &p.selection, p.group_by).await?,
    ))
}
