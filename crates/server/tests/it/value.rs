//! Proving value over the API (issue 11): pilots pre-registered with their
//! power, assigned reproducibly, locked at the start and evaluated by
//! difference-in-differences on a fixture with a planted effect; business
//! cases with hand-checked NPV, ROI and payback, assumptions measured from
//! the data, and the finance review across versions.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use northstar_core::account::Role;
use northstar_core::assignment::{self, Group};
use northstar_core::calendar::{self, Day};
use northstar_core::customer::NewCustomer;
use serde_json::{Value, json};

use crate::{TestApp, token_for};

/// The fixture's scope: enterprise customers' answers after a delivery.
pub const SCOPE: (&str, &str) = ("enterprise", "delivery");
/// Enterprise and small-business customers in the fixture.
const ENTERPRISE: usize = 240;
const SMB: usize = 80;
/// Answers per enterprise customer, about three weeks apart.
const ANSWERS: usize = 8;

/// What the fixture planted, for the tests to compute expectations from.
pub struct Fixture {
    /// The pilot's first and last day (today − 60, today − 1).
    pub start: String,
    pub end: String,
    /// Enterprise customers' groups, as `assignment::assign` draws them
    /// stratified with the fixture's seed (what `POST …/assign` with that
    /// seed gives); the pilot group's answers after the start carry the
    /// planted effect.
    pub groups: BTreeMap<String, Group>,
    /// Enterprise customers' latest NPS answer, churn flag and annual value.
    pub latest_nps: BTreeMap<String, u8>,
    pub churned: BTreeMap<String, bool>,
    pub annual_value: BTreeMap<String, f64>,
    /// (customer, day, nps) of every enterprise answer.
    pub answers: Vec<(String, Day, u8)>,
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A reproducible uniform number in [0, 1) for (customer, answer, salt).
fn uniform(customer: usize, answer: usize, salt: u64) -> f64 {
    let h = splitmix((customer as u64) * 1_000_003 + (answer as u64) * 101 + salt * 7_919);
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// An NPS answer: detractor with probability `d`, passive with `p`, else
/// promoter.
fn nps_answer(u: f64, d: f64, p: f64) -> u8 {
    if u < d {
        if u < d / 2.0 { 3 } else { 6 }
    } else if u < d + p {
        if u < d + p / 2.0 { 7 } else { 8 }
    } else if u < d + p + (1.0 - d - p) / 2.0 {
        9
    } else {
        10
    }
}

fn loyalty(nps: u8) -> &'static str {
    match nps {
        9.. => "promoter",
        7..=8 => "passive",
        _ => "detractor",
    }
}

pub fn today() -> Day {
    calendar::day_of_unix(jiff::Timestamp::now().as_second())
}

fn enterprise_id(i: usize) -> String {
    format!("E{i:03}")
}

/// Writes customers (segment, annual value, churn flag) and about 2,000
/// answers over the last six months: enterprise customers answer eight
/// times each (before and after the start), small businesses three times;
/// the pilot group's answers after the start (today − 60) are planted 45
/// NPS points higher and 20 points of FCR higher than the rest.
pub async fn plant(app: &TestApp, seed: u64) -> Fixture {
    let today = today();
    let start = today - 60;
    let end = today - 1;
    let scope_customers: Vec<(String, String)> = (0..ENTERPRISE)
        .map(|i| (enterprise_id(i), "enterprise".to_string()))
        .collect();
    let groups: BTreeMap<String, Group> = assignment::assign(&scope_customers, 0.5, seed, true)
        .unwrap()
        .into_iter()
        .map(|(c, g, _)| (c, g))
        .collect();
    let mut responses = Vec::new();
    let mut answers = Vec::new();
    let mut latest_nps = BTreeMap::new();
    for i in 0..ENTERPRISE {
        let id = enterprise_id(i);
        let pilot = groups[&id] == Group::Pilot;
        for k in 0..ANSWERS {
            let day = today - 180 + (i as i32 * 7) % 20 + k as i32 * 22;
            let treated = pilot && day >= start;
            let (d, p) = if treated { (0.10, 0.30) } else { (0.30, 0.35) };
            let nps = nps_answer(uniform(i, k, 1), d, p);
            let fcr = uniform(i, k, 2) < if treated { 0.85 } else { 0.65 };
            answers.push((id.clone(), day, nps));
            latest_nps.insert(id.clone(), nps);
            responses.push(json!({
                "external_id": format!("v-{id}-{k}"),
                "customer_id": id,
                "submitted_at": format!("{}T12:00:00Z", calendar::day_label(day)),
                "segment": "enterprise",
                "touchpoint": "delivery",
                "department": "logistics",
                "nps": nps,
                "fcr": fcr,
            }));
        }
    }
    for i in 0..SMB {
        for k in 0..3 {
            let day = today - 170 + (i as i32 % 30) + k * 50;
            responses.push(json!({
                "external_id": format!("v-S{i:03}-{k}"),
                "customer_id": format!("S{i:03}"),
                "submitted_at": format!("{}T12:00:00Z", calendar::day_label(day)),
                "segment": "smb",
                "touchpoint": "delivery",
                "department": "logistics",
                "nps": nps_answer(uniform(10_000 + i, k as usize, 1), 0.3, 0.35),
            }));
        }
    }
    let (status, body) = app
        .json("POST", "/api/v1/responses", Some(Value::Array(responses)))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["inserted"], ENTERPRISE * ANSWERS + SMB * 3, "{body}");

    let mut churned = BTreeMap::new();
    let mut annual_value = BTreeMap::new();
    let mut customers = Vec::new();
    for i in 0..ENTERPRISE {
        let id = enterprise_id(i);
        let p = match loyalty(latest_nps[&id]) {
            "detractor" => 0.45,
            "passive" => 0.20,
            _ => 0.08,
        };
        let gone = uniform(i, 99, 3) < p;
        let value = 5_000.0 + ((i * 37) % 100) as f64 * 100.0;
        churned.insert(id.clone(), gone);
        annual_value.insert(id.clone(), value);
        customers.push(NewCustomer {
            customer_id: id,
            segment: Some("enterprise".into()),
            region: None,
            annual_value: Some(value),
            churned: Some(gone),
            churned_on: None,
            acquired_on: None,
            attributes: Default::default(),
        });
    }
    for i in 0..SMB {
        customers.push(NewCustomer {
            customer_id: format!("S{i:03}"),
            segment: Some("smb".into()),
            region: None,
            annual_value: Some(1_000.0 + i as f64 * 10.0),
            churned: Some(i % 5 == 0),
            churned_on: None,
            acquired_on: None,
            attributes: Default::default(),
        });
    }
    app.store.write_customers(customers).await.unwrap();
    // Enough churn flags in every loyalty group that churn is measured.
    for group in ["detractor", "passive", "promoter"] {
        let n = latest_nps
            .values()
            .filter(|v| loyalty(**v) == group)
            .count();
        assert!(n >= 30, "only {n} {group}s in the fixture");
    }
    Fixture {
        start: calendar::day_label(start),
        end: calendar::day_label(end),
        groups,
        latest_nps,
        churned,
        annual_value,
        answers,
    }
}

/// A plan for the fixture's scope.
pub fn plan(f: &Fixture, name: &str) -> Value {
    json!({
        "name": name,
        "hypothesis": "Proactive delivery updates raise enterprise NPS after a delivery by 10 points",
        "metric": "nps",
        "scope": {"segment": SCOPE.0, "touchpoint": SCOPE.1},
        "start": f.start,
        "end": f.end,
        "mde": 10,
        "alpha": 0.05,
        "power": 0.8
    })
}

/// Sends a request with `token`; the status and the JSON body (`Null` when
/// the body is not JSON).
pub async fn call(
    app: &TestApp,
    token: &str,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let (status, _, text) = app
        .raw(
            axum::http::Request::builder()
                .method(method)
                .uri(uri)
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", "application/json")
                .body(body.map_or(axum::body::Body::empty(), |b| {
                    axum::body::Body::from(b.to_string())
                }))
                .unwrap(),
        )
        .await;
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn message(body: &Value) -> &str {
    body["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
}

fn f64_of(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// Registers the fixture's pilot, puts the fixture's groups and starts it;
/// the pilot's id.
pub async fn started_pilot(app: &TestApp, f: &Fixture, name: &str) -> i64 {
    let (status, p) = app
        .json("POST", "/api/v1/pilots", Some(plan(f, name)))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let id = p["id"].as_i64().unwrap();
    let rows: Vec<Value> = f
        .groups
        .iter()
        .map(|(c, g)| {
            json!({"customer_id": c, "group": if *g == Group::Pilot { "pilot" } else { "control" }})
        })
        .collect();
    let (status, body) = app
        .json(
            "PUT",
            &format!("/api/v1/pilots/{id}/assignments"),
            Some(Value::Array(rows)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .json("POST", &format!("/api/v1/pilots/{id}/start"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    id
}

#[tokio::test]
async fn a_registered_pilot_reports_the_power_of_its_measured_baseline() {
    let app = TestApp::new().await;
    let f = plant(&app, 7).await;
    let (status, p) = app
        .json(
            "POST",
            "/api/v1/pilots",
            Some(plan(&f, "Proactive updates")),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    assert!(p["id"].as_i64().unwrap() > 0, "{p}");
    assert_eq!(
        p["status"],
        "not started (its first day has passed; start it to lock the groups)"
    );
    let design = &p["design"];
    assert_eq!(design["baseline_source"], "measured", "{p}");
    // The baseline is the scope's answers in the 90 days before the start.
    let start = calendar::parse_day(&f.start).unwrap();
    let window: Vec<u8> = f
        .answers
        .iter()
        .filter(|(_, d, _)| *d >= start - 90 && *d < start)
        .map(|(_, _, v)| *v)
        .collect();
    assert_eq!(design["baseline_answers"], window.len(), "{design}");
    let share = |pred: fn(u8) -> bool| {
        window.iter().filter(|v| pred(**v)).count() as f64 / window.len() as f64
    };
    let baseline = format!("{:.4},{:.4}", share(|v| v >= 9), share(|v| v <= 6));
    assert_eq!(design["baseline"], baseline, "{design}");
    // The n per group is what the power endpoint says for that baseline.
    let (status, power) = app
        .json(
            "GET",
            &format!("/api/v1/power?metric=nps&baseline={baseline}&mde=10&alpha=0.05&power=0.8"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{power}");
    assert!(p["n_per_group"].as_u64().unwrap() > 100, "{p}");
    assert_eq!(p["n_per_group"], power["n_per_group"], "{p}\n{power}");
    assert_eq!(design["n_per_group"], p["n_per_group"]);
    // 60 days planned; the expected duration from the window's volume.
    assert_eq!(design["planned_days"], 60);
    let volume = window.len() as f64 / 90.0;
    assert!((f64_of(&design["daily_volume"]) - volume).abs() < 1e-9);
    let expected = p["n_per_group"].as_f64().unwrap() / (0.5 * volume);
    assert!((f64_of(&p["expected_days"]) - expected).abs() < 1e-6, "{p}");

    // A bad plan names the field.
    let cases: [(&str, Value, &str); 4] = [
        // The day before the start.
        ("end", json!(calendar::day_label(start - 1)), "end:"),
        ("metric", json!("loyalty"), "metric: \"loyalty\""),
        ("scope", json!({"region": "north"}), "scope.region:"),
        ("mde", json!(-1), "mde: -1"),
    ];
    for (field, value, named) in cases {
        let mut bad = plan(&f, "Bad plan");
        bad[field] = value;
        let (status, body) = app.json("POST", "/api/v1/pilots", Some(bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{field}: {body}");
        let m = message(&body);
        assert!(m.contains(named), "{field}: {m}");
    }
    // Nothing was registered by the bad plans.
    let (_, list) = app.json("GET", "/api/v1/pilots", None).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
}

#[tokio::test]
async fn assignments_are_checked_and_locked_at_the_start() {
    let app = TestApp::new().await;
    let f = plant(&app, 7).await;
    let (_, p) = app
        .json("POST", "/api/v1/pilots", Some(plan(&f, "Locked pilot")))
        .await;
    let id = p["id"].as_i64().unwrap();
    let uri = format!("/api/v1/pilots/{id}/assignments");
    let (status, body) = app
        .json(
            "PUT",
            &uri,
            Some(json!([{"customer_id": "E000", "group": "pilot"},
                        {"customer_id": "E001", "group": "control"},
                        {"customer_id": "E000", "group": "control"}])),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(message(&body).contains("[2].customer_id"), "{body}");
    let (status, body) = app
        .json(
            "PUT",
            &uri,
            Some(json!([{"customer_id": "E000", "group": "pilot"},
                        {"customer_id": "E001", "group": "treatment"}])),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(message(&body).contains("[1].group"), "{body}");
    assert!(
        app.store
            .backend()
            .assignments(id)
            .await
            .unwrap()
            .is_empty(),
        "a refused list stores nothing"
    );
    // Starting needs both groups.
    let (status, body) = app
        .json("POST", &format!("/api/v1/pilots/{id}/start"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    let (status, body) = app
        .json(
            "PUT",
            &uri,
            Some(json!([{"customer_id": "E000", "group": "pilot"},
                        {"customer_id": "E001", "group": "control"},
                        {"customer_id": "E002", "group": " pilot "}])),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["pilot_customers"], 2, "{body}");
    assert_eq!(body["control_customers"], 1, "{body}");
    assert_eq!(body["assignment_method"], "as given (imported list)");
    let (status, started) = app
        .json("POST", &format!("/api/v1/pilots/{id}/start"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{started}");
    assert!(started["locked_at"].is_string(), "{started}");
    assert_eq!(started["locked_by"], "token:test-admin");
    // The pilot's last day was yesterday.
    assert_eq!(started["status"], "ended");

    // Locked: neither the groups nor the plan change.
    let (status, body) = app
        .json(
            "PUT",
            &uri,
            Some(json!([{"customer_id": "E000", "group": "control"},
                        {"customer_id": "E001", "group": "pilot"}])),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(message(&body).contains("locked"), "{body}");
    let mut changed = plan(&f, "Locked pilot");
    changed["mde"] = json!(5);
    let (status, body) = app
        .json("PUT", &format!("/api/v1/pilots/{id}"), Some(changed))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = app
        .json(
            "POST",
            &format!("/api/v1/pilots/{id}/assign"),
            Some(json!({"method": "random", "seed": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (_, after) = app.json("GET", &format!("/api/v1/pilots/{id}"), None).await;
    assert_eq!(after["plan"]["mde"], 10.0, "{after}");
    assert_eq!(after["pilot_customers"], 2, "{after}");
    let stored = app.store.backend().assignments(id).await.unwrap();
    let e000 = stored.iter().find(|a| a.customer_id == "E000").unwrap();
    assert_eq!(
        e000.group,
        northstar_store::value_records::PilotGroup::Pilot
    );
}

async fn groups_of(app: &TestApp, id: i64) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = app
        .store
        .backend()
        .assignments(id)
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.customer_id, a.group.as_str().to_string()))
        .collect();
    rows.sort();
    rows
}

#[tokio::test]
async fn a_seeded_assignment_is_reproducible() {
    let app = TestApp::new().await;
    let f = plant(&app, 7).await;
    let mut ids = Vec::new();
    for (name, seed) in [("First", 7), ("Second", 7), ("Third", 8)] {
        let (status, p) = app
            .json("POST", "/api/v1/pilots", Some(plan(&f, name)))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{p}");
        let id = p["id"].as_i64().unwrap();
        let (status, d) = app
            .json(
                "POST",
                &format!("/api/v1/pilots/{id}/assign"),
                Some(json!({"method": "stratified", "seed": seed})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{d}");
        assert_eq!(d["seed"], seed, "{d}");
        assert_eq!(d["assignment_method"], "stratified by segment", "{d}");
        assert_eq!(
            d["pilot_customers"].as_u64().unwrap() + d["control_customers"].as_u64().unwrap(),
            ENTERPRISE as u64,
            "every customer of the scope is assigned: {d}"
        );
        // One stratum: half and half.
        assert_eq!(d["pilot_customers"], ENTERPRISE / 2, "{d}");
        assert!(!d["balance"]["rows"].as_array().unwrap().is_empty(), "{d}");
        ids.push(id);
    }
    let first = groups_of(&app, ids[0]).await;
    let second = groups_of(&app, ids[1]).await;
    let third = groups_of(&app, ids[2]).await;
    assert_eq!(first.len(), ENTERPRISE);
    assert_eq!(first, second, "the same seed gives the same groups");
    assert_ne!(first, third, "another seed gives other groups");
    // And they are the core algorithm's groups for that seed.
    let want: Vec<(String, String)> = f
        .groups
        .iter()
        .map(|(c, g)| {
            (
                c.clone(),
                if *g == Group::Pilot {
                    "pilot"
                } else {
                    "control"
                }
                .to_string(),
            )
        })
        .collect();
    assert_eq!(first, want);
    let (status, body) = app
        .json(
            "POST",
            &format!("/api/v1/pilots/{}/assign", ids[0]),
            Some(json!({"method": "alternate", "seed": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(message(&body).contains("method"), "{body}");
}

/// Mean of the outcome coding (NPS +100/0/−100) of the answers.
fn nps_points(values: &[u8]) -> f64 {
    values
        .iter()
        .map(|v| match v {
            9.. => 100.0,
            7..=8 => 0.0,
            _ => -100.0,
        })
        .sum::<f64>()
        / values.len() as f64
}

#[tokio::test]
async fn the_evaluation_detects_the_planted_effect_with_a_clustered_standard_error() {
    let app = TestApp::new().await;
    let f = plant(&app, 7).await;
    let id = started_pilot(&app, &f, "Proactive updates").await;
    let (status, e) = app
        .json(
            "GET",
            &format!("/api/v1/pilots/{id}/evaluation?metric=nps"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{e}");
    let cells = &e["cells"];
    let mean = |cell: &str| f64_of(&cells[cell]["mean"]);
    let did = (mean("pilot_after") - mean("pilot_before"))
        - (mean("control_after") - mean("control_before"));
    assert!((f64_of(&e["effect"]) - did).abs() < 1e-9, "{e}");
    // The cells are the fixture's answers: before = as long as the pilot
    // (60 days) before the start, after = start to yesterday.
    let start = calendar::parse_day(&f.start).unwrap();
    let end = calendar::parse_day(&f.end).unwrap();
    for (cell, pilot, after) in [
        ("pilot_before", true, false),
        ("pilot_after", true, true),
        ("control_before", false, false),
        ("control_after", false, true),
    ] {
        let values: Vec<u8> = f
            .answers
            .iter()
            .filter(|(c, d, _)| {
                (f.groups[c] == Group::Pilot) == pilot
                    && if after {
                        *d >= start && *d <= end
                    } else {
                        // Every answer before the start (no before_days).
                        *d < start
                    }
            })
            .map(|(_, _, v)| *v)
            .collect();
        assert_eq!(cells[cell]["n"], values.len(), "{cell}: {cells}");
        assert!(
            (mean(cell) - nps_points(&values)).abs() < 1e-9,
            "{cell}: {cells}"
        );
    }
    assert_eq!(e["unit"], "NPS points");
    assert_eq!(e["se_kind"], "clustered_by_customer", "{e}");
    assert_eq!(e["customers"], ENTERPRISE, "{e}");
    let (effect, se, low, high) = (
        f64_of(&e["effect"]),
        f64_of(&e["se"]),
        f64_of(&e["ci_low"]),
        f64_of(&e["ci_high"]),
    );
    // Planted: +45 points (in expectation) for the pilot after the start.
    assert!(effect > 25.0 && effect < 65.0, "{e}");
    assert!(se > 0.0 && se < 10.0, "{e}");
    assert!(
        (high - low - 2.0 * 1.959963984540054 * se).abs() < 1e-6,
        "{e}"
    );
    assert!(low > 0.0, "the planted effect is detected: {e}");
    assert!(f64_of(&e["p_value"]) < 0.01, "{e}");
    assert!(e["method"].as_str().unwrap().len() > 10, "{e}");
    assert_eq!(e["recommendation"]["verdict"], "roll_out", "{e}");
    assert!(e["recommendation"]["more_responses"].is_null(), "{e}");
    let sentence = e["recommendation"]["sentence"].as_str().unwrap();
    assert!(sentence.contains("Roll out"), "{sentence}");
    // The fixture's groups are fixed after the first day: said so.
    assert_eq!(e["retrospective"], true, "{e}");
    assert!(sentence.starts_with("Retrospective pilot"), "{sentence}");
    // The roadmap names the segment not piloted yet.
    let roadmap = e["recommendation"]["roadmap"].as_array().unwrap();
    assert_eq!(roadmap.len(), 1, "{e}");
    assert_eq!(roadmap[0]["scope"]["segment"], "smb", "{e}");
    assert_eq!(roadmap[0]["customers"], SMB, "{e}");

    // FCR answers exist: a difference of shares.
    let (status, fcr) = app
        .json(
            "GET",
            &format!("/api/v1/pilots/{id}/evaluation?metric=fcr"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{fcr}");
    assert_eq!(fcr["metric"], "fcr");
    assert_eq!(fcr["unit"], "difference of shares");
    let fe = f64_of(&fcr["effect"]);
    assert!(fe > 0.0 && fe < 0.5, "{fcr}");
    let c = &fcr["cells"];
    let m = |cell: &str| f64_of(&c[cell]["mean"]);
    assert!(
        (fe - ((m("pilot_after") - m("pilot_before"))
            - (m("control_after") - m("control_before"))))
        .abs()
            < 1e-9
    );
    assert!(
        fcr["recommendation"]["sentence"]
            .as_str()
            .unwrap()
            .contains("(a secondary metric"),
        "{fcr}"
    );
    // An unknown metric names the parameter.
    let (status, body) = app
        .json(
            "GET",
            &format!("/api/v1/pilots/{id}/evaluation?metric=retention"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["parameter"], "metric", "{body}");
}

#[tokio::test]
async fn a_pilot_without_an_effect_needs_more_evidence() {
    let app = TestApp::new().await;
    let f = plant(&app, 7).await;
    // Two halves of the fixture's control customers: no planted effect.
    let (status, p) = app
        .json("POST", "/api/v1/pilots", Some(plan(&f, "Placebo")))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let id = p["id"].as_i64().unwrap();
    let rows: Vec<Value> = f
        .groups
        .iter()
        .filter(|(_, g)| **g == Group::Control)
        .enumerate()
        .map(|(i, (c, _))| json!({"customer_id": c, "group": if i % 2 == 0 { "pilot" } else { "control" }}))
        .collect();
    let (status, body) = app
        .json(
            "PUT",
            &format!("/api/v1/pilots/{id}/assignments"),
            Some(Value::Array(rows)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.json("POST", &format!("/api/v1/pilots/{id}/start"), None)
        .await;
    let (status, e) = app
        .json("GET", &format!("/api/v1/pilots/{id}/evaluation"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{e}");
    assert!(
        f64_of(&e["ci_low"]) <= 0.0 && f64_of(&e["ci_high"]) >= 0.0,
        "{e}"
    );
    assert_eq!(e["recommendation"]["verdict"], "not_enough_evidence", "{e}");
    assert!(
        e["recommendation"]["more_responses"].as_u64().unwrap() > 0,
        "{e}"
    );
    assert!(
        e["recommendation"]["sentence"]
            .as_str()
            .unwrap()
            .contains("includes zero"),
        "{e}"
    );
}

fn flows_case(name: &str) -> Value {
    json!({
        "name": name,
        "discount_rate": 0.10,
        "cash_flows": [
            {"year": 0, "cost": 100000, "benefit": 0},
            {"year": 1, "cost": 10000, "benefit": 50000},
            {"year": 2, "cost": 10000, "benefit": 50000},
            {"year": 3, "cost": 10000, "benefit": 60000}
        ],
        "assumptions": [
            {"key": "calls_avoided", "name": "Calls avoided a year", "value": 2400, "low": 1200, "high": 3600,
             "unit": "count", "source": {"kind": "estimate", "owner": "Head of support"}, "as_of": "2026-11-02"},
            {"key": "cost_per_call", "name": "Cost of a call", "value": 8.01, "low": 5, "high": 12,
             "unit": "currency", "source": {"kind": "benchmark", "citation": "Gartner 2019"}, "as_of": "2026-11-02"}
        ]
    })
}

#[tokio::test]
async fn a_business_case_computes_npv_roi_and_payback_as_numpy_financial_does() {
    let app = TestApp::new().await;
    let (status, c) = app
        .json("POST", "/api/v1/business-cases", Some(flows_case("Flows")))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    assert!(c["id"].as_i64().unwrap() > 0);
    // numpy_financial.npv(0.10, [-100000, 40000, 40000, 50000])
    assert!((f64_of(&c["npv"]) - 6987.227648384651).abs() < 1e-6, "{c}");
    // (PV benefits 131,855.75 − PV costs 124,868.52) ÷ PV costs
    assert!(
        (f64_of(&c["roi"]) - 0.055956678700360835).abs() < 1e-12,
        "{c}"
    );
    // Cumulative −100,000, −60,000, −20,000, +30,000: 2 + 20,000/50,000.
    assert!((f64_of(&c["payback_years"]) - 2.4).abs() < 1e-12, "{c}");
    assert!(
        (f64_of(&c["discounted_payback_years"]) - 2.814).abs() < 1e-9,
        "{c}"
    );
    assert_eq!(c["version"], 1);
    assert_eq!(c["status"], "awaiting_review");
    let years = c["figures"]["years"].as_array().unwrap();
    assert_eq!(years.len(), 4);
    assert!((f64_of(&years[3]["discounted"]) - 50000.0 / 1.331).abs() < 1e-9);

    // Lines: scale × Π factors in each year they run; the effect's
    // break-even solves NPV = 0.
    let mut with_line = flows_case("With a line");
    with_line["lines"] = json!([{"name": "Calls avoided", "kind": "benefit",
        "factors": ["calls_avoided", "cost_per_call"], "scale": 0.5, "from_year": 2}]);
    with_line["effect"] = json!("calls_avoided");
    let (status, l) = app
        .json("POST", "/api/v1/business-cases", Some(with_line))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{l}");
    let line = 0.5 * 2400.0 * 8.01;
    let want = 6987.227648384651 + line / 1.21 + line / 1.331;
    assert!((f64_of(&l["npv"]) - want).abs() < 1e-6, "{l}");
    let years = l["figures"]["years"].as_array().unwrap();
    assert_eq!(years[1]["benefit"], 50000.0);
    assert!((f64_of(&years[2]["benefit"]) - (50000.0 + line)).abs() < 1e-9);
    // Low scenario: calls at 1,200 and cost at 5; tornado widest first.
    let low = 6987.227648384651 + 0.5 * 1200.0 * 5.0 * (1.0 / 1.21 + 1.0 / 1.331);
    assert!(
        (f64_of(&l["figures"]["low"]["npv"]) - low).abs() < 1e-6,
        "{l}"
    );
    let tornado = l["figures"]["tornado"].as_array().unwrap();
    assert_eq!(tornado[0]["key"], "calls_avoided", "{l}");
    // NPV is positive without the line: break-even below zero.
    let be = f64_of(&l["break_even"]["value"]);
    let per_call = 0.5 * 8.01 * (1.0 / 1.21 + 1.0 / 1.331);
    assert!((be - (-6987.227648384651 / per_call)).abs() < 1e-6, "{l}");

    // No cost today, a cost next year: not paid back at once.
    let (status, later) = app
        .json(
            "POST",
            "/api/v1/business-cases",
            Some(json!({"name": "Later", "discount_rate": 0.0,
                "cash_flows": [{"year": 1, "cost": 1000}, {"year": 2, "benefit": 1500}]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{later}");
    // Cumulative 0, −1,000, +500: 1 + 1,000/1,500.
    assert!(
        (f64_of(&later["payback_years"]) - (1.0 + 1000.0 / 1500.0)).abs() < 1e-12,
        "{later}"
    );
    assert!((f64_of(&later["npv"]) - 500.0).abs() < 1e-9, "{later}");

    // Bad inputs name their field.
    let mut bad = flows_case("Bad");
    bad["assumptions"][0]["low"] = json!(3000);
    let (status, body) = app.json("POST", "/api/v1/business-cases", Some(bad)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(message(&body).contains("assumptions[0].low"), "{body}");
    let mut bad = flows_case("Bad");
    bad["cash_flows"][1]["year"] = json!(0);
    let (status, body) = app.json("POST", "/api/v1/business-cases", Some(bad)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(message(&body).contains("cash_flows[1].year"), "{body}");
    let mut bad = flows_case("Bad");
    bad["assumptions"][1]["source"] = json!({"kind": "measured", "figure": "happiness"});
    let (status, body) = app.json("POST", "/api/v1/business-cases", Some(bad)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let m = message(&body);
    assert!(
        m.contains("assumptions[1].source.figure") && m.contains("happiness"),
        "{m}"
    );
    let mut bad = flows_case("Bad");
    bad["assumptions"][1]["source"] =
        json!({"kind": "measured", "figure": "customers", "scope": {"region": "north"}});
    let (status, body) = app.json("POST", "/api/v1/business-cases", Some(bad)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        message(&body).contains("assumptions[1].source.scope.region:"),
        "{body}"
    );
    let mut bad = flows_case("Bad");
    bad["discount_rate"] = json!(8);
    let (status, body) = app.json("POST", "/api/v1/business-cases", Some(bad)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(message(&body).contains("discount_rate"), "{body}");
    let (_, list) = app.json("GET", "/api/v1/business-cases", None).await;
    assert_eq!(list.as_array().unwrap().len(), 3, "{list}");
}

#[tokio::test]
async fn measured_assumptions_are_read_from_the_data() {
    let app = TestApp::new().await;
    let f = plant(&app, 7).await;
    let pilot = started_pilot(&app, &f, "Proactive updates").await;
    let enterprise = json!({"segment": "enterprise"});
    let case = json!({
        "name": "Measured",
        "pilot_id": pilot,
        "discount_rate": 0.08,
        "cash_flows": [{"year": 0, "cost": 180000}, {"year": 1, "cost": 45000},
                       {"year": 2, "cost": 45000}, {"year": 3, "cost": 45000}],
        "assumptions": [
            {"key": "nps_effect", "name": "NPS effect", "unit": "points",
             "source": {"kind": "measured", "figure": "pilot_effect", "pilot_id": pilot}},
            {"key": "customers", "name": "Enterprise customers", "unit": "count",
             "source": {"kind": "measured", "figure": "customers", "scope": enterprise}},
            {"key": "churn_gap", "name": "Churn gap", "unit": "share",
             "source": {"kind": "measured", "figure": "churn_gap_detractor_promoter", "scope": enterprise}},
            {"key": "annual_value", "name": "Annual value of a detractor", "unit": "currency",
             "source": {"kind": "measured", "figure": "annual_value_detractors", "scope": enterprise}}
        ],
        "lines": [{"name": "Retention", "kind": "benefit",
                   "factors": ["nps_effect", "customers", "churn_gap", "annual_value"], "scale": 0.01}],
        "effect": "nps_effect"
    });
    let (status, c) = app.json("POST", "/api/v1/business-cases", Some(case)).await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    let value = |key: &str| {
        let a = c["assumptions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key"] == key)
            .unwrap_or_else(|| panic!("{key} in {c}"));
        (
            f64_of(&a["value"]),
            f64_of(&a["low"]),
            f64_of(&a["high"]),
            a.clone(),
        )
    };
    // The pilot's effect and its interval.
    let (_, e) = app
        .json("GET", &format!("/api/v1/pilots/{pilot}/evaluation"), None)
        .await;
    let (effect, low, high, a) = value("nps_effect");
    assert!((effect - f64_of(&e["effect"])).abs() < 1e-9, "{a}");
    assert!((low - f64_of(&e["ci_low"])).abs() < 1e-9, "{a}");
    assert!((high - f64_of(&e["ci_high"])).abs() < 1e-9, "{a}");
    assert_eq!(
        a["source"]["link"],
        format!("/api/v1/pilots/{pilot}/evaluation")
    );
    // The provenance quotes the evaluation (a tiny p as p < 0.001).
    let provenance = a["source"]["provenance"].as_str().unwrap();
    let n = e["cells"]
        .as_object()
        .unwrap()
        .values()
        .map(|c| c["n"].as_u64().unwrap())
        .sum::<u64>();
    assert!(
        provenance.contains(&format!("n = {n} answers")),
        "{provenance}"
    );
    assert!(f64_of(&e["p_value"]) < 0.001, "{e}");
    assert!(provenance.contains("p < 0.001"), "{provenance}");
    // Customers in the customers file with the segment.
    let (customers, _, _, _) = value("customers");
    assert_eq!(customers, ENTERPRISE as f64);
    // Churn of detractors minus promoters, by each customer's latest answer.
    let rate = |group: &str| {
        let ids: Vec<&String> = f
            .latest_nps
            .iter()
            .filter(|(_, v)| loyalty(**v) == group)
            .map(|(c, _)| c)
            .collect();
        ids.iter().filter(|c| f.churned[**c]).count() as f64 / ids.len() as f64
    };
    let (gap, gap_low, gap_high, a) = value("churn_gap");
    assert!(
        (gap - (rate("detractor") - rate("promoter"))).abs() < 1e-12,
        "{a}"
    );
    assert!(gap > 0.1, "planted: 45% against 8%: {a}");
    assert!(gap_low < gap && gap < gap_high, "{a}");
    assert!(
        a["source"]["provenance"]
            .as_str()
            .unwrap()
            .contains("Newcombe"),
        "{a}"
    );
    // Mean annual value of detractors.
    let detractors: Vec<f64> = f
        .latest_nps
        .iter()
        .filter(|(_, v)| loyalty(**v) == "detractor")
        .map(|(c, _)| f.annual_value[c])
        .collect();
    let (value_d, _, _, _) = value("annual_value");
    let mean = detractors.iter().sum::<f64>() / detractors.len() as f64;
    assert!((value_d - mean).abs() < 1e-6, "{value_d} vs {mean}");
    // The line multiplies the measured values.
    let line = 0.01 * effect * customers * gap * value_d;
    let year1 = f64_of(&c["figures"]["years"][1]["benefit"]);
    assert!((year1 - line).abs() < 1e-6 * line.abs().max(1.0), "{c}");
    // The pilot's recommendation puts the measured effect into the case.
    let (_, e) = app
        .json("GET", &format!("/api/v1/pilots/{pilot}/evaluation"), None)
        .await;
    let b = &e["recommendation"]["business_case"];
    assert_eq!(b["business_case_id"], c["id"], "{e}");
    assert!((f64_of(&b["npv"]) - f64_of(&c["npv"])).abs() < 1e-6, "{b}");
    // A measured figure needs its inputs.
    let (status, body) = app
        .json(
            "POST",
            "/api/v1/business-cases",
            Some(json!({"name": "No pilot", "cash_flows": [{"year": 0, "cost": 1}],
                "assumptions": [{"key": "e", "name": "e", "source": {"kind": "measured", "figure": "pilot_effect"}}]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        message(&body).contains("assumptions[0].source.pilot_id"),
        "{body}"
    );
}

fn review(assumption: &str, verdict: &str, comment: &str) -> Value {
    json!({"assumption": assumption, "verdict": verdict, "comment": comment})
}

#[tokio::test]
async fn finance_reviews_versions_and_approves_once_every_assumption_is_accepted() {
    let app = TestApp::new().await;
    let cx = token_for(&*app.store, "cx", Role::CxLead, None).await;
    let finance = token_for(&*app.store, "fin", Role::Finance, None).await;
    let viewer = token_for(&*app.store, "view", Role::Viewer, None).await;
    // Finance may not create cases, nor the CX lead review them.
    let (status, _) = call(
        &app,
        &finance,
        "POST",
        "/api/v1/business-cases",
        Some(flows_case("Case")),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, c) = call(
        &app,
        &cx,
        "POST",
        "/api/v1/business-cases",
        Some(flows_case("Case")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    let id = c["id"].as_i64().unwrap();
    let v1 = format!("/api/v1/business-cases/{id}/versions/1");
    let (status, _) = call(
        &app,
        &cx,
        "POST",
        &format!("{v1}/reviews"),
        Some(review("calls_avoided", "accepted", "")),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(
        &app,
        &cx,
        "POST",
        &format!("{v1}/decision"),
        Some(json!({"decision": "approve"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A challenge needs a comment; an unknown assumption is named.
    let (status, body) = call(
        &app,
        &finance,
        "POST",
        &format!("{v1}/reviews"),
        Some(review("calls_avoided", "challenged", " ")),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(message(&body).contains("comment"), "{body}");
    let (status, body) = call(
        &app,
        &finance,
        "POST",
        &format!("{v1}/reviews"),
        Some(review("nothing", "accepted", "")),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(message(&body).contains("assumption"), "{body}");
    let (status, r) = call(
        &app,
        &finance,
        "POST",
        &format!("{v1}/reviews"),
        Some(review(
            "calls_avoided",
            "challenged",
            "Show the call logs behind 2,400",
        )),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let (status, r) = call(
        &app,
        &finance,
        "POST",
        &format!("{v1}/reviews"),
        Some(review("cost_per_call", "accepted", "")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["open_assumptions"], json!(["calls_avoided"]), "{r}");
    // Approval refused, naming the challenged assumption.
    let (status, body) = call(
        &app,
        &finance,
        "POST",
        &format!("{v1}/decision"),
        Some(json!({"decision": "approve"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        message(&body).contains("challenged: calls_avoided"),
        "{body}"
    );
    let (status, r) = call(
        &app,
        &finance,
        "POST",
        &format!("{v1}/decision"),
        Some(json!({"decision": "return", "comment": "See the challenge"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["status"], "returned", "{r}");
    assert!(
        r["finance_review"].as_str().unwrap().contains("token:fin"),
        "{r}"
    );

    // The CX lead revises the challenged assumption: version 2.
    let mut revised = flows_case("Case");
    revised["assumptions"][0]["value"] = json!(1800);
    let (status, v2) = call(
        &app,
        &cx,
        "PUT",
        &format!("/api/v1/business-cases/{id}"),
        Some(revised.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v2}");
    assert_eq!(v2["version"], 2, "{v2}");
    assert_eq!(v2["status"], "awaiting_review", "{v2}");
    let by_key = |view: &Value, key: &str| {
        view["assumptions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key"] == key)
            .unwrap()
            .clone()
    };
    let carried = by_key(&v2, "cost_per_call");
    assert_eq!(carried["review"]["verdict"], "accepted", "{v2}");
    assert_eq!(carried["review"]["carried_from"], 1, "{v2}");
    assert_eq!(carried["review"]["reviewer"], "token:fin", "{v2}");
    assert!(by_key(&v2, "calls_avoided")["review"].is_null(), "{v2}");
    assert_eq!(v2["open_assumptions"], json!(["calls_avoided"]), "{v2}");
    // The same inputs again make no new version.
    let (_, same) = call(
        &app,
        &cx,
        "PUT",
        &format!("/api/v1/business-cases/{id}"),
        Some(revised),
    )
    .await;
    assert_eq!(same["version"], 2, "{same}");

    // Version 1 is decided and no longer the latest.
    let (status, body) = call(
        &app,
        &finance,
        "POST",
        &format!("{v1}/reviews"),
        Some(review("calls_avoided", "accepted", "")),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let v2u = format!("/api/v1/business-cases/{id}/versions/2");
    let (status, r) = call(
        &app,
        &finance,
        "POST",
        &format!("{v2u}/reviews"),
        Some(review("calls_avoided", "accepted", "Call logs seen")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["open_assumptions"], json!([]), "{r}");
    let (status, r) = call(
        &app,
        &finance,
        "POST",
        &format!("{v2u}/decision"),
        Some(json!({"decision": "approve", "comment": "ok"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["status"], "approved", "{r}");
    let line = r["finance_review"].as_str().unwrap();
    assert!(line.starts_with("approved by finance (token:fin"), "{line}");

    // Version 1 stays returned and readable; a viewer reads the case.
    let (status, old) = call(&app, &viewer, "GET", &v1, None).await;
    assert_eq!(status, StatusCode::OK, "{old}");
    assert_eq!(old["status"], "returned");
    assert_eq!(old["latest_version"], 2);
    assert_eq!(by_key(&old, "calls_avoided")["value"], 2400.0);
    assert_eq!(
        by_key(&old, "calls_avoided")["review"]["verdict"],
        "challenged"
    );
    let (status, latest) = call(
        &app,
        &viewer,
        "GET",
        &format!("/api/v1/business-cases/{id}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{latest}");
    assert_eq!(latest["version"], 2);
    assert_eq!(latest["status"], "approved");
    let versions = latest["versions"].as_array().unwrap();
    assert_eq!(versions[0]["status"], "returned");
    assert_eq!(versions[1]["decided_by"], "token:fin");
    let (status, _) = call(
        &app,
        &viewer,
        "PUT",
        &format!("/api/v1/business-cases/{id}"),
        Some(flows_case("Case")),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The approved version is frozen: reviews refused, a change is version 3.
    let (status, _) = call(
        &app,
        &finance,
        "POST",
        &format!("{v2u}/reviews"),
        Some(review("calls_avoided", "challenged", "second thoughts")),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let mut third = flows_case("Case");
    third["assumptions"][0]["value"] = json!(1800);
    third["assumptions"][1]["value"] = json!(9);
    third["assumptions"][1]["high"] = json!(12);
    let (status, v3) = call(
        &app,
        &cx,
        "PUT",
        &format!("/api/v1/business-cases/{id}"),
        Some(third),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v3}");
    assert_eq!(v3["version"], 3);
    assert_eq!(v3["status"], "awaiting_review");
    assert_eq!(
        by_key(&v3, "calls_avoided")["review"]["carried_from"],
        2,
        "{v3}"
    );
    assert!(by_key(&v3, "cost_per_call")["review"].is_null(), "{v3}");
    let (_, v2_again) = call(&app, &viewer, "GET", &v2u, None).await;
    assert_eq!(v2_again["status"], "approved");
    assert_eq!(by_key(&v2_again, "cost_per_call")["value"], 8.01);
}

#[tokio::test]
async fn business_case_bodies_are_bounded() {
    let app = TestApp::new().await;
    let mut huge = flows_case("Huge");
    huge["initiative"] = json!("x".repeat(70 << 10));
    let (status, body) = app
        .post_bytes("/api/v1/business-cases", huge.to_string().into_bytes())
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(message(&body).contains("64 KiB"), "{body}");
    let many: Vec<Value> = (0..51)
        .map(|i| {
            json!({"key": format!("a{i}"), "name": "n", "value": 1,
                   "source": {"kind": "estimate", "owner": "me"}})
        })
        .collect();
    let mut case = flows_case("Many");
    case["assumptions"] = Value::Array(many);
    let (status, body) = app.json("POST", "/api/v1/business-cases", Some(case)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let m = message(&body);
    assert!(m.contains("assumptions") && m.contains("50"), "{m}");
    // 50 is fine.
    let fifty: Vec<Value> = (0..50)
        .map(|i| {
            json!({"key": format!("a{i}"), "name": "n", "value": 1,
                   "source": {"kind": "estimate", "owner": "me"}})
        })
        .collect();
    let mut case = flows_case("Fifty");
    case["assumptions"] = Value::Array(fifty);
    let (status, body) = app.json("POST", "/api/v1/business-cases", Some(case)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["assumptions"].as_array().unwrap().len(), 50);
}

#[tokio::test]
async fn a_pilot_locked_before_its_first_day_is_not_running_yet() {
    let app = TestApp::new().await;
    let f = plant(&app, 7).await;
    let mut future = plan(&f, "Next month");
    future["start"] = json!(calendar::day_label(today() + 10));
    future["end"] = json!(calendar::day_label(today() + 40));
    let (status, p) = app.json("POST", "/api/v1/pilots", Some(future)).await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    assert_eq!(p["status"], "planned", "{p}");
    let id = p["id"].as_i64().unwrap();
    let (status, d) = app
        .json(
            "POST",
            &format!("/api/v1/pilots/{id}/assign"),
            Some(json!({"method": "random", "seed": 3})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{d}");
    assert_eq!(d["assignment_method"], "random");
    let (status, started) = app
        .json("POST", &format!("/api/v1/pilots/{id}/start"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{started}");
    assert_eq!(
        started["status"], "locked (starts on its first day)",
        "{started}"
    );
    // Nothing after the start to evaluate yet.
    let (status, body) = app
        .json("GET", &format!("/api/v1/pilots/{id}/evaluation"), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(message(&body).contains("nothing after the start"), "{body}");
}

/// A department-scoped role summarises its own department's responses
/// only: pilots scoped elsewhere are not there for it.
#[tokio::test]
async fn a_department_role_sees_only_its_department_s_pilots() {
    let app = TestApp::new().await;
    let f = plant(&app, 7).await;
    let everyone = started_pilot(&app, &f, "Proactive updates").await;
    let mut scoped = plan(&f, "Logistics only");
    scoped["scope"]["department"] = json!("logistics");
    let (status, p) = app.json("POST", "/api/v1/pilots", Some(scoped)).await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let own = p["id"].as_i64().unwrap();
    let support = token_for(
        &*app.store,
        "support",
        Role::DepartmentLead,
        Some("support"),
    )
    .await;
    let logistics = token_for(
        &*app.store,
        "logistics",
        Role::DepartmentLead,
        Some("logistics"),
    )
    .await;
    for uri in [
        format!("/api/v1/pilots/{everyone}"),
        format!("/api/v1/pilots/{everyone}/evaluation"),
        format!("/pilots/{everyone}"),
        format!("/api/v1/pilots/{own}"),
    ] {
        let (status, _) = call(&app, &support, "GET", &uri, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
    }
    let (status, list) = call(&app, &support, "GET", "/api/v1/pilots", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list, json!([]));
    // The logistics lead sees the logistics pilot, not the organisation's.
    let (status, list) = call(&app, &logistics, "GET", "/api/v1/pilots", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["id"], own);
    let (status, _) = call(
        &app,
        &logistics,
        "GET",
        &format!("/api/v1/pilots/{own}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(
        &app,
        &logistics,
        "GET",
        &format!("/api/v1/pilots/{everyone}/evaluation"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Organisation-wide roles see both.
    let viewer = token_for(&*app.store, "viewer", Role::Viewer, None).await;
    let (_, list) = call(&app, &viewer, "GET", "/api/v1/pilots", None).await;
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
}

#[tokio::test]
async fn groups_are_never_redrawn_after_the_first_day_and_evaluation_waits_for_the_lock() {
    let app = TestApp::new().await;
    let f = plant(&app, 7).await;
    let (status, p) = app
        .json("POST", "/api/v1/pilots", Some(plan(&f, "Shopping")))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let id = p["id"].as_i64().unwrap();
    // Not started: no evaluation (the groups could still change).
    let (status, body) = app
        .json("GET", &format!("/api/v1/pilots/{id}/evaluation"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(message(&body).contains("assign customers first"), "{body}");
    // The first day has passed: one draw is allowed, a second is refused
    // (seed shopping), and so is a list given afterwards.
    let draw = |seed: u64| json!({"method": "stratified", "seed": seed});
    let (status, body) = app
        .json(
            "POST",
            &format!("/api/v1/pilots/{id}/assign"),
            Some(draw(1)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["retrospective"], true, "{body}");
    let (status, body) = app
        .json(
            "POST",
            &format!("/api/v1/pilots/{id}/assign"),
            Some(draw(2)),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        message(&body).contains("cannot be drawn or given again"),
        "{body}"
    );
    let (status, body) = app
        .json(
            "PUT",
            &format!("/api/v1/pilots/{id}/assignments"),
            Some(json!([{"customer_id": "E0001", "group": "pilot"}])),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    // The same draw again changes nothing (idempotent) …
    let (status, body) = app
        .json(
            "POST",
            &format!("/api/v1/pilots/{id}/assign"),
            Some(draw(1)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // … and the first evaluation after the start locks the pilot, as the
    // keep-stable flow (register, PUT the groups, evaluate) expects.
    let (status, e) = app
        .json("GET", &format!("/api/v1/pilots/{id}/evaluation"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{e}");
    assert_eq!(e["retrospective"], true, "{e}");
    let (_, p) = app.json("GET", &format!("/api/v1/pilots/{id}"), None).await;
    assert!(
        p["locked_by"].as_str().unwrap().starts_with("system"),
        "{p}"
    );
    // A seed that cannot be recorded is refused, not dropped.
    let (status, p2) = app
        .json("POST", "/api/v1/pilots", Some(plan(&f, "Big seed")))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p2}");
    let (status, body) = app
        .json(
            "POST",
            &format!("/api/v1/pilots/{}/assign", p2["id"]),
            Some(json!({"method": "random", "seed": u64::MAX})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        message(&body).contains("seed: 18446744073709551615 is too large"),
        "{body}"
    );
}

#[tokio::test]
async fn a_future_pilot_keeps_its_groups_with_its_scope_and_looks_interim_before_its_n() {
    let app = TestApp::new().await;
    let f = plant(&app, 7).await;
    let mut future = plan(&f, "Next quarter");
    let start = today() + 10;
    future["start"] = json!(calendar::day_label(start));
    future["end"] = json!(calendar::day_label(start + 60));
    let (status, p) = app
        .json("POST", "/api/v1/pilots", Some(future.clone()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let id = p["id"].as_i64().unwrap();
    // The baseline volume counts days that passed only (the 90 ending today).
    assert_eq!(
        p["design"]["baseline_to"],
        calendar::day_label(today()),
        "{p}"
    );
    let (status, body) = app
        .json(
            "POST",
            &format!("/api/v1/pilots/{id}/assign"),
            Some(json!({"method": "random", "seed": 3})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["retrospective"], false, "{body}");
    // Before the start groups may be drawn again …
    let (status, body) = app
        .json(
            "POST",
            &format!("/api/v1/pilots/{id}/assign"),
            Some(json!({"method": "random", "seed": 4})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // … but the scope cannot change under them, nor the name.
    let mut wider = future.clone();
    wider["scope"] = json!({"segment": ["enterprise", "smb"], "touchpoint": "delivery"});
    let (status, body) = app
        .json("PUT", &format!("/api/v1/pilots/{id}"), Some(wider))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(message(&body).contains("clear them first"), "{body}");
    let mut renamed = future.clone();
    renamed["name"] = json!("Other");
    let (status, body) = app
        .json("PUT", &format!("/api/v1/pilots/{id}"), Some(renamed))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(message(&body).contains("keeps its name"), "{body}");
}

#[tokio::test]
async fn the_last_approved_figure_stays_in_view_while_a_new_version_waits() {
    let app = TestApp::new().await;
    let cx = token_for(&*app.store, "cx", Role::CxLead, None).await;
    let finance = token_for(&*app.store, "fin", Role::Finance, None).await;
    let (status, case) = call(
        &app,
        &cx,
        "POST",
        "/api/v1/business-cases",
        Some(flows_case("Kept")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{case}");
    let id = case["id"].as_i64().unwrap();
    for a in case["assumptions"].as_array().unwrap() {
        let (status, body) = call(
            &app,
            &finance,
            "POST",
            &format!("/api/v1/business-cases/{id}/versions/1/reviews"),
            Some(review(a["key"].as_str().unwrap(), "accepted", "")),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // A return needs a comment.
    let (status, body) = call(
        &app,
        &finance,
        "POST",
        &format!("/api/v1/business-cases/{id}/versions/1/decision"),
        Some(json!({"decision": "return"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = call(
        &app,
        &finance,
        "POST",
        &format!("/api/v1/business-cases/{id}/versions/1/decision"),
        Some(json!({"decision": "approve", "comment": "ok"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut changed = flows_case("Kept");
    changed["discount_rate"] = json!(0.12);
    let (status, body) = call(
        &app,
        &cx,
        "PUT",
        &format!("/api/v1/business-cases/{id}"),
        Some(changed),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["version"], 2, "{body}");
    let (_, list) = call(&app, &cx, "GET", "/api/v1/business-cases", None).await;
    let line = list[0]["finance_review"].as_str().unwrap();
    assert!(
        line.starts_with("not reviewed by finance yet (version 2)"),
        "{line}"
    );
    assert!(
        line.contains("the last approved version, 1, has NPV"),
        "{line}"
    );
    assert!(line.contains("approved by finance (token:fin"), "{line}");
}

#[tokio::test]
async fn a_running_pilot_short_of_its_planned_answers_gets_an_interim_look() {
    let app = TestApp::new().await;
    let f = plant(&app, 7).await;
    let mut running = plan(&f, "Still running");
    running["end"] = json!(calendar::day_label(today() + 30));
    let (status, p) = app.json("POST", "/api/v1/pilots", Some(running)).await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let id = p["id"].as_i64().unwrap();
    let n = p["n_per_group"].as_u64().unwrap();
    for (method, uri, body) in [
        (
            "POST",
            format!("/api/v1/pilots/{id}/assign"),
            Some(json!({"method": "stratified", "seed": 7})),
        ),
        ("POST", format!("/api/v1/pilots/{id}/start"), None),
    ] {
        let (status, b) = app.json(method, &uri, body).await;
        assert_eq!(status, StatusCode::OK, "{b}");
    }
    let (status, e) = app
        .json("GET", &format!("/api/v1/pilots/{id}/evaluation"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{e}");
    let after = e["cells"]["pilot_after"]["n"].as_u64().unwrap();
    assert!(
        after < n,
        "the fixture has fewer answers than planned: {after} vs {n}"
    );
    // The planted effect is clear, yet no decision before the plan's n.
    assert!(f64_of(&e["ci_low"]) > 0.0, "{e}");
    assert_eq!(e["recommendation"]["verdict"], "interim", "{e}");
    let sentence = e["recommendation"]["sentence"].as_str().unwrap();
    assert!(
        sentence.contains(&format!("needs {n} answers per group")),
        "{sentence}"
    );
}

#[tokio::test]
async fn a_retention_pilot_plans_customers_per_group_from_churn_flags() {
    let app = TestApp::new().await;
    let f = plant(&app, 7).await;
    let mut retention = plan(&f, "Keep them");
    retention["metric"] = json!("retention");
    retention["mde"] = json!(0.05);
    let (status, p) = app.json("POST", "/api/v1/pilots", Some(retention)).await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    // Measured from the scope's customers' churn flags.
    let known: Vec<bool> = f
        .churned
        .iter()
        .filter(|(c, _)| c.starts_with('E'))
        .map(|(_, churned)| *churned)
        .collect();
    let retained = known.iter().filter(|c| !**c).count() as f64 / known.len() as f64;
    let baseline: f64 = p["design"]["baseline"].as_str().unwrap().parse().unwrap();
    assert!(
        (baseline - retained).abs() < 1e-4,
        "{baseline} vs {retained}: {p}"
    );
    let (status, power) = app
        .json(
            "GET",
            &format!(
                "/api/v1/power?metric=csat&baseline={}&mde=0.05&alpha=0.05&power=0.8",
                p["design"]["baseline"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{power}");
    assert_eq!(p["n_per_group"], power["n_per_group"], "{p}");
    assert!(p["expected_days"].is_null(), "{p}");
    // Its answers are evaluated as secondary metrics; churn itself is not.
    let id = p["id"].as_i64().unwrap();
    let (status, body) = app
        .json("GET", &format!("/api/v1/pilots/{id}/evaluation"), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["parameter"], "metric", "{body}");
}

#[tokio::test]
async fn minimal_assumptions_get_keys_from_their_names() {
    let app = TestApp::new().await;
    let (status, case) = app
        .json(
            "POST",
            "/api/v1/business-cases",
            Some(json!({
                "name": "Minimal",
                "discount_rate": 0.1,
                "cash_flows": [{"year": 0, "cost": 1000, "benefit": 0}, {"year": 1, "cost": 0, "benefit": 800},
                               {"year": 2, "cost": 0, "benefit": 800}],
                "assumptions": [{"name": "Calls avoided (a year)", "value": 100, "low": 50, "high": 150,
                                 "source": {"kind": "estimate", "owner": "support"}, "date": "2026-11-01"}]
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{case}");
    assert_eq!(
        case["assumptions"][0]["key"], "calls_avoided_a_year",
        "{case}"
    );
    assert_eq!(case["assumptions"][0]["as_of"], "2026-11-01", "{case}");
    // −1000 + 800/1.1 + 800/1.21
    let want = -1000.0 + 800.0 / 1.1 + 800.0 / 1.21;
    assert!((f64_of(&case["npv"]) - want).abs() < 1e-6, "{case}");
}

#[tokio::test]
async fn a_plan_may_cover_every_customer_and_spell_its_metric_in_capitals() {
    let app = TestApp::new().await;
    let f = plant(&app, 7).await;
    let mut everyone = plan(&f, "Everyone");
    everyone["scope"] = json!({});
    everyone["metric"] = json!("NPS");
    let (status, p) = app.json("POST", "/api/v1/pilots", Some(everyone)).await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    assert_eq!(p["plan"]["metric"], "nps", "{p}");
    // Every answer of the fixture in the 90 days before the start counts.
    let start = calendar::parse_day(&f.start).unwrap();
    let before = f
        .answers
        .iter()
        .filter(|(_, d, _)| *d >= start - 90 && *d < start)
        .count();
    assert!(
        p["design"]["baseline_answers"].as_u64().unwrap() >= before as u64,
        "{p}"
    );
}

#[tokio::test]
async fn roi_is_given_on_present_values_and_on_plain_sums() {
    let app = TestApp::new().await;
    let (status, case) = app
        .json(
            "POST",
            "/api/v1/business-cases",
            Some(json!({
                "name": "Two ROIs", "discount_rate": 0.1,
                "cash_flows": [{"year": 0, "cost": 1000, "benefit": 0}, {"year": 1, "cost": 0, "benefit": 1500}],
                "assumptions": []
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{case}");
    assert!(
        (f64_of(&case["roi"]) - (1500.0 / 1.1 - 1000.0) / 1000.0).abs() < 1e-9,
        "{case}"
    );
    assert!(
        (f64_of(&case["roi_undiscounted"]) - 0.5).abs() < 1e-12,
        "{case}"
    );
}

#[tokio::test]
async fn measured_assumptions_review_comments_and_assignment_lists_are_bounded() {
    let app = TestApp::new().await;
    // At most 12 measured assumptions (each is measured on every view):
    // refused before anything is measured, the limit named.
    let measured: Vec<Value> = (0..13)
        .map(|i| {
            json!({"key": format!("m{i}"), "name": "Customers",
                   "source": {"kind": "measured", "figure": "customers", "scope": {"segment": "enterprise"}}})
        })
        .collect();
    let mut case = flows_case("Measured");
    case["assumptions"] = Value::Array(measured);
    let (status, body) = app.json("POST", "/api/v1/business-cases", Some(case)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        message(&body).contains("13 are measured; the limit is 12"),
        "{body}"
    );
    // A review comment is at most 500 characters.
    let cx = token_for(&*app.store, "cx", Role::CxLead, None).await;
    let finance = token_for(&*app.store, "fin", Role::Finance, None).await;
    let (status, created) = call(
        &app,
        &cx,
        "POST",
        "/api/v1/business-cases",
        Some(flows_case("Long comment")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_i64().unwrap();
    let (status, body) = call(
        &app,
        &finance,
        "POST",
        &format!("/api/v1/business-cases/{id}/versions/1/reviews"),
        Some(review("calls_avoided", "challenged", &"x".repeat(501))),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        message(&body).contains("comment") && message(&body).contains("500"),
        "{body}"
    );
    // An assignment list over 32 MiB is refused before it is read.
    let (status, p) = app
        .json(
            "POST",
            "/api/v1/pilots",
            Some(json!({"name": "Big list", "hypothesis": "h", "metric": "nps", "scope": {},
                        "start": "2030-01-01", "end": "2030-03-31", "mde": 10, "baseline": "0.4,0.2"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let row = br#"{"customer_id":"C0000000001","group":"control"},"#;
    let mut big = b"[".to_vec();
    while big.len() <= 33 << 20 {
        big.extend_from_slice(row);
    }
    big.extend_from_slice(br#"{"customer_id":"last","group":"pilot"}]"#);
    let (status, text) = app
        .send(
            "PUT",
            &format!("/api/v1/pilots/{}/assignments", p["id"]),
            axum::body::Body::from(big),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{text}");
    assert!(text.contains("32 MiB"), "{text}");
}
