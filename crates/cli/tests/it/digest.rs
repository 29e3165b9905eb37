//! `northstar digest send` against a real SMTP receiver on loopback: the
//! recipients count, and a clear error with a non-zero exit status for an
//! unknown department, a missing SMTP server and a refused connection.

use std::path::Path;

use crate::smtp::{Answer, SmtpReceiver};
use crate::{northstar, text};

fn logistics(db: &Path) {
    let url = format!("sqlite://{}", db.display());
    let department = serde_json::from_value(serde_json::json!({
        "name": "logistics",
        "leader": "lead@example.com",
        "ambassadors": ["amb@example.com"],
        "touchpoints": ["delivery"],
    }))
    .unwrap();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = northstar_store::open(&url).await.unwrap();
        store
            .backend()
            .put_department(&department, "cli-test", 0)
            .await
            .unwrap();
        // The digest goes to active accounts only.
        for (email, role) in [
            (
                "lead@example.com",
                northstar_core::account::Role::DepartmentLead,
            ),
            ("amb@example.com", northstar_core::account::Role::Ambassador),
        ] {
            store
                .backend()
                .insert_user(
                    &northstar_store::accounts::NewUser {
                        email: email.into(),
                        role,
                        department: Some("logistics".into()),
                        password_hash: "not a hash: this account never signs in".into(),
                    },
                    0,
                )
                .await
                .unwrap();
        }
    });
}

fn send(db: &Path, department: &str, smtp_url: &str) -> std::process::Output {
    northstar(
        &[
            "digest",
            "send",
            "--department",
            department,
            "--smtp-url",
            smtp_url,
            "--mail-from",
            "Northstar <cx@example.com>",
            "--public-url",
            "http://127.0.0.1:8080",
        ],
        db,
    )
}

#[test]
fn digest_send_reports_recipients_and_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("n.db");
    logistics(&db);
    let receiver = SmtpReceiver::start(Answer::Accept);

    let out = send(&db, "logistics", &receiver.url());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("sent the digest of logistics (week ")
            && text(&out.stdout).contains(" to 2 recipients"),
        "{}",
        text(&out.stdout)
    );
    let messages = receiver.messages();
    assert_eq!(messages.len(), 2);
    let body = messages[0].part("text/plain").unwrap();
    assert!(body.starts_with("Weekly digest for logistics"), "{body}");
    assert!(
        body.contains("http://127.0.0.1:8080/unsubscribe/"),
        "{body}"
    );

    let out = send(&db, "shipping", &receiver.url());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr)
            .contains("no department named \"shipping\"; the departments are: logistics"),
        "{}",
        text(&out.stderr)
    );

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("smtp://{}", closed.local_addr().unwrap());
    drop(closed);
    let out = send(&db, "logistics", &url);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("the SMTP server did not take the digest of logistics"),
        "{}",
        text(&out.stderr)
    );

    let out = northstar(&["digest", "send", "--department", "logistics"], &db);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no SMTP server: give --smtp-url"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(receiver.messages().len(), 2);
}
