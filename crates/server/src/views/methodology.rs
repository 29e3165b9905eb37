//! The methodology card: one printable, linkable page per figure that
//! answers a sceptic's four questions — how was this gathered (survey,
//! version, channel, period), what exactly was asked (the question as
//! worded, in each language and version), which customers were asked and
//! which answered (invitations, response rate, the respondents' mix
//! against the customer base with Pearson's χ²), and what the method is
//! (formula, interval, n). `GET /methodology?metric=nps&survey=…` takes
//! the same filters as every figure; `/surveys/{id}/methodology` opens
//! the card of a survey.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use northstar_core::rollup::GroupBy;
use northstar_core::survey::QuestionKind;
use northstar_core::{Dimension, Metric};

use crate::api::surveys::{self, at, definition_of};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::report::{self, Collection, MetricReport};
use crate::{AppState, params};

/// One survey behind the figure.
struct SurveyCard {
    name: String,
    title: String,
    status: String,
    versions: String,
    touchpoint: String,
    department: String,
    /// Per version whose wording differs: (version, [(language, text)]).
    wording: Vec<(String, Vec<(String, String)>)>,
    /// Segment, invited, sent, opened, answered, rate.
    rates: Vec<(String, String, String, String, String, String)>,
    link: String,
}

#[derive(Template)]
#[template(path = "methodology.html")]
struct CardPage {
    nav: Option<super::Nav>,
    metric_title: String,
    r: MetricReport,
    value: String,
    interval: String,
    filter: String,
    period: String,
    channels: Vec<(String, String)>,
    /// Answers per survey version ("imported" for answers without one).
    versions: Vec<(String, String)>,
    surveys: Vec<SurveyCard>,
    imported_only: bool,
    collection: Option<Collection>,
    mix_summary: String,
    mix_rows: Vec<(String, String, String, String)>,
    mix_method: String,
    mix_warning: bool,
    permalink: String,
    printed: String,
}

fn percent(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// The question kind that answers a metric.
fn asks(metric: Metric, kind: &QuestionKind) -> bool {
    matches!(
        (metric, kind),
        (Metric::Nps, QuestionKind::Nps)
            | (Metric::Csat, QuestionKind::Csat)
            | (Metric::Ces, QuestionKind::Ces)
            | (Metric::Fcr, QuestionKind::Fcr)
    )
}

async fn card(
    state: &AppState,
    principal: &Principal,
    pairs: &[(String, String)],
) -> Result<String, ApiError> {
    let p = params::parse(pairs, &["metric"], &principal.scope)?;
    let metric = p.metric.unwrap_or(Metric::Nps);
    let selection = p.selection;
    let r = report::metric_report(state.store.as_ref(), metric, &selection, None).await?;
    let by_channel = state
        .store
        .query_rollups(&selection.query(Some(GroupBy::Dimension(Dimension::Channel))))
        .await?;
    let channels = by_channel
        .groups
        .iter()
        .map(|g| {
            let e = metric.estimate(&g.summary);
            (
                if g.key.is_empty() {
                    "(none)".to_string()
                } else {
                    g.key.clone()
                },
                crate::views::understand::thousands(e.n),
            )
        })
        .filter(|(_, n)| n != "0")
        .collect();
    // The surveys behind it: those the filter names, else every survey
    // program whose answers are in the selection.
    let by_survey = state
        .store
        .query_rollups(&selection.query(Some(GroupBy::Dimension(Dimension::Survey))))
        .await?;
    let present: Vec<String> = by_survey
        .groups
        .iter()
        .filter(|g| metric.estimate(&g.summary).n > 0)
        .map(|g| g.key.clone())
        .collect();
    let backend = state.store.backend();
    let mut cards = Vec::new();
    for s in backend.surveys().await? {
        if !present.contains(&s.name) {
            continue;
        }
        let versions = backend.survey_versions(s.id).await?;
        let mut wording: Vec<(String, Vec<(String, String)>)> = Vec::new();
        let mut last: Option<Vec<(String, String)>> = None;
        let mut current = None;
        for v in &versions {
            let d = definition_of(&v.document)?;
            let texts: Vec<(String, String)> = d
                .questions
                .iter()
                .filter(|q| asks(metric, &q.kind))
                .flat_map(|q| {
                    d.languages
                        .iter()
                        .map(|l| (l.clone(), d.text_in(&q.text, l).to_string()))
                        .collect::<Vec<_>>()
                })
                .collect();
            if last.as_ref() != Some(&texts) {
                wording.push((
                    format!("version {} ({})", v.version, at(v.created_unix)),
                    texts.clone(),
                ));
                last = Some(texts);
            }
            current = Some(d);
        }
        let Some(d) = current else { continue };
        if principal
            .scope
            .department()
            .is_some_and(|own| d.department.as_deref() != Some(own))
        {
            continue;
        }
        let rates = surveys::rates(state, principal, s.id, None, None).await?;
        cards.push(SurveyCard {
            title: d.text_in(&d.title, "").to_string(),
            status: s.status.as_str().to_string(),
            versions: format!(
                "{} version(s), now version {}",
                versions.len(),
                s.current_version
            ),
            touchpoint: d.touchpoint.clone(),
            department: d.department.clone().unwrap_or_default(),
            wording,
            rates: rates
                .by_segment
                .iter()
                .map(|x| {
                    (
                        if x.segment.is_empty() {
                            "(unknown)".into()
                        } else {
                            x.segment.clone()
                        },
                        x.invited.to_string(),
                        x.sent.to_string(),
                        x.opened.to_string(),
                        x.answered.to_string(),
                        x.response_rate.map(percent).unwrap_or_else(|| "—".into()),
                    )
                })
                .collect(),
            link: format!("/surveys/{}", s.id),
            name: s.name,
        });
    }
    let imported_only = cards.is_empty();
    // Which version each answer answered (imported answers have none).
    let by_version = state
        .store
        .attribute_summaries(
            &selection.respondents(),
            &northstar_store::BreakdownAttribute::Response("survey_version".into()),
            50,
        )
        .await?;
    let mut versions: Vec<(String, String)> = by_version
        .groups
        .iter()
        .map(|(v, summary)| {
            (
                if v.is_empty() {
                    "imported (no Northstar survey version)".to_string()
                } else {
                    format!("version {v}")
                },
                crate::views::understand::thousands(metric.estimate(summary).n),
            )
        })
        .filter(|(_, n)| n != "0")
        .collect();
    versions.sort();
    // The respondents' mix against the customer base.
    let by_segment = state
        .store
        .query_rollups(&selection.query(Some(GroupBy::Dimension(Dimension::Segment))))
        .await?;
    let customers = state
        .store
        .customer_segments(report::base_from(&selection, &by_segment))
        .await?;
    let respondents = state
        .store
        .respondents_by_segment(&selection.respondents())
        .await?;
    let mix = report::representativeness_from(&customers, &respondents, &by_segment, &selection);
    let mix_warning = mix
        .comparison
        .as_ref()
        .and_then(|c| c.test.as_ref())
        .is_some_and(|t| t.p_value < 0.05);
    let mix_rows = mix
        .comparison
        .as_ref()
        .map(|c| {
            c.rows
                .iter()
                .map(|row| {
                    (
                        row.key.clone(),
                        percent(row.customer_share),
                        percent(row.answer_share),
                        format!("{:.2}", row.ratio),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let query: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .finish();
    let page = CardPage {
        nav: Some(super::Nav::load(state, principal).await),
        metric_title: metric.title().to_string(),
        value: crate::views::understand::format_value(metric, r.overall.value),
        interval: crate::views::understand::format_interval(
            metric,
            r.overall.ci_low,
            r.overall.ci_high,
        ),
        filter: selection.describe(),
        period: format!(
            "{} to {}",
            r.period.from.as_deref().unwrap_or("–"),
            r.period.to.as_deref().unwrap_or("–")
        ),
        channels,
        versions,
        collection: r.collection.clone(),
        surveys: cards,
        imported_only,
        mix_summary: mix.summary.clone(),
        mix_rows,
        mix_method: mix.method.to_string(),
        mix_warning,
        permalink: format!("/methodology?{query}"),
        printed: at(surveys::now_unix()),
        r,
    };
    Ok(page.render()?)
}

/// `GET /methodology?metric=…&<filters>`.
pub async fn page(
    State(state): State<AppState>,
    principal: Principal,
    params::QueryPairs(pairs): params::QueryPairs,
) -> Response {
    super::render(card(&state, &principal, &pairs).await)
}

/// `GET /surveys/{id}/methodology`: the card of a survey's first metric.
pub async fn survey_card(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
) -> Response {
    match surveys::load(&state, &principal, id).await {
        Ok((survey, d)) => {
            let metric = d
                .questions
                .iter()
                .find_map(|q| match q.kind {
                    QuestionKind::Nps => Some("nps"),
                    QuestionKind::Csat => Some("csat"),
                    QuestionKind::Ces => Some("ces"),
                    QuestionKind::Fcr => Some("fcr"),
                    _ => None,
                })
                .unwrap_or("nps");
            Redirect::to(&format!(
                "/methodology?metric={metric}&survey={}",
                super::encode(&survey.name)
            ))
            .into_response()
        }
        Err(e) => super::render(Err(e)),
    }
}
