//! The executive view page: the North Star, every department's goals met
//! or missed beside its customer metric, and acquisition and retention per
//! segment and quarter beside NPS.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use northstar_core::Metric;

use super::understand::{format_interval, format_value, thousands};
use crate::api::executive::executive;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::{AppState, params};

struct GoalLine {
    title: String,
    kpi: String,
    met: &'static str,
    customer: String,
    flag: bool,
}

struct DepartmentBlock {
    name: String,
    summary: String,
    goals: Vec<GoalLine>,
}

struct LifecycleRow {
    segment: String,
    period: String,
    base: String,
    acquisition: String,
    retention: String,
    nps: String,
}

struct PrincipleRow {
    text: String,
    departments: String,
    evidence: String,
}

#[derive(Template)]
#[template(path = "executive.html")]
struct ExecutivePage {
    nav: Option<super::Nav>,
    principles: Vec<PrincipleRow>,
    departments: Vec<DepartmentBlock>,
    lifecycle: Vec<LifecycleRow>,
    method: String,
}

fn percent(v: Option<f64>) -> String {
    v.map_or("–".into(), |x| format!("{:.1}%", x * 100.0))
}

pub async fn page(
    State(state): State<AppState>,
    principal: Principal,
    params::QueryPairs(pairs): params::QueryPairs,
) -> Response {
    let built = async {
        let pairs = super::understand::clean(pairs);
        let nav = super::Nav::load(&state, &principal).await;
        let r = executive(&state, &principal, &pairs).await?;
        let departments = r
            .departments
            .iter()
            .map(|d| DepartmentBlock {
                name: d.department.clone(),
                summary: format!(
                    "{} of {} goals met; {} where customers disagree",
                    d.goals_met,
                    d.goals.len(),
                    d.disagreements
                ),
                goals: d
                    .goals
                    .iter()
                    .map(|g| {
                        let m = g.customer_metric.metric;
                        let o = &g.customer_metric.overall;
                        GoalLine {
                            title: g.title.clone(),
                            kpi: match (g.kpi.value, g.kpi.statistic) {
                                (None, _) => "no value".into(),
                                (Some(v), "share_within_target") => format!(
                                    "{:.1}% (target {:.1}%)",
                                    v * 100.0,
                                    g.kpi.target * 100.0
                                ),
                                (Some(v), _) => format!("{v:.2} (target {:.2})", g.kpi.target),
                            },
                            met: match g.kpi.met {
                                Some(true) => "met",
                                Some(false) => "missed",
                                None => "no data",
                            },
                            customer: format!(
                                "{} {} (95% CI {}, n = {})",
                                m.title(),
                                format_value(m, o.value),
                                format_interval(m, o.ci_low, o.ci_high),
                                thousands(o.n)
                            ),
                            flag: g.disagreement.flag,
                        }
                    })
                    .collect(),
            })
            .collect();
        let lifecycle = r
            .lifecycle
            .iter()
            .flat_map(|s| {
                s.periods.iter().map(|p| LifecycleRow {
                    segment: if s.segment.is_empty() {
                        "(no segment)".into()
                    } else {
                        s.segment.clone()
                    },
                    period: format!(
                        "{} to {}{}",
                        p.from,
                        p.to,
                        if p.partial { " (partial)" } else { "" }
                    ),
                    base: thousands(i64::try_from(p.rates.base).unwrap_or(i64::MAX)),
                    acquisition: percent(p.rates.acquisition_rate),
                    retention: format!(
                        "{} ({} to {})",
                        percent(p.rates.retention_rate),
                        percent(p.rates.retention_ci_low),
                        percent(p.rates.retention_ci_high)
                    ),
                    nps: format!(
                        "{} ({}, n = {})",
                        format_value(Metric::Nps, p.nps.value),
                        format_interval(Metric::Nps, p.nps.ci_low, p.nps.ci_high),
                        thousands(p.nps.n)
                    ),
                })
            })
            .collect();
        Ok::<_, ApiError>(
            ExecutivePage {
                nav: Some(nav),
                principles: r
                    .principles
                    .iter()
                    .map(|p| PrincipleRow {
                        text: p.text.clone(),
                        departments: p.departments.join(", "),
                        evidence: match (
                            &p.evidence,
                            &p.figure,
                            p.evidence.as_deref().and_then(Metric::parse),
                        ) {
                            (Some(_), Some(f), Some(m)) => format!(
                                "{} {} (95% CI {}, n = {})",
                                m.title(),
                                format_value(m, f.value),
                                format_interval(m, f.ci_low, f.ci_high),
                                thousands(f.n)
                            ),
                            (Some(e), _, _) => format!("{e} (see the Drivers page)"),
                            (None, _, _) => String::new(),
                        },
                    })
                    .collect(),
                departments,
                lifecycle,
                method: r.lifecycle_method.to_string(),
            }
            .render()?,
        )
    }
    .await;
    super::render(built)
}
