use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use northstar_core::FieldError;
use northstar_core::field::MAX_COLUMNS;
use northstar_core::response::{REQUIRED_COLUMNS, ResponseColumns};
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::error::ApiError;

pub use super::batch::MAX_BATCH;
use super::batch::{self, BatchError, Cell, RawItem};

/// Largest request body accepted. A realistic batch of 10,000 responses
/// (every standard field, a 200-character comment, three drivers and two
/// attributes) measured 5.9 MB (the `batch_bodies_are_bounded_by_items_and_bytes` test
/// prints it); 16 MiB leaves room for long comments, and the decoder stops at
/// item 10,001 whatever the body holds.
pub const MAX_BODY_BYTES: usize = 16 << 20;

/// Why one item of a batch was rejected.
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemError {
    /// Position of the item in the array, from 0.
    pub index: usize,
    /// Each wrong field: {field, problem, fix}.
    #[schema(value_type = Vec<Object>)]
    pub errors: Vec<FieldError>,
}

/// What a batch write did. Accepted items are committed before this is sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchReport {
    pub received: usize,
    pub inserted: u64,
    pub replaced: u64,
    pub unchanged: u64,
    pub rejected: Vec<ItemError>,
    /// Fields kept as attributes that look like known fields (`NPS Score`),
    /// once per name: {field, problem, fix}.
    #[schema(value_type = Vec<Object>)]
    pub warnings: Vec<FieldError>,
}

/// Look-alike field names across the batch, once per name.
fn lookalike_warnings(items: &[RawItem]) -> Vec<FieldError> {
    let mut warnings: std::collections::BTreeMap<String, FieldError> = Default::default();
    for item in items {
        if let RawItem::Object(fields) = item {
            let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
            let mut with_required = names.clone();
            with_required.extend(REQUIRED_COLUMNS.iter().filter(|r| {
                !names
                    .iter()
                    .any(|n| northstar_core::header::normalized(n) == **r)
            }));
            if let Ok(columns) = ResponseColumns::from_header(&with_required) {
                for w in columns.warnings() {
                    warnings.entry(w.field.clone()).or_insert_with(|| w.clone());
                }
            }
        }
    }
    warnings.into_values().collect()
}

fn cell(field: &str, value: &Cell) -> Result<String, FieldError> {
    Ok(match value {
        Cell::Null => String::new(),
        Cell::Text(s) => s.clone(),
        Cell::Number(n) => n.clone(),
        Cell::Bool(b) => if *b { "yes" } else { "no" }.to_string(),
        Cell::Nested(what) => {
            return Err(FieldError::new(
                field,
                format!("is {what}"),
                "give a string, number, boolean or null",
            ));
        }
    })
}

fn parse_item(item: &RawItem) -> Result<northstar_core::response::NewResponse, Vec<FieldError>> {
    let map = match item {
        RawItem::Object(fields) => fields,
        RawItem::NotObject(what) => {
            return Err(vec![FieldError::new(
                "item",
                format!("is {what}, not a JSON object"),
                "send an array of objects",
            )]);
        }
        RawItem::TooManyFields(n) => {
            return Err(vec![FieldError::new(
                "item",
                format!("has {n} fields; the limit is {MAX_COLUMNS}"),
                "send only the response's own fields",
            )]);
        }
    };
    let mut names = Vec::with_capacity(map.len());
    let mut cells = Vec::with_capacity(map.len());
    let mut errors = Vec::new();
    for (k, v) in map {
        match cell(k, v) {
            Ok(c) => {
                names.push(k.as_str());
                cells.push(c);
            }
            Err(e) => errors.push(e),
        }
    }
    let has = |name: &str| {
        map.iter()
            .any(|(k, _)| northstar_core::header::normalized(k) == name)
    };
    for required in REQUIRED_COLUMNS {
        if !has(required) {
            errors.push(FieldError::new(
                required,
                "is missing from the object",
                "every response needs external_id and submitted_at (RFC 3339, like 2026-03-04T10:15:00Z)",
            ));
        }
    }
    let parsed = if errors.is_empty() {
        ResponseColumns::from_header(&names).and_then(|columns| columns.parse_row(&cells))
    } else {
        // Still check the fields that were given, to report everything at once.
        let mut present: Vec<&str> = names.clone();
        let mut present_cells = cells.clone();
        for required in REQUIRED_COLUMNS {
            if !has(required) {
                present.push(required);
                present_cells.push(String::new());
            }
        }
        ResponseColumns::from_header(&present).and_then(|columns| columns.parse_row(&present_cells))
    };
    match parsed {
        Ok(r) if errors.is_empty() => Ok(r),
        Ok(_) => Err(errors),
        Err(more) => {
            for e in more {
                if !errors.iter().any(|known| known.field == e.field) {
                    errors.push(e);
                }
            }
            Err(errors)
        }
    }
}

/// `POST /api/v1/responses` with its body limit.
pub fn post_route() -> axum::routing::MethodRouter<AppState> {
    axum::routing::post(post_responses).layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// Imports a batch of responses (a JSON array of objects with the same
/// fields as the CSV columns). Idempotent by `external_id`; valid items are
/// written even when others are rejected, and each rejection says why.
#[utoipa::path(
    post,
    path = "/api/v1/responses",
    request_body(content = super::doc::ResponseBatch, description = "At most 10,000 responses and 16 MiB: external_id, submitted_at, nps, csat, ces, fcr, dimensions, driver_<name>, …"),
    responses(
        (status = 200, description = "Committed; per-item errors by index", body = BatchReport),
        (status = 400, description = "The body is not a JSON array of at most 10,000 flat objects (the message names the item and field)", body = super::doc::ErrorBody),
        (status = 413, description = "The body is over 16 MiB", body = super::doc::ErrorBody),
        (status = 422, description = "The batch would take a dimension past 1,000 distinct values", body = super::doc::ErrorBody),
        (status = 401, description = "No credentials, or an unknown or revoked token", body = super::doc::ErrorBody),
        (status = 403, description = "The role may not do this", body = super::doc::ErrorBody),
        (status = 500, description = "Internal error; quote the request id", body = super::doc::ErrorBody),
        (status = 503, description = "Busy (too many requests in flight) or past the request deadline", body = super::doc::ErrorBody),
    )
)]
pub async fn post_responses(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<BatchReport>, ApiError> {
    let body = body.map_err(|e| match e {
        BytesRejection::FailedToBufferBody(_) => ApiError::TooLarge(format!(
            "the body is larger than {} MiB; send at most {MAX_BATCH} items and {} MiB per request",
            MAX_BODY_BYTES >> 20,
            MAX_BODY_BYTES >> 20
        )),
        other => ApiError::BadBody(other.to_string()),
    })?;
    let items = batch::decode_batch(&body).map_err(|e| match e {
        // 400, not 413: the body fit; its content is over the item cap.
        BatchError::TooManyItems => ApiError::BadBody(e.to_string()),
        BatchError::Json(_) => {
            ApiError::BadBody(format!("{e}; send a JSON array of response objects"))
        }
    })?;
    // A shape the document does not allow is a client bug: refuse the batch,
    // naming the item. Values are checked item by item below.
    for (index, item) in items.iter().enumerate() {
        let problem = match item {
            RawItem::NotObject(what) => Some(format!("item {index} is {what}, not an object")),
            RawItem::TooManyFields(n) => Some(format!(
                "item {index} has {n} fields; the limit is {MAX_COLUMNS}"
            )),
            RawItem::Object(fields) => fields.iter().find_map(|(name, value)| match value {
                Cell::Nested(what) => Some(format!(
                    "item {index}: field {name:?} is {what}; give a string, number, boolean or null"
                )),
                _ => None,
            }),
        };
        if let Some(problem) = problem {
            return Err(ApiError::BadBody(format!(
                "{problem}; send an array of flat objects"
            )));
        }
    }
    let mut rejected = Vec::new();
    let mut accepted = Vec::with_capacity(items.len());
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (index, item) in items.iter().enumerate() {
        match parse_item(item) {
            Ok(r) => match seen.get(&r.external_id) {
                Some(first) => rejected.push(ItemError {
                    index,
                    errors: vec![FieldError::new(
                        "external_id",
                        format!(
                            "{:?} already appeared at index {first} of this batch",
                            r.external_id
                        ),
                        "give each response its own id; this item was not imported",
                    )],
                }),
                None => {
                    seen.insert(r.external_id.clone(), index);
                    accepted.push(r);
                }
            },
            Err(errors) => rejected.push(ItemError { index, errors }),
        }
    }
    let written = state.store.write_responses(accepted).await?;
    Ok(Json(BatchReport {
        received: items.len(),
        inserted: written.inserted,
        replaced: written.replaced,
        unchanged: written.unchanged,
        rejected,
        warnings: lookalike_warnings(&items),
    }))
}
