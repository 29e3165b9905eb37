//! Snapshots of what people and machines read: the overview page, its SVG
//! chart and the OpenAPI document, so that an unintended change shows in
//! review. Review and accept changes with `cargo insta review` (cargo-insta)
//! or `INSTA_UPDATE=always cargo test -p northstar-server`; under CI=true a
//! mismatch fails and nothing is written.

use crate::TestApp;

#[tokio::test]
async fn the_overview_page_and_its_chart() {
    let app = TestApp::new().await;
    app.seed().await;
    let (status, html) = app.request("GET", "/", None).await;
    assert_eq!(status, axum::http::StatusCode::OK);
    insta::assert_snapshot!("overview.html", html);
    let start = html.find("<svg").expect("the page has a chart");
    let end = html[start..].find("</svg>").expect("the chart is closed") + start + "</svg>".len();
    insta::assert_snapshot!("trend_chart.svg", &html[start..end]);
}

#[tokio::test]
async fn the_openapi_document() {
    let app = TestApp::new().await;
    let (_, doc) = app.json("GET", "/api/v1/openapi.json", None).await;
    insta::assert_snapshot!("openapi.json", serde_json::to_string_pretty(&doc).unwrap());
}
