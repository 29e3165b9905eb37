//! The expectation gap: the isotonic fit against scikit-learn, the Wilson
//! interval against statsmodels and the counts against numpy
//! (tools/golden/expectation_gap.json, made by
//! tools/golden/make_golden_expectation_gap.py); properties of the fit, the
//! summary and the display bins; the summary text a department head reads;
//! a simulation of how often the threshold is recovered; and an ignored
//! timing test.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use northstar_core::Mergeable;
use northstar_core::expectation_gap::{
    self as gap, CurvePoint, DEFAULT_LEVEL, Direction, ExpectationGap, GapError, GapSummary,
    Verdict, bin_curve, expectation_gap, isotonic_fit,
};
use proptest::prelude::*;
use serde_json::Value;

/// Absolute tolerance against the references. The brief asks for 1e-6; the
/// fitted shares are ratios of integer counts on both sides, so they agree
/// to rounding (about 1e-16) and a much tighter bound is used.
const TOLERANCE: f64 = 1e-9;

fn golden() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tools/golden/expectation_gap.json"
    );
    let text =
        std::fs::read_to_string(path).expect("tools/golden/expectation_gap.json is committed");
    serde_json::from_str(&text).expect("expectation_gap.json parses")
}

fn summary_of(dataset: &Value) -> GapSummary {
    let xs = dataset["x"].as_array().expect("x");
    let satisfied = dataset["satisfied"].as_array().expect("satisfied");
    assert_eq!(xs.len(), satisfied.len());
    let mut s = GapSummary::new();
    for (x, sat) in xs.iter().zip(satisfied) {
        s.add(x.as_f64().expect("x is a number"), sat.as_i64() == Some(1))
            .expect("finite x");
    }
    s
}

fn near(what: &str, case: &str, got: Option<f64>, want: &Value) {
    match (got, want.as_f64()) {
        (None, None) => {}
        (Some(g), Some(w)) => assert!(
            (g - w).abs() <= TOLERANCE,
            "{case}: {what}: got {g}, want {w}"
        ),
        (g, _) => panic!("{case}: {what}: got {g:?}, want {want}"),
    }
}

fn name_of<T: serde::Serialize>(value: T) -> String {
    serde_json::to_value(value)
        .expect("serializes")
        .as_str()
        .expect("a string")
        .to_string()
}

#[test]
fn the_expectation_gap_matches_sklearn_statsmodels_and_numpy() {
    let g = golden();
    assert!(g["generated_by"]["scikit-learn"].is_string());
    assert!(g["generated_by"]["statsmodels"].is_string());
    assert_eq!(g["min_records"].as_i64(), Some(gap::MIN_RECORDS));
    assert_eq!(
        g["min_distinct_values"].as_u64(),
        Some(gap::MIN_DISTINCT_VALUES as u64)
    );
    let cases = g["cases"].as_array().expect("cases");
    assert!(cases.len() >= 20, "too few cases");
    let mut verdicts = BTreeSet::new();
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let summary = summary_of(&g["datasets"][case["dataset"].as_str().expect("dataset")]);
        let direction = Direction::parse(case["direction"].as_str().expect("direction"))
            .expect("known direction");
        let level = case["level"].as_f64().expect("level");
        let target = case["target"].as_f64();
        let unit = case["unit"].as_str().expect("unit");
        let want = &case["expected"];
        let got = expectation_gap(&summary, direction, level, target, unit).expect(name);

        assert_eq!(Some(got.n), want["n"].as_i64(), "{name}: n");
        near(
            "satisfied_share",
            name,
            got.satisfied_share,
            &want["satisfied_share"],
        );
        near("threshold", name, got.threshold, &want["threshold"]);
        assert_eq!(
            Some(got.enough_data),
            want["enough_data"].as_bool(),
            "{name}: enough_data"
        );
        assert_eq!(
            name_of(got.verdict),
            want["verdict"].as_str().expect("verdict"),
            "{name}: verdict"
        );
        verdicts.insert(name_of(got.verdict));

        let curve = want["curve"].as_array().expect("curve");
        assert_eq!(got.curve.len(), curve.len(), "{name}: curve length");
        for (p, w) in got.curve.iter().zip(curve) {
            near("x", name, Some(p.x), &w["x"]);
            assert_eq!(Some(p.n), w["n"].as_i64(), "{name}: n at {}", p.x);
            assert_eq!(
                Some(p.satisfied),
                w["satisfied"].as_i64(),
                "{name}: at {}",
                p.x
            );
            near(
                "observed",
                name,
                Some(p.observed_share),
                &w["observed_share"],
            );
            near(
                "fitted",
                name,
                Some(p.satisfied_share),
                &w["satisfied_share"],
            );
        }
        assert_eq!(isotonic_fit(&summary, direction).expect(name), got.curve);

        assert_eq!(got.met_target_n, want["met_target_n"].as_i64(), "{name}");
        assert_eq!(
            got.met_target_dissatisfied_n,
            want["met_target_dissatisfied_n"].as_i64(),
            "{name}"
        );
        near(
            "met_target_but_dissatisfied_share",
            name,
            got.met_target_but_dissatisfied_share,
            &want["met_target_but_dissatisfied_share"],
        );
        let among = got.dissatisfied_share_among_met;
        assert_eq!(among.is_some(), target.is_some(), "{name}");
        if let Some(e) = among {
            assert_eq!(Some(e.n), got.met_target_n, "{name}");
            near(
                "among met",
                name,
                e.value,
                &want["dissatisfied_share_among_met"],
            );
            near("wilson low", name, e.ci_low, &want["wilson_low"]);
            near("wilson high", name, e.ci_high, &want["wilson_high"]);
        }
    }
    let expected: BTreeSet<String> = [
        "customers_stricter_than_target",
        "target_at_least_as_strict",
        "no_threshold",
        "no_target",
    ]
    .map(String::from)
    .into();
    assert_eq!(
        verdicts, expected,
        "the cases cover every verdict with data"
    );
}

/// Counts per value: (x, satisfied, n).
fn summary_from(counts: &[(f64, i64, i64)]) -> GapSummary {
    let mut s = GapSummary::new();
    for &(x, satisfied, n) in counts {
        s.add_counts(x, satisfied, n).unwrap();
    }
    s
}

/// The story: satisfaction drops after 3 days, the target is 5 days.
fn deliveries() -> GapSummary {
    summary_from(&[
        (1.0, 45, 50),
        (2.0, 46, 50),
        (3.0, 44, 50),
        (4.0, 30, 50),
        (5.0, 25, 50),
        (6.0, 20, 50),
        (7.0, 10, 30),
    ])
}

#[test]
fn the_story_reads_plainly_for_each_verdict() {
    let s = deliveries();
    let g = expectation_gap(
        &s,
        Direction::LowerIsBetter,
        DEFAULT_LEVEL,
        Some(5.0),
        "days",
    )
    .unwrap();
    assert_eq!(g.threshold, Some(4.0));
    assert_eq!(g.verdict, Verdict::CustomersStricterThanTarget);
    assert_eq!(
        (g.met_target_n, g.met_target_dissatisfied_n),
        (Some(250), Some(60))
    );
    assert_eq!(g.met_target_but_dissatisfied_share, Some(60.0 / 330.0));
    assert!(g.enough_data);
    assert_eq!(
        g.summary,
        "Customers' satisfaction falls below 80% at 4 days or more, while the target allows up to 5 days: 24% of orders that met the target left the customer dissatisfied."
    );

    let g = expectation_gap(
        &s,
        Direction::LowerIsBetter,
        DEFAULT_LEVEL,
        Some(3.0),
        "days",
    )
    .unwrap();
    assert_eq!(g.verdict, Verdict::TargetAtLeastAsStrict);
    assert_eq!(
        g.summary,
        "The target (allows up to 3 days) is at least as strict as customers are: the fitted satisfied share stays at or above 80% for every value that meets it, and falls below 80% only at 4 days or more. 10% of orders that met the target (15 of 150) left the customer dissatisfied."
    );

    let g = expectation_gap(&s, Direction::LowerIsBetter, DEFAULT_LEVEL, None, "days").unwrap();
    assert_eq!(g.verdict, Verdict::NoTarget);
    assert_eq!(
        g.summary,
        "Customers' satisfaction falls below 80% at 4 days or more. No target was given to compare with."
    );
    assert_eq!(g.met_target_n, None);
    assert_eq!(g.dissatisfied_share_among_met, None);

    let g = expectation_gap(&s, Direction::LowerIsBetter, 0.3, Some(5.0), "days").unwrap();
    assert_eq!(g.verdict, Verdict::NoThreshold);
    assert_eq!(
        g.summary,
        "Customers stayed satisfied across the whole observed range (1 to 7 days): the fitted satisfied share never falls below 30%. 24% of orders that met the target (60 of 250) left the customer dissatisfied."
    );

    let g = expectation_gap(&s, Direction::LowerIsBetter, 0.8, Some(0.5), "days").unwrap();
    assert_eq!(g.verdict, Verdict::TargetAtLeastAsStrict);
    assert_eq!(
        g.summary,
        "Customers' satisfaction falls below 80% at 4 days or more. No order met the target (the target allows up to 0.5 days)."
    );

    let g = expectation_gap(
        &GapSummary::new(),
        Direction::LowerIsBetter,
        0.8,
        Some(5.0),
        "days",
    )
    .unwrap();
    assert_eq!(g.verdict, Verdict::NoData);
    assert_eq!((g.n, g.satisfied_share, g.threshold), (0, None, None));
    assert!(g.curve.is_empty() && !g.enough_data);
    assert_eq!(g.met_target_but_dissatisfied_share, None);
    assert_eq!(g.dissatisfied_share_among_met.and_then(|e| e.value), None);
    assert!(
        g.summary.starts_with("No orders are linked"),
        "{}",
        g.summary
    );
}

#[test]
fn higher_is_better_is_the_mirror() {
    // Days of notice: customers want at least 3, the target asks for 2.
    let s = summary_from(&[
        (0.0, 10, 40),
        (1.0, 20, 40),
        (2.0, 28, 40),
        (3.0, 34, 40),
        (4.0, 36, 40),
    ]);
    let g = expectation_gap(
        &s,
        Direction::HigherIsBetter,
        0.8,
        Some(2.0),
        "days of notice",
    )
    .unwrap();
    assert_eq!(g.threshold, Some(2.0));
    assert_eq!(g.verdict, Verdict::CustomersStricterThanTarget);
    assert_eq!(
        (g.met_target_n, g.met_target_dissatisfied_n),
        (Some(120), Some(22))
    );
    assert_eq!(
        g.summary,
        "Customers' satisfaction falls below 80% at 2 days of notice or less, while the target asks for at least 2 days of notice: 18% of orders that met the target left the customer dissatisfied."
    );
    let g = expectation_gap(&s, Direction::HigherIsBetter, 0.8, Some(3.0), "").unwrap();
    assert_eq!(g.verdict, Verdict::TargetAtLeastAsStrict);
    assert!(g.summary.contains("only at 2 or less"), "{}", g.summary);
}

#[test]
fn a_threshold_at_the_target_is_a_disagreement() {
    // Orders delivered in exactly the target's 4 days already fall below 80%.
    let s = summary_from(&[(3.0, 45, 50), (4.0, 30, 50), (5.0, 20, 50)]);
    let g = expectation_gap(&s, Direction::LowerIsBetter, 0.8, Some(4.0), "days").unwrap();
    assert_eq!(g.threshold, Some(4.0));
    assert_eq!(g.verdict, Verdict::CustomersStricterThanTarget);
}

#[test]
fn a_fitted_share_exactly_at_the_level_is_not_below_it() {
    let s = summary_from(&[(1.0, 8, 10), (2.0, 4, 5), (3.0, 1, 5)]);
    let g = expectation_gap(&s, Direction::LowerIsBetter, 0.8, None, "").unwrap();
    assert_eq!(g.curve[1].satisfied_share, 0.8);
    assert_eq!(g.threshold, Some(3.0));
}

#[test]
fn too_little_data_is_said_first() {
    let small = summary_from(&[(1.0, 9, 10), (2.0, 5, 10)]);
    let g = expectation_gap(&small, Direction::LowerIsBetter, 0.8, Some(2.0), "days").unwrap();
    assert!(!g.enough_data);
    assert!(
        g.summary.starts_with(
            "Too little data for a firm reading: only 20 linked orders (30 are needed). Customers'"
        ),
        "{}",
        g.summary
    );
    let one_value = summary_from(&[(3.0, 20, 40)]);
    let g = expectation_gap(&one_value, Direction::LowerIsBetter, 0.8, Some(5.0), "days").unwrap();
    assert!(!g.enough_data);
    assert_eq!(g.threshold, Some(3.0));
    assert_eq!(g.curve[0].satisfied_share, 0.5);
    assert!(
        g.summary.contains("every linked order has the same value"),
        "{}",
        g.summary
    );
    let enough = summary_from(&[(1.0, 15, 15), (2.0, 10, 15)]);
    assert!(
        expectation_gap(&enough, Direction::LowerIsBetter, 0.8, None, "")
            .unwrap()
            .enough_data
    );
}

#[test]
fn bad_inputs_are_refused_with_a_reason() {
    let s = deliveries();
    for level in [0.0, 1.0, -0.2, 1.5, f64::NAN] {
        let e = expectation_gap(&s, Direction::LowerIsBetter, level, None, "").unwrap_err();
        assert!(matches!(e, GapError::LevelOutOfRange(_)), "{e}");
        assert!(e.to_string().contains("strictly between 0 and 1"), "{e}");
    }
    for target in [f64::NAN, f64::INFINITY] {
        assert!(matches!(
            expectation_gap(&s, Direction::LowerIsBetter, 0.8, Some(target), ""),
            Err(GapError::NonFiniteTarget(_))
        ));
    }
    let mut t = GapSummary::new();
    for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert!(matches!(t.add(x, true), Err(GapError::NonFiniteValue(_))));
    }
    assert!(t.is_empty());
    t.add(2.0, true).unwrap();
    t.retract(2.0, false).unwrap();
    t.retract(2.0, false).unwrap();
    let e = expectation_gap(&t, Direction::LowerIsBetter, 0.8, None, "").unwrap_err();
    assert!(matches!(e, GapError::InconsistentCounts { .. }), "{e}");
    assert!(
        e.to_string().contains("more was retracted than was added"),
        "{e}"
    );
}

#[test]
fn minus_zero_and_zero_are_one_value() {
    let mut s = GapSummary::new();
    s.add(-0.0, true).unwrap();
    s.add(0.0, false).unwrap();
    assert_eq!(s.distinct_values(), 1);
    let (x, c) = s.iter().next().unwrap();
    assert!(x == 0.0 && x.is_sign_positive());
    assert_eq!((c.satisfied, c.n), (1, 2));
    assert_eq!(
        s.meeting_target(-0.0, Direction::LowerIsBetter).unwrap().n,
        2
    );
    assert_eq!(
        s.meeting_target(-0.0, Direction::HigherIsBetter).unwrap().n,
        2
    );
}

#[test]
fn memory_follows_distinct_values_not_records() {
    let mut s = GapSummary::new();
    for i in 0..100_000 {
        s.add(f64::from(i % 10), i % 3 == 0).unwrap();
    }
    assert_eq!(s.distinct_values(), 10);
    assert_eq!(s.n(), 100_000);
    // A caller claiming a huge count costs one entry, not memory per record.
    s.add_counts(42.0, 0, i64::MAX / 4).unwrap();
    assert_eq!(s.distinct_values(), 11);
    // Retracting everything leaves nothing behind.
    let all = s.clone();
    s.merge(&all.negated());
    assert!(s.is_empty() && s == GapSummary::empty());
}

#[test]
fn the_summary_serializes_with_plain_names() {
    let g = expectation_gap(
        &deliveries(),
        Direction::LowerIsBetter,
        0.8,
        Some(5.0),
        "days",
    )
    .unwrap();
    let v = serde_json::to_value(&g).unwrap();
    assert_eq!(v["direction"], "lower_is_better");
    assert_eq!(v["verdict"], "customers_stricter_than_target");
    assert_eq!(v["threshold"], 4.0);
    assert_eq!(v["curve"].as_array().map(Vec::len), Some(7));
    assert!(v["dissatisfied_share_among_met"]["ci_low"].is_number());
}

/// A curve with `steps` fitted steps over `len` distinct values (lower is
/// better), built from counts so the fit is known.
fn stepped_curve(len: usize, steps: usize) -> Vec<CurvePoint> {
    let mut s = GapSummary::new();
    for i in 0..len {
        let step = i * steps / len;
        // Share 1 − step/steps, on 100 records per value.
        let satisfied = 100 - (100 * step / steps) as i64;
        s.add_counts(i as f64 * 0.37, satisfied, 100).unwrap();
    }
    isotonic_fit(&s, Direction::LowerIsBetter).unwrap()
}

#[test]
fn display_bins_are_bounded_and_keep_the_steps() {
    let curve = stepped_curve(100_000, 20);
    let distinct_shares: BTreeSet<u64> =
        curve.iter().map(|p| p.satisfied_share.to_bits()).collect();
    assert_eq!(distinct_shares.len(), 20);
    for max in [0, 1, 5, 20, 21, 200, 1000] {
        let bins = bin_curve(&curve, max);
        assert!(bins.len() <= max, "{max}: {}", bins.len());
        if max >= 20 {
            // Every step boundary is a bin boundary: each bin has one share.
            let shares: BTreeSet<u64> = bins.iter().map(|b| b.satisfied_share.to_bits()).collect();
            assert_eq!(shares, distinct_shares, "{max}");
        }
    }
    assert_eq!(bin_curve(&curve, 200).len(), 200);
    // A short curve is returned whole whatever the budget.
    let short = stepped_curve(7, 3);
    assert_eq!(bin_curve(&short, usize::MAX).len(), 7);
}

fn rows() -> impl Strategy<Value = Vec<(f64, bool)>> {
    let x = prop_oneof![
        (0i32..12).prop_map(f64::from),
        (-1000.0f64..1000.0),
        Just(-0.0),
    ];
    prop::collection::vec((x, any::<bool>()), 0..160)
}

fn summarise(rows: &[(f64, bool)]) -> GapSummary {
    let mut s = GapSummary::new();
    for &(x, sat) in rows {
        s.add(x, sat).unwrap();
    }
    s
}

fn direction() -> impl Strategy<Value = Direction> {
    prop_oneof![
        Just(Direction::LowerIsBetter),
        Just(Direction::HigherIsBetter)
    ]
}

fn gap_of(s: &GapSummary, direction: Direction, level: f64) -> ExpectationGap {
    expectation_gap(s, direction, level, Some(5.0), "days").unwrap()
}

proptest! {
    #[test]
    fn the_fit_is_monotone_in_the_stated_direction_and_within_0_1(
        rows in rows(), direction in direction()) {
        let curve = isotonic_fit(&summarise(&rows), direction).unwrap();
        for p in &curve {
            prop_assert!((0.0..=1.0).contains(&p.satisfied_share));
        }
        for w in curve.windows(2) {
            prop_assert!(w[0].x < w[1].x);
            match direction {
                Direction::LowerIsBetter => prop_assert!(w[0].satisfied_share >= w[1].satisfied_share),
                Direction::HigherIsBetter => prop_assert!(w[0].satisfied_share <= w[1].satisfied_share),
            }
        }
    }

    #[test]
    fn the_fit_keeps_the_weighted_mean(rows in rows(), direction in direction()) {
        let s = summarise(&rows);
        let curve = isotonic_fit(&s, direction).unwrap();
        if s.n() > 0 {
            let fitted: f64 = curve.iter().map(|p| p.satisfied_share * p.n as f64).sum();
            let overall = s.satisfied() as f64;
            prop_assert!((fitted - overall).abs() <= 1e-9 * s.n() as f64, "{fitted} vs {overall}");
        }
    }

    #[test]
    fn monotone_data_is_left_as_observed(counts in prop::collection::vec((1i64..30, 0u8..=100), 1..30)) {
        // Shares made non-increasing by sorting, then fitted lower-is-better.
        let mut shares: Vec<u8> = counts.iter().map(|&(_, p)| p).collect();
        shares.sort_unstable_by(|a, b| b.cmp(a));
        let mut s = GapSummary::new();
        for (i, (&(n, _), &p)) in counts.iter().zip(&shares).enumerate() {
            s.add_counts(i as f64, i64::from(p) * n, 100 * n).unwrap();
        }
        for p in isotonic_fit(&s, Direction::LowerIsBetter).unwrap() {
            prop_assert!((p.satisfied_share - p.observed_share).abs() < 1e-15);
        }
    }

    #[test]
    fn the_threshold_splits_the_curve_at_the_level(
        rows in rows(), direction in direction(), level in 0.05f64..0.95) {
        let g = gap_of(&summarise(&rows), direction, level);
        for p in &g.curve {
            let worse = match (g.threshold, direction) {
                (None, _) => false,
                (Some(t), Direction::LowerIsBetter) => p.x >= t,
                (Some(t), Direction::HigherIsBetter) => p.x <= t,
            };
            prop_assert_eq!(p.satisfied_share < level, worse, "{:?}", p);
        }
        if let (Some(t), Some(met)) = (g.threshold, g.met_target_n) {
            let disagrees = direction.meets(t, 5.0);
            prop_assert_eq!(g.verdict == Verdict::CustomersStricterThanTarget, disagrees);
            prop_assert!(met >= 0 && met <= g.n);
        }
    }

    #[test]
    fn merging_equals_adding_all_rows(a in rows(), b in rows(), c in rows()) {
        let (sa, sb, sc) = (summarise(&a), summarise(&b), summarise(&c));
        let mut left = sa.clone();
        left.merge(&sb);
        left.merge(&sc);
        let mut right = sc.clone();
        right.merge(&sb);
        right.merge(&sa);
        let all: Vec<(f64, bool)> = a.iter().chain(&b).chain(&c).copied().collect();
        prop_assert_eq!(&left, &right);
        prop_assert_eq!(&left, &summarise(&all));
        let mut with_empty = sa.clone();
        with_empty.merge(&GapSummary::empty());
        prop_assert_eq!(with_empty, sa);
    }

    #[test]
    fn retracting_rows_returns_to_the_earlier_summary(a in rows(), b in rows()) {
        let before = summarise(&a);
        let mut s = before.clone();
        for &(x, sat) in &b {
            s.add(x, sat).unwrap();
        }
        for &(x, sat) in b.iter().rev() {
            s.retract(x, sat).unwrap();
        }
        prop_assert_eq!(&s, &before);
        prop_assert_eq!(s.distinct_values(), before.distinct_values());
        let mut merged = before.clone();
        merged.merge(&summarise(&b));
        merged.merge(&summarise(&b).negated());
        prop_assert_eq!(&merged, &before);
    }

    #[test]
    fn display_bins_are_bounded_monotone_and_complete(
        rows in rows(), direction in direction(), max in 0usize..40) {
        let curve = isotonic_fit(&summarise(&rows), direction).unwrap();
        let bins = bin_curve(&curve, max);
        prop_assert!(bins.len() <= max && bins.len() <= curve.len());
        if max > 0 {
            let n: i64 = curve.iter().map(|p| p.n).sum();
            prop_assert_eq!(bins.iter().map(|b| b.n).sum::<i64>(), n);
            prop_assert_eq!(bins.iter().map(|b| b.distinct_values).sum::<usize>(), curve.len());
        }
        let steps = 1 + curve
            .windows(2)
            .filter(|w| w[0].satisfied_share != w[1].satisfied_share)
            .count();
        if max > 0 && steps <= max {
            // No bin crosses a step: each bin's points share its fitted value.
            let mut points = curve.iter();
            for bin in &bins {
                for p in points.by_ref().take(bin.distinct_values) {
                    prop_assert_eq!(p.satisfied_share, bin.satisfied_share);
                }
            }
        }
        for w in bins.windows(2) {
            prop_assert!(w[0].x_high < w[1].x_low);
            let (a, b) = (w[0].satisfied_share, w[1].satisfied_share);
            match direction {
                Direction::LowerIsBetter => prop_assert!(a >= b - 1e-12),
                Direction::HigherIsBetter => prop_assert!(a <= b + 1e-12),
            }
        }
    }
}

/// Summary of `per_value` records at each of `values` (1…10 days), drawn
/// with the true satisfied shares `truth`.
fn draw(truth: &[f64], per_value: usize, rng: &mut fastrand::Rng) -> GapSummary {
    let mut s = GapSummary::new();
    for (i, &p) in truth.iter().enumerate() {
        for _ in 0..per_value {
            s.add(i as f64 + 1.0, rng.f64() < p).unwrap();
        }
    }
    s
}

/// How often the threshold lands on the true one (400 seeded draws each).
/// A planted sharp drop after 3 days (90% on day 3, 62% on day 4) is found
/// about 95% of the time at 30 records per value; the misses are day 3
/// sampling below 80% or day 4 above it. A gradual decline crossing 80%
/// between 4 and 5 days (84% then 76%) is hit about 40% of the time at 30
/// records per value, but within a day about 90%, and about 93% at 300 per
/// value. The threshold is a point estimate and this is its spread. The
/// bounds asserted sit 3–5 binomial standard errors (about 0.011–0.015 at
/// 400 draws) under the measured rates: the draws are seeded, so they guard
/// against a regression rather than against chance.
#[test]
fn the_threshold_is_recovered_from_simulated_deliveries() {
    const DRAWS: usize = 400;
    let mut rng = fastrand::Rng::with_seed(20_260_501);
    let sharp = [0.93, 0.92, 0.90, 0.62, 0.58, 0.52, 0.45, 0.40, 0.35, 0.30];
    let gradual = [0.97, 0.94, 0.90, 0.84, 0.76, 0.70, 0.64, 0.58, 0.52, 0.46];
    let mut rate = |truth: &[f64], per_value: usize, want: f64| {
        let mut hits = 0usize;
        let mut near = 0usize;
        for _ in 0..DRAWS {
            let s = draw(truth, per_value, &mut rng);
            let g = expectation_gap(&s, Direction::LowerIsBetter, 0.8, Some(5.0), "days").unwrap();
            let t = g.threshold.unwrap_or(f64::NAN);
            hits += usize::from(t == want);
            near += usize::from((t - want).abs() <= 1.0);
        }
        (hits as f64 / DRAWS as f64, near as f64 / DRAWS as f64)
    };
    let (sharp_30, _) = rate(&sharp, 30, 4.0);
    let (gradual_30, gradual_30_near) = rate(&gradual, 30, 5.0);
    let (gradual_300, gradual_300_near) = rate(&gradual, 300, 5.0);
    eprintln!(
        "threshold recovered: sharp drop, 30/value {sharp_30:.3}; gradual, 30/value {gradual_30:.3} \
         (±1 day {gradual_30_near:.3}); gradual, 300/value {gradual_300:.3} (±1 day {gradual_300_near:.3})"
    );
    assert!(sharp_30 >= 0.9, "{sharp_30}");
    assert!(gradual_30_near >= 0.9, "{gradual_30_near}");
    assert!(
        gradual_300 > gradual_30 && gradual_300 >= 0.8,
        "{gradual_300}"
    );
}

fn timed<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut out = None;
    for _ in 0..runs {
        let start = Instant::now();
        let value = f();
        best = best.min(start.elapsed());
        out = Some(value);
    }
    (best, out.expect("runs > 0"))
}

/// Times the whole computation for 1,000 and 100,000 distinct values (best
/// of 5 runs). Run it in release:
/// `CARGO_TARGET_DIR=/tmp/target-wt-gap cargo test -p northstar-core --release --test it -- --ignored --nocapture expectation_gap_timing`
#[test]
#[ignore = "timing; run in release"]
fn expectation_gap_timing() {
    let mut rng = fastrand::Rng::with_seed(7);
    for distinct in [1_000usize, 100_000] {
        let xs: Vec<f64> = (0..distinct)
            .map(|i| i as f64 * 0.01 + rng.f64() * 0.001)
            .collect();
        let (build, summary) = timed(5, || {
            let mut s = GapSummary::new();
            for &x in &xs {
                let records = 1 + rng.i64(0..3);
                let p = 0.95 - 0.5 * x / (distinct as f64 * 0.01);
                let satisfied = (0..records).filter(|_| rng.f64() < p).count() as i64;
                s.add_counts(x, satisfied, records).unwrap();
            }
            s
        });
        let (fit, g) = timed(5, || {
            expectation_gap(&summary, Direction::LowerIsBetter, 0.8, Some(5.0), "hours").unwrap()
        });
        let (bins, b) = timed(5, || g.curve_bins(200));
        let (json, text) = timed(5, || serde_json::to_string(&g).unwrap().len());
        eprintln!(
            "{distinct} distinct values ({} records): build summary {build:?}, expectation_gap {fit:?}, \
             curve_bins(200) {bins:?} ({} bins), full JSON {json:?} ({text} bytes)",
            summary.n(),
            b.len()
        );
        if !cfg!(debug_assertions) {
            assert!(fit < Duration::from_millis(20), "{fit:?}");
        }
    }
}
