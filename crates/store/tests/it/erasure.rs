//! Reading responses newest first, erasing a customer (rollups decremented
//! exactly, as a rebuild and a store that never had the customer agree) and
//! anonymising old responses, on both backends.

use northstar_core::customer::NewCustomer;
use northstar_core::operation::NewOperation;
use northstar_core::response::NewResponse;
use northstar_core::rollup::CubeQuery;
use northstar_core::{Dimension, DimensionValues};
use northstar_store::{RespondentQuery, ResponseListQuery, Store};

use crate::TestDb;

fn response(
    id: usize,
    customer: Option<&str>,
    day: i64,
    dept: &str,
    comment: Option<&str>,
) -> NewResponse {
    let mut dims = DimensionValues::default();
    dims.set(Dimension::Department, dept.to_string());
    dims.set(
        Dimension::Segment,
        if id.is_multiple_of(2) {
            "smb".into()
        } else {
            "enterprise".into()
        },
    );
    let submitted_unix = 1_767_225_600 + day * 86_400 + (id as i64) * 61;
    NewResponse {
        external_id: format!("r{id:03}"),
        customer_id: customer.map(str::to_string),
        submitted_at: jiff::Timestamp::from_second(submitted_unix)
            .unwrap()
            .to_string(),
        submitted_unix,
        dimensions: dims,
        nps: Some((id % 11) as u8),
        csat: Some(1 + (id % 5) as u8),
        ces: id.is_multiple_of(3).then_some(1 + (id % 7) as u8),
        fcr: Some(id.is_multiple_of(2)),
        comment: comment.map(str::to_string),
        order_id: Some(format!("SO-{id}")),
        // Driver moments are retracted with the responses.
        drivers: if id.is_multiple_of(2) {
            [("speed".to_string(), 1 + (id % 5) as u8)].into()
        } else {
            Default::default()
        },
        attributes: [("contact".to_string(), format!("person{id}@example.com"))].into(),
    }
}

fn customer(id: &str, segment: &str) -> NewCustomer {
    NewCustomer {
        customer_id: id.into(),
        segment: Some(segment.into()),
        region: None,
        annual_value: Some(1000.0),
        churned: None,
        churned_on: None,
        acquired_on: None,
        attributes: Default::default(),
    }
}

fn operation(order: usize, customer: Option<&str>, day: i64) -> NewOperation {
    NewOperation {
        department: "logistics".into(),
        order_id: format!("SO-{order}"),
        measure: "delivery_days".into(),
        customer_id: customer.map(str::to_string),
        occurred_at: None,
        occurred_unix: Some(1_767_225_600 + day * 86_400),
        value: 3.0,
        target: Some(5.0),
        attributes: Default::default(),
    }
}

/// 60 responses over 40 days and three departments, customers C0..C3 in
/// turn (every fifth anonymous), some with comments.
fn data() -> Vec<NewResponse> {
    let depts = ["support", "billing", "logistics"];
    (0..60)
        .map(|i| {
            let customer = format!("C{}", i % 4);
            let comment = (i % 3 != 1).then(|| format!("comment {i}"));
            response(
                i,
                (i % 5 != 0).then_some(customer.as_str()),
                (i % 40) as i64,
                depts[i % 3],
                comment.as_deref(),
            )
        })
        .collect()
}

async fn seed(store: &dyn Store, rows: Vec<NewResponse>) {
    store.write_responses(rows).await.unwrap();
    store
        .write_customers(
            (0..4)
                .map(|c| {
                    customer(
                        &format!("C{c}"),
                        if c % 2 == 0 { "smb" } else { "enterprise" },
                    )
                })
                .collect(),
        )
        .await
        .unwrap();
    store
        .write_operations(
            (0..8)
                .map(|o| operation(o, Some(&format!("C{}", o % 4)), o as i64))
                .collect(),
        )
        .await
        .unwrap();
}

async fn list_reads_newest_first_by_filter_and_cursor(db: TestDb) {
    let store = db.open().await;
    let rows = data();
    store.write_responses(rows.clone()).await.unwrap();
    let mut all = Vec::new();
    let mut query = ResponseListQuery {
        with_comment: false,
        limit: 7,
        ..Default::default()
    };
    loop {
        let page = store.list_responses(&query).await.unwrap();
        assert!(page.len() <= 7);
        let Some(last) = page.last() else { break };
        query.before = Some((last.submitted_unix, last.external_id.clone()));
        all.extend(page);
    }
    assert_eq!(all.len(), rows.len(), "each response once");
    let mut expected = rows.clone();
    expected.sort_by(|a, b| {
        (b.submitted_unix, &b.external_id).cmp(&(a.submitted_unix, &a.external_id))
    });
    assert_eq!(all, expected, "newest first, as stored");

    let filtered = store
        .list_responses(&ResponseListQuery {
            selection: RespondentQuery {
                filter: vec![
                    (Dimension::Department, "support".into()),
                    (Dimension::Department, "billing".into()),
                    (Dimension::Segment, "smb".into()),
                ],
                from: Some(northstar_core::calendar::parse_day("2026-01-05").unwrap()),
                to: None,
            },
            with_comment: true,
            before: None,
            limit: 500,
        })
        .await
        .unwrap();
    let want: Vec<&NewResponse> = expected
        .iter()
        .filter(|r| {
            ["support", "billing"].contains(&r.dimensions.get(Dimension::Department))
                && r.dimensions.get(Dimension::Segment) == "smb"
                && r.comment.is_some()
                && r.day_in(&jiff::tz::TimeZone::UTC)
                    >= northstar_core::calendar::parse_day("2026-01-05").unwrap()
        })
        .collect();
    assert!(!want.is_empty());
    assert_eq!(filtered.iter().collect::<Vec<_>>(), want);
    // The page size is capped; a NUL value matches nothing.
    let capped = store
        .list_responses(&ResponseListQuery {
            limit: 100_000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(capped.len(), 60);
    let none = store
        .list_responses(&ResponseListQuery {
            selection: RespondentQuery {
                filter: vec![(Dimension::Department, "support\0".into())],
                ..Default::default()
            },
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(none.is_empty());
}

async fn erasing_a_customer_decrements_exactly(db: TestDb) {
    let store = db.open().await;
    let other_process = db.open().await;
    let rows = data();
    seed(&*store, rows.clone()).await;
    // The other process has its cube loaded before the erasure.
    let before = other_process
        .query_rollups(&CubeQuery::default())
        .await
        .unwrap();
    assert_eq!(before.overall.nps.n(), 60);
    let respondents_before = store
        .respondents_by_segment(&RespondentQuery::default())
        .await
        .unwrap();

    // C1 is in a pilot's groups: erasure takes it out of them too.
    let pilot = store
        .backend()
        .create_pilot("erasure", "{}", "cx", 1)
        .await
        .unwrap();
    let group = |id: &str, group| northstar_store::value_records::Assignment {
        customer_id: id.into(),
        group,
        stratum: String::new(),
    };
    store
        .backend()
        .put_assignments(
            pilot,
            &[
                group("C1", northstar_store::value_records::PilotGroup::Pilot),
                group("C2", northstar_store::value_records::PilotGroup::Control),
            ],
            "as given",
            None,
            "cx",
            2,
        )
        .await
        .unwrap();
    let erased = store.erase_customer("C1").await.unwrap();
    let left: Vec<String> = store
        .backend()
        .assignments(pilot)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.customer_id)
        .collect();
    assert_eq!(left, ["C2"]);
    let c1: Vec<&NewResponse> = rows
        .iter()
        .filter(|r| r.customer_id.as_deref() == Some("C1"))
        .collect();
    assert_eq!(erased.responses, c1.len() as u64);
    assert_eq!((erased.customers, erased.operations), (1, 2));
    for r in &c1 {
        assert_eq!(store.response(&r.external_id).await.unwrap(), None);
    }
    let check = store.verify_rollups().await.unwrap();
    assert!(
        check.stored_equals_raw && check.cube_equals_stored,
        "{check:?}"
    );

    // The same cells as a store that never had the customer.
    let fresh = TestDb::new(db.engine()).await.unwrap();
    let fresh_store = fresh.open().await;
    let kept: Vec<NewResponse> = rows
        .iter()
        .filter(|r| r.customer_id.as_deref() != Some("C1"))
        .cloned()
        .collect();
    fresh_store.write_responses(kept).await.unwrap();
    assert_eq!(
        store.backend().rollup_cells().await.unwrap(),
        fresh_store.backend().rollup_cells().await.unwrap()
    );
    // Every process follows: figures, customers, respondents.
    let after = other_process
        .query_rollups(&CubeQuery::default())
        .await
        .unwrap();
    assert_eq!(after.overall.nps.n(), 60 - c1.len() as i64);
    let segments = other_process.customer_segments(None).await.unwrap();
    assert_eq!(
        segments,
        vec![("enterprise".to_string(), 1), ("smb".to_string(), 2)]
    );
    let respondents = other_process
        .respondents_by_segment(&RespondentQuery::default())
        .await
        .unwrap();
    let total =
        |c: &northstar_store::RespondentCounts| c.by_segment.iter().map(|(_, n)| n).sum::<u64>();
    assert_eq!(
        total(&respondents),
        total(&respondents_before) - 1,
        "{respondents:?}"
    );
    assert!(
        store
            .list_responses(&ResponseListQuery {
                limit: 500,
                ..Default::default()
            })
            .await
            .unwrap()
            .iter()
            .all(|r| r.customer_id.as_deref() != Some("C1"))
    );
    // A rebuild finds nothing of it either.
    store.rebuild_rollups().await.unwrap();
    assert_eq!(
        store.backend().rollup_cells().await.unwrap(),
        fresh_store.backend().rollup_cells().await.unwrap()
    );
    // Again, or an unknown id: nothing.
    assert_eq!(
        store.erase_customer("C1").await.unwrap(),
        Default::default()
    );
    assert_eq!(
        store.erase_customer("nobody").await.unwrap(),
        Default::default()
    );
}

async fn retention_anonymises_old_responses_and_keeps_every_figure(db: TestDb) {
    let store = db.open().await;
    let rows = data();
    seed(&*store, rows.clone()).await;
    let cells = store.backend().rollup_cells().await.unwrap();
    let cutoff = 1_767_225_600 + 20 * 86_400;
    let done = store.anonymise_before(cutoff).await.unwrap();
    let old = rows.iter().filter(|r| r.submitted_unix < cutoff).count() as u64;
    assert_eq!(done.responses, old);
    assert_eq!(done.operations, 8, "all operations were before day 8");
    for r in &rows {
        let stored = store.response(&r.external_id).await.unwrap().unwrap();
        if r.submitted_unix < cutoff {
            assert_eq!(
                (
                    stored.customer_id,
                    stored.comment,
                    stored.order_id,
                    stored.attributes.len()
                ),
                (None, None, None, 0),
                "{}",
                r.external_id
            );
            assert_eq!(
                (stored.nps, stored.dimensions),
                (r.nps, r.dimensions.clone())
            );
        } else {
            assert_eq!(&stored, r);
        }
    }
    assert_eq!(
        store.backend().rollup_cells().await.unwrap(),
        cells,
        "figures unchanged"
    );
    let check = store.verify_rollups().await.unwrap();
    assert!(check.stored_equals_raw && check.cube_equals_stored);
    assert_eq!(
        store.anonymise_before(cutoff).await.unwrap(),
        Default::default(),
        "idempotent"
    );
}

/// Retention walks old responses in batches by a key cursor: many
/// share one second (ties across batch boundaries), some carry nothing
/// personal already; every old one ends anonymised, the new ones untouched.
async fn retention_walks_many_batches_with_ties(db: TestDb) {
    let store = db.open().await;
    let rows: Vec<NewResponse> = (0..12_003)
        .map(|i| {
            // Three distinct seconds before the cutoff, one after.
            let day = [0, 1, 2, 40][i % 4];
            let mut r = response(i, Some(&format!("C{}", i % 97)), day, "support", None);
            r.external_id = format!("t{i:05}");
            r.submitted_unix = 1_767_225_600 + day * 86_400;
            r.submitted_at = jiff::Timestamp::from_second(r.submitted_unix)
                .unwrap()
                .to_string();
            if i % 5 == 0 {
                r.customer_id = None;
                r.order_id = None;
                r.attributes.clear();
            }
            r
        })
        .collect();
    seed(&*store, rows.clone()).await;
    let cutoff = 1_767_225_600 + 20 * 86_400;
    let personal = |r: &NewResponse| {
        r.customer_id.is_some()
            || r.comment.is_some()
            || r.order_id.is_some()
            || !r.attributes.is_empty()
    };
    let expected = rows
        .iter()
        .filter(|r| r.submitted_unix < cutoff && personal(r))
        .count() as u64;
    let done = store.anonymise_before(cutoff).await.unwrap();
    assert_eq!(done.responses, expected);
    for r in &rows {
        let stored = store.response(&r.external_id).await.unwrap().unwrap();
        if r.submitted_unix < cutoff {
            assert!(!personal(&stored), "{}", r.external_id);
        } else {
            assert_eq!(&stored, r);
        }
    }
    assert_eq!(store.anonymise_before(cutoff).await.unwrap().responses, 0);
}

crate::conformance!(
    list_reads_newest_first_by_filter_and_cursor,
    retention_walks_many_batches_with_ties,
    erasing_a_customer_decrements_exactly,
    retention_anonymises_old_responses_and_keeps_every_figure,
);

/// SQLite: what an erasure removed is gone from the database file and its
/// WAL, not merely unlinked (secure_delete, then a checkpoint).
#[tokio::test]
async fn erased_text_leaves_the_sqlite_file() {
    let db = TestDb::sqlite();
    let store = db.open().await;
    let mut rows: Vec<NewResponse> = (0..50)
        .map(|i| response(i, Some("C1"), 1, "support", Some("fine")))
        .collect();
    rows.push(response(
        900,
        Some("C-ERASE"),
        2,
        "support",
        Some("xyzzy-secret call +44 20 7946 0958"),
    ));
    store.write_responses(rows).await.unwrap();
    let file = db.url().strip_prefix("sqlite://").unwrap().to_string();
    let contains = |needle: &str| {
        [file.clone(), format!("{file}-wal")].iter().any(|f| {
            std::fs::read(f)
                .map(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
                .unwrap_or(false)
        })
    };
    assert!(contains("xyzzy-secret"), "the test can see the text");
    let erased = store.erase_customer("C-ERASE").await.unwrap();
    assert_eq!(erased.responses, 1);
    for needle in ["xyzzy-secret", "C-ERASE", "person900@example.com"] {
        assert!(!contains(needle), "{needle} is still in the file");
    }
}
