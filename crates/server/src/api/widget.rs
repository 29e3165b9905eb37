//! The embeddable widget for web intercepts: `/widget.js` (ours, vendored,
//! no third-party code) opens a one-question NPS or CSAT prompt with an
//! optional follow-up and posts to `POST /api/v1/public/widget/{slug}`.
//! Cross-origin calls are allowed only from the survey's
//! `allowed_origins` (CORS, with the preflight answered here); a post from
//! any other origin is refused even when a client skips the preflight.
//! Without JavaScript the snippet's `<noscript>` link opens the hosted
//! form (`/s/a/{slug}?channel=web`).

// A function's `Err` is the response to send instead (once per request).
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use northstar_core::survey::{QuestionKind, SurveyDefinition};
use northstar_store::survey_records::{Survey, SurveyStatus};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::survey_links;
use crate::views::survey_form::{self, page_words};

/// Largest widget post.
pub const MAX_WIDGET_BYTES: usize = 16 * 1024;

/// The widget's script.
pub const WIDGET_JS: &str = include_str!("../../static/widget.js");

/// `GET /widget.js`.
pub async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
            (
                header::HeaderName::from_static("cross-origin-resource-policy"),
                "cross-origin",
            ),
        ],
        WIDGET_JS,
    )
        .into_response()
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(serde_json::json!({"error": {"message": message, "parameter": null}})),
    )
        .into_response()
}

/// The survey a slug names with its definition, when its widget is on.
async fn widget_survey(
    state: &AppState,
    slug: &str,
) -> Result<(Survey, SurveyDefinition), Response> {
    let missing = || error(StatusCode::NOT_FOUND, "no survey widget has this address");
    if slug.len() > 64 || !slug.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(missing());
    }
    let cached = state
        .surveys
        .by_slug(state.store.as_ref(), slug)
        .await
        .map_err(|e| internal(&e))?
        .ok_or_else(missing)?;
    let (survey, definition) = (cached.0.clone(), cached.1.clone());
    if definition.allowed_origins.is_empty() || definition.widget_questions().is_none() {
        return Err(missing());
    }
    Ok((survey, definition))
}

fn internal(e: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %e, "the widget endpoint failed");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the answer could not be saved just now; try again in a moment",
    )
}

/// The request's `Origin` when the survey allows it.
fn allowed_origin(headers: &HeaderMap, definition: &SurveyDefinition) -> Option<HeaderValue> {
    let origin = headers.get(header::ORIGIN)?;
    let text = origin.to_str().ok()?;
    definition
        .allowed_origins
        .iter()
        .any(|o| o == text)
        .then(|| origin.clone())
}

fn with_cors(mut response: Response, origin: Option<HeaderValue>) -> Response {
    let h = response.headers_mut();
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = origin {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    response
}

/// `OPTIONS /api/v1/public/widget/{slug}`: the CORS preflight.
pub async fn preflight(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (_, definition) = match widget_survey(&state, &slug).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(origin) = allowed_origin(&headers, &definition) else {
        return with_cors(
            error(
                StatusCode::FORBIDDEN,
                "this site is not among the survey's allowed origins; add it to allowed_origins",
            ),
            None,
        );
    };
    let mut response = StatusCode::NO_CONTENT.into_response();
    let h = response.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("content-type"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    with_cors(response, Some(origin))
}

#[derive(Debug, Default, Deserialize)]
pub struct WidgetQuery {
    #[serde(default)]
    pub lang: Option<String>,
}

/// What the widget shows.
#[derive(Debug, Serialize)]
pub struct WidgetConfig {
    pub language: String,
    pub title: String,
    pub question: String,
    /// `nps` (0–10) or `csat` (1–5).
    pub scale: &'static str,
    pub low: u8,
    pub high: u8,
    pub follow_up: Option<String>,
    pub submit: String,
    pub thanks: String,
    /// The id this prompt's answer is stored under (a second post of the
    /// same prompt replaces the first).
    pub submission: String,
    /// The hosted form, for people who prefer it.
    pub form: String,
}

/// `GET /api/v1/public/widget/{slug}?lang=`: the prompt's texts.
pub async fn config(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Query(q): Query<WidgetQuery>,
    headers: HeaderMap,
) -> Response {
    let (survey, definition) = match widget_survey(&state, &slug).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let origin = allowed_origin(&headers, &definition);
    if headers.contains_key(header::ORIGIN) && origin.is_none() {
        return with_cors(
            error(
                StatusCode::FORBIDDEN,
                "this site is not among the survey's allowed origins",
            ),
            None,
        );
    }
    if survey.status != SurveyStatus::Live {
        return with_cors(error(StatusCode::GONE, "the survey is not open"), origin);
    }
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    let lang = definition
        .language_for(q.lang.as_deref(), accept)
        .to_string();
    let Some((score, follow_up)) = definition.widget_questions() else {
        return error(StatusCode::NOT_FOUND, "no survey widget has this address");
    };
    let (scale, low, high) = match score.kind {
        QuestionKind::Nps => ("nps", 0, 10),
        _ => ("csat", 1, 5),
    };
    let w = page_words(&lang);
    let config = WidgetConfig {
        title: definition.text_in(&definition.title, &lang).to_string(),
        question: definition.text_in(&score.text, &lang).to_string(),
        scale,
        low,
        high,
        follow_up: follow_up.map(|f| definition.text_in(&f.text, &lang).to_string()),
        submit: w.submit.to_string(),
        thanks: w.thanks.to_string(),
        submission: survey_links::random_id(32),
        form: format!(
            "/s/a/{slug}?channel=web&lang={}",
            crate::views::encode(&lang)
        ),
        language: lang,
    };
    let mut response = Json(config).into_response();
    // Each prompt gets its own submission id: never from a cache.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    with_cors(response, origin)
}

/// What the widget posts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WidgetAnswer {
    pub score: u8,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub submission: Option<String>,
    #[serde(default)]
    pub lang: Option<String>,
    /// The honeypot (a hidden input bots fill).
    #[serde(default)]
    pub website: Option<String>,
    /// The page the prompt was shown on (kept as the `page` attribute,
    /// path only).
    #[serde(default)]
    pub page: Option<String>,
}

/// `POST /api/v1/public/widget/{slug}`.
pub async fn answer(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (survey, definition) = match widget_survey(&state, &slug).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    // Browsers send Origin on every cross-origin POST; a post naming
    // another site is refused, one without Origin (a same-origin form or a
    // server) is let through like the hosted form.
    let origin = allowed_origin(&headers, &definition);
    if headers.contains_key(header::ORIGIN) && origin.is_none() {
        return with_cors(
            error(
                StatusCode::FORBIDDEN,
                "this site is not among the survey's allowed origins; add it to allowed_origins",
            ),
            None,
        );
    }
    let respond = |r: Response| with_cors(r, origin.clone());
    if survey.status != SurveyStatus::Live {
        return respond(error(StatusCode::GONE, "the survey is not open"));
    }
    let body = match body {
        Ok(b) => b,
        Err(_) => {
            return respond(error(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("a widget answer is at most {} KiB", MAX_WIDGET_BYTES >> 10),
            ));
        }
    };
    let client = crate::auth::client_address(&extensions, &headers, &state.trusted_proxies);
    if let Err(wait) = survey_form::rate_check(&state, &client, &survey.public_slug) {
        let mut r = error(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("too many answers from here just now; try again in {wait} s"),
        );
        if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return respond(r);
    }
    let answer: WidgetAnswer = match serde_json::from_slice(&body) {
        Ok(a) => a,
        Err(e) => {
            return respond(error(
                StatusCode::BAD_REQUEST,
                &format!("not a widget answer ({{\"score\": 9, \"comment\": \"…\"}}): {e}"),
            ));
        }
    };
    if answer
        .website
        .as_deref()
        .is_some_and(|w| !w.trim().is_empty())
    {
        tracing::info!(survey = %survey.name, "a widget honeypot was filled; not stored");
        return respond(
            (
                StatusCode::CREATED,
                Json(serde_json::json!({"stored": true})),
            )
                .into_response(),
        );
    }
    let Some((score, follow_up)) = definition.widget_questions() else {
        return respond(error(
            StatusCode::NOT_FOUND,
            "no survey widget has this address",
        ));
    };
    // The widget's two questions only: the survey's others are the hosted
    // form's.
    let mut form: BTreeMap<String, Vec<String>> = BTreeMap::new();
    form.insert(score.key.clone(), vec![answer.score.to_string()]);
    if let (Some(f), Some(c)) = (follow_up, answer.comment.as_ref()) {
        form.insert(f.key.clone(), vec![c.clone()]);
    }
    let mut reduced = definition.clone();
    reduced
        .questions
        .retain(|q| q.key == score.key || follow_up.is_some_and(|f| f.key == q.key));
    for q in &mut reduced.questions {
        q.required = q.key == score.key;
    }
    let mut answers = match reduced.answers_from(&form) {
        Ok(a) => a,
        Err(errors) => {
            return respond(
                (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Json(serde_json::json!({"error": {
                        "message": northstar_core::field::describe(&errors),
                        "parameter": errors.first().map(|e| e.field.clone()),
                    }})),
                )
                    .into_response(),
            );
        }
    };
    if let Some(page) = answer.page.as_deref() {
        let path: String = page
            .split(['?', '#'])
            .next()
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect();
        if !path.is_empty() {
            answers.attributes.insert("page".into(), path);
        }
    }
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    let lang = definition
        .language_for(answer.lang.as_deref(), accept)
        .to_string();
    let submission = answer
        .submission
        .filter(|s| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(|| survey_links::random_id(32));
    let response = survey_form::response_of(
        &survey,
        &definition,
        survey.current_version,
        &lang,
        format!("widget-{}-{submission}", survey.id),
        None,
        "",
        "web",
        answers,
    );
    match survey_form::commit(&state, response).await {
        Ok(()) => respond(
            (
                StatusCode::CREATED,
                Json(serde_json::json!({"stored": true})),
            )
                .into_response(),
        ),
        Err((status, wait)) => {
            let mut r = error(
                status,
                "the answer could not be saved just now; try again in a moment",
            );
            if status == StatusCode::SERVICE_UNAVAILABLE
                && let Ok(v) = HeaderValue::from_str(&wait.to_string())
            {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            respond(r)
        }
    }
}
