//! Crash test: an import killed with SIGKILL at random points loses no
//! acknowledged batch, leaves no partial batch, and its rollups still equal
//! a rebuild from the raw rows.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ROWS: usize = 20_000;
const BATCH: usize = 1_000;

fn write_file(path: &Path) {
    let mut text = String::from("external_id,submitted_at,department,segment,nps,csat,fcr\n");
    for i in 0..ROWS {
        text.push_str(&format!(
            "r{i:06},2026-{:02}-{:02}T10:00:00Z,d{},s{},{},{},{}\n",
            1 + i % 12,
            1 + i % 28,
            i % 7,
            i % 3,
            i % 11,
            1 + i % 5,
            if i % 2 == 0 { "yes" } else { "no" }
        ));
    }
    std::fs::write(path, text).unwrap();
}

/// Rows stored, whether they are the file's first rows (the ids on either
/// side of the boundary), and whether the rollups equal a rebuild.
fn inspect(db: &Path) -> (usize, bool, bool) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = northstar_store::open(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        let n = store.counts().await.unwrap().responses as usize;
        let has = |i: usize| {
            let store = store.clone();
            async move { store.response(&format!("r{i:06}")).await.unwrap().is_some() }
        };
        let prefix = (n == 0 || has(n - 1).await) && (n == ROWS || !has(n).await);
        let check = store.verify_rollups().await.unwrap();
        (
            n,
            prefix,
            check.stored_equals_raw && check.cube_equals_stored,
        )
    })
}

/// Runs the import, kills it after `delay` (if still running), and returns
/// the highest line it acknowledged as committed.
fn import_and_kill(file: &Path, db: &Path, delay: Duration) -> u64 {
    let mut child = Command::new(env!("CARGO_BIN_EXE_northstar"))
        .args(["import", "responses", file.to_str().unwrap()])
        .args(["--batch-rows", &BATCH.to_string()])
        .env(
            "NORTHSTAR_DATABASE_URL",
            format!("sqlite://{}", db.display()),
        )
        .env("NORTHSTAR_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut acknowledged = 0u64;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("committed through line ") {
                let n: u64 = rest.split(' ').next().unwrap().parse().unwrap();
                acknowledged = acknowledged.max(n);
            }
        }
        acknowledged
    });
    let started = Instant::now();
    while started.elapsed() < delay {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    // SIGKILL: no destructor, no rollback handler, no flush.
    let _ = child.kill();
    child.wait().unwrap();
    reader.join().unwrap()
}

#[test]
fn an_import_killed_at_random_points_loses_no_acknowledged_batch() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("responses.csv");
    write_file(&file);
    // How long an uninterrupted import takes here, so kills land inside it.
    let started = Instant::now();
    import_and_kill(
        &file,
        &dir.path().join("timing.db"),
        Duration::from_secs(120),
    );
    let full = started.elapsed().as_millis() as u64;
    // A fixed seed, so a failure replays.
    let mut rng = fastrand::Rng::with_seed(6);
    let mut interrupted = 0;
    for round in 0..5 {
        let db = dir.path().join(format!("crash{round}.db"));
        let mut acknowledged_ever = 0u64;
        // Kill a first import, then a resumed one, on the same database.
        for attempt in 0..2 {
            let delay = Duration::from_millis(rng.u64(5..full.max(10)));
            let acknowledged = import_and_kill(&file, &db, delay);
            acknowledged_ever = acknowledged_ever.max(acknowledged);
            let (rows, prefix, rollups_ok) = inspect(&db);
            eprintln!(
                "round {round}.{attempt}: killed after {delay:?} of ~{full} ms; {rows} rows present, through line {acknowledged} acknowledged"
            );
            interrupted += usize::from(rows < ROWS);
            // Line n holds row n - 1 (line 1 is the header).
            let acknowledged_rows = acknowledged_ever.saturating_sub(1) as usize;
            assert!(
                rows >= acknowledged_rows,
                "round {round}.{attempt}: {rows} rows present but {acknowledged_rows} were acknowledged"
            );
            assert_eq!(
                rows % BATCH,
                0,
                "round {round}.{attempt}: {rows} rows, not whole batches"
            );
            assert!(
                prefix,
                "round {round}.{attempt}: the rows present are not the file's first rows"
            );
            assert!(
                rollups_ok,
                "round {round}.{attempt}: rollups differ from a rebuild"
            );
        }
        // Finishing the import leaves every row.
        let out = Command::new(env!("CARGO_BIN_EXE_northstar"))
            .args(["import", "responses", file.to_str().unwrap()])
            .env(
                "NORTHSTAR_DATABASE_URL",
                format!("sqlite://{}", db.display()),
            )
            .env("NORTHSTAR_LOG", "warn")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        let (rows, prefix, rollups_ok) = inspect(&db);
        assert_eq!(rows, ROWS);
        assert!(prefix && rollups_ok);
    }
    // The test is only worth something if kills landed mid-import.
    assert!(
        interrupted >= 3,
        "only {interrupted} of 10 kills interrupted an import"
    );
}
