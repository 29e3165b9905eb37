//! Pilots with a control group (issue 11): a pre-registered plan (power →
//! respondents per group → expected duration), group assignment (seeded,
//! optionally stratified, or a named control group), balance before the
//! start, the difference-in-differences evaluation from the same responses
//! the rest of Northstar reads, and the roll-out recommendation that puts
//! the measured effect into the business case.

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use northstar_core::assignment::{self, Group};
use northstar_core::balance::{BalanceRow, Moments};
use northstar_core::calendar::{self, Day};
use northstar_core::department::OneOrMany;
use northstar_core::did::{self, DidEstimate, DidObservation};
use northstar_core::pilot::{self, PilotDays, PilotPlan};
use northstar_core::power::{self, SampleSize};
use northstar_core::{Dimension, Metric, ResponseSummary};
use northstar_store::value_records::{Assignment, Pilot, PilotGroup, PilotResponse};
use serde::{Deserialize, Serialize};

use super::business_cases::{self as cases, short};
use super::departments::{field_errors, record_body};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::report::Selection;
use crate::{AppState, params};

/// Largest assignment list a request may carry (`PUT …/assignments`).
pub const MAX_ASSIGNMENT_BODY_BYTES: usize = 32 << 20;
/// Days before the start whose respondents are the scope's customers.
pub const CUSTOMER_WINDOW_DAYS: i32 = 365;

fn now_unix() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// What the plan was computed into when it was registered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Design {
    /// The baseline used, as `GET /api/v1/power` takes it.
    pub baseline: String,
    /// "measured" (on the scope before the start) or "given".
    pub baseline_source: String,
    pub baseline_answers: i64,
    pub baseline_from: String,
    pub baseline_to: String,
    pub n_per_group: u64,
    pub n_exact: f64,
    pub effect_size: f64,
    pub method: String,
    /// Answers of the metric a day in the scope (baseline window).
    pub daily_volume: f64,
    /// Days until the smaller group has `n_per_group` answers.
    pub expected_days: Option<f64>,
    /// The pilot's length, for comparison.
    pub planned_days: i32,
    pub note: String,
}

/// The stored document: the plan and its design.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PilotDocument {
    pub plan: PilotPlan,
    pub design: Design,
}

fn scope_filter(scope: &BTreeMap<String, OneOrMany>) -> Result<Vec<(Dimension, String)>, ApiError> {
    northstar_core::department::scope_pairs(scope, "scope").map_err(|e| field_errors(vec![e]))
}

fn selection(
    scope: &BTreeMap<String, OneOrMany>,
    from: impl Into<Option<Day>>,
    to: Day,
) -> Result<Selection, ApiError> {
    Ok(Selection {
        filter: scope_filter(scope)?,
        from: from.into(),
        to: Some(to),
        ..Selection::default()
    })
}

fn metric_of(name: &str) -> Result<Metric, ApiError> {
    pilot::pilot_metric(name).ok_or_else(|| {
        ApiError::parameter(
            "metric",
            format!("{name:?} is not a pilot metric; use nps, csat or fcr"),
        )
    })
}

/// Checks a plan and computes its design from the scope's recent answers.
pub async fn design(state: &AppState, plan: &PilotPlan) -> Result<(PilotDays, Design), ApiError> {
    let days = plan.check().map_err(field_errors)?;
    if plan.metric == pilot::RETENTION {
        return retention_design(state, plan, days).await;
    }
    let metric = metric_of(&plan.metric)?;
    // The 90 days before the start — or, when the start is in the future,
    // the 90 days that end today (days to come have no answers yet).
    let (_, window_end) = days.baseline_window();
    let to = window_end.min(today(state).await?);
    let from = to - (pilot::BASELINE_DAYS - 1);
    let answer = state
        .store
        .query_rollups(&selection(&plan.scope, from, to)?.query(None))
        .await?;
    let recent = metric.estimate(&answer.overall).n;
    // Without recent answers the baseline is read on every earlier answer
    // of the scope (the volume, hence the duration, stays unknown).
    let (s, baseline_from) = if recent == 0 && plan.baseline.is_none() {
        let all = state
            .store
            .query_rollups(&selection(&plan.scope, None, to)?.query(None))
            .await?;
        (all.overall, "the first answer".to_string())
    } else {
        (answer.overall, calendar::day_label(from))
    };
    let answers = metric.estimate(&s).n;
    let (measured_baseline, size): (String, Result<SampleSize, power::PowerError>) = match metric {
        Metric::Nps => {
            let n = s.nps.counts().iter().sum::<i64>().max(0) as f64;
            let promoters = (s.nps.counts()[9] + s.nps.counts()[10]) as f64;
            let detractors = s.nps.counts()[..7].iter().sum::<i64>() as f64;
            let (p, d) = if n > 0.0 {
                (promoters / n, detractors / n)
            } else {
                (0.0, 0.0)
            };
            let given = plan.baseline.as_deref();
            let (p, d) = match given {
                Some(text) => {
                    let parts: Vec<f64> = text
                        .split(',')
                        .filter_map(|x| x.trim().parse().ok())
                        .collect();
                    match parts.as_slice() {
                        [p, d] => (*p, *d),
                        _ => {
                            return Err(ApiError::BadBody(format!(
                                "baseline: {text:?} is not promoters,detractors (0.45,0.20)"
                            )));
                        }
                    }
                }
                None => (p, d),
            };
            (
                format!("{p:.4},{d:.4}"),
                power::nps(p, d, plan.mde, plan.alpha, plan.power),
            )
        }
        _ => {
            let share = if metric == Metric::Csat {
                let n: i64 = s.csat.counts().iter().sum();
                (n > 0).then(|| (s.csat.counts()[3] + s.csat.counts()[4]) as f64 / n as f64)
            } else {
                (s.fcr.trials > 0).then(|| s.fcr.successes as f64 / s.fcr.trials as f64)
            };
            let b = match plan.baseline.as_deref() {
                Some(text) => text.trim().parse::<f64>().map_err(|_| {
                    ApiError::BadBody(format!("baseline: {text:?} is not a share (0.70)"))
                })?,
                None => share.unwrap_or(0.0),
            };
            (
                format!("{b:.4}"),
                power::proportion(b, plan.mde, plan.alpha, plan.power),
            )
        }
    };
    if plan.baseline.is_none() && answers == 0 {
        return Err(ApiError::BadBody(format!(
            "baseline: the scope has no {} answers up to {} to measure a baseline from; give baseline",
            metric.as_str(),
            calendar::day_label(to)
        )));
    }
    let size = size.map_err(|e| ApiError::BadBody(e.to_string()))?;
    let daily_volume = recent as f64 / f64::from(pilot::BASELINE_DAYS);
    let expected = pilot::expected_days(size.n_per_group, daily_volume, plan.pilot_share);
    let planned = days.length();
    let note = match expected {
        Some(e) if e > f64::from(planned) => format!(
            "at the scope's recent volume the smaller group reaches {} answers in about {:.0} days, longer than the {planned} days planned: extend the pilot, widen the scope or accept a larger minimum effect",
            size.n_per_group, e
        ),
        Some(e) => format!(
            "at the scope's recent volume the smaller group reaches {} answers in about {:.0} days of the {planned} planned",
            size.n_per_group, e
        ),
        None => "the scope had no answers recently: the duration cannot be estimated".into(),
    };
    Ok((
        days,
        Design {
            baseline: plan.baseline.clone().unwrap_or(measured_baseline),
            baseline_source: if plan.baseline.is_some() {
                "given"
            } else {
                "measured"
            }
            .into(),
            baseline_answers: answers,
            baseline_from,
            baseline_to: calendar::day_label(to),
            n_per_group: size.n_per_group,
            n_exact: size.n_exact,
            effect_size: size.effect_size,
            method: format!(
                "{}; the n is for the comparison after the start — the difference-in-differences adds the before period's variance, so plan it as a floor (about twice as many per group when different customers answer before and after)",
                size.method
            ),
            daily_volume,
            expected_days: expected,
            planned_days: planned,
            note,
        },
    ))
}

/// A retention pilot's design: the baseline is the share of the scope's
/// customers (by their answers) who have not churned, from the customers
/// file's churn flags, unless given; n is customers per group.
async fn retention_design(
    state: &AppState,
    plan: &PilotPlan,
    days: PilotDays,
) -> Result<(PilotDays, Design), ApiError> {
    let everything = Selection {
        filter: scope_filter(&plan.scope)?,
        ..Selection::default()
    };
    let loyalty = state
        .store
        .loyalty_customers(&everything.respondents(), None)
        .await?
        .into_iter()
        .next()
        .map(|(_, l)| l)
        .unwrap_or_default();
    let known = loyalty.promoters.churn_known
        + loyalty.passives.churn_known
        + loyalty.detractors.churn_known;
    let churned = loyalty.promoters.churned + loyalty.passives.churned + loyalty.detractors.churned;
    let (baseline, source) = match plan.baseline.as_deref() {
        Some(text) => (
            text.trim().parse::<f64>().map_err(|_| {
                ApiError::BadBody(format!("baseline: {text:?} is not a share retained (0.85)"))
            })?,
            "given",
        ),
        None if known > 0 => (1.0 - churned as f64 / known as f64, "measured"),
        None => {
            return Err(ApiError::BadBody(
                "baseline: no customer of the scope has a known churn flag to measure retention from; give baseline (the share retained, 0.85)".into(),
            ));
        }
    };
    let size = power::proportion(baseline, plan.mde, plan.alpha, plan.power)
        .map_err(|e| ApiError::BadBody(e.to_string()))?;
    let customers =
        loyalty.promoters.customers + loyalty.passives.customers + loyalty.detractors.customers;
    Ok((
        days,
        Design {
            baseline: format!("{baseline:.4}"),
            baseline_source: source.into(),
            baseline_answers: i64::try_from(known).unwrap_or(i64::MAX),
            baseline_from: String::new(),
            baseline_to: String::new(),
            n_per_group: size.n_per_group,
            n_exact: size.n_exact,
            effect_size: size.effect_size,
            method: format!(
                "{}; retention counts customers (each group needs this many customers whose churn is known at the end)",
                size.method
            ),
            daily_volume: 0.0,
            expected_days: None,
            planned_days: days.length(),
            note: format!(
                "the scope has {customers} customers with an NPS answer, {known} with a known churn flag; the pilot's answers are evaluated with metric=nps, csat or fcr (a difference-in-differences of churn itself is not computed)"
            ),
        },
    ))
}

fn document_of(p: &Pilot) -> Result<PilotDocument, ApiError> {
    serde_json::from_str(&p.document).map_err(|e| {
        ApiError::Store(northstar_store::StoreError::Corrupt(format!(
            "pilot document: {e}"
        )))
    })
}

async fn load_for(
    state: &AppState,
    principal: &Principal,
    id: i64,
) -> Result<(Pilot, PilotDocument), ApiError> {
    let (p, d) = load(state, id).await?;
    if !visible_to(principal, &d.plan) {
        return Err(ApiError::NotFound(format!("there is no pilot {id}")));
    }
    Ok((p, d))
}

async fn load(state: &AppState, id: i64) -> Result<(Pilot, PilotDocument), ApiError> {
    let p = state
        .store
        .backend()
        .pilot(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("there is no pilot {id}")))?;
    let d = document_of(&p)?;
    Ok((p, d))
}

async fn today(state: &AppState) -> Result<Day, ApiError> {
    Ok(calendar::today_in(
        &northstar_store::settings::time_zone(state.store.backend())
            .await?
            .1,
    ))
}

/// Where a pilot stands.
pub fn status(p: &Pilot, days: PilotDays, today: Day) -> &'static str {
    if p.locked_unix.is_none() {
        if today >= days.start {
            "not started (its first day has passed; start it to lock the groups)"
        } else {
            "planned"
        }
    } else if today > days.end {
        "ended"
    } else if today < days.start {
        "locked (starts on its first day)"
    } else {
        "running"
    }
}

/// A pilot as shown.
#[derive(Debug, Clone, Serialize)]
pub struct PilotView {
    pub id: i64,
    pub name: String,
    pub status: &'static str,
    pub plan: PilotPlan,
    pub design: Design,
    pub n_per_group: u64,
    pub expected_days: Option<f64>,
    pub locked_at: Option<String>,
    pub locked_by: Option<String>,
    pub assignment_method: Option<String>,
    pub seed: Option<i64>,
    pub pilot_customers: usize,
    pub control_customers: usize,
    pub created_by: String,
    /// The groups were given on or after the pilot's first day, or are not
    /// given although it has begun: not pre-registered, so its result is
    /// weaker evidence (the groups could have been chosen knowing the
    /// answers).
    pub retrospective: bool,
}

/// True when a pilot's groups were not fixed before its first day: given
/// on or after it, or not given although it has begun.
pub fn retrospective(p: &Pilot, days: PilotDays, zone: &jiff::tz::TimeZone, today: Day) -> bool {
    match p.assigned_unix {
        Some(at) => calendar::day_in(at, zone) >= days.start,
        None => today >= days.start,
    }
}

fn time_label(unix: i64) -> String {
    jiff::Timestamp::from_second(unix)
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// The view of one pilot.
pub async fn pilot_view(
    state: &AppState,
    principal: &Principal,
    id: i64,
) -> Result<(PilotView, Vec<Assignment>), ApiError> {
    let (p, d) = load_for(state, principal, id).await?;
    let days = d.plan.check().map_err(field_errors)?;
    let zone = northstar_store::settings::time_zone(state.store.backend())
        .await?
        .1;
    let today = calendar::today_in(&zone);
    let assignments = state.store.backend().assignments(id).await?;
    let pilot_customers = assignments
        .iter()
        .filter(|a| a.group == PilotGroup::Pilot)
        .count();
    Ok((
        PilotView {
            id,
            name: p.name.clone(),
            status: status(&p, days, today),
            n_per_group: d.design.n_per_group,
            expected_days: d.design.expected_days,
            plan: d.plan,
            design: d.design,
            locked_at: p.locked_unix.map(time_label),
            locked_by: p.locked_by.clone(),
            assignment_method: p.assignment_method.clone(),
            seed: p.seed,
            pilot_customers,
            control_customers: assignments.len() - pilot_customers,
            created_by: p.created_by.clone(),
            retrospective: retrospective(&p, days, &zone, today),
        },
        assignments,
    ))
}

/// `POST /api/v1/pilots`: registers a plan.
pub async fn post_pilot(
    State(state): State<AppState>,
    principal: Principal,
    body: Result<Bytes, BytesRejection>,
) -> Result<(axum::http::StatusCode, Json<PilotView>), ApiError> {
    let mut plan: PilotPlan = record_body(body, "pilot plan")?;
    plan.normalise();
    let id = create(&state, &principal, plan).await?;
    Ok((
        axum::http::StatusCode::CREATED,
        Json(pilot_view(&state, &principal, id).await?.0),
    ))
}

/// Registers a plan (shared by the API, the page and the demo).
pub async fn create(
    state: &AppState,
    principal: &Principal,
    plan: PilotPlan,
) -> Result<i64, ApiError> {
    create_at(state, principal, plan, now_unix()).await
}

/// [`create`] stamped at `at_unix` (the demo registers its pilot before the
/// start, in the story's past).
pub async fn create_at(
    state: &AppState,
    principal: &Principal,
    plan: PilotPlan,
    at_unix: i64,
) -> Result<i64, ApiError> {
    let (_, design) = design(state, &plan).await?;
    check_case_link(state, &plan).await?;
    let document = serde_json::to_string(&PilotDocument {
        plan: plan.clone(),
        design,
    })
    .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(state
        .store
        .backend()
        .create_pilot(&plan.name, &document, &principal.who, at_unix)
        .await?)
}

async fn check_case_link(state: &AppState, plan: &PilotPlan) -> Result<(), ApiError> {
    if let Some(id) = plan.business_case_id
        && state.store.backend().business_case(id).await?.is_none()
    {
        return Err(ApiError::BadBody(format!(
            "business_case_id: there is no business case {id}"
        )));
    }
    Ok(())
}

/// `PUT /api/v1/pilots/{id}`: changes the plan until it is locked.
pub async fn put_pilot(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<PilotView>, ApiError> {
    let mut plan: PilotPlan = record_body(body, "pilot plan")?;
    plan.normalise();
    let (p, before) = load(&state, id).await?;
    refuse_if_started(&p)?;
    // Pre-registration: once the start day has come, the plan stays as it
    // was registered (groups may still be given until the pilot is locked).
    if let Some(start) = calendar::parse_day(&before.plan.start)
        && today(&state).await? >= start
    {
        return Err(ApiError::Store(northstar_store::StoreError::Refused(
            format!(
                "pilot {id} started on {}: its plan is locked as registered; register a new pilot to change it",
                before.plan.start
            ),
        )));
    }
    if plan.name != before.plan.name {
        return Err(ApiError::BadBody(format!(
            "name: a pilot keeps its name ({:?}); register a new pilot under another name",
            before.plan.name
        )));
    }
    if (plan.scope != before.plan.scope || plan.pilot_share != before.plan.pilot_share)
        && !state.store.backend().assignments(id).await?.is_empty()
    {
        return Err(ApiError::Store(northstar_store::StoreError::Refused(
            format!(
                "pilot {id}'s groups were drawn for its scope and pilot share as they are: clear them first (PUT /api/v1/pilots/{id}/assignments with []), change the plan, then draw again"
            ),
        )));
    }
    let (_, design) = design(&state, &plan).await?;
    check_case_link(&state, &plan).await?;
    let document = serde_json::to_string(&PilotDocument { plan, design })
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    state
        .store
        .backend()
        .update_pilot(id, &document, &principal.who, now_unix())
        .await?;
    Ok(Json(pilot_view(&state, &principal, id).await?.0))
}

/// After the first day groups may be given once, never drawn again: a
/// re-draw after answers exist would let the result be chosen. Giving the
/// same groups again is a no-op (true: nothing to write), so a repeated
/// import stays idempotent.
async fn refuse_redraw_after_start(
    state: &AppState,
    id: i64,
    plan: &PilotPlan,
    rows: &[Assignment],
) -> Result<bool, ApiError> {
    let existing = state.store.backend().assignments(id).await?;
    if existing.is_empty() {
        return Ok(false);
    }
    if northstar_store::value_records::same_groups(&existing, rows) {
        return Ok(true);
    }
    if let Some(start) = calendar::parse_day(&plan.start)
        && today(state).await? >= start
    {
        return Err(ApiError::Store(northstar_store::StoreError::Refused(
            format!(
                "pilot {id} began on {}: its groups were already given and cannot be drawn or given again (a new draw after answers exist could choose the result); register a new pilot instead",
                plan.start
            ),
        )));
    }
    Ok(false)
}

/// A pilot is evaluated with its plan and groups locked. One whose first
/// day has come with both groups given is locked now ("the plan is locked
/// when the pilot starts"); before that the groups could still change.
async fn ensure_locked(state: &AppState, p: &Pilot, d: &PilotDocument) -> Result<(), ApiError> {
    if p.locked_unix.is_some() {
        return Ok(());
    }
    let started = match calendar::parse_day(&d.plan.start) {
        Some(start) => today(state).await? >= start,
        None => false,
    };
    if !started {
        return Err(ApiError::Store(northstar_store::StoreError::Refused(
            format!(
                "pilot {} starts on {}: there is nothing after the start to evaluate yet",
                p.id, d.plan.start
            ),
        )));
    }
    // Locking refuses a pilot with an empty group, naming it.
    state
        .store
        .backend()
        .lock_pilot(
            p.id,
            "system: locked at its first evaluation after the start",
            now_unix(),
        )
        .await?;
    Ok(())
}

fn refuse_if_started(p: &Pilot) -> Result<(), ApiError> {
    if let Some(at) = p.locked_unix {
        return Err(ApiError::Store(northstar_store::StoreError::Refused(
            format!(
                "the plan of pilot {} is locked since {} (it has started); register a new pilot to change it",
                p.id,
                time_label(at)
            ),
        )));
    }
    Ok(())
}

/// Whether `principal` may see a pilot with `plan`: a department-scoped
/// role sees only pilots scoped to its own department (their responses are
/// the only ones it may summarise).
pub fn visible_to(principal: &Principal, plan: &PilotPlan) -> bool {
    match principal.scope.department() {
        None => true,
        Some(own) => plan
            .scope
            .get("department")
            .is_some_and(|d| d.values() == [own]),
    }
}

/// Refuses a pilot the principal may not see as if it did not exist.
pub fn check_visible(principal: &Principal, id: i64, plan: &PilotPlan) -> Result<(), ApiError> {
    if visible_to(principal, plan) {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!("there is no pilot {id}")))
    }
}

/// The pilots a principal may see.
pub async fn visible_pilots(
    state: &AppState,
    principal: &Principal,
) -> Result<Vec<PilotView>, ApiError> {
    let mut out = Vec::new();
    for p in state.store.backend().pilots().await? {
        match pilot_view(state, principal, p.id).await {
            Ok((view, _)) => out.push(view),
            Err(ApiError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// `GET /api/v1/pilots`.
pub async fn get_pilots(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<PilotView>>, ApiError> {
    Ok(Json(visible_pilots(&state, &principal).await?))
}

/// A pilot with its balance.
#[derive(Debug, Clone, Serialize)]
pub struct PilotDetail {
    #[serde(flatten)]
    pub pilot: PilotView,
    pub balance: Balance,
}

/// `GET /api/v1/pilots/{id}`.
pub async fn get_pilot(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
) -> Result<Json<PilotDetail>, ApiError> {
    let (view, assignments) = pilot_view(&state, &principal, id).await?;
    let balance = balance(&state, &view, &assignments).await?;
    Ok(Json(PilotDetail {
        pilot: view,
        balance,
    }))
}

/// How to assign the scope's customers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    /// random or stratified (by segment).
    pub method: String,
    /// Recorded with the assignment; a random one when absent.
    #[serde(default)]
    pub seed: Option<u64>,
}

/// `POST /api/v1/pilots/{id}/assign`: assigns the scope's customers.
pub async fn post_assign(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<PilotDetail>, ApiError> {
    let request: AssignRequest = record_body(body, "assignment request")?;
    assign_scope(&state, &principal, id, &request).await?;
    let (view, assignments) = pilot_view(&state, &principal, id).await?;
    let balance = balance(&state, &view, &assignments).await?;
    Ok(Json(PilotDetail {
        pilot: view,
        balance,
    }))
}

/// Assigns the customers who answered in the scope in the year before the
/// start (shared by the API, the page and the demo).
pub async fn assign_scope(
    state: &AppState,
    principal: &Principal,
    id: i64,
    request: &AssignRequest,
) -> Result<usize, ApiError> {
    let stratified = match request.method.trim() {
        "random" => false,
        "stratified" => true,
        other => {
            return Err(ApiError::BadBody(format!(
                "method: {other:?} is not an assignment method; use random or stratified (by segment), or PUT a control group to /api/v1/pilots/{id}/assignments"
            )));
        }
    };
    let (p, d) = load(state, id).await?;
    refuse_if_started(&p)?;
    let days = d.plan.check().map_err(field_errors)?;
    let customers = state
        .store
        .backend()
        .scope_customers(
            &selection(
                &d.plan.scope,
                days.start - CUSTOMER_WINDOW_DAYS,
                days.start - 1,
            )?
            .respondents(),
        )
        .await?;
    if customers.len() < 2 {
        return Err(ApiError::BadBody(format!(
            "the scope had {} customer(s) answering in the year before the start; a pilot needs customers in both groups",
            customers.len()
        )));
    }
    if let Some(seed) = request.seed
        && i64::try_from(seed).is_err()
    {
        return Err(ApiError::BadBody(format!(
            "seed: {seed} is too large; give a whole number from 0 to {} (it is recorded with the groups)",
            i64::MAX
        )));
    }
    let seed = request.seed.unwrap_or_else(|| fastrand::u64(..) >> 11);
    let assigned = assignment::assign(&customers, d.plan.pilot_share, seed, stratified)
        .map_err(|e| ApiError::BadBody(e.to_string()))?;
    let rows: Vec<Assignment> = assigned
        .into_iter()
        .map(|(customer_id, g, stratum)| Assignment {
            customer_id,
            group: group_of(g),
            stratum,
        })
        .collect();
    let n = rows.len();
    if refuse_redraw_after_start(state, id, &d.plan, &rows).await? {
        return Ok(n);
    }
    state
        .store
        .backend()
        .put_assignments(
            id,
            &rows,
            if stratified {
                "stratified by segment"
            } else {
                "random"
            },
            i64::try_from(seed).ok(),
            &principal.who,
            now_unix(),
        )
        .await?;
    Ok(n)
}

fn group_of(g: Group) -> PilotGroup {
    match g {
        Group::Pilot => PilotGroup::Pilot,
        Group::Control => PilotGroup::Control,
    }
}

/// One row of `PUT /api/v1/pilots/{id}/assignments`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignmentRow {
    pub customer_id: String,
    /// pilot or control.
    pub group: String,
}

/// `PUT /api/v1/pilots/{id}/assignments`: the groups as given (e.g. a
/// named control group imported from CSV), replacing any before.
pub async fn put_assignments(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<PilotDetail>, ApiError> {
    let body = body.map_err(|e| match e {
        BytesRejection::FailedToBufferBody(_) => ApiError::TooLarge(format!(
            "the body is larger than {} MiB; send at most {} assignments",
            MAX_ASSIGNMENT_BODY_BYTES >> 20,
            northstar_store::value_records::MAX_ASSIGNMENTS
        )),
        other => ApiError::BadBody(other.to_string()),
    })?;
    let rows: Vec<AssignmentRow> = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadBody(format!("not a list of assignments: {e}")))?;
    let (p, existing) = load(&state, id).await?;
    refuse_if_started(&p)?;
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(rows.len());
    for (i, mut r) in rows.into_iter().enumerate() {
        // Ids are stored trimmed, as imports store them.
        r.customer_id = r.customer_id.trim().to_string();
        northstar_core::field::within(
            &format!("[{i}].customer_id"),
            &r.customer_id,
            northstar_core::field::ID_LIMIT,
        )
        .map_err(|e| field_errors(vec![e]))?;
        if r.customer_id.trim().is_empty() {
            return Err(ApiError::BadBody(format!("[{i}].customer_id: is empty")));
        }
        let group = match r.group.trim() {
            "pilot" => PilotGroup::Pilot,
            "control" => PilotGroup::Control,
            other => {
                return Err(ApiError::BadBody(format!(
                    "[{i}].group: {other:?} is not a group; use pilot or control"
                )));
            }
        };
        if !seen.insert(r.customer_id.clone()) {
            return Err(ApiError::BadBody(format!(
                "[{i}].customer_id: {:?} is listed twice; give each customer one group",
                r.customer_id
            )));
        }
        out.push(Assignment {
            customer_id: r.customer_id,
            group,
            stratum: String::new(),
        });
    }
    if !refuse_redraw_after_start(&state, id, &existing.plan, &out).await? {
        state
            .store
            .backend()
            .put_assignments(
                id,
                &out,
                "as given (imported list)",
                None,
                &principal.who,
                now_unix(),
            )
            .await?;
    }
    let (view, assignments) = pilot_view(&state, &principal, id).await?;
    let balance = balance(&state, &view, &assignments).await?;
    Ok(Json(PilotDetail {
        pilot: view,
        balance,
    }))
}

/// A PUT route with the assignment body limit.
pub fn with_assignment_limit(
    route: axum::routing::MethodRouter<AppState>,
) -> axum::routing::MethodRouter<AppState> {
    route.layer(axum::extract::DefaultBodyLimit::max(
        MAX_ASSIGNMENT_BODY_BYTES,
    ))
}

/// `POST /api/v1/pilots/{id}/start`: locks the plan and the groups.
pub async fn post_start(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
) -> Result<Json<PilotView>, ApiError> {
    start(&state, &principal, id).await?;
    Ok(Json(pilot_view(&state, &principal, id).await?.0))
}

pub async fn start(state: &AppState, principal: &Principal, id: i64) -> Result<(), ApiError> {
    load(state, id).await?;
    state
        .store
        .backend()
        .lock_pilot(id, &principal.who, now_unix())
        .await?;
    Ok(())
}

/// The groups side by side before the start.
#[derive(Debug, Clone, Serialize)]
pub struct Balance {
    pub from: String,
    pub to: String,
    pub rows: Vec<BalanceRow>,
    pub balanced: bool,
    pub method: &'static str,
}

/// Balance over the before period: customers by segment, answers per
/// customer and the primary metric's mean answer.
pub async fn balance(
    state: &AppState,
    view: &PilotView,
    assignments: &[Assignment],
) -> Result<Balance, ApiError> {
    let days = view.plan.check().map_err(field_errors)?;
    let (from, to) = days.before();
    // A retention pilot's answers are balanced on NPS.
    let metric = if view.plan.metric == pilot::RETENTION {
        Metric::Nps
    } else {
        metric_of(&view.plan.metric)?
    };
    let mut rows = Vec::new();
    let total = |g: PilotGroup| assignments.iter().filter(|a| a.group == g).count() as u64;
    let (np, nc) = (total(PilotGroup::Pilot), total(PilotGroup::Control));
    let mut strata: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for a in assignments {
        let e = strata.entry(a.stratum.as_str()).or_default();
        if a.group == PilotGroup::Pilot {
            e.0 += 1
        } else {
            e.1 += 1
        }
    }
    if strata.len() > 1 || strata.keys().any(|k| !k.is_empty()) {
        for (stratum, (p, c)) in strata.iter().take(20) {
            let share = |k: u64, n: u64| if n == 0 { 0.0 } else { k as f64 / n as f64 };
            rows.push(BalanceRow::new(
                format!(
                    "share of customers in segment {}",
                    if stratum.is_empty() {
                        "(none)"
                    } else {
                        stratum
                    }
                ),
                &Moments::binary(np, share(*p, np)),
                &Moments::binary(nc, share(*c, nc)),
            ));
        }
    }
    if np > 0 && nc > 0 {
        let responses = state
            .store
            .backend()
            .pilot_responses(
                view.id,
                &selection(&view.plan.scope, from, to)?.respondents(),
                metric,
            )
            .await?;
        let mut per_customer: HashMap<&str, (PilotGroup, u64)> = HashMap::new();
        for r in &responses {
            per_customer
                .entry(r.customer_id.as_str())
                .or_insert((r.group, 0))
                .1 += 1;
        }
        let counts = |g: PilotGroup, n: u64| {
            let answered: Vec<f64> = per_customer
                .values()
                .filter(|(x, _)| *x == g)
                .map(|(_, k)| *k as f64)
                .collect();
            let zeros = n.saturating_sub(answered.len() as u64) as usize;
            Moments::from_values(answered.into_iter().chain(std::iter::repeat_n(0.0, zeros)))
        };
        rows.push(BalanceRow::new(
            format!("{} answers per customer, before the start", metric.as_str()),
            &counts(PilotGroup::Pilot, np),
            &counts(PilotGroup::Control, nc),
        ));
        let values = |g: PilotGroup| {
            Moments::from_values(
                responses
                    .iter()
                    .filter(|r| r.group == g)
                    .map(|r| pilot::outcome(metric, r.value)),
            )
        };
        rows.push(BalanceRow::new(
            format!(
                "{} before the start (mean answer{})",
                metric.as_str(),
                if metric == Metric::Nps {
                    ", NPS points"
                } else {
                    ", share"
                }
            ),
            &values(PilotGroup::Pilot),
            &values(PilotGroup::Control),
        ));
    }
    let balanced = !rows.is_empty() && rows.iter().all(|r| r.balanced || r.smd.is_none());
    Ok(Balance {
        from: from.map_or_else(|| "the first answer".to_string(), calendar::day_label),
        to: calendar::day_label(to),
        balanced,
        rows,
        method: "standardised mean difference (m_pilot − m_control) / √((s²_pilot + s²_control) / 2), balanced when |SMD| < 0.1 (Austin 2009, Stat Med 28:3083); shares use p(1 − p)",
    })
}

/// One week of one group.
#[derive(Debug, Clone, Serialize)]
pub struct WeekPoint {
    pub week: String,
    pub group: &'static str,
    pub n: u64,
    pub mean: f64,
}

/// The second view: pilot against control after the start.
#[derive(Debug, Clone, Serialize)]
pub struct AfterComparison {
    pub pilot: Option<f64>,
    pub control: Option<f64>,
    pub difference: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub p_value: Option<f64>,
    pub method: String,
    pub note: &'static str,
}

/// Dollars with the measured effect in the business case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseWithEffect {
    pub business_case_id: i64,
    pub name: String,
    pub version: i64,
    pub finance_review: String,
    pub effect_assumption: String,
    pub assumed: f64,
    pub npv_assumed: f64,
    pub npv_at_ci_low: f64,
    pub npv: f64,
    pub npv_at_ci_high: f64,
    pub break_even: Option<f64>,
    pub formula: &'static str,
}

/// A scope to roll out to next.
#[derive(Debug, Clone, Serialize)]
pub struct RoadmapStep {
    pub scope: BTreeMap<String, String>,
    pub customers: u64,
    pub value_of_one_nps_point: Option<f64>,
    /// effect × value of one point, and at the interval's ends.
    pub yearly_benefit: Option<f64>,
    pub yearly_benefit_low: Option<f64>,
    pub yearly_benefit_high: Option<f64>,
}

/// What to do next.
#[derive(Debug, Clone, Serialize)]
pub struct Recommendation {
    /// roll_out, not_enough_evidence or do_not_roll_out.
    pub verdict: &'static str,
    pub sentence: String,
    /// Answers more (both groups, both periods together) that would make
    /// the interval exclude zero if the effect stayed at its estimate.
    pub more_responses: Option<u64>,
    pub business_case: Option<CaseWithEffect>,
    pub roadmap: Vec<RoadmapStep>,
    pub roadmap_note: String,
}

/// `GET /api/v1/pilots/{id}/evaluation`.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    pub pilot_id: i64,
    pub metric: String,
    /// NPS points, or a difference of shares for CSAT and FCR.
    pub unit: &'static str,
    pub effect: f64,
    pub se: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub p_value: f64,
    pub confidence: f64,
    pub method: String,
    pub se_kind: &'static str,
    pub cells: northstar_core::did::DidCells,
    pub customers: usize,
    pub before: [String; 2],
    pub after: [String; 2],
    pub after_comparison: AfterComparison,
    pub weeks: Vec<WeekPoint>,
    pub recommendation: Recommendation,
    /// Groups fixed after the first day: not pre-registered.
    pub retrospective: bool,
    pub filter: BTreeMap<String, Vec<String>>,
}

/// The primary metric's effect, for a business case's measured assumption.
#[derive(Debug, Clone)]
pub struct PrimaryEffect {
    pub effect: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub p_value: f64,
    pub n: u64,
    pub method_name: &'static str,
    pub period: String,
}

/// The DiD of the pilot's primary metric.
pub async fn primary_evaluation(
    state: &AppState,
    principal: &Principal,
    id: i64,
) -> Result<PrimaryEffect, ApiError> {
    pilot_figure(state, principal, id, false).await
}

/// The pilot's reduction of the detractor share (NPS pilots), for a
/// business case's "fewer detractors" assumption.
pub async fn detractor_reduction_evaluation(
    state: &AppState,
    principal: &Principal,
    id: i64,
) -> Result<PrimaryEffect, ApiError> {
    pilot_figure(state, principal, id, true).await
}

async fn pilot_figure(
    state: &AppState,
    principal: &Principal,
    id: i64,
    detractors: bool,
) -> Result<PrimaryEffect, ApiError> {
    let (p, d) = load_for(state, principal, id).await?;
    ensure_locked(state, &p, &d).await?;
    let metric = metric_of(&d.plan.metric)?;
    if detractors && metric != Metric::Nps {
        return Err(ApiError::BadBody(format!(
            "pilot {id} is decided on {}: the detractor share is measured on NPS pilots only",
            d.plan.metric
        )));
    }
    let (estimate, windows, responses, days) = estimate(state, id, &d, metric).await?;
    let estimate = if detractors {
        detractor_reduction(&responses, days)?
    } else {
        estimate
    };
    Ok(PrimaryEffect {
        effect: estimate.effect,
        ci_low: estimate.ci_low,
        ci_high: estimate.ci_high,
        p_value: estimate.p_value,
        n: estimate.cells.n(),
        method_name: match estimate.method {
            did::DidMethod::ClusteredByCustomer => "standard error clustered by customer",
            did::DidMethod::Hc1 => "heteroskedasticity-robust standard error (HC1)",
        },
        period: format!(
            "before {} to {}, after {} to {}",
            windows[0], windows[1], windows[2], windows[3]
        ),
    })
}

type Windows = [String; 4];

async fn estimate(
    state: &AppState,
    id: i64,
    d: &PilotDocument,
    metric: Metric,
) -> Result<(DidEstimate, Windows, Vec<PilotResponse>, PilotDays), ApiError> {
    let days = d.plan.check().map_err(field_errors)?;
    let (before_from, _) = days.before();
    let last = days.end.min(today(state).await?);
    if last < days.start {
        return Err(ApiError::BadRequest(format!(
            "pilot {id} starts on {}: there is nothing after the start to evaluate yet",
            d.plan.start
        )));
    }
    let responses = state
        .store
        .backend()
        .pilot_responses(
            id,
            &selection(&d.plan.scope, before_from, last)?.respondents(),
            metric,
        )
        .await?;
    let mut clusters: HashMap<&str, u32> = HashMap::new();
    let mut observations = Vec::with_capacity(responses.len());
    for r in &responses {
        let next = clusters.len() as u32;
        let cluster = *clusters.entry(r.customer_id.as_str()).or_insert(next);
        observations.push(DidObservation {
            cluster,
            pilot: r.group == PilotGroup::Pilot,
            after: r.day >= days.start,
            y: pilot::outcome(metric, r.value),
        });
    }
    let estimate =
        did::estimate(&observations, 0.95).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    // Without a planned before period, it starts with the first answer.
    let first = before_from.or_else(|| {
        responses
            .iter()
            .filter(|r| r.day < days.start)
            .map(|r| r.day)
            .min()
    });
    let windows = [
        first.map_or_else(|| "(no answer)".to_string(), calendar::day_label),
        calendar::day_label(days.start - 1),
        calendar::day_label(days.start),
        calendar::day_label(last),
    ];
    Ok((estimate, windows, responses, days))
}

/// `GET /api/v1/pilots/{id}/evaluation?metric=nps|csat|fcr`.
pub async fn get_evaluation(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
    params::QueryPairs(pairs): params::QueryPairs,
) -> Result<Json<Evaluation>, ApiError> {
    let mut metric = None;
    for (name, value) in &pairs {
        match name.as_str() {
            "metric" if metric.is_none() => metric = Some(metric_of(value.trim())?),
            "metric" => {
                return Err(ApiError::parameter(
                    "metric",
                    "is given twice; give it once",
                ));
            }
            other => return Err(ApiError::parameter(other, "unknown parameter; use metric")),
        }
    }
    Ok(Json(evaluation(&state, &principal, id, metric).await?))
}

/// The whole evaluation (shared by the API and the page).
pub async fn evaluation(
    state: &AppState,
    principal: &Principal,
    id: i64,
    metric: Option<Metric>,
) -> Result<Evaluation, ApiError> {
    let (p, d) = load_for(state, principal, id).await?;
    // A retention pilot is decided on customers' churn, which is not a
    // difference-in-differences of answers: its answers are evaluated as
    // secondary metrics.
    let primary = metric_of(&d.plan.metric).ok();
    let metric = match (metric, primary) {
        (Some(m), _) | (None, Some(m)) => m,
        (None, None) => {
            return Err(ApiError::parameter(
                "metric",
                format!(
                    "pilot {id} is decided on {}: give metric=nps, csat or fcr to evaluate its answers (churn itself is not evaluated by a difference-in-differences)",
                    d.plan.metric
                ),
            ));
        }
    };
    ensure_locked(state, &p, &d).await?;

    let (e, windows, responses, days) = estimate(state, id, &d, metric).await?;
    // The second view: after the start only.
    let mut pilot_after = ResponseSummary::default();
    let mut control_after = ResponseSummary::default();
    let mut weeks: BTreeMap<(Day, bool), (u64, f64)> = BTreeMap::new();
    for r in &responses {
        let is_pilot = r.group == PilotGroup::Pilot;
        if r.day >= days.start {
            let s = if is_pilot {
                &mut pilot_after
            } else {
                &mut control_after
            };
            let v = u8::try_from(r.value).unwrap_or(0);
            match metric {
                Metric::Nps => s.add_answers(Some(v), None, None, None),
                Metric::Csat => s.add_answers(None, Some(v), None, None),
                _ => s.add_answers(None, None, None, Some(r.value == 1)),
            }
        }
        let w = weeks
            .entry((calendar::week_start(r.day), is_pilot))
            .or_default();
        w.0 += 1;
        w.1 += pilot::outcome(metric, r.value);
    }
    let versus = northstar_core::comparison::two_samples(metric, &pilot_after, &control_after);
    let scale = if metric == Metric::Nps { 1.0 } else { 0.01 };
    let after_comparison = AfterComparison {
        pilot: metric.estimate(&pilot_after).value.map(|v| v * scale),
        control: metric.estimate(&control_after).value.map(|v| v * scale),
        difference: versus.as_ref().map(|t| t.difference * scale),
        // The test's interval from its z: difference ± 1.96 · difference / z.
        ci_low: versus
            .as_ref()
            .filter(|t| t.z != 0.0)
            .map(|t| (t.difference - 1.959963984540054 * (t.difference / t.z).abs()) * scale),
        ci_high: versus
            .as_ref()
            .filter(|t| t.z != 0.0)
            .map(|t| (t.difference + 1.959963984540054 * (t.difference / t.z).abs()) * scale),
        p_value: versus.as_ref().map(|t| t.p_value),
        method: versus
            .as_ref()
            .map(|_| {
                if metric == Metric::Nps {
                    "z-test of two independent NPS with adjusted-Wald variances (Rocks 2016); the interval is the difference ± 1.96 × difference ÷ z".to_string()
                } else {
                    "Agresti–Caffo adjusted two-proportion z-test (Agresti & Caffo 2000); the interval is the difference ± 1.96 × difference ÷ z".to_string()
                }
            })
            .unwrap_or_else(|| "no test: a group has no answers after the start".into()),
        note: "pilot against control after the start only: it ignores any difference the groups had before, which the difference-in-differences removes; answers from one customer are treated as independent here",
    };
    let weeks = weeks
        .into_iter()
        .map(|((week, is_pilot), (n, sum))| WeekPoint {
            week: calendar::day_label(week),
            group: if is_pilot { "pilot" } else { "control" },
            n,
            mean: sum / n as f64,
        })
        .collect();
    let zone = northstar_store::settings::time_zone(state.store.backend())
        .await?
        .1;
    let retro = retrospective(&p, days, &zone, today(state).await?);
    let mut recommendation = recommend(
        state,
        principal,
        Evidence {
            pilot_id: id,
            d: &d,
            e: &e,
            metric,
            primary: Some(metric) == primary,
            responses: &responses,
            days,
            today: today(state).await?,
        },
    )
    .await?;
    if retro {
        recommendation.sentence = format!(
            "Retrospective pilot: its groups were given on or after its first day, so it was not pre-registered and its result is weaker evidence. {}",
            recommendation.sentence
        );
    }
    let (method, se_kind) = match e.method {
        did::DidMethod::ClusteredByCustomer => (e.reference().to_string(), "clustered_by_customer"),
        did::DidMethod::Hc1 => (e.reference().to_string(), "hc1"),
    };
    Ok(Evaluation {
        pilot_id: id,
        metric: metric.as_str().to_string(),
        unit: if metric == Metric::Nps {
            "NPS points"
        } else {
            "difference of shares"
        },
        effect: e.effect,
        se: e.se,
        ci_low: e.ci_low,
        ci_high: e.ci_high,
        p_value: e.p_value,
        confidence: e.confidence,
        method,
        se_kind,
        cells: e.cells,
        customers: e.clusters,
        before: [windows[0].clone(), windows[1].clone()],
        after: [windows[2].clone(), windows[3].clone()],
        after_comparison,
        weeks,
        recommendation,
        retrospective: retro,
        filter: scope_filter(&d.plan.scope)?.into_iter().fold(
            BTreeMap::new(),
            |mut m: BTreeMap<String, Vec<String>>, (k, v)| {
                m.entry(k.as_str().to_string()).or_default().push(v);
                m
            },
        ),
    })
}

/// The difference-in-differences of the share of detractors (NPS 0–6),
/// sign turned so that fewer detractors is positive: the "fewer
/// detractors" a retention benefit is computed from.
pub fn detractor_reduction(
    responses: &[PilotResponse],
    days: PilotDays,
) -> Result<DidEstimate, ApiError> {
    let mut clusters: HashMap<&str, u32> = HashMap::new();
    let observations: Vec<DidObservation> = responses
        .iter()
        .map(|r| {
            let next = clusters.len() as u32;
            let cluster = *clusters.entry(r.customer_id.as_str()).or_insert(next);
            DidObservation {
                cluster,
                pilot: r.group == PilotGroup::Pilot,
                after: r.day >= days.start,
                y: if r.value <= 6 { -1.0 } else { 0.0 },
            }
        })
        .collect();
    did::estimate(&observations, 0.95).map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// What the recommendation is computed from.
struct Evidence<'a> {
    pilot_id: i64,
    d: &'a PilotDocument,
    e: &'a DidEstimate,
    metric: Metric,
    primary: bool,
    responses: &'a [PilotResponse],
    days: PilotDays,
    today: Day,
}

#[allow(clippy::too_many_lines)]
async fn recommend(
    state: &AppState,
    principal: &Principal,
    ev: Evidence<'_>,
) -> Result<Recommendation, ApiError> {
    let Evidence {
        pilot_id,
        d,
        e,
        metric,
        primary,
        responses,
        days,
        today,
    } = ev;
    let (name, unit) = if metric == Metric::Nps {
        ("NPS".to_string(), " points")
    } else {
        (format!("{} (share)", metric.as_str().to_uppercase()), "")
    };
    let ended = today > days.end;
    let reached = e.cells.pilot_after.n >= d.design.n_per_group
        && e.cells.control_after.n >= d.design.n_per_group;
    let (mut verdict, mut sentence, mut more) = if e.ci_low > 0.0 {
        (
            "roll_out",
            format!(
                "Roll out: the pilot raised {name} by {}{unit} (95% CI {} to {}), {}.",
                short(e.effect),
                short(e.ci_low),
                short(e.ci_high),
                p_text(e.p_value)
            ),
            None,
        )
    } else if e.ci_high < 0.0 {
        (
            "do_not_roll_out",
            format!(
                "Do not roll out: the pilot lowered {name} by {}{unit} (95% CI {} to {}).",
                short(-e.effect),
                short(e.ci_low),
                short(e.ci_high)
            ),
            None,
        )
    } else {
        let more = did::responses_to_settle(e, 0.95);
        (
            "not_enough_evidence",
            format!(
                "Not enough evidence yet: the effect on {name} is {}{unit} but the 95% interval ({} to {}) includes zero. {}",
                short(e.effect),
                short(e.ci_low),
                short(e.ci_high),
                match (more, ended) {
                    (Some(m), false) => format!("If the effect stayed at its estimate, about {m} more answers in all (the after period only can grow, so more than that) would settle it."),
                    (Some(m), true) => format!("The pilot has ended, so its locked plan takes no more answers; if the effect stayed at its estimate a pilot with about {m} more answers would settle it."),
                    (None, _) => "The estimate is zero: more answers would only narrow the interval around it.".into(),
                }
            ),
            more,
        )
    };
    if !ended && !reached {
        // Looking before the planned n inflates false positives.
        verdict = "interim";
        more = None;
        sentence = format!(
            "Interim look, no decision yet: the plan needs {} answers per group after the start (pilot {}, control {} so far) and runs until {}; deciding now would inflate the chance of a false positive. {sentence}",
            d.design.n_per_group, e.cells.pilot_after.n, e.cells.control_after.n, d.plan.end
        );
    }
    if !primary {
        sentence = format!(
            "(a secondary metric — the decision rests on {}) {sentence}",
            d.plan.metric.to_uppercase()
        );
    }
    // The business case that takes this pilot's effect, when its effect
    // assumption is measured on this pilot (or is in NPS points).
    let mut business_case = None;
    let linked = match d.plan.business_case_id {
        Some(id) => Some(id),
        None => state
            .store
            .backend()
            .business_cases()
            .await?
            .into_iter()
            .find(|(c, _)| c.pilot_id == Some(pilot_id))
            .map(|(c, _)| c.id),
    };
    // The verdict reads the case whoever asks; its details are shown to
    // those who may see the case.
    if let (Some(case_id), true) = (linked, primary)
        && let Some((case, versions)) = state.store.backend().business_case(case_id).await?
        && let Some(v) = versions.iter().max_by_key(|v| v.version)
    {
        let inputs = cases::inputs_of_version(v)?;
        let may_see = principal
            .scope
            .department()
            .is_none_or(|own| case.department.as_deref() == Some(own));
        let key = inputs.effect.clone().unwrap_or_default();
        let assumption = inputs.assumptions.iter().find(|a| a.key == key);
        let figure = assumption.and_then(|a| match &a.source {
            northstar_core::business_case::AssumptionSource::Measured {
                figure,
                pilot_id: Some(p),
                ..
            } if *p == pilot_id => Some(figure.as_str()),
            _ => None,
        });
        let measured = match figure {
            Some("pilot_detractor_reduction") if metric == Metric::Nps => {
                Some(detractor_reduction(responses, days)?)
            }
            Some("pilot_effect") => Some(e.clone()),
            None if metric == Metric::Nps
                && assumption
                    .is_some_and(|a| a.unit == northstar_core::business_case::Unit::Points) =>
            {
                Some(e.clone())
            }
            _ => None,
        };
        if let (Some(m), Some(a)) = (measured, assumption) {
            let bad =
                |e: northstar_core::business_case::CaseError| ApiError::BadRequest(e.to_string());
            let figures = northstar_core::business_case::evaluate(&inputs).map_err(bad)?;
            let npv_at = |effect: f64| {
                northstar_core::business_case::base_npv(
                    &northstar_core::business_case::with_assumption(
                        &inputs, &key, effect, effect, effect,
                    ),
                )
                .map_err(bad)
            };
            let b = CaseWithEffect {
                business_case_id: case_id,
                name: inputs.name.clone(),
                version: v.version,
                finance_review: cases::finance_review_line(v),
                effect_assumption: key.clone(),
                assumed: a.value,
                npv_assumed: figures.base.npv,
                npv_at_ci_low: npv_at(m.ci_low)?,
                npv: npv_at(m.effect)?,
                npv_at_ci_high: npv_at(m.ci_high)?,
                break_even: figures.break_even.as_ref().and_then(|b| b.value),
                formula: "the case's NPV with its effect assumption replaced by the measured effect (the pilot's figure the assumption names), and by the ends of its 95% interval; every other assumption at its value",
            };
            if may_see {
                sentence.push_str(&format!(
                    " With the measured {key} ({}, 95% CI {} to {}) the business case \"{}\" is worth NPV {} (from {} to {} across the interval; {}).",
                    short(m.effect),
                    short(m.ci_low),
                    short(m.ci_high),
                    b.name,
                    northstar_core::business_case::money(b.npv),
                    northstar_core::business_case::money(b.npv_at_ci_low),
                    northstar_core::business_case::money(b.npv_at_ci_high),
                    b.finance_review
                ));
            }
            if verdict == "roll_out" && b.npv_at_ci_low < 0.0 {
                verdict = "not_enough_evidence";
                sentence.push_str(&format!(
                    " The effect is real, but not proven large enough to pay: at the low end of its interval the linked business case loses money{}. Roll out to one more scope before all of them.",
                    b.break_even
                        .filter(|_| may_see)
                        .map(|x| format!(" (break-even {key} {})", short(x)))
                        .unwrap_or_default()
                ));
            }
            if may_see {
                business_case = Some(b);
            }
        }
    }
    let (roadmap, roadmap_note) = if principal.scope.department().is_some() {
        (Vec::new(), "the roll-out roadmap compares other scopes of the organisation: it is shown to organisation-wide roles".into())
    } else {
        roadmap(state, d, e, metric).await?
    };
    Ok(Recommendation {
        verdict,
        sentence,
        more_responses: more,
        business_case,
        roadmap,
        roadmap_note,
    })
}

/// The other values of the scope's first dimension (segment first), each
/// with what the measured effect would be worth there.
async fn roadmap(
    state: &AppState,
    d: &PilotDocument,
    e: &DidEstimate,
    metric: Metric,
) -> Result<(Vec<RoadmapStep>, String), ApiError> {
    let Some((dimension_name, values)) = d
        .plan
        .scope
        .get_key_value("segment")
        .or_else(|| d.plan.scope.iter().next())
    else {
        return Ok((Vec::new(), String::new()));
    };
    let Some(dimension) = Dimension::parse(dimension_name) else {
        return Ok((Vec::new(), String::new()));
    };
    let tried: Vec<&str> = values.values();
    let everything = Selection::default();
    let candidates =
        crate::report::dimension_values(state.store.as_ref(), dimension, &everything).await?;
    let mut steps = Vec::new();
    for value in candidates
        .into_iter()
        .filter(|v| !tried.contains(&v.as_str()) && !v.is_empty())
        .take(20)
    {
        let mut scope = d.plan.scope.clone();
        scope.insert(dimension_name.clone(), OneOrMany::One(value.clone()));
        let sel = Selection {
            filter: scope_filter(&scope)?,
            ..Selection::default()
        };
        let loyalty = state
            .store
            .loyalty_customers(&sel.respondents(), None)
            .await?
            .into_iter()
            .next()
            .map(|(_, l)| l)
            .unwrap_or_default();
        let settings = northstar_core::revenue::RevenueSettings {
            assumed_churn: super::revenue::DEFAULT_ASSUMED_CHURN,
            min_churn_flags: northstar_core::revenue::MIN_CHURN_FLAGS,
        };
        let point = northstar_core::revenue::revenue_at_risk(&loyalty, &settings)
            .ok()
            .and_then(|r| r.value_of_one_nps_point.value);
        // Dollars only for an effect in NPS points.
        let nps = metric == Metric::Nps;
        let at = |x: f64| point.filter(|_| nps).map(|p| p * x);
        steps.push(RoadmapStep {
            scope: scope
                .iter()
                .map(|(k, v)| (k.clone(), v.values().join(" or ")))
                .collect(),
            customers: loyalty.promoters.customers
                + loyalty.passives.customers
                + loyalty.detractors.customers,
            value_of_one_nps_point: point,
            yearly_benefit: at(e.effect),
            yearly_benefit_low: at(e.ci_low),
            yearly_benefit_high: at(e.ci_high),
        });
    }
    steps.sort_by(|a, b| {
        b.yearly_benefit
            .unwrap_or(f64::NEG_INFINITY)
            .total_cmp(&a.yearly_benefit.unwrap_or(f64::NEG_INFINITY))
            .then(b.customers.cmp(&a.customers))
    });
    let note = format!(
        "not reviewed by finance: other values of {dimension_name}, by the yearly retention value the measured effect would have there (effect × the value of one NPS point of that scope, from /api/v1/revenue-at-risk); the effect was measured on {} only — pilot the next scope before counting on it",
        tried.join(" or ")
    );
    Ok((steps, note))
}

/// A p-value as a reader takes it.
pub fn p_text(p: f64) -> String {
    if p < 0.001 {
        "p < 0.001".into()
    } else {
        format!("p = {p:.3}")
    }
}

/// Statuses and numbers for the pages.
pub fn effect_text(e: &Evaluation) -> String {
    format!(
        "{} {} (95% CI {} to {}, {})",
        short(e.effect),
        e.unit,
        short(e.ci_low),
        short(e.ci_high),
        p_text(e.p_value)
    )
}
