//! The trends page: a metric by day, week or month as a control chart
//! (centre line, limits per period's n, signals marked), its table with the
//! period-over-period change and test, the CSV and the provenance.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use northstar_core::Metric;
use northstar_core::trends::Signal;

use super::understand::{self as u, FilterForm, Provenance};
use crate::api::trends::{TrendReport, trends_for};
use crate::auth::Principal;
use crate::chart::{self, ControlPoint, ControlSignal};
use crate::error::ApiError;
use crate::{AppState, params};

struct Row {
    period: String,
    n: String,
    value: String,
    interval: String,
    lcl: String,
    ucl: String,
    /// "above", "below" or "" (noise).
    signal: &'static str,
    change: String,
    test: String,
    p_value: String,
}

struct Content {
    title: String,
    summary: String,
    svg: String,
    rows: Vec<Row>,
    centre: String,
    note: Option<String>,
    provenance: Provenance,
}

#[derive(Template)]
#[template(path = "trends.html")]
struct TrendsPage {
    nav: Option<super::Nav>,
    metrics: Vec<(&'static str, &'static str, bool)>,
    intervals: Vec<(&'static str, &'static str, bool)>,
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
    u::default(&mut pairs, "interval", "month");
    let page = |content: Option<Content>, error: Option<String>, form: FilterForm| TrendsPage {
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
        intervals: u::choices(
            &[("day", "day"), ("week", "ISO week"), ("month", "month")],
            u::value(&pairs, "interval"),
        ),
        form,
        error,
        content,
    };
    let form = match u::filter_form(&state, &principal, &pairs, None).await {
        Ok(f) => f,
        Err(e) => return super::render(Err(e)),
    };
    let built = async {
        let r = trends_for(&state, &principal, &pairs).await?;
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

fn content(r: &TrendReport, principal: &Principal, pairs: &[(String, String)]) -> Content {
    let metric: Metric = r.metric;
    let fmt = |v: f64| u::format_value(metric, Some(v));
    let points: Vec<ControlPoint> = r
        .periods
        .iter()
        .map(|p| ControlPoint {
            label: p.period.clone(),
            value: p.value,
            lcl: p.lcl,
            ucl: p.ucl,
            n: p.n,
            signal: match p.signal {
                Signal::Above => ControlSignal::Above,
                Signal::Below => ControlSignal::Below,
                Signal::None => ControlSignal::Noise,
            },
        })
        .collect();
    let signals: Vec<String> = r
        .periods
        .iter()
        .filter(|p| p.signal != Signal::None)
        .map(|p| {
            format!(
                "{} ({} the {} limit)",
                p.period,
                if p.signal == Signal::Above {
                    "above"
                } else {
                    "below"
                },
                if p.signal == Signal::Above {
                    "upper"
                } else {
                    "lower"
                }
            )
        })
        .collect();
    let unit = r.interval.as_str();
    let summary = if r.periods.is_empty() {
        "No answers in this selection.".to_string()
    } else if signals.is_empty() {
        format!(
            "All {} {unit}s lie within their control limits: the ups and downs are noise.",
            r.periods.len()
        )
    } else {
        format!(
            "{} of {} {unit}s lie outside their control limits (signal, not noise): {}.",
            signals.len(),
            r.periods.len(),
            signals.join(", ")
        )
    };
    let title = format!(
        "{} by {unit}: control chart with 3σ limits for each {unit}'s n",
        r.title
    );
    let desc = format!(
        "Points joined by a line show the {} per {unit}; the centre line is {} pooled over the {unit}s shown; dashed step lines are the lower and upper control limits. {summary}",
        r.title,
        r.centre.map_or("–".to_string(), fmt)
    );
    let rows = r
        .periods
        .iter()
        .map(|p| Row {
            period: p.period.clone(),
            n: u::thousands(p.n),
            value: u::format_value(metric, p.value),
            interval: u::format_interval(metric, p.ci_low, p.ci_high),
            lcl: u::format_value(metric, p.lcl),
            ucl: u::format_value(metric, p.ucl),
            signal: match p.signal {
                Signal::Above => "above",
                Signal::Below => "below",
                Signal::None => "",
            },
            change: p.change.as_ref().map_or("–".into(), |c| match metric {
                Metric::Ces => format!("{:+.2}", c.difference),
                _ => format!("{:+.1}", c.difference),
            }),
            test: p.change.as_ref().map_or("–".into(), |c| {
                format!("{} = {:.2}", stat_name(c.method), c.statistic)
            }),
            p_value: u::format_p(p.change.as_ref().map(|c| c.p_value)),
        })
        .collect();
    let change_method = r
        .periods
        .iter()
        .find_map(|p| p.change.as_ref().map(|c| c.method))
        .unwrap_or("");
    Content {
        svg: chart::control_svg("trend-chart", &title, &desc, &points, r.centre, &fmt),
        title,
        summary,
        rows,
        centre: r.centre.map_or("–".to_string(), fmt),
        note: r.note.clone(),
        provenance: Provenance {
            n: u::thousands(r.n),
            interval: format!("{} (95%, each {unit})", r.interval_method),
            filter: u::describe(&r.filter, r.restricted_to.as_deref()),
            period: format!(
                "{}; {unit}s shown {} to {}",
                u::period_text(&r.period),
                r.from,
                r.to
            ),
            source: r.source.to_string(),
            method: format!(
                "{}. Change from the previous {unit}: {change_method}.",
                r.method
            ),
            reference: "Shewhart control chart (p-chart for shares; trinomial variance p̄ + d̄ − (p̄ − d̄)² for NPS; pooled within-period SD for CES), Montgomery, Introduction to Statistical Quality Control".to_string(),
            json_url: format!("/api/v1/trends?{}", u::query(pairs)),
            csv_url: u::csv_url(principal, "/api/v1/trends.csv", pairs),
        },
    }
}

fn stat_name(method: &str) -> &'static str {
    if method.contains("Welch") { "t" } else { "z" }
}
