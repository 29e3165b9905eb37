//! Understand: trends, breakdowns, drivers, the expectation gap,
//! representativeness and revenue at risk through the real router.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::TestApp;

/// Posts responses given as JSON items.
async fn post(app: &TestApp, items: Vec<Value>) {
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
        (
            "metric=nps&interval=day&from=2020-01-01&to=2025-01-01",
            "from",
        ),
    ] {
        let (status, body) = app
            .json("GET", &format!("/api/v1/trends?{query}"), None)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["error"]["parameter"], parameter, "{query}: {body}");
    }
}
