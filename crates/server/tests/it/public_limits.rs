//! Protection of the public survey endpoints: rate limits per address and
//! per survey (429 with Retry-After), `X-Forwarded-For` believed only from
//! a trusted proxy, the key cap, the 64 KiB body limit and the public
//! endpoints' own in-flight permits. The router-level tests use a throwaway
//! `/s/{slug}` route of their own (the real survey routes live in
//! `routes.rs`) behind the server's real layers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use northstar_server::public_limits::{
    ClientAddress, LimitKind, PublicLimiter, PublicLimits, is_public_path,
};
use northstar_server::{AppState, ServerLimits, ServerOptions, with_layers};
use serde_json::Value;
use tower::ServiceExt;

use crate::TestApp;

fn limits(per_address: (u32, u32), per_survey: (u32, u32)) -> PublicLimits {
    PublicLimits {
        per_address_per_minute: per_address.0,
        per_address_burst: per_address.1,
        per_survey_per_second: per_survey.0,
        per_survey_burst: per_survey.1,
        max_keys: 1_000,
    }
}

async fn body_json(response: Response) -> Value {
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn public_paths_are_the_survey_links_and_the_public_api() {
    assert!(is_public_path("/s/abc"));
    assert!(is_public_path("/s/a/pulse"));
    assert!(is_public_path("/api/v1/public/widget/pulse"));
    assert!(!is_public_path("/sign-in"));
    assert!(!is_public_path("/static/northstar.css"));
    assert!(!is_public_path("/api/v1/responses"));
    assert!(!is_public_path("/surveys"));
}

#[tokio::test]
async fn an_address_past_its_burst_gets_429_with_retry_after_and_others_pass() {
    let limiter = PublicLimiter::new(limits((60, 3), (0, 0)));
    for _ in 0..3 {
        limiter.check("203.0.113.5", "pulse").unwrap();
    }
    let refused = limiter.check("203.0.113.5", "pulse").unwrap_err();
    assert_eq!(refused.kind, LimitKind::Address);
    // One a second replenishes: the next answer is welcome within a second.
    assert_eq!(refused.retry_after_seconds, 1);
    assert_eq!(
        refused.message,
        "at most 60 answers a minute from one address; try again in 1 s"
    );
    // Another address passes; the same address is limited for any survey.
    limiter.check("203.0.113.6", "pulse").unwrap();
    assert!(limiter.check("203.0.113.5", "other").is_err());
    let response = refused.into_response();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "1");
    let body = body_json(response).await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("at most 60 answers a minute"),
        "{body}"
    );
}

#[tokio::test]
async fn retry_after_is_whole_seconds_of_the_real_wait() {
    // One answer every 30 s, two at once.
    let limiter = PublicLimiter::new(limits((2, 2), (0, 0)));
    limiter.check("198.51.100.1", "pulse").unwrap();
    limiter.check("198.51.100.1", "pulse").unwrap();
    let refused = limiter.check("198.51.100.1", "pulse").unwrap_err();
    assert!(
        (29..=30).contains(&refused.retry_after_seconds),
        "{refused:?}"
    );
    assert!(
        refused
            .message
            .ends_with(&format!("try again in {} s", refused.retry_after_seconds))
    );
}

#[tokio::test]
async fn a_survey_past_its_burst_is_refused_across_addresses() {
    let limiter = PublicLimiter::new(limits((60, 60), (1, 5)));
    for i in 0..5 {
        limiter.check(&format!("192.0.2.{i}"), "pulse").unwrap();
    }
    let refused = limiter.check("192.0.2.200", "pulse").unwrap_err();
    assert_eq!(refused.kind, LimitKind::Survey);
    assert_eq!(
        refused.message,
        "this survey takes at most 1 answers a second; try again in 1 s"
    );
    limiter.check("192.0.2.201", "another-survey").unwrap();
}

#[tokio::test]
async fn ipv6_addresses_count_by_their_64_prefix() {
    let limiter = PublicLimiter::new(limits((60, 2), (0, 0)));
    limiter.check("2001:db8:1:2::1", "pulse").unwrap();
    limiter.check("2001:db8:1:2:ffff::9", "pulse").unwrap();
    assert!(limiter.check("2001:db8:1:2::abcd", "pulse").is_err());
    limiter.check("2001:db8:1:3::1", "pulse").unwrap();
    // An IPv4 client reaching an IPv6 socket is its IPv4 address.
    limiter.check("::ffff:192.0.2.1", "pulse").unwrap();
    limiter.check("192.0.2.1", "pulse").unwrap();
    assert!(limiter.check("192.0.2.1", "pulse").is_err());
}

#[tokio::test]
async fn zero_switches_a_limit_off() {
    let limiter = PublicLimiter::new(PublicLimits::off());
    for _ in 0..10_000 {
        limiter.check("203.0.113.5", "pulse").unwrap();
    }
    assert_eq!(limiter.keys(), 0);
}

/// Keys are bounded: above the cap, stale keys are dropped at once; while
/// every key is still live, a new one is refused (429) rather than kept.
#[tokio::test]
async fn the_keys_kept_are_capped() {
    // One answer per 10 ms per address: a key is stale 10 ms after use.
    let limiter = PublicLimiter::new(PublicLimits {
        max_keys: 4,
        ..limits((6_000, 1), (0, 0))
    });
    for i in 0..4 {
        limiter.check(&format!("10.0.0.{i}"), "pulse").unwrap();
    }
    assert_eq!(limiter.keys(), 4);
    let refused = limiter.check("10.0.0.99", "pulse").unwrap_err();
    assert_eq!(refused.kind, LimitKind::Keys);
    assert_eq!(refused.retry_after_seconds, 1);
    assert_eq!(limiter.keys(), 4);
    // An address rotating through many: the map never grows past the cap.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let mut passed = 0;
    for i in 0..2_000 {
        if limiter
            .check(&format!("10.1.{}.{}", i / 256, i % 256), "pulse")
            .is_ok()
        {
            passed += 1;
        }
        assert!(limiter.keys() <= 4);
    }
    assert!(passed >= 4, "{passed}");
    tokio::time::sleep(Duration::from_millis(20)).await;
    limiter.sweep();
    assert_eq!(limiter.keys(), 0);
}

/// A throwaway public route: the handler checks the limiter with the
/// client's address and echoes the body's length.
async fn submit(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    Path(slug): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(refused) = state.public_limits.check(&client, &slug) {
        return refused.into_response();
    }
    format!("{client} {}", body.len()).into_response()
}

fn router(store: Arc<dyn northstar_store::Store>, options: ServerOptions) -> Router {
    let state = AppState::new(store, &options);
    with_layers(
        Router::new()
            .route("/s/{slug}", post(submit))
            .with_state(state),
        options.limits,
    )
}

fn post_from(peer: &str, forwarded: Option<&str>, body: Body) -> Request<Body> {
    let mut request = Request::post("/s/pulse");
    if let Some(f) = forwarded {
        request = request.header("x-forwarded-for", f);
    }
    let mut request = request.body(body).unwrap();
    let peer: SocketAddr = format!("{peer}:40000").parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(peer));
    request
}

async fn send(router: &Router, request: Request<Body>) -> (StatusCode, String) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn x_forwarded_for_is_believed_only_from_a_trusted_proxy() {
    let app = TestApp::new().await;
    let router = router(
        app.store.clone(),
        ServerOptions {
            trusted_proxies: vec!["10.9.9.9".parse().unwrap()],
            public_limits: limits((60, 2), (0, 0)),
            ..Default::default()
        },
    );
    // Behind the trusted proxy: each client by its own address.
    for _ in 0..2 {
        let (status, body) = send(
            &router,
            post_from("10.9.9.9", Some("203.0.113.5"), Body::empty()),
        )
        .await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "203.0.113.5 0"));
    }
    let (status, _) = send(
        &router,
        post_from("10.9.9.9", Some("203.0.113.5"), Body::empty()),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let (status, _) = send(
        &router,
        post_from("10.9.9.9", Some("203.0.113.6"), Body::empty()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // A client forging the header gains nothing: it is its own peer.
    for i in 0..2 {
        let forged = format!("198.51.100.{i}");
        let (status, body) = send(
            &router,
            post_from("192.0.2.7", Some(&forged), Body::empty()),
        )
        .await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "192.0.2.7 0"));
    }
    let response = router
        .clone()
        .oneshot(post_from("192.0.2.7", Some("198.51.100.77"), Body::empty()))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "1");
}

#[tokio::test]
async fn a_public_body_over_64_kib_is_refused_with_413_naming_the_limit() {
    let app = TestApp::new().await;
    let router = router(app.store.clone(), ServerOptions::default());
    let limit = 64 << 10;
    let (status, body) = send(
        &router,
        post_from("192.0.2.1", None, Body::from(vec![b'a'; limit])),
    )
    .await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "192.0.2.1 65536"));
    let (status, body) = send(
        &router,
        post_from("192.0.2.1", None, Body::from(vec![b'a'; limit + 1])),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("larger than 64 KiB"),
        "{body}"
    );
    // Without Content-Length (chunked): counted as it arrives.
    let chunks = futures_util::stream::iter(
        (0..20).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'b'; 4_096]))),
    );
    let (status, _) = send(
        &router,
        post_from("192.0.2.1", None, Body::from_stream(chunks)),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // A browser gets a page.
    let mut request = post_from("192.0.2.1", None, Body::from(vec![b'a'; limit + 1]));
    request
        .headers_mut()
        .insert("accept", "text/html".parse().unwrap());
    let (status, body) = send(&router, request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        body.contains("larger than 64 KiB") && body.contains("<html"),
        "{body}"
    );
}

/// Public requests take permits of their own: a staff app with its one
/// write permit taken does not stop survey answers, and the public pool
/// full refuses only public requests (503 with Retry-After).
#[tokio::test]
async fn public_requests_have_their_own_permits() {
    let app = TestApp::new().await;
    let options = ServerOptions {
        limits: ServerLimits {
            max_writes_in_flight: 1,
            max_public_in_flight: 1,
            ..Default::default()
        },
        public_limits: PublicLimits::off(),
        ..Default::default()
    };
    let state = AppState::new(app.store.clone(), &options);
    let router = with_layers(
        Router::new()
            .route("/s/{slug}", post(submit))
            .route("/staff", post(|| async { "staff" }))
            .with_state(state),
        options.limits,
    );
    let never =
        || Body::from_stream(futures_util::stream::pending::<Result<Bytes, std::io::Error>>());
    // A stalled staff write holds the one write permit.
    let staff = tokio::spawn(
        router
            .clone()
            .oneshot(Request::post("/staff").body(never()).unwrap()),
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, _) = send(&router, post_from("192.0.2.1", None, Body::from("nps=9"))).await;
    assert_eq!(status, StatusCode::OK);
    // A stalled public upload holds the one public permit.
    let public = tokio::spawn(
        router
            .clone()
            .oneshot(post_from("192.0.2.2", None, never())),
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let response = router
        .clone()
        .oneshot(post_from("192.0.2.1", None, Body::from("nps=9")))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "1");
    let body = body_json(response).await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("more than 1 survey requests in flight"),
        "{body}"
    );
    staff.abort();
    public.abort();
    let _ = (staff.await, public.await);
}
