//! The `northstar` binary, run as a user would: exit codes, line-level
//! errors, idempotent re-imports, rollup rebuilds and the demo server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod crash;
mod digest;
mod memory;
mod multi_server;
mod privacy;
/// The SMTP receiver of the server's tests.
#[path = "../../../server/tests/it/smtp.rs"]
mod smtp;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn northstar(args: &[&str], db: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_northstar"))
        .args(args)
        .env(
            "NORTHSTAR_DATABASE_URL",
            format!("sqlite://{}", db.display()),
        )
        .env("NORTHSTAR_LOG", "warn")
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn import_reports_each_rejected_row_and_exits_by_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("n.db");
    let good = dir.path().join("good.csv");
    std::fs::write(&good, "external_id,submitted_at,department,nps\nr1,2026-01-01T10:00:00Z,support,9\nr2,2026-01-02T10:00:00Z,support,3\n").unwrap();
    let out = northstar(&["import", "responses", good.to_str().unwrap()], &db);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("2 accepted (2 new"),
        "{}",
        text(&out.stdout)
    );
    let again = northstar(&["import", "responses", good.to_str().unwrap()], &db);
    assert!(
        text(&again.stdout).contains("(0 new, 0 replaced, 2 unchanged)"),
        "{}",
        text(&again.stdout)
    );

    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "external_id,submitted_at,nps\nr3,2026-01-03T10:00:00Z,7\nr4,2026-01-03,7\nr5,2026-01-03T10:00:00Z,ten\n").unwrap();
    let out = northstar(&["import", "responses", bad.to_str().unwrap()], &db);
    assert_eq!(out.status.code(), Some(3));
    let stderr = text(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines[0].starts_with(&format!(
            "{}:3: submitted_at: \"2026-01-03\" is not an RFC 3339 timestamp (",
            bad.display()
        )),
        "{stderr}"
    );
    assert!(
        lines[1].starts_with(&format!(
            "{}:4: nps: \"ten\" is not a whole number from 0 to 10 (",
            bad.display()
        )),
        "{stderr}"
    );
    assert!(text(&out.stdout).contains("1 accepted"));

    let header = dir.path().join("header.csv");
    std::fs::write(&header, "id,nps\n1,9\n").unwrap();
    let out = northstar(&["import", "responses", header.to_str().unwrap()], &db);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains(":1: external_id: required column is missing"),
        "{}",
        text(&out.stderr)
    );

    assert_eq!(
        northstar(&["import", "responses", "/no/such/file.csv"], &db)
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        northstar(&["import", "surveys", good.to_str().unwrap()], &db)
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn demo_data_imports_cleanly_and_rollups_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("n.db");
    let data = dir.path().join("data");
    let out = northstar(
        &[
            "demo-data",
            "--out",
            data.to_str().unwrap(),
            "--responses",
            "3000",
        ],
        &db,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    for kind in ["customers", "operations", "responses"] {
        let file = data.join(format!("{kind}.csv"));
        let out = northstar(&["import", kind, file.to_str().unwrap()], &db);
        assert_eq!(out.status.code(), Some(0), "{kind}: {}", text(&out.stderr));
    }
    let out = northstar(&["rebuild-rollups"], &db);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("rebuilt "));
    assert!(northstar(&["migrate"], &db).status.success());
    let out = northstar(&["verify-rollups"], &db);
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("tables equal a rebuild from raw responses: yes"),
        "{}",
        text(&out.stdout)
    );

    // A backup of the file in use is a database of its own; it never
    // overwrites.
    let backup = dir.path().join("backup.db");
    let out = northstar(&["backup", "--to", backup.to_str().unwrap()], &db);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = northstar(&["verify-rollups"], &backup);
    assert!(out.status.success(), "{}", text(&out.stdout));
    let out = northstar(&["backup", "--to", backup.to_str().unwrap()], &db);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("already exists"),
        "{}",
        text(&out.stderr)
    );

    // SQLite → PostgreSQL → SQLite, identical answers at each step; a
    // second run (as after an interruption) changes nothing.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(pg) = rt.block_on(northstar_store::test_db::TestDb::new(
        northstar_store::test_db::Engine::Postgres,
    )) else {
        return;
    };
    let back = format!("sqlite://{}", dir.path().join("back.db").display());
    let from = format!("sqlite://{}", db.display());
    for (from, to) in [(from.as_str(), pg.url()), (pg.url(), back.as_str())] {
        for run in 0..2 {
            let out = northstar(&["copy", "--from", from, "--to", to], &db);
            let stdout = text(&out.stdout);
            assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
            assert!(stdout.contains("identical answers"), "{stdout}");
            assert!(stdout.contains("responses: 3000 rows copied"), "{stdout}");
            if run == 1 {
                assert!(
                    stdout.contains("(0 new, 0 replaced, 3000 unchanged)"),
                    "{stdout}"
                );
            }
        }
    }
    let out = northstar(&["verify-rollups"], &dir.path().join("back.db"));
    assert!(out.status.success(), "{}", text(&out.stdout));
}

#[test]
fn operations_count_rows_and_records_and_lookalike_headers_warn() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("n.db");
    let ops = dir.path().join("ops.csv");
    std::fs::write(
        &ops,
        "Order_ID,Department,delivery_days,target_days,measure_touches,Customer ID\n\
         SO-1,logistics,4,5,2,C1\nSO-2,logistics,3,5,,C2\n",
    )
    .unwrap();
    let out = northstar(&["import", "operations", ops.to_str().unwrap()], &db);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("2 rows read, 2 accepted, giving 3 records (3 new"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stderr).contains(":1: warning: Customer ID: is not a column Northstar knows"),
        "{}",
        text(&out.stderr)
    );
}

/// The admin token of each server the tests started, by address: every
/// `/api/v1` route needs credentials.
static TOKENS: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());

fn authorization(addr: &str) -> String {
    TOKENS
        .lock()
        .unwrap()
        .iter()
        .find(|(a, _)| a == addr)
        .map(|(_, t)| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default()
}

/// Creates an admin API token in the database a URL names.
fn admin_token(url: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_northstar"))
        .args([
            "token",
            "--database",
            url,
            "create",
            "--name",
            &format!("test-{}", fastrand_name()),
            "--role",
            "admin",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout).trim().to_string()
}

fn fastrand_name() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn http_get(addr: &str, path: &str) -> String {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{}Connection: close\r\n\r\n",
        authorization(addr)
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// Kills the child process however the test ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads the child's stdout up to the line that says where it serves;
/// returns that address and the rest of its output.
fn announced_address(child: &mut KillOnDrop) -> (String, Stdout) {
    let mut lines = BufReader::new(child.0.stdout.take().expect("stdout is piped")).lines();
    loop {
        let line = lines.next().expect("the URL is printed").unwrap();
        if let Some(rest) = line.split("at http://").nth(1) {
            return (rest.trim_end_matches('/').to_string(), lines);
        }
    }
}

type Stdout = std::io::Lines<BufReader<std::process::ChildStdout>>;

fn serve(db: &Path) -> (KillOnDrop, String, Stdout) {
    serve_url(&format!("sqlite://{}", db.display()))
}

/// A `northstar serve` on the database a URL names, on a free port; the
/// HTTP helpers then send an admin token to it.
fn serve_url(url: &str) -> (KillOnDrop, String, Stdout) {
    let token = admin_token(url);
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_northstar"))
            .args(["serve", "--bind", "127.0.0.1:0"])
            .env("NORTHSTAR_DATABASE_URL", url)
            .env("NORTHSTAR_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let (addr, stdout) = announced_address(&mut child);
    TOKENS.lock().unwrap().push((addr.clone(), token));
    (child, addr, stdout)
}

fn http_post(addr: &str, path: &str, body: &str) -> String {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\n{}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        authorization(addr),
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// A write the API acknowledged survives the server process being killed
/// (SIGKILL) right after: the commit happened before the response.
#[test]
fn acknowledged_writes_survive_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("durable.db");
    let (mut server, addr, _stdout) = serve(&db);
    let batch: Vec<String> = (0..500)
        .map(|i| format!(r#"{{"external_id":"d{i}","submitted_at":"2026-05-01T10:00:00Z","department":"support","nps":{}}}"#, i % 11))
        .collect();
    let response = http_post(
        &addr,
        "/api/v1/responses",
        &format!("[{}]", batch.join(",")),
    );
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"inserted\":500"), "{response}");
    server.0.kill().unwrap(); // SIGKILL: no shutdown, no checkpoint
    server.0.wait().unwrap();

    let (_server, addr, _stdout) = serve(&db);
    let metrics = http_get(&addr, "/api/v1/metrics?metric=nps");
    assert!(metrics.contains("\"n\":500"), "{metrics}");
}

#[test]
fn demo_generates_serves_and_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_northstar"))
            .args(["demo", "--responses", "2000", "--bind", "127.0.0.1:0"])
            .env(
                "NORTHSTAR_DEMO_DATABASE_URL",
                format!("sqlite://{}", db.display()),
            )
            .env("NORTHSTAR_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // The demo prints one account per role with its password, then where it serves.
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let mut accounts = Vec::new();
    let url = loop {
        let line = lines.next().expect("the URL is printed").unwrap();
        if let Some(rest) = line.split("at http://").nth(1) {
            break rest.trim_end_matches('/').to_string();
        }
        if line.contains("@demo.northstar.test") {
            accounts.push(line);
        }
    };
    assert_eq!(accounts.len(), 6, "{accounts:?}");
    let sign_in = lines.next().unwrap().unwrap();
    assert!(sign_in.contains("/sign-in"), "{sign_in}");
    // Sign in as the CX lead with the printed password.
    let lead: Vec<&str> = accounts
        .iter()
        .find(|l| l.trim_start().starts_with("cx_lead"))
        .unwrap()
        .split_whitespace()
        .collect();
    let (email, password) = (lead[1], lead[2]);
    let form = format!("email={}&password={password}", email.replace('@', "%40"));
    let mut stream = std::net::TcpStream::connect(&url).unwrap();
    write!(
        stream,
        "POST /sign-in HTTP/1.1\r\nHost: {url}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    )
    .unwrap();
    let mut signed_in = String::new();
    stream.read_to_string(&mut signed_in).unwrap();
    assert!(signed_in.starts_with("HTTP/1.1 303"), "{signed_in}");
    let cookie = signed_in
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_string();
    let mut stream = std::net::TcpStream::connect(&url).unwrap();
    write!(
        stream,
        "GET / HTTP/1.1\r\nHost: {url}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut page = String::new();
    stream.read_to_string(&mut page).unwrap();
    TOKENS.lock().unwrap().push((
        url.clone(),
        admin_token(&format!("sqlite://{}", db.display())),
    ));
    let api = http_get(&url, "/api/v1/metrics?metric=nps&group_by=department");
    drop(child);
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("Net Promoter Score"));
    assert!(page.contains("cx-lead@demo.northstar.test"));
    for dept in ["logistics", "support", "billing", "sales"] {
        assert!(
            api.contains(&format!("\"key\":\"{dept}\"")),
            "{dept} in {api}"
        );
    }
}

/// `--log-format json` writes one JSON object per line, request logs with
/// the request id a client sent.
#[test]
fn json_logs_carry_the_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("logs.db");
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_northstar"))
            .args(["--log-format", "json", "serve", "--bind", "127.0.0.1:0"])
            .env(
                "NORTHSTAR_DATABASE_URL",
                format!("sqlite://{}", db.display()),
            )
            .env("NORTHSTAR_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let (addr, _stdout) = announced_address(&mut child);
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    write!(stream, "GET /healthz HTTP/1.1\r\nHost: {addr}\r\nx-request-id: trace-me-42\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(
        response.contains("trace-me-42"),
        "the id comes back: {response}"
    );
    std::thread::sleep(std::time::Duration::from_millis(200));
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    let mut stderr = String::new();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let logs: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        logs.iter()
            .any(|l| l["span"]["request_id"] == "trace-me-42" && l["fields"]["status"] == 200),
        "{stderr}"
    );
}

/// `northstar user`: passwords only from a prompt or standard input, roles
/// checked with their department, and clear messages.
#[test]
fn accounts_are_managed_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("users.db");
    let with_stdin = |args: &[&str], input: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_northstar"))
            .args(args)
            .env(
                "NORTHSTAR_DATABASE_URL",
                format!("sqlite://{}", db.display()),
            )
            .env("NORTHSTAR_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let out = northstar(&["user", "list"], &db);
    assert!(
        text(&out.stdout).contains("create the first admin"),
        "{}",
        text(&out.stdout)
    );
    let add = [
        "user",
        "add",
        "--email",
        " Admin@Example.com ",
        "--role",
        "admin",
        "--password-stdin",
    ];
    let out = with_stdin(&add, "correct horse battery\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "added admin@example.com as admin");
    let out = with_stdin(&add, "correct horse battery\n");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("exists already"),
        "{}",
        text(&out.stderr)
    );
    let out = with_stdin(
        &[
            "user",
            "add",
            "--email",
            "lead@example.com",
            "--role",
            "department_lead",
            "--password-stdin",
        ],
        "correct horse battery\n",
    );
    assert!(
        text(&out.stderr).contains("department: is required for the role department_lead"),
        "{}",
        text(&out.stderr)
    );
    let out = with_stdin(
        &[
            "user",
            "add",
            "--email",
            "lead@example.com",
            "--role",
            "department_lead",
            "--department",
            "logistics",
            "--password-stdin",
        ],
        "short\n",
    );
    assert!(
        text(&out.stderr).contains("at least 12"),
        "{}",
        text(&out.stderr)
    );
    let out = with_stdin(
        &[
            "user",
            "add",
            "--email",
            "lead@example.com",
            "--role",
            "department_lead",
            "--department",
            "logistics",
            "--password-stdin",
        ],
        "another long password\n",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = northstar(
        &[
            "user",
            "set-role",
            "--email",
            "lead@example.com",
            "--role",
            "finance",
        ],
        &db,
    );
    assert_eq!(
        text(&out.stdout).trim(),
        "lead@example.com is now finance (signed out)"
    );
    let out = northstar(&["user", "disable", "--email", "lead@example.com"], &db);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = northstar(&["user", "list"], &db);
    assert_eq!(
        text(&out.stdout),
        "admin@example.com\tadmin\t-\tactive\nlead@example.com\tfinance\t-\tdisabled\n"
    );
    let out = northstar(
        &[
            "user",
            "set-role",
            "--email",
            "nobody@example.com",
            "--role",
            "viewer",
        ],
        &db,
    );
    assert!(
        text(&out.stderr).contains("no account for nobody@example.com"),
        "{}",
        text(&out.stderr)
    );
    let out = northstar(
        &[
            "user",
            "add",
            "--email",
            "x@example.com",
            "--role",
            "root",
            "--password-stdin",
        ],
        &db,
    );
    assert!(
        text(&out.stderr).contains("is not a role; use one of admin, cx_lead"),
        "{}",
        text(&out.stderr)
    );
    // A new password: checked, audited; the only admin cannot be demoted.
    let set = [
        "user",
        "set-password",
        "--email",
        "lead@example.com",
        "--password-stdin",
    ];
    let out = with_stdin(&set, "short\n");
    assert!(!out.status.success());
    let out = with_stdin(&set, "another long passphrase\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "lead@example.com has a new password (signed out)"
    );
    let out = northstar(&["audit", "--action", "user.set_password"], &db);
    assert!(text(&out.stdout).contains(",cli,user.set_password,lead@example.com,"));
    let out = northstar(
        &[
            "user",
            "set-role",
            "--email",
            "admin@example.com",
            "--role",
            "viewer",
        ],
        &db,
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("is the last active admin"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn departments_import_export_and_kpi_values_report_what_they_reject() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("d.db");
    let file = dir.path().join("departments.json");
    std::fs::write(
        &file,
        r#"[{"name": "billing", "leader": "b@example.com", "goals": [{"title": "Invoice accuracy",
             "kpi": {"measure": "invoice_accuracy", "statistic": "external", "direction": "higher_is_better", "target": 0.98},
             "customer_metric": {"metric": "csat", "filter": {"touchpoint": "invoice"}}}]},
           {"name": "sales", "goals": [{"title": "Conversion",
             "kpi": {"measure": "conversion", "statistic": "share_within_target", "direction": "higher_is_better", "target": 25},
             "customer_metric": {"metric": "nps"}}]}]"#,
    )
    .unwrap();
    let out = northstar(&["departments", "import", file.to_str().unwrap()], &db);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("department [1] (sales): goals[0].kpi.target: 25 is not a share"),
        "{stderr}"
    );
    assert!(text(&out.stdout).contains("1 departments stored, 1 rejected"));
    // Idempotent: the same file again stores the same record.
    let again = northstar(&["departments", "import", file.to_str().unwrap()], &db);
    assert_eq!(again.status.code(), Some(3));
    let list = northstar(&["departments", "list"], &db);
    assert_eq!(
        text(&list.stdout).lines().count(),
        2,
        "{}",
        text(&list.stdout)
    );
    let export = northstar(&["departments", "export"], &db);
    let exported: serde_json::Value = serde_json::from_slice(&export.stdout).unwrap();
    assert_eq!(exported[0]["name"], "billing");

    let values = dir.path().join("accuracy.csv");
    std::fs::write(
        &values,
        "from,to,value\n2026-01-01,2026-01-31,0.97\n2026-02-01,2026-01-31,0.99\n2026-03-01,2026-03-31,high\n2026-04-01,2026-04-30,0.985\n",
    )
    .unwrap();
    let out = northstar(
        &[
            "departments",
            "kpi-values",
            "billing",
            "invoice_accuracy",
            values.to_str().unwrap(),
        ],
        &db,
    );
    assert_eq!(out.status.code(), Some(3));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(":3:") || stderr.contains("line 3:"),
        "{stderr}"
    );
    assert!(stderr.contains("line 4:"), "{stderr}");
    assert!(text(&out.stdout).contains("2 period values stored, 2 rejected"));
    let out = northstar(
        &[
            "departments",
            "kpi-values",
            "billing",
            "nothing",
            values.to_str().unwrap(),
        ],
        &db,
    );
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("not an external KPI"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn pilots_assign_reads_a_named_control_group_and_reports_every_bad_row() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.db");
    let url = format!("sqlite://{}", db.display());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let id = rt.block_on(async {
        let store = northstar_store::open(&url).await.unwrap();
        store
            .backend()
            .create_pilot("Callbacks", "{}", "cx", 1)
            .await
            .unwrap()
    });
    let file = dir.path().join("groups.csv");
    std::fs::write(
        &file,
        "customer_id,group\nC1,pilot\nC2,control\nC3,treatment\nC1,control\n",
    )
    .unwrap();
    let out = northstar(
        &["pilots", "assign", &id.to_string(), file.to_str().unwrap()],
        &db,
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains(":4: group: \"treatment\""), "{stderr}");
    assert!(
        stderr.contains(":5: customer_id: \"C1\" is also on line 2"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing written"), "{stderr}");
    std::fs::write(
        &file,
        "customer_id,group\nC1,pilot\nC2,control\nC3,control\n",
    )
    .unwrap();
    let out = northstar(
        &["pilots", "assign", &id.to_string(), file.to_str().unwrap()],
        &db,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("3 customers assigned (1 pilot, 2 control)"));
    // Idempotent: the same file again changes nothing.
    let out = northstar(
        &["pilots", "assign", &id.to_string(), file.to_str().unwrap()],
        &db,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("nothing changed"),
        "{}",
        text(&out.stdout)
    );
    let list = northstar(&["pilots", "list"], &db);
    assert!(
        text(&list.stdout).contains("Callbacks,no,1,2,as given (imported list)"),
        "{}",
        text(&list.stdout)
    );
}
