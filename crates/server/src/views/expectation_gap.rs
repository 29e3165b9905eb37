//! The expectation-gap page: the fitted satisfied share against an
//! operational measure, where it falls below the level (the customers'
//! threshold) beside the department's target, in a sentence a department
//! head reads; the table, CSV and provenance.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use northstar_core::Dimension;

use super::understand::{self as u, FilterForm, Provenance};
use crate::api::expectation_gap::{GapReport, gap_for};
use crate::auth::Principal;
use crate::chart::{self, GapPoint, number};
use crate::error::ApiError;
use crate::{AppState, params, report};

/// Departments tried, in order, for one with linked records when the
/// request names none.
const DEPARTMENTS_TRIED: usize = 8;

struct Row {
    x: String,
    n: String,
    observed: String,
    fitted: String,
    /// Below the level (fitted).
    below: bool,
}

struct Content {
    title: String,
    headline: String,
    summary: String,
    threshold: String,
    target: String,
    target_source: String,
    among_met: String,
    svg: String,
    rows: Vec<Row>,
    provenance: Provenance,
}

#[derive(Template)]
#[template(path = "expectation_gap.html")]
struct GapPage {
    nav: Option<super::Nav>,
    measure: String,
    level: String,
    target: String,
    departments: Vec<(String, bool)>,
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
    u::default(&mut pairs, "measure", "delivery_days");
    let scoped = report::Selection::default().within(&principal.scope);
    let departments =
        match report::dimension_values(&*state.store, Dimension::Department, &scoped).await {
            Ok(d) => d.into_iter().filter(|d| !d.is_empty()).collect::<Vec<_>>(),
            Err(e) => return super::render(Err(e)),
        };
    if !pairs.iter().any(|(n, _)| n == "department") {
        // The role's own department, else the first with linked records.
        let own = principal.scope.department().map(str::to_string);
        let mut chosen = own.clone();
        if chosen.is_none() {
            for d in departments.iter().take(DEPARTMENTS_TRIED) {
                let mut trial = pairs.clone();
                trial.push(("department".into(), d.clone()));
                if let Ok(r) = gap_for(&state, &principal, &trial).await
                    && r.n > 0
                {
                    chosen = Some(d.clone());
                    break;
                }
            }
        }
        if let Some(d) = chosen.or_else(|| departments.first().cloned()) {
            pairs.push(("department".into(), d));
        }
    }
    let department = u::value(&pairs, "department").to_string();
    let page = |content: Option<Content>, error: Option<String>, form: FilterForm| GapPage {
        nav: Some(nav.clone()),
        measure: u::value(&pairs, "measure").to_string(),
        level: match u::value(&pairs, "level") {
            "" => "0.8".to_string(),
            v => v.to_string(),
        },
        target: u::value(&pairs, "target").to_string(),
        departments: departments
            .iter()
            .map(|d| (d.clone(), *d == department))
            .collect(),
        form,
        error,
        content,
    };
    let form = match u::filter_form(&state, &principal, &pairs, Some(Dimension::Department)).await {
        Ok(f) => f,
        Err(e) => return super::render(Err(e)),
    };
    let built = async {
        if department.is_empty() {
            return Err(ApiError::parameter(
                "department",
                "is required: choose the department whose records and target to read",
            ));
        }
        let r = gap_for(&state, &principal, &pairs).await?;
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

fn percent(v: f64) -> String {
    format!("{}%", number((v * 1000.0).round() / 10.0))
}

/// "logistics" → "Logistics".
fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn content(r: &GapReport, principal: &Principal, pairs: &[(String, String)]) -> Content {
    let unit = r.measure.rsplit('_').next().unwrap_or("").to_string();
    let with_unit = |v: f64| format!("{} {unit}", number(v));
    let (worse, better) = if r.direction == "higher_is_better" {
        ("or less", "at least")
    } else {
        ("or more", "at most")
    };
    let level = percent(r.level);
    let among = r.dissatisfied_share_among_met.map(|s| {
        format!(
            "{} of orders that met the target left the customer dissatisfied.",
            percent(s)
        )
    });
    let headline = match (r.threshold, r.target) {
        (_, _) if r.n == 0 => format!(
            "No {} records of {} are linked to a satisfaction answer in this selection.",
            r.measure, r.department
        ),
        (Some(th), Some(t)) => format!(
            "Customers' satisfaction falls below {level} at {} {worse}; {}' target is {} {}. {}",
            with_unit(th),
            capitalised(&r.department),
            better,
            with_unit(t),
            among.clone().unwrap_or_default()
        ),
        (Some(th), None) => format!(
            "Customers' satisfaction falls below {level} at {} {worse}; {} has no target for {}.",
            with_unit(th),
            capitalised(&r.department),
            r.measure
        ),
        (None, Some(t)) => format!(
            "Customers stay at or above {level} satisfied across the observed range; {}' target is {} {}. {}",
            capitalised(&r.department),
            better,
            with_unit(t),
            among.clone().unwrap_or_default()
        ),
        (None, None) => {
            format!("Customers stay at or above {level} satisfied across the observed range.")
        }
    };
    let points: Vec<GapPoint> = r
        .curve
        .iter()
        .map(|c| GapPoint {
            x: c.x,
            observed: c.observed_share,
            fitted: c.satisfied_share,
            n: c.n,
        })
        .collect();
    let title = format!(
        "Satisfied share by {} for {}: fitted (isotonic) and observed",
        r.measure, r.department
    );
    let desc = format!(
        "Step line: the fitted share of satisfied customers (CSAT 4–5) by {}; dots: the share observed at each value, sized by its number of records; dashed line at the {level} level; vertical lines at the customers' threshold ({}) and the target ({}). {headline}",
        r.measure,
        r.threshold.map_or("none".to_string(), with_unit),
        r.target.map_or("none".to_string(), with_unit),
    );
    let rows = r
        .curve
        .iter()
        .map(|c| Row {
            x: match c.x_high {
                Some(hi) if hi != c.x => format!("{} to {}", number(c.x), number(hi)),
                _ => number(c.x),
            },
            n: u::thousands(c.n),
            observed: percent(c.observed_share),
            fitted: percent(c.satisfied_share),
            below: c.satisfied_share < r.level,
        })
        .collect();
    Content {
        svg: chart::gap_svg(
            "gap-chart",
            &title,
            &desc,
            &points,
            r.level,
            r.threshold,
            r.target,
            &unit,
        ),
        title,
        headline,
        summary: r.summary.clone(),
        threshold: r
            .threshold
            .map_or("none (never below the level)".to_string(), |t| {
                format!("{} {worse}", with_unit(t))
            }),
        target: r.target.map_or("none".to_string(), |t| format!("{better} {}", with_unit(t))),
        target_source: r.target_source.clone(),
        among_met: match (
            r.dissatisfied_share_among_met,
            r.dissatisfied_among_met_ci_low,
            r.dissatisfied_among_met_ci_high,
            r.met_target_n,
        ) {
            (Some(s), Some(lo), Some(hi), Some(n)) => format!(
                "{} of {} records that met the target (95% Wilson CI {} to {})",
                percent(s),
                u::thousands(n),
                percent(lo),
                percent(hi)
            ),
            _ => "–".to_string(),
        },
        rows,
        provenance: Provenance {
            n: format!(
                "{} linked records ({} of {} joined by order_id to CSAT answers){}",
                u::thousands(r.n),
                r.measure,
                r.department,
                if r.curve_binned {
                    "; the curve is drawn from bins"
                } else {
                    ""
                }
            ),
            interval: "the threshold is a point estimate (no interval); the dissatisfied share among records that met the target has a 95% Wilson (1927) interval".to_string(),
            filter: format!(
                "responses: {}; records: department {}",
                u::describe(&r.filter, r.restricted_to.as_deref()),
                r.department
            ),
            period: u::period_text(&r.period),
            source: r.source.to_string(),
            method: r.method.to_string(),
            reference: "Pool-adjacent-violators isotonic regression: Barlow, Bartholomew, Bremner & Brunk (1972), Statistical Inference under Order Restrictions; Best & Chakravarti (1990).".to_string(),
            json_url: format!("/api/v1/expectation-gap?{}", u::query(pairs)),
            csv_url: u::csv_url(principal, "/api/v1/expectation-gap.csv", pairs),
        },
    }
}
