//! Rollups equal a rebuild from raw rows after any sequence of imports,
//! re-imports and changed rows; the in-memory cube follows every write.

use northstar_core::response::NewResponse;
use northstar_core::rollup::{CubeQuery, GroupBy};
use northstar_core::{Dimension, DimensionValues, Mergeable, ResponseSummary};
use proptest::prelude::*;

use proptest::test_runner::TestCaseError;

use crate::{Engine, TestDb, on_fresh_db};

fn response(
    id: u8,
    day: i64,
    dept: u8,
    nps: Option<u8>,
    csat: Option<u8>,
    ces: Option<u8>,
    fcr: Option<bool>,
) -> NewResponse {
    let mut dims = DimensionValues::default();
    dims.set(Dimension::Department, format!("d{dept}"));
    dims.set(
        Dimension::Segment,
        if id.is_multiple_of(2) {
            "smb".into()
        } else {
            "enterprise".into()
        },
    );
    let submitted_unix = 1_767_225_600 + day * 86_400 + i64::from(id) * 37;
    NewResponse {
        external_id: format!("r{id}"),
        customer_id: None,
        submitted_at: jiff::Timestamp::from_second(submitted_unix)
            .unwrap()
            .to_string(),
        submitted_unix,
        dimensions: dims,
        nps,
        csat,
        ces,
        fcr,
        comment: None,
        order_id: None,
        drivers: Default::default(),
        attributes: Default::default(),
    }
}

fn responses() -> impl Strategy<Value = Vec<NewResponse>> {
    prop::collection::vec(
        (
            0u8..30,
            0i64..90,
            0u8..3,
            prop::option::of(0u8..=10),
            prop::option::of(1u8..=5),
            prop::option::of(1u8..=7),
            prop::option::of(any::<bool>()),
            // Ratings of up to three drivers: sets differ between rows.
            prop::collection::btree_map(
                prop::sample::select(vec!["price", "speed", "staff"]),
                1u8..=5,
                0..=3,
            ),
        )
            .prop_map(|(id, day, dept, nps, csat, ces, fcr, drivers)| {
                let mut r = response(id, day, dept, nps, csat, ces, fcr);
                r.drivers = drivers
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect();
                r
            }),
        0..25,
    )
    // A batch names each id once (the importers report repeats).
    .prop_map(|mut batch| {
        let mut seen = std::collections::HashSet::new();
        batch.retain(|r| seen.insert(r.external_id.clone()));
        batch
    })
}

/// NPS answers in the whole cube of a store.
async fn nps_answers(store: &dyn northstar_store::Store) -> i64 {
    store
        .query_rollups(&CubeQuery::default())
        .await
        .unwrap()
        .overall
        .nps
        .n()
}

/// `n` responses, each with a department of its own (`dept<i>`), ids
/// `<prefix><i>` for i in `from..from + n`.
fn department_batch(prefix: &str, from: usize, n: usize) -> Vec<NewResponse> {
    (from..from + n)
        .map(|i| {
            let mut r = response(0, 1, 0, Some(9), None, None, None);
            r.external_id = format!("{prefix}{i}");
            r.dimensions.set(Dimension::Department, format!("dept{i}"));
            r
        })
        .collect()
}

fn cube_total(cells: &[northstar_store::RollupCell]) -> ResponseSummary {
    ResponseSummary::merge_all(cells.iter().map(|c| &c.2))
}

fn rollups_equal_a_rebuild(
    engine: Engine,
    batches: Vec<Vec<NewResponse>>,
) -> Result<(), TestCaseError> {
    on_fresh_db(engine, |db| async move {
        let store = db.open().await;
        // Load the cube first so that it is maintained incrementally.
        store.query_rollups(&CubeQuery::default()).await.unwrap();
        for batch in &batches {
            store.write_responses(batch.clone()).await.unwrap();
            // Re-importing a batch changes nothing.
            let again = store.write_responses(batch.clone()).await.unwrap();
            prop_assert_eq!(again.inserted + again.replaced, 0);
        }
        let stored = store.backend().rollup_cells().await.unwrap();
        let rebuilt = store.backend().rollup_cells_from_raw().await.unwrap();
        prop_assert_eq!(&stored, &rebuilt);
        let check = store.verify_rollups().await.unwrap();
        prop_assert!(check.moments_equal_raw, "{check:?}");
        // Key drivers answered from the stored moments equal a scan.
        for (outcome, query) in [
            (
                northstar_core::Metric::Nps,
                northstar_store::RespondentQuery::default(),
            ),
            (
                northstar_core::Metric::Csat,
                northstar_store::RespondentQuery {
                    filter: vec![
                        (Dimension::Department, "d1".into()),
                        (Dimension::Department, "d2".into()),
                        (Dimension::Segment, "smb".into()),
                    ],
                    from: Some(20_454 + 10),
                    to: Some(20_454 + 60),
                },
            ),
        ] {
            let stored = store.driver_moments(&query, outcome).await.unwrap();
            let mut scanned = store
                .backend()
                .driver_moments(&query, outcome)
                .await
                .unwrap();
            scanned
                .by_set
                .sort_by(|a, b| b.1.n().cmp(&a.1.n()).then_with(|| a.0.cmp(&b.0)));
            prop_assert_eq!(&stored.by_set, &scanned.by_set);
            prop_assert_eq!(stored.without_drivers, scanned.without_drivers);
            prop_assert_eq!(stored.left_out, scanned.left_out);
        }

        // The cube kept up to date write by write answers like one
        // loaded afresh from a rebuild, for groupings and date ranges.
        let start = 20_454; // 2026-01-01
        let queries = [
            CubeQuery {
                group_by: Some(GroupBy::Dimension(Dimension::Department)),
                ..Default::default()
            },
            CubeQuery {
                group_by: Some(GroupBy::Month),
                ..Default::default()
            },
            CubeQuery {
                from: Some(start + 17),
                to: Some(start + 48),
                group_by: Some(GroupBy::Month),
                ..Default::default()
            },
            CubeQuery {
                to: Some(start + 40),
                filter: vec![(Dimension::Segment, "smb".into())],
                group_by: Some(GroupBy::Dimension(Dimension::Segment)),
                ..Default::default()
            },
        ];
        let incremental = store.query_rollups_many(&queries).await.unwrap();
        prop_assert_eq!(incremental[0].overall, cube_total(&stored));

        store.rebuild_rollups().await.unwrap();
        prop_assert_eq!(store.backend().rollup_cells().await.unwrap(), rebuilt);
        prop_assert!(store.verify_rollups().await.unwrap().moments_equal_raw);
        prop_assert_eq!(
            store.query_rollups_many(&queries).await.unwrap(),
            incremental
        );
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn rollups_equal_a_rebuild_after_any_sequence_of_writes_on_sqlite(batches in prop::collection::vec(responses(), 1..6)) {
        rollups_equal_a_rebuild(Engine::Sqlite, batches)?;
    }

    #[test]
    fn rollups_equal_a_rebuild_after_any_sequence_of_writes_on_postgres(batches in prop::collection::vec(responses(), 1..6)) {
        rollups_equal_a_rebuild(Engine::Postgres, batches)?;
    }
}

async fn a_second_process_writing_is_seen_by_the_first(db: TestDb) {
    let server = db.open().await;
    let cli = db.open().await;
    assert_eq!(nps_answers(&*server).await, 0);
    cli.write_responses(vec![response(1, 3, 0, Some(10), None, None, None)])
        .await
        .unwrap();
    assert_eq!(nps_answers(&*server).await, 1);
}

async fn another_process_s_writes_are_replayed_not_reloaded(db: TestDb) {
    let server = db.open().await;
    let cli = db.open().await;
    server.query_rollups(&CubeQuery::default()).await.unwrap();
    assert_eq!(server.cube_status().loads, 1);
    for i in 0..5u8 {
        cli.write_responses(vec![response(
            i,
            i64::from(i),
            i % 3,
            Some(9),
            Some(4),
            None,
            None,
        )])
        .await
        .unwrap();
        // A changed row: retracts the old answer and adds the new one.
        cli.write_responses(vec![response(
            i,
            i64::from(i),
            i % 3,
            Some(3),
            Some(2),
            None,
            None,
        )])
        .await
        .unwrap();
        let answer = server.query_rollups(&CubeQuery::default()).await.unwrap();
        assert_eq!(answer.overall.nps.n(), i64::from(i) + 1);
        assert_eq!(answer.overall.nps.detractors(), i64::from(i) + 1);
    }
    let status = server.cube_status();
    assert_eq!(status.loads, 1, "{status:?}");
    assert_eq!(status.replays, 5, "{status:?}");
    let check = server.verify_rollups().await.unwrap();
    assert!(
        check.stored_equals_raw && check.cube_equals_stored,
        "{check:?}"
    );

    // A rebuild leaves no delta: the other process reloads and still agrees.
    cli.rebuild_rollups().await.unwrap();
    cli.write_responses(vec![response(9, 9, 0, Some(10), None, None, None)])
        .await
        .unwrap();
    assert_eq!(nps_answers(&*server).await, 6);
    assert_eq!(server.cube_status().loads, 2);
    let check = server.verify_rollups().await.unwrap();
    assert!(
        check.stored_equals_raw && check.cube_equals_stored,
        "{check:?}"
    );
}

async fn a_batch_may_not_name_an_id_twice(db: TestDb) {
    let store = db.open().await;
    let r = response(1, 1, 0, Some(9), None, None, None);
    let e = store.write_responses(vec![r.clone(), r]).await.unwrap_err();
    assert!(e.to_string().contains("appears twice"), "{e}");
    assert_eq!(store.counts().await.unwrap().responses, 0);
}

async fn distinct_values_per_dimension_are_capped(db: TestDb) {
    let store = db.open().await;
    let cap = northstar_store::MAX_DISTINCT_VALUES;
    let batch = |offset: usize, n: usize| department_batch("x", offset, n);
    store.write_responses(batch(0, cap - 1)).await.unwrap();
    let e = store.write_responses(batch(cap, 2)).await.unwrap_err();
    let message = e.to_string();
    assert!(message.starts_with("department: "), "{message}");
    assert!(
        message.contains(&format!("at most {cap} distinct values")),
        "{message}"
    );
    assert_eq!(store.counts().await.unwrap().responses, (cap - 1) as u64);
    // Values already present may be used again; one more new value fits.
    store
        .write_responses(
            batch(0, 5)
                .into_iter()
                .map(|mut r| {
                    r.external_id.push('b');
                    r
                })
                .collect(),
        )
        .await
        .unwrap();
    store.write_responses(batch(cap, 1)).await.unwrap();
}

/// A cube that keeps day cells for one month answers questions about
/// single days of older months from the database, exactly like a cube that
/// keeps every day, and follows writes and retractions there.
async fn a_compacted_cube_answers_old_days_from_the_database(db: TestDb) {
    let compact = db
        .open_with(northstar_store::OpenOptions {
            day_cell_months: Some(1),
            ..Default::default()
        })
        .await;
    let full = db
        .open_with(northstar_store::OpenOptions {
            day_cell_months: None,
            ..Default::default()
        })
        .await;
    // 2026-01-01 … 2026-03-31 (older than a month whenever the test runs
    // after April 2026), several departments, answers on a few days.
    let batch: Vec<NewResponse> = (0..60u8)
        .map(|i| {
            response(
                i,
                i64::from(i) * 3 % 90,
                i % 3,
                Some(i % 11),
                Some(i % 5 + 1),
                None,
                Some(i % 2 == 0),
            )
        })
        .collect();
    compact.write_responses(batch.clone()).await.unwrap();
    let start = 20_454; // 2026-01-01
    let queries: Vec<CubeQuery> = [
        (Some(start + 10), Some(start + 40)),
        (Some(start + 5), Some(start + 20)),
        (None, Some(start + 50)),
        (Some(start + 31), None),
        (None, None),
    ]
    .into_iter()
    .flat_map(|(from, to)| {
        [
            None,
            Some(GroupBy::Month),
            Some(GroupBy::Dimension(Dimension::Department)),
        ]
        .map(|group_by| CubeQuery {
            from,
            to,
            group_by,
            filter: vec![(Dimension::Segment, "smb".into())],
        })
    })
    .collect();
    let check = |label: &'static str| {
        let (compact, full, queries) = (compact.clone(), full.clone(), queries.clone());
        async move {
            let a = compact.query_rollups_many(&queries).await.unwrap();
            let b = full.query_rollups_many(&queries).await.unwrap();
            assert_eq!(a, b, "{label}");
            let v = compact.verify_rollups().await.unwrap();
            assert!(
                v.stored_equals_raw && v.cube_equals_stored,
                "{label}: {v:?}"
            );
        }
    };
    check("after the first write").await;
    // Changed rows move answers between days and retract edge days.
    let changed: Vec<NewResponse> = batch
        .iter()
        .take(10)
        .map(|r| {
            let mut r = r.clone();
            r.submitted_unix += 86_400 * 2;
            r.submitted_at = jiff::Timestamp::from_second(r.submitted_unix)
                .unwrap()
                .to_string();
            r.nps = None;
            r
        })
        .collect();
    compact.write_responses(changed).await.unwrap();
    check("after changes").await;
}

/// Two batches written at once cannot pass the cap together.
async fn concurrent_batches_cannot_pass_the_distinct_value_cap_together(db: TestDb) {
    let store = db.open().await;
    let cap = northstar_store::MAX_DISTINCT_VALUES;
    let batch = department_batch;
    store
        .write_responses(batch("a", 0, cap - 10))
        .await
        .unwrap();
    let (x, y) = tokio::join!(
        store.write_responses(batch("b", cap, 6)),
        store.write_responses(batch("c", cap + 6, 6)),
    );
    assert!(x.is_ok() != y.is_ok(), "exactly one fits: {x:?} {y:?}");
    assert_eq!(
        store
            .dimension_values(Dimension::Department)
            .await
            .unwrap()
            .len(),
        cap - 4
    );
}

/// The delta log keeps the last 64 writes: a process further behind reloads
/// once instead of replaying an unbounded log.
async fn a_process_far_behind_reloads_and_the_log_stays_bounded(db: TestDb) {
    let server = db.open().await;
    let cli = db.open().await;
    server.query_rollups(&CubeQuery::default()).await.unwrap();
    for i in 0..70u8 {
        let mut r = response(
            i % 30,
            i64::from(i % 60),
            i % 3,
            Some(i % 11),
            None,
            None,
            None,
        );
        r.external_id = format!("far{i}");
        cli.write_responses(vec![r]).await.unwrap();
    }
    let answer = server.query_rollups(&CubeQuery::default()).await.unwrap();
    assert_eq!(answer.overall.nps.n(), 70);
    assert_eq!(server.cube_status().loads, 2, "{:?}", server.cube_status());
    assert_eq!(cli.counts().await.unwrap().logged_deltas, 64);
    // A process a few writes behind replays them.
    for i in 70..73u8 {
        let mut r = response(i % 30, 1, 0, Some(9), None, None, None);
        r.external_id = format!("far{i}");
        cli.write_responses(vec![r]).await.unwrap();
    }
    let answer = server.query_rollups(&CubeQuery::default()).await.unwrap();
    assert_eq!(answer.overall.nps.n(), 73);
    let status = server.cube_status();
    assert_eq!((status.loads, status.replays), (2, 1), "{status:?}");
    let check = server.verify_rollups().await.unwrap();
    assert!(
        check.stored_equals_raw && check.cube_equals_stored,
        "{check:?}"
    );
}

/// Moment deltas are logged one row per write and folded into the table
/// every few writes: across folds, replacements and an erasure the stored
/// moments equal a scan.
async fn driver_moments_survive_log_folds(db: TestDb) {
    let store = db.open().await;
    for batch in 0..40usize {
        let rows: Vec<NewResponse> = (0..5)
            .map(|i| {
                let id = (batch * 5 + i) % 130;
                let mut r = response(
                    0,
                    (id % 20) as i64,
                    (id % 3) as u8,
                    Some((id % 11) as u8),
                    Some(1 + (batch % 5) as u8),
                    None,
                    None,
                );
                r.external_id = format!("m{id}");
                r.customer_id = Some(format!("C{}", id % 7));
                r.drivers = [
                    ("price".to_string(), 1 + (id % 5) as u8),
                    ("speed".to_string(), 1 + (batch % 5) as u8),
                ]
                .into();
                r
            })
            .collect();
        store.write_responses(rows).await.unwrap();
    }
    let check = store.verify_rollups().await.unwrap();
    assert!(check.moments_equal_raw, "{check:?}");
    store.erase_customer("C3").await.unwrap();
    let check = store.verify_rollups().await.unwrap();
    assert!(check.moments_equal_raw, "{check:?}");
    let query = northstar_store::RespondentQuery::default();
    let stored = store
        .driver_moments(&query, northstar_core::Metric::Nps)
        .await
        .unwrap();
    let scanned = store
        .backend()
        .driver_moments(&query, northstar_core::Metric::Nps)
        .await
        .unwrap();
    assert_eq!(stored.by_set, scanned.by_set);
}

crate::conformance!(
    driver_moments_survive_log_folds,
    a_second_process_writing_is_seen_by_the_first,
    another_process_s_writes_are_replayed_not_reloaded,
    a_batch_may_not_name_an_id_twice,
    distinct_values_per_dimension_are_capped,
    concurrent_batches_cannot_pass_the_distinct_value_cap_together,
    a_compacted_cube_answers_old_days_from_the_database,
    a_process_far_behind_reloads_and_the_log_stays_bounded,
);
