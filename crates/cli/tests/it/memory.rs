//! The requests a review used to take the server from 227 MB to 1.83 GB
//! resident (and 3.47 GB peak) leave it under a stated ceiling: memory follows
//! the data present, never a span or a count that a request claims.

use super::{KillOnDrop, http_post, serve};

/// Peak resident memory allowed across the requests below. Measured on a
/// release build: 17 MB at start, 120 MB peak after all of them (old code:
/// 3.75 GB); a debug build peaked at 104 MB.
const CEILING_KB: u64 = 200 * 1024;

fn memory_kb(child: &KillOnDrop, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.0.id())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// 10,000 responses, half on 1970-01-01 and half on 2099-12-31, two per
/// department.
fn spread_batch(prefix: &str, departments: usize) -> String {
    let items: Vec<String> = (0..10_000)
        .map(|i| {
            format!(
                r#"{{"external_id":"{prefix}{i}","submitted_at":"{}","department":"{prefix}d{}","nps":{}}}"#,
                if i % 2 == 0 { "1970-01-01T00:00:00Z" } else { "2099-12-31T00:00:00Z" },
                (i / 2) % departments,
                i % 11
            )
        })
        .collect();
    format!("[{}]", items.join(","))
}

fn status_of(response: &str) -> u16 {
    response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[test]
fn hostile_batches_leave_the_server_under_its_memory_ceiling() {
    let dir = tempfile::tempdir().unwrap();
    let (child, addr, _stdout) = serve(&dir.path().join("memory.db"));
    let start = memory_kb(&child, "VmRSS:");
    // 5,000 new departments: refused by the distinct-values cap.
    let r = http_post(&addr, "/api/v1/responses", &spread_batch("a", 5_000));
    assert_eq!(status_of(&r), 422, "{}", &r[..r.len().min(300)]);
    assert!(
        r.contains("at most 1000 distinct values"),
        "{}",
        &r[..r.len().min(300)]
    );
    // Under the cap, 130 years apart: two month cells per department.
    let r = http_post(&addr, "/api/v1/responses", &spread_batch("b", 900));
    assert_eq!(status_of(&r), 200, "{}", &r[..r.len().min(300)]);
    // A body of zeros up to the limit: stopped at item 10,001.
    let limit = northstar_server::api::responses::MAX_BODY_BYTES;
    let mut zeros = String::with_capacity(limit);
    zeros.push_str("[0");
    while zeros.len() + 3 < limit {
        zeros.push_str(",0");
    }
    zeros.push(']');
    let r = http_post(&addr, "/api/v1/responses", &zeros);
    assert_eq!(status_of(&r), 400, "{}", &r[..r.len().min(300)]);
    // Again, with other names: refused again, nothing grows.
    let r = http_post(&addr, "/api/v1/responses", &spread_batch("c", 5_000));
    assert_eq!(status_of(&r), 422);
    let (rss, peak) = (memory_kb(&child, "VmRSS:"), memory_kb(&child, "VmHWM:"));
    eprintln!("resident: {start} kB at start, {rss} kB after; peak {peak} kB");
    assert!(
        peak < CEILING_KB,
        "peak {peak} kB is over the {CEILING_KB} kB ceiling"
    );
    // Still serving.
    assert!(super::http_get(&addr, "/healthz").contains("200 OK"));
}
