//! `GET /api/v1/expectation-gap`: where customers' satisfaction with an
//! operational measure falls below a level, beside the department's own
//! target (`northstar_core::expectation_gap`).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use northstar_core::Dimension;
use northstar_core::expectation_gap::{
    self, CurveBin, DEFAULT_LEVEL, Direction, GapSummary, Verdict,
};
use northstar_core::field::{DIMENSION_LIMIT, NAME_LIMIT};
use northstar_store::GapQuery;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::report::{Period, Selection};
use crate::{AppState, params};

/// Most points the curve carries; a measure with more distinct values is
/// drawn from this many bins (`curve_binned`), each exact within a fitted
/// step (see `expectation_gap::bin_curve`).
pub const MAX_CURVE_POINTS: usize = 1_000;

/// One point of the fitted curve.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GapPoint {
    /// The measure's value (for a bin: its smallest value).
    pub x: f64,
    /// For a bin, its largest value; null for a single value.
    pub x_high: Option<f64>,
    /// The fitted (isotonic, monotone) satisfied share, 0–1.
    pub satisfied_share: f64,
    /// The share observed at this value alone, 0–1.
    pub observed_share: f64,
    /// Linked records (CSAT answers) at this value.
    pub n: i64,
}

/// The expectation gap with its provenance.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GapReport {
    pub department: String,
    pub measure: String,
    /// `lower_is_better` or `higher_is_better`.
    pub direction: &'static str,
    /// The satisfied share the threshold is read at (default 0.8).
    pub level: f64,
    /// The smallest observed value whose fitted satisfied share is below
    /// the level (for higher-is-better measures the largest); null when
    /// customers stayed satisfied across the observed range.
    pub threshold: Option<f64>,
    /// The department's own target: as asked, else the most common target
    /// on its records of this measure.
    pub target: Option<f64>,
    /// Where the target comes from.
    pub target_source: String,
    /// Linked records: CSAT answers about the department's records.
    pub n: i64,
    pub satisfied_share: Option<f64>,
    /// Records that met the target and left the customer dissatisfied
    /// (CSAT 1–3), as a share of all linked records.
    pub met_target_but_dissatisfied_share: Option<f64>,
    /// The same records as a share of those that met the target, with its
    /// Wilson 95% interval.
    pub dissatisfied_share_among_met: Option<f64>,
    pub dissatisfied_among_met_ci_low: Option<f64>,
    pub dissatisfied_among_met_ci_high: Option<f64>,
    pub met_target_n: Option<i64>,
    /// `customers_stricter_than_target`, `target_at_least_as_strict`,
    /// `no_threshold`, `no_target` or `no_data`.
    #[schema(value_type = String)]
    pub verdict: Verdict,
    /// The finding in one sentence a department head can read.
    pub summary: String,
    /// At least 30 linked records over at least 2 distinct values.
    pub enough_data: bool,
    pub curve: Vec<GapPoint>,
    /// The curve was drawn from bins (more distinct values than points).
    pub curve_binned: bool,
    pub method: &'static str,
    /// The responses' filter (the department is the records' own).
    pub filter: BTreeMap<String, Vec<String>>,
    pub requested_from: Option<String>,
    pub requested_to: Option<String>,
    /// The first and last day (organisation's time zone) of the linked responses; null without any.
    pub period: Period,
    pub restricted_to: Option<String>,
    pub source: &'static str,
}

const METHOD: &str = "satisfied = CSAT 4–5; satisfied share fitted as a monotone function of the measure by weighted isotonic regression (pool-adjacent-violators; Barlow et al. 1972, Best & Chakravarti 1990); threshold = the smallest observed value whose fitted share is below the level (a point estimate, no interval); met target = value ≤ target (≥ for higher-is-better); interval of the dissatisfied share among records that met the target: Wilson (1927)";

fn single(pairs: &[(String, String)], name: &str) -> Result<Option<String>, ApiError> {
    let mut found: Option<String> = None;
    for (_, value) in pairs.iter().filter(|(n, _)| n == name) {
        if found.is_some() {
            return Err(ApiError::parameter(name, "is given twice; give it once"));
        }
        found = Some(value.trim().to_string());
    }
    Ok(found)
}

fn number(pairs: &[(String, String)], name: &str) -> Result<Option<f64>, ApiError> {
    single(pairs, name)?
        .map(|v| {
            v.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| ApiError::parameter(name, format!("{v:?} is not a finite number")))
        })
        .transpose()
}

/// The expectation gap of one department's measure against its customers'
/// CSAT answers, linked by order_id.
#[utoipa::path(
    get,
    path = "/api/v1/expectation-gap",
    params(super::doc::GapDoc, super::doc::SelectionDoc),
    responses(
        (status = 200, description = "The threshold beside the target, with the fitted curve and provenance", body = GapReport),
        (status = 400, description = "A parameter is wrong; the message names it", body = super::doc::ErrorBody),
        (status = 401, description = "No credentials, or an unknown or revoked token", body = super::doc::ErrorBody),
        (status = 403, description = "The role may not do this", body = super::doc::ErrorBody),
        (status = 500, description = "Internal error; quote the request id", body = super::doc::ErrorBody),
        (status = 503, description = "Busy (too many requests in flight) or past the request deadline", body = super::doc::ErrorBody),
    )
)]
pub async fn get_expectation_gap(
    State(state): State<AppState>,
    principal: Principal,
    params::QueryPairs(pairs): params::QueryPairs,
) -> Result<Json<GapReport>, ApiError> {
    Ok(Json(gap_for(&state, &principal, &pairs).await?))
}

/// The gap a request asks for (JSON, CSV and the page share it).
pub async fn gap_for(
    state: &AppState,
    principal: &Principal,
    pairs: &[(String, String)],
) -> Result<GapReport, ApiError> {
    params::reject_empty(
        pairs,
        &[
            "measure",
            "department",
            "level",
            "target",
            "direction",
            "from",
            "to",
        ],
    )?;
    let measure = single(pairs, "measure")?
        .ok_or_else(|| ApiError::parameter("measure", "is required, e.g. delivery_days"))?;
    if measure.chars().count() > NAME_LIMIT.max_chars {
        return Err(ApiError::parameter(
            "measure",
            format!("is longer than {} characters", NAME_LIMIT.max_chars),
        ));
    }
    let department = single(pairs, "department")?.ok_or_else(|| {
        ApiError::parameter(
            "department",
            "is required: the department whose records and target to read",
        )
    })?;
    if department.chars().count() > DIMENSION_LIMIT.max_chars {
        return Err(ApiError::parameter(
            "department",
            format!("is longer than {} characters", DIMENSION_LIMIT.max_chars),
        ));
    }
    let level = number(pairs, "level")?.unwrap_or(DEFAULT_LEVEL);
    if !(level > 0.0 && level < 1.0) {
        return Err(ApiError::parameter(
            "level",
            format!("must be a share strictly between 0 and 1 (0.8 for 80%), not {level}"),
        ));
    }
    let asked_target = number(pairs, "target")?;
    let direction = match single(pairs, "direction")? {
        None => Direction::LowerIsBetter,
        Some(d) => Direction::parse(&d).ok_or_else(|| {
            ApiError::parameter(
                "direction",
                format!("unknown direction {d:?}; use lower_is_better or higher_is_better"),
            )
        })?,
    };
    // Responses are selected by every filter but the department, which
    // names the records (and is checked against the caller's scope).
    let others: Vec<(String, String)> = pairs
        .iter()
        .filter(|(n, _)| n != "department")
        .cloned()
        .collect();
    let p = params::parse(
        &others,
        &["measure", "level", "target", "direction"],
        &northstar_core::access::Scope::Organisation,
    )?;
    let outside_scope = principal
        .scope
        .department()
        .is_some_and(|own| own != department);
    let selection = Selection {
        restricted_to: principal.scope.department().map(str::to_string),
        outside_scope,
        ..p.selection
    };
    let stored = if outside_scope {
        northstar_store::GapCounts::default()
    } else {
        state
            .store
            .gap_counts(&GapQuery {
                department: department.clone(),
                measure: measure.clone(),
                responses: selection.respondents(),
            })
            .await?
    };
    gap_report(
        &stored,
        department,
        measure,
        direction,
        level,
        asked_target,
        &selection,
    )
}

/// The same gap as CSV (the page's table): one row per value of the
/// measure with its linked records, observed and fitted satisfied share,
/// each row with the threshold, target and provenance.
#[utoipa::path(
    get,
    path = "/api/v1/expectation-gap.csv",
    params(super::doc::GapDoc, super::doc::SelectionDoc),
    responses(
        (status = 200, description = "CSV with provenance columns", body = String, content_type = "text/csv"),
        (status = 400, description = "A parameter is wrong; the message names it", body = super::doc::ErrorBody),
        (status = 401, description = "No credentials, or an unknown or revoked token", body = super::doc::ErrorBody),
        (status = 403, description = "The role may not do this", body = super::doc::ErrorBody),
        (status = 500, description = "Internal error; quote the request id", body = super::doc::ErrorBody),
        (status = 503, description = "Busy (too many requests in flight) or past the request deadline", body = super::doc::ErrorBody),
    )
)]
pub async fn get_expectation_gap_csv(
    State(state): State<AppState>,
    principal: Principal,
    params::QueryPairs(pairs): params::QueryPairs,
) -> Result<axum::response::Response, ApiError> {
    use super::csv_export::{Table, num, text};
    let r = gap_for(&state, &principal, &pairs).await?;
    let filter = crate::report::describe_filter(&r.filter);
    let mut w = Table::new(&[
        "department",
        "measure",
        "x",
        "x_high",
        "n",
        "observed_satisfied_share",
        "fitted_satisfied_share",
        "level",
        "threshold",
        "target",
        "direction",
        "method",
        "filter",
        "period_from",
        "period_to",
        "restricted_to",
    ])?;
    for c in &r.curve {
        w.row(&[
            text(&r.department),
            text(&r.measure),
            c.x.to_string().into(),
            num(c.x_high),
            c.n.to_string().into(),
            c.observed_share.to_string().into(),
            c.satisfied_share.to_string().into(),
            r.level.to_string().into(),
            num(r.threshold),
            num(r.target),
            r.direction.into(),
            r.method.into(),
            text(&filter),
            r.period.from.clone().unwrap_or_default().into(),
            r.period.to.clone().unwrap_or_default().into(),
            text(r.restricted_to.as_deref().unwrap_or("")),
        ])?;
    }
    w.finish(
        &*state.store,
        &principal,
        "expectation-gap.csv",
        &format!("{} of {}, filter {filter}", r.measure, r.department),
        "northstar-expectation-gap.csv",
    )
    .await
}

/// The report from the stored counts.
pub fn gap_report(
    stored: &northstar_store::GapCounts,
    department: String,
    measure: String,
    direction: Direction,
    level: f64,
    asked_target: Option<f64>,
    selection: &Selection,
) -> Result<GapReport, ApiError> {
    let internal = |e: expectation_gap::GapError| ApiError::BadRequest(e.to_string());
    let mut summary = GapSummary::new();
    for &(x, satisfied, n) in &stored.by_value {
        summary.add_counts(x, satisfied, n).map_err(internal)?;
    }
    let (target, target_source) = match (asked_target, stored.target) {
        (Some(t), _) => (Some(t), "as asked (target parameter)".to_string()),
        (None, Some((t, records))) => (
            Some(t),
            if stored.other_targets > 0 {
                format!(
                    "the most common target on the department's {measure} records ({records} records; {} carry another)",
                    stored.other_targets
                )
            } else {
                format!("the target on the department's {measure} records ({records} records)")
            },
        ),
        (None, None) => (
            None,
            "no target on the records and none asked for".to_string(),
        ),
    };
    let unit = measure.rsplit('_').next().unwrap_or("").to_string();
    let gap = expectation_gap::expectation_gap(&summary, direction, level, target, &unit)
        .map_err(|e| ApiError::parameter("level", e.to_string()))?;
    let curve_binned = gap.curve.len() > MAX_CURVE_POINTS;
    let curve: Vec<GapPoint> = if curve_binned {
        gap.curve_bins(MAX_CURVE_POINTS)
            .into_iter()
            .map(|b: CurveBin| GapPoint {
                x: b.x_low,
                x_high: Some(b.x_high),
                satisfied_share: b.satisfied_share,
                observed_share: b.observed_share,
                n: b.n,
            })
            .collect()
    } else {
        gap.curve
            .iter()
            .map(|c| GapPoint {
                x: c.x,
                x_high: None,
                satisfied_share: c.satisfied_share,
                observed_share: c.observed_share,
                n: c.n,
            })
            .collect()
    };
    let among = gap.dissatisfied_share_among_met;
    Ok(GapReport {
        department,
        measure,
        direction: direction.as_str(),
        level,
        threshold: gap.threshold,
        target: gap.target,
        target_source,
        n: gap.n,
        satisfied_share: gap.satisfied_share,
        met_target_but_dissatisfied_share: gap.met_target_but_dissatisfied_share,
        dissatisfied_share_among_met: among.and_then(|e| e.value),
        dissatisfied_among_met_ci_low: among.and_then(|e| e.ci_low),
        dissatisfied_among_met_ci_high: among.and_then(|e| e.ci_high),
        met_target_n: gap.met_target_n,
        verdict: gap.verdict,
        summary: gap.summary,
        enough_data: gap.enough_data,
        curve,
        curve_binned,
        method: METHOD,
        filter: selection
            .filter_map()
            .into_iter()
            .filter(|(d, _)| d != Dimension::Department.as_str())
            .collect(),
        requested_from: selection.from.map(northstar_core::calendar::day_label),
        requested_to: selection.to.map(northstar_core::calendar::day_label),
        period: Period::of(stored.period, selection),
        restricted_to: selection.restricted_to.clone(),
        source: "operational records of the department joined by order_id to the CSAT answers of responses about them (each response × record pair is one linked record)",
    })
}
