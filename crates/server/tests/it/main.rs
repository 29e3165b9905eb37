//! Server integration tests through the real router on a real SQLite file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api;
mod browser;
mod limits;
mod pages;
mod snapshots;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use northstar_store::Store;
use serde_json::Value;
use tower::ServiceExt;

pub struct RunningServer {
    pub addr: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    /// Shuts down gracefully and checks that the server ended cleanly.
    pub async fn stop(self) {
        self.stop.send(()).unwrap();
        self.task.await.unwrap().unwrap();
    }
}

pub struct TestApp {
    pub store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
}

impl TestApp {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("server.db").display());
        let store = northstar_store::open(&url).await.unwrap();
        Self { store, _dir: dir }
    }

    /// Sends one request through the real router; the status and body text.
    async fn send(&self, method: &str, uri: &str, body: Body) -> (StatusCode, String) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json")
            .body(body)
            .unwrap();
        let response = northstar_server::app(self.store.clone())
            .oneshot(request)
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    pub async fn request(
        &self,
        method: &str,
        uri: &str,
        body: Option<Value>,
    ) -> (StatusCode, String) {
        let body = body.map_or(Body::empty(), |b| Body::from(b.to_string()));
        self.send(method, uri, body).await
    }

    /// Posts raw bytes (bodies that are not valid JSON values, or huge ones).
    pub async fn post_bytes(&self, uri: &str, body: Vec<u8>) -> (StatusCode, Value) {
        let (status, text) = self.send("POST", uri, Body::from(body)).await;
        (status, serde_json::from_str(&text).unwrap())
    }

    pub async fn json(&self, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
        let (status, text) = self.request(method, uri, body).await;
        (
            status,
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")),
        )
    }

    /// Serves the app on a real listener until the returned server is stopped.
    pub async fn serve(&self) -> RunningServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(northstar_server::serve(
            listener,
            self.store.clone(),
            async {
                let _ = stopped.await;
            },
        ));
        RunningServer { addr, stop, task }
    }

    /// Posts responses: `n` per (department, month) with the given NPS answers cycled.
    pub async fn seed(&self) {
        let mut items = Vec::new();
        let plan = [
            ("logistics", [3u8, 5, 9, 6]),
            ("support", [10, 9, 9, 8]),
            ("billing", [7, 9, 4, 10]),
        ];
        for (d, (dept, answers)) in plan.iter().enumerate() {
            for month in 1..=3 {
                for k in 0..40 {
                    let nps = answers[k % answers.len()];
                    items.push(serde_json::json!({
                        "external_id": format!("{dept}-{month}-{k}"),
                        "submitted_at": format!("2026-0{month}-{:02}T12:00:00Z", 1 + k % 28),
                        "department": dept,
                        "segment": if k % 2 == 0 { "smb" } else { "enterprise" },
                        "nps": nps,
                        "csat": 1 + (k + d) % 5,
                        "ces": 1 + k % 7,
                        "fcr": k % 3 != 0,
                    }));
                }
            }
        }
        let (status, body) = self
            .json("POST", "/api/v1/responses", Some(Value::Array(items)))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["inserted"], 360);
    }
}
