use northstar_core::estimate::{self, z_critical};
use northstar_core::{CesSummary, Mergeable, NpsSummary, ProportionSummary};
use serde_json::Value;

/// Absolute tolerance (statsmodels returns e.g. 1.7e-18 for an exact 0).
const TOLERANCE: f64 = 1e-9;

fn golden() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tools/golden/golden.json"
    );
    let text = std::fs::read_to_string(path).expect("tools/golden/golden.json is committed");
    serde_json::from_str(&text).expect("golden.json parses")
}

fn f(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

fn i(v: &Value, key: &str) -> i64 {
    v[key]
        .as_i64()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

fn close(what: &str, case: &Value, got: Option<f64>, want: f64) {
    let got = got.unwrap_or_else(|| panic!("{what}: no value for {case}"));
    assert!(
        (got - want).abs() <= TOLERANCE,
        "{what}: got {got}, want {want} for {case}"
    );
}

fn nps(counts: &Value) -> NpsSummary {
    // Put promoters at 10, passives at 8, detractors at 3: only the groups matter.
    let mut s = NpsSummary::empty();
    s.add_weighted(10, i(counts, "promoters"));
    s.add_weighted(8, i(counts, "passives"));
    s.add_weighted(3, i(counts, "detractors"));
    s
}

fn cases<'a>(g: &'a Value, key: &str) -> &'a Vec<Value> {
    let list = g[key].as_array().unwrap_or_else(|| panic!("{key} missing"));
    assert!(list.len() >= 5, "{key} has too few cases");
    list
}

#[test]
fn the_critical_value_matches_scipy() {
    let g = golden();
    assert!((z_critical() - f(&g, "z")).abs() < 1e-12);
    assert!(g["generated_by"]["scipy"].is_string() && g["generated_by"]["statsmodels"].is_string());
}

#[test]
fn nps_adjusted_wald_matches_the_reference() {
    let g = golden();
    for case in cases(&g, "nps_adjusted_wald") {
        let e = estimate::nps_adjusted_wald(&nps(case));
        close("value", case, e.value, f(case, "value"));
        let (lo, hi, v) = (f(case, "ci_low"), f(case, "ci_high"), f(case, "value"));
        if (lo..=hi).contains(&v) {
            close("ci_low", case, e.ci_low, lo);
            close("ci_high", case, e.ci_high, hi);
        } else {
            // An interval that misses its own estimate is not shown.
            assert_eq!((e.ci_low, e.ci_high), (None, None), "{case}");
        }
    }
}

#[test]
fn wilson_matches_statsmodels() {
    let g = golden();
    for case in cases(&g, "wilson") {
        let s = ProportionSummary {
            successes: i(case, "successes"),
            trials: i(case, "trials"),
        };
        let e = estimate::wilson(&s);
        close("ci_low", case, e.ci_low, f(case, "ci_low"));
        close("ci_high", case, e.ci_high, f(case, "ci_high"));
    }
}

#[test]
fn t_interval_matches_statsmodels() {
    let g = golden();
    for case in cases(&g, "t_mean") {
        let counts: Vec<i64> = case["counts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_i64().unwrap())
            .collect();
        let mut s = CesSummary::empty();
        for (k, &c) in counts.iter().enumerate() {
            s.add_weighted(k as u8 + 1, c);
        }
        let e = estimate::mean_t(&s.to_mean());
        close("mean", case, e.value, f(case, "mean"));
        close("ci_low", case, e.ci_low, f(case, "ci_low"));
        close("ci_high", case, e.ci_high, f(case, "ci_high"));
    }
}

#[test]
fn nps_difference_matches_the_reference() {
    let g = golden();
    for case in cases(&g, "nps_difference") {
        let t = estimate::nps_difference(&nps(&case["a"]), &nps(&case["b"])).expect("defined");
        close(
            "difference",
            case,
            Some(t.difference),
            f(case, "difference"),
        );
        close("z", case, Some(t.z), f(case, "z"));
        close("p_value", case, Some(t.p_value), f(case, "p_value"));
    }
}

/// Checks a two-sample proportion test against a golden section.
fn check_two_proportion_section(
    section: &str,
    test: fn(&ProportionSummary, &ProportionSummary) -> Option<estimate::DifferenceTest>,
) {
    let g = golden();
    for case in cases(&g, section) {
        let sample = |side: &str| ProportionSummary {
            successes: i(case, &format!("successes_{side}")),
            trials: i(case, &format!("trials_{side}")),
        };
        let t = test(&sample("a"), &sample("b")).expect("defined");
        close("z", case, Some(t.z), f(case, "z"));
        close("p_value", case, Some(t.p_value), f(case, "p_value"));
    }
}

#[test]
fn two_proportion_test_matches_statsmodels() {
    check_two_proportion_section("two_proportion", estimate::two_proportion);
}

#[test]
fn agresti_caffo_test_matches_statsmodels() {
    check_two_proportion_section(
        "two_proportion_agresti_caffo",
        estimate::two_proportion_adjusted,
    );
}

#[test]
fn holm_adjustment_matches_statsmodels() {
    let g = golden();
    for case in cases(&g, "holm") {
        let p: Vec<f64> = case["p_values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let want: Vec<f64> = case["adjusted"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let got = estimate::holm(&p);
        for (g, w) in got.iter().zip(&want) {
            assert!(
                (g - w).abs() <= TOLERANCE,
                "holm({p:?}) = {got:?}, want {want:?}"
            );
        }
    }
}

#[test]
fn chi_square_goodness_of_fit_matches_scipy() {
    let g = golden();
    for case in cases(&g, "chi_square") {
        let observed: Vec<u64> = case["observed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        let shares: Vec<f64> = case["shares"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let (stat, df, p) =
            northstar_core::representativeness::chi_square_goodness_of_fit(&observed, &shares)
                .unwrap();
        // The statistic is large, so compare it relatively.
        let want = f(case, "chi_square");
        assert!(
            (stat - want).abs() <= TOLERANCE * want.max(1.0),
            "{stat} vs {want}"
        );
        assert_eq!(i64::from(df), i(case, "degrees_of_freedom"));
        close("p_value", case, Some(p), f(case, "p_value"));
    }
}
