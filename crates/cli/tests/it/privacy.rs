//! `northstar settings`, `retention` (from the stored setting or
//! `--months`) and `erase`, as an operator runs them.

use std::path::Path;

use crate::{northstar, text};

fn audit(db: &Path, action: &str) -> String {
    let out = northstar(&["audit", "--action", action], db);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn settings_retention_and_erasure_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("n.db");
    let responses = dir.path().join("responses.csv");
    // r1 and r3 are years old; r2 is far in the future (never old).
    std::fs::write(
        &responses,
        "external_id,submitted_at,customer_id,department,nps,comment\n\
         r1,2020-01-01T10:00:00Z,C1,support,9,write to ann@example.com\n\
         r2,2099-01-01T10:00:00Z,C1,support,3,slow\n\
         r3,2020-01-02T10:00:00Z,C2,billing,7,fine\n",
    )
    .unwrap();
    let out = northstar(&["import", "responses", responses.to_str().unwrap()], &db);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    // Settings: defaults shown, values checked, changes audited.
    let out = northstar(&["settings", "get", "redact_personal_data"], &db);
    assert_eq!(text(&out.stdout), "off\n");
    let out = northstar(&["settings", "set", "redact_personal_data", "yes"], &db);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr)
            .contains("redact_personal_data: \"yes\" is not valid; it must be on or off"),
        "{}",
        text(&out.stderr)
    );
    let out = northstar(&["settings", "set", "retention_months", "1201"], &db);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("from 1 to 1200"),
        "{}",
        text(&out.stderr)
    );
    let out = northstar(&["settings", "get", "colour"], &db);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains(
            "\"colour\" is not a setting; use one of redact_personal_data, retention_months"
        ),
        "{}",
        text(&out.stderr)
    );

    // Retention needs months: from the flag or the stored setting.
    let out = northstar(&["retention"], &db);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no retention is set: pass --months N"),
        "{}",
        text(&out.stderr)
    );
    let out = northstar(&["settings", "set", "retention_months", " 024 "], &db);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "retention_months = 24 (audited)\n");
    let out = northstar(&["settings", "set", "time_zone", "Europe/Pariss"], &db);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains(
            "time_zone: unknown IANA time zone 'Europe/Pariss'; use a name such as Europe/Paris"
        ),
        "{}",
        text(&out.stderr)
    );
    let out = northstar(&["settings", "set", "time_zone", "Europe/Paris"], &db);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("time_zone = Europe/Paris (audited); "),
        "{}",
        text(&out.stdout)
    );
    let out = northstar(&["settings", "list"], &db);
    let list = text(&out.stdout);
    assert!(list.contains("\ntime_zone,Europe/Paris,"), "{list}");
    assert!(
        list.contains("redact_personal_data,off,on or off,-,-\n"),
        "{list}"
    );
    assert!(list.contains("\nretention_months,24,"), "{list}");
    assert!(list.contains(",cli,"), "{list}");
    assert!(
        audit(&db, "setting.").contains(",cli,setting.change,retention_months,(unset) -> 24"),
        "{}",
        audit(&db, "setting.")
    );
    let out = northstar(&["retention"], &db);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout)
            .starts_with("anonymised 2 responses and 0 operational records older than 24 months"),
        "{}",
        text(&out.stdout)
    );
    for months in ["0", "1201", "twelve"] {
        let out = northstar(&["retention", "--months", months], &db);
        assert_eq!(out.status.code(), Some(2), "{months}");
    }
    let out = northstar(&["retention", "--months", "12"], &db);
    assert!(
        text(&out.stdout).starts_with("anonymised 0 responses"),
        "{}",
        text(&out.stdout)
    );
    assert!(audit(&db, "retention.apply").contains("older than 24 months"));

    // Erasure: C1 keeps one identified response (r2); the log never names
    // the customer.
    let out = northstar(&["erase", "--customer", "C1"], &db);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(": 1 responses, 0 customer records, 0 operational records"),
        "{}",
        text(&out.stdout)
    );
    let stdout = text(&out.stdout);
    let reference = stdout
        .split("(audited as ")
        .nth(1)
        .and_then(|r| r.strip_suffix(")\n"))
        .unwrap()
        .to_string();
    assert!(reference.starts_with("customer hmac:"), "{stdout}");
    assert_eq!(reference.len(), "customer hmac:".len() + 16);
    let log = audit(&db, "erase.");
    assert!(log.contains(&reference), "{log}");
    assert!(!log.contains("C1"), "{log}");
    // Who holds the id can find the entry; another id finds nothing.
    let out = northstar(&["audit", "--customer", "C1"], &db);
    let found = text(&out.stdout);
    assert_eq!(found.lines().count(), 2, "{found}");
    assert!(found.contains("erase.customer"), "{found}");
    let out = northstar(&["audit", "--customer", "C2"], &db);
    assert_eq!(text(&out.stdout).lines().count(), 1);
    // The key is the database's own: not a setting anyone lists or sets.
    let out = northstar(&["settings", "list"], &db);
    assert!(!text(&out.stdout).contains("audit_key"));
    let out = northstar(&["settings", "set", "audit_key", "x"], &db);
    assert_eq!(out.status.code(), Some(1));
    let out = northstar(&["erase", "--customer", "  "], &db);
    assert_eq!(out.status.code(), Some(1));

    // A backup takes everything: audited as an export.
    let backup = dir.path().join("copy.db");
    let out = northstar(&["backup", "--to", backup.to_str().unwrap()], &db);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        audit(&db, "export").contains(",cli,export,backup,the whole database to "),
        "{}",
        audit(&db, "export")
    );
}
