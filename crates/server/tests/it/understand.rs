//! Understand: trends, breakdowns, drivers, the expectation gap,
//! representativeness and revenue at risk through the real router.

use axum::http::StatusCode;
use serde_json::{Value, json};

use northstar_store::import::ImportKind;

use crate::TestApp;

/// Imports a CSV text of the given kind straight into the app's store.
pub async fn import(app: &TestApp, kind: ImportKind, text: &str) {
    northstar_store::import::import_csv(
        &*app.store,
        kind,
        std::io::Cursor::new(text.as_bytes().to_vec()),
        &mut (),
    )
    .await
    .map_err(|f| f.error)
    .unwrap();
}

/// Posts responses given as JSON items.
pub async fn post(app: &TestApp, items: Vec<Value>) {
    let (status, body) = app
        .json("POST", "/api/v1/responses", Some(Value::Array(items)))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[tokio::test]
async fn trends_show_control_limits_from_the_pooled_answers() {
    let app = TestApp::new().await;
    // Weeks of 2025-W02..W07, 40 answers each; week 6 collapses.
    let jan_1 = northstar_core::calendar::parse_day("2025-01-01").unwrap();
    let mut items = Vec::new();
    for week in 0..6 {
        for k in 0..40 {
            let day = 6 + week * 7 + (k % 7) as i32; // 2025-01-06 is a Monday
            let bad = week == 4;
            let nps = if bad {
                [2, 3, 9, 5][k % 4]
            } else {
                [10, 9, 8, 3][k % 4]
            };
            items.push(json!({
                "external_id": format!("w{week}-{k}"),
                "submitted_at": format!("{}T10:00:00Z", northstar_core::calendar::day_label(jan_1 + day - 1)),
                "department": if k % 2 == 0 { "logistics" } else { "support" },
                "nps": nps,
                "fcr": k % 3 != 0,
            }));
        }
    }
    post(&app, items).await;

    let (status, t) = app
        .json(
            "GET",
            "/api/v1/trends?metric=nps&interval=week&from=2025-01-01&to=2025-02-28",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{t}");
    let periods = t["periods"].as_array().unwrap();
    let labels: Vec<&str> = periods
        .iter()
        .map(|p| p["period"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        [
            "2025-W02", "2025-W03", "2025-W04", "2025-W05", "2025-W06", "2025-W07"
        ]
    );
    // Pooled: 5 good weeks (20 promoters, 10 detractors of 40) + 1 bad (10, 30).
    let (p, d): (f64, f64) = (110.0 / 240.0, 80.0 / 240.0);
    let centre = 100.0 * (p - d);
    let sigma = 100.0 * (p + d - (p - d) * (p - d)).sqrt();
    assert!(close(t["centre"].as_f64().unwrap(), centre), "{t}");
    for period in periods {
        assert_eq!(period["n"], 40);
        assert!(close(
            period["ucl"].as_f64().unwrap(),
            centre + 3.0 * sigma / 40f64.sqrt()
        ));
        assert!(close(
            period["lcl"].as_f64().unwrap(),
            centre - 3.0 * sigma / 40f64.sqrt()
        ));
    }
    assert_eq!(periods[4]["signal"], "below", "{t}");
    assert_eq!(periods[0]["signal"], "none");
    assert!(periods[0]["change"].is_null());
    assert!(periods[4]["change"]["p_value"].as_f64().unwrap() < 0.001);
    assert_eq!(t["signals"], 1);
    assert_eq!(t["n"], 240);
    assert!(t["method"].as_str().unwrap().contains("Montgomery"));
    assert_eq!(t["from"], "2024-12-30");
    assert_eq!(t["to"], "2025-03-02");

    // Days and months; the default range ends on the last day with data.
    let (_, by_day) = app
        .json("GET", "/api/v1/trends?metric=fcr&interval=day", None)
        .await;
    let days = by_day["periods"].as_array().unwrap();
    assert_eq!(days.last().unwrap()["period"], "2025-02-16", "{by_day}");
    assert_eq!(by_day["n"], 240);
    let (_, by_month) = app.json("GET", "/api/v1/trends?metric=nps", None).await;
    let months: Vec<&str> = by_month["periods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["period"].as_str().unwrap())
        .collect();
    assert_eq!(months, ["2025-01", "2025-02"]);
    assert_eq!(by_month["interval"], "month");

    // A range of more than 400 periods shows the last 400 and says so.
    let (status, long) = app
        .json(
            "GET",
            "/api/v1/trends?metric=nps&interval=day&from=2020-01-01&to=2025-02-16",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{long}");
    assert_eq!(long["from"], "2024-01-14", "{long}");
    assert!(long["note"].as_str().unwrap().contains("400"));
    assert_eq!(long["n"], 240);

    // A filter narrows it; bad parameters name themselves.
    let (_, logistics) = app
        .json(
            "GET",
            "/api/v1/trends?metric=nps&interval=month&department=logistics",
            None,
        )
        .await;
    assert_eq!(logistics["n"], 120);
    assert_eq!(logistics["filter"]["department"][0], "logistics");
    for (query, parameter) in [
        ("metric=nps&interval=hour", "interval"),
        ("metric=nps&interval=day&interval=week", "interval"),
        ("interval=day", "metric"),
    ] {
        let (status, body) = app
            .json("GET", &format!("/api/v1/trends?{query}"), None)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["error"]["parameter"], parameter, "{query}: {body}");
    }
}

/// Holm's adjustment, written out for the check.
fn holm(p: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|a, b| p[*a].total_cmp(&p[*b]));
    let mut out = vec![0.0; p.len()];
    let mut running: f64 = 0.0;
    for (rank, i) in order.into_iter().enumerate() {
        running = running.max(((p.len() - rank) as f64 * p[i]).min(1.0));
        out[i] = running;
    }
    out
}

#[tokio::test]
async fn breakdowns_flag_groups_after_holm_by_dimensions_and_attributes() {
    let app = TestApp::new().await;
    let mut items = Vec::new();
    // Twenty stages: one planted low ("returns"), the rest alike.
    for stage in 0..20 {
        for k in 0..60 {
            let low = stage == 7;
            let nps = if low {
                [2, 4, 9, 6][k % 4]
            } else {
                [10, 9, 8, 5][k % 4]
            };
            items.push(json!({
                "external_id": format!("s{stage}-{k}"),
                "submitted_at": "2025-03-03T10:00:00Z",
                "department": format!("d{}", stage % 4),
                "customer_id": format!("C{}", k % 3),
                "nps": nps,
                "journey_stage": if low { "returns".to_string() } else { format!("stage{stage:02}") },
            }));
        }
    }
    for chunk in items.chunks(500) {
        post(&app, chunk.to_vec()).await;
    }
    let (status, b) = app
        .json("GET", "/api/v1/breakdown?metric=nps&by=journey_stage", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(b["by"], "attribute.journey_stage");
    assert_eq!(b["by_kind"], "response attribute");
    let groups = b["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 20);
    let flagged: Vec<&str> = groups
        .iter()
        .filter(|g| g["significant"] == true)
        .map(|g| g["key"].as_str().unwrap())
        .collect();
    assert_eq!(flagged, ["returns"], "{b}");
    let p: Vec<f64> = groups
        .iter()
        .map(|g| g["p_value"].as_f64().unwrap())
        .collect();
    for (g, want) in groups.iter().zip(holm(&p)) {
        assert!(close(g["p_adjusted"].as_f64().unwrap(), want), "{g}");
        assert_eq!(g["n"], 60);
    }
    assert!(b["correction"].as_str().unwrap().starts_with("Holm"));
    assert_eq!(b["overall"]["n"], 1200);

    // The same through a dimension: the planted stage sits in d3.
    let (_, d) = app
        .json("GET", "/api/v1/breakdown?metric=nps&by=department", None)
        .await;
    assert_eq!(d["by_kind"], "dimension");
    assert_eq!(d["groups"].as_array().unwrap().len(), 4);

    // A filter narrows the attribute breakdown too.
    let (_, narrowed) = app
        .json(
            "GET",
            "/api/v1/breakdown?metric=nps&by=attribute.journey_stage&department=d3",
            None,
        )
        .await;
    assert_eq!(narrowed["overall"]["n"], 300, "{narrowed}");
    assert_eq!(narrowed["groups"].as_array().unwrap().len(), 5);

    for (query, parameter) in [
        ("metric=nps", "by"),
        ("metric=nps&by=attribute.", "by"),
        ("metric=nps&by=department&by=segment", "by"),
        (&*format!("metric=nps&by={}", "x".repeat(80)), "by"),
    ] {
        let (status, body) = app
            .json("GET", &format!("/api/v1/breakdown?{query}"), None)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["error"]["parameter"], parameter, "{query}: {body}");
    }
}

#[tokio::test]
async fn the_expectation_gap_finds_customers_souring_before_the_target() {
    let app = TestApp::new().await;
    // Deliveries of 1–6 days against a 5-day target; 20 per day; the
    // satisfied count per day falls after day 3 (already monotone, so the
    // isotonic fit is the observed share).
    let satisfied_per_day = [19, 18, 17, 10, 8, 4];
    let mut operations = String::from("order_id,department,delivery_days,target_days\n");
    let mut items = Vec::new();
    for (i, &satisfied) in satisfied_per_day.iter().enumerate() {
        let days = i + 1;
        for k in 0..20 {
            let order = format!("O{days}-{k}");
            operations.push_str(&format!("{order},logistics,{days},5\n"));
            items.push(json!({
                "external_id": format!("r-{order}"),
                "submitted_at": "2025-04-02T10:00:00Z",
                "order_id": order,
                "department": "support",
                "csat": if k < satisfied { 5 } else { 2 },
            }));
        }
    }
    import(&app, ImportKind::Operations, &operations).await;
    post(&app, items).await;

    let (status, g) = app
        .json(
            "GET",
            "/api/v1/expectation-gap?measure=delivery_days&department=logistics",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{g}");
    assert_eq!(g["threshold"], 4.0, "{g}");
    assert_eq!(g["target"], 5.0);
    assert_eq!(g["n"], 120);
    assert_eq!(g["verdict"], "customers_stricter_than_target");
    // Met the 5-day target: days 1–5, 100 records, 28 dissatisfied.
    let dissatisfied_met = (1 + 2 + 3 + 10 + 12) as f64;
    assert!(close(
        g["met_target_but_dissatisfied_share"].as_f64().unwrap(),
        dissatisfied_met / 120.0
    ));
    assert!(close(
        g["dissatisfied_share_among_met"].as_f64().unwrap(),
        dissatisfied_met / 100.0
    ));
    let curve = g["curve"].as_array().unwrap();
    assert_eq!(curve.len(), 6);
    for (point, &satisfied) in curve.iter().zip(&satisfied_per_day) {
        assert_eq!(point["n"], 20);
        assert!(close(
            point["satisfied_share"].as_f64().unwrap(),
            satisfied as f64 / 20.0
        ));
    }
    assert!(g["summary"].as_str().unwrap().contains("4"), "{g}");

    // A lower level moves the threshold; a stricter asked target agrees.
    let (_, lower) = app
        .json(
            "GET",
            "/api/v1/expectation-gap?measure=delivery_days&department=logistics&level=0.45",
            None,
        )
        .await;
    assert_eq!(lower["threshold"], 5.0);
    let (_, strict) = app
        .json(
            "GET",
            "/api/v1/expectation-gap?measure=delivery_days&department=logistics&target=3",
            None,
        )
        .await;
    assert_eq!(strict["verdict"], "target_at_least_as_strict", "{strict}");
    assert_eq!(strict["target_source"], "as asked (target parameter)");

    let long_measure = format!("measure={}&department=logistics", "m".repeat(65));
    let long_department = format!("measure=delivery_days&department={}", "d".repeat(101));
    for (query, parameter) in [
        (long_measure.as_str(), "measure"),
        (long_department.as_str(), "department"),
        (
            "measure=delivery_days&department=logistics&department=billing",
            "department",
        ),
        ("department=logistics", "measure"),
        ("measure=delivery_days", "department"),
        (
            "measure=delivery_days&department=logistics&level=1",
            "level",
        ),
        (
            "measure=delivery_days&department=logistics&level=abc",
            "level",
        ),
        (
            "measure=delivery_days&department=logistics&target=NaN",
            "target",
        ),
        (
            "measure=delivery_days&department=logistics&direction=up",
            "direction",
        ),
    ] {
        let (status, body) = app
            .json("GET", &format!("/api/v1/expectation-gap?{query}"), None)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["error"]["parameter"], parameter, "{query}: {body}");
    }
}

#[tokio::test]
async fn revenue_at_risk_states_its_formula_and_inputs() {
    let app = TestApp::new().await;
    // 40 promoters (4 churned), 40 detractors (12 churned), 20 passives
    // (4 churned); every customer worth 1,000 a year; detractors in
    // logistics, the rest in support.
    let mut customers = String::from("customer_id,segment,annual_value,churned\n");
    let mut items = Vec::new();
    for i in 0..100 {
        let (nps, churned, department) = match i {
            0..40 => (10, i < 4, "support"),
            40..80 => (2, i < 52, "logistics"),
            _ => (7, i < 84, "support"),
        };
        customers.push_str(&format!(
            "C{i},smb,1000,{}\n",
            if churned { "yes" } else { "no" }
        ));
        items.push(json!({
            "external_id": format!("r{i}"),
            "submitted_at": "2025-05-01T10:00:00Z",
            "customer_id": format!("C{i}"),
            "department": department,
            "nps": nps,
        }));
    }
    import(&app, ImportKind::Customers, &customers).await;
    post(&app, items).await;

    let (status, r) = app
        .json("GET", "/api/v1/revenue-at-risk?by=department", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let total = &r["total"];
    // V_D = 40 × 1,000; c_D − c_P = 12/40 − 4/40.
    let risk = 40_000.0 * (12.0 / 40.0 - 4.0 / 40.0);
    assert!(
        close(total["revenue_at_risk"]["value"].as_f64().unwrap(), risk),
        "{total}"
    );
    assert!(
        total["revenue_at_risk"]["formula"]
            .as_str()
            .unwrap()
            .contains("max(0, c_D − c_P)")
    );
    assert!(
        !total["revenue_at_risk"]["inputs"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(total["detractor_churn"]["source"], "measured", "{total}");
    // One point: 1% of 100 customers from detractor to passive; 20
    // passive flags are too few to measure, so the passives' rate is the
    // default assumption (10%).
    assert_eq!(total["passive_churn"]["source"], "assumed");
    let point = 0.01 * 100.0 * 1000.0 * (12.0 / 40.0 - 0.10);
    assert!(
        close(
            total["value_of_one_nps_point"]["value"].as_f64().unwrap(),
            point
        ),
        "{total}"
    );
    let keys: Vec<&str> = r["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["logistics", "support"]);
    assert!(
        r["assumptions"]["source"]
            .as_str()
            .unwrap()
            .starts_with("northstar default")
    );

    // With too few flags (a filter to 10 customers), rates are assumed as asked.
    let (_, few) = app
        .json(
            "GET",
            "/api/v1/revenue-at-risk?department=support&churn_promoters=0.1&churn_passives=0.2&churn_detractors=0.3",
            None,
        )
        .await;
    assert_eq!(few["total"]["passive_churn"]["source"], "assumed", "{few}");
    assert_eq!(few["assumptions"]["source"], "request");
    for (query, parameter) in [
        ("by=channel", "by"),
        ("churn_detractors=1.5", "churn_detractors"),
    ] {
        let (status, body) = app
            .json("GET", &format!("/api/v1/revenue-at-risk?{query}"), None)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["error"]["parameter"], parameter, "{query}: {body}");
    }
}

#[tokio::test]
async fn weighted_figures_stand_beside_raw_ones_with_a_warning() {
    let app = TestApp::new().await;
    // Customers: 80 smb, 20 enterprise. Respondents: 20 smb (NPS 0: all
    // detractors), 40 enterprise (NPS 10: all promoters). Raw NPS = 100 ×
    // (40 − 20)/60; post-stratified: smb weighs (0.8)/(20/60), enterprise
    // (0.2)/(40/60).
    let mut customers = String::from("customer_id,segment,region\n");
    for i in 0..100 {
        let segment = if i < 80 { "smb" } else { "enterprise" };
        customers.push_str(&format!(
            "C{i},{segment},{}\n",
            if i % 2 == 0 { "EU" } else { "US" }
        ));
    }
    import(&app, ImportKind::Customers, &customers).await;
    let mut items = Vec::new();
    for i in (0..20).chain(80..100) {
        let answers = if i < 80 { 1 } else { 2 };
        for k in 0..answers {
            items.push(json!({
                "external_id": format!("r{i}-{k}"),
                "submitted_at": "2025-06-01T10:00:00Z",
                "customer_id": format!("C{i}"),
                "nps": if i < 80 { 0 } else { 10 },
            }));
        }
    }
    post(&app, items).await;
    let (status, r) = app
        .json("GET", "/api/v1/representativeness?by=segment", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let nps = &r["weighted"]["metrics"][0];
    assert_eq!(nps["metric"], "nps", "{nps}");
    let raw = 100.0 * (40.0 - 20.0) / 60.0;
    assert!(close(nps["raw"]["value"].as_f64().unwrap(), raw), "{nps}");
    // Respondents: 20 smb, 20 enterprise (distinct customers); answers
    // 20 smb, 40 enterprise. Weights per respondent: smb 0.8/0.5 = 1.6,
    // enterprise 0.2/0.5 = 0.4; weighted NPS = (0.4·40 − 1.6·20)/(0.4·40 + 1.6·20).
    let weighted = 100.0 * (0.4 * 40.0 - 1.6 * 20.0) / (0.4 * 40.0 + 1.6 * 20.0);
    assert!(
        close(nps["weighted"]["value"].as_f64().unwrap(), weighted),
        "{nps}"
    );
    assert_eq!(nps["differs_significantly"], true, "{nps}");
    assert!(!r["warnings"].as_array().unwrap().is_empty());
    assert_eq!(r["weighted_on"][0], "customer.segment");
    assert!(
        r["mixes"][0]["comparison"]["test"]["p_value"]
            .as_f64()
            .unwrap()
            < 0.001
    );

    // Raking on segment and region.
    let (status, both) = app
        .json("GET", "/api/v1/representativeness?by=segment,region", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{both}");
    assert_eq!(both["weighted"]["weighting"]["converged"], true, "{both}");
    assert_eq!(both["mixes"].as_array().unwrap().len(), 2);
    // A name no customer column has: every customer under "", no shift.
    let (status, unknown) = app
        .json("GET", "/api/v1/representativeness?by=journey_stage", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{unknown}");
    assert_eq!(unknown["weighted_on"][0], "customer.journey_stage");
    let long = format!("by={}", "x".repeat(301));
    for (query, parameter) in [("by=a,b,c,d,e", "by"), (long.as_str(), "by")] {
        let (status, body) = app
            .json("GET", &format!("/api/v1/representativeness?{query}"), None)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["error"]["parameter"], parameter, "{query}: {body}");
    }
}

/// Pearson correlation of two equally long samples.
fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

#[tokio::test]
async fn key_drivers_weigh_delivery_above_price() {
    let app = TestApp::new().await;
    let mut rng = fastrand::Rng::with_seed(7);
    let (mut y, mut d, mut p) = (Vec::new(), Vec::new(), Vec::new());
    let mut items = Vec::new();
    for i in 0..400 {
        let delivery = rng.u8(1..=5);
        let price = rng.u8(1..=5);
        let noise = rng.i32(-1..=1);
        let nps = (i32::from(delivery) * 2 + i32::from(price) / 3 + noise - 1).clamp(0, 10);
        y.push(f64::from(nps));
        d.push(f64::from(delivery));
        p.push(f64::from(price));
        items.push(json!({
            "external_id": format!("k{i}"),
            "submitted_at": "2025-07-01T10:00:00Z",
            "nps": nps,
            "driver_delivery": delivery,
            "driver_price": price,
        }));
    }
    // Responses that rated only one driver, and one with no driver.
    items.push(json!({"external_id": "only", "submitted_at": "2025-07-01T10:00:00Z", "nps": 5, "driver_price": 3}));
    items.push(json!({"external_id": "none", "submitted_at": "2025-07-01T10:00:00Z", "nps": 5}));
    post(&app, items).await;
    let (status, k) = app.json("GET", "/api/v1/drivers?metric=nps", None).await;
    assert_eq!(status, StatusCode::OK, "{k}");
    assert_eq!(k["n"], 400);
    assert_eq!(k["rows_left_out"], 2);
    assert_eq!(k["driver_set"], json!(["delivery", "price"]));
    // OLS R² with two predictors from the correlations.
    let (ry1, ry2, r12) = (
        correlation(&y, &d),
        correlation(&y, &p),
        correlation(&d, &p),
    );
    let r2 = (ry1 * ry1 + ry2 * ry2 - 2.0 * ry1 * ry2 * r12) / (1.0 - r12 * r12);
    assert!((k["r2"].as_f64().unwrap() - r2).abs() < 1e-9, "{k}");
    let weights = k["drivers"].as_array().unwrap();
    let sum: f64 = weights
        .iter()
        .map(|w| w["raw_weight"].as_f64().unwrap())
        .sum();
    assert!((sum - r2).abs() < 1e-9);
    assert_eq!(weights[0]["name"], "delivery");
    for w in weights {
        let raw = w["raw_weight"].as_f64().unwrap();
        assert!(w["ci_low"].as_f64().unwrap() <= raw && raw <= w["ci_high"].as_f64().unwrap());
    }
    assert!(k["method"].as_str().unwrap().contains("Johnson"));
    let (status, body) = app.json("GET", "/api/v1/drivers?metric=ces", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["parameter"], "metric");
    let (_, empty) = app
        .json("GET", "/api/v1/drivers?department=nobody", None)
        .await;
    assert_eq!(empty["n"], 0);
    assert!(empty["note"].is_string());
}

/// A department role sees its own department in every Understand answer,
/// and another department's expectation gap selects nothing.
#[tokio::test]
async fn understand_answers_keep_a_department_role_to_its_department() {
    use axum::body::Body;
    use axum::http::Request;
    use northstar_core::account::Role;
    let app = TestApp::new().await;
    import(
        &app,
        ImportKind::Operations,
        "order_id,department,delivery_days,target_days\nO1,logistics,2,5\nO2,billing,2,5\n",
    )
    .await;
    let mut items = Vec::new();
    for (i, department) in ["logistics", "billing"].iter().enumerate() {
        for k in 0..10 {
            items.push(json!({
                "external_id": format!("{department}-{k}"),
                "submitted_at": "2025-08-01T10:00:00Z",
                "department": department,
                "customer_id": format!("C{i}{k}"),
                "order_id": format!("O{}", i + 1),
                "nps": 9, "csat": 4, "driver_speed": 1 + k % 5, "driver_price": 1 + (k * 3) % 5,
                "journey_stage": "delivery",
            }));
        }
    }
    post(&app, items).await;
    let token =
        crate::token_for(&*app.store, "lead", Role::DepartmentLead, Some("logistics")).await;
    let get = |uri: String| {
        Request::get(uri)
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap()
    };
    for uri in [
        "/api/v1/trends?metric=nps",
        "/api/v1/breakdown?metric=nps&by=journey_stage",
        "/api/v1/drivers?metric=nps",
        "/api/v1/revenue-at-risk",
        "/api/v1/representativeness",
    ] {
        let (status, _, body) = app.raw(get(uri.to_string())).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        // Representativeness shows the restriction as its filter.
        let restricted =
            v["restricted_to"] == "logistics" || v["filter"]["department"] == json!(["logistics"]);
        assert!(restricted, "{uri}: {v}");
        let n = [&v["n"], &v["overall"]["n"], &v["total"]["customers"]]
            .into_iter()
            .find_map(|x| x.as_i64());
        if let Some(n) = n {
            assert_eq!(n, 10, "{uri}: {v}");
        }
    }
    // Asking for billing names billing, but selects nothing.
    let (_, _, body) = app
        .raw(get(
            "/api/v1/breakdown?metric=nps&by=department&department=billing".into(),
        ))
        .await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["overall"]["n"], 0, "{v}");
    let own = "/api/v1/expectation-gap?measure=delivery_days&department=logistics";
    let (_, _, body) = app.raw(get(own.into())).await;
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["n"],
        10,
        "{body}"
    );
    let other = "/api/v1/expectation-gap?measure=delivery_days&department=billing";
    let (status, _, body) = app.raw(get(other.into())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["n"],
        0,
        "{body}"
    );
}

/// Trends by day follow the organisation's time zone: set from the admin
/// page, a response at 23:30Z moves to the next day in Europe/Paris; an
/// unknown zone is refused by name.
#[tokio::test]
async fn trends_by_day_follow_the_organisations_time_zone() {
    let app = TestApp::new().await;
    post(
        &app,
        vec![
            json!({"external_id": "late", "submitted_at": "2025-06-14T23:30:00Z", "nps": 9}),
            json!({"external_id": "noon", "submitted_at": "2025-06-14T12:00:00Z", "nps": 3}),
        ],
    )
    .await;
    let days = |t: &serde_json::Value| -> Vec<(String, i64)> {
        t["periods"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["n"].as_i64().unwrap_or(0) > 0)
            .map(|p| {
                (
                    p["period"].as_str().unwrap().to_string(),
                    p["n"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    let uri = "/api/v1/trends?metric=nps&interval=day&from=2025-06-13&to=2025-06-16";
    let (status, t) = app.json("GET", uri, None).await;
    assert_eq!(status, StatusCode::OK, "{t}");
    assert_eq!(days(&t), [("2025-06-14".to_string(), 2)]);
    assert!(t["source"].as_str().unwrap().contains("in UTC"), "{t}");

    let (status, html) = app
        .send_form("/admin/settings", "key=time_zone&value=Europe%2FPariss")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
    assert!(
        html.contains("time_zone: unknown IANA time zone &#39;Europe/Pariss&#39;; use a name such as Europe/Paris"),
        "{html}"
    );
    let (status, html) = app
        .send_form("/admin/settings", "key=time_zone&value=Europe%2FParis")
        .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("time_zone is now Europe/Paris (audited): 1 responses moved to another day"),
        "{html}"
    );
    assert!(
        html.contains(r#"<strong id="time-zone-value">Europe/Paris</strong>, changed by "#),
        "{html}"
    );

    let (_, t) = app.json("GET", uri, None).await;
    assert_eq!(
        days(&t),
        [("2025-06-14".to_string(), 1), ("2025-06-15".to_string(), 1)]
    );
    assert!(
        t["source"].as_str().unwrap().contains("in Europe/Paris"),
        "{t}"
    );
    let (_, one_day) = app
        .json(
            "GET",
            "/api/v1/metrics?metric=nps&from=2025-06-15&to=2025-06-15",
            None,
        )
        .await;
    assert_eq!(one_day["overall"]["n"], 1, "{one_day}");
}
