//! The JSON API under `/api/v1`, described by an OpenAPI document.

pub mod batch;
mod doc;
pub mod metrics;
pub mod responses;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::{Json, Router};
use utoipa::OpenApi;

use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Northstar API",
        description = "Customer-experience metrics with their provenance."
    ),
    paths(
        metrics::get_metrics,
        metrics::get_metrics_csv,
        metrics::get_representativeness,
        responses::post_responses
    ),
    components(schemas(
        doc::ErrorBody,
        doc::ErrorDetail,
        doc::ResponseItem,
        doc::ResponseBatch,
        crate::report::MetricReport,
        crate::report::Figure,
        crate::report::GroupFigure,
        crate::report::VersusRest,
        crate::report::Period,
        crate::report::Representativeness,
        responses::BatchReport,
        responses::ItemError,
    ))
)]
pub struct ApiDoc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/metrics", get(metrics::get_metrics))
        .route("/api/v1/metrics.csv", get(metrics::get_metrics_csv))
        .route(
            "/api/v1/representativeness",
            get(metrics::get_representativeness),
        )
        .route(
            "/api/v1/responses",
            post(responses::post_responses).layer(DefaultBodyLimit::max(responses::MAX_BODY_BYTES)),
        )
        .route(
            "/api/v1/openapi.json",
            get(|| async { Json(ApiDoc::openapi()) }),
        )
}
