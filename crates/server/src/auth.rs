//! Who is asking. A Bearer token or a session cookie becomes a
//! [`Principal`] (role and department scope) for the route guards in
//! [`crate::routes`]; unsafe requests made with a cookie must prove they come
//! from our own pages (Origin / Sec-Fetch-Site, then the session's CSRF
//! token in the form or the `X-CSRF-Token` header). OWASP Cross-Site Request
//! Forgery Prevention and Session Management Cheat Sheets.

use std::net::{IpAddr, SocketAddr};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use northstar_core::access::{self, Capability, Scope};
use northstar_core::account::{Role, SESSION_POLICY};
use northstar_store::Store;
use northstar_store::accounts::{self, AuditEntry};

use crate::AppState;
use crate::error::ApiError;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "northstar_session";
/// The form field that carries the CSRF token.
pub const CSRF_FIELD: &str = "csrf";
/// The header that carries the CSRF token (scripts).
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Largest form body the CSRF check reads (forms are small; imports go
/// through the JSON API with a token).
pub const MAX_FORM_BYTES: usize = 64 << 10;
/// A token's use is audited once per clock hour in which it is used.
const TOKEN_USE_AUDIT_SECONDS: i64 = 3_600;

/// Who a request is from, as the guards and handlers see it.
#[derive(Debug, Clone)]
pub struct Principal {
    /// An account's e-mail, or `token:<name>`.
    pub who: String,
    pub role: Role,
    pub scope: Scope,
    pub via: Via,
}

/// How the request proved who it is from.
#[derive(Debug, Clone)]
pub enum Via {
    Session {
        token_hash: String,
        csrf_token: String,
    },
    Token,
}

impl Principal {
    pub fn may(&self, capability: Capability) -> bool {
        access::allows(self.role, capability)
    }

    /// The CSRF token to put in this principal's forms (empty for tokens,
    /// which never post forms).
    pub fn csrf_token(&self) -> &str {
        match &self.via {
            Via::Session { csrf_token, .. } => csrf_token,
            Via::Token => "",
        }
    }

    /// Personal data in comments and customer ids are masked for roles
    /// that may not see them.
    pub fn sees_personal_data(&self) -> bool {
        self.may(Capability::ViewPersonalData)
    }
}

/// Longest text of one audit field (longer is cut).
pub const AUDIT_TEXT_LIMIT: usize = 500;

/// Seconds since the Unix epoch.
pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The address a request came from: the peer, unless the peer is a trusted
/// proxy; then the last `X-Forwarded-For` address that is not a trusted
/// proxy (each proxy appends the address it saw, so entries to the left of
/// it are the client's to write and are ignored). Without trusted proxies a
/// proxy in front shows as itself and throttling counts per proxy.
pub fn client_address(
    request_extensions: &axum::http::Extensions,
    headers: &HeaderMap,
    trusted_proxies: &[IpAddr],
) -> String {
    let Some(peer) = request_extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_canonical())
    else {
        return "unknown".to_string();
    };
    // An IPv4 proxy reaching a server bound to [::] shows as ::ffff:a.b.c.d.
    let trusted = |ip: &IpAddr| trusted_proxies.iter().any(|t| t.to_canonical() == *ip);
    if !trusted(&peer) {
        return peer.to_string();
    }
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    for entry in forwarded.iter().rev() {
        // "1.2.3.4", "1.2.3.4:5678" (some proxies add the port), "[2001:db8::1]:80".
        let parsed = entry
            .parse::<IpAddr>()
            .or_else(|_| entry.parse::<SocketAddr>().map(|s| s.ip()))
            .or_else(|_| {
                entry
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<IpAddr>()
            })
            .map(|ip| ip.to_canonical());
        match parsed {
            Ok(ip) if trusted(&ip) => continue,
            Ok(ip) => return ip.to_string(),
            // Not an address where our proxy writes one: the chain is not
            // ours to believe past this point.
            Err(_) => break,
        }
    }
    peer.to_string()
}

fn audit_entry(actor: &str, action: &str, target: &str, detail: &str) -> AuditEntry {
    // Bounded: whatever reaches here, an entry stays small.
    let bounded = |text: &str| text.chars().take(AUDIT_TEXT_LIMIT).collect::<String>();
    AuditEntry {
        at_unix: now_unix(),
        actor: bounded(actor),
        action: bounded(action),
        target: bounded(target),
        detail: bounded(detail),
    }
}

/// Appends to the audit log; a failure is logged, never shown (the action
/// it records already happened).
pub async fn audit(store: &dyn Store, actor: &str, action: &str, target: &str, detail: &str) {
    let entry = audit_entry(actor, action, target, detail);
    if let Err(e) = store.backend().append_audit(&entry).await {
        tracing::error!(error = %e, action, "audit entry not written");
    }
}

/// Audits an export before it is delivered: no entry, no export.
pub async fn audit_export(
    store: &dyn Store,
    actor: &str,
    target: &str,
    detail: &str,
) -> Result<(), ApiError> {
    let entry = audit_entry(actor, "export", target, detail);
    store.backend().append_audit(&entry).await?;
    Ok(())
}

/// The value of a cookie in the request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| cookie::Cookie::split_parse(v).filter_map(Result::ok))
        .find(|c| c.name() == name)
        .map(|c| c.value().to_string())
}

/// Whether the request reached us over HTTPS (directly or through a proxy
/// that says so), so that cookies get `Secure`.
fn over_https(headers: &HeaderMap, force_secure: bool) -> bool {
    force_secure
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// The `Set-Cookie` value that starts a session.
pub fn session_cookie(token: &str, headers: &HeaderMap, force_secure: bool) -> String {
    cookie::Cookie::build((SESSION_COOKIE, token.to_string()))
        .http_only(true)
        .same_site(cookie::SameSite::Lax)
        .secure(over_https(headers, force_secure))
        .path("/")
        .max_age(cookie::time::Duration::seconds(
            SESSION_POLICY.absolute_seconds,
        ))
        .build()
        .to_string()
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn cleared_cookie(headers: &HeaderMap, force_secure: bool) -> String {
    cookie::Cookie::build((SESSION_COOKIE, ""))
        .http_only(true)
        .same_site(cookie::SameSite::Lax)
        .secure(over_https(headers, force_secure))
        .path("/")
        .max_age(cookie::time::Duration::ZERO)
        .build()
        .to_string()
}

fn is_unsafe(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// Whether the browser says the request comes from another site: a
/// `Sec-Fetch-Site` other than same-origin/none, or an `Origin` whose host
/// is not the one the request was sent to. Clients that send neither
/// (curl, old browsers) pass this check and still need the CSRF token.
fn cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return true;
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| url::Url::parse(o).ok())
        .map(|u| match u.port() {
            Some(p) => format!("{}:{p}", u.host_str().unwrap_or_default()),
            None => u.host_str().unwrap_or_default().to_string(),
        });
    match (origin_host, host) {
        (Some(o), Some(h)) => !o.eq_ignore_ascii_case(h),
        // `Origin: null` (sandboxed frames, some redirects) or no Host.
        _ => true,
    }
}

fn forbidden(message: &str) -> Response {
    ApiError::Forbidden(message.to_string()).into_response()
}

/// Reads a form body (bounded) and returns it with the CSRF field's value.
/// The largest form a page posts to `path`: survey definitions and pasted
/// contact lists are larger than the few fields of other forms.
fn form_limit(path: &str) -> usize {
    if path.starts_with("/surveys") && path.ends_with("/invitations") {
        crate::api::surveys::MAX_CONTACTS_BODY_BYTES
    } else if path.starts_with("/surveys") {
        crate::api::surveys::MAX_SURVEY_BODY_BYTES * 2
    } else {
        MAX_FORM_BYTES
    }
}

async fn form_csrf(request: Request) -> Result<(Request, Option<String>), Response> {
    let limit = form_limit(request.uri().path());
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::TooLarge(format!(
            "the form is larger than {} KiB, this form's limit",
            limit >> 10
        ))
        .into_response()
    })?;
    let token = form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == CSRF_FIELD)
        .map(|(_, v)| v.into_owned());
    Ok((Request::from_parts(parts, Body::from(bytes)), token))
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';').next().is_some_and(|t| {
                t.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        })
}

/// Compares secrets in time independent of where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Finds the principal of a request (Bearer token, else session cookie),
/// checks cross-site unsafe requests, and puts the principal in the
/// request's extensions for the route guards.
pub async fn authenticate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let store = &*state.store;
    let now = now_unix();
    let headers = request.headers().clone();
    let unsafe_method = is_unsafe(request.method());
    let mut principal = None;
    // Why a Bearer token was refused: the guard of a route that needs a
    // principal says so; public routes (health, sign-in) still answer.
    let mut refused: Option<&'static str> = None;
    // Other schemes (a proxy's Basic auth) are not ours: ignored.
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .map(|v| v.split_once(' ').map_or((v, ""), |(s, t)| (s, t.trim())))
        // The scheme is case-insensitive (RFC 9110 §11.1).
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token);
    if let Some(token) = bearer {
        if token.is_empty() || token.len() > 200 {
            refused = Some(
                "the Authorization header must be `Bearer <token>`; create a token with `northstar token create`",
            );
        } else {
            match store
                .backend()
                .use_api_token(&accounts::token_hash(token), now)
                .await
            {
                Ok(Some((t, previous))) => {
                    let who = format!("token:{}", t.name);
                    // Once per clock hour of use: the stored last use moves every
                    // minute, so "an hour since the last use" would never come
                    // for a token in steady use.
                    if previous.is_none_or(|p| {
                        p / TOKEN_USE_AUDIT_SECONDS != now / TOKEN_USE_AUDIT_SECONDS
                    }) {
                        audit(store, &who, "token.use", &t.name, "first use this hour").await;
                    }
                    principal = Some(Principal {
                        who,
                        role: t.role,
                        scope: Scope::of(t.role, t.department.as_deref()),
                        via: Via::Token,
                    });
                }
                Ok(None) => {
                    refused =
                        Some("the API token is unknown or revoked; ask an admin for a new one");
                }
                Err(e) => return ApiError::Store(e).into_response(),
            }
        }
    } else if let Some(token) = cookie(&headers, SESSION_COOKIE).filter(|t| t.len() <= 200) {
        let hash = accounts::token_hash(&token);
        match store.backend().session(&hash).await {
            Ok(Some(session))
                if SESSION_POLICY.is_live(session.created_unix, session.last_seen_unix, now) =>
            {
                if now - session.last_seen_unix >= SESSION_POLICY.touch_every_seconds
                    && let Err(e) = store.backend().touch_session(&hash, now).await
                {
                    return ApiError::Store(e).into_response();
                }
                let user = session.user;
                principal = Some(Principal {
                    who: user.email.clone(),
                    role: user.role,
                    scope: Scope::of(user.role, user.department.as_deref()),
                    via: Via::Session {
                        token_hash: hash,
                        csrf_token: session.csrf_token,
                    },
                });
            }
            Ok(Some(_)) => {
                // Expired: forget it; the guard sends the client to sign in.
                if let Err(e) = store.backend().delete_session(&hash).await {
                    tracing::warn!(error = %e, "an expired session was not deleted");
                }
            }
            Ok(None) => {}
            Err(e) => return ApiError::Store(e).into_response(),
        }
    }
    let mut request = request;
    // Signing in replaces whatever session the browser carries (a fresh id
    // every time), so it needs no token of that session; it is still
    // refused from other sites below (login CSRF).
    let signing_in = request.uri().path() == "/sign-in";
    // The survey widget posts from the sites a survey allows (its handler
    // checks the Origin against them) and acts for nobody: no CSRF check.
    let widget = request.uri().path().starts_with("/api/v1/public/widget/");
    // A Bearer token is not sent by browsers on their own: no CSRF check.
    if unsafe_method && !widget && !matches!(principal.as_ref().map(|p| &p.via), Some(Via::Token)) {
        if cross_site(&headers) {
            return forbidden(
                "cross-site request refused: this form must be sent from Northstar's own pages",
            );
        }
        if let Some(Principal {
            via: Via::Session { csrf_token, .. },
            ..
        }) = &principal
            && !signing_in
        {
            let sent = match headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()) {
                Some(h) => Some(h.to_string()),
                None if is_form(&headers) => match form_csrf(request).await {
                    Ok((r, token)) => {
                        request = r;
                        token
                    }
                    Err(response) => return response,
                },
                None => None,
            };
            if !sent.is_some_and(|s| same_secret(&s, csrf_token)) {
                return forbidden(
                    "the form's security token is missing or out of date; reload the page and send it again",
                );
            }
        }
    }
    let signed_in = principal.is_some();
    if let Some(p) = principal {
        request.extensions_mut().insert(p);
    }
    if let Some(reason) = refused {
        request.extensions_mut().insert(RefusedCredentials(reason));
    }
    let mut response = next.run(request).await;
    // What a signed-in caller sees stays out of shared and browser caches
    // unless the handler said otherwise.
    if signed_in && !response.headers().contains_key(header::CACHE_CONTROL) {
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-store"),
        );
    }
    response
}

/// Why the request's Bearer token was refused (for the route guard).
#[derive(Debug, Clone, Copy)]
pub struct RefusedCredentials(pub &'static str);

/// The principal of a guarded route (the guard let it through, so it is
/// there; if a route were ever left unguarded, this still refuses).
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Principal>().cloned().ok_or_else(|| {
            ApiError::Unauthenticated("sign in or send `Authorization: Bearer <token>`".into())
        })
    }
}

impl<S: Send + Sync> axum::extract::OptionalFromRequestParts<S> for Principal {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Principal>().cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(peer: &str, forwarded: &[&str], trusted: &[&str]) -> String {
        let mut extensions = axum::http::Extensions::new();
        extensions.insert(ConnectInfo(SocketAddr::new(peer.parse().unwrap(), 40_000)));
        let mut headers = HeaderMap::new();
        for f in forwarded {
            headers.append("x-forwarded-for", f.parse().unwrap());
        }
        let trusted: Vec<IpAddr> = trusted.iter().map(|t| t.parse().unwrap()).collect();
        client_address(&extensions, &headers, &trusted)
    }

    #[test]
    fn the_client_is_the_peer_unless_a_trusted_proxy_says_otherwise() {
        // No trusted proxy: a forged header changes nothing.
        assert_eq!(from("203.0.113.9", &["1.2.3.4"], &[]), "203.0.113.9");
        // A request from elsewhere cannot claim to be forwarded.
        assert_eq!(
            from("203.0.113.9", &["1.2.3.4"], &["10.0.0.2"]),
            "203.0.113.9"
        );
        // Through the proxy: the address it appended, not what the client
        // wrote to the left of it.
        assert_eq!(
            from("10.0.0.2", &["6.6.6.6, 198.51.100.7"], &["10.0.0.2"]),
            "198.51.100.7"
        );
        // Two trusted proxies in a row, in two header lines.
        assert_eq!(
            from(
                "10.0.0.2",
                &["6.6.6.6, 198.51.100.7", "10.0.0.3"],
                &["10.0.0.2", "10.0.0.3"]
            ),
            "198.51.100.7"
        );
        assert_eq!(
            from("10.0.0.2", &["2001:db8::1"], &["10.0.0.2"]),
            "2001:db8::1"
        );
        // Ports, brackets, and an IPv4 proxy seen through an IPv6 socket.
        assert_eq!(
            from("10.0.0.2", &["198.51.100.7:5678"], &["10.0.0.2"]),
            "198.51.100.7"
        );
        assert_eq!(
            from("10.0.0.2", &["[2001:db8::1]:443"], &["10.0.0.2"]),
            "2001:db8::1"
        );
        assert_eq!(
            from("::ffff:10.0.0.2", &["198.51.100.7"], &["10.0.0.2"]),
            "198.51.100.7"
        );
        // Nothing usable: the proxy itself.
        assert_eq!(from("10.0.0.2", &[], &["10.0.0.2"]), "10.0.0.2");
        assert_eq!(from("10.0.0.2", &["junk"], &["10.0.0.2"]), "10.0.0.2");
    }
}
