//! Departments as partners: records, goals, external KPI values, wins and
//! the North Star round-trip on both backends, every change audited.

use northstar_core::department::{Department, NewWin, NorthStar};
use northstar_core::operation::NewOperation;
use northstar_store::StoreError;
use northstar_store::accounts::AuditQuery;

use crate::TestDb;

fn logistics() -> Department {
    serde_json::from_value(serde_json::json!({
        "name": "logistics",
        "mission": "Every order arrives when promised",
        "leader": "lead@example.com",
        "ambassadors": ["amb@example.com"],
        "touchpoints": ["delivery"],
        "goals": [{
            "title": "Deliveries within target",
            "kpi": {"measure": "delivery_days", "statistic": "share_within_target",
                    "direction": "higher_is_better", "target": 0.95},
            "customer_metric": {"metric": "csat", "filter": {"touchpoint": "delivery"}},
            "agreed_on": "2026-01-15", "agreed_by": "lead@example.com"
        }]
    }))
    .unwrap()
}

async fn department_records_round_trip_and_are_audited(db: TestDb) {
    let store = db.open().await;
    let b = store.backend();
    assert!(b.departments().await.unwrap().is_empty());
    let mut d = logistics();
    b.put_department(&d, "cx@example.com", 100).await.unwrap();
    d.mission = "Promised means promised".into();
    b.put_department(&d, "cx2@example.com", 200).await.unwrap();
    let all = b.departments().await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].record, d);
    assert_eq!(
        (all[0].updated_by.as_str(), all[0].updated_unix),
        ("cx2@example.com", 200)
    );
    let audit = b
        .audit_entries(&AuditQuery {
            action: Some("department.".into()),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["department.change", "department.create"]);

    // External KPI values: keyed by period start, replaced on re-entry.
    let (jan, jan_end, feb, feb_end) = (20_454, 20_484, 20_485, 20_512);
    b.put_kpi_values(
        "billing",
        "invoice_accuracy",
        &[(jan, jan_end, 0.97), (feb, feb_end, 0.9)],
        "lead",
        300,
    )
    .await
    .unwrap();
    b.put_kpi_values(
        "billing",
        "invoice_accuracy",
        &[(feb, feb_end, 0.99)],
        "lead",
        400,
    )
    .await
    .unwrap();
    let values = b.kpi_values("billing", "invoice_accuracy").await.unwrap();
    assert_eq!(
        values
            .iter()
            .map(|v| (v.period_start, v.value, v.entered_unix))
            .collect::<Vec<_>>(),
        [(jan, 0.97, 300), (feb, 0.99, 400)]
    );
    assert!(b.kpi_values("billing", "other").await.unwrap().is_empty());

    // Wins, newest first, by department or all.
    let win: NewWin = serde_json::from_value(serde_json::json!({
        "title": "Proactive delivery updates", "people": ["Ana"], "cx_part": "designed the survey",
        "on": "2026-03-01",
        "evidence": {"metric": "csat", "filter": {"touchpoint": "delivery"},
                     "before": {"from": "2026-01-01", "to": "2026-02-28"},
                     "after": {"from": "2026-03-01", "to": "2026-04-30"}}
    }))
    .unwrap();
    let first = b
        .add_win("logistics", &win, "amb@example.com", 500)
        .await
        .unwrap();
    let second = b
        .add_win("support", &win, "cx@example.com", 600)
        .await
        .unwrap();
    assert!(second > first);
    let all = b.wins(None).await.unwrap();
    assert_eq!(
        all.iter().map(|w| w.id).collect::<Vec<_>>(),
        [second, first]
    );
    let own = b.wins(Some("logistics")).await.unwrap();
    assert_eq!(own.len(), 1);
    assert_eq!(own[0].win, win);
    assert_eq!(own[0].recorded_by, "amb@example.com");

    // The North Star: one record, replaced.
    assert!(b.north_star().await.unwrap().is_none());
    let ns: NorthStar = serde_json::from_value(serde_json::json!({
        "statement": "The distributor customers trust to deliver",
        "principles": ["Promise only what we keep",
                       {"text": "Answer at the first contact", "departments": ["support"], "evidence": "fcr"}],
        "metric": "nps", "target": 40, "target_date": "2027-06-30"
    }))
    .unwrap();
    b.put_north_star(&ns, "cx@example.com", 700).await.unwrap();
    b.put_north_star(&ns, "cx@example.com", 800).await.unwrap();
    let stored = b.north_star().await.unwrap().unwrap();
    assert_eq!(stored.record, ns);
    assert_eq!(stored.updated_unix, 800);
}

async fn kpi_records_are_the_department_s_own(db: TestDb) {
    let store = db.open().await;
    let op = |order: usize, department: &str, measure: &str, value: f64| NewOperation {
        department: department.to_string(),
        order_id: format!("O{order}"),
        measure: measure.to_string(),
        customer_id: None,
        occurred_at: None,
        occurred_unix: order
            .is_multiple_of(2)
            .then_some(1_767_225_600 + order as i64),
        value,
        target: Some(5.0),
        attributes: Default::default(),
    };
    store
        .write_operations(vec![
            op(1, "logistics", "delivery_days", 3.0),
            op(2, "logistics", "delivery_days", 6.0),
            op(3, "logistics", "pick_minutes", 9.0),
            op(4, "support", "delivery_days", 1.0),
        ])
        .await
        .unwrap();
    let mut rows = store
        .backend()
        .kpi_records("logistics", "delivery_days")
        .await
        .unwrap();
    rows.sort_by(|a, b| a.1.total_cmp(&b.1));
    assert_eq!(
        rows,
        [
            (None, 3.0, Some(5.0)),
            (Some(1_767_225_602), 6.0, Some(5.0))
        ]
    );
}

async fn department_count_is_bounded(db: TestDb) {
    let store = db.open().await;
    let b = store.backend();
    let mut d = logistics();
    for i in 0..northstar_core::department::MAX_DEPARTMENTS {
        d.name = format!("d{i}");
        b.put_department(&d, "cx", 1).await.unwrap();
    }
    // Replacing one is still allowed; one more is not.
    b.put_department(&d, "cx", 2).await.unwrap();
    d.name = "one-too-many".into();
    match b.put_department(&d, "cx", 3).await {
        Err(StoreError::Limit { field, message }) => {
            assert_eq!(field, "name");
            assert!(message.contains("200"), "{message}");
        }
        other => panic!("expected the department limit, got {other:?}"),
    }
}

/// `copy` carries departments, KPI values, wins (with their ids) and the
/// North Star; a win recorded after the copy gets a new id; `compare` sees a
/// difference.
async fn department_records_are_copied(db: TestDb) {
    let source_db = TestDb::sqlite();
    let source = source_db.open().await;
    let target = db.open().await;
    let b = source.backend();
    b.put_department(&logistics(), "cx", 100).await.unwrap();
    b.put_kpi_values("logistics", "x", &[(20_454, 20_484, 0.5)], "lead", 200)
        .await
        .unwrap();
    let win: NewWin = serde_json::from_value(serde_json::json!({
        "title": "t", "on": "2026-03-01",
        "evidence": {"metric": "nps", "before": {"from": "2026-01-01", "to": "2026-01-31"},
                     "after": {"from": "2026-03-01", "to": "2026-03-31"}}
    }))
    .unwrap();
    let first = b.add_win("logistics", &win, "amb", 300).await.unwrap();
    let second = b.add_win("logistics", &win, "amb", 301).await.unwrap();
    let ns: NorthStar = serde_json::from_value(serde_json::json!({
        "statement": "s", "metric": "csat", "target": 0.8, "target_date": "2027-01-01"
    }))
    .unwrap();
    b.put_north_star(&ns, "cx", 400).await.unwrap();
    for run in 0..2u64 {
        let copied = northstar_store::copy::copy_all(&*source, &*target, &mut |_, _, _| {})
            .await
            .unwrap();
        let t = copied.iter().find(|t| t.table == "departments").unwrap();
        assert_eq!(t.written.accepted(), 5);
        assert_eq!(t.written.unchanged, run * 5);
        let cmp = northstar_store::copy::compare(&*source, &*target)
            .await
            .unwrap();
        assert!(cmp.identical(), "{cmp:?}");
    }
    let copied = target.backend().department_data().await.unwrap();
    assert_eq!(copied, source.backend().department_data().await.unwrap());
    assert_eq!(
        copied.wins.iter().map(|w| w.id).collect::<Vec<_>>(),
        [first, second]
    );
    let third = target
        .backend()
        .add_win("logistics", &win, "amb", 500)
        .await
        .unwrap();
    assert!(third > second);
    let cmp = northstar_store::copy::compare(&*source, &*target)
        .await
        .unwrap();
    assert_eq!(
        cmp.differences,
        ["the departments, goals, KPI values, wins or North Star differ"]
    );
}

crate::conformance!(
    department_records_are_copied,
    department_records_round_trip_and_are_audited,
    kpi_records_are_the_department_s_own,
    department_count_is_bounded,
);
