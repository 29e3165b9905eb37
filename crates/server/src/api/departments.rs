//! Departments as partners: their records and goals, the scorecard that
//! sets each goal's KPI beside the customer metric that complements it (with
//! the disagreement flag), wins, and external KPI values.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use northstar_core::access::Capability;
use northstar_core::calendar::{self, Day};
use northstar_core::comparison;
use northstar_core::department::{
    self, Correlation, Department, Goal, Grain, KpiRecord, NewWin, Statistic,
};
use northstar_core::expectation_gap::{DEFAULT_LEVEL, Verdict};
use northstar_core::field::FieldError;
use northstar_core::rollup::CubeQuery;
use northstar_core::{Dimension, Mergeable, Metric, ResponseSummary};
use northstar_store::departments::{Stamped, Win};
use northstar_store::{GapQuery, ResponseListQuery, Store};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::report::{self, MetricReport, Selection};
use crate::{AppState, params};

/// Largest body a department, goal, win or North Star may have.
pub const MAX_RECORD_BYTES: usize = 64 << 10;

/// Periods the correlation between a KPI and its customer metric reads.
pub const CORRELATION_PERIODS: usize = 12;

/// Reads a JSON body into a record, naming the field that is wrong.
pub fn record_body<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
    what: &str,
) -> Result<T, ApiError> {
    let body = body.map_err(|e| match e {
        BytesRejection::FailedToBufferBody(_) => ApiError::TooLarge(format!(
            "the body is larger than {} KiB; a {what} is small",
            MAX_RECORD_BYTES >> 10
        )),
        other => ApiError::BadBody(other.to_string()),
    })?;
    serde_json::from_slice(&body).map_err(|e| ApiError::BadBody(format!("not a valid {what}: {e}")))
}

/// A POST or PUT route with the record body limit.
pub fn with_record_limit(
    route: axum::routing::MethodRouter<AppState>,
) -> axum::routing::MethodRouter<AppState> {
    route.layer(axum::extract::DefaultBodyLimit::max(MAX_RECORD_BYTES))
}

pub fn field_errors(errors: Vec<FieldError>) -> ApiError {
    ApiError::BadBody(northstar_core::field::describe(&errors))
}

fn now_unix() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// The departments a principal may see: all, or its own.
async fn visible_departments(
    store: &dyn Store,
    principal: &Principal,
) -> Result<Vec<Stamped<Department>>, ApiError> {
    let all = store.backend().departments().await?;
    Ok(match principal.scope.department() {
        None => all,
        Some(own) => all.into_iter().filter(|d| d.record.name == own).collect(),
    })
}

/// One department by name, or 404 (another department's looks missing to
/// a department-scoped role).
pub async fn department_named(
    store: &dyn Store,
    principal: &Principal,
    name: &str,
) -> Result<Stamped<Department>, ApiError> {
    visible_departments(store, principal)
        .await?
        .into_iter()
        .find(|d| d.record.name == name)
        .ok_or_else(|| ApiError::NotFound(format!("no department named {name:?}")))
}

/// Every department with its leader, ambassadors and goals.
#[utoipa::path(get, path = "/api/v1/departments",
    responses((status = 200, description = "Departments by name", body = Object)))]
pub async fn get_departments(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<Stamped<Department>>>, ApiError> {
    Ok(Json(visible_departments(&*state.store, &principal).await?))
}

/// Creates or replaces a department (with its goals, if given).
#[utoipa::path(post, path = "/api/v1/departments",
    request_body(content = Object, description = "{name, mission, leader, ambassadors, touchpoints, surveys, goals}"),
    responses((status = 200, description = "Stored", body = Object),
        (status = 400, description = "The message names the field", body = super::doc::ErrorBody)))]
pub async fn post_department(
    State(state): State<AppState>,
    principal: Principal,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Department>, ApiError> {
    let d: Department = record_body(body, "department")?;
    d.check().map_err(field_errors)?;
    state
        .store
        .backend()
        .put_department(&d, &principal.who, now_unix())
        .await?;
    Ok(Json(d))
}

/// Adds a goal to a department, or replaces the goal of the same title.
#[utoipa::path(post, path = "/api/v1/departments/{name}/goals",
    request_body(content = Object, description = "{title, kpi: {measure, statistic, direction, target}, customer_metric: {metric, filter}}"),
    responses((status = 200, description = "The department with the goal", body = Object),
        (status = 404, description = "No such department", body = super::doc::ErrorBody)))]
pub async fn post_goal(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Department>, ApiError> {
    let goal: Goal = record_body(body, "goal")?;
    goal.check("goal").map_err(field_errors)?;
    let mut d = department_named(&*state.store, &principal, &name)
        .await?
        .record;
    match d.goals.iter_mut().find(|g| g.title == goal.title) {
        Some(existing) => *existing = goal,
        None => d.goals.push(goal),
    }
    d.check().map_err(field_errors)?;
    state
        .store
        .backend()
        .put_department(&d, &principal.who, now_unix())
        .await?;
    Ok(Json(d))
}

/// External KPI values for one period each.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KpiValuesBody {
    pub measure: String,
    pub values: Vec<KpiValueInput>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KpiValueInput {
    pub from: String,
    pub to: String,
    pub value: f64,
}

/// Most values one request enters.
pub const MAX_KPI_VALUES_PER_REQUEST: usize = 500;

/// Enters an external KPI's values (e.g. invoice accuracy per month).
#[utoipa::path(post, path = "/api/v1/departments/{name}/kpi-values",
    request_body(content = Object, description = "{measure, values: [{from, to, value}]}"),
    responses((status = 200, description = "Stored", body = Object)))]
pub async fn post_kpi_values(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let body: KpiValuesBody = record_body(body, "list of KPI values")?;
    let d = department_named(&*state.store, &principal, &name)
        .await?
        .record;
    if !d
        .goals
        .iter()
        .any(|g| g.kpi.measure == body.measure && g.kpi.statistic == Statistic::External)
    {
        return Err(ApiError::parameter(
            "measure",
            format!(
                "{:?} is not an external KPI of a goal of {name}; add the goal first (statistic external)",
                body.measure
            ),
        ));
    }
    if body.values.len() > MAX_KPI_VALUES_PER_REQUEST {
        return Err(ApiError::TooLarge(format!(
            "values: {} values; send at most {MAX_KPI_VALUES_PER_REQUEST} per request",
            body.values.len()
        )));
    }
    let mut values = Vec::with_capacity(body.values.len());
    for (i, v) in body.values.iter().enumerate() {
        let from = calendar::parse_day(&v.from);
        let to = calendar::parse_day(&v.to);
        match (from, to) {
            (Some(f), Some(t)) if f <= t && v.value.abs() <= department::MAX_KPI_MAGNITUDE => {
                values.push((f, t, v.value))
            }
            _ => {
                return Err(ApiError::BadBody(format!(
                    "values[{i}]: give from and to as YYYY-MM-DD (from on or before to) and a value of at most {:e} in magnitude",
                    department::MAX_KPI_MAGNITUDE
                )));
            }
        }
    }
    state
        .store
        .backend()
        .put_kpi_values(&name, &body.measure, &values, &principal.who, now_unix())
        .await?;
    Ok(Json(
        serde_json::json!({"department": name, "measure": body.measure, "stored": values.len()}),
    ))
}

/// A KPI against its target.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KpiFigure {
    pub measure: String,
    pub statistic: &'static str,
    pub direction: &'static str,
    pub value: Option<f64>,
    pub target: f64,
    /// Null when there is no value.
    pub met: Option<bool>,
    pub n: usize,
    /// Records of the measure without a date (not in any period).
    pub undated_records: usize,
    pub method: &'static str,
    pub source: &'static str,
}

/// Why a goal's target and its customers disagree.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Disagreement {
    pub flag: bool,
    /// One sentence; empty when there is no disagreement.
    pub reason: String,
    /// The tests behind it.
    pub worse_than_previous_period: Option<TestFigure>,
    pub worse_than_rest_of_organisation: Option<TestFigure>,
    /// The customers' threshold on the KPI's measure (expectation gap).
    pub customers_threshold: Option<f64>,
    pub records_target: Option<f64>,
}

/// A difference with its test.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TestFigure {
    /// This period (or this department) minus the other, on the metric's scale.
    pub difference: f64,
    pub p_value: f64,
    /// After Holm's adjustment across the goal's comparisons (what
    /// `significant` is decided on).
    pub p_adjusted: f64,
    pub significant: bool,
    pub method: &'static str,
}

impl From<comparison::VersusRest> for TestFigure {
    fn from(v: comparison::VersusRest) -> Self {
        Self {
            difference: v.difference,
            p_value: v.p_value,
            p_adjusted: v.p_adjusted,
            significant: v.significant,
            method: v.method,
        }
    }
}

/// One goal on the scorecard.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GoalCard {
    pub title: String,
    pub kpi: KpiFigure,
    #[schema(value_type = Object)]
    pub customer_metric: MetricReport,
    pub disagreement: Disagreement,
    /// KPI and customer metric across the last periods of the goal's grain.
    #[schema(value_type = Object)]
    pub correlation: Option<Correlation>,
    pub correlation_periods: Vec<PeriodPair>,
    pub agreed_on: Option<String>,
    pub agreed_by: Option<String>,
}

/// A period's KPI and customer metric.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PeriodPair {
    pub from: String,
    pub to: String,
    pub kpi: Option<f64>,
    pub customer_metric: Option<f64>,
    pub customer_n: i64,
}

/// Something that went well.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GoodNews {
    /// `goal_met`, `customer_metric_rose`, `win` or `praise`.
    pub kind: &'static str,
    pub text: String,
    /// The goal it is about (`goal_met`, `customer_metric_rose`).
    pub goal: Option<String>,
    /// The win it is about (`win`).
    pub win_id: Option<i64>,
}

/// Something the CX team asks of the department.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Ask {
    pub text: String,
    /// Dollars at stake, where a figure exists (null otherwise).
    pub dollars: Option<f64>,
    pub dollars_basis: Option<String>,
    pub finance_reviewed: bool,
}

/// A department's scorecard for a period.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Scorecard {
    pub department: String,
    pub mission: String,
    #[schema(value_type = Object)]
    pub period: report::Period,
    pub previous_period: report::Period,
    pub goals: Vec<GoalCard>,
    pub good_news: Vec<GoodNews>,
    pub asks: Vec<Ask>,
    pub wins: Vec<WinCard>,
    /// The department's business cases, each with whether finance has
    /// reviewed it, by whom and when.
    #[schema(value_type = Vec<Object>)]
    pub business_cases: Vec<super::business_cases::CaseListEntry>,
}

/// A win with its evidence tested.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WinCard {
    #[schema(value_type = Object)]
    #[serde(flatten)]
    pub win: Win,
    /// `win` when the change is significant in the better direction,
    /// otherwise `early_signal`.
    pub status: &'static str,
    pub before: report::Figure,
    pub after: report::Figure,
    pub test: Option<TestFigure>,
}

/// The period a scorecard covers: as asked, else the 90 days that end
/// today or on the last day with answers, whichever is earlier.
fn scorecard_period(
    pairs: &[(String, String)],
    zone: &jiff::tz::TimeZone,
    last_data_day: Option<Day>,
) -> Result<(Day, Day), ApiError> {
    params::reject_empty(pairs, &["from", "to"])?;
    let p = params::parse(pairs, &[], &northstar_core::access::Scope::Organisation)?;
    if let Some((d, _)) = p.selection.filter.first() {
        return Err(ApiError::parameter(
            d.as_str(),
            "a scorecard takes from and to only; each goal's customer metric has its own filter",
        ));
    }
    let to = match p.selection.to {
        Some(to) => to,
        None => calendar::today_in(zone).min(last_data_day.unwrap_or(Day::MAX)),
    };
    let from = p.selection.from.unwrap_or(to - 89);
    if from > to {
        return Err(ApiError::parameter(
            "from",
            format!(
                "{} is after to ({}{}); give from on or before to",
                calendar::day_label(from),
                calendar::day_label(to),
                if p.selection.to.is_none() {
                    ", the last day with answers"
                } else {
                    ""
                }
            ),
        ));
    }
    if to - from > 3_660 {
        return Err(ApiError::parameter(
            "from",
            "the period is longer than 10 years; ask for a shorter one",
        ));
    }
    Ok((from, to))
}

/// The responses a goal's customer metric reads: its filter, else the
/// department's touchpoints, else the department.
pub fn goal_filter(
    d: &Department,
    filter: &BTreeMap<String, department::OneOrMany>,
) -> Result<Vec<(Dimension, String)>, ApiError> {
    let metric = department::CustomerMetric {
        metric: Metric::Nps,
        filter: filter.clone(),
    };
    let pairs = metric
        .dimension_filter("customer_metric")
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    if !pairs.is_empty() {
        return Ok(pairs);
    }
    Ok(if d.touchpoints.is_empty() {
        vec![(Dimension::Department, d.name.clone())]
    } else {
        d.touchpoints
            .iter()
            .map(|t| (Dimension::Touchpoint, t.clone()))
            .collect()
    })
}

fn selection(filter: &[(Dimension, String)], from: Day, to: Day) -> Selection {
    Selection {
        filter: filter.to_vec(),
        from: Some(from),
        to: Some(to),
        ..Selection::default()
    }
}

/// Periods of a grain ending with the one that holds `to`, oldest first.
fn grain_periods(grain: Grain, to: Day, count: usize) -> Vec<(Day, Day)> {
    let mut out = Vec::with_capacity(count);
    let mut end = to;
    for _ in 0..count {
        let month = calendar::month_of_day(end);
        let (start, period_end) = match grain {
            Grain::Week => (end - 6, end),
            Grain::Month => (
                calendar::first_day_of_month(month),
                calendar::last_day_of_month(month),
            ),
            Grain::Quarter => {
                let first = month - month.rem_euclid(3);
                (
                    calendar::first_day_of_month(first),
                    calendar::last_day_of_month(first + 2),
                )
            }
        };
        out.push((start, period_end));
        end = start - 1;
    }
    out.reverse();
    out
}

/// A department's scorecard: each goal's KPI against its target beside its
/// customer metric, the disagreement flag, good news first, and the asks.
#[utoipa::path(get, path = "/api/v1/departments/{name}/scorecard",
    params(("name" = String, Path, description = "The department"),
        ("from" = Option<String>, Query, description = "First day (YYYY-MM-DD); default 89 days before to"),
        ("to" = Option<String>, Query, description = "Last day; default today in the organisation's time zone")),
    responses((status = 200, description = "The scorecard", body = Scorecard),
        (status = 404, description = "No such department (or not yours)", body = super::doc::ErrorBody)))]
pub async fn get_scorecard(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
    params::QueryPairs(pairs): params::QueryPairs,
) -> Result<Json<Scorecard>, ApiError> {
    Ok(Json(scorecard(&state, &principal, &name, &pairs).await?))
}

/// The scorecard a request asks for (JSON and the page share it).
pub async fn scorecard(
    state: &AppState,
    principal: &Principal,
    name: &str,
    pairs: &[(String, String)],
) -> Result<Scorecard, ApiError> {
    let store = &*state.store;
    let d = department_named(store, principal, name).await?.record;
    let (_, zone) = northstar_store::settings::time_zone(store.backend()).await?;
    let everything = store.query_rollups(&CubeQuery::default()).await?;
    let last_data_day = [Metric::Nps, Metric::Csat, Metric::Ces, Metric::Fcr]
        .into_iter()
        .filter_map(|m| everything.span(m).map(|(_, last)| last))
        .max();
    let (from, to) = scorecard_period(pairs, &zone, last_data_day)?;
    let length = to - from;
    let (prev_from, prev_to) = (from - length - 1, from - 1);
    let at_risk = revenue_at_risk(store, principal, &d, from, to).await?;
    // Each measure's records are read once for every goal that uses it,
    // over the longest span any of them needs.
    let earliest = d
        .goals
        .iter()
        .filter_map(|g| {
            grain_periods(g.period_grain, to, CORRELATION_PERIODS)
                .first()
                .map(|p| p.0)
        })
        .fold(from, Day::min);
    let mut inputs: std::collections::HashMap<(String, bool), KpiInputs> =
        std::collections::HashMap::new();
    for goal in &d.goals {
        let key = (
            goal.kpi.measure.clone(),
            goal.kpi.statistic == Statistic::External,
        );
        if let std::collections::hash_map::Entry::Vacant(slot) = inputs.entry(key) {
            slot.insert(load_kpi_inputs(store, &d, goal, &zone, earliest, to).await?);
        }
    }
    let mut goals = Vec::with_capacity(d.goals.len());
    let mut good_news = Vec::new();
    let mut asks = Vec::new();
    for goal in &d.goals {
        let key = (
            goal.kpi.measure.clone(),
            goal.kpi.statistic == Statistic::External,
        );
        let Some(goal_inputs) = inputs.get(&key) else {
            return Err(ApiError::BadRequest(
                "a goal's KPI inputs were not read".into(),
            ));
        };
        let card = goal_card(
            goal_inputs,
            store,
            principal,
            &d,
            goal,
            (from, to),
            (prev_from, prev_to),
        )
        .await?;
        if card.kpi.met == Some(true) {
            good_news.push(GoodNews {
                goal: Some(goal.title.clone()),
                win_id: None,
                kind: "goal_met",
                text: format!(
                    "{}: {} against a target of {} — met.",
                    goal.title,
                    shown(card.kpi.value, goal.kpi.statistic),
                    shown(Some(goal.kpi.target), goal.kpi.statistic)
                ),
            });
        }
        if card.disagreement.flag {
            // One dollar figure per department: the same customers stand
            // behind every ask, so the figure is not repeated (or added up).
            let (dollars, dollars_basis) = match (&at_risk, asks.is_empty()) {
                (Some(f), true) => (f.value, Some(dollar_basis(f))),
                (Some(_), false) => (
                    None,
                    Some("the same customers as the first ask: its dollar figure covers this one too".into()),
                ),
                (None, _) => (
                    None,
                    Some("no dollar figure: no customer of these answers has an annual value".into()),
                ),
            };
            asks.push(Ask {
                text: format!(
                    "{}: the target is met but customers disagree — {} Let us review the target together.",
                    goal.title, card.disagreement.reason
                ),
                dollars,
                dollars_basis,
                finance_reviewed: false,
            });
        }
        goals.push(card);
    }
    // Customer metrics that rose significantly against the previous period.
    for card in &goals {
        let current = &card.customer_metric;
        if let Some(rose) =
            rose_against_previous(store, principal, &d, card, (prev_from, prev_to), (from, to))
                .await?
        {
            good_news.push(GoodNews {
                goal: Some(card.title.clone()),
                win_id: None,
                kind: "customer_metric_rose",
                text: format!(
                    "{} on {} rose by {:.1} against the previous period (p = {:.3}).",
                    current.title,
                    report::describe_filter(&current.filter),
                    rose.difference,
                    rose.p_value
                ),
            });
        }
    }
    let wins = win_cards(store, Some(&d.name)).await?;
    for w in wins.iter().filter(|w| w.status == "win").take(5) {
        good_news.push(GoodNews {
            goal: None,
            win_id: Some(w.win.id),
            kind: "win",
            text: format!("{} ({}).", w.win.win.title, w.win.win.on),
        });
    }
    if principal.may(Capability::ViewResponses) {
        for text in praise(store, principal, &d, from, to).await? {
            good_news.push(GoodNews {
                kind: "praise",
                text,
                goal: None,
                win_id: None,
            });
        }
    }
    Ok(Scorecard {
        department: d.name.clone(),
        mission: d.mission.clone(),
        period: report::Period::of(Some((from, to)), &selection(&[], from, to)),
        previous_period: report::Period::of(
            Some((prev_from, prev_to)),
            &selection(&[], prev_from, prev_to),
        ),
        goals,
        good_news,
        asks,
        wins,
        business_cases: super::business_cases::department_cases(state, principal, &d.name).await?,
    })
}

/// Revenue at risk among the customers who answered on the department's
/// touchpoints in the period (each customer's latest NPS answer; churn
/// rates measured from churn flags where enough are known, else the
/// default assumption, as `/api/v1/revenue-at-risk` computes it).
async fn revenue_at_risk(
    store: &dyn Store,
    principal: &Principal,
    d: &Department,
    from: Day,
    to: Day,
) -> Result<Option<northstar_core::revenue::DollarFigure>, ApiError> {
    let filter = goal_filter(d, &BTreeMap::new())?;
    let loyalty = store
        .loyalty_customers(&scoped(principal, &filter, from, to).respondents(), None)
        .await?
        .into_iter()
        .next()
        .map(|(_, l)| l)
        .unwrap_or_default();
    let settings = northstar_core::revenue::RevenueSettings {
        assumed_churn: super::revenue::DEFAULT_ASSUMED_CHURN,
        min_churn_flags: northstar_core::revenue::MIN_CHURN_FLAGS,
    };
    let figure = northstar_core::revenue::revenue_at_risk(&loyalty, &settings)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(Some(figure.revenue_at_risk).filter(|f| f.value.is_some()))
}

fn dollar_basis(f: &northstar_core::revenue::DollarFigure) -> String {
    let range = match (f.low, f.high) {
        (Some(a), Some(b)) => format!("range ${a:.0} to ${b:.0}; "),
        _ => String::new(),
    };
    format!(
        "revenue at risk among the customers who answered on these touchpoints in the period: {range}{}{}",
        f.formula,
        f.calculation
            .as_ref()
            .map(|c| format!(" = {c}"))
            .unwrap_or_default()
    )
}

fn shown(value: Option<f64>, statistic: Statistic) -> String {
    match (value, statistic) {
        (None, _) => "no value".into(),
        (Some(v), Statistic::ShareWithinTarget) => format!("{:.1}%", v * 100.0),
        (Some(v), _) => format!("{v:.2}"),
    }
}

/// The responses a goal's customer metric reads, within the caller's scope
/// (a department role's own department only).
fn scoped(principal: &Principal, filter: &[(Dimension, String)], from: Day, to: Day) -> Selection {
    selection(filter, from, to).within(&principal.scope)
}

/// The records (or entered values) a goal's KPI reads over `[from, to]`:
/// (day, record); entered values as (period start, period end, value).
enum KpiInputs {
    /// Records sorted by day, and how many carry no date.
    Records {
        records: Vec<(Day, KpiRecord)>,
        undated: usize,
    },
    Entered(Vec<(Day, Day, f64)>),
}

impl KpiInputs {
    /// The KPI over `[from, to]`. Entered values count by how many of
    /// their period's days fall in it (a month half inside counts half).
    fn over(&self, goal: &Goal, from: Day, to: Day) -> department::KpiValue {
        match self {
            KpiInputs::Records { records, .. } => {
                let first = records.partition_point(|(d, _)| *d < from);
                let end = records.partition_point(|(d, _)| *d <= to);
                let in_period: Vec<KpiRecord> = records
                    .get(first..end.max(first))
                    .unwrap_or_default()
                    .iter()
                    .map(|(_, r)| *r)
                    .collect();
                department::kpi_value(&goal.kpi, &in_period)
            }
            KpiInputs::Entered(values) => {
                let (mut weighted, mut days, mut n) = (0.0, 0.0, 0);
                for (a, b, v) in values {
                    let overlap = f64::from((*b).min(to) - (*a).max(from) + 1);
                    if overlap > 0.0 {
                        weighted += v * overlap;
                        days += overlap;
                        n += 1;
                    }
                }
                department::KpiValue {
                    value: (days > 0.0).then(|| weighted / days),
                    n,
                }
            }
        }
    }
}

/// What a goal's KPI reads from `earliest` to `to`: the department's
/// records of the measure, or the values entered for it.
async fn load_kpi_inputs(
    store: &dyn Store,
    d: &Department,
    goal: &Goal,
    zone: &jiff::tz::TimeZone,
    earliest: Day,
    to: Day,
) -> Result<KpiInputs, ApiError> {
    if goal.kpi.statistic == Statistic::External {
        let values = store
            .backend()
            .kpi_values(&d.name, &goal.kpi.measure)
            .await?;
        return Ok(KpiInputs::Entered(
            values
                .iter()
                .map(|v| (v.period_start, v.period_end, v.value))
                .collect(),
        ));
    }
    // A day in any zone lies within a day of its UTC day.
    let from_unix = (i64::from(earliest) - 1) * 86_400;
    let to_unix = (i64::from(to) + 2) * 86_400;
    let rows = store
        .backend()
        .kpi_records(&d.name, &goal.kpi.measure, from_unix, to_unix)
        .await?;
    let undated = store
        .backend()
        .kpi_undated_records(&d.name, &goal.kpi.measure)
        .await?;
    let mut records: Vec<(Day, KpiRecord)> = rows
        .into_iter()
        .filter_map(|(unix, value, target)| {
            Some((calendar::day_in(unix?, zone), KpiRecord { value, target }))
        })
        .collect();
    // By day: a period's records are one slice.
    records.sort_by_key(|r| r.0);
    Ok(KpiInputs::Records {
        records,
        undated: usize::try_from(undated).unwrap_or(usize::MAX),
    })
}

async fn goal_card(
    inputs: &KpiInputs,
    store: &dyn Store,
    principal: &Principal,
    d: &Department,
    goal: &Goal,
    (from, to): (Day, Day),
    (prev_from, prev_to): (Day, Day),
) -> Result<GoalCard, ApiError> {
    let external = goal.kpi.statistic == Statistic::External;
    let periods = grain_periods(goal.period_grain, to, CORRELATION_PERIODS);
    let undated = match inputs {
        KpiInputs::Records { undated, .. } => *undated,
        KpiInputs::Entered(_) => 0,
    };
    let kpi = inputs.over(goal, from, to);
    let met = kpi
        .value
        .map(|v| goal.kpi.direction.meets(v, goal.kpi.target));
    let filter = goal_filter(d, &goal.customer_metric.filter)?;
    let metric = goal.customer_metric.metric;
    let here = scoped(principal, &filter, from, to);
    let answers = store
        .query_rollups_many(&[
            here.query(None),
            scoped(principal, &filter, prev_from, prev_to).query(None),
            here.organisation().query(None),
        ])
        .await?;
    let [current, previous, organisation] = answers.as_slice() else {
        return Err(ApiError::BadRequest(
            "the store answered a different number of queries".into(),
        ));
    };
    let customer_metric = report::report_from(current, metric, &here, None);
    let mut rest = organisation.overall;
    rest.merge(&current.overall.negated());
    // Two comparisons per goal, Holm-adjusted together.
    let mut vs_previous = comparison::two_samples(metric, &current.overall, &previous.overall);
    let mut vs_rest = comparison::two_samples(metric, &current.overall, &rest);
    comparison::adjust_for_multiple_groups(vs_previous.iter_mut().chain(vs_rest.iter_mut()));
    let vs_previous = vs_previous.map(TestFigure::from);
    let vs_rest = vs_rest.map(TestFigure::from);
    let significantly_worse = |t: &Option<TestFigure>| {
        t.as_ref()
            .is_some_and(|t| t.significant && t.difference < 0.0)
    };
    // The expectation gap of the KPI's own measure, where records link to
    // answers: customers' threshold inside the target the goal accepts —
    // the goal's own for a mean, median or p90 (in the measure's units),
    // else the records' own targets.
    let (threshold, records_target, stricter) = if external {
        (None, None, false)
    } else {
        let counts = store
            .gap_counts(&GapQuery {
                department: d.name.clone(),
                measure: goal.kpi.measure.clone(),
                responses: here.respondents(),
            })
            .await?;
        let in_units = matches!(
            goal.kpi.statistic,
            Statistic::Mean | Statistic::Median | Statistic::P90
        );
        let gap = super::expectation_gap::gap_report(
            &counts,
            d.name.clone(),
            goal.kpi.measure.clone(),
            goal.kpi.measure_direction.gap(),
            DEFAULT_LEVEL,
            in_units.then_some(goal.kpi.target),
            &here,
        )?;
        (
            gap.threshold,
            gap.target,
            gap.enough_data && gap.verdict == Verdict::CustomersStricterThanTarget,
        )
    };
    let mut reasons = Vec::new();
    if significantly_worse(&vs_previous) {
        reasons.push(format!(
            "{} fell significantly against the previous period",
            metric.title().to_lowercase()
        ));
    }
    if significantly_worse(&vs_rest) {
        reasons.push(format!(
            "{} is significantly worse than in the rest of the organisation",
            metric.title().to_lowercase()
        ));
    }
    if stricter {
        reasons.push(format!(
            "customers' satisfaction falls below {:.0}% at {} {} while the target accepts {}",
            DEFAULT_LEVEL * 100.0,
            threshold.map_or("?".into(), |t| format!("{t}")),
            goal.kpi.measure,
            records_target.map_or("?".into(), |t| format!("{t}")),
        ));
    }
    let flag = met == Some(true) && !reasons.is_empty();
    // The link itself: KPI and customer metric across whole periods (the
    // period still running is left out).
    let periods: Vec<(Day, Day)> = periods.into_iter().filter(|p| p.1 <= to).collect();
    let queries: Vec<CubeQuery> = periods
        .iter()
        .map(|(a, b)| scoped(principal, &filter, *a, *b).query(None))
        .collect();
    let per_period = store.query_rollups_many(&queries).await?;
    let correlation_periods: Vec<PeriodPair> = periods
        .iter()
        .zip(&per_period)
        .map(|((a, b), answer)| {
            let e = metric.estimate(&answer.overall);
            PeriodPair {
                from: calendar::day_label(*a),
                to: calendar::day_label(*b),
                kpi: inputs.over(goal, *a, *b).value,
                customer_metric: e.value,
                customer_n: e.n,
            }
        })
        .collect();
    let pairs: Vec<(f64, f64)> = correlation_periods
        .iter()
        .filter_map(|p| Some((p.kpi?, p.customer_metric?)))
        .collect();
    Ok(GoalCard {
        title: goal.title.clone(),
        kpi: KpiFigure {
            measure: goal.kpi.measure.clone(),
            statistic: goal.kpi.statistic.as_str(),
            direction: goal.kpi.direction.as_str(),
            value: kpi.value,
            target: goal.kpi.target,
            met,
            n: kpi.n,
            undated_records: undated,
            method: if external {
                "mean of the values entered for the periods that overlap the period, each weighted by its days inside it"
            } else {
                goal.kpi.statistic.method()
            },
            source: if external {
                "values entered per period (kpi_values)"
            } else {
                "the department's operational records of the measure, by the day they happened in the organisation's time zone"
            },
        },
        customer_metric,
        disagreement: Disagreement {
            flag,
            reason: if flag {
                format!("{}.", reasons.join("; "))
            } else {
                String::new()
            },
            worse_than_previous_period: vs_previous,
            worse_than_rest_of_organisation: vs_rest,
            customers_threshold: threshold,
            records_target,
        },
        correlation: department::correlation(&pairs).filter(|c| c.r.is_finite()),
        correlation_periods,
        agreed_on: goal.agreed_on.clone(),
        agreed_by: goal.agreed_by.clone(),
    })
}

/// The goal's customer metric against the previous period, when it rose
/// significantly.
async fn rose_against_previous(
    store: &dyn Store,
    principal: &Principal,
    d: &Department,
    card: &GoalCard,
    (prev_from, prev_to): (Day, Day),
    (from, to): (Day, Day),
) -> Result<Option<comparison::VersusRest>, ApiError> {
    let Some(goal) = d.goals.iter().find(|g| g.title == card.title) else {
        return Ok(None);
    };
    let filter = goal_filter(d, &goal.customer_metric.filter)?;
    let answers = store
        .query_rollups_many(&[
            scoped(principal, &filter, from, to).query(None),
            scoped(principal, &filter, prev_from, prev_to).query(None),
        ])
        .await?;
    let [now, before] = answers.as_slice() else {
        return Ok(None);
    };
    let mut test =
        comparison::two_samples(goal.customer_metric.metric, &now.overall, &before.overall);
    comparison::adjust_for_multiple_groups(test.iter_mut());
    Ok(test.filter(|v| v.significant && v.difference > 0.0))
}

/// The best customer praise on the department's touchpoints: the newest
/// promoters' comments (NPS 9–10 or CSAT 5), personal data masked unless
/// the role sees it.
async fn praise(
    store: &dyn Store,
    principal: &Principal,
    d: &Department,
    from: Day,
    to: Day,
) -> Result<Vec<String>, ApiError> {
    let filter = goal_filter(d, &BTreeMap::new())?;
    let responses = store
        .list_responses(&ResponseListQuery {
            selection: scoped(principal, &filter, from, to).respondents(),
            with_comment: true,
            before: None,
            limit: 200,
        })
        .await?;
    let unmasked = principal.sees_personal_data();
    Ok(responses
        .into_iter()
        .filter(|r| r.nps.is_some_and(|n| n >= 9) || r.csat == Some(5))
        .filter_map(|r| r.comment)
        .fold(Vec::<String>::new(), |mut seen, c| {
            if !seen.contains(&c) {
                seen.push(c);
            }
            seen
        })
        .into_iter()
        .take(3)
        .map(|c| {
            if unmasked {
                c
            } else {
                northstar_core::personal_data::mask(&c)
            }
        })
        .collect())
}

/// Wins with their evidence tested.
pub async fn win_cards(
    store: &dyn Store,
    department: Option<&str>,
) -> Result<Vec<WinCard>, ApiError> {
    let wins = store.backend().wins(department).await?;
    let mut queries = Vec::with_capacity(wins.len() * 2);
    for w in &wins {
        let filter = department::CustomerMetric {
            metric: w.win.evidence.metric,
            filter: w.win.evidence.filter.clone(),
        }
        .dimension_filter("evidence")
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
        for range in [&w.win.evidence.before, &w.win.evidence.after] {
            let (a, b) = range
                .days()
                .ok_or_else(|| ApiError::BadRequest("a stored win has no valid period".into()))?;
            queries.push(selection(&filter, a, b).query(None));
        }
    }
    let answers = store.query_rollups_many(&queries).await?;
    Ok(wins
        .into_iter()
        .zip(answers.chunks(2))
        .map(|(win, pair)| {
            let empty = ResponseSummary::empty();
            let before = pair.first().map_or(&empty, |a| &a.overall);
            let after = pair.get(1).map_or(&empty, |a| &a.overall);
            let metric = win.win.evidence.metric;
            let mut test = comparison::two_samples(metric, after, before);
            comparison::adjust_for_multiple_groups(test.iter_mut());
            let better = test
                .as_ref()
                .is_some_and(|t| t.significant && t.difference > 0.0);
            WinCard {
                status: if better { "win" } else { "early_signal" },
                before: metric.estimate(before).into(),
                after: metric.estimate(after).into(),
                test: test.map(TestFigure::from),
                win,
            }
        })
        .collect())
}

/// A department role's win is evidenced on its own department's responses:
/// the evidence filter is restricted to the caller's scope (a filter naming
/// another department is refused).
pub fn scope_evidence(principal: &Principal, win: &mut NewWin) -> Result<(), ApiError> {
    if principal.scope.department().is_none() {
        return Ok(());
    }
    let pairs = department::CustomerMetric {
        metric: win.evidence.metric,
        filter: win.evidence.filter.clone(),
    }
    .dimension_filter("evidence")
    .map_err(|e| ApiError::BadBody(e.to_string()))?;
    let restricted = principal.scope.restrict(&pairs).ok_or_else(|| {
        ApiError::Forbidden(
            "evidence.filter names another department; your role records wins on its own department's responses".into(),
        )
    })?;
    win.evidence.filter = filter_document(restricted);
    Ok(())
}

/// Dimension filter pairs as a record stores them: dimension → values.
pub fn filter_document(pairs: Vec<(Dimension, String)>) -> BTreeMap<String, department::OneOrMany> {
    let mut by_dimension: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (d, v) in pairs {
        by_dimension
            .entry(d.as_str().to_string())
            .or_default()
            .push(v);
    }
    by_dimension
        .into_iter()
        .map(|(k, v)| (k, department::OneOrMany::Many(v)))
        .collect()
}

/// Records a win for a department.
#[utoipa::path(post, path = "/api/v1/departments/{name}/wins",
    request_body(content = Object, description = "{title, people, cx_part, on, evidence: {metric, filter, before: {from, to}, after: {from, to}}}"),
    responses((status = 200, description = "The win with its evidence tested", body = WinCard)))]
pub async fn post_win(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<WinCard>, ApiError> {
    let mut win: NewWin = record_body(body, "win")?;
    win.check().map_err(field_errors)?;
    let d = department_named(&*state.store, &principal, &name)
        .await?
        .record;
    scope_evidence(&principal, &mut win)?;
    let id = state
        .store
        .backend()
        .add_win(&d.name, &win, &principal.who, now_unix())
        .await?;
    win_cards(&*state.store, Some(&d.name))
        .await?
        .into_iter()
        .find(|w| w.win.id == id)
        .map(Json)
        .ok_or_else(|| ApiError::NotFound("the win just recorded is not there".into()))
}

/// The wall of wins: every department's, newest first (a department-scoped
/// role sees its own).
#[utoipa::path(get, path = "/api/v1/wins",
    responses((status = 200, description = "Wins with their evidence tested", body = [WinCard])))]
pub async fn get_wins(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<WinCard>>, ApiError> {
    Ok(Json(
        win_cards(&*state.store, principal.scope.department()).await?,
    ))
}
