//! Settings (stored, audited, copied) and redaction before storage, on both
//! backends.

use northstar_core::response::NewResponse;
use northstar_core::{Dimension, DimensionValues};
use northstar_store::accounts::AuditQuery;
use northstar_store::settings::{REDACT_PERSONAL_DATA, RETENTION_MONTHS};

use crate::TestDb;

fn answer(id: &str) -> NewResponse {
    let mut dims = DimensionValues::default();
    dims.set(Dimension::Department, "support".into());
    let submitted_unix = 1_767_229_200;
    NewResponse {
        external_id: id.into(),
        customer_id: Some("C1".into()),
        submitted_at: jiff::Timestamp::from_second(submitted_unix)
            .unwrap()
            .to_string(),
        submitted_unix,
        dimensions: dims,
        nps: Some(9),
        csat: None,
        ces: None,
        fcr: None,
        comment: Some("call me on +44 20 7946 0958 or write to ann@example.com".into()),
        order_id: Some("SO-12345678".into()),
        drivers: Default::default(),
        attributes: [("contact".to_string(), "ann@example.com".to_string())].into(),
    }
}

async fn settings_are_stored_and_every_change_is_audited(db: TestDb) {
    let store = db.open().await;
    let b = store.backend();
    assert_eq!(b.setting(REDACT_PERSONAL_DATA).await.unwrap(), None);
    b.put_setting(REDACT_PERSONAL_DATA, "on", "admin@example.com", 100)
        .await
        .unwrap();
    b.put_setting(REDACT_PERSONAL_DATA, "off", "cli", 200)
        .await
        .unwrap();
    b.put_setting(RETENTION_MONTHS, "24", "cli", 300)
        .await
        .unwrap();
    assert_eq!(
        b.setting(REDACT_PERSONAL_DATA).await.unwrap().as_deref(),
        Some("off")
    );
    let all = b.settings().await.unwrap();
    assert_eq!(
        all.iter()
            .map(|s| (
                s.key.as_str(),
                s.value.as_str(),
                s.updated_unix,
                s.updated_by.as_str()
            ))
            .collect::<Vec<_>>(),
        [
            (REDACT_PERSONAL_DATA, "off", 200, "cli"),
            (RETENTION_MONTHS, "24", 300, "cli"),
        ]
    );
    let audit = b
        .audit_entries(&AuditQuery {
            action: Some("setting.change".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        audit
            .iter()
            .map(|e| (e.actor.as_str(), e.target.as_str(), e.detail.as_str()))
            .collect::<Vec<_>>(),
        [
            ("cli", RETENTION_MONTHS, "(unset) -> 24"),
            ("cli", REDACT_PERSONAL_DATA, "on -> off"),
            ("admin@example.com", REDACT_PERSONAL_DATA, "(unset) -> on"),
        ]
    );
}

/// With redaction on, personal data never reaches the database, whichever
/// path writes (imports go through the same write), and a store that did
/// not change the setting itself follows it at its next write.
async fn redaction_masks_comments_and_attributes_before_storage(db: TestDb) {
    let store = db.open().await;
    let other = db.open().await;
    store.write_responses(vec![answer("plain")]).await.unwrap();
    let stored = store.response("plain").await.unwrap().unwrap();
    assert!(stored.comment.unwrap().contains("ann@example.com"));
    other
        .backend()
        .put_setting(REDACT_PERSONAL_DATA, "on", "cli", 1)
        .await
        .unwrap();
    store.write_responses(vec![answer("masked")]).await.unwrap();
    let stored = store.response("masked").await.unwrap().unwrap();
    assert_eq!(
        stored.comment.as_deref(),
        Some("call me on [phone] or write to [email]")
    );
    assert_eq!(stored.attributes["contact"], "[email]");
    assert_eq!(stored.attributes.len(), 1);
    // Order ids and customer ids are references, not free text: kept.
    assert_eq!(stored.order_id.as_deref(), Some("SO-12345678"));
    assert_eq!(stored.customer_id.as_deref(), Some("C1"));
    // The same row written again is unchanged: redaction is deterministic.
    let again = store.write_responses(vec![answer("masked")]).await.unwrap();
    assert_eq!(again.unchanged, 1);
    // Imports write through the same path.
    crate::import_text(
        &*store,
        northstar_store::import::ImportKind::Responses,
        "external_id,submitted_at,nps,comment\nimp,2026-01-02T10:00:00Z,9,mail bob@example.org please\n",
    )
    .await
    .unwrap();
    assert_eq!(
        store
            .response("imp")
            .await
            .unwrap()
            .unwrap()
            .comment
            .as_deref(),
        Some("mail [email] please")
    );
    // Extra columns of customers and operational records too.
    crate::import_text(
        &*store,
        northstar_store::import::ImportKind::Customers,
        "customer_id,segment,email\nC1,smb,ann@example.com\n",
    )
    .await
    .unwrap();
    crate::import_text(
        &*store,
        northstar_store::import::ImportKind::Operations,
        "order_id,department,customer_id,delivery_days,target_days,contact\nSO-1,logistics,C1,3,2,+44 20 7946 0958\n",
    )
    .await
    .unwrap();
    let customers = store.backend().customers_after(None, 10).await.unwrap();
    assert_eq!(customers[0].attributes["email"], "[email]");
    let operations = store.backend().operations_after(None, 10).await.unwrap();
    assert_eq!(operations[0].attributes["contact"], "[phone]");
    // What was stored before the setting was turned on stays as it was.
    let stored = store.response("plain").await.unwrap().unwrap();
    assert!(stored.comment.unwrap().contains("ann@example.com"));
}

/// `copy` carries settings (who and when included) after the responses,
/// and `compare` tells when they differ.
async fn settings_are_copied(db: TestDb) {
    let source_db = TestDb::sqlite();
    let source = source_db.open().await;
    let target = db.open().await;
    source.write_responses(vec![answer("a")]).await.unwrap();
    source
        .backend()
        .put_setting(REDACT_PERSONAL_DATA, "on", "admin@example.com", 500)
        .await
        .unwrap();
    for run in 0..2 {
        let copied = northstar_store::copy::copy_all(&*source, &*target, &mut |_, _, _| {})
            .await
            .unwrap();
        let settings = copied.iter().find(|t| t.table == "settings").unwrap();
        assert_eq!(settings.written.accepted(), 1);
        assert_eq!(settings.written.unchanged, run);
        let cmp = northstar_store::copy::compare(&*source, &*target)
            .await
            .unwrap();
        assert!(cmp.identical(), "{cmp:?}");
    }
    assert_eq!(
        target.backend().settings().await.unwrap(),
        source.backend().settings().await.unwrap()
    );
    // The copied comment is exact: the setting arrived after it.
    assert_eq!(
        target.response("a").await.unwrap(),
        source.response("a").await.unwrap()
    );
    target
        .backend()
        .put_setting(REDACT_PERSONAL_DATA, "off", "cli", 600)
        .await
        .unwrap();
    let cmp = northstar_store::copy::compare(&*source, &*target)
        .await
        .unwrap();
    assert_eq!(cmp.differences, ["the settings differ"]);
}

/// Erased customers are named in the log by an HMAC under a key the
/// database makes once: the same id gives the same reference in every
/// process and after a copy, and the key is never audited.
async fn customer_references_are_keyed_and_stable(db: TestDb) {
    let store = db.open().await;
    let other = db.open().await;
    let a = northstar_store::customer_reference(&*store, "C-1042")
        .await
        .unwrap();
    let b = northstar_store::customer_reference(&*other, "C-1042")
        .await
        .unwrap();
    let c = northstar_store::customer_reference(&*store, "C-1043")
        .await
        .unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert!(
        a.starts_with("customer hmac:") && !a.contains("1042"),
        "{a}"
    );
    // Another database has another key: a reference cannot be looked up
    // in a table of hashes of every short id.
    let elsewhere = TestDb::sqlite();
    let elsewhere = elsewhere.open().await;
    assert_ne!(
        northstar_store::customer_reference(&*elsewhere, "C-1042")
            .await
            .unwrap(),
        a
    );
    let audit = store
        .backend()
        .audit_entries(&AuditQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(audit.is_empty(), "{audit:?}");
    // A copy carries the key, so the log's references still check.
    let target_db = TestDb::sqlite();
    let target = target_db.open().await;
    northstar_store::copy::copy_all(&*store, &*target, &mut |_, _, _| {})
        .await
        .unwrap();
    assert_eq!(
        northstar_store::customer_reference(&*target, "C-1042")
            .await
            .unwrap(),
        a
    );
}

crate::conformance!(
    customer_references_are_keyed_and_stable,
    settings_are_stored_and_every_change_is_audited,
    redaction_masks_comments_and_attributes_before_storage,
    settings_are_copied,
);
