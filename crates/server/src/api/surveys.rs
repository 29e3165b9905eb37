//! Survey programs (issue 12): create, edit (a live survey's edit is a new
//! version; answers keep the version they answered), open, close, export
//! and import as JSON; invitations from a contact list or a segment, each
//! with a personal link, sent and reminded by e-mail; response rates by
//! segment and channel.

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use northstar_core::field::FieldError;
use northstar_core::survey::SurveyDefinition;
use northstar_store::survey_records::{
    self as records, Invitation, InvitationsCreated, NewInvitation, RateCell, Survey, SurveyStatus,
};
use serde::{Deserialize, Serialize};

use super::departments::field_errors;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::{AppState, survey_links};

/// Largest survey document or import a request may carry.
pub const MAX_SURVEY_BODY_BYTES: usize = 1 << 20;
/// Largest contact list a request may carry.
pub const MAX_CONTACTS_BODY_BYTES: usize = 32 << 20;
/// Days an invitation's link works, unless the request says.
pub const DEFAULT_LINK_DAYS: i64 = 30;
/// Longest validity of a link.
pub const MAX_LINK_DAYS: i64 = 365;
/// Most e-mails one send or reminder round delivers (the rest wait for
/// the next round).
pub const MAX_SENDS_PER_ROUND: usize = 5_000;
/// Longest a send or reminder round runs before it stops and reports
/// that more are due (within the request deadline).
pub const SEND_BUDGET: std::time::Duration = std::time::Duration::from_secs(20);
/// Most rows the invitations CSV carries.
pub const MAX_INVITATIONS_CSV_ROWS: usize = 200_000;
/// Export format tag.
pub const EXPORT_FORMAT: &str = "northstar.survey/1";

pub(crate) fn now_unix() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// A survey as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct SurveyView {
    pub id: i64,
    pub name: String,
    pub status: SurveyStatus,
    pub version: i64,
    pub definition: SurveyDefinition,
    /// The anonymous link's path (when the survey allows it).
    pub anonymous_link: Option<String>,
    /// The widget's answer endpoint (when origins are allowed).
    pub widget_endpoint: Option<String>,
    pub public_slug: String,
    pub versions: Vec<VersionView>,
    pub created_by: String,
    pub created_at: String,
    pub updated_by: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct VersionView {
    pub version: i64,
    pub created_by: String,
    pub created_at: String,
}

pub(crate) fn at(unix: i64) -> String {
    jiff::Timestamp::from_second(unix)
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// A stored document read back (written by this server, so a failure is
/// corruption, not the client's fault).
pub(crate) fn definition_of(document: &str) -> Result<SurveyDefinition, ApiError> {
    serde_json::from_str(document).map_err(|e| {
        ApiError::Store(northstar_store::StoreError::Corrupt(format!(
            "a stored survey definition: {e}"
        )))
    })
}

/// Whether a principal may see a survey: organisation roles all, a
/// department role its department's.
fn visible(principal: &Principal, definition: &SurveyDefinition) -> bool {
    match principal.scope.department() {
        None => true,
        Some(own) => definition.department.as_deref() == Some(own),
    }
}

/// A survey with its current definition, or 404 (also for a survey of
/// another department).
pub async fn load(
    state: &AppState,
    principal: &Principal,
    id: i64,
) -> Result<(Survey, SurveyDefinition), ApiError> {
    let backend = state.store.backend();
    let missing = || ApiError::NotFound(format!("survey {id} does not exist"));
    let survey = backend.survey(id).await?.ok_or_else(missing)?;
    let version = backend
        .survey_version(id, survey.current_version)
        .await?
        .ok_or_else(missing)?;
    let definition = definition_of(&version.document)?;
    if !visible(principal, &definition) {
        return Err(missing());
    }
    Ok((survey, definition))
}

pub async fn view(
    state: &AppState,
    principal: &Principal,
    id: i64,
) -> Result<SurveyView, ApiError> {
    let (survey, definition) = load(state, principal, id).await?;
    let versions = state.store.backend().survey_versions(id).await?;
    Ok(view_of(survey, definition, &versions))
}

fn view_of(
    survey: Survey,
    definition: SurveyDefinition,
    versions: &[records::SurveyVersion],
) -> SurveyView {
    SurveyView {
        id: survey.id,
        name: survey.name,
        status: survey.status,
        version: survey.current_version,
        anonymous_link: definition
            .anonymous_links
            .then(|| format!("/s/a/{}", survey.public_slug)),
        widget_endpoint: (!definition.allowed_origins.is_empty())
            .then(|| format!("/api/v1/public/widget/{}", survey.public_slug)),
        definition,
        public_slug: survey.public_slug,
        versions: versions
            .iter()
            .map(|v| VersionView {
                version: v.version,
                created_by: v.created_by.clone(),
                created_at: at(v.created_unix),
            })
            .collect(),
        created_by: survey.created_by,
        created_at: at(survey.created_unix),
        updated_by: survey.updated_by,
        updated_at: at(survey.updated_unix),
    }
}

/// A survey in a list.
#[derive(Debug, Clone, Serialize)]
pub struct SurveySummary {
    pub id: i64,
    pub name: String,
    pub title: String,
    pub status: SurveyStatus,
    pub version: i64,
    pub touchpoint: String,
    pub department: Option<String>,
    pub languages: Vec<String>,
    pub questions: usize,
    pub anonymous_link: Option<String>,
}

/// Every survey the principal may see, by name.
pub async fn list(state: &AppState, principal: &Principal) -> Result<Vec<SurveySummary>, ApiError> {
    let backend = state.store.backend();
    let mut out = Vec::new();
    for s in backend.surveys().await? {
        let Some(v) = backend.survey_version(s.id, s.current_version).await? else {
            continue;
        };
        let d = definition_of(&v.document)?;
        if !visible(principal, &d) {
            continue;
        }
        out.push(SurveySummary {
            id: s.id,
            title: d.text_in(&d.title, "").to_string(),
            status: s.status,
            version: s.current_version,
            touchpoint: d.touchpoint.clone(),
            department: d.department.clone(),
            languages: d.languages.clone(),
            questions: d.questions.len(),
            anonymous_link: d.anonymous_links.then(|| format!("/s/a/{}", s.public_slug)),
            name: s.name,
        });
    }
    Ok(out)
}

/// `GET /api/v1/surveys`.
pub async fn get_surveys(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<SurveySummary>>, ApiError> {
    Ok(Json(list(&state, &principal).await?))
}

/// `GET /api/v1/surveys/{id}`.
pub async fn get_survey(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
) -> Result<Json<SurveyView>, ApiError> {
    Ok(Json(view(&state, &principal, id).await?))
}

fn body_bytes(
    body: Result<Bytes, BytesRejection>,
    limit: usize,
    what: &str,
) -> Result<Bytes, ApiError> {
    body.map_err(|e| match e {
        BytesRejection::FailedToBufferBody(_) => ApiError::TooLarge(format!(
            "the body is larger than {} KiB; a {what} is at most that",
            limit >> 10
        )),
        other => ApiError::BadBody(other.to_string()),
    })
}

/// A definition from JSON: a bare definition or an export (whose
/// `definition` is used).
pub fn definition_from_json(bytes: &[u8]) -> Result<SurveyDefinition, ApiError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| ApiError::BadBody(format!("not JSON: {e}")))?;
    let inner = match value.get("format") {
        Some(serde_json::Value::String(f)) if f == EXPORT_FORMAT => value
            .get("definition")
            .cloned()
            .ok_or_else(|| ApiError::BadBody("an export without a definition".into()))?,
        Some(other) => {
            return Err(ApiError::BadBody(format!(
                "format {other} is not {EXPORT_FORMAT:?}; export the survey from Northstar again or send the bare definition"
            )));
        }
        None => value,
    };
    let definition: SurveyDefinition = serde_json::from_value(inner)
        .map_err(|e| ApiError::BadBody(format!("not a survey definition: {e}")))?;
    definition.check().map_err(field_errors)?;
    Ok(definition)
}

/// A department role may only design its department's surveys.
fn check_scope(principal: &Principal, definition: &SurveyDefinition) -> Result<(), ApiError> {
    if visible(principal, definition) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "a department role designs surveys of its own department only".into(),
        ))
    }
}

fn document_of(definition: &SurveyDefinition) -> Result<String, ApiError> {
    serde_json::to_string(definition).map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// Creates a draft survey (API, page, import, demo).
pub async fn create(
    state: &AppState,
    principal: &Principal,
    definition: &SurveyDefinition,
    now: i64,
) -> Result<i64, ApiError> {
    check_scope(principal, definition)?;
    let slug = survey_links::random_id(20);
    Ok(state
        .store
        .backend()
        .create_survey(
            &definition.name,
            &slug,
            &document_of(definition)?,
            &principal.who,
            now,
        )
        .await?)
}

/// Changes a survey's definition (a live survey's becomes a new version).
pub async fn update(
    state: &AppState,
    principal: &Principal,
    id: i64,
    definition: &SurveyDefinition,
) -> Result<i64, ApiError> {
    let (survey, current) = load(state, principal, id).await?;
    check_scope(principal, definition)?;
    if definition.name != survey.name {
        return Err(ApiError::BadBody(format!(
            "name: a survey keeps its name ({:?}: its answers are filed under it); create a new survey for {:?}",
            survey.name, definition.name
        )));
    }
    if current == *definition {
        return Ok(survey.current_version);
    }
    let version = state
        .store
        .backend()
        .update_survey(id, &document_of(definition)?, &principal.who, now_unix())
        .await?;
    state.surveys.forget(id);
    Ok(version)
}

/// `POST /api/v1/surveys`: a definition (or an export) → a draft survey.
pub async fn post_survey(
    State(state): State<AppState>,
    principal: Principal,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<SurveyView>), ApiError> {
    let bytes = body_bytes(body, MAX_SURVEY_BODY_BYTES, "survey")?;
    let definition = definition_from_json(&bytes)?;
    let id = create(&state, &principal, &definition, now_unix()).await?;
    Ok((
        StatusCode::CREATED,
        Json(view(&state, &principal, id).await?),
    ))
}

/// `PUT /api/v1/surveys/{id}`: a new definition.
pub async fn put_survey(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<SurveyView>, ApiError> {
    let bytes = body_bytes(body, MAX_SURVEY_BODY_BYTES, "survey")?;
    let definition = definition_from_json(&bytes)?;
    update(&state, &principal, id, &definition).await?;
    Ok(Json(view(&state, &principal, id).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    pub status: String,
}

/// Opens, closes or reopens a survey.
pub async fn set_status(
    state: &AppState,
    principal: &Principal,
    id: i64,
    status: &str,
) -> Result<(), ApiError> {
    load(state, principal, id).await?;
    let status = SurveyStatus::parse(status).ok_or_else(|| {
        ApiError::BadBody(format!(
            "status: {status:?} is not live or closed (draft → live → closed, closed → live)"
        ))
    })?;
    state
        .store
        .backend()
        .set_survey_status(id, status, &principal.who, now_unix())
        .await?;
    state.surveys.forget(id);
    Ok(())
}

/// `POST /api/v1/surveys/{id}/status` `{"status": "live" | "closed"}`.
pub async fn post_status(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<SurveyView>, ApiError> {
    let bytes = body_bytes(body, MAX_SURVEY_BODY_BYTES, "status change")?;
    let body: StatusBody = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::BadBody(format!(
            "not a status change ({{\"status\": \"live\"}}): {e}"
        ))
    })?;
    set_status(&state, &principal, id, &body.status).await?;
    Ok(Json(view(&state, &principal, id).await?))
}

/// A survey as a file: its current definition, and every version's.
#[derive(Debug, Clone, Serialize)]
pub struct SurveyExport {
    pub format: &'static str,
    pub exported_at: String,
    pub version: i64,
    pub definition: SurveyDefinition,
    pub versions: Vec<ExportedVersion>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExportedVersion {
    pub version: i64,
    pub created_at: String,
    pub definition: SurveyDefinition,
}

/// `GET /api/v1/surveys/{id}/export`: the survey as JSON, to import into
/// another Northstar (`POST /api/v1/surveys/import`).
pub async fn get_export(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let (survey, definition) = load(&state, &principal, id).await?;
    let mut versions = Vec::new();
    for v in state.store.backend().survey_versions(id).await? {
        versions.push(ExportedVersion {
            version: v.version,
            created_at: at(v.created_unix),
            definition: definition_of(&v.document)?,
        });
    }
    let export = SurveyExport {
        format: EXPORT_FORMAT,
        exported_at: at(now_unix()),
        version: survey.current_version,
        definition,
        versions,
    };
    let body =
        serde_json::to_vec_pretty(&export).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"survey-{}.json\"", survey.name),
            ),
        ],
        body,
    )
        .into_response())
}

/// What an import did.
#[derive(Debug, Clone, Serialize)]
pub struct Imported {
    pub id: i64,
    /// created, updated (a new version of the survey of that name) or
    /// unchanged (the same definition again: importing twice is a no-op).
    pub outcome: &'static str,
    pub version: i64,
}

/// Imports a definition: a new survey, or a new version of the survey of
/// that name, or nothing when it is the same.
pub async fn import(
    state: &AppState,
    principal: &Principal,
    definition: &SurveyDefinition,
) -> Result<Imported, ApiError> {
    match state
        .store
        .backend()
        .survey_by_name(&definition.name)
        .await?
    {
        None => {
            let id = create(state, principal, definition, now_unix()).await?;
            Ok(Imported {
                id,
                outcome: "created",
                version: 1,
            })
        }
        Some(existing) => {
            let (_, current) = load(state, principal, existing.id).await?;
            if current == *definition {
                return Ok(Imported {
                    id: existing.id,
                    outcome: "unchanged",
                    version: existing.current_version,
                });
            }
            let version = update(state, principal, existing.id, definition).await?;
            Ok(Imported {
                id: existing.id,
                outcome: "updated",
                version,
            })
        }
    }
}

/// `POST /api/v1/surveys/import`: an export (or a bare definition).
pub async fn post_import(
    State(state): State<AppState>,
    principal: Principal,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Imported>, ApiError> {
    let bytes = body_bytes(body, MAX_SURVEY_BODY_BYTES, "survey")?;
    let definition = definition_from_json(&bytes)?;
    Ok(Json(import(&state, &principal, &definition).await?))
}

// ---------------------------------------------------------------- invitations

/// One contact to invite.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    pub customer_id: String,
    pub email: String,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub segment: Option<String>,
}

/// A contact row that was not invited, and why.
#[derive(Debug, Clone, Serialize)]
pub struct RejectedContact {
    /// CSV line (1 = the header) or list position (from 0).
    pub at: String,
    pub field: String,
    pub problem: String,
    pub fix: String,
}

/// What an invitation request did.
#[derive(Debug, Clone, Serialize)]
pub struct InvitationReport {
    #[serde(flatten)]
    pub created: InvitationsCreated,
    pub rejected: Vec<RejectedContact>,
    /// Rows read.
    pub rows: u64,
    pub expires_at: String,
}

/// `{"segment": "enterprise"}` (customers of the segment whose record has
/// an `email` attribute) or `{"contacts": [...]}`; optional `link_days`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InviteBody {
    #[serde(default)]
    pub segment: Option<String>,
    #[serde(default)]
    pub contacts: Option<Vec<Contact>>,
    #[serde(default)]
    pub link_days: Option<i64>,
}

fn reject(at: String, e: FieldError) -> RejectedContact {
    RejectedContact {
        at,
        field: e.field,
        problem: e.problem,
        fix: e.fix,
    }
}

/// Checks one contact against the survey: an address, a known language.
fn check_contact(
    c: &Contact,
    definition: &SurveyDefinition,
) -> Result<(String, String), FieldError> {
    use std::str::FromStr;
    if c.customer_id.trim().is_empty() {
        return Err(FieldError::new(
            "customer_id",
            "is empty",
            "give the customer's id",
        ));
    }
    northstar_core::field::within(
        "customer_id",
        c.customer_id.trim(),
        northstar_core::field::ID_LIMIT,
    )?;
    let email = c.email.trim().to_ascii_lowercase();
    if email.len() > records::MAX_EMAIL_BYTES || lettre::Address::from_str(&email).is_err() {
        return Err(FieldError::new(
            "email",
            format!("{:?} is not an e-mail address", c.email.trim()),
            "write one address such as ana@example.com",
        ));
    }
    let language = match c
        .language
        .as_deref()
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        None => definition
            .languages
            .first()
            .cloned()
            .unwrap_or_else(|| "en".into()),
        Some(l) => definition
            .languages
            .iter()
            .find(|x| x.eq_ignore_ascii_case(l))
            .cloned()
            .ok_or_else(|| {
                FieldError::new(
                    "language",
                    format!("{l:?} is not one of the survey's languages"),
                    format!(
                        "use one of {}, or leave it empty for the default",
                        definition.languages.join(", ")
                    ),
                )
            })?,
    };
    Ok((email, language))
}

/// Contacts read, each with where it was (`line 3`), and the rows rejected.
pub type ContactRows = (Vec<(String, Contact)>, Vec<RejectedContact>);

/// Reads a contact list CSV: `customer_id`, `email`, optional `language`
/// and `segment` (other columns are ignored). Rows with a problem are
/// reported with their line; the others are returned.
pub fn contacts_from_csv(bytes: &[u8]) -> Result<ContactRows, ApiError> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(bytes);
    let headers = reader
        .headers()
        .map_err(|e| ApiError::BadBody(format!("line 1: {e}")))?
        .clone();
    let find = |name: &str| {
        headers.iter().position(|h| {
            h.trim()
                .trim_start_matches('\u{feff}')
                .eq_ignore_ascii_case(name)
        })
    };
    let (Some(id_col), Some(email_col)) = (find("customer_id"), find("email")) else {
        return Err(ApiError::BadBody(format!(
            "line 1: the header needs customer_id and email (it has {}); add them, with optional language and segment",
            headers.iter().collect::<Vec<_>>().join(", ")
        )));
    };
    let language_col = find("language");
    let segment_col = find("segment");
    let mut rows = Vec::new();
    let mut rejected = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = record
            .as_ref()
            .ok()
            .and_then(|r| r.position())
            .map_or(i as u64 + 2, |p| p.line());
        if rows.len() + rejected.len() >= records::MAX_INVITATIONS_PER_CALL {
            return Err(ApiError::TooLarge(format!(
                "line {line}: a contact list has at most {} rows; split the file",
                records::MAX_INVITATIONS_PER_CALL
            )));
        }
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                rejected.push(RejectedContact {
                    at: format!("line {line}"),
                    field: String::new(),
                    problem: e.to_string(),
                    fix: "fix the CSV quoting of this line".into(),
                });
                continue;
            }
        };
        let get = |c: Option<usize>| c.and_then(|c| record.get(c)).map(|v| v.trim().to_string());
        rows.push((
            format!("line {line}"),
            Contact {
                customer_id: get(Some(id_col)).unwrap_or_default(),
                email: get(Some(email_col)).unwrap_or_default(),
                language: get(language_col).filter(|v| !v.is_empty()),
                segment: get(segment_col).filter(|v| !v.is_empty()),
            },
        ));
    }
    Ok((rows, rejected))
}

/// Invites contacts (each checked; the bad ones reported, the good ones
/// invited — inviting the same list again adds nobody).
pub async fn invite(
    state: &AppState,
    principal: &Principal,
    id: i64,
    contacts: Vec<(String, Contact)>,
    mut rejected: Vec<RejectedContact>,
    link_days: Option<i64>,
) -> Result<InvitationReport, ApiError> {
    let (survey, definition) = load(state, principal, id).await?;
    if survey.status == SurveyStatus::Closed {
        return Err(ApiError::Store(northstar_store::StoreError::Refused(
            format!("survey {:?} is closed; reopen it to invite", survey.name),
        )));
    }
    let days = link_days.unwrap_or(DEFAULT_LINK_DAYS);
    if !(1..=MAX_LINK_DAYS).contains(&days) {
        return Err(ApiError::BadBody(format!(
            "link_days: {days} is not 1 to {MAX_LINK_DAYS}"
        )));
    }
    let rows_read = (contacts.len() + rejected.len()) as u64;
    let key = survey_links::link_key(state.store.as_ref()).await?;
    // Segments of customers the list does not give, from their records.
    let ids: Vec<String> = contacts
        .iter()
        .filter(|(_, c)| c.segment.is_none())
        .map(|(_, c)| c.customer_id.trim().to_string())
        .collect();
    let known: HashMap<String, String> = state
        .store
        .backend()
        .customer_segments_of(&ids)
        .await?
        .into_iter()
        .collect();
    let mut seen = std::collections::HashSet::new();
    let mut rows = Vec::with_capacity(contacts.len());
    for (at, c) in contacts {
        match check_contact(&c, &definition) {
            Err(e) => rejected.push(reject(at, e)),
            Ok((email, language)) => {
                let customer_id = c.customer_id.trim().to_string();
                if !seen.insert(customer_id.clone()) {
                    rejected.push(reject(
                        at,
                        FieldError::new(
                            "customer_id",
                            format!("{customer_id:?} is listed twice"),
                            "list each customer once (the first row is invited)",
                        ),
                    ));
                    continue;
                }
                let segment = c
                    .segment
                    .clone()
                    .or_else(|| known.get(&customer_id).cloned())
                    .unwrap_or_default();
                if let Err(e) = northstar_core::field::within(
                    "segment",
                    &segment,
                    northstar_core::field::DIMENSION_LIMIT,
                ) {
                    rejected.push(reject(at, e));
                    continue;
                }
                let response_id = format!("inv-{}-{}", survey.id, survey_links::random_id(24));
                let token = survey_links::token(&key, &response_id);
                rows.push(NewInvitation {
                    customer_id,
                    email,
                    language,
                    segment,
                    channel: "email".into(),
                    token_hash: survey_links::token_hash(&token),
                    response_id,
                });
            }
        }
    }
    let now = now_unix();
    let expires = now + days * 86_400;
    let created = state
        .store
        .backend()
        .create_invitations(id, &rows, expires, &principal.who, now)
        .await?;
    Ok(InvitationReport {
        created,
        rejected,
        rows: rows_read,
        expires_at: at(expires),
    })
}

/// `POST /api/v1/surveys/{id}/invitations`: a contact list as CSV
/// (`text/csv`), or JSON `{"contacts": [...]}` or `{"segment": "…"}`.
pub async fn post_invitations(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<InvitationReport>, ApiError> {
    let bytes = body_bytes(body, MAX_CONTACTS_BODY_BYTES, "contact list")?;
    let csv = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/csv"));
    let report = if csv {
        let (contacts, rejected) = contacts_from_csv(&bytes)?;
        invite(&state, &principal, id, contacts, rejected, None).await?
    } else {
        let body: InviteBody = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::BadBody(format!(
                "not an invitation request ({{\"segment\": \"enterprise\"}} or {{\"contacts\": [{{\"customer_id\", \"email\"}}]}}; or send a CSV as text/csv): {e}"
            ))
        })?;
        let contacts = match (body.segment, body.contacts) {
            (Some(segment), None) => segment_contacts(&state, &segment).await?,
            (None, Some(list)) => {
                if list.len() > records::MAX_INVITATIONS_PER_CALL {
                    return Err(ApiError::TooLarge(format!(
                        "contacts: at most {} per request",
                        records::MAX_INVITATIONS_PER_CALL
                    )));
                }
                list.into_iter()
                    .enumerate()
                    .map(|(i, c)| (format!("contacts[{i}]"), c))
                    .collect()
            }
            _ => {
                return Err(ApiError::BadBody("give either segment or contacts".into()));
            }
        };
        invite(&state, &principal, id, contacts, Vec::new(), body.link_days).await?
    };
    Ok(Json(report))
}

/// The customers of a segment whose record names an e-mail address (a
/// customers CSV with an `email` column, and optionally `language`).
pub async fn segment_contacts(
    state: &AppState,
    segment: &str,
) -> Result<Vec<(String, Contact)>, ApiError> {
    let rows = state
        .store
        .backend()
        .customer_contacts(segment, records::MAX_INVITATIONS_PER_CALL + 1)
        .await?;
    if rows.len() > records::MAX_INVITATIONS_PER_CALL {
        return Err(ApiError::TooLarge(format!(
            "segment {segment:?} has more than {} customers with an address; invite it in parts with contact lists",
            records::MAX_INVITATIONS_PER_CALL
        )));
    }
    Ok(rows
        .into_iter()
        .map(|c| {
            (
                format!("customer {}", c.customer_id),
                Contact {
                    customer_id: c.customer_id,
                    email: c.email,
                    language: c.language,
                    segment: Some(segment.to_string()),
                },
            )
        })
        .collect())
}

// ------------------------------------------------------------ sending e-mail

/// What a send or reminder round did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SendReport {
    pub sent: u64,
    pub failed: u64,
    /// Why the failures failed (first few).
    pub problems: Vec<String>,
    /// More are due than one round sends.
    pub more_due: bool,
}

/// Sends the survey's unsent invitations (`reminder` false), or reminds
/// those who have not answered `after_days` after the last e-mail, at most
/// `max_reminders` times.
pub async fn send_round(
    state: &AppState,
    principal: &Principal,
    id: i64,
    reminder: Option<(i64, i64)>,
) -> Result<SendReport, ApiError> {
    let (survey, definition) = load(state, principal, id).await?;
    if survey.status != SurveyStatus::Live {
        return Err(ApiError::Store(northstar_store::StoreError::Refused(
            format!(
                "survey {:?} is {}; open it (live) before sending",
                survey.name,
                survey.status.as_str()
            ),
        )));
    }
    let Some(mailer) = state.mailer.clone() else {
        return Err(ApiError::BadRequest(
            "no SMTP server is configured; start the server with --smtp-url, --mail-from and --public-url".into(),
        ));
    };
    let now = now_unix();
    let backend = state.store.backend();
    let due = match reminder {
        None => {
            backend
                .invitations_to_send(id, now, MAX_SENDS_PER_ROUND + 1)
                .await?
        }
        Some((after_days, max_reminders)) => {
            backend
                .invitations_to_remind(
                    id,
                    now - after_days * 86_400,
                    max_reminders,
                    now,
                    MAX_SENDS_PER_ROUND + 1,
                )
                .await?
        }
    };
    let more_due = due.len() > MAX_SENDS_PER_ROUND;
    let key = survey_links::link_key(state.store.as_ref()).await?;
    let mut report = SendReport {
        more_due,
        ..Default::default()
    };
    let started = std::time::Instant::now();
    for invitation in due.iter().take(MAX_SENDS_PER_ROUND) {
        // Within the request's deadline: the rest wait for the next round.
        if started.elapsed() > SEND_BUDGET {
            report.more_due = true;
            break;
        }
        let token = survey_links::token(&key, &invitation.response_id);
        let opt_out = mailer.public_link(&format!("/opt-out/{token}"));
        let message = crate::invitation_mail::compose(
            &definition,
            invitation,
            &mailer.public_link(&format!("/s/{token}")),
            &opt_out,
            reminder.is_some(),
        );
        match mailer
            .send_message(&invitation.email, &message, &opt_out)
            .await
        {
            Ok(()) => {
                report.sent += 1;
                // Recorded at once: a round cut short never sends it twice.
                backend
                    .mark_invitations_sent(&[invitation.id], reminder.is_some(), now_unix())
                    .await?;
            }
            Err(e) if e.this_message_only => {
                report.failed += 1;
                if report.problems.len() < 10 {
                    report
                        .problems
                        .push(format!("invitation {}: {}", invitation.id, e.message));
                }
            }
            Err(e) => {
                report.failed += 1;
                report.problems.push(e.message);
                break;
            }
        }
    }
    crate::auth::audit(
        state.store.as_ref(),
        &principal.who,
        if reminder.is_some() {
            "survey.remind"
        } else {
            "survey.send"
        },
        &format!("survey/{id}"),
        &format!("sent {}, failed {}", report.sent, report.failed),
    )
    .await;
    Ok(report)
}

/// `POST /api/v1/surveys/{id}/send`: e-mails every invitation not sent yet.
pub async fn post_send(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
) -> Result<Json<SendReport>, ApiError> {
    Ok(Json(send_round(&state, &principal, id, None).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReminderBody {
    /// Days since the last e-mail (default 3).
    #[serde(default)]
    pub after_days: Option<i64>,
    /// Most reminders per invitation (default 2).
    #[serde(default)]
    pub max_reminders: Option<i64>,
}

/// Checks a reminder request's numbers.
pub fn reminder_policy(
    after_days: Option<i64>,
    max_reminders: Option<i64>,
) -> Result<(i64, i64), ApiError> {
    let after = after_days.unwrap_or(3);
    let max = max_reminders.unwrap_or(2);
    if !(0..=365).contains(&after) {
        return Err(ApiError::BadBody(format!(
            "after_days: {after} is not 0 to 365"
        )));
    }
    if !(1..=5).contains(&max) {
        return Err(ApiError::BadBody(format!(
            "max_reminders: {max} is not 1 to 5 (more would be a nuisance)"
        )));
    }
    Ok((after, max))
}

/// `POST /api/v1/surveys/{id}/reminders` `{"after_days": 3, "max_reminders": 2}`:
/// reminds those who have not answered.
pub async fn post_reminders(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<SendReport>, ApiError> {
    let bytes = body_bytes(body, MAX_SURVEY_BODY_BYTES, "reminder request")?;
    let body: ReminderBody = if bytes.iter().all(u8::is_ascii_whitespace) {
        ReminderBody {
            after_days: None,
            max_reminders: None,
        }
    } else {
        serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::BadBody(format!("not a reminder request: {e}")))?
    };
    let policy = reminder_policy(body.after_days, body.max_reminders)?;
    Ok(Json(
        send_round(&state, &principal, id, Some(policy)).await?,
    ))
}

// -------------------------------------------------------------- response rates

/// Invitations counted, with rates.
#[derive(Debug, Clone, Serialize)]
pub struct RateRow {
    pub segment: String,
    pub channel: String,
    pub invited: u64,
    pub sent: u64,
    pub opened: u64,
    pub answered: u64,
    /// answered ÷ invited (AAPOR's RR1: every invited customer counts as
    /// eligible, so invitations not sent yet lower it), `None` without
    /// invitations.
    pub response_rate: Option<f64>,
    /// opened ÷ sent.
    pub open_rate: Option<f64>,
}

fn rate_row(c: &RateCell) -> RateRow {
    let rate = |x: u64, of: u64| (of > 0).then(|| x as f64 / of as f64);
    RateRow {
        segment: c.segment.clone(),
        channel: c.channel.clone(),
        invited: c.invited,
        sent: c.sent,
        opened: c.opened,
        answered: c.answered,
        response_rate: rate(c.answered, c.invited),
        open_rate: rate(c.opened, c.sent),
    }
}

/// A survey's response rates.
#[derive(Debug, Clone, Serialize)]
pub struct ResponseRates {
    pub survey_id: i64,
    pub survey: String,
    pub total: RateRow,
    pub by_segment: Vec<RateRow>,
    pub method: String,
    pub period: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateQuery {
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
}

fn day_param(name: &str, v: Option<&str>) -> Result<Option<i64>, ApiError> {
    v.filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<jiff::civil::Date>()
                .ok()
                .map(|d| i64::from(northstar_core::calendar::day_of_date(d)) * 86_400)
                .ok_or_else(|| {
                    ApiError::parameter(name, format!("{s:?} is not a date (YYYY-MM-DD)"))
                })
        })
        .transpose()
}

/// Invitations created in the period (UTC days, `to` inclusive).
pub async fn rates(
    state: &AppState,
    principal: &Principal,
    id: i64,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<ResponseRates, ApiError> {
    let (survey, _) = load(state, principal, id).await?;
    let from_unix = day_param("from", from)?.unwrap_or(0);
    let to_unix = day_param("to", to)?.map_or(i64::MAX, |t| t + 86_400);
    let mut cells = state
        .store
        .backend()
        .response_rates(id, from_unix, to_unix)
        .await?;
    // A department role sees its own department's survey whole; segment
    // rows are counts, not people.
    cells.sort_by(|a, b| (&a.segment, &a.channel).cmp(&(&b.segment, &b.channel)));
    let mut total = RateCell {
        segment: "all".into(),
        channel: "all".into(),
        invited: 0,
        sent: 0,
        opened: 0,
        answered: 0,
    };
    for c in &cells {
        total.invited += c.invited;
        total.sent += c.sent;
        total.opened += c.opened;
        total.answered += c.answered;
    }
    Ok(ResponseRates {
        survey_id: id,
        survey: survey.name,
        total: rate_row(&total),
        by_segment: cells.iter().map(rate_row).collect(),
        method: crate::report::RESPONSE_RATE_METHOD.to_string()
            + "; open rate = links opened ÷ invitations sent",
        period: format!(
            "invitations created {} to {}",
            from.filter(|s| !s.is_empty()).unwrap_or("from the first"),
            to.filter(|s| !s.is_empty()).unwrap_or("today")
        ),
    })
}

/// `GET /api/v1/surveys/{id}/response-rates?from=&to=`.
pub async fn get_rates(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
    Query(q): Query<RateQuery>,
) -> Result<Json<ResponseRates>, ApiError> {
    Ok(Json(
        rates(&state, &principal, id, q.from.as_deref(), q.to.as_deref()).await?,
    ))
}

/// `GET /api/v1/surveys/{id}/invitations.csv`: who was invited and who
/// answered, with personal links (for sending through another channel);
/// audited like every export.
pub async fn get_invitations_csv(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (survey, _) = load(&state, &principal, id).await?;
    crate::auth::audit_export(
        state.store.as_ref(),
        &principal.who,
        &format!("survey/{id}/invitations.csv"),
        &survey.name,
    )
    .await?;
    let key = survey_links::link_key(state.store.as_ref()).await?;
    let base = crate::views::surveys::origin(&state, &headers);
    let mut out = csv::Writer::from_writer(Vec::new());
    let write = |out: &mut csv::Writer<Vec<u8>>, row: &[&str]| {
        out.write_record(row)
            .map_err(|e| ApiError::BadRequest(e.to_string()))
    };
    write(
        &mut out,
        &[
            "customer_id",
            "email",
            "language",
            "segment",
            "channel",
            "link",
            "sent_at",
            "reminders",
            "opened_at",
            "answered_at",
            "opted_out",
            "expires_at",
        ],
    )?;
    let mut after = 0;
    let mut rows = 0usize;
    loop {
        let page: Vec<Invitation> = state
            .store
            .backend()
            .invitations(id, after, records::MAX_INVITATION_PAGE)
            .await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        rows += page.len();
        if rows > MAX_INVITATIONS_CSV_ROWS {
            return Err(ApiError::TooLarge(format!(
                "the survey has more than {MAX_INVITATIONS_CSV_ROWS} invitations, more than one export carries; split the survey's invitations into waves of surveys"
            )));
        }
        for i in &page {
            let link = format!("{base}/s/{}", survey_links::token(&key, &i.response_id));
            let opt = |v: Option<i64>| v.map(at).unwrap_or_default();
            write(
                &mut out,
                &[
                    &super::csv_export::text(&i.customer_id),
                    &super::csv_export::text(&i.email),
                    &i.language,
                    &super::csv_export::text(&i.segment),
                    &i.channel,
                    &link,
                    &opt(i.sent_unix),
                    &i.reminders.to_string(),
                    &opt(i.opened_unix),
                    &opt(i.answered_unix),
                    if i.opted_out { "yes" } else { "no" },
                    &at(i.expires_unix),
                ],
            )?;
        }
        if page.len() < records::MAX_INVITATION_PAGE {
            break;
        }
    }
    let body = out
        .into_inner()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"invitations-{}.csv\"", survey.name),
            ),
        ],
        body,
    )
        .into_response())
}

/// Per question key, its text in every language (methodology cards).
pub fn wording(definition: &SurveyDefinition) -> BTreeMap<String, Vec<(String, String)>> {
    definition
        .questions
        .iter()
        .map(|q| {
            (
                q.key.clone(),
                definition
                    .languages
                    .iter()
                    .map(|l| (l.clone(), definition.text_in(&q.text, l).to_string()))
                    .collect(),
            )
        })
        .collect()
}
