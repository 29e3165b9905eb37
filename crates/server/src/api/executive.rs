//! The executive view (seed 004: CX measures beside the operational and
//! financial ones): the North Star, every department's goals met or missed
//! beside its customer metric, and — where customers carry lifecycle dates
//! — acquisition and retention per segment and period beside NPS.

use axum::Json;
use axum::extract::State;
use northstar_core::calendar::{self, Day};
use northstar_core::lifecycle::{self, PeriodRates};
use northstar_core::rollup::CubeQuery;
use northstar_core::{Dimension, Metric};
use serde::Serialize;
use utoipa::ToSchema;

use super::departments::{self, GoalCard};
use super::north_star::{self, NorthStarReport};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::report::{Figure, Selection};
use crate::{AppState, params};

/// Quarters the lifecycle table shows.
pub const LIFECYCLE_QUARTERS: usize = 4;

/// A department's line on the executive view.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DepartmentLine {
    pub department: String,
    #[schema(value_type = Vec<Object>)]
    pub goals: Vec<GoalCard>,
    pub goals_met: usize,
    pub goals_missed: usize,
    pub disagreements: usize,
}

/// One segment's quarter: acquisition and retention beside NPS.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SegmentPeriod {
    pub from: String,
    pub to: String,
    /// The quarter was cut at the last answer (rates over fewer days).
    pub partial: bool,
    #[schema(value_type = Object)]
    pub rates: PeriodRates,
    pub nps: Figure,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SegmentLifecycle {
    pub segment: String,
    pub periods: Vec<SegmentPeriod>,
}

/// A guiding principle with the figure that evidences it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PrincipleLine {
    pub text: String,
    pub departments: Vec<String>,
    /// A metric (`nps`, …) or a driver (`driver_<name>`).
    pub evidence: Option<String>,
    /// For a metric: its value on the departments' responses (all of the
    /// organisation's when none is named), all data.
    pub figure: Option<Figure>,
}

/// The executive view.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExecutiveReport {
    #[schema(value_type = Object)]
    pub north_star: Option<NorthStarReport>,
    pub principles: Vec<PrincipleLine>,
    pub departments: Vec<DepartmentLine>,
    /// Empty when no customer carries an acquisition or churn date.
    pub lifecycle: Vec<SegmentLifecycle>,
    pub lifecycle_method: &'static str,
}

/// The last `count` calendar quarters up to the one holding `to` (that one
/// cut at `to`), oldest first.
fn quarters(to: Day, count: usize) -> Vec<(Day, Day)> {
    let month = calendar::month_of_day(to);
    let last = month - month.rem_euclid(3);
    (0..count)
        .rev()
        .map(|k| {
            let first = last - 3 * k as i32;
            // The latest quarter ends with the data (a partial quarter).
            (
                calendar::first_day_of_month(first),
                calendar::last_day_of_month(first + 2).min(to),
            )
        })
        .collect()
}

/// The executive view as JSON (the page renders the same).
#[utoipa::path(get, path = "/api/v1/executive",
    responses((status = 200, description = "North Star, departments' goals beside customers, lifecycle rates beside NPS", body = ExecutiveReport)))]
pub async fn get_executive(
    State(state): State<AppState>,
    principal: Principal,
    params::QueryPairs(pairs): params::QueryPairs,
) -> Result<Json<ExecutiveReport>, ApiError> {
    Ok(Json(executive(&state, &principal, &pairs).await?))
}

pub async fn executive(
    state: &AppState,
    principal: &Principal,
    pairs: &[(String, String)],
) -> Result<ExecutiveReport, ApiError> {
    let store = &*state.store;
    let north_star =
        north_star::north_star_report(state, &Selection::default(), &principal.scope).await?;
    let mut principles = Vec::new();
    if let Some(stored) = store.backend().north_star().await? {
        for p in stored.record.principles {
            let metric = p.evidence.as_deref().and_then(Metric::parse);
            let figure = match metric {
                Some(m) => {
                    let filter = p
                        .departments
                        .iter()
                        .map(|d| (Dimension::Department, d.clone()))
                        .collect();
                    let selection = Selection {
                        filter,
                        ..Selection::default()
                    }
                    .within(&principal.scope);
                    let answer = store.query_rollups(&selection.query(None)).await?;
                    Some(m.estimate(&answer.overall).into())
                }
                None => None,
            };
            principles.push(PrincipleLine {
                text: p.text,
                departments: p.departments,
                evidence: p.evidence,
                figure,
            });
        }
    }
    let mut lines = Vec::new();
    let names: Vec<String> = store
        .backend()
        .departments()
        .await?
        .into_iter()
        .map(|d| d.record.name)
        .filter(|n| principal.scope.department().is_none_or(|own| own == n))
        .collect();
    for name in names {
        let card = departments::scorecard(state, principal, &name, pairs).await?;
        lines.push(DepartmentLine {
            goals_met: card
                .goals
                .iter()
                .filter(|g| g.kpi.met == Some(true))
                .count(),
            goals_missed: card
                .goals
                .iter()
                .filter(|g| g.kpi.met == Some(false))
                .count(),
            disagreements: card.goals.iter().filter(|g| g.disagreement.flag).count(),
            department: name,
            goals: card.goals,
        });
    }
    // Lifecycle: whole-organisation figures (segments), shown to roles that
    // see the organisation.
    let mut lifecycle = Vec::new();
    if principal.scope.department().is_none() {
        let counts = store.backend().customer_lifecycle().await?;
        let dated = counts
            .iter()
            .any(|(_, c)| c.acquired_on.is_some() || c.churned_on.is_some());
        if dated {
            let everything = store.query_rollups(&CubeQuery::default()).await?;
            let last = everything
                .span(Metric::Nps)
                .map_or_else(|| calendar::today_in(&jiff::tz::TimeZone::UTC), |(_, l)| l);
            let periods = quarters(last, LIFECYCLE_QUARTERS);
            let mut segments: Vec<String> = counts.iter().map(|(s, _)| s.clone()).collect();
            segments.dedup();
            let mut queries = Vec::new();
            for s in &segments {
                for (a, b) in &periods {
                    queries.push(CubeQuery {
                        filter: vec![(Dimension::Segment, s.clone())],
                        from: Some(*a),
                        to: Some(*b),
                        group_by: None,
                    });
                }
            }
            let answers = store.query_rollups_many(&queries).await?;
            let mut answers = answers.iter();
            for s in segments {
                let of_segment: Vec<_> = counts
                    .iter()
                    .filter(|(seg, _)| *seg == s)
                    .map(|(_, c)| *c)
                    .collect();
                let mut rows = Vec::new();
                for (a, b) in &periods {
                    let nps = answers
                        .next()
                        .map(|ans| Metric::Nps.estimate(&ans.overall).into())
                        .unwrap_or(Figure {
                            n: 0,
                            value: None,
                            ci_low: None,
                            ci_high: None,
                        });
                    rows.push(SegmentPeriod {
                        from: calendar::day_label(*a),
                        to: calendar::day_label(*b),
                        partial: *b < calendar::last_day_of_month(calendar::month_of_day(*b)) || {
                            let m = calendar::month_of_day(*b);
                            m.rem_euclid(3) != 2
                        },
                        rates: lifecycle::period_rates(&of_segment, *a, *b),
                        nps,
                    });
                }
                lifecycle.push(SegmentLifecycle {
                    segment: s,
                    periods: rows,
                });
            }
        }
    }
    Ok(ExecutiveReport {
        north_star,
        principles,
        departments: lines,
        lifecycle,
        lifecycle_method: lifecycle::METHOD,
    })
}
