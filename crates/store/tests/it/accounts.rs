//! Accounts and sessions behave alike on both databases.

use northstar_core::account::Role;
use northstar_store::StoreError;
use northstar_store::accounts::{self, NewUser, UserChange};

use crate::TestDb;

fn new_user(email: &str, role: Role, department: Option<&str>) -> NewUser {
    NewUser {
        email: email.into(),
        role,
        department: department.map(String::from),
        // Not a real hash: these tests are about storage, not argon2.
        password_hash: format!("hash-of-{email}"),
    }
}

async fn accounts_are_unique_by_email_and_change_in_place(db: TestDb) {
    let store = db.open().await;
    let b = store.backend();
    let admin = b
        .insert_user(&new_user("admin@example.com", Role::Admin, None), 100)
        .await
        .unwrap();
    let lead = b
        .insert_user(
            &new_user("lead@example.com", Role::DepartmentLead, Some("logistics")),
            101,
        )
        .await
        .unwrap();
    assert_ne!(admin.id, lead.id);
    let again = b
        .insert_user(&new_user("admin@example.com", Role::Viewer, None), 102)
        .await;
    assert!(matches!(again, Err(StoreError::Exists(_))), "{again:?}");
    let all = b.users().await.unwrap();
    assert_eq!(
        all.iter().map(|u| u.email.as_str()).collect::<Vec<_>>(),
        ["admin@example.com", "lead@example.com"]
    );
    assert_eq!(all[1].department.as_deref(), Some("logistics"));
    let (user, hash) = b.user_with_hash("lead@example.com").await.unwrap().unwrap();
    assert_eq!(
        (user.role, hash.as_str()),
        (Role::DepartmentLead, "hash-of-lead@example.com")
    );
    assert!(
        b.user_with_hash("nobody@example.com")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(b.active_admins().await.unwrap(), 1);

    // A new role replaces the department too; disabling counts.
    let changed = b
        .update_user(
            "lead@example.com",
            &UserChange {
                role: Some((Role::CxLead, None)),
                ..Default::default()
            },
            200,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!((changed.role, changed.department), (Role::CxLead, None));
    b.insert_user(&new_user("second@example.com", Role::Admin, None), 200)
        .await
        .unwrap();
    let disabled = b
        .update_user(
            "admin@example.com",
            &UserChange {
                disabled: Some(true),
                ..Default::default()
            },
            201,
        )
        .await
        .unwrap()
        .unwrap();
    assert!(disabled.disabled);
    assert_eq!(b.active_admins().await.unwrap(), 1);
    assert!(
        b.update_user("nobody@example.com", &UserChange::default(), 202)
            .await
            .unwrap()
            .is_none()
    );
}

async fn sessions_expire_and_end_with_their_account(db: TestDb) {
    let store = db.open().await;
    let b = store.backend();
    let user = b
        .insert_user(&new_user("cx@example.com", Role::CxLead, None), 100)
        .await
        .unwrap();
    let (token, csrf) = (accounts::new_token(), accounts::new_token());
    let hash = accounts::token_hash(&token);
    b.insert_session(&hash, user.id, &csrf, 1_000)
        .await
        .unwrap();
    let session = b.session(&hash).await.unwrap().unwrap();
    assert_eq!(
        (session.user.id, session.csrf_token.as_str()),
        (user.id, csrf.as_str())
    );
    // The token itself opens nothing: only its hash is stored.
    assert!(b.session(&token).await.unwrap().is_none());
    b.touch_session(&hash, 1_500).await.unwrap();
    assert_eq!(
        b.session(&hash).await.unwrap().unwrap().last_seen_unix,
        1_500
    );
    // Idle since before 1,400? No. Created before 900? No.
    assert_eq!(b.delete_expired_sessions(1_400, 900).await.unwrap(), 0);
    // Absolute expiry: created before 1,001.
    assert_eq!(b.delete_expired_sessions(0, 1_001).await.unwrap(), 1);
    assert!(b.session(&hash).await.unwrap().is_none());

    // Disabling (or a new role, or a new password) ends the sessions.
    for change in [
        UserChange {
            disabled: Some(true),
            ..Default::default()
        },
        UserChange {
            role: Some((Role::Viewer, None)),
            disabled: Some(false),
            ..Default::default()
        },
        UserChange {
            password_hash: Some("new".into()),
            ..Default::default()
        },
    ] {
        b.update_user(
            "cx@example.com",
            &UserChange {
                disabled: Some(false),
                ..Default::default()
            },
            1_600,
        )
        .await
        .unwrap();
        b.insert_session(&hash, user.id, &csrf, 1_700)
            .await
            .unwrap();
        assert!(b.session(&hash).await.unwrap().is_some());
        b.update_user("cx@example.com", &change, 1_800)
            .await
            .unwrap();
        assert!(b.session(&hash).await.unwrap().is_none(), "{change:?}");
    }
    b.insert_session(&hash, user.id, &csrf, 1_900)
        .await
        .unwrap();
    b.delete_session(&hash).await.unwrap();
    assert!(b.session(&hash).await.unwrap().is_none());
}

fn audit_entry(at: i64) -> northstar_store::accounts::AuditEntry {
    northstar_store::accounts::AuditEntry {
        at_unix: at,
        actor: "cli".into(),
        action: "user.add".into(),
        target: format!("t{at}"),
        detail: String::new(),
    }
}

/// `copy` carries accounts with their password hashes, and again changes
/// nothing.
async fn accounts_are_copied(db: TestDb) {
    let source_db = TestDb::sqlite();
    let source = source_db.open().await;
    let target = db.open().await;
    let b = source.backend();
    b.insert_user(&new_user("admin@example.com", Role::Admin, None), 100)
        .await
        .unwrap();
    b.insert_user(
        &new_user("amb@example.com", Role::Ambassador, Some("support")),
        101,
    )
    .await
    .unwrap();
    let off = UserChange {
        disabled: Some(true),
        ..Default::default()
    };
    b.update_user("amb@example.com", &off, 102).await.unwrap();
    b.insert_api_token("etl", "hash-of-etl", Role::Viewer, None, 103)
        .await
        .unwrap();
    for at in [1, 2, 3] {
        b.append_audit(&audit_entry(at)).await.unwrap();
    }
    for run in 0..2 {
        let copied = northstar_store::copy::copy_all(&*source, &*target, &mut |_, _, _| {})
            .await
            .unwrap();
        let users = copied.iter().find(|t| t.table == "users").unwrap();
        assert_eq!(users.written.accepted(), 2);
        if run == 1 {
            assert_eq!(users.written.unchanged, 2);
        }
        let cmp = northstar_store::copy::compare(&*source, &*target)
            .await
            .unwrap();
        assert!(cmp.identical(), "{cmp:?}");
    }
    let t = target.backend();
    assert!(
        t.use_api_token("hash-of-etl", 900).await.unwrap().is_some(),
        "the token works on the target"
    );
    let all = t
        .audit_entries(&northstar_store::accounts::AuditQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|e| e.target.as_str()).collect::<Vec<_>>(),
        ["t3", "t2", "t1"],
        "copied once"
    );
    // New entries on the target do not collide with the copied ids.
    t.append_audit(&audit_entry(4)).await.unwrap();
    let (user, hash) = target
        .backend()
        .user_with_hash("amb@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (user.disabled, user.department.as_deref(), hash.as_str()),
        (true, Some("support"), "hash-of-amb@example.com")
    );
}

/// No change leaves the store without an active admin, even when two
/// admins demote each other at the same moment.
async fn the_last_active_admin_cannot_be_demoted_or_disabled(db: TestDb) {
    let store = db.open().await;
    let b = store.backend();
    for email in ["a@example.com", "b@example.com"] {
        b.insert_user(&new_user(email, Role::Admin, None), 100)
            .await
            .unwrap();
    }
    let demote = UserChange {
        role: Some((Role::Viewer, None)),
        ..Default::default()
    };
    let disable = UserChange {
        disabled: Some(true),
        ..Default::default()
    };
    b.update_user("a@example.com", &disable, 101).await.unwrap();
    for change in [&demote, &disable] {
        let refused = b.update_user("b@example.com", change, 102).await;
        assert!(
            matches!(&refused, Err(StoreError::Refused(m)) if m.contains("last active admin")),
            "{refused:?}"
        );
    }
    assert_eq!(b.active_admins().await.unwrap(), 1);
    // A password change of the last admin is fine.
    let password = UserChange {
        password_hash: Some("new".into()),
        ..Default::default()
    };
    b.update_user("b@example.com", &password, 103)
        .await
        .unwrap();
    b.update_user(
        "a@example.com",
        &UserChange {
            disabled: Some(false),
            ..Default::default()
        },
        104,
    )
    .await
    .unwrap();
    // Both at once: exactly one goes through.
    let other = db.open().await;
    let (x, y) = tokio::join!(
        b.update_user("a@example.com", &demote, 105),
        other.backend().update_user("b@example.com", &demote, 105)
    );
    let refused = [&x, &y]
        .iter()
        .filter(|r| matches!(r, Err(StoreError::Refused(_))))
        .count();
    assert_eq!(refused, 1, "{x:?} {y:?}");
    assert_eq!(b.active_admins().await.unwrap(), 1);
    // Changing a non-admin while no admin exists is not refused.
    let store2 = TestDb::sqlite();
    let s2 = store2.open().await;
    s2.backend()
        .insert_user(&new_user("v@example.com", Role::Viewer, None), 100)
        .await
        .unwrap();
    s2.backend()
        .update_user("v@example.com", &disable, 101)
        .await
        .unwrap();
}

crate::conformance!(
    accounts_are_copied,
    the_last_active_admin_cannot_be_demoted_or_disabled,
    accounts_are_unique_by_email_and_change_in_place,
    sessions_expire_and_end_with_their_account,
);

mod audit {
    use northstar_store::accounts::{AuditEntry, AuditQuery};

    use crate::TestDb;

    fn entry(at: i64, actor: &str, action: &str, target: &str) -> AuditEntry {
        AuditEntry {
            at_unix: at,
            actor: actor.into(),
            action: action.into(),
            target: target.into(),
            detail: String::new(),
        }
    }

    /// The audit log reads back newest first, filtered by actor, action (or
    /// a family of actions) and time, and bounded.
    async fn the_audit_log_filters_and_bounds_its_reads(db: TestDb) {
        let store = db.open().await;
        let b = store.backend();
        for (at, actor, action, target) in [
            (10, "cli", "user.add", "a@example.com"),
            (20, "a@example.com", "sign_in", ""),
            (30, "a@example.com", "export", "metrics.csv"),
            (40, "cli", "user.set_role", "a@example.com"),
            (50, "b@example.com", "sign_in.failed", ""),
        ] {
            b.append_audit(&entry(at, actor, action, target))
                .await
                .unwrap();
        }
        let all = b
            .audit_entries(&AuditQuery {
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(
            all.iter().map(|e| e.at_unix).collect::<Vec<_>>(),
            [50, 40, 30, 20, 10]
        );
        let users = b
            .audit_entries(&AuditQuery {
                action: Some("user.".into()),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(
            users.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
            ["user.set_role", "user.add"]
        );
        let sign_in = b
            .audit_entries(&AuditQuery {
                action: Some("sign_in".into()),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(sign_in.len(), 1, "an exact action is not a family");
        let window = b
            .audit_entries(&AuditQuery {
                actor: Some("a@example.com".into()),
                from_unix: Some(25),
                to_unix: Some(35),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(window.len(), 1);
        assert_eq!(window[0].target, "metrics.csv");
        let capped = b
            .audit_entries(&AuditQuery {
                limit: 2,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(capped.len(), 2);
    }

    /// Not even SQL from outside the application changes the log.
    async fn the_audit_log_refuses_changes_and_deletions(db: TestDb) {
        let store = db.open().await;
        store
            .backend()
            .append_audit(&entry(1, "a@example.com", "sign_in", "a@example.com"))
            .await
            .unwrap();
        let statements = [
            "UPDATE audit_log SET actor = 'someone else'",
            "DELETE FROM audit_log",
        ];
        if let northstar_store::test_db::Engine::Sqlite = db.engine() {
            // A REPLACE deletes without the delete trigger: it is dropped.
            let pool = sqlx::SqlitePool::connect(db.url()).await.unwrap();
            sqlx::query(
                "INSERT OR REPLACE INTO audit_log (id, at_unix, actor, action, target, detail) \
                 SELECT id, at_unix, 'someone else', action, target, detail FROM audit_log",
            )
            .execute(&pool)
            .await
            .unwrap();
        }
        for sql in statements {
            let refused = match db.engine() {
                northstar_store::test_db::Engine::Sqlite => {
                    let pool = sqlx::SqlitePool::connect(db.url()).await.unwrap();
                    sqlx::query(sql).execute(&pool).await.err()
                }
                northstar_store::test_db::Engine::Postgres => {
                    let pool = sqlx::PgPool::connect(db.url()).await.unwrap();
                    sqlx::query(sql).execute(&pool).await.err()
                }
            };
            let message = refused.map(|e| e.to_string()).unwrap_or_default();
            assert!(message.contains("append-only"), "{sql}: {message}");
        }
        let kept = store
            .backend()
            .audit_entries(&AuditQuery {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].actor, "a@example.com");
    }

    crate::conformance!(
        the_audit_log_filters_and_bounds_its_reads,
        the_audit_log_refuses_changes_and_deletions,
    );
}

mod tokens {
    use northstar_core::account::Role;
    use northstar_store::StoreError;
    use northstar_store::accounts;

    use crate::TestDb;

    /// API tokens open only by their secret's hash, record their last use,
    /// and stop working once revoked.
    async fn api_tokens_are_found_by_hash_and_revoked_by_name(db: TestDb) {
        let store = db.open().await;
        let b = store.backend();
        let secret = accounts::new_api_token();
        assert!(secret.starts_with(accounts::API_TOKEN_PREFIX));
        let hash = accounts::token_hash(&secret);
        let token = b
            .insert_api_token("etl", &hash, Role::Ambassador, Some("support"), 100)
            .await
            .unwrap();
        assert_eq!(
            (
                token.role,
                token.department.as_deref(),
                token.last_used_unix
            ),
            (Role::Ambassador, Some("support"), None)
        );
        let again = b
            .insert_api_token("etl", "other", Role::Viewer, None, 101)
            .await;
        assert!(matches!(again, Err(StoreError::Exists(_))), "{again:?}");
        assert!(
            b.use_api_token(&secret, 150).await.unwrap().is_none(),
            "only the hash opens"
        );
        let (used, before) = b.use_api_token(&hash, 200).await.unwrap().unwrap();
        assert_eq!((used.last_used_unix, before), (Some(200), None));
        // Within a minute the stored time stays; after, it moves.
        let (used, before) = b.use_api_token(&hash, 230).await.unwrap().unwrap();
        assert_eq!((used.last_used_unix, before), (Some(200), Some(200)));
        let (used, before) = b.use_api_token(&hash, 260).await.unwrap().unwrap();
        assert_eq!((used.last_used_unix, before), (Some(260), Some(200)));
        let revoked = b.revoke_api_token("etl", 300).await.unwrap().unwrap();
        assert_eq!(revoked.revoked_unix, Some(300));
        assert!(b.use_api_token(&hash, 400).await.unwrap().is_none());
        assert!(
            b.revoke_api_token("etl", 500).await.unwrap().is_none(),
            "revoked once"
        );
        let all = b.api_tokens().await.unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(
            (all[0].last_used_unix, all[0].revoked_unix),
            (Some(260), Some(300))
        );
    }

    crate::conformance!(api_tokens_are_found_by_hash_and_revoked_by_name);
}

mod throttle {
    use crate::TestDb;

    /// Failed sign-ins are counted per key over a window, forgotten when
    /// old, and cleared by a success.
    async fn failed_sign_ins_are_counted_per_key(db: TestDb) {
        let store = db.open().await;
        let b = store.backend();
        let keys = [
            "account:a@example.com".to_string(),
            "address:192.0.2.1".to_string(),
        ];
        for at in [100, 200, 300] {
            b.record_sign_in_failure(&keys, at, 0).await.unwrap();
        }
        b.record_sign_in_failure(&keys[1..], 400, 0).await.unwrap();
        assert_eq!(
            b.sign_in_failures("account:a@example.com", 0)
                .await
                .unwrap(),
            3
        );
        assert_eq!(
            b.sign_in_failures("address:192.0.2.1", 250).await.unwrap(),
            2
        );
        assert_eq!(
            b.sign_in_failures("account:b@example.com", 0)
                .await
                .unwrap(),
            0
        );
        b.clear_sign_in_failures("account:a@example.com")
            .await
            .unwrap();
        assert_eq!(
            b.sign_in_failures("account:a@example.com", 0)
                .await
                .unwrap(),
            0
        );
        // Writing forgets what is older than the window.
        b.record_sign_in_failure(&keys[1..], 1_000, 350)
            .await
            .unwrap();
        assert_eq!(b.sign_in_failures("address:192.0.2.1", 0).await.unwrap(), 2);
    }

    crate::conformance!(failed_sign_ins_are_counted_per_key);
}
