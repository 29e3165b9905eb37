//! Proving value: business cases reviewed assumption by assumption and
//! approved with segregation of duties, pilots with locked groups, and the
//! responses a pilot reads, on both backends, every change audited.

use northstar_core::customer::NewCustomer;
use northstar_core::response::NewResponse;
use northstar_core::{Dimension, DimensionValues, Metric};
use northstar_store::accounts::AuditQuery;
use northstar_store::value_records::{
    Assignment, CaseStatus, MAX_DOCUMENT_BYTES, PilotGroup, PilotResponse, Verdict,
};
use northstar_store::{RespondentQuery, StoreError};

use crate::TestDb;

fn keys(v: &[&str]) -> Vec<String> {
    v.iter().map(|k| k.to_string()).collect()
}

fn refused<T: std::fmt::Debug>(result: Result<T, StoreError>, needle: &str) {
    match result {
        Err(StoreError::Refused(message)) => {
            assert!(message.contains(needle), "{message:?} lacks {needle:?}")
        }
        other => panic!("expected a refusal with {needle:?}, got {other:?}"),
    }
}

fn assign(customer: &str, group: PilotGroup) -> Assignment {
    Assignment {
        customer_id: customer.into(),
        group,
        stratum: "all".into(),
    }
}

/// Cases list with their latest version; versions read oldest first; a
/// name is taken once; accepted reviews of unchanged assumptions carry to
/// the next version (challenged ones do not), remembering where they were
/// given; only the latest version is reviewed.
async fn business_cases_version_and_carry_accepted_reviews(db: TestDb) {
    let store = db.open().await;
    let b = store.backend();
    assert!(b.business_cases().await.unwrap().is_empty());
    let pilot = b.create_pilot("p", "{}", "cx", 50).await.unwrap();
    let id = b
        .create_business_case(
            "Proactive updates",
            Some("logistics"),
            None,
            "{\"v\":1}",
            "analyst",
            100,
        )
        .await
        .unwrap();
    let other = b
        .create_business_case("A first case", None, None, "{}", "analyst", 101)
        .await
        .unwrap();
    refused(
        b.create_business_case("Proactive updates", None, None, "{}", "analyst", 102)
            .await,
        "Proactive updates",
    );
    let listed = b.business_cases().await.unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|(c, v)| (c.id, v.version))
            .collect::<Vec<_>>(),
        [(other, 1), (id, 1)],
        "by name"
    );
    assert_eq!(listed[1].0.department.as_deref(), Some("logistics"));
    assert_eq!(listed[1].1.status, CaseStatus::AwaitingReview);
    assert_eq!(listed[1].1.document, "{\"v\":1}");

    for (key, verdict) in [
        ("churn", Verdict::Accepted),
        ("uplift", Verdict::Challenged),
        ("cost", Verdict::Accepted),
    ] {
        b.review_assumption(id, 1, key, verdict, "ok", "finance", 200)
            .await
            .unwrap();
    }
    // A reviewer may change a verdict.
    b.review_assumption(
        id,
        1,
        "cost",
        Verdict::Challenged,
        "too low",
        "finance",
        210,
    )
    .await
    .unwrap();
    let v2 = b
        .add_case_version(
            id,
            "{\"v\":2}",
            None,
            Some(pilot),
            &keys(&["churn", "uplift", "cost"]),
            "analyst",
            300,
        )
        .await
        .unwrap();
    assert_eq!(v2, 2);
    let carried = b.assumption_reviews(id, 2).await.unwrap();
    assert_eq!(
        carried.len(),
        1,
        "challenged reviews are not carried: {carried:?}"
    );
    assert_eq!(
        (
            carried[0].key.as_str(),
            carried[0].carried_from,
            carried[0].reviewer.as_str()
        ),
        ("churn", Some(1), "finance")
    );
    assert_eq!(
        (carried[0].comment.as_str(), carried[0].reviewed_unix),
        ("ok", 200)
    );
    b.review_assumption(id, 2, "cost", Verdict::Accepted, "fine now", "finance", 310)
        .await
        .unwrap();
    // Only keys named (assumptions unchanged) carry.
    let v3 = b
        .add_case_version(
            id,
            "{\"v\":3}",
            Some("support"),
            Some(pilot),
            &keys(&["churn", "cost"]),
            "analyst",
            400,
        )
        .await
        .unwrap();
    let reviews = b.assumption_reviews(id, v3).await.unwrap();
    assert_eq!(
        reviews
            .iter()
            .map(|r| (r.key.as_str(), r.verdict, r.carried_from))
            .collect::<Vec<_>>(),
        [
            ("churn", Verdict::Accepted, Some(1)),
            ("cost", Verdict::Accepted, Some(2))
        ],
        "by key, each remembering the version it was given on"
    );
    // Reviewing a carried key again makes it this version's own.
    b.review_assumption(id, 3, "churn", Verdict::Accepted, "again", "finance", 410)
        .await
        .unwrap();
    let churn = &b.assumption_reviews(id, 3).await.unwrap()[0];
    assert_eq!(
        (churn.carried_from, churn.comment.as_str()),
        (None, "again")
    );

    refused(
        b.review_assumption(id, 1, "churn", Verdict::Accepted, "", "finance", 500)
            .await,
        "version 1 is not the latest (3); review the latest",
    );
    let (case, versions) = b.business_case(id).await.unwrap().unwrap();
    assert_eq!(
        (case.department.as_deref(), case.pilot_id),
        (Some("support"), Some(pilot))
    );
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(versions[2].document, "{\"v\":3}");
    assert!(b.business_case(id + 100).await.unwrap().is_none());
    assert!(matches!(
        b.add_case_version(id + 100, "{}", None, None, &[], "analyst", 1)
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        b.add_case_version(id, "{}", None, Some(pilot + 100), &[], "analyst", 1)
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        b.review_assumption(id, 9, "churn", Verdict::Accepted, "", "finance", 1)
            .await,
        Err(StoreError::NotFound(_))
    ));

    let audit = b
        .audit_entries(&AuditQuery {
            action: Some("business_case.".into()),
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let mut actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
    actions.sort_unstable();
    actions.dedup();
    assert_eq!(
        actions,
        [
            "business_case.create",
            "business_case.review_assumption",
            "business_case.version"
        ]
    );
}

/// Approval needs every required assumption accepted and a reviewer other
/// than the version's author; a decided version is frozen; a version may
/// be returned.
async fn approval_needs_accepted_assumptions_and_another_reviewer(db: TestDb) {
    let store = db.open().await;
    let b = store.backend();
    let id = b
        .create_business_case("Case", None, None, "{}", "analyst", 100)
        .await
        .unwrap();
    b.review_assumption(id, 1, "a", Verdict::Accepted, "", "finance", 110)
        .await
        .unwrap();
    b.review_assumption(id, 1, "b", Verdict::Challenged, "why?", "finance", 120)
        .await
        .unwrap();
    refused(
        b.decide_case_version(id, 1, true, &keys(&["a", "b"]), "", "finance", 130)
            .await,
        "challenged: b",
    );
    refused(
        b.decide_case_version(id, 1, true, &keys(&["a", "c"]), "", "finance", 130)
            .await,
        "not reviewed: c",
    );
    b.review_assumption(id, 1, "b", Verdict::Accepted, "fine", "finance", 140)
        .await
        .unwrap();
    refused(
        b.decide_case_version(id, 1, true, &keys(&["a", "b"]), "", "analyst", 150)
            .await,
        "segregation of duties",
    );
    b.decide_case_version(id, 1, true, &keys(&["a", "b"]), "approved", "finance", 160)
        .await
        .unwrap();
    let (_, versions) = b.business_case(id).await.unwrap().unwrap();
    let v = &versions[0];
    assert_eq!(v.status, CaseStatus::Approved);
    assert_eq!(
        (
            v.decided_by.as_deref(),
            v.decided_unix,
            v.decision_comment.as_deref()
        ),
        (Some("finance"), Some(160), Some("approved"))
    );
    refused(
        b.review_assumption(id, 1, "a", Verdict::Challenged, "", "finance", 170)
            .await,
        "version 1 is approved; reviews are frozen",
    );
    refused(
        b.decide_case_version(id, 1, false, &[], "", "finance", 170)
            .await,
        "version 1 is approved",
    );

    // A new version is decided afresh; returning it needs no accepted keys
    // and may come from anyone.
    let v2 = b
        .add_case_version(id, "{}", None, None, &[], "analyst", 200)
        .await
        .unwrap();
    refused(
        b.decide_case_version(id, 1, false, &[], "", "finance", 210)
            .await,
        "version 1 is not the latest (2)",
    );
    b.decide_case_version(
        id,
        v2,
        false,
        &keys(&["a"]),
        "redo the cost",
        "finance",
        220,
    )
    .await
    .unwrap();
    let listed = b.business_cases().await.unwrap();
    assert_eq!(listed[0].1.status, CaseStatus::Returned);
    assert_eq!(
        listed[0].1.decision_comment.as_deref(),
        Some("redo the cost")
    );
    refused(
        b.review_assumption(id, v2, "a", Verdict::Accepted, "", "finance", 230)
            .await,
        "version 2 is returned; reviews are frozen",
    );
    let audit = b
        .audit_entries(&AuditQuery {
            action: Some("business_case.".into()),
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
    assert!(actions.contains(&"business_case.approve"), "{actions:?}");
    assert!(actions.contains(&"business_case.return"), "{actions:?}");
}

/// A pilot's plan changes until it is locked; its groups are replaced
/// wholesale, with a customer at most once; it locks only with both groups
/// filled, once.
async fn pilots_lock_their_plan_and_groups(db: TestDb) {
    let store = db.open().await;
    let b = store.backend();
    let id = b
        .create_pilot("Callbacks", "{\"a\":1}", "cx", 100)
        .await
        .unwrap();
    refused(
        b.create_pilot("Callbacks", "{}", "cx", 101).await,
        "Callbacks",
    );
    let second = b.create_pilot("Other", "{}", "cx", 102).await.unwrap();
    b.update_pilot(id, "{\"a\":2}", "cx2", 110).await.unwrap();
    let p = b.pilot(id).await.unwrap().unwrap();
    assert_eq!(
        (
            p.document.as_str(),
            p.created_by.as_str(),
            p.updated_by.as_str(),
            p.updated_unix
        ),
        ("{\"a\":2}", "cx", "cx2", 110)
    );
    assert_eq!(
        b.pilots()
            .await
            .unwrap()
            .iter()
            .map(|p| p.id)
            .collect::<Vec<_>>(),
        [id, second]
    );
    assert!(b.pilot(second + 100).await.unwrap().is_none());

    b.put_assignments(
        id,
        &[assign("C1", PilotGroup::Pilot)],
        "random",
        Some(1),
        "cx",
        120,
    )
    .await
    .unwrap();
    refused(b.lock_pilot(id, "cx", 130).await, "0 in the control group");
    refused(
        b.put_assignments(
            id,
            &[
                assign("C1", PilotGroup::Pilot),
                assign("C1", PilotGroup::Control),
            ],
            "random",
            None,
            "cx",
            131,
        )
        .await,
        "\"C1\" is assigned twice",
    );
    let rows = [
        assign("C3", PilotGroup::Control),
        assign("C2", PilotGroup::Pilot),
        assign("C4", PilotGroup::Pilot),
    ];
    assert_eq!(
        b.put_assignments(id, &rows, "stratified", Some(42), "cx", 140)
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        b.assignments(id)
            .await
            .unwrap()
            .iter()
            .map(|a| (a.customer_id.as_str(), a.group))
            .collect::<Vec<_>>(),
        [
            ("C2", PilotGroup::Pilot),
            ("C3", PilotGroup::Control),
            ("C4", PilotGroup::Pilot)
        ],
        "replaced wholesale, by customer"
    );
    assert!(b.assignments(second).await.unwrap().is_empty());
    b.lock_pilot(id, "lead", 150).await.unwrap();
    b.lock_pilot(id, "other", 160).await.unwrap();
    let p = b.pilot(id).await.unwrap().unwrap();
    assert_eq!(
        (
            p.locked_unix,
            p.locked_by.as_deref(),
            p.assignment_method.as_deref(),
            p.seed
        ),
        (Some(150), Some("lead"), Some("stratified"), Some(42)),
        "locking again keeps the first"
    );
    refused(
        b.update_pilot(id, "{}", "cx", 170).await,
        "the plan is locked since 1970-01-01",
    );
    refused(
        b.put_assignments(id, &rows, "random", None, "cx", 170)
            .await,
        "locked",
    );
    assert!(matches!(
        b.lock_pilot(second + 100, "cx", 1).await,
        Err(StoreError::NotFound(_))
    ));
    let audit = b
        .audit_entries(&AuditQuery {
            action: Some("pilot.".into()),
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let actions: Vec<(&str, &str)> = audit
        .iter()
        .map(|e| (e.action.as_str(), e.detail.as_str()))
        .collect();
    assert!(
        actions.contains(&("pilot.lock", "2 pilot, 1 control")),
        "{actions:?}"
    );
    assert!(
        actions.contains(&("pilot.assign", "2 pilot, 1 control (stratified, seed 42)")),
        "{actions:?}"
    );
    assert!(actions.iter().any(|(a, _)| *a == "pilot.create"));
    assert!(actions.iter().any(|(a, _)| *a == "pilot.update"));
}

const JAN_1: i64 = 20_454;

fn response(id: usize, customer: Option<&str>, day: i64, department: &str, nps: u8) -> NewResponse {
    let mut dims = DimensionValues::default();
    dims.set(Dimension::Department, department.to_string());
    let submitted_unix = (JAN_1 + day) * 86_400 + id as i64;
    NewResponse {
        external_id: format!("r{id:03}"),
        customer_id: customer.map(str::to_string),
        submitted_at: jiff::Timestamp::from_second(submitted_unix)
            .unwrap()
            .to_string(),
        submitted_unix,
        dimensions: dims,
        nps: Some(nps),
        csat: None,
        ces: None,
        fcr: Some(id.is_multiple_of(2)),
        comment: None,
        order_id: None,
        drivers: Default::default(),
        attributes: Default::default(),
    }
}

fn customer(id: &str, segment: Option<&str>) -> NewCustomer {
    NewCustomer {
        customer_id: id.into(),
        segment: segment.map(str::to_string),
        region: None,
        annual_value: None,
        churned: None,
        churned_on: None,
        acquired_on: None,
        attributes: Default::default(),
    }
}

/// A pilot reads its customers' answers to a metric, with their group and
/// day, within the query's days and filter; the scope lists the customers
/// who responded with their segment.
async fn pilot_responses_join_groups_within_the_selection(db: TestDb) {
    let store = db.open().await;
    let b = store.backend();
    store
        .write_customers(vec![customer("C1", Some("smb")), customer("C2", None)])
        .await
        .unwrap();
    store
        .write_responses(vec![
            response(1, Some("C1"), 0, "logistics", 9),
            response(2, Some("C1"), 5, "logistics", 10),
            response(3, Some("C2"), 1, "logistics", 3),
            response(4, Some("C2"), 2, "support", 6),
            response(5, Some("C3"), 3, "logistics", 7),
            response(6, None, 3, "logistics", 8),
            response(7, Some("C9"), 9, "support", 1),
        ])
        .await
        .unwrap();
    let id = b.create_pilot("p", "{}", "cx", 1).await.unwrap();
    b.put_assignments(
        id,
        &[
            assign("C2", PilotGroup::Control),
            assign("C1", PilotGroup::Pilot),
            assign("C3", PilotGroup::Pilot),
        ],
        "random",
        None,
        "cx",
        2,
    )
    .await
    .unwrap();
    let r = |customer: &str, group, day: i64, value| PilotResponse {
        customer_id: customer.into(),
        group,
        day: (JAN_1 + day) as i32,
        value,
    };
    let all = b
        .pilot_responses(id, &RespondentQuery::default(), Metric::Nps)
        .await
        .unwrap();
    assert_eq!(
        all,
        [
            r("C1", PilotGroup::Pilot, 0, 9),
            r("C1", PilotGroup::Pilot, 5, 10),
            r("C2", PilotGroup::Control, 1, 3),
            r("C2", PilotGroup::Control, 2, 6),
            r("C3", PilotGroup::Pilot, 3, 7),
        ]
    );
    let within = RespondentQuery {
        filter: vec![(Dimension::Department, "logistics".into())],
        from: Some((JAN_1 + 1) as i32),
        to: Some((JAN_1 + 4) as i32),
    };
    assert_eq!(
        b.pilot_responses(id, &within, Metric::Nps).await.unwrap(),
        [
            r("C2", PilotGroup::Control, 1, 3),
            r("C3", PilotGroup::Pilot, 3, 7)
        ]
    );
    // Only responses that answered the metric; FCR reads as 1 or 0.
    assert!(
        b.pilot_responses(id, &RespondentQuery::default(), Metric::Csat)
            .await
            .unwrap()
            .is_empty()
    );
    let fcr = b.pilot_responses(id, &within, Metric::Fcr).await.unwrap();
    assert_eq!(fcr.iter().map(|p| p.value).collect::<Vec<_>>(), [0, 0]);
    assert!(
        b.pilot_responses(id + 1, &RespondentQuery::default(), Metric::Nps)
            .await
            .unwrap()
            .is_empty()
    );

    assert_eq!(
        b.scope_customers(&RespondentQuery::default())
            .await
            .unwrap(),
        [
            ("C1".to_string(), "smb".to_string()),
            ("C2".to_string(), String::new()),
            ("C3".to_string(), String::new()),
            ("C9".to_string(), String::new()),
        ]
    );
    assert_eq!(
        b.scope_customers(&within).await.unwrap(),
        [
            ("C2".to_string(), String::new()),
            ("C3".to_string(), String::new())
        ]
    );
}

/// Documents and comments are bounded in size; the error names the field.
async fn documents_are_bounded(db: TestDb) {
    let store = db.open().await;
    let b = store.backend();
    let big = "x".repeat(MAX_DOCUMENT_BYTES + 1);
    let fits = "x".repeat(MAX_DOCUMENT_BYTES);
    let limit = |result: Result<i64, StoreError>, name: &str| match result {
        Err(StoreError::Limit { field, message }) => {
            assert_eq!(field, name);
            assert!(message.contains("256 KiB"), "{message}");
        }
        other => panic!("expected the {name} limit, got {other:?}"),
    };
    limit(
        b.create_business_case("c", None, None, &big, "a", 1).await,
        "document",
    );
    limit(b.create_pilot("p", &big, "a", 1).await, "document");
    let case = b
        .create_business_case("c", None, None, &fits, "a", 1)
        .await
        .unwrap();
    let pilot = b.create_pilot("p", &fits, "a", 1).await.unwrap();
    limit(
        b.add_case_version(case, &big, None, None, &[], "a", 2)
            .await,
        "document",
    );
    limit(
        b.update_pilot(pilot, &big, "a", 2).await.map(|_| 0),
        "document",
    );
    limit(
        b.review_assumption(case, 1, "k", Verdict::Accepted, &big, "f", 3)
            .await
            .map(|_| 0),
        "comment",
    );
    assert_eq!(
        b.business_cases().await.unwrap()[0].1.document.len(),
        MAX_DOCUMENT_BYTES
    );
}

/// `copy` carries cases, versions, reviews, pilots and assignments with
/// their ids; a case created after the copy gets a new id; `compare` sees
/// a difference.
async fn value_records_are_copied(db: TestDb) {
    let source_db = TestDb::sqlite();
    let source = source_db.open().await;
    let target = db.open().await;
    let b = source.backend();
    let pilot = b.create_pilot("p", "{\"plan\":1}", "cx", 10).await.unwrap();
    b.put_assignments(
        pilot,
        &[
            assign("C1", PilotGroup::Pilot),
            assign("C2", PilotGroup::Control),
        ],
        "random",
        Some(7),
        "cx",
        11,
    )
    .await
    .unwrap();
    b.lock_pilot(pilot, "cx", 12).await.unwrap();
    let first = b
        .create_business_case("c1", Some("logistics"), Some(pilot), "{}", "analyst", 20)
        .await
        .unwrap();
    let second = b
        .create_business_case("c2", None, None, "{}", "analyst", 21)
        .await
        .unwrap();
    b.review_assumption(first, 1, "k", Verdict::Accepted, "ok", "finance", 30)
        .await
        .unwrap();
    b.add_case_version(
        first,
        "{\"v\":2}",
        None,
        Some(pilot),
        &keys(&["k"]),
        "analyst",
        40,
    )
    .await
    .unwrap();
    b.decide_case_version(first, 2, true, &keys(&["k"]), "yes", "finance", 50)
        .await
        .unwrap();
    // 1 pilot, 2 assignments, 2 cases, 3 versions, 2 reviews.
    let rows = 10;
    for run in 0..2u64 {
        let copied = northstar_store::copy::copy_all(&*source, &*target, &mut |_, _, _| {})
            .await
            .unwrap();
        let t = copied.iter().find(|t| t.table == "value_records").unwrap();
        assert_eq!(t.written.accepted(), rows);
        assert_eq!(t.written.unchanged, run * rows);
        let cmp = northstar_store::copy::compare(&*source, &*target)
            .await
            .unwrap();
        assert!(cmp.identical(), "{cmp:?}");
    }
    let copied = target.backend().value_data().await.unwrap();
    assert_eq!(copied, source.backend().value_data().await.unwrap());
    assert_eq!(
        copied
            .business_cases
            .iter()
            .map(|c| c.id)
            .collect::<Vec<_>>(),
        [first, second]
    );
    let t = target.backend();
    let third = t
        .create_business_case("c3", None, None, "{}", "analyst", 60)
        .await
        .unwrap();
    assert!(third > second);
    assert!(t.create_pilot("p2", "{}", "cx", 61).await.unwrap() > pilot);
    let cmp = northstar_store::copy::compare(&*source, &*target)
        .await
        .unwrap();
    assert_eq!(
        cmp.differences,
        ["the business cases, their reviews, the pilots or their assignments differ"]
    );
}

crate::conformance!(
    business_cases_version_and_carry_accepted_reviews,
    approval_needs_accepted_assumptions_and_another_reviewer,
    pilots_lock_their_plan_and_groups,
    pilot_responses_join_groups_within_the_selection,
    documents_are_bounded,
    value_records_are_copied,
);
