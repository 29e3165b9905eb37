//! The server's error type: client mistakes name the parameter and how to fix
//! it; internal errors are logged and answered with a generic message.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use northstar_store::StoreError;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{parameter}: {message}")]
    BadParameter { parameter: String, message: String },
    #[error("{0}")]
    BadRequest(String),
    #[error("the request body could not be read: {0}")]
    BadBody(String),
    /// The body or the batch is over its limit (named in the message).
    #[error("{0}")]
    TooLarge(String),
    /// No credentials, or credentials that open nothing (401).
    #[error("{0}")]
    Unauthenticated(String),
    /// The principal's role may not do this (403).
    #[error("{0}")]
    Forbidden(String),
    /// Nothing here, or nothing this principal may see (404: another
    /// department's record looks exactly like a missing one).
    #[error("{0}")]
    NotFound(String),
    /// Too many attempts (429).
    #[error("{0}")]
    TooManyRequests(String),
    #[error("database unavailable")]
    Store(#[from] StoreError),
    #[error("page rendering failed")]
    Render(#[from] askama::Error),
}

impl ApiError {
    pub fn parameter(parameter: &str, message: impl Into<String>) -> Self {
        ApiError::BadParameter {
            parameter: parameter.to_string(),
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadParameter { .. } | ApiError::BadRequest(_) | ApiError::BadBody(_) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            // A client-facing limit of the store (e.g. distinct values).
            ApiError::Store(StoreError::Limit { .. }) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Store(StoreError::Busy(_)) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Store(StoreError::Refused(_)) => StatusCode::CONFLICT,
            ApiError::Store(StoreError::NotFound(_)) => StatusCode::NOT_FOUND,
            ApiError::Store(_) | ApiError::Render(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The message a client sees; internals stay in the log.
    pub fn public_message(&self) -> String {
        match self {
            ApiError::Store(StoreError::Limit { field, message }) => format!("{field}: {message}"),
            ApiError::Store(StoreError::Busy(message)) => format!("the server is busy: {message}"),
            ApiError::Store(StoreError::Refused(message))
            | ApiError::Store(StoreError::NotFound(message)) => message.clone(),
            ApiError::Store(_) | ApiError::Render(_) => {
                "internal error; the server log has the details".to_string()
            }
            other => other.to_string(),
        }
    }
}

#[derive(Serialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize)]
struct ErrorDetail {
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameter: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, details = ?self, "request failed");
        }
        let parameter = match &self {
            ApiError::BadParameter { parameter, .. } => Some(parameter.clone()),
            ApiError::Store(StoreError::Limit { field, .. }) => Some(field.clone()),
            _ => None,
        };
        let mut response = (
            status,
            Json(ErrorBody {
                error: ErrorDetail {
                    message: self.public_message(),
                    parameter,
                },
            }),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"northstar\""),
            );
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            // The outer layer adds the request id and keeps the message generic.
            response
                .extensions_mut()
                .insert(crate::limits::InternalError);
        }
        response
    }
}
