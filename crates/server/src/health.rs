//! `/healthz` says the process is up; `/readyz` that the database answers
//! and every migration is applied.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{MethodRouter, get};
use serde_json::{Value, json};

use crate::AppState;

pub fn healthz() -> MethodRouter<AppState> {
    get(|| async { Json(json!({"status": "ok"})) })
}

pub fn readyz() -> MethodRouter<AppState> {
    get(ready)
}

async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    match state.store.check_ready().await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ready"}))),
        Err(e) => {
            // Details (paths, SQL errors) stay in the log.
            tracing::warn!(error = %e, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({
                    "status": "not ready",
                    "reason": "the database is not reachable or its migrations are not all applied; the server log has the details (run `northstar migrate` if migrations are missing)"
                })),
            )
        }
    }
}
