//! Demo data for an electronics distributor: customers, deliveries and 12
//! months of survey responses, written as the same CSV files a user imports.
//!
//! What the data is built to show:
//! * logistics promises delivery in 5 days and meets its goal of 95% within
//!   it outside the holiday peak, but satisfaction falls off once a delivery
//!   takes more than about 3 (the expectation gap; the scorecard's
//!   disagreement);
//! * support improves over the year, logistics dips in the holiday peak;
//! * respondents are not representative: enterprise customers answer far more
//!   often than small businesses, which are most of the customer base;
//! * detractors churn more often than promoters;
//! * for logistics' customers, delivery speed moves loyalty more than product
//!   quality and is rated lower: the key-driver quadrant's "fix first";
//! * a pilot of proactive delivery updates for half the enterprise customers
//!   (assigned at random with a recorded seed) from 2026-08-03 raises their
//!   delivery scores — the control half gets nothing (a planted effect).

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

/// Start of the demo year.
pub const START: &str = "2025-11-01T00:00:00Z";
/// Days covered: 2025-11-01 to 2026-10-31.
const DAYS: i64 = 365;
/// Logistics' own delivery target, in days.
pub const DELIVERY_TARGET_DAYS: f64 = 5.0;
/// Spread of delivery times (standard deviation, days): outside the holiday
/// peak about 97% of deliveries meet the 5-day target — logistics' goal of
/// 95% is met — while customers already sour after 3 days (seed 001).
const DELIVERY_SPREAD_DAYS: f64 = 0.9;

/// The demo pilot: first day (days after [`START`]: 2026-08-03), seed of
/// the assignment, and the planted shift of the latent 0–10 score of the
/// pilot group's delivery answers after the start.
pub const PILOT_START_DAY: i64 = 275;
pub const PILOT_SEED: u64 = 2026;
const PILOT_EFFECT: f64 = 0.35;

const SEGMENTS: [(&str, f64, f64, f64); 3] = [
    // name, share of customers, relative response rate, typical annual value
    ("smb", 0.68, 0.45, 6_000.0),
    ("mid_market", 0.24, 1.0, 45_000.0),
    ("enterprise", 0.08, 3.2, 260_000.0),
];
const REGIONS: [&str; 4] = ["north", "south", "east", "west"];
const CHANNELS: [&str; 3] = ["email", "web", "sms"];

struct Customer {
    id: String,
    segment: usize,
    region: &'static str,
    annual_value: f64,
    /// Latent attitude, shifts every score.
    mood: f64,
}

/// Paths of the files written.
pub struct DemoFiles {
    pub customers: std::path::PathBuf,
    pub operations: std::path::PathBuf,
    pub responses: std::path::PathBuf,
    /// The demo pilot's groups (customer_id, group): every enterprise
    /// customer, half in the pilot.
    pub pilot_groups: std::path::PathBuf,
}

fn normal(rng: &mut fastrand::Rng) -> f64 {
    // Box–Muller.
    let u1 = rng.f64().max(f64::MIN_POSITIVE);
    let u2 = rng.f64();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn pick_weighted(rng: &mut fastrand::Rng, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut x = rng.f64() * total;
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.len() - 1
}

fn clamp_score(x: f64, low: u8, high: u8) -> u8 {
    x.round().clamp(f64::from(low), f64::from(high)) as u8
}

/// Expected 0–10 score given how long a delivery took: flat up to about
/// three days, then falling steeply.
fn delivery_effect(days: f64) -> f64 {
    if days <= 3.0 {
        0.3
    } else {
        0.3 - 0.6 * (days - 3.0)
    }
}

/// Writes customers.csv, operations.csv and responses.csv into `dir`.
pub fn write(dir: &Path, responses: u64, seed: u64) -> Result<DemoFiles> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut rng = fastrand::Rng::with_seed(seed);
    let start: jiff::Timestamp = START.parse()?;

    // Customers: enough that most answer a few times a year.
    let n_customers = (responses / 6).clamp(2_000, 400_000) as usize;
    let customers: Vec<Customer> = (0..n_customers)
        .map(|i| {
            let segment = pick_weighted(&mut rng, &SEGMENTS.map(|s| s.1));
            Customer {
                id: format!("C{:06}", i + 1),
                segment,
                region: REGIONS[rng.usize(..REGIONS.len())],
                annual_value: (SEGMENTS[segment].3 * (0.6 * normal(&mut rng)).exp()).round(),
                mood: 0.9 * normal(&mut rng),
            }
        })
        .collect();
    let response_weights: Vec<f64> = customers.iter().map(|c| SEGMENTS[c.segment].2).collect();
    let cumulative: Vec<f64> = response_weights
        .iter()
        .scan(0.0, |acc, w| {
            *acc += w;
            Some(*acc)
        })
        .collect();
    let total_weight = cumulative.last().copied().unwrap_or(1.0);

    let files = DemoFiles {
        customers: dir.join("customers.csv"),
        operations: dir.join("operations.csv"),
        responses: dir.join("responses.csv"),
        pilot_groups: dir.join("pilot_groups.csv"),
    };
    // The pilot: enterprise customers split at random (stratified by
    // segment, one stratum here) with a recorded seed.
    let enterprise: Vec<(String, String)> = customers
        .iter()
        .filter(|c| SEGMENTS[c.segment].0 == "enterprise")
        .map(|c| (c.id.clone(), "enterprise".to_string()))
        .collect();
    let groups = northstar_core::assignment::assign(&enterprise, 0.5, PILOT_SEED, true)
        .map_err(|e| anyhow::anyhow!("demo pilot assignment: {e}"))?;
    let mut in_pilot = std::collections::HashSet::new();
    let mut pilot_file = csv::Writer::from_path(&files.pilot_groups)?;
    pilot_file.write_record(["customer_id", "group"])?;
    for (id, group, _) in &groups {
        if *group == northstar_core::assignment::Group::Pilot {
            in_pilot.insert(id.clone());
        }
        pilot_file.write_record([id.as_str(), group.as_str()])?;
    }
    pilot_file.flush()?;
    let mut ops = csv::Writer::from_path(&files.operations)?;
    ops.write_record([
        "order_id",
        "customer_id",
        "department",
        "delivered_at",
        "delivery_days",
        "target_days",
        "carrier",
    ])?;
    let mut out = csv::Writer::from_writer(std::io::BufWriter::with_capacity(
        1 << 20,
        std::fs::File::create(&files.responses)?,
    ));
    out.write_record([
        "external_id",
        "customer_id",
        "submitted_at",
        "survey",
        "touchpoint",
        "department",
        "segment",
        "channel",
        "nps",
        "csat",
        "ces",
        "fcr",
        "comment",
        "order_id",
        "driver_delivery_speed",
        "driver_product_quality",
        "driver_support_quality",
        "driver_billing_clarity",
        "language",
    ])?;

    let mut mood_sum = vec![0.0f64; n_customers];
    let mut mood_n = vec![0u32; n_customers];
    // Each customer's first answer (day of the year): customers won during
    // the year are acquired before it.
    let mut first_day = vec![DAYS; n_customers];
    let mut order_seq: u64 = 0;
    for i in 0..responses {
        let x = rng.f64() * total_weight;
        let ci = cumulative.partition_point(|&c| c < x).min(n_customers - 1);
        let c = &customers[ci];
        let day = rng.i64(0..DAYS);
        let second = day * 86_400 + rng.i64(6 * 3600..21 * 3600);
        let month = day / 30; // 0 = Nov 2025 … 11 = Oct 2026
        let holiday_peak = (1..=2).contains(&month); // Dec, Jan
        let department = pick_weighted(&mut rng, &[0.4, 0.3, 0.15, 0.15]);
        let (department, touchpoint, survey) = match department {
            0 => ("logistics", "delivery", "post_delivery"),
            1 => (
                "support",
                if rng.bool() { "support_call" } else { "chat" },
                "post_support",
            ),
            2 => ("billing", "invoice", "post_invoice"),
            _ => (
                "sales",
                if rng.f64() < 0.6 {
                    "quote"
                } else {
                    "onboarding"
                },
                "relationship",
            ),
        };
        let mut base = 7.6 + c.mood + 0.35 * normal(&mut rng);
        base += match c.segment {
            0 => -0.2,
            1 => 0.1,
            _ => 0.45,
        };
        let mut order_id = String::new();
        let mut delivery_speed = None;
        match department {
            "logistics" => {
                // Orders behind this response; deliveries stretch in the holiday peak.
                let mean_days = if holiday_peak { 4.6 } else { 3.6 };
                let days = (mean_days + DELIVERY_SPREAD_DAYS * normal(&mut rng)).clamp(1.0, 10.0);
                let days = (days * 2.0).round() / 2.0;
                order_seq += 1;
                order_id = format!("SO-{order_seq:07}");
                let delivered = start.as_second() + second - rng.i64(3600..86_400);
                ops.write_record([
                    order_id.as_str(),
                    c.id.as_str(),
                    "logistics",
                    &jiff::Timestamp::from_second(delivered)?.to_string(),
                    &format!("{days}"),
                    &format!("{DELIVERY_TARGET_DAYS}"),
                    ["DHL", "UPS", "own fleet"][rng.usize(..3)],
                ])?;
                base += delivery_effect(days);
                if day >= PILOT_START_DAY && in_pilot.contains(&c.id) {
                    base += PILOT_EFFECT;
                }
                delivery_speed = Some(clamp_score(
                    5.6 - 0.75 * days + 0.5 * normal(&mut rng),
                    1,
                    5,
                ));
            }
            "support" => base += -0.8 + 0.12 * month as f64,
            "billing" => base -= 0.5,
            _ => base += 0.2,
        }
        first_day[ci] = first_day[ci].min(day);
        mood_sum[ci] += base;
        mood_n[ci] += 1;
        let answered = |rng: &mut fastrand::Rng, p: f64| rng.f64() < p;
        let nps =
            answered(&mut rng, 0.96).then(|| clamp_score(base + 0.9 * normal(&mut rng), 0, 10));
        let csat = answered(&mut rng, 0.8)
            .then(|| clamp_score(1.0 + (base - 2.5) / 1.6 + 0.6 * normal(&mut rng), 1, 5));
        let ces = (matches!(department, "support" | "billing") && answered(&mut rng, 0.7))
            .then(|| clamp_score(1.0 + (base - 2.0) / 1.3 + 0.7 * normal(&mut rng), 1, 7));
        let fcr = (department == "support" && answered(&mut rng, 0.9))
            .then(|| rng.f64() < 0.55 + 0.04 * (base - 6.0));
        let comment = match nps {
            Some(s) if s <= 4 && rng.f64() < 0.5 => match department {
                "logistics" => "Delivery took far too long, and nobody told us \"when\".",
                "support" => "Had to call three times, still not fixed",
                "billing" => "Invoice was wrong again; credit note took weeks",
                _ => "Quote came late, prices changed",
            },
            Some(s) if s >= 9 && rng.f64() < 0.4 => match department {
                "logistics" => "Fast delivery, well packed",
                "support" => "Great support — sorted on the first call",
                _ => "Easy to work with, thanks!",
            },
            _ => "",
        };
        let rating = |rng: &mut fastrand::Rng, shift: f64| {
            clamp_score(3.0 + (base - 7.0) / 2.0 + shift + 0.7 * normal(rng), 1, 5).to_string()
        };
        // Product quality is rated well and only loosely tied to loyalty:
        // next to delivery speed (rated low, and the loyalty of logistics'
        // customers moves with the delivery) it is the driver to keep up,
        // and delivery speed the one to fix first.
        let product = if rng.f64() < 0.7 {
            clamp_score(3.5 + (base - 7.0) / 5.0 + 0.8 * normal(&mut rng), 1, 5).to_string()
        } else {
            String::new()
        };
        let support = if department == "support" {
            rating(&mut rng, 0.0)
        } else {
            String::new()
        };
        let billing = if department == "billing" {
            rating(&mut rng, -0.2)
        } else {
            String::new()
        };
        let submitted = jiff::Timestamp::from_second(start.as_second() + second)?;
        out.write_record([
            format!("R{:08}", i + 1),
            c.id.clone(),
            submitted.to_string(),
            survey.to_string(),
            touchpoint.to_string(),
            department.to_string(),
            SEGMENTS[c.segment].0.to_string(),
            CHANNELS[pick_weighted(&mut rng, &[0.6, 0.3, 0.1])].to_string(),
            nps.map(|v| v.to_string()).unwrap_or_default(),
            csat.map(|v| v.to_string()).unwrap_or_default(),
            ces.map(|v| v.to_string()).unwrap_or_default(),
            fcr.map(|v| if v { "yes" } else { "no" }.to_string())
                .unwrap_or_default(),
            comment.to_string(),
            order_id,
            delivery_speed.map(|v| v.to_string()).unwrap_or_default(),
            product,
            support,
            billing,
            if rng.f64() < 0.85 { "en" } else { "de" }.to_string(),
        ])?;
    }
    // Extra deliveries nobody was surveyed about: the department's full record.
    let surveyed_orders = order_seq;
    for k in 1..=surveyed_orders {
        let order = surveyed_orders + k;
        let c = &customers[rng.usize(..n_customers)];
        let day = rng.i64(0..DAYS);
        let mean_days = if (30..90).contains(&day) { 4.6 } else { 3.6 };
        let days = ((mean_days + DELIVERY_SPREAD_DAYS * normal(&mut rng)).clamp(1.0, 10.0) * 2.0)
            .round()
            / 2.0;
        ops.write_record([
            format!("SO-{order:07}"),
            c.id.clone(),
            "logistics".to_string(),
            jiff::Timestamp::from_second(start.as_second() + day * 86_400 + 43_200)?.to_string(),
            format!("{days}"),
            format!("{DELIVERY_TARGET_DAYS}"),
            ["DHL", "UPS", "own fleet"][rng.usize(..3)].to_string(),
        ])?;
    }
    ops.flush()?;
    out.flush()?;

    let mut cust = csv::Writer::from_path(&files.customers)?;
    cust.write_record([
        "customer_id",
        "segment",
        "region",
        "annual_value",
        "churned",
        "acquired_at",
        "churned_at",
        "email",
        "language",
    ])?;
    for (i, c) in customers.iter().enumerate() {
        // Unhappy customers churn more; customers never heard from churn at the base rate.
        let attitude = if mood_n[i] > 0 {
            mood_sum[i] / f64::from(mood_n[i])
        } else {
            7.6
        };
        let p_churn = (0.08 + 0.07 * (7.5 - attitude)).clamp(0.02, 0.6);
        let churned = rng.f64() < p_churn;
        // Lifecycle dates: most customers were acquired before the demo
        // year (up to six years before); some who never answered were won
        // during it. Churned customers leave on a day of the year, after
        // they were acquired.
        let start_day = start.as_second().div_euclid(86_400);
        // Most were won up to six years before the demo year; about one in
        // eight during it, before their first answer.
        let acquired = if rng.f64() < 0.125 {
            start_day + rng.i64(0..=first_day[i].min(DAYS - 1))
        } else {
            start_day - rng.i64(1..6 * 365)
        };
        let churned_on = churned
            .then(|| acquired.max(start_day) + rng.i64(0..DAYS))
            .map(|d| d.min(start_day + DAYS - 1));
        let date = |day: i64| -> Result<String> {
            Ok(jiff::Timestamp::from_second(day * 86_400)?
                .strftime("%Y-%m-%d")
                .to_string())
        };
        cust.write_record([
            c.id.as_str(),
            SEGMENTS[c.segment].0,
            c.region,
            &format!("{}", c.annual_value),
            if churned { "yes" } else { "no" },
            &date(acquired)?,
            &churned_on.map(date).transpose()?.unwrap_or_default(),
            // Contact details for the demo's survey invitations (no draw
            // from the generator: the rest of the data stays as it was).
            &format!(
                "{}@customers.demo.northstar.test",
                c.id.to_ascii_lowercase()
            ),
            if c.region == "east" { "de" } else { "en" },
        ])?;
    }
    cust.flush()?;
    std::io::stdout().flush().ok();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn satisfaction_falls_off_after_three_days() {
        assert_eq!(delivery_effect(1.0), delivery_effect(3.0));
        assert!(delivery_effect(5.0) < delivery_effect(3.0) - 1.0);
    }
}
