//! `GET /api/v1/revenue-at-risk`: what detractors' extra churn costs a
//! year, and what one NPS point is worth (`northstar_core::revenue`).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use northstar_core::revenue::{
    self, ChurnAssumptions, GroupRevenueAtRisk, MIN_CHURN_FLAGS, RevenueAtRisk, RevenueSettings,
};
use northstar_store::LoyaltyBy;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::{AppState, params};

/// Churn rates assumed where too few churn flags are known to measure one,
/// until the user gives their own (`churn_promoters`, `churn_passives`,
/// `churn_detractors`). They are placeholders, not benchmarks: every
/// figure that uses one says so.
pub const DEFAULT_ASSUMED_CHURN: ChurnAssumptions = ChurnAssumptions {
    promoters: 0.05,
    passives: 0.10,
    detractors: 0.20,
};

/// An assumption as the report shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AssumedChurn {
    pub promoters: f64,
    pub passives: f64,
    pub detractors: f64,
    /// `request` (given as parameters) or `northstar default`.
    pub source: &'static str,
    /// Churn flags needed before a group's rate is measured instead.
    pub min_churn_flags: u64,
}

/// Revenue at risk with its formula and inputs.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RevenueReport {
    /// The whole selection (each customer once, by their latest answer).
    #[schema(value_type = Object)]
    pub total: RevenueAtRisk,
    /// `department`, `segment` or null.
    pub by: Option<&'static str>,
    /// Per group, each on its own churn rates.
    #[schema(value_type = Vec<Object>)]
    pub groups: Vec<GroupRevenueAtRisk>,
    pub assumptions: AssumedChurn,
    pub filter: BTreeMap<String, Vec<String>>,
    pub requested_from: Option<String>,
    pub requested_to: Option<String>,
    pub restricted_to: Option<String>,
    pub source: &'static str,
    /// Whether finance has reviewed these dollars: never — they are
    /// computed on request; the figures finance signs off are business
    /// cases' (`/api/v1/business-cases`), whose review names who and when.
    pub finance_review: &'static str,
}

fn rate(pairs: &[(String, String)], name: &str) -> Result<Option<f64>, ApiError> {
    let mut found = None;
    for (_, value) in pairs.iter().filter(|(n, _)| n == name) {
        if found.is_some() {
            return Err(ApiError::parameter(name, "is given twice; give it once"));
        }
        let v = value.trim();
        found = Some(
            v.parse::<f64>()
                .ok()
                .filter(|r| (0.0..=1.0).contains(r))
                .ok_or_else(|| {
                    ApiError::parameter(
                        name,
                        format!("{v:?} is not a churn rate between 0 and 1 (0.2 for 20%)"),
                    )
                })?,
        );
    }
    Ok(found)
}

/// Annual value of detractor customers × (churn rate of detractors − churn
/// rate of promoters), from customers' churn flags where enough are known,
/// else from an assumption shown beside it; the value of one NPS point;
/// overall and per department or segment. Every dollar figure carries its
/// formula, the calculation with its numbers, and its inputs.
#[utoipa::path(
    get,
    path = "/api/v1/revenue-at-risk",
    params(super::doc::RevenueDoc, super::doc::SelectionDoc),
    responses(
        (status = 200, description = "Dollars with formula and inputs", body = RevenueReport),
        (status = 400, description = "A parameter is wrong; the message names it", body = super::doc::ErrorBody),
        (status = 401, description = "No credentials, or an unknown or revoked token", body = super::doc::ErrorBody),
        (status = 403, description = "The role may not do this", body = super::doc::ErrorBody),
        (status = 500, description = "Internal error; quote the request id", body = super::doc::ErrorBody),
        (status = 503, description = "Busy (too many requests in flight) or past the request deadline", body = super::doc::ErrorBody),
    )
)]
pub async fn get_revenue_at_risk(
    State(state): State<AppState>,
    principal: Principal,
    params::QueryPairs(pairs): params::QueryPairs,
) -> Result<Json<RevenueReport>, ApiError> {
    let names = ["churn_promoters", "churn_passives", "churn_detractors"];
    params::reject_empty(
        &pairs,
        &[
            "by",
            "from",
            "to",
            "churn_promoters",
            "churn_passives",
            "churn_detractors",
        ],
    )?;
    let mut accepted = vec!["by"];
    accepted.extend(names);
    let p = params::parse(&pairs, &accepted, &principal.scope)?;
    let mut by = None;
    for (_, value) in pairs.iter().filter(|(n, _)| n == "by") {
        if by.is_some() {
            return Err(ApiError::parameter("by", "is given twice; give it once"));
        }
        by = Some(match value.trim() {
            "department" => LoyaltyBy::Department,
            "segment" => LoyaltyBy::Segment,
            other => {
                return Err(ApiError::parameter(
                    "by",
                    format!("cannot split by {other:?}; use department or segment"),
                ));
            }
        });
    }
    let given = [
        rate(&pairs, names[0])?,
        rate(&pairs, names[1])?,
        rate(&pairs, names[2])?,
    ];
    let assumed = ChurnAssumptions {
        promoters: given[0].unwrap_or(DEFAULT_ASSUMED_CHURN.promoters),
        passives: given[1].unwrap_or(DEFAULT_ASSUMED_CHURN.passives),
        detractors: given[2].unwrap_or(DEFAULT_ASSUMED_CHURN.detractors),
    };
    let settings = RevenueSettings {
        assumed_churn: assumed,
        min_churn_flags: MIN_CHURN_FLAGS,
    };
    let selection = &p.selection;
    let respondents = selection.respondents();
    let total_input = state
        .store
        .loyalty_customers(&respondents, None)
        .await?
        .into_iter()
        .next()
        .map(|(_, l)| l)
        .unwrap_or_default();
    let invalid = |e: revenue::RevenueError| ApiError::BadRequest(e.to_string());
    let total = revenue::revenue_at_risk(&total_input, &settings).map_err(invalid)?;
    let groups = match by {
        None => Vec::new(),
        Some(by) => {
            let split = state
                .store
                .loyalty_customers(&respondents, Some(by))
                .await?;
            revenue::revenue_at_risk_by(&split, &settings)
                .map_err(invalid)?
                .groups
        }
    };
    Ok(Json(RevenueReport {
        total,
        by: by.map(|b| match b {
            LoyaltyBy::Department => "department",
            LoyaltyBy::Segment => "segment",
        }),
        groups,
        assumptions: AssumedChurn {
            promoters: assumed.promoters,
            passives: assumed.passives,
            detractors: assumed.detractors,
            source: if given.iter().all(Option::is_some) {
                "request"
            } else if given.iter().any(Option::is_some) {
                "request where given, else northstar default (a placeholder, not a benchmark)"
            } else {
                "northstar default (a placeholder, not a benchmark): give churn_promoters, churn_passives, churn_detractors"
            },
            min_churn_flags: MIN_CHURN_FLAGS,
        },
        filter: selection.filter_map(),
        requested_from: selection.from.map(northstar_core::calendar::day_label),
        requested_to: selection.to.map(northstar_core::calendar::day_label),
        restricted_to: selection.restricted_to.clone(),
        finance_review: "not reviewed by finance: computed from the data on request; figures finance signs off are business cases (/business-cases)",
        source: "each customer's latest NPS answer in the selection (per department when split by department), joined by customer_id to the customers file's churn flags and annual values",
    }))
}
