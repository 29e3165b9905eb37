//! The demo's departments as partners (seeds 001, 002, 004): each department
//! with its leader, goals in its own terms paired with customer evidence,
//! external KPI values entered monthly, a North Star with three principles,
//! and wins whose evidence is in the demo data.
//!
//! The story the data tells (see `demo_data`): logistics meets its goal of
//! 95% of deliveries within 5 days while its customers sour after 3; support
//! improves all year (a credited win); billing's invoices are accurate by its
//! own measure while its customers are less satisfied than the rest of the
//! organisation's.

use anyhow::{Context, Result};
use northstar_core::calendar;
use northstar_core::department::{Department, NewWin, NorthStar};
use northstar_store::Store;
use serde_json::json;

/// The accounts `demo` creates for the department roles (logistics).
const LEAD: &str = "department-lead@demo.northstar.test";
const AMBASSADOR: &str = "ambassador@demo.northstar.test";
const CX: &str = "cx-lead@demo.northstar.test";

fn departments() -> serde_json::Value {
    json!([
        {
            "name": "logistics",
            "mission": "Every order arrives when we promised it would",
            "leader": LEAD,
            "ambassadors": [AMBASSADOR],
            "touchpoints": ["delivery"],
            "surveys": ["post_delivery"],
            "goals": [
                {
                    "title": "95% of deliveries within the 5-day target",
                    "kpi": {"measure": "delivery_days", "statistic": "share_within_target",
                            "direction": "higher_is_better", "target": 0.95},
                    "customer_metric": {"metric": "csat", "filter": {"touchpoint": "delivery"}},
                    "agreed_on": "2025-11-12", "agreed_by": LEAD
                },
                {
                    "title": "Median delivery in 4 days or less",
                    "kpi": {"measure": "delivery_days", "statistic": "median",
                            "direction": "lower_is_better", "target": 4.0},
                    "customer_metric": {"metric": "nps", "filter": {"touchpoint": "delivery"}},
                    "agreed_on": "2025-11-12", "agreed_by": LEAD
                }
            ]
        },
        {
            "name": "support",
            "mission": "Solve it on the first contact",
            "leader": "support-lead@demo.northstar.test",
            "touchpoints": ["support_call", "chat"],
            "surveys": ["post_support"],
            "goals": [{
                "title": "First-contact resolution of 70% (ticket system)",
                "kpi": {"measure": "ticket_first_contact_resolution", "statistic": "external",
                        "direction": "higher_is_better", "target": 0.7},
                "customer_metric": {"metric": "fcr"},
                "agreed_on": "2025-11-20", "agreed_by": "support-lead@demo.northstar.test"
            }]
        },
        {
            "name": "billing",
            "mission": "Invoices right the first time",
            "leader": "billing-lead@demo.northstar.test",
            "touchpoints": ["invoice"],
            "surveys": ["post_invoice"],
            "goals": [{
                "title": "Invoice accuracy of 98%",
                "kpi": {"measure": "invoice_accuracy", "statistic": "external",
                        "direction": "higher_is_better", "target": 0.98},
                "customer_metric": {"metric": "csat", "filter": {"touchpoint": "invoice"}},
                "agreed_on": "2025-12-03", "agreed_by": "billing-lead@demo.northstar.test"
            }]
        },
        {
            "name": "sales",
            "mission": "The right offer, quickly",
            "leader": "sales-lead@demo.northstar.test",
            "touchpoints": ["quote", "onboarding"],
            "surveys": ["relationship"],
            "goals": [{
                "title": "Quote-to-order conversion of 25%",
                "kpi": {"measure": "quote_conversion", "statistic": "external",
                        "direction": "higher_is_better", "target": 0.25},
                "customer_metric": {"metric": "nps", "filter": {"department": "sales"}},
                "period_grain": "quarter",
                "agreed_on": "2026-01-08", "agreed_by": "sales-lead@demo.northstar.test"
            }]
        }
    ])
}

fn north_star() -> serde_json::Value {
    json!({
        "statement": "The distributor our customers trust to deliver what we promise",
        "principles": [
            {"text": "Promise only what we deliver", "departments": ["logistics", "sales"],
             "evidence": "driver_delivery_speed"},
            {"text": "Solve it on the first contact", "departments": ["support"], "evidence": "fcr"},
            {"text": "Invoices right the first time", "departments": ["billing"], "evidence": "ces"}
        ],
        "metric": "nps",
        "target": 30,
        "target_date": "2027-06-30"
    })
}

fn wins() -> serde_json::Value {
    json!([
        ["support", CX, {
            "title": "First-call resolution playbook",
            "people": ["Support team leads"],
            "cx_part": "The CX team grouped the 'had to call three times' comments and proposed the playbook.",
            "on": "2026-05-01",
            "evidence": {"metric": "nps", "filter": {"department": "support"},
                         "before": {"from": "2025-11-01", "to": "2026-01-31"},
                         "after": {"from": "2026-08-01", "to": "2026-10-31"}}
        }],
        ["logistics", AMBASSADOR, {
            "title": "Extra carrier capacity after the holiday peak",
            "people": ["Dispatch"],
            "cx_part": "The CX team showed the peak's late deliveries in the expectation-gap curve.",
            "on": "2026-02-01",
            "evidence": {"metric": "csat", "filter": {"touchpoint": "delivery"},
                         "before": {"from": "2025-12-01", "to": "2026-01-31"},
                         "after": {"from": "2026-02-01", "to": "2026-03-31"}}
        }],
        ["billing", CX, {
            "title": "New invoice layout",
            "cx_part": "The CX team tested the layout with five customers.",
            "on": "2026-09-01",
            "evidence": {"metric": "csat", "filter": {"touchpoint": "invoice"},
                         "before": {"from": "2026-07-01", "to": "2026-08-31"},
                         "after": {"from": "2026-09-01", "to": "2026-10-31"}}
        }]
    ])
}

/// Monthly external KPI values of the demo year (Nov 2025 – Oct 2026).
fn monthly(values: impl Fn(i32) -> f64) -> Vec<(calendar::Day, calendar::Day, f64)> {
    let first = calendar::month_of_day(calendar::parse_day("2025-11-01").unwrap_or_default());
    (0..12)
        .map(|k| {
            let m = first + k;
            (
                calendar::first_day_of_month(m),
                calendar::last_day_of_month(m),
                values(k),
            )
        })
        .collect()
}

/// Sets up the partners once (when no department exists yet).
pub async fn set_up(store: &dyn Store, now_unix: i64) -> Result<bool> {
    let b = store.backend();
    if !b.departments().await?.is_empty() {
        return Ok(false);
    }
    let departments: Vec<Department> =
        serde_json::from_value(departments()).context("demo departments")?;
    for d in &departments {
        d.check().map_err(|e| {
            anyhow::anyhow!(
                "demo department {}: {}",
                d.name,
                northstar_core::field::describe(&e)
            )
        })?;
        b.put_department(d, CX, now_unix).await?;
    }
    // Support's ticket system improves with the playbook; billing's invoices
    // are accurate by its own count; sales converts about a quarter.
    b.put_kpi_values(
        "support",
        "ticket_first_contact_resolution",
        &monthly(|k| 0.58 + 0.015 * f64::from(k)),
        "support-lead@demo.northstar.test",
        now_unix,
    )
    .await?;
    b.put_kpi_values(
        "billing",
        "invoice_accuracy",
        &monthly(|k| 0.981 + 0.001 * f64::from(k % 4)),
        "billing-lead@demo.northstar.test",
        now_unix,
    )
    .await?;
    b.put_kpi_values(
        "sales",
        "quote_conversion",
        &monthly(|k| 0.23 + 0.01 * f64::from(k % 5)),
        "sales-lead@demo.northstar.test",
        now_unix,
    )
    .await?;
    let ns: NorthStar = serde_json::from_value(north_star()).context("demo North Star")?;
    ns.check()
        .map_err(|e| anyhow::anyhow!("demo North Star: {}", northstar_core::field::describe(&e)))?;
    b.put_north_star(&ns, CX, now_unix).await?;
    let wins: Vec<(String, String, NewWin)> =
        serde_json::from_value(wins()).context("demo wins")?;
    for (department, by, win) in &wins {
        win.check()
            .map_err(|e| anyhow::anyhow!("demo win: {}", northstar_core::field::describe(&e)))?;
        b.add_win(department, win, by, now_unix).await?;
    }
    Ok(true)
}
