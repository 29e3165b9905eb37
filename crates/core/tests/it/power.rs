//! Sample sizes for pilots against statsmodels' `NormalIndPower` (Cohen's h
//! for proportions; the trinomial standard deviation for NPS): golden file
//! `tools/golden/power.json` from `tools/golden/make_golden_power.py`.

use northstar_core::power;
use serde_json::Value;

fn golden() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tools/golden/power.json");
    let text = std::fs::read_to_string(path).expect("tools/golden/power.json is committed");
    serde_json::from_str(&text).expect("valid JSON")
}

fn num(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or_else(|| panic!("{key} in {v}"))
}

fn check(case: &Value, got: &power::SampleSize) {
    let want = num(case, "n_exact");
    assert!(
        (got.n_exact - want).abs() <= 1e-6 * want.max(1.0),
        "{case}: n {} vs {want}",
        got.n_exact
    );
    assert!(
        (got.effect_size - num(case, "effect_size")).abs() < 1e-12,
        "{case}"
    );
    assert_eq!(
        got.n_per_group,
        case["n_per_group"].as_u64().unwrap(),
        "{case}"
    );
}

#[test]
fn proportions_match_statsmodels() {
    let g = golden();
    for case in g["proportion"].as_array().unwrap() {
        let got = power::proportion(
            num(case, "baseline"),
            num(case, "mde"),
            num(case, "alpha"),
            num(case, "power"),
        )
        .unwrap();
        check(case, &got);
    }
}

#[test]
fn nps_matches_statsmodels_with_the_trinomial_variance() {
    let g = golden();
    for case in g["nps"].as_array().unwrap() {
        let got = power::nps(
            num(case, "promoters"),
            num(case, "detractors"),
            num(case, "mde"),
            num(case, "alpha"),
            num(case, "power"),
        )
        .unwrap();
        check(case, &got);
    }
}

#[test]
fn impossible_inputs_name_the_parameter() {
    let field = |r: Result<power::SampleSize, power::PowerError>| match r {
        Err(power::PowerError::Input { field, .. }) => field,
        Ok(s) => panic!("expected an error, got {s:?}"),
    };
    assert_eq!(field(power::proportion(1.2, 0.05, 0.05, 0.8)), "baseline");
    assert_eq!(field(power::proportion(0.98, 0.05, 0.05, 0.8)), "mde");
    assert_eq!(field(power::proportion(0.7, 0.0, 0.05, 0.8)), "mde");
    assert_eq!(field(power::proportion(0.7, 0.05, 0.7, 0.8)), "alpha");
    assert_eq!(field(power::proportion(0.7, 0.05, 0.05, 1.0)), "power");
    assert_eq!(field(power::nps(0.8, 0.3, 5.0, 0.05, 0.8)), "baseline");
    assert_eq!(field(power::nps(0.4, 0.2, 1e-9, 0.05, 0.8)), "mde");
}
