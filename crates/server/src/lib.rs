//! Northstar's HTTP server: the JSON API under `/api/v1` and the HTML app.
//! Handlers see only `Arc<dyn Store>`; every figure is built by [`report`].

pub mod api;
pub mod auth;
mod chart;
pub mod demo_surveys;
pub mod demo_value;
pub mod digest;
pub mod error;
pub mod group_commit;
mod health;
pub mod invitation_mail;
pub mod limits;
pub mod params;
pub mod public_limits;
pub mod report;
pub mod routes;
pub mod survey_cache;
pub mod survey_links;
mod views;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderName, Request};
use northstar_store::Store;
use tower_http::LatencyUnit;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    /// Session cookies get `Secure` even when the request does not say it
    /// came over HTTPS (a TLS proxy that sends no `X-Forwarded-Proto`).
    pub secure_cookies: bool,
    /// Proxies whose `X-Forwarded-For` is believed (see
    /// [`auth::client_address`]).
    pub trusted_proxies: Arc<[std::net::IpAddr]>,
    /// Survey invitations go out through it (none: sending is refused
    /// with a message saying how to configure it).
    pub mailer: Option<Arc<digest::Mailer>>,
    /// Writes survey answers in shared transactions (public endpoints).
    pub committer: group_commit::ResponseCommitter,
    /// Rate limits of the public endpoints.
    pub public_limits: public_limits::PublicLimiter,
    /// Surveys the public endpoints read, kept briefly.
    pub surveys: survey_cache::SurveyCache,
}

impl AppState {
    /// The state for these options; starts the group-commit writers (call
    /// it inside a Tokio runtime).
    pub fn new(store: Arc<dyn Store>, options: &ServerOptions) -> Self {
        Self {
            committer: group_commit::ResponseCommitter::start(store.clone(), options.commit),
            public_limits: public_limits::PublicLimiter::new(options.public_limits),
            store,
            secure_cookies: options.secure_cookies,
            trusted_proxies: options.trusted_proxies.clone().into(),
            mailer: options.mailer.clone(),
            surveys: survey_cache::SurveyCache::default(),
        }
    }
}

/// How the server runs: its limits, cookie policy and trusted proxies.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    pub limits: ServerLimits,
    pub secure_cookies: bool,
    /// Addresses of the reverse proxies in front: for requests from them,
    /// the client is the last address `X-Forwarded-For` names that is not
    /// one of them (sign-in throttling per address, audit). Empty: the peer.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// SMTP for survey invitations (`serve --smtp-url …`).
    pub mailer: Option<Arc<digest::Mailer>>,
    /// Group commit of survey answers (writers, batch, queue).
    pub commit: group_commit::CommitOptions,
    /// Rate limits of the public survey endpoints.
    pub public_limits: public_limits::PublicLimits,
}

impl From<ServerLimits> for ServerOptions {
    fn from(limits: ServerLimits) -> Self {
        Self {
            limits,
            ..Default::default()
        }
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub use limits::ServerLimits;

/// The whole application with default limits, without a socket (tests call
/// it with `oneshot`).
pub fn app(store: Arc<dyn Store>) -> Router {
    app_with(store, ServerLimits::default())
}

/// The whole application with the given limits and options.
pub fn app_with(store: Arc<dyn Store>, options: impl Into<ServerOptions>) -> Router {
    let options = options.into();
    app_for(AppState::new(store, &options), options.limits)
}

/// The whole application on a state built by the caller (which may keep a
/// clone, e.g. to wait for its committer after serving).
pub fn app_for(state: AppState, limits: ServerLimits) -> Router {
    let app = routes::router()
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .with_state(state);
    with_layers(app, limits)
}

/// Wraps routes in the request id, tracing, error-shape, in-flight, deadline
/// and panic layers (public so tests can wrap routes of their own).
pub fn with_layers(router: Router, limits: ServerLimits) -> Router {
    router
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            limits::panic_response,
        ))
        .layer(axum::middleware::from_fn_with_state(
            limits::Permits::new(limits),
            limits::bounded,
        ))
        .layer(axum::middleware::from_fn(limits::internal_errors))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(trace())
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

fn trace() -> TraceLayer<
    tower_http::classify::SharedClassifier<tower_http::classify::ServerErrorsAsFailures>,
    impl Fn(&Request<axum::body::Body>) -> tracing::Span + Clone,
    tower_http::trace::DefaultOnRequest,
    DefaultOnResponse,
> {
    TraceLayer::new_for_http().make_span_with(|request: &Request<axum::body::Body>| {
        let id = request
            .headers()
            .get(&REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        tracing::info_span!("request", method = %request.method(), uri = %request.uri(), request_id = %id)
    })
    // One line per request at INFO: status and latency, inside the span above.
    .on_response(DefaultOnResponse::new().level(Level::INFO).latency_unit(LatencyUnit::Micros))
}

/// Serves the app on a bound listener until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    store: Arc<dyn Store>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, store, ServerLimits::default(), shutdown).await
}

/// How long a stopping server waits for queued survey answers to be
/// written once the last request is answered.
const COMMIT_DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Serves the app with the given limits and options until `shutdown`
/// resolves. Handlers see the peer address (sign-in throttling per address).
/// After the last request is answered, waits (bounded) for the group-commit
/// writers to write what is still queued.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    store: Arc<dyn Store>,
    options: impl Into<ServerOptions>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let options = options.into();
    let state = AppState::new(store, &options);
    let written = state.committer.finished();
    axum::serve(
        listener,
        app_for(state, options.limits)
            .into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    if tokio::time::timeout(COMMIT_DRAIN_TIMEOUT, written)
        .await
        .is_err()
    {
        tracing::error!("queued survey answers were still being written when the server stopped");
    }
    Ok(())
}
