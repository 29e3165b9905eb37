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
        .kpi_records("logistics", "delivery_days", 0, i64::MAX)
        .await
        .unwrap();
    rows.sort_by(|a, b| a.1.total_cmp(&b.1));
    assert_eq!(rows, [(Some(1_767_225_602), 6.0, Some(5.0))]);
    assert_eq!(
        store
            .backend()
            .kpi_undated_records("logistics", "delivery_days")
            .await
            .unwrap(),
        1
    );
    // Bounded by when the records happened: [from, to).
    assert!(
        store
            .backend()
            .kpi_records("logistics", "delivery_days", 0, 1_767_225_602)
            .await
            .unwrap()
            .is_empty()
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
    b.ensure_digest_subscriptions("logistics", &["a@example.com".to_string()], 450)
        .await
        .unwrap();
    b.record_digest_send("logistics", 20_454, 1, 460)
        .await
        .unwrap();
    for run in 0..2u64 {
        let copied = northstar_store::copy::copy_all(&*source, &*target, &mut |_, _, _| {})
            .await
            .unwrap();
        let t = copied.iter().find(|t| t.table == "departments").unwrap();
        assert_eq!(t.written.accepted(), 7);
        assert_eq!(t.written.unchanged, run * 7);
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

/// The weekly digest's recipients: leader and ambassadors subscribed once
/// each with an unguessable token; an unsubscribe sticks when the list is
/// given again; a former ambassador drops out; the list is bounded.
async fn digest_subscriptions_keep_unsubscribes(db: TestDb) {
    let store = db.open().await;
    let b = store.backend();
    let emails = |v: &[&str]| v.iter().map(|e| e.to_string()).collect::<Vec<_>>();
    let team = emails(&["lead@example.com", "amb@example.com"]);
    assert_eq!(
        b.ensure_digest_subscriptions("logistics", &team, 10)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        b.ensure_digest_subscriptions("logistics", &team, 11)
            .await
            .unwrap(),
        0
    );
    let active = b.digest_recipients("logistics").await.unwrap();
    let addresses: Vec<&str> = active.iter().map(|s| s.email.as_str()).collect();
    assert_eq!(addresses, ["amb@example.com", "lead@example.com"]);
    for s in &active {
        assert_eq!(s.token.len(), 64);
        assert!(s.token.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_eq!((s.created_unix, s.unsubscribed_unix), (10, None));
    }
    assert_ne!(active[0].token, active[1].token);
    // Another department's list is its own.
    assert!(b.digest_recipients("billing").await.unwrap().is_empty());

    // Unsubscribing by token: idempotent, keeps the first time.
    let token = active[0].token.clone();
    let done = b.unsubscribe_digest(&token, 20).await.unwrap().unwrap();
    assert_eq!(
        (
            done.department.as_str(),
            done.email.as_str(),
            done.unsubscribed_unix
        ),
        ("logistics", "amb@example.com", Some(20))
    );
    let again = b.unsubscribe_digest(&token, 30).await.unwrap().unwrap();
    assert_eq!(again.unsubscribed_unix, Some(20));
    assert_eq!(b.digest_subscription(&token).await.unwrap(), Some(again));
    assert!(
        b.unsubscribe_digest(&"0".repeat(64), 30)
            .await
            .unwrap()
            .is_none()
    );
    assert!(b.digest_subscription("nope").await.unwrap().is_none());

    // The same list again does not subscribe the address back.
    assert_eq!(
        b.ensure_digest_subscriptions("logistics", &team, 40)
            .await
            .unwrap(),
        0
    );
    let active = b.digest_recipients("logistics").await.unwrap();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].email, "lead@example.com");

    // A new leader replaces the old one; the old leader's row goes, the
    // unsubscribe stays.
    let team = emails(&["new-lead@example.com", "amb@example.com"]);
    assert_eq!(
        b.ensure_digest_subscriptions("logistics", &team, 50)
            .await
            .unwrap(),
        1
    );
    let active = b.digest_recipients("logistics").await.unwrap();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].email, "new-lead@example.com");
    assert!(b.digest_subscription(&token).await.unwrap().is_some());

    let crowd: Vec<String> = (0..=northstar_store::departments::MAX_DIGEST_RECIPIENTS)
        .map(|i| format!("p{i}@example.com"))
        .collect();
    match b.ensure_digest_subscriptions("logistics", &crowd, 60).await {
        Err(StoreError::Limit { field, .. }) => assert_eq!(field, "recipients"),
        other => panic!("expected the recipients limit, got {other:?}"),
    }
    assert_eq!(b.digest_recipients("logistics").await.unwrap().len(), 1);
}

/// A week's digest is claimed once, even by two stores (processes) at the
/// same time; a released week can be claimed again.
async fn digest_week_is_claimed_once(db: TestDb) {
    let first = db.open().await;
    let second = db.open().await;
    let week = northstar_core::calendar::week_start(20_500);
    assert!(
        first
            .backend()
            .digest_send("logistics", week)
            .await
            .unwrap()
            .is_none()
    );
    let (a, b) = tokio::join!(
        first
            .backend()
            .record_digest_send("logistics", week, 2, 100),
        second
            .backend()
            .record_digest_send("logistics", week, 3, 101),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a ^ b, "exactly one claims the week: {a} {b}");
    let sent = first
        .backend()
        .digest_send("logistics", week)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (sent.department.as_str(), sent.week_start),
        ("logistics", week)
    );
    assert_eq!(
        (sent.sent_unix, sent.recipients),
        if a { (100, 2) } else { (101, 3) }
    );
    // Another week and another department are separate claims.
    assert!(
        first
            .backend()
            .record_digest_send("logistics", week + 7, 2, 200)
            .await
            .unwrap()
    );
    assert!(
        first
            .backend()
            .record_digest_send("billing", week, 2, 200)
            .await
            .unwrap()
    );
    assert!(
        !second
            .backend()
            .record_digest_send("logistics", week, 2, 300)
            .await
            .unwrap()
    );
    // Released (the send failed): the next run claims it.
    second
        .backend()
        .release_digest_week("logistics", week)
        .await
        .unwrap();
    assert!(
        first
            .backend()
            .digest_send("logistics", week)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        second
            .backend()
            .record_digest_send("logistics", week, 1, 400)
            .await
            .unwrap()
    );
}

/// A department keeps at most 500 wins, so one cannot use up the
/// organisation's limit; the error names it.
async fn wins_per_department_are_bounded(db: TestDb) {
    let store = db.open().await;
    let b = store.backend();
    let win: NewWin = serde_json::from_value(serde_json::json!({
        "title": "t", "on": "2026-03-01",
        "evidence": {"metric": "nps", "before": {"from": "2026-01-01", "to": "2026-01-31"},
                     "after": {"from": "2026-03-01", "to": "2026-03-31"}}
    }))
    .unwrap();
    for _ in 0..northstar_store::departments::MAX_WINS_PER_DEPARTMENT {
        b.add_win("logistics", &win, "amb", 1).await.unwrap();
    }
    match b.add_win("logistics", &win, "amb", 2).await {
        Err(StoreError::Limit { message, .. }) => assert!(message.contains("500"), "{message}"),
        other => panic!("expected the per-department limit, got {other:?}"),
    }
    // Another department still records its own.
    b.add_win("support", &win, "amb", 3).await.unwrap();
}

crate::conformance!(
    wins_per_department_are_bounded,
    department_records_are_copied,
    department_records_round_trip_and_are_audited,
    kpi_records_are_the_department_s_own,
    department_count_is_bounded,
    digest_subscriptions_keep_unsubscribes,
    digest_week_is_claimed_once,
);
