//! Departments as partners over the API: records and goals, the scorecard
//! with the planted delivery-target disagreement (seed 001), wins, the North
//! Star's exact decomposition, and department scoping.

use axum::http::StatusCode;
use northstar_core::account::Role;
use northstar_core::operation::NewOperation;
use serde_json::{Value, json};

use crate::{TestApp, token_for};

pub fn logistics() -> Value {
    json!({
        "name": "logistics",
        "mission": "Every order arrives when promised",
        "leader": "lead@example.com",
        "touchpoints": ["delivery"],
        "goals": [{
            "title": "Deliveries within target",
            "kpi": {"measure": "delivery_days", "statistic": "share_within_target",
                    "direction": "higher_is_better", "target": 0.95},
            "customer_metric": {"metric": "csat", "filter": {"touchpoint": "delivery"}},
            "agreed_on": "2026-01-15", "agreed_by": "lead@example.com"
        }]
    })
}

/// 200 deliveries in March 2026, all within their 5-day target, each with
/// a CSAT answer: satisfied up to 3 days, dissatisfied after.
pub async fn plant_delivery_story(app: &TestApp) {
    let march = 1_772_323_200; // 2026-03-01T00:00:00Z
    let mut operations = Vec::new();
    let mut responses = Vec::new();
    for i in 0..200usize {
        let days = 1 + (i % 5) as i64;
        operations.push(NewOperation {
            department: "logistics".into(),
            order_id: format!("O{i}"),
            measure: "delivery_days".into(),
            customer_id: Some(format!("C{i}")),
            occurred_at: None,
            occurred_unix: Some(march + (i as i64 % 28) * 86_400),
            value: days as f64,
            target: Some(5.0),
            attributes: Default::default(),
        });
        responses.push(json!({
            "external_id": format!("d-{i}"),
            "customer_id": format!("C{i}"),
            "order_id": format!("O{i}"),
            "submitted_at": format!("2026-03-{:02}T12:00:00Z", 1 + i % 28),
            "touchpoint": "delivery",
            "department": "logistics",
            "csat": if days <= 3 { 5 } else { 2 },
            "nps": if days <= 3 { 9 } else { 3 },
            "comment": match days {
                1 | 2 => "Fast, thank you! write to me at ana@example.com",
                5 => "Late again, call me on +44 20 7946 0958",
                _ => "",
            },
        }));
    }
    app.store.write_operations(operations).await.unwrap();
    let (status, body) = app
        .json("POST", "/api/v1/responses", Some(Value::Array(responses)))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_department_with_a_goal_is_stored_and_bad_input_names_the_field() {
    let app = TestApp::new().await;
    let mut bad = logistics();
    bad["goals"][0]["kpi"]["statistic"] = json!("avg");
    let (status, body) = app.json("POST", "/api/v1/departments", Some(bad)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("avg"),
        "{body}"
    );
    let mut bad = logistics();
    bad["goals"][0]["kpi"]["target"] = json!(95);
    let (status, body) = app.json("POST", "/api/v1/departments", Some(bad)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("goals[0].kpi.target"),
        "{body}"
    );

    let (status, body) = app
        .json("POST", "/api/v1/departments", Some(logistics()))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let goal = json!({
        "title": "Invoice accuracy",
        "kpi": {"measure": "invoice_accuracy", "statistic": "external",
                "direction": "higher_is_better", "target": 0.98},
        "customer_metric": {"metric": "nps"}
    });
    let (status, body) = app
        .json("POST", "/api/v1/departments/logistics/goals", Some(goal))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, list) = app.json("GET", "/api/v1/departments", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list[0]["name"], "logistics");
    assert_eq!(list[0]["leader"], "lead@example.com");
    assert_eq!(list[0]["goals"].as_array().unwrap().len(), 2);
    assert_eq!(
        list[0]["goals"][0]["kpi"]["statistic"],
        "share_within_target"
    );
    let (status, _) = app
        .json(
            "POST",
            "/api/v1/departments/nowhere/goals",
            Some(list[0]["goals"][0].clone()),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // External KPI values, then the KPI on the scorecard is their mean.
    let values = json!({"measure": "invoice_accuracy", "values": [
        {"from": "2026-03-01", "to": "2026-03-31", "value": 0.97},
        {"from": "2026-04-01", "to": "2026-04-30", "value": 0.99}]});
    let (status, body) = app
        .json(
            "POST",
            "/api/v1/departments/logistics/kpi-values",
            Some(values),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, card) = app
        .json(
            "GET",
            "/api/v1/departments/logistics/scorecard?from=2026-03-01&to=2026-04-30",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{card}");
    let kpi = &card["goals"][1]["kpi"];
    // Each month weighted by its days in the period: 31 at 0.97, 30 at 0.99.
    let want = (0.97 * 31.0 + 0.99 * 30.0) / 61.0;
    assert!(
        (kpi["value"].as_f64().unwrap() - want).abs() < 1e-12,
        "{kpi}"
    );
    assert_eq!(kpi["n"], 2);
    assert_eq!(kpi["met"], false);
    // Part of April: April alone.
    let (_, card) = app
        .json(
            "GET",
            "/api/v1/departments/logistics/scorecard?from=2026-04-10&to=2026-04-20",
            None,
        )
        .await;
    assert_eq!(card["goals"][1]["kpi"]["value"], 0.99, "{card}");
    assert_eq!(card["goals"][1]["kpi"]["met"], true);
}

#[tokio::test]
async fn the_scorecard_flags_a_met_target_customers_disagree_with() {
    let app = TestApp::new().await;
    let (status, body) = app
        .json("POST", "/api/v1/departments", Some(logistics()))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    plant_delivery_story(&app).await;
    let (status, card) = app
        .json(
            "GET",
            "/api/v1/departments/logistics/scorecard?from=2026-03-01&to=2026-03-31",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{card}");
    let goal = &card["goals"][0];
    assert_eq!(goal["kpi"]["value"], 1.0, "{goal}");
    assert_eq!(goal["kpi"]["n"], 200);
    assert_eq!(goal["kpi"]["met"], true);
    assert_eq!(goal["customer_metric"]["overall"]["n"], 200);
    let d = &goal["disagreement"];
    assert_eq!(d["flag"], true, "{d}");
    assert_eq!(d["customers_threshold"], 4.0, "{d}");
    assert_eq!(d["records_target"], 5.0, "{d}");
    assert!(
        d["reason"].as_str().unwrap().contains("delivery_days"),
        "{d}"
    );
    // Good news first: the goal met; praise masked for a role without
    // personal data.
    assert_eq!(card["good_news"][0]["kind"], "goal_met", "{card}");
    assert_eq!(card["asks"].as_array().unwrap().len(), 1);
    let lead = token_for(&*app.store, "lead", Role::DepartmentLead, Some("logistics")).await;
    let (status, _, text) = app
        .raw(
            axum::http::Request::get(
                "/api/v1/departments/logistics/scorecard?from=2026-03-01&to=2026-03-31",
            )
            .header("authorization", format!("Bearer {lead}"))
            .body(axum::body::Body::empty())
            .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let card: Value = serde_json::from_str(&text).unwrap();
    let praise: Vec<&str> = card["good_news"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["kind"] == "praise")
        .map(|g| g["text"].as_str().unwrap())
        .collect();
    assert!(!praise.is_empty(), "{card}");
    assert!(
        praise.iter().all(|p| !p.contains("ana@example.com")),
        "{praise:?}"
    );
    // Another department's lead sees no such department.
    let other = token_for(&*app.store, "other", Role::DepartmentLead, Some("support")).await;
    let (status, _, _) = app
        .raw(
            axum::http::Request::get("/api/v1/departments/logistics/scorecard")
                .header("authorization", format!("Bearer {other}"))
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_win_needs_significant_evidence_else_it_is_an_early_signal() {
    let app = TestApp::new().await;
    app.json("POST", "/api/v1/departments", Some(logistics()))
        .await;
    plant_delivery_story(&app).await;
    // February: 100 dissatisfied answers on the same touchpoint.
    let feb: Vec<Value> = (0..100)
        .map(|i| {
            json!({"external_id": format!("f-{i}"), "submitted_at": format!("2026-02-{:02}T12:00:00Z", 1 + i % 28),
                   "touchpoint": "delivery", "department": "logistics", "csat": 2})
        })
        .collect();
    app.json("POST", "/api/v1/responses", Some(Value::Array(feb)))
        .await;
    let win = |before: (&str, &str)| {
        json!({"title": "Proactive delivery updates", "people": ["Ana"], "cx_part": "ran the pilot survey",
               "on": "2026-03-01",
               "evidence": {"metric": "csat", "filter": {"touchpoint": "delivery"},
                            "before": {"from": before.0, "to": before.1},
                            "after": {"from": "2026-03-01", "to": "2026-03-31"}}})
    };
    let (status, w) = app
        .json(
            "POST",
            "/api/v1/departments/logistics/wins",
            Some(win(("2026-02-01", "2026-02-28"))),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{w}");
    assert_eq!(w["status"], "win", "{w}");
    assert!(w["test"]["p_value"].as_f64().unwrap() < 0.05, "{w}");
    // No answers before: nothing to test, an early signal.
    let (_, w) = app
        .json(
            "POST",
            "/api/v1/departments/logistics/wins",
            Some(win(("2025-01-01", "2025-01-31"))),
        )
        .await;
    assert_eq!(w["status"], "early_signal", "{w}");
    let (status, wall) = app.json("GET", "/api/v1/wins", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(wall.as_array().unwrap().len(), 2);
    let (_, bad) = app
        .json(
            "POST",
            "/api/v1/departments/logistics/wins",
            Some(json!({"title": "x", "on": "soon",
            "evidence": {"metric": "csat", "before": {"from": "2026-02-01", "to": "2026-02-28"},
                         "after": {"from": "2026-01-01", "to": "2026-01-31"}}})),
        )
        .await;
    let message = bad["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("on:") && message.contains("evidence.after"),
        "{message}"
    );
}

#[tokio::test]
async fn the_north_star_decomposes_exactly_into_departments() {
    let app = TestApp::new().await;
    app.seed().await;
    let (status, _) = app.json("GET", "/api/v1/north-star", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let ns = json!({"statement": "The distributor customers trust to deliver",
        "principles": ["Promise only what we keep",
                       {"text": "Answer at the first contact", "departments": ["support"], "evidence": "fcr"}],
        "metric": "nps", "target": 40, "target_date": "2027-06-30"});
    let (status, body) = app.json("PUT", "/api/v1/north-star", Some(ns)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, r) = app.json("GET", "/api/v1/north-star", None).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let value = r["value"].as_f64().unwrap();
    let parts = r["contributions"].as_array().unwrap();
    assert_eq!(parts.len(), 3);
    let sum = parts
        .iter()
        .fold(0.0, |acc, c| acc + c["points"].as_f64().unwrap());
    assert_eq!(sum, value, "{r}");
    // Each part is share × value (to rounding), shares sum to 1.
    for c in parts {
        let (share, v, points) = (
            c["share"].as_f64().unwrap(),
            c["value"].as_f64().unwrap(),
            c["points"].as_f64().unwrap(),
        );
        assert!((share * v - points).abs() < 1e-9, "{c}");
    }
    let shares: f64 = parts.iter().map(|c| c["share"].as_f64().unwrap()).sum();
    assert!((shares - 1.0).abs() < 1e-12);
    assert!(r["ci_low"].as_f64().unwrap() < value && value < r["ci_high"].as_f64().unwrap());
    assert_eq!(r["n"], 360);
}

#[tokio::test]
async fn the_department_page_leads_with_good_news_and_records_a_win() {
    let app = TestApp::new().await;
    app.json("POST", "/api/v1/departments", Some(logistics()))
        .await;
    plant_delivery_story(&app).await;
    let (status, html) = app
        .request(
            "GET",
            "/departments/logistics?from=2026-03-01&to=2026-03-31",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let good = html.find("What went well").unwrap();
    let disagree = html
        .find("Where the targets and the customers disagree")
        .unwrap();
    let asks = html.find("Our asks").unwrap();
    assert!(good < disagree && disagree < asks, "good news first");
    assert!(html.contains("New detractor feedback"), "{html}");
    assert!(html.contains("Late again"), "{html}");
    // The admin sees personal data; a department lead sees it masked.
    assert!(html.contains("+44 20 7946 0958"));
    let lead = token_for(
        &*app.store,
        "lead-page",
        Role::DepartmentLead,
        Some("logistics"),
    )
    .await;
    let (status, _, lead_html) = app
        .raw(
            axum::http::Request::get("/departments/logistics?from=2026-03-01&to=2026-03-31")
                .header("authorization", format!("Bearer {lead}"))
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(lead_html.contains("Late again"), "{lead_html}");
    assert!(!lead_html.contains("+44 20 7946 0958"), "{lead_html}");
    assert!(html.contains("at 4 delivery_days"), "{html}");
    // The form: a bad date is refused with the field named, nothing stored.
    let form = "title=Faster+dispatch&people=Ana%2C+Ben&cx_part=Survey&metric=csat\
                &before_from=2026-02-01&before_to=2026-02-28&after_from=2026-03-01&after_to=2026-03-31";
    let (status, page) = app
        .send_form("/departments/logistics/wins", &format!("{form}&on=soon"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    assert!(
        page.contains("on: &quot;soon&quot; is not a date") || page.contains("is not a date"),
        "{page}"
    );
    let (_, wall) = app.json("GET", "/api/v1/wins", None).await;
    assert!(wall.as_array().unwrap().is_empty());
    let (status, _) = app
        .send_form(
            "/departments/logistics/wins",
            &format!("{form}&on=2026-03-01"),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, wall) = app.json("GET", "/api/v1/wins", None).await;
    assert_eq!(wall[0]["title"], "Faster dispatch", "{wall}");
    assert_eq!(wall[0]["people"], json!(["Ana", "Ben"]));
    assert_eq!(
        wall[0]["evidence"]["filter"]["touchpoint"],
        json!(["delivery"])
    );
    let (status, html) = app.request("GET", "/wins", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Faster dispatch"), "{html}");
}

#[tokio::test]
async fn a_department_lead_lands_on_their_department_page() {
    let app = TestApp::new().await;
    app.json("POST", "/api/v1/departments", Some(logistics()))
        .await;
    crate::user_for(
        &*app.store,
        "lead@example.com",
        "correct horse battery",
        Role::DepartmentLead,
        Some("logistics"),
    )
    .await;
    let body = "email=lead%40example.com&password=correct+horse+battery&next=";
    let (status, headers, _) = app
        .raw(
            axum::http::Request::post("/sign-in")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(axum::body::Body::from(body))
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], "/departments/logistics");
}

#[tokio::test]
async fn the_executive_view_sets_retention_beside_nps_per_segment() {
    use northstar_core::customer::NewCustomer;
    let app = TestApp::new().await;
    app.seed().await; // January to March 2026, segments smb and enterprise
    let day = |s: &str| northstar_core::calendar::parse_day(s);
    let customer = |i: usize, acquired: Option<&str>, churned: Option<&str>| NewCustomer {
        customer_id: format!("K{i}"),
        segment: Some("smb".into()),
        region: None,
        annual_value: None,
        churned: Some(churned.is_some()),
        churned_on: churned.and_then(day),
        acquired_on: acquired.and_then(day),
        attributes: Default::default(),
    };
    let mut customers = Vec::new();
    // Ten at the start of Q1 2026, two of whom churn in Q1; three acquired
    // in Q1; one churned before Q1; one churned without a date.
    for i in 0..10 {
        let churned = (i < 2).then_some("2026-02-10");
        customers.push(customer(i, Some("2024-05-01"), churned));
    }
    for i in 10..13 {
        customers.push(customer(i, Some("2026-01-15"), None));
    }
    customers.push(customer(13, Some("2024-05-01"), Some("2025-06-01")));
    let mut undated = customer(14, None, None);
    undated.churned = Some(true);
    customers.push(undated);
    app.store.write_customers(customers).await.unwrap();
    let (status, r) = app.json("GET", "/api/v1/executive", None).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let smb = r["lifecycle"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["segment"] == "smb")
        .unwrap();
    let q1 = smb["periods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["from"] == "2026-01-01")
        .unwrap();
    let rates = &q1["rates"];
    assert_eq!(rates["base"], 10, "{q1}");
    assert_eq!(rates["acquired"], 3);
    assert_eq!(rates["churned"], 2);
    assert_eq!(rates["undated_churn"], 1);
    assert!((rates["retention_rate"].as_f64().unwrap() - 0.8).abs() < 1e-12);
    assert!((rates["acquisition_rate"].as_f64().unwrap() - 0.3).abs() < 1e-12);
    // Wilson (1927) for 8 of 10: 0.4902 to 0.9433.
    assert!(
        (rates["retention_ci_low"].as_f64().unwrap() - 0.490_162).abs() < 1e-5,
        "{rates}"
    );
    assert!(
        (rates["retention_ci_high"].as_f64().unwrap() - 0.943_318).abs() < 1e-5,
        "{rates}"
    );
    // NPS of the segment's answers in the quarter beside it.
    assert_eq!(q1["nps"]["n"], 180);
    let (status, html) = app.request("GET", "/executive", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Acquisition and retention beside NPS"),
        "{html}"
    );
}

async fn as_token(
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

#[tokio::test]
async fn department_roles_see_and_credit_their_own_department_only() {
    let app = TestApp::new().await;
    app.seed().await;
    app.json("POST", "/api/v1/departments", Some(logistics()))
        .await;
    let ambassador = token_for(&*app.store, "amb", Role::Ambassador, Some("logistics")).await;
    let win = |filter: Value| {
        json!({"title": "t", "on": "2026-03-01",
               "evidence": {"metric": "nps", "filter": filter,
                            "before": {"from": "2026-01-01", "to": "2026-01-31"},
                            "after": {"from": "2026-03-01", "to": "2026-03-31"}}})
    };
    // Another department's figures cannot be read through a win's evidence.
    let (status, body) = as_token(
        &app,
        &ambassador,
        "POST",
        "/api/v1/departments/logistics/wins",
        Some(win(json!({"department": "billing"}))),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // A filter within the scope is narrowed to the department.
    let (status, w) = as_token(
        &app,
        &ambassador,
        "POST",
        "/api/v1/departments/logistics/wins",
        Some(win(json!({"segment": "smb"}))),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{w}");
    assert_eq!(w["evidence"]["filter"]["department"], json!(["logistics"]));
    assert_eq!(w["after"]["n"], 20, "{w}");

    // The North Star: the overall figure, the department's own part and
    // the rest of the organisation's — not other departments'.
    let ns = json!({"statement": "s", "metric": "nps", "target": 40, "target_date": "2027-06-30"});
    app.json("PUT", "/api/v1/north-star", Some(ns)).await;
    let (status, r) = as_token(&app, &ambassador, "GET", "/api/v1/north-star", None).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let parts = r["contributions"].as_array().unwrap();
    let names: Vec<&str> = parts
        .iter()
        .map(|c| c["department"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["logistics", "(rest of the organisation)"]);
    let sum = parts
        .iter()
        .fold(0.0, |acc, c| acc + c["points"].as_f64().unwrap());
    assert_eq!(sum, r["value"].as_f64().unwrap());
    let (_, admin) = app.json("GET", "/api/v1/north-star", None).await;
    assert_eq!(admin["value"], r["value"]);
    assert_eq!(admin["contributions"].as_array().unwrap().len(), 3);
}

/// Every bound a client controls, named in its error: body size, goals,
/// list lengths, KPI values per request and their magnitude.
#[tokio::test]
async fn department_inputs_are_bounded_and_the_errors_name_the_limit() {
    let app = TestApp::new().await;
    let (status, body) = app
        .post_bytes(
            "/api/v1/departments",
            format!(r#"{{"name": "x", "mission": "{}"}}"#, "m".repeat(70_000)).into_bytes(),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("64 KiB"),
        "{body}"
    );
    let mut d = logistics();
    d["ambassadors"] = json!(
        (0..51)
            .map(|i| format!("a{i}@example.com"))
            .collect::<Vec<_>>()
    );
    let goal = d["goals"][0].clone();
    d["goals"] = json!(
        (0..21)
            .map(|i| {
                let mut g = goal.clone();
                g["title"] = json!(format!("goal {i}"));
                g
            })
            .collect::<Vec<_>>()
    );
    let (status, body) = app.json("POST", "/api/v1/departments", Some(d)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("ambassadors: has 51 entries; the limit is 50"),
        "{message}"
    );
    assert!(
        message.contains("goals: has 21 goals; the limit is 20"),
        "{message}"
    );

    let mut d = logistics();
    d["goals"][0]["kpi"]["statistic"] = json!("external");
    d["goals"][0]["kpi"]["measure"] = json!("accuracy");
    app.json("POST", "/api/v1/departments", Some(d)).await;
    let many: Vec<Value> = (0..501)
        .map(|i| json!({"from": "2026-01-01", "to": "2026-01-31", "value": i}))
        .collect();
    let (status, body) = app
        .json(
            "POST",
            "/api/v1/departments/logistics/kpi-values",
            Some(json!({"measure": "accuracy", "values": many})),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 500"),
        "{body}"
    );
    let (status, body) = app
        .json(
            "POST",
            "/api/v1/departments/logistics/kpi-values",
            Some(json!({"measure": "accuracy", "values": [{"from": "2026-01-01", "to": "2026-01-31", "value": 1e300}]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("values[0]"),
        "{body}"
    );
}

/// `GET /api/v1/power` (keep stable): respondents per group as statsmodels'
/// NormalIndPower gives them (tools/golden/power.json), and errors that
/// name the parameter.
#[tokio::test]
async fn power_gives_respondents_per_group_and_names_bad_parameters() {
    let app = TestApp::new().await;
    let (status, r) = app
        .json(
            "GET",
            "/api/v1/power?metric=nps&baseline=0.45,0.20&mde=5&alpha=0.05&power=0.8",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["n_per_group"], 3689, "{r}");
    assert!(r["method"].as_str().unwrap().contains("NormalIndPower"));
    let (status, r) = app
        .json(
            "GET",
            "/api/v1/power?metric=csat&baseline=0.70&mde=0.05",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["n_per_group"], 1250, "{r}");
    for (query, parameter) in [
        ("metric=ces&baseline=0.5&mde=0.1", "metric"),
        ("metric=nps&baseline=0.45&mde=5", "baseline"),
        ("metric=csat&baseline=0.7&mde=0", "mde"),
        ("metric=csat&baseline=0.7&mde=0.05&alpha=2", "alpha"),
        ("metric=csat&baseline=0.7&mde=0.05&colour=red", "colour"),
        ("metric=csat&mde=0.05", "baseline"),
    ] {
        let (status, body) = app
            .json("GET", &format!("/api/v1/power?{query}"), None)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["error"]["parameter"], parameter, "{query}: {body}");
    }
}
