//! The HTML app: one module per page, askama templates, no JavaScript needed.

mod overview;

use axum::Router;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::AppState;
use crate::error::ApiError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(overview::page))
        .route("/static/northstar.css", get(stylesheet))
}

async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../../static/northstar.css"),
    )
}

/// Renders a page, or an error page that says what went wrong.
fn render(page: Result<String, ApiError>) -> Response {
    match page {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            let status = e.status();
            if status == axum::http::StatusCode::INTERNAL_SERVER_ERROR {
                tracing::error!(error = %e, details = ?e, "page failed");
                // The outer layer answers with the request id.
                let mut response = status.into_response();
                response
                    .extensions_mut()
                    .insert(crate::limits::InternalError);
                return response;
            }
            let message = e
                .public_message()
                .replace('&', "&amp;")
                .replace('<', "&lt;");
            (
                status,
                Html(format!(
                    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Northstar: error</title>\
                     <link rel=\"stylesheet\" href=\"/static/northstar.css\"></head><body><main>\
                     <h1>Something was wrong with this request</h1><p class=\"error\">{message}</p>\
                     <p><a href=\"/\">Back to the overview</a></p></main></body></html>"
                )),
            )
                .into_response()
        }
    }
}
