//! Sign-in and sign-out. One message for every failed sign-in (wrong
//! password, unknown or disabled account, throttled), the same work done
//! whether the account exists or not, a fresh session id at every sign-in
//! (no session fixation), failures counted per account and per address.

use std::sync::OnceLock;

use askama::Template;
use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use northstar_core::account::{SIGN_IN_THROTTLE, normalize_email};
use northstar_store::accounts;
use serde::Deserialize;

use super::Nav;
use crate::AppState;
use crate::auth::{self, Principal, Via, audit, now_unix};
use crate::error::ApiError;

/// The one message every failed sign-in gets (OWASP Authentication Cheat
/// Sheet: no hint whether the account exists).
const FAILED: &str = "The e-mail or password is wrong, or the account is disabled.";

/// Password checks run at most this many at a time: argon2 is slow on
/// purpose, and a flood of sign-ins must not take every core.
static HASHING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    nav: Option<Nav>,
    message: String,
    email: String,
    next: String,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

/// Only a path on this site: `/…` but not `//host` or `/\host`.
fn local_path(next: &str) -> String {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && next.len() <= 2_000
        && !next.chars().any(|c| c.is_control());
    if ok {
        next.to_string()
    } else {
        "/".to_string()
    }
}

/// Where a signed-in account goes: where it was headed, else a department
/// lead's or ambassador's department page, else the overview.
fn landing(next: &str, user: &northstar_store::accounts::User) -> String {
    let path = local_path(next);
    match (&user.department, path.as_str()) {
        (Some(d), "/") if user.role.is_department_scoped() => {
            format!("/departments/{}", super::encode(d))
        }
        _ => path,
    }
}

fn sign_in_page(status: StatusCode, message: &str, email: &str, next: &str) -> Response {
    let page = SignInPage {
        nav: None,
        message: message.to_string(),
        email: email.chars().take(254).collect(),
        next: local_path(next),
    };
    match page.render() {
        Ok(html) => (status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response(),
        Err(e) => super::render(Err(e.into())),
    }
}

pub async fn page(principal: Option<Principal>, Query(q): Query<NextQuery>) -> Response {
    let next = q.next.unwrap_or_default();
    if principal.is_some() {
        return Redirect::to(&local_path(&next)).into_response();
    }
    sign_in_page(StatusCode::OK, "", "", &next)
}

/// A hash to check passwords against when the account does not exist, so
/// that an unknown e-mail costs as much time as a known one.
fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        accounts::hash_password("not a real password, only for timing").unwrap_or_default()
    })
}

async fn password_matches(password: String, hash: Option<String>) -> Result<bool, ApiError> {
    let _permit = HASHING
        .acquire()
        .await
        .map_err(|_| ApiError::BadRequest("the server is shutting down".into()))?;
    tokio::task::spawn_blocking(move || {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| dummy_hash().to_string());
        accounts::verify_password(&password, &hash) && known
    })
    .await
    .map_err(|e| ApiError::BadRequest(format!("password check failed: {e}")))
}

pub async fn submit(
    State(state): State<AppState>,
    principal: Option<Principal>,
    request_headers: HeaderMap,
    extensions: axum::http::Extensions,
    form: Result<Form<SignInForm>, FormRejection>,
) -> Response {
    let form = match form {
        Ok(Form(form)) => form,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return sign_in_page(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!(
                    "The form is larger than {} KiB; an e-mail and a password are far less.",
                    crate::auth::MAX_FORM_BYTES >> 10
                ),
                "",
                "/",
            );
        }
        Err(_) => {
            return sign_in_page(
                StatusCode::BAD_REQUEST,
                "The form could not be read; fill in e-mail and password and send it again.",
                "",
                "/",
            );
        }
    };
    let store = &*state.store;
    let backend = store.backend();
    let now = now_unix();
    let address = auth::client_address(&extensions, &request_headers, &state.trusted_proxies);
    let typed: String = form.email.trim().chars().take(254).collect();
    // Only a well-formed address is stored (throttle key, audit target):
    // anything else typed there, a password by mistake or a megabyte, is
    // counted under one key and never written down.
    let email = normalize_email(&typed).ok();
    let shown = email
        .clone()
        .unwrap_or_else(|| "(not an e-mail address)".to_string());
    let account_key = accounts::sign_in_account_key(&shown);
    let address_key = format!("address:{address}");
    let since = now - SIGN_IN_THROTTLE.window_seconds;
    // Refused attempts are not counted (they would renew a lockout for
    // ever). An attempt that may go ahead counts against the account
    // before the password is checked, so parallel guesses cannot all read
    // a count under the limit; a success clears it. The address counts
    // failures only (an office shares one address, and its successful
    // sign-ins must not lock it).
    let refused = || {
        // The failures that led here are audited; refusals are not (a
        // flood of them must not fill the log).
        let message = format!("{}.", capitalised(&SIGN_IN_THROTTLE.message()));
        sign_in_page(StatusCode::TOO_MANY_REQUESTS, &message, &typed, &form.next)
    };
    let counts = async {
        Ok::<_, northstar_store::StoreError>((
            backend.sign_in_failures(&account_key, since).await?,
            backend.sign_in_failures(&address_key, since).await?,
        ))
    }
    .await;
    let (account_failures, address_failures) = match counts {
        Ok(c) => c,
        Err(e) => return super::render(Err(e.into())),
    };
    if !SIGN_IN_THROTTLE.allows(account_failures, address_failures) {
        return refused();
    }
    let counted = async {
        backend
            .record_sign_in_failure(std::slice::from_ref(&account_key), now, since)
            .await?;
        backend.sign_in_failures(&account_key, since).await
    }
    .await;
    match counted {
        // Others got in between: this attempt is among the counts.
        Ok(n) if !SIGN_IN_THROTTLE.allows(n.saturating_sub(1), address_failures) => {
            return refused();
        }
        Ok(_) => {}
        Err(e) => return super::render(Err(e.into())),
    }
    if form.password.chars().count() > northstar_core::account::PASSWORD_MAX_CHARS {
        return sign_in_page(StatusCode::UNAUTHORIZED, FAILED, &typed, &form.next);
    }
    let found = match &email {
        Some(email) => backend.user_with_hash(email).await,
        None => Ok(None),
    };
    let found = match found {
        Ok(found) => found,
        Err(e) => return super::render(Err(e.into())),
    };
    let (user, hash) = match found {
        Some((user, hash)) if !user.disabled => (Some(user), Some(hash)),
        _ => (None, None),
    };
    let matches = match password_matches(form.password, hash).await {
        Ok(m) => m,
        Err(e) => return super::render(Err(e)),
    };
    let Some(user) = user.filter(|_| matches) else {
        if let Err(e) = backend
            .record_sign_in_failure(std::slice::from_ref(&address_key), now, since)
            .await
        {
            return super::render(Err(e.into()));
        }
        audit(
            store,
            "anonymous",
            "sign_in.failed",
            &shown,
            &format!("from {address}"),
        )
        .await;
        return sign_in_page(StatusCode::UNAUTHORIZED, FAILED, &typed, &form.next);
    };
    // A fresh session id at every sign-in; the one the browser came with
    // (if any) ends here.
    if let Some(Principal {
        via: Via::Session { token_hash, .. },
        ..
    }) = &principal
        && let Err(e) = backend.delete_session(token_hash).await
    {
        return super::render(Err(e.into()));
    }
    let token = accounts::new_token();
    let csrf = accounts::new_token();
    let created = async {
        backend.clear_sign_in_failures(&account_key).await?;
        backend
            .insert_session(&accounts::token_hash(&token), user.id, &csrf, now)
            .await?;
        // Sessions past their time are deleted as people sign in.
        let policy = northstar_core::account::SESSION_POLICY;
        backend
            .delete_expired_sessions(now - policy.idle_seconds, now - policy.absolute_seconds)
            .await
    }
    .await;
    if let Err(e) = created {
        return super::render(Err(e.into()));
    }
    audit(
        store,
        &user.email,
        "sign_in",
        &user.email,
        &format!("from {address}"),
    )
    .await;
    let cookie = auth::session_cookie(&token, &request_headers, state.secure_cookies);
    (
        [(header::SET_COOKIE, cookie)],
        Redirect::to(&landing(&form.next, &user)),
    )
        .into_response()
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

pub async fn sign_out(
    State(state): State<AppState>,
    principal: Principal,
    request_headers: HeaderMap,
) -> Response {
    if let Via::Session { token_hash, .. } = &principal.via {
        if let Err(e) = state.store.backend().delete_session(token_hash).await {
            return super::render(Err(e.into()));
        }
        audit(
            &*state.store,
            &principal.who,
            "sign_out",
            &principal.who,
            "",
        )
        .await;
    }
    (
        [(
            header::SET_COOKIE,
            auth::cleared_cookie(&request_headers, state.secure_cookies),
        )],
        Redirect::to("/sign-in"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(local_path("/?segment=smb"), "/?segment=smb");
        for bad in [
            "//evil.example/",
            "/\\evil.example",
            "https://evil.example",
            "",
            "javascript:alert(1)",
            "/\nx",
        ] {
            assert_eq!(local_path(bad), "/", "{bad:?}");
        }
    }
}
