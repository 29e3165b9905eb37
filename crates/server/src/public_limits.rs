//! Protection of the public survey endpoints (`/s/…` and `/api/v1/public/…`,
//! no sign-in): rate limits per client address and per survey, their own
//! requests-in-flight permits and a small body limit.
//!
//! Why separate from [`crate::limits`]: the staff app's write permits (4,
//! sized for 16 MiB imports) would cap public submissions at 4 at a time and
//! defeat group commit, while a flood of public answers must not take the
//! permits the staff app needs. Public requests take one permit from their
//! own pool instead (512 by default, each with at most 64 KiB of body).
//!
//! Rate limits are GCRA (the `governor` crate), keyed by the client's
//! address (an IPv6 address by its /64, what one subscriber gets) and by a
//! survey key the handler passes after it has found the survey, so unknown
//! slugs create no state. A refusal is a 429 with `Retry-After`, and the
//! client keeps its answer to send again: nothing legitimate is lost.
//! Keyed state is bounded: stale keys are dropped every few seconds and,
//! above [`PublicLimits::max_keys`], at once; if still above, requests are
//! refused (429) rather than grow the map.

use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{FromRequestParts, Request};
use axum::http::{HeaderValue, StatusCode, header, request::Parts};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use governor::clock::{Clock, MonotonicClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};
use tokio::sync::Semaphore;

use crate::AppState;
use crate::error::ApiError;
use crate::limits::ServerLimits;

/// Whether a path is one of the public survey endpoints.
pub fn is_public_path(path: &str) -> bool {
    path.starts_with("/s/") || path.starts_with("/api/v1/public/") || path.starts_with("/opt-out/")
}

/// The rate limits of the public endpoints. A rate of 0 switches that
/// limit off (load benchmarks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicLimits {
    /// Submissions a minute from one address (sustained).
    pub per_address_per_minute: u32,
    /// Submissions one address may send at once before the rate applies:
    /// an office behind one NAT answering an all-hands survey together.
    pub per_address_burst: u32,
    /// Submissions a second to one survey, from all addresses together.
    pub per_survey_per_second: u32,
    pub per_survey_burst: u32,
    /// Most keys (addresses and surveys together) whose state is kept.
    pub max_keys: usize,
}

impl Default for PublicLimits {
    fn default() -> Self {
        Self::with_rates(60, 200)
    }
}

impl PublicLimits {
    /// Limits with these rates and bursts that follow from them: one
    /// minute's worth per address (60 at once, then one a second), two
    /// seconds' worth per survey.
    pub fn with_rates(per_address_per_minute: u32, per_survey_per_second: u32) -> Self {
        Self {
            per_address_per_minute,
            per_address_burst: per_address_per_minute,
            per_survey_per_second,
            per_survey_burst: per_survey_per_second.saturating_mul(2),
            max_keys: 100_000,
        }
    }

    /// No rate limits (the load benchmark).
    pub fn off() -> Self {
        Self::with_rates(0, 0)
    }
}

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// Too many from one address.
    Address,
    /// Too many to one survey.
    Survey,
    /// Too many different addresses and surveys at once (the key cap).
    Keys,
}

/// A refused request: 429 with `Retry-After` in whole seconds (at least 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimited {
    pub kind: LimitKind,
    /// Whole seconds to wait, at least 1 (the `Retry-After` value).
    pub retry_after_seconds: u64,
    /// What the client is told: the limit and the wait.
    pub message: String,
}

impl IntoResponse for RateLimited {
    /// `{"error":{"message":…}}` like every other 429 of the server, with
    /// `Retry-After`. HTML handlers render their own page with the same
    /// status, header and message.
    fn into_response(self) -> Response {
        let mut response = ApiError::TooManyRequests(self.message).into_response();
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(self.retry_after_seconds),
        );
        response
    }
}

type Keyed<K> = RateLimiter<K, DashMapStateStore<K>, MonotonicClock, NoOpMiddleware<Instant>>;

struct Limiters {
    limits: PublicLimits,
    clock: MonotonicClock,
    by_address: Option<Keyed<IpAddr>>,
    by_survey: Option<Keyed<String>>,
    /// When the stale keys were last dropped.
    swept: std::sync::Mutex<Instant>,
}

/// Stale keys are dropped this often in the background.
const SWEEP_EVERY: Duration = Duration::from_secs(10);
/// Above the key cap, at most one on-demand sweep this often.
const URGENT_SWEEP_EVERY: Duration = Duration::from_millis(100);

/// The rate limiters of the public endpoints. Cheap to clone.
#[derive(Clone)]
pub struct PublicLimiter(Arc<Limiters>);

impl std::fmt::Debug for PublicLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicLimiter")
            .field("limits", &self.0.limits)
            .field("keys", &self.keys())
            .finish()
    }
}

fn quota(per: Duration, rate: u32, burst: u32) -> Option<Quota> {
    let rate = NonZeroU32::new(rate)?;
    let burst = NonZeroU32::new(burst.max(1))?;
    Quota::with_period(per / rate.get()).map(|q| q.allow_burst(burst))
}

impl PublicLimiter {
    /// The limiters, with a background task (on the current Tokio runtime,
    /// if any) that drops stale keys until the limiter is dropped.
    pub fn new(limits: PublicLimits) -> Self {
        let by_address = quota(
            Duration::from_secs(60),
            limits.per_address_per_minute,
            limits.per_address_burst,
        )
        .map(|q| RateLimiter::dashmap_with_clock(q, MonotonicClock));
        let by_survey = quota(
            Duration::from_secs(1),
            limits.per_survey_per_second,
            limits.per_survey_burst,
        )
        .map(|q| RateLimiter::dashmap_with_clock(q, MonotonicClock));
        let limiter = Self(Arc::new(Limiters {
            limits,
            clock: MonotonicClock,
            by_address,
            by_survey,
            swept: std::sync::Mutex::new(Instant::now()),
        }));
        if (limiter.0.by_address.is_some() || limiter.0.by_survey.is_some())
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(sweep_forever(Arc::downgrade(&limiter.0)));
        }
        limiter
    }

    /// The limits in force.
    pub fn limits(&self) -> PublicLimits {
        self.0.limits
    }

    /// Keys whose state is kept (addresses and surveys).
    pub fn keys(&self) -> usize {
        self.0.by_address.as_ref().map_or(0, |l| l.len())
            + self.0.by_survey.as_ref().map_or(0, |l| l.len())
    }

    /// Drops the keys whose state is the same as a fresh one's.
    pub fn sweep(&self) {
        self.0.sweep();
    }

    /// Counts one submission from `client` (an address as
    /// [`crate::auth::client_address`] gives it, see [`ClientAddress`]) to
    /// the survey `survey` (its slug or id, once the handler has found it).
    /// The address is checked first, so one flooding address does not use
    /// up the survey's budget for everyone else.
    pub fn check(&self, client: &str, survey: &str) -> Result<(), RateLimited> {
        let limiters = &*self.0;
        let limits = limiters.limits;
        if limiters.by_address.is_none() && limiters.by_survey.is_none() {
            return Ok(());
        }
        if self.keys() >= limits.max_keys {
            limiters.sweep_urgently();
            if self.keys() >= limits.max_keys {
                tracing::warn!(
                    max_keys = limits.max_keys,
                    "public submission refused: rate-limit key cap reached"
                );
                return Err(RateLimited {
                    kind: LimitKind::Keys,
                    retry_after_seconds: 1,
                    message: "too many answers from too many places at once; try again in 1 s"
                        .to_string(),
                });
            }
        }
        if let Some(limiter) = &limiters.by_address
            && let Err(not_until) = limiter.check_key(&address_key(client))
        {
            let wait = whole_seconds(not_until.wait_time_from(limiters.clock.now()));
            return Err(RateLimited {
                kind: LimitKind::Address,
                retry_after_seconds: wait,
                message: format!(
                    "at most {} answers a minute from one address; try again in {wait} s",
                    limits.per_address_per_minute
                ),
            });
        }
        if let Some(limiter) = &limiters.by_survey
            && let Err(not_until) = limiter.check_key(&survey.to_string())
        {
            let wait = whole_seconds(not_until.wait_time_from(limiters.clock.now()));
            return Err(RateLimited {
                kind: LimitKind::Survey,
                retry_after_seconds: wait,
                message: format!(
                    "this survey takes at most {} answers a second; try again in {wait} s",
                    limits.per_survey_per_second
                ),
            });
        }
        Ok(())
    }
}

impl Limiters {
    fn sweep(&self) {
        if let Ok(mut swept) = self.swept.lock() {
            *swept = Instant::now();
        }
        if let Some(l) = &self.by_address {
            l.retain_recent();
            l.shrink_to_fit();
        }
        if let Some(l) = &self.by_survey {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }

    /// A sweep now unless one ran in the last [`URGENT_SWEEP_EVERY`] (a
    /// sweep reads every key: not once per request under attack).
    fn sweep_urgently(&self) {
        let due = self
            .swept
            .try_lock()
            .is_ok_and(|swept| swept.elapsed() >= URGENT_SWEEP_EVERY);
        if due {
            self.sweep();
        }
    }
}

async fn sweep_forever(limiters: Weak<Limiters>) {
    loop {
        tokio::time::sleep(SWEEP_EVERY).await;
        let Some(limiters) = limiters.upgrade() else {
            return;
        };
        limiters.sweep();
    }
}

/// Rounds a wait up to whole seconds, at least 1 (`Retry-After` has no
/// fractions, and 0 would invite an immediate retry).
fn whole_seconds(wait: Duration) -> u64 {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    seconds.max(1)
}

/// The rate-limit key of an address: IPv6 by its /64 (one subscriber's
/// prefix, whose addresses are free to rotate through), IPv4 as is;
/// anything else (no peer known) as the unspecified address.
fn address_key(client: &str) -> IpAddr {
    match client.parse::<IpAddr>().map(|ip| ip.to_canonical()) {
        Ok(IpAddr::V6(v6)) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        Ok(v4) => v4,
        Err(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

/// The client's address as [`crate::auth::client_address`] gives it (the
/// peer, or what a trusted proxy says in `X-Forwarded-For`): an extractor
/// for the public handlers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddress(pub String);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientAddress(crate::auth::client_address(
            &parts.extensions,
            &parts.headers,
            &state.trusted_proxies,
        )))
    }
}

/// The public endpoints' share of [`crate::limits::bounded`]: one permit
/// from their own pool (not the staff app's request and write permits),
/// the body read up to its limit before the handler runs (413 naming the
/// limit beyond it), and the same deadline as every request.
pub(crate) async fn bounded_public(
    permits: &Arc<Semaphore>,
    limits: ServerLimits,
    request: Request,
    next: Next,
) -> Response {
    let Ok(_permit) = permits.clone().try_acquire_owned() else {
        tracing::warn!(
            limit = limits.max_public_in_flight,
            "public request refused: too many in flight"
        );
        return crate::limits::busy(format!(
            "the server is busy: more than {} survey requests in flight; retry in a moment",
            limits.max_public_in_flight
        ));
    };
    let work = async move {
        let request = if request.method().is_safe() {
            request
        } else {
            match read_body(request, limits.max_public_body_bytes).await {
                Ok(request) => request,
                Err(response) => return response,
            }
        };
        next.run(request).await
    };
    match tokio::time::timeout(limits.request_timeout, work).await {
        Ok(response) => response,
        Err(_) => crate::limits::timed_out(limits),
    }
}

/// Reads the whole body, at most `max` bytes (refused with 413 beyond,
/// before reading when `Content-Length` says so), and puts it back.
async fn read_body(request: Request, max: usize) -> Result<Request, Response> {
    let wants_html = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    let too_large = || {
        let message = format!(
            "the request body is larger than {} KiB; a survey answer is a few fields",
            max >> 10
        );
        if wants_html {
            crate::views::error_page(StatusCode::PAYLOAD_TOO_LARGE, &message)
        } else {
            ApiError::TooLarge(message).into_response()
        }
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let (parts, body) = request.into_parts();
    let mut stream = body.into_data_stream();
    let mut bytes = Vec::with_capacity(declared.map_or(0, |n| n as usize));
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadBody(e.to_string()).into_response())?;
        if bytes.len() + chunk.len() > max {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}
