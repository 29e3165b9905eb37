//! The Understand pages (trends, breakdown, drivers, expectation gap) and
//! their CSV downloads through the real router, on data with planted
//! findings: a week that collapses, a driver that matters and is rated
//! low, deliveries that sour customers before the target.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use northstar_core::account::Role;
use northstar_store::import::ImportKind;
use serde_json::json;

use crate::TestApp;
use crate::understand::{import, post};

/// Plants the findings: weeks 2025-W02..W07 with W06 collapsing (logistics
/// and support alternate); 400 answers rating delivery (important, rated
/// low) and price (weak, rated high) on 2025-07-01; logistics deliveries
/// of 1–6 days against a 5-day target, satisfaction falling after 3.
async fn planted() -> TestApp {
    let app = TestApp::new().await;
    let jan_1 = northstar_core::calendar::parse_day("2025-01-01").unwrap();
    let mut items = Vec::new();
    for week in 0..6 {
        for k in 0..40 {
            let day = 6 + week * 7 + (k % 7) as i32;
            let nps = if week == 4 {
                [2, 3, 9, 5][k % 4]
            } else {
                [10, 9, 8, 3][k % 4]
            };
            items.push(json!({
                "external_id": format!("w{week}-{k}"),
                "submitted_at": format!("{}T10:00:00Z", northstar_core::calendar::day_label(jan_1 + day - 1)),
                "department": if k % 2 == 0 { "logistics" } else { "support" },
                "nps": nps,
            }));
        }
    }
    let mut rng = fastrand::Rng::with_seed(7);
    for i in 0..400 {
        let delivery = rng.u8(1..=4);
        let price = rng.u8(2..=5);
        let nps = (i32::from(delivery) * 2 + i32::from(price) / 3 + rng.i32(-1..=1)).clamp(0, 10);
        items.push(json!({
            "external_id": format!("k{i}"),
            "submitted_at": "2025-07-01T10:00:00Z",
            "department": if i % 2 == 0 { "logistics" } else { "support" },
            "nps": nps,
            "driver_delivery": delivery,
            "driver_price": price,
        }));
    }
    let satisfied_per_day = [19, 18, 17, 10, 8, 4];
    let mut operations = String::from("order_id,department,delivery_days,target_days\n");
    for (i, &satisfied) in satisfied_per_day.iter().enumerate() {
        let days = i + 1;
        for k in 0..20 {
            let order = format!("O{days}-{k}");
            operations.push_str(&format!("{order},logistics,{days},5\n"));
            items.push(json!({
                "external_id": format!("r-{order}"),
                "submitted_at": "2025-04-02T10:00:00Z",
                "order_id": order,
                "department": "logistics",
                "csat": if k < satisfied { 5 } else { 2 },
            }));
        }
    }
    import(&app, ImportKind::Operations, &operations).await;
    post(&app, items).await;
    app
}

fn get(uri: &str, token: &str) -> Request<Body> {
    Request::get(uri)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn each_page_shows_its_finding_chart_table_and_provenance() {
    let app = planted().await;
    let (status, html) = app
        .request(
            "GET",
            "/trends?metric=nps&interval=week&from=2025-01-01&to=2025-02-28",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains(r#"role="img" aria-labelledby="trend-chart-title trend-chart-desc""#));
    assert!(
        html.contains(r#"<title id="trend-chart-title">Net Promoter Score by week"#),
        "{html}"
    );
    assert!(html.contains(r#"<table id="trend-table">"#));
    assert!(
        html.contains("1 of 6 weeks lie outside their control limits (signal, not noise): 2025-W06 (below the lower limit)"),
        "{html}"
    );
    assert_eq!(
        html.matches(r#"<path class="signal""#).count(),
        1,
        "one diamond"
    );
    assert_eq!(html.matches(r#"<circle class="noise""#).count(), 5);
    assert!(html.contains("◆ signal: below LCL"));
    assert!(html.contains("Montgomery"));
    assert!(
        html.contains("2025-01-06 to 2025-02-16 (first and last day with a response used"),
        "{html}"
    );
    assert!(html.contains(
        r#"href="/api/v1/trends.csv?metric=nps&#38;interval=week&#38;from=2025-01-01&#38;to=2025-02-28""#
    ), "{html}");
    assert!(
        html.contains(r#"<a href="/trends">Trends</a>"#),
        "the nav links the pages"
    );

    let (status, html) = app
        .request(
            "GET",
            "/breakdown?metric=nps&by=department&to=2025-03-01",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains(r#"<title id="breakdown-chart-title">Net Promoter Score by department"#));
    assert!(html.contains(r#"<table class="breakdown" id="breakdown-table">"#));
    assert!(html.contains("Holm"));
    assert!(html.contains("<td>logistics</td>") && html.contains("<td>support</td>"));

    let (status, html) = app.request("GET", "/drivers?metric=nps", None).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("Fix first: delivery — it matters more to NPS"),
        "{html}"
    );
    assert!(html.contains(r#"<title id="drivers-chart-title">Key drivers of NPS"#));
    assert!(html.contains(r#"<rect class="fix-first""#));
    assert!(html.contains(r#"<table id="drivers-table">"#));
    assert!(html.contains("R² = 0."), "{html}");
    assert!(html.contains("Johnson, J. W. (2000)"));
    assert!(html.contains("B = 1000 replicates, seed"), "{html}");
    assert!(
        html.contains("2025-07-01 to 2025-07-01"),
        "the rows' own period: {html}"
    );

    // Without a department the page picks the first with linked records.
    for uri in [
        "/expectation-gap?measure=delivery_days&department=logistics",
        "/expectation-gap",
    ] {
        let (status, html) = app.request("GET", uri, None).await;
        assert_eq!(status, StatusCode::OK, "{html}");
        assert!(
            html.contains("Customers&#39; satisfaction falls below 80% at 4 days or more; Logistics&#39; target is at most 5 days. 28% of orders that met the target left the customer dissatisfied.")
                || html.contains("Customers' satisfaction falls below 80% at 4 days or more; Logistics' target is at most 5 days. 28% of orders that met the target left the customer dissatisfied."),
            "{uri}: {html}"
        );
        assert!(
            html.contains(r#"<line class="threshold""#) && html.contains(r#"<line class="target""#)
        );
        assert!(html.contains("customers: 4 days") && html.contains("target: 5 days"));
        assert!(html.contains(r#"<table id="gap-table">"#));
        assert!(html.contains("PAV") || html.contains("Pool-adjacent-violators"));
        assert!(html.contains("2025-04-02 to 2025-04-02"), "{html}");
    }

    // The JSON reports carry the period of the rows they used.
    let (_, drivers) = app.json("GET", "/api/v1/drivers?metric=nps", None).await;
    assert_eq!(drivers["period"]["from"], "2025-07-01", "{drivers}");
    let (_, gap) = app
        .json(
            "GET",
            "/api/v1/expectation-gap?measure=delivery_days&department=logistics",
            None,
        )
        .await;
    assert_eq!(gap["period"]["to"], "2025-04-02", "{gap}");
    let (_, trend) = app
        .json(
            "GET",
            "/api/v1/trends?metric=nps&interval=week&from=2025-01-01&to=2025-02-28",
            None,
        )
        .await;
    assert_eq!(trend["period"]["from"], "2025-01-06", "{trend}");
}

#[tokio::test]
async fn every_table_downloads_as_csv_with_export_and_an_audit_entry() {
    let app = planted().await;
    let viewer = crate::token_for(&*app.store, "viewer", Role::Viewer, None).await;
    for (uri, header, target) in [
        (
            "/api/v1/trends.csv?metric=nps&interval=week&from=2025-01-01&to=2025-02-28",
            "metric,interval,period,n,value,ci_low,ci_high,centre,lcl,ucl,signal,",
            "trends.csv",
        ),
        (
            "/api/v1/breakdown.csv?metric=nps&by=department",
            "metric,by,key,n,value,ci_low,ci_high,difference_vs_rest,p_value,p_adjusted_holm,significant,",
            "breakdown.csv",
        ),
        (
            "/api/v1/drivers.csv?metric=nps",
            "metric,driver,raw_weight,rescaled_percent,ci_low,ci_high,mean,quadrant,r2,n,",
            "drivers.csv",
        ),
        (
            "/api/v1/expectation-gap.csv?measure=delivery_days&department=logistics",
            "department,measure,x,x_high,n,observed_satisfied_share,fitted_satisfied_share,level,threshold,target,",
            "expectation-gap.csv",
        ),
    ] {
        let (status, headers, body) = app.raw(get(uri, &app.admin_token)).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/csv"),
            "{uri}"
        );
        assert!(body.starts_with(header), "{uri}: {body}");
        assert!(body.lines().count() > 1, "{uri}: {body}");
        let (status, _, body) = app.raw(get(uri, &viewer)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{uri}: {body}");
        let exports = app
            .store
            .backend()
            .audit_entries(&northstar_store::accounts::AuditQuery {
                action: Some("export".into()),
                target: Some(target.into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(
            exports.len(),
            1,
            "{uri}: one export, the refused one not: {exports:?}"
        );
        assert_eq!(exports[0].actor, "token:test-admin");
    }
    let (_, _, csv) = app
        .raw(get(
            "/api/v1/trends.csv?metric=nps&interval=week&from=2025-01-01&to=2025-02-28",
            &app.admin_token,
        ))
        .await;
    assert!(
        csv.lines()
            .any(|l| l.contains("2025-W06") && l.contains(",below,")),
        "{csv}"
    );
    let (_, _, csv) = app
        .raw(get("/api/v1/drivers.csv?metric=nps", &app.admin_token))
        .await;
    assert!(
        csv.lines()
            .any(|l| l.starts_with("nps,delivery,") && l.contains(",fix_first,")),
        "{csv}"
    );
    // A viewer reads the pages but is offered no CSV.
    let (status, _, html) = app.raw(get("/drivers", &viewer)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("drivers.csv"), "{html}");
}

#[tokio::test]
async fn a_department_role_sees_only_its_department_on_every_page() {
    let app = planted().await;
    let lead = crate::token_for(&*app.store, "lead", Role::DepartmentLead, Some("support")).await;
    let (status, _, html) = app
        .raw(get("/breakdown?metric=nps&by=department", &lead))
        .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("<td>support</td>"), "{html}");
    assert!(!html.contains("<td>logistics</td>"), "{html}");
    assert!(html.contains("your role sees only the department support"));
    assert!(!html.contains(r#"<option value="logistics""#), "{html}");
    let (_, _, html) = app
        .raw(get(
            "/trends?metric=nps&interval=week&from=2025-01-01&to=2025-02-28",
            &lead,
        ))
        .await;
    assert!(
        html.contains("n</dt><dd>120</dd>"),
        "half of the 240 answers: {html}"
    );
    let (_, _, html) = app.raw(get("/drivers", &lead)).await;
    assert!(html.contains("n</dt><dd>200 complete rows"), "{html}");
    // Its own department's records hold no linked support answers; asking
    // for logistics' records selects nothing.
    let (status, _, html) = app
        .raw(get("/expectation-gap?department=logistics", &lead))
        .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("No delivery_days records of logistics are linked"),
        "{html}"
    );
}

#[tokio::test]
async fn bad_input_shows_an_error_beside_the_form_not_a_500() {
    let app = planted().await;
    let long = "x".repeat(101);
    for (uri, says) in [
        ("/trends?metric=bogus".to_string(), "unknown metric"),
        ("/trends?interval=hour".to_string(), "interval"),
        (format!("/trends?segment={long}"), "segment"),
        (
            "/breakdown?by=".to_string() + &"b".repeat(65),
            "64 characters",
        ),
        (
            "/breakdown?metric=nps&by=department&from=tomorrow".to_string(),
            "from",
        ),
        ("/drivers?metric=ces".to_string(), "nps or csat"),
        (format!("/expectation-gap?department={long}"), "department"),
        (
            "/expectation-gap?department=logistics&level=2".to_string(),
            "level",
        ),
        (
            format!("/expectation-gap?department=logistics&measure={long}"),
            "measure",
        ),
    ] {
        let (status, html) = app.request("GET", &uri, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {html}");
        assert!(html.contains(r#"id="form-error""#), "{uri}: {html}");
        assert!(html.contains(says), "{uri}: {html}");
        assert!(html.contains(r#"<form class="filters""#), "{uri}");
    }
}
