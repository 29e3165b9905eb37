//! Northstar's HTTP server: the JSON API under `/api/v1` and the HTML app.
//! Handlers see only `Arc<dyn Store>`; every figure is built by [`report`].

pub mod api;
mod chart;
pub mod error;
mod health;
pub mod params;
pub mod report;
mod views;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderName, Request};
use northstar_store::Store;
use tower_http::LatencyUnit;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole application, without a socket (tests call it with `oneshot`).
pub fn app(store: Arc<dyn Store>) -> Router {
    let trace = TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
        let id = request
            .headers()
            .get(&REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        tracing::info_span!("request", method = %request.method(), uri = %request.uri(), request_id = %id)
    })
    // One line per request at INFO: status and latency, inside the span above.
    .on_response(DefaultOnResponse::new().level(Level::INFO).latency_unit(LatencyUnit::Micros));
    Router::new()
        .merge(health::router())
        .merge(api::router())
        .merge(views::router())
        .with_state(AppState { store })
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(trace)
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// Serves the app on a bound listener until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    store: Arc<dyn Store>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(store))
        .with_graceful_shutdown(shutdown)
        .await
}
