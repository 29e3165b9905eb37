//! Bounds on the work clients can put on the server, and one error shape for
//! everything that goes wrong inside it: requests in flight are capped (the
//! excess is refused at once with 503, not queued without bound), every
//! request has a deadline, and any 5xx — an internal error or a panic — is
//! answered with a generic message and the request id to quote, while the
//! details go to the log.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::sync::Semaphore;

use crate::REQUEST_ID;

/// How much the server takes on at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// Requests handled at the same time; more are refused with 503.
    /// Health checks do not count: a full server still says it is alive.
    pub max_in_flight: usize,
    /// Writes (POST and other unsafe methods) at the same time, taken before
    /// the body is read: each may hold a 16 MiB body and its decoded items,
    /// so this bounds their memory.
    pub max_writes_in_flight: usize,
    /// Longest a request may take before it is answered with 503.
    pub request_timeout: Duration,
    /// Requests to the public survey endpoints at the same time, counted
    /// apart from the two limits above (see [`crate::public_limits`]).
    pub max_public_in_flight: usize,
    /// Largest body of a public survey request (413 beyond).
    pub max_public_body_bytes: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_in_flight: 256,
            max_writes_in_flight: 4,
            request_timeout: Duration::from_secs(30),
            max_public_in_flight: 512,
            max_public_body_bytes: 64 << 10,
        }
    }
}

/// The permits behind [`ServerLimits`].
#[derive(Clone)]
pub struct Permits {
    requests: Arc<Semaphore>,
    writes: Arc<Semaphore>,
    public: Arc<Semaphore>,
    limits: ServerLimits,
}

impl Permits {
    pub fn new(limits: ServerLimits) -> Self {
        Self {
            requests: Arc::new(Semaphore::new(limits.max_in_flight)),
            writes: Arc::new(Semaphore::new(limits.max_writes_in_flight.max(1))),
            public: Arc::new(Semaphore::new(limits.max_public_in_flight.max(1))),
            limits,
        }
    }
}

pub(crate) fn busy(message: String) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [("retry-after", "1")],
        Json(json!({"error": {"message": message}})),
    )
        .into_response()
}

/// Marks a response whose body must be replaced by the generic 5xx shape.
#[derive(Debug, Clone, Copy)]
pub struct InternalError;

fn error_body(status: StatusCode, message: String) -> Response {
    let mut response = (status, Json(json!({"error": {"message": message}}))).into_response();
    response.extensions_mut().insert(InternalError);
    response
}

/// The in-flight caps and the deadline.
pub async fn bounded(State(permits): State<Permits>, request: Request, next: Next) -> Response {
    let limits = permits.limits;
    if crate::public_limits::is_public_path(request.uri().path()) {
        return crate::public_limits::bounded_public(&permits.public, limits, request, next).await;
    }
    let health = matches!(request.uri().path(), "/healthz" | "/readyz");
    let _request = if health {
        None
    } else {
        let Ok(permit) = permits.requests.clone().try_acquire_owned() else {
            tracing::warn!(limit = limits.max_in_flight, "request refused: server busy");
            return busy(format!(
                "the server is busy: more than {} requests in flight; retry in a moment",
                limits.max_in_flight
            ));
        };
        Some(permit)
    };
    let _write = if request.method().is_safe() {
        None
    } else {
        let Ok(permit) = permits.writes.clone().try_acquire_owned() else {
            tracing::warn!(
                limit = limits.max_writes_in_flight,
                "write refused: too many writes in flight"
            );
            return busy(format!(
                "the server is busy: more than {} writes in flight; retry in a moment",
                limits.max_writes_in_flight
            ));
        };
        Some(permit)
    };
    match tokio::time::timeout(limits.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => timed_out(limits),
    }
}

/// The 503 of a request stopped at its deadline.
pub(crate) fn timed_out(limits: ServerLimits) -> Response {
    tracing::error!(
        timeout_s = limits.request_timeout.as_secs_f64(),
        "request timed out"
    );
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"error": {"message": format!(
            "the request took longer than {} s and was stopped; narrow it or retry",
            limits.request_timeout.as_secs_f64()
        )}})),
    )
        .into_response()
}

/// A panic in a handler becomes a 500 in the shared shape.
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    tracing::error!(panic = %what, "handler panicked");
    error_body(StatusCode::INTERNAL_SERVER_ERROR, String::new())
}

/// Gives every marked 5xx the generic message and the request id.
pub async fn internal_errors(headers: HeaderMap, request: Request, next: Next) -> Response {
    let id = headers
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_string();
    let response = next.run(request).await;
    if !(response.status().is_server_error()
        && response.extensions().get::<InternalError>().is_some())
    {
        return response;
    }
    let status = response.status();
    let wants_html = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    let message = format!("internal error; the server log has the details (request id {id})");
    if wants_html {
        return (
            status,
            axum::response::Html(format!(
                "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Northstar: error</title>\
                 <link rel=\"stylesheet\" href=\"/static/northstar.css\"></head><body><main>\
                 <h1>Something went wrong on the server</h1><p class=\"error\">{}</p>\
                 <p><a href=\"/\">Back to the overview</a></p></main></body></html>",
                message.replace('&', "&amp;").replace('<', "&lt;")
            )),
        )
            .into_response();
    }
    (
        status,
        Json(json!({"error": {"message": message, "request_id": id}})),
    )
        .into_response()
}
