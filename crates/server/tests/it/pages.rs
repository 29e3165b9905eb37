use axum::http::StatusCode;

use crate::TestApp;

#[tokio::test]
async fn the_overview_shows_every_number_with_its_provenance() {
    let app = TestApp::new().await;
    app.seed().await;
    let (status, html) = app.request("GET", "/", None).await;
    assert_eq!(status, StatusCode::OK);
    for title in [
        "Net Promoter Score",
        "Customer satisfaction",
        "Customer effort",
        "First-contact resolution",
    ] {
        assert!(html.contains(title), "{title}");
    }
    assert_eq!(html.matches("How was this computed?").count(), 4);
    assert!(
        html.contains("<title>Overview · Northstar</title>"),
        "the title is plain text"
    );
    assert_eq!(html.matches("<section id=\"who-answered\">").count(), 1);
    assert!(html.contains("n = 360"));
    assert!(html.contains("2026-01-01 to 2026-03-28 (days in the organisation"));
    assert!(html.contains("adjusted-Wald interval for NPS (Rocks 2016)"));
    assert!(html.contains("<polygon class=\"band\""));
    assert_eq!(html.matches("<circle").count(), 3);
    assert!(
        html.contains("▲ significantly higher"),
        "support stands out"
    );
    assert!(
        html.contains("▼ significantly lower"),
        "logistics stands out"
    );
}

#[tokio::test]
async fn the_overview_filters_and_explains_bad_input() {
    let app = TestApp::new().await;
    app.seed().await;
    let (status, html) = app
        .request("GET", "/?segment=smb&from=2026-02-01", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("segment = smb"));
    assert!(html.contains("n = 120"));
    assert!(html.contains("<option value=\"smb\" selected>"));
    let (status, html) = app.request("GET", "/?from=tomorrow", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        html.contains("from: &quot;tomorrow&quot; is not a date")
            || html.contains("from: \"tomorrow\" is not a date"),
        "{html}"
    );
}

#[tokio::test]
async fn an_empty_database_renders_without_numbers() {
    let app = TestApp::new().await;
    let (status, html) = app.request("GET", "/", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("No data in this period"));
    assert!(html.contains("no responses in this selection"));
}
