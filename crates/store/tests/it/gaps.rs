//! The response-to-order links behind expectation gaps (`gap_cells`,
//! `operation_targets`) are maintained by every write that touches either
//! side — responses, records, replacements, erasure, anonymisation, writers
//! running at once — and always equal a join of the raw rows.

use northstar_core::operation::NewOperation;
use northstar_core::response::NewResponse;
use northstar_core::{Dimension, DimensionValues};
use northstar_store::{GapQuery, RespondentQuery, Store};

use crate::TestDb;

fn response(id: usize, order: Option<usize>, csat: Option<u8>, customer: &str) -> NewResponse {
    let mut dims = DimensionValues::default();
    dims.set(
        Dimension::Department,
        if id.is_multiple_of(3) {
            "support"
        } else {
            "logistics"
        }
        .to_string(),
    );
    let submitted_unix = 1_767_225_600 + (id as i64 % 40) * 86_400;
    NewResponse {
        external_id: format!("r{id}"),
        customer_id: Some(customer.to_string()),
        submitted_at: jiff::Timestamp::from_second(submitted_unix)
            .unwrap()
            .to_string(),
        submitted_unix,
        dimensions: dims,
        nps: Some((id % 11) as u8),
        csat,
        ces: None,
        fcr: None,
        comment: None,
        order_id: order.map(|o| format!("O{o}")),
        drivers: Default::default(),
        attributes: Default::default(),
    }
}

fn operation(order: usize, department: &str, value: f64, target: Option<f64>) -> NewOperation {
    NewOperation {
        department: department.to_string(),
        order_id: format!("O{order}"),
        measure: "delivery_days".to_string(),
        customer_id: Some(format!("C{}", order % 4)),
        occurred_at: None,
        occurred_unix: Some(1_767_225_600),
        value,
        target,
        attributes: Default::default(),
    }
}

async fn assert_links_equal_a_join(store: &dyn Store, after: &str) {
    let check = store.verify_rollups().await.unwrap();
    assert!(check.gaps_equal_raw, "after {after}: {check:?}");
    // And the store's answer (from the cells) equals the raw join's.
    for filter in [vec![], vec![(Dimension::Department, "support".to_string())]] {
        let query = GapQuery {
            department: "logistics".into(),
            measure: "delivery_days".into(),
            responses: RespondentQuery {
                filter,
                from: Some(20_454 + 3),
                to: Some(20_454 + 30),
            },
        };
        assert_eq!(
            store.gap_counts(&query).await.unwrap(),
            store.backend().gap_counts(&query).await.unwrap(),
            "after {after}"
        );
    }
}

async fn links_follow_every_write(db: TestDb) {
    let store = db.open().await;
    // Responses first: their records arrive later.
    let responses: Vec<NewResponse> = (0..60)
        .map(|i| {
            response(
                i,
                (i % 7 != 0).then_some(i % 25),
                (i % 5 != 0).then_some(1 + (i % 5) as u8),
                &format!("C{}", i % 4),
            )
        })
        .collect();
    store.write_responses(responses.clone()).await.unwrap();
    assert_links_equal_a_join(&*store, "responses alone").await;
    let operations: Vec<NewOperation> = (0..30)
        .map(|o| {
            operation(
                o,
                "logistics",
                (o % 6) as f64,
                Some(if o % 9 == 0 { 4.0 } else { 5.0 }),
            )
        })
        .chain((0..10).map(|o| operation(o, "billing", 1.0, None)))
        .collect();
    store.write_operations(operations.clone()).await.unwrap();
    assert_links_equal_a_join(&*store, "records").await;
    // A second logistics measure on the same orders counts separately.
    let mut eta: Vec<NewOperation> = (0..10)
        .map(|o| operation(o, "logistics", 2.0, None))
        .collect();
    for o in &mut eta {
        o.measure = "eta_days".into();
    }
    store.write_operations(eta).await.unwrap();
    assert_links_equal_a_join(&*store, "a second measure").await;

    // Replacements on both sides: answers, order links, values, targets.
    let replaced: Vec<NewResponse> = responses
        .iter()
        .take(20)
        .map(|r| {
            let mut r = r.clone();
            r.csat = r.csat.map(|c| 6 - c);
            if r.external_id.ends_with('3') {
                r.order_id = Some("O24".into());
            }
            r
        })
        .collect();
    store.write_responses(replaced).await.unwrap();
    assert_links_equal_a_join(&*store, "replaced responses").await;
    let moved: Vec<NewOperation> = operations
        .iter()
        .take(12)
        .map(|o| NewOperation {
            value: o.value + 1.5,
            target: o.target.map(|t| t - 1.0),
            ..o.clone()
        })
        .collect();
    store.write_operations(moved).await.unwrap();
    assert_links_equal_a_join(&*store, "replaced records").await;

    // Erasure takes a customer's responses and records, and their links.
    store.erase_customer("C1").await.unwrap();
    assert_links_equal_a_join(&*store, "an erasure").await;
    // Anonymisation drops responses' order links.
    store
        .anonymise_before(1_767_225_600 + 10 * 86_400)
        .await
        .unwrap();
    assert_links_equal_a_join(&*store, "anonymisation").await;
    // A rebuild changes nothing.
    let before = store.backend().gap_cells(None, false).await.unwrap();
    store.rebuild_rollups().await.unwrap();
    assert_eq!(
        store.backend().gap_cells(None, false).await.unwrap(),
        before
    );
}

/// Responses and records about the same orders written at once (on
/// PostgreSQL in parallel transactions): each link is counted once.
async fn concurrent_writers_link_each_pair_once(db: TestDb) {
    let store: std::sync::Arc<dyn Store> = db.open().await;
    let mut tasks = Vec::new();
    for round in 0..8usize {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            let batch: Vec<NewResponse> = (0..40)
                .map(|i| response(round * 40 + i, Some(i % 20), Some(1 + (i % 5) as u8), "C9"))
                .collect();
            s.write_responses(batch).await.unwrap();
        }));
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            let batch: Vec<NewOperation> = (0..20)
                .map(|o| operation(o, "logistics", (round % 4) as f64, Some(5.0)))
                .collect();
            s.write_operations(batch).await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_links_equal_a_join(&*store, "concurrent writers").await;
}

crate::conformance!(
    links_follow_every_write,
    concurrent_writers_link_each_pair_once
);
