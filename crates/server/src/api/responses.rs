use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use northstar_core::FieldError;
use northstar_core::response::{REQUIRED_COLUMNS, ResponseColumns};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::AppState;
use crate::error::ApiError;

/// Largest batch accepted in one request.
pub const MAX_BATCH: usize = 10_000;
/// Largest request body accepted (room for a full batch with comments).
pub const MAX_BODY_BYTES: usize = 64 << 20;

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
}

fn cell(field: &str, value: &Value) -> Result<String, FieldError> {
    Ok(match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.to_string(),
        Value::Array(_) | Value::Object(_) => {
            return Err(FieldError::new(
                field,
                "is a list or object",
                "give a string, number, boolean or null",
            ));
        }
    })
}

/// Most fields one response object may have.
pub const MAX_FIELDS: usize = 256;

fn parse_item(item: &Value) -> Result<northstar_core::response::NewResponse, Vec<FieldError>> {
    let Value::Object(map) = item else {
        return Err(vec![FieldError::new(
            "item",
            "is not a JSON object",
            "send an array of objects",
        )]);
    };
    if map.len() > MAX_FIELDS {
        return Err(vec![FieldError::new(
            "item",
            format!("has {} fields, more than {MAX_FIELDS}", map.len()),
            "send only the response's own fields",
        )]);
    }
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
    for required in REQUIRED_COLUMNS {
        if !map.contains_key(required) {
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
            if !present.contains(&required) {
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

/// Imports a batch of responses (a JSON array of objects with the same
/// fields as the CSV columns). Idempotent by `external_id`; valid items are
/// written even when others are rejected, and each rejection says why.
#[utoipa::path(
    post,
    path = "/api/v1/responses",
    request_body(content = Vec<Object>, description = "Responses: external_id, submitted_at, nps, csat, ces, fcr, dimensions, driver_<name>, …"),
    responses(
        (status = 200, description = "Committed; per-item errors by index", body = BatchReport),
        (status = 400, description = "The body is not a JSON array, or is too large"),
    )
)]
pub async fn post_responses(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<BatchReport>, ApiError> {
    let body = body.map_err(|e| {
        ApiError::BadBody(format!(
            "{e}; send at most {MAX_BATCH} items and {} MiB per request",
            MAX_BODY_BYTES >> 20
        ))
    })?;
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadBody(format!("not valid JSON: {e}")))?;
    let Value::Array(items) = value else {
        return Err(ApiError::BadBody(
            "expected a JSON array of response objects".into(),
        ));
    };
    if items.len() > MAX_BATCH {
        return Err(ApiError::BadBody(format!(
            "{} items is more than {MAX_BATCH}; split the batch",
            items.len()
        )));
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
    }))
}
