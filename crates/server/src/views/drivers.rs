//! The drivers page: which driver ratings move NPS or CSAT (Johnson's
//! relative weights) as a quadrant chart of importance against
//! performance, the "Fix first" drivers named, the table, CSV and
//! provenance.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use northstar_core::drivers::Quadrant;

use super::understand::{self as u, FilterForm, Provenance};
use crate::api::drivers::{DriverReport, drivers_for};
use crate::auth::Principal;
use crate::chart::{self, QuadrantPoint};
use crate::error::ApiError;
use crate::{AppState, params};

struct Row {
    name: String,
    raw: String,
    rescaled: String,
    interval: String,
    mean: String,
    quadrant: &'static str,
    fix_first: bool,
}

struct Content {
    title: String,
    summary: String,
    r2: String,
    n: String,
    note: Option<String>,
    svg: String,
    rows: Vec<Row>,
    split: String,
    provenance: Provenance,
}

#[derive(Template)]
#[template(path = "drivers.html")]
struct DriversPage {
    nav: Option<super::Nav>,
    metrics: Vec<(&'static str, &'static str, bool)>,
    form: FilterForm,
    error: Option<String>,
    content: Option<Content>,
}

pub async fn page(
    State(state): State<AppState>,
    principal: Principal,
    params::QueryPairs(pairs): params::QueryPairs,
) -> Response {
    let mut pairs = u::clean(pairs);
    let nav = super::Nav::load(&state, &principal).await;
    u::default(&mut pairs, "metric", "nps");
    let page = |content: Option<Content>, error: Option<String>, form: FilterForm| DriversPage {
        nav: Some(nav.clone()),
        metrics: u::choices(
            &[("nps", "NPS (0–10 rating)"), ("csat", "CSAT (1–5 rating)")],
            u::value(&pairs, "metric"),
        ),
        form,
        error,
        content,
    };
    let form = match u::filter_form(&state, &principal, &pairs, None).await {
        Ok(f) => f,
        Err(e) => return super::render(Err(e)),
    };
    let built = async {
        let r = drivers_for(&state, &principal, &pairs).await?;
        Ok::<_, ApiError>(content(&r, &principal, &pairs))
    }
    .await;
    match built {
        Ok(c) => super::render(page(Some(c), None, form).render().map_err(Into::into)),
        Err(e) => u::respond(Err(e), |message| {
            Ok(page(None, Some(message), form).render()?)
        }),
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn quadrant_label(q: Quadrant) -> &'static str {
    match q {
        Quadrant::FixFirst => "Fix first",
        Quadrant::KeepUp => "Keep up",
        Quadrant::Monitor => "Monitor",
        Quadrant::Maintain => "Maintain",
    }
}

/// "a", "a and b", "a, b and c".
fn and_list(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

fn content(r: &DriverReport, principal: &Principal, pairs: &[(String, String)]) -> Content {
    let outcome = match r.metric {
        northstar_core::Metric::Csat => "CSAT",
        _ => "NPS",
    };
    let importance = |d: &northstar_core::drivers::DriverWeight| d.rescaled_pct.unwrap_or(0.0);
    let split_x = median(&mut r.drivers.iter().map(importance).collect::<Vec<_>>());
    let split_y = median(&mut r.drivers.iter().map(|d| d.mean).collect::<Vec<_>>());
    let fix_first: Vec<String> = r
        .drivers
        .iter()
        .filter(|d| d.quadrant == Quadrant::FixFirst)
        .map(|d| d.name.clone())
        .collect();
    let summary = if r.drivers.is_empty() {
        format!(
            "No key-driver analysis for this selection{}.",
            r.note
                .as_deref()
                .map(|n| format!(": {n}"))
                .unwrap_or_default()
        )
    } else if fix_first.is_empty() {
        format!(
            "No driver is in the “Fix first” quadrant: none both matters more than the median driver for {outcome} and is rated below the median."
        )
    } else {
        format!(
            "Fix first: {} — {} more to {outcome} than the median driver and {} rated below the median driver.",
            and_list(&fix_first),
            if fix_first.len() == 1 {
                "it matters"
            } else {
                "they matter"
            },
            if fix_first.len() == 1 { "is" } else { "are" },
        )
    };
    let points: Vec<QuadrantPoint> = r
        .drivers
        .iter()
        .map(|d| QuadrantPoint {
            label: d.name.clone(),
            importance: importance(d),
            performance: d.mean,
            fix_first: d.quadrant == Quadrant::FixFirst,
        })
        .collect();
    let title = format!("Key drivers of {outcome}: importance against performance");
    let desc = format!(
        "Each driver placed by its importance (share of R² in %, x) and its mean rating (y); dashed lines at the median importance ({split_x:.1}%) and median rating ({split_y:.2}). Bottom right is “Fix first”. {summary}"
    );
    let rows = r
        .drivers
        .iter()
        .map(|d| Row {
            name: d.name.clone(),
            raw: format!("{:.4}", d.raw_weight),
            rescaled: d.rescaled_pct.map_or("–".into(), |p| format!("{p:.1}%")),
            interval: format!("{:.4} to {:.4}", d.ci_low, d.ci_high),
            mean: format!("{:.2}", d.mean),
            quadrant: quadrant_label(d.quadrant),
            fix_first: d.quadrant == Quadrant::FixFirst,
        })
        .collect();
    let r2 = match (r.r2, r.r2_ci_low, r.r2_ci_high) {
        (Some(v), Some(lo), Some(hi)) => {
            format!("{v:.3} (95% bootstrap interval {lo:.3} to {hi:.3})")
        }
        (Some(v), _, _) => format!("{v:.3}"),
        _ => "–".to_string(),
    };
    Content {
        svg: chart::quadrant_svg("drivers-chart", &title, &desc, &points, split_x, split_y),
        title,
        summary,
        r2,
        n: u::thousands(r.n),
        note: r.note.clone(),
        rows,
        split: format!("median importance {split_x:.1}%, median rating {split_y:.2}"),
        provenance: Provenance {
            n: format!(
                "{} complete rows (every driver of the set rated: {}); {} responses with {outcome} left out (other driver sets or none)",
                u::thousands(r.n),
                r.driver_set.join(", "),
                u::thousands(i64::try_from(r.rows_left_out).unwrap_or(i64::MAX))
            ),
            interval: format!(
                "95% percentile interval of each raw weight from a normal-theory parametric bootstrap, B = {} replicates, seed {}",
                r.bootstrap_replicates, r.bootstrap_seed
            ),
            filter: u::describe(&r.filter, r.restricted_to.as_deref()),
            period: u::period_text(&r.period),
            source: r.source.to_string(),
            method: format!(
                "{}. Quadrants split at the median importance and the median rating over the analysed drivers.",
                r.method
            ),
            reference: "Johnson, J. W. (2000). A heuristic method for estimating the relative weight of predictor variables in multiple regression. Multivariate Behavioral Research 35(1), 1–19.".to_string(),
            json_url: format!("/api/v1/drivers?{}", u::query(pairs)),
            csv_url: u::csv_url(principal, "/api/v1/drivers.csv", pairs),
        },
    }
}
