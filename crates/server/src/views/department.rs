//! A department's page, good news first (seed 002: "tell them what they
//! want to hear" before the rest): what went well, where its targets and its
//! customers disagree (with the evidence), the asks, the scorecard with each
//! figure's provenance, its wins, and a form to record one. Department leads
//! and ambassadors land here after signing in.

use askama::Template;
use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use northstar_core::Metric;
use northstar_core::access::Capability;
use northstar_core::department::{DayRange, NewWin, WinEvidence};

use super::understand::{format_interval, format_value, thousands};
use crate::api::departments::{self, GoalCard, Scorecard, WinCard};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::{AppState, params, report};

/// A goal as the page shows it.
pub struct GoalRow {
    pub title: String,
    pub kpi_value: String,
    pub kpi_target: String,
    pub met: &'static str,
    pub kpi_n: String,
    pub kpi_method: String,
    pub customer_title: String,
    pub customer_value: String,
    pub customer_interval: String,
    pub customer_n: String,
    pub customer_filter: String,
    pub customer_method: String,
    pub correlation: String,
    pub agreed: String,
    pub flag: bool,
    pub reason: String,
    pub evidence: Vec<String>,
    pub gap_url: String,
}

/// A win as the page shows it.
pub struct WinRow {
    pub department: String,
    pub title: String,
    pub on: String,
    pub people: String,
    pub cx_part: String,
    pub status: &'static str,
    pub evidence: String,
    pub recorded: String,
}

#[derive(Template)]
#[template(path = "department.html")]
struct DepartmentPage {
    nav: Option<super::Nav>,
    name: String,
    mission: String,
    from: String,
    to: String,
    period: String,
    good_news: Vec<(String, String)>,
    /// Newest detractors' comments on the department's touchpoints (roles
    /// that read single responses; personal data masked by role).
    detractors: Vec<(String, String)>,
    may_read_responses: bool,
    disagreements: Vec<GoalRow>,
    asks: Vec<(String, String)>,
    /// (id, name, NPV, finance review line).
    cases: Vec<(i64, String, String, String)>,
    goals: Vec<GoalRow>,
    wins: Vec<WinRow>,
    may_record: bool,
    csrf: String,
    message: String,
    default_filter: String,
}

/// A p-value as people read it: `p = 0.042`, `p < 0.001`.
fn p_text(p: f64) -> String {
    if p < 0.001 {
        "p < 0.001".into()
    } else {
        format!("p = {p:.3}")
    }
}

fn kpi_text(value: Option<f64>, statistic: &str) -> String {
    match value {
        None => "no value".into(),
        Some(v) if statistic == "share_within_target" => format!("{:.1}%", v * 100.0),
        Some(v) => format!("{v:.2}"),
    }
}

fn goal_row(department: &str, g: &GoalCard) -> GoalRow {
    let m = g.customer_metric.metric;
    let o = &g.customer_metric.overall;
    let test_line = |label: &str, t: &Option<departments::TestFigure>| {
        t.as_ref().map(|t| {
            format!(
                "{label}: difference {:+.1}, {}{} ({})",
                t.difference,
                p_text(t.p_value),
                if t.significant { ", significant" } else { "" },
                t.method
            )
        })
    };
    let mut evidence: Vec<String> = [
        test_line(
            "Against the previous period",
            &g.disagreement.worse_than_previous_period,
        ),
        test_line(
            "Against the rest of the organisation",
            &g.disagreement.worse_than_rest_of_organisation,
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    if let (Some(t), Some(target)) = (
        g.disagreement.customers_threshold,
        g.disagreement.records_target,
    ) {
        evidence.push(format!(
            "Expectation gap: customers' satisfaction falls below 80% at {t} {}; the target the goal accepts is {target}.",
            g.kpi.measure
        ));
    }
    GoalRow {
        title: g.title.clone(),
        kpi_value: kpi_text(g.kpi.value, g.kpi.statistic),
        kpi_target: kpi_text(Some(g.kpi.target), g.kpi.statistic),
        met: match g.kpi.met {
            Some(true) => "met",
            Some(false) => "missed",
            None => "no data",
        },
        kpi_n: thousands(i64::try_from(g.kpi.n).unwrap_or(i64::MAX)),
        kpi_method: format!(
            "{} {}: {}. Source: {}.",
            g.kpi.measure,
            g.kpi.direction.replace('_', " "),
            g.kpi.method,
            g.kpi.source
        ),
        customer_title: m.title().to_string(),
        customer_value: format_value(m, o.value),
        customer_interval: format_interval(m, o.ci_low, o.ci_high),
        customer_n: thousands(o.n),
        customer_filter: report::describe_filter(&g.customer_metric.filter),
        customer_method: g.customer_metric.method.to_string(),
        correlation: match &g.correlation {
            Some(c) => format!(
                "r = {:.2}{} over {} periods",
                c.r,
                match (c.ci_low, c.ci_high) {
                    (Some(a), Some(b)) => format!(" (95% CI {a:.2} to {b:.2})"),
                    _ => String::new(),
                },
                c.n
            ),
            None => "not enough periods with both figures".into(),
        },
        agreed: match (&g.agreed_on, &g.agreed_by) {
            (Some(on), Some(by)) => format!("agreed on {on} with {by}"),
            (Some(on), None) => format!("agreed on {on}"),
            _ => "pairing not yet agreed".into(),
        },
        flag: g.disagreement.flag,
        reason: g.disagreement.reason.clone(),
        evidence,
        gap_url: format!(
            "/expectation-gap?department={}&measure={}",
            super::encode(department),
            super::encode(&g.kpi.measure)
        ),
    }
}

/// Wins as the page shows them.
pub fn win_rows(wins: &[WinCard]) -> Vec<WinRow> {
    wins.iter()
        .map(|w| {
            let m = w.win.win.evidence.metric;
            WinRow {
                department: w.win.department.clone(),
                title: w.win.win.title.clone(),
                on: w.win.win.on.clone(),
                people: w.win.win.people.join(", "),
                cx_part: w.win.win.cx_part.clone(),
                status: if w.status == "win" {
                    "Win"
                } else {
                    "Early signal"
                },
                evidence: format!(
                    "{} {} → {} (n {} → {}){}",
                    m.title(),
                    format_value(m, w.before.value),
                    format_value(m, w.after.value),
                    thousands(w.before.n),
                    thousands(w.after.n),
                    w.test.as_ref().map_or_else(
                        || "; no test possible yet".to_string(),
                        |t| format!("; {} ({})", p_text(t.p_value), t.method)
                    )
                ),
                recorded: format!("recorded by {}", w.win.recorded_by),
            }
        })
        .collect()
}

/// Most detractor comments the page lists.
const DETRACTORS_SHOWN: usize = 5;

/// The newest detractors' comments (NPS 0–6 or CSAT 1–2) on the
/// department's touchpoints in the period, masked unless the role sees
/// personal data.
async fn detractor_feedback(
    state: &AppState,
    principal: &Principal,
    d: &northstar_core::department::Department,
    s: &Scorecard,
) -> Result<Vec<(String, String)>, ApiError> {
    if !principal.may(Capability::ViewResponses) {
        return Ok(Vec::new());
    }
    let day = |t: &Option<String>| t.as_deref().and_then(northstar_core::calendar::parse_day);
    let filter = departments::goal_filter(d, &Default::default())?;
    let responses = state
        .store
        .list_responses(&northstar_store::ResponseListQuery {
            selection: northstar_store::RespondentQuery {
                filter,
                from: day(&s.period.from),
                to: day(&s.period.to),
            },
            with_comment: true,
            before: None,
            limit: 200,
        })
        .await?;
    let unmasked = principal.sees_personal_data();
    Ok(responses
        .into_iter()
        .filter(|r| r.nps.is_some_and(|n| n <= 6) || r.csat.is_some_and(|c| c <= 2))
        .filter_map(|r| {
            let comment = r.comment?;
            let comment = if unmasked {
                comment
            } else {
                northstar_core::personal_data::mask(&comment)
            };
            let score = match (r.nps, r.csat) {
                (Some(n), _) => format!("NPS {n}"),
                (None, Some(c)) => format!("CSAT {c}"),
                _ => String::new(),
            };
            let day: String = r.submitted_at.chars().take(10).collect();
            Some((format!("{day} · {score}"), comment))
        })
        .take(DETRACTORS_SHOWN)
        .collect())
}

fn page_of(
    principal: &Principal,
    nav: super::Nav,
    s: &Scorecard,
    message: String,
    d: &northstar_core::department::Department,
) -> DepartmentPage {
    let goals: Vec<GoalRow> = s.goals.iter().map(|g| goal_row(&s.department, g)).collect();
    DepartmentPage {
        nav: Some(nav),
        name: s.department.clone(),
        mission: s.mission.clone(),
        from: s.period.from.clone().unwrap_or_default(),
        to: s.period.to.clone().unwrap_or_default(),
        period: format!(
            "{} to {} (compared with {} to {})",
            s.period.from.clone().unwrap_or_default(),
            s.period.to.clone().unwrap_or_default(),
            s.previous_period.from.clone().unwrap_or_default(),
            s.previous_period.to.clone().unwrap_or_default()
        ),
        good_news: s
            .good_news
            .iter()
            .map(|g| {
                let label = match g.kind {
                    "goal_met" => "Goal met",
                    "customer_metric_rose" => "Customers noticed",
                    "win" => "Win",
                    _ => "Customer praise",
                };
                (label.to_string(), g.text.clone())
            })
            .collect(),
        detractors: Vec::new(),
        may_read_responses: principal.may(Capability::ViewResponses),
        disagreements: s
            .goals
            .iter()
            .filter(|g| g.disagreement.flag)
            .map(|g| goal_row(&s.department, g))
            .collect(),
        asks: s
            .asks
            .iter()
            .map(|a| {
                let dollars = match (a.dollars, &a.dollars_basis) {
                    (Some(v), _) => format!(
                        "${}{}",
                        thousands(v.round() as i64),
                        if a.finance_reviewed {
                            " (reviewed by finance)"
                        } else {
                            " (not reviewed by finance)"
                        }
                    ),
                    (None, Some(basis)) => basis.clone(),
                    (None, None) => String::new(),
                };
                (a.text.clone(), dollars)
            })
            .collect(),
        goals,
        cases: s
            .business_cases
            .iter()
            .map(|c| {
                (
                    c.id,
                    c.name.clone(),
                    c.npv.map_or("–".into(), |v| {
                        format!("${}", northstar_core::business_case::money(v))
                    }),
                    c.finance_review.clone(),
                )
            })
            .collect(),
        wins: win_rows(&s.wins),
        may_record: principal.may(Capability::RecordWins),
        csrf: principal.csrf_token().to_string(),
        message,
        default_filter: departments::goal_filter(d, &Default::default())
            .map(|f| {
                f.iter()
                    .map(|(dim, v)| format!("{} = {v}", dim.as_str()))
                    .collect::<Vec<_>>()
                    .join(" or ")
            })
            .unwrap_or_default(),
    }
}

async fn render_page(
    state: &AppState,
    principal: &Principal,
    name: &str,
    pairs: &[(String, String)],
    message: String,
) -> Result<String, ApiError> {
    let nav = super::Nav::load(state, principal).await;
    let d = departments::department_named(&*state.store, principal, name)
        .await?
        .record;
    let s = departments::scorecard(state, principal, name, pairs).await?;
    let mut page = page_of(principal, nav, &s, message, &d);
    page.detractors = detractor_feedback(state, principal, &d, &s).await?;
    Ok(page.render()?)
}

pub async fn page(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
    params::QueryPairs(pairs): params::QueryPairs,
) -> Response {
    let pairs = super::understand::clean(pairs);
    super::render(render_page(&state, &principal, &name, &pairs, String::new()).await)
}

/// The "record a win" form.
#[derive(Debug, serde::Deserialize)]
pub struct WinForm {
    title: String,
    #[serde(default)]
    people: String,
    #[serde(default)]
    cx_part: String,
    on: String,
    metric: String,
    before_from: String,
    before_to: String,
    after_from: String,
    after_to: String,
}

pub async fn record_win(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
    form: Result<Form<WinForm>, FormRejection>,
) -> Response {
    let outcome = async {
        let Form(f) =
            form.map_err(|e| ApiError::BadBody(format!("the form could not be read: {e}")))?;
        let d = departments::department_named(&*state.store, &principal, &name)
            .await?
            .record;
        let metric = Metric::parse(f.metric.trim())
            .ok_or_else(|| ApiError::parameter("metric", "choose nps, csat, ces or fcr"))?;
        let filter = departments::goal_filter(&d, &Default::default())?;
        let win = NewWin {
            title: f.title.trim().to_string(),
            people: f
                .people
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect(),
            cx_part: f.cx_part.trim().to_string(),
            on: f.on.trim().to_string(),
            evidence: WinEvidence {
                metric,
                filter: departments::filter_document(filter),
                before: DayRange {
                    from: f.before_from.trim().to_string(),
                    to: f.before_to.trim().to_string(),
                },
                after: DayRange {
                    from: f.after_from.trim().to_string(),
                    to: f.after_to.trim().to_string(),
                },
            },
        };
        let mut win = win;
        win.check().map_err(departments::field_errors)?;
        departments::scope_evidence(&principal, &mut win)?;
        state
            .store
            .backend()
            .add_win(
                &d.name,
                &win,
                &principal.who,
                jiff::Timestamp::now().as_second(),
            )
            .await?;
        Ok::<_, ApiError>(())
    }
    .await;
    match outcome {
        Ok(()) => {
            Redirect::to(&format!("/departments/{}#wins", super::encode(&name))).into_response()
        }
        Err(e @ (ApiError::BadBody(_) | ApiError::BadParameter { .. })) => {
            let message = format!("The win was not recorded: {}", e.public_message());
            let rendered = render_page(&state, &principal, &name, &[], message).await;
            let mut response = super::render(rendered);
            *response.status_mut() = axum::http::StatusCode::BAD_REQUEST;
            response
        }
        Err(e) => super::render(Err(e)),
    }
}

#[derive(Template)]
#[template(path = "wins.html")]
struct WinsPage {
    nav: Option<super::Nav>,
    wins: Vec<WinRow>,
    departments: Vec<String>,
}

/// The wall of wins: every department's, newest first.
pub async fn wins_page(State(state): State<AppState>, principal: Principal) -> Response {
    let built = async {
        let nav = super::Nav::load(&state, &principal).await;
        let wins = departments::win_cards(&*state.store, principal.scope.department()).await?;
        let names = state
            .store
            .backend()
            .departments()
            .await?
            .into_iter()
            .map(|d| d.record.name)
            .filter(|n| principal.scope.department().is_none_or(|own| own == n))
            .collect();
        Ok::<_, ApiError>(
            WinsPage {
                nav: Some(nav),
                wins: win_rows(&wins),
                departments: names,
            }
            .render()?,
        )
    }
    .await;
    super::render(built)
}
