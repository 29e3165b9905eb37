//! The overview: NPS, CSAT, CES and FCR tiles, the monthly NPS trend with
//! its interval band, and NPS by department with significance against the
//! rest. Every number carries n, interval, method, filter and period.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use northstar_core::rollup::GroupBy;
use northstar_core::{Dimension, Metric};

use crate::auth::Principal;
use crate::chart::{self, TrendPoint};
use crate::error::ApiError;
use crate::report::{self, Figure, MetricReport, Selection};
use crate::{AppState, params};

struct Tile {
    title: &'static str,
    /// The span of this metric's own answers.
    period: String,
    value: String,
    interval: String,
    n: String,
    method: &'static str,
    scale: &'static str,
    api_url: String,
    /// The figure's methodology card.
    card_url: String,
}

struct DepartmentRow {
    key: String,
    value: String,
    interval: String,
    n: String,
    difference: String,
    p_value: String,
    /// "higher", "lower" or "" (not significant).
    signal: &'static str,
}

struct MixRowView {
    key: String,
    customers: String,
    answers: String,
    ratio: String,
    /// "over", "under" or "".
    lean: &'static str,
}

struct FilterOption {
    dimension: &'static str,
    values: Vec<(String, bool)>,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    nav: Option<super::Nav>,
    organisation: String,
    tiles: Vec<Tile>,
    filter: String,
    period: String,
    from: String,
    to: String,
    options: Vec<FilterOption>,
    trend_svg: String,
    trend_rows: Vec<(String, String, String, String)>,
    departments: Vec<DepartmentRow>,
    department_method: String,
    min_answers: i64,
    who_summary: String,
    who_method: &'static str,
    who_counted: &'static str,
    who_base: String,
    mix_rows: Vec<MixRowView>,
    query: String,
    /// Live surveys, with their public pages.
    surveys: Vec<crate::api::surveys::SurveySummary>,
}

fn format_value(metric: Metric, v: Option<f64>) -> String {
    match (metric, v) {
        (_, None) => "–".to_string(),
        (Metric::Ces, Some(v)) => format!("{v:.2}"),
        (Metric::Nps, Some(v)) => format!("{v:+.1}"),
        (_, Some(v)) => format!("{v:.1}%"),
    }
}

fn format_interval(metric: Metric, f: &Figure) -> String {
    match (f.ci_low, f.ci_high) {
        (Some(lo), Some(hi)) => match metric {
            Metric::Ces => format!("{lo:.2} to {hi:.2}"),
            _ => format!("{lo:.1} to {hi:.1}"),
        },
        _ => "not enough answers".to_string(),
    }
}

fn thousands(n: i64) -> String {
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

fn query_string(selection: &Selection, extra: &[(&str, &str)]) -> String {
    let mut parts: Vec<String> = extra
        .iter()
        .map(|(k, v)| format!("{k}={}", super::encode(v)))
        .collect();
    for (d, v) in &selection.filter {
        parts.push(format!("{}={}", d.as_str(), super::encode(v)));
    }
    if let Some(f) = selection.from {
        parts.push(format!("from={}", northstar_core::calendar::day_label(f)));
    }
    if let Some(t) = selection.to {
        parts.push(format!("to={}", northstar_core::calendar::day_label(t)));
    }
    parts.join("&")
}

/// `2026-03` → the month's index, for placing trend points by time.
fn month_index(label: &str) -> Option<f64> {
    let (year, month) = label.split_once('-')?;
    Some(f64::from(
        year.parse::<i32>().ok()? * 12 + month.parse::<i32>().ok()? - 1,
    ))
}

fn period_text(r: &MetricReport) -> String {
    match (&r.period.from, &r.period.to) {
        (Some(f), Some(t)) => format!("{f} to {t} (days in the organisation's time zone)"),
        _ => "no responses in this selection".to_string(),
    }
}

pub async fn page(
    State(state): State<AppState>,
    principal: Principal,
    params::QueryPairs(pairs): params::QueryPairs,
) -> Response {
    super::render(build(&state, &principal, &pairs).await)
}

async fn build(
    state: &AppState,
    principal: &Principal,
    pairs: &[(String, String)],
) -> Result<String, ApiError> {
    let p = params::parse(pairs, &[], &principal.scope)?;
    let selection = p.selection;
    let store = &*state.store;
    let by_month = Some(GroupBy::Month);
    let by_department = Some(GroupBy::Dimension(Dimension::Department));
    let by_segment = Some(GroupBy::Dimension(Dimension::Segment));
    let answers = store
        .query_rollups_many(&[
            selection.query(None),
            selection.query(by_month),
            selection.query(by_department),
            selection.query(by_segment),
            selection.organisation().query(None),
        ])
        .await?;
    let [overall, monthly, departmental, segmental, whole] = answers.as_slice() else {
        return Err(ApiError::BadRequest(
            "the store answered a different number of queries".into(),
        ));
    };
    let mut tiles = Vec::new();
    for metric in Metric::ALL {
        let r = report::report_from(overall, metric, &selection, None);
        tiles.push(Tile {
            period: period_text(&r),
            title: r.title,
            value: format_value(metric, r.overall.value),
            interval: format_interval(metric, &r.overall),
            n: thousands(r.overall.n),
            method: r.method,
            scale: r.scale,
            api_url: format!(
                "/api/v1/metrics?{}",
                query_string(&selection, &[("metric", metric.as_str())])
            ),
            card_url: format!(
                "/methodology?{}",
                query_string(&selection, &[("metric", metric.as_str())])
            ),
        });
    }
    let nps = report::report_from(overall, Metric::Nps, &selection, None);
    let trend = report::report_from(monthly, Metric::Nps, &selection, by_month);
    let points: Vec<TrendPoint> = trend
        .groups
        .iter()
        .filter_map(|g| {
            Some(TrendPoint {
                position: month_index(&g.key)?,
                label: g.key.clone(),
                value: g.figure.value?,
                ci_low: g.figure.ci_low?,
                ci_high: g.figure.ci_high?,
                n: g.figure.n,
            })
        })
        .collect();
    let trend_rows = trend
        .groups
        .iter()
        .map(|g| {
            (
                g.key.clone(),
                format_value(Metric::Nps, g.figure.value),
                format_interval(Metric::Nps, &g.figure),
                thousands(g.figure.n),
            )
        })
        .collect();
    let by_department = report::report_from(departmental, Metric::Nps, &selection, by_department);
    let departments = by_department
        .groups
        .iter()
        .map(|g| {
            let vs = g.versus_rest.as_ref();
            DepartmentRow {
                key: if g.key.is_empty() {
                    "(not given)".into()
                } else {
                    g.key.clone()
                },
                value: format_value(Metric::Nps, g.figure.value),
                interval: format_interval(Metric::Nps, &g.figure),
                n: thousands(g.figure.n),
                difference: vs.map_or("–".into(), |v| format!("{:+.1}", v.difference)),
                p_value: vs.map_or("–".into(), |v| {
                    if v.p_adjusted < 0.001 {
                        "< 0.001".into()
                    } else {
                        format!("{:.3}", v.p_adjusted)
                    }
                }),
                signal: match vs {
                    Some(v) if v.significant && v.difference > 0.0 => "higher",
                    Some(v) if v.significant => "lower",
                    _ => "",
                },
            }
        })
        .collect();
    let department_method = by_department
        .groups
        .iter()
        .find_map(|g| g.versus_rest.as_ref().map(|v| v.method))
        .unwrap_or("z-test")
        .to_string();
    let customers = store
        .customer_segments(report::base_from(&selection, segmental))
        .await?;
    let respondents = store
        .respondents_by_segment(&selection.respondents())
        .await?;
    let who = report::representativeness_from(&customers, &respondents, segmental, &selection);
    let mix_rows = who
        .comparison
        .as_ref()
        .map(|c| {
            c.rows
                .iter()
                .map(|r| MixRowView {
                    key: r.key.clone(),
                    customers: format!("{:.1}%", 100.0 * r.customer_share),
                    answers: format!("{:.1}%", 100.0 * r.answer_share),
                    ratio: format!("{:.2}×", r.ratio),
                    lean: if r.ratio > 1.25 {
                        "over"
                    } else if r.ratio < 0.8 {
                        "under"
                    } else {
                        ""
                    },
                })
                .collect()
        })
        .unwrap_or_default();
    let mut options = Vec::new();
    for d in [
        Dimension::Segment,
        Dimension::Department,
        Dimension::Channel,
        Dimension::Touchpoint,
        Dimension::Survey,
    ] {
        let chosen: Vec<&str> = selection
            .filter
            .iter()
            .filter(|(fd, _)| *fd == d)
            .map(|(_, v)| v.as_str())
            .collect();
        let values = report::dimension_values(store, d, &selection)
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
    // A department-scoped role sees its department and, as a summary, the
    // whole organisation's NPS over the same period.
    let organisation = match &selection.restricted_to {
        Some(_) => {
            let r = report::report_from(whole, Metric::Nps, &selection.organisation(), None);
            format!(
                "Whole organisation, same period: NPS {} (95% CI {}, n = {}).",
                format_value(Metric::Nps, r.overall.value),
                format_interval(Metric::Nps, &r.overall),
                thousands(r.overall.n)
            )
        }
        None => String::new(),
    };
    let page = OverviewPage {
        nav: Some(super::Nav::load(state, principal).await),
        organisation,
        tiles,
        filter: selection.describe(),
        period: period_text(&nps),
        from: selection
            .from
            .map(northstar_core::calendar::day_label)
            .unwrap_or_default(),
        to: selection
            .to
            .map(northstar_core::calendar::day_label)
            .unwrap_or_default(),
        options,
        trend_svg: chart::trend_svg(
            "Net Promoter Score by month, with 95% interval band",
            "",
            &points,
        ),
        trend_rows,
        departments,
        department_method,
        min_answers: report::MIN_ANSWERS_FOR_SIGNIFICANCE,
        who_summary: who.summary,
        who_method: who.method,
        who_counted: who.answers_counted,
        who_base: who.base_counted.clone(),
        mix_rows,
        query: query_string(&selection, &[]),
        surveys: crate::api::surveys::list(state, principal)
            .await?
            .into_iter()
            .filter(|s| s.status == northstar_store::survey_records::SurveyStatus::Live)
            .collect(),
    };
    Ok(page.render()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_formatted_for_people() {
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(999), "999");
        assert_eq!(format_value(Metric::Nps, Some(12.345)), "+12.3");
        assert_eq!(format_value(Metric::Csat, Some(80.0)), "80.0%");
        assert_eq!(super::super::encode("a b&c"), "a%20b%26c");
    }
}
