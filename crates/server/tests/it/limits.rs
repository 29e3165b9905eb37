//! The server's own bounds and error shape: requests in flight, deadlines,
//! panics and internal errors with a request id, readiness without
//! internals, query strings that cannot be decoded.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use northstar_server::{ServerLimits, with_layers};
use serde_json::Value;
use tower::ServiceExt;

use crate::TestApp;

async fn body_json(response: axum::response::Response) -> Value {
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// A POST whose body never arrives: the handler waits for it.
fn stalled_post(token: &str) -> Request<Body> {
    let never = futures_util::stream::pending::<Result<axum::body::Bytes, std::io::Error>>();
    Request::post("/api/v1/responses")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::from_stream(never))
        .unwrap()
}

#[tokio::test]
async fn requests_beyond_the_in_flight_limit_are_refused_at_once() {
    let app = TestApp::new().await;
    let router = northstar_server::app_with(
        app.store.clone(),
        ServerLimits {
            max_in_flight: 1,
            request_timeout: Duration::from_secs(30),
            ..Default::default()
        },
    );
    let stalled = tokio::spawn(router.clone().oneshot(stalled_post(&app.admin_token)));
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Health checks still answer: a full server is alive.
    let response = router
        .clone()
        .oneshot(Request::get("/healthz").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = router
        .clone()
        .oneshot(
            Request::get("/api/v1/metrics?metric=nps")
                .header("authorization", format!("Bearer {}", app.admin_token))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "1");
    let body = body_json(response).await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("more than 1 requests in flight"),
        "{body}"
    );
    stalled.abort();
    let _ = stalled.await;
    // The permit is back once the stalled request is gone.
    let response = router
        .oneshot(
            Request::get("/api/v1/metrics?metric=nps")
                .header("authorization", format!("Bearer {}", app.admin_token))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// Writes have a cap of their own, taken before the body is read: slow
/// uploads cannot hold the memory of many 16 MiB bodies, and reads go on.
#[tokio::test]
async fn writes_beyond_their_own_limit_are_refused_and_reads_go_on() {
    let app = TestApp::new().await;
    let router = northstar_server::app_with(
        app.store.clone(),
        ServerLimits {
            max_writes_in_flight: 1,
            ..Default::default()
        },
    );
    let stalled = tokio::spawn(router.clone().oneshot(stalled_post(&app.admin_token)));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let response = router
        .clone()
        .oneshot(stalled_post(&app.admin_token))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "1");
    let body = body_json(response).await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("more than 1 writes in flight"),
        "{body}"
    );
    let response = router
        .clone()
        .oneshot(
            Request::get("/api/v1/metrics?metric=nps")
                .header("authorization", format!("Bearer {}", app.admin_token))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    stalled.abort();
    let _ = stalled.await;
}

#[tokio::test]
async fn a_request_past_its_deadline_is_stopped() {
    let app = TestApp::new().await;
    let router = northstar_server::app_with(
        app.store.clone(),
        ServerLimits {
            max_in_flight: 8,
            request_timeout: Duration::from_millis(200),
            ..Default::default()
        },
    );
    let response = router
        .oneshot(stalled_post(&app.admin_token))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = body_json(response).await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("longer than 0.2 s"),
        "{body}"
    );
}

#[tokio::test]
async fn a_panic_is_a_500_with_the_request_id_and_no_details() {
    let router = with_layers(
        axum::Router::new().route(
            "/boom",
            get(|| async {
                if std::hint::black_box(true) {
                    panic!("secret internal detail");
                }
                "unreachable"
            }),
        ),
        ServerLimits::default(),
    );
    let response = router
        .oneshot(
            Request::get("/boom")
                .header("x-request-id", "req-42")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(response.headers()["x-request-id"], "req-42");
    let body = body_json(response).await;
    assert_eq!(body["error"]["request_id"], "req-42");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("request id req-42"), "{message}");
    assert!(!message.contains("secret"), "{message}");
}

#[tokio::test]
async fn store_failures_are_a_500_with_the_request_id_and_readiness_keeps_internals() {
    let app = TestApp::new().await;
    // Break the database under the running app: the table the cube reads is gone.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.db");
    let url = format!("sqlite://{}", path.display());
    let store = northstar_store::open(&url).await.unwrap();
    let token =
        crate::token_for(&*store, "admin", northstar_core::account::Role::Admin, None).await;
    drop(app);
    run_sql(
        &path,
        "DROP TABLE rollups_daily; DELETE FROM _sqlx_migrations;",
    )
    .await;
    let router = northstar_server::app(store);
    let response = router
        .clone()
        .oneshot(
            Request::get("/api/v1/metrics?metric=nps")
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let body = body_json(response).await;
    assert_eq!(body["error"]["request_id"], id.as_str());
    assert!(!body.to_string().contains("rollups_daily"), "{body}");
    let response = router
        .oneshot(Request::get("/readyz").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = body_json(response).await;
    let reason = body["reason"].as_str().unwrap();
    assert!(
        !reason.contains("expected") && !reason.contains("broken.db"),
        "{reason}"
    );
    assert!(reason.contains("northstar migrate"), "{reason}");
}

/// Runs SQL on a SQLite file from outside the server (Python's sqlite3, as
/// another process would), so the server meets a database it did not break.
async fn run_sql(path: &std::path::Path, sql: &str) {
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import sqlite3; c = sqlite3.connect({:?}); c.executescript({:?}); c.commit()",
            path.display().to_string(),
            sql
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn undecodable_query_strings_get_the_json_error_shape() {
    let app = TestApp::new().await;
    let (status, body) = app
        .json("GET", "/api/v1/metrics?metric=nps&segment=%FF%FE", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["parameter"], "segment", "{body}");
    let (status, html) = app.request("GET", "/?segment=%FF%FE", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("not valid UTF-8"), "{html}");
}

#[tokio::test]
async fn csv_exports_neutralise_formulas_and_keep_numbers() {
    let app = TestApp::new().await;
    let batch = serde_json::json!([
        {"external_id": "f1", "submitted_at": "2026-03-01T09:00:00Z", "department": "=HYPERLINK(\"http://x\")", "nps": 0},
        {"external_id": "f2", "submitted_at": "2026-03-01T09:00:00Z", "department": "@SUM(A1)", "nps": 1},
    ]);
    assert_eq!(
        app.json("POST", "/api/v1/responses", Some(batch)).await.0,
        StatusCode::OK
    );
    let (status, csv) = app
        .request(
            "GET",
            "/api/v1/metrics.csv?metric=nps&group_by=department",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(csv.contains("\"'=HYPERLINK(\"\"http://x\"\")\""), "{csv}");
    assert!(csv.contains(",'@SUM(A1),"), "{csv}");
    // The overall NPS is -100 and stays a number.
    assert!(csv.contains("(all),2,-100,"), "{csv}");
}
