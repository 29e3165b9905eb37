//! Server integration tests through the real router on a real SQLite file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod access;
mod api;
mod browser;
mod departments;
mod digest;
mod group_commit;
mod limits;
mod pages;
mod public_limits;
mod sessions;
mod smtp;
mod snapshots;
mod surveys;
mod understand;
mod understand_pages;
mod value;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use northstar_core::account::Role;
use northstar_store::Store;
use northstar_store::accounts;
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
    /// An admin API token, sent with every request of the helpers below.
    pub admin_token: String,
    _dir: tempfile::TempDir,
}

/// Stores an API token for a role (and department); returns its secret.
pub async fn token_for(
    store: &dyn Store,
    name: &str,
    role: Role,
    department: Option<&str>,
) -> String {
    let secret = accounts::new_api_token();
    store
        .backend()
        .insert_api_token(name, &accounts::token_hash(&secret), role, department, 0)
        .await
        .unwrap();
    secret
}

/// Stores an account with a password (hashing is slow: tests make few).
pub async fn user_for(
    store: &dyn Store,
    email: &str,
    password: &str,
    role: Role,
    department: Option<&str>,
) {
    store
        .backend()
        .insert_user(
            &accounts::NewUser {
                email: email.into(),
                role,
                department: department.map(str::to_string),
                password_hash: accounts::hash_password(password).unwrap(),
            },
            0,
        )
        .await
        .unwrap();
}

impl TestApp {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("server.db").display());
        let store = northstar_store::open(&url).await.unwrap();
        let admin_token = token_for(&*store, "test-admin", Role::Admin, None).await;
        Self {
            store,
            admin_token,
            _dir: dir,
        }
    }

    /// Sends one request through the real router with the admin token; the
    /// status and body text.
    async fn send(&self, method: &str, uri: &str, body: Body) -> (StatusCode, String) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {}", self.admin_token))
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

    /// Posts a form with the admin token (no CSRF token needed: Bearer).
    pub async fn send_form(&self, uri: &str, body: &str) -> (StatusCode, String) {
        let request = Request::post(uri)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", format!("Bearer {}", self.admin_token))
            .body(Body::from(body.to_string()))
            .unwrap();
        let (status, _, body) = self.raw(request).await;
        (status, body)
    }

    /// Sends a request as it is built (headers and all); status, headers, body.
    pub async fn raw(&self, request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
        let response = northstar_server::app(self.store.clone())
            .oneshot(request)
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            headers,
            String::from_utf8_lossy(&bytes).into_owned(),
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
