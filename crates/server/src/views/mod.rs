//! The HTML app: one module per page, askama templates, no JavaScript needed.

pub mod admin;
pub mod breakdown;
pub mod business_case;
pub mod department;
pub mod drivers;
pub mod executive;
pub mod expectation_gap;
pub mod methodology;
pub mod overview;
pub mod pilot;
pub mod responses;
pub mod sign_in;
pub mod survey_form;
pub mod surveys;
pub mod trends;
pub mod understand;
pub mod unsubscribe;

use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{MethodRouter, get};

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;

pub fn stylesheet() -> MethodRouter<AppState> {
    get(|| async {
        (
            [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
            include_str!("../../static/northstar.css"),
        )
    })
}

/// The hosted survey pages' stylesheet.
pub fn survey_stylesheet() -> MethodRouter<AppState> {
    get(|| async {
        (
            [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
            include_str!("../../static/survey.css"),
        )
    })
}

/// What the page header shows: who is signed in, the sign-out form (with
/// its CSRF token) and the links their role may follow.
#[derive(Clone)]
pub struct Nav {
    pub who: String,
    pub role: String,
    pub csrf: String,
    pub admin: bool,
    pub audit: bool,
    /// May read single responses (the comments page).
    pub responses: bool,
    /// May read figures: the Understand pages (trends, breakdown, drivers,
    /// expectation gap), within the role's scope.
    pub understand: bool,
    /// Signed in with a session (a token has nothing to sign out of).
    pub session: bool,
    /// The North Star with its current value (pages that load it).
    pub north_star: Option<NorthStarLine>,
    /// The department page of a department-scoped role.
    pub own_department: Option<String>,
}

/// The North Star as the header shows it.
#[derive(Clone)]
pub struct NorthStarLine {
    pub statement: String,
    pub figure: String,
    pub target: String,
}

impl Nav {
    pub fn of(p: &Principal) -> Self {
        use northstar_core::access::Capability;
        Nav {
            who: p.who.clone(),
            role: match p.scope.department() {
                Some(d) => format!("{} · {d}", p.role),
                None => p.role.to_string(),
            },
            csrf: p.csrf_token().to_string(),
            admin: p.may(Capability::ManageAccess),
            responses: p.may(Capability::ViewResponses),
            audit: p.may(Capability::ViewAudit),
            understand: p.may(Capability::ViewSummaries),
            session: matches!(p.via, crate::auth::Via::Session { .. }),
            north_star: None,
            own_department: p.scope.department().map(str::to_string),
        }
    }

    /// The header with the North Star's current value (whole organisation,
    /// all data), when one is set; a failure to read it leaves it out.
    pub async fn load(state: &AppState, p: &Principal) -> Self {
        let mut nav = Self::of(p);
        match crate::api::north_star::north_star_report(
            state,
            &crate::report::Selection::default(),
            &p.scope,
        )
        .await
        {
            Ok(Some(r)) => {
                nav.north_star = Some(NorthStarLine {
                    statement: r.statement,
                    figure: format!(
                        "{} {} (95% CI {}, n = {}, {} to {})",
                        r.metric.title(),
                        understand::format_value(r.metric, r.value),
                        understand::format_interval(r.metric, r.ci_low, r.ci_high),
                        understand::thousands(r.n),
                        r.period.from.as_deref().unwrap_or("–"),
                        r.period.to.as_deref().unwrap_or("–")
                    ),
                    target: format!(
                        "target {} by {}",
                        understand::format_value(r.metric, Some(r.target)),
                        r.target_date
                    ),
                });
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "the North Star could not be read for the header"),
        }
        nav
    }
}

/// Percent-encodes a query-string value.
pub fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Escapes text for HTML.
pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A plain page that says what went wrong.
pub fn error_page(status: StatusCode, message: &str) -> Response {
    let message = escape(message);
    (
        status,
        Html(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Northstar: error</title>\
             <link rel=\"stylesheet\" href=\"/static/northstar.css\"></head><body><main>\
             <h1>Something was wrong with this request</h1><p class=\"error\">{message}</p>\
             <p><a href=\"/\">Back to the overview</a> · <a href=\"/sign-in\">Sign in</a></p></main></body></html>"
        )),
    )
        .into_response()
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
            error_page(status, &e.public_message())
        }
    }
}
