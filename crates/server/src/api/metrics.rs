use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::report::{self, MetricReport};
use crate::{AppState, params};

/// A metric with n, 95% interval, method, filter and period, overall and by
/// group; computed from rollups, never by re-reading raw rows.
#[utoipa::path(
    get,
    path = "/api/v1/metrics",
    params(super::doc::MetricDoc, super::doc::SelectionDoc),
    responses(
        (status = 200, description = "The metric with its provenance", body = MetricReport),
        (status = 400, description = "A parameter is wrong; the message names it", body = super::doc::ErrorBody),
        (status = 401, description = "No credentials, or an unknown or revoked token", body = super::doc::ErrorBody),
        (status = 403, description = "The role may not do this", body = super::doc::ErrorBody),
        (status = 500, description = "Internal error; quote the request id", body = super::doc::ErrorBody),
        (status = 503, description = "Busy (too many requests in flight) or past the request deadline", body = super::doc::ErrorBody),
    )
)]
pub async fn get_metrics(
    State(state): State<AppState>,
    principal: Principal,
    params::QueryPairs(pairs): params::QueryPairs,
) -> Result<Json<MetricReport>, ApiError> {
    params::reject_empty(&pairs, &["metric", "group_by", "from", "to"])?;
    let p = params::parse(&pairs, &["metric", "group_by"], &principal.scope)?;
    let metric = p.metric.ok_or_else(|| {
        ApiError::parameter("metric", "is required; use one of nps, csat, ces, fcr")
    })?;
    Ok(Json(
        report::metric_report(&*state.store, metric, &p.selection, p.group_by).await?,
    ))
}

/// The same figures as CSV: one row per group (and one for the overall
/// figure, key `(all)`), each row carrying its own provenance columns so a
/// number copied into a spreadsheet still says how it was computed.
#[utoipa::path(
    get,
    path = "/api/v1/metrics.csv",
    params(super::doc::MetricDoc, super::doc::SelectionDoc),
    responses(
        (status = 200, description = "CSV with provenance columns", body = String, content_type = "text/csv"),
        (status = 400, description = "A parameter is wrong; the message names it", body = super::doc::ErrorBody),
        (status = 401, description = "No credentials, or an unknown or revoked token", body = super::doc::ErrorBody),
        (status = 403, description = "The role may not do this", body = super::doc::ErrorBody),
        (status = 500, description = "Internal error; quote the request id", body = super::doc::ErrorBody),
        (status = 503, description = "Busy (too many requests in flight) or past the request deadline", body = super::doc::ErrorBody),
    )
)]
pub async fn get_metrics_csv(
    State(state): State<AppState>,
    principal: Principal,
    params::QueryPairs(pairs): params::QueryPairs,
) -> Result<impl IntoResponse, ApiError> {
    let store = state.store.clone();
    let Json(report) =
        get_metrics(State(state), principal.clone(), params::QueryPairs(pairs)).await?;
    let body = metrics_csv(&report)
        .map_err(|e| ApiError::BadRequest(format!("could not write CSV: {e}")))?;
    crate::auth::audit_export(
        &*store,
        &principal.who,
        "metrics.csv",
        &format!(
            "{} by {}, filter {}",
            report.metric.as_str(),
            report.group_by.as_deref().unwrap_or("nothing"),
            crate::report::describe_filter(&report.filter)
        ),
    )
    .await?;
    let filename = format!("northstar-{}.csv", report.metric.as_str());
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        body,
    ))
}

/// A text cell that a spreadsheet would run as a formula (it starts with
/// `=`, `+`, `-`, `@`, tab or carriage return) gets a leading `'`, as OWASP's
/// "CSV Injection" page recommends. Only text columns: numbers stay numbers.
pub fn text_cell(value: &str) -> std::borrow::Cow<'_, str> {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}").into()
    } else {
        value.into()
    }
}

fn metrics_csv(r: &MetricReport) -> Result<String, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "metric",
        "group_by",
        "key",
        "n",
        "value",
        "ci_low",
        "ci_high",
        "confidence",
        "method",
        "p_adjusted_vs_rest",
        "significant_vs_rest",
        "filter",
        "period_from",
        "period_to",
        "scale",
        "restricted_to",
    ])?;
    let number = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
    let filter = crate::report::describe_filter(&r.filter);
    let filter = text_cell(&filter);
    let restricted = text_cell(r.restricted_to.as_deref().unwrap_or(""));
    let rows = std::iter::once(("(all)", &r.overall, None, false))
        .chain(
            r.groups
                .iter()
                .map(|g| (g.key.as_str(), &g.figure, g.versus_rest.as_ref(), false)),
        )
        // A department role's comparison: the whole organisation, same
        // period, no filter and no breakdown.
        .chain(
            r.organisation
                .as_ref()
                .map(|o| ("(organisation)", o, None, true)),
        );
    for (key, figure, versus, organisation) in rows {
        w.write_record([
            r.metric.as_str(),
            if organisation {
                ""
            } else {
                r.group_by.as_deref().unwrap_or("")
            },
            &text_cell(key),
            &figure.n.to_string(),
            &number(figure.value),
            &number(figure.ci_low),
            &number(figure.ci_high),
            &r.confidence.to_string(),
            r.method,
            &number(versus.map(|v| v.p_adjusted)),
            versus.map_or("", |v| if v.significant { "yes" } else { "no" }),
            if organisation {
                "(none: whole organisation)"
            } else {
                &filter
            },
            r.period.from.as_deref().unwrap_or(""),
            r.period.to.as_deref().unwrap_or(""),
            r.scale,
            if organisation { "" } else { &restricted },
        ])?;
    }
    let bytes = w.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Who answered against who the customers are, by segment: NPS answers in
/// the selection per segment against customers per segment, with Pearson's
/// goodness-of-fit test.
#[utoipa::path(
    get,
    path = "/api/v1/representativeness",
    params(super::doc::RepresentativenessDoc, super::doc::SelectionDoc),
    responses(
        (status = 200, description = "Respondent mix against the customer base", body = crate::report::Representativeness),
        (status = 400, description = "A parameter is wrong; the message names it", body = super::doc::ErrorBody),
        (status = 401, description = "No credentials, or an unknown or revoked token", body = super::doc::ErrorBody),
        (status = 403, description = "The role may not do this", body = super::doc::ErrorBody),
        (status = 500, description = "Internal error; quote the request id", body = super::doc::ErrorBody),
        (status = 503, description = "Busy (too many requests in flight) or past the request deadline", body = super::doc::ErrorBody),
    )
)]
pub async fn get_representativeness(
    State(state): State<AppState>,
    principal: Principal,
    params::QueryPairs(pairs): params::QueryPairs,
) -> Result<Json<crate::report::Representativeness>, ApiError> {
    // An empty `by` means the default (segment), like no `by` at all.
    params::reject_empty(&pairs, &["from", "to"])?;
    let p = params::parse(&pairs, &["by"], &principal.scope)?;
    let weight_on = weighting_attributes(&pairs)?;
    let by_segment = Some(northstar_core::rollup::GroupBy::Dimension(
        northstar_core::Dimension::Segment,
    ));
    let answer = state
        .store
        .query_rollups(&p.selection.query(by_segment))
        .await?;
    let customers = state
        .store
        .customer_segments(report::base_from(&p.selection, &answer))
        .await?;
    let respondents = state
        .store
        .respondents_by_segment(&p.selection.respondents())
        .await?;
    let mut report =
        report::representativeness_from(&customers, &respondents, &answer, &p.selection);
    let base_day = report::base_from(&p.selection, &answer);
    let cells = state
        .store
        .respondent_cells(&p.selection.respondents(), &weight_on, MAX_WEIGHTING_CELLS)
        .await?;
    let mut margins = Vec::with_capacity(weight_on.len());
    for attribute in &weight_on {
        let counts = state
            .store
            .customer_margin(attribute, base_day, MAX_WEIGHTING_CELLS)
            .await?;
        margins.push(northstar_core::weighting::Margin {
            attribute: attribute.name(),
            population: counts.iter().map(|(v, n)| (v.clone(), *n as f64)).collect(),
        });
        let mut answered: std::collections::BTreeMap<String, u64> = Default::default();
        let position = margins.len() - 1;
        for cell in &cells {
            *answered.entry(cell.values[position].clone()).or_default() += cell.respondents;
        }
        report.mixes.push(report::AttributeMix {
            attribute: attribute.name(),
            comparison: northstar_core::representativeness::compare_mix(
                &counts,
                &answered.into_iter().collect::<Vec<_>>(),
            ),
        });
        if counts.len() > MAX_WEIGHTING_CELLS {
            report.weighting_note = Some(format!(
                "{} has more than {MAX_WEIGHTING_CELLS} values among customers: too many to weight on",
                attribute.name()
            ));
        }
    }
    report.weighted_on = weight_on.iter().map(|a| a.name()).collect();
    if cells.len() > MAX_WEIGHTING_CELLS {
        report.weighting_note = Some(format!(
            "the attributes form more than {MAX_WEIGHTING_CELLS} combinations among respondents: weight on fewer attributes"
        ));
    }
    if report.weighting_note.is_none() {
        match northstar_core::weighting::weight_and_estimate(&cells, &margins) {
            Ok(weighted) => {
                report
                    .warnings
                    .extend(weighted.weighting.warnings.iter().cloned());
                report.warnings.extend(
                    weighted
                        .metrics
                        .iter()
                        .filter(|m| m.differs_significantly)
                        .filter_map(|m| m.warning.clone()),
                );
                report.weighted = Some(weighted);
            }
            Err(e) => report.weighting_note = Some(format!("no weights: {e}")),
        }
    }
    Ok(Json(report))
}

/// Most cells (combinations of attribute values) a weighting fits, and most
/// values one attribute may have among customers.
pub const MAX_WEIGHTING_CELLS: usize = 10_000;

/// Longest `by` of a weighting (at most 4 names of up to 64 characters).
pub const MAX_WEIGHTING_BY_CHARS: usize = 300;

/// Most attributes one weighting rakes on.
pub const MAX_WEIGHTING_ATTRIBUTES: usize = 4;

/// The customer attributes to weight on: `by` (repeated or
/// comma-separated): `segment` (the default), `region`, or
/// `customer.<name>` (a bare other name means the same).
fn weighting_attributes(
    pairs: &[(String, String)],
) -> Result<Vec<northstar_store::BreakdownAttribute>, ApiError> {
    use northstar_store::BreakdownAttribute;
    let mut out: Vec<BreakdownAttribute> = Vec::new();
    for (_, value) in pairs.iter().filter(|(n, _)| n == "by") {
        if value.chars().count() > MAX_WEIGHTING_BY_CHARS {
            return Err(ApiError::parameter(
                "by",
                format!("is longer than {MAX_WEIGHTING_BY_CHARS} characters"),
            ));
        }
        for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let attribute = match name {
                "segment" | "customer.segment" => BreakdownAttribute::CustomerSegment,
                "region" | "customer.region" => BreakdownAttribute::CustomerRegion,
                // Any other name is a column of the customers file; one
                // that no customer has puts every customer under "".
                other => BreakdownAttribute::Customer(
                    other
                        .strip_prefix("customer.")
                        .filter(|n| !n.is_empty())
                        .unwrap_or(other)
                        .to_string(),
                ),
            };
            if !out.contains(&attribute) {
                out.push(attribute);
            }
        }
    }
    if out.len() > MAX_WEIGHTING_ATTRIBUTES {
        return Err(ApiError::parameter(
            "by",
            format!(
                "names {} attributes; at most {MAX_WEIGHTING_ATTRIBUTES}",
                out.len()
            ),
        ));
    }
    if out.is_empty() {
        out.push(BreakdownAttribute::CustomerSegment);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_like_text_is_neutralised() {
        for risky in ["=HYPERLINK(\"x\")", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(text_cell(risky), format!("'{risky}"));
        }
        assert_eq!(text_cell("logistics"), "logistics");
        assert_eq!(text_cell(""), "");
    }
}
