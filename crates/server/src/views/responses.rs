//! What customers said: responses newest first with their comments, within
//! the caller's scope, personal data masked for roles that may not see it
//! (through `api::verbatims`, the one way comments leave the server).

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use northstar_core::Dimension;
use northstar_core::access::Capability;

use super::Nav;
use crate::AppState;
use crate::api::verbatims::{self, ResponsePage};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::params::QueryPairs;
use crate::report;

struct Row {
    submitted_at: String,
    department: String,
    touchpoint: String,
    segment: String,
    nps: String,
    csat: String,
    customer: String,
    comment: String,
}

struct FilterOption {
    dimension: &'static str,
    values: Vec<(String, bool)>,
}

#[derive(Template)]
#[template(path = "responses.html")]
struct ResponsesPage {
    nav: Option<Nav>,
    from: String,
    to: String,
    options: Vec<FilterOption>,
    with_comment: bool,
    filter: String,
    shown: usize,
    masked: bool,
    may_export: bool,
    query: String,
    next: String,
    rows: Vec<Row>,
}

pub async fn page(
    State(state): State<AppState>,
    principal: Principal,
    QueryPairs(pairs): QueryPairs,
) -> Response {
    super::render(build(&state, &principal, &pairs).await)
}

async fn build(
    state: &AppState,
    principal: &Principal,
    pairs: &[(String, String)],
) -> Result<String, ApiError> {
    let request = verbatims::list_request(pairs, &principal.scope)?;
    let ResponsePage {
        items,
        next,
        personal_data_masked,
        ..
    } = verbatims::list_page(&*state.store, principal, &request).await?;
    let selection = &request.selection;
    let mut options = Vec::new();
    for d in [
        Dimension::Department,
        Dimension::Touchpoint,
        Dimension::Segment,
        Dimension::Channel,
        Dimension::Survey,
    ] {
        let chosen: Vec<&str> = selection
            .filter
            .iter()
            .filter(|(fd, _)| *fd == d)
            .map(|(_, v)| v.as_str())
            .collect();
        let values = report::dimension_values(&*state.store, d, selection)
            .await?
            .into_iter()
            .filter(|v| !v.is_empty())
            .map(|v| {
                let selected = chosen.contains(&v.as_str());
                (v, selected)
            })
            .collect();
        options.push(FilterOption {
            dimension: d.as_str(),
            values,
        });
    }
    // The query without the cursor, for the export and the next page.
    let kept: Vec<String> = pairs
        .iter()
        .filter(|(k, v)| k != "before" && !v.is_empty())
        .map(|(k, v)| format!("{}={}", super::encode(k), super::encode(v)))
        .collect();
    let query = kept.join("&");
    let next = next
        .map(|n| {
            let mut q = kept.clone();
            q.push(format!("before={}", super::encode(&n)));
            q.join("&")
        })
        .unwrap_or_default();
    let day = |d: Option<northstar_core::calendar::Day>| {
        d.map(northstar_core::calendar::day_label)
            .unwrap_or_default()
    };
    let number = |v: Option<u8>| v.map_or("–".to_string(), |x| x.to_string());
    Ok(ResponsesPage {
        nav: Some(Nav::of(principal)),
        from: day(selection.from),
        to: day(selection.to),
        options,
        with_comment: request.query.with_comment,
        filter: selection.describe(),
        shown: items.len(),
        masked: personal_data_masked,
        may_export: principal.may(Capability::Export),
        query,
        next,
        rows: items
            .into_iter()
            .map(|r| Row {
                submitted_at: r.submitted_at,
                department: r.department,
                touchpoint: r.touchpoint,
                segment: r.segment,
                nps: number(r.nps),
                csat: number(r.csat),
                customer: r.customer_id.unwrap_or_else(|| "–".into()),
                comment: r.comment.unwrap_or_default(),
            })
            .collect(),
    }
    .render()?)
}
