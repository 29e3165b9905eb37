//! The demo's proof of value (issue 11): a pilot of proactive delivery
//! updates for enterprise customers — its plan, the groups the demo data
//! generator drew (seed recorded; the pilot half has a planted effect) —
//! and a business case built on it, reviewed by the demo finance user with
//! one assumption challenged and the version returned, so that a CX lead
//! can revise it and finance approve the new version.

use std::sync::Arc;

use northstar_core::access::Scope;
use northstar_core::account::Role;
use northstar_core::pilot::PilotPlan;
use northstar_store::Store;
use northstar_store::value_records::{Assignment, PilotGroup, Verdict};
use serde_json::json;

use crate::AppState;
use crate::api::{business_cases, pilots};
use crate::auth::{Principal, Via};
use crate::error::ApiError;

/// The demo pilot's name.
pub const PILOT_NAME: &str = "Proactive delivery updates for enterprise customers";
/// The assumption finance challenges.
pub const CHALLENGED: &str = "churn_gap";

fn principal(who: &str, role: Role) -> Principal {
    Principal {
        who: who.to_string(),
        role,
        scope: Scope::Organisation,
        via: Via::Token,
    }
}

/// Sets the pilot and its business case up unless the pilot exists; the
/// groups as the generator drew them, `(customer_id, "pilot"|"control")`,
/// with the seed it used. True when it set them up.
pub async fn set_up(
    store: Arc<dyn Store>,
    groups: Vec<(String, String)>,
    seed: u64,
    now_unix: i64,
) -> Result<bool, ApiError> {
    if store
        .backend()
        .pilots()
        .await?
        .iter()
        .any(|p| p.name == PILOT_NAME)
    {
        return Ok(false);
    }
    let state = AppState::new(store.clone(), &crate::ServerOptions::default());
    let cx = principal("cx-lead@demo.northstar.test", Role::CxLead);
    let finance = principal("finance@demo.northstar.test", Role::Finance);
    let plan: PilotPlan = serde_json::from_value(json!({
        "name": PILOT_NAME,
        "hypothesis": "Telling enterprise customers proactively when their delivery will arrive (and when it slips) raises their NPS after a delivery by at least 10 points, even where the delivery itself is not faster",
        "metric": "nps",
        "secondary": ["csat"],
        "scope": {"segment": "enterprise", "touchpoint": "delivery", "department": "logistics"},
        "start": "2026-08-03",
        "end": "2026-10-31",
        "mde": 10,
        "alpha": 0.05,
        "power": 0.8
    }))
    .map_err(|e| ApiError::BadBody(e.to_string()))?;
    // The story: registered two weeks before the start, groups drawn and
    // locked the day before it (so the pilot is pre-registered).
    let at = |text: &str| {
        text.parse::<jiff::Timestamp>()
            .map(|t| t.as_second())
            .map_err(|e| ApiError::BadRequest(e.to_string()))
    };
    let registered = at("2026-07-20T09:00:00Z")?.min(now_unix);
    let locked = at("2026-08-02T09:00:00Z")?.min(now_unix);
    let id = pilots::create_at(&state, &cx, plan, registered).await?;
    let rows: Vec<Assignment> = groups
        .into_iter()
        .map(|(customer_id, group)| Assignment {
            customer_id,
            group: if group == "pilot" {
                PilotGroup::Pilot
            } else {
                PilotGroup::Control
            },
            stratum: "enterprise".into(),
        })
        .collect();
    let backend = store.backend();
    backend
        .put_assignments(
            id,
            &rows,
            "stratified by segment (drawn by the demo data generator)",
            i64::try_from(seed).ok(),
            &cx.who,
            locked,
        )
        .await?;
    backend.lock_pilot(id, &cx.who, locked).await?;

    let enterprise = json!({"segment": "enterprise"});
    let request: business_cases::CaseRequest = serde_json::from_value(json!({
        "name": "Proactive delivery updates for every enterprise customer",
        "initiative": "Roll the pilot's proactive delivery updates (SMS and e-mail when an order ships, and whenever its date slips) out to all enterprise customers",
        "department": "logistics",
        "pilot_id": id,
        "discount_rate": 0.08,
        "cash_flows": [
            {"year": 0, "cost": 180000, "benefit": 0},
            {"year": 1, "cost": 45000, "benefit": 0},
            {"year": 2, "cost": 45000, "benefit": 0},
            {"year": 3, "cost": 45000, "benefit": 0}
        ],
        "assumptions": [
            {"key": "detractor_reduction", "name": "Fewer detractors with proactive updates (share of customers)", "unit": "share",
             "source": {"kind": "measured", "figure": "pilot_detractor_reduction", "pilot_id": id}},
            {"key": "customers", "name": "Enterprise customers", "unit": "count",
             "source": {"kind": "measured", "figure": "customers", "scope": enterprise}},
            {"key": CHALLENGED, "name": "Churn gap of a customer who stops being a detractor", "unit": "share",
             "source": {"kind": "measured", "figure": "churn_gap_detractor_promoter", "scope": enterprise}},
            {"key": "annual_value", "name": "Annual value of an enterprise detractor", "unit": "currency",
             "source": {"kind": "measured", "figure": "annual_value_detractors", "scope": enterprise}},
            {"key": "calls_avoided", "name": "\"Where is my order\" calls avoided a year", "unit": "count",
             "value": 2400, "low": 1200, "high": 3600,
             "source": {"kind": "estimate", "owner": "Head of customer support"}, "as_of": "2026-11-02"},
            {"key": "cost_per_call", "name": "Cost of an assisted phone contact", "unit": "currency",
             "value": 8.01, "low": 5.0, "high": 12.0,
             "source": {"kind": "benchmark", "citation": "Gartner press release, 2019-09-25, 'Only 9% of customers report solving their issues completely via self-service': live channels cost about $8.01 per contact"},
             "as_of": "2026-11-02"}
        ],
        "lines": [
            {"name": "Retention of customers who stop being detractors", "kind": "benefit",
             "factors": ["detractor_reduction", "customers", CHALLENGED, "annual_value"], "from_year": 1},
            {"name": "Support calls avoided", "kind": "benefit",
             "factors": ["calls_avoided", "cost_per_call"], "from_year": 1}
        ],
        "effect": "detractor_reduction"
    }))
    .map_err(|e| ApiError::BadBody(e.to_string()))?;
    let inputs = business_cases::inputs_of(&state, &cx, request).await?;
    let document =
        serde_json::to_string(&inputs).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let case = backend
        .create_business_case(
            &inputs.name,
            inputs.department.as_deref(),
            Some(id),
            &document,
            &cx.who,
            now_unix,
        )
        .await?;
    for a in &inputs.assumptions {
        let (verdict, comment) = if a.key == CHALLENGED {
            (
                Verdict::Challenged,
                "A detractor who stops being one mostly becomes a passive, not a promoter: use the detractor–passive churn gap (churn_gap_detractor_passive), or show me that they become promoters.",
            )
        } else {
            (Verdict::Accepted, "")
        };
        backend
            .review_assumption(
                case,
                1,
                &a.key,
                verdict,
                comment,
                &finance.who,
                now_unix + 60,
            )
            .await?;
    }
    backend
        .decide_case_version(
            case,
            1,
            false,
            &[],
            "Returned: one assumption is challenged (see churn_gap). Everything else is accepted.",
            &finance.who,
            now_unix + 120,
        )
        .await?;
    Ok(true)
}
