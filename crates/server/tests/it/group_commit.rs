//! Group commit of survey answers against a real SQLite store: shared
//! transactions, every acknowledged answer stored, rollups exact, the last
//! of two answers of one id kept, a full queue refused, a row the store
//! refuses not costing the others their answers, the queue written on
//! shutdown.
//!
//! On a current-thread runtime (the default of `#[tokio::test]`) the writer
//! runs only when the test awaits, so `join_all` of several submissions
//! queues all of them first: they form one batch, deterministically.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::IntoResponse;
use futures_util::FutureExt;
use futures_util::future::join_all;
use northstar_core::response::NewResponse;
use northstar_core::{Dimension, DimensionValues};
use northstar_server::group_commit::{CommitError, CommitOptions, ResponseCommitter};
use northstar_store::Store;
use northstar_store::test_db::TestDb;

fn answer(id: &str, nps: u8, channel: &str) -> NewResponse {
    let mut dimensions = DimensionValues::default();
    dimensions.set(Dimension::Survey, "pulse".into());
    dimensions.set(Dimension::Channel, channel.into());
    let submitted_unix = 1_767_225_600 + i64::from(nps) * 3_600;
    NewResponse {
        external_id: id.into(),
        customer_id: None,
        submitted_at: jiff::Timestamp::from_second(submitted_unix)
            .unwrap()
            .to_string(),
        submitted_unix,
        dimensions,
        nps: Some(nps),
        csat: Some(1 + nps % 5),
        ces: None,
        fcr: None,
        comment: Some("quick delivery".into()),
        order_id: None,
        drivers: Default::default(),
        attributes: Default::default(),
    }
}

async fn sqlite() -> (TestDb, Arc<dyn Store>) {
    let db = TestDb::sqlite();
    let store = db.open().await;
    (db, store)
}

async fn assert_rollups_exact(store: &dyn Store) {
    let check = store.verify_rollups().await.unwrap();
    assert!(
        check.stored_equals_raw && check.cube_equals_stored,
        "{check:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_answers_share_transactions_and_are_all_stored() {
    let (_db, store) = sqlite().await;
    let committer = ResponseCommitter::start(store.clone(), CommitOptions::default());
    let n = 3_000;
    let started = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let committer = committer.clone();
            tokio::spawn(async move {
                let sent = Instant::now();
                committer
                    .submit(answer(&format!("r{i}"), (i % 11) as u8, "email"))
                    .await
                    .unwrap();
                sent.elapsed()
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(n);
    for task in tasks {
        latencies.push(task.await.unwrap());
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let stats = committer.stats();
    eprintln!(
        "group commit (SQLite, debug build): {n} answers in {:.2} s = {:.0}/s, p50 {:?}, p99 {:?}; {stats:?}",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64(),
        latencies[n / 2],
        latencies[n * 99 / 100],
    );
    assert_eq!(stats.stored, n as u64);
    assert!(stats.largest_batch > 1, "{stats:?}");
    assert!(stats.transactions < n as u64 / 2, "{stats:?}");
    assert_eq!(stats.failed + stats.refused + stats.splits, 0, "{stats:?}");
    assert_eq!(store.counts().await.unwrap().responses, n as u64);
    assert_rollups_exact(&*store).await;
}

#[tokio::test]
async fn a_lone_answer_on_an_idle_server_is_written_at_once() {
    let (_db, store) = sqlite().await;
    let committer = ResponseCommitter::start(store.clone(), CommitOptions::default());
    let started = Instant::now();
    committer.submit(answer("alone", 9, "email")).await.unwrap();
    // No timer waits for company: one fsync'd transaction.
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(committer.stats().transactions, 1);
    assert!(store.response("alone").await.unwrap().is_some());
}

#[tokio::test]
async fn two_answers_of_one_id_in_a_batch_keep_the_last_and_both_are_acknowledged() {
    let (_db, store) = sqlite().await;
    let committer = ResponseCommitter::start(store.clone(), CommitOptions::default());
    let results = join_all([
        committer.submit(answer("same", 2, "email")),
        committer.submit(answer("other", 5, "email")),
        committer.submit(answer("same", 10, "email")),
    ])
    .await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let stats = committer.stats();
    assert_eq!((stats.batches, stats.transactions, stats.stored), (1, 1, 3));
    assert_eq!(store.response("same").await.unwrap().unwrap().nps, Some(10));
    assert_eq!(store.counts().await.unwrap().responses, 2);
    assert_rollups_exact(&*store).await;
}

#[tokio::test]
async fn a_full_queue_refuses_at_once_with_503_and_retry_after() {
    let (_db, store) = sqlite().await;
    let committer = ResponseCommitter::start(
        store.clone(),
        CommitOptions {
            max_pending: 2,
            ..Default::default()
        },
    );
    let results =
        join_all((0..5).map(|i| committer.submit(answer(&format!("q{i}"), 7, "email")))).await;
    assert!(results[..2].iter().all(Result::is_ok), "{results:?}");
    for refused in &results[2..] {
        assert!(
            matches!(refused, Err(CommitError::Busy { max_pending: 2 })),
            "{refused:?}"
        );
    }
    assert_eq!(committer.stats().refused, 3);
    assert_eq!(store.counts().await.unwrap().responses, 2);
    let response = CommitError::Busy { max_pending: 2 }.into_response();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "1");
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("too many answers are waiting to be written (at most 2)"),
        "{body}"
    );
    // Once the queue drains, answers are taken again.
    committer.submit(answer("later", 7, "email")).await.unwrap();
}

/// The queue is bounded in bytes too: answers with long comments fill it
/// sooner than short ones.
#[tokio::test]
async fn the_queue_is_bounded_in_bytes_too() {
    let (_db, store) = sqlite().await;
    let committer = ResponseCommitter::start(
        store.clone(),
        CommitOptions {
            max_pending_bytes: 64 << 10,
            ..Default::default()
        },
    );
    let long = |id: &str| {
        let mut r = answer(id, 7, "email");
        r.comment = Some("x".repeat(9_000));
        r
    };
    let results = join_all((0..10).map(|i| committer.submit(long(&format!("l{i}"))))).await;
    let stored = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(stored, 7, "{results:?}");
    assert!(
        results[7..]
            .iter()
            .all(|r| matches!(r, Err(CommitError::Busy { .. })))
    );
    // The budget is given back once answered.
    let results = join_all((10..17).map(|i| committer.submit(long(&format!("l{i}"))))).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(store.counts().await.unwrap().responses, 14);
}

/// The store refuses a batch that would take a dimension past 1,000
/// distinct values (`StoreError::Limit`): the one answer bringing the
/// 1,001st channel is refused (422 naming the dimension), every other
/// answer of its batch is stored. When the refused one was an update of an
/// earlier answer in the same batch, that earlier answer is kept.
#[tokio::test]
async fn a_row_the_store_refuses_does_not_cost_the_others_their_answers() {
    let (_db, store) = sqlite().await;
    let channels: Vec<NewResponse> = (0..1_000)
        .map(|i| answer(&format!("seed{i}"), 8, &format!("channel-{i}")))
        .collect();
    store.write_responses(channels).await.unwrap();
    let committer = ResponseCommitter::start(store.clone(), CommitOptions::default());
    let mut batch: Vec<NewResponse> = (0..40)
        .map(|i| answer(&format!("good{i}"), (i % 11) as u8, "channel-7"))
        .collect();
    batch.insert(13, answer("bad", 3, "channel-1001"));
    batch.insert(20, answer("updated", 6, "channel-2"));
    batch.push(answer("updated", 9, "channel-1002"));
    let results = join_all(batch.into_iter().map(|r| committer.submit(r))).await;
    let refused: Vec<usize> = (0..results.len())
        .filter(|&i| results[i].is_err())
        .collect();
    // "bad" and the update of "updated" (the last submission).
    assert_eq!(refused, vec![13, results.len() - 1], "{results:?}");
    let Err(error) = &results[13] else {
        unreachable!()
    };
    assert_eq!(error.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let response = error.clone().into_response();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"]["parameter"], "channel", "{body}");
    let stats = committer.stats();
    assert_eq!(stats.batches, 1, "{stats:?}");
    assert!(stats.splits >= 1, "{stats:?}");
    // Bisection, not one transaction per answer.
    assert!(stats.transactions < 30, "{stats:?}");
    assert_eq!((stats.stored, stats.failed), (41, 2), "{stats:?}");
    for i in 0..40 {
        assert!(store.response(&format!("good{i}")).await.unwrap().is_some());
    }
    assert!(store.response("bad").await.unwrap().is_none());
    assert_eq!(
        store.response("updated").await.unwrap().unwrap().nps,
        Some(6)
    );
    assert_eq!(store.counts().await.unwrap().responses, 1_000 + 41);
    assert_rollups_exact(&*store).await;
}

/// Answers queued when the last committer is dropped — even those whose
/// callers went away — are written before the writers stop.
#[tokio::test]
async fn queued_answers_are_written_before_the_writers_stop() {
    let (_db, store) = sqlite().await;
    let committer = ResponseCommitter::start(
        store.clone(),
        CommitOptions {
            max_batch: Some(7),
            ..Default::default()
        },
    );
    let finished = committer.finished();
    for i in 0..50 {
        // Polled once: queued; then the caller is gone.
        assert!(
            committer
                .submit(answer(&format!("s{i}"), 4, "email"))
                .now_or_never()
                .is_none()
        );
    }
    let stats = committer.clone();
    drop(committer);
    // A clone is still alive: the writers go on.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), stats.finished())
            .await
            .is_err()
    );
    drop(stats);
    tokio::time::timeout(Duration::from_secs(30), finished)
        .await
        .unwrap();
    assert_eq!(store.counts().await.unwrap().responses, 50);
    assert_rollups_exact(&*store).await;
}

/// Open-loop load: answers arrive at a fixed rate (as from many
/// respondents), each timed from submission to acknowledgement. Run by
/// hand: `cargo test --release -p northstar-server --test it group_commit_load
/// -- --ignored --nocapture`; `NORTHSTAR_LOAD_RATE` (answers/s, default
/// 5000), `NORTHSTAR_LOAD_SECONDS` (5), `NORTHSTAR_LOAD_ENGINE=postgres`
/// (with `NORTHSTAR_TEST_POSTGRES_URL`), `NORTHSTAR_LOAD_WRITERS`,
/// `NORTHSTAR_LOAD_MAX_BATCH`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a measurement, run by hand"]
async fn group_commit_load() {
    let var = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let rate = var("NORTHSTAR_LOAD_RATE", 5_000);
    let seconds = var("NORTHSTAR_LOAD_SECONDS", 5);
    let engine = match std::env::var("NORTHSTAR_LOAD_ENGINE").as_deref() {
        Ok("postgres") => northstar_store::test_db::Engine::Postgres,
        _ => northstar_store::test_db::Engine::Sqlite,
    };
    let db = TestDb::new(engine)
        .await
        .expect("NORTHSTAR_TEST_POSTGRES_URL");
    let store = db.open().await;
    let writers = std::env::var("NORTHSTAR_LOAD_WRITERS")
        .ok()
        .and_then(|v| v.parse().ok());
    let committer = ResponseCommitter::start(
        store.clone(),
        CommitOptions {
            writers,
            max_batch: std::env::var("NORTHSTAR_LOAD_MAX_BATCH")
                .ok()
                .and_then(|v| v.parse().ok()),
            ..Default::default()
        },
    );
    let ticks_per_second = 200;
    let per_tick = rate / ticks_per_second;
    let mut tick = tokio::time::interval(Duration::from_secs(1) / ticks_per_second as u32);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..seconds * ticks_per_second {
        tick.tick().await;
        for k in 0..per_tick {
            let i = t * per_tick + k;
            let committer = committer.clone();
            tasks.push(tokio::spawn(async move {
                let mut r = answer(
                    &format!("load{i}"),
                    (i % 11) as u8,
                    ["email", "web", "sms"][(i % 3) as usize],
                );
                r.dimensions
                    .set(Dimension::Department, format!("dept{}", i % 7));
                r.dimensions
                    .set(Dimension::Touchpoint, format!("tp{}", i % 5));
                let sent = Instant::now();
                committer.submit(r).await.map(|()| sent.elapsed())
            }));
        }
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    let mut errors = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(l) => latencies.push(l),
            Err(_) => errors += 1,
        }
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let n = latencies.len();
    eprintln!(
        "{engine:?}, offered {rate}/s for {seconds} s: {n} stored in {:.2} s ({:.0}/s), {errors} errors; latency p50 {:?} p99 {:?} max {:?}; {:?}",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64(),
        latencies[n / 2],
        latencies[n * 99 / 100],
        latencies[n - 1],
        committer.stats(),
    );
    assert_rollups_exact(&*store).await;
}
