//! Several servers on one PostgreSQL database: eight clients post
//! overlapping, changing batches to two `northstar serve` processes; then
//! every acknowledged write is there with its last content, the rollups
//! equal a rebuild, and both servers answer with exactly those figures.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use northstar_store::test_db::{Engine, TestDb};

use crate::{http_get, http_post, serve_url};

const CLIENTS: usize = 8;
const ROUNDS: usize = 12;
const IDS: usize = 150;
const BATCH: usize = 40;

/// What one acknowledged write said about one id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Content {
    nps: u8,
    department: usize,
    day: u32,
}

struct Write {
    content: Content,
    started: Instant,
    acknowledged: Instant,
}

const DEPARTMENTS: [&str; 3] = ["logistics", "support", "billing"];

fn body(items: &[(usize, Content)]) -> String {
    let items: Vec<String> = items
        .iter()
        .map(|(id, c)| {
            format!(
                r#"{{"external_id":"m{id}","submitted_at":"2026-03-{:02}T10:00:00Z","department":"{}","nps":{}}}"#,
                c.day, DEPARTMENTS[c.department], c.nps
            )
        })
        .collect();
    format!("[{}]", items.join(","))
}

fn overall(addr: &str) -> (i64, f64) {
    let response = http_get(addr, "/api/v1/metrics?metric=nps");
    let json = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
    (
        v["overall"]["n"].as_i64().unwrap_or(-1),
        v["overall"]["value"].as_f64().unwrap_or(f64::NAN),
    )
}

#[test]
fn two_servers_on_one_database_agree_after_concurrent_overlapping_writes() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(db) = rt.block_on(TestDb::new(Engine::Postgres)) else {
        return;
    };
    let servers = [serve_url(db.url()), serve_url(db.url())];
    let addrs: Vec<String> = servers.iter().map(|(_, a, _)| a.clone()).collect();
    let started = Instant::now();

    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let addrs = addrs.clone();
            std::thread::spawn(move || {
                let mut rng = fastrand::Rng::with_seed(c as u64 + 1);
                let mut writes: Vec<(usize, Write)> = Vec::new();
                for round in 0..ROUNDS {
                    // Overlapping ids: every client draws from the same pool.
                    let mut ids: Vec<usize> = (0..IDS).collect();
                    rng.shuffle(&mut ids);
                    let items: Vec<(usize, Content)> = ids[..BATCH]
                        .iter()
                        .map(|&id| {
                            (
                                id,
                                Content {
                                    nps: rng.u8(0..=10),
                                    department: rng.usize(0..DEPARTMENTS.len()),
                                    day: rng.u32(1..=28),
                                },
                            )
                        })
                        .collect();
                    let addr = &addrs[(c + round) % addrs.len()];
                    // A 503 (too many writes in flight) is not an
                    // acknowledgement and changed nothing: send it again.
                    let (mut t0, mut response) = (Instant::now(), String::new());
                    for _ in 0..200 {
                        t0 = Instant::now();
                        response = http_post(addr, "/api/v1/responses", &body(&items));
                        if !response.starts_with("HTTP/1.1 503") {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    let t1 = Instant::now();
                    assert!(
                        response.starts_with("HTTP/1.1 200"),
                        "client {c} round {round}: {response}"
                    );
                    for (id, content) in items {
                        writes.push((
                            id,
                            Write {
                                content,
                                started: t0,
                                acknowledged: t1,
                            },
                        ));
                    }
                }
                writes
            })
        })
        .collect();
    let mut by_id: HashMap<usize, Vec<Write>> = HashMap::new();
    for client in clients {
        for (id, w) in client.join().unwrap() {
            by_id.entry(id).or_default().push(w);
        }
    }
    let last_write = Instant::now();
    // Asked right away: no server may wait for a notification or a timer.
    let answers: Vec<(i64, f64)> = addrs.iter().map(|a| overall(a)).collect();
    let answered_in = last_write.elapsed();
    eprintln!(
        "{} writes by {CLIENTS} clients in {:.2} s",
        CLIENTS * ROUNDS * BATCH,
        (last_write - started).as_secs_f64()
    );

    // Read what is stored through a third store instance.
    let store = rt.block_on(northstar_store::open(db.url())).unwrap();
    let counts = rt.block_on(store.counts()).unwrap();
    assert_eq!(counts.responses as usize, by_id.len(), "one row per id");
    let (mut n, mut promoters, mut detractors) = (0i64, 0i64, 0i64);
    for (id, writes) in &by_id {
        let stored = rt
            .block_on(store.response(&format!("m{id}")))
            .unwrap()
            .unwrap();
        let content = Content {
            nps: stored.nps.unwrap(),
            department: DEPARTMENTS
                .iter()
                .position(|d| *d == stored.dimensions.get(northstar_core::Dimension::Department))
                .unwrap(),
            day: stored.submitted_at[8..10].parse().unwrap(),
        };
        // Linearizable: the stored content is an acknowledged write that no
        // other write to the id started after (in real time).
        let candidates: Vec<&Write> = writes.iter().filter(|w| w.content == content).collect();
        assert!(
            !candidates.is_empty(),
            "m{id}: {content:?} was never written"
        );
        assert!(
            candidates
                .iter()
                .any(|w| writes.iter().all(|other| other.started <= w.acknowledged)),
            "m{id}: {content:?} was overwritten by a later acknowledged write"
        );
        n += 1;
        promoters += i64::from(content.nps >= 9);
        detractors += i64::from(content.nps <= 6);
    }
    let check = rt.block_on(store.verify_rollups()).unwrap();
    assert!(check.stored_equals_raw, "{check:?}");

    // Both servers give exactly those figures, within a second.
    let expected = 100.0 * (promoters - detractors) as f64 / n as f64;
    assert!(answered_in < Duration::from_secs(1), "{answered_in:?}");
    for (addr, (got_n, got_value)) in addrs.iter().zip(answers) {
        assert_eq!(got_n, n, "{addr}");
        assert!(
            (got_value - expected).abs() < 1e-9,
            "{addr}: {got_value} vs {expected}"
        );
    }
    drop(servers);
}
