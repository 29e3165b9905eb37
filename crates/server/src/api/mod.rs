//! The JSON API under `/api/v1`, described by an OpenAPI document.

pub mod batch;
pub mod breakdown;
pub mod business_cases;
pub mod csv_export;
pub mod departments;
mod doc;
pub mod drivers;
pub mod executive;
pub mod expectation_gap;
pub mod metrics;
pub mod north_star;
pub mod pilots;
pub mod power;
pub mod responses;
pub mod revenue;
pub mod surveys;
pub mod trends;
pub mod verbatims;
pub mod widget;

use axum::Json;
use axum::routing::{MethodRouter, get};
use utoipa::OpenApi;

use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    modifiers(&SecuritySchemes),
    security(("bearer" = []), ("session" = [])),
    info(
        title = "Northstar API",
        description = "Customer-experience metrics with their provenance."
    ),
    paths(
        metrics::get_metrics,
        metrics::get_metrics_csv,
        metrics::get_representativeness,
        trends::get_trends,
        trends::get_trends_csv,
        breakdown::get_breakdown,
        breakdown::get_breakdown_csv,
        drivers::get_drivers,
        drivers::get_drivers_csv,
        revenue::get_revenue_at_risk,
        expectation_gap::get_expectation_gap,
        expectation_gap::get_expectation_gap_csv,
        responses::post_responses,
        verbatims::get_response,
        verbatims::list_responses,
        verbatims::responses_csv
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
        trends::TrendReport,
        breakdown::BreakdownReport,
        drivers::DriverReport,
        revenue::RevenueReport,
        revenue::AssumedChurn,
        expectation_gap::GapReport,
        expectation_gap::GapPoint,
        breakdown::BreakdownGroup,
        trends::TrendPeriod,
        trends::PeriodChangeView,
        responses::BatchReport,
        responses::ItemError,
        verbatims::ResponseView,
        verbatims::ResponsePage,
    ))
)]
pub struct ApiDoc;

/// Declares how callers prove who they are: an API token as
/// `Authorization: Bearer`, or the session cookie of a signed-in browser
/// (unsafe methods then also need the `X-CSRF-Token` header).
struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::auth::SESSION_COOKIE,
            ))),
        );
    }
}

/// The OpenAPI document.
pub fn openapi() -> MethodRouter<AppState> {
    get(|| async { Json(ApiDoc::openapi()) })
}
