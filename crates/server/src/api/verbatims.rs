//! Single responses with their comments (verbatims), for roles that may
//! read them, within their scope, with personal data masked for roles that
//! may not see it (`northstar_core::personal_data`): every route that lets
//! a comment leave the server builds it through [`ResponseView::of`].

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use northstar_core::access::Scope;
use northstar_core::response::NewResponse;
use northstar_core::{Dimension, personal_data};
use northstar_store::backend::{MAX_RESPONSE_PAGE, ResponseListQuery};
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;

// The view, its CSV header and the OpenAPI selection parameters name the
// dimensions as fields: a new dimension must be added to them too.
const _: () = assert!(
    northstar_core::Dimension::COUNT == 5,
    "add the new dimension to ResponseView, CsvExport::HEADER and doc::SelectionDoc"
);

/// One response as a caller may see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ResponseView {
    pub external_id: String,
    /// Null when the caller's role may not see customer ids.
    pub customer_id: Option<String>,
    pub submitted_at: String,
    pub survey: String,
    pub touchpoint: String,
    pub department: String,
    pub segment: String,
    pub channel: String,
    pub nps: Option<u8>,
    pub csat: Option<u8>,
    pub ces: Option<u8>,
    pub fcr: Option<bool>,
    /// E-mail addresses, phone numbers, card numbers and IBANs replaced by
    /// `[email]`, `[phone]`, `[card number]`, `[IBAN]` unless the caller's
    /// role may see personal data.
    pub comment: Option<String>,
    pub order_id: Option<String>,
    pub drivers: BTreeMap<String, u8>,
    /// Imported columns Northstar does not know (masked like comments).
    pub attributes: BTreeMap<String, String>,
    /// Whether personal data was masked for this caller.
    pub personal_data_masked: bool,
}

impl ResponseView {
    /// The response as `principal` may see it.
    pub fn of(r: NewResponse, principal: &Principal) -> Self {
        let unmasked = principal.sees_personal_data();
        let text = |t: String| if unmasked { t } else { personal_data::mask(&t) };
        ResponseView {
            customer_id: r.customer_id.filter(|_| unmasked),
            submitted_at: r.submitted_at,
            survey: r.dimensions.get(Dimension::Survey).to_string(),
            touchpoint: r.dimensions.get(Dimension::Touchpoint).to_string(),
            department: r.dimensions.get(Dimension::Department).to_string(),
            segment: r.dimensions.get(Dimension::Segment).to_string(),
            channel: r.dimensions.get(Dimension::Channel).to_string(),
            nps: r.nps,
            csat: r.csat,
            ces: r.ces,
            fcr: r.fcr,
            comment: r.comment.map(text),
            order_id: r.order_id,
            drivers: r.drivers,
            attributes: r
                .attributes
                .into_iter()
                .map(|(k, v)| (k, text(v)))
                .collect(),
            personal_data_masked: !unmasked,
            external_id: r.external_id,
        }
    }
}

/// Whether a response lies within a scope.
pub fn in_scope(r: &NewResponse, scope: &Scope) -> bool {
    match scope.department() {
        None => true,
        Some(own) => !own.is_empty() && r.dimensions.get(Dimension::Department) == own,
    }
}

/// One response by its external id. Another department's response reads
/// as missing (404), so its existence is not disclosed either.
#[utoipa::path(
    get,
    path = "/api/v1/responses/{external_id}",
    params(("external_id" = String, Path, description = "The response's own id, as imported")),
    responses(
        (status = 200, description = "The response, personal data masked for roles that may not see it", body = ResponseView),
        (status = 401, description = "No credentials, or an unknown or revoked token", body = super::doc::ErrorBody),
        (status = 403, description = "The role may not read single responses", body = super::doc::ErrorBody),
        (status = 404, description = "No such response within the caller's scope", body = super::doc::ErrorBody),
        (status = 500, description = "Internal error; quote the request id", body = super::doc::ErrorBody),
        (status = 503, description = "Busy (too many requests in flight) or past the request deadline", body = super::doc::ErrorBody),
    )
)]
pub async fn get_response(
    State(state): State<AppState>,
    principal: Principal,
    Path(external_id): Path<String>,
) -> Result<Json<ResponseView>, ApiError> {
    let missing = || ApiError::NotFound(format!("no response {external_id:?} that you may see"));
    if external_id.chars().count() > northstar_core::field::ID_LIMIT.max_chars
        || external_id.contains('\0')
    {
        return Err(missing());
    }
    let found = state.store.response(&external_id).await?;
    match found {
        Some(r) if in_scope(&r, &principal.scope) => Ok(Json(ResponseView::of(r, &principal))),
        _ => Err(missing()),
    }
}

/// Most rows a CSV export of responses carries (100 pages of the store's
/// largest page); a narrower filter exports the rest.
pub const MAX_EXPORT_ROWS: usize = 50_000;

/// A page of responses, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ResponsePage {
    pub items: Vec<ResponseView>,
    /// Pass as `before` for the next (older) page; null on the last page.
    pub next: Option<String>,
    /// Dimension → accepted values (any of), after the caller's scope.
    pub filter: BTreeMap<String, Vec<String>>,
    /// The department the caller's role restricts the list to.
    pub restricted_to: Option<String>,
    pub personal_data_masked: bool,
}

/// What a list request asks: the selection (already scoped), comments
/// only or not, the cursor and the page size.
pub struct ListRequest {
    pub selection: crate::report::Selection,
    pub query: ResponseListQuery,
}

/// Parses a list request's parameters (the selection's, plus
/// `with_comment`, `before`, `limit`).
pub fn list_request(pairs: &[(String, String)], scope: &Scope) -> Result<ListRequest, ApiError> {
    crate::params::reject_empty(pairs, &["from", "to", "with_comment", "before", "limit"])?;
    let p = crate::params::parse(pairs, &["with_comment", "before", "limit"], scope)?;
    let mut query = ResponseListQuery {
        selection: p.selection.respondents(),
        with_comment: true,
        before: None,
        limit: 50,
    };
    for (name, value) in pairs {
        let value = value.trim();
        match name.as_str() {
            "with_comment" => {
                query.with_comment = match value {
                    "true" | "yes" | "1" | "on" => true,
                    "false" | "no" | "0" | "off" | "" => value.is_empty(),
                    _ => {
                        return Err(ApiError::parameter(
                            "with_comment",
                            format!("{value:?} is not true or false"),
                        ));
                    }
                }
            }
            "before" if !value.is_empty() => {
                let cursor = value.split_once('.').and_then(|(unix, id)| {
                    let unix = unix.parse::<i64>().ok()?;
                    // As documented: digits, a dot, an id; 250 characters at most.
                    (!id.is_empty() && value.chars().count() <= 250).then(|| (unix, id.to_string()))
                });
                query.before = Some(cursor.ok_or_else(|| {
                    ApiError::parameter(
                        "before",
                        "is not a cursor; pass the `next` value of the previous page unchanged",
                    )
                })?);
            }
            "limit" if !value.is_empty() => {
                query.limit = value
                    .parse::<u32>()
                    .ok()
                    .filter(|l| (1..=MAX_RESPONSE_PAGE).contains(l))
                    .ok_or_else(|| {
                        ApiError::parameter(
                            "limit",
                            format!("{value:?} is not a number from 1 to {MAX_RESPONSE_PAGE}"),
                        )
                    })?;
            }
            _ => {}
        }
    }
    Ok(ListRequest {
        selection: p.selection,
        query,
    })
}

/// The cursor after a page: the last response's time and id.
fn cursor_after(items: &[NewResponse], limit: u32) -> Option<String> {
    if items.len() < limit as usize {
        return None;
    }
    items
        .last()
        .map(|r| format!("{}.{}", r.submitted_unix, r.external_id))
}

/// One page of responses for a caller, masked for its role.
pub async fn list_page(
    store: &dyn northstar_store::Store,
    principal: &Principal,
    request: &ListRequest,
) -> Result<ResponsePage, ApiError> {
    let rows = if request.selection.outside_scope {
        Vec::new()
    } else {
        store.list_responses(&request.query).await?
    };
    let next = cursor_after(&rows, request.query.limit);
    Ok(ResponsePage {
        items: rows
            .into_iter()
            .map(|r| ResponseView::of(r, principal))
            .collect(),
        next,
        filter: request.selection.filter_map(),
        restricted_to: request.selection.restricted_to.clone(),
        personal_data_masked: !principal.sees_personal_data(),
    })
}

/// Responses newest first, with their comments, within the caller's scope
/// and masked for its role.
#[utoipa::path(
    get,
    path = "/api/v1/responses",
    params(super::doc::SelectionDoc, super::doc::ResponseListDoc),
    responses(
        (status = 200, description = "A page of responses, newest first", body = ResponsePage),
        (status = 400, description = "A parameter is wrong; the message names it", body = super::doc::ErrorBody),
        (status = 401, description = "No credentials, or an unknown or revoked token", body = super::doc::ErrorBody),
        (status = 403, description = "The role may not read single responses", body = super::doc::ErrorBody),
        (status = 500, description = "Internal error; quote the request id", body = super::doc::ErrorBody),
        (status = 503, description = "Busy (too many requests in flight) or past the request deadline", body = super::doc::ErrorBody),
    )
)]
pub async fn list_responses(
    State(state): State<AppState>,
    principal: Principal,
    crate::params::QueryPairs(pairs): crate::params::QueryPairs,
) -> Result<Json<ResponsePage>, ApiError> {
    let request = list_request(&pairs, &principal.scope)?;
    Ok(Json(list_page(&*state.store, &principal, &request).await?))
}

/// The same responses as CSV (all pages, up to [`MAX_EXPORT_ROWS`]),
/// masked like the API; the export is audited.
#[utoipa::path(
    get,
    path = "/api/v1/responses.csv",
    params(super::doc::SelectionDoc, super::doc::ResponseListDoc),
    responses(
        (status = 200, description = "CSV, newest first, at most 50,000 rows", body = String, content_type = "text/csv"),
        (status = 400, description = "A parameter is wrong; the message names it", body = super::doc::ErrorBody),
        (status = 401, description = "No credentials, or an unknown or revoked token", body = super::doc::ErrorBody),
        (status = 403, description = "The role may not export", body = super::doc::ErrorBody),
        (status = 500, description = "Internal error; quote the request id", body = super::doc::ErrorBody),
        (status = 503, description = "Busy (too many requests in flight) or past the request deadline", body = super::doc::ErrorBody),
    )
)]
pub async fn responses_csv(
    State(state): State<AppState>,
    principal: Principal,
    crate::params::QueryPairs(pairs): crate::params::QueryPairs,
) -> Result<axum::response::Response, ApiError> {
    use axum::http::header;
    use axum::response::IntoResponse;
    let mut request = list_request(&pairs, &principal.scope)?;
    request.query.limit = MAX_RESPONSE_PAGE;
    // Audited before the first byte: a client that stops reading midway
    // has still exported what it read.
    crate::auth::audit_export(
        &*state.store,
        &principal.who,
        "responses.csv",
        &format!(
            "filter {}{}, at most {MAX_EXPORT_ROWS} rows",
            request.selection.describe(),
            if principal.sees_personal_data() {
                ""
            } else {
                ", personal data masked"
            }
        ),
    )
    .await?;
    let export = CsvExport {
        store: state.store.clone(),
        principal,
        request,
        rows: 0,
        started: false,
        finished: false,
    };
    // One page (≤ 500 rows) in memory at a time, however large the export.
    let pages = futures_util::stream::unfold(export, |mut export| async move {
        if export.finished {
            return None;
        }
        let chunk = export.next_chunk().await;
        if chunk.is_err() {
            export.finished = true;
        }
        Some((chunk, export))
    });
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"northstar-responses.csv\"",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        axum::body::Body::from_stream(pages),
    )
        .into_response())
}

/// A CSV export in progress: the next page's cursor and rows so far.
struct CsvExport {
    store: std::sync::Arc<dyn northstar_store::Store>,
    principal: Principal,
    request: ListRequest,
    rows: usize,
    started: bool,
    finished: bool,
}

impl CsvExport {
    const HEADER: [&'static str; 15] = [
        "external_id",
        "customer_id",
        "submitted_at",
        "survey",
        "touchpoint",
        "department",
        "segment",
        "channel",
        "nps",
        "csat",
        "ces",
        "fcr",
        "comment",
        "order_id",
        "personal_data_masked",
    ];

    /// The header (first time), then one page of rows as CSV.
    async fn next_chunk(&mut self) -> Result<Vec<u8>, std::io::Error> {
        use super::metrics::text_cell;
        let mut w = csv::Writer::from_writer(Vec::new());
        if !self.started {
            self.started = true;
            w.write_record(Self::HEADER)?;
        }
        let page = list_page(&*self.store, &self.principal, &self.request)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "responses.csv stopped");
                std::io::Error::other("the export stopped: the database failed")
            })?;
        for r in &page.items {
            if self.rows == MAX_EXPORT_ROWS {
                break;
            }
            let number = |v: Option<u8>| v.map(|x| x.to_string()).unwrap_or_default();
            w.write_record([
                &*text_cell(&r.external_id),
                &*text_cell(r.customer_id.as_deref().unwrap_or("")),
                &r.submitted_at,
                &*text_cell(&r.survey),
                &*text_cell(&r.touchpoint),
                &*text_cell(&r.department),
                &*text_cell(&r.segment),
                &*text_cell(&r.channel),
                &number(r.nps),
                &number(r.csat),
                &number(r.ces),
                r.fcr.map_or("", |f| if f { "yes" } else { "no" }),
                &*text_cell(r.comment.as_deref().unwrap_or("")),
                &*text_cell(r.order_id.as_deref().unwrap_or("")),
                if r.personal_data_masked { "yes" } else { "no" },
            ])?;
            self.rows += 1;
        }
        match page.next {
            Some(_) if self.rows < MAX_EXPORT_ROWS => {
                self.request.query.before = cursor_of(&page);
            }
            _ => self.finished = true,
        }
        w.into_inner()
            .map_err(|e| std::io::Error::other(e.to_string()))
    }
}

fn cursor_of(page: &ResponsePage) -> Option<(i64, String)> {
    let next = page.next.as_deref()?;
    let (unix, id) = next.split_once('.')?;
    Some((unix.parse().ok()?, id.to_string()))
}
