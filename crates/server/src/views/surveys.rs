//! Survey administration pages: the list (with a new-survey form that takes
//! a definition or an export as JSON), and one survey — its questions in
//! each language, status, versions, links and widget snippet, invitations
//! (a pasted contact list or a segment), sending and reminders, and the
//! response rates by segment with the respondents' mix against those
//! invited.

use askama::Template;
use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use northstar_core::access::Capability;
use northstar_core::survey::QuestionKind;
use serde::Deserialize;

use crate::AppState;
use crate::api::surveys::{self, ResponseRates, SurveySummary, SurveyView};
use crate::auth::Principal;
use crate::error::ApiError;

/// The definition a new survey starts from.
pub const EXAMPLE_DEFINITION: &str = r#"{
  "name": "post_purchase",
  "title": {"en": "Your order", "de": "Ihre Bestellung"},
  "languages": ["en", "de"],
  "touchpoint": "purchase",
  "department": "sales",
  "journey_stage": "purchase",
  "goals": [],
  "anonymous_links": true,
  "allowed_origins": [],
  "questions": [
    {"key": "nps", "type": "nps", "required": true,
     "text": {"en": "How likely are you to recommend us to a friend or colleague?",
              "de": "Wie wahrscheinlich ist es, dass Sie uns einem Freund oder Kollegen empfehlen?"}},
    {"key": "speed", "type": "driver", "driver": "delivery_speed",
     "text": {"en": "How was the speed of the delivery?", "de": "Wie war die Liefergeschwindigkeit?"}},
    {"key": "comment", "type": "text",
     "text": {"en": "What is the main reason for your score?", "de": "Was ist der wichtigste Grund für Ihre Bewertung?"}}
  ]
}"#;

#[derive(Template)]
#[template(path = "surveys.html")]
struct ListPage {
    nav: Option<super::Nav>,
    csrf: String,
    surveys: Vec<SurveySummary>,
    may_manage: bool,
    message: String,
    definition: String,
}

/// A question as the page lists it.
struct QuestionRow {
    key: String,
    kind: String,
    required: bool,
    texts: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "survey.html")]
struct SurveyPage {
    nav: Option<super::Nav>,
    csrf: String,
    s: SurveyView,
    title: String,
    questions: Vec<QuestionRow>,
    definition_json: String,
    rates: ResponseRates,
    mix: String,
    mix_warning: bool,
    segments: Vec<String>,
    may_manage: bool,
    may_export: bool,
    message: String,
    report: String,
    origin: String,
    widget_snippet: String,
    contacts: String,
}

async fn render_list(
    state: &AppState,
    principal: &Principal,
    message: String,
    definition: String,
) -> Result<String, ApiError> {
    let page = ListPage {
        nav: Some(super::Nav::load(state, principal).await),
        csrf: principal.csrf_token().to_string(),
        surveys: surveys::list(state, principal).await?,
        may_manage: principal.may(Capability::ManageSurveys),
        message,
        definition,
    };
    Ok(page.render()?)
}

/// `GET /surveys`.
pub async fn list(State(state): State<AppState>, principal: Principal) -> Response {
    super::render(render_list(&state, &principal, String::new(), EXAMPLE_DEFINITION.into()).await)
}

#[derive(Debug, Default, Deserialize)]
pub struct DefinitionForm {
    #[serde(default)]
    pub definition: String,
}

/// `POST /surveys`: a new survey from a definition or an export (the same
/// name again makes a new version; the same definition changes nothing).
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    form: Result<Form<DefinitionForm>, FormRejection>,
) -> Response {
    let Ok(Form(f)) = form else {
        return super::render(Err(ApiError::BadBody("the form could not be read".into())));
    };
    let outcome = async {
        let definition = surveys::definition_from_json(f.definition.as_bytes())?;
        surveys::import(&state, &principal, &definition).await
    }
    .await;
    match outcome {
        Ok(imported) => Redirect::to(&format!("/surveys/{}", imported.id)).into_response(),
        Err(e) if e.status().is_client_error() => {
            super::render(render_list(&state, &principal, e.to_string(), f.definition).await)
        }
        Err(e) => super::render(Err(e)),
    }
}

fn kind_name(kind: &QuestionKind) -> String {
    match kind {
        QuestionKind::Nps => "NPS (0–10)".into(),
        QuestionKind::Csat => "CSAT (1–5)".into(),
        QuestionKind::Ces => "CES (1–7)".into(),
        QuestionKind::Fcr => "FCR (yes/no)".into(),
        QuestionKind::Driver { driver } => format!("driver rating (1–5): {driver}"),
        QuestionKind::SingleChoice { options } => {
            format!("single choice ({} options)", options.len())
        }
        QuestionKind::MultipleChoice { options } => {
            format!("multiple choice ({} options)", options.len())
        }
        QuestionKind::Text => "free text".into(),
    }
}

/// The address people open Northstar at: the configured public URL, else
/// the request's own host.
pub fn origin(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(m) = &state.mailer {
        return m.public_link("");
    }
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// Whether segments answered at different rates: Pearson's χ² test of
/// independence of (answered, not answered) by segment among those invited
/// (`core::representativeness::chi_square_independence`, as scipy's
/// `chi2_contingency` without correction), with each segment's rate beside
/// it on the page. No test while an expected count is under 5 (Cochran).
pub fn mix_against_invited(rates: &ResponseRates) -> (String, bool) {
    let mut by_segment: std::collections::BTreeMap<&str, (u64, u64)> = Default::default();
    for r in rates.by_segment.iter().filter(|r| r.invited > 0) {
        let e = by_segment.entry(r.segment.as_str()).or_default();
        e.0 += r.answered.min(r.invited);
        e.1 += r.invited;
    }
    if by_segment.len() < 2 {
        return (
            "Fewer than two segments invited, so no comparison of their response rates.".into(),
            false,
        );
    }
    let table: Vec<[u64; 2]> = by_segment
        .values()
        .map(|(answered, invited)| [*answered, invited - answered])
        .collect();
    let total: u64 = table.iter().map(|r| r[0] + r[1]).sum();
    let answered: u64 = table.iter().map(|r| r[0]).sum();
    let smallest_expected = table
        .iter()
        .map(|r| {
            let row = (r[0] + r[1]) as f64;
            (row * answered as f64 / total as f64)
                .min(row * (total - answered) as f64 / total as f64)
        })
        .fold(f64::INFINITY, f64::min);
    if smallest_expected < northstar_core::representativeness::MIN_EXPECTED {
        return (
            "Too few invitations per segment for a chi-square test of the response rates (every segment needs at least 5 expected answers and non-answers, Cochran's rule).".into(),
            false,
        );
    }
    let Some((chi, df, p)) = northstar_core::representativeness::chi_square_independence(&table)
    else {
        return (
            "No answers yet, so no comparison of response rates.".into(),
            false,
        );
    };
    let p_text = if p < 0.001 {
        "< 0.001".to_string()
    } else {
        format!("= {p:.3}")
    };
    if p < 0.05 {
        (
            format!(
                "Respondents are not representative of those invited: segments answered at different rates (Pearson's χ² test of independence, χ² = {chi:.1}, df = {df}, p {p_text}; rates in the table). Read segment figures separately or weight them."
            ),
            true,
        )
    } else {
        (
            format!(
                "Segments answered at rates that differ no more than chance would make them (Pearson's χ² test of independence, χ² = {chi:.1}, df = {df}, p {p_text})."
            ),
            false,
        )
    }
}

#[allow(clippy::too_many_arguments)]
async fn render_survey(
    state: &AppState,
    principal: &Principal,
    headers: &HeaderMap,
    id: i64,
    message: String,
    report: String,
    definition_json: Option<String>,
    contacts: String,
) -> Result<String, ApiError> {
    let s = surveys::view(state, principal, id).await?;
    let d = &s.definition;
    let title = d.text_in(&d.title, "").to_string();
    let questions = d
        .questions
        .iter()
        .map(|q| QuestionRow {
            key: q.key.clone(),
            kind: kind_name(&q.kind),
            required: q.required,
            texts: d
                .languages
                .iter()
                .map(|l| (l.clone(), d.text_in(&q.text, l).to_string()))
                .collect(),
        })
        .collect();
    let rates = surveys::rates(state, principal, id, None, None).await?;
    let (mix, mix_warning) = mix_against_invited(&rates);
    let segments = state
        .store
        .customer_segments(None)
        .await?
        .into_iter()
        .map(|(s, _)| s)
        .filter(|s| !s.is_empty())
        .collect();
    let origin = origin(state, headers);
    let widget_snippet = if d.allowed_origins.is_empty() {
        String::new()
    } else {
        format!(
            "<script src=\"{origin}/widget.js\" data-northstar-survey=\"{slug}\" async></script>\n<noscript><a href=\"{origin}/s/a/{slug}?channel=web\">{text}</a></noscript>",
            slug = s.public_slug,
            text = super::escape(d.text_in(&d.title, "")),
        )
    };
    let definition_json = match definition_json {
        Some(j) => j,
        None => serde_json::to_string_pretty(d).map_err(|e| ApiError::BadRequest(e.to_string()))?,
    };
    let page = SurveyPage {
        nav: Some(super::Nav::load(state, principal).await),
        csrf: principal.csrf_token().to_string(),
        title,
        questions,
        definition_json,
        rates,
        mix,
        mix_warning,
        segments,
        may_manage: principal.may(Capability::ManageSurveys),
        may_export: principal.may(Capability::Export)
            && principal.may(Capability::ViewPersonalData),
        message,
        report,
        origin,
        widget_snippet,
        contacts,
        s,
    };
    Ok(page.render()?)
}

/// `GET /surveys/{id}`.
pub async fn page(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    super::render(
        render_survey(
            &state,
            &principal,
            &headers,
            id,
            String::new(),
            String::new(),
            None,
            String::new(),
        )
        .await,
    )
}

/// Shows the outcome of a form on the survey's page: a client error beside
/// the forms (what was typed kept), a server error as an error page.
#[allow(clippy::too_many_arguments)]
async fn outcome(
    state: &AppState,
    principal: &Principal,
    headers: &HeaderMap,
    id: i64,
    result: Result<String, ApiError>,
    definition_json: Option<String>,
    contacts: String,
) -> Response {
    match result {
        Ok(report) => super::render(
            render_survey(
                state,
                principal,
                headers,
                id,
                String::new(),
                report,
                None,
                String::new(),
            )
            .await,
        ),
        Err(e) if e.status().is_client_error() => super::render(
            render_survey(
                state,
                principal,
                headers,
                id,
                e.to_string(),
                String::new(),
                definition_json,
                contacts,
            )
            .await,
        ),
        Err(e) => super::render(Err(e)),
    }
}

/// `POST /surveys/{id}`: a changed definition (a live survey's becomes a
/// new version).
pub async fn edit(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path(id): Path<i64>,
    form: Result<Form<DefinitionForm>, FormRejection>,
) -> Response {
    let Ok(Form(f)) = form else {
        return super::render(Err(ApiError::BadBody("the form could not be read".into())));
    };
    let result = async {
        let definition = surveys::definition_from_json(f.definition.as_bytes())?;
        let version = surveys::update(&state, &principal, id, &definition).await?;
        Ok(format!("Saved: the survey is at version {version}."))
    }
    .await;
    outcome(
        &state,
        &principal,
        &headers,
        id,
        result,
        Some(f.definition),
        String::new(),
    )
    .await
}

#[derive(Debug, Default, Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    pub status: String,
}

/// `POST /surveys/{id}/status`.
pub async fn status(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path(id): Path<i64>,
    form: Result<Form<StatusForm>, FormRejection>,
) -> Response {
    let Ok(Form(f)) = form else {
        return super::render(Err(ApiError::BadBody("the form could not be read".into())));
    };
    let result = surveys::set_status(&state, &principal, id, &f.status)
        .await
        .map(|()| format!("The survey is {} now.", f.status));
    outcome(
        &state,
        &principal,
        &headers,
        id,
        result,
        None,
        String::new(),
    )
    .await
}

#[derive(Debug, Default, Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    pub contacts: String,
    #[serde(default)]
    pub segment: String,
}

/// `POST /surveys/{id}/invitations`: a pasted contact list or a segment.
pub async fn invite(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path(id): Path<i64>,
    form: Result<Form<InviteForm>, FormRejection>,
) -> Response {
    let Ok(Form(f)) = form else {
        return super::render(Err(ApiError::BadBody(
            "the form could not be read (a contact list larger than the form limit goes through the API as text/csv)".into(),
        )));
    };
    let result = async {
        let report = if !f.segment.trim().is_empty() {
            let contacts = surveys::segment_contacts(&state, f.segment.trim()).await?;
            surveys::invite(&state, &principal, id, contacts, Vec::new(), None).await?
        } else {
            let (contacts, rejected) = surveys::contacts_from_csv(f.contacts.as_bytes())?;
            surveys::invite(&state, &principal, id, contacts, rejected, None).await?
        };
        let mut text = format!(
            "{} rows read: {} invited, {} already invited, {} opted out, {} rejected. Links work until {}.",
            report.rows,
            report.created.created,
            report.created.already_invited,
            report.created.opted_out,
            report.rejected.len(),
            report.expires_at
        );
        for r in report.rejected.iter().take(50) {
            text.push_str(&format!(
                "\n{}: {} {} — {}",
                r.at, r.field, r.problem, r.fix
            ));
        }
        if report.rejected.len() > 50 {
            text.push_str(&format!("\n… and {} more rejected rows.", report.rejected.len() - 50));
        }
        Ok(text)
    }
    .await;
    outcome(&state, &principal, &headers, id, result, None, f.contacts).await
}

#[derive(Debug, Default, Deserialize)]
pub struct SendForm {
    #[serde(default)]
    pub after_days: Option<String>,
}

fn send_text(r: &surveys::SendReport, what: &str) -> String {
    let mut text = format!("{} {what} sent, {} failed.", r.sent, r.failed);
    if r.more_due {
        text.push_str(" More are due: send again.");
    }
    for p in &r.problems {
        text.push_str(&format!("\n{p}"));
    }
    text
}

/// `POST /surveys/{id}/send`.
pub async fn send(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    let result = surveys::send_round(&state, &principal, id, None)
        .await
        .map(|r| send_text(&r, "invitations"));
    outcome(
        &state,
        &principal,
        &headers,
        id,
        result,
        None,
        String::new(),
    )
    .await
}

/// `POST /surveys/{id}/remind`.
pub async fn remind(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path(id): Path<i64>,
    form: Result<Form<SendForm>, FormRejection>,
) -> Response {
    let after = form.ok().and_then(|Form(f)| f.after_days);
    let result = async {
        let after = match after.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
            None => None,
            Some(d) => Some(d.parse::<i64>().map_err(|_| {
                ApiError::BadBody(format!("after_days: {d:?} is not a whole number of days"))
            })?),
        };
        let policy = surveys::reminder_policy(after, None)?;
        surveys::send_round(&state, &principal, id, Some(policy)).await
    }
    .await
    .map(|r| send_text(&r, "reminders"));
    outcome(
        &state,
        &principal,
        &headers,
        id,
        result,
        None,
        String::new(),
    )
    .await
}
