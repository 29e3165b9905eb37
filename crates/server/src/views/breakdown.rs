//! The breakdown page: a metric by any dimension or attribute as a
//! dot-and-interval chart against the overall value, groups that differ
//! significantly from the rest after Holm's adjustment marked; its table,
//! the CSV and the provenance.

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use super::understand::{self as u, FilterForm, Provenance};
use crate::api::breakdown::{BreakdownReport, breakdown_for};
use crate::auth::Principal;
use crate::chart::{self, DotRow};
use crate::error::ApiError;
use crate::{AppState, params};

struct Row {
    key: String,
    n: String,
    value: String,
    interval: String,
    difference: String,
    p_value: String,
    p_adjusted: String,
    /// "higher", "lower" or "".
    signal: &'static str,
}

struct Content {
    title: String,
    summary: String,
    svg: String,
    rows: Vec<Row>,
    overall: String,
    truncated: bool,
    min_answers: i64,
    provenance: Provenance,
}

#[derive(Template)]
#[template(path = "breakdown.html")]
struct BreakdownPage {
    nav: Option<super::Nav>,
    metrics: Vec<(&'static str, &'static str, bool)>,
    by: String,
    by_options: Vec<&'static str>,
    form: FilterForm,
    error: Option<String>,
    content: Option<Content>,
}

pub async fn page(
    State(state): State<AppState>,
    principal: Principal,
    params::QueryPairs(pairs): params::QueryPairs,
) -> Response {
    let mut pairs = u::clean(pairs);
    let nav = super::Nav::load(&state, &principal).await;
    u::default(&mut pairs, "metric", "nps");
    u::default(&mut pairs, "by", "department");
    let page = |content: Option<Content>, error: Option<String>, form: FilterForm| BreakdownPage {
        nav: Some(nav.clone()),
        metrics: u::choices(
            &[
                ("nps", "NPS"),
                ("csat", "CSAT"),
                ("ces", "CES"),
                ("fcr", "FCR"),
            ],
            u::value(&pairs, "metric"),
        ),
        by: u::value(&pairs, "by").to_string(),
        by_options: vec![
            "department",
            "segment",
            "channel",
            "touchpoint",
            "survey",
            "region",
            "customer.segment",
        ],
        form,
        error,
        content,
    };
    let form = match u::filter_form(&state, &principal, &pairs, None).await {
        Ok(f) => f,
        Err(e) => return super::render(Err(e)),
    };
    let built = async {
        let r = breakdown_for(&state, &principal, &pairs).await?;
        Ok::<_, ApiError>(content(&r, &principal, &pairs))
    }
    .await;
    match built {
        Ok(c) => super::render(page(Some(c), None, form).render().map_err(Into::into)),
        Err(e) => u::respond(Err(e), |message| {
            Ok(page(None, Some(message), form).render()?)
        }),
    }
}

fn content(r: &BreakdownReport, principal: &Principal, pairs: &[(String, String)]) -> Content {
    let metric = r.metric;
    let fmt = |v: f64| u::format_value(metric, Some(v));
    let key = |k: &str| {
        if k.is_empty() {
            "(not given)".to_string()
        } else {
            k.to_string()
        }
    };
    let signal = |g: &crate::api::breakdown::BreakdownGroup| match g.difference_vs_rest {
        Some(d) if g.significant && d > 0.0 => "higher",
        Some(_) if g.significant => "lower",
        _ => "",
    };
    let dots: Vec<DotRow> = r
        .groups
        .iter()
        .filter_map(|g| {
            Some(DotRow {
                label: key(&g.key),
                value: g.value?,
                ci_low: g.ci_low,
                ci_high: g.ci_high,
                n: g.n,
                significant: match signal(g) {
                    "higher" => Some(true),
                    "lower" => Some(false),
                    _ => None,
                },
            })
        })
        .collect();
    let flagged: Vec<String> = r
        .groups
        .iter()
        .filter(|g| !signal(g).is_empty())
        .map(|g| format!("{} ({})", key(&g.key), signal(g)))
        .collect();
    let summary = if r.groups.is_empty() {
        "No answers in this selection.".to_string()
    } else if r.test.is_none() {
        format!(
            "{} groups; no test against the rest applies to {} (intervals only).",
            r.groups.len(),
            r.title
        )
    } else if flagged.is_empty() {
        format!(
            "None of the {} groups differs significantly from the rest after Holm's adjustment.",
            r.groups.len()
        )
    } else {
        format!(
            "{} of {} groups differ significantly from the rest after Holm's adjustment: {}.",
            flagged.len(),
            r.groups.len(),
            flagged.join(", ")
        )
    };
    let title = format!("{} by {}, with 95% intervals", r.title, r.by);
    let desc = format!(
        "One row per {}: a dot at the value and a bar for its 95% interval; the dashed vertical line is the overall value ({}). Diamonds with ▲ or ▼ mark groups that differ significantly from the rest (Holm-adjusted p < 0.05). {summary}",
        r.by,
        r.overall.value.map_or("–".to_string(), fmt)
    );
    let rows = r
        .groups
        .iter()
        .map(|g| Row {
            key: key(&g.key),
            n: u::thousands(g.n),
            value: u::format_value(metric, g.value),
            interval: u::format_interval(metric, g.ci_low, g.ci_high),
            difference: g.difference_vs_rest.map_or("–".into(), |d| match metric {
                northstar_core::Metric::Ces => format!("{d:+.2}"),
                _ => format!("{d:+.1}"),
            }),
            p_value: u::format_p(g.p_value),
            p_adjusted: u::format_p(g.p_adjusted),
            signal: signal(g),
        })
        .collect();
    Content {
        svg: chart::dot_interval_svg("breakdown-chart", &title, &desc, &dots, r.overall.value, &fmt),
        title,
        summary,
        rows,
        overall: format!(
            "{} (95% CI {}, n = {})",
            u::format_value(metric, r.overall.value),
            u::format_interval(metric, r.overall.ci_low, r.overall.ci_high),
            u::thousands(r.overall.n)
        ),
        truncated: r.truncated,
        min_answers: r.min_answers_for_significance,
        provenance: Provenance {
            n: u::thousands(r.overall.n),
            interval: format!("{} (95%)", r.method),
            filter: u::describe(&r.filter, r.restricted_to.as_deref()),
            period: u::period_text(&r.period),
            source: r.source.clone(),
            method: format!(
                "Each group against the rest of the selection: {}; {}; significant at Holm-adjusted p < 0.05 with at least {} answers on each side and the group's own interval excluding the rest's value.",
                r.test.unwrap_or("no test for this metric"),
                r.correction,
                r.min_answers_for_significance
            ),
            reference: "Holm, S. (1979). A simple sequentially rejective multiple test procedure. Scandinavian Journal of Statistics 6(2), 65–70.".to_string(),
            json_url: format!("/api/v1/breakdown?{}", u::query(pairs)),
            csv_url: u::csv_url(principal, "/api/v1/breakdown.csv", pairs),
        },
    }
}
