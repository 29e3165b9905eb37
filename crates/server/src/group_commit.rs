//! Group commit for survey answers: concurrent submissions share one
//! transaction, and each request is answered only after the transaction
//! holding its answer has committed.
//!
//! Why: an acknowledged answer must be durable (SQLite `synchronous=FULL`,
//! PostgreSQL `synchronous_commit=on`), and one fsync per answer caps a
//! server at a few hundred answers a second. Here a writer task takes
//! whatever is queued (up to `max_batch`) and writes it in one
//! [`Store::write_responses`]; what arrives while that commit runs forms the
//! next batch. No timer waits for a batch to fill: a lone answer on an idle
//! server is written at once.
//!
//! The queue is bounded (`max_pending` answers and `max_pending_bytes` of
//! their text, so 20,000 answers of 64 KiB cannot hold a gigabyte): beyond
//! either, [`ResponseCommitter::submit`] refuses at once with
//! [`CommitError::Busy`] (503, `Retry-After: 1`), so memory stays bounded
//! and a refused client knows to send again. A batch
//! that fails because of its rows (see `StoreError::concerns_rows`) is split
//! in halves until the failing submissions stand alone, so one bad row
//! costs about 2·log₂(n) extra transactions and never the others' answers;
//! any other failure (database down) fails the whole batch at once.
//! When every [`ResponseCommitter`] is dropped the writers write what is
//! still queued, then stop ([`ResponseCommitter::finished`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use northstar_core::response::NewResponse;
use northstar_store::{Store, StoreError};
use serde_json::json;
use tokio::sync::{Mutex, mpsc, oneshot, watch};

use crate::error::ApiError;

/// How the committer batches and how much it queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitOptions {
    /// Writer tasks. `None`: 1 on a store whose writes are serialised
    /// (SQLite: a second writer would only wait for the lock), 4 on one that
    /// writes in parallel (PostgreSQL). See [`CommitOptions::writers_for`].
    pub writers: Option<usize>,
    /// Most submissions one transaction carries. `None`: 2,000 on SQLite
    /// (a transaction costs about one fsync plus ~10 µs a row), 500 on
    /// PostgreSQL (its cost per row grows past a few hundred rows).
    pub max_batch: Option<usize>,
    /// Most submissions queued and not yet taken by a writer; more are
    /// refused with [`CommitError::Busy`].
    pub max_pending: usize,
    /// Most bytes of answer text (ids, comments, attributes…, estimated)
    /// queued or being written; more are refused with [`CommitError::Busy`].
    pub max_pending_bytes: usize,
}

/// Writers on a store that writes in parallel, unless told otherwise.
pub const PARALLEL_WRITERS: usize = 4;
/// Largest batch on a store with one writer, unless told otherwise.
pub const SERIAL_MAX_BATCH: usize = 2_000;
/// Largest batch on a store that writes in parallel, unless told otherwise.
pub const PARALLEL_MAX_BATCH: usize = 500;

impl Default for CommitOptions {
    fn default() -> Self {
        Self {
            writers: None,
            max_batch: None,
            max_pending: 20_000,
            max_pending_bytes: 64 << 20,
        }
    }
}

impl CommitOptions {
    /// The number of writer tasks for this store.
    pub fn writers_for(&self, store: &dyn Store) -> usize {
        self.writers
            .unwrap_or(if store.backend().writes_in_parallel() {
                PARALLEL_WRITERS
            } else {
                1
            })
            .max(1)
    }

    /// The largest batch for this store.
    pub fn max_batch_for(&self, store: &dyn Store) -> usize {
        self.max_batch
            .unwrap_or(if store.backend().writes_in_parallel() {
                PARALLEL_MAX_BATCH
            } else {
                SERIAL_MAX_BATCH
            })
            .max(1)
    }
}

/// Why a submission was not stored.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CommitError {
    /// The queue is full (answers or bytes): nothing was stored; send again in a moment.
    #[error(
        "the server is busy: too many answers are waiting to be written (at most {max_pending}); retry in a moment"
    )]
    Busy { max_pending: usize },
    /// The store refused or failed this submission (its own error: each
    /// submission of a failed batch is retried on its own first).
    #[error("{0}")]
    Store(Arc<StoreError>),
    /// The writers stopped (shutdown) or the write was interrupted (a
    /// panic, logged): the answer is not known to be stored.
    #[error("the answer could not be written; send it again")]
    Interrupted,
}

impl CommitError {
    /// The HTTP status: 503 when busy, the store error's own status
    /// (422 for a limit, 500 for an internal failure), 500 when interrupted.
    pub fn status(&self) -> StatusCode {
        match self {
            CommitError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            CommitError::Store(e) => {
                client_error(e).map_or(StatusCode::INTERNAL_SERVER_ERROR, |e| e.status())
            }
            CommitError::Interrupted => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Seconds the client should wait before sending again, when the
    /// answer was refused for load (`Retry-After`).
    pub fn retry_after_seconds(&self) -> Option<u64> {
        match self {
            CommitError::Busy { .. } => Some(1),
            CommitError::Store(e) if matches!(**e, StoreError::Busy(_)) => Some(1),
            _ => None,
        }
    }
}

/// The store errors a client may be told about (a limit, busy, refused),
/// as the server's usual error; `None` for internal failures.
fn client_error(e: &StoreError) -> Option<ApiError> {
    let copy = match e {
        StoreError::Limit { field, message } => StoreError::Limit {
            field: field.clone(),
            message: message.clone(),
        },
        StoreError::Busy(m) => StoreError::Busy(m.clone()),
        StoreError::Refused(m) => StoreError::Refused(m.clone()),
        StoreError::NotFound(m) => StoreError::NotFound(m.clone()),
        _ => return None,
    };
    Some(ApiError::Store(copy))
}

/// The server's usual shapes: 503 with `Retry-After: 1` when busy; a
/// client-facing store error as [`ApiError`] renders it; anything else a
/// 500 whose details go to the log and whose body the outer layer makes
/// generic (with the request id).
impl IntoResponse for CommitError {
    fn into_response(self) -> Response {
        match &self {
            CommitError::Busy { .. } => {
                tracing::warn!(error = %self, "answer refused: commit queue full");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(axum::http::header::RETRY_AFTER, "1")],
                    Json(json!({"error": {"message": self.to_string()}})),
                )
                    .into_response()
            }
            CommitError::Store(e) => match client_error(e) {
                Some(api) => api.into_response(),
                None => internal(&self),
            },
            CommitError::Interrupted => internal(&self),
        }
    }
}

fn internal(error: &CommitError) -> Response {
    tracing::error!(error = %error, details = ?error, "answer not stored");
    let mut response = (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(json!({"error": {"message": "internal error; the server log has the details"}})),
    )
        .into_response();
    response
        .extensions_mut()
        .insert(crate::limits::InternalError);
    response
}

/// What the committer has done since it started (for tests and logs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CommitStats {
    /// Batches taken from the queue.
    pub batches: u64,
    /// Transactions attempted (a batch split after a failure takes more).
    pub transactions: u64,
    /// Submissions answered Ok (duplicates of one id count each).
    pub stored: u64,
    /// Submissions answered with an error by the store.
    pub failed: u64,
    /// Submissions refused because the queue was full.
    pub refused: u64,
    /// Times a failed batch was split to find its failing rows.
    pub splits: u64,
    /// The largest batch taken so far.
    pub largest_batch: u64,
}

#[derive(Default)]
struct Counters {
    batches: AtomicU64,
    transactions: AtomicU64,
    stored: AtomicU64,
    failed: AtomicU64,
    refused: AtomicU64,
    splits: AtomicU64,
    largest_batch: AtomicU64,
}

type Reply = oneshot::Sender<Result<(), CommitError>>;

struct Submission {
    response: NewResponse,
    reply: Reply,
    /// The submission's share of `max_pending_bytes`, given back when it
    /// is answered (or dropped).
    _bytes: tokio::sync::OwnedSemaphorePermit,
}

/// Bytes an answer holds, roughly: its text plus a fixed overhead.
fn estimated_bytes(r: &NewResponse) -> usize {
    let text = |s: &Option<String>| s.as_ref().map_or(0, String::len);
    256 + r.external_id.len()
        + text(&r.customer_id)
        + r.submitted_at.len()
        + r.dimensions.0.iter().map(String::len).sum::<usize>()
        + text(&r.comment)
        + text(&r.order_id)
        + r.drivers.keys().map(|k| k.len() + 32).sum::<usize>()
        + r.attributes
            .iter()
            .map(|(k, v)| k.len() + v.len() + 64)
            .sum::<usize>()
}

/// Queues answers for the writer tasks and waits for their commit. Cheap
/// to clone; the writers stop once every clone is dropped and the queue is
/// written.
#[derive(Clone)]
pub struct ResponseCommitter {
    sender: mpsc::Sender<Submission>,
    counters: Arc<Counters>,
    max_pending: usize,
    max_pending_bytes: usize,
    bytes: Arc<tokio::sync::Semaphore>,
    writers_done: watch::Receiver<()>,
}

impl std::fmt::Debug for ResponseCommitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCommitter")
            .field("max_pending", &self.max_pending)
            .field("stats", &self.stats())
            .finish()
    }
}

impl ResponseCommitter {
    /// Starts the writer tasks on the current Tokio runtime.
    pub fn start(store: Arc<dyn Store>, options: CommitOptions) -> Self {
        let writers = options.writers_for(&*store);
        let max_batch = options.max_batch_for(&*store);
        let max_pending = options.max_pending.max(1);
        // At least one answer of the largest public body; at most what a
        // semaphore counts (and a u32 permit count).
        let max_pending_bytes = options.max_pending_bytes.clamp(
            1 << 16,
            tokio::sync::Semaphore::MAX_PERMITS.min(u32::MAX as usize),
        );
        let (sender, receiver) = mpsc::channel(max_pending);
        let receiver = Arc::new(Mutex::new(receiver));
        let counters = Arc::new(Counters::default());
        // Each writer holds the sender half; when the last one ends, the
        // receivers handed out by `finished` see it closed.
        let (done_sender, writers_done) = watch::channel(());
        let done_sender = Arc::new(done_sender);
        for _ in 0..writers {
            tokio::spawn(writer(
                store.clone(),
                receiver.clone(),
                max_batch,
                counters.clone(),
                done_sender.clone(),
            ));
        }
        tracing::debug!(writers, max_batch, max_pending, "group commit started");
        Self {
            sender,
            counters,
            max_pending,
            max_pending_bytes,
            bytes: Arc::new(tokio::sync::Semaphore::new(max_pending_bytes)),
            writers_done,
        }
    }

    /// Queues one answer and returns once the transaction holding it has
    /// committed (or with why it was not stored). A later submission of
    /// the same `external_id` in the same batch replaces it, and both are
    /// answered Ok: answering twice updates the answer.
    ///
    /// The answer is queued before this future first waits, so a caller
    /// that goes away afterwards (a client disconnecting) does not stop its
    /// answer from being written.
    pub async fn submit(&self, response: NewResponse) -> Result<(), CommitError> {
        let busy = || {
            self.counters.refused.fetch_add(1, Ordering::Relaxed);
            CommitError::Busy {
                max_pending: self.max_pending,
            }
        };
        // Never more than the whole budget: a huge answer waits for an
        // empty queue rather than being refused for ever.
        let size = estimated_bytes(&response).min(self.max_pending_bytes);
        let size = u32::try_from(size).unwrap_or(u32::MAX);
        let Ok(bytes) = self.bytes.clone().try_acquire_many_owned(size) else {
            return Err(busy());
        };
        let (reply, answer) = oneshot::channel();
        let submission = Submission {
            response,
            reply,
            _bytes: bytes,
        };
        if let Err(e) = self.sender.try_send(submission) {
            return Err(match e {
                mpsc::error::TrySendError::Full(_) => busy(),
                mpsc::error::TrySendError::Closed(_) => CommitError::Interrupted,
            });
        }
        answer.await.unwrap_or(Err(CommitError::Interrupted))
    }

    /// Counters since the start.
    pub fn stats(&self) -> CommitStats {
        let c = &self.counters;
        CommitStats {
            batches: c.batches.load(Ordering::Relaxed),
            transactions: c.transactions.load(Ordering::Relaxed),
            stored: c.stored.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            splits: c.splits.load(Ordering::Relaxed),
            largest_batch: c.largest_batch.load(Ordering::Relaxed),
        }
    }

    /// Resolves once every writer has stopped: after every committer clone
    /// is dropped and what was queued is written. Holding this future does
    /// not keep the writers alive.
    pub fn finished(&self) -> impl std::future::Future<Output = ()> + Send + use<> {
        let mut done = self.writers_done.clone();
        async move { while done.changed().await.is_ok() {} }
    }
}

/// One writer: takes what is queued, writes it, answers, repeats; ends when
/// the queue is closed and empty.
async fn writer(
    store: Arc<dyn Store>,
    receiver: Arc<Mutex<mpsc::Receiver<Submission>>>,
    max_batch: usize,
    counters: Arc<Counters>,
    _done: Arc<watch::Sender<()>>,
) {
    let mut batch = Vec::with_capacity(max_batch.min(1_024));
    loop {
        {
            // One writer waits at the queue at a time; the others are
            // committing. What it takes is whatever arrived meanwhile.
            let mut receiver = receiver.lock().await;
            if receiver.recv_many(&mut batch, max_batch).await == 0 {
                return;
            }
        }
        counters.batches.fetch_add(1, Ordering::Relaxed);
        counters
            .largest_batch
            .fetch_max(batch.len() as u64, Ordering::Relaxed);
        let taken = std::mem::take(&mut batch);
        // A panic in the store must not end the writer (later answers would
        // find no one to write them): the batch's callers are told
        // (their reply senders are dropped → `Interrupted`) and it goes on.
        let committed = std::panic::AssertUnwindSafe(commit(&*store, taken, &counters))
            .catch_unwind()
            .await;
        if committed.is_err() {
            tracing::error!("a group commit panicked; its submissions were answered with 500");
        }
    }
}

/// The submissions of one external id in one batch, in arrival order; the
/// last is the one written.
struct Group(Vec<Submission>);

impl Group {
    fn latest(&self) -> Option<&NewResponse> {
        self.0.last().map(|s| &s.response)
    }

    fn answer(self, result: &Result<(), CommitError>, counters: &Counters) {
        let counter = if result.is_ok() {
            &counters.stored
        } else {
            &counters.failed
        };
        counter.fetch_add(self.0.len() as u64, Ordering::Relaxed);
        for s in self.0 {
            // The caller may have gone away; its answer is stored anyway.
            let _ = s.reply.send(result.clone());
        }
    }
}

/// Writes one batch: each id once (its latest submission), then splits
/// parts that fail because of their rows until each failing id stands
/// alone. Every submission gets exactly one answer.
async fn commit(store: &dyn Store, batch: Vec<Submission>, counters: &Counters) {
    let mut index: HashMap<String, usize> = HashMap::with_capacity(batch.len());
    let mut groups: Vec<Group> = Vec::with_capacity(batch.len());
    for s in batch {
        match index.get(&s.response.external_id) {
            Some(&i) => groups[i].0.push(s),
            None => {
                index.insert(s.response.external_id.clone(), groups.len());
                groups.push(Group(vec![s]));
            }
        }
    }
    drop(index);
    // Parts still to write; the first half of a split is written first.
    let mut work = vec![groups];
    while let Some(part) = work.pop() {
        let rows: Vec<NewResponse> = part.iter().filter_map(Group::latest).cloned().collect();
        counters.transactions.fetch_add(1, Ordering::Relaxed);
        let count = rows.len();
        let started = std::time::Instant::now();
        let written = store.write_responses(rows).await;
        tracing::debug!(
            rows = count,
            ms = started.elapsed().as_secs_f64() * 1e3,
            ok = written.is_ok(),
            "group commit"
        );
        let error = match written {
            Ok(_) => {
                let ok = Ok(());
                for group in part {
                    group.answer(&ok, counters);
                }
                continue;
            }
            Err(e) => e,
        };
        let about_rows = error.concerns_rows();
        let mut part = part;
        if about_rows && part.len() > 1 {
            counters.splits.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %error, rows = part.len(), "a group commit failed because of its rows; splitting it");
            let second = part.split_off(part.len() / 2);
            work.push(second);
            work.push(part);
            continue;
        }
        if about_rows && let Some(mut group) = part.pop() {
            // One id alone: its latest submission is refused. Earlier ones
            // of the same id (replaced by it in the batch) are tried
            // again on their own: a valid first answer is kept even when
            // its update is refused.
            if let Some(latest) = group.0.pop() {
                Group(vec![latest]).answer(&Err(CommitError::Store(Arc::new(error))), counters);
            }
            if !group.0.is_empty() {
                work.push(vec![group]);
            }
            continue;
        }
        // Not about the rows (connection, disk, busy): every part would
        // fail alike; all of this part's callers get the error to retry.
        let result = Err(CommitError::Store(Arc::new(error)));
        for group in part {
            group.answer(&result, counters);
        }
    }
}
