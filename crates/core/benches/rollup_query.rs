//! How the in-memory rollup cube scales with dimension combinations: a year
//! of day cells for 540 combinations (the design's reference case) and for
//! 5,400, queried as the dashboard does. `cargo bench -p northstar-core`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use northstar_core::calendar;
use northstar_core::rollup::{CubeQuery, GroupBy, RollupCube};
use northstar_core::{Dimension, DimensionValues, ResponseSummary};

fn main() {
    divan::main();
}

/// 3 surveys × 5 touchpoints × 4 departments × 3 segments × `channels`.
fn cube(channels: usize) -> RollupCube {
    let start = calendar::parse_day("2025-11-01").unwrap();
    let mut cube = RollupCube::new();
    let mut seed = 1u64;
    for s in 0..3 {
        for t in 0..5 {
            for d in ["logistics", "support", "billing", "sales"] {
                for seg in ["smb", "mid_market", "enterprise"] {
                    for c in 0..channels {
                        let dims = DimensionValues([
                            format!("survey{s}"),
                            format!("touchpoint{t}"),
                            d.to_string(),
                            seg.to_string(),
                            format!("channel{c}"),
                        ]);
                        for day in start..start + 365 {
                            let mut cell = ResponseSummary::default();
                            seed = seed
                                .wrapping_mul(6364136223846793005)
                                .wrapping_add(1442695040888963407);
                            cell.add_answers(
                                Some((seed >> 60) as u8 % 11),
                                Some(3),
                                None,
                                Some(seed & 1 == 0),
                            );
                            cube.add(day, &dims, &cell);
                        }
                    }
                }
            }
        }
    }
    cube
}

fn by_department(filtered: bool) -> CubeQuery {
    let mut q = CubeQuery {
        group_by: Some(GroupBy::Dimension(Dimension::Department)),
        ..Default::default()
    };
    if filtered {
        q.from = calendar::parse_day("2026-02-01");
        q.to = calendar::parse_day("2026-04-30");
        q.filter.push((Dimension::Segment, "enterprise".into()));
    }
    q
}

#[divan::bench(args = [3, 30])]
fn all_data_by_department(bencher: divan::Bencher, channels: usize) {
    let cube = cube(channels);
    let q = by_department(false);
    bencher.bench(|| divan::black_box(cube.query(&q)));
}

#[divan::bench(args = [3, 30])]
fn three_months_one_segment_by_department(bencher: divan::Bencher, channels: usize) {
    let cube = cube(channels);
    let q = by_department(true);
    bencher.bench(|| divan::black_box(cube.query(&q)));
}

#[divan::bench(args = [3, 30])]
fn mid_month_range_by_month(bencher: divan::Bencher, channels: usize) {
    let cube = cube(channels);
    let q = CubeQuery {
        from: calendar::parse_day("2025-11-15"),
        to: calendar::parse_day("2026-10-14"),
        group_by: Some(GroupBy::Month),
        ..Default::default()
    };
    bencher.bench(|| divan::black_box(cube.query(&q)));
}
