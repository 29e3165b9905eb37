//! Pilot pages: the list with a form to register a plan, and one pilot —
//! plan, power curve, assignment and balance, the evaluation chart of both
//! groups over time, and the roll-out recommendation.

use askama::Template;
use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use northstar_core::access::Capability;
use northstar_core::business_case::money;
use northstar_core::calendar;
use northstar_core::department::OneOrMany;
use northstar_core::pilot::PilotPlan;
use serde::Deserialize;

use crate::AppState;
use crate::api::business_cases::short;
use crate::api::pilots::{self, Balance, Evaluation, PilotView};
use crate::auth::Principal;
use crate::chart;
use crate::error::ApiError;

#[derive(Template)]
#[template(path = "pilots.html")]
struct ListPage {
    nav: Option<super::Nav>,
    csrf: String,
    pilots: Vec<PilotView>,
    may_create: bool,
    message: String,
    form: PlanForm,
}

#[derive(Template)]
#[template(path = "pilot.html")]
struct PilotPage {
    nav: Option<super::Nav>,
    csrf: String,
    p: PilotView,
    scope: String,
    power_curve: String,
    balance: Balance,
    smd: Vec<String>,
    evaluation: Option<Evaluation>,
    evaluation_error: String,
    chart: String,
    effect: String,
    after: String,
    case_line: String,
    roadmap: Vec<(String, String, String, String)>,
    may_manage: bool,
    locked: bool,
    message: String,
}

fn scope_text(scope: &std::collections::BTreeMap<String, OneOrMany>) -> String {
    scope
        .iter()
        .map(|(k, v)| format!("{k} = {}", v.values().join(" or ")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// n per group across minimum effects around the plan's.
fn power_curve(p: &PilotView) -> String {
    let plan = &p.plan;
    let mut points = Vec::new();
    for i in 1..=12 {
        let mde = plan.mde * f64::from(i) / 6.0;
        let size = if plan.metric == "nps" {
            let parts: Vec<f64> = p
                .design
                .baseline
                .split(',')
                .filter_map(|x| x.trim().parse().ok())
                .collect();
            match parts.as_slice() {
                [pr, de] => northstar_core::power::nps(*pr, *de, mde, plan.alpha, plan.power).ok(),
                _ => None,
            }
        } else {
            p.design.baseline.trim().parse::<f64>().ok().and_then(|b| {
                northstar_core::power::proportion(b, mde, plan.alpha, plan.power).ok()
            })
        };
        if let Some(s) = size {
            points.push((mde, s.n_per_group as f64, s.n_per_group));
        }
    }
    let labels: Vec<(f64, String)> = points
        .iter()
        .step_by(2)
        .map(|(x, _, _)| (*x, short(*x)))
        .collect();
    chart::groups_svg(
        "Respondents per group needed for each minimum detectable effect",
        "respondents per group",
        &[chart::GroupSeries {
            label: "n per group".into(),
            points,
            dashed: false,
        }],
        Some((plan.mde, "planned")),
        &labels,
    )
}

async fn render_pilot(
    state: &AppState,
    principal: &Principal,
    id: i64,
    message: String,
) -> Result<String, ApiError> {
    let nav = Some(super::Nav::load(state, principal).await);
    let (p, assignments) = pilots::pilot_view(state, principal, id).await?;
    let balance = pilots::balance(state, &p, &assignments).await?;
    let smd = balance
        .rows
        .iter()
        .map(|r| r.smd.map_or("–".into(), |d| format!("{d:.3}")))
        .collect();
    let (evaluation, evaluation_error) = if p.locked_at.is_some() {
        match pilots::evaluation(state, principal, id, None).await {
            Ok(e) => (Some(e), String::new()),
            Err(e) => (None, e.public_message()),
        }
    } else {
        (
            None,
            "The pilot has not started: assign the groups, check their balance and start it."
                .into(),
        )
    };
    let (chart, effect, after, case_line, roadmap) = match &evaluation {
        None => Default::default(),
        Some(e) => {
            let start = calendar::parse_day(&p.plan.start).unwrap_or_default();
            let series = ["pilot", "control"]
                .iter()
                .map(|g| chart::GroupSeries {
                    label: (*g).to_string(),
                    points: e
                        .weeks
                        .iter()
                        .filter(|w| w.group == *g)
                        .filter_map(|w| {
                            calendar::parse_day(&w.week).map(|d| (f64::from(d), w.mean, w.n))
                        })
                        .collect(),
                    dashed: *g == "control",
                })
                .collect::<Vec<_>>();
            let labels: Vec<(f64, String)> = e
                .weeks
                .iter()
                .filter(|w| w.group == "pilot")
                .step_by(3)
                .filter_map(|w| {
                    calendar::parse_day(&w.week).map(|d| (f64::from(d), w.week[5..].to_string()))
                })
                .collect();
            let chart = chart::groups_svg(
                &format!(
                    "Weekly {} of the pilot and the control group, before and after the start",
                    e.metric
                ),
                e.unit,
                &series,
                Some((f64::from(start), "start")),
                &labels,
            );
            let a = &e.after_comparison;
            let after = match (a.pilot, a.control, a.difference) {
                (Some(pv), Some(cv), Some(d)) => format!(
                    "After the start: pilot {} vs control {} — difference {} (95% CI {} to {}, {}). {}. {}",
                    short(pv),
                    short(cv),
                    short(d),
                    a.ci_low.map_or("–".into(), short),
                    a.ci_high.map_or("–".into(), short),
                    pilots::p_text(a.p_value.unwrap_or(f64::NAN)),
                    a.method,
                    a.note
                ),
                _ => a.method.clone(),
            };
            let case_line = e.recommendation.business_case.as_ref().map_or(String::new(), |b| {
                format!(
                    "Business case “{}” (version {}, {}): with the measured effect NPV {} — {} at the interval's low end, {} at its high end (the case assumed {} for NPV {}; break-even {}).",
                    b.name,
                    b.version,
                    b.finance_review,
                    money(b.npv),
                    money(b.npv_at_ci_low),
                    money(b.npv_at_ci_high),
                    short(b.assumed),
                    money(b.npv_assumed),
                    b.break_even.map_or("–".into(), short)
                )
            });
            let roadmap = e
                .recommendation
                .roadmap
                .iter()
                .map(|s| {
                    (
                        s.scope
                            .iter()
                            .map(|(k, v)| format!("{k} = {v}"))
                            .collect::<Vec<_>>()
                            .join(", "),
                        s.customers.to_string(),
                        s.value_of_one_nps_point.map_or("–".into(), money),
                        match (
                            s.yearly_benefit,
                            s.yearly_benefit_low,
                            s.yearly_benefit_high,
                        ) {
                            (Some(v), Some(l), Some(h)) => {
                                format!("{} ({} to {})", money(v), money(l), money(h))
                            }
                            _ => "–".into(),
                        },
                    )
                })
                .collect();
            (chart, pilots::effect_text(e), after, case_line, roadmap)
        }
    };
    let page = PilotPage {
        csrf: principal.csrf_token().to_string(),
        nav,
        scope: scope_text(&p.plan.scope),
        power_curve: power_curve(&p),
        smd,
        balance,
        evaluation,
        evaluation_error,
        chart,
        effect,
        after,
        case_line,
        roadmap,
        may_manage: principal.may(Capability::ManageCasesAndPilots),
        locked: p.locked_at.is_some(),
        message,
        p,
    };
    Ok(page.render()?)
}

/// `GET /pilots/{id}`.
pub async fn page(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
) -> Response {
    super::render(render_pilot(&state, &principal, id, String::new()).await)
}

/// The plan form (the list page), kept on a validation error.
#[derive(Debug, Default, Deserialize)]
pub struct PlanForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub hypothesis: String,
    #[serde(default)]
    pub metric: String,
    #[serde(default)]
    pub segment: String,
    #[serde(default)]
    pub touchpoint: String,
    #[serde(default)]
    pub start: String,
    #[serde(default)]
    pub end: String,
    #[serde(default)]
    pub mde: String,
}

async fn render_list(
    state: &AppState,
    principal: &Principal,
    message: String,
    form: PlanForm,
) -> Result<String, ApiError> {
    let nav = Some(super::Nav::load(state, principal).await);
    Ok(ListPage {
        nav,
        csrf: principal.csrf_token().to_string(),
        pilots: pilots::visible_pilots(state, principal).await?,
        may_create: principal.may(Capability::ManageCasesAndPilots),
        message,
        form,
    }
    .render()?)
}

/// `GET /pilots`.
pub async fn list(State(state): State<AppState>, principal: Principal) -> Response {
    super::render(
        render_list(
            &state,
            &principal,
            String::new(),
            PlanForm {
                metric: "nps".into(),
                ..PlanForm::default()
            },
        )
        .await,
    )
}

/// `POST /pilots`: registers a plan from the form.
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    form: Result<Form<PlanForm>, FormRejection>,
) -> Response {
    let Ok(Form(f)) = form else {
        return super::render(Err(ApiError::BadBody("the form could not be read".into())));
    };
    let outcome = async {
        let mut scope = std::collections::BTreeMap::new();
        if !f.segment.trim().is_empty() {
            scope.insert(
                "segment".to_string(),
                OneOrMany::One(f.segment.trim().to_string()),
            );
        }
        if !f.touchpoint.trim().is_empty() {
            scope.insert(
                "touchpoint".to_string(),
                OneOrMany::One(f.touchpoint.trim().to_string()),
            );
        }
        let mde = f
            .mde
            .trim()
            .parse::<f64>()
            .map_err(|_| ApiError::BadBody(format!("mde: {:?} is not a number", f.mde)))?;
        let plan = PilotPlan {
            name: f.name.trim().to_string(),
            hypothesis: f.hypothesis.trim().to_string(),
            metric: f.metric.trim().to_string(),
            secondary: Vec::new(),
            scope,
            start: f.start.trim().to_string(),
            end: f.end.trim().to_string(),
            mde,
            alpha: 0.05,
            power: 0.8,
            baseline: None,
            pilot_share: 0.5,
            business_case_id: None,
            before_days: None,
        };
        pilots::create(&state, &principal, plan).await
    }
    .await;
    match outcome {
        Ok(id) => Redirect::to(&format!("/pilots/{id}")).into_response(),
        Err(e) if e.status().is_client_error() => {
            let status = e.status();
            let mut response = super::render(
                render_list(
                    &state,
                    &principal,
                    format!("The pilot was not registered: {}", e.public_message()),
                    f,
                )
                .await,
            );
            *response.status_mut() = status;
            response
        }
        Err(e) => super::render(Err(e)),
    }
}

/// The assignment form.
#[derive(Debug, Deserialize)]
pub struct AssignForm {
    pub method: String,
    #[serde(default)]
    pub seed: String,
}

/// `POST /pilots/{id}/assign`.
pub async fn assign(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
    form: Result<Form<AssignForm>, FormRejection>,
) -> Response {
    let outcome = async {
        let Form(f) =
            form.map_err(|e| ApiError::BadBody(format!("the form could not be read: {e}")))?;
        let seed = match f.seed.trim() {
            "" => None,
            s => Some(
                s.parse::<u64>()
                    .map_err(|_| ApiError::BadBody(format!("seed: {s:?} is not a whole number")))?,
            ),
        };
        pilots::assign_scope(
            &state,
            &principal,
            id,
            &pilots::AssignRequest {
                method: f.method,
                seed,
            },
        )
        .await
        .map(|_| ())
    }
    .await;
    after(&state, &principal, id, outcome).await
}

/// `POST /pilots/{id}/start`.
pub async fn start(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
) -> Response {
    let outcome = pilots::start(&state, &principal, id).await;
    after(&state, &principal, id, outcome).await
}

async fn after(
    state: &AppState,
    principal: &Principal,
    id: i64,
    outcome: Result<(), ApiError>,
) -> Response {
    match outcome {
        Ok(()) => Redirect::to(&format!("/pilots/{id}")).into_response(),
        Err(e)
            if e.status().is_client_error() && e.status() != axum::http::StatusCode::NOT_FOUND =>
        {
            let status = e.status();
            let mut response = super::render(
                render_pilot(
                    state,
                    principal,
                    id,
                    format!("Not done: {}", e.public_message()),
                )
                .await,
            );
            *response.status_mut() = status;
            response
        }
        Err(e) => super::render(Err(e)),
    }
}
