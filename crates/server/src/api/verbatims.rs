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
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;

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
