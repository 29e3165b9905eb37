//! The weekly digest's unsubscribe link: `GET /unsubscribe/{token}` asks
//! for a confirmation (mail scanners open links; a GET changes nothing),
//! `POST` unsubscribes — from the page's button or from a mail program's
//! RFC 8058 one-click request. The token is the secret: no sign-in, no
//! CSRF token needed (a signed-in browser's form carries its own anyway).

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use northstar_store::departments::DigestSubscription;

use crate::AppState;
use crate::auth::{Principal, now_unix};

#[derive(Template)]
#[template(path = "unsubscribe.html")]
struct UnsubscribePage {
    nav: Option<super::Nav>,
    heading: String,
    message: String,
    confirm: bool,
    token: String,
    csrf: String,
}

/// A token as the store makes them: 64 lowercase hex digits.
fn well_formed(token: &str) -> bool {
    token.len() == 64
        && token
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn page(status: StatusCode, page: UnsubscribePage) -> Response {
    match page.render() {
        Ok(html) => (
            status,
            [
                (header::CACHE_CONTROL, "no-store"),
                // The token is in the address: never pass it on.
                (header::REFERRER_POLICY, "no-referrer"),
                (header::HeaderName::from_static("x-robots-tag"), "noindex"),
            ],
            Html(html),
        )
            .into_response(),
        Err(e) => super::render(Err(e.into())),
    }
}

fn unknown() -> Response {
    page(
        StatusCode::NOT_FOUND,
        UnsubscribePage {
            nav: None,
            heading: "Unknown unsubscribe link".into(),
            message: "This link is not known here: it may be cut short or mistyped. Copy the whole link from the digest's last line, or ask your CX team to take you off the list. Nothing was changed.".into(),
            confirm: false,
            token: String::new(),
            csrf: String::new(),
        },
    )
}

fn done(s: &DigestSubscription, already: bool) -> Response {
    let message = if already {
        format!(
            "{} was already unsubscribed from the weekly digest of {}; nothing changed.",
            s.email, s.department
        )
    } else {
        format!(
            "{} is unsubscribed from the weekly digest of {}. No more digests will be sent to it.",
            s.email, s.department
        )
    };
    page(
        StatusCode::OK,
        UnsubscribePage {
            nav: None,
            heading: "Unsubscribed".into(),
            message,
            confirm: false,
            token: String::new(),
            csrf: String::new(),
        },
    )
}

/// The confirmation page; changes nothing.
pub async fn confirm(
    State(state): State<AppState>,
    principal: Option<Principal>,
    Path(token): Path<String>,
) -> Response {
    if !well_formed(&token) {
        return unknown();
    }
    match state.store.backend().digest_subscription(&token).await {
        Ok(None) => unknown(),
        Ok(Some(s)) if s.unsubscribed_unix.is_some() => done(&s, true),
        Ok(Some(s)) => page(
            StatusCode::OK,
            UnsubscribePage {
                nav: None,
                heading: "Unsubscribe from the weekly digest?".into(),
                message: format!(
                    "{} receives the weekly digest of {}. Press the button to stop it.",
                    s.email, s.department
                ),
                confirm: true,
                token,
                csrf: principal
                    .as_ref()
                    .map(|p| p.csrf_token().to_string())
                    .unwrap_or_default(),
            },
        ),
        Err(e) => super::render(Err(e.into())),
    }
}

/// Unsubscribes (idempotent).
pub async fn unsubscribe(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    if !well_formed(&token) {
        return unknown();
    }
    let backend = state.store.backend();
    let before = match backend.digest_subscription(&token).await {
        Ok(Some(s)) => s,
        Ok(None) => return unknown(),
        Err(e) => return super::render(Err(e.into())),
    };
    match backend.unsubscribe_digest(&token, now_unix()).await {
        Ok(Some(s)) => {
            if before.unsubscribed_unix.is_none() {
                tracing::info!(department = %s.department, "a digest recipient unsubscribed");
            }
            done(&s, before.unsubscribed_unix.is_some())
        }
        Ok(None) => unknown(),
        Err(e) => super::render(Err(e.into())),
    }
}
