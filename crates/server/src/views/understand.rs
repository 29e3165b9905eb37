//! What the four Understand pages (trends, breakdown, drivers, expectation
//! gap) share: the filter form, the provenance panel, number formats, and
//! rendering a page with its error beside the form instead of failing.

use axum::response::{Html, IntoResponse, Response};
use northstar_core::access::Capability;
use northstar_core::{Dimension, Metric};
use std::collections::BTreeMap;

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::report::{self, Period, Selection};

/// One dimension's select in the filter form.
pub struct FilterOption {
    pub dimension: &'static str,
    pub values: Vec<(String, bool)>,
}

/// The usual filters: dates and a value per dimension, as asked.
pub struct FilterForm {
    pub from: String,
    pub to: String,
    pub options: Vec<FilterOption>,
}

/// The provenance panel every Understand page carries.
pub struct Provenance {
    pub n: String,
    pub interval: String,
    pub filter: String,
    pub period: String,
    pub source: String,
    pub method: String,
    pub reference: String,
    pub json_url: String,
    /// Empty when the role may not export.
    pub csv_url: String,
}

/// The request's pairs without empty values (a form sends `segment=` for
/// "all" and `from=` for no date), each trimmed.
pub fn clean(pairs: Vec<(String, String)>) -> Vec<(String, String)> {
    pairs
        .into_iter()
        .map(|(n, v)| (n, v.trim().to_string()))
        .filter(|(_, v)| !v.is_empty())
        .collect()
}

/// Adds `name=value` unless the request gave `name`.
pub fn default(pairs: &mut Vec<(String, String)>, name: &str, value: &str) {
    if !pairs.iter().any(|(n, _)| n == name) {
        pairs.push((name.to_string(), value.to_string()));
    }
}

/// The first value the request gave for `name`.
pub fn value<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map_or("", |(_, v)| v.as_str())
}

/// The pairs as a query string.
pub fn query(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(n, v)| format!("{}={}", super::encode(n), super::encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The filter form: values of each dimension the caller may see, those the
/// request chose selected (`skip`: a dimension the page asks for itself).
pub async fn filter_form(
    state: &AppState,
    principal: &Principal,
    pairs: &[(String, String)],
    skip: Option<Dimension>,
) -> Result<FilterForm, ApiError> {
    let scoped = Selection::default().within(&principal.scope);
    let mut options = Vec::new();
    for d in [
        Dimension::Segment,
        Dimension::Department,
        Dimension::Channel,
        Dimension::Touchpoint,
        Dimension::Survey,
    ] {
        if Some(d) == skip {
            continue;
        }
        let chosen: Vec<&str> = pairs
            .iter()
            .filter(|(n, _)| n == d.as_str())
            .map(|(_, v)| v.as_str())
            .collect();
        let values = report::dimension_values(&*state.store, d, &scoped)
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
    Ok(FilterForm {
        from: value(pairs, "from").to_string(),
        to: value(pairs, "to").to_string(),
        options,
    })
}

/// The filter in words, with the role's restriction.
pub fn describe(filter: &BTreeMap<String, Vec<String>>, restricted_to: Option<&str>) -> String {
    let text = report::describe_filter(filter);
    match restricted_to {
        Some(d) => format!("{text} (your role sees only the department {d})"),
        None => text,
    }
}

/// The first and last day with data, and the range asked for.
pub fn period_text(p: &Period) -> String {
    let data = match (&p.from, &p.to) {
        (Some(f), Some(t)) => format!(
            "{f} to {t} (first and last day with a response used, in the organisation's time zone)"
        ),
        _ => "no responses in this selection".to_string(),
    };
    match (&p.requested_from, &p.requested_to) {
        (None, None) => data,
        (f, t) => format!(
            "{data}; asked for {} to {}",
            f.as_deref().unwrap_or("the beginning"),
            t.as_deref().unwrap_or("the end")
        ),
    }
}

/// The CSV link, if the role may export.
pub fn csv_url(principal: &Principal, path: &str, pairs: &[(String, String)]) -> String {
    if principal.may(Capability::Export) {
        format!("{path}?{}", query(pairs))
    } else {
        String::new()
    }
}

/// A value on the metric's scale.
pub fn format_value(metric: Metric, v: Option<f64>) -> String {
    match (metric, v) {
        (_, None) => "–".to_string(),
        (Metric::Ces, Some(v)) => format!("{v:.2}"),
        (Metric::Nps, Some(v)) => format!("{v:+.1}"),
        (_, Some(v)) => format!("{v:.1}%"),
    }
}

/// An interval on the metric's scale.
pub fn format_interval(metric: Metric, lo: Option<f64>, hi: Option<f64>) -> String {
    match (lo, hi) {
        (Some(lo), Some(hi)) => match metric {
            Metric::Ces => format!("{lo:.2} to {hi:.2}"),
            _ => format!("{lo:.1} to {hi:.1}"),
        },
        _ => "–".to_string(),
    }
}

/// A p-value for people.
pub fn format_p(p: Option<f64>) -> String {
    match p {
        None => "–".to_string(),
        Some(p) if p < 0.001 => "< 0.001".to_string(),
        Some(p) => format!("{p:.3}"),
    }
}

/// Thousands separators.
pub fn thousands(n: i64) -> String {
    let s = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// The page, or — for a request the API would refuse with a 4xx — the page
/// with the error beside its form (`with_error` renders it), with that
/// status; internal errors go the usual way (request id, no detail).
pub fn respond(
    page: Result<String, ApiError>,
    with_error: impl FnOnce(String) -> Result<String, ApiError>,
) -> Response {
    match page {
        Ok(html) => Html(html).into_response(),
        Err(e) if e.status().is_client_error() => {
            let status = e.status();
            match with_error(e.public_message()) {
                Ok(html) => (status, Html(html)).into_response(),
                Err(e) => super::render(Err(e)),
            }
        }
        Err(e) => super::render(Err(e)),
    }
}

/// Options of a select: (value, label, selected).
pub fn choices(
    options: &[(&'static str, &'static str)],
    chosen: &str,
) -> Vec<(&'static str, &'static str, bool)> {
    options
        .iter()
        .map(|&(v, label)| (v, label, v.eq_ignore_ascii_case(chosen)))
        .collect()
}
