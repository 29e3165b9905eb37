//! Business-case pages: the list, and one case that prints well (a finance
//! reviewer reads it on paper) — figures with their formulas, scenarios,
//! the tornado chart, every assumption with its source and review, the
//! version history; review forms for finance, revise forms for the CX team.

use askama::Template;
use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use northstar_core::access::Capability;
use northstar_core::business_case::{AssumptionSource, money};
use northstar_store::value_records::{CaseStatus, Verdict};
use serde::Deserialize;

use crate::api::business_cases::{self as cases, CaseView, short, status_label};
use crate::auth::Principal;
use crate::chart;
use crate::error::ApiError;
use crate::{AppState, params};

struct Row {
    name: String,
    value: String,
    formula: String,
    calculation: String,
}

struct AssumptionRow {
    key: String,
    name: String,
    value: String,
    range: String,
    unit: String,
    source: String,
    link: String,
    as_of: String,
    review: String,
    challenged: bool,
    note: String,
    /// Pre-filled revise form.
    raw_value: String,
    raw_low: String,
    raw_high: String,
    kind: &'static str,
    source_text: String,
}

struct VersionRow {
    version: i64,
    status: String,
    created: String,
    decided: String,
    comment: String,
    npv: String,
    current: bool,
}

struct YearRow {
    year: u32,
    cost: String,
    benefit: String,
    net: String,
    discounted: String,
}

#[derive(Template)]
#[template(path = "business_case.html")]
struct CasePage {
    nav: Option<super::Nav>,
    csrf: String,
    c: CaseView,
    status: String,
    headline: Vec<Row>,
    scenarios: Vec<(String, String, String, String)>,
    tornado: String,
    years: Vec<YearRow>,
    lines: Vec<Row>,
    assumptions: Vec<AssumptionRow>,
    versions: Vec<VersionRow>,
    reviewable: bool,
    revisable: bool,
    moved: bool,
    message: String,
    open: String,
    printed: String,
}

fn percent(v: Option<f64>) -> String {
    v.map_or("–".into(), |x| format!("{:.1}%", x * 100.0))
}

fn years(v: Option<f64>) -> String {
    v.map_or("not within the case".into(), |x| format!("{x:.2} years"))
}

fn source_text(s: &AssumptionSource) -> (String, String, &'static str, String) {
    match s {
        AssumptionSource::Measured {
            figure,
            provenance,
            link,
            ..
        } => (
            format!("measured in Northstar ({figure}): {provenance}"),
            link.clone(),
            "measured",
            figure.clone(),
        ),
        AssumptionSource::Benchmark { citation } => (
            format!("benchmark: {citation}"),
            String::new(),
            "benchmark",
            citation.clone(),
        ),
        AssumptionSource::Estimate { owner } => (
            format!("estimate owned by {owner}"),
            String::new(),
            "estimate",
            owner.clone(),
        ),
    }
}

async fn render_case(
    state: &AppState,
    principal: &Principal,
    id: i64,
    version: Option<i64>,
    message: String,
) -> Result<String, ApiError> {
    let nav = Some(super::Nav::load(state, principal).await);
    let c = cases::load_view(state, principal, id, version, true).await?;
    let f = &c.figures;
    let headline = vec![
        Row {
            name: "Net present value".into(),
            value: money(f.npv.value.unwrap_or(0.0)),
            formula: f.npv.formula.clone(),
            calculation: f.npv.calculation.clone(),
        },
        Row {
            name: "Return on investment".into(),
            value: percent(f.roi.value),
            formula: f.roi.formula.clone(),
            calculation: f.roi.calculation.clone(),
        },
        Row {
            name: "Payback".into(),
            value: years(f.payback_years.value),
            formula: f.payback_years.formula.clone(),
            calculation: f.payback_years.calculation.clone(),
        },
        Row {
            name: "Discounted payback".into(),
            value: years(f.discounted_payback_years.value),
            formula: f.discounted_payback_years.formula.clone(),
            calculation: f.discounted_payback_years.calculation.clone(),
        },
    ]
    .into_iter()
    .chain(f.break_even.iter().map(|b| Row {
        name: format!("Break-even {}", b.key),
        value: b.value.map_or("–".into(), short),
        formula: b.formula.clone(),
        calculation: b.calculation.clone(),
    }))
    .collect();
    let scenarios = [
        ("Low (lowest NPV over the ranges)", &f.low),
        ("Base", &f.base),
        ("High (highest NPV over the ranges)", &f.high),
    ]
    .iter()
    .map(|(name, s)| {
        (
            (*name).to_string(),
            money(s.npv),
            percent(s.roi),
            years(s.payback_years),
        )
    })
    .collect();
    let bars: Vec<chart::TornadoBar> = f
        .tornado
        .iter()
        .map(|b| chart::TornadoBar {
            label: format!("{} ({} to {})", b.name, short(b.low), short(b.high)),
            at_low: b.npv_at_low,
            at_high: b.npv_at_high,
        })
        .collect();
    let tornado = chart::tornado_svg(
        "Sensitivity of NPV to each assumption between its low and high",
        f.base.npv,
        &bars,
        money,
    );
    let years_rows = f
        .years
        .iter()
        .map(|y| YearRow {
            year: y.year,
            cost: money(y.cost),
            benefit: money(y.benefit),
            net: money(y.net),
            discounted: money(y.discounted),
        })
        .collect();
    let lines = f
        .lines
        .iter()
        .map(|l| Row {
            name: String::new(),
            value: money(l.value.unwrap_or(0.0)),
            formula: l.formula.clone(),
            calculation: l.calculation.clone(),
        })
        .collect();
    let assumptions = c
        .assumptions
        .iter()
        .map(|a| {
            let (source, link, kind, text) = source_text(&a.assumption.source);
            let review = match &a.review {
                None => "not reviewed".to_string(),
                Some(r) => format!(
                    "{} by {} ({}){}{}",
                    match r.verdict {
                        Verdict::Accepted => "accepted",
                        Verdict::Challenged => "CHALLENGED",
                    },
                    r.reviewer,
                    r.reviewed_at,
                    r.carried_from
                        .map(|v| format!(", given on version {v}"))
                        .unwrap_or_default(),
                    if r.comment.is_empty() {
                        String::new()
                    } else {
                        format!(": “{}”", r.comment)
                    }
                ),
            };
            AssumptionRow {
                key: a.assumption.key.clone(),
                name: a.assumption.name.clone(),
                value: short(a.assumption.value),
                range: format!(
                    "{} to {}",
                    short(a.assumption.low),
                    short(a.assumption.high)
                ),
                unit: format!("{:?}", a.assumption.unit).to_lowercase(),
                source,
                link,
                as_of: a.assumption.as_of.clone(),
                challenged: matches!(
                    a.review.as_ref().map(|r| &r.verdict),
                    Some(Verdict::Challenged)
                ),
                review,
                note: a.note.clone().unwrap_or_default(),
                raw_value: format!("{}", a.assumption.value),
                raw_low: format!("{}", a.assumption.low),
                raw_high: format!("{}", a.assumption.high),
                kind,
                source_text: text,
            }
        })
        .collect();
    let versions = c
        .versions
        .iter()
        .rev()
        .map(|v| VersionRow {
            version: v.version,
            status: status_label(&v.status).into(),
            created: format!("{} by {}", v.created_at, v.created_by),
            decided: match (&v.decided_by, &v.decided_at) {
                (Some(b), Some(a)) => format!("{a} by {b}"),
                _ => String::new(),
            },
            comment: v.decision_comment.clone().unwrap_or_default(),
            npv: v.npv.map_or("–".into(), money),
            current: v.version == c.version,
        })
        .collect();
    let latest = c.version == c.latest_version;
    let page = CasePage {
        csrf: principal.csrf_token().to_string(),
        nav,
        status: status_label(&c.status).into(),
        reviewable: latest
            && c.status == CaseStatus::AwaitingReview
            && principal.may(Capability::ReviewCases),
        revisable: latest && principal.may(Capability::ManageCasesAndPilots),
        moved: latest && c.assumptions.iter().any(|a| a.changed),
        open: c.open_assumptions.join(", "),
        printed: jiff::Timestamp::now()
            .strftime("%Y-%m-%d %H:%M UTC")
            .to_string(),
        headline,
        scenarios,
        tornado,
        years: years_rows,
        lines,
        assumptions,
        versions,
        message,
        c,
    };
    Ok(page.render()?)
}

/// `GET /business-cases/{id}` (`?version=N` for an older version).
pub async fn page(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
    params::QueryPairs(pairs): params::QueryPairs,
) -> Response {
    let version = pairs
        .iter()
        .find(|(k, _)| k == "version")
        .and_then(|(_, v)| v.trim().parse().ok());
    super::render(render_case(&state, &principal, id, version, String::new()).await)
}

#[derive(Template)]
#[template(path = "business_cases.html")]
struct ListPage {
    nav: Option<super::Nav>,
    cases: Vec<cases::CaseListEntry>,
    npvs: Vec<String>,
}

/// `GET /business-cases`.
pub async fn list(State(state): State<AppState>, principal: Principal) -> Response {
    let built = async {
        let nav = Some(super::Nav::load(&state, &principal).await);
        let cases = cases::case_list(&state, &principal).await?;
        let npvs = cases
            .iter()
            .map(|c| c.npv.map_or("–".into(), money))
            .collect();
        Ok::<_, ApiError>(ListPage { nav, cases, npvs }.render()?)
    }
    .await;
    super::render(built)
}

/// The review form of one assumption.
#[derive(Debug, Deserialize)]
pub struct ReviewForm {
    pub version: i64,
    pub assumption: String,
    pub verdict: String,
    #[serde(default)]
    pub comment: String,
}

/// The decision form.
#[derive(Debug, Deserialize)]
pub struct DecisionForm {
    pub version: i64,
    pub decision: String,
    #[serde(default)]
    pub comment: String,
}

/// The revise form of one assumption (a new version).
#[derive(Debug, Deserialize)]
pub struct ReviseForm {
    pub key: String,
    pub value: String,
    pub low: String,
    pub high: String,
    /// estimate, benchmark or measured.
    pub kind: String,
    /// The owner, the citation or the measured figure.
    pub source: String,
}

async fn after_form(
    state: &AppState,
    principal: &Principal,
    id: i64,
    outcome: Result<(), ApiError>,
) -> Response {
    match outcome {
        Ok(()) => Redirect::to(&format!("/business-cases/{id}")).into_response(),
        Err(e)
            if e.status().is_client_error() && e.status() != axum::http::StatusCode::NOT_FOUND =>
        {
            let message = format!("Not saved: {}", e.public_message());
            let mut response =
                super::render(render_case(state, principal, id, None, message).await);
            *response.status_mut() = e.status();
            response
        }
        Err(e) => super::render(Err(e)),
    }
}

fn read<T>(form: Result<Form<T>, FormRejection>) -> Result<T, ApiError> {
    form.map(|Form(f)| f)
        .map_err(|e| ApiError::BadBody(format!("the form could not be read: {e}")))
}

/// `POST /business-cases/{id}/review`.
pub async fn review(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
    form: Result<Form<ReviewForm>, FormRejection>,
) -> Response {
    let outcome = async {
        let f = read(form)?;
        cases::review(
            &state,
            &principal,
            id,
            f.version,
            &cases::ReviewRequest {
                assumption: f.assumption,
                verdict: f.verdict,
                comment: f.comment,
            },
        )
        .await
    }
    .await;
    after_form(&state, &principal, id, outcome).await
}

/// `POST /business-cases/{id}/decision`.
pub async fn decision(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
    form: Result<Form<DecisionForm>, FormRejection>,
) -> Response {
    let outcome = async {
        let f = read(form)?;
        cases::decide(
            &state,
            &principal,
            id,
            f.version,
            &cases::DecisionRequest {
                decision: f.decision,
                comment: f.comment,
            },
        )
        .await
    }
    .await;
    after_form(&state, &principal, id, outcome).await
}

fn number(field: &str, text: &str) -> Result<f64, ApiError> {
    text.trim()
        .replace(',', "")
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| ApiError::BadBody(format!("{field}: {text:?} is not a number")))
}

/// `POST /business-cases/{id}/revise`: one assumption changed → a new
/// version for review.
pub async fn revise(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
    form: Result<Form<ReviseForm>, FormRejection>,
) -> Response {
    let outcome = async {
        let f = read(form)?;
        let view = cases::load_view(&state, &principal, id, None, false).await?;
        let (_, versions) = state
            .store
            .backend()
            .business_case(id)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("there is no business case {id}")))?;
        let latest = versions
            .iter()
            .find(|v| v.version == view.version)
            .ok_or_else(|| ApiError::NotFound(format!("business case {id} has no version")))?;
        let mut inputs = cases::inputs_of_version(latest)?;
        // Only the revised assumption changes: the others stay exactly as
        // finance saw them (no re-measuring behind the reviewer's back).
        let index = inputs
            .assumptions
            .iter()
            .position(|a| a.key == f.key)
            .ok_or_else(|| ApiError::BadBody(format!("key: the case has no assumption {:?}", f.key)))?;
        let a = inputs.assumptions[index].clone();
        let source = match f.kind.trim() {
            "estimate" => AssumptionSource::Estimate { owner: f.source.trim().to_string() },
            "benchmark" => AssumptionSource::Benchmark { citation: f.source.trim().to_string() },
            "measured" => {
                let (scope, pilot_id) = match &a.source {
                    AssumptionSource::Measured { scope, pilot_id, .. } => (scope.clone(), *pilot_id),
                    _ => (Default::default(), inputs.pilot_id),
                };
                AssumptionSource::Measured {
                    figure: f.source.trim().to_string(),
                    scope,
                    pilot_id,
                    link: String::new(),
                    provenance: String::new(),
                }
            }
            other => {
                return Err(ApiError::BadBody(format!(
                    "{}: source {other:?} is not a kind of source; use estimate, benchmark or measured",
                    f.key
                )));
            }
        };
        let measured = matches!(source, AssumptionSource::Measured { .. });
        // A measured value is read from the data; typed numbers are for
        // estimates and benchmarks (blank low/high: the value).
        let parse = |what: &str, text: &str| -> Result<Option<f64>, ApiError> {
            if measured || text.trim().is_empty() {
                return Ok(None);
            }
            number(&format!("{} {what}", f.key), text).map(Some)
        };
        let request = cases::AssumptionRequest {
            key: Some(a.key.clone()),
            name: a.name.clone(),
            value: parse("value", &f.value)?,
            low: parse("low", &f.low)?,
            high: parse("high", &f.high)?,
            unit: a.unit,
            source,
            as_of: None,
        };
        let today = northstar_core::calendar::day_label(northstar_core::calendar::today_in(
            &northstar_store::settings::time_zone(state.store.backend()).await?.1,
        ));
        inputs.assumptions[index] =
            cases::assumption_from(&state, &principal, request, &f.key, &today).await?;
        inputs.check().map_err(crate::api::departments::field_errors)?;
        northstar_core::business_case::evaluate(&inputs)
            .map_err(|e| ApiError::BadBody(e.to_string()))?;
        cases::new_version(&state, &principal, id, &inputs).await?;
        Ok(())
    }
    .await;
    after_form(&state, &principal, id, outcome).await
}

/// `POST /business-cases/{id}/refresh`: measures again → a new version.
pub async fn refresh(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
) -> Response {
    let outcome =
        crate::api::business_cases::post_refresh(State(state.clone()), principal.clone(), Path(id))
            .await
            .map(|_| ());
    after_form(&state, &principal, id, outcome).await
}
