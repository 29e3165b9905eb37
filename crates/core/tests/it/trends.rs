//! Trends: every figure of a control chart — centre, σ, each period's
//! limits, signal, value, interval and change from the previous period
//! (difference, statistic, p-value) — against tools/golden/trends.json,
//! made by tools/golden/make_golden_trends.py (control limits by Montgomery's
//! formulas with numpy over the raw answers; Wilson intervals and the
//! Agresti–Caffo test from statsmodels; t intervals and Welch's test from
//! scipy; the NPS adjusted-Wald interval and z-test by Rocks' formulas with
//! scipy's normal). Then properties of any chart.

use northstar_core::trends::{Signal, Trend, control_chart};
use northstar_core::{Metric, ResponseSummary};
use proptest::prelude::*;
use serde_json::Value;

/// Absolute tolerance against the reference, as issue 9 asks.
const TOLERANCE: f64 = 1e-6;

fn golden() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tools/golden/trends.json"
    );
    let text = std::fs::read_to_string(path).expect("tools/golden/trends.json is committed");
    serde_json::from_str(&text).expect("trends.json parses")
}

/// A summary holding only `metric`'s answers, from the golden counts
/// (NPS 0…10, CSAT 1…5, CES 1…7, FCR [yes, no]).
fn summary(metric: Metric, counts: &Value) -> ResponseSummary {
    let counts: Vec<i64> = counts
        .as_array()
        .expect("counts")
        .iter()
        .map(|c| c.as_i64().expect("a count"))
        .collect();
    let (start, len) = match metric {
        Metric::Nps => (0, 11),
        Metric::Csat => (11, 5),
        Metric::Ces => (16, 7),
        Metric::Fcr => (23, 2),
    };
    assert_eq!(counts.len(), len, "{metric:?} counts");
    let mut counters = [0i64; ResponseSummary::COUNTERS];
    counters[start..start + len].copy_from_slice(&counts);
    ResponseSummary::from_counters(&counters)
}

/// Both absent, or both present and within [`TOLERANCE`].
fn close(what: &str, got: Option<f64>, want: &Value) {
    match (got, want.as_f64()) {
        (None, None) => {}
        (Some(g), Some(w)) => assert!(
            (g - w).abs() <= TOLERANCE,
            "{what}: got {g}, want {w} (off by {:e})",
            (g - w).abs()
        ),
        (g, _) => panic!("{what}: got {g:?}, want {want}"),
    }
}

fn signal_name(s: Signal) -> &'static str {
    match s {
        Signal::Above => "above",
        Signal::Below => "below",
        Signal::None => "none",
    }
}

fn chart_of(series: &Value) -> (Metric, Trend) {
    let metric = Metric::parse(series["metric"].as_str().expect("metric")).expect("a metric");
    let periods: Vec<(String, ResponseSummary)> = series["periods"]
        .as_array()
        .expect("periods")
        .iter()
        .map(|p| {
            (
                p["period"].as_str().expect("period").to_string(),
                summary(metric, &p["counts"]),
            )
        })
        .collect();
    (metric, control_chart(metric, &periods))
}

#[test]
fn every_figure_of_every_chart_matches_the_reference() {
    let g = golden();
    for key in ["numpy", "scipy", "statsmodels"] {
        assert!(g["generated_by"][key].is_string(), "{key} version recorded");
    }
    assert_eq!(g["sigmas"].as_f64(), Some(northstar_core::trends::SIGMAS));
    let series = g["series"].as_array().expect("series");
    assert!(series.len() >= 6);
    let (mut compared, mut changes) = (0usize, 0usize);
    for s in series {
        let name = s["name"].as_str().expect("name");
        let (_, chart) = chart_of(s);
        let want = &s["expected"];
        close(&format!("{name} centre"), chart.centre, &want["centre"]);
        close(&format!("{name} sigma"), chart.sigma, &want["sigma"]);
        assert_eq!(
            Some(chart.signals as u64),
            want["signals"].as_u64(),
            "{name} signals"
        );
        let points = want["periods"].as_array().expect("expected periods");
        assert_eq!(chart.periods.len(), points.len(), "{name}: periods shown");
        for (got, want) in chart.periods.iter().zip(points) {
            let at = format!("{name} {}", got.period);
            assert_eq!(Some(got.period.as_str()), want["period"].as_str(), "{at}");
            assert_eq!(Some(got.n), want["n"].as_i64(), "{at} n");
            close(&format!("{at} value"), got.value, &want["value"]);
            close(&format!("{at} ci_low"), got.ci_low, &want["ci_low"]);
            close(&format!("{at} ci_high"), got.ci_high, &want["ci_high"]);
            close(&format!("{at} lcl"), got.lcl, &want["lcl"]);
            close(&format!("{at} ucl"), got.ucl, &want["ucl"]);
            assert_eq!(
                Some(signal_name(got.signal)),
                want["signal"].as_str(),
                "{at} signal (value {:?}, limits {:?}…{:?})",
                got.value,
                got.lcl,
                got.ucl
            );
            let c = &want["change"];
            match (&got.change, c.is_null()) {
                (None, true) => {}
                (Some(ch), false) => {
                    close(
                        &format!("{at} difference"),
                        Some(ch.difference),
                        &c["difference"],
                    );
                    close(
                        &format!("{at} statistic"),
                        Some(ch.statistic),
                        &c["statistic"],
                    );
                    close(&format!("{at} p_value"), Some(ch.p_value), &c["p_value"]);
                    changes += 1;
                }
                (got, _) => panic!("{at} change: got {got:?}, want {c}"),
            }
            compared += 1;
        }
    }
    assert!(
        compared >= 50 && changes >= 40,
        "{compared} periods, {changes} changes"
    );
}

/// The cases the data were written for: the planted shifts are signals and
/// the periods exactly on a limit are not.
#[test]
fn planted_shifts_are_signals_and_a_value_on_a_limit_is_not() {
    let g = golden();
    let by_name = |name: &str| {
        g["series"]
            .as_array()
            .expect("series")
            .iter()
            .find(|s| s["name"] == name)
            .map(chart_of)
            .unwrap_or_else(|| panic!("{name} in trends.json"))
            .1
    };
    let signal_at = |t: &Trend, period: &str| {
        t.periods
            .iter()
            .find(|p| p.period == period)
            .unwrap_or_else(|| panic!("{period} shown"))
            .signal
    };
    assert_eq!(
        signal_at(&by_name("nps_monthly_planted_drop"), "2025-10"),
        Signal::Below
    );
    assert_eq!(
        signal_at(&by_name("csat_weekly_planted_rise"), "2025-W07"),
        Signal::Above
    );
    assert_eq!(
        signal_at(&by_name("ces_daily_planted_drop"), "2025-05-09"),
        Signal::Below
    );
    let edges = by_name("fcr_daily_exact_edges");
    assert_eq!((edges.centre, edges.sigma), (Some(50.0), Some(50.0)));
    for p in &edges.periods[..4] {
        let on_limit = p.value == p.lcl || p.value == p.ucl;
        assert!(on_limit && p.signal == Signal::None, "{p:?}");
    }
    // A month without an NPS answer is left out, not shown empty.
    assert!(
        by_name("nps_monthly_planted_drop")
            .periods
            .iter()
            .all(|p| p.period != "2025-08")
    );
    // Single answers give no within-period variance: no σ, no limits.
    let singles = by_name("ces_single_answers");
    assert!(singles.centre.is_some() && singles.sigma.is_none() && singles.signals == 0);
}

fn metric() -> impl Strategy<Value = Metric> {
    prop_oneof![
        Just(Metric::Nps),
        Just(Metric::Csat),
        Just(Metric::Ces),
        Just(Metric::Fcr)
    ]
}

/// Periods with every metric's counters drawn small, so some periods lack
/// answers to the metric charted.
fn periods() -> impl Strategy<Value = Vec<(String, ResponseSummary)>> {
    let counters =
        prop::array::uniform25(prop_oneof![3 => Just(0i64), 2 => 0i64..6, 1 => 0i64..60]);
    prop::collection::vec(counters, 1..14).prop_map(|all| {
        all.iter()
            .enumerate()
            .map(|(i, c)| {
                (
                    format!("2025-{:02}", i + 1),
                    ResponseSummary::from_counters(c),
                )
            })
            .collect()
    })
}

proptest! {
    #[test]
    fn limits_bracket_the_centre_and_narrow_with_n(metric in metric(), periods in periods()) {
        let t = control_chart(metric, &periods);
        let answered = periods.iter().filter(|(_, s)| metric.answers(s) > 0).count();
        prop_assert_eq!(t.periods.len(), answered);
        prop_assert_eq!(t.centre.is_some(), answered > 0);
        for p in &t.periods {
            prop_assert!(p.n > 0);
            if let (Some(c), Some(lcl), Some(ucl)) = (t.centre, p.lcl, p.ucl) {
                prop_assert!(lcl <= c && c <= ucl, "{:?}", p);
                // Symmetric, half-width 3σ/√n.
                let half = 3.0 * t.sigma.unwrap_or(f64::NAN) / (p.n as f64).sqrt();
                prop_assert!((ucl - c - half).abs() < 1e-9 && (c - lcl - half).abs() < 1e-9);
            } else {
                prop_assert!(p.lcl.is_none() && p.ucl.is_none() && p.signal == Signal::None);
            }
            let v = p.value.unwrap_or(f64::NAN);
            let want = match (p.lcl, p.ucl) {
                (Some(lcl), _) if v < lcl => Signal::Below,
                (_, Some(ucl)) if v > ucl => Signal::Above,
                _ => Signal::None,
            };
            prop_assert_eq!(p.signal, want);
        }
        prop_assert_eq!(t.signals, t.periods.iter().filter(|p| p.signal != Signal::None).count());
        prop_assert!(t.periods.first().is_none_or(|p| p.change.is_none()));
    }

    #[test]
    fn a_constant_series_has_no_signal(
        metric in metric(),
        counters in prop::array::uniform25(0i64..40),
        len in 1usize..12,
    ) {
        let s = ResponseSummary::from_counters(&counters);
        let periods: Vec<(String, ResponseSummary)> =
            (0..len).map(|i| (format!("2025-W{:02}", i + 1), s)).collect();
        let t = control_chart(metric, &periods);
        prop_assert_eq!(t.signals, 0, "{:?}", t);
        for p in t.periods.iter().skip(1) {
            if let Some(c) = p.change {
                prop_assert!(c.difference.abs() < 1e-12 && c.statistic.abs() < 1e-12, "{:?}", c);
                prop_assert!((c.p_value - 1.0).abs() < 1e-12);
            }
        }
    }
}
