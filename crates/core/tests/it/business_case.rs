//! NPV, ROI and payback against numpy-financial and numpy
//! (`tools/golden/make_golden_business_case.py` → `business_case.json`).

use northstar_core::business_case::{self, CaseError};
use serde_json::Value;

fn golden() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tools/golden/business_case.json"
    );
    let text = std::fs::read_to_string(path).expect("tools/golden/business_case.json is committed");
    serde_json::from_str(&text).expect("valid JSON")
}

fn flows(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn close(what: &str, got: Option<f64>, want: &Value) {
    match (got, want.as_f64()) {
        (Some(g), Some(w)) => assert!(
            (g - w).abs() <= 1e-6 * w.abs().max(1.0),
            "{what}: {g} vs {w}"
        ),
        (None, None) => {}
        (g, _) => panic!("{what}: {g:?} vs {want}"),
    }
}

#[test]
fn npv_roi_and_payback_match_numpy_financial() {
    let g = golden();
    let cases = g["cases"].as_array().unwrap();
    assert!(cases.len() >= 5);
    for c in cases {
        let rate = c["rate"].as_f64().unwrap();
        let costs = flows(&c["costs"]);
        let benefits = flows(&c["benefits"]);
        let net: Vec<f64> = benefits.iter().zip(&costs).map(|(b, k)| b - k).collect();
        let what = format!("{c}");
        close(
            &format!("npv {what}"),
            Some(business_case::npv(rate, &net).unwrap()),
            &c["npv"],
        );
        close(
            &format!("roi {what}"),
            business_case::roi(rate, &costs, &benefits).unwrap(),
            &c["roi"],
        );
        close(
            &format!("payback {what}"),
            business_case::payback_years(&net, None).unwrap(),
            &c["payback_years"],
        );
        close(
            &format!("discounted payback {what}"),
            business_case::payback_years(&net, Some(rate)).unwrap(),
            &c["discounted_payback_years"],
        );
    }
}

#[test]
fn impossible_cases_say_why() {
    assert_eq!(business_case::npv(-1.0, &[1.0]), Err(CaseError::Rate(-1.0)));
    assert_eq!(business_case::npv(0.1, &[]), Err(CaseError::Years(0)));
    assert_eq!(
        business_case::npv(0.1, &[1.0; 52]),
        Err(CaseError::Years(52))
    );
    assert_eq!(
        business_case::npv(0.1, &[1.0, f64::NAN]),
        Err(CaseError::NotFinite(1))
    );
}
