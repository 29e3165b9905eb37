//! The organisation's time zone: every response's day is its calendar day
//! there; changing the zone re-derives every stored day and rebuilds the
//! rollups in one transaction, and every cube follows.

use northstar_core::calendar::parse_day;
use northstar_core::rollup::{CubeQuery, GroupBy};
use northstar_store::settings::TIME_ZONE;
use northstar_store::{RespondentQuery, ResponseListQuery, Store, StoreError};

use crate::TestDb;

/// Each instant's UTC day and Paris day, in the comment of its row.
const RESPONSES: &str = "external_id,submitted_at,nps,department\n\
    late,2025-06-14T23:30:00Z,9,support\n\
    noon,2025-06-14T12:00:00Z,6,support\n\
    spring,2025-03-29T23:30:00Z,10,billing\n\
    fall_stays,2025-10-26T22:30:00Z,8,billing\n\
    fall_moves,2025-10-25T22:30:00Z,7,support\n\
    month_end,2025-06-30T22:30:00Z,3,support\n";
// late:       UTC 2025-06-14, Paris (CEST) 2025-06-15 01:30
// noon:       UTC 2025-06-14, Paris 2025-06-14
// spring:     UTC 2025-03-29, Paris (CET) 2025-03-30 00:30, the day clocks spring forward
// fall_stays: UTC 2025-10-26, Paris (CET) 2025-10-26 23:30, the day clocks fall back
// fall_moves: UTC 2025-10-25, Paris (CEST) 2025-10-26 00:30
// month_end:  UTC 2025-06-30 (June), Paris 2025-07-01 (July)

/// NPS answers per day label in the cube.
async fn answers_by_day(store: &dyn Store) -> Vec<(String, i64)> {
    let answer = store
        .query_rollups(&CubeQuery {
            from: parse_day("2025-01-01"),
            to: parse_day("2025-12-31"),
            group_by: Some(GroupBy::Day),
            ..Default::default()
        })
        .await
        .unwrap();
    answer
        .groups
        .iter()
        .filter(|g| g.summary.nps.n() > 0)
        .map(|g| (g.key.clone(), g.summary.nps.n()))
        .collect()
}

async fn answers_by_month(store: &dyn Store) -> Vec<(String, i64)> {
    let answer = store
        .query_rollups(&CubeQuery {
            group_by: Some(GroupBy::Month),
            ..Default::default()
        })
        .await
        .unwrap();
    answer
        .groups
        .iter()
        .map(|g| (g.key.clone(), g.summary.nps.n()))
        .collect()
}

fn days(pairs: &[(&str, i64)]) -> Vec<(String, i64)> {
    pairs.iter().map(|(d, n)| (d.to_string(), *n)).collect()
}

async fn assert_rollups_equal_a_rebuild(store: &dyn Store) {
    let stored = store.backend().rollup_cells().await.unwrap();
    let rebuilt = store.backend().rollup_cells_from_raw().await.unwrap();
    assert_eq!(stored, rebuilt);
    let check = store.verify_rollups().await.unwrap();
    assert!(
        check.stored_equals_raw && check.cube_equals_stored,
        "{check:?}"
    );
}

/// Ids of the responses a period filter of one day selects.
async fn ids_on(store: &dyn Store, day: &str) -> Vec<String> {
    let mut ids: Vec<String> = store
        .list_responses(&ResponseListQuery {
            selection: RespondentQuery {
                from: parse_day(day),
                to: parse_day(day),
                ..Default::default()
            },
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.external_id)
        .collect();
    ids.sort();
    ids
}

async fn changing_the_time_zone_rebuckets_every_day(db: TestDb) {
    let store = db.open().await;
    // Another process on the same database, with its own cube.
    let other = db.open().await;
    assert_eq!(
        store
            .query_rollups(&CubeQuery::default())
            .await
            .unwrap()
            .overall
            .nps
            .n(),
        0
    );
    crate::import_text(
        &*store,
        northstar_store::import::ImportKind::Responses,
        RESPONSES,
    )
    .await
    .unwrap();
    let utc_days = days(&[
        ("2025-03-29", 1),
        ("2025-06-14", 2),
        ("2025-06-30", 1),
        ("2025-10-25", 1),
        ("2025-10-26", 1),
    ]);
    assert_eq!(answers_by_day(&*store).await, utc_days);
    assert_eq!(answers_by_day(&*other).await, utc_days);
    assert_eq!(ids_on(&*store, "2025-06-14").await, ["late", "noon"]);

    let changed = store
        .change_time_zone("Europe/Paris", "admin@example.com")
        .await
        .unwrap();
    assert_eq!(changed.rebucketed, 4, "late, spring, fall_moves, month_end");
    let paris_days = days(&[
        ("2025-03-30", 1),
        ("2025-06-14", 1),
        ("2025-06-15", 1),
        ("2025-07-01", 1),
        ("2025-10-26", 2),
    ]);
    assert_eq!(answers_by_day(&*store).await, paris_days);
    assert_eq!(
        answers_by_day(&*other).await,
        paris_days,
        "the other cube reloads"
    );
    assert_eq!(
        answers_by_month(&*store).await,
        days(&[
            ("2025-03", 1),
            ("2025-06", 2),
            ("2025-07", 1),
            ("2025-10", 2)
        ])
    );
    assert_rollups_equal_a_rebuild(&*store).await;
    assert_eq!(ids_on(&*store, "2025-06-14").await, ["noon"]);
    assert_eq!(ids_on(&*store, "2025-06-15").await, ["late"]);
    assert_eq!(
        store.backend().setting(TIME_ZONE).await.unwrap().as_deref(),
        Some("Europe/Paris")
    );
    let audit = store
        .backend()
        .audit_entries(&northstar_store::accounts::AuditQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.action == "setting.change" && e.detail == "(unset) -> Europe/Paris"),
        "{audit:?}"
    );

    // Writes after the change file new rows under Paris days, and a
    // replaced row leaves the day it was stored under.
    crate::import_text(
        &*store,
        northstar_store::import::ImportKind::Responses,
        "external_id,submitted_at,nps,department\n\
         late,2025-06-16T23:30:00Z,9,support\n\
         later,2025-06-14T22:15:00Z,5,support\n",
    )
    .await
    .unwrap();
    assert_eq!(ids_on(&*store, "2025-06-15").await, ["later"]);
    assert_eq!(ids_on(&*store, "2025-06-17").await, ["late"]);
    assert_rollups_equal_a_rebuild(&*store).await;
    assert_eq!(answers_by_day(&*other).await, answers_by_day(&*store).await);

    // A rebuild keeps the zone's days.
    store.rebuild_rollups().await.unwrap();
    assert_rollups_equal_a_rebuild(&*store).await;
    assert_eq!(ids_on(&*store, "2025-06-15").await, ["later"]);

    // Half-hour zones, and back to UTC.
    let changed = store.change_time_zone("Asia/Kolkata", "cli").await.unwrap();
    // Kolkata (+05:30): later 03:45 on 06-15 stays; month_end 04:00 07-01
    // stays; spring 05:00 03-30 stays; fall_moves 04:00 10-26 stays;
    // fall_stays 04:00 10-27 moves; late 05:00 06-17 stays; noon 17:30 stays.
    assert_eq!(changed.rebucketed, 1);
    assert_eq!(ids_on(&*store, "2025-10-27").await, ["fall_stays"]);
    let changed = store.change_time_zone("UTC", "cli").await.unwrap();
    assert_eq!(changed.rebucketed, 6);
    assert_eq!(
        answers_by_day(&*store).await,
        days(&[
            ("2025-03-29", 1),
            ("2025-06-14", 2),
            ("2025-06-16", 1),
            ("2025-06-30", 1),
            ("2025-10-25", 1),
            ("2025-10-26", 1),
        ])
    );
    assert_rollups_equal_a_rebuild(&*store).await;

    // Setting the zone it has already moves nothing.
    assert_eq!(
        store
            .change_time_zone("UTC", "cli")
            .await
            .unwrap()
            .rebucketed,
        0
    );
}

async fn an_unknown_time_zone_is_refused_by_name(db: TestDb) {
    let store = db.open().await;
    let e = store
        .change_time_zone("Europe/Pariss", "cli")
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Refused(_)), "{e:?}");
    assert_eq!(
        e.to_string(),
        "time_zone: unknown IANA time zone 'Europe/Pariss'; use a name such as Europe/Paris"
    );
    assert_eq!(store.backend().setting(TIME_ZONE).await.unwrap(), None);
}

/// A copy files every response under the source's zone.
async fn a_copy_keeps_the_time_zone_days(db: TestDb) {
    let source = db.open().await;
    crate::import_text(
        &*source,
        northstar_store::import::ImportKind::Responses,
        RESPONSES,
    )
    .await
    .unwrap();
    source
        .change_time_zone("Europe/Paris", "cli")
        .await
        .unwrap();
    let target_db = TestDb::sqlite();
    let target = target_db.open().await;
    northstar_store::copy::copy_all(&*source, &*target, &mut |_, _, _| {})
        .await
        .unwrap();
    assert_eq!(
        answers_by_day(&*target).await,
        answers_by_day(&*source).await
    );
    assert_rollups_equal_a_rebuild(&*target).await;
}

crate::conformance!(
    changing_the_time_zone_rebuckets_every_day,
    an_unknown_time_zone_is_refused_by_name,
    a_copy_keeps_the_time_zone_days,
);
